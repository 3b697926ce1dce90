/* The harnesses' shared set-up and invariants (fuzz_common.h). The
 * invariants are written from DOMAIN.md and INTERFACES.md, not from the
 * code they check: the splice is judged by libxml2's document reader, the
 * payout by the rules' own arithmetic in 128 bits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "hmb_xml.h"

static apr_pool_t *fuzz_pool;
static apr_hash_t *fuzz_plans;
static int fuzz_i18n_error;

#define FUZZ_KNOWN_MAX 8
static struct {
    const char *id;
    unsigned long n;
} fuzz_known[FUZZ_KNOWN_MAX];

/* libxml2 would print every error of every mutated input: noise. */
static void fuzz_quiet(void *ctx, const char *msg, ...)
{
}

/* Errors no parser context catches (the product's parsers have their
 * own handlers): only whether a conversion failed is kept. */
static void fuzz_structured(void *ctx, xmlErrorPtr e)
{
    if (e && e->domain == XML_FROM_I18N) {
        fuzz_i18n_error = 1;
    }
}

static void fuzz_report_known(void)
{
    int i;

    for (i = 0; i < FUZZ_KNOWN_MAX && fuzz_known[i].id; i++) {
        fprintf(stderr, "known bug %s stepped around in %lu inputs\n",
                fuzz_known[i].id, fuzz_known[i].n);
    }
}

apr_pool_t *hmb_fuzz_init(void)
{
    if (!fuzz_pool) {
        apr_initialize();
        hmb_xml_init();
        xmlSetGenericErrorFunc(NULL, fuzz_quiet);
        xmlSetStructuredErrorFunc(NULL, fuzz_structured);
        apr_pool_create(&fuzz_pool, NULL);
        atexit(fuzz_report_known);
        fuzz_plans = apr_hash_make(fuzz_pool);
    }
    return fuzz_pool;
}

void hmb_fuzz_fail(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\nINVARIANT BROKEN: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

const char *hmb_fuzz_read(apr_pool_t *p, const char *path, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf = NULL;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)
        != APR_SUCCESS) {
        return NULL;
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS) {
        buf = apr_palloc(p, (apr_size_t)fi.size + 1);
        *len = (apr_size_t)fi.size;
        if (*len && apr_file_read_full(f, buf, *len, NULL) != APR_SUCCESS) {
            buf = NULL;
        }
        else {
            buf[*len] = '\0';
        }
    }
    apr_file_close(f);
    return buf;
}

const char *hmb_fuzz_slurp(const char *rel, apr_size_t *len)
{
    apr_pool_t *p = hmb_fuzz_init();
    const char *path = apr_pstrcat(p, HMB_SRCDIR, "/", rel, NULL);
    const char *buf = hmb_fuzz_read(p, path, len);

    if (!buf) {
        hmb_fuzz_fail("set-up", "cannot read %s", path);
    }
    return buf;
}

const hmb_plan_t *hmb_fuzz_plan(const char *rel)
{
    apr_pool_t *p = hmb_fuzz_init();
    hmb_plan_t *plan = apr_hash_get(fuzz_plans, rel, APR_HASH_KEY_STRING);
    const char *err;

    if (!plan) {
        err = hmb_plan_load(p, apr_pstrcat(p, HMB_SRCDIR, "/", rel, NULL),
                            &plan);
        if (err) {
            hmb_fuzz_fail("set-up", "%s", err);
        }
        apr_hash_set(fuzz_plans, apr_pstrdup(p, rel), APR_HASH_KEY_STRING,
                     plan);
    }
    return plan;
}

int hmb_fuzz_step_around(const char *id)
{
    const char *v = getenv("HMB_FUZZ_KNOWN_BUGS");
    int i;

    if (v && *v && strcmp(v, "0") != 0) {
        return 0;
    }
    for (i = 0; i < FUZZ_KNOWN_MAX; i++) {
        if (!fuzz_known[i].id || strcmp(fuzz_known[i].id, id) == 0) {
            fuzz_known[i].id = id;
            fuzz_known[i].n++;
            break;
        }
    }
    return 1;
}

int hmb_fuzz_conversion_failed(void)
{
    int failed = fuzz_i18n_error;

    fuzz_i18n_error = 0;
    return failed;
}

static hmb_fen_t fuzz_abs(hmb_fen_t v)
{
    return v < 0 ? -v : v;
}

int hmb_fuzz_amount_out_of_bounds(apr_pool_t *p, const hmb_response_t *r,
                                  const char **why)
{
    const struct {
        const char *name;
        hmb_fen_t v;
    } amounts[] = {
        {"medfee_sumamt", r->medfee_sumamt},
        {"fulamt_ownpay_amt", r->fulamt_ownpay_amt},
        {"overlmt_selfpay", r->overlmt_selfpay},
        {"fund_pay_sumamt", r->fund_pay_sumamt},
        {"psn_part_amt", r->psn_part_amt},
        {"psn_cash_pay", r->psn_cash_pay}
    };
    __int128 sum = 0;
    apr_size_t i;
    int k;

    for (i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        if (fuzz_abs(amounts[i].v) > HMB_FUZZ_AMOUNT_BOUND) {
            *why = apr_psprintf(p, "setlinfo/%s %s", amounts[i].name,
                                hmb_money_str(p, amounts[i].v));
            return 1;
        }
    }
    for (k = 0; r->fees && k < r->fees->nelts; k++) {
        const hmb_fee_t *f = &APR_ARRAY_IDX(r->fees, k, hmb_fee_t);

        if (fuzz_abs(f->fulamt_ownpay_amt) > HMB_FUZZ_AMOUNT_BOUND
            || fuzz_abs(f->overlmt_amt) > HMB_FUZZ_AMOUNT_BOUND) {
            *why = apr_psprintf(p, "feedetail[%d] amount", k + 1);
            return 1;
        }
        sum += (__int128)f->fulamt_ownpay_amt + f->overlmt_amt;
        if (sum > HMB_FUZZ_AMOUNT_BOUND || sum < -HMB_FUZZ_AMOUNT_BOUND) {
            *why = apr_psprintf(p, "fee lines 1..%d add up beyond the bound",
                                k + 1);
            return 1;
        }
    }
    return 0;
}

/* ---- the payout ------------------------------------------------------ */

/* round_half_up(b x r), DOMAIN.md rule 7, without overflow. */
static __int128 fuzz_apply_ratio(hmb_fen_t b, hmb_ratio_t r)
{
    __int128 m = (__int128)(b < 0 ? -b : b) * r;
    __int128 v = (m + HMB_RATIO_ONE / 2) / HMB_RATIO_ONE;

    return b < 0 ? -v : v;
}

static hmb_fen_t fuzz_room(hmb_fen_t cap, hmb_fen_t used)
{
    return cap > used ? cap - used : 0;
}

void hmb_fuzz_check_decision(const hmb_engine_input_t *in,
                             const hmb_decision_t *d)
{
    const hmb_response_t *resp = in->resp;
    const hmb_plan_t *plan = in->plan;
    hmb_fen_t burden = hmb_engine_burden(resp);
    hmb_fen_t part = resp->has_psn_part_amt ? resp->psn_part_amt : burden;
    __int128 sum = 0, shares = 0;
    int i;

    if (d->hmb_pay < 0) {
        hmb_fuzz_fail("pay >= 0", "hmb_pay %lld", (long long)d->hmb_pay);
    }
    if (d->hmb_pay > burden) {
        hmb_fuzz_fail("pay <= burden", "hmb_pay %lld, burden %lld",
                      (long long)d->hmb_pay, (long long)burden);
    }
    if (d->psn_part_amt_aft != part - d->hmb_pay) {
        hmb_fuzz_fail("psn_part_amt_aft", "%lld, expected %lld - %lld",
                      (long long)d->psn_part_amt_aft, (long long)part,
                      (long long)d->hmb_pay);
    }
    if (d->stas != HMB_STAS_PAID && d->stas != HMB_STAS_PRESETTLED) {
        if (d->hmb_pay != 0 || d->rea == HMB_REA_NONE) {
            hmb_fuzz_fail("refusal", "stas %s rea %s pays %lld",
                          hmb_stas_name(d->stas),
                          hmb_rea_name(d->rea) ? hmb_rea_name(d->rea) : "-",
                          (long long)d->hmb_pay);
        }
        return;
    }
    if (d->liabs->nelts != plan->liabilities->nelts) {
        hmb_fuzz_fail("liabilities", "%d results for %d liabilities",
                      d->liabs->nelts, plan->liabilities->nelts);
    }
    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r = &APR_ARRAY_IDX(d->liabs, i,
                                                    hmb_liab_result_t);
        const hmb_liability_t *l = &APR_ARRAY_IDX(plan->liabilities, i,
                                                  hmb_liability_t);
        hmb_fen_t paid = in->ytd ? in->ytd->paid[i] : 0;
        hmb_fen_t room = fuzz_room(l->cap, paid);

        if (r->elig_amt < 0 || r->dedc_amt < 0 || r->dedc_amt > r->elig_amt) {
            hmb_fuzz_fail("eligible and deductible", "%s: elig %lld dedc %lld",
                          l->code, (long long)r->elig_amt,
                          (long long)r->dedc_amt);
        }
        if (r->pay_amt < 0 || r->pay_amt > room) {
            hmb_fuzz_fail("liability pay within its cap left",
                          "%s: pay %lld, cap %lld, paid so far %lld", l->code,
                          (long long)r->pay_amt, (long long)l->cap,
                          (long long)paid);
        }
        if (r->pay_amt > fuzz_apply_ratio(r->elig_amt - r->dedc_amt,
                                          r->pay_prop)) {
            hmb_fuzz_fail("liability pay within base x ratio",
                          "%s: pay %lld, base %lld, ratio %d", l->code,
                          (long long)r->pay_amt,
                          (long long)(r->elig_amt - r->dedc_amt),
                          (int)r->pay_prop);
        }
        if (r->cap_left != fuzz_room(l->cap, paid + r->pay_amt)) {
            hmb_fuzz_fail("cap_left", "%s: %lld after paying %lld of %lld "
                          "left", l->code, (long long)r->cap_left,
                          (long long)r->pay_amt, (long long)room);
        }
        sum += r->pay_amt;
    }
    if (sum != d->hmb_pay) {
        hmb_fuzz_fail("liabilities add up to hmb_pay", "%lld != %lld",
                      (long long)sum, (long long)d->hmb_pay);
    }
    if (plan->has_cap
        && d->hmb_pay > fuzz_room(plan->cap,
                                  in->ytd ? in->ytd->plan_paid : 0)) {
        hmb_fuzz_fail("plan-wide cap", "hmb_pay %lld, cap %lld",
                      (long long)d->hmb_pay, (long long)plan->cap);
    }
    if (d->insurers->nelts != plan->insurers->nelts) {
        hmb_fuzz_fail("insurers", "%d shares for %d insurers",
                      d->insurers->nelts, plan->insurers->nelts);
    }
    for (i = 0; i < d->insurers->nelts; i++) {
        const hmb_insurer_result_t *r = &APR_ARRAY_IDX(d->insurers, i,
                                                       hmb_insurer_result_t);
        if (r->pay_amt < 0) {
            hmb_fuzz_fail("insurer share >= 0", "%s: %lld", r->insurer_code,
                          (long long)r->pay_amt);
        }
        shares += r->pay_amt;
    }
    if (d->insurers->nelts && shares != d->hmb_pay) {
        hmb_fuzz_fail("shares add up to hmb_pay", "%lld != %lld",
                      (long long)shares, (long long)d->hmb_pay);
    }
}

void hmb_fuzz_check_reversal(const hmb_decision_t *d,
                             const hmb_decision_t *rev)
{
    int i;

    if (rev->stas != HMB_STAS_REVERSED || rev->hmb_pay != -d->hmb_pay) {
        hmb_fuzz_fail("reversal", "stas %s, hmb_pay %lld for a claim of "
                      "%lld", hmb_stas_name(rev->stas),
                      (long long)rev->hmb_pay, (long long)d->hmb_pay);
    }
    if (rev->liabs->nelts != d->liabs->nelts
        || rev->insurers->nelts != d->insurers->nelts) {
        hmb_fuzz_fail("reversal", "%d/%d parts for a claim of %d/%d",
                      rev->liabs->nelts, rev->insurers->nelts,
                      d->liabs->nelts, d->insurers->nelts);
    }
    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *a = &APR_ARRAY_IDX(d->liabs, i,
                                                    hmb_liab_result_t);
        const hmb_liab_result_t *b = &APR_ARRAY_IDX(rev->liabs, i,
                                                    hmb_liab_result_t);
        if (b->pay_amt != -a->pay_amt || b->elig_amt != -a->elig_amt
            || b->dedc_amt != -a->dedc_amt) {
            hmb_fuzz_fail("reversal mirrors the claim", "%s", a->liab_code);
        }
    }
    for (i = 0; i < d->insurers->nelts; i++) {
        if (APR_ARRAY_IDX(rev->insurers, i, hmb_insurer_result_t).pay_amt
            != -APR_ARRAY_IDX(d->insurers, i, hmb_insurer_result_t).pay_amt) {
            hmb_fuzz_fail("reversal mirrors the shares", "insurer %d", i);
        }
    }
}

/* ---- the splice ------------------------------------------------------ */

static xmlDocPtr fuzz_dom(const char *buf, apr_size_t len)
{
    return xmlReadMemory(buf, (int)len, "fuzz.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR
                         | XML_PARSE_NOWARNING);
}

/* The root's first child element <output>, in no namespace. */
static xmlNodePtr fuzz_output(xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), c;

    for (c = root ? root->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && !c->ns
            && strcmp((const char *)c->name, "output") == 0) {
            return c;
        }
    }
    return NULL;
}

/* The document as libxml2 writes it back, for comparison. */
static char *fuzz_dump(apr_pool_t *p, xmlDocPtr doc, int *n)
{
    xmlChar *mem = NULL;
    char *copy;

    xmlDocDumpMemory(doc, &mem, n);
    if (!mem) {
        hmb_fuzz_fail("splice", "libxml2 cannot write a document back");
    }
    copy = apr_pstrmemdup(p, (const char *)mem, (apr_size_t)*n);
    xmlFree(mem);
    return copy;
}

/* Elements the inserted text is made of, in order, or -1 if it is not a
 * sequence of elements and nothing else. */
static int fuzz_text_elements(apr_pool_t *p, const char *text)
{
    const char *wrapped = apr_pstrcat(p, "<x>", text, "</x>", NULL);
    xmlDocPtr doc = fuzz_dom(wrapped, strlen(wrapped));
    xmlNodePtr c;
    int n = 0;

    if (!doc) {
        return -1;
    }
    for (c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) {
            n = -1;
            break;
        }
        n++;
    }
    xmlFreeDoc(doc);
    return n;
}

static int fuzz_end_tag_at(const char *buf, apr_size_t len, apr_size_t at)
{
    static const char tag[] = "</output";
    apr_size_t i = at + sizeof(tag) - 1;

    if (at > len || len - at < sizeof(tag) - 1
        || memcmp(buf + at, tag, sizeof(tag) - 1) != 0) {
        return 0;
    }
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r'
                       || buf[i] == '\n')) {
        i++;
    }
    return i < len && buf[i] == '>';
}

/* The spliced document against the original, both as libxml2 reads
 * them; orig and got are freed here. */
static const char *fuzz_compare(apr_pool_t *p, xmlDocPtr orig, xmlDocPtr got,
                                int elements, const char *pay)
{
    xmlNodePtr out = fuzz_output(got);
    xmlNodePtr last = out ? out->last : NULL;
    const char *shown, *why = NULL;
    char *a, *b;
    int alen, blen, k;

    if (!last || last->type != XML_ELEMENT_NODE || last->ns
        || strcmp((const char *)last->name, "hmbinfo") != 0) {
        why = apr_psprintf(p, "<hmbinfo> is not the last child of <output> "
                           "(%s is)", last ? (const char *)last->name
                                           : "nothing");
    }
    else if (!(shown = hmb_xml_child_text(p, last, "hmb_pay"))
             || strcmp(shown, pay) != 0) {
        why = apr_psprintf(p, "<hmbinfo> shows hmb_pay %s, not %s",
                           shown ? shown : "(none)", pay);
    }
    /* Without what went in, the document is the upstream's. */
    for (k = 0; !why && k < elements; k++) {
        xmlNodePtr prev = last->prev;

        if (last->type != XML_ELEMENT_NODE) {
            why = apr_psprintf(p, "inserted node %d of %d is no element",
                               k + 1, elements);
            break;
        }
        xmlUnlinkNode(last);
        xmlFreeNode(last);
        last = prev;
    }
    if (!why) {
        a = fuzz_dump(p, orig, &alen);
        b = fuzz_dump(p, got, &blen);
        if (alen != blen || memcmp(a, b, (apr_size_t)alen) != 0) {
            why = "the spliced document without the inserted elements is "
                  "not the original";
        }
    }
    xmlFreeDoc(orig);
    xmlFreeDoc(got);
    return why;
}

const char *hmb_fuzz_splice_problem(apr_pool_t *p, const char *buf,
                                    apr_size_t len, apr_size_t at,
                                    const char *text, const char *pay)
{
    apr_size_t n = strlen(text), i;
    char *spliced;
    xmlDocPtr orig, got;
    int elements;

    for (i = 0; i < n; i++) {
        if ((unsigned char)text[i] >= 0x80) {
            return apr_psprintf(p, "the inserted text is not ASCII (byte %"
                                APR_SIZE_T_FMT ")", i);
        }
    }
    if ((elements = fuzz_text_elements(p, text)) < 1) {
        return "the inserted text is not a sequence of elements";
    }
    if (!fuzz_end_tag_at(buf, len, at)) {
        return apr_psprintf(p, "the bytes at %" APR_SIZE_T_FMT " are not "
                            "the end tag </output>: \"%s\"", at,
                            at > len ? "" : apr_pstrmemdup(p, buf + at,
                                                len - at < 24 ? len - at
                                                              : 24));
    }
    hmb_fuzz_conversion_failed();
    if (!(orig = fuzz_dom(buf, len))) {
        return hmb_fuzz_conversion_failed()
               ? "libxml2's reader refuses the bytes the message reader "
                 "accepted (a conversion failure)"
               : "libxml2's reader refuses the bytes the message reader "
                 "accepted";
    }
    if (!fuzz_output(orig)) {
        xmlFreeDoc(orig);
        return "libxml2 sees no <output> child of the root";
    }
    spliced = apr_palloc(p, len + n + 1);
    memcpy(spliced, buf, at);
    memcpy(spliced + at, text, n);
    memcpy(spliced + at + n, buf + at, len - at);
    spliced[len + n] = '\0';
    if (!(got = fuzz_dom(spliced, len + n))) {
        xmlFreeDoc(orig);
        return "libxml2 refuses the spliced document";
    }
    return fuzz_compare(p, orig, got, elements, pay);
}

/* What a splice must never meet, as libxml2 reads the bytes: F6 (fixed),
 * an <output> in a namespace (prefixed, or by a default namespace) taken
 * for <output>; F4 (fixed), an <output> that carries an <hmbinfo>
 * already, which the reader must have refused. */
static const char *fuzz_known_splice(const char *buf, apr_size_t len)
{
    xmlDocPtr doc = fuzz_dom(buf, len);
    xmlNodePtr root, c, out = NULL;
    const char *id = NULL;

    if (!doc) {
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    for (c = root ? root->children : NULL; c && !out; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && strcmp((const char *)c->name, "output") == 0) {
            out = c;
        }
    }
    if (out && (out->ns || root->ns)) {
        id = "F6";
    }
    for (c = out ? out->children : NULL; c && !id; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && strcmp((const char *)c->name, "hmbinfo") == 0) {
            id = "F4";
        }
    }
    xmlFreeDoc(doc);
    return id;
}

void hmb_fuzz_check_splice(apr_pool_t *p, const char *buf, apr_size_t len,
                           apr_size_t at, const char *text, const char *pay)
{
    const char *known = fuzz_known_splice(buf, len);
    const char *why;

    if (known) {
        hmb_fuzz_fail("splice", "finding %s: the reader made this message "
                      "one to settle (inserted at %zu)", known, at);
    }
    why = hmb_fuzz_splice_problem(p, buf, len, at, text, pay);
    if (why) {
        hmb_fuzz_fail("splice", "%s (inserted at %zu)", why, at);
    }
}
