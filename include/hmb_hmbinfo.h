/* The appended <hmbinfo> element (INTERFACES.md section 2), rendered from
 * a decision and the identifiers it belongs to, in XML or, for a JSON
 * message, as an "hmbinfo" member (docs/json.md). */
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

/* ---- JSON (hmb_hmbinfo_json.c) ---------------------------------------- */

/* The member "hmbinfo":{...} to insert at a JSON response's splice_at:
 * the same fields as the element, amounts and ratios as numbers with
 * their decimals (12100.00, 0.7000), hmbdetail and hmbinsurer as arrays
 * of objects. comma (the response's splice_comma) puts the ',' that
 * separates it from the member before it. ASCII only: anything else as
 * \uXXXX, so it is right in UTF-8 and GBK alike. */
const char *hmb_hmbinfo_render_json(apr_pool_t *p, const hmb_decision_t *d,
                                    const hmb_hmbinfo_ctx_t *ctx, int comma);

/* The fund line as an element of setldetail, to insert at the response's
 * fund_at, with ',' first when comma (fund_comma); "" without
 * fund_pay_type or payout. */
const char *hmb_hmbinfo_fund_line_json(apr_pool_t *p, const hmb_decision_t *d,
                                       const hmb_hmbinfo_ctx_t *ctx,
                                       int comma);


/* ---- for renderers ---------------------------------------------------- */

/* A wire format's writer. The walks below hand it what is written, in
 * order, so that the list of fields exists once for every format. */
typedef struct {
    /* an object: <hmbinfo> / "hmbinfo":{; item: one of a list */
    void (*begin)(void *o, const char *name, int item);
    void (*end)(void *o, const char *name, int item);
    /* a list of objects opens or closes (XML: its items just repeat) */
    void (*list)(void *o, const char *name, int open);
    /* a field: text, or a number's literal text (amounts, ratios) */
    void (*text)(void *o, const char *name, const char *value);
    void (*number)(void *o, const char *name, const char *literal);
    /* a field that is there and empty: <setl_proc_info/> */
    void (*empty)(void *o, const char *name);
} hmb_hmbinfo_writer_t;

/* What hmbinfo holds, through w. */
void hmb_hmbinfo_walk(apr_pool_t *p, const hmb_decision_t *d,
                      const hmb_hmbinfo_ctx_t *ctx,
                      const hmb_hmbinfo_writer_t *w, void *o);

/* The fund line through w; 0 (and nothing written) when there is none. */
int hmb_hmbinfo_fund_walk(apr_pool_t *p, const hmb_decision_t *d,
                          const hmb_hmbinfo_ctx_t *ctx,
                          const hmb_hmbinfo_writer_t *w, void *o);

#endif
