/* Supervision flags (hmb_flags.c): each threshold on its own, at its
 * boundary, and none without <supervision>; a plan file's thresholds. */
#include "hmb_test.h"
#include "hmb_flags.h"
#include "hmb_rollup.h"

static hmb_response_t *resp(apr_pool_t *p, const char *when)
{
    hmb_response_t *rs = apr_pcalloc(p, sizeof(*rs));

    rs->setl_id = "S9";
    rs->mdtrt_id = "M9";
    rs->psn_no = "36090000000000000001";
    rs->setl_time = when;
    rs->medfee_sumamt = 100000;
    rs->fulamt_ownpay_amt = 30000;
    return rs;
}

static apr_array_header_t *visits(apr_pool_t *p, int n, const char **when)
{
    apr_array_header_t *a = apr_array_make(p, n, sizeof(hmb_visit_t));
    int i;

    for (i = 0; i < n; i++) {
        hmb_visit_t *v = apr_array_push(a);

        v->setl_id = apr_psprintf(p, "S%d", i);
        v->mdtrt_id = apr_psprintf(p, "M%d", i);
        v->setl_time = when[i];
    }
    return a;
}

static void test_each_threshold(void **state)
{
    apr_pool_t *p = *state;
    hmb_supervision_t sup;
    hmb_response_t *rs = resp(p, "2024-05-20 10:00:00");
    const char *two[] = { "2024-05-05 09:00:00", "2024-05-04 23:59:59" };
    const char *three[] = {
        "2024-04-21 00:00:00", "2024-05-01 00:00:00", "2024-05-19 00:00:00"
    };

    memset(&sup, 0, sizeof(sup));
    assert_string_equal(hmb_flags_of(p, &sup, rs, "H44010000001", "360902",
                                     99999999, visits(p, 2, two)), "");
    sup.readmission_days = 15;
    /* 2024-05-05 is 15 days before: in; 05-04 is not */
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0,
                                     visits(p, 2, two)), "readmission");
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0,
                                     visits(p, 1, two + 1)), "");
    memset(&sup, 0, sizeof(sup));
    assert_no_error(hmb_ratio_parse("0.30", &sup.outscope_share));
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0, NULL), "");
    rs->fulamt_ownpay_amt = 30001;
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0, NULL),
                        "outscope_share");
    memset(&sup, 0, sizeof(sup));
    sup.claim_over = 300000;
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 300000, NULL),
                        "");
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 300001, NULL),
                        "large_claim");
    memset(&sup, 0, sizeof(sup));
    sup.claims_in_30_days = 3;
    /* 04-21 is 29 days before 05-20: within the 30 days */
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0,
                                     visits(p, 3, three)), "frequent");
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0,
                                     visits(p, 2, three + 1)), "");
    memset(&sup, 0, sizeof(sup));
    sup.other_county = 1;
    assert_string_equal(hmb_flags_of(p, &sup, rs, "H36090200001", "360902", 0,
                                     NULL), "");
    assert_string_equal(hmb_flags_of(p, &sup, rs, "H44010000001", "360902", 0,
                                     NULL), "other_county");
    assert_string_equal(hmb_flags_of(p, &sup, rs, "H44010000001", "", 0,
                                     NULL), "");
    assert_string_equal(hmb_flags_of(p, &sup, rs, "local-7", "360902", 0,
                                     NULL), "");
}

/* The same visit settled again (its own earlier claim) is no readmission. */
static void test_same_visit(void **state)
{
    apr_pool_t *p = *state;
    hmb_supervision_t sup;
    hmb_response_t *rs = resp(p, "2024-05-20 10:00:00");
    apr_array_header_t *v = visits(p, 1, (const char *[]){
                                       "2024-05-19 00:00:00" });

    memset(&sup, 0, sizeof(sup));
    sup.readmission_days = 30;
    APR_ARRAY_IDX(v, 0, hmb_visit_t).mdtrt_id = "M9";
    assert_string_equal(hmb_flags_of(p, &sup, rs, NULL, NULL, 0, v), "");
    assert_int_equal(hmb_flags_lookback_days(&sup), 30);
    sup.readmission_days = 7;
    sup.claims_in_30_days = 2;
    assert_int_equal(hmb_flags_lookback_days(&sup), 29);
}

static void test_plan_thresholds(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl;

    assert_no_error(hmb_plan_load(p, HMB_FIXTURE("shared/plan.xml"), &pl));
    assert_int_equal(pl->sup.readmission_days, 15);
    assert_int_equal(pl->sup.claims_in_30_days, 3);
    assert_int_equal(pl->sup.claim_over, 300000);
    assert_int_equal(pl->sup.other_county, 1);
    assert_int_equal(pl->sup.outscope_share, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_threshold,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_same_visit, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_plan_thresholds,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };

    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
