/*
 * A sanitizer report from inside Debian's apache2 fails the integration
 * tests (built only by ./configure --enable-sanitizers). mod_hmb_probe, a
 * test module with a deliberate heap overflow and a deliberate signed
 * overflow, is loaded beside mod_huiminbao.so (both built with ASan and
 * UBSan) into apache2 with the ASan runtime preloaded; harness.sh `stop`
 * must pass after a clean run and fail, quoting the report, after each
 * bug.
 */
#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define PROBE_SO    HMB_BUILDDIR "/tests/integration/mod_hmb_probe.so"
#define MODULE_SO   HMB_BUILDDIR "/mod_huiminbao.so"

/* One apache2 in a fresh run directory with both modules, asked for
 * /probe/WHAT; returns harness.sh stop's exit status, its output in *out. */
static int probe_run(apr_pool_t *p, const char *what, char **out)
{
    char *dir = apr_psprintf(p, "%s/tmp-san-XXXXXX", HMB_BUILDDIR);
    const char *extra, *conf, *why;
    const char *stop[] = { "/bin/bash", HMB_IT_HARNESS, "stop", NULL, NULL };
    hmb_http_response_t *resp = NULL;
    apr_port_t port;
    int rc;

    assert_non_null(mkdtemp(dir));
    assert_no_error(hmb_it_free_port(p, &port));
    extra = apr_pstrcat(p, dir, "/probe.conf", NULL);
    conf = apr_psprintf(p,
        "LoadModule huiminbao_module \"%s\"\n"
        "LoadModule hmb_probe_module \"%s\"\n"
        "<Location \"/probe\">\n"
        "    SetHandler hmb-probe\n"
        "</Location>\n", MODULE_SO, PROBE_SO);
    assert_no_error(hmb_it_write_file(p, extra, conf, strlen(conf)));
    assert_no_error(hmb_it_harness(p, "start", dir, port, extra,
                                   apr_time_from_sec(60)));

    /* the bugs end the child before it answers: only "ok" must answer */
    why = hmb_http_once(p, port, "GET",
                        apr_pstrcat(p, "/probe/", what, NULL), NULL, NULL, 0,
                        &resp);
    if (!strcmp(what, "ok")) {
        assert_no_error(why);
        assert_int_equal(resp->status, 200);
    }
    stop[3] = dir;
    rc = hmb_it_capture(p, dir, NULL, stop, apr_time_from_sec(60), out);
    if (rc == 0 || rc == 3) {
        hmb_it_leave_rundir(dir, 0);
    }
    return rc;
}

static void test_clean_run_passes(void **state)
{
    char *out;

    assert_int_equal(probe_run(*state, "ok", &out), 0);
    assert_null(strstr(out, "Sanitizer"));
}

static void test_heap_overflow_fails(void **state)
{
    char *out;
    int rc = probe_run(*state, "asan", &out);

    if (rc != 3 || !strstr(out, "ERROR: AddressSanitizer: heap-buffer-overflow")
        || !strstr(out, "hmb_probe_handler")) {
        fail_msg("harness.sh stop exited with %d after a heap overflow in "
                 "httpd:\n%s", rc, out);
    }
}

static void test_signed_overflow_fails(void **state)
{
    char *out;
    int rc = probe_run(*state, "ubsan", &out);

    if (rc != 3 || !strstr(out, "runtime error: signed integer overflow")) {
        fail_msg("harness.sh stop exited with %d after a signed overflow in "
                 "httpd:\n%s", rc, out);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, hmb_test_pool_setup, \
                                              hmb_test_pool_teardown)
    const struct CMUnitTest tests[] = {
        T(test_clean_run_passes),
        T(test_heap_overflow_fails),
        T(test_signed_overflow_fails),
    };
#undef T
    int failed;

    apr_initialize();
    failed = cmocka_run_group_tests_name("integration: sanitizer reports "
                                         "from apache2", tests, NULL, NULL);
    apr_terminate();
    return failed ? 1 : 0;
}
