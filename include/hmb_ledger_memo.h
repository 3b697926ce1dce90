/* What earlier transactions said, kept for the settlement that needs it
 * (docs/memo.md): the fee lines of a visit from its 2301 fee uploads
 * (less what 2302 took back), and a person's insurance status per
 * insutype from 1101. Each row is kept for a retention period counted
 * from when it was last written; older rows are neither used nor kept. */
#ifndef HMB_LEDGER_MEMO_H
#define HMB_LEDGER_MEMO_H

#include "hmb_ledger.h"
#include "hmb_message.h"

/* Days a remembered row is used and kept (HuiminbaoMemoKeep): longer
 * than nearly every inpatient stay, whose fee lines are uploaded day by
 * day and settled at discharge. */
#define HMB_MEMO_KEEP_DAYS 180
#define HMB_MEMO_KEEP_MAX  3650

/* The tables and indexes (schema version 6, hmb_ledger.c lists them). */
#define HMB_LEDGER_MEMO_SCHEMA \
    "CREATE TABLE IF NOT EXISTS hmb_memo_fee (" \
    " mdtrt_id TEXT NOT NULL," \
    " feedetl_sn TEXT NOT NULL," \
    " psn_no TEXT," \
    " med_list_codg TEXT NOT NULL," \
    " fulamt_ownpay_amt BIGINT NOT NULL," \
    " overlmt_amt BIGINT NOT NULL," \
    " fixmedins_code TEXT," \
    " msgid TEXT," \
    " recorded_at TEXT NOT NULL," \
    " PRIMARY KEY (mdtrt_id, feedetl_sn))", \
    "CREATE INDEX IF NOT EXISTS hmb_memo_fee_time" \
    " ON hmb_memo_fee (recorded_at)", \
    "CREATE TABLE IF NOT EXISTS hmb_memo_status (" \
    " psn_no TEXT NOT NULL," \
    " insutype TEXT NOT NULL," \
    " psn_insu_stas INTEGER NOT NULL," \
    " fixmedins_code TEXT," \
    " msgid TEXT," \
    " recorded_at TEXT NOT NULL," \
    " PRIMARY KEY (psn_no, insutype))", \
    "CREATE INDEX IF NOT EXISTS hmb_memo_status_time" \
    " ON hmb_memo_status (recorded_at)"

/* Remember what m says (a 2301's fee lines, a 2302's cancellation, a
 * 1101's statuses), from the request of institution fixmedins_code and
 * msgid; then forget rows older than keep_days (0: the default). Inside
 * a transaction. *rows: rows written or removed. */
const char *hmb_ledger_memo_record(hmb_ledger_t *l, apr_pool_t *p,
                                   const hmb_memo_t *m,
                                   const char *fixmedins_code,
                                   const char *msgid, int keep_days,
                                   int *rows);

/* The visit's fee lines (hmb_fee_t, by feedetl_sn) uploaded in the last
 * keep_days, of this person at this institution: a line that names
 * another person, or was uploaded by another institution (where both
 * are known), is left out and counted in *foreign. */
const char *hmb_ledger_memo_fees(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *mdtrt_id, const char *psn_no,
                                 const char *fixmedins_code, int keep_days,
                                 apr_array_header_t **fees, int *foreign);

/* The person's status for insutype from a 1101 of the last keep_days;
 * without insutype, the status of the person's only insurance. *stas is
 * -1 when there is none. */
const char *hmb_ledger_memo_status(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *psn_no, const char *insutype,
                                   int keep_days, int *stas);

#endif
