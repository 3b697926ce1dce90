/* The ledger on a real SQLite file and, when HMB_TEST_PGSQL holds a
 * conninfo, the same cases on PostgreSQL. Amounts are the worked example's
 * (DOMAIN.md), in fen. */
#include "hmb_test.h"
#include <libpq-fe.h>
#include "hmb_ledger.h"
#include "hmb_ledger_memo.h"


typedef struct {
    apr_pool_t *pool;
    const char *spec;               /* NULL: backend not available */
    const char *driver;             /* "sqlite3" or "pgsql" */
    const char *params;
    const char *dir;                /* SQLite: the temporary directory */
} lt_state_t;

/* -- raw access, to look at the tables behind the ledger's back -- */

static apr_dbd_t *raw_open(lt_state_t *st, const apr_dbd_driver_t **drv)
{
    apr_dbd_t *h = NULL;
    const char *err = NULL;

    assert_int_equal(apr_dbd_init(st->pool), APR_SUCCESS);
    assert_int_equal(apr_dbd_get_driver(st->pool, st->driver, drv),
                     APR_SUCCESS);
    if (apr_dbd_open_ex(*drv, st->pool, st->params, &h, &err)
        != APR_SUCCESS) {
        fail_msg("raw open %s: %s", st->params, err ? err : "?");
    }
    return h;
}

static void raw_exec(lt_state_t *st, const char *sql)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = raw_open(st, &drv);
    int n = 0, rv = apr_dbd_query(drv, h, &n, sql);

    if (rv) {
        fail_msg("%s: %s", sql, apr_dbd_error(drv, h, rv));
    }
    apr_dbd_close(drv, h);
}

/* First column of the first row, or NULL when there is no row. */
static const char *raw_value(lt_state_t *st, const char *sql)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = raw_open(st, &drv);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL;
    int rv = apr_dbd_select(drv, st->pool, h, &res, sql, 1);

    if (rv) {
        fail_msg("%s: %s", sql, apr_dbd_error(drv, h, rv));
    }
    while (apr_dbd_get_row(drv, st->pool, res, &row, -1) == 0) {
        if (!v) {
            const char *e = apr_dbd_get_entry(drv, row, 0);
            v = e ? apr_pstrdup(st->pool, e) : "(null)";
        }
    }
    apr_dbd_close(drv, h);
    return v;
}

/* A script of statements, each ending with ";" at the end of a line,
 * on one connection (SQLite's driver runs one statement per call). */
static void raw_script(lt_state_t *st, const char *path)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = raw_open(st, &drv);
    char *text = hmb_test_slurp(st->pool, path, NULL);
    char *stmt = NULL, *line, *save = NULL;

    for (line = apr_strtok(text, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        apr_size_t n = strlen(line);

        if (!strncmp(line, "--", 2) || !n) {
            continue;
        }
        stmt = stmt ? apr_pstrcat(st->pool, stmt, " ", line, NULL) : line;
        if (line[n - 1] == ';') {
            int rows = 0, rv = apr_dbd_query(drv, h, &rows, stmt);
            if (rv) {
                fail_msg("%s: %s", stmt, apr_dbd_error(drv, h, rv));
            }
            stmt = NULL;
        }
    }
    apr_dbd_close(drv, h);
    assert_null(stmt);
}

/* The status of one statement, for those that must fail. */
static int raw_try(lt_state_t *st, const char *sql)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = raw_open(st, &drv);
    int n = 0, rv = apr_dbd_query(drv, h, &n, sql);

    apr_dbd_close(drv, h);
    return rv;
}

static int raw_count(lt_state_t *st, const char *table)
{
    return atoi(raw_value(st, apr_psprintf(st->pool,
                                           "SELECT COUNT(*) FROM %s",
                                           table)));
}

/* -- set-up: a new SQLite file per test; on PostgreSQL, empty tables -- */

static int setup_sqlite(void **state)
{
    lt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->driver = "sqlite3";
    st->dir = hmb_test_tmpdir(st->pool, "ledger");
    st->params = apr_pstrcat(st->pool, st->dir, "/ledger.db", NULL);
    st->spec = apr_pstrcat(st->pool, "sqlite3:", st->params, NULL);
    *state = st;
    return 0;
}

static int setup_pgsql(void **state)
{
    lt_state_t *st = calloc(1, sizeof(*st));
    const char *conninfo = getenv("HMB_TEST_PGSQL");

    apr_pool_create(&st->pool, NULL);
    *state = st;
    if (!conninfo || !*conninfo) {
        return 0;
    }
    st->driver = "pgsql";
    st->params = conninfo;
    st->spec = apr_pstrcat(st->pool, "pgsql:", conninfo, NULL);
    raw_exec(st, "DROP TABLE IF EXISTS " HMB_TEST_TABLES);
    return 0;
}

static int teardown(void **state)
{
    lt_state_t *st = *state;

    if (st->dir) {
        static const char *const files[] = {"", "-wal", "-shm", "-journal"};
        int i;

        for (i = 0; i < 4; i++) {
            apr_file_remove(apr_pstrcat(st->pool, st->params, files[i],
                                        NULL), st->pool);
        }
        apr_dir_remove(st->dir, st->pool);
    }
    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

/* The ledger in its own pool, so a test can close it and open it again. */
static hmb_ledger_t *lt_open(lt_state_t *st, apr_pool_t **lp)
{
    hmb_ledger_t *l = NULL;
    const char *err;

    if (!st->spec) {
        skip();
    }
    apr_pool_create(lp, st->pool);
    err = hmb_ledger_open(*lp, st->spec, &l);
    if (err) {
        fail_msg("%s", err);
    }
    assert_non_null(l);
    return l;
}

static hmb_enrollment_t enr(const char *code, int year, const char *psn,
                            const char *cls, int pre, hmb_fen_t premium,
                            int line)
{
    hmb_enrollment_t e;

    memset(&e, 0, sizeof(e));
    e.plan_code = code;
    e.plan_year = year;
    e.psn_no = psn;
    e.cover_from = "2024-01-01";
    e.preexisting = pre;
    e.person_class = cls;
    e.admdvs = "360902";
    e.payer = "account";
    e.premium = premium;
    e.line = line;
    return e;
}

static void add_liab(apr_array_header_t *a, const char *code,
                     const char *pool, hmb_fen_t elig, hmb_fen_t dedc,
                     hmb_ratio_t prop, hmb_fen_t pay)
{
    hmb_claim_liab_t *r = apr_array_push(a);

    r->liab_code = code;
    r->pool = pool;
    r->deductible = 1500000;
    r->cap = 100000000;
    r->elig_amt = elig;
    r->dedc_amt = dedc;
    r->pay_prop = prop;
    r->pay_amt = pay;
}

static void add_insurer(apr_array_header_t *a, const char *code,
                        hmb_ratio_t share, hmb_fen_t pay)
{
    hmb_insurer_result_t *r = apr_array_push(a);

    r->insurer_code = code;
    r->share = share;
    r->pay_amt = pay;
}

/* Worked example, pair 2: inscope 28000.00 - 15000.00 at 70% = 9100.00,
 * outscope 20000.00 - 15000.00 at 60% = 3000.00; 12100.00 split
 * 40/35/25. */
static hmb_claim_t *claim_pair2(apr_pool_t *p)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));

    c->hmb_setl_id = "HMB-0001";
    c->kind = 'S';
    c->setl_id = "S2024050100001";
    c->psn_no = "36090000000000000001";
    c->mdtrt_id = "M2024050100001";
    c->fixmedins_code = "H36090200001";
    c->msgid = "H36090200001202405011000000001";
    c->setl_time = "2024-05-01 10:00:00";
    c->plan_code = "YCHMB";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = HMB_STAS_PAID;
    c->hmb_pay = 1210000;
    c->hmbinfo = "<hmbinfo><hmb_stas>paid</hmb_stas></hmbinfo>";
    c->liabs = apr_array_make(p, 2, sizeof(hmb_claim_liab_t));
    add_liab(c->liabs, "inscope", "A", 2800000, 1500000, 7000, 910000);
    add_liab(c->liabs, "outscope", "B", 2000000, 1500000, 6000, 300000);
    c->insurers = apr_array_make(p, 3, sizeof(hmb_insurer_result_t));
    add_insurer(c->insurers, "PICC", 4000, 484000);
    add_insurer(c->insurers, "CLIC", 3500, 423500);
    add_insurer(c->insurers, "PAIC", 2500, 302500);
    return c;
}

/* Pair 3: 10000.00 in scope, deductible used up: 7000.00. */
static hmb_claim_t *claim_pair3(apr_pool_t *p)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));

    c->hmb_setl_id = "HMB-0002";
    c->kind = 'S';
    c->setl_id = "S2024060100002";
    c->psn_no = "36090000000000000001";
    c->mdtrt_id = "M2024060100002";
    c->setl_time = "2024-06-01 09:30:00";
    c->plan_code = "YCHMB";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = HMB_STAS_PAID;
    c->hmb_pay = 700000;
    c->liabs = apr_array_make(p, 2, sizeof(hmb_claim_liab_t));
    add_liab(c->liabs, "inscope", "A", 1000000, 0, 7000, 700000);
    add_liab(c->liabs, "outscope", "B", 0, 0, 6000, 0);
    c->insurers = apr_array_make(p, 3, sizeof(hmb_insurer_result_t));
    add_insurer(c->insurers, "PICC", 4000, 280000);
    add_insurer(c->insurers, "CLIC", 3500, 245000);
    add_insurer(c->insurers, "PAIC", 2500, 175000);
    return c;
}

/* Pair 4: the cancellation of pair 2, every amount negated. */
static hmb_claim_t *claim_pair4(apr_pool_t *p)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));

    c->hmb_setl_id = "HMB-0003";
    c->kind = 'R';
    c->setl_id = "S2024050100001";
    c->reverses = "HMB-0001";
    c->psn_no = "36090000000000000001";
    c->mdtrt_id = "M2024050100001";
    c->setl_time = "2024-05-01 10:00:00";
    c->plan_code = "YCHMB";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = HMB_STAS_REVERSED;
    c->hmb_pay = -1210000;
    c->liabs = apr_array_make(p, 2, sizeof(hmb_claim_liab_t));
    add_liab(c->liabs, "inscope", "A", -2800000, -1500000, 7000, -910000);
    add_liab(c->liabs, "outscope", "B", -2000000, -1500000, 6000, -300000);
    c->insurers = apr_array_make(p, 3, sizeof(hmb_insurer_result_t));
    add_insurer(c->insurers, "PICC", 4000, -484000);
    add_insurer(c->insurers, "CLIC", 3500, -423500);
    add_insurer(c->insurers, "PAIC", 2500, -302500);
    return c;
}

static void record(hmb_ledger_t *l, apr_pool_t *p, const hmb_claim_t *c)
{
    OK(hmb_ledger_begin(l, p));
    OK(hmb_ledger_lock_person(l, p, c->plan_code, c->plan_year, c->psn_no));
    OK(hmb_ledger_record_claim(l, p, c));
    OK(hmb_ledger_commit(l, p));
}

/* Totals of the worked example's person as "code:elig/paid;..." */
static const char *totals_str(hmb_ledger_t *l, apr_pool_t *p,
                              const char *psn, int year)
{
    apr_array_header_t *rows;
    const char *s = "";
    int i;

    OK(hmb_ledger_totals(l, p, "YCHMB", year, psn, &rows));
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);
        s = apr_psprintf(p, "%s%s:%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT ";",
                         s, t->liab_code, t->elig_amt, t->paid_amt);
    }
    return s;
}

#define PSN1 "36090000000000000001"

/* ------------------------------------------------------------------ */

static void test_schema_created_once(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp, *lp2;
    hmb_ledger_t *l = lt_open(st, &lp), *l2;
    static const char *const tables[] = {
        "hmb_meta", "hmb_enrollment", "hmb_claim", "hmb_claim_liab",
        "hmb_claim_insurer", "hmb_total"
    };
    int i;

    assert_non_null(l->driver_name);
    assert_string_equal(l->driver_name, st->driver);
    assert_string_equal(raw_value(st, "SELECT value FROM hmb_meta"
                                      " WHERE name = 'schema_version'"),
                        apr_itoa(st->pool, HMB_LEDGER_SCHEMA_VERSION));
    for (i = 0; i < 6; i++) {
        assert_int_equal(raw_count(st, tables[i]), i == 0 ? 1 : 0);
    }
    if (!strcmp(st->driver, "sqlite3")) {
        assert_string_equal(raw_value(st, "PRAGMA journal_mode"), "wal");
    }

    /* a second connection, and the same one asked again: no change */
    apr_pool_create(&lp2, st->pool);
    OK(hmb_ledger_open(lp2, st->spec, &l2));
    OK(hmb_ledger_ensure_schema(l, lp));
    assert_int_equal(raw_count(st, "hmb_meta"), 1);
    apr_pool_destroy(lp2);
    apr_pool_destroy(lp);

    /* a ledger written by a newer build is refused, not "migrated" */
    raw_exec(st, "UPDATE hmb_meta SET value = '99'"
                 " WHERE name = 'schema_version'");
    apr_pool_create(&lp, st->pool);
    l = (hmb_ledger_t *)1;
    {
        const char *err = hmb_ledger_open(lp, st->spec, &l);
        assert_non_null(err);
        assert_non_null(strstr(err, "schema version 99 is newer"));
        assert_null(l);
    }
}

/* The mod_dbd path: someone else opened the connection, before any
 * table existed. Our statements live with the connection, not in the
 * owner's structures, and outlast one request's wrapper. */
static void test_wrapped_connection(void **state)
{
    lt_state_t *st = *state;
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h;
    apr_pool_t *cp;
    hmb_ledger_t *l;
    hmb_enrollment_t *e = NULL;
    apr_array_header_t *rows;

    if (!st->spec) {
        skip();
    }
    apr_pool_create(&cp, st->pool);
    h = raw_open(st, &drv);
    l = hmb_ledger_wrap(st->pool, drv, h, cp);
    assert_string_equal(l->driver_name, st->driver);
    OK(hmb_ledger_ensure_schema(l, st->pool));

    rows = apr_array_make(st->pool, 1, sizeof(hmb_enrollment_t));
    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = enr("YCHMB", 2024, PSN1, NULL,
                                                 0, 6900, 2);
    OK(hmb_ledger_import_enrollments(l, st->pool, rows, NULL));
    OK(hmb_ledger_get_enrollment(l, st->pool, "YCHMB", 2024, PSN1, &e));
    assert_non_null(e);
    /* the next request wraps the same connection again, and finds the
     * connection's state (schema checked, statements) where it was */
    {
        hmb_ledger_conn_t *conn = l->conn;

        l = hmb_ledger_wrap(st->pool, drv, h, cp);
        assert_ptr_equal(l->conn, conn);
    }
    OK(hmb_ledger_check_schema(l, st->pool));
    e = NULL;
    OK(hmb_ledger_get_enrollment(l, st->pool, "YCHMB", 2024, PSN1, &e));
    assert_non_null(e);
    apr_pool_destroy(cp);
    apr_dbd_close(drv, h);
}

static void test_bad_specs(void **state)
{
    lt_state_t *st = *state;
    hmb_ledger_t *l = (hmb_ledger_t *)1;
    const char *err;

    if (!st->spec) {
        skip();
    }
    err = hmb_ledger_open(st->pool, "ledger.db", &l);
    assert_non_null(err);
    assert_non_null(strstr(err, "DRIVER:PARAMS"));
    assert_null(l);
    err = hmb_ledger_open(st->pool, "sqlite3:", &l);
    assert_non_null(strstr(err, "DRIVER:PARAMS"));
    err = hmb_ledger_open(st->pool, "nosuchdb:x", &l);
    assert_non_null(err);
    assert_non_null(strstr(err, "no apr_dbd driver \"nosuchdb\""));
    err = hmb_ledger_open(st->pool, "sqlite3:/nonexistent/dir/l.db", &l);
    assert_non_null(err);
    assert_non_null(strstr(err, "ledger: cannot open sqlite3 ledger "
                            "\"/nonexistent/dir/l.db\""));
    assert_null(l);
}

static void test_reopen_keeps_data(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    apr_array_header_t *rows = apr_array_make(st->pool, 2,
                                              sizeof(hmb_enrollment_t));
    hmb_enrollment_t *e = NULL;
    int n = -1;

    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = enr("YCHMB", 2024, PSN1, NULL,
                                                 0, 6900, 2);
    OK(hmb_ledger_import_enrollments(l, lp, rows, &n));
    assert_int_equal(n, 1);
    record(l, lp, claim_pair2(lp));
    apr_pool_destroy(lp);

    l = lt_open(st, &lp);
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, PSN1, &e));
    assert_non_null(e);
    assert_int_equal(e->premium, 6900);
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:2800000/910000;outscope:2000000/300000;");
    assert_string_equal(raw_value(st, "SELECT value FROM hmb_meta"
                                      " WHERE name = 'schema_version'"),
                        apr_itoa(st->pool, HMB_LEDGER_SCHEMA_VERSION));
    apr_pool_destroy(lp);
}

static void test_enrollment_import(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    apr_array_header_t *rows = apr_array_make(lp, 3,
                                              sizeof(hmb_enrollment_t));
    hmb_enrollment_t *e = NULL, bad;
    const char *err;
    int n = -1;

    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = enr("YCHMB", 2024, "P1", NULL,
                                                 0, 6900, 2);
    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = enr("YCHMB", 2024, "P2",
                                                 "hardship", 1, 6900, 3);
    /* a row the database refuses (no cover_from), after two good ones */
    bad = enr("YCHMB", 2024, "P3", NULL, 0, 6900, 4);
    bad.cover_from = NULL;
    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = bad;

    err = hmb_ledger_import_enrollments(l, lp, rows, &n);
    assert_non_null(err);
    assert_non_null(strstr(err, "ledger: upsert hmb_enrollment: "));
    assert_non_null(strstr(err, "line 4"));
    assert_int_equal(n, 0);
    assert_null(l->trans);
    /* all or nothing: the good rows are not there either */
    assert_int_equal(raw_count(st, "hmb_enrollment"), 0);
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, "P1", &e));
    assert_null(e);

    /* without the bad row it goes in */
    rows->nelts = 2;
    OK(hmb_ledger_import_enrollments(l, lp, rows, &n));
    assert_int_equal(n, 2);
    assert_int_equal(raw_count(st, "hmb_enrollment"), 2);

    /* the same file again changes nothing; a corrected row replaces the
     * old one instead of adding a second */
    OK(hmb_ledger_import_enrollments(l, lp, rows, &n));
    assert_int_equal(raw_count(st, "hmb_enrollment"), 2);
    raw_exec(st, "UPDATE hmb_enrollment SET lock_seq = 1"
                 " WHERE psn_no = 'P2'");
    APR_ARRAY_IDX(rows, 1, hmb_enrollment_t).premium = 9900;
    APR_ARRAY_IDX(rows, 1, hmb_enrollment_t).person_class = NULL;
    APR_ARRAY_IDX(rows, 1, hmb_enrollment_t).payer = "donor";
    OK(hmb_ledger_import_enrollments(l, lp, rows, &n));
    assert_int_equal(raw_count(st, "hmb_enrollment"), 2);
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, "P2", &e));
    assert_non_null(e);
    assert_int_equal(e->premium, 9900);
    assert_null(e->person_class);
    assert_string_equal(e->payer, "donor");
    assert_int_equal(e->preexisting, 1);
    /* the lock counter is the ledger's, not the insurer's: kept */
    assert_string_equal(raw_value(st, "SELECT lock_seq FROM hmb_enrollment"
                                      " WHERE psn_no = 'P2'"), "1");

    /* an empty import is a no-op, not an error */
    rows->nelts = 0;
    OK(hmb_ledger_import_enrollments(l, lp, rows, &n));
    assert_int_equal(n, 0);
    apr_pool_destroy(lp);
}

static void test_get_enrollment(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    apr_array_header_t *rows = apr_array_make(lp, 2,
                                              sizeof(hmb_enrollment_t));
    hmb_enrollment_t *e = NULL, x;

    x = enr("YCHMB", 2024, PSN1, "hardship", 1, 6900, 2);
    x.cover_from = "2024-03-15";
    x.payer = "employer";
    x.admdvs = "360981";
    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = x;
    x = enr("YCHMB", 2023, "P-2023-only", NULL, 0, 5900, 3);
    x.admdvs = "";
    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = x;
    OK(hmb_ledger_import_enrollments(l, lp, rows, NULL));

    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, PSN1, &e));
    assert_non_null(e);
    assert_string_equal(e->plan_code, "YCHMB");
    assert_int_equal(e->plan_year, 2024);
    assert_string_equal(e->psn_no, PSN1);
    assert_string_equal(e->cover_from, "2024-03-15");
    assert_int_equal(e->preexisting, 1);
    assert_string_equal(e->person_class, "hardship");
    assert_string_equal(e->admdvs, "360981");
    assert_string_equal(e->payer, "employer");
    assert_int_equal(e->premium, 6900);
    assert_int_equal(e->line, 0);

    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2023, "P-2023-only", &e));
    assert_non_null(e);
    assert_null(e->person_class);
    assert_string_equal(e->admdvs, "");
    assert_int_equal(e->preexisting, 0);

    /* other year, other plan, other person */
    e = (hmb_enrollment_t *)1;
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2025, PSN1, &e));
    assert_null(e);
    e = (hmb_enrollment_t *)1;
    OK(hmb_ledger_get_enrollment(l, lp, "LNHMB", 2024, PSN1, &e));
    assert_null(e);
    e = (hmb_enrollment_t *)1;
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, "nobody", &e));
    assert_null(e);
    apr_pool_destroy(lp);
}

static void test_record_claim_and_totals(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *c = NULL;
    const hmb_claim_liab_t *r;
    const hmb_insurer_result_t *ins;

    assert_string_equal(totals_str(l, lp, PSN1, 2024), "");
    record(l, lp, claim_pair2(lp));
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:2800000/910000;outscope:2000000/300000;");
    record(l, lp, claim_pair3(lp));
    /* 28000 + 10000 eligible, 9100 + 7000 paid in scope */
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:3800000/1610000;outscope:2000000/300000;");
    assert_int_equal(raw_count(st, "hmb_claim"), 2);
    assert_int_equal(raw_count(st, "hmb_claim_liab"), 4);
    assert_int_equal(raw_count(st, "hmb_claim_insurer"), 6);

    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &c));
    assert_non_null(c);
    assert_string_equal(c->hmb_setl_id, "HMB-0001");
    assert_int_equal(c->kind, 'S');
    assert_string_equal(c->setl_id, "S2024050100001");
    assert_null(c->reverses);
    assert_string_equal(c->psn_no, PSN1);
    assert_string_equal(c->mdtrt_id, "M2024050100001");
    assert_string_equal(c->fixmedins_code, "H36090200001");
    assert_string_equal(c->msgid, "H36090200001202405011000000001");
    assert_string_equal(c->setl_time, "2024-05-01 10:00:00");
    assert_string_equal(c->plan_code, "YCHMB");
    assert_int_equal(c->plan_year, 2024);
    assert_int_equal(c->plan_ver, 1);
    assert_int_equal(c->stas, HMB_STAS_PAID);
    assert_int_equal(c->rea, HMB_REA_NONE);
    assert_int_equal(c->hmb_pay, 1210000);
    assert_string_equal(c->hmbinfo,
                        "<hmbinfo><hmb_stas>paid</hmb_stas></hmbinfo>");
    assert_int_equal(c->liabs->nelts, 2);
    r = &APR_ARRAY_IDX(c->liabs, 0, hmb_claim_liab_t);
    assert_string_equal(r->liab_code, "inscope");
    assert_string_equal(r->pool, "A");
    assert_int_equal(r->deductible, 1500000);
    assert_int_equal(r->cap, 100000000);
    assert_int_equal(r->elig_amt, 2800000);
    assert_int_equal(r->dedc_amt, 1500000);
    assert_int_equal(r->pay_prop, 7000);
    assert_int_equal(r->pay_amt, 910000);
    r = &APR_ARRAY_IDX(c->liabs, 1, hmb_claim_liab_t);
    assert_string_equal(r->liab_code, "outscope");
    assert_int_equal(r->pay_prop, 6000);
    assert_int_equal(r->pay_amt, 300000);
    /* insurers in plan order, not alphabetical */
    assert_int_equal(c->insurers->nelts, 3);
    ins = &APR_ARRAY_IDX(c->insurers, 0, hmb_insurer_result_t);
    assert_string_equal(ins->insurer_code, "PICC");
    assert_int_equal(ins->share, 4000);
    assert_int_equal(ins->pay_amt, 484000);
    ins = &APR_ARRAY_IDX(c->insurers, 1, hmb_insurer_result_t);
    assert_string_equal(ins->insurer_code, "CLIC");
    assert_int_equal(ins->pay_amt, 423500);
    ins = &APR_ARRAY_IDX(c->insurers, 2, hmb_insurer_result_t);
    assert_string_equal(ins->insurer_code, "PAIC");
    assert_int_equal(ins->pay_amt, 302500);

    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &c));
    assert_null(c);
    OK(hmb_ledger_find_claim(l, lp, 'S', "no-such-setl", &c));
    assert_null(c);
    apr_pool_destroy(lp);
}

/* An ineligible claim: no plan, no rows, still recorded once. */
static void test_claim_without_plan(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t c, *f = NULL;
    const char *err;

    memset(&c, 0, sizeof(c));
    c.hmb_setl_id = "HMB-0100";
    c.kind = 'S';
    c.setl_id = "S-OUTSIDE";
    c.psn_no = "P9";
    c.stas = HMB_STAS_INELIGIBLE;
    c.rea = HMB_REA_OUTSIDE_PERIOD;
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_record_claim(l, lp, &c));
    OK(hmb_ledger_commit(l, lp));
    OK(hmb_ledger_find_claim(l, lp, 'S', "S-OUTSIDE", &f));
    assert_non_null(f);
    assert_null(f->plan_code);
    assert_int_equal(f->plan_year, 0);
    assert_int_equal(f->rea, HMB_REA_OUTSIDE_PERIOD);
    assert_int_equal(f->hmb_pay, 0);
    assert_int_equal(f->liabs->nelts, 0);
    assert_int_equal(f->insurers->nelts, 0);
    assert_int_equal(raw_count(st, "hmb_total"), 0);

    /* outside a transaction nothing is written */
    c.setl_id = "S-OTHER";
    err = hmb_ledger_record_claim(l, lp, &c);
    assert_non_null(err);
    assert_non_null(strstr(err, "outside a transaction"));
    err = hmb_ledger_lock_person(l, lp, "YCHMB", 2024, "P9");
    assert_non_null(err);
    assert_non_null(strstr(err, "outside a transaction"));
    apr_pool_destroy(lp);
}

static void test_duplicate_refused(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *c = claim_pair2(lp), *again, *found = NULL;
    const char *before, *err;

    record(l, lp, c);
    before = totals_str(l, lp, PSN1, 2024);

    /* the same settlement under a new claim id: UNIQUE (kind, setl_id) */
    again = claim_pair2(lp);
    again->hmb_setl_id = "HMB-0009";
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    err = hmb_ledger_record_claim(l, lp, again);
    assert_non_null(err);
    assert_non_null(strstr(err, "ledger: insert hmb_claim: "));
    assert_true(strstr(err, "UNIQUE") || strstr(err, "duplicate key"));
    assert_null(strchr(err, '\n'));
    /* the transaction is spoiled: commit refuses and rolls back */
    err = hmb_ledger_commit(l, lp);
    assert_non_null(err);
    assert_non_null(strstr(err, "rolled back"));
    assert_null(l->trans);

    /* the same claim id for another settlement: primary key */
    again = claim_pair3(lp);
    again->hmb_setl_id = "HMB-0001";
    OK(hmb_ledger_begin(l, lp));
    assert_non_null(hmb_ledger_record_claim(l, lp, again));
    hmb_ledger_rollback(l, lp);
    assert_null(l->trans);
    hmb_ledger_rollback(l, lp);          /* harmless twice */

    /* a failure at the very end (an insurer row) takes back the claim
     * row and the totals already added in the same transaction */
    again = claim_pair3(lp);
    APR_ARRAY_IDX(again->insurers, 2, hmb_insurer_result_t).insurer_code
        = NULL;
    OK(hmb_ledger_begin(l, lp));
    err = hmb_ledger_record_claim(l, lp, again);
    assert_non_null(err);
    assert_non_null(strstr(err, "ledger: insert hmb_claim_insurer: "));
    hmb_ledger_rollback(l, lp);

    assert_string_equal(totals_str(l, lp, PSN1, 2024), before);
    assert_int_equal(raw_count(st, "hmb_claim"), 1);
    assert_int_equal(raw_count(st, "hmb_claim_liab"), 2);
    assert_int_equal(raw_count(st, "hmb_claim_insurer"), 3);
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &found));
    assert_non_null(found);
    assert_string_equal(found->hmb_setl_id, "HMB-0001");
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024060100002", &found));
    assert_null(found);

    /* and the connection is fine afterwards */
    record(l, lp, claim_pair3(lp));
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:3800000/1610000;outscope:2000000/300000;");

    /* a key that holds a psn_no (a marker's): the error names the
     * constraint, never the person (PostgreSQL's DETAIL is cut) */
    again = claim_pair2(lp);
    again->kind = 'M';
    again->hmb_setl_id = "HMB-M0001";
    again->liabs = NULL;
    again->insurers = NULL;
    record(l, lp, again);
    again = claim_pair2(lp);
    again->kind = 'M';
    again->hmb_setl_id = "HMB-M0002";
    again->liabs = NULL;
    again->insurers = NULL;
    OK(hmb_ledger_begin(l, lp));
    err = hmb_ledger_record_claim(l, lp, again);
    if (!err) {
        err = hmb_ledger_commit(l, lp);
    }
    assert_non_null(err);
    assert_true(strstr(err, "UNIQUE") || strstr(err, "duplicate key"));
    assert_null(strstr(err, PSN1));
    assert_null(strstr(err, "DETAIL"));
    hmb_ledger_rollback(l, lp);

    apr_pool_destroy(lp);
}

static void test_reversal(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *r = NULL, *s = NULL;
    const char *after3, *err;

    /* pairs 2, 3, then 4 cancels 2: the totals are those of pair 3
     * alone (10000.00 eligible, 7000.00 paid, nothing out of scope) */
    after3 = "inscope:1000000/700000;outscope:0/0;";
    record(l, lp, claim_pair2(lp));
    record(l, lp, claim_pair3(lp));
    record(l, lp, claim_pair4(lp));
    assert_string_equal(totals_str(l, lp, PSN1, 2024), after3);

    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &r));
    assert_non_null(r);
    assert_int_equal(r->kind, 'R');
    assert_string_equal(r->reverses, "HMB-0001");
    assert_int_equal(r->stas, HMB_STAS_REVERSED);
    assert_int_equal(r->hmb_pay, -1210000);
    assert_int_equal(APR_ARRAY_IDX(r->liabs, 0, hmb_claim_liab_t).dedc_amt,
                     -1500000);
    assert_int_equal(APR_ARRAY_IDX(r->insurers, 1,
                                   hmb_insurer_result_t).pay_amt, -423500);

    /* the settlement itself is untouched */
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &s));
    assert_non_null(s);
    assert_int_equal(s->hmb_pay, 1210000);
    assert_int_equal(s->stas, HMB_STAS_PAID);

    /* a second cancellation of the same settlement is refused */
    r = claim_pair4(lp);
    r->hmb_setl_id = "HMB-0004";
    OK(hmb_ledger_begin(l, lp));
    err = hmb_ledger_record_claim(l, lp, r);
    assert_non_null(err);
    hmb_ledger_rollback(l, lp);
    assert_string_equal(totals_str(l, lp, PSN1, 2024), after3);
    assert_int_equal(raw_count(st, "hmb_claim"), 3);
    apr_pool_destroy(lp);
}

/* A settlement asks for its setl_id's claims at once: what each find
 * answers is what it answers alone, a marker only to its own person, and
 * each once: asked again, the database answers (it may have changed). */
static void test_settle_lookup(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *m, *s = NULL, *r = NULL, *got = NULL;
    const char *other = "36090000000000000002";

    record(l, lp, claim_pair2(lp));
    /* person 2 cancelled pair 2's setl_id: a marker of theirs */
    m = apr_pcalloc(lp, sizeof(*m));
    m->hmb_setl_id = "HMB-M001";
    m->kind = 'M';
    m->setl_id = "S2024050100001";
    m->psn_no = other;
    m->stas = HMB_STAS_REVERSED;
    m->hmb_pay = 0;
    record(l, lp, m);

    /* person 1: the settlement with its rows, no reversal, no marker */
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_prefetch_settle(l, lp, "YCHMB", 2024, PSN1,
                                  "S2024050100001"));
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &s));
    assert_non_null(s);
    assert_string_equal(s->hmb_setl_id, "HMB-0001");
    assert_int_equal(s->hmb_pay, 1210000);
    assert_int_equal(s->liabs->nelts, 2);
    assert_int_equal(APR_ARRAY_IDX(s->insurers, 2,
                                   hmb_insurer_result_t).pay_amt, 302500);
    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &r));
    assert_null(r);
    OK(hmb_ledger_find_marker(l, lp, "S2024050100001", PSN1, &got));
    assert_null(got);
    /* another person's marker is asked of the database, and found */
    OK(hmb_ledger_find_marker(l, lp, "S2024050100001", other, &got));
    assert_non_null(got);
    assert_string_equal(got->hmb_setl_id, "HMB-M001");
    /* what this transaction recorded after the lookup is seen */
    r = claim_pair4(lp);
    OK(hmb_ledger_record_claim(l, lp, r));
    got = NULL;
    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &got));
    assert_non_null(got);
    assert_string_equal(got->hmb_setl_id, "HMB-0003");
    OK(hmb_ledger_commit(l, lp));

    /* person 2: their marker, the settlement and reversal as they are */
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_prefetch_settle(l, lp, "YCHMB", 2024, other,
                                  "S2024050100001"));
    got = NULL;
    OK(hmb_ledger_find_marker(l, lp, "S2024050100001", other, &got));
    assert_non_null(got);
    assert_int_equal(got->kind, 'M');
    assert_string_equal(got->psn_no, other);
    got = NULL;
    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &got));
    assert_non_null(got);
    assert_int_equal(got->hmb_pay, -1210000);
    assert_int_equal(got->insurers->nelts, 3);
    /* another setl_id is not this lookup's */
    got = NULL;
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024060100002", &got));
    assert_null(got);
    hmb_ledger_rollback(l, lp);

    /* outside that transaction, nothing is answered from it */
    got = NULL;
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &got));
    assert_non_null(got);
    apr_pool_destroy(lp);
}

/* Another process changes the schema under a connection whose
 * statements are prepared: at most the next unit of work fails, then the
 * connection recovers by itself. */
static void test_schema_change_heals(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *c = NULL;
    const char *err;

    record(l, lp, claim_pair2(lp));
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &c));
    raw_exec(st, "CREATE INDEX hmb_test_msgid ON hmb_claim (msgid)");

    err = hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &c);
    if (err) {
        assert_non_null(strstr(err, "schema has changed"));
    }
    c = NULL;
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &c));
    assert_non_null(c);
    assert_string_equal(c->hmb_setl_id, "HMB-0001");
    /* writes recover as well */
    raw_exec(st, "DROP INDEX hmb_test_msgid");
    OK(hmb_ledger_begin(l, lp));
    err = hmb_ledger_record_claim(l, lp, claim_pair3(lp));
    if (err) {
        assert_non_null(strstr(err, "schema has changed"));
        hmb_ledger_rollback(l, lp);
        record(l, lp, claim_pair3(lp));
    }
    else {
        OK(hmb_ledger_commit(l, lp));
    }
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:3800000/1610000;outscope:2000000/300000;");
    apr_pool_destroy(lp);
}

/* End the ledger connection's PostgreSQL backend, as a lost server would,
 * and wait until it is gone; its process id. */
static int kill_backend(lt_state_t *st, hmb_ledger_t *l, apr_pool_t *p)
{
    int pid = PQbackendPID(apr_dbd_native_handle(l->driver, l->handle));
    int i;

    raw_exec(st, apr_psprintf(p, "SELECT pg_terminate_backend(%d)", pid));
    for (i = 0; i < 100 && atoi(raw_value(st, apr_psprintf(p,
             "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %d",
             pid))); i++) {
        apr_sleep(apr_time_from_msec(20));
    }
    return pid;
}

/* On PostgreSQL the statements are named, kept in the server's session: a
 * connection reset into a new session (the server dropped it) must
 * prepare them again, and settle as before. */
static void test_reset_reprepares(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *named = NULL, *err;
    int pid, rv;

    if (st->spec && strcmp(st->driver, "pgsql")) {
        skip();
    }
    l = lt_open(st, &lp);
    record(l, lp, claim_pair2(lp));
    /* seen from the ledger's own session: its claim insert is named */
    rv = apr_dbd_select(l->driver, lp, l->handle, &res,
                        "SELECT COUNT(*) FROM pg_prepared_statements"
                        " WHERE name LIKE 'hmb_claim_insert%'", 1);
    assert_int_equal(rv, 0);
    while (apr_dbd_get_row(l->driver, lp, res, &row, -1) == 0) {
        named = apr_pstrdup(lp, apr_dbd_get_entry(l->driver, row, 0));
    }
    assert_string_equal(named, "1");

    pid = kill_backend(st, l, lp);
    /* The first transaction meets the closed socket, as any lost
     * connection (BEGIN and the lock wait for the commit, which is the
     * first to reach the server); the next one runs on a new session,
     * where everything is prepared again. */
    if ((err = hmb_ledger_begin(l, lp))) {
        assert_non_null(strstr(err, "ledger:"));
    }
    else {
        err = hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1);
        if (!err) {
            err = hmb_ledger_commit(l, lp);
        }
        assert_non_null(err);
        assert_non_null(strstr(err, "ledger:"));
        hmb_ledger_rollback(l, lp);
    }
    record(l, lp, claim_pair3(lp));
    assert_int_not_equal(PQbackendPID(apr_dbd_native_handle(l->driver,
                                                            l->handle)),
                         pid);
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:3800000/1610000;outscope:2000000/300000;");
    apr_pool_destroy(lp);
}

/* PostgreSQL (hmb_ledger_pipe.c): writes nobody reads wait for the next
 * read, which sees them; reads asked for ahead are answered from one
 * round trip, even once the server is gone; what was asked for and not
 * read never outlives its transaction. */
static void test_pipelined(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l, *l2;
    hmb_claim_t *found = NULL;
    hmb_enrollment_t *e = NULL;
    apr_array_header_t *rows;
    const char *err;

    if (st->spec && strcmp(st->driver, "pgsql")) {
        skip();
    }
    l = lt_open(st, &lp);
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_record_claim(l, lp, claim_pair2(lp)));
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &found));
    assert_non_null(found);
    assert_int_equal(raw_count(st, "hmb_claim"), 0);
    OK(hmb_ledger_commit(l, lp));
    assert_int_equal(raw_count(st, "hmb_claim"), 1);

    /* asked for ahead and not read: gone with its transaction */
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_prefetch_settle(l, lp, "YCHMB", 2024, PSN1,
                                  "S2024060100002"));
    OK(hmb_ledger_totals(l, lp, "YCHMB", 2024, PSN1, &rows));
    hmb_ledger_rollback(l, lp);
    record(l, lp, claim_pair3(lp));
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_find_claim(l, lp, 'S', "S2024060100002", &found));
    assert_non_null(found);
    assert_string_equal(found->hmb_setl_id, "HMB-0002");
    hmb_ledger_rollback(l, lp);

    /* outside a transaction (a pre-settlement) too; and what one user of
     * the connection asked for is never what the next one reads */
    OK(hmb_ledger_prefetch_totals(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_get_enrollment(l, lp, "YCHMB", 2024, PSN1, &e));
    raw_exec(st, "UPDATE hmb_total SET paid_amt = paid_amt + 1"
             " WHERE psn_no = '" PSN1 "' AND liab_code = 'inscope'");
    l2 = hmb_ledger_wrap(lp, l->driver, l->handle, l->pool);
    assert_string_equal(totals_str(l2, lp, PSN1, 2024),
                        "inscope:3800000/1610001;outscope:2000000/300000;");
    raw_exec(st, "UPDATE hmb_total SET paid_amt = paid_amt - 1"
             " WHERE psn_no = '" PSN1 "' AND liab_code = 'inscope'");

    /* answered from the round trip that brought them: the server can go
     * in between */
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_prefetch_settle(l, lp, "YCHMB", 2024, PSN1,
                                  "S2024050100001"));
    OK(hmb_ledger_find_claim(l, lp, 'R', "S2024050100001", &found));
    assert_null(found);
    kill_backend(st, l, lp);
    OK(hmb_ledger_totals(l, lp, "YCHMB", 2024, PSN1, &rows));
    assert_int_equal(rows->nelts, 2);
    found = claim_pair2(lp);
    OK(hmb_ledger_find_marker(l, lp, "S2024050100001", PSN1, &found));
    assert_null(found);
    /* the claim's row was asked for, its liabilities were not: that read
     * meets the end */
    err = hmb_ledger_find_claim(l, lp, 'S', "S2024050100001", &found);
    assert_non_null(err);
    hmb_ledger_rollback(l, lp);
    /* and the next transaction runs on a new session */
    record(l, lp, claim_pair4(lp));
    apr_pool_destroy(lp);
}

static hmb_liability_t liab(const char *code)
{
    hmb_liability_t x;

    memset(&x, 0, sizeof(x));
    x.code = code;
    return x;
}

static void test_read_ytd(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_plan_t plan;
    hmb_ytd_t *y = NULL;
    hmb_claim_t *c;

    /* plan order differs from the alphabetical order of the rows */
    memset(&plan, 0, sizeof(plan));
    plan.code = "YCHMB";
    plan.year = 2024;
    plan.version = 2;
    plan.liabilities = apr_array_make(lp, 3, sizeof(hmb_liability_t));
    APR_ARRAY_PUSH(plan.liabilities, hmb_liability_t) = liab("outscope");
    APR_ARRAY_PUSH(plan.liabilities, hmb_liability_t) = liab("drug");
    APR_ARRAY_PUSH(plan.liabilities, hmb_liability_t) = liab("inscope");

    OK(hmb_ledger_read_ytd(l, lp, &plan, PSN1, &y));
    assert_non_null(y);
    assert_int_equal(y->elig[0] + y->elig[1] + y->elig[2], 0);
    assert_int_equal(y->plan_paid, 0);

    record(l, lp, claim_pair2(lp));
    record(l, lp, claim_pair3(lp));
    /* a liability version 1 had and version 2 dropped */
    c = claim_pair3(lp);
    c->hmb_setl_id = "HMB-0005";
    c->setl_id = "S-OLD";
    c->hmb_pay = 12345;
    c->liabs = apr_array_make(lp, 1, sizeof(hmb_claim_liab_t));
    add_liab(c->liabs, "legacy", "C", 20000, 0, 6000, 12345);
    record(l, lp, c);
    /* other year, other person: not counted */
    c = claim_pair2(lp);
    c->hmb_setl_id = "HMB-0006";
    c->setl_id = "S-2023";
    c->plan_year = 2023;
    record(l, lp, c);
    c = claim_pair2(lp);
    c->hmb_setl_id = "HMB-0007";
    c->setl_id = "S-OTHER-PERSON";
    c->psn_no = "36090000000000000002";
    record(l, lp, c);

    OK(hmb_ledger_read_ytd(l, lp, &plan, PSN1, &y));
    assert_int_equal(y->elig[0], 2000000);          /* outscope */
    assert_int_equal(y->paid[0], 300000);
    assert_int_equal(y->elig[1], 0);                /* drug: nothing yet */
    assert_int_equal(y->paid[1], 0);
    assert_int_equal(y->elig[2], 3800000);          /* inscope */
    assert_int_equal(y->paid[2], 1610000);
    /* 9100 + 3000 + 7000 + 123.45 (legacy) */
    assert_int_equal(y->plan_paid, 1910000 + 12345);

    OK(hmb_ledger_read_ytd(l, lp, &plan, "36090000000000000002", &y));
    assert_int_equal(y->paid[2], 910000);
    assert_int_equal(y->plan_paid, 1210000);
    plan.year = 2023;
    OK(hmb_ledger_read_ytd(l, lp, &plan, PSN1, &y));
    assert_int_equal(y->elig[2], 2800000);
    assert_int_equal(y->plan_paid, 1210000);
    apr_pool_destroy(lp);
}

static void test_transactions(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    apr_array_header_t *rows = apr_array_make(lp, 1,
                                              sizeof(hmb_enrollment_t));
    const char *err, *locked;

    APR_ARRAY_PUSH(rows, hmb_enrollment_t) = enr("YCHMB", 2024, PSN1, NULL,
                                                 0, 6900, 2);
    OK(hmb_ledger_import_enrollments(l, lp, rows, NULL));

    err = hmb_ledger_commit(l, lp);
    assert_non_null(err);
    assert_non_null(strstr(err, "without a transaction"));

    OK(hmb_ledger_begin(l, lp));
    err = hmb_ledger_begin(l, lp);
    assert_non_null(err);
    assert_non_null(strstr(err, "already open"));
    /* an import needs its own transaction */
    assert_non_null(hmb_ledger_import_enrollments(l, lp, rows, NULL));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, "not-enrolled"));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_commit(l, lp));
    /* PostgreSQL: the row's lock; SQLite: the transaction's own write
     * lock stands for it, and the row is not written */
    locked = strcmp(st->driver, "pgsql") ? "0" : "2";
    assert_string_equal(raw_value(st, "SELECT lock_seq FROM hmb_enrollment"
                                      " WHERE psn_no = '" PSN1 "'"), locked);

    /* rolled back work leaves no trace */
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_lock_person(l, lp, "YCHMB", 2024, PSN1));
    OK(hmb_ledger_record_claim(l, lp, claim_pair2(lp)));
    hmb_ledger_rollback(l, lp);
    assert_string_equal(raw_value(st, "SELECT lock_seq FROM hmb_enrollment"
                                      " WHERE psn_no = '" PSN1 "'"), locked);
    assert_int_equal(raw_count(st, "hmb_claim"), 0);
    assert_string_equal(totals_str(l, lp, PSN1, 2024), "");
    apr_pool_destroy(lp);
}

/* apr_dbd ends a transaction by a cleanup on the pool it started in:
 * ending it by another pool leaves that cleanup behind, a few bytes of the
 * connection's pool per claim and a stray COMMIT each when the connection
 * closes, which would commit whatever half-done work is open then. A child
 * settles for days on one connection. */
static void test_transactions_leave_nothing(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp, *tp;
    hmb_ledger_t *l = lt_open(st, &lp);
    int i, n;

    apr_pool_create(&tp, st->pool);
    for (i = 0; i < 4; i++) {
        OK(hmb_ledger_begin(l, tp));
        if (i % 2) {
            OK(hmb_ledger_commit(l, tp));
        }
        else {
            hmb_ledger_rollback(l, tp);
        }
        apr_pool_clear(tp);
    }
    /* work in progress when the connection goes: the server rolls it
     * back, unless something commits it on the way out */
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &n, "BEGIN"), 0);
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &n,
                                   "INSERT INTO hmb_meta (name, value)"
                                   " VALUES ('half-done', 'x')"), 0);
    apr_pool_destroy(lp);
    assert_string_equal(raw_value(st, "SELECT COUNT(*) FROM hmb_meta"
                                      " WHERE name = 'half-done'"), "0");
}

static const char *psn_seq_of(lt_state_t *st, const char *hmb_setl_id)
{
    return raw_value(st, apr_psprintf(st->pool, "SELECT psn_seq FROM"
                                      " hmb_claim WHERE hmb_setl_id = '%s'",
                                      hmb_setl_id));
}

/* psn_seq numbers each person's claims of one plan code and year in the
 * order they were recorded: 1, 2, 3... A claim priced by no plan counts
 * among the person's other claims without a plan. */
static void test_psn_seq(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_claim_t *c, none;

    record(l, lp, claim_pair3(lp));
    record(l, lp, claim_pair2(lp));
    record(l, lp, claim_pair4(lp));
    assert_string_equal(psn_seq_of(st, "HMB-0002"), "1");
    assert_string_equal(psn_seq_of(st, "HMB-0001"), "2");
    assert_string_equal(psn_seq_of(st, "HMB-0003"), "3");

    /* another year and another person start again at 1 */
    c = claim_pair2(lp);
    c->hmb_setl_id = "HMB-2023";
    c->setl_id = "S-2023";
    c->plan_year = 2023;
    record(l, lp, c);
    assert_string_equal(psn_seq_of(st, "HMB-2023"), "1");
    c = claim_pair2(lp);
    c->hmb_setl_id = "HMB-P2";
    c->setl_id = "S-P2";
    c->psn_no = "36090000000000000002";
    record(l, lp, c);
    assert_string_equal(psn_seq_of(st, "HMB-P2"), "1");

    memset(&none, 0, sizeof(none));
    none.hmb_setl_id = "HMB-NONE";
    none.kind = 'S';
    none.setl_id = "S-NONE";
    none.psn_no = PSN1;
    none.stas = HMB_STAS_INELIGIBLE;
    none.rea = HMB_REA_OUTSIDE_PERIOD;
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_record_claim(l, lp, &none));
    OK(hmb_ledger_commit(l, lp));
    assert_string_equal(psn_seq_of(st, "HMB-NONE"), "1");

    /* two claims of one person with the same number are refused */
    assert_int_not_equal(raw_try(st, "INSERT INTO hmb_claim (hmb_setl_id,"
                                 " kind, setl_id, psn_no, plan_code,"
                                 " plan_year, stas, hmb_pay, created_at,"
                                 " psn_seq) VALUES ('HMB-X', 'S', 'S-X', '"
                                 PSN1 "', 'YCHMB', 2024, 'paid', 0,"
                                 " '2024-01-01T00:00:00Z', 3)"), 0);
    assert_int_equal(raw_count(st, "hmb_claim"), 6);
    apr_pool_destroy(lp);
}

/* A ledger written by schema version 1 is brought to version 2 when it
 * is opened: psn_seq is filled in from the order the claims were
 * recorded, and nothing else changes. */
static void test_migrate_v1(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l;
    hmb_claim_t *c = NULL;

    if (!st->spec) {
        skip();
    }
    raw_script(st, HMB_FIXTURE("shared/ledger-v1.sql"));
    assert_string_equal(raw_value(st, "SELECT value FROM hmb_meta"
                                      " WHERE name = 'schema_version'"), "1");
    l = lt_open(st, &lp);
    assert_string_equal(raw_value(st, "SELECT value FROM hmb_meta"
                                      " WHERE name = 'schema_version'"),
                        apr_itoa(st->pool, HMB_LEDGER_SCHEMA_VERSION));
    /* created 05-01 02:00:00, then two in the same second: the
     * settlement before the reversal, whatever their ids */
    assert_string_equal(psn_seq_of(st, "HMB-S0001"), "1");
    assert_string_equal(psn_seq_of(st, "HMB-S0002"), "2");
    assert_string_equal(psn_seq_of(st, "HMBR-S0001"), "3");
    assert_string_equal(psn_seq_of(st, "HMB-S0100"), "1");
    assert_string_equal(psn_seq_of(st, "HMB-S0101"), "1");
    assert_int_equal(raw_count(st, "hmb_claim"), 5);
    assert_int_equal(raw_count(st, "hmb_claim_liab"), 7);
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:1000000/700000;outscope:0/0;");
    OK(hmb_ledger_find_claim(l, lp, 'R', "S0001", &c));
    assert_non_null(c);
    assert_string_equal(c->reverses, "HMB-S0001");
    assert_int_equal(c->hmb_pay, -1210000);
    assert_string_equal(raw_value(st, "SELECT lock_seq FROM hmb_enrollment"
                                      " WHERE psn_no = '" PSN1 "'"), "3");

    /* the next claim goes on from the migrated numbers */
    record(l, lp, claim_pair3(lp));
    assert_string_equal(psn_seq_of(st, "HMB-0002"), "4");
    assert_string_equal(totals_str(l, lp, PSN1, 2024),
                        "inscope:2000000/1400000;outscope:0/0;");
    apr_pool_destroy(lp);

    /* opened again: already version 2, nothing runs twice */
    l = lt_open(st, &lp);
    assert_string_equal(psn_seq_of(st, "HMB-0002"), "4");
    assert_int_equal(raw_count(st, "hmb_claim"), 6);
    apr_pool_destroy(lp);
}

static void memo_fee(apr_array_header_t *a, const char *sn, const char *psn,
                     const char *code, hmb_fen_t ful)
{
    hmb_memo_fee_t *f = apr_array_push(a);

    memset(f, 0, sizeof(*f));
    f->mdtrt_id = "V1";
    f->psn_no = psn;
    f->fee.feedetl_sn = sn;
    f->fee.med_list_codg = code;
    f->fee.fulamt_ownpay_amt = ful;
}

/* What 2301, 2302 and 1101 said (schema 6): kept per visit and person,
 * another person's lines left out, a line taken back, a status per
 * insutype, and nothing older than the retention used or kept. */
static void test_memo(void **state)
{
    lt_state_t *st = *state;
    apr_pool_t *lp;
    hmb_ledger_t *l = lt_open(st, &lp);
    hmb_memo_t m;
    apr_array_header_t *fees;
    hmb_memo_status_t *ms;
    int rows, foreign, stas;

    memset(&m, 0, sizeof(m));
    m.what = HMB_MEMO_FEES;
    m.fees = apr_array_make(lp, 3, sizeof(hmb_memo_fee_t));
    memo_fee(m.fees, "1", "P1", "A", 300000);
    memo_fee(m.fees, "2", "P1", "B", -2510);
    memo_fee(m.fees, "3", "P2", "C", 100);
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_memo_record(l, lp, &m, "H1", "MSG1", 0, &rows));
    OK(hmb_ledger_commit(l, lp));
    assert_int_equal(rows, 3);
    OK(hmb_ledger_memo_fees(l, lp, "V1", "P1", "H1", 0, &fees, &foreign));
    assert_int_equal(fees->nelts, 2);
    assert_int_equal(foreign, 1);
    assert_string_equal(APR_ARRAY_IDX(fees, 1, hmb_fee_t).med_list_codg,
                        "B");
    assert_int_equal(APR_ARRAY_IDX(fees, 1, hmb_fee_t).fulamt_ownpay_amt,
                     -2510);
    /* another institution's upload is not this visit's */
    OK(hmb_ledger_memo_fees(l, lp, "V1", "P1", "H2", 0, &fees, &foreign));
    assert_int_equal(fees->nelts, 0);

    /* 2302 takes line 2 back */
    memset(&m, 0, sizeof(m));
    m.what = HMB_MEMO_FEES_CANCEL;
    m.mdtrt_id = "V1";
    m.feedetl_sn = "2";
    m.psn_no = "P1";
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_memo_record(l, lp, &m, "H1", "MSG2", 0, &rows));
    OK(hmb_ledger_commit(l, lp));
    assert_int_equal(rows, 1);
    OK(hmb_ledger_memo_fees(l, lp, "V1", "P1", "H1", 0, &fees, &foreign));
    assert_int_equal(fees->nelts, 1);

    /* 1101 */
    memset(&m, 0, sizeof(m));
    m.what = HMB_MEMO_PERSON;
    m.psn_no = "P1";
    m.status = apr_array_make(lp, 2, sizeof(hmb_memo_status_t));
    ms = apr_array_push(m.status);
    ms->insutype = "310";
    ms->psn_insu_stas = 1;
    ms = apr_array_push(m.status);
    ms->insutype = "390";
    ms->psn_insu_stas = 2;
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_memo_record(l, lp, &m, "H1", "MSG3", 0, &rows));
    OK(hmb_ledger_commit(l, lp));
    OK(hmb_ledger_memo_status(l, lp, "P1", "390", 0, &stas));
    assert_int_equal(stas, 2);
    /* two insurances and none named: no guess */
    OK(hmb_ledger_memo_status(l, lp, "P1", NULL, 0, &stas));
    assert_int_equal(stas, -1);

    /* older than the retention: not used, and gone at the next write */
    raw_exec(st, "UPDATE hmb_memo_fee SET recorded_at ="
                 " '2000-01-01T00:00:00Z'");
    OK(hmb_ledger_memo_fees(l, lp, "V1", "P1", "H1", 0, &fees, &foreign));
    assert_int_equal(fees->nelts, 0);
    assert_int_equal(raw_count(st, "hmb_memo_fee"), 2);
    OK(hmb_ledger_begin(l, lp));
    OK(hmb_ledger_memo_record(l, lp, &m, "H1", "MSG4", 0, &rows));
    OK(hmb_ledger_commit(l, lp));
    assert_int_equal(raw_count(st, "hmb_memo_fee"), 0);
    assert_int_equal(raw_count(st, "hmb_memo_status"), 2);
    apr_pool_destroy(lp);
}

#define T(f, s) cmocka_unit_test_setup_teardown(f, s, teardown)
#define ALL(s) \
    T(test_schema_created_once, s), \
    T(test_wrapped_connection, s), \
    T(test_bad_specs, s), \
    T(test_reopen_keeps_data, s), \
    T(test_enrollment_import, s), \
    T(test_get_enrollment, s), \
    T(test_record_claim_and_totals, s), \
    T(test_claim_without_plan, s), \
    T(test_duplicate_refused, s), \
    T(test_reversal, s), \
    T(test_settle_lookup, s), \
    T(test_read_ytd, s), \
    T(test_transactions, s), \
    T(test_transactions_leave_nothing, s), \
    T(test_psn_seq, s), \
    T(test_migrate_v1, s), \
    T(test_schema_change_heals, s), \
    T(test_memo, s), \
    T(test_reset_reprepares, s), \
    T(test_pipelined, s)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = { ALL(setup_sqlite) };
    const struct CMUnitTest pgsql_tests[] = { ALL(setup_pgsql) };
    int failed;

    /* cmocka writes to stdout and stderr: keep them in order in logs */
    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    /* PostgreSQL first, so that the closing summary is SQLite's, which
     * always runs; each PostgreSQL case is skipped unless HMB_TEST_PGSQL
     * names a database. */
    failed = cmocka_run_group_tests_name("ledger-pgsql", pgsql_tests,
                                         NULL, NULL);
    failed += cmocka_run_group_tests_name("ledger-sqlite", sqlite_tests,
                                          NULL, NULL);
    return failed ? 1 : 0;
}
