/*
 * A sanitizer report from inside Debian's apache2 fails the integration
 * tests (built only by ./configure --enable-sanitizers). mod_hmb_probe, a
 * test module with a deliberate heap overflow and a deliberate signed
 * overflow, is loaded beside mod_huiminbao.so (both built with ASan and
 * UBSan) into apache2 with the ASan runtime preloaded; harness.sh
 * `check-sanitizers` must pass after a clean request and fail, quoting the
 * report, after each bug, and `stop` must fail too.
 */
#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define PROBE_SO    HMB_BUILDDIR "/tests/integration/mod_hmb_probe.so"
#define MODULE_SO   HMB_BUILDDIR "/mod_huiminbao.so"

static struct {
    apr_pool_t *pool;
    char *rundir;
    apr_port_t port;
    int started;
} env;

/* One apache2 with both modules for all the tests: starting one with
 * the sanitizers is slow. */
static int group_setup(void **state)
{
    apr_pool_t *p;
    const char *extra, *conf, *why;

    (void)state;
    apr_pool_create(&p, NULL);
    env.pool = p;
    env.rundir = apr_psprintf(p, "%s/tmp-san-XXXXXX", HMB_BUILDDIR);
    if (!mkdtemp(env.rundir)) {
        fprintf(stderr, "setup: cannot create %s\n", env.rundir);
        return -1;
    }
    extra = apr_pstrcat(p, env.rundir, "/probe.conf", NULL);
    conf = apr_psprintf(p,
        "LoadModule huiminbao_module \"%s\"\n"
        "LoadModule hmb_probe_module \"%s\"\n"
        "<Location \"/probe\">\n"
        "    SetHandler hmb-probe\n"
        "</Location>\n", MODULE_SO, PROBE_SO);
    if (!(why = hmb_it_free_port(p, &env.port))
        && !(why = hmb_it_write_file(p, extra, conf, strlen(conf)))) {
        why = hmb_it_harness(p, "start", env.rundir, env.port, extra,
                             apr_time_from_sec(60));
    }
    if (why) {
        fprintf(stderr, "setup: %s\n", why);
        return -1;
    }
    env.started = 1;
    return 0;
}

/* harness.sh CMD on the run directory: its exit status, its output in
 * *out. */
static int harness_rc(apr_pool_t *p, const char *cmd, char **out)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, cmd, env.rundir, NULL
    };

    return hmb_it_capture(p, env.rundir, NULL, argv, apr_time_from_sec(60),
                          out);
}

/* GET /probe/WHAT; the bugs end the child before it answers. */
static void probe(apr_pool_t *p, const char *what)
{
    hmb_http_response_t *resp = NULL;
    const char *why = hmb_http_once(p, env.port, "GET",
                                    apr_pstrcat(p, "/probe/", what, NULL),
                                    NULL, NULL, 0, &resp);

    if (!strcmp(what, "ok")) {
        assert_no_error(why);
        assert_int_equal(resp->status, 200);
    }
}

/* Reports read, so that the next test starts from none. */
static void forget_reports(apr_pool_t *p)
{
    const char *argv[] = {
        "/usr/bin/find", apr_pstrcat(p, env.rundir, "/sanitizer", NULL),
        "-type", "f", "-delete", NULL
    };

    assert_no_error(hmb_it_run(p, argv, apr_time_from_sec(10)));
}

static void test_clean_run_passes(void **state)
{
    char *out;

    probe(*state, "ok");
    assert_int_equal(harness_rc(*state, "check-sanitizers", &out), 0);
    assert_null(strstr(out, "Sanitizer"));
}

static void test_heap_overflow_fails(void **state)
{
    char *out;
    int rc;

    probe(*state, "asan");
    rc = harness_rc(*state, "check-sanitizers", &out);
    if (rc != 1
        || !strstr(out, "ERROR: AddressSanitizer: heap-buffer-overflow")
        || !strstr(out, "hmb_probe_handler")) {
        fail_msg("check-sanitizers exited with %d after a heap overflow in "
                 "httpd:\n%s", rc, out);
    }
    forget_reports(*state);
}

/* The last: `stop` itself fails on the report. */
static void test_signed_overflow_fails_stop(void **state)
{
    char *out;
    int rc;

    probe(*state, "ubsan");
    rc = harness_rc(*state, "stop", &out);
    env.started = 0;
    if (rc != 3 || !strstr(out, "runtime error: signed integer overflow")) {
        fail_msg("harness.sh stop exited with %d after a signed overflow in "
                 "httpd:\n%s", rc, out);
    }
}

static int group_teardown(void **state)
{
    int ok = 1;

    (void)state;
    if (env.started) {
        ok = hmb_it_teardown(env.pool, env.rundir, 1, NULL, NULL, 0);
    }
    hmb_it_leave_rundir(env.rundir, !ok);
    apr_pool_destroy(env.pool);
    return ok ? 0 : -1;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, hmb_test_pool_setup, \
                                              hmb_test_pool_teardown)
    const struct CMUnitTest tests[] = {
        T(test_clean_run_passes),
        T(test_heap_overflow_fails),
        T(test_signed_overflow_fails_stop),
    };
#undef T
    int failed;

    apr_initialize();
    failed = cmocka_run_group_tests_name("integration: sanitizer reports "
                                         "from apache2", tests, group_setup,
                                         group_teardown);
    apr_terminate();
    return failed ? 1 : 0;
}
