/* Money parsing, formatting, rounding and co-insurer allocation. */
#include "hmb_test.h"
#include "hmb_money.h"

typedef const char *(*amount_parser_t)(const char *, int, hmb_fen_t *);

static void amount_ok(amount_parser_t parse, const char *s, int neg,
                      hmb_fen_t want)
{
    hmb_fen_t v = -999;
    const char *err = parse(s, neg, &v);
    if (err) {
        fail_msg("\"%s\": %s", s, err);
    }
    assert_int_equal(v, want);
}

static void amount_bad(amount_parser_t parse, const char *s, int neg,
                       const char *why)
{
    hmb_fen_t v = 7;
    const char *err = parse(s, neg, &v);
    if (!err || !strstr(err, why)) {
        fail_msg("\"%s\": %s, expected \"%s\"", s, err ? err : "accepted",
                 why);
    }
    assert_int_equal(v, 7);
}

#define parse_ok(s, neg, want) amount_ok(hmb_money_parse, s, neg, want)
#define parse_bad(s, neg, why) amount_bad(hmb_money_parse, s, neg, why)
#define json_ok(s, neg, want) amount_ok(hmb_money_parse_json, s, neg, want)
#define json_bad(s, neg, why) amount_bad(hmb_money_parse_json, s, neg, why)

static void test_parse_amounts(void **state)
{
    parse_ok("123.45", 0, 12345);
    parse_ok("123.4", 0, 12340);
    parse_ok("123", 0, 12300);
    parse_ok("0.00", 0, 0);
    parse_ok("0.05", 0, 5);
    parse_ok("48000.00", 0, 4800000);
    parse_ok("-1.00", 1, -100);
    parse_ok("-0.01", 1, -1);
    parse_ok("9999999999.99", 0, HMB_FEN_MAX);
}

static void test_parse_rejects(void **state)
{
    parse_bad("", 0, "empty");
    parse_bad("12.345", 0, "two decimals");
    parse_bad("1,000.00", 0, "not a number");
    parse_bad("12a", 0, "not a number");
    parse_bad("abc", 0, "not a number");
    parse_bad("1.", 0, "after the decimal");
    parse_bad(".5", 0, "before the decimal");
    parse_bad("-1.00", 0, "negative");
    parse_bad("1e5", 0, "not a number");
    parse_bad(" 1.00", 0, "not a number");
    parse_bad("10000000000.00", 0, "too large");
    parse_bad("99999999999999999999999", 0, "too large");
    parse_bad("-", 1, "before the decimal");
    /* in neither format's grammar: the schema's amountType refuses it */
    parse_bad("+48000.00", 0, "not a number");
    parse_bad("+1.00", 1, "not a number");
    json_bad("+1.00", 0, "not a number");
}

/* JSON numbers as serializers write them: any scale, never a double. */
static void test_parse_json(void **state)
{
    json_ok("1200.00", 0, 120000);
    json_ok("0", 0, 0);
    json_ok("-25.1", 1, -2510);
    json_ok("99999999.000000", 0, 9999999900);
    json_ok("0.1000000000000000000000000000", 0, 10);
    json_ok("12.340", 0, 1234);
    json_ok("9999999999.990", 0, HMB_FEN_MAX);
    json_ok("-0.01", 1, -1);

    json_bad("12.345", 0, "a fraction of a fen");
    json_bad("12.3401", 0, "a fraction of a fen");
    json_bad("0.001", 0, "a fraction of a fen");
    json_bad("1e3", 0, "an exponent is not accepted");
    json_bad("1.5E+2", 0, "an exponent is not accepted");
    json_bad("-1e-2", 1, "an exponent is not accepted");
    json_bad("1000000000000.00", 0, "too large");
    json_bad("1" "00000000000000000000000000000000000000000", 0, "too large");
    json_bad("-1.00", 0, "negative");
    json_bad("", 0, "empty");
    json_bad("1.", 0, "after the decimal");
    json_bad("true", 0, "not a number");
    json_bad("e5", 0, "not a number");

    /* XML's amounts are as they were */
    parse_bad("12.340", 0, "more than two decimals");
    parse_bad("1e3", 0, "not a number");
}

static void test_ratio(void **state)
{
    hmb_ratio_t r = -1;
    apr_pool_t *p = *state;

    assert_null(hmb_ratio_parse("0.70", &r));
    assert_int_equal(r, 7000);
    assert_null(hmb_ratio_parse("0.3333", &r));
    assert_int_equal(r, 3333);
    assert_null(hmb_ratio_parse("1", &r));
    assert_int_equal(r, 10000);
    assert_null(hmb_ratio_parse("1.0000", &r));
    assert_int_equal(r, 10000);
    assert_null(hmb_ratio_parse("0", &r));
    assert_int_equal(r, 0);
    assert_non_null(hmb_ratio_parse("0.12345", &r));
    assert_non_null(hmb_ratio_parse("1.0001", &r));
    assert_non_null(hmb_ratio_parse("2", &r));
    assert_non_null(hmb_ratio_parse("-0.5", &r));
    assert_non_null(hmb_ratio_parse("0.7x", &r));
    assert_string_equal(hmb_ratio_str(p, 7000), "0.7000");
    assert_string_equal(hmb_ratio_str(p, 10000), "1.0000");
    assert_string_equal(hmb_ratio_percent(p, 7000), "70%");
    assert_string_equal(hmb_ratio_percent(p, 7250), "72.5%");
    assert_string_equal(hmb_ratio_percent(p, 3333), "33.33%");
}

static void test_format(void **state)
{
    char buf[HMB_MONEY_BUFSZ];
    apr_pool_t *p = *state;

    assert_string_equal(hmb_money_fmt(buf, 1210000), "12100.00");
    assert_string_equal(hmb_money_fmt(buf, -1210000), "-12100.00");
    assert_string_equal(hmb_money_fmt(buf, 5), "0.05");
    assert_string_equal(hmb_money_fmt(buf, -5), "-0.05");
    assert_string_equal(hmb_money_fmt(buf, 0), "0.00");
    assert_string_equal(hmb_money_str(p, HMB_FEN_MAX), "9999999999.99");
    assert_string_equal(hmb_money_str(p, -HMB_FEN_MAX), "-9999999999.99");
}

static void test_round_half_up(void **state)
{
    /* 13000.00 x 0.70 = 9100.00 */
    assert_int_equal(hmb_money_apply_ratio(1300000, 7000), 910000);
    /* 0.05 x 0.50 = 0.025 -> 0.03 */
    assert_int_equal(hmb_money_apply_ratio(5, 5000), 3);
    /* 0.03 x 0.50 = 0.015 -> 0.02 */
    assert_int_equal(hmb_money_apply_ratio(3, 5000), 2);
    /* 0.01 x 0.3333 = 0.003333 -> 0.00 */
    assert_int_equal(hmb_money_apply_ratio(1, 3333), 0);
    /* 1.00 x 0.1234 = 0.1234 -> 0.12; 0.15 x 0.3 = 0.045 -> 0.05 */
    assert_int_equal(hmb_money_apply_ratio(100, 1234), 12);
    assert_int_equal(hmb_money_apply_ratio(15, 3000), 5);
    /* negative mirrors */
    assert_int_equal(hmb_money_apply_ratio(-5, 5000), -3);
    /* largest amount does not overflow; nor would one 10000 times it */
    assert_int_equal(hmb_money_apply_ratio(HMB_FEN_MAX, 10000), HMB_FEN_MAX);
    assert_int_equal(hmb_money_apply_ratio(HMB_FEN_MAX * 10000, 9999),
                     HMB_FEN_MAX * 9999);
}

static void test_allocate_worked_example(void **state)
{
    hmb_ratio_t shares[3] = {4000, 3500, 2500};
    hmb_fen_t out[3];

    hmb_money_allocate(1210000, shares, 3, out);
    assert_int_equal(out[0], 484000);
    assert_int_equal(out[1], 423500);
    assert_int_equal(out[2], 302500);
    hmb_money_allocate(-1210000, shares, 3, out);
    assert_int_equal(out[0], -484000);
    assert_int_equal(out[1], -423500);
    assert_int_equal(out[2], -302500);
}

static void test_allocate_remainders(void **state)
{
    hmb_ratio_t thirds[3] = {3334, 3333, 3333};
    hmb_ratio_t equal[3] = {3333, 3334, 3333};
    hmb_ratio_t two[2] = {5000, 5000};
    hmb_ratio_t odd[3] = {4000, 3500, 2500};
    hmb_fen_t out[3];

    /* 0.01 x (0.3334, 0.3333, 0.3333): remainders 3334, 3333, 3333 */
    hmb_money_allocate(1, thirds, 3, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 0);
    /* 0.02: two fen left over go to the largest remainder (index 1) and
     * the first of the tied ones (index 0) */
    hmb_money_allocate(2, equal, 3, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 0);
    /* 0.01 split in halves: tie goes to the first listed */
    hmb_money_allocate(1, two, 2, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
    /* 0.03 x (0.40, 0.35, 0.25): exact 1.2, 1.05, 0.75 -> floors 1,1,0,
     * one fen left goes to the largest remainder 0.75 */
    hmb_money_allocate(3, odd, 3, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 1);
    /* 0.07: 2.8, 2.45, 1.75 -> 2,2,1 + 2 fen to 0.8 and 0.75 */
    hmb_money_allocate(7, odd, 3, out);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 2);
}

static void test_allocate_sums(void **state)
{
    hmb_ratio_t shares[5] = {1111, 2222, 3333, 1234, 2100};
    hmb_fen_t out[5], t;
    unsigned seed = 12345;
    int k, i;

    for (k = 0; k < 20000; k++) {
        hmb_fen_t sum = 0;
        seed = seed * 1103515245u + 12345u;
        t = (hmb_fen_t)(seed % 100000000u);
        hmb_money_allocate(t, shares, 5, out);
        for (i = 0; i < 5; i++) {
            hmb_fen_t floor_share = t * shares[i] / 10000;
            assert_true(out[i] == floor_share || out[i] == floor_share + 1);
            sum += out[i];
        }
        assert_int_equal(sum, t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_amounts),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test_setup_teardown(test_ratio, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_format, hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test(test_round_half_up),
        cmocka_unit_test(test_allocate_worked_example),
        cmocka_unit_test(test_allocate_remainders),
        cmocka_unit_test(test_allocate_sums),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("money", tests, NULL, NULL);
}
