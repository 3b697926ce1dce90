/* hmb_ledger_copy: a whole ledger into an empty one on another driver.
 *
 * The tables and their columns are read from the source's catalog, so a
 * table added by a later schema version is copied without a change here;
 * columns are named, since a migrated SQLite table and its PostgreSQL
 * twin may order them differently. Rows go over as text parameters (every
 * column is TEXT or an integer), a page at a time in a stable order, all
 * in one transaction of the target. The check afterwards does not trust
 * the copy: each table's rows are counted and their checksums summed on
 * both sides, which holds whatever order and collation each side sorts in.
 */
#include <string.h>

#include <apr_strings.h>

#include "hmb_ledger_copy.h"
#include "hmb_ledger_int.h"

#define HMB_COPY_PAGE 2000

static const char *const sql_tables_sqlite =
    "SELECT name FROM sqlite_master WHERE type = 'table'"
    " AND name LIKE 'hmb%' ORDER BY name";
static const char *const sql_tables_pgsql =
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    " AND table_name LIKE 'hmb%' ORDER BY table_name";
static const char *const sql_columns_sqlite =
    "SELECT name, type FROM pragma_table_info(%s) ORDER BY cid";
static const char *const sql_columns_pgsql =
    "SELECT column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = %s"
    " ORDER BY ordinal_position";

typedef struct {
    const char *name;
    apr_array_header_t *cols;       /* const char *, the source's order */
    apr_array_header_t *ints;       /* int: an integer column in the target */
    const char *select_page;        /* kept for the run: see copy_sql */
    const char *insert;
} copy_table_t;

static const char *list_tables(hmb_ledger_t *l, apr_pool_t *p,
                               apr_array_header_t **names)
{
    apr_array_header_t *rows;
    const char *err;
    int i;

    if ((err = hmb_ledger_sql_query(l, p, "list tables",
                                    hmb_ledger_is_sqlite(l)
                                    ? sql_tables_sqlite : sql_tables_pgsql,
                                    NULL, &rows))) {
        return err;
    }
    *names = apr_array_make(p, rows->nelts, sizeof(const char *));
    for (i = 0; i < rows->nelts; i++) {
        const char *name = APR_ARRAY_IDX(rows, i, const char **)[0];

        /* each side keeps its own schema version */
        if (strcmp(name, "hmb_meta")) {
            APR_ARRAY_PUSH(*names, const char *) = name;
        }
    }
    return NULL;
}

/* A table's columns, and their declared types. */
static const char *list_columns(hmb_ledger_t *l, apr_pool_t *p,
                                const char *table, apr_array_header_t **cols,
                                apr_array_header_t **types)
{
    apr_array_header_t *rows;
    const char *args[] = {table, NULL};
    const char *err;
    int i;

    if ((err = hmb_ledger_sql_query(l, p, "list columns",
                                    hmb_ledger_is_sqlite(l)
                                    ? sql_columns_sqlite : sql_columns_pgsql,
                                    args, &rows))) {
        return err;
    }
    *cols = apr_array_make(p, rows->nelts, sizeof(const char *));
    *types = apr_array_make(p, rows->nelts, sizeof(const char *));
    for (i = 0; i < rows->nelts; i++) {
        const char **row = APR_ARRAY_IDX(rows, i, const char **);

        APR_ARRAY_PUSH(*cols, const char *) = row[0];
        APR_ARRAY_PUSH(*types, const char *) = row[1] ? row[1] : "";
    }
    return NULL;
}

/* The index of name in a, or -1. */
static int find_name(const apr_array_header_t *a, const char *name)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), name)) {
            return i;
        }
    }
    return -1;
}

/* A table's statements. The ledger keeps a prepared statement under its
 * text's address, so these texts live in p, which outlives the copy and
 * is never cleared during it: no two statements share an address. The
 * parameters are text: integers are cast, as the ledger's own are. */
static void copy_sql(apr_pool_t *p, copy_table_t *t)
{
    const char *list = "", *marks = "";
    int i;

    for (i = 0; i < t->cols->nelts; i++) {
        list = apr_pstrcat(p, list, i ? ", " : "",
                           APR_ARRAY_IDX(t->cols, i, const char *), NULL);
        marks = apr_pstrcat(p, marks, i ? ", " : "",
                            APR_ARRAY_IDX(t->ints, i, int)
                            ? "CAST(%s AS BIGINT)" : "%s", NULL);
    }
    t->select_page = apr_psprintf(p, "SELECT %s FROM %s ORDER BY %s"
                                  " LIMIT CAST(%%s AS INTEGER)"
                                  " OFFSET CAST(%%s AS INTEGER)",
                                  list, t->name, list);
    t->insert = apr_psprintf(p, "INSERT INTO %s (%s) VALUES (%s)", t->name,
                             list, marks);
}

/* FNV-1a over a row's values, each ended by a separator, SQL NULL
 * marked apart from an empty string. */
static apr_uint64_t row_hash(const char **row, int ncols)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    int i;

    for (i = 0; i < ncols; i++) {
        const unsigned char *s = (const unsigned char *)
                                 (row[i] ? row[i] : "\036");

        for (; *s; s++) {
            h = (h ^ *s) * APR_UINT64_C(1099511628211);
        }
        h = (h ^ 0x1f) * APR_UINT64_C(1099511628211);
    }
    return h;
}

/* Each page of t's rows in l, in the source's order, handed to fn with
 * baton; *rows counts them. Stops at the first error. */
typedef const char *(*page_fn)(void *baton, apr_pool_t *pp,
                               const copy_table_t *t,
                               apr_array_header_t *page);

static const char *each_page(hmb_ledger_t *l, apr_pool_t *p,
                             const copy_table_t *t, page_fn fn, void *baton,
                             apr_int64_t *rows)
{
    const char *err;

    *rows = 0;
    for (;;) {
        apr_array_header_t *page;
        apr_pool_t *pp;
        const char *args[3];
        int n;

        apr_pool_create(&pp, p);
        args[0] = apr_itoa(pp, HMB_COPY_PAGE);
        args[1] = apr_off_t_toa(pp, *rows);
        args[2] = NULL;
        if ((err = hmb_ledger_sql_query(l, pp, t->name, t->select_page, args,
                                        &page))
            || (err = fn(baton, pp, t, page))) {
            err = apr_pstrdup(p, err);
            apr_pool_destroy(pp);
            return err;
        }
        n = page->nelts;
        *rows += n;
        apr_pool_destroy(pp);
        if (n < HMB_COPY_PAGE) {
            return NULL;
        }
    }
}

/* baton: the apr_uint64_t sum of the rows' hashes */
static const char *sum_page(void *baton, apr_pool_t *pp,
                            const copy_table_t *t, apr_array_header_t *page)
{
    apr_uint64_t *sum = baton;
    int i;

    for (i = 0; i < page->nelts; i++) {
        *sum += row_hash(APR_ARRAY_IDX(page, i, const char **),
                         t->cols->nelts);
    }
    return NULL;
}

/* baton: the target ledger */
static const char *insert_page(void *baton, apr_pool_t *pp,
                               const copy_table_t *t,
                               apr_array_header_t *page)
{
    hmb_ledger_t *to = baton;
    const char *err;
    int i;

    for (i = 0; i < page->nelts; i++) {
        int n = 0;

        if ((err = hmb_ledger_sql_exec(to, pp, t->name, t->insert,
                                       APR_ARRAY_IDX(page, i, const char **),
                                       &n))) {
            return err;
        }
        if (n != 1) {
            return apr_psprintf(pp, "ledger: %s: a row was not inserted",
                                t->name);
        }
    }
    return NULL;
}

static const char *table_sum(hmb_ledger_t *l, apr_pool_t *p,
                             const copy_table_t *t, apr_int64_t *rows,
                             apr_uint64_t *sum)
{
    *sum = 0;
    return each_page(l, p, t, sum_page, sum, rows);
}

/* The tables of from, each with what both sides call its columns. */
static const char *plan_copy(apr_pool_t *p, hmb_ledger_t *from,
                             hmb_ledger_t *to, apr_array_header_t **plan)
{
    apr_array_header_t *names, *to_names;
    const char *err;
    int i, j;

    if ((err = list_tables(from, p, &names))
        || (err = list_tables(to, p, &to_names))) {
        return err;
    }
    if (!names->nelts) {
        return "the source ledger has no tables";
    }
    *plan = apr_array_make(p, names->nelts, sizeof(copy_table_t));
    for (i = 0; i < names->nelts; i++) {
        copy_table_t *t = apr_array_push(*plan);
        apr_array_header_t *to_cols, *types, *to_types;

        t->name = APR_ARRAY_IDX(names, i, const char *);
        if (find_name(to_names, t->name) < 0) {
            return apr_psprintf(p, "the target has no table %s", t->name);
        }
        if ((err = list_columns(from, p, t->name, &t->cols, &types))
            || (err = list_columns(to, p, t->name, &to_cols, &to_types))) {
            return err;
        }
        t->ints = apr_array_make(p, t->cols->nelts, sizeof(int));
        for (j = 0; j < t->cols->nelts; j++) {
            const char *col = APR_ARRAY_IDX(t->cols, j, const char *);
            int k = find_name(to_cols, col);

            if (k < 0) {
                return apr_psprintf(p, "the target's %s has no column %s",
                                    t->name, col);
            }
            /* SQLite's INTEGER, BIGINT; PostgreSQL's integer, bigint */
            APR_ARRAY_PUSH(t->ints, int) =
                strcasestr(APR_ARRAY_IDX(to_types, k, const char *), "int")
                != NULL;
        }
        if (to_cols->nelts != t->cols->nelts) {
            return apr_psprintf(p, "%s has %d columns in the source, %d in "
                                "the target", t->name, t->cols->nelts,
                                to_cols->nelts);
        }
        copy_sql(p, t);
    }
    return NULL;
}

const char *hmb_ledger_copy(apr_pool_t *p, hmb_ledger_t *from,
                            hmb_ledger_t *to, apr_array_header_t **tables)
{
    apr_array_header_t *plan;
    const char *err;
    int i;

    *tables = apr_array_make(p, 16, sizeof(hmb_copy_table_t));
    if ((err = plan_copy(p, from, to, &plan))) {
        return err;
    }
    /* never into a ledger in use: whatever it holds would be mixed in */
    for (i = 0; i < plan->nelts; i++) {
        const copy_table_t *t = &APR_ARRAY_IDX(plan, i, copy_table_t);
        apr_int64_t rows;
        apr_uint64_t sum;

        if ((err = table_sum(to, p, t, &rows, &sum))) {
            return err;
        }
        if (rows) {
            return apr_psprintf(p, "the target ledger is not empty: %s has "
                                "%" APR_INT64_T_FMT " rows; copy only into "
                                "a new ledger", t->name, rows);
        }
    }
    if ((err = hmb_ledger_begin(to, p))) {
        return err;
    }
    for (i = 0; i < plan->nelts; i++) {
        const copy_table_t *t = &APR_ARRAY_IDX(plan, i, copy_table_t);
        hmb_copy_table_t *done = apr_array_push(*tables);

        done->table = t->name;
        if ((err = each_page(from, p, t, insert_page, to, &done->rows))) {
            hmb_ledger_rollback(to, p);
            return err;
        }
    }
    if ((err = hmb_ledger_commit(to, p))) {
        return err;
    }
    for (i = 0; i < plan->nelts; i++) {
        const copy_table_t *t = &APR_ARRAY_IDX(plan, i, copy_table_t);
        apr_int64_t rows_from, rows_to;
        apr_uint64_t sum_from, sum_to;

        if ((err = table_sum(from, p, t, &rows_from, &sum_from))
            || (err = table_sum(to, p, t, &rows_to, &sum_to))) {
            return err;
        }
        if (rows_from != rows_to || sum_from != sum_to) {
            return apr_psprintf(p, "after the copy, %s differs: %"
                                APR_INT64_T_FMT " rows in the source, %"
                                APR_INT64_T_FMT " in the target%s", t->name,
                                rows_from, rows_to,
                                rows_from == rows_to ? ", not the same rows"
                                                     : "");
        }
    }
    return NULL;
}
