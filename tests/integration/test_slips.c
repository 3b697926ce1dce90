/* Integration: the operator slips that must not cost a patient a payout
 * (issue "No patient loses a payout to an operator slip"), each shown in
 * Debian's apache2 with its fix.
 *
 * Group setup: a SQLite ledger seeded with `hmbctl enroll` and given to
 * the children's user, the sample upstream serving
 * tests/fixtures/slips/upstream, and apache2 started by harness.sh with
 * the 2024 plan only. The tests run in order on that server; each uses
 * persons of its own (tests/fixtures/slips/README.md). The last slip adds
 * the 2025 plan by a graceful restart. A second apache2, on a ledger the
 * children cannot write, is started and stopped by its own test.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <pwd.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define SLIPS         HMB_FIXTURE("slips")
#define UP_DIR        SLIPS "/upstream"
#define ENROLL_CSV    SLIPS "/enroll.csv"
#define ENROLL_LATE   SLIPS "/enroll-late.csv"
#define PLAN_2024     HMB_EXAMPLE("plan.xml")
#define PLAN_2025     SLIPS "/plans/yichun-2025.xml"

/* DOMAIN.md's pair 2, paid in full on a first discharge */
#define PAID_BOTH "inscope elig_amt=28000.00 paid_amt=9100.00\n" \
                  "outscope elig_amt=20000.00 paid_amt=3000.00\n"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *ledger;             /* sqlite3:PATH of the live ledger */
    const char *conf;               /* the module's part of httpd.conf */
    const char *root_rundir;        /* the server on a root-owned ledger */
    apr_port_t port;
    apr_port_t up_port;
    apr_port_t root_port;
} slips_env_t;

static slips_env_t env;

/* --- the server and the operator's commands ---------------------------- */

/* The module's configuration: the 2024 plan, and the 2025 plan once it
 * is loaded; the ledger at ledger_path. */
static const char *module_conf(apr_pool_t *p, int with_2025,
                               const char *ledger_path)
{
    const char *plans[] = { PLAN_2024, with_2025 ? PLAN_2025 : NULL, NULL };

    return hmb_it_module_conf(p, plans,
                              apr_psprintf(p, "DBDriver sqlite3\n"
                                           "DBDParams \"%s\"\n",
                                           ledger_path),
                              env.up_port, NULL, NULL);
}

/* hmbctl on the live ledger as the children's user; fails the test
 * unless it exits with rc. */
#define hmbctl_live(p, rc, ...) \
    hmb_it_hmbctl((p), env.rundir, HMB_IT_HTTPD_USER, env.ledger, (rc), \
                  __VA_ARGS__)

static apr_int64_t count_of(apr_pool_t *p, const char *key)
{
    return apr_atoi64(hmb_it_status_value(p, env.port, key));
}

static const char *totals(apr_pool_t *p, const char *year,
                          const char *psn_no)
{
    return hmbctl_live(p, 0, "totals", "--plan-code", "YCHMB", "--year",
                       year, psn_no, NULL);
}

/* The line of `hmbctl owed --format csv` that starts with ids; it ends
 * with the amount owed. */
static const char *owed_row(apr_pool_t *p, const char *ids, const char *pay)
{
    const char *out = hmbctl_live(p, 0, "owed", "--format", "csv", NULL);
    const char *row = hmb_it_line_with(p, out, ids, NULL);

    if (!row || strncmp(row, ids, strlen(ids))) {
        fail_msg("owed does not list %s: %s", ids, out);
    }
    assert_true(strlen(row) > strlen(pay)
                && !strcmp(row + strlen(row) - strlen(pay), pay));
    return row;
}

/* POST the HIS envelope for msgid; the answer's <hmbinfo>, which the
 * module appended as the last child of <output>. */
static const char *settle(apr_pool_t *p, const char *infno,
                          const char *msgid, const char *psn_no,
                          const char *cancel_setl_id)
{
    hmb_http_response_t *r = hmb_it_settle(p, env.port, msgid, infno, msgid,
                                           psn_no, cancel_setl_id);

    assert_int_equal(r->status, 200);
    return hmb_it_hmbinfo(p, r->body);
}

static int spool_entries(apr_pool_t *p, const char *dir)
{
    return hmb_it_files(p, dir, ".spool")->nelts;
}

static const char *today(apr_pool_t *p)
{
    apr_time_exp_t t;

    apr_time_exp_lt(&t, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02d", t.tm_year + 1900, t.tm_mon + 1,
                        t.tm_mday);
}

/* --- setup and teardown ------------------------------------------------- */

static int group_setup(void **state)
{
    static const char *const plans[] = { PLAN_2024, PLAN_2025, NULL };
    apr_pool_t *p;
    const char *why, *dir;

    (void)state;
    if (hmb_it_group_begin("slips", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    dir = env.rundir;
    env.conf = apr_pstrcat(p, dir, "/module.conf", NULL);
    /* enrolled before the server starts, then given to its user */
    why = hmb_it_sqlite_ledger(p, dir, plans, ENROLL_CSV, "imported 3 ",
                               HMB_IT_HTTPD_USER, &env.ledger);
    if (!why) {
        why = hmb_it_free_ports(p, &env.up_port, &env.port, &env.root_port,
                                NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "upstream", env.up_port, UP_DIR,
                                    NULL);
    }
    if (!why) {
        why = hmb_it_start_httpd(p, dir, env.port, "module.conf",
                                 module_conf(p, 0, apr_pstrcat(p, dir,
                                             "/ledger/ledger.db", NULL)));
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- (a) Huiminbao On without a plan ------------------------------------- */

/* Every settlement would be refused as outside_period and the refusal
 * stored: the server does not start with that configuration, and
 * apachectl configtest says why and where. */
static void test_no_plan_fails_configtest(void **state)
{
    apr_pool_t *p = *state;
    const char *main_conf = apr_pstrcat(p, env.rundir, "/httpd.conf", NULL);
    const char *noplan = apr_pstrcat(p, env.rundir, "/noplan.conf", NULL);
    const char *top = apr_pstrcat(p, env.rundir, "/httpd-noplan.conf", NULL);
    const char *conf = module_conf(p, 0, "/nonexistent/ledger.db");
    char *text = hmb_test_slurp(p, main_conf, NULL), *out;
    const char *inc = apr_pstrcat(p, "Include \"", env.conf, "\"", NULL);
    char *at = strstr(text, inc);
    const char *bare;
    int rc;

    assert_non_null(at);
    /* the same server, with its module configuration minus the plan */
    bare = apr_pstrcat(p, apr_pstrmemdup(p, text, (apr_size_t)(at - text)),
                       "Include \"", noplan, "\"", at + strlen(inc), NULL);
    assert_no_error(hmb_it_write_file(p, top, bare, strlen(bare)));
    at = strstr(conf, "HuiminbaoPlan ");
    assert_non_null(at);
    conf = apr_pstrcat(p, apr_pstrmemdup(p, conf, (apr_size_t)(at - conf)),
                       strchr(at, '\n') + 1, NULL);
    assert_null(strstr(conf, "HuiminbaoPlan"));
    assert_no_error(hmb_it_write_file(p, noplan, conf, strlen(conf)));

    rc = hmb_it_harness_output(p, env.rundir, "configtest", top, &out);
    if (rc == 0) {
        fail_msg("apache2 -t accepted Huiminbao On without a plan: %s", out);
    }
    assert_contains(out, "HMB00111");
    /* where Huiminbao On was given, and what to do */
    assert_contains(out, apr_pstrcat(p, "Huiminbao On (", noplan, ":", NULL));
    assert_contains(out, "add the policy year's plan with HuiminbaoPlan");
    assert_null(strstr(out, "Syntax OK"));

    /* with the plan it is fine, and the running server never noticed */
    assert_int_equal(hmb_it_harness_output(p, env.rundir, "configtest",
                                           main_conf, &out), 0);
    assert_contains(out, "Syntax OK");
    assert_str(hmb_it_status_value(p, env.port, "Plans"), "1");
}

/* --- (c) a ledger the server's user cannot write ------------------------- */

/* An operator made the ledger as root (0644, in root's directory): every
 * settlement would be deferred. The children find out at start-up, say
 * so in the error log, and the status page shows it; hmbctl check-ledger
 * runs the same probe. */
static void test_root_owned_ledger_found_at_start(void **state)
{
    apr_pool_t *p = *state;
    const char *dir, *db, *spec, *log, *line, *state_line;
    struct stat st;
    char *out;
    int tries = 0;

    if (geteuid() != 0) {
        skip();
    }
    dir = apr_pstrcat(p, env.rundir, "/root-ledger", NULL);
    db = apr_pstrcat(p, dir, "/ledger.db", NULL);
    spec = apr_pstrcat(p, "sqlite3:", db, NULL);
    env.root_rundir = apr_pstrcat(env.pool, env.rundir, "/root-httpd", NULL);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(env.root_rundir, 0755), 0);
    {
        const char *argv[] = { HMB_IT_HMBCTL_BIN, "--ledger", spec, "migrate",
                               NULL };
        assert_int_equal(hmb_it_capture(p, env.rundir, NULL, argv,
                                        apr_time_from_sec(30), &out), 0);
    }
    assert_int_equal(chmod(db, 0644), 0);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, 0);

    assert_no_error(hmb_it_start_httpd(p, env.root_rundir, env.root_port,
                                       "module.conf", module_conf(p, 0, db)));

    /* the server answers once a child has started, and a child probes
     * the ledger before it serves */
    do {
        log = hmb_it_log(p, env.root_rundir, "error_log", NULL);
        line = hmb_it_line_with(p, log, "HMB00320", NULL);
        if (line) {
            break;
        }
        apr_sleep(apr_time_from_msec(100));
    } while (++tries < 50);
    if (!line) {
        fail_msg("no HMB00320 in the error log: %s", log);
    }
    assert_contains(line, ":error]");
    assert_contains(line, "the server's user cannot write the ledger");
    assert_contains(line, "readonly");
    state_line = hmb_it_status_value(p, env.root_port, "LedgerState");
    if (strncmp(state_line, "FAILING: ", 9)) {
        fail_msg("LedgerState: %s", state_line);
    }
    assert_contains(state_line, "readonly");
    /* the server of the other tests, for contrast */
    assert_str(hmb_it_status_value(p, env.port, "LedgerState"),
               "ok (writable)");

    /* the operator's check, as the server's user, says the same */
    {
        const char *argv[] = { HMB_IT_HMBCTL_BIN, "--ledger", spec,
                               "check-ledger", NULL };
        assert_int_equal(hmb_it_capture(p, env.rundir, HMB_IT_HTTPD_USER, argv,
                                        apr_time_from_sec(30), &out), 1);
        assert_contains(out, "this user cannot write the ledger");
        assert_contains(out, "readonly");
        /* not the advice for a ledger nobody made */
        assert_null(strstr(out, "migrate"));
        assert_int_equal(hmb_it_capture(p, env.rundir, NULL, argv,
                                        apr_time_from_sec(30), &out), 0);
        assert_contains(out, "ledger ok");
    }

    if (hmb_it_stop_httpd(p, env.root_rundir, &out) != 0) {
        fail_msg("harness.sh stop: %s", out);
    }
}

/* --- (d) a settlement sent again after its cancellation ------------------ */

static void test_resent_after_cancel(void **state)
{
    apr_pool_t *p = *state;
    const char *psn = "36090000000000000802";
    apr_int64_t messages = count_of(p, "Messages");
    apr_int64_t paid = count_of(p, "StasPaid");
    apr_int64_t reversed = count_of(p, "StasReversed");
    apr_int64_t no_claim = count_of(p, "StasNoClaim");
    apr_int64_t dups = count_of(p, "Duplicates");
    const char *pay_total = hmb_it_status_value(p, env.port, "PayTotal");
    const char *info, *again;

    info = settle(p, "2304", "SLP-CXL-S", psn, NULL);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");
    info = settle(p, "2305", "SLP-CXL-C", psn, "SSLP00802");
    assert_str(hmb_it_field(p, info, "hmb_stas"), "reversed");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "-12100.00");

    /* the HIS sends the cancelled settlement again */
    info = settle(p, "2304", "SLP-CXL-S", psn, NULL);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "no_claim");
    assert_str(hmb_it_field(p, info, "rea_code"), "settlement_reversed");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "0.00");
    assert_str(hmb_it_field(p, info, "psn_part_amt_aft"), "48000.00");
    /* the receipt names the cancellation */
    assert_contains(hmb_it_field(p, info, "hmb_memo"), "HMBR-SSLP00802");
    again = settle(p, "2304", "SLP-CXL-S", psn, NULL);
    assert_str(again, info);

    /* counted once: one payout, one reversal, two repeats, no money */
    assert_int_equal(count_of(p, "Messages"), messages + 4);
    assert_int_equal(count_of(p, "StasPaid"), paid + 1);
    assert_int_equal(count_of(p, "StasReversed"), reversed + 1);
    assert_int_equal(count_of(p, "StasNoClaim"), no_claim);
    assert_int_equal(count_of(p, "Duplicates"), dups + 2);
    assert_str(hmb_it_status_value(p, env.port, "PayTotal"), pay_total);
    assert_str(totals(p, "2024", psn),
               "inscope elig_amt=0.00 paid_amt=0.00\n"
               "outscope elig_amt=0.00 paid_amt=0.00\n");
}

/* --- (e) not enrolled at the desk, corrected later ----------------------- */

static void test_redecide_after_late_enrollment(void **state)
{
    apr_pool_t *p = *state;
    const char *psn = "36090000000000000803";
    const char *desk, *out, *row;

    desk = settle(p, "2304", "SLP-NOTENR", psn, NULL);
    assert_str(hmb_it_field(p, desk, "hmb_stas"), "ineligible");
    assert_str(hmb_it_field(p, desk, "rea_code"), "not_enrolled");
    assert_str(hmb_it_status_value(p, env.port, "Owed"), "0");

    out = hmbctl_live(p, 0, "enroll", "--plan", PLAN_2024, ENROLL_LATE,
                      NULL);
    assert_contains(out, "imported 1 enrollment rows");
    out = hmbctl_live(p, 0, "redecide", "--plan", PLAN_2024, "--setl-id",
                      "SSLP00803", "--why", "enrollment file arrived after "
                      "the discharge", "--by", "insurer-ops", NULL);
    assert_str(out, "SSLP00803: paid 12100.00 HMBC-SSLP00803\n"
                    "corrected 1, unchanged 0\n");
    assert_str(totals(p, "2024", psn), PAID_BOTH);

    row = owed_row(p, "SSLP00803,HMBC-SSLP00803,", ",12100.00");
    assert_contains(row,
                    ",2024-05-01 10:00:00,YCHMB,2024,redecide,insurer-ops,");
    assert_str(hmb_it_status_value(p, env.port, "Owed"), "1");
    assert_str(hmb_it_status_value(p, env.port, "OwedTotal"), "12100.00");

    /* the desk asks again: what it was told (the patient was paid by the
     * insurer, not at the desk) */
    assert_str(settle(p, "2304", "SLP-NOTENR", psn, NULL), desk);
}

/* --- (b) a settlement dated after the newest loaded plan ----------------- */

static void test_no_plan_deferred_then_replayed(void **state)
{
    apr_pool_t *p = *state;
    const char *psn = "36090000000000000801";
    const char *spool = apr_pstrcat(p, env.rundir, "/spool", NULL);
    const char *done = apr_pstrcat(p, spool, "/done", NULL);
    const char *info, *out, *conf, *row;
    struct passwd *pw = getpwnam(HMB_IT_HTTPD_USER);
    struct stat st;
    int tries = 0;

    assert_str(hmb_it_status_value(p, env.port, "PlansUntil"), "2024-12-31");
    if (strcmp(today(p), "2024-12-31") > 0) {
        /* New Year's Day came without the plan: said at start-up */
        assert_true(!strncmp(hmb_it_status_value(p, env.port, "PlanToday"),
                             "NONE", 4));
        assert_non_null(hmb_it_line_with(p, hmb_it_log(p, env.rundir,
                                                       "error_log", NULL),
                                         "HMB00113", "2024-12-31"));
    }
    assert_int_equal(spool_entries(p, spool), 0);

    info = settle(p, "2304", "SLP-NOPLAN", psn, NULL);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "deferred");
    assert_str(hmb_it_field(p, info, "rea_code"), "no_plan");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "0.00");
    assert_str(hmb_it_field(p, info, "psn_part_amt_aft"), "48000.00");
    assert_null(hmb_it_field(p, info, "hmb_setl_id"));
    assert_int_equal(spool_entries(p, spool), 1);
    assert_str(hmb_it_status_value(p, env.port, "SpoolPending"), "1");
    /* nothing recorded: enrolled for 2025, no totals */
    assert_str(totals(p, "2025", psn), "");

    /* the 2025 plan, by a graceful restart */
    conf = module_conf(p, 1, apr_pstrcat(p, env.rundir, "/ledger/ledger.db",
                                         NULL));
    assert_no_error(hmb_it_write_file(p, env.conf, conf, strlen(conf)));
    assert_no_error(hmb_it_harness(p, "graceful", env.rundir, 0, NULL,
                                   apr_time_from_sec(30)));
    while (strcmp(hmb_it_status_value(p, env.port, "PlansUntil"), "2025-12-31")
           && ++tries < 50) {
        apr_sleep(apr_time_from_msec(100));
    }
    assert_str(hmb_it_status_value(p, env.port, "PlansUntil"), "2025-12-31");

    out = hmbctl_live(p, 0, "replay", "--spool", spool, "--plan", PLAN_2024,
                      "--plan", PLAN_2025, NULL);
    assert_contains(out, "replayed 1, not settleable 0, failed 0");
    assert_non_null(hmb_it_line_with(p, out, "SSLP00801 paid 12100.00",
                                     NULL));
    assert_int_equal(spool_entries(p, spool), 0);
    assert_int_equal(spool_entries(p, done), 1);
    /* replayed entries stay the server's: its user and group, 0750 */
    assert_int_equal(stat(done, &st), 0);
    assert_int_equal(st.st_mode & 07777 & ~0750, 0);
    if (geteuid() == 0 && pw) {
        assert_int_equal(st.st_uid, pw->pw_uid);
    }

    /* exactly once: a second replay, and the desk's repeat, change
     * nothing */
    out = hmbctl_live(p, 0, "replay", "--spool", spool, "--plan", PLAN_2024,
                      "--plan", PLAN_2025, NULL);
    assert_contains(out, "replayed 0, not settleable 0, failed 0");
    info = settle(p, "2304", "SLP-NOPLAN", psn, NULL);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "plan_year"), "2025");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");
    assert_str(hmb_it_field(p, info, "hmb_setl_id"), "HMB-SSLP00801");
    assert_str(totals(p, "2025", psn), PAID_BOTH);

    /* the patient was not paid at the desk: the insurer owes it */
    row = owed_row(p, "SSLP00801,HMB-SSLP00801,", ",12100.00");
    assert_contains(row, ",2025-01-05 10:00:00,YCHMB,2025,replay,");
    assert_str(hmb_it_status_value(p, env.port, "Owed"), "2");
    assert_str(hmb_it_status_value(p, env.port, "OwedTotal"), "24200.00");
    assert_str(hmb_it_status_value(p, env.port, "SpoolPending"), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_no_plan_fails_configtest),
        HMB_IT_TEST(test_root_owned_ledger_found_at_start),
        HMB_IT_TEST(test_resent_after_cancel),
        /* before the replay, which is owed too: Owed counts 1 here */
        HMB_IT_TEST(test_redecide_after_late_enrollment),
        /* last: it loads the 2025 plan */
        HMB_IT_TEST(test_no_plan_deferred_then_replayed),
        /* every [error] line in the server's log is one provoked on
         * purpose: these tests provoke none */
        HMB_IT_TEST(hmb_it_test_error_logs_clean),
    };

    return hmb_it_main("integration: operator slips in apache2", tests,
                       group_setup, hmb_it_group_teardown) ? 1 : 0;
}
