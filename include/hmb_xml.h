/* Hardened libxml2 shared by plans and messages: no network, no DTD, no
 * entity declared or expanded, bounded size and depth.
 *
 * Two ways in: a document (plans, strict validation, hmbctl show) that
 * lives in a pool, and a stream (settlement messages) that builds
 * nothing: a SAX2 push parser, reused by each thread, hands element
 * starts, ends and text to the caller as the bytes arrive. */
#ifndef HMB_XML_H
#define HMB_XML_H

#include <apr_pools.h>
#include <libxml/tree.h>

#define HMB_XML_MAX_DEPTH 32

/* Call once per process before threads exist (post_config, main()). */
void hmb_xml_init(void);

/* Parse len bytes into a document freed with the pool; name is used in
 * error messages ("name:line: reason"). A DOCTYPE or an entity
 * declaration stops the parser where it starts; a document deeper than
 * max_depth is refused. Returns NULL on success, else the reason. */
const char *hmb_xml_parse(apr_pool_t *p, const char *name, const char *buf,
                          apr_size_t len, int max_depth, xmlDocPtr *doc);

/* Text content of the first child element called name, trimmed, or
 * NULL. */
const char *hmb_xml_child_text(apr_pool_t *p, xmlNodePtr parent,
                               const char *name);
xmlNodePtr hmb_xml_child(xmlNodePtr parent, const char *name);

/* Attribute value or NULL. */
const char *hmb_xml_attr(apr_pool_t *p, xmlNodePtr node, const char *name);

/* ---- schemas, compiled once ---------------------------------------- */

typedef struct hmb_xml_schema_t hmb_xml_schema_t;

/* Compile schema text; the schema is freed with the pool and may then be
 * shared by threads (each validation has its own context). */
const char *hmb_xml_schema_compile(apr_pool_t *p, const char *xsd,
                                   hmb_xml_schema_t **schema);

/* NULL when doc is valid, else the first error as "name:line: reason". */
const char *hmb_xml_schema_validate(apr_pool_t *p,
                                    const hmb_xml_schema_t *schema,
                                    const char *name, xmlDocPtr doc);

/* ---- streams -------------------------------------------------------- */

typedef struct hmb_xml_stream_t hmb_xml_stream_t;

typedef struct {
    /* depth 1 is the root element */
    void (*start)(void *baton, hmb_xml_stream_t *s, int depth,
                  const char *name);
    void (*end)(void *baton, hmb_xml_stream_t *s, int depth,
                const char *name);
    /* character data and CDATA, in pieces, already in UTF-8 */
    void (*text)(void *baton, const char *utf8, int len);
} hmb_xml_handler_t;

/* A stream parsing into h's callbacks, closed with the pool if not
 * before. Nothing is parsed until the first feed. */
hmb_xml_stream_t *hmb_xml_stream_open(apr_pool_t *p, const char *name,
                                      int max_depth,
                                      const hmb_xml_handler_t *h,
                                      void *baton);

/* More bytes of the document; ignored once the stream has stopped. */
void hmb_xml_stream_feed(hmb_xml_stream_t *s, const char *buf,
                         apr_size_t len);

/* Stop at once with this reason (a callback's refusal). */
void hmb_xml_stream_stop(hmb_xml_stream_t *s, const char *reason);

/* Bytes of the original input consumed so far: in a callback, the offset
 * just past the markup it reports. -1 when libxml2 cannot tell. */
apr_off_t hmb_xml_stream_offset(hmb_xml_stream_t *s);

/* In an end callback: the offset of the '<' of the end tag just read, or
 * -1 when the element had none (<empty/>) or libxml2 cannot tell. */
apr_off_t hmb_xml_stream_end_tag_offset(hmb_xml_stream_t *s);

/* The end of the document. Returns NULL if it was well-formed and nothing
 * stopped it, else the reason ("name:line: reason"). *declared is the
 * encoding the XML declaration names (NULL when none); *decoder the one
 * libxml2 actually decoded with (NULL for UTF-8 read as is). */
const char *hmb_xml_stream_close(hmb_xml_stream_t *s, const char **declared,
                                 const char **decoder);

#endif
