/* Enrollment rows from the insurer (INTERFACES.md section 4). */
#ifndef HMB_ENROLL_H
#define HMB_ENROLL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_money.h"
#include "hmb_util.h"

typedef struct {
    const char *plan_code;
    int plan_year;
    const char *psn_no;
    const char *cover_from;         /* YYYY-MM-DD */
    int preexisting;                /* 0/1 */
    const char *person_class;       /* NULL when empty */
    const char *admdvs;
    const char *payer;              /* self, account, employer, donor */
    hmb_fen_t premium;
    int line;                       /* line in the CSV file, 0 from a ledger */
} hmb_enrollment_t;

/* Rows one at a time from a CSV reader: the header is checked by open;
 * next gives one checked row (strings in p) or *done at the end. Errors
 * are "NAME:LINE: reason". */
typedef struct hmb_enroll_reader_t hmb_enroll_reader_t;

const char *hmb_enroll_open(apr_pool_t *p, const char *name, hmb_csv_t *csv,
                            hmb_enroll_reader_t **reader);
const char *hmb_enroll_next(hmb_enroll_reader_t *r, apr_pool_t *p,
                            hmb_enrollment_t *e, int *done);

/* Parse a whole CSV (header required). All rows or none: returns NULL and
 * the rows, or "NAME:LINE: reason" for the first bad row. */
const char *hmb_enroll_parse(apr_pool_t *p, const char *name, const char *buf,
                             apr_size_t len, apr_array_header_t **rows);

#endif
