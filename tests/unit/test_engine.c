/* The payout engine, rule by rule, on plans and messages built here by
 * hand so that the engine is tested alone (no files, no parser). */
#include "hmb_test.h"
#include "hmb_engine.h"

#define Y(x) ((hmb_fen_t)(x) * 100)     /* whole yuan to fen */

static apr_pool_t *pool;

static hmb_liability_t *add_liab(hmb_plan_t *plan, const char *code,
                                 hmb_basis_e basis, const char *pool_name,
                                 hmb_fen_t deductible, hmb_ratio_t ratio,
                                 hmb_fen_t cap)
{
    hmb_liability_t *l = apr_array_push(plan->liabilities);
    memset(l, 0, sizeof(*l));
    l->code = code;
    l->basis = basis;
    l->pool = pool_name;
    l->deductible = deductible;
    l->ratio = ratio;
    l->cap = cap;
    l->classes = apr_array_make(pool, 1, sizeof(hmb_class_t));
    return l;
}

static void add_code(hmb_liability_t *l, const char *code)
{
    if (!l->codes) {
        l->codes = apr_hash_make(pool);
    }
    apr_hash_set(l->codes, code, APR_HASH_KEY_STRING, "item");
}

static void add_insurer(hmb_plan_t *plan, const char *code, hmb_ratio_t s)
{
    hmb_insurer_t *i = apr_array_push(plan->insurers);
    i->code = code;
    i->name = code;
    i->share = s;
}

static void add_medtype(hmb_plan_t *plan, const char *code,
                        const char *disease)
{
    hmb_medtype_t *mt = apr_pcalloc(pool, sizeof(*mt));
    mt->code = code;
    if (disease) {
        mt->diseases = apr_hash_make(pool);
        apr_hash_set(mt->diseases, disease, APR_HASH_KEY_STRING, "");
    }
    apr_hash_set(plan->med_types, code, APR_HASH_KEY_STRING, mt);
}

/* DOMAIN.md's worked example plan. */
static hmb_plan_t *example_plan(void)
{
    hmb_plan_t *plan = apr_pcalloc(pool, sizeof(*plan));
    hmb_liability_t *l;

    plan->code = "YCHMB";
    plan->name = "宜春惠民保";
    plan->year = 2024;
    plan->version = 1;
    plan->from = "2024-01-01";
    plan->to = "2024-12-31";
    plan->med_types = apr_hash_make(pool);
    plan->institutions = apr_hash_make(pool);
    plan->all_institutions = 1;
    plan->liabilities = apr_array_make(pool, 4, sizeof(hmb_liability_t));
    plan->insurers = apr_array_make(pool, 4, sizeof(hmb_insurer_t));
    add_medtype(plan, "21", NULL);
    add_medtype(plan, "22", NULL);
    add_medtype(plan, "14", "M03900");
    l = add_liab(plan, "inscope", HMB_BASIS_INSCOPE_SELFPAY, "A", Y(15000),
                 7000, Y(1000000));
    l->has_preexisting_ratio = 1;
    l->preexisting_ratio = 3500;
    add_liab(plan, "outscope", HMB_BASIS_OUTSCOPE_SELFPAY, "B", Y(15000),
             6000, Y(1000000));
    add_insurer(plan, "PICC", 4000);
    add_insurer(plan, "CLIC", 3500);
    add_insurer(plan, "PAIC", 2500);
    return plan;
}

static hmb_enrollment_t *enrolled(const char *psn_no)
{
    hmb_enrollment_t *e = apr_pcalloc(pool, sizeof(*e));
    e->plan_code = "YCHMB";
    e->plan_year = 2024;
    e->psn_no = psn_no;
    e->cover_from = "2024-01-01";
    e->payer = "account";
    e->premium = 6900;
    return e;
}

static hmb_response_t *message(hmb_fen_t psn_part, hmb_fen_t fulamt,
                               hmb_fen_t overlmt)
{
    hmb_response_t *r = apr_pcalloc(pool, sizeof(*r));
    r->actionable = 1;
    r->infcode = "0";
    r->psn_no = "36090000000000000001";
    r->setl_id = "S1";
    r->mdtrt_id = "M1";
    r->setl_time = "2024-05-01 10:00:00";
    r->med_type = "21";
    r->psn_insu_stas = 1;
    r->medfee_sumamt = Y(120000);
    r->fulamt_ownpay_amt = fulamt;
    r->overlmt_selfpay = overlmt;
    r->psn_part_amt = psn_part;
    r->has_psn_part_amt = 1;
    r->psn_cash_pay = psn_part - Y(3000);
    r->has_psn_cash_pay = 1;
    r->fees = apr_array_make(pool, 4, sizeof(hmb_fee_t));
    return r;
}

static void add_fee(hmb_response_t *r, const char *code, hmb_fen_t fulamt,
                    hmb_fen_t overlmt)
{
    hmb_fee_t *f = apr_array_push(r->fees);
    f->feedetl_sn = code;
    f->med_list_codg = code;
    f->fulamt_ownpay_amt = fulamt;
    f->overlmt_amt = overlmt;
    r->has_fee_detail = 1;
}

static hmb_decision_t *decide(hmb_plan_t *plan, hmb_enrollment_t *e,
                              hmb_ytd_t *ytd, hmb_response_t *r)
{
    hmb_engine_input_t in;
    memset(&in, 0, sizeof(in));
    in.tx = HMB_TX_SETTLE;
    in.plan = plan;
    in.enrollment = e;
    in.ytd = ytd;
    in.resp = r;
    in.fixmedins_code = "H36090200001";
    in.plans_until = "2024-12-31";
    return hmb_engine_decide(pool, &in);
}

static const hmb_liab_result_t *liab(const hmb_decision_t *d, int i)
{
    assert_true(i < d->liabs->nelts);
    return &((const hmb_liab_result_t *)d->liabs->elts)[i];
}

static const hmb_insurer_result_t *insurer(const hmb_decision_t *d, int i)
{
    assert_true(i < d->insurers->nelts);
    return &((const hmb_insurer_result_t *)d->insurers->elts)[i];
}

static int setup(void **state)
{
    return apr_pool_create(&pool, NULL) == APR_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

static void test_worked_example_first(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_decision_t *d = decide(plan, enrolled("36090000000000000001"), NULL,
                               message(Y(48000), Y(20000), 0));

    assert_int_equal(d->stas, HMB_STAS_PAID);
    assert_int_equal(d->rea, HMB_REA_NONE);
    assert_int_equal(d->hmb_pay, Y(12100));
    assert_int_equal(liab(d, 0)->elig_amt, Y(28000));
    assert_int_equal(liab(d, 0)->dedc_amt, Y(15000));
    assert_int_equal(liab(d, 0)->pay_prop, 7000);
    assert_int_equal(liab(d, 0)->pay_amt, Y(9100));
    assert_int_equal(liab(d, 0)->cum_elig_amt, Y(28000));
    assert_int_equal(liab(d, 0)->dedc_left, 0);
    assert_int_equal(liab(d, 0)->cap_left, Y(990900));
    assert_int_equal(liab(d, 1)->elig_amt, Y(20000));
    assert_int_equal(liab(d, 1)->dedc_amt, Y(15000));
    assert_int_equal(liab(d, 1)->pay_amt, Y(3000));
    assert_int_equal(liab(d, 1)->cap_left, Y(997000));
    assert_int_equal(insurer(d, 0)->pay_amt, Y(4840));
    assert_int_equal(insurer(d, 1)->pay_amt, Y(4235));
    assert_int_equal(insurer(d, 2)->pay_amt, Y(3025));
    assert_int_equal(d->psn_part_amt_aft, Y(35900));
    assert_int_equal(d->psn_cash_pay_aft, Y(32900));
    assert_string_equal(d->memo,
        "宜春惠民保：医保内自付28000.00元，扣除年度起付线15000.00元后按70%"
        "赔付9100.00元；医保外自费20000.00元，扣除起付线15000.00元后按60%"
        "赔付3000.00元；合计12100.00元。");
}

static void test_worked_example_second(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_ytd_t *ytd = hmb_ytd_make(pool, plan);
    hmb_decision_t *d;

    ytd->elig[0] = Y(28000);
    ytd->paid[0] = Y(9100);
    ytd->elig[1] = Y(20000);
    ytd->paid[1] = Y(3000);
    ytd->plan_paid = Y(12100);
    d = decide(plan, enrolled("36090000000000000001"), ytd,
               message(Y(10000), 0, 0));
    assert_int_equal(d->hmb_pay, Y(7000));
    assert_int_equal(liab(d, 0)->elig_amt, Y(10000));
    assert_int_equal(liab(d, 0)->dedc_amt, 0);
    assert_int_equal(liab(d, 0)->pay_amt, Y(7000));
    assert_int_equal(liab(d, 0)->cum_elig_amt, Y(38000));
    assert_int_equal(liab(d, 1)->elig_amt, 0);
    assert_int_equal(liab(d, 1)->pay_amt, 0);
    assert_int_equal(liab(d, 1)->cum_elig_amt, Y(20000));
}

static void test_presettle_status(void **state)
{
    hmb_engine_input_t in;
    hmb_decision_t *d;

    memset(&in, 0, sizeof(in));
    in.tx = HMB_TX_PRESETTLE;
    in.plan = example_plan();
    in.enrollment = enrolled("36090000000000000001");
    in.resp = message(Y(48000), Y(20000), 0);
    d = hmb_engine_decide(pool, &in);
    assert_int_equal(d->stas, HMB_STAS_PRESETTLED);
    assert_int_equal(d->hmb_pay, Y(12100));
}

static void test_under_deductible(void **state)
{
    hmb_decision_t *d = decide(example_plan(),
                               enrolled("36090000000000000001"), NULL,
                               message(Y(3000), 0, 0));
    assert_int_equal(d->stas, HMB_STAS_PAID);
    assert_int_equal(d->hmb_pay, 0);
    assert_int_equal(liab(d, 0)->dedc_amt, Y(3000));
    assert_int_equal(liab(d, 0)->dedc_left, Y(12000));
    assert_non_null(strstr(d->memo, "计入年度起付线（尚余12000.00元）"));
}

static void test_eligibility_reasons(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_enrollment_t *e = enrolled("36090000000000000001");
    hmb_response_t *r;
    hmb_decision_t *d;

    /* no plan for the date, within the years plans are loaded for */
    d = decide(NULL, e, NULL, message(Y(48000), 0, 0));
    assert_int_equal(d->stas, HMB_STAS_INELIGIBLE);
    assert_string_equal(hmb_rea_name(d->rea), "outside_period");
    assert_int_equal(d->hmb_pay, 0);

    /* after the last day any loaded plan covers: the plan is not there
     * yet, which is no refusal (DOMAIN.md: deferred, no_plan) */
    {
        hmb_engine_input_t in;
        hmb_response_t *m = message(Y(48000), 0, 0);

        memset(&in, 0, sizeof(in));
        in.tx = HMB_TX_SETTLE;
        in.enrollment = e;
        in.resp = m;
        in.plans_until = "2023-12-31";
        d = hmb_engine_decide(pool, &in);
        assert_int_equal(d->stas, HMB_STAS_DEFERRED);
        assert_string_equal(hmb_rea_name(d->rea), "no_plan");
        assert_int_equal(d->hmb_pay, 0);
        assert_int_equal(d->psn_part_amt_aft, Y(48000));
        assert_non_null(strstr(d->memo, m->setl_time ? "尚未载入" : "-"));
        in.plans_until = NULL;          /* no plan loaded at all */
        assert_int_equal(hmb_engine_decide(pool, &in)->rea, HMB_REA_NO_PLAN);
        in.tx = HMB_TX_PRESETTLE;
        assert_int_equal(hmb_engine_decide(pool, &in)->stas,
                         HMB_STAS_DEFERRED);
        in.plans_until = "2024-12-31";  /* a gap, not a new year */
        assert_int_equal(hmb_engine_decide(pool, &in)->rea,
                         HMB_REA_OUTSIDE_PERIOD);
    }
    assert_int_equal(d->psn_part_amt_aft, Y(48000));

    r = message(Y(48000), 0, 0);
    r->setl_time = "2025-01-01 00:00:01";
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea), "outside_period");

    d = decide(plan, NULL, NULL, message(Y(48000), 0, 0));
    assert_string_equal(hmb_rea_name(d->rea), "not_enrolled");
    assert_string_equal(d->memo, "未参加本年度宜春惠民保");
    /* enrolled, but someone else */
    d = decide(plan, enrolled("36090000000000000002"), NULL,
               message(Y(48000), 0, 0));
    assert_string_equal(hmb_rea_name(d->rea), "not_enrolled");

    e->cover_from = "2024-06-01";
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, message(Y(48000), 0, 0))
                        ->rea), "not_covered_date");
    e->cover_from = "2024-05-01";
    assert_int_equal(decide(plan, e, NULL, message(Y(48000), 0, 0))->rea, HMB_REA_NONE);

    r = message(Y(48000), 0, 0);
    r->psn_insu_stas = 2;
    d = decide(plan, e, NULL, r);
    assert_string_equal(hmb_rea_name(d->rea), "basic_suspended");
    assert_string_equal(d->memo, "基本医疗保险暂停参保，暂不享受惠民保待遇");
    r->psn_insu_stas = -1;          /* not reported: not held against */
    assert_int_equal(decide(plan, e, NULL, r)->rea, HMB_REA_NONE);

    r = message(Y(48000), 0, 0);
    r->med_type = "11";             /* ordinary outpatient */
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "visit_not_covered");
    r->med_type = "14";             /* chronic disease: listed ones only */
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "visit_not_covered");
    r->dise_codg = "M03900";
    assert_int_equal(decide(plan, e, NULL, r)->rea, HMB_REA_NONE);

    plan->all_institutions = 0;
    apr_hash_set(plan->institutions, "H1", APR_HASH_KEY_STRING, "");
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, message(Y(48000), 0, 0))
                        ->rea), "institution_not_covered");
    apr_hash_set(plan->institutions, "H36090200001", APR_HASH_KEY_STRING, "");
    assert_int_equal(decide(plan, e, NULL, message(Y(48000), 0, 0))->rea, HMB_REA_NONE);
}

static void test_eligibility_order(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_enrollment_t *e = enrolled("36090000000000000001");
    hmb_response_t *r = message(Y(48000), 0, 0);

    /* everything wrong at once: the first check in DOMAIN.md's order wins */
    r->psn_insu_stas = 4;
    r->med_type = "11";
    plan->all_institutions = 0;
    e->cover_from = "2024-12-01";
    assert_string_equal(hmb_rea_name(decide(plan, NULL, NULL, r)->rea),
                        "not_enrolled");
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "not_covered_date");
    e->cover_from = "2024-01-01";
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "basic_suspended");
    r->psn_insu_stas = 1;
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "visit_not_covered");
    r->med_type = "22";
    assert_string_equal(hmb_rea_name(decide(plan, e, NULL, r)->rea),
                        "institution_not_covered");
}

static void test_preexisting_and_class(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *l = &((hmb_liability_t *)plan->liabilities->elts)[0];
    hmb_class_t *c = apr_array_push(l->classes);
    hmb_enrollment_t *e = enrolled("36090000000000000001");
    hmb_decision_t *d;

    c->code = "hardship";
    c->has_deductible = 1;
    c->deductible = Y(7500);
    c->has_ratio = 1;
    c->ratio = 8000;

    e->preexisting = 1;
    d = decide(plan, e, NULL, message(Y(28000), 0, 0));
    /* (28000 - 15000) x 0.35 */
    assert_int_equal(liab(d, 0)->pay_prop, 3500);
    assert_int_equal(d->hmb_pay, Y(4550));

    e->person_class = "hardship";
    d = decide(plan, e, NULL, message(Y(28000), 0, 0));
    /* class D and r win over the pre-existing ratio: (28000-7500) x 0.80 */
    assert_int_equal(liab(d, 0)->deductible, Y(7500));
    assert_int_equal(liab(d, 0)->pay_prop, 8000);
    assert_int_equal(d->hmb_pay, Y(16400));

    /* a class that only lowers the deductible keeps the pre-existing ratio */
    c->has_ratio = 0;
    d = decide(plan, e, NULL, message(Y(28000), 0, 0));
    assert_int_equal(d->hmb_pay, Y(7175));   /* 20500 x 0.35 */

    /* the other liability has no such class: plan values */
    d = decide(plan, e, NULL, message(Y(48000), Y(20000), 0));
    assert_int_equal(liab(d, 1)->deductible, Y(15000));
    assert_int_equal(liab(d, 1)->pay_amt, Y(3000));
}

static void test_shared_pool(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *ls = (hmb_liability_t *)plan->liabilities->elts;
    hmb_ytd_t *ytd = hmb_ytd_make(pool, plan);
    hmb_decision_t *d;

    ls[1].pool = "A";
    /* inscope e=10000 takes 10000 of D; outscope e=8000 takes the 5000
     * left: base 3000 x 0.60 = 1800 */
    d = decide(plan, enrolled("36090000000000000001"), NULL,
               message(Y(18000), Y(8000), 0));
    assert_int_equal(liab(d, 0)->dedc_amt, Y(10000));
    assert_int_equal(liab(d, 0)->dedc_left, Y(5000));
    assert_int_equal(liab(d, 1)->dedc_amt, Y(5000));
    assert_int_equal(liab(d, 1)->dedc_left, 0);
    assert_int_equal(liab(d, 1)->pay_amt, Y(1800));
    assert_int_equal(d->hmb_pay, Y(1800));

    /* earlier this year 12000 counted in pool A (by the other liability) */
    ytd->elig[1] = Y(12000);
    d = decide(plan, enrolled("36090000000000000001"), ytd,
               message(Y(10000), 0, 0));
    assert_int_equal(liab(d, 0)->dedc_amt, Y(3000));
    assert_int_equal(liab(d, 0)->pay_amt, Y(4900));
}

static void test_caps(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *ls = (hmb_liability_t *)plan->liabilities->elts;
    hmb_ytd_t *ytd = hmb_ytd_make(pool, plan);
    hmb_decision_t *d;

    ls[0].cap = Y(10000);
    ytd->elig[0] = Y(30000);
    ytd->paid[0] = Y(9000);
    ytd->plan_paid = Y(9000);
    d = decide(plan, enrolled("36090000000000000001"), ytd,
               message(Y(5000), 0, 0));
    assert_int_equal(liab(d, 0)->pay_amt, Y(1000));
    assert_int_equal(liab(d, 0)->cap_left, 0);
    assert_non_null(strstr(d->memo, "已达封顶线"));

    /* already at the cap */
    ytd->paid[0] = Y(10000);
    d = decide(plan, enrolled("36090000000000000001"), ytd,
               message(Y(5000), 0, 0));
    assert_int_equal(d->hmb_pay, 0);

    /* plan-wide cap: 2000 left for both liabilities together */
    plan = example_plan();
    ytd = hmb_ytd_make(pool, plan);
    plan->has_cap = 1;
    plan->cap = Y(50000);
    ytd->elig[0] = Y(100000);
    ytd->elig[1] = Y(100000);
    ytd->paid[0] = Y(40000);
    ytd->paid[1] = Y(5000);
    ytd->plan_paid = Y(48000);      /* includes a retired liability */
    d = decide(plan, enrolled("36090000000000000001"), ytd,
               message(Y(10000), Y(5000), 0));
    /* inscope 5000 x 0.7 = 3500 -> 2000; outscope 5000 x 0.6 -> 0 */
    assert_int_equal(liab(d, 0)->pay_amt, Y(2000));
    assert_int_equal(liab(d, 1)->pay_amt, 0);
    assert_int_equal(d->hmb_pay, Y(2000));
}

static void test_rounding_once_per_liability(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *ls = (hmb_liability_t *)plan->liabilities->elts;
    hmb_decision_t *d;

    ls[0].deductible = 0;
    ls[1].deductible = 0;
    ls[0].ratio = 5000;
    ls[1].ratio = 5000;
    /* inscope 0.05 x 0.5 = 0.025 -> 0.03; outscope 0.05 x 0.5 -> 0.03:
     * 0.06, not round(0.05) = 0.05 on the sum */
    d = decide(plan, enrolled("36090000000000000001"), NULL,
               message(10, 5, 0));
    assert_int_equal(liab(d, 0)->pay_amt, 3);
    assert_int_equal(liab(d, 1)->pay_amt, 3);
    assert_int_equal(d->hmb_pay, 6);
    /* insurers still add up: 0.06 x (0.40, 0.35, 0.25) = 2.4, 2.1, 1.5 ->
     * 2, 2, 1 + one fen to 0.5 */
    assert_int_equal(insurer(d, 0)->pay_amt, 2);
    assert_int_equal(insurer(d, 1)->pay_amt, 2);
    assert_int_equal(insurer(d, 2)->pay_amt, 2);
}

static void test_catalog_and_list(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *ls = (hmb_liability_t *)plan->liabilities->elts;
    hmb_liability_t *drug;
    hmb_response_t *r;
    hmb_decision_t *d;

    ls[1].basis = HMB_BASIS_OUTSCOPE_CATALOG;
    ls[1].deductible = 0;
    ls[1].without_detail_all = 1;
    add_code(&ls[1], "C1");
    add_code(&ls[1], "D1");         /* also a special drug: list wins */
    drug = add_liab(plan, "drug", HMB_BASIS_LIST, "C", 0, 7000, Y(1000000));
    add_code(drug, "D1");
    ls = (hmb_liability_t *)plan->liabilities->elts;

    /* out of scope 9000 = C1 3000 + D1 (4000 + 1000 over limit) + X 1000 */
    r = message(Y(20000), Y(8000), Y(1000));
    add_fee(r, "C1", Y(3000), 0);
    add_fee(r, "D1", Y(4000), Y(1000));
    add_fee(r, "X", Y(1000), 0);
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 0)->elig_amt, Y(11000));   /* 20000 - 9000 */
    assert_int_equal(liab(d, 1)->elig_amt, Y(3000));    /* C1 only */
    assert_int_equal(liab(d, 1)->pay_amt, Y(1800));
    assert_int_equal(liab(d, 2)->elig_amt, Y(5000));    /* D1 */
    assert_int_equal(liab(d, 2)->pay_amt, Y(3500));

    /* outscope-selfpay takes outscope_total less the list items */
    ls[1].basis = HMB_BASIS_OUTSCOPE_SELFPAY;
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 1)->elig_amt, Y(4000));
    assert_int_equal(liab(d, 2)->elig_amt, Y(5000));

    /* without fee detail: catalog per without-detail, list nothing */
    ls[1].basis = HMB_BASIS_OUTSCOPE_CATALOG;
    r = message(Y(20000), Y(8000), Y(1000));
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 1)->elig_amt, Y(9000));
    assert_int_equal(liab(d, 2)->elig_amt, 0);
    ls[1].without_detail_all = 0;
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 1)->elig_amt, 0);

    /* a refund line cannot make an amount negative */
    r = message(Y(20000), Y(1000), 0);
    add_fee(r, "D1", -Y(2000), 0);
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 2)->elig_amt, 0);

    /* ... nor raise another basis (DOMAIN.md rule 4): out of scope 20000
     * with a drug refund of 5000 stays 20000 for outscope-selfpay, where
     * taking the list's negative sum off would make it 25000 */
    ls[1].basis = HMB_BASIS_OUTSCOPE_SELFPAY;
    r = message(Y(48000), Y(20000), 0);
    add_fee(r, "D1", -Y(5000), 0);
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 1)->elig_amt, Y(20000));
    assert_int_equal(liab(d, 2)->elig_amt, 0);
    /* a list with a refund and a charge nets within itself */
    add_fee(r, "D1", Y(7000), 0);
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(liab(d, 2)->elig_amt, Y(2000));
    assert_int_equal(liab(d, 1)->elig_amt, Y(18000));
}

static void test_burden_bounds(void **state)
{
    hmb_plan_t *plan = example_plan();
    hmb_liability_t *ls = (hmb_liability_t *)plan->liabilities->elts;
    hmb_response_t *r;
    hmb_decision_t *d;

    ls[0].deductible = 0;
    ls[1].deductible = 0;
    ls[0].ratio = 10000;
    ls[1].ratio = 10000;
    /* inconsistent upstream: out-of-scope above what the patient owes */
    r = message(Y(1000), Y(3000), 0);
    d = decide(plan, enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(d->burden, Y(1000));
    assert_int_equal(d->hmb_pay, Y(1000));
    assert_int_equal(d->psn_part_amt_aft, 0);

    /* no psn_part_amt: medfee_sumamt - fund_pay_sumamt */
    r = message(0, 0, 0);
    r->has_psn_part_amt = 0;
    r->has_psn_cash_pay = 0;
    r->medfee_sumamt = Y(50000);
    r->fund_pay_sumamt = Y(30000);
    d = decide(example_plan(), enrolled("36090000000000000001"), NULL, r);
    assert_int_equal(d->burden, Y(20000));
    assert_int_equal(d->hmb_pay, Y(3500));
    assert_int_equal(d->psn_part_amt_aft, Y(16500));
    assert_int_equal(d->psn_cash_pay_aft, Y(16500));
}

static void test_nothing_eligible_memo(void **state)
{
    hmb_decision_t *d = decide(example_plan(),
                               enrolled("36090000000000000001"), NULL,
                               message(0, 0, 0));
    assert_int_equal(d->hmb_pay, 0);
    assert_string_equal(d->memo, "宜春惠民保：本次无可赔付费用，赔付0.00元。");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example_first),
        cmocka_unit_test(test_worked_example_second),
        cmocka_unit_test(test_presettle_status),
        cmocka_unit_test(test_under_deductible),
        cmocka_unit_test(test_eligibility_reasons),
        cmocka_unit_test(test_eligibility_order),
        cmocka_unit_test(test_preexisting_and_class),
        cmocka_unit_test(test_shared_pool),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_rounding_once_per_liability),
        cmocka_unit_test(test_catalog_and_list),
        cmocka_unit_test(test_burden_bounds),
        cmocka_unit_test(test_nothing_eligible_memo),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("engine", tests, setup, teardown);
}
