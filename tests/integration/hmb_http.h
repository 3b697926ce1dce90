/* Process, server and answer helpers for the integration tests; the HTTP
 * client they use is tools/hmb_http_client.c.  Loopback only; every read
 * has a timeout and every body a size limit, so a misbehaving server fails
 * a test instead of hanging it.  Functions that return a reason (NULL =
 * success) may run anywhere; those said to fail the test are for the
 * CMocka test that runs them.
 */
#ifndef HMB_HTTP_H
#define HMB_HTTP_H

#include <stdarg.h>

#include "../unit/hmb_test.h"

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

/* hmb_it_free_port for each apr_port_t * given, up to NULL. */
const char *hmb_it_free_ports(apr_pool_t *p, ...);

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
#define HMB_IT_HMBCTL_BIN   HMB_BUILDDIR "/hmbctl"
#define HMB_IT_MODULE_SO    HMB_BUILDDIR "/mod_huiminbao.so"
#define HMB_IT_MAX_ARGS     40
/* httpd's children run as this user when we are root (harness.sh) */
#define HMB_IT_HTTPD_USER   "www-data"

/* The sample upstream on 127.0.0.1:port serving the directory fixtures
 * (NULL when extra names --cases), its pid and log in rundir/NAME.pid and
 * rundir/NAME.log, more arguments from extra (NULL-terminated, or NULL);
 * stopped by hmb_it_stop_servers, or with its parent, or after an hour.
 * Returns once it listens. The hour is only a fail-safe: on a loaded CI
 * machine a test group can take many times its usual time, and an
 * upstream that stops first turns the rest of the run into 503s. */
const char *hmb_it_start_upstream(apr_pool_t *p, const char *rundir,
                                  const char *name, apr_port_t port,
                                  const char *fixtures,
                                  const char *const *extra);

/* The upstream serving dir answers msgid with len bytes of body (the file
 * MSGID.EXT), with the options opts (MSGID.opts) when not NULL. */
const char *hmb_it_answer(apr_pool_t *p, const char *dir, const char *msgid,
                          const char *ext, const char *body, apr_size_t len,
                          const char *opts);

/* harness.sh CMD RUNDIR, and for "start" PORT and EXTRA_CONF too. In a
 * build configured with --enable-sanitizers, apache2 runs with the ASan
 * runtime preloaded (HMB_HTTPD_PRELOAD), and "stop" fails when ASan or
 * UBSan reported anything while it ran. */
const char *hmb_it_harness(apr_pool_t *p, const char *cmd, const char *rundir,
                           apr_port_t port, const char *extra,
                           apr_interval_time_t timeout);

/* harness.sh CMD RUNDIR [ARG] (configtest: ARG the configuration file)
 * with its stdout and stderr in *out, at most a minute, as hmb_it_capture
 * runs it: its exit status. */
int hmb_it_harness_output(apr_pool_t *p, const char *rundir, const char *cmd,
                          const char *arg, char **out);

/* The ledger lines of a server whose ledger is RUNDIR/ledger/ledger.db */
#define HMB_IT_DBD_SQLITE \
    "DBDriver sqlite3\nDBDParams \"${HMB_RUNDIR}/ledger/ledger.db\"\n"

/* The module's part of httpd.conf: mod_huiminbao at info, the plans
 * (NULL-terminated), the spool in the run directory, the ledger lines dbd,
 * /fsi/api proxied to the upstream on up_port with Huiminbao On and the
 * lines in_api, the status page at /huiminbao-status, then the lines more
 * (in_api and more may be NULL). */
const char *hmb_it_module_conf(apr_pool_t *p, const char *const *plans,
                               const char *dbd, apr_port_t up_port,
                               const char *in_api, const char *more);

/* conf written to rundir/NAME, and apache2 started by harness.sh with it
 * on port; stopped by hmb_it_stop_servers. */
const char *hmb_it_start_httpd(apr_pool_t *p, const char *rundir,
                               apr_port_t port, const char *name,
                               const char *conf);

/* harness.sh stop, as hmb_it_harness_output runs it, for the apache2 of
 * hmb_it_start_httpd in rundir: a test's own stop, after which
 * hmb_it_stop_servers leaves it alone. Its exit status. */
int hmb_it_stop_httpd(apr_pool_t *p, const char *rundir, char **out);

/* Write len bytes of buf to path (created or truncated). */
const char *hmb_it_write_file(apr_pool_t *p, const char *path,
                              const char *buf, apr_size_t len);

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

/* --- a test group's life ------------------------------------------------ */

/* The start of a group setup: *pool a new pool, *rundir a new run
 * directory HMB_BUILDDIR/tmp-NAME-XXXXXX, to be left by
 * hmb_it_leave_rundir. 0, or -1 after saying why on stderr (*pool NULL
 * again). */
int hmb_it_group_begin(const char *name, apr_pool_t **pool,
                       const char **rundir);

/* The end of a group setup that met why (NULL: none): 0, or -1 after
 * saying why on stderr and tearing down what was started
 * (teardown(state)). */
int hmb_it_group_end(const char *why, CMFixtureFunction teardown,
                     void **state);

/* Stop what the program started: every apache2 of hmb_it_start_httpd
 * through harness.sh (then its pid file must be gone, since httpd's parent
 * removes it only once the children are), then every process of
 * hmb_it_start_upstream and hmb_it_stop_later. Reasons go to stderr; 1
 * when everything stopped cleanly. */
int hmb_it_stop_servers(void);

/* A CMocka group teardown: hmb_it_stop_servers, then the pool of
 * hmb_it_group_begin destroyed (and set to NULL). 0, or -1 when something
 * would not stop. Called again (CMocka does, after a setup that failed
 * and tore down), it finds nothing to do. */
int hmb_it_group_teardown(void **state);

/* A CMocka test: harness.sh check-log finds no line at level error or
 * worse (nor a sanitizer report) for any apache2 of hmb_it_start_httpd
 * that still runs; there must be one. */
void hmb_it_test_error_logs_clean(void **state);

/* A process for hmb_it_stop_servers to stop (SIGTERM), under name. */
void hmb_it_stop_later(const apr_proc_t *proc, const char *name);

/* A directory of the test program's own (a few at most), left with the
 * run directory by hmb_it_leave_rundir. */
void hmb_it_leave_later(const char *dir);

/* At the end of a test program: its run directories (hmb_it_group_begin,
 * hmb_it_leave_later) kept for inspection when a test or a teardown
 * failed or HMB_KEEP_RUNDIR is set, removed otherwise. */
void hmb_it_leave_rundir(int failed);

/* A test of a group, with a pool of its own in *state */
#define HMB_IT_TEST(fn) \
    cmocka_unit_test_setup_teardown(fn, hmb_test_pool_setup, \
                                    hmb_test_pool_teardown)

/* A test program's body: its n tests run by CMocka as the group name
 * between setup and teardown, with APR initialized and stdout line by
 * line; then its run directories left (hmb_it_leave_rundir). The number
 * of tests that failed. */
int hmb_it_run_group(const char *name, const struct CMUnitTest *tests,
                     size_t n, CMFixtureFunction setup,
                     CMFixtureFunction teardown);

/* hmb_it_run_group of an array of tests */
#define hmb_it_main(name, tests, setup, teardown) \
    hmb_it_run_group((name), (tests), sizeof(tests) / sizeof((tests)[0]), \
                     (setup), (teardown))

/* --- commands ----------------------------------------------------------- */

/* Run argv (at most HMB_IT_MAX_ARGS) with stdout and stderr into a new
 * file DIR/cmd-NNN.out, at most timeout; *out is what it printed. When
 * as_user is given and we are root, through runuser as that user.
 * Returns the exit status, -1 when it could not be run or finish. */
int hmb_it_capture(apr_pool_t *p, const char *dir, const char *as_user,
                   const char *const *argv, apr_interval_time_t timeout,
                   char **out);

/* `hmbctl --ledger LEDGER enroll` from csv under the NULL-terminated plan
 * files, as hmb_it_capture runs it in dir; its output must hold expect.
 * NULL or the reason. */
const char *hmb_it_enroll(apr_pool_t *p, const char *dir, const char *ledger,
                          const char *const *plans, const char *csv,
                          const char *expect);

/* A new SQLite ledger at DIR/ledger/ledger.db (*ledger its spec),
 * enrolled by hmb_it_enroll, then given to user (when we are root) for
 * the server's children to write. NULL or the reason. */
const char *hmb_it_sqlite_ledger(apr_pool_t *p, const char *dir,
                                 const char *const *plans, const char *csv,
                                 const char *expect, const char *user,
                                 const char **ledger);

/* hmbctl --ledger LEDGER with the arguments up to NULL, as hmb_it_capture
 * runs it in dir (as as_user); what it printed. The test fails unless it
 * exits with rc. */
char *hmb_it_hmbctl(apr_pool_t *p, const char *dir, const char *as_user,
                    const char *ledger, int rc, ...);

/* --- messages and answers ----------------------------------------------- */

/* A HIS request envelope (XML) from hospital fixmedins_code, named
 * fixmedins_name, at inf_time, with data in its <input><data>. */
const char *hmb_it_envelope_from(apr_pool_t *p, const char *infno,
                                 const char *msgid,
                                 const char *fixmedins_code,
                                 const char *fixmedins_name,
                                 const char *inf_time, const char *data);

/* A HIS request envelope from hospital H36090200001 on 2024-05-01;
 * cancel_setl_id names the settlement a 2305/2208 cancels (NULL
 * otherwise). */
const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id);

/* Content-Type: text/xml; charset=UTF-8 (a header list) */
extern const char *const hmb_it_xml[];

/* method path on 127.0.0.1:port with headers (or none) and len bytes of
 * body; the answer. The test fails when none comes. */
hmb_http_response_t *hmb_it_request(apr_pool_t *p, apr_port_t port,
                                    const char *method, const char *path,
                                    const char *const *headers,
                                    const char *body, apr_size_t len);

/* hmb_it_request with POST, the headers hmb_it_xml when headers is NULL */
hmb_http_response_t *hmb_it_post(apr_pool_t *p, apr_port_t port,
                                 const char *path, const char *const *headers,
                                 const char *body, apr_size_t len);

/* hmb_it_envelope POSTed as XML to /fsi/api/TAG on 127.0.0.1:port; the
 * answer. The test fails when none comes. */
hmb_http_response_t *hmb_it_settle(apr_pool_t *p, apr_port_t port,
                                   const char *tag, const char *infno,
                                   const char *msgid, const char *psn_no,
                                   const char *cancel_setl_id);

/* hmb_it_request with GET */
hmb_http_response_t *hmb_it_get(apr_pool_t *p, apr_port_t port,
                                const char *path);

/* The <hmbinfo> element of an answer (from <hmbinfo> to </hmbinfo>),
 * which must be there once, as the last child of <output>; the test fails
 * otherwise. */
const char *hmb_it_hmbinfo(apr_pool_t *p, const char *body);

/* got_len bytes of got are want_len bytes of want, or the test fails
 * saying where they part. */
void hmb_it_assert_same_bytes(const char *got, apr_size_t got_len,
                              const char *want, apr_size_t want_len);

/* The text of the first <name> element in xml, NULL when there is none. */
const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name);

/* The first line of text holding needle, and also when it is not NULL. */
const char *hmb_it_line_with(apr_pool_t *p, const char *text,
                             const char *needle, const char *also);

/* One value of /huiminbao-status?auto on 127.0.0.1:port; the test fails
 * when the page does not give it. */
const char *hmb_it_status_value(apr_pool_t *p, apr_port_t port,
                                const char *key);

/* --- what a server left ------------------------------------------------- */

/* RUNDIR/logs/NAME, NUL-terminated (its length in *len when len is not
 * NULL); the test fails when it cannot be read. */
char *hmb_it_log(apr_pool_t *p, const char *rundir, const char *name,
                 apr_size_t *len);

/* The paths of the entries of dir whose names end in suffix (and are
 * longer); the test fails when dir cannot be read. */
apr_array_header_t *hmb_it_files(apr_pool_t *p, const char *dir,
                                 const char *suffix);

/* The pids (long) of the live children of the apache2 running in rundir;
 * the test fails when its pid file names no process. */
apr_array_header_t *hmb_it_httpd_children(apr_pool_t *p, const char *rundir);

#endif
