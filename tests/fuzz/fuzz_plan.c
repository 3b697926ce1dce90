/* fuzz_plan: a plan file from memory (hmb_plan_load_mem). The input is
 * the plan's XML; catalog and list paths resolve in a directory holding
 * every CSV file of conf/plans and tests/fixtures/plans, good and bad.
 * A plan that loads must be one the engine can use without further
 * checks (hmb_plan.c says so), so it is checked against INTERFACES.md
 * section 3 and then priced on three fixed settlements, whose decisions
 * must keep DOMAIN.md's rules like any other. */
#include <string.h>
#include <apr_file_info.h>
#include <apr_strings.h>

#include "fuzz_common.h"
#include "hmb_util.h"

static const char *const csv_dirs[] = {"conf/plans", "tests/fixtures/plans"};

static const char *const settlements[] = {
    "tests/fixtures/worked-example/2.resp.xml",
    "tests/fixtures/messages/valid/fees.resp.xml",
    "conf/conformance/07-special-drug.resp.xml"
};

static const char *fuzz_base;
static const hmb_response_t *fuzz_resp[3];

/* The catalogs, copied once into the harness's own directory under the
 * build tree, so that a plan's paths resolve and nothing in the source
 * tree is ever opened by name from fuzzed input. */
static const char *fuzz_plan_base(apr_pool_t *p)
{
    apr_size_t i;

    fuzz_base = HMB_FUZZ_WORKDIR "/plan-base";
    if (apr_dir_make_recursive(fuzz_base, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        hmb_fuzz_fail("set-up", "cannot make %s", fuzz_base);
    }
    for (i = 0; i < sizeof(csv_dirs) / sizeof(csv_dirs[0]); i++) {
        const char *dir = apr_pstrcat(p, HMB_SRCDIR, "/", csv_dirs[i], NULL);
        apr_dir_t *d;
        apr_finfo_t fi;

        if (apr_dir_open(&d, dir, p) != APR_SUCCESS) {
            hmb_fuzz_fail("set-up", "cannot read %s", dir);
        }
        while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
               == APR_SUCCESS) {
            apr_size_t n = strlen(fi.name);

            if (fi.filetype != APR_REG || n < 4
                || strcmp(fi.name + n - 4, ".csv") != 0) {
                continue;
            }
            apr_file_copy(apr_pstrcat(p, dir, "/", fi.name, NULL),
                          apr_pstrcat(p, fuzz_base, "/", fi.name, NULL),
                          APR_FPROT_FILE_SOURCE_PERMS, p);
        }
        apr_dir_close(d);
    }
    return fuzz_base;
}

static void fuzz_setup(void)
{
    apr_pool_t *p = hmb_fuzz_init();
    apr_size_t i, len;

    if (fuzz_base) {
        return;
    }
    fuzz_plan_base(p);
    for (i = 0; i < 3; i++) {
        const char *buf = hmb_fuzz_slurp(settlements[i], &len);
        hmb_response_t *rs;
        const char *err = hmb_response_parse(p, buf, len, 0, &rs);

        if (err) {
            hmb_fuzz_fail("set-up", "%s: %s", settlements[i], err);
        }
        fuzz_resp[i] = rs;
    }
}

/* What a plan that loaded promises (INTERFACES.md section 3). */
static void fuzz_check_plan(const hmb_plan_t *pl)
{
    apr_int64_t shares = 0;
    int i, j;

    if (!pl->code || !pl->name || !hmb_date_valid(pl->from)
        || !hmb_date_valid(pl->to) || strcmp(pl->from, pl->to) > 0) {
        hmb_fuzz_fail("plan header", "code, name or period");
    }
    if (pl->has_cap && pl->cap <= 0) {
        hmb_fuzz_fail("plan cap", "%lld", (long long)pl->cap);
    }
    if (pl->liabilities->nelts < 1 || pl->insurers->nelts < 1) {
        hmb_fuzz_fail("plan parts", "%d liabilities, %d insurers",
                      pl->liabilities->nelts, pl->insurers->nelts);
    }
    for (i = 0; i < pl->liabilities->nelts; i++) {
        const hmb_liability_t *l = &APR_ARRAY_IDX(pl->liabilities, i,
                                                  hmb_liability_t);

        if (!l->code || !l->pool || l->cap <= 0 || l->deductible < 0
            || l->ratio < 0 || l->ratio > HMB_RATIO_ONE
            || (l->has_preexisting_ratio
                && (l->preexisting_ratio < 0
                    || l->preexisting_ratio > HMB_RATIO_ONE))) {
            hmb_fuzz_fail("liability", "%s", l->code ? l->code : "(none)");
        }
        if ((l->basis == HMB_BASIS_LIST
             || l->basis == HMB_BASIS_OUTSCOPE_CATALOG)
            && (!l->codes || apr_hash_count(l->codes) == 0)) {
            hmb_fuzz_fail("liability codes", "%s has no codes", l->code);
        }
        for (j = 0; j < i; j++) {
            const hmb_liability_t *o = &APR_ARRAY_IDX(pl->liabilities, j,
                                                      hmb_liability_t);
            if (strcmp(o->code, l->code) == 0) {
                hmb_fuzz_fail("liability codes unique", "%s", l->code);
            }
            if (strcmp(o->pool, l->pool) == 0
                && o->deductible != l->deductible) {
                hmb_fuzz_fail("one deductible per pool", "%s and %s",
                              o->code, l->code);
            }
        }
    }
    for (i = 0; i < pl->insurers->nelts; i++) {
        const hmb_insurer_t *in = &APR_ARRAY_IDX(pl->insurers, i,
                                                 hmb_insurer_t);
        if (in->share < 0 || in->share > HMB_RATIO_ONE) {
            hmb_fuzz_fail("insurer share", "%s", in->code);
        }
        shares += in->share;
    }
    if (shares != HMB_RATIO_ONE) {
        hmb_fuzz_fail("shares add up to 1", "%lld/10000", (long long)shares);
    }
}

static void fuzz_price(apr_pool_t *p, const hmb_plan_t *plan)
{
    static const char *const classes[] = {NULL, NULL, "hardship"};
    int i, k;

    for (i = 0; i < 3; i++) {
        for (k = 0; k < 3; k++) {
            hmb_enrollment_t e;
            hmb_engine_input_t in;
            hmb_ytd_t *ytd = hmb_ytd_make(p, plan);
            int l;

            memset(&e, 0, sizeof(e));
            e.plan_code = plan->code;
            e.plan_year = plan->year;
            e.psn_no = fuzz_resp[i]->psn_no;
            e.cover_from = plan->from;
            e.preexisting = k == 1;
            e.person_class = classes[k];
            /* the second pricing of each starts part-way through the
             * year: some deductible met, some of each cap used */
            for (l = 0; k == 2 && l < plan->liabilities->nelts; l++) {
                ytd->elig[l] = 1000000;
                ytd->paid[l] = 500000;
                ytd->plan_paid += 500000;
            }
            memset(&in, 0, sizeof(in));
            in.tx = HMB_TX_SETTLE;
            in.plan = plan;
            in.enrollment = &e;
            in.ytd = ytd;
            in.resp = fuzz_resp[i];
            in.fixmedins_code = "H36090200001";
            hmb_fuzz_check_decision(&in, hmb_engine_decide(p, &in));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    hmb_plan_t *plan;

    fuzz_setup();
    apr_pool_create(&p, hmb_fuzz_init());
    if (hmb_plan_load_mem(p, "fuzz-plan.xml", fuzz_base,
                          (const char *)data, size, &plan) == NULL) {
        fuzz_check_plan(plan);
        fuzz_price(p, plan);
    }
    apr_pool_destroy(p);
    return 0;
}
