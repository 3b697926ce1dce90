/* Shared by the unit tests: pools, fixtures, file reading. */
#ifndef HMB_TEST_H
#define HMB_TEST_H

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "hmb_enroll.h"
#include "hmb_ledger.h"
#include "hmb_message.h"

/* A reason (NULL when all is well) that fails the test. */
#define assert_no_error(why) \
    do { const char *w_ = (why); if (w_) fail_msg("%s", w_); } while (0)

/* assert_string_equal that says which value was missing rather than
 * crashing on NULL. */
#define assert_str(got, want) \
    do { \
        const char *g_ = (got); \
        if (!g_) { \
            fail_msg("%s: missing, want '%s'", #got, (want)); \
        } \
        assert_string_equal(g_, (want)); \
    } while (0)

#define HMB_FIXTURE(rel) HMB_SRCDIR "/tests/fixtures/" rel
#define HMB_EXAMPLE(rel) HMB_FIXTURE("worked-example/" rel)

/* A call that returns NULL or why it failed: the test fails with why. */
#define OK(expr) do {                                   \
        const char *err_ = (expr);                      \
        if (err_) {                                     \
            fail_msg("%s: %s", #expr, err_);            \
        }                                               \
    } while (0)

/* Whole file into pool memory, NUL-terminated; fails the test if absent. */
static inline char *hmb_test_slurp(apr_pool_t *p, const char *path,
                                   apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;
    apr_size_t n;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)
        != APR_SUCCESS) {
        fail_msg("cannot open %s", path);
    }
    assert_int_equal(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    if (n) {
        assert_int_equal(apr_file_read_full(f, buf, n, NULL), APR_SUCCESS);
    }
    buf[n] = '\0';
    apr_file_close(f);
    if (len) {
        *len = n;
    }
    return buf;
}

/* One entry of a temporary tree, visited children first (FTW_DEPTH). */
static inline int hmb_test_rm_entry(const char *path, const struct stat *st,
                                    int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "hmb_test: cannot remove %s: %s\n", path,
                strerror(errno));
    }
    return 0;   /* remove what we can */
}

/* Pool cleanup: the temporary tree goes with the pool that made it. A test
 * that removed it already is fine. */
static inline apr_status_t hmb_test_tmpdir_remove(void *dir)
{
    nftw((const char *)dir, hmb_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return APR_SUCCESS;
}

/* A fresh temporary directory under the build tree, removed with everything
 * in it when P is destroyed; HMB_KEEP_RUNDIR=1 keeps it for inspection. A
 * program P's children exec (hmbctl) does not remove it. */
static inline const char *hmb_test_tmpdir(apr_pool_t *p, const char *tag)
{
    char *dir = apr_psprintf(p, "%s/tmp-%s-XXXXXX", HMB_BUILDDIR, tag);
    const char *keep = getenv("HMB_KEEP_RUNDIR");

    assert_non_null(mkdtemp(dir));
    if (keep && *keep) {
        fprintf(stderr, "hmb_test: keeping %s\n", dir);
    }
    else {
        apr_pool_cleanup_register(p, dir, hmb_test_tmpdir_remove,
                                  apr_pool_cleanup_null);
    }
    return dir;
}

/* s with the first occurrence of from replaced by to; from must occur. */
static inline char *replace(apr_pool_t *p, const char *s, const char *from,
                            const char *to)
{
    const char *at = strstr(s, from);

    if (!at) {
        fail_msg("fixture lacks \"%s\"", from);
    }
    return apr_psprintf(p, "%.*s%s%s", (int)(at - s), s, to,
                        at + strlen(from));
}

static inline void assert_contains(const char *haystack, const char *needle)
{
    if (!haystack || !strstr(haystack, needle)) {
        fail_msg("\"%s\" does not contain \"%s\"",
                 haystack ? haystack : "(null)", needle);
    }
}

/* A fresh SQLite ledger in a temporary directory of P, with the
 * enrollments of the CSV file at csv_path imported. Returns NULL and the
 * ledger, or the reason. */
static inline const char *hmb_test_ledger(apr_pool_t *p, const char *tag,
                                          const char *csv_path,
                                          hmb_ledger_t **ledger)
{
    apr_array_header_t *rows;
    const char *err, *csv;
    apr_size_t len;
    int count;

    err = hmb_ledger_open(p, apr_pstrcat(p, "sqlite3:",
                          hmb_test_tmpdir(p, tag), "/ledger.db", NULL),
                          ledger);
    if (err) {
        return err;
    }
    csv = hmb_test_slurp(p, csv_path, &len);
    if ((err = hmb_enroll_parse(p, csv_path, csv, len, &rows)) != NULL) {
        return err;
    }
    return hmb_ledger_import_enrollments(*ledger, p, rows, &count);
}

/* Every table of the ledger, for a test that starts PostgreSQL afresh:
 * "DROP TABLE IF EXISTS " HMB_TEST_TABLES (CASCADE included). */
#define HMB_TEST_TABLES \
    "hmb_claim_audit, hmb_audit_root, hmb_claim_insurer, hmb_claim_liab," \
    " hmb_claim, hmb_total, hmb_enrollment, hmb_meta, hmb_rollup," \
    " hmb_claim_tag, hmb_rollup_enroll, hmb_claim_wire, hmb_memo_fee," \
    " hmb_memo_status CASCADE"

/* The ledger of HMB_TEST_PGSQL with none of our tables left ("pgsql:..."),
 * or NULL when no database is named (the test skips). */
static inline const char *hmb_test_pgsql_fresh(apr_pool_t *p)
{
    const char *conninfo = getenv("HMB_TEST_PGSQL"), *spec;
    hmb_ledger_t *l;
    int n;

    if (!conninfo || !*conninfo) {
        return NULL;
    }
    spec = apr_pstrcat(p, "pgsql:", conninfo, NULL);
    if (hmb_ledger_open(p, spec, &l) == NULL) {
        apr_dbd_query(l->driver, l->handle, &n,
                      "DROP TABLE IF EXISTS " HMB_TEST_TABLES);
    }
    return spec;
}

/* HMB_PROPS_SCALE=N (the valgrind runs) divides a test's sizes. */
static inline int hmb_test_scale(void)
{
    const char *s = getenv("HMB_PROPS_SCALE");
    int n = s ? atoi(s) : 1;

    return n > 0 ? n : 1;
}

/* Per-test pool as CMocka state. */
static inline int hmb_test_pool_setup(void **state)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return -1;
    }
    *state = p;
    return 0;
}

static inline int hmb_test_pool_teardown(void **state)
{
    apr_pool_destroy((apr_pool_t *)*state);
    return 0;
}

/* The settlement schema, compiled into the caller's pool. */
static inline const hmb_message_schema_t *hmb_test_schema(apr_pool_t *p)
{
    hmb_message_schema_t *schema;

    if (hmb_message_schema(p, &schema) != NULL) {
        fail_msg("the settlement schema does not compile");
    }
    return schema;
}

/* Bytes against the settlement schema: NULL or the first error. */
static inline const char *hmb_test_validate(apr_pool_t *p, const char *buf,
                                            apr_size_t len)
{
    return hmb_message_validate(p, hmb_test_schema(p), buf, len);
}

#endif
