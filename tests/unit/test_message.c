/* Settlement messages: the worked example, the three encodings, the byte
 * scanner that finds where <hmbinfo> goes, hostile input, every required
 * field, and the schema against the fixture corpus.
 * Expected values are read off the fixture files by hand. */
#include "hmb_test.h"

#include <apr_file_info.h>

#include "hmb_message.h"
#include "hmb_xml.h"

#define MSG(rel) HMB_FIXTURE("messages/" rel)

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* s without its first <name>...</name> element. */
static char *drop(apr_pool_t *p, const char *s, const char *name)
{
    const char *open = apr_psprintf(p, "<%s>", name);
    const char *close = apr_psprintf(p, "</%s>", name);
    const char *a = strstr(s, open), *b;

    if (!a) {
        fail_msg("fixture lacks <%s>", name);
    }
    b = strstr(a, close);
    assert_non_null(b);
    return apr_psprintf(p, "%.*s%s", (int)(a - s), s, b + strlen(close));
}

/* s with the text of its first <name> element set to value. */
static char *set_field(apr_pool_t *p, const char *s, const char *name,
                       const char *value)
{
    const char *open = apr_psprintf(p, "<%s>", name);
    const char *close = apr_psprintf(p, "</%s>", name);
    const char *a = strstr(s, open), *b;

    if (!a) {
        fail_msg("fixture lacks <%s>", name);
    }
    b = strstr(a, close);
    assert_non_null(b);
    return apr_psprintf(p, "%.*s%s%s%s", (int)(a - s), s, open, value, b);
}

static apr_size_t offset_of(const char *s, const char *needle)
{
    const char *at = strstr(s, needle);

    if (!at) {
        fail_msg("no \"%s\" in the text", needle);
    }
    return (apr_size_t)(at - s);
}

static hmb_response_t *parse_ok(apr_pool_t *p, const char *buf,
                                apr_size_t len, int allow_negative)
{
    hmb_response_t *r = NULL;
    const char *err = hmb_response_parse(p, buf, len, allow_negative, &r);

    if (err) {
        fail_msg("unexpected error: %s", err);
    }
    assert_non_null(r);
    return r;
}

static const char *parse_err(apr_pool_t *p, const char *buf,
                             int allow_negative)
{
    hmb_response_t *r = NULL;
    const char *err = hmb_response_parse(p, buf, strlen(buf), allow_negative,
                                         &r);

    if (!err) {
        fail_msg("accepted: %s", buf);
    }
    assert_null(r);
    assert_null(strchr(err, '\n'));
    return err;
}

static hmb_request_t *request_ok(apr_pool_t *p, const char *buf,
                                 apr_size_t len)
{
    hmb_request_t *r = NULL;
    const char *err = hmb_request_parse(p, buf, len, &r);

    if (err) {
        fail_msg("unexpected error: %s", err);
    }
    assert_non_null(r);
    return r;
}

static const char *request_err(apr_pool_t *p, const char *buf)
{
    hmb_request_t *r = NULL;
    const char *err = hmb_request_parse(p, buf, strlen(buf), &r);

    if (!err) {
        fail_msg("accepted: %s", buf);
    }
    assert_null(r);
    assert_null(strchr(err, '\n'));
    return err;
}

/* Where the splice point of any document is, as libxml2 reads it. */
static void scan(apr_pool_t *p, const char *s, const char **err,
                 apr_size_t *off, int *found)
{
    apr_off_t at = -1;

    *err = hmb_message_splice_point(p, s, strlen(s), &at);
    *found = at >= 0;
    *off = at >= 0 ? (apr_size_t)at : 0;
}

static const char *scan_len(apr_pool_t *p, const char *s, apr_size_t len,
                            apr_size_t *off, int *found)
{
    apr_off_t at = -1;
    const char *err = hmb_message_splice_point(p, s, len, &at);

    *found = at >= 0;
    *off = at >= 0 ? (apr_size_t)at : 0;
    return err;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */

static void test_tx_from_infno(void **state)
{
    assert_int_equal(hmb_tx_from_infno("2303"), HMB_TX_PRESETTLE);
    assert_int_equal(hmb_tx_from_infno("2206"), HMB_TX_PRESETTLE);
    assert_int_equal(hmb_tx_from_infno("2304"), HMB_TX_SETTLE);
    assert_int_equal(hmb_tx_from_infno("2207"), HMB_TX_SETTLE);
    assert_int_equal(hmb_tx_from_infno("2305"), HMB_TX_CANCEL);
    assert_int_equal(hmb_tx_from_infno("2208"), HMB_TX_CANCEL);
    assert_int_equal(hmb_tx_from_infno("2301"), HMB_TX_NONE);
    assert_int_equal(hmb_tx_from_infno("1101"), HMB_TX_NONE);
    assert_int_equal(hmb_tx_from_infno("23040"), HMB_TX_NONE);
    assert_int_equal(hmb_tx_from_infno(" 2304"), HMB_TX_NONE);
    assert_int_equal(hmb_tx_from_infno(""), HMB_TX_NONE);
    assert_int_equal(hmb_tx_from_infno(NULL), HMB_TX_NONE);
    assert_string_equal(hmb_tx_name(HMB_TX_PRESETTLE), "presettle");
    assert_string_equal(hmb_tx_name(HMB_TX_SETTLE), "settle");
    assert_string_equal(hmb_tx_name(HMB_TX_CANCEL), "cancel");
    assert_string_equal(hmb_tx_name(HMB_TX_NONE), "none");
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static void test_request_worked_example(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *file, *infno, *msgid, *inf_time, *mdtrt_id, *setl_id;
        hmb_tx_e tx;
    } ex[] = {
        {"1.req.xml", "2303", "H36090200001202405011000000001",
         "2024-05-01 09:30:00", "M20240000001", NULL, HMB_TX_PRESETTLE},
        {"2.req.xml", "2304", "H36090200001202405011000000002",
         "2024-05-01 10:00:00", "M20240000002", NULL, HMB_TX_SETTLE},
        {"3.req.xml", "2304", "H36090200001202405011000000003",
         "2024-08-12 15:20:00", "M20240000003", NULL, HMB_TX_SETTLE},
        {"4.req.xml", "2305", "H36090200001202405011000000004",
         "2024-08-20 11:00:00", "M20240000004", "S2024050100001",
         HMB_TX_CANCEL},
    };
    int i;

    for (i = 0; i < 4; i++) {
        apr_size_t len;
        char *buf = hmb_test_slurp(p, apr_pstrcat(p, HMB_EXAMPLE(""),
                                                  ex[i].file, NULL), &len);
        hmb_request_t *r = request_ok(p, buf, len);

        assert_string_equal(r->infno, ex[i].infno);
        assert_int_equal(r->tx, ex[i].tx);
        assert_string_equal(r->msgid, ex[i].msgid);
        assert_string_equal(r->fixmedins_code, "H36090200001");
        /* 3.req.xml is GBK: the name arrives in UTF-8 all the same */
        assert_string_equal(r->fixmedins_name, "宜春市人民医院");
        assert_string_equal(r->insuplc_admdvs, "360902");
        assert_string_equal(r->inf_time, ex[i].inf_time);
        assert_string_equal(r->psn_no, "36090000000000000001");
        assert_string_equal(r->mdtrt_id, ex[i].mdtrt_id);
        if (ex[i].setl_id) {
            assert_string_equal(r->setl_id, ex[i].setl_id);
        }
        else {
            assert_null(r->setl_id);
        }
        assert_string_equal(r->encoding, i == 2 ? "GBK" : "UTF-8");
    }
}

static void test_request_gb18030(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, MSG("valid/gb18030.req.xml"), &len);
    hmb_request_t *r = request_ok(p, buf, len);

    /* U+3400 and U+20000 are four-byte sequences in GB18030 and do not
     * exist in GBK at all. */
    assert_string_equal(r->encoding, "GB18030");
    assert_string_equal(r->fixmedins_name,
                        "宜春" "\xe3\x90\x80" "\xf0\xa0\x80\x80" "医院");
    assert_string_equal(r->infno, "2207");
    assert_int_equal(r->tx, HMB_TX_SETTLE);
    assert_string_equal(r->psn_no, "36090000000000000004");
    assert_string_equal(r->mdtrt_id, "M20240000020");
    assert_null(r->setl_id);
}

static void test_request_cancel_needs_settlement(void **state)
{
    apr_pool_t *p = *state;
    char *buf = hmb_test_slurp(p, HMB_EXAMPLE("4.req.xml"), NULL);

    assert_string_equal(request_err(p, drop(p, buf, "setl_id")),
                        "input/data/setl_id: missing");
    assert_string_equal(request_err(p, drop(p, buf, "psn_no")),
                        "input/data/psn_no: missing");
    assert_string_equal(request_err(p, set_field(p, buf, "setl_id", " ")),
                        "input/data/setl_id: empty");
    assert_contains(request_err(p, drop(p, buf, "input")),
                    "request/input/data: missing");
    /* The outpatient cancellation is the same transaction. */
    assert_contains(request_err(p, drop(p, set_field(p, buf, "infno", "2208"),
                                        "setl_id")),
                    "input/data/setl_id: missing");
    /* A settlement needs neither: the response carries them. */
    {
        char *s = drop(p, set_field(p, buf, "infno", "2304"), "input");
        hmb_request_t *r = request_ok(p, s, strlen(s));
        assert_int_equal(r->tx, HMB_TX_SETTLE);
        assert_null(r->setl_id);
        assert_null(r->psn_no);
    }
}

static void test_request_identifiers(void **state)
{
    apr_pool_t *p = *state;
    char *buf = hmb_test_slurp(p, HMB_EXAMPLE("4.req.xml"), NULL);
    char id64[65], id65[66];
    hmb_request_t *r;
    char *ok;

    /* a malformed psn_no is still personal data: masked in the reason */
    assert_string_equal(
        request_err(p, set_field(p, buf, "psn_no", "3609 0001")),
        "input/data/psn_no: \"3609***01\" is not printable ASCII without "
        "spaces or quotes");
    assert_contains(request_err(p, set_field(p, buf, "setl_id", "S1' OR '1")),
                    "input/data/setl_id: \"S1' OR '1\" is not printable");
    assert_contains(request_err(p, set_field(p, buf, "mdtrt_id", "M&quot;1")),
                    "input/data/mdtrt_id: \"M\"1\" is not printable");
    assert_contains(request_err(p, set_field(p, buf, "fixmedins_code",
                                             "医院")),
                    "request/fixmedins_code: \"??????\" is not printable");
    assert_contains(request_err(p, set_field(p, buf, "psn_no", "1&#10;2")),
                    "input/data/psn_no: \"***\"");

    memset(id64, 'A', 64);
    id64[64] = '\0';
    memset(id65, 'A', 65);
    id65[65] = '\0';
    ok = set_field(p, buf, "setl_id", id64);
    r = request_ok(p, ok, strlen(ok));
    assert_string_equal(r->setl_id, id64);
    assert_contains(request_err(p, set_field(p, buf, "setl_id", id65)),
                    "input/data/setl_id: \"AAAAAAAAAAAAAAAAAAAA"
                    "AAAAAAAAAAAAAAAAAAAA...\" is longer than 64 bytes");
}

static void test_request_other_infno(void **state)
{
    apr_pool_t *p = *state;
    char *buf = hmb_test_slurp(p, HMB_EXAMPLE("4.req.xml"), NULL);
    hmb_request_t *r;
    char *s;

    /* A person query with an odd data block is not ours and not an
     * error. */
    s = set_field(p, set_field(p, buf, "infno", "1101"), "psn_no",
                  "a value with spaces");
    r = request_ok(p, s, strlen(s));
    assert_int_equal(r->tx, HMB_TX_NONE);
    assert_string_equal(r->infno, "1101");
    assert_null(r->psn_no);

    assert_string_equal(request_err(p, drop(p, buf, "infno")),
                        "request/infno: missing");
    assert_contains(request_err(p, set_field(p, buf, "infno", "23 04")),
                    "request/infno: \"23 04\"");
    assert_string_equal(
        request_err(p, "<response><infcode>0</infcode></response>"),
        "request: root element is <response>, expected <request>");
    assert_contains(request_err(p, replace(p, buf, "<infno>2305</infno>",
                                           "<infno>2305</infno>"
                                           "<infno>2303</infno>")),
                    "request: more than one <infno>");
}

/* ------------------------------------------------------------------ */
/* Responses: the worked example                                       */

static void test_response_worked_example(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *file, *mdtrt_id, *setl_id, *setl_time;
    } ex[] = {
        {"1.resp.xml", "M20240000001", NULL, "2024-05-01 09:30:00"},
        {"2.resp.xml", "M20240000002", "S2024050100001",
         "2024-05-01 10:00:00"},
        {"4.resp.xml", "M20240000004", "S2024082000003",
         "2024-08-20 11:00:00"},
    };
    int i;

    for (i = 0; i < 3; i++) {
        apr_size_t len;
        char *buf = hmb_test_slurp(p, apr_pstrcat(p, HMB_EXAMPLE(""),
                                                  ex[i].file, NULL), &len);
        hmb_response_t *r = parse_ok(p, buf, len, i == 2);

        assert_string_equal(r->encoding, "UTF-8");
        assert_string_equal(r->infcode, "0");
        assert_true(r->actionable);
        assert_null(r->skip_reason);
        assert_int_equal(r->splice_at, offset_of(buf, "</output>"));
        assert_string_equal(r->mdtrt_id, ex[i].mdtrt_id);
        if (ex[i].setl_id) {
            assert_string_equal(r->setl_id, ex[i].setl_id);
        }
        else {
            assert_null(r->setl_id);
        }
        assert_string_equal(r->psn_no, "36090000000000000001");
        assert_string_equal(r->setl_time, ex[i].setl_time);
        assert_string_equal(r->med_type, "21");
        assert_null(r->dise_codg);
        assert_string_equal(r->insutype, "390");
        assert_int_equal(r->psn_insu_stas, 1);
        assert_int_equal(r->medfee_sumamt, 12000000);
        assert_int_equal(r->fulamt_ownpay_amt, 2000000);
        assert_int_equal(r->overlmt_selfpay, 0);
        assert_true(r->has_fund_pay_sumamt);
        assert_int_equal(r->fund_pay_sumamt, 7200000);
        assert_true(r->has_psn_part_amt);
        assert_int_equal(r->psn_part_amt, 4800000);
        assert_true(r->has_psn_cash_pay);
        assert_int_equal(r->psn_cash_pay, 4500000);
        assert_false(r->has_fee_detail);
        assert_int_equal(r->fees->nelts, 0);
    }
}

static void test_response_gbk(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, HMB_EXAMPLE("3.resp.xml"), &len);
    hmb_response_t *r = parse_ok(p, buf, len, 0);

    /* psn_name 张三 is two GBK characters here; nothing we read depends
     * on it, and the offset is in the GBK bytes as they came. */
    assert_string_equal(r->encoding, "GBK");
    assert_true(r->actionable);
    assert_int_equal(r->splice_at, offset_of(buf, "</output>"));
    assert_int_equal(len - r->splice_at, strlen("</output>\n</response>\n"));
    assert_string_equal(r->mdtrt_id, "M20240000003");
    assert_string_equal(r->setl_id, "S2024081200007");
    assert_string_equal(r->psn_no, "36090000000000000001");
    assert_string_equal(r->setl_time, "2024-08-12 15:20:00");
    assert_string_equal(r->med_type, "21");
    assert_string_equal(r->insutype, "390");
    assert_int_equal(r->psn_insu_stas, 1);
    assert_int_equal(r->medfee_sumamt, 3000000);
    assert_int_equal(r->fulamt_ownpay_amt, 0);
    assert_int_equal(r->overlmt_selfpay, 0);
    assert_int_equal(r->fund_pay_sumamt, 2000000);
    assert_int_equal(r->psn_part_amt, 1000000);
    assert_int_equal(r->psn_cash_pay, 1000000);
    assert_false(r->has_fee_detail);
}

static void test_response_gb18030(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, MSG("valid/gb18030.resp.xml"), &len);
    hmb_response_t *r = parse_ok(p, buf, len, 0);
    const hmb_fee_t *fee;

    assert_string_equal(r->encoding, "GB18030");
    assert_true(r->actionable);
    assert_int_equal(r->splice_at, offset_of(buf, "</output>"));
    assert_string_equal(r->setl_id, "S2024091500020");
    assert_string_equal(r->mdtrt_id, "M20240000020");
    assert_string_equal(r->psn_no, "36090000000000000004");
    assert_string_equal(r->setl_time, "2024-09-15 16:45:30");
    assert_int_equal(r->medfee_sumamt, 4567890);
    assert_int_equal(r->fulamt_ownpay_amt, 123456);
    assert_int_equal(r->overlmt_selfpay, 7890);
    assert_int_equal(r->fund_pay_sumamt, 3000000);
    assert_int_equal(r->psn_part_amt, 1567890);
    assert_int_equal(r->psn_cash_pay, 1567890);
    assert_true(r->has_fee_detail);
    assert_int_equal(r->fees->nelts, 1);
    fee = &APR_ARRAY_IDX(r->fees, 0, hmb_fee_t);
    assert_string_equal(fee->feedetl_sn, "7");
    assert_string_equal(fee->med_list_codg, "XJ05AXA001");
    assert_int_equal(fee->fulamt_ownpay_amt, 123456);
    assert_int_equal(fee->overlmt_amt, 7890);
}

static void test_response_fee_detail(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, MSG("valid/fees.resp.xml"), &len);
    hmb_response_t *r = parse_ok(p, buf, len, 0);
    const hmb_fee_t *f;

    assert_int_equal(r->splice_at, offset_of(buf, "</output>"));
    assert_string_equal(r->setl_time, "2024-02-29 23:59:59");
    assert_string_equal(r->med_type, "14");
    assert_string_equal(r->dise_codg, "M03900");
    assert_string_equal(r->insutype, "310");
    assert_int_equal(r->psn_insu_stas, 2);
    assert_int_equal(r->medfee_sumamt, 500050);
    assert_int_equal(r->fulamt_ownpay_amt, 80000);
    assert_int_equal(r->overlmt_selfpay, 1203);
    assert_true(r->has_fund_pay_sumamt);
    assert_int_equal(r->fund_pay_sumamt, 300000);
    assert_false(r->has_psn_part_amt);
    assert_int_equal(r->psn_part_amt, 0);
    assert_false(r->has_psn_cash_pay);
    assert_true(r->has_fee_detail);
    assert_int_equal(r->fees->nelts, 4);

    f = &APR_ARRAY_IDX(r->fees, 0, hmb_fee_t);
    assert_string_equal(f->feedetl_sn, "1");
    assert_string_equal(f->med_list_codg, "XL01XC-A001");
    assert_int_equal(f->fulamt_ownpay_amt, 60000);
    assert_int_equal(f->overlmt_amt, 0);
    f = &APR_ARRAY_IDX(r->fees, 1, hmb_fee_t);
    assert_string_equal(f->feedetl_sn, "2");
    assert_string_equal(f->med_list_codg, "T000100001");
    assert_int_equal(f->fulamt_ownpay_amt, 0);
    assert_int_equal(f->overlmt_amt, 1203);
    /* a refund line, accepted although setlinfo amounts may not be
     * negative in this call */
    f = &APR_ARRAY_IDX(r->fees, 2, hmb_fee_t);
    assert_string_equal(f->feedetl_sn, "3");
    assert_int_equal(f->fulamt_ownpay_amt, -10000);
    assert_int_equal(f->overlmt_amt, -50);
    f = &APR_ARRAY_IDX(r->fees, 3, hmb_fee_t);
    assert_null(f->feedetl_sn);
    assert_string_equal(f->med_list_codg, "F00000001");
    assert_int_equal(f->fulamt_ownpay_amt, 0);
    assert_int_equal(f->overlmt_amt, 0);
}

/* A response that already carries an <hmbinfo> (forged upstream, or
 * settled twice): refused, and said to be so. Deeper or outside
 * <output> it is no <hmbinfo> of ours and harms nothing. */
static void test_response_with_hmbinfo(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, MSG("valid/hmbinfo-paid.resp.xml"), &len);
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    hmb_msg_reader_t *rd = hmb_msg_reader(p, HMB_MSG_RESPONSE);
    hmb_response_t *r = NULL;
    const char *s;

    hmb_msg_feed(rd, buf, len);
    assert_contains(hmb_response_finish(rd, 0, &r),
                    "already holds an <hmbinfo>");
    assert_null(r);
    assert_true(hmb_msg_forged(rd));

    s = replace(p, ex, "<setl_proc_info/>",
                "<setl_proc_info><hmbinfo>x</hmbinfo></setl_proc_info>");
    r = parse_ok(p, s, strlen(s), 0);
    assert_int_equal(r->splice_at, offset_of(s, "</output>"));
}

/* ------------------------------------------------------------------ */
/* Responses that pass through                                         */

static void test_response_not_actionable(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf = hmb_test_slurp(p, MSG("valid/gbk-error.resp.xml"), &len);
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    hmb_response_t *r = parse_ok(p, buf, len, 0);
    const char *s;

    assert_false(r->actionable);
    assert_string_equal(r->encoding, "GBK");
    assert_string_equal(r->infcode, "-1");
    /* err_msg may name the person: only its size reaches the log */
    assert_string_equal(r->skip_reason,
                        "infcode -1 (err_msg of 27 bytes, not logged)");

    s = "<response><infcode>1</infcode></response>";
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->actionable);
    assert_string_equal(r->skip_reason, "infcode 1");

    /* A failed settlement says nothing about output; it is not read. */
    s = set_field(p, set_field(p, ex, "infcode", "2"), "psn_part_amt", "x");
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->actionable);
    assert_string_equal(r->skip_reason, "infcode 2");
    s = set_field(p, set_field(p, ex, "infcode", "2"), "err_msg",
                  "line one&#10;line two");
    r = parse_ok(p, s, strlen(s), 0);
    assert_string_equal(r->skip_reason,
                        "infcode 2 (err_msg of 17 bytes, not logged)");

    s = "<response><infcode>0</infcode><err_msg/></response>";
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->actionable);
    assert_contains(r->skip_reason, "no <output>");

    s = "<response><infcode>0</infcode><output/></response>";
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->actionable);
    assert_contains(r->skip_reason, "no <setlinfo>");

    s = "<response><infcode>0</infcode><output><setldetail/></output>"
        "</response>";
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->actionable);
    assert_contains(r->skip_reason, "no <setlinfo>");

    assert_string_equal(parse_err(p, drop(p, ex, "infcode"), 0),
                        "response/infcode: missing");
    assert_string_equal(parse_err(p, set_field(p, ex, "infcode", ""), 0),
                        "response/infcode: empty");
    assert_string_equal(
        parse_err(p, "<request><infno>2304</infno></request>", 0),
        "response: root element is <request>, expected <response>");
}

/* ------------------------------------------------------------------ */
/* Required fields, amounts, formats                                   */

static void test_response_required_fields(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    static const char *const required[] = {
        "psn_no", "setl_time", "med_type", "medfee_sumamt",
        "fulamt_ownpay_amt", "overlmt_selfpay"
    };
    hmb_response_t *r;
    char *s;
    int i;

    for (i = 0; i < (int)(sizeof(required) / sizeof(required[0])); i++) {
        assert_string_equal(parse_err(p, drop(p, ex, required[i]), 0),
                            apr_psprintf(p, "setlinfo/%s: missing",
                                         required[i]));
        assert_string_equal(parse_err(p, set_field(p, ex, required[i], "  "),
                                      0),
                            apr_psprintf(p, "setlinfo/%s: empty",
                                         required[i]));
    }

    /* Either psn_part_amt or fund_pay_sumamt will do. */
    s = drop(p, ex, "psn_part_amt");
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->has_psn_part_amt);
    assert_int_equal(r->fund_pay_sumamt, 7200000);
    s = drop(p, ex, "fund_pay_sumamt");
    r = parse_ok(p, s, strlen(s), 0);
    assert_false(r->has_fund_pay_sumamt);
    assert_int_equal(r->psn_part_amt, 4800000);
    assert_contains(parse_err(p, drop(p, drop(p, ex, "psn_part_amt"),
                                      "fund_pay_sumamt"), 0),
                    "setlinfo/psn_part_amt: missing");

    /* The optional ones may all go. */
    s = drop(p, drop(p, drop(p, drop(p, drop(p, ex, "setl_id"), "mdtrt_id"),
                             "insutype"), "psn_insu_stas"), "psn_cash_pay");
    r = parse_ok(p, s, strlen(s), 0);
    assert_true(r->actionable);
    assert_null(r->setl_id);
    assert_null(r->mdtrt_id);
    assert_null(r->insutype);
    assert_null(r->dise_codg);
    assert_int_equal(r->psn_insu_stas, -1);
    assert_false(r->has_psn_cash_pay);
    /* empty optional elements count as absent */
    s = set_field(p, ex, "setl_id", "");
    r = parse_ok(p, s, strlen(s), 0);
    assert_null(r->setl_id);

    /* Two values for one field would let the HIS and us disagree. */
    assert_string_equal(
        parse_err(p, replace(p, ex, "<psn_part_amt>",
                             "<psn_part_amt>1.00</psn_part_amt>"
                             "<psn_part_amt>"), 0),
        "setlinfo: more than one <psn_part_amt>");
    assert_string_equal(
        parse_err(p, replace(p, ex, "</setlinfo>",
                             "</setlinfo><setlinfo></setlinfo>"), 0),
        "output: more than one <setlinfo>");
    assert_contains(
        parse_err(p, set_field(p, ex, "psn_no", "<b>1</b>"), 0),
        "setlinfo/psn_no: holds an element <b>");
}

static void test_response_amounts(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    hmb_response_t *r;
    char *s;

    assert_string_equal(
        parse_err(p, set_field(p, ex, "psn_part_amt", "12.345"), 0),
        "setlinfo/psn_part_amt: \"12.345\": more than two decimals");
    assert_contains(parse_err(p, set_field(p, ex, "medfee_sumamt", "12O.00"),
                              0),
                    "setlinfo/medfee_sumamt: \"12O.00\": ");
    assert_contains(parse_err(p, set_field(p, ex, "medfee_sumamt", "1,200.00"),
                              0),
                    "setlinfo/medfee_sumamt: \"1,200.00\": ");
    assert_contains(parse_err(p, set_field(p, ex, "fund_pay_sumamt",
                                           "99999999999999999999.00"), 0),
                    "setlinfo/fund_pay_sumamt: \"99999999999999999999.00\": ");
    assert_contains(parse_err(p, set_field(p, ex, "psn_cash_pay", "1e3"), 0),
                    "setlinfo/psn_cash_pay: \"1e3\": ");
    assert_contains(parse_err(p, set_field(p, ex, "overlmt_selfpay", "-1.00"),
                              0),
                    "setlinfo/overlmt_selfpay: \"-1.00\": ");

    /* The largest amount there is (DOMAIN.md, "Identity and conflicts"),
     * one fen more, and signed amounts when allowed. */
    s = set_field(p, ex, "medfee_sumamt", "9999999999.99");
    r = parse_ok(p, s, strlen(s), 0);
    assert_true(r->medfee_sumamt == HMB_FEN_MAX);
    assert_contains(parse_err(p, set_field(p, ex, "medfee_sumamt",
                                           "10000000000.00"), 0),
                    "amount too large");
    /* fee lines each within bounds, together beyond them */
    {
        apr_array_header_t *lines = apr_array_make(p, 10, sizeof(char *));
        int i;

        for (i = 0; i < 8; i++) {
            APR_ARRAY_PUSH(lines, const char *) =
                "<feedetail><med_list_codg>XL01XCP135B002010101832"
                "</med_list_codg><fulamt_ownpay_amt>9999999999.99"
                "</fulamt_ownpay_amt></feedetail>";
        }
        APR_ARRAY_PUSH(lines, const char *) = "</output>";
        s = replace(p, ex, "</output>", apr_array_pstrcat(p, lines, 0));
        assert_contains(parse_err(p, s, 0),
                        "the fee lines up to feedetail[2] add up to more");
    }
    s = set_field(p, set_field(p, ex, "psn_part_amt", "-48000.00"),
                  "overlmt_selfpay", "-0.01");
    r = parse_ok(p, s, strlen(s), 1);
    assert_int_equal(r->psn_part_amt, -4800000);
    assert_int_equal(r->overlmt_selfpay, -1);

    /* Fee lines: signed always, two decimals always, code required. */
    s = replace(p, ex, "</output>",
                "<feedetail><med_list_codg>A1</med_list_codg>"
                "<fulamt_ownpay_amt>1.00</fulamt_ownpay_amt></feedetail>"
                "<feedetail><overlmt_amt>2.00</overlmt_amt></feedetail>"
                "</output>");
    assert_string_equal(parse_err(p, s, 0),
                        "feedetail[2]/med_list_codg: missing");
    s = replace(p, ex, "</output>",
                "<feedetail><med_list_codg>A1</med_list_codg>"
                "<overlmt_amt>-2.001</overlmt_amt></feedetail></output>");
    assert_string_equal(parse_err(p, s, 0),
                        "feedetail[1]/overlmt_amt: \"-2.001\": more than two "
                        "decimals");
    s = replace(p, ex, "</output>",
                "<feedetail><med_list_codg>A 1</med_list_codg></feedetail>"
                "</output>");
    assert_contains(parse_err(p, s, 0), "feedetail[1]/med_list_codg: \"A 1\"");
}

static void test_response_formats(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    static const char *const bad_times[] = {
        "2024-02-30 10:00:00", "2023-02-29 10:00:00", "2024-05-01 24:00:00",
        "2024-05-01 10:60:00", "2024-05-01 10:00:60", "2024-05-01T10:00:00",
        "2024-05-01", "2024-13-01 10:00:00", "2024-05-01 10:00:00.000",
        "2024-05-01 1a:00:00"
    };
    static const char *const bad_stas[] = {"10", "a", "-1", "1.0"};
    hmb_response_t *r;
    char *s;
    int i;

    for (i = 0; i < (int)(sizeof(bad_times) / sizeof(bad_times[0])); i++) {
        assert_string_equal(
            parse_err(p, set_field(p, ex, "setl_time", bad_times[i]), 0),
            apr_psprintf(p, "setlinfo/setl_time: \"%s\" is not a valid time "
                         "YYYY-MM-DD HH:MM:SS", bad_times[i]));
    }
    s = set_field(p, ex, "setl_time", "2024-12-31 23:59:59");
    r = parse_ok(p, s, strlen(s), 0);
    assert_string_equal(r->setl_time, "2024-12-31 23:59:59");

    for (i = 0; i < (int)(sizeof(bad_stas) / sizeof(bad_stas[0])); i++) {
        assert_string_equal(
            parse_err(p, set_field(p, ex, "psn_insu_stas", bad_stas[i]), 0),
            apr_psprintf(p, "setlinfo/psn_insu_stas: \"%s\" is not a status "
                         "digit 0-9", bad_stas[i]));
    }
    s = set_field(p, ex, "psn_insu_stas", "0");
    r = parse_ok(p, s, strlen(s), 0);
    assert_int_equal(r->psn_insu_stas, 0);
    s = set_field(p, ex, "psn_insu_stas", "4");
    r = parse_ok(p, s, strlen(s), 0);
    assert_int_equal(r->psn_insu_stas, 4);

    assert_contains(parse_err(p, set_field(p, ex, "psn_no", "3609\"01"), 0),
                    "setlinfo/psn_no: \"3609*01\" is not printable ASCII");
    assert_contains(parse_err(p, set_field(p, ex, "setl_id", "S 1"), 0),
                    "setlinfo/setl_id: ");
    assert_contains(parse_err(p, set_field(p, ex, "mdtrt_id", "M\t1"), 0),
                    "setlinfo/mdtrt_id: \"M?1\"");
    assert_contains(parse_err(p, set_field(p, ex, "med_type", "二一"), 0),
                    "setlinfo/med_type: ");
}

/* ------------------------------------------------------------------ */
/* Encodings                                                           */

static void test_encodings(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    hmb_response_t *r = NULL;
    const char *err;
    apr_size_t len;
    char *buf;

    /* no declaration: UTF-8 */
    buf = replace(p, ex, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    r = parse_ok(p, buf, strlen(buf), 0);
    assert_string_equal(r->encoding, "UTF-8");
    assert_int_equal(r->splice_at, offset_of(buf, "</output>"));

    buf = replace(p, ex, "encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    assert_contains(parse_err(p, buf, 0),
                    "encoding \"ISO-8859-1\" is not supported");

    /* a byte sequence that is not GBK */
    buf = hmb_test_slurp(p, MSG("invalid/bad-gbk-bytes.resp.xml"), &len);
    err = hmb_response_parse(p, buf, len, 0, &r);
    assert_non_null(err);
    assert_null(r);

    /* UTF-16 would put NUL bytes between the markup bytes we splice. */
    {
        static const char utf16[] =
            "\xff\xfe<\0r\0e\0s\0p\0o\0n\0s\0e\0>\0<\0/\0r\0e\0s\0p\0o\0n\0"
            "s\0e\0>\0";
        err = hmb_response_parse(p, utf16, sizeof(utf16) - 1, 0, &r);
        assert_non_null(err);
        assert_null(r);
    }
}

/* ------------------------------------------------------------------ */
/* The byte scanner                                                    */

static void test_scan_worked_examples(void **state)
{
    apr_pool_t *p = *state;
    static const char *const files[] = {
        "1.resp.xml", "2.resp.xml", "3.resp.xml", "4.resp.xml"
    };
    int i;

    for (i = 0; i < 4; i++) {
        apr_size_t len, off;
        int found;
        char *buf = hmb_test_slurp(p, apr_pstrcat(p, HMB_EXAMPLE(""),
                                                  files[i], NULL), &len);

        assert_null(scan_len(p, buf, len, &off, &found));
        assert_true(found);
        assert_int_equal(off, offset_of(buf, "</output>"));
    }
}

/* </output> in comments, CDATA sections and PIs before, inside and
 * after the real one, which is written "</output   >". */
static void test_scan_tricky_fixture(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, off;
    int found;
    char *buf = hmb_test_slurp(p, MSG("valid/tricky.resp.xml"), &len);
    hmb_response_t *r;

    assert_null(scan_len(p, buf, len, &off, &found));
    assert_true(found);
    assert_int_equal(off, offset_of(buf, "</output   >"));
    r = parse_ok(p, buf, len, 0);
    assert_int_equal(r->splice_at, offset_of(buf, "</output   >"));
    assert_string_equal(r->psn_no, "36090000000000000003");
    assert_int_equal(r->psn_part_amt, 4000);
}

static void test_scan_cases(void **state)
{
    apr_pool_t *p = *state;
    const char *err, *s;
    apr_size_t off;
    int found;

    /* '>' inside quoted attribute values, both quote kinds */
    s = "<r a='>'><output b=\"x>y\" c='\"'>x</output></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_true(found);
    assert_int_equal(off, offset_of(s, "</output>"));

    /* a deeper <output> is not the one */
    s = "<r><x><output>a</output></x><output><y><output/><output>b</output>"
        "</y></output></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_true(found);
    assert_int_equal(off, strlen(s) - strlen("</output></r>"));

    /* nor one that is only deeper */
    s = "<r><x><output>a</output></x></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_false(found);

    /* nor an element whose name merely starts with output */
    s = "<r><outputs>a</outputs><output_x>b</output_x></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_false(found);

    /* the root itself called output is not its own child */
    s = "<output><a/></output>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_false(found);

    /* self-closing: nothing to settle */
    s = "<r><output/><z/></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_false(found);
    s = "<r><output a='/>'  /></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_false(found);

    /* comment, CDATA and PI contents; end tag with white space */
    s = "<?xml version='1.0'?><r><!-- <output> </output> --><output>"
        "<![CDATA[</output>]]><?pi </output> ?><!----></output\n></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_true(found);
    assert_int_equal(off, offset_of(s, "</output\n>"));

    /* the first <output> child is the one libxml2 reads too */
    s = "<r><output>1</output><output>2</output></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_int_equal(off, offset_of(s, "</output>"));

    /* GB18030 four-byte characters have digits in them, never markup */
    s = "<?xml version='1.0' encoding='GB18030'?><r><output a='\x81\x39"
        "\xef\x30'>\x95\x32\x82\x36</output></r>";
    scan(p, s, &err, &off, &found);
    assert_null(err);
    assert_int_equal(off, offset_of(s, "</output>"));

    /* refusals: libxml2's, so nothing is spliced into what it refuses */
    scan(p, "<!DOCTYPE r><r><output/></r>", &err, &off, &found);
    assert_contains(err, "DOCTYPE is not allowed");
    scan(p, "<r><!ENTITY x 'y'><output></output></r>", &err, &off, &found);
    assert_non_null(err);
    assert_false(found);
    scan(p, "<r><!ELEMENT x ANY></r>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r><!-- open </r>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r><![CDATA[ open </r>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r><?pi open </r>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r a='>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r></r></r>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r><output>", &err, &off, &found);
    assert_non_null(err);
    scan(p, "<r>< output/></r>", &err, &off, &found);
    assert_non_null(err);

    /* depth: the root is depth 1, as in hmb_xml_parse; refused while
     * parsing, before the output it hides is reached */
    {
        char *deep = apr_pstrdup(p, "");
        int i;

        for (i = 0; i < HMB_XML_MAX_DEPTH - 1; i++) {
            deep = apr_pstrcat(p, "<d>", deep, "</d>", NULL);
        }
        scan(p, apr_pstrcat(p, "<r>", deep, "<output></output></r>", NULL),
             &err, &off, &found);
        assert_null(err);
        assert_true(found);
        deep = apr_pstrcat(p, "<d>", deep, "</d>", NULL);
        scan(p, apr_pstrcat(p, "<r>", deep, "<output></output></r>", NULL),
             &err, &off, &found);
        assert_contains(err, "deeper than 32");
        assert_false(found);
    }

    /* no document at all */
    scan(p, "", &err, &off, &found);
    assert_non_null(err);
    assert_false(found);
}

/* In GBK a trail byte can be ']': 0x81 0x5D is one character, so the
 * CDATA section below does not end at the first "]]>" in the bytes, and
 * the <output> inside it is text. A byte-naive scan would splice into
 * the CDATA section. */
static void test_scan_gbk_cdata(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("3.resp.xml"), NULL);
    const char *s;
    hmb_response_t *r;
    apr_size_t off;
    int found;

    s = replace(p, ex, "<response>",
                "<response><![CDATA[\x81\x5d]><output>fake</output>]]>");
    r = parse_ok(p, s, strlen(s), 0);
    assert_int_equal(r->splice_at, offset_of(s, "</output>\n</response>"));
    assert_string_equal(r->setl_id, "S2024081200007");

    /* the same bytes declared UTF-8 are not well-formed UTF-8: refused,
     * so nothing is spliced */
    s = "<r><![CDATA[\x81\x5d]><output>fake</output>]]><output></output></r>";
    assert_non_null(scan_len(p, s, strlen(s), &off, &found));
    assert_false(found);
    s = "<?xml version=\"1.0\" encoding=\"gbk\"?>"
        "<r><![CDATA[\x81\x5d]><output>fake</output>]]><output></output></r>";
    assert_null(scan_len(p, s, strlen(s), &off, &found));
    assert_true(found);
    assert_int_equal(off, strlen(s) - strlen("</output></r>"));
    /* ']' after a complete two-byte character still ends the section */
    s = "<?xml version='1.0' encoding='GB2312'?>"
        "<r><![CDATA[\xd5\xc5]]><output>\xc8\xfd</output></r>";
    assert_null(scan_len(p, s, strlen(s), &off, &found));
    assert_true(found);
    assert_int_equal(off, offset_of(s, "</output>"));
}

/* ------------------------------------------------------------------ */
/* Hostile input                                                       */

static void test_hostile(void **state)
{
    apr_pool_t *p = *state;
    static const char *const files[] = {
        "hostile/billion-laughs.resp.xml", "hostile/xxe-passwd.resp.xml",
        "hostile/xxe-parameter.resp.xml", "hostile/external-dtd.resp.xml"
    };
    int i;

    for (i = 0; i < 4; i++) {
        apr_size_t len, off;
        int found;
        char *buf;
        hmb_response_t *r = NULL;
        const char *err;

        buf = hmb_test_slurp(p, apr_pstrcat(p, MSG(""), files[i], NULL),
                             &len);
        err = hmb_response_parse(p, buf, len, 0, &r);
        assert_null(r);
        assert_contains(err, "DOCTYPE is not allowed");
        assert_null(strstr(err, "root:"));
        err = hmb_test_validate(p, buf, len);
        assert_contains(err, "DOCTYPE is not allowed");
        assert_contains(scan_len(p, buf, len, &off, &found),
                        "DOCTYPE is not allowed");
    }
    {
        apr_size_t len;
        char *buf = hmb_test_slurp(p, MSG("hostile/xxe-passwd.req.xml"),
                                   &len);
        hmb_request_t *r = NULL;
        const char *err = hmb_request_parse(p, buf, len, &r);

        assert_null(r);
        assert_contains(err, "DOCTYPE is not allowed");
        assert_null(strstr(err, "root:"));
    }
}

/* Even if an entity reached the parser it must not be expanded into a
 * value we pass on: an error text with /etc/passwd in it. */
static void test_xxe_never_leaks(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    hmb_response_t *r = NULL;
    const char *s, *err;

    s = replace(p, ex, "<response>",
                "<!DOCTYPE response [<!ENTITY leak SYSTEM "
                "\"file:///etc/passwd\">]><response>");
    s = set_field(p, set_field(p, s, "infcode", "1"), "err_msg", "&leak;");
    err = hmb_response_parse(p, s, strlen(s), 0, &r);
    assert_non_null(err);
    assert_null(r);
    assert_null(strstr(err, "root:"));
    /* an undeclared entity is simply malformed */
    s = set_field(p, set_field(p, ex, "infcode", "1"), "err_msg", "&leak;");
    err = hmb_response_parse(p, s, strlen(s), 0, &r);
    assert_non_null(err);
    assert_null(r);
}

static void test_malformed(void **state)
{
    apr_pool_t *p = *state;
    static const char *const files[] = {
        "invalid/malformed.resp.xml", "invalid/truncated.resp.xml",
        "invalid/bad-gbk-bytes.resp.xml"
    };
    hmb_response_t *r = NULL;
    hmb_request_t *q = NULL;
    const char *err;
    int i;

    for (i = 0; i < 3; i++) {
        apr_size_t len;
        char *buf = hmb_test_slurp(p, apr_pstrcat(p, MSG(""), files[i],
                                                  NULL), &len);
        err = hmb_response_parse(p, buf, len, 0, &r);
        assert_non_null(err);
        assert_null(r);
        assert_true(strncmp(err, "response:", 9) == 0);
    }
    err = hmb_response_parse(p, "", 0, 0, &r);
    assert_non_null(err);
    err = hmb_response_parse(p, "not xml", 7, 0, &r);
    assert_non_null(err);
    err = hmb_request_parse(p, "<request><infno>2304</infno>", 28, &q);
    assert_non_null(err);
    assert_null(q);
}

static void test_limits(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    apr_size_t big = HMB_MESSAGE_MAX_BYTES + 1;
    char *huge = apr_palloc(p, big);
    hmb_response_t *r = NULL;
    hmb_request_t *q = NULL;
    const char *err;
    char *deep, *s;
    int i, n;

    memset(huge, ' ', big);
    memcpy(huge, "<response>", 10);
    err = hmb_response_parse(p, huge, big, 0, &r);
    assert_contains(err, "more than the limit of 8388608");
    assert_null(r);
    err = hmb_request_parse(p, huge, big, &q);
    assert_contains(err, "more than the limit of 8388608");
    assert_contains(hmb_test_validate(p, huge, big),
                    "more than the limit of 8388608");

    /* 40 levels inside setl_proc_info: well-formed, refused */
    deep = apr_pstrdup(p, "");
    for (i = 0; i < 40; i++) {
        deep = apr_pstrcat(p, "<d>", deep, "</d>", NULL);
    }
    s = replace(p, ex, "<setl_proc_info/>",
                apr_pstrcat(p, "<setl_proc_info>", deep, "</setl_proc_info>",
                            NULL));
    assert_contains(parse_err(p, s, 0), "deeper than 32");
    {
        apr_size_t off;
        int found;
        assert_non_null(scan_len(p, s, strlen(s), &off, &found));
        assert_false(found);
    }

    /* at most HMB_MESSAGE_MAX_FEES fee lines */
    for (n = HMB_MESSAGE_MAX_FEES; n <= HMB_MESSAGE_MAX_FEES + 1; n++) {
        apr_array_header_t *lines = apr_array_make(p, n + 1, sizeof(char *));
        for (i = 0; i < n; i++) {
            APR_ARRAY_PUSH(lines, const char *) =
                "<feedetail><med_list_codg>A</med_list_codg>"
                "<fulamt_ownpay_amt>0.01</fulamt_ownpay_amt></feedetail>";
        }
        APR_ARRAY_PUSH(lines, const char *) = "</output>";
        s = replace(p, ex, "</output>", apr_array_pstrcat(p, lines, 0));
        if (n == HMB_MESSAGE_MAX_FEES) {
            r = parse_ok(p, s, strlen(s), 0);
            assert_int_equal(r->fees->nelts, HMB_MESSAGE_MAX_FEES);
            assert_int_equal(APR_ARRAY_IDX(r->fees, n - 1, hmb_fee_t)
                             .fulamt_ownpay_amt, 1);
        }
        else {
            assert_string_equal(parse_err(p, s, 0),
                                "output: more than 20000 <feedetail> lines");
        }
    }
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */

static void validate_dir(apr_pool_t *p, const char *dir, int expect_valid,
                         int *count)
{
    apr_dir_t *d;
    apr_finfo_t fi;

    assert_int_equal(apr_dir_open(&d, dir, p), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        const char *path, *err;
        apr_size_t len;
        char *buf;

        if (fi.filetype != APR_REG) {
            continue;
        }
        path = apr_pstrcat(p, dir, "/", fi.name, NULL);
        buf = hmb_test_slurp(p, path, &len);
        err = hmb_test_validate(p, buf, len);
        if (expect_valid && err) {
            fail_msg("%s: %s", path, err);
        }
        if (!expect_valid && !err) {
            fail_msg("%s: accepted by the schema", path);
        }
        (*count)++;
    }
    apr_dir_close(d);
}

static void test_schema_examples(void **state)
{
    apr_pool_t *p = *state;
    static const char *const files[] = {
        "1.req.xml", "1.resp.xml", "2.req.xml", "2.resp.xml", "3.req.xml",
        "3.resp.xml", "4.req.xml", "4.resp.xml"
    };
    int i, valid = 0;

    for (i = 0; i < 8; i++) {
        apr_size_t len;
        char *buf = hmb_test_slurp(p, apr_pstrcat(p, HMB_EXAMPLE(""),
                                                  files[i], NULL), &len);
        const char *err = hmb_test_validate(p, buf, len);
        if (err) {
            fail_msg("%s: %s", files[i], err);
        }
    }
    validate_dir(p, MSG("valid"), 1, &valid);
    assert_int_equal(valid, 8);
}

static void test_schema_refuses(void **state)
{
    apr_pool_t *p = *state;
    char *ex = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), NULL);
    char *paid = hmb_test_slurp(p, MSG("valid/hmbinfo-paid.resp.xml"), NULL);
    char *req = hmb_test_slurp(p, HMB_EXAMPLE("4.req.xml"), NULL);
    int invalid = 0;
    const char *err, *s;

    validate_dir(p, MSG("invalid"), 0, &invalid);
    assert_int_equal(invalid, 3);
    /* hostile/ holds valid messages too (test_hostile.c): the ones with
     * a DOCTYPE are refused */
    {
        static const char *const doctype[] = {
            "billion-laughs.resp.xml", "external-dtd.resp.xml",
            "xxe-parameter.resp.xml", "xxe-passwd.req.xml",
            "xxe-passwd.resp.xml"
        };
        int i;

        for (i = 0; i < 5; i++) {
            apr_size_t len;
            char *buf = hmb_test_slurp(p, apr_pstrcat(p, MSG("hostile/"),
                                                      doctype[i], NULL),
                                       &len);
            assert_contains(hmb_test_validate(p, buf, len),
                            "DOCTYPE is not allowed");
        }
    }

    /* amount with three decimals, reported with its line */
    s = set_field(p, ex, "psn_part_amt", "48000.001");
    err = hmb_test_validate(p, s, strlen(s));
    assert_non_null(err);
    assert_true(strncmp(err, "message:39: ", 12) == 0);
    assert_contains(err, "psn_part_amt");
    assert_null(strchr(err, '\n'));

    s = set_field(p, ex, "medfee_sumamt", "12a");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = set_field(p, ex, "setl_time", "2024-05-01T10:00:00");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = set_field(p, ex, "psn_no", "36 09");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = drop(p, ex, "psn_no");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = drop(p, ex, "infcode");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = replace(p, ex, "<gend>", "<unknown_field/><gend>");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));

    /* hmbinfo: enumerations, order, last child of output */
    s = set_field(p, paid, "hmb_stas", "approved");
    assert_contains(hmb_test_validate(p, s, strlen(s)), "hmb_stas");
    s = replace(p, paid, "<plan_code>",
                "<rea_code>too_rich</rea_code><plan_code>");
    assert_contains(hmb_test_validate(p, s, strlen(s)), "rea_code");
    s = replace(p, paid, "</hmbinfo>",
                "</hmbinfo><setldetail><fund_pay_type>1</fund_pay_type>"
                "<fund_payamt>1.00</fund_payamt></setldetail>");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = replace(p, paid, "</hmbinfo>", "</hmbinfo><hmbinfo><hmb_stas>paid"
                "</hmb_stas></hmbinfo>");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = set_field(p, paid, "pay_amt", "9100.001");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = set_field(p, paid, "hmb_pay", "-12100.00");
    assert_null(hmb_test_validate(p, s, strlen(s)));

    /* request envelope */
    s = drop(p, req, "infno");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));
    s = set_field(p, req, "setl_id", "S 1");
    assert_non_null(hmb_test_validate(p, s, strlen(s)));

    /* only the two envelopes are messages */
    s = "<psn_no>1</psn_no>";
    assert_contains(hmb_test_validate(p, s, strlen(s)),
                    "neither <request> nor <response>");
}

/* ------------------------------------------------------------------ */
/* Kept with a claim: hmb_response_pack / hmb_response_unpack          */

static void assert_same_str(const char *what, const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) {
        fail_msg("%s: \"%s\" came back as \"%s\"", what, a ? a : "(null)",
                 b ? b : "(null)");
    }
}

/* Every field the engine reads survives the trip. */
static void assert_same_fields(const hmb_response_t *a,
                               const hmb_response_t *b)
{
    int i;

    assert_same_str("mdtrt_id", a->mdtrt_id, b->mdtrt_id);
    assert_same_str("setl_id", a->setl_id, b->setl_id);
    assert_same_str("psn_no", a->psn_no, b->psn_no);
    assert_same_str("setl_time", a->setl_time, b->setl_time);
    assert_same_str("med_type", a->med_type, b->med_type);
    assert_same_str("dise_codg", a->dise_codg, b->dise_codg);
    assert_same_str("insutype", a->insutype, b->insutype);
    assert_int_equal(a->psn_insu_stas, b->psn_insu_stas);
    assert_int_equal(a->medfee_sumamt, b->medfee_sumamt);
    assert_int_equal(a->fulamt_ownpay_amt, b->fulamt_ownpay_amt);
    assert_int_equal(a->overlmt_selfpay, b->overlmt_selfpay);
    assert_int_equal(a->has_fund_pay_sumamt, b->has_fund_pay_sumamt);
    assert_int_equal(a->fund_pay_sumamt, b->fund_pay_sumamt);
    assert_int_equal(a->has_psn_part_amt, b->has_psn_part_amt);
    assert_int_equal(a->psn_part_amt, b->psn_part_amt);
    assert_int_equal(a->has_psn_cash_pay, b->has_psn_cash_pay);
    assert_int_equal(a->psn_cash_pay, b->psn_cash_pay);
    assert_int_equal(a->has_fee_detail, b->has_fee_detail);
    assert_int_equal(a->fees->nelts, b->fees->nelts);
    for (i = 0; i < a->fees->nelts; i++) {
        const hmb_fee_t *x = &APR_ARRAY_IDX(a->fees, i, hmb_fee_t);
        const hmb_fee_t *y = &APR_ARRAY_IDX(b->fees, i, hmb_fee_t);

        assert_same_str("feedetl_sn", x->feedetl_sn, y->feedetl_sn);
        assert_same_str("med_list_codg", x->med_list_codg, y->med_list_codg);
        assert_int_equal(x->fulamt_ownpay_amt, y->fulamt_ownpay_amt);
        assert_int_equal(x->overlmt_amt, y->overlmt_amt);
    }
    assert_true(b->actionable);
}

static hmb_response_t *round_trip(apr_pool_t *p, const hmb_response_t *r)
{
    const char *packed = hmb_response_pack(p, r), *err;
    hmb_response_t *back = NULL;

    assert_non_null(packed);
    if ((err = hmb_response_unpack(p, packed, &back)) != NULL) {
        fail_msg("unpack: %s (packed: %s)", err, packed);
    }
    assert_non_null(back);
    /* packing what came back gives the same text: nothing drifts when a
     * correction keeps the original's message */
    assert_string_equal(hmb_response_pack(p, back), packed);
    return back;
}

static void test_pack_round_trip(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *buf;
    hmb_response_t *r, *back;
    const hmb_fee_t *f;

    /* the worked example: psn_part_amt and psn_cash_pay, no fee lines */
    buf = hmb_test_slurp(p, HMB_EXAMPLE("2.resp.xml"), &len);
    r = parse_ok(p, buf, len, 0);
    back = round_trip(p, r);
    assert_same_fields(r, back);
    assert_int_equal(back->fees->nelts, 0);

    /* fee lines with and without feedetl_sn, refunds (negative amounts),
     * fund_pay_sumamt without psn_part_amt, a disease code, psn_insu_stas
     * 2 */
    buf = hmb_test_slurp(p, MSG("valid/fees.resp.xml"), &len);
    r = parse_ok(p, buf, len, 0);
    back = round_trip(p, r);
    assert_same_fields(r, back);
    f = &APR_ARRAY_IDX(back->fees, 2, hmb_fee_t);
    assert_int_equal(f->fulamt_ownpay_amt, -10000);
    assert_int_equal(f->overlmt_amt, -50);
    f = &APR_ARRAY_IDX(back->fees, 3, hmb_fee_t);
    assert_null(f->feedetl_sn);
    assert_string_equal(f->med_list_codg, "F00000001");

    /* the first line without feedetl_sn, the rest with; and a
     * cancellation's negative setlinfo amounts */
    buf = replace(p, buf, "<feedetl_sn>1</feedetl_sn>", "");
    buf = set_field(p, buf, "medfee_sumamt", "-5000.50");
    r = parse_ok(p, buf, strlen(buf), 1);
    assert_null(APR_ARRAY_IDX(r->fees, 0, hmb_fee_t).feedetl_sn);
    back = round_trip(p, r);
    assert_same_fields(r, back);
    assert_int_equal(back->medfee_sumamt, -500050);

    /* the GBK message: its fields are UTF-8 once read, and kept so */
    buf = hmb_test_slurp(p, HMB_EXAMPLE("3.resp.xml"), &len);
    r = parse_ok(p, buf, len, 0);
    assert_same_fields(r, round_trip(p, r));
}

/* A claim recorded before schema version 3 kept no message; a damaged
 * one is refused with a reason, never half read. */
static void test_unpack_refuses(void **state)
{
    apr_pool_t *p = *state;
    hmb_response_t *r;
    const char *err;
    static const char *const bad[] = {
        "",
        "psn_no=1\n",
        "hmbmsg 1\nsetl_time=2024-05-01 10:00:00\nmed_type=21\n",
        "hmbmsg 1\npsn_no=1\nsetl_time=2024-05-01 10:00:00\nmed_type=21\n"
        "medfee_sumamt=12x\n",
        "hmbmsg 1\npsn_no=1\nsetl_time=2024-05-01 10:00:00\nmed_type=21\n"
        "psn_insu_stas=12\n",
        "hmbmsg 1\npsn_no=1\nsetl_time=2024-05-01 10:00:00\nmed_type=21\n"
        "fee=1\tA1\t100\n",
        "hmbmsg 1\npsn_no=1\nsetl_time=2024-05-01 10:00:00\nmed_type=21\n"
        "no equals sign\n",
        NULL
    };
    int i;

    err = hmb_response_unpack(p, NULL, &r);
    assert_non_null(err);
    assert_null(r);
    assert_contains(err, "schema version 3");
    for (i = 0; bad[i]; i++) {
        r = (hmb_response_t *)1;
        err = hmb_response_unpack(p, bad[i], &r);
        if (!err) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_null(r);
        assert_null(strchr(err, '\n'));
    }
    /* a field a later build adds is skipped, not an error */
    assert_null(hmb_response_unpack(p, "hmbmsg 1\npsn_no=1\nsetl_time="
                                    "2024-05-01 10:00:00\nmed_type=21\n"
                                    "later_field=x\n", &r));
    assert_string_equal(r->psn_no, "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_from_infno),
#define T(f) cmocka_unit_test_setup_teardown(f, hmb_test_pool_setup, \
                                             hmb_test_pool_teardown)
        T(test_request_worked_example),
        T(test_request_gb18030),
        T(test_request_cancel_needs_settlement),
        T(test_request_identifiers),
        T(test_request_other_infno),
        T(test_response_worked_example),
        T(test_response_gbk),
        T(test_response_gb18030),
        T(test_response_fee_detail),
        T(test_response_with_hmbinfo),
        T(test_response_not_actionable),
        T(test_response_required_fields),
        T(test_response_amounts),
        T(test_response_formats),
        T(test_encodings),
        T(test_scan_worked_examples),
        T(test_scan_tricky_fixture),
        T(test_scan_cases),
        T(test_scan_gbk_cdata),
        T(test_hostile),
        T(test_xxe_never_leaks),
        T(test_malformed),
        T(test_limits),
        T(test_schema_examples),
        T(test_schema_refuses),
        T(test_pack_round_trip),
        T(test_unpack_refuses),
#undef T
    };
    int rc;

    apr_initialize();
    hmb_xml_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
