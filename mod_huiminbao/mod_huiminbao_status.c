/* mod_huiminbao: the counters every child adds to, and what they show:
 * the huiminbao-status handler (text, or "?auto" for machines) and a
 * section in mod_status. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <mod_status.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"
#include "hmb_dashboard.h"
#include "hmb_ledger.h"
#include "hmb_money.h"
#include "hmb_plan.h"
#include "hmb_rollup.h"
#include "hmb_util.h"
#include "hmb_spool.h"

APLOG_USE_MODULE(huiminbao);

/* Per process: where the shared counters are mapped. Set in post_config
 * before the children are forked, so they inherit the mapping. */
static hmb_counters_t *hmb_shared;

#define HMB_COUNTERS_KEY   "mod_huiminbao-counters"
#define HMB_COUNTERS_MAGIC (APR_UINT64_C(0x484d4243) << 32 \
                            | (apr_uint64_t)sizeof(hmb_counters_t))

hmb_counters_t *hmb_counters(void)
{
    return hmb_shared;
}

void hmb_count(apr_uint64_t *counter)
{
    apr_atomic_inc64(counter);
}

void hmb_count_max(apr_uint64_t *max, apr_uint64_t v)
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

/* The counters live in the parent's process pool, not pconf: they then
 * survive graceful restarts, like the scoreboard does. A layout change
 * (a new module build) gets a fresh segment. */
void hmb_counters_setup(server_rec *s)
{
    apr_pool_t *proc = s->process->pool;
    apr_shm_t *shm = NULL;
    hmb_counters_t *c;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&shm, HMB_COUNTERS_KEY, proc);
    if (shm) {
        c = apr_shm_baseaddr_get(shm);
        if (apr_shm_size_get(shm) >= sizeof(*c)
            && c->magic == HMB_COUNTERS_MAGIC) {
            hmb_shared = c;
            return;
        }
    }
    rv = apr_shm_create(&shm, sizeof(*c), NULL, proc);
    if (APR_STATUS_IS_ENOTIMPL(rv)) {
        const char *fname = ap_runtime_dir_relative(proc,
                                                    "huiminbao-counters");

        apr_shm_remove(fname, proc);
        rv = apr_shm_create(&shm, sizeof(*c), fname, proc);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, HMBLOGNO(00101)
                     "no shared memory for the counters; huiminbao-status "
                     "will show none");
        hmb_shared = NULL;
        return;
    }
    c = apr_shm_baseaddr_get(shm);
    memset(c, 0, sizeof(*c));
    c->magic = HMB_COUNTERS_MAGIC;
    c->started = (apr_uint64_t)apr_time_now();
    apr_pool_userdata_set(shm, HMB_COUNTERS_KEY, apr_pool_cleanup_null, proc);
    hmb_shared = c;
}

/* The values shown: key (?auto), label (for people), value. */
static void hmb_stat(apr_array_header_t *a, const char *key,
                     const char *label, const char *value)
{
    hmb_dash_kv_t *st = apr_array_push(a);

    st->key = key;
    st->label = label;
    st->value = value;
}

/* A counter: also in counters, the list the dashboard shows as
 * monotonic counters (NULL: none kept). */
static void hmb_stat_n(apr_array_header_t *a, apr_array_header_t *counters,
                       apr_pool_t *p, const char *key, const char *label,
                       apr_uint64_t *counter)
{
    hmb_stat(a, key, label, apr_psprintf(p, "%" APR_UINT64_T_FMT,
                                         apr_atomic_read64(counter)));
    if (counters) {
        *(hmb_dash_kv_t *)apr_array_push(counters) =
            APR_ARRAY_IDX(a, a->nelts - 1, hmb_dash_kv_t);
    }
}

void hmb_status_ledger(int ok, const char *error)
{
    hmb_counters_t *c = hmb_shared;

    if (!c) {
        return;
    }
    if (ok) {
        apr_atomic_set64(&c->ledger_ok_at, (apr_uint64_t)apr_time_now());
        return;
    }
    apr_cpystrn(c->ledger_error, error ? error : "unknown",
                sizeof(c->ledger_error));
    apr_atomic_set64(&c->ledger_bad_at, (apr_uint64_t)apr_time_now());
}

/* "ok", or the last failure when it is newer than the last success. */
static const char *hmb_ledger_state(request_rec *r)
{
    hmb_counters_t *c = hmb_shared;
    apr_uint64_t ok, bad;
    char buf[sizeof(c->ledger_error)];

    if (!c) {
        return "unknown";
    }
    ok = apr_atomic_read64(&c->ledger_ok_at);
    bad = apr_atomic_read64(&c->ledger_bad_at);
    if (!ok && !bad) {
        return "not checked yet";
    }
    if (ok >= bad) {
        return "ok (writable)";
    }
    apr_cpystrn(buf, c->ledger_error, sizeof(buf));
    return apr_pstrcat(r->pool, "FAILING: ", buf, NULL);
}

static const char *hmb_plans_today(request_rec *r, const hmb_srv_conf_t *sc)
{
    apr_array_header_t *today;
    const char *out = NULL;
    int i;

    if (!sc->plans) {
        return "none";
    }
    today = hmb_plan_candidates(r->pool, sc->plans, hmb_today(r->pool));
    for (i = 0; i < today->nelts; i++) {
        const hmb_plan_t *pl = APR_ARRAY_IDX(today, i, const hmb_plan_t *);

        out = apr_psprintf(r->pool, "%s%s%s %d version %d", out ? out : "",
                           out ? ", " : "", pl->code, pl->year, pl->version);
    }
    return out ? out : "NONE: load this year's plan (HuiminbaoPlan)";
}

/* What the insurer owes patients directly: paid after the desk. */
static void hmb_owed(request_rec *r, apr_array_header_t *a)
{
    hmb_ledger_t *l = hmb_request_ledger(r);
    apr_array_header_t *owed;
    hmb_fen_t sum = 0;
    int i;

    if (!l || hmb_ledger_owed(l, r->pool, NULL, NULL, &owed) != NULL) {
        hmb_stat(a, "Owed", "claims paid after the desk, owed to patients "
                 "(ledger unavailable)", "-1");
        return;
    }
    for (i = 0; i < owed->nelts; i++) {
        sum += APR_ARRAY_IDX(owed, i, hmb_claim_t).hmb_pay;
    }
    hmb_stat(a, "Owed", "claims paid after the desk, owed to patients",
             apr_itoa(r->pool, owed->nelts));
    hmb_stat(a, "OwedTotal", "  their total (yuan)",
             hmb_money_str(r->pool, sum));
}

/* Every value, in ?auto's order; the counters also into *counters (when
 * counters is not NULL; NULL there without shared memory). */
static apr_array_header_t *hmb_status_rows(request_rec *r,
                                           apr_array_header_t **counters)
{
    static const char *const stas_keys[] = {
        "StasPaid", "StasPresettled", "StasReversed", "StasIneligible",
        "StasDeferred", "StasNoClaim"
    };
    apr_array_header_t *a = apr_array_make(r->pool, 32,
                                           sizeof(hmb_dash_kv_t));
    apr_array_header_t *cs = NULL;
    hmb_counters_t *c = hmb_shared;
    hmb_srv_conf_t *sc = hmb_srv_conf(r->server);
    const char *dir = hmb_spool_dir(r->server);
    apr_array_header_t *pending;
    char pay[HMB_MONEY_BUFSZ];
    apr_uint64_t msgs, usec;
    int i;

    hmb_stat(a, "Version", "mod_huiminbao version", HMB_VERSION);
    hmb_stat(a, "SchemaVersion", "ledger schema version this build writes",
             apr_itoa(r->pool, HMB_LEDGER_SCHEMA_VERSION));
    hmb_stat(a, "Plans", "plans loaded for this server",
             apr_itoa(r->pool, sc->plans ? sc->plans->nelts : 0));
    hmb_stat(a, "PlanToday", apr_pstrcat(r->pool, "plans covering today (",
                                         hmb_today(r->pool), ")", NULL),
             hmb_plans_today(r, sc));
    hmb_stat(a, "PlansUntil", "last day a loaded plan covers; later "
             "settlements are deferred (no_plan)",
             sc->plans && hmb_plan_set_until(sc->plans)
             ? hmb_plan_set_until(sc->plans) : "-");
    hmb_stat(a, "Ledger", "ledger (mod_dbd)",
             hmb_filter_find_dbd() ? "mod_dbd" : "none");
    hmb_stat(a, "LedgerState", "ledger as the children found it at "
             "start-up", hmb_ledger_state(r));
    hmb_owed(r, a);
    hmb_stat(a, "SpoolDir", "spool directory", dir);
    if (hmb_spool_list(r->pool, dir, &pending) == NULL) {
        hmb_stat(a, "SpoolPending", "spool entries awaiting replay",
                 apr_itoa(r->pool, pending->nelts));
    }
    else {
        hmb_stat(a, "SpoolPending", "spool entries awaiting replay (spool "
                 "directory unreadable)", "-1");
    }
    if (counters) {
        *counters = NULL;
    }
    if (!c) {
        return a;
    }
    if (counters) {
        cs = *counters = apr_array_make(r->pool, 32, sizeof(hmb_dash_kv_t));
    }

    hmb_stat(a, "CountersSince", "counters since (seconds since epoch)",
             apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                          apr_time_sec((apr_time_t)c->started)));
    hmb_stat_n(a, cs, r->pool, "Messages", "responses settled by the core",
               &c->messages);
    hmb_stat_n(a, cs, r->pool, "Spliced", "  sent with <hmbinfo>", &c->spliced);
    hmb_stat_n(a, cs, r->pool, "Deferred", "  sent with 'deferred', spooled",
               &c->deferred);
    hmb_stat_n(a, cs, r->pool, "Passed", "  passed untouched by the core",
               &c->passed);
    hmb_stat_n(a, cs, r->pool, "PassErrors", "    of these, bad messages",
               &c->pass_errors);
    hmb_stat_n(a, cs, r->pool, "SpoolFailures",
               "  deferred but not spooled: passed, settle by hand",
               &c->spool_failures);
    hmb_stat_n(a, cs, r->pool, "Duplicates", "  duplicates (stored result)",
               &c->duplicates);
    hmb_stat_n(a, cs, r->pool, "NoLedger", "  no ledger connection",
               &c->no_ledger);
    hmb_stat_n(a, cs, r->pool, "Failures",
               "  failed in the core (a bug: see the error log)",
               &c->failures);
    hmb_stat_n(a, cs, r->pool, "Forged",
               "  upstream answers already holding an <hmbinfo>",
               &c->forged);
    hmb_stat_n(a, cs, r->pool, "Conflicts",
               "  setl_id of another person or visit, nothing recorded",
               &c->conflicts);
    for (i = 0; i < HMB_STAS_COUNT; i++) {
        hmb_stat_n(a, cs, r->pool, stas_keys[i],
                   apr_pstrcat(r->pool, "  hmb_stas ",
                               hmb_stas_name((hmb_stas_e)i), NULL),
                   &c->stas[i]);
    }
    hmb_stat(a, "PayTotal", "payout recorded (yuan, net of reversals)",
             apr_pstrdup(r->pool, hmb_money_fmt(pay, (hmb_fen_t)
                                  apr_atomic_read64(&c->pay_fen))));
    hmb_stat_n(a, cs, r->pool, "StoodAside", "responses not candidates",
               &c->stood_aside);
    hmb_stat_n(a, cs, r->pool, "TooLarge", "responses over HuiminbaoMaxBody",
               &c->too_large);
    hmb_stat_n(a, cs, r->pool, "Aborted", "responses broken by the upstream",
               &c->aborted);
    hmb_stat_n(a, cs, r->pool, "RequestOverflow",
               "requests over HuiminbaoMaxRequest", &c->req_overflow);
    msgs = apr_atomic_read64(&c->messages);
    usec = apr_atomic_read64(&c->usec_total);
    hmb_stat(a, "MicrosecondsTotal", "time in the core (us)",
             apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, usec));
    hmb_stat(a, "MicrosecondsMean", "  mean per message (us)",
             apr_psprintf(r->pool, "%" APR_UINT64_T_FMT,
                          msgs ? usec / msgs : 0));
    hmb_stat_n(a, NULL, r->pool, "MicrosecondsMax", "  longest (us)",
               &c->usec_max);
    return a;
}

static void hmb_status_print(request_rec *r, const apr_array_header_t *a,
                             const char *prefix, int people)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        const hmb_dash_kv_t *st = &APR_ARRAY_IDX(a, i, hmb_dash_kv_t);

        if (people) {
            ap_rprintf(r, "%-52s %s\n", st->label, st->value);
        }
        else {
            ap_rprintf(r, "%s%s: %s\n", prefix, st->key, st->value);
        }
    }
}

/* The query of huiminbao-status: format=html|json|prometheus|text, plan,
 * year, day; "auto" alone is ?auto. */
typedef struct {
    const char *format;
    const char *plan;
    int year;
    const char *day;
} hmb_status_query_t;

static const char *hmb_status_query(request_rec *r, hmb_status_query_t *q)
{
    char *args, *tok, *last;

    memset(q, 0, sizeof(*q));
    q->format = "html";
    if (!r->args) {
        return NULL;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (tok = apr_strtok(args, "&", &last); tok;
         tok = apr_strtok(NULL, "&", &last)) {
        char *v = strchr(tok, '=');

        if (v) {
            *v++ = '\0';
            if (ap_unescape_url(v) != OK) {
                return "a value is not URL-encoded";
            }
        }
        if (!strcmp(tok, "auto")) {
            q->format = "auto";
        }
        else if (!strcmp(tok, "format") && v) {
            q->format = v;
        }
        else if (!strcmp(tok, "plan") && v && *v) {
            q->plan = v;
        }
        else if (!strcmp(tok, "year") && v) {
            q->year = atoi(v);
            if (q->year < 1900 || q->year > 9999) {
                return "year is not a year";
            }
        }
        else if (!strcmp(tok, "day") && v) {
            if (!hmb_date_valid(v)) {
                return "day is not YYYY-MM-DD";
            }
            q->day = v;
        }
    }
    if (strcmp(q->format, "html") && strcmp(q->format, "json")
        && strcmp(q->format, "prometheus") && strcmp(q->format, "text")
        && strcmp(q->format, "auto")) {
        return "format is html, json, prometheus or text";
    }
    return NULL;
}

/* The dashboard's figures: the rollups of the plans asked for, and this
 * server's state. NULL, or why the ledger could not give them. */
static const char *hmb_status_dash(request_rec *r,
                                   const hmb_status_query_t *q,
                                   hmb_dash_t *d, hmb_dash_hist_t *hist)
{
    hmb_srv_conf_t *sc = hmb_srv_conf(r->server);
    hmb_counters_t *c = hmb_shared;
    hmb_ledger_t *l;
    const char *err;
    int i;

    memset(d, 0, sizeof(*d));
    d->server = ap_get_server_name(r);
    d->day = q->day ? q->day : hmb_rollup_day_of(r->pool, apr_time_now(),
                                                 hmb_utc_offset(r->server));
    d->state = hmb_status_rows(r, &d->counters);
    if (c) {
        for (i = 0; i < HMB_DASH_BUCKETS; i++) {
            hist->count[i] = apr_atomic_read64(&c->usec_bucket[i]);
        }
        hist->sum_us = apr_atomic_read64(&c->usec_total);
        d->hist = hist;
    }
    d->plans = hmb_dash_plans(r->pool, sc->plans, q->plan, q->year);
    if (!d->plans->nelts) {
        return NULL;
    }
    if (!(l = hmb_request_ledger(r))) {
        err = "no ledger connection";
    }
    else {
        err = hmb_dash_gather(l, r->pool, d);
    }
    if (err) {
        d->plans = apr_array_make(r->pool, 1, sizeof(hmb_dash_plan_t));
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, HMBLOGNO(00330)
                      "dashboard without figures: %s",
                      ap_escape_logitem(r->pool, err));
    }
    return err;
}

int hmb_status_handler(request_rec *r)
{
    hmb_status_query_t q;
    hmb_dash_hist_t hist;
    hmb_dash_t d;
    const char *why, *body;

    if (!r->handler || strcmp(r->handler, HMB_STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((why = hmb_status_query(r, &q))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, HMBLOGNO(00331)
                      "huiminbao-status: %s", why);
        return HTTP_BAD_REQUEST;
    }
    if (!strcmp(q.format, "auto") || !strcmp(q.format, "text")) {
        ap_set_content_type(r, "text/plain; charset=UTF-8");
        if (r->header_only) {
            return OK;
        }
        if (!strcmp(q.format, "text")) {
            ap_rprintf(r, "mod_huiminbao status of %s (all children)\n\n",
                       ap_get_server_name(r));
        }
        hmb_status_print(r, hmb_status_rows(r, NULL), "",
                         !strcmp(q.format, "text"));
        return OK;
    }
    /* never kept by a cache: the figures change with every claim */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!strcmp(q.format, "json")) {
        ap_set_content_type(r, "application/json");
    }
    else if (!strcmp(q.format, "prometheus")) {
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    }
    else {
        ap_set_content_type(r, "text/html; charset=utf-8");
    }
    if (r->header_only) {
        return OK;
    }
    why = hmb_status_dash(r, &q, &d, &hist);
    if (why && strcmp(q.format, "html")) {
        /* a scraper must not take missing figures for zeros */
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (why) {
        hmb_stat(d.state, "Dashboard", "figures of the dashboard",
                 apr_pstrcat(r->pool, "UNAVAILABLE: ", why, NULL));
    }
    body = !strcmp(q.format, "json") ? hmb_dash_json(r->pool, &d)
           : !strcmp(q.format, "prometheus") ? hmb_dash_prometheus(r->pool, &d)
           : hmb_dash_html(r->pool, &d);
    ap_rwrite(body, (int)strlen(body), r);
    return OK;
}

int hmb_status_hook(request_rec *r, int flags)
{
    apr_array_header_t *a = hmb_status_rows(r, NULL);
    int i;

    if (flags & AP_STATUS_SHORT) {
        hmb_status_print(r, a, "Huiminbao", 0);
        return OK;
    }
    ap_rputs("<hr />\n<h2>Huiminbao</h2>\n<table>\n", r);
    for (i = 0; i < a->nelts; i++) {
        const hmb_dash_kv_t *st = &APR_ARRAY_IDX(a, i, hmb_dash_kv_t);

        ap_rprintf(r, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n",
                   ap_escape_html(r->pool, st->label),
                   ap_escape_html(r->pool, st->value));
    }
    ap_rputs("</table>\n", r);
    return OK;
}
