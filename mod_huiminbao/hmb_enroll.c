/* Enrollment CSV rows from the insurer (INTERFACES.md section 4). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_lib.h>

#include "hmb_enroll.h"

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

/* The one header this file accepts, field by field. */
static const char *const hmb_enroll_columns[] = {
    "plan_code", "plan_year", "psn_no", "cover_from", "preexisting",
    "person_class", "admdvs", "payer", "premium"
};
#define HMB_ENROLL_NCOLS 9
#define HMB_ENROLL_HEADER "plan_code,plan_year,psn_no,cover_from," \
                          "preexisting,person_class,admdvs,payer,premium"
#define HMB_PSN_NO_MAX 64
#define HMB_ADMDVS_MAX 12

typedef struct {
    apr_pool_t *p;
    const char *name;
    const char *buf;
    apr_size_t len;
    apr_size_t pos;
    int line;                       /* physical line of buf[pos] */
} hmb_csv_t;

static const char *csv_error(hmb_csv_t *c, int line, const char *reason)
{
    return apr_psprintf(c->p, "%s:%d: %s", c->name, line, reason);
}

/* A line holding nothing but blanks, consumed with its end of line. */
static int csv_skip_blank_line(hmb_csv_t *c)
{
    apr_size_t i = c->pos;

    while (i < c->len && (c->buf[i] == ' ' || c->buf[i] == '\t')) {
        i++;
    }
    if (i < c->len && c->buf[i] == '\r' && i + 1 < c->len
        && c->buf[i + 1] == '\n') {
        i++;
    }
    if (i < c->len && c->buf[i] != '\n') {
        return 0;
    }
    if (i == c->len && i == c->pos) {
        return 0;                   /* end of data, not a line */
    }
    c->pos = i < c->len ? i + 1 : i;
    c->line++;
    return 1;
}

/* One record (RFC 4180 quoting) into fields; the position is left at the
 * start of the next line. */
static const char *csv_read_record(hmb_csv_t *c, apr_array_header_t *fields)
{
    int start = c->line;

    apr_array_clear(fields);
    for (;;) {
        apr_size_t from = c->pos, n = 0;
        char *out;
        char ch;

        if (c->pos < c->len && c->buf[c->pos] == '"') {
            /* Find the closing quote first, so that the field costs only
             * its own length in the pool. */
            from = ++c->pos;
            for (;;) {
                if (c->pos >= c->len) {
                    return csv_error(c, start, "quoted field not closed");
                }
                ch = c->buf[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->len && c->buf[c->pos] == '"') {
                        c->pos++;
                        continue;
                    }
                    break;
                }
                if (ch == '\0') {
                    return csv_error(c, c->line, "NUL byte in the file");
                }
                if (ch == '\n') {
                    c->line++;
                }
            }
            out = apr_palloc(c->p, c->pos - from);
            for (; from < c->pos - 1; from++) {
                out[n++] = c->buf[from];
                if (c->buf[from] == '"') {
                    from++;         /* the second of a "" pair */
                }
            }
            if (c->pos < c->len && c->buf[c->pos] != ','
                && c->buf[c->pos] != '\r' && c->buf[c->pos] != '\n') {
                return csv_error(c, c->line,
                                 "unexpected character after a closing "
                                 "quote (write \"\" for a quote inside a "
                                 "quoted field)");
            }
        }
        else {
            while (c->pos < c->len) {
                ch = c->buf[c->pos];
                if (ch == ',' || ch == '\r' || ch == '\n') {
                    break;
                }
                if (ch == '"') {
                    return csv_error(c, c->line,
                                     "quote inside an unquoted field "
                                     "(quote the whole field and write \"\")");
                }
                if (ch == '\0') {
                    return csv_error(c, c->line, "NUL byte in the file");
                }
                c->pos++;
            }
            n = c->pos - from;
            out = apr_palloc(c->p, n + 1);
            memcpy(out, c->buf + from, n);
        }
        out[n] = '\0';
        APR_ARRAY_PUSH(fields, const char *) = out;

        if (c->pos >= c->len) {
            return NULL;
        }
        ch = c->buf[c->pos++];
        if (ch == ',') {
            continue;
        }
        if (ch == '\r') {
            if (c->pos >= c->len || c->buf[c->pos] != '\n') {
                return csv_error(c, c->line,
                                 "carriage return not followed by a line "
                                 "feed");
            }
            c->pos++;
        }
        c->line++;
        return NULL;
    }
}

/* Letters, digits, '_', '.', '-': the plan schema's code type. */
static int enroll_is_code(const char *s)
{
    apr_size_t n = 0;

    for (; *s; s++, n++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '.' && *s != '-') {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

static const char *enroll_check_row(apr_pool_t *p, const char *const *f,
                                    hmb_enrollment_t *e)
{
    const char *why;
    apr_size_t n;
    const char *s;

    if (!enroll_is_code(f[0])) {
        return apr_psprintf(p, "plan_code \"%s\" is not a code (1 to 64 "
                            "letters, digits, '_', '.', '-')", f[0]);
    }
    e->plan_code = f[0];

    if (strlen(f[1]) != 4 || !apr_isdigit(f[1][0]) || !apr_isdigit(f[1][1])
        || !apr_isdigit(f[1][2]) || !apr_isdigit(f[1][3])
        || atoi(f[1]) < 1900) {
        return apr_psprintf(p, "plan_year \"%s\" is not a 4-digit year",
                            f[1]);
    }
    e->plan_year = atoi(f[1]);

    for (s = f[2], n = 0; *s; s++, n++) {
        if (*s <= ' ' || *s > '~') {
            return "psn_no must be printable ASCII without spaces";
        }
    }
    if (n == 0 || n > HMB_PSN_NO_MAX) {
        return apr_psprintf(p, "psn_no must have 1 to %d characters",
                            HMB_PSN_NO_MAX);
    }
    e->psn_no = f[2];

    if (!hmb_date_valid(f[3])) {
        return apr_psprintf(p, "cover_from \"%s\" is not a date "
                            "(YYYY-MM-DD)", f[3]);
    }
    e->cover_from = f[3];

    if (strcmp(f[4], "0") && strcmp(f[4], "1")) {
        return apr_psprintf(p, "preexisting \"%s\" must be 0 or 1", f[4]);
    }
    e->preexisting = f[4][0] == '1';

    if (*f[5] && !enroll_is_code(f[5])) {
        return apr_psprintf(p, "person_class \"%s\" is not a code (1 to 64 "
                            "letters, digits, '_', '.', '-') nor empty",
                            f[5]);
    }
    e->person_class = *f[5] ? f[5] : NULL;

    for (s = f[6], n = 0; *s; s++, n++) {
        if (!apr_isdigit(*s)) {
            break;
        }
    }
    if (*s || n > HMB_ADMDVS_MAX) {
        return apr_psprintf(p, "admdvs \"%s\" must be an administrative "
                            "division code of up to %d digits, or empty",
                            f[6], HMB_ADMDVS_MAX);
    }
    e->admdvs = f[6];

    if (strcmp(f[7], "self") && strcmp(f[7], "account")
        && strcmp(f[7], "employer") && strcmp(f[7], "donor")) {
        return apr_psprintf(p, "payer \"%s\" must be self, account, "
                            "employer or donor", f[7]);
    }
    e->payer = f[7];

    why = hmb_money_parse(f[8], 0, &e->premium);
    if (why) {
        return apr_psprintf(p, "premium \"%s\": %s", f[8], why);
    }
    return NULL;
}

const char *hmb_enroll_parse(apr_pool_t *p, const char *name, const char *buf,
                             apr_size_t len, apr_array_header_t **rows)
{
    hmb_csv_t c;
    apr_array_header_t *fields = apr_array_make(p, HMB_ENROLL_NCOLS,
                                                sizeof(const char *));
    apr_array_header_t *out = apr_array_make(p, 64,
                                             sizeof(hmb_enrollment_t));
    apr_hash_t *seen = apr_hash_make(p);
    const char *err;
    int i, blank = 0;

    *rows = NULL;
    c.p = p;
    c.name = name;
    c.buf = buf;
    c.len = len;
    c.pos = 0;
    c.line = 1;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        c.pos = 3;
    }
    if (c.pos >= len) {
        return csv_error(&c, 1, "empty file: the first line must be "
                         HMB_ENROLL_HEADER);
    }
    if ((err = csv_read_record(&c, fields))) {
        return err;
    }
    for (i = 0; i < HMB_ENROLL_NCOLS && i < fields->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(fields, i, const char *),
                   hmb_enroll_columns[i])) {
            break;
        }
    }
    if (i < HMB_ENROLL_NCOLS || fields->nelts != HMB_ENROLL_NCOLS) {
        return csv_error(&c, 1, "the header must be " HMB_ENROLL_HEADER);
    }

    while (c.pos < c.len) {
        hmb_enrollment_t e;
        const char *key, *dup;
        int line;

        if (csv_skip_blank_line(&c)) {
            if (!blank) {
                blank = c.line - 1;
            }
            continue;
        }
        if (blank) {
            /* Only trailing blank lines are harmless: one in the middle
             * often means a file was concatenated or cut. */
            return csv_error(&c, blank, "blank line before more rows");
        }
        line = c.line;
        if ((err = csv_read_record(&c, fields))) {
            return err;
        }
        if (fields->nelts != HMB_ENROLL_NCOLS) {
            return csv_error(&c, line,
                             apr_psprintf(p, "%d fields, expected %d (%s)",
                                          fields->nelts, HMB_ENROLL_NCOLS,
                                          HMB_ENROLL_HEADER));
        }
        memset(&e, 0, sizeof(e));
        err = enroll_check_row(p, (const char *const *)fields->elts, &e);
        if (err) {
            return csv_error(&c, line, err);
        }
        e.line = line;
        /* plan_code has no '|' and the year is four digits, so the key is
         * unambiguous whatever psn_no holds. */
        key = apr_psprintf(p, "%s|%d|%s", e.plan_code, e.plan_year,
                           e.psn_no);
        if ((dup = apr_hash_get(seen, key, APR_HASH_KEY_STRING))) {
            return csv_error(&c, line,
                             apr_psprintf(p, "psn_no %s appears twice for "
                                          "plan %s %d (first on line %s)",
                                          e.psn_no, e.plan_code,
                                          e.plan_year, dup));
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, apr_itoa(p, line));
        APR_ARRAY_PUSH(out, hmb_enrollment_t) = e;
    }
    *rows = out;
    return NULL;
}
