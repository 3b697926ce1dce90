/* Private to the httpd glue (mod_huiminbao.c, hmb_filter.c,
 * hmb_capture.c): configuration, the per-request context the two filters
 * share, and the counters shared by all children. The core knows none of
 * this. */
#ifndef MOD_HUIMINBAO_H
#define MOD_HUIMINBAO_H

#include <httpd.h>
#include <http_config.h>
#include <util_filter.h>
#include <apr_tables.h>

#include "hmb_engine.h"

extern module AP_MODULE_DECLARE_DATA huiminbao_module;

/* Message tags for the error log. httpd's own AH numbers are allocated
 * centrally and already reach past 10600, so a private range of them
 * would collide; this module's tags carry their own prefix instead and
 * are unique per call site. */
#define HMBLOGNO(n) "HMB" #n ": "

#define HMB_FILTER_NAME          "HUIMINBAO"
#define HMB_CAPTURE_FILTER_NAME  "HUIMINBAO_CAPTURE"
#define HMB_STATUS_HANDLER       "huiminbao-status"
/* r->notes key holding the client's Accept-Encoding while it is hidden
 * from the upstream. */
#define HMB_NOTE_ACCEPT_ENCODING "huiminbao-accept-encoding"

#define HMB_DEFAULT_MAX_BODY     (1024 * 1024)
#define HMB_DEFAULT_MAX_REQUEST  (256 * 1024)

/* Deferred messages must survive a reboot: not under the runtime
 * directory, which is a tmpfs (/run) on most systems. */
#ifndef HMB_DEFAULT_SPOOL_DIR
#define HMB_DEFAULT_SPOOL_DIR    "/var/spool/huiminbao"
#endif

/* Server config (server config and virtual host). NULL = unset, so the
 * main server's values reach the virtual hosts. */
typedef struct {
    apr_array_header_t *plans;      /* hmb_plan_t *, in directive order */
    const char *spool_dir;
} hmb_srv_conf_t;

#define HMB_UNSET (-1)

/* Per-directory config; HMB_UNSET / NULL = inherit. */
typedef struct {
    int enabled;
    apr_off_t max_body;
    apr_off_t max_request;
    int strict;
    int fund_set;                   /* HuiminbaoFundLine seen (On or Off) */
    const char *fund_pay_type;      /* NULL: no fund line */
    const char *fund_pay_type_name;
} hmb_dir_conf_t;

/* One request: the capture input filter fills the request part, the
 * output filter the response part. Lives in r->pool. */
typedef struct {
    /* request envelope */
    char *req_buf;
    apr_size_t req_len;
    apr_size_t req_cap;
    apr_off_t req_max;
    int req_overflow;               /* more than req_max bytes came */
    int req_eos;                    /* the whole body was read */

    /* response */
    int decided;                    /* first output call done */
    int seen_eos;
    apr_bucket_brigade *bb;         /* collected, in r->pool */
    apr_off_t resp_len;
    apr_off_t resp_max;
} hmb_req_ctx_t;

/* Counters for huiminbao-status, in shared memory so that every child
 * adds to the same numbers. Updated with apr_atomic_*64 only. */
typedef struct {
    apr_uint64_t magic;             /* layout check across restarts */
    apr_uint64_t started;           /* apr_time_t of creation */
    apr_uint64_t messages;          /* responses given to the core */
    apr_uint64_t spliced;           /* <hmbinfo> sent, settled now */
    apr_uint64_t deferred;          /* <hmbinfo> 'deferred' sent, spooled */
    apr_uint64_t passed;            /* core left the bytes alone */
    apr_uint64_t pass_errors;       /* ... because they were bad */
    apr_uint64_t spool_failures;    /* deferred, but spool failed: passed */
    apr_uint64_t stood_aside;       /* not a candidate (type, status, ...) */
    apr_uint64_t too_large;         /* over HuiminbaoMaxBody: passed */
    apr_uint64_t aborted;           /* upstream error while collecting */
    apr_uint64_t req_overflow;      /* request over HuiminbaoMaxRequest */
    apr_uint64_t duplicates;        /* stored result returned again */
    apr_uint64_t no_ledger;         /* mod_dbd gave no connection */
    apr_uint64_t stas[HMB_STAS_NO_CLAIM + 1];
    apr_uint64_t pay_fen;           /* signed sum, two's complement */
    apr_uint64_t usec_total;        /* time in hmb_settle_message() */
    apr_uint64_t usec_max;
} hmb_counters_t;

/* NULL when shared memory could not be had: counting is then skipped. */
hmb_counters_t *hmb_counters(void);
void hmb_count(apr_uint64_t *counter);

/* psn_no for the log: first 4 and last 2 characters kept, the rest '*';
 * 6 characters or fewer are masked entirely. */
const char *hmb_mask_psn(apr_pool_t *p, const char *psn_no);

hmb_req_ctx_t *hmb_req_ctx(request_rec *r);

apr_status_t hmb_capture_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                ap_input_mode_t mode, apr_read_type_e block,
                                apr_off_t readbytes);
apr_status_t hmb_output_filter(ap_filter_t *f, apr_bucket_brigade *bb);

/* Called from the optional_fn_retrieve hook: find mod_dbd. Returns 0
 * when it is not loaded. */
int hmb_filter_find_dbd(void);

#endif
