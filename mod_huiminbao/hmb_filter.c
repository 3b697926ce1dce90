/* The HUIMINBAO output filter: collect a settlement response, have the
 * core settle it, send it on with <hmbinfo> spliced in.
 *
 * The base settlement must reach the billing desk whatever happens on our
 * side: every path below that does not send a spliced body sends the
 * upstream's bytes as they came, and nothing here turns into an HTTP
 * error. Responses that are not candidates are left alone at the first
 * call, before a byte is held. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <apr_atomic.h>
#include <apr_buckets.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"
#include "hmb_money.h"
#include "hmb_settle.h"
#include "hmb_spool.h"

APLOG_USE_MODULE(huiminbao);

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *hmb_dbd_acquire;

int hmb_filter_find_dbd(void)
{
    hmb_dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    return hmb_dbd_acquire != NULL;
}

/* text/xml, application/xml and any TYPE/SUBTYPE+xml; parameters
 * ignored. */
static int hmb_is_xml_type(const char *ct)
{
    apr_size_t n, slash;

    if (!ct) {
        return 0;
    }
    n = strcspn(ct, "; \t");
    if ((n == 8 && strncasecmp(ct, "text/xml", 8) == 0)
        || (n == 15 && strncasecmp(ct, "application/xml", 15) == 0)) {
        return 1;
    }
    slash = strcspn(ct, "/");
    return slash > 0 && slash + 1 < n && n >= 4 && n - slash - 1 > 4
           && strncasecmp(ct + n - 4, "+xml", 4) == 0;
}

/* The response's own encoding, from wherever the handler put it. */
static const char *hmb_content_encoding(request_rec *r)
{
    const char *enc = r->content_encoding;

    if (!enc) {
        enc = apr_table_get(r->headers_out, "Content-Encoding");
    }
    if (!enc) {
        enc = apr_table_get(r->err_headers_out, "Content-Encoding");
    }
    return enc;
}

/* The fixups hook hid the client's Accept-Encoding from the upstream.
 * The upstream has answered by now: give it back, so that compression
 * towards the client (DEFLATE, after us) still sees what it accepts. */
static void hmb_restore_accept_encoding(request_rec *r)
{
    const char *ae = apr_table_get(r->notes, HMB_NOTE_ACCEPT_ENCODING);

    if (ae && !apr_table_get(r->headers_in, "Accept-Encoding")) {
        apr_table_setn(r->headers_in, "Accept-Encoding", ae);
    }
}

/* Out of the chain for good; bb goes on as it is. */
static apr_status_t hmb_pass_on(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_remove_output_filter(f);
    return APR_BRIGADE_EMPTY(bb) ? APR_SUCCESS : ap_pass_brigade(f->next, bb);
}

static apr_status_t hmb_stand_aside(ap_filter_t *f, apr_bucket_brigade *bb)
{
    hmb_counters_t *c = hmb_counters();

    if (c) {
        hmb_count(&c->stood_aside);
    }
    return hmb_pass_on(f, bb);
}

/* First call: is this response one to collect at all? Returns 1 to
 * collect; otherwise the filter is gone and *rv holds the pass result. */
static int hmb_decide(ap_filter_t *f, hmb_req_ctx_t *ctx,
                      apr_bucket_brigade *bb, apr_status_t *rv)
{
    request_rec *r = f->r;
    const char *enc, *cl;

    ctx->decided = 1;
    hmb_restore_accept_encoding(r);

    if (r->main) {
        *rv = hmb_stand_aside(f, bb);
        return 0;
    }
    /* No body (HEAD, 204, 304), an error, a partial body (206), or a
     * type that is not a settlement message. */
    if (r->header_only || r->status < 200 || r->status >= 300
        || r->status == HTTP_NO_CONTENT
        || r->status == HTTP_PARTIAL_CONTENT
        || !hmb_is_xml_type(r->content_type)) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, HMBLOGNO(00301)
                      "not a candidate: status %d, type %s%s", r->status,
                      r->content_type
                          ? ap_escape_logitem(r->pool, r->content_type)
                          : "(none)",
                      r->header_only ? ", no body" : "");
        *rv = hmb_stand_aside(f, bb);
        return 0;
    }
    enc = hmb_content_encoding(r);
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00302)
                      "response passed untouched: it has Content-Encoding "
                      "%s; let the upstream answer in identity encoding "
                      "or add the INFLATE filter before HUIMINBAO",
                      ap_escape_logitem(r->pool, enc));
        *rv = hmb_stand_aside(f, bb);
        return 0;
    }
    cl = apr_table_get(r->headers_out, "Content-Length");
    if (cl) {
        apr_off_t len;
        char *end;

        if (apr_strtoff(&len, cl, &end, 10) == APR_SUCCESS && !*end
            && len > ctx->resp_max) {
            hmb_counters_t *c = hmb_counters();

            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00303)
                          "response passed untouched: Content-Length %"
                          APR_OFF_T_FMT " is over HuiminbaoMaxBody (%"
                          APR_OFF_T_FMT ")", len, ctx->resp_max);
            if (c) {
                hmb_count(&c->too_large);
            }
            *rv = hmb_pass_on(f, bb);
            return 0;
        }
    }

    /* We may change the body, so the length has to be computed again by
     * the core's content-length filter, which it does when the whole
     * body and EOS come in one brigade, as ours will. */
    apr_table_unset(r->headers_out, "Content-Length");
    ctx->bb = apr_brigade_create(r->pool, f->c->bucket_alloc);
    return 1;
}

/* Stop collecting: what is held goes first, then the rest, untouched. */
static apr_status_t hmb_give_up(ap_filter_t *f, hmb_req_ctx_t *ctx,
                                apr_bucket_brigade *bb)
{
    APR_BRIGADE_PREPEND(bb, ctx->bb);
    return hmb_pass_on(f, bb);
}

static void hmb_count_max(volatile apr_uint64_t *max, apr_uint64_t v)
{
    apr_uint64_t cur = apr_atomic_read64(max);

    while (v > cur) {
        apr_uint64_t was = apr_atomic_cas64(max, v, cur);
        if (was == cur) {
            break;
        }
        cur = was;
    }
}

static const char *hmb_str(const char *s)
{
    return s && *s ? s : "-";
}

/* The fields of the one log line per decision. Untrusted values are
 * escaped; psn_no is masked; names and certificate numbers never. */
static const char *hmb_decision_fields(request_rec *r,
                                       const hmb_settle_result_t *res,
                                       int ours, apr_time_t us)
{
    char pay[HMB_MONEY_BUFSZ];

    return apr_psprintf(r->pool, "tx=%s setl_id=%s fixmedins_code=%s "
                        "psn_no=%s hmb_stas=%s hmb_pay=%s hmb_setl_id=%s "
                        "us=%" APR_TIME_T_FMT "%s%s%s",
                        hmb_tx_name(res->tx),
                        ap_escape_logitem(r->pool, hmb_str(res->setl_id)),
                        ap_escape_logitem(r->pool,
                                          hmb_str(res->fixmedins_code)),
                        ap_escape_logitem(r->pool,
                                          hmb_mask_psn(r->pool,
                                                       res->psn_no)),
                        ours ? hmb_stas_name(res->stas) : "-",
                        ours ? hmb_money_fmt(pay, res->hmb_pay) : "-",
                        ap_escape_logitem(r->pool, hmb_str(res->hmb_setl_id)),
                        us, res->duplicate ? " duplicate" : "",
                        res->reason ? " reason=" : "",
                        res->reason ? ap_escape_logitem(r->pool, res->reason)
                                    : "");
}

static void hmb_account(request_rec *r, const hmb_settle_result_t *res,
                        int ours, apr_time_t us)
{
    hmb_counters_t *c = hmb_counters();

    if (ours) {
        char pay[HMB_MONEY_BUFSZ];

        apr_table_setn(r->subprocess_env, "HUIMINBAO_STAS",
                       hmb_stas_name(res->stas));
        apr_table_set(r->subprocess_env, "HUIMINBAO_PAY",
                      hmb_money_fmt(pay, res->hmb_pay));
    }
    else {
        apr_table_setn(r->subprocess_env, "HUIMINBAO_STAS", "pass");
    }
    if (!c) {
        return;
    }
    hmb_count(&c->messages);
    if (ours && (int)res->stas >= 0 && res->stas <= HMB_STAS_NO_CLAIM) {
        hmb_count(&c->stas[res->stas]);
    }
    /* Money moves only on settlement and reversal, and a duplicate was
     * counted the first time. */
    if (ours && !res->duplicate
        && (res->stas == HMB_STAS_PAID || res->stas == HMB_STAS_REVERSED)) {
        apr_atomic_add64(&c->pay_fen, (apr_uint64_t)res->hmb_pay);
    }
    if (res->duplicate) {
        hmb_count(&c->duplicates);
    }
    apr_atomic_add64(&c->usec_total, (apr_uint64_t)us);
    hmb_count_max(&c->usec_max, (apr_uint64_t)us);
}

/* The whole body and EOS in one brigade: the upstream's own buckets as
 * collected, or (body != NULL) the spliced bytes instead. */
static apr_status_t hmb_send(ap_filter_t *f, hmb_req_ctx_t *ctx,
                             const char *body, apr_size_t len)
{
    request_rec *r = f->r;
    apr_bucket_brigade *bb = ctx->bb;
    apr_bucket_alloc_t *ba = f->c->bucket_alloc;

    if (body) {
        apr_brigade_cleanup(bb);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(body, len,
                                                           r->pool, ba));
        ap_set_content_length(r, (apr_off_t)len);
        /* Another body, so the original's validators do not hold. */
        apr_table_unset(r->headers_out, "ETag");
        apr_table_unset(r->headers_out, "Content-MD5");
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    return hmb_pass_on(f, bb);
}

static hmb_ledger_t *hmb_acquire_ledger(request_rec *r)
{
    ap_dbd_t *dbd;
    hmb_ledger_t *l;
    const char *err;

    if (!hmb_dbd_acquire) {
        return NULL;
    }
    dbd = hmb_dbd_acquire(r);
    if (!dbd) {
        return NULL;
    }
    l = hmb_ledger_wrap(r->pool, dbd->driver, dbd->handle, dbd->prepared,
                        dbd->pool);
    /* A ledger left by an older build is migrated by the first connection
     * that meets it, as hmbctl's would be; after that this is a flag kept
     * with the connection. Without it, statements written for the new
     * schema would fail on the old one until an operator ran hmbctl. */
    if ((err = hmb_ledger_ensure_schema(l, r->pool)) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00316)
                      "ledger unavailable: %s",
                      ap_escape_logitem(r->pool, err));
        return NULL;
    }
    return l;
}

static apr_status_t hmb_settle(ap_filter_t *f, hmb_req_ctx_t *ctx)
{
    request_rec *r = f->r;
    hmb_srv_conf_t *sconf = ap_get_module_config(r->server->module_config,
                                                 &huiminbao_module);
    hmb_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config,
                                                 &huiminbao_module);
    hmb_counters_t *c = hmb_counters();
    hmb_settle_ctx_t sc;
    hmb_settle_result_t *res;
    const char *req = NULL;
    apr_size_t req_len = 0;
    char *buf;
    apr_size_t len;
    apr_time_t t0, us;
    apr_status_t rv;
    const char *err, *path;

    rv = apr_brigade_pflatten(ctx->bb, &buf, &len, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, HMBLOGNO(00304)
                      "response passed untouched: cannot read it back");
        return hmb_send(f, ctx, NULL, 0);
    }
    if (len == 0) {
        return hmb_send(f, ctx, NULL, 0);
    }

    /* Without the envelope the transaction is unknown: a cancellation
     * could be taken for a settlement, so nothing is guessed here. */
    if (!ctx->req_eos || ctx->req_overflow || !ctx->req_len) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00305)
                      "response passed untouched: no complete request "
                      "envelope captured (%" APR_SIZE_T_FMT " bytes%s%s)",
                      ctx->req_len, ctx->req_eos ? "" : ", not read to the "
                      "end", ctx->req_overflow ? ", over HuiminbaoMaxRequest"
                                               : "");
        apr_table_setn(r->subprocess_env, "HUIMINBAO_STAS", "pass");
        if (c) {
            hmb_count(&c->messages);
            hmb_count(&c->passed);
            hmb_count(&c->pass_errors);
        }
        return hmb_send(f, ctx, NULL, 0);
    }
    req = ctx->req_buf;
    req_len = ctx->req_len;

    memset(&sc, 0, sizeof(sc));
    sc.plans = sconf->plans ? sconf->plans
                            : apr_array_make(r->pool, 1,
                                             sizeof(hmb_plan_t *));
    sc.ledger = hmb_acquire_ledger(r);
    if (!sc.ledger && c) {
        hmb_count(&c->no_ledger);
    }
    if (dconf->fund_pay_type) {
        sc.fund_pay_type = dconf->fund_pay_type;
        sc.fund_pay_type_name = dconf->fund_pay_type_name;
    }
    sc.strict = dconf->strict == 1;

    t0 = apr_time_now();
    res = hmb_settle_message(r->pool, &sc, req, req_len, buf, len);
    us = apr_time_now() - t0;

    if (!res) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00306)
                      "response passed untouched: the core gave no result");
        if (c) {
            hmb_count(&c->pass_errors);
        }
        return hmb_send(f, ctx, NULL, 0);
    }

    switch (res->outcome) {
    case HMB_OUT_SPLICED:
        if (!res->out || !res->out_len) {
            break;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00307)
                      "spliced %s", hmb_decision_fields(r, res, 1, us));
        hmb_account(r, res, 1, us);
        if (c) {
            hmb_count(&c->spliced);
        }
        return hmb_send(f, ctx, res->out, res->out_len);

    case HMB_OUT_DEFERRED:
        if (!res->out || !res->out_len) {
            break;
        }
        err = hmb_spool_write(r->pool, sconf->spool_dir ? sconf->spool_dir
                                                        : HMB_DEFAULT_SPOOL_DIR,
                              req, req_len, buf, len, &path);
        if (err) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00308)
                          "deferred, but the spool failed, so the response "
                          "went untouched and this message must be "
                          "settled by hand: %s; %s",
                          ap_escape_logitem(r->pool, err),
                          hmb_decision_fields(r, res, 0, us));
            hmb_account(r, res, 0, us);
            if (c) {
                hmb_count(&c->spool_failures);
            }
            return hmb_send(f, ctx, NULL, 0);
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00309)
                      "deferred to %s: %s", ap_escape_logitem(r->pool, path),
                      hmb_decision_fields(r, res, 1, us));
        hmb_account(r, res, 1, us);
        if (c) {
            hmb_count(&c->deferred);
        }
        return hmb_send(f, ctx, res->out, res->out_len);

    case HMB_OUT_PASS:
        if (res->is_error) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00310)
                          "passed untouched, bad message: %s",
                          hmb_decision_fields(r, res, 0, us));
            if (c) {
                hmb_count(&c->pass_errors);
            }
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00311)
                          "passed untouched: %s",
                          hmb_decision_fields(r, res, 0, us));
        }
        hmb_account(r, res, 0, us);
        if (c) {
            hmb_count(&c->passed);
        }
        return hmb_send(f, ctx, NULL, 0);
    }

    /* An outcome without a body, or one this module does not know. */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00312)
                  "passed untouched: outcome %d came without a body: %s",
                  (int)res->outcome, hmb_decision_fields(r, res, 0, us));
    hmb_account(r, res, 0, us);
    if (c) {
        hmb_count(&c->pass_errors);
    }
    return hmb_send(f, ctx, NULL, 0);
}

apr_status_t hmb_output_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    hmb_req_ctx_t *ctx = f->ctx;
    apr_bucket *e, *next;
    apr_status_t rv;

    if (!ctx) {
        /* Added by SetOutputFilter rather than by "Huiminbao On": no
         * request capture, but the response can still be settled. */
        f->ctx = ctx = hmb_req_ctx(r);
    }
    if (ctx->seen_eos) {
        /* Nothing after EOS. */
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (!ctx->decided && !hmb_decide(f, ctx, bb, &rv)) {
        return rv;
    }

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = next) {
        next = APR_BUCKET_NEXT(e);

        if (APR_BUCKET_IS_METADATA(e)) {
            if (APR_BUCKET_IS_EOS(e)) {
                ctx->seen_eos = 1;
                while (next != APR_BRIGADE_SENTINEL(bb)) {
                    apr_bucket *extra = next;
                    next = APR_BUCKET_NEXT(next);
                    apr_bucket_delete(extra);
                }
                apr_bucket_delete(e);
                break;
            }
            if (APR_BUCKET_IS_FLUSH(e)) {
                /* Held: the whole body goes at EOS, and a flush now would
                 * send the headers before the length is known. */
                apr_bucket_delete(e);
                continue;
            }
            if (AP_BUCKET_IS_ERROR(e)) {
                hmb_counters_t *c = hmb_counters();

                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              HMBLOGNO(00313) "upstream reported an error "
                              "after %" APR_OFF_T_FMT " bytes; response "
                              "passed on untouched", ctx->resp_len);
                if (c) {
                    hmb_count(&c->aborted);
                }
                return hmb_give_up(f, ctx, bb);
            }
            continue;
        }

        if (e->length == (apr_size_t)-1) {
            const char *data;
            apr_size_t n;

            /* We hold everything until EOS anyway, so nothing could be
             * sent while waiting: a blocking read costs no latency. */
            rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r,
                              HMBLOGNO(00314) "cannot read the response; "
                              "passed on untouched");
                return hmb_give_up(f, ctx, bb);
            }
        }
        ctx->resp_len += (apr_off_t)e->length;
        if (ctx->resp_len > ctx->resp_max) {
            hmb_counters_t *c = hmb_counters();

            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00315)
                          "response passed untouched: longer than "
                          "HuiminbaoMaxBody (%" APR_OFF_T_FMT " bytes)",
                          ctx->resp_max);
            if (c) {
                hmb_count(&c->too_large);
            }
            return hmb_give_up(f, ctx, bb);
        }
    }

    if (!ctx->seen_eos) {
        return APR_BRIGADE_EMPTY(bb) ? APR_SUCCESS
                                     : ap_save_brigade(f, &ctx->bb, &bb,
                                                       r->pool);
    }
    /* EOS: the caller's buckets are still valid during this call, and
     * they are flattened or passed before it returns. */
    APR_BRIGADE_CONCAT(ctx->bb, bb);
    return hmb_settle(f, ctx);
}
