/* The ledger through apr_dbd: enrollments, immutable claims, year-to-date
 * totals. SQL is portable between SQLite and PostgreSQL; statements are
 * prepared lazily on each connection, so hmbctl and mod_dbd share them. */
#ifndef HMB_LEDGER_H
#define HMB_LEDGER_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_dbd.h>
#include "hmb_money.h"
#include "hmb_plan.h"
#include "hmb_enroll.h"
#include "hmb_engine.h"

#define HMB_LEDGER_SCHEMA_VERSION 7

typedef struct hmb_ledger_conn_t hmb_ledger_conn_t;

typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_pool_t *pool;               /* lives as long as the connection */
    const char *driver_name;        /* "sqlite3", "pgsql" */
    apr_dbd_transaction_t *trans;   /* SQLite: open transaction, or NULL */
    apr_pool_t *trans_pool;         /* where trans was started: apr_dbd
                                     * ends it by that pool's cleanup */
    int trans_failed;               /* a statement in it failed */
    hmb_ledger_conn_t *conn;        /* our state on this connection */
    int err_data;                   /* the last error was bad data, not
                                     * an unavailable database */
    int utc_offset_min;             /* local days of the rollups: minutes
                                     * east of UTC (wrap: +08:00) */
    struct hmb_writer_t *writer_held; /* SQLite: the writer lock this
                                       * transaction holds */
    int pg_open;                    /* PostgreSQL: a transaction is open
                                     * (its statements are pipelined) */
    struct hmb_ledger_group_t *group;   /* SQLite: the group whose
                                     * connection this runs on, for
                                     * hmb_ledger_group_run */
    struct hmb_ledger_found_t *found;   /* a settlement's claims under
                                     * its setl_id, asked for at once
                                     * (hmb_ledger_prefetch_settle) */
} hmb_ledger_t;

/* "sqlite3:/path/ledger.db", "pgsql:host=... dbname=...". Opens, then
 * makes sure the schema is there. */
const char *hmb_ledger_open(apr_pool_t *p, const char *spec,
                            hmb_ledger_t **l);

/* hmb_ledger_open_ex flags: open what is there, creating and migrating
 * nothing (a check must not make a new empty ledger at a wrong path). */
#define HMB_LEDGER_EXISTING 1

const char *hmb_ledger_open_ex(apr_pool_t *p, const char *spec, int flags,
                               hmb_ledger_t **l);

/* An SQLite ledger's files readable by their owner and group only (when
 * this process may say so); nothing for other drivers. */
void hmb_ledger_protect(hmb_ledger_t *l, apr_pool_t *p);

/* httpd's children: what a child records on an SQLite ledger through
 * hmb_ledger_group_run commits in groups on a connection of the child's
 * own (hmb_ledger.c, "group commit"); connections hmb_ledger_open made
 * never do. */
void hmb_ledger_group_commit(int on);

/* fn(arg), whose transactions (hmb_ledger_begin to _commit or _rollback)
 * are then savepoints of the child's group, run on whichever thread
 * holds the group's connection, while this one waits; back once what fn
 * committed is on disk. *ran 0: nothing was run, and fn is the caller's
 * to run on its own (no group here), or, with an error, the group could
 * not begin. *ran 1 with an error: the group's COMMIT or flush failed,
 * or fn left a transaction open, and what fn committed is not in the
 * ledger (nor, maybe, what it read from the group's others). */
const char *hmb_ledger_group_run(hmb_ledger_t *l, apr_pool_t *p,
                                 void (*fn)(void *), void *arg, int *ran);

/* The groups this process ran so far, and the jobs they ran. */
void hmb_ledger_group_counts(apr_uint64_t *groups, apr_uint64_t *jobs);

/* Wrap a connection someone else owns (mod_dbd). Our prepared
 * statements and flags are kept with the connection (in its pool), never
 * in the owner's structures. */
hmb_ledger_t *hmb_ledger_wrap(apr_pool_t *p, const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_pool_t *conn_pool);

/* Create or migrate the schema; idempotent and safe when several
 * processes race. For start-up and hmbctl, never a request. */
const char *hmb_ledger_ensure_schema(hmb_ledger_t *l, apr_pool_t *p);

/* Whether the schema is the one this build writes, read once per
 * connection: what a request may do. A ledger that needs migrating is an
 * error naming `hmbctl migrate`. */
const char *hmb_ledger_check_schema(hmb_ledger_t *l, apr_pool_t *p);

/* After an error from this ledger: 1 when the database was unavailable,
 * busy or refused the work (try again later), 0 when what it held made
 * no sense to this build (a bug or a damaged ledger, never retried). */
int hmb_ledger_error_transient(const hmb_ledger_t *l);

/* All rows in one transaction: all imported or none. Upserts per
 * (plan_code, plan_year, psn_no). */
const char *hmb_ledger_import_enrollments(hmb_ledger_t *l, apr_pool_t *p,
                                          const apr_array_header_t *rows,
                                          int *count);

/* *e is NULL when the person is not enrolled. */
const char *hmb_ledger_get_enrollment(hmb_ledger_t *l, apr_pool_t *p,
                                      const char *plan_code, int plan_year,
                                      const char *psn_no,
                                      hmb_enrollment_t **e);

const char *hmb_ledger_begin(hmb_ledger_t *l, apr_pool_t *p);

/* Ask ahead for what a settlement or a pre-settlement reads next: a
 * person's enrollment in a plan, their totals under it; in a settlement's
 * transaction, once the person's lock is asked for, the claims under
 * setl_id, the totals and the head of the audit chain. On PostgreSQL they
 * go to the server together, in one round trip, and the reads that
 * follow are answered from it (the same statement with the same
 * arguments, whichever was asked first: never ask ahead, before a lock,
 * for what must be read after it). On SQLite, where a read costs no
 * round trip, only the claims are asked for together: the settlement,
 * the reversal and this person's marker under setl_id in one statement,
 * each given once to the first hmb_ledger_find_claim or _find_marker
 * that asks for it in the same transaction. */
const char *hmb_ledger_prefetch_enrollment(hmb_ledger_t *l, apr_pool_t *p,
                                           const char *plan_code,
                                           int plan_year, const char *psn_no);
const char *hmb_ledger_prefetch_totals(hmb_ledger_t *l, apr_pool_t *p,
                                       const char *plan_code, int plan_year,
                                       const char *psn_no);
const char *hmb_ledger_prefetch_settle(hmb_ledger_t *l, apr_pool_t *p,
                                       const char *plan_code, int plan_year,
                                       const char *psn_no,
                                       const char *setl_id);
const char *hmb_ledger_commit(hmb_ledger_t *l, apr_pool_t *p);
void hmb_ledger_rollback(hmb_ledger_t *l, apr_pool_t *p);

/* Serialize settlements of one person in the database (a row lock on
 * PostgreSQL, the write lock on SQLite). Inside a transaction. On
 * PostgreSQL the lock is taken when the statement reaches the server,
 * with the next read or the commit (hmb_ledger_pipe.c): every read after
 * this call sees what the person's earlier settlements committed. */
const char *hmb_ledger_lock_person(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *plan_code, int plan_year,
                                   const char *psn_no);

/* The claim of kind 'S', 'R' or 'C' for setl_id; *c NULL when none. */
const char *hmb_ledger_find_claim(hmb_ledger_t *l, apr_pool_t *p, char kind,
                                  const char *setl_id, hmb_claim_t **c);

/* The marker a cancellation by psn_no left for setl_id (kind 'M'); *c
 * NULL when none. */
const char *hmb_ledger_find_marker(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *setl_id, const char *psn_no,
                                   hmb_claim_t **c);

/* Totals of one person, plan code and year, one row per liability. */
const char *hmb_ledger_totals(hmb_ledger_t *l, apr_pool_t *p,
                              const char *plan_code, int plan_year,
                              const char *psn_no, apr_array_header_t **rows);

/* Totals aligned with plan->liabilities. */
const char *hmb_ledger_read_ytd(hmb_ledger_t *l, apr_pool_t *p,
                                const hmb_plan_t *plan, const char *psn_no,
                                hmb_ytd_t **ytd);

/* Insert the claim with its liability and insurer rows and add its
 * elig_amt/pay_amt to the totals. Inside a transaction. Fails (and the
 * caller rolls back) when the claim exists already. */
const char *hmb_ledger_record_claim(hmb_ledger_t *l, apr_pool_t *p,
                                    const hmb_claim_t *c);

/* setl_ids of settlements decided ineligible between two days
 * (YYYY-MM-DD, inclusive; NULL: open), in the order they were settled. */
const char *hmb_ledger_ineligible(hmb_ledger_t *l, apr_pool_t *p,
                                  const char *from, const char *to,
                                  apr_array_header_t **setl_ids);

/* Claims paid after the desk (origin replay or redecide) and not reversed
 * since: what the insurer owes patients directly. hmb_claim_t rows with
 * their identifiers, origin, decided_by, hmb_pay and created_at. */
const char *hmb_ledger_owed(hmb_ledger_t *l, apr_pool_t *p, const char *from,
                            const char *to, apr_array_header_t **claims);

/* Whether this connection may do what a settlement does (SQLite: take
 * the write lock and write; PostgreSQL: the grants), changing nothing.
 * NULL or the reason. */
const char *hmb_ledger_probe(hmb_ledger_t *l, apr_pool_t *p);

/* For a unit with statements of its own (hmb_ledger_rollup.c): prepare
 * one on this connection, once per label (kept with the connection),
 * run it, or read all its rows (column values, NULL for SQL NULL). A failure
 * spoils the open transaction as the ledger's own statements do. */
const char *hmb_ledger_prepare(hmb_ledger_t *l, apr_pool_t *p,
                               const char *label, const char *sql,
                               apr_dbd_prepared_t **st);
const char *hmb_ledger_run(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                           apr_dbd_prepared_t *st, int *nrows,
                           const char **args);
const char *hmb_ledger_rows(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                            apr_dbd_prepared_t *st, const char **args,
                            apr_array_header_t **rows);

/* The file of an SQLite ledger, NULL for other drivers. */
const char *hmb_ledger_sqlite_path(hmb_ledger_t *l, apr_pool_t *p);

#endif
