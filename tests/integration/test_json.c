/* Integration: the national platform's JSON messages through Debian's
 * apache2 and mod_proxy (issue 11). Each answer is checked twice: parsed
 * (yajl's tree), "hmbinfo" must be the last member of "output"; and with
 * what the module put in taken out again, it must be the upstream's
 * bytes.
 *
 * Group setup: a SQLite ledger with the worked example's person in its
 * plan and a second person in a plan whose one liability is a commercial
 * catalog that pays nothing without fee detail; the sample upstream
 * serving DIR/up, where each test writes the answers it needs; apache2
 * by harness.sh. The tests run in order on that server.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <apr_xlate.h>
#include <yajl/yajl_tree.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#define JSON_DIR      HMB_FIXTURE("json")
#define WORKED        JSON_DIR "/worked-example"
#define PLAN_2024     HMB_EXAMPLE("plan.xml")
#define PSN1          "36090000000000000001"
#define PSN2          "36090000000000000002"
#define CAT_CODE      "XL01XXA313A001010104569"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *ledger;
    const char *up;                 /* the upstream's fixtures */
    apr_port_t port;
    apr_port_t up_port;
} json_env_t;

static json_env_t env;

/* --- messages ------------------------------------------------------------ */

/* A request envelope as the national platform's HIS sends it. */
static const char *envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *input)
{
    return apr_psprintf(p,
        "{\"infno\":\"%s\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"360900\","
        "\"insuplc_admdvs\":\"360902\",\"recer_sys_code\":\"HIS\","
        "\"dev_no\":\"\",\"dev_safe_info\":\"\",\"cainfo\":\"\","
        "\"signtype\":\"\",\"infver\":\"V1.0\",\"opter_type\":\"1\","
        "\"opter\":\"0001\",\"opter_name\":\"\\u6536\\u8d39\\u5458\","
        "\"inf_time\":\"2024-06-01 09:00:00\","
        "\"fixmedins_code\":\"H36090200001\","
        "\"fixmedins_name\":\"\\u5b9c\\u6625\\u5e02\\u4eba\\u6c11\\u533b"
        "\\u9662\",\"sign_no\":\"S0001\",\"input\":%s}",
        infno, msgid, input);
}

/* POST req for msgid to the server; the answer, which must be 200. */
static hmb_http_response_t *post(apr_pool_t *p, const char *msgid,
                                 const char *req, apr_size_t len,
                                 const char *ctype)
{
    const char *const hdrs[] = { ctype, NULL };
    hmb_http_response_t *r = hmb_it_post(p, env.port,
                                         apr_pstrcat(p, "/fsi/api/", msgid,
                                                     NULL), hdrs, req, len);

    assert_int_equal(r->status, 200);
    return r;
}

/* What the module inserted: the answer minus the upstream's bytes, which
 * must all be there in order. A fund line (*fund) may come before the
 * member (*info). */
static void inserted(apr_pool_t *p, const char *up, apr_size_t up_len,
                     const hmb_http_response_t *r, const char **fund,
                     const char **info)
{
    const char *body = r->body, *mid;
    apr_size_t a = 0, b = 0, n = r->body_len, m;

    assert_true(n > up_len);
    while (a < up_len && body[a] == up[a]) {
        a++;
    }
    while (b < up_len - a && body[n - 1 - b] == up[up_len - 1 - b]) {
        b++;
    }
    m = up_len - a - b;
    *fund = "";
    if (!m) {
        *info = apr_pstrmemdup(p, body + a, n - a - b);
        return;
    }
    /* two insertions: the upstream's bytes between them are in the
     * answer once */
    mid = memmem(body + a, n - a - b, up + a, m);
    assert_non_null(mid);
    *fund = apr_pstrmemdup(p, body + a, (apr_size_t)(mid - body - a));
    *info = apr_pstrmemdup(p, mid + m, n - b - (apr_size_t)(mid + m - body));
}

static apr_status_t tree_free(void *v)
{
    yajl_tree_free(v);
    return APR_SUCCESS;
}

/* The body as UTF-8: a GBK answer (charset in its Content-Type)
 * converted by iconv, for yajl. */
static char *utf8_body(apr_pool_t *p, const hmb_http_response_t *r)
{
    const char *ct = hmb_http_header(r, "Content-Type");
    apr_xlate_t *x;
    apr_size_t in = r->body_len, out = r->body_len * 2 + 1;
    char *buf = apr_palloc(p, out + 1);
    apr_size_t cap = out;

    if (!ct || !strstr(ct, "GBK")) {
        return apr_pstrmemdup(p, r->body, r->body_len);
    }
    assert_int_equal(apr_xlate_open(&x, "UTF-8", "GBK", p), APR_SUCCESS);
    assert_int_equal(apr_xlate_conv_buffer(x, r->body, &in, buf, &out),
                     APR_SUCCESS);
    assert_int_equal(in, 0);
    buf[cap - out] = '\0';
    return buf;
}

/* The answer parsed: "hmbinfo", the last member of "output". */
static yajl_val hmbinfo_of(apr_pool_t *p, const hmb_http_response_t *r)
{
    char err[256];
    yajl_val top, out;
    char *text = utf8_body(p, r);
    const char *path[] = { "output", NULL };

    top = yajl_tree_parse(text, err, sizeof(err));
    if (!top) {
        fail_msg("the answer does not parse: %s: %.400s", err, text);
    }
    out = yajl_tree_get(top, path, yajl_t_object);
    assert_non_null(out);
    assert_true(YAJL_GET_OBJECT(out)->len > 0);
    assert_str(YAJL_GET_OBJECT(out)->keys[YAJL_GET_OBJECT(out)->len - 1],
               "hmbinfo");
    apr_pool_cleanup_register(p, top, tree_free, apr_pool_cleanup_null);
    return YAJL_GET_OBJECT(out)->values[YAJL_GET_OBJECT(out)->len - 1];
}

/* A member's text: a string's, or a number's literal. */
static const char *member(yajl_val obj, const char *name)
{
    const char *path[] = { name, NULL };
    yajl_val v = yajl_tree_get(obj, path, yajl_t_any);

    if (!v) {
        return NULL;
    }
    return YAJL_IS_STRING(v) ? YAJL_GET_STRING(v)
         : YAJL_IS_NUMBER(v) ? v->u.number.r : "(other)";
}

/* The upstream answers msgid with up (and the options opts, when not
 * NULL); POST req for it: the answer must be the upstream's with hmbinfo
 * added. Returns hmbinfo. */
static yajl_val settle(apr_pool_t *p, const char *msgid, const char *req,
                       apr_size_t req_len, const char *ctype,
                       const char *up, apr_size_t up_len, const char *opts,
                       const char **fund)
{
    hmb_http_response_t *r;
    const char *info, *f;
    yajl_val h;

    assert_no_error(hmb_it_answer(p, env.up, msgid, "json", up, up_len,
                                  opts));
    r = post(p, msgid, req, req_len, ctype);
    h = hmbinfo_of(p, r);
    inserted(p, up, up_len, r, &f, &info);
    assert_true(!strncmp(info, ",\"hmbinfo\":{", 12)
                || !strncmp(info, "\"hmbinfo\":{", 11));
    if (fund) {
        *fund = f;
    }
    else {
        assert_str(f, "");
    }
    return h;
}

/* The upstream answers msgid with up; POST req for it: the answer is the
 * upstream's, byte for byte. */
static void untouched(apr_pool_t *p, const char *msgid, const char *req,
                      const char *up, apr_size_t up_len)
{
    hmb_http_response_t *r;

    assert_no_error(hmb_it_answer(p, env.up, msgid, "json", up, up_len,
                                  NULL));
    r = post(p, msgid, req, strlen(req), "Content-Type: application/json");
    hmb_it_assert_same_bytes(r->body, r->body_len, up, up_len);
}

/* hmbctl on the live ledger as the children's user; its output. */
#define hmbctl_live(p, ...) \
    hmb_it_hmbctl((p), env.rundir, HMB_IT_HTTPD_USER, env.ledger, 0, \
                  __VA_ARGS__)

static char *read_log(apr_pool_t *p)
{
    return hmb_it_log(p, env.rundir, "error_log", NULL);
}

/* --- group setup -------------------------------------------------------- */

static const char *write_catalog_plan(apr_pool_t *p, const char *dir)
{
    static const char plan[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<plan code=\"JSMB\" name=\"catalog only\" year=\"2024\" "
        "version=\"1\" from=\"2024-01-01\" to=\"2024-12-31\">\n"
        "  <cover><med-type code=\"21\"/><institution code=\"*\"/>"
        "</cover>\n"
        "  <liability code=\"catalog\" basis=\"outscope-catalog\" "
        "catalog=\"cat.csv\" without-detail=\"none\" pool=\"A\" "
        "deductible=\"0.00\" ratio=\"0.60\" cap=\"100000.00\"/>\n"
        "  <insurer code=\"PICC\" name=\"PICC\" share=\"1.00\"/>\n"
        "</plan>\n";
    static const char cat[] = "med_list_codg,name\n" CAT_CODE ",drug\n";
    static const char csv[] =
        "plan_code,plan_year,psn_no,cover_from,preexisting,person_class,"
        "admdvs,payer,premium\n"
        "YCHMB,2024," PSN1 ",2024-01-01,0,,360902,account,69.00\n"
        "JSMB,2024," PSN2 ",2024-01-01,0,,360902,account,69.00\n";
    const char *why;

    if ((why = hmb_it_write_file(p, apr_pstrcat(p, dir, "/jsmb.xml", NULL),
                                 plan, sizeof(plan) - 1))
        || (why = hmb_it_write_file(p, apr_pstrcat(p, dir, "/cat.csv", NULL),
                                    cat, sizeof(cat) - 1))) {
        return why;
    }
    return hmb_it_write_file(p, apr_pstrcat(p, dir, "/enroll.csv", NULL),
                             csv, sizeof(csv) - 1);
}

static int group_setup(void **state)
{
    apr_pool_t *p;
    const char *why = NULL, *dir, *jsmb;

    (void)state;
    if (hmb_it_group_begin("json", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    dir = env.rundir;
    env.up = apr_pstrcat(p, dir, "/up", NULL);
    jsmb = apr_pstrcat(p, dir, "/jsmb.xml", NULL);
    if (apr_dir_make_recursive(env.up, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        why = "cannot create the upstream's directory";
    }
    if (!why) {
        why = write_catalog_plan(p, dir);
    }
    if (!why) {
        const char *plans[] = { PLAN_2024, jsmb, NULL };

        why = hmb_it_sqlite_ledger(p, dir, plans,
                                   apr_pstrcat(p, dir, "/enroll.csv", NULL),
                                   "imported 2 ", HMB_IT_HTTPD_USER,
                                   &env.ledger);
    }
    if (!why) {
        why = hmb_it_free_ports(p, &env.up_port, &env.port, NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "upstream", env.up_port, env.up,
                                    NULL);
    }
    if (!why) {
        const char *plans[] = { PLAN_2024, jsmb, NULL };

        why = hmb_it_start_httpd(p, dir, env.port, "module.conf",
                                 hmb_it_module_conf(p, plans,
                                                    HMB_IT_DBD_SQLITE,
                                                    env.up_port,
                                                    "    HuiminbaoFundLine "
                                                    "620100 \"Huiminbao\"\n",
                                                    NULL));
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- the worked example in JSON ----------------------------------------- */

#define MSGID(n) "H3609020000120240501100000000" #n

/* pair n of the worked example: its request, its answer upstream */
static yajl_val worked(apr_pool_t *p, int n, const char *ctype,
                       const char *opts, const char **fund)
{
    const char *msgid = apr_psprintf(p, "H3609020000120240501100000000%d",
                                     n);
    apr_size_t rl, ul;
    char *req = hmb_test_slurp(p, apr_psprintf(p, "%s/%d.req.json", WORKED, n),
                               &rl);
    char *up = hmb_test_slurp(p, apr_psprintf(p, "%s/%d.resp.json", WORKED, n),
                              &ul);

    return settle(p, msgid, req, rl, ctype, up, ul, opts, fund);
}

static void test_presettle(void **state)
{
    apr_pool_t *p = *state;
    const char *fund;
    yajl_val h = worked(p, 1, "Content-Type: application/json", NULL, &fund);

    /* output.setldetail gets the fund line, with the payout */
    assert_contains(fund, "\"fund_payamt\":12100.00");
    assert_str(member(h, "hmb_stas"), "presettled");
    assert_str(member(h, "hmb_pay"), "12100.00");
    assert_str(member(h, "psn_part_amt_aft"), "35900.00");
}

/* 2.resp.json: infcode "0" after output, a setldetail array: the fund
 * line goes last in it, hmbinfo last in output. A repeat answers the
 * same bytes. */
static void test_settle_and_repeat(void **state)
{
    apr_pool_t *p = *state;
    const char *fund, *fund2;
    yajl_val h = worked(p, 2, "Content-Type: application/json", NULL, &fund);
    hmb_http_response_t *again;
    apr_size_t rl;
    char *req = hmb_test_slurp(p, WORKED "/2.req.json", &rl);

    assert_str(member(h, "hmb_stas"), "paid");
    assert_str(member(h, "hmb_pay"), "12100.00");
    assert_str(member(h, "hmb_setl_id"), "HMB-S2024050100001");
    assert_true(!strncmp(fund, ",{\"fund_pay_type\":\"620100\"", 26));
    assert_contains(fund, "12100.00");
    h = worked(p, 2, "Content-Type: application/json", NULL, &fund2);
    assert_str(member(h, "hmb_pay"), "12100.00");
    assert_str(fund2, fund);
    again = post(p, MSGID(2), req, rl, "Content-Type: application/json");
    assert_contains(again->body, "\"hmb_setl_id\":\"HMB-S2024050100001\"");
}

/* 3.*.json are GBK, and say so only in Content-Type. */
static void test_settle_gbk(void **state)
{
    apr_pool_t *p = *state;
    const char *fund;
    yajl_val h = worked(p, 3, "Content-Type: application/json; charset=GBK",
                        "content-type application/json; charset=GBK\n",
                        &fund);

    assert_str(member(h, "hmb_stas"), "paid");
    assert_str(member(h, "hmb_pay"), "7000.00");
}

/* The platform's 2305 answer: a reduced setlinfo, no psn_no, negative
 * amounts; the claim is found through the request's setl_id. */
static void test_cancel_reduced(void **state)
{
    apr_pool_t *p = *state;
    static const char up[] =
        "{\"infcode\":0,\"inf_refmsgid\":\"R4\",\"output\":{\"setlinfo\":"
        "{\"setl_id\":\"S2024050100009\",\"mdtrt_id\":\"M20240000002\","
        "\"medfee_sumamt\":-120000.00,\"fulamt_ownpay_amt\":-20000.00,"
        "\"overlmt_selfpay\":0,\"fund_pay_sumamt\":-72000.00,"
        "\"psn_part_amt\":-48000.00,\"psn_cash_pay\":-45000.00}},"
        "\"err_msg\":null}";
    apr_size_t rl;
    char *req = hmb_test_slurp(p, WORKED "/4.req.json", &rl);
    yajl_val h;

    h = settle(p, MSGID(4), req, rl, "Content-Type: application/json", up,
               sizeof(up) - 1, NULL, NULL);
    assert_str(member(h, "hmb_stas"), "reversed");
    assert_str(member(h, "hmb_pay"), "-12100.00");
}

/* Answers that are not ours to change, each byte for byte. */
static void test_untouched_variants(void **state)
{
    apr_pool_t *p = *state;
    static const char *const names[] = {
        "gateway-error", "output-null", "output-empty", "output-encrypted",
        "setlinfo-null", NULL
    };
    int i;

    for (i = 0; names[i]; i++) {
        const char *msgid = apr_psprintf(p, "JU%d", i);
        const char *req = envelope(p, "2304", msgid,
                                   "{\"data\":{\"psn_no\":\"" PSN1 "\","
                                   "\"mdtrt_id\":\"MU1\"}}");
        apr_size_t ul;
        char *up = hmb_test_slurp(p, apr_psprintf(p, "%s/valid/%s.resp.json",
                                           JSON_DIR, names[i]), &ul);

        untouched(p, msgid, req, up, ul);
    }
}

/* --- what 2301 said ----------------------------------------------------- */

/* Acceptance: a 2301 -> 2304 sequence pays the catalog liability from the
 * 2301 fee detail alone (the 2304 answer has none, and the plan pays
 * nothing without it). The 2301 answer passes untouched. */
static void test_fee_detail_from_2301(void **state)
{
    apr_pool_t *p = *state;
    const char *req = envelope(p, "2301", "J2301",
        "{\"feedetail\":["
        "{\"feedetl_sn\":\"0001\",\"mdtrt_id\":\"MJ1\",\"psn_no\":\"" PSN2
        "\",\"med_list_codg\":\"" CAT_CODE "\",\"det_item_fee_sumamt\":3000,"
        "\"cnt\":1,\"pric\":3000},"
        "{\"feedetl_sn\":\"0002\",\"mdtrt_id\":\"MJ1\",\"psn_no\":\"" PSN2
        "\",\"med_list_codg\":\"NOT-IN-CATALOG\",\"det_item_fee_sumamt\":"
        "1000,\"cnt\":1,\"pric\":1000}]}");
    static const char up2301[] =
        "{\"infcode\":0,\"output\":{\"result\":["
        "{\"feedetl_sn\":\"0001\",\"det_item_fee_sumamt\":3000.00,"
        "\"fulamt_ownpay_amt\":3000.00,\"overlmt_amt\":0.00,"
        "\"chrgitm_lv\":\"03\"},"
        "{\"feedetl_sn\":\"0002\",\"det_item_fee_sumamt\":1000.00,"
        "\"fulamt_ownpay_amt\":1000.00,\"overlmt_amt\":0}]}}";
    /* inpatient 2304: no med_type in the request */
    const char *req2304 = envelope(p, "2304", "J2304",
        "{\"mdtrtinfo\":{\"psn_no\":\"" PSN2 "\",\"mdtrt_id\":\"MJ1\","
        "\"insutype\":\"390\"}}");
    static const char up2304[] =
        "{\"infcode\":\"0\",\"output\":{\"setlinfo\":{\"setl_id\":\"SJ1\","
        "\"mdtrt_id\":\"MJ1\",\"psn_no\":\"" PSN2 "\",\"insutype\":\"390\","
        "\"setl_time\":\"2024-06-01 10:00:00\",\"med_type\":\"21\","
        "\"medfee_sumamt\":10000.00,\"fulamt_ownpay_amt\":4000.00,"
        "\"overlmt_selfpay\":0,\"fund_pay_sumamt\":5000.00,"
        "\"psn_part_amt\":5000.00,\"psn_cash_pay\":5000.00}}}";
    yajl_val h;

    untouched(p, "J2301", req, up2301, sizeof(up2301) - 1);
    h = settle(p, "J2304", req2304, strlen(req2304),
               "Content-Type: application/json", up2304,
               sizeof(up2304) - 1, NULL, NULL);
    assert_str(member(h, "hmb_stas"), "paid");
    /* 60% of the one catalog line's 3000.00 */
    assert_str(member(h, "hmb_pay"), "1800.00");
    assert_contains(read_log(p), "fee_upload remembered (2 rows)");
}

/* A 2304 without psn_insu_stas uses what 1101 said of the person's
 * insurance: suspended (2) pays nothing. */
static void test_status_from_1101(void **state)
{
    apr_pool_t *p = *state;
    const char *req1101 = envelope(p, "1101", "J1101",
        "{\"data\":{\"mdtrt_cert_type\":\"02\",\"mdtrt_cert_no\":\"x\","
        "\"psn_cert_type\":\"01\",\"certno\":\"x\"}}");
    static const char up1101[] =
        "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"" PSN2
        "\",\"psn_name\":\"x\"},\"insuinfo\":[{\"insutype\":\"390\","
        "\"psn_insu_stas\":\"2\",\"balc\":0}],\"idetinfo\":[]}}";
    const char *req2304 = envelope(p, "2304", "J2304B",
        "{\"data\":{\"psn_no\":\"" PSN2 "\",\"mdtrt_id\":\"MJ2\"}}");
    static const char up2304[] =
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"SJ2\","
        "\"mdtrt_id\":\"MJ2\",\"psn_no\":\"" PSN2 "\",\"insutype\":\"390\","
        "\"setl_time\":\"2024-06-02 10:00:00\",\"med_type\":\"21\","
        "\"medfee_sumamt\":10000.00,\"fulamt_ownpay_amt\":4000.00,"
        "\"overlmt_selfpay\":0,\"fund_pay_sumamt\":5000.00,"
        "\"psn_part_amt\":5000.00},\"feedetail\":[{\"feedetl_sn\":\"1\","
        "\"med_list_codg\":\"" CAT_CODE "\",\"fulamt_ownpay_amt\":4000.00,"
        "\"overlmt_amt\":0}]}}";
    yajl_val h;

    untouched(p, "J1101", req1101, up1101, sizeof(up1101) - 1);
    h = settle(p, "J2304B", req2304, strlen(req2304),
               "Content-Type: application/json", up2304,
               sizeof(up2304) - 1, NULL, NULL);
    assert_str(member(h, "hmb_stas"), "ineligible");
    assert_str(member(h, "hmb_pay"), "0.00");
    assert_contains(read_log(p), "person_query remembered (1 rows)");
}

/* --- signed answers ------------------------------------------------------ */

/* An answer the platform signed passes untouched (HuiminbaoSigned Pass,
 * the default); the settlement is recorded as deferred for the insurer. */
static void test_signed_passes(void **state)
{
    apr_pool_t *p = *state;
    const char *req = envelope(p, "2304", "JSIG",
                               "{\"data\":{\"psn_no\":\"" PSN1 "\","
                               "\"mdtrt_id\":\"MS1\"}}");
    static const char up[] =
        "{\"infcode\":0,\"cainfo\":\"MEUCIQDsig\",\"signtype\":\"SM2\","
        "\"output\":{\"setlinfo\":{\"setl_id\":\"SSIG1\",\"mdtrt_id\":"
        "\"MS1\",\"psn_no\":\"" PSN1 "\",\"setl_time\":\"2024-07-01 "
        "10:00:00\",\"med_type\":\"21\",\"medfee_sumamt\":60000.00,"
        "\"fulamt_ownpay_amt\":0,\"overlmt_selfpay\":0,"
        "\"psn_part_amt\":30000.00}}}";

    untouched(p, "JSIG", req, up, sizeof(up) - 1);
    assert_contains(read_log(p), "HMB00323");
    assert_contains(read_log(p), "hmb_setl_id=HMB-SSIG1");
    assert_contains(read_log(p), "rea_code=signed_response");
    /* owed by the insurer */
    assert_contains(hmbctl_live(p, "owed", "--format", "csv", NULL),
                    "HMB-SSIG1");
    /* its cancellation takes back what it counted */
    {
        const char *creq = envelope(p, "2305", "JSIGX",
                                    "{\"data\":{\"setl_id\":\"SSIG1\","
                                    "\"psn_no\":\"" PSN1 "\","
                                    "\"mdtrt_id\":\"MS1\"}}");
        static const char cup[] =
            "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":"
            "\"SSIGX\",\"medfee_sumamt\":-60000.00,"
            "\"psn_part_amt\":-30000.00}}}";
        yajl_val h;

        h = settle(p, "JSIGX", creq, strlen(creq),
                   "Content-Type: application/json", cup, sizeof(cup) - 1,
                   NULL, NULL);
        assert_str(member(h, "hmb_stas"), "reversed");
        assert_true(member(h, "hmb_pay")[0] == '-');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_presettle),
        HMB_IT_TEST(test_settle_and_repeat),
        HMB_IT_TEST(test_settle_gbk),
        HMB_IT_TEST(test_cancel_reduced),
        HMB_IT_TEST(test_untouched_variants),
        HMB_IT_TEST(test_fee_detail_from_2301),
        HMB_IT_TEST(test_status_from_1101),
        HMB_IT_TEST(test_signed_passes),
        /* every [error] line in the server's log is one provoked on
         * purpose: these tests provoke none */
        HMB_IT_TEST(hmb_it_test_error_logs_clean),
    };

    return hmb_it_main("integration: JSON messages in apache2", tests,
                       group_setup, hmb_it_group_teardown) ? 1 : 0;
}
