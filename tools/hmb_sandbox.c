/* hmb-sandbox: a sandbox settlement server, standing in for the basic
 * insurance settlement server in front of which mod_huiminbao runs. A HIS
 * vendor proves an integration against it before go-live (the conformance
 * kit, `hmbctl conform`); the demo and the integration tests use it too.
 * It answers each POSTed settlement request with a canned response chosen
 * by the request's <msgid>, from one of two kinds of directory:
 *
 *   --cases DIR        conformance cases (conf/conformance/README.md):
 *                      each DIR/NAME.req.xml is a request; a request with
 *                      its msgid is answered with DIR/NAME.resp.xml, and
 *                      DIR/NAME.opts (optional) as below
 *   --fixtures DIR     DIR/<msgid>.xml is the response, sent byte for byte
 *                      (the msgid of a JSON request is its "msgid" member);
 *                      DIR/<msgid>.json the same for a JSON answer (when
 *                      there is no .xml), sent as application/json unless
 *                      .opts says otherwise
 *
 *   DIR/<msgid>.opts   optional, one option per line:
 *                        chunked            Transfer-Encoding: chunked, uneven
 *                                           chunks with small pauses
 *                        chunk-bytes N      with chunked: every chunk N bytes,
 *                                           no pauses (a flood of tiny ones)
 *                        status N           HTTP status (default 200)
 *                        content-type X     instead of text/xml; charset=...
 *                        gzip-if-accepted   gzip when Accept-Encoding has gzip
 *                        delay-ms N         wait before answering
 *                        close              Connection: close
 *                        no-length          no Content-Length, end by close
 *                        break-after N      send the Content-Length of the
 *                                           whole body, then only its first
 *                                           N bytes, and close (a broken
 *                                           upstream)
 *                        header NAME: VAL   one more response header
 *   DIR/_template.xml  used when no DIR/<msgid>.xml exists: every
 *                      {{name}} or {{name|default}} is replaced by the text of
 *                      the request's first <name> element (or the default),
 *                      so a load generator can vary amounts per request.
 *                      DIR/_template.opts applies to it.
 *
 * It is a test peer, never a production server: bounded everywhere (header
 * and body sizes, timeouts, a fixed pool of worker threads), for loopback
 * use, and it stops by itself on SIGTERM/SIGINT, after --max-seconds, or
 * (--exit-with-parent) when the process that started it is gone.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_network_io.h>
#include <apr_poll.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include "hmb_cases.h"

#define UP_MAX_HEADER       (64 * 1024)
#define UP_MAX_BODY         (16 * 1024 * 1024)
#define UP_MAX_FIXTURE      (64 * 1024 * 1024)
#define UP_MAX_DELAY_MS     60000
#define UP_MAX_MSGID        128
#define UP_SLICE            apr_time_from_msec(250)
#define UP_REQUEST_TIMEOUT  apr_time_from_sec(30)
#define UP_WRITE_TIMEOUT    apr_time_from_sec(30)
#define UP_QUEUE_CAP        1024
#define UP_DEFAULT_THREADS  128
#define UP_MAX_THREADS      1024

/* Set from the signal handler, read by every thread between short waits. */
static volatile sig_atomic_t up_stop_requested;

static void up_on_signal(int sig)
{
    (void)sig;
    up_stop_requested = 1;
}

typedef struct {
    const char *fixtures;
    apr_hash_t *cases;      /* --cases: msgid -> DIR/NAME, or NULL */
    apr_file_t *log;
    apr_thread_mutex_t *log_lock;
    apr_interval_time_t keepalive;
    apr_time_t deadline;

    /* Accepted connections waiting for a worker. */
    apr_thread_mutex_t *q_lock;
    apr_thread_cond_t *q_cond;
    apr_socket_t *q_sock[UP_QUEUE_CAP];
    apr_pool_t *q_pool[UP_QUEUE_CAP];
    int q_head;
    int q_count;
} up_server_t;

static int up_should_stop(const up_server_t *srv)
{
    return up_stop_requested || apr_time_now() >= srv->deadline;
}

typedef struct {
    up_server_t *srv;
    apr_socket_t *sock;
    const char *peer;
    char *buf;              /* bytes read but not yet consumed */
    apr_size_t len;
    apr_size_t pos;
    int eof;
} up_conn_t;

typedef struct {
    apr_pool_t *pool;
    const char *method;
    const char *path;
    int minor;              /* HTTP/1.minor */
    apr_table_t *headers;
    char *body;
    apr_size_t body_len;
} up_request_t;

typedef struct {
    int status;
    int chunked;
    apr_size_t chunk_bytes;         /* 0: the uneven sizes */
    int gzip_if_accepted;
    int delay_ms;
    int close;
    int no_length;
    apr_size_t break_after;     /* 0: the whole body */
    const char *content_type;
    apr_array_header_t *extra_headers;
} up_opts_t;

/* --- logging ------------------------------------------------------------ */

static void up_log(up_server_t *srv, const char *fmt, ...)
{
    char line[1024];
    char stamp[APR_CTIME_LEN];
    apr_size_t n;
    va_list ap;

    if (!srv->log) {
        return;
    }
    apr_ctime(stamp, apr_time_now());
    n = (apr_size_t)apr_snprintf(line, sizeof(line), "[%s] ", stamp);
    va_start(ap, fmt);
    n += (apr_size_t)apr_vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    apr_thread_mutex_lock(srv->log_lock);
    apr_file_write_full(srv->log, line, n, NULL);
    apr_thread_mutex_unlock(srv->log_lock);
}

/* --- socket I/O with short slices, so a stop request is noticed --------- */

/* Read more bytes into the connection buffer.  APR_EOF on orderly close,
 * APR_TIMEUP when 'until' passes or the server is stopping. */
static apr_status_t up_fill(up_conn_t *c, apr_pool_t *p, apr_time_t until)
{
    apr_status_t rv;
    apr_size_t n;

    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len >= UP_MAX_HEADER) {
        return APR_ENOSPC;
    }
    for (;;) {
        n = UP_MAX_HEADER - c->len;
        rv = apr_socket_recv(c->sock, c->buf + c->len, &n);
        if (n > 0) {
            c->len += n;
            return APR_SUCCESS;
        }
        if (rv == APR_EOF || (rv == APR_SUCCESS && n == 0)) {
            c->eof = 1;
            return APR_EOF;
        }
        if (!APR_STATUS_IS_TIMEUP(rv) && !APR_STATUS_IS_EAGAIN(rv)
            && !APR_STATUS_IS_EINTR(rv)) {
            return rv;
        }
        if (up_should_stop(c->srv) || apr_time_now() >= until) {
            return APR_TIMEUP;
        }
    }
}

static apr_status_t up_send_all(up_conn_t *c, const char *data,
                                apr_size_t len)
{
    apr_time_t until = apr_time_now() + UP_WRITE_TIMEOUT;

    while (len > 0) {
        apr_size_t n = len;
        apr_status_t rv = apr_socket_send(c->sock, data, &n);
        data += n;
        len -= n;
        if (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv)
            && !APR_STATUS_IS_EAGAIN(rv) && !APR_STATUS_IS_EINTR(rv)) {
            return rv;
        }
        if (len > 0 && apr_time_now() >= until) {
            return APR_TIMEUP;
        }
    }
    return APR_SUCCESS;
}

/* Sleep in slices, so SIGTERM still stops a long delay-ms. */
static void up_pause_ms(up_server_t *srv, int ms)
{
    apr_time_t until = apr_time_now() + apr_time_from_msec(ms);

    while (!up_should_stop(srv)) {
        apr_time_t now = apr_time_now();
        if (now >= until) {
            break;
        }
        apr_sleep(until - now < UP_SLICE ? until - now : UP_SLICE);
    }
}

/* Take one line (without CRLF) from the buffer, reading as needed. */
static apr_status_t up_read_line(up_conn_t *c, apr_pool_t *p,
                                 apr_time_t until, char **line)
{
    for (;;) {
        char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
        if (nl) {
            apr_size_t n = (apr_size_t)(nl - (c->buf + c->pos));
            if (n > 0 && c->buf[c->pos + n - 1] == '\r') {
                n--;
            }
            *line = apr_pstrmemdup(p, c->buf + c->pos, n);
            c->pos = (apr_size_t)(nl - c->buf) + 1;
            return APR_SUCCESS;
        }
        if (c->len - c->pos >= UP_MAX_HEADER) {
            return APR_ENOSPC;
        }
        apr_status_t rv = up_fill(c, p, until);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

/* Copy exactly n body bytes into dst. */
static apr_status_t up_read_exact(up_conn_t *c, apr_pool_t *p,
                                  apr_time_t until, char *dst, apr_size_t n)
{
    while (n > 0) {
        apr_size_t have = c->len - c->pos;
        if (have == 0) {
            apr_status_t rv = up_fill(c, p, until);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            continue;
        }
        if (have > n) {
            have = n;
        }
        memcpy(dst, c->buf + c->pos, have);
        c->pos += have;
        dst += have;
        n -= have;
    }
    return APR_SUCCESS;
}

/* --- request parsing ---------------------------------------------------- */

/* Does a comma-separated header value hold 'token' (case-insensitive)?
 * A "q=0" parameter on the token counts as absent. */
static int up_has_token(const char *value, const char *token)
{
    apr_size_t tl = strlen(token);

    while (value && *value) {
        const char *end;
        while (*value == ' ' || *value == '\t' || *value == ',') {
            value++;
        }
        end = value;
        while (*end && *end != ',' && *end != ';' && *end != ' ') {
            end++;
        }
        if ((apr_size_t)(end - value) == tl && !strncasecmp(value, token, tl)) {
            const char *param = end;
            while (*param == ' ') {
                param++;
            }
            if (*param == ';') {
                const char *q = strstr(param, "q=");
                const char *stop = strchr(param, ',');
                if (q && (!stop || q < stop)) {
                    q += 2;
                    /* "q=0", "q=0.0", "q=0.000" mean refused */
                    if (*q == '0') {
                        q++;
                        if (*q == '.') {
                            q++;
                        }
                        while (*q == '0') {
                            q++;
                        }
                        if (*q < '1' || *q > '9') {
                            return 0;
                        }
                    }
                }
            }
            return 1;
        }
        value = strchr(end, ',');
    }
    return 0;
}

typedef enum {
    UP_READ_OK,
    UP_READ_CLOSED,     /* nothing more from the client: just close */
    UP_READ_BAD,        /* answer with err_status, then close */
} up_read_result_t;

static up_read_result_t up_read_chunked(up_conn_t *c, up_request_t *req,
                                        apr_time_t until, int *err_status)
{
    apr_size_t cap = 4096;
    char *line;

    req->body = apr_palloc(req->pool, cap);
    req->body_len = 0;
    for (;;) {
        char *end;
        apr_int64_t size;

        if (up_read_line(c, req->pool, until, &line) != APR_SUCCESS) {
            *err_status = 400;
            return UP_READ_BAD;
        }
        size = apr_strtoi64(line, &end, 16);
        if (end == line || size < 0 || (*end && *end != ';' && *end != ' ')) {
            *err_status = 400;
            return UP_READ_BAD;
        }
        if (size == 0) {
            break;
        }
        if ((apr_uint64_t)size > UP_MAX_BODY - req->body_len) {
            *err_status = 413;
            return UP_READ_BAD;
        }
        if (req->body_len + (apr_size_t)size + 1 > cap) {
            char *bigger;
            while (req->body_len + (apr_size_t)size + 1 > cap) {
                cap *= 2;
            }
            bigger = apr_palloc(req->pool, cap);
            memcpy(bigger, req->body, req->body_len);
            req->body = bigger;
        }
        if (up_read_exact(c, req->pool, until, req->body + req->body_len,
                          (apr_size_t)size) != APR_SUCCESS
            || up_read_line(c, req->pool, until, &line) != APR_SUCCESS
            || *line) {
            *err_status = 400;
            return UP_READ_BAD;
        }
        req->body_len += (apr_size_t)size;
    }
    /* trailers, up to the empty line */
    do {
        if (up_read_line(c, req->pool, until, &line) != APR_SUCCESS) {
            *err_status = 400;
            return UP_READ_BAD;
        }
    } while (*line);
    req->body[req->body_len] = '\0';
    return UP_READ_OK;
}

static up_read_result_t up_read_request(up_conn_t *c, up_request_t *req,
                                        int *err_status)
{
    apr_time_t idle_until = apr_time_now() + c->srv->keepalive;
    apr_time_t until;
    char *line, *sp1, *sp2, *colon;
    const char *te, *cl, *expect;
    apr_size_t header_bytes = 0;

    /* Wait for the first byte under the keep-alive timeout, then give the
     * rest of the request its own limit. */
    while (c->pos == c->len) {
        apr_status_t rv = up_fill(c, req->pool, idle_until);
        if (rv != APR_SUCCESS) {
            return UP_READ_CLOSED;
        }
    }
    until = apr_time_now() + UP_REQUEST_TIMEOUT;

    do {        /* tolerate empty lines before a request (RFC 9112 2.2) */
        if (up_read_line(c, req->pool, until, &line) != APR_SUCCESS) {
            return UP_READ_CLOSED;
        }
    } while (!*line);

    sp1 = strchr(line, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) || !sp2[8]) {
        *err_status = 400;
        return UP_READ_BAD;
    }
    *sp1 = *sp2 = '\0';
    req->method = line;
    req->path = sp1 + 1;
    req->minor = sp2[8] - '0';

    req->headers = apr_table_make(req->pool, 16);
    for (;;) {
        apr_status_t rv = up_read_line(c, req->pool, until, &line);
        if (rv != APR_SUCCESS) {
            *err_status = rv == APR_ENOSPC ? 431 : 400;
            return rv == APR_ENOSPC ? UP_READ_BAD : UP_READ_CLOSED;
        }
        if (!*line) {
            break;
        }
        header_bytes += strlen(line) + 2;
        if (header_bytes > UP_MAX_HEADER) {
            *err_status = 431;
            return UP_READ_BAD;
        }
        colon = strchr(line, ':');
        if (!colon || colon == line) {
            *err_status = 400;
            return UP_READ_BAD;
        }
        *colon++ = '\0';
        while (*colon == ' ' || *colon == '\t') {
            colon++;
        }
        apr_table_addn(req->headers, line, colon);
    }

    expect = apr_table_get(req->headers, "Expect");
    if (expect && !strcasecmp(expect, "100-continue") && req->minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (up_send_all(c, cont, sizeof(cont) - 1) != APR_SUCCESS) {
            return UP_READ_CLOSED;
        }
    }

    te = apr_table_get(req->headers, "Transfer-Encoding");
    cl = apr_table_get(req->headers, "Content-Length");
    if (te) {
        if (!up_has_token(te, "chunked") || cl) {
            *err_status = 400;  /* ambiguous framing: refuse, as RFC 9112 asks */
            return UP_READ_BAD;
        }
        return up_read_chunked(c, req, until, err_status);
    }
    req->body_len = 0;
    if (cl) {
        char *end;
        apr_int64_t n = apr_strtoi64(cl, &end, 10);
        if (end == cl || *end || n < 0) {
            *err_status = 400;
            return UP_READ_BAD;
        }
        if (n > UP_MAX_BODY) {
            *err_status = 413;
            return UP_READ_BAD;
        }
        req->body_len = (apr_size_t)n;
    }
    req->body = apr_palloc(req->pool, req->body_len + 1);
    if (up_read_exact(c, req->pool, until, req->body, req->body_len)
        != APR_SUCCESS) {
        return UP_READ_CLOSED;
    }
    req->body[req->body_len] = '\0';
    return UP_READ_OK;
}

/* --- fixtures ----------------------------------------------------------- */

/* Text of the first <name>…</name> (or "" for <name/>) in the body. */
static const char *up_element_text(apr_pool_t *p, const char *body,
                                   apr_size_t len, const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *empty = apr_pstrcat(p, "<", name, "/>", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *start = memmem(body, len, open, strlen(open));
    const char *end;

    if (!start) {
        return memmem(body, len, empty, strlen(empty)) ? "" : NULL;
    }
    start += strlen(open);
    end = memmem(start, len - (apr_size_t)(start - body), close, strlen(close));
    if (!end) {
        return NULL;
    }
    return apr_pstrmemdup(p, start, (apr_size_t)(end - start));
}

/* A JSON request's "msgid":"..." (the first such key; a test peer needs
 * no more), or NULL. */
static const char *up_json_msgid(apr_pool_t *p, const char *body,
                                 apr_size_t len)
{
    static const char key[] = "\"msgid\"";
    const char *s = memmem(body, len, key, sizeof(key) - 1);
    const char *end = body + len, *v;

    if (!s) {
        return NULL;
    }
    for (s += sizeof(key) - 1; s < end && (*s == ' ' || *s == ':'); s++) {
    }
    if (s >= end || *s != '"') {
        return NULL;
    }
    v = ++s;
    while (s < end && *s != '"') {
        s++;
    }
    return s < end ? apr_pstrmemdup(p, v, (apr_size_t)(s - v)) : NULL;
}

/* Letters, digits, '_', '-', '.', not starting with '.': a file name that
 * cannot leave the fixture directory. */
static int up_msgid_ok(const char *id)
{
    const char *s;

    if (!*id || *id == '.' || strlen(id) > UP_MAX_MSGID
        || !strcmp(id, "_template")) {
        return 0;
    }
    for (s = id; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-' && *s != '.') {
            return 0;
        }
    }
    return 1;
}

/* Whole file into pool memory; APR_ENOENT when absent. */
static apr_status_t up_slurp(apr_pool_t *p, const char *path, char **data,
                             apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi.size > UP_MAX_FIXTURE) {
        rv = APR_ENOSPC;
    }
    if (rv == APR_SUCCESS) {
        *len = (apr_size_t)fi.size;
        *data = apr_palloc(p, *len + 1);
        rv = *len ? apr_file_read_full(f, *data, *len, NULL) : APR_SUCCESS;
        (*data)[*len] = '\0';
    }
    apr_file_close(f);
    return rv;
}

/* The encoding named in the XML declaration, or UTF-8. */
static const char *up_declared_encoding(apr_pool_t *p, const char *data,
                                        apr_size_t len)
{
    apr_size_t scan = len < 256 ? len : 256;
    const char *decl_end, *enc, *v, *e;
    char quote;

    if (len < 5 || memcmp(data, "<?xml", 5)) {
        return "UTF-8";
    }
    decl_end = memmem(data, scan, "?>", 2);
    enc = decl_end ? memmem(data, (apr_size_t)(decl_end - data),
                            "encoding", 8) : NULL;
    if (!enc) {
        return "UTF-8";
    }
    v = enc + 8;
    while (v < decl_end && (*v == ' ' || *v == '=')) {
        v++;
    }
    quote = *v;
    if (quote != '"' && quote != '\'') {
        return "UTF-8";
    }
    for (e = ++v; e < decl_end && *e != quote; e++) {
        if (!apr_isalnum(*e) && *e != '-' && *e != '_' && *e != '.') {
            return "UTF-8";
        }
    }
    return e > v && e < decl_end ? apr_pstrmemdup(p, v, (apr_size_t)(e - v))
                                 : "UTF-8";
}

/* Parse DIR/<name>.opts; NULL or the reason it is unusable. */
static const char *up_read_opts(apr_pool_t *p, const char *path,
                                up_opts_t *o)
{
    char *data, *line, *next;
    apr_size_t len;
    int lineno = 0;
    apr_status_t rv;

    memset(o, 0, sizeof(*o));
    o->status = 200;
    o->extra_headers = apr_array_make(p, 2, sizeof(const char *));
    rv = up_slurp(p, path, &data, &len);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return NULL;
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s", path);
    }
    for (line = data; line; line = next) {
        char *end, *arg;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        lineno++;
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        end = line + strlen(line);
        while (end > line && (end[-1] == '\r' || end[-1] == ' '
                              || end[-1] == '\t')) {
            *--end = '\0';
        }
        if (!*line || *line == '#') {
            continue;
        }
        arg = line + strcspn(line, " \t");
        if (*arg) {
            *arg++ = '\0';
            while (*arg == ' ' || *arg == '\t') {
                arg++;
            }
        }
        if (!strcmp(line, "chunked") && !*arg) {
            o->chunked = 1;
        }
        else if (!strcmp(line, "chunk-bytes") && *arg) {
            int n = atoi(arg);

            if (n < 1 || n > 65536) {
                return apr_psprintf(p, "%s:%d: chunk-bytes must be 1-65536",
                                    path, lineno);
            }
            o->chunk_bytes = (apr_size_t)n;
        }
        else if (!strcmp(line, "gzip-if-accepted") && !*arg) {
            o->gzip_if_accepted = 1;
        }
        else if (!strcmp(line, "close") && !*arg) {
            o->close = 1;
        }
        else if (!strcmp(line, "no-length") && !*arg) {
            o->no_length = 1;
            o->close = 1;
        }
        else if (!strcmp(line, "break-after") && *arg) {
            int n = atoi(arg);

            if (n < 1) {
                return apr_psprintf(p, "%s:%d: break-after must be 1 or more",
                                    path, lineno);
            }
            o->break_after = (apr_size_t)n;
            o->close = 1;
        }
        else if (!strcmp(line, "status") && *arg) {
            o->status = atoi(arg);
            if (o->status < 200 || o->status > 599) {
                return apr_psprintf(p, "%s:%d: status must be 200-599",
                                    path, lineno);
            }
        }
        else if (!strcmp(line, "delay-ms") && *arg) {
            o->delay_ms = atoi(arg);
            if (o->delay_ms < 0 || o->delay_ms > UP_MAX_DELAY_MS) {
                return apr_psprintf(p, "%s:%d: delay-ms must be 0-%d",
                                    path, lineno, UP_MAX_DELAY_MS);
            }
        }
        else if (!strcmp(line, "content-type") && *arg) {
            o->content_type = arg;
        }
        else if (!strcmp(line, "header") && strchr(arg, ':')
                 && !strpbrk(arg, "\r\n")) {
            APR_ARRAY_PUSH(o->extra_headers, const char *) = arg;
        }
        else {
            return apr_psprintf(p, "%s:%d: unknown option '%s'", path,
                                lineno, line);
        }
    }
    return NULL;
}

/* Replace {{name}} / {{name|default}} from the request's elements. */
static char *up_fill_template(apr_pool_t *p, const char *tpl,
                              apr_size_t tpl_len, const up_request_t *req,
                              apr_size_t *out_len)
{
    apr_array_header_t *out = apr_array_make(p, (int)tpl_len + 256, 1);
    const char *s = tpl, *end = tpl + tpl_len;

    while (s < end) {
        const char *open = memmem(s, (apr_size_t)(end - s), "{{", 2);
        const char *close, *bar, *n;
        const char *name, *value;
        int valid = 1;

        if (!open) {
            open = end;
        }
        while (s < open) {
            *(char *)apr_array_push(out) = *s++;
        }
        if (open == end) {
            break;
        }
        close = memmem(open + 2, (apr_size_t)(end - open - 2), "}}", 2);
        if (!close) {
            break;
        }
        bar = memchr(open + 2, '|', (apr_size_t)(close - open - 2));
        for (n = open + 2; n < (bar ? bar : close); n++) {
            if (!apr_isalnum(*n) && *n != '_') {
                valid = 0;
            }
        }
        if (!valid || n == open + 2) {
            /* not a placeholder: copy "{{" and go on */
            *(char *)apr_array_push(out) = *s++;
            *(char *)apr_array_push(out) = *s++;
            continue;
        }
        name = apr_pstrmemdup(p, open + 2, (apr_size_t)(n - open - 2));
        value = up_element_text(p, req->body, req->body_len, name);
        if (!value) {
            value = bar ? apr_pstrmemdup(p, bar + 1,
                                         (apr_size_t)(close - bar - 1)) : "";
        }
        for (; *value; value++) {
            *(char *)apr_array_push(out) = *value;
        }
        s = close + 2;
    }
    while (s < end) {
        *(char *)apr_array_push(out) = *s++;
    }
    *out_len = (apr_size_t)out->nelts;
    *(char *)apr_array_push(out) = '\0';
    return out->elts;
}

static const char *up_gzip(apr_pool_t *p, const char *in, apr_size_t len,
                           char **out, apr_size_t *out_len)
{
    z_stream zs;
    uLong bound;
    int rc;

    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: a gzip wrapper rather than zlib's */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return "deflateInit2 failed";
    }
    bound = deflateBound(&zs, (uLong)len) + 64;
    *out = apr_palloc(p, bound);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)*out;
    zs.avail_out = (uInt)bound;
    rc = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? NULL : "deflate did not finish";
}

/* --cases DIR: every DIR/NAME.req.xml names, by its msgid, the case whose
 * DIR/NAME.resp.xml answers it. Read once at start; NULL or the reason
 * the directory cannot serve. */
static const char *up_load_cases(apr_pool_t *p, const char *dir,
                                 apr_hash_t **cases)
{
    apr_array_header_t *names;
    apr_status_t rv;
    const char *why;
    char err[128];
    int i;

    *cases = apr_hash_make(p);
    if ((why = hmb_cases_list(p, dir, &names)) != NULL) {
        return apr_pstrcat(p, "--cases ", why, NULL);
    }
    for (i = 0; i < names->nelts; i++) {
        const char *base = apr_pstrcat(p, dir, "/",
                                       APR_ARRAY_IDX(names, i, const char *),
                                       NULL);
        const char *path = apr_pstrcat(p, base, ".req.xml", NULL);
        const char *msgid, *other;
        char *body;
        apr_size_t len;

        if ((rv = up_slurp(p, path, &body, &len)) != APR_SUCCESS) {
            return apr_psprintf(p, "%s: %s", path,
                                apr_strerror(rv, err, sizeof(err)));
        }
        msgid = up_element_text(p, body, len, "msgid");
        if (msgid) {
            char *m = apr_pstrdup(p, msgid);
            apr_collapse_spaces(m, m);
            msgid = m;
        }
        if (!msgid || !up_msgid_ok(msgid)) {
            return apr_psprintf(p, "%s: no usable <msgid>", path);
        }
        if ((other = apr_hash_get(*cases, msgid, APR_HASH_KEY_STRING))) {
            return apr_psprintf(p, "%s: msgid %s is also %s.req.xml's", path,
                                msgid, other);
        }
        apr_hash_set(*cases, msgid, APR_HASH_KEY_STRING, base);
    }
    return NULL;
}

/* --- responses ---------------------------------------------------------- */

static const char *up_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:  return "Unknown";
    }
}

/* Uneven chunk sizes, cycled; they cut multibyte characters and tags. */
static const apr_size_t up_chunk_sizes[] = { 1, 17, 200, 3, 700, 64, 9 };

/* Send one response; returns non-zero when the connection must close. */
static int up_respond(up_conn_t *c, const up_request_t *req,
                      const up_opts_t *o, const char *content_type,
                      const char *body, apr_size_t body_len, int head_only)
{
    apr_pool_t *p = req->pool;
    char date[APR_RFC822_DATE_LEN];
    int close = o->close || o->no_length;
    int chunked = o->chunked && !o->no_length;
    int no_body = o->status == 204 || o->status == 304;
    const char *hdr;
    int i;

    if (req->minor == 0) {
        const char *conn = apr_table_get(req->headers, "Connection");
        if (!conn || !up_has_token(conn, "keep-alive") || chunked) {
            close = 1;
        }
        if (chunked) {          /* HTTP/1.0 has no chunked coding */
            chunked = 0;
        }
    }
    else {
        const char *conn = apr_table_get(req->headers, "Connection");
        if (conn && up_has_token(conn, "close")) {
            close = 1;
        }
    }
    apr_rfc822_date(date, apr_time_now());
    hdr = apr_psprintf(p, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: hmb-sandbox"
                       "\r\n", o->status, up_reason(o->status), date);
    if (!no_body) {
        hdr = apr_pstrcat(p, hdr, "Content-Type: ", content_type, "\r\n",
                          NULL);
        if (chunked) {
            hdr = apr_pstrcat(p, hdr, "Transfer-Encoding: chunked\r\n", NULL);
        }
        else if (!o->no_length) {
            hdr = apr_psprintf(p, "%sContent-Length: %" APR_SIZE_T_FMT "\r\n",
                               hdr, body_len);
        }
    }
    for (i = 0; i < o->extra_headers->nelts; i++) {
        hdr = apr_pstrcat(p, hdr, APR_ARRAY_IDX(o->extra_headers, i,
                                                const char *), "\r\n", NULL);
    }
    if (close) {
        hdr = apr_pstrcat(p, hdr, "Connection: close\r\n", NULL);
    }
    hdr = apr_pstrcat(p, hdr, "\r\n", NULL);

    if (up_send_all(c, hdr, strlen(hdr)) != APR_SUCCESS) {
        return 1;
    }
    if (no_body || head_only) {
        return close;
    }
    if (!chunked) {
        apr_size_t n = o->break_after && o->break_after < body_len
                       ? o->break_after : body_len;

        if (n && up_send_all(c, body, n) != APR_SUCCESS) {
            return 1;
        }
        return close;
    }
    for (i = 0; body_len > 0; i++) {
        apr_size_t n = o->chunk_bytes ? o->chunk_bytes
                       : up_chunk_sizes[i % (sizeof(up_chunk_sizes)
                                             / sizeof(up_chunk_sizes[0]))];
        const char *size_line;
        if (n > body_len) {
            n = body_len;
        }
        size_line = apr_psprintf(p, "%lx\r\n", (unsigned long)n);
        if (up_send_all(c, size_line, strlen(size_line)) != APR_SUCCESS
            || up_send_all(c, body, n) != APR_SUCCESS
            || up_send_all(c, "\r\n", 2) != APR_SUCCESS) {
            return 1;
        }
        body += n;
        body_len -= n;
        /* pauses between the first chunks make the proxy see them apart */
        if (i < 12 && body_len > 0 && !o->chunk_bytes) {
            apr_sleep(apr_time_from_msec(3));
        }
    }
    if (up_send_all(c, "0\r\n\r\n", 5) != APR_SUCCESS) {
        return 1;
    }
    return close;
}

static int up_respond_error(up_conn_t *c, const up_request_t *req, int status,
                            const char *msg, int close)
{
    up_opts_t o;
    const char *body;

    memset(&o, 0, sizeof(o));
    o.status = status;
    o.close = close;
    o.extra_headers = apr_array_make(req->pool, 1, sizeof(const char *));
    /* msg is built from validated msgids and our own text only */
    body = apr_psprintf(req->pool, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                        "\n<response><infcode>-1</infcode><err_msg>%s"
                        "</err_msg></response>\n", msg);
    return up_respond(c, req, &o, "text/xml; charset=UTF-8", body,
                      strlen(body), 0);
}

/* Answer one request.  Returns non-zero when the connection must close. */
static int up_handle(up_conn_t *c, up_request_t *req)
{
    up_server_t *srv = c->srv;
    apr_pool_t *p = req->pool;
    apr_time_t started = apr_time_now();
    const char *msgid, *path, *opts_path, *reason, *ctype;
    const char *accept;
    char *body;
    apr_size_t body_len;
    up_opts_t o;
    int templated = 0, gzipped = 0, close, json = 0;
    apr_status_t rv;

    if (strcmp(req->method, "POST")) {
        int head = !strcmp(req->method, "HEAD");
        if (head || !strcmp(req->method, "GET")) {
            static const char ok[] = "hmb-sandbox ok\n";
            memset(&o, 0, sizeof(o));
            o.status = 200;
            o.extra_headers = apr_array_make(p, 1, sizeof(const char *));
            close = up_respond(c, req, &o, "text/plain", ok, sizeof(ok) - 1,
                               head);
            up_log(srv, "%s %s %s - 200 %d", c->peer, req->method, req->path,
                   (int)(sizeof(ok) - 1));
            return close;
        }
        up_log(srv, "%s %s %s - 405", c->peer, req->method, req->path);
        return up_respond_error(c, req, 405, "only POST, GET and HEAD", 0);
    }

    msgid = up_element_text(p, req->body, req->body_len, "msgid");
    if (!msgid) {
        msgid = up_json_msgid(p, req->body, req->body_len);
    }
    if (msgid) {
        msgid = apr_pstrdup(p, msgid);
        apr_collapse_spaces((char *)msgid, msgid);
    }
    if (!msgid || !up_msgid_ok(msgid)) {
        up_log(srv, "%s POST %s - 400 no usable <msgid> (%" APR_SIZE_T_FMT
               " body bytes)", c->peer, req->path, req->body_len);
        return up_respond_error(c, req, 400, "no usable msgid in request", 0);
    }

    if (srv->cases) {
        const char *base = apr_hash_get(srv->cases, msgid,
                                        APR_HASH_KEY_STRING);
        if (!base) {
            up_log(srv, "%s POST %s %s 404", c->peer, req->path, msgid);
            return up_respond_error(c, req, 404, apr_pstrcat(p,
                                    "no case for msgid ", msgid, NULL), 0);
        }
        path = apr_pstrcat(p, base, ".resp.xml", NULL);
        opts_path = apr_pstrcat(p, base, ".opts", NULL);
    }
    else {
        path = apr_pstrcat(p, srv->fixtures, "/", msgid, ".xml", NULL);
        opts_path = apr_pstrcat(p, srv->fixtures, "/", msgid, ".opts", NULL);
    }
    rv = up_slurp(p, path, &body, &body_len);
    if (APR_STATUS_IS_ENOENT(rv) && !srv->cases) {
        path = apr_pstrcat(p, srv->fixtures, "/", msgid, ".json", NULL);
        rv = up_slurp(p, path, &body, &body_len);
        json = rv == APR_SUCCESS;
    }
    if (APR_STATUS_IS_ENOENT(rv) && !srv->cases) {
        char *tpl;
        apr_size_t tpl_len;
        path = apr_pstrcat(p, srv->fixtures, "/_template.xml", NULL);
        rv = up_slurp(p, path, &tpl, &tpl_len);
        if (APR_STATUS_IS_ENOENT(rv)) {
            up_log(srv, "%s POST %s %s 404", c->peer, req->path, msgid);
            return up_respond_error(c, req, 404, apr_pstrcat(p,
                                    "no fixture for msgid ", msgid, NULL), 0);
        }
        if (rv == APR_SUCCESS) {
            opts_path = apr_pstrcat(p, srv->fixtures, "/_template.opts", NULL);
            body = up_fill_template(p, tpl, tpl_len, req, &body_len);
            templated = 1;
        }
    }
    if (rv != APR_SUCCESS) {
        up_log(srv, "%s POST %s %s 500 cannot read %s", c->peer, req->path,
               msgid, path);
        return up_respond_error(c, req, 500, "fixture unreadable", 0);
    }
    reason = up_read_opts(p, opts_path, &o);
    if (reason) {
        up_log(srv, "%s POST %s %s 500 %s", c->peer, req->path, msgid, reason);
        return up_respond_error(c, req, 500, "fixture options unusable", 0);
    }

    ctype = o.content_type ? o.content_type
          : json ? "application/json"
          : apr_pstrcat(p, "text/xml; charset=",
                        up_declared_encoding(p, body, body_len), NULL);

    accept = apr_table_get(req->headers, "Accept-Encoding");
    if (o.gzip_if_accepted && accept && up_has_token(accept, "gzip")) {
        char *gz;
        apr_size_t gz_len;
        reason = up_gzip(p, body, body_len, &gz, &gz_len);
        if (reason) {
            up_log(srv, "%s POST %s %s 500 %s", c->peer, req->path, msgid,
                   reason);
            return up_respond_error(c, req, 500, "gzip failed", 0);
        }
        body = gz;
        body_len = gz_len;
        gzipped = 1;
        APR_ARRAY_PUSH(o.extra_headers, const char *) =
            "Content-Encoding: gzip";
    }
    if (o.gzip_if_accepted) {
        APR_ARRAY_PUSH(o.extra_headers, const char *) = "Vary: Accept-Encoding";
    }

    if (o.delay_ms) {
        up_pause_ms(srv, o.delay_ms);
    }
    close = up_respond(c, req, &o, ctype, body, body_len, 0);
    up_log(srv, "%s POST %s %s %d %" APR_SIZE_T_FMT "%s%s%s%s in=%"
           APR_SIZE_T_FMT " ms=%d", c->peer, req->path, msgid, o.status,
           body_len, templated ? " template" : "", o.chunked ? " chunked" : "",
           gzipped ? " gzip" : "", close ? " close" : "", req->body_len,
           (int)apr_time_as_msec(apr_time_now() - started));
    return close;
}

/* --- connections and workers -------------------------------------------- */

static void up_serve(up_server_t *srv, apr_socket_t *sock, apr_pool_t *cp)
{
    up_conn_t c;
    apr_sockaddr_t *sa;
    apr_pool_t *rp;
    char *ip = NULL;

    memset(&c, 0, sizeof(c));
    c.srv = srv;
    c.sock = sock;
    c.buf = apr_palloc(cp, UP_MAX_HEADER);
    if (apr_socket_addr_get(&sa, APR_REMOTE, sock) == APR_SUCCESS
        && apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS) {
        c.peer = apr_psprintf(cp, "%s:%d", ip, (int)sa->port);
    }
    else {
        c.peer = "-";
    }
    apr_socket_timeout_set(sock, UP_SLICE);
    apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);
    apr_pool_create(&rp, cp);

    while (!up_should_stop(srv) && !c.eof) {
        up_request_t req;
        int err_status = 0;
        up_read_result_t rr;

        memset(&req, 0, sizeof(req));
        req.pool = rp;
        req.method = "-";
        req.path = "-";
        req.headers = apr_table_make(rp, 1);
        rr = up_read_request(&c, &req, &err_status);
        if (rr == UP_READ_CLOSED) {
            break;
        }
        if (rr == UP_READ_BAD) {
            up_log(srv, "%s %s %s - %d bad request", c.peer, req.method,
                   req.path, err_status);
            up_respond_error(&c, &req, err_status, "bad request", 1);
            break;
        }
        if (up_handle(&c, &req)) {
            break;
        }
        apr_pool_clear(rp);
    }
    apr_socket_close(sock);
}

static void *APR_THREAD_FUNC up_worker(apr_thread_t *thd, void *data)
{
    up_server_t *srv = data;

    for (;;) {
        apr_socket_t *sock = NULL;
        apr_pool_t *cp = NULL;

        apr_thread_mutex_lock(srv->q_lock);
        while (srv->q_count == 0 && !up_should_stop(srv)) {
            apr_thread_cond_timedwait(srv->q_cond, srv->q_lock, UP_SLICE);
        }
        if (srv->q_count > 0) {
            sock = srv->q_sock[srv->q_head];
            cp = srv->q_pool[srv->q_head];
            srv->q_head = (srv->q_head + 1) % UP_QUEUE_CAP;
            srv->q_count--;
        }
        apr_thread_mutex_unlock(srv->q_lock);
        if (!sock) {
            break;              /* stopping and nothing left to serve */
        }
        if (up_should_stop(srv)) {
            apr_socket_close(sock);
        }
        else {
            up_serve(srv, sock, cp);
        }
        apr_pool_destroy(cp);
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

static void up_usage(void)
{
    fprintf(stderr,
            "usage: hmb-sandbox --listen 127.0.0.1:PORT "
            "(--cases DIR | --fixtures DIR)\n"
            "                   [--pidfile FILE] [--log FILE]\n"
            "                   [--max-seconds N (3600)] [--threads N (%d)]\n"
            "                   [--keepalive-seconds N (60)]"
            " [--exit-with-parent]\n",
            UP_DEFAULT_THREADS);
}

static int up_fail(const char *what, apr_status_t rv)
{
    char err[256];
    fprintf(stderr, "hmb-sandbox: %s: %s\n", what,
            apr_strerror(rv, err, sizeof(err)));
    return 1;
}

int main(int argc, const char *const *argv)
{
    static const apr_getopt_option_t options[] = {
        { "listen", 'l', 1, "address:port to listen on" },
        { "fixtures", 'f', 1, "fixture directory" },
        { "cases", 'c', 1, "conformance case directory" },
        { "pidfile", 'p', 1, "pid file" },
        { "log", 'L', 1, "request log" },
        { "max-seconds", 'm', 1, "stop after this many seconds" },
        { "threads", 't', 1, "worker threads" },
        { "keepalive-seconds", 'k', 1, "idle keep-alive limit" },
        { "exit-with-parent", 'P', 0, "stop when the parent process ends" },
        { "help", 'h', 0, "this text" },
        { NULL, 0, 0, NULL }
    };
    apr_pool_t *pool, *cp = NULL;
    apr_getopt_t *opt;
    apr_status_t rv;
    const char *listen = NULL, *pidfile = NULL, *logfile = NULL;
    const char *cases = NULL;
    const char *optarg;
    char *host, *scope;
    apr_port_t port;
    int optch, nthreads = UP_DEFAULT_THREADS, i;
    long max_seconds = 3600, keepalive_seconds = 60;
    apr_sockaddr_t *sa;
    apr_socket_t *ls;
    apr_threadattr_t *attr;
    apr_thread_t **threads;
    apr_finfo_t fi;
    up_server_t *srv;
    struct sigaction sa_stop, sa_ign;
    apr_pollfd_t pfd;
    apr_int32_t nready;
    int exit_with_parent = 0;
    pid_t parent = getppid();

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS) {
        fprintf(stderr, "hmb-sandbox: apr_app_initialize failed\n");
        return 1;
    }
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    srv = apr_pcalloc(pool, sizeof(*srv));

    apr_getopt_init(&opt, pool, argc, argv);
    while ((rv = apr_getopt_long(opt, options, &optch, &optarg))
           == APR_SUCCESS) {
        switch (optch) {
        case 'l': listen = optarg; break;
        case 'f': srv->fixtures = optarg; break;
        case 'c': cases = optarg; break;
        case 'p': pidfile = optarg; break;
        case 'L': logfile = optarg; break;
        case 'm': max_seconds = atol(optarg); break;
        case 't': nthreads = atoi(optarg); break;
        case 'k': keepalive_seconds = atol(optarg); break;
        case 'P': exit_with_parent = 1; break;
        default: up_usage(); return optch == 'h' ? 0 : 2;
        }
    }
    if (rv != APR_EOF || opt->ind != argc || !listen
        || !srv->fixtures == !cases
        || max_seconds <= 0 || nthreads < 1 || nthreads > UP_MAX_THREADS
        || keepalive_seconds <= 0) {
        up_usage();
        return 2;
    }
    if (cases) {
        const char *why = up_load_cases(pool, cases, &srv->cases);

        if (why) {
            fprintf(stderr, "hmb-sandbox: %s\n", why);
            return 2;
        }
        srv->fixtures = cases;
    }
    else if (apr_stat(&fi, srv->fixtures, APR_FINFO_TYPE, pool)
             != APR_SUCCESS || fi.filetype != APR_DIR) {
        fprintf(stderr, "hmb-sandbox: --fixtures %s is not a directory\n",
                srv->fixtures);
        return 2;
    }
    rv = apr_parse_addr_port(&host, &scope, &port, listen, pool);
    if (rv != APR_SUCCESS || !host || scope) {
        fprintf(stderr, "hmb-sandbox: --listen wants ADDRESS:PORT, got %s\n",
                listen);
        return 2;
    }
    srv->keepalive = apr_time_from_sec(keepalive_seconds);
    srv->deadline = apr_time_now() + apr_time_from_sec(max_seconds);

    memset(&sa_stop, 0, sizeof(sa_stop));
    sa_stop.sa_handler = up_on_signal;
    sigemptyset(&sa_stop.sa_mask);
    sigaction(SIGTERM, &sa_stop, NULL);
    sigaction(SIGINT, &sa_stop, NULL);
    memset(&sa_ign, 0, sizeof(sa_ign));
    sa_ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa_ign, NULL);     /* a client gone mid-write */

    if ((rv = apr_thread_mutex_create(&srv->log_lock, APR_THREAD_MUTEX_DEFAULT,
                                      pool)) != APR_SUCCESS
        || (rv = apr_thread_mutex_create(&srv->q_lock,
                                         APR_THREAD_MUTEX_DEFAULT, pool))
           != APR_SUCCESS
        || (rv = apr_thread_cond_create(&srv->q_cond, pool)) != APR_SUCCESS) {
        return up_fail("cannot create locks", rv);
    }
    if (logfile) {
        rv = apr_file_open(&srv->log, logfile, APR_FOPEN_WRITE
                           | APR_FOPEN_CREATE | APR_FOPEN_APPEND,
                           APR_FPROT_OS_DEFAULT, pool);
        if (rv != APR_SUCCESS) {
            return up_fail(logfile, rv);
        }
    }

    if ((rv = apr_sockaddr_info_get(&sa, host, APR_UNSPEC, port, 0, pool))
        != APR_SUCCESS
        || (rv = apr_socket_create(&ls, sa->family, SOCK_STREAM,
                                   APR_PROTO_TCP, pool)) != APR_SUCCESS) {
        return up_fail(listen, rv);
    }
    apr_socket_opt_set(ls, APR_SO_REUSEADDR, 1);
    if ((rv = apr_socket_bind(ls, sa)) != APR_SUCCESS
        || (rv = apr_socket_listen(ls, 511)) != APR_SUCCESS) {
        return up_fail(listen, rv);
    }
    /* apr_socket_accept itself never waits on a socket with a timeout: it
     * fails at once with EAGAIN.  So the listener is non-blocking and the
     * wait is apr_poll's, in short slices to see SIGTERM and the deadline. */
    apr_socket_opt_set(ls, APR_SO_NONBLOCK, 1);
    apr_socket_timeout_set(ls, 0);
    memset(&pfd, 0, sizeof(pfd));
    pfd.p = pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = ls;

    apr_threadattr_create(&attr, pool);
    apr_threadattr_stacksize_set(attr, 256 * 1024);
    threads = apr_pcalloc(pool, sizeof(*threads) * (apr_size_t)nthreads);
    for (i = 0; i < nthreads; i++) {
        rv = apr_thread_create(&threads[i], attr, up_worker, srv, pool);
        if (rv != APR_SUCCESS) {
            up_stop_requested = 1;
            up_fail("cannot create worker thread", rv);
            break;
        }
    }

    if (pidfile && !up_stop_requested) {
        apr_file_t *pf;
        rv = apr_file_open(&pf, pidfile, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                           | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, pool);
        if (rv != APR_SUCCESS) {
            up_fail(pidfile, rv);
            up_stop_requested = 1;
        }
        else {
            apr_file_printf(pf, "%ld\n", (long)getpid());
            apr_file_close(pf);
        }
    }
    up_log(srv, "listening on %s, %s %s, %d threads, stop after %lds",
           listen, srv->cases ? "cases" : "fixtures", srv->fixtures,
           nthreads, max_seconds);

    while (!up_should_stop(srv)) {
        apr_socket_t *cs;
        int full;

        apr_thread_mutex_lock(srv->q_lock);
        full = srv->q_count == UP_QUEUE_CAP;
        apr_thread_mutex_unlock(srv->q_lock);
        if (full) {
            apr_sleep(apr_time_from_msec(10));
            continue;
        }
        if (!cp) {
            /* unmanaged: each connection's memory is freed by its worker */
            if (apr_pool_create_unmanaged_ex(&cp, NULL, NULL)
                != APR_SUCCESS) {
                apr_sleep(apr_time_from_msec(10));
                continue;
            }
        }
        if (exit_with_parent && getppid() != parent) {
            up_log(srv, "parent %ld gone", (long)parent);
            break;
        }
        rv = apr_poll(&pfd, 1, &nready, apr_time_from_msec(200));
        if (rv != APR_SUCCESS || nready < 1) {
            continue;           /* timeout or a signal: look at the flags */
        }
        rv = apr_socket_accept(&cs, ls, cp);
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_TIMEUP(rv) && !APR_STATUS_IS_EAGAIN(rv)
                && !APR_STATUS_IS_EINTR(rv)) {
                char err[128];
                up_log(srv, "accept: %s", apr_strerror(rv, err, sizeof(err)));
                apr_sleep(apr_time_from_msec(10));
            }
            continue;
        }
        apr_thread_mutex_lock(srv->q_lock);
        i = (srv->q_head + srv->q_count) % UP_QUEUE_CAP;
        srv->q_sock[i] = cs;
        srv->q_pool[i] = cp;
        srv->q_count++;
        apr_thread_cond_signal(srv->q_cond);
        apr_thread_mutex_unlock(srv->q_lock);
        cp = NULL;
    }

    up_log(srv, "stopping (%s)", up_stop_requested ? "signal"
           : apr_time_now() >= srv->deadline ? "max-seconds" : "parent gone");
    apr_socket_close(ls);
    up_stop_requested = 1;
    apr_thread_mutex_lock(srv->q_lock);
    apr_thread_cond_broadcast(srv->q_cond);
    apr_thread_mutex_unlock(srv->q_lock);
    for (i = 0; i < nthreads && threads[i]; i++) {
        apr_status_t trv;
        apr_thread_join(&trv, threads[i]);
    }
    /* Workers drain the queue before leaving; anything here is a leftover. */
    while (srv->q_count > 0) {
        apr_socket_close(srv->q_sock[srv->q_head]);
        apr_pool_destroy(srv->q_pool[srv->q_head]);
        srv->q_head = (srv->q_head + 1) % UP_QUEUE_CAP;
        srv->q_count--;
    }
    if (cp) {
        apr_pool_destroy(cp);
    }
    if (pidfile) {
        apr_file_remove(pidfile, pool);
    }
    up_log(srv, "stopped");
    apr_pool_destroy(pool);
    return 0;
}
