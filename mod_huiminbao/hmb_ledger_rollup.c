/* The rollups' tables and statements (hmb_rollup.h): the hook that adds
 * each claim to them in its own transaction, the rebuild from the claims,
 * and the reads every view is made of. Same SQL for SQLite and
 * PostgreSQL, parameters as strings and cast where PostgreSQL wants a
 * type, as in hmb_ledger.c. */
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "hmb_ledger_int.h"
#include "hmb_rollup.h"

#define HMB_SQL_ENROLL_FILL \
    "INSERT INTO hmb_rollup_enroll (plan_code, plan_year, admdvs, payer," \
    " persons, premium)" \
    " SELECT plan_code, plan_year, admdvs, payer, COUNT(*), SUM(premium)" \
    " FROM hmb_enrollment GROUP BY plan_code, plan_year, admdvs, payer"

/* A migration (hmb_ledger.c's version 4). hmb_rollup's columns after grp
 * are the figures. A tag is kept for each claim rolled up: what its rows
 * depend on beyond the claim (the county of the enrollment then, the
 * supervision flags), and its local day and payout for the lists of
 * largest and flagged claims. */
const char *const hmb_rollup_schema[] = {
    "CREATE TABLE IF NOT EXISTS hmb_rollup ("
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " day TEXT NOT NULL,"
    " dim TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    HMB_SQL_ROLLUP_FIGS
    " PRIMARY KEY (plan_code, plan_year, dim, day, grp))",

    "CREATE TABLE IF NOT EXISTS hmb_claim_tag ("
    " hmb_setl_id TEXT NOT NULL PRIMARY KEY,"
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " day TEXT NOT NULL,"
    " admdvs TEXT NOT NULL,"
    " pay BIGINT NOT NULL,"
    " flags TEXT NOT NULL)",

    "CREATE INDEX IF NOT EXISTS hmb_claim_tag_day"
    " ON hmb_claim_tag (plan_code, plan_year, day, pay)",

    "CREATE INDEX IF NOT EXISTS hmb_claim_tag_flagged"
    " ON hmb_claim_tag (plan_code, plan_year, day) WHERE flags <> ''",

    "CREATE TABLE IF NOT EXISTS hmb_rollup_enroll ("
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " admdvs TEXT NOT NULL,"
    " payer TEXT NOT NULL,"
    " persons BIGINT NOT NULL,"
    " premium BIGINT NOT NULL,"
    " PRIMARY KEY (plan_code, plan_year, admdvs, payer))",

    HMB_SQL_ENROLL_FILL,
    NULL
};


/* Rows of one upsert statement at most; a claim with more (many
 * liabilities or co-insurers) takes several. */
#define HMB_ROLLUP_BATCH 24
#define HMB_ROLLUP_KEYS 6

/* Slots per row on PostgreSQL (see HMB_ROLLUP_SCHEMA_7); SQLite has
 * one writer at a time and keeps everything in slot 0. */
#define HMB_ROLLUP_SLOTS 16

static const char *hmb_fen_s(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static const char *hmb_prepared(hmb_ledger_t *l, apr_pool_t *p,
                                const char *label, const char *sql,
                                apr_dbd_prepared_t **st)
{
    return hmb_ledger_prepare(l, p, label, sql, st);
}

/* INSERT ... VALUES (n rows) ON CONFLICT add: every writer adds its rows
 * in key order, so that two of them never wait for each other's. */
static const char *hmb_upsert_sql(apr_pool_t *p, int n)
{
    const char *cols = "plan_code, plan_year, day, dim, grp, slot";
    const char *one = "(%s, CAST(%s AS INTEGER), %s, %s, %s,"
                      " CAST(%s AS INTEGER)";
    const char *set = "", *values = "";
    int i, k;

    for (k = 0; k < HMB_FIG_COUNT; k++) {
        const char *name = hmb_fig_name((hmb_fig_e)k);

        cols = apr_pstrcat(p, cols, ", ", name, NULL);
        one = apr_pstrcat(p, one, ", CAST(%s AS BIGINT)", NULL);
        set = apr_pstrcat(p, set, k ? ", " : "", name, " = hmb_rollup.",
                          name, " + excluded.", name, NULL);
    }
    one = apr_pstrcat(p, one, ")", NULL);
    for (i = 0; i < n; i++) {
        values = apr_pstrcat(p, values, i ? ", " : "", one, NULL);
    }
    return apr_pstrcat(p, "INSERT INTO hmb_rollup (", cols, ") VALUES ",
                       values, " ON CONFLICT (plan_code, plan_year, dim,"
                       " day, grp, slot) DO UPDATE SET ", set, NULL);
}

static void hmb_row_args(apr_pool_t *p, const hmb_rollup_row_t *r,
                         const char *slot, const char **args)
{
    int k;

    args[0] = r->plan_code;
    args[1] = apr_itoa(p, r->plan_year);
    args[2] = r->day;
    args[3] = hmb_dim_name(r->dim);
    args[4] = r->grp;
    args[5] = slot;
    for (k = 0; k < HMB_FIG_COUNT; k++) {
        args[HMB_ROLLUP_KEYS + k] = hmb_fen_s(p, r->f.v[k]);
    }
}

/* The slot a claim adds to: its id's, so that a claim is always in the
 * same one. */
static const char *hmb_slot(hmb_ledger_t *l, apr_pool_t *p, const char *id)
{
    unsigned int h = 5381;

    if (hmb_ledger_is_sqlite(l) || !id) {
        return "0";
    }
    for (; *id; id++) {
        h = h * 33 + (unsigned char)*id;
    }
    return apr_itoa(p, (int)(h % HMB_ROLLUP_SLOTS));
}

/* Add rows (hmb_rollup_row_t, in key order) to hmb_rollup, in a slot. */
static const char *hmb_rollup_add(hmb_ledger_t *l, apr_pool_t *p,
                                  const apr_array_header_t *rows,
                                  const char *slot)
{
    const int width = HMB_ROLLUP_KEYS + HMB_FIG_COUNT;
    const char *err;
    int at, i;

    for (at = 0; at < rows->nelts; at += HMB_ROLLUP_BATCH) {
        int n = rows->nelts - at;
        apr_dbd_prepared_t *st;
        const char **args;

        if (n > HMB_ROLLUP_BATCH) {
            n = HMB_ROLLUP_BATCH;
        }
        if ((err = hmb_prepared(l, p, apr_psprintf(p, "hmb_rollup_add_%d",
                                                   n),
                                hmb_upsert_sql(p, n), &st))) {
            return err;
        }
        args = apr_palloc(p, sizeof(*args) * width * n);
        for (i = 0; i < n; i++) {
            hmb_row_args(p, &APR_ARRAY_IDX(rows, at + i, hmb_rollup_row_t),
                         slot, args + i * width);
        }
        if ((err = hmb_ledger_run(l, p, "add to hmb_rollup", st, NULL,
                                  args))) {
            return err;
        }
    }
    return NULL;
}

#define HMB_SQL_REVERSED \
    "SELECT c.origin, t.admdvs FROM hmb_claim c" \
    " LEFT JOIN hmb_claim_tag t ON t.hmb_setl_id = c.hmb_setl_id" \
    " WHERE c.hmb_setl_id = %s"

#define HMB_SQL_TAG \
    "INSERT INTO hmb_claim_tag (hmb_setl_id, plan_code, plan_year, day," \
    " admdvs, pay, flags) VALUES (%s, %s, CAST(%s AS INTEGER), %s, %s," \
    " CAST(%s AS BIGINT), %s)"

const char *hmb_rollup_claim(hmb_ledger_t *l, apr_pool_t *p,
                             const hmb_claim_t *c, const char *created_at)
{
    hmb_rollup_ctx_t x;
    apr_dbd_prepared_t *st;
    const char *args[7];
    const char *err;

    if (!hmb_rollup_counts(c)) {
        return NULL;
    }
    memset(&x, 0, sizeof(x));
    x.day = hmb_rollup_day(p, created_at, l->utc_offset_min);
    x.admdvs = c->admdvs ? c->admdvs : "";
    x.flags = c->kind != 'R' && c->flags ? c->flags : "";
    if (!x.day) {
        return apr_psprintf(p, "ledger: cannot tell the day of %s",
                            created_at);
    }
    if (c->kind == 'R' && c->reverses) {
        /* a reversal counts where its claim counted, and takes back what
         * was owed when that claim was paid after the desk */
        apr_array_header_t *rows;

        args[0] = c->reverses;
        if ((err = hmb_prepared(l, p, "hmb_rollup_reversed",
                                HMB_SQL_REVERSED, &st))
            || (err = hmb_ledger_rows(l, p, "select reversed claim", st,
                                      args, &rows))) {
            return err;
        }
        if (rows->nelts) {
            const char **v = APR_ARRAY_IDX(rows, 0, const char **);

            x.reversed_origin = v[0] ? v[0] : "desk";
            x.admdvs = v[1] ? v[1] : x.admdvs;
        }
    }
    args[0] = c->hmb_setl_id;
    args[1] = c->plan_code ? c->plan_code : "";
    args[2] = apr_itoa(p, c->plan_year);
    args[3] = x.day;
    args[4] = x.admdvs;
    args[5] = hmb_fen_s(p, c->hmb_pay);
    args[6] = x.flags;
    if ((err = hmb_prepared(l, p, "hmb_claim_tag_insert", HMB_SQL_TAG, &st))
        || (err = hmb_ledger_run(l, p, "insert hmb_claim_tag", st, NULL,
                                 args))) {
        return err;
    }
    return hmb_rollup_add(l, p, hmb_rollup_rows(p, c, &x),
                          hmb_slot(l, p, c->hmb_setl_id));
}

/* A statement without parameters. */
static const char *hmb_exec(hmb_ledger_t *l, apr_pool_t *p, const char *label,
                            const char *sql)
{
    apr_dbd_prepared_t *st;
    const char *args[1] = {NULL};
    const char *err;

    if ((err = hmb_prepared(l, p, label, sql, &st))) {
        return err;
    }
    return hmb_ledger_run(l, p, label, st, NULL, args);
}

const char *hmb_rollup_enrollments(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;

    if ((err = hmb_exec(l, p, "hmb_rollup_enroll_clear",
                        "DELETE FROM hmb_rollup_enroll"))) {
        return err;
    }
    return hmb_exec(l, p, "hmb_rollup_enroll_fill", HMB_SQL_ENROLL_FILL);
}

/* ---- reading ------------------------------------------------------------- */

static const char *hmb_i64(apr_pool_t *p, const char *what, const char *s,
                           apr_int64_t *out)
{
    char *end;

    *out = s && *s ? apr_strtoi64(s, &end, 10) : 0;
    if (s && *s && *end) {
        return apr_psprintf(p, "ledger: %s holds \"%s\", not an integer",
                            what, s);
    }
    return NULL;
}

/* Figures from columns first.. of v. */
static const char *hmb_figs_of(apr_pool_t *p, const char **v, int first,
                               hmb_figs_t *f)
{
    const char *err;
    int k;

    for (k = 0; k < HMB_FIG_COUNT; k++) {
        if ((err = hmb_i64(p, hmb_fig_name((hmb_fig_e)k), v[first + k],
                           &f->v[k]))) {
            return err;
        }
    }
    return NULL;
}

static const char *hmb_sums(apr_pool_t *p)
{
    const char *s = "";
    int k;

    for (k = 0; k < HMB_FIG_COUNT; k++) {
        s = apr_pstrcat(p, s, ", SUM(", hmb_fig_name((hmb_fig_e)k), ")",
                        NULL);
    }
    return s;
}

const char *hmb_rollup_read(hmb_ledger_t *l, apr_pool_t *p,
                            const char *plan_code, int plan_year,
                            const char *from, const char *to, hmb_dim_e dim,
                            int by_day, apr_array_header_t **out)
{
    const char *key = by_day ? "day" : "grp";
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[5], *err;
    int i;

    *out = apr_array_make(p, 16, sizeof(hmb_rollup_row_t));
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    args[2] = hmb_dim_name(dim);
    args[3] = from ? from : "0000-00-00";
    args[4] = to ? to : "9999-99-99";
    if ((err = hmb_prepared(l, p, by_day ? "hmb_rollup_by_day"
                                         : "hmb_rollup_by_grp",
                            apr_pstrcat(p, "SELECT ", key, hmb_sums(p),
                                        " FROM hmb_rollup"
                                        " WHERE plan_code = %s"
                                        " AND plan_year = CAST(%s AS INTEGER)"
                                        " AND dim = %s AND day >= %s"
                                        " AND day <= %s GROUP BY ", key,
                                        " ORDER BY ", key, NULL), &st))
        || (err = hmb_ledger_rows(l, p, "select hmb_rollup", st, args,
                                  &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_rollup_row_t *r = apr_array_push(*out);

        memset(r, 0, sizeof(*r));
        r->plan_code = plan_code;
        r->plan_year = plan_year;
        r->dim = dim;
        r->day = by_day ? v[0] : NULL;
        r->grp = by_day ? "" : (v[0] ? v[0] : "");
        if ((err = hmb_figs_of(p, v, 1, &r->f))) {
            return err;
        }
    }
    return NULL;
}

const char *hmb_rollup_premiums(hmb_ledger_t *l, apr_pool_t *p,
                                const char *plan_code, int plan_year,
                                apr_array_header_t **out)
{
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[2], *err;
    int i;

    *out = apr_array_make(p, 8, sizeof(hmb_premium_row_t));
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    if ((err = hmb_prepared(l, p, "hmb_rollup_premiums",
                            "SELECT admdvs, payer, persons, premium"
                            " FROM hmb_rollup_enroll WHERE plan_code = %s"
                            " AND plan_year = CAST(%s AS INTEGER)"
                            " ORDER BY admdvs, payer", &st))
        || (err = hmb_ledger_rows(l, p, "select hmb_rollup_enroll", st, args,
                                  &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_premium_row_t *r = apr_array_push(*out);

        r->admdvs = v[0] ? v[0] : "";
        r->payer = v[1] ? v[1] : "";
        if ((err = hmb_i64(p, "persons", v[2], &r->persons))
            || (err = hmb_i64(p, "premium", v[3], &r->premium))) {
            return err;
        }
    }
    return NULL;
}

#define HMB_CLAIM_COLS \
    "t.hmb_setl_id, c.kind, c.setl_id, c.psn_no, c.fixmedins_code," \
    " c.setl_time, t.day, t.admdvs, t.pay, t.flags"

static const char *hmb_claims_of(apr_pool_t *p, apr_array_header_t *rows,
                                 apr_array_header_t *out)
{
    const char *err;
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_rollup_claim_t *c = apr_array_push(out);

        c->hmb_setl_id = v[0];
        c->kind = v[1] ? v[1][0] : '?';
        c->setl_id = v[2];
        c->psn_no = v[3];
        c->fixmedins_code = v[4];
        c->setl_time = v[5];
        c->day = v[6];
        c->admdvs = v[7];
        if ((err = hmb_i64(p, "pay", v[8], &c->hmb_pay))) {
            return err;
        }
        c->flags = v[9] ? v[9] : "";
    }
    return NULL;
}

static int hmb_larger_first(const void *a, const void *b)
{
    const hmb_rollup_claim_t *x = a, *y = b;

    if (x->hmb_pay != y->hmb_pay) {
        return x->hmb_pay > y->hmb_pay ? -1 : 1;
    }
    return strcmp(x->hmb_setl_id, y->hmb_setl_id);
}

const char *hmb_rollup_largest(hmb_ledger_t *l, apr_pool_t *p,
                               const char *plan_code, int plan_year,
                               const apr_array_header_t *days, int k,
                               apr_array_header_t **out)
{
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[3], *err;
    int i;

    *out = apr_array_make(p, k + 1, sizeof(hmb_rollup_claim_t));
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    /* one day at a time, down the index (plan, year, day, pay) */
    if ((err = hmb_prepared(l, p, apr_psprintf(p, "hmb_rollup_largest_%d",
                                               k),
                            apr_psprintf(p, "SELECT " HMB_CLAIM_COLS
                                         " FROM hmb_claim_tag t"
                                         " JOIN hmb_claim c"
                                         " ON c.hmb_setl_id = t.hmb_setl_id"
                                         " WHERE t.plan_code = %%s"
                                         " AND t.plan_year ="
                                         " CAST(%%s AS INTEGER)"
                                         " AND t.day = %%s AND t.pay > 0"
                                         " ORDER BY t.pay DESC LIMIT %d", k),
                            &st))) {
        return err;
    }
    for (i = 0; i < days->nelts; i++) {
        args[2] = APR_ARRAY_IDX(days, i, const char *);
        if ((err = hmb_ledger_rows(l, p, "select largest claims", st, args,
                                   &rows))
            || (err = hmb_claims_of(p, rows, *out))) {
            return err;
        }
    }
    qsort((*out)->elts, (*out)->nelts, sizeof(hmb_rollup_claim_t),
          hmb_larger_first);
    if ((*out)->nelts > k) {
        (*out)->nelts = k;
    }
    return NULL;
}

const char *hmb_rollup_flagged(hmb_ledger_t *l, apr_pool_t *p,
                               const char *plan_code, int plan_year,
                               const char *from, const char *to, int limit,
                               apr_array_header_t **out)
{
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[4], *err;

    *out = apr_array_make(p, 8, sizeof(hmb_rollup_claim_t));
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    args[2] = from ? from : "0000-00-00";
    args[3] = to ? to : "9999-99-99";
    if ((err = hmb_prepared(l, p, apr_psprintf(p, "hmb_rollup_flagged_%d",
                                               limit),
                            apr_pstrcat(p, "SELECT " HMB_CLAIM_COLS
                                        " FROM hmb_claim_tag t"
                                        " JOIN hmb_claim c"
                                        " ON c.hmb_setl_id = t.hmb_setl_id"
                                        " WHERE t.plan_code = %s"
                                        " AND t.plan_year ="
                                        " CAST(%s AS INTEGER)"
                                        " AND t.day >= %s AND t.day <= %s"
                                        " AND t.flags <> ''"
                                        " ORDER BY t.day DESC,"
                                        " t.hmb_setl_id DESC",
                                        limit > 0 ? apr_psprintf(p,
                                            " LIMIT %d", limit) : "",
                                        NULL), &st))
        || (err = hmb_ledger_rows(l, p, "select flagged claims", st, args,
                                  &rows))) {
        return err;
    }
    return hmb_claims_of(p, rows, *out);
}

const char *hmb_rollup_visits(hmb_ledger_t *l, apr_pool_t *p,
                              const char *psn_no, const char *lo,
                              const char *hi, apr_array_header_t **out)
{
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[3], *err;
    int i;

    *out = apr_array_make(p, 4, sizeof(hmb_visit_t));
    args[0] = psn_no;
    args[1] = lo;
    args[2] = hi;
    if ((err = hmb_prepared(l, p, "hmb_rollup_visits",
                            "SELECT c.setl_id, c.mdtrt_id, c.setl_time"
                            " FROM hmb_claim c WHERE c.psn_no = %s"
                            " AND c.kind = 'S' AND c.setl_time >= %s"
                            " AND c.setl_time <= %s AND NOT EXISTS"
                            " (SELECT 1 FROM hmb_claim r WHERE r.kind = 'R'"
                            " AND r.setl_id = c.setl_id AND r.mark = '')"
                            " ORDER BY c.setl_time", &st))
        || (err = hmb_ledger_rows(l, p, "select visits", st, args, &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_visit_t *vi = apr_array_push(*out);

        vi->setl_id = v[0];
        vi->mdtrt_id = v[1];
        vi->setl_time = v[2];
    }
    return NULL;
}

const char *hmb_rollup_history(hmb_ledger_t *l, apr_pool_t *p,
                               const char *psn_no, apr_array_header_t **rows)
{
    const char *args[1];

    args[0] = psn_no;
    return hmb_ledger_sql_query(l, p, "select a person's claims",
                                "SELECT " HMB_HISTORY_COLS " FROM hmb_claim"
                                " WHERE psn_no = %s"
                                " ORDER BY created_at, plan_code, psn_seq,"
                                " hmb_setl_id", args, rows);
}

const char *hmb_rollup_year_claims(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *plan_code, int plan_year,
                                   apr_array_header_t **rows)
{
    const char *args[2];

    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    return hmb_ledger_sql_query(l, p, "select the year's claims",
                                "SELECT " HMB_YEAR_COLS " FROM hmb_claim"
                                " WHERE plan_code = %s"
                                " AND plan_year = CAST(%s AS INTEGER)"
                                " AND kind IN ('S', 'C', 'R')"
                                " ORDER BY psn_no, psn_seq", args, rows);
}

/* ---- rebuild ------------------------------------------------------------- */

#define HMB_REBUILD_PAGE 2000

typedef struct {
    apr_pool_t *p;
    apr_hash_t *rows;               /* key -> hmb_rollup_row_t * */
    apr_hash_t *tags;               /* hmb_setl_id -> "day|pay" (changes) */
    apr_array_header_t *tag_fix;    /* const char *[3]: id, day */
} hmb_rebuild_t;

static const char *hmb_row_key(apr_pool_t *p, const hmb_rollup_row_t *r)
{
    return apr_psprintf(p, "%s\t%d\t%s\t%s\t%s", r->plan_code, r->plan_year,
                        hmb_dim_name(r->dim), r->day, r->grp);
}

static void hmb_rebuild_add(hmb_rebuild_t *b, const apr_array_header_t *rows)
{
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i,
                                                   hmb_rollup_row_t);
        const char *key = hmb_row_key(b->p, r);
        hmb_rollup_row_t *have = apr_hash_get(b->rows, key,
                                              APR_HASH_KEY_STRING);
        if (!have) {
            have = apr_pmemdup(b->p, r, sizeof(*r));
            have->plan_code = apr_pstrdup(b->p, r->plan_code);
            have->day = apr_pstrdup(b->p, r->day);
            have->grp = apr_pstrdup(b->p, r->grp);
            apr_hash_set(b->rows, key, APR_HASH_KEY_STRING, have);
        }
        else {
            hmb_figs_add(&have->f, &r->f);
        }
    }
}

/* One page of claims after hmb_setl_id `after`, with their tags and, for
 * reversals, what the reversed claim's tag says. */
#define HMB_SQL_PAGE \
    "SELECT c.hmb_setl_id, c.kind, c.plan_code, c.plan_year, c.stas," \
    " c.rea_code, c.hmb_pay, c.fixmedins_code, c.origin, c.created_at," \
    " t.admdvs, t.flags, o.origin, ot.admdvs, t.day" \
    " FROM hmb_claim c" \
    " LEFT JOIN hmb_claim_tag t ON t.hmb_setl_id = c.hmb_setl_id" \
    " LEFT JOIN hmb_claim o ON o.hmb_setl_id = c.reverses" \
    " LEFT JOIN hmb_claim_tag ot ON ot.hmb_setl_id = c.reverses" \
    " WHERE c.hmb_setl_id > %s AND c.kind IN ('S', 'C', 'R')" \
    " ORDER BY c.hmb_setl_id LIMIT 2000"

#define HMB_SQL_PAGE_LIABS \
    "SELECT hmb_setl_id, liab_code, elig_amt, dedc_amt, pay_prop, pay_amt" \
    " FROM hmb_claim_liab WHERE hmb_setl_id > %s AND hmb_setl_id <= %s" \
    " ORDER BY hmb_setl_id, seq"

#define HMB_SQL_PAGE_INSURERS \
    "SELECT hmb_setl_id, insurer_code, pay_amt FROM hmb_claim_insurer" \
    " WHERE hmb_setl_id > %s AND hmb_setl_id <= %s" \
    " ORDER BY hmb_setl_id, seq"

/* A page's detail rows (liabilities or insurers) by hmb_setl_id. */
static const char *hmb_page_details(hmb_ledger_t *l, apr_pool_t *p,
                                    const char *label, const char *sql,
                                    const char *after, const char *last,
                                    apr_hash_t **by_id)
{
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    const char *args[2], *err;
    int i;

    args[0] = after;
    args[1] = last;
    *by_id = apr_hash_make(p);
    if ((err = hmb_prepared(l, p, label, sql, &st))
        || (err = hmb_ledger_rows(l, p, label, st, args, &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        apr_array_header_t *list = apr_hash_get(*by_id, v[0],
                                                APR_HASH_KEY_STRING);
        if (!list) {
            list = apr_array_make(p, 4, sizeof(const char **));
            apr_hash_set(*by_id, v[0], APR_HASH_KEY_STRING, list);
        }
        APR_ARRAY_PUSH(list, const char **) = v;
    }
    return NULL;
}

/* Claim c as the rollups see it, from a page row and its details. */
static const char *hmb_page_claim(apr_pool_t *p, const char **v,
                                  apr_hash_t *liabs, apr_hash_t *insurers,
                                  hmb_claim_t *c)
{
    apr_array_header_t *list;
    apr_int64_t year = 0;
    const char *err;
    int i;

    memset(c, 0, sizeof(*c));
    c->hmb_setl_id = v[0];
    c->kind = v[1] ? v[1][0] : '?';
    c->plan_code = v[2] && *v[2] ? v[2] : NULL;
    if ((err = hmb_i64(p, "plan_year", v[3], &year))
        || (err = hmb_i64(p, "hmb_pay", v[6], &c->hmb_pay))) {
        return err;
    }
    c->plan_year = (int)year;
    if (!hmb_stas_parse(v[4], &c->stas) || !hmb_rea_parse(v[5], &c->rea)) {
        return apr_psprintf(p, "ledger: claim %s has a status or reason "
                            "unknown to this build", c->hmb_setl_id);
    }
    c->fixmedins_code = v[7];
    c->origin = v[8];
    c->created_at = v[9];
    c->liabs = apr_array_make(p, 4, sizeof(hmb_claim_liab_t));
    c->insurers = apr_array_make(p, 4, sizeof(hmb_insurer_result_t));
    list = apr_hash_get(liabs, c->hmb_setl_id, APR_HASH_KEY_STRING);
    for (i = 0; list && i < list->nelts; i++) {
        const char **d = APR_ARRAY_IDX(list, i, const char **);
        hmb_claim_liab_t *r = apr_array_push(c->liabs);
        apr_int64_t prop = 0;

        memset(r, 0, sizeof(*r));
        r->liab_code = d[1];
        if ((err = hmb_i64(p, "elig_amt", d[2], &r->elig_amt))
            || (err = hmb_i64(p, "dedc_amt", d[3], &r->dedc_amt))
            || (err = hmb_i64(p, "pay_prop", d[4], &prop))
            || (err = hmb_i64(p, "pay_amt", d[5], &r->pay_amt))) {
            return err;
        }
        r->pay_prop = (hmb_ratio_t)prop;
    }
    list = apr_hash_get(insurers, c->hmb_setl_id, APR_HASH_KEY_STRING);
    for (i = 0; list && i < list->nelts; i++) {
        const char **d = APR_ARRAY_IDX(list, i, const char **);
        hmb_insurer_result_t *r = apr_array_push(c->insurers);

        memset(r, 0, sizeof(*r));
        r->insurer_code = d[1];
        if ((err = hmb_i64(p, "pay_amt", d[2], &r->pay_amt))) {
            return err;
        }
    }
    return NULL;
}

/* Every claim read once, page by page, into b. */
static const char *hmb_rebuild_read(hmb_ledger_t *l, apr_pool_t *p,
                                    int offset_min, hmb_rebuild_t *b,
                                    apr_int64_t *nclaims)
{
    const char *after = "", *err;
    apr_dbd_prepared_t *st;
    apr_pool_t *pp;

    if ((err = hmb_prepared(l, p, "hmb_rollup_page", HMB_SQL_PAGE, &st))) {
        return err;
    }
    apr_pool_create(&pp, p);
    for (;;) {
        apr_array_header_t *rows;
        apr_hash_t *liabs, *insurers;
        const char *args[1], *last;
        int i;

        apr_pool_clear(pp);
        args[0] = after;
        if ((err = hmb_ledger_rows(l, pp, "select claims", st, args, &rows))) {
            break;
        }
        if (!rows->nelts) {
            break;
        }
        last = APR_ARRAY_IDX(rows, rows->nelts - 1, const char **)[0];
        if ((err = hmb_page_details(l, pp, "hmb_rollup_page_liabs",
                                    HMB_SQL_PAGE_LIABS, after, last, &liabs))
            || (err = hmb_page_details(l, pp, "hmb_rollup_page_insurers",
                                       HMB_SQL_PAGE_INSURERS, after, last,
                                       &insurers))) {
            break;
        }
        for (i = 0; !err && i < rows->nelts; i++) {
            const char **v = APR_ARRAY_IDX(rows, i, const char **);
            hmb_rollup_ctx_t x;
            hmb_claim_t c;

            if ((err = hmb_page_claim(pp, v, liabs, insurers, &c))) {
                break;
            }
            memset(&x, 0, sizeof(x));
            x.day = hmb_rollup_day(pp, c.created_at, offset_min);
            if (!x.day) {
                err = apr_psprintf(p, "ledger: claim %s: created_at \"%s\" "
                                   "is not a time", c.hmb_setl_id,
                                   c.created_at ? c.created_at : "");
                break;
            }
            x.admdvs = v[10] ? v[10] : "";
            x.flags = v[11] ? v[11] : "";
            if (c.kind == 'R') {
                x.reversed_origin = v[12] ? v[12] : NULL;
                x.admdvs = v[13] ? v[13] : x.admdvs;
                x.flags = "";
            }
            hmb_rebuild_add(b, hmb_rollup_rows(pp, &c, &x));
            if (!v[14] || strcmp(v[14], x.day)) {
                const char **fix = apr_palloc(b->p, sizeof(*fix) * 2);

                fix[0] = apr_pstrdup(b->p, c.hmb_setl_id);
                fix[1] = apr_pstrdup(b->p, x.day);
                APR_ARRAY_PUSH(b->tag_fix, const char **) = fix;
            }
            (*nclaims)++;
        }
        if (err) {
            break;
        }
        after = apr_pstrdup(p, last);
    }
    apr_pool_destroy(pp);
    return err;
}

static int hmb_figs_equal(const hmb_figs_t *a, const hmb_figs_t *b)
{
    return !memcmp(a->v, b->v, sizeof(a->v));
}

/* What the tables hold against what the claims give. */
static const char *hmb_rebuild_compare(hmb_ledger_t *l, apr_pool_t *p,
                                       hmb_rebuild_t *b,
                                       apr_array_header_t *diffs)
{
    apr_hash_t *seen = apr_hash_make(p);
    apr_array_header_t *rows;
    apr_dbd_prepared_t *st;
    apr_hash_index_t *hi;
    const char *args[1] = {NULL}, *err;
    int i;

    /* the slots of a row added up, as every read does */
    if ((err = hmb_prepared(l, p, "hmb_rollup_all",
                            apr_pstrcat(p, "SELECT plan_code, plan_year, day,"
                                        " dim, grp", hmb_sums(p),
                                        " FROM hmb_rollup GROUP BY plan_code,"
                                        " plan_year, day, dim, grp", NULL),
                            &st))
        || (err = hmb_ledger_rows(l, p, "select hmb_rollup", st, args,
                                  &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_rollup_row_t r, *want;
        apr_int64_t year = 0;
        const char *key;

        memset(&r, 0, sizeof(r));
        r.plan_code = v[0];
        if ((err = hmb_i64(p, "plan_year", v[1], &year))
            || (err = hmb_figs_of(p, v, 5, &r.f))) {
            return err;
        }
        r.plan_year = (int)year;
        r.day = v[2];
        if (!hmb_dim_parse(v[3], &r.dim)) {
            r.dim = HMB_DIM_COUNT;
        }
        r.grp = v[4];
        key = apr_psprintf(p, "%s\t%d\t%s\t%s\t%s", r.plan_code, r.plan_year,
                           v[3], r.day, r.grp);
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, "");
        want = apr_hash_get(b->rows, key, APR_HASH_KEY_STRING);
        if (!want || !hmb_figs_equal(&want->f, &r.f)) {
            APR_ARRAY_PUSH(diffs, const char *) =
                apr_psprintf(p, "%s: %s", want ? "differs" : "not from any "
                             "claim", key);
        }
    }
    for (hi = apr_hash_first(p, b->rows); hi; hi = apr_hash_next(hi)) {
        const char *key = apr_hash_this_key(hi);

        if (!apr_hash_get(seen, key, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(diffs, const char *) =
                apr_psprintf(p, "missing: %s", key);
        }
    }
    for (i = 0; i < b->tag_fix->nelts; i++) {
        const char **fix = APR_ARRAY_IDX(b->tag_fix, i, const char **);

        APR_ARRAY_PUSH(diffs, const char *) =
            apr_psprintf(p, "tag of %s: day is not %s", fix[0], fix[1]);
    }
    return NULL;
}

static const char *hmb_rebuild_write(hmb_ledger_t *l, apr_pool_t *p,
                                     hmb_rebuild_t *b)
{
    apr_array_header_t *rows = apr_array_make(p, apr_hash_count(b->rows) + 1,
                                              sizeof(hmb_rollup_row_t));
    apr_dbd_prepared_t *st;
    apr_hash_index_t *hi;
    const char *err;
    int i;

    if ((err = hmb_exec(l, p, "hmb_rollup_clear", "DELETE FROM hmb_rollup"))) {
        return err;
    }
    for (hi = apr_hash_first(p, b->rows); hi; hi = apr_hash_next(hi)) {
        APR_ARRAY_PUSH(rows, hmb_rollup_row_t) =
            *(hmb_rollup_row_t *)apr_hash_this_val(hi);
    }
    if ((err = hmb_rollup_add(l, p, rows, "0"))) {
        return err;
    }
    if ((err = hmb_prepared(l, p, "hmb_claim_tag_day",
                            "UPDATE hmb_claim_tag SET day = %s"
                            " WHERE hmb_setl_id = %s", &st))) {
        return err;
    }
    for (i = 0; i < b->tag_fix->nelts; i++) {
        const char **fix = APR_ARRAY_IDX(b->tag_fix, i, const char **);
        const char *args[2];

        args[0] = fix[1];
        args[1] = fix[0];
        if ((err = hmb_ledger_run(l, p, "update hmb_claim_tag", st, NULL,
                                  args))) {
            return err;
        }
    }
    return hmb_rollup_enrollments(l, p);
}

/* ---- folding the slots of past days ------------------------------------- */

const char *hmb_rollup_fold(hmb_ledger_t *l, apr_pool_t *p, const char *before,
                            int *folded)
{
    const char *keys = "plan_code, plan_year, day, dim, grp";
    const char *args[1], *err, *sql;
    apr_array_header_t *rows, *sums;
    apr_dbd_prepared_t *st;
    int i, k;

    *folded = 0;
    args[0] = before;
    if ((err = hmb_ledger_begin(l, p))) {
        return err;
    }
    if (!hmb_ledger_is_sqlite(l)) {
        /* one statement: a row is added to slot 0 only by whoever deleted
         * it, so two folds at once never count one twice */
        const char *set = "";

        for (k = 0; k < HMB_FIG_COUNT; k++) {
            const char *name = hmb_fig_name((hmb_fig_e)k);

            set = apr_pstrcat(p, set, k ? ", " : "", name, " = hmb_rollup.",
                              name, " + excluded.", name, NULL);
        }
        sql = apr_pstrcat(p, "WITH moved AS (DELETE FROM hmb_rollup"
                          " WHERE day < %s AND slot <> 0 RETURNING *)"
                          " INSERT INTO hmb_rollup (", keys, ", slot, "
                          HMB_SQL_ROLLUP_FIG_COLS ") SELECT ", keys, ", 0",
                          hmb_sums(p), " FROM moved GROUP BY ", keys,
                          " ORDER BY ", keys, " ON CONFLICT (plan_code,"
                          " plan_year, dim, day, grp, slot) DO UPDATE SET ",
                          set, NULL);
        if ((err = hmb_prepared(l, p, "hmb_rollup_fold", sql, &st))
            || (err = hmb_ledger_run(l, p, "fold hmb_rollup", st, folded,
                                     args))) {
            hmb_ledger_rollback(l, p);
            return err;
        }
        return hmb_ledger_commit(l, p);
    }
    /* SQLite: the writer lock keeps the transaction alone */
    sql = apr_pstrcat(p, "SELECT ", keys, hmb_sums(p), " FROM hmb_rollup"
                      " WHERE day < %s AND slot <> 0 GROUP BY ", keys,
                      " ORDER BY ", keys, NULL);
    if ((err = hmb_prepared(l, p, "hmb_rollup_fold_read", sql, &st))
        || (err = hmb_ledger_rows(l, p, "select hmb_rollup", st, args,
                                  &rows))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    sums = apr_array_make(p, rows->nelts + 1, sizeof(hmb_rollup_row_t));
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_rollup_row_t *r = apr_array_push(sums);
        apr_int64_t year = 0;

        memset(r, 0, sizeof(*r));
        r->plan_code = v[0];
        r->day = v[2];
        r->grp = v[4];
        if ((err = hmb_i64(p, "plan_year", v[1], &year))
            || !hmb_dim_parse(v[3], &r->dim)
            || (err = hmb_figs_of(p, v, 5, &r->f))) {
            hmb_ledger_rollback(l, p);
            return err ? err : apr_psprintf(p, "ledger: hmb_rollup has dim"
                                            " \"%s\"", v[3]);
        }
        r->plan_year = (int)year;
    }
    if ((err = hmb_prepared(l, p, "hmb_rollup_fold_delete",
                            "DELETE FROM hmb_rollup WHERE day < %s"
                            " AND slot <> 0", &st))
        || (err = hmb_ledger_run(l, p, "fold hmb_rollup", st, NULL, args))
        || (err = hmb_rollup_add(l, p, sums, "0"))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    *folded = sums->nelts;
    return hmb_ledger_commit(l, p);
}

const char *hmb_rollup_rebuild(hmb_ledger_t *l, apr_pool_t *p, int offset_min,
                               int apply, apr_array_header_t **diffs,
                               apr_int64_t *nclaims)
{
    hmb_rebuild_t b;
    const char *err;

    *diffs = apr_array_make(p, 4, sizeof(const char *));
    *nclaims = 0;
    memset(&b, 0, sizeof(b));
    b.p = p;
    b.rows = apr_hash_make(p);
    b.tag_fix = apr_array_make(p, 4, sizeof(const char **));
    /* one transaction: a consistent reading, and all replaced or none */
    if ((err = hmb_ledger_begin(l, p))) {
        return err;
    }
    if ((err = hmb_rebuild_read(l, p, offset_min, &b, nclaims))
        || (err = hmb_rebuild_compare(l, p, &b, *diffs))
        || (apply && (err = hmb_rebuild_write(l, p, &b)))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    if (!apply) {
        hmb_ledger_rollback(l, p);
        return NULL;
    }
    return hmb_ledger_commit(l, p);
}
