/* Integration: the Debian package, as a HIS vendor installs it (issue 12).
 *
 * dpkg-buildpackage -us -uc builds libapache2-mod-huiminbao from a copy of
 * the source tree; lintian finds no error in it. It is installed into this
 * machine's own apache2, enabled the stock way (a2enmod huiminbao pulls in
 * dbd, proxy and proxy_http; a2enconf huiminbao), passes apache2ctl
 * configtest, and settles a message through the installed module in front
 * of the installed hmb-sandbox, with the enrollments imported by the
 * installed hmbctl, then every conformance case with the installed
 * `hmbctl conform`; the versions show in the start-up line and on the
 * status page. Purged, it leaves the system as it found it: every path it
 * may touch is listed before and after (package.sh snapshot) and the two
 * lists must be the same.
 *
 * Changing the system is package.sh's (tests/integration/package.sh): a
 * machine-wide lock, the system apache2 only on a free loopback port and
 * stopped afterwards, everything undone by "restore" even when a test
 * fails. The tests run in order, each on what the one before left.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <pwd.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"
#include "hmb_ledger.h"

#define PACKAGE_SH   HMB_SRCDIR "/tests/integration/package.sh"
#define PKG          "libapache2-mod-huiminbao"
#define CASES        "/usr/share/huiminbao/conformance"
#define SITE_CONF    "/etc/apache2/conf-available/huiminbao.conf"
#define ERROR_LOG    "/var/log/apache2/error.log"
#define LEDGER       "sqlite3:/var/lib/huiminbao/ledger.db"
#define PLAN         "/etc/huiminbao/plans/yichun-2024.xml"
#define BUILD_TIMEOUT apr_time_from_sec(1800)
#define STEP_TIMEOUT  apr_time_from_sec(120)

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *state;          /* package.sh's STATEDIR */
    const char *deb;
    const char *changes;
    apr_port_t port;
    apr_port_t up_port;
    int begun;                  /* package.sh begin succeeded */
    int step;                   /* the tests that passed, in order */
} pkg_env_t;

static pkg_env_t env;

/* Each test needs the ones before it to have passed. */
#define NEED_STEP(n) \
    do { \
        if (env.step < (n)) { \
            fail_msg("an earlier step failed"); \
        } \
    } while (0)

static int run_out(apr_pool_t *p, const char *as_user,
                   const char *const *argv, apr_interval_time_t timeout,
                   char **out)
{
    return hmb_it_capture(p, env.rundir, as_user, argv, timeout, out);
}

static int package_sh(apr_pool_t *p, const char *cmd, const char *arg,
                      const char *arg2, apr_interval_time_t timeout,
                      char **out)
{
    const char *argv[] = {"/bin/bash", PACKAGE_SH, cmd, arg, arg2, NULL};

    return run_out(p, NULL, argv, timeout, out);
}

/* --- 1. the build -------------------------------------------------------- */

static void test_build_and_lintian(void **state)
{
    apr_pool_t *p = *state;
    const char *out_dir = apr_pstrcat(p, env.rundir, "/pkg", NULL);
    char *out, *nl;
    int rc;

    rc = package_sh(p, "build", HMB_SRCDIR, out_dir, BUILD_TIMEOUT, &out);
    if (rc != 0) {
        fail_msg("package.sh build: %s", out);
    }
    /* the .deb's path is the last line */
    while ((nl = strrchr(out, '\n')) && nl[1] == '\0') {
        *nl = '\0';
    }
    env.deb = apr_pstrdup(env.pool, (nl = strrchr(out, '\n')) ? nl + 1
                                                              : out);
    assert_contains(env.deb, "/" PKG "_" HMB_VERSION "_");
    assert_int_equal(access(env.deb, R_OK), 0);
    /* ..._amd64.deb beside ..._amd64.changes */
    env.changes = apr_pstrcat(env.pool,
                              apr_pstrmemdup(p, env.deb,
                                             strlen(env.deb) - 4),
                              ".changes", NULL);
    {
        const char *argv[] = {"/usr/bin/lintian", "--fail-on", "error",
                              env.changes, NULL};

        rc = run_out(p, NULL, argv, STEP_TIMEOUT * 5, &out);
        if (rc != 0 || strstr(out, "\nE: ") || !strncmp(out, "E: ", 3)) {
            fail_msg("lintian (exit %d): %s", rc, out);
        }
        printf("(lintian: %s)\n", *out ? out : "nothing to say\n");
    }
    env.step = 1;
}

/* --- 2. installed, enabled, configtest ------------------------------------ */

static void assert_owned_by_www_data(const char *path)
{
    struct stat st;
    struct passwd *pw = getpwnam("www-data");

    assert_non_null(pw);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, pw->pw_uid);
}

static void test_install_enable_configtest(void **state)
{
    apr_pool_t *p = *state;
    char *out;
    int rc;

    NEED_STEP(1);
    rc = package_sh(p, "begin", env.state,
                    apr_psprintf(p, "%ld", (long)getpid()), STEP_TIMEOUT * 6,
                    &out);
    if (rc != 0) {
        fail_msg("package.sh begin: %s", out);
    }
    env.begun = 1;
    assert_int_equal(package_sh(p, "snapshot",
                                apr_pstrcat(p, env.rundir, "/before", NULL),
                                NULL, STEP_TIMEOUT, &out), 0);
    {
        const char *argv[] = {"/usr/bin/dpkg", "-i", env.deb, NULL};

        if (run_out(p, NULL, argv, STEP_TIMEOUT * 2, &out) != 0) {
            fail_msg("dpkg -i: %s", out);
        }
    }
    assert_int_equal(access("/usr/lib/apache2/modules/mod_huiminbao.so",
                            R_OK), 0);
    assert_int_equal(access("/etc/apache2/mods-available/huiminbao.load",
                            R_OK), 0);
    assert_int_equal(access(PLAN, R_OK), 0);
    assert_int_equal(access("/usr/share/man/man1/hmbctl.1.gz", R_OK), 0);
    assert_int_equal(access("/usr/share/huiminbao/xsd/hmb-plan.xsd", R_OK),
                     0);
    assert_int_equal(access("/lib/systemd/system/huiminbao-replay.timer",
                            R_OK), 0);
    assert_owned_by_www_data("/var/lib/huiminbao");
    assert_owned_by_www_data("/var/spool/huiminbao");
    /* installed, not enabled: the site's upstream and ledger come first */
    assert_int_not_equal(access("/etc/apache2/mods-enabled/huiminbao.load",
                                F_OK), 0);
    {
        const char *argv[] = {"/usr/sbin/a2enmod", "huiminbao", NULL};

        if (run_out(p, NULL, argv, STEP_TIMEOUT, &out) != 0) {
            fail_msg("a2enmod huiminbao: %s", out);
        }
    }
    /* the .load file's Depends line */
    assert_int_equal(access("/etc/apache2/mods-enabled/dbd.load", F_OK), 0);
    assert_int_equal(access("/etc/apache2/mods-enabled/proxy.load", F_OK), 0);
    assert_int_equal(access("/etc/apache2/mods-enabled/proxy_http.load",
                            F_OK), 0);
    {
        const char *argv[] = {"/usr/sbin/a2enconf", "huiminbao", NULL};

        if (run_out(p, NULL, argv, STEP_TIMEOUT, &out) != 0) {
            fail_msg("a2enconf huiminbao: %s", out);
        }
    }
    {
        const char *argv[] = {"/usr/sbin/apache2ctl", "configtest", NULL};

        rc = run_out(p, NULL, argv, STEP_TIMEOUT, &out);
        if (rc != 0) {
            fail_msg("apache2ctl configtest (exit %d): %s", rc, out);
        }
        assert_contains(out, "Syntax OK");
    }
    env.step = 2;
}

/* --- 3. one message through the installed module --------------------------- */

/* The site's example, pointed at the sandbox as a vendor points it at
 * the settlement server. */
static void point_site_conf_at(apr_pool_t *p, apr_port_t up_port)
{
    static const char placeholder[] = "http://settlement.internal/fsi/api";
    char *text = hmb_test_slurp(p, SITE_CONF, NULL);
    char *at = strstr(text, placeholder);
    const char *edited;

    assert_non_null(at);
    edited = apr_psprintf(p, "%shttp://127.0.0.1:%d/fsi/api%s",
                          apr_pstrmemdup(p, text, (apr_size_t)(at - text)),
                          up_port, at + sizeof(placeholder) - 1);
    assert_no_error(hmb_it_write_file(p, SITE_CONF, edited, strlen(edited)));
}

static apr_off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (apr_off_t)st.st_size : 0;
}

static void test_settle_through_installed_module(void **state)
{
    apr_pool_t *p = *state;
    const char *req, *info, *log_tail;
    apr_size_t req_len, log_len;
    hmb_http_response_t *r;
    apr_off_t log_from;
    char *out, *log;

    NEED_STEP(2);
    {
        const char *argv[] = {"/usr/bin/hmbctl", "--version", NULL};

        assert_int_equal(run_out(p, NULL, argv, STEP_TIMEOUT, &out), 0);
        assert_contains(out, "hmbctl (mod_huiminbao) " HMB_VERSION "\n");
        assert_contains(out, apr_psprintf(p, "ledger schema version %d",
                                     HMB_LEDGER_SCHEMA_VERSION));
    }
    /* the enrollments the conformance cases expect, imported by the
     * installed hmbctl as httpd's user into the packaged ledger's place */
    {
        const char *argv[] = {"/usr/bin/hmbctl", "--ledger", LEDGER,
                              "enroll", "--plan", PLAN,
                              CASES "/enroll.csv", NULL};

        if (run_out(p, "www-data", argv, STEP_TIMEOUT, &out) != 0) {
            fail_msg("hmbctl enroll: %s", out);
        }
    }
    assert_no_error(hmb_it_free_port(p, &env.up_port));
    {
        const char *argv[] = {"/usr/bin/hmb-sandbox", "--listen",
                              apr_psprintf(p, "127.0.0.1:%d", env.up_port),
                              "--cases", CASES, "--exit-with-parent",
                              "--max-seconds", "900", NULL};
        apr_proc_t proc;

        assert_no_error(hmb_it_spawn(env.pool, argv, &proc));
        hmb_it_stop_later(&proc, "hmb-sandbox");
        assert_no_error(hmb_it_wait_port(env.up_port,
                                         apr_time_from_sec(10)));
    }
    point_site_conf_at(p, env.up_port);
    assert_no_error(hmb_it_free_port(p, &env.port));
    log_from = file_size(ERROR_LOG);
    if (package_sh(p, "start", env.state, apr_itoa(p, env.port),
                   STEP_TIMEOUT, &out) != 0) {
        fail_msg("package.sh start: %s", out);
    }

    req = hmb_test_slurp(p, CASES "/01-enrolled.req.xml", &req_len);
    r = hmb_it_post(p, env.port, "/fsi/api/2304", NULL, req, req_len);
    assert_int_equal(r->status, 200);
    info = hmb_it_element(p, r->body, r->body_len, "hmbinfo");
    assert_non_null(info);
    /* DOMAIN.md's worked example, pair 2, under the sample plan */
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");

    /* the conformance kit as installed, from its default directory: the
     * case just settled is answered again as the first time */
    {
        const char *argv[] = {"/usr/bin/hmbctl", "conform",
                              apr_psprintf(p, "http://127.0.0.1:%d/fsi/api",
                                           env.port), NULL};

        if (run_out(p, NULL, argv, STEP_TIMEOUT, &out) != 0) {
            fail_msg("hmbctl conform: %s", out);
        }
        assert_contains(out, "conformance cases " CASES " against");
        assert_contains(out, " 0 failed\n");
    }

    /* the versions, on the status page and in the start-up line */
    assert_str(hmb_it_status_value(p, env.port, "Version"), HMB_VERSION);
    assert_str(hmb_it_status_value(p, env.port, "SchemaVersion"),
               apr_itoa(p, HMB_LEDGER_SCHEMA_VERSION));
    log = hmb_test_slurp(p, ERROR_LOG, &log_len);
    assert_true((apr_off_t)log_len >= log_from);
    log_tail = log + log_from;
    assert_contains(log_tail, apr_psprintf(p, "HMB00112: mod_huiminbao/%s "
                                      "configured (ledger schema %d)",
                                      HMB_VERSION,
                                      HMB_LEDGER_SCHEMA_VERSION));
    env.step = 3;
}

/* --- 4. purged: the system as it was ---------------------------------------- */

static void test_purge_leaves_system_as_it_was(void **state)
{
    apr_pool_t *p = *state;
    const char *before = apr_pstrcat(p, env.rundir, "/before", NULL);
    const char *after = apr_pstrcat(p, env.rundir, "/after", NULL);
    char *out, *a, *b;

    NEED_STEP(2);
    assert_int_equal(package_sh(p, "stop", env.state, NULL, STEP_TIMEOUT,
                                &out), 0);
    {
        const char *argv[] = {"/usr/bin/dpkg", "--purge", PKG, NULL};

        if (run_out(p, NULL, argv, STEP_TIMEOUT * 2, &out) != 0) {
            fail_msg("dpkg --purge: %s", out);
        }
    }
    assert_int_not_equal(access("/usr/lib/apache2/modules/mod_huiminbao.so",
                                F_OK), 0);
    assert_int_not_equal(access("/etc/huiminbao", F_OK), 0);
    /* the dependencies a2enmod enabled, ports.conf, the lock */
    assert_int_equal(package_sh(p, "restore", env.state, NULL, STEP_TIMEOUT,
                                &out), 0);
    env.begun = 0;
    assert_int_equal(package_sh(p, "snapshot", after, NULL, STEP_TIMEOUT,
                                &out), 0);
    b = hmb_test_slurp(p, before, NULL);
    a = hmb_test_slurp(p, after, NULL);
    if (strcmp(a, b)) {
        const char *argv[] = {"/usr/bin/diff", before, after, NULL};

        run_out(p, NULL, argv, STEP_TIMEOUT, &out);
        fail_msg("the system differs after the purge:\n%s", out);
    }
    env.step = 4;
}

/* --- the group ----------------------------------------------------------- */

static int group_teardown(void **state)
{
    char *out;
    int ok = 1;

    /* whatever failed, the system apache2 stops and the package goes */
    if (env.pool && env.begun
        && package_sh(env.pool, "restore", env.state, NULL,
                      STEP_TIMEOUT * 2, &out) != 0) {
        fprintf(stderr, "package.sh restore: %s\n", out);
        ok = 0;
    }
    env.begun = 0;
    return hmb_it_group_teardown(state) || !ok ? -1 : 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (hmb_it_group_begin("package", &env.pool, &env.rundir)) {
        return -1;
    }
    env.state = apr_pstrcat(env.pool, env.rundir, "/state", NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_build_and_lintian),
        HMB_IT_TEST(test_install_enable_configtest),
        HMB_IT_TEST(test_settle_through_installed_module),
        HMB_IT_TEST(test_purge_leaves_system_as_it_was),
    };

    if (geteuid() != 0) {
        printf("test_package: not root, so no package is installed "
               "(skipped)\n");
        return 77;
    }
    return hmb_it_main("integration: the Debian package in the system apache2",
                       tests, group_setup, group_teardown) ? 1 : 0;
}
