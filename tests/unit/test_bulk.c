/* The bulk enrollment import (hmb_ledger_bulk.h) on a real SQLite file
 * and, when HMB_TEST_PGSQL names a database, on PostgreSQL (COPY): a
 * file streamed in, imported again changing nothing, an updated file
 * counted as added/changed/unchanged, a repeated person refused with its
 * lines, a refusal half-way leaving nothing; premiums per county and
 * payer always equal to a fill from scratch. Prints rows/s (a figure,
 * never asserted). HMB_PROPS_SCALE divides the big file. */
#include "hmb_test.h"
#include "hmb_ledger_bulk.h"
#include "hmb_rollup.h"

/* rows of the big file (fewer under valgrind) */
#define ROWS (20000 / hmb_test_scale())

typedef struct {
    apr_pool_t *pool;
    const char *spec;
    const char *dir;
} bt_state_t;

static int setup_sqlite(void **state)
{
    bt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->dir = hmb_test_tmpdir(st->pool, "bulk");
    st->spec = apr_pstrcat(st->pool, "sqlite3:", st->dir, "/ledger.db",
                           NULL);
    *state = st;
    return 0;
}

static int setup_pgsql(void **state)
{
    bt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->dir = hmb_test_tmpdir(st->pool, "bulk");
    st->spec = hmb_test_pgsql_fresh(st->pool);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    bt_state_t *st = *state;

    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

/* A file of rows first..last; every tenth premium, every seventh
 * cover_from and class, every eleventh payer (another rollup group) as of
 * version v. */
static const char *write_csv(bt_state_t *st, const char *name, int first,
                             int last, int v)
{
    const char *path = apr_pstrcat(st->pool, st->dir, "/", name, NULL);
    FILE *f = fopen(path, "w");
    int i;

    assert_non_null(f);
    fputs("plan_code,plan_year,psn_no,cover_from,preexisting,person_class,"
          "admdvs,payer,premium\n", f);
    for (i = first; i <= last; i++) {
        fprintf(f, "YCHMB,2024,36%018d,2024-0%d-01,%d,%s,3609%02d,%s,%d.00\n",
                i, v && i % 7 == 0 ? 3 : 1, i % 13 == 0,
                v && i % 7 == 0 ? "hardship" : "", i % 5,
                v && i % 11 == 0 ? "donor" : i % 3 ? "self" : "account",
                v && i % 10 == 0 ? 99 : 69);
    }
    fclose(f);
    return path;
}

/* What hmbctl enroll does, timed: NULL and the counts, or the error
 * (everything rolled back). Refuses the row of line stop_at, if any. */
static const char *import(bt_state_t *st, hmb_ledger_t *l, const char *path,
                          int stop_at, hmb_bulk_counts_t *c)
{
    apr_pool_t *p, *rp;
    apr_file_t *f;
    hmb_csv_t *csv;
    hmb_enroll_reader_t *rd;
    hmb_bulk_t *b = NULL;
    apr_time_t t0 = apr_time_now();
    const char *err;
    int done = 0;

    apr_pool_create(&p, st->pool);
    apr_pool_create(&rp, p);
    assert_int_equal(apr_file_open(&f, path, APR_FOPEN_READ, 0, p),
                     APR_SUCCESS);
    assert_no_error(hmb_csv_file_enc(p, path, f, NULL, &csv));
    assert_no_error(hmb_enroll_open(p, path, csv, &rd));
    assert_no_error(hmb_ledger_begin(l, p));
    err = hmb_bulk_begin(l, p, &b);
    while (!err) {
        hmb_enrollment_t e;

        apr_pool_clear(rp);
        if ((err = hmb_enroll_next(rd, rp, &e, &done)) || done) {
            break;
        }
        err = e.line == stop_at ? "refused" : hmb_bulk_row(b, &e);
    }
    if (!err) {
        err = hmb_bulk_finish(b, "f.csv", c);
    }
    if (err) {
        err = apr_pstrdup(st->pool, err);
        hmb_bulk_abort(b);
        hmb_ledger_rollback(l, p);
    }
    else {
        double s = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;

        assert_no_error(hmb_ledger_commit(l, p));
        printf("bulk import (%s): %" APR_INT64_T_FMT " rows in %.2f s, "
               "%.0f rows/s\n", l->driver_name, c->rows, s,
               s > 0 ? (double)c->rows / s : 0.0);
    }
    apr_pool_destroy(p);
    return err;
}

static const char *rows_text(bt_state_t *st, hmb_ledger_t *l,
                             const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *s = "";
    int i, n;

    /* random access: the pgsql driver knows the columns only then */
    if (apr_dbd_select(l->driver, st->pool, l->handle, &res, sql, 1)) {
        fail_msg("%s: %s", sql, apr_dbd_error(l->driver, l->handle, 1));
    }
    n = apr_dbd_num_cols(l->driver, res);
    while (apr_dbd_get_row(l->driver, st->pool, res, &row, -1) == 0) {
        for (i = 0; i < n; i++) {
            const char *v = apr_dbd_get_entry(l->driver, row, i);
            s = apr_pstrcat(st->pool, s, v ? v : "~", i + 1 < n ? "," : "\n",
                            NULL);
        }
    }
    return s;
}

#define ROLLUP_ROWS \
    "SELECT plan_code, plan_year, admdvs, payer, persons, premium" \
    " FROM hmb_rollup_enroll ORDER BY plan_code, plan_year, admdvs, payer"
#define LEDGER_SUM \
    "SELECT COUNT(*), SUM(premium), SUM(preexisting), MAX(imported_at)," \
    " COUNT(person_class), MIN(cover_from), MAX(cover_from)" \
    " FROM hmb_enrollment"

/* The rollup the imports kept equals one filled from scratch. */
static void rollup_agrees(bt_state_t *st, hmb_ledger_t *l)
{
    const char *kept = rows_text(st, l, ROLLUP_ROWS);

    assert_no_error(hmb_ledger_begin(l, st->pool));
    assert_no_error(hmb_rollup_enrollments(l, st->pool));
    assert_string_equal(rows_text(st, l, ROLLUP_ROWS), kept);
    hmb_ledger_rollback(l, st->pool);
}

static void test_import_again_and_update(void **state)
{
    bt_state_t *st = *state;
    hmb_ledger_t *l = NULL;
    hmb_bulk_counts_t c;
    const char *v0, *v1, *before;
    int changed = 0, i;

    if (!st->spec) {
        skip();
    }
    assert_no_error(hmb_ledger_open(st->pool, st->spec, &l));
    v0 = write_csv(st, "v0.csv", 1, ROWS, 0);
    assert_no_error(import(st, l, v0, 0, &c));
    assert_int_equal(c.rows, ROWS);
    assert_int_equal(c.added, ROWS);
    assert_int_equal(c.changed + c.unchanged, 0);
    rollup_agrees(st, l);
    assert_string_equal(rows_text(st, l, "SELECT SUM(persons), SUM(premium)"
                                  " FROM hmb_rollup_enroll"),
                        apr_psprintf(st->pool, "%d,%d\n", ROWS, ROWS * 6900));

    /* the same file again: nothing written, not even imported_at */
    before = rows_text(st, l, LEDGER_SUM);
    apr_sleep(apr_time_from_sec(1));
    assert_no_error(import(st, l, v0, 0, &c));
    assert_int_equal(c.unchanged, ROWS);
    assert_int_equal(c.added + c.changed, 0);
    assert_string_equal(rows_text(st, l, LEDGER_SUM), before);

    /* an update: premiums, cover_from and classes of some, 500 new */
    v1 = write_csv(st, "v1.csv", 1, ROWS + 500, 1);
    assert_no_error(import(st, l, v1, 0, &c));
    for (i = 1; i <= ROWS; i++) {
        changed += i % 7 == 0 || i % 10 == 0 || i % 11 == 0;
    }
    assert_int_equal(c.added, 500);
    assert_int_equal(c.changed, changed);
    assert_int_equal(c.unchanged, ROWS - changed);
    rollup_agrees(st, l);
    assert_string_equal(rows_text(st, l, "SELECT cover_from, person_class,"
                                  " premium FROM hmb_enrollment WHERE psn_no"
                                  " = '36000000000000000070'"),
                        "2024-03-01,hardship,9900\n");

    /* back to the first version: the same rows changed back */
    assert_no_error(import(st, l, v0, 0, &c));
    assert_int_equal(c.changed, changed);
    assert_int_equal(c.unchanged, ROWS - changed);
    rollup_agrees(st, l);
}

/* A person twice in one file, and a row refused half-way: nothing of the
 * file stays, and the connection goes on. */
static void test_all_or_nothing(void **state)
{
    bt_state_t *st = *state;
    hmb_ledger_t *l = NULL;
    hmb_bulk_counts_t c;
    const char *path, *before, *err;
    FILE *f;

    if (!st->spec) {
        skip();
    }
    assert_no_error(hmb_ledger_open(st->pool, st->spec, &l));
    assert_no_error(import(st, l, write_csv(st, "a.csv", 1, 100, 0), 0, &c));
    before = rows_text(st, l, LEDGER_SUM);

    path = write_csv(st, "dup.csv", 101, 3000, 1);
    f = fopen(path, "a");
    fputs("YCHMB,2024,36000000000000000150,2024-01-01,0,,360901,self,1.00\n",
          f);
    fclose(f);
    err = import(st, l, path, 0, &c);
    assert_non_null(err);
    /* header line 1: person 150 is on line 51, then on the last */
    assert_contains(err, "f.csv:2902: psn_no 36000000000000000150 appears "
                         "twice for plan YCHMB 2024 (first on line 51)");
    assert_string_equal(rows_text(st, l, LEDGER_SUM), before);

    /* refused at line 2500, rows streamed (COPY under way) before it */
    assert_string_equal(import(st, l, write_csv(st, "b.csv", 101, 3000, 0),
                               2500, &c), "refused");
    assert_string_equal(rows_text(st, l, LEDGER_SUM), before);
    rollup_agrees(st, l);
    assert_no_error(import(st, l, write_csv(st, "c.csv", 101, 200, 0), 0,
                           &c));
    assert_int_equal(c.added, 100);
}

#define T(f, s) cmocka_unit_test_setup_teardown(f, s, teardown)

int main(void)
{
    const struct CMUnitTest pgsql[] = {
        T(test_import_again_and_update, setup_pgsql),
        T(test_all_or_nothing, setup_pgsql),
    };
    const struct CMUnitTest sqlite[] = {
        T(test_import_again_and_update, setup_sqlite),
        T(test_all_or_nothing, setup_sqlite),
    };
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    failed = cmocka_run_group_tests_name("bulk-pgsql", pgsql, NULL, NULL);
    failed += cmocka_run_group_tests_name("bulk-sqlite", sqlite, NULL, NULL);
    return failed ? 1 : 0;
}
