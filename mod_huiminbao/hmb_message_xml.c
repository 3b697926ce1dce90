/* The XML rendering of settlement messages (INTERFACES.md section 1),
 * read in one streaming pass: the fields the checks need go into the raw
 * table, the end tag of the response's <output> gives the splice point,
 * and no document is built. Everything else in the message is only
 * parsed, which is what keeps a 1 MB message cheap. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_message.h"
#include "hmb_xml.h"

typedef struct {
    apr_pool_t *p;
    hmb_msg_raw_t *raw;
    hmb_xml_stream_t *stream;
    const char *container;          /* "input" / "output" */
    const char *object;             /* "data", "setlinfo", ...; or NULL */
    int in_container;               /* inside the first container */
    hmb_msg_scope_t *scope;         /* the object being read */
    hmb_msg_scope_t *cap_scope;     /* the field being read ... */
    int cap_index;
    int cap_depth;
    char *text;                     /* ... and its text so far */
    apr_size_t text_len;
    apr_size_t text_cap;
} hmb_msg_xml_t;

/* A field element starts: count it, and read its text if it is the
 * first of its name. */
static void hmb_msg_xml_field(hmb_msg_xml_t *x, hmb_msg_scope_t *sc,
                              int depth, const char *name)
{
    int i = hmb_msg_scope_find(sc, name);

    if (i < 0) {
        return;
    }
    if (++sc->f[i].count > 1) {
        return;
    }
    x->cap_scope = sc;
    x->cap_index = i;
    x->cap_depth = depth;
    x->text_len = 0;
}

static void hmb_msg_xml_start(void *baton, hmb_xml_stream_t *s, int depth,
                              const char *name)
{
    hmb_msg_xml_t *x = baton;
    hmb_msg_raw_t *raw = x->raw;

    if (x->cap_scope) {
        hmb_msg_field_t *f = &x->cap_scope->f[x->cap_index];
        if (!f->child) {
            f->child = apr_pstrdup(x->p, name);
        }
        return;
    }
    switch (depth) {
    case 1:
        raw->root = apr_pstrdup(x->p, name);
        break;
    case 2:
        if (strcmp(name, x->container) == 0) {
            x->in_container = ++raw->n_container == 1;
        }
        else {
            hmb_msg_xml_field(x, &raw->top, depth, name);
        }
        break;
    case 3:
        if (!x->in_container) {
            break;
        }
        if ((x->object && strcmp(name, x->object) == 0)
            || (raw->object_alt && strcmp(name, raw->object_alt) == 0)) {
            if (++raw->n_object == 1) {
                x->scope = &raw->object;
            }
        }
        else if (raw->kind == HMB_MSG_RESPONSE
                 && strcmp(name, "hmbinfo") == 0) {
            raw->n_ours++;
        }
        else if (raw->list_name && strcmp(name, raw->list_name) == 0) {
            if (raw->items->nelts >= HMB_MESSAGE_MAX_FEES) {
                /* the checks say so; nothing more is worth reading */
                raw->too_many_items = 1;
                hmb_xml_stream_stop(s, "too many lines");
                break;
            }
            x->scope = apr_array_push(raw->items);
            hmb_msg_scope_init(x->p, x->scope,
                               apr_psprintf(x->p, "%s[%d]", raw->list_name,
                                            raw->items->nelts),
                               raw->list_fields);
        }
        break;
    case 4:
        if (x->scope) {
            hmb_msg_xml_field(x, x->scope, depth, name);
        }
        break;
    }
}

static void hmb_msg_xml_end(void *baton, hmb_xml_stream_t *s, int depth,
                            const char *name)
{
    hmb_msg_xml_t *x = baton;

    if (x->cap_scope) {
        if (depth == x->cap_depth) {
            x->cap_scope->f[x->cap_index].text =
                apr_pstrmemdup(x->p, x->text ? x->text : "", x->text_len);
            x->cap_scope = NULL;
        }
        return;
    }
    if (depth == 3) {
        x->scope = NULL;
    }
    else if (depth == 2 && x->in_container) {
        x->in_container = 0;
        if (x->raw->kind != HMB_MSG_REQUEST) {
            x->raw->splice_at = hmb_xml_stream_end_tag_offset(s);
        }
    }
}

static void hmb_msg_xml_text(void *baton, const char *utf8, int len)
{
    hmb_msg_xml_t *x = baton;
    apr_size_t need;

    if (!x->cap_scope || x->cap_scope->f[x->cap_index].child || len <= 0) {
        return;
    }
    need = x->text_len + (apr_size_t)len;
    if (need > HMB_MESSAGE_MAX_FIELD) {
        hmb_xml_stream_stop(x->stream, apr_psprintf(x->p,
                            "%s/%s: text longer than %d bytes",
                            x->cap_scope->path,
                            x->cap_scope->names[x->cap_index],
                            HMB_MESSAGE_MAX_FIELD));
        x->cap_scope = NULL;
        return;
    }
    if (need > x->text_cap) {
        apr_size_t cap = x->text_cap ? x->text_cap : 256;
        char *t;

        while (cap < need) {
            cap *= 2;
        }
        t = apr_palloc(x->p, cap);
        if (x->text_len) {
            memcpy(t, x->text, x->text_len);
        }
        x->text = t;
        x->text_cap = cap;
    }
    memcpy(x->text + x->text_len, utf8, (apr_size_t)len);
    x->text_len = need;
}

static const hmb_xml_handler_t hmb_msg_xml_handler = {
    hmb_msg_xml_start,
    hmb_msg_xml_end,
    hmb_msg_xml_text
};

static void hmb_msg_xml_feed(void *st, const char *buf, apr_size_t len)
{
    hmb_xml_stream_feed(((hmb_msg_xml_t *)st)->stream, buf, len);
}

static void hmb_msg_xml_stop(void *st, const char *reason)
{
    hmb_xml_stream_stop(((hmb_msg_xml_t *)st)->stream, reason);
}

static const char *hmb_msg_xml_finish(void *st)
{
    hmb_msg_xml_t *x = st;

    return hmb_xml_stream_close(x->stream, &x->raw->declared,
                                &x->raw->decoder);
}

static const hmb_msg_format_t hmb_msg_xml_format = {
    "xml",
    hmb_msg_xml_feed,
    hmb_msg_xml_stop,
    hmb_msg_xml_finish
};

const hmb_msg_format_t *hmb_msg_xml_reader(apr_pool_t *p, hmb_msg_raw_t *raw,
                                           void **state)
{
    hmb_msg_xml_t *x = apr_pcalloc(p, sizeof(*x));
    int request = raw->kind == HMB_MSG_REQUEST;

    x->p = p;
    x->raw = raw;
    x->container = raw->container;
    x->object = raw->object_name;
    /* error lines start with the root we expect, as they always have */
    x->stream = hmb_xml_stream_open(p, request ? "request" : "response",
                                    HMB_XML_MAX_DEPTH, &hmb_msg_xml_handler,
                                    x);
    *state = x;
    return &hmb_msg_xml_format;
}
