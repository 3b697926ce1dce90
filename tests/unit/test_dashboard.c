/* The dashboard's renderers (hmb_dashboard.c) on figures made by hand:
 * values that come from the network are escaped in each format, psn_no
 * is masked, the loss ratio is rounded, the histogram is cumulative. The
 * figures themselves are checked against the claims through apache2 in
 * tests/integration/test_dashboard.c. */
#include "hmb_test.h"
#include <apr_thread_proc.h>
#include "hmb_dashboard.h"

#include <yajl/yajl_tree.h>

static hmb_dash_t *make_dash(apr_pool_t *p, hmb_dash_hist_t *hist)
{
    hmb_dash_t *d = apr_pcalloc(p, sizeof(*d));
    hmb_dash_plan_t *dp;
    hmb_rollup_row_t *r;
    hmb_rollup_claim_t *c;
    hmb_dash_kv_t *kv;
    int k, i;

    d->day = "2024-03-02";
    d->server = "his<1>";
    d->plans = apr_array_make(p, 1, sizeof(hmb_dash_plan_t));
    dp = apr_array_push(d->plans);
    memset(dp, 0, sizeof(*dp));
    dp->code = "YC\"HMB";
    dp->name = "宜春惠民保";
    dp->year = 2024;
    dp->from = "2024-01-01";
    dp->to = "2024-12-31";
    dp->persons = 3;
    dp->premium = 30000;
    for (k = 0; k < HMB_PERIOD_COUNT; k++) {
        dp->period[k].from = k == HMB_PERIOD_YEAR ? NULL : "2024-03-01";
        dp->period[k].to = k == HMB_PERIOD_YEAR ? NULL : "2024-03-02";
        dp->period[k].f.v[HMB_FIG_CLAIMS] = 2;
        dp->period[k].f.v[HMB_FIG_PAYOUT] = 10001;
        dp->period[k].reasons = apr_array_make(p, 1,
                                               sizeof(hmb_rollup_row_t));
    }
    dp->days = apr_array_make(p, 2, sizeof(hmb_rollup_row_t));
    r = apr_array_push(dp->days);
    memset(r, 0, sizeof(*r));
    r->day = "2024-03-01";
    r->f.v[HMB_FIG_PAYOUT] = 10001;
    for (k = 0; k < HMB_DIM_COUNT; k++) {
        dp->by[k] = apr_array_make(p, 1, sizeof(hmb_rollup_row_t));
    }
    r = apr_array_push(dp->by[HMB_DIM_HOSPITAL]);
    memset(r, 0, sizeof(*r));
    r->grp = "<script>x</script>";
    r->f.v[HMB_FIG_PAYOUT] = 10001;
    r = apr_array_push(dp->by[HMB_DIM_INSURER]);
    memset(r, 0, sizeof(*r));
    r->grp = "PI\\CC\n";
    r->f.v[HMB_FIG_PAYOUT] = 4000;
    dp->largest = apr_array_make(p, 1, sizeof(hmb_rollup_claim_t));
    c = apr_array_push(dp->largest);
    memset(c, 0, sizeof(*c));
    c->hmb_setl_id = "HMB-1";
    c->kind = 'S';
    c->setl_id = "S1";
    c->psn_no = "36090000000000000001";
    c->fixmedins_code = "H1";
    c->setl_time = "2024-03-01 10:00:00";
    c->day = "2024-03-01";
    c->admdvs = "360902";
    c->hmb_pay = 10001;
    c->flags = "";
    dp->flagged = apr_array_make(p, 1, sizeof(hmb_rollup_claim_t));
    d->state = apr_array_make(p, 2, sizeof(hmb_dash_kv_t));
    kv = apr_array_push(d->state);
    kv->key = "LedgerState";
    kv->label = "ledger";
    kv->value = "ok (writable)";
    d->counters = apr_array_make(p, 2, sizeof(hmb_dash_kv_t));
    kv = apr_array_push(d->counters);
    kv->key = "PassErrors";
    kv->label = "  bad messages";
    kv->value = "7";
    memset(hist, 0, sizeof(*hist));
    for (i = 0; i < HMB_DASH_BUCKETS; i++) {
        hist->count[i] = 1;
    }
    hist->sum_us = 1500000;
    d->hist = hist;
    return d;
}

static void test_buckets(void **state)
{
    (void)state;
    assert_int_equal(hmb_dash_bucket(0), 0);
    assert_int_equal(hmb_dash_bucket(100), 0);
    assert_int_equal(hmb_dash_bucket(101), 1);
    assert_int_equal(hmb_dash_bucket(1000000), HMB_DASH_BUCKETS - 2);
    assert_int_equal(hmb_dash_bucket(1000001), HMB_DASH_BUCKETS - 1);
}

static void test_loss_ratio(void **state)
{
    (void)state;
    assert_int_equal(hmb_dash_loss_ppm(10001, 30000), 333367);
    assert_int_equal(hmb_dash_loss_ppm(1, 3), 333333);
    assert_int_equal(hmb_dash_loss_ppm(2, 3), 666667);
    assert_int_equal(hmb_dash_loss_ppm(5, 0), -1);
}

static void test_json(void **state)
{
    apr_pool_t *p = *state;
    hmb_dash_hist_t hist;
    const char *js = hmb_dash_json(p, make_dash(p, &hist));
    char err[200];
    yajl_val root = yajl_tree_parse(js, err, sizeof(err));
    const char *code[] = { "plans", NULL };
    const char *ratio[] = { "loss_ratio", NULL };
    const char *grp[] = { "by_insurer", NULL };
    const char *cnt[] = { "filter_time", "count", NULL };
    yajl_val plan, g;

    if (!root) {
        fail_msg("%s: %s", err, js);
    }
    plan = YAJL_GET_ARRAY(yajl_tree_get(root, code, yajl_t_array))
               ->values[0];
    assert_string_equal(YAJL_GET_NUMBER(yajl_tree_get(plan, ratio,
                                                      yajl_t_number)),
                        "0.333367");
    g = YAJL_GET_ARRAY(yajl_tree_get(plan, grp, yajl_t_array))->values[0];
    assert_string_equal(YAJL_GET_STRING(g->u.object.values[0]), "PI\\CC\n");
    assert_string_equal(YAJL_GET_NUMBER(yajl_tree_get(root, cnt,
                                                      yajl_t_number)),
                        "12");
    assert_null(strstr(js, "36090000000000000001"));
    assert_non_null(strstr(js, "\"3609**************01\""));
    yajl_tree_free(root);
}

static void test_prometheus(void **state)
{
    apr_pool_t *p = *state;
    hmb_dash_hist_t hist;
    const char *t = hmb_dash_prometheus(p, make_dash(p, &hist));

    assert_non_null(strstr(t, "huiminbao_year_payout_fen{plan=\"YC\\\"HMB\","
                              "year=\"2024\"} 10001\n"));
    assert_non_null(strstr(t, "insurer=\"PI\\\\CC\\n\"} 4000\n"));
    assert_non_null(strstr(t, "huiminbao_loss_ratio{plan=\"YC\\\"HMB\","
                              "year=\"2024\"} 0.333367\n"));
    assert_non_null(strstr(t, "# HELP huiminbao_filter_pass_errors_total "
                              "bad messages"));
    assert_non_null(strstr(t, "\nhuiminbao_filter_pass_errors_total 7\n"));
    assert_non_null(strstr(t, "_bucket{le=\"0.000250\"} 2\n"));
    assert_non_null(strstr(t, "_bucket{le=\"+Inf\"} 12\n"));
    assert_non_null(strstr(t, "\nhuiminbao_filter_duration_seconds_sum "
                              "1.500000\n"));
    assert_non_null(strstr(t, "\nhuiminbao_ledger_up 1\n"));
}

static void test_html(void **state)
{
    apr_pool_t *p = *state;
    hmb_dash_hist_t hist;
    const char *h = hmb_dash_html(p, make_dash(p, &hist));

    assert_null(strstr(h, "<script>"));
    assert_non_null(strstr(h, "&lt;script&gt;x&lt;/script&gt;"));
    assert_null(strstr(h, "36090000000000000001"));
    assert_non_null(strstr(h, "id=\"YC&quot;HMB-2024-year-payout_fen\" "
                              "data-v=\"10001\">100.01<"));
    assert_non_null(strstr(h, "data-v=\"0.333367\">33.34%<"));
    assert_non_null(strstr(h, "<title>2024-03-01: 100.01</title>"));
}

/* The benchmark (make bench-dashboard) in small: it runs and prints its
 * figures; they are not asserted. */
static void test_bench_small(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "bench");
    const char *argv[] = {
        HMB_BUILDDIR "/tools/hmb_bench_dash", dir, "2000", "2", NULL
    };
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    int code;

    assert_int_equal(apr_procattr_create(&attr, p), APR_SUCCESS);
    assert_int_equal(apr_procattr_cmdtype_set(attr, APR_PROGRAM),
                     APR_SUCCESS);
    assert_int_equal(apr_proc_create(&proc, argv[0], argv, NULL, attr, p),
                     APR_SUCCESS);
    assert_int_equal(apr_proc_wait(&proc, &code, &why, APR_WAIT),
                     APR_CHILD_DONE);
    assert_int_equal(why, APR_PROC_EXIT);
    assert_int_equal(code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_loss_ratio),
        cmocka_unit_test_setup_teardown(test_json, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_prometheus, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_html, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_bench_small, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };

    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
