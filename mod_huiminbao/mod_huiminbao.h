/* Private to the httpd glue (mod_huiminbao*.c): configuration, the
 * per-request context the two filters share, and the counters shared by
 * all children. The core (include/hmb_*.h) knows none of this. */
#ifndef MOD_HUIMINBAO_H
#define MOD_HUIMINBAO_H

#include <httpd.h>
#include <http_config.h>
#include <util_filter.h>
#include <apr_tables.h>

#include "hmb_engine.h"
#include "hmb_ledger.h"
#include "hmb_message.h"
#include "hmb_dashboard.h"

extern module AP_MODULE_DECLARE_DATA huiminbao_module;

/* Message tags for the error log. httpd's own AH numbers are allocated
 * centrally and already reach past 10600, so a private range of them
 * would collide; this module's tags carry their own prefix instead and
 * are unique per call site. */
#define HMBLOGNO(n) "HMB" #n ": "

#define HMB_FILTER_NAME          "HUIMINBAO"
#define HMB_GUARD_FILTER_NAME    "HUIMINBAO_GUARD"
#define HMB_CAPTURE_FILTER_NAME  "HUIMINBAO_CAPTURE"
#define HMB_STATUS_HANDLER       "huiminbao-status"
/* r->notes key holding the client's Accept-Encoding while it is hidden
 * from the upstream. */
#define HMB_NOTE_ACCEPT_ENCODING "huiminbao-accept-encoding"

#define HMB_DEFAULT_MAX_BODY     (1024 * 1024)
#define HMB_DEFAULT_SPOOL_KEEP   90
#define HMB_DEFAULT_MAX_REQUEST  (256 * 1024)

/* Deferred messages must survive a reboot: not under the runtime
 * directory, which is a tmpfs (/run) on most systems. */
#ifndef HMB_DEFAULT_SPOOL_DIR
#define HMB_DEFAULT_SPOOL_DIR    "/var/spool/huiminbao"
#endif

/* ---- configuration (mod_huiminbao_config.c) -------------------------- */

/* Server config (server config and virtual host). NULL = unset, so the
 * main server's values reach the virtual hosts. */
typedef struct {
    apr_array_header_t *plans;      /* hmb_plan_t *, in directive order */
    const char *enabled_at;         /* where "Huiminbao On" was given for
                                     * this server, NULL: nowhere */
    const char *spool_dir;
    int spool_keep;                 /* days; HMB_UNSET: the default */
    /* the settlement schema, compiled once per configuration at
     * post_config for HuiminbaoStrict */
    const hmb_message_schema_t *schema;
    /* local days of the rollups and the dashboard: minutes east of UTC
     * (HuiminbaoUTCOffset); HMB_UNSET: the default, +08:00 */
    int utc_offset;
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
    int signed_rewrite;             /* HuiminbaoSigned: 1 Rewrite, 0 Pass */
    int memo_keep;                  /* HuiminbaoMemoKeep, days */
} hmb_dir_conf_t;

extern const command_rec hmb_cmds[];
void *hmb_create_srv_conf(apr_pool_t *p, server_rec *s);
void *hmb_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *hmb_create_dir_conf(apr_pool_t *p, char *dir);
void *hmb_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

hmb_srv_conf_t *hmb_srv_conf(const server_rec *s);
hmb_dir_conf_t *hmb_dir_conf(const request_rec *r);
const char *hmb_spool_dir(const server_rec *s);
int hmb_spool_keep(const server_rec *s);

/* HuiminbaoUTCOffset, in minutes east of UTC. */
int hmb_utc_offset(const server_rec *s);

/* Today's date (YYYY-MM-DD) where the server runs. */
const char *hmb_today(apr_pool_t *p);
apr_off_t hmb_max_body(const hmb_dir_conf_t *d);
apr_off_t hmb_max_request(const hmb_dir_conf_t *d);

/* ---- one request (mod_huiminbao_filter.c, _capture.c) ---------------- */

/* The capture input filter fills the request part, the output filter the
 * response part. Lives in r->pool. */
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
    apr_bucket_brigade *bb;         /* the body as collected */
    apr_off_t resp_len;
    apr_off_t resp_max;
    hmb_msg_reader_t *reader;       /* reads the body as it arrives */
    apr_time_t t0;                  /* the first byte of the body */
    apr_time_t busy;                /* time spent in the core */
    ap_filter_t *holder;            /* our output filter, while it holds
                                     * the body back (none has gone on) */
} hmb_req_ctx_t;

hmb_req_ctx_t *hmb_req_ctx(request_rec *r);

apr_status_t hmb_capture_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                ap_input_mode_t mode, apr_read_type_e block,
                                apr_off_t readbytes);
apr_status_t hmb_output_filter(ap_filter_t *f, apr_bucket_brigade *bb);
apr_status_t hmb_guard_filter(ap_filter_t *f, apr_bucket_brigade *bb);

/* Called from the optional_fn_retrieve hook: find mod_dbd. Returns 0
 * when it is not loaded. */
int hmb_filter_find_dbd(void);

/* The ledger on this request's mod_dbd connection, NULL when there is
 * none or its schema is not this build's (logged). */
hmb_ledger_t *hmb_request_ledger(request_rec *r);

/* At child start: bring the ledger's schema up to date once, on a
 * connection of mod_dbd's, so that no request ever has to. */
void hmb_filter_child_ledger(apr_pool_t *p, server_rec *s);

/* ---- counters and status (mod_huiminbao_status.c) --------------------- */

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
    apr_uint64_t failures;          /* the core failed: a bug, logged */
    apr_uint64_t forged;            /* an <hmbinfo> came from upstream */
    apr_uint64_t conflicts;         /* setl_id_conflict, cancel_mismatch */
    apr_uint64_t stas[HMB_STAS_COUNT];
    apr_uint64_t pay_fen;           /* signed sum, two's complement */
    apr_uint64_t usec_total;        /* time in the core */
    apr_uint64_t usec_max;
    apr_uint64_t usec_bucket[HMB_DASH_BUCKETS];   /* hmb_dash_bucket() */
    /* the last start-up probe of the ledger by a child: when it was fine,
     * when it failed and why (written whole by one child at a time, read
     * by the status page) */
    apr_uint64_t ledger_ok_at;      /* apr_time_t */
    apr_uint64_t ledger_bad_at;
    char ledger_error[256];
} hmb_counters_t;

/* Map the counters; in post_config, before the children are forked. */
void hmb_counters_setup(server_rec *s);

/* NULL when shared memory could not be had: counting is then skipped. */
hmb_counters_t *hmb_counters(void);
void hmb_count(apr_uint64_t *counter);
void hmb_count_max(apr_uint64_t *max, apr_uint64_t v);

/* A child's start-up probe of the ledger, for the status page. */
void hmb_status_ledger(int ok, const char *error);

int hmb_status_handler(request_rec *r);
int hmb_status_hook(request_rec *r, int flags);

#endif
