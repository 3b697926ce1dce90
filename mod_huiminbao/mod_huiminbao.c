/* mod_huiminbao: Huiminbao (惠民保) payouts computed inline in settlement
 * responses. This file is the httpd glue only: configuration, hooks, the
 * huiminbao-status handler and the counters behind it. The filters are in
 * hmb_filter.c and hmb_capture.c; everything that knows about money,
 * plans and the ledger is in the core (include/hmb_*.h), which knows
 * nothing about httpd. */
#include <unistd.h>
#include <sys/types.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <mod_status.h>
#include <unixd.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_optional_hooks.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"
#include "hmb_message.h"
#include "hmb_money.h"
#include "hmb_plan.h"
#include "hmb_spool.h"
#include "hmb_xml.h"

APLOG_USE_MODULE(huiminbao);

/* Per process: where the shared counters are mapped. Set in post_config
 * before the children are forked, so they inherit the mapping. */
static hmb_counters_t *hmb_shared;

#define HMB_COUNTERS_KEY   "mod_huiminbao-counters"
#define HMB_COUNTERS_MAGIC (APR_UINT64_C(0x484d4243) << 32 \
                            | (apr_uint64_t)sizeof(hmb_counters_t))

/* ---------------------------------------------------------------- */
/* Helpers shared with the filters                                   */

hmb_counters_t *hmb_counters(void)
{
    return hmb_shared;
}

void hmb_count(apr_uint64_t *counter)
{
    apr_atomic_inc64(counter);
}

const char *hmb_mask_psn(apr_pool_t *p, const char *psn_no)
{
    apr_size_t n, i;
    char *m;

    if (!psn_no || !*psn_no) {
        return "-";
    }
    n = strlen(psn_no);
    m = apr_pstrmemdup(p, psn_no, n);
    for (i = 0; i < n; i++) {
        if (n <= 6 || (i >= 4 && i < n - 2)) {
            m[i] = '*';
        }
    }
    return m;
}

static apr_off_t hmb_max_body(const hmb_dir_conf_t *d)
{
    return d->max_body == HMB_UNSET ? HMB_DEFAULT_MAX_BODY : d->max_body;
}

static apr_off_t hmb_max_request(const hmb_dir_conf_t *d)
{
    return d->max_request == HMB_UNSET ? HMB_DEFAULT_MAX_REQUEST
                                       : d->max_request;
}

hmb_req_ctx_t *hmb_req_ctx(request_rec *r)
{
    hmb_req_ctx_t *ctx = ap_get_module_config(r->request_config,
                                              &huiminbao_module);

    if (!ctx) {
        hmb_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                 &huiminbao_module);

        ctx = apr_pcalloc(r->pool, sizeof(*ctx));
        ctx->req_max = hmb_max_request(d);
        ctx->resp_max = hmb_max_body(d);
        ap_set_module_config(r->request_config, &huiminbao_module, ctx);
    }
    return ctx;
}

static const char *hmb_spool_dir(const server_rec *s)
{
    const hmb_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                                    &huiminbao_module);

    return sc->spool_dir ? sc->spool_dir : HMB_DEFAULT_SPOOL_DIR;
}

/* ---------------------------------------------------------------- */
/* Configuration                                                     */

static void *hmb_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    return apr_pcalloc(p, sizeof(hmb_srv_conf_t));
}

static void *hmb_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    hmb_srv_conf_t *base = basev;
    hmb_srv_conf_t *add = addv;
    hmb_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    /* A virtual host with plans of its own prices by those alone: two
     * cities behind one server must not see each other's plans. */
    conf->plans = add->plans ? add->plans : base->plans;
    conf->spool_dir = add->spool_dir ? add->spool_dir : base->spool_dir;
    return conf;
}

static void *hmb_create_dir_conf(apr_pool_t *p, char *dir)
{
    hmb_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = HMB_UNSET;
    d->max_body = HMB_UNSET;
    d->max_request = HMB_UNSET;
    d->strict = HMB_UNSET;
    return d;
}

static void *hmb_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    hmb_dir_conf_t *base = basev;
    hmb_dir_conf_t *add = addv;
    hmb_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = add->enabled != HMB_UNSET ? add->enabled : base->enabled;
    d->max_body = add->max_body != HMB_UNSET ? add->max_body
                                              : base->max_body;
    d->max_request = add->max_request != HMB_UNSET ? add->max_request
                                                    : base->max_request;
    d->strict = add->strict != HMB_UNSET ? add->strict : base->strict;
    if (add->fund_set) {
        d->fund_set = 1;
        d->fund_pay_type = add->fund_pay_type;
        d->fund_pay_type_name = add->fund_pay_type_name;
    }
    else {
        d->fund_set = base->fund_set;
        d->fund_pay_type = base->fund_pay_type;
        d->fund_pay_type_name = base->fund_pay_type_name;
    }
    return d;
}

static const char *hmb_cmd_plan(cmd_parms *cmd, void *dummy, const char *arg)
{
    hmb_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                              &huiminbao_module);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    hmb_plan_t *plan;
    const char *err;

    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ",
                           arg, NULL);
    }
    /* Loading parses XML and schemas here, at configuration time. */
    hmb_xml_init();
    err = hmb_plan_load(cmd->pool, path, &plan);
    if (err) {
        return err;
    }
    if (!sc->plans) {
        sc->plans = apr_array_make(cmd->pool, 4, sizeof(hmb_plan_t *));
    }
    APR_ARRAY_PUSH(sc->plans, hmb_plan_t *) = plan;

    /* Checked as each plan joins the set, so that the line that breaks
     * it is the one httpd (and apachectl configtest) points at. A
     * <VirtualHost> with plans uses its own set only, so the last check
     * for each server covers its whole set. */
    return hmb_plan_check_set(cmd->pool, sc->plans);
}

static const char *hmb_cmd_enabled(cmd_parms *cmd, void *conf, int flag)
{
    ((hmb_dir_conf_t *)conf)->enabled = flag;
    return NULL;
}

static const char *hmb_cmd_strict(cmd_parms *cmd, void *conf, int flag)
{
    ((hmb_dir_conf_t *)conf)->strict = flag;
    return NULL;
}

static const char *hmb_parse_bytes(cmd_parms *cmd, const char *arg,
                                   apr_off_t *out)
{
    apr_off_t v;
    char *end;

    if (apr_strtoff(&v, arg, &end, 10) != APR_SUCCESS || end == arg
        || *end || v <= 0) {
        return apr_psprintf(cmd->pool, "%s takes a positive number of "
                            "bytes, not '%s'", cmd->cmd->name, arg);
    }
    if (v > HMB_MESSAGE_MAX_BYTES) {
        return apr_psprintf(cmd->pool, "%s %s: at most %d bytes, the "
                            "largest message the parser accepts",
                            cmd->cmd->name, arg, HMB_MESSAGE_MAX_BYTES);
    }
    *out = v;
    return NULL;
}

static const char *hmb_cmd_max_body(cmd_parms *cmd, void *conf,
                                    const char *arg)
{
    return hmb_parse_bytes(cmd, arg, &((hmb_dir_conf_t *)conf)->max_body);
}

static const char *hmb_cmd_max_request(cmd_parms *cmd, void *conf,
                                       const char *arg)
{
    return hmb_parse_bytes(cmd, arg,
                           &((hmb_dir_conf_t *)conf)->max_request);
}

static const char *hmb_cmd_spool(cmd_parms *cmd, void *dummy,
                                 const char *arg)
{
    hmb_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                              &huiminbao_module);
    const char *path = ap_server_root_relative(cmd->pool, arg);

    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ",
                           arg, NULL);
    }
    sc->spool_dir = path;
    return NULL;
}

/* fund_pay_type goes into the message as element text: keep it to what
 * such codes look like. The name is escaped by the renderer, but control
 * characters have no place on a receipt. */
static const char *hmb_cmd_fund_line(cmd_parms *cmd, void *conf,
                                     const char *type, const char *name)
{
    hmb_dir_conf_t *d = conf;
    const char *s;

    d->fund_set = 1;
    if (!name) {
        if (strcasecmp(type, "Off") == 0) {
            d->fund_pay_type = NULL;
            d->fund_pay_type_name = NULL;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "%s takes FUND_PAY_TYPE \"NAME\", "
                            "or Off", cmd->cmd->name);
    }
    if (!*type || strlen(type) > 32) {
        return apr_psprintf(cmd->pool, "%s: FUND_PAY_TYPE must be 1 to 32 "
                            "characters", cmd->cmd->name);
    }
    for (s = type; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-') {
            return apr_psprintf(cmd->pool, "%s: FUND_PAY_TYPE '%s' may "
                                "hold only letters, digits, '_' and '-'",
                                cmd->cmd->name, type);
        }
    }
    for (s = name; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return apr_psprintf(cmd->pool, "%s: NAME has a control "
                                "character", cmd->cmd->name);
        }
    }
    if (!*name) {
        return apr_psprintf(cmd->pool, "%s: NAME is empty", cmd->cmd->name);
    }
    d->fund_pay_type = type;
    d->fund_pay_type_name = name;
    return NULL;
}

static const command_rec hmb_cmds[] = {
    AP_INIT_TAKE1("HuiminbaoPlan", hmb_cmd_plan, NULL, RSRC_CONF,
                  "A plan file (XML) to price by; repeat for several plans "
                  "or years"),
    AP_INIT_FLAG("Huiminbao", hmb_cmd_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On to settle Huiminbao in the responses of this location"),
    AP_INIT_TAKE1("HuiminbaoMaxBody", hmb_cmd_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest response (bytes) to settle; larger ones pass "
                  "untouched"),
    AP_INIT_TAKE1("HuiminbaoMaxRequest", hmb_cmd_max_request, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest request body (bytes) kept as the envelope"),
    AP_INIT_TAKE1("HuiminbaoSpool", hmb_cmd_spool, NULL, RSRC_CONF,
                  "Directory for messages deferred while the ledger is "
                  "unavailable"),
    AP_INIT_TAKE12("HuiminbaoFundLine", hmb_cmd_fund_line, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "FUND_PAY_TYPE \"NAME\" of a <setldetail> line for the "
                   "payout, or Off"),
    AP_INIT_FLAG("HuiminbaoStrict", hmb_cmd_strict, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "On to validate each message against the settlement "
                 "schema"),
    {NULL}
};

/* ---------------------------------------------------------------- */
/* Start-up                                                          */

/* The counters live in the parent's process pool, not pconf: they then
 * survive graceful restarts, like the scoreboard does. A layout change
 * (a new module build) gets a fresh segment. */
static void hmb_counters_setup(server_rec *s)
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

/* The spool must be writable by the children, which run as User/Group.
 * Create it when it is missing; otherwise only say when it looks wrong:
 * an operator's directory keeps the owner the operator gave it. */
static void hmb_spool_prepare(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_finfo_t fi;
    apr_status_t rv;
    int writable;

    rv = apr_stat(&fi, dir, APR_FINFO_TYPE | APR_FINFO_OWNER
                  | APR_FINFO_PROT, p);
    if (APR_STATUS_IS_ENOENT(rv)) {
        rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                    | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                    | APR_FPROT_GEXECUTE, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, HMBLOGNO(00102)
                         "cannot create spool directory %s: a message that "
                         "cannot be settled at once will pass without its "
                         "Huiminbao result; create it, writable by the "
                         "server's User", dir);
            return;
        }
        if (geteuid() == 0
            && chown(dir, ap_unixd_config.user_id,
                     ap_unixd_config.group_id) != 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                         HMBLOGNO(00103) "created spool directory %s but "
                         "cannot give it to the server's User", dir);
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, HMBLOGNO(00104)
                     "created spool directory %s", dir);
        return;
    }
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, HMBLOGNO(00105)
                     "spool directory %s is not usable", dir);
        return;
    }
    if (fi.filetype != APR_DIR) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, HMBLOGNO(00106)
                     "spool %s is not a directory", dir);
        return;
    }
    if (geteuid() == 0) {
        writable = (fi.user == ap_unixd_config.user_id
                    && (fi.protection & APR_FPROT_UWRITE))
                   || (fi.group == ap_unixd_config.group_id
                       && (fi.protection & APR_FPROT_GWRITE))
                   || (fi.protection & APR_FPROT_WWRITE);
    }
    else {
        writable = access(dir, W_OK | X_OK) == 0;
    }
    if (!writable) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, HMBLOGNO(00107)
                     "spool directory %s does not look writable by the "
                     "server's User: deferred messages would pass without "
                     "their Huiminbao result", dir);
    }
}

static int hmb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *sp;

    /* Once per process, before any thread exists; never cleaned up:
     * other modules in this process use libxml2 too. */
    hmb_xml_init();

    /* The first pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }

    hmb_counters_setup(s);
    if (!hmb_filter_find_dbd()) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, HMBLOGNO(00108)
                     "mod_dbd is not loaded, so there is no ledger: every "
                     "settlement will be deferred to the spool");
    }

    for (sp = s; sp; sp = sp->next) {
        hmb_srv_conf_t *sc = ap_get_module_config(sp->module_config,
                                                  &huiminbao_module);
        const char *dir = hmb_spool_dir(sp);

        if (sc->plans && !apr_hash_get(seen, sc->plans, sizeof(void *))) {
            int i;

            apr_hash_set(seen, sc->plans, sizeof(void *), "");
            for (i = 0; i < sc->plans->nelts; i++) {
                const hmb_plan_t *pl = APR_ARRAY_IDX(sc->plans, i,
                                                     hmb_plan_t *);

                ap_log_error(APLOG_MARK, APLOG_INFO, 0, sp, HMBLOGNO(00109)
                             "plan %s %d version %d (%s to %s) from %s",
                             pl->code, pl->year, pl->version, pl->from,
                             pl->to, pl->path);
            }
        }
        if (!apr_hash_get(seen, dir, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, dir, APR_HASH_KEY_STRING, "");
            hmb_spool_prepare(ptemp, sp, dir);
        }
    }
    return OK;
}

/* ---------------------------------------------------------------- */
/* Request hooks                                                     */

static int hmb_enabled(request_rec *r)
{
    hmb_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                             &huiminbao_module);

    return r->main == NULL && d->enabled == 1;
}

/* A compressed answer from the upstream would pass untouched. Hide the
 * client's Accept-Encoding from it (a proxied upstream then answers in
 * identity encoding); the output filter puts it back for DEFLATE. */
static int hmb_fixups(request_rec *r)
{
    const char *ae;

    if (!hmb_enabled(r)) {
        return DECLINED;
    }
    ae = apr_table_get(r->headers_in, "Accept-Encoding");
    if (ae) {
        apr_table_setn(r->notes, HMB_NOTE_ACCEPT_ENCODING, ae);
        apr_table_unset(r->headers_in, "Accept-Encoding");
    }
    return DECLINED;
}

static void hmb_insert_filter(request_rec *r)
{
    hmb_req_ctx_t *ctx;

    if (!hmb_enabled(r)) {
        return;
    }
    ctx = hmb_req_ctx(r);
    ap_add_input_filter(HMB_CAPTURE_FILTER_NAME, ctx, r, r->connection);
    ap_add_output_filter(HMB_FILTER_NAME, ctx, r, r->connection);
}

/* ---------------------------------------------------------------- */
/* Status: our own handler, and a section in mod_status               */

typedef struct {
    const char *key;                /* ?auto */
    const char *label;              /* for people */
    const char *value;
} hmb_stat_t;

static void hmb_stat(apr_array_header_t *a, const char *key,
                     const char *label, const char *value)
{
    hmb_stat_t *st = apr_array_push(a);

    st->key = key;
    st->label = label;
    st->value = value;
}

static void hmb_stat_n(apr_array_header_t *a, apr_pool_t *p, const char *key,
                       const char *label, apr_uint64_t *counter)
{
    hmb_stat(a, key, label, apr_psprintf(p, "%" APR_UINT64_T_FMT,
                                         apr_atomic_read64(counter)));
}

static apr_array_header_t *hmb_status_rows(request_rec *r)
{
    static const char *const stas_keys[] = {
        "StasPaid", "StasPresettled", "StasReversed", "StasIneligible",
        "StasDeferred", "StasNoClaim"
    };
    apr_array_header_t *a = apr_array_make(r->pool, 32, sizeof(hmb_stat_t));
    hmb_counters_t *c = hmb_shared;
    hmb_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                              &huiminbao_module);
    const char *dir = hmb_spool_dir(r->server);
    apr_array_header_t *pending;
    char pay[HMB_MONEY_BUFSZ];
    apr_uint64_t msgs, usec;
    int i;

    hmb_stat(a, "Plans", "plans loaded for this server",
             apr_itoa(r->pool, sc->plans ? sc->plans->nelts : 0));
    hmb_stat(a, "Ledger", "ledger (mod_dbd)",
             hmb_filter_find_dbd() ? "mod_dbd" : "none");
    hmb_stat(a, "SpoolDir", "spool directory", dir);
    if (hmb_spool_list(r->pool, dir, &pending) == NULL) {
        hmb_stat(a, "SpoolPending", "spool entries awaiting replay",
                 apr_itoa(r->pool, pending->nelts));
    }
    else {
        hmb_stat(a, "SpoolPending", "spool entries awaiting replay (spool "
                 "directory unreadable)", "-1");
    }
    if (!c) {
        return a;
    }

    hmb_stat(a, "CountersSince", "counters since (seconds since epoch)",
             apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                          apr_time_sec((apr_time_t)c->started)));
    hmb_stat_n(a, r->pool, "Messages", "responses settled by the core",
               &c->messages);
    hmb_stat_n(a, r->pool, "Spliced", "  sent with <hmbinfo>", &c->spliced);
    hmb_stat_n(a, r->pool, "Deferred", "  sent with 'deferred', spooled",
               &c->deferred);
    hmb_stat_n(a, r->pool, "Passed", "  passed untouched by the core",
               &c->passed);
    hmb_stat_n(a, r->pool, "PassErrors", "    of these, bad messages",
               &c->pass_errors);
    hmb_stat_n(a, r->pool, "SpoolFailures",
               "  deferred but not spooled: passed, settle by hand",
               &c->spool_failures);
    hmb_stat_n(a, r->pool, "Duplicates", "  duplicates (stored result)",
               &c->duplicates);
    hmb_stat_n(a, r->pool, "NoLedger", "  no ledger connection",
               &c->no_ledger);
    for (i = 0; i <= HMB_STAS_NO_CLAIM; i++) {
        hmb_stat_n(a, r->pool, stas_keys[i],
                   apr_pstrcat(r->pool, "  hmb_stas ",
                               hmb_stas_name((hmb_stas_e)i), NULL),
                   &c->stas[i]);
    }
    hmb_stat(a, "PayTotal", "payout recorded (yuan, net of reversals)",
             apr_pstrdup(r->pool, hmb_money_fmt(pay, (hmb_fen_t)
                                  apr_atomic_read64(&c->pay_fen))));
    hmb_stat_n(a, r->pool, "StoodAside", "responses not candidates",
               &c->stood_aside);
    hmb_stat_n(a, r->pool, "TooLarge", "responses over HuiminbaoMaxBody",
               &c->too_large);
    hmb_stat_n(a, r->pool, "Aborted", "responses broken by the upstream",
               &c->aborted);
    hmb_stat_n(a, r->pool, "RequestOverflow",
               "requests over HuiminbaoMaxRequest", &c->req_overflow);
    msgs = apr_atomic_read64(&c->messages);
    usec = apr_atomic_read64(&c->usec_total);
    hmb_stat(a, "MicrosecondsTotal", "time in the core (us)",
             apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, usec));
    hmb_stat(a, "MicrosecondsMean", "  mean per message (us)",
             apr_psprintf(r->pool, "%" APR_UINT64_T_FMT,
                          msgs ? usec / msgs : 0));
    hmb_stat_n(a, r->pool, "MicrosecondsMax", "  longest (us)",
               &c->usec_max);
    return a;
}

static void hmb_status_print(request_rec *r, const apr_array_header_t *a,
                             const char *prefix, int people)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        const hmb_stat_t *st = &APR_ARRAY_IDX(a, i, hmb_stat_t);

        if (people) {
            ap_rprintf(r, "%-52s %s\n", st->label, st->value);
        }
        else {
            ap_rprintf(r, "%s%s: %s\n", prefix, st->key, st->value);
        }
    }
}

static int hmb_status_handler(request_rec *r)
{
    int machine;

    if (!r->handler || strcmp(r->handler, HMB_STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_set_content_type(r, "text/plain; charset=UTF-8");
    if (r->header_only) {
        return OK;
    }
    machine = r->args && ap_strstr_c(r->args, "auto") != NULL;
    if (!machine) {
        ap_rprintf(r, "mod_huiminbao status of %s (all children)\n\n",
                   ap_get_server_name(r));
    }
    hmb_status_print(r, hmb_status_rows(r), "", !machine);
    return OK;
}

static int hmb_status_hook(request_rec *r, int flags)
{
    apr_array_header_t *a = hmb_status_rows(r);
    int i;

    if (flags & AP_STATUS_SHORT) {
        hmb_status_print(r, a, "Huiminbao", 0);
        return OK;
    }
    ap_rputs("<hr />\n<h2>Huiminbao</h2>\n<table>\n", r);
    for (i = 0; i < a->nelts; i++) {
        const hmb_stat_t *st = &APR_ARRAY_IDX(a, i, hmb_stat_t);

        ap_rprintf(r, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n",
                   ap_escape_html(r->pool, st->label),
                   ap_escape_html(r->pool, st->value));
    }
    ap_rputs("</table>\n", r);
    return OK;
}

/* ---------------------------------------------------------------- */

static void hmb_register_hooks(apr_pool_t *p)
{
    /* RESOURCE: after INFLATE (RESOURCE-1), before DEFLATE
     * (CONTENT_SET), so we see and produce identity bytes. */
    ap_register_output_filter(HMB_FILTER_NAME, hmb_output_filter, NULL,
                              AP_FTYPE_RESOURCE);
    ap_register_input_filter(HMB_CAPTURE_FILTER_NAME, hmb_capture_filter,
                             NULL, AP_FTYPE_RESOURCE);
    ap_hook_post_config(hmb_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(hmb_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_filter(hmb_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hmb_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, hmb_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

/* Declared without AP_DECLARE_MODULE: APLOG_USE_MODULE is at the top,
 * where the log calls above need it. */
module AP_MODULE_DECLARE_DATA huiminbao_module = {
    STANDARD20_MODULE_STUFF,
    hmb_create_dir_conf,
    hmb_merge_dir_conf,
    hmb_create_srv_conf,
    hmb_merge_srv_conf,
    hmb_cmds,
    hmb_register_hooks,
    AP_MODULE_FLAG_NONE
};
