/* Money in integer fen and ratios in 1/10000, as DOMAIN.md requires:
 * no floating point anywhere on a payout path. */
#ifndef HMB_MONEY_H
#define HMB_MONEY_H

#include <apr_pools.h>

typedef apr_int64_t hmb_fen_t;
typedef apr_int32_t hmb_ratio_t;

#define HMB_RATIO_ONE 10000
/* Largest magnitude of an amount (DOMAIN.md, "Identity and conflicts"):
 * 9,999,999,999.99 yuan. A message holding more, or fee lines adding up
 * to more, is not read. Products with ratios are taken in 128 bits all
 * the same, so that no input can make them wrap. */
#define HMB_FEN_MAX APR_INT64_C(999999999999)
#define HMB_MONEY_BUFSZ 24

/* Parse "123.45", "123.4", "123" (and "-1.00" when allow_negative).
 * Returns NULL on success, else a static reason. */
const char *hmb_money_parse(const char *s, int allow_negative, hmb_fen_t *out);

/* Parse a ratio between 0 and 1 with at most four decimals. */
const char *hmb_ratio_parse(const char *s, hmb_ratio_t *out);

/* "-12100.00"; buf must hold HMB_MONEY_BUFSZ bytes; returns buf. */
char *hmb_money_fmt(char *buf, hmb_fen_t v);
const char *hmb_money_str(apr_pool_t *p, hmb_fen_t v);

/* "0.7000" */
const char *hmb_ratio_str(apr_pool_t *p, hmb_ratio_t r);
/* "70%", "72.5%": for the receipt memo */
const char *hmb_ratio_percent(apr_pool_t *p, hmb_ratio_t r);

/* round_half_up(v x r); for negative v the magnitude is rounded. */
hmb_fen_t hmb_money_apply_ratio(hmb_fen_t v, hmb_ratio_t r);

/* Split total over n shares (adding up to HMB_RATIO_ONE) by the largest
 * remainder method, ties to the lower index; out[] adds up to total. */
void hmb_money_allocate(hmb_fen_t total, const hmb_ratio_t *shares, int n,
                        hmb_fen_t *out);

#endif
