/* The ledger through apr_dbd: enrollments, immutable claims and the
 * year-to-date totals derived from them.
 *
 * One SQL text for SQLite and PostgreSQL: every parameter is passed as a
 * string and cast in SQL where PostgreSQL wants a type; upserts use
 * INSERT ... ON CONFLICT, which both understand (SQLite 3.24 and later).
 * Statements are prepared lazily on each connection, because under httpd
 * mod_dbd opens the connections, possibly before our tables exist. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <libpq-fe.h>

#include "hmb_ledger.h"
#include "hmb_rollup.h"
#include "hmb_ledger_audit.h"
#include "hmb_ledger_memo.h"
#include "hmb_ledger_wire.h"
#include "hmb_ledger_int.h"
#include "hmb_ledger_wal.h"
#include "hmb_ledger_vfs.h"
#include "hmb_util.h"
#include "hmb_writer.h"

/* sqlite3.h's SQLITE_BUSY, as apr_dbd's sqlite3 driver returns it */
#define HMB_SQLITE_BUSY 5
#define HMB_SQLITE_BEGIN_TRIES 4
/* how long a writer queues for an SQLite ledger (as the driver's tries) */
#define HMB_WRITER_WAIT apr_time_from_sec(6)

/* Schema migrations, in order: migration i takes the schema from version
 * i to i + 1. Append, never edit: deployed ledgers hold earlier ones. */
static const char *const hmb_migration_1[] = {
    "CREATE TABLE IF NOT EXISTS hmb_enrollment ("
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " psn_no TEXT NOT NULL,"
    " cover_from TEXT NOT NULL,"
    " preexisting INTEGER NOT NULL,"
    " person_class TEXT,"
    " admdvs TEXT NOT NULL,"
    " payer TEXT NOT NULL,"
    " premium BIGINT NOT NULL,"
    " lock_seq INTEGER NOT NULL DEFAULT 0,"
    " imported_at TEXT NOT NULL,"
    " PRIMARY KEY (plan_code, plan_year, psn_no))",

    "CREATE TABLE IF NOT EXISTS hmb_claim ("
    " hmb_setl_id TEXT NOT NULL PRIMARY KEY,"
    " kind CHAR(1) NOT NULL CHECK (kind IN ('S', 'R')),"
    " setl_id TEXT NOT NULL,"
    " reverses TEXT,"
    " psn_no TEXT NOT NULL,"
    " mdtrt_id TEXT,"
    " fixmedins_code TEXT,"
    " msgid TEXT,"
    " setl_time TEXT,"
    " plan_code TEXT,"
    " plan_year INTEGER,"
    " plan_ver INTEGER,"
    " stas TEXT NOT NULL,"
    " rea_code TEXT,"
    " hmb_pay BIGINT NOT NULL,"
    " hmbinfo TEXT,"
    " created_at TEXT NOT NULL,"
    " UNIQUE (kind, setl_id))",

    "CREATE INDEX IF NOT EXISTS hmb_claim_psn"
    " ON hmb_claim (psn_no, plan_code, plan_year)",

    "CREATE INDEX IF NOT EXISTS hmb_claim_time"
    " ON hmb_claim (setl_time)",

    "CREATE TABLE IF NOT EXISTS hmb_claim_liab ("
    " hmb_setl_id TEXT NOT NULL REFERENCES hmb_claim (hmb_setl_id),"
    " seq INTEGER NOT NULL,"
    " liab_code TEXT NOT NULL,"
    " pool TEXT,"
    " deductible BIGINT NOT NULL,"
    " cap BIGINT NOT NULL,"
    " elig_amt BIGINT NOT NULL,"
    " dedc_amt BIGINT NOT NULL,"
    " pay_prop INTEGER NOT NULL,"
    " pay_amt BIGINT NOT NULL,"
    " PRIMARY KEY (hmb_setl_id, seq))",

    "CREATE TABLE IF NOT EXISTS hmb_claim_insurer ("
    " hmb_setl_id TEXT NOT NULL REFERENCES hmb_claim (hmb_setl_id),"
    " seq INTEGER NOT NULL,"
    " insurer_code TEXT NOT NULL,"
    " share INTEGER NOT NULL,"
    " pay_amt BIGINT NOT NULL,"
    " PRIMARY KEY (hmb_setl_id, seq))",

    "CREATE TABLE IF NOT EXISTS hmb_total ("
    " psn_no TEXT NOT NULL,"
    " plan_code TEXT NOT NULL,"
    " plan_year INTEGER NOT NULL,"
    " liab_code TEXT NOT NULL,"
    " elig_amt BIGINT NOT NULL,"
    " paid_amt BIGINT NOT NULL,"
    " PRIMARY KEY (psn_no, plan_code, plan_year, liab_code))",
    NULL
};

/* Version 2: the order in which a person's claims were decided.
 * psn_seq is 1 + the number of claims already recorded for the same
 * person, plan code and year, assigned inside the settlement's
 * transaction under the person's lock, so the database itself says in
 * which order they were serialized (no SERIAL or AUTOINCREMENT: neither
 * is portable, and neither would follow the lock). Claims recorded
 * before this version get theirs from created_at (second resolution),
 * a settlement before a reversal of the same second, then hmb_setl_id.
 * The unique index turns any two claims that were not serialized into a
 * failed insert instead of a silent tie; claims priced by no plan have a
 * NULL plan_code, which a unique index never compares. */
static const char *const hmb_migration_2[] = {
    "ALTER TABLE hmb_claim ADD COLUMN psn_seq INTEGER",

    "UPDATE hmb_claim SET psn_seq = ("
    "SELECT COUNT(*) FROM hmb_claim o"
    " WHERE o.psn_no = hmb_claim.psn_no"
    " AND COALESCE(o.plan_code, '') = COALESCE(hmb_claim.plan_code, '')"
    " AND COALESCE(o.plan_year, 0) = COALESCE(hmb_claim.plan_year, 0)"
    " AND (o.created_at < hmb_claim.created_at"
    " OR (o.created_at = hmb_claim.created_at"
    " AND (o.kind > hmb_claim.kind"
    " OR (o.kind = hmb_claim.kind"
    " AND o.hmb_setl_id <= hmb_claim.hmb_setl_id)))))",

    "CREATE UNIQUE INDEX IF NOT EXISTS hmb_claim_psn_seq"
    " ON hmb_claim (psn_no, plan_code, plan_year, psn_seq)",
    NULL
};

/* Version 3: every claim keeps what is needed to decide it again (the
 * message's fields, packed) and where it was decided (origin: desk,
 * replay, redecide; who and why for a correction); a correction is a
 * claim of kind 'C' linked (reverses) to the claim it corrects. A
 * cancellation with no payout to take back leaves a marker, kind 'M',
 * one per settlement and person (mark holds the person; it is '' for the
 * other kinds, one per settlement): a cancellation naming the wrong
 * person must not stand in the way of the right one.
 * Enrollment rows remember the import and line that last wrote them, so
 * that a duplicate in one file is found without holding the file.
 * SQLite cannot change a CHECK constraint: hmb_claim is rebuilt there,
 * with the same columns in the same order; PostgreSQL swaps the
 * constraint. Entries starting with "sqlite3:" or "pgsql:" run on that
 * driver only. */
static const char *const hmb_migration_3[] = {
    "sqlite3:CREATE TABLE hmb_claim_v3 ("
    " hmb_setl_id TEXT NOT NULL PRIMARY KEY,"
    " kind CHAR(1) NOT NULL CHECK (kind IN ('S', 'R', 'C', 'M')),"
    " setl_id TEXT NOT NULL,"
    " reverses TEXT,"
    " psn_no TEXT NOT NULL,"
    " mdtrt_id TEXT,"
    " fixmedins_code TEXT,"
    " msgid TEXT,"
    " setl_time TEXT,"
    " plan_code TEXT,"
    " plan_year INTEGER,"
    " plan_ver INTEGER,"
    " stas TEXT NOT NULL,"
    " rea_code TEXT,"
    " hmb_pay BIGINT NOT NULL,"
    " hmbinfo TEXT,"
    " created_at TEXT NOT NULL,"
    " psn_seq INTEGER,"
    " mark TEXT NOT NULL DEFAULT '',"
    " UNIQUE (kind, setl_id, mark))",
    "sqlite3:INSERT INTO hmb_claim_v3 SELECT hmb_setl_id, kind, setl_id,"
    " reverses, psn_no, mdtrt_id, fixmedins_code, msgid, setl_time,"
    " plan_code, plan_year, plan_ver, stas, rea_code, hmb_pay, hmbinfo,"
    " created_at, psn_seq, '' FROM hmb_claim",
    "sqlite3:DROP TABLE hmb_claim",
    "sqlite3:ALTER TABLE hmb_claim_v3 RENAME TO hmb_claim",
    "sqlite3:CREATE INDEX hmb_claim_psn"
    " ON hmb_claim (psn_no, plan_code, plan_year)",
    "sqlite3:CREATE INDEX hmb_claim_time ON hmb_claim (setl_time)",
    "sqlite3:CREATE UNIQUE INDEX hmb_claim_psn_seq"
    " ON hmb_claim (psn_no, plan_code, plan_year, psn_seq)",

    "pgsql:ALTER TABLE hmb_claim DROP CONSTRAINT IF EXISTS"
    " hmb_claim_kind_check",
    "pgsql:ALTER TABLE hmb_claim ADD CONSTRAINT hmb_claim_kind_check"
    " CHECK (kind IN ('S', 'R', 'C', 'M'))",
    "pgsql:ALTER TABLE hmb_claim ADD COLUMN mark TEXT NOT NULL DEFAULT ''",
    "pgsql:ALTER TABLE hmb_claim DROP CONSTRAINT IF EXISTS"
    " hmb_claim_kind_setl_id_key",
    "pgsql:CREATE UNIQUE INDEX hmb_claim_kind_setl"
    " ON hmb_claim (kind, setl_id, mark)",
    /* markers were reversals without a claim to reverse */
    "UPDATE hmb_claim SET kind = 'M', mark = psn_no"
    " WHERE kind = 'R' AND reverses IS NULL",

    "ALTER TABLE hmb_claim ADD COLUMN origin TEXT NOT NULL DEFAULT 'desk'",
    "ALTER TABLE hmb_claim ADD COLUMN msg TEXT",
    "ALTER TABLE hmb_claim ADD COLUMN decided_by TEXT",
    "ALTER TABLE hmb_claim ADD COLUMN why TEXT",
    "CREATE INDEX IF NOT EXISTS hmb_claim_origin"
    " ON hmb_claim (origin, setl_time)",
    "ALTER TABLE hmb_enrollment ADD COLUMN import_id TEXT",
    "ALTER TABLE hmb_enrollment ADD COLUMN import_line INTEGER",
    NULL
};

/* Version 4: the rollups (hmb_ledger_rollup.c). Version 5: the audit
 * trail (hmb_ledger_audit.c); the claims already recorded are chained by
 * hmb_audit_backfill() in the same transaction. Version 6: what 2301
 * and 1101 said (hmb_ledger_memo.c) and each claim's JSON answer
 * (hmb_ledger_wire.c). */
#define HMB_SCHEMA_AUDIT 5

static const char *const hmb_migration_6[] = {
    HMB_LEDGER_MEMO_SCHEMA,
    HMB_LEDGER_WIRE_SCHEMA,
    NULL
};

/* Version 7: the rollups' slots (hmb_rollup.h); hmb_claim_psn goes, as
 * hmb_claim_psn_seq begins with the same columns: one index fewer for
 * every claim to keep. */
static const char *const hmb_migration_7[] = {
    HMB_ROLLUP_SCHEMA_7,
    "DROP INDEX IF EXISTS hmb_claim_psn",
    NULL
};

static const char *const *const hmb_migrations[] = {
    hmb_migration_1,
    hmb_migration_2,
    hmb_migration_3,
    hmb_rollup_schema,
    hmb_audit_migration,
    hmb_migration_6,
    hmb_migration_7
};

#define HMB_NMIGRATIONS \
    ((int)(sizeof(hmb_migrations) / sizeof(hmb_migrations[0])))

/* Keep the code and the constant the other units see in step. */
typedef char hmb_migrations_match_version[
    HMB_NMIGRATIONS == HMB_LEDGER_SCHEMA_VERSION ? 1 : -1];

/* The prepared statements; labels name them in error lines. */
typedef enum {
    STMT_ENROLL_UPSERT,
    STMT_ENROLL_GET,
    STMT_LOCK_PERSON,
    STMT_CLAIM_INSERT,
    STMT_LIAB_INSERT,
    STMT_INSURER_INSERT,
    STMT_TOTAL_ADD,
    STMT_CLAIM_FIND,
    STMT_MARKER_FIND,
    STMT_SETTLE_FIND,
    STMT_LIAB_FIND,
    STMT_INSURER_FIND,
    STMT_TOTALS,
    STMT_INELIGIBLE,
    STMT_OWED,
    STMT_COUNT
} hmb_stmt_e;

/* A claim's liability rows and the totals they add to, as statements of
 * one row (hmb_stmts) and of several (ledger_rows_sql): a claim's rows go
 * in one statement each, not one per liability. */
#define HMB_SQL_LIAB_HEAD \
    "INSERT INTO hmb_claim_liab (hmb_setl_id, seq, liab_code, pool," \
    " deductible, cap, elig_amt, dedc_amt, pay_prop, pay_amt) VALUES "
#define HMB_SQL_LIAB_ROW \
    "(%s, CAST(%s AS INTEGER), %s, %s, CAST(%s AS BIGINT)," \
    " CAST(%s AS BIGINT), CAST(%s AS BIGINT), CAST(%s AS BIGINT)," \
    " CAST(%s AS INTEGER), CAST(%s AS BIGINT))"
#define HMB_SQL_LIAB_WIDTH (1 + HMB_LEDGER_LIAB_VALUES)
#define HMB_SQL_INSURER_HEAD \
    "INSERT INTO hmb_claim_insurer (hmb_setl_id, seq, insurer_code, share," \
    " pay_amt) VALUES "
#define HMB_SQL_INSURER_ROW \
    "(%s, CAST(%s AS INTEGER), %s, CAST(%s AS INTEGER), CAST(%s AS BIGINT))"
#define HMB_SQL_INSURER_WIDTH (1 + HMB_LEDGER_INS_VALUES)
#define HMB_SQL_TOTAL_HEAD \
    "INSERT INTO hmb_total (psn_no, plan_code, plan_year, liab_code," \
    " elig_amt, paid_amt) VALUES "
#define HMB_SQL_TOTAL_ROW \
    "(%s, %s, CAST(%s AS INTEGER), %s, CAST(%s AS BIGINT)," \
    " CAST(%s AS BIGINT))"
#define HMB_SQL_TOTAL_TAIL \
    " ON CONFLICT (psn_no, plan_code, plan_year, liab_code) DO UPDATE SET" \
    " elig_amt = hmb_total.elig_amt + excluded.elig_amt," \
    " paid_amt = hmb_total.paid_amt + excluded.paid_amt"
#define HMB_SQL_TOTAL_WIDTH 6

static const struct {
    const char *label;
    const char *sql;
} hmb_stmts[STMT_COUNT] = {
    {"hmb_enroll_upsert",
     "INSERT INTO hmb_enrollment (plan_code, plan_year, psn_no, cover_from,"
     " preexisting, person_class, admdvs, payer, premium, lock_seq,"
     " imported_at)"
     " VALUES (%s, CAST(%s AS INTEGER), %s, %s, CAST(%s AS INTEGER), %s, %s,"
     " %s, CAST(%s AS BIGINT), 0, %s)"
     " ON CONFLICT (plan_code, plan_year, psn_no) DO UPDATE SET"
     " cover_from = excluded.cover_from,"
     " preexisting = excluded.preexisting,"
     " person_class = excluded.person_class,"
     " admdvs = excluded.admdvs,"
     " payer = excluded.payer,"
     " premium = excluded.premium,"
     " imported_at = excluded.imported_at"},
    {"hmb_enroll_get",
     "SELECT cover_from, preexisting, person_class, admdvs, payer, premium"
     " FROM hmb_enrollment"
     " WHERE plan_code = %s AND plan_year = CAST(%s AS INTEGER)"
     " AND psn_no = %s"},
    {"hmb_lock_person",
     "UPDATE hmb_enrollment SET lock_seq = lock_seq + 1"
     " WHERE plan_code = %s AND plan_year = CAST(%s AS INTEGER)"
     " AND psn_no = %s"},
    {"hmb_claim_insert",
     "INSERT INTO hmb_claim (hmb_setl_id, kind, setl_id, reverses, psn_no,"
     " mdtrt_id, fixmedins_code, msgid, setl_time, plan_code, plan_year,"
     " plan_ver, stas, rea_code, hmb_pay, hmbinfo, created_at, origin, msg,"
     " decided_by, why, mark, psn_seq)"
     " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
     " CAST(%s AS INTEGER), CAST(%s AS INTEGER), %s, %s,"
     " CAST(%s AS BIGINT), %s, %s, %s, %s, %s, %s, %s,"
     " (SELECT 1 + COUNT(*) FROM hmb_claim"
     " WHERE psn_no = %s AND COALESCE(plan_code, '') = COALESCE(%s, '')"
     " AND COALESCE(plan_year, 0) = COALESCE(CAST(%s AS INTEGER), 0)))"},
    {"hmb_liab_insert", HMB_SQL_LIAB_HEAD HMB_SQL_LIAB_ROW},
    {"hmb_insurer_insert", HMB_SQL_INSURER_HEAD HMB_SQL_INSURER_ROW},
    {"hmb_total_add", HMB_SQL_TOTAL_HEAD HMB_SQL_TOTAL_ROW HMB_SQL_TOTAL_TAIL},
    {"hmb_claim_find",
     "SELECT hmb_setl_id, kind, setl_id, reverses, psn_no, mdtrt_id,"
     " fixmedins_code, msgid, setl_time, plan_code, plan_year, plan_ver,"
     " stas, rea_code, hmb_pay, hmbinfo, origin, msg, decided_by, why"
     " FROM hmb_claim WHERE kind = %s AND setl_id = %s AND mark = ''"},
    {"hmb_marker_find",
     "SELECT hmb_setl_id, kind, setl_id, reverses, psn_no, mdtrt_id,"
     " fixmedins_code, msgid, setl_time, plan_code, plan_year, plan_ver,"
     " stas, rea_code, hmb_pay, hmbinfo, origin, msg, decided_by, why"
     " FROM hmb_claim WHERE kind = 'M' AND setl_id = %s AND mark = %s"},
    /* the three above in one, mark told apart by the reader */
    {"hmb_settle_find",
     "SELECT hmb_setl_id, kind, setl_id, reverses, psn_no, mdtrt_id,"
     " fixmedins_code, msgid, setl_time, plan_code, plan_year, plan_ver,"
     " stas, rea_code, hmb_pay, hmbinfo, origin, msg, decided_by, why, mark"
     " FROM hmb_claim WHERE kind IN ('S', 'R', 'M') AND setl_id = %s"
     " AND mark IN ('', %s)"},
    {"hmb_liab_find",
     "SELECT liab_code, pool, deductible, cap, elig_amt, dedc_amt, pay_prop,"
     " pay_amt"
     " FROM hmb_claim_liab WHERE hmb_setl_id = %s ORDER BY seq"},
    {"hmb_insurer_find",
     "SELECT insurer_code, share, pay_amt"
     " FROM hmb_claim_insurer WHERE hmb_setl_id = %s ORDER BY seq"},
    {"hmb_totals",
     "SELECT liab_code, elig_amt, paid_amt FROM hmb_total"
     " WHERE psn_no = %s AND plan_code = %s"
     " AND plan_year = CAST(%s AS INTEGER)"
     " ORDER BY liab_code"},
    {"hmb_ineligible",
     "SELECT setl_id FROM hmb_claim"
     " WHERE kind = 'S' AND stas = 'ineligible'"
     " AND setl_time >= %s AND setl_time <= %s"
     " ORDER BY setl_time, hmb_setl_id"},
    /* paid after the desk (replay, redecide) and not reversed since */
    {"hmb_owed",
     "SELECT c.hmb_setl_id, c.setl_id, c.psn_no, c.mdtrt_id,"
     " c.fixmedins_code, c.setl_time, c.plan_code, c.plan_year, c.origin,"
     " c.hmb_pay, c.created_at, c.decided_by"
     " FROM hmb_claim c"
     " WHERE c.kind IN ('S', 'C') AND c.origin <> 'desk' AND c.hmb_pay <> 0"
     " AND c.setl_time >= %s AND c.setl_time <= %s"
     " AND NOT EXISTS (SELECT 1 FROM hmb_claim r WHERE r.kind = 'R'"
     " AND r.setl_id = c.setl_id AND r.reverses = c.hmb_setl_id)"
     " ORDER BY c.setl_time, c.hmb_setl_id"}
};

/* Our state on one connection, kept in the connection pool's userdata so
 * that it follows the connection whoever opened it, and dies with it: a
 * connection mod_dbd replaces comes with none of it. */
#define HMB_KEY_CONN "hmb_ledger_conn"

struct hmb_ledger_conn_t {
    apr_dbd_prepared_t *stmts[STMT_COUNT];
    int setup;                      /* ledger_conn_setup done */
    int schema_ok;                  /* schema checked or brought up */
    int own;                        /* opened by hmb_ledger_open */
    int pg_probed;                  /* PostgreSQL: probed before its first
                                     * BEGIN (ledger_pg_begin) */
    apr_hash_t *extra;              /* other units' statements, by label */
    int backend_pid;                /* PostgreSQL: the session they were
                                     * prepared in */
    int named;                      /* PostgreSQL: names given so far */
    hmb_writer_t *writer;           /* SQLite: its writer lock, if any */
    int writer_looked;              /* looked for it */
    struct hmb_ledger_group_t *group; /* SQLite: the child's group for
                                     * its file (ledger_group_for) */
    int group_looked;
    const char *wal;                /* SQLite: the -wal file we sync */
};

static hmb_ledger_conn_t *ledger_conn(apr_pool_t *conn_pool)
{
    void *c = NULL;

    apr_pool_userdata_get(&c, HMB_KEY_CONN, conn_pool);
    if (!c) {
        c = apr_pcalloc(conn_pool, sizeof(hmb_ledger_conn_t));
        apr_pool_userdata_setn(c, HMB_KEY_CONN, NULL, conn_pool);
    }
    return c;
}

static int ledger_is_sqlite(const hmb_ledger_t *l)
{
    return strcmp(l->driver_name, "sqlite3") == 0;
}

/* Every statement kept on the connection is prepared again at its next
 * use. The old ones stay in the connection's pool: a reset is rare. */
static void ledger_forget_stmts(hmb_ledger_t *l)
{
    memset(l->conn->stmts, 0, sizeof(l->conn->stmts));
    hmb_pipe_forget(l);
    if (l->conn->extra) {
        apr_hash_clear(l->conn->extra);
    }
}

/* On PostgreSQL our statements are named: prepared once per session,
 * then only executed (no parsing or planning per settlement). A named
 * statement lives in the server's session, and apr_dbd_check_conn(),
 * ours or mod_dbd's when it hands out the connection, may have reset a
 * broken connection (PQreset) into a new session without them. The
 * backend's process id tells sessions apart without a round trip: when
 * it changed, everything is prepared again. */
static void ledger_check_session(hmb_ledger_t *l)
{
    PGconn *pg;
    int pid;

    if (ledger_is_sqlite(l)) {
        return;
    }
    pg = apr_dbd_native_handle(l->driver, l->handle);
    pid = pg && PQstatus(pg) == CONNECTION_OK ? PQbackendPID(pg) : 0;
    if (pid != l->conn->backend_pid) {
        ledger_forget_stmts(l);
        l->conn->backend_pid = pid;
    }
}

/* The name a statement is prepared under: none on SQLite, which keeps
 * its compiled statement either way; on PostgreSQL a new one each time
 * (ours by their label, the other units' by number: their labels may be
 * their text), so that preparing again never meets an old name. */
static const char *ledger_stmt_name(hmb_ledger_t *l, const char *label)
{
    if (ledger_is_sqlite(l)) {
        return NULL;
    }
    return apr_psprintf(l->pool, "%s_%d", label ? label : "hmb_x",
                        ++l->conn->named);
}

/* The driver's message for rv on a connection, on one line. */
static const char *ledger_driver_error(apr_pool_t *p,
                                       const apr_dbd_driver_t *driver,
                                       apr_dbd_t *handle, int rv)
{
    const char *msg = apr_dbd_error(driver, handle, rv);

    if (msg && strncmp(msg, "ERROR:", 6) == 0) {
        msg += 6;
    }
    msg = msg ? hmb_one_line(p, msg, 0) : "";
    if (!*msg) {
        return apr_psprintf(p, "error %d from the %s driver", rv,
                            apr_dbd_name(driver));
    }
    return msg;
}

static const char *ledger_dbd_error(hmb_ledger_t *l, apr_pool_t *p, int rv)
{
    return ledger_driver_error(p, l->driver, l->handle, rv);
}

/* BEGIN on an SQLite connection (the writer lock held). The driver's own
 * retries of SQLITE_BUSY (15 x 100 ms) sleep without its process-wide
 * lock; a few more rounds of them ride out a queue of writers from other
 * children, still bounded (about 6 s). 0, or the last error and *why,
 * taken before the failed BEGIN is ended: the sqlite3 driver registers
 * the transaction even when BEGIN failed. */
static int ledger_sqlite_begin(const apr_dbd_driver_t *driver,
                               apr_dbd_t *handle, apr_pool_t *tp,
                               apr_pool_t *p, apr_dbd_transaction_t **trans,
                               const char **why)
{
    int rv, tries;

    for (tries = 1; ; tries++) {
        *trans = NULL;
        rv = apr_dbd_transaction_start(driver, tp, handle, trans);
        if (!rv) {
            return 0;
        }
        *why = ledger_driver_error(p, driver, handle, rv);
        if (*trans) {
            apr_dbd_transaction_mode_set(driver, *trans,
                                         APR_DBD_TRANSACTION_ROLLBACK);
            apr_dbd_transaction_end(driver, tp, *trans);
            *trans = NULL;
        }
        if (rv != HMB_SQLITE_BUSY || tries >= HMB_SQLITE_BEGIN_TRIES) {
            return rv;
        }
    }
}

/* A failed statement inside a transaction spoils it: PostgreSQL refuses
 * everything until ROLLBACK, and committing half a claim would be worse. */
static const char *ledger_fail_msg(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *what, const char *msg)
{
    const char *detail = strstr(msg, "DETAIL:");

    /* PostgreSQL's DETAIL repeats the row's values (a unique key holding
     * a psn_no): the error goes to the log, where personal data must not,
     * and the primary message says what failed */
    if (detail) {
        while (detail > msg && (detail[-1] == ' ' || detail[-1] == '\n')) {
            detail--;
        }
        msg = apr_pstrmemdup(p, msg, (apr_size_t)(detail - msg));
    }
    /* The sqlite3 driver compiles with the legacy sqlite3_prepare(), whose
     * statements never recompile themselves: after another process
     * changed the schema (a migration, an index added by hand) they fail
     * for good. Forget them, so that the next use prepares them again;
     * only the unit of work that met the change fails. */
    if (ledger_is_sqlite(l) && strstr(msg, "schema has changed")) {
        ledger_forget_stmts(l);
    }
    /* A named statement the session no longer has (DEALLOCATE, a pooler
     * between us and the server, a reset we could not see): prepared
     * again at the next use, and only this unit of work fails. */
    if (!ledger_is_sqlite(l) && strstr(msg, "prepared statement")
        && strstr(msg, "does not exist")) {
        ledger_forget_stmts(l);
    }
    l->trans_failed = 1;
    l->err_data = 0;
    return apr_psprintf(p, "ledger: %s: %s", what, msg);
}

static const char *ledger_fail(hmb_ledger_t *l, apr_pool_t *p,
                               const char *what, int rv)
{
    return ledger_fail_msg(l, p, what, ledger_dbd_error(l, p, rv));
}

/* PostgreSQL in a transaction: what nobody reads waits (hmb_ledger_pipe.c) */
static int ledger_piped(const hmb_ledger_t *l)
{
    return l->pg_open;
}

/* PostgreSQL outside a transaction: reads asked for ahead (a
 * pre-settlement's) go together, before anything else is sent */
static int ledger_pending(hmb_ledger_t *l)
{
    return !ledger_is_sqlite(l) && hmb_pipe_pending(l);
}

int hmb_ledger_in_trans(const hmb_ledger_t *l)
{
    return l->trans || l->pg_open;
}

const char *hmb_ledger_flush(hmb_ledger_t *l, apr_pool_t *p)
{
    return ledger_piped(l) || ledger_pending(l) ? hmb_pipe_flush(l, p)
                                                : NULL;
}

/* Run a statement that returns rows, reading them all: SQLite resets the
 * statement and PostgreSQL frees the result only at the end. */
static const char *ledger_select_all(hmb_ledger_t *l, apr_pool_t *p,
                                     const char *what, const char *sql,
                                     apr_array_header_t **values)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *err;
    int rv;

    *values = apr_array_make(p, 1, sizeof(const char *));
    if ((err = hmb_ledger_flush(l, p))) {
        return err;
    }
    rv = apr_dbd_select(l->driver, p, l->handle, &res, sql, 1);
    if (rv) {
        return ledger_fail(l, p, what, rv);
    }
    while (apr_dbd_get_row(l->driver, p, res, &row, -1) == 0) {
        const char *v = apr_dbd_get_entry(l->driver, row, 0);
        APR_ARRAY_PUSH(*values, const char *) = v ? apr_pstrdup(p, v) : NULL;
    }
    return NULL;
}

static const char *ledger_exec_sql(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *what, const char *sql)
{
    const char *err = hmb_ledger_flush(l, p);
    int nrows = 0, rv;

    if (err) {
        return err;
    }
    rv = apr_dbd_query(l->driver, l->handle, &nrows, sql);
    return rv ? ledger_fail(l, p, what, rv) : NULL;
}

/* Once per connection, whoever opened it. */
static const char *ledger_conn_setup(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_array_header_t *v;
    const char *err;

    if (l->conn->setup) {
        return NULL;
    }
    /* Only on a connection of our own (hmbctl's): apr_dbd_sqlite3 holds
     * one process-wide mutex around every sqlite3_step, so in a threaded
     * server SQLite's own busy wait would keep that mutex while the
     * writer it waits for (another thread of the same process) needs it
     * to finish: every settlement in the child stalls. There apr_dbd's
     * retries, which release the mutex while they sleep, are the wait. */
    if (ledger_is_sqlite(l) && l->conn->own) {
        /* apr_dbd retries SQLITE_BUSY only 15 x 100 ms; let SQLite itself
         * wait for a writer in another process before giving up. */
        err = ledger_select_all(l, p, "set busy_timeout",
                                "PRAGMA busy_timeout = 10000", &v);
        if (err) {
            return err;
        }
    }
    l->conn->setup = 1;
    return NULL;
}

static const char *ledger_stmt(hmb_ledger_t *l, apr_pool_t *p, hmb_stmt_e s,
                               apr_dbd_prepared_t **st)
{
    const char *label = hmb_stmts[s].label;
    const char *err, *name;
    int rv;

    ledger_check_session(l);
    *st = l->conn->stmts[s];
    if (*st) {
        return NULL;
    }
    if ((err = ledger_conn_setup(l, p))) {
        return err;
    }
    name = ledger_stmt_name(l, label);
    rv = apr_dbd_prepare(l->driver, l->pool, l->handle, hmb_stmts[s].sql,
                         name, st);
    if (rv) {
        *st = NULL;
        return ledger_fail(l, p, apr_psprintf(p, "prepare %s", label), rv);
    }
    hmb_pipe_note(l, *st, name, hmb_stmts[s].sql);
    l->conn->stmts[s] = *st;
    return NULL;
}

const char *hmb_ledger_prepare(hmb_ledger_t *l, apr_pool_t *p,
                               const char *label, const char *sql,
                               apr_dbd_prepared_t **st)
{
    const char *err, *name;
    int rv;

    ledger_check_session(l);
    /* the drivers fill in a statement they are given: none */
    *st = l->conn->extra ? apr_hash_get(l->conn->extra, label,
                                        APR_HASH_KEY_STRING) : NULL;
    if (*st) {
        return NULL;
    }
    if ((err = ledger_conn_setup(l, p))) {
        return err;
    }
    /* named, like ours (see ledger_check_session) */
    name = ledger_stmt_name(l, NULL);
    rv = apr_dbd_prepare(l->driver, l->pool, l->handle, sql, name, st);
    if (rv) {
        *st = NULL;
        return ledger_fail(l, p, apr_psprintf(p, "prepare %s", label), rv);
    }
    hmb_pipe_note(l, *st, name, sql);
    if (!l->conn->extra) {
        l->conn->extra = apr_hash_make(l->pool);
    }
    apr_hash_set(l->conn->extra, apr_pstrdup(l->pool, label),
                 APR_HASH_KEY_STRING, *st);
    return NULL;
}

static const char *ledger_exec(hmb_ledger_t *l, apr_pool_t *p,
                               const char *what, hmb_stmt_e s, int *nrows,
                               const char **args)
{
    apr_dbd_prepared_t *st;
    const char *err;

    if ((err = ledger_stmt(l, p, s, &st))) {
        return err;
    }
    return hmb_ledger_run(l, p, what, st, nrows, args);
}

const char *hmb_ledger_run(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                           apr_dbd_prepared_t *st, int *nrows,
                           const char **args)
{
    const char *err;
    int n = 0, rv, done;

    if (ledger_piped(l)) {
        /* nobody reads it: it goes with the next statement that is */
        if (!nrows && hmb_pipe_queue(l, p, what, st, args)) {
            return NULL;
        }
        err = hmb_pipe_read(l, p, what, st, args, NULL, &n, &done);
        if (err || done) {
            if (nrows) {
                *nrows = n;
            }
            return err;
        }
    }
    else if (ledger_pending(l) && (err = hmb_pipe_flush(l, p))) {
        return err;
    }
    rv = apr_dbd_pquery(l->driver, p, l->handle, &n, st, 0, args);
    if (rv) {
        return ledger_fail(l, p, what, rv);
    }
    if (nrows) {
        *nrows = n;
    }
    return NULL;
}

/* Rows as arrays of column values (NULL for SQL NULL), read to the end. */
static const char *ledger_query(hmb_ledger_t *l, apr_pool_t *p,
                                const char *what, hmb_stmt_e s,
                                const char **args, apr_array_header_t **rows)
{
    apr_dbd_prepared_t *st;
    const char *err;

    *rows = apr_array_make(p, 4, sizeof(const char **));
    if ((err = ledger_stmt(l, p, s, &st))) {
        return err;
    }
    return hmb_ledger_rows(l, p, what, st, args, rows);
}

const char *hmb_ledger_rows(hmb_ledger_t *l, apr_pool_t *p, const char *what,
                            apr_dbd_prepared_t *st, const char **args,
                            apr_array_header_t **rows)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *err;
    int rv, ncols, done;

    *rows = apr_array_make(p, 4, sizeof(const char **));
    if (ledger_piped(l) || ledger_pending(l)) {
        err = hmb_pipe_read(l, p, what, st, args, rows, NULL, &done);
        if (err || done) {
            return err;
        }
    }
    rv = apr_dbd_pselect(l->driver, p, l->handle, &res, st, 1, 0, args);
    if (rv) {
        return ledger_fail(l, p, what, rv);
    }
    ncols = apr_dbd_num_cols(l->driver, res);
    while (apr_dbd_get_row(l->driver, p, res, &row, -1) == 0) {
        const char **vals = apr_pcalloc(p, sizeof(*vals) * (ncols + 1));
        int i;

        for (i = 0; i < ncols; i++) {
            char *v = NULL;
            /* get_entry gives "" for NULL on PostgreSQL; datum_get tells
             * them apart on both drivers. */
            if (apr_dbd_datum_get(l->driver, row, i, APR_DBD_TYPE_STRING,
                                  &v) == APR_SUCCESS && v) {
                vals[i] = apr_pstrdup(p, v);
            }
        }
        APR_ARRAY_PUSH(*rows, const char **) = vals;
    }
    return NULL;
}

/* What a column held makes no sense to this build: never a reason to
 * try again later. */
static const char *ledger_bad_data(hmb_ledger_t *l, const char *msg)
{
    l->err_data = 1;
    return msg;
}

static const char *ledger_i64(hmb_ledger_t *l, apr_pool_t *p,
                              const char *table, const char *col,
                              const char *s, apr_int64_t *out)
{
    char *end;
    apr_int64_t v;

    if (!s || !*s) {
        return ledger_bad_data(l, apr_psprintf(p, "ledger: %s.%s is empty",
                                               table, col));
    }
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (*end || errno) {
        return ledger_bad_data(l, apr_psprintf(p, "ledger: %s.%s holds "
                                               "\"%s\", not an integer",
                                               table, col, s));
    }
    *out = v;
    return NULL;
}

static const char *ledger_int(hmb_ledger_t *l, apr_pool_t *p,
                              const char *table, const char *col,
                              const char *s, int *out)
{
    apr_int64_t v = 0;
    const char *err = ledger_i64(l, p, table, col, s, &v);

    if (err) {
        return err;
    }
    if (v < APR_INT32_MIN || v > APR_INT32_MAX) {
        return ledger_bad_data(l, apr_psprintf(p, "ledger: %s.%s holds %s, "
                                               "out of range", table, col,
                                               s));
    }
    *out = (int)v;
    return NULL;
}

static const char *ledger_fen_str(apr_pool_t *p, hmb_fen_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* UTC, second resolution: for people reading the tables, never for
 * deciding anything. */
static const char *ledger_now(apr_pool_t *p)
{
    return hmb_ledger_stamp(p, apr_time_now());
}

const char *hmb_ledger_stamp(apr_pool_t *p, apr_time_t when)
{
    apr_time_exp_t t;

    apr_time_exp_gmt(&t, when);
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                        t.tm_hour, t.tm_min, t.tm_sec);
}

/* ---- for the ledger's other units (hmb_ledger_int.h) ---- */

const char *hmb_ledger_sql_exec(hmb_ledger_t *l, apr_pool_t *p,
                                const char *what, const char *sql,
                                const char **args, int *nrows)
{
    apr_dbd_prepared_t *st;
    const char *err;

    /* the text is the label: one statement per text and connection */
    if ((err = hmb_ledger_prepare(l, p, sql, sql, &st))) {
        return err;
    }
    return hmb_ledger_run(l, p, what, st, nrows, args);
}

const char *hmb_ledger_sql_query(hmb_ledger_t *l, apr_pool_t *p,
                                 const char *what, const char *sql,
                                 const char **args,
                                 apr_array_header_t **rows)
{
    apr_dbd_prepared_t *st;
    const char *err;

    *rows = apr_array_make(p, 4, sizeof(const char **));
    if ((err = hmb_ledger_prepare(l, p, sql, sql, &st))) {
        return err;
    }
    return hmb_ledger_rows(l, p, what, st, args, rows);
}

const char *hmb_ledger_sql_prefetch(hmb_ledger_t *l, apr_pool_t *p,
                                    const char *what, const char *sql,
                                    const char **args)
{
    apr_dbd_prepared_t *st;
    const char *err;

    if (ledger_is_sqlite(l)) {
        return NULL;
    }
    if ((err = hmb_ledger_prepare(l, p, sql, sql, &st))) {
        return err;
    }
    hmb_pipe_prefetch(l, p, what, st, args);
    return NULL;
}

const char *hmb_ledger_sql_run(hmb_ledger_t *l, apr_pool_t *p,
                               const char *what, const char *sql,
                               int *nrows)
{
    const char *err = hmb_ledger_flush(l, p);
    int n = 0, rv;

    if (err) {
        return err;
    }
    rv = apr_dbd_query(l->driver, l->handle, &n, sql);
    if (rv) {
        return ledger_fail(l, p, what, rv);
    }
    if (nrows) {
        *nrows = n;
    }
    return NULL;
}

int hmb_ledger_is_sqlite(const hmb_ledger_t *l)
{
    return ledger_is_sqlite(l);
}

const char *hmb_ledger_failed(hmb_ledger_t *l, apr_pool_t *p,
                              const char *what, const char *why)
{
    return ledger_fail_msg(l, p, what,
                           hmb_one_line(p, why ? why : "failed", 0));
}

const char *hmb_ledger_i64(hmb_ledger_t *l, apr_pool_t *p,
                           const char *table, const char *col,
                           const char *s, apr_int64_t *out)
{
    return ledger_i64(l, p, table, col, s, out);
}

const char *hmb_ledger_fen_str(apr_pool_t *p, hmb_fen_t v)
{
    return ledger_fen_str(p, v);
}

const char *hmb_ledger_now(apr_pool_t *p)
{
    return ledger_now(p);
}

hmb_ledger_t *hmb_ledger_wrap(apr_pool_t *p, const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_pool_t *conn_pool)
{
    hmb_ledger_t *l = apr_pcalloc(p, sizeof(*l));

    l->driver = driver;
    l->handle = handle;
    l->conn = ledger_conn(conn_pool);
    l->pool = conn_pool;
    l->driver_name = apr_dbd_name(driver);
    l->trans = NULL;
    l->utc_offset_min = HMB_ROLLUP_OFFSET_DEFAULT;
    if (!ledger_is_sqlite(l)) {
        /* nothing asked for ahead by the connection's last user */
        hmb_pipe_discard(l);
    }
    return l;
}

typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
} hmb_ledger_handle_t;

static apr_status_t ledger_close(void *data)
{
    hmb_ledger_handle_t *c = data;

    apr_dbd_close(c->driver, c->handle);
    return APR_SUCCESS;
}

/* The ledger file and its -wal and -shm companions (which SQLite makes
 * with the file's own mode) hold personal data: nobody but the owner and
 * group may read them. Only the owner or root can say so. */
static void ledger_sqlite_protect(apr_pool_t *p, const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    apr_size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        const char *f = apr_pstrcat(p, path, suffixes[i], NULL);
        struct stat st;

        if (stat(f, &st) == 0 && (st.st_mode & 0007)
            && (st.st_uid == geteuid() || geteuid() == 0)) {
            if (chmod(f, st.st_mode & 07770) != 0) {
                /* still readable; nothing more this process can do */
            }
        }
    }
}

void hmb_ledger_protect(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *path = hmb_ledger_sqlite_path(l, p);

    if (path) {
        ledger_sqlite_protect(p, path);
    }
}

/* A new SQLite ledger made by hmbctl: mode 0660, and, when root makes it
 * (the first `hmbctl enroll` of an installation, often), the owner and
 * group of its directory, which the server's user can then write. */
static const char *ledger_sqlite_create(apr_pool_t *p, const char *path,
                                        int existing)
{
    char *dir = apr_pstrdup(p, path), *slash = strrchr(dir, '/');
    struct stat st;
    int fd;

    if (stat(path, &st) == 0) {
        return NULL;
    }
    if (errno != ENOENT) {
        return apr_psprintf(p, "ledger: %s: %s", path, strerror(errno));
    }
    if (existing) {
        return apr_psprintf(p, "ledger: there is no ledger at %s", path);
    }
    if (slash) {
        *slash = '\0';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0660);
    if (fd < 0) {
        return apr_psprintf(p, "ledger: cannot open sqlite3 ledger \"%s\": "
                            "cannot create it: %s", path, strerror(errno));
    }
    if (fchmod(fd, 0660) != 0
        || (geteuid() == 0 && stat(slash ? (*dir ? dir : "/") : ".",
                                   &st) == 0
            && fchown(fd, st.st_uid, st.st_gid) != 0)) {
        const char *why = strerror(errno);

        close(fd);
        return apr_psprintf(p, "ledger: cannot set the owner or mode of "
                            "%s: %s", path, why);
    }
    close(fd);
    return NULL;
}

const char *hmb_ledger_open(apr_pool_t *p, const char *spec,
                            hmb_ledger_t **l)
{
    return hmb_ledger_open_ex(p, spec, 0, l);
}

const char *hmb_ledger_open_ex(apr_pool_t *p, const char *spec, int flags,
                               hmb_ledger_t **l)
{
    const char *colon = spec ? strchr(spec, ':') : NULL;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle = NULL;
    hmb_ledger_handle_t *conn;
    apr_pool_t *cp;
    const char *name, *params, *err = NULL;
    apr_status_t rv;

    *l = NULL;
    if (!colon || colon == spec || !colon[1]) {
        return apr_psprintf(p, "ledger: \"%s\" is not DRIVER:PARAMS (e.g. "
                            "sqlite3:/var/lib/huiminbao/ledger.db)",
                            spec ? spec : "");
    }
    name = apr_pstrmemdup(p, spec, colon - spec);
    params = colon + 1;

    rv = apr_dbd_init(p);
    if (rv != APR_SUCCESS) {
        return "ledger: apr_dbd_init failed";
    }
    rv = apr_dbd_get_driver(p, name, &driver);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "ledger: no apr_dbd driver \"%s\" (is "
                            "libaprutil1-dbd-%s installed?)", name, name);
    }
    if (!strcmp(name, "sqlite3")
        && (err = ledger_sqlite_create(p, params,
                                       flags & HMB_LEDGER_EXISTING))) {
        return err;
    }
    apr_pool_create(&cp, p);
    apr_pool_tag(cp, "hmb_ledger");
    rv = apr_dbd_open_ex(driver, cp, params, &handle, &err);
    if (rv != APR_SUCCESS || !handle) {
        const char *why = err ? hmb_one_line(p, err, 0) : "";

        apr_pool_destroy(cp);
        return apr_psprintf(p, "ledger: cannot open %s ledger \"%s\": %s",
                            name, params, *why ? why : "connection failed");
    }
    conn = apr_palloc(cp, sizeof(*conn));
    conn->driver = driver;
    conn->handle = handle;
    apr_pool_cleanup_register(cp, conn, ledger_close,
                              apr_pool_cleanup_null);

    ledger_conn(cp)->own = 1;
    *l = hmb_ledger_wrap(cp, driver, handle, cp);
    err = (flags & HMB_LEDGER_EXISTING) ? hmb_ledger_check_schema(*l, p)
                                        : hmb_ledger_ensure_schema(*l, p);
    if (err) {
        *l = NULL;
        apr_pool_destroy(cp);
        return err;
    }
    if (!strcmp(name, "sqlite3")) {
        ledger_sqlite_protect(p, params);
    }
    return NULL;
}

static const char *ledger_read_version(hmb_ledger_t *l, apr_pool_t *p,
                                       int *version)
{
    apr_array_header_t *v;
    const char *err;

    *version = 0;
    err = ledger_select_all(l, p, "read schema version",
                            "SELECT value FROM hmb_meta"
                            " WHERE name = 'schema_version'", &v);
    if (err) {
        return err;
    }
    if (v->nelts) {
        return ledger_int(l, p, "hmb_meta", "schema_version",
                          APR_ARRAY_IDX(v, 0, const char *), version);
    }
    return NULL;
}

static const char *ledger_apply_migrations(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;
    int version = 0, i, j;

    err = ledger_exec_sql(l, p, "create hmb_meta",
                          "CREATE TABLE IF NOT EXISTS hmb_meta ("
                          " name TEXT NOT NULL PRIMARY KEY,"
                          " value TEXT NOT NULL)");
    if (err) {
        return err;
    }
    /* Again, now that we hold the lock: someone may have just done it. */
    if ((err = ledger_read_version(l, p, &version))) {
        return err;
    }
    if (version >= HMB_NMIGRATIONS) {
        return NULL;
    }
    for (i = version; i < HMB_NMIGRATIONS; i++) {
        const char *what = apr_psprintf(p, "migrate schema to version %d",
                                        i + 1);
        for (j = 0; hmb_migrations[i][j]; j++) {
            const char *sql = hmb_migrations[i][j];
            const char *colon = strchr(sql, ':');

            /* a driver tag is a word before a colon, never SQL */
            if (colon && !strchr(apr_pstrmemdup(p, sql, colon - sql), ' ')) {
                if (strncmp(sql, l->driver_name, colon - sql) != 0
                    || strlen(l->driver_name) != (apr_size_t)(colon - sql)) {
                    continue;
                }
                sql = colon + 1;
            }
            if ((err = ledger_exec_sql(l, p, what, sql))) {
                return err;
            }
        }
    }
    if (version < HMB_SCHEMA_AUDIT && (err = hmb_audit_backfill(l, p))) {
        return err;
    }
    return ledger_exec_sql(l, p, "record schema version",
                           apr_psprintf(p,
                               "INSERT INTO hmb_meta (name, value)"
                               " VALUES ('schema_version', '%d')"
                               " ON CONFLICT (name) DO UPDATE"
                               " SET value = excluded.value",
                               HMB_NMIGRATIONS));
}

/* One attempt at bringing the schema up to date, in one transaction. */
static const char *ledger_migrate(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;

    if ((err = hmb_ledger_begin(l, p))) {
        return err;
    }
    if ((err = ledger_apply_migrations(l, p))) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    return hmb_ledger_commit(l, p);
}

const char *hmb_ledger_ensure_schema(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;
    int version = 0, attempt;

    if (l->conn->schema_ok) {
        return NULL;
    }
    if (hmb_ledger_in_trans(l)) {
        return "ledger: cannot check the schema inside a transaction";
    }
    if ((err = ledger_conn_setup(l, p))) {
        return err;
    }
    /* A missing hmb_meta is how a new ledger looks: not an error. */
    if (ledger_read_version(l, p, &version)) {
        version = 0;
    }
    if (version > HMB_LEDGER_SCHEMA_VERSION) {
        return apr_psprintf(p, "ledger: schema version %d is newer than "
                            "this build understands (%d); upgrade "
                            "mod_huiminbao and hmbctl", version,
                            HMB_LEDGER_SCHEMA_VERSION);
    }
    if (version < HMB_LEDGER_SCHEMA_VERSION) {
        if (version == 0 && ledger_is_sqlite(l)) {
            apr_array_header_t *v;
            /* WAL lets readers run beside the one writer. It is a property
             * of the file, set once; it cannot be set inside a
             * transaction, and failing (another process holds the file
             * busy) costs only concurrency, so the result is ignored. */
            ledger_select_all(l, p, "set journal_mode",
                              "PRAGMA journal_mode = WAL", &v);
        }
        /* Two processes meeting a new ledger race to create it; on
         * PostgreSQL the loser's CREATE fails, and its second attempt
         * finds the winner's schema. */
        for (attempt = 0; attempt < 2; attempt++) {
            if (!(err = ledger_migrate(l, p))) {
                break;
            }
        }
        if (err) {
            return err;
        }
    }
    l->conn->schema_ok = 1;
    return NULL;
}

const char *hmb_ledger_check_schema(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;
    int version = 0;

    if (l->conn->schema_ok) {
        return NULL;
    }
    if ((err = ledger_read_version(l, p, &version))) {
        /* A user who may not write an SQLite ledger in WAL mode (as
         * hmbctl makes them) cannot read it either: then "create it" is
         * the wrong advice. Told by SQLite's own words, so that this path
         * (also a request's) never takes the write lock. */
        if (ledger_is_sqlite(l) && strstr(err, "readonly database")) {
            return apr_psprintf(p, "%s (this user cannot write the ledger: "
                                "see the owner and mode of the file and of "
                                "its directory)", err);
        }
        /* a ledger nobody has created looks like this too */
        return apr_psprintf(p, "%s (has the ledger been created? run "
                            "hmbctl migrate, or restart httpd)", err);
    }
    if (version != HMB_LEDGER_SCHEMA_VERSION) {
        l->err_data = 0;
        return apr_psprintf(p, "ledger: schema version %d, this build "
                            "writes version %d: run hmbctl migrate (or "
                            "restart httpd) with this build", version,
                            HMB_LEDGER_SCHEMA_VERSION);
    }
    l->conn->schema_ok = 1;
    return NULL;
}

int hmb_ledger_error_transient(const hmb_ledger_t *l)
{
    return !l->err_data;
}

/* SQLite with the writer lock: a COMMIT only writes the WAL
 * (synchronous = NORMAL, see ledger_conn_setup) and the flush to disk
 * comes here, after the next writer was let in. Writers that commit
 * while one flushes share the next flush, so one fsync serves many
 * settlements instead of one each, and none is answered before its
 * claim is on disk. fsync flushes the file whoever wrote it; a WAL that
 * is gone was checkpointed (and synced) into the database by SQLite. */
static const char *ledger_sync_wal(const char *wal, apr_pool_t *p)
{
    int fd, rv = 0;

    if (!wal) {
        return NULL;
    }
    fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? NULL
               : apr_psprintf(p, "ledger: commit: %s: %s", wal,
                              strerror(errno));
    }
    if (fdatasync(fd) != 0) {
        rv = errno;
    }
    close(fd);
    return rv ? apr_psprintf(p, "ledger: commit not flushed to disk: %s: %s",
                             wal, strerror(rv))
              : NULL;
}

static apr_status_t ledger_writer_release(void *data)
{
    hmb_ledger_t *l = data;

    if (l->writer_held) {
        hmb_writer_unlock(l->writer_held);
        l->writer_held = NULL;
    }
    return APR_SUCCESS;
}

/* Wait for the writer lock, at most HMB_WRITER_WAIT. */
static const char *ledger_writer_lock(hmb_writer_t *w, apr_pool_t *p)
{
    apr_status_t rv = hmb_writer_lock(w, HMB_WRITER_WAIT);
    char buf[120];

    if (rv == APR_SUCCESS) {
        return NULL;
    }
    return apr_psprintf(p, "ledger: writer lock: %s",
                        rv == APR_TIMEUP ? "other writers held it for 6 s"
                        : apr_strerror(rv, buf, sizeof(buf)));
}

/* SQLite: queue for the ledger's writer lock before BEGIN IMMEDIATE (see
 * hmb_writer.c), held until the transaction ends, whichever way. An
 * in-memory ledger, or one whose lock file cannot be had, goes without:
 * then SQLite's busy handling is the queue, as before. */
static const char *ledger_writer_take(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_array_header_t *v;
    const char *err;

    if (!l->conn->writer_looked) {
        const char *path = hmb_ledger_sqlite_path(l, p);

        l->conn->writer_looked = 1;
        if (path && *path == '/') {
            hmb_writer_get(p, path, &l->conn->writer);
        }
        /* the commits' flush is ours from now on (ledger_sync_wal) */
        if (l->conn->writer
            && !ledger_select_all(l, p, "set synchronous",
                                  "PRAGMA synchronous = NORMAL", &v)) {
            l->conn->wal = apr_pstrcat(l->pool, path, "-wal", NULL);
        }
    }
    if (!l->conn->writer) {
        return NULL;
    }
    if ((err = ledger_writer_lock(l->conn->writer, p))) {
        return err;
    }
    l->writer_held = l->conn->writer;
    /* registered before the transaction's own cleanup, so run after it:
     * the next writer never finds this one's transaction still open */
    apr_pool_cleanup_register(p, l, ledger_writer_release,
                              apr_pool_cleanup_null);
    return NULL;
}

/* ---- SQLite: group commit ------------------------------------------------
 *
 * Under httpd, what a child records on one SQLite ledger (settlements,
 * cancellations, memos: hmb_ledger_group_run) goes through one
 * connection of the child's own, in one transaction shared by a group,
 * each in a SAVEPOINT of it. A settlement is queued; the first thread
 * that finds nobody at work (the combiner) takes the writer lock, begins,
 * and runs the queued ones one after the other on its own thread while
 * their threads wait; once the queue is empty (or HMB_GROUP_MAX ran) it
 * commits, lets the writer lock go (only the thread that took it may),
 * hands the next group to the first one queued meanwhile, flushes the
 * WAL and wakes its group. One BEGIN, one COMMIT and one flush serve a
 * group; the pages they all touch (the day's rollups, the indexes) are
 * written to the WAL once; the connection's page cache stays warm; and
 * the connection goes from one settlement to the next without a thread
 * woken for each. Nobody is answered before the transaction holding what
 * they recorded is on disk; a commit or flush that fails fails every one
 * of its group, those that only read too (a repeat may have been answered
 * from another's claim): each deferred and spooled, as any ledger
 * error. */

#define HMB_GROUP_MAX 32
/* The group connection's page cache (KiB): a group's pages, the indexes'
 * upper levels and the day's rollups stay in it from one group to the
 * next. One connection per child. */
#define HMB_GROUP_CACHE_KIB "32768"

/* A settlement's (or a cancellation's, a memo's) place in the queue: on
 * its thread's stack until it is done. */
typedef struct hmb_group_job_t hmb_group_job_t;
struct hmb_group_job_t {
    hmb_group_job_t *next;
    hmb_ledger_t *l;
    apr_pool_t *p;
    void (*fn)(void *);
    void *arg;
    pthread_cond_t wake;
    int lead;                       /* its thread runs the next group */
    int done;                       /* ran, and its group ended */
    int ran;
    char err[256];                  /* why it never ran, or why its group
                                     * was not committed */
};

typedef struct hmb_ledger_group_t hmb_ledger_group_t;
struct hmb_ledger_group_t {
    hmb_ledger_group_t *next;
    char *path;
    apr_pool_t *pool;               /* the shared connection's */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    hmb_writer_t *writer;
    const char *wal;
    int wal_fd;                     /* kept open: a failed flush is told to
                                     * this descriptor, not lost to another */
    char broken[256];               /* why a flush failed: from then on
                                     * the child records nothing */
    hmb_wal_t *walck;               /* its checkpoints (hmb_ledger_wal.h) */
    apr_pool_t *tpool;              /* a group's transaction, cleared after */
    pthread_mutex_t mu;
    hmb_group_job_t *head, *tail;   /* queued */
    int combining;                  /* a thread runs a group, or has been
                                     * handed the next */
    apr_dbd_transaction_t *trans;   /* the running group's */
};

static pthread_mutex_t ledger_groups_mutex = PTHREAD_MUTEX_INITIALIZER;
static hmb_ledger_group_t *ledger_groups;
static int ledger_group_on;
static apr_uint64_t ledger_group_groups, ledger_group_jobs;

void hmb_ledger_group_commit(int on)
{
    ledger_group_on = on;
}

void hmb_ledger_group_counts(apr_uint64_t *groups, apr_uint64_t *jobs)
{
    pthread_mutex_lock(&ledger_groups_mutex);
    *groups = ledger_group_groups;
    *jobs = ledger_group_jobs;
    pthread_mutex_unlock(&ledger_groups_mutex);
}

/* The child's group for the file at path, its connection opened on first
 * use; NULL (go without) when it cannot be had. */
static hmb_ledger_group_t *ledger_group_get(hmb_ledger_t *l, const char *path)
{
    hmb_ledger_group_t *g;
    apr_array_header_t *v;
    hmb_ledger_t gl;

    pthread_mutex_lock(&ledger_groups_mutex);
    for (g = ledger_groups; g && strcmp(g->path, path); g = g->next) {
    }
    if (!g && (g = calloc(1, sizeof(*g))) != NULL) {
        g->wal_fd = -1;
        if (!(g->path = strdup(path))
            || apr_pool_create(&g->pool, NULL) != APR_SUCCESS
            || apr_pool_create(&g->tpool, g->pool) != APR_SUCCESS
            || apr_dbd_open(l->driver, g->pool, hmb_vfs_uri(g->pool, path),
                            &g->handle)
               != APR_SUCCESS
            || hmb_writer_get(g->pool, path, &g->writer) || !g->writer) {
            /* not worth a retry per settlement: this child goes without */
            g->handle = NULL;
        }
        else {
            g->driver = l->driver;
            memset(&gl, 0, sizeof(gl));
            gl.driver = g->driver;
            gl.handle = g->handle;
            gl.pool = g->pool;
            gl.driver_name = l->driver_name;
            gl.conn = ledger_conn(g->pool);
            /* the flush is ours, after the commit (ledger_sync_wal) */
            if (!ledger_select_all(&gl, g->pool, "set synchronous",
                                   "PRAGMA synchronous = NORMAL", &v)) {
                g->wal = apr_pstrcat(g->pool, path, "-wal", NULL);
                g->wal_fd = open(g->wal, O_RDONLY | O_CLOEXEC);
                g->walck = hmb_wal_attach(path, apr_dbd_native_handle(
                                                    g->driver, g->handle));
            }
            /* a settlement's savepoint keeps what it changed in memory,
             * not in a temporary file of its own; whether these take
             * changes the speed only */
            ledger_select_all(&gl, g->pool, "set temp_store",
                              "PRAGMA temp_store = MEMORY", &v);
            ledger_select_all(&gl, g->pool, "set cache_size",
                              "PRAGMA cache_size = -" HMB_GROUP_CACHE_KIB,
                              &v);
            gl.conn->writer = g->writer;
            gl.conn->writer_looked = 1;
            gl.conn->wal = g->wal;
        }
        pthread_mutex_init(&g->mu, NULL);
        if (g->path) {
            g->next = ledger_groups;
            ledger_groups = g;
        }
        else {
            free(g);
            g = NULL;
        }
    }
    pthread_mutex_unlock(&ledger_groups_mutex);
    return g && g->handle ? g : NULL;
}

/* The group l's work may go through, or NULL: it goes on its own. */
static hmb_ledger_group_t *ledger_group_for(hmb_ledger_t *l, apr_pool_t *p)
{
    if (!ledger_group_on || !ledger_is_sqlite(l) || l->conn->own
        || hmb_ledger_in_trans(l) || l->group) {
        return NULL;
    }
    /* looked up once per connection: groups live as long as the child */
    if (!l->conn->group_looked) {
        const char *path = hmb_ledger_sqlite_path(l, p);

        l->conn->group_looked = 1;
        l->conn->group = path && *path == '/' ? ledger_group_get(l, path)
                                              : NULL;
    }
    return l->conn->group;
}

/* A new group: the writer lock, then BEGIN IMMEDIATE. */
static const char *ledger_group_open(hmb_ledger_group_t *g, apr_pool_t *p)
{
    apr_dbd_transaction_t *trans;
    const char *err, *why = NULL;

    if (g->broken[0]) {
        return apr_pstrdup(p, g->broken);
    }
    if (apr_dbd_check_conn(g->driver, p, g->handle) != APR_SUCCESS) {
        return "ledger: the child's SQLite connection is lost";
    }
    if ((err = ledger_writer_lock(g->writer, p))) {
        return err;
    }
    hmb_wal_before_begin(g->walck);
    if (ledger_sqlite_begin(g->driver, g->handle, g->tpool, p, &trans,
                            &why)) {
        apr_pool_clear(g->tpool);
        hmb_writer_unlock(g->writer);
        return apr_psprintf(p, "ledger: begin transaction: %s", why);
    }
    /* a settlement's failed statement spoils only its savepoint; whatever
     * ends the transaction otherwise rolls it back */
    apr_dbd_transaction_mode_set(g->driver, trans,
                                 APR_DBD_TRANSACTION_ROLLBACK
                                 | APR_DBD_TRANSACTION_IGNORE_ERRORS);
    g->trans = trans;
    return NULL;
}

/* The group's COMMIT, the writer lock let go: NULL, or why it failed. */
static const char *ledger_group_close(hmb_ledger_group_t *g, apr_pool_t *p)
{
    const char *err = NULL;
    int n, rc;

    apr_dbd_transaction_mode_set(g->driver, g->trans,
                                 APR_DBD_TRANSACTION_COMMIT);
    rc = apr_dbd_transaction_end(g->driver, g->tpool, g->trans);
    if (rc) {
        err = apr_psprintf(p, "ledger: commit: %s",
                           ledger_driver_error(p, g->driver, g->handle, rc));
        apr_dbd_query(g->driver, g->handle, &n, "ROLLBACK");
    }
    g->trans = NULL;
    apr_pool_clear(g->tpool);
    hmb_writer_unlock(g->writer);
    return err;
}

/* The group's WAL to disk, outside every lock. A flush that failed may
 * have lost pages the kernel already counted as written: nothing after
 * it is trusted (what the child records is deferred and spooled until it
 * is restarted). */
static const char *ledger_group_flush(hmb_ledger_group_t *g, apr_pool_t *p)
{
    const char *err;

    if (hmb_vfs_failed(apr_dbd_native_handle(g->driver, g->handle))) {
        /* a write of the WAL failed where no COMMIT could say so */
        err = apr_psprintf(p, "ledger: commit: a write of %s failed; this "
                           "child records nothing more until it is "
                           "restarted", g->wal ? g->wal : "the WAL");
    }
    else if (g->wal_fd < 0) {
        return ledger_sync_wal(g->wal, p);
    }
    else if (fdatasync(g->wal_fd) == 0) {
        return NULL;
    }
    else {
        err = apr_psprintf(p, "ledger: commit not flushed to disk: %s: %s; "
                           "this child records nothing more until it is "
                           "restarted", g->wal, strerror(errno));
    }
    pthread_mutex_lock(&g->mu);
    apr_cpystrn(g->broken, err, sizeof(g->broken));
    pthread_mutex_unlock(&g->mu);
    return err;
}

static const char *ledger_group_query(hmb_ledger_t *l, apr_pool_t *p,
                                      const char *sql)
{
    int n = 0, rv = apr_dbd_query(l->driver, l->handle, &n, sql);

    return rv ? ledger_fail(l, p, sql, rv) : NULL;
}

/* hmb_ledger_begin in a group: a savepoint of its transaction. */
static const char *ledger_group_savepoint(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;

    if ((err = ledger_group_query(l, p, "SAVEPOINT hmb_settlement"))) {
        return err;
    }
    l->trans = l->group->trans;
    l->trans_pool = l->group->pool;
    l->trans_failed = 0;
    return NULL;
}

/* hmb_ledger_commit (keep) or _rollback in a group: the savepoint
 * released, or undone. What it kept is on disk once its group is. */
static const char *ledger_group_release(hmb_ledger_t *l, apr_pool_t *p,
                                        int keep)
{
    const char *err = NULL;
    int ok = keep && !l->trans_failed;

    /* in a group, a transaction is this job's savepoint */
    if (!l->trans) {
        return keep ? "ledger: commit without a transaction" : NULL;
    }
    if (keep && l->trans_failed) {
        err = "ledger: commit after a failed statement: rolled back";
    }
    if (ok && (err = ledger_group_query(l, p, "RELEASE hmb_settlement"))) {
        ok = 0;
    }
    if (!ok) {
        ledger_group_query(l, p, "ROLLBACK TO hmb_settlement");
        ledger_group_query(l, p, "RELEASE hmb_settlement");
    }
    l->trans = NULL;
    l->trans_pool = NULL;
    l->trans_failed = 0;
    l->found = NULL;
    return err;
}

/* One queued job on the group's connection, on the combiner's thread
 * (its own waits meanwhile, so its pool is the combiner's to use). */
static void ledger_group_job(hmb_ledger_group_t *g, hmb_group_job_t *job)
{
    hmb_ledger_t *l = job->l;
    apr_dbd_t *handle = l->handle;
    apr_pool_t *pool = l->pool;
    hmb_ledger_conn_t *conn = l->conn;

    l->handle = g->handle;
    l->pool = g->pool;
    l->conn = ledger_conn(g->pool);
    l->group = g;
    job->fn(job->arg);
    if (l->trans) {
        /* its answer may say otherwise: it is not the one to give */
        ledger_group_release(l, job->p, 0);
        apr_cpystrn(job->err, "ledger: a transaction was left open: "
                    "rolled back", sizeof(job->err));
    }
    l->group = NULL;
    l->handle = handle;
    l->pool = pool;
    l->conn = conn;
    job->ran = 1;
}

/* The next group is the first queued one's to run. */
static void ledger_group_hand_on(hmb_ledger_group_t *g)
{
    if (g->head) {
        g->head->lead = 1;
        pthread_cond_signal(&g->head->wake);
    }
    else {
        g->combining = 0;
    }
}

/* Run one group: what is queued, the first one this thread's own. */
static void ledger_group_combine(hmb_ledger_group_t *g, apr_pool_t *p)
{
    hmb_group_job_t *group = NULL, **last = &group, *j, *waited;
    const char *err;
    int n = 0;

    pthread_mutex_lock(&g->mu);
    waited = g->tail;
    pthread_mutex_unlock(&g->mu);
    err = ledger_group_open(g, p);
    pthread_mutex_lock(&g->mu);
    if (err) {
        /* those queued while it was tried fail with it; the ones after
         * try again */
        do {
            j = g->head;
            if (!(g->head = j->next)) {
                g->tail = NULL;
            }
            apr_cpystrn(j->err, err, sizeof(j->err));
            j->done = 1;
            pthread_cond_signal(&j->wake);
        } while (j != waited);
        ledger_group_hand_on(g);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    while (n < HMB_GROUP_MAX && (j = g->head) != NULL) {
        if (!(g->head = j->next)) {
            g->tail = NULL;
        }
        j->next = NULL;
        *last = j;
        last = &j->next;
        n++;
        pthread_mutex_unlock(&g->mu);
        ledger_group_job(g, j);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_lock(&ledger_groups_mutex);
    ledger_group_groups++;
    ledger_group_jobs += n;
    pthread_mutex_unlock(&ledger_groups_mutex);

    err = ledger_group_close(g, p);
    /* the next group may run while this one is flushed */
    pthread_mutex_lock(&g->mu);
    ledger_group_hand_on(g);
    pthread_mutex_unlock(&g->mu);
    if (!err) {
        err = ledger_group_flush(g, p);
    }
    pthread_mutex_lock(&g->mu);
    while ((j = group) != NULL) {
        /* once done, a job's thread may leave and take it along */
        group = j->next;
        /* every one of them: one that recorded nothing may have answered
         * from what another recorded (a repeat of it) */
        if (err) {
            apr_cpystrn(j->err, err, sizeof(j->err));
        }
        j->done = 1;
        pthread_cond_signal(&j->wake);
    }
    pthread_mutex_unlock(&g->mu);
    if (!err) {
        hmb_wal_after_commit(g->walck);
    }
}

const char *hmb_ledger_group_run(hmb_ledger_t *l, apr_pool_t *p,
                                 void (*fn)(void *), void *arg, int *ran)
{
    hmb_ledger_group_t *g;
    hmb_group_job_t job;

    *ran = 0;
    if (!(g = ledger_group_for(l, p))) {
        return NULL;
    }
    memset(&job, 0, sizeof(job));
    job.l = l;
    job.p = p;
    job.fn = fn;
    job.arg = arg;
    pthread_cond_init(&job.wake, NULL);
    pthread_mutex_lock(&g->mu);
    if (g->tail) {
        g->tail->next = &job;
    }
    else {
        g->head = &job;
    }
    g->tail = &job;
    if (!g->combining) {
        g->combining = 1;
        job.lead = 1;
    }
    while (!job.done && !job.lead) {
        pthread_cond_wait(&job.wake, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    if (!job.done) {
        ledger_group_combine(g, p);
    }
    pthread_cond_destroy(&job.wake);
    *ran = job.ran;
    return job.err[0] ? apr_pstrdup(p, job.err) : NULL;
}

/* PostgreSQL: a transaction whose pool goes before it ended (an aborted
 * request) is rolled back, as apr_dbd's own would be. */
static apr_status_t ledger_pg_abandon(void *data)
{
    hmb_ledger_t *l = data;
    int nrows;

    if (l->pg_open) {
        if (hmb_pipe_started(l)) {
            apr_dbd_query(l->driver, l->handle, &nrows, "ROLLBACK");
        }
        hmb_pipe_discard(l);
        l->pg_open = 0;
        l->trans_pool = NULL;
    }
    return APR_SUCCESS;
}

/* PostgreSQL: BEGIN waits with the statements that follow it (see
 * hmb_ledger_pipe.c): a settlement refused before anything was read
 * costs no round trip at all. */
static const char *ledger_pg_begin(hmb_ledger_t *l, apr_pool_t *p)
{
    const char *err;

    /* Before the first BEGIN a trivial query makes a connection the
     * server has dropped show as broken, so that check_conn resets it. */
    if (!l->conn->pg_probed) {
        apr_array_header_t *v;

        ledger_select_all(l, p, "probe connection", "SELECT 1", &v);
        l->conn->pg_probed = 1;
    }
    if (apr_dbd_check_conn(l->driver, p, l->handle) != APR_SUCCESS) {
        return apr_psprintf(p, "ledger: connection lost: %s",
                            ledger_dbd_error(l, p, -1));
    }
    if ((err = ledger_conn_setup(l, p))) {
        return err;
    }
    ledger_check_session(l);
    hmb_pipe_discard(l);
    l->pg_open = 1;
    l->trans_pool = p;
    l->trans_failed = 0;
    hmb_pipe_queue_sql(l, p, "begin transaction", "BEGIN");
    apr_pool_cleanup_register(p, l, ledger_pg_abandon, apr_pool_cleanup_null);
    return NULL;
}

const char *hmb_ledger_begin(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_dbd_transaction_t *trans = NULL;
    const char *err, *why = NULL;

    if (hmb_ledger_in_trans(l)) {
        return "ledger: a transaction is already open on this connection";
    }
    l->found = NULL;
    if (!ledger_is_sqlite(l)) {
        return ledger_pg_begin(l, p);
    }
    if (l->group) {
        return ledger_group_savepoint(l, p);
    }
    /* A broken connection is mended (or reported) before BEGIN. */
    if (apr_dbd_check_conn(l->driver, p, l->handle) != APR_SUCCESS) {
        return apr_psprintf(p, "ledger: connection lost: %s",
                            ledger_dbd_error(l, p, -1));
    }
    if ((err = ledger_conn_setup(l, p))) {
        return err;
    }
    if ((err = ledger_writer_take(l, p))) {
        return err;
    }
    if (ledger_sqlite_begin(l->driver, l->handle, p, p, &trans, &why)) {
        err = ledger_fail_msg(l, p, "begin transaction", why);
        apr_pool_cleanup_run(p, l, ledger_writer_release);
        return err;
    }
    /* Until hmb_ledger_commit says otherwise, whatever ends it (the pool's
     * cleanup when the connection goes) rolls it back: half a claim is
     * never committed. */
    apr_dbd_transaction_mode_set(l->driver, trans,
                                 APR_DBD_TRANSACTION_ROLLBACK);
    l->trans = trans;
    l->trans_pool = p;
    l->trans_failed = 0;
    return NULL;
}

const char *hmb_ledger_commit(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_dbd_transaction_t *trans = l->trans;
    const char *err;
    int rv, nrows;

    l->found = NULL;
    if (l->pg_open) {
        if (l->trans_failed) {
            hmb_ledger_rollback(l, p);
            return "ledger: commit after a failed statement: rolled back";
        }
        /* whatever failed in the batch, the transaction ends here: a
         * spoilt one is still open on the server and is rolled back */
        err = hmb_pipe_commit(l, p);
        if (err) {
            apr_dbd_query(l->driver, l->handle, &nrows, "ROLLBACK");
        }
        apr_pool_cleanup_kill(l->trans_pool, l, ledger_pg_abandon);
        hmb_pipe_discard(l);
        l->pg_open = 0;
        l->trans_pool = NULL;
        return err;
    }
    if (l->group) {
        return ledger_group_release(l, p, 1);
    }
    if (!trans) {
        return "ledger: commit without a transaction";
    }
    if (l->trans_failed) {
        hmb_ledger_rollback(l, p);
        return "ledger: commit after a failed statement: rolled back";
    }
    apr_dbd_transaction_mode_set(l->driver, trans,
                                 APR_DBD_TRANSACTION_COMMIT);
    /* Ended by the pool it started in, or its cleanup stays registered
     * there: one more COMMIT per transaction when the connection closes. */
    rv = apr_dbd_transaction_end(l->driver, l->trans_pool, trans);
    l->trans = NULL;
    if (rv) {
        err = apr_psprintf(p, "ledger: commit: %s",
                           ledger_dbd_error(l, p, rv));
        /* A COMMIT that failed may leave SQLite's transaction open; the
         * driver has forgotten it already, so end it by hand. */
        apr_dbd_query(l->driver, l->handle, &nrows, "ROLLBACK");
        apr_pool_cleanup_run(l->trans_pool, l, ledger_writer_release);
        return err;
    }
    apr_pool_cleanup_run(l->trans_pool, l, ledger_writer_release);
    return ledger_sync_wal(l->conn->wal, p);
}

void hmb_ledger_rollback(hmb_ledger_t *l, apr_pool_t *p)
{
    l->found = NULL;
    if (l->pg_open) {
        apr_pool_t *tp = l->trans_pool;

        apr_pool_cleanup_run(tp, l, ledger_pg_abandon);
        return;
    }
    if (l->group) {
        ledger_group_release(l, p, 0);
        return;
    }
    if (!l->trans) {
        return;
    }
    apr_dbd_transaction_mode_set(l->driver, l->trans,
                                 APR_DBD_TRANSACTION_ROLLBACK);
    apr_dbd_transaction_end(l->driver, l->trans_pool, l->trans);
    l->trans = NULL;
    apr_pool_cleanup_run(l->trans_pool, l, ledger_writer_release);
}

const char *hmb_ledger_import_enrollments(hmb_ledger_t *l, apr_pool_t *p,
                                          const apr_array_header_t *rows,
                                          int *count)
{
    const char *now = ledger_now(p);
    const char *err;
    apr_pool_t *rp;
    int i, n;

    if (count) {
        *count = 0;
    }
    if ((err = hmb_ledger_begin(l, p))) {
        return err;
    }
    /* An import may hold a whole county: keep per-row strings from
     * piling up in the caller's pool. */
    apr_pool_create(&rp, p);
    for (i = 0; i < rows->nelts; i++) {
        const hmb_enrollment_t *e = &APR_ARRAY_IDX(rows, i, hmb_enrollment_t);
        const char *args[10];

        apr_pool_clear(rp);
        args[0] = e->plan_code;
        args[1] = apr_itoa(rp, e->plan_year);
        args[2] = e->psn_no;
        args[3] = e->cover_from;
        args[4] = e->preexisting ? "1" : "0";
        args[5] = e->person_class;
        args[6] = e->admdvs ? e->admdvs : "";
        args[7] = e->payer;
        args[8] = ledger_fen_str(rp, e->premium);
        args[9] = now;
        /* one at a time, not pipelined: an error names its row, and a
         * county's rows never wait in memory */
        err = ledger_exec(l, rp, "upsert hmb_enrollment",
                          STMT_ENROLL_UPSERT, &n, args);
        if (err) {
            err = e->line
                  ? apr_psprintf(p, "%s (row of line %d, psn_no %s)", err,
                                 e->line, e->psn_no)
                  : apr_psprintf(p, "%s (psn_no %s)", err, e->psn_no);
            break;
        }
    }
    apr_pool_destroy(rp);
    if (!err) {
        err = hmb_rollup_enrollments(l, p);
    }
    if (err) {
        hmb_ledger_rollback(l, p);
        return err;
    }
    if ((err = hmb_ledger_commit(l, p))) {
        return err;
    }
    if (count) {
        *count = rows->nelts;
    }
    return NULL;
}

/* The claims a settlement reads under its setl_id, asked for together. */
#define HMB_FOUND_KINDS "SRM"
#define HMB_FOUND_NKINDS ((int)sizeof(HMB_FOUND_KINDS) - 1)

struct hmb_ledger_found_t {
    const char *setl_id;
    const char *psn_no;
    int read;                       /* the statement was run */
    int left;                       /* bits, by HMB_FOUND_KINDS: not yet
                                     * given to a reader */
    hmb_claim_t *claim[HMB_FOUND_NKINDS]; /* by HMB_FOUND_KINDS, or NULL */
};

static void ledger_found_args(const struct hmb_ledger_found_t *f,
                              const char **args)
{
    args[0] = f->setl_id;
    args[1] = f->psn_no;
}

/* Ask ahead (hmb_pipe_prefetch) for one of ours. */
static const char *ledger_prefetch(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *what, hmb_stmt_e s,
                                   const char **args)
{
    apr_dbd_prepared_t *st;
    const char *err;

    if (ledger_is_sqlite(l)) {
        return NULL;
    }
    if ((err = ledger_stmt(l, p, s, &st))) {
        return err;
    }
    hmb_pipe_prefetch(l, p, what, st, args);
    return NULL;
}

const char *hmb_ledger_prefetch_enrollment(hmb_ledger_t *l, apr_pool_t *p,
                                           const char *plan_code,
                                           int plan_year, const char *psn_no)
{
    const char *args[3];

    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    args[2] = psn_no;
    return ledger_prefetch(l, p, "select hmb_enrollment", STMT_ENROLL_GET,
                           args);
}

const char *hmb_ledger_prefetch_totals(hmb_ledger_t *l, apr_pool_t *p,
                                       const char *plan_code, int plan_year,
                                       const char *psn_no)
{
    const char *args[3];

    args[0] = psn_no;
    args[1] = plan_code;
    args[2] = apr_itoa(p, plan_year);
    return ledger_prefetch(l, p, "select hmb_total", STMT_TOTALS, args);
}

const char *hmb_ledger_prefetch_settle(hmb_ledger_t *l, apr_pool_t *p,
                                       const char *plan_code, int plan_year,
                                       const char *psn_no,
                                       const char *setl_id)
{
    struct hmb_ledger_found_t *f;
    const char *args[3], *err;

    l->found = NULL;
    if (!hmb_ledger_in_trans(l)) {
        return "ledger: prefetch_settle outside a transaction";
    }
    if (setl_id) {
        f = apr_pcalloc(p, sizeof(*f));
        f->setl_id = apr_pstrdup(p, setl_id);
        f->psn_no = apr_pstrdup(p, psn_no ? psn_no : "");
        f->left = (1 << HMB_FOUND_NKINDS) - 1;
        /* the arguments exactly as ledger_found_read will give them */
        ledger_found_args(f, args);
        if ((err = ledger_prefetch(l, p, "select hmb_claim",
                                   STMT_SETTLE_FIND, args))) {
            return err;
        }
        l->found = f;
    }
    if (plan_code && (err = hmb_ledger_prefetch_totals(l, p, plan_code,
                                                       plan_year, psn_no))) {
        return err;
    }
    return hmb_audit_prefetch(l, p, psn_no, plan_code, plan_year);
}

const char *hmb_ledger_get_enrollment(hmb_ledger_t *l, apr_pool_t *p,
                                      const char *plan_code, int plan_year,
                                      const char *psn_no,
                                      hmb_enrollment_t **e)
{
    const char *args[3];
    apr_array_header_t *rows;
    const char **v;
    hmb_enrollment_t *r;
    const char *err;

    *e = NULL;
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    args[2] = psn_no;
    err = ledger_query(l, p, "select hmb_enrollment", STMT_ENROLL_GET, args,
                       &rows);
    if (err || !rows->nelts) {
        return err;
    }
    v = APR_ARRAY_IDX(rows, 0, const char **);
    r = apr_pcalloc(p, sizeof(*r));
    r->plan_code = apr_pstrdup(p, plan_code);
    r->plan_year = plan_year;
    r->psn_no = apr_pstrdup(p, psn_no);
    r->cover_from = v[0] ? v[0] : "";
    if ((err = ledger_int(l, p, "hmb_enrollment", "preexisting", v[1],
                          &r->preexisting))) {
        return err;
    }
    r->preexisting = r->preexisting != 0;
    r->person_class = v[2] && *v[2] ? v[2] : NULL;
    r->admdvs = v[3] ? v[3] : "";
    r->payer = v[4] ? v[4] : "";
    if ((err = ledger_i64(l, p, "hmb_enrollment", "premium", v[5],
                          &r->premium))) {
        return err;
    }
    r->line = 0;
    *e = r;
    return NULL;
}

const char *hmb_ledger_lock_person(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *plan_code, int plan_year,
                                   const char *psn_no)
{
    const char *args[3];

    if (!hmb_ledger_in_trans(l)) {
        return "ledger: lock_person outside a transaction";
    }
    /* SQLite: the transaction holds the database's one write lock from
     * its BEGIN IMMEDIATE, a stronger lock than the row's; the UPDATE
     * would only write a page of the enrollments for nothing */
    if (ledger_is_sqlite(l)) {
        return NULL;
    }
    args[0] = plan_code;
    args[1] = apr_itoa(p, plan_year);
    args[2] = psn_no;
    /* Zero rows (not enrolled) is fine: such a claim changes no total. */
    return ledger_exec(l, p, "lock hmb_enrollment row", STMT_LOCK_PERSON,
                       NULL, args);
}

/* HEAD ROW, ROW, ... TAIL: a statement of n rows. */
static const char *ledger_rows_sql(apr_pool_t *p, const char *head,
                                   const char *row, const char *tail, int n)
{
    apr_array_header_t *parts = apr_array_make(p, 2 * n + 1,
                                               sizeof(const char *));
    int i;

    APR_ARRAY_PUSH(parts, const char *) = head;
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(parts, const char *) = i ? ", " : "";
        APR_ARRAY_PUSH(parts, const char *) = row;
    }
    APR_ARRAY_PUSH(parts, const char *) = tail;
    return apr_array_pstrcat(p, parts, 0);
}

/* Run a statement of n rows: ours of one row, or one of n kept on the
 * connection under its label and n. */
static const char *ledger_exec_rows(hmb_ledger_t *l, apr_pool_t *p,
                                    const char *what, hmb_stmt_e one,
                                    const char *head, const char *row,
                                    const char *tail, int n,
                                    const char **args)
{
    apr_dbd_prepared_t *st;
    const char *err;

    if (n == 1) {
        return ledger_exec(l, p, what, one, NULL, args);
    }
    if ((err = hmb_ledger_prepare(l, p, apr_psprintf(p, "%s_%d",
                                                     hmb_stmts[one].label, n),
                                  ledger_rows_sql(p, head, row, tail, n),
                                  &st))) {
        return err;
    }
    return hmb_ledger_run(l, p, what, st, NULL, args);
}

void hmb_ledger_liab_values(apr_pool_t *p, const hmb_claim_liab_t *r,
                            int i, const char **v)
{
    v[0] = apr_itoa(p, i + 1);
    v[1] = r->liab_code;
    v[2] = r->pool;
    v[3] = ledger_fen_str(p, r->deductible);
    v[4] = ledger_fen_str(p, r->cap);
    v[5] = ledger_fen_str(p, r->elig_amt);
    v[6] = ledger_fen_str(p, r->dedc_amt);
    v[7] = apr_itoa(p, r->pay_prop);
    v[8] = ledger_fen_str(p, r->pay_amt);
}

void hmb_ledger_ins_values(apr_pool_t *p, const hmb_insurer_result_t *r,
                           int i, const char **v)
{
    v[0] = apr_itoa(p, i + 1);
    v[1] = r->insurer_code;
    v[2] = apr_itoa(p, r->share);
    v[3] = ledger_fen_str(p, r->pay_amt);
}

/* A claim's liability rows, and what they add to the person's totals:
 * one statement each, whatever the number of liabilities. */
static const char *ledger_claim_liabs(hmb_ledger_t *l, apr_pool_t *p,
                                      const hmb_claim_t *c, const char *year)
{
    int n = c->liabs->nelts, i;
    const char **la = apr_palloc(p, sizeof(*la) * HMB_SQL_LIAB_WIDTH * n);
    const char **ta = apr_palloc(p, sizeof(*ta) * HMB_SQL_TOTAL_WIDTH * n);
    const char *err;

    for (i = 0; i < n; i++) {
        const hmb_claim_liab_t *r = &APR_ARRAY_IDX(c->liabs, i,
                                                   hmb_claim_liab_t);
        const char **a = la + i * HMB_SQL_LIAB_WIDTH;
        const char **t = ta + i * HMB_SQL_TOTAL_WIDTH;

        a[0] = c->hmb_setl_id;
        hmb_ledger_liab_values(p, r, i, a + 1);
        t[0] = c->psn_no;
        t[1] = c->plan_code;
        t[2] = year;
        t[3] = r->liab_code;
        t[4] = a[6];
        t[5] = a[9];
    }
    if ((err = ledger_exec_rows(l, p, "insert hmb_claim_liab",
                                STMT_LIAB_INSERT, HMB_SQL_LIAB_HEAD,
                                HMB_SQL_LIAB_ROW, "", n, la))) {
        return err;
    }
    return ledger_exec_rows(l, p, "add to hmb_total", STMT_TOTAL_ADD,
                            HMB_SQL_TOTAL_HEAD, HMB_SQL_TOTAL_ROW,
                            HMB_SQL_TOTAL_TAIL, n, ta);
}

/* A claim's co-insurers' shares: one statement, like its liabilities. */
static const char *ledger_claim_insurers(hmb_ledger_t *l, apr_pool_t *p,
                                         const hmb_claim_t *c)
{
    int n = c->insurers->nelts, i;
    const char **ia = apr_palloc(p, sizeof(*ia) * HMB_SQL_INSURER_WIDTH * n);

    for (i = 0; i < n; i++) {
        const char **a = ia + i * HMB_SQL_INSURER_WIDTH;

        a[0] = c->hmb_setl_id;
        hmb_ledger_ins_values(p, &APR_ARRAY_IDX(c->insurers, i,
                                                hmb_insurer_result_t),
                              i, a + 1);
    }
    return ledger_exec_rows(l, p, "insert hmb_claim_insurer",
                            STMT_INSURER_INSERT, HMB_SQL_INSURER_HEAD,
                            HMB_SQL_INSURER_ROW, "", n, ia);
}

const char *hmb_ledger_record_claim(hmb_ledger_t *l, apr_pool_t *p,
                                    const hmb_claim_t *c)
{
    const char *args[25];
    const char *kind, *year = NULL, *ver = NULL, *now = ledger_now(p);
    const char *err;

    if (!hmb_ledger_in_trans(l)) {
        return "ledger: record_claim outside a transaction";
    }
    if (!c->kind || !strchr("SRCM", c->kind)) {
        return apr_psprintf(p, "ledger: claim kind '%c' is not S, R, C or M",
                            c->kind ? c->kind : '?');
    }
    if (!c->hmb_setl_id || !c->setl_id || !c->psn_no) {
        return "ledger: claim without hmb_setl_id, setl_id or psn_no";
    }
    if (!c->plan_code && c->liabs && c->liabs->nelts) {
        return "ledger: claim with liability rows but no plan";
    }
    kind = apr_pstrndup(p, &c->kind, 1);
    if (c->plan_code) {
        year = apr_itoa(p, c->plan_year);
        ver = apr_itoa(p, c->plan_ver);
    }
    args[0] = c->hmb_setl_id;
    args[1] = kind;
    args[2] = c->setl_id;
    args[3] = c->reverses;
    args[4] = c->psn_no;
    args[5] = c->mdtrt_id;
    args[6] = c->fixmedins_code;
    args[7] = c->msgid;
    args[8] = c->setl_time;
    args[9] = c->plan_code;
    args[10] = year;
    args[11] = ver;
    args[12] = hmb_stas_name(c->stas);
    args[13] = hmb_rea_name(c->rea);
    args[14] = ledger_fen_str(p, c->hmb_pay);
    args[15] = c->hmbinfo;
    args[16] = now;
    args[17] = c->origin ? c->origin : "desk";
    args[18] = c->msg;
    args[19] = c->decided_by;
    args[20] = c->why;
    args[21] = c->kind == 'M' ? c->psn_no : "";
    /* psn_seq: counted under the person's lock, taken by the caller */
    args[22] = c->psn_no;
    args[23] = c->plan_code;
    args[24] = year;
    if ((err = ledger_exec(l, p, "insert hmb_claim", STMT_CLAIM_INSERT, NULL,
                           args))) {
        return err;
    }

    if (c->liabs && c->liabs->nelts
        && (err = ledger_claim_liabs(l, p, c, year))) {
        return err;
    }

    if (c->insurers && c->insurers->nelts
        && (err = ledger_claim_insurers(l, p, c))) {
        return err;
    }
    /* chained to the person's previous claim, under the same lock */
    if ((err = hmb_audit_claim(l, p, c, now))) {
        return err;
    }
    /* The insurer's figures move with the claim, last: their rows are
     * shared by every claim of the day, and on PostgreSQL are locked from
     * here to the commit, which then goes with them (hmb_ledger_pipe.c). */
    return hmb_rollup_claim(l, p, c, now);
}

/* A claim row (STMT_CLAIM_FIND's columns) with its liabilities and
 * insurers; *c NULL when the statement found none. */
static const char *ledger_claim_row(hmb_ledger_t *l, apr_pool_t *p,
                                    const char **v, char kind,
                                    hmb_claim_t **c)
{
    hmb_claim_t *r;
    const char *err;

    *c = NULL;
    r = apr_pcalloc(p, sizeof(*r));
    r->hmb_setl_id = v[0];
    r->kind = v[1] ? v[1][0] : kind;
    r->setl_id = v[2];
    r->reverses = v[3];
    r->psn_no = v[4];
    r->mdtrt_id = v[5];
    r->fixmedins_code = v[6];
    r->msgid = v[7];
    r->setl_time = v[8];
    r->plan_code = v[9];
    if (v[10] && (err = ledger_int(l, p, "hmb_claim", "plan_year", v[10],
                                   &r->plan_year))) {
        return err;
    }
    if (v[11] && (err = ledger_int(l, p, "hmb_claim", "plan_ver", v[11],
                                   &r->plan_ver))) {
        return err;
    }
    /* a status or reason this build does not know is never taken for
     * "paid": the claim is unreadable */
    if (!hmb_stas_parse(v[12], &r->stas)) {
        return ledger_bad_data(l, apr_psprintf(p, "ledger: hmb_claim %s has "
                                               "stas \"%s\", unknown to "
                                               "this build", r->hmb_setl_id,
                                               v[12] ? v[12] : ""));
    }
    if (!hmb_rea_parse(v[13], &r->rea)) {
        return ledger_bad_data(l, apr_psprintf(p, "ledger: hmb_claim %s has "
                                               "rea_code \"%s\", unknown "
                                               "to this build",
                                               r->hmb_setl_id, v[13]));
    }
    if ((err = ledger_i64(l, p, "hmb_claim", "hmb_pay", v[14], &r->hmb_pay))) {
        return err;
    }
    r->hmbinfo = v[15];
    r->origin = v[16];
    r->msg = v[17];
    r->decided_by = v[18];
    r->why = v[19];
    *c = r;
    return NULL;
}

/* A claim's liabilities and insurers, read into it. */
static const char *ledger_claim_details(hmb_ledger_t *l, apr_pool_t *p,
                                        hmb_claim_t *r)
{
    apr_array_header_t *rows;
    const char *args[1], **v, *err;
    int i;

    args[0] = r->hmb_setl_id;
    if ((err = ledger_query(l, p, "select hmb_claim_liab", STMT_LIAB_FIND,
                            args, &rows))) {
        return err;
    }
    r->liabs = apr_array_make(p, rows->nelts, sizeof(hmb_claim_liab_t));
    for (i = 0; i < rows->nelts; i++) {
        hmb_claim_liab_t *d = apr_array_push(r->liabs);
        const char *t = "hmb_claim_liab";
        int prop = 0;

        v = APR_ARRAY_IDX(rows, i, const char **);
        d->liab_code = v[0];
        d->pool = v[1];
        if ((err = ledger_i64(l, p, t, "deductible", v[2], &d->deductible))
            || (err = ledger_i64(l, p, t, "cap", v[3], &d->cap))
            || (err = ledger_i64(l, p, t, "elig_amt", v[4], &d->elig_amt))
            || (err = ledger_i64(l, p, t, "dedc_amt", v[5], &d->dedc_amt))
            || (err = ledger_int(l, p, t, "pay_prop", v[6], &prop))
            || (err = ledger_i64(l, p, t, "pay_amt", v[7], &d->pay_amt))) {
            return err;
        }
        d->pay_prop = prop;
    }

    if ((err = ledger_query(l, p, "select hmb_claim_insurer",
                            STMT_INSURER_FIND, args, &rows))) {
        return err;
    }
    r->insurers = apr_array_make(p, rows->nelts,
                                 sizeof(hmb_insurer_result_t));
    for (i = 0; i < rows->nelts; i++) {
        hmb_insurer_result_t *d = apr_array_push(r->insurers);
        const char *t = "hmb_claim_insurer";
        int share = 0;

        v = APR_ARRAY_IDX(rows, i, const char **);
        d->insurer_code = v[0];
        if ((err = ledger_int(l, p, t, "share", v[1], &share))
            || (err = ledger_i64(l, p, t, "pay_amt", v[2], &d->pay_amt))) {
            return err;
        }
        d->share = share;
    }
    return NULL;
}

/* The first claim a statement found, with its liabilities and insurers. */
static const char *ledger_claim(hmb_ledger_t *l, apr_pool_t *p,
                                hmb_stmt_e stmt, const char **args,
                                char kind, hmb_claim_t **c)
{
    apr_array_header_t *rows;
    const char *err;

    *c = NULL;
    if ((err = ledger_query(l, p, "select hmb_claim", stmt, args, &rows))) {
        return err;
    }
    if (!rows->nelts) {
        return NULL;
    }
    if ((err = ledger_claim_row(l, p, APR_ARRAY_IDX(rows, 0, const char **),
                                kind, c))
        || (err = ledger_claim_details(l, p, *c))) {
        *c = NULL;
        return err;
    }
    return NULL;
}

static const char *ledger_found_read(hmb_ledger_t *l, apr_pool_t *p,
                                     struct hmb_ledger_found_t *f)
{
    apr_array_header_t *rows;
    const char *args[2], *err;
    int i;

    ledger_found_args(f, args);
    if ((err = ledger_query(l, p, "select hmb_claim", STMT_SETTLE_FIND, args,
                            &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        const char *k = v[1] && v[1][0] ? strchr(HMB_FOUND_KINDS, v[1][0])
                                         : NULL;
        const char *mark = v[20] ? v[20] : "";
        hmb_claim_t *c;

        /* a marker is one person's; the others' mark is '' */
        if (!k || strcmp(mark, *k == 'M' ? f->psn_no : "")) {
            continue;
        }
        if ((err = ledger_claim_row(l, p, v, *k, &c))) {
            return err;
        }
        f->claim[k - HMB_FOUND_KINDS] = c;
    }
    f->read = 1;
    return NULL;
}

/* Answered from the claims asked for together, once each: *served 0 when
 * they are not this one's to answer. */
static const char *ledger_found_take(hmb_ledger_t *l, apr_pool_t *p,
                                     char kind, const char *setl_id,
                                     const char *psn_no, hmb_claim_t **c,
                                     int *served)
{
    struct hmb_ledger_found_t *f = l->found;
    const char *k = strchr(HMB_FOUND_KINDS, kind);
    const char *err;
    int bit;

    *served = 0;
    if (!f || !k || !setl_id || strcmp(f->setl_id, setl_id)
        || (kind == 'M' && strcmp(f->psn_no, psn_no ? psn_no : ""))) {
        return NULL;
    }
    bit = 1 << (k - HMB_FOUND_KINDS);
    if (!(f->left & bit)) {
        return NULL;
    }
    if (!f->read && (err = ledger_found_read(l, p, f))) {
        l->found = NULL;
        return err;
    }
    f->left &= ~bit;
    *served = 1;
    *c = f->claim[k - HMB_FOUND_KINDS];
    if (*c && (err = ledger_claim_details(l, p, *c))) {
        *c = NULL;
        return err;
    }
    return NULL;
}

const char *hmb_ledger_find_claim(hmb_ledger_t *l, apr_pool_t *p, char kind,
                                  const char *setl_id, hmb_claim_t **c)
{
    const char *args[2], *err;
    int served;

    *c = NULL;
    if ((err = ledger_found_take(l, p, kind, setl_id, NULL, c, &served))
        || served) {
        return err;
    }
    args[0] = apr_pstrndup(p, &kind, 1);
    args[1] = setl_id;
    return ledger_claim(l, p, STMT_CLAIM_FIND, args, kind, c);
}

const char *hmb_ledger_find_marker(hmb_ledger_t *l, apr_pool_t *p,
                                   const char *setl_id, const char *psn_no,
                                   hmb_claim_t **c)
{
    const char *args[2], *err;
    int served;

    *c = NULL;
    if ((err = ledger_found_take(l, p, 'M', setl_id, psn_no, c, &served))
        || served) {
        return err;
    }
    args[0] = setl_id;
    args[1] = psn_no ? psn_no : "";
    return ledger_claim(l, p, STMT_MARKER_FIND, args, 'M', c);
}

const char *hmb_ledger_totals(hmb_ledger_t *l, apr_pool_t *p,
                              const char *plan_code, int plan_year,
                              const char *psn_no, apr_array_header_t **out)
{
    const char *args[3];
    apr_array_header_t *rows;
    const char *err;
    int i;

    *out = NULL;
    args[0] = psn_no;
    args[1] = plan_code;
    args[2] = apr_itoa(p, plan_year);
    if ((err = ledger_query(l, p, "select hmb_total", STMT_TOTALS, args,
                            &rows))) {
        return err;
    }
    *out = apr_array_make(p, rows->nelts ? rows->nelts : 1,
                          sizeof(hmb_total_t));
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_total_t *t = apr_array_push(*out);

        t->liab_code = v[0];
        if ((err = ledger_i64(l, p, "hmb_total", "elig_amt", v[1],
                              &t->elig_amt))
            || (err = ledger_i64(l, p, "hmb_total", "paid_amt", v[2],
                                 &t->paid_amt))) {
            *out = NULL;
            return err;
        }
    }
    return NULL;
}

const char *hmb_ledger_read_ytd(hmb_ledger_t *l, apr_pool_t *p,
                                const hmb_plan_t *plan, const char *psn_no,
                                hmb_ytd_t **ytd)
{
    const hmb_liability_t *ls = (const hmb_liability_t *)
                                plan->liabilities->elts;
    apr_array_header_t *rows;
    hmb_ytd_t *y;
    const char *err;
    int i, j;

    *ytd = NULL;
    if ((err = hmb_ledger_totals(l, p, plan->code, plan->year, psn_no,
                                 &rows))) {
        return err;
    }
    y = hmb_ytd_make(p, plan);
    for (i = 0; i < rows->nelts; i++) {
        const hmb_total_t *t = &APR_ARRAY_IDX(rows, i, hmb_total_t);

        /* A liability dropped by a later plan version still counts
         * against a plan-wide cap. */
        y->plan_paid += t->paid_amt;
        for (j = 0; j < plan->liabilities->nelts; j++) {
            if (strcmp(ls[j].code, t->liab_code) == 0) {
                y->elig[j] = t->elig_amt;
                y->paid[j] = t->paid_amt;
                break;
            }
        }
    }
    *ytd = y;
    return NULL;
}

/* A day range as bounds on setl_time ("YYYY-MM-DD HH:MM:SS"): '~' sorts
 * after every character a time holds. */
static void ledger_day_bounds(apr_pool_t *p, const char *from, const char *to,
                              const char **lo, const char **hi)
{
    *lo = from ? from : "0000-00-00";
    *hi = apr_pstrcat(p, to ? to : "9999-12-31", " ~", NULL);
}

const char *hmb_ledger_ineligible(hmb_ledger_t *l, apr_pool_t *p,
                                  const char *from, const char *to,
                                  apr_array_header_t **setl_ids)
{
    const char *args[2];
    apr_array_header_t *rows;
    const char *err;
    int i;

    *setl_ids = apr_array_make(p, 4, sizeof(const char *));
    ledger_day_bounds(p, from, to, &args[0], &args[1]);
    if ((err = ledger_query(l, p, "select ineligible claims",
                            STMT_INELIGIBLE, args, &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        APR_ARRAY_PUSH(*setl_ids, const char *) =
            APR_ARRAY_IDX(rows, i, const char **)[0];
    }
    return NULL;
}

const char *hmb_ledger_owed(hmb_ledger_t *l, apr_pool_t *p, const char *from,
                            const char *to, apr_array_header_t **claims)
{
    const char *args[2];
    apr_array_header_t *rows;
    const char *err;
    int i;

    *claims = apr_array_make(p, 4, sizeof(hmb_claim_t));
    ledger_day_bounds(p, from, to, &args[0], &args[1]);
    if ((err = ledger_query(l, p, "select owed claims", STMT_OWED, args,
                            &rows))) {
        return err;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **v = APR_ARRAY_IDX(rows, i, const char **);
        hmb_claim_t *c = apr_array_push(*claims);

        memset(c, 0, sizeof(*c));
        c->hmb_setl_id = v[0];
        c->setl_id = v[1];
        c->psn_no = v[2];
        c->mdtrt_id = v[3];
        c->fixmedins_code = v[4];
        c->setl_time = v[5];
        c->plan_code = v[6];
        c->origin = v[8];
        c->decided_by = v[11];
        c->stas = HMB_STAS_PAID;
        if ((v[7] && (err = ledger_int(l, p, "hmb_claim", "plan_year", v[7],
                                       &c->plan_year)))
            || (err = ledger_i64(l, p, "hmb_claim", "hmb_pay", v[9],
                                 &c->hmb_pay))) {
            return err;
        }
        c->created_at = v[10];
    }
    return NULL;
}

const char *hmb_ledger_probe(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_array_header_t *v;
    const char *err;

    if (ledger_is_sqlite(l)) {
        /* the write lock and a write: a file or a directory the server's
         * user cannot write fails here, as every settlement would */
        if ((err = hmb_ledger_begin(l, p))) {
            return err;
        }
        err = ledger_exec_sql(l, p, "write probe",
                              "UPDATE hmb_meta SET value = value"
                              " WHERE name = 'schema_version'");
        hmb_ledger_rollback(l, p);
        return err;
    }
    err = ledger_select_all(l, p, "privilege probe",
                            "SELECT CASE WHEN"
                            " has_table_privilege('hmb_claim', 'INSERT')"
                            " AND has_table_privilege('hmb_claim_liab',"
                            " 'INSERT')"
                            " AND has_table_privilege('hmb_claim_insurer',"
                            " 'INSERT')"
                            " AND has_table_privilege('hmb_claim_audit',"
                            " 'SELECT, INSERT')"
                            " AND has_table_privilege('hmb_total',"
                            " 'INSERT, UPDATE')"
                            " AND has_table_privilege('hmb_rollup',"
                            " 'INSERT, UPDATE')"
                            " AND has_table_privilege('hmb_claim_tag',"
                            " 'INSERT')"
                            " AND has_table_privilege('hmb_enrollment',"
                            " 'SELECT, UPDATE')"
                            " AND has_table_privilege('hmb_claim_wire',"
                            " 'SELECT, INSERT')"
                            " AND has_table_privilege('hmb_memo_fee',"
                            " 'SELECT, INSERT, UPDATE, DELETE')"
                            " AND has_table_privilege('hmb_memo_status',"
                            " 'SELECT, INSERT, UPDATE, DELETE')"
                            " THEN 'ok' ELSE 'denied' END", &v);
    if (err) {
        return err;
    }
    if (!v->nelts || !APR_ARRAY_IDX(v, 0, const char *)
        || strcmp(APR_ARRAY_IDX(v, 0, const char *), "ok")) {
        return "ledger: this role may not insert claims or update totals "
               "(grants: see docs/ledger.md)";
    }
    return NULL;
}

const char *hmb_ledger_sqlite_path(hmb_ledger_t *l, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *path = NULL;

    if (!ledger_is_sqlite(l)
        || apr_dbd_select(l->driver, p, l->handle, &res,
                          "PRAGMA database_list", 0)) {
        return NULL;
    }
    /* columns seq, name, file; the main database comes first */
    while (apr_dbd_get_row(l->driver, p, res, &row, -1) == 0) {
        const char *name = apr_dbd_get_entry(l->driver, row, 1);
        const char *file = apr_dbd_get_entry(l->driver, row, 2);

        if (!path && name && !strcmp(name, "main") && file && *file) {
            path = apr_pstrdup(p, file);
        }
    }
    return path;
}
