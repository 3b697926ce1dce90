/* The JSON rendering of settlement messages (INTERFACES.md section 1, the
 * national platform's own wire format; docs/json.md): the same field
 * names as members, read in one streaming pass by yajl's push parser.
 * The fields the checks need go into the raw table; the '}' closing the
 * top-level "output" object gives the splice point, at the parser's own
 * position; nothing else is kept.
 *
 * A message said to be GBK, GB18030 or GB2312 is converted to UTF-8
 * before yajl sees it (a GBK trail byte can be '\\', '{', '|' or '}', so
 * its bytes are never read as JSON), and every offset is mapped back to
 * the bytes as they came. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_xlate.h>
#include <yajl/yajl_parse.h>

#include "hmb_message.h"
#include "hmb_util.h"

/* What an open object or array is to us. */
typedef enum {
    HMB_JS_OTHER = 0,               /* not looked into */
    HMB_JS_TOP,                     /* the envelope */
    HMB_JS_CONTAINER,               /* the first "input" / "output" */
    HMB_JS_OBJECT,                  /* the first "data" / "setlinfo" */
    HMB_JS_FEES,                    /* the container's list ("feedetail",
                                     * "result", "insuinfo") */
    HMB_JS_FEE,                     /* one object in it */
    HMB_JS_LIST                     /* output's "setldetail" array */
} hmb_js_role_e;

/* What the value after the last key is to us. */
typedef enum {
    HMB_JK_NONE = 0,
    HMB_JK_FIELD,                   /* key_scope->f[key_index] */
    HMB_JK_CONTAINER,
    HMB_JK_OBJECT,
    HMB_JK_FEES,
    HMB_JK_LIST
} hmb_js_key_e;

typedef struct {
    hmb_js_role_e role;
    int array;
    int items;                      /* elements so far, in an array */
    hmb_msg_scope_t *scope;         /* TOP, OBJECT, FEE: fields read here */
    apr_uint32_t seen;              /* ... and which of them came */
} hmb_js_frame_t;

/* Original bytes converted at a time; out of GBK a byte can become three
 * (0x80 is the euro sign). */
#define HMB_JS_CONV 4096
#define HMB_JS_CARRY 4

typedef struct {
    apr_pool_t *p;
    hmb_msg_raw_t *raw;
    const char *name;               /* "request" / "response" */
    const char *container;          /* "input" / "output" */
    const char *object;             /* "data", "setlinfo", ...; or NULL */
    const char *object_alt;         /* "mdtrtinfo" / NULL */
    const char *list;               /* "feedetail", ...; or NULL */
    const char *charset;            /* as the transport said, or NULL */
    yajl_handle yh;
    int depth;
    hmb_js_frame_t frames[HMB_JSON_MAX_DEPTH + 1];  /* [0]: outside */
    hmb_js_key_e key;
    hmb_msg_scope_t *key_scope;
    int key_index;
    int key_dup;
    const char *key_name;           /* a structural key, for error lines */
    /* structural keys met: a second one is "more than one" whatever
     * either value is, as for fields */
    int container_keys, object_keys, fee_keys, list_keys;
    int top_object;                 /* the message is an object */
    const char *refusal;
    int stopped;
    apr_size_t fed;
    unsigned char head[3];          /* the first bytes, until there are 3 */
    apr_size_t head_len;
    int started;
    apr_off_t at;                   /* original bytes handed on so far */
    /* GBK and the like */
    apr_xlate_t *xlate;
    const char *decoder;
    char *in;                       /* carried bytes + the next slice */
    apr_size_t in_len;
    char *out;
    apr_size_t out_cap;
    /* the piece yajl is parsing, and the original bytes it came from
     * (NULL: the same bytes) starting at piece_at */
    const unsigned char *piece;
    apr_size_t piece_len;
    const unsigned char *orig;
    apr_size_t orig_len;
    apr_off_t piece_at;
} hmb_msg_json_t;

static void hmb_js_refuse(hmb_msg_json_t *x, const char *reason)
{
    if (!x->refusal) {
        x->refusal = apr_psprintf(x->p, "%s: %s", x->name, reason);
    }
    x->stopped = 1;
}

/* Why the container's contents cannot be read: kept for the checks, the
 * first one only. */
static void hmb_js_shape(hmb_msg_json_t *x, const char *what)
{
    if (!x->raw->shape) {
        x->raw->shape = what;
    }
}

/* The offset in the original bytes of the byte at u in the piece being
 * parsed. Out of GBK, a walk over the piece and its original side by
 * side: each GB character (one byte below 0x81, four with a digit second,
 * else two) is one UTF-8 sequence. An ASCII byte must be itself on both
 * sides, which checks the walk; -1 when it does not. */
static apr_off_t hmb_js_orig(const hmb_msg_json_t *x, apr_size_t u)
{
    const unsigned char *o = x->orig, *c = x->piece;
    apr_size_t i = 0, j = 0;

    if (!o) {
        return x->piece_at + (apr_off_t)u;
    }
    while (j < u && j < x->piece_len && i < x->orig_len) {
        unsigned char b = o[i];

        i += b < 0x81 || b == 0xFF ? 1
           : i + 1 < x->orig_len && o[i + 1] >= 0x30 && o[i + 1] <= 0x39
             ? 4 : 2;
        j += c[j] < 0x80 ? 1 : c[j] >= 0xF0 ? 4 : c[j] >= 0xE0 ? 3 : 2;
    }
    if (j != u || i > x->orig_len) {
        return -1;
    }
    if (u < x->piece_len && (i == x->orig_len
                             || (c[u] < 0x80 && o[i] != c[u]))) {
        return -1;
    }
    return x->piece_at + (apr_off_t)i;
}

/* Where the token just read ends, for error lines ("" when unknown). */
static const char *hmb_js_where(hmb_msg_json_t *x)
{
    apr_off_t at;

    if (!x->piece) {
        return " at the end";       /* yajl_complete_parse */
    }
    at = hmb_js_orig(x, yajl_get_bytes_consumed(x->yh));
    return at < 0 ? "" : apr_psprintf(x->p, " near byte %" APR_OFF_T_FMT,
                                      at);
}

/* The offset of the byte just read: '}' or ']'. */
static int hmb_js_here(hmb_msg_json_t *x, apr_off_t *at)
{
    apr_size_t n = yajl_get_bytes_consumed(x->yh);

    *at = n ? hmb_js_orig(x, n - 1) : -1;
    if (*at < 0) {
        hmb_js_refuse(x, "cannot map the end of \"output\" or "
                      "\"setldetail\" back to the original bytes");
        return 0;
    }
    return 1;
}

static const char *hmb_js_what(int array)
{
    return array ? "an array" : "an object";
}

/* A key of an object with fields: count it (a second one is counted even
 * when the first was null), and read its value if it is the first. */
static void hmb_js_field(hmb_msg_json_t *x, hmb_js_frame_t *f,
                         const char *name)
{
    int i = hmb_msg_scope_find(f->scope, name);
    hmb_msg_field_t *fld;

    if (i < 0) {
        return;
    }
    fld = &f->scope->f[i];
    x->key = HMB_JK_FIELD;
    x->key_scope = f->scope;
    x->key_index = i;
    x->key_dup = i < 32 ? (f->seen >> i) & 1 : fld->count > 0;
    if (i < 32) {
        f->seen |= (apr_uint32_t)1 << i;
    }
    if (x->key_dup) {
        fld->count = fld->count ? fld->count + 1 : 2;
    }
}

static int hmb_js_key(void *ctx, const unsigned char *key, size_t len)
{
    hmb_msg_json_t *x = ctx;
    hmb_js_frame_t *f = &x->frames[x->depth];
    char name[64];

    x->key = HMB_JK_NONE;
    if (!hmb_utf8_valid((const char *)key, len)) {
        hmb_js_refuse(x, apr_pstrcat(x->p, "a key that is not UTF-8 text",
                                     hmb_js_where(x), NULL));
        return 0;
    }
    if (f->role == HMB_JS_CONTAINER) {
        x->raw->container_members++;
    }
    /* no name we read is this long */
    if (f->role == HMB_JS_OTHER || f->role == HMB_JS_LIST
        || len >= sizeof(name)) {
        return 1;
    }
    memcpy(name, key, len);
    name[len] = '\0';
    switch (f->role) {
    case HMB_JS_TOP:
        if (strcmp(name, x->container) != 0) {
            hmb_js_field(x, f, name);
        }
        else if (++x->container_keys == 1) {
            x->key = HMB_JK_CONTAINER;
        }
        else {
            x->raw->n_container = x->container_keys;
        }
        break;
    case HMB_JS_CONTAINER:
        x->key_name = apr_pstrdup(x->p, name);
        if ((x->object && strcmp(name, x->object) == 0)
            || (x->object_alt && strcmp(name, x->object_alt) == 0)) {
            if (++x->object_keys == 1) {
                x->key = HMB_JK_OBJECT;
            }
            else {
                x->raw->n_object = x->object_keys;
            }
        }
        else if (x->list && strcmp(name, x->list) == 0) {
            if (++x->fee_keys == 1) {
                x->key = HMB_JK_FEES;
            }
            else {
                hmb_js_shape(x, apr_psprintf(x->p, "%s: more than one "
                                             "\"%s\"", x->container,
                                             x->list));
            }
        }
        else if (x->raw->kind == HMB_MSG_RESPONSE
                 && strcmp(name, "hmbinfo") == 0) {
            /* ours already: a second module, or a forgery */
            x->raw->n_ours++;
        }
        else if (x->raw->kind == HMB_MSG_RESPONSE
                 && strcmp(name, "setldetail") == 0) {
            if (++x->list_keys == 1) {
                x->key = HMB_JK_LIST;
            }
            else {
                hmb_js_shape(x, "output: more than one \"setldetail\"");
            }
        }
        break;
    default:
        hmb_js_field(x, f, name);
    }
    return 1;
}

/* A value of the last key: text (NULL for null) or, with what "an
 * object" or "an array", the start of one. Returns the role an opened
 * value takes. */
static hmb_js_role_e hmb_js_keyed(hmb_msg_json_t *x, const char *what,
                                  const char *text, apr_size_t len)
{
    hmb_msg_raw_t *raw = x->raw;
    int object = strcmp(what, "an object") == 0;
    int array = strcmp(what, "an array") == 0;
    hmb_js_key_e key = x->key;

    x->key = HMB_JK_NONE;
    if (key == HMB_JK_NONE || (!text && !object && !array)) {
        return HMB_JS_OTHER;        /* not ours, or null: absent */
    }
    switch (key) {
    case HMB_JK_FIELD: {
        hmb_msg_field_t *f = &x->key_scope->f[x->key_index];

        if (x->key_dup) {
            break;
        }
        f->count = 1;
        if (object || array) {
            f->child = object ? "object" : "array";
        }
        else if (len > HMB_MESSAGE_MAX_FIELD) {
            hmb_js_refuse(x, apr_psprintf(x->p, "%s/%s: text longer than "
                                          "%d bytes", x->key_scope->path,
                                          x->key_scope->names[x->key_index],
                                          HMB_MESSAGE_MAX_FIELD));
        }
        else {
            f->text = apr_pstrmemdup(x->p, text, len);
        }
        break;
    }
    case HMB_JK_CONTAINER:
        raw->n_container = 1;
        if (object) {
            return HMB_JS_CONTAINER;
        }
        raw->container_opaque = 1;
        break;
    case HMB_JK_OBJECT:
        raw->n_object = 1;
        if (strcmp(x->key_name, x->object) != 0) {
            raw->object.path = apr_pstrcat(x->p, x->container, "/",
                                           x->key_name, NULL);
        }
        if (object) {
            return HMB_JS_OBJECT;
        }
        hmb_js_shape(x, apr_psprintf(x->p, "%s/%s: %s, expected an object",
                                     x->container, x->key_name, what));
        break;
    case HMB_JK_FEES:
        if (array) {
            return HMB_JS_FEES;
        }
        hmb_js_shape(x, apr_psprintf(x->p, "%s/%s: %s, expected an array "
                                     "of objects", x->container, x->list,
                                     what));
        break;
    case HMB_JK_LIST:
        if (array) {
            return HMB_JS_LIST;
        }
        break;
    default:
        break;
    }
    return HMB_JS_OTHER;
}

/* A value in an array: returns the role an opened value takes. */
static hmb_js_role_e hmb_js_item(hmb_msg_json_t *x, hmb_js_frame_t *f,
                                 const char *what)
{
    hmb_msg_raw_t *raw = x->raw;

    f->items++;
    if (f->role == HMB_JS_LIST) {
        raw->list_items++;
    }
    if (f->role != HMB_JS_FEES) {
        return HMB_JS_OTHER;
    }
    if (strcmp(what, "an object") != 0) {
        hmb_js_shape(x, apr_psprintf(x->p, "%s/%s[%d]: %s, expected an "
                                     "object", x->container, x->list,
                                     f->items, what));
        return HMB_JS_OTHER;
    }
    return HMB_JS_FEE;
}

static int hmb_js_value(hmb_msg_json_t *x, const char *what,
                        const char *text, apr_size_t len)
{
    hmb_js_frame_t *f = &x->frames[x->depth];

    if (x->depth == 0) {
        return 1;                   /* not an object: finish says so */
    }
    if (f->array) {
        hmb_js_item(x, f, what);
    }
    else {
        hmb_js_keyed(x, what, text, len);
    }
    return !x->stopped;
}

static int hmb_js_null(void *ctx)
{
    return hmb_js_value(ctx, "null", NULL, 0);
}

static int hmb_js_boolean(void *ctx, int b)
{
    return hmb_js_value(ctx, "a boolean", b ? "true" : "false", b ? 4 : 5);
}

/* The literal as written: "1200.00" stays "1200.00", and a number too
 * large for any machine type is just text to refuse later. */
static int hmb_js_number(void *ctx, const char *s, size_t len)
{
    return hmb_js_value(ctx, "a number", s, len);
}

/* Every string is checked, read or not: yajl takes overlong forms and
 * surrogates, and "\u0000" would cut a C string short. */
static int hmb_js_string(void *ctx, const unsigned char *s, size_t len)
{
    hmb_msg_json_t *x = ctx;

    if (!hmb_utf8_valid((const char *)s, len)) {
        hmb_js_refuse(x, apr_pstrcat(x->p, "a string that is not UTF-8 "
                                     "text or holds \\u0000",
                                     hmb_js_where(x), NULL));
        return 0;
    }
    return hmb_js_value(x, "a string", (const char *)s, len);
}

static int hmb_js_open(hmb_msg_json_t *x, int array)
{
    hmb_js_frame_t *parent = &x->frames[x->depth], *f;
    const char *what = hmb_js_what(array);
    hmb_js_role_e role = HMB_JS_OTHER;
    hmb_msg_raw_t *raw = x->raw;

    /* refused here, so that a deep message costs no more than this */
    if (x->depth >= HMB_JSON_MAX_DEPTH) {
        hmb_js_refuse(x, apr_psprintf(x->p, "objects and arrays nested "
                                      "deeper than %d", HMB_JSON_MAX_DEPTH));
        return 0;
    }
    if (x->depth == 0) {
        x->top_object = !array;
        role = array ? HMB_JS_OTHER : HMB_JS_TOP;
    }
    else if (parent->array) {
        role = hmb_js_item(x, parent, what);
    }
    else {
        role = hmb_js_keyed(x, what, NULL, 0);
    }
    f = &x->frames[++x->depth];
    memset(f, 0, sizeof(*f));
    f->role = role;
    f->array = array;
    if (role == HMB_JS_TOP) {
        f->scope = &raw->top;
    }
    else if (role == HMB_JS_OBJECT) {
        f->scope = &raw->object;
    }
    else if (role == HMB_JS_FEE) {
        if (raw->items->nelts >= HMB_MESSAGE_MAX_FEES) {
            /* the checks say so; nothing more is worth reading */
            raw->too_many_items = 1;
            hmb_js_refuse(x, "too many lines");
            return 0;
        }
        f->scope = apr_array_push(raw->items);
        hmb_msg_scope_init(x->p, f->scope,
                           apr_psprintf(x->p, "%s[%d]", x->list,
                                        raw->items->nelts),
                           raw->list_fields);
    }
    return !x->stopped;
}

static int hmb_js_start_map(void *ctx)
{
    return hmb_js_open(ctx, 0);
}

static int hmb_js_start_array(void *ctx)
{
    return hmb_js_open(ctx, 1);
}

static int hmb_js_close(void *ctx)
{
    hmb_msg_json_t *x = ctx;
    hmb_js_frame_t *f = &x->frames[x->depth];

    if (f->role == HMB_JS_CONTAINER && x->raw->kind == HMB_MSG_RESPONSE) {
        if (!hmb_js_here(x, &x->raw->splice_at)) {
            return 0;
        }
    }
    else if (f->role == HMB_JS_LIST) {
        if (!hmb_js_here(x, &x->raw->list_at)) {
            return 0;
        }
    }
    x->depth--;
    x->key = HMB_JK_NONE;
    return 1;
}

static const yajl_callbacks hmb_js_callbacks = {
    hmb_js_null,
    hmb_js_boolean,
    NULL,                           /* integers and doubles: never; */
    NULL,                           /* numbers come as their text */
    hmb_js_number,
    hmb_js_string,
    hmb_js_start_map,
    hmb_js_key,
    hmb_js_close,
    hmb_js_start_array,
    hmb_js_close
};

/* yajl's reason, without its line break. */
static void hmb_js_syntax(hmb_msg_json_t *x)
{
    unsigned char *e = yajl_get_error(x->yh, 0, NULL, 0);
    const char *why = hmb_trim(x->p, e ? (const char *)e : "");

    if (e) {
        yajl_free_error(x->yh, e);
    }
    hmb_js_refuse(x, apr_pstrcat(x->p, "not well-formed JSON",
                                 hmb_js_where(x), ": ",
                                 hmb_one_line(x->p, why, 200), NULL));
}

/* UTF-8 text to yajl; orig NULL when it is the original bytes. */
static void hmb_js_parse(hmb_msg_json_t *x, const char *buf, apr_size_t len,
                         const char *orig, apr_size_t orig_len)
{
    yajl_status st;

    if (x->stopped || !len) {
        return;
    }
    x->piece = (const unsigned char *)buf;
    x->piece_len = len;
    x->orig = (const unsigned char *)orig;
    x->orig_len = orig_len;
    x->piece_at = x->at;
    st = yajl_parse(x->yh, x->piece, len);
    if (st == yajl_status_error) {
        hmb_js_syntax(x);
    }
    else if (st != yajl_status_ok) {
        hmb_js_refuse(x, "the parser stopped");
    }
}

/* Original bytes out of GBK and the like, a slice at a time; a character
 * cut by the end of a slice waits for the next one. */
static void hmb_js_convert(hmb_msg_json_t *x, const char *buf, apr_size_t len)
{
    while (len && !x->stopped) {
        apr_size_t n = len < HMB_JS_CONV ? len : HMB_JS_CONV;
        apr_size_t total = x->in_len + n, left = total, room = x->out_cap;
        apr_status_t rv;

        memcpy(x->in + x->in_len, buf, n);
        rv = apr_xlate_conv_buffer(x->xlate, x->in, &left, x->out, &room);
        if ((rv != APR_SUCCESS && rv != APR_INCOMPLETE)
            || left >= HMB_JS_CARRY) {
            hmb_js_refuse(x, apr_psprintf(x->p, "the bytes are not valid %s "
                                          "near byte %" APR_OFF_T_FMT,
                                          x->decoder,
                                          x->at + (apr_off_t)(total - left)));
            return;
        }
        hmb_js_parse(x, x->out, x->out_cap - room, x->in, total - left);
        x->at += (apr_off_t)(total - left);
        memmove(x->in, x->in + total - left, left);
        x->in_len = left;
        buf += n;
        len -= n;
    }
}

static void hmb_js_bytes(hmb_msg_json_t *x, const char *buf, apr_size_t len)
{
    if (x->xlate) {
        hmb_js_convert(x, buf, len);
    }
    else {
        hmb_js_parse(x, buf, len, NULL, 0);
        x->at += (apr_off_t)len;
    }
}

/* The first bytes tell a byte-order mark or UTF-16 (a zero byte next to
 * an ASCII one); UTF-8's mark is skipped, its offsets still counted. */
static void hmb_js_start(hmb_msg_json_t *x)
{
    const unsigned char *h = x->head;
    apr_size_t n = x->head_len, skip = 0;

    x->started = 1;
    if ((n >= 2 && ((h[0] == 0xFE && h[1] == 0xFF)
                    || (h[0] == 0xFF && h[1] == 0xFE)))
        || (n >= 1 && h[0] == 0) || (n >= 2 && h[1] == 0)) {
        hmb_js_refuse(x, "UTF-16 or UTF-32 is not supported (UTF-8, GBK, "
                      "GB18030)");
        return;
    }
    if (n == 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF) {
        if (x->xlate) {
            hmb_js_refuse(x, apr_psprintf(x->p, "a UTF-8 byte-order mark in "
                                          "a message said to be %s",
                                          x->decoder));
            return;
        }
        skip = 3;
        x->at = 3;
    }
    hmb_js_bytes(x, (const char *)h + skip, n - skip);
}

static void hmb_js_feed(void *st, const char *buf, apr_size_t len)
{
    hmb_msg_json_t *x = st;

    if (x->stopped || !len) {
        return;
    }
    x->fed += len;
    if (!x->started) {
        apr_size_t take = sizeof(x->head) - x->head_len;

        if (take > len) {
            take = len;
        }
        memcpy(x->head + x->head_len, buf, take);
        x->head_len += take;
        buf += take;
        len -= take;
        if (x->head_len < sizeof(x->head)) {
            return;
        }
        hmb_js_start(x);
    }
    hmb_js_bytes(x, buf, len);
}

static void hmb_js_stop(void *st, const char *reason)
{
    hmb_js_refuse(st, reason);
}

static const char *hmb_js_finish(void *st)
{
    hmb_msg_json_t *x = st;

    x->raw->root = x->name;
    x->raw->declared = x->charset;
    x->raw->decoder = x->xlate ? x->decoder : NULL;
    if (!x->fed && !x->stopped) {
        hmb_js_refuse(x, "empty message");
    }
    if (!x->started && !x->stopped) {
        hmb_js_start(x);
    }
    if (x->stopped) {
        return x->refusal;
    }
    if (x->in_len) {
        hmb_js_refuse(x, apr_psprintf(x->p, "the message ends inside a %s "
                                      "character", x->decoder));
        return x->refusal;
    }
    x->piece = NULL;
    x->piece_len = 0;
    x->orig = NULL;
    x->piece_at = x->at;
    if (yajl_complete_parse(x->yh) != yajl_status_ok) {
        if (!x->stopped) {
            hmb_js_syntax(x);
        }
        return x->refusal;
    }
    if (!x->top_object) {
        hmb_js_refuse(x, "the message is not a JSON object");
    }
    return x->refusal;
}

static const hmb_msg_format_t hmb_msg_json_format = {
    "json",
    hmb_js_feed,
    hmb_js_stop,
    hmb_js_finish
};

static apr_status_t hmb_js_cleanup(void *data)
{
    hmb_msg_json_t *x = data;

    if (x->yh) {
        yajl_free(x->yh);
        x->yh = NULL;
    }
    return APR_SUCCESS;
}

/* The Chinese encodings a JSON message may come in besides UTF-8. */
static int hmb_js_gb(const char *charset)
{
    return charset && (strcasecmp(charset, "GBK") == 0
                       || strcasecmp(charset, "GB18030") == 0
                       || strcasecmp(charset, "GB2312") == 0);
}

const hmb_msg_format_t *hmb_msg_json_reader(apr_pool_t *p, hmb_msg_raw_t *raw,
                                            const char *charset,
                                            void **state)
{
    hmb_msg_json_t *x = apr_pcalloc(p, sizeof(*x));
    int request = raw->kind == HMB_MSG_REQUEST;

    x->p = p;
    x->raw = raw;
    x->name = request ? "request" : "response";
    x->container = raw->container;
    x->object = raw->object_name;
    x->object_alt = raw->object_alt;
    x->list = raw->list_name;
    x->charset = charset;
    raw->wire = HMB_WIRE_JSON;
    *state = x;
    x->yh = yajl_alloc(&hmb_js_callbacks, NULL, x);
    if (!x->yh) {
        hmb_js_refuse(x, "cannot create a JSON parser");
        return &hmb_msg_json_format;
    }
    apr_pool_cleanup_register(p, x, hmb_js_cleanup, apr_pool_cleanup_null);
    if (hmb_js_gb(charset)) {
        x->decoder = apr_pstrdup(p, charset);
        if (apr_xlate_open(&x->xlate, "UTF-8", charset, p) != APR_SUCCESS) {
            x->xlate = NULL;
            hmb_js_refuse(x, apr_psprintf(x->p, "cannot convert from %s",
                                          hmb_show(p, charset)));
            return &hmb_msg_json_format;
        }
        x->in = apr_palloc(p, HMB_JS_CONV + HMB_JS_CARRY);
        x->out_cap = 3 * (HMB_JS_CONV + HMB_JS_CARRY);
        x->out = apr_palloc(p, x->out_cap);
    }
    return &hmb_msg_json_format;
}
