/* The insurer's dashboard (huiminbao-status): the figures of each plan
 * and year gathered from the rollups (hmb_rollup.h) for today, this month
 * and the policy year, and three ways to show them: a self-contained HTML
 * page with inline SVG charts, JSON (docs/dashboard.md) and the
 * Prometheus text format. Pure but for the rollup reads: the module's
 * glue adds the server's own state (ledger, spool, counters). */
#ifndef HMB_DASHBOARD_H
#define HMB_DASHBOARD_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "hmb_plan.h"
#include "hmb_rollup.h"

typedef enum {
    HMB_PERIOD_TODAY,
    HMB_PERIOD_MONTH,
    HMB_PERIOD_YEAR,
    HMB_PERIOD_COUNT
} hmb_period_e;

typedef struct {
    const char *from;               /* YYYY-MM-DD, local */
    const char *to;
    hmb_figs_t f;
    apr_array_header_t *reasons;    /* hmb_rollup_row_t, dim reason */
} hmb_dash_period_t;

/* Largest and flagged claims listed, at most. */
#define HMB_DASH_LIST 10
/* Hospitals and counties shown, the largest payouts first. */
#define HMB_DASH_TOP 10
/* Days searched for the largest recent claims. */
#define HMB_DASH_RECENT_DAYS 7

typedef struct {
    const char *code;
    const char *name;
    int year;
    const char *from;               /* the plan's period */
    const char *to;
    hmb_dash_period_t period[HMB_PERIOD_COUNT];
    apr_int64_t persons;            /* enrolled */
    hmb_fen_t premium;              /* their premiums */
    apr_array_header_t *days;       /* hmb_rollup_row_t, dim all, by day */
    /* the policy year by group, the largest payout first */
    apr_array_header_t *by[HMB_DIM_COUNT];
    apr_array_header_t *largest;    /* hmb_rollup_claim_t */
    apr_array_header_t *flagged;    /* hmb_rollup_claim_t */
} hmb_dash_plan_t;

/* One line of the server's own state ("SpoolPending", "spool entries
 * awaiting replay", "0"): huiminbao-status?auto's keys. */
typedef struct {
    const char *key;
    const char *label;
    const char *value;
} hmb_dash_kv_t;

/* The time the filter adds, in buckets of microseconds (shared by every
 * child; the last bucket is +Inf). */
#define HMB_DASH_BUCKETS 12
extern const apr_uint64_t hmb_dash_bucket_us[HMB_DASH_BUCKETS - 1];

typedef struct {
    apr_uint64_t count[HMB_DASH_BUCKETS];   /* not cumulative */
    apr_uint64_t sum_us;
} hmb_dash_hist_t;

/* The bucket of a time. */
int hmb_dash_bucket(apr_uint64_t us);

typedef struct {
    const char *day;                /* the local day the periods end on */
    const char *server;
    apr_array_header_t *plans;      /* hmb_dash_plan_t */
    apr_array_header_t *state;      /* hmb_dash_kv_t */
    /* counters of the filter; NULL without shared memory */
    const hmb_dash_hist_t *hist;
    apr_array_header_t *counters;   /* hmb_dash_kv_t, numbers */
} hmb_dash_t;

/* The distinct (code, year) of plans (hmb_plan_t *), optionally only
 * code (NULL: all) and year (0: all), as plan skeletons. */
apr_array_header_t *hmb_dash_plans(apr_pool_t *p,
                                   const apr_array_header_t *plans,
                                   const char *code, int year);

/* Fill each plan of d->plans (code, name, year, from, to set) from the
 * rollups for the periods ending on d->day. */
const char *hmb_dash_gather(hmb_ledger_t *l, apr_pool_t *p, hmb_dash_t *d);

/* Loss ratio payout / premium in millionths (-1: no premium). */
apr_int64_t hmb_dash_loss_ppm(hmb_fen_t payout, hmb_fen_t premium);

const char *hmb_dash_json(apr_pool_t *p, const hmb_dash_t *d);
const char *hmb_dash_html(apr_pool_t *p, const hmb_dash_t *d);
const char *hmb_dash_prometheus(apr_pool_t *p, const hmb_dash_t *d);

#endif
