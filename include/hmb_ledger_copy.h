/* Copying a whole ledger to another driver (hmbctl ledger-copy): from the
 * SQLite file of one server to the PostgreSQL ledger that several will
 * share. Both ledgers are open, at this build's schema version. */
#ifndef HMB_LEDGER_COPY_H
#define HMB_LEDGER_COPY_H

#include "hmb_ledger.h"

typedef struct {
    const char *table;
    apr_int64_t rows;
} hmb_copy_table_t;

/* Every table of from (hmb_meta aside: each side keeps its own) into to,
 * which must hold no row yet, in one transaction of to; then each table
 * counted and checksummed on both sides, row by row and independent of
 * order and collation. *tables (hmb_copy_table_t) says what was copied.
 * NULL, or why nothing was (a refusal, a failure: to is rolled back) or
 * why the two sides differ after the copy. */
const char *hmb_ledger_copy(apr_pool_t *p, hmb_ledger_t *from,
                            hmb_ledger_t *to, apr_array_header_t **tables);

#endif
