/* hmbctl's commands for the insurer and the bureau: the rollups kept
 * with the claims (rollup), reports by group (report), one person's
 * decisions (history) and the monthly statement (export). Every figure
 * comes from the rollups: O(days x groups), never a scan of claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "hmb_rollup.h"
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
    if (strcmp(what, "check") && strcmp(what, "rebuild")) {
        return usage("rollup takes check or rebuild");
    }
    apply = !strcmp(what, "rebuild");
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
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
