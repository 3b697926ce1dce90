/* Settlement messages (INTERFACES.md section 1). The bytes come from the
 * network, so everything here is bounded, every field we use is checked
 * before anyone relies on it, and every refusal names the field and the
 * problem on one line an operator can act on. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "hmb_message.h"
#include "hmb_xml.h"
#include "hmb_plan.h"       /* hmb_xsd_settlement */
#include "hmb_enroll.h"     /* hmb_date_valid */

/* Identifiers end up in SQL parameters and log lines. */
#define HMB_ID_MAX 64

/* How much of an offending value an error line shows. */
#define HMB_SHOW_MAX 40

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
/* Text from the network, made safe for one log line                   */

/* A clipped copy of an untrusted value for an error message: bytes that
 * are not printable ASCII become '?', so nothing can forge a log line. */
static const char *hmb_msg_show(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s), i, shown = n > HMB_SHOW_MAX ? HMB_SHOW_MAX : n;
    char *r = apr_palloc(p, shown + 4);

    for (i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        r[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (shown < n) {
        memcpy(r + shown, "...", 3);
        shown += 3;
    }
    r[shown] = '\0';
    return r;
}

/* err_msg for a skip reason: UTF-8 kept (the operator reads Chinese),
 * control characters flattened to spaces, clipped on a character
 * boundary. */
static const char *hmb_msg_one_line(apr_pool_t *p, const char *s,
                                    apr_size_t max)
{
    apr_size_t n = strlen(s), i;
    char *r;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
            n--;
        }
    }
    r = apr_pstrmemdup(p, s, n);
    for (i = 0; i < n; i++) {
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f) {
            r[i] = ' ';
        }
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* Fields                                                              */

/* Where fields are read from; path names it in error lines. */
typedef struct {
    apr_pool_t *p;
    xmlNodePtr node;
    const char *path;
} hmb_msg_scope_t;

static const char *hmb_msg_err(const hmb_msg_scope_t *sc, const char *name,
                               const char *problem)
{
    return apr_psprintf(sc->p, "%s/%s: %s", sc->path, name, problem);
}

/* The only child element called name. Two of them would leave the HIS
 * and us reading different values, so that is refused. */
static const char *hmb_msg_only_child(const hmb_msg_scope_t *sc,
                                      const char *name, xmlNodePtr *out)
{
    xmlNodePtr c, found = NULL;

    for (c = sc->node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && strcmp((const char *)c->name, name) == 0) {
            if (found) {
                return apr_psprintf(sc->p, "%s: more than one <%s>",
                                    sc->path, name);
            }
            found = c;
        }
    }
    *out = found;
    return NULL;
}

/* Trimmed text of a field; *out is NULL when absent or empty. */
static const char *hmb_msg_text(const hmb_msg_scope_t *sc, const char *name,
                                int required, const char **out)
{
    xmlNodePtr n, c;
    const char *err, *v;

    *out = NULL;
    if ((err = hmb_msg_only_child(sc, name, &n)) != NULL) {
        return err;
    }
    if (!n) {
        return required ? hmb_msg_err(sc, name, "missing") : NULL;
    }
    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            return hmb_msg_err(sc, name, apr_psprintf(sc->p,
                               "holds an element <%s>, expected text",
                               hmb_msg_show(sc->p, (const char *)c->name)));
        }
    }
    v = hmb_xml_child_text(sc->p, sc->node, name);
    if (!v || !*v) {
        return required ? hmb_msg_err(sc, name, "empty") : NULL;
    }
    *out = v;
    return NULL;
}

/* An identifier or code: printable ASCII, no space, no quote, bounded. */
static const char *hmb_msg_id(const hmb_msg_scope_t *sc, const char *name,
                              int required, const char **out)
{
    const char *err, *v, *s;

    *out = NULL;
    if ((err = hmb_msg_text(sc, name, required, &v)) != NULL || !v) {
        return err;
    }
    if (strlen(v) > HMB_ID_MAX) {
        return hmb_msg_err(sc, name, apr_psprintf(sc->p,
                           "\"%s\" is longer than %d bytes",
                           hmb_msg_show(sc->p, v), HMB_ID_MAX));
    }
    for (s = v; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'') {
            return hmb_msg_err(sc, name, apr_psprintf(sc->p,
                               "\"%s\" is not printable ASCII without "
                               "spaces or quotes", hmb_msg_show(sc->p, v)));
        }
    }
    *out = v;
    return NULL;
}

static const char *hmb_msg_amount(const hmb_msg_scope_t *sc, const char *name,
                                  int required, int allow_negative,
                                  hmb_fen_t *out, int *present)
{
    const char *err, *v;

    *out = 0;
    if (present) {
        *present = 0;
    }
    if ((err = hmb_msg_text(sc, name, required, &v)) != NULL || !v) {
        return err;
    }
    if ((err = hmb_money_parse(v, allow_negative, out)) != NULL) {
        return hmb_msg_err(sc, name, apr_psprintf(sc->p, "\"%s\": %s",
                           hmb_msg_show(sc->p, v), err));
    }
    if (present) {
        *present = 1;
    }
    return NULL;
}

/* "YYYY-MM-DD HH:MM:SS", a real date and time of day. */
static int hmb_msg_time_valid(const char *s)
{
    char date[11];
    int i;

    if (strlen(s) != 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
        return 0;
    }
    for (i = 11; i < 19; i++) {
        if (i != 13 && i != 16 && (s[i] < '0' || s[i] > '9')) {
            return 0;
        }
    }
    if ((s[11] - '0') * 10 + (s[12] - '0') > 23
        || s[14] > '5' || s[17] > '5') {
        return 0;
    }
    memcpy(date, s, 10);
    date[10] = '\0';
    return hmb_date_valid(date);
}

/* ------------------------------------------------------------------ */
/* Documents                                                           */

/* Declared encodings we can splice into byte-wise: in each of them '<'
 * is never part of a multibyte character. */
static int hmb_msg_encoding_ok(const char *enc)
{
    return strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0
        || strcasecmp(enc, "GBK") == 0 || strcasecmp(enc, "GB18030") == 0
        || strcasecmp(enc, "GB2312") == 0;
}

/* Bounded, hardened parse; the root must be called root_name. */
static const char *hmb_msg_load(apr_pool_t *p, const char *root_name,
                                const char *buf, apr_size_t len,
                                xmlNodePtr *root, const char **encoding)
{
    xmlDocPtr doc;
    xmlNodePtr r;
    const char *err;

    if (len > HMB_MESSAGE_MAX_BYTES) {
        return apr_psprintf(p, "%s: %" APR_SIZE_T_FMT " bytes, more than "
                            "the limit of %d", root_name, len,
                            HMB_MESSAGE_MAX_BYTES);
    }
    err = hmb_xml_parse(p, root_name, buf, len, HMB_XML_MAX_DEPTH, &doc);
    if (err) {
        return err;
    }
    *encoding = doc->encoding ? apr_pstrdup(p, (const char *)doc->encoding)
                              : "UTF-8";
    if (!hmb_msg_encoding_ok(*encoding)) {
        return apr_psprintf(p, "%s: encoding \"%s\" is not supported "
                            "(UTF-8, GBK, GB18030)", root_name,
                            hmb_msg_show(p, *encoding));
    }
    r = xmlDocGetRootElement(doc);
    if (!r || strcmp((const char *)r->name, root_name) != 0) {
        return apr_psprintf(p, "%s: root element is <%s>, expected <%s>",
                            root_name,
                            r ? hmb_msg_show(p, (const char *)r->name) : "",
                            root_name);
    }
    *root = r;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Request                                                             */

const char *hmb_request_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              hmb_request_t **req)
{
    hmb_request_t *r;
    hmb_msg_scope_t env, data;
    xmlNodePtr root, input, dnode;
    const char *err;
    int cancel;

    *req = NULL;
    r = apr_pcalloc(p, sizeof(*r));
    if ((err = hmb_msg_load(p, "request", buf, len, &root, &r->encoding))) {
        return err;
    }
    env.p = p;
    env.node = root;
    env.path = "request";
    if ((err = hmb_msg_id(&env, "infno", 1, &r->infno))) {
        return err;
    }
    r->tx = hmb_tx_from_infno(r->infno);
    if (r->tx == HMB_TX_NONE) {
        /* Not ours: nothing else in it is looked at, so an unusual
         * query message never shows up as an error. */
        *req = r;
        return NULL;
    }
    if ((err = hmb_msg_id(&env, "msgid", 0, &r->msgid))
        || (err = hmb_msg_id(&env, "fixmedins_code", 0, &r->fixmedins_code))
        || (err = hmb_msg_text(&env, "fixmedins_name", 0,
                               &r->fixmedins_name))
        || (err = hmb_msg_id(&env, "insuplc_admdvs", 0, &r->insuplc_admdvs))
        || (err = hmb_msg_text(&env, "inf_time", 0, &r->inf_time))) {
        return err;
    }

    cancel = r->tx == HMB_TX_CANCEL;
    if ((err = hmb_msg_only_child(&env, "input", &input))) {
        return err;
    }
    dnode = NULL;
    if (input) {
        hmb_msg_scope_t in;
        in.p = p;
        in.node = input;
        in.path = "request/input";
        if ((err = hmb_msg_only_child(&in, "data", &dnode))) {
            return err;
        }
    }
    if (!dnode) {
        if (cancel) {
            return apr_psprintf(p, "request/input/data: missing (infno %s "
                                "names the settlement to cancel there)",
                                r->infno);
        }
        *req = r;
        return NULL;
    }
    data.p = p;
    data.node = dnode;
    data.path = "input/data";
    if ((err = hmb_msg_id(&data, "setl_id", cancel, &r->setl_id))
        || (err = hmb_msg_id(&data, "psn_no", cancel, &r->psn_no))
        || (err = hmb_msg_id(&data, "mdtrt_id", 0, &r->mdtrt_id))) {
        return err;
    }
    *req = r;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Response                                                            */

static const char *hmb_msg_fees(apr_pool_t *p, xmlNodePtr output,
                                hmb_response_t *r)
{
    xmlNodePtr c;
    int n = 0;

    for (c = output->children; c; c = c->next) {
        hmb_msg_scope_t sc;
        hmb_fee_t *fee;
        const char *err;

        if (c->type != XML_ELEMENT_NODE
            || strcmp((const char *)c->name, "feedetail") != 0) {
            continue;
        }
        if (++n > HMB_MESSAGE_MAX_FEES) {
            return apr_psprintf(p, "output: more than %d <feedetail> lines",
                                HMB_MESSAGE_MAX_FEES);
        }
        sc.p = p;
        sc.node = c;
        sc.path = apr_psprintf(p, "feedetail[%d]", n);
        fee = apr_array_push(r->fees);
        /* Refund lines carry negative amounts. */
        if ((err = hmb_msg_id(&sc, "feedetl_sn", 0, &fee->feedetl_sn))
            || (err = hmb_msg_id(&sc, "med_list_codg", 1,
                                 &fee->med_list_codg))
            || (err = hmb_msg_amount(&sc, "fulamt_ownpay_amt", 0, 1,
                                     &fee->fulamt_ownpay_amt, NULL))
            || (err = hmb_msg_amount(&sc, "overlmt_amt", 0, 1,
                                     &fee->overlmt_amt, NULL))) {
            return err;
        }
    }
    r->has_fee_detail = n > 0;
    return NULL;
}

static const char *hmb_msg_setlinfo(apr_pool_t *p, xmlNodePtr setlinfo,
                                    int allow_negative, hmb_response_t *r)
{
    hmb_msg_scope_t sc;
    const char *err, *stas;

    sc.p = p;
    sc.node = setlinfo;
    sc.path = "setlinfo";
    if ((err = hmb_msg_id(&sc, "psn_no", 1, &r->psn_no))
        || (err = hmb_msg_id(&sc, "setl_id", 0, &r->setl_id))
        || (err = hmb_msg_id(&sc, "mdtrt_id", 0, &r->mdtrt_id))
        || (err = hmb_msg_id(&sc, "med_type", 1, &r->med_type))
        || (err = hmb_msg_id(&sc, "dise_codg", 0, &r->dise_codg))
        || (err = hmb_msg_id(&sc, "insutype", 0, &r->insutype))
        || (err = hmb_msg_text(&sc, "setl_time", 1, &r->setl_time))) {
        return err;
    }
    if (!hmb_msg_time_valid(r->setl_time)) {
        return hmb_msg_err(&sc, "setl_time", apr_psprintf(p,
                           "\"%s\" is not a valid time YYYY-MM-DD HH:MM:SS",
                           hmb_msg_show(p, r->setl_time)));
    }

    if ((err = hmb_msg_text(&sc, "psn_insu_stas", 0, &stas))) {
        return err;
    }
    r->psn_insu_stas = -1;
    if (stas) {
        if (strlen(stas) != 1 || stas[0] < '0' || stas[0] > '9') {
            return hmb_msg_err(&sc, "psn_insu_stas", apr_psprintf(p,
                               "\"%s\" is not a status digit 0-9",
                               hmb_msg_show(p, stas)));
        }
        r->psn_insu_stas = stas[0] - '0';
    }

    if ((err = hmb_msg_amount(&sc, "medfee_sumamt", 1, allow_negative,
                              &r->medfee_sumamt, NULL))
        || (err = hmb_msg_amount(&sc, "fulamt_ownpay_amt", 1, allow_negative,
                                 &r->fulamt_ownpay_amt, NULL))
        || (err = hmb_msg_amount(&sc, "overlmt_selfpay", 1, allow_negative,
                                 &r->overlmt_selfpay, NULL))
        || (err = hmb_msg_amount(&sc, "fund_pay_sumamt", 0, allow_negative,
                                 &r->fund_pay_sumamt,
                                 &r->has_fund_pay_sumamt))
        || (err = hmb_msg_amount(&sc, "psn_part_amt", 0, allow_negative,
                                 &r->psn_part_amt, &r->has_psn_part_amt))
        || (err = hmb_msg_amount(&sc, "psn_cash_pay", 0, allow_negative,
                                 &r->psn_cash_pay, &r->has_psn_cash_pay))) {
        return err;
    }
    /* The burden is psn_part_amt, or what the funds left of the total. */
    if (!r->has_psn_part_amt && !r->has_fund_pay_sumamt) {
        return "setlinfo/psn_part_amt: missing, and no fund_pay_sumamt "
               "to derive it from";
    }
    return NULL;
}

const char *hmb_response_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                               int allow_negative, hmb_response_t **resp)
{
    hmb_response_t *r;
    hmb_msg_scope_t top, out;
    xmlNodePtr root, output, setlinfo;
    const char *err, *err_msg;
    apr_size_t at;
    int found;

    *resp = NULL;
    r = apr_pcalloc(p, sizeof(*r));
    r->psn_insu_stas = -1;
    r->fees = apr_array_make(p, 0, sizeof(hmb_fee_t));
    if ((err = hmb_msg_load(p, "response", buf, len, &root, &r->encoding))) {
        return err;
    }
    top.p = p;
    top.node = root;
    top.path = "response";
    if ((err = hmb_msg_id(&top, "infcode", 1, &r->infcode))) {
        return err;
    }
    if (strcmp(r->infcode, "0") != 0) {
        if ((err = hmb_msg_text(&top, "err_msg", 0, &err_msg))) {
            err_msg = NULL;
        }
        r->skip_reason = err_msg
            ? apr_psprintf(p, "infcode %s: %s", r->infcode,
                           hmb_msg_one_line(p, err_msg, 200))
            : apr_psprintf(p, "infcode %s", r->infcode);
        *resp = r;
        return NULL;
    }
    if ((err = hmb_msg_only_child(&top, "output", &output))) {
        return err;
    }
    if (!output) {
        r->skip_reason = "no <output> in the response";
        *resp = r;
        return NULL;
    }
    out.p = p;
    out.node = output;
    out.path = "output";
    if ((err = hmb_msg_only_child(&out, "setlinfo", &setlinfo))) {
        return err;
    }
    if (!setlinfo) {
        r->skip_reason = "no <setlinfo> in <output>";
        *resp = r;
        return NULL;
    }

    /* The parser has accepted the document, so the byte scanner sees the
     * same structure; refusing a disagreement costs nothing. */
    if ((err = hmb_message_scan(buf, len, HMB_XML_MAX_DEPTH, &at, &found))) {
        return apr_pstrcat(p, "response: ", err, NULL);
    }
    if (!found) {
        return "response: cannot find the end tag of <output>";
    }
    r->splice_at = at;

    if ((err = hmb_msg_setlinfo(p, setlinfo, allow_negative, r))
        || (err = hmb_msg_fees(p, output, r))) {
        return err;
    }
    r->actionable = 1;
    *resp = r;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Byte scanner                                                        */

static int hmb_scan_at(const char *buf, apr_size_t len, apr_size_t i,
                       const char *lit)
{
    apr_size_t n = strlen(lit);

    return len - i >= n && memcmp(buf + i, lit, n) == 0;
}

/* Offset just past the next occurrence of lit at or after from, or 0. */
static apr_size_t hmb_scan_past(const char *buf, apr_size_t len,
                                apr_size_t from, const char *lit)
{
    apr_size_t n = strlen(lit), i;

    for (i = from; i + n <= len; i++) {
        const char *hit = memchr(buf + i, lit[0], len - n + 1 - i);
        if (!hit) {
            return 0;
        }
        i = (apr_size_t)(hit - buf);
        if (memcmp(hit, lit, n) == 0) {
            return i + n;
        }
    }
    return 0;
}

/* Whether the XML declaration names a GB encoding (GBK, GB18030 and the
 * GB2312 subset). */
static int hmb_scan_is_gb(const char *buf, apr_size_t len)
{
    apr_size_t i = 0, end, j, v;
    char quote;

    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        i = 3;
    }
    if (!hmb_scan_at(buf, len, i, "<?xml")
        || !(end = hmb_scan_past(buf, len, i, "?>"))
        || !(j = hmb_scan_past(buf, end, i, "encoding"))) {
        return 0;
    }
    while (j < end && buf[j] != '"' && buf[j] != '\'') {
        j++;
    }
    if (j == end) {
        return 0;
    }
    quote = buf[j++];
    for (v = j; v < end && buf[v] != quote; v++)
        ;
    return (v - j == 3 && strncasecmp(buf + j, "GBK", 3) == 0)
        || (v - j == 7 && strncasecmp(buf + j, "GB18030", 7) == 0)
        || (v - j == 6 && strncasecmp(buf + j, "GB2312", 6) == 0);
}

/* Offset past the "]]>" that ends a CDATA section whose text starts at
 * from, or 0. In the GB encodings a trail byte can be ']' (never '<',
 * '>', '-', '?' or a quote), so there the search steps over whole
 * characters: a lead byte 0x81-0xFE takes one more byte, or three more
 * when the next is a digit (GB18030 four-byte form). */
static apr_size_t hmb_scan_cdata_end(const char *buf, apr_size_t len,
                                     apr_size_t from, int gb)
{
    apr_size_t k = from;

    if (!gb) {
        return hmb_scan_past(buf, len, from, "]]>");
    }
    while (k < len) {
        unsigned char c = (unsigned char)buf[k];
        if (c >= 0x81 && c <= 0xfe) {
            k += (k + 1 < len && buf[k + 1] >= '0' && buf[k + 1] <= '9')
                 ? 4 : 2;
        }
        else if (hmb_scan_at(buf, len, k, "]]>")) {
            return k + 3;
        }
        else {
            k++;
        }
    }
    return 0;
}

static int hmb_scan_name_end(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/'
        || c == '>';
}

const char *hmb_message_scan(const char *buf, apr_size_t len, int max_depth,
                             apr_size_t *offset, int *found)
{
    apr_size_t i = 0;
    int depth = 0;
    int in_output = 0;              /* the open depth-2 element is <output> */
    int gb = hmb_scan_is_gb(buf, len);

    *offset = 0;
    *found = 0;
    while (i < len) {
        const char *lt = memchr(buf + i, '<', len - i);
        apr_size_t name, name_end, j;
        char quote;

        if (!lt) {
            break;
        }
        i = (apr_size_t)(lt - buf);

        if (hmb_scan_at(buf, len, i, "<!--")) {
            if (!(j = hmb_scan_past(buf, len, i + 4, "-->"))) {
                return "unterminated comment";
            }
            i = j;
            continue;
        }
        if (hmb_scan_at(buf, len, i, "<![CDATA[")) {
            if (!(j = hmb_scan_cdata_end(buf, len, i + 9, gb))) {
                return "unterminated CDATA section";
            }
            i = j;
            continue;
        }
        if (hmb_scan_at(buf, len, i, "<!DOCTYPE")) {
            return "DOCTYPE is not allowed";
        }
        if (hmb_scan_at(buf, len, i, "<!ENTITY")) {
            return "ENTITY is not allowed";
        }
        if (hmb_scan_at(buf, len, i, "<!")) {
            return "markup declaration is not allowed";
        }
        if (hmb_scan_at(buf, len, i, "<?")) {
            /* the XML declaration and processing instructions alike */
            if (!(j = hmb_scan_past(buf, len, i + 2, "?>"))) {
                return "unterminated processing instruction";
            }
            i = j;
            continue;
        }

        if (hmb_scan_at(buf, len, i, "</")) {
            name = i + 2;
            for (j = name; j < len && !hmb_scan_name_end(buf[j]); j++)
                ;
            if (!(j = hmb_scan_past(buf, len, j, ">"))) {
                return "unterminated end tag";
            }
            if (depth == 0) {
                return "end tag without a start tag";
            }
            if (depth == 2 && in_output && !*found) {
                *found = 1;
                *offset = i;
            }
            if (depth == 2) {
                in_output = 0;
            }
            depth--;
            i = j;
            continue;
        }

        /* A start tag; a '>' inside a quoted attribute value does not
         * end it. */
        name = i + 1;
        for (name_end = name;
             name_end < len && !hmb_scan_name_end(buf[name_end]); name_end++)
            ;
        if (name_end == name) {
            return "'<' not followed by a tag name";
        }
        j = name_end;
        for (quote = 0; j < len; j++) {
            if (quote) {
                if (buf[j] == quote) {
                    quote = 0;
                }
            }
            else if (buf[j] == '"' || buf[j] == '\'') {
                quote = buf[j];
            }
            else if (buf[j] == '>') {
                break;
            }
        }
        if (j == len) {
            return "unterminated start tag";
        }
        if (depth + 1 > max_depth) {
            return "elements nested deeper than the limit";
        }
        if (buf[j - 1] != '/') {
            depth++;
            if (depth == 2) {
                in_output = name_end - name == 6
                            && memcmp(buf + name, "output", 6) == 0;
            }
        }
        i = j + 1;
    }
    if (depth != 0) {
        return "document ends inside an element";
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Schema validation (strict mode)                                     */

typedef struct {
    apr_pool_t *p;
    const char *first;
} hmb_msg_errors_t;

/* libxml2 would print to stderr; keep the first error instead. */
static void hmb_msg_on_schema_error(void *ctx, xmlErrorPtr e)
{
    hmb_msg_errors_t *errs = ctx;
    char *msg;
    apr_size_t n;

    if (errs->first || !e || e->level < XML_ERR_ERROR) {
        return;
    }
    msg = apr_pstrdup(errs->p, e->message ? e->message : "invalid");
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
        msg[--n] = '\0';
    }
    errs->first = apr_psprintf(errs->p, "%d: %s", e->line,
                               hmb_msg_one_line(errs->p, msg, 300));
}

static apr_status_t hmb_msg_schema_cleanup(void *data)
{
    xmlSchemaFree(data);
    return APR_SUCCESS;
}

static apr_status_t hmb_msg_valid_cleanup(void *data)
{
    xmlSchemaFreeValidCtxt(data);
    return APR_SUCCESS;
}

const char *hmb_message_validate(apr_pool_t *p, const char *buf,
                                 apr_size_t len)
{
    xmlSchemaParserCtxtPtr pctxt;
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vctxt;
    hmb_msg_errors_t errs;
    xmlDocPtr doc;
    xmlNodePtr root;
    const char *err;
    int rc;

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
                            hmb_msg_show(p, (const char *)root->name));
    }

    errs.p = p;
    errs.first = NULL;
    pctxt = xmlSchemaNewMemParserCtxt(hmb_xsd_settlement,
                                      (int)strlen(hmb_xsd_settlement));
    if (!pctxt) {
        return "schema: cannot create a schema parser";
    }
    xmlSchemaSetParserStructuredErrors(pctxt, hmb_msg_on_schema_error, &errs);
    schema = xmlSchemaParse(pctxt);
    xmlSchemaFreeParserCtxt(pctxt);
    if (!schema) {
        return apr_pstrcat(p, "schema: ", errs.first ? errs.first
                           : "cannot be compiled", NULL);
    }
    apr_pool_cleanup_register(p, schema, hmb_msg_schema_cleanup,
                              apr_pool_cleanup_null);
    vctxt = xmlSchemaNewValidCtxt(schema);
    if (!vctxt) {
        return "schema: cannot create a validation context";
    }
    apr_pool_cleanup_register(p, vctxt, hmb_msg_valid_cleanup,
                              apr_pool_cleanup_null);
    xmlSchemaSetValidStructuredErrors(vctxt, hmb_msg_on_schema_error, &errs);
    rc = xmlSchemaValidateDoc(vctxt, doc);
    if (rc == 0) {
        return NULL;
    }
    return errs.first ? errs.first
                      : "0: not valid against the settlement schema";
}
