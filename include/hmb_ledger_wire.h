/* Each decision's answer in the JSON wire format too (docs/json.md, "A
 * repeat in either format"). A claim keeps its <hmbinfo> element in
 * hmb_claim.hmbinfo, as sent to an XML desk; the same decision rendered
 * as JSON is kept here, in the same transaction, so that a repeat is
 * answered with the stored answer whichever format it comes in. */
#ifndef HMB_LEDGER_WIRE_H
#define HMB_LEDGER_WIRE_H

#include "hmb_ledger.h"

/* The table (schema version 6, hmb_ledger.c lists it). */
#define HMB_LEDGER_WIRE_SCHEMA \
    "CREATE TABLE IF NOT EXISTS hmb_claim_wire (" \
    " hmb_setl_id TEXT NOT NULL PRIMARY KEY" \
    " REFERENCES hmb_claim (hmb_setl_id)," \
    " json_info TEXT NOT NULL," \
    " json_fund TEXT NOT NULL)"

/* The JSON rendering of claim hmb_setl_id: info the "hmbinfo" member and
 * fund the fund line ("" without), each without the ',' that separates
 * it from what precedes it in a message. Inside a transaction. */
const char *hmb_ledger_wire_record(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *hmb_setl_id, const char *info,
                                   const char *fund);

/* The same back; *info NULL when the claim has none (recorded before
 * schema version 4). */
const char *hmb_ledger_wire_find(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *hmb_setl_id, const char **info,
                                 const char **fund);

#endif
