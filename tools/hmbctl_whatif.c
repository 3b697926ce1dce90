/* hmbctl whatif: next year's plan is priced from this year's loss ratio.
 * Every recorded settlement of a year is decided again under a candidate
 * plan by the pure engine, each person's in the order they were decided,
 * with year-to-date totals kept in memory; reversals take back what the
 * candidate would have paid. Nothing is written. The actual figures come
 * from the rollups; the candidate's beside them, by liability. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "hmb_engine.h"
#include "hmb_money.h"
#include "hmb_rollup.h"
#include "hmbctl.h"

typedef struct {
    const hmb_plan_t *plan;
    hmb_fen_t *paid;                /* by the plan's liabilities */
    hmb_fen_t other;                /* liabilities the plan does not have */
    hmb_fen_t total;
    apr_int64_t decided;
} whatif_t;

/* Add (sign 1) or take back (-1) decision d's amounts: to the person's
 * totals as the ledger would, and to the projection. */
static void whatif_apply(whatif_t *w, hmb_ytd_t *ytd, const hmb_decision_t *d,
                         int sign)
{
    const hmb_liability_t *ls = (const hmb_liability_t *)
                                w->plan->liabilities->elts;
    int i, j;

    for (i = 0; d->liabs && i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r = &APR_ARRAY_IDX(d->liabs, i,
                                                    hmb_liab_result_t);

        ytd->plan_paid += sign * r->pay_amt;
        for (j = 0; j < w->plan->liabilities->nelts; j++) {
            if (!strcmp(ls[j].code, r->liab_code)) {
                ytd->elig[j] += sign * r->elig_amt;
                ytd->paid[j] += sign * r->pay_amt;
                w->paid[j] += sign * r->pay_amt;
                break;
            }
        }
        if (j == w->plan->liabilities->nelts) {
            w->other += sign * r->pay_amt;
        }
    }
    w->total += sign * d->hmb_pay;
}

static const char *whatif_run(hmbctl_t *c, hmb_ledger_t *l, whatif_t *w)
{
    apr_array_header_t *rows;
    apr_hash_t *decided = NULL;     /* hmb_setl_id -> decision */
    hmb_enrollment_t *enr = NULL;
    hmb_ytd_t *ytd = NULL;
    const char *psn = "", *err;
    apr_pool_t *pp = NULL;
    int i;

    if ((err = hmb_rollup_year_claims(l, c->p, w->plan->code, c->year,
                                      &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        const hmb_decision_t *d;
        hmb_engine_input_t in;
        hmb_response_t *rs;

        if (strcmp(v[HMB_Y_PSN], psn)) {
            /* a person's totals live as long as their claims are read */
            if (pp) {
                apr_pool_destroy(pp);
            }
            apr_pool_create(&pp, c->p);
            psn = v[HMB_Y_PSN];
            decided = apr_hash_make(pp);
            ytd = hmb_ytd_make(pp, w->plan);
            if ((err = hmb_ledger_get_enrollment(l, pp, w->plan->code,
                                                 c->year, psn, &enr))) {
                return err;
            }
        }
        if (v[HMB_Y_KIND][0] == 'R') {
            d = v[HMB_Y_REVERSES] ? apr_hash_get(decided, v[HMB_Y_REVERSES],
                                                 APR_HASH_KEY_STRING) : NULL;
            if (d) {
                whatif_apply(w, ytd, d, -1);
                apr_hash_set(decided, v[HMB_Y_REVERSES], APR_HASH_KEY_STRING,
                             NULL);
            }
            continue;
        }
        if (!v[HMB_Y_MSG]) {
            return apr_psprintf(c->p, "claim %s holds no message to decide "
                                "again (recorded before schema 3)",
                                v[HMB_Y_ID]);
        }
        if ((err = hmb_response_unpack(pp, v[HMB_Y_MSG], &rs))) {
            return apr_psprintf(c->p, "claim %s: %s", v[HMB_Y_ID], err);
        }
        memset(&in, 0, sizeof(in));
        in.tx = HMB_TX_SETTLE;
        in.plan = w->plan;
        in.enrollment = enr;
        in.ytd = ytd;
        in.resp = rs;
        in.fixmedins_code = v[HMB_Y_HOSPITAL];
        in.plans_until = w->plan->to;
        d = hmb_engine_decide(pp, &in);
        w->decided++;
        if (d->stas == HMB_STAS_PAID) {
            whatif_apply(w, ytd, d, 1);
            apr_hash_set(decided, apr_pstrdup(pp, v[HMB_Y_ID]),
                         APR_HASH_KEY_STRING, d);
        }
    }
    return NULL;
}

static const char *ratio_of(apr_pool_t *p, hmb_fen_t pay, hmb_fen_t premium)
{
    if (premium <= 0) {
        return "-";
    }
    return apr_psprintf(p, "%.2f%%", 100.0 * (double)pay / (double)premium);
}

int cmd_whatif(hmbctl_t *c)
{
    apr_array_header_t *actual, *all, *prem;
    hmb_fen_t premium = 0, act_total = 0, act_listed = 0;
    hmb_ledger_t *l;
    whatif_t w;
    const char *err;
    int rc, i, j;

    if (c->plans->nelts != 1 || c->args->nelts) {
        return usage("whatif takes one --plan CANDIDATE.xml and --year");
    }
    memset(&w, 0, sizeof(w));
    w.plan = APR_ARRAY_IDX(c->plans, 0, const hmb_plan_t *);
    if (!c->year) {
        c->year = w.plan->year;
    }
    w.paid = apr_pcalloc(c->p, sizeof(hmb_fen_t)
                               * (w.plan->liabilities->nelts + 1));
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = whatif_run(c, l, &w))
        || (err = hmb_rollup_read(l, c->p, w.plan->code, c->year, NULL,
                                  NULL, HMB_DIM_LIABILITY, 0, &actual))
        || (err = hmb_rollup_read(l, c->p, w.plan->code, c->year, NULL,
                                  NULL, HMB_DIM_ALL, 0, &all))
        || (err = hmb_rollup_premiums(l, c->p, w.plan->code, c->year,
                                      &prem))) {
        return rejected(err);
    }
    for (i = 0; i < prem->nelts; i++) {
        premium += APR_ARRAY_IDX(prem, i, hmb_premium_row_t).premium;
    }
    for (i = 0; i < all->nelts; i++) {
        act_total += APR_ARRAY_IDX(all, i, hmb_rollup_row_t)
                         .f.v[HMB_FIG_PAYOUT];
    }
    printf("plan %s %d: %" APR_INT64_T_FMT " settlements decided again "
           "under %s version %d; premiums %s\n", w.plan->code, c->year,
           w.decided, w.plan->path ? w.plan->path : "the candidate",
           w.plan->version, hmb_money_str(c->p, premium));
    printf("%-16s %16s %16s %16s\n", "liability", "actual", "candidate",
           "difference");
    for (j = 0; j < w.plan->liabilities->nelts; j++) {
        const char *code = APR_ARRAY_IDX(w.plan->liabilities, j,
                                         hmb_liability_t).code;
        hmb_fen_t act = 0;

        for (i = 0; i < actual->nelts; i++) {
            const hmb_rollup_row_t *r = &APR_ARRAY_IDX(actual, i,
                                                       hmb_rollup_row_t);

            if (!strcmp(r->grp, code)) {
                act = r->f.v[HMB_FIG_PAYOUT];
            }
        }
        act_listed += act;
        printf("%-16s %16s %16s %16s\n", code, hmb_money_str(c->p, act),
               hmb_money_str(c->p, w.paid[j]),
               hmb_money_str(c->p, w.paid[j] - act));
    }
    if (act_total != act_listed || w.other) {
        printf("%-16s %16s %16s %16s\n", "(other)",
               hmb_money_str(c->p, act_total - act_listed),
               hmb_money_str(c->p, w.other),
               hmb_money_str(c->p, w.other - (act_total - act_listed)));
    }
    printf("%-16s %16s %16s %16s\n", "TOTAL", hmb_money_str(c->p, act_total),
           hmb_money_str(c->p, w.total),
           hmb_money_str(c->p, w.total - act_total));
    printf("%-16s %16s %16s\n", "loss ratio", ratio_of(c->p, act_total,
                                                       premium),
           ratio_of(c->p, w.total, premium));
    return HMBCTL_OK;
}
