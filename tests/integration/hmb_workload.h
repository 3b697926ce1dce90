/* The settlement workload of the shared-ledger integration tests
 * (test_shared, test_failover): hospitals, each an apache2 with
 * mod_huiminbao, in front of one hmb-sandbox that answers every request
 * from a template, so that each settlement carries the amounts the test
 * chose for it; many client threads settling, repeating and cancelling
 * discharges of a handful of people; and the checks that the ledger then
 * holds what the billing desks were told.
 *
 * One environment per test program (wl); a test keeps its databases in
 * its own state. Functions named wl_* fail the running CMocka test on
 * anything unexpected, unless they return a reason.
 */
#ifndef HMB_WORKLOAD_H
#define HMB_WORKLOAD_H

#include "../unit/hmb_test.h"
#include "hmb_http.h"
#include "hmb_ledger.h"

#include <apr_hash.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

#define FIXDIR        HMB_FIXTURE("shared")
#define PLAN          FIXDIR "/plan.xml"
#define ENROLL        FIXDIR "/enroll.csv"

#define PSN_FMT       "3609990000000000%04d"

/* the plan's caps (plan.xml), in fen */
#define CAP_INSCOPE   2000000
#define CAP_OUTSCOPE  400000
#define CAP_PLAN      2200000

#define THREADS       32
#define MAX_SENDS     8             /* one message: first send + resends */
#define WL_MAX_INST   3

typedef struct {
    const char *rundir;
    apr_port_t port;
    const char *fixmedins_code;
    const char *fixmedins_name;
} inst_t;

typedef enum {
    OUT_NONE = 0,
    OUT_SETTLED,        /* an <hmbinfo> with a result */
    OUT_DEFERRED,       /* an <hmbinfo> saying deferred */
    OUT_UNTOUCHED       /* the upstream's bytes as they were */
} outcome_e;

typedef struct msg msg_t;
struct msg {
    char kind;              /* 'S' settlement, 'D' the same again, 'R' cancel */
    int person;
    int inst;
    const char *msgid;
    const char *setl_id;    /* the settlement's; for 'R' the one cancelled */
    msg_t *orig;            /* 'D', 'R': the settlement */
    msg_t *dup;             /* 'S': its repetition, if any */
    int dup_racing;         /* sent together with the settlement */
    msg_t *cancel;          /* 'S': its cancellation, if any */
    const char *req;
    apr_size_t req_len;
    const char *up;         /* what the upstream answers */
    apr_size_t up_len;
    int sent;
    /* written by the one thread that sends it */
    outcome_e first;        /* the first answer */
    outcome_e outcome;      /* the last answer (after resending) */
    const char *stas;
    const char *hmbinfo;
    const char *why;        /* a wrong answer */
    int cuts;               /* sent again after the connection broke */
    apr_time_t answered;    /* when the first answer came */
};

typedef struct run run_t;

typedef struct {
    const char *label;
    char phase;
    int insts[2];
    int ninst;
    int first_person;
    int npersons;
    int settlements;
    /* while the workers run: faults, a failover... (NULL: nothing) */
    void (*during)(run_t *r);
} run_cfg_t;

typedef struct {
    int sent, settled, deferred, untouched, cut, stale, replayed, lost;
    int dups, cancels, ineligible;
    int recorded;       /* replayed entries the ledger had already */
    int differs;        /* answered otherwise than the ledger holds */
    int twice;          /* counted twice: a setl_id, or in the totals */
} figures_t;

typedef struct {
    run_t *run;
    apr_pool_t *keep;           /* answers, kept until the run is checked */
    apr_pool_t *scratch;
    hmb_http_conn_t *conn[WL_MAX_INST];
    int stale;
    apr_uint32_t rng;           /* the worker's own, for pauses */
} worker_t;

struct run {
    const run_cfg_t *cfg;
    apr_array_header_t *all;    /* msg_t *, every message generated */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    msg_t **q;
    int q_head, q_tail, q_cap;
    int in_flight;
    int pace_ms;                /* mean pause between a worker's messages */
    volatile apr_uint32_t settlements_done;
    worker_t workers[THREADS];
};

typedef struct {
    apr_pool_t *pool;
    const char *top;            /* the run directory */
    const char *msgdir;         /* every message sent, and its answer */
    const char *updir;          /* the upstream's fixtures */
    apr_port_t up_port;
    int ninst;
    inst_t inst[WL_MAX_INST];
    const char *tpl;
    apr_size_t tpl_len;
    apr_hash_t *by_msgid;       /* msgid -> msg_t */
    apr_uint64_t rng;
    int seq;                    /* for ids */
} wl_env_t;

extern wl_env_t wl;

/* The run directory (tag in its name; left by hmb_it_leave_rundir), ninst
 * instances (hospitals; at most WL_MAX_INST), the upstream started; the
 * seed from seed_var, or the clock. hmb_it_group_teardown stops what was
 * started and frees wl.pool. On failure the reason is on stderr,
 * everything is torn down, and the result is not NULL. */
const char *wl_setup(const char *tag, const char *seed_var, int ninst);

/* The number in environment variable name, def when unset, at least min. */
int wl_getenv_int(const char *name, int def, int min);

/* A directory for a PostgreSQL cluster, below the run directory or, when
 * that path is too long for a unix socket, below one in /tmp (left with
 * the run directory). */
const char *wl_pg_dir(const char *name);

/* Instance i's configuration with these DBDriver/DBDParams lines, then
 * started. */
const char *wl_start_httpd(int i, const char *dbd_lines);

/* The workload's people enrolled into the ledger at spec (the plan's). */
const char *wl_hmbctl_enroll(const char *spec);
int wl_rnd_below(int n);

msg_t *wl_make_settlement(apr_pool_t *p, char phase, int person, int inst,
                          const char *psn_no);
msg_t *wl_make_duplicate(apr_pool_t *p, char phase, msg_t *s);
msg_t *wl_make_cancel(apr_pool_t *p, char phase, msg_t *s);

/* A run: settlements of cfg's people at random, some repeated (racing
 * their settlement or after it), some cancelled once paid. */
run_t *wl_run_make(apr_pool_t *p, const run_cfg_t *cfg);
void wl_queue_push(run_t *r, msg_t *m);
/* THREADS workers until every message is answered; cfg->during meanwhile. */
void wl_run_workload(apr_pool_t *p, run_t *r);
int wl_run_finished(run_t *r);
void wl_run_free(run_t *r);

/* Send until an answer comes (a cut connection is sent again, as a HIS
 * would), then judge the answer: outcome, stas, hmbinfo or why. */
void wl_send_msg(worker_t *w, msg_t *m);

/* A finished run's answers counted into f (a wrong answer fails the
 * test), and a line saying how long the run took since t0. */
void wl_run_answers(run_t *r, apr_time_t t0, figures_t *f);

/* Every message of the run answered deferred is in its hospital's spool,
 * and each entry of cfg's instances' spools was logged (HMB00309) once
 * since from[i]; entries[i] gets their number. */
void wl_check_spools(apr_pool_t *p, run_t *r, const apr_off_t *from,
                     int *entries);

/* hmbctl replay of each of cfg's instances' spools into the ledger at
 * spec (into f->replayed and f->recorded); then every server's status
 * page says its spool is empty. */
void wl_replay_spools(apr_pool_t *p, const run_cfg_t *cfg,
                      const int *entries, const char *spec, figures_t *f);

/* Each of cfg's instances: error log since from[i] as in
 * wl_check_errors, no child crashed. */
void wl_check_servers(apr_pool_t *p, const run_cfg_t *cfg,
                      const apr_off_t *from, const char *const *allowed);

/* All rows of a query, every column as a string ("" for NULL). */
apr_array_header_t *wl_rows_of(apr_pool_t *p, hmb_ledger_t *l,
                               const char *sql);

/* The same on a PostgreSQL server of its own (conninfo), without the
 * ledger's schema check (a standby is read-only); a reason on failure,
 * never a test failure: it may run beside the workers. */
const char *wl_server_rows(apr_pool_t *p, const char *conninfo,
                           const char *sql, apr_array_header_t **rows);

/* The ledger at spec against what the messages were answered: each
 * claim recomputed one by one in psn_seq order through hmbctl into a
 * fresh SQLite ledger must come out the same, no cap exceeded, and sets
 * f->lost (sent, never recorded), f->differs (recorded otherwise than
 * the desk was told) and f->twice (a setl_id recorded twice, or totals
 * that are not the claims' sums). */
void wl_check_ledger(const run_cfg_t *cfg, const char *spec,
                     apr_array_header_t *msgs, figures_t *f);

/* Nothing lost, answered otherwise or counted twice (wl_check_ledger). */
void wl_assert_exact(const figures_t *f);

/* Spool entries of a directory as a set of msgids; how many. */
int wl_spool_msgids(apr_pool_t *p, const char *dir, apr_hash_t *ids);

/* Instance i's error log: lines holding needle from byte `from` on, and
 * its size. */
int wl_log_count(apr_pool_t *p, int i, apr_off_t from, const char *needle);
apr_off_t wl_log_size(int i);

/* No error-level line from byte `from` on but those holding one of
 * allowed (NULL-terminated, or NULL). */
void wl_check_errors(apr_pool_t *p, int i, apr_off_t from,
                     const char *const *allowed);

/* No child died but those the test killed (SIGKILL is not logged). */
void wl_check_no_crash(apr_pool_t *p, int i);

#endif
