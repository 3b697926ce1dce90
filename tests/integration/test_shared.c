/* Integration: one ledger shared by several servers.
 *
 * A throwaway PostgreSQL (pg.sh), two apache2 instances with mod_huiminbao
 * (two hospitals, each its own spool, both with DBDriver pgsql on the same
 * database), a third instance on SQLite, and hmb_upstream answering every
 * request from a template, so that each settlement carries the amounts the
 * test chose for it.
 *
 * Many client threads settle, resend and cancel discharges of a handful of
 * people at once, across both hospitals; the plan's deductibles and caps
 * are small, so that every amount depends on the order in which a person's
 * claims were decided. Afterwards the ledger must be what a single clerk
 * would have produced: each person's claims are replayed one by one, in the
 * order the ledger recorded (psn_seq), through `hmbctl settle` into a fresh
 * SQLite ledger, and every claim, amount and total must come out the same.
 * Then the same with faults: PostgreSQL stopped and started again, httpd
 * children killed, the spool unwritable while the ledger is down. Every
 * answer must still be right or `deferred` (spooled) or the upstream's own
 * bytes (error logged), and after `hmbctl replay` and resending, nothing
 * may be missing or counted twice.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "../unit/hmb_test.h"
#include "hmb_http.h"
#include "hmb_ledger.h"

#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#define HMBCTL        HMB_BUILDDIR "/hmbctl"
#define MODULE_SO     HMB_BUILDDIR "/mod_huiminbao.so"
#define PGSH          HMB_SRCDIR "/tests/integration/pg.sh"
#define FIXDIR        HMB_FIXTURE("shared")
#define PLAN          FIXDIR "/plan.xml"
#define ENROLL        FIXDIR "/enroll.csv"
#define LEDGER_V1     FIXDIR "/ledger-v1.sql"

#define PSN_FMT       "3609990000000000%04d"
#define V1_PSN        "36090000000000000001"   /* in ledger-v1.sql */

/* the plan's caps (plan.xml), in fen */
#define CAP_INSCOPE   2000000
#define CAP_OUTSCOPE  400000
#define CAP_PLAN      2200000

#define THREADS       32
#define MAX_SENDS     8             /* one message: first send + resends */

enum { I_PG0, I_PG1, I_SQLITE, NINST };

typedef struct {
    const char *rundir;
    apr_port_t port;
    int started;
    const char *fixmedins_code;
    const char *fixmedins_name;
    const char *driver;
} inst_t;

typedef enum {
    OUT_NONE = 0,
    OUT_SETTLED,        /* an <hmbinfo> with a result */
    OUT_DEFERRED,       /* an <hmbinfo> saying deferred */
    OUT_UNTOUCHED       /* the upstream's bytes as they were */
} outcome_e;

typedef struct msg msg_t;
struct msg {
    char kind;              /* 'S' settlement, 'D' the same again, 'R' cancel */
    int person;
    int inst;
    const char *msgid;
    const char *setl_id;    /* the settlement's; for 'R' the one cancelled */
    msg_t *orig;            /* 'D', 'R': the settlement */
    msg_t *dup;             /* 'S': its repetition, if any */
    int dup_racing;         /* sent together with the settlement */
    msg_t *cancel;          /* 'S': its cancellation, if any */
    const char *req;
    apr_size_t req_len;
    const char *up;         /* what the upstream answers */
    apr_size_t up_len;
    int sent;
    /* written by the one thread that sends it */
    outcome_e first;        /* the first answer */
    outcome_e outcome;      /* the last answer (after resending) */
    const char *stas;
    const char *hmbinfo;
    const char *why;        /* a wrong answer */
    int cuts;               /* sent again after the connection broke */
};

static struct {
    apr_pool_t *pool;
    const char *top;
    const char *pgdir;
    const char *msgdir;
    const char *updir;          /* the upstream's fixtures */
    apr_port_t pg_port;
    apr_port_t up_port;
    int pg_started;
    apr_proc_t up_proc;
    inst_t inst[NINST];
    const char *pg_conninfo;
    const char *pg_spec;
    const char *sqlite_spec;
    const char *tpl;
    apr_size_t tpl_len;
    apr_hash_t *by_msgid;       /* msgid -> msg_t */
    int enrolled;
    apr_uint64_t rng;
    int scale;                  /* settlements per concurrency run */
    int seq;                    /* for ids */
} env;

static char top_left[512];
/* the cluster's own directory in /tmp, when the run directory's path is too
 * long for its socket: removed with the run directory */
static char pgtop_left[64];

/* --- small helpers ------------------------------------------------------- */

/* xorshift64*: the workload is reproducible from the seed printed. */
static apr_uint64_t rnd(void)
{
    env.rng ^= env.rng >> 12;
    env.rng ^= env.rng << 25;
    env.rng ^= env.rng >> 27;
    return env.rng * 2685821657736338717ULL;
}

static int rnd_below(int n)
{
    return (int)((rnd() >> 33) % (apr_uint64_t)n);
}

static const char *fen_str(apr_pool_t *p, apr_int64_t fen)
{
    return apr_psprintf(p, "%s%" APR_INT64_T_FMT ".%02d", fen < 0 ? "-" : "",
                        (fen < 0 ? -fen : fen) / 100,
                        (int)((fen < 0 ? -fen : fen) % 100));
}

static const char *memmem_last(const char *hay, apr_size_t len,
                               const char *needle)
{
    apr_size_t n = strlen(needle);
    const char *s;

    if (len < n) {
        return NULL;
    }
    for (s = hay + len - n; s >= hay; s--) {
        if (!memcmp(s, needle, n)) {
            return s;
        }
    }
    return NULL;
}

/* Text of the first <name> element in buf, or NULL. */
static const char *element(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *close = apr_pstrcat(p, "</", name, ">", NULL);
    const char *s = memmem(buf, len, open, strlen(open)), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = memmem(s, len - (apr_size_t)(s - buf), close, strlen(close));
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

/* The upstream's answer to a request: the template with each {{name}}
 * replaced by the request's first <name> element (hmb_upstream's rule;
 * test_pg_migrated_by_httpd checks that the two agree). */
static char *render(apr_pool_t *p, const char *req, apr_size_t req_len,
                    apr_size_t *out_len)
{
    apr_array_header_t *out = apr_array_make(p, (int)env.tpl_len + 256, 1);
    const char *s = env.tpl, *end = env.tpl + env.tpl_len;

    while (s < end) {
        const char *open = memmem(s, (apr_size_t)(end - s), "{{", 2);
        const char *close, *v;
        apr_size_t n;

        if (!open) {
            open = end;
        }
        n = (apr_size_t)(open - s);
        while (n--) {
            *(char *)apr_array_push(out) = *s++;
        }
        if (open == end) {
            break;
        }
        close = memmem(open, (apr_size_t)(end - open), "}}", 2);
        assert_non_null(close);
        v = element(p, req, req_len,
                    apr_pstrmemdup(p, open + 2,
                                   (apr_size_t)(close - open - 2)));
        if (!v) {
            fail_msg("request lacks <%.*s> for the template",
                     (int)(close - open - 2), open + 2);
        }
        while (*v) {
            *(char *)apr_array_push(out) = *v++;
        }
        s = close + 2;
    }
    *out_len = (apr_size_t)out->nelts;
    *(char *)apr_array_push(out) = '\0';
    return out->elts;
}

/* --- processes ------------------------------------------------------------ */

static const char *harness(int i, const char *cmd, const char *extra)
{
    return hmb_it_harness(env.pool, cmd, env.inst[i].rundir, env.inst[i].port,
                          extra, apr_time_from_sec(60));
}

static const char *pg(const char *cmd)
{
    const char *argv[] = {
        "/bin/bash", PGSH, cmd, env.pgdir, NULL, NULL
    };

    if (!strcmp(cmd, "start")) {
        argv[4] = apr_psprintf(env.pool, "%d", (int)env.pg_port);
    }
    return hmb_it_run(env.pool, argv, apr_time_from_sec(60));
}

/* Run argv with stdout into out_path; NULL when it exited 0. */
static const char *run_to_file(apr_pool_t *p, const char *const *argv,
                               const char *out_path)
{
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_file_t *out;
    apr_status_t rv;
    const char *why;
    int code = 0;

    rv = apr_file_open(&out, out_path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot write %s", out_path);
    }
    if ((rv = apr_procattr_create(&attr, p)) == APR_SUCCESS
        && (rv = apr_procattr_child_out_set(attr, out, NULL)) == APR_SUCCESS
        && (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
           == APR_SUCCESS
        && (rv = apr_procattr_error_check_set(attr, 1)) == APR_SUCCESS) {
        rv = apr_proc_create(&proc, argv[0], argv, NULL, attr, p);
    }
    apr_file_close(out);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot run %s", argv[0]);
    }
    if ((why = hmb_it_wait(&proc, apr_time_from_sec(60), &code)) != NULL) {
        return why;
    }
    return code ? apr_psprintf(p, "%s exited with status %d", argv[0], code)
                : NULL;
}

static const char *hmbctl_enroll(const char *spec)
{
    const char *argv[] = {
        HMBCTL, "--ledger", spec, "enroll", ENROLL, "--plan", PLAN, NULL
    };
    return run_to_file(env.pool, argv, apr_pstrcat(env.pool, env.top,
                                                   "/enroll.out", NULL));
}

/* The pids of instance i's httpd children (parent from the pid file). */
static apr_array_header_t *httpd_children(apr_pool_t *p, int i)
{
    apr_array_header_t *kids = apr_array_make(p, 4, sizeof(long));
    char *pidtext = hmb_test_slurp(p, apr_pstrcat(p, env.inst[i].rundir,
                                                  "/run/httpd.pid", NULL),
                                   NULL);
    long parent = atol(pidtext);
    DIR *d = opendir("/proc");
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[64], buf[512], *after, state;
        long ppid;
        apr_size_t n = sizeof(buf) - 1;
        apr_file_t *f;

        if (!apr_isdigit(e->d_name[0])) {
            continue;
        }
        apr_snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
            continue;
        }
        apr_file_read(f, buf, &n);
        apr_file_close(f);
        buf[n] = '\0';
        after = strrchr(buf, ')');
        if (after && sscanf(after + 1, " %c %ld", &state, &ppid) == 2
            && ppid == parent && state != 'Z') {
            APR_ARRAY_PUSH(kids, long) = atol(e->d_name);
        }
    }
    closedir(d);
    return kids;
}

/* --- setup and teardown ---------------------------------------------------- */

static int group_teardown(void **state)
{
    const char *why;
    int ok = 1, i;

    (void)state;
    /* a failed setup has torn down already; CMocka calls this again */
    if (!env.pool) {
        return 0;
    }
    for (i = 0; i < NINST; i++) {
        if (env.inst[i].started && (why = harness(i, "stop", NULL))) {
            fprintf(stderr, "teardown: harness stop %s: %s\n",
                    env.inst[i].rundir, why);
            ok = 0;
        }
    }
    if (env.up_proc.pid > 0
        && (why = hmb_it_stop(&env.up_proc, apr_time_from_sec(5)))) {
        fprintf(stderr, "teardown: upstream: %s\n", why);
        ok = 0;
    }
    if (env.pg_started && (why = pg("stop"))) {
        fprintf(stderr, "teardown: pg.sh stop: %s\n", why);
        ok = 0;
    }
    if (env.pgdir) {
        struct stat st;
        if (stat(apr_pstrcat(env.pool, env.pgdir, "/data/postmaster.pid",
                             NULL), &st) == 0) {
            fprintf(stderr, "teardown: PostgreSQL still running in %s\n",
                    env.pgdir);
            ok = 0;
        }
    }
    if (env.top) {
        apr_cpystrn(top_left, env.top, sizeof(top_left));
    }
    apr_pool_destroy(env.pool);
    memset(&env, 0, sizeof(env));
    return ok ? 0 : -1;
}

static const char *write_conf(int i)
{
    inst_t *in = &env.inst[i];
    const char *path = apr_pstrcat(env.pool, in->rundir, "/shared.conf",
                                   NULL);
    const char *dbd = !strcmp(in->driver, "pgsql")
        ? apr_psprintf(env.pool, "DBDriver pgsql\n"
                       "DBDParams \"%s connect_timeout=5\"\n",
                       env.pg_conninfo)
        : "DBDriver sqlite3\n"
          "DBDParams \"${HMB_RUNDIR}/ledger/ledger.db\"\n";
    const char *conf = apr_psprintf(env.pool,
        "LoadModule huiminbao_module \"" MODULE_SO "\"\n"
        "LogLevel warn huiminbao:info\n"
        "HuiminbaoPlan \"" PLAN "\"\n"
        "HuiminbaoSpool \"${HMB_RUNDIR}/spool\"\n"
        "%s"
        "DBDMax 16\n"
        "# under ulimit -c, a child that crashes leaves its core here\n"
        "CoreDumpDirectory \"${HMB_RUNDIR}/ledger\"\n"
        "<Location \"/fsi/api\">\n"
        "    ProxyPass \"http://127.0.0.1:%d/fsi/api\"\n"
        "    Huiminbao On\n"
        "</Location>\n"
        "<Location \"/huiminbao-status\">\n"
        "    SetHandler huiminbao-status\n"
        "    Require ip 127.0.0.1\n"
        "</Location>\n", dbd, (int)env.up_port);

    return hmb_it_write_file(env.pool, path, conf, strlen(conf));
}

/* PostgreSQL holding a ledger as schema version 1 left it: the first
 * httpd connections must migrate it (test_pg_migrated_by_httpd). */
static const char *load_v1_ledger(void)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = NULL;
    const char *err = NULL;
    char *text, *line, *stmt = NULL, *save = NULL;
    apr_size_t len;
    apr_file_t *f;

    if (apr_file_open(&f, LEDGER_V1, APR_FOPEN_READ, 0, env.pool)
        != APR_SUCCESS) {
        return "cannot read " LEDGER_V1;
    }
    text = apr_palloc(env.pool, 1 << 16);
    len = (1 << 16) - 1;
    apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    text[len] = '\0';
    if (apr_dbd_init(env.pool) != APR_SUCCESS
        || apr_dbd_get_driver(env.pool, "pgsql", &drv) != APR_SUCCESS
        || apr_dbd_open_ex(drv, env.pool, env.pg_conninfo, &h, &err)
           != APR_SUCCESS) {
        return apr_psprintf(env.pool, "cannot open %s: %s", env.pg_conninfo,
                            err ? err : "?");
    }
    for (line = apr_strtok(text, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        apr_size_t n = strlen(line);
        if (!n || !strncmp(line, "--", 2)) {
            continue;
        }
        stmt = stmt ? apr_pstrcat(env.pool, stmt, " ", line, NULL) : line;
        if (line[n - 1] == ';') {
            int rows, rv = apr_dbd_query(drv, h, &rows, stmt);
            if (rv) {
                err = apr_psprintf(env.pool, "%s: %s", stmt,
                                   apr_dbd_error(drv, h, rv));
                break;
            }
            stmt = NULL;
            err = NULL;
        }
    }
    apr_dbd_close(drv, h);
    return err;
}

static int group_setup(void **state)
{
    apr_pool_t *p;
    const char *why = NULL, *seed;
    static const char *const codes[NINST] = {
        "H36090200001", "H36090200002", "H36090200003"
    };
    static const char *const names[NINST] = {
        "宜春市人民医院", "宜春市中医院", "袁州区人民医院"
    };
    char *dir;
    int i;

    (void)state;
    memset(&env, 0, sizeof(env));
    apr_pool_create(&p, NULL);
    env.pool = p;
    seed = getenv("HMB_SHARED_SEED");
    env.rng = seed && *seed ? (apr_uint64_t)apr_atoi64(seed)
                            : (apr_uint64_t)apr_time_now();
    if (!env.rng) {
        env.rng = 1;
    }
    printf("shared ledger: HMB_SHARED_SEED=%" APR_UINT64_T_FMT
           " reproduces this workload\n", env.rng);
    env.scale = getenv("HMB_SHARED_SETTLEMENTS")
                ? atoi(getenv("HMB_SHARED_SETTLEMENTS")) : 2000;
    if (env.scale < 100) {
        env.scale = 100;
    }
    env.by_msgid = apr_hash_make(p);

    dir = apr_psprintf(p, "%s/tmp-shared-XXXXXX", HMB_BUILDDIR);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "setup: cannot create %s\n", dir);
        apr_pool_destroy(p);
        return -1;
    }
    env.top = dir;
    /* httpd's children and PostgreSQL run as other users: they must be
     * able to reach their directories below this one */
    chmod(dir, 0755);
    env.msgdir = apr_pstrcat(p, dir, "/msgs", NULL);
    env.updir = apr_pstrcat(p, dir, "/upstream", NULL);
    env.pgdir = apr_pstrcat(p, dir, "/pg", NULL);
    if (strlen(env.pgdir) > 80) {
        /* a unix socket path must stay short */
        char *alt = apr_pstrdup(p, "/tmp/hmb-pg-XXXXXX");
        if (!mkdtemp(alt)) {
            why = "cannot create /tmp/hmb-pg-XXXXXX";
        }
        else {
            apr_cpystrn(pgtop_left, alt, sizeof(pgtop_left));
        }
        chmod(alt, 0755);
        env.pgdir = apr_pstrcat(p, alt, "/pg", NULL);
    }
    if (!why && (apr_dir_make(env.msgdir, APR_FPROT_OS_DEFAULT, p)
                 || apr_dir_make(env.updir, APR_FPROT_OS_DEFAULT, p))) {
        why = "cannot create msgs/ or upstream/";
    }
    for (i = 0; !why && i < NINST; i++) {
        env.inst[i].rundir = apr_psprintf(p, "%s/h%d", dir, i);
        env.inst[i].fixmedins_code = codes[i];
        env.inst[i].fixmedins_name = names[i];
        env.inst[i].driver = i == I_SQLITE ? "sqlite3" : "pgsql";
        if (apr_dir_make_recursive(apr_pstrcat(p, env.inst[i].rundir,
                                               "/ledger", NULL),
                                   APR_FPROT_OS_DEFAULT, p)
            || apr_dir_make(apr_pstrcat(p, env.inst[i].rundir, "/logs",
                                        NULL), APR_FPROT_OS_DEFAULT, p)) {
            why = "cannot create an instance directory";
        }
        else {
            why = hmb_it_free_port(p, &env.inst[i].port);
        }
    }
    env.tpl = hmb_test_slurp(p, FIXDIR "/_template.xml", &env.tpl_len);
    /* a copy, beside which a test can put an answer of its own */
    if (!why) {
        why = hmb_it_write_file(p, apr_pstrcat(p, env.updir,
                                               "/_template.xml", NULL),
                                env.tpl, env.tpl_len);
    }
    if (!why) {
        why = hmb_it_free_port(p, &env.pg_port);
    }
    if (!why) {
        why = hmb_it_free_port(p, &env.up_port);
    }
    if (!why) {
        env.pg_conninfo = apr_psprintf(p, "host=127.0.0.1 port=%d "
                                       "dbname=hmb user=hmb",
                                       (int)env.pg_port);
        env.pg_spec = apr_pstrcat(p, "pgsql:", env.pg_conninfo, NULL);
        env.sqlite_spec = apr_pstrcat(p, "sqlite3:",
                                      env.inst[I_SQLITE].rundir,
                                      "/ledger/ledger.db", NULL);
        why = pg("start");
        env.pg_started = !why;
    }
    if (!why) {
        why = load_v1_ledger();
    }
    if (!why) {
        /* a worker per connection: enough for every httpd worker of the
         * three servers to keep one open */
        static const char *const more[] = {
            "--threads", "400", "--keepalive-seconds", "10", NULL
        };
        why = hmb_it_start_upstream(p, env.up_port, env.updir,
                                    apr_pstrcat(p, dir, "/upstream.pid",
                                                NULL),
                                    apr_pstrcat(p, dir, "/upstream.log",
                                                NULL),
                                    900, more, &env.up_proc);
    }
    /* the SQLite ledger exists, with its people, before httpd starts; as
     * root its children (www-data) must own it */
    if (!why) {
        why = hmbctl_enroll(env.sqlite_spec);
    }
    if (!why && geteuid() == 0) {
        const char *argv[] = {
            "/bin/chown", "-R", "www-data:",
            apr_pstrcat(p, env.inst[I_SQLITE].rundir, "/ledger", NULL), NULL
        };
        why = hmb_it_run(p, argv, apr_time_from_sec(10));
    }
    for (i = 0; !why && i < NINST; i++) {
        if (!(why = write_conf(i))) {
            why = harness(i, "start", apr_pstrcat(p, env.inst[i].rundir,
                                                  "/shared.conf", NULL));
            env.inst[i].started = !why;
        }
    }
    if (why) {
        fprintf(stderr, "setup: %s\n", why);
        group_teardown(state);
        return -1;
    }
    return 0;
}

/* --- the workload ----------------------------------------------------------- */

static const char *xml_headers[] = {
    "Content-Type: text/xml; charset=UTF-8", NULL
};

static const char *new_msgid(apr_pool_t *p, char phase)
{
    return apr_psprintf(p, "HMBSH%c%08d", phase, ++env.seq);
}

static void record_msg(apr_pool_t *p, msg_t *m)
{
    apr_size_t len;

    m->up = render(p, m->req, m->req_len, &len);
    m->up_len = len;
    apr_hash_set(env.by_msgid, m->msgid, APR_HASH_KEY_STRING, m);
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, env.msgdir, "/",
                                                     m->msgid, ".req.xml",
                                                     NULL),
                                      m->req, m->req_len));
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, env.msgdir, "/",
                                                     m->msgid, ".resp.xml",
                                                     NULL),
                                      m->up, m->up_len));
}

static const char *envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, int inst,
                            const char *inf_time, const char *data)
{
    return apr_pstrcat(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<request><infno>", infno, "</infno><msgid>", msgid, "</msgid>"
        "<mdtrtarea_admvs>360900</mdtrtarea_admvs>"
        "<insuplc_admdvs>360902</insuplc_admdvs>"
        "<recer_sys_code>HIS</recer_sys_code><infver>V1.0</infver>"
        "<opter_type>1</opter_type><opter>0001</opter>"
        "<opter_name>收费员</opter_name><inf_time>", inf_time, "</inf_time>"
        "<fixmedins_code>", env.inst[inst].fixmedins_code,
        "</fixmedins_code><fixmedins_name>", env.inst[inst].fixmedins_name,
        "</fixmedins_name><sign_no>S0001</sign_no>"
        "<input><data>", data, "</data></input></request>\n", NULL);
}

/* A discharge of person `person` in 2024 with amounts chosen at random:
 * the amounts go in the request, and the template puts them in the
 * upstream's answer. */
static msg_t *make_settlement(apr_pool_t *p, char phase, int person,
                              int inst, const char *psn_no)
{
    msg_t *m = apr_pcalloc(p, sizeof(*m));
    apr_int64_t part = 30000 + rnd_below(470001);          /* 300-5000 */
    apr_int64_t ownpay = rnd_below(10) < 3 ? 0
                         : rnd_below((int)(part < 150000 ? part : 150000) + 1);
    apr_int64_t fund = 50000 + rnd_below(2000001);
    apr_int64_t acct = rnd_below(20001);
    apr_int64_t medfee = fund + part;
    const char *med_type = rnd_below(100) < 5 ? "11" : "21";
    const char *insu = rnd_below(100) < 3 ? "2" : "1";
    const char *when = apr_psprintf(p, "2024-%02d-%02d %02d:%02d:%02d",
                                    1 + rnd_below(12), 1 + rnd_below(28),
                                    rnd_below(24), rnd_below(60),
                                    rnd_below(60));
    const char *data;

    if (acct > part) {
        acct = part;
    }
    m->kind = 'S';
    m->person = person;
    m->inst = inst;
    m->msgid = new_msgid(p, phase);
    m->setl_id = apr_psprintf(p, "S%c%08d", phase, env.seq);
    data = apr_pstrcat(p,
        "<psn_no>", psn_no, "</psn_no>",
        "<mdtrt_id>", apr_psprintf(p, "M%c%08d", phase, env.seq),
        "</mdtrt_id><med_type>", med_type, "</med_type>",
        "<medfee_sumamt>", fen_str(p, medfee), "</medfee_sumamt>",
        "<rsp_setl_id>", m->setl_id, "</rsp_setl_id>",
        "<setl_time>", when, "</setl_time>",
        "<fund_pay_sumamt>", fen_str(p, fund), "</fund_pay_sumamt>",
        "<psn_part_amt>", fen_str(p, part), "</psn_part_amt>",
        "<fulamt_ownpay_amt>", fen_str(p, ownpay), "</fulamt_ownpay_amt>",
        "<inscp_scp_amt>", fen_str(p, medfee - ownpay), "</inscp_scp_amt>",
        "<acct_pay>", fen_str(p, acct), "</acct_pay>",
        "<psn_cash_pay>", fen_str(p, part - acct), "</psn_cash_pay>",
        "<psn_insu_stas>", insu, "</psn_insu_stas>", NULL);
    m->req = envelope(p, "2304", m->msgid, inst, when, data);
    m->req_len = strlen(m->req);
    record_msg(p, m);
    return m;
}

/* The same settlement again, as a HIS sends it after a timeout: a new
 * msgid, the same discharge. */
static msg_t *make_duplicate(apr_pool_t *p, char phase, msg_t *s)
{
    msg_t *m = apr_pcalloc(p, sizeof(*m));
    const char *at = strstr(s->req, "<msgid>");
    const char *end = strstr(at, "</msgid>");

    m->kind = 'D';
    m->person = s->person;
    m->inst = s->inst;
    m->orig = s;
    m->setl_id = s->setl_id;
    m->msgid = new_msgid(p, phase);
    m->req = apr_pstrcat(p, apr_pstrmemdup(p, s->req,
                                           (apr_size_t)(at - s->req)),
                         "<msgid>", m->msgid, end, NULL);
    m->req_len = strlen(m->req);
    record_msg(p, m);
    return m;
}

/* Its cancellation (2305): data names the settlement; the upstream's
 * answer has a setl_id of its own. */
static msg_t *make_cancel(apr_pool_t *p, char phase, msg_t *s)
{
    msg_t *m = apr_pcalloc(p, sizeof(*m));
    apr_pool_t *tp;
    const char *data = strstr(s->req, "<data>") + 6;
    const char *data_end = strstr(s->req, "</data>");
    const char *rest, *psn, *mdtrt, *when;

    apr_pool_create(&tp, p);
    m->kind = 'R';
    m->person = s->person;
    m->inst = s->inst;
    m->orig = s;
    m->setl_id = s->setl_id;
    m->msgid = new_msgid(p, phase);
    psn = element(tp, s->req, s->req_len, "psn_no");
    mdtrt = element(tp, s->req, s->req_len, "mdtrt_id");
    when = apr_psprintf(tp, "2024-12-%02d %02d:%02d:%02d", 1 + rnd_below(28),
                        rnd_below(24), rnd_below(60), rnd_below(60));
    /* the settlement's amounts (what was cancelled), another setl_id */
    rest = apr_pstrmemdup(tp, data, (apr_size_t)(data_end - data));
    rest = strstr(rest, "<med_type>");
    {
        const char *a = strstr(rest, "<rsp_setl_id>");
        const char *b = strstr(rest, "</setl_time>") + 12;
        rest = apr_pstrcat(tp, apr_pstrmemdup(tp, rest,
                                              (apr_size_t)(a - rest)),
                           "<rsp_setl_id>C", s->setl_id + 1,
                           "</rsp_setl_id><setl_time>", when,
                           "</setl_time>", b, NULL);
    }
    m->req = envelope(p, "2305", m->msgid, s->inst, when,
                      apr_pstrcat(tp, "<setl_id>", s->setl_id, "</setl_id>"
                                  "<mdtrt_id>", mdtrt, "</mdtrt_id>"
                                  "<psn_no>", psn, "</psn_no>", rest, NULL));
    m->req_len = strlen(m->req);
    record_msg(p, m);
    apr_pool_destroy(tp);
    return m;
}

typedef struct {
    const char *label;
    char phase;
    int insts[2];
    int ninst;
    int first_person;
    int npersons;
    int settlements;
    int faults;
} run_cfg_t;

typedef struct {
    int sent, settled, deferred, untouched, cut, stale, replayed, lost;
    int dups, cancels, ineligible;
} figures_t;

typedef struct run run_t;

typedef struct {
    run_t *run;
    apr_pool_t *keep;           /* answers, kept until the run is checked */
    apr_pool_t *scratch;
    hmb_http_conn_t *conn[NINST];
    int stale;
    apr_uint32_t rng;           /* the worker's own, for pauses */
} worker_t;

struct run {
    const run_cfg_t *cfg;
    apr_array_header_t *all;    /* msg_t *, every message generated */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    msg_t **q;
    int q_head, q_tail, q_cap;
    int in_flight;
    int pace_ms;                /* mean pause between a worker's messages */
    volatile apr_uint32_t settlements_done;
    worker_t workers[THREADS];
};

/* The queue holds each message at most once: q_cap is enough. */
static void queue_push(run_t *r, msg_t *m)
{
    r->q[r->q_tail++] = m;
    m->sent = 1;
}

/* Is the answer right for this message? Sets outcome, stas, hmbinfo or
 * why. Runs in worker threads: no CMocka here. */
static void classify(worker_t *w, msg_t *m, const hmb_http_response_t *r)
{
    const char *end = memmem_last(m->up, m->up_len, "</output>");
    apr_size_t k = (apr_size_t)(end - m->up), tail = m->up_len - k;
    const char *ins, *stas;
    apr_size_t ins_len;
    outcome_e o;

    m->why = NULL;
    if (r->status != 200) {
        m->why = apr_psprintf(w->keep, "%s: HTTP status %d", m->msgid,
                              r->status);
        return;
    }
    if (r->body_len == m->up_len && !memcmp(r->body, m->up, m->up_len)) {
        m->outcome = OUT_UNTOUCHED;
        m->stas = NULL;
        m->hmbinfo = NULL;
        return;
    }
    if (r->body_len <= m->up_len || memcmp(r->body, m->up, k)
        || memcmp(r->body + r->body_len - tail, end, tail)) {
        m->why = apr_psprintf(w->keep, "%s: the answer is neither the "
                              "upstream's bytes nor them with one element "
                              "before </output>", m->msgid);
        return;
    }
    ins = r->body + k;
    ins_len = r->body_len - m->up_len;
    if (ins_len < 21 || memcmp(ins, "<hmbinfo>", 9)
        || memcmp(ins + ins_len - 10, "</hmbinfo>", 10)
        || memmem(ins + 9, ins_len - 9, "<hmbinfo>", 9)) {
        m->why = apr_psprintf(w->keep, "%s: spliced text is not one "
                              "<hmbinfo>: %.*s", m->msgid, (int)ins_len, ins);
        return;
    }
    stas = element(w->keep, ins, ins_len, "hmb_stas");
    if (!stas) {
        m->why = apr_psprintf(w->keep, "%s: <hmbinfo> without hmb_stas",
                              m->msgid);
        return;
    }
    o = !strcmp(stas, "deferred") ? OUT_DEFERRED : OUT_SETTLED;
    /* a repetition that comes after its settlement's cancellation is
     * told so: nothing paid, settlement_reversed */
    if (o == OUT_SETTLED && m->kind == 'D' && !strcmp(stas, "no_claim")) {
        const char *rea = element(w->keep, ins, ins_len, "rea_code");

        if (!m->orig->cancel || !rea || strcmp(rea, "settlement_reversed")) {
            m->why = apr_psprintf(w->keep, "%s (D): no_claim %s, and its "
                                  "settlement %s cancelled", m->msgid,
                                  rea ? rea : "-", m->orig->cancel
                                  ? "is" : "is not");
            return;
        }
    }
    else if (o == OUT_SETTLED
        && (m->kind == 'R' ? strcmp(stas, "reversed")
                           : strcmp(stas, "paid") && strcmp(stas,
                                                            "ineligible"))) {
        m->why = apr_psprintf(w->keep, "%s (%c): hmb_stas %s", m->msgid,
                              m->kind, stas);
        return;
    }
    m->outcome = o;
    m->stas = stas;
    m->hmbinfo = apr_pstrmemdup(w->keep, ins, ins_len);
}

/* Send until an answer comes; a connection cut (a killed child) is what a
 * HIS would meet too, and it sends the same message again. */
static void send_msg(worker_t *w, msg_t *m)
{
    hmb_http_conn_t *c = w->conn[m->inst];
    const char *path = m->kind == 'R' ? "/fsi/api/2305" : "/fsi/api/2304";
    hmb_http_response_t *r = NULL;
    const char *why = NULL;
    int attempt;

    for (attempt = 0; attempt < MAX_SENDS; attempt++) {
        apr_pool_clear(w->scratch);
        why = hmb_http_request(c, w->scratch, "POST", path, xml_headers,
                               m->req, m->req_len, &r);
        if (!why) {
            break;
        }
        m->cuts++;
        apr_sleep(apr_time_from_msec(50 * (attempt + 1)));
    }
    if (why) {
        m->why = apr_psprintf(w->keep, "%s: no answer after %d sends: %s",
                              m->msgid, MAX_SENDS, why);
        return;
    }
    classify(w, m, r);
}

static void *APR_THREAD_FUNC worker_main(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    run_t *r = w->run;

    for (;;) {
        msg_t *m;

        apr_thread_mutex_lock(r->lock);
        while (r->q_head == r->q_tail && r->in_flight > 0) {
            apr_thread_cond_wait(r->cond, r->lock);
        }
        if (r->q_head == r->q_tail) {
            apr_thread_cond_broadcast(r->cond);
            apr_thread_mutex_unlock(r->lock);
            break;
        }
        m = r->q[r->q_head++];
        r->in_flight++;
        apr_thread_mutex_unlock(r->lock);

        send_msg(w, m);
        m->first = m->outcome;

        apr_thread_mutex_lock(r->lock);
        r->in_flight--;
        if (m->kind == 'S') {
            apr_atomic_inc32(&r->settlements_done);
            /* a cancellation only once the settlement has been answered,
             * and only of one that was paid */
            if (m->cancel && m->outcome == OUT_SETTLED
                && !strcmp(m->stas, "paid")) {
                queue_push(r, m->cancel);
            }
            if (m->dup && !m->dup_racing) {
                queue_push(r, m->dup);
            }
        }
        apr_thread_cond_broadcast(r->cond);
        apr_thread_mutex_unlock(r->lock);
        if (r->pace_ms) {
            /* like a billing desk: one discharge, then a pause */
            w->rng = w->rng * 1103515245 + 12345;
            apr_sleep(apr_time_from_msec((w->rng >> 8)
                                         % (apr_uint32_t)(2 * r->pace_ms)));
        }
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static run_t *run_make(apr_pool_t *p, const run_cfg_t *cfg)
{
    run_t *r = apr_pcalloc(p, sizeof(*r));
    apr_array_header_t *order;
    int i;

    r->cfg = cfg;
    r->all = apr_array_make(p, cfg->settlements * 2, sizeof(msg_t *));
    order = apr_array_make(p, cfg->settlements, sizeof(msg_t *));
    for (i = 0; i < cfg->settlements; i++) {
        int person = cfg->first_person + rnd_below(cfg->npersons);
        int inst = cfg->insts[rnd_below(cfg->ninst)];
        msg_t *s = make_settlement(env.pool, cfg->phase, person, inst,
                                   apr_psprintf(env.pool, PSN_FMT, person));

        APR_ARRAY_PUSH(r->all, msg_t *) = s;
        APR_ARRAY_PUSH(order, msg_t *) = s;
        if (rnd_below(100) < 10) {
            s->dup = make_duplicate(env.pool, cfg->phase, s);
            s->dup_racing = rnd_below(2);
            APR_ARRAY_PUSH(r->all, msg_t *) = s->dup;
        }
        if (rnd_below(100) < 15) {
            s->cancel = make_cancel(env.pool, cfg->phase, s);
            APR_ARRAY_PUSH(r->all, msg_t *) = s->cancel;
        }
    }
    r->q_cap = r->all->nelts + 1;
    r->q = apr_pcalloc(p, sizeof(msg_t *) * r->q_cap);
    /* settlements in random order, a racing repetition right behind its
     * settlement, so that two threads pick them up together */
    for (i = 0; i < order->nelts; i++) {
        msg_t *s = APR_ARRAY_IDX(order, i, msg_t *);
        queue_push(r, s);
        if (s->dup && s->dup_racing) {
            queue_push(r, s->dup);
        }
    }
    for (i = 0; i < r->all->nelts; i++) {
        msg_t *m = APR_ARRAY_IDX(r->all, i, msg_t *);
        if (m->kind == 'R' || (m->kind == 'D' && !m->orig->dup_racing)) {
            m->sent = 0;
        }
    }
    apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, p);
    apr_thread_cond_create(&r->cond, p);
    return r;
}

/* --- faults ------------------------------------------------------------------ */

/* The inode of the server side of a loopback TCP connection from
 * client_port to server_port, from /proc/net/tcp; 0 when not found. */
static unsigned long conn_inode(apr_pool_t *p, apr_port_t server_port,
                                apr_port_t client_port)
{
    char *text = NULL;
    char *line, *save = NULL;
    char want_local[32], want_remote[32];

    /* procfs files have no size: read to the end */
    {
        apr_file_t *f;
        apr_size_t cap = 1 << 16, len = 0, n;

        assert_int_equal(apr_file_open(&f, "/proc/net/tcp", APR_FOPEN_READ,
                                       0, p), APR_SUCCESS);
        text = apr_palloc(p, cap);
        for (;;) {
            n = cap - 1 - len;
            if (n == 0) {
                char *more = apr_palloc(p, cap * 2);
                memcpy(more, text, len);
                text = more;
                cap *= 2;
                continue;
            }
            if (apr_file_read(f, text + len, &n) != APR_SUCCESS || !n) {
                break;
            }
            len += n;
        }
        apr_file_close(f);
        text[len] = '\0';
    }
    apr_snprintf(want_local, sizeof(want_local), "0100007F:%04X",
                 (unsigned)server_port);
    apr_snprintf(want_remote, sizeof(want_remote), "0100007F:%04X",
                 (unsigned)client_port);
    for (line = apr_strtok(text, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        char local[64], remote[64];
        unsigned long inode;

        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu",
                   local, remote, &inode) == 3
            && !strcmp(local, want_local) && !strcmp(remote, want_remote)) {
            return inode;
        }
    }
    return 0;
}

/* The httpd child of instance i holding socket `inode`, or 0. */
static long child_with_socket(apr_pool_t *p, int i, unsigned long inode)
{
    apr_array_header_t *kids = httpd_children(p, i);
    char want[64];
    int k;

    apr_snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (k = 0; k < kids->nelts; k++) {
        long pid = APR_ARRAY_IDX(kids, k, long);
        const char *dir = apr_psprintf(p, "/proc/%ld/fd", pid);
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d)) != NULL) {
            char link[128];
            ssize_t n = readlink(apr_pstrcat(p, dir, "/", e->d_name, NULL),
                                 link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = '\0';
                if (!strcmp(link, want)) {
                    closedir(d);
                    return pid;
                }
            }
        }
        if (d) {
            closedir(d);
        }
    }
    return 0;
}

/* SIGKILL the child of instance i that is serving a settlement right
 * now: the test sends one whose upstream answer takes 3 s, finds the
 * child holding that connection, kills it, sees the connection cut and
 * sends the message again, as a HIS would. The message joins the run. */
static void kill_busy_child(run_t *r, int i)
{
    const run_cfg_t *cfg = r->cfg;
    int person = cfg->first_person + rnd_below(cfg->npersons);
    msg_t *m = make_settlement(env.pool, cfg->phase, person, i,
                               apr_psprintf(env.pool, PSN_FMT, person));
    apr_pool_t *p;
    hmb_http_conn_t *c;
    hmb_http_response_t *resp;
    worker_t w;
    unsigned long inode = 0;
    long pid = 0;
    int tries;

    apr_pool_create(&p, env.pool);
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, env.updir, "/",
                                                     m->msgid, ".xml", NULL),
                                      m->up, m->up_len));
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, env.updir, "/",
                                                     m->msgid, ".opts", NULL),
                                      "delay-ms 3000\n", 14));
    m->sent = 1;
    APR_ARRAY_PUSH(r->all, msg_t *) = m;

    c = hmb_http_conn_make(p, "127.0.0.1", env.inst[i].port);
    assert_no_error(hmb_http_send(c, p, "POST", "/fsi/api/2304", xml_headers,
                                  m->req, m->req_len));
    for (tries = 0; tries < 50 && !pid; tries++) {
        apr_sleep(apr_time_from_msec(20));
        inode = conn_inode(p, env.inst[i].port, hmb_http_local_port(c));
        pid = inode ? child_with_socket(p, i, inode) : 0;
    }
    if (!pid) {
        fail_msg("no child of %s holds the connection from port %d",
                 env.inst[i].fixmedins_code, (int)hmb_http_local_port(c));
    }
    /* let it get as far as the upstream */
    apr_sleep(apr_time_from_msec(300));
    printf("faults: SIGKILL httpd child %ld of %s, busy with %s\n", pid,
           env.inst[i].fixmedins_code, m->msgid);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    if (!hmb_http_receive(c, p, "POST", &resp)) {
        fail_msg("%s was answered although its child was killed",
                 m->msgid);
    }
    m->cuts++;
    hmb_http_close(c);

    memset(&w, 0, sizeof(w));
    w.keep = env.pool;
    apr_pool_create(&w.scratch, p);
    w.conn[i] = hmb_http_conn_make(p, "127.0.0.1", env.inst[i].port);
    send_msg(&w, m);
    m->first = m->outcome;
    if (m->why) {
        fail_msg("%s", m->why);
    }
    apr_pool_destroy(p);
}

static void spool_writable(const run_cfg_t *cfg, int writable)
{
    int k;

    for (k = 0; k < cfg->ninst; k++) {
        const char *dir = apr_pstrcat(env.pool,
                                      env.inst[cfg->insts[k]].rundir,
                                      "/spool", NULL);
        assert_int_equal(chmod(dir, writable ? 0770 : 0500), 0);
    }
    printf("faults: spool %s\n", writable ? "writable again" : "unwritable");
}

/* While the workers run (paced to last about FAULT_RUN_SECONDS): one
 * fault after the other, each a fixed time after the previous one ended,
 * all while work is still going on. */
#define FAULT_RUN_SECONDS 24

static void inject_faults(run_t *r)
{
    const run_cfg_t *cfg = r->cfg;
    static const struct {
        int ms;
        const char *what;
    } plan[] = {
        { 2000, "kill" }, { 1500, "pg stop" }, { 1500, "spool off" },
        { 1500, "spool on" }, { 1500, "pg start" }, { 2000, "kill" }
    };
    int step = 0, nsteps = (int)(sizeof(plan) / sizeof(plan[0]));
    apr_time_t t0 = apr_time_now(), last = t0;
    apr_time_t deadline = t0 + apr_time_from_sec(300);

    while (step < nsteps) {
        int pct = (int)apr_atomic_read32(&r->settlements_done) * 100
                  / cfg->settlements;
        int finished;

        apr_thread_mutex_lock(r->lock);
        finished = r->q_head == r->q_tail && r->in_flight == 0;
        apr_thread_mutex_unlock(r->lock);
        if (finished || apr_time_now() > deadline) {
            break;
        }
        if (apr_time_now() - last < apr_time_from_msec(plan[step].ms)) {
            apr_sleep(apr_time_from_msec(10));
            continue;
        }
        printf("faults: %.1f s, %d%% of the settlements answered: %s\n",
               (double)(apr_time_now() - t0) / APR_USEC_PER_SEC, pct,
               plan[step].what);
        switch (step) {
        case 0:
            kill_busy_child(r, cfg->insts[0]);
            break;
        case 1:
            assert_no_error(pg("stop"));
            break;
        case 2:
            spool_writable(cfg, 0);
            break;
        case 3:
            spool_writable(cfg, 1);
            break;
        case 4:
            assert_no_error(pg("start"));
            break;
        default:
            kill_busy_child(r, cfg->insts[cfg->ninst - 1]);
            break;
        }
        last = apr_time_now();
        step++;
    }
    /* a run over too soon still leaves things as they were */
    if (step == 3) {
        spool_writable(cfg, 1);
    }
    if (step >= 2 && step <= 4) {
        assert_no_error(pg("start"));
    }
    if (step < nsteps) {
        fail_msg("the run ended before the faults were over (step %d); "
                 "raise HMB_SHARED_SETTLEMENTS", step);
    }
}

static void run_workload(apr_pool_t *p, run_t *r)
{
    apr_thread_t *t[THREADS];
    int i;

    for (i = 0; i < THREADS; i++) {
        worker_t *w = &r->workers[i];
        int k;

        w->run = r;
        w->rng = (apr_uint32_t)i * 2654435761u + 1;
        apr_pool_create_unmanaged_ex(&w->keep, NULL, NULL);
        apr_pool_create(&w->scratch, w->keep);
        for (k = 0; k < NINST; k++) {
            w->conn[k] = hmb_http_conn_make(w->keep, "127.0.0.1",
                                            env.inst[k].port);
            hmb_http_set_retry_stale(w->conn[k], 1);
            hmb_http_set_timeout(w->conn[k], apr_time_from_sec(30));
        }
        assert_int_equal(apr_thread_create(&t[i], NULL, worker_main, w, p),
                         APR_SUCCESS);
    }
    if (r->cfg->faults) {
        inject_faults(r);
    }
    for (i = 0; i < THREADS; i++) {
        apr_status_t rv;
        int k;

        apr_thread_join(&rv, t[i]);
        for (k = 0; k < NINST; k++) {
            r->workers[i].stale += hmb_http_retries(r->workers[i].conn[k]);
            hmb_http_close(r->workers[i].conn[k]);
        }
    }
}

static void run_free(run_t *r)
{
    int i;

    for (i = 0; i < THREADS; i++) {
        if (r->workers[i].keep) {
            apr_pool_destroy(r->workers[i].keep);
            r->workers[i].keep = NULL;
        }
    }
}

/* --- checking the ledger ---------------------------------------------------- */

/* All rows of a query, every column as a string ("" for NULL). */
static apr_array_header_t *rows_of(apr_pool_t *p, hmb_ledger_t *l,
                                   const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_array_header_t *rows = apr_array_make(p, 64, sizeof(const char **));
    int rv = apr_dbd_select(l->driver, p, l->handle, &res, sql, 1), n, i;

    if (rv) {
        fail_msg("%s: %s", sql, apr_dbd_error(l->driver, l->handle, rv));
    }
    n = apr_dbd_num_cols(l->driver, res);
    while (apr_dbd_get_row(l->driver, p, res, &row, -1) == 0) {
        const char **v = apr_pcalloc(p, sizeof(*v) * (n + 1));
        for (i = 0; i < n; i++) {
            const char *e = apr_dbd_get_entry(l->driver, row, i);
            v[i] = apr_pstrdup(p, e ? e : "");
        }
        APR_ARRAY_PUSH(rows, const char **) = v;
    }
    return rows;
}

static void assert_no_rows(apr_pool_t *p, hmb_ledger_t *l, const char *what,
                           const char *sql)
{
    apr_array_header_t *rows = rows_of(p, l, sql);

    if (rows->nelts) {
        const char **v = APR_ARRAY_IDX(rows, 0, const char **);
        fail_msg("%s: %d rows, the first %s %s %s", what, rows->nelts,
                 v[0], v[1] ? v[1] : "", v[1] && v[2] ? v[2] : "");
    }
}

static const char *spliced_of(apr_pool_t *p, const msg_t *m, const char *out,
                              apr_size_t len)
{
    const char *end = memmem_last(m->up, m->up_len, "</output>");
    apr_size_t k = (apr_size_t)(end - m->up);

    if (len <= m->up_len || memcmp(out, m->up, k)) {
        fail_msg("hmbctl settle %s: output does not start as the upstream's",
                 m->msgid);
    }
    return apr_pstrmemdup(p, out + k, len - m->up_len);
}

static void same_claim(const char *what, const hmb_claim_t *a,
                       const hmb_claim_t *b)
{
    int i;

    if (!a || !b) {
        fail_msg("%s: claim missing in the %s ledger", what,
                 a ? "replayed" : "shared");
    }
    if (a->hmb_pay != b->hmb_pay || a->stas != b->stas
        || strcmp(a->hmb_setl_id, b->hmb_setl_id)
        || a->rea != b->rea
        || a->liabs->nelts != b->liabs->nelts
        || a->insurers->nelts != b->insurers->nelts
        || strcmp(a->hmbinfo, b->hmbinfo)) {
        fail_msg("%s: shared %s %s %" APR_INT64_T_FMT ", replayed %s %s %"
                 APR_INT64_T_FMT, what, a->hmb_setl_id,
                 hmb_stas_name(a->stas), a->hmb_pay, b->hmb_setl_id,
                 hmb_stas_name(b->stas), b->hmb_pay);
    }
    for (i = 0; i < a->liabs->nelts; i++) {
        const hmb_claim_liab_t *x = &APR_ARRAY_IDX(a->liabs, i,
                                                   hmb_claim_liab_t);
        const hmb_claim_liab_t *y = &APR_ARRAY_IDX(b->liabs, i,
                                                   hmb_claim_liab_t);
        if (strcmp(x->liab_code, y->liab_code) || x->elig_amt != y->elig_amt
            || x->dedc_amt != y->dedc_amt || x->pay_prop != y->pay_prop
            || x->pay_amt != y->pay_amt || x->cap != y->cap
            || x->deductible != y->deductible) {
            fail_msg("%s: liability %s: shared elig %" APR_INT64_T_FMT
                     " dedc %" APR_INT64_T_FMT " pay %" APR_INT64_T_FMT
                     ", replayed elig %" APR_INT64_T_FMT " dedc %"
                     APR_INT64_T_FMT " pay %" APR_INT64_T_FMT, what,
                     x->liab_code, x->elig_amt, x->dedc_amt, x->pay_amt,
                     y->elig_amt, y->dedc_amt, y->pay_amt);
        }
    }
    for (i = 0; i < a->insurers->nelts; i++) {
        const hmb_insurer_result_t *x =
            &APR_ARRAY_IDX(a->insurers, i, hmb_insurer_result_t);
        const hmb_insurer_result_t *y =
            &APR_ARRAY_IDX(b->insurers, i, hmb_insurer_result_t);
        if (strcmp(x->insurer_code, y->insurer_code)
            || x->pay_amt != y->pay_amt) {
            fail_msg("%s: insurer %s differs", what, x->insurer_code);
        }
    }
}

/* (a) the shared ledger equals a sequential recomputation, (b) no cap
 * exceeded, (c) nothing counted twice, and every message sent accounted
 * for. Covers every test person in the ledger at `spec`; msgs are the
 * messages sent to it. Returns the number lost. */
static int check_ledger(const run_cfg_t *cfg, const char *spec,
                        apr_array_header_t *msgs)
{
    const char *label = cfg->label;
    const char *who;
    apr_pool_t *p;
    hmb_ledger_t *l, *seq_l;
    apr_array_header_t *claims, *liabs;
    apr_hash_t *claimed;
    const char *seq_spec, *seq_db, *prev = "";
    int i, next = 0, lost = 0, capped = 0, replayed = 0, people = 0;
    apr_time_t t0 = apr_time_now();

    apr_pool_create(&p, env.pool);
    assert_no_error(hmb_ledger_open(p, spec, &l));
    who = apr_psprintf(p, "psn_no BETWEEN '" PSN_FMT "' AND '" PSN_FMT "'",
                       cfg->first_person,
                       cfg->first_person + cfg->npersons - 1);

    /* (c) one claim per kind and setl_id; every reversal reverses a
     * settlement; the totals are the sums of the claims */
    assert_no_rows(p, l, "a setl_id counted twice",
                   "SELECT kind, setl_id, COUNT(*) FROM hmb_claim"
                   " GROUP BY kind, setl_id HAVING COUNT(*) > 1");
    assert_no_rows(p, l, "a reversal without its settlement",
                   "SELECT r.setl_id, r.hmb_setl_id, r.reverses"
                   " FROM hmb_claim r LEFT JOIN hmb_claim s"
                   " ON s.kind = 'S' AND s.setl_id = r.setl_id"
                   " AND s.hmb_setl_id = r.reverses"
                   " WHERE r.kind = 'R' AND s.setl_id IS NULL");
    assert_no_rows(p, l, "claims whose sums are not in hmb_total",
                   "SELECT c.psn_no, c.plan_code, c.plan_year, l.liab_code,"
                   " SUM(l.elig_amt), SUM(l.pay_amt)"
                   " FROM hmb_claim c JOIN hmb_claim_liab l"
                   " ON l.hmb_setl_id = c.hmb_setl_id"
                   " GROUP BY c.psn_no, c.plan_code, c.plan_year, l.liab_code"
                   " EXCEPT SELECT psn_no, plan_code, plan_year, liab_code,"
                   " elig_amt, paid_amt FROM hmb_total");
    assert_no_rows(p, l, "hmb_total rows that are not the claims' sums",
                   "SELECT psn_no, plan_code, plan_year, liab_code, elig_amt,"
                   " paid_amt FROM hmb_total"
                   " EXCEPT SELECT c.psn_no, c.plan_code, c.plan_year,"
                   " l.liab_code, SUM(l.elig_amt), SUM(l.pay_amt)"
                   " FROM hmb_claim c JOIN hmb_claim_liab l"
                   " ON l.hmb_setl_id = c.hmb_setl_id"
                   " GROUP BY c.psn_no, c.plan_code, c.plan_year,"
                   " l.liab_code");

    /* every message sent is in the ledger: its settlement, and its
     * cancellation when one was sent */
    claims = rows_of(p, l, apr_pstrcat(p, "SELECT psn_no, psn_seq, kind,"
                                       " setl_id, msgid, hmbinfo, plan_code,"
                                       " plan_year FROM hmb_claim WHERE ",
                                       who, " ORDER BY psn_no, psn_seq",
                                       NULL));
    claimed = apr_hash_make(p);
    for (i = 0; i < claims->nelts; i++) {
        const char **v = APR_ARRAY_IDX(claims, i, const char **);
        apr_hash_set(claimed, apr_pstrcat(p, v[2], v[3], NULL),
                     APR_HASH_KEY_STRING, v);
    }
    for (i = 0; i < msgs->nelts; i++) {
        const msg_t *m = APR_ARRAY_IDX(msgs, i, const msg_t *);
        const char **v;

        if (!m->sent || m->kind == 'D') {
            continue;
        }
        v = apr_hash_get(claimed, apr_pstrcat(p, m->kind == 'R' ? "R" : "S",
                                              m->setl_id, NULL),
                         APR_HASH_KEY_STRING);
        if (!v) {
            fprintf(stderr, "%s: lost: %c %s (%s), answered %d\n", label,
                    m->kind, m->setl_id, m->msgid, (int)m->outcome);
            lost++;
            continue;
        }
        /* what the billing desk was shown is what the ledger holds */
        if (m->outcome == OUT_SETTLED && strcmp(m->hmbinfo, v[5])) {
            fail_msg("%s: %s was answered %s but the ledger holds %s", label,
                     m->msgid, m->hmbinfo, v[5]);
        }
        if (m->dup && m->dup->sent && m->dup->outcome == OUT_SETTLED
            && strcmp(m->dup->stas, "no_claim")
            && strcmp(m->dup->hmbinfo, v[5])) {
            fail_msg("%s: the repetition %s was answered %s, not the stored "
                     "%s", label, m->dup->msgid, m->dup->hmbinfo, v[5]);
        }
    }

    /* (a) replay, person by person in psn_seq order, through hmbctl */
    seq_db = apr_psprintf(p, "%s/replay-%c.db", env.top, cfg->phase);
    seq_spec = apr_pstrcat(p, "sqlite3:", seq_db, NULL);
    apr_file_remove(seq_db, p);
    assert_no_error(hmbctl_enroll(seq_spec));
    for (i = 0; i < claims->nelts; i++) {
        const char **v = APR_ARRAY_IDX(claims, i, const char **);
        const msg_t *m = apr_hash_get(env.by_msgid, v[4],
                                      APR_HASH_KEY_STRING);
        const char *out = apr_pstrcat(p, env.top, "/replay.out", NULL);
        const char *req = apr_pstrcat(p, env.msgdir, "/", v[4], ".req.xml",
                                      NULL);
        const char *resp = apr_pstrcat(p, env.msgdir, "/", v[4],
                                       ".resp.xml", NULL);
        const char *argv[] = {
            HMBCTL, "--ledger", seq_spec, "settle", "--plan", PLAN,
            "--request", req, resp, NULL
        };
        apr_pool_t *cp;
        char *bytes;
        apr_size_t len;

        if (strcmp(prev, v[0])) {
            next = 0;
            prev = v[0];
            people++;
        }
        if (atoi(v[1]) != ++next) {
            fail_msg("%s: %s: psn_seq %s where %d was due", label, v[0],
                     v[1], next);
        }
        if (strcmp(v[6], "YCHMB") || strcmp(v[7], "2024")) {
            fail_msg("%s: claim %s %s under plan %s %s", label, v[2], v[3],
                     v[6], v[7]);
        }
        if (!m) {
            fail_msg("%s: claim %s %s has msgid %s, which was never sent",
                     label, v[2], v[3], v[4]);
        }
        apr_pool_create(&cp, p);
        assert_no_error(run_to_file(cp, argv, out));
        bytes = hmb_test_slurp(cp, out, &len);
        if (strcmp(spliced_of(cp, m, bytes, len), v[5])) {
            fail_msg("%s: %s (psn_seq %s of %s) replayed gives\n%s\nthe "
                     "shared ledger holds\n%s", label, v[4], v[1], v[0],
                     spliced_of(cp, m, bytes, len), v[5]);
        }
        apr_pool_destroy(cp);
        replayed++;
    }

    /* every claim and every total, field by field */
    assert_no_error(hmb_ledger_open(p, seq_spec, &seq_l));
    prev = "";
    for (i = 0; i < claims->nelts; i++) {
        const char **v = APR_ARRAY_IDX(claims, i, const char **);
        hmb_claim_t *a = NULL, *b = NULL;

        assert_no_error(hmb_ledger_find_claim(l, p, v[2][0], v[3], &a));
        assert_no_error(hmb_ledger_find_claim(seq_l, p, v[2][0], v[3], &b));
        same_claim(apr_pstrcat(p, label, ": ", v[2], " ", v[3], NULL), a, b);
        if (strcmp(prev, v[0])) {
            apr_array_header_t *ta, *tb;
            int k;

            prev = v[0];
            assert_no_error(hmb_ledger_totals(l, p, "YCHMB", 2024, v[0],
                                              &ta));
            assert_no_error(hmb_ledger_totals(seq_l, p, "YCHMB", 2024, v[0],
                                              &tb));
            assert_int_equal(ta->nelts, tb->nelts);
            for (k = 0; k < ta->nelts; k++) {
                const hmb_total_t *x = &APR_ARRAY_IDX(ta, k, hmb_total_t);
                const hmb_total_t *y = &APR_ARRAY_IDX(tb, k, hmb_total_t);
                if (strcmp(x->liab_code, y->liab_code)
                    || x->elig_amt != y->elig_amt
                    || x->paid_amt != y->paid_amt) {
                    fail_msg("%s: %s totals of %s: shared %" APR_INT64_T_FMT
                             "/%" APR_INT64_T_FMT ", replayed %"
                             APR_INT64_T_FMT "/%" APR_INT64_T_FMT, label,
                             v[0], x->liab_code, x->elig_amt, x->paid_amt,
                             y->elig_amt, y->paid_amt);
                }
            }
        }
    }

    /* (b) no cap exceeded at any point of any person's year */
    liabs = rows_of(p, l, apr_pstrcat(p, "SELECT c.psn_no, c.psn_seq,"
                                      " l.liab_code, l.pay_amt, l.cap"
                                      " FROM hmb_claim c JOIN hmb_claim_liab"
                                      " l ON l.hmb_setl_id = c.hmb_setl_id"
                                      " WHERE c.", who,
                                      " ORDER BY c.psn_no, c.psn_seq, l.seq",
                                      NULL));
    {
        apr_int64_t in = 0, out = 0, hit = 0;

        prev = "";
        for (i = 0; i < liabs->nelts; i++) {
            const char **v = APR_ARRAY_IDX(liabs, i, const char **);
            apr_int64_t pay = apr_atoi64(v[3]), cap = apr_atoi64(v[4]);

            if (strcmp(prev, v[0])) {
                capped += hit != 0;
                in = out = hit = 0;
                prev = v[0];
            }
            if (!strcmp(v[2], "inscope")) {
                in += pay;
                assert_int_equal(cap, CAP_INSCOPE);
                hit |= in == CAP_INSCOPE;
            }
            else {
                out += pay;
                assert_int_equal(cap, CAP_OUTSCOPE);
                hit |= out == CAP_OUTSCOPE;
            }
            hit |= in + out == CAP_PLAN;
            if (in > CAP_INSCOPE || out > CAP_OUTSCOPE
                || in + out > CAP_PLAN) {
                fail_msg("%s: %s over a cap after psn_seq %s: inscope %"
                         APR_INT64_T_FMT ", outscope %" APR_INT64_T_FMT,
                         label, v[0], v[1], in, out);
            }
        }
        capped += hit != 0;
    }
    /* the workload is meant to reach the caps; if it does not, this test
     * proves little about them */
    assert_true(capped > 0);
    printf("%s: %d claims of %d people replayed one by one through hmbctl: "
           "identical (%d people reached a cap; %.1f s)\n", label, replayed,
           people, capped, (double)(apr_time_now() - t0) / APR_USEC_PER_SEC);
    apr_pool_destroy(p);
    return lost;
}

static void count_answers(apr_array_header_t *all, figures_t *f)
{
    int i;

    for (i = 0; i < all->nelts; i++) {
        const msg_t *m = APR_ARRAY_IDX(all, i, const msg_t *);

        if (!m->sent) {
            continue;
        }
        if (m->why) {
            fail_msg("%s", m->why);
        }
        f->sent++;
        f->dups += m->kind == 'D';
        f->cancels += m->kind == 'R';
        f->cut += m->cuts > 0;
        switch (m->first) {
        case OUT_SETTLED:
            f->settled++;
            break;
        case OUT_DEFERRED:
            f->deferred++;
            break;
        case OUT_UNTOUCHED:
            f->untouched++;
            break;
        default:
            fail_msg("%s: no answer recorded", m->msgid);
        }
        f->ineligible += m->stas && !strcmp(m->stas, "ineligible");
    }
}

/* Lines of an error log from byte `from` on holding `needle`. */
static int log_count(apr_pool_t *p, int i, apr_off_t from,
                     const char *needle)
{
    apr_size_t len;
    char *log = hmb_test_slurp(p, apr_pstrcat(p, env.inst[i].rundir,
                                              "/logs/error_log", NULL), &len);
    const char *s = log + ((apr_size_t)from < len ? (apr_size_t)from : len);
    int n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s += strlen(needle);
    }
    return n;
}

static apr_off_t log_size(int i)
{
    struct stat st;

    if (stat(apr_pstrcat(env.pool, env.inst[i].rundir, "/logs/error_log",
                         NULL), &st)) {
        return 0;
    }
    return st.st_size;
}

/* Error-level lines from byte `from` on, other than those allowed. */
static void check_errors(apr_pool_t *p, int i, apr_off_t from, int faults)
{
    apr_size_t len;
    char *log = hmb_test_slurp(p, apr_pstrcat(p, env.inst[i].rundir,
                                              "/logs/error_log", NULL), &len);
    char *line, *save = NULL;

    if ((apr_size_t)from > len) {
        from = (apr_off_t)len;
    }
    for (line = apr_strtok(log + from, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        if (!strstr(line, ":error] ") && !strstr(line, ":crit] ")
            && !strstr(line, ":alert] ") && !strstr(line, ":emerg] ")) {
            continue;
        }
        /* with the faults: the spool failures we caused, and mod_dbd
         * failing to reach the database we stopped */
        if (faults && (strstr(line, "HMB00308: ")
                       || strstr(line, "[dbd:error] ")
                       || strstr(line, "AH00636: child init failed"))) {
            continue;
        }
        fail_msg("%s error log: %s", env.inst[i].fixmedins_code, line);
    }
}

/* No child died but those the test killed (SIGKILL is not logged). */
static void check_no_crash(apr_pool_t *p, int i)
{
    if (log_count(p, i, 0, "AH00052: ") || log_count(p, i, 0, "AH00051: ")) {
        fail_msg("an httpd child of %s crashed: see %s/logs/error_log",
                 env.inst[i].fixmedins_code, env.inst[i].rundir);
    }
}

static void ensure_enrolled(void)
{
    if (!env.enrolled) {
        assert_no_error(hmbctl_enroll(env.pg_spec));
        env.enrolled = 1;
    }
}

static figures_t all_runs;
static int runs_done;

static void print_figures(const char *label, const figures_t *f)
{
    all_runs.sent += f->sent;
    all_runs.settled += f->settled;
    all_runs.deferred += f->deferred;
    all_runs.replayed += f->replayed;
    all_runs.untouched += f->untouched;
    all_runs.cut += f->cut;
    all_runs.lost += f->lost;
    runs_done++;
    printf("shared ledger (%s): sent %d, settled %d, deferred %d, "
           "replayed %d, untouched %d (resent), cut %d (resent), lost %d\n",
           label, f->sent, f->settled, f->deferred, f->replayed,
           f->untouched, f->cut, f->lost);
    printf("  (of the sent: %d repetitions of a settlement, %d "
           "cancellations, %d ineligible; %d idle keep-alive connections "
           "met)\n", f->dups, f->cancels, f->ineligible, f->stale);
    fflush(stdout);
}

/* A clean run: every answer a result, never deferred nor untouched. */
static void concurrency_run(apr_pool_t *p, const run_cfg_t *cfg,
                            const char *spec)
{
    run_t *r = run_make(p, cfg);
    figures_t f;
    apr_off_t from[NINST];
    apr_time_t t0;
    int i, k;

    memset(&f, 0, sizeof(f));
    for (k = 0; k < NINST; k++) {
        from[k] = log_size(k);
    }
    t0 = apr_time_now();
    run_workload(p, r);
    count_answers(r->all, &f);
    for (i = 0; i < THREADS; i++) {
        f.stale += r->workers[i].stale;
    }
    printf("%s: %d messages in %.1f s with %d clients\n", cfg->label,
           f.sent, (double)(apr_time_now() - t0) / APR_USEC_PER_SEC,
           THREADS);
    assert_true(f.sent - f.dups - f.cancels >= cfg->settlements);
    assert_int_equal(f.deferred, 0);
    assert_int_equal(f.untouched, 0);
    assert_true(f.dups > 0 && f.cancels > 0);

    f.lost = check_ledger(cfg, spec, r->all);
    for (k = 0; k < cfg->ninst; k++) {
        check_errors(p, cfg->insts[k], from[cfg->insts[k]], 0);
        check_no_crash(p, cfg->insts[k]);
    }
    print_figures(cfg->label, &f);
    run_free(r);
    assert_int_equal(f.lost, 0);
}

/* --- tests --------------------------------------------------------------------- */

/* The ledger was left at schema version 1 (with claims of two people);
 * the first connections of both servers meet it at once and migrate it,
 * and nothing is deferred on the way. */
static void test_pg_migrated_by_httpd(void **state)
{
    enum { N = 8 };
    apr_pool_t *p = *state;
    run_cfg_t cfg;
    run_t *r;
    hmb_ledger_t *l;
    apr_array_header_t *rows;
    hmb_http_response_t *resp;
    msg_t *m;
    int i;

    /* the test's own template rendering agrees with hmb_upstream's */
    m = make_settlement(env.pool, 'M', 0, I_PG0, V1_PSN);
    assert_no_error(hmb_http_once(p, env.up_port, "POST", "/fsi/api",
                                  xml_headers, m->req, m->req_len, &resp));
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->body_len, m->up_len);
    assert_memory_equal(resp->body, m->up, m->up_len);

    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "migration";
    cfg.phase = 'M';
    cfg.settlements = N;
    r = apr_pcalloc(p, sizeof(*r));
    r->cfg = &cfg;
    r->all = apr_array_make(p, N, sizeof(msg_t *));
    r->q_cap = N;
    r->q = apr_pcalloc(p, sizeof(msg_t *) * N);
    for (i = 0; i < N; i++) {
        m = make_settlement(env.pool, 'M', 0, i % 2 ? I_PG1 : I_PG0,
                            V1_PSN);
        APR_ARRAY_PUSH(r->all, msg_t *) = m;
        queue_push(r, m);
    }
    apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, p);
    apr_thread_cond_create(&r->cond, p);
    run_workload(p, r);
    for (i = 0; i < N; i++) {
        m = APR_ARRAY_IDX(r->all, i, msg_t *);
        if (m->why) {
            fail_msg("%s", m->why);
        }
        if (m->outcome != OUT_SETTLED) {
            fail_msg("%s: answered %s while the ledger was migrated",
                     m->msgid, m->stas ? m->stas : "untouched");
        }
    }

    assert_no_error(hmb_ledger_open(p, env.pg_spec, &l));
    rows = rows_of(p, l, "SELECT value FROM hmb_meta"
                   " WHERE name = 'schema_version'");
    assert_int_equal(rows->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, const char **)[0],
                        apr_itoa(p, HMB_LEDGER_SCHEMA_VERSION));
    /* the 3 claims of version 1 kept their order, the new ones follow */
    rows = rows_of(p, l, "SELECT psn_seq, hmb_setl_id FROM hmb_claim"
                   " WHERE psn_no = '" V1_PSN "' ORDER BY psn_seq");
    assert_int_equal(rows->nelts, 3 + N);
    assert_string_equal(APR_ARRAY_IDX(rows, 0, const char **)[1],
                        "HMB-S0001");
    assert_string_equal(APR_ARRAY_IDX(rows, 2, const char **)[1],
                        "HMBR-S0001");
    for (i = 0; i < rows->nelts; i++) {
        assert_int_equal(atoi(APR_ARRAY_IDX(rows, i, const char **)[0]),
                         i + 1);
    }
    run_free(r);
    for (i = 0; i < 2; i++) {
        check_errors(p, i, 0, 0);
        check_no_crash(p, i);
    }
    ensure_enrolled();
}

typedef struct {
    apr_port_t port;
    const msg_t *m;
    const char *body;
    apr_size_t len;
    apr_time_t answered;
    char why[256];
} probe_t;

static void *APR_THREAD_FUNC probe_main(apr_thread_t *t, void *data)
{
    probe_t *pr = data;
    apr_pool_t *p;
    hmb_http_response_t *r;
    const char *why;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    why = hmb_http_once(p, pr->port, "POST", "/fsi/api/2304", xml_headers,
                        pr->m->req, pr->m->req_len, &r);
    pr->answered = apr_time_now();
    if (why) {
        apr_cpystrn(pr->why, why, sizeof(pr->why));
    }
    else if (r->status != 200 || !memmem(r->body, r->body_len,
                                         "<hmb_stas>paid</hmb_stas>", 25)) {
        apr_snprintf(pr->why, sizeof(pr->why), "status %d, not paid: %.300s",
                     r->status, r->body);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Settlements of one person wait for each other in the database, not in
 * httpd: with the person's row lock held by another connection (the
 * test's), a settlement of that person through either server waits
 * until it is released, while another person's goes through. */
static void test_pg_lock_serializes(void **state)
{
    apr_pool_t *p = *state;
    hmb_ledger_t *l;
    probe_t locked, other;
    apr_thread_t *t1, *t2;
    apr_status_t rv;
    apr_time_t released, started;
    const char *psn0 = apr_psprintf(p, PSN_FMT, 0);
    msg_t *m;
    int i;

    ensure_enrolled();
    memset(&locked, 0, sizeof(locked));
    memset(&other, 0, sizeof(other));
    /* covered discharges with something to pay */
    do {
        m = make_settlement(env.pool, 'L', 0, I_PG1, psn0);
    } while (strstr(m->req, "<med_type>11<") || strstr(m->req,
                                                       "_stas>2<"));
    m->sent = 1;
    locked.m = m;
    locked.port = env.inst[I_PG1].port;
    do {
        m = make_settlement(env.pool, 'L', 1, I_PG0,
                            apr_psprintf(env.pool, PSN_FMT, 1));
    } while (strstr(m->req, "<med_type>11<") || strstr(m->req,
                                                       "_stas>2<"));
    m->sent = 1;
    other.m = m;
    other.port = env.inst[I_PG0].port;

    assert_no_error(hmb_ledger_open(p, env.pg_spec, &l));
    assert_no_error(hmb_ledger_begin(l, p));
    assert_no_error(hmb_ledger_lock_person(l, p, "YCHMB", 2024, psn0));

    started = apr_time_now();
    assert_int_equal(apr_thread_create(&t1, NULL, probe_main, &locked, p),
                     APR_SUCCESS);
    assert_int_equal(apr_thread_create(&t2, NULL, probe_main, &other, p),
                     APR_SUCCESS);
    apr_thread_join(&rv, t2);
    assert_string_equal(other.why, "");
    /* give the locked one ample time: it must still be waiting */
    for (i = 0; i < 15 && !locked.answered; i++) {
        apr_sleep(apr_time_from_msec(100));
    }
    assert_true(locked.answered == 0);
    released = apr_time_now();
    assert_no_error(hmb_ledger_commit(l, p));
    apr_thread_join(&rv, t1);
    assert_string_equal(locked.why, "");
    assert_true(locked.answered >= released);
    printf("lock: the other person's settlement took %.0f ms; the locked "
           "person's was answered %.0f ms after the lock was released\n",
           (double)(other.answered - started) / 1000.0,
           (double)(locked.answered - released) / 1000.0);
}

static void test_pg_concurrency(void **state)
{
    run_cfg_t cfg;

    ensure_enrolled();
    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "pgsql, 2 servers";
    cfg.phase = 'A';
    cfg.insts[0] = I_PG0;
    cfg.insts[1] = I_PG1;
    cfg.ninst = 2;
    cfg.first_person = 0;
    cfg.npersons = 12;
    cfg.settlements = env.scale;
    concurrency_run(*state, &cfg, env.pg_spec);
}

static void test_sqlite_concurrency(void **state)
{
    run_cfg_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "sqlite, 1 server";
    cfg.phase = 'Q';
    cfg.insts[0] = I_SQLITE;
    cfg.ninst = 1;
    cfg.first_person = 0;
    cfg.npersons = 12;
    cfg.settlements = env.scale;
    concurrency_run(*state, &cfg, env.sqlite_spec);
}

/* Spool entries as a set of msgids (the request's), and how many. */
static int spool_msgids(apr_pool_t *p, const char *dir, apr_hash_t *ids)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        apr_size_t len, nl = strlen(e->d_name);
        char *text;
        const char *id;

        if (nl < 7 || strcmp(e->d_name + nl - 6, ".spool")) {
            continue;
        }
        text = hmb_test_slurp(p, apr_pstrcat(p, dir, "/", e->d_name, NULL),
                              &len);
        id = element(p, text, len, "msgid");
        assert_non_null(id);
        apr_hash_set(ids, id, APR_HASH_KEY_STRING, "");
        n++;
    }
    closedir(d);
    return n;
}

/* hmbctl replay of one spool; the number settled. */
static int replay_spool(apr_pool_t *p, int i, int expected)
{
    const char *spool = apr_pstrcat(p, env.inst[i].rundir, "/spool", NULL);
    const char *out = apr_pstrcat(p, env.top, "/replay-spool.out", NULL);
    const char *argv[] = {
        HMBCTL, "--ledger", env.pg_spec, "replay", "--spool", spool,
        "--plan", PLAN, NULL
    };
    apr_hash_t *left = apr_hash_make(p);
    char *text, *last;
    int replayed = -1, passed = -1, failed = -1;

    assert_no_error(run_to_file(p, argv, out));
    text = hmb_test_slurp(p, out, NULL);
    last = memmem_last(text, strlen(text), "replayed ")
           ? (char *)memmem_last(text, strlen(text), "replayed ") : text;
    assert_int_equal(sscanf(last, "replayed %d, not settleable %d, failed %d",
                            &replayed, &passed, &failed), 3);
    assert_int_equal(replayed, expected);
    assert_int_equal(passed, 0);
    assert_int_equal(failed, 0);
    /* each entry moved to done/, none left */
    assert_int_equal(spool_msgids(p, spool, left), 0);
    assert_int_equal(spool_msgids(p, apr_pstrcat(p, spool, "/done", NULL),
                                  left), expected);
    return replayed;
}

/* The same workload on PostgreSQL with faults in the middle of it. */
static void test_pg_faults(void **state)
{
    apr_pool_t *p = *state;
    run_cfg_t cfg;
    run_t *r;
    figures_t f;
    apr_off_t from[NINST];
    apr_hash_t *spooled = apr_hash_make(p);
    int entries[NINST], i, k, resent = 0, n308 = 0, n309 = 0;
    apr_time_t t0;
    hmb_http_conn_t *c[NINST];

    ensure_enrolled();
    memset(&cfg, 0, sizeof(cfg));
    cfg.label = "pgsql, 2 servers, faults";
    cfg.phase = 'B';
    cfg.insts[0] = I_PG0;
    cfg.insts[1] = I_PG1;
    cfg.ninst = 2;
    cfg.first_person = 12;
    cfg.npersons = 12;
    cfg.settlements = env.scale * 3 / 4;
    cfg.faults = 1;
    memset(&f, 0, sizeof(f));
    for (k = 0; k < NINST; k++) {
        from[k] = log_size(k);
    }
    r = run_make(p, &cfg);
    r->pace_ms = THREADS * FAULT_RUN_SECONDS * 1000 / r->all->nelts;
    t0 = apr_time_now();
    run_workload(p, r);
    count_answers(r->all, &f);
    for (i = 0; i < THREADS; i++) {
        f.stale += r->workers[i].stale;
    }
    printf("%s: %d messages in %.1f s with %d clients\n", cfg.label, f.sent,
           (double)(apr_time_now() - t0) / APR_USEC_PER_SEC, THREADS);
    /* the faults showed: some answers were deferred, some untouched, some
     * connections cut */
    assert_true(f.deferred > 0);
    assert_true(f.untouched > 0);
    assert_true(f.cut >= 2);

    /* every deferred answer's message is in a spool, and each spool entry
     * and each untouched answer was logged once */
    for (k = 0; k < cfg.ninst; k++) {
        int in = cfg.insts[k];
        entries[in] = spool_msgids(p, apr_pstrcat(p, env.inst[in].rundir,
                                                  "/spool", NULL), spooled);
        n309 += log_count(p, in, from[in], "HMB00309: ");
        n308 += log_count(p, in, from[in], "HMB00308: ");
        assert_int_equal(log_count(p, in, from[in], "HMB00309: "),
                         entries[in]);
    }
    for (i = 0; i < r->all->nelts; i++) {
        const msg_t *m = APR_ARRAY_IDX(r->all, i, const msg_t *);
        if (m->sent && m->first == OUT_DEFERRED
            && !apr_hash_get(spooled, m->msgid, APR_HASH_KEY_STRING)) {
            fail_msg("%s was answered deferred but is in no spool",
                     m->msgid);
        }
    }
    /* one logged failure per untouched answer, or more (an answer that
     * was then cut off and sent again) */
    assert_true(n308 >= f.untouched);

    /* the fault is over: what went through untouched is sent again */
    for (k = 0; k < NINST; k++) {
        c[k] = hmb_http_conn_make(p, "127.0.0.1", env.inst[k].port);
    }
    for (i = 0; i < r->all->nelts; i++) {
        msg_t *m = APR_ARRAY_IDX(r->all, i, msg_t *);
        worker_t w;

        if (!m->sent || m->first != OUT_UNTOUCHED) {
            continue;
        }
        memset(&w, 0, sizeof(w));
        w.keep = p;
        apr_pool_create(&w.scratch, p);
        w.conn[m->inst] = c[m->inst];
        send_msg(&w, m);
        if (m->why) {
            fail_msg("%s", m->why);
        }
        if (m->outcome != OUT_SETTLED) {
            fail_msg("%s sent again after the faults: %s", m->msgid,
                     m->outcome == OUT_DEFERRED ? "deferred" : "untouched");
        }
        resent++;
    }
    assert_int_equal(resent, f.untouched);

    /* hmbctl replay settles each spooled message exactly once */
    for (k = 0; k < cfg.ninst; k++) {
        int in = cfg.insts[k];
        f.replayed += replay_spool(p, in, entries[in]);
    }
    assert_true(f.replayed >= f.deferred);
    /* and the servers see their spools empty */
    for (k = 0; k < cfg.ninst; k++) {
        hmb_http_response_t *st;
        assert_no_error(hmb_http_once(p, env.inst[cfg.insts[k]].port, "GET",
                                      "/huiminbao-status?auto", NULL, NULL,
                                      0, &st));
        assert_int_equal(st->status, 200);
        if (!strstr(st->body, "SpoolPending: 0\n")) {
            fail_msg("%s after the replay:\n%s",
                     env.inst[cfg.insts[k]].fixmedins_code, st->body);
        }
    }

    f.lost = check_ledger(&cfg, env.pg_spec, r->all);
    for (k = 0; k < cfg.ninst; k++) {
        check_errors(p, cfg.insts[k], from[cfg.insts[k]], 1);
        check_no_crash(p, cfg.insts[k]);
    }
    print_figures(cfg.label, &f);
    run_free(r);
    assert_int_equal(f.lost, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_migrated_by_httpd,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_pg_lock_serializes,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_pg_concurrency,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_pg_faults,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_concurrency,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };
    int failed;

    setvbuf(stdout, NULL, _IOLBF, 0);
    apr_initialize();
    if (getenv("HMB_SHARED_FILTER")) {
        /* e.g. "test_sqlite*" to run one case while working on it */
        cmocka_set_test_filter(getenv("HMB_SHARED_FILTER"));
    }
    failed = cmocka_run_group_tests_name("integration: shared ledger", tests,
                                         group_setup, group_teardown);
    if (runs_done) {
        printf("shared ledger: sent %d, settled %d, deferred %d, replayed %d, "
               "untouched %d (resent), cut %d (resent), lost %d\n",
               all_runs.sent, all_runs.settled, all_runs.deferred,
               all_runs.replayed, all_runs.untouched, all_runs.cut,
               all_runs.lost);
    }
    if (*top_left) {
        if (failed || getenv("HMB_KEEP_RUNDIR")) {
            fprintf(stderr, "run directory kept for inspection: %s\n",
                    top_left);
            if (*pgtop_left) {
                fprintf(stderr, "PostgreSQL directory kept for inspection: "
                        "%s\n", pgtop_left);
            }
        }
        else {
            apr_pool_t *p;
            const char *rm[] = { "/bin/rm", "-rf", top_left,
                                 *pgtop_left ? pgtop_left : NULL, NULL };
            apr_pool_create(&p, NULL);
            hmb_it_run(p, rm, apr_time_from_sec(60));
            apr_pool_destroy(p);
        }
    }
    apr_terminate();
    return failed ? 1 : 0;
}
