/* make bench-scale, small: 20,000 enrollees and 2,000 claims on a real
 * SQLite file and, when HMB_TEST_PGSQL names a database, on PostgreSQL.
 * Every settlement of both phases is paid, the ledger holds what was
 * loaded, and the rollups agree with the claims after it all. The
 * figures are printed, never asserted. HMB_PROPS_SCALE divides the
 * sizes (valgrind). */
#include "hmb_test.h"
#include "hmb_rollup.h"
#include "hmb_scale.h"
#include "hmb_xml.h"

static void run(apr_pool_t *p, const char *spec)
{
    int k = hmb_test_scale(), e = 20000 / k, c = 2000 / k, n = 50 / k;
    hmb_scale_report_t r;
    apr_array_header_t *diffs;
    apr_int64_t rolled = 0;
    hmb_ledger_t *l;

    if (!spec) {
        skip();
    }
    assert_no_error(hmb_scale_run(p, HMB_SRCDIR, spec, e, c, n, 0, &r));
    printf("scale (%s): settlement p50 %.2f ms -> %.2f ms, p99 %.2f ms -> "
           "%.2f ms, dashboard %.2f ms -> %.2f ms; import %.2f s\n", spec,
           r.empty.settle_p50, r.loaded.settle_p50, r.empty.settle_p99,
           r.loaded.settle_p99, r.empty.dash_p50, r.loaded.dash_p50,
           r.enroll_s);
    assert_int_equal(r.empty.settled, n);
    assert_int_equal(r.empty.paid, n);
    assert_int_equal(r.loaded.settled, n);
    assert_int_equal(r.loaded.paid, n);
    assert_int_equal(r.enrollees, e + 2 * n);
    assert_int_equal(r.claims, c + 2 * n);
    assert_no_error(hmb_ledger_open(p, spec, &l));
    assert_no_error(hmb_rollup_rebuild(l, p, l->utc_offset_min, 0, &diffs,
                                       &rolled));
    assert_int_equal(rolled, c + 2 * n);
    if (diffs->nelts) {
        fail_msg("%d rollups differ: %s", diffs->nelts,
                 APR_ARRAY_IDX(diffs, 0, const char *));
    }
}

static void test_scale_sqlite(void **state)
{
    apr_pool_t *p = *state;

    run(p, apr_pstrcat(p, "sqlite3:", hmb_test_tmpdir(p, "scale"),
                       "/ledger.db", NULL));
}

static void test_scale_pgsql(void **state)
{
    apr_pool_t *p = *state;

    run(p, hmb_test_pgsql_fresh(p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scale_sqlite,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_scale_pgsql,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    hmb_xml_init();
    return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
