/* The ledger's audit trail: every claim carries a SHA-256 hash chained
 * to the previous claim of the same person (plan code and year: the
 * scope of the person's lock), and each local day has a root over the
 * heads of the chains that grew that day. docs/ledger.md, "Audit trail". */
#ifndef HMB_LEDGER_AUDIT_H
#define HMB_LEDGER_AUDIT_H

#include "hmb_ledger.h"

/* The hash of a chain's first claim links to this: 64 '0's. */
#define HMB_AUDIT_GENESIS \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* The schema step that creates the trail's tables (a migration). */
extern const char *const hmb_audit_migration[];

/* Ask ahead for the head of the chain a claim of psn_no under the plan
 * (NULL: none) will join (hmb_ledger_prefetch_settle). */
const char *hmb_audit_prefetch(hmb_ledger_t *l, apr_pool_t *p,
                               const char *psn_no, const char *plan_code,
                               int plan_year);

/* Chain a claim just inserted (hmb_ledger_record_claim, inside its
 * transaction, under the person's lock). created_at as written. */
const char *hmb_audit_claim(hmb_ledger_t *l, apr_pool_t *p,
                            const hmb_claim_t *c, const char *created_at);

/* Chain the claims recorded before the trail existed, in each person's
 * order (psn_seq), dated today. Run once by the migration. */
const char *hmb_audit_backfill(hmb_ledger_t *l, apr_pool_t *p);

/* Today's local date, YYYY-MM-DD, by the ledger's UTC offset (the
 * rollups' calendar): the day a claim recorded now gets. */
const char *hmb_audit_today(hmb_ledger_t *l, apr_pool_t *p);

/* One thing found wrong, in the order verify met it. */
typedef struct {
    const char *what;               /* altered, inserted, deleted, root */
    const char *hmb_setl_id;        /* the claim named; NULL for a root */
    const char *day;                /* the claim's or the root's day */
    const char *detail;             /* one line, psn_no masked */
} hmb_audit_finding_t;

typedef struct {
    apr_int64_t claims;             /* trail entries checked */
    int roots;                      /* sealed roots recomputed */
    apr_array_header_t *findings;   /* hmb_audit_finding_t */
    int more;                       /* findings beyond max were not kept */
} hmb_audit_report_t;

/* Recompute every hash of the claims recorded between two local days
 * (inclusive; NULL: open) and the roots sealed for those days; claims
 * that are not in the trail at all are looked for in the whole ledger.
 * At most max findings are kept. Returns NULL (the report says whether
 * anything was found) or why the ledger could not be read. */
const char *hmb_audit_verify(hmb_ledger_t *l, apr_pool_t *p,
                             const char *from, const char *to, int max,
                             hmb_audit_report_t **out);

typedef struct {
    const char *day;
    const char *root;               /* hex, recomputed now */
    int heads;                      /* chains that grew that day */
    apr_int64_t claims;             /* claims recorded that day */
    const char *sealed;             /* the root sealed for the day, or
                                     * NULL while the day is not over */
    const char *sealed_at;
} hmb_audit_root_t;

/* The root of one local day. A day that is over is sealed the first time
 * its root is asked for: the root is stored, and later calls give the
 * stored one beside the recomputed one (they differ only if the trail
 * was changed since). */
const char *hmb_audit_root(hmb_ledger_t *l, apr_pool_t *p, const char *day,
                           hmb_audit_root_t **out);

#endif
