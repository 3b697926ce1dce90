/* Helpers shared by the core units. One CSV reader serves plan catalogs
 * and enrollment files alike, so a quoting rule or a line number is
 * right (or wrong) in one place only. */
#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_xlate.h>

#include "hmb_util.h"

#define HMB_SHOW_MAX 40
/* A record is a handful of short fields; anything this long is not one. */
#define HMB_CSV_MAX_RECORD (1024 * 1024)
#define HMB_CSV_WINDOW (64 * 1024)

int hmb_date_valid(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31};
    int i, y, m, d;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return 0;
    }
    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return 0;
        }
    }
    y = atoi(s);
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) {
        return 0;
    }
    if (m == 2 && d == 29
        && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 0;
    }
    return 1;
}

int hmb_time_valid(const char *s)
{
    char date[11];
    int i;

    if (!s || strlen(s) != 19 || s[10] != ' ' || s[13] != ':'
        || s[16] != ':') {
        return 0;
    }
    for (i = 11; i < 19; i++) {
        if (i != 13 && i != 16 && (s[i] < '0' || s[i] > '9')) {
            return 0;
        }
    }
    if ((s[11] - '0') * 10 + (s[12] - '0') > 23
        || s[14] > '5' || s[17] > '5') {
        return 0;
    }
    memcpy(date, s, 10);
    date[10] = '\0';
    return hmb_date_valid(date);
}

const char *hmb_read_file(apr_pool_t *p, const char *path, apr_size_t max,
                          char **buf, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t n;
    char *b;
    char ebuf[120];

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        return apr_pstrdup(p, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        return apr_pstrdup(p, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.filetype != APR_REG) {
        apr_file_close(f);
        return "not a regular file";
    }
    if (fi.size < 0 || (apr_uint64_t)fi.size > max) {
        apr_file_close(f);
        return max >= 1024 * 1024
               ? apr_psprintf(p, "larger than %" APR_SIZE_T_FMT " MiB",
                              max / (1024 * 1024))
               : apr_psprintf(p, "larger than %" APR_SIZE_T_FMT " bytes",
                              max);
    }
    n = (apr_size_t)fi.size;
    b = apr_palloc(p, n + 1);
    if (n) {
        rv = apr_file_read_full(f, b, n, NULL);
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
            return apr_pstrdup(p, apr_strerror(rv, ebuf, sizeof(ebuf)));
        }
    }
    b[n] = '\0';
    apr_file_close(f);
    *buf = b;
    *len = n;
    return NULL;
}

char *hmb_trim(apr_pool_t *p, const char *s)
{
    const char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'
                     || e[-1] == '\n')) {
        e--;
    }
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

int hmb_utf8_valid(const char *str, apr_size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        apr_size_t k, more;
        apr_uint32_t cp;

        if (c == 0) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (more > n - i - 1) {
            return 0;
        }
        for (k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000)
            || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += more + 1;
    }
    return 1;
}

const char *hmb_one_line(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, n + 1);
    char *d = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c == 0x7f) {
            if (d > out && d[-1] != ' ') {
                *d++ = ' ';
            }
        }
        else {
            *d++ = (char)c;
        }
    }
    while (d > out && d[-1] == ' ') {
        d--;
    }
    n = (apr_size_t)(d - out);
    if (max && n > max) {
        n = max;
        /* never cut a UTF-8 character in two */
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    out[n] = '\0';
    return out;
}

const char *hmb_show(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s), i, shown = n > HMB_SHOW_MAX ? HMB_SHOW_MAX : n;
    char *r = apr_palloc(p, shown + 4);

    for (i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        r[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (shown < n) {
        memcpy(r + shown, "...", 3);
        shown += 3;
    }
    r[shown] = '\0';
    return r;
}

/* The code point at s (UTF-8) and its length; U+FFFD and 1 for a byte
 * that does not start a valid sequence. */
static apr_uint32_t utf8_next(const unsigned char *s, int *len)
{
    apr_uint32_t cp;
    int n, i;

    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
        : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n || !hmb_utf8_valid((const char *)s, (apr_size_t)n)) {
        *len = 1;
        return 0xFFFD;
    }
    cp = s[0] & (0x7F >> n);
    for (i = 1; i < n; i++) {
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *len = n;
    return cp;
}

const char *hmb_json_escape(apr_pool_t *p, const char *utf8)
{
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    char *out = apr_palloc(p, strlen((const char *)s) * 12 + 1), *w = out;

    while (*s) {
        int n;
        apr_uint32_t cp = utf8_next(s, &n);

        s += n;
        if (cp == '"' || cp == '\\') {
            *w++ = '\\';
            *w++ = (char)cp;
        }
        else if (cp >= 0x20 && cp < 0x7F) {
            *w++ = (char)cp;
        }
        else if (cp < 0x10000) {
            w += apr_snprintf(w, 7, "\\u%04x", (unsigned)cp);
        }
        else {
            cp -= 0x10000;
            w += apr_snprintf(w, 13, "\\u%04x\\u%04x",
                              (unsigned)(0xD800 + (cp >> 10)),
                              (unsigned)(0xDC00 + (cp & 0x3FF)));
        }
    }
    *w = '\0';
    return out;
}

apr_uint32_t hmb_digest32(const char *s)
{
    apr_uint32_t h = 2166136261u;

    for (; s && *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

const char *hmb_mask_psn(apr_pool_t *p, const char *psn_no)
{
    apr_size_t n, i;
    char *m;

    if (!psn_no || !*psn_no) {
        return "-";
    }
    n = strlen(psn_no);
    m = apr_pstrmemdup(p, psn_no, n);
    for (i = 0; i < n; i++) {
        if (n <= 6 || (i >= 4 && i < n - 2)) {
            m[i] = '*';
        }
    }
    return m;
}

/* ---- CSV ------------------------------------------------------------ */

struct hmb_csv_t {
    apr_pool_t *p;
    const char *name;
    apr_file_t *file;               /* NULL: all the data is in buf */
    const char *buf;                /* the data, or the file's window */
    apr_size_t pos;
    apr_size_t end;
    char *window;                   /* file only */
    apr_xlate_t *xlate;             /* file in another encoding: to UTF-8 */
    const char *encoding;
    char *raw;                      /* ... its bytes not converted yet */
    apr_size_t raw_len;
    int raw_eof;
    int bad_encoding;               /* the file is not in its encoding */
    int eof;                        /* nothing more to read */
    apr_off_t consumed;             /* bytes before buf[0] */
    int line;                       /* physical line of buf[pos] */
    int started;                    /* the byte-order mark was looked at */
    char *rec;                      /* the record's fields, NUL-separated */
    apr_size_t rec_len;
    apr_size_t rec_cap;
    apr_array_header_t *starts;     /* apr_size_t: offset of each field */
};

static apr_status_t csv_free_record(void *data)
{
    free(((hmb_csv_t *)data)->rec);
    return APR_SUCCESS;
}

static hmb_csv_t *csv_make(apr_pool_t *p, const char *name)
{
    hmb_csv_t *c = apr_pcalloc(p, sizeof(*c));

    c->p = p;
    c->name = name;
    c->line = 1;
    c->starts = apr_array_make(p, 16, sizeof(apr_size_t));
    apr_pool_cleanup_register(p, c, csv_free_record, apr_pool_cleanup_null);
    return c;
}

hmb_csv_t *hmb_csv_mem(apr_pool_t *p, const char *name, const char *buf,
                       apr_size_t len)
{
    hmb_csv_t *c = csv_make(p, name);

    c->buf = buf;
    c->end = len;
    c->eof = 1;
    return c;
}

hmb_csv_t *hmb_csv_file(apr_pool_t *p, const char *name, apr_file_t *f)
{
    hmb_csv_t *c = csv_make(p, name);

    c->file = f;
    c->window = apr_palloc(p, HMB_CSV_WINDOW);
    c->buf = c->window;
    return c;
}

const char *hmb_csv_file_enc(apr_pool_t *p, const char *name, apr_file_t *f,
                             const char *encoding, hmb_csv_t **csv)
{
    hmb_csv_t *c = hmb_csv_file(p, name, f);
    apr_status_t rv;

    *csv = c;
    if (!encoding || !strcasecmp(encoding, "UTF-8")
        || !strcasecmp(encoding, "UTF8")) {
        return NULL;
    }
    rv = apr_xlate_open(&c->xlate, "UTF-8", encoding, p);
    if (rv != APR_SUCCESS) {
        *csv = NULL;
        return apr_psprintf(p, "%s: cannot read %s text on this system",
                            name, encoding);
    }
    c->encoding = apr_pstrdup(p, encoding);
    /* a UTF-8 window holds at most 3/2 as many bytes as GB text */
    c->raw = apr_palloc(p, HMB_CSV_WINDOW / 2);
    return NULL;
}

apr_off_t hmb_csv_offset(const hmb_csv_t *c)
{
    return c->consumed + (apr_off_t)c->pos;
}

/* The next window of a file in another encoding, as UTF-8. A character
 * cut by the end of a read waits for the next one; bytes that are not
 * text in the encoding end the data, and the reader says so. */
static apr_size_t csv_convert(hmb_csv_t *c)
{
    apr_size_t in, out, n;
    apr_status_t rv;

    for (;;) {
        if (!c->raw_eof && c->raw_len < HMB_CSV_WINDOW / 2) {
            n = HMB_CSV_WINDOW / 2 - c->raw_len;
            rv = apr_file_read(c->file, c->raw + c->raw_len, &n);
            if (rv != APR_SUCCESS || n == 0) {
                c->raw_eof = 1;
            }
            else {
                c->raw_len += n;
            }
        }
        if (!c->raw_len) {
            c->eof = 1;
            return 0;
        }
        in = c->raw_len;
        out = HMB_CSV_WINDOW;
        rv = apr_xlate_conv_buffer(c->xlate, c->raw, &in, c->window, &out);
        c->end = HMB_CSV_WINDOW - out;
        memmove(c->raw, c->raw + (c->raw_len - in), in);
        if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
            /* the converted part still counts; what follows does not */
            c->raw_len = 0;
            c->raw_eof = 1;
            c->bad_encoding = 1;
            if (!c->end) {
                c->eof = 1;
            }
            return c->end;
        }
        if (c->raw_eof && in == c->raw_len && !c->end) {
            /* a character cut off by the end of the file */
            c->raw_len = 0;
            c->bad_encoding = 1;
            c->eof = 1;
            return 0;
        }
        c->raw_len = in;
        if (c->end) {
            return c->end;
        }
    }
}

/* Bytes available at buf[pos..end), reading more from the file when the
 * window is used up. 0 at the end of the data. */
static apr_size_t csv_avail(hmb_csv_t *c)
{
    apr_size_t n;
    apr_status_t rv;

    if (c->pos < c->end || c->eof) {
        return c->end - c->pos;
    }
    c->consumed += (apr_off_t)c->end;
    c->pos = c->end = 0;
    if (c->xlate) {
        return csv_convert(c);
    }
    n = HMB_CSV_WINDOW;
    rv = apr_file_read(c->file, c->window, &n);
    if (rv != APR_SUCCESS || n == 0) {
        /* a read error ends the data; the record in progress then fails
         * as truncated, which names the line */
        c->eof = 1;
        return 0;
    }
    c->end = n;
    return n;
}

static int csv_peek(hmb_csv_t *c)
{
    return csv_avail(c) ? (unsigned char)c->buf[c->pos] : -1;
}

static int csv_get(hmb_csv_t *c)
{
    return csv_avail(c) ? (unsigned char)c->buf[c->pos++] : -1;
}

static const char *csv_err(hmb_csv_t *c, int line, const char *reason)
{
    return apr_psprintf(c->p, "%s:%d: %s", c->name, line, reason);
}

/* The end of the data: fine, unless the file stopped being text in its
 * encoding there. */
static const char *csv_end(hmb_csv_t *c)
{
    if (c->bad_encoding) {
        return csv_err(c, c->line, apr_psprintf(c->p, "not valid %s text",
                                                c->encoding));
    }
    return NULL;
}

static int csv_put(hmb_csv_t *c, char ch)
{
    if (c->rec_len == c->rec_cap) {
        apr_size_t cap = c->rec_cap ? c->rec_cap * 2 : 256;
        char *r;

        if (cap > HMB_CSV_MAX_RECORD) {
            return 0;
        }
        if (!(r = realloc(c->rec, cap))) {
            return 0;
        }
        c->rec = r;
        c->rec_cap = cap;
    }
    c->rec[c->rec_len++] = ch;
    return 1;
}

const char *hmb_csv_next(hmb_csv_t *c, apr_array_header_t *fields,
                         int *line, int *blank)
{
    int start, ch, quoted_any = 0, i;

    apr_array_clear(fields);
    apr_array_clear(c->starts);
    c->rec_len = 0;
    *blank = 0;
    if (!c->started) {
        c->started = 1;
        /* what spreadsheets put before UTF-8 text */
        if (csv_peek(c) == 0xEF && c->end - c->pos >= 3
            && memcmp(c->buf + c->pos, "\xEF\xBB\xBF", 3) == 0) {
            c->pos += 3;
        }
    }
    *line = start = c->line;
    if (csv_peek(c) < 0) {
        return csv_end(c);
    }
    for (;;) {
        APR_ARRAY_PUSH(c->starts, apr_size_t) = c->rec_len;
        if (csv_peek(c) == '"') {
            quoted_any = 1;
            c->pos++;
            for (;;) {
                ch = csv_get(c);
                if (ch < 0) {
                    return csv_err(c, start, "quoted field not closed");
                }
                if (ch == '"') {
                    if (csv_peek(c) == '"') {
                        c->pos++;
                    }
                    else {
                        break;
                    }
                }
                else if (ch == 0) {
                    return csv_err(c, c->line, "NUL byte in the file: not "
                                   "a text file");
                }
                else if (ch == '\n') {
                    c->line++;
                }
                if (!csv_put(c, (char)ch)) {
                    return csv_err(c, start, "record longer than 1 MiB");
                }
            }
            ch = csv_peek(c);
            if (ch >= 0 && ch != ',' && ch != '\r' && ch != '\n') {
                return csv_err(c, c->line, "unexpected character after a "
                               "closing quote (write \"\" for a quote "
                               "inside a quoted field)");
            }
        }
        else {
            while ((ch = csv_peek(c)) >= 0 && ch != ',' && ch != '\r'
                   && ch != '\n') {
                if (ch == '"') {
                    return csv_err(c, c->line, "quote inside an unquoted "
                                   "field (quote the whole field and write "
                                   "\"\")");
                }
                if (ch == 0) {
                    return csv_err(c, c->line, "NUL byte in the file: not "
                                   "a text file");
                }
                c->pos++;
                if (!csv_put(c, (char)ch)) {
                    return csv_err(c, start, "record longer than 1 MiB");
                }
            }
        }
        if (!csv_put(c, '\0')) {
            return csv_err(c, start, "record longer than 1 MiB");
        }
        ch = csv_get(c);
        if (ch < 0 && c->bad_encoding) {
            return csv_end(c);
        }
        if (ch == ',') {
            continue;
        }
        if (ch == '\r') {
            if (csv_peek(c) != '\n') {
                return csv_err(c, c->line, "carriage return not followed "
                               "by a line feed");
            }
            c->pos++;
            ch = '\n';
        }
        if (ch == '\n') {
            c->line++;
        }
        break;
    }
    /* fields are NUL-separated, and a NUL byte in the data was refused */
    for (i = 0; i < c->starts->nelts; i++) {
        const char *f = c->rec + APR_ARRAY_IDX(c->starts, i, apr_size_t);

        if (!hmb_utf8_valid(f, strlen(f))) {
            return csv_err(c, start, "not valid UTF-8 text");
        }
        APR_ARRAY_PUSH(fields, const char *) = f;
    }
    if (fields->nelts == 1 && !quoted_any) {
        const char *f = APR_ARRAY_IDX(fields, 0, const char *);
        *blank = f[strspn(f, " \t")] == '\0';
    }
    return NULL;
}
