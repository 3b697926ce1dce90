/* hmbctl as an operator runs it: the binary, its output and exit codes. */
#include "hmb_test.h"
#include "hmb_ledger.h"
#include <apr_thread_proc.h>

#define HMBCTL HMB_BUILDDIR "/hmbctl"

static apr_pool_t *pool;
static const char *ledger;

typedef struct {
    int status;
    char *out;
    char *err;
} run_t;

static char *drain(apr_file_t *f)
{
    apr_size_t cap = 1 << 20, n = 0, got;
    char *buf = apr_palloc(pool, cap + 1);
    apr_status_t rv;

    do {
        got = cap - n;
        rv = apr_file_read(f, buf + n, &got);
        n += got;
    } while (rv == APR_SUCCESS && n < cap);
    buf[n] = '\0';
    return buf;
}

/* Run hmbctl with argv (NULL-terminated), stdout and stderr captured. */
static run_t hmbctl(const char *const *args)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    const char *argv[32];
    run_t r;
    int i;

    argv[0] = HMBCTL;
    for (i = 0; args[i]; i++) {
        argv[i + 1] = args[i];
    }
    argv[i + 1] = NULL;
    assert_int_equal(apr_procattr_create(&attr, pool), APR_SUCCESS);
    apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK, APR_FULL_BLOCK);
    apr_procattr_cmdtype_set(attr, APR_PROGRAM);
    assert_int_equal(apr_proc_create(&proc, HMBCTL, argv, NULL, attr, pool),
                     APR_SUCCESS);
    r.out = drain(proc.out);
    r.err = drain(proc.err);
    apr_proc_wait(&proc, &r.status, &why, APR_WAIT);
    return r;
}

static int setup(void **state)
{
    apr_pool_create(&pool, NULL);
    ledger = apr_pstrcat(pool, "sqlite3:", hmb_test_tmpdir(pool, "hmbctl"),
                         "/ledger.db", NULL);
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

static const char *tag(const char *xml, const char *name)
{
    const char *o = apr_pstrcat(pool, "<", name, ">", NULL);
    const char *s = strstr(xml, o), *e;
    if (!s) {
        return NULL;
    }
    s += strlen(o);
    e = strstr(s, "</");
    return apr_pstrmemdup(pool, s, (apr_size_t)(e - s));
}

static run_t settle(const char *n)
{
    const char *args[] = {"--ledger", ledger, "settle", "--plan",
                          HMB_EXAMPLE("plan.xml"), "--request",
                          apr_pstrcat(pool, HMB_FIXTURE("worked-example/"), n,
                                      ".req.xml", NULL),
                          apr_pstrcat(pool, HMB_FIXTURE("worked-example/"), n,
                                      ".resp.xml", NULL), NULL};
    return hmbctl(args);
}

static const char *totals(void)
{
    const char *args[] = {"--ledger", ledger, "totals", "--plan-code",
                          "YCHMB", "--year", "2024", "36090000000000000001",
                          NULL};
    run_t r = hmbctl(args);
    assert_int_equal(r.status, 0);
    return r.out;
}

static void test_worked_example(void **state)
{
    const char *enroll[] = {"--ledger", ledger, "enroll", "--plan",
                            HMB_EXAMPLE("plan.xml"),
                            HMB_EXAMPLE("enroll.csv"), NULL};
    const char *before;
    run_t r;

    r = hmbctl(enroll);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "imported 1 enrollment rows"));

    r = settle("2");
    assert_int_equal(r.status, 0);
    assert_string_equal(tag(r.out, "hmb_stas"), "paid");
    assert_string_equal(tag(r.out, "hmb_pay"), "12100.00");
    before = totals();
    assert_non_null(strstr(before, "inscope elig_amt=28000.00 "
                           "paid_amt=9100.00"));

    /* settling the first again: 12100.00 and the ledger unchanged */
    r = settle("2");
    assert_int_equal(r.status, 0);
    assert_string_equal(tag(r.out, "hmb_pay"), "12100.00");
    assert_string_equal(totals(), before);

    r = settle("3");
    assert_int_equal(r.status, 0);
    assert_string_equal(tag(r.out, "hmb_pay"), "7000.00");

    r = settle("4");
    assert_int_equal(r.status, 0);
    assert_string_equal(tag(r.out, "hmb_pay"), "-12100.00");
    assert_string_equal(totals(), "inscope elig_amt=10000.00 paid_amt=7000.00\n"
                                  "outscope elig_amt=0.00 paid_amt=0.00\n");
}

static void test_usage_errors(void **state)
{
    const char *none[] = {NULL};
    const char *unknown[] = {"frobnicate", NULL};
    const char *badopt[] = {"--bogus", "check-plan", "x", NULL};
    const char *noledger[] = {"settle", "--plan", HMB_EXAMPLE("plan.xml"),
                              HMB_EXAMPLE("2.resp.xml"), NULL};
    const char *help[] = {"--help", NULL};
    run_t r;

    r = hmbctl(none);
    assert_int_equal(r.status, 2);
    r = hmbctl(unknown);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown command frobnicate"));
    r = hmbctl(badopt);
    assert_int_equal(r.status, 2);
    r = hmbctl(noledger);
    assert_int_equal(r.status, 2);
    r = hmbctl(help);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: hmbctl"));
}

/* Rejected input: exit 1, one line on stderr, nothing written. */
static void test_rejected_input(void **state)
{
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-bad");
    const char *bad = apr_pstrcat(pool, dir, "/bad.xml", NULL);
    const char *before = totals();
    const char *check[] = {"check-plan", HMB_FIXTURE("props/catalog.csv"),
                           NULL};
    const char *args[] = {"--ledger", ledger, "settle", "--plan",
                          HMB_EXAMPLE("plan.xml"), bad, NULL};
    apr_file_t *f;
    run_t r;

    r = hmbctl(check);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "catalog.csv"));
    assert_null(strchr(strchr(r.err, '\n') + 1, '\n'));

    assert_int_equal(apr_file_open(&f, bad, APR_FOPEN_CREATE | APR_FOPEN_WRITE,
                                   APR_FPROT_OS_DEFAULT, pool), APR_SUCCESS);
    apr_file_puts("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"y\">]>"
                  "<response><infcode>0</infcode></response>", f);
    apr_file_close(f);
    r = hmbctl(args);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "DOCTYPE"));
    assert_string_equal(r.out, "");
    assert_string_equal(totals(), before);
}

static void test_check_plan(void **state)
{
    const char *ok[] = {"check-plan", HMB_FIXTURE("props/plan.xml"),
                        HMB_SRCDIR "/conf/plans/yichun-2024.xml", NULL};
    const char *twice[] = {"check-plan", HMB_EXAMPLE("plan.xml"),
                           HMB_SRCDIR "/conf/plans/yichun-2024.xml", NULL};
    run_t r = hmbctl(ok);

    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "ok (YCHMB 2024 version 1"));
    assert_non_null(strstr(r.out, "ok (PROP 2024 version 1"));
    /* two plans claiming the same code, year and version */
    r = hmbctl(twice);
    assert_int_equal(r.status, 1);
}

/* The schema is made by migrate (and httpd's children), read by the
 * rest; a second migrate changes nothing. */
static void test_migrate(void **state)
{
    const char *own = apr_pstrcat(pool, "sqlite3:",
                                  hmb_test_tmpdir(pool, "migrate"),
                                  "/ledger.db", NULL);
    const char *args[] = {"--ledger", own, "migrate", NULL};
    const char *extra[] = {"--ledger", own, "migrate", "now", NULL};
    run_t r = hmbctl(args);

    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, apr_psprintf(pool, "ledger schema version "
                                            "%d\n",
                                            HMB_LEDGER_SCHEMA_VERSION));
    r = hmbctl(args);
    assert_int_equal(r.status, 0);
    r = hmbctl(extra);
    assert_int_equal(r.status, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_rejected_input),
        cmocka_unit_test(test_check_plan),
        cmocka_unit_test(test_migrate),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("hmbctl", tests, setup, teardown);
}
