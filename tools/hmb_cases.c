/* Listing a conformance case directory (hmb_cases.h). */
#include <stdlib.h>
#include <string.h>
#include <apr_file_info.h>
#include <apr_strings.h>

#include "hmb_cases.h"

static int cases_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *hmb_cases_list(apr_pool_t *p, const char *dir,
                           apr_array_header_t **names)
{
    static const char suffix[] = ".req.xml";
    apr_size_t sl = sizeof(suffix) - 1;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    char buf[120];

    *names = apr_array_make(p, 16, sizeof(const char *));
    if ((rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s", dir,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        apr_size_t n = strlen(fi.name);

        if (n > sl && !strcmp(fi.name + n - sl, suffix)
            && fi.filetype == APR_REG) {
            APR_ARRAY_PUSH(*names, const char *) =
                apr_pstrmemdup(p, fi.name, n - sl);
        }
    }
    apr_dir_close(d);
    if (!(*names)->nelts) {
        return apr_psprintf(p, "%s: no conformance cases (*.req.xml)", dir);
    }
    qsort((*names)->elts, (apr_size_t)(*names)->nelts, sizeof(const char *),
          cases_cmp);
    return NULL;
}
