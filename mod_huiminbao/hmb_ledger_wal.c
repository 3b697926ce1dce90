/* The WAL of an SQLite ledger under group commit (hmb_ledger_wal.h).
 *
 * The checkpoints go through SQLite's own API on a connection of ours,
 * not through apr_dbd: its sqlite3 driver holds one process-wide mutex
 * around every statement, so a checkpoint taken through it would stop
 * every settlement of the child while the pages are copied. */
#include <pthread.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <apr_atomic.h>

#include "hmb_ledger_wal.h"

struct hmb_wal_t {
    sqlite3 *db;                    /* the group connection */
    sqlite3 *ck;                    /* for checkpoints only */
    pthread_mutex_t mu;             /* one checkpoint at a time */
    volatile apr_uint32_t frames;   /* the WAL's, after the last commit */
    volatile apr_uint32_t copied;   /* of those, in the database */
    volatile apr_uint32_t retry_at; /* a restart tried: again only at this
                                     * many frames, unless it happened */
    volatile apr_uint32_t beside;
    volatile apr_uint32_t locked;
};

/* Called by SQLite in the group connection's COMMIT, instead of its own
 * checkpoint: the length is all it takes from there. */
static int wal_hook(void *data, sqlite3 *db, const char *name, int frames)
{
    hmb_wal_t *w = data;

    /* the WAL started over: nothing of it is copied yet */
    if ((apr_uint32_t)frames < apr_atomic_read32(&w->frames)) {
        apr_atomic_set32(&w->copied, 0);
        apr_atomic_set32(&w->retry_at, 0);
    }
    apr_atomic_set32(&w->frames, (apr_uint32_t)frames);
    /* our checkpoints failing, or kept from restarting the WAL: SQLite's
     * own, in this COMMIT, as without us, rather than a WAL without end */
    if (frames >= HMB_WAL_LIMIT) {
        sqlite3_wal_checkpoint(db, name);
        apr_atomic_inc32(&w->locked);
    }
    return SQLITE_OK;
}

hmb_wal_t *hmb_wal_attach(const char *path, void *db)
{
    hmb_wal_t *w;

    if (!db || (w = calloc(1, sizeof(*w))) == NULL) {
        return NULL;
    }
    /* a connection checkpoints only a WAL it has read through */
    if (sqlite3_open_v2(path, &w->ck, SQLITE_OPEN_READWRITE
                        | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK
        || sqlite3_exec(w->ck, "SELECT count(*) FROM sqlite_master", NULL,
                        NULL, NULL) != SQLITE_OK) {
        sqlite3_close(w->ck);
        free(w);
        return NULL;
    }
    /* a restart waits for the readers still on the WAL, with the writer
     * lock held: not for long */
    sqlite3_busy_timeout(w->ck, HMB_WAL_READERS_WAIT_MS);
    pthread_mutex_init(&w->mu, NULL);
    w->db = db;
    sqlite3_wal_hook(db, wal_hook, w);
    return w;
}

void hmb_wal_detach(hmb_wal_t *w)
{
    if (w) {
        sqlite3_wal_hook(w->db, NULL, NULL);
        sqlite3_close(w->ck);
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

/* Copy what the WAL holds into the database: as far as no reader still
 * needs it (passive), or all of it once those readers are done, so that
 * the next writer starts the WAL over (restart). */
static void wal_copy(hmb_wal_t *w, int mode)
{
    int log = 0, done = 0;

    if (sqlite3_wal_checkpoint_v2(w->ck, NULL, mode, &log, &done)
        == SQLITE_OK && done > 0) {
        apr_atomic_set32(&w->copied, (apr_uint32_t)done);
    }
}

void hmb_wal_after_commit(hmb_wal_t *w)
{
    if (!w || apr_atomic_read32(&w->frames)
              < apr_atomic_read32(&w->copied) + HMB_WAL_STEP) {
        return;
    }
    /* another thread copies: what it leaves waits for the next group */
    if (pthread_mutex_trylock(&w->mu) != 0) {
        return;
    }
    wal_copy(w, SQLITE_CHECKPOINT_PASSIVE);
    apr_atomic_inc32(&w->beside);
    pthread_mutex_unlock(&w->mu);
}

void hmb_wal_before_begin(hmb_wal_t *w)
{
    apr_uint32_t frames;

    if (!w || (frames = apr_atomic_read32(&w->frames)) < HMB_WAL_RESTART
        || frames < apr_atomic_read32(&w->retry_at)) {
        return;
    }
    /* a leader of this process copying beside: not worth the writers'
     * wait, the next group tries */
    if (pthread_mutex_trylock(&w->mu) != 0) {
        return;
    }
    /* a reader that keeps the frames longer than its wait stops the
     * restart: if so, the groups go on writing and try again later */
    apr_atomic_set32(&w->retry_at, frames + HMB_WAL_STEP);
    wal_copy(w, SQLITE_CHECKPOINT_RESTART);
    apr_atomic_inc32(&w->locked);
    pthread_mutex_unlock(&w->mu);
}

void hmb_wal_stats(hmb_wal_t *w, hmb_wal_stats_t *s)
{
    s->beside = apr_atomic_read32(&w->beside);
    s->locked = apr_atomic_read32(&w->locked);
    s->frames = apr_atomic_read32(&w->frames);
}
