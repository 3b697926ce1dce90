/* Enrollment CSV rows from the insurer (INTERFACES.md section 4). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_lib.h>

#include "hmb_enroll.h"
#include "hmb_util.h"

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

struct hmb_enroll_reader_t {
    apr_pool_t *p;
    hmb_csv_t *csv;
    apr_array_header_t *fields;
    const char *name;
    int blank;                      /* first of a run of blank lines */
};

const char *hmb_enroll_open(apr_pool_t *p, const char *name, hmb_csv_t *csv,
                            hmb_enroll_reader_t **reader)
{
    hmb_enroll_reader_t *r = apr_pcalloc(p, sizeof(*r));
    const char *err;
    int i, line, blank;

    *reader = NULL;
    r->p = p;
    r->csv = csv;
    r->name = name;
    r->fields = apr_array_make(p, HMB_ENROLL_NCOLS, sizeof(const char *));
    if ((err = hmb_csv_next(csv, r->fields, &line, &blank))) {
        return err;
    }
    if (!r->fields->nelts) {
        return apr_psprintf(p, "%s:1: empty file: the first line must be "
                            HMB_ENROLL_HEADER, name);
    }
    for (i = 0; i < HMB_ENROLL_NCOLS && i < r->fields->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(r->fields, i, const char *),
                   hmb_enroll_columns[i])) {
            break;
        }
    }
    if (i < HMB_ENROLL_NCOLS || r->fields->nelts != HMB_ENROLL_NCOLS) {
        return apr_psprintf(p, "%s:1: the header must be "
                            HMB_ENROLL_HEADER, name);
    }
    *reader = r;
    return NULL;
}

const char *hmb_enroll_next(hmb_enroll_reader_t *r, apr_pool_t *p,
                            hmb_enrollment_t *e, int *done)
{
    const char *err;
    int line, blank, i;

    *done = 0;
    for (;;) {
        if ((err = hmb_csv_next(r->csv, r->fields, &line, &blank))) {
            return err;
        }
        if (!r->fields->nelts) {
            *done = 1;
            return NULL;
        }
        if (!blank) {
            break;
        }
        if (!r->blank) {
            r->blank = line;
        }
    }
    if (r->blank) {
        /* Only trailing blank lines are harmless: one in the middle
         * often means a file was concatenated or cut. */
        return apr_psprintf(p, "%s:%d: blank line before more rows",
                            r->name, r->blank);
    }
    if (r->fields->nelts != HMB_ENROLL_NCOLS) {
        return apr_psprintf(p, "%s:%d: %d fields, expected %d (%s)", r->name,
                            line, r->fields->nelts, HMB_ENROLL_NCOLS,
                            HMB_ENROLL_HEADER);
    }
    /* the reader's strings live until its next record */
    for (i = 0; i < HMB_ENROLL_NCOLS; i++) {
        APR_ARRAY_IDX(r->fields, i, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(r->fields, i, const char *));
    }
    memset(e, 0, sizeof(*e));
    err = enroll_check_row(p, (const char *const *)r->fields->elts, e);
    if (err) {
        return apr_psprintf(p, "%s:%d: %s", r->name, line, err);
    }
    e->line = line;
    return NULL;
}

const char *hmb_enroll_parse(apr_pool_t *p, const char *name, const char *buf,
                             apr_size_t len, apr_array_header_t **rows)
{
    apr_array_header_t *out = apr_array_make(p, 64,
                                             sizeof(hmb_enrollment_t));
    apr_hash_t *seen = apr_hash_make(p);
    hmb_enroll_reader_t *r;
    const char *err;
    int done;

    *rows = NULL;
    if ((err = hmb_enroll_open(p, name, hmb_csv_mem(p, name, buf, len),
                               &r))) {
        return err;
    }
    for (;;) {
        hmb_enrollment_t e;
        const char *key, *dup;

        if ((err = hmb_enroll_next(r, p, &e, &done))) {
            return err;
        }
        if (done) {
            break;
        }
        /* plan_code has no '|' and the year is four digits, so the key is
         * unambiguous whatever psn_no holds. */
        key = apr_psprintf(p, "%s|%d|%s", e.plan_code, e.plan_year,
                           e.psn_no);
        if ((dup = apr_hash_get(seen, key, APR_HASH_KEY_STRING))) {
            return apr_psprintf(p, "%s:%d: psn_no %s appears twice for "
                                "plan %s %d (first on line %s)", name,
                                e.line, e.psn_no, e.plan_code, e.plan_year,
                                dup);
        }
        apr_hash_set(seen, key, APR_HASH_KEY_STRING, apr_itoa(p, e.line));
        APR_ARRAY_PUSH(out, hmb_enrollment_t) = e;
    }
    *rows = out;
    return NULL;
}
