/* Integration: mod_huiminbao in Debian's apache2.
 *
 * Group setup: a SQLite ledger seeded with `hmbctl enroll` and given to
 * the children's user, the sample upstream twice (canned fixtures from
 * tests/fixtures/module/upstream, and the load template), and apache2
 * started by harness.sh with the module, four plans, a spool and mod_dbd.
 * A second port is served by a virtual host whose ledger cannot be
 * opened: that is where settlements are deferred to the spool.
 * Teardown stops everything, whatever happened in the tests.
 *
 * The tests share one server and one ledger and run in order; each uses
 * persons of its own (tests/fixtures/module/README.md), so the amounts
 * each one expects depend only on its own messages.
 */
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_thread_proc.h>

#define MOD_FIXTURES  HMB_FIXTURE("module")
#define UP_DIR        MOD_FIXTURES "/upstream"
#define LOAD_DIR      HMB_FIXTURE("upstream-load")
#define ENROLL_CSV    MOD_FIXTURES "/enroll.csv"
#define PLAN_2024     HMB_EXAMPLE("plan.xml")
#define PLAN_2025     MOD_FIXTURES "/plans/yichun-2025.xml"
#define PLAN_LOAD     MOD_FIXTURES "/plans/load-2024.xml"
#define PLAN_GRACE1   MOD_FIXTURES "/plans/grace-v1.xml"
#define PLAN_GRACE2   MOD_FIXTURES "/plans/grace-v2.xml"
#define PLAN_BAD      MOD_FIXTURES "/plans/bad-ratio.xml"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *spec;               /* the live ledger, sqlite3:PATH */
    const char *ledger;             /* its file */
    const char *grace_plan;         /* rewritten by the graceful test */
    apr_port_t port;                /* main server */
    apr_port_t port_noledger;       /* the virtual host without a ledger */
    apr_port_t up_port;
    apr_port_t load_port;
    /* httpd's answers to the worked example, for the hmbctl comparison */
    const char *we_body[5];
    apr_size_t we_len[5];
    const char *we_dup_body;
    apr_size_t we_dup_len;
} mod_env_t;

static mod_env_t env;

/* --- processes ---------------------------------------------------------- */

/* a value of the main server's status page */
#define status_value(p, key) hmb_it_status_value((p), env.port, (key))

/* hmbctl on the live ledger, as the children's user; the test fails
 * unless it exits with rc. */
#define hmbctl_live(p, rc, ...) \
    hmb_it_hmbctl((p), env.rundir, HMB_IT_HTTPD_USER, env.spec, (rc), \
                  __VA_ARGS__)

static char *totals(apr_pool_t *p, const char *code, const char *year,
                    const char *psn_no)
{
    return hmbctl_live(p, 0, "totals", "--plan-code", code, "--year", year,
                       psn_no, NULL);
}

/* sqlite3's answer to one query on the live ledger, without the final
 * newline. */
static char *ledger_sql(apr_pool_t *p, const char *sql)
{
    const char *argv[] = { "/usr/bin/sqlite3", "-batch", env.ledger, sql,
                           NULL };
    char *out;
    apr_size_t n;

    if (hmb_it_capture(p, env.rundir, HMB_IT_HTTPD_USER, argv,
                       apr_time_from_sec(60), &out) != 0) {
        fail_msg("sqlite3 '%s' failed: %s", sql, out ? out : "");
    }
    n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    return out;
}

/* --- setup and teardown ------------------------------------------------- */

static const char *copy_file(apr_pool_t *p, const char *from, const char *to)
{
    return apr_file_copy(from, to, APR_FPROT_FILE_SOURCE_PERMS, p)
           == APR_SUCCESS ? NULL : apr_pstrcat(p, "cannot copy ", from,
                                               " to ", to, NULL);
}

static const char *copy_dir(apr_pool_t *p, const char *from, const char *to)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    const char *why = NULL;

    if (apr_dir_make(to, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS
        || apr_dir_open(&d, from, p) != APR_SUCCESS) {
        return apr_pstrcat(p, "cannot copy ", from, " to ", to, NULL);
    }
    while (!why && apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        if (fi.filetype == APR_REG) {
            why = copy_file(p, apr_pstrcat(p, from, "/", fi.name, NULL),
                            apr_pstrcat(p, to, "/", fi.name, NULL));
        }
    }
    apr_dir_close(d);
    return why;
}

static const char *module_conf(apr_pool_t *p)
{
    static const char *const plans[] = {
        PLAN_2024, PLAN_2025, "${HMB_RUNDIR}/grace.xml", PLAN_LOAD, NULL
    };
    const char *moddir = getenv("HMB_APACHE_MODULES");

    if (!moddir) {
        moddir = "/usr/lib/apache2/modules";
    }
    return hmb_it_module_conf(p, plans, HMB_IT_DBD_SQLITE, env.up_port, NULL,
        apr_psprintf(p,
        "<IfModule !deflate_module>\n"
        "    LoadModule deflate_module \"%s/mod_deflate.so\"\n"
        "</IfModule>\n"
        /* Fewer threads per child than the concurrency test has clients,
         * so that one child cannot take them all: several children
         * share the ledger, as in production. */
        "<IfModule mpm_event_module>\n"
        "    StartServers 3\n"
        "    ThreadsPerChild 8\n"
        "    MaxRequestWorkers 32\n"
        "    MinSpareThreads 8\n"
        "    MaxSpareThreads 32\n"
        "</IfModule>\n"
        /* which child served what, for the concurrency test */
        "LogFormat \"%%P \\\"%%r\\\" %%>s stas=%%{HUIMINBAO_STAS}e\" hmbpid\n"
        "CustomLog \"${HMB_RUNDIR}/logs/pid_log\" hmbpid\n"
        "<Location \"/fsi-gz/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "    SetOutputFilter DEFLATE\n"
        "</Location>\n"
        /* a gzip'd upstream answer inflated for us by mod_deflate, which
         * stops a bomb (DeflateInflateRatioLimit) before our limit does */
        "<Location \"/fsi-inflate/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "    SetOutputFilter INFLATE\n"
        "    HuiminbaoMaxBody 8M\n"
        "</Location>\n"
        "<Location \"/fsi-smallreq/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "    HuiminbaoMaxRequest 1024\n"
        "</Location>\n"
        "<Location \"/fsi-small/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "    HuiminbaoMaxBody 4096\n"
        "</Location>\n"
        "<Location \"/load\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/load\"\n"
        "    Huiminbao On\n"
        "</Location>\n"
        /* a settlement message served as a file: no request body */
        "<Location \"/static\">\n"
        "    Huiminbao On\n"
        "</Location>\n"
        /* The same locations on a second port, where mod_dbd has a
         * ledger that cannot be opened. */
        "Listen 127.0.0.1:%d\n"
        "<VirtualHost 127.0.0.1:%d>\n"
        "    DBDriver sqlite3\n"
        "    DBDParams \"${HMB_RUNDIR}/no-such-dir/ledger.db\"\n"
        "</VirtualHost>\n",
        moddir, (int)env.up_port, (int)env.up_port, (int)env.up_port,
        (int)env.up_port, (int)env.load_port, (int)env.port_noledger,
        (int)env.port_noledger));
}

static int group_setup(void **state)
{
    static const char *const plans[] = {
        PLAN_2024, PLAN_2025, PLAN_LOAD, PLAN_GRACE1, NULL
    };
    apr_pool_t *p;
    const char *why, *dir;

    (void)state;
    if (hmb_it_group_begin("module", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    dir = env.rundir;
    env.grace_plan = apr_pstrcat(p, dir, "/grace.xml", NULL);
    /* the ledger: enrolled as ourselves, then given to the children */
    why = hmb_it_sqlite_ledger(p, dir, plans, ENROLL_CSV, "imported 23 ",
                               HMB_IT_HTTPD_USER, &env.spec);
    env.ledger = env.spec + strlen("sqlite3:");
    if (!why && apr_dir_make_recursive(apr_pstrcat(p, dir, "/htdocs/static",
                                                   NULL),
                                       APR_FPROT_OS_DEFAULT, p)
                != APR_SUCCESS) {
        why = "cannot create htdocs/static";
    }
    if (!why) {
        why = copy_file(p, PLAN_GRACE1, env.grace_plan);
    }
    if (!why) {
        why = copy_file(p, UP_DIR "/HMBMOD-NOENV.xml",
                        apr_pstrcat(p, dir, "/htdocs/static/settle.xml",
                                    NULL));
    }
    if (!why) {
        why = hmb_it_free_ports(p, &env.up_port, &env.load_port, &env.port,
                                &env.port_noledger, NULL);
    }
    /* the canned answers, in a directory tests may add to */
    if (!why) {
        why = copy_dir(p, UP_DIR, apr_pstrcat(p, dir, "/upstream", NULL));
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "upstream", env.up_port,
                                    apr_pstrcat(p, dir, "/upstream", NULL),
                                    NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "load", env.load_port, LOAD_DIR,
                                    NULL);
    }
    if (!why) {
        why = hmb_it_start_httpd(p, dir, env.port, "module.conf",
                                 module_conf(p));
    }
    if (!why && (why = hmb_it_wait_port(env.port_noledger,
                                        apr_time_from_sec(5))) != NULL) {
        why = "the second port does not answer";
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- messages ----------------------------------------------------------- */

static char *fixture(apr_pool_t *p, const char *msgid, apr_size_t *len)
{
    return hmb_test_slurp(p, apr_pstrcat(p, UP_DIR "/", msgid, ".xml", NULL),
                          len);
}

/* POST the envelope for msgid to the main server at /fsi/api/TAG. */
static hmb_http_response_t *settle(apr_pool_t *p, const char *tag,
                                   const char *infno, const char *msgid,
                                   const char *psn_no)
{
    return hmb_it_settle(p, env.port, tag, infno, msgid, psn_no, NULL);
}

static void assert_length_header(const hmb_http_response_t *r)
{
    const char *cl = hmb_http_header(r, "Content-Length");

    if (!cl) {
        fail_msg("no Content-Length (chunked %d)", r->chunked);
    }
    assert_int_equal(apr_atoi64(cl), (apr_int64_t)r->body_len);
}

/* The answer is the upstream's bytes with one <hmbinfo> element added as
 * the last child of <output>, sent with its own Content-Length and
 * without the upstream's strong ETag. Returns the element. */
static const char *spliced_in(apr_pool_t *p, const char *body,
                              apr_size_t body_len, const char *want,
                              apr_size_t want_len)
{
    const char *info = hmb_it_hmbinfo(p, body);
    const char *start = strstr(body, "<hmbinfo>");
    apr_size_t elen = strlen(info), head = (apr_size_t)(start - body);
    char *rest = apr_palloc(p, body_len - elen + 1);

    memcpy(rest, body, head);
    memcpy(rest + head, start + elen, body_len - head - elen);
    rest[body_len - elen] = '\0';
    hmb_it_assert_same_bytes(rest, body_len - elen, want, want_len);
    return info;
}

static const char *assert_spliced(apr_pool_t *p, const hmb_http_response_t *r,
                                  const char *want, apr_size_t want_len)
{
    const char *etag;

    assert_int_equal(r->status, 200);
    assert_length_header(r);
    etag = hmb_http_header(r, "ETag");
    if (etag && strncmp(etag, "W/", 2)) {
        fail_msg("a strong ETag survived the splice: %s", etag);
    }
    return spliced_in(p, r->body, r->body_len, want, want_len);
}

static void assert_untouched(const hmb_http_response_t *r, int status,
                             const char *want, apr_size_t want_len)
{
    assert_int_equal(r->status, status);
    hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
    assert_null(strstr(r->body, "<hmbinfo>"));
}

/* The <tag> element whose <key> is value. */
static const char *part_of(apr_pool_t *p, const char *xml, const char *tag,
                           const char *key, const char *value)
{
    const char *open = apr_pstrcat(p, "<", tag, ">", NULL);
    const char *close = apr_pstrcat(p, "</", tag, ">", NULL);
    const char *s = xml;

    while ((s = strstr(s, open)) != NULL) {
        const char *e = strstr(s, close);
        const char *seg, *k;
        if (!e) {
            return NULL;
        }
        seg = apr_pstrmemdup(p, s, (apr_size_t)(e - s));
        k = hmb_it_field(p, seg, key);
        if (k && !strcmp(k, value)) {
            return seg;
        }
        s = e;
    }
    return NULL;
}

static const char *liab(apr_pool_t *p, const char *info, const char *code,
                        const char *name)
{
    const char *seg = part_of(p, info, "hmbdetail", "liab_code", code);

    if (!seg) {
        fail_msg("no <hmbdetail> for %s in %s", code, info);
    }
    return hmb_it_field(p, seg, name);
}

static const char *insurer_pay(apr_pool_t *p, const char *info,
                               const char *code)
{
    const char *seg = part_of(p, info, "hmbinsurer", "insurer_code", code);

    if (!seg) {
        fail_msg("no <hmbinsurer> for %s in %s", code, info);
    }
    return hmb_it_field(p, seg, "pay_amt");
}

/* "-12100.00" -> -1210000 */
static int parse_fen(const char *s, apr_int64_t *out)
{
    apr_int64_t v = 0;
    int neg = 0, frac = -1;

    if (!s || !*s) {
        return 0;
    }
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s; s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!apr_isdigit(*s) || frac == 2) {
            return 0;
        }
        v = v * 10 + (*s - '0');
        if (frac >= 0) {
            frac++;
        }
    }
    if (frac != 2) {
        return 0;
    }
    *out = neg ? -v : v;
    return 1;
}

static char *read_log(apr_pool_t *p, const char *name)
{
    return hmb_it_log(p, env.rundir, name, NULL);
}

/* what the upstream served, a line per request */
static char *upstream_log(apr_pool_t *p)
{
    return hmb_test_slurp(p, apr_pstrcat(p, env.rundir, "/upstream.log",
                                         NULL), NULL);
}

#define assert_logged(p, text, needle, also) \
    do { \
        if (!hmb_it_line_with((p), (text), (needle), (also))) { \
            fail_msg("no log line with '%s'%s%s", (needle), \
                     (also) ? " and " : "", (also) ? (also) : ""); \
        } \
    } while (0)

/* --- 1. the worked example --------------------------------------------- */

static const char *we_request(apr_pool_t *p, int n, apr_size_t *len)
{
    return hmb_test_slurp(p, apr_psprintf(p, HMB_EXAMPLE("%d.req.xml"), n),
                          len);
}

static const char *we_post(apr_pool_t *p, int n, const char *tag,
                           hmb_http_response_t **rp)
{
    apr_size_t req_len, want_len;
    const char *req = we_request(p, n, &req_len);
    const char *want = hmb_test_slurp(p, apr_psprintf(p,
                                      HMB_EXAMPLE("%d.resp.xml"), n),
                                      &want_len);
    hmb_http_response_t *r = hmb_it_post(p, env.port,
                                         apr_pstrcat(p, "/fsi/api/", tag,
                                                     NULL), NULL, req,
                                         req_len);

    *rp = r;
    return assert_spliced(p, r, want, want_len);
}

static void assert_we_amounts(apr_pool_t *p, const char *info)
{
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");
    assert_str(hmb_it_field(p, info, "psn_part_amt_aft"), "35900.00");
    assert_str(hmb_it_field(p, info, "psn_cash_pay_aft"), "32900.00");
    assert_str(liab(p, info, "inscope", "elig_amt"), "28000.00");
    assert_str(liab(p, info, "inscope", "dedc_amt"), "15000.00");
    assert_str(liab(p, info, "inscope", "pay_prop"), "0.7000");
    assert_str(liab(p, info, "inscope", "pay_amt"), "9100.00");
    assert_str(liab(p, info, "outscope", "elig_amt"), "20000.00");
    assert_str(liab(p, info, "outscope", "dedc_amt"), "15000.00");
    assert_str(liab(p, info, "outscope", "pay_prop"), "0.6000");
    assert_str(liab(p, info, "outscope", "pay_amt"), "3000.00");
    assert_str(insurer_pay(p, info, "PICC"), "4840.00");
    assert_str(insurer_pay(p, info, "CLIC"), "4235.00");
    assert_str(insurer_pay(p, info, "PAIC"), "3025.00");
}

#define WE_PSN "36090000000000000001"

static void keep_we(int n, const hmb_http_response_t *r)
{
    env.we_body[n] = apr_pstrmemdup(env.pool, r->body, r->body_len);
    env.we_len[n] = r->body_len;
}

static void test_worked_example(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r, *again;
    const char *info;

    /* 1: pre-settlement, nothing recorded */
    info = we_post(p, 1, "we-1", &r);
    keep_we(1, r);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "presettled");
    assert_str(hmb_it_field(p, info, "plan_code"), "YCHMB");
    assert_str(hmb_it_field(p, info, "plan_year"), "2024");
    assert_we_amounts(p, info);
    assert_str(totals(p, "YCHMB", "2024", WE_PSN), "");

    /* 2: the settlement */
    info = we_post(p, 2, "we-2", &r);
    keep_we(2, r);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "plan_ver"), "1");
    assert_str(hmb_it_field(p, info, "setl_id"), "S2024050100001");
    assert_str(hmb_it_field(p, info, "mdtrt_id"), "M20240000002");
    assert_non_null(hmb_it_field(p, info, "hmb_setl_id"));
    assert_we_amounts(p, info);
    assert_str(liab(p, info, "inscope", "cum_elig_amt"), "28000.00");
    assert_str(liab(p, info, "outscope", "cum_elig_amt"), "20000.00");
    assert_str(liab(p, info, "inscope", "dedc_left"), "0.00");
    assert_str(liab(p, info, "outscope", "dedc_left"), "0.00");
    assert_str(liab(p, info, "inscope", "cap_left"), "990900.00");
    assert_str(liab(p, info, "outscope", "cap_left"), "997000.00");
    assert_str(totals(p, "YCHMB", "2024", WE_PSN),
               "inscope elig_amt=28000.00 paid_amt=9100.00\n"
               "outscope elig_amt=20000.00 paid_amt=3000.00\n");

    /* 2 again: the same bytes, nothing counted twice */
    (void)we_post(p, 2, "we-2", &again);
    hmb_it_assert_same_bytes(again->body, again->body_len, r->body,
                             r->body_len);
    env.we_dup_body = apr_pstrmemdup(env.pool, again->body,
                                     again->body_len);
    env.we_dup_len = again->body_len;
    assert_str(totals(p, "YCHMB", "2024", WE_PSN),
               "inscope elig_amt=28000.00 paid_amt=9100.00\n"
               "outscope elig_amt=20000.00 paid_amt=3000.00\n");

    /* 3: GBK, all in scope, deductible already met */
    info = we_post(p, 3, "we-3", &r);
    keep_we(3, r);
    assert_str(hmb_http_header(r, "Content-Type"), "text/xml; charset=GBK");
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "7000.00");
    assert_str(liab(p, info, "inscope", "elig_amt"), "10000.00");
    assert_str(liab(p, info, "inscope", "dedc_amt"), "0.00");
    assert_str(liab(p, info, "inscope", "pay_amt"), "7000.00");
    assert_str(liab(p, info, "inscope", "cum_elig_amt"), "38000.00");
    assert_str(liab(p, info, "outscope", "elig_amt"), "0.00");
    assert_str(liab(p, info, "outscope", "pay_amt"), "0.00");
    assert_str(insurer_pay(p, info, "PICC"), "2800.00");
    assert_str(insurer_pay(p, info, "CLIC"), "2450.00");
    assert_str(insurer_pay(p, info, "PAIC"), "1750.00");
    assert_str(totals(p, "YCHMB", "2024", WE_PSN),
               "inscope elig_amt=38000.00 paid_amt=16100.00\n"
               "outscope elig_amt=20000.00 paid_amt=3000.00\n");

    /* 4: cancellation of pair 2 */
    info = we_post(p, 4, "we-4", &r);
    keep_we(4, r);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "reversed");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "-12100.00");
    assert_str(liab(p, info, "inscope", "pay_amt"), "-9100.00");
    assert_str(liab(p, info, "outscope", "pay_amt"), "-3000.00");
    assert_str(insurer_pay(p, info, "PICC"), "-4840.00");
    assert_str(insurer_pay(p, info, "CLIC"), "-4235.00");
    assert_str(insurer_pay(p, info, "PAIC"), "-3025.00");
    assert_str(totals(p, "YCHMB", "2024", WE_PSN),
               "inscope elig_amt=10000.00 paid_amt=7000.00\n"
               "outscope elig_amt=0.00 paid_amt=0.00\n");
}

/* hmbctl settle, on a fresh ledger of its own, gives byte for byte what
 * httpd gave for the same five messages. */
static void test_worked_example_same_as_hmbctl(void **state)
{
    apr_pool_t *p = *state;
    static const int seq[] = { 1, 2, 2, 3, 4 };
    const char *db = apr_pstrcat(p, env.rundir, "/hmbctl-ledger.db", NULL);
    const char *ledger = apr_pstrcat(p, "sqlite3:", db, NULL);
    char *out;
    int i;

    for (i = 1; i <= 4; i++) {
        if (!env.we_body[i]) {
            fail_msg("the worked example through httpd did not complete");
        }
    }
    hmb_it_hmbctl(p, env.rundir, NULL, ledger, 0, "enroll", "--plan",
                  PLAN_2024, HMB_EXAMPLE("enroll.csv"), NULL);
    for (i = 0; i < 5; i++) {
        int n = seq[i];
        const char *want = i == 2 ? env.we_dup_body : env.we_body[n];
        apr_size_t want_len = i == 2 ? env.we_dup_len : env.we_len[n];
        const char *a, *b;

        out = hmb_it_hmbctl(p, env.rundir, NULL, ledger, 0, "settle",
                            "--plan", PLAN_2024, "--request",
                            apr_psprintf(p, HMB_EXAMPLE("%d.req.xml"), n),
                            apr_psprintf(p, HMB_EXAMPLE("%d.resp.xml"), n),
                            NULL);
        a = strstr(out, "<hmbinfo>");
        b = strstr(want, "<hmbinfo>");
        assert_non_null(a);
        assert_non_null(b);
        assert_str(apr_pstrndup(p, a, (apr_size_t)(strstr(a, "</hmbinfo>")
                                                  - a)),
                   apr_pstrndup(p, b, (apr_size_t)(strstr(b, "</hmbinfo>")
                                                  - b)));
        hmb_it_assert_same_bytes(out, strlen(out), want, want_len);
    }
}

/* --- 2 and 5: bytes, lengths, validators, transfer ---------------------- */

#define PAID_12100(p, info) \
    do { \
        assert_str(hmb_it_field((p), (info), "hmb_stas"), "paid"); \
        assert_str(hmb_it_field((p), (info), "hmb_pay"), "12100.00"); \
    } while (0)

/* The upstream's strong ETag: there directly, gone after the splice. */
static void test_strong_etag_dropped(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-ETAG", &len);
    hmb_http_response_t *r;
    const char *info;

    r = hmb_it_settle(p, env.up_port, "direct", "2304", "HMBMOD-ETAG",
                      "36090000000000000102", NULL);
    assert_str(hmb_http_header(r, "ETag"), "\"abc\"");

    r = settle(p, "etag", "2304", "HMBMOD-ETAG", "36090000000000000102");
    info = assert_spliced(p, r, want, len);
    assert_null(hmb_http_header(r, "ETag"));
    PAID_12100(p, info);
}

/* Chunked from the upstream, uneven chunks cutting GBK characters: the
 * client gets one body with a Content-Length. */
static void test_chunked_upstream(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-CHUNKED", &len);
    hmb_http_response_t *r;
    const char *info;

    r = settle(p, "chunked", "2304", "HMBMOD-CHUNKED",
               "36090000000000000103");
    assert_false(r->chunked);
    assert_str(hmb_http_header(r, "Content-Type"), "text/xml; charset=GBK");
    info = assert_spliced(p, r, want, len);
    PAID_12100(p, info);
    assert_non_null(hmb_it_line_with(p, upstream_log(p),
                                     "HMBMOD-CHUNKED 200", " chunked"));
}

/* The peak memory (VmHWM, kB) of each child of the running httpd. */
static apr_hash_t *children_hwm(apr_pool_t *p)
{
    apr_hash_t *h = apr_hash_make(p);
    apr_array_header_t *kids = hmb_it_httpd_children(p, env.rundir);
    int i;

    for (i = 0; i < kids->nelts; i++) {
        const char *pid = apr_ltoa(p, APR_ARRAY_IDX(kids, i, long));
        char path[300], buf[4096], *at;
        FILE *f;
        long hwm = -1;

        snprintf(path, sizeof(path), "/proc/%s/status", pid);
        if (!(f = fopen(path, "r"))) {
            continue;
        }
        buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
        fclose(f);
        if ((at = strstr(buf, "\nVmHWM:"))) {
            hwm = atol(at + 7);
        }
        if (hwm >= 0) {
            apr_hash_set(h, pid, APR_HASH_KEY_STRING,
                         apr_pmemdup(p, &hwm, sizeof(hwm)));
        }
    }
    return h;
}

/* An answer of about 0.2 MB sent a byte per chunk: what the filter holds
 * grows with the bytes, not with the pieces they came in (it used to keep
 * a bucket per byte, some 400 bytes each: 80 MB for this one). */
static void test_tiny_chunks_memory(void **state)
{
    apr_pool_t *p = *state;
    const char *base = fixture(p, "HMBMOD-CHUNKED", NULL);
    const char *end = strstr(base, "</output>");
    apr_array_header_t *parts = apr_array_make(p, 2200, sizeof(char *));
    apr_hash_t *before, *after;
    apr_hash_index_t *hi;
    hmb_http_response_t *r;
    const char *body, *dir = apr_pstrcat(p, env.rundir, "/upstream", NULL);
    long grew = 0;
    int i;

    APR_ARRAY_PUSH(parts, const char *) = apr_pstrmemdup(p, base,
                                                         end - base);
    for (i = 0; i < 800; i++) {
        APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(p,
            "<feedetail><feedetl_sn>%d</feedetl_sn><med_list_codg>"
            "X%07d</med_list_codg><det_item_fee_sumamt>0.00"
            "</det_item_fee_sumamt><fulamt_ownpay_amt>0.00"
            "</fulamt_ownpay_amt><overlmt_amt>0.00</overlmt_amt>"
            "<chrgitm_lv>03</chrgitm_lv><memo>%0150d</memo></feedetail>\n",
            i + 1, i, i);
    }
    APR_ARRAY_PUSH(parts, const char *) = end;
    body = apr_array_pstrcat(p, parts, 0);
    assert_true(strlen(body) > 200000);
    assert_no_error(hmb_it_answer(p, dir, "HMBMOD-TINY", "xml", body,
                                  strlen(body), "chunked\nchunk-bytes 1\n"));

    before = children_hwm(p);
    {
        /* a byte at a time is slow to send: a patient client */
        const char *req = hmb_it_envelope(p, "2304", "HMBMOD-TINY",
                                          "36090000000000000103", NULL);
        hmb_http_conn_t *c = hmb_http_conn_make(p, "127.0.0.1", env.port);

        hmb_http_set_timeout(c, apr_time_from_sec(120));
        assert_no_error(hmb_http_request(c, p, "POST", "/fsi/api/tiny",
                                         hmb_it_xml, req, strlen(req), &r));
        hmb_http_close(c);
    }
    assert_int_equal(r->status, 200);
    assert_spliced(p, r, body, strlen(body));
    after = children_hwm(p);
    for (hi = apr_hash_first(p, after); hi; hi = apr_hash_next(hi)) {
        const void *pid;
        void *v;
        long *was;

        apr_hash_this(hi, &pid, NULL, &v);
        was = apr_hash_get(before, pid, APR_HASH_KEY_STRING);
        if (was && *(long *)v - *was > grew) {
            grew = *(long *)v - *was;
        }
    }
    fprintf(stderr, "(tiny chunks: %lu bytes in 1-byte chunks raised a "
            "child's peak memory by %ld kB)\n", (unsigned long)strlen(body),
            grew);
    /* about 3x the message is what reading, deciding and sending it may
     * cost; a bucket per byte would be some 200 MB */
    assert_true(grew < 8 * 1024);
}

/* A body delimited by the end of the upstream connection. */
static void test_close_delimited_upstream(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-NOLENGTH", &len);
    hmb_http_response_t *r;
    const char *info;

    r = settle(p, "nolength", "2304", "HMBMOD-NOLENGTH",
               "36090000000000000104");
    info = assert_spliced(p, r, want, len);
    PAID_12100(p, info);
}

/* A client that accepts gzip: the upstream (which would compress) is
 * asked in identity, the payout is there; where DEFLATE is configured the
 * client gets it compressed, payout included. */
static void test_gzip_client(void **state)
{
    apr_pool_t *p = *state;
    static const char *const gzip[] = {
        "Content-Type: text/xml; charset=UTF-8", "Accept-Encoding: gzip",
        NULL
    };
    apr_size_t len, plain_len;
    const char *want = fixture(p, "HMBMOD-GZIP", &len);
    const char *req = hmb_it_envelope(p, "2304", "HMBMOD-GZIP",
                                      "36090000000000000105", NULL);
    hmb_http_response_t *r;
    const char *info, *info2, *uplog = NULL;
    char *plain;
    int tries;

    /* the fixture does compress for a client that asks */
    r = hmb_it_post(p, env.up_port, "/fsi/api/direct-gz", gzip, req,
                    strlen(req));
    assert_str(hmb_http_header(r, "Content-Encoding"), "gzip");

    r = hmb_it_post(p, env.port, "/fsi/api/gz-plain", gzip, req, strlen(req));
    assert_null(hmb_http_header(r, "Content-Encoding"));
    info = assert_spliced(p, r, want, len);
    PAID_12100(p, info);

    r = hmb_it_post(p, env.port, "/fsi-gz/api/gz-deflate", gzip, req,
                    strlen(req));
    assert_int_equal(r->status, 200);
    assert_str(hmb_http_header(r, "Content-Encoding"), "gzip");
    assert_length_header(r);
    assert_no_error(hmb_http_gunzip(p, r->body, r->body_len, 1 << 20,
                                    &plain, &plain_len));
    info2 = spliced_in(p, plain, plain_len, want, len);
    /* the same settlement again: the stored result */
    assert_str(info2, info);

    /* the upstream logs a request once it has answered it: the last line
     * may come a moment after the answer */
    for (tries = 0; tries < 100; tries++) {
        uplog = upstream_log(p);
        if (hmb_it_line_with(p, uplog, "/fsi/api/gz-deflate HMBMOD-GZIP",
                             NULL)) {
            break;
        }
        apr_sleep(apr_time_from_msec(20));
    }
    assert_non_null(hmb_it_line_with(p, uplog, "/fsi/api/direct-gz "
                                     "HMBMOD-GZIP", " gzip"));
    assert_non_null(hmb_it_line_with(p, uplog, "/fsi/api/gz-plain "
                                     "HMBMOD-GZIP", NULL));
    assert_null(strstr(hmb_it_line_with(p, uplog, "/fsi/api/gz-plain "
                                        "HMBMOD-GZIP", NULL), " gzip"));
    assert_non_null(hmb_it_line_with(p, uplog, "/fsi/api/gz-deflate "
                                     "HMBMOD-GZIP", NULL));
    assert_null(strstr(hmb_it_line_with(p, uplog, "/fsi/api/gz-deflate "
                                        "HMBMOD-GZIP", NULL), " gzip"));
}

/* gzip of a settlement answer with size bytes of blanks before
 * </output>: well-formed, and over 1000 times smaller than itself. */
static const char *gzip_bomb(apr_pool_t *p, const char *xml, apr_size_t len,
                             apr_size_t size, apr_size_t *out_len)
{
    const char *end = hmb_it_memmem_last(xml, len, "</output>");
    apr_size_t head = (apr_size_t)(end - xml), cap = size / 200 + len + 4096;
    char *blanks = apr_palloc(p, size), *out = apr_palloc(p, cap);
    z_stream zs;
    int rc;

    assert_non_null(end);
    memset(blanks, ' ', size);
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: gzip's wrapper, as Content-Encoding: gzip says */
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    zs.next_in = (Bytef *)xml;
    zs.avail_in = (uInt)head;
    assert_int_equal(deflate(&zs, Z_NO_FLUSH), Z_OK);
    zs.next_in = (Bytef *)blanks;
    zs.avail_in = (uInt)size;
    assert_int_equal(deflate(&zs, Z_NO_FLUSH), Z_OK);
    zs.next_in = (Bytef *)end;
    zs.avail_in = (uInt)(len - head);
    rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    assert_int_equal(rc, Z_STREAM_END);
    *out_len = zs.total_out;
    return out;
}

/* A gzip bomb from the upstream, inflated by mod_deflate before us and
 * stopped by it: the client still gets an HTTP status (mod_proxy's 502),
 * not a connection closed without a word, and nothing is recorded. */
static void test_inflate_bomb_answered(void **state)
{
    apr_pool_t *p = *state;
    static const char opts[] = "header Content-Encoding: gzip\n";
    apr_size_t len, gz_len;
    const char *plain = fixture(p, "HMBMOD-GZIP", &len);
    const char *gz = gzip_bomb(p, plain, len, 6 << 20, &gz_len);
    const char *req = hmb_it_envelope(p, "2304", "HMBMOD-BOMB",
                                      "36090000000000000107", NULL);
    hmb_http_response_t *r;

    assert_no_error(hmb_it_answer(p, apr_pstrcat(p, env.rundir, "/upstream",
                                                 NULL), "HMBMOD-BOMB", "xml",
                                  gz, gz_len, opts));
    r = hmb_it_post(p, env.port, "/fsi-inflate/api/bomb", NULL, req,
                    strlen(req));
    assert_int_equal(r->status, 502);
    assert_null(strstr(r->body, "<hmbinfo>"));
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000107"), "");
}

/* HEAD: headers only, passed as they are, through the proxy and for a
 * settlement message served as a file. */
static void test_head_untouched(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    hmb_http_response_t *r;

    (void)fixture(p, "HMBMOD-NOENV", &len);
    r = hmb_it_request(p, env.port, "HEAD", "/static/settle.xml", NULL, NULL,
                       0);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 0);
    assert_str(hmb_http_header(r, "Content-Length"),
               apr_psprintf(p, "%lu", (unsigned long)len));

    r = hmb_it_request(p, env.port, "HEAD", "/fsi/api/head", NULL, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 0);
    /* the length of the sandbox's "hmb-sandbox ok\n" to a GET */
    assert_str(hmb_http_header(r, "Content-Length"), "15");
}

static void test_infcode_not_zero_untouched(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-INFCODE", &len);
    hmb_http_response_t *r;

    r = settle(p, "infcode", "2304", "HMBMOD-INFCODE",
               "36090000000000000108");
    assert_untouched(r, 200, want, len);
    assert_length_header(r);
    assert_logged(p, read_log(p, "error_log"), "HMB00311", "infcode");
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000108"), "");
}

static void test_http_500_untouched(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-500", &len);
    hmb_http_response_t *r;

    r = settle(p, "http500", "2304", "HMBMOD-500", "36090000000000000108");
    assert_untouched(r, 500, want, len);
}

static void test_non_xml_untouched(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-NONXML", &len);
    hmb_http_response_t *r;

    r = settle(p, "nonxml", "2304", "HMBMOD-NONXML", "36090000000000000108");
    assert_untouched(r, 200, want, len);
    /* JSON types are read since issue 11 (test_json); text/plain is no
     * settlement message's */
    assert_str(hmb_http_header(r, "Content-Type"),
               "text/plain; charset=UTF-8");
}

/* Over HuiminbaoMaxBody (4096 in /fsi-small): with a Content-Length it is
 * passed at once, chunked it is passed once it grows past the limit; both
 * logged. The same message under the default limit is settled. */
static void test_max_body(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, clen;
    const char *want = fixture(p, "HMBMOD-BIG", &len);
    const char *cwant = fixture(p, "HMBMOD-BIGCHUNK", &clen);
    const char *req = hmb_it_envelope(p, "2304", "HMBMOD-BIG",
                                      "36090000000000000106", NULL);
    const char *creq = hmb_it_envelope(p, "2304", "HMBMOD-BIGCHUNK",
                                       "36090000000000000106", NULL);
    hmb_http_response_t *r;
    const char *log, *info;

    assert_true(len > 4096);
    r = hmb_it_post(p, env.port, "/fsi-small/api/big", NULL, req, strlen(req));
    assert_untouched(r, 200, want, len);
    r = hmb_it_post(p, env.port, "/fsi-small/api/bigchunk", NULL, creq,
                    strlen(creq));
    assert_untouched(r, 200, cwant, clen);
    log = read_log(p, "error_log");
    assert_logged(p, log, "HMB00303", "Content-Length 10960");
    assert_logged(p, log, "HMB00315", "4096");
    /* nothing was recorded for it */
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000106"), "");

    r = hmb_it_post(p, env.port, "/fsi/api/big", NULL, req, strlen(req));
    info = assert_spliced(p, r, want, len);
    PAID_12100(p, info);
}

/* A copy of fixture FROM that the upstream answers for msgid TO, with
 * the options in opts (NULL: none). */
static void upstream_answer(apr_pool_t *p, const char *from, const char *to,
                            const char *opts)
{
    apr_size_t len;
    const char *body = fixture(p, from, &len);

    assert_no_error(hmb_it_answer(p, apr_pstrcat(p, env.rundir, "/upstream",
                                                 NULL), to, "xml", body, len,
                                  opts));
}

/* The upstream breaks off a settlement answer midway: mod_proxy ends the
 * body with an error, the client is answered 502 (not the partial body),
 * HMB00313 says so, and nothing is recorded. */
static void test_upstream_broke_off(void **state)
{
    apr_pool_t *p = *state;
    const char *before = totals(p, "YCHMB", "2024", "36090000000000000106");
    hmb_http_response_t *r;

    upstream_answer(p, "HMBMOD-BIG", "HMBMOD-BROKEN", "break-after 2000\n");
    r = hmb_it_settle(p, env.port, "broken", "2304", "HMBMOD-BROKEN",
                      "36090000000000000106", NULL);
    assert_int_equal(r->status, 502);
    assert_null(strstr(r->body, "<hmbinfo>"));
    assert_null(strstr(r->body, "<setlinfo>"));
    assert_logged(p, read_log(p, "error_log"), "HMB00313",
                  "after 2000 bytes: the client is answered HTTP 502, not "
                  "the partial body; nothing is recorded");
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000106"), before);
}

/* A request body over HuiminbaoMaxRequest still reaches the upstream in
 * full, and its answer passes untouched, as docs/directives.md says and
 * HMB00201 now says too (it promised a settlement without the envelope). */
static void test_request_over_max_request(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-BIG", &len);
    const char *env_xml = hmb_it_envelope(p, "2304", "HMBMOD-BIGREQ",
                                          "36090000000000000106", NULL);
    const char *before = totals(p, "YCHMB", "2024", "36090000000000000106");
    apr_int64_t overflow = apr_atoi64(status_value(p, "RequestOverflow"));
    char *pad = apr_palloc(p, 2048 + 1);
    const char *req;
    hmb_http_response_t *r;
    const char *log;

    /* blanks after the root element: still the same envelope */
    memset(pad, ' ', 2048);
    pad[2048] = '\0';
    req = apr_pstrcat(p, env_xml, pad, NULL);
    upstream_answer(p, "HMBMOD-BIG", "HMBMOD-BIGREQ", NULL);
    r = hmb_it_post(p, env.port, "/fsi-smallreq/api/bigreq", NULL, req,
                    strlen(req));
    assert_untouched(r, 200, want, len);
    assert_length_header(r);
    log = read_log(p, "error_log");
    assert_logged(p, log, "HMB00201", "longer than HuiminbaoMaxRequest (1024 "
                  "bytes); its response will pass untouched");
    assert_logged(p, log, "HMB00305", "over HuiminbaoMaxRequest");
    assert_int_equal(apr_atoi64(status_value(p, "RequestOverflow")),
                     overflow + 1);
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000106"), before);
}

/* No request body: the upstream refuses it, and that refusal goes back
 * untouched; a settlement message without any request envelope (a file
 * served by GET) goes untouched and is logged. */
static void test_no_request_body(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-NOENV", &len);
    hmb_http_response_t *direct, *r;

    direct = hmb_it_post(p, env.up_port, "/fsi/api/nobody", NULL, "", 0);
    assert_int_equal(direct->status, 400);
    r = hmb_it_post(p, env.port, "/fsi/api/nobody", NULL, "", 0);
    assert_untouched(r, 400, direct->body, direct->body_len);

    r = hmb_it_get(p, env.port, "/static/settle.xml");
    assert_untouched(r, 200, want, len);
    assert_length_header(r);
    assert_logged(p, read_log(p, "error_log"), "HMB00305", "(0 bytes)");
}

/* An infno that is no settlement (9999): untouched, logged, nothing
 * recorded, although the response itself is a valid settlement. */
static void test_unknown_infno(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want = fixture(p, "HMBMOD-INFNO", &len);
    hmb_http_response_t *r;

    r = settle(p, "infno-9999", "9999", "HMBMOD-INFNO",
               "36090000000000000107");
    assert_untouched(r, 200, want, len);
    assert_length_header(r);
    assert_logged(p, read_log(p, "error_log"), "HMB00311",
                  "infno 9999 is not a settlement");
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000107"), "");
}

/* --- 3. ineligibility ------------------------------------------------- */

static void ineligible(apr_pool_t *p, const char *msgid, const char *infno,
                       const char *psn_no, const char *rea_code,
                       const char *plan_year)
{
    apr_size_t len;
    const char *want = fixture(p, msgid, &len);
    hmb_http_response_t *r;
    const char *info, *t, *line;

    r = settle(p, msgid, infno, msgid, psn_no);
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "ineligible");
    assert_str(hmb_it_field(p, info, "rea_code"), rea_code);
    assert_str(hmb_it_field(p, info, "hmb_pay"), "0.00");
    /* the patient owes what the base settlement left */
    assert_str(hmb_it_field(p, info, "psn_part_amt_aft"), "48000.00");
    assert_str(hmb_it_field(p, info, "psn_cash_pay_aft"), "45000.00");
    assert_non_null(hmb_it_field(p, info, "hmb_memo"));
    if (plan_year) {
        assert_str(hmb_it_field(p, info, "plan_year"), plan_year);
    }
    /* nothing paid to this person; one not enrolled has no totals, and
     * hmbctl says so */
    if (!strcmp(rea_code, "not_enrolled")) {
        t = hmbctl_live(p, 1, "totals", "--plan-code", "YCHMB", "--year",
                        plan_year ? plan_year : "2024", psn_no, NULL);
        assert_non_null(strstr(t, "is not enrolled in plan YCHMB"));
        t = "";
    }
    else {
        t = totals(p, "YCHMB", plan_year ? plan_year : "2024", psn_no);
    }
    for (; (line = strchr(t, '\n')) != NULL; t = line + 1) {
        const char *l = apr_pstrmemdup(p, t, (apr_size_t)(line - t));
        apr_size_t n = strlen(l);
        if (n < 14 || strcmp(l + n - 14, " paid_amt=0.00")) {
            fail_msg("%s was paid: %s", psn_no, l);
        }
    }
}

static void test_ineligible_not_enrolled(void **state)
{
    ineligible(*state, "HMBMOD-NOTENR", "2304", "36090000000000000201",
               "not_enrolled", NULL);
}

static void test_ineligible_basic_suspended(void **state)
{
    ineligible(*state, "HMBMOD-SUSP", "2304", "36090000000000000202",
               "basic_suspended", "2024");
}

/* An ordinary outpatient visit (med_type 11), settled as 2207. */
static void test_ineligible_visit_not_covered(void **state)
{
    ineligible(*state, "HMBMOD-OUTPAT", "2207", "36090000000000000203",
               "visit_not_covered", "2024");
}

/* The 2025 plan takes part only at H9999; this is H36090200001. */
static void test_ineligible_institution_not_covered(void **state)
{
    ineligible(*state, "HMBMOD-INST", "2304", "36090000000000000204",
               "institution_not_covered", "2025");
}

/* setl_time 2023-06-01: no plan loaded covers it. */
static void test_ineligible_outside_period(void **state)
{
    ineligible(*state, "HMBMOD-PERIOD", "2304", "36090000000000000205",
               "outside_period", NULL);
}

/* Enrolled with cover from 2024-07-01, discharged 2024-05-01. */
static void test_ineligible_not_covered_date(void **state)
{
    ineligible(*state, "HMBMOD-COVER", "2304", "36090000000000000206",
               "not_covered_date", "2024");
}

/* --- 4. pre-settlement and the outpatient codes ----------------------- */

#define OP_PSN "36090000000000000301"

/* 2206 / 2207 / 2208 behave as 2303 / 2304 / 2305: the pre-settlement
 * computes and records nothing, the settlement records, the cancellation
 * takes exactly that back. */
static void test_outpatient_codes(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *want, *info;
    hmb_http_response_t *r;

    want = fixture(p, "HMBMOD-OP-2206", &len);
    r = settle(p, "op-2206", "2206", "HMBMOD-OP-2206", OP_PSN);
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "presettled");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");
    assert_str(liab(p, info, "inscope", "pay_amt"), "9100.00");
    assert_str(liab(p, info, "outscope", "pay_amt"), "3000.00");
    assert_str(totals(p, "YCHMB", "2024", OP_PSN), "");
    assert_str(ledger_sql(p, "SELECT COUNT(*) FROM hmb_claim WHERE psn_no = '"
                          OP_PSN "'"), "0");

    /* the same pre-settlement again still sees an empty year */
    r = settle(p, "op-2206", "2206", "HMBMOD-OP-2206", OP_PSN);
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");

    want = fixture(p, "HMBMOD-OP-2207", &len);
    r = settle(p, "op-2207", "2207", "HMBMOD-OP-2207", OP_PSN);
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "12100.00");
    assert_str(hmb_it_field(p, info, "setl_id"), "SMOD00301");
    assert_str(totals(p, "YCHMB", "2024", OP_PSN),
               "inscope elig_amt=28000.00 paid_amt=9100.00\n"
               "outscope elig_amt=20000.00 paid_amt=3000.00\n");

    want = fixture(p, "HMBMOD-OP-2208", &len);
    r = hmb_it_settle(p, env.port, "op-2208", "2208", "HMBMOD-OP-2208", OP_PSN,
                      "SMOD00301");
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "reversed");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "-12100.00");
    assert_str(totals(p, "YCHMB", "2024", OP_PSN),
               "inscope elig_amt=0.00 paid_amt=0.00\n"
               "outscope elig_amt=0.00 paid_amt=0.00\n");
    assert_str(ledger_sql(p, "SELECT COUNT(*) FROM hmb_claim WHERE psn_no = '"
                          OP_PSN "'"), "2");
}

/* --- 6. ledger unavailable: deferred, spooled, replayed once ---------- */

static const char *replay(apr_pool_t *p)
{
    return hmbctl_live(p, 0, "replay", "--spool",
                       apr_pstrcat(p, env.rundir, "/spool", NULL),
                       "--plan", PLAN_2024, "--plan", PLAN_2025,
                       "--plan", env.grace_plan, "--plan", PLAN_LOAD, NULL);
}

static void test_ledger_unavailable_deferred_then_replayed(void **state)
{
    apr_pool_t *p = *state;
    const char *spool = apr_pstrcat(p, env.rundir, "/spool", NULL);
    static const char *const sends[] = {
        "HMBMOD-DEF1", "36090000000000000401",
        "HMBMOD-DEF2", "36090000000000000402",
        "HMBMOD-DEF1", "36090000000000000401",  /* the HIS tries again */
    };
    static const char *const two =
        "inscope elig_amt=28000.00 paid_amt=9100.00\n"
        "outscope elig_amt=20000.00 paid_amt=3000.00\n";
    apr_array_header_t *entries;
    const char *out, *info;
    int i, k, found = 0;

    assert_int_equal(hmb_it_files(p, spool, ".spool")->nelts, 0);
    for (i = 0; i < 3; i++) {
        apr_size_t len;
        const char *msgid = sends[2 * i];
        const char *want = fixture(p, msgid, &len);
        hmb_http_response_t *r = hmb_it_settle(p, env.port_noledger,
                                               apr_psprintf(p, "def-%d", i),
                                               "2304", msgid,
                                               sends[2 * i + 1], NULL);
        info = assert_spliced(p, r, want, len);
        assert_str(hmb_it_field(p, info, "hmb_stas"), "deferred");
        assert_str(hmb_it_field(p, info, "hmb_pay"), "0.00");
        assert_str(hmb_it_field(p, info, "psn_part_amt_aft"), "48000.00");
        assert_str(hmb_it_field(p, info, "psn_cash_pay_aft"), "45000.00");
    }
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000401"), "");

    /* each entry: header line, the request bytes, the upstream's bytes */
    entries = hmb_it_files(p, spool, ".spool");
    assert_int_equal(entries->nelts, 3);
    for (k = 0; k < entries->nelts; k++) {
        apr_size_t len, flen;
        const char *text = hmb_test_slurp(p, APR_ARRAY_IDX(entries, k,
                                                           const char *),
                                          &len);
        const char *f = fixture(p, "HMBMOD-DEF1", &flen);
        const char *req = hmb_it_envelope(p, "2304", "HMBMOD-DEF1",
                                          "36090000000000000401", NULL);
        /* the lengths, then the charsets of the two Content-Types */
        const char *head = apr_psprintf(p, "HMBSPOOL 1 %lu %lu ",
                                        (unsigned long)strlen(req),
                                        (unsigned long)flen);
        const char *nl = memchr(text, '\n', len);
        const char *body = nl ? nl + 1 : text + len;
        apr_size_t blen = (apr_size_t)(text + len - body);

        assert_true(!strncmp(text, "HMBSPOOL 1 ", 11));
        if (!strncmp(text, head, strlen(head))
            && blen == strlen(req) + flen
            && !memcmp(body, req, strlen(req))
            && !memcmp(body + strlen(req), f, flen)) {
            found++;
        }
    }
    assert_int_equal(found, 2);
    assert_logged(p, read_log(p, "error_log"), "HMB00309",
                  "setl_id=SMOD00402");

    out = replay(p);
    assert_non_null(strstr(out, "replayed 3, not settleable 0, failed 0"));
    assert_non_null(hmb_it_line_with(p, out, "SMOD00401 paid 12100.00", NULL));
    assert_non_null(hmb_it_line_with(p, out, "SMOD00402 paid 12100.00", NULL));
    assert_non_null(hmb_it_line_with(p, out, "SMOD00401 paid 12100.00",
                                     "(already recorded)"));
    assert_int_equal(hmb_it_files(p, spool, ".spool")->nelts, 0);
    assert_int_equal(hmb_it_files(p, apr_pstrcat(p, spool, "/done",
                                                 NULL), ".spool")->nelts, 3);

    /* nothing left, nothing new */
    out = replay(p);
    assert_non_null(strstr(out, "replayed 0, not settleable 0, failed 0"));
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000401"), two);
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000402"), two);
    assert_str(ledger_sql(p, "SELECT COUNT(*) FROM hmb_claim WHERE setl_id "
                          "IN ('SMOD00401', 'SMOD00402')"), "2");

    /* once the HIS reaches a server with a ledger: the stored result */
    {
        apr_size_t len;
        const char *want = fixture(p, "HMBMOD-DEF1", &len);
        hmb_http_response_t *r = settle(p, "def-after", "2304",
                                        "HMBMOD-DEF1",
                                        "36090000000000000401");
        info = assert_spliced(p, r, want, len);
        PAID_12100(p, info);
    }
    assert_str(totals(p, "YCHMB", "2024", "36090000000000000401"), two);
}

/* --- 7. a new plan by graceful restart; a bad plan ---------------------- */

static void test_graceful_restart_new_plan(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len1, len2;
    const char *want1 = fixture(p, "HMBMOD-GRACE1", &len1);
    const char *want2 = fixture(p, "HMBMOD-GRACE2", &len2);
    const char *info, *since, *messages;
    hmb_http_response_t *r;
    char *plan;
    apr_size_t plan_len;
    int probes = 0;

    r = settle(p, "grace-1", "2304", "HMBMOD-GRACE1", "36090000000000000501");
    info = assert_spliced(p, r, want1, len1);
    assert_str(hmb_it_field(p, info, "plan_code"), "GRHMB");
    assert_str(hmb_it_field(p, info, "plan_ver"), "1");
    PAID_12100(p, info);
    since = status_value(p, "CountersSince");
    messages = status_value(p, "Messages");

    plan = hmb_test_slurp(p, PLAN_GRACE2, &plan_len);
    assert_no_error(hmb_it_write_file(p, env.grace_plan, plan, plan_len));
    assert_no_error(hmb_it_harness(p, "graceful", env.rundir, 0, NULL,
                                   apr_time_from_sec(30)));

    /* Children of the old generation may still take a connection for a
     * moment: ask with pre-settlements (which record nothing) until the
     * new plan answers, then settle. */
    do {
        r = settle(p, "grace-probe", "2303", "HMBMOD-GRACE2",
                   "36090000000000000502");
        info = assert_spliced(p, r, want2, len2);
        if (!strcmp(hmb_it_field(p, info, "plan_ver"), "2")) {
            break;
        }
        apr_sleep(apr_time_from_msec(100));
    } while (++probes < 50);
    if (probes) {
        fprintf(stderr, "(%d pre-settlements answered by the old plan after "
                "the graceful restart)\n", probes);
    }

    r = settle(p, "grace-2", "2304", "HMBMOD-GRACE2", "36090000000000000502");
    info = assert_spliced(p, r, want2, len2);
    assert_str(hmb_it_field(p, info, "hmb_stas"), "paid");
    assert_str(hmb_it_field(p, info, "plan_code"), "GRHMB");
    assert_str(hmb_it_field(p, info, "plan_ver"), "2");
    /* in scope (28000.00 - 15000.00) x 0.80 + out of scope 3000.00 */
    assert_str(liab(p, info, "inscope", "pay_prop"), "0.8000");
    assert_str(liab(p, info, "inscope", "pay_amt"), "10400.00");
    assert_str(liab(p, info, "outscope", "pay_amt"), "3000.00");
    assert_str(hmb_it_field(p, info, "hmb_pay"), "13400.00");
    assert_str(ledger_sql(p, "SELECT plan_ver FROM hmb_claim WHERE setl_id = "
                          "'SMOD00502'"), "2");
    assert_str(ledger_sql(p, "SELECT plan_ver FROM hmb_claim WHERE setl_id = "
                          "'SMOD00501'"), "1");

    /* the counters live on across the restart */
    assert_str(status_value(p, "CountersSince"), since);
    assert_true(apr_atoi64(status_value(p, "Messages"))
                > apr_atoi64(messages));
}

static int configtest(apr_pool_t *p, char **out)
{
    return hmb_it_harness_output(p, env.rundir, "configtest",
                                 apr_pstrcat(p, env.rundir, "/httpd.conf",
                                             NULL), out);
}

/* A broken plan: configtest names the file, the line and the reason; the
 * running server goes on with what it has. */
static void test_bad_plan_fails_configtest(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, blen, glen;
    char *bad = hmb_test_slurp(p, PLAN_BAD, &blen);
    char *good = hmb_test_slurp(p, PLAN_GRACE2, &glen);
    const char *want = fixture(p, "HMBMOD-GRACE2", &len), *info;
    hmb_http_response_t *r;
    char *out;
    int rc;

    assert_no_error(hmb_it_write_file(p, env.grace_plan, bad, blen));
    rc = configtest(p, &out);
    assert_no_error(hmb_it_write_file(p, env.grace_plan, good, glen));
    if (rc == 0) {
        fail_msg("apache2 -t accepted a bad plan: %s", out);
    }
    assert_non_null(strstr(out, apr_pstrcat(p, env.grace_plan, ":14:",
                                            NULL)));
    assert_non_null(strstr(out, "'ratio'"));
    assert_non_null(strstr(out, "1.70"));

    assert_int_equal(configtest(p, &out), 0);
    assert_non_null(strstr(out, "Syntax OK"));

    r = settle(p, "grace-after-t", "2303", "HMBMOD-GRACE2",
               "36090000000000000502");
    info = assert_spliced(p, r, want, len);
    assert_str(hmb_it_field(p, info, "plan_ver"), "2");
}

/* --- 8. concurrency ----------------------------------------------------- */

enum { LOAD_CLIENTS = 16, LOAD_ROUNDS = 25, LOAD_PERSONS = 4,
       LOAD_N = LOAD_CLIENTS * LOAD_ROUNDS };

typedef struct {
    int s;                      /* which settlement */
    int status;
    int length_ok;
    const char *stas;
    apr_int64_t pay;
    int pay_ok;
    const char *info;
} load_result_t;

typedef struct {
    int t;
    apr_pool_t *pool;           /* results live here; freed by the test */
    load_result_t res[LOAD_ROUNDS];
    int done;
    int retries;
    char why[256];
} load_job_t;

/* Which settlement client t sends in round i. Every fifth round an odd
 * client sends what its even twin sends in the same round (two children
 * race on one setl_id); every eighth round a client repeats its own
 * earlier one. */
static int load_settlement(int t, int i)
{
    if (i % 5 == 4 && (t & 1)) {
        return (t - 1) * LOAD_ROUNDS + i;
    }
    if (i % 8 == 7) {
        return t * LOAD_ROUNDS + i - 7;
    }
    return t * LOAD_ROUNDS + i;
}

static const char *money(apr_pool_t *p, apr_int64_t fen)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%02d", fen / 100,
                        (int)(fen % 100));
}

/* Amounts are a function of the settlement alone, so a repeated one is
 * the same message. */
static const char *load_request(apr_pool_t *p, int t, int i, int s)
{
    apr_int64_t part = 100000 + (apr_int64_t)((s * 37) % 41) * 5000;
    apr_int64_t own = (apr_int64_t)((s * 11) % 7) * 10000;

    return apr_psprintf(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<request><infno>2304</infno><msgid>LOAD-%02d-%02d</msgid>"
        "<fixmedins_code>H36090200001</fixmedins_code>"
        "<inf_time>2024-05-01 10:00:00</inf_time>"
        "<input><data><psn_no>360900000000000006%02d</psn_no>"
        "<mdtrt_id>MLD%04d</mdtrt_id><setl_id>SLD%04d</setl_id>"
        "<psn_part_amt>%s</psn_part_amt>"
        "<fulamt_ownpay_amt>%s</fulamt_ownpay_amt>"
        "<psn_cash_pay>%s</psn_cash_pay></data></input></request>",
        t, i, 1 + s % LOAD_PERSONS, s, s, money(p, part), money(p, own),
        money(p, part));
}

static void *APR_THREAD_FUNC load_worker(apr_thread_t *thd, void *data)
{
    load_job_t *job = data;
    hmb_http_conn_t *c = hmb_http_conn_make(job->pool, "127.0.0.1",
                                            env.port);
    int i;

    hmb_http_set_retry_stale(c, 1);
    for (i = 0; i < LOAD_ROUNDS; i++) {
        load_result_t *res = &job->res[i];
        hmb_http_response_t *r;
        const char *req, *why, *s, *e, *cl;

        res->s = load_settlement(job->t, i);
        req = load_request(job->pool, job->t, i, res->s);
        why = hmb_http_request(c, job->pool, "POST",
                               apr_psprintf(job->pool, "/load/c%02d",
                                            job->t),
                               hmb_it_xml, req, strlen(req), &r);
        if (why) {
            apr_cpystrn(job->why, why, sizeof(job->why));
            break;
        }
        res->status = r->status;
        cl = hmb_http_header(r, "Content-Length");
        res->length_ok = cl && apr_atoi64(cl) == (apr_int64_t)r->body_len;
        s = strstr(r->body, "<hmbinfo>");
        e = s ? strstr(s, "</hmbinfo>") : NULL;
        if (e) {
            const char *a, *b;
            res->info = apr_pstrmemdup(job->pool, s, (apr_size_t)(e - s));
            if ((a = strstr(res->info, "<hmb_stas>")) != NULL
                && (b = strstr(a, "</hmb_stas>")) != NULL) {
                res->stas = apr_pstrmemdup(job->pool, a + 10,
                                           (apr_size_t)(b - a - 10));
            }
            if ((a = strstr(res->info, "<hmb_pay>")) != NULL
                && (b = strstr(a, "</hmb_pay>")) != NULL) {
                res->pay_ok = parse_fen(apr_pstrmemdup(job->pool, a + 9,
                                        (apr_size_t)(b - a - 9)), &res->pay);
            }
        }
        job->done++;
    }
    job->retries = hmb_http_retries(c);
    hmb_http_close(c);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

static apr_int64_t totals_paid(apr_pool_t *p, const char *text,
                               const char *liab_code)
{
    const char *line = hmb_it_line_with(p, text, apr_pstrcat(p, liab_code,
                                                      " elig_amt=", NULL),
                                        NULL);
    const char *v;
    apr_int64_t fen;

    if (!line || !(v = strstr(line, "paid_amt="))
        || !parse_fen(v + 9, &fen)) {
        fail_msg("no %s paid_amt in totals: %s", liab_code, text);
    }
    return fen;
}

/* 16 clients x 25 settlements for 4 persons through the event MPM (two
 * or more children of 16 threads), with duplicates racing each other:
 * afterwards each person's ledger totals are the sum of the distinct
 * payouts returned, no cap is exceeded and every setl_id is counted
 * once. */
static void test_concurrent_settlements(void **state)
{
    apr_pool_t *p = *state;
    apr_thread_t *thd[LOAD_CLIENTS];
    load_job_t *jobs = apr_pcalloc(p, sizeof(load_job_t) * LOAD_CLIENTS);
    const char *first[LOAD_N];
    apr_int64_t sum[LOAD_PERSONS];
    apr_time_t started, took;
    int i, t, distinct = 0, answered = 0, retries = 0, dups = 0;
    const char *pids, *s;
    apr_hash_t *children = apr_hash_make(p);

    memset(first, 0, sizeof(first));
    memset(sum, 0, sizeof(sum));
    started = apr_time_now();
    for (t = 0; t < LOAD_CLIENTS; t++) {
        jobs[t].t = t;
        apr_pool_create_unmanaged_ex(&jobs[t].pool, NULL, NULL);
        assert_int_equal(apr_thread_create(&thd[t], NULL, load_worker,
                                           &jobs[t], p), APR_SUCCESS);
    }
    for (t = 0; t < LOAD_CLIENTS; t++) {
        apr_status_t rv;
        apr_thread_join(&rv, thd[t]);
    }
    took = apr_time_now() - started;

    for (t = 0; t < LOAD_CLIENTS; t++) {
        load_job_t *job = &jobs[t];
        answered += job->done;
        retries += job->retries;
        if (job->done < LOAD_ROUNDS) {
            fprintf(stderr, "client %d after %d answers: %s\n", t, job->done,
                    job->why);
        }
        for (i = 0; i < job->done; i++) {
            load_result_t *res = &job->res[i];
            if (res->status != 200 || !res->length_ok || !res->info
                || !res->stas || strcmp(res->stas, "paid") || !res->pay_ok) {
                fail_msg("client %d round %d (settlement %d): status %d, "
                         "length %s, hmb_stas %s", t, i, res->s,
                         res->status, res->length_ok ? "ok" : "wrong",
                         res->stas ? res->stas : "(none)");
            }
            if (!first[res->s]) {
                first[res->s] = res->info;
                distinct++;
                sum[res->s % LOAD_PERSONS] += res->pay;
            }
            else {
                /* a repeat returns the stored result */
                assert_str(res->info, first[res->s]);
                dups++;
            }
        }
    }
    assert_int_equal(answered, LOAD_N);
    /* even clients 22 distinct each, odd ones 17 */
    assert_int_equal(distinct, 8 * 22 + 8 * 17);

    for (i = 0; i < LOAD_PERSONS; i++) {
        const char *psn = apr_psprintf(p, "360900000000000006%02d", i + 1);
        const char *text = totals(p, "LDHMB", "2024", psn);
        apr_int64_t in = totals_paid(p, text, "inscope");
        apr_int64_t out = totals_paid(p, text, "outscope");

        assert_true(in <= 800000);
        assert_true(out <= 300000);
        assert_int_equal(in + out, sum[i]);
        /* demand is far above the caps: the plan-wide cap is reached */
        assert_int_equal(sum[i], 1000000);
    }
    assert_str(ledger_sql(p, "SELECT COUNT(*) || ' ' || COUNT(DISTINCT "
                          "setl_id) || ' ' || SUM(hmb_pay) FROM hmb_claim "
                          "WHERE plan_code = 'LDHMB'"),
               apr_psprintf(p, "%d %d %d", distinct, distinct, 4000000));
    assert_str(ledger_sql(p, "SELECT COUNT(*) FROM hmb_total t WHERE "
                          "plan_code = 'LDHMB' AND paid_amt != (SELECT "
                          "SUM(l.pay_amt) FROM hmb_claim_liab l JOIN "
                          "hmb_claim c USING (hmb_setl_id) WHERE c.psn_no "
                          "= t.psn_no AND c.plan_code = 'LDHMB' AND "
                          "l.liab_code = t.liab_code)"), "0");

    /* which children served */
    pids = read_log(p, "pid_log");
    for (s = pids; (s = strstr(s, "\"POST /load/")) != NULL; s++) {
        const char *b = s;
        while (b > pids && b[-1] != '\n') {
            b--;
        }
        apr_hash_set(children, apr_pstrmemdup(p, b, (apr_size_t)(s - b)),
                     APR_HASH_KEY_STRING, "");
    }
    fprintf(stderr, "(concurrency: %d clients x %d settlements, %d distinct, "
            "%d repeats, in %" APR_TIME_T_FMT " ms = %.0f/s, %u children "
            "served, %d resent after an idle close)\n", LOAD_CLIENTS,
            LOAD_ROUNDS, distinct, dups, apr_time_as_msec(took),
            LOAD_N / ((double)took / APR_USEC_PER_SEC),
            apr_hash_count(children), retries);
    assert_true(apr_hash_count(children) >= 2);

    for (t = 0; t < LOAD_CLIENTS; t++) {
        apr_pool_destroy(jobs[t].pool);
    }
}

/* --- 9 and logs --------------------------------------------------------- */

/* One info line per decision, psn_no masked; no name, no certificate
 * number, no full psn_no anywhere in the error log. */
static void test_decision_log_lines(void **state)
{
    apr_pool_t *p = *state;
    char *log = read_log(p, "error_log");
    const char *line;

    line = hmb_it_line_with(p, log, "HMB00307", "setl_id=SMOD00102 ");
    assert_non_null(line);
    assert_non_null(strstr(line, "[huiminbao:info]"));
    assert_non_null(strstr(line, " psn_no=3609**************02 "));
    assert_non_null(strstr(line, " hmb_stas=paid hmb_pay=12100.00 "));
    assert_non_null(strstr(line, "fixmedins_code=H36090200001"));
    line = hmb_it_line_with(p, log, "HMB00307", "setl_id=S2024050100001 ");
    assert_non_null(line);
    assert_non_null(hmb_it_line_with(p, log, "HMB00307",
                                     "setl_id=S2024050100001 fixmedins_code="
                                     "H36090200001 psn_no="
                                     "3609**************01 hmb_stas=paid "
                                     "hmb_pay=12100.00 hmb_setl_id="));
    assert_non_null(hmb_it_line_with(p, log, "HMB00307", " duplicate"));
    assert_non_null(hmb_it_line_with(p, log, "HMB00307",
                                     "hmb_stas=ineligible hmb_pay=0.00"));

    assert_null(strstr(log, "张三"));
    assert_null(strstr(log, "360902196001010011"));
    assert_null(strstr(log, "36090000000000000"));
}

static void assert_access(apr_pool_t *p, const char *log, const char *path,
                          const char *tail)
{
    const char *line = hmb_it_line_with(p, log, apr_pstrcat(p, "\"", path,
                                                     " HTTP/1.1\"", NULL),
                                        NULL);

    if (!line) {
        fail_msg("no access log line for %s", path);
    }
    if (strlen(line) < strlen(tail)
        || strcmp(line + strlen(line) - strlen(tail), tail)) {
        fail_msg("access log for %s: '%s', want it to end with '%s'", path,
                 line, tail);
    }
}

static void test_access_log_fields(void **state)
{
    apr_pool_t *p = *state;
    char *log = read_log(p, "access_log");

    assert_access(p, log, "POST /fsi/api/we-1",
                  " stas=presettled pay=12100.00");
    assert_access(p, log, "POST /fsi/api/we-2", " stas=paid pay=12100.00");
    assert_access(p, log, "POST /fsi/api/we-3", " stas=paid pay=7000.00");
    assert_access(p, log, "POST /fsi/api/we-4",
                  " stas=reversed pay=-12100.00");
    assert_access(p, log, "POST /fsi/api/HMBMOD-SUSP",
                  " stas=ineligible pay=0.00");
    assert_access(p, log, "POST /fsi/api/def-0", " stas=deferred pay=0.00");
    assert_access(p, log, "POST /fsi/api/infcode", " stas=pass pay=-");
    assert_access(p, log, "POST /fsi/api/infno-9999", " stas=pass pay=-");
    /* stood aside: neither is set */
    assert_access(p, log, "POST /fsi/api/http500", " stas=- pay=-");
    assert_access(p, log, "POST /fsi/api/nonxml", " stas=- pay=-");
    assert_access(p, log, "POST /fsi-small/api/big", " stas=- pay=-");
    assert_access(p, log, "HEAD /static/settle.xml", " stas=- pay=-");
}

/* The shared counters add up, over all children. */
static void test_status_counters(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t messages = apr_atoi64(status_value(p, "Messages"));
    apr_int64_t spliced = apr_atoi64(status_value(p, "Spliced"));
    apr_int64_t deferred = apr_atoi64(status_value(p, "Deferred"));
    apr_int64_t passed = apr_atoi64(status_value(p, "Passed"));
    apr_int64_t failures = apr_atoi64(status_value(p, "SpoolFailures"));

    assert_int_equal(messages, spliced + deferred + passed + failures);
    assert_int_equal(deferred, 3);
    assert_int_equal(failures, 0);
    assert_int_equal(apr_atoi64(status_value(p, "TooLarge")), 2);
    assert_int_equal(apr_atoi64(status_value(p, "StasIneligible")), 6);
    assert_int_equal(apr_atoi64(status_value(p, "StasReversed")), 2);
    assert_str(status_value(p, "SpoolPending"), "0");
    assert_true(spliced >= LOAD_N + 20);
}

/* Every [error] or worse line in the error log is one provoked on
 * purpose: mod_dbd failing to open the unopenable ledger of the second
 * virtual host (at each child start and at each request there), and
 * mod_proxy_http on the upstream that broke off (test_upstream_broke_off). */
static void test_error_log_clean(void **state)
{
    apr_pool_t *p = *state;
    static const char *const provoked[] = {
        "[dbd:",
        "AH00629: Can't connect to sqlite3: unable to open database file",
        "[dbd:", "AH00633: failed to initialise",
        "[dbd:", "AH00636: child init failed!",
        "[proxy_http:", "AH01110: error reading response",
        NULL
    };
    char *out, *line, *last;
    int rc = hmb_it_harness_output(p, env.rundir, "check-log", NULL, &out);
    int expected = 0;

    for (line = apr_strtok(out, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        int k, ok = 0;
        for (k = 0; provoked[k]; k += 2) {
            if (strstr(line, provoked[k + 1]) && strstr(line, provoked[k])) {
                ok = 1;
            }
        }
        if (!ok) {
            fail_msg("unexpected error-log line: %s", line);
        }
        expected++;
    }
    /* check-log found the provoked ones: the check itself works */
    assert_int_equal(rc, 1);
    assert_true(expected >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_worked_example),
        HMB_IT_TEST(test_worked_example_same_as_hmbctl),
        HMB_IT_TEST(test_strong_etag_dropped),
        HMB_IT_TEST(test_chunked_upstream),
        HMB_IT_TEST(test_tiny_chunks_memory),
        HMB_IT_TEST(test_close_delimited_upstream),
        HMB_IT_TEST(test_gzip_client),
        HMB_IT_TEST(test_inflate_bomb_answered),
        HMB_IT_TEST(test_head_untouched),
        HMB_IT_TEST(test_infcode_not_zero_untouched),
        HMB_IT_TEST(test_http_500_untouched),
        HMB_IT_TEST(test_non_xml_untouched),
        HMB_IT_TEST(test_max_body),
        HMB_IT_TEST(test_upstream_broke_off),
        HMB_IT_TEST(test_request_over_max_request),
        HMB_IT_TEST(test_no_request_body),
        HMB_IT_TEST(test_unknown_infno),
        HMB_IT_TEST(test_ineligible_not_enrolled),
        HMB_IT_TEST(test_ineligible_basic_suspended),
        HMB_IT_TEST(test_ineligible_visit_not_covered),
        HMB_IT_TEST(test_ineligible_institution_not_covered),
        HMB_IT_TEST(test_ineligible_outside_period),
        HMB_IT_TEST(test_ineligible_not_covered_date),
        HMB_IT_TEST(test_outpatient_codes),
        HMB_IT_TEST(test_ledger_unavailable_deferred_then_replayed),
        /* before the graceful restart, which leaves a single child of
         * the new generation for a while */
        HMB_IT_TEST(test_concurrent_settlements),
        HMB_IT_TEST(test_graceful_restart_new_plan),
        HMB_IT_TEST(test_bad_plan_fails_configtest),
        HMB_IT_TEST(test_decision_log_lines),
        HMB_IT_TEST(test_access_log_fields),
        HMB_IT_TEST(test_status_counters),
        HMB_IT_TEST(test_error_log_clean),
    };

    return hmb_it_main("integration: mod_huiminbao in apache2", tests,
                       group_setup, hmb_it_group_teardown) ? 1 : 0;
}
