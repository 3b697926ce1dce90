/* Bulk enrollment import (docs/ledger.md, "Bulk import").
 *
 * A province's file holds millions of rows: one upsert statement per row
 * costs a round trip each (1,000,000 rows took 2 min 22 s on
 * PostgreSQL). Rows are staged instead into a temporary table of the
 * connection, PostgreSQL's by COPY (libpq's PQputCopyData, on the
 * connection apr_dbd opened, inside its transaction) and SQLite's by
 * prepared inserts of BULK_BATCH rows, then merged by set statements: the
 * database joins the file with the ledger once. Memory stays constant: a
 * COPY buffer or one batch. */
#include <string.h>
#include <apr_strings.h>
#include <libpq-fe.h>

#include "hmb_ledger_bulk.h"
#include "hmb_ledger_int.h"
#include "hmb_util.h"

#define BULK_COLS 10
#define BULK_BATCH 50               /* 500 parameters: under any SQLite's
                                     * limit (999 before 3.32) */
#define BULK_COPY_BUF (256 * 1024)

struct hmb_bulk_t {
    hmb_ledger_t *l;
    apr_pool_t *p;
    apr_pool_t *rp;                 /* a batch's strings */
    PGconn *pg;                     /* COPY in progress, or NULL */
    char *buf;                      /* PostgreSQL: COPY text */
    apr_size_t len;
    const char **args;              /* SQLite: a batch's values */
    int n;                          /* rows in the batch */
    apr_int64_t rows;
};

static const char *const sql_stage_create =
    "CREATE TEMP TABLE IF NOT EXISTS hmb_enroll_stage ("
    " plan_code TEXT NOT NULL, plan_year INTEGER NOT NULL,"
    " psn_no TEXT NOT NULL, cover_from TEXT NOT NULL,"
    " preexisting INTEGER NOT NULL, person_class TEXT,"
    " admdvs TEXT NOT NULL, payer TEXT NOT NULL, premium BIGINT NOT NULL,"
    " line INTEGER NOT NULL)";

#define BULK_JOIN \
    " e.plan_code = s.plan_code AND e.plan_year = s.plan_year" \
    " AND e.psn_no = s.psn_no"
/* the ledger's row e differs from the file's s (person_class NULL when
 * empty on both sides) */
#define BULK_CHANGED \
    " (e.cover_from <> s.cover_from OR e.preexisting <> s.preexisting" \
    " OR COALESCE(e.person_class, '') <> COALESCE(s.person_class, '')" \
    " OR e.admdvs <> s.admdvs OR e.payer <> s.payer" \
    " OR e.premium <> s.premium)"

/* the first line that repeats an earlier one's person, with the first */
static const char *const sql_dup =
    "SELECT line, first_line, psn_no, plan_code, plan_year FROM"
    " (SELECT line, psn_no, plan_code, plan_year, MIN(line) OVER"
    " (PARTITION BY plan_code, plan_year, psn_no) AS first_line"
    " FROM hmb_enroll_stage) d WHERE line > first_line ORDER BY line LIMIT 1";

/* Premiums per county and payer (hmb_rollup_enroll, the insurer's
 * rollup) moved by what the merge below will do: new rows added, changed
 * rows' old values taken out and their new ones added; then a group no
 * one is left in goes, as a fill from scratch would not make it. */
static const char *const sql_rollup_delta =
    "INSERT INTO hmb_rollup_enroll (plan_code, plan_year, admdvs, payer,"
    " persons, premium)"
    " SELECT plan_code, plan_year, admdvs, payer, SUM(persons), SUM(premium)"
    " FROM (SELECT s.plan_code, s.plan_year, s.admdvs, s.payer,"
    " 1 AS persons, s.premium FROM hmb_enroll_stage s"
    " LEFT JOIN hmb_enrollment e ON" BULK_JOIN
    " WHERE e.psn_no IS NULL OR" BULK_CHANGED
    " UNION ALL SELECT e.plan_code, e.plan_year, e.admdvs, e.payer,"
    " -1, -e.premium FROM hmb_enroll_stage s"
    " JOIN hmb_enrollment e ON" BULK_JOIN " WHERE" BULK_CHANGED ") d"
    " WHERE 1 = 1 GROUP BY plan_code, plan_year, admdvs, payer"
    " ON CONFLICT (plan_code, plan_year, admdvs, payer) DO UPDATE SET"
    " persons = hmb_rollup_enroll.persons + excluded.persons,"
    " premium = hmb_rollup_enroll.premium + excluded.premium";

static const char *const sql_rollup_empty =
    "DELETE FROM hmb_rollup_enroll WHERE persons = 0";

static const char *const sql_update =
    "UPDATE hmb_enrollment SET cover_from = s.cover_from,"
    " preexisting = s.preexisting, person_class = s.person_class,"
    " admdvs = s.admdvs, payer = s.payer, premium = s.premium,"
    " imported_at = %s, import_id = %s, import_line = s.line"
    " FROM hmb_enroll_stage s WHERE hmb_enrollment.plan_code = s.plan_code"
    " AND hmb_enrollment.plan_year = s.plan_year"
    " AND hmb_enrollment.psn_no = s.psn_no"
    " AND (hmb_enrollment.cover_from <> s.cover_from"
    " OR hmb_enrollment.preexisting <> s.preexisting"
    " OR COALESCE(hmb_enrollment.person_class, '')"
    " <> COALESCE(s.person_class, '')"
    " OR hmb_enrollment.admdvs <> s.admdvs"
    " OR hmb_enrollment.payer <> s.payer"
    " OR hmb_enrollment.premium <> s.premium)";

/* the persons new to the ledger (the others were updated or are equal) */
static const char *const sql_insert =
    "INSERT INTO hmb_enrollment (plan_code, plan_year, psn_no, cover_from,"
    " preexisting, person_class, admdvs, payer, premium, lock_seq,"
    " imported_at, import_id, import_line)"
    " SELECT s.plan_code, s.plan_year, s.psn_no, s.cover_from,"
    " s.preexisting, s.person_class, s.admdvs, s.payer, s.premium, 0, %s,"
    " %s, s.line FROM hmb_enroll_stage s"
    " WHERE NOT EXISTS (SELECT 1 FROM hmb_enrollment e WHERE" BULK_JOIN ")";

/* PostgreSQL: the persons in the ledger (kept by the rollup) beside what
 * the planner believes */
static const char *const sql_pg_sizes =
    "SELECT (SELECT COALESCE(SUM(persons), 0) FROM hmb_rollup_enroll),"
    " (SELECT CAST(reltuples AS BIGINT) FROM pg_class"
    " WHERE oid = CAST('hmb_enrollment' AS regclass))";

/* ---- staging -------------------------------------------------------------- */

static const char *pg_error(hmb_bulk_t *b, const char *what)
{
    return hmb_ledger_failed(b->l, b->p, what, PQerrorMessage(b->pg));
}

/* The results of a COPY that ended, the last one's status checked. */
static const char *pg_copy_results(hmb_bulk_t *b, const char *what)
{
    const char *err = NULL;
    PGresult *r;

    while ((r = PQgetResult(b->pg))) {
        if (!err && PQresultStatus(r) != PGRES_COMMAND_OK) {
            err = hmb_ledger_failed(b->l, b->p, what,
                                    PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    return err;
}

static const char *pg_flush(hmb_bulk_t *b)
{
    if (b->len && PQputCopyData(b->pg, b->buf, (int)b->len) != 1) {
        return pg_error(b, "COPY into the staging table");
    }
    b->len = 0;
    return NULL;
}

/* One value in COPY's text format: \N for NULL, \ tab LF CR escaped. */
static const char *pg_value(hmb_bulk_t *b, const char *v, char sep)
{
    const char *err;
    apr_size_t need = v ? 2 * strlen(v) + 2 : 3;

    if (b->len + need > BULK_COPY_BUF && (err = pg_flush(b))) {
        return err;
    }
    if (need > BULK_COPY_BUF) {
        return hmb_ledger_failed(b->l, b->p, "stage an enrollment",
                                 "a value longer than the COPY buffer");
    }
    if (!v) {
        memcpy(b->buf + b->len, "\\N", 2);
        b->len += 2;
    }
    for (; v && *v; v++) {
        char c = *v;

        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            b->buf[b->len++] = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : c;
        }
        b->buf[b->len++] = c;
    }
    b->buf[b->len++] = sep;
    return NULL;
}

/* The batch insert for n rows, its text made once per size. */
static const char *sqlite_stage(hmb_bulk_t *b, int n)
{
    static const char row[] = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)";
    apr_dbd_prepared_t *st;
    const char *label = n == BULK_BATCH ? "hmb_bulk_stage_batch"
                                        : "hmb_bulk_stage_one";
    char *sql, *at;
    const char *err;
    int i;

    sql = apr_palloc(b->rp, 64 + (sizeof(row) + 2) * (apr_size_t)n);
    at = apr_cpystrn(sql, "INSERT INTO hmb_enroll_stage VALUES ", 64);
    for (i = 0; i < n; i++) {
        at = apr_cpystrn(at, i ? ", " : "", 3);
        at = apr_cpystrn(at, row, sizeof(row));
    }
    if ((err = hmb_ledger_prepare(b->l, b->p, label, sql, &st))) {
        return err;
    }
    return hmb_ledger_run(b->l, b->rp, "stage enrollments", st, NULL,
                          b->args);
}

static const char *sqlite_flush(hmb_bulk_t *b)
{
    const char *err = NULL;
    int i;

    if (b->n == BULK_BATCH) {
        err = sqlite_stage(b, BULK_BATCH);
    }
    else {
        /* the tail of the file, one row at a time */
        const char **all = b->args;

        for (i = 0; i < b->n && !err; i++) {
            b->args = all + i * BULK_COLS;
            err = sqlite_stage(b, 1);
        }
        b->args = all;
    }
    b->n = 0;
    apr_pool_clear(b->rp);
    return err;
}

const char *hmb_bulk_begin(hmb_ledger_t *l, apr_pool_t *p, hmb_bulk_t **out)
{
    hmb_bulk_t *b = apr_pcalloc(p, sizeof(*b));
    const char *err;
    PGresult *r;

    *out = b;
    b->l = l;
    b->p = p;
    apr_pool_create(&b->rp, p);
    if (!hmb_ledger_in_trans(l)) {
        return "ledger: a bulk import outside a transaction";
    }
    if ((err = hmb_ledger_sql_run(l, p, "create the staging table",
                                  sql_stage_create, NULL))
        || (err = hmb_ledger_sql_run(l, p, "empty the staging table",
                                     "DELETE FROM hmb_enroll_stage",
                                     NULL))) {
        return err;
    }
    if (hmb_ledger_is_sqlite(l)) {
        b->args = apr_palloc(p, sizeof(char *) * BULK_COLS * BULK_BATCH);
        return NULL;
    }
    b->pg = apr_dbd_native_handle(l->driver, l->handle);
    b->buf = apr_palloc(p, BULK_COPY_BUF);
    r = PQexec(b->pg, "COPY hmb_enroll_stage FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        err = hmb_ledger_failed(l, p, "COPY into the staging table",
                                PQresultErrorMessage(r));
        PQclear(r);
        pg_copy_results(b, "COPY");
        b->pg = NULL;
        return err;
    }
    PQclear(r);
    return NULL;
}

const char *hmb_bulk_row(hmb_bulk_t *b, const hmb_enrollment_t *e)
{
    const char *v[BULK_COLS], *err = NULL;
    int i;

    if (!b->pg && !b->args) {
        return "ledger: the bulk import was not started";
    }
    v[0] = e->plan_code;
    v[1] = apr_itoa(b->rp, e->plan_year);
    v[2] = e->psn_no;
    v[3] = e->cover_from;
    v[4] = e->preexisting ? "1" : "0";
    v[5] = e->person_class;
    v[6] = e->admdvs ? e->admdvs : "";
    v[7] = e->payer;
    v[8] = hmb_ledger_fen_str(b->rp, e->premium);
    v[9] = apr_itoa(b->rp, e->line);
    b->rows++;
    if (b->pg) {
        for (i = 0; i < BULK_COLS && !err; i++) {
            err = pg_value(b, v[i], i + 1 < BULK_COLS ? '\t' : '\n');
        }
        apr_pool_clear(b->rp);
        return err;
    }
    for (i = 0; i < BULK_COLS; i++) {
        b->args[b->n * BULK_COLS + i] = v[i] ? apr_pstrdup(b->rp, v[i])
                                             : NULL;
    }
    return ++b->n == BULK_BATCH ? sqlite_flush(b) : NULL;
}

void hmb_bulk_abort(hmb_bulk_t *b)
{
    if (b && b->pg) {
        PQputCopyEnd(b->pg, "import refused");
        pg_copy_results(b, "COPY");
        b->pg = NULL;
    }
    if (b) {
        b->args = NULL;
    }
}

/* ---- merging -------------------------------------------------------------- */

static const char *end_staging(hmb_bulk_t *b)
{
    const char *err;

    if (!b->pg) {
        return b->n ? sqlite_flush(b) : NULL;
    }
    if ((err = pg_flush(b))) {
        hmb_bulk_abort(b);
        return err;
    }
    if (PQputCopyEnd(b->pg, NULL) != 1) {
        err = pg_error(b, "end the COPY");
        hmb_bulk_abort(b);
        return err;
    }
    err = pg_copy_results(b, "COPY into the staging table");
    b->pg = NULL;
    /* a temporary table has no statistics unless asked: the joins below
     * would be planned for an empty one */
    return err ? err : hmb_ledger_sql_run(b->l, b->p, "analyze the staging "
                                          "table", "ANALYZE hmb_enroll_stage",
                                          NULL);
}

/* PostgreSQL plans the joins of the file with the ledger by what it
 * believes their sizes are. A file that is a good part of the ledger
 * (the first import) is joined by hashing, never by a nested loop: one
 * over a table believed empty scans it once per row of the file, and it
 * grows while the insert runs (hours for a million rows). A file small
 * beside the ledger is joined by the primary key, provided the planner
 * knows the ledger is large: its statistics are brought up to date when
 * they are far behind. */
static const char *pg_plan_joins(hmb_bulk_t *b)
{
    apr_array_header_t *rows;
    apr_int64_t persons, believed;
    const char *err, **v;

    if ((err = hmb_ledger_sql_query(b->l, b->p, "read the ledger's size",
                                    sql_pg_sizes, NULL, &rows))) {
        return err;
    }
    v = APR_ARRAY_IDX(rows, 0, const char **);
    persons = apr_atoi64(v[0] ? v[0] : "0");
    believed = apr_atoi64(v[1] ? v[1] : "0");
    if (b->rows * 4 >= persons) {
        return hmb_ledger_sql_run(b->l, b->p, "plan the merge",
                                  "SET LOCAL enable_nestloop = off", NULL);
    }
    if (believed < persons / 2) {
        return hmb_ledger_sql_run(b->l, b->p, "analyze hmb_enrollment",
                                  "ANALYZE hmb_enrollment", NULL);
    }
    return NULL;
}

const char *hmb_bulk_finish(hmb_bulk_t *b, const char *name,
                            hmb_bulk_counts_t *c)
{
    hmb_ledger_t *l = b->l;
    apr_array_header_t *rows;
    const char *args[2], *err;
    int n;

    memset(c, 0, sizeof(*c));
    if ((err = end_staging(b))) {
        return err;
    }
    b->args = NULL;
    if ((err = hmb_ledger_sql_query(l, b->p, "look for repeated persons",
                                    sql_dup, NULL, &rows))) {
        return err;
    }
    if (rows->nelts) {
        const char **v = APR_ARRAY_IDX(rows, 0, const char **);

        return apr_psprintf(b->p, "%s:%s: psn_no %s appears twice for plan "
                            "%s %s (first on line %s)", name, v[0], v[2],
                            v[3], v[4], v[1]);
    }
    args[0] = hmb_ledger_now(b->p);
    args[1] = apr_psprintf(b->p, "%s-bulk", args[0]);
    if ((!hmb_ledger_is_sqlite(l) && (err = pg_plan_joins(b)))
        || (err = hmb_ledger_sql_run(l, b->p, "update the enrollment rollup",
                                  sql_rollup_delta, NULL))
        || (err = hmb_ledger_sql_run(l, b->p, "update the enrollment rollup",
                                     sql_rollup_empty, NULL))
        || (err = hmb_ledger_sql_exec(l, b->p, "update hmb_enrollment",
                                      sql_update, args, &n))) {
        return err;
    }
    c->changed = n;
    if ((err = hmb_ledger_sql_exec(l, b->p, "insert into hmb_enrollment",
                                   sql_insert, args, &n))) {
        return err;
    }
    c->added = n;
    if (!hmb_ledger_is_sqlite(l)
        && (err = hmb_ledger_sql_run(l, b->p, "plan as before",
                                     "RESET enable_nestloop", NULL))) {
        return err;
    }
    c->rows = b->rows;
    c->unchanged = c->rows - c->added - c->changed;
    /* the staged copy of the file goes (TRUNCATE: no row by row) */
    return hmb_ledger_sql_run(l, b->p, "empty the staging table",
                              hmb_ledger_is_sqlite(l)
                              ? "DELETE FROM hmb_enroll_stage"
                              : "TRUNCATE hmb_enroll_stage", NULL);
}
