/* hmbctl: the operator's and insurer's tool over the same core as the
 * module (INTERFACES.md section 6). Exit 0 ok, 1 rejected input (one
 * line on stderr), 2 usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "hmb_enroll.h"
#include "hmb_ledger.h"
#include "hmb_plan.h"
#include "hmb_settle.h"
#include "hmb_spool.h"
#include "hmb_util.h"
#include "hmb_xml.h"

#define HMBCTL_OK 0
#define HMBCTL_REJECTED 1
#define HMBCTL_USAGE 2
#define HMBCTL_MAX_FILE (64 * 1024 * 1024)

static const char *usage_text =
"usage: hmbctl [--ledger DRIVER:PARAMS] COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  enroll FILE.csv [--plan PLAN.xml ...]\n"
"        import enrollments (all rows or none); with --plan, person\n"
"        classes are checked against the plan\n"
"  settle --plan PLAN.xml [--plan ...] [--request REQ.xml]\n"
"         [--fund-line TYPE NAME] [--strict] RESP.xml\n"
"        do what the module does for one message; print the response\n"
"  check-plan PLAN.xml [PLAN.xml ...]\n"
"        validate plans (schema and meaning)\n"
"  replay --spool DIR --plan PLAN.xml [--plan ...]\n"
"        settle spooled messages, each exactly once\n"
"  totals --plan-code CODE --year YEAR PSN_NO\n"
"        year-to-date totals of one person\n"
"  show [RESP.xml|-]\n"
"        one readable line from a response's <hmbinfo>\n"
"  migrate\n"
"        create the ledger's schema, or bring it up to this build's\n"
"        version (httpd does this when its children start)\n"
"\n"
"DRIVER:PARAMS is an apr_dbd driver and its parameters, e.g.\n"
"  sqlite3:/var/lib/huiminbao/ledger.db\n"
"  pgsql:host=127.0.0.1 dbname=hmb user=hmb\n"
"The environment variable HMB_LEDGER is used when --ledger is absent.\n"
"\n"
"exit status: 0 ok, 1 rejected input (reason on stderr), 2 usage error\n";

static int usage(const char *why)
{
    if (why) {
        fprintf(stderr, "hmbctl: %s\n", why);
    }
    fputs(usage_text, why ? stderr : stdout);
    return why ? HMBCTL_USAGE : HMBCTL_OK;
}

static int rejected(const char *what)
{
    fprintf(stderr, "hmbctl: %s\n", what);
    return HMBCTL_REJECTED;
}

static const char *read_file(apr_pool_t *p, const char *path,
                             const char **buf, apr_size_t *len)
{
    char *b;
    const char *err = hmb_read_file(p, path, HMBCTL_MAX_FILE, &b, len);

    if (err) {
        return apr_psprintf(p, "%s: %s", path, err);
    }
    *buf = b;
    return NULL;
}

typedef struct {
    apr_pool_t *p;
    const char *ledger_spec;
    apr_array_header_t *plans;      /* hmb_plan_t * */
    const char *request;
    const char *spool;
    const char *fund_type;
    const char *fund_name;
    const char *plan_code;
    const char *year;
    int strict;
    apr_array_header_t *args;       /* positional */
} hmbctl_t;

static const char *load_plan(hmbctl_t *c, const char *path)
{
    hmb_plan_t *plan;
    const char *err = hmb_plan_load(c->p, path, &plan);

    if (!err) {
        *(hmb_plan_t **)apr_array_push(c->plans) = plan;
    }
    return err;
}

static int open_ledger(hmbctl_t *c, hmb_ledger_t **l)
{
    const char *err;

    if (!c->ledger_spec) {
        return usage("no ledger: give --ledger DRIVER:PARAMS or HMB_LEDGER");
    }
    if ((err = hmb_ledger_open(c->p, c->ledger_spec, l)) != NULL) {
        return rejected(err);
    }
    return HMBCTL_OK;
}

static int cmd_check_plan(hmbctl_t *c)
{
    const char *err;
    int i;

    if (c->args->nelts < 1) {
        return usage("check-plan needs PLAN.xml");
    }
    for (i = 0; i < c->args->nelts; i++) {
        if ((err = load_plan(c, APR_ARRAY_IDX(c->args, i, const char *)))) {
            return rejected(err);
        }
    }
    if ((err = hmb_plan_check_set(c->p, c->plans)) != NULL) {
        return rejected(err);
    }
    for (i = 0; i < c->plans->nelts; i++) {
        const hmb_plan_t *pl = APR_ARRAY_IDX(c->plans, i, const hmb_plan_t *);
        printf("%s: ok (%s %d version %d, %s to %s, %d liabilities, "
               "%d insurers)\n", pl->path, pl->code, pl->year, pl->version,
               pl->from, pl->to, pl->liabilities->nelts,
               pl->insurers->nelts);
    }
    return HMBCTL_OK;
}

static int cmd_enroll(hmbctl_t *c)
{
    apr_array_header_t *rows;
    hmb_ledger_t *l;
    const char *buf, *err, *path;
    apr_size_t len;
    int rc, count = 0, i, k;

    if (c->args->nelts != 1) {
        return usage("enroll needs exactly one FILE.csv");
    }
    path = APR_ARRAY_IDX(c->args, 0, const char *);
    if ((err = read_file(c->p, path, &buf, &len)) != NULL
        || (err = hmb_enroll_parse(c->p, path, buf, len, &rows)) != NULL) {
        return rejected(err);
    }
    /* with plans given, a person class must be one the plan knows */
    for (i = 0; i < rows->nelts; i++) {
        const hmb_enrollment_t *e = &APR_ARRAY_IDX(rows, i, hmb_enrollment_t);
        const hmb_plan_t *pl;
        int known = 0;

        if (!c->plans->nelts || !e->person_class) {
            continue;
        }
        pl = hmb_plan_find(c->plans, e->plan_code, e->plan_year);
        if (!pl) {
            continue;
        }
        for (k = 0; k < pl->liabilities->nelts && !known; k++) {
            known = hmb_liability_class(
                &APR_ARRAY_IDX(pl->liabilities, k, hmb_liability_t),
                e->person_class) != NULL;
        }
        if (!known) {
            return rejected(apr_psprintf(c->p, "%s:%d: person_class \"%s\" "
                                         "is not a class of plan %s %d",
                                         path, e->line, e->person_class,
                                         e->plan_code, e->plan_year));
        }
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_import_enrollments(l, c->p, rows, &count))) {
        return rejected(err);
    }
    printf("imported %d enrollment rows from %s\n", count, path);
    return HMBCTL_OK;
}

static const char *fill_ctx(hmbctl_t *c, hmb_settle_ctx_t *ctx,
                            hmb_ledger_t *l)
{
    hmb_message_schema_t *schema = NULL;
    const char *err;

    memset(ctx, 0, sizeof(*ctx));
    ctx->plans = c->plans;
    ctx->ledger = l;
    ctx->fund_pay_type = c->fund_type;
    ctx->fund_pay_type_name = c->fund_name;
    if (c->strict && (err = hmb_message_schema(c->p, &schema)) != NULL) {
        return err;
    }
    ctx->schema = schema;
    return NULL;
}

static int cmd_settle(hmbctl_t *c)
{
    hmb_settle_ctx_t ctx;
    hmb_settle_result_t *res;
    hmb_ledger_t *l;
    const char *req = NULL, *resp, *err;
    apr_size_t req_len = 0, resp_len;
    int rc;

    if (c->args->nelts != 1) {
        return usage("settle needs exactly one RESP.xml");
    }
    if (!c->plans->nelts) {
        return usage("settle needs at least one --plan");
    }
    if ((err = hmb_plan_check_set(c->p, c->plans)) != NULL
        || (c->request && (err = read_file(c->p, c->request, &req,
                                           &req_len)) != NULL)
        || (err = read_file(c->p, APR_ARRAY_IDX(c->args, 0, const char *),
                            &resp, &resp_len)) != NULL) {
        return rejected(err);
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = fill_ctx(c, &ctx, l)) != NULL) {
        return rejected(err);
    }
    res = hmb_settle_message(c->p, &ctx, req, req_len, resp, resp_len);
    if (res->outcome == HMB_OUT_DEFERRED || res->outcome == HMB_OUT_FAILED) {
        return rejected(res->reason);
    }
    if (res->outcome == HMB_OUT_PASS) {
        if (res->is_error) {
            return rejected(res->reason);
        }
        fprintf(stderr, "hmbctl: passed through unchanged: %s\n",
                res->reason);
        fwrite(resp, 1, resp_len, stdout);
        return HMBCTL_OK;
    }
    fwrite(res->out, 1, res->out_len, stdout);
    return HMBCTL_OK;
}

static int cmd_replay(hmbctl_t *c)
{
    apr_array_header_t *entries;
    hmb_settle_ctx_t ctx;
    hmb_ledger_t *l;
    const char *err;
    int rc, i, settled = 0, passed = 0, failed = 0;

    if (!c->spool || !c->plans->nelts || c->args->nelts) {
        return usage("replay needs --spool DIR and at least one --plan");
    }
    if ((err = hmb_plan_check_set(c->p, c->plans)) != NULL
        || (err = hmb_spool_list(c->p, c->spool, &entries)) != NULL) {
        return rejected(err);
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = fill_ctx(c, &ctx, l)) != NULL) {
        return rejected(err);
    }
    for (i = 0; i < entries->nelts; i++) {
        const char *path = APR_ARRAY_IDX(entries, i, const char *);
        const char *req, *resp;
        apr_size_t req_len, resp_len;
        hmb_settle_result_t *res;
        apr_pool_t *ep;

        apr_pool_create(&ep, c->p);
        if ((err = hmb_spool_read(ep, path, &req, &req_len, &resp,
                                  &resp_len)) != NULL) {
            fprintf(stderr, "hmbctl: %s\n", err);
            failed++;
            apr_pool_destroy(ep);
            continue;
        }
        res = hmb_settle_message(ep, &ctx, req_len ? req : NULL, req_len,
                                 resp, resp_len);
        if (res->outcome == HMB_OUT_DEFERRED
            || res->outcome == HMB_OUT_FAILED) {
            /* still unavailable (or broken): leave it for the next
             * replay, and say why */
            fprintf(stderr, "hmbctl: %s: %s\n", path, res->reason);
            failed++;
        }
        else if ((err = hmb_spool_done(ep, path)) != NULL) {
            fprintf(stderr, "hmbctl: %s\n", err);
            failed++;
        }
        else if (res->outcome == HMB_OUT_PASS) {
            fprintf(stderr, "hmbctl: %s: not settled: %s\n", path,
                    res->reason);
            passed++;
        }
        else {
            printf("%s: %s %s %s%s\n", path,
                   res->setl_id ? res->setl_id : "-",
                   hmb_stas_name(res->stas),
                   hmb_money_str(ep, res->hmb_pay),
                   res->duplicate ? " (already recorded)" : "");
            settled++;
        }
        apr_pool_destroy(ep);
    }
    printf("replayed %d, not settleable %d, failed %d\n", settled, passed,
           failed);
    return failed ? HMBCTL_REJECTED : HMBCTL_OK;
}

static int cmd_totals(hmbctl_t *c)
{
    apr_array_header_t *rows;
    hmb_ledger_t *l;
    const char *err;
    int rc, i;

    if (!c->plan_code || !c->year || c->args->nelts != 1) {
        return usage("totals needs --plan-code CODE --year YEAR PSN_NO");
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_totals(l, c->p, c->plan_code, atoi(c->year),
                                 APR_ARRAY_IDX(c->args, 0, const char *),
                                 &rows)) != NULL) {
        return rejected(err);
    }
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);
        printf("%s elig_amt=%s paid_amt=%s\n", t->liab_code,
               hmb_money_str(c->p, t->elig_amt),
               hmb_money_str(c->p, t->paid_amt));
    }
    return HMBCTL_OK;
}

static int cmd_migrate(hmbctl_t *c)
{
    hmb_ledger_t *l;
    int rc;

    if (c->args->nelts) {
        return usage("migrate takes no arguments");
    }
    /* opening a ledger creates or migrates its schema */
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    printf("ledger schema version %d\n", HMB_LEDGER_SCHEMA_VERSION);
    return HMBCTL_OK;
}

/* What the billing desk would read off a rewritten response. */
static int cmd_show(hmbctl_t *c)
{
    const char *path = c->args->nelts ? APR_ARRAY_IDX(c->args, 0,
                                                      const char *) : "-";
    const char *buf, *err, *rea;
    apr_size_t len;
    xmlDocPtr doc;
    xmlNodePtr info;

    if (!strcmp(path, "-")) {
        apr_file_t *in;
        char *b = apr_palloc(c->p, HMBCTL_MAX_FILE);
        apr_file_open_stdin(&in, c->p);
        len = 0;
        apr_file_read_full(in, b, HMBCTL_MAX_FILE, &len);
        buf = b;
    }
    else if ((err = read_file(c->p, path, &buf, &len)) != NULL) {
        return rejected(err);
    }
    if ((err = hmb_xml_parse(c->p, path, buf, len, HMB_XML_MAX_DEPTH,
                             &doc)) != NULL) {
        return rejected(err);
    }
    info = hmb_xml_child(hmb_xml_child(xmlDocGetRootElement(doc), "output"),
                         "hmbinfo");
    if (!info) {
        return rejected(apr_pstrcat(c->p, path, ": no <hmbinfo>", NULL));
    }
    rea = hmb_xml_child_text(c->p, info, "rea_code");
    printf("%s %s%s%s | %s\n", hmb_xml_child_text(c->p, info, "hmb_stas"),
           hmb_xml_child_text(c->p, info, "hmb_pay"),
           rea ? " " : "", rea ? rea : "",
           hmb_xml_child_text(c->p, info, "hmb_memo"));
    return HMBCTL_OK;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    hmbctl_t c;
    const char *cmd = NULL, *err;
    int i, rc;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    hmb_xml_init();
    memset(&c, 0, sizeof(c));
    c.p = p;
    c.plans = apr_array_make(p, 4, sizeof(hmb_plan_t *));
    c.args = apr_array_make(p, 4, sizeof(const char *));
    c.ledger_spec = getenv("HMB_LEDGER");

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
#define HMBCTL_VALUE(opt) \
        if (i + 1 >= argc) { return usage(opt " needs a value"); }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            return usage(NULL);
        }
        else if (!strcmp(a, "--ledger")) {
            HMBCTL_VALUE("--ledger");
            c.ledger_spec = argv[++i];
        }
        else if (!strcmp(a, "--plan")) {
            HMBCTL_VALUE("--plan");
            if ((err = load_plan(&c, argv[++i])) != NULL) {
                return rejected(err);
            }
        }
        else if (!strcmp(a, "--request")) {
            HMBCTL_VALUE("--request");
            c.request = argv[++i];
        }
        else if (!strcmp(a, "--spool")) {
            HMBCTL_VALUE("--spool");
            c.spool = argv[++i];
        }
        else if (!strcmp(a, "--plan-code")) {
            HMBCTL_VALUE("--plan-code");
            c.plan_code = argv[++i];
        }
        else if (!strcmp(a, "--year")) {
            HMBCTL_VALUE("--year");
            c.year = argv[++i];
        }
        else if (!strcmp(a, "--fund-line")) {
            if (i + 2 >= argc) {
                return usage("--fund-line needs TYPE and NAME");
            }
            c.fund_type = argv[++i];
            c.fund_name = argv[++i];
        }
        else if (!strcmp(a, "--strict")) {
            c.strict = 1;
        }
        else if (a[0] == '-' && a[1] && strcmp(a, "-")) {
            return usage(apr_psprintf(p, "unknown option %s", a));
        }
        else if (!cmd) {
            cmd = a;
        }
        else {
            *(const char **)apr_array_push(c.args) = a;
        }
#undef HMBCTL_VALUE
    }
    if (!cmd) {
        return usage("no command");
    }
    if (!strcmp(cmd, "check-plan")) {
        rc = cmd_check_plan(&c);
    }
    else if (!strcmp(cmd, "enroll")) {
        rc = cmd_enroll(&c);
    }
    else if (!strcmp(cmd, "settle")) {
        rc = cmd_settle(&c);
    }
    else if (!strcmp(cmd, "replay")) {
        rc = cmd_replay(&c);
    }
    else if (!strcmp(cmd, "totals")) {
        rc = cmd_totals(&c);
    }
    else if (!strcmp(cmd, "show")) {
        rc = cmd_show(&c);
    }
    else if (!strcmp(cmd, "migrate")) {
        rc = cmd_migrate(&c);
    }
    else {
        rc = usage(apr_psprintf(p, "unknown command %s", cmd));
    }
    fflush(stdout);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
