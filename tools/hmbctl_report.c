/* hmbctl's commands for the insurer and the bureau: the rollups kept
 * with the claims (rollup), reports by group (report), one person's
 * decisions (history) and the monthly statement (export). Every figure
 * comes from the rollups: O(days x groups), never a scan of claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include <yajl/yajl_tree.h>

#include "hmb_rollup.h"
#include "hmb_xml.h"
#include "hmb_util.h"
#include "hmbctl.h"

int cmd_rollup(hmbctl_t *c)
{
    apr_array_header_t *diffs;
    apr_int64_t n = 0;
    hmb_ledger_t *l;
    const char *what, *err;
    int rc, i, apply;

    what = c->args->nelts == 1 ? APR_ARRAY_IDX(c->args, 0, const char *)
                               : "";
    if (strcmp(what, "check") && strcmp(what, "rebuild")
        && strcmp(what, "fold")) {
        return usage("rollup takes check, rebuild or fold");
    }
    apply = !strcmp(what, "rebuild");
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if (!strcmp(what, "fold")) {
        const char *today = hmb_rollup_day_of(c->p, apr_time_now(),
                                              c->utc_offset);
        int folded = 0;

        if ((err = hmb_rollup_fold(l, c->p, today, &folded))) {
            return rejected(err);
        }
        printf("folded the slots of %d rollup rows (a day and group each) "
               "of the days before %s\n", folded, today);
        return HMBCTL_OK;
    }
    if ((err = hmb_rollup_rebuild(l, c->p, c->utc_offset, apply, &diffs,
                                  &n))) {
        return rejected(err);
    }
    for (i = 0; !apply && i < diffs->nelts && i < 50; i++) {
        printf("%s\n", APR_ARRAY_IDX(diffs, i, const char *));
    }
    if (apply) {
        printf("rebuilt the rollups from %" APR_INT64_T_FMT " claims (%d "
               "rows were not what the claims give)\n", n, diffs->nelts);
        return HMBCTL_OK;
    }
    if (diffs->nelts) {
        return rejected(apr_psprintf(c->p, "the rollups differ from the %"
                                     APR_INT64_T_FMT " claims in %d places; "
                                     "hmbctl rollup rebuild replaces them",
                                     n, diffs->nelts));
    }
    printf("rollups agree with the %" APR_INT64_T_FMT " claims\n", n);
    return HMBCTL_OK;
}

/* ---- report ---------------------------------------------------------------- */

/* Figures a table shows; csv and json show them all. */
static const hmb_fig_e table_figs[] = {
    HMB_FIG_CLAIMS, HMB_FIG_INELIGIBLE, HMB_FIG_REVERSALS,
    HMB_FIG_CORRECTIONS, HMB_FIG_PAYOUT, HMB_FIG_REVERSED, HMB_FIG_OWED,
    HMB_FIG_FLAGGED
};
#define N_TABLE_FIGS ((int)(sizeof(table_figs) / sizeof(table_figs[0])))

static void put_header(FILE *out, const char *fmt, const char *key)
{
    int k;

    if (!strcmp(fmt, "csv")) {
        fprintf(out, "%s", key);
        for (k = 0; k < HMB_FIG_COUNT; k++) {
            fprintf(out, ",%s", hmb_fig_name((hmb_fig_e)k));
        }
        fprintf(out, "\n");
        return;
    }
    fprintf(out, "%-22s", key);
    for (k = 0; k < N_TABLE_FIGS; k++) {
        fprintf(out, " %14s", hmb_fig_name(table_figs[k]));
    }
    fprintf(out, "\n");
}

static void put_row(apr_pool_t *p, FILE *out, const char *fmt, int first,
                    const char *grp, const hmb_figs_t *f)
{
    int k;

    if (!strcmp(fmt, "json")) {
        fprintf(out, "%s{\"group\":\"%s\"", first ? "" : ",",
                hmb_json_escape_ascii(p, grp));
        for (k = 0; k < HMB_FIG_COUNT; k++) {
            fprintf(out, ",\"%s\":%" APR_INT64_T_FMT,
                    hmb_fig_name((hmb_fig_e)k), f->v[k]);
        }
        fprintf(out, "}");
        return;
    }
    if (!strcmp(fmt, "csv")) {
        fprintf(out, "%s", csv_field(p, grp));
        for (k = 0; k < HMB_FIG_COUNT; k++) {
            fprintf(out, ",%" APR_INT64_T_FMT, f->v[k]);
        }
        fprintf(out, "\n");
        return;
    }
    fprintf(out, "%-22s", grp[0] ? grp : "-");
    for (k = 0; k < N_TABLE_FIGS; k++) {
        hmb_fig_e g = table_figs[k];

        fprintf(out, " %14s", hmb_fig_is_money(g)
                              ? hmb_money_str(p, f->v[g])
                              : apr_psprintf(p, "%" APR_INT64_T_FMT, f->v[g]));
    }
    fprintf(out, "\n");
}

/* One row per group (or day) of plan/year from..to, then the total of
 * all claims from the rollups' "all" group: what the ledger holds, not
 * a sum of the rows (a claim counts in each liability and co-insurer it
 * pays in, and in no reason when it was paid). */
static const char *put_report(hmbctl_t *c, hmb_ledger_t *l, FILE *out,
                              const char *fmt, const char *by,
                              const char *from, const char *to)
{
    apr_array_header_t *rows, *all;
    hmb_figs_t total;
    hmb_dim_e dim;
    const char *err;
    int by_day = !strcmp(by, "day"), i;

    if (by_day) {
        dim = HMB_DIM_ALL;
    }
    else if (!hmb_dim_parse(by, &dim) || dim == HMB_DIM_ALL) {
        return apr_psprintf(c->p, "--by takes hospital, insurer, county, "
                            "liability, reason, flag or day, not '%s'", by);
    }
    if ((err = hmb_rollup_read(l, c->p, c->plan_code, c->year, from, to, dim,
                               by_day, &rows))
        || (err = hmb_rollup_read(l, c->p, c->plan_code, c->year, from, to,
                                  HMB_DIM_ALL, 0, &all))) {
        return err;
    }
    memset(&total, 0, sizeof(total));
    for (i = 0; i < all->nelts; i++) {
        hmb_figs_add(&total, &APR_ARRAY_IDX(all, i, hmb_rollup_row_t).f);
    }
    if (!strcmp(fmt, "json")) {
        fprintf(out, "{\"plan_code\":\"%s\",\"plan_year\":%d,\"by\":\"%s\","
                "\"from\":%s,\"to\":%s,\"rows\":[",
                hmb_json_escape_ascii(c->p, c->plan_code), c->year, by,
                from ? apr_pstrcat(c->p, "\"", from, "\"", NULL) : "null",
                to ? apr_pstrcat(c->p, "\"", to, "\"", NULL) : "null");
    }
    else {
        put_header(out, fmt, by);
    }
    for (i = 0; i < rows->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i,
                                                   hmb_rollup_row_t);

        put_row(c->p, out, fmt, i == 0, by_day ? r->day : r->grp, &r->f);
    }
    if (!strcmp(fmt, "json")) {
        fprintf(out, "],\"total\":");
        put_row(c->p, out, fmt, 1, "TOTAL", &total);
        fprintf(out, "}\n");
    }
    else {
        put_row(c->p, out, fmt, 0, "TOTAL", &total);
    }
    return NULL;
}

static void put_flagged(hmbctl_t *c, const apr_array_header_t *claims)
{
    int i;

    printf("\nflagged claims\nhmb_setl_id\tsetl_id\tpsn_no\tfixmedins_code\t"
           "setl_time\tadmdvs\tpayout\tflags\n");
    for (i = 0; i < claims->nelts; i++) {
        const hmb_rollup_claim_t *f = &APR_ARRAY_IDX(claims, i,
                                                     hmb_rollup_claim_t);

        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f->hmb_setl_id,
               f->setl_id, c->show_psn ? f->psn_no
                                       : hmb_mask_psn(c->p, f->psn_no),
               f->fixmedins_code ? f->fixmedins_code : "-",
               f->setl_time ? f->setl_time : "-", f->admdvs,
               hmb_money_str(c->p, f->hmb_pay), f->flags);
    }
}

int cmd_report(hmbctl_t *c)
{
    const char *fmt = c->format ? c->format : "table", *err;
    apr_array_header_t *flagged;
    hmb_ledger_t *l;
    int rc;

    if (!c->plan_code || !c->year || !c->by || c->args->nelts) {
        return usage("report needs --plan-code CODE --year YEAR --by GROUP");
    }
    if (c->flags && strcmp(fmt, "table")) {
        return usage("--flags lists claims in a table only");
    }
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = put_report(c, l, stdout, fmt, c->by, c->from, c->to))) {
        return rejected(err);
    }
    if (c->flags) {
        if ((err = hmb_rollup_flagged(l, c->p, c->plan_code, c->year, c->from,
                                      c->to, 0, &flagged))) {
            return rejected(err);
        }
        put_flagged(c, flagged);
    }
    return HMBCTL_OK;
}

/* ---- history --------------------------------------------------------------- */

/* The memo the desk was shown, from the <hmbinfo> (or the JSON hmbinfo)
 * as it was sent; "" when there is none. */
static const char *memo_of(apr_pool_t *p, const char *info)
{
    const char *jroot[] = { "hmb_memo", NULL };
    const char *jnested[] = { "hmbinfo", "hmb_memo", NULL };
    const char *memo = NULL;
    xmlDocPtr doc;

    if (!info || !*info) {
        return "";
    }
    if (*info == '<') {
        if (!hmb_xml_parse(p, "hmbinfo", info, strlen(info),
                           HMB_XML_MAX_DEPTH, &doc)) {
            memo = hmb_xml_child_text(p, xmlDocGetRootElement(doc),
                                      "hmb_memo");
        }
    }
    else {
        yajl_val root = yajl_tree_parse(info, NULL, 0), v;

        if (root) {
            v = yajl_tree_get(root, jroot, yajl_t_string);
            v = v ? v : yajl_tree_get(root, jnested, yajl_t_string);
            memo = v ? apr_pstrdup(p, YAJL_GET_STRING(v)) : NULL;
            yajl_tree_free(root);
        }
    }
    return memo ? hmb_one_line(p, memo, 400) : "";
}

int cmd_history(hmbctl_t *c)
{
    static const char *const kinds[] = {
        "S", "settlement", "R", "reversal", "C", "correction", "M", "marker"
    };
    apr_array_header_t *rows;
    hmb_ledger_t *l;
    const char *err, *psn;
    int rc, i, k;

    if (c->args->nelts != 1) {
        return usage("history takes one PSN_NO");
    }
    psn = APR_ARRAY_IDX(c->args, 0, const char *);
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_rollup_history(l, c->p, psn, &rows))) {
        return rejected(err);
    }
    if (!rows->nelts) {
        return rejected(apr_psprintf(c->p, "no claim of %s in the ledger",
                                     psn));
    }
    printf("recorded_at\tkind\tsetl_id\tsetl_time\tfixmedins_code\tplan\t"
           "stas\trea_code\tpayout\torigin\tmemo\n");
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        const char *kind = v[HMB_H_KIND] ? v[HMB_H_KIND] : "?";
        const char *memo = memo_of(c->p, v[HMB_H_HMBINFO]);

        for (k = 0; k < 8; k += 2) {
            if (!strcmp(kind, kinds[k])) {
                kind = kinds[k + 1];
            }
        }
        if (v[HMB_H_BY] || v[HMB_H_WHY]) {
            memo = apr_psprintf(c->p, "%s%s[by %s: %s]", memo,
                                *memo ? " " : "",
                                v[HMB_H_BY] ? v[HMB_H_BY] : "-",
                                v[HMB_H_WHY] ? v[HMB_H_WHY] : "-");
        }
        printf("%s\t%s\t%s\t%s\t%s\t%s %s v%s\t%s\t%s\t%s\t%s\t%s\n",
               v[HMB_H_CREATED], kind, v[HMB_H_SETL_ID],
               v[HMB_H_SETL_TIME] ? v[HMB_H_SETL_TIME] : "-",
               v[HMB_H_HOSPITAL] ? v[HMB_H_HOSPITAL] : "-",
               v[HMB_H_PLAN] ? v[HMB_H_PLAN] : "-",
               v[HMB_H_YEAR] ? v[HMB_H_YEAR] : "-",
               v[HMB_H_VER] ? v[HMB_H_VER] : "-", v[HMB_H_STAS],
               v[HMB_H_REA] && *v[HMB_H_REA] ? v[HMB_H_REA] : "-",
               hmb_money_str(c->p, apr_atoi64(v[HMB_H_PAY] ? v[HMB_H_PAY]
                                                           : "0")),
               v[HMB_H_ORIGIN] ? v[HMB_H_ORIGIN] : "-", memo);
    }
    return HMBCTL_OK;
}

/* ---- export ---------------------------------------------------------------- */

static const char *open_out(hmbctl_t *c, const char *name, FILE **f,
                            const char **path)
{
    *path = apr_pstrcat(c->p, c->out, "/", name, NULL);
    if (!(*f = fopen(*path, "w"))) {
        return apr_psprintf(c->p, "%s: cannot write", *path);
    }
    return NULL;
}

static const char *close_out(hmbctl_t *c, FILE *f, const char *path)
{
    if (ferror(f) | fclose(f)) {
        return apr_psprintf(c->p, "%s: write failed", path);
    }
    printf("wrote %s\n", path);
    return NULL;
}

int cmd_export(hmbctl_t *c)
{
    static const char *const groups[] = {
        "county", "hospital", "liability", "insurer", "day"
    };
    apr_array_header_t *prem;
    hmb_ledger_t *l;
    const char *err, *from, *to, *path;
    apr_int64_t persons = 0;
    hmb_fen_t premium = 0;
    FILE *f;
    int rc, i;

    if (!c->month || !c->plan_code || !c->out || c->args->nelts) {
        return usage("export needs --month YYYY-MM --plan-code CODE --out "
                     "DIR");
    }
    if (!c->year) {
        c->year = atoi(c->month);
    }
    from = apr_pstrcat(c->p, c->month, "-01", NULL);
    to = apr_pstrcat(c->p, c->month, "-31", NULL);  /* days are text */
    if (apr_dir_make_recursive(c->out, APR_FPROT_OS_DEFAULT, c->p)
        != APR_SUCCESS) {
        return rejected(apr_psprintf(c->p, "%s: cannot create", c->out));
    }
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    if ((err = hmb_rollup_premiums(l, c->p, c->plan_code, c->year, &prem))
        || (err = open_out(c, "enrollments.csv", &f, &path))) {
        return rejected(err);
    }
    fprintf(f, "admdvs,payer,persons,premium_fen\n");
    for (i = 0; i < prem->nelts; i++) {
        const hmb_premium_row_t *r = &APR_ARRAY_IDX(prem, i,
                                                    hmb_premium_row_t);

        fprintf(f, "%s,%s,%" APR_INT64_T_FMT ",%" APR_INT64_T_FMT "\n",
                csv_field(c->p, r->admdvs), csv_field(c->p, r->payer),
                r->persons, r->premium);
        persons += r->persons;
        premium += r->premium;
    }
    fprintf(f, "TOTAL,,%" APR_INT64_T_FMT ",%" APR_INT64_T_FMT "\n", persons,
            premium);
    if ((err = close_out(c, f, path))) {
        return rejected(err);
    }
    for (i = 0; i < (int)(sizeof(groups) / sizeof(groups[0])); i++) {
        if ((err = open_out(c, apr_pstrcat(c->p, "claims-by-", groups[i],
                                           ".csv", NULL), &f, &path))) {
            return rejected(err);
        }
        err = put_report(c, l, f, "csv", groups[i], from, to);
        if (err || (err = close_out(c, f, path))) {
            return rejected(err);
        }
    }
    return HMBCTL_OK;
}
