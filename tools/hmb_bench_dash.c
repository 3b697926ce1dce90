/* hmb_bench_dash: what the dashboard costs with many claims in the ledger,
 * and whether a settlement's ledger work grows with them. Figures side by
 * side in one run, never asserted (make bench-dashboard; a small run in
 * the unit tests).
 *
 *   hmb_bench_dash DIR CLAIMS [ITERATIONS]
 *
 * A fresh SQLite ledger in DIR; claims of 2 liabilities and 3 co-insurers
 * at 100 hospitals of 20 counties recorded through hmb_ledger_record_claim
 * (with their rollups and audit chain), spread over the 366 days of 2024
 * by their recording time and the rollups rebuilt for those days; the
 * ledger work of one settlement (begin, lock, record, commit) timed on
 * the empty ledger and on the full one; then the dashboard (gather, HTML,
 * JSON) timed ITERATIONS times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_dbd.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_dashboard.h"
#include "hmb_ledger.h"
#include "hmb_rollup.h"

#define PERSONS 50000
#define BATCH 5000
#define SAMPLE 500

static void die(const char *what, const char *err)
{
    fprintf(stderr, "hmb_bench_dash: %s: %s\n", what, err);
    exit(1);
}

/* Claim number i: deterministic, so that runs compare. */
static hmb_claim_t *claim(apr_pool_t *p, long i)
{
    static const char *const liab[] = { "inscope", "outscope" };
    static const char *const ins[] = { "PICC", "CLIC", "PAIC" };
    static const hmb_ratio_t share[] = { 4000, 3500, 2500 };
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));
    hmb_fen_t pay = 1000 + (i * 7919) % 500000, left = pay;
    int k;

    c->hmb_setl_id = apr_psprintf(p, "HMB-B%09ld", i);
    c->kind = 'S';
    c->setl_id = apr_psprintf(p, "B%09ld", i);
    c->psn_no = apr_psprintf(p, "3609%016ld", i % PERSONS);
    c->mdtrt_id = apr_psprintf(p, "M%09ld", i);
    c->fixmedins_code = apr_psprintf(p, "H3609%02ld%05ld", i % 20, i % 100);
    c->msgid = apr_psprintf(p, "BENCH%09ld", i);
    c->setl_time = apr_psprintf(p, "2024-%02ld-%02ld 10:00:00",
                                1 + i % 12, 1 + i % 28);
    c->plan_code = "BENCH";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = HMB_STAS_PAID;
    c->hmb_pay = pay;
    c->hmbinfo = "<hmbinfo/>";
    c->origin = "desk";
    c->admdvs = apr_psprintf(p, "3609%02ld", i % 20);
    c->flags = i % 97 == 0 ? "large_claim" : "";
    c->liabs = apr_array_make(p, 2, sizeof(hmb_claim_liab_t));
    for (k = 0; k < 2; k++) {
        hmb_claim_liab_t *l = apr_array_push(c->liabs);

        memset(l, 0, sizeof(*l));
        l->liab_code = liab[k];
        l->pool = k ? "B" : "A";
        l->cap = 2000000;
        l->pay_prop = 7000;
        l->pay_amt = k ? pay / 4 : pay - pay / 4;
        l->elig_amt = l->pay_amt * 10 / 7;
    }
    c->insurers = apr_array_make(p, 3, sizeof(hmb_insurer_result_t));
    for (k = 0; k < 3; k++) {
        hmb_insurer_result_t *r = apr_array_push(c->insurers);

        r->insurer_code = ins[k];
        r->share = share[k];
        r->pay_amt = k < 2 ? pay * share[k] / 10000 : left;
        left -= r->pay_amt;
    }
    return c;
}

/* Record claims from..to-1, per transaction `per`; the time. */
static apr_time_t record(hmb_ledger_t *l, apr_pool_t *p, long from, long to,
                         long per)
{
    apr_time_t t0 = apr_time_now();
    apr_pool_t *tp;
    const char *err;
    long i;

    apr_pool_create(&tp, p);
    for (i = from; i < to; i++) {
        hmb_claim_t *c = claim(tp, i);

        if ((i - from) % per == 0
            && ((err = hmb_ledger_begin(l, tp))
                || (err = hmb_ledger_lock_person(l, tp, c->plan_code,
                                                 c->plan_year, c->psn_no)))) {
            die("begin", err);
        }
        if ((err = hmb_ledger_record_claim(l, tp, c))) {
            die("record", err);
        }
        if (((i - from) % per == per - 1 || i == to - 1)
            && (err = hmb_ledger_commit(l, tp))) {
            die("commit", err);
        }
        if ((i - from) % per == per - 1) {
            apr_pool_clear(tp);
        }
        if (i % 100000 == 99999) {
            fprintf(stderr, "  %ld claims recorded\n", i + 1);
        }
    }
    apr_pool_destroy(tp);
    return apr_time_now() - t0;
}

static void sql(hmb_ledger_t *l, const char *q)
{
    int n;

    if (apr_dbd_query(l->driver, l->handle, &n, q)) {
        die(q, apr_dbd_error(l->driver, l->handle, 1));
    }
}

int main(int argc, char **argv)
{
    apr_pool_t *p, *ip;
    hmb_ledger_t *l;
    hmb_dash_plan_t *dp;
    hmb_dash_t d;
    apr_array_header_t *diffs;
    apr_int64_t nread;
    const char *err, *path, *html = "", *json = "";
    apr_time_t t, t_gather = 0, t_html = 0, t_json = 0, best = -1;
    long n, iters, i;

    if (argc < 3) {
        fprintf(stderr, "usage: hmb_bench_dash DIR CLAIMS [ITERATIONS]\n");
        return 2;
    }
    n = atol(argv[2]);
    iters = argc > 3 ? atol(argv[3]) : 20;
    if (n < 2 * SAMPLE || iters < 1) {
        fprintf(stderr, "hmb_bench_dash: at least %d claims\n", 2 * SAMPLE);
        return 2;
    }
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&p, NULL);
    path = apr_pstrcat(p, argv[1], "/bench-dashboard.db", NULL);
    apr_file_remove(path, p);
    if ((err = hmb_ledger_open(p, apr_pstrcat(p, "sqlite3:", path, NULL),
                               &l))) {
        die(path, err);
    }
    sql(l, "PRAGMA synchronous = OFF");

    /* a settlement's ledger work, one transaction each: empty ledger */
    t = record(l, p, 0, SAMPLE, 1);
    printf("settlement ledger work, empty ledger      %8.1f us\n",
           (double)t / SAMPLE);
    t = record(l, p, SAMPLE, n - SAMPLE, BATCH);
    printf("recorded %ld claims in %.1f s\n", n - 2 * SAMPLE,
           (double)t / APR_USEC_PER_SEC);
    t = record(l, p, n - SAMPLE, n, 1);
    printf("settlement ledger work, %8ld claims    %8.1f us\n", n,
           (double)t / SAMPLE);

    /* a year of recording days, then the rollups for them */
    sql(l, "UPDATE hmb_claim SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
           " '2024-01-01 02:00:00', '+' || (rowid % 366) || ' days')");
    t = apr_time_now();
    if ((err = hmb_rollup_rebuild(l, p, HMB_ROLLUP_OFFSET_DEFAULT, 1,
                                  &diffs, &nread))) {
        die("rebuild", err);
    }
    printf("rollups rebuilt from %" APR_INT64_T_FMT " claims in %.1f s\n",
           nread, (double)(apr_time_now() - t) / APR_USEC_PER_SEC);

    memset(&d, 0, sizeof(d));
    d.day = "2024-12-31";
    d.server = "bench";
    d.state = apr_array_make(p, 1, sizeof(hmb_dash_kv_t));
    apr_pool_create(&ip, p);
    for (i = 0; i < iters; i++) {
        apr_time_t t1, t2, t3;

        apr_pool_clear(ip);
        d.plans = apr_array_make(ip, 1, sizeof(hmb_dash_plan_t));
        dp = apr_array_push(d.plans);
        memset(dp, 0, sizeof(*dp));
        dp->code = "BENCH";
        dp->name = "bench";
        dp->year = 2024;
        dp->from = "2024-01-01";
        dp->to = "2024-12-31";
        t = apr_time_now();
        if ((err = hmb_dash_gather(l, ip, &d))) {
            die("gather", err);
        }
        t1 = apr_time_now();
        html = hmb_dash_html(ip, &d);
        t2 = apr_time_now();
        json = hmb_dash_json(ip, &d);
        t3 = apr_time_now();
        t_gather += t1 - t;
        t_html += t2 - t1;
        t_json += t3 - t2;
        if (best < 0 || t2 - t < best) {
            best = t2 - t;
        }
    }
    printf("dashboard over %ld claims, %d days, mean of %ld:\n", n,
           dp->days->nelts, iters);
    printf("  gather from the rollups                 %8.2f ms\n",
           (double)t_gather / iters / 1000);
    printf("  + HTML (%6lu bytes)                    %8.2f ms\n",
           (unsigned long)strlen(html), (double)t_html / iters / 1000);
    printf("  + JSON (%6lu bytes)                    %8.2f ms\n",
           (unsigned long)strlen(json), (double)t_json / iters / 1000);
    printf("  page (gather + HTML), best              %8.2f ms\n",
           (double)best / 1000);
    printf("  year payout %" APR_INT64_T_FMT " fen in %" APR_INT64_T_FMT
           " claims\n", dp->period[HMB_PERIOD_YEAR].f.v[HMB_FIG_PAYOUT],
           dp->period[HMB_PERIOD_YEAR].f.v[HMB_FIG_CLAIMS]);
    return 0;
}
