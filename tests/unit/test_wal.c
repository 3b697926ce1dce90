/* The WAL's checkpoints under group commit (hmb_ledger_wal.c), on a real
 * SQLite file: the group connection's COMMIT copies nothing, a leader's
 * checkpoint beside the writers does, and a long WAL starts over after
 * the checkpoint taken with the writer lock, unless a reader still needs
 * its frames. */
#include <sys/stat.h>
#include <sqlite3.h>
#include "hmb_test.h"
#include "hmb_ledger_wal.h"

typedef struct {
    apr_pool_t *pool;
    const char *path;
    sqlite3 *db;                    /* the group connection's stand-in */
    int rows;
} wl_state_t;

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
    }
}

static int setup(void **state)
{
    wl_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->path = apr_pstrcat(st->pool, hmb_test_tmpdir(st->pool, "wal"),
                           "/ledger.db", NULL);
    assert_int_equal(sqlite3_open(st->path, &st->db), SQLITE_OK);
    exec(st->db, "PRAGMA journal_mode = WAL");
    exec(st->db, "PRAGMA synchronous = NORMAL");
    exec(st->db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    wl_state_t *st = *state;

    sqlite3_close(st->db);
    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

/* One transaction of n rows of a page each: about n frames. */
static void write_rows(wl_state_t *st, int n)
{
    sqlite3_stmt *s;
    int i;

    exec(st->db, "BEGIN IMMEDIATE");
    assert_int_equal(sqlite3_prepare_v2(st->db, "INSERT INTO t VALUES "
                                        "(?, zeroblob(3500))", -1, &s, NULL),
                     SQLITE_OK);
    for (i = 0; i < n; i++) {
        sqlite3_bind_int(s, 1, ++st->rows);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    exec(st->db, "COMMIT");
}

static apr_off_t file_size(wl_state_t *st)
{
    struct stat sb;

    assert_int_equal(stat(st->path, &sb), 0);
    return sb.st_size;
}

static hmb_wal_stats_t stats(hmb_wal_t *w)
{
    hmb_wal_stats_t s;

    hmb_wal_stats(w, &s);
    return s;
}

/* SQLite alone copies the WAL into the database at 1000 frames, in the
 * COMMIT that crosses them; attached, the connection never does, and a
 * leader's checkpoint does once HMB_WAL_STEP frames wait. */
static void test_copied_beside(void **state)
{
    wl_state_t *st = *state;
    hmb_wal_t *w = hmb_wal_attach(st->path, st->db);
    apr_off_t before = file_size(st);
    int i;

    assert_non_null(w);
    for (i = 0; i < 12; i++) {
        write_rows(st, 100);
    }
    assert_true(stats(w).frames >= 1200);
    assert_int_equal(file_size(st), before);

    hmb_wal_after_commit(w);
    assert_int_equal(stats(w).beside, 1);
    assert_true(file_size(st) > before + 1000 * 4096);

    /* a few frames more: not worth the syncs yet */
    write_rows(st, 10);
    hmb_wal_after_commit(w);
    assert_int_equal(stats(w).beside, 1);
    write_rows(st, HMB_WAL_STEP);
    hmb_wal_after_commit(w);
    assert_int_equal(stats(w).beside, 2);
    assert_int_equal(stats(w).locked, 0);
    hmb_wal_detach(w);
}

/* A WAL grown past HMB_WAL_RESTART starts over at the first write after
 * the checkpoint with the writer lock; a reader that keeps its frames
 * longer than the checkpoint waits for it stops that, and the next attempt
 * waits HMB_WAL_STEP frames. */
static void test_restart(void **state)
{
    wl_state_t *st = *state;
    hmb_wal_t *w = hmb_wal_attach(st->path, st->db);
    sqlite3 *reader;
    sqlite3_stmt *s;

    assert_non_null(w);
    hmb_wal_before_begin(w);
    assert_int_equal(stats(w).locked, 0);
    while (stats(w).frames < HMB_WAL_RESTART) {
        write_rows(st, 500);
    }

    /* a reader in the middle of a read, on a snapshot of these frames */
    assert_int_equal(sqlite3_open(st->path, &reader), SQLITE_OK);
    exec(reader, "BEGIN");
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM t",
                                        -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    write_rows(st, 10);
    hmb_wal_before_begin(w);
    assert_int_equal(stats(w).locked, 1);
    write_rows(st, 10);
    assert_true(stats(w).frames > HMB_WAL_RESTART);
    hmb_wal_before_begin(w);
    assert_int_equal(stats(w).locked, 1);

    /* the reader is done: once the WAL grew by a step, it starts over */
    sqlite3_finalize(s);
    exec(reader, "COMMIT");
    sqlite3_close(reader);
    write_rows(st, HMB_WAL_STEP);
    hmb_wal_before_begin(w);
    assert_int_equal(stats(w).locked, 2);
    write_rows(st, 10);
    assert_true(stats(w).frames < 100);
    /* nothing lost on the way */
    {
        sqlite3_stmt *c;

        assert_int_equal(sqlite3_prepare_v2(st->db, "SELECT count(*) FROM t",
                                            -1, &c, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(c), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(c, 0), st->rows);
        sqlite3_finalize(c);
    }
    hmb_wal_detach(w);
}

/* Checkpoints that never come (the connection for them failing, readers
 * keeping the WAL): at HMB_WAL_LIMIT frames the COMMIT checkpoints itself,
 * as SQLite alone would have, rather than let the WAL grow without end. */
static void test_limit(void **state)
{
    wl_state_t *st = *state;
    hmb_wal_t *w = hmb_wal_attach(st->path, st->db);
    apr_off_t before = file_size(st);

    assert_non_null(w);
    while (stats(w).frames < HMB_WAL_LIMIT - 600) {
        write_rows(st, 500);
    }
    assert_int_equal(stats(w).locked, 0);
    assert_int_equal(file_size(st), before);
    write_rows(st, 700);
    assert_int_equal(stats(w).locked, 1);
    assert_true(file_size(st) > before + HMB_WAL_RESTART * 4096);
    hmb_wal_detach(w);
}

/* No checkpoint connection to be had: nothing changes, SQLite copies at
 * 1000 frames as always. */
static void test_not_attached(void **state)
{
    wl_state_t *st = *state;
    apr_off_t before = file_size(st);
    int i;

    assert_null(hmb_wal_attach(apr_pstrcat(st->pool, st->path, ".gone/x",
                                           NULL), st->db));
    for (i = 0; i < 12; i++) {
        write_rows(st, 100);
    }
    assert_true(file_size(st) > before + 1000 * 4096);
    hmb_wal_after_commit(NULL);
    hmb_wal_before_begin(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copied_beside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_attached, setup, teardown),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
