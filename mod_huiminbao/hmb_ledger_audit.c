/* The ledger's audit trail (docs/ledger.md, "Audit trail").
 *
 * Each claim gets a row of hmb_claim_audit: its place in its person's
 * chain (psn_no, plan code and year, the scope of the person's lock, and
 * seq 1, 2, ...), the local day it was recorded, the previous claim's
 * hash and its own: SHA-256 over a canonical encoding of all that and of
 * every column of the claim, its liability rows and its insurer rows.
 * The row is written in the claim's transaction, after the person's lock
 * was taken, so chaining adds two statements and no serialization; a
 * claim recorded without a lock (a person not enrolled) that races
 * another of the same person fails on the chain's unique (person, seq)
 * and is tried again like any lost race.
 *
 * A day's root is a Merkle tree (RFC 6962's shape) over the heads of the
 * chains that grew that day, in person order: one person's head can be
 * shown to belong to a root without showing anyone else's.
 *
 * SHA-256 is OpenSSL's libcrypto (EVP), Debian's libssl-dev: maintained,
 * hardware-accelerated where the CPU can, updated with the distribution. */
#include <string.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_ledger_audit.h"
#include "hmb_ledger_int.h"
#include "hmb_rollup.h"
#include "hmb_util.h"

/* the claim's columns, in the order they are hashed */
#define AUDIT_CLAIM_COLS \
    "c.hmb_setl_id, c.kind, c.setl_id, c.reverses, c.psn_no, c.mdtrt_id," \
    " c.fixmedins_code, c.msgid, c.setl_time, c.plan_code, c.plan_year," \
    " c.plan_ver, c.stas, c.rea_code, c.hmb_pay, c.hmbinfo, c.created_at," \
    " c.origin, c.msg, c.decided_by, c.why, c.mark"
#define AUDIT_NCLAIM 22
#define AUDIT_NLIAB HMB_LEDGER_LIAB_VALUES  /* seq .. pay_amt */
#define AUDIT_NINS HMB_LEDGER_INS_VALUES    /* seq .. pay_amt */
#define AUDIT_PAGE 1000
#define AUDIT_HEX 64

const char *const hmb_audit_migration[] = {
    "CREATE TABLE IF NOT EXISTS hmb_claim_audit ("
    " hmb_setl_id TEXT NOT NULL PRIMARY KEY,"
    " psn_no TEXT NOT NULL,"
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " day TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " UNIQUE (psn_no, plan_code, plan_year, seq))",

    "CREATE INDEX IF NOT EXISTS hmb_claim_audit_day"
    " ON hmb_claim_audit (day, psn_no, plan_code, plan_year, seq)",

    "CREATE TABLE IF NOT EXISTS hmb_audit_root ("
    " day TEXT NOT NULL PRIMARY KEY,"
    " root TEXT NOT NULL,"
    " heads INTEGER NOT NULL,"
    " claims BIGINT NOT NULL,"
    " sealed_at TEXT NOT NULL)",
    NULL
};

static const char *const sql_head =
    "SELECT seq, hash FROM hmb_claim_audit"
    " WHERE psn_no = %s AND plan_code = %s"
    " AND plan_year = CAST(%s AS INTEGER)"
    " ORDER BY seq DESC LIMIT 1";

static const char *const sql_insert =
    "INSERT INTO hmb_claim_audit (hmb_setl_id, psn_no, plan_code, plan_year,"
    " seq, day, prev_hash, hash)"
    " VALUES (%s, %s, %s, CAST(%s AS INTEGER), CAST(%s AS INTEGER), %s, %s,"
    " %s)";

/* ---- the canonical encoding and its hash ---- */

typedef struct {
    EVP_MD_CTX *md;
    int failed;
} audit_hash_t;

static void ah_bytes(audit_hash_t *h, const void *b, apr_size_t n)
{
    if (!h->failed && EVP_DigestUpdate(h->md, b, n) != 1) {
        h->failed = 1;
    }
}

/* One value: "~\n" for NULL, else its length, ':', its bytes, '\n'. */
static void ah_value(audit_hash_t *h, const char *v)
{
    char len[24];
    int n;

    if (!v) {
        ah_bytes(h, "~\n", 2);
        return;
    }
    n = apr_snprintf(len, sizeof(len), "%" APR_SIZE_T_FMT ":", strlen(v));
    ah_bytes(h, len, (apr_size_t)n);
    ah_bytes(h, v, strlen(v));
    ah_bytes(h, "\n", 1);
}

/* The context lives from ah_start to ah_end, which every path reaches. */
static const char *ah_start(audit_hash_t *h, const char *tag)
{
    h->failed = 0;
    h->md = EVP_MD_CTX_new();
    if (!h->md) {
        return "audit: cannot allocate a SHA-256 context";
    }
    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        h->failed = 1;
    }
    ah_bytes(h, tag, strlen(tag));
    return NULL;
}

static const char *ah_end(audit_hash_t *h, unsigned char raw[32])
{
    unsigned int n = 0;
    int ok = !h->failed && EVP_DigestFinal_ex(h->md, raw, &n) == 1
             && n == 32;

    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    return ok ? NULL : "audit: SHA-256 is not available from libcrypto";
}

static char *hex_of(apr_pool_t *p, const unsigned char raw[32])
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(p, AUDIT_HEX + 1);
    int i;

    for (i = 0; i < 32; i++) {
        s[2 * i] = digits[raw[i] >> 4];
        s[2 * i + 1] = digits[raw[i] & 15];
    }
    s[AUDIT_HEX] = '\0';
    return s;
}

/* What one claim's hash covers. */
typedef struct {
    const char *psn_no, *plan_code, *plan_year, *seq, *day, *prev;
    const char **claim;             /* AUDIT_NCLAIM values */
    apr_array_header_t *liabs;      /* const char ** of AUDIT_NLIAB */
    apr_array_header_t *ins;        /* const char ** of AUDIT_NINS */
} audit_entry_t;

static const char *audit_hash(apr_pool_t *p, const audit_entry_t *e,
                              const char **hex)
{
    unsigned char raw[32];
    audit_hash_t h;
    const char *err;
    int i, j;

    if ((err = ah_start(&h, "hmb-audit-claim 1\n"))) {
        return err;
    }
    ah_value(&h, e->psn_no);
    ah_value(&h, e->plan_code);
    ah_value(&h, e->plan_year);
    ah_value(&h, e->seq);
    ah_value(&h, e->day);
    ah_value(&h, e->prev);
    for (i = 0; i < AUDIT_NCLAIM; i++) {
        ah_value(&h, e->claim[i]);
    }
    ah_value(&h, apr_itoa(p, e->liabs->nelts));
    for (i = 0; i < e->liabs->nelts; i++) {
        const char **r = APR_ARRAY_IDX(e->liabs, i, const char **);
        for (j = 0; j < AUDIT_NLIAB; j++) {
            ah_value(&h, r[j]);
        }
    }
    ah_value(&h, apr_itoa(p, e->ins->nelts));
    for (i = 0; i < e->ins->nelts; i++) {
        const char **r = APR_ARRAY_IDX(e->ins, i, const char **);
        for (j = 0; j < AUDIT_NINS; j++) {
            ah_value(&h, r[j]);
        }
    }
    if ((err = ah_end(&h, raw))) {
        return err;
    }
    *hex = hex_of(p, raw);
    return NULL;
}

/* The columns of a claim as hmb_ledger_record_claim writes them. */
static const char **audit_claim_values(apr_pool_t *p, const hmb_claim_t *c,
                                       const char *created_at)
{
    const char **v = apr_pcalloc(p, sizeof(*v) * AUDIT_NCLAIM);

    v[0] = c->hmb_setl_id;
    v[1] = apr_pstrndup(p, &c->kind, 1);
    v[2] = c->setl_id;
    v[3] = c->reverses;
    v[4] = c->psn_no;
    v[5] = c->mdtrt_id;
    v[6] = c->fixmedins_code;
    v[7] = c->msgid;
    v[8] = c->setl_time;
    v[9] = c->plan_code;
    v[10] = c->plan_code ? apr_itoa(p, c->plan_year) : NULL;
    v[11] = c->plan_code ? apr_itoa(p, c->plan_ver) : NULL;
    v[12] = hmb_stas_name(c->stas);
    v[13] = hmb_rea_name(c->rea);
    v[14] = hmb_ledger_fen_str(p, c->hmb_pay);
    v[15] = c->hmbinfo;
    v[16] = created_at;
    v[17] = c->origin ? c->origin : "desk";
    v[18] = c->msg;
    v[19] = c->decided_by;
    v[20] = c->why;
    v[21] = c->kind == 'M' ? c->psn_no : "";
    return v;
}

static void audit_claim_rows(apr_pool_t *p, const hmb_claim_t *c,
                             audit_entry_t *e)
{
    int i;

    e->liabs = apr_array_make(p, 2, sizeof(const char **));
    e->ins = apr_array_make(p, 3, sizeof(const char **));
    for (i = 0; c->liabs && i < c->liabs->nelts; i++) {
        const hmb_claim_liab_t *r = &APR_ARRAY_IDX(c->liabs, i,
                                                   hmb_claim_liab_t);
        const char **v = apr_palloc(p, sizeof(*v) * AUDIT_NLIAB);

        hmb_ledger_liab_values(p, r, i, v);
        APR_ARRAY_PUSH(e->liabs, const char **) = v;
    }
    for (i = 0; c->insurers && i < c->insurers->nelts; i++) {
        const hmb_insurer_result_t *r = &APR_ARRAY_IDX(c->insurers, i,
                                                       hmb_insurer_result_t);
        const char **v = apr_palloc(p, sizeof(*v) * AUDIT_NINS);

        hmb_ledger_ins_values(p, r, i, v);
        APR_ARRAY_PUSH(e->ins, const char **) = v;
    }
}

const char *hmb_audit_today(hmb_ledger_t *l, apr_pool_t *p)
{
    /* the rollups' local day (HuiminbaoUTCOffset): one calendar for both */
    return hmb_rollup_day_of(p, apr_time_now(), l->utc_offset_min);
}

/* Give e its place after its chain's head, hash it and write it. */
static const char *audit_append(hmb_ledger_t *l, apr_pool_t *p,
                                audit_entry_t *e, const char *hmb_setl_id)
{
    const char *args[8];
    apr_array_header_t *rows;
    const char *err, *hash;

    args[0] = e->psn_no;
    args[1] = e->plan_code;
    args[2] = e->plan_year;
    if ((err = hmb_ledger_sql_query(l, p, "read the audit chain's head",
                                    sql_head, args, &rows))) {
        return err;
    }
    if (rows->nelts) {
        const char **v = APR_ARRAY_IDX(rows, 0, const char **);
        e->seq = apr_psprintf(p, "%" APR_INT64_T_FMT,
                              apr_atoi64(v[0] ? v[0] : "0") + 1);
        e->prev = v[1] ? v[1] : "";
    }
    else {
        e->seq = "1";
        e->prev = HMB_AUDIT_GENESIS;
    }
    if ((err = audit_hash(p, e, &hash))) {
        return hmb_ledger_failed(l, p, "chain the claim", err);
    }
    args[0] = hmb_setl_id;
    args[1] = e->psn_no;
    args[2] = e->plan_code;
    args[3] = e->plan_year;
    args[4] = e->seq;
    args[5] = e->day;
    args[6] = e->prev;
    args[7] = hash;
    return hmb_ledger_sql_exec(l, p, "insert hmb_claim_audit", sql_insert,
                               args, NULL);
}

const char *hmb_audit_claim(hmb_ledger_t *l, apr_pool_t *p,
                            const hmb_claim_t *c, const char *created_at)
{
    audit_entry_t e;

    e.psn_no = c->psn_no;
    e.plan_code = c->plan_code ? c->plan_code : "";
    e.plan_year = c->plan_code ? apr_itoa(p, c->plan_year) : "0";
    e.day = hmb_audit_today(l, p);
    e.claim = audit_claim_values(p, c, created_at);
    audit_claim_rows(p, c, &e);
    return audit_append(l, p, &e, c->hmb_setl_id);
}

const char *hmb_audit_prefetch(hmb_ledger_t *l, apr_pool_t *p,
                               const char *psn_no, const char *plan_code,
                               int plan_year)
{
    const char *args[3];

    /* as audit_append will ask: the claim's plan, or none */
    args[0] = psn_no;
    args[1] = plan_code ? plan_code : "";
    args[2] = plan_code ? apr_itoa(p, plan_year) : "0";
    return hmb_ledger_sql_prefetch(l, p, "read the audit chain's head",
                                   sql_head, args);
}

/* ---- reading claims back ---- */

static const char *const sql_liabs_of =
    "SELECT seq, liab_code, pool, deductible, cap, elig_amt, dedc_amt,"
    " pay_prop, pay_amt FROM hmb_claim_liab WHERE hmb_setl_id = %s"
    " ORDER BY seq";

static const char *const sql_ins_of =
    "SELECT seq, insurer_code, share, pay_amt FROM hmb_claim_insurer"
    " WHERE hmb_setl_id = %s ORDER BY seq";

/* Claims not in the trail, in each person's order; each one chained
 * leaves the next call's answer. */
static const char *const sql_unchained =
    "SELECT " AUDIT_CLAIM_COLS ", COALESCE(c.plan_year, 0)"
    " FROM hmb_claim c WHERE NOT EXISTS (SELECT 1 FROM hmb_claim_audit a"
    " WHERE a.hmb_setl_id = c.hmb_setl_id)"
    " ORDER BY c.psn_no, COALESCE(c.plan_code, ''),"
    " COALESCE(c.plan_year, 0), c.psn_seq, c.created_at, c.hmb_setl_id"
    " LIMIT 1000";

const char *hmb_audit_backfill(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *today = hmb_audit_today(l, p);
    apr_array_header_t *rows;
    apr_pool_t *bp, *rp;
    const char *err = NULL;
    int i;

    apr_pool_create(&bp, p);
    apr_pool_create(&rp, p);
    do {
        apr_pool_clear(bp);
        if ((err = hmb_ledger_sql_query(l, bp, "read claims to chain",
                                        sql_unchained, NULL, &rows))) {
            break;
        }
        for (i = 0; i < rows->nelts && !err; i++) {
            const char **v = APR_ARRAY_IDX(rows, i, const char **);
            const char *args[1];
            audit_entry_t e;

            apr_pool_clear(rp);
            args[0] = v[0];
            e.psn_no = v[4];
            e.plan_code = v[9] ? v[9] : "";
            e.plan_year = v[AUDIT_NCLAIM];
            e.day = today;
            e.claim = v;
            if (!(err = hmb_ledger_sql_query(l, rp, "read claim rows",
                                             sql_liabs_of, args, &e.liabs))
                && !(err = hmb_ledger_sql_query(l, rp, "read claim rows",
                                                sql_ins_of, args, &e.ins))) {
                err = audit_append(l, rp, &e, v[0]);
            }
        }
    } while (!err && rows->nelts);
    if (err) {
        err = apr_pstrdup(p, err);
    }
    apr_pool_destroy(rp);
    apr_pool_destroy(bp);
    return err;
}

/* ---- verify ---- */

/* The trail entries of a day range after a key, with the previous entry
 * of the same chain and the claim (NULL columns when gone). */
#define AUDIT_RANGE \
    " WHERE a.day >= %s AND a.day <= %s" \
    " AND (a.day, a.psn_no, a.plan_code, a.plan_year, a.seq)" \
    " > (%s, %s, %s, CAST(%s AS INTEGER), CAST(%s AS INTEGER))"
#define AUDIT_UPTO \
    " AND (a.day, a.psn_no, a.plan_code, a.plan_year, a.seq)" \
    " <= (%s, %s, %s, CAST(%s AS INTEGER), CAST(%s AS INTEGER))"
#define AUDIT_ORDER \
    " ORDER BY a.day, a.psn_no, a.plan_code, a.plan_year, a.seq"

static const char *const sql_page =
    "SELECT a.day, a.psn_no, a.plan_code, a.plan_year, a.seq, a.prev_hash,"
    " a.hash, a.hmb_setl_id, pa.hash, " AUDIT_CLAIM_COLS
    " FROM hmb_claim_audit a"
    " LEFT JOIN hmb_claim_audit pa ON pa.psn_no = a.psn_no"
    " AND pa.plan_code = a.plan_code AND pa.plan_year = a.plan_year"
    " AND pa.seq = a.seq - 1"
    " LEFT JOIN hmb_claim c ON c.hmb_setl_id = a.hmb_setl_id"
    AUDIT_RANGE AUDIT_ORDER " LIMIT 1000";

static const char *const sql_page_liabs =
    "SELECT l.hmb_setl_id, l.seq, l.liab_code, l.pool, l.deductible, l.cap,"
    " l.elig_amt, l.dedc_amt, l.pay_prop, l.pay_amt"
    " FROM hmb_claim_audit a"
    " JOIN hmb_claim_liab l ON l.hmb_setl_id = a.hmb_setl_id"
    AUDIT_RANGE AUDIT_UPTO AUDIT_ORDER ", l.seq";

static const char *const sql_page_ins =
    "SELECT i.hmb_setl_id, i.seq, i.insurer_code, i.share, i.pay_amt"
    " FROM hmb_claim_audit a"
    " JOIN hmb_claim_insurer i ON i.hmb_setl_id = a.hmb_setl_id"
    AUDIT_RANGE AUDIT_UPTO AUDIT_ORDER ", i.seq";

static const char *const sql_not_in_trail =
    "SELECT c.hmb_setl_id, c.psn_no, c.created_at FROM hmb_claim c"
    " WHERE NOT EXISTS (SELECT 1 FROM hmb_claim_audit a"
    " WHERE a.hmb_setl_id = c.hmb_setl_id)"
    " ORDER BY c.created_at, c.hmb_setl_id LIMIT 1000";

static const char *const sql_sealed =
    "SELECT day, root FROM hmb_audit_root WHERE day >= %s AND day <= %s"
    " ORDER BY day";

static const char *audit_day_root(hmb_ledger_t *l, apr_pool_t *p,
                                  const char *day, hmb_audit_root_t **out);

static void finding(apr_pool_t *p, hmb_audit_report_t *r, int max,
                    const char *what, const char *id, const char *day,
                    const char *detail)
{
    hmb_audit_finding_t *f;

    if (r->findings->nelts >= max) {
        r->more = 1;
        return;
    }
    f = apr_array_push(r->findings);
    f->what = what;
    f->hmb_setl_id = id ? apr_pstrdup(p, id) : NULL;
    f->day = day ? apr_pstrdup(p, day) : NULL;
    f->detail = apr_pstrdup(p, detail);
}

/* Rows of rows (a page's liabilities or insurers, in page order) that
 * belong to the claim id, from *at on; n values each after the id. */
static apr_array_header_t *take_rows(apr_pool_t *p, apr_array_header_t *rows,
                                     int *at, const char *id)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(const char **));

    while (*at < rows->nelts) {
        const char **v = APR_ARRAY_IDX(rows, *at, const char **);

        if (!v[0] || strcmp(v[0], id)) {
            break;
        }
        APR_ARRAY_PUSH(out, const char **) = v + 1;
        (*at)++;
    }
    return out;
}

static const char *chain_name(apr_pool_t *p, const char **v)
{
    return apr_psprintf(p, "person %s, plan %s %s, #%s",
                        hmb_mask_psn(p, v[1]), *v[2] ? v[2] : "-", v[3],
                        v[4]);
}

/* One trail entry (a row of sql_page) checked. */
static const char *check_entry(apr_pool_t *p, hmb_audit_report_t *r, int max,
                               const char **v, apr_array_header_t *liabs,
                               apr_array_header_t *ins)
{
    const char *id = v[7], *hash, *err;
    audit_entry_t e;

    if (!v[9]) {
        finding(p, r, max, "deleted", id, v[0],
                apr_psprintf(p, "claim %s (%s, recorded %s) is gone from "
                             "hmb_claim; its trail entry remains", id,
                             chain_name(p, v), v[0]));
        return NULL;
    }
    if (strcmp(v[4], "1") && !v[8]) {
        finding(p, r, max, "deleted", id, v[0],
                apr_psprintf(p, "the claim before %s (%s) is gone, with "
                             "its trail entry", id, chain_name(p, v)));
    }
    e.psn_no = v[1];
    e.plan_code = v[2];
    e.plan_year = v[3];
    e.seq = v[4];
    e.day = v[0];
    e.prev = v[5];
    e.claim = v + 9;
    e.liabs = liabs;
    e.ins = ins;
    if ((err = audit_hash(p, &e, &hash))) {
        return err;
    }
    if (strcmp(hash, v[6])) {
        finding(p, r, max, "altered", id, v[0],
                apr_psprintf(p, "claim %s (%s, recorded %s) no longer "
                             "matches its hash", id, chain_name(p, v),
                             v[0]));
    }
    else if (v[8] && strcmp(v[5], v[8])) {
        finding(p, r, max, "altered", id, v[0],
                apr_psprintf(p, "claim %s (%s) does not link to the claim "
                             "before it in the chain", id,
                             chain_name(p, v)));
    }
    else if (!strcmp(v[4], "1") && strcmp(v[5], HMB_AUDIT_GENESIS)) {
        finding(p, r, max, "altered", id, v[0],
                apr_psprintf(p, "claim %s (%s) starts no chain", id,
                             chain_name(p, v)));
    }
    return NULL;
}

const char *hmb_audit_verify(hmb_ledger_t *l, apr_pool_t *p,
                             const char *from, const char *to, int max,
                             hmb_audit_report_t **out)
{
    hmb_audit_report_t *r = apr_pcalloc(p, sizeof(*r));
    const char *args[15], *err = NULL;
    apr_array_header_t *rows, *liabs, *ins;
    apr_pool_t *pp;
    int i, li, ii;

    *out = r;
    r->findings = apr_array_make(p, 4, sizeof(hmb_audit_finding_t));
    args[0] = from ? from : "0000-00-00";
    args[1] = to ? to : "9999-99-99";
    /* the key after which the next page starts */
    args[2] = "";
    args[3] = "";
    args[4] = "";
    args[5] = "0";
    args[6] = "0";
    apr_pool_create(&pp, p);
    for (;;) {
        const char **last;

        apr_pool_clear(pp);
        if ((err = hmb_ledger_sql_query(l, pp, "read the audit trail",
                                        sql_page, args, &rows))) {
            break;
        }
        if (!rows->nelts) {
            break;
        }
        last = APR_ARRAY_IDX(rows, rows->nelts - 1, const char **);
        for (i = 0; i < 5; i++) {
            args[7 + i] = last[i];
        }
        if ((err = hmb_ledger_sql_query(l, pp, "read the audit trail",
                                        sql_page_liabs, args, &liabs))
            || (err = hmb_ledger_sql_query(l, pp, "read the audit trail",
                                           sql_page_ins, args, &ins))) {
            break;
        }
        for (i = li = ii = 0; i < rows->nelts && !err; i++) {
            const char **v = APR_ARRAY_IDX(rows, i, const char **);

            err = check_entry(p, r, max, v, take_rows(pp, liabs, &li, v[7]),
                              take_rows(pp, ins, &ii, v[7]));
            r->claims++;
        }
        if (err) {
            break;
        }
        for (i = 0; i < 5; i++) {
            args[2 + i] = apr_pstrdup(p, last[i]);
        }
        if (rows->nelts < AUDIT_PAGE) {
            break;
        }
    }
    if (!err && !(err = hmb_ledger_sql_query(l, pp, "look for claims not "
                                             "in the trail",
                                             sql_not_in_trail, NULL,
                                             &rows))) {
        for (i = 0; i < rows->nelts; i++) {
            const char **v = APR_ARRAY_IDX(rows, i, const char **);

            finding(p, r, max, "inserted", v[0], NULL,
                    apr_psprintf(p, "claim %s (person %s, created_at %s) is "
                                 "not in the audit trail", v[0],
                                 hmb_mask_psn(p, v[1]),
                                 v[2] ? v[2] : "-"));
        }
    }
    if (!err && !(err = hmb_ledger_sql_query(l, p, "read sealed roots",
                                             sql_sealed, args, &rows))) {
        for (i = 0; i < rows->nelts && !err; i++) {
            const char **v = APR_ARRAY_IDX(rows, i, const char **);
            hmb_audit_root_t *root;

            if ((err = audit_day_root(l, pp, v[0], &root))) {
                break;
            }
            r->roots++;
            if (strcmp(root->root, v[1] ? v[1] : "")) {
                finding(p, r, max, "root", NULL, v[0],
                        apr_psprintf(p, "the root of %s is %s, sealed as "
                                     "%s: a claim of that day was deleted "
                                     "or added with its trail entry", v[0],
                                     root->root, v[1] ? v[1] : "-"));
            }
        }
    }
    if (err) {
        err = apr_pstrdup(p, err);
    }
    apr_pool_destroy(pp);
    return err;
}

/* ---- day roots ---- */

static const char *const sql_heads =
    "SELECT a.psn_no, a.plan_code, a.plan_year, a.seq, a.hash"
    " FROM hmb_claim_audit a"
    " WHERE a.day = %s"
    " AND (a.psn_no, a.plan_code, a.plan_year)"
    " > (%s, %s, CAST(%s AS INTEGER))"
    " AND NOT EXISTS (SELECT 1 FROM hmb_claim_audit b"
    " WHERE b.psn_no = a.psn_no AND b.plan_code = a.plan_code"
    " AND b.plan_year = a.plan_year AND b.seq = a.seq + 1"
    " AND b.day = a.day)"
    " ORDER BY a.psn_no, a.plan_code, a.plan_year LIMIT 1000";

static const char *const sql_day_claims =
    "SELECT COUNT(*) FROM hmb_claim_audit WHERE day = %s";

static const char *const sql_root_get =
    "SELECT root, sealed_at FROM hmb_audit_root WHERE day = %s";

static const char *const sql_root_seal =
    "INSERT INTO hmb_audit_root (day, root, heads, claims, sealed_at)"
    " VALUES (%s, %s, CAST(%s AS INTEGER), CAST(%s AS BIGINT), %s)"
    " ON CONFLICT (day) DO NOTHING";

/* A Merkle tree built as its leaves arrive: stack[i] is the root of a
 * complete subtree of 2^size[i] leaves, sizes decreasing up the stack. */
typedef struct {
    unsigned char hash[64][32];
    int size[64];
    int n;
} audit_merkle_t;

static const char *merkle_node(apr_pool_t *p, const unsigned char *l,
                               const unsigned char *r, unsigned char *out)
{
    audit_hash_t h;
    const char *err;

    if ((err = ah_start(&h, "\001"))) {
        return err;
    }
    ah_bytes(&h, l, 32);
    ah_bytes(&h, r, 32);
    return ah_end(&h, out);
}

static const char *merkle_leaf(apr_pool_t *p, audit_merkle_t *m,
                               const char **head)
{
    audit_hash_t h;
    const char *err;
    int i;

    if ((err = ah_start(&h, ""))) {
        return err;
    }
    /* a leaf starts with 0, a node with 1: neither passes for the other */
    ah_bytes(&h, "\0", 1);
    ah_bytes(&h, "hmb-audit-head 1\n", 17);
    for (i = 0; i < 5; i++) {
        ah_value(&h, head[i]);
    }
    if ((err = ah_end(&h, m->hash[m->n]))) {
        return err;
    }
    m->size[m->n++] = 0;
    while (m->n >= 2 && m->size[m->n - 1] == m->size[m->n - 2]) {
        if ((err = merkle_node(p, m->hash[m->n - 2], m->hash[m->n - 1],
                               m->hash[m->n - 2]))) {
            return err;
        }
        m->size[m->n - 2]++;
        m->n--;
    }
    return NULL;
}

static const char *merkle_root(apr_pool_t *p, audit_merkle_t *m,
                               const char **hex)
{
    unsigned char raw[32];
    audit_hash_t h;
    const char *err;

    if (!m->n) {
        /* no leaves: the hash of nothing */
        if ((err = ah_start(&h, "")) || (err = ah_end(&h, raw))) {
            return err;
        }
        *hex = hex_of(p, raw);
        return NULL;
    }
    while (m->n >= 2) {
        if ((err = merkle_node(p, m->hash[m->n - 2], m->hash[m->n - 1],
                               m->hash[m->n - 2]))) {
            return err;
        }
        m->n--;
    }
    *hex = hex_of(p, m->hash[0]);
    return NULL;
}

/* The day's root recomputed from the trail, sealing nothing. */
static const char *audit_day_root(hmb_ledger_t *l, apr_pool_t *p,
                                  const char *day, hmb_audit_root_t **out)
{
    hmb_audit_root_t *r = apr_pcalloc(p, sizeof(*r));
    audit_merkle_t *m = apr_pcalloc(p, sizeof(*m));
    apr_array_header_t *rows;
    const char *args[5], *err = NULL;
    apr_pool_t *pp;
    int i;

    *out = NULL;
    r->day = apr_pstrdup(p, day);
    args[0] = day;
    args[1] = "";
    args[2] = "";
    args[3] = "0";
    apr_pool_create(&pp, p);
    for (;;) {
        const char **last;

        apr_pool_clear(pp);
        if ((err = hmb_ledger_sql_query(l, pp, "read the day's heads",
                                        sql_heads, args, &rows))
            || !rows->nelts) {
            break;
        }
        for (i = 0; i < rows->nelts && !err; i++) {
            err = merkle_leaf(pp, m, APR_ARRAY_IDX(rows, i, const char **));
            r->heads++;
        }
        if (err) {
            break;
        }
        last = APR_ARRAY_IDX(rows, rows->nelts - 1, const char **);
        for (i = 0; i < 3; i++) {
            args[1 + i] = apr_pstrdup(p, last[i]);
        }
        if (rows->nelts < AUDIT_PAGE) {
            break;
        }
    }
    apr_pool_destroy(pp);
    if (err || (err = merkle_root(p, m, &r->root))
        || (err = hmb_ledger_sql_query(l, p, "count the day's claims",
                                       sql_day_claims, args, &rows))) {
        return err;
    }
    if (rows->nelts && APR_ARRAY_IDX(rows, 0, const char **)[0]) {
        r->claims = apr_atoi64(APR_ARRAY_IDX(rows, 0, const char **)[0]);
    }
    *out = r;
    return NULL;
}

const char *hmb_audit_root(hmb_ledger_t *l, apr_pool_t *p, const char *day,
                           hmb_audit_root_t **out)
{
    hmb_audit_root_t *r;
    apr_array_header_t *rows;
    const char *args[5], *err;

    if ((err = audit_day_root(l, p, day, out))) {
        return err;
    }
    r = *out;
    args[0] = day;
    /* a day that is over can change no more: sealed once */
    if (strcmp(day, hmb_audit_today(l, p)) < 0) {
        args[1] = r->root;
        args[2] = apr_itoa(p, r->heads);
        args[3] = apr_psprintf(p, "%" APR_INT64_T_FMT, r->claims);
        args[4] = hmb_ledger_now(p);
        if ((err = hmb_ledger_sql_exec(l, p, "seal the day's root",
                                       sql_root_seal, args, NULL))
            || (err = hmb_ledger_sql_query(l, p, "read the sealed root",
                                           sql_root_get, args, &rows))) {
            return err;
        }
        if (rows->nelts) {
            r->sealed = APR_ARRAY_IDX(rows, 0, const char **)[0];
            r->sealed_at = APR_ARRAY_IDX(rows, 0, const char **)[1];
        }
    }
    return NULL;
}
