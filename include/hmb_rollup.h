/* The insurer's and the bureau's figures: rollups per plan, year, local
 * day and group (all claims, hospital, county, liability, co-insurer,
 * reason, supervision flag), kept in the same transaction as each claim,
 * so that every view costs O(days x groups) and never a scan of claims.
 *
 * hmb_rollup.c holds what is pure (which rows a claim adds to, local
 * days); hmb_ledger_rollup.c the tables and their statements. */
#ifndef HMB_ROLLUP_H
#define HMB_ROLLUP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_engine.h"
#include "hmb_ledger.h"

/* ---- the figures of a group ------------------------------------------ */

typedef enum {
    HMB_FIG_CLAIMS,                 /* settlements recorded (kind S) */
    HMB_FIG_PAID,                   /* ... decided paid */
    HMB_FIG_INELIGIBLE,             /* ... decided ineligible */
    HMB_FIG_CORRECTIONS,            /* corrections (kind C) */
    HMB_FIG_REVERSALS,              /* reversals (kind R) */
    HMB_FIG_PAYOUT,                 /* fen, net: S + C - R */
    HMB_FIG_REVERSED,               /* fen taken back by reversals */
    HMB_FIG_ELIG,                   /* fen of eligible amounts, net */
    HMB_FIG_DEDC,                   /* fen of deductible consumed, net */
    HMB_FIG_DEDC_HITS,              /* liabilities where the deductible
                                     * took part of the eligible amount */
    HMB_FIG_CAP_HITS,               /* liabilities paid less than their
                                     * ratio gives: a cap was reached */
    HMB_FIG_REPLAYED,               /* deferred at the desk, settled by a
                                     * replay */
    HMB_FIG_OWED_CLAIMS,            /* paid after the desk, net of their
                                     * reversals */
    HMB_FIG_OWED,                   /* fen of those */
    HMB_FIG_FLAGGED,                /* claims with a supervision flag */
    HMB_FIG_COUNT
} hmb_fig_e;

typedef struct {
    apr_int64_t v[HMB_FIG_COUNT];
} hmb_figs_t;

/* The column and JSON name of a figure ("claims", "payout_fen"...). */
const char *hmb_fig_name(hmb_fig_e f);
/* 1 for amounts in fen. */
int hmb_fig_is_money(hmb_fig_e f);
void hmb_figs_add(hmb_figs_t *to, const hmb_figs_t *from);

typedef enum {
    HMB_DIM_ALL,                    /* one group, "" */
    HMB_DIM_HOSPITAL,               /* fixmedins_code */
    HMB_DIM_COUNTY,                 /* the enrollment's admdvs */
    HMB_DIM_LIABILITY,              /* liab_code */
    HMB_DIM_INSURER,                /* insurer_code */
    HMB_DIM_REASON,                 /* rea_code of ineligible claims */
    HMB_DIM_FLAG,                   /* supervision flag */
    HMB_DIM_COUNT
} hmb_dim_e;

/* "all", "hospital", "county", "liability", "insurer", "reason", "flag" */
const char *hmb_dim_name(hmb_dim_e d);
int hmb_dim_parse(const char *name, hmb_dim_e *d);

typedef struct {
    const char *plan_code;          /* "" for claims priced by no plan */
    int plan_year;
    const char *day;                /* YYYY-MM-DD, local */
    hmb_dim_e dim;
    const char *grp;
    hmb_figs_t f;
} hmb_rollup_row_t;

/* ---- local days --------------------------------------------------------- */

/* China Standard Time, the default of HuiminbaoUTCOffset and of
 * hmbctl --utc-offset. */
#define HMB_ROLLUP_OFFSET_DEFAULT (8 * 60)

/* "+08:00", "-05:30", "0": minutes east of UTC, -12:00 to +14:00.
 * Returns NULL or why not. */
const char *hmb_rollup_offset_parse(const char *s, int *minutes);

/* The local day (YYYY-MM-DD) of a ledger time ("YYYY-MM-DDTHH:MM:SSZ",
 * UTC, as claims are recorded), NULL when it is not one. */
const char *hmb_rollup_day(apr_pool_t *p, const char *created_at,
                           int offset_min);

/* The local day of an instant. */
const char *hmb_rollup_day_of(apr_pool_t *p, apr_time_t t, int offset_min);

/* The day n days after (n < 0: before) a valid YYYY-MM-DD. */
const char *hmb_rollup_day_add(apr_pool_t *p, const char *day, int n);

/* ---- what one claim adds ------------------------------------------------ */

/* What the rows of a claim depend on beyond the claim itself. */
typedef struct {
    const char *day;                /* its local day */
    const char *admdvs;             /* the county it counts in ("" unknown) */
    const char *flags;              /* supervision flags, "a,b" or "" */
    /* a reversal: the origin of the claim it reverses, whose payout it
     * takes back ("desk", "replay", "redecide"); NULL otherwise */
    const char *reversed_origin;
} hmb_rollup_ctx_t;

/* Whether a claim of this kind is rolled up at all (markers are not). */
int hmb_rollup_counts(const hmb_claim_t *c);

/* The rows (hmb_rollup_row_t) claim c adds, in the order of their key
 * (dim, grp): the order every writer locks them in. */
apr_array_header_t *hmb_rollup_rows(apr_pool_t *p, const hmb_claim_t *c,
                                    const hmb_rollup_ctx_t *x);

/* ---- the ledger's side (hmb_ledger_rollup.c) -------------------------- */

/* The tables: a schema migration (hmb_ledger.c runs it). */
extern const char *const hmb_rollup_schema[];
/* hmb_rollup's figures, in hmb_fig_e's order. */
#define HMB_SQL_ROLLUP_FIGS \
    " claims BIGINT NOT NULL," \
    " paid BIGINT NOT NULL," \
    " ineligible BIGINT NOT NULL," \
    " corrections BIGINT NOT NULL," \
    " reversals BIGINT NOT NULL," \
    " payout_fen BIGINT NOT NULL," \
    " reversed_fen BIGINT NOT NULL," \
    " elig_fen BIGINT NOT NULL," \
    " dedc_fen BIGINT NOT NULL," \
    " dedc_hits BIGINT NOT NULL," \
    " cap_hits BIGINT NOT NULL," \
    " replayed BIGINT NOT NULL," \
    " owed_claims BIGINT NOT NULL," \
    " owed_fen BIGINT NOT NULL," \
    " flagged BIGINT NOT NULL,"
#define HMB_SQL_ROLLUP_FIG_COLS \
    "claims, paid, ineligible, corrections, reversals, payout_fen," \
    " reversed_fen, elig_fen, dedc_fen, dedc_hits, cap_hits, replayed," \
    " owed_claims, owed_fen, flagged"

/* Part of schema version 7 (hmb_ledger.c): each row of hmb_rollup in
 * slots (HMB_ROLLUP_SLOTS in hmb_ledger_rollup.c) that the reads add up.
 * Every claim of a day adds to the same few rows (the day's "all", its
 * hospital, its liabilities), and on PostgreSQL a row being added to is
 * locked until its transaction commits: in one row, every settlement of
 * the ledger waits for the commit of the one before. A claim adds to the
 * slot its id falls in, so that concurrent ones seldom meet. */
#define HMB_ROLLUP_SCHEMA_7 \
    "CREATE TABLE hmb_rollup_v7 (" \
    " plan_code TEXT NOT NULL," \
    " plan_year INTEGER NOT NULL," \
    " day TEXT NOT NULL," \
    " dim TEXT NOT NULL," \
    " grp TEXT NOT NULL," \
    " slot INTEGER NOT NULL," \
    HMB_SQL_ROLLUP_FIGS \
    " PRIMARY KEY (plan_code, plan_year, dim, day, grp, slot))", \
    "INSERT INTO hmb_rollup_v7 (plan_code, plan_year, day, dim, grp, slot, " \
    HMB_SQL_ROLLUP_FIG_COLS ") SELECT plan_code, plan_year, day, dim, grp," \
    " 0, " HMB_SQL_ROLLUP_FIG_COLS " FROM hmb_rollup", \
    "DROP TABLE hmb_rollup", \
    "ALTER TABLE hmb_rollup_v7 RENAME TO hmb_rollup"

/* The hook in hmb_ledger_record_claim: the claim's tag (county, flags,
 * day) and its rollup rows, in the caller's transaction. created_at is
 * the time recorded with the claim. */
const char *hmb_rollup_claim(hmb_ledger_t *l, apr_pool_t *p,
                             const hmb_claim_t *c, const char *created_at);

/* The enrollments' summary (persons and premiums by plan, year, county
 * and payer), computed again; inside the import's transaction. */
const char *hmb_rollup_enrollments(hmb_ledger_t *l, apr_pool_t *p);

/* Fold the slots of the days before `before` (local, YYYY-MM-DD) into
 * slot 0, in one transaction: a day no claim is recorded on any more
 * needs its slots no longer, and the reads then add up one row per group
 * and day again. *folded gets the rows (a day and group each) that
 * slots were folded into. */
const char *hmb_rollup_fold(hmb_ledger_t *l, apr_pool_t *p, const char *before,
                            int *folded);

/* Recompute every rollup and tag day from the claims, with offset_min.
 * apply 0: change nothing, and say in *diffs (const char *, one line
 * each) where the tables differ; apply 1: replace them. *nclaims gets
 * the number of claims read. */
const char *hmb_rollup_rebuild(hmb_ledger_t *l, apr_pool_t *p, int offset_min,
                               int apply, apr_array_header_t **diffs,
                               apr_int64_t *nclaims);

/* Sums of plan_code/year from day `from` to `to` (inclusive; NULL: open)
 * in dimension dim: one row per group (by_day 0) or per day (by_day 1,
 * grp then ""), ordered by group or day. */
const char *hmb_rollup_read(hmb_ledger_t *l, apr_pool_t *p,
                            const char *plan_code, int plan_year,
                            const char *from, const char *to, hmb_dim_e dim,
                            int by_day, apr_array_header_t **rows);

/* Enrollments of plan_code/year by county and payer. */
typedef struct {
    const char *admdvs;
    const char *payer;
    apr_int64_t persons;
    hmb_fen_t premium;
} hmb_premium_row_t;

const char *hmb_rollup_premiums(hmb_ledger_t *l, apr_pool_t *p,
                                const char *plan_code, int plan_year,
                                apr_array_header_t **rows);

/* A claim as the views list it. */
typedef struct {
    const char *hmb_setl_id;
    char kind;
    const char *setl_id;
    const char *psn_no;             /* as stored: mask it before showing */
    const char *fixmedins_code;
    const char *setl_time;
    const char *day;
    const char *admdvs;
    hmb_fen_t hmb_pay;
    const char *flags;
} hmb_rollup_claim_t;

/* The k largest payouts of each of the days given (const char *), merged
 * and cut to k: O(days x k) through an index. */
const char *hmb_rollup_largest(hmb_ledger_t *l, apr_pool_t *p,
                               const char *plan_code, int plan_year,
                               const apr_array_header_t *days, int k,
                               apr_array_header_t **claims);

/* Flagged claims from day `from` to `to` (NULL: open), the latest first,
 * at most limit (0: all). */
const char *hmb_rollup_flagged(hmb_ledger_t *l, apr_pool_t *p,
                               const char *plan_code, int plan_year,
                               const char *from, const char *to, int limit,
                               apr_array_header_t **claims);

/* A person's earlier settlements for the supervision flags: kind S,
 * not reversed, setl_time from lo to hi (inclusive). */
typedef struct {
    const char *setl_id;
    const char *mdtrt_id;
    const char *setl_time;
} hmb_visit_t;

const char *hmb_rollup_visits(hmb_ledger_t *l, apr_pool_t *p,
                              const char *psn_no, const char *lo,
                              const char *hi, apr_array_header_t **visits);

/* One person's claims (every kind, markers too), in the order they were
 * recorded: for complaints. Each row is the columns of HMB_HISTORY_COLS
 * as strings (NULL for SQL NULL). Through the index on psn_no. */
#define HMB_HISTORY_COLS \
    "hmb_setl_id, kind, setl_id, reverses, setl_time, fixmedins_code," \
    " plan_code, plan_year, plan_ver, stas, rea_code, hmb_pay, origin," \
    " decided_by, why, created_at, hmbinfo"
enum {
    HMB_H_ID, HMB_H_KIND, HMB_H_SETL_ID, HMB_H_REVERSES, HMB_H_SETL_TIME,
    HMB_H_HOSPITAL, HMB_H_PLAN, HMB_H_YEAR, HMB_H_VER, HMB_H_STAS, HMB_H_REA,
    HMB_H_PAY, HMB_H_ORIGIN, HMB_H_BY, HMB_H_WHY, HMB_H_CREATED,
    HMB_H_HMBINFO, HMB_H_COUNT
};

const char *hmb_rollup_history(hmb_ledger_t *l, apr_pool_t *p,
                               const char *psn_no,
                               apr_array_header_t **rows);

/* Every settlement, correction and reversal of plan_code/year, each
 * person's in the order they were decided (psn_seq), for what-if
 * pricing: a scan of the year's claims, for hmbctl whatif only. Rows are
 * the columns of HMB_YEAR_COLS as strings. */
#define HMB_YEAR_COLS \
    "hmb_setl_id, kind, reverses, psn_no, fixmedins_code, msg"
enum {
    HMB_Y_ID, HMB_Y_KIND, HMB_Y_REVERSES, HMB_Y_PSN, HMB_Y_HOSPITAL,
    HMB_Y_MSG
};

const char *hmb_rollup_year_claims(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *plan_code, int plan_year,
                                   apr_array_header_t **rows);

#endif
