/* The group connection's VFS (hmb_ledger_vfs.c) on a real SQLite file.
 * Under it, a VFS of the test's own counts the writes that reach the WAL
 * and can make them fail: a COMMIT's frames arrive in one write, a reader
 * on another connection sees each commit whole, and a write that fails
 * fails the COMMIT and leaves the database as it was. */
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

static int cnt_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 at)
{
    cnt_wal_writes++;
    if (cnt_fail) {
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

    /* a write that fails: the COMMIT fails, nothing of it is seen */
    cnt_fail = 1;
    assert_int_not_equal(write_rows(w, 1000, 30), SQLITE_OK);
    cnt_fail = 0;
    assert_int_equal(value(r, "SELECT count(*) FROM t"), 200);
    assert_int_equal(value(w, "SELECT count(*) FROM t"), 200);
    /* and the next one goes on from there */
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

/* Nothing to wrap a relative path or a missing one in. */
static void test_uri(void **state)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    assert_string_equal(hmb_vfs_uri(p, "ledger.db"), "ledger.db");
    assert_null(hmb_vfs_uri(p, NULL));
    assert_string_equal(hmb_vfs_uri(p, "/v/a b/l.db"),
                        "file:/v/a%20b/l.db?vfs=hmb-wal");
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_commits),
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
