/* The group connection's VFS (hmb_ledger_vfs.c) on a real SQLite file.
 * Under it, a VFS of the test's own counts the writes that reach the WAL
 * and can make them fail: a COMMIT's frames arrive in one write, a reader
 * on another connection sees each commit whole, and whichever write
 * fails, a COMMIT reported done with no error kept (hmb_vfs_failed) is
 * all in the file, and one that failed left nothing. */
#include <sys/stat.h>
#include <sqlite3.h>
#include "hmb_test.h"
#include "hmb_ledger_vfs.h"

/* -- the counting VFS: the default one's methods, xWrite counted -- */

static sqlite3_vfs cnt_vfs;
static sqlite3_vfs *cnt_real;
static sqlite3_io_methods cnt_methods;
static int cnt_wal_writes;
static int cnt_fail;                /* a WAL write fails while set */
static int cnt_fail_from;           /* and from this write on (1: the
                                     * first), 0: never */

static int cnt_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 at)
{
    cnt_wal_writes++;
    if (cnt_fail || (cnt_fail_from && cnt_wal_writes >= cnt_fail_from)) {
        return SQLITE_IOERR_WRITE;
    }
    return ((const sqlite3_io_methods *)cnt_vfs.pAppData)->xWrite(f, d, n,
                                                                   at);
}

static int cnt_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                    int flags, int *out)
{
    int rc = cnt_real->xOpen(cnt_real, name, f, flags, out);

    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) {
        /* the same file as the real VFS's, only xWrite is ours */
        if (!cnt_vfs.pAppData) {
            cnt_methods = *f->pMethods;
            cnt_methods.xWrite = cnt_write;
            cnt_vfs.pAppData = (void *)f->pMethods;
        }
        f->pMethods = &cnt_methods;
    }
    return rc;
}

static int cnt_register(void)
{
    if (!(cnt_real = sqlite3_vfs_find(NULL))) {
        return 0;
    }
    cnt_vfs = *cnt_real;
    cnt_vfs.pNext = NULL;
    cnt_vfs.zName = "hmb-test-count";
    cnt_vfs.pAppData = NULL;
    cnt_vfs.xOpen = cnt_open;
    return sqlite3_vfs_register(&cnt_vfs, 1) == SQLITE_OK;
}

/* ------------------------------------------------------------------ */

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
    }
}

static sqlite3_int64 value(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    sqlite3_int64 v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char *text(apr_pool_t *p, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    const char *v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = apr_pstrdup(p, (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

/* n rows of about a page each, from key k on, in one transaction. */
static int write_rows(sqlite3 *db, int k, int n)
{
    sqlite3_stmt *s;
    int i, rc;

    exec(db, "BEGIN IMMEDIATE");
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES "
                                        "(?, randomblob(3500))", -1, &s,
                                        NULL), SQLITE_OK);
    for (i = 0; i < n; i++) {
        sqlite3_bind_int(s, 1, k + i);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db)) {
        exec(db, "ROLLBACK");
    }
    return rc;
}

static void test_commits(void **state)
{
    apr_pool_t *p;
    const char *dir, *path, *uri;
    sqlite3 *w, *r;
    struct stat sb;
    int i;

    apr_pool_create(&p, NULL);
    /* a path a URI must escape */
    dir = apr_pstrcat(p, hmb_test_tmpdir(p, "vfs"), "/a b%3F?#", NULL);
    assert_int_equal(mkdir(dir, 0700), 0);
    path = apr_pstrcat(p, dir, "/ledger.db", NULL);
    uri = hmb_vfs_uri(p, path);
    assert_non_null(hmb_vfs_name());
    assert_string_not_equal(uri, path);
    assert_int_equal(sqlite3_open_v2(uri, &w, SQLITE_OPEN_READWRITE
                                     | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                     NULL), SQLITE_OK);
    exec(w, "PRAGMA journal_mode = WAL");
    exec(w, "PRAGMA synchronous = NORMAL");
    exec(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
    /* the file is where the path says, not where the URI's text is */
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sqlite3_open_v2(path, &r, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);

    /* 20 pages and more: one write each (of less than 120 KiB) */
    for (i = 0; i < 5; i++) {
        cnt_wal_writes = 0;
        assert_int_equal(write_rows(w, i * 40, 20), SQLITE_OK);
        assert_int_equal(cnt_wal_writes, 1);
        assert_int_equal(write_rows(w, i * 40 + 20, 20), SQLITE_OK);
        assert_int_equal(cnt_wal_writes, 2);
        assert_int_equal(value(r, "SELECT count(*) FROM t"), (i + 1) * 40);
    }
    assert_int_equal(value(r, "SELECT sum(length(v)) FROM t"), 200 * 3500);
    /* over 400 KiB: in pieces the wrapped VFS takes */
    cnt_wal_writes = 0;
    assert_int_equal(write_rows(w, 500, 100), SQLITE_OK);
    assert_in_range(cnt_wal_writes, 4, 5);
    exec(w, "DELETE FROM t WHERE k >= 500");

    /* a write that fails: the COMMIT fails, nothing of it is seen; the
     * connection's WAL is not written again (the child that holds it
     * records nothing more until it is restarted) */
    cnt_fail = 1;
    assert_int_not_equal(write_rows(w, 1000, 30), SQLITE_OK);
    cnt_fail = 0;
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 200);
    assert_int_not_equal(sqlite3_exec(w, "INSERT INTO t VALUES (999, 1)",
                                      NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 200);
    /* opened again, it goes on from there */
    sqlite3_close(w);
    assert_int_equal(sqlite3_open_v2(uri, &w, SQLITE_OPEN_READWRITE
                                     | SQLITE_OPEN_URI, NULL), SQLITE_OK);
    exec(w, "PRAGMA synchronous = NORMAL");
    assert_int_equal(write_rows(w, 1000, 30), SQLITE_OK);
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 230);
    assert_string_equal(text(p, r, "PRAGMA integrity_check"), "ok");

    /* copied into the database, the WAL started over: still whole */
    exec(r, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(write_rows(w, 2000, 10), SQLITE_OK);
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 240);
    sqlite3_close(w);
    sqlite3_close(r);
    assert_int_equal(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_string_equal(text(p, r, "PRAGMA integrity_check"), "ok");
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 240);
    sqlite3_close(r);
    apr_pool_destroy(p);
}

/* A new ledger-like file in its own directory, opened through the VFS
 * (w) and as any other connection (r). */
static void open_pair(apr_pool_t *p, const char *tag, sqlite3 **w,
                      sqlite3 **r)
{
    const char *path = apr_pstrcat(p, hmb_test_tmpdir(p, tag), "/l.db",
                                   NULL);

    cnt_fail = 0;
    cnt_fail_from = 0;
    assert_int_equal(sqlite3_open_v2(hmb_vfs_uri(p, path), w,
                                     SQLITE_OPEN_READWRITE
                                     | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                     NULL), SQLITE_OK);
    exec(*w, "PRAGMA journal_mode = WAL");
    exec(*w, "PRAGMA synchronous = NORMAL");
    exec(*w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
    assert_int_equal(write_rows(*w, 0, 5), SQLITE_OK);
    assert_int_equal(sqlite3_open_v2(path, r, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
}

/* A transaction of n rows; with spill, a page cache too small for it (its
 * pages go to the WAL before the COMMIT, then some are written again:
 * SQLite rewrites the frames' checksums after its last frame). */
static int workload(sqlite3 *w, int n, int spill)
{
    char sql[160];
    int rc;

    if (spill) {
        exec(w, "PRAGMA cache_size = 10");
    }
    exec(w, "BEGIN IMMEDIATE");
    snprintf(sql, sizeof(sql), "WITH RECURSIVE c(i) AS (SELECT 100 UNION ALL"
             " SELECT i + 1 FROM c WHERE i < %d) INSERT INTO t SELECT i,"
             " randomblob(3500) FROM c", 99 + n);
    /* a spilled page's write may fail before the COMMIT */
    if ((rc = sqlite3_exec(w, sql, NULL, NULL, NULL)) == SQLITE_OK
        && spill) {
        rc = sqlite3_exec(w, "UPDATE t SET v = randomblob(3400)"
                          " WHERE k < 130", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(w, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(w)) {
        sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* Every write of a COMMIT made to fail in turn, and those after it. */
static void fail_each(apr_pool_t *p, int n, int spill, int step)
{
    sqlite3 *w, *r;
    int writes, k, rc, late = 0;

    open_pair(p, "vfs-dry", &w, &r);
    cnt_wal_writes = 0;
    assert_int_equal(workload(w, n, spill), SQLITE_OK);
    writes = cnt_wal_writes;
    sqlite3_close(w);
    sqlite3_close(r);
    assert_true(writes > 0);
    for (k = 1; k <= writes; k += step) {
        open_pair(p, "vfs-fail", &w, &r);
        cnt_wal_writes = 0;
        cnt_fail_from = k;
        rc = workload(w, n, spill);
        cnt_fail_from = 0;
        if (rc == SQLITE_OK && !hmb_vfs_failed(w)) {
            /* done, and said so: all of it */
            assert_int_equal(value(r, "SELECT count(*) FROM t"), 5 + n);
            assert_string_equal(text(p, r, "PRAGMA integrity_check"), "ok");
        }
        else if (rc != SQLITE_OK) {
            /* failed: none of it */
            assert_int_equal(value(r, "SELECT count(*) FROM t"), 5);
            assert_string_equal(text(p, r, "PRAGMA integrity_check"), "ok");
        }
        else {
            /* the group fails on hmb_vfs_failed, as on a failed flush */
            late++;
        }
        sqlite3_close(w);
        sqlite3_close(r);
    }
    /* SQLite's own paths leave nothing to the barrier: every failure is
     * the COMMIT's (or a statement's) */
    assert_int_equal(late, 0);
}

static void test_failed_writes(void **state)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    fail_each(p, 40, 0, 1);
    fail_each(p, 200, 1, 1);
    /* more than HMB_VFS_MAX_PENDING: written before the commit frame */
    fail_each(p, 1100, 0, 3);
    apr_pool_destroy(p);
}

/* A transaction whose pages went to the WAL, then rolled back: nothing of
 * it is written after the WAL's write lock is let go, over what another
 * connection commits next. */
static void test_rollback_after_spill(void **state)
{
    apr_pool_t *p;
    sqlite3 *w, *r, *fresh;
    const char *path;

    apr_pool_create(&p, NULL);
    open_pair(p, "vfs-rb", &w, &r);
    exec(r, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec(w, "PRAGMA cache_size = 20");
    exec(w, "BEGIN IMMEDIATE");
    exec(w, "WITH RECURSIVE c(i) AS (SELECT 1000 UNION ALL SELECT i + 1"
         " FROM c WHERE i < 1300) INSERT INTO t SELECT i, randomblob(3500)"
         " FROM c");
    exec(w, "ROLLBACK");
    assert_int_equal(write_rows(r, 2000, 100), SQLITE_OK);
    assert_int_equal(write_rows(r, 3000, 100), SQLITE_OK);
    assert_int_equal(value(w, "SELECT count(*) FROM t"), 205);
    path = sqlite3_db_filename(r, "main");
    assert_int_equal(sqlite3_open_v2(path, &fresh, SQLITE_OPEN_READONLY,
                                     NULL), SQLITE_OK);
    assert_string_equal(text(p, fresh, "PRAGMA integrity_check"), "ok");
    assert_int_equal(value(fresh, "SELECT count(*) FROM t"), 205);
    sqlite3_close(fresh);
    sqlite3_close(w);
    sqlite3_close(r);
    apr_pool_destroy(p);
}

/* Nothing to wrap a relative path or a missing one in. */
static void test_uri(void **state)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    assert_string_equal(hmb_vfs_uri(p, "ledger.db"), "ledger.db");
    assert_null(hmb_vfs_uri(p, NULL));
    assert_string_equal(hmb_vfs_uri(p, "/v/a b/l.db"),
                        "file:///v/a%20b/l.db?vfs=hmb-wal");
    /* a path that begins with "//" is no authority */
    assert_string_equal(hmb_vfs_uri(p, "//v/l.db"),
                        "file:////v/l.db?vfs=hmb-wal");
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_commits),
        cmocka_unit_test(test_failed_writes),
        cmocka_unit_test(test_rollback_after_spill),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    /* under ours, before it is registered */
    if (!cnt_register()) {
        fprintf(stderr, "test_vfs: cannot register the counting VFS\n");
        return 1;
    }
    return cmocka_run_group_tests_name("vfs", tests, NULL, NULL);
}
