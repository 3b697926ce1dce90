/*
 * No personal data leaves the module except in the response it answers
 * (issue 9): real settlements carrying names, certificate numbers and
 * psn_no values go through Debian's apache2 with the module logging at
 * every level (LogLevel debug, huiminbao:trace8), among them a GBK
 * message, a malformed psn_no, an upstream err_msg naming a certno and a
 * name, and a message whose GBK name libxml2 cannot read as UTF-8. Then
 * every log file, every form of the status page and what hmbctl reports
 * are searched for each of those values: a certno, a name (UTF-8, GBK,
 * and libxml2's "0xD5 0xC5" dump of it) or a psn_no in clear fails.
 */
#include "../unit/hmb_test.h"
#include "hmb_http.h"

#include <sys/stat.h>

#include <apr_xlate.h>

#define MOD_FIXTURES  HMB_FIXTURE("module")
#define BASE_ANSWER   MOD_FIXTURES "/upstream/H36090200001202405011000000002.xml"
#define ENROLL_CSV    MOD_FIXTURES "/enroll.csv"
#define PLAN_2024     HMB_EXAMPLE("plan.xml")
#define PLAN_2025     MOD_FIXTURES "/plans/yichun-2025.xml"
#define PLAN_LOAD     MOD_FIXTURES "/plans/load-2024.xml"
#define PLAN_GRACE1   MOD_FIXTURES "/plans/grace-v1.xml"

typedef struct {
    const char *label;
    const char *bytes;
    apr_size_t len;
} secret_t;

static struct {
    apr_pool_t *pool;
    const char *rundir;
    const char *ledger;             /* sqlite3:PATH */
    apr_port_t port;
    apr_port_t up_port;
    apr_array_header_t *secrets;    /* secret_t */
    const char *spliced;            /* one answer with <hmbinfo> */
    apr_size_t spliced_len;
} env;

/* --- what must never show ----------------------------------------------- */

static void secret(const char *label, const char *bytes, apr_size_t len)
{
    secret_t *s = apr_array_push(env.secrets);

    s->label = label;
    s->bytes = apr_pmemdup(env.pool, bytes, len);
    s->len = len;
}

static const char *to_gbk(apr_pool_t *p, const char *utf8, apr_size_t *len)
{
    apr_xlate_t *x;
    apr_size_t in = strlen(utf8), out = in * 2 + 1, cap = out;
    char *buf = apr_palloc(p, cap);

    assert_int_equal(apr_xlate_open(&x, "GBK", "UTF-8", p), APR_SUCCESS);
    assert_int_equal(apr_xlate_conv_buffer(x, utf8, &in, buf, &out),
                     APR_SUCCESS);
    assert_int_equal(in, 0);
    apr_xlate_close(x);
    *len = cap - out;
    buf[*len] = '\0';
    return buf;
}

/* A name in UTF-8 and in GBK, and the first two GBK bytes as libxml2
 * dumps them when it reads GBK as UTF-8 ("Bytes: 0xD5 0xC5 ..."). */
static void secret_name(const char *utf8)
{
    apr_size_t len;
    const char *gbk = to_gbk(env.pool, utf8, &len);
    const char *dump = apr_psprintf(env.pool, "0x%02X 0x%02X",
                                    (unsigned char)gbk[0],
                                    (unsigned char)gbk[1]);

    secret(apr_pstrcat(env.pool, "name ", utf8, NULL), utf8, strlen(utf8));
    secret(apr_pstrcat(env.pool, "GBK name ", utf8, NULL), gbk, len);
    secret(apr_pstrcat(env.pool, "dump of GBK name ", utf8, NULL), dump,
           strlen(dump));
}

static void secret_str(const char *what, const char *s)
{
    secret(apr_pstrcat(env.pool, what, " ", s, NULL), s, strlen(s));
}

/* Fails the test at the first secret in text, naming where it was. */
static void assert_clean(const char *where, const char *text, apr_size_t len)
{
    int i;

    for (i = 0; i < env.secrets->nelts; i++) {
        const secret_t *s = &APR_ARRAY_IDX(env.secrets, i, secret_t);
        const char *at = memmem(text, len, s->bytes, s->len);

        if (at) {
            const char *bol = at, *eol = at;

            while (bol > text && bol[-1] != '\n') {
                bol--;
            }
            while (eol < text + len && *eol != '\n') {
                eol++;
            }
            fail_msg("%s shows the %s: %.*s", where, s->label,
                     (int)(eol - bol), bol);
        }
    }
}

/* --- the people and their messages -------------------------------------- */

typedef struct {
    const char *msgid;
    const char *infno;
    const char *psn_no;
    const char *name;               /* UTF-8 */
    const char *certno;
    const char *setl_id;
    const char *cancels;            /* 2305: the setl_id it cancels */
    int gbk;                        /* declared and written in GBK */
    int gbk_undeclared;             /* GBK name in a UTF-8 message */
    const char *err_msg;            /* infcode -1 with this text */
    const char *want_stas;          /* hmb_stas, or NULL: untouched */
} person_msg_t;

static const person_msg_t msgs[] = {
    /* settled, then cancelled */
    { "PII-A1", "2303", "36090000000000000102", "李秀英", "36090219750315422X",
      "SPII0001", NULL, 0, 0, NULL, "presettled" },
    { "PII-A2", "2304", "36090000000000000102", "李秀英", "36090219750315422X",
      "SPII0001", NULL, 0, 0, NULL, "paid" },
    /* a GBK message */
    { "PII-B", "2304", "36090000000000000103", "欧阳娜娜", "360902198807070528",
      "SPII0002", NULL, 1, 0, NULL, "paid" },
    /* a malformed psn_no, in the request and the answer */
    { "PII-C", "2304", "3609000000000000010A4", "钱多多", "360902197001019876",
      "SPII0003", NULL, 0, 0, NULL, "ineligible" },
    /* the upstream refuses, naming a certno and a name */
    { "PII-D", "2304", "36090000000000000104", "赵六", "360902196512120036",
      "SPII0004", NULL, 0, 0,
      "证件号码360902196512120036与姓名赵六不符", NULL },
    /* GBK bytes in a message that says it is UTF-8 */
    { "PII-E", "2304", "36090000000000000105", "张伟", "360902200001011117",
      "SPII0005", NULL, 0, 1, NULL, NULL },
    /* not enrolled */
    { "PII-F", "2304", "36090000000000000999", "孙丽", "360902199912120041",
      "SPII0006", NULL, 0, 0, NULL, "ineligible" },
    /* the cancellation of PII-A2 */
    { "PII-G", "2305", "36090000000000000102", "李秀英", "36090219750315422X",
      "SPII0001C", "SPII0001", 0, 0, NULL, "reversed" },
};

/* The upstream's answer for m: the base answer with m's values. */
static const char *answer_for(apr_pool_t *p, const person_msg_t *m,
                              apr_size_t *len)
{
    char *a = hmb_test_slurp(p, BASE_ANSWER, NULL);

    a = replace(p, a, "S2024050100001", m->setl_id);
    a = replace(p, a, "36090000000000000001", m->psn_no);
    a = replace(p, a, "360902196001010011", m->certno);
    if (m->err_msg) {
        a = replace(p, a, "<infcode>0</infcode>", "<infcode>-1</infcode>");
        a = replace(p, a, "<err_msg></err_msg>",
                    apr_pstrcat(p, "<err_msg>", m->err_msg, "</err_msg>",
                                NULL));
    }
    if (m->gbk_undeclared) {
        apr_size_t n;
        const char *gbk = to_gbk(p, m->name, &n);

        a = replace(p, a, "张三", gbk);
    }
    else {
        a = replace(p, a, "张三", m->name);
    }
    if (m->gbk) {
        a = replace(p, a, "encoding=\"UTF-8\"", "encoding=\"GBK\"");
        return to_gbk(p, a, len);
    }
    *len = strlen(a);
    return a;
}

/* --- setup and teardown ------------------------------------------------- */

static const char *write_answers(apr_pool_t *p, const char *dir)
{
    const char *why = NULL;
    apr_size_t i, len;

    if (apr_dir_make(dir, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS) {
        return apr_pstrcat(p, "cannot create ", dir, NULL);
    }
    for (i = 0; !why && i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        const char *a = answer_for(p, &msgs[i], &len);

        why = hmb_it_write_file(p, apr_pstrcat(p, dir, "/", msgs[i].msgid,
                                               ".xml", NULL), a, len);
    }
    return why;
}

static int group_setup(void **state)
{
    static const char *const plans[] = {
        PLAN_2024, PLAN_2025, PLAN_LOAD, PLAN_GRACE1, NULL
    };
    static const char *const plan_2024[] = { PLAN_2024, NULL };
    apr_pool_t *p;
    const char *why, *dir;
    apr_size_t i;

    (void)state;
    if (hmb_it_group_begin("pii", &env.pool, &env.rundir)) {
        return -1;
    }
    p = env.pool;
    dir = env.rundir;
    env.secrets = apr_array_make(p, 32, sizeof(secret_t));
    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        secret_str("psn_no", msgs[i].psn_no);
        secret_str("certno", msgs[i].certno);
        secret_name(msgs[i].name);
    }

    why = hmb_it_sqlite_ledger(p, dir, plans, ENROLL_CSV, "imported 23 ",
                               HMB_IT_HTTPD_USER, &env.ledger);
    if (!why) {
        why = write_answers(p, apr_pstrcat(p, dir, "/upstream", NULL));
    }
    if (!why) {
        why = hmb_it_free_ports(p, &env.up_port, &env.port, NULL);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "upstream", env.up_port,
                                    apr_pstrcat(p, dir, "/upstream", NULL),
                                    NULL);
    }
    if (!why) {
        /* every line the module can write, and httpd's own at debug */
        const char *conf = hmb_it_module_conf(p, plan_2024,
                                              HMB_IT_DBD_SQLITE, env.up_port,
                                              NULL, "LogLevel debug "
                                              "huiminbao:trace8\n");

        why = hmb_it_start_httpd(p, dir, env.port, "pii.conf", conf);
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- the tests ---------------------------------------------------------- */

/* Each message through apache2: the answer is the upstream's, with
 * <hmbinfo> where a decision is expected. */
static void test_settlements(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r = NULL;
    apr_size_t i, len;

    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        const person_msg_t *m = &msgs[i];
        const char *want = answer_for(p, m, &len);
        const char *info;

        r = hmb_it_settle(p, env.port, m->msgid, m->infno, m->msgid,
                          m->psn_no, m->cancels);
        assert_int_equal(r->status, 200);
        info = hmb_it_element(p, r->body, r->body_len, "hmbinfo");
        if (!m->want_stas) {
            if (info || r->body_len != len || memcmp(r->body, want, len)) {
                fail_msg("%s: not passed untouched", m->msgid);
            }
            continue;
        }
        if (!info) {
            fail_msg("%s: no <hmbinfo>", m->msgid);
        }
        assert_str(hmb_it_field(p, info, "hmb_stas"), m->want_stas);
        if (!strcmp(m->want_stas, "paid") && !env.spliced) {
            env.spliced = apr_pmemdup(env.pool, r->body, r->body_len);
            env.spliced_len = r->body_len;
        }
        /* <hmbinfo> itself names nobody */
        assert_clean(apr_pstrcat(p, m->msgid, "'s <hmbinfo>", NULL), info,
                     strlen(info));
    }
    /* no settlement (the upstream refuses a GET): logged at trace1 */
    r = hmb_it_get(p, env.port, "/fsi/api/PII-A1");
}

/* Every log file httpd wrote. */
static void test_logs_clean(void **state)
{
    apr_pool_t *p = *state;
    const char *logs = apr_pstrcat(p, env.rundir, "/logs", NULL);
    apr_dir_t *d;
    apr_finfo_t fi;
    int files = 0;
    apr_size_t len;
    const char *err;

    assert_int_equal(apr_dir_open(&d, logs, p), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        const char *path = apr_pstrcat(p, logs, "/", fi.name, NULL);
        const char *text;

        if (fi.filetype != APR_REG) {
            continue;
        }
        text = hmb_test_slurp(p, path, &len);
        assert_clean(path, text, len);
        files++;
    }
    apr_dir_close(d);
    assert_true(files >= 2);
    /* the log does hold what the tests above provoked, at every level */
    err = hmb_it_log(p, env.rundir, "error_log", &len);
    assert_non_null(hmb_it_line_with(p, err, "HMB00307", "hmb_stas=paid"));
    assert_non_null(hmb_it_line_with(p, err, "HMB00307",
                                     "hmb_stas=reversed"));
    assert_non_null(hmb_it_line_with(p, err, "HMB00311", "infcode -1"));
    assert_non_null(hmb_it_line_with(p, err, "[huiminbao:trace", NULL));
    assert_non_null(hmb_it_line_with(p, err, "[proxy:debug]", NULL));
}

/* The status page in each of its forms. */
static void test_status_clean(void **state)
{
    apr_pool_t *p = *state;
    static const char *const forms[] = {
        "", "?auto", "?format=json", "?format=prometheus", "?format=text",
        NULL
    };
    int i;

    for (i = 0; forms[i]; i++) {
        const char *path = apr_pstrcat(p, "/huiminbao-status", forms[i],
                                       NULL);
        hmb_http_response_t *r = NULL;

        r = hmb_it_get(p, env.port, path);
        assert_int_equal(r->status, 200);
        assert_true(r->body_len > 100);
        assert_clean(path, r->body, r->body_len);
    }
}

/* hmbctl on the live ledger, as the children's user. */
#define hmbctl(p, ...) \
    hmb_it_hmbctl((p), env.rundir, HMB_IT_HTTPD_USER, env.ledger, 0, \
                  __VA_ARGS__)

/* What hmbctl reports from that ledger, and what it shows of an answer. */
static void test_hmbctl_clean(void **state)
{
    apr_pool_t *p = *state;
    const char *answer = apr_pstrcat(p, env.rundir, "/answer.xml", NULL);
    static const char *const formats[] = { "table", "csv", "json", NULL };
    static const char *const bys[] = {
        "hospital", "insurer", "county", "liability", "reason", "flag", "day",
        NULL
    };
    const char *exports = apr_pstrcat(p, env.rundir, "/exports", NULL);
    const char *out;
    apr_dir_t *dir;
    apr_finfo_t fi;
    int i, k, files = 0;

    for (i = 0; formats[i]; i++) {
        out = hmbctl(p, "owed", "--format", formats[i], NULL);
        assert_clean(apr_pstrcat(p, "hmbctl owed --format ", formats[i],
                                 NULL), out, strlen(out));
    }
    out = hmbctl(p, "totals", "--plan-code", "YCHMB", "--year", "2024",
                 "36090000000000000103", NULL);
    assert_true(strlen(out) > 0);
    assert_clean("hmbctl totals", out, strlen(out));
    out = hmbctl(p, "rollup", "check", NULL);
    assert_clean("hmbctl rollup check", out, strlen(out));
    /* the insurer's and the bureau's reports, in every form (`history`
     * is the one command that shows a person's data: asked for by
     * psn_no, for a complaint) */
    for (i = 0; bys[i]; i++) {
        for (k = 0; formats[k]; k++) {
            const char *what = apr_pstrcat(p, "hmbctl report --by ", bys[i],
                                           " --format ", formats[k], NULL);

            out = hmbctl(p, "report", "--plan-code", "YCHMB", "--year",
                         "2024", "--by", bys[i], "--format", formats[k],
                         NULL);
            assert_true(strlen(out) > 0);
            assert_clean(what, out, strlen(out));
        }
    }
    out = hmbctl(p, "report", "--plan-code", "YCHMB", "--year", "2024",
                 "--by", "flag", "--flags", NULL);
    assert_clean("hmbctl report --flags", out, strlen(out));
    out = hmbctl(p, "whatif", "--plan", PLAN_2024, NULL);
    assert_clean("hmbctl whatif", out, strlen(out));
    out = hmbctl(p, "audit", "verify", NULL);
    assert_clean("hmbctl audit verify", out, strlen(out));
    /* written by hmbctl as the children's user */
    assert_int_equal(apr_dir_make(exports, APR_FPROT_OS_DEFAULT, p),
                     APR_SUCCESS);
    assert_int_equal(chmod(exports, 0777), 0);
    out = hmbctl(p, "export", "--month", "2024-05", "--plan-code", "YCHMB",
                 "--out", exports, NULL);
    assert_clean("hmbctl export", out, strlen(out));
    assert_int_equal(apr_dir_open(&dir, exports, p), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, dir)
           == APR_SUCCESS) {
        const char *path, *text;
        apr_size_t len;

        if (fi.filetype != APR_REG) {
            continue;
        }
        path = apr_pstrcat(p, exports, "/", fi.name, NULL);
        text = hmb_test_slurp(p, path, &len);
        assert_clean(apr_pstrcat(p, "hmbctl export ", fi.name, NULL), text,
                     len);
        files++;
    }
    apr_dir_close(dir);
    assert_true(files >= 6);
    out = hmbctl(p, "check-ledger", NULL);
    assert_clean("hmbctl check-ledger", out, strlen(out));

    assert_non_null(env.spliced);
    assert_no_error(hmb_it_write_file(p, answer, env.spliced,
                                      env.spliced_len));
    out = hmbctl(p, "show", answer, NULL);
    assert_non_null(strstr(out, "paid"));
    assert_clean("hmbctl show", out, strlen(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_settlements),
        HMB_IT_TEST(test_logs_clean),
        HMB_IT_TEST(test_status_clean),
        HMB_IT_TEST(test_hmbctl_clean),
    };

    return hmb_it_main("integration: no personal data in logs, status or "
                       "reports", tests, group_setup,
                       hmb_it_group_teardown) ? 1 : 0;
}
