/* The writer lock of an SQLite ledger: one robust, process-shared mutex
 * in a small file beside the ledger (LEDGER-hmblock), mapped by every
 * process and thread that writes it (httpd's children, hmbctl). Writers
 * queue on it before BEGIN IMMEDIATE, woken as soon as it is free,
 * instead of polling SQLite's lock through apr_dbd's 100 ms sleeps; a
 * wait is bounded, and a holder that dies frees it. See docs/ledger.md,
 * "SQLite: one writer at a time". */
#ifndef HMB_WRITER_H
#define HMB_WRITER_H

#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef struct hmb_writer_t hmb_writer_t;

/* The writer lock of the SQLite file at path (absolute), created beside
 * it when missing, with the ledger's owner, group and mode; one per path
 * and process, kept for the life of the process. NULL and the reason
 * when it cannot be had (a directory this user cannot write): then the
 * caller goes without. */
const char *hmb_writer_get(apr_pool_t *p, const char *path, hmb_writer_t **w);

/* Take it, waiting at most timeout: APR_SUCCESS, APR_TIMEUP, or an
 * errno. Unlock from the same thread. */
apr_status_t hmb_writer_lock(hmb_writer_t *w, apr_interval_time_t timeout);
void hmb_writer_unlock(hmb_writer_t *w);

/* Where the lock of the ledger at path lives. */
const char *hmb_writer_path(apr_pool_t *p, const char *path);

#endif
