/* A small blocking HTTP/1.1 client and process helpers for the integration
 * tests (see hmb_http.h).  Deliberately strict and bounded: it is used to
 * judge servers, so it says exactly what went wrong and never waits long.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "hmb_http.h"

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

static const char *http_err(apr_pool_t *p, const char *what, apr_status_t rv)
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
        const char *why = http_err(c->pool, apr_psprintf(c->pool,
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
    return http_err(p, "recv", rv);
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
            return http_err(p, "send", rv);
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

/* --- processes and ports ------------------------------------------------ */

const char *hmb_it_free_port(apr_pool_t *p, apr_port_t *port)
{
    static int next_offset;
    const char *base = getenv("HMB_TEST_PORT_BASE");
    apr_sockaddr_t *sa, *bound;
    apr_socket_t *s;
    apr_status_t rv;

    if (base && *base) {
        long b = atol(base);
        if (b <= 0 || b + next_offset > 65535) {
            return apr_psprintf(p, "HMB_TEST_PORT_BASE '%s' is not a port",
                                base);
        }
        *port = (apr_port_t)(b + next_offset++);
        return NULL;
    }
    /* the kernel's choice, released again: a small race, fine for tests */
    rv = apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_socket_bind(s, sa);
        if (rv == APR_SUCCESS) {
            rv = apr_socket_addr_get(&bound, APR_LOCAL, s);
        }
        if (rv == APR_SUCCESS) {
            *port = bound->port;
        }
        apr_socket_close(s);
    }
    return rv == APR_SUCCESS ? NULL : http_err(p, "free port", rv);
}

const char *hmb_it_wait_port(apr_port_t port, apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_pool_t *p;
    apr_status_t rv;

    apr_pool_create(&p, NULL);
    do {
        apr_sockaddr_t *sa;
        apr_socket_t *s;
        rv = apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, port, 0, p);
        if (rv == APR_SUCCESS) {
            rv = apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP,
                                   p);
        }
        if (rv == APR_SUCCESS) {
            apr_socket_timeout_set(s, apr_time_from_msec(200));
            rv = apr_socket_connect(s, sa);
            apr_socket_close(s);
        }
        apr_pool_clear(p);
        if (rv == APR_SUCCESS) {
            break;
        }
        apr_sleep(apr_time_from_msec(50));
    } while (apr_time_now() < deadline);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? NULL : "port did not open in time";
}

const char *hmb_it_spawn(apr_pool_t *p, const char *const *argv,
                         apr_proc_t *proc)
{
    apr_procattr_t *attr;
    apr_status_t rv;

    rv = apr_procattr_create(&attr, p);
    if (rv == APR_SUCCESS) {
        rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_procattr_error_check_set(attr, 1);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_proc_create(proc, argv[0], argv, NULL, attr, p);
    }
    return rv == APR_SUCCESS ? NULL : http_err(p, argv[0], rv);
}

const char *hmb_it_wait(apr_proc_t *proc, apr_interval_time_t timeout,
                        int *exit_code)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_exit_why_e why;
    int code = 0;
    apr_status_t rv;

    for (;;) {
        rv = apr_proc_wait(proc, &code, &why, APR_NOWAIT);
        if (rv == APR_CHILD_DONE) {
            break;
        }
        if (rv != APR_CHILD_NOTDONE) {
            return "waiting for a child failed";
        }
        if (apr_time_now() >= deadline) {
            apr_proc_kill(proc, SIGKILL);
            apr_proc_wait(proc, &code, &why, APR_WAIT);
            if (exit_code) {
                *exit_code = 128 + SIGKILL;
            }
            return "child did not finish in time and was killed";
        }
        apr_sleep(apr_time_from_msec(20));
    }
    if (exit_code) {
        *exit_code = APR_PROC_CHECK_SIGNALED(why) ? 128 + code : code;
    }
    return NULL;
}

const char *hmb_it_stop(apr_proc_t *proc, apr_interval_time_t grace)
{
    int code;

    if (proc->pid <= 0) {
        return NULL;
    }
    apr_proc_kill(proc, SIGTERM);
    return hmb_it_wait(proc, grace, &code);
}

const char *hmb_it_run(apr_pool_t *p, const char *const *argv,
                       apr_interval_time_t timeout)
{
    apr_proc_t proc;
    const char *why;
    int code;

    if ((why = hmb_it_spawn(p, argv, &proc)) != NULL
        || (why = hmb_it_wait(&proc, timeout, &code)) != NULL) {
        return why;
    }
    return code ? apr_psprintf(p, "%s exited with status %d", argv[0], code)
                : NULL;
}

const char *hmb_it_start_upstream(apr_pool_t *p, apr_port_t port,
                                  const char *fixtures, const char *pidfile,
                                  const char *logfile, int max_seconds,
                                  const char *const *extra, apr_proc_t *proc)
{
    apr_array_header_t *argv = apr_array_make(p, 16, sizeof(const char *));
    const char *why;

#define HMB_ARG(s) (*(const char **)apr_array_push(argv) = (s))
    HMB_ARG(HMB_IT_UPSTREAM_BIN);
    HMB_ARG("--listen");
    HMB_ARG(apr_psprintf(p, "127.0.0.1:%d", (int)port));
    HMB_ARG("--fixtures");
    HMB_ARG(fixtures);
    HMB_ARG("--pidfile");
    HMB_ARG(pidfile);
    HMB_ARG("--log");
    HMB_ARG(logfile);
    /* gone by itself should all else fail */
    HMB_ARG("--max-seconds");
    HMB_ARG(apr_itoa(p, max_seconds));
    HMB_ARG("--exit-with-parent");
    for (; extra && *extra; extra++) {
        HMB_ARG(*extra);
    }
    HMB_ARG(NULL);
#undef HMB_ARG
    why = hmb_it_spawn(p, (const char *const *)argv->elts, proc);
    if (!why && (why = hmb_it_wait_port(port, apr_time_from_sec(5)))) {
        hmb_it_stop(proc, apr_time_from_sec(2));
        proc->pid = 0;
    }
    return why;
}

/* A build made with --enable-sanitizers has a module built with ASan and
 * UBSan; Debian's apache2 is not, so harness.sh preloads the runtime into
 * it and fails `stop` on any report. */
static void it_sanitized_httpd(void)
{
#ifdef HMB_SANITIZER_PRELOAD
    setenv("HMB_HTTPD_PRELOAD", HMB_SANITIZER_PRELOAD, 0);
#endif
}

const char *hmb_it_harness(apr_pool_t *p, const char *cmd, const char *rundir,
                           apr_port_t port, const char *extra,
                           apr_interval_time_t timeout)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, cmd, rundir, NULL, NULL, NULL
    };

    it_sanitized_httpd();
    if (!strcmp(cmd, "start")) {
        argv[4] = apr_psprintf(p, "%d", (int)port);
        argv[5] = extra;
    }
    return hmb_it_run(p, argv, timeout);
}

const char *hmb_it_write_file(apr_pool_t *p, const char *path,
                              const char *buf, apr_size_t len)
{
    apr_file_t *f;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, buf, len, NULL);
        apr_file_close(f);
    }
    return rv == APR_SUCCESS ? NULL
                             : apr_psprintf(p, "cannot write %s", path);
}

const char *hmb_it_run_to_file(apr_pool_t *p, const char *const *argv,
                               const char *out_path)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_file_t *out;
    apr_status_t rv;
    const char *why;
    int code = 0;

    rv = apr_file_open(&out, out_path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot write %s", out_path);
    }
    if ((rv = apr_procattr_create(&attr, p)) == APR_SUCCESS
        && (rv = apr_procattr_child_out_set(attr, out, NULL)) == APR_SUCCESS
        && (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
           == APR_SUCCESS
        && (rv = apr_procattr_error_check_set(attr, 1)) == APR_SUCCESS) {
        rv = apr_proc_create(&proc, argv[0], argv, NULL, attr, p);
    }
    apr_file_close(out);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot run %s", argv[0]);
    }
    if ((why = hmb_it_wait(&proc, apr_time_from_sec(60), &code)) != NULL) {
        return why;
    }
    return code ? apr_psprintf(p, "%s exited with status %d", argv[0], code)
                : NULL;
}

const char *hmb_it_memmem_last(const char *hay, apr_size_t len,
                               const char *needle)
{
    apr_size_t n = strlen(needle);
    const char *s;

    if (len < n) {
        return NULL;
    }
    for (s = hay + len - n; s >= hay; s--) {
        if (!memcmp(s, needle, n)) {
            return s;
        }
    }
    return NULL;
}

const char *hmb_it_element(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *s = memmem(buf, len, open, strlen(open)), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = memmem(s, len - (apr_size_t)(s - buf), close, strlen(close));
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

const char *hmb_it_pg(apr_pool_t *p, const char *cmd, const char *dir,
                      apr_port_t port, const char *primary_dir)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_PGSH, cmd, dir, NULL, NULL, NULL
    };

    if (!strcmp(cmd, "start") || !strcmp(cmd, "standby")) {
        argv[4] = apr_psprintf(p, "%d", (int)port);
        argv[5] = primary_dir;
    }
    /* pg.sh bounds each of its own waits; this is the backstop */
    return hmb_it_run(p, argv, apr_time_from_sec(90));
}

int hmb_it_teardown(apr_pool_t *p, const char *rundir, int httpd_started,
                    apr_proc_t *const *procs, const char *const *names,
                    int n)
{
    apr_finfo_t fi;
    const char *why;
    int ok = 1, i;

    if (httpd_started && rundir
        && (why = hmb_it_harness(p, "stop", rundir, 0, NULL,
                                 apr_time_from_sec(90))) != NULL) {
        fprintf(stderr, "teardown: harness stop: %s\n", why);
        ok = 0;
    }
    for (i = 0; i < n; i++) {
        if (procs[i]->pid > 0
            && (why = hmb_it_stop(procs[i], apr_time_from_sec(5)))) {
            fprintf(stderr, "teardown: %s: %s\n", names[i], why);
            ok = 0;
        }
    }
    if (rundir && apr_stat(&fi, apr_pstrcat(p, rundir, "/run/httpd.pid",
                                            NULL), APR_FINFO_TYPE, p)
                  == APR_SUCCESS) {
        fprintf(stderr, "teardown: %s/run/httpd.pid still exists\n", rundir);
        ok = 0;
    }
    return ok;
}

/* --- what the integration tests of the module share --------------------- */

void hmb_it_leave_rundir(const char *rundir, int failed)
{
    apr_pool_t *p;
    const char *rm[] = { "/bin/rm", "-rf", rundir, NULL };

    if (!*rundir) {
        return;
    }
    if (failed || getenv("HMB_KEEP_RUNDIR")) {
        fprintf(stderr, "run directory kept for inspection: %s\n", rundir);
        return;
    }
    apr_pool_create(&p, NULL);
    hmb_it_run(p, rm, apr_time_from_sec(30));
    apr_pool_destroy(p);
}

int hmb_it_group_teardown(apr_pool_t **pool, const char *rundir,
                          int httpd_started, apr_proc_t *const *procs,
                          const char *const *names, int n, char *left,
                          apr_size_t left_size)
{
    int ok;

    if (!*pool) {
        return 0;
    }
    ok = hmb_it_teardown(*pool, rundir, httpd_started, procs, names, n);
    if (rundir) {
        /* main() removes it if every test passed */
        apr_cpystrn(left, rundir, left_size);
    }
    apr_pool_destroy(*pool);
    *pool = NULL;
    return ok ? 0 : -1;
}

/* The whole of a small file, NUL-terminated ("" when it cannot be read:
 * the caller judges the output, not the file). */
static char *it_slurp(apr_pool_t *p, const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n = 0;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)
        != APR_SUCCESS) {
        return apr_pstrdup(p, "");
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS
        && fi.size > 0) {
        n = (apr_size_t)fi.size;
    }
    buf = apr_palloc(p, n + 1);
    if (n && apr_file_read_full(f, buf, n, &n) != APR_SUCCESS) {
        n = 0;
    }
    buf[n] = '\0';
    apr_file_close(f);
    return buf;
}

int hmb_it_capture(apr_pool_t *p, const char *dir, const char *as_user,
                   const char *const *argv, apr_interval_time_t timeout,
                   char **out)
{
    static int seq;
    const char *args[HMB_IT_MAX_ARGS + 5];
    const char *path;
    apr_procattr_t *attr;
    apr_file_t *f;
    apr_proc_t proc;
    int n = 0, i, code = -1;

    /* a root-owned WAL or journal next to the live ledger would lock the
     * children out of it: commands on it run as their user */
    if (as_user && geteuid() == 0) {
        args[n++] = "/usr/sbin/runuser";
        args[n++] = "-u";
        args[n++] = as_user;
        args[n++] = "--";
    }
    for (i = 0; argv[i] && i < HMB_IT_MAX_ARGS; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;

    path = apr_psprintf(p, "%s/cmd-%03d.out", dir, ++seq);
    *out = apr_pstrdup(p, "");
    if (apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                      | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        return -1;
    }
    if (apr_procattr_create(&attr, p) == APR_SUCCESS
        && apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV) == APR_SUCCESS
        && apr_procattr_child_out_set(attr, f, NULL) == APR_SUCCESS
        && apr_procattr_child_err_set(attr, f, NULL) == APR_SUCCESS
        && apr_procattr_error_check_set(attr, 1) == APR_SUCCESS
        && apr_proc_create(&proc, args[0], args, NULL, attr, p)
           == APR_SUCCESS) {
        if (hmb_it_wait(&proc, timeout, &code)) {
            code = -1;
        }
    }
    apr_file_close(f);
    *out = it_slurp(p, path);
    return code;
}

int hmb_it_hmbctl_v(apr_pool_t *p, const char *dir, const char *as_user,
                    const char *ledger, char **out, va_list ap)
{
    const char *argv[HMB_IT_MAX_ARGS + 1];
    const char *a;
    int n = 0;

    argv[n++] = HMB_IT_HMBCTL_BIN;
    argv[n++] = "--ledger";
    argv[n++] = ledger;
    while ((a = va_arg(ap, const char *)) != NULL && n < HMB_IT_MAX_ARGS) {
        argv[n++] = a;
    }
    argv[n] = NULL;
    return hmb_it_capture(p, dir, as_user, argv, apr_time_from_sec(60), out);
}

int hmb_it_configtest(apr_pool_t *p, const char *rundir, const char *conf,
                      char **out)
{
    const char *argv[] = {
        "/bin/bash", HMB_IT_HARNESS, "configtest", rundir, conf, NULL
    };

    it_sanitized_httpd();
    return hmb_it_capture(p, rundir, NULL, argv, apr_time_from_sec(60), out);
}

const char *hmb_it_envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, const char *psn_no,
                            const char *cancel_setl_id)
{
    return apr_psprintf(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<request><infno>%s</infno><msgid>%s</msgid>"
        "<mdtrtarea_admvs>360900</mdtrtarea_admvs>"
        "<insuplc_admdvs>360902</insuplc_admdvs>"
        "<recer_sys_code>HIS</recer_sys_code><infver>V1.0</infver>"
        "<opter_type>1</opter_type><opter>0001</opter>"
        "<opter_name>收费员</opter_name>"
        "<inf_time>2024-05-01 10:00:00</inf_time>"
        "<fixmedins_code>H36090200001</fixmedins_code>"
        "<fixmedins_name>宜春市人民医院</fixmedins_name>"
        "<sign_no>S0001</sign_no><input><data>%s%s%s"
        "<psn_no>%s</psn_no></data></input></request>",
        infno, msgid,
        cancel_setl_id ? "<setl_id>" : "",
        cancel_setl_id ? cancel_setl_id : "",
        cancel_setl_id ? "</setl_id>" : "",
        psn_no);
}

const char *hmb_it_field(apr_pool_t *p, const char *xml, const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *s = strstr(xml, open), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = strstr(s, close);
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

const char *hmb_it_line_with(apr_pool_t *p, const char *text,
                             const char *needle, const char *also)
{
    const char *s = text;

    while ((s = strstr(s, needle)) != NULL) {
        const char *b = s, *e = strchr(s, '\n');
        const char *line;
        while (b > text && b[-1] != '\n') {
            b--;
        }
        line = e ? apr_pstrmemdup(p, b, (apr_size_t)(e - b))
                 : apr_pstrdup(p, b);
        if (!also || strstr(line, also)) {
            return line;
        }
        s += strlen(needle);
    }
    return NULL;
}

const char *hmb_it_status_value(apr_pool_t *p, apr_port_t port,
                                const char *key, const char **value)
{
    hmb_http_response_t *r;
    const char *k = apr_pstrcat(p, "\n", key, ": ", NULL);
    const char *s, *e, *why;
    char *text;

    *value = NULL;
    if ((why = hmb_http_once(p, port, "GET", "/huiminbao-status?auto", NULL,
                             NULL, 0, &r)) != NULL) {
        return why;
    }
    if (r->status != 200) {
        return apr_psprintf(p, "the status page answered %d", r->status);
    }
    text = apr_pstrcat(p, "\n", r->body, NULL);
    if (!(s = strstr(text, k))) {
        return apr_psprintf(p, "no %s in the status page", key);
    }
    s += strlen(k);
    e = strchr(s, '\n');
    *value = e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : s;
    return NULL;
}
