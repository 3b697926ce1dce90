/* A small blocking HTTP/1.1 client and process helpers for the integration
 * tests.  Loopback only; every read has a timeout and every body a size
 * limit, so a misbehaving server fails a test instead of hanging it.
 * Errors are returned as reasons (NULL = success).
 */
#ifndef HMB_HTTP_H
#define HMB_HTTP_H

#include <stdarg.h>

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_network_io.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#define HMB_HTTP_DEFAULT_TIMEOUT  apr_time_from_sec(10)
#define HMB_HTTP_DEFAULT_MAX_BODY (64 * 1024 * 1024)

typedef struct hmb_http_conn hmb_http_conn_t;

typedef struct {
    int status;
    int minor;                  /* HTTP/1.minor of the status line */
    const char *reason;
    apr_table_t *headers;       /* apr_table_get is case-insensitive */
    char *body;                 /* body_len bytes, then a NUL */
    apr_size_t body_len;
    int chunked;                /* the body came with chunked coding */
    int until_close;            /* the body was delimited by close */
    int keep_alive;             /* the connection stays usable */
} hmb_http_response_t;

/* A connection to host:port, opened lazily by the first request.  Lives in
 * p; close it with hmb_http_close (also done by p's cleanup).  Opening a
 * connection sets SIGPIPE to ignored if it was at its default, so that a
 * server closing a connection shows as an error, not a dead test. */
hmb_http_conn_t *hmb_http_conn_make(apr_pool_t *p, const char *host,
                                    apr_port_t port);
void hmb_http_set_timeout(hmb_http_conn_t *c, apr_interval_time_t timeout);
void hmb_http_set_max_body(hmb_http_conn_t *c, apr_size_t max_body);

/* Off by default: when a reused keep-alive connection turns out closed
 * before any byte of the answer, send the request once more on a new
 * connection.  Only for requests that are safe to repeat. */
void hmb_http_set_retry_stale(hmb_http_conn_t *c, int retry);
int hmb_http_retries(const hmb_http_conn_t *c);

/* Send one request and read its response (1xx interim answers skipped).
 * headers: NULL or a NULL-terminated list of "Name: value" lines.  Host and
 * Content-Length are added unless given; with "Transfer-Encoding: chunked"
 * among headers the body is sent in uneven chunks.  The connection is
 * reopened if the previous response closed it; it is closed after a
 * response that does not keep it alive, and after any error.  The response
 * lives in rp. */
const char *hmb_http_request(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, const char *path,
                             const char *const *headers,
                             const char *body, apr_size_t body_len,
                             hmb_http_response_t **resp);

/* Open now (to hold many connections at once) / close now. */
const char *hmb_http_open(hmb_http_conn_t *c);
void hmb_http_close(hmb_http_conn_t *c);

/* TCP connections opened so far, and the local port of the current one:
 * keep-alive reuse shows as connects == 1 over several requests. */
int hmb_http_connects(const hmb_http_conn_t *c);
apr_port_t hmb_http_local_port(const hmb_http_conn_t *c);

/* Split sending and reading, to keep several requests in flight. */
const char *hmb_http_send(hmb_http_conn_t *c, apr_pool_t *rp,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len);
const char *hmb_http_receive(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, hmb_http_response_t **resp);

/* One request on a fresh connection to 127.0.0.1:port, then closed. */
const char *hmb_http_once(apr_pool_t *rp, apr_port_t port,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len,
                          hmb_http_response_t **resp);

const char *hmb_http_header(const hmb_http_response_t *r, const char *name);

/* Decode a gzip (or zlib) body, at most max bytes of output. */
const char *hmb_http_gunzip(apr_pool_t *p, const char *in, apr_size_t len,
                            apr_size_t max, char **out, apr_size_t *out_len);

/* --- processes and ports for integration tests ------------------------- */

/* A loopback port: HMB_TEST_PORT_BASE, +1, +2... when that is set,
 * otherwise one the kernel hands out for 127.0.0.1:0. */
const char *hmb_it_free_port(apr_pool_t *p, apr_port_t *port);

/* Wait until 127.0.0.1:port accepts a connection. */
const char *hmb_it_wait_port(apr_port_t port, apr_interval_time_t timeout);

/* Start argv[0] (a path) with argv; stdout/stderr inherited. */
const char *hmb_it_spawn(apr_pool_t *p, const char *const *argv,
                         apr_proc_t *proc);

/* Wait for a started process, at most timeout; then SIGKILL it.  *exit_code
 * gets its exit status (or 128 + signal). */
const char *hmb_it_wait(apr_proc_t *proc, apr_interval_time_t timeout,
                        int *exit_code);

/* SIGTERM, wait up to grace, then SIGKILL: the process is gone after. */
const char *hmb_it_stop(apr_proc_t *proc, apr_interval_time_t grace);

/* Spawn and wait (at most timeout); NULL only when it exited 0. */
const char *hmb_it_run(apr_pool_t *p, const char *const *argv,
                       apr_interval_time_t timeout);

#define HMB_IT_UPSTREAM_BIN HMB_BUILDDIR "/tests/integration/hmb_upstream"
#define HMB_IT_HARNESS      HMB_SRCDIR "/tests/integration/harness.sh"

/* The sample upstream on 127.0.0.1:port serving fixtures, with its pid and
 * log files where given, more arguments from extra (NULL-terminated, or
 * NULL); it exits with its parent, or after max_seconds. Returns once it
 * listens. */
const char *hmb_it_start_upstream(apr_pool_t *p, apr_port_t port,
                                  const char *fixtures, const char *pidfile,
                                  const char *logfile, int max_seconds,
                                  const char *const *extra, apr_proc_t *proc);

/* harness.sh CMD RUNDIR, and for "start" PORT and EXTRA_CONF too. In a
 * build configured with --enable-sanitizers, apache2 runs with the ASan
 * runtime preloaded (HMB_HTTPD_PRELOAD), and "stop" fails when ASan or
 * UBSan reported anything while it ran. */
const char *hmb_it_harness(apr_pool_t *p, const char *cmd, const char *rundir,
                           apr_port_t port, const char *extra,
                           apr_interval_time_t timeout);

/* Write len bytes of buf to path (created or truncated). */
const char *hmb_it_write_file(apr_pool_t *p, const char *path,
                              const char *buf, apr_size_t len);

/* Run argv (argv[0] a path) with its stdout into out_path, at most a
 * minute; NULL only when it exited 0. */
const char *hmb_it_run_to_file(apr_pool_t *p, const char *const *argv,
                               const char *out_path);

/* The last occurrence of needle in len bytes of hay, or NULL. */
const char *hmb_it_memmem_last(const char *hay, apr_size_t len,
                               const char *needle);

/* Text of the first <name>...</name> in len bytes of buf, or NULL. */
const char *hmb_it_element(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *name);

#define HMB_IT_PGSH HMB_SRCDIR "/tests/integration/pg.sh"

/* pg.sh CMD DIR, with PORT for "start" and "standby", and PRIMARY_DIR for
 * "standby" (see pg.sh for the commands). */
const char *hmb_it_pg(apr_pool_t *p, const char *cmd, const char *dir,
                      apr_port_t port, const char *primary_dir);

/* Stop what a test group started: httpd through harness.sh (when
 * httpd_started), then each of the n processes that still runs; then
 * httpd's pid file must be gone, since its parent removes it only once the
 * children are. Reasons go to stderr; 1 when everything stopped cleanly. */
int hmb_it_teardown(apr_pool_t *p, const char *rundir, int httpd_started,
                    apr_proc_t *const *procs, const char *const *names,
                    int n);

/* --- what the integration tests of the module share --------------------- */

#define HMB_IT_HMBCTL_BIN   HMB_BUILDDIR "/hmbctl"
#define HMB_IT_MAX_ARGS     40

/* At the end of a test program: its run directory (none when "") kept
 * for inspection when a test failed or HMB_KEEP_RUNDIR is set, removed
 * otherwise. */
void hmb_it_leave_rundir(const char *rundir, int failed);

/* A CMocka group teardown for one apache2 in rundir and the helper
 * processes procs (named names): hmb_it_teardown, rundir kept in left
 * (left_size bytes) for hmb_it_leave_rundir, *pool destroyed and set to
 * NULL. Returns 0, or -1 when something would not stop; 0 at once when
 * *pool is NULL (a failed setup tore down already, CMocka calls again). */
int hmb_it_group_teardown(apr_pool_t **pool, const char *rundir,
                          int httpd_started, apr_proc_t *const *procs,
                          const char *const *names, int n, char *left,
                          apr_size_t left_size);

/* Run argv (at most HMB_IT_MAX_ARGS) with stdout and stderr into a new
 * file DIR/cmd-NNN.out, at most timeout; *out is what it printed. When
 * as_user is given and we are root, through runuser as that user.
 * Returns the exit status, -1 when it could not be run or finish. */
int hmb_it_capture(apr_pool_t *p, const char *dir, const char *as_user,
                   const char *const *argv, apr_interval_time_t timeout,
                   char **out);

/* hmbctl --ledger LEDGER with the arguments in ap up to NULL, as
 * hmb_it_capture runs it. */
int hmb_it_hmbctl_v(apr_pool_t *p, const char *dir, const char *as_user,
                    const char *ledger, char **out, va_list ap);

/* apache2 -t (HMB_APACHE2, default /usr/sbin/apache2) for configuration
 * file conf with server root rundir, in a clean environment (harness.sh
 * configtest, which preloads the sanitizer runtime as for "start"). */
int hmb_it_configtest(apr_pool_t *p, const char *rundir, const char *conf,
                      char **out);

/* A HIS request envelope from hospital H36090200001; cancel_setl_id
 * names the settlement a 2305/2208 cancels (NULL otherwise). */
const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id);

/* The text of the first <name> element in xml, NULL when there is none. */
const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name);

/* The first line of text holding needle, and also when it is not NULL. */
const char *hmb_it_line_with(apr_pool_t *p, const char *text,
                             const char *needle, const char *also);

/* One value of /huiminbao-status?auto on 127.0.0.1:port. */
const char *hmb_it_status_value(apr_pool_t *p, apr_port_t port,
                                const char *key, const char **value);

#endif
