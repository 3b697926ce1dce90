/* One message end to end. The filter and hmbctl both come through here,
 * so a payout computed by httpd and by the operator's tool is the same
 * code path, byte for byte. What is decided is the engine's; what is
 * written is the renderer's; this file only puts them in order around
 * one ledger transaction. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "hmb_settle.h"
#include "hmb_flags.h"
#include "hmb_rollup.h"
#include "hmb_util.h"
#include "hmb_hmbinfo.h"
#include "hmb_ledger_memo.h"
#include "hmb_ledger_wire.h"
#include "hmb_plan.h"

typedef struct hmb_job_t hmb_job_t;
struct hmb_job_t {
    apr_pool_t *p;
    const hmb_settle_ctx_t *ctx;
    const hmb_request_t *rq;
    const hmb_response_t *rs;
    hmb_settle_result_t *res;
    apr_array_header_t *cands;      /* hmb_cands(), once per message */
    /* hmb_grouped: what runs in the ledger's group, and its answer */
    hmb_settle_result_t *(*run)(hmb_job_t *j);
    hmb_memo_t *memo;               /* hmb_remember_write's */
    hmb_settle_result_t *out;
};

/* A decision's answer in both wire formats: what a repeat answers is kept
 * for either (docs/json.md). JSON's without the ',' before it. */
typedef struct {
    const char *xml;                /* fund line, then <hmbinfo> */
    const char *json;               /* "hmbinfo":{...} */
    const char *json_fund;          /* {...} for setldetail, or "" */
} hmb_text_t;

static hmb_settle_result_t *hmb_pass(hmb_job_t *j, int is_error,
                                     const char *reason)
{
    j->res->outcome = HMB_OUT_PASS;
    j->res->is_error = is_error;
    j->res->reason = reason;
    return j->res;
}

/* The text goes in before </output>, or in JSON as the last member of
 * "output" (the fund line as the last element of its "setldetail"). An
 * answer the platform signed keeps every byte unless the location says
 * otherwise. */
static hmb_settle_result_t *hmb_emit(hmb_job_t *j, hmb_outcome_e outcome,
                                     const hmb_decision_t *d,
                                     const hmb_text_t *t)
{
    hmb_settle_result_t *res = j->res;
    const hmb_response_t *rs = j->rs;

    res->outcome = outcome;
    res->decision = d;
    if (d) {
        res->stas = d->stas;
        res->rea = d->rea;
        res->hmb_pay = d->hmb_pay;
    }
    res->splice_at = rs->splice_at;
    if (rs->wire == HMB_WIRE_JSON) {
        res->insert = apr_pstrcat(j->p, rs->splice_comma ? "," : "",
                                  t->json, NULL);
        if (*t->json_fund && rs->fund_at >= 0) {
            res->fund_insert = apr_pstrcat(j->p, rs->fund_comma ? "," : "",
                                           t->json_fund, NULL);
            res->fund_at = (apr_size_t)rs->fund_at;
        }
    }
    else {
        res->insert = t->xml;
    }
    if (rs->is_signed && !j->ctx->signed_rewrite) {
        res->withheld = 1;
        res->insert = NULL;
        res->fund_insert = NULL;
    }
    return res;
}

/* What goes in for a decision: the fund line when configured, then
 * hmbinfo. */
static const hmb_text_t *hmb_render(hmb_job_t *j, const hmb_decision_t *d,
                                    const char *hmb_setl_id,
                                    const char *orig_setl_id,
                                    const char *orig_hmb_setl_id)
{
    hmb_hmbinfo_ctx_t hc;
    hmb_text_t *t = apr_palloc(j->p, sizeof(*t));
    int json;

    memset(&hc, 0, sizeof(hc));
    hc.hmb_setl_id = hmb_setl_id;
    hc.setl_id = j->rs->setl_id;
    hc.mdtrt_id = j->rs->mdtrt_id;
    hc.orig_setl_id = orig_setl_id;
    hc.orig_hmb_setl_id = orig_hmb_setl_id;
    hc.fund_pay_type = j->ctx->fund_pay_type;
    hc.fund_pay_type_name = j->ctx->fund_pay_type_name;
    /* a claim's answer is kept in both formats (its repeat may come in
     * either); one that is not recorded is needed in its own only */
    json = j->rs->wire == HMB_WIRE_JSON;
    t->xml = t->json = t->json_fund = "";
    if (hmb_setl_id || !json) {
        t->xml = apr_pstrcat(j->p, hmb_hmbinfo_fund_line(j->p, d, &hc),
                             hmb_hmbinfo_render(j->p, d, &hc), NULL);
    }
    if (hmb_setl_id || json) {
        t->json = hmb_hmbinfo_render_json(j->p, d, &hc, 0);
        t->json_fund = hmb_hmbinfo_fund_line_json(j->p, d, &hc, 0);
    }
    return t;
}

/* A claim and its JSON answer, in the open transaction. */
static const char *hmb_record(hmb_job_t *j, const hmb_claim_t *c,
                              const hmb_text_t *t)
{
    const char *err = hmb_ledger_record_claim(j->ctx->ledger, j->p, c);

    return err ? err : hmb_ledger_wire_record(j->ctx->ledger, j->p,
                                              c->hmb_setl_id, t->json,
                                              t->json_fund);
}

/* A decision that pays or reverses nothing, shown as it is. */
static hmb_settle_result_t *hmb_refuse(hmb_job_t *j, hmb_stas_e stas,
                                       hmb_rea_e rea,
                                       const char *orig_setl_id,
                                       const char *ref)
{
    hmb_decision_t *d = hmb_engine_refuse(j->p, stas, rea, NULL, j->rs,
                                          ref);

    return hmb_emit(j, HMB_OUT_SPLICED, d,
                    hmb_render(j, d, NULL, orig_setl_id, NULL));
}

/* Nothing could be computed now: say so, pay nothing, keep the base. */
static hmb_settle_result_t *hmb_defer(hmb_job_t *j, const char *reason)
{
    hmb_decision_t *d = hmb_engine_refuse(j->p, HMB_STAS_DEFERRED,
                                          HMB_REA_LEDGER_UNAVAILABLE, NULL,
                                          j->rs, NULL);
    const char *orig = j->res->tx == HMB_TX_CANCEL ? j->rq->setl_id : NULL;

    j->res->reason = reason;
    j->res->hmb_setl_id = NULL;
    return hmb_emit(j, HMB_OUT_DEFERRED, d,
                    hmb_render(j, d, NULL, orig, NULL));
}

/* The ledger gave up: later is fine when it was unavailable; when what
 * it held made no sense, spooling would only meet the same thing again. */
static hmb_settle_result_t *hmb_ledger_failed(hmb_job_t *j, const char *err)
{
    hmb_ledger_t *l = j->ctx->ledger;

    hmb_ledger_rollback(l, j->p);
    if (hmb_ledger_error_transient(l)) {
        return hmb_defer(j, err);
    }
    j->res->outcome = HMB_OUT_FAILED;
    j->res->reason = err;
    return j->res;
}

/* The end of a settlement's transaction: a dry run (hmbctl settle
 * --dry-run) decides and renders everything and keeps nothing. */
static const char *hmb_commit(hmb_job_t *j)
{
    if (j->ctx->dry_run) {
        hmb_ledger_rollback(j->ctx->ledger, j->p);
        return NULL;
    }
    return hmb_ledger_commit(j->ctx->ledger, j->p);
}

/* The plans whose period contains the settlement date. */
static apr_array_header_t *hmb_cands(hmb_job_t *j)
{
    char date[11];

    if (!j->cands) {
        apr_cpystrn(date, j->rs->setl_time, sizeof(date));
        j->cands = hmb_plan_candidates(j->p, j->ctx->plans, date);
    }
    return j->cands;
}

/* The person's enrollments in those plans, asked for ahead of
 * hmb_pick_plan, so that they come with the first read
 * (hmb_ledger_prefetch_enrollment); with_totals: their totals too, for a
 * pre-settlement, which takes no lock. A settlement reads its totals only
 * under the person's lock (hmb_ledger_prefetch_settle). */
static const char *hmb_ask_enrollments(hmb_job_t *j, int with_totals)
{
    apr_array_header_t *cands = hmb_cands(j);
    const char *err;
    int i;

    for (i = 0; j->rs->psn_no && i < cands->nelts; i++) {
        const hmb_plan_t *cand = APR_ARRAY_IDX(cands, i, const hmb_plan_t *);

        if ((err = hmb_ledger_prefetch_enrollment(j->ctx->ledger, j->p,
                                                  cand->code, cand->year,
                                                  j->rs->psn_no))
            || (with_totals
                && (err = hmb_ledger_prefetch_totals(j->ctx->ledger, j->p,
                                                     cand->code, cand->year,
                                                     j->rs->psn_no)))) {
            return err;
        }
    }
    return NULL;
}

/* The plan the person is enrolled in among those whose period contains
 * the settlement date; the first candidate when enrolled in none. */
static const char *hmb_pick_plan(hmb_job_t *j, const hmb_plan_t **plan,
                                 hmb_enrollment_t **enr)
{
    apr_array_header_t *cands;
    int i;

    *plan = NULL;
    *enr = NULL;
    cands = hmb_cands(j);
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

/* The claim that records decision d as the ledger keeps it. */
static hmb_claim_t *hmb_claim_of(hmb_job_t *j, const hmb_decision_t *d,
                                 char kind, const char *hmb_setl_id,
                                 const char *setl_id, const char *psn_no,
                                 const char *text)
{
    hmb_claim_t *c = apr_pcalloc(j->p, sizeof(*c));
    int i;

    c->hmb_setl_id = hmb_setl_id;
    c->kind = kind;
    c->setl_id = setl_id;
    c->psn_no = psn_no;
    c->mdtrt_id = j->rs->mdtrt_id;
    c->fixmedins_code = j->rq ? j->rq->fixmedins_code : NULL;
    c->msgid = j->rq ? j->rq->msgid : NULL;
    c->setl_time = j->rs->setl_time;
    c->plan_code = d->plan_code;
    c->plan_year = d->plan_code ? d->plan_year : atoi(j->rs->setl_time);
    c->plan_ver = d->plan_code ? d->plan_ver : 0;
    c->stas = d->stas;
    c->rea = d->rea;
    c->hmb_pay = d->hmb_pay;
    c->hmbinfo = text;
    /* a signed answer went untouched: what it pays is owed by the
     * insurer, as after a replay (hmbctl owed, the rollups) */
    c->origin = j->ctx->origin ? j->ctx->origin
              : j->rs->is_signed && !j->ctx->signed_rewrite ? "signed"
              : "desk";
    c->liabs = apr_array_make(j->p, d->liabs->nelts + 1,
                              sizeof(hmb_claim_liab_t));
    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r = &APR_ARRAY_IDX(d->liabs, i,
                                                    hmb_liab_result_t);
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

/* What the insurer's views keep with a new claim: the county of the
 * enrollment, and the supervision flags of the plan's thresholds (read
 * under the person's lock, so that concurrent visits are counted in
 * order). */
static const char *hmb_settle_tag(hmb_job_t *j, const hmb_plan_t *plan,
                                  const hmb_enrollment_t *enr,
                                  const hmb_decision_t *d, hmb_claim_t *c)
{
    apr_array_header_t *visits = NULL;
    const char *err;
    int back;

    c->admdvs = enr ? enr->admdvs : NULL;
    if (!plan || !c->psn_no) {
        return NULL;
    }
    back = hmb_flags_lookback_days(&plan->sup);
    if (back && j->rs->setl_time && hmb_date_valid(apr_pstrndup(
                                           j->p, j->rs->setl_time, 10))) {
        const char *day = apr_pstrndup(j->p, j->rs->setl_time, 10);

        if ((err = hmb_rollup_visits(j->ctx->ledger, j->p, c->psn_no,
                                     hmb_rollup_day_add(j->p, day, -back),
                                     j->rs->setl_time, &visits))) {
            return err;
        }
    }
    c->flags = hmb_flags_of(j->p, &plan->sup, j->rs, c->fixmedins_code,
                            c->admdvs, c->hmb_pay, visits);
    return NULL;
}

/* DOMAIN.md, "Identity and conflicts": a repeat is the same settlement
 * only with the same person and visit. */
static int hmb_same_settlement(const hmb_claim_t *c,
                               const hmb_response_t *rs)
{
    if (!c->psn_no || !rs->psn_no || strcmp(c->psn_no, rs->psn_no)) {
        return 0;
    }
    return !c->mdtrt_id || !rs->mdtrt_id || !strcmp(c->mdtrt_id,
                                                     rs->mdtrt_id);
}

/* A cancellation may take back only the canceller's own claim (and, where
 * both are known, one made at the same institution). */
static int hmb_cancel_matches(const hmb_job_t *j, const hmb_claim_t *c)
{
    if (!c->psn_no || !j->rq->psn_no || strcmp(c->psn_no, j->rq->psn_no)) {
        return 0;
    }
    return !c->fixmedins_code || !j->rq->fixmedins_code
           || !strcmp(c->fixmedins_code, j->rq->fixmedins_code);
}

static hmb_settle_result_t *hmb_mismatch(hmb_job_t *j, const hmb_claim_t *c)
{
    hmb_ledger_rollback(j->ctx->ledger, j->p);
    j->res->reason = apr_psprintf(j->p, "the cancellation of %s names "
                                  "another person or institution than its "
                                  "claim %s", j->rq->setl_id,
                                  c->hmb_setl_id);
    return hmb_refuse(j, HMB_STAS_NO_CLAIM, HMB_REA_CANCEL_MISMATCH,
                      j->rq->setl_id, NULL);
}

/* The stored answer, as the desk was first told it, in the format it
 * asks in now. */
static hmb_settle_result_t *hmb_duplicate(hmb_job_t *j, const hmb_claim_t *c)
{
    hmb_settle_result_t *res = j->res;
    hmb_text_t t;
    const char *err;

    res->duplicate = 1;
    res->hmb_setl_id = c->hmb_setl_id;
    t.xml = c->hmbinfo;
    t.json = t.json_fund = "";
    if (j->rs->wire == HMB_WIRE_JSON) {
        if ((err = hmb_ledger_wire_find(j->ctx->ledger, j->p,
                                        c->hmb_setl_id, &t.json,
                                        &t.json_fund))) {
            return hmb_ledger_failed(j, err);
        }
        if (!t.json) {
            return hmb_pass(j, 1, apr_pstrcat(j->p, "a repeat of ",
                                              c->hmb_setl_id, ", recorded "
                                              "before its JSON answer was "
                                              "kept", NULL));
        }
    }
    hmb_emit(j, HMB_OUT_SPLICED, NULL, &t);
    res->stas = c->stas;
    res->rea = c->rea;
    res->hmb_pay = c->hmb_pay;
    return res;
}

static const hmb_decision_t *hmb_decide(hmb_job_t *j, hmb_tx_e tx,
                                        const hmb_plan_t *plan,
                                        const hmb_enrollment_t *enr,
                                        const hmb_ytd_t *ytd)
{
    hmb_engine_input_t in;

    memset(&in, 0, sizeof(in));
    in.tx = tx;
    in.plan = plan;
    in.enrollment = enr;
    in.ytd = ytd;
    in.resp = j->rs;
    in.fixmedins_code = j->rq ? j->rq->fixmedins_code : NULL;
    in.plans_until = hmb_plan_set_until(j->ctx->plans);
    /* a signed answer passes untouched: the desk cannot pay the payout */
    in.undelivered = j->rs->is_signed && !j->ctx->signed_rewrite;
    return hmb_engine_decide(j->p, &in);
}

/* The settlement server answered for someone other than the desk asked
 * about: neither person's ledger can be trusted with a new decision. */
static int hmb_people_differ(const hmb_job_t *j)
{
    return j->rq && j->rq->psn_no && j->rs->psn_no
           && strcmp(j->rq->psn_no, j->rs->psn_no);
}

#define HMB_PEOPLE_DIFFER "request and response name different people " \
                          "(psn_no)"

/* docs/memo.md: a settlement without fee detail or status of its own
 * (the national platform's 2304 carries neither) uses what the visit's
 * 2301 uploads and the person's 1101 said, when the ledger remembers
 * them. The message's own always wins. */
static const char *hmb_recall(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const hmb_response_t *rs = j->rs;
    hmb_response_t *got;
    apr_array_header_t *fees = NULL;
    const char *mdtrt_id, *err;
    int stas = -1, foreign = 0;

    mdtrt_id = rs->mdtrt_id ? rs->mdtrt_id : j->rq ? j->rq->mdtrt_id : NULL;
    if (!rs->has_fee_detail && mdtrt_id
        && (err = hmb_ledger_memo_fees(l, j->p, mdtrt_id, rs->psn_no,
                                       j->rq ? j->rq->fixmedins_code : NULL,
                                       j->ctx->memo_keep_days, &fees,
                                       &foreign))) {
        return err;
    }
    if (fees && fees->nelts && hmb_fees_check_sum(j->p, fees)) {
        /* as a message with such lines would be: not read */
        fees = NULL;
    }
    if (rs->psn_insu_stas < 0 && rs->psn_no
        && (err = hmb_ledger_memo_status(l, j->p, rs->psn_no, rs->insutype,
                                         j->ctx->memo_keep_days, &stas))) {
        return err;
    }
    if ((!fees || !fees->nelts) && stas < 0) {
        return NULL;
    }
    got = apr_pmemdup(j->p, rs, sizeof(*rs));
    if (fees && fees->nelts) {
        got->fees = fees;
        got->has_fee_detail = 1;
        got->fees_from = "2301";
    }
    if (stas >= 0) {
        got->psn_insu_stas = stas;
        got->stas_from = "1101";
    }
    j->rs = got;
    return NULL;
}

static hmb_settle_result_t *hmb_presettle(hmb_job_t *j)
{
    const hmb_plan_t *plan;
    hmb_enrollment_t *enr;
    hmb_ytd_t *ytd = NULL;
    const hmb_decision_t *d;
    const char *err;

    if (hmb_people_differ(j)) {
        return hmb_pass(j, 1, HMB_PEOPLE_DIFFER);
    }
    if ((err = hmb_ask_enrollments(j, 1)) != NULL
        || (err = hmb_recall(j)) != NULL
        || (err = hmb_pick_plan(j, &plan, &enr)) != NULL
        || (enr && (err = hmb_ledger_read_ytd(j->ctx->ledger, j->p, plan,
                                              j->rs->psn_no, &ytd)))) {
        return hmb_ledger_failed(j, err);
    }
    d = hmb_decide(j, HMB_TX_PRESETTLE, plan, enr, ytd);
    return hmb_emit(j, HMB_OUT_SPLICED, d, hmb_render(j, d, NULL, NULL,
                                                      NULL));
}

/* One attempt at a settlement inside one transaction. *retry is set when
 * the insert lost a race with the same setl_id: read again, then. */
static hmb_settle_result_t *hmb_settle_once(hmb_job_t *j, int *retry)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const hmb_plan_t *plan;
    hmb_enrollment_t *enr;
    hmb_claim_t *existing, *reversal, *claim;
    hmb_ytd_t *ytd = NULL;
    const hmb_decision_t *d;
    const hmb_text_t *text;
    const char *err, *id;

    *retry = 0;
    if ((err = hmb_ledger_begin(l, j->p)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_ask_enrollments(j, 0)) != NULL
        || (err = hmb_recall(j)) != NULL
        || (err = hmb_pick_plan(j, &plan, &enr)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    /* lock first, so that a concurrent twin is seen once it commits; what
     * is read next is asked for with the lock, read after it is held */
    if (enr && (err = hmb_ledger_lock_person(l, j->p, plan->code, plan->year,
                                             j->rs->psn_no)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_ledger_prefetch_settle(l, j->p, enr ? plan->code : NULL,
                                          enr ? plan->year : 0,
                                          j->rs->psn_no, j->rs->setl_id))) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_ledger_find_claim(l, j->p, 'S', j->rs->setl_id,
                                     &existing)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    /* reversed, or cancelled by this person while nothing was paid (the
     * settlement refused, or still in a spool): a marker */
    if ((err = hmb_ledger_find_claim(l, j->p, 'R', j->rs->setl_id,
                                     &reversal)) != NULL
        || (!reversal
            && (err = hmb_ledger_find_marker(l, j->p, j->rs->setl_id,
                                             j->rs->psn_no, &reversal)))) {
        return hmb_ledger_failed(j, err);
    }
    if (existing && !hmb_same_settlement(existing, j->rs)) {
        /* another person's or another visit's settlement under this
         * setl_id: neither its answer nor a payout for this one */
        hmb_ledger_rollback(l, j->p);
        j->res->reason = apr_psprintf(j->p, "setl_id %s is recorded for "
                                      "another person or visit (%s)",
                                      j->rs->setl_id, existing->hmb_setl_id);
        return hmb_refuse(j, HMB_STAS_NO_CLAIM, HMB_REA_SETL_ID_CONFLICT,
                          NULL, NULL);
    }
    if (existing && !reversal) {
        hmb_ledger_rollback(l, j->p);
        return hmb_duplicate(j, existing);
    }
    if (reversal) {
        /* Reversed, or cancelled before it was ever settled (it waited in
         * a spool): the stored payout no longer stands, and a repeat must
         * not show it. A repeat is counted as one, not as a decision. */
        hmb_ledger_rollback(l, j->p);
        j->res->duplicate = existing != NULL;
        j->res->hmb_setl_id = reversal->hmb_setl_id;
        return hmb_refuse(j, HMB_STAS_NO_CLAIM, HMB_REA_SETTLEMENT_REVERSED,
                          NULL, apr_pstrcat(j->p, "撤销流水号",
                                            reversal->hmb_setl_id, NULL));
    }
    /* after the identity checks, which have answers of their own */
    if (hmb_people_differ(j)) {
        hmb_ledger_rollback(l, j->p);
        return hmb_pass(j, 1, HMB_PEOPLE_DIFFER);
    }
    if (enr && (err = hmb_ledger_read_ytd(l, j->p, plan, j->rs->psn_no,
                                          &ytd)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    d = hmb_decide(j, HMB_TX_SETTLE, plan, enr, ytd);
    if (d->stas == HMB_STAS_DEFERRED && d->rea == HMB_REA_NO_PLAN) {
        /* no plan loaded for its date yet: nothing recorded, spooled, and
         * settled by a replay once the plan is there */
        hmb_ledger_rollback(l, j->p);
        j->res->reason = apr_psprintf(j->p, "no plan loaded covers %.10s "
                                      "(plans end %s)", j->rs->setl_time,
                                      hmb_plan_set_until(j->ctx->plans)
                                      ? hmb_plan_set_until(j->ctx->plans)
                                      : "-");
        return hmb_emit(j, HMB_OUT_DEFERRED, d,
                        hmb_render(j, d, NULL, NULL, NULL));
    }
    id = apr_pstrcat(j->p, "HMB-", j->rs->setl_id, NULL);
    text = hmb_render(j, d, id, NULL, NULL);
    claim = hmb_claim_of(j, d, 'S', id, j->rs->setl_id, j->rs->psn_no,
                         text->xml);
    /* what a correction needs to decide it again */
    claim->msg = hmb_response_pack(j->p, j->rs);
    if ((err = hmb_settle_tag(j, plan, enr, d, claim)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_record(j, claim, text)) != NULL) {
        hmb_ledger_rollback(l, j->p);
        *retry = 1;
        j->res->reason = err;
        return NULL;
    }
    if ((err = hmb_commit(j)) != NULL) {
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

/* A cancellation of a settlement that paid nothing, or that the ledger
 * has not seen (it may still wait in a spool). A marker takes the
 * reversal's place, so that the settlement, replayed or corrected later,
 * pays nothing. */
static hmb_settle_result_t *hmb_cancel_unsettled(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const char *orig = j->rq->setl_id;
    hmb_claim_t *marker;
    hmb_decision_t *d;
    const hmb_text_t *text;
    const char *err, *id;

    if ((err = hmb_ledger_find_marker(l, j->p, orig, j->rq->psn_no,
                                      &marker)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (marker) {
        hmb_ledger_rollback(l, j->p);
        return hmb_duplicate(j, marker);
    }
    /* one marker per settlement and person; the person is in the id as a
     * digest only, since ids reach logs */
    id = apr_psprintf(j->p, "HMBM-%s-%08x", orig,
                      hmb_digest32(j->rq->psn_no));
    d = hmb_engine_refuse(j->p, HMB_STAS_NO_CLAIM,
                          HMB_REA_UNKNOWN_SETTLEMENT, NULL, j->rs, NULL);
    text = hmb_render(j, d, id, orig, NULL);
    err = hmb_record(j, hmb_claim_of(j, d, 'M', id, orig, j->rq->psn_no,
                                     text->xml), text);
    if (err) {
        /* most likely a twin of this cancellation got there first */
        hmb_ledger_rollback(l, j->p);
        if (hmb_ledger_find_marker(l, j->p, orig, j->rq->psn_no,
                                   &marker) == NULL && marker) {
            return hmb_duplicate(j, marker);
        }
        return hmb_defer(j, err);
    }
    if ((err = hmb_commit(j)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    j->res->hmb_setl_id = id;
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

static hmb_settle_result_t *hmb_cancel(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const char *orig = j->rq->setl_id;
    hmb_claim_t *claim, *again;
    apr_array_header_t *totals;
    hmb_engine_reversal_t in;
    const hmb_plan_t *plan;
    hmb_decision_t *d;
    const hmb_text_t *text;
    const char *err, *id;

    if ((err = hmb_ledger_begin(l, j->p)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if ((err = hmb_ledger_find_claim(l, j->p, 'S', orig, &claim)) != NULL) {
        return hmb_ledger_failed(j, err);
    }
    if (!claim) {
        return hmb_cancel_unsettled(j);
    }
    if (!hmb_cancel_matches(j, claim)) {
        return hmb_mismatch(j, claim);
    }
    if (!claim->plan_code
        || (claim->rea != HMB_REA_NONE
            && claim->rea != HMB_REA_SIGNED_RESPONSE)) {
        /* refused at the desk; what a correction paid since is what a
         * cancellation takes back */
        hmb_claim_t *fix;

        if ((err = hmb_ledger_find_claim(l, j->p, 'C', orig, &fix))
            != NULL) {
            return hmb_ledger_failed(j, err);
        }
        if (!fix) {
            /* nothing paid to take back, but the cancellation is kept: a
             * repeat of the settlement, or a correction, must not pay it */
            return hmb_cancel_unsettled(j);
        }
        claim = fix;
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
    plan = hmb_plan_find(j->ctx->plans, claim->plan_code, claim->plan_year);
    memset(&in, 0, sizeof(in));
    in.claim = claim;
    in.totals = totals;
    in.plan_name = plan ? plan->name : NULL;
    in.resp = j->rs;
    d = hmb_engine_reverse(j->p, &in);
    id = apr_pstrcat(j->p, "HMBR-", orig, NULL);
    text = hmb_render(j, d, id, orig, claim->hmb_setl_id);
    {
        hmb_claim_t *rev = hmb_claim_of(j, d, 'R', id, orig, claim->psn_no,
                                        text->xml);
        rev->reverses = claim->hmb_setl_id;
        if ((err = hmb_record(j, rev, text)) != NULL
            || (err = hmb_commit(j)) != NULL) {
            return hmb_ledger_failed(j, err);
        }
    }
    j->res->hmb_setl_id = id;
    return hmb_emit(j, HMB_OUT_SPLICED, d, text);
}

const char *hmb_settle_redecide(apr_pool_t *p, const hmb_settle_ctx_t *ctx,
                                const char *setl_id, const char *who,
                                const char *why, int dry_run,
                                hmb_redecide_t **out)
{
    hmb_ledger_t *l = ctx->ledger;
    hmb_redecide_t *r = apr_pcalloc(p, sizeof(*r));
    hmb_claim_t *orig, *other, *fix;
    hmb_request_t *rq = apr_pcalloc(p, sizeof(*rq));
    hmb_response_t *rs;
    const hmb_plan_t *plan;
    hmb_enrollment_t *enr;
    hmb_ytd_t *ytd = NULL;
    const hmb_decision_t *d;
    hmb_job_t job, *j = &job;
    const hmb_text_t *text;
    const char *err;

    *out = r;
    r->setl_id = setl_id;
    memset(j, 0, sizeof(*j));
    j->p = p;
    j->ctx = ctx;
    j->res = apr_pcalloc(p, sizeof(hmb_settle_result_t));
    if ((err = hmb_ledger_begin(l, p))
        || (err = hmb_ledger_find_claim(l, p, 'S', setl_id, &orig))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    if (!orig) {
        r->what = "no settlement with this setl_id";
    }
    else if (orig->stas != HMB_STAS_INELIGIBLE) {
        r->what = apr_pstrcat(p, "not ineligible (", hmb_stas_name(orig->stas),
                              "): nothing to correct", NULL);
    }
    else if ((err = hmb_ledger_find_claim(l, p, 'C', setl_id, &other))
             || (!other && (err = hmb_ledger_find_claim(l, p, 'R', setl_id,
                                                        &fix)))
             || (!other && !fix
                 && (err = hmb_ledger_find_marker(l, p, setl_id,
                                                  orig->psn_no, &fix)))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    else if (other) {
        r->what = apr_pstrcat(p, "corrected already by ", other->hmb_setl_id,
                              NULL);
    }
    else if (fix) {
        r->what = apr_pstrcat(p, "cancelled (", fix->hmb_setl_id,
                              "): nothing to correct", NULL);
    }
    else if ((err = hmb_response_unpack(p, orig->msg, &rs))) {
        r->what = apr_pstrcat(p, "cannot decide again: ", err, NULL);
    }
    if (r->what) {
        hmb_ledger_rollback(l, p);
        return NULL;
    }
    rq->fixmedins_code = orig->fixmedins_code;
    rq->msgid = orig->msgid;
    rq->tx = HMB_TX_SETTLE;
    j->rq = rq;
    j->rs = rs;
    if ((err = hmb_pick_plan(j, &plan, &enr))
        || (enr && (err = hmb_ledger_lock_person(l, p, plan->code, plan->year,
                                                 rs->psn_no)))
        || (enr && (err = hmb_ledger_read_ytd(l, p, plan, rs->psn_no,
                                              &ytd)))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    r->decision = d = hmb_decide(j, HMB_TX_SETTLE, plan, enr, ytd);
    if (d->stas != HMB_STAS_PAID) {
        hmb_ledger_rollback(l, p);
        r->what = apr_pstrcat(p, "still ", hmb_stas_name(d->stas), " (",
                              hmb_rea_name(d->rea), ")", NULL);
        return NULL;
    }
    r->hmb_setl_id = apr_pstrcat(p, "HMBC-", setl_id, NULL);
    text = hmb_render(j, d, r->hmb_setl_id, setl_id, orig->hmb_setl_id);
    fix = hmb_claim_of(j, d, 'C', r->hmb_setl_id, setl_id, rs->psn_no,
                       text->xml);
    fix->reverses = orig->hmb_setl_id;
    fix->origin = "redecide";
    fix->msg = orig->msg;
    fix->decided_by = who;
    fix->why = why;
    if ((err = hmb_settle_tag(j, plan, enr, d, fix))
        || (err = hmb_record(j, fix, text))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    if (dry_run) {
        hmb_ledger_rollback(l, p);
    }
    else if ((err = hmb_ledger_commit(l, p))) {
        return err;
    }
    r->corrected = 1;
    r->what = apr_pstrcat(p, dry_run ? "would pay " : "paid ",
                          hmb_money_str(p, d->hmb_pay), NULL);
    return NULL;
}

static void hmb_group_fn(void *arg)
{
    hmb_job_t *j = arg;

    j->out = j->run(j);
}

static hmb_settle_result_t *hmb_unremembered(hmb_job_t *j, const char *err)
{
    j->res->memo = j->rq->memo;
    return hmb_pass(j, 1, apr_pstrcat(j->p, hmb_memo_name(j->rq->memo),
                                      " not remembered: ", err, NULL));
}

/* What records in the ledger: under httpd with an SQLite ledger, run in
 * the child's group (hmb_ledger_group_run), back once what it recorded
 * is on disk; if the group's COMMIT failed instead, none of it is, and
 * the answer is the failure's. */
static hmb_settle_result_t *hmb_grouped(hmb_job_t *j,
                                        hmb_settle_result_t *(*run)(
                                            hmb_job_t *j))
{
    hmb_settle_result_t before = *j->res;
    const char *err;
    int ran;

    j->run = run;
    err = hmb_ledger_group_run(j->ctx->ledger, j->p, hmb_group_fn, j, &ran);
    if (!err) {
        return ran ? j->out : run(j);
    }
    *j->res = before;
    return j->rq && j->rq->memo != HMB_MEMO_NONE ? hmb_unremembered(j, err)
                                                 : hmb_ledger_failed(j, err);
}

static hmb_settle_result_t *hmb_remember_write(hmb_job_t *j)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const hmb_request_t *rq = j->rq;
    const char *err;
    int rows = 0;

    if ((err = hmb_ledger_begin(l, j->p))
        || (err = hmb_ledger_memo_record(l, j->p, j->memo,
                                         rq->fixmedins_code, rq->msgid,
                                         j->ctx->memo_keep_days, &rows))
        || (err = hmb_ledger_commit(l, j->p))) {
        hmb_ledger_rollback(l, j->p);
        return hmb_unremembered(j, err);
    }
    j->res->memo_rows = rows;
    return hmb_pass(j, 0, apr_psprintf(j->p, "%s remembered (%d rows)",
                                       hmb_memo_name(rq->memo), rows));
}

/* A 2301, 2302 or 1101 answer: remembered in a transaction of its own
 * (under httpd on SQLite, a savepoint of the child's group); the answer
 * always passes untouched. */
static hmb_settle_result_t *hmb_remember(hmb_job_t *j, hmb_msg_reader_t *resp)
{
    hmb_ledger_t *l = j->ctx->ledger;
    const hmb_request_t *rq = j->rq;
    hmb_memo_t *m;
    const char *err;

    j->res->memo = rq->memo;
    if ((int)hmb_msg_reader_kind(resp) != hmb_msg_answer_kind(rq)) {
        return hmb_pass(j, 1, apr_pstrcat(j->p, "the answer to infno ",
                                          rq->infno, " was read as another "
                                          "transaction's", NULL));
    }
    if ((err = hmb_memo_finish(resp, rq, &m))) {
        return hmb_pass(j, 1, apr_pstrcat(j->p, "response: ", err, NULL));
    }
    j->res->psn_no = m->psn_no ? m->psn_no : rq->psn_no;
    if (!m->actionable) {
        return hmb_pass(j, 0, apr_pstrcat(j->p, hmb_memo_name(rq->memo),
                                          " not remembered: ",
                                          m->skip_reason, NULL));
    }
    if (!l || j->ctx->dry_run) {
        return hmb_pass(j, !l, apr_pstrcat(j->p, hmb_memo_name(rq->memo),
                                           " not remembered: ",
                                           l ? "dry run"
                                             : "ledger unavailable", NULL));
    }
    j->memo = m;
    return hmb_grouped(j, hmb_remember_write);
}

hmb_msg_reader_t *hmb_settle_reader(apr_pool_t *p, const char *req,
                                    apr_size_t req_len,
                                    const char *req_charset,
                                    const char *resp_charset)
{
    hmb_request_t *rq = NULL;
    int kind = HMB_MSG_RESPONSE;

    if (req && !hmb_request_parse_wire(p, req, req_len, HMB_WIRE_SNIFF,
                                       req_charset, &rq)) {
        kind = hmb_msg_answer_kind(rq);
        if (kind < 0) {
            kind = HMB_MSG_RESPONSE;
        }
    }
    return hmb_msg_reader_wire(p, (hmb_msg_kind_e)kind, HMB_WIRE_SNIFF,
                               resp_charset);
}

hmb_settle_result_t *hmb_settle_read(apr_pool_t *p,
                                     const hmb_settle_ctx_t *ctx,
                                     const char *req, apr_size_t req_len,
                                     hmb_msg_reader_t *resp,
                                     const char *resp_bytes,
                                     apr_size_t resp_len)
{
    hmb_job_t job, *j = &job;
    hmb_request_t *rq = NULL;
    hmb_response_t *rs = NULL;
    const char *err;

    memset(j, 0, sizeof(*j));
    j->p = p;
    j->ctx = ctx;
    j->res = apr_pcalloc(p, sizeof(hmb_settle_result_t));

    if (req) {
        if ((err = hmb_request_parse_wire(p, req, req_len, HMB_WIRE_SNIFF,
                                          ctx->req_charset, &rq)) != NULL) {
            return hmb_pass(j, 1, apr_pstrcat(p, "request: ", err, NULL));
        }
        j->rq = rq;
        j->res->tx = rq->tx;
        j->res->fixmedins_code = rq->fixmedins_code;
        if (rq->memo != HMB_MEMO_NONE) {
            return hmb_remember(j, resp);
        }
        if (rq->tx == HMB_TX_NONE) {
            return hmb_pass(j, 0, apr_pstrcat(p, "infno ", rq->infno,
                                              " is not a settlement", NULL));
        }
    }
    if ((err = hmb_response_finish(resp, rq && rq->tx == HMB_TX_CANCEL,
                                   &rs)) != NULL) {
        j->res->forged = hmb_msg_forged(resp);
        return hmb_pass(j, 1, apr_pstrcat(p, "response: ", err, NULL));
    }
    j->rs = rs;
    if (!rs->actionable) {
        return hmb_pass(j, 0, rs->skip_reason);
    }
    if (ctx->schema && resp_bytes
        && (err = hmb_message_validate(p, ctx->schema, resp_bytes,
                                       resp_len)) != NULL) {
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
        return hmb_grouped(j, hmb_cancel);
    default:
        return hmb_grouped(j, hmb_settle);
    }
}

hmb_settle_result_t *hmb_settle_message(apr_pool_t *p,
                                        const hmb_settle_ctx_t *ctx,
                                        const char *req, apr_size_t req_len,
                                        const char *resp, apr_size_t resp_len)
{
    hmb_msg_reader_t *r = hmb_settle_reader(p, req, req_len,
                                            ctx->req_charset,
                                            ctx->resp_charset);
    hmb_settle_result_t *res;
    apr_size_t n, nf = 0, at, fat = 0;
    char *out;

    hmb_msg_feed(r, resp, resp_len);
    res = hmb_settle_read(p, ctx, req, req_len, r, resp, resp_len);
    if ((res->outcome != HMB_OUT_SPLICED && res->outcome != HMB_OUT_DEFERRED)
        || !res->insert) {
        return res;
    }
    /* every upstream byte kept, the text(s) in between; a fund line goes
     * before the splice point */
    at = res->splice_at;
    n = strlen(res->insert);
    if (res->fund_insert) {
        fat = res->fund_at;
        nf = strlen(res->fund_insert);
    }
    out = apr_palloc(p, resp_len + nf + n + 1);
    memcpy(out, resp, fat);
    if (nf) {
        memcpy(out + fat, res->fund_insert, nf);
    }
    memcpy(out + fat + nf, resp + fat, at - fat);
    memcpy(out + at + nf, res->insert, n);
    memcpy(out + at + nf + n, resp + at, resp_len - at);
    out[resp_len + nf + n] = '\0';
    res->out = out;
    res->out_len = resp_len + nf + n;
    return res;
}
