/* The spool: messages that could not be settled now (ledger down or too
 * slow) are written durably here and settled later by `hmbctl replay`. */
#ifndef HMB_SPOOL_H
#define HMB_SPOOL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* Write request and response bytes as one new entry, fsync'd (file and
 * directory) before returning, with the charsets their transport gave
 * (a JSON message's Content-Type; NULL: none), without which a GBK JSON
 * message would be read back as UTF-8. *path is the entry written. */
const char *hmb_spool_write(apr_pool_t *p, const char *dir,
                            const char *req, apr_size_t req_len,
                            const char *resp, apr_size_t resp_len,
                            const char *req_charset,
                            const char *resp_charset, const char **path);

/* Pending entries, oldest first. */
const char *hmb_spool_list(apr_pool_t *p, const char *dir,
                           apr_array_header_t **paths);

/* An entry's bytes and charsets (*req_charset NULL when none was kept;
 * req_charset and resp_charset may be NULL). */
const char *hmb_spool_read(apr_pool_t *p, const char *path,
                           const char **req, apr_size_t *req_len,
                           const char **resp, apr_size_t *resp_len,
                           const char **req_charset,
                           const char **resp_charset);

/* Delete entries settled (moved to DIR/done/) longer than keep ago:
 * they hold personal data, and the ledger holds what was decided. */
const char *hmb_spool_prune(apr_pool_t *p, const char *dir,
                            apr_interval_time_t keep, int *removed);

/* Move a settled entry out of the pending set (into DIR/done/). */
const char *hmb_spool_done(apr_pool_t *p, const char *path);

#endif
