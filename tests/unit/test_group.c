/* The group commit of an SQLite ledger (hmb_ledger.c, "group commit"), as
 * httpd's children use it: threads, each with a connection of its own
 * wrapped as mod_dbd's would be, settle the worked example's message at
 * once for people of their own, for one person they share, and the same
 * settlement all at the same moment. Every claim is recorded once and
 * answered as a single clerk would have been; the same without groups. */
#include <pthread.h>
#include <unistd.h>
#include "hmb_test.h"
#include "hmb_settle.h"
#include "hmb_plan.h"
#include "hmb_enroll.h"
#include "hmb_xml.h"

#define THREADS 8
#define EACH 20
#define SHARED "36090000000000000901"
#define ALONE "36090000000000000902"
#define DUP "36090000000000000903"

typedef struct {
    apr_pool_t *p;
    const char *path;
    apr_array_header_t *plans;
    hmb_ledger_t *ledger;           /* hmbctl's kind: never grouped */
    const char *req, *resp;         /* worked example 2 */
    hmb_fen_t pay;                  /* a single clerk's answer */
    hmb_fen_t shared_total;         /* THREADS claims of one person, one
                                     * after the other */
    pthread_barrier_t go;
} gt_state_t;

typedef struct {
    gt_state_t *st;
    pthread_t tid;
    int n;
    int settled, dups;
    hmb_fen_t shared_paid;
    char failed[200];
} gt_thread_t;

static const char *person(apr_pool_t *p, int n)
{
    return apr_psprintf(p, "360900000000%08d", 1000 + n);
}

/* Worked example 2 for person psn, settlement setl_id (in the answer). */
static const char *with(apr_pool_t *p, const char *msg, const char *psn,
                        const char *setl_id)
{
    msg = replace(p, msg, "36090000000000000001", psn);
    msg = replace(p, msg, "M20240000002", apr_pstrcat(p, "M", setl_id,
                                                       NULL));
    return strstr(msg, "S2024050100001")
           ? replace(p, msg, "S2024050100001", setl_id) : msg;
}

static hmb_settle_result_t *settle(apr_pool_t *p, hmb_ledger_t *l,
                                   const gt_state_t *st, const char *psn,
                                   const char *setl_id)
{
    hmb_settle_ctx_t ctx;
    const char *req = with(p, st->req, psn, setl_id);
    const char *resp = with(p, st->resp, psn, setl_id);

    memset(&ctx, 0, sizeof(ctx));
    ctx.plans = st->plans;
    ctx.ledger = l;
    return hmb_settle_message(p, &ctx, req, strlen(req), resp, strlen(resp));
}

static apr_int64_t count(gt_state_t *st, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_int64_t n = -1;

    assert_int_equal(apr_dbd_select(st->ledger->driver, st->p,
                                    st->ledger->handle, &res, sql, 0), 0);
    while (apr_dbd_get_row(st->ledger->driver, st->p, res, &row, -1) == 0) {
        n = apr_atoi64(apr_dbd_get_entry(st->ledger->driver, row, 0));
    }
    return n;
}

static int setup(void **state)
{
    gt_state_t *st = calloc(1, sizeof(*st));
    apr_array_header_t *rows;
    hmb_settle_result_t *res;
    hmb_plan_t *plan;
    const char *csv;
    apr_size_t len;
    int i, n;

    apr_pool_create(&st->p, NULL);
    st->plans = apr_array_make(st->p, 1, sizeof(hmb_plan_t *));
    OK(hmb_plan_load(st->p, HMB_EXAMPLE("plan.xml"), &plan));
    APR_ARRAY_PUSH(st->plans, hmb_plan_t *) = plan;
    st->path = apr_pstrcat(st->p, hmb_test_tmpdir(st->p, "group"),
                           "/ledger.db", NULL);
    OK(hmb_ledger_open(st->p, apr_pstrcat(st->p, "sqlite3:", st->path, NULL),
                       &st->ledger));
    csv = "plan_code,plan_year,psn_no,cover_from,preexisting,person_class,"
          "admdvs,payer,premium\n";
    for (i = 0; i < THREADS * EACH + 3; i++) {
        csv = apr_pstrcat(st->p, csv, "YCHMB,2024,",
                          i == THREADS * EACH ? SHARED
                          : i == THREADS * EACH + 1 ? ALONE
                          : i == THREADS * EACH + 2 ? DUP
                          : person(st->p, i),
                          ",2024-01-01,0,,360902,account,69.00\n", NULL);
    }
    OK(hmb_enroll_parse(st->p, "enroll.csv", csv, strlen(csv), &rows));
    OK(hmb_ledger_import_enrollments(st->ledger, st->p, rows, &n));
    st->req = hmb_test_slurp(st->p, HMB_FIXTURE("worked-example/2.req.xml"),
                             &len);
    st->resp = hmb_test_slurp(st->p,
                              HMB_FIXTURE("worked-example/2.resp.xml"), &len);
    /* the single clerk, one settlement after the other: a person's first
     * claim, and THREADS claims of one person */
    for (i = 0; i < THREADS; i++) {
        res = settle(st->p, st->ledger, st, ALONE,
                     apr_psprintf(st->p, "SA%02d", i));
        assert_int_equal(res->outcome, HMB_OUT_SPLICED);
        if (!i) {
            st->pay = res->hmb_pay;
        }
        st->shared_total += res->hmb_pay;
    }
    assert_true(st->pay > 0);
    assert_true(st->shared_total > st->pay);
    pthread_barrier_init(&st->go, NULL, THREADS);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    gt_state_t *st = *state;

    hmb_ledger_group_commit(0);
    pthread_barrier_destroy(&st->go);
    apr_pool_destroy(st->p);
    free(st);
    return 0;
}

static void failed(gt_thread_t *t, const char *what,
                   const hmb_settle_result_t *res)
{
    if (!t->failed[0]) {
        snprintf(t->failed, sizeof(t->failed), "%s: outcome %d pay %ld "
                 "dup %d: %s", what, (int)res->outcome, (long)res->hmb_pay,
                 res->duplicate, res->reason ? res->reason : "");
    }
}

/* A connection of a thread's own, as mod_dbd gives one to a request:
 * opened in op, its statements kept in cp (a pool of op's, gone first). */
typedef struct {
    apr_pool_t *op, *cp;
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h;
} gt_conn_t;

static int conn_open(gt_state_t *st, gt_conn_t *c)
{
    apr_pool_create(&c->op, NULL);
    apr_pool_create(&c->cp, c->op);
    return apr_dbd_get_driver(c->op, "sqlite3", &c->drv) == APR_SUCCESS
           && apr_dbd_open(c->drv, c->op, st->path, &c->h) == APR_SUCCESS;
}

static void conn_close(gt_conn_t *c)
{
    apr_pool_destroy(c->cp);
    apr_dbd_close(c->drv, c->h);
    apr_pool_destroy(c->op);
}

/* A clerk of its own on a connection of its own, as in a child. */
static void *clerk(void *arg)
{
    gt_thread_t *t = arg;
    gt_state_t *st = t->st;
    const apr_dbd_driver_t *drv;
    hmb_settle_result_t *res;
    apr_pool_t *cp, *p;
    apr_dbd_t *h;
    gt_conn_t c;
    int k;

    if (!conn_open(st, &c)) {
        snprintf(t->failed, sizeof(t->failed), "cannot open the ledger");
        pthread_barrier_wait(&st->go);
        pthread_barrier_wait(&st->go);
        pthread_barrier_wait(&st->go);
        return NULL;
    }
    drv = c.drv;
    h = c.h;
    cp = c.cp;
    pthread_barrier_wait(&st->go);
    for (k = 0; k < EACH; k++) {
        apr_pool_create(&p, cp);
        res = settle(p, hmb_ledger_wrap(p, drv, h, cp), st,
                     person(p, t->n * EACH + k),
                     apr_psprintf(p, "S%02d%03d", t->n, k));
        if (res->outcome == HMB_OUT_SPLICED && res->hmb_pay == st->pay
            && !res->duplicate) {
            t->settled++;
        }
        else {
            failed(t, "own person", res);
        }
        apr_pool_destroy(p);
    }
    /* one person, a claim from every clerk at once */
    pthread_barrier_wait(&st->go);
    apr_pool_create(&p, cp);
    res = settle(p, hmb_ledger_wrap(p, drv, h, cp), st, SHARED,
                 apr_psprintf(p, "SH%02d", t->n));
    if (res->outcome == HMB_OUT_SPLICED && !res->duplicate) {
        t->shared_paid = res->hmb_pay;
    }
    else {
        failed(t, "shared person", res);
    }
    apr_pool_destroy(p);
    /* the same settlement from every clerk at once */
    pthread_barrier_wait(&st->go);
    apr_pool_create(&p, cp);
    res = settle(p, hmb_ledger_wrap(p, drv, h, cp), st, DUP, "SDUP");
    if (res->outcome == HMB_OUT_SPLICED && res->hmb_pay == st->pay) {
        t->dups += res->duplicate;
    }
    else {
        failed(t, "the same settlement", res);
    }
    apr_pool_destroy(p);
    conn_close(&c);
    return NULL;
}

static void run_clerks(gt_state_t *st)
{
    gt_thread_t t[THREADS];
    hmb_fen_t shared = 0;
    int i, settled = 0, dups = 0;

    memset(t, 0, sizeof(t));
    for (i = 0; i < THREADS; i++) {
        t[i].st = st;
        t[i].n = i;
        assert_int_equal(pthread_create(&t[i].tid, NULL, clerk, &t[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i].tid, NULL);
    }
    for (i = 0; i < THREADS; i++) {
        if (t[i].failed[0]) {
            fail_msg("clerk %d: %s", i, t[i].failed);
        }
        settled += t[i].settled;
        dups += t[i].dups;
        shared += t[i].shared_paid;
    }
    assert_int_equal(settled, THREADS * EACH);
    /* whatever the order, the person's claims add up as one after the
     * other, numbered 1 to THREADS */
    assert_int_equal(shared, st->shared_total);
    assert_int_equal(count(st, "SELECT sum(paid_amt) FROM hmb_total WHERE"
                               " psn_no = '" SHARED "'"), st->shared_total);
    assert_int_equal(count(st, apr_psprintf(st->p, "SELECT count(DISTINCT"
                                            " psn_seq) FROM hmb_claim WHERE"
                                            " psn_no = '" SHARED "' AND"
                                            " psn_seq BETWEEN 1 AND %d",
                                            THREADS)), THREADS);
    /* recorded once, the same answer for every clerk */
    assert_int_equal(dups, THREADS - 1);
    assert_int_equal(count(st, "SELECT count(*) FROM hmb_claim WHERE"
                               " setl_id = 'SDUP'"), 1);
    assert_int_equal(count(st, "SELECT count(*) FROM hmb_claim"),
                     THREADS + THREADS * EACH + THREADS + 1);
    assert_int_equal(count(st, "SELECT count(*) FROM hmb_claim_audit"),
                     THREADS + THREADS * EACH + THREADS + 1);
}

static void test_grouped(void **state)
{
    gt_state_t *st = *state;
    apr_uint64_t groups, jobs;

    hmb_ledger_group_counts(&groups, &jobs);
    assert_int_equal(jobs, 0);
    hmb_ledger_group_commit(1);
    run_clerks(st);
    /* every one of them went through the groups: the duplicates too */
    hmb_ledger_group_counts(&groups, &jobs);
    assert_int_equal(jobs, THREADS * EACH + 2 * THREADS);
    assert_true(groups >= 1 && groups <= jobs);
}

static void test_alone(void **state)
{
    gt_state_t *st = *state;
    apr_uint64_t groups, jobs, groups2, jobs2;

    hmb_ledger_group_counts(&groups, &jobs);
    hmb_ledger_group_commit(0);
    run_clerks(st);
    hmb_ledger_group_counts(&groups2, &jobs2);
    assert_int_equal(jobs2, jobs);
    assert_int_equal(groups2, groups);
}

/* ---- a group whose COMMIT fails ---------------------------------------- */

typedef struct {
    gt_state_t *st;
    int role;                       /* 0 leads, 1 settles, 2 repeats it,
                                     * 3 ends the group's transaction */
    pthread_t tid;
    hmb_settle_result_t *res;
    const char *err;
    int ran;
} gt_job_t;

static volatile int gt_called;

/* The first in the group: it holds the group until the others queued. */
static void lead_fn(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < 300 && gt_called < 3; i++) {
        apr_sleep(apr_time_from_msec(10));
    }
    apr_sleep(apr_time_from_msec(200));
}

/* The last: what a failed COMMIT looks like (here: nothing left to
 * commit), after the others of its group answered. */
static void rollback_fn(void *arg)
{
    hmb_ledger_t *l = arg;
    int n;

    apr_dbd_query(l->driver, l->handle, &n, "ROLLBACK");
}

static void *group_job(void *arg)
{
    gt_job_t *j = arg;
    gt_conn_t c;
    apr_pool_t *p;
    hmb_ledger_t *l;

    assert_true(conn_open(j->st, &c));
    apr_pool_create(&p, c.cp);
    l = hmb_ledger_wrap(p, c.drv, c.h, c.cp);
    if (j->role > 0) {
        /* in this order behind the leader */
        apr_sleep(apr_time_from_msec(200 * j->role));
        __sync_fetch_and_add(&gt_called, 1);
    }
    if (j->role == 1 || j->role == 2) {
        j->res = settle(p, l, j->st, DUP, "SFAIL");
    }
    else {
        j->err = hmb_ledger_group_run(l, p, j->role ? rollback_fn : lead_fn,
                                      l, &j->ran);
    }
    apr_pool_destroy(p);
    conn_close(&c);
    return NULL;
}

/* Nobody is answered from a group that did not reach the disk: the one
 * that recorded the settlement is deferred, and so is the repeat that was
 * answered from it before the COMMIT. */
static void test_commit_fails(void **state)
{
    gt_state_t *st = *state;
    gt_job_t j[4];
    apr_uint64_t groups, jobs, groups2, jobs2;
    int i;

    hmb_ledger_group_commit(1);
    hmb_ledger_group_counts(&groups, &jobs);
    gt_called = 0;
    memset(j, 0, sizeof(j));
    for (i = 0; i < 4; i++) {
        j[i].st = st;
        j[i].role = i;
        assert_int_equal(pthread_create(&j[i].tid, NULL, group_job, &j[i]),
                         0);
        if (!i) {
            apr_sleep(apr_time_from_msec(50));
        }
    }
    for (i = 0; i < 4; i++) {
        pthread_join(j[i].tid, NULL);
    }
    hmb_ledger_group_counts(&groups2, &jobs2);
    /* the four in one group */
    assert_int_equal(groups2 - groups, 1);
    assert_int_equal(jobs2 - jobs, 4);
    assert_non_null(j[0].err);
    assert_int_equal(j[0].ran, 1);
    assert_non_null(j[3].err);
    assert_int_equal(j[1].res->outcome, HMB_OUT_DEFERRED);
    assert_int_equal(j[1].res->hmb_pay, 0);
    assert_int_equal(j[2].res->outcome, HMB_OUT_DEFERRED);
    assert_int_equal(j[2].res->hmb_pay, 0);
    assert_false(j[2].res->duplicate);
    assert_int_equal(count(st, "SELECT count(*) FROM hmb_claim WHERE"
                               " setl_id = 'SFAIL'"), 0);
    /* and the next group is whole again */
    run_clerks(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_fails, setup, teardown),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a lost wake-up hangs instead of failing: not for ever */
    alarm(600);
    apr_initialize();
    atexit(apr_terminate);
    hmb_xml_init();
    return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
