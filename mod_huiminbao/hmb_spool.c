/* The spool: one file per message that could not be settled when it
 * passed. A settlement that the billing desk has already been shown must
 * reach the ledger eventually, so an entry is only reported written once
 * both its bytes and its name are on disk (file and directory fsync'd).
 *
 * Entry format: one ASCII header line "HMBSPOOL 1 REQ_LEN RESP_LEN\n",
 * then REQ_LEN request bytes, then RESP_LEN response bytes. The lengths
 * make the bytes binary-safe and let a reader detect a truncated file.
 *
 * Names: DIR/TIME-PID-COUNTER.spool with TIME apr_time_now() in
 * microseconds (zero-padded, so `ls` shows arrival order too), written
 * first as DIR/tmp-XXXXXX and renamed, so a reader never sees half an
 * entry. Settled entries move to DIR/done/. */
#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>

#include "hmb_spool.h"

#define HMB_SPOOL_MAGIC     "HMBSPOOL 1 "
#define HMB_SPOOL_SUFFIX    ".spool"
#define HMB_SPOOL_DONE      "done"
#define HMB_SPOOL_HDR_MAX   128
#define HMB_SPOOL_CS_MAX    32

/* Entries hold personal data (names, certificate numbers): readable by
 * the server's group (hmbctl replay), nobody else. */
#define HMB_SPOOL_FILE_PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE \
                              | APR_FPROT_GREAD)
#define HMB_SPOOL_DIR_PERMS  (APR_FPROT_UREAD | APR_FPROT_UWRITE \
                              | APR_FPROT_UEXECUTE | APR_FPROT_GREAD \
                              | APR_FPROT_GEXECUTE)

/* Threads of one process share the pid: the counter keeps their names
 * apart. */
static volatile apr_uint32_t hmb_spool_counter;

typedef struct {
    const char *path;
    apr_uint64_t time;
    apr_uint64_t pid;
    apr_uint64_t counter;
} hmb_spool_entry_t;

static const char *hmb_spool_err(apr_pool_t *p, const char *what,
                                 const char *path, apr_status_t rv)
{
    char buf[120];

    return apr_psprintf(p, "spool: %s %s: %s", what, path,
                        apr_strerror(rv, buf, sizeof(buf)));
}

/* A rename or a create is durable only once the directory holding the
 * name is synced too. */
static apr_status_t hmb_spool_sync_dir(apr_pool_t *p, const char *dir)
{
    apr_file_t *d;
    apr_status_t rv;

    rv = apr_file_open(&d, dir, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_file_sync(d);
    apr_file_close(d);
    return rv;
}

static apr_status_t hmb_spool_write_all(apr_file_t *f, const char *buf,
                                        apr_size_t len)
{
    if (len == 0) {
        return APR_SUCCESS;
    }
    return apr_file_write_full(f, buf, len, NULL);
}

/* A charset name as the header keeps it: a token of letters, digits,
 * '-', '_', '.' and ':' (what IANA names use), "-" for none or another. */
static const char *hmb_spool_cs(const char *cs)
{
    const char *c;

    if (!cs || !*cs || strlen(cs) > HMB_SPOOL_CS_MAX || !strcmp(cs, "-")) {
        return "-";
    }
    for (c = cs; *c; c++) {
        if (!apr_isalnum(*c) && !strchr("-_.:", *c)) {
            return "-";
        }
    }
    return cs;
}

const char *hmb_spool_write(apr_pool_t *p, const char *dir,
                            const char *req, apr_size_t req_len,
                            const char *resp, apr_size_t resp_len,
                            const char *req_charset,
                            const char *resp_charset, const char **path)
{
    apr_file_t *f;
    apr_status_t rv;
    char *tmp;
    const char *final;
    const char *hdr;
    const char *what;
    apr_uint32_t n;

    if (!req) {
        req_len = 0;
    }
    if (!resp || resp_len == 0) {
        return "spool: refusing an entry without response bytes";
    }

    tmp = apr_pstrcat(p, dir, "/tmp-XXXXXX", NULL);
    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_READ
                         | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                         | APR_FOPEN_BINARY, p);
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot create a file in", dir, rv);
    }

    /* older entries end after the lengths; the charsets follow them */
    hdr = apr_psprintf(p, HMB_SPOOL_MAGIC "%" APR_SIZE_T_FMT " %"
                       APR_SIZE_T_FMT " %s %s\n", req_len, resp_len,
                       hmb_spool_cs(req_charset), hmb_spool_cs(resp_charset));
    what = "cannot write";
    rv = hmb_spool_write_all(f, hdr, strlen(hdr));
    if (rv == APR_SUCCESS) {
        rv = hmb_spool_write_all(f, req, req_len);
    }
    if (rv == APR_SUCCESS) {
        rv = hmb_spool_write_all(f, resp, resp_len);
    }
    if (rv == APR_SUCCESS) {
        what = "cannot sync";
        rv = apr_file_sync(f);
    }
    if (rv == APR_SUCCESS) {
        what = "cannot set permissions of";
        rv = apr_file_perms_set(tmp, HMB_SPOOL_FILE_PERMS);
        if (APR_STATUS_IS_ENOTIMPL(rv)) {
            rv = APR_SUCCESS;
        }
    }
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        apr_file_remove(tmp, p);
        return hmb_spool_err(p, what, tmp, rv);
    }
    rv = apr_file_close(f);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        return hmb_spool_err(p, "cannot close", tmp, rv);
    }

    n = apr_atomic_inc32(&hmb_spool_counter);
    final = apr_psprintf(p, "%s/%016" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT
                         "-%u" HMB_SPOOL_SUFFIX, dir,
                         (apr_uint64_t)apr_time_now(),
                         (apr_uint64_t)getpid(), (unsigned)n);
    rv = apr_file_rename(tmp, final, p);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        return hmb_spool_err(p, "cannot rename into", final, rv);
    }
    rv = hmb_spool_sync_dir(p, dir);
    if (rv != APR_SUCCESS) {
        /* The bytes are complete under their final name; only their
         * durability across a crash is in doubt, and the caller has to
         * know that it cannot rely on the entry. Leave the file: a
         * replay of it is harmless (settlements are idempotent). */
        return hmb_spool_err(p, "cannot sync directory", dir, rv);
    }
    if (path) {
        *path = final;
    }
    return NULL;
}

/* Digits up to the next 'stop' character; NULL unless there is at least
 * one digit and then exactly 'stop'. */
static const char *hmb_spool_number(const char *s, char stop,
                                    apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    const char *start = s;

    while (apr_isdigit(*s)) {
        if (v > (APR_UINT64_MAX - 9) / 10) {
            return NULL;
        }
        v = v * 10 + (apr_uint64_t)(*s - '0');
        s++;
    }
    if (s == start || *s != stop) {
        return NULL;
    }
    *out = v;
    return s + 1;
}

/* TIME-PID-COUNTER.spool and nothing else: temporary files, done/ and
 * whatever an operator left in the directory are not entries. */
static int hmb_spool_parse_name(const char *name, hmb_spool_entry_t *e)
{
    const char *s = name;
    apr_uint64_t counter;

    if (!(s = hmb_spool_number(s, '-', &e->time))
        || !(s = hmb_spool_number(s, '-', &e->pid))
        || !(s = hmb_spool_number(s, '.', &counter))) {
        return 0;
    }
    e->counter = counter;
    return strcmp(s - 1, HMB_SPOOL_SUFFIX) == 0;
}

static int hmb_spool_cmp(const void *a, const void *b)
{
    const hmb_spool_entry_t *x = a;
    const hmb_spool_entry_t *y = b;

    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    if (x->pid != y->pid) {
        return x->pid < y->pid ? -1 : 1;
    }
    if (x->counter != y->counter) {
        return x->counter < y->counter ? -1 : 1;
    }
    return strcmp(x->path, y->path);
}

const char *hmb_spool_list(apr_pool_t *p, const char *dir,
                           apr_array_header_t **paths)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_array_header_t *entries;
    apr_array_header_t *out;
    int i;

    rv = apr_dir_open(&d, dir, p);
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot open directory", dir, rv);
    }
    entries = apr_array_make(p, 16, sizeof(hmb_spool_entry_t));
    for (;;) {
        hmb_spool_entry_t e;

        rv = apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d);
        if (APR_STATUS_IS_ENOENT(rv)) {
            break;
        }
        if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
            apr_dir_close(d);
            return hmb_spool_err(p, "cannot read directory", dir, rv);
        }
        if ((fi.valid & APR_FINFO_TYPE) && fi.filetype != APR_REG) {
            continue;
        }
        if (!fi.name || !hmb_spool_parse_name(fi.name, &e)) {
            continue;
        }
        e.path = apr_pstrcat(p, dir, "/", fi.name, NULL);
        *(hmb_spool_entry_t *)apr_array_push(entries) = e;
    }
    apr_dir_close(d);

    if (entries->nelts > 1) {
        qsort(entries->elts, entries->nelts, sizeof(hmb_spool_entry_t),
              hmb_spool_cmp);
    }
    out = apr_array_make(p, entries->nelts ? entries->nelts : 1,
                         sizeof(const char *));
    for (i = 0; i < entries->nelts; i++) {
        APR_ARRAY_PUSH(out, const char *) =
            APR_ARRAY_IDX(entries, i, hmb_spool_entry_t).path;
    }
    *paths = out;
    return NULL;
}

/* One charset token of the header, up to stop: NULL for "-". */
static const char *hmb_spool_cs_token(apr_pool_t *p, const char **s,
                                      char stop, int *ok)
{
    const char *end = strchr(*s, stop);
    const char *cs;

    if (!end || end == *s || end - *s > HMB_SPOOL_CS_MAX) {
        *ok = 0;
        return NULL;
    }
    cs = apr_pstrmemdup(p, *s, (apr_size_t)(end - *s));
    *s = end + 1;
    if (strcmp(hmb_spool_cs(cs), cs)) {
        *ok = 0;
        return NULL;
    }
    return strcmp(cs, "-") ? cs : NULL;
}

const char *hmb_spool_read(apr_pool_t *p, const char *path,
                           const char **req, apr_size_t *req_len,
                           const char **resp, apr_size_t *resp_len,
                           const char **req_charset,
                           const char **resp_charset)
{
    const char *rcs = NULL, *scs = NULL;
    int ok = 1;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char hdr[HMB_SPOOL_HDR_MAX + 1];
    apr_size_t n = HMB_SPOOL_HDR_MAX;
    apr_size_t body, want, hlen;
    apr_uint64_t rl, sl;
    const char *s, *hdr_rest;
    char *nl, *buf;

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot open", path, rv);
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        return hmb_spool_err(p, "cannot stat", path, rv);
    }
    if (fi.size < (apr_off_t)n) {
        n = fi.size > 0 ? (apr_size_t)fi.size : 0;
    }
    rv = n ? apr_file_read_full(f, hdr, n, NULL) : APR_SUCCESS;
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        return hmb_spool_err(p, "cannot read", path, rv);
    }
    hdr[n] = '\0';
    nl = memchr(hdr, '\n', n);
    if (!nl || strncmp(hdr, HMB_SPOOL_MAGIC, sizeof(HMB_SPOOL_MAGIC) - 1)) {
        apr_file_close(f);
        return apr_psprintf(p, "spool: %s is not a spool entry", path);
    }
    *nl = '\0';
    s = hdr + sizeof(HMB_SPOOL_MAGIC) - 1;
    if (!(s = hmb_spool_number(s, ' ', &rl))
        || (!(s = hmb_spool_number(hdr_rest = s, '\0', &sl))
            && (!(s = hmb_spool_number(hdr_rest, ' ', &sl))
                || (rcs = hmb_spool_cs_token(p, &s, ' ', &ok), !ok)
                || (scs = hmb_spool_cs_token(p, &s, '\0', &ok), !ok)))
        || rl > APR_SIZE_MAX / 2 || sl > APR_SIZE_MAX / 2) {
        apr_file_close(f);
        return apr_psprintf(p, "spool: %s has a malformed header", path);
    }
    hlen = (apr_size_t)(nl - hdr) + 1;
    body = (apr_size_t)rl + (apr_size_t)sl;
    if (fi.size < 0 || (apr_uint64_t)fi.size != hlen + body) {
        apr_file_close(f);
        return apr_psprintf(p, "spool: %s is truncated or has trailing "
                            "bytes (%" APR_OFF_T_FMT " bytes, header says %"
                            APR_SIZE_T_FMT ")", path, fi.size, hlen + body);
    }

    /* The header read may have taken some body bytes with it. */
    buf = apr_palloc(p, body + 1);
    want = n - hlen;
    memcpy(buf, hdr + hlen, want);
    if (body > want) {
        rv = apr_file_read_full(f, buf + want, body - want, NULL);
        if (rv != APR_SUCCESS) {
            apr_file_close(f);
            return hmb_spool_err(p, "cannot read", path, rv);
        }
    }
    apr_file_close(f);

    /* No request bytes is not the same as an empty request: the module
     * had none to give the core, so the replay gives it none either. */
    *req = rl ? apr_pstrmemdup(p, buf, (apr_size_t)rl) : NULL;
    *req_len = (apr_size_t)rl;
    *resp = apr_pstrmemdup(p, buf + rl, (apr_size_t)sl);
    *resp_len = (apr_size_t)sl;
    if (req_charset) {
        *req_charset = rcs;
    }
    if (resp_charset) {
        *resp_charset = scs;
    }
    return NULL;
}

/* A directory made by an operator's hmbctl run as root belongs to the
 * spool's owner (httpd's user) all the same, or the server could not use
 * it afterwards. */
static void hmb_spool_own_like(const char *path, const char *like)
{
    struct stat st;

    if (geteuid() == 0 && stat(like, &st) == 0) {
        if (chown(path, st.st_uid, st.st_gid) != 0) {
            /* the directory still works for root; the server will say so
             * at start-up if it cannot use it */
        }
    }
}

const char *hmb_spool_prune(apr_pool_t *p, const char *dir,
                            apr_interval_time_t keep, int *removed)
{
    const char *done = apr_pstrcat(p, dir, "/" HMB_SPOOL_DONE, NULL);
    apr_time_t before = apr_time_now() - keep;
    apr_finfo_t fi;
    apr_dir_t *d;
    apr_status_t rv;

    *removed = 0;
    rv = apr_dir_open(&d, done, p);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return NULL;
    }
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot read", done, rv);
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE
                        | APR_FINFO_CTIME, d) == APR_SUCCESS) {
        apr_size_t n = strlen(fi.name);
        const char *path;

        /* moved here by hmbctl replay: the rename set ctime */
        if (fi.filetype != APR_REG || n <= strlen(HMB_SPOOL_SUFFIX)
            || strcmp(fi.name + n - strlen(HMB_SPOOL_SUFFIX),
                      HMB_SPOOL_SUFFIX) || fi.ctime >= before) {
            continue;
        }
        path = apr_pstrcat(p, done, "/", fi.name, NULL);
        if (apr_file_remove(path, p) == APR_SUCCESS) {
            (*removed)++;
        }
    }
    apr_dir_close(d);
    return NULL;
}

const char *hmb_spool_done(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dir, *done, *target;
    apr_status_t rv;

    if (!slash || slash[1] == '\0') {
        return apr_psprintf(p, "spool: %s is not an entry path", path);
    }
    dir = slash == path ? "/" : apr_pstrmemdup(p, path, slash - path);
    done = apr_pstrcat(p, dir, "/" HMB_SPOOL_DONE, NULL);
    rv = apr_dir_make(done, HMB_SPOOL_DIR_PERMS, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        return hmb_spool_err(p, "cannot create", done, rv);
    }
    if (rv == APR_SUCCESS) {
        hmb_spool_own_like(done, dir);
    }
    target = apr_pstrcat(p, done, slash, NULL);
    rv = apr_file_rename(path, target, p);
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot move to done/", path, rv);
    }
    /* If this rename were lost in a crash the entry would be replayed
     * once more, which is harmless; sync anyway so that a report of
     * pending entries tells the truth. */
    rv = hmb_spool_sync_dir(p, done);
    if (rv == APR_SUCCESS) {
        rv = hmb_spool_sync_dir(p, dir);
    }
    if (rv != APR_SUCCESS) {
        return hmb_spool_err(p, "cannot sync directory", dir, rv);
    }
    return NULL;
}
