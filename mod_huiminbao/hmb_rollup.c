/* What one claim adds to the rollups, and local days: pure, so that the
 * hook that keeps the rollups and the rebuild that recomputes them from
 * the claims cannot count differently. */
#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_rollup.h"

static const struct {
    const char *name;
    int money;
} hmb_figs[HMB_FIG_COUNT] = {
    {"claims", 0},
    {"paid", 0},
    {"ineligible", 0},
    {"corrections", 0},
    {"reversals", 0},
    {"payout_fen", 1},
    {"reversed_fen", 1},
    {"elig_fen", 1},
    {"dedc_fen", 1},
    {"dedc_hits", 0},
    {"cap_hits", 0},
    {"replayed", 0},
    {"owed_claims", 0},
    {"owed_fen", 1},
    {"flagged", 0}
};

static const char *const hmb_dims[HMB_DIM_COUNT] = {
    "all", "hospital", "county", "liability", "insurer", "reason", "flag"
};

const char *hmb_fig_name(hmb_fig_e f)
{
    return (int)f >= 0 && f < HMB_FIG_COUNT ? hmb_figs[f].name : "?";
}

int hmb_fig_is_money(hmb_fig_e f)
{
    return (int)f >= 0 && f < HMB_FIG_COUNT && hmb_figs[f].money;
}

void hmb_figs_add(hmb_figs_t *to, const hmb_figs_t *from)
{
    int i;

    for (i = 0; i < HMB_FIG_COUNT; i++) {
        to->v[i] += from->v[i];
    }
}

const char *hmb_dim_name(hmb_dim_e d)
{
    return (int)d >= 0 && d < HMB_DIM_COUNT ? hmb_dims[d] : "?";
}

int hmb_dim_parse(const char *name, hmb_dim_e *d)
{
    int i;

    for (i = 0; name && i < HMB_DIM_COUNT; i++) {
        if (!strcmp(name, hmb_dims[i])) {
            *d = (hmb_dim_e)i;
            return 1;
        }
    }
    return 0;
}

/* ---- local days ---------------------------------------------------------- */

const char *hmb_rollup_offset_parse(const char *s, int *minutes)
{
    int sign = 1, h = 0, m = 0;

    if (!s || !*s) {
        return "an offset from UTC such as +08:00";
    }
    if (!strcmp(s, "0") || !strcmp(s, "Z")) {
        *minutes = 0;
        return NULL;
    }
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    else {
        return "an offset from UTC with its sign, such as +08:00";
    }
    if (!apr_isdigit(s[0]) || !apr_isdigit(s[1])
        || (s[2] && (s[2] != ':' || !apr_isdigit(s[3])
                     || !apr_isdigit(s[4]) || s[5]))) {
        return "an offset from UTC as +HH:MM, such as +08:00";
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    if (s[2]) {
        m = (s[3] - '0') * 10 + (s[4] - '0');
    }
    if (m > 59 || h * 60 + m > (sign > 0 ? 14 * 60 : 12 * 60)) {
        return "an offset from UTC from -12:00 to +14:00";
    }
    *minutes = sign * (h * 60 + m);
    return NULL;
}

const char *hmb_rollup_day_of(apr_pool_t *p, apr_time_t t, int offset_min)
{
    apr_time_exp_t e;

    apr_time_exp_gmt(&e, t + apr_time_from_sec((apr_time_t)offset_min * 60));
    return apr_psprintf(p, "%04d-%02d-%02d", e.tm_year + 1900, e.tm_mon + 1,
                        e.tm_mday);
}

/* Digits of s[at..at+n) as a number, -1 when they are not all digits. */
static int hmb_digits(const char *s, int at, int n)
{
    int v = 0, i;

    for (i = at; i < at + n; i++) {
        if (!apr_isdigit(s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

const char *hmb_rollup_day(apr_pool_t *p, const char *created_at,
                           int offset_min)
{
    apr_time_exp_t e;
    apr_time_t t;

    /* "YYYY-MM-DDTHH:MM:SSZ" */
    if (!created_at || strlen(created_at) != 20 || created_at[4] != '-'
        || created_at[7] != '-' || created_at[10] != 'T'
        || created_at[13] != ':' || created_at[16] != ':'
        || created_at[19] != 'Z') {
        return NULL;
    }
    memset(&e, 0, sizeof(e));
    e.tm_year = hmb_digits(created_at, 0, 4) - 1900;
    e.tm_mon = hmb_digits(created_at, 5, 2) - 1;
    e.tm_mday = hmb_digits(created_at, 8, 2);
    e.tm_hour = hmb_digits(created_at, 11, 2);
    e.tm_min = hmb_digits(created_at, 14, 2);
    e.tm_sec = hmb_digits(created_at, 17, 2);
    if (e.tm_year < 0 || e.tm_mon < 0 || e.tm_mon > 11 || e.tm_mday < 1
        || e.tm_mday > 31 || e.tm_hour < 0 || e.tm_hour > 23 || e.tm_min < 0
        || e.tm_min > 59 || e.tm_sec < 0 || e.tm_sec > 60
        || apr_time_exp_gmt_get(&t, &e) != APR_SUCCESS) {
        return NULL;
    }
    return hmb_rollup_day_of(p, t, offset_min);
}

const char *hmb_rollup_day_add(apr_pool_t *p, const char *day, int n)
{
    apr_time_exp_t e;
    apr_time_t t;

    memset(&e, 0, sizeof(e));
    e.tm_year = atoi(day) - 1900;
    e.tm_mon = atoi(day + 5) - 1;
    e.tm_mday = atoi(day + 8);
    e.tm_hour = 12;
    apr_time_exp_gmt_get(&t, &e);
    return hmb_rollup_day_of(p, t + apr_time_from_sec((apr_time_t)n * 86400),
                             0);
}

/* ---- what one claim adds ------------------------------------------------- */

int hmb_rollup_counts(const hmb_claim_t *c)
{
    return c->kind == 'S' || c->kind == 'C' || c->kind == 'R';
}

/* The count that says what kind of claim a row comes from. */
static void hmb_kind_count(const hmb_claim_t *c, hmb_figs_t *f)
{
    switch (c->kind) {
    case 'S':
        f->v[HMB_FIG_CLAIMS] = 1;
        f->v[HMB_FIG_PAID] = c->stas == HMB_STAS_PAID;
        f->v[HMB_FIG_INELIGIBLE] = c->stas == HMB_STAS_INELIGIBLE;
        break;
    case 'C':
        f->v[HMB_FIG_CORRECTIONS] = 1;
        break;
    default:
        f->v[HMB_FIG_REVERSALS] = 1;
        break;
    }
}

/* A liability's own figures: amounts, and for settlements and
 * corrections whether its deductible or a cap held it back. */
static void hmb_liab_figs(const hmb_claim_t *c, const hmb_claim_liab_t *r,
                          hmb_figs_t *f)
{
    memset(f, 0, sizeof(*f));
    hmb_kind_count(c, f);
    f->v[HMB_FIG_PAYOUT] = r->pay_amt;
    f->v[HMB_FIG_ELIG] = r->elig_amt;
    f->v[HMB_FIG_DEDC] = r->dedc_amt;
    if (c->kind == 'R') {
        f->v[HMB_FIG_REVERSED] = -r->pay_amt;
        return;
    }
    f->v[HMB_FIG_DEDC_HITS] = r->dedc_amt > 0;
    f->v[HMB_FIG_CAP_HITS] = r->pay_amt
        < hmb_money_apply_ratio(r->elig_amt - r->dedc_amt, r->pay_prop);
}

static void hmb_push(apr_array_header_t *rows, const hmb_claim_t *c,
                     const hmb_rollup_ctx_t *x, hmb_dim_e dim,
                     const char *grp, const hmb_figs_t *f)
{
    hmb_rollup_row_t *r = apr_array_push(rows);

    r->plan_code = c->plan_code ? c->plan_code : "";
    r->plan_year = c->plan_year;
    r->day = x->day;
    r->dim = dim;
    r->grp = grp ? grp : "";
    r->f = *f;
}

static int hmb_row_cmp(const void *a, const void *b)
{
    const hmb_rollup_row_t *x = a, *y = b;

    if (x->dim != y->dim) {
        return x->dim < y->dim ? -1 : 1;
    }
    return strcmp(x->grp, y->grp);
}

apr_array_header_t *hmb_rollup_rows(apr_pool_t *p, const hmb_claim_t *c,
                                    const hmb_rollup_ctx_t *x)
{
    apr_array_header_t *rows = apr_array_make(p, 12,
                                              sizeof(hmb_rollup_row_t));
    hmb_figs_t cf, lf;
    int nl = c->liabs ? c->liabs->nelts : 0, i, out;

    if (!hmb_rollup_counts(c)) {
        return rows;
    }
    /* the claim as a whole */
    memset(&cf, 0, sizeof(cf));
    hmb_kind_count(c, &cf);
    cf.v[HMB_FIG_PAYOUT] = c->hmb_pay;
    for (i = 0; i < nl; i++) {
        hmb_liab_figs(c, &APR_ARRAY_IDX(c->liabs, i, hmb_claim_liab_t), &lf);
        cf.v[HMB_FIG_ELIG] += lf.v[HMB_FIG_ELIG];
        cf.v[HMB_FIG_DEDC] += lf.v[HMB_FIG_DEDC];
        cf.v[HMB_FIG_DEDC_HITS] += lf.v[HMB_FIG_DEDC_HITS];
        cf.v[HMB_FIG_CAP_HITS] += lf.v[HMB_FIG_CAP_HITS];
    }
    if (c->kind == 'R') {
        cf.v[HMB_FIG_REVERSED] = -c->hmb_pay;
        /* what was owed is owed no more */
        if (x->reversed_origin && strcmp(x->reversed_origin, "desk")
            && c->hmb_pay) {
            cf.v[HMB_FIG_OWED_CLAIMS] = -1;
            cf.v[HMB_FIG_OWED] = c->hmb_pay;
        }
    }
    else {
        const char *origin = c->origin ? c->origin : "desk";

        cf.v[HMB_FIG_REPLAYED] = c->kind == 'S' && !strcmp(origin, "replay");
        if (strcmp(origin, "desk") && c->hmb_pay) {
            cf.v[HMB_FIG_OWED_CLAIMS] = 1;
            cf.v[HMB_FIG_OWED] = c->hmb_pay;
        }
        cf.v[HMB_FIG_FLAGGED] = x->flags && *x->flags;
    }
    hmb_push(rows, c, x, HMB_DIM_ALL, "", &cf);
    hmb_push(rows, c, x, HMB_DIM_HOSPITAL, c->fixmedins_code, &cf);
    hmb_push(rows, c, x, HMB_DIM_COUNTY, x->admdvs, &cf);
    if (c->kind == 'S' && c->stas == HMB_STAS_INELIGIBLE) {
        hmb_push(rows, c, x, HMB_DIM_REASON, hmb_rea_name(c->rea), &cf);
    }
    if (c->kind != 'R' && x->flags && *x->flags) {
        char *copy = apr_pstrdup(p, x->flags), *save = NULL, *flag;

        for (flag = apr_strtok(copy, ",", &save); flag;
             flag = apr_strtok(NULL, ",", &save)) {
            hmb_push(rows, c, x, HMB_DIM_FLAG, flag, &cf);
        }
    }
    for (i = 0; i < nl; i++) {
        const hmb_claim_liab_t *r = &APR_ARRAY_IDX(c->liabs, i,
                                                   hmb_claim_liab_t);
        hmb_liab_figs(c, r, &lf);
        hmb_push(rows, c, x, HMB_DIM_LIABILITY, r->liab_code, &lf);
    }
    for (i = 0; c->insurers && i < c->insurers->nelts; i++) {
        const hmb_insurer_result_t *r = &APR_ARRAY_IDX(c->insurers, i,
                                                       hmb_insurer_result_t);
        memset(&lf, 0, sizeof(lf));
        hmb_kind_count(c, &lf);
        lf.v[HMB_FIG_PAYOUT] = r->pay_amt;
        if (c->kind == 'R') {
            lf.v[HMB_FIG_REVERSED] = -r->pay_amt;
        }
        hmb_push(rows, c, x, HMB_DIM_INSURER, r->insurer_code, &lf);
    }
    /* one row per key, in key order */
    qsort(rows->elts, rows->nelts, sizeof(hmb_rollup_row_t), hmb_row_cmp);
    for (i = 1, out = 0; i < rows->nelts; i++) {
        hmb_rollup_row_t *a = &APR_ARRAY_IDX(rows, out, hmb_rollup_row_t);
        hmb_rollup_row_t *b = &APR_ARRAY_IDX(rows, i, hmb_rollup_row_t);

        if (hmb_row_cmp(a, b) == 0) {
            hmb_figs_add(&a->f, &b->f);
        }
        else {
            APR_ARRAY_IDX(rows, ++out, hmb_rollup_row_t) = *b;
        }
    }
    if (rows->nelts) {
        rows->nelts = out + 1;
    }
    return rows;
}
