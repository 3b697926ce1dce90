/* Rendering hmbinfo for a JSON response: the same walk as the XML
 * element (hmb_hmbinfo.c), spelled as JSON. Pure ASCII, with \uXXXX for
 * the rest, so that the member is right whether the upstream's bytes are
 * UTF-8 or GBK, without re-encoding a single one of them. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_hmbinfo.h"
#include "hmb_util.h"

/* The text being written, and for each open object or array whether it
 * has a member yet (the next one is preceded by ','). */
#define HMB_JW_DEPTH 8

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
    int depth;
    int has[HMB_JW_DEPTH];
} hmb_jw_t;

static void hmb_jw_put(hmb_jw_t *w, const char *text)
{
    *(const char **)apr_array_push(w->parts) = text;
}

/* The start of the next member or element: a separator, and its name. */
static void hmb_jw_next(hmb_jw_t *w, const char *name)
{
    if (w->has[w->depth]) {
        hmb_jw_put(w, ",");
    }
    w->has[w->depth] = 1;
    if (name) {
        /* our names are ASCII identifiers: nothing to escape */
        hmb_jw_put(w, apr_pstrcat(w->p, "\"", name, "\":", NULL));
    }
}

static void hmb_jw_open(hmb_jw_t *w, const char *text)
{
    hmb_jw_put(w, text);
    if (w->depth < HMB_JW_DEPTH - 1) {
        w->has[++w->depth] = 0;
    }
}

static void hmb_jw_begin(void *o, const char *name, int item)
{
    hmb_jw_t *w = o;

    hmb_jw_next(w, item ? NULL : name);
    hmb_jw_open(w, "{");
}

static void hmb_jw_close(void *o, const char *text)
{
    hmb_jw_t *w = o;

    hmb_jw_put(w, text);
    if (w->depth > 0) {
        w->depth--;
    }
}

static void hmb_jw_end(void *o, const char *name, int item)
{
    hmb_jw_close(o, "}");
}

static void hmb_jw_list(void *o, const char *name, int open)
{
    hmb_jw_t *w = o;

    if (open) {
        hmb_jw_next(w, name);
        hmb_jw_open(w, "[");
    }
    else {
        hmb_jw_close(w, "]");
    }
}

static void hmb_jw_text(void *o, const char *name, const char *value)
{
    hmb_jw_t *w = o;

    hmb_jw_next(w, name);
    hmb_jw_put(w, apr_pstrcat(w->p, "\"", hmb_json_escape_ascii(w->p, value),
                              "\"", NULL));
}

/* Our own literals ("12100.00", "0.7000", "2024"): valid JSON numbers. */
static void hmb_jw_number(void *o, const char *name, const char *literal)
{
    hmb_jw_t *w = o;

    hmb_jw_next(w, name);
    hmb_jw_put(w, literal);
}

static void hmb_jw_empty(void *o, const char *name)
{
    hmb_jw_text(o, name, "");
}

static const hmb_hmbinfo_writer_t hmb_json_writer = {
    hmb_jw_begin,
    hmb_jw_end,
    hmb_jw_list,
    hmb_jw_text,
    hmb_jw_number,
    hmb_jw_empty
};

static hmb_jw_t *hmb_jw_make(apr_pool_t *p, int comma)
{
    hmb_jw_t *w = apr_pcalloc(p, sizeof(*w));

    w->p = p;
    w->parts = apr_array_make(p, 96, sizeof(const char *));
    /* what goes in follows a member of the object it goes into */
    w->has[0] = comma;
    return w;
}

const char *hmb_hmbinfo_render_json(apr_pool_t *p, const hmb_decision_t *d,
                                    const hmb_hmbinfo_ctx_t *ctx, int comma)
{
    hmb_jw_t *w = hmb_jw_make(p, comma);

    hmb_hmbinfo_walk(p, d, ctx, &hmb_json_writer, w);
    return apr_array_pstrcat(p, w->parts, '\0');
}

const char *hmb_hmbinfo_fund_line_json(apr_pool_t *p, const hmb_decision_t *d,
                                       const hmb_hmbinfo_ctx_t *ctx,
                                       int comma)
{
    hmb_jw_t *w = hmb_jw_make(p, comma);

    if (!hmb_hmbinfo_fund_walk(p, d, ctx, &hmb_json_writer, w)) {
        return "";
    }
    return apr_array_pstrcat(p, w->parts, '\0');
}
