/* hmbctl as an operator runs it: the binary, its output and exit codes. */
#include "hmb_test.h"
#include "hmb_ledger.h"
#include "hmb_rollup.h"
#include "hmb_spool.h"
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <apr_thread_proc.h>
#include <apr_xlate.h>

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
    assert_non_null(strstr(r.out, ": 1 added, 0 changed, 0 unchanged ("));
    assert_non_null(strstr(r.out, " rows/s)\n"));
    r = hmbctl(enroll);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, ": 0 added, 0 changed, 1 unchanged ("));

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
    {
        const char *fold[] = {"--ledger", ledger, "rollup", "fold", NULL};

        /* SQLite keeps every row in slot 0: nothing to fold */
        r = hmbctl(fold);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "folded the slots of 0 rollup rows"));
    }
    assert_string_equal(totals(), "inscope elig_amt=10000.00 paid_amt=7000.00\n"
                                  "outscope elig_amt=0.00 paid_amt=0.00\n");
}

/* The worked example's claims, as an auditor checks them: intact, then
 * an amount changed in SQL is named; roots of today are open. */
static void test_audit(void **state)
{
    const char *verify[] = {"--ledger", ledger, "audit", "verify", NULL};
    const char *today = hmb_rollup_day_of(pool, apr_time_now(),
                                          HMB_ROLLUP_OFFSET_DEFAULT);
    const char *roots[] = {"--ledger", ledger, "audit", "roots", "--day",
                           today, NULL};
    const char *bad[] = {"--ledger", ledger, "audit", "verify", "--day",
                         today, NULL};
    hmb_ledger_t *l;
    run_t r;
    int n;

    r = hmbctl(verify);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "audit trail intact: 3 claims chained");
    r = hmbctl(roots);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, apr_pstrcat(pool, today, " ", NULL));
    assert_contains(r.out, " heads 1 claims 3 open");
    assert_int_equal(hmbctl(bad).status, 2);

    assert_no_error(hmb_ledger_open(pool, ledger, &l));
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &n,
                                   "UPDATE hmb_claim SET hmb_pay = 1"
                                   " WHERE kind = 'R'"), 0);
    r = hmbctl(verify);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "altered HMBR-");
    assert_contains(r.err, "the first: altered HMBR-");
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &n,
                                   "UPDATE hmb_claim SET hmb_pay = -1210000"
                                   " WHERE kind = 'R'"), 0);
    assert_int_equal(hmbctl(verify).status, 0);
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

/* ---- the operator's slips: a strict, helpful CLI -------------------- */

#define ENROLL_HEADER "plan_code,plan_year,psn_no,cover_from,preexisting," \
                      "person_class,admdvs,payer,premium\n"

static const char *put(const char *dir, const char *name, const char *bytes,
                       apr_size_t len)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    apr_file_t *f;

    assert_int_equal(apr_file_open(&f, path, APR_FOPEN_CREATE
                                   | APR_FOPEN_WRITE | APR_FOPEN_TRUNCATE
                                   | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT,
                                   pool), APR_SUCCESS);
    assert_int_equal(apr_file_write_full(f, bytes, len, NULL), APR_SUCCESS);
    apr_file_close(f);
    return path;
}

static int exists(const char *path)
{
    apr_finfo_t fi;

    return apr_stat(&fi, path, APR_FINFO_TYPE, pool) == APR_SUCCESS;
}

/* A fresh ledger with this build's schema, in a directory of its own. */
static const char *fresh_ledger(const char *tag)
{
    const char *spec = apr_pstrcat(pool, "sqlite3:",
                                   hmb_test_tmpdir(pool, tag), "/ledger.db",
                                   NULL);
    const char *args[] = {"--ledger", spec, "migrate", NULL};

    assert_int_equal(hmbctl(args).status, 0);
    return spec;
}

static void test_version(void **state)
{
    const char *args[] = {"--version", NULL};
    run_t r = hmbctl(args);

    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, apr_psprintf(pool, "hmbctl (mod_huiminbao) "
                                            "%s\nledger schema version %d\n",
                                            HMB_VERSION,
                                            HMB_LEDGER_SCHEMA_VERSION));
    assert_string_equal(r.err, "");
}

/* Every command explains itself, on stdout, with exit 0; the general
 * help names every command. */
static void test_command_help(void **state)
{
    static const char *const cmds[] = {
        "enroll", "settle", "check-plan", "replay", "redecide", "owed",
        "totals", "show", "migrate", "check-ledger", "audit", NULL
    };
    const char *all[] = {"--help", NULL};
    run_t general = hmbctl(all);
    int i;

    assert_int_equal(general.status, 0);
    for (i = 0; cmds[i]; i++) {
        const char *args[] = {cmds[i], "--help", NULL};
        run_t r = hmbctl(args);
        const char *want = apr_pstrcat(pool, "usage: hmbctl [--ledger "
                                       "DRIVER:PARAMS] ", cmds[i], NULL);
        apr_size_t n = strlen(want);

        assert_int_equal(r.status, 0);
        if (strncmp(r.out, want, n) || (r.out[n] != ' ' && r.out[n] != '\n')) {
            fail_msg("%s --help: %s", cmds[i], r.out);
        }
        /* more than the usage line: what it does */
        assert_true(strlen(strchr(r.out, '\n')) > 40);
        assert_string_equal(r.err, "");
        assert_contains(general.out, apr_pstrcat(pool, "  ", cmds[i], NULL));
    }
}

/* Malformed arguments, and options of another command, are usage errors
 * (exit 2) found before anything is opened or written. */
static void test_malformed_arguments(void **state)
{
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-args");
    const char *db = apr_pstrcat(pool, dir, "/ledger.db", NULL);
    const char *spec = apr_pstrcat(pool, "sqlite3:", db, NULL);
    const char *const plan = HMB_EXAMPLE("plan.xml");
    const char *const cases[][14] = {
        {"totals", "--plan-code", "YCHMB", "--year", "abc", "3609", NULL},
        {"totals", "--plan-code", "YCHMB", "--year", "24", "3609", NULL},
        {"owed", "--from", "2024-13-01", NULL},
        {"owed", "--to", "2024-02-30", NULL},
        {"owed", "--from", "2024-06-01", "--to", "2024-05-01", NULL},
        {"owed", "--format", "xml", NULL},
        {"replay", "--spool", dir, "--plan", plan, "--keep", "0", NULL},
        {"enroll", "--plan", plan, "--encoding", "BIG5", "x.csv", NULL},
        /* options that belong to other commands */
        {"totals", "--spool", dir, "--plan-code", "YCHMB", "--year", "2024",
         "3609", NULL},
        {"owed", "--plan", plan, NULL},
        {"enroll", "--plan", plan, "--why", "x", "x.csv", NULL},
        {"check-ledger", "--dry-run", NULL},
        /* what redecide needs */
        {"redecide", "--plan", plan, "--setl-id", "S1", NULL},
        {"redecide", "--plan", plan, "--why", "x", NULL},
        {"redecide", "--plan", plan, "--why", "x", "--setl-id", "S1",
         "--from", "2024-01-01", "--to", "2024-01-31", NULL},
        {"redecide", "--setl-id", "S1", "--why", "x", NULL},
        {"enroll", HMB_EXAMPLE("enroll.csv"), NULL},
        {"settle", HMB_EXAMPLE("2.resp.xml"), NULL},
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[18] = {"--ledger", spec};
        run_t r;
        int k;

        for (k = 0; cases[i][k]; k++) {
            args[k + 2] = cases[i][k];
        }
        args[k + 2] = NULL;
        r = hmbctl(args);
        if (r.status != 2) {
            fail_msg("case %d (%s %s): exit %d, want 2: %s", (int)i,
                     cases[i][0], cases[i][1], r.status, r.err);
        }
        /* the reason, then how hmbctl (or the command) is used */
        assert_true(!strncmp(r.err, "hmbctl: ", 8));
        assert_contains(r.err, "\nusage: hmbctl [--ledger DRIVER:PARAMS] ");
        assert_string_equal(r.out, "");
    }
    assert_false(exists(db));
    {
        const char *year[] = {"totals", "--plan-code", "YCHMB", "--year",
                              "abc", "3609", NULL};
        const char *other[] = {"totals", "--spool", dir, "--plan-code",
                               "YCHMB", "--year", "2024", "3609", NULL};

        assert_contains(hmbctl(year).err,
                        "--year takes a four-digit year, not 'abc'");
        assert_contains(hmbctl(other).err, "totals does not take --spool");
    }
}

static void test_totals_unknown_person(void **state)
{
    const char *spec = fresh_ledger("hmbctl-totals");
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-none");
    const char *missing = apr_pstrcat(pool, "sqlite3:", dir, "/ledger.db",
                                      NULL);
    const char *args[] = {"--ledger", spec, "totals", "--plan-code", "YCHMB",
                          "--year", "2024", "36099999999999999999", NULL};
    const char *none[] = {"--ledger", missing, "totals", "--plan-code",
                          "YCHMB", "--year", "2024", "36099999999999999999",
                          NULL};
    run_t r = hmbctl(args);

    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "hmbctl: 36099999999999999999 is not enrolled "
                        "in plan YCHMB 2024 and has no totals there\n");
    /* a mistyped ledger is not a new empty one */
    r = hmbctl(none);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "there is no ledger at");
    assert_false(exists(apr_pstrcat(pool, dir, "/ledger.db", NULL)));
}

/* Rows the plans do not allow: exit 1, file:line and why, and nothing of
 * the file imported (the good row before the bad one neither). */
static void test_enroll_checks_rows(void **state)
{
    const char *spec = fresh_ledger("hmbctl-enroll");
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-rows");
    const char *good = "YCHMB,2024,36090000000000000011,2024-01-01,0,,"
                       "360902,self,69.00\n";
    const char *full = HMB_FIXTURE("plans/good-full.xml");
    static const struct {
        const char *row;
        const char *why;
    } bad[] = {
        {"ZZHMB,2024,36090000000000000012,2024-01-01,0,,360902,self,69.00\n",
         "rows.csv:3: plan ZZHMB 2024 is not among the plans given "
         "(--plan)"},
        {"YCHMB,2025,36090000000000000012,2025-01-01,0,,360902,self,69.00\n",
         "rows.csv:3: plan YCHMB 2025 is not among the plans given "
         "(--plan)"},
        {"YCHMB,2024,36090000000000000012,2025-01-01,0,,360902,self,69.00\n",
         "rows.csv:3: cover_from 2025-01-01 is outside plan YCHMB 2024 "
         "(2024-01-01 to 2024-12-31)"},
        {"YCHMB,2024,36090000000000000012,2023-12-31,0,,360902,self,69.00\n",
         "rows.csv:3: cover_from 2023-12-31 is outside plan YCHMB 2024"},
        {"YCHMB,2024,36090000000000000012,2024-01-01,0,hardship,360902,self,"
         "69.00\n",
         "rows.csv:3: person_class \"hardship\" is not a class of plan "
         "YCHMB 2024"},
        {"TEST,2024,36090000000000000012,2024-01-01,0,vip,360902,self,"
         "69.00\n",
         "rows.csv:3: person_class \"vip\" is not a class of plan TEST 2024"},
    };
    const char *noplan[] = {"--ledger", spec, "enroll",
                            HMB_EXAMPLE("enroll.csv"), NULL};
    const char *totals11[] = {"--ledger", spec, "totals", "--plan-code",
                              "YCHMB", "--year", "2024",
                              "36090000000000000011", NULL};
    apr_size_t i;
    run_t r;

    r = hmbctl(noplan);
    assert_int_equal(r.status, 2);
    assert_contains(r.err, "enroll needs at least one --plan");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *text = apr_pstrcat(pool, ENROLL_HEADER, good,
                                       bad[i].row, NULL);
        const char *file = put(dir, "rows.csv", text, strlen(text));
        const char *args[] = {"--ledger", spec, "enroll", "--plan",
                              HMB_EXAMPLE("plan.xml"), "--plan", full, file,
                              NULL};

        r = hmbctl(args);
        if (r.status != 1 || !strstr(r.err, bad[i].why)) {
            fail_msg("row %d: exit %d: %s", (int)i, r.status, r.err);
        }
        assert_contains(r.err, "nothing imported");
        assert_string_equal(r.out, "");
        assert_int_equal(hmbctl(totals11).status, 1);
    }

    /* the class the plan has, and the good row: both in */
    {
        const char *text = apr_pstrcat(pool, ENROLL_HEADER, good,
                                       "TEST,2024,36090000000000000012,"
                                       "2024-03-01,0,hardship,360902,donor,"
                                       "0.00\n", NULL);
        const char *file = put(dir, "rows.csv", text, strlen(text));
        const char *args[] = {"--ledger", spec, "enroll", "--plan",
                              HMB_EXAMPLE("plan.xml"), "--plan", full, file,
                              NULL};

        r = hmbctl(args);
        assert_int_equal(r.status, 0);
        assert_contains(r.out, "imported 2 enrollment rows");
        assert_int_equal(hmbctl(totals11).status, 0);
    }
}

/* UTF-8 text in another encoding, as a spreadsheet on a Chinese desktop
 * saves a CSV. */
static const char *encode(const char *utf8, const char *encoding,
                          apr_size_t *len)
{
    apr_xlate_t *x;
    apr_size_t in = strlen(utf8), out = in * 2 + 16;
    char *buf = apr_palloc(pool, out);
    apr_size_t cap = out;

    assert_int_equal(apr_xlate_open(&x, encoding, "UTF-8", pool),
                     APR_SUCCESS);
    assert_int_equal(apr_xlate_conv_buffer(x, utf8, &in, buf, &out),
                     APR_SUCCESS);
    assert_int_equal(in, 0);
    apr_xlate_close(x);
    *len = cap - out;
    return buf;
}

/* Every field of the enrollment format is a code, a date, an amount or
 * an enumeration, so Chinese reaches it only by mistake: an insurer's
 * clerk types the person class as the insurer's name for it (特困, "in
 * extreme hardship") and saves from a spreadsheet on a Chinese desktop,
 * which writes GBK. Read as UTF-8 the file is refused with the hint; read
 * as GBK (or GB18030) the clerk is told, in the text they typed, which
 * field on which line to fix; corrected, it imports. */
static void test_enroll_gbk(void **state)
{
    const char *spec = fresh_ledger("hmbctl-gbk");
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-gbk-files");
    const char *rows = ENROLL_HEADER
        "YCHMB,2024,36090000000000000021,2024-01-01,0,,360902,account,69.00\n"
        "YCHMB,2024,36090000000000000022,2024-01-01,1,特困,360902,donor,"
        "0.00\n";
    const char *const encodings[] = {"GBK", "GB18030"};
    const char *totals21[] = {"--ledger", spec, "totals", "--plan-code",
                              "YCHMB", "--year", "2024",
                              "36090000000000000021", NULL};
    const char *text, *file;
    apr_size_t len, i;
    run_t r;

    for (i = 0; i < 2; i++) {
        const char *plain[] = {"--ledger", spec, "enroll", "--plan",
                               HMB_EXAMPLE("plan.xml"), NULL, NULL};
        const char *args[] = {"--ledger", spec, "enroll", "--plan",
                              HMB_EXAMPLE("plan.xml"), "--encoding",
                              encodings[i], NULL, NULL};

        text = encode(rows, encodings[i], &len);
        /* the Chinese is not UTF-8 in the file */
        assert_null(strstr(text, "特困"));
        file = put(dir, "gbk.csv", text, len);
        plain[5] = args[7] = file;

        r = hmbctl(plain);
        assert_int_equal(r.status, 1);
        assert_contains(r.err, "gbk.csv:3: not valid UTF-8 text");
        assert_contains(r.err, "--encoding GBK");
        assert_contains(r.err, "nothing imported");

        r = hmbctl(args);
        assert_int_equal(r.status, 1);
        assert_contains(r.err, "gbk.csv:3: person_class \"特困\" is not a code");
        assert_contains(r.err, "nothing imported");
        assert_int_equal(hmbctl(totals21).status, 1);
    }

    /* corrected to the plan's class code (here: none), still saved by the
     * same spreadsheet */
    text = encode(apr_pstrcat(pool, ENROLL_HEADER,
                              "YCHMB,2024,36090000000000000021,2024-01-01,0,,"
                              "360902,account,69.00\n"
                              "YCHMB,2024,36090000000000000022,2024-01-01,1,,"
                              "360902,donor,0.00\n", NULL), "GBK", &len);
    file = put(dir, "gbk.csv", text, len);
    {
        const char *args[] = {"--ledger", spec, "enroll", "--plan",
                              HMB_EXAMPLE("plan.xml"), "--encoding", "GBK",
                              file, NULL};

        r = hmbctl(args);
        assert_int_equal(r.status, 0);
        assert_contains(r.out, "imported 2 enrollment rows");
        assert_int_equal(hmbctl(totals21).status, 0);
    }
}

/* Bytes that are not GBK at all, given as GBK: refused at their line,
 * with a hint that names the encoding, however --encoding was spelled. */
static void test_enroll_invalid_gbk(void **state)
{
    const char *spec = fresh_ledger("hmbctl-badgbk");
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-badgbk-files");
    static const char bytes[] = ENROLL_HEADER
        "YCHMB,2024,36090000000000000031,2024-01-01,0,,360902,self,69.00\n"
        "YCHMB,2024,36090000000000000032,2024-01-01,0,\xff\xfe,360902,self,"
        "69.00\n";
    const char *file = put(dir, "bad.csv", bytes, sizeof(bytes) - 1);
    const char *const spelled[] = {"GBK", "gbk", "GB18030"};
    apr_size_t i;

    for (i = 0; i < sizeof(spelled) / sizeof(spelled[0]); i++) {
        const char *args[] = {"--ledger", spec, "enroll", "--plan",
                              HMB_EXAMPLE("plan.xml"), "--encoding",
                              spelled[i], file, NULL};
        run_t r = hmbctl(args);

        if (r.status != 1 || !strstr(r.err, "bad.csv:3: not valid")
            || !strstr(r.err, "the file is not in the encoding given with "
                       "--encoding")) {
            fail_msg("--encoding %s: exit %d: %s", spelled[i], r.status,
                     r.err);
        }
        assert_contains(r.err, "nothing imported");
    }
}

static void test_check_ledger(void **state)
{
    const char *dir = hmb_test_tmpdir(pool, "hmbctl-check");
    const char *db = apr_pstrcat(pool, dir, "/ledger.db", NULL);
    const char *spec = apr_pstrcat(pool, "sqlite3:", db, NULL);
    const char *check[] = {"--ledger", spec, "check-ledger", NULL};
    const char *migrate[] = {"--ledger", spec, "migrate", NULL};
    run_t r;

    r = hmbctl(check);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, "there is no ledger at");
    assert_contains(r.err, db);
    assert_false(exists(db));
    assert_false(exists(apr_pstrcat(pool, db, "-journal", NULL)));

    assert_int_equal(hmbctl(migrate).status, 0);
    r = hmbctl(check);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, apr_psprintf(pool, "ledger ok: schema version "
                                            "%d, writable by this user\n",
                                            HMB_LEDGER_SCHEMA_VERSION));
}

/* A settlement refused at the desk (not enrolled), the enrollment
 * imported, the claim corrected: owed lists it in each format. */
static void test_redecide_and_owed(void **state)
{
    const char *spec = fresh_ledger("hmbctl-owed");
    const char *plan = HMB_EXAMPLE("plan.xml");
    const char *settle2[] = {"--ledger", spec, "settle", "--plan", plan,
                             "--request", HMB_EXAMPLE("2.req.xml"),
                             HMB_EXAMPLE("2.resp.xml"), NULL};
    const char *enroll[] = {"--ledger", spec, "enroll", "--plan", plan,
                            HMB_EXAMPLE("enroll.csv"), NULL};
    const char *dry[] = {"--ledger", spec, "redecide", "--plan", plan,
                         "--setl-id", "S2024050100001", "--why",
                         "enrollment arrived late", "--by", "ops",
                         "--dry-run", NULL};
    const char *fix[] = {"--ledger", spec, "redecide", "--plan", plan,
                         "--setl-id", "S2024050100001", "--why",
                         "enrollment arrived late", "--by", "ops", NULL};
    const char *range[] = {"--ledger", spec, "redecide", "--plan", plan,
                           "--from", "2024-05-01", "--to", "2024-05-31",
                           "--why", "sweep", NULL};
    const char *table[] = {"--ledger", spec, "owed", NULL};
    const char *csv[] = {"--ledger", spec, "owed", "--format", "csv", NULL};
    const char *csv_psn[] = {"--ledger", spec, "owed", "--format", "csv",
                             "--show-psn-no", NULL};
    const char *json[] = {"--ledger", spec, "owed", "--format", "json", NULL};
    const char *later[] = {"--ledger", spec, "owed", "--from", "2024-06-01",
                           "--format", "json", NULL};
    const char *header = "setl_id,hmb_setl_id,psn_no,mdtrt_id,"
                         "fixmedins_code,setl_time,plan_code,plan_year,"
                         "origin,decided_by,recorded_at,owed\n";
    const char *row = "S2024050100001,HMBC-S2024050100001,"
                      "3609**************01,M20240000002,H36090200001,"
                      "2024-05-01 10:00:00,YCHMB,2024,redecide,ops,";
    run_t r;

    r = hmbctl(settle2);
    assert_int_equal(r.status, 0);
    assert_string_equal(tag(r.out, "rea_code"), "not_enrolled");
    assert_int_equal(hmbctl(enroll).status, 0);

    r = hmbctl(dry);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "S2024050100001: would pay 12100.00 "
                        "HMBC-S2024050100001\nwould correct 1, unchanged 0\n");
    r = hmbctl(csv);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, header);

    r = hmbctl(fix);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "S2024050100001: paid 12100.00 "
                        "HMBC-S2024050100001\ncorrected 1, unchanged 0\n");
    {
        const char *t[] = {"--ledger", spec, "totals", "--plan-code",
                           "YCHMB", "--year", "2024", "36090000000000000001",
                           NULL};

        assert_contains(hmbctl(t).out, "inscope elig_amt=28000.00 "
                        "paid_amt=9100.00");
    }
    /* by date: found, and corrected already */
    r = hmbctl(range);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "S2024050100001: corrected already by "
                    "HMBC-S2024050100001");
    assert_contains(r.out, "corrected 0, unchanged 1");

    r = hmbctl(csv);
    assert_int_equal(r.status, 0);
    assert_true(!strncmp(r.out, header, strlen(header)));
    assert_true(!strncmp(r.out + strlen(header), row, strlen(row)));
    assert_contains(r.out + strlen(header), ",12100.00\n");
    r = hmbctl(csv_psn);
    assert_contains(r.out, ",36090000000000000001,");

    r = hmbctl(json);
    assert_int_equal(r.status, 0);
    assert_true(!strncmp(r.out, "{\"claims\":[{\"setl_id\":\"S2024050100001\","
                         "\"hmb_setl_id\":\"HMBC-S2024050100001\","
                         "\"psn_no\":\"3609**************01\"", 90));
    assert_contains(r.out, "\"plan_year\":2024,\"origin\":\"redecide\","
                    "\"decided_by\":\"ops\",\"recorded_at\":\"");
    assert_contains(r.out, "\"owed\":12100.00}],\"count\":1,"
                    "\"total\":12100.00}\n");
    r = hmbctl(later);
    assert_string_equal(r.out, "{\"claims\":[],\"count\":0,"
                        "\"total\":0.00}\n");

    r = hmbctl(table);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "\ntotal\t1 claims\t12100.00\n");
}

/* hmbctl as root makes a new SQLite ledger for the server's user: the
 * owner and group of its directory, 0660. */
static void test_root_creates_ledger_for_server(void **state)
{
    struct passwd *pw = getpwnam("www-data");
    const char *dir, *db;
    const char *argv[] = {"--ledger", NULL, "migrate", NULL};
    struct stat st;

    if (geteuid() != 0 || !pw) {
        skip();
    }
    dir = hmb_test_tmpdir(pool, "hmbctl-root");
    assert_int_equal(chown(dir, pw->pw_uid, pw->pw_gid), 0);
    db = apr_pstrcat(pool, dir, "/ledger.db", NULL);
    argv[1] = apr_pstrcat(pool, "sqlite3:", db, NULL);
    assert_int_equal(hmbctl(argv).status, 0);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, pw->pw_uid);
    assert_int_equal(st.st_gid, pw->pw_gid);
    assert_int_equal(st.st_mode & 07777, 0660);

    /* in root's own directory it stays root's, but 0660 all the same */
    dir = hmb_test_tmpdir(pool, "hmbctl-root-own");
    db = apr_pstrcat(pool, dir, "/ledger.db", NULL);
    argv[1] = apr_pstrcat(pool, "sqlite3:", db, NULL);
    assert_int_equal(hmbctl(argv).status, 0);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 0660);
}

/* --- settle --dry-run, ledger-copy (issue 12) ----------------------- */

#define SAMPLE_PLAN  HMB_SRCDIR "/conf/plans/yichun-2024.xml"
#define SAMPLE_CASES HMB_SRCDIR "/conf/conformance/"

/* A ledger with the sample enrollments and, unless dry, four cases
 * settled (a settlement, a pre-existing condition, a special drug, and
 * the first one's cancellation). */
static void sample_ledger(const char *spec, int dry)
{
    static const char *const cases[] = {"01-enrolled", "03-preexisting",
                                        "07-special-drug", "09-cancel"};
    const char *enroll[] = {"--ledger", spec, "enroll", "--plan",
                            SAMPLE_PLAN, HMB_SRCDIR "/conf/enroll-sample.csv",
                            NULL};
    int i;

    assert_int_equal(hmbctl(enroll).status, 0);
    for (i = 0; i < 4; i++) {
        const char *settle[] = {"--ledger", spec, "settle", "--plan",
                                SAMPLE_PLAN, "--request",
                                apr_pstrcat(pool, SAMPLE_CASES, cases[i],
                                            ".req.xml", NULL),
                                apr_pstrcat(pool, SAMPLE_CASES, cases[i],
                                            ".resp.xml", NULL),
                                dry ? "--dry-run" : NULL, NULL};
        run_t r = hmbctl(settle);

        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "<hmbinfo>"));
    }
}

/* --dry-run decides and prints, and the ledger is as it was. */
static void test_settle_dry_run_writes_nothing(void **state)
{
    const char *spec = fresh_ledger("hmbctl-dry");
    const char *totals[] = {"--ledger", spec, "totals", "--plan-code",
                            "YCHMB", "--year", "2024",
                            "36090000000000000003", NULL};
    run_t r;

    sample_ledger(spec, 1);
    r = hmbctl(totals);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "elig_amt=30000.00"));
    sample_ledger(spec, 0);
    r = hmbctl(totals);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "elig_amt=30000.00"));
}

/* What hmbctl reads from a ledger that a copy must keep. */
static char *ledger_view(const char *spec)
{
    const char *totals[] = {"--ledger", spec, "totals", "--plan-code",
                            "YCHMB", "--year", "2024",
                            "36090000000000000010", NULL};
    const char *owed[] = {"--ledger", spec, "owed", "--format", "csv",
                          "--show-psn-no", NULL};
    const char *check[] = {"--ledger", spec, "rollup", "check", NULL};
    run_t t = hmbctl(totals), o = hmbctl(owed), c = hmbctl(check);

    assert_int_equal(t.status, 0);
    assert_int_equal(o.status, 0);
    /* the rollups copied agree with the claims copied */
    assert_int_equal(c.status, 0);
    return apr_pstrcat(pool, t.out, o.out, NULL);
}

static void copy_and_compare(const char *target)
{
    const char *source = fresh_ledger("hmbctl-copy-src");
    const char *copy[] = {"--ledger", source, "ledger-copy", target, NULL};
    run_t r;

    sample_ledger(source, 0);
    r = hmbctl(copy);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "hmb_claim            4 rows\n"));
    assert_non_null(strstr(r.out, "hmb_enrollment       10 rows\n"));
    assert_non_null(strstr(r.out, "both sides compared equal"));
    assert_string_equal(ledger_view(target), ledger_view(source));
    /* never into a ledger that holds anything */
    r = hmbctl(copy);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "the target ledger is not empty"));
}

/* A JSON settlement sent in GBK (said only in its Content-Type) and
 * deferred is replayed as GBK: the spool keeps the charset. Without it,
 * the same bytes are not valid UTF-8, and the replay could not settle. */
static void test_replay_json_gbk(void **state)
{
    const char *dir = hmb_test_tmpdir(pool, "spool-gbk");
    const char *spec = apr_pstrcat(pool, "sqlite3:", dir, "/ledger.db", NULL);
    const char *enroll[] = {"--ledger", spec, "enroll", "--plan",
                            HMB_EXAMPLE("plan.xml"),
                            HMB_EXAMPLE("enroll.csv"), NULL};
    const char *replay[] = {"--ledger", spec, "replay", "--spool", dir,
                            "--plan", HMB_EXAMPLE("plan.xml"), NULL};
    const char *fix = HMB_FIXTURE("json/worked-example/3");
    const char *path, *req, *resp;
    apr_size_t req_len, resp_len;
    run_t r;

    r = hmbctl(enroll);
    assert_int_equal(r.status, 0);
    req = hmb_test_slurp(pool, apr_pstrcat(pool, fix, ".req.json", NULL),
                         &req_len);
    resp = hmb_test_slurp(pool, apr_pstrcat(pool, fix, ".resp.json", NULL),
                          &resp_len);

    /* as a build that kept no charset wrote it: not settled */
    assert_null(hmb_spool_write(pool, dir, req, req_len, resp, resp_len,
                                NULL, NULL, &path));
    r = hmbctl(replay);
    assert_null(strstr(r.out, " paid "));
    assert_non_null(strstr(r.err, "not settled"));

    assert_null(hmb_spool_write(pool, dir, req, req_len, resp, resp_len,
                                "GBK", "GBK", &path));
    r = hmbctl(replay);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, " paid "));
    assert_non_null(strstr(r.out, "replayed 1, not settleable 0, failed 0"));
}

static void test_ledger_copy_sqlite(void **state)
{
    copy_and_compare(apr_pstrcat(pool, "sqlite3:",
                                 hmb_test_tmpdir(pool, "hmbctl-copy-dst"),
                                 "/ledger.db", NULL));
}

/* The ledger's tables gone from the PostgreSQL database of target, so
 * that neither this test nor the next one finds rows of another. */
static void drop_pg_ledger(const char *target)
{
    hmb_ledger_t *l;
    int n;

    assert_null(hmb_ledger_open(pool, target, &l));
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &n,
                                   "DROP TABLE IF EXISTS " HMB_TEST_TABLES), 0);
}

/* SQLite to PostgreSQL, when HMB_TEST_PGSQL names a database. */
static void test_ledger_copy_pgsql(void **state)
{
    const char *conninfo = getenv("HMB_TEST_PGSQL");
    const char *target;

    if (!conninfo || !*conninfo) {
        skip();
    }
    target = apr_pstrcat(pool, "pgsql:", conninfo, NULL);
    drop_pg_ledger(target);
    copy_and_compare(target);
    drop_pg_ledger(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_rejected_input),
        cmocka_unit_test(test_check_plan),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_command_help),
        cmocka_unit_test(test_malformed_arguments),
        cmocka_unit_test(test_totals_unknown_person),
        cmocka_unit_test(test_enroll_checks_rows),
        cmocka_unit_test(test_enroll_gbk),
        cmocka_unit_test(test_enroll_invalid_gbk),
        cmocka_unit_test(test_check_ledger),
        cmocka_unit_test(test_redecide_and_owed),
        cmocka_unit_test(test_root_creates_ledger_for_server),
        cmocka_unit_test(test_settle_dry_run_writes_nothing),
        cmocka_unit_test(test_replay_json_gbk),
        cmocka_unit_test(test_ledger_copy_sqlite),
        cmocka_unit_test(test_ledger_copy_pgsql),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("hmbctl", tests, setup, teardown);
}
