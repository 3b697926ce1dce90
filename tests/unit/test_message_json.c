/* Settlement messages in JSON: the worked example in UTF-8 and GBK read to
 * the same request and response as the XML files, every envelope variant,
 * a hostile corpus, the splice point on every fixture, and hmbinfo
 * rendered and inserted there giving JSON that parses again with every
 * other byte as it was. Fixtures: tests/fixtures/json/README.md. */
#include "hmb_test.h"

#include <apr_file_info.h>
#include <apr_xlate.h>
#include <yajl/yajl_tree.h>

#include "hmb_message.h"
#include "hmb_hmbinfo.h"
#include "hmb_engine.h"
#include "hmb_plan.h"
#include "hmb_xml.h"

#define JSON(rel) HMB_FIXTURE("json/" rel)

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static void assert_prefix(const char *s, const char *prefix)
{
    if (!s || strncmp(s, prefix, strlen(prefix)) != 0) {
        fail_msg("\"%s\" does not start with \"%s\"", s ? s : "(null)",
                 prefix);
    }
}

static char *slurp(apr_pool_t *p, const char *rel, apr_size_t *len)
{
    return hmb_test_slurp(p, apr_pstrcat(p, JSON(""), rel, NULL), len);
}

/* Feed buf in pieces of step bytes (0: all at once), the way the filter
 * hands over a body, so that tokens, characters and the byte-order mark
 * are cut at every place. */
static hmb_msg_reader_t *reader_fed(apr_pool_t *p, hmb_msg_kind_e kind,
                                    hmb_wire_e wire, const char *charset,
                                    const char *buf, apr_size_t len,
                                    apr_size_t step)
{
    hmb_msg_reader_t *r = hmb_msg_reader_wire(p, kind, wire, charset);
    apr_size_t i;

    if (!step) {
        hmb_msg_feed(r, buf, len);
        return r;
    }
    for (i = 0; i < len; i += step) {
        hmb_msg_feed(r, buf + i, len - i < step ? len - i : step);
    }
    return r;
}

static const char *response_try(apr_pool_t *p, const char *charset,
                                const char *buf, apr_size_t len,
                                apr_size_t step, int allow_negative,
                                hmb_response_t **resp)
{
    hmb_msg_reader_t *r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_JSON,
                                     charset, buf, len, step);

    return hmb_response_finish(r, allow_negative, resp);
}

static hmb_response_t *response_ok(apr_pool_t *p, const char *charset,
                                   const char *buf, apr_size_t len,
                                   apr_size_t step, int allow_negative)
{
    hmb_response_t *resp = NULL;
    const char *err = response_try(p, charset, buf, len, step,
                                   allow_negative, &resp);

    if (err) {
        fail_msg("unexpected error: %s", err);
    }
    assert_non_null(resp);
    assert_int_equal(resp->wire, HMB_WIRE_JSON);
    return resp;
}

static const char *response_err(apr_pool_t *p, const char *charset,
                                const char *buf, apr_size_t len)
{
    hmb_response_t *resp = NULL;
    const char *err = response_try(p, charset, buf, len, 0, 0, &resp);

    if (!err) {
        fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), buf);
    }
    assert_null(resp);
    assert_null(strchr(err, '\n'));
    return err;
}

static hmb_request_t *request_ok(apr_pool_t *p, const char *charset,
                                 const char *buf, apr_size_t len,
                                 apr_size_t step)
{
    hmb_msg_reader_t *r = reader_fed(p, HMB_MSG_REQUEST, HMB_WIRE_JSON,
                                     charset, buf, len, step);
    hmb_request_t *q = NULL;
    const char *err = hmb_request_finish(r, &q);

    if (err) {
        fail_msg("unexpected error: %s", err);
    }
    assert_non_null(q);
    assert_int_equal(q->wire, HMB_WIRE_JSON);
    return q;
}

static const char *request_err(apr_pool_t *p, const char *buf)
{
    hmb_msg_reader_t *r = reader_fed(p, HMB_MSG_REQUEST, HMB_WIRE_JSON,
                                     NULL, buf, strlen(buf), 0);
    hmb_request_t *q = NULL;
    const char *err = hmb_request_finish(r, &q);

    if (!err) {
        fail_msg("accepted: %s", buf);
    }
    assert_null(q);
    assert_null(strchr(err, '\n'));
    return err;
}

/* The '}' closing "output" in a pretty-printed fixture: output is the
 * only object among the top-level members, so its '}' is the only one
 * indented by four spaces. In GBK bytes too: a space is no lead byte. */
static apr_size_t output_end(const char *buf)
{
    const char *at = strstr(buf, "\n    }");

    if (!at || strstr(at + 1, "\n    }")) {
        fail_msg("the fixture's output does not close on its own line");
    }
    return (apr_size_t)(at - buf) + 5;
}

static void assert_same_str(const char *a, const char *b)
{
    if (a || b) {
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
    }
}

static void assert_same_response(const hmb_response_t *j,
                                 const hmb_response_t *x)
{
    int i;

    assert_same_str(j->infcode, x->infcode);
    assert_int_equal(j->actionable, x->actionable);
    assert_same_str(j->mdtrt_id, x->mdtrt_id);
    assert_same_str(j->setl_id, x->setl_id);
    assert_same_str(j->psn_no, x->psn_no);
    assert_same_str(j->setl_time, x->setl_time);
    assert_same_str(j->med_type, x->med_type);
    assert_same_str(j->dise_codg, x->dise_codg);
    assert_same_str(j->insutype, x->insutype);
    assert_int_equal(j->psn_insu_stas, x->psn_insu_stas);
    assert_int_equal(j->medfee_sumamt, x->medfee_sumamt);
    assert_int_equal(j->fulamt_ownpay_amt, x->fulamt_ownpay_amt);
    assert_int_equal(j->overlmt_selfpay, x->overlmt_selfpay);
    assert_int_equal(j->fund_pay_sumamt, x->fund_pay_sumamt);
    assert_int_equal(j->has_fund_pay_sumamt, x->has_fund_pay_sumamt);
    assert_int_equal(j->psn_part_amt, x->psn_part_amt);
    assert_int_equal(j->has_psn_part_amt, x->has_psn_part_amt);
    assert_int_equal(j->psn_cash_pay, x->psn_cash_pay);
    assert_int_equal(j->has_psn_cash_pay, x->has_psn_cash_pay);
    assert_int_equal(j->has_fee_detail, x->has_fee_detail);
    assert_int_equal(j->fees->nelts, x->fees->nelts);
    for (i = 0; i < j->fees->nelts; i++) {
        const hmb_fee_t *a = &APR_ARRAY_IDX(j->fees, i, hmb_fee_t);
        const hmb_fee_t *b = &APR_ARRAY_IDX(x->fees, i, hmb_fee_t);
        assert_same_str(a->feedetl_sn, b->feedetl_sn);
        assert_same_str(a->med_list_codg, b->med_list_codg);
        assert_int_equal(a->fulamt_ownpay_amt, b->fulamt_ownpay_amt);
        assert_int_equal(a->overlmt_amt, b->overlmt_amt);
    }
}

/* ------------------------------------------------------------------ */
/* The worked example: the same as the XML files                       */

static const apr_size_t steps[] = { 0, 1, 2, 3, 7, 4096 };
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

/* Pair i of the worked example, kind "req" or "resp": the JSON file (GBK
 * for pair 3, as its XML is) and the XML one. */
static char *example(apr_pool_t *p, int i, const char *kind, apr_size_t *len,
                     char **xml, const char **charset)
{
    *charset = i == 3 ? "GBK" : NULL;
    *xml = hmb_test_slurp(p, apr_psprintf(p, "%s%d.%s.xml", HMB_EXAMPLE(""),
                                          i, kind), NULL);
    return slurp(p, apr_psprintf(p, "worked-example/%d.%s.json", i, kind),
                 len);
}

static void test_worked_example_requests(void **state)
{
    apr_pool_t *p = *state;
    int i;
    apr_size_t s;

    for (i = 1; i <= 4; i++) {
        apr_size_t len;
        const char *charset;
        char *xml, *buf = example(p, i, "req", &len, &xml, &charset);
        hmb_request_t *x = NULL;

        assert_null(hmb_request_parse(p, xml, strlen(xml), &x));
        for (s = 0; s < N_STEPS; s++) {
            hmb_request_t *j = request_ok(p, charset, buf, len, steps[s]);

            assert_string_equal(j->encoding, i == 3 ? "GBK" : "UTF-8");
            assert_same_str(j->infno, x->infno);
            assert_int_equal(j->tx, x->tx);
            assert_same_str(j->msgid, x->msgid);
            assert_same_str(j->fixmedins_code, x->fixmedins_code);
            assert_same_str(j->fixmedins_name, x->fixmedins_name);
            assert_string_equal(j->fixmedins_name, "宜春市人民医院");
            assert_same_str(j->insuplc_admdvs, x->insuplc_admdvs);
            assert_same_str(j->inf_time, x->inf_time);
            assert_same_str(j->setl_id, x->setl_id);
            assert_same_str(j->mdtrt_id, x->mdtrt_id);
            assert_same_str(j->psn_no, x->psn_no);
        }
    }
}

static void test_worked_example_responses(void **state)
{
    apr_pool_t *p = *state;
    int i;
    apr_size_t s;

    for (i = 1; i <= 4; i++) {
        apr_size_t len, end;
        const char *charset;
        char *xml, *buf = example(p, i, "resp", &len, &xml, &charset);
        hmb_response_t *x = NULL;

        /* 4 is on one line: its output closes just before the last '}' */
        end = i == 4 ? len - 3 : output_end(buf);

        assert_int_equal(buf[end], '}');
        assert_null(hmb_response_parse(p, xml, strlen(xml), i == 4, &x));
        for (s = 0; s < N_STEPS; s++) {
            hmb_response_t *j = response_ok(p, charset, buf, len, steps[s],
                                             i == 4);

            assert_string_equal(j->encoding, i == 3 ? "GBK" : "UTF-8");
            assert_true(j->actionable);
            assert_null(j->skip_reason);
            assert_same_response(j, x);
            assert_int_equal(j->splice_at, end);
            assert_true(j->splice_comma);
            /* setldetail has one element: a fund line goes after it */
            assert_true(j->fund_at > 0);
            assert_int_equal(buf[j->fund_at], ']');
            assert_true(j->fund_comma);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Envelopes                                                           */

static void test_request_variants(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = slurp(p, "valid/mdtrtinfo.req.json", &len);
    hmb_request_t *q = request_ok(p, NULL, buf, len, 0);
    char *s;

    /* one region: input.mdtrtinfo instead of input.data */
    assert_int_equal(q->tx, HMB_TX_CANCEL);
    assert_string_equal(q->setl_id, "S2024050100001");
    assert_string_equal(q->psn_no, "36090000000000000001");
    assert_string_equal(q->mdtrt_id, "M20240000004");
    assert_string_equal(request_err(p, replace(p, buf, "\"setl_id\"",
                                               "\"setl_no\"")),
                        "input/mdtrtinfo/setl_id: missing");
    assert_contains(request_err(p, replace(p, buf, "\"mdtrtinfo\": {",
                                           "\"data\": {\"setl_id\": \"S1\"},"
                                           "\"mdtrtinfo\": {")),
                    "request/input: more than one \"data\"");

    /* extra envelope keys (dev_safe_info, cainfo, signtype, camelCase,
     * provincial ones) are in 2.req.json and change nothing; here the
     * shapes that are refused or ignored */
    buf = slurp(p, "worked-example/2.req.json", &len);
    assert_contains(buf, "\"cainfo\"");
    q = request_ok(p, NULL, buf, len, 0);
    assert_string_equal(q->fixmedins_code, "H36090200001");
    assert_string_equal(q->infno, "2304");
    s = replace(p, buf, "\"data\": {", "\"data\": [{");
    s = replace(p, s, "\n        }\n", "\n        }]\n");
    assert_string_equal(request_err(p, s),
                        "input/data: an array, expected an object");
    s = replace(p, buf, "\"input\": {", "\"input\": \"ZW5jcnlwdGVk\", "
                "\"x\": {");
    q = request_ok(p, NULL, s, strlen(s), 0);
    assert_null(q->psn_no);
    assert_contains(request_err(p, replace(p, buf, "\"infno\": \"2304\"",
                                           "\"infno\": \"2304\", "
                                           "\"infno\": null")),
                    "request: more than one \"infno\"");
    assert_contains(request_err(p, replace(p, buf, "\"input\": {",
                                           "\"input\": {}, \"input\": {")),
                    "request: more than one \"input\"");
    /* a number for an identifier is its literal text */
    s = replace(p, buf, "\"infno\": \"2304\"", "\"infno\": 2304");
    q = request_ok(p, NULL, s, strlen(s), 0);
    assert_string_equal(q->infno, "2304");
    assert_int_equal(q->tx, HMB_TX_SETTLE);
    /* null is absent */
    assert_string_equal(request_err(p, replace(p, buf, "\"infno\": \"2304\"",
                                               "\"infno\": null")),
                        "request/infno: missing");
    /* not ours: nothing else is looked at */
    s = replace(p, replace(p, buf, "\"infno\": \"2304\"",
                           "\"infno\": \"1101\""),
                "\"data\": {", "\"data\": 7, \"x\": {");
    q = request_ok(p, NULL, s, strlen(s), 0);
    assert_int_equal(q->tx, HMB_TX_NONE);
}

static void test_response_variants(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *file, *infcode, *reason;
    } pass[] = {
        {"valid/output-null.resp.json", "0", "no \"output\" in the response"},
        {"valid/output-empty.resp.json", "0",
         "no \"setlinfo\" in \"output\""},
        {"valid/output-encrypted.resp.json", "0",
         "\"output\" is not an object (encrypted?)"},
        {"valid/setlinfo-null.resp.json", "0",
         "no \"setlinfo\" in \"output\""},
        {"valid/gateway-error.resp.json", "-1",
         "infcode -1 (err_msg of 34 bytes, not logged)"},
    };
    char *ex = slurp(p, "worked-example/1.resp.json", NULL);
    hmb_response_t *r;
    const char *s;
    int i;

    for (i = 0; i < (int)(sizeof(pass) / sizeof(pass[0])); i++) {
        apr_size_t len;
        char *buf = slurp(p, pass[i].file, &len);

        r = response_ok(p, NULL, buf, len, 0, 0);
        assert_false(r->actionable);
        assert_string_equal(r->infcode, pass[i].infcode);
        assert_string_equal(r->skip_reason, pass[i].reason);
    }

    /* infcode: 0 or "0", before or after output (2.resp.json) */
    s = replace(p, ex, "\"infcode\": 0", "\"infcode\": \"0\"");
    assert_true(response_ok(p, NULL, s, strlen(s), 0, 0)->actionable);
    s = replace(p, ex, "\"infcode\": 0", "\"infcode\": \"1\"");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_false(r->actionable);
    assert_string_equal(r->skip_reason, "infcode 1");
    /* a failed settlement's output is not read at all */
    s = replace(p, replace(p, ex, "\"infcode\": 0", "\"infcode\": 2"),
                "\"psn_part_amt\": 48000.00", "\"psn_part_amt\": [1e9]");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_string_equal(r->skip_reason, "infcode 2");
    s = replace(p, ex, "\"output\": {", "\"output\": [], \"x\": {");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_contains(r->skip_reason, "is not an object");
    s = replace(p, ex, "\"infcode\": 0,", "");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "response/infcode: missing");
    /* a second structural key is more than one whatever either value */
    s = replace(p, ex, "\"output\": {", "\"output\": null, \"output\": {");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "response: more than one \"output\"");
    s = replace(p, ex, "\"setlinfo\": {",
                "\"setlinfo\": null, \"setlinfo\": {");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "output: more than one \"setlinfo\"");
    s = replace(p, ex, "\"setldetail\": [",
                "\"setldetail\": null, \"setldetail\": [");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "output: more than one \"setldetail\"");
    /* setldetail that is not an array: no place for a fund line */
    s = replace(p, ex, "\"setldetail\": [", "\"setldetail\": {\"a\": [");
    s = replace(p, s, "        ]\n    }\n}", "        ]}\n    }\n}");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_true(r->actionable);
    assert_int_equal(r->fund_at, -1);
    s = replace(p, ex, "\"infcode\": 0,", "\"infcode\": true,");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_string_equal(r->infcode, "true");
    assert_false(r->actionable);
}

static void test_response_fees(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, s;
    char *buf = slurp(p, "valid/fees.resp.json", &len);

    for (s = 0; s < N_STEPS; s++) {
        hmb_response_t *r = response_ok(p, NULL, buf, len, steps[s], 0);
        const hmb_fee_t *f;

        assert_true(r->actionable);
        assert_int_equal(r->splice_at, output_end(buf));
        /* setldetail is empty: a fund line goes in without a comma */
        assert_int_equal(r->fund_at, strstr(buf, "[],") + 1 - buf);
        assert_false(r->fund_comma);
        assert_string_equal(r->setl_time, "2024-02-29 23:59:59");
        assert_string_equal(r->dise_codg, "M03900");
        assert_int_equal(r->psn_insu_stas, 2);
        assert_int_equal(r->medfee_sumamt, 500050);
        assert_int_equal(r->fulamt_ownpay_amt, 80000);
        assert_int_equal(r->overlmt_selfpay, 1203);
        assert_int_equal(r->fund_pay_sumamt, 300000);
        assert_false(r->has_psn_part_amt);
        assert_false(r->has_psn_cash_pay);
        assert_int_equal(r->fees->nelts, 4);
        f = &APR_ARRAY_IDX(r->fees, 1, hmb_fee_t);
        assert_string_equal(f->feedetl_sn, "2");
        assert_int_equal(f->fulamt_ownpay_amt, 0);
        assert_int_equal(f->overlmt_amt, 1203);
        f = &APR_ARRAY_IDX(r->fees, 2, hmb_fee_t);
        assert_int_equal(f->fulamt_ownpay_amt, -10000);
        assert_int_equal(f->overlmt_amt, -50);
        f = &APR_ARRAY_IDX(r->fees, 3, hmb_fee_t);
        assert_null(f->feedetl_sn);
        assert_string_equal(f->med_list_codg, "F00000001");
        assert_int_equal(f->fulamt_ownpay_amt, 0);
    }
}

/* ------------------------------------------------------------------ */
/* Field values and the checks' lines                                  */

static void test_values(void **state)
{
    apr_pool_t *p = *state;
    char *ex = slurp(p, "worked-example/1.resp.json", NULL);
    hmb_response_t *r;
    const char *s;

    /* numbers as written, whatever their scale */
    s = replace(p, ex, "\"psn_part_amt\": 48000.00",
                "\"psn_part_amt\": 48000.000000");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->psn_part_amt,
                     4800000);
    s = replace(p, ex, "\"psn_part_amt\": 48000.00", "\"psn_part_amt\": 48000");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->psn_part_amt,
                     4800000);
    s = replace(p, ex, "\"psn_part_amt\": 48000.00",
                "\"psn_part_amt\": \" 48000.1 \"");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->psn_part_amt,
                     4800010);
    s = replace(p, ex, "\"medfee_sumamt\": 120000.00",
                "\"medfee_sumamt\": 9999999999.990");
    r = response_ok(p, NULL, s, strlen(s), 0, 0);
    assert_true(r->medfee_sumamt == HMB_FEN_MAX);
    s = replace(p, ex, "\"psn_part_amt\": 48000.00", "\"psn_part_amt\": -25.1");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 1)->psn_part_amt,
                     -2510);
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "setlinfo/psn_part_amt: \"-25.1\": negative amount "
                        "not allowed here");
    /* status digit as a number, text as true */
    s = replace(p, ex, "\"psn_insu_stas\": \"1\"", "\"psn_insu_stas\": 2");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->psn_insu_stas,
                     2);
    s = replace(p, ex, "\"psn_insu_stas\": \"1\"", "\"psn_insu_stas\": true");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "setlinfo/psn_insu_stas: \"true\" is not a status "
                        "digit 0-9");
    /* null is absent; required and optional */
    s = replace(p, ex, "\"med_type\": \"21\"", "\"med_type\": null");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "setlinfo/med_type: missing");
    s = replace(p, ex, "\"insutype\": \"390\"", "\"insutype\": null");
    assert_null(response_ok(p, NULL, s, strlen(s), 0, 0)->insutype);
    s = replace(p, ex, "\"med_type\": \"21\"", "\"med_type\": \"\"");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "setlinfo/med_type: empty");
    /* an object or array where a value belongs */
    s = replace(p, ex, "\"med_type\": \"21\"", "\"med_type\": [\"21\"]");
    assert_string_equal(response_err(p, NULL, s, strlen(s)),
                        "setlinfo/med_type: holds an array, expected a "
                        "string or a number");
    /* escapes are undone before the checks see the text */
    s = replace(p, ex, "\"setl_time\": \"2024-05-01 09:30:00\"",
                "\"setl_time\": \"2024\\u002d05-01 09:30:00\"");
    assert_string_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->setl_time,
                        "2024-05-01 09:30:00");
    s = replace(p, ex, "\"psn_no\": \"36090000000000000001\"",
                "\"psn_no\": \"3609\\t0001\"");
    assert_contains(response_err(p, NULL, s, strlen(s)),
                    "setlinfo/psn_no: \"3609***01\" is not printable ASCII");
    /* amounts: the JSON rules */
    s = replace(p, ex, "\"psn_part_amt\": 48000.00",
                "\"psn_part_amt\": 48000.10000");
    assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->psn_part_amt,
                     4800010);
    s = replace(p, ex, "\"psn_cash_pay\": 45000.00",
                "\"psn_cash_pay\": \"4.5E4\"");
    assert_contains(response_err(p, NULL, s, strlen(s)),
                    "setlinfo/psn_cash_pay: \"4.5E4\": an exponent is not "
                    "accepted");
    /* a field longer than any real one */
    {
        char *big = apr_palloc(p, HMB_MESSAGE_MAX_FIELD + 2);
        memset(big, 'A', HMB_MESSAGE_MAX_FIELD + 1);
        big[HMB_MESSAGE_MAX_FIELD + 1] = '\0';
        s = replace(p, ex, "\"36090000000000000001\"",
                    apr_pstrcat(p, "\"", big, "\"", NULL));
        assert_string_equal(response_err(p, NULL, s, strlen(s)),
                            "response: setlinfo/psn_no: text longer than "
                            "65536 bytes");
        /* a long value in a field we do not read is only parsed */
        s = replace(p, ex, "\"张三\"", apr_pstrcat(p, "\"", big, "\"", NULL));
        assert_true(response_ok(p, NULL, s, strlen(s), 0, 0)->actionable);
    }
}

/* ------------------------------------------------------------------ */
/* Hostile input                                                       */

static void test_hostile_corpus(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *file, *why;
    } bad[] = {
        {"dup-key.resp.json", "setlinfo: more than one \"psn_part_amt\""},
        {"dup-key-null.resp.json", "setlinfo: more than one \"psn_no\""},
        {"dup-output.resp.json", "response: more than one \"output\""},
        {"dup-setlinfo.resp.json", "output: more than one \"setlinfo\""},
        {"dup-feedetail.resp.json", "output: more than one \"feedetail\""},
        {"three-decimals.resp.json", "setlinfo/psn_part_amt: \"48000.001\": "
         "a fraction of a fen"},
        {"exponent.resp.json", "setlinfo/psn_cash_pay: \"4.5e4\": an "
         "exponent is not accepted"},
        {"huge-number.resp.json", "setlinfo/medfee_sumamt: \"9999999999999999"
         "999999999999999999999999...\": amount too large"},
        {"huge-exponent.resp.json", "an exponent is not accepted"},
        {"overlong-utf8.resp.json", "response: a string that is not UTF-8 "
         "text or holds \\u0000 near byte"},
        {"bad-utf8.resp.json", "response: not well-formed JSON near byte "},
        {"surrogate.resp.json", "a string that is not UTF-8 text"},
        {"nul.resp.json", "a string that is not UTF-8 text or holds \\u0000"},
        {"control-char.resp.json", "not well-formed JSON"},
        {"truncated.resp.json", "response: not well-formed JSON at the end: "
         "parse error: premature EOF"},
        {"unterminated.resp.json", "premature EOF"},
        {"utf16le.resp.json", "response: UTF-16 or UTF-32 is not supported"},
        {"utf16be.resp.json", "response: UTF-16 or UTF-32 is not supported"},
        {"trailing-garbage.resp.json", "trailing garbage"},
        {"two-values.resp.json", "trailing garbage"},
        {"comment.resp.json", "not well-formed JSON"},
        {"array.resp.json", "response: the message is not a JSON object"},
        {"single-quotes.resp.json", "not well-formed JSON"},
        {"nan.resp.json", "not well-formed JSON"},
        {"leading-zero.resp.json", "not well-formed JSON"},
        {"setlinfo-array.resp.json", "output/setlinfo: an array, expected an "
         "object"},
        {"feedetail-object.resp.json", "output/feedetail: an object, expected "
         "an array of objects"},
        {"feedetail-scalar.resp.json", "output/feedetail[2]: a string, "
         "expected an object"},
        {"field-object.resp.json", "setlinfo/psn_no: holds an object, "
         "expected a string or a number"},
    };
    int i, n = (int)(sizeof(bad) / sizeof(bad[0]));

    for (i = 0; i < n; i++) {
        apr_size_t len;
        char *buf = slurp(p, apr_pstrcat(p, "hostile/", bad[i].file, NULL),
                          &len);
        const char *err = response_err(p, NULL, buf, len);

        if (!strstr(err, bad[i].why)) {
            fail_msg("%s: \"%s\", expected \"%s\"", bad[i].file, err,
                     bad[i].why);
        }
        /* every refusal holds at every cut of the bytes */
        {
            hmb_response_t *r = NULL;
            assert_non_null(response_try(p, NULL, buf, len, 1, 0, &r));
            assert_null(r);
        }
    }
    {
        char *buf = slurp(p, "hostile/dup-infno.req.json", NULL);
        assert_string_equal(request_err(p, buf),
                            "request: more than one \"infno\"");
        buf = slurp(p, "hostile/field-array.req.json", NULL);
        assert_string_equal(request_err(p, buf),
                            "request/infno: holds an array, expected a "
                            "string or a number");
    }
}

static void test_depth_and_size(void **state)
{
    apr_pool_t *p = *state;
    char *ex = slurp(p, "worked-example/1.resp.json", NULL);
    apr_size_t big = HMB_MESSAGE_MAX_BYTES + 1;
    char *huge, *s;
    const char *open, *close;
    int depth;

    /* setl_proc_info sits at depth 4 (message, output, setldetail, its
     * element): 28 levels more are the limit, 29 too many */
    for (depth = 28; depth <= 29; depth++) {
        int k;

        /* {"a":[{"a":[...]}]} */
        open = "";
        close = "";
        for (k = 0; k < depth; k++) {
            open = apr_pstrcat(p, open, k % 2 ? "[" : "{\"a\":", NULL);
            close = apr_pstrcat(p, k % 2 ? "]" : "}", close, NULL);
        }
        s = replace(p, ex, "\"setl_proc_info\": \"\"",
                    apr_pstrcat(p, "\"setl_proc_info\": ", open, "0", close,
                                NULL));
        if (depth == 28) {
            assert_true(response_ok(p, NULL, s, strlen(s), 0, 0)->actionable);
        }
        else {
            assert_string_equal(response_err(p, NULL, s, strlen(s)),
                                "response: objects and arrays nested deeper "
                                "than 32");
        }
    }
    /* a million brackets cost no more than 33 of them */
    huge = apr_palloc(p, 1000000);
    memset(huge, '[', 1000000);
    assert_string_equal(response_err(p, NULL, huge, 1000000),
                        "response: objects and arrays nested deeper than 32");

    huge = apr_palloc(p, big);
    memset(huge, ' ', big);
    huge[0] = '{';
    assert_contains(response_err(p, NULL, huge, big),
                    "more than the limit of 8388608");

    /* at most HMB_MESSAGE_MAX_FEES fee lines */
    {
        apr_array_header_t *lines = apr_array_make(p, HMB_MESSAGE_MAX_FEES + 2,
                                                   sizeof(char *));
        int n;
        for (n = 0; n < HMB_MESSAGE_MAX_FEES; n++) {
            APR_ARRAY_PUSH(lines, const char *) =
                "{\"med_list_codg\":\"A\",\"fulamt_ownpay_amt\":0.01},";
        }
        APR_ARRAY_PUSH(lines, const char *) = "{\"med_list_codg\":\"B\"}";
        s = apr_array_pstrcat(p, lines, 0);
        s = replace(p, ex, "\"setldetail\"",
                    apr_pstrcat(p, "\"feedetail\": [", s, "], \"setldetail\"",
                                NULL));
        assert_string_equal(response_err(p, NULL, s, strlen(s)),
                            "output: more than 20000 \"feedetail\" lines");
        s = replace(p, s, ",{\"med_list_codg\":\"B\"}", "");
        assert_int_equal(response_ok(p, NULL, s, strlen(s), 0, 0)->fees->nelts,
                         HMB_MESSAGE_MAX_FEES);
    }
    assert_contains(response_err(p, NULL, "", 0), "response: empty message");
    assert_contains(response_err(p, NULL, " ", 1), "premature EOF");
}

/* ------------------------------------------------------------------ */
/* Where hmbinfo goes                                                  */

static void test_splice_tricky(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, s;
    char *buf = slurp(p, "valid/tricky.resp.json", &len);
    char *bom = slurp(p, "valid/bom.resp.json", NULL);
    char *plain = slurp(p, "worked-example/1.resp.json", NULL);

    /* "output":{ in strings, '}' in strings, output members elsewhere:
     * only the top-level one counts */
    for (s = 0; s < N_STEPS; s++) {
        hmb_response_t *r = response_ok(p, NULL, buf, len, steps[s], 0);
        assert_int_equal(r->splice_at, output_end(buf));
        assert_string_equal(r->psn_no, "36090000000000000001");
    }
    /* a UTF-8 byte-order mark is skipped and counted */
    for (s = 0; s < N_STEPS; s++) {
        hmb_response_t *r = response_ok(p, NULL, bom, strlen(bom), steps[s],
                                        0);
        assert_int_equal(r->splice_at, output_end(plain) + 3);
    }
}

/* In GBK a trail byte can be '\\', '{', '|' or '}': 0x81 0x5C is 乗 and
 * 0x81 0x7D is 亇. Read as bytes, the err_msg of gbk-trail.resp.json
 * would end early and its braces count; read as GBK it is text. */
static void test_gbk(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, s;
    char *buf = slurp(p, "valid/gbk-trail.resp.json", &len);
    char *gb = slurp(p, "valid/gb18030.resp.json", NULL);
    hmb_response_t *r;
    char *t;

    assert_non_null(strstr(buf, "\x81\x5c\x5c\"\x81\x7d}"));
    for (s = 0; s < N_STEPS; s++) {
        r = response_ok(p, "GBK", buf, len, steps[s], 0);
        assert_string_equal(r->encoding, "GBK");
        assert_int_equal(r->splice_at, output_end(buf));
        assert_int_equal(buf[r->fund_at], ']');
        assert_string_equal(r->psn_no, "36090000000000000001");
    }
    /* the same bytes are not UTF-8 */
    assert_contains(response_err(p, NULL, buf, len), "not well-formed JSON");
    assert_contains(response_err(p, "UTF-8", buf, len),
                    "not well-formed JSON");
    /* err_msg in GBK is read as text (8 bytes of UTF-8 from 6 of GBK,
     * with a quote and a brace among the trail bytes), and not logged */
    t = replace(p, buf, "\"infcode\": 0", "\"infcode\": 9");
    r = response_ok(p, "gbk", t, len, 1, 0);
    assert_string_equal(r->skip_reason,
                        "infcode 9 (err_msg of 8 bytes, not logged)");
    /* GB18030's four-byte characters, and GBK does not have them */
    r = response_ok(p, "GB18030", gb, strlen(gb), 1, 0);
    assert_int_equal(r->splice_at, output_end(gb));
    assert_contains(response_err(p, "GBK", gb, strlen(gb)),
                    "response: the bytes are not valid GBK near byte ");
    /* bytes no GB encoding has, and a character cut by the end */
    t = replace(p, buf, "\"warn_msg\": \"", "\"warn_msg\": \"\xff");
    assert_contains(response_err(p, "GBK", t, len + 1),
                    "the bytes are not valid GBK near byte 194");
    assert_string_equal(response_err(p, "GBK", buf, len - 2),
                        "response: not well-formed JSON at the end: parse "
                        "error: premature EOF");
    assert_string_equal(response_err(p, "GBK", "{\"a\": \"\x81", 8),
                        "response: the message ends inside a GBK character");
    /* a UTF-8 byte-order mark in a message said to be GBK */
    assert_contains(response_err(p, "GBK", "\xef\xbb\xbf{}", 5),
                    "a UTF-8 byte-order mark in a message said to be GBK");
    /* an encoding we do not read */
    assert_string_equal(response_err(p, "ISO-8859-1", "{\"infcode\":0}", 13),
                        "response: encoding \"ISO-8859-1\" is not supported "
                        "(UTF-8, GBK, GB18030)");
}

/* ------------------------------------------------------------------ */
/* The format, sniffed                                                 */

static void test_sniff(void **state)
{
    apr_pool_t *p = *state;
    char *xml = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    char *json = slurp(p, "worked-example/2.resp.json", NULL);
    char *bom = slurp(p, "valid/bom.resp.json", NULL);
    char *utf16 = NULL;
    apr_size_t s, len16;
    hmb_response_t *x, *j;
    hmb_msg_reader_t *r;
    const char *err, *lead;

    for (s = 0; s < N_STEPS; s++) {
        r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, xml,
                       strlen(xml), steps[s]);
        assert_null(hmb_response_finish(r, 0, &x));
        assert_int_equal(x->wire, HMB_WIRE_XML);
        assert_int_equal(x->splice_at, strstr(xml, "</output>") - xml);
        r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, json,
                       strlen(json), steps[s]);
        assert_null(hmb_response_finish(r, 0, &j));
        assert_int_equal(j->wire, HMB_WIRE_JSON);
        assert_same_response(j, x);
        r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, bom,
                       strlen(bom), steps[s]);
        assert_null(hmb_response_finish(r, 0, &j));
        assert_int_equal(j->wire, HMB_WIRE_JSON);
    }
    /* blanks first */
    lead = apr_pstrcat(p, " \r\n\t ", json, NULL);
    r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, lead,
                   strlen(lead), 1);
    assert_null(hmb_response_finish(r, 0, &j));
    assert_int_equal(j->wire, HMB_WIRE_JSON);
    assert_int_equal(j->splice_at, output_end(json) + 5);
    /* UTF-16 JSON goes to the JSON reader, which says what it is */
    utf16 = slurp(p, "hostile/utf16le.resp.json", &len16);
    r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, utf16, len16,
                   0);
    assert_contains(hmb_response_finish(r, 0, &j), "UTF-16");
    /* anything else is XML, as before */
    r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_SNIFF, NULL, "not xml", 7, 0);
    err = hmb_response_finish(r, 0, &j);
    assert_non_null(err);
    assert_true(strncmp(err, "response:", 9) == 0);
    /* the old constructor is XML whatever the bytes */
    r = hmb_msg_reader(p, HMB_MSG_RESPONSE);
    hmb_msg_feed(r, json, strlen(json));
    assert_non_null(hmb_response_finish(r, 0, &j));
    /* requests too */
    {
        char *req = slurp(p, "worked-example/4.req.json", NULL);
        hmb_request_t *q;
        r = reader_fed(p, HMB_MSG_REQUEST, HMB_WIRE_SNIFF, NULL, req,
                       strlen(req), 5);
        assert_null(hmb_request_finish(r, &q));
        assert_int_equal(q->wire, HMB_WIRE_JSON);
        assert_string_equal(q->setl_id, "S2024050100001");
    }
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */

static void test_escape(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(hmb_json_escape_ascii(p, "plain"), "plain");
    assert_string_equal(hmb_json_escape_ascii(p, "a\"b\\c/d"),
                        "a\\\"b\\\\c/d");
    assert_string_equal(hmb_json_escape_ascii(p, "\n\t\r\x01\x7f"),
                        "\\n\\t\\u000d\\u0001\\u007f");
    assert_string_equal(hmb_json_escape_ascii(p, "合计12100.00元"),
                        "\\u5408\\u8ba112100.00\\u5143");
    /* above U+FFFF: a surrogate pair */
    assert_string_equal(hmb_json_escape_ascii(p, "\xf0\x9f\x8f\xa5"),
                        "\\ud83c\\udfe5");
    assert_string_equal(hmb_json_escape_ascii(p, "\xf0\xa0\x80\x80"),
                        "\\ud840\\udc00");
    /* not UTF-8 */
    assert_string_equal(hmb_json_escape_ascii(p, "a\xff" "b\xc0\xaf"),
                        "a?b??");
    assert_string_equal(hmb_json_escape_ascii(p, NULL), "");
}

/* The plan and the person of the worked example. */
static const hmb_plan_t *example_plan(apr_pool_t *p)
{
    hmb_plan_t *plan = NULL;
    const char *err = hmb_plan_load(p, HMB_EXAMPLE("plan.xml"), &plan);

    if (err) {
        fail_msg("plan: %s", err);
    }
    return plan;
}

static hmb_decision_t *example_decision(apr_pool_t *p,
                                        const hmb_response_t *resp,
                                        hmb_tx_e tx)
{
    hmb_engine_input_t in;
    hmb_enrollment_t *e = apr_pcalloc(p, sizeof(*e));

    e->plan_code = "YCHMB";
    e->plan_year = 2024;
    e->psn_no = "36090000000000000001";
    e->cover_from = "2024-01-01";
    e->payer = "account";
    e->premium = 6900;
    memset(&in, 0, sizeof(in));
    in.tx = tx;
    in.plan = example_plan(p);
    in.enrollment = e;
    in.resp = resp;
    in.fixmedins_code = "H36090200001";
    return hmb_engine_decide(p, &in);
}

static void test_render(void **state)
{
    apr_pool_t *p = *state;
    char *buf = slurp(p, "worked-example/1.resp.json", NULL);
    hmb_response_t *r = response_ok(p, NULL, buf, strlen(buf), 0, 0);
    hmb_decision_t *d = example_decision(p, r, HMB_TX_PRESETTLE);
    hmb_hmbinfo_ctx_t ctx;
    const char *info, *xml;

    memset(&ctx, 0, sizeof(ctx));
    ctx.mdtrt_id = r->mdtrt_id;
    info = hmb_hmbinfo_render_json(p, d, &ctx, 1);
    assert_prefix(
        info,
        ",\"hmbinfo\":{\"hmb_stas\":\"presettled\",\"plan_code\":\"YCHMB\","
        "\"plan_year\":2024,\"plan_ver\":1,\"mdtrt_id\":\"M20240000001\","
        "\"hmb_pay\":12100.00,\"psn_part_amt_aft\":35900.00,"
        "\"psn_cash_pay_aft\":32900.00,\"hmbdetail\":["
        "{\"liab_code\":\"inscope\",\"elig_amt\":28000.00,"
        "\"dedc_amt\":15000.00,\"pay_prop\":0.7000,\"pay_amt\":9100.00,"
        "\"cum_elig_amt\":28000.00,\"dedc_left\":0.00,"
        "\"cap_left\":990900.00},"
        "{\"liab_code\":\"outscope\",\"elig_amt\":20000.00,"
        "\"dedc_amt\":15000.00,\"pay_prop\":0.6000,\"pay_amt\":3000.00,"
        "\"cum_elig_amt\":20000.00,\"dedc_left\":0.00,"
        "\"cap_left\":997000.00}],"
        "\"hmbinsurer\":[{\"insurer_code\":\"PICC\",\"share\":0.4000,"
        "\"pay_amt\":4840.00},{\"insurer_code\":\"CLIC\",\"share\":0.3500,"
        "\"pay_amt\":4235.00},{\"insurer_code\":\"PAIC\",\"share\":0.2500,"
        "\"pay_amt\":3025.00}],"
        "\"hmb_memo\":\"");
    assert_int_equal(info[strlen(info) - 1], '}');
    assert_null(strpbrk(info, "\x80\x81\xe5\n"));
    /* without a member before it, no comma */
    assert_int_equal(hmb_hmbinfo_render_json(p, d, &ctx, 0)[0], '"');
    /* the same fields as the element, the element as it was */
    xml = hmb_hmbinfo_render(p, d, &ctx);
    assert_contains(xml, "<hmbinfo><hmb_stas>presettled</hmb_stas>"
                    "<plan_code>YCHMB</plan_code><plan_year>2024</plan_year>");
    assert_contains(xml, "<hmbdetail><liab_code>inscope</liab_code>"
                    "<elig_amt>28000.00</elig_amt>");
    assert_contains(xml, "</hmbinsurer><hmb_memo>&#23452;");
    /* a fund line only with fund_pay_type */
    assert_string_equal(hmb_hmbinfo_fund_line_json(p, d, &ctx, 1), "");
    ctx.fund_pay_type = "HMB001";
    ctx.fund_pay_type_name = "惠民保";
    assert_string_equal(hmb_hmbinfo_fund_line_json(p, d, &ctx, 1),
                        ",{\"fund_pay_type\":\"HMB001\",\"inscp_scp_amt\":"
                        "48000.00,\"crt_payb_lmt_amt\":0.00,\"fund_payamt\":"
                        "12100.00,\"fund_pay_type_name\":\"\\u60e0\\u6c11"
                        "\\u4fdd\",\"setl_proc_info\":\"\"}");
    assert_string_equal(hmb_hmbinfo_fund_line(p, d, &ctx),
                        "<setldetail><fund_pay_type>HMB001</fund_pay_type>"
                        "<inscp_scp_amt>48000.00</inscp_scp_amt>"
                        "<crt_payb_lmt_amt>0.00</crt_payb_lmt_amt>"
                        "<fund_payamt>12100.00</fund_payamt>"
                        "<fund_pay_type_name>&#24800;&#27665;&#20445;"
                        "</fund_pay_type_name><setl_proc_info/></setldetail>");
}

/* bytes [0, at) + ins + bytes [at, len) */
static char *insert_at(apr_pool_t *p, const char *buf, apr_size_t len,
                       apr_size_t at, const char *ins)
{
    apr_size_t n = strlen(ins);
    char *out = apr_palloc(p, len + n + 1);

    memcpy(out, buf, at);
    memcpy(out + at, ins, n);
    memcpy(out + at + n, buf + at, len - at);
    out[len + n] = '\0';
    return out;
}

static char *to_utf8(apr_pool_t *p, const char *charset, const char *buf,
                     apr_size_t len)
{
    apr_xlate_t *x;
    apr_size_t in = len, room = len * 3 + 1;
    char *out = apr_palloc(p, room);

    if (!charset) {
        return apr_pstrmemdup(p, buf, len);
    }
    assert_int_equal(apr_xlate_open(&x, "UTF-8", charset, p), APR_SUCCESS);
    assert_int_equal(apr_xlate_conv_buffer(x, buf, &in, out, &room),
                     APR_SUCCESS);
    assert_int_equal(in, 0);
    return apr_pstrmemdup(p, out, len * 3 + 1 - room);
}

static yajl_val member(yajl_val obj, const char *name)
{
    size_t i;

    assert_true(YAJL_IS_OBJECT(obj));
    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], name) == 0) {
            return obj->u.object.values[i];
        }
    }
    fail_msg("no member \"%s\"", name);
    return NULL;
}

/* Every actionable fixture: hmbinfo (and a fund line) rendered and put in
 * at the splice points read; the result parses, hmbinfo is the last
 * member of output and the fund line the last element of setldetail,
 * every other byte is as it was, and our reader reads it the same. */
static void test_splice_roundtrip(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *file, *charset;
        int negative;
    } ex[] = {
        {"worked-example/1.resp.json", NULL, 0},
        {"worked-example/2.resp.json", NULL, 0},
        {"worked-example/3.resp.json", "GBK", 0},
        {"worked-example/4.resp.json", NULL, 1},
        {"valid/fees.resp.json", NULL, 0},
        {"valid/tricky.resp.json", NULL, 0},
        {"valid/bom.resp.json", NULL, 0},
        {"valid/gbk-trail.resp.json", "GBK", 0},
        {"valid/gb18030.resp.json", "GB18030", 0},
    };
    int i;

    for (i = 0; i < (int)(sizeof(ex) / sizeof(ex[0])); i++) {
        apr_size_t len, at, n_info, n_fund;
        char *buf = slurp(p, ex[i].file, &len);
        hmb_response_t *r = response_ok(p, ex[i].charset, buf, len, 0,
                                        ex[i].negative);
        hmb_decision_t *d = example_decision(p, r, HMB_TX_SETTLE);
        hmb_hmbinfo_ctx_t ctx;
        const char *info, *fund;
        char *out, *utf8, errbuf[256];
        yajl_val tree, output, last, list;
        hmb_response_t *again;

        memset(&ctx, 0, sizeof(ctx));
        ctx.hmb_setl_id = "HMB-1";
        ctx.setl_id = r->setl_id;
        ctx.mdtrt_id = r->mdtrt_id;
        ctx.fund_pay_type = "HMB001";
        ctx.fund_pay_type_name = "惠民保";
        info = hmb_hmbinfo_render_json(p, d, &ctx, r->splice_comma);
        fund = d->hmb_pay ? hmb_hmbinfo_fund_line_json(p, d, &ctx,
                                                       r->fund_comma) : "";
        n_info = strlen(info);
        n_fund = strlen(fund);
        at = r->splice_at;
        assert_true(r->fund_at >= 0 && (apr_size_t)r->fund_at < at);
        /* the later point first, so the earlier stays where it is */
        out = insert_at(p, buf, len, at, info);
        out = insert_at(p, out, len + n_info, (apr_size_t)r->fund_at, fund);
        assert_memory_equal(out, buf, (apr_size_t)r->fund_at);
        assert_memory_equal(out + r->fund_at + n_fund, buf + r->fund_at,
                            at - (apr_size_t)r->fund_at);
        assert_memory_equal(out + at + n_fund + n_info, buf + at, len - at);

        utf8 = to_utf8(p, ex[i].charset, out, len + n_info + n_fund);
        if (strncmp(utf8, "\xef\xbb\xbf", 3) == 0) {
            utf8 += 3;
        }
        tree = yajl_tree_parse(utf8, errbuf, sizeof(errbuf));
        if (!tree) {
            fail_msg("%s: spliced JSON does not parse: %s", ex[i].file,
                     errbuf);
        }
        output = member(tree, "output");
        assert_true(YAJL_IS_OBJECT(output));
        assert_string_equal(output->u.object.keys[output->u.object.len - 1],
                            "hmbinfo");
        last = output->u.object.values[output->u.object.len - 1];
        assert_string_equal(YAJL_GET_STRING(member(last, "hmb_stas")),
                            hmb_stas_name(d->stas));
        assert_string_equal(YAJL_GET_NUMBER(member(last, "hmb_pay")),
                            hmb_money_str(p, d->hmb_pay));
        assert_string_equal(YAJL_GET_STRING(member(last, "hmb_memo")),
                            d->memo);
        assert_true(YAJL_IS_ARRAY(member(last, "hmbdetail")));
        assert_int_equal(member(last, "hmbinsurer")->u.array.len,
                         d->insurers ? d->insurers->nelts : 0);
        /* the worked example's person is paid; fees.resp.json's is not
         * enrolled */
        assert_int_equal(d->stas, strstr(ex[i].file, "fees")
                                  ? HMB_STAS_INELIGIBLE : HMB_STAS_PAID);
        list = member(output, "setldetail");
        if (n_fund) {
            yajl_val line = list->u.array.values[list->u.array.len - 1];
            assert_string_equal(YAJL_GET_STRING(member(line,
                                                       "fund_pay_type_name")),
                                "惠民保");
        }
        yajl_tree_free(tree);

        /* read again: ours now, so refused as settled, never settled
         * twice */
        assert_contains(response_try(p, ex[i].charset, out,
                                     len + n_info + n_fund, 3,
                                     ex[i].negative, &again),
                        "already holds");
    }
}

/* "hmbinfo" already in output (a second module, a forgery): refused and
 * said to be so; deeper, or outside output, it is nobody's. */
static void test_forged(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *ex = slurp(p, "worked-example/2.resp.json", &len);
    const char *in = replace(p, ex, "\"output\": {",
                             "\"output\": {\"hmbinfo\": {\"hmb_pay\": 1},");
    const char *deep = replace(p, ex, "\"setl_proc_info\": \"\"",
                               "\"setl_proc_info\": \"\", \"hmbinfo\": {}");
    hmb_msg_reader_t *r;
    hmb_response_t *resp = NULL;

    r = reader_fed(p, HMB_MSG_RESPONSE, HMB_WIRE_JSON, NULL, in,
                   strlen(in), 0);
    assert_non_null(hmb_response_finish(r, 0, &resp));
    assert_true(hmb_msg_forged(r));
    resp = response_ok(p, NULL, deep, strlen(deep), 0, 0);
    assert_int_equal(resp->actionable, 1);
}

/* 2301: the answer's lines joined to the request's by feedetl_sn; one
 * the request did not send refuses the message. 1101: the statuses per
 * insutype. 2302: the line taken back. */
static void test_memo(void **state)
{
    apr_pool_t *p = *state;
    static const char req2301[] =
        "{\"infno\":\"2301\",\"msgid\":\"M1\",\"fixmedins_code\":\"H1\","
        "\"input\":{\"feedetail\":["
        "{\"feedetl_sn\":\"1\",\"mdtrt_id\":\"V1\",\"psn_no\":\"P1\","
        "\"med_list_codg\":\"A\"},"
        "{\"feedetl_sn\":\"2\",\"mdtrt_id\":\"V1\",\"psn_no\":\"P1\","
        "\"med_list_codg\":\"B\"}]}}";
    static const char resp2301[] =
        "{\"output\":{\"result\":[{\"feedetl_sn\":\"2\","
        "\"fulamt_ownpay_amt\":-25.1,\"overlmt_amt\":null},"
        "{\"feedetl_sn\":\"1\",\"fulamt_ownpay_amt\":\"1200.00\","
        "\"overlmt_amt\":99.000000}]},\"infcode\":\"0\"}";
    static const char stranger[] =
        "{\"infcode\":0,\"output\":{\"result\":[{\"feedetl_sn\":\"9\","
        "\"fulamt_ownpay_amt\":1}]}}";
    static const char req1101[] =
        "{\"infno\":\"1101\",\"msgid\":\"M2\",\"input\":{\"data\":"
        "{\"mdtrt_cert_type\":\"02\",\"certno\":\"x\"}}}";
    static const char resp1101[] =
        "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"P1\","
        "\"psn_name\":\"x\"},\"insuinfo\":[{\"insutype\":\"310\","
        "\"psn_insu_stas\":\"1\"},{\"insutype\":\"390\","
        "\"psn_insu_stas\":\"2\"}]}}";
    static const char req2302[] =
        "{\"infno\":\"2302\",\"msgid\":\"M3\",\"input\":{\"data\":"
        "{\"mdtrt_id\":\"V1\",\"feedetl_sn\":\"2\",\"psn_no\":\"P1\"}}}";
    hmb_request_t *rq;
    hmb_msg_reader_t *r;
    hmb_memo_t *m;
    const hmb_memo_fee_t *f;
    const hmb_memo_status_t *st;

    assert_null(hmb_request_parse_wire(p, req2301, sizeof(req2301) - 1,
                                       HMB_WIRE_SNIFF, NULL, &rq));
    assert_int_equal(rq->memo, HMB_MEMO_FEES);
    assert_int_equal(hmb_msg_answer_kind(rq), HMB_MSG_FEE_RESULT);
    r = reader_fed(p, HMB_MSG_FEE_RESULT, HMB_WIRE_SNIFF, NULL, resp2301,
                   sizeof(resp2301) - 1, 3);
    assert_null(hmb_memo_finish(r, rq, &m));
    assert_true(m->actionable);
    assert_int_equal(m->fees->nelts, 2);
    f = &APR_ARRAY_IDX(m->fees, 0, hmb_memo_fee_t);
    assert_str(f->fee.feedetl_sn, "2");
    assert_str(f->fee.med_list_codg, "B");
    assert_int_equal(f->fee.fulamt_ownpay_amt, -2510);
    assert_int_equal(f->fee.overlmt_amt, 0);
    f = &APR_ARRAY_IDX(m->fees, 1, hmb_memo_fee_t);
    assert_str(f->fee.med_list_codg, "A");
    assert_str(f->mdtrt_id, "V1");
    assert_str(f->psn_no, "P1");
    assert_int_equal(f->fee.fulamt_ownpay_amt, 120000);
    assert_int_equal(f->fee.overlmt_amt, 9900);
    r = reader_fed(p, HMB_MSG_FEE_RESULT, HMB_WIRE_SNIFF, NULL, stranger,
                   sizeof(stranger) - 1, 0);
    assert_contains(hmb_memo_finish(r, rq, &m), "is no line of the request");

    assert_null(hmb_request_parse_wire(p, req1101, sizeof(req1101) - 1,
                                       HMB_WIRE_SNIFF, NULL, &rq));
    assert_int_equal(hmb_msg_answer_kind(rq), HMB_MSG_PERSON);
    r = reader_fed(p, HMB_MSG_PERSON, HMB_WIRE_SNIFF, NULL, resp1101,
                   sizeof(resp1101) - 1, 0);
    assert_null(hmb_memo_finish(r, rq, &m));
    assert_str(m->psn_no, "P1");
    assert_int_equal(m->status->nelts, 2);
    st = &APR_ARRAY_IDX(m->status, 1, hmb_memo_status_t);
    assert_str(st->insutype, "390");
    assert_int_equal(st->psn_insu_stas, 2);

    assert_null(hmb_request_parse_wire(p, req2302, sizeof(req2302) - 1,
                                       HMB_WIRE_SNIFF, NULL, &rq));
    r = reader_fed(p, HMB_MSG_ACK, HMB_WIRE_SNIFF, NULL, "{\"infcode\":0}",
                   13, 0);
    assert_null(hmb_memo_finish(r, rq, &m));
    assert_true(m->actionable);
    assert_str(m->mdtrt_id, "V1");
    assert_str(m->feedetl_sn, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hmb_test_pool_setup, \
                                             hmb_test_pool_teardown)
        T(test_worked_example_requests),
        T(test_worked_example_responses),
        T(test_request_variants),
        T(test_response_variants),
        T(test_response_fees),
        T(test_values),
        T(test_hostile_corpus),
        T(test_depth_and_size),
        T(test_splice_tricky),
        T(test_gbk),
        T(test_sniff),
        T(test_escape),
        T(test_render),
        T(test_splice_roundtrip),
        T(test_forged),
        T(test_memo),
#undef T
    };
    int rc;

    apr_initialize();
    hmb_xml_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
