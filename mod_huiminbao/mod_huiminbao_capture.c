/* Request envelope capture. The response alone does not say whether it
 * answers a pre-settlement, a settlement or a cancellation, nor which
 * institution asked: the request body does. This input filter keeps a
 * copy of it for the output filter and changes nothing: every bucket goes
 * on as it came, and a body over the bound only stops the copying. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <util_filter.h>
#include <apr_buckets.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"

APLOG_USE_MODULE(huiminbao);

static void hmb_capture_overflow(ap_filter_t *f, hmb_req_ctx_t *ctx,
                                 const char *why)
{
    hmb_counters_t *c = hmb_counters();

    if (ctx->req_overflow) {
        return;
    }
    ctx->req_overflow = 1;
    if (c) {
        hmb_count(&c->req_overflow);
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, f->r, HMBLOGNO(00201)
                  "request body %s; its response will pass untouched, "
                  "for want of the request envelope", why);
}

static void hmb_capture_copy(ap_filter_t *f, hmb_req_ctx_t *ctx,
                             const char *data, apr_size_t len)
{
    apr_size_t need;

    if (len == 0) {
        return;
    }
    need = ctx->req_len + len;
    if (need < ctx->req_len || (apr_off_t)need > ctx->req_max) {
        hmb_capture_overflow(f, ctx, apr_psprintf(f->r->pool,
                             "longer than HuiminbaoMaxRequest (%"
                             APR_OFF_T_FMT " bytes)", ctx->req_max));
        return;
    }
    if (need > ctx->req_cap) {
        apr_size_t cap = ctx->req_cap ? ctx->req_cap * 2 : 4096;
        char *buf;

        while (cap < need) {
            cap *= 2;
        }
        if ((apr_off_t)cap > ctx->req_max) {
            cap = (apr_size_t)ctx->req_max;
        }
        buf = apr_palloc(f->r->pool, cap);
        if (ctx->req_len) {
            memcpy(buf, ctx->req_buf, ctx->req_len);
        }
        ctx->req_buf = buf;
        ctx->req_cap = cap;
    }
    memcpy(ctx->req_buf + ctx->req_len, data, len);
    ctx->req_len = need;
}

apr_status_t hmb_capture_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                ap_input_mode_t mode, apr_read_type_e block,
                                apr_off_t readbytes)
{
    hmb_req_ctx_t *ctx = f->ctx;
    apr_bucket *e;
    apr_status_t rv;

    rv = ap_get_brigade(f->next, bb, mode, block, readbytes);

    /* A speculative read gives the same bytes again later; INIT and
     * EATCRLF carry no body. */
    if (rv != APR_SUCCESS || !ctx || ctx->req_eos
        || (mode != AP_MODE_READBYTES && mode != AP_MODE_GETLINE
            && mode != AP_MODE_EXHAUSTIVE)) {
        return rv;
    }

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        const char *data;
        apr_size_t len;
        apr_status_t rr;

        if (APR_BUCKET_IS_EOS(e)) {
            ctx->req_eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e) || ctx->req_overflow) {
            continue;
        }
        /* Reading may morph the bucket (pipe, socket) but leaves its
         * bytes as they are for whoever reads next. */
        rr = apr_bucket_read(e, &data, &len, block);
        if (rr != APR_SUCCESS) {
            hmb_capture_overflow(f, ctx, "could not be copied");
            continue;
        }
        hmb_capture_copy(f, ctx, data, len);
    }
    return APR_SUCCESS;
}
