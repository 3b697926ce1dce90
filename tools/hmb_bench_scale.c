/* make bench-scale: the ledger at a province's size (hmb_scale.h). Prints
 * the figures of an empty ledger and of the loaded one side by side;
 * asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "hmb_xml.h"
#include "hmb_scale.h"

int main(int argc, const char *const *argv)
{
    hmb_scale_report_t r;
    apr_pool_t *p;
    const char *err;

    if (argc != 6) {
        fprintf(stderr, "usage: hmb_bench_scale SRCDIR LEDGER ENROLLEES "
                "CLAIMS SETTLEMENTS\n(the ledger's hmb_ tables are dropped "
                "first)\n");
        return 2;
    }
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    hmb_xml_init();
    err = hmb_scale_run(p, argv[1], argv[2], apr_atoi64(argv[3]),
                        apr_atoi64(argv[4]), atoi(argv[5]), 1, &r);
    if (err) {
        fprintf(stderr, "hmb_bench_scale: %s\n", err);
        return 1;
    }
    printf("ledger: %" APR_INT64_T_FMT " enrollees, %" APR_INT64_T_FMT
           " claims\n", r.enrollees, r.claims);
    printf("import of the enrollees: %.1f s, %.0f rows/s; claims generated "
           "in %.1f s, rolled up in %.1f s\n", r.enroll_s,
           r.enroll_s > 0 ? (double)(r.enrollees) / r.enroll_s : 0.0,
           r.claims_s, r.rollup_s);
    printf("%-28s %12s %12s %8s\n", "", "empty", "loaded", "ratio");
    printf("%-28s %9.2f ms %9.2f ms %7.2fx\n", "settlement p50",
           r.empty.settle_p50, r.loaded.settle_p50,
           r.loaded.settle_p50 / r.empty.settle_p50);
    printf("%-28s %9.2f ms %9.2f ms %7.2fx\n", "settlement p99",
           r.empty.settle_p99, r.loaded.settle_p99,
           r.loaded.settle_p99 / r.empty.settle_p99);
    printf("%-28s %9.2f ms %9.2f ms %7.2fx\n", "dashboard reading p50",
           r.empty.dash_p50, r.loaded.dash_p50,
           r.loaded.dash_p50 / r.empty.dash_p50);
    printf("settlements: %d and %d, paid %d and %d\n", r.empty.settled,
           r.loaded.settled, r.empty.paid, r.loaded.paid);
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
