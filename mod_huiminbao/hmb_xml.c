/* Hardened libxml2 parsing. Plans come from operators but messages come
 * from the network: both go through here, so nothing is ever fetched,
 * no DTD is read and no entity is declared or expanded. */
#include <limits.h>
#include <string.h>
#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>

#include "hmb_xml.h"

typedef struct {
    apr_pool_t *p;
    const char *name;
    const char *refusal;
} hmb_xml_state_t;

void hmb_xml_init(void)
{
    xmlInitParser();
}

static void hmb_xml_refuse(xmlParserCtxtPtr ctxt, const char *what)
{
    hmb_xml_state_t *st = ctxt->_private;

    if (!st->refusal) {
        st->refusal = apr_psprintf(st->p, "%s:%d: %s is not allowed",
                                   st->name, xmlSAX2GetLineNumber(ctxt),
                                   what);
    }
    xmlStopParser(ctxt);
}

/* A DOCTYPE is where entity bombs and external entities start: stop at
 * its first sign, before any declaration inside it is processed. */
static void hmb_xml_on_doctype(void *ctx, const xmlChar *name,
                               const xmlChar *external_id,
                               const xmlChar *system_id)
{
    hmb_xml_refuse((xmlParserCtxtPtr)ctx, "DOCTYPE");
}

static void hmb_xml_on_entity(void *ctx, const xmlChar *name, int type,
                              const xmlChar *public_id,
                              const xmlChar *system_id, xmlChar *content)
{
    hmb_xml_refuse((xmlParserCtxtPtr)ctx, "ENTITY");
}

/* libxml2 reports encoding conversion failures through the generic error
 * handler even with XML_PARSE_NOERROR; the reason reaches the caller
 * through the parser context, so the text on stderr is only noise. */
static void hmb_xml_quiet(void *ctx, const char *msg, ...)
{
}

static apr_status_t hmb_xml_doc_cleanup(void *data)
{
    xmlFreeDoc((xmlDocPtr)data);
    return APR_SUCCESS;
}

static int hmb_xml_depth(xmlNodePtr n, int depth, int max_depth)
{
    xmlNodePtr c;

    if (depth > max_depth) {
        return 0;
    }
    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && !hmb_xml_depth(c, depth + 1, max_depth)) {
            return 0;
        }
    }
    return 1;
}

const char *hmb_xml_parse(apr_pool_t *p, const char *name, const char *buf,
                          apr_size_t len, int max_depth, xmlDocPtr *doc)
{
    xmlParserCtxtPtr ctxt;
    hmb_xml_state_t st;
    const char *err = NULL;
    xmlDocPtr d;

    *doc = NULL;
    if (len == 0) {
        return apr_psprintf(p, "%s:1: empty document", name);
    }
    if (len > INT_MAX) {
        return apr_psprintf(p, "%s: document too large", name);
    }
    ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!ctxt) {
        return apr_psprintf(p, "%s: cannot create an XML parser", name);
    }
    st.p = p;
    st.name = name;
    st.refusal = NULL;
    ctxt->_private = &st;
    ctxt->sax->internalSubset = hmb_xml_on_doctype;
    ctxt->sax->externalSubset = hmb_xml_on_doctype;
    ctxt->sax->entityDecl = hmb_xml_on_entity;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR
                      | XML_PARSE_NOWARNING);

    {
        /* per-thread in libxml2: restored right after, others unaffected */
        xmlGenericErrorFunc saved = xmlGenericError;
        void *saved_ctx = xmlGenericErrorContext;

        xmlSetGenericErrorFunc(NULL, hmb_xml_quiet);
        xmlParseDocument(ctxt);
        xmlSetGenericErrorFunc(saved_ctx, saved);
    }
    d = ctxt->myDoc;
    ctxt->myDoc = NULL;

    if (st.refusal) {
        err = st.refusal;
    }
    else if (!ctxt->wellFormed || !d) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        if (e && e->message) {
            char *msg = apr_pstrdup(p, e->message);
            apr_size_t n = strlen(msg);
            while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
                msg[--n] = '\0';
            }
            err = apr_psprintf(p, "%s:%d: %s", name, e->line, msg);
        }
        else {
            err = apr_psprintf(p, "%s: not well-formed XML", name);
        }
    }
    else if (!hmb_xml_depth(xmlDocGetRootElement(d), 1, max_depth)) {
        err = apr_psprintf(p, "%s: elements nested deeper than %d",
                           name, max_depth);
    }
    xmlFreeParserCtxt(ctxt);

    if (err) {
        if (d) {
            xmlFreeDoc(d);
        }
        return err;
    }
    apr_pool_cleanup_register(p, d, hmb_xml_doc_cleanup,
                              apr_pool_cleanup_null);
    *doc = d;
    return NULL;
}

xmlNodePtr hmb_xml_child(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c;

    if (!parent) {
        return NULL;
    }
    for (c = parent->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && strcmp((const char *)c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* Content with surrounding white space removed. */
static const char *hmb_xml_trimmed(apr_pool_t *p, xmlChar *content)
{
    const char *s = (const char *)content;
    const char *e;
    char *r;

    if (!content) {
        return NULL;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'
                     || e[-1] == '\n')) {
        e--;
    }
    r = apr_pstrmemdup(p, s, (apr_size_t)(e - s));
    xmlFree(content);
    return r;
}

const char *hmb_xml_child_text(apr_pool_t *p, xmlNodePtr parent,
                               const char *name)
{
    xmlNodePtr c = hmb_xml_child(parent, name);

    return c ? hmb_xml_trimmed(p, xmlNodeGetContent(c)) : NULL;
}

const char *hmb_xml_attr(apr_pool_t *p, xmlNodePtr node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    const char *r;

    if (!v) {
        return NULL;
    }
    r = apr_pstrdup(p, (const char *)v);
    xmlFree(v);
    return r;
}
