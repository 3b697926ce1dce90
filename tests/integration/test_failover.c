/* Integration: the shared ledger outlives its database server.
 *
 * A PostgreSQL primary and a hot standby it streams to synchronously
 * (pg.sh start, pg.sh standby: the primary's synchronous_standby_names
 * names the standby and synchronous_commit is on, so a COMMIT returns only
 * once the standby has it), two apache2 instances with mod_huiminbao (two
 * hospitals, each its own spool) whose DBDParams name both servers in one
 * libpq multi-host string with target_session_attrs=read-write, and the
 * workload of test_shared: many client threads settling, repeating and
 * cancelling discharges of a handful of people.
 *
 * In the middle of it, at the worst moment for it (COMMITs durable on the
 * standby whose answers the primary has not sent yet: see kill_primary),
 * the primary and all its processes are killed with SIGKILL and, a moment
 * later, the standby is promoted, as a failover manager would do. Nobody
 * touches httpd: the module must find the new primary by itself. What it deferred meanwhile is replayed with hmbctl
 * through the same multi-host string, and then the ledger must hold
 * exactly what the billing desks were told: every answer that carried a
 * result is the claim in the ledger, every deferred message settled once,
 * nothing lost, nothing paid twice, and each claim what a one-by-one
 * recomputation gives.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "hmb_workload.h"

#include <apr_atomic.h>

enum { I_H0, I_H1, NINST };
enum { PRIMARY, STANDBY, NPG };

/* paced so that the workload lasts about this long */
#define RUN_SECONDS        16
/* the primary dies once this share of the settlements is answered */
#define KILL_AT_PERCENT    35
/* how long COMMITs wait for the paused standby before the kill */
#define RECEIVER_PAUSE_MS  1000
/* how long the failover manager takes to promote the standby */
#define PROMOTE_AFTER_MS   2000
/* an answer this soon after the primary was gone may still be of a
 * commit before it (on its way through httpd) */
#define KILL_MARGIN_MS     500

static struct {
    const char *pgdir[NPG];
    apr_port_t pg_port[NPG];
    int pg_started[NPG];
    const char *conninfo;       /* both servers, libpq multi-host */
    const char *spec;           /* the same for hmbctl */
    int settlements;
    int frozen;                 /* the primary's client backends frozen */
    int waiting;                /* ... of them waiting for the standby */
    apr_time_t t_kill;          /* pg.sh kill started */
    apr_time_t t_dead;          /* ... and returned: the primary is gone */
    apr_time_t t_promoting;     /* pg.sh promote started */
    apr_time_t t_promote;       /* ... and returned: the standby writes */
    const char *why;            /* the failover itself went wrong */
} env;

static figures_t final;
static int finished;

/* The final line: what the desks were told, and what the ledger holds. */
static void print_final(const figures_t *f)
{
    printf("failover: sent %d, settled %d, deferred %d, replayed %d "
           "(%d already in the ledger), untouched %d, cut %d, lost %d, "
           "answered otherwise %d, paid twice %d\n", f->sent, f->settled,
           f->deferred, f->replayed, f->recorded, f->untouched, f->cut,
           f->lost, f->differs, f->twice);
    fflush(stdout);
}

static const char *pg(int which, const char *cmd)
{
    return hmb_it_pg(wl.pool, cmd, env.pgdir[which], env.pg_port[which],
                     which == STANDBY ? env.pgdir[PRIMARY] : NULL);
}

/* --- setup and teardown ---------------------------------------------------- */

static int group_teardown(void **state)
{
    const char *why;
    int ok = hmb_it_stop_servers(), k;

    for (k = 0; k < NPG; k++) {
        /* the killed primary has nothing left to stop: pg.sh says so */
        if (env.pg_started[k] && (why = pg(k, "stop"))) {
            fprintf(stderr, "teardown: pg.sh stop %s: %s\n", env.pgdir[k],
                    why);
            ok = 0;
        }
        if (env.pg_started[k] && !pg(k, "status")) {
            fprintf(stderr, "teardown: PostgreSQL still running in %s\n",
                    env.pgdir[k]);
            ok = 0;
        }
    }
    memset(&env, 0, sizeof(env));
    return hmb_it_group_teardown(state) || !ok ? -1 : 0;
}

static int group_setup(void **state)
{
    const char *why = NULL, *dbd;
    apr_pool_t *p;
    int i, k;

    (void)state;
    if (wl_setup("failover", "HMB_FAILOVER_SEED", NINST)) {
        return -1;
    }
    p = wl.pool;
    env.settlements = wl_getenv_int("HMB_FAILOVER_SETTLEMENTS", 400, 100);
    for (k = 0; !why && k < NPG; k++) {
        env.pgdir[k] = wl_pg_dir(k == PRIMARY ? "pg-primary" : "pg-standby");
        why = env.pgdir[k] ? hmb_it_free_port(p, &env.pg_port[k])
                           : "cannot create /tmp/hmb-pg-XXXXXX";
    }
    if (!why) {
        /* what docs/ledger.md recommends, on one machine: the first
         * server that accepts writes, each tried for at most 2 s */
        env.conninfo = apr_psprintf(p, "host=127.0.0.1,127.0.0.1 "
                                    "port=%d,%d dbname=hmb user=hmb "
                                    "target_session_attrs=read-write "
                                    "connect_timeout=2 keepalives_idle=10 "
                                    "keepalives_interval=3 "
                                    "keepalives_count=3 "
                                    "tcp_user_timeout=10000 "
                                    "options='-c lock_timeout=10s'",
                                    (int)env.pg_port[PRIMARY],
                                    (int)env.pg_port[STANDBY]);
        env.spec = apr_pstrcat(p, "pgsql:", env.conninfo, NULL);
        why = pg(PRIMARY, "start");
        env.pg_started[PRIMARY] = !why;
    }
    if (!why) {
        why = pg(STANDBY, "standby");
        env.pg_started[STANDBY] = !why;
    }
    /* the schema and the people, on the primary and so on the standby,
     * before httpd starts */
    if (!why) {
        why = wl_hmbctl_enroll(env.spec);
    }
    dbd = apr_psprintf(p, "DBDriver pgsql\nDBDParams \"%s\"\n",
                       env.conninfo);
    for (i = 0; !why && i < NINST; i++) {
        why = wl_start_httpd(i, dbd);
    }
    return hmb_it_group_end(why, group_teardown, state);
}

/* --- the failover ------------------------------------------------------------ */

static const char *server(apr_pool_t *p, int which)
{
    return apr_psprintf(p, "host=127.0.0.1 port=%d dbname=hmb user=hmb "
                        "connect_timeout=5", (int)env.pg_port[which]);
}

/* Signal each pid in the first column of rows. */
static const char *signal_pids(apr_pool_t *p, apr_array_header_t *rows,
                               int sig)
{
    int i;

    for (i = 0; i < rows->nelts; i++) {
        pid_t pid = (pid_t)atol(APR_ARRAY_IDX(rows, i, const char **)[0]);

        /* a backend that has just ended is no matter */
        if (pid <= 0 || (kill(pid, sig) && errno != ESRCH)) {
            return apr_psprintf(p, "cannot signal %ld", (long)pid);
        }
    }
    return NULL;
}

/* The worst moment to lose the primary: claims that are on the standby
 * while the hospitals have not heard back. The standby's WAL receiver is
 * paused, so that COMMITs wait for it (synchronous_commit on); the
 * primary's client backends are frozen with their answers unsent; the
 * receiver goes on and the standby catches up with all the primary wrote;
 * then the primary and all its processes are killed. A COMMIT that was
 * waiting is now durable on the standby and was answered nothing. */
static const char *kill_primary(apr_pool_t *p)
{
    apr_array_header_t *receiver, *clients, *lsn = NULL, *done;
    const char *why, *killed;
    int i;

    why = wl_server_rows(p, server(p, STANDBY), "SELECT pid FROM "
                         "pg_stat_wal_receiver", &receiver);
    if (!why && receiver->nelts != 1) {
        why = "the standby has no WAL receiver";
    }
    if (why || (why = signal_pids(p, receiver, SIGSTOP))) {
        return why;
    }
    apr_sleep(apr_time_from_msec(RECEIVER_PAUSE_MS));
    why = wl_server_rows(p, server(p, PRIMARY), "SELECT pid, wait_event"
                         " FROM pg_stat_activity WHERE backend_type ="
                         " 'client backend' AND pid <> pg_backend_pid()",
                         &clients);
    if (!why) {
        for (i = 0; i < clients->nelts; i++) {
            env.waiting += !strcmp(APR_ARRAY_IDX(clients, i,
                                                 const char **)[1],
                                   "SyncRep");
        }
        env.frozen = clients->nelts;
        why = signal_pids(p, clients, SIGSTOP);
    }
    if (!why) {
        why = wl_server_rows(p, server(p, PRIMARY), "SELECT "
                             "pg_current_wal_flush_lsn()", &lsn);
    }
    if (!signal_pids(p, receiver, SIGCONT) && !why) {
        for (i = 0; i < 100; i++) {
            why = wl_server_rows(p, server(p, STANDBY), apr_psprintf(p,
                                 "SELECT pg_last_wal_receive_lsn() >= '%s'",
                                 APR_ARRAY_IDX(lsn, 0, const char **)[0]),
                                 &done);
            if (why
                || !strcmp(APR_ARRAY_IDX(done, 0, const char **)[0], "t")) {
                break;
            }
            apr_sleep(apr_time_from_msec(100));
        }
        if (!why && i == 100) {
            why = "the standby did not catch up in 10 s";
        }
    }
    /* whatever went wrong, frozen backends must not outlive the test */
    env.t_kill = apr_time_now();
    killed = pg(PRIMARY, "kill");
    env.t_dead = apr_time_now();
    if (!why && killed) {
        why = apr_pstrcat(p, "pg.sh kill: ", killed, NULL);
    }
    return why;
}

/* While the workers run: once KILL_AT_PERCENT of the settlements are
 * answered, kill the primary, wait PROMOTE_AFTER_MS, promote the
 * standby. Runs beside the workers, so it records what went wrong instead
 * of failing the test (after the workers are done, the test fails). */
static void failover(run_t *r)
{
    const run_cfg_t *cfg = r->cfg;
    apr_time_t t0 = apr_time_now();
    apr_time_t deadline = t0 + apr_time_from_sec(120);
    apr_pool_t *p;
    int pct = 0;
    const char *why;

    while (!wl_run_finished(r) && apr_time_now() < deadline) {
        pct = (int)apr_atomic_read32(&r->settlements_done) * 100
              / cfg->settlements;
        if (pct >= KILL_AT_PERCENT) {
            break;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    if (pct < KILL_AT_PERCENT) {
        env.why = "the run ended before the primary was killed; raise "
                  "HMB_FAILOVER_SETTLEMENTS";
        return;
    }
    printf("failover: %.1f s, %d%% of the settlements answered: pause the "
           "standby's WAL receiver, freeze the primary's clients, let the "
           "standby catch up, SIGKILL the primary (127.0.0.1:%d)\n",
           (double)(apr_time_now() - t0) / APR_USEC_PER_SEC, pct,
           (int)env.pg_port[PRIMARY]);
    apr_pool_create(&p, wl.pool);
    if ((why = kill_primary(p)) != NULL) {
        env.why = apr_pstrdup(wl.pool, why);
        apr_pool_destroy(p);
        return;
    }
    apr_pool_destroy(p);
    printf("failover: %d client backends frozen, %d of them waiting for "
           "the standby to confirm a COMMIT\n", env.frozen, env.waiting);
    apr_sleep(apr_time_from_msec(PROMOTE_AFTER_MS));
    pct = (int)apr_atomic_read32(&r->settlements_done) * 100
          / cfg->settlements;
    printf("failover: %.1f s, %d%% of the settlements answered: promote "
           "the standby (127.0.0.1:%d)\n",
           (double)(apr_time_now() - t0) / APR_USEC_PER_SEC, pct,
           (int)env.pg_port[STANDBY]);
    env.t_promoting = apr_time_now();
    if ((why = pg(STANDBY, "promote")) != NULL) {
        env.why = apr_pstrcat(wl.pool, "pg.sh promote: ", why, NULL);
        return;
    }
    env.t_promote = apr_time_now();
    if (wl_run_finished(r)) {
        env.why = "the run ended before the standby was promoted; raise "
                  "HMB_FAILOVER_SETTLEMENTS";
    }
}

/* Claims the old primary committed, and the standby had, for messages
 * whose hospital was answered deferred: the COMMITs that were waiting
 * when the primary died. Nothing is written between the kill and the
 * promotion, so created_at (UTC, in seconds) tells them from the claims
 * written afterwards. */
static int committed_unheard(apr_pool_t *p, run_t *r)
{
    hmb_ledger_t *l;
    apr_array_header_t *rows;
    apr_hash_t *before = apr_hash_make(p);
    apr_time_exp_t t;
    int i, n = 0;

    apr_time_exp_gmt(&t, env.t_promoting);
    assert_no_error(hmb_ledger_open(p, env.spec, &l));
    rows = wl_rows_of(p, l, apr_psprintf(p, "SELECT msgid FROM hmb_claim"
                                         " WHERE created_at <"
                                         " '%04d-%02d-%02dT%02d:%02d:%02dZ'",
                                         t.tm_year + 1900, t.tm_mon + 1,
                                         t.tm_mday, t.tm_hour, t.tm_min,
                                         t.tm_sec));
    for (i = 0; i < rows->nelts; i++) {
        apr_hash_set(before, APR_ARRAY_IDX(rows, i, const char **)[0],
                     APR_HASH_KEY_STRING, "");
    }
    for (i = 0; i < r->all->nelts; i++) {
        const msg_t *m = APR_ARRAY_IDX(r->all, i, const msg_t *);

        if (m->sent && m->first == OUT_DEFERRED
            && apr_hash_get(before, m->msgid, APR_HASH_KEY_STRING)) {
            n++;
        }
    }
    return n;
}

/* The new primary is the promoted standby, and accepts writes. */
static void check_new_primary(apr_pool_t *p)
{
    hmb_ledger_t *l;
    apr_array_header_t *rows;
    const char **v;

    assert_no_error(hmb_ledger_open(p, env.spec, &l));
    rows = wl_rows_of(p, l, "SELECT inet_server_port(), pg_is_in_recovery(),"
                      " current_setting('synchronous_standby_names')");
    assert_int_equal(rows->nelts, 1);
    v = APR_ARRAY_IDX(rows, 0, const char **);
    assert_int_equal(atoi(v[0]), (int)env.pg_port[STANDBY]);
    assert_string_equal(v[1], "f");
    /* promoted without a standby of its own: it must not wait for one */
    assert_string_equal(v[2], "");
}

static void test_failover(void **state)
{
    /* mod_dbd failing to reach a server: the dead primary, or the standby
     * before it accepts writes */
    static const char *const allowed[] = { "[dbd:error] ", NULL };
    apr_pool_t *p = *state;
    run_cfg_t cfg = {
        .label = "failover", .phase = 'F', .insts = { I_H0, I_H1 },
        .ninst = 2, .first_person = 0, .npersons = 12,
        .settlements = env.settlements, .during = failover
    };
    run_t *r;
    figures_t f;
    apr_off_t from[NINST];
    int entries[NINST], settled_after[NINST], i, k;
    int deferred_after = 0, settled_dead = 0, unheard;
    apr_time_t t0, last_deferred = 0;

    memset(&f, 0, sizeof(f));
    for (k = 0; k < NINST; k++) {
        from[k] = wl_log_size(k);
        settled_after[k] = 0;
    }
    r = wl_run_make(p, &cfg);
    r->pace_ms = THREADS * RUN_SECONDS * 1000 / r->all->nelts;
    t0 = apr_time_now();
    wl_run_workload(p, r);
    if (env.why) {
        fail_msg("%s", env.why);
    }
    wl_run_answers(r, t0, &f);
    printf("failover: the primary was killed at %.1f-%.1f s, the standby "
           "promoted at %.1f-%.1f s\n",
           (double)(env.t_kill - t0) / APR_USEC_PER_SEC,
           (double)(env.t_dead - t0) / APR_USEC_PER_SEC,
           (double)(env.t_promoting - t0) / APR_USEC_PER_SEC,
           (double)(env.t_promote - t0) / APR_USEC_PER_SEC);

    /* How the answers fell around the failover. While no server accepted
     * writes nothing can have been settled; after the promotion each
     * hospital settles again without anyone touching httpd. */
    for (i = 0; i < r->all->nelts; i++) {
        const msg_t *m = APR_ARRAY_IDX(r->all, i, const msg_t *);

        if (!m->sent) {
            continue;
        }
        if (m->first == OUT_SETTLED
            && m->answered > env.t_dead + apr_time_from_msec(KILL_MARGIN_MS)
            && m->answered < env.t_promoting) {
            fprintf(stderr, "failover: %s was answered %s while no server "
                    "accepted writes\n", m->msgid, m->stas);
            settled_dead++;
        }
        if (m->answered > env.t_promote) {
            settled_after[m->inst] += m->first == OUT_SETTLED;
            if (m->first == OUT_DEFERRED) {
                deferred_after++;
                if (m->answered > last_deferred) {
                    last_deferred = m->answered;
                }
            }
        }
    }
    printf("failover: after the promotion %d answers deferred (the last "
           "%.1f s after it); settled after it: %d and %d\n",
           deferred_after, last_deferred ? (double)(last_deferred
           - env.t_promote) / APR_USEC_PER_SEC : 0.0, settled_after[I_H0],
           settled_after[I_H1]);
    assert_int_equal(settled_dead, 0);
    assert_true(settled_after[I_H0] > 0 && settled_after[I_H1] > 0);
    /* the failover showed, and no answer went out without <hmbinfo>:
     * the spools were writable throughout */
    assert_true(f.deferred > 0);
    assert_int_equal(f.untouched, 0);

    /* every deferred answer's message is in its hospital's spool, logged
     * once; hmbctl replay, through the same multi-host string, settles
     * each exactly once, on the new primary */
    wl_check_spools(p, r, from, entries);
    wl_replay_spools(p, &cfg, entries, env.spec, &f);
    assert_true(f.replayed >= f.deferred);
    check_new_primary(p);
    unheard = committed_unheard(p, r);
    printf("failover: %d claims were committed on the old primary and the "
           "standby while their hospital was answered deferred; the replay "
           "found them recorded (%d spool entries already in the ledger)\n",
           unheard, f.recorded);
    /* the waiting COMMITs showed as such, and none was paid again */
    assert_true(unheard > 0 || env.waiting == 0);
    assert_true(f.recorded >= unheard);

    wl_check_ledger(&cfg, env.spec, r->all, &f);
    wl_check_servers(p, &cfg, from, allowed);
    final = f;
    finished = 1;
    print_final(&f);
    wl_run_free(r);
    wl_assert_exact(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_failover),
    };
    int failed;

    failed = hmb_it_main("integration: failover to a synchronous standby",
                         tests, group_setup, group_teardown);
    if (finished) {
        print_final(&final);
    }
    return failed ? 1 : 0;
}
