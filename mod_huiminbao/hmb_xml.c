/* Hardened libxml2 parsing. Plans come from operators but messages come
 * from the network: both go through here, so nothing is ever fetched,
 * no DTD is read and no entity is declared or expanded. */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "hmb_xml.h"
#include "hmb_util.h"

#if LIBXML_VERSION >= 21200
typedef const xmlError hmb_xml_error_t;
#else
typedef xmlError hmb_xml_error_t;
#endif

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

/* libxml2's message for the last error, as one line. Conversion errors
 * list the bytes that failed ("bytes 0xD5 0xC5 ..."): in a message those
 * are a patient's name, so they never reach a log. */
static const char *hmb_xml_last_error(apr_pool_t *p, const char *name,
                                      xmlParserCtxtPtr ctxt)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char *msg, *cut;

    if (!e || !e->message) {
        return apr_psprintf(p, "%s: not well-formed XML", name);
    }
    msg = apr_pstrdup(p, e->message);
    if ((cut = strstr(msg, ", bytes ")) || (cut = strstr(msg, "Bytes:"))) {
        *cut = '\0';
    }
    return apr_psprintf(p, "%s:%d: %s", name, e->line,
                        hmb_one_line(p, msg, 300));
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
        err = hmb_xml_last_error(p, name, ctxt);
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
    const char *r;

    if (!content) {
        return NULL;
    }
    r = hmb_trim(p, (const char *)content);
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

/* ---- schemas ---------------------------------------------------------- */

struct hmb_xml_schema_t {
    xmlSchemaPtr schema;
};

typedef struct {
    apr_pool_t *p;
    const char *name;
    const char *first_error;
    const char *first_warning;
} hmb_xml_schema_errors_t;

/* libxml2 reports every violation; the operator needs the first one, on
 * one line, in our log and not on stderr. */
static void hmb_xml_schema_error(void *data, hmb_xml_error_t *e)
{
    hmb_xml_schema_errors_t *se = data;
    const char **slot;
    const char *msg;
    long line;

    if (!e) {
        return;
    }
    slot = e->level == XML_ERR_WARNING ? &se->first_warning
                                       : &se->first_error;
    if (*slot) {
        return;
    }
    line = e->line;
    if (line <= 0 && e->node) {
        line = xmlGetLineNo((xmlNodePtr)e->node);
    }
    msg = hmb_one_line(se->p, e->message ? e->message : "invalid", 300);
    *slot = line > 0 ? apr_psprintf(se->p, "%s:%ld: %s", se->name, line, msg)
                     : apr_psprintf(se->p, "%s: %s", se->name, msg);
}

static apr_status_t hmb_xml_schema_cleanup(void *data)
{
    xmlSchemaFree(((hmb_xml_schema_t *)data)->schema);
    return APR_SUCCESS;
}

const char *hmb_xml_schema_compile(apr_pool_t *p, const char *xsd,
                                   hmb_xml_schema_t **schema)
{
    xmlSchemaParserCtxtPtr pctxt;
    hmb_xml_schema_errors_t se;
    hmb_xml_schema_t *s;

    *schema = NULL;
    memset(&se, 0, sizeof(se));
    se.p = p;
    se.name = "schema";
    pctxt = xmlSchemaNewMemParserCtxt(xsd, (int)strlen(xsd));
    if (!pctxt) {
        return "schema: cannot create a schema parser";
    }
    xmlSchemaSetParserStructuredErrors(pctxt, hmb_xml_schema_error, &se);
    s = apr_pcalloc(p, sizeof(*s));
    s->schema = xmlSchemaParse(pctxt);
    xmlSchemaFreeParserCtxt(pctxt);
    if (!s->schema) {
        return apr_pstrcat(p, "the built-in schema does not compile (a "
                           "build error): ", se.first_error
                           ? se.first_error : "unknown", NULL);
    }
    apr_pool_cleanup_register(p, s, hmb_xml_schema_cleanup,
                              apr_pool_cleanup_null);
    *schema = s;
    return NULL;
}

const char *hmb_xml_schema_validate(apr_pool_t *p,
                                    const hmb_xml_schema_t *schema,
                                    const char *name, xmlDocPtr doc)
{
    xmlSchemaValidCtxtPtr vctxt;
    hmb_xml_schema_errors_t se;
    int rc;

    memset(&se, 0, sizeof(se));
    se.p = p;
    se.name = name;
    vctxt = xmlSchemaNewValidCtxt(schema->schema);
    if (!vctxt) {
        return apr_psprintf(p, "%s: cannot create a schema validator", name);
    }
    xmlSchemaSetValidStructuredErrors(vctxt, hmb_xml_schema_error, &se);
    rc = xmlSchemaValidateDoc(vctxt, doc);
    xmlSchemaFreeValidCtxt(vctxt);
    if (rc == 0) {
        return NULL;
    }
    if (se.first_error) {
        return se.first_error;
    }
    if (se.first_warning) {
        return se.first_warning;
    }
    return apr_psprintf(p, "%s: not valid against the schema", name);
}

/* ---- streams ---------------------------------------------------------- */

/* One parser per thread, reset for each message: a message costs no
 * parser set-up. A hostile stream of new element names would grow the
 * parser's name dictionary for ever, so a parser whose dictionary got
 * large is freed instead of kept. */
#define HMB_XML_DICT_KEEP 4096

static __thread xmlParserCtxtPtr hmb_xml_cached;
static __thread int hmb_xml_exit_noted;
static pthread_key_t hmb_xml_exit_key;
static pthread_once_t hmb_xml_exit_once = PTHREAD_ONCE_INIT;

/* A thread that ends (not httpd's workers, but a program's own) frees the
 * parser it kept. */
static void hmb_xml_thread_exit(void *unused)
{
    if (hmb_xml_cached) {
        xmlFreeParserCtxt(hmb_xml_cached);
        hmb_xml_cached = NULL;
    }
}

static void hmb_xml_exit_key_make(void)
{
    pthread_key_create(&hmb_xml_exit_key, hmb_xml_thread_exit);
}

struct hmb_xml_stream_t {
    apr_pool_t *p;
    const char *name;
    int max_depth;
    int depth;
    const hmb_xml_handler_t *h;
    void *baton;
    xmlParserCtxtPtr ctxt;          /* from the first feed to close */
    const char *refusal;
    int stopped;
    int closed;
    apr_size_t fed;
    char head[4];                   /* the first bytes, until there are 4 */
    apr_size_t head_len;
};

static hmb_xml_stream_t *hmb_xml_stream_of(void *ctx)
{
    return ((xmlParserCtxtPtr)ctx)->_private;
}

static void hmb_xml_stream_refuse(void *ctx, const char *what)
{
    hmb_xml_stream_t *s = hmb_xml_stream_of(ctx);

    if (!s->refusal) {
        s->refusal = apr_psprintf(s->p, "%s:%d: %s is not allowed", s->name,
                                  xmlSAX2GetLineNumber(ctx), what);
    }
    s->stopped = 1;
    xmlStopParser(ctx);
}

static void hmb_xml_sax_doctype(void *ctx, const xmlChar *name,
                                const xmlChar *external_id,
                                const xmlChar *system_id)
{
    hmb_xml_stream_refuse(ctx, "DOCTYPE");
}

static void hmb_xml_sax_entity(void *ctx, const xmlChar *name, int type,
                               const xmlChar *public_id,
                               const xmlChar *system_id, xmlChar *content)
{
    hmb_xml_stream_refuse(ctx, "ENTITY");
}

/* The messages use no namespace: <x:output xmlns:x="..."> or an <output>
 * under a default namespace is another element, and handlers see it by a
 * name none of them looks for. */
static const char *hmb_xml_sax_name(hmb_xml_stream_t *s,
                                    const xmlChar *localname,
                                    const xmlChar *prefix,
                                    const xmlChar *uri)
{
    if (!uri) {
        return (const char *)localname;
    }
    return prefix ? apr_pstrcat(s->p, (const char *)prefix, ":",
                                (const char *)localname, NULL)
                  : apr_pstrcat(s->p, "{", (const char *)uri, "}",
                                (const char *)localname, NULL);
}

static void hmb_xml_sax_start(void *ctx, const xmlChar *localname,
                              const xmlChar *prefix, const xmlChar *uri,
                              int nb_namespaces, const xmlChar **namespaces,
                              int nb_attributes, int nb_defaulted,
                              const xmlChar **attributes)
{
    hmb_xml_stream_t *s = hmb_xml_stream_of(ctx);

    /* refused here, so that a deep document costs no more than this */
    if (++s->depth > s->max_depth) {
        if (!s->refusal) {
            s->refusal = apr_psprintf(s->p, "%s: elements nested deeper "
                                      "than %d", s->name, s->max_depth);
        }
        s->stopped = 1;
        xmlStopParser(ctx);
        return;
    }
    if (s->h->start) {
        s->h->start(s->baton, s, s->depth,
                    hmb_xml_sax_name(s, localname, prefix, uri));
    }
}

static void hmb_xml_sax_end(void *ctx, const xmlChar *localname,
                            const xmlChar *prefix, const xmlChar *uri)
{
    hmb_xml_stream_t *s = hmb_xml_stream_of(ctx);

    if (s->h->end) {
        s->h->end(s->baton, s, s->depth,
                  hmb_xml_sax_name(s, localname, prefix, uri));
    }
    s->depth--;
}

static void hmb_xml_sax_text(void *ctx, const xmlChar *ch, int len)
{
    hmb_xml_stream_t *s = hmb_xml_stream_of(ctx);

    if (s->h->text) {
        s->h->text(s->baton, (const char *)ch, len);
    }
}

static void hmb_xml_sax_quiet(void *ctx, hmb_xml_error_t *e)
{
}

static xmlParserCtxtPtr hmb_xml_stream_ctxt(void)
{
    xmlParserCtxtPtr ctxt = hmb_xml_cached;
    xmlSAXHandler sax;

    if (ctxt) {
        hmb_xml_cached = NULL;
        return ctxt;
    }
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = hmb_xml_sax_start;
    sax.endElementNs = hmb_xml_sax_end;
    sax.characters = hmb_xml_sax_text;
    sax.ignorableWhitespace = hmb_xml_sax_text;
    sax.cdataBlock = hmb_xml_sax_text;
    sax.internalSubset = hmb_xml_sax_doctype;
    sax.externalSubset = hmb_xml_sax_doctype;
    sax.entityDecl = hmb_xml_sax_entity;
    sax.serror = hmb_xml_sax_quiet;
    return xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
}

static void hmb_xml_stream_release(hmb_xml_stream_t *s)
{
    xmlParserCtxtPtr ctxt = s->ctxt;

    if (!ctxt) {
        return;
    }
    s->ctxt = NULL;
    ctxt->_private = NULL;
    if (!hmb_xml_cached && ctxt->dict
        && xmlDictSize(ctxt->dict) < HMB_XML_DICT_KEEP) {
        hmb_xml_cached = ctxt;
        if (!hmb_xml_exit_noted) {
            /* the destructor runs only for a key set to something */
            pthread_once(&hmb_xml_exit_once, hmb_xml_exit_key_make);
            pthread_setspecific(hmb_xml_exit_key, &hmb_xml_cached);
            hmb_xml_exit_noted = 1;
        }
    }
    else {
        xmlFreeParserCtxt(ctxt);
    }
}

static apr_status_t hmb_xml_stream_cleanup(void *data)
{
    hmb_xml_stream_release(data);
    return APR_SUCCESS;
}

hmb_xml_stream_t *hmb_xml_stream_open(apr_pool_t *p, const char *name,
                                      int max_depth,
                                      const hmb_xml_handler_t *h,
                                      void *baton)
{
    hmb_xml_stream_t *s = apr_pcalloc(p, sizeof(*s));

    s->p = p;
    s->name = name;
    s->max_depth = max_depth;
    s->h = h;
    s->baton = baton;
    apr_pool_cleanup_register(p, s, hmb_xml_stream_cleanup,
                              apr_pool_cleanup_null);
    return s;
}

/* libxml2 reports conversion failures through the generic error handler
 * even with XML_PARSE_NOERROR, bytes and all; the reason reaches us
 * through the parser context, so that text is only noise (and personal
 * data). The handler is per thread: restored right after. */
static void hmb_xml_stream_chunk(hmb_xml_stream_t *s, const char *buf,
                                 int len, int terminate)
{
    xmlGenericErrorFunc saved = xmlGenericError;
    void *saved_ctx = xmlGenericErrorContext;

    int rc;

    xmlSetGenericErrorFunc(NULL, hmb_xml_quiet);
    rc = xmlParseChunk(s->ctxt, buf, len, terminate);
    xmlSetGenericErrorFunc(saved_ctx, saved);
    /* A conversion failure halts the parser without marking the document
     * ill-formed; it is one all the same. Bytes that fail to convert as
     * they are pushed (a small chunk) come back as XML_PARSER_EOF (-1). */
    if ((rc == XML_ERR_INVALID_ENCODING || rc == XML_ERR_UNSUPPORTED_ENCODING
         || (rc == -1 && !s->stopped)) && !s->refusal) {
        s->refusal = apr_psprintf(s->p, "%s:%d: the bytes are not valid in "
                                  "the document's encoding", s->name,
                                  xmlSAX2GetLineNumber(s->ctxt));
    }
    if (s->refusal || !s->ctxt->wellFormed) {
        s->stopped = 1;
    }
}

/* The first bytes go in with the reset, so that libxml2 can tell the
 * encoding from them (a UTF-16 byte-order mark, say) and refuse it. */
static int hmb_xml_stream_start(hmb_xml_stream_t *s, const char *buf,
                                int len)
{
    s->ctxt = hmb_xml_stream_ctxt();
    if (!s->ctxt) {
        s->refusal = apr_psprintf(s->p, "%s: cannot create an XML parser",
                                  s->name);
        s->stopped = 1;
        return 0;
    }
    if (xmlCtxtResetPush(s->ctxt, buf, len, NULL, NULL) != 0) {
        s->refusal = apr_psprintf(s->p, "%s: cannot reset the XML parser",
                                  s->name);
        s->stopped = 1;
        return 0;
    }
    s->ctxt->_private = s;
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR
                      | XML_PARSE_NOWARNING);
    return 1;
}

void hmb_xml_stream_feed(hmb_xml_stream_t *s, const char *buf,
                         apr_size_t len)
{
    if (s->stopped || s->closed || !len) {
        return;
    }
    if (len > INT_MAX - s->fed) {
        hmb_xml_stream_stop(s, "document too large");
        return;
    }
    s->fed += len;
    if (!s->ctxt) {
        apr_size_t take = sizeof(s->head) - s->head_len;

        if (take > len) {
            take = len;
        }
        memcpy(s->head + s->head_len, buf, take);
        s->head_len += take;
        buf += take;
        len -= take;
        if (s->head_len < sizeof(s->head)) {
            return;
        }
        if (!hmb_xml_stream_start(s, s->head, (int)s->head_len)) {
            return;
        }
    }
    hmb_xml_stream_chunk(s, buf, (int)len, 0);
}

void hmb_xml_stream_stop(hmb_xml_stream_t *s, const char *reason)
{
    if (!s->refusal) {
        s->refusal = apr_psprintf(s->p, "%s: %s", s->name, reason);
    }
    s->stopped = 1;
    if (s->ctxt) {
        xmlStopParser(s->ctxt);
    }
}

apr_off_t hmb_xml_stream_offset(hmb_xml_stream_t *s)
{
    return s->ctxt ? (apr_off_t)xmlByteConsumed(s->ctxt) : -1;
}

/* The end tag is in the decoded input just before the parser's position,
 * and it is ASCII ("</" NAME S? ">"), so its length there is its length
 * in the original bytes in every encoding we accept. */
apr_off_t hmb_xml_stream_end_tag_offset(hmb_xml_stream_t *s)
{
    xmlParserInputPtr in = s->ctxt ? s->ctxt->input : NULL;
    const xmlChar *q;
    long consumed;

    if (!in || !in->cur || !in->base) {
        return -1;
    }
    for (q = in->cur; q > in->base && *--q != '<'; )
        ;
    if (*q != '<' || q + 1 >= in->cur || q[1] != '/') {
        return -1;
    }
    consumed = xmlByteConsumed(s->ctxt);
    if (consumed < in->cur - q) {
        return -1;
    }
    return (apr_off_t)(consumed - (in->cur - q));
}

const char *hmb_xml_stream_close(hmb_xml_stream_t *s, const char **declared,
                                 const char **decoder)
{
    xmlParserCtxtPtr ctxt;
    const char *err = NULL;

    *declared = NULL;
    *decoder = NULL;
    if (s->closed) {
        return s->refusal;
    }
    s->closed = 1;
    if (!s->fed && !s->refusal) {
        return s->refusal = apr_psprintf(s->p, "%s:1: empty document",
                                         s->name);
    }
    if (!s->ctxt && !s->stopped
        && !hmb_xml_stream_start(s, s->head, (int)s->head_len)) {
        return s->refusal;
    }
    ctxt = s->ctxt;
    if (ctxt && !s->stopped) {
        hmb_xml_stream_chunk(s, NULL, 0, 1);
    }
    if (ctxt && ctxt->input) {
        const xmlChar *enc = ctxt->input->encoding ? ctxt->input->encoding
                                                   : ctxt->encoding;
        if (enc) {
            *declared = apr_pstrdup(s->p, (const char *)enc);
        }
        if (ctxt->input->buf && ctxt->input->buf->encoder) {
            *decoder = apr_pstrdup(s->p, ctxt->input->buf->encoder->name);
        }
    }
    if (s->refusal) {
        err = s->refusal;
    }
    else if (!ctxt || !ctxt->wellFormed) {
        err = ctxt ? hmb_xml_last_error(s->p, s->name, ctxt)
                   : apr_psprintf(s->p, "%s: not well-formed XML", s->name);
    }
    hmb_xml_stream_release(s);
    return s->refusal = err;
}
