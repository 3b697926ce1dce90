/* The province-scale benchmark (make bench-scale, docs/ledger.md "Ten
 * million"), shared with its small version in the tests (test_scale). */
#ifndef HMB_SCALE_H
#define HMB_SCALE_H

#include "hmb_ledger.h"

typedef struct {
    double settle_p50, settle_p99;  /* ms per settlement */
    double dash_p50;                /* ms per dashboard reading */
    int settled, paid;              /* settlements made, paid */
} hmb_scale_phase_t;

typedef struct {
    hmb_scale_phase_t empty;        /* before the load */
    hmb_scale_phase_t loaded;       /* after it */
    double enroll_s;                /* the enrollees' bulk import */
    double claims_s;                /* the claims' generation */
    double rollup_s;                /* their rollups rebuilt */
    apr_int64_t enrollees, claims;  /* in the ledger at the end */
} hmb_scale_report_t;

/* On the ledger spec (its hmb_ tables are dropped first): settle n
 * messages on an empty ledger, import `enrollees` persons and generate
 * `claims` claims of them, settle n more; each phase timed. Progress on
 * stderr when verbose. */
const char *hmb_scale_run(apr_pool_t *p, const char *srcdir,
                          const char *spec, apr_int64_t enrollees,
                          apr_int64_t claims, int n, int verbose,
                          hmb_scale_report_t *r);

#endif
