/* Settlement messages (INTERFACES.md section 1): the HIS request envelope
 * and the settlement server's response.
 *
 * A message is read once, as its bytes arrive: a reader for the wire
 * format (XML or JSON, in UTF-8, GBK or GB18030) picks the fields the
 * engine needs and the splice point in the same pass and builds no
 * document.
 * What it picks is a table of raw field texts (hmb_msg_raw_t); the checks
 * that turn those texts into a request or a response, with every refusal
 * on one line, are the same for every format. */
#ifndef HMB_MESSAGE_H
#define HMB_MESSAGE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_money.h"

typedef enum {
    HMB_TX_NONE = 0,                /* not a settlement transaction */
    HMB_TX_PRESETTLE,               /* 2303, 2206 */
    HMB_TX_SETTLE,                  /* 2304, 2207 */
    HMB_TX_CANCEL                   /* 2305, 2208 */
} hmb_tx_e;

/* HMB_TX_NONE for any other infno. */
hmb_tx_e hmb_tx_from_infno(const char *infno);
const char *hmb_tx_name(hmb_tx_e tx);

/* Transactions that settle nothing but say what a later settlement may
 * lack (docs/memo.md): the fee upload (its request's item codes, its
 * answer's amounts), the upload's cancellation, the person query (the
 * insurance status). */
typedef enum {
    HMB_MEMO_NONE = 0,
    HMB_MEMO_FEES,                  /* 2301 */
    HMB_MEMO_FEES_CANCEL,           /* 2302 */
    HMB_MEMO_PERSON                 /* 1101 */
} hmb_memo_e;

/* HMB_MEMO_NONE for any other infno. */
hmb_memo_e hmb_memo_from_infno(const char *infno);
const char *hmb_memo_name(hmb_memo_e m);

/* The wire formats: the same field names as XML elements or as JSON
 * members (docs/json.md). */
typedef enum {
    HMB_WIRE_XML = 0,
    HMB_WIRE_JSON,
    HMB_WIRE_SNIFF                  /* a reader's choice: '{' or '[' first
                                     * (after blanks, a byte-order mark)
                                     * is JSON, anything else XML */
} hmb_wire_e;

typedef struct hmb_memo_fee_t hmb_memo_fee_t;

typedef struct {
    const char *encoding;
    hmb_wire_e wire;                /* XML or JSON, as read */
    const char *infno;
    const char *msgid;
    const char *fixmedins_code;
    const char *fixmedins_name;
    const char *insuplc_admdvs;
    const char *inf_time;
    /* input/data: for 2305/2208 the settlement to cancel */
    const char *setl_id;
    const char *mdtrt_id;
    const char *psn_no;
    const char *feedetl_sn;         /* 2302: the line to take back, NULL
                                     * (or "0000") for all of them */
    hmb_tx_e tx;
    hmb_memo_e memo;                /* tx is NONE then */
    apr_array_header_t *uploads;    /* 2301: input/feedetail, as
                                     * hmb_memo_fee_t without amounts */
} hmb_request_t;

typedef struct {
    const char *feedetl_sn;
    const char *med_list_codg;
    hmb_fen_t fulamt_ownpay_amt;
    hmb_fen_t overlmt_amt;
} hmb_fee_t;

/* A fee line of a 2301 upload: the visit and person of its request line,
 * its code, and the amounts the answer gave it. */
struct hmb_memo_fee_t {
    const char *mdtrt_id;
    const char *psn_no;             /* NULL when the line has none */
    hmb_fee_t fee;
};

/* One insurance of a 1101 answer. */
typedef struct {
    const char *insutype;
    int psn_insu_stas;
} hmb_memo_status_t;

/* What a 2301, 2302 or 1101 answer (with its request) says. */
typedef struct {
    hmb_memo_e what;
    /* 0 when nothing is to be remembered (infcode not 0, an encrypted
     * output); skip_reason says why */
    int actionable;
    const char *skip_reason;
    apr_array_header_t *fees;       /* FEES: hmb_memo_fee_t */
    const char *mdtrt_id;           /* FEES_CANCEL */
    const char *feedetl_sn;         /* FEES_CANCEL: NULL for all lines */
    const char *psn_no;             /* FEES_CANCEL, PERSON */
    apr_array_header_t *status;     /* PERSON: hmb_memo_status_t */
} hmb_memo_t;

typedef struct {
    const char *encoding;           /* as declared; "UTF-8" when none */
    hmb_wire_e wire;                /* XML or JSON, as read */
    const char *infcode;
    /* 0 when the response is to pass through untouched (infcode not 0,
     * no <output>, no <setlinfo>); skip_reason says why. */
    int actionable;
    const char *skip_reason;
    apr_size_t splice_at;           /* byte offset of "</output", or in
                                     * JSON of the '}' closing "output" */
    /* JSON only: what goes in at splice_at follows a member of "output",
     * so it starts with ','; and where a fund line would go, the ']' of
     * output's "setldetail" (-1 when there is no such array), with ','
     * first when the array has elements. */
    int splice_comma;
    apr_off_t fund_at;
    int fund_comma;

    /* setlinfo */
    const char *mdtrt_id;
    const char *setl_id;            /* NULL on pre-settlement */
    const char *psn_no;
    const char *setl_time;          /* "YYYY-MM-DD HH:MM:SS" */
    const char *med_type;
    const char *dise_codg;          /* NULL when absent */
    const char *insutype;
    int psn_insu_stas;              /* -1 when absent */
    hmb_fen_t medfee_sumamt;
    hmb_fen_t fulamt_ownpay_amt;
    hmb_fen_t overlmt_selfpay;
    hmb_fen_t fund_pay_sumamt;
    int has_fund_pay_sumamt;
    hmb_fen_t psn_part_amt;
    int has_psn_part_amt;
    hmb_fen_t psn_cash_pay;
    int has_psn_cash_pay;
    int has_fee_detail;             /* at least one <feedetail> */
    apr_array_header_t *fees;       /* hmb_fee_t */
    /* the platform signed the answer (a non-empty cainfo or signtype at
     * the top): changing a byte breaks the signature */
    int is_signed;
    /* where fee detail and status came from when the message had none:
     * NULL, or the transaction remembered ("2301", "1101") */
    const char *fees_from;
    const char *stas_from;
} hmb_response_t;

/* Bounds on what the readers accept. */
#define HMB_MESSAGE_MAX_BYTES   (8 * 1024 * 1024)
/* Objects and arrays nested in a JSON message, the outermost counted as
 * 1 (HMB_XML_MAX_DEPTH counts elements the same way). */
#define HMB_JSON_MAX_DEPTH      32
#define HMB_MESSAGE_MAX_FEES    20000
/* Text of one field; far beyond any real one, and bounded. */
#define HMB_MESSAGE_MAX_FIELD   (64 * 1024)

/* ---- reading ---------------------------------------------------------- */

typedef enum {
    HMB_MSG_REQUEST,                /* any HIS request envelope */
    HMB_MSG_RESPONSE,               /* a settlement's answer */
    HMB_MSG_FEE_RESULT,             /* 2301's answer: output/result[] */
    HMB_MSG_PERSON,                 /* 1101's answer: output/baseinfo,
                                     * output/insuinfo[] */
    HMB_MSG_ACK                     /* an answer read for its infcode
                                     * only (2302) */
} hmb_msg_kind_e;

/* The answer to expect for a request: RESPONSE for a settlement
 * transaction (and without a request), FEE_RESULT, ACK or PERSON for
 * what is remembered; -1 for any other infno, whose answer is not ours
 * to read. */
int hmb_msg_answer_kind(const hmb_request_t *rq);

typedef struct hmb_msg_reader_t hmb_msg_reader_t;

/* A reader for one XML message, freed with the pool. */
hmb_msg_reader_t *hmb_msg_reader(apr_pool_t *p, hmb_msg_kind_e kind);

/* The kind a reader was made for. */
hmb_msg_kind_e hmb_msg_reader_kind(const hmb_msg_reader_t *r);

/* A reader for a message in the given wire format. charset is what the
 * transport says the bytes are (Content-Type's charset; NULL: UTF-8); a
 * JSON message in GBK, GB18030 or GB2312 is converted to be read, and
 * every offset is still one in the bytes as they came. XML declares its
 * own encoding, so charset is not used for it. */
hmb_msg_reader_t *hmb_msg_reader_wire(apr_pool_t *p, hmb_msg_kind_e kind,
                                      hmb_wire_e wire, const char *charset);

/* The message's bytes, in as many pieces as they come. */
void hmb_msg_feed(hmb_msg_reader_t *r, const char *buf, apr_size_t len);

/* The end of the message. Returns NULL and the request, or a one-line
 * reason. */
const char *hmb_request_finish(hmb_msg_reader_t *r, hmb_request_t **req);

/* The end of the message. allow_negative admits signed amounts in
 * setlinfo (cancellation responses); fee lines may always be negative
 * (refunds). Returns NULL (see actionable) or a one-line reason. */
const char *hmb_response_finish(hmb_msg_reader_t *r, int allow_negative,
                                hmb_response_t **resp);

/* After finish: the response already held an <hmbinfo> (a forgery, or a
 * second module settling it); finish refused it. */
int hmb_msg_forged(const hmb_msg_reader_t *r);

/* The end of a 2301, 2302 or 1101 answer (a reader of the kind
 * hmb_msg_answer_kind gave), with its request. Returns NULL (see
 * actionable) or a one-line reason. */
const char *hmb_memo_finish(hmb_msg_reader_t *r, const hmb_request_t *rq,
                            hmb_memo_t **memo);

/* DOMAIN.md: fee lines whose amounts add up beyond any amount (each line
 * is bounded, 20000 of them are not) are refused. NULL or the reason. */
const char *hmb_fees_check_sum(apr_pool_t *p, const apr_array_header_t *fees);

/* The same for a message in one piece. */
const char *hmb_request_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              hmb_request_t **req);
/* ... in either wire format (HMB_WIRE_SNIFF: the first byte says), with
 * the transport's charset as for hmb_msg_reader_wire. */
const char *hmb_request_parse_wire(apr_pool_t *p, const char *buf,
                                   apr_size_t len, hmb_wire_e wire,
                                   const char *charset, hmb_request_t **req);
const char *hmb_response_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                               int allow_negative, hmb_response_t **resp);

/* Where <hmbinfo> would go in a document of any root: the '<' of the end
 * tag of the root's first <output> child, as libxml2 read it; *at is -1
 * when there is none. Returns NULL, or why the bytes are refused. */
const char *hmb_message_splice_point(apr_pool_t *p, const char *buf,
                                     apr_size_t len, apr_off_t *at);

/* The fields the engine reads, as text kept with a claim, so that the
 * claim can be decided again later (hmbctl redecide); and back. */
const char *hmb_response_pack(apr_pool_t *p, const hmb_response_t *r);
const char *hmb_response_unpack(apr_pool_t *p, const char *packed,
                                hmb_response_t **r);

/* ---- strict mode ------------------------------------------------------ */

typedef struct hmb_xml_schema_t hmb_message_schema_t;

/* xsd/hmb-settlement.xsd compiled, once per configuration. */
const char *hmb_message_schema(apr_pool_t *p, hmb_message_schema_t **schema);

/* Validate bytes against the compiled settlement schema. */
const char *hmb_message_validate(apr_pool_t *p,
                                 const hmb_message_schema_t *schema,
                                 const char *buf, apr_size_t len);

/* ---- for format readers ----------------------------------------------- */

/* One field as the wire had it: its text (NULL when absent), how many
 * times it came, and an element found inside it, which a field must not
 * hold (in JSON "object" or "array"). */
typedef struct {
    const char *text;
    int count;
    const char *child;
} hmb_msg_field_t;

/* The fields read from one object (the envelope, setlinfo, one fee
 * line); names[] ends with NULL and f[] follows it. */
typedef struct {
    const char *path;               /* for error lines: "setlinfo" */
    const char *const *names;
    hmb_msg_field_t *f;
} hmb_msg_scope_t;

/* What a format reader hands to the checks. */
typedef struct {
    hmb_msg_kind_e kind;
    hmb_wire_e wire;                /* how names are shown in error lines */
    const char *root;               /* name of the root object */
    const char *declared;           /* encoding declared, or NULL */
    const char *decoder;            /* encoding decoded with; NULL: UTF-8 */
    /* what the kind reads: in the container, one object (and its other
     * name) and one list of objects; NULL where the kind has none */
    const char *container;          /* "input" / "output" */
    const char *object_name;        /* "data", "setlinfo", "baseinfo" */
    const char *object_alt;         /* "mdtrtinfo" (requests) */
    const char *list_name;          /* "feedetail", "result", "insuinfo" */
    const char *const *list_fields;
    hmb_msg_scope_t top;            /* request envelope / response */
    int n_container;                /* <input> / <output> */
    int n_object;                   /* <data> / <setlinfo> */
    hmb_msg_scope_t object;         /* data / setlinfo (the first) */
    apr_array_header_t *items;      /* hmb_msg_scope_t, the list's */
    int too_many_items;
    int n_ours;                     /* <hmbinfo> already in the container */
    apr_off_t splice_at;            /* end tag of the container, or -1 */
    /* JSON only (XML leaves them 0, NULL and -1): */
    int container_opaque;           /* the container was not an object
                                     * (an encrypted "output" is a
                                     * string): nothing in it is read */
    const char *shape;              /* why the container's contents cannot
                                     * be read ("setlinfo" an array, a
                                     * second "feedetail", ...): the checks
                                     * give it once they would read them */
    int container_members;          /* members of the container read
                                     * before splice_at */
    apr_off_t list_at;              /* the ']' of the container's
                                     * "setldetail" array, or -1 */
    int list_items;                 /* elements of that array */
} hmb_msg_raw_t;

/* A wire format's reader: bytes in, raw table out. finish returns NULL,
 * or the reason the bytes are not a well-formed message of the format. */
typedef struct {
    const char *name;
    void (*feed)(void *state, const char *buf, apr_size_t len);
    void (*stop)(void *state, const char *reason);
    const char *(*finish)(void *state);
} hmb_msg_format_t;

/* The XML reader (hmb_message_xml.c), filling raw. */
const hmb_msg_format_t *hmb_msg_xml_reader(apr_pool_t *p, hmb_msg_raw_t *raw,
                                           void **state);

/* The JSON reader (hmb_message_json.c), filling raw; charset as for
 * hmb_msg_reader_wire. */
const hmb_msg_format_t *hmb_msg_json_reader(apr_pool_t *p, hmb_msg_raw_t *raw,
                                            const char *charset,
                                            void **state);

/* A scope for the fields of names[], counts at 0. */
void hmb_msg_scope_init(apr_pool_t *p, hmb_msg_scope_t *sc, const char *path,
                        const char *const *names);

/* Index of name in the scope, or -1. */
int hmb_msg_scope_find(const hmb_msg_scope_t *sc, const char *name);

/* Field names each object is read for. */
extern const char *const hmb_msg_request_fields[];
extern const char *const hmb_msg_data_fields[];
extern const char *const hmb_msg_upload_fields[];
extern const char *const hmb_msg_response_fields[];
extern const char *const hmb_msg_setlinfo_fields[];
extern const char *const hmb_msg_fee_fields[];
extern const char *const hmb_msg_result_fields[];
extern const char *const hmb_msg_baseinfo_fields[];
extern const char *const hmb_msg_insuinfo_fields[];

/* ---- for the checks (hmb_message.c, hmb_message_memo.c) --------------- */

/* The fields of one scope, checked. */
typedef struct {
    apr_pool_t *p;
    const hmb_msg_scope_t *sc;
    hmb_wire_e wire;
} hmb_msg_check_t;

/* An identifier or code: printable ASCII, no space or quote, bounded.
 * *out is NULL when absent (an error when required). */
const char *hmb_msg_check_id(const hmb_msg_check_t *c, const char *name,
                             int required, const char **out);

/* An amount in fen, as the wire writes amounts; *present says whether it
 * was there. */
const char *hmb_msg_check_amount(const hmb_msg_check_t *c, const char *name,
                                 int required, int allow_negative,
                                 hmb_fen_t *out, int *present);

/* A status (psn_insu_stas): one digit 0-9; -1 when absent. */
const char *hmb_msg_check_digit(const hmb_msg_check_t *c, const char *name,
                                int *out);

/* A name as the wire writes it in error lines: <name>, "name". */
const char *hmb_msg_wire_name(apr_pool_t *p, hmb_wire_e wire,
                              const char *name);

/* The end of the bytes: the reader's verdict, the encoding and the root
 * (NULL: any); then the raw table, and the reader's pool. */
const char *hmb_msg_finish_raw(hmb_msg_reader_t *r, const char *root,
                               const hmb_msg_raw_t **raw, apr_pool_t **p);

/* The answer's infcode: NULL and *skip NULL when it is 0; *skip the
 * reason to leave the answer alone otherwise. */
const char *hmb_msg_infcode(apr_pool_t *p, const hmb_msg_raw_t *raw,
                            const char **infcode, const char **skip);

/* The 2301 request's input/feedetail lines into q->uploads. */
const char *hmb_memo_request(apr_pool_t *p, const hmb_msg_raw_t *raw,
                             hmb_request_t *q);

#endif
