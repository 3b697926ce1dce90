/* The appended <hmbinfo> element (INTERFACES.md section 2), rendered from
 * a decision and the identifiers it belongs to. */
#ifndef HMB_HMBINFO_H
#define HMB_HMBINFO_H

#include <apr_pools.h>
#include "hmb_engine.h"

typedef struct {
    const char *hmb_setl_id;        /* NULL when nothing was recorded */
    const char *setl_id;
    const char *mdtrt_id;
    const char *orig_setl_id;       /* reversal: the settlement reversed */
    const char *orig_hmb_setl_id;
    /* optional <setldetail> fund line before <hmbinfo> */
    const char *fund_pay_type;      /* NULL: no fund line */
    const char *fund_pay_type_name;
} hmb_hmbinfo_ctx_t;

/* Render the decision. ASCII only: anything else as &#N; references, so
 * the text is valid in any declared encoding. */
const char *hmb_hmbinfo_render(apr_pool_t *p, const hmb_decision_t *d,
                               const hmb_hmbinfo_ctx_t *ctx);

/* The <setldetail> fund line for a payout, or "" without fund_pay_type. */
const char *hmb_hmbinfo_fund_line(apr_pool_t *p, const hmb_decision_t *d,
                                  const hmb_hmbinfo_ctx_t *ctx);

/* UTF-8 text as XML character data, non-ASCII as &#N;. */
const char *hmb_xml_escape_ascii(apr_pool_t *p, const char *utf8);

#endif
