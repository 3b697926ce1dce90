/* hmbctl's commands share these: the options, the invocation, and how
 * a command says it was misused or refused. Commands of a concern of
 * their own live in files of their own (hmbctl_report.c, ...), each one
 * entry in hmbctl.c's table. */
#ifndef HMBCTL_H
#define HMBCTL_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "hmb_ledger.h"
#include "hmb_settle.h"

#define HMBCTL_OK 0
#define HMBCTL_REJECTED 1
#define HMBCTL_USAGE 2
#define HMBCTL_MAX_FILE (64 * 1024 * 1024)
#define HMBCTL_PROGRESS_ROWS 10000

/* Options, as bits: each command lists those it takes. */
enum {
    O_PLAN = 1 << 0,
    O_REQUEST = 1 << 1,
    O_FUND_LINE = 1 << 2,
    O_STRICT = 1 << 3,
    O_DRY_RUN = 1 << 4,
    O_SPOOL = 1 << 5,
    O_KEEP = 1 << 6,
    O_PLAN_CODE = 1 << 7,
    O_YEAR = 1 << 8,
    O_ENCODING = 1 << 9,
    O_SETL_ID = 1 << 10,
    O_FROM = 1 << 11,
    O_TO = 1 << 12,
    O_WHY = 1 << 13,
    O_BY = 1 << 14,
    O_FORMAT = 1 << 15,
    O_SHOW_PSN = 1 << 16,
    O_UTC_OFFSET = 1 << 17,
    O_FLAGS = 1 << 18,
    O_MONTH = 1 << 19,
    O_OUT = 1 << 20,
    O_DAY = 1 << 21
};

typedef struct {
    apr_pool_t *p;
    const char *ledger_spec;
    apr_array_header_t *plans;      /* hmb_plan_t * */
    const char *request;
    const char *spool;
    const char *fund_type;
    const char *fund_name;
    const char *plan_code;
    int year;
    const char *encoding;
    apr_array_header_t *setl_ids;   /* const char * */
    const char *from;
    const char *to;
    const char *why;
    const char *by;
    const char *format;
    int keep_days;
    int strict;
    int dry_run;
    int show_psn;
    int utc_offset;                 /* minutes east of UTC */
    int flags;                      /* --flags */
    const char *month;              /* YYYY-MM */
    const char *out;                /* a directory */
    const char *day;                /* --day YYYY-MM-DD */
    unsigned given;                 /* O_* bits seen */
    apr_array_header_t *args;       /* positional */
} hmbctl_t;

typedef struct {
    const char *name;
    int (*run)(hmbctl_t *c);
    unsigned options;
    const char *usage;
    const char *help;
} hmbctl_cmd_t;

extern const hmbctl_cmd_t *hmbctl_current;

int usage(const char *why);
int rejected(const char *what);
int open_ledger_ex(hmbctl_t *c, int flags, hmb_ledger_t **l);
int need_plans(hmbctl_t *c);
const char *csv_field(apr_pool_t *p, const char *s);
/* A whole file (at most HMBCTL_MAX_FILE); NULL or "PATH: reason". */
const char *read_file(apr_pool_t *p, const char *path, const char **buf,
                      apr_size_t *len);

/* hmbctl_report.c */
int cmd_rollup(hmbctl_t *c);
int cmd_report(hmbctl_t *c);
int cmd_history(hmbctl_t *c);
int cmd_export(hmbctl_t *c);

/* hmbctl_whatif.c */
int cmd_whatif(hmbctl_t *c);

/* hmbctl_conform.c */
int cmd_conform(hmbctl_t *c);

/* hmbctl_audit.c */
int cmd_audit(hmbctl_t *c);

#endif
