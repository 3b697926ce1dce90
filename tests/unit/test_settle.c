/* The whole pipeline on the worked example files, against a real SQLite
 * ledger: what hmbctl and the filter both do. */
#include "hmb_test.h"
#include "hmb_settle.h"
#include "hmb_plan.h"
#include "hmb_xml.h"

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

/* s with the first occurrence of from replaced by to. */
static char *swap(apr_pool_t *p, const char *s, const char *from,
                  const char *to)
{
    const char *at = strstr(s, from);

    assert_non_null(at);
    return apr_psprintf(p, "%.*s%s%s", (int)(at - s), s, to,
                        at + strlen(from));
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
    other = swap(f->p, resp, "<psn_no>36090000000000000001</psn_no>",
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
    other = swap(f->p, resp, "<mdtrt_id>M20240000002</mdtrt_id>",
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
    theirs = swap(f->p, req, "<psn_no>36090000000000000001</psn_no>",
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
    theirs = swap(f->p, req, "<fixmedins_code>H36090200001</fixmedins_code>",
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
    big = swap(f->p, resp, "</output>", apr_array_pstrcat(f->p, lines, 0));
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, big, strlen(big));
    assert_int_equal(res->outcome, HMB_OUT_SPLICED);  /* within bounds */
    assert_true(res->hmb_pay >= 0);

    APR_ARRAY_IDX(lines, 0, const char *) =
        "<feedetail><med_list_codg>X</med_list_codg><fulamt_ownpay_amt>"
        "9999999999.99</fulamt_ownpay_amt><overlmt_amt>9999999999.99"
        "</overlmt_amt></feedetail>";
    big = swap(f->p, resp, "</output>", apr_array_pstrcat(f->p, lines, 0));
    big = swap(f->p, big, "<setl_id>S2024050100001</setl_id>",
               "<setl_id>S2024050199999</setl_id>");
    res = hmb_settle_message(f->p, &f->ctx, req, req_len, big, strlen(big));
    assert_int_equal(res->outcome, HMB_OUT_PASS);
    assert_int_equal(res->is_error, 1);
    assert_non_null(strstr(res->reason, "add up to more than"));
    big = swap(f->p, resp, "<medfee_sumamt>120000.00</medfee_sumamt>",
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
    forged = swap(f->p, resp, "</output>",
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worked_example, setup, teardown),
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
    };
    apr_initialize();
    hmb_xml_init();
    return cmocka_run_group_tests_name("settle", tests, NULL, NULL);
}
