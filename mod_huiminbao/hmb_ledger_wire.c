/* The JSON answer of each claim, beside the XML one in hmb_claim: one row
 * per claim, written with it. */
#include <apr_strings.h>

#include "hmb_ledger_wire.h"
#include "hmb_ledger_int.h"

static const char hmb_wire_insert[] =
    "INSERT INTO hmb_claim_wire (hmb_setl_id, json_info, json_fund)"
    " VALUES (%s, %s, %s)";

static const char hmb_wire_find[] =
    "SELECT json_info, json_fund FROM hmb_claim_wire WHERE hmb_setl_id = %s";

const char *hmb_ledger_wire_record(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *hmb_setl_id, const char *info,
                                   const char *fund)
{
    const char *args[3];

    if (!hmb_ledger_in_trans(l)) {
        return "ledger: wire_record outside a transaction";
    }
    args[0] = hmb_setl_id;
    args[1] = info;
    args[2] = fund ? fund : "";
    return hmb_ledger_sql_exec(l, p,
                               "insert hmb_claim_wire", hmb_wire_insert,
                               args, NULL);
}

const char *hmb_ledger_wire_find(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *hmb_setl_id, const char **info,
                                 const char **fund)
{
    apr_array_header_t *rows;
    const char *args[1], *err, **v;

    *info = NULL;
    *fund = "";
    args[0] = hmb_setl_id;
    if ((err = hmb_ledger_sql_query(l, p,
                                    "select hmb_claim_wire", hmb_wire_find,
                                    args, &rows))
        || !rows->nelts) {
        return err;
    }
    v = APR_ARRAY_IDX(rows, 0, const char **);
    *info = v[0] ? v[0] : "";
    *fund = v[1] ? v[1] : "";
    return NULL;
}
