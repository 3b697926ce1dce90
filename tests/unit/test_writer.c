/* The writer lock of an SQLite ledger (hmb_writer.c), on a real SQLite
 * file: a transaction holds it from BEGIN to its end, it lives beside the
 * ledger readable by nobody else, and a process that dies holding it
 * does not stop the ledger. */
#include <sys/wait.h>
#include "hmb_test.h"
#include "hmb_ledger.h"
#include "hmb_writer.h"

typedef struct {
    apr_pool_t *pool;
    const char *path;               /* the ledger file */
    hmb_ledger_t *l;
} wt_state_t;

static int setup(void **state)
{
    wt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->path = apr_pstrcat(st->pool, hmb_test_tmpdir(st->pool, "writer"),
                           "/ledger.db", NULL);
    OK(hmb_ledger_open(st->pool, apr_pstrcat(st->pool, "sqlite3:", st->path,
                                             NULL), &st->l));
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    wt_state_t *st = *state;

    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

/* A PRAGMA's value on the ledger's own connection. */
static const char *pragma(wt_state_t *st, const char *name)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL;

    assert_int_equal(apr_dbd_select(st->l->driver, st->pool, st->l->handle,
                                    &res, apr_pstrcat(st->pool, "PRAGMA ",
                                                      name, NULL), 0), 0);
    while (apr_dbd_get_row(st->l->driver, st->pool, res, &row, -1) == 0) {
        if (!v) {
            v = apr_pstrdup(st->pool, apr_dbd_get_entry(st->l->driver, row,
                                                        0));
        }
    }
    return v;
}

static void test_held_by_transaction(void **state)
{
    wt_state_t *st = *state;
    hmb_writer_t *w = NULL;
    apr_finfo_t fi;
    apr_pool_t *p;

    apr_pool_create(&p, st->pool);
    OK(hmb_ledger_begin(st->l, p));
    OK(hmb_writer_get(p, st->path, &w));
    /* taken by BEGIN: nobody else gets it meanwhile */
    assert_int_equal(hmb_writer_lock(w, apr_time_from_msec(50)),
                     APR_TIMEUP);
    OK(hmb_ledger_commit(st->l, p));
    assert_int_equal(hmb_writer_lock(w, apr_time_from_sec(1)), APR_SUCCESS);
    hmb_writer_unlock(w);

    /* a rollback frees it too, and so does the end of the pool of a
     * transaction nobody ended */
    OK(hmb_ledger_begin(st->l, p));
    hmb_ledger_rollback(st->l, p);
    assert_int_equal(hmb_writer_lock(w, apr_time_from_sec(1)), APR_SUCCESS);
    hmb_writer_unlock(w);
    OK(hmb_ledger_begin(st->l, p));
    apr_pool_destroy(p);
    st->l->trans = NULL;
    assert_int_equal(hmb_writer_lock(w, apr_time_from_sec(1)), APR_SUCCESS);
    hmb_writer_unlock(w);

    /* its commits are flushed by the ledger after the lock is let go,
     * not by SQLite inside it */
    assert_string_equal(pragma(st, "synchronous"), "1");

    /* beside the ledger, for its owner and group only */
    assert_int_equal(apr_stat(&fi, hmb_writer_path(st->pool, st->path),
                              APR_FINFO_PROT, st->pool), APR_SUCCESS);
    assert_int_equal(fi.protection & APR_FPROT_WREAD, 0);
}

static void test_holder_dies(void **state)
{
    wt_state_t *st = *state;
    hmb_writer_t *w = NULL;
    hmb_claim_t c;
    apr_pool_t *p;
    pid_t pid;
    int status = -1;

    apr_pool_create(&p, st->pool);
    OK(hmb_writer_get(p, st->path, &w));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* another process takes it and dies without a word */
        _exit(hmb_writer_lock(w, apr_time_from_sec(5)) == APR_SUCCESS ? 0
                                                                      : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* the ledger still takes claims */
    memset(&c, 0, sizeof(c));
    c.hmb_setl_id = "HMB-W1";
    c.kind = 'S';
    c.setl_id = "S-W1";
    c.psn_no = "36090200000000000001";
    c.stas = HMB_STAS_INELIGIBLE;
    OK(hmb_ledger_begin(st->l, p));
    OK(hmb_ledger_record_claim(st->l, p, &c));
    OK(hmb_ledger_commit(st->l, p));
    assert_int_equal(hmb_writer_lock(w, apr_time_from_sec(1)), APR_SUCCESS);
    hmb_writer_unlock(w);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_held_by_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_holder_dies, setup, teardown),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
