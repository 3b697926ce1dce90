/* Bulk enrollment import (docs/ledger.md, "Bulk import"): rows are
 * streamed into a staging table of the connection (PostgreSQL: COPY
 * through libpq; SQLite: multi-row prepared inserts), then merged into
 * hmb_enrollment by a few set statements, all inside the caller's
 * transaction: the file's rows all or none. A row equal to the one in the
 * ledger is left alone, so importing a file again changes nothing. */
#ifndef HMB_LEDGER_BULK_H
#define HMB_LEDGER_BULK_H

#include "hmb_enroll.h"
#include "hmb_ledger.h"

typedef struct hmb_bulk_t hmb_bulk_t;

typedef struct {
    apr_int64_t rows;               /* rows of the file */
    apr_int64_t added;              /* persons new to the ledger */
    apr_int64_t changed;            /* cover_from, class, premium, ... */
    apr_int64_t unchanged;          /* equal to the ledger's: not written */
} hmb_bulk_counts_t;

/* Start staging, inside a transaction (hmb_ledger_begin). The bulk lives
 * in p until hmb_bulk_finish or hmb_bulk_abort. */
const char *hmb_bulk_begin(hmb_ledger_t *l, apr_pool_t *p, hmb_bulk_t **b);

/* Stage one row; its strings may be freed when this returns. */
const char *hmb_bulk_row(hmb_bulk_t *b, const hmb_enrollment_t *e);

/* Merge what was staged: a psn_no twice for one plan and year in the
 * file is refused, naming its lines (name is the file's); counts say
 * what changed. Premiums per county and payer (hmb_rollup_enroll) follow
 * in the same transaction. The caller commits or rolls back. */
const char *hmb_bulk_finish(hmb_bulk_t *b, const char *name,
                            hmb_bulk_counts_t *counts);

/* Give up (before the caller rolls back): ends a COPY in progress. */
void hmb_bulk_abort(hmb_bulk_t *b);

#endif
