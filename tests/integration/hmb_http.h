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

#include "hmb_http_client.h"

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

#define HMB_IT_UPSTREAM_BIN HMB_BUILDDIR "/hmb-sandbox"
#define HMB_IT_HARNESS      HMB_SRCDIR "/tests/integration/harness.sh"

/* The sample upstream on 127.0.0.1:port serving fixtures, with its pid and
 * log files where given, more arguments from extra (NULL-terminated, or
 * NULL); it exits with its parent, or after max_seconds. Returns once it
 * listens. max_seconds is only a fail-safe: on a loaded CI machine a test
 * group can take many times its usual time, and an upstream that stops
 * first turns the rest of the run into 503s (3600 at every caller). */
const char *hmb_it_start_upstream(apr_pool_t *p, apr_port_t port,
                                  const char *fixtures, const char *pidfile,
                                  const char *logfile, int max_seconds,
                                  const char *const *extra, apr_proc_t *proc);

/* harness.sh CMD RUNDIR, and for "start" PORT and EXTRA_CONF too. */
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

/* A new run directory HMB_BUILDDIR/tmp-NAME-XXXXXX in p, or NULL after
 * saying why on stderr. */
char *hmb_it_make_rundir(apr_pool_t *p, const char *name);

/* At the end of a test program: its run directory (none when "") kept
 * for inspection when a test failed or HMB_KEEP_RUNDIR is set, removed
 * otherwise. */
void hmb_it_leave_rundir(const char *rundir, int failed);

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
 * file conf with server root rundir, in a clean environment. */
int hmb_it_configtest(apr_pool_t *p, const char *rundir, const char *conf,
                      char **out);

/* A HIS request envelope from hospital H36090200001; cancel_setl_id
 * names the settlement a 2305/2208 cancels (NULL otherwise). */
const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id);

/* The text of the first <name> element in xml, NULL when there is none. */
const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name);

/* In a CMocka test: needle is in text, or the test fails saying so. */
#define assert_has(text, needle) \
    do { \
        const char *t_ = (text), *n_ = (needle); \
        if (!t_ || !strstr(t_, n_)) { \
            fail_msg("'%s' not in: %s", n_, t_ ? t_ : "(null)"); \
        } \
    } while (0)

/* The first line of text holding needle, and also when it is not NULL. */
const char *hmb_it_line_with(apr_pool_t *p, const char *text,
                             const char *needle, const char *also);

/* One value of /huiminbao-status?auto on 127.0.0.1:port. */
const char *hmb_it_status_value(apr_pool_t *p, apr_port_t port,
                                const char *key, const char **value);

#endif
