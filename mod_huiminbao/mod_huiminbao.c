/* mod_huiminbao: Huiminbao (惠民保) payouts computed inline in settlement
 * responses. This file holds the hooks and the module record; the
 * directives are in mod_huiminbao_config.c, the filters in
 * mod_huiminbao_filter.c and mod_huiminbao_capture.c, the status page in
 * mod_huiminbao_status.c. Everything that knows about money, plans and
 * the ledger is in the core (include/hmb_*.h), which knows nothing about
 * httpd. */
#include <errno.h>
#include <unistd.h>
#include <sys/types.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_status.h>
#include <unixd.h>
#include <apr_hash.h>
#include <apr_optional_hooks.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"
#include "hmb_ledger.h"
#include "hmb_plan.h"
#include "hmb_spool.h"
#include "hmb_xml.h"

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

/* Huiminbao On where no plan is loaded would answer every settlement
 * "ineligible, outside_period" and store the refusal: no patient should
 * lose a payout to that slip, so the server does not start with it. This
 * hook runs for apachectl configtest too. */
static int hmb_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sp;
    int bad = 0;

    for (sp = s; sp; sp = sp->next) {
        hmb_srv_conf_t *sc = hmb_srv_conf(sp);

        if (sc->enabled_at && (!sc->plans || !sc->plans->nelts)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, sp,
                         HMBLOGNO(00111) "Huiminbao On (%s) but no "
                         "HuiminbaoPlan is loaded for this server: every "
                         "settlement would be refused; add the policy "
                         "year's plan with HuiminbaoPlan", sc->enabled_at);
            bad = 1;
        }
    }
    return bad ? !OK : OK;
}

const char *hmb_today(apr_pool_t *p)
{
    apr_time_exp_t t;

    apr_time_exp_lt(&t, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02d", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday);
}

static int hmb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    hmb_message_schema_t *schema = NULL;
    server_rec *sp;
    const char *err;

    /* Once per process, before any thread exists; never cleaned up:
     * other modules in this process use libxml2 too. */
    hmb_xml_init();

    /* The first pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }

    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, HMBLOGNO(00112)
                 "mod_huiminbao/%s configured (ledger schema %d)",
                 HMB_VERSION, HMB_LEDGER_SCHEMA_VERSION);
    hmb_counters_setup(s);
    /* HuiminbaoStrict's schema, compiled once for this configuration */
    if ((err = hmb_message_schema(pconf, &schema)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, HMBLOGNO(00110)
                     "HuiminbaoStrict cannot work: %s", err);
    }
    if (!hmb_filter_find_dbd()) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, HMBLOGNO(00108)
                     "mod_dbd is not loaded, so there is no ledger: every "
                     "settlement will be deferred to the spool");
    }

    for (sp = s; sp; sp = sp->next) {
        hmb_srv_conf_t *sc = hmb_srv_conf(sp);
        const char *dir = hmb_spool_dir(sp);

        sc->schema = schema;
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
            /* New Year's Day without the new year's plan: say so now,
             * not when the desk asks why payouts wait */
            if (!hmb_plan_candidates(ptemp, sc->plans,
                                     hmb_today(ptemp))->nelts) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp,
                             HMBLOGNO(00113) "no loaded plan covers today "
                             "(%s): settlements dated after %s are "
                             "deferred (no_plan) until the plan for their "
                             "date is loaded with HuiminbaoPlan and "
                             "replayed", hmb_today(ptemp),
                             hmb_plan_set_until(sc->plans));
            }
        }
        if (!apr_hash_get(seen, dir, APR_HASH_KEY_STRING)) {
            int removed = 0;

            apr_hash_set(seen, dir, APR_HASH_KEY_STRING, "");
            hmb_spool_prepare(ptemp, sp, dir);
            /* entries replayed long ago hold personal data nobody needs */
            if ((err = hmb_spool_prune(ptemp, dir, apr_time_from_sec(
                                       (apr_time_t)hmb_spool_keep(sp)
                                       * 86400), &removed)) != NULL) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp,
                             HMBLOGNO(00114) "%s", err);
            }
            else if (removed) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, sp, HMBLOGNO(00115)
                             "deleted %d spool entries replayed more than "
                             "%d days ago", removed, hmb_spool_keep(sp));
            }
        }
    }
    return OK;
}

/* ---------------------------------------------------------------- */
/* Request hooks                                                     */

static int hmb_enabled(request_rec *r)
{
    return r->main == NULL && hmb_dir_conf(r)->enabled == 1;
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
    ap_add_output_filter(HMB_GUARD_FILTER_NAME, ctx, r, r->connection);
}

static void hmb_child_init(apr_pool_t *p, server_rec *s)
{
    hmb_filter_child_ledger(p, s);
    hmb_ledger_group_commit(1);
}

static void hmb_register_hooks(apr_pool_t *p)
{
    static const char *const hmb_after_dbd[] = {"mod_dbd.c", NULL};

    /* RESOURCE: after INFLATE (RESOURCE-1), before DEFLATE
     * (CONTENT_SET), so we see and produce identity bytes. */
    ap_register_output_filter(HMB_FILTER_NAME, hmb_output_filter, NULL,
                              AP_FTYPE_RESOURCE);
    /* before INFLATE: to see it fail (mod_huiminbao_filter.c) */
    ap_register_output_filter(HMB_GUARD_FILTER_NAME, hmb_guard_filter, NULL,
                              AP_FTYPE_RESOURCE - 2);
    ap_register_input_filter(HMB_CAPTURE_FILTER_NAME, hmb_capture_filter,
                             NULL, AP_FTYPE_RESOURCE);
    ap_hook_check_config(hmb_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(hmb_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(hmb_child_init, hmb_after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(hmb_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_filter(hmb_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hmb_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, hmb_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(huiminbao) = {
    STANDARD20_MODULE_STUFF,
    hmb_create_dir_conf,
    hmb_merge_dir_conf,
    hmb_create_srv_conf,
    hmb_merge_srv_conf,
    hmb_cmds,
    hmb_register_hooks,
    AP_MODULE_FLAG_NONE
};
