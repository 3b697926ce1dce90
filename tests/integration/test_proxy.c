/* Integration: the test infrastructure itself, without mod_huiminbao.
 *
 * Two hmb-sandbox servers (the fixture one and the template one) behind
 * Debian's apache2 started by harness.sh with plain ProxyPass locations.
 * Everything the module's own integration tests will rely on is checked
 * here: bodies come back byte-identical, chunked and gzip answers pass,
 * error statuses pass, keep-alive is reused, children run as www-data, and
 * everything stops at the end.
 */
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"

#include <apr_thread_proc.h>

#define UPSTREAM_DIR  HMB_FIXTURE("upstream")
#define LOAD_DIR      HMB_FIXTURE("upstream-load")

/* the worked example's request msgids, pair n = 1..4 */
#define MSGID(n)      "H3609020000120240501100000000" #n
#define MSGID_FMT     "H3609020000120240501100000000%d"

typedef struct {
    apr_pool_t *pool;
    const char *rundir;
    apr_port_t httpd_port;
    apr_port_t up_port;
    apr_port_t load_port;
} proxy_env_t;

static proxy_env_t env;

/* --- setup and teardown ------------------------------------------------- */

static int group_setup(void **state)
{
    apr_pool_t *p;
    const char *why, *conf;

    (void)state;
    if (hmb_it_group_begin("proxy", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    why = hmb_it_free_ports(p, &env.up_port, &env.load_port, &env.httpd_port,
                            NULL);
    if (!why) {
        why = hmb_it_start_upstream(p, env.rundir, "upstream", env.up_port,
                                    UPSTREAM_DIR, NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, env.rundir, "load", env.load_port,
                                    LOAD_DIR, NULL);
    }
    if (!why) {
        conf = apr_psprintf(p,
            "ProxyPass \"/fsi/api\" \"http://127.0.0.1:%d/fsi/api\"\n"
            "ProxyPass \"/load\" \"http://127.0.0.1:%d/load\"\n",
            (int)env.up_port, (int)env.load_port);
        why = hmb_it_start_httpd(p, env.rundir, env.httpd_port, "proxy.conf",
                                 conf);
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- helpers ------------------------------------------------------------ */

static char *fixture(apr_pool_t *p, const char *name, apr_size_t *len)
{
    return hmb_test_slurp(p, apr_pstrcat(p, UPSTREAM_DIR "/", name, NULL),
                          len);
}

static char *example_request(apr_pool_t *p, int n, apr_size_t *len)
{
    return hmb_test_slurp(p, apr_psprintf(p, HMB_EXAMPLE("%d.req.xml"), n),
                          len);
}

static const char *msgid_body(apr_pool_t *p, const char *msgid)
{
    return apr_psprintf(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                        "<request><infno>2304</infno><msgid>%s</msgid>"
                        "</request>", msgid);
}

static hmb_http_response_t *post(apr_pool_t *p, hmb_http_conn_t *c,
                                 const char *path, const char *body,
                                 apr_size_t len, const char *const *headers)
{
    hmb_http_response_t *r = NULL;

    assert_no_error(hmb_http_request(c, p, "POST", path,
                                     headers ? headers : hmb_it_xml, body,
                                     len, &r));
    return r;
}

/* The request for msgid POSTed to /fsi/api on port, with headers (or
 * none); the answer. */
static hmb_http_response_t *ask(apr_pool_t *p, apr_port_t port,
                                const char *msgid,
                                const char *const *headers)
{
    const char *req = msgid_body(p, msgid);

    return hmb_it_request(p, port, "POST", "/fsi/api", headers, req,
                          strlen(req));
}

/* Worked-example request n POSTed to /fsi/api on port, with headers (or
 * none): answered 200, with the bytes of its fixture. */
static void example_passed_on(apr_pool_t *p, apr_port_t port, int n,
                              const char *const *headers)
{
    apr_size_t req_len, want_len;
    char *req = example_request(p, n, &req_len);
    char *want = fixture(p, apr_psprintf(p, MSGID_FMT ".xml", n), &want_len);
    hmb_http_response_t *r;

    r = hmb_it_request(p, port, "POST", "/fsi/api", headers, req, req_len);
    assert_int_equal(r->status, 200);
    hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
}

/* ask, and the answer must be status with the bytes of the fixture
 * MSGID.xml. */
static hmb_http_response_t *passed_on(apr_pool_t *p, apr_port_t port,
                                      const char *msgid,
                                      const char *const *headers, int status)
{
    apr_size_t want_len;
    char *want = fixture(p, apr_pstrcat(p, msgid, ".xml", NULL), &want_len);
    hmb_http_response_t *r = ask(p, port, msgid, headers);

    assert_int_equal(r->status, status);
    hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
    return r;
}

/* --- tests -------------------------------------------------------------- */

/* The four worked-example requests through httpd: each answer is the fixture
 * file byte for byte, with the charset its XML declaration names. */
static void test_worked_example_bodies_identical(void **state)
{
    apr_pool_t *p = *state;
    static const char *const charset[] = {
        NULL, "text/xml; charset=UTF-8", "text/xml; charset=UTF-8",
        "text/xml; charset=GBK", "text/xml; charset=UTF-8"
    };
    hmb_http_conn_t *c = hmb_http_conn_make(p, "127.0.0.1", env.httpd_port);
    int n;

    for (n = 1; n <= 4; n++) {
        apr_size_t req_len, want_len;
        char *req = example_request(p, n, &req_len);
        char *want = fixture(p, apr_psprintf(p, MSGID_FMT ".xml", n),
                             &want_len);
        hmb_http_response_t *r;

        r = post(p, c, "/fsi/api", req, req_len, NULL);
        assert_int_equal(r->status, 200);
        assert_string_equal(hmb_http_header(r, "Content-Type"), charset[n]);
        hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
    }
}

/* Chunked from the upstream (uneven chunks, GBK cut mid-character) arrives
 * intact, directly and through httpd. */
static void test_chunked_passes_through(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r;

    r = passed_on(p, env.up_port, "HMBTEST-CHUNKED", NULL, 200);
    assert_true(r->chunked);
    assert_string_equal(hmb_http_header(r, "Content-Type"),
                        "text/xml; charset=GBK");

    r = passed_on(p, env.httpd_port, "HMBTEST-CHUNKED", NULL, 200);
    /* the body length is unknown to httpd when the headers leave */
    assert_true(r->chunked);
}

/* gzip only when the client accepts it; decompressed it is the fixture. */
static void test_gzip_when_accepted(void **state)
{
    apr_pool_t *p = *state;
    static const char *const gzip[] = { "Accept-Encoding: gzip, deflate",
                                        NULL };
    static const char *const refused[] = { "Accept-Encoding: gzip;q=0",
                                           NULL };
    apr_size_t want_len, plain_len;
    char *want = fixture(p, "HMBTEST-GZIP.xml", &want_len);
    hmb_http_response_t *r;
    char *plain;

    r = ask(p, env.httpd_port, "HMBTEST-GZIP", gzip);
    assert_int_equal(r->status, 200);
    assert_string_equal(hmb_http_header(r, "Content-Encoding"), "gzip");
    /* gzip magic bytes, and smaller than the original */
    assert_true(r->body_len > 2 && (unsigned char)r->body[0] == 0x1f
                && (unsigned char)r->body[1] == 0x8b);
    assert_true(r->body_len < want_len);
    assert_no_error(hmb_http_gunzip(p, r->body, r->body_len, 1 << 20,
                                    &plain, &plain_len));
    hmb_it_assert_same_bytes(plain, plain_len, want, want_len);

    r = passed_on(p, env.httpd_port, "HMBTEST-GZIP", NULL, 200);
    assert_null(hmb_http_header(r, "Content-Encoding"));

    r = passed_on(p, env.up_port, "HMBTEST-GZIP", refused, 200);
    assert_null(hmb_http_header(r, "Content-Encoding"));
}

static void test_gunzip_rejects_garbage(void **state)
{
    apr_pool_t *p = *state;
    char *out;
    apr_size_t out_len;

    assert_non_null(hmb_http_gunzip(p, "not gzip at all", 15, 1024, &out,
                                    &out_len));
}

static void test_status_500_passed_on(void **state)
{
    passed_on(*state, env.httpd_port, "HMBTEST-500", NULL, 500);
}

static void test_non_xml_passed_on(void **state)
{
    hmb_http_response_t *r = passed_on(*state, env.httpd_port,
                                       "HMBTEST-NONXML", NULL, 200);

    assert_string_equal(hmb_http_header(r, "content-type"),
                        "application/json");
    assert_string_equal(hmb_http_header(r, "X-HMB-FIXTURE"), "nonxml");
}

static void test_unknown_msgid_404(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r;

    r = ask(p, env.httpd_port, "NO-SUCH-MSGID", NULL);
    assert_int_equal(r->status, 404);
    assert_non_null(strstr(r->body, "no fixture for msgid NO-SUCH-MSGID"));

    /* a msgid that would leave the fixture directory is refused */
    r = ask(p, env.up_port, "../upstream/HMBTEST-500", NULL);
    assert_int_equal(r->status, 400);
}

/* One client connection carries many requests through httpd. */
static void test_keepalive_reuse(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_conn_t *c = hmb_http_conn_make(p, "127.0.0.1", env.httpd_port);
    apr_port_t first_port = 0;
    int i;

    for (i = 0; i < 20; i++) {
        int n = 1 + i % 4;
        apr_size_t req_len, want_len;
        char *req = example_request(p, n, &req_len);
        char *want = fixture(p, apr_psprintf(p, MSGID_FMT ".xml", n),
                             &want_len);
        hmb_http_response_t *r = post(p, c, "/fsi/api", req, req_len, NULL);

        assert_int_equal(r->status, 200);
        assert_true(r->keep_alive);
        hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
        if (i == 0) {
            first_port = hmb_http_local_port(c);
        }
        assert_int_equal(hmb_http_local_port(c), first_port);
    }
    assert_int_equal(hmb_http_connects(c), 1);
}

/* "close" from the upstream ends the upstream connection, not the client's
 * connection to httpd. */
static void test_close_option(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_conn_t *direct = hmb_http_conn_make(p, "127.0.0.1", env.up_port);
    hmb_http_conn_t *proxied = hmb_http_conn_make(p, "127.0.0.1",
                                                  env.httpd_port);
    apr_size_t want_len;
    char *want = fixture(p, "HMBTEST-CLOSE.xml", &want_len);
    const char *req = msgid_body(p, "HMBTEST-CLOSE");
    hmb_http_response_t *r;
    int i;

    for (i = 0; i < 2; i++) {
        r = post(p, direct, "/fsi/api", req, strlen(req), NULL);
        assert_int_equal(r->status, 200);
        assert_string_equal(hmb_http_header(r, "Connection"), "close");
        assert_false(r->keep_alive);
        hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
    }
    assert_int_equal(hmb_http_connects(direct), 2);

    for (i = 0; i < 2; i++) {
        r = post(p, proxied, "/fsi/api", req, strlen(req), NULL);
        assert_int_equal(r->status, 200);
        assert_true(r->keep_alive);
        hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
    }
    assert_int_equal(hmb_http_connects(proxied), 1);
}

/* delay-ms holds the answer back; the proxied answer is still whole. */
static void test_delay_option(void **state)
{
    apr_time_t started = apr_time_now();

    passed_on(*state, env.httpd_port, "HMBTEST-DELAY", NULL, 200);
    assert_true(apr_time_now() - started >= apr_time_from_msec(300));
}

/* A body delimited by the end of the connection (no Content-Length). */
static void test_body_until_close(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r;

    r = passed_on(p, env.up_port, "HMBTEST-NOLENGTH", NULL, 200);
    assert_true(r->until_close);
    assert_null(hmb_http_header(r, "Content-Length"));

    passed_on(p, env.httpd_port, "HMBTEST-NOLENGTH", NULL, 200);
}

/* A chunked request body reaches the upstream intact (it finds the msgid
 * even when the chunks cut through it). */
static void test_chunked_request_body(void **state)
{
    apr_pool_t *p = *state;
    static const char *const chunked[] = {
        "Content-Type: text/xml", "Transfer-Encoding: chunked", NULL
    };

    example_passed_on(p, env.up_port, 2, chunked);
    example_passed_on(p, env.httpd_port, 2, chunked);
}

/* Template mode: request fields replace the placeholders, defaults fill
 * the rest, nothing of the {{...}} syntax is left. */
static void test_template_mode(void **state)
{
    apr_pool_t *p = *state;
    const char *req =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><infno>2304"
        "</infno><msgid>LOAD-000042</msgid><input><data>"
        "<psn_no>36090000000000000777</psn_no><mdtrt_id>MLOAD42</mdtrt_id>"
        "<setl_id>SLOAD42</setl_id><psn_part_amt>12345.67</psn_part_amt>"
        "</data></input></request>";
    static const char *const expected[] = {
        "<inf_refmsgid>LOAD-000042</inf_refmsgid>",
        "<medins_setl_id>LOAD-000042</medins_setl_id>",
        "<psn_no>36090000000000000777</psn_no>",
        "<mdtrt_id>MLOAD42</mdtrt_id>",
        "<setl_id>SLOAD42</setl_id>",
        "<psn_part_amt>12345.67</psn_part_amt>",
        /* absent from the request: the template's defaults */
        "<fulamt_ownpay_amt>20000.00</fulamt_ownpay_amt>",
        "<med_type>21</med_type>",
        "<setl_time>2024-05-01 10:00:00</setl_time>",
        "<psn_cash_pay>45000.00</psn_cash_pay>",
        NULL
    };
    hmb_http_response_t *r;
    int i;

    /* directly, then through httpd's /load */
    for (i = 0; i < 2; i++) {
        int k;
        r = hmb_it_request(p, i ? env.httpd_port : env.load_port, "POST",
                           "/load", NULL, req, strlen(req));
        assert_int_equal(r->status, 200);
        assert_string_equal(hmb_http_header(r, "Content-Type"),
                            "text/xml; charset=UTF-8");
        for (k = 0; expected[k]; k++) {
            if (!strstr(r->body, expected[k])) {
                fail_msg("template answer lacks %s", expected[k]);
            }
        }
        assert_null(strstr(r->body, "{{"));
        assert_null(strstr(r->body, "}}"));
        /* the untouched parts of the template are still there */
        assert_non_null(strstr(r->body, "<psn_name>张三</psn_name>"));
    }
}

/* 80 connections held open at once, each with a request in flight before
 * any answer is read: a server that served one connection at a time would
 * time out here. */
static void test_upstream_concurrent_connections(void **state)
{
    enum { N = 80 };
    apr_pool_t *p = *state;
    hmb_http_conn_t *c[N];
    apr_size_t want_len;
    char *want = fixture(p, MSGID(1) ".xml", &want_len);
    apr_size_t req_len;
    char *req = example_request(p, 1, &req_len);
    int i;

    for (i = 0; i < N; i++) {
        c[i] = hmb_http_conn_make(p, "127.0.0.1", env.up_port);
        hmb_http_set_timeout(c[i], apr_time_from_sec(5));
        assert_no_error(hmb_http_open(c[i]));
    }
    for (i = N - 1; i >= 0; i--) {
        assert_no_error(hmb_http_send(c[i], p, "POST", "/fsi/api", NULL, req,
                                      req_len));
    }
    for (i = 0; i < N; i++) {
        hmb_http_response_t *r;
        assert_no_error(hmb_http_receive(c[i], p, "POST", &r));
        assert_int_equal(r->status, 200);
        hmb_it_assert_same_bytes(r->body, r->body_len, want, want_len);
        hmb_http_close(c[i]);
    }
}

typedef struct {
    apr_port_t port;
    const char *req;
    apr_size_t req_len;
    const char *want;
    apr_size_t want_len;
    int rounds;
    int good;
    int retries;
    const char *why;
    char why_buf[256];
} load_job_t;

static void *APR_THREAD_FUNC load_worker(apr_thread_t *t, void *data)
{
    load_job_t *job = data;
    apr_pool_t *p;
    hmb_http_conn_t *c;
    int i;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    c = hmb_http_conn_make(p, "127.0.0.1", job->port);
    hmb_http_set_retry_stale(c, 1);
    for (i = 0; i < job->rounds; i++) {
        hmb_http_response_t *r;
        const char *why = hmb_http_request(c, p, "POST", "/fsi/api", NULL,
                                           job->req, job->req_len, &r);
        if (why) {
            /* the job outlives p: keep the reason in the job */
            apr_cpystrn(job->why_buf, why, sizeof(job->why_buf));
            job->why = job->why_buf;
            break;
        }
        if (r->status == 200 && r->body_len == job->want_len
            && !memcmp(r->body, job->want, job->want_len)) {
            job->good++;
        }
    }
    job->retries = hmb_http_retries(c);
    hmb_http_close(c);
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* 64 clients at once through httpd (as many as it has workers), each on a
 * kept-alive connection.  With every worker busy, the event MPM closes idle
 * kept-alive connections, so the clients resend a request that met such a
 * closed connection before any answer (counted and shown). */
static void test_concurrent_through_httpd(void **state)
{
    enum { N = 64, ROUNDS = 5 };
    apr_pool_t *p = *state;
    apr_thread_t *t[N];
    load_job_t job[N];
    apr_size_t req_len, want_len;
    char *req = example_request(p, 3, &req_len);
    char *want = fixture(p, MSGID(3) ".xml", &want_len);
    int i, good = 0, retries = 0;

    for (i = 0; i < N; i++) {
        memset(&job[i], 0, sizeof(job[i]));
        job[i].port = env.httpd_port;
        job[i].req = req;
        job[i].req_len = req_len;
        job[i].want = want;
        job[i].want_len = want_len;
        job[i].rounds = ROUNDS;
        assert_int_equal(apr_thread_create(&t[i], NULL, load_worker, &job[i],
                                           p), APR_SUCCESS);
    }
    for (i = 0; i < N; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, t[i]);
        good += job[i].good;
        retries += job[i].retries;
        if (job[i].why) {
            fprintf(stderr, "client %d after %d good: %s\n", i, job[i].good,
                    job[i].why);
        }
    }
    if (retries) {
        fprintf(stderr, "(%d requests resent after an idle close)\n",
                retries);
    }
    assert_int_equal(good, N * ROUNDS);
}

/* Run as root, httpd's children must be www-data and own the ledger and
 * spool directories; at least two children serve (StartServers 2). */
static void test_children_run_as_www_data(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kids;
    struct passwd *pw;
    struct stat st;
    int i;

    if (geteuid() != 0) {
        skip();
    }
    pw = getpwnam(HMB_IT_HTTPD_USER);
    assert_non_null(pw);
    assert_int_equal(stat(apr_pstrcat(p, env.rundir, "/ledger", NULL), &st),
                     0);
    assert_int_equal(st.st_uid, pw->pw_uid);
    assert_int_equal(stat(apr_pstrcat(p, env.rundir, "/spool", NULL), &st),
                     0);
    assert_int_equal(st.st_uid, pw->pw_uid);

    kids = hmb_it_httpd_children(p, env.rundir);
    for (i = 0; i < kids->nelts; i++) {
        assert_int_equal(stat(apr_psprintf(p, "/proc/%ld",
                                           APR_ARRAY_IDX(kids, i, long)),
                              &st), 0);
        assert_int_equal(st.st_uid, pw->pw_uid);
    }
    assert_true(kids->nelts >= 2);
}

/* After a graceful restart the same configuration serves again. */
static void test_graceful_restart(void **state)
{
    apr_pool_t *p = *state;

    assert_no_error(hmb_it_harness(p, "graceful", env.rundir, 0, NULL,
                                   apr_time_from_sec(30)));
    example_passed_on(p, env.httpd_port, 4, NULL);
}

/* The access log carries the module's environment fields ("-" here, with
 * no module), the upstream logs one line per request, and httpd logged no
 * error at all. */
static void test_logs(void **state)
{
    apr_pool_t *p = *state;
    char *access = hmb_it_log(p, env.rundir, "access_log", NULL);
    char *uplog = hmb_test_slurp(p, apr_pstrcat(p, env.rundir,
                                                "/upstream.log", NULL), NULL);
    const char *line;
    int posts = 0;

    for (line = access; (line = strstr(line, "\"POST /fsi/api HTTP/1.1\""));
         line++) {
        const char *eol = strchr(line, '\n');
        const char *stas = strstr(line, " stas=- pay=-");
        assert_non_null(eol);
        assert_true(stas && stas < eol);
        posts++;
    }
    /* at least the 4 + 20 + 64 * 5 worked-example posts above */
    assert_true(posts >= 4 + 20 + 320);
    assert_non_null(strstr(uplog, MSGID(1) " 200 2282"));
    assert_non_null(strstr(uplog, "HMBTEST-CHUNKED 200 2288 chunked"));
    assert_non_null(strstr(uplog, "HMBTEST-GZIP 200 "));
    assert_non_null(strstr(uplog, "NO-SUCH-MSGID 404"));
    hmb_it_test_error_logs_clean(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_worked_example_bodies_identical),
        HMB_IT_TEST(test_chunked_passes_through),
        HMB_IT_TEST(test_gzip_when_accepted),
        HMB_IT_TEST(test_gunzip_rejects_garbage),
        HMB_IT_TEST(test_status_500_passed_on),
        HMB_IT_TEST(test_non_xml_passed_on),
        HMB_IT_TEST(test_unknown_msgid_404),
        HMB_IT_TEST(test_keepalive_reuse),
        HMB_IT_TEST(test_close_option),
        HMB_IT_TEST(test_delay_option),
        HMB_IT_TEST(test_body_until_close),
        HMB_IT_TEST(test_chunked_request_body),
        HMB_IT_TEST(test_template_mode),
        HMB_IT_TEST(test_upstream_concurrent_connections),
        HMB_IT_TEST(test_concurrent_through_httpd),
        HMB_IT_TEST(test_children_run_as_www_data),
        HMB_IT_TEST(test_graceful_restart),
        HMB_IT_TEST(test_logs),
    };

    return hmb_it_main("integration: proxy infrastructure", tests, group_setup,
                       hmb_it_group_teardown) ? 1 : 0;
}
