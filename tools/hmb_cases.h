/* A conformance case directory (conf/conformance/README.md): NAME.req.xml
 * beside NAME.resp.xml for each case. Read by hmb-sandbox --cases, which
 * answers the cases, and by hmbctl conform, which sends them. */
#ifndef HMB_CASES_H
#define HMB_CASES_H

#include <apr_pools.h>
#include <apr_tables.h>

/* The case names in dir (NAME of each regular file NAME.req.xml), sorted;
 * an error when there is none or the directory cannot be read. */
const char *hmb_cases_list(apr_pool_t *p, const char *dir,
                           apr_array_header_t **names);

#endif
