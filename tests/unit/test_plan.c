/* Plan files: loading, schema validation, meaning checks, plan sets.
 * Expected values are read off the fixture files by hand; line numbers
 * are those libxml2 reports for an element: the line on which its start
 * tag ends. */
#include "hmb_test.h"
#include "hmb_plan.h"
#include "hmb_xml.h"

#include <unistd.h>
#include <libxml/parser.h>

#define PLANS(rel) HMB_FIXTURE("plans/" rel)

static const hmb_liability_t *liab(const hmb_plan_t *pl, int i)
{
    assert_true(i < pl->liabilities->nelts);
    return &APR_ARRAY_IDX(pl->liabilities, i, hmb_liability_t);
}

static const hmb_insurer_t *insurer(const hmb_plan_t *pl, int i)
{
    assert_true(i < pl->insurers->nelts);
    return &APR_ARRAY_IDX(pl->insurers, i, hmb_insurer_t);
}

static const char *code_name(const hmb_liability_t *l, const char *code)
{
    assert_non_null(l->codes);
    return apr_hash_get(l->codes, code, APR_HASH_KEY_STRING);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

static hmb_plan_t *load_ok(apr_pool_t *p, const char *path)
{
    hmb_plan_t *pl = NULL;
    const char *err = hmb_plan_load(p, path, &pl);

    if (err) {
        fail_msg("%s", err);
    }
    assert_non_null(pl);
    return pl;
}

/* The plan of DOMAIN.md's worked example. */
static void test_worked_example(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = load_ok(p, HMB_EXAMPLE("plan.xml"));
    const hmb_medtype_t *mt;
    const hmb_liability_t *l;

    assert_string_equal(pl->path, HMB_EXAMPLE("plan.xml"));
    assert_string_equal(pl->code, "YCHMB");
    assert_string_equal(pl->name, "宜春惠民保");
    assert_int_equal(pl->year, 2024);
    assert_int_equal(pl->version, 1);
    assert_string_equal(pl->from, "2024-01-01");
    assert_string_equal(pl->to, "2024-12-31");
    assert_int_equal(pl->has_cap, 0);

    assert_int_equal(apr_hash_count(pl->med_types), 6);
    mt = apr_hash_get(pl->med_types, "21", APR_HASH_KEY_STRING);
    assert_non_null(mt);
    assert_string_equal(mt->code, "21");
    assert_null(mt->diseases);
    mt = apr_hash_get(pl->med_types, "14", APR_HASH_KEY_STRING);
    assert_non_null(mt);
    assert_non_null(mt->diseases);
    assert_int_equal(apr_hash_count(mt->diseases), 1);
    assert_non_null(apr_hash_get(mt->diseases, "M03900",
                                 APR_HASH_KEY_STRING));
    assert_null(apr_hash_get(pl->med_types, "11", APR_HASH_KEY_STRING));
    assert_int_equal(pl->all_institutions, 1);
    assert_int_equal(apr_hash_count(pl->institutions), 0);

    assert_int_equal(pl->liabilities->nelts, 2);
    l = liab(pl, 0);
    assert_string_equal(l->code, "inscope");
    assert_null(l->name);
    assert_int_equal(l->basis, HMB_BASIS_INSCOPE_SELFPAY);
    assert_string_equal(l->pool, "A");
    assert_int_equal(l->deductible, 1500000);
    assert_int_equal(l->ratio, 7000);
    assert_int_equal(l->has_preexisting_ratio, 1);
    assert_int_equal(l->preexisting_ratio, 3500);
    assert_int_equal(l->cap, 100000000);
    assert_null(l->codes);
    assert_null(l->codes_file);
    assert_int_equal(l->classes->nelts, 0);
    assert_int_equal(l->line, 14);
    l = liab(pl, 1);
    assert_string_equal(l->code, "outscope");
    assert_int_equal(l->basis, HMB_BASIS_OUTSCOPE_SELFPAY);
    assert_string_equal(l->pool, "B");
    assert_int_equal(l->deductible, 1500000);
    assert_int_equal(l->ratio, 6000);
    assert_int_equal(l->has_preexisting_ratio, 0);
    assert_int_equal(l->cap, 100000000);
    assert_int_equal(l->line, 16);

    assert_int_equal(pl->insurers->nelts, 3);
    assert_string_equal(insurer(pl, 0)->code, "PICC");
    assert_string_equal(insurer(pl, 0)->name, "中国人保");
    assert_int_equal(insurer(pl, 0)->share, 4000);
    assert_string_equal(insurer(pl, 1)->code, "CLIC");
    assert_string_equal(insurer(pl, 1)->name, "中国人寿");
    assert_int_equal(insurer(pl, 1)->share, 3500);
    assert_string_equal(insurer(pl, 2)->code, "PAIC");
    assert_string_equal(insurer(pl, 2)->name, "中国平安");
    assert_int_equal(insurer(pl, 2)->share, 2500);
}

/* The sample shipped in conf/plans, with its catalog and drug list. */
static void test_sample_plan(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = load_ok(p, HMB_SRCDIR "/conf/plans/yichun-2024.xml");
    const hmb_liability_t *l;
    const hmb_class_t *c;
    const hmb_medtype_t *mt;

    assert_string_equal(pl->code, "YCHMB");
    assert_int_equal(pl->year, 2024);
    assert_int_equal(pl->has_cap, 0);
    mt = apr_hash_get(pl->med_types, "14", APR_HASH_KEY_STRING);
    assert_non_null(mt);
    assert_int_equal(apr_hash_count(mt->diseases), 3);
    assert_int_equal(pl->liabilities->nelts, 3);

    l = liab(pl, 0);
    assert_string_equal(l->code, "inscope");
    assert_string_equal(l->name, "医保内自付");
    assert_int_equal(l->basis, HMB_BASIS_INSCOPE_SELFPAY);
    assert_int_equal(l->preexisting_ratio, 3500);
    assert_int_equal(l->classes->nelts, 1);
    c = hmb_liability_class(l, "hardship");
    assert_non_null(c);
    assert_int_equal(c->has_deductible, 1);
    assert_int_equal(c->deductible, 750000);
    assert_int_equal(c->has_ratio, 1);
    assert_int_equal(c->ratio, 8000);

    l = liab(pl, 1);
    assert_string_equal(l->code, "outscope");
    assert_int_equal(l->basis, HMB_BASIS_OUTSCOPE_CATALOG);
    assert_int_equal(l->without_detail_all, 1);
    assert_int_equal(l->deductible, 1500000);
    assert_int_equal(l->ratio, 6000);
    assert_true(ends_with(l->codes_file, "/conf/plans/catalog-2024.csv"));
    assert_int_equal(l->codes_file[0], '/');
    assert_int_equal(apr_hash_count(l->codes), 16);
    assert_string_equal(code_name(l, "C1402020210010010284"),
                        "人工晶状体（非球面）");
    assert_string_equal(code_name(l, "XL01CDZ025B002010100421"),
                        "注射用紫杉醇（白蛋白结合型）");
    assert_null(code_name(l, "med_list_codg"));
    assert_null(code_name(l, "XL01XCP135B002010101832"));

    l = liab(pl, 2);
    assert_string_equal(l->code, "drug");
    assert_int_equal(l->basis, HMB_BASIS_LIST);
    assert_int_equal(l->deductible, 0);
    assert_int_equal(l->ratio, 7000);
    assert_true(ends_with(l->codes_file, "/conf/plans/drugs-2024.csv"));
    assert_int_equal(apr_hash_count(l->codes), 12);
    assert_string_equal(code_name(l, "XL01XCP135B002010101832"),
                        "帕博利珠单抗注射液");

    assert_int_equal(pl->insurers->nelts, 3);
    assert_int_equal(insurer(pl, 0)->share + insurer(pl, 1)->share
                     + insurer(pl, 2)->share, HMB_RATIO_ONE);
}

/* A CSV with a byte-order mark, CRLF, quoted names and a blank line. */
static void test_good_full(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = load_ok(p, PLANS("good-full.xml"));
    const hmb_liability_t *l;

    assert_int_equal(pl->liabilities->nelts, 3);
    assert_int_equal(liab(pl, 0)->line, 9);
    assert_int_equal(liab(pl, 1)->line, 12);
    assert_int_equal(liab(pl, 2)->line, 13);
    assert_string_equal(liab(pl, 2)->name, "特药");
    assert_int_equal(liab(pl, 2)->cap, 50000000);

    l = liab(pl, 1);
    assert_int_equal(l->without_detail_all, 0);
    assert_int_equal(apr_hash_count(l->codes), 3);
    assert_string_equal(code_name(l, "XL01CDZ025B002010100421"),
                        "注射用紫杉醇（白蛋白结合型）");
    assert_string_equal(code_name(l, "C1402020210010010284"),
                        "人工晶状体,非球面");
    assert_string_equal(code_name(l, "003105010020000"),
                        "达芬奇机器人辅助手术费 \"单侧\"");
    assert_true(ends_with(l->codes_file, "/tests/fixtures/plans/catalog.csv"));
    assert_int_equal(apr_hash_count(liab(pl, 2)->codes), 2);
}

static void test_good_explicit(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = load_ok(p, PLANS("good-explicit.xml"));
    const hmb_liability_t *l;
    const hmb_class_t *c;

    assert_string_equal(pl->code, "LNHMB");
    assert_int_equal(pl->year, 2025);
    assert_int_equal(pl->version, 2);
    assert_string_equal(pl->to, "2026-02-28");
    assert_int_equal(pl->has_cap, 1);
    assert_int_equal(pl->cap, 250000050);
    assert_int_equal(pl->all_institutions, 0);
    assert_int_equal(apr_hash_count(pl->institutions), 2);
    assert_non_null(apr_hash_get(pl->institutions, "H21010200002",
                                 APR_HASH_KEY_STRING));
    assert_null(apr_hash_get(pl->institutions, "H21010200003",
                             APR_HASH_KEY_STRING));

    assert_int_equal(pl->liabilities->nelts, 1);
    l = liab(pl, 0);
    assert_int_equal(l->basis, HMB_BASIS_OUTSCOPE_SELFPAY);
    assert_int_equal(l->deductible, 2000000);
    assert_int_equal(l->ratio, 5000);
    assert_int_equal(l->cap, 150000050);
    assert_null(l->codes);
    assert_int_equal(l->line, 12);

    c = hmb_liability_class(l, "hardship");
    assert_non_null(c);
    assert_int_equal(c->has_ratio, 1);
    assert_int_equal(c->ratio, 6500);
    assert_int_equal(c->has_deductible, 0);
    c = hmb_liability_class(l, "disabled");
    assert_non_null(c);
    assert_int_equal(c->has_deductible, 1);
    assert_int_equal(c->deductible, 1000000);
    assert_int_equal(c->has_ratio, 0);
    assert_null(hmb_liability_class(l, "veteran"));
    assert_null(hmb_liability_class(l, NULL));

    assert_int_equal(insurer(pl, 0)->share, 3333);
    assert_int_equal(insurer(pl, 1)->share, 6667);
}

typedef struct {
    const char *file;
    const char *where;          /* "FILE:LINE:" expected in the message */
    const char *why;            /* and a piece of the reason */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    { "bad-doctype.xml", "/bad-doctype.xml:2: ", "DOCTYPE" },
    { "bad-basis.xml", "/bad-basis.xml:13: ", "special-drug" },
    { "bad-amount.xml", "/bad-amount.xml:12: ", "15000.005" },
    { "bad-ratio.xml", "/bad-ratio.xml:9: ", "1.20" },
    { "bad-date.xml", "/bad-date.xml:3: ", "2024-02-30" },
    { "bad-year.xml", "/bad-year.xml:3: ",
      "year 2023 is not the year of from '2024-01-01'" },
    { "bad-period.xml", "/bad-period.xml:3: ",
      "from '2024-12-31' is after to '2024-01-01'" },
    { "bad-plan-cap.xml", "/bad-plan-cap.xml:3: ", "cap '0.00' must be more" },
    { "bad-liability-cap.xml", "/bad-liability-cap.xml:13: ",
      "liability 'drug' cap must be more than 0" },
    { "bad-dup-liability.xml", "/bad-dup-liability.xml:13: ",
      "liability code 'inscope' is already used on line 9" },
    { "bad-dup-insurer.xml", "/bad-dup-insurer.xml:16: ",
      "insurer code 'PICC' is already used on line 14" },
    { "bad-dup-class.xml", "/bad-dup-class.xml:11: ",
      "class 'hardship' more than once" },
    { "bad-class-empty.xml", "/bad-class-empty.xml:10: ",
      "overrides neither deductible nor ratio" },
    { "bad-shares.xml", "/bad-shares.xml:14: ",
      "insurer shares add up to 0.9500, not 1" },
    { "bad-pool.xml", "/bad-pool.xml:12: ",
      "has deductible 10000.00 but shares pool 'A' with liability "
      "'inscope' (line 9), whose deductible is 15000.00" },
    { "bad-pool-class.xml", "/bad-pool-class.xml:12: ",
      "has deductible 15000.00 for class 'hardship' but shares pool 'A' "
      "with liability 'inscope' (line 9), where that class has 7500.00" },
    { "bad-pool-class2.xml", "/bad-pool-class2.xml:12: ",
      "liability 'outscope' class 'hardship' has deductible 5000.00 but "
      "shares pool 'A' with liability 'inscope' (line 9), where that class "
      "has 7500.00" },
    { "bad-catalog-missing.xml", "/bad-catalog-missing.xml:12: ",
      "needs a catalog attribute" },
    { "bad-without-detail-missing.xml",
      "/bad-without-detail-missing.xml:12: ", "needs without-detail" },
    { "bad-list-missing.xml", "/bad-list-missing.xml:13: ",
      "needs a list attribute" },
    { "bad-catalog-on-inscope.xml", "/bad-catalog-on-inscope.xml:9: ",
      "must not have a catalog attribute" },
    { "bad-list-on-catalog.xml", "/bad-list-on-catalog.xml:12: ",
      "must not have a list attribute" },
    { "bad-without-detail-on-list.xml",
      "/bad-without-detail-on-list.xml:13: ",
      "must not have a without-detail attribute" },
    { "bad-catalog-unreadable.xml", "/bad-catalog-unreadable.xml:12: ",
      "/tests/fixtures/plans/no-such-catalog.csv" },
    { "bad-csv-header.xml", "/csv-bad-header.csv:1: ",
      "header must be 'med_list_codg,name', not 'code,name'" },
    { "bad-csv-empty-code.xml", "/csv-empty-code.csv:3: ",
      "empty med_list_codg" },
    { "bad-csv-dup.xml", "/csv-dup-code.csv:4: ",
      "'XL01XCP135B002010101832' is already on line 2" },
    { "bad-csv-gbk.xml", "/csv-gbk.csv:2: ", "not valid UTF-8" },
    { "bad-csv-quote.xml", "/csv-bad-quote.csv:3: ",
      "quoted field not closed" },
    { "bad-csv-norows.xml", "/csv-header-only.csv:1: ",
      "no med_list_codg rows" },
    { "bad-medtype-dup.xml", "/bad-medtype-dup.xml:6: ",
      "med-type '21' is listed more than once" },
    { "bad-institution-mix.xml", "/bad-institution-mix.xml:7: ",
      "exclude each other" },
};

static void test_bad_fixtures(void **state)
{
    apr_pool_t *p = *state;
    size_t i;
    int failures = 0;

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *bc = &bad_cases[i];
        hmb_plan_t *pl = (hmb_plan_t *)&failures;
        const char *path = apr_pstrcat(p, PLANS(""), bc->file, NULL);
        const char *err = hmb_plan_load(p, path, &pl);

        if (!err || !strstr(err, bc->where) || !strstr(err, bc->why)
            || strchr(err, '\n') || pl != NULL) {
            print_error("%s: want \"%s...%s\", got: %s\n", bc->file,
                        bc->where, bc->why, err ? err : "(success)");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* The message starts with the plan file's name as given. */
static void test_error_names_plan_path(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl;
    const char *path = PLANS("bad-shares.xml");
    const char *err = hmb_plan_load(p, path, &pl);

    assert_non_null(err);
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    assert_string_equal(err + strlen(path),
                        ":14: insurer shares add up to 0.9500, not 1");
}

static void test_missing_and_large_files(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = (hmb_plan_t *)state;
    const char *dir = hmb_test_tmpdir(p, "plan");
    const char *big = apr_pstrcat(p, dir, "/big.xml", NULL);
    const char *err;
    const long head_tail = 20;      /* "<plan><!--" and "--></plan>" */
    const long size = 4L * 1024 * 1024 + 1;
    FILE *f;
    long i;

    err = hmb_plan_load(p, PLANS("no-such-plan.xml"), &pl);
    assert_non_null(err);
    assert_null(pl);
    assert_non_null(strstr(err, "no-such-plan.xml: cannot read"));

    err = hmb_plan_load(p, dir, &pl);
    assert_non_null(err);
    assert_non_null(strstr(err, "not a regular file"));

    /* A comment that makes the file one byte over 4 MiB. */
    f = fopen(big, "w");
    assert_non_null(f);
    fputs("<plan><!--", f);
    for (i = 0; i < size - head_tail; i++) {
        fputc('x', f);
    }
    fputs("--></plan>", f);
    assert_int_equal(ftell(f), size);
    fclose(f);
    err = hmb_plan_load(p, big, &pl);
    assert_non_null(err);
    assert_non_null(strstr(err, "big.xml: cannot read the plan file: "
                                "larger than 4 MiB"));
    remove(big);
    rmdir(dir);
}

static const char *mem_plan(apr_pool_t *p, const char *code, int year,
                            int version, const char *from, const char *to)
{
    return apr_psprintf(p,
        "<plan code=\"%s\" name=\"n\" year=\"%d\" version=\"%d\"\n"
        "      from=\"%s\" to=\"%s\">\n"
        "  <cover><med-type code=\"21\"/><institution code=\"*\"/></cover>\n"
        "  <liability code=\"l\" basis=\"inscope-selfpay\" pool=\"A\"\n"
        "      deductible=\"0\" ratio=\"1\" cap=\"1\"/>\n"
        "  <insurer code=\"I\" name=\"n\" share=\"1.0000\"/>\n"
        "</plan>\n", code, year, version, from, to);
}

static hmb_plan_t *load_mem_ok(apr_pool_t *p, const char *name,
                               const char *code, int year, int version,
                               const char *from, const char *to)
{
    const char *buf = mem_plan(p, code, year, version, from, to);
    hmb_plan_t *pl = NULL;
    const char *err = hmb_plan_load_mem(p, name, NULL, buf, strlen(buf),
                                        &pl);
    if (err) {
        fail_msg("%s", err);
    }
    return pl;
}

static void test_load_mem(void **state)
{
    apr_pool_t *p = *state;
    hmb_plan_t *pl = load_mem_ok(p, "mem.xml", "X", 2024, 3, "2024-07-01",
                                 "2025-06-30");
    const char *buf, *err;
    apr_size_t len;

    assert_string_equal(pl->path, "mem.xml");
    assert_int_equal(pl->version, 3);
    assert_int_equal(liab(pl, 0)->ratio, HMB_RATIO_ONE);
    assert_int_equal(liab(pl, 0)->cap, 100);
    assert_int_equal(liab(pl, 0)->line, 5);
    assert_int_equal(insurer(pl, 0)->share, HMB_RATIO_ONE);

    /* A catalog path resolves against base_dir. */
    buf = hmb_test_slurp(p, PLANS("good-full.xml"), &len);
    err = hmb_plan_load_mem(p, "inline.xml", PLANS(""), buf, len, &pl);
    assert_null(err);
    assert_true(ends_with(liab(pl, 1)->codes_file,
                          "/tests/fixtures/plans/catalog.csv"));
    /* ... and not against the working directory. */
    err = hmb_plan_load_mem(p, "inline.xml", "/nonexistent", buf, len, &pl);
    assert_non_null(err);
    assert_null(pl);
    assert_non_null(strstr(err, "inline.xml:12: "));
    assert_non_null(strstr(err, "/nonexistent/catalog.csv"));

    /* Another root element is a schema violation with its line. */
    buf = "<?xml version=\"1.0\"?>\n<settlement/>\n";
    err = hmb_plan_load_mem(p, "other.xml", NULL, buf, strlen(buf), &pl);
    assert_non_null(err);
    assert_non_null(strstr(err, "other.xml:2: "));
    assert_non_null(strstr(err, "settlement"));

    /* Not well-formed. */
    buf = "<plan>\n<cover>\n</plan>\n";
    err = hmb_plan_load_mem(p, "broken.xml", NULL, buf, strlen(buf), &pl);
    assert_non_null(err);
    assert_non_null(strstr(err, "broken.xml:"));
    assert_null(strchr(err, '\n'));

    err = hmb_plan_load_mem(p, "empty.xml", NULL, "", 0, &pl);
    assert_non_null(err);
    assert_non_null(strstr(err, "empty.xml"));

    /* A GBK plan: names come out as UTF-8 (宜春 is D2CB B4BA in GBK). */
    buf = mem_plan(p, "X", 2024, 1, "2024-01-01", "2024-12-31");
    buf = apr_pstrcat(p, "<?xml version=\"1.0\" encoding=\"GBK\"?>\n",
                      "<plan code=\"X\" name=\"\xD2\xCB\xB4\xBA\"",
                      strstr(buf, " year="), NULL);
    err = hmb_plan_load_mem(p, "gbk.xml", NULL, buf, strlen(buf), &pl);
    assert_null(err);
    assert_string_equal(pl->name, "宜春");
    assert_int_equal(liab(pl, 0)->line, 6);
}

/* Spellings the schema must refuse, each reported on its own line. */
static void test_schema_refusals(void **state)
{
    static const struct {
        const char *from, *to;
    } edits[] = {
        { "deductible=\"0\"", "deductible=\"-1.00\"" },
        { "deductible=\"0\"", "deductible=\"1,000\"" },
        { "deductible=\"0\"", "deductible=\" 1.00\"" },
        { "ratio=\"1\"", "ratio=\"0.12345\"" },
        { "ratio=\"1\"", "ratio=\"70%\"" },
        { "ratio=\"1\"", "ratio=\"1.0001\"" },
        { "cap=\"1\"", "cap=\"\"" },
        { "pool=\"A\"", "pool=\"A B\"" },
        { "basis=\"inscope-selfpay\"", "basis=\"\"" },
        { "basis=\"inscope-selfpay\"",
          "foo=\"bar\" basis=\"inscope-selfpay\"" },
    };
    apr_pool_t *p = *state;
    const char *base = mem_plan(p, "X", 2024, 1, "2024-01-01", "2024-12-31");
    size_t i;

    for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        const char *at = strstr(base, edits[i].from);
        const char *buf;
        const char *err;
        hmb_plan_t *pl;

        assert_non_null(at);
        buf = apr_pstrcat(p, apr_pstrndup(p, base, (apr_size_t)(at - base)),
                          edits[i].to, at + strlen(edits[i].from), NULL);
        err = hmb_plan_load_mem(p, "s.xml", NULL, buf, strlen(buf), &pl);
        if (!err || !strstr(err, "s.xml:5: ")) {
            fail_msg("%s: %s", edits[i].to, err ? err : "(accepted)");
        }
    }
}

static void test_candidates_and_find(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *plans = apr_array_make(p, 4, sizeof(hmb_plan_t *));
    apr_array_header_t *c;
    hmb_plan_t *v1, *v2, *y25, *ln, *dup;
    const char *err;

    v2 = load_mem_ok(p, "v2.xml", "YCHMB", 2024, 2, "2024-01-01",
                     "2024-12-31");
    v1 = load_mem_ok(p, "v1.xml", "YCHMB", 2024, 1, "2024-01-01",
                     "2024-12-31");
    y25 = load_mem_ok(p, "y25.xml", "YCHMB", 2025, 1, "2025-01-01",
                      "2025-12-31");
    ln = load_mem_ok(p, "ln.xml", "LNHMB", 2024, 1, "2024-03-01",
                     "2025-02-28");
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = v2;
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = v1;
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = y25;
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = ln;

    c = hmb_plan_candidates(p, plans, "2024-01-01");
    assert_int_equal(c->nelts, 2);
    assert_ptr_equal(APR_ARRAY_IDX(c, 0, hmb_plan_t *), v2);
    assert_ptr_equal(APR_ARRAY_IDX(c, 1, hmb_plan_t *), v1);
    c = hmb_plan_candidates(p, plans, "2024-12-31");
    assert_int_equal(c->nelts, 3);
    assert_ptr_equal(APR_ARRAY_IDX(c, 2, hmb_plan_t *), ln);
    c = hmb_plan_candidates(p, plans, "2025-02-28 23:59:59");
    assert_int_equal(c->nelts, 2);
    assert_ptr_equal(APR_ARRAY_IDX(c, 0, hmb_plan_t *), y25);
    assert_ptr_equal(APR_ARRAY_IDX(c, 1, hmb_plan_t *), ln);
    c = hmb_plan_candidates(p, plans, "2025-03-01");
    assert_int_equal(c->nelts, 1);
    assert_ptr_equal(APR_ARRAY_IDX(c, 0, hmb_plan_t *), y25);
    assert_int_equal(hmb_plan_candidates(p, plans, "2023-12-31")->nelts, 0);
    assert_int_equal(hmb_plan_candidates(p, plans, "2026-01-01")->nelts, 0);
    assert_int_equal(hmb_plan_candidates(p, plans, "2024")->nelts, 0);
    assert_int_equal(hmb_plan_candidates(p, plans, NULL)->nelts, 0);

    assert_ptr_equal(hmb_plan_find(plans, "YCHMB", 2024), v2);
    assert_ptr_equal(hmb_plan_find(plans, "YCHMB", 2025), y25);
    assert_ptr_equal(hmb_plan_find(plans, "LNHMB", 2024), ln);
    assert_null(hmb_plan_find(plans, "LNHMB", 2025));
    assert_null(hmb_plan_find(plans, "ychmb", 2024));
    assert_null(hmb_plan_find(plans, NULL, 2024));

    assert_null(hmb_plan_check_set(p, plans));
    dup = load_mem_ok(p, "again.xml", "YCHMB", 2024, 1, "2024-01-01",
                      "2024-12-31");
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = dup;
    err = hmb_plan_check_set(p, plans);
    assert_non_null(err);
    assert_non_null(strstr(err, "again.xml: plan YCHMB year 2024 version 1 "
                                "is also loaded from v1.xml"));
    apr_array_clear(plans);
    assert_null(hmb_plan_check_set(p, plans));
    assert_null(hmb_plan_find(plans, "YCHMB", 2024));
}

static void test_basis_names(void **state)
{
    assert_string_equal(hmb_basis_name(HMB_BASIS_INSCOPE_SELFPAY),
                        "inscope-selfpay");
    assert_string_equal(hmb_basis_name(HMB_BASIS_OUTSCOPE_SELFPAY),
                        "outscope-selfpay");
    assert_string_equal(hmb_basis_name(HMB_BASIS_OUTSCOPE_CATALOG),
                        "outscope-catalog");
    assert_string_equal(hmb_basis_name(HMB_BASIS_LIST), "list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worked_example,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_sample_plan,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_good_full,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_good_explicit,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_bad_fixtures,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_error_names_plan_path,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_large_files,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_load_mem,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_schema_refusals,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_candidates_and_find,
            hmb_test_pool_setup, hmb_test_pool_teardown),
        cmocka_unit_test(test_basis_names),
    };
    int rc;

    apr_initialize();
    hmb_xml_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    apr_terminate();
    return rc;
}
