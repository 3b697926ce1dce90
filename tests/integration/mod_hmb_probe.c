/* mod_hmb_probe: a test module with two deliberate bugs, built only by
 * ./configure --enable-sanitizers (like mod_huiminbao.so there) and loaded
 * by test_sanitizers into Debian's apache2. It shows that a sanitizer
 * report from inside httpd reaches the tests and fails them: nothing else
 * in the tree is allowed a bug to prove that.
 *
 *   /probe/ok      200, no bug
 *   /probe/asan    writes one byte past a heap block (ASan)
 *   /probe/ubsan   overflows a signed int (UBSan)
 */
#include <limits.h>
#include <stdlib.h>

#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>

module AP_MODULE_DECLARE_DATA hmb_probe_module;

/* volatile: the compiler must not see through the bugs and drop them */
static volatile int hmb_probe_size = 8;
static volatile int hmb_probe_big = INT_MAX;

static int hmb_probe_handler(request_rec *r)
{
    const char *what;
    int n = 0;

    if (!r->handler || strcmp(r->handler, "hmb-probe") != 0) {
        return DECLINED;
    }
    what = strrchr(r->uri, '/');
    what = what ? what + 1 : "";
    if (!strcmp(what, "asan")) {
        char *block = malloc((size_t)hmb_probe_size);

        if (!block) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        block[hmb_probe_size] = 'x';
        n = block[0];
        free(block);
    }
    else if (!strcmp(what, "ubsan")) {
        n = hmb_probe_big + 1;
    }
    else if (strcmp(what, "ok") != 0) {
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "probe %s survived (%d)\n", what, n);
    return OK;
}

static void hmb_probe_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(hmb_probe_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(hmb_probe) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    hmb_probe_register_hooks,
    AP_MODULE_FLAG_NONE
};
