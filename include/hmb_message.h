/* Settlement messages (INTERFACES.md section 1): the HIS request envelope
 * and the settlement server's response.
 *
 * A message is read once, as its bytes arrive: a reader for the wire
 * format (XML here, in UTF-8, GBK or GB18030) picks the fields the engine
 * needs and the splice point in the same pass and builds no document.
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

typedef struct {
    const char *encoding;
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
    hmb_tx_e tx;
} hmb_request_t;

typedef struct {
    const char *feedetl_sn;
    const char *med_list_codg;
    hmb_fen_t fulamt_ownpay_amt;
    hmb_fen_t overlmt_amt;
} hmb_fee_t;

typedef struct {
    const char *encoding;           /* as declared; "UTF-8" when none */
    const char *infcode;
    /* 0 when the response is to pass through untouched (infcode not 0,
     * no <output>, no <setlinfo>); skip_reason says why. */
    int actionable;
    const char *skip_reason;
    apr_size_t splice_at;           /* byte offset of "</output" */

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
} hmb_response_t;

/* Bounds on what the readers accept. */
#define HMB_MESSAGE_MAX_BYTES   (8 * 1024 * 1024)
#define HMB_MESSAGE_MAX_FEES    20000
/* Text of one field; far beyond any real one, and bounded. */
#define HMB_MESSAGE_MAX_FIELD   (64 * 1024)

/* ---- reading ---------------------------------------------------------- */

typedef enum {
    HMB_MSG_REQUEST,
    HMB_MSG_RESPONSE
} hmb_msg_kind_e;

typedef struct hmb_msg_reader_t hmb_msg_reader_t;

/* A reader for one message, freed with the pool. */
hmb_msg_reader_t *hmb_msg_reader(apr_pool_t *p, hmb_msg_kind_e kind);

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

/* The same for a message in one piece. */
const char *hmb_request_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              hmb_request_t **req);
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
 * hold. */
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
    const char *root;               /* name of the root object */
    const char *declared;           /* encoding declared, or NULL */
    const char *decoder;            /* encoding decoded with; NULL: UTF-8 */
    hmb_msg_scope_t top;            /* request envelope / response */
    int n_container;                /* <input> / <output> */
    int n_object;                   /* <data> / <setlinfo> */
    hmb_msg_scope_t object;         /* data / setlinfo (the first) */
    apr_array_header_t *fees;       /* hmb_msg_scope_t, response only */
    int too_many_fees;
    int n_ours;                     /* <hmbinfo> already in the container */
    apr_off_t splice_at;            /* end tag of the container, or -1 */
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

/* A scope for the fields of names[], counts at 0. */
void hmb_msg_scope_init(apr_pool_t *p, hmb_msg_scope_t *sc, const char *path,
                        const char *const *names);

/* Index of name in the scope, or -1. */
int hmb_msg_scope_find(const hmb_msg_scope_t *sc, const char *name);

/* Field names each object is read for. */
extern const char *const hmb_msg_request_fields[];
extern const char *const hmb_msg_data_fields[];
extern const char *const hmb_msg_response_fields[];
extern const char *const hmb_msg_setlinfo_fields[];
extern const char *const hmb_msg_fee_fields[];

#endif
