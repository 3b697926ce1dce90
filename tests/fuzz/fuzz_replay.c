/* A main() for the harnesses without libFuzzer: every file named, and
 * every file in every directory named, goes through the harness once.
 * `make fuzz-coverage` links it with clang's source-based coverage to
 * measure what a corpus reaches. */
#include <stdio.h>
#include <apr_file_info.h>
#include <apr_strings.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(apr_pool_t *p, const char *path)
{
    apr_pool_t *sub;
    apr_size_t len;
    const char *buf;

    apr_pool_create(&sub, p);
    if ((buf = hmb_fuzz_read(sub, path, &len)) == NULL) {
        fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
    }
    else {
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    }
    apr_pool_destroy(sub);
    return buf != NULL;
}

int main(int argc, char **argv)
{
    apr_pool_t *p = hmb_fuzz_init();
    int i, n = 0;

    for (i = 1; i < argc; i++) {
        apr_dir_t *d;
        apr_finfo_t fi;

        if (apr_dir_open(&d, argv[i], p) != APR_SUCCESS) {
            n += replay_file(p, argv[i]);
            continue;
        }
        while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
               == APR_SUCCESS) {
            if (fi.filetype == APR_REG) {
                n += replay_file(p, apr_pstrcat(p, argv[i], "/", fi.name,
                                                NULL));
            }
        }
        apr_dir_close(d);
    }
    printf("fuzz_replay: %d inputs\n", n);
    return 0;
}
