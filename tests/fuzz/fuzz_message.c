/* fuzz_message: one request envelope and one settlement response, read,
 * priced, rendered and spliced the way the filter does it, with every
 * invariant of DOMAIN.md and INTERFACES.md checked on the way.
 *
 * Input framing (tests/fuzz/README.md):
 *   byte 0      flags
 *               bits 0-1  enrollment: 0 none, 1 plain, 2 pre-existing
 *                         condition, 3 person class "hardship"
 *               bit 2     year-to-date totals from bytes 1-3
 *               bit 3     cover starts 2024-07-01 instead of 2024-01-01
 *               bit 4     the optional <setldetail> fund line goes in too
 *               bit 5     read the response again in slices (byte 4) and
 *                         compare with the one-piece reading
 *               bit 6     signed amounts allowed (as for a cancellation)
 *               bit 7     price by tests/fixtures/plans/good-explicit.xml
 *                         (explicit institutions, a plan-wide cap) instead
 *                         of conf/plans/yichun-2024.xml
 *   bytes 1-3   liability i's totals so far: eligible ytd_amount[b & 7],
 *               paid ytd_amount[(b >> 3) & 7]
 *   byte 4      slice size slice_size[b & 7]
 *   then        the request, one NUL byte, the response; without a NUL
 *               byte everything is the response and there is no request
 *               (hmbctl without --request).
 */
#include <string.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "hmb_hmbinfo.h"

#define FUZZ_HEADER 5

static const hmb_fen_t ytd_amount[8] = {
    0, 1, 1499999, 1500000, 50000000, 99999999, 100000000, 250000050
};

static const apr_size_t slice_size[8] = {1, 2, 3, 5, 64, 1000, 4095, 4097};

static const hmb_plan_t *fuzz_plan_for(int flags)
{
    return hmb_fuzz_plan(flags & 0x80 ? "tests/fixtures/plans/good-explicit.xml"
                                      : "conf/plans/yichun-2024.xml");
}

static hmb_enrollment_t *fuzz_enrollment(apr_pool_t *p,
                                         const hmb_plan_t *plan,
                                         const hmb_response_t *rs, int flags)
{
    hmb_enrollment_t *e;

    if (!(flags & 0x03)) {
        return NULL;
    }
    e = apr_pcalloc(p, sizeof(*e));
    e->plan_code = plan->code;
    e->plan_year = plan->year;
    e->psn_no = rs->psn_no;
    e->cover_from = flags & 0x08 ? apr_psprintf(p, "%d-07-01", plan->year)
                                 : plan->from;
    e->preexisting = (flags & 0x03) == 2;
    e->person_class = (flags & 0x03) == 3 ? "hardship" : NULL;
    e->admdvs = "360902";
    e->payer = "self";
    return e;
}

static hmb_ytd_t *fuzz_ytd(apr_pool_t *p, const hmb_plan_t *plan,
                           const uint8_t *sel, int flags)
{
    hmb_ytd_t *y;
    int i;

    if (!(flags & 0x04)) {
        return NULL;
    }
    y = hmb_ytd_make(p, plan);
    for (i = 0; i < plan->liabilities->nelts && i < 3; i++) {
        y->elig[i] = ytd_amount[sel[i] & 7];
        y->paid[i] = ytd_amount[(sel[i] >> 3) & 7];
        y->plan_paid += y->paid[i];
    }
    return y;
}

/* The same bytes in slices, as the filter gets them from the brigade,
 * must read the same. */
static void fuzz_compare_sliced(apr_pool_t *p, const char *buf,
                                apr_size_t len, apr_size_t slice,
                                int allow_negative, const char *err,
                                const hmb_response_t *rs)
{
    hmb_msg_reader_t *r = hmb_msg_reader(p, HMB_MSG_RESPONSE);
    hmb_response_t *rs2;
    const char *err2;
    apr_size_t off;

    hmb_fuzz_conversion_failed();
    for (off = 0; off < len; off += slice) {
        hmb_msg_feed(r, buf + off, len - off < slice ? len - off : slice);
    }
    err2 = hmb_response_finish(r, allow_negative, &rs2);
    if (!err != !err2) {
        hmb_fuzz_fail("slices read as one piece", "in one piece: %s; in "
                      "slices of %zu: %s", err ? err : "ok", slice,
                      err2 ? err2 : "ok");
    }
    if (!err && (rs->actionable != rs2->actionable
                 || (rs->actionable && rs->splice_at != rs2->splice_at))) {
        hmb_fuzz_fail("slices read as one piece", "splice at %zu in one "
                      "piece, %zu in slices of %zu", rs->splice_at,
                      rs2->splice_at, slice);
    }
}

/* The claim a settlement of d would leave, and the totals after it. */
static void fuzz_reverse(apr_pool_t *p, const hmb_plan_t *plan,
                         const hmb_ytd_t *ytd, const hmb_response_t *rs,
                         const hmb_decision_t *d)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));
    apr_array_header_t *totals;
    hmb_engine_reversal_t in;
    int i;

    c->kind = 'S';
    c->setl_id = rs->setl_id ? rs->setl_id : "S-FUZZ";
    c->hmb_setl_id = apr_pstrcat(p, "HMB-", c->setl_id, NULL);
    c->psn_no = rs->psn_no;
    c->plan_code = plan->code;
    c->plan_year = plan->year;
    c->plan_ver = plan->version;
    c->stas = d->stas;
    c->hmb_pay = d->hmb_pay;
    c->liabs = apr_array_make(p, d->liabs->nelts + 1,
                              sizeof(hmb_claim_liab_t));
    totals = apr_array_make(p, d->liabs->nelts + 1, sizeof(hmb_total_t));
    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r = &APR_ARRAY_IDX(d->liabs, i,
                                                    hmb_liab_result_t);
        hmb_claim_liab_t *cl = apr_array_push(c->liabs);
        hmb_total_t *t = apr_array_push(totals);

        cl->liab_code = r->liab_code;
        cl->pool = r->pool;
        cl->deductible = r->deductible;
        cl->cap = r->cap;
        cl->elig_amt = r->elig_amt;
        cl->dedc_amt = r->dedc_amt;
        cl->pay_prop = r->pay_prop;
        cl->pay_amt = r->pay_amt;
        t->liab_code = r->liab_code;
        t->elig_amt = (ytd ? ytd->elig[i] : 0) + r->elig_amt;
        t->paid_amt = (ytd ? ytd->paid[i] : 0) + r->pay_amt;
    }
    c->insurers = d->insurers;
    memset(&in, 0, sizeof(in));
    in.claim = c;
    in.totals = totals;
    in.plan_name = plan->name;
    in.resp = rs;
    hmb_fuzz_check_reversal(d, hmb_engine_reverse(p, &in));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *root = hmb_fuzz_init(), *p;
    const char *body, *req = NULL, *resp, *err, *why, *text;
    apr_size_t req_len = 0, resp_len;
    hmb_request_t *rq = NULL;
    hmb_response_t *rs = NULL;
    const hmb_decision_t *d;
    hmb_engine_input_t in;
    hmb_hmbinfo_ctx_t hc;
    const char *nul;
    int flags, allow_negative;
    hmb_tx_e tx;

    if (size < FUZZ_HEADER) {
        return 0;
    }
    flags = data[0];
    body = (const char *)data + FUZZ_HEADER;
    resp_len = size - FUZZ_HEADER;
    nul = memchr(body, '\0', resp_len);
    if (nul) {
        req = body;
        req_len = (apr_size_t)(nul - body);
        resp = nul + 1;
        resp_len -= req_len + 1;
    }
    else {
        resp = body;
    }
    apr_pool_create(&p, root);

    if (req && hmb_request_parse(p, req, req_len, &rq) != NULL) {
        rq = NULL;
    }
    tx = rq ? rq->tx : HMB_TX_NONE;
    allow_negative = tx == HMB_TX_CANCEL || (flags & 0x40);
    err = hmb_response_parse(p, resp, resp_len, allow_negative, &rs);
    if (flags & 0x20) {
        fuzz_compare_sliced(p, resp, resp_len, slice_size[data[4] & 7],
                            allow_negative, err, rs);
    }
    if (err || !rs->actionable) {
        goto done;
    }
    if (hmb_fuzz_amount_out_of_bounds(p, rs, &why)) {
        /* F1, fixed: such a message is unreadable (DOMAIN.md) */
        hmb_fuzz_fail("amounts are bounded", "%s was accepted", why);
    }

    memset(&hc, 0, sizeof(hc));
    hc.setl_id = rs->setl_id;
    hc.mdtrt_id = rs->mdtrt_id;
    if (flags & 0x10) {
        hc.fund_pay_type = "HMB001";
        hc.fund_pay_type_name = "惠民保";
    }
    if (allow_negative) {
        /* A cancellation's answer is never priced: what goes in is a
         * refusal or a reversal, rendered from the stored claim. */
        d = hmb_engine_refuse(p, HMB_STAS_NO_CLAIM,
                              HMB_REA_UNKNOWN_SETTLEMENT, NULL, rs, NULL);
    }
    else {
        const hmb_plan_t *plan = fuzz_plan_for(flags);

        memset(&in, 0, sizeof(in));
        in.tx = rs->setl_id && tx != HMB_TX_PRESETTLE ? HMB_TX_SETTLE
                                                      : HMB_TX_PRESETTLE;
        in.plan = plan;
        in.plans_until = plan->to;
        in.enrollment = fuzz_enrollment(p, plan, rs, flags);
        in.ytd = fuzz_ytd(p, plan, data + 1, flags);
        in.resp = rs;
        in.fixmedins_code = rq ? rq->fixmedins_code : NULL;
        d = hmb_engine_decide(p, &in);
        hmb_fuzz_check_decision(&in, d);
        if (d->stas == HMB_STAS_PAID) {
            hc.hmb_setl_id = apr_pstrcat(p, "HMB-", rs->setl_id, NULL);
            fuzz_reverse(p, plan, in.ytd, rs, d);
        }
    }
    text = apr_pstrcat(p, hmb_hmbinfo_fund_line(p, d, &hc),
                       hmb_hmbinfo_render(p, d, &hc), NULL);
    hmb_fuzz_check_splice(p, resp, resp_len, rs->splice_at, text,
                          hmb_money_str(p, d->hmb_pay));

done:
    apr_pool_destroy(p);
    return 0;
}
