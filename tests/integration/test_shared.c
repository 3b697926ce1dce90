/* Integration: one ledger shared by several servers.
 *
 * A throwaway PostgreSQL (pg.sh), two apache2 instances with mod_huiminbao
 * (two hospitals, each its own spool, both with DBDriver pgsql on the same
 * database), a third instance on SQLite, and hmb-sandbox answering every
 * request from a template, so that each settlement carries the amounts the
 * test chose for it.
 *
 * Many client threads settle, resend and cancel discharges of a handful of
 * people at once, across both hospitals; the plan's deductibles and caps
 * are small, so that every amount depends on the order in which a person's
 * claims were decided. Afterwards the ledger must be what a single clerk
 * would have produced: each person's claims are replayed one by one, in the
 * order the ledger recorded (psn_seq), through `hmbctl settle` into a fresh
 * SQLite ledger, and every claim, amount and total must come out the same.
 * Then the same with faults: PostgreSQL stopped and started again, httpd
 * children killed, the spool unwritable while the ledger is down. Every
 * answer must still be right or `deferred` (spooled) or the upstream's own
 * bytes (error logged), and after `hmbctl replay` and resending, nothing
 * may be missing or counted twice.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "hmb_workload.h"

#include <apr_atomic.h>
#include <apr_thread_proc.h>

#define LEDGER_V1     FIXDIR "/ledger-v1.sql"
#define V1_PSN        "36090000000000000001"   /* in ledger-v1.sql */

enum { I_PG0, I_PG1, I_SQLITE, NINST };

static struct {
    const char *pgdir;
    apr_port_t pg_port;
    int pg_started;
    const char *pg_conninfo;
    const char *pg_spec;
    const char *sqlite_spec;
    int enrolled;
    int scale;                  /* settlements per concurrency run */
} env;

/* --- processes ------------------------------------------------------------ */

static const char *pg(const char *cmd)
{
    return hmb_it_pg(wl.pool, cmd, env.pgdir, env.pg_port, NULL);
}

/* --- setup and teardown ---------------------------------------------------- */

static int group_teardown(void **state)
{
    const char *why;
    int ok = hmb_it_stop_servers();

    if (env.pg_started && (why = pg("stop"))) {
        fprintf(stderr, "teardown: pg.sh stop: %s\n", why);
        ok = 0;
    }
    if (env.pgdir) {
        struct stat st;
        if (stat(apr_pstrcat(wl.pool, env.pgdir, "/data/postmaster.pid",
                             NULL), &st) == 0) {
            fprintf(stderr, "teardown: PostgreSQL still running in %s\n",
                    env.pgdir);
            ok = 0;
        }
    }
    memset(&env, 0, sizeof(env));
    return hmb_it_group_teardown(state) || !ok ? -1 : 0;
}

/* PostgreSQL holding a ledger as schema version 1 left it: the first
 * httpd connections must migrate it (test_pg_migrated_by_httpd). */
static const char *load_v1_ledger(void)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = NULL;
    const char *err = NULL;
    char *text, *line, *stmt = NULL, *save = NULL;
    apr_size_t len;
    apr_file_t *f;

    if (apr_file_open(&f, LEDGER_V1, APR_FOPEN_READ, 0, wl.pool)
        != APR_SUCCESS) {
        return "cannot read " LEDGER_V1;
    }
    text = apr_palloc(wl.pool, 1 << 16);
    len = (1 << 16) - 1;
    apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    text[len] = '\0';
    if (apr_dbd_init(wl.pool) != APR_SUCCESS
        || apr_dbd_get_driver(wl.pool, "pgsql", &drv) != APR_SUCCESS
        || apr_dbd_open_ex(drv, wl.pool, env.pg_conninfo, &h, &err)
           != APR_SUCCESS) {
        return apr_psprintf(wl.pool, "cannot open %s: %s", env.pg_conninfo,
                            err ? err : "?");
    }
    for (line = apr_strtok(text, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        apr_size_t n = strlen(line);
        if (!n || !strncmp(line, "--", 2)) {
            continue;
        }
        stmt = stmt ? apr_pstrcat(wl.pool, stmt, " ", line, NULL) : line;
        if (line[n - 1] == ';') {
            int rows, rv = apr_dbd_query(drv, h, &rows, stmt);
            if (rv) {
                err = apr_psprintf(wl.pool, "%s: %s", stmt,
                                   apr_dbd_error(drv, h, rv));
                break;
            }
            stmt = NULL;
            err = NULL;
        }
    }
    apr_dbd_close(drv, h);
    return err;
}

static int group_setup(void **state)
{
    static const char *const plans[] = { PLAN, NULL };
    const char *why, *pg_dbd = NULL;
    apr_pool_t *p;
    int i;

    (void)state;
    if (wl_setup("shared", "HMB_SHARED_SEED", NINST)) {
        return -1;
    }
    p = wl.pool;
    env.scale = wl_getenv_int("HMB_SHARED_SETTLEMENTS", 2000, 100);
    env.pgdir = wl_pg_dir("pg");
    why = env.pgdir ? NULL : "cannot create /tmp/hmb-pg-XXXXXX";
    if (!why) {
        why = hmb_it_free_port(p, &env.pg_port);
    }
    if (!why) {
        env.pg_conninfo = apr_psprintf(p, "host=127.0.0.1 port=%d "
                                       "dbname=hmb user=hmb",
                                       (int)env.pg_port);
        env.pg_spec = apr_pstrcat(p, "pgsql:", env.pg_conninfo, NULL);
        pg_dbd = apr_psprintf(p, "DBDriver pgsql\n"
                              "DBDParams \"%s connect_timeout=5\"\n",
                              env.pg_conninfo);
        why = pg("start");
        env.pg_started = !why;
    }
    if (!why) {
        why = load_v1_ledger();
    }
    /* the SQLite ledger exists, with its people, before httpd starts; as
     * root its children (www-data) must own it */
    if (!why) {
        why = hmb_it_sqlite_ledger(p, wl.inst[I_SQLITE].rundir, plans,
                                   ENROLL, "imported 24 ", HMB_IT_HTTPD_USER,
                                   &env.sqlite_spec);
    }
    for (i = 0; !why && i < NINST; i++) {
        why = wl_start_httpd(i, i == I_SQLITE ? HMB_IT_DBD_SQLITE : pg_dbd);
    }
    return hmb_it_group_end(why, group_teardown, state);
}

/* --- faults ------------------------------------------------------------------ */

/* The inode of the server side of a loopback TCP connection from
 * client_port to server_port, from /proc/net/tcp; 0 when not found. */
static unsigned long conn_inode(apr_pool_t *p, apr_port_t server_port,
                                apr_port_t client_port)
{
    char *text = NULL;
    char *line, *save = NULL;
    char want_local[32], want_remote[32];

    /* procfs files have no size: read to the end */
    {
        apr_file_t *f;
        apr_size_t cap = 1 << 16, len = 0, n;

        assert_int_equal(apr_file_open(&f, "/proc/net/tcp", APR_FOPEN_READ,
                                       0, p), APR_SUCCESS);
        text = apr_palloc(p, cap);
        for (;;) {
            n = cap - 1 - len;
            if (n == 0) {
                char *more = apr_palloc(p, cap * 2);
                memcpy(more, text, len);
                text = more;
                cap *= 2;
                continue;
            }
            if (apr_file_read(f, text + len, &n) != APR_SUCCESS || !n) {
                break;
            }
            len += n;
        }
        apr_file_close(f);
        text[len] = '\0';
    }
    apr_snprintf(want_local, sizeof(want_local), "0100007F:%04X",
                 (unsigned)server_port);
    apr_snprintf(want_remote, sizeof(want_remote), "0100007F:%04X",
                 (unsigned)client_port);
    for (line = apr_strtok(text, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        char local[64], remote[64];
        unsigned long inode;

        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu",
                   local, remote, &inode) == 3
            && !strcmp(local, want_local) && !strcmp(remote, want_remote)) {
            return inode;
        }
    }
    return 0;
}

/* The httpd child of instance i holding socket `inode`, or 0. */
static long child_with_socket(apr_pool_t *p, int i, unsigned long inode)
{
    apr_array_header_t *kids = hmb_it_httpd_children(p, wl.inst[i].rundir);
    char want[64];
    int k;

    apr_snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (k = 0; k < kids->nelts; k++) {
        long pid = APR_ARRAY_IDX(kids, k, long);
        const char *dir = apr_psprintf(p, "/proc/%ld/fd", pid);
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d)) != NULL) {
            char link[128];
            ssize_t n = readlink(apr_pstrcat(p, dir, "/", e->d_name, NULL),
                                 link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = '\0';
                if (!strcmp(link, want)) {
                    closedir(d);
                    return pid;
                }
            }
        }
        if (d) {
            closedir(d);
        }
    }
    return 0;
}

/* SIGKILL the child of instance i that is serving a settlement right
 * now: the test sends one whose upstream answer takes 3 s, finds the
 * child holding that connection, kills it, sees the connection cut and
 * sends the message again, as a HIS would. The message joins the run. */
static void kill_busy_child(run_t *r, int i)
{
    const run_cfg_t *cfg = r->cfg;
    int person = cfg->first_person + wl_rnd_below(cfg->npersons);
    msg_t *m = wl_make_settlement(wl.pool, cfg->phase, person, i,
                                  apr_psprintf(wl.pool, PSN_FMT, person));
    apr_pool_t *p;
    hmb_http_conn_t *c;
    hmb_http_response_t *resp;
    worker_t w;
    unsigned long inode = 0;
    long pid = 0;
    int tries;

    apr_pool_create(&p, wl.pool);
    assert_no_error(hmb_it_answer(p, wl.updir, m->msgid, "xml", m->up,
                                  m->up_len, "delay-ms 3000\n"));
    m->sent = 1;
    APR_ARRAY_PUSH(r->all, msg_t *) = m;

    c = hmb_http_conn_make(p, "127.0.0.1", wl.inst[i].port);
    assert_no_error(hmb_http_send(c, p, "POST", "/fsi/api/2304",
                                  hmb_it_xml, m->req, m->req_len));
    for (tries = 0; tries < 50 && !pid; tries++) {
        apr_sleep(apr_time_from_msec(20));
        inode = conn_inode(p, wl.inst[i].port, hmb_http_local_port(c));
        pid = inode ? child_with_socket(p, i, inode) : 0;
    }
    if (!pid) {
        fail_msg("no child of %s holds the connection from port %d",
                 wl.inst[i].fixmedins_code, (int)hmb_http_local_port(c));
    }
    /* let it get as far as the upstream */
    apr_sleep(apr_time_from_msec(300));
    printf("faults: SIGKILL httpd child %ld of %s, busy with %s\n", pid,
           wl.inst[i].fixmedins_code, m->msgid);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    if (!hmb_http_receive(c, p, "POST", &resp)) {
        fail_msg("%s was answered although its child was killed",
                 m->msgid);
    }
    m->cuts++;
    hmb_http_close(c);

    memset(&w, 0, sizeof(w));
    w.keep = wl.pool;
    apr_pool_create(&w.scratch, p);
    w.conn[i] = hmb_http_conn_make(p, "127.0.0.1", wl.inst[i].port);
    wl_send_msg(&w, m);
    m->first = m->outcome;
    if (m->why) {
        fail_msg("%s", m->why);
    }
    apr_pool_destroy(p);
}

static void spool_writable(const run_cfg_t *cfg, int writable)
{
    int k;

    for (k = 0; k < cfg->ninst; k++) {
        const char *dir = apr_pstrcat(wl.pool,
                                      wl.inst[cfg->insts[k]].rundir,
                                      "/spool", NULL);
        assert_int_equal(chmod(dir, writable ? 0770 : 0500), 0);
    }
    printf("faults: spool %s\n", writable ? "writable again" : "unwritable");
}

/* While the workers run (paced to last about FAULT_RUN_SECONDS): one
 * fault after the other, each a fixed time after the previous one ended,
 * all while work is still going on. */
#define FAULT_RUN_SECONDS 24

static void inject_faults(run_t *r)
{
    const run_cfg_t *cfg = r->cfg;
    static const struct {
        int ms;
        const char *what;
    } plan[] = {
        { 2000, "kill" }, { 1500, "pg stop" }, { 1500, "spool off" },
        { 1500, "spool on" }, { 1500, "pg start" }, { 2000, "kill" }
    };
    int step = 0, nsteps = (int)(sizeof(plan) / sizeof(plan[0]));
    apr_time_t t0 = apr_time_now(), last = t0;
    apr_time_t deadline = t0 + apr_time_from_sec(300);

    while (step < nsteps) {
        int pct = (int)apr_atomic_read32(&r->settlements_done) * 100
                  / cfg->settlements;

        if (wl_run_finished(r) || apr_time_now() > deadline) {
            break;
        }
        if (apr_time_now() - last < apr_time_from_msec(plan[step].ms)) {
            apr_sleep(apr_time_from_msec(10));
            continue;
        }
        printf("faults: %.1f s, %d%% of the settlements answered: %s\n",
               (double)(apr_time_now() - t0) / APR_USEC_PER_SEC, pct,
               plan[step].what);
        switch (step) {
        case 0:
            kill_busy_child(r, cfg->insts[0]);
            break;
        case 1:
            assert_no_error(pg("stop"));
            break;
        case 2:
            spool_writable(cfg, 0);
            break;
        case 3:
            spool_writable(cfg, 1);
            break;
        case 4:
            assert_no_error(pg("start"));
            break;
        default:
            kill_busy_child(r, cfg->insts[cfg->ninst - 1]);
            break;
        }
        last = apr_time_now();
        step++;
    }
    /* a run over too soon still leaves things as they were */
    if (step == 3) {
        spool_writable(cfg, 1);
    }
    if (step >= 2 && step <= 4) {
        assert_no_error(pg("start"));
    }
    if (step < nsteps) {
        fail_msg("the run ended before the faults were over (step %d); "
                 "raise HMB_SHARED_SETTLEMENTS", step);
    }
}

static void ensure_enrolled(void)
{
    if (!env.enrolled) {
        assert_no_error(wl_hmbctl_enroll(env.pg_spec));
        env.enrolled = 1;
    }
}

static figures_t all_runs;
static int runs_done;

static void print_figures(const char *label, const figures_t *f)
{
    all_runs.sent += f->sent;
    all_runs.settled += f->settled;
    all_runs.deferred += f->deferred;
    all_runs.replayed += f->replayed;
    all_runs.untouched += f->untouched;
    all_runs.cut += f->cut;
    all_runs.lost += f->lost;
    runs_done++;
    printf("shared ledger (%s): sent %d, settled %d, deferred %d, "
           "replayed %d, untouched %d (resent), cut %d (resent), lost %d\n",
           label, f->sent, f->settled, f->deferred, f->replayed,
           f->untouched, f->cut, f->lost);
    printf("  (of the sent: %d repetitions of a settlement, %d "
           "cancellations, %d ineligible; %d idle keep-alive connections "
           "met)\n", f->dups, f->cancels, f->ineligible, f->stale);
    fflush(stdout);
}

/* A clean run: every answer a result, never deferred nor untouched. */
static void concurrency_run(apr_pool_t *p, const run_cfg_t *cfg,
                            const char *spec)
{
    run_t *r = wl_run_make(p, cfg);
    figures_t f;
    apr_off_t from[NINST];
    apr_time_t t0;
    int k;

    memset(&f, 0, sizeof(f));
    for (k = 0; k < NINST; k++) {
        from[k] = wl_log_size(k);
    }
    t0 = apr_time_now();
    wl_run_workload(p, r);
    wl_run_answers(r, t0, &f);
    assert_true(f.sent - f.dups - f.cancels >= cfg->settlements);
    assert_int_equal(f.deferred, 0);
    assert_int_equal(f.untouched, 0);
    assert_true(f.dups > 0 && f.cancels > 0);

    wl_check_ledger(cfg, spec, r->all, &f);
    wl_check_servers(p, cfg, from, NULL);
    print_figures(cfg->label, &f);
    wl_run_free(r);
    wl_assert_exact(&f);
}

/* --- tests --------------------------------------------------------------------- */

/* The ledger was left at schema version 1 (with claims of two people);
 * the first connections of both servers meet it at once and migrate it,
 * and nothing is deferred on the way. */
static void test_pg_migrated_by_httpd(void **state)
{
    enum { N = 8 };
    apr_pool_t *p = *state;
    run_cfg_t cfg;
    run_t *r;
    hmb_ledger_t *l;
    apr_array_header_t *rows;
    hmb_http_response_t *resp;
    msg_t *m;
    int i;

    /* the test's own template rendering agrees with hmb-sandbox's */
    m = wl_make_settlement(wl.pool, 'M', 0, I_PG0, V1_PSN);
    resp = hmb_it_post(p, wl.up_port, "/fsi/api", NULL, m->req, m->req_len);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->body_len, m->up_len);
    assert_memory_equal(resp->body, m->up, m->up_len);

    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "migration";
    cfg.phase = 'M';
    cfg.settlements = N;
    r = apr_pcalloc(p, sizeof(*r));
    r->cfg = &cfg;
    r->all = apr_array_make(p, N, sizeof(msg_t *));
    r->q_cap = N;
    r->q = apr_pcalloc(p, sizeof(msg_t *) * N);
    for (i = 0; i < N; i++) {
        m = wl_make_settlement(wl.pool, 'M', 0, i % 2 ? I_PG1 : I_PG0,
                               V1_PSN);
        APR_ARRAY_PUSH(r->all, msg_t *) = m;
        wl_queue_push(r, m);
    }
    apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, p);
    apr_thread_cond_create(&r->cond, p);
    wl_run_workload(p, r);
    for (i = 0; i < N; i++) {
        m = APR_ARRAY_IDX(r->all, i, msg_t *);
        if (m->why) {
            fail_msg("%s", m->why);
        }
        if (m->outcome != OUT_SETTLED) {
            fail_msg("%s: answered %s while the ledger was migrated",
                     m->msgid, m->stas ? m->stas : "untouched");
        }
    }

    assert_no_error(hmb_ledger_open(p, env.pg_spec, &l));
    rows = wl_rows_of(p, l, "SELECT value FROM hmb_meta"
                      " WHERE name = 'schema_version'");
    assert_int_equal(rows->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, const char **)[0],
                        apr_itoa(p, HMB_LEDGER_SCHEMA_VERSION));
    /* the 3 claims of version 1 kept their order, the new ones follow */
    rows = wl_rows_of(p, l, "SELECT psn_seq, hmb_setl_id FROM hmb_claim"
                      " WHERE psn_no = '" V1_PSN "' ORDER BY psn_seq");
    assert_int_equal(rows->nelts, 3 + N);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, const char **)[1],
                        "HMB-S0001");
    assert_string_equal(APR_ARRAY_IDX(rows, 2, const char **)[1],
                        "HMBR-S0001");
    for (i = 0; i < rows->nelts; i++) {
        assert_int_equal(atoi(APR_ARRAY_IDX(rows, i, const char **)[0]),
                         i + 1);
    }
    wl_run_free(r);
    for (i = 0; i < 2; i++) {
        wl_check_errors(p, i, 0, NULL);
        wl_check_no_crash(p, i);
    }
    ensure_enrolled();
}

typedef struct {
    apr_port_t port;
    const msg_t *m;
    const char *body;
    apr_size_t len;
    apr_time_t answered;
    char why[256];
} probe_t;

static void *APR_THREAD_FUNC probe_main(apr_thread_t *t, void *data)
{
    probe_t *pr = data;
    apr_pool_t *p;
    hmb_http_response_t *r;
    const char *why;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    why = hmb_http_once(p, pr->port, "POST", "/fsi/api/2304",
                        hmb_it_xml, pr->m->req, pr->m->req_len, &r);
    pr->answered = apr_time_now();
    if (why) {
        apr_cpystrn(pr->why, why, sizeof(pr->why));
    }
    else if (r->status != 200 || !memmem(r->body, r->body_len,
                                         "<hmb_stas>paid</hmb_stas>", 25)) {
        apr_snprintf(pr->why, sizeof(pr->why), "status %d, not paid: %.300s",
                     r->status, r->body);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Settlements of one person wait for each other in the database, not in
 * httpd: with the person's row lock held by another connection (the
 * test's), a settlement of that person through either server waits
 * until it is released, while another person's goes through. */
static void test_pg_lock_serializes(void **state)
{
    apr_pool_t *p = *state;
    hmb_ledger_t *l;
    probe_t locked, other;
    apr_array_header_t *totals;
    apr_thread_t *t1, *t2;
    apr_status_t rv;
    apr_time_t released, started;
    const char *psn0 = apr_psprintf(p, PSN_FMT, 0);
    msg_t *m;
    int i;

    ensure_enrolled();
    memset(&locked, 0, sizeof(locked));
    memset(&other, 0, sizeof(other));
    /* covered discharges with something to pay */
    do {
        m = wl_make_settlement(wl.pool, 'L', 0, I_PG1, psn0);
    } while (strstr(m->req, "<med_type>11<") || strstr(m->req,
                                                       "_stas>2<"));
    m->sent = 1;
    locked.m = m;
    locked.port = wl.inst[I_PG1].port;
    do {
        m = wl_make_settlement(wl.pool, 'L', 1, I_PG0,
                               apr_psprintf(wl.pool, PSN_FMT, 1));
    } while (strstr(m->req, "<med_type>11<") || strstr(m->req,
                                                       "_stas>2<"));
    m->sent = 1;
    other.m = m;
    other.port = wl.inst[I_PG0].port;

    assert_no_error(hmb_ledger_open(p, env.pg_spec, &l));
    assert_no_error(hmb_ledger_begin(l, p));
    assert_no_error(hmb_ledger_lock_person(l, p, "YCHMB", 2024, psn0));
    /* the lock goes to the server with the next read (docs/ledger.md,
     * "Round trips"), as in a settlement */
    assert_no_error(hmb_ledger_totals(l, p, "YCHMB", 2024, psn0, &totals));

    started = apr_time_now();
    assert_int_equal(apr_thread_create(&t1, NULL, probe_main, &locked, p),
                     APR_SUCCESS);
    assert_int_equal(apr_thread_create(&t2, NULL, probe_main, &other, p),
                     APR_SUCCESS);
    apr_thread_join(&rv, t2);
    assert_string_equal(other.why, "");
    /* give the locked one ample time: it must still be waiting */
    for (i = 0; i < 15 && !locked.answered; i++) {
        apr_sleep(apr_time_from_msec(100));
    }
    assert_true(locked.answered == 0);
    released = apr_time_now();
    assert_no_error(hmb_ledger_commit(l, p));
    apr_thread_join(&rv, t1);
    assert_string_equal(locked.why, "");
    assert_true(locked.answered >= released);
    printf("lock: the other person's settlement took %.0f ms; the locked "
           "person's was answered %.0f ms after the lock was released\n",
           (double)(other.answered - started) / 1000.0,
           (double)(locked.answered - released) / 1000.0);
}

static void test_pg_concurrency(void **state)
{
    run_cfg_t cfg;

    ensure_enrolled();
    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "pgsql, 2 servers";
    cfg.phase = 'A';
    cfg.insts[0] = I_PG0;
    cfg.insts[1] = I_PG1;
    cfg.ninst = 2;
    cfg.first_person = 0;
    cfg.npersons = 12;
    cfg.settlements = env.scale;
    concurrency_run(*state, &cfg, env.pg_spec);
}

static void test_sqlite_concurrency(void **state)
{
    run_cfg_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "sqlite, 1 server";
    cfg.phase = 'Q';
    cfg.insts[0] = I_SQLITE;
    cfg.ninst = 1;
    cfg.first_person = 0;
    cfg.npersons = 12;
    cfg.settlements = env.scale;
    concurrency_run(*state, &cfg, env.sqlite_spec);
}

/* With the faults: the spool failures we caused, and mod_dbd failing to
 * reach the database we stopped. */
static const char *const faults_allowed[] = {
    "HMB00308: ", "[dbd:error] ", "AH00636: child init failed", NULL
};

/* The same workload on PostgreSQL with faults in the middle of it. */
static void test_pg_faults(void **state)
{
    apr_pool_t *p = *state;
    run_cfg_t cfg;
    run_t *r;
    figures_t f;
    apr_off_t from[NINST];
    int entries[NINST], i, k, resent = 0, n308 = 0;
    apr_time_t t0;
    hmb_http_conn_t *c[NINST];

    ensure_enrolled();
    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "pgsql, 2 servers, faults";
    cfg.phase = 'B';
    cfg.insts[0] = I_PG0;
    cfg.insts[1] = I_PG1;
    cfg.ninst = 2;
    cfg.first_person = 12;
    cfg.npersons = 12;
    cfg.settlements = env.scale * 3 / 4;
    cfg.during = inject_faults;
    memset(&f, 0, sizeof(f));
    for (k = 0; k < NINST; k++) {
        from[k] = wl_log_size(k);
    }
    r = wl_run_make(p, &cfg);
    r->pace_ms = THREADS * FAULT_RUN_SECONDS * 1000 / r->all->nelts;
    t0 = apr_time_now();
    wl_run_workload(p, r);
    wl_run_answers(r, t0, &f);
    /* the faults showed: some answers were deferred, some untouched, some
     * connections cut */
    assert_true(f.deferred > 0);
    assert_true(f.untouched > 0);
    assert_true(f.cut >= 2);

    /* every deferred answer's message is in a spool, and each spool entry
     * and each untouched answer was logged once */
    wl_check_spools(p, r, from, entries);
    for (k = 0; k < cfg.ninst; k++) {
        n308 += wl_log_count(p, cfg.insts[k], from[cfg.insts[k]],
                             "HMB00308: ");
    }
    /* one logged failure per untouched answer, or more (an answer that
     * was then cut off and sent again) */
    assert_true(n308 >= f.untouched);

    /* the fault is over: what went through untouched is sent again */
    for (k = 0; k < NINST; k++) {
        c[k] = hmb_http_conn_make(p, "127.0.0.1", wl.inst[k].port);
    }
    for (i = 0; i < r->all->nelts; i++) {
        msg_t *m = APR_ARRAY_IDX(r->all, i, msg_t *);
        worker_t w;

        if (!m->sent || m->first != OUT_UNTOUCHED) {
            continue;
        }
        memset(&w, 0, sizeof(w));
        w.keep = p;
        apr_pool_create(&w.scratch, p);
        w.conn[m->inst] = c[m->inst];
        wl_send_msg(&w, m);
        if (m->why) {
            fail_msg("%s", m->why);
        }
        if (m->outcome != OUT_SETTLED) {
            fail_msg("%s sent again after the faults: %s", m->msgid,
                     m->outcome == OUT_DEFERRED ? "deferred" : "untouched");
        }
        resent++;
    }
    assert_int_equal(resent, f.untouched);

    /* hmbctl replay settles each spooled message exactly once, and the
     * servers see their spools empty */
    wl_replay_spools(p, &cfg, entries, env.pg_spec, &f);
    assert_true(f.replayed >= f.deferred);

    wl_check_ledger(&cfg, env.pg_spec, r->all, &f);
    wl_check_servers(p, &cfg, from, faults_allowed);
    print_figures(cfg.label, &f);
    wl_run_free(r);
    wl_assert_exact(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_pg_migrated_by_httpd),
        HMB_IT_TEST(test_pg_lock_serializes),
        HMB_IT_TEST(test_pg_concurrency),
        HMB_IT_TEST(test_pg_faults),
        HMB_IT_TEST(test_sqlite_concurrency),
    };
    int failed;

    if (getenv("HMB_SHARED_FILTER")) {
        /* e.g. "test_sqlite*" to run one case while working on it */
        cmocka_set_test_filter(getenv("HMB_SHARED_FILTER"));
    }
    failed = hmb_it_main("integration: shared ledger", tests, group_setup,
                         group_teardown);
    if (runs_done) {
        printf("shared ledger: sent %d, settled %d, deferred %d, replayed %d, "
               "untouched %d (resent), cut %d (resent), lost %d\n",
               all_runs.sent, all_runs.settled, all_runs.deferred,
               all_runs.replayed, all_runs.untouched, all_runs.cut,
               all_runs.lost);
    }
    return failed ? 1 : 0;
}
