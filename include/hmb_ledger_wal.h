/* The WAL of an SQLite ledger under group commit: its checkpoints taken
 * out of the writers' way. SQLite's own (every 1000 frames) runs inside
 * the COMMIT that crosses the mark, while the writer lock is held: every
 * settlement of every child waits for the pages to be copied into the
 * database and both files synced. Here a child's group connection
 * checkpoints nothing itself; its leaders copy the WAL into the database
 * after their group is answered, on a connection of their own beside the
 * writers, and only when the WAL has grown long does the next group,
 * under the writer lock, first copy what little is left, so that its
 * first write starts the WAL over. See docs/ledger.md, "Checkpoints". */
#ifndef HMB_LEDGER_WAL_H
#define HMB_LEDGER_WAL_H

/* Frames written since the last checkpoint that make one worth its two
 * syncs, and the WAL's length at which it is started over. */
#define HMB_WAL_STEP 512
#define HMB_WAL_RESTART 4096
/* How long the restart waits for readers still on the WAL (ms), and the
 * length at which the COMMIT checkpoints as SQLite alone would. */
#define HMB_WAL_READERS_WAIT_MS 100
#define HMB_WAL_LIMIT (4 * HMB_WAL_RESTART)

typedef struct hmb_wal_t hmb_wal_t;

/* For the SQLite file at path, whose group connection is db (its native
 * sqlite3 handle): that connection no longer checkpoints on its own.
 * NULL when the checkpoint connection cannot be opened: then nothing is
 * changed and SQLite checkpoints as it always does. Kept for the life of
 * the process. */
hmb_wal_t *hmb_wal_attach(const char *path, void *db);

/* After a group is answered, outside every lock: a checkpoint that does
 * not wait for anyone, when HMB_WAL_STEP frames wait for one and no other
 * thread of the process is at it. */
void hmb_wal_after_commit(hmb_wal_t *w);

/* Before a group begins, with the writer lock: once the WAL holds
 * HMB_WAL_RESTART frames, the rest of it copied, so that the group's
 * first write starts it over (unless a reader keeps its frames longer
 * than HMB_WAL_READERS_WAIT_MS, or a leader copies beside at that moment:
 * then again some frames later). */
void hmb_wal_before_begin(hmb_wal_t *w);

/* The connection given back to SQLite's own checkpoints (tests). */
void hmb_wal_detach(hmb_wal_t *w);

/* What its checkpoints did so far: those taken beside the writers, those
 * taken with the writer lock, and the WAL's frames after the last
 * commit. */
typedef struct {
    unsigned long beside;
    unsigned long locked;
    unsigned long frames;
} hmb_wal_stats_t;
void hmb_wal_stats(hmb_wal_t *w, hmb_wal_stats_t *s);

#endif
