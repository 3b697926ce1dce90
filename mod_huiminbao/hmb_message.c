/* Settlement messages (INTERFACES.md section 1). The bytes come from the
 * network, so everything here is bounded, every field we use is checked
 * before anyone relies on it, and every refusal names the field and the
 * problem on one line an operator can act on.
 *
 * A format reader (hmb_message_xml.c, hmb_message_json.c) turns the bytes
 * into a table of raw field texts in one pass; this file picks the reader
 * and checks that table, the same way for every format. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>

#include "hmb_message.h"
#include "hmb_plan.h"       /* hmb_xsd_settlement */
#include "hmb_util.h"
#include "hmb_xml.h"

/* Identifiers end up in SQL parameters and log lines. */
#define HMB_ID_MAX 64

/* ------------------------------------------------------------------ */
/* Transactions                                                        */

hmb_tx_e hmb_tx_from_infno(const char *infno)
{
    if (!infno) {
        return HMB_TX_NONE;
    }
    if (strcmp(infno, "2303") == 0 || strcmp(infno, "2206") == 0) {
        return HMB_TX_PRESETTLE;
    }
    if (strcmp(infno, "2304") == 0 || strcmp(infno, "2207") == 0) {
        return HMB_TX_SETTLE;
    }
    if (strcmp(infno, "2305") == 0 || strcmp(infno, "2208") == 0) {
        return HMB_TX_CANCEL;
    }
    return HMB_TX_NONE;
}

hmb_memo_e hmb_memo_from_infno(const char *infno)
{
    if (!infno) {
        return HMB_MEMO_NONE;
    }
    if (strcmp(infno, "2301") == 0) {
        return HMB_MEMO_FEES;
    }
    if (strcmp(infno, "2302") == 0) {
        return HMB_MEMO_FEES_CANCEL;
    }
    if (strcmp(infno, "1101") == 0) {
        return HMB_MEMO_PERSON;
    }
    return HMB_MEMO_NONE;
}

const char *hmb_memo_name(hmb_memo_e m)
{
    switch (m) {
    case HMB_MEMO_FEES:
        return "fee_upload";
    case HMB_MEMO_FEES_CANCEL:
        return "fee_upload_cancel";
    case HMB_MEMO_PERSON:
        return "person_query";
    default:
        return "none";
    }
}

int hmb_msg_answer_kind(const hmb_request_t *rq)
{
    if (!rq || rq->tx != HMB_TX_NONE) {
        return HMB_MSG_RESPONSE;
    }
    switch (rq->memo) {
    case HMB_MEMO_FEES:
        return HMB_MSG_FEE_RESULT;
    case HMB_MEMO_FEES_CANCEL:
        return HMB_MSG_ACK;
    case HMB_MEMO_PERSON:
        return HMB_MSG_PERSON;
    default:
        return -1;
    }
}

const char *hmb_tx_name(hmb_tx_e tx)
{
    switch (tx) {
    case HMB_TX_PRESETTLE:
        return "presettle";
    case HMB_TX_SETTLE:
        return "settle";
    case HMB_TX_CANCEL:
        return "cancel";
    default:
        return "none";
    }
}

/* ------------------------------------------------------------------ */
/* The fields each object is read for                                  */

const char *const hmb_msg_request_fields[] = {
    "infno", "msgid", "fixmedins_code", "fixmedins_name", "insuplc_admdvs",
    "inf_time", NULL
};

const char *const hmb_msg_data_fields[] = {
    "setl_id", "psn_no", "mdtrt_id", "feedetl_sn", NULL
};

/* a line of the 2301 request's input/feedetail */
const char *const hmb_msg_upload_fields[] = {
    "feedetl_sn", "mdtrt_id", "psn_no", "med_list_codg", NULL
};

const char *const hmb_msg_response_fields[] = {
    "infcode", "err_msg", "cainfo", "signtype", NULL
};

const char *const hmb_msg_setlinfo_fields[] = {
    "psn_no", "setl_id", "mdtrt_id", "med_type", "dise_codg", "insutype",
    "setl_time", "psn_insu_stas", "medfee_sumamt", "fulamt_ownpay_amt",
    "overlmt_selfpay", "fund_pay_sumamt", "psn_part_amt", "psn_cash_pay",
    NULL
};

const char *const hmb_msg_fee_fields[] = {
    "feedetl_sn", "med_list_codg", "fulamt_ownpay_amt", "overlmt_amt", NULL
};

/* a line of the 2301 answer's output/result */
const char *const hmb_msg_result_fields[] = {
    "feedetl_sn", "fulamt_ownpay_amt", "overlmt_amt", NULL
};

/* the 1101 answer's output/baseinfo and each output/insuinfo */
const char *const hmb_msg_baseinfo_fields[] = {
    "psn_no", NULL
};

const char *const hmb_msg_insuinfo_fields[] = {
    "insutype", "psn_insu_stas", NULL
};

void hmb_msg_scope_init(apr_pool_t *p, hmb_msg_scope_t *sc, const char *path,
                        const char *const *names)
{
    int n = 0;

    while (names[n]) {
        n++;
    }
    sc->path = path;
    sc->names = names;
    sc->f = apr_pcalloc(p, sizeof(hmb_msg_field_t) * (n ? n : 1));
}

int hmb_msg_scope_find(const hmb_msg_scope_t *sc, const char *name)
{
    int i;

    for (i = 0; sc->names[i]; i++) {
        if (sc->names[i][0] == name[0] && strcmp(sc->names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Checking fields                                                     */

/* A name in an error line as the wire writes it: <psn_no>, "psn_no". */
const char *hmb_msg_wire_name(apr_pool_t *p, hmb_wire_e wire,
                              const char *name)
{
    return wire == HMB_WIRE_JSON ? apr_pstrcat(p, "\"", name, "\"", NULL)
                                 : apr_pstrcat(p, "<", name, ">", NULL);
}

static const char *hmb_msg_err(const hmb_msg_check_t *c, const char *name,
                               const char *problem)
{
    return apr_psprintf(c->p, "%s/%s: %s", c->sc->path, name, problem);
}

static const hmb_msg_field_t *hmb_msg_field(const hmb_msg_check_t *c,
                                            const char *name)
{
    int i = hmb_msg_scope_find(c->sc, name);

    /* a name not in the table is a programming error: treat as absent */
    return i < 0 ? NULL : &c->sc->f[i];
}

/* Trimmed text of a field; *out is NULL when absent or empty. Two of a
 * field would leave the HIS and us reading different values, so that is
 * refused. */
static const char *hmb_msg_text(const hmb_msg_check_t *c, const char *name,
                                int required, const char **out)
{
    const hmb_msg_field_t *f = hmb_msg_field(c, name);
    const char *v;

    *out = NULL;
    if (f && f->count > 1) {
        return apr_psprintf(c->p, "%s: more than one %s", c->sc->path,
                            hmb_msg_wire_name(c->p, c->wire, name));
    }
    if (!f || !f->count) {
        return required ? hmb_msg_err(c, name, "missing") : NULL;
    }
    if (f->child && c->wire == HMB_WIRE_JSON) {
        return hmb_msg_err(c, name, apr_psprintf(c->p, "holds an %s, "
                           "expected a string or a number", f->child));
    }
    if (f->child) {
        return hmb_msg_err(c, name, apr_psprintf(c->p, "holds an element "
                           "<%s>, expected text", hmb_show(c->p, f->child)));
    }
    v = hmb_trim(c->p, f->text ? f->text : "");
    if (!*v) {
        return required ? hmb_msg_err(c, name, "empty") : NULL;
    }
    *out = v;
    return NULL;
}

/* A value for an error line: personal identifiers masked, so that a
 * malformed one does not land in the log in clear. */
static const char *hmb_msg_value(const hmb_msg_check_t *c, const char *name,
                                 const char *v)
{
    if (!strcmp(name, "psn_no") || !strcmp(name, "certno")) {
        return hmb_mask_psn(c->p, hmb_show(c->p, v));
    }
    return hmb_show(c->p, v);
}

const char *hmb_msg_check_id(const hmb_msg_check_t *c, const char *name,
                             int required, const char **out)
{
    const char *err, *v, *s;

    *out = NULL;
    if ((err = hmb_msg_text(c, name, required, &v)) != NULL || !v) {
        return err;
    }
    if (strlen(v) > HMB_ID_MAX) {
        return hmb_msg_err(c, name, apr_psprintf(c->p,
                           "\"%s\" is longer than %d bytes",
                           hmb_msg_value(c, name, v), HMB_ID_MAX));
    }
    for (s = v; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\'') {
            return hmb_msg_err(c, name, apr_psprintf(c->p,
                               "\"%s\" is not printable ASCII without "
                               "spaces or quotes",
                               hmb_msg_value(c, name, v)));
        }
    }
    *out = v;
    return NULL;
}

const char *hmb_msg_check_amount(const hmb_msg_check_t *c, const char *name,
                                 int required, int allow_negative,
                                 hmb_fen_t *out, int *present)
{
    const hmb_msg_field_t *f = hmb_msg_field(c, name);
    const char *err, *v;

    *out = 0;
    if (present) {
        *present = 0;
    }
    /* <psn_part_amt/> is no amount, and not an absent one either: the
     * burden must not be derived instead */
    if ((err = hmb_msg_text(c, name, required || (f && f->count), &v))
        != NULL || !v) {
        return err;
    }
    err = c->wire == HMB_WIRE_JSON ? hmb_money_parse_json(v, allow_negative,
                                                          out)
                                   : hmb_money_parse(v, allow_negative, out);
    if (err) {
        return hmb_msg_err(c, name, apr_psprintf(c->p, "\"%s\": %s",
                           hmb_show(c->p, v), err));
    }
    if (present) {
        *present = 1;
    }
    return NULL;
}

const char *hmb_msg_check_digit(const hmb_msg_check_t *c, const char *name,
                                int *out)
{
    const char *err, *v;

    *out = -1;
    if ((err = hmb_msg_text(c, name, 0, &v)) || !v) {
        return err;
    }
    if (strlen(v) != 1 || v[0] < '0' || v[0] > '9') {
        return hmb_msg_err(c, name, apr_psprintf(c->p, "\"%s\" is not a "
                           "status digit 0-9", hmb_show(c->p, v)));
    }
    *out = v[0] - '0';
    return NULL;
}

/* Encodings we can splice into byte-wise: in each of them '<' is never
 * part of a multibyte character. */
static int hmb_msg_encoding_ok(const char *enc)
{
    return strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0
        || strcasecmp(enc, "GBK") == 0 || strcasecmp(enc, "GB18030") == 0
        || strcasecmp(enc, "GB2312") == 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/* Bytes before the one that tells the format: blanks, the bytes of a
 * byte-order mark, the zero bytes of UTF-16. Beyond this many, XML. */
#define HMB_MSG_SNIFF_MAX 1024

struct hmb_msg_reader_t {
    apr_pool_t *p;
    hmb_msg_raw_t raw;
    const hmb_msg_format_t *format; /* NULL while sniffing */
    void *state;
    const char *charset;
    apr_size_t len;
    int finished;
    const char *err;                /* from finish */
    char *head;                     /* bytes sniffed so far */
    apr_size_t head_len;
};

static void hmb_msg_give(hmb_msg_reader_t *r, const char *buf,
                         apr_size_t len);

static void hmb_msg_use(hmb_msg_reader_t *r, hmb_wire_e wire)
{
    r->raw.wire = wire;
    r->format = wire == HMB_WIRE_JSON
        ? hmb_msg_json_reader(r->p, &r->raw, r->charset, &r->state)
        : hmb_msg_xml_reader(r->p, &r->raw, &r->state);
    hmb_msg_give(r, r->head, r->head_len);
}

/* Sniff the format from the start of buf, keeping the bytes seen in the
 * head until one tells. Returns how many bytes of buf the head took. */
static apr_size_t hmb_msg_sniff(hmb_msg_reader_t *r, const char *buf,
                                apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len && r->head_len + i < HMB_MSG_SNIFF_MAX; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (!strchr(" \t\r\n", c) && c != 0 && c != 0xEF && c != 0xBB
            && c != 0xBF && c != 0xFE && c != 0xFF) {
            break;
        }
    }
    if (i == len && r->head_len + i < HMB_MSG_SNIFF_MAX) {
        if (!r->head) {
            r->head = apr_palloc(r->p, HMB_MSG_SNIFF_MAX);
        }
        memcpy(r->head + r->head_len, buf, len);
        r->head_len += len;
        return len;
    }
    hmb_msg_use(r, i < len && (buf[i] == '{' || buf[i] == '[')
                   ? HMB_WIRE_JSON : HMB_WIRE_XML);
    return 0;
}

/* What each kind of message reads: the object and the list of objects
 * in its container, and their fields. */
static const struct {
    const char *object, *object_path;
    const char *const *object_fields;
    const char *list;
    const char *const *list_fields;
} hmb_msg_shapes[] = {
    /* HMB_MSG_REQUEST: settlements' data, 2302's data, 2301's lines */
    {"data", "input/data", hmb_msg_data_fields, "feedetail",
     hmb_msg_upload_fields},
    /* HMB_MSG_RESPONSE */
    {"setlinfo", "setlinfo", hmb_msg_setlinfo_fields, "feedetail",
     hmb_msg_fee_fields},
    /* HMB_MSG_FEE_RESULT */
    {NULL, NULL, NULL, "result", hmb_msg_result_fields},
    /* HMB_MSG_PERSON */
    {"baseinfo", "output/baseinfo", hmb_msg_baseinfo_fields, "insuinfo",
     hmb_msg_insuinfo_fields},
    /* HMB_MSG_ACK */
    {NULL, NULL, NULL, NULL, NULL}
};

hmb_msg_reader_t *hmb_msg_reader_wire(apr_pool_t *p, hmb_msg_kind_e kind,
                                      hmb_wire_e wire, const char *charset)
{
    hmb_msg_reader_t *r = apr_pcalloc(p, sizeof(*r));
    int request = kind == HMB_MSG_REQUEST;
    static const char *const none[] = {NULL};

    r->p = p;
    r->charset = charset;
    r->raw.kind = kind;
    r->raw.splice_at = -1;
    r->raw.list_at = -1;
    r->raw.container = request ? "input" : "output";
    r->raw.object_name = hmb_msg_shapes[kind].object;
    /* one region sends the request's data as input.mdtrtinfo */
    r->raw.object_alt = request ? "mdtrtinfo" : NULL;
    r->raw.list_name = hmb_msg_shapes[kind].list;
    r->raw.list_fields = hmb_msg_shapes[kind].list_fields;
    hmb_msg_scope_init(p, &r->raw.top, request ? "request" : "response",
                       request ? hmb_msg_request_fields
                               : hmb_msg_response_fields);
    hmb_msg_scope_init(p, &r->raw.object,
                       hmb_msg_shapes[kind].object_path
                           ? hmb_msg_shapes[kind].object_path : "output",
                       hmb_msg_shapes[kind].object_fields
                           ? hmb_msg_shapes[kind].object_fields : none);
    r->raw.items = apr_array_make(p, 8, sizeof(hmb_msg_scope_t));
    if (wire != HMB_WIRE_SNIFF) {
        hmb_msg_use(r, wire);
    }
    return r;
}

hmb_msg_reader_t *hmb_msg_reader(apr_pool_t *p, hmb_msg_kind_e kind)
{
    return hmb_msg_reader_wire(p, kind, HMB_WIRE_XML, NULL);
}

/* The parser keeps what it is given until it has read it: given a whole
 * message at once it would hold a second copy of it, given slices it
 * holds about one. */
#define HMB_MSG_SLICE (4 * 1024)

static void hmb_msg_give(hmb_msg_reader_t *r, const char *buf,
                         apr_size_t len)
{
    while (len) {
        apr_size_t n = len < HMB_MSG_SLICE ? len : HMB_MSG_SLICE;

        r->format->feed(r->state, buf, n);
        buf += n;
        len -= n;
    }
}

void hmb_msg_feed(hmb_msg_reader_t *r, const char *buf, apr_size_t len)
{
    apr_size_t took;

    if (r->finished || !len) {
        return;
    }
    if (len > HMB_MESSAGE_MAX_BYTES - r->len) {
        r->len = HMB_MESSAGE_MAX_BYTES + 1;
        if (!r->format) {
            hmb_msg_use(r, HMB_WIRE_XML);
        }
        r->format->stop(r->state, apr_psprintf(r->p, "more than the limit "
                        "of %d bytes", HMB_MESSAGE_MAX_BYTES));
        return;
    }
    r->len += len;
    if (!r->format) {
        took = hmb_msg_sniff(r, buf, len);
        buf += took;
        len -= took;
    }
    if (r->format) {
        hmb_msg_give(r, buf, len);
    }
}

/* The parts every message has: well-formed, a supported encoding, the
 * expected root (any root when root is NULL). */
static const char *hmb_msg_finish(hmb_msg_reader_t *r, const char *root)
{
    const char *enc;

    if (r->finished) {
        return r->err;
    }
    r->finished = 1;
    if (!r->format) {
        hmb_msg_use(r, HMB_WIRE_XML);
    }
    r->err = r->format->finish(r->state);
    if (r->raw.too_many_items) {
        /* the reader stopped there: that is the reason, not its stop */
        return r->err = apr_psprintf(r->p, "%s: more than %d %s lines",
                                     r->raw.container, HMB_MESSAGE_MAX_FEES,
                                     hmb_msg_wire_name(r->p, r->raw.wire,
                                                       r->raw.list_name));
    }
    if (r->err) {
        return r->err;
    }
    enc = r->raw.decoder ? r->raw.decoder
                         : r->raw.declared ? r->raw.declared : "UTF-8";
    if (!hmb_msg_encoding_ok(enc)
        || (r->raw.declared && !hmb_msg_encoding_ok(r->raw.declared))) {
        return r->err = apr_psprintf(r->p, "%s: encoding \"%s\" is not "
                                     "supported (UTF-8, GBK, GB18030)",
                                     root ? root : "message",
                                     hmb_show(r->p, r->raw.declared
                                                    ? r->raw.declared
                                                    : enc));
    }
    if (root && (!r->raw.root || strcmp(r->raw.root, root) != 0)) {
        /* only XML names its root: a JSON reader gives the one asked */
        return r->err = apr_psprintf(r->p, "%s: root element is <%s>, "
                                     "expected <%s>", root,
                                     r->raw.root ? hmb_show(r->p, r->raw.root)
                                                 : "", root);
    }
    return NULL;
}

hmb_msg_kind_e hmb_msg_reader_kind(const hmb_msg_reader_t *r)
{
    return r->raw.kind;
}

const char *hmb_msg_finish_raw(hmb_msg_reader_t *r, const char *root,
                               const hmb_msg_raw_t **raw, apr_pool_t **p)
{
    *raw = &r->raw;
    *p = r->p;
    return hmb_msg_finish(r, root);
}

const char *hmb_request_finish(hmb_msg_reader_t *r, hmb_request_t **req)
{
    hmb_msg_check_t env, data;
    hmb_request_t *q;
    const char *err;
    int cancel;

    *req = NULL;
    if ((err = hmb_msg_finish(r, "request"))) {
        return err;
    }
    q = apr_pcalloc(r->p, sizeof(*q));
    q->encoding = r->raw.declared ? r->raw.declared : "UTF-8";
    q->wire = r->raw.wire;
    env.p = data.p = r->p;
    env.wire = data.wire = r->raw.wire;
    env.sc = &r->raw.top;
    data.sc = &r->raw.object;
    if ((err = hmb_msg_check_id(&env, "infno", 1, &q->infno))) {
        return err;
    }
    q->tx = hmb_tx_from_infno(q->infno);
    q->memo = q->tx == HMB_TX_NONE ? hmb_memo_from_infno(q->infno)
                                   : HMB_MEMO_NONE;
    if (q->tx == HMB_TX_NONE && q->memo == HMB_MEMO_NONE) {
        /* Not ours: nothing else in it is looked at, so an unusual
         * query message never shows up as an error. */
        *req = q;
        return NULL;
    }
    if ((err = hmb_msg_check_id(&env, "msgid", 0, &q->msgid))
        || (err = hmb_msg_check_id(&env, "fixmedins_code", 0,
                                   &q->fixmedins_code))
        || (err = hmb_msg_text(&env, "fixmedins_name", 0,
                               &q->fixmedins_name))
        || (err = hmb_msg_check_id(&env, "insuplc_admdvs", 0,
                                   &q->insuplc_admdvs))
        || (err = hmb_msg_text(&env, "inf_time", 0, &q->inf_time))) {
        return err;
    }
    if (q->memo == HMB_MEMO_PERSON) {
        /* the answer names the person: nothing of the query's data (a
         * card, a certificate number) is needed or looked at */
        *req = q;
        return NULL;
    }
    if (r->raw.n_container > 1) {
        return apr_pstrcat(r->p, "request: more than one ",
                           hmb_msg_wire_name(r->p, r->raw.wire, "input"),
                           NULL);
    }
    if (r->raw.shape) {
        return r->raw.shape;
    }
    if (r->raw.n_object > 1) {
        return apr_pstrcat(r->p, "request/input: more than one ",
                           hmb_msg_wire_name(r->p, r->raw.wire, "data"),
                           NULL);
    }
    if (q->memo == HMB_MEMO_FEES) {
        if ((err = hmb_memo_request(r->p, &r->raw, q))) {
            return err;
        }
        *req = q;
        return NULL;
    }
    /* a cancellation names the settlement, and 2302 the visit, there */
    cancel = q->tx == HMB_TX_CANCEL || q->memo == HMB_MEMO_FEES_CANCEL;
    if (!r->raw.n_object) {
        if (cancel) {
            return apr_psprintf(r->p, "request/input/data: missing (infno "
                                "%s names %s there)", q->infno,
                                q->memo ? "the visit whose fee lines it "
                                          "cancels"
                                        : "the settlement to cancel");
        }
        *req = q;
        return NULL;
    }
    if (q->memo == HMB_MEMO_FEES_CANCEL) {
        if ((err = hmb_msg_check_id(&data, "mdtrt_id", 1, &q->mdtrt_id))
            || (err = hmb_msg_check_id(&data, "psn_no", 0, &q->psn_no))
            || (err = hmb_msg_check_id(&data, "feedetl_sn", 0,
                                       &q->feedetl_sn))) {
            return err;
        }
        *req = q;
        return NULL;
    }
    if ((err = hmb_msg_check_id(&data, "setl_id", q->tx == HMB_TX_CANCEL,
                                &q->setl_id))
        || (err = hmb_msg_check_id(&data, "psn_no", q->tx == HMB_TX_CANCEL,
                                   &q->psn_no))
        || (err = hmb_msg_check_id(&data, "mdtrt_id", 0, &q->mdtrt_id))) {
        return err;
    }
    *req = q;
    return NULL;
}

static const char *hmb_msg_fees(hmb_msg_reader_t *r, hmb_response_t *s)
{
    int i;

    s->fees = apr_array_make(r->p, r->raw.items->nelts ? r->raw.items->nelts
                                                       : 1,
                             sizeof(hmb_fee_t));
    for (i = 0; i < r->raw.items->nelts; i++) {
        hmb_msg_check_t c;
        hmb_fee_t *fee = apr_array_push(s->fees);
        const char *err;

        c.p = r->p;
        c.wire = r->raw.wire;
        c.sc = &APR_ARRAY_IDX(r->raw.items, i, hmb_msg_scope_t);
        /* Refund lines carry negative amounts. */
        if ((err = hmb_msg_check_id(&c, "feedetl_sn", 0, &fee->feedetl_sn))
            || (err = hmb_msg_check_id(&c, "med_list_codg", 1,
                                       &fee->med_list_codg))
            || (err = hmb_msg_check_amount(&c, "fulamt_ownpay_amt", 0, 1,
                                           &fee->fulamt_ownpay_amt, NULL))
            || (err = hmb_msg_check_amount(&c, "overlmt_amt", 0, 1,
                                           &fee->overlmt_amt, NULL))) {
            return err;
        }
    }
    s->has_fee_detail = r->raw.items->nelts > 0;
    return NULL;
}

const char *hmb_fees_check_sum(apr_pool_t *p, const apr_array_header_t *fees)
{
    hmb_fen_t sum = 0;
    int i;

    for (i = 0; i < fees->nelts; i++) {
        const hmb_fee_t *f = &APR_ARRAY_IDX(fees, i, hmb_fee_t);

        sum += f->fulamt_ownpay_amt + f->overlmt_amt;
        if (sum > HMB_FEN_MAX || sum < -HMB_FEN_MAX) {
            return apr_psprintf(p, "output: the fee lines up to "
                                "feedetail[%d] add up to more than "
                                "9999999999.99", i + 1);
        }
    }
    return NULL;
}

/* A cancellation's answer (allow_negative) may be a reduced setlinfo:
 * without psn_no, med_type or setl_time, some amounts left out. The
 * claim it cancels is found by the request (setl_id, psn_no), so none of
 * these is needed; what is there is still checked. */
static const char *hmb_msg_setlinfo(apr_pool_t *p, const hmb_msg_raw_t *raw,
                                    int allow_negative, hmb_response_t *r)
{
    hmb_msg_check_t c;
    const char *err;
    int full = !allow_negative;

    c.p = p;
    c.sc = &raw->object;
    c.wire = raw->wire;
    if ((err = hmb_msg_check_id(&c, "psn_no", full, &r->psn_no))
        || (err = hmb_msg_check_id(&c, "setl_id", 0, &r->setl_id))
        || (err = hmb_msg_check_id(&c, "mdtrt_id", 0, &r->mdtrt_id))
        || (err = hmb_msg_check_id(&c, "med_type", full, &r->med_type))
        || (err = hmb_msg_check_id(&c, "dise_codg", 0, &r->dise_codg))
        || (err = hmb_msg_check_id(&c, "insutype", 0, &r->insutype))
        || (err = hmb_msg_text(&c, "setl_time", full, &r->setl_time))) {
        return err;
    }
    if (r->setl_time && !hmb_time_valid(r->setl_time)) {
        return hmb_msg_err(&c, "setl_time", apr_psprintf(p,
                           "\"%s\" is not a valid time YYYY-MM-DD HH:MM:SS",
                           hmb_show(p, r->setl_time)));
    }
    if ((err = hmb_msg_check_digit(&c, "psn_insu_stas", &r->psn_insu_stas))
        || (err = hmb_msg_check_amount(&c, "medfee_sumamt", full,
                                       allow_negative, &r->medfee_sumamt,
                                       NULL))
        || (err = hmb_msg_check_amount(&c, "fulamt_ownpay_amt", full,
                                       allow_negative,
                                       &r->fulamt_ownpay_amt, NULL))
        || (err = hmb_msg_check_amount(&c, "overlmt_selfpay", full,
                                       allow_negative, &r->overlmt_selfpay,
                                       NULL))
        || (err = hmb_msg_check_amount(&c, "fund_pay_sumamt", 0,
                                       allow_negative, &r->fund_pay_sumamt,
                                       &r->has_fund_pay_sumamt))
        || (err = hmb_msg_check_amount(&c, "psn_part_amt", 0,
                                       allow_negative, &r->psn_part_amt,
                                       &r->has_psn_part_amt))
        || (err = hmb_msg_check_amount(&c, "psn_cash_pay", 0,
                                       allow_negative, &r->psn_cash_pay,
                                       &r->has_psn_cash_pay))) {
        return err;
    }
    /* The burden is psn_part_amt, or what the funds left of the total. */
    if (full && !r->has_psn_part_amt && !r->has_fund_pay_sumamt) {
        return "setlinfo/psn_part_amt: missing, and no fund_pay_sumamt "
               "to derive it from";
    }
    return NULL;
}

const char *hmb_msg_infcode(apr_pool_t *p, const hmb_msg_raw_t *raw,
                            const char **infcode, const char **skip)
{
    hmb_msg_check_t top;
    const char *err, *err_msg;

    *skip = NULL;
    top.p = p;
    top.sc = &raw->top;
    top.wire = raw->wire;
    if ((err = hmb_msg_check_id(&top, "infcode", 1, infcode))) {
        return err;
    }
    if (strcmp(*infcode, "0") != 0) {
        /* err_msg is the settlement server's word to the HIS, and often
         * names the person (a certificate number, a name): its length
         * is all the log gets */
        if (hmb_msg_text(&top, "err_msg", 0, &err_msg)) {
            err_msg = NULL;
        }
        *skip = err_msg
            ? apr_psprintf(p, "infcode %s (err_msg of %" APR_SIZE_T_FMT
                           " bytes, not logged)", *infcode, strlen(err_msg))
            : apr_psprintf(p, "infcode %s", *infcode);
    }
    return NULL;
}

/* The platform's signature over the answer: cainfo or signtype with
 * text. Whatever they hold, a byte changed breaks it. */
static int hmb_msg_signed(apr_pool_t *p, const hmb_msg_raw_t *raw)
{
    hmb_msg_check_t top;
    const char *v;

    top.p = p;
    top.sc = &raw->top;
    top.wire = raw->wire;
    return (!hmb_msg_text(&top, "cainfo", 0, &v) && v)
           || (!hmb_msg_text(&top, "signtype", 0, &v) && v);
}

const char *hmb_response_finish(hmb_msg_reader_t *r, int allow_negative,
                                hmb_response_t **resp)
{
    hmb_response_t *s;
    const char *err, *output, *setlinfo;

    *resp = NULL;
    if ((err = hmb_msg_finish(r, "response"))) {
        return err;
    }
    s = apr_pcalloc(r->p, sizeof(*s));
    s->psn_insu_stas = -1;
    s->encoding = r->raw.declared ? r->raw.declared : "UTF-8";
    s->wire = r->raw.wire;
    s->fund_at = -1;
    s->fees = apr_array_make(r->p, 1, sizeof(hmb_fee_t));
    if ((err = hmb_msg_infcode(r->p, &r->raw, &s->infcode,
                               &s->skip_reason))) {
        return err;
    }
    if (s->skip_reason) {
        *resp = s;
        return NULL;
    }
    s->is_signed = hmb_msg_signed(r->p, &r->raw);
    output = hmb_msg_wire_name(r->p, r->raw.wire, "output");
    if (r->raw.n_container > 1) {
        return apr_pstrcat(r->p, "response: more than one ", output, NULL);
    }
    if (!r->raw.n_container || r->raw.container_opaque) {
        /* an encrypted output is a string: not ours to read */
        s->skip_reason = r->raw.container_opaque
            ? apr_pstrcat(r->p, output, " is not an object (encrypted?)",
                          NULL)
            : apr_pstrcat(r->p, "no ", output, " in the response", NULL);
        *resp = s;
        return NULL;
    }
    if (r->raw.shape) {
        return r->raw.shape;
    }
    setlinfo = hmb_msg_wire_name(r->p, r->raw.wire, "setlinfo");
    if (r->raw.n_object > 1) {
        return apr_pstrcat(r->p, "output: more than one ", setlinfo, NULL);
    }
    if (!r->raw.n_object) {
        s->skip_reason = apr_pstrcat(r->p, "no ", setlinfo, " in ", output,
                                     NULL);
        *resp = s;
        return NULL;
    }
    if (r->raw.n_ours) {
        /* Only this module writes <hmbinfo>: one already there is a
         * forgery (or a second module in the chain), and a desk shown two
         * would not know which to believe. */
        return "output: already holds an <hmbinfo> (forged, or settled "
               "twice): refused, nothing recorded";
    }
    if (r->raw.splice_at < 0) {
        return apr_pstrcat(r->p, "response: cannot find the end",
                           r->raw.wire == HMB_WIRE_JSON ? " of " : " tag of ",
                           output, NULL);
    }
    s->splice_at = (apr_size_t)r->raw.splice_at;
    s->splice_comma = r->raw.container_members > 0;
    s->fund_at = r->raw.list_at;
    s->fund_comma = r->raw.list_items > 0;
    if ((err = hmb_msg_setlinfo(r->p, &r->raw, allow_negative, s))
        || (err = hmb_msg_fees(r, s))
        || (err = hmb_fees_check_sum(r->p, s->fees))) {
        return err;
    }
    s->actionable = 1;
    *resp = s;
    return NULL;
}

int hmb_msg_forged(const hmb_msg_reader_t *r)
{
    return r->raw.n_ours > 0;
}

const char *hmb_request_parse_wire(apr_pool_t *p, const char *buf,
                                   apr_size_t len, hmb_wire_e wire,
                                   const char *charset, hmb_request_t **req)
{
    hmb_msg_reader_t *r = hmb_msg_reader_wire(p, HMB_MSG_REQUEST, wire,
                                              charset);

    hmb_msg_feed(r, buf, len);
    return hmb_request_finish(r, req);
}

const char *hmb_request_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              hmb_request_t **req)
{
    return hmb_request_parse_wire(p, buf, len, HMB_WIRE_XML, NULL, req);
}

const char *hmb_response_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                               int allow_negative, hmb_response_t **resp)
{
    hmb_msg_reader_t *r = hmb_msg_reader(p, HMB_MSG_RESPONSE);

    hmb_msg_feed(r, buf, len);
    return hmb_response_finish(r, allow_negative, resp);
}

const char *hmb_message_splice_point(apr_pool_t *p, const char *buf,
                                     apr_size_t len, apr_off_t *at)
{
    hmb_msg_reader_t *r = hmb_msg_reader(p, HMB_MSG_RESPONSE);
    const char *err;

    *at = -1;
    hmb_msg_feed(r, buf, len);
    if ((err = hmb_msg_finish(r, NULL)) != NULL) {
        return err;
    }
    *at = r->raw.splice_at;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Kept with a claim                                                   */

#define HMB_PACK_MAGIC "hmbmsg 1\n"

static void hmb_pack_fen(apr_array_header_t *a, apr_pool_t *p,
                         const char *name, hmb_fen_t v)
{
    APR_ARRAY_PUSH(a, const char *) = apr_psprintf(p, "%s=%" APR_INT64_T_FMT
                                                   "\n", name, v);
}

static void hmb_pack_str(apr_array_header_t *a, apr_pool_t *p,
                         const char *name, const char *v)
{
    if (v) {
        APR_ARRAY_PUSH(a, const char *) = apr_pstrcat(p, name, "=", v, "\n",
                                                      NULL);
    }
}

const char *hmb_response_pack(apr_pool_t *p, const hmb_response_t *r)
{
    apr_array_header_t *a = apr_array_make(p, 24 + r->fees->nelts,
                                           sizeof(const char *));
    int i;

    APR_ARRAY_PUSH(a, const char *) = HMB_PACK_MAGIC;
    hmb_pack_str(a, p, "mdtrt_id", r->mdtrt_id);
    hmb_pack_str(a, p, "setl_id", r->setl_id);
    hmb_pack_str(a, p, "psn_no", r->psn_no);
    hmb_pack_str(a, p, "setl_time", r->setl_time);
    hmb_pack_str(a, p, "med_type", r->med_type);
    hmb_pack_str(a, p, "dise_codg", r->dise_codg);
    hmb_pack_str(a, p, "insutype", r->insutype);
    if (r->psn_insu_stas >= 0) {
        hmb_pack_fen(a, p, "psn_insu_stas", r->psn_insu_stas);
    }
    hmb_pack_fen(a, p, "medfee_sumamt", r->medfee_sumamt);
    hmb_pack_fen(a, p, "fulamt_ownpay_amt", r->fulamt_ownpay_amt);
    hmb_pack_fen(a, p, "overlmt_selfpay", r->overlmt_selfpay);
    if (r->has_fund_pay_sumamt) {
        hmb_pack_fen(a, p, "fund_pay_sumamt", r->fund_pay_sumamt);
    }
    if (r->has_psn_part_amt) {
        hmb_pack_fen(a, p, "psn_part_amt", r->psn_part_amt);
    }
    if (r->has_psn_cash_pay) {
        hmb_pack_fen(a, p, "psn_cash_pay", r->psn_cash_pay);
    }
    for (i = 0; i < r->fees->nelts; i++) {
        const hmb_fee_t *f = &APR_ARRAY_IDX(r->fees, i, hmb_fee_t);

        APR_ARRAY_PUSH(a, const char *) =
            apr_psprintf(p, "fee=%s\t%s\t%" APR_INT64_T_FMT "\t%"
                         APR_INT64_T_FMT "\n", f->feedetl_sn ? f->feedetl_sn
                                                            : "",
                         f->med_list_codg, f->fulamt_ownpay_amt,
                         f->overlmt_amt);
    }
    return apr_array_pstrcat(p, a, '\0');
}

static int hmb_unpack_fen(const char *s, hmb_fen_t *out)
{
    char *end;

    *out = apr_strtoi64(s, &end, 10);
    return *s && !*end;
}

const char *hmb_response_unpack(apr_pool_t *p, const char *packed,
                                hmb_response_t **resp)
{
    hmb_response_t *r;
    char *text, *line, *state = NULL;

    *resp = NULL;
    if (!packed || strncmp(packed, HMB_PACK_MAGIC,
                           sizeof(HMB_PACK_MAGIC) - 1) != 0) {
        return "the message was not kept with this claim (recorded before "
               "schema version 3)";
    }
    r = apr_pcalloc(p, sizeof(*r));
    r->encoding = "UTF-8";
    r->infcode = "0";
    r->actionable = 1;
    r->psn_insu_stas = -1;
    r->fees = apr_array_make(p, 4, sizeof(hmb_fee_t));
    text = apr_pstrdup(p, packed + sizeof(HMB_PACK_MAGIC) - 1);
    for (line = apr_strtok(text, "\n", &state); line;
         line = apr_strtok(NULL, "\n", &state)) {
        char *eq = strchr(line, '='), *v;
        hmb_fen_t n = 0;
        int ok = 1;

        if (!eq) {
            return apr_psprintf(p, "kept message: line \"%s\" has no '='",
                                hmb_show(p, line));
        }
        *eq = '\0';
        v = eq + 1;
        if (!strcmp(line, "fee")) {
            hmb_fee_t *f = apr_array_push(r->fees);
            char *fs = NULL;
            char *sn = apr_strtok(v, "\t", &fs);
            char *code = apr_strtok(NULL, "\t", &fs);
            char *a1 = apr_strtok(NULL, "\t", &fs);
            char *a2 = apr_strtok(NULL, "\t", &fs);

            if (*v == '\t') {
                /* no feedetl_sn: strtok took the code for it */
                a2 = a1;
                a1 = code;
                code = sn;
                sn = NULL;
            }
            ok = code && a1 && a2 && hmb_unpack_fen(a1, &f->fulamt_ownpay_amt)
                 && hmb_unpack_fen(a2, &f->overlmt_amt);
            f->feedetl_sn = sn;
            f->med_list_codg = code;
            r->has_fee_detail = 1;
        }
        else if (!strcmp(line, "mdtrt_id")) r->mdtrt_id = v;
        else if (!strcmp(line, "setl_id")) r->setl_id = v;
        else if (!strcmp(line, "psn_no")) r->psn_no = v;
        else if (!strcmp(line, "setl_time")) r->setl_time = v;
        else if (!strcmp(line, "med_type")) r->med_type = v;
        else if (!strcmp(line, "dise_codg")) r->dise_codg = v;
        else if (!strcmp(line, "insutype")) r->insutype = v;
        else if (!strcmp(line, "psn_insu_stas")) {
            ok = hmb_unpack_fen(v, &n) && n >= 0 && n <= 9;
            r->psn_insu_stas = (int)n;
        }
        else if (!strcmp(line, "medfee_sumamt")) {
            ok = hmb_unpack_fen(v, &r->medfee_sumamt);
        }
        else if (!strcmp(line, "fulamt_ownpay_amt")) {
            ok = hmb_unpack_fen(v, &r->fulamt_ownpay_amt);
        }
        else if (!strcmp(line, "overlmt_selfpay")) {
            ok = hmb_unpack_fen(v, &r->overlmt_selfpay);
        }
        else if (!strcmp(line, "fund_pay_sumamt")) {
            ok = r->has_fund_pay_sumamt = hmb_unpack_fen(v,
                                                         &r->fund_pay_sumamt);
        }
        else if (!strcmp(line, "psn_part_amt")) {
            ok = r->has_psn_part_amt = hmb_unpack_fen(v, &r->psn_part_amt);
        }
        else if (!strcmp(line, "psn_cash_pay")) {
            ok = r->has_psn_cash_pay = hmb_unpack_fen(v, &r->psn_cash_pay);
        }
        /* a name this build does not know is from a later one: skipped */
        if (!ok) {
            return apr_psprintf(p, "kept message: %s=\"%s\" makes no sense",
                                hmb_show(p, line), hmb_show(p, v));
        }
    }
    if (!r->psn_no || !r->setl_time || !r->med_type) {
        return "kept message: psn_no, setl_time or med_type missing";
    }
    *resp = r;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Schema validation (strict mode)                                     */

const char *hmb_message_schema(apr_pool_t *p, hmb_message_schema_t **schema)
{
    return hmb_xml_schema_compile(p, hmb_xsd_settlement, schema);
}

const char *hmb_message_validate(apr_pool_t *p,
                                 const hmb_message_schema_t *schema,
                                 const char *buf, apr_size_t len)
{
    xmlDocPtr doc;
    xmlNodePtr root;
    const char *err;

    if (len > HMB_MESSAGE_MAX_BYTES) {
        return apr_psprintf(p, "message: %" APR_SIZE_T_FMT " bytes, more "
                            "than the limit of %d", len,
                            HMB_MESSAGE_MAX_BYTES);
    }
    if ((err = hmb_xml_parse(p, "message", buf, len, HMB_XML_MAX_DEPTH,
                             &doc))) {
        return err;
    }
    /* The schema declares a few data fields globally so that they are
     * checked inside input/data; only the two envelopes are messages. */
    root = xmlDocGetRootElement(doc);
    if (strcmp((const char *)root->name, "request") != 0
        && strcmp((const char *)root->name, "response") != 0) {
        return apr_psprintf(p, "%ld: root element <%s> is neither <request> "
                            "nor <response>", xmlGetLineNo(root),
                            hmb_show(p, (const char *)root->name));
    }
    return hmb_xml_schema_validate(p, schema, "message", doc);
}
