/* Plan files (INTERFACES.md section 3): read, validated against the
 * embedded xsd/hmb-plan.xsd, then checked for what a schema cannot say.
 * A plan that loads is one the engine can use without further checks, so
 * every doubt is an error here, at start-up, and never a surprise at a
 * billing desk. */
#include <string.h>
#include <stdarg.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "hmb_plan.h"
#include "hmb_xml.h"
#include "hmb_util.h"

/* Plans are a few kilobytes; anything near this is not a plan. */
#define HMB_PLAN_MAX_SIZE (4 * 1024 * 1024)
/* A catalog may copy a large part of the national drug list. */
#define HMB_CODES_MAX_SIZE (64 * 1024 * 1024)
#define HMB_CODES_HEADER "med_list_codg,name"

typedef struct {
    apr_pool_t *p;              /* the plan's lifetime */
    apr_pool_t *tmp;            /* the document and scratch, freed on return */
    const char *name;           /* the plan file, as messages name it */
    const char *base_dir;       /* absolute; catalog and list paths */
    hmb_plan_t *plan;
    apr_array_header_t *lnodes; /* xmlNodePtr of each liability */
    apr_array_header_t *inodes; /* xmlNodePtr of each insurer */
} hmb_plan_loader_t;

static const char *plan_err(hmb_plan_loader_t *ld, long line,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *plan_err(hmb_plan_loader_t *ld, long line,
                            const char *fmt, ...)
{
    va_list ap;
    const char *reason;

    va_start(ap, fmt);
    reason = apr_pvsprintf(ld->p, fmt, ap);
    va_end(ap);
    return apr_psprintf(ld->p, "%s:%ld: %s", ld->name, line, reason);
}

const char *hmb_basis_name(hmb_basis_e b)
{
    switch (b) {
    case HMB_BASIS_INSCOPE_SELFPAY:
        return "inscope-selfpay";
    case HMB_BASIS_OUTSCOPE_SELFPAY:
        return "outscope-selfpay";
    case HMB_BASIS_OUTSCOPE_CATALOG:
        return "outscope-catalog";
    case HMB_BASIS_LIST:
        return "list";
    }
    return "unknown";
}

static int basis_parse(const char *s, hmb_basis_e *b)
{
    static const hmb_basis_e all[] = {
        HMB_BASIS_INSCOPE_SELFPAY, HMB_BASIS_OUTSCOPE_SELFPAY,
        HMB_BASIS_OUTSCOPE_CATALOG, HMB_BASIS_LIST
    };
    apr_size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, hmb_basis_name(all[i])) == 0) {
            *b = all[i];
            return 1;
        }
    }
    return 0;
}

/* ---- catalog and list files ---------------------------------------- */

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        *--e = '\0';
    }
    return s;
}

/* A catalog or list file: header med_list_codg,name then one code a row.
 * codes maps each code to its name. Errors name the CSV file and line. */
static const char *codes_parse(apr_pool_t *p, apr_pool_t *tmp,
                               const char *name, const char *buf,
                               apr_size_t len, apr_hash_t **codes)
{
    apr_hash_t *h = apr_hash_make(p);
    apr_hash_t *lines = apr_hash_make(tmp);
    apr_array_header_t *fields = apr_array_make(tmp, 4, sizeof(char *));
    hmb_csv_t *csv = hmb_csv_mem(tmp, name, buf, len);
    const char *err;
    int lineno = 0, line, blank;

    for (;;) {
        char *code, *cname;
        const char *first;

        if ((err = hmb_csv_next(csv, fields, &line, &blank))) {
            return apr_pstrdup(p, err);
        }
        if (!fields->nelts) {
            break;
        }
        if (!lineno++) {
            const char *header = apr_array_pstrcat(tmp, fields, ',');
            int i;

            for (i = 0; i < fields->nelts; i++) {
                APR_ARRAY_IDX(fields, i, char *) =
                    trim(APR_ARRAY_IDX(fields, i, char *));
            }
            if (strcmp(apr_array_pstrcat(tmp, fields, ','),
                       HMB_CODES_HEADER) != 0) {
                return apr_psprintf(p, "%s:%d: the header must be '%s', "
                                    "not '%.60s'", name, line,
                                    HMB_CODES_HEADER, header);
            }
            continue;
        }
        if (blank) {
            continue;
        }
        if (fields->nelts != 2) {
            return apr_psprintf(p, "%s:%d: %d fields, expected 2 "
                                "(med_list_codg,name)", name, line,
                                fields->nelts);
        }
        code = trim(APR_ARRAY_IDX(fields, 0, char *));
        cname = trim(APR_ARRAY_IDX(fields, 1, char *));
        if (*code == '\0') {
            return apr_psprintf(p, "%s:%d: empty med_list_codg", name, line);
        }
        if (strpbrk(code, " \t\r\n")) {
            return apr_psprintf(p, "%s:%d: med_list_codg '%s' contains "
                                "white space", name, line, code);
        }
        if ((first = apr_hash_get(lines, code, APR_HASH_KEY_STRING))) {
            return apr_psprintf(p, "%s:%d: med_list_codg '%s' is already "
                                "on line %s", name, line, code, first);
        }
        code = apr_pstrdup(p, code);
        apr_hash_set(lines, code, APR_HASH_KEY_STRING, apr_itoa(tmp, line));
        apr_hash_set(h, code, APR_HASH_KEY_STRING, apr_pstrdup(p, cname));
    }
    if (lineno == 0) {
        return apr_psprintf(p, "%s:1: empty file; the header must be '%s'",
                            name, HMB_CODES_HEADER);
    }
    if (apr_hash_count(h) == 0) {
        return apr_psprintf(p, "%s:%d: no med_list_codg rows after the "
                            "header", name, line > 1 ? line - 1 : 1);
    }
    *codes = h;
    return NULL;
}

static const char *load_codes(hmb_plan_loader_t *ld, hmb_liability_t *l,
                              const char *attr, const char *rel)
{
    char *path, *buf = NULL;
    apr_size_t len = 0;
    const char *why;
    apr_status_t rv;
    char ebuf[120];

    rv = apr_filepath_merge(&path, ld->base_dir, rel, 0, ld->p);
    if (rv != APR_SUCCESS) {
        return plan_err(ld, l->line, "liability '%s': %s '%s': %s",
                        l->code, attr, rel,
                        apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    why = hmb_read_file(ld->tmp, path, HMB_CODES_MAX_SIZE, &buf, &len);
    if (why) {
        return plan_err(ld, l->line, "liability '%s': cannot read %s "
                        "file %s: %s", l->code, attr, path, why);
    }
    why = codes_parse(ld->p, ld->tmp, path, buf, len, &l->codes);
    if (why) {
        return why;
    }
    l->codes_file = path;
    return NULL;
}

/* ---- schema --------------------------------------------------------- */

/* Compiled per load: plans load a handful of times per start, and
 * nothing global needs guarding or freeing. */
static const char *plan_validate(hmb_plan_loader_t *ld, xmlDocPtr doc)
{
    hmb_xml_schema_t *schema;
    const char *err;

    if ((err = hmb_xml_schema_compile(ld->tmp, hmb_xsd_plan, &schema))) {
        return apr_psprintf(ld->p, "%s: %s", ld->name, err);
    }
    if ((err = hmb_xml_schema_validate(ld->tmp, schema, ld->name, doc))) {
        return apr_pstrdup(ld->p, err);
    }
    return NULL;
}

/* ---- the document --------------------------------------------------- */

static xmlNodePtr first_el(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

static xmlNodePtr next_el(xmlNodePtr n)
{
    return n ? first_el(n->next) : NULL;
}

static int is_el(xmlNodePtr n, const char *name)
{
    return n && strcmp((const char *)n->name, name) == 0;
}

static const char *amount_attr(hmb_plan_loader_t *ld, xmlNodePtr n,
                               const char *what, const char *attr,
                               hmb_fen_t *v)
{
    const char *s = hmb_xml_attr(ld->tmp, n, attr);
    const char *why = hmb_money_parse(s ? s : "", 0, v);

    return why ? plan_err(ld, xmlGetLineNo(n), "%s%s '%s': %s", what, attr,
                          s ? s : "", why)
               : NULL;
}

static const char *ratio_attr(hmb_plan_loader_t *ld, xmlNodePtr n,
                              const char *what, const char *attr,
                              hmb_ratio_t *v)
{
    const char *s = hmb_xml_attr(ld->tmp, n, attr);
    const char *why = hmb_ratio_parse(s ? s : "", v);

    return why ? plan_err(ld, xmlGetLineNo(n), "%s%s '%s': %s", what, attr,
                          s ? s : "", why)
               : NULL;
}

static int has_attr(xmlNodePtr n, const char *attr)
{
    return xmlHasProp(n, (const xmlChar *)attr) != NULL;
}

/* <supervision>: the schema has checked the attributes' forms. */
static const char *load_supervision(hmb_plan_loader_t *ld, xmlNodePtr n)
{
    hmb_supervision_t *sup = &ld->plan->sup;
    const char *s, *err;

    if ((s = hmb_xml_attr(ld->tmp, n, "readmission-days"))) {
        sup->readmission_days = atoi(s);
    }
    if ((s = hmb_xml_attr(ld->tmp, n, "claims-in-30-days"))) {
        sup->claims_in_30_days = atoi(s);
    }
    if ((s = hmb_xml_attr(ld->tmp, n, "other-county"))) {
        sup->other_county = !strcmp(s, "true") || !strcmp(s, "1");
    }
    if (has_attr(n, "outscope-share")
        && (err = ratio_attr(ld, n, "supervision ", "outscope-share",
                             &sup->outscope_share))) {
        return err;
    }
    if (has_attr(n, "claim-over")
        && (err = amount_attr(ld, n, "supervision ", "claim-over",
                              &sup->claim_over))) {
        return err;
    }
    return NULL;
}

static const char *load_header(hmb_plan_loader_t *ld, xmlNodePtr root)
{
    hmb_plan_t *pl = ld->plan;
    long line = xmlGetLineNo(root);
    const char *s;

    pl->code = hmb_xml_attr(ld->p, root, "code");
    pl->name = hmb_xml_attr(ld->p, root, "name");
    pl->year = atoi(hmb_xml_attr(ld->tmp, root, "year"));
    pl->version = atoi(hmb_xml_attr(ld->tmp, root, "version"));
    pl->from = hmb_xml_attr(ld->p, root, "from");
    pl->to = hmb_xml_attr(ld->p, root, "to");

    if (!hmb_date_valid(pl->from)) {
        return plan_err(ld, line, "from '%s' is not a date (YYYY-MM-DD)",
                        pl->from);
    }
    if (!hmb_date_valid(pl->to)) {
        return plan_err(ld, line, "to '%s' is not a date (YYYY-MM-DD)",
                        pl->to);
    }
    if (atoi(pl->from) != pl->year) {
        return plan_err(ld, line, "year %d is not the year of from '%s'",
                        pl->year, pl->from);
    }
    if (strcmp(pl->from, pl->to) > 0) {
        return plan_err(ld, line, "from '%s' is after to '%s'", pl->from,
                        pl->to);
    }
    s = hmb_xml_attr(ld->tmp, root, "cap");
    if (s && *s) {
        const char *err = amount_attr(ld, root, "plan ", "cap", &pl->cap);
        if (err) {
            return err;
        }
        if (pl->cap <= 0) {
            return plan_err(ld, line, "plan cap '%s' must be more than 0 "
                            "(leave it empty for no plan-wide cap)", s);
        }
        pl->has_cap = 1;
    }
    return NULL;
}

static const char *load_cover(hmb_plan_loader_t *ld, xmlNodePtr cover)
{
    hmb_plan_t *pl = ld->plan;
    xmlNodePtr n, d;
    long star_line = 0, code_line = 0;

    pl->med_types = apr_hash_make(ld->p);
    pl->institutions = apr_hash_make(ld->p);
    for (n = first_el(cover->children); n; n = next_el(n)) {
        long line = xmlGetLineNo(n);
        const char *code = hmb_xml_attr(ld->p, n, "code");

        if (is_el(n, "med-type")) {
            hmb_medtype_t *mt;

            if (apr_hash_get(pl->med_types, code, APR_HASH_KEY_STRING)) {
                return plan_err(ld, line, "med-type '%s' is listed more "
                                "than once", code);
            }
            mt = apr_pcalloc(ld->p, sizeof(*mt));
            mt->code = code;
            for (d = first_el(n->children); d; d = next_el(d)) {
                if (!mt->diseases) {
                    mt->diseases = apr_hash_make(ld->p);
                }
                apr_hash_set(mt->diseases, hmb_xml_attr(ld->p, d, "code"),
                             APR_HASH_KEY_STRING, "");
            }
            apr_hash_set(pl->med_types, code, APR_HASH_KEY_STRING, mt);
        }
        else if (is_el(n, "institution")) {
            if (strcmp(code, "*") == 0) {
                pl->all_institutions = 1;
                star_line = star_line ? star_line : line;
            }
            else {
                if (apr_hash_get(pl->institutions, code,
                                 APR_HASH_KEY_STRING)) {
                    return plan_err(ld, line, "institution '%s' is listed "
                                    "more than once", code);
                }
                apr_hash_set(pl->institutions, code, APR_HASH_KEY_STRING,
                             "");
                code_line = code_line ? code_line : line;
            }
            if (star_line && code_line) {
                return plan_err(ld, line, "institution '*' (all) and "
                                "explicit institution codes exclude each "
                                "other");
            }
        }
    }
    return NULL;
}

static const char *load_class(hmb_plan_loader_t *ld, hmb_liability_t *l,
                              xmlNodePtr n)
{
    hmb_class_t *c;
    const char *err;
    long line = xmlGetLineNo(n);
    const char *what;

    c = apr_array_push(l->classes);
    memset(c, 0, sizeof(*c));
    c->code = hmb_xml_attr(ld->p, n, "code");
    if (hmb_liability_class(l, c->code) != c) {
        return plan_err(ld, line, "liability '%s' has class '%s' more than "
                        "once", l->code, c->code);
    }
    what = apr_psprintf(ld->tmp, "liability '%s' class '%s' ", l->code,
                        c->code);
    if (has_attr(n, "deductible")) {
        if ((err = amount_attr(ld, n, what, "deductible", &c->deductible))) {
            return err;
        }
        c->has_deductible = 1;
    }
    if (has_attr(n, "ratio")) {
        if ((err = ratio_attr(ld, n, what, "ratio", &c->ratio))) {
            return err;
        }
        c->has_ratio = 1;
    }
    if (!c->has_deductible && !c->has_ratio) {
        return plan_err(ld, line, "liability '%s' class '%s' overrides "
                        "neither deductible nor ratio", l->code, c->code);
    }
    return NULL;
}

/* Which attributes each basis needs and which it must not have. */
static const char *check_basis_attrs(hmb_plan_loader_t *ld,
                                     const hmb_liability_t *l, xmlNodePtr n)
{
    const char *b = hmb_basis_name(l->basis);
    int catalog = has_attr(n, "catalog");
    int list = has_attr(n, "list");
    int wd = has_attr(n, "without-detail");

    if (l->basis == HMB_BASIS_OUTSCOPE_CATALOG) {
        if (!catalog) {
            return plan_err(ld, l->line, "liability '%s' (basis %s) needs "
                            "a catalog attribute", l->code, b);
        }
        if (!wd) {
            return plan_err(ld, l->line, "liability '%s' (basis %s) needs "
                            "without-detail=\"all\" or \"none\"", l->code, b);
        }
    }
    else if (catalog) {
        return plan_err(ld, l->line, "liability '%s' (basis %s) must not "
                        "have a catalog attribute (only outscope-catalog "
                        "has one)", l->code, b);
    }
    else if (wd) {
        return plan_err(ld, l->line, "liability '%s' (basis %s) must not "
                        "have a without-detail attribute (only "
                        "outscope-catalog has one)", l->code, b);
    }
    if (l->basis == HMB_BASIS_LIST) {
        if (!list) {
            return plan_err(ld, l->line, "liability '%s' (basis %s) needs "
                            "a list attribute", l->code, b);
        }
    }
    else if (list) {
        return plan_err(ld, l->line, "liability '%s' (basis %s) must not "
                        "have a list attribute (only basis list has one)",
                        l->code, b);
    }
    return NULL;
}

static const char *load_liability(hmb_plan_loader_t *ld, xmlNodePtr n)
{
    hmb_plan_t *pl = ld->plan;
    hmb_liability_t *l;
    xmlNodePtr c;
    const char *err, *what, *s;
    int i;

    l = apr_array_push(pl->liabilities);
    memset(l, 0, sizeof(*l));
    APR_ARRAY_PUSH(ld->lnodes, xmlNodePtr) = n;
    l->line = (int)xmlGetLineNo(n);
    l->code = hmb_xml_attr(ld->p, n, "code");
    l->name = hmb_xml_attr(ld->p, n, "name");
    l->pool = hmb_xml_attr(ld->p, n, "pool");
    l->classes = apr_array_make(ld->p, 2, sizeof(hmb_class_t));

    for (i = 0; i < pl->liabilities->nelts - 1; i++) {
        const hmb_liability_t *o = &APR_ARRAY_IDX(pl->liabilities, i,
                                                  hmb_liability_t);
        if (strcmp(o->code, l->code) == 0) {
            return plan_err(ld, l->line, "liability code '%s' is already "
                            "used on line %d", l->code, o->line);
        }
    }
    s = hmb_xml_attr(ld->tmp, n, "basis");
    if (!basis_parse(s, &l->basis)) {
        return plan_err(ld, l->line, "liability '%s': unknown basis '%s'",
                        l->code, s);
    }
    what = apr_psprintf(ld->tmp, "liability '%s' ", l->code);
    if ((err = amount_attr(ld, n, what, "deductible", &l->deductible))
        || (err = ratio_attr(ld, n, what, "ratio", &l->ratio))
        || (err = amount_attr(ld, n, what, "cap", &l->cap))) {
        return err;
    }
    if (has_attr(n, "preexisting-ratio")) {
        if ((err = ratio_attr(ld, n, what, "preexisting-ratio",
                              &l->preexisting_ratio))) {
            return err;
        }
        l->has_preexisting_ratio = 1;
    }
    if (l->cap <= 0) {
        return plan_err(ld, l->line, "liability '%s' cap must be more than "
                        "0", l->code);
    }
    if ((err = check_basis_attrs(ld, l, n))) {
        return err;
    }
    if (l->basis == HMB_BASIS_OUTSCOPE_CATALOG) {
        s = hmb_xml_attr(ld->tmp, n, "without-detail");
        l->without_detail_all = strcmp(s, "all") == 0;
    }
    for (c = first_el(n->children); c; c = next_el(c)) {
        if ((err = load_class(ld, l, c))) {
            return err;
        }
    }
    return NULL;
}

static xmlNodePtr class_node(xmlNodePtr lnode, int idx)
{
    xmlNodePtr c = first_el(lnode->children);

    while (c && idx-- > 0) {
        c = next_el(c);
    }
    return c;
}

static hmb_fen_t class_deductible(const hmb_liability_t *l, const char *cls)
{
    const hmb_class_t *c = hmb_liability_class(l, cls);

    return c && c->has_deductible ? c->deductible : l->deductible;
}

/* A pool has one deductible, for everybody and for each person class:
 * otherwise which liability's figure applies would depend on the order
 * in which claims happen to arrive. */
static const char *check_pools(hmb_plan_loader_t *ld)
{
    const apr_array_header_t *ls = ld->plan->liabilities;
    int i, j, k;

    for (i = 1; i < ls->nelts; i++) {
        const hmb_liability_t *l = &APR_ARRAY_IDX(ls, i, hmb_liability_t);
        const hmb_liability_t *f = NULL;

        for (j = 0; j < i && !f; j++) {
            const hmb_liability_t *o = &APR_ARRAY_IDX(ls, j,
                                                      hmb_liability_t);
            if (strcmp(o->pool, l->pool) == 0) {
                f = o;
            }
        }
        if (!f) {
            continue;
        }
        if (l->deductible != f->deductible) {
            return plan_err(ld, l->line, "liability '%s' has deductible %s "
                            "but shares pool '%s' with liability '%s' (line "
                            "%d), whose deductible is %s: a pool has one "
                            "deductible", l->code,
                            hmb_money_str(ld->tmp, l->deductible), l->pool,
                            f->code, f->line,
                            hmb_money_str(ld->tmp, f->deductible));
        }
        for (k = 0; k < l->classes->nelts; k++) {
            const hmb_class_t *c = &APR_ARRAY_IDX(l->classes, k,
                                                  hmb_class_t);
            hmb_fen_t mine = class_deductible(l, c->code);
            hmb_fen_t theirs = class_deductible(f, c->code);

            if (mine != theirs) {
                xmlNodePtr cn = class_node(APR_ARRAY_IDX(ld->lnodes, i,
                                                         xmlNodePtr), k);
                return plan_err(ld, xmlGetLineNo(cn), "liability '%s' "
                                "class '%s' has deductible %s but shares "
                                "pool '%s' with liability '%s' (line %d), "
                                "where that class has %s: a pool has one "
                                "deductible per class", l->code, c->code,
                                hmb_money_str(ld->tmp, mine), l->pool,
                                f->code, f->line,
                                hmb_money_str(ld->tmp, theirs));
            }
        }
        for (k = 0; k < f->classes->nelts; k++) {
            const hmb_class_t *c = &APR_ARRAY_IDX(f->classes, k,
                                                  hmb_class_t);
            hmb_fen_t mine = class_deductible(l, c->code);
            hmb_fen_t theirs = class_deductible(f, c->code);

            if (mine != theirs) {
                return plan_err(ld, l->line, "liability '%s' has deductible "
                                "%s for class '%s' but shares pool '%s' "
                                "with liability '%s' (line %d), where that "
                                "class has %s: a pool has one deductible "
                                "per class", l->code,
                                hmb_money_str(ld->tmp, mine), c->code,
                                l->pool, f->code, f->line,
                                hmb_money_str(ld->tmp, theirs));
            }
        }
    }
    return NULL;
}

static const char *load_insurers(hmb_plan_loader_t *ld)
{
    hmb_plan_t *pl = ld->plan;
    apr_int64_t sum = 0;
    const char *err;
    int i, j;

    for (i = 0; i < ld->inodes->nelts; i++) {
        xmlNodePtr n = APR_ARRAY_IDX(ld->inodes, i, xmlNodePtr);
        hmb_insurer_t *in = apr_array_push(pl->insurers);
        const char *what;

        in->code = hmb_xml_attr(ld->p, n, "code");
        in->name = hmb_xml_attr(ld->p, n, "name");
        for (j = 0; j < i; j++) {
            const hmb_insurer_t *o = &APR_ARRAY_IDX(pl->insurers, j,
                                                    hmb_insurer_t);
            if (strcmp(o->code, in->code) == 0) {
                return plan_err(ld, xmlGetLineNo(n), "insurer code '%s' "
                                "is already used on line %ld", in->code,
                                xmlGetLineNo(APR_ARRAY_IDX(ld->inodes, j,
                                                           xmlNodePtr)));
            }
        }
        what = apr_psprintf(ld->tmp, "insurer '%s' ", in->code);
        if ((err = ratio_attr(ld, n, what, "share", &in->share))) {
            return err;
        }
        sum += in->share;
    }
    if (sum != HMB_RATIO_ONE) {
        return plan_err(ld, xmlGetLineNo(APR_ARRAY_IDX(ld->inodes, 0,
                                                       xmlNodePtr)),
                        "insurer shares add up to %d.%04d, not 1",
                        (int)(sum / HMB_RATIO_ONE),
                        (int)(sum % HMB_RATIO_ONE));
    }
    return NULL;
}

static const char *load_doc(hmb_plan_loader_t *ld, xmlDocPtr doc)
{
    hmb_plan_t *pl = ld->plan;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr n;
    const char *err;
    int i;

    if ((err = load_header(ld, root))) {
        return err;
    }
    /* The schema fixed the order: cover, liabilities, insurers. */
    n = first_el(root->children);
    if ((err = load_cover(ld, n))) {
        return err;
    }
    for (n = next_el(n); is_el(n, "liability"); n = next_el(n)) {
        if ((err = load_liability(ld, n))) {
            return err;
        }
    }
    for (; is_el(n, "insurer"); n = next_el(n)) {
        APR_ARRAY_PUSH(ld->inodes, xmlNodePtr) = n;
    }
    if ((err = check_pools(ld)) || (err = load_insurers(ld))
        || (is_el(n, "supervision") && (err = load_supervision(ld, n)))) {
        return err;
    }
    /* The files last: every mistake inside the plan itself is reported
     * without needing its catalogs in place. */
    for (i = 0; i < pl->liabilities->nelts; i++) {
        hmb_liability_t *l = &APR_ARRAY_IDX(pl->liabilities, i,
                                            hmb_liability_t);
        xmlNodePtr ln = APR_ARRAY_IDX(ld->lnodes, i, xmlNodePtr);
        const char *attr = l->basis == HMB_BASIS_LIST ? "list" : "catalog";

        if (l->basis != HMB_BASIS_LIST
            && l->basis != HMB_BASIS_OUTSCOPE_CATALOG) {
            continue;
        }
        if ((err = load_codes(ld, l, attr,
                              hmb_xml_attr(ld->tmp, ln, attr)))) {
            return err;
        }
    }
    return NULL;
}

const char *hmb_plan_load_mem(apr_pool_t *p, const char *name,
                              const char *base_dir, const char *buf,
                              apr_size_t len, hmb_plan_t **plan)
{
    hmb_plan_loader_t ld;
    xmlDocPtr doc;
    const char *err;
    char *abs_dir;
    apr_status_t rv;

    *plan = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.p = p;
    ld.name = apr_pstrdup(p, name);
    if (len > HMB_PLAN_MAX_SIZE) {
        return apr_psprintf(p, "%s: larger than %d MiB: not a plan file",
                            ld.name, HMB_PLAN_MAX_SIZE / (1024 * 1024));
    }
    rv = apr_filepath_merge(&abs_dir, NULL, base_dir ? base_dir : ".", 0, p);
    if (rv != APR_SUCCESS) {
        char ebuf[120];
        return apr_psprintf(p, "%s: directory '%s': %s", ld.name,
                            base_dir ? base_dir : ".",
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    ld.base_dir = abs_dir;
    if (apr_pool_create(&ld.tmp, p) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: out of memory", ld.name);
    }
    ld.lnodes = apr_array_make(ld.tmp, 4, sizeof(xmlNodePtr));
    ld.inodes = apr_array_make(ld.tmp, 4, sizeof(xmlNodePtr));
    ld.plan = apr_pcalloc(p, sizeof(hmb_plan_t));
    ld.plan->path = ld.name;
    ld.plan->liabilities = apr_array_make(p, 4, sizeof(hmb_liability_t));
    ld.plan->insurers = apr_array_make(p, 4, sizeof(hmb_insurer_t));

    err = hmb_xml_parse(ld.tmp, ld.name, buf, len, HMB_XML_MAX_DEPTH, &doc);
    if (err) {
        err = apr_pstrdup(p, err);
    }
    else if (!(err = plan_validate(&ld, doc))) {
        err = load_doc(&ld, doc);
    }
    /* Frees the document: only copies in p outlive the load. */
    apr_pool_destroy(ld.tmp);
    if (!err) {
        *plan = ld.plan;
    }
    return err;
}

const char *hmb_plan_load(apr_pool_t *p, const char *path, hmb_plan_t **plan)
{
    apr_pool_t *tmp;
    char *buf = NULL, *abs, *slash;
    apr_size_t len = 0;
    const char *err;
    apr_status_t rv;
    char ebuf[120];

    *plan = NULL;
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: out of memory", path);
    }
    rv = apr_filepath_merge(&abs, NULL, path, 0, tmp);
    if (rv != APR_SUCCESS) {
        err = apr_psprintf(p, "%s: %s", path,
                           apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    else if ((err = hmb_read_file(tmp, abs, HMB_PLAN_MAX_SIZE, &buf, &len))) {
        err = apr_psprintf(p, "%s: cannot read the plan file: %s", path, err);
    }
    else {
        slash = strrchr(abs, '/');
        *slash = '\0';
        err = hmb_plan_load_mem(p, path, *abs ? abs : "/", buf, len, plan);
    }
    apr_pool_destroy(tmp);
    return err;
}

/* ---- sets of plans -------------------------------------------------- */

const char *hmb_plan_check_set(apr_pool_t *p, const apr_array_header_t *plans)
{
    int i, j;

    for (i = 1; i < plans->nelts; i++) {
        const hmb_plan_t *a = APR_ARRAY_IDX(plans, i, const hmb_plan_t *);

        for (j = 0; j < i; j++) {
            const hmb_plan_t *b = APR_ARRAY_IDX(plans, j, const hmb_plan_t *);

            if (strcmp(a->code, b->code) == 0 && a->year == b->year
                && a->version == b->version) {
                return apr_psprintf(p, "%s: plan %s year %d version %d is "
                                    "also loaded from %s; give the new one "
                                    "a higher version", a->path, a->code,
                                    a->year, a->version, b->path);
            }
        }
    }
    return NULL;
}

/* Dates are YYYY-MM-DD, so their byte order is their calendar order; a
 * timestamp (setl_time) is compared by its date part. */
apr_array_header_t *hmb_plan_candidates(apr_pool_t *p,
                                        const apr_array_header_t *plans,
                                        const char *date)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(hmb_plan_t *));
    int i;

    if (!date || strlen(date) < 10) {
        return out;
    }
    for (i = 0; i < plans->nelts; i++) {
        hmb_plan_t *pl = APR_ARRAY_IDX(plans, i, hmb_plan_t *);

        if (strncmp(pl->from, date, 10) <= 0
            && strncmp(date, pl->to, 10) <= 0) {
            APR_ARRAY_PUSH(out, hmb_plan_t *) = pl;
        }
    }
    return out;
}

const char *hmb_plan_set_until(const apr_array_header_t *plans)
{
    const char *until = NULL;
    int i;

    for (i = 0; plans && i < plans->nelts; i++) {
        const hmb_plan_t *pl = APR_ARRAY_IDX(plans, i, const hmb_plan_t *);

        if (!until || strcmp(pl->to, until) > 0) {
            until = pl->to;
        }
    }
    return until;
}

const hmb_plan_t *hmb_plan_find(const apr_array_header_t *plans,
                                const char *code, int year)
{
    const hmb_plan_t *best = NULL;
    int i;

    if (!code) {
        return NULL;
    }
    for (i = 0; i < plans->nelts; i++) {
        const hmb_plan_t *pl = APR_ARRAY_IDX(plans, i, const hmb_plan_t *);

        if (pl->year == year && strcmp(pl->code, code) == 0
            && (!best || pl->version > best->version)) {
            best = pl;
        }
    }
    return best;
}

const hmb_class_t *hmb_liability_class(const hmb_liability_t *l,
                                       const char *class_code)
{
    int i;

    if (!class_code || !l->classes) {
        return NULL;
    }
    for (i = 0; i < l->classes->nelts; i++) {
        const hmb_class_t *c = &APR_ARRAY_IDX(l->classes, i, hmb_class_t);

        if (strcmp(c->code, class_code) == 0) {
            return c;
        }
    }
    return NULL;
}
