/* A year's Huiminbao plan (INTERFACES.md section 3), loaded from XML,
 * validated against xsd/hmb-plan.xsd, then checked for meaning. */
#ifndef HMB_PLAN_H
#define HMB_PLAN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include "hmb_money.h"

typedef enum {
    HMB_BASIS_INSCOPE_SELFPAY,      /* inscope-selfpay */
    HMB_BASIS_OUTSCOPE_SELFPAY,     /* outscope-selfpay */
    HMB_BASIS_OUTSCOPE_CATALOG,     /* outscope-catalog */
    HMB_BASIS_LIST                  /* list */
} hmb_basis_e;

typedef struct {
    const char *code;
    int has_deductible;
    hmb_fen_t deductible;
    int has_ratio;
    hmb_ratio_t ratio;
} hmb_class_t;

typedef struct {
    const char *code;
    const char *name;               /* optional name attribute, or NULL */
    hmb_basis_e basis;
    const char *pool;
    hmb_fen_t deductible;
    hmb_ratio_t ratio;
    int has_preexisting_ratio;
    hmb_ratio_t preexisting_ratio;
    hmb_fen_t cap;
    /* outscope-catalog and list: med_list_codg -> name (const char *) */
    apr_hash_t *codes;
    const char *codes_file;         /* absolute path it was read from */
    int without_detail_all;         /* outscope-catalog: 1 = all, 0 = none */
    apr_array_header_t *classes;    /* hmb_class_t */
    int line;                       /* line in the plan file */
} hmb_liability_t;

typedef struct {
    const char *code;
    const char *name;
    hmb_ratio_t share;
} hmb_insurer_t;

typedef struct {
    const char *code;
    apr_hash_t *diseases;           /* dise_codg -> "" ; NULL = any */
} hmb_medtype_t;

/* Supervision thresholds (<supervision>): 0 where not set. */
typedef struct {
    int readmission_days;           /* another visit within N days */
    hmb_ratio_t outscope_share;     /* out-of-catalog self-pay share above */
    hmb_fen_t claim_over;           /* a payout above */
    int claims_in_30_days;          /* more than K settlements in 30 days */
    int other_county;               /* an institution outside the county */
} hmb_supervision_t;

typedef struct {
    const char *path;
    const char *code;
    const char *name;
    int year;
    int version;
    const char *from;               /* YYYY-MM-DD, inclusive */
    const char *to;                 /* YYYY-MM-DD, inclusive */
    int has_cap;
    hmb_fen_t cap;                  /* plan-wide cap when has_cap */
    apr_hash_t *med_types;          /* code -> hmb_medtype_t * */
    int all_institutions;           /* <institution code="*"/> */
    apr_hash_t *institutions;       /* code -> "" */
    apr_array_header_t *liabilities;/* hmb_liability_t, in plan order */
    apr_array_header_t *insurers;   /* hmb_insurer_t, in plan order */
    hmb_supervision_t sup;
} hmb_plan_t;

/* Load, schema-validate and check a plan file and its catalog/list files.
 * Returns NULL on success, else "FILE:LINE: reason" (one line). */
const char *hmb_plan_load(apr_pool_t *p, const char *path, hmb_plan_t **plan);

/* The same from memory; base_dir resolves catalog and list paths. */
const char *hmb_plan_load_mem(apr_pool_t *p, const char *name,
                              const char *base_dir, const char *buf,
                              apr_size_t len, hmb_plan_t **plan);

/* Checks across plans loaded together: no two with the same code, year
 * and version. Returns NULL or the reason. */
const char *hmb_plan_check_set(apr_pool_t *p, const apr_array_header_t *plans);

/* The plans (hmb_plan_t *) whose period contains date (YYYY-MM-DD), in
 * load order. */
apr_array_header_t *hmb_plan_candidates(apr_pool_t *p,
                                        const apr_array_header_t *plans,
                                        const char *date);

/* The last day (YYYY-MM-DD) any of the plans covers, or NULL for none. */
const char *hmb_plan_set_until(const apr_array_header_t *plans);

/* Plan by code and year, highest version, or NULL. */
const hmb_plan_t *hmb_plan_find(const apr_array_header_t *plans,
                                const char *code, int year);

const hmb_class_t *hmb_liability_class(const hmb_liability_t *l,
                                       const char *class_code);
const char *hmb_basis_name(hmb_basis_e b);

/* The embedded schema text (xsd/hmb-plan.xsd), generated at build time. */
extern const char hmb_xsd_plan[];
extern const char hmb_xsd_settlement[];

#endif
