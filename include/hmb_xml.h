/* Hardened libxml2 parsing shared by plans and messages: no network, no
 * DTD, no entities, bounded size and depth; documents live in a pool. */
#ifndef HMB_XML_H
#define HMB_XML_H

#include <apr_pools.h>
#include <libxml/tree.h>

#define HMB_XML_MAX_DEPTH 32

/* Call once per process before threads exist (post_config, main()). */
void hmb_xml_init(void);

/* Parse len bytes; name is used in error messages ("file:line: reason").
 * A DOCTYPE, an entity declaration or a document deeper than max_depth is
 * refused before libxml2 sees it. The document is freed with the pool.
 * Returns NULL on success, else the reason. */
const char *hmb_xml_parse(apr_pool_t *p, const char *name, const char *buf,
                          apr_size_t len, int max_depth, xmlDocPtr *doc);

/* Text content of the first child element called name, or NULL. */
const char *hmb_xml_child_text(apr_pool_t *p, xmlNodePtr parent,
                               const char *name);
xmlNodePtr hmb_xml_child(xmlNodePtr parent, const char *name);

/* Attribute value or NULL. */
const char *hmb_xml_attr(apr_pool_t *p, xmlNodePtr node, const char *name);

#endif
