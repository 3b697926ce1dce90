/* The audit trail (hmb_ledger_audit.h) on a real SQLite file and, when
 * HMB_TEST_PGSQL names a database, on PostgreSQL: claims of every kind
 * (settled, reversed, replayed, corrected) chain per person; an UPDATE, a
 * DELETE and an INSERT made directly in SQL are each named by verify; a
 * sealed day root finds a claim deleted with its trail entry. */
#include "hmb_test.h"
#include "hmb_ledger_audit.h"
#include "hmb_rollup.h"

typedef struct {
    apr_pool_t *pool;
    const char *spec;
} at_state_t;

#define PSN_A "36000000000000000001"
#define PSN_B "36000000000000000002"

static int setup_sqlite(void **state)
{
    at_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->spec = apr_pstrcat(st->pool, "sqlite3:",
                           hmb_test_tmpdir(st->pool, "audit"), "/ledger.db",
                           NULL);
    *state = st;
    return 0;
}

static int setup_pgsql(void **state)
{
    at_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->spec = hmb_test_pgsql_fresh(st->pool);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    at_state_t *st = *state;

    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

static hmb_ledger_t *at_open(at_state_t *st)
{
    hmb_ledger_t *l = NULL;

    if (!st->spec) {
        skip();
    }
    assert_no_error(hmb_ledger_open(st->pool, st->spec, &l));
    return l;
}

static void sql(hmb_ledger_t *l, const char *q)
{
    int n;

    if (apr_dbd_query(l->driver, l->handle, &n, q)) {
        fail_msg("%s: %s", q, apr_dbd_error(l->driver, l->handle, 1));
    }
}

/* A claim deleted in SQL with its rows, and with its trail entry too
 * when trail says so. */
static void delete_claim(hmb_ledger_t *l, apr_pool_t *p, const char *id,
                         int trail)
{
    static const char *const tables[] = {"hmb_claim_liab",
                                         "hmb_claim_insurer", "hmb_claim",
                                         "hmb_claim_audit"};
    int i;

    for (i = 0; i < 3 + !!trail; i++) {
        sql(l, apr_psprintf(p, "DELETE FROM %s WHERE hmb_setl_id = '%s'",
                            tables[i], id));
    }
}

static hmb_claim_t *claim(apr_pool_t *p, char kind, const char *id,
                          const char *psn, hmb_fen_t pay)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));
    hmb_claim_liab_t *lr;
    hmb_insurer_result_t *ir;

    c->hmb_setl_id = id;
    c->kind = kind;
    c->setl_id = strchr(id, '-') + 1;
    c->psn_no = psn;
    c->fixmedins_code = "H36090200001";
    c->setl_time = "2024-05-01 10:00:00";
    c->plan_code = "YCHMB";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = kind == 'R' ? HMB_STAS_REVERSED : HMB_STAS_PAID;
    c->hmb_pay = pay;
    c->hmbinfo = apr_psprintf(p, "<hmbinfo><hmb_pay>%" APR_INT64_T_FMT
                              "</hmb_pay></hmbinfo>", (apr_int64_t)pay);
    c->origin = "desk";
    c->liabs = apr_array_make(p, 1, sizeof(hmb_claim_liab_t));
    c->insurers = apr_array_make(p, 1, sizeof(hmb_insurer_result_t));
    lr = apr_array_push(c->liabs);
    memset(lr, 0, sizeof(*lr));
    lr->liab_code = "inscope";
    lr->pool = "A";
    lr->cap = 100000000;
    lr->elig_amt = 2 * pay;
    lr->pay_prop = 5000;
    lr->pay_amt = pay;
    ir = apr_array_push(c->insurers);
    ir->insurer_code = "PICC";
    ir->share = 10000;
    ir->pay_amt = pay;
    return c;
}

static void record(hmb_ledger_t *l, apr_pool_t *p, hmb_claim_t *c)
{
    assert_no_error(hmb_ledger_begin(l, p));
    assert_no_error(hmb_ledger_lock_person(l, p, c->plan_code, c->plan_year,
                                           c->psn_no));
    assert_no_error(hmb_ledger_record_claim(l, p, c));
    assert_no_error(hmb_ledger_commit(l, p));
}

/* Person A: settled, reversed, settled again by replay, an ineligible
 * claim corrected by redecide; person B: one claim. */
static void record_some(hmb_ledger_t *l, apr_pool_t *p)
{
    hmb_claim_t *c;

    record(l, p, claim(p, 'S', "HMB-S1", PSN_A, 10000));
    c = claim(p, 'R', "HMBR-S1", PSN_A, -10000);
    c->reverses = "HMB-S1";
    record(l, p, c);
    c = claim(p, 'S', "HMB-S2", PSN_A, 20000);
    c->origin = "replay";
    c->msg = "<settlement/>";
    record(l, p, c);
    c = claim(p, 'S', "HMB-S3", PSN_A, 0);
    c->stas = HMB_STAS_INELIGIBLE;
    c->rea = HMB_REA_NOT_ENROLLED;
    c->liabs->nelts = 0;
    c->insurers->nelts = 0;
    record(l, p, c);
    c = claim(p, 'C', "HMBC-S3", PSN_A, 5000);
    c->reverses = "HMB-S3";
    c->origin = "redecide";
    c->decided_by = "auditor";
    c->why = "enrolled late";
    record(l, p, c);
    record(l, p, claim(p, 'S', "HMB-S4", PSN_B, 7000));
}

static hmb_audit_report_t *verify(hmb_ledger_t *l, apr_pool_t *p)
{
    hmb_audit_report_t *r;

    assert_no_error(hmb_audit_verify(l, p, NULL, NULL, 10, &r));
    return r;
}

static const hmb_audit_finding_t *first(hmb_audit_report_t *r)
{
    if (!r->findings->nelts) {
        fail_msg("verify found nothing");
    }
    return &APR_ARRAY_IDX(r->findings, 0, hmb_audit_finding_t);
}

/* Exactly one finding, of this kind, naming this claim (or day). */
static const hmb_audit_finding_t *one(hmb_audit_report_t *r,
                                      const char *what, const char *id)
{
    const hmb_audit_finding_t *f = first(r);

    assert_int_equal(r->findings->nelts, 1);
    assert_string_equal(f->what, what);
    assert_string_equal(f->hmb_setl_id ? f->hmb_setl_id : f->day, id);
    return f;
}

static void test_every_kind_chains(void **state)
{
    at_state_t *st = *state;
    hmb_ledger_t *l = at_open(st);
    apr_pool_t *p = st->pool;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    hmb_audit_report_t *r;
    const char *prev = HMB_AUDIT_GENESIS;
    static const char *const order[] = {"HMB-S1", "HMBR-S1", "HMB-S2",
                                        "HMB-S3", "HMBC-S3"};
    int i = 0;

    record_some(l, p);
    r = verify(l, p);
    assert_int_equal(r->claims, 6);
    assert_int_equal(r->findings->nelts, 0);
    /* person A's chain: in the order recorded, each linked to the last */
    assert_int_equal(apr_dbd_select(l->driver, p, l->handle, &res,
                                    "SELECT hmb_setl_id, seq, prev_hash,"
                                    " hash, day FROM hmb_claim_audit"
                                    " WHERE psn_no = '" PSN_A "'"
                                    " ORDER BY seq", 0), 0);
    while (apr_dbd_get_row(l->driver, p, res, &row, -1) == 0) {
        assert_true(i < 5);
        assert_string_equal(apr_dbd_get_entry(l->driver, row, 0), order[i]);
        assert_int_equal(atoi(apr_dbd_get_entry(l->driver, row, 1)), i + 1);
        assert_string_equal(apr_dbd_get_entry(l->driver, row, 2), prev);
        prev = apr_pstrdup(p, apr_dbd_get_entry(l->driver, row, 3));
        assert_int_equal(strlen(prev), 64);
        assert_string_equal(apr_dbd_get_entry(l->driver, row, 4),
                            hmb_audit_today(l, p));
        i++;
    }
    assert_int_equal(i, 5);
}

/* An amount changed in SQL, in the claim or in one of its rows. */
static void test_update_named(void **state)
{
    at_state_t *st = *state;
    hmb_ledger_t *l = at_open(st);
    apr_pool_t *p = st->pool;
    hmb_audit_report_t *r;

    record_some(l, p);
    sql(l, "UPDATE hmb_claim SET hmb_pay = hmb_pay + 100"
           " WHERE hmb_setl_id = 'HMB-S2'");
    r = verify(l, p);
    one(r, "altered", "HMB-S2");
    /* masked: no full psn_no in what an auditor's report prints */
    assert_null(strstr(first(r)->detail, PSN_A));
    sql(l, "UPDATE hmb_claim SET hmb_pay = hmb_pay - 100"
           " WHERE hmb_setl_id = 'HMB-S2'");
    assert_int_equal(verify(l, p)->findings->nelts, 0);
    sql(l, "UPDATE hmb_claim_insurer SET pay_amt = 1"
           " WHERE hmb_setl_id = 'HMB-S4'");
    r = verify(l, p);
    assert_int_equal(r->findings->nelts, 1);
    assert_string_equal(first(r)->hmb_setl_id, "HMB-S4");
}

/* A claim deleted with its rows; then one deleted with its trail entry
 * too (the next claim of the chain no longer links). */
static void test_delete_named(void **state)
{
    at_state_t *st = *state;
    hmb_ledger_t *l = at_open(st);
    apr_pool_t *p = st->pool;
    hmb_audit_report_t *r;

    record_some(l, p);
    delete_claim(l, p, "HMB-S4", 0);
    r = verify(l, p);
    one(r, "deleted", "HMB-S4");

    sql(l, "DELETE FROM hmb_claim_audit WHERE hmb_setl_id = 'HMB-S4'");
    delete_claim(l, p, "HMBR-S1", 1);
    /* named by the claim it was before: its own id went with its entry */
    r = verify(l, p);
    one(r, "deleted", "HMB-S2");
    assert_contains(first(r)->detail, "#3");
}

/* A claim forged in SQL, with no trail entry; then one with a forged
 * entry appended to a chain. */
static void test_insert_named(void **state)
{
    at_state_t *st = *state;
    hmb_ledger_t *l = at_open(st);
    apr_pool_t *p = st->pool;
    hmb_audit_report_t *r;

    record_some(l, p);
    sql(l, "INSERT INTO hmb_claim (hmb_setl_id, kind, setl_id, psn_no,"
           " plan_code, plan_year, plan_ver, stas, hmb_pay, created_at,"
           " origin, psn_seq) VALUES ('HMB-F1', 'S', 'F1', '" PSN_B "',"
           " 'YCHMB', 2024, 1, 'paid', 99999900, '2024-05-02T00:00:00Z',"
           " 'desk', 2)");
    r = verify(l, p);
    one(r, "inserted", "HMB-F1");
    /* an entry made up for it, with a hash that is not its own */
    sql(l, apr_psprintf(p, "INSERT INTO hmb_claim_audit VALUES ('HMB-F1',"
                        " '" PSN_B "', 'YCHMB', 2024, 2, '%s',"
                        " (SELECT hash FROM hmb_claim_audit WHERE"
                        " hmb_setl_id = 'HMB-S4'), '%s')",
                        hmb_audit_today(l, p), HMB_AUDIT_GENESIS));
    r = verify(l, p);
    one(r, "altered", "HMB-F1");
}

/* Claims recorded on a day that is over (by the ledger's UTC offset: at
 * -12:00 it is yesterday or earlier where +14:00 is today): its root is
 * sealed once, verify recomputes it, and a chain's head deleted with its
 * trail entry changes it. */
static void test_sealed_root(void **state)
{
    at_state_t *st = *state;
    hmb_ledger_t *l = at_open(st);
    apr_pool_t *p = st->pool;
    hmb_audit_root_t *root, *again;
    hmb_audit_report_t *r;
    const char *day;

    l->utc_offset_min = -12 * 60;
    day = hmb_audit_today(l, p);
    record_some(l, p);
    assert_no_error(hmb_audit_root(l, p, day, &root));
    assert_null(root->sealed);          /* at -12:00 the day goes on */
    l->utc_offset_min = 14 * 60;
    assert_true(strcmp(day, hmb_audit_today(l, p)) < 0);
    assert_no_error(hmb_audit_root(l, p, day, &again));
    assert_string_equal(again->root, root->root);
    assert_string_equal(again->sealed, root->root);
    assert_int_equal(again->heads, 2);
    assert_int_equal(again->claims, 6);
    r = verify(l, p);
    assert_int_equal(r->roots, 1);
    assert_int_equal(r->findings->nelts, 0);

    /* person B's only claim, gone with every trace of it */
    delete_claim(l, p, "HMB-S4", 1);
    r = verify(l, p);
    one(r, "root", day);
    assert_no_error(hmb_audit_root(l, p, day, &again));
    assert_string_equal(again->sealed, root->root);
    assert_string_not_equal(again->root, root->root);
    /* a range that leaves the day out does not look at it */
    assert_no_error(hmb_audit_verify(l, p, hmb_rollup_day_add(p, day, 1),
                                     NULL, 10, &r));
    assert_int_equal(r->findings->nelts, 0);
    assert_int_equal(r->claims, 0);
}

#define T(f, s) cmocka_unit_test_setup_teardown(f, s, teardown)

int main(void)
{
    const struct CMUnitTest pgsql[] = {
        T(test_every_kind_chains, setup_pgsql),
        T(test_update_named, setup_pgsql),
        T(test_delete_named, setup_pgsql),
        T(test_insert_named, setup_pgsql),
        T(test_sealed_root, setup_pgsql),
    };
    const struct CMUnitTest sqlite[] = {
        T(test_every_kind_chains, setup_sqlite),
        T(test_update_named, setup_sqlite),
        T(test_delete_named, setup_sqlite),
        T(test_insert_named, setup_sqlite),
        T(test_sealed_root, setup_sqlite),
    };
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    failed = cmocka_run_group_tests_name("audit-pgsql", pgsql, NULL, NULL);
    failed += cmocka_run_group_tests_name("audit-sqlite", sqlite, NULL,
                                          NULL);
    return failed ? 1 : 0;
}
