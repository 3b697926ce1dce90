/* The whole pipeline on the worked example files, against a real SQLite
 * ledger: what hmbctl and the filter both do. */
#include "hmb_test.h"
#include "hmb_settle.h"
#include "hmb_plan.h"
#include "hmb_xml.h"
#include "hmb_money.h"

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *plans;
    hmb_ledger_t *ledger;
    hmb_settle_ctx_t ctx;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    hmb_plan_t *plan;
    const char *err;

    apr_pool_create(&f->p, NULL);
    f->plans = apr_array_make(f->p, 2, sizeof(hmb_plan_t *));
    err = hmb_plan_load(f->p, HMB_EXAMPLE("plan.xml"), &plan);
    if (err) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *(hmb_plan_t **)apr_array_push(f->plans) = plan;
    err = hmb_test_ledger(f->p, "settle", HMB_EXAMPLE("enroll.csv"),
                          &f->ledger);
    if (err) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    f->ctx.plans = f->plans;
    f->ctx.ledger = f->ledger;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    apr_pool_destroy(f->p);
    free(f);
    return 0;
}

/* worked-example/N.req.xml or N.resp.xml */
static const char *example(apr_pool_t *p, const char *n, const char *kind)
{
    return apr_pstrcat(p, HMB_FIXTURE("worked-example/"), n, ".", kind,
                       ".xml", NULL);
}

static hmb_settle_result_t *run_pair(fixture_t *f, const char *n,
                                     const char **resp, apr_size_t *resp_len)
{
    apr_size_t req_len;
    const char *req = hmb_test_slurp(f->p, example(f->p, n, "req"), &req_len);
    *resp = hmb_test_slurp(f->p, example(f->p, n, "resp"), resp_len);
    return hmb_settle_message(f->p, &f->ctx, req, req_len, *resp, *resp_len);
}

/* The element between <hmbinfo> and </hmbinfo>, and everything outside it
 * must be the upstream's bytes. */
static const char *hmbinfo_of(apr_pool_t *p, const hmb_settle_result_t *res,
                              const char *resp, apr_size_t resp_len)
{
    const char *s = strstr(res->out, "<hmbinfo>");
    const char *e = strstr(res->out, "</hmbinfo>");
    apr_size_t before, after;

    assert_non_null(s);
    assert_non_null(e);
    e += strlen("</hmbinfo>");
    before = (apr_size_t)(s - res->out);
    after = res->out_len - (apr_size_t)(e - res->out);
    assert_int_equal(before + after, resp_len);
    assert_memory_equal(res->out, resp, before);
    assert_memory_equal(e, resp + before, after);
    assert_true(strncmp(e, "</output>", 9) == 0);
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

static const char *field(apr_pool_t *p, const char *xml, const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *s = strstr(xml, open), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = strstr(s, apr_pstrcat(p, "</", name, ">", NULL));
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

#define Y2F(y) ((hmb_fen_t)(y) * 100)

static void expect_totals(fixture_t *f, hmb_fen_t in_elig, hmb_fen_t in_paid,
                          hmb_fen_t out_elig, hmb_fen_t out_paid)
{
    apr_array_header_t *rows;
    int i, seen = 0;

    assert_null(hmb_ledger_totals(f->ledger, f->p, "YCHMB", 2024,
                                  "36090000000000000001", &rows));
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);
        if (!strcmp(t->liab_code, "inscope")) {
            assert_int_equal(t->elig_amt, in_elig);
            assert_int_equal(t->paid_amt, in_paid);
            seen++;
        }
        else if (!strcmp(t->liab_code, "outscope")) {
            assert_int_equal(t->elig_amt, out_elig);
            assert_int_equal(t->paid_amt, out_paid);
            seen++;
        }
    }
    if (in_elig || out_elig || in_paid || out_paid) {
        assert_int_equal(seen, 2);
    }
}

static void test_worked_example(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *resp, *info, *first;
    apr_size_t len;

    /* 1: pre-settlement computes everything and records nothing */
    res = run_pair(f, "1", &resp, &len);
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "presettled");
    assert_string_equal(field(f->p, info, "hmb_pay"), "12100.00");
    assert_string_equal(field(f->p, info, "psn_part_amt_aft"), "35900.00");
    assert_string_equal(field(f->p, info, "psn_cash_pay_aft"), "32900.00");
    assert_non_null(strstr(info, "<hmbinsurer><insurer_code>PICC</insurer_code>"
                           "<share>0.4000</share><pay_amt>4840.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>4235.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>3025.00</pay_amt>"));
    assert_null(field(f->p, info, "hmb_setl_id"));
    expect_totals(f, 0, 0, 0, 0);

    /* 2: settled, recorded */
    res = run_pair(f, "2", &resp, &len);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "paid");
    assert_string_equal(field(f->p, info, "hmb_pay"), "12100.00");
    assert_non_null(strstr(info,
        "<hmbdetail><liab_code>inscope</liab_code><elig_amt>28000.00</elig_amt>"
        "<dedc_amt>15000.00</dedc_amt><pay_prop>0.7000</pay_prop>"
        "<pay_amt>9100.00</pay_amt><cum_elig_amt>28000.00</cum_elig_amt>"
        "<dedc_left>0.00</dedc_left><cap_left>990900.00</cap_left>"
        "</hmbdetail>"));
    assert_non_null(strstr(info, "<cap_left>997000.00</cap_left>"));
    /* the memo is ASCII with character references */
    assert_non_null(strstr(info, "<hmb_memo>&#23452;&#26149;"));
    expect_totals(f, 2800000, 910000, 2000000, 300000);
    first = info;

    /* 2 again: the same bytes back, nothing counted twice */
    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(hmbinfo_of(f->p, res, resp, len), first);
    expect_totals(f, 2800000, 910000, 2000000, 300000);

    /* 3: GBK message, all in scope */
    res = run_pair(f, "3", &resp, &len);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_pay"), "7000.00");
    assert_non_null(strstr(info, "<cum_elig_amt>38000.00</cum_elig_amt>"));
    expect_totals(f, 3800000, 1610000, 2000000, 300000);

    /* 4: cancellation of 2 */
    res = run_pair(f, "4", &resp, &len);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "reversed");
    assert_string_equal(field(f->p, info, "hmb_pay"), "-12100.00");
    assert_string_equal(field(f->p, info, "orig_setl_id"), "S2024050100001");
    assert_non_null(strstr(info, "<pay_amt>-9100.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>-3000.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>-4840.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>-4235.00</pay_amt>"));
    assert_non_null(strstr(info, "<pay_amt>-3025.00</pay_amt>"));
    /* what is left is pair 3 alone */
    expect_totals(f, 1000000, 700000, 0, 0);
    assert_non_null(strstr(info, "<cum_elig_amt>10000.00</cum_elig_amt>"));
    first = info;

    /* 4 again: idempotent */
    res = run_pair(f, "4", &resp, &len);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(hmbinfo_of(f->p, res, resp, len), first);
    expect_totals(f, 1000000, 700000, 0, 0);

    /* settling 2 once more after its reversal still counts nothing */
    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->duplicate, 1);
    expect_totals(f, 1000000, 700000, 0, 0);
}

static void test_pass_through(void **state)
{
    fixture_t *f = *state;
    const char *req = "<request><infno>1101</infno><msgid>X</msgid></request>";
    const char *bad = "<response><infcode>-1</infcode><err_msg>busy</err_msg>"
                      "</response>";
    const char *resp;
    apr_size_t len;
    hmb_settle_result_t *res;

    resp = hmb_test_slurp(f->p, HMB_EXAMPLE("2.resp.xml"), &len);
    /* not a settlement transaction */
    res = hmb_settle_message(f->p, &f->ctx, req, strlen(req), resp, len);
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->is_error, 0);
    /* upstream error */
    res = hmb_settle_message(f->p, &f->ctx, NULL, 0, bad, strlen(bad));
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->is_error, 0);
    /* malformed */
    res = hmb_settle_message(f->p, &f->ctx, NULL, 0, "<response><infcode>0",
                             20);
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->is_error, 1);
    assert_non_null(res->reason);
    expect_totals(f, 0, 0, 0, 0);
}

static void test_ledger_unavailable(void **state)
{
    fixture_t *f = *state;
    hmb_settle_ctx_t ctx = f->ctx;
    const char *resp, *info;
    apr_size_t len;
    hmb_settle_result_t *res;

    ctx.ledger = NULL;
    resp = hmb_test_slurp(f->p, HMB_EXAMPLE("2.resp.xml"), &len);
    res = hmb_settle_message(f->p, &ctx, NULL, 0, resp, len);
    assert_int_equal(res->outcome, HMB_OUT_DEFERRED);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "deferred");
    assert_string_equal(field(f->p, info, "hmb_pay"), "0.00");
    assert_string_equal(field(f->p, info, "psn_part_amt_aft"), "48000.00");
}

static void test_no_claim(void **state)
{
    fixture_t *f = *state;
    const char *resp, *info;
    apr_size_t req_len, len;
    hmb_settle_result_t *res;
    char *req;

    req = hmb_test_slurp(f->p, HMB_EXAMPLE("4.req.xml"), &req_len);
    memcpy(strstr(req, "S2024050100001"), "S2099999999999", 14);
    resp = hmb_test_slurp(f->p, HMB_EXAMPLE("4.resp.xml"), &len);
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, resp, len);
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "no_claim");
    assert_string_equal(field(f->p, info, "hmb_pay"), "0.00");
}

static void test_fund_line(void **state)
{
    fixture_t *f = *state;
    hmb_settle_ctx_t ctx = f->ctx;
    const char *resp, *s;
    apr_size_t req_len, len;
    hmb_settle_result_t *res;
    const char *req;

    ctx.fund_pay_type = "990101";
    ctx.fund_pay_type_name = "惠民保";
    req = hmb_test_slurp(f->p, HMB_EXAMPLE("1.req.xml"), &req_len);
    resp = hmb_test_slurp(f->p, HMB_EXAMPLE("1.resp.xml"), &len);
    res = hmb_settle_message(f->p, &ctx, req, req_len, resp, len);
    s = strstr(res->out, "<setldetail><fund_pay_type>990101</fund_pay_type>");
    assert_non_null(s);
    assert_non_null(strstr(s, "<fund_payamt>12100.00</fund_payamt>"
                           "<fund_pay_type_name>&#24800;&#27665;&#20445;"));
    /* the fund line comes right before <hmbinfo>, which stays last */
    assert_true(strstr(s, "</setldetail><hmbinfo>") != NULL);
    assert_non_null(strstr(res->out, "</hmbinfo></output>"));
}

/* A settlement deferred to the spool, then cancelled while the ledger is
 * back: the replayed settlement must pay nothing. */
static void test_cancel_before_replay(void **state)
{
    fixture_t *f = *state;
    hmb_settle_ctx_t down = f->ctx;
    const char *req, *resp, *first;
    apr_size_t req_len, len;
    hmb_settle_result_t *res;

    down.ledger = NULL;
    req = hmb_test_slurp(f->p, example(f->p, "2", "req"), &req_len);
    resp = hmb_test_slurp(f->p, example(f->p, "2", "resp"), &len);
    res = hmb_settle_message(f->p, &down, req, req_len, resp, len);
    assert_int_equal(res->outcome, HMB_OUT_DEFERRED);

    res = run_pair(f, "4", &resp, &len);
    assert_null(hmb_test_validate(f->p, res->out, res->out_len));
    first = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, first, "hmb_stas"), "no_claim");
    /* a marker, the canceller's own: HMBM-SETL_ID-DIGEST */
    assert_true(strncmp(field(f->p, first, "hmb_setl_id"),
                        "HMBM-S2024050100001-", 20) == 0);
    res = run_pair(f, "4", &resp, &len);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(hmbinfo_of(f->p, res, resp, len), first);

    /* the replay of the spooled settlement, twice */
    res = run_pair(f, "2", &resp, &len);
    assert_string_equal(field(f->p, hmbinfo_of(f->p, res, resp, len),
                              "hmb_stas"), "no_claim");
    assert_string_equal(field(f->p, hmbinfo_of(f->p, res, resp, len),
                              "hmb_pay"), "0.00");
    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    expect_totals(f, 0, 0, 0, 0);
}

/* Strict mode validates the upstream message; what we send validates too. */
static void test_output_validates(void **state)
{
    fixture_t *f = *state;
    static const char *pairs[] = {"1", "2", "3", "4", "2"};
    const char *resp;
    apr_size_t len;
    hmb_settle_result_t *res;
    const char *err;
    int i;

    f->ctx.schema = hmb_test_schema(f->p);
    f->ctx.fund_pay_type = "990101";
    f->ctx.fund_pay_type_name = "惠民保";
    for (i = 0; i < 5; i++) {
        res = run_pair(f, pairs[i], &resp, &len);
        assert_int_equal(res->outcome, HMB_OUT_SPLICED);
        err = hmb_test_validate(f->p, res->out, res->out_len);
        if (err) {
            fail_msg("pair %s: %s", pairs[i], err);
        }
    }
}

static long claims(fixture_t *f)
{
    hmb_claim_t *c;
    long n = 0;

    /* the worked example's setl_ids, each kind */
    n += hmb_ledger_find_claim(f->ledger, f->p, 'S', "S2024050100001", &c)
         == NULL && c;
    n += hmb_ledger_find_claim(f->ledger, f->p, 'R', "S2024050100001", &c)
         == NULL && c;
    return n;
}

/* DOMAIN.md, "Identity and conflicts": another person's settlement under
 * a stored setl_id gets neither its answer nor a payout. */
static void test_setl_id_conflict(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *req, *resp, *other;
    apr_size_t req_len, len;

    res = run_pair(f, "2", &resp, &len);
    assert_string_equal(field(f->p, res->out, "hmb_pay"), "12100.00");
    expect_totals(f, Y2F(28000), Y2F(9100), Y2F(20000), Y2F(3000));

    req = hmb_test_slurp(f->p, example(f->p, "2", "req"), &req_len);
    other = replace(f->p, resp, "<psn_no>36090000000000000001</psn_no>",
                 "<psn_no>36090000000000000099</psn_no>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, other,
                             strlen(other));
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    assert_int_equal(res->rea, HMB_REA_SETL_ID_CONFLICT);
    assert_int_equal(res->hmb_pay, 0);
    assert_string_equal(field(f->p, res->out, "rea_code"),
                        "setl_id_conflict");
    /* nothing of the stored claim shown: not its payout, not its visit */
    assert_null(strstr(res->out, "12100.00"));
    assert_null(field(f->p, res->out, "hmb_setl_id"));
    /* the same person with another visit is another settlement too */
    other = replace(f->p, resp, "<mdtrt_id>M20240000002</mdtrt_id>",
                 "<mdtrt_id>M20240000099</mdtrt_id>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, other,
                             strlen(other));
    assert_int_equal(res->rea, HMB_REA_SETL_ID_CONFLICT);
    expect_totals(f, Y2F(28000), Y2F(9100), Y2F(20000), Y2F(3000));
    assert_int_equal(claims(f), 1);
    /* the real repeat still gets the stored answer */
    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(field(f->p, res->out, "hmb_pay"), "12100.00");
}

/* A cancellation naming someone else's settlement reverses nothing, and
 * its marker does not stop the real settlement either. */
static void test_cancel_mismatch(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *req, *resp, *theirs;
    apr_size_t req_len, len;

    /* before the settlement reached the ledger: no marker for the
     * wrong person blocks it */
    req = hmb_test_slurp(f->p, example(f->p, "4", "req"), &req_len);
    resp = hmb_test_slurp(f->p, example(f->p, "4", "resp"), &len);
    theirs = replace(f->p, req, "<psn_no>36090000000000000001</psn_no>",
                  "<psn_no>36090000000000000099</psn_no>");
    res = hmb_settle_message(f->p, &f->ctx, theirs, strlen(theirs), resp,
                             len);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->stas, HMB_STAS_PAID);
    assert_string_equal(field(f->p, res->out, "hmb_pay"), "12100.00");

    /* after it: cancel_mismatch, nothing reversed */
    resp = hmb_test_slurp(f->p, example(f->p, "4", "resp"), &len);
    res = hmb_settle_message(f->p, &f->ctx, theirs, strlen(theirs), resp,
                             len);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    assert_int_equal(res->rea, HMB_REA_CANCEL_MISMATCH);
    assert_int_equal(res->hmb_pay, 0);
    expect_totals(f, Y2F(28000), Y2F(9100), Y2F(20000), Y2F(3000));
    /* another institution's cancellation neither */
    theirs = replace(f->p, req, "<fixmedins_code>H36090200001</fixmedins_code>",
                  "<fixmedins_code>H36090200777</fixmedins_code>");
    res = hmb_settle_message(f->p, &f->ctx, theirs, strlen(theirs), resp,
                             len);
    assert_int_equal(res->rea, HMB_REA_CANCEL_MISMATCH);
    expect_totals(f, Y2F(28000), Y2F(9100), Y2F(20000), Y2F(3000));
    /* the owner's own cancellation reverses it */
    res = run_pair(f, "4", &resp, &len);
    assert_int_equal(res->stas, HMB_STAS_REVERSED);
    assert_string_equal(field(f->p, res->out, "hmb_pay"), "-12100.00");
    expect_totals(f, 0, 0, 0, 0);
}

/* Amounts beyond 9,999,999,999.99 (or fee lines adding up beyond it) make
 * the message unreadable: passed untouched, nothing recorded. */
static void test_absurd_amounts(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *req, *resp, *big;
    apr_array_header_t *lines = apr_array_make(f->p, 9, sizeof(char *));
    apr_size_t req_len, len;
    int i;

    req = hmb_test_slurp(f->p, example(f->p, "2", "req"), &req_len);
    resp = hmb_test_slurp(f->p, example(f->p, "2", "resp"), &len);
    for (i = 0; i < 4; i++) {
        APR_ARRAY_PUSH(lines, const char *) =
            "<feedetail><med_list_codg>XL01XCP135B002010101832"
            "</med_list_codg><fulamt_ownpay_amt>999999999.99"
            "</fulamt_ownpay_amt><overlmt_amt>999999999.99</overlmt_amt>"
            "</feedetail>";
    }
    APR_ARRAY_PUSH(lines, const char *) = "</output>";
    big = replace(f->p, resp, "</output>", apr_array_pstrcat(f->p, lines, 0));
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, big, strlen(big));
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);  /* within bounds */
    assert_true(res->hmb_pay >= 0);

    APR_ARRAY_IDX(lines, 0, const char *) =
        "<feedetail><med_list_codg>X</med_list_codg><fulamt_ownpay_amt>"
        "9999999999.99</fulamt_ownpay_amt><overlmt_amt>9999999999.99"
        "</overlmt_amt></feedetail>";
    big = replace(f->p, resp, "</output>", apr_array_pstrcat(f->p, lines, 0));
    big = replace(f->p, big, "<setl_id>S2024050100001</setl_id>",
               "<setl_id>S2024050199999</setl_id>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, big, strlen(big));
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->is_error, 1);
    assert_non_null(strstr(res->reason, "add up to more than"));
    big = replace(f->p, resp, "<medfee_sumamt>120000.00</medfee_sumamt>",
               "<medfee_sumamt>999999999999.99</medfee_sumamt>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, big, strlen(big));
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_non_null(strstr(res->reason, "amount too large"));
}

/* An answer already holding an <hmbinfo> (a forged 99999.00): passed
 * untouched, nothing recorded, said to be forged. */
static void test_forged_hmbinfo(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *req, *resp, *forged;
    apr_size_t req_len, len;

    req = hmb_test_slurp(f->p, example(f->p, "2", "req"), &req_len);
    resp = hmb_test_slurp(f->p, example(f->p, "2", "resp"), &len);
    forged = replace(f->p, resp, "</output>",
                  "<hmbinfo><hmb_stas>paid</hmb_stas><hmb_pay>99999.00"
                  "</hmb_pay></hmbinfo></output>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, forged,
                             strlen(forged));
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->forged, 1);
    assert_null(res->out);
    assert_int_equal(claims(f), 0);
    expect_totals(f, 0, 0, 0, 0);
}

/* ---- operator slips: plan gaps, repeats after a cancellation,
 * corrections -------------------------------------------------------- */

#define PLAN_2025 HMB_FIXTURE("slips/plans/yichun-2025.xml")

/* s with every occurrence of from replaced by to. */
static char *swap(apr_pool_t *p, const char *s, const char *from,
                  const char *to)
{
    const char *at;
    char *out = "";

    if (!strstr(s, from)) {
        fail_msg("no \"%s\" to replace", from);
    }
    while ((at = strstr(s, from)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, s, (apr_size_t)(at - s)),
                          to, NULL);
        s = at + strlen(from);
    }
    return apr_pstrcat(p, out, s, NULL);
}

/* A worked-example message (N.req or N.resp) with DOMAIN.md's person
 * replaced by psn_no and the settlement S2024050100001 by setl_id. */
static char *message(fixture_t *f, const char *n, const char *kind,
                     const char *psn_no, const char *setl_id)
{
    char *m = hmb_test_slurp(f->p, example(f->p, n, kind), NULL);

    m = swap(f->p, m, "36090000000000000001", psn_no);
    if (strstr(m, "S2024050100001")) {
        m = swap(f->p, m, "S2024050100001", setl_id);
    }
    return m;
}

static hmb_settle_result_t *send_pair(fixture_t *f,
                                      const hmb_settle_ctx_t *ctx,
                                      const char *req, const char *resp)
{
    return hmb_settle_message(f->p, ctx, req, req ? strlen(req) : 0, resp,
                              strlen(resp));
}

/* The <hmbinfo> sent for resp. */
static const char *info_of(fixture_t *f, const hmb_settle_result_t *res,
                           const char *resp)
{
    return hmbinfo_of(f->p, res, resp, strlen(resp));
}

static void enroll(fixture_t *f, const char *rows)
{
    const char *csv = apr_pstrcat(f->p, "plan_code,plan_year,psn_no,"
                                  "cover_from,preexisting,person_class,"
                                  "admdvs,payer,premium\n", rows, NULL);
    apr_array_header_t *parsed;
    int count;

    assert_null(hmb_enroll_parse(f->p, "slip.csv", csv, strlen(csv),
                                 &parsed));
    assert_null(hmb_ledger_import_enrollments(f->ledger, f->p, parsed,
                                              &count));
}

static const char *paid_of(fixture_t *f, const char *code, int year,
                           const char *psn_no)
{
    apr_array_header_t *rows;
    const char *out = "";
    int i;

    assert_null(hmb_ledger_totals(f->ledger, f->p, code, year, psn_no,
                                  &rows));
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);

        out = apr_psprintf(f->p, "%s%s=%s ", out, t->liab_code,
                           hmb_money_str(f->p, t->paid_amt));
    }
    return out;
}

static apr_array_header_t *owed(fixture_t *f, const char *from,
                                const char *to)
{
    apr_array_header_t *claims;

    assert_null(hmb_ledger_owed(f->ledger, f->p, from, to, &claims));
    return claims;
}

/* A settlement dated after every loaded plan waits for its plan
 * (deferred, no_plan, nothing recorded); once the plan is given, the
 * replay pays it once and records where it was decided. */
static void test_no_plan_deferred_then_paid(void **state)
{
    fixture_t *f = *state;
    hmb_settle_ctx_t replay = f->ctx;
    const char *req = message(f, "2", "req", "36090000000000000001",
                              "S2025020100001");
    char *resp = message(f, "2", "resp", "36090000000000000001",
                         "S2025020100001");
    const char *old, *info, *first;
    hmb_settle_result_t *res;
    hmb_claim_t *claim;
    apr_array_header_t *o;
    hmb_plan_t *plan;

    resp = swap(f->p, resp, "2024-05-01 10:00:00", "2025-02-01 10:00:00");
    res = send_pair(f, &f->ctx, req, resp);
    assert_int_equal(res->outcome, HMB_OUT_DEFERRED);
    assert_int_equal(res->stas, HMB_STAS_DEFERRED);
    assert_int_equal(res->rea, HMB_REA_NO_PLAN);
    assert_int_equal(res->hmb_pay, 0);
    assert_contains(res->reason, "2025-02-01");
    assert_contains(res->reason, "2024-12-31");
    info = info_of(f, res, resp);
    assert_string_equal(field(f->p, info, "hmb_stas"), "deferred");
    assert_string_equal(field(f->p, info, "rea_code"), "no_plan");
    assert_string_equal(field(f->p, info, "hmb_pay"), "0.00");
    assert_string_equal(field(f->p, info, "psn_part_amt_aft"), "48000.00");
    /* the memo names the date no plan covers */
    assert_contains(field(f->p, info, "hmb_memo"), "2025-02-01");
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'S', "S2025020100001",
                                      &claim));
    assert_null(claim);

    /* before the first plan is not a plan gap: still a refusal */
    old = swap(f->p, resp, "2025-02-01 10:00:00", "2023-06-01 10:00:00");
    old = swap(f->p, old, "S2025020100001", "S2023060100001");
    res = send_pair(f, &f->ctx, NULL, old);
    assert_int_equal(res->stas, HMB_STAS_INELIGIBLE);
    assert_int_equal(res->rea, HMB_REA_OUTSIDE_PERIOD);

    /* the 2025 plan and enrollment arrive; the spooled message is
     * replayed */
    assert_null(hmb_plan_load(f->p, PLAN_2025, &plan));
    APR_ARRAY_PUSH(f->plans, hmb_plan_t *) = plan;
    enroll(f, "YCHMB,2025,36090000000000000001,2025-01-01,0,,360902,"
           "account,69.00\n");
    replay.origin = "replay";
    res = send_pair(f, &replay, req, resp);
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);
    assert_int_equal(res->duplicate, 0);
    first = info_of(f, res, resp);
    assert_string_equal(field(f->p, first, "hmb_stas"), "paid");
    assert_string_equal(field(f->p, first, "plan_year"), "2025");
    assert_string_equal(field(f->p, first, "hmb_pay"), "12100.00");
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'S', "S2025020100001",
                                      &claim));
    assert_non_null(claim);
    assert_string_equal(claim->origin, "replay");
    assert_non_null(claim->msg);

    /* exactly once: a second replay, or the desk's repeat, changes
     * nothing */
    res = send_pair(f, &replay, req, resp);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(info_of(f, res, resp), first);
    res = send_pair(f, &f->ctx, req, resp);
    assert_int_equal(res->duplicate, 1);
    assert_string_equal(paid_of(f, "YCHMB", 2025, "36090000000000000001"),
                        "inscope=9100.00 outscope=3000.00 ");
    assert_string_equal(paid_of(f, "YCHMB", 2024, "36090000000000000001"),
                        "");

    /* paid after the desk: owed to the patient */
    o = owed(f, NULL, NULL);
    assert_int_equal(o->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(o, 0, hmb_claim_t).hmb_setl_id,
                        "HMB-S2025020100001");
    assert_string_equal(APR_ARRAY_IDX(o, 0, hmb_claim_t).origin, "replay");
    assert_int_equal(APR_ARRAY_IDX(o, 0, hmb_claim_t).hmb_pay, 1210000);
    assert_int_equal(APR_ARRAY_IDX(o, 0, hmb_claim_t).plan_year, 2025);
    assert_int_equal(owed(f, "2025-02-01", "2025-02-01")->nelts, 1);
    assert_int_equal(owed(f, "2024-01-01", "2025-01-31")->nelts, 0);
    assert_int_equal(owed(f, "2025-02-02", NULL)->nelts, 0);
}

/* A settlement sent again after its cancellation: nothing to pay, and
 * the answer says which cancellation; counted as a repeat. */
static void test_repeat_after_cancel(void **state)
{
    fixture_t *f = *state;
    hmb_settle_result_t *res;
    const char *resp, *info, *again;
    apr_size_t len;

    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->stas, HMB_STAS_PAID);
    res = run_pair(f, "4", &resp, &len);
    assert_int_equal(res->stas, HMB_STAS_REVERSED);
    expect_totals(f, 0, 0, 0, 0);

    res = run_pair(f, "2", &resp, &len);
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);
    assert_int_equal(res->duplicate, 1);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    assert_int_equal(res->rea, HMB_REA_SETTLEMENT_REVERSED);
    assert_int_equal(res->hmb_pay, 0);
    assert_string_equal(res->hmb_setl_id, "HMBR-S2024050100001");
    info = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(field(f->p, info, "hmb_stas"), "no_claim");
    assert_string_equal(field(f->p, info, "rea_code"), "settlement_reversed");
    assert_string_equal(field(f->p, info, "hmb_pay"), "0.00");
    /* the patient owes what the basic settlement left */
    assert_string_equal(field(f->p, info, "psn_part_amt_aft"), "48000.00");
    assert_contains(field(f->p, info, "hmb_memo"), "HMBR-S2024050100001");
    assert_null(hmb_test_validate(f->p, res->out, res->out_len));
    expect_totals(f, 0, 0, 0, 0);

    res = run_pair(f, "2", &resp, &len);
    again = hmbinfo_of(f->p, res, resp, len);
    assert_string_equal(again, info);
    expect_totals(f, 0, 0, 0, 0);
}

/* Not enrolled at the desk; the enrollment arrives later; an operator
 * corrects the claim. The original answer stays what the desk was told;
 * the correction is owed to the patient until a cancellation takes it
 * back. */
static void test_redecide_not_enrolled(void **state)
{
    fixture_t *f = *state;
    const char *psn = "36090000000000000002", *id = "S2024050100002";
    const char *req = message(f, "2", "req", psn, id);
    const char *resp = message(f, "2", "resp", psn, id);
    const char *creq = message(f, "4", "req", psn, id);
    const char *cresp = message(f, "4", "resp", psn, id);
    const char *desk, *info;
    hmb_settle_result_t *res;
    hmb_redecide_t *r;
    hmb_claim_t *c, *orig;
    apr_array_header_t *o, *ids;

    res = send_pair(f, &f->ctx, req, resp);
    assert_int_equal(res->stas, HMB_STAS_INELIGIBLE);
    assert_int_equal(res->rea, HMB_REA_NOT_ENROLLED);
    desk = info_of(f, res, resp);

    /* nothing changes while the person is still not enrolled */
    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops", "late file",
                                    0, &r));
    assert_int_equal(r->corrected, 0);
    assert_contains(r->what, "still ineligible (not_enrolled)");

    enroll(f, "YCHMB,2024,36090000000000000002,2024-01-01,0,,360902,self,"
           "69.00\n");
    assert_null(hmb_ledger_ineligible(f->ledger, f->p, "2024-05-01",
                                      "2024-05-01", &ids));
    assert_int_equal(ids->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(ids, 0, const char *), id);

    /* a dry run says what would be paid and records nothing */
    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops", "late file",
                                    1, &r));
    assert_int_equal(r->corrected, 1);
    assert_string_equal(r->what, "would pay 12100.00");
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'C', id, &c));
    assert_null(c);
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn), "");
    assert_int_equal(owed(f, NULL, NULL)->nelts, 0);

    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops",
                                    "enrollment file arrived late", 0, &r));
    assert_int_equal(r->corrected, 1);
    assert_string_equal(r->what, "paid 12100.00");
    assert_string_equal(r->hmb_setl_id, "HMBC-S2024050100002");
    assert_int_equal(r->decision->hmb_pay, 1210000);
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'S', id, &orig));
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'C', id, &c));
    assert_non_null(c);
    assert_int_equal(c->kind, 'C');
    assert_string_equal(c->origin, "redecide");
    assert_string_equal(c->decided_by, "ops");
    assert_string_equal(c->why, "enrollment file arrived late");
    assert_string_equal(c->reverses, orig->hmb_setl_id);
    assert_int_equal(c->stas, HMB_STAS_PAID);
    assert_int_equal(c->hmb_pay, 1210000);
    assert_string_equal(c->msg, orig->msg);
    assert_contains(c->hmbinfo, "<orig_setl_id>S2024050100002</orig_setl_id>");
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn),
                        "inscope=9100.00 outscope=3000.00 ");
    /* the original stays as the desk saw it */
    assert_int_equal(orig->stas, HMB_STAS_INELIGIBLE);
    assert_string_equal(orig->origin, "desk");

    /* once only */
    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops", "again", 0,
                                    &r));
    assert_int_equal(r->corrected, 0);
    assert_contains(r->what, "corrected already by HMBC-S2024050100002");
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn),
                        "inscope=9100.00 outscope=3000.00 ");

    /* the desk repeats the message: what it was told (idempotency) */
    res = send_pair(f, &f->ctx, req, resp);
    assert_int_equal(res->duplicate, 1);
    assert_int_equal(res->stas, HMB_STAS_INELIGIBLE);
    assert_string_equal(info_of(f, res, resp), desk);

    o = owed(f, NULL, NULL);
    assert_int_equal(o->nelts, 1);
    c = &APR_ARRAY_IDX(o, 0, hmb_claim_t);
    assert_string_equal(c->hmb_setl_id, "HMBC-S2024050100002");
    assert_string_equal(c->setl_id, id);
    assert_string_equal(c->psn_no, psn);
    assert_string_equal(c->origin, "redecide");
    assert_string_equal(c->decided_by, "ops");
    assert_int_equal(c->hmb_pay, 1210000);
    assert_non_null(c->created_at);

    /* a cancellation takes back what the correction paid */
    res = send_pair(f, &f->ctx, creq, cresp);
    assert_int_equal(res->stas, HMB_STAS_REVERSED);
    assert_int_equal(res->hmb_pay, -1210000);
    info = info_of(f, res, cresp);
    assert_string_equal(field(f->p, info, "orig_hmb_setl_id"),
                        "HMBC-S2024050100002");
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn),
                        "inscope=0.00 outscope=0.00 ");
    assert_int_equal(owed(f, NULL, NULL)->nelts, 0);
    res = send_pair(f, &f->ctx, req, resp);
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    assert_int_equal(res->rea, HMB_REA_SETTLEMENT_REVERSED);

    /* and nothing corrects it again */
    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops", "again", 0,
                                    &r));
    assert_int_equal(r->corrected, 0);
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn),
                        "inscope=0.00 outscope=0.00 ");
}

/* A settlement refused at the desk and then cancelled: no correction
 * pays it. */
static void test_redecide_cancelled(void **state)
{
    fixture_t *f = *state;
    const char *psn = "36090000000000000003", *id = "S2024050100003";
    hmb_settle_result_t *res;
    hmb_redecide_t *r;
    hmb_claim_t *c;

    res = send_pair(f, &f->ctx, message(f, "2", "req", psn, id),
                    message(f, "2", "resp", psn, id));
    assert_int_equal(res->rea, HMB_REA_NOT_ENROLLED);
    res = send_pair(f, &f->ctx, message(f, "4", "req", psn, id),
                    message(f, "4", "resp", psn, id));
    assert_int_equal(res->stas, HMB_STAS_NO_CLAIM);
    enroll(f, "YCHMB,2024,36090000000000000003,2024-01-01,0,,360902,self,"
           "69.00\n");

    assert_null(hmb_settle_redecide(f->p, &f->ctx, id, "ops", "late file",
                                    0, &r));
    assert_int_equal(r->corrected, 0);
    assert_contains(r->what, "cancelled (HMBM-S2024050100003-");
    assert_null(hmb_ledger_find_claim(f->ledger, f->p, 'C', id, &c));
    assert_null(c);
    assert_string_equal(paid_of(f, "YCHMB", 2024, psn), "");
    assert_int_equal(owed(f, NULL, NULL)->nelts, 0);

    /* a setl_id the ledger does not know, and a paid one: nothing */
    assert_null(hmb_settle_redecide(f->p, &f->ctx, "S-NONE", "ops", "x", 0,
                                    &r));
    assert_int_equal(r->corrected, 0);
    assert_contains(r->what, "no settlement");
}

/* Issue 11: the same messages in XML and in JSON (the worked example,
 * pair 3 in GBK as JSON) settle to the same decisions, each on a ledger
 * of its own, and leave the same totals. */
static void test_both_formats(void **state)
{
    fixture_t *f = *state;
    static const char *const pairs[] = { "1", "2", "2", "3", "4", NULL };
    hmb_settle_ctx_t jctx = f->ctx;
    hmb_ledger_t *jl;
    apr_array_header_t *xt, *jt;
    int i;

    assert_null(hmb_test_ledger(f->p, "settle-json",
                                HMB_EXAMPLE("enroll.csv"), &jl));
    jctx.ledger = jl;
    for (i = 0; pairs[i]; i++) {
        const char *dir = HMB_FIXTURE("json/worked-example/");
        apr_size_t xl, jlen, xrl, jrl;
        const char *x = hmb_test_slurp(f->p, example(f->p, pairs[i], "resp"),
                                       &xl);
        const char *xr = hmb_test_slurp(f->p, example(f->p, pairs[i], "req"),
                                        &xrl);
        const char *j = hmb_test_slurp(f->p, apr_pstrcat(f->p, dir, pairs[i],
                                                         ".resp.json", NULL),
                                       &jlen);
        const char *jr = hmb_test_slurp(f->p, apr_pstrcat(f->p, dir,
                                                          pairs[i],
                                                          ".req.json", NULL),
                                        &jrl);
        hmb_settle_result_t *a, *b;

        jctx.req_charset = jctx.resp_charset = !strcmp(pairs[i], "3")
                                               ? "GBK" : NULL;
        a = hmb_settle_message(f->p, &f->ctx, xr, xrl, x, xl);
        b = hmb_settle_message(f->p, &jctx, jr, jrl, j, jlen);
        assert_int_equal(a->outcome, HMB_OUT_SPLICED);
        assert_int_equal(b->outcome, a->outcome);
        assert_int_equal(b->tx, a->tx);
        assert_int_equal(b->stas, a->stas);
        assert_int_equal(b->rea, a->rea);
        assert_int_equal(b->hmb_pay, a->hmb_pay);
        assert_int_equal(b->duplicate, a->duplicate);
        if (a->hmb_setl_id) {
            assert_string_equal(b->hmb_setl_id, a->hmb_setl_id);
        }
        assert_non_null(strstr(b->out, "\"hmbinfo\":{"));
    }
    assert_null(hmb_ledger_totals(f->ledger, f->p, "YCHMB", 2024,
                                  "36090000000000000001", &xt));
    assert_null(hmb_ledger_totals(jl, f->p, "YCHMB", 2024,
                                  "36090000000000000001", &jt));
    assert_int_equal(jt->nelts, xt->nelts);
    assert_true(xt->nelts > 0);
    for (i = 0; i < xt->nelts; i++) {
        const hmb_total_t *u = &APR_ARRAY_IDX(xt, i, hmb_total_t);
        const hmb_total_t *v = &APR_ARRAY_IDX(jt, i, hmb_total_t);

        assert_string_equal(v->liab_code, u->liab_code);
        assert_int_equal(v->elig_amt, u->elig_amt);
        assert_int_equal(v->paid_amt, u->paid_amt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worked_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fund_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setl_id_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_mismatch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_absurd_amounts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forged_hmbinfo, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_validates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_plan_deferred_then_paid,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_after_cancel, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redecide_not_enrolled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redecide_cancelled, setup,
                                        teardown),
    };
    apr_initialize();
    hmb_xml_init();
    return cmocka_run_group_tests_name("settle", tests, NULL, NULL);
}
