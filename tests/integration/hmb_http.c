/* Process helpers for the integration tests (see hmb_http.h); the HTTP
 * client they use is tools/hmb_http_client.c, shared with hmbctl.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "hmb_http.h"

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

const char *hmb_it_start_upstream(apr_pool_t *p, apr_port_t port,
                                  const char *fixtures, const char *pidfile,
                                  const char *logfile, int max_seconds,
                                  const char *const *extra, apr_proc_t *proc)
{
    apr_array_header_t *argv = apr_array_make(p, 16, sizeof(const char *));
    const char *why;

#define HMB_ARG(s) (*(const char **)apr_array_push(argv) = (s))
    HMB_ARG(HMB_IT_UPSTREAM_BIN);
    HMB_ARG("--listen");
    HMB_ARG(apr_psprintf(p, "127.0.0.1:%d", (int)port));
    HMB_ARG("--fixtures");
    HMB_ARG(fixtures);
    HMB_ARG("--pidfile");
    HMB_ARG(pidfile);
    HMB_ARG("--log");
    HMB_ARG(logfile);
    /* gone by itself should all else fail */
    HMB_ARG("--max-seconds");
    HMB_ARG(apr_itoa(p, max_seconds));
    HMB_ARG("--exit-with-parent");
    for (; extra && *extra; extra++) {
        HMB_ARG(*extra);
    }
    HMB_ARG(NULL);
#undef HMB_ARG
    why = hmb_it_spawn(p, (const char *const *)argv->elts, proc);
    if (!why && (why = hmb_it_wait_port(port, apr_time_from_sec(5)))) {
        hmb_it_stop(proc, apr_time_from_sec(2));
        proc->pid = 0;
    }
    return why;
}

const char *hmb_it_harness(apr_pool_t *p, const char *cmd, const char *rundir,
                           apr_port_t port, const char *extra,
                           apr_interval_time_t timeout)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, cmd, rundir, NULL, NULL, NULL
    };

    if (!strcmp(cmd, "start")) {
        argv[4] = apr_psprintf(p, "%d", (int)port);
        argv[5] = extra;
    }
    return hmb_it_run(p, argv, timeout);
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

const char *hmb_it_run_to_file(apr_pool_t *p, const char *const *argv,
                               const char *out_path)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_file_t *out;
    apr_status_t rv;
    const char *why;
    int code = 0;

    rv = apr_file_open(&out, out_path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot write %s", out_path);
    }
    if ((rv = apr_procattr_create(&attr, p)) == APR_SUCCESS
        && (rv = apr_procattr_child_out_set(attr, out, NULL)) == APR_SUCCESS
        && (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
           == APR_SUCCESS
        && (rv = apr_procattr_error_check_set(attr, 1)) == APR_SUCCESS) {
        rv = apr_proc_create(&proc, argv[0], argv, NULL, attr, p);
    }
    apr_file_close(out);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot run %s", argv[0]);
    }
    if ((why = hmb_it_wait(&proc, apr_time_from_sec(60), &code)) != NULL) {
        return why;
    }
    return code ? apr_psprintf(p, "%s exited with status %d", argv[0], code)
                : NULL;
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

int hmb_it_teardown(apr_pool_t *p, const char *rundir, int httpd_started,
                    apr_proc_t *const *procs, const char *const *names,
                    int n)
{
    apr_finfo_t fi;
    const char *why;
    int ok = 1, i;

    if (httpd_started && rundir
        && (why = hmb_it_harness(p, "stop", rundir, 0, NULL,
                                 apr_time_from_sec(30))) != NULL) {
        fprintf(stderr, "teardown: harness stop: %s\n", why);
        ok = 0;
    }
    for (i = 0; i < n; i++) {
        if (procs[i]->pid > 0
            && (why = hmb_it_stop(procs[i], apr_time_from_sec(5)))) {
            fprintf(stderr, "teardown: %s: %s\n", names[i], why);
            ok = 0;
        }
    }
    if (rundir && apr_stat(&fi, apr_pstrcat(p, rundir, "/run/httpd.pid",
                                            NULL), APR_FINFO_TYPE, p)
                  == APR_SUCCESS) {
        fprintf(stderr, "teardown: %s/run/httpd.pid still exists\n", rundir);
        ok = 0;
    }
    return ok;
}

/* --- what the integration tests of the module share --------------------- */

char *hmb_it_make_rundir(apr_pool_t *p, const char *name)
{
    char *dir = apr_psprintf(p, "%s/tmp-%s-XXXXXX", HMB_BUILDDIR, name);

    if (!mkdtemp(dir)) {
        fprintf(stderr, "setup: cannot create %s\n", dir);
        return NULL;
    }
    return dir;
}

void hmb_it_leave_rundir(const char *rundir, int failed)
{
    apr_pool_t *p;
    const char *rm[] = { "/bin/rm", "-rf", rundir, NULL };

    if (!*rundir) {
        return;
    }
    if (failed || getenv("HMB_KEEP_RUNDIR")) {
        fprintf(stderr, "run directory kept for inspection: %s\n", rundir);
        return;
    }
    apr_pool_create(&p, NULL);
    hmb_it_run(p, rm, apr_time_from_sec(30));
    apr_pool_destroy(p);
}

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

int hmb_it_hmbctl_v(apr_pool_t *p, const char *dir, const char *as_user,
                    const char *ledger, char **out, va_list ap)
{
    const char *argv[HMB_IT_MAX_ARGS + 1];
    const char *a;
    int n = 0;

    argv[n++] = HMB_IT_HMBCTL_BIN;
    argv[n++] = "--ledger";
    argv[n++] = ledger;
    while ((a = va_arg(ap, const char *)) != NULL && n < HMB_IT_MAX_ARGS) {
        argv[n++] = a;
    }
    argv[n] = NULL;
    return hmb_it_capture(p, dir, as_user, argv, apr_time_from_sec(60), out);
}

int hmb_it_configtest(apr_pool_t *p, const char *rundir, const char *conf,
                      char **out)
{
    const char *apache2 = getenv("HMB_APACHE2");
    const char *argv[] = {
        "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
        apache2 ? apache2 : "/usr/sbin/apache2", "-d", rundir, "-f", conf,
        "-t", NULL
    };

    return hmb_it_capture(p, rundir, NULL, argv, apr_time_from_sec(60), out);
}

const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id)
{
    return apr_psprintf(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<request><infno>%s</infno><msgid>%s</msgid>"
        "<mdtrtarea_admvs>360900</mdtrtarea_admvs>"
        "<insuplc_admdvs>360902</insuplc_admdvs>"
        "<recer_sys_code>HIS</recer_sys_code><infver>V1.0</infver>"
        "<opter_type>1</opter_type><opter>0001</opter>"
        "<opter_name>收费员</opter_name>"
        "<inf_time>2024-05-01 10:00:00</inf_time>"
        "<fixmedins_code>H36090200001</fixmedins_code>"
        "<fixmedins_name>宜春市人民医院</fixmedins_name>"
        "<sign_no>S0001</sign_no><input><data>%s%s%s"
        "<psn_no>%s</psn_no></data></input></request>",
        infno, msgid,
        cancel_setl_id ? "<setl_id>" : "",
        cancel_setl_id ? cancel_setl_id : "",
        cancel_setl_id ? "</setl_id>" : "",
        psn_no);
}

const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *s = strstr(xml, open), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = strstr(s, close);
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
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
                                const char *key, const char **value)
{
    hmb_http_response_t *r;
    const char *k = apr_pstrcat(p, "\n", key, ": ", NULL);
    const char *s, *e, *why;
    char *text;

    *value = NULL;
    if ((why = hmb_http_once(p, port, "GET", "/huiminbao-status?auto", NULL,
                             NULL, 0, &r)) != NULL) {
        return why;
    }
    if (r->status != 200) {
        return apr_psprintf(p, "the status page answered %d", r->status);
    }
    text = apr_pstrcat(p, "\n", r->body, NULL);
    if (!(s = strstr(text, k))) {
        return apr_psprintf(p, "no %s in the status page", key);
    }
    s += strlen(k);
    e = strchr(s, '\n');
    *value = e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : s;
    return NULL;
}
