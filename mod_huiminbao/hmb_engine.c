/* The payout engine (DOMAIN.md, "Payout rules"). Pure: everything it
 * needs is in hmb_engine_input_t, everything it decides is returned, so
 * the same code prices live settlements, replays and what-if runs. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_engine.h"

#define HMB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HMB_MAX(a, b) ((a) > (b) ? (a) : (b))

/* One table of names and receipt texts. In a memo, {plan} is the plan's
 * name and {ref} what the reason refers to (the cancellation that
 * reversed a settlement, the date no plan covers). */
static const char *const hmb_stas_names[HMB_STAS_COUNT] = {
    "paid", "presettled", "reversed", "ineligible", "deferred", "no_claim"
};

static const struct {
    const char *name;
    const char *memo;
} hmb_reas[HMB_REA_COUNT] = {
    {NULL, ""},
    {"outside_period", "结算时间不在{plan}保险期间内"},
    {"not_enrolled", "未参加本年度{plan}"},
    {"not_covered_date", "结算时间早于{plan}保障起始日期，暂不享受待遇"},
    {"basic_suspended", "基本医疗保险暂停参保，暂不享受惠民保待遇"},
    {"visit_not_covered",
     "本次就诊类型不在{plan}保障范围内（限住院及视同住院）"},
    {"institution_not_covered", "本次就诊机构不在{plan}保障范围内"},
    {"ledger_unavailable",
     "惠民保赔付暂缓计算，将由承保机构事后结算，不影响本次基本医保结算"},
    {"no_plan",
     "{plan}结算日期{ref}的年度方案尚未载入，赔付暂缓计算，将由承保机构"
     "事后结算，不影响本次基本医保结算"},
    {"signed_response",
     "医保结算结果带有平台签名，{plan}赔付{ref}元不在本次结算中抵扣，"
     "将由承保机构另行支付"},
    {"unknown_settlement", "原结算无惠民保赔付，无需冲回"},
    {"settlement_reversed", "该结算已撤销（{ref}），惠民保不予赔付"},
    {"setl_id_conflict",
     "结算号与已记录的其他结算冲突，惠民保不予赔付，请联系承保机构"},
    {"cancel_mismatch", "撤销的结算不属于本人，惠民保不予冲回"}
};

const char *hmb_stas_name(hmb_stas_e s)
{
    return (int)s >= 0 && s < HMB_STAS_COUNT ? hmb_stas_names[s] : "unknown";
}

const char *hmb_rea_name(hmb_rea_e r)
{
    return (int)r >= 0 && r < HMB_REA_COUNT ? hmb_reas[r].name : NULL;
}

int hmb_stas_parse(const char *name, hmb_stas_e *out)
{
    int i;

    for (i = 0; name && i < HMB_STAS_COUNT; i++) {
        if (strcmp(hmb_stas_names[i], name) == 0) {
            *out = (hmb_stas_e)i;
            return 1;
        }
    }
    return 0;
}

int hmb_rea_parse(const char *name, hmb_rea_e *out)
{
    int i;

    if (!name) {
        *out = HMB_REA_NONE;
        return 1;
    }
    for (i = 1; i < HMB_REA_COUNT; i++) {
        if (strcmp(hmb_reas[i].name, name) == 0) {
            *out = (hmb_rea_e)i;
            return 1;
        }
    }
    return 0;
}

const char *hmb_rea_memo(apr_pool_t *p, hmb_rea_e rea, const char *plan_name,
                         const char *ref)
{
    const char *t, *brace;
    char *memo = "";

    if ((int)rea < 0 || rea >= HMB_REA_COUNT) {
        return "";
    }
    for (t = hmb_reas[rea].memo; (brace = strchr(t, '{')); ) {
        const char *value = NULL;

        if (!strncmp(brace, "{plan}", 6)) {
            value = plan_name ? plan_name : "惠民保";
        }
        else if (!strncmp(brace, "{ref}", 5)) {
            value = ref ? ref : "";
        }
        memo = apr_pstrcat(p, memo, apr_pstrmemdup(p, t, brace - t),
                           value ? value : "{", NULL);
        t = value ? strchr(brace, '}') + 1 : brace + 1;
    }
    return apr_pstrcat(p, memo, t, NULL);
}

hmb_ytd_t *hmb_ytd_make(apr_pool_t *p, const hmb_plan_t *plan)
{
    int n = plan ? plan->liabilities->nelts : 0;
    hmb_ytd_t *y = apr_pcalloc(p, sizeof(*y));

    y->elig = apr_pcalloc(p, sizeof(hmb_fen_t) * (n ? n : 1));
    y->paid = apr_pcalloc(p, sizeof(hmb_fen_t) * (n ? n : 1));
    return y;
}

hmb_fen_t hmb_engine_burden(const hmb_response_t *resp)
{
    hmb_fen_t b = resp->has_psn_part_amt
                  ? resp->psn_part_amt
                  : resp->medfee_sumamt - resp->fund_pay_sumamt;
    return HMB_MAX(b, 0);
}

/* What the patient still owes once Huiminbao pays d->hmb_pay
 * (INTERFACES.md section 2): the one place this arithmetic lives. */
static void hmb_engine_owes(hmb_decision_t *d, const hmb_response_t *resp)
{
    hmb_fen_t part = resp->has_psn_part_amt ? resp->psn_part_amt
                                            : hmb_engine_burden(resp);
    hmb_fen_t cash = resp->has_psn_cash_pay ? resp->psn_cash_pay : part;

    d->psn_part_amt_aft = part - d->hmb_pay;
    d->psn_cash_pay_aft = HMB_MAX(0, cash - d->hmb_pay);
}

static void hmb_engine_show_plan(hmb_decision_t *d, const hmb_plan_t *plan)
{
    d->plan = plan;
    if (plan) {
        d->plan_code = plan->code;
        d->plan_year = plan->year;
        d->plan_ver = plan->version;
    }
}

/* DOMAIN.md rule 10: the first failing check gives the reason. */
static hmb_rea_e hmb_engine_eligibility(const hmb_engine_input_t *in)
{
    const hmb_plan_t *plan = in->plan;
    const hmb_enrollment_t *e = in->enrollment;
    const hmb_response_t *resp = in->resp;
    char date[11];
    hmb_medtype_t *mt;

    apr_cpystrn(date, resp->setl_time ? resp->setl_time : "", sizeof(date));
    if (!plan || strcmp(date, plan->from) < 0 || strcmp(date, plan->to) > 0) {
        return HMB_REA_OUTSIDE_PERIOD;
    }
    if (!e || strcmp(e->plan_code, plan->code) || e->plan_year != plan->year
        || !resp->psn_no || strcmp(e->psn_no, resp->psn_no)) {
        return HMB_REA_NOT_ENROLLED;
    }
    if (strcmp(date, e->cover_from) < 0) {
        return HMB_REA_NOT_COVERED_DATE;
    }
    if (resp->psn_insu_stas != -1 && resp->psn_insu_stas != 1) {
        return HMB_REA_BASIC_SUSPENDED;
    }
    mt = resp->med_type ? apr_hash_get(plan->med_types, resp->med_type,
                                       APR_HASH_KEY_STRING) : NULL;
    if (!mt || (mt->diseases
                && (!resp->dise_codg
                    || !apr_hash_get(mt->diseases, resp->dise_codg,
                                     APR_HASH_KEY_STRING)))) {
        return HMB_REA_VISIT_NOT_COVERED;
    }
    if (!plan->all_institutions
        && (!in->fixmedins_code
            || !apr_hash_get(plan->institutions, in->fixmedins_code,
                             APR_HASH_KEY_STRING))) {
        return HMB_REA_INSTITUTION_NOT_COVERED;
    }
    return HMB_REA_NONE;
}

static hmb_fen_t hmb_fee_amount(const hmb_fee_t *f)
{
    return f->fulamt_ownpay_amt + f->overlmt_amt;
}

/* Fee lines claimed by list liabilities, first in plan order wins;
 * claimed[i] is the liability index or -1. *claimed_total is what the
 * lists take from the out-of-scope amount: each list's sum, never below
 * 0 (DOMAIN.md rule 4: a refund line can lower its own list's sum, never
 * raise another basis). */
static int *hmb_engine_list_claims(apr_pool_t *p, const hmb_plan_t *plan,
                                   const hmb_response_t *resp,
                                   hmb_fen_t *claimed_total)
{
    const hmb_liability_t *ls = (const hmb_liability_t *)plan->liabilities->elts;
    const hmb_fee_t *fees = resp->fees ? (const hmb_fee_t *)resp->fees->elts
                                       : NULL;
    int nfees = resp->fees ? resp->fees->nelts : 0;
    int nl = plan->liabilities->nelts;
    int *claimed = apr_palloc(p, sizeof(int) * (nfees ? nfees : 1));
    hmb_fen_t *sums = apr_pcalloc(p, sizeof(hmb_fen_t) * (nl ? nl : 1));
    int i, j;

    *claimed_total = 0;
    for (i = 0; i < nfees; i++) {
        claimed[i] = -1;
        for (j = 0; j < nl; j++) {
            if (ls[j].basis == HMB_BASIS_LIST && ls[j].codes
                && apr_hash_get(ls[j].codes, fees[i].med_list_codg,
                                APR_HASH_KEY_STRING)) {
                claimed[i] = j;
                sums[j] += hmb_fee_amount(&fees[i]);
                break;
            }
        }
    }
    for (j = 0; j < nl; j++) {
        *claimed_total += HMB_MAX(sums[j], 0);
    }
    return claimed;
}

/* DOMAIN.md rule 4: the eligible amount e of liability idx. */
static hmb_fen_t hmb_engine_eligible(const hmb_plan_t *plan, int idx,
                                     const hmb_decision_t *d,
                                     const hmb_response_t *resp,
                                     const int *claimed,
                                     hmb_fen_t list_claimed)
{
    const hmb_liability_t *l =
        &((const hmb_liability_t *)plan->liabilities->elts)[idx];
    const hmb_fee_t *fees = resp->fees ? (const hmb_fee_t *)resp->fees->elts
                                       : NULL;
    int nfees = resp->fees ? resp->fees->nelts : 0;
    hmb_fen_t e = 0;
    int i;

    switch (l->basis) {
    case HMB_BASIS_INSCOPE_SELFPAY:
        e = d->inscope_selfpay;
        break;
    case HMB_BASIS_OUTSCOPE_SELFPAY:
        e = d->outscope_total - list_claimed;
        break;
    case HMB_BASIS_OUTSCOPE_CATALOG:
        if (!resp->has_fee_detail) {
            e = l->without_detail_all ? d->outscope_total : 0;
            break;
        }
        for (i = 0; i < nfees; i++) {
            if (claimed[i] < 0 && l->codes
                && apr_hash_get(l->codes, fees[i].med_list_codg,
                                APR_HASH_KEY_STRING)) {
                e += hmb_fee_amount(&fees[i]);
            }
        }
        break;
    case HMB_BASIS_LIST:
        for (i = 0; i < nfees; i++) {
            if (claimed[i] == idx) {
                e += hmb_fee_amount(&fees[i]);
            }
        }
        break;
    }
    /* refund lines can make a sum negative: nothing to pay then */
    return HMB_MAX(e, 0);
}

static const char *hmb_liab_label(const hmb_liability_t *l)
{
    if (l->name && *l->name) {
        return l->name;
    }
    switch (l->basis) {
    case HMB_BASIS_INSCOPE_SELFPAY:  return "医保内自付";
    case HMB_BASIS_OUTSCOPE_SELFPAY: return "医保外自费";
    case HMB_BASIS_OUTSCOPE_CATALOG: return "医保外自费（商保目录内）";
    case HMB_BASIS_LIST:             return "特药费用";
    }
    return l->code;
}

/* One line the billing desk can read to the patient. */
static const char *hmb_engine_memo(apr_pool_t *p, const hmb_plan_t *plan,
                                   const hmb_decision_t *d,
                                   const int *capped)
{
    const hmb_liability_t *ls = (const hmb_liability_t *)plan->liabilities->elts;
    const hmb_liab_result_t *rs = (const hmb_liab_result_t *)d->liabs->elts;
    char *memo = apr_pstrcat(p, plan->name, "：", NULL);
    int i, parts = 0, first_deduction = 1;

    for (i = 0; i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r = &rs[i];
        const char *part;

        if (r->elig_amt == 0) {
            continue;
        }
        part = apr_pstrcat(p, hmb_liab_label(&ls[i]),
                           hmb_money_str(p, r->elig_amt), "元，", NULL);
        if (r->elig_amt == r->dedc_amt) {
            part = apr_pstrcat(p, part, "计入", first_deduction ? "年度" : "",
                               "起付线（尚余", hmb_money_str(p, r->dedc_left),
                               "元）", NULL);
            first_deduction = 0;
        }
        else {
            if (r->dedc_amt > 0) {
                part = apr_pstrcat(p, part, "扣除",
                                   first_deduction ? "年度" : "", "起付线",
                                   hmb_money_str(p, r->dedc_amt), "元后",
                                   NULL);
                first_deduction = 0;
            }
            part = apr_pstrcat(p, part, "按",
                               hmb_ratio_percent(p, r->pay_prop), "赔付",
                               hmb_money_str(p, r->pay_amt), "元",
                               capped[i] ? "（已达封顶线）" : "", NULL);
        }
        memo = apr_pstrcat(p, memo, parts ? "；" : "", part, NULL);
        parts++;
    }
    if (!parts) {
        return apr_pstrcat(p, memo, "本次无可赔付费用，赔付0.00元。", NULL);
    }
    return apr_pstrcat(p, memo, "；合计", hmb_money_str(p, d->hmb_pay), "元。",
                       NULL);
}

hmb_decision_t *hmb_engine_decide(apr_pool_t *p, const hmb_engine_input_t *in)
{
    const hmb_plan_t *plan = in->plan;
    const hmb_response_t *resp = in->resp;
    const hmb_enrollment_t *enr = in->enrollment;
    hmb_decision_t *d = apr_pcalloc(p, sizeof(*d));
    const hmb_liability_t *ls;
    hmb_liab_result_t *rs;
    const hmb_ytd_t *ytd;
    hmb_fen_t list_claimed, plan_room, excess;
    int *claimed, *capped;
    int i, j, n;

    hmb_engine_show_plan(d, plan);
    d->liabs = apr_array_make(p, 4, sizeof(hmb_liab_result_t));
    d->insurers = apr_array_make(p, 4, sizeof(hmb_insurer_result_t));
    d->burden = hmb_engine_burden(resp);
    d->outscope_total = resp->fulamt_ownpay_amt + resp->overlmt_selfpay;
    d->inscope_selfpay = HMB_MAX(0, d->burden - d->outscope_total);

    /* A date after every loaded plan is a plan not loaded yet (a new
     * policy year), not a refusal: it waits for its plan. */
    if (!plan
        && (!in->plans_until
            || strncmp(resp->setl_time ? resp->setl_time : "",
                       in->plans_until, 10) > 0)) {
        d->stas = HMB_STAS_DEFERRED;
        d->rea = HMB_REA_NO_PLAN;
        hmb_engine_owes(d, resp);
        d->memo = hmb_rea_memo(p, d->rea, NULL,
                               apr_pstrndup(p, resp->setl_time
                                               ? resp->setl_time : "", 10));
        return d;
    }
    d->rea = hmb_engine_eligibility(in);
    if (d->rea != HMB_REA_NONE) {
        d->stas = HMB_STAS_INELIGIBLE;
        hmb_engine_owes(d, resp);
        d->memo = hmb_rea_memo(p, d->rea, plan ? plan->name : NULL, NULL);
        return d;
    }

    d->stas = in->tx == HMB_TX_PRESETTLE ? HMB_STAS_PRESETTLED
                                         : HMB_STAS_PAID;
    ytd = in->ytd ? in->ytd : hmb_ytd_make(p, plan);
    ls = (const hmb_liability_t *)plan->liabilities->elts;
    n = plan->liabilities->nelts;
    claimed = hmb_engine_list_claims(p, plan, resp, &list_claimed);
    capped = apr_pcalloc(p, sizeof(int) * (n ? n : 1));
    rs = apr_pcalloc(p, sizeof(*rs) * (n ? n : 1));
    plan_room = plan->has_cap ? HMB_MAX(0, plan->cap - ytd->plan_paid) : 0;

    for (i = 0; i < n; i++) {
        const hmb_liability_t *l = &ls[i];
        const hmb_class_t *cls = enr->person_class
                                 ? hmb_liability_class(l, enr->person_class)
                                 : NULL;
        hmb_liab_result_t *r = &rs[i];
        hmb_fen_t pool_counted = 0, base, pay, cap_room;

        r->liab_code = l->code;
        r->liab_name = hmb_liab_label(l);
        r->basis = l->basis;
        r->pool = l->pool;
        r->cap = l->cap;
        r->deductible = cls && cls->has_deductible ? cls->deductible
                                                   : l->deductible;
        /* a class ratio wins over the pre-existing-condition ratio */
        if (cls && cls->has_ratio) {
            r->pay_prop = cls->ratio;
        }
        else if (enr->preexisting && l->has_preexisting_ratio) {
            r->pay_prop = l->preexisting_ratio;
        }
        else {
            r->pay_prop = l->ratio;
        }
        r->elig_amt = hmb_engine_eligible(plan, i, d, resp, claimed,
                                          list_claimed);

        /* C: eligible amounts already counted in this pool this year,
         * earlier liabilities of this message included */
        for (j = 0; j < n; j++) {
            if (!strcmp(ls[j].pool, l->pool)) {
                pool_counted += ytd->elig[j];
                if (j < i) {
                    pool_counted += rs[j].elig_amt;
                }
            }
        }
        r->dedc_amt = HMB_MIN(r->elig_amt,
                              HMB_MAX(0, r->deductible - pool_counted));
        base = r->elig_amt - r->dedc_amt;
        pay = hmb_money_apply_ratio(base, r->pay_prop);
        cap_room = HMB_MAX(0, l->cap - ytd->paid[i]);
        if (pay > cap_room) {
            pay = cap_room;
            capped[i] = 1;
        }
        if (plan->has_cap && pay > plan_room) {
            pay = plan_room;
            capped[i] = 1;
        }
        plan_room -= plan->has_cap ? pay : 0;
        r->pay_amt = pay;
        r->cum_elig_amt = ytd->elig[i] + r->elig_amt;
        r->dedc_left = HMB_MAX(0, r->deductible - pool_counted - r->elig_amt);
        d->hmb_pay += pay;
    }

    /* Rule 8: never more than the patient owes; the excess comes off the
     * last liabilities first. */
    excess = d->hmb_pay - d->burden;
    for (i = n - 1; i >= 0 && excess > 0; i--) {
        hmb_fen_t cut = HMB_MIN(excess, rs[i].pay_amt);
        rs[i].pay_amt -= cut;
        d->hmb_pay -= cut;
        excess -= cut;
    }
    for (i = 0; i < n; i++) {
        rs[i].cap_left = HMB_MAX(0, ls[i].cap - ytd->paid[i] - rs[i].pay_amt);
        *(hmb_liab_result_t *)apr_array_push(d->liabs) = rs[i];
    }

    if (plan->insurers->nelts > 0) {
        const hmb_insurer_t *ins = (const hmb_insurer_t *)plan->insurers->elts;
        int m = plan->insurers->nelts;
        hmb_ratio_t *shares = apr_palloc(p, sizeof(hmb_ratio_t) * m);
        hmb_fen_t *amounts = apr_palloc(p, sizeof(hmb_fen_t) * m);

        for (i = 0; i < m; i++) {
            shares[i] = ins[i].share;
        }
        hmb_money_allocate(d->hmb_pay, shares, m, amounts);
        for (i = 0; i < m; i++) {
            hmb_insurer_result_t *ir = apr_array_push(d->insurers);
            ir->insurer_code = ins[i].code;
            ir->share = ins[i].share;
            ir->pay_amt = amounts[i];
        }
    }

    if (in->undelivered && d->stas == HMB_STAS_PAID) {
        /* Not paid at the desk: the patient owes what the basic
         * settlement left, and the payout is the insurer's to make. */
        hmb_fen_t pay = d->hmb_pay;

        d->stas = HMB_STAS_DEFERRED;
        d->rea = HMB_REA_SIGNED_RESPONSE;
        d->hmb_pay = 0;
        hmb_engine_owes(d, resp);
        d->hmb_pay = pay;
        d->memo = hmb_rea_memo(p, d->rea, plan->name, hmb_money_str(p, pay));
        return d;
    }
    hmb_engine_owes(d, resp);
    d->memo = hmb_engine_memo(p, plan, d, capped);
    return d;
}

hmb_decision_t *hmb_engine_refuse(apr_pool_t *p, hmb_stas_e stas,
                                  hmb_rea_e rea, const hmb_plan_t *plan,
                                  const hmb_response_t *resp,
                                  const char *ref)
{
    hmb_decision_t *d = apr_pcalloc(p, sizeof(*d));

    d->stas = stas;
    d->rea = rea;
    hmb_engine_show_plan(d, plan);
    d->liabs = apr_array_make(p, 1, sizeof(hmb_liab_result_t));
    d->insurers = apr_array_make(p, 1, sizeof(hmb_insurer_result_t));
    d->burden = hmb_engine_burden(resp);
    hmb_engine_owes(d, resp);
    d->memo = hmb_rea_memo(p, rea, plan ? plan->name : NULL, ref);
    return d;
}

/* What is left of a liability's pool deductible and cap, and its own
 * cumulative eligible amount, from totals by liability code. */
static void hmb_engine_left(hmb_liab_result_t *r, const hmb_claim_t *c,
                            const apr_array_header_t *after)
{
    const hmb_claim_liab_t *cl = (const hmb_claim_liab_t *)c->liabs->elts;
    const hmb_total_t *tt = (const hmb_total_t *)after->elts;
    hmb_fen_t pool_elig = 0, paid = 0, cum = 0;
    int j, k;

    for (j = 0; j < after->nelts; j++) {
        int same_pool = 0;

        for (k = 0; k < c->liabs->nelts; k++) {
            if (!strcmp(cl[k].liab_code, tt[j].liab_code)) {
                same_pool = !strcmp(cl[k].pool, r->pool);
                break;
            }
        }
        if (!strcmp(tt[j].liab_code, r->liab_code)) {
            cum = tt[j].elig_amt;
            paid = tt[j].paid_amt;
            pool_elig += tt[j].elig_amt;
        }
        else if (same_pool) {
            pool_elig += tt[j].elig_amt;
        }
    }
    r->cum_elig_amt = cum;
    r->dedc_left = HMB_MAX(0, r->deductible - pool_elig);
    r->cap_left = HMB_MAX(0, r->cap - paid);
}

hmb_decision_t *hmb_engine_reverse(apr_pool_t *p,
                                   const hmb_engine_reversal_t *in)
{
    const hmb_claim_t *c = in->claim;
    const hmb_claim_liab_t *cl = (const hmb_claim_liab_t *)c->liabs->elts;
    apr_array_header_t *after;
    hmb_decision_t *d = apr_pcalloc(p, sizeof(*d));
    int i, k;

    d->stas = HMB_STAS_REVERSED;
    d->plan_code = c->plan_code;
    d->plan_year = c->plan_year;
    d->plan_ver = c->plan_ver;
    d->hmb_pay = -c->hmb_pay;
    d->burden = hmb_engine_burden(in->resp);

    /* the totals as they will be once this reversal is recorded */
    after = in->totals ? apr_array_copy(p, in->totals)
                       : apr_array_make(p, 1, sizeof(hmb_total_t));
    for (i = 0; i < after->nelts; i++) {
        hmb_total_t *t = &APR_ARRAY_IDX(after, i, hmb_total_t);

        for (k = 0; k < c->liabs->nelts; k++) {
            if (!strcmp(cl[k].liab_code, t->liab_code)) {
                t->elig_amt -= cl[k].elig_amt;
                t->paid_amt -= cl[k].pay_amt;
            }
        }
    }
    d->liabs = apr_array_make(p, c->liabs->nelts + 1,
                              sizeof(hmb_liab_result_t));
    for (i = 0; i < c->liabs->nelts; i++) {
        hmb_liab_result_t *r = apr_array_push(d->liabs);

        memset(r, 0, sizeof(*r));
        r->liab_code = cl[i].liab_code;
        r->pool = cl[i].pool;
        r->deductible = cl[i].deductible;
        r->cap = cl[i].cap;
        r->elig_amt = -cl[i].elig_amt;
        r->dedc_amt = -cl[i].dedc_amt;
        r->pay_prop = cl[i].pay_prop;
        r->pay_amt = -cl[i].pay_amt;
        hmb_engine_left(r, c, after);
    }
    d->insurers = apr_array_make(p, c->insurers ? c->insurers->nelts + 1 : 1,
                                 sizeof(hmb_insurer_result_t));
    for (i = 0; c->insurers && i < c->insurers->nelts; i++) {
        hmb_insurer_result_t *r = apr_array_push(d->insurers);

        *r = APR_ARRAY_IDX(c->insurers, i, hmb_insurer_result_t);
        r->pay_amt = -r->pay_amt;
    }
    hmb_engine_owes(d, in->resp);
    d->memo = apr_pstrcat(p, in->plan_name ? in->plan_name : "惠民保",
                          "：撤销结算", c->setl_id, "，冲回赔付",
                          hmb_money_str(p, c->hmb_pay), "元。", NULL);
    return d;
}
