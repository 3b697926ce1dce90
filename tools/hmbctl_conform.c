/* hmbctl conform URL [CASES_DIR]: the conformance kit's judge. Each case
 * of CASES_DIR (conf/conformance/README.md) is posted, in name order, to
 * a running deployment (the module in front of hmb-sandbox --cases on
 * the same directory, with a fresh ledger), and the answer is held
 * against the case's expected <hmbinfo>: field by field, and every byte
 * of the upstream's response kept. One line per case, a summary line,
 * and exit status 0 only when every case passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "hmb_util.h"
#include "hmb_xml.h"
#include "hmb_http_client.h"
#include "hmbctl.h"
#include "hmb_cases.h"


#define CONFORM_MAX_DIFFS 8

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *diffs;      /* const char *, what did not match */
} conform_case_t;

static void conform_diff(conform_case_t *k, const char *fmt, ...)
{
    va_list ap;

    if (k->diffs->nelts >= CONFORM_MAX_DIFFS) {
        if (k->diffs->nelts == CONFORM_MAX_DIFFS) {
            APR_ARRAY_PUSH(k->diffs, const char *) = "...";
        }
        return;
    }
    va_start(ap, fmt);
    APR_ARRAY_PUSH(k->diffs, const char *) = apr_pvsprintf(k->p, fmt, ap);
    va_end(ap);
}

static xmlNodePtr conform_next_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

/* "hmbdetail[2]" for the second hmbdetail among its siblings, the bare
 * name for an element that is the only one of its name. */
static const char *conform_step(apr_pool_t *p, xmlNodePtr n)
{
    xmlNodePtr s;
    int index = 0, count = 0;

    for (s = n->parent ? n->parent->children : n; s; s = s->next) {
        if (s->type == XML_ELEMENT_NODE
            && !xmlStrcmp(s->name, n->name)) {
            count++;
            if (s == n) {
                index = count;
            }
        }
    }
    return count > 1 ? apr_psprintf(p, "%s[%d]", (const char *)n->name,
                                    index)
                     : (const char *)n->name;
}

static const char *conform_text(apr_pool_t *p, xmlNodePtr n)
{
    xmlChar *t = xmlNodeGetContent(n);
    const char *s = hmb_trim(p, t ? (const char *)t : "");

    xmlFree(t);
    return s;
}

static int conform_has_elements(xmlNodePtr n)
{
    return conform_next_element(n->children) != NULL;
}

/* Every element of want, in order, in got with the same text; nothing
 * more in got. */
static void conform_compare(conform_case_t *k, const char *path,
                            xmlNodePtr want, xmlNodePtr got)
{
    xmlNodePtr w = conform_next_element(want->children);
    xmlNodePtr g = conform_next_element(got->children);

    for (; w || g; w = conform_next_element(w ? w->next : NULL),
                   g = conform_next_element(g ? g->next : NULL)) {
        const char *at;

        if (!g) {
            conform_diff(k, "%s%s: missing", path, conform_step(k->p, w));
            continue;
        }
        if (!w) {
            conform_diff(k, "%s%s: not expected (\"%s\")", path,
                         conform_step(k->p, g), conform_text(k->p, g));
            continue;
        }
        if (xmlStrcmp(w->name, g->name)) {
            conform_diff(k, "%s%s: expected here, got <%s>", path,
                         conform_step(k->p, w), (const char *)g->name);
            return;     /* out of step: the rest would only repeat it */
        }
        at = apr_pstrcat(k->p, path, conform_step(k->p, w), NULL);
        if (conform_has_elements(w) || conform_has_elements(g)) {
            conform_compare(k, apr_pstrcat(k->p, at, "/", NULL), w, g);
        }
        else {
            const char *wt = conform_text(k->p, w);
            const char *gt = conform_text(k->p, g);

            if (strcmp(wt, gt)) {
                conform_diff(k, "%s: expected \"%s\", got \"%s\"", at, wt,
                             gt);
            }
        }
    }
}

/* The answer with our one inserted element taken out must be the
 * upstream's response, byte for byte. */
static void conform_bytes_kept(conform_case_t *k, const char *body,
                               apr_size_t len, const char *upstream,
                               apr_size_t up_len, int inserted)
{
    const char *open = NULL, *close, *s;
    apr_size_t cut = 0;

    if (inserted) {
        for (s = body; (s = memmem(s, len - (apr_size_t)(s - body),
                                   "<hmbinfo>", 9)) != NULL; s++) {
            open = s;
        }
        close = open ? memmem(open, len - (apr_size_t)(open - body),
                              "</hmbinfo>", 10) : NULL;
        if (!close) {
            return;     /* reported as a missing <hmbinfo> already */
        }
        cut = (apr_size_t)(close + 10 - open);
    }
    if (len - cut != up_len
        || (open && (memcmp(body, upstream, (apr_size_t)(open - body))
                     || memcmp(open + cut, upstream + (open - body),
                               up_len - (apr_size_t)(open - body))))
        || (!open && memcmp(body, upstream, up_len))) {
        conform_diff(k, "the upstream's bytes were not kept as they came "
                     "(%" APR_SIZE_T_FMT " bytes, %" APR_SIZE_T_FMT
                     " without <hmbinfo>, upstream %" APR_SIZE_T_FMT ")",
                     len, len - cut, up_len);
    }
}

/* The HTTP status the sandbox answers the case with (its .opts). */
static int conform_status(apr_pool_t *p, const char *base)
{
    const char *buf, *line;
    apr_size_t len;

    if (read_file(p, apr_pstrcat(p, base, ".opts", NULL), &buf,
                         &len)) {
        return 200;
    }
    for (line = buf; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (!strncmp(line, "status ", 7)) {
            return atoi(line + 7);
        }
    }
    return 200;
}

/* One case; NULL when it passed, else its first line of trouble (the
 * rest in k->diffs). *summary says what came back. */
static const char *conform_one(conform_case_t *k, hmb_http_conn_t *conn,
                               const char *path, const char *base,
                               const char **summary)
{
    const char *req, *up, *exp, *err, *charset, *headers[2];
    apr_size_t req_len, up_len, exp_len;
    xmlDocPtr req_doc, exp_doc, got_doc;
    xmlNodePtr want, got = NULL;
    hmb_http_response_t *r;
    int status, untouched;

    *summary = "";
    if ((err = read_file(k->p, apr_pstrcat(k->p, base, ".req.xml",
                                                  NULL), &req, &req_len))
        || (err = read_file(k->p, apr_pstrcat(k->p, base,
                                                     ".resp.xml", NULL),
                                   &up, &up_len))
        || (err = read_file(k->p, apr_pstrcat(k->p, base,
                                                     ".hmbinfo.xml", NULL),
                                   &exp, &exp_len))) {
        return err;
    }
    if ((err = hmb_xml_parse(k->p, "request", req, req_len,
                             HMB_XML_MAX_DEPTH, &req_doc))
        || (err = hmb_xml_parse(k->p, "expected", exp, exp_len,
                                HMB_XML_MAX_DEPTH, &exp_doc))) {
        return err;
    }
    want = xmlDocGetRootElement(exp_doc);
    untouched = !xmlStrcmp(want->name, BAD_CAST "untouched");
    if (!untouched && xmlStrcmp(want->name, BAD_CAST "hmbinfo")) {
        return "the expected answer is neither <hmbinfo> nor <untouched/>";
    }
    /* the request goes out in the encoding it declares, as a HIS sends */
    charset = req_doc->encoding ? (const char *)req_doc->encoding : "UTF-8";
    headers[0] = apr_pstrcat(k->p, "Content-Type: text/xml; charset=",
                             charset, NULL);
    headers[1] = NULL;
    if ((err = hmb_http_request(conn, k->p, "POST", path, headers, req,
                                req_len, &r))) {
        return err;
    }
    status = conform_status(k->p, base);
    if (r->status != status) {
        conform_diff(k, "HTTP status %d, the upstream's was %d", r->status,
                     status);
    }
    if (hmb_xml_parse(k->p, "answer", r->body, r->body_len,
                      HMB_XML_MAX_DEPTH, &got_doc) == NULL) {
        got = hmb_xml_child(hmb_xml_child(xmlDocGetRootElement(got_doc),
                                          "output"), "hmbinfo");
    }
    if (got) {
        const char *rea = hmb_xml_child_text(k->p, got, "rea_code");

        *summary = apr_pstrcat(k->p, hmb_xml_child_text(k->p, got,
                                                        "hmb_stas"),
                               rea ? " " : "", rea ? rea : "", " ",
                               hmb_xml_child_text(k->p, got, "hmb_pay"),
                               NULL);
    }
    else {
        *summary = "no <hmbinfo>";
    }
    if (untouched && got) {
        conform_diff(k, "expected the upstream's response untouched, got "
                     "an <hmbinfo>");
    }
    else if (!untouched && !got) {
        conform_diff(k, "expected an <hmbinfo> in <output>, there is none");
    }
    else if (got) {
        conform_compare(k, "", want, got);
    }
    conform_bytes_kept(k, r->body, r->body_len, up, up_len, got != NULL);
    return k->diffs->nelts ? APR_ARRAY_IDX(k->diffs, 0, const char *)
                           : NULL;
}

int cmd_conform(hmbctl_t *c)
{
    const char *url, *dir, *err, *path;
    apr_array_header_t *names;
    hmb_http_conn_t *conn;
    apr_uri_t uri;
    int i, passed = 0, failed = 0;

    if (c->args->nelts < 1 || c->args->nelts > 2) {
        return usage("conform needs the deployment's URL, e.g. "
                            "http://127.0.0.1/fsi/api");
    }
    url = APR_ARRAY_IDX(c->args, 0, const char *);
    dir = c->args->nelts > 1 ? APR_ARRAY_IDX(c->args, 1, const char *)
                             : HMB_CONFORMDIR;
    if (apr_uri_parse(c->p, url, &uri) != APR_SUCCESS || !uri.scheme
        || strcmp(uri.scheme, "http") || !uri.hostname) {
        return usage(apr_psprintf(c->p, "%s is not an http:// URL",
                                         url));
    }
    if ((err = hmb_cases_list(c->p, dir, &names)) != NULL) {
        return rejected(err);
    }
    path = apr_pstrcat(c->p, uri.path ? uri.path : "/",
                       uri.query ? "?" : "", uri.query ? uri.query : "",
                       NULL);
    conn = hmb_http_conn_make(c->p, uri.hostname, uri.port
                              ? uri.port
                              : apr_uri_port_of_scheme(uri.scheme));
    printf("conformance cases %s against %s\n", dir, url);
    for (i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *why, *summary;
        conform_case_t k;
        int j;

        apr_pool_create(&k.p, c->p);
        k.diffs = apr_array_make(k.p, 4, sizeof(const char *));
        why = conform_one(&k, conn, path, apr_pstrcat(k.p, dir, "/", name,
                                                      NULL), &summary);
        printf("%-28s %-4s %s\n", name, why ? "FAIL" : "ok",
               why && !k.diffs->nelts ? why : summary);
        for (j = 0; j < k.diffs->nelts; j++) {
            printf("    %s\n", APR_ARRAY_IDX(k.diffs, j, const char *));
        }
        if (why) {
            failed++;
        }
        else {
            passed++;
        }
        fflush(stdout);
        apr_pool_destroy(k.p);
    }
    printf("conform: %d cases, %d passed, %d failed\n", names->nelts,
           passed, failed);
    return failed ? HMBCTL_REJECTED : HMBCTL_OK;
}
