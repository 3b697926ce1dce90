/* Small helpers every core unit needs once: calendar dates, whole files,
 * CSV records, and untrusted text made fit for one log line. */
#ifndef HMB_UTIL_H
#define HMB_UTIL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_file_io.h>

/* YYYY-MM-DD that is a real calendar date (year 1900 or later). */
int hmb_date_valid(const char *s);

/* "YYYY-MM-DD HH:MM:SS", a real date and time of day. */
int hmb_time_valid(const char *s);

/* A whole regular file into pool memory, NUL-terminated, refusing one
 * larger than max bytes. Returns NULL or a reason without the path. */
const char *hmb_read_file(apr_pool_t *p, const char *path, apr_size_t max,
                          char **buf, apr_size_t *len);

/* s without leading and trailing spaces, tabs, CRs and LFs. */
char *hmb_trim(apr_pool_t *p, const char *s);

/* Strict UTF-8: no overlong forms, no surrogates, no NUL. */
int hmb_utf8_valid(const char *s, apr_size_t n);

/* Text from outside (a driver's message, err_msg) as one log line: runs
 * of white space and control characters become one space, the result is
 * clipped to max bytes on a UTF-8 character boundary. */
const char *hmb_one_line(apr_pool_t *p, const char *s, apr_size_t max);

/* A value from the network shown in an error line: printable ASCII only
 * ('?' for the rest), clipped to 40 bytes with "...". */
const char *hmb_show(apr_pool_t *p, const char *s);

/* UTF-8 text as the inside of a JSON string, ASCII only: quotes,
 * backslashes and control characters escaped, the rest of the non-ASCII
 * as \uXXXX (surrogate pairs above the BMP), invalid bytes as U+FFFD. */
const char *hmb_json_escape(apr_pool_t *p, const char *utf8);

/* A 32-bit digest of s (FNV-1a): a short tag that stands for a value
 * without showing it. Not a secret. */
apr_uint32_t hmb_digest32(const char *s);

/* A psn_no for logs and pages: the first 4 and last 2 characters kept,
 * the rest '*'; 6 characters or fewer masked entirely; "-" for none. */
const char *hmb_mask_psn(apr_pool_t *p, const char *psn_no);

/* ---- CSV (RFC 4180) ------------------------------------------------- */

typedef struct hmb_csv_t hmb_csv_t;

/* Records from memory; name is used in error lines ("NAME:LINE: ..."). */
hmb_csv_t *hmb_csv_mem(apr_pool_t *p, const char *name, const char *buf,
                       apr_size_t len);

/* Records streamed from an open file: memory stays bounded by the longest
 * record, whatever the size of the file. */
hmb_csv_t *hmb_csv_file(apr_pool_t *p, const char *name, apr_file_t *f);

/* The same for a file in another encoding (GBK, GB18030), converted to
 * UTF-8 as it is read; NULL or UTF-8: as hmb_csv_file. A byte sequence
 * that is not text in the encoding stops the reader with an error
 * naming the line. Returns NULL, or why the encoding cannot be read. */
const char *hmb_csv_file_enc(apr_pool_t *p, const char *name, apr_file_t *f,
                             const char *encoding, hmb_csv_t **csv);

/* The next record into fields (const char *, valid until the next call).
 * At the end of the data fields is left empty. *line is the physical line
 * the record starts on; *blank is set for a line of nothing but spaces
 * and tabs (its one field is ""). A UTF-8 byte-order mark at the start is
 * skipped; text must be UTF-8. Returns NULL or "NAME:LINE: reason". */
const char *hmb_csv_next(hmb_csv_t *c, apr_array_header_t *fields,
                         int *line, int *blank);

/* Bytes of input consumed so far (for progress reports). */
apr_off_t hmb_csv_offset(const hmb_csv_t *c);

#endif
