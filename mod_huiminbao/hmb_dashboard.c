/* The insurer's dashboard (hmb_dashboard.h): gathered from the rollups,
 * shown as HTML with inline SVG, JSON or Prometheus text. Every read is
 * one of hmb_rollup.h's, O(days x groups). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "hmb_dashboard.h"
#include "hmb_hmbinfo.h"
#include "hmb_money.h"
#include "hmb_util.h"

const apr_uint64_t hmb_dash_bucket_us[HMB_DASH_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000
};

int hmb_dash_bucket(apr_uint64_t us)
{
    int i;

    for (i = 0; i < HMB_DASH_BUCKETS - 1; i++) {
        if (us <= hmb_dash_bucket_us[i]) {
            return i;
        }
    }
    return HMB_DASH_BUCKETS - 1;
}

/* Labels in Chinese and English, in hmb_fig_e's order. */
static const struct {
    const char *zh;
    const char *en;
} hmb_fig_labels[HMB_FIG_COUNT] = {
    {"结算", "Claims"},
    {"赔付笔数", "Paid"},
    {"不符合条件", "Ineligible"},
    {"更正", "Corrections"},
    {"冲销", "Reversals"},
    {"净赔付", "Net payout"},
    {"冲回金额", "Reversed"},
    {"合规费用", "Eligible"},
    {"免赔额抵扣", "Deductible used"},
    {"达免赔额", "Deductible hits"},
    {"达封顶", "Cap hits"},
    {"延后结算", "Deferred, settled later"},
    {"柜台后赔付笔数", "Owed after the desk"},
    {"柜台后应付", "Owed after the desk, amount"},
    {"监管标记", "Flagged"}
};

static const struct {
    const char *key;
    const char *zh;
    const char *en;
} hmb_periods[HMB_PERIOD_COUNT] = {
    {"today", "今日", "Today"},
    {"month", "本月", "This month"},
    {"year", "保单年度", "Policy year"}
};

/* ---- gathering ------------------------------------------------------------ */

apr_array_header_t *hmb_dash_plans(apr_pool_t *p,
                                   const apr_array_header_t *plans,
                                   const char *code, int year)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(hmb_dash_plan_t));
    int i, j;

    for (i = 0; plans && i < plans->nelts; i++) {
        const hmb_plan_t *pl = APR_ARRAY_IDX(plans, i, const hmb_plan_t *);
        hmb_dash_plan_t *dp = NULL;

        if ((code && strcmp(code, pl->code)) || (year && year != pl->year)) {
            continue;
        }
        for (j = 0; j < out->nelts; j++) {
            hmb_dash_plan_t *o = &APR_ARRAY_IDX(out, j, hmb_dash_plan_t);

            if (!strcmp(o->code, pl->code) && o->year == pl->year) {
                dp = o;
            }
        }
        if (!dp) {
            dp = apr_array_push(out);
            memset(dp, 0, sizeof(*dp));
            dp->code = pl->code;
            dp->year = pl->year;
            dp->name = pl->name;
            dp->from = pl->from;
            dp->to = pl->to;
        }
        /* versions of a year: the widest period */
        if (strcmp(pl->from, dp->from) < 0) {
            dp->from = pl->from;
        }
        if (strcmp(pl->to, dp->to) > 0) {
            dp->to = pl->to;
        }
    }
    return out;
}

static int hmb_in(const char *day, const char *from, const char *to)
{
    return (!from || strcmp(day, from) >= 0) && (!to || strcmp(day, to) <= 0);
}

static int hmb_payout_first(const void *a, const void *b)
{
    const hmb_rollup_row_t *x = a, *y = b;
    apr_int64_t u = x->f.v[HMB_FIG_PAYOUT], v = y->f.v[HMB_FIG_PAYOUT];

    if (u != v) {
        return u > v ? -1 : 1;
    }
    return strcmp(x->grp, y->grp);
}

static const char *hmb_gather_plan(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *day, hmb_dash_plan_t *dp)
{
    static const hmb_dim_e dims[] = {
        HMB_DIM_LIABILITY, HMB_DIM_INSURER, HMB_DIM_HOSPITAL,
        HMB_DIM_COUNTY, HMB_DIM_FLAG
    };
    apr_array_header_t *prem, *recent;
    const char *err;
    int i, k;

    dp->period[HMB_PERIOD_TODAY].from = day;
    dp->period[HMB_PERIOD_TODAY].to = day;
    dp->period[HMB_PERIOD_MONTH].from = apr_pstrcat(p, apr_pstrndup(p, day, 8),
                                                    "01", NULL);
    dp->period[HMB_PERIOD_MONTH].to = day;
    dp->period[HMB_PERIOD_YEAR].from = NULL;    /* all of the plan year */
    dp->period[HMB_PERIOD_YEAR].to = NULL;

    if ((err = hmb_rollup_read(l, p, dp->code, dp->year, NULL, NULL,
                               HMB_DIM_ALL, 1, &dp->days))) {
        return err;
    }
    for (k = 0; k < HMB_PERIOD_COUNT; k++) {
        hmb_dash_period_t *pe = &dp->period[k];

        memset(&pe->f, 0, sizeof(pe->f));
        for (i = 0; i < dp->days->nelts; i++) {
            const hmb_rollup_row_t *r = &APR_ARRAY_IDX(dp->days, i,
                                                       hmb_rollup_row_t);

            if (hmb_in(r->day, pe->from, pe->to)) {
                hmb_figs_add(&pe->f, &r->f);
            }
        }
        if ((err = hmb_rollup_read(l, p, dp->code, dp->year, pe->from,
                                   pe->to, HMB_DIM_REASON, 0,
                                   &pe->reasons))) {
            return err;
        }
    }
    for (k = 0; k < (int)(sizeof(dims) / sizeof(dims[0])); k++) {
        apr_array_header_t *rows;

        if ((err = hmb_rollup_read(l, p, dp->code, dp->year, NULL, NULL,
                                   dims[k], 0, &rows))) {
            return err;
        }
        qsort(rows->elts, rows->nelts, sizeof(hmb_rollup_row_t),
              hmb_payout_first);
        dp->by[dims[k]] = rows;
    }
    if ((err = hmb_rollup_premiums(l, p, dp->code, dp->year, &prem))) {
        return err;
    }
    dp->persons = 0;
    dp->premium = 0;
    for (i = 0; i < prem->nelts; i++) {
        const hmb_premium_row_t *r = &APR_ARRAY_IDX(prem, i,
                                                    hmb_premium_row_t);

        dp->persons += r->persons;
        dp->premium += r->premium;
    }
    recent = apr_array_make(p, HMB_DASH_RECENT_DAYS, sizeof(const char *));
    for (i = 0; i < HMB_DASH_RECENT_DAYS; i++) {
        APR_ARRAY_PUSH(recent, const char *) = hmb_rollup_day_add(p, day, -i);
    }
    if ((err = hmb_rollup_largest(l, p, dp->code, dp->year, recent,
                                  HMB_DASH_LIST, &dp->largest))) {
        return err;
    }
    return hmb_rollup_flagged(l, p, dp->code, dp->year, NULL, NULL,
                              HMB_DASH_LIST, &dp->flagged);
}

const char *hmb_dash_gather(hmb_ledger_t *l, apr_pool_t *p, hmb_dash_t *d)
{
    const char *err;
    int i;

    for (i = 0; i < d->plans->nelts; i++) {
        if ((err = hmb_gather_plan(l, p, d->day,
                                   &APR_ARRAY_IDX(d->plans, i,
                                                  hmb_dash_plan_t)))) {
            return err;
        }
    }
    return NULL;
}

apr_int64_t hmb_dash_loss_ppm(hmb_fen_t payout, hmb_fen_t premium)
{
    if (premium <= 0) {
        return -1;
    }
    /* payout * 10^6 stays far inside 64 bits for any real plan */
    return (payout * 1000000 + (payout >= 0 ? premium / 2 : -premium / 2))
           / premium;
}

/* "0.123457" from millionths, "null" for none. */
static const char *hmb_ppm_str(apr_pool_t *p, apr_int64_t ppm)
{
    if (ppm < 0) {
        return "null";
    }
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%06" APR_INT64_T_FMT,
                        ppm / 1000000, ppm % 1000000);
}

static const char *hmb_ppm_percent(apr_pool_t *p, apr_int64_t ppm)
{
    if (ppm < 0) {
        return "-";
    }
    /* two decimals of a percent, rounded half up */
    ppm = (ppm + 50) / 100;
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%02" APR_INT64_T_FMT "%%",
                        ppm / 100, ppm % 100);
}

static const char *hmb_i64s(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* ---- output: pieces appended to an array, joined at the end ------------ */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
} hmb_out_t;

static void hmb_put(hmb_out_t *o, const char *s)
{
    APR_ARRAY_PUSH(o->parts, const char *) = s;
}

static void hmb_putf(hmb_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void hmb_putf(hmb_out_t *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hmb_put(o, apr_pvsprintf(o->p, fmt, ap));
    va_end(ap);
}

static hmb_out_t hmb_out(apr_pool_t *p)
{
    hmb_out_t o;

    o.p = p;
    o.parts = apr_array_make(p, 256, sizeof(const char *));
    return o;
}

static const char *hmb_joined(hmb_out_t *o)
{
    return apr_array_pstrcat(o->p, o->parts, 0);
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *hmb_js(apr_pool_t *p, const char *s)
{
    return apr_pstrcat(p, "\"", hmb_json_escape_ascii(p, s ? s : ""), "\"",
                       NULL);
}

static void hmb_json_figs(hmb_out_t *o, const hmb_figs_t *f)
{
    int k;

    for (k = 0; k < HMB_FIG_COUNT; k++) {
        hmb_putf(o, "%s\"%s\":%" APR_INT64_T_FMT, k ? "," : "",
                 hmb_fig_name((hmb_fig_e)k), f->v[k]);
    }
}

static void hmb_json_groups(hmb_out_t *o, const apr_array_header_t *rows)
{
    int i;

    hmb_put(o, "[");
    for (i = 0; rows && i < rows->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i, hmb_rollup_row_t);

        hmb_putf(o, "%s{\"group\":%s,", i ? "," : "", hmb_js(o->p, r->grp));
        hmb_json_figs(o, &r->f);
        hmb_put(o, "}");
    }
    hmb_put(o, "]");
}

static void hmb_json_claims(hmb_out_t *o, const apr_array_header_t *claims)
{
    int i;

    hmb_put(o, "[");
    for (i = 0; claims && i < claims->nelts; i++) {
        const hmb_rollup_claim_t *c = &APR_ARRAY_IDX(claims, i,
                                                     hmb_rollup_claim_t);

        hmb_putf(o, "%s{\"hmb_setl_id\":%s,\"kind\":\"%c\",\"setl_id\":%s,"
                 "\"psn_no\":%s,\"fixmedins_code\":%s,\"setl_time\":%s,"
                 "\"day\":%s,\"admdvs\":%s,\"hmb_pay_fen\":%" APR_INT64_T_FMT
                 ",\"flags\":%s}", i ? "," : "", hmb_js(o->p, c->hmb_setl_id),
                 c->kind, hmb_js(o->p, c->setl_id),
                 hmb_js(o->p, hmb_mask_psn(o->p, c->psn_no)),
                 hmb_js(o->p, c->fixmedins_code), hmb_js(o->p, c->setl_time),
                 hmb_js(o->p, c->day), hmb_js(o->p, c->admdvs), c->hmb_pay,
                 hmb_js(o->p, c->flags));
    }
    hmb_put(o, "]");
}

static void hmb_json_kv(hmb_out_t *o, const apr_array_header_t *kv,
                        int numbers)
{
    int i;

    hmb_put(o, "{");
    for (i = 0; kv && i < kv->nelts; i++) {
        const hmb_dash_kv_t *e = &APR_ARRAY_IDX(kv, i, hmb_dash_kv_t);

        hmb_putf(o, "%s%s:%s", i ? "," : "", hmb_js(o->p, e->key),
                 numbers ? e->value : hmb_js(o->p, e->value));
    }
    hmb_put(o, "}");
}

static void hmb_json_plan(hmb_out_t *o, const hmb_dash_plan_t *dp)
{
    static const struct {
        hmb_dim_e dim;
        const char *key;
    } groups[] = {
        {HMB_DIM_LIABILITY, "by_liability"}, {HMB_DIM_INSURER, "by_insurer"},
        {HMB_DIM_HOSPITAL, "by_hospital"}, {HMB_DIM_COUNTY, "by_county"},
        {HMB_DIM_FLAG, "by_flag"}
    };
    const hmb_figs_t *yf = &dp->period[HMB_PERIOD_YEAR].f;
    int i, k;

    hmb_putf(o, "{\"plan_code\":%s,\"plan_name\":%s,\"plan_year\":%d,"
             "\"from\":%s,\"to\":%s,\"enrolled\":%" APR_INT64_T_FMT ","
             "\"premium_fen\":%" APR_INT64_T_FMT ",\"loss_ratio\":%s,"
             "\"periods\":{", hmb_js(o->p, dp->code), hmb_js(o->p, dp->name),
             dp->year, hmb_js(o->p, dp->from), hmb_js(o->p, dp->to),
             dp->persons, dp->premium,
             hmb_ppm_str(o->p, hmb_dash_loss_ppm(yf->v[HMB_FIG_PAYOUT],
                                                 dp->premium)));
    for (k = 0; k < HMB_PERIOD_COUNT; k++) {
        const hmb_dash_period_t *pe = &dp->period[k];

        hmb_putf(o, "%s\"%s\":{\"from\":%s,\"to\":%s,", k ? "," : "",
                 hmb_periods[k].key, hmb_js(o->p, pe->from ? pe->from
                                                           : dp->from),
                 hmb_js(o->p, pe->to ? pe->to : dp->to));
        hmb_json_figs(o, &pe->f);
        hmb_put(o, ",\"ineligible_by_reason\":{");
        for (i = 0; i < pe->reasons->nelts; i++) {
            const hmb_rollup_row_t *r = &APR_ARRAY_IDX(pe->reasons, i,
                                                       hmb_rollup_row_t);

            hmb_putf(o, "%s%s:%" APR_INT64_T_FMT, i ? "," : "",
                     hmb_js(o->p, r->grp), r->f.v[HMB_FIG_INELIGIBLE]);
        }
        hmb_put(o, "}}");
    }
    hmb_put(o, "},\"daily\":[");
    for (i = 0; i < dp->days->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(dp->days, i,
                                                   hmb_rollup_row_t);

        hmb_putf(o, "%s{\"day\":%s,\"claims\":%" APR_INT64_T_FMT
                 ",\"reversals\":%" APR_INT64_T_FMT ",\"payout_fen\":%"
                 APR_INT64_T_FMT "}", i ? "," : "", hmb_js(o->p, r->day),
                 r->f.v[HMB_FIG_CLAIMS], r->f.v[HMB_FIG_REVERSALS],
                 r->f.v[HMB_FIG_PAYOUT]);
    }
    hmb_put(o, "]");
    for (k = 0; k < (int)(sizeof(groups) / sizeof(groups[0])); k++) {
        hmb_putf(o, ",\"%s\":", groups[k].key);
        hmb_json_groups(o, dp->by[groups[k].dim]);
    }
    hmb_put(o, ",\"largest_recent_claims\":");
    hmb_json_claims(o, dp->largest);
    hmb_put(o, ",\"flagged_claims\":");
    hmb_json_claims(o, dp->flagged);
    hmb_put(o, "}");
}

const char *hmb_dash_json(apr_pool_t *p, const hmb_dash_t *d)
{
    hmb_out_t o = hmb_out(p);
    int i;

    hmb_putf(&o, "{\"schema\":1,\"server\":%s,\"day\":%s,\"plans\":[",
             hmb_js(p, d->server), hmb_js(p, d->day));
    for (i = 0; i < d->plans->nelts; i++) {
        if (i) {
            hmb_put(&o, ",");
        }
        hmb_json_plan(&o, &APR_ARRAY_IDX(d->plans, i, hmb_dash_plan_t));
    }
    hmb_put(&o, "],\"state\":");
    hmb_json_kv(&o, d->state, 0);
    if (d->counters) {
        hmb_put(&o, ",\"counters\":");
        hmb_json_kv(&o, d->counters, 1);
    }
    if (d->hist) {
        apr_uint64_t cum = 0;

        hmb_put(&o, ",\"filter_time\":{\"buckets\":[");
        for (i = 0; i < HMB_DASH_BUCKETS; i++) {
            cum += d->hist->count[i];
            if (i < HMB_DASH_BUCKETS - 1) {
                hmb_putf(&o, "%s{\"le_us\":%" APR_UINT64_T_FMT ",\"count\":%"
                         APR_UINT64_T_FMT "}", i ? "," : "",
                         hmb_dash_bucket_us[i], cum);
            }
        }
        hmb_putf(&o, "],\"count\":%" APR_UINT64_T_FMT ",\"sum_us\":%"
                 APR_UINT64_T_FMT "}", cum, d->hist->sum_us);
    }
    hmb_put(&o, "}\n");
    return hmb_joined(&o);
}

/* ---- Prometheus text format ------------------------------------------- */

/* A label value: backslash, quote and newline escaped. */
static const char *hmb_lv(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 2 * strlen(s ? s : "") + 1), *q = out;

    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"') {
            *q++ = '\\';
            *q++ = *s;
        }
        else if (*s == '\n') {
            *q++ = '\\';
            *q++ = 'n';
        }
        else {
            *q++ = *s;
        }
    }
    *q = '\0';
    return out;
}

static void hmb_prom_head(hmb_out_t *o, const char *name, const char *type,
                          const char *help)
{
    hmb_putf(o, "# HELP huiminbao_%s %s\n# TYPE huiminbao_%s %s\n", name,
             help, name, type);
}

/* "PassErrors" -> "pass_errors" */
static const char *hmb_snake(apr_pool_t *p, const char *key)
{
    char *out = apr_palloc(p, 2 * strlen(key) + 1), *q = out;

    for (; *key; key++) {
        if (*key >= 'A' && *key <= 'Z') {
            if (q != out) {
                *q++ = '_';
            }
            *q++ = (char)(*key - 'A' + 'a');
        }
        else {
            *q++ = *key;
        }
    }
    *q = '\0';
    return out;
}

/* A value of a plan as a sample shows it, NULL for none. */
typedef const char *(*hmb_plan_value_fn)(apr_pool_t *p,
                                         const hmb_dash_plan_t *dp);

static const char *hmb_plan_persons(apr_pool_t *p, const hmb_dash_plan_t *dp)
{
    return hmb_i64s(p, dp->persons);
}

static const char *hmb_plan_premium(apr_pool_t *p, const hmb_dash_plan_t *dp)
{
    return hmb_i64s(p, dp->premium);
}

static const char *hmb_plan_loss(apr_pool_t *p, const hmb_dash_plan_t *dp)
{
    apr_int64_t ppm = hmb_dash_loss_ppm(
        dp->period[HMB_PERIOD_YEAR].f.v[HMB_FIG_PAYOUT], dp->premium);

    return ppm < 0 ? NULL : hmb_ppm_str(p, ppm);
}

/* A gauge with a sample per plan and year. */
static void hmb_prom_plans(hmb_out_t *o, const hmb_dash_t *d,
                           const char *name, const char *help,
                           hmb_plan_value_fn value)
{
    int i;

    hmb_prom_head(o, name, "gauge", help);
    for (i = 0; i < d->plans->nelts; i++) {
        const hmb_dash_plan_t *dp = &APR_ARRAY_IDX(d->plans, i,
                                                   hmb_dash_plan_t);
        const char *v = value(o->p, dp);

        if (v) {
            hmb_putf(o, "huiminbao_%s{plan=\"%s\",year=\"%d\"} %s\n", name,
                     hmb_lv(o->p, dp->code), dp->year, v);
        }
    }
}

const char *hmb_dash_prometheus(apr_pool_t *p, const hmb_dash_t *d)
{
    static const struct {
        hmb_fig_e fig;
        hmb_stas_e stas;
    } by_stas[] = {
        {HMB_FIG_PAID, HMB_STAS_PAID},
        {HMB_FIG_INELIGIBLE, HMB_STAS_INELIGIBLE},
        {HMB_FIG_REVERSALS, HMB_STAS_REVERSED}
    };
    static const struct {
        hmb_dim_e dim;
        const char *label;
    } by_group[] = {
        {HMB_DIM_LIABILITY, "liability"}, {HMB_DIM_INSURER, "insurer"}
    };
    hmb_out_t o = hmb_out(p);
    int i, j, k, g;

    hmb_prom_head(&o, "claims", "gauge", "Claims of the policy year by "
                  "decision (settlements paid or ineligible, reversals).");
    for (i = 0; i < d->plans->nelts; i++) {
        const hmb_dash_plan_t *dp = &APR_ARRAY_IDX(d->plans, i,
                                                   hmb_dash_plan_t);

        for (k = 0; k < (int)(sizeof(by_stas) / sizeof(by_stas[0])); k++) {
            hmb_putf(&o, "huiminbao_claims{plan=\"%s\",year=\"%d\","
                     "stas=\"%s\"} %" APR_INT64_T_FMT "\n",
                     hmb_lv(p, dp->code), dp->year,
                     hmb_stas_name(by_stas[k].stas),
                     dp->period[HMB_PERIOD_YEAR].f.v[by_stas[k].fig]);
        }
    }
    for (k = 0; k < HMB_FIG_COUNT; k++) {
        hmb_prom_head(&o, apr_pstrcat(p, "year_", hmb_fig_name((hmb_fig_e)k),
                                      NULL), "gauge",
                      apr_pstrcat(p, hmb_fig_labels[k].en, " in the policy "
                                  "year", hmb_fig_is_money((hmb_fig_e)k)
                                  ? " (fen)." : ".", NULL));
        for (i = 0; i < d->plans->nelts; i++) {
            const hmb_dash_plan_t *dp = &APR_ARRAY_IDX(d->plans, i,
                                                       hmb_dash_plan_t);

            hmb_putf(&o, "huiminbao_year_%s{plan=\"%s\",year=\"%d\"} %"
                     APR_INT64_T_FMT "\n", hmb_fig_name((hmb_fig_e)k),
                     hmb_lv(p, dp->code), dp->year,
                     dp->period[HMB_PERIOD_YEAR].f.v[k]);
        }
    }
    for (g = 0; g < (int)(sizeof(by_group) / sizeof(by_group[0])); g++) {
        static const hmb_fig_e figs[] = {
            HMB_FIG_CLAIMS, HMB_FIG_REVERSALS, HMB_FIG_PAYOUT, HMB_FIG_ELIG
        };

        for (k = 0; k < (int)(sizeof(figs) / sizeof(figs[0])); k++) {
            const char *name = apr_pstrcat(p, by_group[g].label, "_",
                                           hmb_fig_name(figs[k]), NULL);

            hmb_prom_head(&o, name, "gauge", apr_pstrcat(p,
                          hmb_fig_labels[figs[k]].en, " in the policy year "
                          "by ", by_group[g].label,
                          hmb_fig_is_money(figs[k]) ? " (fen)." : ".", NULL));
            for (i = 0; i < d->plans->nelts; i++) {
                const hmb_dash_plan_t *dp = &APR_ARRAY_IDX(d->plans, i,
                                                           hmb_dash_plan_t);
                const apr_array_header_t *rows = dp->by[by_group[g].dim];

                for (j = 0; rows && j < rows->nelts; j++) {
                    const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, j,
                                                          hmb_rollup_row_t);

                    hmb_putf(&o, "huiminbao_%s{plan=\"%s\",year=\"%d\","
                             "%s=\"%s\"} %" APR_INT64_T_FMT "\n", name,
                             hmb_lv(p, dp->code), dp->year,
                             by_group[g].label, hmb_lv(p, r->grp),
                             r->f.v[figs[k]]);
                }
            }
        }
    }
    hmb_prom_plans(&o, d, "enrolled_persons", "Persons enrolled.",
                   hmb_plan_persons);
    hmb_prom_plans(&o, d, "premium_fen", "Premiums of the enrollments (fen).",
                   hmb_plan_premium);
    hmb_prom_plans(&o, d, "loss_ratio", "Net payouts of the policy year "
                   "divided by premiums (absent without premiums).",
                   hmb_plan_loss);
    for (i = 0; d->counters && i < d->counters->nelts; i++) {
        const hmb_dash_kv_t *e = &APR_ARRAY_IDX(d->counters, i,
                                                hmb_dash_kv_t);
        const char *name = apr_pstrcat(p, "filter_", hmb_snake(p, e->key),
                                       "_total", NULL);
        const char *help = e->label + strspn(e->label, " ");

        hmb_prom_head(&o, name, "counter", apr_pstrcat(p, help, ", all "
                      "children since the counters were made.", NULL));
        hmb_putf(&o, "huiminbao_%s %s\n", name, e->value);
    }
    if (d->hist) {
        apr_uint64_t cum = 0;

        hmb_prom_head(&o, "filter_duration_seconds", "histogram", "Time the "
                      "filter adds to a response it settles, all children.");
        for (i = 0; i < HMB_DASH_BUCKETS; i++) {
            cum += d->hist->count[i];
            if (i < HMB_DASH_BUCKETS - 1) {
                hmb_putf(&o, "huiminbao_filter_duration_seconds_bucket"
                         "{le=\"%" APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT
                         "\"} %" APR_UINT64_T_FMT "\n",
                         hmb_dash_bucket_us[i] / 1000000,
                         hmb_dash_bucket_us[i] % 1000000, cum);
            }
        }
        hmb_putf(&o, "huiminbao_filter_duration_seconds_bucket{le=\"+Inf\"} %"
                 APR_UINT64_T_FMT "\nhuiminbao_filter_duration_seconds_sum %"
                 APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT
                 "\nhuiminbao_filter_duration_seconds_count %" APR_UINT64_T_FMT
                 "\n", cum, d->hist->sum_us / 1000000,
                 d->hist->sum_us % 1000000, cum);
    }
    for (i = 0; d->state && i < d->state->nelts; i++) {
        const hmb_dash_kv_t *e = &APR_ARRAY_IDX(d->state, i, hmb_dash_kv_t);

        if (!strcmp(e->key, "SpoolPending") || !strcmp(e->key, "Owed")) {
            const char *name = hmb_snake(p, e->key);

            hmb_prom_head(&o, name, "gauge", apr_pstrcat(p, e->label,
                          " (-1: unknown).", NULL));
            hmb_putf(&o, "huiminbao_%s %s\n", name, e->value);
        }
        else if (!strcmp(e->key, "LedgerState")) {
            hmb_prom_head(&o, "ledger_up", "gauge", "1 when the last child to "
                          "start found the ledger writable.");
            hmb_putf(&o, "huiminbao_ledger_up %d\n",
                     !strncmp(e->value, "ok", 2));
        }
    }
    hmb_put(&o, "# EOF\n");
    return hmb_joined(&o);
}

/* ---- HTML --------------------------------------------------------------- */

static const char *hmb_h(apr_pool_t *p, const char *s)
{
    return hmb_xml_escape_ascii(p, s ? s : "");
}

/* A figure as shown: yuan for money. */
static const char *hmb_fig_show(apr_pool_t *p, hmb_fig_e k, apr_int64_t v)
{
    return hmb_fig_is_money(k) ? hmb_money_str(p, v) : hmb_i64s(p, v);
}

/* The id of a figure's cell: what a program reads back from the page. */
static const char *hmb_cell_id(apr_pool_t *p, const hmb_dash_plan_t *dp,
                               const char *what, const char *fig)
{
    return apr_psprintf(p, "%s-%d-%s-%s", hmb_h(p, dp->code), dp->year, what,
                        fig);
}

static void hmb_html_periods(hmb_out_t *o, const hmb_dash_plan_t *dp)
{
    static const hmb_fig_e shown[] = {
        HMB_FIG_CLAIMS, HMB_FIG_PAID, HMB_FIG_INELIGIBLE, HMB_FIG_REVERSALS,
        HMB_FIG_CORRECTIONS, HMB_FIG_PAYOUT, HMB_FIG_REVERSED, HMB_FIG_ELIG,
        HMB_FIG_DEDC, HMB_FIG_DEDC_HITS, HMB_FIG_CAP_HITS, HMB_FIG_REPLAYED,
        HMB_FIG_OWED_CLAIMS, HMB_FIG_OWED, HMB_FIG_FLAGGED
    };
    int i, k;

    hmb_put(o, "<table class=\"fig\"><tr><th></th>");
    for (k = 0; k < HMB_PERIOD_COUNT; k++) {
        const hmb_dash_period_t *pe = &dp->period[k];

        hmb_putf(o, "<th>%s %s<br><small>%s – %s</small></th>",
                 hmb_periods[k].zh, hmb_periods[k].en,
                 hmb_h(o->p, pe->from ? pe->from : dp->from),
                 hmb_h(o->p, pe->to ? pe->to : dp->to));
    }
    hmb_put(o, "</tr>\n");
    for (i = 0; i < (int)(sizeof(shown) / sizeof(shown[0])); i++) {
        hmb_fig_e f = shown[i];

        hmb_putf(o, "<tr><th>%s %s%s</th>", hmb_fig_labels[f].zh,
                 hmb_fig_labels[f].en, hmb_fig_is_money(f) ? " (元 yuan)"
                                                           : "");
        for (k = 0; k < HMB_PERIOD_COUNT; k++) {
            apr_int64_t v = dp->period[k].f.v[f];

            hmb_putf(o, "<td id=\"%s\" data-v=\"%" APR_INT64_T_FMT "\">%s"
                     "</td>", hmb_cell_id(o->p, dp, hmb_periods[k].key,
                                          hmb_fig_name(f)),
                     v, hmb_fig_show(o->p, f, v));
        }
        hmb_put(o, "</tr>\n");
    }
    hmb_put(o, "<tr><th>不符合条件原因 Ineligible by reason</th>");
    for (k = 0; k < HMB_PERIOD_COUNT; k++) {
        const apr_array_header_t *rs = dp->period[k].reasons;

        hmb_put(o, "<td>");
        for (i = 0; i < rs->nelts; i++) {
            const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rs, i,
                                                       hmb_rollup_row_t);

            hmb_putf(o, "%s%s: %" APR_INT64_T_FMT, i ? "<br>" : "",
                     hmb_h(o->p, r->grp), r->f.v[HMB_FIG_INELIGIBLE]);
        }
        hmb_put(o, rs->nelts ? "</td>" : "-</td>");
    }
    hmb_put(o, "</tr>\n</table>\n");
}

#define HMB_CHART_W 720
#define HMB_CHART_H 160

/* The days the daily chart shows: the plan's period up to the day shown,
 * widened to the days claims were recorded on (a replay after the end of
 * the period), the last HMB_CHART_DAYS of that. */
#define HMB_CHART_DAYS 400

static void hmb_chart_days(apr_pool_t *p, const hmb_dash_plan_t *dp,
                           const char *day, const char **from, int *n)
{
    const char *lo = dp->from, *hi = strcmp(day, dp->to) < 0 ? day : dp->to;
    const char *d;
    int k;

    if (dp->days->nelts) {
        const char *first = APR_ARRAY_IDX(dp->days, 0, hmb_rollup_row_t).day;
        const char *last = APR_ARRAY_IDX(dp->days, dp->days->nelts - 1,
                                         hmb_rollup_row_t).day;

        lo = strcmp(first, lo) < 0 ? first : lo;
        hi = strcmp(last, hi) > 0 ? last : hi;
    }
    if (strcmp(hi, lo) < 0) {
        hi = lo;
    }
    /* walk back from the last day: at most HMB_CHART_DAYS */
    for (k = 1, d = hi; k < HMB_CHART_DAYS && strcmp(d, lo) > 0; k++) {
        d = hmb_rollup_day_add(p, d, -1);
    }
    *from = d;
    *n = k;
}

/* Net payout per day, a bar a day. */
static void hmb_html_daily(hmb_out_t *o, const hmb_dash_plan_t *dp,
                           const char *day)
{
    apr_hash_t *at = apr_hash_make(o->p);
    apr_int64_t max = 1;
    const char *d, *from;
    int i, n;
    double bw;

    for (i = 0; i < dp->days->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(dp->days, i,
                                                   hmb_rollup_row_t);

        apr_hash_set(at, r->day, APR_HASH_KEY_STRING, r);
        if (r->f.v[HMB_FIG_PAYOUT] > max) {
            max = r->f.v[HMB_FIG_PAYOUT];
        }
    }
    hmb_chart_days(o->p, dp, day, &from, &n);
    bw = (double)HMB_CHART_W / n;
    hmb_putf(o, "<div><h3>每日赔付 Daily net payouts (元 yuan), %s – %s</h3>\n"
             "<svg class=\"chart\" id=\"%s\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" "
             "role=\"img\"><title>每日赔付 Daily net payouts, max %s</title>"
             "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>",
             hmb_h(o->p, from), hmb_h(o->p, hmb_rollup_day_add(o->p, from,
                                                               n - 1)),
             hmb_cell_id(o->p, dp, "chart", "daily"), HMB_CHART_W,
             HMB_CHART_H + 20, HMB_CHART_W, HMB_CHART_H + 20,
             hmb_money_str(o->p, max), HMB_CHART_H, HMB_CHART_W, HMB_CHART_H);
    for (i = 0, d = from; i < n; i++, d = hmb_rollup_day_add(o->p, d, 1)) {
        const hmb_rollup_row_t *r = apr_hash_get(at, d, APR_HASH_KEY_STRING);
        apr_int64_t v = r ? r->f.v[HMB_FIG_PAYOUT] : 0;
        double h = v > 0 ? (double)v * HMB_CHART_H / (double)max : 0;

        if (!strcmp(d + 8, "01")) {
            hmb_putf(o, "<text x=\"%.1f\" y=\"%d\" class=\"tick\">%.5s"
                     "</text>", i * bw, HMB_CHART_H + 14, d + 2);
        }
        if (!r) {
            continue;
        }
        /* at least a pixel wide, so that a single day shows */
        hmb_putf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                 "height=\"%.2f\" class=\"bar\"><title>%s: %s</title></rect>",
                 i * bw, HMB_CHART_H - h, bw > 2 ? bw - 0.5 : 1.5, h,
                 hmb_h(o->p, d), hmb_money_str(o->p, v));
    }
    hmb_put(o, "</svg></div>\n");
}

/* Horizontal bars of net payout by group (the largest first). */
static void hmb_html_bars(hmb_out_t *o, const hmb_dash_plan_t *dp,
                          hmb_dim_e dim, const char *zh, const char *en)
{
    const apr_array_header_t *rows = dp->by[dim];
    int i, n = rows->nelts < HMB_DASH_TOP ? rows->nelts : HMB_DASH_TOP;
    apr_int64_t max = 1;

    for (i = 0; i < n; i++) {
        apr_int64_t v = APR_ARRAY_IDX(rows, i, hmb_rollup_row_t)
                            .f.v[HMB_FIG_PAYOUT];

        if (v > max) {
            max = v;
        }
    }
    hmb_putf(o, "<div class=\"bars\"><h3>%s %s (元 yuan)</h3>\n<svg "
             "class=\"chart\" id=\"%s\" width=\"360\" height=\"%d\" "
             "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">"
             "<title>%s %s</title>", zh, en,
             hmb_cell_id(o->p, dp, "chart", hmb_dim_name(dim)),
             n * 24 + 4, zh, en);
    for (i = 0; i < n; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i, hmb_rollup_row_t);
        apr_int64_t v = r->f.v[HMB_FIG_PAYOUT];
        double w = v > 0 ? (double)v * 200 / (double)max : 0;

        hmb_putf(o, "<text x=\"0\" y=\"%d\" class=\"lbl\">%s</text>"
                 "<rect x=\"90\" y=\"%d\" width=\"%.1f\" height=\"18\" "
                 "class=\"bar\"/><text x=\"%.1f\" y=\"%d\" class=\"lbl\">%s"
                 "</text>", i * 24 + 16, hmb_h(o->p, r->grp[0] ? r->grp
                                                               : "-"),
                 i * 24 + 3, w, 94 + w, i * 24 + 16,
                 hmb_money_str(o->p, v));
    }
    hmb_put(o, "</svg></div>\n");
}

static void hmb_html_top(hmb_out_t *o, const hmb_dash_plan_t *dp,
                         hmb_dim_e dim, const char *zh, const char *en)
{
    const apr_array_header_t *rows = dp->by[dim];
    int i;

    hmb_putf(o, "<div class=\"top\"><h3>%s %s</h3><table id=\"%s\"><tr>"
             "<th>%s</th><th>结算 Claims</th><th>冲销 Reversals</th>"
             "<th>净赔付 Net payout</th></tr>\n", zh, en,
             hmb_cell_id(o->p, dp, "top", hmb_dim_name(dim)), en);
    for (i = 0; i < rows->nelts && i < HMB_DASH_TOP; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i, hmb_rollup_row_t);

        hmb_putf(o, "<tr><td>%s</td><td>%" APR_INT64_T_FMT "</td><td>%"
                 APR_INT64_T_FMT "</td><td data-v=\"%" APR_INT64_T_FMT "\">%s"
                 "</td></tr>\n", hmb_h(o->p, r->grp[0] ? r->grp : "-"),
                 r->f.v[HMB_FIG_CLAIMS], r->f.v[HMB_FIG_REVERSALS],
                 r->f.v[HMB_FIG_PAYOUT],
                 hmb_money_str(o->p, r->f.v[HMB_FIG_PAYOUT]));
    }
    hmb_put(o, "</table></div>\n");
}

static void hmb_html_claims(hmb_out_t *o, const hmb_dash_plan_t *dp,
                            const apr_array_header_t *claims, const char *id,
                            const char *zh, const char *en)
{
    int i;

    hmb_putf(o, "<h3>%s %s</h3><table id=\"%s\"><tr><th>hmb_setl_id</th>"
             "<th>setl_id</th><th>参保人 psn_no</th><th>医院 Hospital</th>"
             "<th>区县 County</th><th>结算时间 Settled</th>"
             "<th>赔付 Payout</th><th>标记 Flags</th></tr>\n", zh, en,
             hmb_cell_id(o->p, dp, "list", id));
    for (i = 0; i < claims->nelts; i++) {
        const hmb_rollup_claim_t *c = &APR_ARRAY_IDX(claims, i,
                                                     hmb_rollup_claim_t);

        hmb_putf(o, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                 "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                 hmb_h(o->p, c->hmb_setl_id), hmb_h(o->p, c->setl_id),
                 hmb_h(o->p, hmb_mask_psn(o->p, c->psn_no)),
                 hmb_h(o->p, c->fixmedins_code), hmb_h(o->p, c->admdvs),
                 hmb_h(o->p, c->setl_time), hmb_money_str(o->p, c->hmb_pay),
                 hmb_h(o->p, c->flags));
    }
    if (!claims->nelts) {
        hmb_put(o, "<tr><td colspan=\"8\">无 none</td></tr>\n");
    }
    hmb_put(o, "</table>\n");
}

static void hmb_html_plan(hmb_out_t *o, const hmb_dash_plan_t *dp,
                          const char *day)
{
    const hmb_figs_t *yf = &dp->period[HMB_PERIOD_YEAR].f;
    apr_int64_t ppm = hmb_dash_loss_ppm(yf->v[HMB_FIG_PAYOUT], dp->premium);

    hmb_putf(o, "<section id=\"%s-%d\"><h2>%s %s %d <small>%s – %s"
             "</small></h2>\n<div class=\"tiles\">"
             "<div><b id=\"%s\" data-v=\"%" APR_INT64_T_FMT "\">%s</b>"
             "参保人数 Enrolled</div>"
             "<div><b id=\"%s\" data-v=\"%" APR_INT64_T_FMT "\">%s</b>"
             "保费 Premiums (元)</div>"
             "<div><b id=\"%s\" data-v=\"%" APR_INT64_T_FMT "\">%s</b>"
             "年度净赔付 Net payouts (元)</div>"
             "<div><b id=\"%s\" data-v=\"%s\">%s</b>"
             "赔付率 Loss ratio</div></div>\n",
             hmb_h(o->p, dp->code), dp->year, hmb_h(o->p, dp->name),
             hmb_h(o->p, dp->code), dp->year, hmb_h(o->p, dp->from),
             hmb_h(o->p, dp->to),
             hmb_cell_id(o->p, dp, "plan", "enrolled"), dp->persons,
             hmb_i64s(o->p, dp->persons),
             hmb_cell_id(o->p, dp, "plan", "premium_fen"), dp->premium,
             hmb_money_str(o->p, dp->premium),
             hmb_cell_id(o->p, dp, "plan", "payout_fen"),
             yf->v[HMB_FIG_PAYOUT], hmb_money_str(o->p, yf->v[HMB_FIG_PAYOUT]),
             hmb_cell_id(o->p, dp, "plan", "loss_ratio"),
             hmb_ppm_str(o->p, ppm), hmb_ppm_percent(o->p, ppm));
    hmb_html_periods(o, dp);
    hmb_html_daily(o, dp, day);
    hmb_html_bars(o, dp, HMB_DIM_LIABILITY, "按责任赔付", "Payouts by liability");
    hmb_html_bars(o, dp, HMB_DIM_INSURER, "按承保公司赔付",
                  "Payouts by co-insurer");
    hmb_put(o, "<div class=\"row\">");
    hmb_html_top(o, dp, HMB_DIM_HOSPITAL, "赔付最多的医院", "Top hospitals");
    hmb_html_top(o, dp, HMB_DIM_COUNTY, "赔付最多的区县", "Top counties");
    hmb_put(o, "</div>\n");
    hmb_html_claims(o, dp, dp->largest, "largest",
                    "近期最大赔付", "Largest claims of the last 7 days");
    hmb_html_claims(o, dp, dp->flagged, "flagged", "监管标记的结算",
                    "Flagged claims");
    hmb_put(o, "</section>\n");
}

const char *hmb_dash_html(apr_pool_t *p, const hmb_dash_t *d)
{
    hmb_out_t o = hmb_out(p);
    int i;

    hmb_putf(&o, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head>"
             "<meta charset=\"utf-8\"><title>惠民保看板 Huiminbao dashboard: "
             "%s</title><style>\n"
             "body{font-family:sans-serif;margin:1em 2em;color:#222}"
             "h2{border-bottom:2px solid #c33;padding-bottom:.2em}"
             "small{color:#666;font-weight:normal}"
             "table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
             "th{background:#f4f4f4;text-align:left}"
             ".tiles{display:flex;gap:1em}.tiles div{border:1px solid #ccc;"
             "padding:.5em 1em;min-width:10em}.tiles b{display:block;"
             "font-size:1.6em;color:#c33}"
             ".bars,.top{display:inline-block;vertical-align:top;"
             "margin-right:2em}"
             ".bar{fill:#c33}.axis{stroke:#888}.tick,.lbl{font-size:11px;"
             "fill:#333}\n</style></head><body>\n"
             "<h1>惠民保看板 Huiminbao dashboard</h1>\n<p>%s · 截至 as of "
             "<span id=\"day\">%s</span></p>\n", hmb_h(p, d->server),
             hmb_h(p, d->server), hmb_h(p, d->day));
    for (i = 0; i < d->plans->nelts; i++) {
        hmb_html_plan(&o, &APR_ARRAY_IDX(d->plans, i, hmb_dash_plan_t),
                      d->day);
    }
    if (!d->plans->nelts) {
        hmb_put(&o, "<p>未加载方案 No plan loaded (HuiminbaoPlan).</p>\n");
    }
    hmb_put(&o, "<h2>账本与暂存 Ledger and spool</h2><table id=\"state\">");
    for (i = 0; d->state && i < d->state->nelts; i++) {
        const hmb_dash_kv_t *e = &APR_ARRAY_IDX(d->state, i, hmb_dash_kv_t);

        hmb_putf(&o, "<tr><th>%s</th><td id=\"state-%s\">%s</td></tr>\n",
                 hmb_h(p, e->label), hmb_h(p, e->key), hmb_h(p, e->value));
    }
    hmb_put(&o, "</table>\n");
    if (d->counters) {
        hmb_put(&o, "<h2>过滤器计数 Filter counters (all children)</h2>"
                "<table id=\"counters\">");
        for (i = 0; i < d->counters->nelts; i++) {
            const hmb_dash_kv_t *e = &APR_ARRAY_IDX(d->counters, i,
                                                    hmb_dash_kv_t);

            hmb_putf(&o, "<tr><th>%s</th><td id=\"counter-%s\">%s</td>"
                     "</tr>\n", hmb_h(p, e->label), hmb_h(p, e->key),
                     hmb_h(p, e->value));
        }
        hmb_put(&o, "</table>\n");
    }
    hmb_put(&o, "<p><a href=\"?format=json\">JSON</a> · "
            "<a href=\"?format=prometheus\">Prometheus</a> · "
            "<a href=\"?format=text\">text</a></p>\n</body></html>\n");
    return hmb_joined(&o);
}
