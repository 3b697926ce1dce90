/* PostgreSQL transactions in few round trips (hmb_ledger_int.h): inside
 * a transaction, a statement whose result nobody reads (BEGIN, the
 * claim's inserts and upserts) waits on the ledger, and goes to the
 * server with the next statement that is read, or with COMMIT, in one
 * libpq pipeline: one round trip where apr_dbd would take one per
 * statement. The statements are the ones apr_dbd_prepare named on the
 * connection; libpq sends them by that name. Errors are those of the
 * statement that failed, reported where the batch is read. */
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <libpq-fe.h>

#include "hmb_ledger_int.h"

#define HMB_PIPE_KEY "hmb_ledger_pipe"

/* One statement as the server knows it: its name and parameter count. */
typedef struct {
    const char *name;
    int nargs;
} hmb_pipe_stmt_t;

typedef struct {
    const char *what;
    const char *name;               /* NULL: sql, without parameters */
    const char *sql;
    int nargs;
    const char **args;
    int keep;                       /* a read asked for ahead: its rows
                                     * are kept until asked for */
    apr_array_header_t *rows;
} hmb_pipe_item_t;

/* The connection's: at most one transaction is open on a connection,
 * whichever request or command holds it. */
struct hmb_pipe_t {
    apr_hash_t *stmts;              /* hmb_pipe_stmt_t by statement */
    apr_array_header_t *queue;      /* hmb_pipe_item_t not yet sent; the
                                     * items' strings live in the pool the
                                     * transaction began with */
    apr_array_header_t *kept;       /* hmb_pipe_item_t read ahead, with
                                     * their rows, not yet asked for */
    int sent;                       /* something of this transaction
                                     * reached the server */
};

/* Kept in the connection's pool like the statements themselves. */
static hmb_pipe_t *pipe_of(hmb_ledger_t *l)
{
    void *v = NULL;
    hmb_pipe_t *pp;

    apr_pool_userdata_get(&v, HMB_PIPE_KEY, l->pool);
    if (v) {
        return v;
    }
    pp = apr_pcalloc(l->pool, sizeof(*pp));
    pp->stmts = apr_hash_make(l->pool);
    pp->queue = apr_array_make(l->pool, 16, sizeof(hmb_pipe_item_t));
    pp->kept = apr_array_make(l->pool, 8, sizeof(hmb_pipe_item_t));
    apr_pool_userdata_setn(pp, HMB_PIPE_KEY, NULL, l->pool);
    return pp;
}

/* apr_dbd_pgsql takes one parameter per '%' conversion; "%%" is none. */
static int pipe_nargs(const char *sql)
{
    int n = 0;

    for (; *sql; sql++) {
        if (*sql == '%') {
            if (sql[1] == '%') {
                sql++;
                continue;
            }
            n++;
        }
    }
    return n;
}

void hmb_pipe_note(hmb_ledger_t *l, apr_dbd_prepared_t *st, const char *name,
                   const char *sql)
{
    hmb_pipe_stmt_t *s;

    if (hmb_ledger_is_sqlite(l) || !name) {
        return;
    }
    s = apr_palloc(l->pool, sizeof(*s));
    s->name = apr_pstrdup(l->pool, name);
    s->nargs = pipe_nargs(sql);
    apr_hash_set(pipe_of(l)->stmts, st, sizeof(st), s);
}

void hmb_pipe_forget(hmb_ledger_t *l)
{
    if (!hmb_ledger_is_sqlite(l)) {
        apr_hash_clear(pipe_of(l)->stmts);
    }
}

/* The item for a statement, its arguments copied: the caller's array may
 * be reused for the next statement before this one is sent. */
static int pipe_item(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                     apr_dbd_prepared_t *st, const char **args,
                     hmb_pipe_item_t *it)
{
    hmb_pipe_stmt_t *s = apr_hash_get(pipe_of(l)->stmts, st, sizeof(st));
    int i;

    if (!s) {
        return 0;
    }
    if (l->trans_pool) {
        p = l->trans_pool;
    }
    memset(it, 0, sizeof(*it));
    it->what = what;
    it->name = s->name;
    it->nargs = s->nargs;
    it->args = apr_palloc(p, sizeof(*it->args) * (s->nargs + 1));
    for (i = 0; i < s->nargs; i++) {
        it->args[i] = args[i] ? apr_pstrdup(p, args[i]) : NULL;
    }
    return 1;
}

int hmb_pipe_queue(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                   apr_dbd_prepared_t *st, const char **args)
{
    hmb_pipe_item_t it;

    if (!pipe_item(l, p, what, st, args, &it)) {
        return 0;
    }
    *(hmb_pipe_item_t *)apr_array_push(pipe_of(l)->queue) = it;
    return 1;
}

void hmb_pipe_queue_sql(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                        const char *sql)
{
    hmb_pipe_item_t *it = apr_array_push(pipe_of(l)->queue);

    memset(it, 0, sizeof(*it));
    it->what = what;
    it->sql = sql;
}

int hmb_pipe_pending(hmb_ledger_t *l)
{
    hmb_pipe_t *pp = pipe_of(l);

    return pp->queue->nelts || pp->kept->nelts;
}

int hmb_pipe_started(hmb_ledger_t *l)
{
    return pipe_of(l)->sent;
}

void hmb_pipe_discard(hmb_ledger_t *l)
{
    hmb_pipe_t *pp = pipe_of(l);

    apr_array_clear(pp->queue);
    apr_array_clear(pp->kept);
    pp->sent = 0;
}

int hmb_pipe_prefetch(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                      apr_dbd_prepared_t *st, const char **args)
{
    hmb_pipe_item_t it;

    if (!pipe_item(l, p, what, st, args, &it)) {
        return 0;
    }
    it.keep = 1;
    *(hmb_pipe_item_t *)apr_array_push(pipe_of(l)->queue) = it;
    return 1;
}

static int pipe_same(const hmb_pipe_item_t *a, const hmb_pipe_item_t *b)
{
    int i;

    if (!a->name || !b->name || strcmp(a->name, b->name)
        || a->nargs != b->nargs) {
        return 0;
    }
    for (i = 0; i < a->nargs; i++) {
        if (!a->args[i] != !b->args[i]
            || (a->args[i] && strcmp(a->args[i], b->args[i]))) {
            return 0;
        }
    }
    return 1;
}

/* The index of an item like it in list (keep items only), or -1. */
static int pipe_find(const apr_array_header_t *list,
                     const hmb_pipe_item_t *it)
{
    const hmb_pipe_item_t *items = (const hmb_pipe_item_t *)list->elts;
    int i;

    for (i = 0; i < list->nelts; i++) {
        if (items[i].keep && pipe_same(&items[i], it)) {
            return i;
        }
    }
    return -1;
}

/* Take the rows read ahead for it, if any. */
static int pipe_take(hmb_pipe_t *pp, const hmb_pipe_item_t *it,
                     apr_array_header_t **rows)
{
    hmb_pipe_item_t *items = (hmb_pipe_item_t *)pp->kept->elts;
    int at = pipe_find(pp->kept, it);

    if (at < 0) {
        return 0;
    }
    *rows = items[at].rows;
    memmove(&items[at], &items[at + 1],
            sizeof(*items) * (pp->kept->nelts - at - 1));
    pp->kept->nelts--;
    return 1;
}

static int pipe_send(PGconn *pg, const hmb_pipe_item_t *it)
{
    if (it->name) {
        return PQsendQueryPrepared(pg, it->name, it->nargs, it->args, NULL,
                                   NULL, 0);
    }
    return PQsendQueryParams(pg, it->sql, 0, NULL, NULL, NULL, NULL, 0);
}

/* A result's rows as hmb_ledger_rows gives them. */
static apr_array_header_t *pipe_rows(apr_pool_t *p, const PGresult *r)
{
    int n = PQntuples(r), ncols = PQnfields(r), i, k;
    apr_array_header_t *rows = apr_array_make(p, n ? n : 1,
                                              sizeof(const char **));

    for (i = 0; i < n; i++) {
        const char **vals = apr_pcalloc(p, sizeof(*vals) * (ncols + 1));

        for (k = 0; k < ncols; k++) {
            if (!PQgetisnull(r, i, k)) {
                vals[k] = apr_pstrdup(p, PQgetvalue(r, i, k));
            }
        }
        APR_ARRAY_PUSH(rows, const char **) = vals;
    }
    return rows;
}

/* Everything queued, then last (when given), in one round trip; the
 * rows or row count of last. The first statement that failed names the
 * error; the server skipped the rest (the transaction is spoilt). */
static const char *pipe_run(hmb_ledger_t *l, apr_pool_t *p,
                            const hmb_pipe_item_t *last,
                            apr_array_header_t **rows, int *nrows)
{
    PGconn *pg = apr_dbd_native_handle(l->driver, l->handle);
    hmb_pipe_t *pp = pipe_of(l);
    const hmb_pipe_item_t *items = (const hmb_pipe_item_t *)pp->queue->elts;
    int n = pp->queue->nelts + (last ? 1 : 0), sent = 0, i, guard;
    const char *err = NULL, *what = "pipeline";
    PGresult *r;

    if (!n) {
        return NULL;
    }
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        hmb_pipe_discard(l);
        return hmb_ledger_failed(l, p, "pipeline", "connection lost");
    }
    if (!PQenterPipelineMode(pg)) {
        hmb_pipe_discard(l);
        return hmb_ledger_failed(l, p, "pipeline", PQerrorMessage(pg));
    }
    for (i = 0; i < n; i++) {
        const hmb_pipe_item_t *it = i < pp->queue->nelts ? &items[i] : last;

        if (!pipe_send(pg, it)) {
            err = PQerrorMessage(pg);
            what = it->what;
            break;
        }
        sent++;
    }
    pp->sent = 1;
    if (PQpipelineSync(pg) != 1 && !err) {
        err = PQerrorMessage(pg);
    }
    /* each statement's results end with a NULL; a connection that died
     * gives NULLs only, so every loop here is bounded */
    for (i = 0; i < sent; i++) {
        const hmb_pipe_item_t *it = i < pp->queue->nelts ? &items[i] : last;

        for (guard = 0; guard < 8 && (r = PQgetResult(pg)); guard++) {
            ExecStatusType s = PQresultStatus(r);

            if (s == PGRES_FATAL_ERROR && !err) {
                err = apr_pstrdup(p, PQresultErrorMessage(r));
                what = it->what;
            }
            else if (it == last && s == PGRES_TUPLES_OK && rows) {
                *rows = pipe_rows(p, r);
            }
            else if (it != last && it->keep && s == PGRES_TUPLES_OK) {
                hmb_pipe_item_t *k = apr_array_push(pp->kept);

                *k = *it;
                k->rows = pipe_rows(l->trans_pool ? l->trans_pool : p, r);
            }
            else if (it == last && s == PGRES_COMMAND_OK && nrows) {
                *nrows = atoi(PQcmdTuples(r));
            }
            PQclear(r);
        }
    }
    /* the sync point, then back to one statement at a time */
    for (guard = 0; guard < 8 && (r = PQgetResult(pg)); guard++) {
        int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;

        PQclear(r);
        if (sync) {
            break;
        }
    }
    if (!PQexitPipelineMode(pg) && !err) {
        err = PQerrorMessage(pg);
    }
    apr_array_clear(pp->queue);
    if (err) {
        const char *msg = err;

        apr_array_clear(pp->kept);

        if (strncmp(msg, "ERROR:", 6) == 0) {
            msg += 6;
            while (*msg == ' ') {
                msg++;
            }
        }
        return hmb_ledger_failed(l, p, what, msg);
    }
    return NULL;
}

const char *hmb_pipe_flush(hmb_ledger_t *l, apr_pool_t *p)
{
    if (!pipe_of(l)->queue->nelts) {
        return NULL;
    }
    return pipe_run(l, p, NULL, NULL, NULL);
}

const char *hmb_pipe_read(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                          apr_dbd_prepared_t *st, const char **args,
                          apr_array_header_t **rows, int *nrows, int *done)
{
    hmb_pipe_t *pp = pipe_of(l);
    hmb_pipe_item_t it;
    const char *err;

    *done = pipe_item(l, p, what, st, args, &it);
    if (!*done) {
        return hmb_pipe_flush(l, p);
    }
    /* asked for ahead: read with everything queued before it */
    if (rows && pipe_find(pp->queue, &it) >= 0
        && (err = pipe_run(l, p, NULL, NULL, NULL))) {
        return err;
    }
    if (rows && pipe_take(pp, &it, rows)) {
        return NULL;
    }
    if (rows) {
        *rows = apr_array_make(p, 1, sizeof(const char **));
    }
    return pipe_run(l, p, &it, rows, nrows);
}

const char *hmb_pipe_commit(hmb_ledger_t *l, apr_pool_t *p)
{
    hmb_pipe_queue_sql(l, p, "commit", "COMMIT");
    return pipe_run(l, p, NULL, NULL, NULL);
}
