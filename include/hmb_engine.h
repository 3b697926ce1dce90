/* The payout engine: DOMAIN.md's rules as a pure function. It reads no
 * clock, file or database: (plan, enrollment, year-to-date, message) in,
 * decision with per-liability detail and ledger deltas out. */
#ifndef HMB_ENGINE_H
#define HMB_ENGINE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_money.h"
#include "hmb_plan.h"
#include "hmb_enroll.h"
#include "hmb_message.h"

typedef enum {
    HMB_STAS_PAID,
    HMB_STAS_PRESETTLED,
    HMB_STAS_REVERSED,
    HMB_STAS_INELIGIBLE,
    HMB_STAS_DEFERRED,
    HMB_STAS_NO_CLAIM
} hmb_stas_e;

const char *hmb_stas_name(hmb_stas_e s);

/* Year-to-date totals for one person, plan code and year, aligned with
 * plan->liabilities. */
typedef struct {
    hmb_fen_t *elig;                /* cumulative eligible amount */
    hmb_fen_t *paid;                /* cumulative payout */
    hmb_fen_t plan_paid;            /* all liabilities of the plan year */
} hmb_ytd_t;

hmb_ytd_t *hmb_ytd_make(apr_pool_t *p, const hmb_plan_t *plan);

typedef struct {
    const char *liab_code;
    const char *liab_name;
    hmb_basis_e basis;
    const char *pool;
    hmb_fen_t deductible;           /* D in force for this person */
    hmb_fen_t cap;
    hmb_fen_t elig_amt;             /* e */
    hmb_fen_t dedc_amt;             /* d */
    hmb_ratio_t pay_prop;           /* r in force */
    hmb_fen_t pay_amt;
    hmb_fen_t cum_elig_amt;         /* ytd elig incl. this message */
    hmb_fen_t dedc_left;            /* pool deductible left after this one */
    hmb_fen_t cap_left;             /* cap left after this message */
} hmb_liab_result_t;

typedef struct {
    const char *insurer_code;
    hmb_ratio_t share;
    hmb_fen_t pay_amt;
} hmb_insurer_result_t;

typedef struct {
    hmb_stas_e stas;
    const char *rea_code;           /* with HMB_STAS_INELIGIBLE */
    const hmb_plan_t *plan;         /* NULL when no plan applied */
    hmb_fen_t burden;
    hmb_fen_t outscope_total;
    hmb_fen_t inscope_selfpay;
    hmb_fen_t hmb_pay;
    hmb_fen_t psn_part_amt_aft;
    hmb_fen_t psn_cash_pay_aft;
    apr_array_header_t *liabs;      /* hmb_liab_result_t */
    apr_array_header_t *insurers;   /* hmb_insurer_result_t */
    const char *memo;               /* UTF-8, one line */
} hmb_decision_t;

typedef struct {
    hmb_tx_e tx;                    /* PRESETTLE or SETTLE */
    const hmb_plan_t *plan;         /* NULL: no plan period contains setl_time */
    const hmb_enrollment_t *enrollment; /* NULL: not enrolled in plan */
    const hmb_ytd_t *ytd;           /* NULL: nothing so far this year */
    const hmb_response_t *resp;
    const char *fixmedins_code;     /* from the request; NULL when unknown */
} hmb_engine_input_t;

/* Decide one settlement or pre-settlement. Never fails: bad input is the
 * parsers' business; every path gives a decision with a reason. */
hmb_decision_t *hmb_engine_decide(apr_pool_t *p, const hmb_engine_input_t *in);

/* Burden components (DOMAIN.md rules 1-3), shared with reports. */
hmb_fen_t hmb_engine_burden(const hmb_response_t *resp);

/* Chinese one-line memo for a zero payout with this reason. */
const char *hmb_engine_reason_memo(apr_pool_t *p, const hmb_plan_t *plan,
                                   const char *rea_code);

#endif
