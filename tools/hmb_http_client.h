/* A small blocking HTTP/1.1 client: for hmbctl conform and the
 * integration tests. Every read has a timeout and every body a size
 * limit, so a misbehaving server fails a check instead of hanging it.
 * Errors are returned as reasons (NULL = success).
 */
#ifndef HMB_HTTP_CLIENT_H
#define HMB_HTTP_CLIENT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_network_io.h>
#include <apr_time.h>

#define HMB_HTTP_DEFAULT_TIMEOUT  apr_time_from_sec(10)
#define HMB_HTTP_DEFAULT_MAX_BODY (64 * 1024 * 1024)

typedef struct hmb_http_conn hmb_http_conn_t;

typedef struct {
    int status;
    int minor;                  /* HTTP/1.minor of the status line */
    const char *reason;
    apr_table_t *headers;       /* apr_table_get is case-insensitive */
    char *body;                 /* body_len bytes, then a NUL */
    apr_size_t body_len;
    int chunked;                /* the body came with chunked coding */
    int until_close;            /* the body was delimited by close */
    int keep_alive;             /* the connection stays usable */
} hmb_http_response_t;

/* A connection to host:port, opened lazily by the first request.  Lives in
 * p; close it with hmb_http_close (also done by p's cleanup).  Opening a
 * connection sets SIGPIPE to ignored if it was at its default, so that a
 * server closing a connection shows as an error, not a dead test. */
hmb_http_conn_t *hmb_http_conn_make(apr_pool_t *p, const char *host,
                                    apr_port_t port);
void hmb_http_set_timeout(hmb_http_conn_t *c, apr_interval_time_t timeout);
void hmb_http_set_max_body(hmb_http_conn_t *c, apr_size_t max_body);

/* Off by default: when a reused keep-alive connection turns out closed
 * before any byte of the answer, send the request once more on a new
 * connection.  Only for requests that are safe to repeat. */
void hmb_http_set_retry_stale(hmb_http_conn_t *c, int retry);
int hmb_http_retries(const hmb_http_conn_t *c);

/* Send one request and read its response (1xx interim answers skipped).
 * headers: NULL or a NULL-terminated list of "Name: value" lines.  Host and
 * Content-Length are added unless given; with "Transfer-Encoding: chunked"
 * among headers the body is sent in uneven chunks.  The connection is
 * reopened if the previous response closed it; it is closed after a
 * response that does not keep it alive, and after any error.  The response
 * lives in rp. */
const char *hmb_http_request(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, const char *path,
                             const char *const *headers,
                             const char *body, apr_size_t body_len,
                             hmb_http_response_t **resp);

/* Open now (to hold many connections at once) / close now. */
const char *hmb_http_open(hmb_http_conn_t *c);
void hmb_http_close(hmb_http_conn_t *c);

/* TCP connections opened so far, and the local port of the current one:
 * keep-alive reuse shows as connects == 1 over several requests. */
int hmb_http_connects(const hmb_http_conn_t *c);
apr_port_t hmb_http_local_port(const hmb_http_conn_t *c);

/* Split sending and reading, to keep several requests in flight. */
const char *hmb_http_send(hmb_http_conn_t *c, apr_pool_t *rp,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len);
const char *hmb_http_receive(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, hmb_http_response_t **resp);

/* One request on a fresh connection to 127.0.0.1:port, then closed. */
const char *hmb_http_once(apr_pool_t *rp, apr_port_t port,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len,
                          hmb_http_response_t **resp);

const char *hmb_http_header(const hmb_http_response_t *r, const char *name);

/* "what: APR's words for rv", for the reasons returned here. */
const char *hmb_http_err(apr_pool_t *p, const char *what, apr_status_t rv);

/* Decode a gzip (or zlib) body, at most max bytes of output. */
const char *hmb_http_gunzip(apr_pool_t *p, const char *in, apr_size_t len,
                            apr_size_t max, char **out, apr_size_t *out_len);

#endif
