/* One message end to end, shared by the filter and hmbctl: message ->
 * decision (the engine) -> ledger (one transaction) -> <hmbinfo> (the
 * renderer) -> where it goes in the upstream's bytes. This unit only
 * orchestrates: every rule is the engine's, every byte of output the
 * renderer's. */
#ifndef HMB_SETTLE_H
#define HMB_SETTLE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_engine.h"
#include "hmb_ledger.h"
#include "hmb_message.h"

typedef enum {
    HMB_OUT_PASS,                   /* leave the upstream bytes alone */
    HMB_OUT_SPLICED,                /* insert goes in at splice_at */
    HMB_OUT_DEFERRED,               /* 'deferred' goes in; spool the message */
    HMB_OUT_FAILED                  /* a bug or a damaged ledger: leave the
                                     * bytes alone, log at ERR, never spool */
} hmb_outcome_e;

typedef struct {
    const apr_array_header_t *plans;    /* hmb_plan_t * */
    hmb_ledger_t *ledger;               /* NULL: ledger unavailable */
    const char *fund_pay_type;          /* optional fund line */
    const char *fund_pay_type_name;
    /* strict mode: validate each response against the settlement schema,
     * compiled once (hmb_message_schema); NULL: no validation */
    const hmb_message_schema_t *schema;
    /* who decides: "desk" (NULL) for the filter, "replay" for a spooled
     * message settled later; recorded with each claim */
    const char *origin;
    /* decide and render as usual, record nothing (hmbctl settle
     * --dry-run) */
    int dry_run;
    /* the request's and (hmb_settle_message) the response's transport
     * charset (JSON only; NULL: UTF-8) */
    const char *req_charset;
    const char *resp_charset;
    /* an answer the platform signed is rewritten (HuiminbaoSigned
     * Rewrite); 0: it passes untouched and a payout is deferred for the
     * insurer (docs/json.md, "Signed answers") */
    int signed_rewrite;
    /* days what 2301 and 1101 said is kept and used (0: the default) */
    int memo_keep_days;
} hmb_settle_ctx_t;

typedef struct {
    hmb_outcome_e outcome;
    const char *reason;             /* why PASS, DEFERRED or FAILED; log it */
    int is_error;                   /* PASS because the input was bad */
    int forged;                     /* ... an <hmbinfo> was there already */
    const char *insert;             /* SPLICED, DEFERRED: the text ... */
    apr_size_t splice_at;           /* ... and where it goes */
    /* JSON: the fund line goes in output's setldetail array, before
     * splice_at; NULL when there is none */
    const char *fund_insert;
    apr_size_t fund_at;
    /* decided and recorded, but the answer left untouched: the platform
     * signed it (HuiminbaoSigned Pass) */
    int withheld;
    /* a 2301, 2302 or 1101 remembered: rows written or removed */
    hmb_memo_e memo;
    int memo_rows;
    const char *out;                /* hmb_settle_message: the new body */
    apr_size_t out_len;
    hmb_tx_e tx;
    hmb_stas_e stas;
    hmb_rea_e rea;
    hmb_fen_t hmb_pay;
    const char *setl_id;
    const char *psn_no;
    const char *fixmedins_code;
    const char *hmb_setl_id;
    int duplicate;                  /* stored result returned */
    const hmb_decision_t *decision;
} hmb_settle_result_t;

/* The reader for the answer to request req (its kind: a settlement's,
 * or a 2301's, 1101's, 2302's), in either wire format (the first byte
 * says) with the transport's charset for JSON. A request that cannot be
 * read gets a settlement reader: hmb_settle_read says why it passes. */
hmb_msg_reader_t *hmb_settle_reader(apr_pool_t *p, const char *req,
                                    apr_size_t req_len,
                                    const char *req_charset,
                                    const char *resp_charset);

/* The response has been fed to resp (a reader of HMB_MSG_RESPONSE);
 * req is the request envelope's bytes. req may be NULL (hmbctl without
 * --request): the transaction is then a settlement when setlinfo has a
 * setl_id, else a pre-settlement. resp_bytes is needed only in strict
 * mode (NULL otherwise). */
hmb_settle_result_t *hmb_settle_read(apr_pool_t *p,
                                     const hmb_settle_ctx_t *ctx,
                                     const char *req, apr_size_t req_len,
                                     hmb_msg_reader_t *resp,
                                     const char *resp_bytes,
                                     apr_size_t resp_len);

/* What hmb_settle_redecide did with one settlement. */
typedef struct {
    const char *setl_id;
    int corrected;                  /* a correction was (dry run: would be)
                                     * recorded */
    const char *what;               /* one line: the new payout, or why
                                     * nothing changed */
    const char *hmb_setl_id;        /* the correction's */
    const hmb_decision_t *decision; /* when decided again */
} hmb_redecide_t;

/* Decide an ineligible settlement again under ctx's plans, today's
 * enrollments and the person's totals now, and record the result as a
 * correction (kind 'C', origin redecide, who and why) linked to the
 * original, unless dry_run. The original stays as it is: a repeat of its
 * message still answers what the desk was told. Returns NULL, or the
 * ledger's error (nothing recorded). */
const char *hmb_settle_redecide(apr_pool_t *p, const hmb_settle_ctx_t *ctx,
                                const char *setl_id, const char *who,
                                const char *why, int dry_run,
                                hmb_redecide_t **out);

/* The same for a response in one piece; out/out_len then hold the new
 * body when something was inserted. */
hmb_settle_result_t *hmb_settle_message(apr_pool_t *p,
                                        const hmb_settle_ctx_t *ctx,
                                        const char *req, apr_size_t req_len,
                                        const char *resp, apr_size_t resp_len);

#endif
