/* Settlement messages (INTERFACES.md section 1): the HIS request envelope
 * and the settlement server's response, in UTF-8, GBK or GB18030. */
#ifndef HMB_MESSAGE_H
#define HMB_MESSAGE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "hmb_money.h"

typedef enum {
    HMB_TX_NONE = 0,                /* not a settlement transaction */
    HMB_TX_PRESETTLE,               /* 2303, 2206 */
    HMB_TX_SETTLE,                  /* 2304, 2207 */
    HMB_TX_CANCEL                   /* 2305, 2208 */
} hmb_tx_e;

/* HMB_TX_NONE for any other infno. */
hmb_tx_e hmb_tx_from_infno(const char *infno);
const char *hmb_tx_name(hmb_tx_e tx);

typedef struct {
    const char *encoding;
    const char *infno;
    const char *msgid;
    const char *fixmedins_code;
    const char *fixmedins_name;
    const char *insuplc_admdvs;
    const char *inf_time;
    /* input/data: for 2305/2208 the settlement to cancel */
    const char *setl_id;
    const char *mdtrt_id;
    const char *psn_no;
    hmb_tx_e tx;
} hmb_request_t;

typedef struct {
    const char *feedetl_sn;
    const char *med_list_codg;
    hmb_fen_t fulamt_ownpay_amt;
    hmb_fen_t overlmt_amt;
} hmb_fee_t;

typedef struct {
    const char *encoding;           /* as declared; "UTF-8" when none */
    const char *infcode;
    /* 0 when the response is to pass through untouched (infcode not 0,
     * no <output>, no <setlinfo>); skip_reason says why. */
    int actionable;
    const char *skip_reason;
    apr_size_t splice_at;           /* byte offset of "</output" */

    /* setlinfo */
    const char *mdtrt_id;
    const char *setl_id;            /* NULL on pre-settlement */
    const char *psn_no;
    const char *setl_time;          /* "YYYY-MM-DD HH:MM:SS" */
    const char *med_type;
    const char *dise_codg;          /* NULL when absent */
    const char *insutype;
    int psn_insu_stas;              /* -1 when absent */
    hmb_fen_t medfee_sumamt;
    hmb_fen_t fulamt_ownpay_amt;
    hmb_fen_t overlmt_selfpay;
    hmb_fen_t fund_pay_sumamt;
    int has_fund_pay_sumamt;
    hmb_fen_t psn_part_amt;
    int has_psn_part_amt;
    hmb_fen_t psn_cash_pay;
    int has_psn_cash_pay;
    int has_fee_detail;             /* at least one <feedetail> */
    apr_array_header_t *fees;       /* hmb_fee_t */
} hmb_response_t;

/* Bounds on what the parsers accept. */
#define HMB_MESSAGE_MAX_BYTES   (8 * 1024 * 1024)
#define HMB_MESSAGE_MAX_FEES    20000

/* Parse the request envelope. Returns NULL or a one-line reason. */
const char *hmb_request_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                              hmb_request_t **req);

/* Parse a response. allow_negative admits signed amounts in setlinfo
 * (cancellation responses); fee lines may always be negative (refunds).
 * Returns NULL (see actionable) or a one-line reason. */
const char *hmb_response_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                               int allow_negative, hmb_response_t **resp);

/* Validate bytes against xsd/hmb-settlement.xsd (strict mode, tests). */
const char *hmb_message_validate(apr_pool_t *p, const char *buf,
                                 apr_size_t len);

/* Find where "</output" of the root's <output> child starts, scanning raw
 * bytes (comments, CDATA, PIs and quoted attributes understood). Refuses
 * DOCTYPE/ENTITY and depth over max_depth. Returns NULL or the reason;
 * *found is 0 when there is no such end tag. */
const char *hmb_message_scan(const char *buf, apr_size_t len, int max_depth,
                             apr_size_t *offset, int *found);

#endif
