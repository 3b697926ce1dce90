/* Integration: the conformance kit (issue 12, part 4), as a HIS vendor
 * runs it. hmb-sandbox --cases conf/conformance stands in for the
 * settlement server; the module, in Debian's apache2 started by
 * harness.sh, is in front of it with a fresh SQLite ledger holding the
 * cases' enrollments (conf/enroll-sample.csv) under the sample plan; and
 * `hmbctl conform URL CASES_DIR` sends every case through it and holds
 * each answer against the case's expected <hmbinfo>.
 *
 * Every case passes on the fresh deployment; a case whose expected answer
 * is wrong is reported, field by field, with exit status 1.
 */
#include <sys/types.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define CASES       HMB_SRCDIR "/conf/conformance"
#define PLAN        HMB_SRCDIR "/conf/plans/yichun-2024.xml"
#define ENROLL_CSV  HMB_SRCDIR "/conf/enroll-sample.csv"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *url;
    apr_port_t port;
    apr_port_t up_port;
} conform_env_t;

static conform_env_t env;

static int conform(apr_pool_t *p, const char *cases, char **out)
{
    const char *argv[] = {HMB_IT_HMBCTL_BIN, "conform", env.url, cases,
                          NULL};

    return hmb_it_capture(p, env.rundir, NULL, argv, apr_time_from_sec(120),
                          out);
}

/* First: the ledger is fresh only once. */
static void test_every_case_conforms(void **state)
{
    apr_pool_t *p = *state;
    /* the cases: their NAME.req.xml files */
    int n = hmb_it_files(p, CASES, ".req.xml")->nelts;
    char *out;
    int rc;

    assert_true(n >= 16);
    rc = conform(p, CASES, &out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_contains(out, apr_psprintf(p, "conform: %d cases, %d passed, "
                                 "0 failed", n, n));
    assert_null(strstr(out, "FAIL"));
}

/* The same deployment, and a case whose expected payout is wrong (a
 * copy of 03-preexisting alone: its repeat is answered as the first
 * time): it fails with what differed, and the exit status says so. */
static void test_wrong_expectation_fails(void **state)
{
    apr_pool_t *p = *state;
    const char *bad = apr_pstrcat(p, env.rundir, "/cases-bad", NULL);
    const char *exp = apr_pstrcat(p, bad, "/03-preexisting.hmbinfo.xml",
                                  NULL);
    const char *mk[] = {"/bin/mkdir", bad, NULL};
    const char *cp[] = {"/bin/cp", CASES "/03-preexisting.req.xml",
                        CASES "/03-preexisting.resp.xml",
                        CASES "/03-preexisting.hmbinfo.xml", bad, NULL};
    char *text, *at, *out;
    int rc;

    assert_no_error(hmb_it_run(p, mk, apr_time_from_sec(10)));
    assert_no_error(hmb_it_run(p, cp, apr_time_from_sec(10)));
    text = hmb_test_slurp(p, exp, NULL);
    at = strstr(text, "<hmb_pay>5250.00</hmb_pay>");
    assert_non_null(at);
    memcpy(at, "<hmb_pay>5200.00</hmb_pay>", 26);
    assert_no_error(hmb_it_write_file(p, exp, text, strlen(text)));

    rc = conform(p, bad, &out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(hmb_it_line_with(p, out, "03-preexisting", "FAIL"));
    assert_contains(out, "hmb_pay: expected \"5200.00\", got \"5250.00\"");
    assert_contains(out, "conform: 1 cases, 0 passed, 1 failed");
}

/* --- the deployment ---------------------------------------------------- */

static int group_setup(void **state)
{
    static const char *const plans[] = { PLAN, NULL };
    static const char *const cases[] = { "--cases", CASES, NULL };
    apr_pool_t *p;
    const char *why, *dir, *ledger;

    (void)state;
    if (hmb_it_group_begin("conform", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    dir = env.rundir;
    why = hmb_it_sqlite_ledger(p, dir, plans, ENROLL_CSV, "imported 10 ",
                               HMB_IT_HTTPD_USER, &ledger);
    if (!why) {
        why = hmb_it_free_ports(p, &env.up_port, &env.port, NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "sandbox", env.up_port, NULL,
                                    cases);
    }
    if (!why) {
        why = hmb_it_start_httpd(p, dir, env.port, "module.conf",
                                 hmb_it_module_conf(p, plans,
                                                    HMB_IT_DBD_SQLITE,
                                                    env.up_port, NULL,
                                                    NULL));
    }
    env.url = apr_psprintf(p, "http://127.0.0.1:%d/fsi/api", (int)env.port);
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_every_case_conforms),
        HMB_IT_TEST(test_wrong_expectation_fails),
    };

    return hmb_it_main("integration: the conformance kit (hmbctl conform)",
                       tests, group_setup, hmb_it_group_teardown) ? 1 : 0;
}
