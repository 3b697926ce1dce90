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
#include "hmb_util.h"

APLOG_USE_MODULE(huiminbao);

/* Buckets this long are kept as they came; shorter ones are copied
 * together, so that a body sent a byte at a time costs what the bytes
 * cost and not a bucket each. */
#define HMB_KEEP_BUCKET 2048

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *hmb_dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *hmb_dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *hmb_dbd_close;

int hmb_filter_find_dbd(void)
{
    hmb_dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    hmb_dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    hmb_dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    return hmb_dbd_acquire != NULL;
}

hmb_req_ctx_t *hmb_req_ctx(request_rec *r)
{
    hmb_req_ctx_t *ctx = ap_get_module_config(r->request_config,
                                              &huiminbao_module);

    if (!ctx) {
        hmb_dir_conf_t *d = hmb_dir_conf(r);

        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->req_max = hmb_max_request(d);
        ctx->resp_max = hmb_max_body(d);
        ap_set_module_config(r->request_config, &huiminbao_module, ctx);
    }
    return ctx;
}

void hmb_filter_child_ledger(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *sp;

    if (!hmb_dbd_open || !hmb_dbd_close) {
        return;
    }
    for (sp = s; sp; sp = sp->next) {
        hmb_ledger_t *l;
        ap_dbd_t *dbd;
        const char *err, *schema_err;

        if (!hmb_srv_conf(sp)->plans) {
            continue;
        }
        if (!(dbd = hmb_dbd_open(p, sp))) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, HMBLOGNO(00317)
                         "the ledger cannot be reached at start-up: "
                         "settlements will be deferred to the spool until "
                         "it can");
            hmb_status_ledger(0, "cannot be reached (see the error log)");
            continue;
        }
        if (!apr_hash_get(seen, &dbd->handle, sizeof(dbd->handle))) {
            apr_hash_set(seen, apr_pmemdup(p, &dbd->handle,
                                           sizeof(dbd->handle)),
                         sizeof(dbd->handle), "");
            l = hmb_ledger_wrap(p, dbd->driver, dbd->handle, dbd->pool);
            /* A ledger the server cannot write (made by root, a wrong
             * path, missing grants) would defer every settlement: found
             * here, at start-up, not by the patients. */
            schema_err = hmb_ledger_ensure_schema(l, p);
            /* Probed even when the schema step failed: an SQLite ledger in
             * WAL mode (as hmbctl makes them) cannot even be read by a
             * user who may not write it, so that step fails first, and
             * "cannot write" is what the operator has to fix. */
            if ((err = hmb_ledger_probe(l, p)) != NULL) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, HMBLOGNO(00320)
                             "the server's user cannot write the ledger, so "
                             "every settlement will be deferred: %s%s%s%s",
                             err, schema_err ? " (and its schema could not "
                             "be brought up to date: " : "",
                             schema_err ? schema_err : "",
                             schema_err ? ")" : "");
                hmb_status_ledger(0, err);
            }
            else if (schema_err) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, HMBLOGNO(00318)
                             "cannot bring the ledger's schema up to date: "
                             "%s", schema_err);
                hmb_status_ledger(0, schema_err);
            }
            else {
                hmb_ledger_protect(l, p);
                hmb_status_ledger(1, NULL);
            }
        }
        hmb_dbd_close(sp, dbd);
    }
}

/* A settlement message's type: text/xml, application/xml, text/json,
 * application/json, any TYPE/SUBTYPE+xml or +json; parameters ignored.
 * Which of the two a body is, its first byte says (a JSON answer sent
 * as text/xml, as some gateways do, is still read as JSON). */
static int hmb_is_message_type(const char *ct)
{
    static const char *const exact[] = {
        "text/xml", "application/xml", "text/json", "application/json",
        NULL
    };
    apr_size_t n, slash;
    int i;

    if (!ct) {
        return 0;
    }
    n = strcspn(ct, "; \t");
    for (i = 0; exact[i]; i++) {
        if (n == strlen(exact[i]) && strncasecmp(ct, exact[i], n) == 0) {
            return 1;
        }
    }
    slash = strcspn(ct, "/");
    if (slash == 0 || slash + 1 >= n) {
        return 0;
    }
    return (n - slash - 1 > 4 && strncasecmp(ct + n - 4, "+xml", 4) == 0)
           || (n - slash - 1 > 5
               && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* The charset parameter of a Content-Type, NULL without one. */
static const char *hmb_charset(apr_pool_t *p, const char *ct)
{
    const char *s = ct ? ap_strcasestr(ct, "charset=") : NULL;
    apr_size_t n;

    if (!s) {
        return NULL;
    }
    s += 8;
    if (*s == '"') {
        s++;
    }
    n = strcspn(s, "\"; \t");
    return n ? apr_pstrmemdup(p, s, n) : NULL;
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
    hmb_req_ctx_t *ctx = f->ctx;

    if (ctx) {
        ctx->holder = NULL;
    }
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
        || !hmb_is_message_type(r->content_type)) {
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

    /* We may change the body, so the length it had no longer holds; we
     * set it again when the whole body goes on. */
    apr_table_unset(r->headers_out, "Content-Length");
    ctx->bb = apr_brigade_create(r->pool, f->c->bucket_alloc);
    /* the request says which answer this is (a settlement's, or one
     * whose content is remembered); the capture has read it by now when
     * the handler is a proxy */
    ctx->reader = hmb_settle_reader(r->pool,
                                    ctx->req_eos ? ctx->req_buf : NULL,
                                    ctx->req_len,
                                    hmb_charset(r->pool,
                                                apr_table_get(r->headers_in,
                                                              "Content-Type")),
                                    hmb_charset(r->pool, r->content_type));
    ctx->holder = f;
    return 1;
}

/* Stop collecting: what is held goes first, then the rest, untouched. */
static apr_status_t hmb_give_up(ap_filter_t *f, hmb_req_ctx_t *ctx,
                                apr_bucket_brigade *bb)
{
    APR_BRIGADE_PREPEND(bb, ctx->bb);
    return hmb_pass_on(f, bb);
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
    const char *rea = ours ? hmb_rea_name(res->rea) : NULL;

    return apr_psprintf(r->pool, "tx=%s setl_id=%s fixmedins_code=%s "
                        "psn_no=%s hmb_stas=%s hmb_pay=%s hmb_setl_id=%s%s%s "
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
                        rea ? " rea_code=" : "", rea ? rea : "",
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
    if (ours && !res->duplicate && (int)res->stas >= 0
        && res->stas < HMB_STAS_COUNT) {
        hmb_count(&c->stas[res->stas]);
    }
    /* A repeat was counted the first time: money moves only on a new
     * settlement or reversal. */
    if (ours && !res->duplicate
        && (res->stas == HMB_STAS_PAID || res->stas == HMB_STAS_REVERSED)) {
        apr_atomic_add64(&c->pay_fen, (apr_uint64_t)res->hmb_pay);
    }
    if (res->duplicate) {
        hmb_count(&c->duplicates);
    }
    apr_atomic_add64(&c->usec_total, (apr_uint64_t)us);
    hmb_count_max(&c->usec_max, (apr_uint64_t)us);
    hmb_count(&c->usec_bucket[hmb_dash_bucket((apr_uint64_t)us)]);
}

/* The whole body and EOS in one brigade: the upstream's bytes as
 * collected, with the result's insert (when not NULL) put in at the
 * splice point, and a JSON fund line at its own point before it. Only
 * the buckets holding those points are split; nothing is copied. */
static apr_status_t hmb_send(ap_filter_t *f, hmb_req_ctx_t *ctx,
                             const hmb_settle_result_t *res)
{
    request_rec *r = f->r;
    apr_bucket_brigade *bb = ctx->bb;
    apr_bucket_alloc_t *ba = f->c->bucket_alloc;
    const char *insert = res ? res->insert : NULL;
    const char *fund = insert ? res->fund_insert : NULL;

    if (insert) {
        apr_size_t n = strlen(insert), nf = fund ? strlen(fund) : 0;
        apr_size_t at = res->splice_at;
        apr_bucket *after, *fund_after = NULL, *b;

        /* the later point first: splitting there moves no earlier
         * offset */
        if (apr_brigade_partition(bb, (apr_off_t)at, &after) != APR_SUCCESS
            || (fund && (res->fund_at > at
                         || apr_brigade_partition(bb,
                                                  (apr_off_t)res->fund_at,
                                                  &fund_after)
                            != APR_SUCCESS))) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00319)
                          "response passed untouched: the splice point %"
                          APR_SIZE_T_FMT " is not inside the body", at);
            insert = NULL;
        }
        else {
            b = apr_bucket_pool_create(insert, n, r->pool, ba);
            APR_BUCKET_INSERT_BEFORE(after, b);
            if (fund) {
                b = apr_bucket_pool_create(fund, nf, r->pool, ba);
                APR_BUCKET_INSERT_BEFORE(fund_after, b);
            }
            ap_set_content_length(r, ctx->resp_len + (apr_off_t)(n + nf));
            /* Another body, so the original's validators do not hold. */
            apr_table_unset(r->headers_out, "ETag");
            apr_table_unset(r->headers_out, "Content-MD5");
        }
    }
    if (!insert) {
        ap_set_content_length(r, ctx->resp_len);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    return hmb_pass_on(f, bb);
}

hmb_ledger_t *hmb_request_ledger(request_rec *r)
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
    l = hmb_ledger_wrap(r->pool, dbd->driver, dbd->handle, dbd->pool);
    l->utc_offset_min = hmb_utc_offset(r->server);
    /* Created and migrated at child start (or by hmbctl migrate), never
     * here; a ledger that is not what this build writes is checked once
     * per connection, so that nothing is written to the wrong schema. */
    if ((err = hmb_ledger_check_schema(l, r->pool)) != NULL) {
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
    hmb_srv_conf_t *sconf = hmb_srv_conf(r->server);
    hmb_dir_conf_t *dconf = hmb_dir_conf(r);
    hmb_counters_t *c = hmb_counters();
    hmb_settle_ctx_t sc;
    hmb_settle_result_t *res;
    char *buf = NULL;
    apr_size_t len = 0;
    apr_time_t t0, us;
    apr_status_t rv;
    const char *err, *path;

    if (ctx->resp_len == 0) {
        return hmb_send(f, ctx, NULL);
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
        return hmb_send(f, ctx, NULL);
    }

    memset(&sc, 0, sizeof(sc));
    sc.plans = sconf->plans ? sconf->plans
                            : apr_array_make(r->pool, 1,
                                             sizeof(hmb_plan_t *));
    sc.ledger = hmb_request_ledger(r);
    if (!sc.ledger && c) {
        hmb_count(&c->no_ledger);
    }
    sc.req_charset = hmb_charset(r->pool, apr_table_get(r->headers_in,
                                                        "Content-Type"));
    sc.signed_rewrite = dconf->signed_rewrite == 1;
    sc.memo_keep_days = dconf->memo_keep > 0 ? dconf->memo_keep : 0;
    if (dconf->fund_pay_type) {
        sc.fund_pay_type = dconf->fund_pay_type;
        sc.fund_pay_type_name = dconf->fund_pay_type_name;
    }
    if (dconf->strict == 1 && sconf->schema) {
        /* strict mode validates a document: the one slow path that needs
         * the body in one piece */
        sc.schema = sconf->schema;
        rv = apr_brigade_pflatten(ctx->bb, &buf, &len, r->pool);
        if (rv != APR_SUCCESS) {
            buf = NULL;
        }
    }

    t0 = apr_time_now();
    res = hmb_settle_read(r->pool, &sc, ctx->req_buf, ctx->req_len,
                          ctx->reader, buf, len);
    us = apr_time_now() - t0 + ctx->busy;

    switch (res->outcome) {
    case HMB_OUT_SPLICED:
        if (res->rea == HMB_REA_SETL_ID_CONFLICT
            || res->rea == HMB_REA_CANCEL_MISMATCH) {
            /* someone else's setl_id: nothing paid or reversed, but
             * someone must look at why */
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00321)
                          "identity conflict, nothing recorded: %s",
                          hmb_decision_fields(r, res, 1, us));
            if (c) {
                hmb_count(&c->conflicts);
            }
        }
        else if (res->withheld) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00323)
                          "recorded, answer left untouched (signed by the "
                          "platform, HuiminbaoSigned Pass): %s",
                          hmb_decision_fields(r, res, 1, us));
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00307)
                          "spliced %s", hmb_decision_fields(r, res, 1, us));
        }
        hmb_account(r, res, 1, us);
        if (c) {
            hmb_count(&c->spliced);
        }
        return hmb_send(f, ctx, res);

    case HMB_OUT_DEFERRED:
        if (!buf) {
            rv = apr_brigade_pflatten(ctx->bb, &buf, &len, r->pool);
            err = rv == APR_SUCCESS ? NULL : "cannot read the body back";
        }
        else {
            err = NULL;
        }
        if (!err) {
            err = hmb_spool_write(r->pool, hmb_spool_dir(r->server),
                                  ctx->req_buf, ctx->req_len, buf, len,
                                  sc.req_charset,
                                  hmb_charset(r->pool, r->content_type),
                                  &path);
        }
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
            return hmb_send(f, ctx, NULL);
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00309)
                      "deferred to %s: %s", ap_escape_logitem(r->pool, path),
                      hmb_decision_fields(r, res, 1, us));
        hmb_account(r, res, 1, us);
        if (c) {
            hmb_count(&c->deferred);
        }
        return hmb_send(f, ctx, res);

    case HMB_OUT_PASS:
        if (res->forged) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00322)
                          "passed untouched, nothing recorded: the "
                          "upstream's answer already holds an <hmbinfo>: "
                          "%s", hmb_decision_fields(r, res, 0, us));
            if (c) {
                hmb_count(&c->forged);
                hmb_count(&c->pass_errors);
            }
        }
        else if (res->is_error) {
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
        return hmb_send(f, ctx, NULL);

    case HMB_OUT_FAILED:
        break;
    }

    /* Not the input, not the ledger being away: something this module
     * got wrong, or a ledger holding what this build cannot read. Said
     * loudly, and never spooled, where it would only fail again. */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, HMBLOGNO(00312)
                  "passed untouched: the settlement failed: %s",
                  hmb_decision_fields(r, res, 0, us));
    hmb_account(r, res, 0, us);
    if (c) {
        hmb_count(&c->failures);
    }
    return hmb_send(f, ctx, NULL);
}

/* Bytes appended to the brigade's last heap bucket while it has room,
 * else to a new one of APR_BUCKET_BUFF_SIZE. (apr_brigade_write does so
 * only until its first buffer is full; after that it makes a bucket per
 * write, which for a body sent a byte at a time is a bucket per byte.) */
static void hmb_brigade_append(apr_bucket_brigade *bb, const char *data,
                               apr_size_t n)
{
    while (n) {
        apr_bucket *e = APR_BRIGADE_LAST(bb);
        apr_size_t room = 0, k;
        char *buf = NULL;

        if (!APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_HEAP(e)
            && ((apr_bucket_heap *)e->data)->refcount.refcount == 1) {
            apr_bucket_heap *h = e->data;

            room = h->alloc_len - (e->length + (apr_size_t)e->start);
            buf = h->base + e->start + e->length;
        }
        if (!room) {
            buf = apr_bucket_alloc(APR_BUCKET_BUFF_SIZE, bb->bucket_alloc);
            e = apr_bucket_heap_create(buf, APR_BUCKET_BUFF_SIZE,
                                       apr_bucket_free, bb->bucket_alloc);
            e->length = 0;
            APR_BRIGADE_INSERT_TAIL(bb, e);
            room = APR_BUCKET_BUFF_SIZE;
        }
        k = n < room ? n : room;
        memcpy(buf, data, k);
        e->length += k;
        data += k;
        n -= k;
    }
}

/* Keep a data bucket's bytes for later and hand them to the reader. */
static apr_status_t hmb_collect(ap_filter_t *f, hmb_req_ctx_t *ctx,
                                apr_bucket *e)
{
    const char *data;
    apr_size_t n;
    apr_time_t t0;
    apr_status_t rv;

    /* We hold everything until EOS anyway, so nothing could be sent
     * while waiting: a blocking read costs no latency. */
    rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    t0 = apr_time_now();
    hmb_msg_feed(ctx->reader, data, n);
    ctx->busy += apr_time_now() - t0;
    ctx->resp_len += (apr_off_t)n;
    if (n >= HMB_KEEP_BUCKET) {
        rv = apr_bucket_setaside(e, f->r->pool);
        if (rv == APR_SUCCESS) {
            APR_BUCKET_REMOVE(e);
            APR_BRIGADE_INSERT_TAIL(ctx->bb, e);
            return APR_SUCCESS;
        }
    }
    hmb_brigade_append(ctx->bb, data, n);
    apr_bucket_delete(e);
    return APR_SUCCESS;
}

apr_status_t hmb_output_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    hmb_req_ctx_t *ctx = f->ctx;
    apr_bucket *e, *next;
    apr_status_t rv;

    if (!ctx) {
        /* Added some other way than by "Huiminbao On" (SetOutputFilter):
         * there is no request capture then, so the response will pass
         * untouched for want of an envelope. */
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
                /* nothing after EOS, and EOS itself goes last */
                apr_brigade_cleanup(bb);
                return hmb_settle(f, ctx);
            }
            if (APR_BUCKET_IS_FLUSH(e)) {
                /* Held: the whole body goes at EOS, and a flush now would
                 * send the headers before the length is known. */
                apr_bucket_delete(e);
                continue;
            }
            if (AP_BUCKET_IS_ERROR(e)) {
                hmb_counters_t *c = hmb_counters();

                /* Nothing has gone on yet, so httpd's HTTP_HEADER filter
                 * answers the error's status in place of the body. */
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              HMBLOGNO(00313) "upstream broke off the "
                              "response after %" APR_OFF_T_FMT " bytes: "
                              "the client is answered HTTP %d, not the "
                              "partial body; nothing is recorded",
                              ctx->resp_len,
                              ((ap_bucket_error *)e->data)->status);
                if (c) {
                    hmb_count(&c->aborted);
                }
                return hmb_give_up(f, ctx, bb);
            }
            APR_BUCKET_REMOVE(e);
            APR_BRIGADE_INSERT_TAIL(ctx->bb, e);
            continue;
        }
        if ((rv = hmb_collect(f, ctx, e)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, HMBLOGNO(00314)
                          "cannot read the response; passed on untouched");
            return hmb_give_up(f, ctx, bb);
        }
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
    return APR_SUCCESS;
}

/* HUIMINBAO_GUARD: just before the filters between the handler and us
 * (INFLATE). One of those that fails while we hold the body back, as
 * mod_deflate does on a gzip bomb, never sends EOS on: the client would
 * get no status at all. The held body is dropped and the client is
 * answered 502, as mod_proxy does for an upstream that breaks off. */
apr_status_t hmb_guard_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    hmb_req_ctx_t *ctx = f->ctx;
    apr_bucket_alloc_t *ba = f->c->bucket_alloc;
    apr_bucket_brigade *err;
    apr_status_t rv = ap_pass_brigade(f->next, bb);
    ap_filter_t *holder;
    hmb_counters_t *c;

    if (rv == APR_SUCCESS || rv == AP_FILTER_ERROR || !ctx
        || !(holder = ctx->holder)) {
        return rv;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, HMBLOGNO(00324)
                  "a filter before HUIMINBAO failed after %" APR_OFF_T_FMT
                  " bytes of the response: the client is answered HTTP 502, "
                  "not the partial body; nothing is recorded",
                  ctx->resp_len);
    if ((c = hmb_counters()) != NULL) {
        hmb_count(&c->aborted);
    }
    apr_brigade_cleanup(ctx->bb);
    ctx->seen_eos = 1;
    err = apr_brigade_create(r->pool, ba);
    APR_BRIGADE_INSERT_TAIL(err, ap_bucket_error_create(HTTP_BAD_GATEWAY,
                                                        NULL, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(err, apr_bucket_eos_create(ba));
    hmb_pass_on(holder, err);
    return AP_FILTER_ERROR;
}
