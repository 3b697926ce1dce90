/* For the ledger's own units only (hmb_ledger_*.c): statements of their
 * own on the ledger's connection, prepared lazily and kept with the
 * connection like hmb_ledger.c's, and the ledger's conventions. Not for
 * the module or hmbctl, which go through hmb_ledger.h. */
#ifndef HMB_LEDGER_INT_H
#define HMB_LEDGER_INT_H

#include <apr_time.h>
#include "hmb_ledger.h"

/* A statement with parameters (%s, as apr_dbd_prepare takes them), kept
 * prepared on the connection under its text's address: pass a constant
 * string. nrows may be NULL. */
const char *hmb_ledger_sql_exec(hmb_ledger_t *l, apr_pool_t *p,
                                const char *what, const char *sql,
                                const char **args, int *nrows);

/* Rows as arrays of column values (NULL for SQL NULL), read to the end. */
const char *hmb_ledger_sql_query(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *what, const char *sql,
                                 const char **args,
                                 apr_array_header_t **rows);

/* One statement without parameters, not kept. */
const char *hmb_ledger_sql_run(hmb_ledger_t *l, apr_pool_t *p,
                               const char *what, const char *sql,
                               int *nrows);

int hmb_ledger_is_sqlite(const hmb_ledger_t *l);

/* A driver's error after a call that failed outside these helpers (a
 * native one): the transaction is spoilt, as with theirs. */
const char *hmb_ledger_failed(hmb_ledger_t *l, apr_pool_t *p,
                              const char *what, const char *why);

/* A column's integer; what makes no sense is bad data (never retried). */
const char *hmb_ledger_i64(hmb_ledger_t *l, apr_pool_t *p,
                           const char *table, const char *col,
                           const char *s, apr_int64_t *out);

/* A claim's liability row i (from 0) and co-insurer row i as the ledger
 * writes them, seq first, then the columns in their order: one encoding
 * for the rows and for the audit trail's hash of them. */
#define HMB_LEDGER_LIAB_VALUES 9
#define HMB_LEDGER_INS_VALUES 4
void hmb_ledger_liab_values(apr_pool_t *p, const hmb_claim_liab_t *r,
                            int i, const char **v);
void hmb_ledger_ins_values(apr_pool_t *p, const hmb_insurer_result_t *r,
                           int i, const char **v);

/* What the ledger writes for a money amount and for "now" (UTC). */
const char *hmb_ledger_fen_str(apr_pool_t *p, hmb_fen_t v);
const char *hmb_ledger_now(apr_pool_t *p);
/* A time as the ledger writes it: UTC, "YYYY-MM-DDTHH:MM:SSZ", which
 * sorts as text. */
const char *hmb_ledger_stamp(apr_pool_t *p, apr_time_t when);

/* Whether a transaction is open on the ledger. */
int hmb_ledger_in_trans(const hmb_ledger_t *l);

/* Send what waits on the ledger (PostgreSQL, see hmb_ledger_pipe.c)
 * before using the connection natively. */
const char *hmb_ledger_flush(hmb_ledger_t *l, apr_pool_t *p);

/* Ask ahead for a statement's rows (hmb_pipe_prefetch) on PostgreSQL;
 * nothing on SQLite. */
const char *hmb_ledger_sql_prefetch(hmb_ledger_t *l, apr_pool_t *p,
                                    const char *what, const char *sql,
                                    const char **args);

/* ---- hmb_ledger_pipe.c: PostgreSQL transactions in few round trips ---- */

typedef struct hmb_pipe_t hmb_pipe_t;

/* A statement apr_dbd_prepare named on the connection, and forgetting
 * them all (a new session). */
void hmb_pipe_note(hmb_ledger_t *l, apr_dbd_prepared_t *st, const char *name,
                   const char *sql);
void hmb_pipe_forget(hmb_ledger_t *l);

/* Queue a statement whose result is not read: 0 when it is not one of
 * the noted ones (run it as usual, after hmb_pipe_flush). */
int hmb_pipe_queue(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                   apr_dbd_prepared_t *st, const char **args);
/* Queue a read asked for ahead: sent with the others, its rows kept
 * until hmb_pipe_read asks for the same statement with the same
 * arguments (then without a round trip of its own). For what the
 * transaction's own writes before that do not change. 0: not noted. */
int hmb_pipe_prefetch(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                      apr_dbd_prepared_t *st, const char **args);

/* Queue a command without parameters (BEGIN). */
void hmb_pipe_queue_sql(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                        const char *sql);

/* Send what is queued; with hmb_pipe_read, a statement that is read
 * after it (its rows, or its row count), in the same round trip. *done 0:
 * st is not a noted statement; the queue was sent, run st as usual. */
const char *hmb_pipe_flush(hmb_ledger_t *l, apr_pool_t *p);
const char *hmb_pipe_read(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                          apr_dbd_prepared_t *st, const char **args,
                          apr_array_header_t **rows, int *nrows, int *done);

/* Queue COMMIT and send everything. */
const char *hmb_pipe_commit(hmb_ledger_t *l, apr_pool_t *p);

/* Whether reads asked for ahead wait, sent or not. */
int hmb_pipe_pending(hmb_ledger_t *l);

/* Whether anything of the transaction reached the server; dropping what
 * is queued. */
int hmb_pipe_started(hmb_ledger_t *l);
void hmb_pipe_discard(hmb_ledger_t *l);

#endif
