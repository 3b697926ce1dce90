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
#include <dirent.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define MODULE_SO   HMB_BUILDDIR "/mod_huiminbao.so"
#define CASES       HMB_SRCDIR "/conf/conformance"
#define PLAN        HMB_SRCDIR "/conf/plans/yichun-2024.xml"
#define ENROLL_CSV  HMB_SRCDIR "/conf/enroll-sample.csv"
#define HTTPD_USER  "www-data"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *url;
    apr_port_t port;
    apr_port_t up_port;
    apr_proc_t up_proc;
    int httpd_started;
} conform_env_t;

static conform_env_t env;
static char rundir_left[512];

/* The cases in dir: its NAME.req.xml files. */
static int count_cases(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len > 8 && !strcmp(e->d_name + len - 8, ".req.xml")) {
            n++;
        }
    }
    closedir(d);
    return n;
}

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
    int n = count_cases(CASES);
    char *out;
    int rc;

    assert_true(n >= 16);
    rc = conform(p, CASES, &out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_has(out, apr_psprintf(p, "conform: %d cases, %d passed, "
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
    assert_has(out, "hmb_pay: expected \"5200.00\", got \"5250.00\"");
    assert_has(out, "conform: 1 cases, 0 passed, 1 failed");
}

/* --- the deployment ---------------------------------------------------- */

static int group_teardown(void **state)
{
    apr_proc_t *procs[] = {&env.up_proc};
    const char *names[] = {"hmb-sandbox"};
    int ok;

    (void)state;
    if (!env.pool) {
        return 0;
    }
    ok = hmb_it_teardown(env.pool, env.rundir, env.httpd_started, procs,
                         names, 1);
    apr_cpystrn(rundir_left, env.rundir, sizeof(rundir_left));
    apr_pool_destroy(env.pool);
    memset(&env, 0, sizeof(env));
    return ok ? 0 : -1;
}

static int group_setup(void **state)
{
    apr_pool_t *p;
    const char *why = NULL, *db, *conf_path;
    char *dir, *out;

    (void)state;
    memset(&env, 0, sizeof(env));
    apr_pool_create(&p, NULL);
    env.pool = p;
    if (!(dir = hmb_it_make_rundir(p, "conform"))) {
        apr_pool_destroy(p);
        env.pool = NULL;
        return -1;
    }
    env.rundir = dir;
    db = apr_pstrcat(p, dir, "/ledger/ledger.db", NULL);
    conf_path = apr_pstrcat(p, dir, "/module.conf", NULL);
    if (apr_dir_make_recursive(apr_pstrcat(p, dir, "/ledger", NULL),
                               APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS
        || apr_dir_make_recursive(apr_pstrcat(p, dir, "/spool", NULL),
                                  APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS) {
        why = "cannot create the ledger's and the spool's directories";
    }
    if (!why) {
        const char *argv[] = {
            HMB_IT_HMBCTL_BIN, "--ledger", apr_pstrcat(p, "sqlite3:", db,
                                                       NULL),
            "enroll", "--plan", PLAN, ENROLL_CSV, NULL
        };
        if (hmb_it_capture(p, dir, NULL, argv, apr_time_from_sec(60), &out)
            != 0) {
            why = apr_pstrcat(p, "hmbctl enroll: ", out, NULL);
        }
    }
    if (!why && geteuid() == 0) {
        const char *argv[] = {
            "/bin/chown", "-R", HTTPD_USER ":" HTTPD_USER,
            apr_pstrcat(p, dir, "/ledger", NULL),
            apr_pstrcat(p, dir, "/spool", NULL), NULL
        };
        why = hmb_it_run(p, argv, apr_time_from_sec(10));
    }
    if (!why) {
        why = hmb_it_free_port(p, &env.up_port);
    }
    if (!why) {
        why = hmb_it_free_port(p, &env.port);
    }
    if (!why) {
        const char *argv[] = {
            HMB_IT_UPSTREAM_BIN, "--listen",
            apr_psprintf(p, "127.0.0.1:%d", (int)env.up_port),
            "--cases", CASES, "--log", apr_pstrcat(p, dir, "/sandbox.log",
                                                   NULL),
            "--max-seconds", "600", "--exit-with-parent", NULL
        };
        why = hmb_it_spawn(p, argv, &env.up_proc);
        if (!why) {
            why = hmb_it_wait_port(env.up_port, apr_time_from_sec(10));
        }
    }
    if (!why) {
        const char *conf = apr_psprintf(p,
            "LoadModule huiminbao_module \"%s\"\n"
            "HuiminbaoPlan \"%s\"\n"
            "HuiminbaoSpool \"${HMB_RUNDIR}/spool\"\n"
            "DBDriver sqlite3\n"
            "DBDParams \"%s\"\n"
            "<Location \"/fsi/api\">\n"
            "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
            "    Huiminbao On\n"
            "</Location>\n",
            MODULE_SO, PLAN, db, (int)env.up_port);

        why = hmb_it_write_file(p, conf_path, conf, strlen(conf));
    }
    if (!why) {
        why = hmb_it_harness(p, "start", dir, env.port, conf_path,
                             apr_time_from_sec(30));
        env.httpd_started = !why;
    }
    env.url = apr_psprintf(p, "http://127.0.0.1:%d/fsi/api", (int)env.port);
    if (why) {
        fprintf(stderr, "setup: %s\n", why);
        group_teardown(state);
        return -1;
    }
    return 0;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, hmb_test_pool_setup, \
                                              hmb_test_pool_teardown)
    const struct CMUnitTest tests[] = {
        T(test_every_case_conforms),
        T(test_wrong_expectation_fails),
    };
#undef T
    int failed;

    apr_initialize();
    failed = cmocka_run_group_tests_name("integration: the conformance kit "
                                         "(hmbctl conform)", tests,
                                         group_setup, group_teardown);
    hmb_it_leave_rundir(rundir_left, failed);
    apr_terminate();
    return failed ? 1 : 0;
}
