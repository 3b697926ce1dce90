/* hmbctl: the operator's and insurer's tool over the same core as the
 * module (INTERFACES.md section 6). Exit 0 ok, 1 rejected input (one
 * line on stderr), 2 usage error. Every command says what it takes with
 * --help, and refuses options that are not its own. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_enroll.h"
#include "hmb_ledger.h"
#include "hmb_ledger_copy.h"
#include "hmb_ledger_bulk.h"
#include "hmb_plan.h"
#include "hmb_settle.h"
#include "hmb_spool.h"
#include "hmb_util.h"
#include "hmb_xml.h"
#include "hmb_rollup.h"
#include "hmbctl.h"

const hmbctl_cmd_t *hmbctl_current;

static const char *const hmbctl_ledger_note =
"The ledger is --ledger DRIVER:PARAMS (or $HMB_LEDGER), an apr_dbd driver\n"
"and its parameters: sqlite3:/var/lib/huiminbao/ledger.db or\n"
"pgsql:host=127.0.0.1 dbname=hmb user=hmb\n";


int rejected(const char *what)
{
    fprintf(stderr, "hmbctl: %s\n", what);
    return HMBCTL_REJECTED;
}

const char *read_file(apr_pool_t *p, const char *path,
                      const char **buf, apr_size_t *len)
{
    char *b = NULL;
    const char *err = hmb_read_file(p, path, HMBCTL_MAX_FILE, &b, len);

    if (err) {
        return apr_psprintf(p, "%s: %s", path, err);
    }
    *buf = b;
    return NULL;
}

int open_ledger_ex(hmbctl_t *c, int flags, hmb_ledger_t **l)
{
    const char *err;

    if (!c->ledger_spec) {
        return usage("no ledger: give --ledger DRIVER:PARAMS or HMB_LEDGER");
    }
    if ((err = hmb_ledger_open_ex(c->p, c->ledger_spec, flags, l)) != NULL) {
        return rejected(err);
    }
    (*l)->utc_offset_min = c->utc_offset;
    return HMBCTL_OK;
}

static int open_ledger(hmbctl_t *c, hmb_ledger_t **l)
{
    return open_ledger_ex(c, 0, l);
}

int need_plans(hmbctl_t *c)
{
    const char *err;

    if (!c->plans->nelts) {
        return usage(apr_psprintf(c->p, "%s needs at least one --plan",
                                  hmbctl_current->name));
    }
    if ((err = hmb_plan_check_set(c->p, c->plans)) != NULL) {
        return rejected(err);
    }
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
    ctx->dry_run = c->dry_run;
    if (c->strict && (err = hmb_message_schema(c->p, &schema)) != NULL) {
        return err;
    }
    ctx->schema = schema;
    return NULL;
}

/* ---- check-plan ------------------------------------------------------- */

static int cmd_check_plan(hmbctl_t *c)
{
    const char *err;
    int i;

    if (c->args->nelts < 1) {
        return usage("check-plan needs PLAN.xml");
    }
    for (i = 0; i < c->args->nelts; i++) {
        hmb_plan_t *pl;

        if ((err = hmb_plan_load(c->p, APR_ARRAY_IDX(c->args, i,
                                                     const char *), &pl))) {
            return rejected(err);
        }
        APR_ARRAY_PUSH(c->plans, hmb_plan_t *) = pl;
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

/* ---- enroll ------------------------------------------------------------- */

/* A row the plans given do not allow: an unknown plan, a cover start
 * outside the plan's period, an unknown person class. */
static const char *enroll_check(hmbctl_t *c, const char *path,
                                const hmb_enrollment_t *e)
{
    const hmb_plan_t *pl = hmb_plan_find(c->plans, e->plan_code,
                                         e->plan_year);
    int k, known = 0;

    if (!pl) {
        return apr_psprintf(c->p, "%s:%d: plan %s %d is not among the plans "
                            "given (--plan)", path, e->line, e->plan_code,
                            e->plan_year);
    }
    if (strcmp(e->cover_from, pl->from) < 0
        || strcmp(e->cover_from, pl->to) > 0) {
        return apr_psprintf(c->p, "%s:%d: cover_from %s is outside plan %s "
                            "%d (%s to %s)", path, e->line, e->cover_from,
                            pl->code, pl->year, pl->from, pl->to);
    }
    if (!e->person_class) {
        return NULL;
    }
    for (k = 0; k < pl->liabilities->nelts && !known; k++) {
        known = hmb_liability_class(&APR_ARRAY_IDX(pl->liabilities, k,
                                                   hmb_liability_t),
                                    e->person_class) != NULL;
    }
    if (!known) {
        return apr_psprintf(c->p, "%s:%d: person_class \"%s\" is not a class "
                            "of plan %s %d", path, e->line, e->person_class,
                            e->plan_code, e->plan_year);
    }
    return NULL;
}

/* A reader's error, with what to do about the encoding when that is the
 * trouble. */
static const char *enroll_hint(hmbctl_t *c, const char *err)
{
    if (strstr(err, "not valid UTF-8")) {
        return apr_pstrcat(c->p, err, " (a spreadsheet saved it as GBK? "
                           "give --encoding GBK or --encoding GB18030)",
                           NULL);
    }
    if (strstr(err, "not valid GB")) {
        return apr_pstrcat(c->p, err, " (the file is not in the encoding "
                           "given with --encoding)", NULL);
    }
    return err;
}

/* On a terminal: rows so far, how far into the file, rows/s. */
static void enroll_progress(apr_int64_t rows, apr_off_t at, apr_off_t size,
                            apr_time_t t0)
{
    double s = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;

    fprintf(stderr, "\rhmbctl: %" APR_INT64_T_FMT " rows, %3.0f%%, %.0f "
            "rows/s ", rows, size ? 100.0 * (double)at / (double)size : 0.0,
            s > 0 ? (double)rows / s : 0.0);
}

static int cmd_enroll(hmbctl_t *c)
{
    hmb_enroll_reader_t *rd;
    hmb_bulk_counts_t n;
    hmb_bulk_t *b = NULL;
    hmb_ledger_t *l;
    hmb_csv_t *csv;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_pool_t *rp;
    apr_time_t t0 = apr_time_now();
    const char *err = NULL, *path;
    int rc, done = 0, progress = isatty(2);
    apr_int64_t rows = 0;
    double secs;
    char ebuf[120];
    apr_status_t rv;

    if (c->args->nelts != 1) {
        return usage("enroll needs exactly one FILE.csv");
    }
    if ((rc = need_plans(c)) != HMBCTL_OK) {
        return rc;
    }
    path = APR_ARRAY_IDX(c->args, 0, const char *);
    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0,
                            c->p)) != APR_SUCCESS) {
        return rejected(apr_psprintf(c->p, "%s: %s", path,
                                     apr_strerror(rv, ebuf, sizeof(ebuf))));
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        fi.size = 0;
    }
    if ((err = hmb_csv_file_enc(c->p, path, f, c->encoding, &csv))
        || (err = hmb_enroll_open(c->p, path, csv, &rd))) {
        return rejected(enroll_hint(c, err));
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    /* one transaction: all rows or none. The rows stream into the
     * ledger's staging table (COPY on PostgreSQL) as they are read and
     * checked, and are merged at the end (hmb_ledger_bulk.h) */
    if ((err = hmb_ledger_begin(l, c->p))) {
        return rejected(err);
    }
    apr_pool_create(&rp, c->p);
    err = hmb_bulk_begin(l, c->p, &b);
    while (!err) {
        hmb_enrollment_t e;

        apr_pool_clear(rp);
        if ((err = hmb_enroll_next(rd, rp, &e, &done)) || done) {
            break;
        }
        if ((err = enroll_check(c, path, &e)) || (err = hmb_bulk_row(b, &e))) {
            break;
        }
        if (++rows % HMBCTL_PROGRESS_ROWS == 0 && progress) {
            enroll_progress(rows, hmb_csv_offset(csv), fi.size, t0);
        }
    }
    if (progress && rows >= HMBCTL_PROGRESS_ROWS) {
        enroll_progress(rows, fi.size, fi.size, t0);
        fputs("\nhmbctl: merging into the ledger...\n", stderr);
    }
    if (!err) {
        err = hmb_bulk_finish(b, path, &n);
    }
    if (err) {
        err = apr_pstrdup(c->p, err);
        hmb_bulk_abort(b);
        hmb_ledger_rollback(l, c->p);
        return rejected(apr_pstrcat(c->p, enroll_hint(c, err),
                                    "; nothing imported", NULL));
    }
    if ((err = hmb_ledger_commit(l, c->p))) {
        return rejected(err);
    }
    secs = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
    printf("imported %" APR_INT64_T_FMT " enrollment rows from %s: %"
           APR_INT64_T_FMT " added, %" APR_INT64_T_FMT " changed, %"
           APR_INT64_T_FMT " unchanged (%.2f s, %.0f rows/s)\n", n.rows,
           path, n.added, n.changed, n.unchanged, secs,
           secs > 0 ? (double)n.rows / secs : 0.0);
    return HMBCTL_OK;
}

/* ---- settle, replay ----------------------------------------------------- */

static int cmd_settle(hmbctl_t *c)
{
    hmb_settle_ctx_t ctx;
    hmb_settle_result_t *res;
    hmb_ledger_t *l;
    const char *req = NULL, *resp = NULL, *err;
    apr_size_t req_len = 0, resp_len = 0;
    int rc;

    if (c->args->nelts != 1) {
        return usage("settle needs exactly one RESP.xml");
    }
    if ((rc = need_plans(c)) != HMBCTL_OK) {
        return rc;
    }
    if ((c->request && (err = read_file(c->p, c->request, &req,
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
    int rc, i, settled = 0, passed = 0, failed = 0, removed = 0;

    if (!c->spool || c->args->nelts) {
        return usage("replay needs --spool DIR and at least one --plan");
    }
    if ((rc = need_plans(c)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_spool_list(c->p, c->spool, &entries)) != NULL) {
        return rejected(err);
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = fill_ctx(c, &ctx, l)) != NULL) {
        return rejected(err);
    }
    /* what the desk did not get: recorded so, and listed by owed */
    ctx.origin = "replay";
    for (i = 0; i < entries->nelts; i++) {
        const char *path = APR_ARRAY_IDX(entries, i, const char *);
        const char *req, *resp;
        apr_size_t req_len, resp_len;
        hmb_settle_result_t *res;
        apr_pool_t *ep;

        apr_pool_create(&ep, c->p);
        /* a JSON message is read in the charset it came with */
        if ((err = hmb_spool_read(ep, path, &req, &req_len, &resp,
                                  &resp_len, &ctx.req_charset,
                                  &ctx.resp_charset)) != NULL) {
            fprintf(stderr, "hmbctl: %s\n", err);
            failed++;
            apr_pool_destroy(ep);
            continue;
        }
        res = hmb_settle_message(ep, &ctx, req_len ? req : NULL, req_len,
                                 resp, resp_len);
        if (res->outcome == HMB_OUT_DEFERRED
            || res->outcome == HMB_OUT_FAILED) {
            /* still not settleable (the ledger away, the plan for its
             * date not given): left for the next replay, and said why */
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
    if ((err = hmb_spool_prune(c->p, c->spool, apr_time_from_sec(
                               (apr_time_t)c->keep_days * 86400),
                               &removed)) != NULL) {
        fprintf(stderr, "hmbctl: %s\n", err);
    }
    printf("replayed %d, not settleable %d, failed %d", settled, passed,
           failed);
    if (removed) {
        printf(", deleted %d entries replayed more than %d days ago",
               removed, c->keep_days);
    }
    printf("\n");
    return failed ? HMBCTL_REJECTED : HMBCTL_OK;
}

/* ---- redecide, owed ----------------------------------------------------- */

static int cmd_redecide(hmbctl_t *c)
{
    hmb_settle_ctx_t ctx;
    apr_array_header_t *ids = c->setl_ids;
    hmb_ledger_t *l;
    const char *err;
    int rc, i, corrected = 0, unchanged = 0;

    if (c->args->nelts || (!ids->nelts && !c->from && !c->to)
        || (ids->nelts && (c->from || c->to))) {
        return usage("redecide needs --setl-id ID (repeatable), or --from "
                     "DATE --to DATE, not both");
    }
    if (!c->why) {
        return usage("redecide needs --why TEXT: the reason is recorded "
                     "with each correction");
    }
    if ((rc = need_plans(c)) != HMBCTL_OK) {
        return rc;
    }
    if ((rc = open_ledger(c, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = fill_ctx(c, &ctx, l)) != NULL) {
        return rejected(err);
    }
    if (!ids->nelts
        && (err = hmb_ledger_ineligible(l, c->p, c->from, c->to, &ids))) {
        return rejected(err);
    }
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        hmb_redecide_t *r;

        if ((err = hmb_settle_redecide(c->p, &ctx, id, c->by, c->why,
                                       c->dry_run, &r))) {
            return rejected(apr_pstrcat(c->p, id, ": ", err, NULL));
        }
        printf("%s: %s%s%s\n", id, r->what,
               r->hmb_setl_id ? " " : "",
               r->hmb_setl_id ? r->hmb_setl_id : "");
        if (r->corrected) {
            corrected++;
        }
        else {
            unchanged++;
        }
    }
    printf("%s %d, unchanged %d\n", c->dry_run ? "would correct"
                                               : "corrected", corrected,
           unchanged);
    return HMBCTL_OK;
}

/* A CSV field: quoted when it has to be. */
const char *csv_field(apr_pool_t *p, const char *s)
{
    const char *q;
    char *out, *w;

    s = s ? s : "";
    if (!strpbrk(s, ",\"\r\n")) {
        return s;
    }
    out = w = apr_palloc(p, strlen(s) * 2 + 3);
    *w++ = '"';
    for (q = s; *q; q++) {
        if (*q == '"') {
            *w++ = '"';
        }
        *w++ = *q;
    }
    *w++ = '"';
    *w = '\0';
    return out;
}

static int cmd_owed(hmbctl_t *c)
{
    static const char *const cols[] = {
        "setl_id", "hmb_setl_id", "psn_no", "mdtrt_id", "fixmedins_code",
        "setl_time", "plan_code", "plan_year", "origin", "decided_by",
        "recorded_at", "owed"
    };
    apr_array_header_t *owed;
    hmb_ledger_t *l;
    const char *err, *fmt = c->format ? c->format : "table";
    hmb_fen_t sum = 0;
    int rc, i, k;

    if (c->args->nelts) {
        return usage("owed takes no arguments");
    }
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_owed(l, c->p, c->from, c->to, &owed))) {
        return rejected(err);
    }
    if (!strcmp(fmt, "json")) {
        printf("{\"claims\":[");
    }
    else {
        for (k = 0; k < 12; k++) {
            printf(!strcmp(fmt, "csv") ? "%s%s" : "%s%-s", k ? (
                   !strcmp(fmt, "csv") ? "," : "\t") : "", cols[k]);
        }
        printf("\n");
    }
    for (i = 0; i < owed->nelts; i++) {
        const hmb_claim_t *o = &APR_ARRAY_IDX(owed, i, hmb_claim_t);
        const char *v[12];

        sum += o->hmb_pay;
        v[0] = o->setl_id;
        v[1] = o->hmb_setl_id;
        /* personal data only when asked for: the list is for paying */
        v[2] = c->show_psn ? o->psn_no : hmb_mask_psn(c->p, o->psn_no);
        v[3] = o->mdtrt_id;
        v[4] = o->fixmedins_code;
        v[5] = o->setl_time;
        v[6] = o->plan_code;
        v[7] = apr_itoa(c->p, o->plan_year);
        v[8] = o->origin;
        v[9] = o->decided_by;
        v[10] = o->created_at;
        v[11] = hmb_money_str(c->p, o->hmb_pay);
        if (!strcmp(fmt, "json")) {
            printf("%s{", i ? "," : "");
            for (k = 0; k < 12; k++) {
                const char *val = v[k] ? v[k] : "";

                if (k == 7 || k == 11) {
                    printf("%s\"%s\":%s", k ? "," : "", cols[k], val);
                }
                else {
                    printf("%s\"%s\":\"%s\"", k ? "," : "", cols[k],
                           hmb_json_escape_ascii(c->p, val));
                }
            }
            printf("}");
            continue;
        }
        for (k = 0; k < 12; k++) {
            printf("%s%s", k ? (!strcmp(fmt, "csv") ? "," : "\t") : "",
                   !strcmp(fmt, "csv") ? csv_field(c->p, v[k])
                                       : (v[k] ? v[k] : "-"));
        }
        printf("\n");
    }
    if (!strcmp(fmt, "json")) {
        printf("],\"count\":%d,\"total\":%s}\n", owed->nelts,
               hmb_money_str(c->p, sum));
    }
    else if (!strcmp(fmt, "table")) {
        printf("total\t%d claims\t%s\n", owed->nelts,
               hmb_money_str(c->p, sum));
    }
    return HMBCTL_OK;
}

/* ---- totals, show, migrate, check-ledger ------------------------------ */

static int cmd_totals(hmbctl_t *c)
{
    apr_array_header_t *rows;
    hmb_enrollment_t *e;
    hmb_ledger_t *l;
    const char *err, *psn;
    int rc, i;

    if (!c->plan_code || !c->year || c->args->nelts != 1) {
        return usage("totals needs --plan-code CODE --year YEAR PSN_NO");
    }
    psn = APR_ARRAY_IDX(c->args, 0, const char *);
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_get_enrollment(l, c->p, c->plan_code, c->year,
                                         psn, &e))
        || (err = hmb_ledger_totals(l, c->p, c->plan_code, c->year, psn,
                                    &rows))) {
        return rejected(err);
    }
    if (!e && !rows->nelts) {
        return rejected(apr_psprintf(c->p, "%s is not enrolled in plan %s "
                                     "%d and has no totals there", psn,
                                     c->plan_code, c->year));
    }
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);
        printf("%s elig_amt=%s paid_amt=%s\n", t->liab_code,
               hmb_money_str(c->p, t->elig_amt),
               hmb_money_str(c->p, t->paid_amt));
    }
    return HMBCTL_OK;
}

/* What the billing desk would read off a rewritten response. */
static int cmd_show(hmbctl_t *c)
{
    const char *path = c->args->nelts ? APR_ARRAY_IDX(c->args, 0,
                                                      const char *) : "-";
    const char *buf = NULL, *err, *rea;
    apr_size_t len = 0;
    xmlDocPtr doc;
    xmlNodePtr info;

    if (c->args->nelts > 1) {
        return usage("show takes one RESP.xml, or - for standard input");
    }
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

static int cmd_ledger_copy(hmbctl_t *c)
{
    apr_array_header_t *tables;
    hmb_ledger_t *from, *to;
    const char *err, *target;
    apr_int64_t rows = 0;
    int rc, i;

    if (c->args->nelts != 1) {
        return usage("ledger-copy needs the target ledger, e.g. "
                     "\"pgsql:host=... dbname=hmb user=hmb\"");
    }
    target = APR_ARRAY_IDX(c->args, 0, const char *);
    if (c->ledger_spec && !strcmp(c->ledger_spec, target)) {
        return usage("ledger-copy: the target is the source");
    }
    /* the source as it is; the target created at this build's schema */
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &from)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_open_ex(c->p, target, 0, &to))
        || (err = hmb_ledger_copy(c->p, from, to, &tables))) {
        return rejected(err);
    }
    for (i = 0; i < tables->nelts; i++) {
        const hmb_copy_table_t *t = &APR_ARRAY_IDX(tables, i,
                                                   hmb_copy_table_t);

        printf("%-20s %" APR_INT64_T_FMT " rows\n", t->table, t->rows);
        rows += t->rows;
    }
    printf("copied %" APR_INT64_T_FMT " rows in %d tables; both sides "
           "compared equal\n", rows, tables->nelts);
    return HMBCTL_OK;
}

static int cmd_check_ledger(hmbctl_t *c)
{
    hmb_ledger_t *l;
    const char *err;
    int rc;

    if (c->args->nelts) {
        return usage("check-ledger takes no arguments");
    }
    /* a check must not make a new empty ledger at a mistyped path */
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_ledger_probe(l, c->p)) != NULL) {
        return rejected(apr_pstrcat(c->p, "this user cannot settle into "
                                    "the ledger: ", err, NULL));
    }
    printf("ledger ok: schema version %d, writable by this user\n",
           HMB_LEDGER_SCHEMA_VERSION);
    return HMBCTL_OK;
}

/* ---- the table of commands ----------------------------------------------- */

static const hmbctl_cmd_t hmbctl_cmds[] = {
    {"enroll", cmd_enroll, O_PLAN | O_ENCODING,
     "enroll --plan PLAN.xml [--plan ...] [--encoding UTF-8|GBK|GB18030] "
     "FILE.csv",
     "Import enrollments from the insurer's CSV (header plan_code,plan_year,\n"
     "psn_no,cover_from,preexisting,person_class,admdvs,payer,premium), all\n"
     "rows or none. Every row is checked against the plans given: its plan\n"
     "and year loaded, cover_from inside the plan's period, person_class a\n"
     "class of the plan. The file is read as it streams (any size), in UTF-8\n"
     "unless --encoding says GBK or GB18030. On a terminal, progress is\n"
     "shown every 10000 rows.\n"},
    {"settle", cmd_settle, O_PLAN | O_REQUEST | O_FUND_LINE | O_STRICT
                           | O_DRY_RUN,
     "settle --plan PLAN.xml [--plan ...] [--request REQ.xml] "
     "[--fund-line TYPE NAME] [--strict] [--dry-run] RESP.xml",
     "Do what the module does for one message and print the rewritten\n"
     "response. Without --request, a response with a setl_id is taken for a\n"
     "settlement, one without for a pre-settlement. --dry-run decides and\n"
     "prints everything and writes nothing to the ledger.\n"},
    {"check-plan", cmd_check_plan, 0,
     "check-plan PLAN.xml [PLAN.xml ...]",
     "Validate plans: the schema, then what a schema cannot say.\n"},
    {"replay", cmd_replay, O_PLAN | O_SPOOL | O_KEEP,
     "replay --spool DIR --plan PLAN.xml [--plan ...] [--keep DAYS]",
     "Settle the messages the module deferred to its spool, each exactly\n"
     "once; they are recorded with origin replay (see owed). Entries that\n"
     "still cannot be settled stay. Entries replayed more than DAYS ago\n"
     "(default 90) are deleted: they hold personal data.\n"},
    {"redecide", cmd_redecide, O_PLAN | O_SETL_ID | O_FROM | O_TO | O_WHY
                               | O_BY | O_DRY_RUN,
     "redecide --plan PLAN.xml [--plan ...] (--setl-id ID ... | --from DATE "
     "--to DATE) --why TEXT [--by NAME] [--dry-run]",
     "Decide stored ineligible settlements again under the plans given,\n"
     "today's enrollments and each person's totals now; record each payout\n"
     "as a correction linked to the original, with who (--by, default the\n"
     "invoking user) and why. A repeat of the original message still\n"
     "answers what the desk was told; the payout is owed to the patient by\n"
     "the insurer (see owed). --dry-run shows what would be paid.\n"},
    {"owed", cmd_owed, O_FROM | O_TO | O_FORMAT | O_SHOW_PSN,
     "owed [--from DATE] [--to DATE] [--format table|csv|json] "
     "[--show-psn-no]",
     "List the claims whose payout the patient did not receive at the desk\n"
     "(settled later by replay, or paid by a correction), and not reversed\n"
     "since: what the insurer owes patients directly. psn_no is masked\n"
     "unless --show-psn-no (personal data) is given.\n"},
    {"totals", cmd_totals, O_PLAN_CODE | O_YEAR,
     "totals --plan-code CODE --year YEAR PSN_NO",
     "Year-to-date totals of one person, per liability.\n"},
    {"show", cmd_show, 0,
     "show [RESP.xml|-]",
     "One readable line from a response's <hmbinfo>.\n"},
    {"migrate", cmd_migrate, 0,
     "migrate",
     "Create the ledger's schema, or bring it to this build's version.\n"
     "httpd's children do this when they start; run it before starting a\n"
     "new build against a shared ledger.\n"},
    {"rollup", cmd_rollup, O_UTC_OFFSET,
     "rollup check|rebuild|fold [--utc-offset +08:00]",
     "The rollups behind the dashboard, reports and exports are kept with\n"
     "each claim. check recomputes them from the claims and says where the\n"
     "tables differ (exit 1); rebuild replaces them with what the claims\n"
     "give. Run rebuild after migrating a ledger that holds claims, and\n"
     "after changing HuiminbaoUTCOffset (give the same offset here). fold\n"
     "adds up the slots of every day before today into one row per group\n"
     "(PostgreSQL keeps a busy day's rows in slots); run it daily.\n"},
    {"ledger-copy", cmd_ledger_copy, 0,
     "ledger-copy TARGET_DRIVER:PARAMS",
     "Copy the whole ledger (--ledger, e.g. the SQLite file) into a new,\n"
     "empty ledger on another driver (e.g. pgsql:host=... dbname=hmb\n"
     "user=hmb), in one transaction, then count and checksum every table\n"
     "on both sides. Stop httpd first: settlements made during the copy\n"
     "would be missing from the target.\n"},
    {"conform", cmd_conform, 0,
     "conform URL [CASES_DIR]",
     "Send each conformance case of CASES_DIR (default " HMB_CONFORMDIR ")\n"
     "through a running deployment at URL, in name order, and say case by\n"
     "case whether its <hmbinfo> is the expected one and the upstream's\n"
     "bytes were kept; a summary line, and exit status 1 when any case\n"
     "failed. The deployment is the module in front of hmb-sandbox --cases\n"
     "CASES_DIR, with a fresh ledger holding the cases' enrollments (see\n"
     "the README in CASES_DIR).\n"},
    {"report", cmd_report, O_PLAN_CODE | O_YEAR | O_BY | O_FROM | O_TO
                           | O_FORMAT | O_FLAGS | O_SHOW_PSN,
     "report --plan-code CODE --year YEAR --by hospital|insurer|county|"
     "liability|reason|flag|day [--from DATE] [--to DATE] "
     "[--format table|csv|json] [--flags [--show-psn-no]]",
     "Claims, reversals and net payouts of a plan's year by group, from the\n"
     "rollups, between local days DATE (recorded, inclusive), and a TOTAL\n"
     "row of all claims: what the ledger holds, to the fen. csv and json\n"
     "give every figure in fen. --flags then lists the flagged claims.\n"},
    {"history", cmd_history, 0,
     "history PSN_NO",
     "Every claim of one person in the order recorded, with the decision,\n"
     "the reason, the payout and the memo the desk was shown; corrections\n"
     "with who and why. For complaints: it shows personal data.\n"},
    {"export", cmd_export, O_MONTH | O_PLAN_CODE | O_YEAR | O_OUT,
     "export --month YYYY-MM --plan-code CODE [--year YEAR] --out DIR",
     "The monthly statement for the bureau as CSV files in DIR:\n"
     "enrollments.csv (persons and premiums by county and payer), and\n"
     "claims-by-county|hospital|liability|insurer|day.csv (the claims\n"
     "recorded in the month, every figure in fen, with a TOTAL row). YEAR\n"
     "is the policy year, by default the month's.\n"},
    {"whatif", cmd_whatif, O_PLAN | O_YEAR,
     "whatif --plan CANDIDATE.xml [--year YEAR]",
     "Decide every recorded settlement of the candidate's plan code and\n"
     "YEAR (default the candidate's year) again under the candidate, each\n"
     "person's in the order they were decided, reversals taking back what\n"
     "it would have paid, and print its payouts and loss ratio beside the\n"
     "actual ones, by liability. Nothing is written; the plan in force\n"
     "reproduces the actual payouts. Reads every claim of the year.\n"},
    {"audit", cmd_audit, O_FROM | O_TO | O_DAY | O_UTC_OFFSET,
     "audit verify [--from DATE] [--to DATE] | audit roots (--day DATE | "
     "--from DATE --to DATE) [--utc-offset +08:00]",
     "The audit trail: every claim is chained by SHA-256 to its person's\n"
     "previous claim, and each local day has a root over the day's chain\n"
     "heads. verify recomputes every hash of the claims recorded in the\n"
     "days given (default: all) and the sealed roots, and names each claim\n"
     "altered, inserted or deleted since it was recorded, the first first\n"
     "(exit 1). roots prints each day's root, its chain heads and claims;\n"
     "a day that is over is sealed when first asked: keep the printed\n"
     "roots outside the ledger. Days are local by --utc-offset (the\n"
     "server's HuiminbaoUTCOffset).\n"},
    {"check-ledger", cmd_check_ledger, 0,
     "check-ledger",
     "Check that the ledger exists, has this build's schema, and that this\n"
     "user may write it as a settlement does (run it as httpd's user, e.g.\n"
     "sudo -u www-data). Nothing is created or changed.\n"},
    {NULL}
};

int usage(const char *why)
{
    FILE *out = why ? stderr : stdout;
    const hmbctl_cmd_t *cmd;

    if (why) {
        fprintf(stderr, "hmbctl: %s\n", why);
    }
    if (hmbctl_current) {
        fprintf(out, "usage: hmbctl [--ledger DRIVER:PARAMS] %s\n\n%s",
                hmbctl_current->usage, hmbctl_current->help);
        return why ? HMBCTL_USAGE : HMBCTL_OK;
    }
    fprintf(out, "usage: hmbctl [--ledger DRIVER:PARAMS] COMMAND [ARGS]\n"
            "       hmbctl COMMAND --help\n       hmbctl --version\n\n"
            "commands:\n");
    for (cmd = hmbctl_cmds; cmd->name; cmd++) {
        fprintf(out, "  %s\n", cmd->usage);
    }
    fprintf(out, "\n%s\nexit status: 0 ok, 1 rejected input (reason on "
            "stderr), 2 usage error\n", hmbctl_ledger_note);
    return why ? HMBCTL_USAGE : HMBCTL_OK;
}

/* ---- options ---------------------------------------------------------- */

static const char *parse_year(const char *s, int *year)
{
    if (strlen(s) != 4 || strspn(s, "0123456789") != 4 || atoi(s) < 1900) {
        return "a four-digit year";
    }
    *year = atoi(s);
    return NULL;
}

static const char *parse_date(const char *s)
{
    return hmb_date_valid(s) ? NULL : "a date YYYY-MM-DD";
}

static const char *parse_days(const char *s, int *days)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end || v < 1 || v > 3650) {
        return "a number of days from 1 to 3650";
    }
    *days = (int)v;
    return NULL;
}

/* The invoking operator, as a correction records it. */
static const char *whoami(apr_pool_t *p)
{
    const char *who = getenv("SUDO_USER");
    struct passwd *pw;

    if (who && *who) {
        return who;
    }
    pw = getpwuid(getuid());
    return pw ? apr_pstrdup(p, pw->pw_name) : apr_itoa(p, (int)getuid());
}

int main(int argc, const char *const *argv)
{
    static const struct {
        const char *name;
        unsigned bit;
        int values;                 /* how many values follow */
    } opts[] = {
        {"--plan", O_PLAN, 1}, {"--request", O_REQUEST, 1},
        {"--fund-line", O_FUND_LINE, 2}, {"--strict", O_STRICT, 0},
        {"--dry-run", O_DRY_RUN, 0}, {"--spool", O_SPOOL, 1},
        {"--keep", O_KEEP, 1}, {"--plan-code", O_PLAN_CODE, 1},
        {"--year", O_YEAR, 1}, {"--encoding", O_ENCODING, 1},
        {"--setl-id", O_SETL_ID, 1}, {"--from", O_FROM, 1},
        {"--to", O_TO, 1}, {"--why", O_WHY, 1}, {"--by", O_BY, 1},
        {"--format", O_FORMAT, 1}, {"--show-psn-no", O_SHOW_PSN, 0},
        {"--utc-offset", O_UTC_OFFSET, 1}, {"--flags", O_FLAGS, 0},
        {"--month", O_MONTH, 1}, {"--out", O_OUT, 1},
        {"--day", O_DAY, 1}
    };
    apr_pool_t *p;
    hmbctl_t c;
    const char *cmd = NULL, *err;
    int i, rc, help = 0;
    unsigned k;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    hmb_xml_init();
    memset(&c, 0, sizeof(c));
    c.p = p;
    c.plans = apr_array_make(p, 4, sizeof(hmb_plan_t *));
    c.args = apr_array_make(p, 4, sizeof(const char *));
    c.setl_ids = apr_array_make(p, 4, sizeof(const char *));
    c.ledger_spec = getenv("HMB_LEDGER");
    c.keep_days = 90;
    c.utc_offset = HMB_ROLLUP_OFFSET_DEFAULT;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *bad = NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = 1;
            continue;
        }
        if (!strcmp(a, "--version")) {
            printf("hmbctl (mod_huiminbao) %s\nledger schema version %d\n",
                   HMB_VERSION, HMB_LEDGER_SCHEMA_VERSION);
            return HMBCTL_OK;
        }
        if (!strcmp(a, "--ledger")) {
            if (i + 1 >= argc) {
                return usage("--ledger needs a value");
            }
            c.ledger_spec = argv[++i];
            continue;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (!cmd) {
                cmd = a;
            }
            else {
                APR_ARRAY_PUSH(c.args, const char *) = a;
            }
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (!strcmp(a, opts[k].name)) {
                break;
            }
        }
        if (k == sizeof(opts) / sizeof(opts[0])) {
            return usage(apr_psprintf(p, "unknown option %s", a));
        }
        if (i + opts[k].values >= argc) {
            return usage(apr_psprintf(p, "%s needs %s", a,
                                      opts[k].values == 2 ? "TYPE and NAME"
                                                          : "a value"));
        }
        c.given |= opts[k].bit;
        v = opts[k].values ? argv[i + 1] : NULL;
        switch (opts[k].bit) {
        case O_PLAN: {
            hmb_plan_t *pl;

            if ((err = hmb_plan_load(p, v, &pl)) != NULL) {
                return rejected(err);
            }
            APR_ARRAY_PUSH(c.plans, hmb_plan_t *) = pl;
            break;
        }
        case O_REQUEST:   c.request = v; break;
        case O_FUND_LINE: c.fund_type = v; c.fund_name = argv[i + 2]; break;
        case O_STRICT:    c.strict = 1; break;
        case O_DRY_RUN:   c.dry_run = 1; break;
        case O_SPOOL:     c.spool = v; break;
        case O_KEEP:      bad = parse_days(v, &c.keep_days); break;
        case O_PLAN_CODE: c.plan_code = v; break;
        case O_YEAR:      bad = parse_year(v, &c.year); break;
        case O_ENCODING: {
            char *name = apr_pstrdup(p, v), *u;

            if (strcasecmp(v, "UTF-8") && strcasecmp(v, "GBK")
                && strcasecmp(v, "GB18030")) {
                bad = "UTF-8, GBK or GB18030";
            }
            /* one spelling from here on: a reader's "not valid GBK text"
             * is what enroll_hint() recognizes, however it was typed */
            for (u = name; *u; u++) {
                *u = (char)apr_toupper(*u);
            }
            c.encoding = name;
            break;
        }
        case O_SETL_ID:
            APR_ARRAY_PUSH(c.setl_ids, const char *) = v;
            break;
        case O_FROM:      bad = parse_date(v); c.from = v; break;
        case O_TO:        bad = parse_date(v); c.to = v; break;
        case O_WHY:       c.why = v; break;
        case O_BY:        c.by = v; break;
        case O_FORMAT:
            if (strcmp(v, "table") && strcmp(v, "csv") && strcmp(v, "json")) {
                bad = "table, csv or json";
            }
            c.format = v;
            break;
        case O_SHOW_PSN:  c.show_psn = 1; break;
        case O_UTC_OFFSET:
            bad = hmb_rollup_offset_parse(v, &c.utc_offset);
            break;
        case O_FLAGS:     c.flags = 1; break;
        case O_MONTH:
            bad = strlen(v) == 7 && hmb_date_valid(apr_pstrcat(p, v, "-01",
                                                               NULL))
                  ? NULL : "a month YYYY-MM";
            c.month = v;
            break;
        case O_OUT:       c.out = v; break;
        case O_DAY:       bad = parse_date(v); c.day = v; break;
        }
        if (bad) {
            return usage(apr_psprintf(p, "%s takes %s, not '%s'", a, bad,
                                      v));
        }
        i += opts[k].values;
    }
    if (!cmd) {
        return usage(help ? NULL : "no command");
    }
    for (hmbctl_current = hmbctl_cmds; hmbctl_current->name;
         hmbctl_current++) {
        if (!strcmp(hmbctl_current->name, cmd)) {
            break;
        }
    }
    if (!hmbctl_current->name) {
        hmbctl_current = NULL;
        return usage(apr_psprintf(p, "unknown command %s", cmd));
    }
    if (help) {
        return usage(NULL);
    }
    if (c.given & ~hmbctl_current->options) {
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (c.given & opts[k].bit & ~hmbctl_current->options) {
                return usage(apr_psprintf(p, "%s does not take %s", cmd,
                                          opts[k].name));
            }
        }
    }
    if (c.from && c.to && strcmp(c.from, c.to) > 0) {
        return usage("--from is after --to");
    }
    if (!c.by) {
        c.by = whoami(p);
    }
    rc = hmbctl_current->run(&c);
    fflush(stdout);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
