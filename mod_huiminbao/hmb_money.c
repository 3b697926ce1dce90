/* Integer money. Amounts in messages are decimal text worth a whole
 * number of fen; anything else is refused rather than guessed at. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_money.h"

/* Amounts in both wire formats. XML's are schema text with at most two
 * decimals. A JSON number is written by a serializer, which may give any
 * scale ("1200.000000") or an exponent: decimals after the second are
 * taken when they are all 0, and an exponent is refused, never evaluated,
 * so no amount ever passes through a double. */
static const char *hmb_money_scan(const char *s, int allow_negative,
                                  int any_scale, hmb_fen_t *out)
{
    hmb_fen_t yuan = 0;
    int fen = 0, decimals = 0, digits = 0, negative = 0;

    if (!s || !*s) {
        return "empty amount";
    }
    /* "+" is in neither format's grammar for an amount */
    if (*s == '-') {
        if (!allow_negative) {
            return "negative amount not allowed here";
        }
        negative = 1;
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        yuan = yuan * 10 + (*s - '0');
        if (yuan > HMB_FEN_MAX / 100) {
            return "amount too large (more than 9999999999.99)";
        }
        digits++;
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++decimals > 2) {
                if (!any_scale) {
                    return "more than two decimals";
                }
                if (*s != '0') {
                    return "a fraction of a fen (a decimal after the "
                           "second that is not 0)";
                }
                continue;
            }
            fen = fen * 10 + (*s - '0');
        }
        if (decimals == 0) {
            return "no digits after the decimal point";
        }
        if (decimals == 1) {
            fen *= 10;
        }
    }
    if (any_scale && (*s == 'e' || *s == 'E') && digits) {
        return "an exponent is not accepted in an amount (plain decimals "
               "only)";
    }
    if (*s) {
        return "not a number";
    }
    if (!digits) {
        return "no digits before the decimal point";
    }
    *out = (negative ? -1 : 1) * (yuan * 100 + fen);
    return NULL;
}

const char *hmb_money_parse(const char *s, int allow_negative, hmb_fen_t *out)
{
    return hmb_money_scan(s, allow_negative, 0, out);
}

const char *hmb_money_parse_json(const char *s, int allow_negative,
                                 hmb_fen_t *out)
{
    return hmb_money_scan(s, allow_negative, 1, out);
}

const char *hmb_ratio_parse(const char *s, hmb_ratio_t *out)
{
    int whole = 0, frac = 0, decimals = 0, digits = 0;

    if (!s || !*s) {
        return "empty ratio";
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (*s - '0');
        if (whole > 1) {
            return "ratio above 1";
        }
        digits++;
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++decimals > 4) {
                return "more than four decimals";
            }
            frac = frac * 10 + (*s - '0');
        }
        if (decimals == 0) {
            return "no digits after the decimal point";
        }
        for (; decimals < 4; decimals++) {
            frac *= 10;
        }
    }
    if (*s) {
        return "not a ratio";
    }
    if (!digits) {
        return "no digits before the decimal point";
    }
    if (whole == 1 && frac != 0) {
        return "ratio above 1";
    }
    *out = whole * HMB_RATIO_ONE + frac;
    return NULL;
}

char *hmb_money_fmt(char *buf, hmb_fen_t v)
{
    apr_uint64_t m = v < 0 ? (apr_uint64_t)(-(v + 1)) + 1 : (apr_uint64_t)v;

    apr_snprintf(buf, HMB_MONEY_BUFSZ, "%s%" APR_UINT64_T_FMT ".%02u",
                 v < 0 ? "-" : "", m / 100, (unsigned)(m % 100));
    return buf;
}

const char *hmb_money_str(apr_pool_t *p, hmb_fen_t v)
{
    return hmb_money_fmt(apr_palloc(p, HMB_MONEY_BUFSZ), v);
}

const char *hmb_ratio_str(apr_pool_t *p, hmb_ratio_t r)
{
    return apr_psprintf(p, "%d.%04d", r / HMB_RATIO_ONE, r % HMB_RATIO_ONE);
}

const char *hmb_ratio_percent(apr_pool_t *p, hmb_ratio_t r)
{
    int whole = r / 100, frac = r % 100;

    if (frac == 0) {
        return apr_psprintf(p, "%d%%", whole);
    }
    if (frac % 10 == 0) {
        return apr_psprintf(p, "%d.%d%%", whole, frac / 10);
    }
    return apr_psprintf(p, "%d.%02d%%", whole, frac);
}

hmb_fen_t hmb_money_apply_ratio(hmb_fen_t v, hmb_ratio_t r)
{
    __int128 m = v < 0 ? -(__int128)v : (__int128)v;
    __int128 q;

    /* Half up on the magnitude: a reversal mirrors its settlement. A
     * ratio is at most 1, so the result is never larger than v. */
    q = (m * r + HMB_RATIO_ONE / 2) / HMB_RATIO_ONE;
    return v < 0 ? -(hmb_fen_t)q : (hmb_fen_t)q;
}

void hmb_money_allocate(hmb_fen_t total, const hmb_ratio_t *shares, int n,
                        hmb_fen_t *out)
{
    hmb_fen_t magnitude = total < 0 ? -total : total;
    hmb_fen_t left = magnitude;
    int i, j;

    for (i = 0; i < n; i++) {
        out[i] = (hmb_fen_t)((__int128)magnitude * shares[i]
                             / HMB_RATIO_ONE);
        left -= out[i];
    }
    /* The fen left over (fewer than n, each remainder being below one fen)
     * go one each to the largest remainders, ties to the first listed:
     * share i gets one when fewer than `left` shares rank before it. */
    for (i = 0; i < n && left > 0; i++) {
        apr_int64_t ri = (apr_int64_t)((__int128)magnitude * shares[i]
                                       % HMB_RATIO_ONE);
        int rank = 0;
        for (j = 0; j < n; j++) {
            apr_int64_t rj = (apr_int64_t)((__int128)magnitude * shares[j]
                                           % HMB_RATIO_ONE);
            if (rj > ri || (rj == ri && j < i)) {
                rank++;
            }
        }
        if (rank < left) {
            out[i]++;
        }
    }
    if (total < 0) {
        for (i = 0; i < n; i++) {
            out[i] = -out[i];
        }
    }
}
