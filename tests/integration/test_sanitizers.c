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

static struct {
    apr_pool_t *pool;
    const char *rundir;
    apr_port_t port;
} env;

/* One apache2 with both modules for all the tests: starting one with
 * the sanitizers is slow. */
static int group_setup(void **state)
{
    const char *conf, *why;

    if (hmb_it_group_begin("san", &env.pool, &env.rundir)) {
        return -1;
    }
    conf = apr_psprintf(env.pool,
        "LoadModule huiminbao_module \"%s\"\n"
        "LoadModule hmb_probe_module \"%s\"\n"
        "<Location \"/probe\">\n"
        "    SetHandler hmb-probe\n"
        "</Location>\n", HMB_IT_MODULE_SO, PROBE_SO);
    why = hmb_it_free_port(env.pool, &env.port);
    if (!why) {
        why = hmb_it_start_httpd(env.pool, env.rundir, env.port, "probe.conf",
                                 conf);
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
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
    assert_int_equal(hmb_it_harness_output(*state, env.rundir,
                                           "check-sanitizers", NULL, &out),
                     0);
    assert_null(strstr(out, "Sanitizer"));
}

static void test_heap_overflow_fails(void **state)
{
    char *out;
    int rc;

    probe(*state, "asan");
    rc = hmb_it_harness_output(*state, env.rundir, "check-sanitizers", NULL,
                               &out);
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
    rc = hmb_it_stop_httpd(*state, env.rundir, &out);
    if (rc != 3 || !strstr(out, "runtime error: signed integer overflow")) {
        fail_msg("harness.sh stop exited with %d after a signed overflow in "
                 "httpd:\n%s", rc, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_clean_run_passes),
        HMB_IT_TEST(test_heap_overflow_fails),
        HMB_IT_TEST(test_signed_overflow_fails_stop),
    };

    return hmb_it_main("integration: sanitizer reports from apache2", tests,
                       group_setup, hmb_it_group_teardown) ? 1 : 0;
}
