/* The payout engine: every rule of DOMAIN.md, every receipt text and
 * what the patient still owes, as pure functions. It reads no clock, file
 * or database: a payout is decided from (plan, enrollment, year-to-date,
 * message), a reversal from (the claim, the totals, the message), and
 * everything decided comes back as a decision the ledger can record and
 * the renderer can show. */
#ifndef HMB_ENGINE_H
#define HMB_ENGINE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_money.h"
#include "hmb_plan.h"
#include "hmb_enroll.h"
#include "hmb_message.h"

/* ---- status and reason codes (INTERFACES.md section 2) ---------------- */

typedef enum {
    HMB_STAS_PAID,
    HMB_STAS_PRESETTLED,
    HMB_STAS_REVERSED,
    HMB_STAS_INELIGIBLE,
    HMB_STAS_DEFERRED,
    HMB_STAS_NO_CLAIM,
    HMB_STAS_COUNT
} hmb_stas_e;

typedef enum {
    HMB_REA_NONE = 0,
    /* with ineligible, in the order DOMAIN.md rule 10 checks them */
    HMB_REA_OUTSIDE_PERIOD,
    HMB_REA_NOT_ENROLLED,
    HMB_REA_NOT_COVERED_DATE,
    HMB_REA_BASIC_SUSPENDED,
    HMB_REA_VISIT_NOT_COVERED,
    HMB_REA_INSTITUTION_NOT_COVERED,
    /* with deferred */
    HMB_REA_LEDGER_UNAVAILABLE,
    HMB_REA_NO_PLAN,
    HMB_REA_SIGNED_RESPONSE,        /* computed, but the platform signed
                                     * the answer: the insurer pays later */
    /* with no_claim */
    HMB_REA_UNKNOWN_SETTLEMENT,
    HMB_REA_SETTLEMENT_REVERSED,
    HMB_REA_SETL_ID_CONFLICT,
    HMB_REA_CANCEL_MISMATCH,
    HMB_REA_COUNT
} hmb_rea_e;

const char *hmb_stas_name(hmb_stas_e s);
const char *hmb_rea_name(hmb_rea_e r);          /* NULL for NONE */

/* Names back to codes (as stored in a ledger). Return 0 for a name this
 * build does not know: the caller must treat that as an error. */
int hmb_stas_parse(const char *name, hmb_stas_e *out);
int hmb_rea_parse(const char *name, hmb_rea_e *out); /* NULL -> NONE */

/* The receipt line for a zero payout with this reason, naming the plan
 * (plan_name NULL: "惠民保") and, where the reason refers to something
 * (the cancellation that reversed a settlement), ref. */
const char *hmb_rea_memo(apr_pool_t *p, hmb_rea_e rea, const char *plan_name,
                         const char *ref);

/* ---- what is recorded ------------------------------------------------- */

/* Year-to-date totals for one person, plan code and year, aligned with
 * plan->liabilities. */
typedef struct {
    hmb_fen_t *elig;                /* cumulative eligible amount */
    hmb_fen_t *paid;                /* cumulative payout */
    hmb_fen_t plan_paid;            /* all liabilities of the plan year */
} hmb_ytd_t;

hmb_ytd_t *hmb_ytd_make(apr_pool_t *p, const hmb_plan_t *plan);

/* One liability of a recorded claim. */
typedef struct {
    const char *liab_code;
    const char *pool;
    hmb_fen_t deductible;
    hmb_fen_t cap;
    hmb_fen_t elig_amt;
    hmb_fen_t dedc_amt;
    hmb_ratio_t pay_prop;
    hmb_fen_t pay_amt;
} hmb_claim_liab_t;

typedef struct {
    const char *insurer_code;
    hmb_ratio_t share;
    hmb_fen_t pay_amt;
} hmb_insurer_result_t;

/* A decision as the ledger keeps it. */
typedef struct {
    const char *hmb_setl_id;
    char kind;                      /* 'S' settlement, 'R' reversal,
                                     * 'C' correction */
    const char *setl_id;            /* for 'R', 'C': the settlement */
    const char *reverses;           /* for 'R', 'C': hmb_setl_id reversed
                                     * or corrected */
    const char *psn_no;
    const char *mdtrt_id;
    const char *fixmedins_code;
    const char *msgid;
    const char *setl_time;
    const char *plan_code;          /* NULL for claims priced by no plan */
    int plan_year;
    int plan_ver;
    hmb_stas_e stas;
    hmb_rea_e rea;
    hmb_fen_t hmb_pay;
    const char *hmbinfo;            /* the element appended, as sent */
    apr_array_header_t *liabs;      /* hmb_claim_liab_t */
    apr_array_header_t *insurers;   /* hmb_insurer_result_t */
    const char *origin;             /* desk, replay, redecide */
    const char *msg;                /* the message, hmb_response_pack() */
    const char *decided_by;         /* a correction's operator */
    const char *why;                /* ... and reason */
    const char *created_at;         /* when it was recorded (UTC) */
    /* for the insurer's views (hmb_rollup.h), recorded with the claim */
    const char *admdvs;             /* the enrollment's county, or NULL */
    const char *flags;              /* supervision flags "a,b", or NULL */
} hmb_claim_t;

/* One liability's year-to-date total. */
typedef struct {
    const char *liab_code;
    hmb_fen_t elig_amt;
    hmb_fen_t paid_amt;
} hmb_total_t;

/* ---- decisions -------------------------------------------------------- */

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
    hmb_stas_e stas;
    hmb_rea_e rea;
    const hmb_plan_t *plan;         /* the plan priced by, or NULL */
    /* the plan shown: a reversal shows the claim's, loaded or not */
    const char *plan_code;          /* NULL: none shown */
    int plan_year;
    int plan_ver;
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
    /* the last day any loaded plan covers (YYYY-MM-DD), NULL when none is
     * loaded: a settlement dated after it waits for its plan (deferred,
     * no_plan) instead of being refused */
    const char *plans_until;
    /* the answer cannot carry hmbinfo (the platform signed it and the
     * location passes signed answers untouched): a payout is decided as
     * usual but is not the desk's to pay, so it is deferred,
     * signed_response, for the insurer to pay the patient later */
    int undelivered;
} hmb_engine_input_t;

/* Decide one settlement or pre-settlement. Never fails: bad input is the
 * readers' business; every path gives a decision with a reason. */
hmb_decision_t *hmb_engine_decide(apr_pool_t *p, const hmb_engine_input_t *in);

typedef struct {
    const hmb_claim_t *claim;       /* the settlement's claim, stas paid */
    const apr_array_header_t *totals; /* hmb_total_t, before the reversal */
    const char *plan_name;          /* for the memo; NULL: "惠民保" */
    const hmb_response_t *resp;     /* the cancellation's answer */
} hmb_engine_reversal_t;

/* Reverse exactly what the claim recorded: every amount negated, and what
 * is left of deductibles and caps as the totals will be afterwards. */
hmb_decision_t *hmb_engine_reverse(apr_pool_t *p,
                                   const hmb_engine_reversal_t *in);

/* Nothing paid or reversed (deferred, no_claim): the payout 0, what the
 * patient owes unchanged, the memo of the reason. plan and ref (see
 * hmb_rea_memo) may be NULL. */
hmb_decision_t *hmb_engine_refuse(apr_pool_t *p, hmb_stas_e stas,
                                  hmb_rea_e rea, const hmb_plan_t *plan,
                                  const hmb_response_t *resp,
                                  const char *ref);

/* DOMAIN.md rule 1: what the patient owes before Huiminbao. */
hmb_fen_t hmb_engine_burden(const hmb_response_t *resp);

#endif
