/* fuzz_json: one JSON settlement answer, read, priced, rendered and
 * spliced the way the filter does it for the national platform's
 * messages (issue 11), with the JSON side's invariants checked:
 *   - read in slices, it reads as in one piece (same verdict, same splice
 *     and fund offsets);
 *   - amounts are bounded as DOMAIN.md says;
 *   - the decision keeps rules 1-9 (hmb_fuzz_check_decision);
 *   - with "hmbinfo" (and the fund line) inserted, the answer parses (by
 *     yajl's tree, a second reader), "hmbinfo" is the last member of
 *     "output" and shows the decision's hmb_pay, and our own reader now
 *     refuses it as already settled.
 *
 * Input framing (tests/fuzz/README.md):
 *   byte 0      flags
 *               bit 0     enrolled
 *               bit 1     read with charset GBK (the transport says so)
 *               bit 2     read again in slices (byte 1) and compare
 *               bit 3     signed amounts allowed (a cancellation's answer)
 *               bit 4     the fund line goes in too
 *   byte 1      slice size slice_size[b & 7]
 *   then        the answer.
 */
#include <string.h>
#include <apr_strings.h>
#include <yajl/yajl_tree.h>

#include "fuzz_common.h"
#include "hmb_hmbinfo.h"

#define FUZZ_HEADER 2

static const apr_size_t slice_size[8] = {1, 2, 3, 5, 64, 1000, 4095, 4097};

static const char *fuzz_read(apr_pool_t *p, const char *buf, apr_size_t len,
                             apr_size_t slice, const char *charset,
                             int allow_negative, hmb_response_t **rs)
{
    hmb_msg_reader_t *r = hmb_msg_reader_wire(p, HMB_MSG_RESPONSE,
                                              HMB_WIRE_JSON, charset);
    apr_size_t off;

    for (off = 0; off < len; off += slice) {
        hmb_msg_feed(r, buf + off, len - off < slice ? len - off : slice);
    }
    return hmb_response_finish(r, allow_negative, rs);
}

/* The spliced answer, as a second parser sees it. */
static void fuzz_check_tree(apr_pool_t *p, const char *out, apr_size_t len,
                            const char *pay)
{
    char err[256];
    char *text = apr_pstrmemdup(p, out, len);
    const char *path[] = { "output", NULL };
    const char *pay_path[] = { "hmb_pay", NULL };
    yajl_val top, o, h, v;
    size_t n;

    /* our reader skips a UTF-8 byte-order mark; yajl's tree does not */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
    }
    top = yajl_tree_parse(text, err, sizeof(err));

    if (!top) {
        hmb_fuzz_fail("the spliced answer parses", "%s", err);
    }
    o = yajl_tree_get(top, path, yajl_t_object);
    n = o ? YAJL_GET_OBJECT(o)->len : 0;
    if (!n || strcmp(YAJL_GET_OBJECT(o)->keys[n - 1], "hmbinfo")) {
        hmb_fuzz_fail("hmbinfo is the last member of output",
                      "output's last member is %s",
                      n ? YAJL_GET_OBJECT(o)->keys[n - 1] : "(none)");
    }
    h = YAJL_GET_OBJECT(o)->values[n - 1];
    v = yajl_tree_get(h, pay_path, yajl_t_number);
    if (!v || strcmp(v->u.number.r, pay)) {
        hmb_fuzz_fail("hmbinfo shows the payout", "hmb_pay %s, want %s",
                      v ? v->u.number.r : "(none)", pay);
    }
    yajl_tree_free(top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *root = hmb_fuzz_init(), *p;
    const char *resp, *err, *err2, *why, *info, *fund, *charset;
    apr_size_t resp_len, at, fat = 0, n, nf = 0;
    hmb_response_t *rs = NULL, *rs2 = NULL, *again;
    const hmb_decision_t *d;
    hmb_engine_input_t in;
    hmb_hmbinfo_ctx_t hc;
    hmb_enrollment_t *e = NULL;
    const hmb_plan_t *plan;
    int flags, allow_negative;
    char *out;

    if (size < FUZZ_HEADER) {
        return 0;
    }
    flags = data[0];
    resp = (const char *)data + FUZZ_HEADER;
    resp_len = size - FUZZ_HEADER;
    charset = flags & 0x02 ? "GBK" : NULL;
    allow_negative = (flags & 0x08) != 0;
    apr_pool_create(&p, root);

    err = fuzz_read(p, resp, resp_len, resp_len ? resp_len : 1, charset,
                    allow_negative, &rs);
    if (flags & 0x04) {
        apr_size_t slice = slice_size[data[1] & 7];

        err2 = fuzz_read(p, resp, resp_len, slice, charset, allow_negative,
                         &rs2);
        if (!err != !err2
            || (!err && (rs->actionable != rs2->actionable
                         || (rs->actionable
                             && (rs->splice_at != rs2->splice_at
                                 || rs->fund_at != rs2->fund_at))))) {
            hmb_fuzz_fail("slices read as one piece", "in one piece: %s; "
                          "in slices of %zu: %s", err ? err : "ok", slice,
                          err2 ? err2 : "ok");
        }
    }
    if (err || !rs->actionable) {
        goto done;
    }
    if (hmb_fuzz_amount_out_of_bounds(p, rs, &why)) {
        hmb_fuzz_fail("amounts are bounded", "%s was accepted", why);
    }
    if (rs->splice_at >= resp_len || resp[rs->splice_at] != '}'
        || (rs->fund_at >= 0
            && ((apr_size_t)rs->fund_at >= rs->splice_at
                || resp[rs->fund_at] != ']'))) {
        hmb_fuzz_fail("splice points", "splice_at %zu, fund_at %ld of %zu",
                      rs->splice_at, (long)rs->fund_at, resp_len);
    }

    plan = hmb_fuzz_plan("conf/plans/yichun-2024.xml");
    memset(&hc, 0, sizeof(hc));
    hc.setl_id = rs->setl_id;
    hc.mdtrt_id = rs->mdtrt_id;
    if (flags & 0x10) {
        hc.fund_pay_type = "HMB001";
        hc.fund_pay_type_name = "惠民保";
    }
    if (allow_negative) {
        d = hmb_engine_refuse(p, HMB_STAS_NO_CLAIM,
                              HMB_REA_UNKNOWN_SETTLEMENT, NULL, rs, NULL);
    }
    else {
        if (flags & 0x01) {
            e = apr_pcalloc(p, sizeof(*e));
            e->plan_code = plan->code;
            e->plan_year = plan->year;
            e->psn_no = rs->psn_no;
            e->cover_from = plan->from;
            e->admdvs = "360902";
            e->payer = "self";
        }
        memset(&in, 0, sizeof(in));
        in.tx = rs->setl_id ? HMB_TX_SETTLE : HMB_TX_PRESETTLE;
        in.plan = plan;
        in.plans_until = plan->to;
        in.enrollment = e;
        in.resp = rs;
        d = hmb_engine_decide(p, &in);
        hmb_fuzz_check_decision(&in, d);
    }

    /* as hmb_settle does it: the member at splice_at, the fund line at
     * fund_at (before it) when output has a setldetail array */
    info = hmb_hmbinfo_render_json(p, d, &hc, rs->splice_comma);
    fund = rs->fund_at >= 0
           ? hmb_hmbinfo_fund_line_json(p, d, &hc, rs->fund_comma) : "";
    at = rs->splice_at;
    n = strlen(info);
    if (*fund) {
        fat = (apr_size_t)rs->fund_at;
        nf = strlen(fund);
    }
    out = apr_palloc(p, resp_len + nf + n);
    memcpy(out, resp, fat);
    memcpy(out + fat, fund, nf);
    memcpy(out + fat + nf, resp + fat, at - fat);
    memcpy(out + at + nf, info, n);
    memcpy(out + at + nf + n, resp + at, resp_len - at);
    if (!charset) {
        fuzz_check_tree(p, out, resp_len + nf + n,
                        hmb_money_str(p, d->hmb_pay));
    }
    /* what we wrote is ours: read again, it is refused as settled */
    if (!fuzz_read(p, out, resp_len + nf + n, resp_len + nf + n, charset,
                   allow_negative, &again)) {
        hmb_fuzz_fail("a spliced answer is not settled twice",
                      "read again without complaint");
    }

done:
    apr_pool_destroy(p);
    return 0;
}
