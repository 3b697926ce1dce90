/* A small blocking HTTP/1.1 client (see hmb_http_client.h). Deliberately
 * strict and bounded: it is used to judge servers, so it says exactly
 * what went wrong and never waits long.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "hmb_http_client.h"

#define HTTP_BUF_SIZE       (64 * 1024)     /* also the header line limit */
#define HTTP_MAX_HEADERS    200

struct hmb_http_conn {
    apr_pool_t *pool;
    const char *host;
    apr_port_t port;
    apr_interval_time_t timeout;
    apr_size_t max_body;
    apr_pool_t *sock_pool;      /* one per TCP connection */
    apr_socket_t *sock;
    char *buf;                  /* received, not yet consumed */
    apr_size_t len;
    apr_size_t pos;
    int connects;
    apr_port_t local_port;
    int served;                 /* responses read on this TCP connection */
    apr_size_t received;        /* bytes of the current response so far */
    int retry_stale;
    int retries;
};

const char *hmb_http_err(apr_pool_t *p, const char *what, apr_status_t rv)
{
    char msg[256];
    return apr_psprintf(p, "%s: %s", what, apr_strerror(rv, msg,
                                                        sizeof(msg)));
}

hmb_http_conn_t *hmb_http_conn_make(apr_pool_t *p, const char *host,
                                    apr_port_t port)
{
    hmb_http_conn_t *c = apr_pcalloc(p, sizeof(*c));

    c->pool = p;
    c->host = apr_pstrdup(p, host);
    c->port = port;
    c->timeout = HMB_HTTP_DEFAULT_TIMEOUT;
    c->max_body = HMB_HTTP_DEFAULT_MAX_BODY;
    c->buf = apr_palloc(p, HTTP_BUF_SIZE);
    return c;
}

void hmb_http_set_timeout(hmb_http_conn_t *c, apr_interval_time_t timeout)
{
    c->timeout = timeout;
    if (c->sock) {
        apr_socket_timeout_set(c->sock, timeout);
    }
}

void hmb_http_set_max_body(hmb_http_conn_t *c, apr_size_t max_body)
{
    c->max_body = max_body;
}

void hmb_http_set_retry_stale(hmb_http_conn_t *c, int retry)
{
    c->retry_stale = retry;
}

int hmb_http_retries(const hmb_http_conn_t *c)
{
    return c->retries;
}

int hmb_http_connects(const hmb_http_conn_t *c)
{
    return c->connects;
}

apr_port_t hmb_http_local_port(const hmb_http_conn_t *c)
{
    return c->sock ? c->local_port : 0;
}

void hmb_http_close(hmb_http_conn_t *c)
{
    if (c->sock_pool) {
        /* the socket's own cleanup in sock_pool closes it */
        apr_pool_destroy(c->sock_pool);
    }
    c->sock_pool = NULL;
    c->sock = NULL;
    c->len = c->pos = 0;
    c->served = 0;
}

const char *hmb_http_open(hmb_http_conn_t *c)
{
    apr_sockaddr_t *sa, *local;
    apr_status_t rv;
    struct sigaction old_pipe;

    /* apr_socket_send writes with write(2): on a connection the server
     * has closed, SIGPIPE would kill the test before it can report (and
     * before its teardown stops the servers).  An error return is wanted. */
    if (sigaction(SIGPIPE, NULL, &old_pipe) == 0
        && old_pipe.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }

    hmb_http_close(c);
    apr_pool_create(&c->sock_pool, c->pool);
    rv = apr_sockaddr_info_get(&sa, c->host, APR_UNSPEC, c->port, 0,
                               c->sock_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_create(&c->sock, sa->family, SOCK_STREAM,
                               APR_PROTO_TCP, c->sock_pool);
    }
    if (rv == APR_SUCCESS) {
        apr_socket_timeout_set(c->sock, c->timeout);
        rv = apr_socket_connect(c->sock, sa);
    }
    if (rv != APR_SUCCESS) {
        const char *why = hmb_http_err(c->pool, apr_psprintf(c->pool,
                                   "connect to %s:%d", c->host,
                                   (int)c->port), rv);
        hmb_http_close(c);
        return why;
    }
    apr_socket_opt_set(c->sock, APR_TCP_NODELAY, 1);
    c->local_port = 0;
    if (apr_socket_addr_get(&local, APR_LOCAL, c->sock) == APR_SUCCESS) {
        c->local_port = local->port;
    }
    c->connects++;
    return NULL;
}

/* --- reading ------------------------------------------------------------ */

static const char *http_fill(hmb_http_conn_t *c, apr_pool_t *p,
                             apr_time_t deadline, int *eof)
{
    apr_size_t n;
    apr_status_t rv;

    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == HTTP_BUF_SIZE) {
        return "response line longer than 64 KB";
    }
    if (apr_time_now() > deadline) {
        return "response took too long";
    }
    n = HTTP_BUF_SIZE - c->len;
    rv = apr_socket_recv(c->sock, c->buf + c->len, &n);
    c->len += n;
    c->received += n;
    if (n > 0) {
        return NULL;
    }
    if (rv == APR_EOF || rv == APR_SUCCESS) {
        if (eof) {
            *eof = 1;
            return NULL;
        }
        return "connection closed by server mid-response";
    }
    if (APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_EAGAIN(rv)) {
        return apr_psprintf(p, "no data from server for %d ms",
                            (int)apr_time_as_msec(c->timeout));
    }
    return hmb_http_err(p, "recv", rv);
}

static const char *http_read_line(hmb_http_conn_t *c, apr_pool_t *p,
                                  apr_time_t deadline, char **line)
{
    for (;;) {
        char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
        const char *why;
        if (nl) {
            apr_size_t n = (apr_size_t)(nl - (c->buf + c->pos));
            if (n > 0 && c->buf[c->pos + n - 1] == '\r') {
                n--;
            }
            *line = apr_pstrmemdup(p, c->buf + c->pos, n);
            c->pos = (apr_size_t)(nl - c->buf) + 1;
            return NULL;
        }
        if ((why = http_fill(c, p, deadline, NULL)) != NULL) {
            return why;
        }
    }
}

typedef struct {
    char *data;
    apr_size_t len;
    apr_size_t cap;
} http_body_t;

static const char *http_body_add(apr_pool_t *p, http_body_t *b, apr_size_t max,
                                 const char *data, apr_size_t n)
{
    if (n > max - b->len) {
        return apr_psprintf(p, "response body over the %" APR_SIZE_T_FMT
                            "-byte limit", max);
    }
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap : 4096;
        char *bigger;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        bigger = apr_palloc(p, cap);
        if (b->len) {
            memcpy(bigger, b->data, b->len);
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return NULL;
}

/* Move exactly n received bytes into the body. */
static const char *http_read_exact(hmb_http_conn_t *c, apr_pool_t *p,
                                   apr_time_t deadline, http_body_t *b,
                                   apr_size_t n)
{
    while (n > 0) {
        apr_size_t have = c->len - c->pos;
        const char *why;
        if (have == 0) {
            if ((why = http_fill(c, p, deadline, NULL)) != NULL) {
                return why;
            }
            continue;
        }
        if (have > n) {
            have = n;
        }
        if ((why = http_body_add(p, b, c->max_body, c->buf + c->pos, have))
            != NULL) {
            return why;
        }
        c->pos += have;
        n -= have;
    }
    return NULL;
}

static const char *http_read_chunked(hmb_http_conn_t *c, apr_pool_t *p,
                                     apr_time_t deadline, http_body_t *b)
{
    char *line, *end;
    const char *why;

    for (;;) {
        apr_int64_t size;
        if ((why = http_read_line(c, p, deadline, &line)) != NULL) {
            return why;
        }
        size = apr_strtoi64(line, &end, 16);
        if (end == line || size < 0 || (*end && *end != ';' && *end != ' ')) {
            return apr_psprintf(p, "bad chunk size line '%s'", line);
        }
        if (size == 0) {
            break;
        }
        if ((apr_uint64_t)size > c->max_body) {
            return "chunk larger than the body limit";
        }
        if ((why = http_read_exact(c, p, deadline, b, (apr_size_t)size))
            != NULL
            || (why = http_read_line(c, p, deadline, &line)) != NULL) {
            return why;
        }
        if (*line) {
            return "chunk data not followed by CRLF";
        }
    }
    do {        /* trailer fields, up to the empty line */
        if ((why = http_read_line(c, p, deadline, &line)) != NULL) {
            return why;
        }
    } while (*line);
    return NULL;
}

static int http_has_token(const char *value, const char *token)
{
    apr_size_t tl = strlen(token);

    while (value && *value) {
        const char *end;
        while (*value == ' ' || *value == '\t' || *value == ',') {
            value++;
        }
        end = value + strcspn(value, ",; \t");
        if ((apr_size_t)(end - value) == tl && !strncasecmp(value, token, tl)) {
            return 1;
        }
        value = strchr(end, ',');
    }
    return 0;
}

const char *hmb_http_receive(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, hmb_http_response_t **resp)
{
    /* each read is bounded by the timeout; the whole response too */
    apr_time_t deadline = apr_time_now() + 6 * c->timeout;
    hmb_http_response_t *r;
    http_body_t body = { NULL, 0, 0 };
    const char *why, *te, *cl, *conn;
    char *line;
    int nheaders;

    if (!c->sock) {
        return "not connected";
    }
    r = apr_pcalloc(rp, sizeof(*r));
    for (;;) {
        char *end;
        if ((why = http_read_line(c, rp, deadline, &line)) != NULL) {
            goto fail;
        }
        if (strncmp(line, "HTTP/1.", 7) || !apr_isdigit(line[7])
            || line[8] != ' ') {
            why = apr_psprintf(rp, "bad status line '%.80s'", line);
            goto fail;
        }
        r->minor = line[7] - '0';
        r->status = (int)strtol(line + 9, &end, 10);
        if (end != line + 12 || r->status < 100 || r->status > 599
            || (*end && *end != ' ')) {
            why = apr_psprintf(rp, "bad status line '%.80s'", line);
            goto fail;
        }
        r->reason = *end ? end + 1 : "";
        r->headers = apr_table_make(rp, 16);
        for (nheaders = 0;; nheaders++) {
            char *colon;
            if ((why = http_read_line(c, rp, deadline, &line)) != NULL) {
                goto fail;
            }
            if (!*line) {
                break;
            }
            colon = strchr(line, ':');
            if (!colon || colon == line || nheaders >= HTTP_MAX_HEADERS
                || *line == ' ' || *line == '\t') {
                why = apr_psprintf(rp, "bad header line '%.80s'", line);
                goto fail;
            }
            *colon++ = '\0';
            while (*colon == ' ' || *colon == '\t') {
                colon++;
            }
            apr_table_addn(r->headers, line, colon);
        }
        /* 100 Continue and other interim answers precede the real one */
        if (r->status >= 200 || r->status == 101) {
            break;
        }
    }

    te = apr_table_get(r->headers, "Transfer-Encoding");
    cl = apr_table_get(r->headers, "Content-Length");
    conn = apr_table_get(r->headers, "Connection");
    if (!strcmp(method, "HEAD") || r->status < 200 || r->status == 204
        || r->status == 304) {
        /* no body */
    }
    else if (te) {
        if (!http_has_token(te, "chunked")) {
            why = apr_psprintf(rp, "unsupported Transfer-Encoding '%s'", te);
            goto fail;
        }
        r->chunked = 1;
        if ((why = http_read_chunked(c, rp, deadline, &body)) != NULL) {
            goto fail;
        }
    }
    else if (cl) {
        char *end;
        apr_int64_t n = apr_strtoi64(cl, &end, 10);
        if (end == cl || *end || n < 0) {
            why = apr_psprintf(rp, "bad Content-Length '%s'", cl);
            goto fail;
        }
        if ((apr_uint64_t)n > c->max_body) {
            why = apr_psprintf(rp, "Content-Length %s over the limit", cl);
            goto fail;
        }
        if ((why = http_read_exact(c, rp, deadline, &body, (apr_size_t)n))
            != NULL) {
            goto fail;
        }
    }
    else {
        int eof = 0;
        r->until_close = 1;
        while (!eof) {
            if (c->len > c->pos) {
                if ((why = http_body_add(rp, &body, c->max_body,
                                         c->buf + c->pos, c->len - c->pos))
                    != NULL) {
                    goto fail;
                }
                c->pos = c->len;
            }
            if ((why = http_fill(c, rp, deadline, &eof)) != NULL) {
                goto fail;
            }
        }
    }
    if (!body.data) {
        body.data = apr_pcalloc(rp, 1);
    }
    r->body = body.data;
    r->body_len = body.len;

    if (r->minor >= 1) {
        r->keep_alive = !(conn && http_has_token(conn, "close"));
    }
    else {
        r->keep_alive = conn && http_has_token(conn, "keep-alive");
    }
    if (r->until_close) {
        r->keep_alive = 0;
    }
    c->served++;
    if (!r->keep_alive) {
        hmb_http_close(c);
    }
    *resp = r;
    return NULL;

fail:
    hmb_http_close(c);
    return apr_psprintf(rp, "%s:%d: %s", c->host, (int)c->port, why);
}

/* --- sending ------------------------------------------------------------ */

static const char *http_send_all(hmb_http_conn_t *c, apr_pool_t *p,
                                 const char *data, apr_size_t len)
{
    while (len > 0) {
        apr_size_t n = len;
        apr_status_t rv = apr_socket_send(c->sock, data, &n);
        if (rv != APR_SUCCESS) {
            return hmb_http_err(p, "send", rv);
        }
        data += n;
        len -= n;
    }
    return NULL;
}

const char *hmb_http_send(hmb_http_conn_t *c, apr_pool_t *rp,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len)
{
    /* uneven pieces, so a server's chunk parser meets split boundaries */
    static const apr_size_t piece[] = { 5, 100, 1, 1000 };
    const char *head, *why;
    int has_host = 0, has_length = 0, chunked = 0, i;

    if (!c->sock && (why = hmb_http_open(c)) != NULL) {
        return why;
    }
    c->received = c->len - c->pos;
    head = apr_psprintf(rp, "%s %s HTTP/1.1\r\n", method, path);
    for (i = 0; headers && headers[i]; i++) {
        if (!strncasecmp(headers[i], "Host:", 5)) {
            has_host = 1;
        }
        else if (!strncasecmp(headers[i], "Content-Length:", 15)) {
            has_length = 1;
        }
        else if (!strncasecmp(headers[i], "Transfer-Encoding:", 18)) {
            chunked = http_has_token(headers[i] + 18, "chunked");
        }
        head = apr_pstrcat(rp, head, headers[i], "\r\n", NULL);
    }
    if (!has_host) {
        head = apr_psprintf(rp, "%sHost: %s:%d\r\n", head, c->host,
                            (int)c->port);
    }
    if (!has_length && !chunked && (body_len > 0 || !strcmp(method, "POST")
                                    || !strcmp(method, "PUT"))) {
        head = apr_psprintf(rp, "%sContent-Length: %" APR_SIZE_T_FMT "\r\n",
                            head, body_len);
    }
    head = apr_pstrcat(rp, head, "\r\n", NULL);
    if ((why = http_send_all(c, rp, head, strlen(head))) != NULL) {
        goto fail;
    }
    if (!chunked) {
        if ((why = http_send_all(c, rp, body, body_len)) != NULL) {
            goto fail;
        }
        return NULL;
    }
    for (i = 0; body_len > 0; i++) {
        apr_size_t n = piece[i % (int)(sizeof(piece) / sizeof(piece[0]))];
        const char *size;
        if (n > body_len) {
            n = body_len;
        }
        size = apr_psprintf(rp, "%lx\r\n", (unsigned long)n);
        if ((why = http_send_all(c, rp, size, strlen(size))) != NULL
            || (why = http_send_all(c, rp, body, n)) != NULL
            || (why = http_send_all(c, rp, "\r\n", 2)) != NULL) {
            goto fail;
        }
        body += n;
        body_len -= n;
    }
    if ((why = http_send_all(c, rp, "0\r\n\r\n", 5)) == NULL) {
        return NULL;
    }
fail:
    hmb_http_close(c);
    return apr_psprintf(rp, "%s:%d: %s", c->host, (int)c->port, why);
}

const char *hmb_http_request(hmb_http_conn_t *c, apr_pool_t *rp,
                             const char *method, const char *path,
                             const char *const *headers,
                             const char *body, apr_size_t body_len,
                             hmb_http_response_t **resp)
{
    int reused = c->sock && c->served > 0;
    const char *why = hmb_http_send(c, rp, method, path, headers, body,
                                    body_len);

    if (!why) {
        why = hmb_http_receive(c, rp, method, resp);
    }
    /* A server may close an idle kept-alive connection just as a request
     * goes out (httpd's event MPM does so when all its workers are busy);
     * with nothing received, the request was not answered: send it once
     * more on a new connection, as browsers do. */
    if (why && reused && c->retry_stale && c->received == 0) {
        c->retries++;
        why = hmb_http_send(c, rp, method, path, headers, body, body_len);
        if (!why) {
            why = hmb_http_receive(c, rp, method, resp);
        }
    }
    return why;
}

const char *hmb_http_once(apr_pool_t *rp, apr_port_t port,
                          const char *method, const char *path,
                          const char *const *headers,
                          const char *body, apr_size_t body_len,
                          hmb_http_response_t **resp)
{
    apr_pool_t *cp;
    hmb_http_conn_t *c;
    const char *why;

    apr_pool_create(&cp, rp);
    c = hmb_http_conn_make(cp, "127.0.0.1", port);
    why = hmb_http_request(c, rp, method, path, headers, body, body_len, resp);
    apr_pool_destroy(cp);
    return why;
}

const char *hmb_http_header(const hmb_http_response_t *r, const char *name)
{
    return r->headers ? apr_table_get(r->headers, name) : NULL;
}

const char *hmb_http_gunzip(apr_pool_t *p, const char *in, apr_size_t len,
                            apr_size_t max, char **out, apr_size_t *out_len)
{
    z_stream zs;
    http_body_t b = { NULL, 0, 0 };
    char chunk[16384];
    const char *why = NULL;
    int rc;

    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: accept a gzip or a zlib header */
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        return "inflateInit2 failed";
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    do {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            why = apr_psprintf(p, "gunzip: %s", zs.msg ? zs.msg
                               : "corrupt or truncated data");
            break;
        }
        why = http_body_add(p, &b, max, chunk, sizeof(chunk) - zs.avail_out);
        if (!why && rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            why = "gunzip: truncated data";
        }
    } while (!why && rc != Z_STREAM_END);
    inflateEnd(&zs);
    if (why) {
        return why;
    }
    if (zs.avail_in != 0) {
        return "gunzip: bytes after the end of the stream";
    }
    *out = b.data ? b.data : apr_pcalloc(p, 1);
    *out_len = b.len;
    return NULL;
}
