/* Supervision flags (DOMAIN: the insurer's and the bureau's oversight of
 * out-of-list items and fraud): computed at settlement from the plan's
 * <supervision> thresholds, recorded with the claim, shown on the
 * dashboard and in hmbctl report --flags. They never change the money.
 * Pure: the caller reads the person's earlier visits. */
#ifndef HMB_FLAGS_H
#define HMB_FLAGS_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "hmb_message.h"
#include "hmb_plan.h"

#define HMB_FLAG_READMISSION  "readmission"
#define HMB_FLAG_OUTSCOPE     "outscope_share"
#define HMB_FLAG_LARGE        "large_claim"
#define HMB_FLAG_FREQUENT     "frequent"
#define HMB_FLAG_OTHER_COUNTY "other_county"

/* Whether the flags need the person's earlier visits, and from how many
 * days before the settlement's day (0: none needed). */
int hmb_flags_lookback_days(const hmb_supervision_t *sup);

/* The flags of settlement rs paying hmb_pay at institution fixmedins_code
 * for a person enrolled in county admdvs (NULL: unknown); visits
 * (hmb_visit_t, from hmb_rollup_visits) are the person's settlements
 * recorded before it since the lookback. "a,b", or "" for none. */
const char *hmb_flags_of(apr_pool_t *p, const hmb_supervision_t *sup,
                         const hmb_response_t *rs, const char *fixmedins_code,
                         const char *admdvs, hmb_fen_t hmb_pay,
                         const apr_array_header_t *visits);

#endif
