/* Enrollment CSV: header, quoting, line ends, each row rule, line numbers,
 * all or nothing. */
#include "hmb_test.h"
#include "hmb_enroll.h"

#define HEADER "plan_code,plan_year,psn_no,cover_from,preexisting," \
               "person_class,admdvs,payer,premium\n"
#define GOOD_ROW "YCHMB,2024,36090000000000000001,2024-01-01,0,,360902," \
                 "account,69.00\n"

static apr_array_header_t *parse_ok(apr_pool_t *p, const char *name,
                                    const char *buf, apr_size_t len)
{
    apr_array_header_t *rows = NULL;
    const char *err = hmb_enroll_parse(p, name, buf, len, &rows);

    if (err) {
        fail_msg("%s", err);
    }
    assert_non_null(rows);
    return rows;
}

static apr_array_header_t *parse_str_ok(apr_pool_t *p, const char *buf)
{
    return parse_ok(p, "t.csv", buf, strlen(buf));
}

/* The error must start with "t.csv:LINE: " and mention why. */
static void parse_bad(apr_pool_t *p, const char *buf, int line,
                      const char *why)
{
    apr_array_header_t *rows = (apr_array_header_t *)1;
    const char *err = hmb_enroll_parse(p, "t.csv", buf, strlen(buf), &rows);
    const char *prefix = apr_psprintf(p, "t.csv:%d: ", line);

    if (!err) {
        fail_msg("accepted: %s", buf);
    }
    assert_null(rows);
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, why)) {
        fail_msg("got \"%s\", want \"%s...%s\"", err, prefix, why);
    }
}

/* One data row under the header, with field n replaced. */
static const char *row_with(apr_pool_t *p, int n, const char *value)
{
    const char *f[9] = {"YCHMB", "2024", "36090000000000000001",
                        "2024-01-01", "0", "", "360902", "account",
                        "69.00"};
    f[n] = value;
    return apr_pstrcat(p, HEADER, f[0], ",", f[1], ",", f[2], ",", f[3], ",",
                       f[4], ",", f[5], ",", f[6], ",", f[7], ",", f[8], "\n",
                       NULL);
}

static void field_ok(apr_pool_t *p, int n, const char *value)
{
    apr_array_header_t *rows = parse_str_ok(p, row_with(p, n, value));
    assert_int_equal(rows->nelts, 1);
}

static void field_bad(apr_pool_t *p, int n, const char *value,
                      const char *why)
{
    parse_bad(p, row_with(p, n, value), 2, why);
}

#define ROW(rows, i) (&APR_ARRAY_IDX(rows, i, hmb_enrollment_t))

static void test_good_file(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_FIXTURE("enroll/good.csv"), &len);
    apr_array_header_t *rows = parse_ok(p, "good.csv", buf, len);
    const hmb_enrollment_t *e;

    assert_int_equal(rows->nelts, 3);
    e = ROW(rows, 0);
    assert_string_equal(e->plan_code, "YCHMB");
    assert_int_equal(e->plan_year, 2024);
    assert_string_equal(e->psn_no, "36090000000000000001");
    assert_string_equal(e->cover_from, "2024-01-01");
    assert_int_equal(e->preexisting, 0);
    assert_null(e->person_class);
    assert_string_equal(e->admdvs, "360902");
    assert_string_equal(e->payer, "account");
    assert_int_equal(e->premium, 6900);
    assert_int_equal(e->line, 2);

    e = ROW(rows, 1);
    assert_string_equal(e->cover_from, "2024-03-15");
    assert_int_equal(e->preexisting, 1);
    assert_string_equal(e->payer, "self");
    assert_int_equal(e->premium, 6900);    /* "69" without decimals */
    assert_int_equal(e->line, 3);

    e = ROW(rows, 2);
    assert_string_equal(e->person_class, "hardship");
    assert_string_equal(e->admdvs, "360921");
    assert_string_equal(e->payer, "donor");
    assert_int_equal(e->premium, 0);
    assert_int_equal(e->line, 4);
}

/* BOM and CRLF change nothing in what is read. */
static void test_bom_crlf(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t la, lb;
    const char *a = hmb_test_slurp(p, HMB_FIXTURE("enroll/good.csv"), &la);
    const char *b = hmb_test_slurp(p, HMB_FIXTURE("enroll/good-bom-crlf.csv"),
                                   &lb);
    apr_array_header_t *ra = parse_ok(p, "a", a, la);
    apr_array_header_t *rb = parse_ok(p, "b", b, lb);
    int i;

    /* the fixture really has them */
    assert_memory_equal(b, "\xEF\xBB\xBF", 3);
    assert_non_null(strstr(b, "premium\r\n"));

    assert_int_equal(ra->nelts, rb->nelts);
    for (i = 0; i < ra->nelts; i++) {
        const hmb_enrollment_t *x = ROW(ra, i), *y = ROW(rb, i);
        assert_string_equal(x->psn_no, y->psn_no);
        assert_string_equal(x->payer, y->payer);
        assert_string_equal(x->admdvs, y->admdvs);
        assert_int_equal(x->premium, y->premium);
        assert_int_equal(x->line, y->line);
    }
    /* a BOM alone is an empty file; a BOM mid-file is not skipped */
    parse_bad(p, "\xEF\xBB\xBF", 1, "empty file");
    parse_bad(p, "\xEF\xBB\xBF\xEF\xBB\xBF" HEADER GOOD_ROW, 1, "header");
}

static void test_quoted(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_FIXTURE("enroll/good-quoted.csv"),
                                     &len);
    apr_array_header_t *rows = parse_ok(p, "q.csv", buf, len);

    assert_int_equal(rows->nelts, 2);
    assert_string_equal(ROW(rows, 0)->psn_no, "P-1,A");  /* comma kept */
    assert_string_equal(ROW(rows, 0)->payer, "employer");
    assert_null(ROW(rows, 0)->person_class);               /* "" is empty */
    assert_string_equal(ROW(rows, 1)->psn_no, "Q\"7");   /* "" unescaped */
    assert_string_equal(ROW(rows, 1)->cover_from, "2024-02-29");
    assert_string_equal(ROW(rows, 1)->person_class, "hardship");
    assert_string_equal(ROW(rows, 1)->admdvs, "");
    assert_int_equal(ROW(rows, 1)->premium, 12350);
    assert_int_equal(ROW(rows, 1)->line, 3);

    /* quoting mistakes */
    parse_bad(p, HEADER "YCHMB,2024,A\"B,2024-01-01,0,,360902,self,1\n", 2,
              "quote inside an unquoted field");
    parse_bad(p, HEADER "YCHMB,2024,\"AB\"C,2024-01-01,0,,360902,self,1\n", 2,
              "after a closing quote");
    parse_bad(p, HEADER GOOD_ROW "YCHMB,2024,\"AB,2024-01-01,0,,1,self,1\n",
              3, "quoted field not closed");
    /* a newline inside quotes: the row is reported at its first line, and
     * later lines keep their physical numbers */
    parse_bad(p, HEADER "YCHMB,2024,\"A\nB\",2024-01-01,0,,360902,self,1\n",
              2, "psn_no must be printable ASCII");
    parse_bad(p, HEADER "YCHMB,2024,A1,2024-01-01,0,\"hard\nship\",,self,1\n",
              2, "person_class");
    parse_bad(p, HEADER GOOD_ROW
              "YCHMB,2024,A2,2024-01-01,0,,,\"se\nlf\",1\n"
              "YCHMB,2024,A3,2024-01-01,0,,,self,-1\n", 3, "payer");
}

static void test_header(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_FIXTURE("enroll/bad-header.csv"),
                                     &len);
    apr_array_header_t *rows = (apr_array_header_t *)1;
    const char *err = hmb_enroll_parse(p, "bad-header.csv", buf, len, &rows);

    assert_non_null(err);
    assert_null(rows);
    assert_non_null(strstr(err, "bad-header.csv:1: the header must be "
                            "plan_code,plan_year,psn_no,cover_from,"
                            "preexisting,person_class,admdvs,payer,"
                            "premium"));

    parse_bad(p, "", 1, "empty file");
    parse_bad(p, GOOD_ROW, 1, "header");
    parse_bad(p, "plan_code,plan_year,psn_no,cover_from,preexisting,"
              "person_class,admdvs,payer\n", 1, "header");
    parse_bad(p, "plan_code,plan_year,psn_no,cover_from,preexisting,"
              "person_class,admdvs,payer,premium,extra\n", 1, "header");
    parse_bad(p, "Plan_code,plan_year,psn_no,cover_from,preexisting,"
              "person_class,admdvs,payer,premium\n", 1, "header");
    parse_bad(p, "\n" HEADER GOOD_ROW, 1, "header");

    /* header alone: nothing to import, not an error */
    assert_int_equal(parse_str_ok(p, HEADER)->nelts, 0);
    assert_int_equal(parse_str_ok(p, "plan_code,plan_year,psn_no,cover_from,"
                                  "preexisting,person_class,admdvs,payer,"
                                  "premium")->nelts, 0);
    /* header fields may be quoted like any other */
    assert_int_equal(parse_str_ok(p, "\"plan_code\",plan_year,psn_no,"
                                  "cover_from,preexisting,person_class,"
                                  "admdvs,payer,premium\n" GOOD_ROW)->nelts,
                     1);
}

static void test_plan_code_and_year(void **state)
{
    apr_pool_t *p = *state;

    field_ok(p, 0, "YC-HMB_2.0");
    field_bad(p, 0, "", "plan_code");
    field_bad(p, 0, "YC HMB", "plan_code");
    field_bad(p, 0, "YC|HMB", "plan_code");
    field_bad(p, 0, "\xE5\xAE\x9C\xE6\x98\xA5", "plan_code");
    field_bad(p, 0, apr_psprintf(p, "%065d", 0), "plan_code");
    field_ok(p, 0, apr_psprintf(p, "%064d", 0));

    field_ok(p, 1, "1999");
    field_bad(p, 1, "24", "plan_year");
    field_bad(p, 1, "20245", "plan_year");
    field_bad(p, 1, "202A", "plan_year");
    field_bad(p, 1, " 2024", "plan_year");
    field_bad(p, 1, "1800", "plan_year");
    field_bad(p, 1, "", "plan_year");
}

static void test_psn_no(void **state)
{
    apr_pool_t *p = *state;
    char id64[65], id65[66];

    memset(id64, 'x', 64);
    id64[64] = '\0';
    memset(id65, '7', 65);
    id65[65] = '\0';

    field_ok(p, 2, "A");
    field_ok(p, 2, id64);
    field_ok(p, 2, "!#$%&'()*+-./:;<=>?@[\\]^_`{|}~");
    field_bad(p, 2, id65, "1 to 64");
    field_bad(p, 2, "", "1 to 64");
    field_bad(p, 2, "3609 0001", "printable ASCII");
    field_bad(p, 2, "3609\t0001", "printable ASCII");
    field_bad(p, 2, "\xE5\xBC\xA0\xE4\xB8\x89", "printable ASCII");
    field_bad(p, 2, "A\x7F", "printable ASCII");
}

static void test_cover_from_and_flags(void **state)
{
    apr_pool_t *p = *state;

    field_ok(p, 3, "2024-02-29");
    field_ok(p, 3, "2023-12-31");
    field_bad(p, 3, "2023-02-29", "cover_from");
    field_bad(p, 3, "2024-04-31", "cover_from");
    field_bad(p, 3, "2024/01/01", "cover_from");
    field_bad(p, 3, "2024-1-1", "cover_from");
    field_bad(p, 3, "", "cover_from");

    field_ok(p, 4, "1");
    field_bad(p, 4, "2", "preexisting");
    field_bad(p, 4, "yes", "preexisting");
    field_bad(p, 4, "", "preexisting");
    field_bad(p, 4, "01", "preexisting");

    field_ok(p, 5, "hardship");
    field_ok(p, 5, "low-income_2");
    field_bad(p, 5, "hard ship", "person_class");
    field_bad(p, 5, "\xE5\x9B\xB0\xE9\x9A\xBE", "person_class");

    field_ok(p, 6, "");
    field_ok(p, 6, "360902000000");
    field_bad(p, 6, "3609020000001", "admdvs");
    field_bad(p, 6, "36090A", "admdvs");
}

static void test_payer_and_premium(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_FIXTURE("enroll/bad-payer.csv"),
                                     &len);
    apr_array_header_t *rows;

    field_ok(p, 7, "self");
    field_ok(p, 7, "account");
    field_ok(p, 7, "employer");
    field_ok(p, 7, "donor");
    field_bad(p, 7, "Self", "payer");
    field_bad(p, 7, "", "payer");
    field_bad(p, 7, "self ", "payer");
    parse_bad(p, buf, 2, "payer \"company\" must be self, account, "
              "employer or donor");

    rows = parse_str_ok(p, row_with(p, 8, "0"));
    assert_int_equal(ROW(rows, 0)->premium, 0);
    rows = parse_str_ok(p, row_with(p, 8, "1234.5"));
    assert_int_equal(ROW(rows, 0)->premium, 123450);
    field_bad(p, 8, "-1.00", "premium");
    field_bad(p, 8, "1.234", "premium");
    field_bad(p, 8, "abc", "premium");
    field_bad(p, 8, "", "premium");
    field_bad(p, 8, "69,00", "fields");        /* an unquoted comma */
    field_bad(p, 8, "\"69,00\"", "premium");
}

static void test_field_count(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p,
                                     HMB_FIXTURE("enroll/bad-fields-crlf.csv"),
                                     &len);
    apr_array_header_t *rows = (apr_array_header_t *)1;
    const char *err = hmb_enroll_parse(p, "bad-fields-crlf.csv", buf, len,
                                       &rows);

    assert_non_null(err);
    assert_null(rows);
    assert_non_null(strstr(err, "bad-fields-crlf.csv:3: 8 fields, "
                            "expected 9"));

    parse_bad(p, HEADER "YCHMB,2024,A1,2024-01-01,0,,360902,self,69,\n", 2,
              "10 fields");
    parse_bad(p, HEADER "YCHMB\n", 2, "1 fields");
}

static void test_line_ends_and_blank_lines(void **state)
{
    apr_pool_t *p = *state;

    /* last line without its newline */
    assert_int_equal(parse_str_ok(p, HEADER "YCHMB,2024,A1,2024-01-01,0,,"
                                  "360902,self,69.00")->nelts, 1);
    /* trailing blank lines, LF, CRLF or blanks only */
    assert_int_equal(parse_str_ok(p, HEADER GOOD_ROW "\n\n")->nelts, 1);
    assert_int_equal(parse_str_ok(p, HEADER GOOD_ROW "\r\n\r\n")->nelts, 1);
    assert_int_equal(parse_str_ok(p, HEADER GOOD_ROW "  \n\t")->nelts, 1);
    /* CRLF and LF mixed */
    assert_int_equal(parse_str_ok(p, "plan_code,plan_year,psn_no,cover_from,"
                                  "preexisting,person_class,admdvs,payer,"
                                  "premium\r\n" GOOD_ROW
                                  "YCHMB,2024,A2,2024-01-01,0,,,self,1\r\n")
                     ->nelts, 2);
    /* a blank line with rows after it is reported where it is */
    parse_bad(p, HEADER GOOD_ROW "\n"
              "YCHMB,2024,A2,2024-01-01,0,,360902,self,69.00\n", 3,
              "blank line");
    parse_bad(p, HEADER GOOD_ROW "\r\n\r\n"
              "YCHMB,2024,A2,2024-01-01,0,,360902,self,69.00\r\n", 3,
              "blank line");
    /* a bare CR is not a line end */
    parse_bad(p, HEADER "YCHMB,2024,A1,2024-01-01,0,,360902,self,69.00\r"
              "YCHMB,2024,A2,2024-01-01,0,,360902,self,69.00\n", 2,
              "carriage return");
}

static void test_line_numbers(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_FIXTURE("enroll/bad-date.csv"),
                                     &len);
    apr_array_header_t *rows = (apr_array_header_t *)1;
    const char *err = hmb_enroll_parse(p, "bad-date.csv", buf, len, &rows);

    /* the first two rows are good; nothing of the file comes back */
    assert_null(rows);
    assert_non_null(err);
    assert_string_equal(err, "bad-date.csv:4: cover_from \"2023-02-29\" is "
                        "not a date (YYYY-MM-DD)");

    /* NUL bytes are refused wherever they are */
    {
        static const char nul[] = HEADER "YCHMB,2024,A\0B,2024-01-01,0,,"
                                  "360902,self,69.00\n";
        err = hmb_enroll_parse(p, "t.csv", nul, sizeof(nul) - 1, &rows);
        assert_non_null(err);
        assert_non_null(strstr(err, "t.csv:2: NUL byte"));
    }
}

static void test_duplicates(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p,
                                     HMB_FIXTURE("enroll/bad-duplicate.csv"),
                                     &len);
    apr_array_header_t *rows = (apr_array_header_t *)1;
    const char *err = hmb_enroll_parse(p, "bad-duplicate.csv", buf, len,
                                       &rows);

    /* the same person in another year or plan (lines 3, 4) is fine; line 6
     * repeats line 2 */
    assert_null(rows);
    assert_non_null(err);
    assert_non_null(strstr(err, "bad-duplicate.csv:6: "));
    assert_non_null(strstr(err, "36090000000000000001"));
    assert_non_null(strstr(err, "line 2"));

    /* without the repeat the file is good */
    rows = parse_str_ok(p, apr_pstrndup(p, buf, strrchr(buf, 'Y') - buf));
    assert_int_equal(rows->nelts, 4);
    assert_int_equal(ROW(rows, 1)->plan_year, 2023);
    assert_string_equal(ROW(rows, 2)->plan_code, "LNHMB");
}

static void test_sample_files(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, HMB_SRCDIR "/conf/enroll-sample.csv",
                                     &len);
    apr_array_header_t *rows = parse_ok(p, "enroll-sample.csv", buf, len);
    int i, pre = 0, hardship = 0, payers[4] = {0, 0, 0, 0};
    static const char *const names[4] = {"self", "account", "employer",
                                          "donor"};

    assert_int_equal(rows->nelts, 10);
    for (i = 0; i < rows->nelts; i++) {
        const hmb_enrollment_t *e = ROW(rows, i);
        int j;

        assert_string_equal(e->plan_code, "YCHMB");
        assert_int_equal(e->plan_year, 2024);
        pre += e->preexisting;
        hardship += e->person_class && !strcmp(e->person_class, "hardship");
        for (j = 0; j < 4; j++) {
            payers[j] += !strcmp(e->payer, names[j]);
        }
    }
    /* the sample shows every case the docs talk about */
    assert_true(pre >= 1);
    assert_true(hardship >= 1);
    for (i = 0; i < 4; i++) {
        assert_true(payers[i] >= 1);
    }

    buf = hmb_test_slurp(p, HMB_EXAMPLE("enroll.csv"), &len);
    rows = parse_ok(p, "enroll.csv", buf, len);
    assert_int_equal(rows->nelts, 1);
    assert_string_equal(ROW(rows, 0)->psn_no, "36090000000000000001");
    assert_int_equal(ROW(rows, 0)->premium, 6900);
}

#define T(f) cmocka_unit_test_setup_teardown(f, hmb_test_pool_setup, \
                                             hmb_test_pool_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_good_file),
        T(test_bom_crlf),
        T(test_quoted),
        T(test_header),
        T(test_plan_code_and_year),
        T(test_psn_no),
        T(test_cover_from_and_flags),
        T(test_payer_and_premium),
        T(test_field_count),
        T(test_line_ends_and_blank_lines),
        T(test_line_numbers),
        T(test_duplicates),
        T(test_sample_files),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests_name("enroll", tests, NULL, NULL);
}
