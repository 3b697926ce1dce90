/* Integration: the insurer's dashboard (huiminbao-status) after a seeded
 * mixed workload.
 *
 * Two apache2 instances with mod_huiminbao (two hospitals) on one SQLite
 * ledger, in front of hmb-sandbox; client threads settle, repeat and
 * cancel discharges of 24 people (some ineligible: a medical type the plan
 * does not cover) under a plan with three co-insurers. Then the figures of
 * ?format=json, ?format=prometheus and of the HTML page, as Chromium
 * (headless) renders it, must equal a direct sum over the claims; the
 * Prometheus text must pass `promtool check metrics`; the rollups must
 * agree with a rebuild from the claims (`hmbctl rollup check`); hmbctl
 * report, export and history agree with the claims; `hmbctl whatif` with
 * the plan in force reproduces the year. The
 * screenshot is left in the build directory (dashboard.png).
 */
#include <unistd.h>

#include "hmb_workload.h"
#include "hmb_rollup.h"
#include "hmb_util.h"

#include <yajl/yajl_tree.h>

#define STATUS      "/huiminbao-status?plan=YCHMB"
#define PROMTOOL    "/usr/bin/promtool"
#define CHROMIUM    "/usr/bin/chromium"
#define SCREENSHOT  HMB_BUILDDIR "/dashboard.png"

static struct {
    const char *spec;
    int settlements;
} env;

static int group_setup(void **state)
{
    static const char *const plans[] = { PLAN, NULL };
    const char *why, *dbd;
    apr_pool_t *p;
    int i;

    (void)state;
    if (wl_setup("dashboard", "HMB_DASHBOARD_SEED", 2)) {
        return -1;
    }
    p = wl.pool;
    env.settlements = wl_getenv_int("HMB_DASHBOARD_SETTLEMENTS", 150, 40);
    /* as root, the children (www-data) must own the ledger */
    why = hmb_it_sqlite_ledger(p, wl.inst[0].rundir, plans, ENROLL,
                               "imported 24 ", HMB_IT_HTTPD_USER, &env.spec);
    dbd = apr_psprintf(p, "DBDriver sqlite3\nDBDParams \"%s/ledger/"
                       "ledger.db\"\n", wl.inst[0].rundir);
    for (i = 0; !why && i < 2; i++) {
        why = wl_start_httpd(i, dbd);
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, state);
}

/* --- what the claims say, summed directly ---------------------------- */

typedef struct {
    const char *claims, *ineligible, *reversals, *payout, *premium;
    const char *large;          /* settlements paying over claim-over */
    apr_hash_t *insurer;        /* code -> fen (string) */
    apr_hash_t *liability;
    apr_hash_t *hospital;
} truth_t;

static apr_hash_t *sums_by(apr_pool_t *p, hmb_ledger_t *l, const char *sql)
{
    apr_array_header_t *rows = wl_rows_of(p, l, sql);
    apr_hash_t *h = apr_hash_make(p);
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);

        apr_hash_set(h, v[0], APR_HASH_KEY_STRING, v[1]);
    }
    return h;
}

#define OF_YEAR " plan_code = 'YCHMB' AND plan_year = 2024" \
                " AND kind IN ('S', 'R', 'C')"

static void direct_sums(apr_pool_t *p, truth_t *t)
{
    hmb_ledger_t *l;
    apr_array_header_t *rows;
    const char **v;

    assert_no_error(hmb_ledger_open(p, env.spec, &l));
    rows = wl_rows_of(p, l, "SELECT"
                      " SUM(CASE WHEN kind = 'S' THEN 1 ELSE 0 END),"
                      " SUM(CASE WHEN kind = 'S' AND stas = 'ineligible'"
                      " THEN 1 ELSE 0 END),"
                      " SUM(CASE WHEN kind = 'R' THEN 1 ELSE 0 END),"
                      " SUM(hmb_pay) FROM hmb_claim WHERE" OF_YEAR);
    assert_int_equal(rows->nelts, 1);
    v = APR_ARRAY_IDX(rows, 0, const char **);
    t->claims = v[0];
    t->ineligible = v[1];
    t->reversals = v[2];
    t->payout = v[3];
    /* the plan's <supervision claim-over="3000.00">, counted here from
     * the payouts themselves */
    rows = wl_rows_of(p, l, "SELECT COUNT(*) FROM hmb_claim WHERE"
                      " plan_code = 'YCHMB' AND plan_year = 2024"
                      " AND kind = 'S' AND hmb_pay > 300000");
    t->large = APR_ARRAY_IDX(rows, 0, const char **)[0];
    rows = wl_rows_of(p, l, "SELECT SUM(premium) FROM hmb_enrollment"
                      " WHERE plan_code = 'YCHMB' AND plan_year = 2024");
    t->premium = APR_ARRAY_IDX(rows, 0, const char **)[0];
    t->insurer = sums_by(p, l, "SELECT i.insurer_code, SUM(i.pay_amt)"
                         " FROM hmb_claim_insurer i JOIN hmb_claim c"
                         " ON c.hmb_setl_id = i.hmb_setl_id WHERE"
                         " c.plan_code = 'YCHMB' AND c.plan_year = 2024"
                         " AND c.kind IN ('S', 'R', 'C')"
                         " GROUP BY i.insurer_code");
    t->liability = sums_by(p, l, "SELECT i.liab_code, SUM(i.pay_amt)"
                           " FROM hmb_claim_liab i JOIN hmb_claim c"
                           " ON c.hmb_setl_id = i.hmb_setl_id WHERE"
                           " c.plan_code = 'YCHMB' AND c.plan_year = 2024"
                           " AND c.kind IN ('S', 'R', 'C')"
                           " GROUP BY i.liab_code");
    t->hospital = sums_by(p, l, "SELECT fixmedins_code, SUM(hmb_pay)"
                          " FROM hmb_claim WHERE" OF_YEAR
                          " GROUP BY fixmedins_code");
    fprintf(stderr, "ledger: %s claims, %s ineligible, %s reversals, "
            "payout %s fen, premiums %s fen, %u co-insurers, %u hospitals\n",
            t->claims, t->ineligible, t->reversals, t->payout, t->premium,
            apr_hash_count(t->insurer), apr_hash_count(t->hospital));
}

/* --- the answers --------------------------------------------------------- */

static hmb_http_response_t *get(apr_pool_t *p, int i, const char *path,
                                const char *type)
{
    hmb_http_response_t *r;

    r = hmb_it_get(p, wl.inst[i].port, path);
    assert_int_equal(r->status, 200);
    assert_non_null(hmb_http_header(r, "Content-Type"));
    assert_non_null(strstr(hmb_http_header(r, "Content-Type"), type));
    return r;
}

static const char *jnum(yajl_val root, const char **path)
{
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);

    if (!v) {
        fail_msg("no number at %s/%s/%s", path[0], path[1] ? path[1] : "",
                 path[1] && path[2] ? path[2] : "");
    }
    return YAJL_GET_NUMBER(v);
}

/* The groups of an array of {group, payout_fen...} equal the direct
 * sums. */
static void check_groups(yajl_val plan, const char *key, apr_hash_t *want)
{
    const char *path[] = { key, NULL };
    yajl_val a = yajl_tree_get(plan, path, yajl_t_array);
    apr_size_t i;

    assert_non_null(a);
    assert_int_equal(YAJL_GET_ARRAY(a)->len, apr_hash_count(want));
    for (i = 0; i < YAJL_GET_ARRAY(a)->len; i++) {
        yajl_val g = YAJL_GET_ARRAY(a)->values[i];
        const char *gp[] = { "group", NULL }, *pp[] = { "payout_fen", NULL };
        const char *grp = YAJL_GET_STRING(yajl_tree_get(g, gp,
                                                        yajl_t_string));
        const char *w;

        assert_non_null(grp);
        w = apr_hash_get(want, grp, APR_HASH_KEY_STRING);
        if (!w || strcmp(w, jnum(g, pp))) {
            fail_msg("%s %s: %s fen, the claims say %s", key, grp,
                     jnum(g, pp), w ? w : "none");
        }
    }
}

static void check_json(apr_pool_t *p, int i, const truth_t *t)
{
    hmb_http_response_t *r = get(p, i, STATUS "&format=json",
                                 "application/json");
    char err[256];
    yajl_val root = yajl_tree_parse(r->body, err, sizeof(err)), plan;
    const char *plans[] = { "plans", NULL };
    const char *claims[] = { "periods", "year", "claims", NULL };
    const char *inel[] = { "periods", "year", "ineligible", NULL };
    const char *revs[] = { "periods", "year", "reversals", NULL };
    const char *pay[] = { "periods", "year", "payout_fen", NULL };
    const char *prem[] = { "premium_fen", NULL };
    const char *ratio[] = { "loss_ratio", NULL };

    if (!root) {
        fail_msg("the JSON does not parse: %s", err);
    }
    plan = yajl_tree_get(root, plans, yajl_t_array);
    assert_non_null(plan);
    assert_int_equal(YAJL_GET_ARRAY(plan)->len, 1);
    plan = YAJL_GET_ARRAY(plan)->values[0];
    assert_string_equal(jnum(plan, claims), t->claims);
    assert_string_equal(jnum(plan, inel), t->ineligible);
    assert_string_equal(jnum(plan, revs), t->reversals);
    assert_string_equal(jnum(plan, pay), t->payout);
    assert_string_equal(jnum(plan, prem), t->premium);
    assert_string_equal(jnum(plan, ratio),
                        apr_psprintf(p, "%.6f",
                                     (double)apr_atoi64(t->payout)
                                     / (double)apr_atoi64(t->premium)));
    check_groups(plan, "by_insurer", t->insurer);
    check_groups(plan, "by_liability", t->liability);
    check_groups(plan, "by_hospital", t->hospital);
    {
        const char *flag[] = { "by_flag", NULL };
        const char *cl[] = { "claims", NULL };
        const char *gp[] = { "group", NULL };
        yajl_val a = yajl_tree_get(plan, flag, yajl_t_array);
        const char *large = "0";
        apr_size_t k;

        for (k = 0; a && k < YAJL_GET_ARRAY(a)->len; k++) {
            yajl_val g = YAJL_GET_ARRAY(a)->values[k];
            const char *name = YAJL_GET_STRING(yajl_tree_get(
                                   g, gp, yajl_t_string));

            if (name && !strcmp(name, "large_claim")) {
                large = jnum(g, cl);
            }
        }
        assert_string_equal(large, t->large);
    }
    yajl_tree_free(root);
}

/* The value of the sample named exactly so (name and labels). */
static const char *sample(apr_pool_t *p, const char *text, const char *name)
{
    const char *at = strstr(text, apr_pstrcat(p, "\n", name, " ", NULL));

    if (!at) {
        fail_msg("no sample %s", name);
    }
    at += strlen(name) + 2;
    return apr_pstrndup(p, at, strcspn(at, "\n"));
}

static void check_prometheus(apr_pool_t *p, int i, const truth_t *t)
{
    hmb_http_response_t *r = get(p, i, STATUS "&format=prometheus",
                                 "text/plain; version=0.0.4");
    const char *file = apr_psprintf(p, "%s/metrics-%d.txt", wl.top, i);
    const char *messages;
    const char *argv[] = {
        "/bin/sh", "-c",
        apr_psprintf(p, PROMTOOL " check metrics < '%s'", file), NULL
    };
    char *out;
    int rc;

    assert_no_error(hmb_it_write_file(p, file, r->body, r->body_len));
    rc = hmb_it_capture(p, wl.top, NULL, argv, apr_time_from_sec(60), &out);
    if (rc != 0) {
        fail_msg("promtool check metrics: exit %d: %s", rc, out);
    }
    assert_string_equal(sample(p, r->body, "huiminbao_year_payout_fen{plan="
                               "\"YCHMB\",year=\"2024\"}"), t->payout);
    assert_string_equal(sample(p, r->body, "huiminbao_claims{plan=\"YCHMB\","
                               "year=\"2024\",stas=\"ineligible\"}"),
                        t->ineligible);
    assert_string_equal(sample(p, r->body, "huiminbao_year_reversals{plan="
                               "\"YCHMB\",year=\"2024\"}"), t->reversals);
    assert_string_equal(sample(p, r->body, "huiminbao_insurer_payout_fen{"
                               "plan=\"YCHMB\",year=\"2024\",insurer="
                               "\"PICC\"}"),
                        apr_hash_get(t->insurer, "PICC",
                                     APR_HASH_KEY_STRING));
    /* the histogram counts every response this server gave the core,
     * whichever child did */
    messages = hmb_it_status_value(p, wl.inst[i].port, "Messages");
    assert_true(apr_atoi64(messages) > 0);
    assert_string_equal(sample(p, r->body,
                               "huiminbao_filter_duration_seconds_count"),
                        messages);
    assert_string_equal(sample(p, r->body, "huiminbao_filter_duration_"
                               "seconds_bucket{le=\"+Inf\"}"), messages);
}

/* The figure with this id in a page as Chromium serialized its DOM. */
static const char *dom_value(apr_pool_t *p, const char *dom, const char *id)
{
    const char *at = strstr(dom, apr_pstrcat(p, "id=\"", id, "\" data-v=\"",
                                             NULL));

    if (!at) {
        fail_msg("no element %s in the rendered page", id);
    }
    at = strstr(at, "data-v=\"") + 8;
    return apr_pstrndup(p, at, strcspn(at, "\""));
}

static void check_html(apr_pool_t *p, const truth_t *t)
{
    hmb_http_response_t *r = get(p, 0, STATUS, "text/html");
    const char *url = apr_psprintf(p, "http://127.0.0.1:%d" STATUS,
                                   (int)wl.inst[0].port);
    const char *profile = apr_pstrcat(p, wl.top, "/chromium", NULL);
    const char *dump[] = {
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", apr_pstrcat(p, "--user-data-dir=", profile, NULL),
        "--dump-dom", url, NULL
    };
    const char *shot[] = {
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", apr_pstrcat(p, "--user-data-dir=", profile, NULL),
        "--hide-scrollbars", "--window-size=1280,2600",
        "--screenshot=" SCREENSHOT, url, NULL
    };
    apr_finfo_t fi;
    char *dom;
    int rc;

    /* self-contained: nothing fetched from elsewhere */
    assert_null(strstr(r->body, " src="));
    assert_null(strstr(r->body, "<link"));
    assert_null(strstr(r->body, "url("));
    assert_non_null(strstr(r->body, "<svg"));
    assert_non_null(strstr(r->body, "赔付率 Loss ratio"));

    rc = hmb_it_capture(p, wl.top, NULL, dump, apr_time_from_sec(120), &dom);
    if (rc != 0) {
        fail_msg("chromium --dump-dom: exit %d: %.2000s", rc, dom);
    }
    assert_string_equal(dom_value(p, dom, "YCHMB-2024-year-claims"),
                        t->claims);
    assert_string_equal(dom_value(p, dom, "YCHMB-2024-year-reversals"),
                        t->reversals);
    assert_string_equal(dom_value(p, dom, "YCHMB-2024-year-ineligible"),
                        t->ineligible);
    assert_string_equal(dom_value(p, dom, "YCHMB-2024-year-payout_fen"),
                        t->payout);
    assert_string_equal(dom_value(p, dom, "YCHMB-2024-plan-premium_fen"),
                        t->premium);
    apr_file_remove(SCREENSHOT, p);
    rc = hmb_it_capture(p, wl.top, NULL, shot, apr_time_from_sec(120), &dom);
    if (rc != 0) {
        fail_msg("chromium --screenshot: exit %d: %.2000s", rc, dom);
    }
    assert_int_equal(apr_stat(&fi, SCREENSHOT, APR_FINFO_SIZE, p),
                     APR_SUCCESS);
    assert_true(fi.size > 10000);
    fprintf(stderr, "screenshot: " SCREENSHOT " (%ld bytes)\n",
            (long)fi.size);
}

/* hmbctl --ledger LEDGER with the arguments up to NULL, which must
 * succeed; what it printed. */
#define hmbctl(p, ...) \
    hmb_it_hmbctl((p), wl.top, NULL, env.spec, 0, __VA_ARGS__)

/* hmbctl report's TOTAL is the ledger's, to the fen, and its groups are
 * the claims' */
static void check_reports(apr_pool_t *p, const truth_t *t)
{
    static const char *const by[] = {
        "hospital", "insurer", "liability", "county", "day"
    };
    const char *claims[] = { "total", "claims", NULL };
    const char *revs[] = { "total", "reversals", NULL };
    const char *pay[] = { "total", "payout_fen", NULL };
    int i;

    for (i = 0; i < 5; i++) {
        char *out = hmbctl(p, "report", "--plan-code", "YCHMB", "--year",
                           "2024", "--by", by[i], "--format", "json", NULL),
             err[200];
        yajl_val root = yajl_tree_parse(out, err, sizeof(err));

        if (!root) {
            fail_msg("report --by %s: %s: %s", by[i], err, out);
        }
        assert_string_equal(jnum(root, claims), t->claims);
        assert_string_equal(jnum(root, revs), t->reversals);
        assert_string_equal(jnum(root, pay), t->payout);
        if (i < 3) {
            check_groups(root, "rows", i == 0 ? t->hospital
                                       : i == 1 ? t->insurer : t->liability);
        }
        yajl_tree_free(root);
    }
}

/* The month's statement: its TOTAL rows are the ledger's (every claim was
 * recorded today); a person's history shows a cancellation with its memo. */
static void check_export_history(apr_pool_t *p, const truth_t *t)
{
    const char *day = hmb_rollup_day_of(p, apr_time_now(),
                                        HMB_ROLLUP_OFFSET_DEFAULT);
    const char *dir = apr_pstrcat(p, wl.top, "/export", NULL);
    const char *total, *psn;
    char *csv;
    apr_size_t len;
    hmb_ledger_t *l;
    char *out;

    hmbctl(p, "export", "--month", apr_pstrndup(p, day, 7), "--plan-code",
           "YCHMB", "--year", "2024", "--out", dir, NULL);
    assert_no_error(hmb_read_file(p, apr_pstrcat(p, dir,
                                                 "/claims-by-hospital.csv",
                                                 NULL), 1 << 20, &csv,
                                  &len));
    total = hmb_it_line_with(p, csv, "TOTAL,", NULL);
    assert_non_null(total);
    assert_non_null(strstr(total, apr_psprintf(p, "TOTAL,%s,", t->claims)));
    assert_non_null(strstr(total, apr_psprintf(p, ",%s,%s,", t->reversals,
                                               t->payout)));
    assert_no_error(hmb_read_file(p, apr_pstrcat(p, dir, "/enrollments.csv",
                                                 NULL), 1 << 20, &csv,
                                  &len));
    assert_non_null(strstr(csv, apr_psprintf(p, "TOTAL,,24,%s\n",
                                             t->premium)));

    assert_no_error(hmb_ledger_open(p, env.spec, &l));
    psn = APR_ARRAY_IDX(wl_rows_of(p, l, "SELECT psn_no FROM hmb_claim"
                                   " WHERE kind = 'R' LIMIT 1"), 0,
                        const char **)[0];
    out = hmbctl(p, "report", "--plan-code", "YCHMB", "--year", "2024",
                 "--by", "flag", "--flags", NULL);
    assert_non_null(strstr(out, "\tlarge_claim"));
    assert_non_null(strstr(out, "\nlarge_claim "));
    out = hmbctl(p, "history", psn, NULL);
    assert_non_null(strstr(out, "\treversal\t"));
    assert_non_null(strstr(out, "撤销结算"));
}

/* whatif: the plan in force reproduces the year to the fen; a candidate
 * with a higher ratio pays more. */
static void check_whatif(apr_pool_t *p, const truth_t *t)
{
    const char *act = hmb_money_str(p, apr_atoi64(t->payout));
    char *out = hmbctl(p, "whatif", "--plan", PLAN, "--year", "2024", NULL);
    const char *line = hmb_it_line_with(p, out, "TOTAL ", NULL);

    assert_non_null(line);
    if (!strstr(line, apr_psprintf(p, " %s ", act))
        || !strstr(line, " 0.00")) {
        fail_msg("whatif with the plan in force: %s (actual %s)", line, act);
    }
    assert_non_null(strstr(line, apr_psprintf(p, " %s %16s", act, act)));
    out = hmbctl(p, "whatif", "--plan", FIXDIR "/plan-candidate.xml", NULL);
    line = hmb_it_line_with(p, out, "TOTAL ", NULL);
    assert_non_null(line);
    assert_null(strstr(line, apr_psprintf(p, " %s %16s", act, act)));
}

static void test_dashboard_equals_claims(void **state)
{
    apr_pool_t *p = *state;
    run_cfg_t cfg;
    run_t *r;
    figures_t f;
    truth_t t;
    apr_time_t t0;
    int i;

    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "dashboard";
    cfg.phase = 'B';
    cfg.insts[0] = 0;
    cfg.insts[1] = 1;
    cfg.ninst = 2;
    cfg.first_person = 0;
    cfg.npersons = 24;
    cfg.settlements = env.settlements;
    r = wl_run_make(p, &cfg);
    memset(&f, 0, sizeof(f));
    t0 = apr_time_now();
    wl_run_workload(p, r);
    wl_run_answers(r, t0, &f);
    assert_true(f.dups > 0 && f.cancels > 0);
    wl_run_free(r);

    memset(&t, 0, sizeof(t));
    direct_sums(p, &t);
    assert_true(apr_atoi64(t.ineligible) > 0);
    assert_true(apr_atoi64(t.reversals) > 0);
    assert_int_equal(apr_hash_count(t.hospital), 2);
    assert_true(apr_hash_count(t.insurer) >= 2);
    assert_true(apr_atoi64(t.large) > 0);

    for (i = 0; i < 2; i++) {
        check_json(p, i, &t);
        check_prometheus(p, i, &t);
    }
    check_html(p, &t);
    check_reports(p, &t);
    check_export_history(p, &t);
    check_whatif(p, &t);

    hmbctl(p, "rollup", "check", NULL);
}

/* mod_status keeps its Huiminbao section (the module's counters). */
static void test_mod_status_section(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r;

    r = hmb_it_get(p, wl.inst[0].port, "/server-status");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "<h2>Huiminbao</h2>"));
    r = hmb_it_get(p, wl.inst[0].port, "/server-status?auto");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\nHuiminbaoMessages: "));
}

/* A query the handler does not know is refused, not guessed at. */
static void test_bad_query(void **state)
{
    apr_pool_t *p = *state;
    hmb_http_response_t *r;

    r = hmb_it_get(p, wl.inst[0].port, "/huiminbao-status?format=xml");
    assert_int_equal(r->status, 400);
    r = hmb_it_get(p, wl.inst[0].port, "/huiminbao-status?day=2024-13-40");
    assert_int_equal(r->status, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HMB_IT_TEST(test_dashboard_equals_claims),
        HMB_IT_TEST(test_mod_status_section),
        HMB_IT_TEST(test_bad_query),
    };

    return hmb_it_main("integration: dashboard", tests, group_setup,
                       hmb_it_group_teardown) ? 1 : 0;
}
