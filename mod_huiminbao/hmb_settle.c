/* One message end to end. The filter and hmbctl both come through here,
 * so a payout computed by httpd and by the operator's tool is the same
 * code path, byte for byte. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "hmb_settle.h"
#include "hmb_hmbinfo.h"
#include "hmb_plan.h"

typedef struct {
    apr_pool_t *p;
    const hmb_settle_ctx_t *ctx;
    const hmb_request_t *rq;
    const hmb_response_t *rs;
    const char *resp;
    apr_size_t resp_len;
    hmb_settle_result_t *res;
} hmb_job_t;

static hmb_settle_result_t *hmb_pass(hmb_job_t *j, int is_error,
                                     const char *reason)
{
    j->res->outcome = HMB_OUT_PASS;
    j->res->is_error = is_error;
    j->res->reason = reason;
    return j->res;
}

/* Splice text before </output> and fill in the result. */
static hmb_settle_result_t *hmb_emit(hmb_job_t *j, hmb_outcome_e outcome,
                                     const hmb_decision_t *d,
                                     const char *text)
{
    hmb_settle_result_t *res = j->res;

    res->outcome = outcome;
    res->decision = d;
    if (d) {
        res->stas = d->stas;
        res->rea_code = d->rea_code;
        res->hmb_pay = d->hmb_pay;
    }
    res->out = hmb_splice(j->p, j->resp, j->resp_len, j->rs->splice_at, text,
                          &res->out_len);
    return res;
}

static hmb_fen_t hmb_part_amt(const hmb_response_t *rs)
{
    return rs->has_psn_part_amt ? rs->psn_part_amt : hmb_engine_burden(rs);
}

/* Nothing to pay or reverse: the decision and the element saying so. */
static const char *hmb_no_claim_text(hmb_job_t *j, const char *memo,
                                     const char *orig_setl_id,
                                     const char *hmb_setl_id,
                                     hmb_decision_t **dp)
{
    hmb_decision_t *d = apr_pcalloc(j->p, sizeof(*d));
    hmb_hmbinfo_ctx_t hc;

    memset(&hc, 0, sizeof(hc));
    hc.hmb_setl_id = hmb_setl_id;
    hc.setl_id = j->rs->setl_id;
    hc.mdtrt_id = j->rs->mdtrt_id;
    hc.orig_setl_id = orig_setl_id;
    d->stas = HMB_STAS_NO_CLAIM;
    d->psn_part_amt_aft = hmb_part_amt(j->rs);
    d->psn_cash_pay_aft = j->rs->has_psn_cash_pay ? j->rs->psn_cash_pay
                                                  : d->psn_part_amt_aft;
    d->memo = memo;
    *dp = d;
    return hmb_hmbinfo_render(j->p, d, &hc);
}

/* Nothing could be computed now: say so, pay nothing, keep the base. */
static hmb_settle_result_t *hmb_defer(hmb_job_t *j, const char *reason)
{
    hmb_decision_t *d = apr_pcalloc(j->p, sizeof(*d));
    hmb_hmbinfo_ctx_t hc;

    memset(&hc, 0, sizeof(hc));
    hc.setl_id = j->rs->setl_id;
    hc.mdtrt_id = j->rs->mdtrt_id;
    hc.orig_setl_id = j->res->tx == HMB_TX_CANCEL ? j->rq->setl_id : NULL;
    d->stas = HMB_STAS_DEFERRED;
    d->psn_part_amt_aft = hmb_part_amt(j->rs);
    d->psn_cash_pay_aft = j->rs->has_psn_cash_pay ? j->rs->psn_cash_pay
                                                  : d->psn_part_amt_aft;
    d->memo = "惠民保赔付暂缓计算，将由承保机构事后结算，不影响本次基本医保结算";
    j->res->reason = reason;
    j->res->hmb_setl_id = NULL;
    return hmb_emit(j, HMB_OUT_DEFERRED, d, hmb_hmbinfo_render(j->p, d, &hc));
}

static hmb_settle_result_t *hmb_ledger_failed(hmb_job_t *j, const char *err)
{
    hmb_ledger_rollback(j->ctx->ledger, j->p);
    return hmb_defer(j, err);
}

/* The plan the person is enrolled in among those whose period contains
 * the settlement date; the first candidate when enrolled in none. */
static const char *hmb_pick_plan(hmb_job_t *j, const hmb_plan_t **plan,
                                 hmb_enrollment_t **enr)
{
    char date[11];
    apr_array_header_t *cands;
    int i;

    *plan = NULL;
    *enr = NULL;
    apr_cpystrn(date, j->rs->setl_time, sizeof(date));
    cands = hmb_plan_candidates(j->p, j->ctx->plans, date);
    for (i = 0; i < cands->nelts; i++) {
        const hmb_plan_t *cand = APR_ARRAY_IDX(cands, i, const hmb_plan_t *);
        const char *err = hmb_ledger_get_enrollment(j->ctx->ledger, j->p,
                                                    cand->code, cand->year,
                                                    j->rs->psn_no, enr);
        if (err) {
            return err;
        }
        if (!*plan) {
            *plan = cand;
        }
        if (*enr) {
            *plan = cand;
            break;
        }
    }
    return NULL;
}

static hmb_claim_t *hmb_claim_from(hmb_job_t *j, const hmb_decision_t *d,
                                   const char *hmb_setl_id, const char *text)
{
    hmb_claim_t *c = apr_pcalloc(j->p, sizeof(*c));
    int i;

    c->hmb_setl_id = hmb_setl_id;
    c->kind = 'S';
    c->setl_id = j->rs->setl_id;
    c->psn_no = j->rs->psn_no;
    c->mdtrt_id = j->rs->mdtrt_id;
    c->fixmedins_code = j->rq ? j->rq->fixmedins_code : NULL;
    c->msgid = j->rq ? j->rq->msgid : NULL;
    c->setl_time = j->rs->setl_time;
    if (d->plan) {
        c->plan_code = d->plan->code;
        c->plan_year = d->plan->year;
        c->plan_ver = d->plan->version;
    }
    else {
        c->plan_year = atoi(j->rs->setl_time);
    }
    c->stas = hmb_stas_name(d->stas);
    c->rea_code = d->rea_code;
    c->hmb_pay = d->hmb_pay;
    c->hmbinfo = text;
    c->liabs = apr_array_make(j->p, d->liabs->nelts + 1,
                              sizeof(hmb_claim_liab_t));
    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r =
            &((const hmb_liab_result_t *)d->liabs->elts)[i];
        hmb_claim_liab_t *cl = apr_array_push(c->liabs);
        cl->liab_code = r->liab_code;
        cl->pool = r->pool;
        cl->deductible = r->deductible;
        cl->cap = r->cap;
        cl->elig_amt = r->elig_amt;
        cl->dedc_amt = r->dedc_amt;
        cl->pay_prop = r->pay_prop;
        cl->pay_amt = r->pay_amt;
    }
    c->insurers = d->insurers;
    return c;
}

static hmb_settle_result_t *hmb_duplicate(hmb_job_t *j, const hmb_claim_t *c)
{
    hmb_settle_result_t *res = j->res;

    res->duplicate = 1;
    res->hmb_setl_id = c->hmb_setl_id;
    res->hmb_pay = c->hmb_pay;
    res->rea_code = c->rea_code;
    res->stas = !strcmp(c->stas, "reversed") ? HMB_STAS_REVERSED
              : !strcmp(c->stas, "ineligible") ? HMB_STAS_INELIGIBLE
              : !strcmp(c->stas, "no_claim") ? HMB_STAS_NO_CLAIM
              : HMB_STAS_PAID;
    return hmb_emit(j, HMB_OUT_SPLICED, NULL, c->hmbinfo);
}

/* Price the message with the engine and render what goes in: the fund
 * line when configured, then <hmbinfo>. id is NULL when nothing will be
 * recorded. */
static const char *hmb_price(hmb_job_t *j, hmb_tx_e tx,
                             const hmb_plan_t *plan,
                             const hmb_enrollment_t *enr,
                             const hmb_ytd_t *ytd, const char *id,
                             const hmb_decision_t **d)
{
    hmb_engine_input_t in;
    hmb_hmbinfo_ctx_t hc;

    memset(&in, 0, sizeof(in));
    in.tx = tx;
    in.plan = plan;
    in.enrollment = enr;
    in.ytd = ytd;
    in.resp = j->rs;
    in.fixmedins_code = j->rq ? j->rq->fixmedins_code : NULL;
    *d = hmb_engine_decide(j->p, &in);

    memset(&hc, 0, sizeof(hc));
    hc.hmb_setl_id = id;
    hc.setl_id = j->rs->setl_id;
    hc.mdtrt_id = j->rs->mdtrt_id;
    hc.fund_pay_type = j->ctx->fund_pay_type;
    hc.fund_pay_type_name = j->ctx->fund_pay_type_name;
    return apr_pstrcat(j->p, hmb_hmbinfo_fund_line(j->p, *d, &hc),
                       hmb_hmbinfo_render(j->p, *d, &hc), NULL);
}

static hmb_settle_result_t *hmb_presettle(hmb_job_t *j)
{
    const hmb_plan_t *plan;
    hmb_enrollment_t *enr;
    hmb_ytd_t *ytd = NULL;
    const hmb_decision_t *d;
    const char *err, *text;

    if ((err = hmb_pick_plan(j, &plan, &enr)) != NULL
        || (enr && (err = hmb_ledger_read_ytd(j->ctx->ledger, j->p, plan,
                                              j->rs->psn_no, &ytd)))) {
        return hmb_defer(j, err);
    }
    text = hmb_price(j, HMB_TX_PRESETTLE, plan, enr, ytd, NULL, &d);
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

/* One attempt at a settlement inside one transaction. *retry is set when
 * the insert lost a race with the same setl_id: read again, then. */
static hmb_settle_result_t *hmb_settle_once(hmb_job_t *j, int *retry)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const hmb_plan_t *plan;
    hmb_enrollment_t *enr;
    hmb_claim_t *existing;
    hmb_ytd_t *ytd = NULL;
    const hmb_decision_t *d;
    const char *err, *text, *id;

    *retry = 0;
    if ((err = hmb_ledger_begin(l, j->p)) != NULL) {
        return hmb_defer(j, err);
    }
    if ((err = hmb_pick_plan(j, &plan, &enr)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    /* lock first, so that a concurrent twin is seen once it commits */
    if (enr && (err = hmb_ledger_lock_person(l, j->p, plan->code, plan->year,
                                             j->rs->psn_no)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_ledger_find_claim(l, j->p, 'S', j->rs->setl_id,
                                     &existing)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (existing) {
        hmb_ledger_rollback(l, j->p);
        return hmb_duplicate(j, existing);
    }
    /* cancelled before it was ever settled (it waited in a spool) */
    if ((err = hmb_ledger_find_claim(l, j->p, 'R', j->rs->setl_id,
                                     &existing)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (existing) {
        hmb_decision_t *nd;
        const char *t = hmb_no_claim_text(j, "该结算已撤销，惠民保不予赔付",
                                          NULL, NULL, &nd);
        hmb_ledger_rollback(l, j->p);
        return hmb_emit(j, HMB_OUT_SPLICED, nd, t);
    }
    if (enr && (err = hmb_ledger_read_ytd(l, j->p, plan, j->rs->psn_no,
                                          &ytd)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    id = apr_pstrcat(j->p, "HMB-", j->rs->setl_id, NULL);
    text = hmb_price(j, HMB_TX_SETTLE, plan, enr, ytd, id, &d);
    if ((err = hmb_ledger_record_claim(l, j->p,
                                       hmb_claim_from(j, d, id, text)))
        != NULL) {
        hmb_ledger_rollback(l, j->p);
        *retry = 1;
        j->res->reason = err;
        return NULL;
    }
    if ((err = hmb_ledger_commit(l, j->p)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    j->res->hmb_setl_id = id;
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

static hmb_settle_result_t *hmb_settle(hmb_job_t *j)
{
    int retry, attempt;
    hmb_settle_result_t *res;

    for (attempt = 0; attempt < 2; attempt++) {
        res = hmb_settle_once(j, &retry);
        if (!retry) {
            return res;
        }
    }
    return hmb_defer(j, j->res->reason);
}

static hmb_settle_result_t *hmb_no_claim(hmb_job_t *j)
{
    hmb_decision_t *d;
    const char *text = hmb_no_claim_text(j, "原结算无惠民保赔付，无需冲回",
                                         j->rq->setl_id, NULL, &d);
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

/* A cancellation of a settlement the ledger has not seen: it may still
 * wait in a spool. A marker takes the reversal's place, so that the
 * settlement, when it is replayed, pays nothing. */
static hmb_settle_result_t *hmb_cancel_unsettled(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const char *orig = j->rq->setl_id;
    hmb_claim_t *marker, *c;
    hmb_decision_t *d;
    const char *err, *text, *id;

    if ((err = hmb_ledger_find_claim(l, j->p, 'R', orig, &marker)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (marker) {
        hmb_ledger_rollback(l, j->p);
        return hmb_duplicate(j, marker);
    }
    id = apr_pstrcat(j->p, "HMBR-", orig, NULL);
    text = hmb_no_claim_text(j, "原结算无惠民保赔付，无需冲回", orig, id, &d);
    c = apr_pcalloc(j->p, sizeof(*c));
    c->hmb_setl_id = id;
    c->kind = 'R';
    c->setl_id = orig;
    c->psn_no = j->rq->psn_no;
    c->mdtrt_id = j->rs->mdtrt_id;
    c->fixmedins_code = j->rq->fixmedins_code;
    c->msgid = j->rq->msgid;
    c->setl_time = j->rs->setl_time;
    c->plan_year = atoi(j->rs->setl_time);
    c->stas = hmb_stas_name(HMB_STAS_NO_CLAIM);
    c->hmbinfo = text;
    c->liabs = apr_array_make(j->p, 1, sizeof(hmb_claim_liab_t));
    c->insurers = apr_array_make(j->p, 1, sizeof(hmb_insurer_result_t));
    if ((err = hmb_ledger_record_claim(l, j->p, c)) != NULL) {
        /* most likely a twin of this cancellation got there first */
        hmb_ledger_rollback(l, j->p);
        if (hmb_ledger_find_claim(l, j->p, 'R', orig, &marker) == NULL
            && marker) {
            return hmb_duplicate(j, marker);
        }
        return hmb_defer(j, err);
    }
    if ((err = hmb_ledger_commit(l, j->p)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    j->res->hmb_setl_id = id;
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

static hmb_settle_result_t *hmb_cancel(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const char *orig = j->rq->setl_id;
    hmb_claim_t *claim, *again, *rev;
    apr_array_header_t *totals;
    hmb_decision_t *d;
    hmb_plan_t *shown;
    const hmb_plan_t *plan;
    hmb_hmbinfo_ctx_t hc;
    const char *err, *text;
    int i, k;

    if ((err = hmb_ledger_begin(l, j->p)) != NULL) {
        return hmb_defer(j, err);
    }
    if ((err = hmb_ledger_find_claim(l, j->p, 'S', orig, &claim)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (!claim) {
        return hmb_cancel_unsettled(j);
    }
    if (!claim->plan_code || claim->rea_code) {
        hmb_ledger_rollback(l, j->p);
        return hmb_no_claim(j);
    }
    if ((err = hmb_ledger_lock_person(l, j->p, claim->plan_code,
                                      claim->plan_year, claim->psn_no))
        || (err = hmb_ledger_find_claim(l, j->p, 'R', orig, &again))) {
        return hmb_ledger_failed(j, err);
    }
    if (again) {
        hmb_ledger_rollback(l, j->p);
        return hmb_duplicate(j, again);
    }
    if ((err = hmb_ledger_totals(l, j->p, claim->plan_code, claim->plan_year,
                                 claim->psn_no, &totals)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    /* the totals as they will be once this reversal is recorded */
    for (i = 0; i < totals->nelts; i++) {
        hmb_total_t *t = &APR_ARRAY_IDX(totals, i, hmb_total_t);
        for (k = 0; k < claim->liabs->nelts; k++) {
            const hmb_claim_liab_t *cl =
                &APR_ARRAY_IDX(claim->liabs, k, hmb_claim_liab_t);
            if (!strcmp(cl->liab_code, t->liab_code)) {
                t->elig_amt -= cl->elig_amt;
                t->paid_amt -= cl->pay_amt;
            }
        }
    }
    d = hmb_hmbinfo_reversal(j->p, claim, totals);
    plan = hmb_plan_find(j->ctx->plans, claim->plan_code, claim->plan_year);
    shown = apr_pcalloc(j->p, sizeof(*shown));
    shown->code = claim->plan_code;
    shown->year = claim->plan_year;
    shown->version = claim->plan_ver;
    shown->name = plan ? plan->name : "惠民保";
    d->plan = shown;
    d->psn_part_amt_aft = hmb_part_amt(j->rs) - d->hmb_pay;
    d->psn_cash_pay_aft = (j->rs->has_psn_cash_pay ? j->rs->psn_cash_pay
                                                   : hmb_part_amt(j->rs))
                          - d->hmb_pay;
    if (d->psn_cash_pay_aft < 0) {
        d->psn_cash_pay_aft = 0;
    }
    d->memo = apr_pstrcat(j->p, shown->name, "：撤销结算", orig, "，冲回赔付",
                          hmb_money_str(j->p, claim->hmb_pay), "元。", NULL);

    rev = apr_pcalloc(j->p, sizeof(*rev));
    *rev = *claim;
    rev->kind = 'R';
    rev->hmb_setl_id = apr_pstrcat(j->p, "HMBR-", orig, NULL);
    rev->reverses = claim->hmb_setl_id;
    rev->mdtrt_id = j->rs->mdtrt_id;
    rev->msgid = j->rq->msgid;
    rev->fixmedins_code = j->rq->fixmedins_code;
    rev->setl_time = j->rs->setl_time;
    rev->stas = hmb_stas_name(HMB_STAS_REVERSED);
    rev->hmb_pay = -claim->hmb_pay;
    rev->liabs = apr_array_make(j->p, claim->liabs->nelts,
                                sizeof(hmb_claim_liab_t));
    for (k = 0; k < claim->liabs->nelts; k++) {
        hmb_claim_liab_t *cl = apr_array_push(rev->liabs);
        *cl = APR_ARRAY_IDX(claim->liabs, k, hmb_claim_liab_t);
        cl->elig_amt = -cl->elig_amt;
        cl->dedc_amt = -cl->dedc_amt;
        cl->pay_amt = -cl->pay_amt;
    }
    rev->insurers = d->insurers;

    memset(&hc, 0, sizeof(hc));
    hc.hmb_setl_id = rev->hmb_setl_id;
    hc.setl_id = j->rs->setl_id;
    hc.mdtrt_id = j->rs->mdtrt_id;
    hc.orig_setl_id = orig;
    hc.orig_hmb_setl_id = claim->hmb_setl_id;
    hc.fund_pay_type = j->ctx->fund_pay_type;
    hc.fund_pay_type_name = j->ctx->fund_pay_type_name;
    text = apr_pstrcat(j->p, hmb_hmbinfo_fund_line(j->p, d, &hc),
                       hmb_hmbinfo_render(j->p, d, &hc), NULL);
    rev->hmbinfo = text;
    if ((err = hmb_ledger_record_claim(l, j->p, rev)) != NULL
        || (err = hmb_ledger_commit(l, j->p)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    j->res->hmb_setl_id = rev->hmb_setl_id;
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

hmb_settle_result_t *hmb_settle_message(apr_pool_t *p,
                                        const hmb_settle_ctx_t *ctx,
                                        const char *req, apr_size_t req_len,
                                        const char *resp, apr_size_t resp_len)
{
    hmb_job_t job, *j = &job;
    hmb_request_t *rq = NULL;
    hmb_response_t *rs = NULL;
    const char *err;

    memset(j, 0, sizeof(*j));
    j->p = p;
    j->ctx = ctx;
    j->resp = resp;
    j->resp_len = resp_len;
    j->res = apr_pcalloc(p, sizeof(hmb_settle_result_t));

    if (req) {
        if ((err = hmb_request_parse(p, req, req_len, &rq)) != NULL) {
            return hmb_pass(j, 1, apr_pstrcat(p, "request: ", err, NULL));
        }
        j->rq = rq;
        j->res->tx = rq->tx;
        j->res->fixmedins_code = rq->fixmedins_code;
        if (rq->tx == HMB_TX_NONE) {
            return hmb_pass(j, 0, apr_pstrcat(p, "infno ", rq->infno,
                                              " is not a settlement", NULL));
        }
    }
    if ((err = hmb_response_parse(p, resp, resp_len,
                                  rq && rq->tx == HMB_TX_CANCEL, &rs))
        != NULL) {
        return hmb_pass(j, 1, apr_pstrcat(p, "response: ", err, NULL));
    }
    j->rs = rs;
    if (!rs->actionable) {
        return hmb_pass(j, 0, rs->skip_reason);
    }
    if (ctx->strict
        && (err = hmb_message_validate(p, resp, resp_len)) != NULL) {
        return hmb_pass(j, 1, apr_pstrcat(p, "response: ", err, NULL));
    }
    if (!rq) {
        j->res->tx = rs->setl_id ? HMB_TX_SETTLE : HMB_TX_PRESETTLE;
    }
    j->res->setl_id = rs->setl_id;
    j->res->psn_no = rs->psn_no;
    if (j->res->tx == HMB_TX_SETTLE && !rs->setl_id) {
        return hmb_pass(j, 1, "response: settlement without setlinfo/setl_id");
    }
    if (!ctx->ledger) {
        return hmb_defer(j, "ledger unavailable");
    }
    switch (j->res->tx) {
    case HMB_TX_PRESETTLE:
        return hmb_presettle(j);
    case HMB_TX_CANCEL:
        return hmb_cancel(j);
    default:
        return hmb_settle(j);
    }
}
