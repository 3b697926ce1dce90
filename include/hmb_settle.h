/* One message end to end, shared by the filter and hmbctl: bytes ->
 * message -> decision -> ledger -> <hmbinfo> -> spliced bytes. */
#ifndef HMB_SETTLE_H
#define HMB_SETTLE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_engine.h"
#include "hmb_ledger.h"
#include "hmb_message.h"

typedef enum {
    HMB_OUT_PASS,                   /* leave the upstream bytes alone */
    HMB_OUT_SPLICED,                /* out/out_len hold the new body */
    HMB_OUT_DEFERRED                /* spliced 'deferred'; spool the message */
} hmb_outcome_e;

typedef struct {
    const apr_array_header_t *plans;    /* hmb_plan_t * */
    hmb_ledger_t *ledger;               /* NULL: ledger unavailable */
    const char *fund_pay_type;          /* optional fund line */
    const char *fund_pay_type_name;
    int strict;                         /* validate against the xsd too */
} hmb_settle_ctx_t;

typedef struct {
    hmb_outcome_e outcome;
    const char *reason;             /* why PASS or DEFERRED; log it */
    int is_error;                   /* PASS because the input was bad */
    const char *out;
    apr_size_t out_len;
    hmb_tx_e tx;
    hmb_stas_e stas;
    const char *rea_code;
    hmb_fen_t hmb_pay;
    const char *setl_id;
    const char *psn_no;
    const char *fixmedins_code;
    const char *hmb_setl_id;
    int duplicate;                  /* stored result returned */
    const hmb_decision_t *decision;
} hmb_settle_result_t;

/* req may be NULL (hmbctl without --request): the transaction is then a
 * settlement when setlinfo has a setl_id, else a pre-settlement. */
hmb_settle_result_t *hmb_settle_message(apr_pool_t *p,
                                        const hmb_settle_ctx_t *ctx,
                                        const char *req, apr_size_t req_len,
                                        const char *resp, apr_size_t resp_len);

#endif
