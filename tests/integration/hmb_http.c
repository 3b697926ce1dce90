/* Process, server and answer helpers for the integration tests (see
 * hmb_http.h); the HTTP client they use is tools/hmb_http_client.c, shared
 * with hmbctl.
 */

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "hmb_http.h"

#define IT_MAX 4

/* What the program started and stops at the end of its group, and the
 * directories it leaves; outside any pool, since they outlive them. */
static struct {
    apr_pool_t **pool;              /* hmb_it_group_begin's */
    char httpd[IT_MAX][512];        /* run directories of apache2s */
    apr_proc_t proc[IT_MAX];
    char name[IT_MAX][32];
    char left[IT_MAX][512];
    /* a teardown failed: CMocka may count that in no test, and the run
     * directories are kept all the same */
    int teardown_failed;
} it;

/* dir into the first free one of IT_MAX slots of size bytes each */
static void it_note(char *slots, apr_size_t size, const char *dir)
{
    int i;

    for (i = 0; i < IT_MAX; i++, slots += size) {
        if (!*slots) {
            apr_cpystrn(slots, dir, size);
            return;
        }
    }
    fprintf(stderr, "more than %d to remember; forgotten: %s\n", IT_MAX,
            dir);
}

/* --- processes and ports ------------------------------------------------ */

const char *hmb_it_free_port(apr_pool_t *p, apr_port_t *port)
{
    static int next_offset;
    const char *base = getenv("HMB_TEST_PORT_BASE");
    apr_sockaddr_t *sa, *bound;
    apr_socket_t *s;
    apr_status_t rv;

    if (base && *base) {
        long b = atol(base);
        if (b <= 0 || b + next_offset > 65535) {
            return apr_psprintf(p, "HMB_TEST_PORT_BASE '%s' is not a port",
                                base);
        }
        *port = (apr_port_t)(b + next_offset++);
        return NULL;
    }
    /* the kernel's choice, released again: a small race, fine for tests */
    rv = apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_socket_bind(s, sa);
        if (rv == APR_SUCCESS) {
            rv = apr_socket_addr_get(&bound, APR_LOCAL, s);
        }
        if (rv == APR_SUCCESS) {
            *port = bound->port;
        }
        apr_socket_close(s);
    }
    return rv == APR_SUCCESS ? NULL : hmb_http_err(p, "free port", rv);
}

const char *hmb_it_free_ports(apr_pool_t *p, ...)
{
    const char *why = NULL;
    apr_port_t *port;
    va_list ap;

    va_start(ap, p);
    while (!why && (port = va_arg(ap, apr_port_t *)) != NULL) {
        why = hmb_it_free_port(p, port);
    }
    va_end(ap);
    return why;
}

const char *hmb_it_wait_port(apr_port_t port, apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_pool_t *p;
    apr_status_t rv;

    apr_pool_create(&p, NULL);
    do {
        apr_sockaddr_t *sa;
        apr_socket_t *s;
        rv = apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, port, 0, p);
        if (rv == APR_SUCCESS) {
            rv = apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP,
                                   p);
        }
        if (rv == APR_SUCCESS) {
            apr_socket_timeout_set(s, apr_time_from_msec(200));
            rv = apr_socket_connect(s, sa);
            apr_socket_close(s);
        }
        apr_pool_clear(p);
        if (rv == APR_SUCCESS) {
            break;
        }
        apr_sleep(apr_time_from_msec(50));
    } while (apr_time_now() < deadline);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? NULL : "port did not open in time";
}

const char *hmb_it_spawn(apr_pool_t *p, const char *const *argv,
                         apr_proc_t *proc)
{
    apr_procattr_t *attr;
    apr_status_t rv;

    rv = apr_procattr_create(&attr, p);
    if (rv == APR_SUCCESS) {
        rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_procattr_error_check_set(attr, 1);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_proc_create(proc, argv[0], argv, NULL, attr, p);
    }
    return rv == APR_SUCCESS ? NULL : hmb_http_err(p, argv[0], rv);
}

const char *hmb_it_wait(apr_proc_t *proc, apr_interval_time_t timeout,
                        int *exit_code)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_exit_why_e why;
    int code = 0;
    apr_status_t rv;

    for (;;) {
        rv = apr_proc_wait(proc, &code, &why, APR_NOWAIT);
        if (rv == APR_CHILD_DONE) {
            break;
        }
        if (rv != APR_CHILD_NOTDONE) {
            return "waiting for a child failed";
        }
        if (apr_time_now() >= deadline) {
            apr_proc_kill(proc, SIGKILL);
            apr_proc_wait(proc, &code, &why, APR_WAIT);
            if (exit_code) {
                *exit_code = 128 + SIGKILL;
            }
            return "child did not finish in time and was killed";
        }
        apr_sleep(apr_time_from_msec(20));
    }
    if (exit_code) {
        *exit_code = APR_PROC_CHECK_SIGNALED(why) ? 128 + code : code;
    }
    return NULL;
}

const char *hmb_it_stop(apr_proc_t *proc, apr_interval_time_t grace)
{
    int code;

    if (proc->pid <= 0) {
        return NULL;
    }
    apr_proc_kill(proc, SIGTERM);
    return hmb_it_wait(proc, grace, &code);
}

const char *hmb_it_run(apr_pool_t *p, const char *const *argv,
                       apr_interval_time_t timeout)
{
    apr_proc_t proc;
    const char *why;
    int code;

    if ((why = hmb_it_spawn(p, argv, &proc)) != NULL
        || (why = hmb_it_wait(&proc, timeout, &code)) != NULL) {
        return why;
    }
    return code ? apr_psprintf(p, "%s exited with status %d", argv[0], code)
                : NULL;
}

const char *hmb_it_start_upstream(apr_pool_t *p, const char *rundir,
                                  const char *name, apr_port_t port,
                                  const char *fixtures,
                                  const char *const *extra)
{
    apr_array_header_t *argv = apr_array_make(p, 16, sizeof(const char *));
    apr_proc_t proc;
    const char *why;

#define HMB_ARG(s) (*(const char **)apr_array_push(argv) = (s))
    HMB_ARG(HMB_IT_UPSTREAM_BIN);
    HMB_ARG("--listen");
    HMB_ARG(apr_psprintf(p, "127.0.0.1:%d", (int)port));
    if (fixtures) {
        HMB_ARG("--fixtures");
        HMB_ARG(fixtures);
    }
    HMB_ARG("--pidfile");
    HMB_ARG(apr_pstrcat(p, rundir, "/", name, ".pid", NULL));
    HMB_ARG("--log");
    HMB_ARG(apr_pstrcat(p, rundir, "/", name, ".log", NULL));
    /* gone by itself should all else fail */
    HMB_ARG("--max-seconds");
    HMB_ARG("3600");
    HMB_ARG("--exit-with-parent");
    for (; extra && *extra; extra++) {
        HMB_ARG(*extra);
    }
    HMB_ARG(NULL);
#undef HMB_ARG
    if ((why = hmb_it_spawn(p, (const char *const *)argv->elts, &proc))) {
        return why;
    }
    if ((why = hmb_it_wait_port(port, apr_time_from_sec(5)))) {
        hmb_it_stop(&proc, apr_time_from_sec(2));
        return why;
    }
    hmb_it_stop_later(&proc, name);
    return NULL;
}

const char *hmb_it_answer(apr_pool_t *p, const char *dir, const char *msgid,
                          const char *ext, const char *body, apr_size_t len,
                          const char *opts)
{
    const char *base = apr_pstrcat(p, dir, "/", msgid, NULL);
    const char *why = hmb_it_write_file(p, apr_pstrcat(p, base, ".", ext,
                                                       NULL), body, len);

    if (!why && opts) {
        why = hmb_it_write_file(p, apr_pstrcat(p, base, ".opts", NULL), opts,
                                strlen(opts));
    }
    return why;
}

/* A build made with --enable-sanitizers has a module built with ASan and
 * UBSan; Debian's apache2 is not, so harness.sh preloads the runtime into
 * it and fails `stop` on any report. */
static void it_sanitized_httpd(void)
{
#ifdef HMB_SANITIZER_PRELOAD
    setenv("HMB_HTTPD_PRELOAD", HMB_SANITIZER_PRELOAD, 0);
#endif
}

const char *hmb_it_harness(apr_pool_t *p, const char *cmd, const char *rundir,
                           apr_port_t port, const char *extra,
                           apr_interval_time_t timeout)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, cmd, rundir, NULL, NULL, NULL
    };

    it_sanitized_httpd();
    if (!strcmp(cmd, "start")) {
        argv[4] = apr_psprintf(p, "%d", (int)port);
        argv[5] = extra;
    }
    return hmb_it_run(p, argv, timeout);
}

int hmb_it_harness_output(apr_pool_t *p, const char *rundir, const char *cmd,
                          const char *arg, char **out)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, cmd, rundir, arg, NULL
    };

    it_sanitized_httpd();
    return hmb_it_capture(p, rundir, NULL, argv, apr_time_from_sec(60), out);
}

const char *hmb_it_module_conf(apr_pool_t *p, const char *const *plans,
                               const char *dbd, apr_port_t up_port,
                               const char *in_api, const char *more)
{
    apr_array_header_t *lines = apr_array_make(p, 16, sizeof(const char *));

#define HMB_LINE(s) (*(const char **)apr_array_push(lines) = (s))
    HMB_LINE(apr_psprintf(p, "LoadModule huiminbao_module \"%s\"\n"
                          "LogLevel warn huiminbao:info\n",
                          HMB_IT_MODULE_SO));
    for (; *plans; plans++) {
        HMB_LINE(apr_psprintf(p, "HuiminbaoPlan \"%s\"\n", *plans));
    }
    HMB_LINE("HuiminbaoSpool \"${HMB_RUNDIR}/spool\"\n");
    HMB_LINE(dbd);
    HMB_LINE(apr_psprintf(p,
        "<Location \"/fsi/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "%s"
        "</Location>\n"
        "<Location \"/huiminbao-status\">\n"
        "    SetHandler huiminbao-status\n"
        "    Require ip 127.0.0.1\n"
        "</Location>\n", (int)up_port, in_api ? in_api : ""));
    HMB_LINE(more ? more : "");
#undef HMB_LINE
    return apr_array_pstrcat(p, lines, 0);
}

const char *hmb_it_start_httpd(apr_pool_t *p, const char *rundir,
                               apr_port_t port, const char *name,
                               const char *conf)
{
    const char *path = apr_pstrcat(p, rundir, "/", name, NULL);
    const char *why = hmb_it_write_file(p, path, conf, strlen(conf));

    if (!why && !(why = hmb_it_harness(p, "start", rundir, port, path,
                                       apr_time_from_sec(60)))) {
        it_note(it.httpd[0], sizeof(it.httpd[0]), rundir);
    }
    return why;
}

int hmb_it_stop_httpd(apr_pool_t *p, const char *rundir, char **out)
{
    int i;

    for (i = 0; i < IT_MAX; i++) {
        if (!strcmp(it.httpd[i], rundir)) {
            *it.httpd[i] = '\0';
        }
    }
    return hmb_it_harness_output(p, rundir, "stop", NULL, out);
}

const char *hmb_it_write_file(apr_pool_t *p, const char *path,
                              const char *buf, apr_size_t len)
{
    apr_file_t *f;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, buf, len, NULL);
        apr_file_close(f);
    }
    return rv == APR_SUCCESS ? NULL
                             : apr_psprintf(p, "cannot write %s", path);
}

const char *hmb_it_memmem_last(const char *hay, apr_size_t len,
                               const char *needle)
{
    apr_size_t n = strlen(needle);
    const char *s;

    if (len < n) {
        return NULL;
    }
    for (s = hay + len - n; s >= hay; s--) {
        if (!memcmp(s, needle, n)) {
            return s;
        }
    }
    return NULL;
}

const char *hmb_it_element(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *s = memmem(buf, len, open, strlen(open)), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = memmem(s, len - (apr_size_t)(s - buf), close, strlen(close));
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

const char *hmb_it_pg(apr_pool_t *p, const char *cmd, const char *dir,
                      apr_port_t port, const char *primary_dir)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_PGSH, cmd, dir, NULL, NULL, NULL
    };

    if (!strcmp(cmd, "start") || !strcmp(cmd, "standby")) {
        argv[4] = apr_psprintf(p, "%d", (int)port);
        argv[5] = primary_dir;
    }
    /* pg.sh bounds each of its own waits; this is the backstop */
    return hmb_it_run(p, argv, apr_time_from_sec(90));
}

/* --- a test group's life ------------------------------------------------ */

void hmb_it_leave_later(const char *dir)
{
    it_note(it.left[0], sizeof(it.left[0]), dir);
}

void hmb_it_stop_later(const apr_proc_t *proc, const char *name)
{
    int i;

    for (i = 0; i < IT_MAX && it.proc[i].pid > 0; i++) {
    }
    if (i == IT_MAX) {
        fprintf(stderr, "more than %d processes to stop; %s is not\n",
                IT_MAX, name);
        return;
    }
    it.proc[i] = *proc;
    apr_cpystrn(it.name[i], name, sizeof(it.name[i]));
}

void hmb_it_leave_rundir(int failed)
{
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < IT_MAX && *it.left[i]; i++) {
        const char *rm[] = { "/bin/rm", "-rf", it.left[i], NULL };

        if (failed || it.teardown_failed || getenv("HMB_KEEP_RUNDIR")) {
            fprintf(stderr, "run directory kept for inspection: %s\n",
                    it.left[i]);
        }
        else {
            hmb_it_run(p, rm, apr_time_from_sec(60));
        }
        *it.left[i] = '\0';
    }
    apr_pool_destroy(p);
}

int hmb_it_run_group(const char *name, const struct CMUnitTest *tests,
                     size_t n, CMFixtureFunction setup,
                     CMFixtureFunction teardown)
{
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    failed = _cmocka_run_group_tests(name, tests, n, setup, teardown);
    hmb_it_leave_rundir(failed);
    apr_terminate();
    return failed;
}

int hmb_it_group_begin(const char *name, apr_pool_t **pool,
                       const char **rundir)
{
    char *dir;

    apr_pool_create(pool, NULL);
    dir = apr_psprintf(*pool, "%s/tmp-%s-XXXXXX", HMB_BUILDDIR, name);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "setup: cannot create %s\n", dir);
        apr_pool_destroy(*pool);
        *pool = NULL;
        return -1;
    }
    it.pool = pool;
    hmb_it_leave_later(dir);
    *rundir = dir;
    return 0;
}

int hmb_it_group_end(const char *why, CMFixtureFunction teardown,
                     void **state)
{
    if (!why) {
        return 0;
    }
    fprintf(stderr, "setup: %s\n", why);
    teardown(state);
    return -1;
}

int hmb_it_stop_servers(void)
{
    apr_pool_t *p;
    apr_finfo_t fi;
    const char *why;
    int ok = 1, i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < IT_MAX; i++) {
        const char *rundir = it.httpd[i];

        if (!*rundir) {
            continue;
        }
        if ((why = hmb_it_harness(p, "stop", rundir, 0, NULL,
                                  apr_time_from_sec(90))) != NULL) {
            fprintf(stderr, "teardown: harness stop %s: %s\n", rundir, why);
            ok = 0;
        }
        /* httpd's parent removes it only once its children are gone */
        if (apr_stat(&fi, apr_pstrcat(p, rundir, "/run/httpd.pid", NULL),
                     APR_FINFO_TYPE, p) == APR_SUCCESS) {
            fprintf(stderr, "teardown: %s/run/httpd.pid still exists\n",
                    rundir);
            ok = 0;
        }
        *it.httpd[i] = '\0';
    }
    for (i = 0; i < IT_MAX; i++) {
        if (it.proc[i].pid > 0
            && (why = hmb_it_stop(&it.proc[i], apr_time_from_sec(5)))) {
            fprintf(stderr, "teardown: %s: %s\n", it.name[i], why);
            ok = 0;
        }
        it.proc[i].pid = 0;
    }
    apr_pool_destroy(p);
    it.teardown_failed |= !ok;
    return ok;
}

void hmb_it_test_error_logs_clean(void **state)
{
    int i, checked = 0;

    for (i = 0; i < IT_MAX; i++) {
        if (*it.httpd[i]) {
            assert_no_error(hmb_it_harness(*state, "check-log", it.httpd[i],
                                           0, NULL, apr_time_from_sec(30)));
            checked++;
        }
    }
    assert_true(checked > 0);
}

int hmb_it_group_teardown(void **state)
{
    int ok = hmb_it_stop_servers();

    (void)state;
    if (it.pool && *it.pool) {
        apr_pool_destroy(*it.pool);
        *it.pool = NULL;
    }
    it.pool = NULL;
    return ok ? 0 : -1;
}

/* --- commands ----------------------------------------------------------- */

/* The whole of a small file, NUL-terminated ("" when it cannot be read:
 * the caller judges the output, not the file). */
static char *it_slurp(apr_pool_t *p, const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n = 0;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)
        != APR_SUCCESS) {
        return apr_pstrdup(p, "");
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS
        && fi.size > 0) {
        n = (apr_size_t)fi.size;
    }
    buf = apr_palloc(p, n + 1);
    if (n && apr_file_read_full(f, buf, n, &n) != APR_SUCCESS) {
        n = 0;
    }
    buf[n] = '\0';
    apr_file_close(f);
    return buf;
}

int hmb_it_capture(apr_pool_t *p, const char *dir, const char *as_user,
                   const char *const *argv, apr_interval_time_t timeout,
                   char **out)
{
    static int seq;
    const char *args[HMB_IT_MAX_ARGS + 5];
    const char *path;
    apr_procattr_t *attr;
    apr_file_t *f;
    apr_proc_t proc;
    int n = 0, i, code = -1;

    /* a root-owned WAL or journal next to the live ledger would lock the
     * children out of it: commands on it run as their user */
    if (as_user && geteuid() == 0) {
        args[n++] = "/usr/sbin/runuser";
        args[n++] = "-u";
        args[n++] = as_user;
        args[n++] = "--";
    }
    for (i = 0; argv[i] && i < HMB_IT_MAX_ARGS; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;

    path = apr_psprintf(p, "%s/cmd-%03d.out", dir, ++seq);
    *out = apr_pstrdup(p, "");
    if (apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                      | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        return -1;
    }
    if (apr_procattr_create(&attr, p) == APR_SUCCESS
        && apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV) == APR_SUCCESS
        && apr_procattr_child_out_set(attr, f, NULL) == APR_SUCCESS
        && apr_procattr_child_err_set(attr, f, NULL) == APR_SUCCESS
        && apr_procattr_error_check_set(attr, 1) == APR_SUCCESS
        && apr_proc_create(&proc, args[0], args, NULL, attr, p)
           == APR_SUCCESS) {
        if (hmb_it_wait(&proc, timeout, &code)) {
            code = -1;
        }
    }
    apr_file_close(f);
    *out = it_slurp(p, path);
    return code;
}

char *hmb_it_hmbctl(apr_pool_t *p, const char *dir, const char *as_user,
                    const char *ledger, int rc, ...)
{
    const char *argv[HMB_IT_MAX_ARGS + 1];
    const char *a;
    char *out;
    va_list ap;
    int n = 0, code;

    argv[n++] = HMB_IT_HMBCTL_BIN;
    argv[n++] = "--ledger";
    argv[n++] = ledger;
    va_start(ap, rc);
    while ((a = va_arg(ap, const char *)) != NULL && n < HMB_IT_MAX_ARGS) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    code = hmb_it_capture(p, dir, as_user, argv, apr_time_from_sec(60),
                          &out);
    if (code != rc) {
        fail_msg("hmbctl exited with %d (want %d): %s", code, rc, out);
    }
    return out;
}

const char *hmb_it_enroll(apr_pool_t *p, const char *dir, const char *ledger,
                          const char *const *plans, const char *csv,
                          const char *expect)
{
    const char *argv[HMB_IT_MAX_ARGS + 1];
    char *out;
    int n = 0;

    argv[n++] = HMB_IT_HMBCTL_BIN;
    argv[n++] = "--ledger";
    argv[n++] = ledger;
    argv[n++] = "enroll";
    for (; *plans && n < HMB_IT_MAX_ARGS - 2; plans++) {
        argv[n++] = "--plan";
        argv[n++] = *plans;
    }
    argv[n++] = csv;
    argv[n] = NULL;
    if (hmb_it_capture(p, dir, NULL, argv, apr_time_from_sec(60), &out) != 0
        || !strstr(out, expect)) {
        return apr_pstrcat(p, "hmbctl enroll: ", out, NULL);
    }
    return NULL;
}

const char *hmb_it_sqlite_ledger(apr_pool_t *p, const char *dir,
                                 const char *const *plans, const char *csv,
                                 const char *expect, const char *user,
                                 const char **ledger)
{
    const char *ldir = apr_pstrcat(p, dir, "/ledger", NULL), *why;

    *ledger = apr_pstrcat(p, "sqlite3:", ldir, "/ledger.db", NULL);
    if (apr_dir_make_recursive(ldir, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        return "cannot create the ledger's directory";
    }
    if ((why = hmb_it_enroll(p, dir, *ledger, plans, csv, expect))) {
        return why;
    }
    if (geteuid() == 0) {
        const char *chown[] = {
            "/bin/chown", "-R", apr_pstrcat(p, user, ":", user, NULL), ldir,
            NULL
        };
        return hmb_it_run(p, chown, apr_time_from_sec(10));
    }
    return NULL;
}

/* --- messages and answers ----------------------------------------------- */

const char *hmb_it_envelope_from(apr_pool_t *p, const char *infno,
                                 const char *msgid,
                                 const char *fixmedins_code,
                                 const char *fixmedins_name,
                                 const char *inf_time, const char *data)
{
    return apr_pstrcat(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<request><infno>", infno, "</infno><msgid>", msgid, "</msgid>"
        "<mdtrtarea_admvs>360900</mdtrtarea_admvs>"
        "<insuplc_admdvs>360902</insuplc_admdvs>"
        "<recer_sys_code>HIS</recer_sys_code><infver>V1.0</infver>"
        "<opter_type>1</opter_type><opter>0001</opter>"
        "<opter_name>收费员</opter_name><inf_time>", inf_time, "</inf_time>"
        "<fixmedins_code>", fixmedins_code, "</fixmedins_code>"
        "<fixmedins_name>", fixmedins_name, "</fixmedins_name>"
        "<sign_no>S0001</sign_no><input><data>", data,
        "</data></input></request>", NULL);
}

const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id)
{
    const char *data = apr_pstrcat(p, "<psn_no>", psn_no, "</psn_no>", NULL);

    if (cancel_setl_id) {
        data = apr_pstrcat(p, "<setl_id>", cancel_setl_id, "</setl_id>",
                           data, NULL);
    }
    return hmb_it_envelope_from(p, infno, msgid, "H36090200001",
                                "宜春市人民医院", "2024-05-01 10:00:00",
                                data);
}

const char *const hmb_it_xml[] = {
    "Content-Type: text/xml; charset=UTF-8", NULL
};

hmb_http_response_t *hmb_it_request(apr_pool_t *p, apr_port_t port,
                                    const char *method, const char *path,
                                    const char *const *headers,
                                    const char *body, apr_size_t len)
{
    hmb_http_response_t *r = NULL;

    assert_no_error(hmb_http_once(p, port, method, path, headers, body, len,
                                  &r));
    return r;
}

hmb_http_response_t *hmb_it_post(apr_pool_t *p, apr_port_t port,
                                 const char *path, const char *const *headers,
                                 const char *body, apr_size_t len)
{
    return hmb_it_request(p, port, "POST", path,
                          headers ? headers : hmb_it_xml, body, len);
}

hmb_http_response_t *hmb_it_settle(apr_pool_t *p, apr_port_t port,
                                   const char *tag, const char *infno,
                                   const char *msgid, const char *psn_no,
                                   const char *cancel_setl_id)
{
    const char *req = hmb_it_envelope(p, infno, msgid, psn_no,
                                      cancel_setl_id);

    return hmb_it_post(p, port, apr_pstrcat(p, "/fsi/api/", tag, NULL), NULL,
                       req, strlen(req));
}

hmb_http_response_t *hmb_it_get(apr_pool_t *p, apr_port_t port,
                                const char *path)
{
    return hmb_it_request(p, port, "GET", path, NULL, NULL, 0);
}

const char *hmb_it_hmbinfo(apr_pool_t *p, const char *body)
{
    const char *start = strstr(body, "<hmbinfo>"), *end, *after;

    if (!start || !(end = strstr(start, "</hmbinfo>"))) {
        fail_msg("no <hmbinfo> in the answer: '%.300s'", body);
    }
    end += strlen("</hmbinfo>");
    assert_null(strstr(end, "<hmbinfo>"));
    for (after = end; apr_isspace(*after); after++) {
    }
    if (strncmp(after, "</output>", 9)) {
        fail_msg("<hmbinfo> is not the last child of <output>: '%.300s'",
                 start);
    }
    return apr_pstrmemdup(p, start, (apr_size_t)(end - start));
}

void hmb_it_assert_same_bytes(const char *got, apr_size_t got_len,
                              const char *want, apr_size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len)) {
        apr_size_t i = 0;
        while (i < got_len && i < want_len && got[i] == want[i]) {
            i++;
        }
        fail_msg("body differs at byte %lu (got %lu bytes, want %lu): "
                 "got '%.60s'", (unsigned long)i, (unsigned long)got_len,
                 (unsigned long)want_len, got + i);
    }
}

const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name)
{
    return hmb_it_element(p, xml, strlen(xml), name);
}

const char *hmb_it_line_with(apr_pool_t *p, const char *text,
                             const char *needle, const char *also)
{
    const char *s = text;

    while ((s = strstr(s, needle)) != NULL) {
        const char *b = s, *e = strchr(s, '\n');
        const char *line;
        while (b > text && b[-1] != '\n') {
            b--;
        }
        line = e ? apr_pstrmemdup(p, b, (apr_size_t)(e - b))
                 : apr_pstrdup(p, b);
        if (!also || strstr(line, also)) {
            return line;
        }
        s += strlen(needle);
    }
    return NULL;
}

const char *hmb_it_status_value(apr_pool_t *p, apr_port_t port,
                                const char *key)
{
    hmb_http_response_t *r;
    const char *k = apr_pstrcat(p, "\n", key, ": ", NULL);
    const char *s, *e;
    char *text;

    r = hmb_it_get(p, port, "/huiminbao-status?auto");
    if (r->status != 200) {
        fail_msg("the status page answered %d", r->status);
    }
    text = apr_pstrcat(p, "\n", r->body, NULL);
    if (!(s = strstr(text, k))) {
        fail_msg("no %s in the status page", key);
    }
    s += strlen(k);
    e = strchr(s, '\n');
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : s;
}

/* --- what a server left ------------------------------------------------- */

char *hmb_it_log(apr_pool_t *p, const char *rundir, const char *name,
                 apr_size_t *len)
{
    return hmb_test_slurp(p, apr_pstrcat(p, rundir, "/logs/", name, NULL),
                          len);
}

apr_array_header_t *hmb_it_files(apr_pool_t *p, const char *dir,
                                 const char *suffix)
{
    apr_array_header_t *a = apr_array_make(p, 16, sizeof(const char *));
    apr_size_t k = strlen(suffix);
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) {
        fail_msg("cannot read %s", dir);
    }
    while ((e = readdir(d)) != NULL) {
        apr_size_t n = strlen(e->d_name);

        if (n > k && !strcmp(e->d_name + n - k, suffix)) {
            APR_ARRAY_PUSH(a, const char *) = apr_pstrcat(p, dir, "/",
                                                          e->d_name, NULL);
        }
    }
    closedir(d);
    return a;
}

apr_array_header_t *hmb_it_httpd_children(apr_pool_t *p, const char *rundir)
{
    apr_array_header_t *kids = apr_array_make(p, 4, sizeof(long));
    long parent = atol(hmb_test_slurp(p, apr_pstrcat(p, rundir,
                                                     "/run/httpd.pid", NULL),
                                      NULL));
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (parent <= 1) {
        fail_msg("no httpd parent in %s/run/httpd.pid", rundir);
    }
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[64], buf[512], *after, state;
        long ppid;
        apr_size_t n = sizeof(buf) - 1;
        apr_file_t *f;

        if (!apr_isdigit(e->d_name[0])) {
            continue;
        }
        /* field 4 of stat is the parent; the name before it may hold
         * spaces and parentheses */
        apr_snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
            continue;
        }
        apr_file_read(f, buf, &n);
        apr_file_close(f);
        buf[n] = '\0';
        after = strrchr(buf, ')');
        if (after && sscanf(after + 1, " %c %ld", &state, &ppid) == 2
            && ppid == parent && state != 'Z') {
            APR_ARRAY_PUSH(kids, long) = atol(e->d_name);
        }
    }
    closedir(d);
    return kids;
}
