/* mod_huiminbao: directives and per-server / per-directory
 * configuration. Plans are loaded and checked here, at configuration
 * time, so that a bad plan stops httpd (and apachectl configtest) with
 * its file, line and reason instead of surprising a billing desk. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_huiminbao.h"
#include "hmb_ledger_memo.h"
#include "hmb_plan.h"
#include "hmb_rollup.h"
#include "hmb_xml.h"

hmb_srv_conf_t *hmb_srv_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &huiminbao_module);
}

hmb_dir_conf_t *hmb_dir_conf(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &huiminbao_module);
}

const char *hmb_spool_dir(const server_rec *s)
{
    const hmb_srv_conf_t *sc = hmb_srv_conf(s);

    return sc->spool_dir ? sc->spool_dir : HMB_DEFAULT_SPOOL_DIR;
}

int hmb_spool_keep(const server_rec *s)
{
    const hmb_srv_conf_t *sc = hmb_srv_conf(s);

    return sc->spool_keep == HMB_UNSET ? HMB_DEFAULT_SPOOL_KEEP
                                       : sc->spool_keep;
}

int hmb_utc_offset(const server_rec *s)
{
    const hmb_srv_conf_t *sc = hmb_srv_conf(s);

    return sc->utc_offset == HMB_UNSET ? HMB_ROLLUP_OFFSET_DEFAULT
                                       : sc->utc_offset;
}

apr_off_t hmb_max_body(const hmb_dir_conf_t *d)
{
    return d->max_body == HMB_UNSET ? HMB_DEFAULT_MAX_BODY : d->max_body;
}

apr_off_t hmb_max_request(const hmb_dir_conf_t *d)
{
    return d->max_request == HMB_UNSET ? HMB_DEFAULT_MAX_REQUEST
                                       : d->max_request;
}

void *hmb_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    hmb_srv_conf_t *sc = apr_pcalloc(p, sizeof(hmb_srv_conf_t));

    sc->spool_keep = HMB_UNSET;
    sc->utc_offset = HMB_UNSET;
    return sc;
}

void *hmb_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    hmb_srv_conf_t *base = basev;
    hmb_srv_conf_t *add = addv;
    hmb_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    /* A virtual host with plans of its own prices by those alone: two
     * cities behind one server must not see each other's plans. */
    conf->plans = add->plans ? add->plans : base->plans;
    conf->enabled_at = add->enabled_at;
    conf->spool_dir = add->spool_dir ? add->spool_dir : base->spool_dir;
    conf->spool_keep = add->spool_keep != HMB_UNSET ? add->spool_keep
                                                    : base->spool_keep;
    conf->utc_offset = add->utc_offset != HMB_UNSET ? add->utc_offset
                                                    : base->utc_offset;
    return conf;
}

void *hmb_create_dir_conf(apr_pool_t *p, char *dir)
{
    hmb_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = HMB_UNSET;
    d->max_body = HMB_UNSET;
    d->max_request = HMB_UNSET;
    d->strict = HMB_UNSET;
    d->signed_rewrite = HMB_UNSET;
    d->memo_keep = HMB_UNSET;
    return d;
}

void *hmb_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
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
    d->signed_rewrite = add->signed_rewrite != HMB_UNSET
                        ? add->signed_rewrite : base->signed_rewrite;
    d->memo_keep = add->memo_keep != HMB_UNSET ? add->memo_keep
                                                : base->memo_keep;
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
    hmb_srv_conf_t *sc = hmb_srv_conf(cmd->server);
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

/* "Huiminbao On" without a plan would refuse every settlement as
 * outside_period: where it is given is remembered, so that start-up (and
 * apachectl configtest) can refuse that configuration instead. */
static const char *hmb_cmd_enable(cmd_parms *cmd, void *conf, int flag)
{
    hmb_srv_conf_t *sc = hmb_srv_conf(cmd->server);

    if (flag && !sc->enabled_at) {
        sc->enabled_at = apr_psprintf(cmd->pool, "%s:%d",
                                      cmd->directive->filename,
                                      cmd->directive->line_num);
    }
    return ap_set_flag_slot(cmd, conf, flag);
}

static const char *hmb_cmd_spool_keep(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    hmb_srv_conf_t *sc = hmb_srv_conf(cmd->server);
    char *end;
    apr_int64_t days = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end || days < 1 || days > 3650) {
        return apr_psprintf(cmd->pool, "%s takes a number of days from 1 "
                            "to 3650, not '%s'", cmd->cmd->name, arg);
    }
    sc->spool_keep = (int)days;
    return NULL;
}

static const char *hmb_cmd_utc_offset(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    hmb_srv_conf_t *sc = hmb_srv_conf(cmd->server);
    const char *err = hmb_rollup_offset_parse(arg, &sc->utc_offset);

    return err ? apr_psprintf(cmd->pool, "%s takes %s, not '%s'",
                              cmd->cmd->name, err, arg) : NULL;
}

/* A size in bytes, with an optional K or M suffix (1024-based), as
 * mod_substitute's SubstituteMaxLineLength takes it. */
static const char *hmb_cmd_size(cmd_parms *cmd, void *conf, const char *arg)
{
    apr_off_t *slot = (apr_off_t *)((char *)conf
                                    + (apr_size_t)cmd->info);
    apr_off_t v, unit = 1;
    char *end;

    if (apr_strtoff(&v, arg, &end, 10) != APR_SUCCESS || end == arg) {
        end = NULL;
    }
    else if (*end == 'K' || *end == 'k') {
        unit = 1024;
        end++;
    }
    else if (*end == 'M' || *end == 'm') {
        unit = 1024 * 1024;
        end++;
    }
    if (!end || *end || v <= 0 || v > HMB_MESSAGE_MAX_BYTES / unit) {
        return apr_psprintf(cmd->pool, "%s takes a positive number of "
                            "bytes (K and M suffixes allowed) up to %d, the "
                            "largest message the parser accepts, not '%s'",
                            cmd->cmd->name, HMB_MESSAGE_MAX_BYTES, arg);
    }
    *slot = v * unit;
    return NULL;
}

static const char *hmb_cmd_spool(cmd_parms *cmd, void *dummy,
                                 const char *arg)
{
    hmb_srv_conf_t *sc = hmb_srv_conf(cmd->server);
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

/* An answer the platform signed: left as it came (Pass), or rewritten
 * like any other (Rewrite), which breaks the signature. */
static const char *hmb_cmd_signed(cmd_parms *cmd, void *conf,
                                  const char *arg)
{
    hmb_dir_conf_t *d = conf;

    if (strcasecmp(arg, "Pass") == 0) {
        d->signed_rewrite = 0;
    }
    else if (strcasecmp(arg, "Rewrite") == 0) {
        d->signed_rewrite = 1;
    }
    else {
        return apr_psprintf(cmd->pool, "%s takes Pass or Rewrite",
                            cmd->cmd->name);
    }
    return NULL;
}

static const char *hmb_cmd_memo_keep(cmd_parms *cmd, void *conf,
                                     const char *arg)
{
    hmb_dir_conf_t *d = conf;
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    if (*end || n < 1 || n > HMB_MEMO_KEEP_MAX) {
        return apr_psprintf(cmd->pool, "%s takes a number of days, 1 to %d",
                            cmd->cmd->name, HMB_MEMO_KEEP_MAX);
    }
    d->memo_keep = (int)n;
    return NULL;
}

const command_rec hmb_cmds[] = {
    AP_INIT_TAKE1("HuiminbaoPlan", hmb_cmd_plan, NULL, RSRC_CONF,
                  "A plan file (XML) to price by; repeat for several plans "
                  "or years"),
    AP_INIT_FLAG("Huiminbao", hmb_cmd_enable,
                 (void *)APR_OFFSETOF(hmb_dir_conf_t, enabled),
                 RSRC_CONF | ACCESS_CONF,
                 "On to settle Huiminbao in the responses of this location"),
    AP_INIT_TAKE1("HuiminbaoMaxBody", hmb_cmd_size,
                  (void *)APR_OFFSETOF(hmb_dir_conf_t, max_body),
                  RSRC_CONF | ACCESS_CONF,
                  "Largest response (bytes, or with K/M) to settle; larger "
                  "ones pass untouched"),
    AP_INIT_TAKE1("HuiminbaoMaxRequest", hmb_cmd_size,
                  (void *)APR_OFFSETOF(hmb_dir_conf_t, max_request),
                  RSRC_CONF | ACCESS_CONF,
                  "Largest request body (bytes, or with K/M) kept as the "
                  "envelope"),
    AP_INIT_TAKE1("HuiminbaoSpool", hmb_cmd_spool, NULL, RSRC_CONF,
                  "Directory for messages deferred while the ledger is "
                  "unavailable"),
    AP_INIT_TAKE1("HuiminbaoSpoolKeep", hmb_cmd_spool_keep, NULL, RSRC_CONF,
                  "Days a replayed spool entry is kept before it is "
                  "deleted"),
    AP_INIT_TAKE12("HuiminbaoFundLine", hmb_cmd_fund_line, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "FUND_PAY_TYPE \"NAME\" of a <setldetail> line for the "
                   "payout, or Off"),
    AP_INIT_TAKE1("HuiminbaoUTCOffset", hmb_cmd_utc_offset, NULL,
                  RSRC_CONF,
                  "The local time of the rollups' days and the dashboard, "
                  "as +HH:MM east of UTC (default +08:00)"),
    AP_INIT_FLAG("HuiminbaoStrict", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(hmb_dir_conf_t, strict),
                 RSRC_CONF | ACCESS_CONF,
                 "On to validate each message against the settlement "
                 "schema"),
    AP_INIT_TAKE1("HuiminbaoSigned", hmb_cmd_signed, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Pass (default) to leave answers the platform signed "
                  "untouched, deferring their payout; Rewrite to add "
                  "hmbinfo anyway"),
    AP_INIT_TAKE1("HuiminbaoMemoKeep", hmb_cmd_memo_keep, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Days the fee lines of 2301 and the status of 1101 are "
                  "kept for later settlements (default 180)"),
    {NULL}
};
