/* The rollups (hmb_rollup.h): what one claim adds, local days, and on a
 * real SQLite file and, when HMB_TEST_PGSQL names a database, on
 * PostgreSQL: kept in the claim's transaction, equal to a direct sum over
 * the claims, and a rebuild that agrees exactly (and finds a tampered
 * row). */
#include "hmb_test.h"
#include "hmb_rollup.h"

typedef struct {
    apr_pool_t *pool;
    const char *spec;
} rt_state_t;

/* ---- pure ------------------------------------------------------------------ */

static hmb_claim_t *claim(apr_pool_t *p, char kind, const char *id,
                          hmb_stas_e stas, hmb_fen_t pay)
{
    hmb_claim_t *c = apr_pcalloc(p, sizeof(*c));

    c->hmb_setl_id = id;
    c->kind = kind;
    c->setl_id = id + 4;
    c->psn_no = "36000000000000000001";
    c->fixmedins_code = "H36090200001";
    c->setl_time = "2024-05-01 10:00:00";
    c->plan_code = "YCHMB";
    c->plan_year = 2024;
    c->plan_ver = 1;
    c->stas = stas;
    c->hmb_pay = pay;
    c->origin = "desk";
    c->liabs = apr_array_make(p, 2, sizeof(hmb_claim_liab_t));
    c->insurers = apr_array_make(p, 2, sizeof(hmb_insurer_result_t));
    return c;
}

static void liab(hmb_claim_t *c, const char *code, hmb_fen_t elig,
                 hmb_fen_t dedc, hmb_ratio_t prop, hmb_fen_t pay)
{
    hmb_claim_liab_t *l = apr_array_push(c->liabs);

    memset(l, 0, sizeof(*l));
    l->liab_code = code;
    l->pool = "A";
    l->elig_amt = elig;
    l->dedc_amt = dedc;
    l->pay_prop = prop;
    l->pay_amt = pay;
    l->cap = 100000000;
}

static void insurer(hmb_claim_t *c, const char *code, hmb_fen_t pay)
{
    hmb_insurer_result_t *i = apr_array_push(c->insurers);

    i->insurer_code = code;
    i->share = 5000;
    i->pay_amt = pay;
}

static const hmb_rollup_row_t *row_of(const apr_array_header_t *rows,
                                      hmb_dim_e dim, const char *grp)
{
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const hmb_rollup_row_t *r = &APR_ARRAY_IDX(rows, i,
                                                   hmb_rollup_row_t);
        if (r->dim == dim && !strcmp(r->grp, grp)) {
            return r;
        }
    }
    fail_msg("no row %s/%s", hmb_dim_name(dim), grp);
    return NULL;
}

static void test_rows_of_a_paid_claim(void **state)
{
    apr_pool_t *p = *state;
    hmb_claim_t *c = claim(p, 'S', "HMB-S1", HMB_STAS_PAID, 1210000);
    hmb_rollup_ctx_t x = {"2024-05-01", "360902", "large_claim,readmission",
                          NULL};
    apr_array_header_t *rows;
    const hmb_rollup_row_t *r;
    int i;

    /* inscope: 28000 - 15000 at 70% = 9100.00; outscope capped: 3000.00
     * due, 2500.00 left under its cap */
    liab(c, "inscope", 2800000, 1500000, 7000, 910000);
    liab(c, "outscope", 2000000, 1500000, 6000, 250000);
    insurer(c, "PICC", 580000);
    insurer(c, "CLIC", 580000);
    c->hmb_pay = 1160000;
    rows = hmb_rollup_rows(p, c, &x);
    /* all, hospital, county, 2 flags, 2 liabilities, 2 insurers */
    assert_int_equal(rows->nelts, 9);
    for (i = 1; i < rows->nelts; i++) {
        const hmb_rollup_row_t *a = &APR_ARRAY_IDX(rows, i - 1,
                                                   hmb_rollup_row_t);
        const hmb_rollup_row_t *b = &APR_ARRAY_IDX(rows, i,
                                                   hmb_rollup_row_t);
        /* key order, every writer the same */
        assert_true(a->dim < b->dim
                    || (a->dim == b->dim && strcmp(a->grp, b->grp) < 0));
    }
    r = row_of(rows, HMB_DIM_ALL, "");
    assert_int_equal(r->f.v[HMB_FIG_CLAIMS], 1);
    assert_int_equal(r->f.v[HMB_FIG_PAID], 1);
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], 1160000);
    assert_int_equal(r->f.v[HMB_FIG_ELIG], 4800000);
    assert_int_equal(r->f.v[HMB_FIG_DEDC], 3000000);
    assert_int_equal(r->f.v[HMB_FIG_DEDC_HITS], 2);
    assert_int_equal(r->f.v[HMB_FIG_CAP_HITS], 1);
    assert_int_equal(r->f.v[HMB_FIG_FLAGGED], 1);
    assert_int_equal(r->f.v[HMB_FIG_OWED], 0);
    assert_string_equal(r->day, "2024-05-01");
    r = row_of(rows, HMB_DIM_COUNTY, "360902");
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], 1160000);
    r = row_of(rows, HMB_DIM_FLAG, "readmission");
    assert_int_equal(r->f.v[HMB_FIG_CLAIMS], 1);
    r = row_of(rows, HMB_DIM_LIABILITY, "outscope");
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], 250000);
    assert_int_equal(r->f.v[HMB_FIG_CAP_HITS], 1);
    r = row_of(rows, HMB_DIM_LIABILITY, "inscope");
    assert_int_equal(r->f.v[HMB_FIG_CAP_HITS], 0);
    r = row_of(rows, HMB_DIM_INSURER, "CLIC");
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], 580000);
}

static void test_rows_of_others(void **state)
{
    apr_pool_t *p = *state;
    hmb_claim_t *c = claim(p, 'S', "HMB-S2", HMB_STAS_INELIGIBLE, 0);
    hmb_rollup_ctx_t x = {"2024-05-02", "", "", NULL};
    apr_array_header_t *rows;
    const hmb_rollup_row_t *r;

    c->rea = HMB_REA_NOT_ENROLLED;
    rows = hmb_rollup_rows(p, c, &x);
    assert_int_equal(rows->nelts, 4);
    r = row_of(rows, HMB_DIM_REASON, "not_enrolled");
    assert_int_equal(r->f.v[HMB_FIG_INELIGIBLE], 1);
    assert_int_equal(r->f.v[HMB_FIG_PAID], 0);

    /* paid after the desk, then reversed: owed, then owed no more */
    c = claim(p, 'S', "HMB-S3", HMB_STAS_PAID, 5000);
    c->origin = "replay";
    liab(c, "inscope", 10000, 2000, 6250, 5000);
    rows = hmb_rollup_rows(p, c, &x);
    r = row_of(rows, HMB_DIM_ALL, "");
    assert_int_equal(r->f.v[HMB_FIG_REPLAYED], 1);
    assert_int_equal(r->f.v[HMB_FIG_OWED_CLAIMS], 1);
    assert_int_equal(r->f.v[HMB_FIG_OWED], 5000);
    c = claim(p, 'R', "HMBR-S3", HMB_STAS_REVERSED, -5000);
    liab(c, "inscope", -10000, -2000, 6250, -5000);
    x.reversed_origin = "replay";
    x.flags = "readmission";        /* a reversal carries none */
    rows = hmb_rollup_rows(p, c, &x);
    assert_int_equal(rows->nelts, 4);
    r = row_of(rows, HMB_DIM_ALL, "");
    assert_int_equal(r->f.v[HMB_FIG_REVERSALS], 1);
    assert_int_equal(r->f.v[HMB_FIG_CLAIMS], 0);
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], -5000);
    assert_int_equal(r->f.v[HMB_FIG_REVERSED], 5000);
    assert_int_equal(r->f.v[HMB_FIG_OWED_CLAIMS], -1);
    assert_int_equal(r->f.v[HMB_FIG_OWED], -5000);
    assert_int_equal(r->f.v[HMB_FIG_CAP_HITS], 0);

    /* a marker is nobody's figure */
    c = claim(p, 'M', "HMBM-S4", HMB_STAS_NO_CLAIM, 0);
    assert_int_equal(hmb_rollup_rows(p, c, &x)->nelts, 0);
}

static void test_local_days(void **state)
{
    apr_pool_t *p = *state;
    int m = 0;

    assert_null(hmb_rollup_offset_parse("+08:00", &m));
    assert_int_equal(m, 480);
    assert_null(hmb_rollup_offset_parse("-05:30", &m));
    assert_int_equal(m, -330);
    assert_null(hmb_rollup_offset_parse("0", &m));
    assert_int_equal(m, 0);
    assert_non_null(hmb_rollup_offset_parse("8", &m));
    assert_non_null(hmb_rollup_offset_parse("+15:00", &m));
    assert_non_null(hmb_rollup_offset_parse("+08:60", &m));
    /* 15:59:59 UTC is still the day in Beijing; 16:00 the next */
    assert_string_equal(hmb_rollup_day(p, "2024-12-31T15:59:59Z", 480),
                        "2024-12-31");
    assert_string_equal(hmb_rollup_day(p, "2024-12-31T16:00:00Z", 480),
                        "2025-01-01");
    assert_string_equal(hmb_rollup_day(p, "2024-03-01T03:00:00Z", -300),
                        "2024-02-29");
    assert_null(hmb_rollup_day(p, "2024-03-01 03:00:00", 480));
    assert_string_equal(hmb_rollup_day_add(p, "2024-03-01", -1),
                        "2024-02-29");
    assert_string_equal(hmb_rollup_day_add(p, "2024-12-31", 1),
                        "2025-01-01");
}

/* ---- on a ledger ------------------------------------------------------------ */

static int setup_sqlite(void **state)
{
    rt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->spec = apr_pstrcat(st->pool, "sqlite3:",
                           hmb_test_tmpdir(st->pool, "rollup"),
                           "/ledger.db", NULL);
    *state = st;
    return 0;
}

static int setup_pgsql(void **state)
{
    rt_state_t *st = calloc(1, sizeof(*st));

    apr_pool_create(&st->pool, NULL);
    st->spec = hmb_test_pgsql_fresh(st->pool);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    rt_state_t *st = *state;

    apr_pool_destroy(st->pool);
    free(st);
    return 0;
}

static hmb_ledger_t *rt_open(rt_state_t *st)
{
    hmb_ledger_t *l = NULL;

    if (!st->spec) {
        skip();
    }
    assert_no_error(hmb_ledger_open(st->pool, st->spec, &l));
    return l;
}

static const char *one_value(rt_state_t *st, hmb_ledger_t *l,
                             const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v;

    if (apr_dbd_select(l->driver, st->pool, l->handle, &res, sql, 0)) {
        fail_msg("%s: %s", sql, apr_dbd_error(l->driver, l->handle, 1));
    }
    assert_int_equal(apr_dbd_get_row(l->driver, st->pool, res, &row, -1), 0);
    v = apr_pstrdup(st->pool, apr_dbd_get_entry(l->driver, row, 0));
    while (apr_dbd_get_row(l->driver, st->pool, res, &row, -1) == 0) {
    }
    return v && *v ? v : "0";
}

static void record(hmb_ledger_t *l, apr_pool_t *p, hmb_claim_t *c)
{
    assert_no_error(hmb_ledger_begin(l, p));
    assert_no_error(hmb_ledger_record_claim(l, p, c));
    assert_no_error(hmb_ledger_commit(l, p));
}

/* A few claims of every kind, two hospitals, two counties. */
static void record_some(hmb_ledger_t *l, apr_pool_t *p)
{
    hmb_claim_t *c;
    int i;

    for (i = 0; i < 6; i++) {
        const char *id = apr_psprintf(p, "HMB-S%d", i);

        c = claim(p, 'S', id, i == 4 ? HMB_STAS_INELIGIBLE : HMB_STAS_PAID,
                  0);
        c->fixmedins_code = i % 2 ? "H36098100001" : "H36090200001";
        c->admdvs = i % 3 ? "360902" : "360981";
        c->psn_no = apr_psprintf(p, "3600000000000000000%d", i);
        c->origin = i == 5 ? "replay" : "desk";
        c->flags = i == 1 ? "large_claim" : NULL;
        if (i == 4) {
            c->rea = HMB_REA_VISIT_NOT_COVERED;
        }
        else {
            hmb_fen_t pay = 10000 * (i + 1);

            liab(c, "inscope", 30000 * (i + 1), 5000, 7000, pay - 1000);
            liab(c, "outscope", 2000, 0, 5000, 1000);
            insurer(c, "PICC", pay / 2);
            insurer(c, "CLIC", pay - pay / 2);
            c->hmb_pay = pay;
        }
        record(l, p, c);
    }
    /* the replayed one (owed) and a desk one reversed */
    for (i = 3; i <= 5; i += 2) {
        hmb_fen_t pay = 10000 * (i + 1);

        c = claim(p, 'R', apr_psprintf(p, "HMBR-S%d", i), HMB_STAS_REVERSED,
                  -pay);
        c->reverses = apr_psprintf(p, "HMB-S%d", i);
        c->psn_no = apr_psprintf(p, "3600000000000000000%d", i);
        c->fixmedins_code = i % 2 ? "H36098100001" : "H36090200001";
        liab(c, "inscope", -30000 * (i + 1), -5000, 7000, -(pay - 1000));
        liab(c, "outscope", -2000, 0, 5000, -1000);
        insurer(c, "PICC", -(pay / 2));
        insurer(c, "CLIC", -(pay - pay / 2));
        record(l, p, c);
    }
}

static apr_int64_t fig_total(const apr_array_header_t *rows, hmb_fig_e f)
{
    apr_int64_t sum = 0;
    int i;

    for (i = 0; i < rows->nelts; i++) {
        sum += APR_ARRAY_IDX(rows, i, hmb_rollup_row_t).f.v[f];
    }
    return sum;
}

static void test_kept_with_the_claims(void **state)
{
    rt_state_t *st = *state;
    hmb_ledger_t *l = rt_open(st);
    apr_pool_t *p = st->pool;
    apr_array_header_t *rows, *diffs, *list;
    const hmb_rollup_row_t *r;
    apr_int64_t n = 0;
    int d;

    record_some(l, p);
    /* the same as a direct sum over the claims */
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_ALL, 0, &rows));
    assert_int_equal(rows->nelts, 1);
    r = &APR_ARRAY_IDX(rows, 0, hmb_rollup_row_t);
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT],
                     apr_atoi64(one_value(st, l, "SELECT SUM(hmb_pay) FROM"
                                          " hmb_claim")));
    assert_int_equal(r->f.v[HMB_FIG_CLAIMS], 6);
    assert_int_equal(r->f.v[HMB_FIG_PAID], 5);
    assert_int_equal(r->f.v[HMB_FIG_INELIGIBLE], 1);
    assert_int_equal(r->f.v[HMB_FIG_REVERSALS], 2);
    assert_int_equal(r->f.v[HMB_FIG_REPLAYED], 1);
    /* the replayed claim was reversed: nothing owed any more */
    assert_int_equal(r->f.v[HMB_FIG_OWED_CLAIMS], 0);
    assert_int_equal(r->f.v[HMB_FIG_OWED], 0);
    assert_int_equal(r->f.v[HMB_FIG_FLAGGED], 1);
    assert_int_equal(r->f.v[HMB_FIG_ELIG],
                     apr_atoi64(one_value(st, l, "SELECT SUM(elig_amt) FROM"
                                          " hmb_claim_liab")));
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_LIABILITY, 0, &rows));
    assert_int_equal(rows->nelts, 2);
    assert_int_equal(fig_total(rows, HMB_FIG_PAYOUT),
                     apr_atoi64(one_value(st, l, "SELECT SUM(pay_amt) FROM"
                                          " hmb_claim_liab")));
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_INSURER, 0, &rows));
    assert_int_equal(fig_total(rows, HMB_FIG_PAYOUT),
                     apr_atoi64(one_value(st, l, "SELECT SUM(pay_amt) FROM"
                                          " hmb_claim_insurer")));
    /* a reversal counts in its claim's county */
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_COUNTY, 0, &rows));
    assert_int_equal(rows->nelts, 2);
    r = &APR_ARRAY_IDX(rows, 0, hmb_rollup_row_t);
    assert_string_equal(r->grp, "360902");
    /* S1 20000, S2 30000, S4 0, S5 60000 - 60000 */
    assert_int_equal(r->f.v[HMB_FIG_PAYOUT], 50000);
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_REASON, 0, &rows));
    assert_int_equal(rows->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, hmb_rollup_row_t).grp,
                        "visit_not_covered");
    /* by day: all of them today, in local time */
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_ALL, 1, &rows));
    assert_int_equal(rows->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, hmb_rollup_row_t).day,
                        hmb_rollup_day_of(p, apr_time_now(),
                                          HMB_ROLLUP_OFFSET_DEFAULT));
    /* lists */
    d = 0;
    {
        apr_array_header_t *days = apr_array_make(p, 1, sizeof(char *));

        APR_ARRAY_PUSH(days, const char *) =
            APR_ARRAY_IDX(rows, 0, hmb_rollup_row_t).day;
        assert_no_error(hmb_rollup_largest(l, p, "YCHMB", 2024, days, 3,
                                           &list));
        assert_int_equal(list->nelts, 3);
        assert_int_equal(APR_ARRAY_IDX(list, 0, hmb_rollup_claim_t).hmb_pay,
                         60000);
        assert_int_equal(APR_ARRAY_IDX(list, 2, hmb_rollup_claim_t).hmb_pay,
                         30000);
    }
    assert_no_error(hmb_rollup_flagged(l, p, "YCHMB", 2024, NULL, NULL, 10,
                                       &list));
    assert_int_equal(list->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(list, 0, hmb_rollup_claim_t).flags,
                        "large_claim");
    (void)d;

    /* the rebuild agrees exactly, finds a tampered row, mends it */
    assert_no_error(hmb_rollup_rebuild(l, p, HMB_ROLLUP_OFFSET_DEFAULT, 0,
                                       &diffs, &n));
    assert_int_equal(n, 8);
    assert_int_equal(diffs->nelts, 0);
    {
        int nrows;

        assert_int_equal(apr_dbd_query(l->driver, l->handle, &nrows,
                                       "UPDATE hmb_rollup SET payout_fen ="
                                       " payout_fen + 1 WHERE dim ="
                                       " 'insurer' AND grp = 'CLIC'"), 0);
        assert_int_equal(apr_dbd_query(l->driver, l->handle, &nrows,
                                       "DELETE FROM hmb_rollup WHERE dim ="
                                       " 'flag'"), 0);
    }
    assert_no_error(hmb_rollup_rebuild(l, p, HMB_ROLLUP_OFFSET_DEFAULT, 0,
                                       &diffs, &n));
    assert_int_equal(diffs->nelts, 2);
    assert_no_error(hmb_rollup_rebuild(l, p, HMB_ROLLUP_OFFSET_DEFAULT, 1,
                                       &diffs, &n));
    assert_no_error(hmb_rollup_rebuild(l, p, HMB_ROLLUP_OFFSET_DEFAULT, 0,
                                       &diffs, &n));
    assert_int_equal(diffs->nelts, 0);
}

/* A claim whose rollup cannot be written is not recorded either. */
static void test_same_transaction(void **state)
{
    rt_state_t *st = *state;
    hmb_ledger_t *l = rt_open(st);
    apr_pool_t *p = st->pool;
    hmb_claim_t *c = claim(p, 'S', "HMB-S9", HMB_STAS_PAID, 100);
    const char *err;
    int nrows;

    liab(c, "inscope", 1000, 0, 1000, 100);
    /* the tag of this claim is there already: its insert fails */
    assert_int_equal(apr_dbd_query(l->driver, l->handle, &nrows,
                                   "INSERT INTO hmb_claim_tag VALUES"
                                   " ('HMB-S9', 'YCHMB', 2024, '2024-01-01',"
                                   " '', 0, '')"), 0);
    assert_no_error(hmb_ledger_begin(l, p));
    /* on PostgreSQL the insert waits for the commit (hmb_ledger_pipe.c),
     * which then fails in its place */
    err = hmb_ledger_record_claim(l, p, c);
    if (!err) {
        err = hmb_ledger_commit(l, p);
    }
    assert_non_null(err);
    hmb_ledger_rollback(l, p);
    assert_string_equal(one_value(st, l, "SELECT COUNT(*) FROM hmb_claim"),
                        "0");
    assert_string_equal(one_value(st, l, "SELECT COUNT(*) FROM hmb_rollup"),
                        "0");
}

/* A row of hmb_rollup with claims and payout only. */
static void raw_row(hmb_ledger_t *l, const char *day, const char *dim,
                    const char *grp, int slot, int claims, int payout)
{
    int nrows;
    const char *sql = apr_psprintf(l->pool,
        "INSERT INTO hmb_rollup (plan_code, plan_year, day, dim, grp, slot,"
        " claims, paid, ineligible, corrections, reversals, payout_fen,"
        " reversed_fen, elig_fen, dedc_fen, dedc_hits, cap_hits, replayed,"
        " owed_claims, owed_fen, flagged) VALUES ('YCHMB', 2024, '%s', '%s',"
        " '%s', %d, %d, %d, 0, 0, 0, %d, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
        day, dim, grp, slot, claims, claims, payout);

    assert_int_equal(apr_dbd_query(l->driver, l->handle, &nrows, sql), 0);
}

/* The slots of the days before the one given are folded into one row per
 * group; that day's and later stay; every read is the same after. */
static void test_fold(void **state)
{
    rt_state_t *st = *state;
    hmb_ledger_t *l = rt_open(st);
    apr_pool_t *p = st->pool;
    apr_array_header_t *before, *after;
    int folded = -1, i;

    raw_row(l, "2024-01-02", "all", "", 0, 1, 100);
    raw_row(l, "2024-01-02", "all", "", 3, 2, 200);
    raw_row(l, "2024-01-02", "all", "", 7, 4, 400);
    raw_row(l, "2024-01-02", "hospital", "H1", 7, 4, 400);
    raw_row(l, "2024-06-01", "all", "", 5, 8, 800);
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_ALL, 1, &before));

    assert_no_error(hmb_rollup_fold(l, p, "2024-06-01", &folded));
    assert_int_equal(folded, 2);
    assert_string_equal(one_value(st, l, "SELECT COUNT(*) FROM hmb_rollup"
                                  " WHERE day = '2024-01-02'"), "2");
    assert_string_equal(one_value(st, l, "SELECT claims FROM hmb_rollup"
                                  " WHERE day = '2024-01-02' AND dim = 'all'"
                                  " AND slot = 0"), "7");
    assert_string_equal(one_value(st, l, "SELECT payout_fen FROM hmb_rollup"
                                  " WHERE dim = 'hospital' AND slot = 0"),
                        "400");
    assert_string_equal(one_value(st, l, "SELECT slot FROM hmb_rollup"
                                  " WHERE day = '2024-06-01'"), "5");
    assert_no_error(hmb_rollup_read(l, p, "YCHMB", 2024, NULL, NULL,
                                    HMB_DIM_ALL, 1, &after));
    assert_int_equal(after->nelts, before->nelts);
    for (i = 0; i < before->nelts; i++) {
        const hmb_rollup_row_t *a = &APR_ARRAY_IDX(before, i,
                                                   hmb_rollup_row_t);
        const hmb_rollup_row_t *b = &APR_ARRAY_IDX(after, i,
                                                   hmb_rollup_row_t);

        assert_string_equal(a->day, b->day);
        assert_memory_equal(a->f.v, b->f.v, sizeof(a->f.v));
    }
    assert_no_error(hmb_rollup_fold(l, p, "2024-06-01", &folded));
    assert_int_equal(folded, 0);
}

#define T(f, s) cmocka_unit_test_setup_teardown(f, s, teardown)

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test_setup_teardown(test_rows_of_a_paid_claim,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_rows_of_others,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_local_days,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };
    const struct CMUnitTest pgsql[] = {
        T(test_kept_with_the_claims, setup_pgsql),
        T(test_same_transaction, setup_pgsql),
        T(test_fold, setup_pgsql),
    };
    const struct CMUnitTest sqlite[] = {
        T(test_kept_with_the_claims, setup_sqlite),
        T(test_same_transaction, setup_sqlite),
        T(test_fold, setup_sqlite),
    };
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    atexit(apr_terminate);
    failed = cmocka_run_group_tests_name("rollup", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("rollup-pgsql", pgsql, NULL, NULL);
    failed += cmocka_run_group_tests_name("rollup-sqlite", sqlite, NULL,
                                          NULL);
    return failed ? 1 : 0;
}
