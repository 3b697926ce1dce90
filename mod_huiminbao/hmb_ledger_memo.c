/* The ledger's memory of 2301, 2302 and 1101 (hmb_ledger_memo.h): two
 * tables of their own, written in the transaction that reads the answer
 * and read by the settlement that lacks fee detail or status. Amounts in
 * fen, as everywhere in the ledger; times as hmb_ledger_stamp writes
 * them, so that the retention is a comparison of text. */
#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_ledger_memo.h"
#include "hmb_ledger_int.h"

/* A line uploaded again (corrected, or after its cancellation) replaces
 * the one before. */
static const char hmb_memo_fee_put[] =
    "INSERT INTO hmb_memo_fee (mdtrt_id, feedetl_sn, psn_no, med_list_codg,"
    " fulamt_ownpay_amt, overlmt_amt, fixmedins_code, msgid, recorded_at)"
    " VALUES (%s, %s, %s, %s, CAST(%s AS BIGINT), CAST(%s AS BIGINT), %s,"
    " %s, %s)"
    " ON CONFLICT (mdtrt_id, feedetl_sn) DO UPDATE SET"
    " psn_no = excluded.psn_no,"
    " med_list_codg = excluded.med_list_codg,"
    " fulamt_ownpay_amt = excluded.fulamt_ownpay_amt,"
    " overlmt_amt = excluded.overlmt_amt,"
    " fixmedins_code = excluded.fixmedins_code,"
    " msgid = excluded.msgid,"
    " recorded_at = excluded.recorded_at";

/* 2302 takes back one line, or (feedetl_sn '') all of the visit's;
 * never a line another person's upload wrote */
static const char hmb_memo_fee_drop[] =
    "DELETE FROM hmb_memo_fee WHERE mdtrt_id = %s"
    " AND (%s = '' OR feedetl_sn = %s)"
    " AND (%s = '' OR psn_no IS NULL OR psn_no = %s)";

static const char hmb_memo_fee_get[] =
    "SELECT feedetl_sn, psn_no, med_list_codg, fulamt_ownpay_amt,"
    " overlmt_amt, fixmedins_code FROM hmb_memo_fee"
    " WHERE mdtrt_id = %s AND recorded_at >= %s ORDER BY feedetl_sn";

static const char hmb_memo_fee_purge[] =
    "DELETE FROM hmb_memo_fee WHERE recorded_at < %s";

static const char hmb_memo_status_put[] =
    "INSERT INTO hmb_memo_status (psn_no, insutype, psn_insu_stas,"
    " fixmedins_code, msgid, recorded_at)"
    " VALUES (%s, %s, CAST(%s AS INTEGER), %s, %s, %s)"
    " ON CONFLICT (psn_no, insutype) DO UPDATE SET"
    " psn_insu_stas = excluded.psn_insu_stas,"
    " fixmedins_code = excluded.fixmedins_code,"
    " msgid = excluded.msgid,"
    " recorded_at = excluded.recorded_at";

static const char hmb_memo_status_get[] =
    "SELECT insutype, psn_insu_stas FROM hmb_memo_status"
    " WHERE psn_no = %s AND recorded_at >= %s ORDER BY insutype";

static const char hmb_memo_status_purge[] =
    "DELETE FROM hmb_memo_status WHERE recorded_at < %s";

/* The oldest time a row may have been written and still count. */
static const char *hmb_memo_cutoff(apr_pool_t *p, int keep_days)
{
    if (keep_days <= 0) {
        keep_days = HMB_MEMO_KEEP_DAYS;
    }
    return hmb_ledger_stamp(p, apr_time_now()
                               - apr_time_from_sec((apr_time_t)keep_days
                                                   * 86400));
}

static const char *hmb_memo_put_fees(hmb_ledger_t *l, apr_pool_t *p,
                                     const hmb_memo_t *m, const char *fixmed,
                                     const char *msgid, const char *now,
                                     int *rows)
{
    int i;

    for (i = 0; i < m->fees->nelts; i++) {
        const hmb_memo_fee_t *f = &APR_ARRAY_IDX(m->fees, i, hmb_memo_fee_t);
        const char *args[9], *err;

        args[0] = f->mdtrt_id;
        args[1] = f->fee.feedetl_sn;
        args[2] = f->psn_no;
        args[3] = f->fee.med_list_codg;
        args[4] = apr_psprintf(p, "%" APR_INT64_T_FMT,
                               f->fee.fulamt_ownpay_amt);
        args[5] = apr_psprintf(p, "%" APR_INT64_T_FMT, f->fee.overlmt_amt);
        args[6] = fixmed;
        args[7] = msgid;
        args[8] = now;
        if ((err = hmb_ledger_sql_exec(l, p,
                                       "upsert hmb_memo_fee", hmb_memo_fee_put,
                                       args, NULL))) {
            return err;
        }
        ++*rows;
    }
    return NULL;
}

static const char *hmb_memo_put_status(hmb_ledger_t *l, apr_pool_t *p,
                                       const hmb_memo_t *m,
                                       const char *fixmed, const char *msgid,
                                       const char *now, int *rows)
{
    int i;

    for (i = 0; i < m->status->nelts; i++) {
        const hmb_memo_status_t *st = &APR_ARRAY_IDX(m->status, i,
                                                     hmb_memo_status_t);
        const char *args[6], *err;

        args[0] = m->psn_no;
        args[1] = st->insutype;
        args[2] = apr_itoa(p, st->psn_insu_stas);
        args[3] = fixmed;
        args[4] = msgid;
        args[5] = now;
        if ((err = hmb_ledger_sql_exec(l, p,
                                       "upsert hmb_memo_status",
                                       hmb_memo_status_put,
                                       args,
                                   NULL))) {
            return err;
        }
        ++*rows;
    }
    return NULL;
}

const char *hmb_ledger_memo_record(hmb_ledger_t *l, apr_pool_t *p,
                                   const hmb_memo_t *m,
                                   const char *fixmedins_code,
                                   const char *msgid, int keep_days,
                                   int *rows)
{
    const char *now = hmb_ledger_now(p);
    const char *args[5], *err = NULL;
    int n = 0;

    *rows = 0;
    if (!hmb_ledger_in_trans(l)) {
        return "ledger: memo_record outside a transaction";
    }
    switch (m->what) {
    case HMB_MEMO_FEES:
        err = hmb_memo_put_fees(l, p, m, fixmedins_code, msgid, now, rows);
        break;
    case HMB_MEMO_FEES_CANCEL:
        args[0] = m->mdtrt_id;
        args[1] = args[2] = m->feedetl_sn ? m->feedetl_sn : "";
        args[3] = args[4] = m->psn_no ? m->psn_no : "";
        err = hmb_ledger_sql_exec(l, p,
                                  "delete hmb_memo_fee", hmb_memo_fee_drop,
                                  args, rows);
        break;
    case HMB_MEMO_PERSON:
        err = hmb_memo_put_status(l, p, m, fixmedins_code, msgid, now,
                                  rows);
        break;
    default:
        return "ledger: nothing to remember";
    }
    if (err) {
        return err;
    }
    /* The retention, kept here: each write also forgets what is too old,
     * through the index on recorded_at. */
    args[0] = hmb_memo_cutoff(p, keep_days);
    if ((err = hmb_ledger_sql_exec(l, p,
                                   "purge hmb_memo_fee", hmb_memo_fee_purge,
                                   args, &n))
        || (err = hmb_ledger_sql_exec(l, p,
                                      "purge hmb_memo_status",
                                      hmb_memo_status_purge,
                                      args,
                                  &n))) {
        return err;
    }
    return NULL;
}

const char *hmb_ledger_memo_fees(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *mdtrt_id, const char *psn_no,
                                 const char *fixmedins_code, int keep_days,
                                 apr_array_header_t **fees, int *foreign)
{
    apr_array_header_t *rows;
    const char *args[2], *err;
    int i;

    *foreign = 0;
    *fees = apr_array_make(p, 1, sizeof(hmb_fee_t));
    args[0] = mdtrt_id;
    args[1] = hmb_memo_cutoff(p, keep_days);
    if ((err = hmb_ledger_sql_query(l, p,
                                    "select hmb_memo_fee", hmb_memo_fee_get,
                                    args, &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_fee_t *f;

        if ((v[1] && psn_no && strcmp(v[1], psn_no))
            || (v[5] && fixmedins_code && strcmp(v[5], fixmedins_code))) {
            ++*foreign;
            continue;
        }
        f = apr_array_push(*fees);
        f->feedetl_sn = v[0];
        f->med_list_codg = v[2];
        if ((err = hmb_ledger_i64(l, p, "hmb_memo_fee", "fulamt_ownpay_amt",
                                  v[3], &f->fulamt_ownpay_amt))
            || (err = hmb_ledger_i64(l, p, "hmb_memo_fee", "overlmt_amt",
                                     v[4], &f->overlmt_amt))) {
            return err;
        }
    }
    return NULL;
}

const char *hmb_ledger_memo_status(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *psn_no, const char *insutype,
                                   int keep_days, int *stas)
{
    apr_array_header_t *rows;
    const char *args[2], *err, **v = NULL;
    apr_int64_t n;
    int i;

    *stas = -1;
    args[0] = psn_no;
    args[1] = hmb_memo_cutoff(p, keep_days);
    if ((err = hmb_ledger_sql_query(l, p,
                                    "select hmb_memo_status",
                                    hmb_memo_status_get,
                                    args, &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **r = APR_ARRAY_IDX(rows, i, const char **);

        if (insutype ? !strcmp(r[0], insutype) : rows->nelts == 1) {
            v = r;
        }
    }
    if (!v) {
        return NULL;
    }
    if ((err = hmb_ledger_i64(l, p, "hmb_memo_status", "psn_insu_stas", v[1],
                              &n))) {
        return err;
    }
    if (n < 0 || n > 9) {
        return apr_psprintf(p, "ledger: hmb_memo_status holds status %s",
                            v[1]);
    }
    *stas = (int)n;
    return NULL;
}
