/* Supervision flags (hmb_flags.h). */
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "hmb_flags.h"
#include "hmb_money.h"
#include "hmb_rollup.h"
#include "hmb_util.h"

/* A settlement in the last 30 days, the day itself included. */
#define HMB_FREQUENT_DAYS 30

int hmb_flags_lookback_days(const hmb_supervision_t *sup)
{
    int n = 0;

    if (sup->readmission_days) {
        n = sup->readmission_days;
    }
    if (sup->claims_in_30_days && n < HMB_FREQUENT_DAYS - 1) {
        n = HMB_FREQUENT_DAYS - 1;
    }
    return n;
}

/* The county in a national institution code: a letter, then the six
 * digits of its admdvs (H36090200001 is in 360902); NULL otherwise. */
static const char *hmb_code_county(apr_pool_t *p, const char *code)
{
    int i;

    if (!code || !apr_isalpha(code[0]) || strlen(code) < 7) {
        return NULL;
    }
    for (i = 1; i <= 6; i++) {
        if (!apr_isdigit(code[i])) {
            return NULL;
        }
    }
    return apr_pstrndup(p, code + 1, 6);
}

/* Other visits since day `from` (YYYY-MM-DD), not this settlement. */
static int hmb_visits_since(const apr_array_header_t *visits,
                            const hmb_response_t *rs, const char *from)
{
    int i, n = 0;

    for (i = 0; visits && i < visits->nelts; i++) {
        const hmb_visit_t *v = &APR_ARRAY_IDX(visits, i, hmb_visit_t);

        if (v->setl_time && strncmp(v->setl_time, from, 10) >= 0
            && (!rs->setl_id || !v->setl_id || strcmp(v->setl_id,
                                                      rs->setl_id))
            && (!rs->mdtrt_id || !v->mdtrt_id || strcmp(v->mdtrt_id,
                                                        rs->mdtrt_id))) {
            n++;
        }
    }
    return n;
}

const char *hmb_flags_of(apr_pool_t *p, const hmb_supervision_t *sup,
                         const hmb_response_t *rs, const char *fixmedins_code,
                         const char *admdvs, hmb_fen_t hmb_pay,
                         const apr_array_header_t *visits)
{
    apr_array_header_t *on = apr_array_make(p, 4, sizeof(const char *));
    const char *day = rs->setl_time ? apr_pstrndup(p, rs->setl_time, 10)
                                    : NULL;
    const char *county;

    if (day && !hmb_date_valid(day)) {
        day = NULL;
    }
    if (sup->readmission_days && day
        && hmb_visits_since(visits, rs, hmb_rollup_day_add(
                                p, day, -sup->readmission_days)) > 0) {
        APR_ARRAY_PUSH(on, const char *) = HMB_FLAG_READMISSION;
    }
    if (sup->outscope_share && rs->medfee_sumamt > 0
        && rs->fulamt_ownpay_amt
           > hmb_money_apply_ratio(rs->medfee_sumamt, sup->outscope_share)) {
        APR_ARRAY_PUSH(on, const char *) = HMB_FLAG_OUTSCOPE;
    }
    if (sup->claim_over && hmb_pay > sup->claim_over) {
        APR_ARRAY_PUSH(on, const char *) = HMB_FLAG_LARGE;
    }
    /* this one and more than K - 1 others */
    if (sup->claims_in_30_days && day
        && hmb_visits_since(visits, rs, hmb_rollup_day_add(
                                p, day, -(HMB_FREQUENT_DAYS - 1))) + 1
           > sup->claims_in_30_days) {
        APR_ARRAY_PUSH(on, const char *) = HMB_FLAG_FREQUENT;
    }
    county = hmb_code_county(p, fixmedins_code);
    if (sup->other_county && county && admdvs && *admdvs
        && strcmp(county, admdvs)) {
        APR_ARRAY_PUSH(on, const char *) = HMB_FLAG_OTHER_COUNTY;
    }
    return apr_array_pstrcat(p, on, ',');
}
