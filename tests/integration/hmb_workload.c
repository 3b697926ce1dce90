/* The settlement workload of the shared-ledger integration tests (see
 * hmb_workload.h): messages and what the upstream answers to them, the
 * client threads, the judgement of each answer, and the checks of the
 * ledger afterwards.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "hmb_workload.h"
#include "hmb_settle.h"

#include <apr_atomic.h>

wl_env_t wl;

/* the clusters' own directory in /tmp, when the run directory's path is
 * too long for their sockets: removed with the run directory */
static char pgtop[64];

/* xorshift64*: the workload is reproducible from the seed printed. */
static apr_uint64_t rnd(void)
{
    wl.rng ^= wl.rng >> 12;
    wl.rng ^= wl.rng << 25;
    wl.rng ^= wl.rng >> 27;
    return wl.rng * 2685821657736338717ULL;
}

int wl_rnd_below(int n)
{
    return (int)((rnd() >> 33) % (apr_uint64_t)n);
}

static const char *fen_str(apr_pool_t *p, apr_int64_t fen)
{
    return apr_psprintf(p, "%s%" APR_INT64_T_FMT ".%02d", fen < 0 ? "-" : "",
                        (fen < 0 ? -fen : fen) / 100,
                        (int)((fen < 0 ? -fen : fen) % 100));
}

/* The upstream's answer to a request: the template with each {{name}}
 * replaced by the request's first <name> element (hmb-sandbox's rule;
 * test_shared's test_pg_migrated_by_httpd checks that the two agree). */
static char *render(apr_pool_t *p, const char *req, apr_size_t req_len,
                    apr_size_t *out_len)
{
    apr_array_header_t *out = apr_array_make(p, (int)wl.tpl_len + 256, 1);
    const char *s = wl.tpl, *end = wl.tpl + wl.tpl_len;

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
        v = hmb_it_element(p, req, req_len,
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

/* --- servers ------------------------------------------------------------ */

const char *wl_hmbctl_enroll(const char *spec)
{
    static const char *const plans[] = { PLAN, NULL };

    return hmb_it_enroll(wl.pool, wl.top, spec, plans, ENROLL,
                         "imported 24 ");
}

const char *wl_pg_dir(const char *name)
{
    const char *dir = apr_pstrcat(wl.pool, wl.top, "/", name, NULL);

    if (strlen(dir) <= 80 && !*pgtop) {
        return dir;
    }
    /* a unix socket path must stay short */
    if (!*pgtop) {
        char *alt = apr_pstrdup(wl.pool, "/tmp/hmb-pg-XXXXXX");
        if (!mkdtemp(alt)) {
            return NULL;
        }
        /* the server's user must reach the cluster below it */
        chmod(alt, 0755);
        apr_cpystrn(pgtop, alt, sizeof(pgtop));
        hmb_it_leave_later(pgtop);
    }
    return apr_pstrcat(wl.pool, pgtop, "/", name, NULL);
}

int wl_getenv_int(const char *name, int def, int min)
{
    const char *v = getenv(name);
    int n = v && *v ? atoi(v) : def;

    return n < min ? min : n;
}

const char *wl_setup(const char *tag, const char *seed_var, int ninst)
{
    static const char *const codes[WL_MAX_INST] = {
        "H36090200001", "H36090200002", "H36090200003"
    };
    static const char *const names[WL_MAX_INST] = {
        "宜春市人民医院", "宜春市中医院", "袁州区人民医院"
    };
    static const char *const more[] = {
        /* a worker per connection: enough for every httpd worker of the
         * servers to keep one open */
        "--threads", "400", "--keepalive-seconds", "10", NULL
    };
    apr_pool_t *p;
    const char *why = NULL, *seed, *dir;
    int i;

    memset(&wl, 0, sizeof(wl));
    *pgtop = '\0';
    if (hmb_it_group_begin(tag, &wl.pool, &wl.top)) {
        return "setup failed";
    }
    p = wl.pool;
    dir = wl.top;
    wl.ninst = ninst;
    seed = getenv(seed_var);
    wl.rng = seed && *seed ? (apr_uint64_t)apr_atoi64(seed)
                           : (apr_uint64_t)apr_time_now();
    if (!wl.rng) {
        wl.rng = 1;
    }
    printf("%s: %s=%" APR_UINT64_T_FMT " reproduces this workload\n", tag,
           seed_var, wl.rng);
    wl.by_msgid = apr_hash_make(p);
    /* httpd's children and PostgreSQL run as other users: they must be
     * able to reach their directories below this one */
    chmod(dir, 0755);
    wl.msgdir = apr_pstrcat(p, dir, "/msgs", NULL);
    wl.updir = apr_pstrcat(p, dir, "/upstream", NULL);
    if (apr_dir_make(wl.msgdir, APR_FPROT_OS_DEFAULT, p)
        || apr_dir_make(wl.updir, APR_FPROT_OS_DEFAULT, p)) {
        why = "cannot create msgs/ or upstream/";
    }
    for (i = 0; !why && i < ninst; i++) {
        wl.inst[i].rundir = apr_psprintf(p, "%s/h%d", dir, i);
        wl.inst[i].fixmedins_code = codes[i];
        wl.inst[i].fixmedins_name = names[i];
        if (apr_dir_make_recursive(apr_pstrcat(p, wl.inst[i].rundir,
                                               "/ledger", NULL),
                                   APR_FPROT_OS_DEFAULT, p)) {
            why = "cannot create an instance directory";
        }
        else {
            why = hmb_it_free_port(p, &wl.inst[i].port);
        }
    }
    if (!why) {
        wl.tpl = hmb_test_slurp(p, FIXDIR "/_template.xml", &wl.tpl_len);
        /* a copy, beside which a test can put an answer of its own */
        why = hmb_it_write_file(p, apr_pstrcat(p, wl.updir,
                                               "/_template.xml", NULL),
                                wl.tpl, wl.tpl_len);
    }
    if (!why) {
        why = hmb_it_free_port(p, &wl.up_port);
    }
    if (!why) {
        why = hmb_it_start_upstream(p, dir, "upstream", wl.up_port, wl.updir,
                                    more);
    }
    return hmb_it_group_end(why, hmb_it_group_teardown, NULL)
           ? "setup failed" : NULL;
}

/* Instance i's configuration: the module, the plan, its own spool, the
 * given ledger lines, and the upstream behind /fsi/api. */
const char *wl_start_httpd(int i, const char *dbd_lines)
{
    static const char *const plans[] = { PLAN, NULL };
    static const char more[] =
        "DBDMax 16\n"
        "# under ulimit -c, a child that crashes leaves its core here\n"
        "CoreDumpDirectory \"${HMB_RUNDIR}/ledger\"\n";
    const char *conf = hmb_it_module_conf(wl.pool, plans, dbd_lines,
                                          wl.up_port, NULL, more);
    return hmb_it_start_httpd(wl.pool, wl.inst[i].rundir, wl.inst[i].port,
                              "shared.conf", conf);
}

/* --- the workload ------------------------------------------------------- */

static const char *new_msgid(apr_pool_t *p, char phase)
{
    return apr_psprintf(p, "HMBSH%c%08d", phase, ++wl.seq);
}

static void record_msg(apr_pool_t *p, msg_t *m)
{
    apr_size_t len;

    m->up = render(p, m->req, m->req_len, &len);
    m->up_len = len;
    apr_hash_set(wl.by_msgid, m->msgid, APR_HASH_KEY_STRING, m);
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, wl.msgdir, "/",
                                                     m->msgid, ".req.xml",
                                                     NULL),
                                      m->req, m->req_len));
    assert_no_error(hmb_it_write_file(p, apr_pstrcat(p, wl.msgdir, "/",
                                                     m->msgid, ".resp.xml",
                                                     NULL),
                                      m->up, m->up_len));
}

static const char *envelope(apr_pool_t *p, const char *infno,
                            const char *msgid, int inst,
                            const char *inf_time, const char *data)
{
    return hmb_it_envelope_from(p, infno, msgid, wl.inst[inst].fixmedins_code,
                                wl.inst[inst].fixmedins_name, inf_time, data);
}

/* A discharge of person `person` in 2024 with amounts chosen at random:
 * the amounts go in the request, and the template puts them in the
 * upstream's answer. */
msg_t *wl_make_settlement(apr_pool_t *p, char phase, int person, int inst,
                          const char *psn_no)
{
    msg_t *m = apr_pcalloc(p, sizeof(*m));
    apr_int64_t part = 30000 + wl_rnd_below(470001);          /* 300-5000 */
    apr_int64_t ownpay = wl_rnd_below(10) < 3
                         ? 0 : wl_rnd_below((int)(part < 150000 ? part
                                                                 : 150000)
                                            + 1);
    apr_int64_t fund = 50000 + wl_rnd_below(2000001);
    apr_int64_t acct = wl_rnd_below(20001);
    apr_int64_t medfee = fund + part;
    const char *med_type = wl_rnd_below(100) < 5 ? "11" : "21";
    const char *insu = wl_rnd_below(100) < 3 ? "2" : "1";
    const char *when = apr_psprintf(p, "2024-%02d-%02d %02d:%02d:%02d",
                                    1 + wl_rnd_below(12),
                                    1 + wl_rnd_below(28), wl_rnd_below(24),
                                    wl_rnd_below(60), wl_rnd_below(60));
    const char *data;

    if (acct > part) {
        acct = part;
    }
    m->kind = 'S';
    m->person = person;
    m->inst = inst;
    m->msgid = new_msgid(p, phase);
    m->setl_id = apr_psprintf(p, "S%c%08d", phase, wl.seq);
    data = apr_pstrcat(p,
        "<psn_no>", psn_no, "</psn_no>",
        "<mdtrt_id>", apr_psprintf(p, "M%c%08d", phase, wl.seq),
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

/* A message of kind about settlement s: its person, hospital and
 * setl_id, a msgid of its own. */
static msg_t *msg_about(apr_pool_t *p, char phase, char kind, msg_t *s)
{
    msg_t *m = apr_pcalloc(p, sizeof(*m));

    m->kind = kind;
    m->person = s->person;
    m->inst = s->inst;
    m->orig = s;
    m->setl_id = s->setl_id;
    m->msgid = new_msgid(p, phase);
    return m;
}

/* The same settlement again, as a HIS sends it after a timeout: a new
 * msgid, the same discharge. */
msg_t *wl_make_duplicate(apr_pool_t *p, char phase, msg_t *s)
{
    msg_t *m = msg_about(p, phase, 'D', s);
    const char *at = strstr(s->req, "<msgid>");
    const char *end = strstr(at, "</msgid>");

    m->req = apr_pstrcat(p, apr_pstrmemdup(p, s->req,
                                           (apr_size_t)(at - s->req)),
                         "<msgid>", m->msgid, end, NULL);
    m->req_len = strlen(m->req);
    record_msg(p, m);
    return m;
}

/* Its cancellation (2305): data names the settlement; the upstream's
 * answer has a setl_id of its own. */
msg_t *wl_make_cancel(apr_pool_t *p, char phase, msg_t *s)
{
    msg_t *m = msg_about(p, phase, 'R', s);
    apr_pool_t *tp;
    const char *data = strstr(s->req, "<data>") + 6;
    const char *data_end = strstr(s->req, "</data>");
    const char *rest, *psn, *mdtrt, *when;

    apr_pool_create(&tp, p);
    psn = hmb_it_element(tp, s->req, s->req_len, "psn_no");
    mdtrt = hmb_it_element(tp, s->req, s->req_len, "mdtrt_id");
    when = apr_psprintf(tp, "2024-12-%02d %02d:%02d:%02d",
                        1 + wl_rnd_below(28), wl_rnd_below(24),
                        wl_rnd_below(60), wl_rnd_below(60));
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


/* The queue holds each message at most once: q_cap is enough. */
void wl_queue_push(run_t *r, msg_t *m)
{
    r->q[r->q_tail++] = m;
    m->sent = 1;
}

/* Is the answer right for this message? Sets outcome, stas, hmbinfo or
 * why. Runs in worker threads: no CMocka here. */
static void classify(worker_t *w, msg_t *m, const hmb_http_response_t *r)
{
    const char *end = hmb_it_memmem_last(m->up, m->up_len, "</output>");
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
    stas = hmb_it_element(w->keep, ins, ins_len, "hmb_stas");
    if (!stas) {
        m->why = apr_psprintf(w->keep, "%s: <hmbinfo> without hmb_stas",
                              m->msgid);
        return;
    }
    o = !strcmp(stas, "deferred") ? OUT_DEFERRED : OUT_SETTLED;
    /* a repetition that comes after its settlement's cancellation is
     * told so: nothing paid, settlement_reversed */
    if (o == OUT_SETTLED && m->kind == 'D' && !strcmp(stas, "no_claim")) {
        const char *rea = hmb_it_element(w->keep, ins, ins_len, "rea_code");

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
void wl_send_msg(worker_t *w, msg_t *m)
{
    hmb_http_conn_t *c = w->conn[m->inst];
    const char *path = m->kind == 'R' ? "/fsi/api/2305" : "/fsi/api/2304";
    hmb_http_response_t *r = NULL;
    const char *why = NULL;
    int attempt;

    for (attempt = 0; attempt < MAX_SENDS; attempt++) {
        apr_pool_clear(w->scratch);
        why = hmb_http_request(c, w->scratch, "POST", path, hmb_it_xml,
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
    if (!m->answered) {
        m->answered = apr_time_now();
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

        wl_send_msg(w, m);
        m->first = m->outcome;

        apr_thread_mutex_lock(r->lock);
        r->in_flight--;
        if (m->kind == 'S') {
            apr_atomic_inc32(&r->settlements_done);
            /* a cancellation only once the settlement has been answered,
             * and only of one that was paid */
            if (m->cancel && m->outcome == OUT_SETTLED
                && !strcmp(m->stas, "paid")) {
                wl_queue_push(r, m->cancel);
            }
            if (m->dup && !m->dup_racing) {
                wl_queue_push(r, m->dup);
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

run_t *wl_run_make(apr_pool_t *p, const run_cfg_t *cfg)
{
    run_t *r = apr_pcalloc(p, sizeof(*r));
    apr_array_header_t *order;
    int i;

    r->cfg = cfg;
    r->all = apr_array_make(p, cfg->settlements * 2, sizeof(msg_t *));
    order = apr_array_make(p, cfg->settlements, sizeof(msg_t *));
    for (i = 0; i < cfg->settlements; i++) {
        int person = cfg->first_person + wl_rnd_below(cfg->npersons);
        int inst = cfg->insts[wl_rnd_below(cfg->ninst)];
        msg_t *s = wl_make_settlement(wl.pool, cfg->phase, person, inst,
                                      apr_psprintf(wl.pool, PSN_FMT,
                                                   person));

        APR_ARRAY_PUSH(r->all, msg_t *) = s;
        APR_ARRAY_PUSH(order, msg_t *) = s;
        if (wl_rnd_below(100) < 10) {
            s->dup = wl_make_duplicate(wl.pool, cfg->phase, s);
            s->dup_racing = wl_rnd_below(2);
            APR_ARRAY_PUSH(r->all, msg_t *) = s->dup;
        }
        if (wl_rnd_below(100) < 15) {
            s->cancel = wl_make_cancel(wl.pool, cfg->phase, s);
            APR_ARRAY_PUSH(r->all, msg_t *) = s->cancel;
        }
    }
    r->q_cap = r->all->nelts + 1;
    r->q = apr_pcalloc(p, sizeof(msg_t *) * r->q_cap);
    /* settlements in random order, a racing repetition right behind its
     * settlement, so that two threads pick them up together */
    for (i = 0; i < order->nelts; i++) {
        msg_t *s = APR_ARRAY_IDX(order, i, msg_t *);
        wl_queue_push(r, s);
        if (s->dup && s->dup_racing) {
            wl_queue_push(r, s->dup);
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

void wl_run_workload(apr_pool_t *p, run_t *r)
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
        for (k = 0; k < wl.ninst; k++) {
            w->conn[k] = hmb_http_conn_make(w->keep, "127.0.0.1",
                                            wl.inst[k].port);
            hmb_http_set_retry_stale(w->conn[k], 1);
            hmb_http_set_timeout(w->conn[k], apr_time_from_sec(30));
        }
        assert_int_equal(apr_thread_create(&t[i], NULL, worker_main, w, p),
                         APR_SUCCESS);
    }
    if (r->cfg->during) {
        r->cfg->during(r);
    }
    for (i = 0; i < THREADS; i++) {
        apr_status_t rv;
        int k;

        apr_thread_join(&rv, t[i]);
        for (k = 0; k < wl.ninst; k++) {
            r->workers[i].stale += hmb_http_retries(r->workers[i].conn[k]);
            hmb_http_close(r->workers[i].conn[k]);
        }
    }
}

int wl_run_finished(run_t *r)
{
    int finished;

    apr_thread_mutex_lock(r->lock);
    finished = r->q_head == r->q_tail && r->in_flight == 0;
    apr_thread_mutex_unlock(r->lock);
    return finished;
}

void wl_run_free(run_t *r)
{
    int i;

    for (i = 0; i < THREADS; i++) {
        if (r->workers[i].keep) {
            apr_pool_destroy(r->workers[i].keep);
            r->workers[i].keep = NULL;
        }
    }
}

/* --- checking the ledger ------------------------------------------------ */

/* Every row of sql, every column as a string ("" for NULL); a reason
 * when the query failed. */
static const char *select_rows(apr_pool_t *p, const apr_dbd_driver_t *drv,
                               apr_dbd_t *h, const char *sql,
                               apr_array_header_t **rows)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv = apr_dbd_select(drv, p, h, &res, sql, 1), n, i;

    *rows = apr_array_make(p, 64, sizeof(const char **));
    if (rv) {
        return apr_psprintf(p, "%s: %s", sql, apr_dbd_error(drv, h, rv));
    }
    n = apr_dbd_num_cols(drv, res);
    while (apr_dbd_get_row(drv, p, res, &row, -1) == 0) {
        const char **v = apr_pcalloc(p, sizeof(*v) * (n + 1));
        for (i = 0; i < n; i++) {
            const char *e = apr_dbd_get_entry(drv, row, i);
            v[i] = apr_pstrdup(p, e ? e : "");
        }
        APR_ARRAY_PUSH(*rows, const char **) = v;
    }
    return NULL;
}

apr_array_header_t *wl_rows_of(apr_pool_t *p, hmb_ledger_t *l,
                               const char *sql)
{
    apr_array_header_t *rows;
    const char *why = select_rows(p, l->driver, l->handle, sql, &rows);

    if (why) {
        fail_msg("%s", why);
    }
    return rows;
}

const char *wl_server_rows(apr_pool_t *p, const char *conninfo,
                           const char *sql, apr_array_header_t **rows)
{
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h = NULL;
    const char *err = NULL;

    *rows = NULL;
    if (apr_dbd_init(p) != APR_SUCCESS
        || apr_dbd_get_driver(p, "pgsql", &drv) != APR_SUCCESS) {
        return "no apr_dbd pgsql driver";
    }
    if (apr_dbd_open_ex(drv, p, conninfo, &h, &err) != APR_SUCCESS || !h) {
        return apr_psprintf(p, "cannot open %s: %s", conninfo,
                            err ? err : "?");
    }
    err = select_rows(p, drv, h, sql, rows);
    apr_dbd_close(drv, h);
    return err;
}

/* How many rows a query that should find none finds; the first is
 * shown. */
static int unwanted_rows(apr_pool_t *p, hmb_ledger_t *l, const char *label,
                         const char *what, const char *sql)
{
    apr_array_header_t *rows = wl_rows_of(p, l, sql);

    if (rows->nelts) {
        const char **v = APR_ARRAY_IDX(rows, 0, const char **);
        fprintf(stderr, "%s: %s: %d rows, the first %s %s %s\n", label,
                what, rows->nelts, v[0], v[1] ? v[1] : "",
                v[1] && v[2] ? v[2] : "");
    }
    return rows->nelts;
}

static const char *spliced_of(apr_pool_t *p, const msg_t *m, const char *out,
                              apr_size_t len)
{
    const char *end = hmb_it_memmem_last(m->up, m->up_len, "</output>");
    apr_size_t k = (apr_size_t)(end - m->up);

    if (len <= m->up_len || memcmp(out, m->up, k)) {
        fail_msg("settle %s: output does not start as the upstream's",
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
 * messages sent to it. */
void wl_check_ledger(const run_cfg_t *cfg, const char *spec,
                     apr_array_header_t *msgs, figures_t *f)
{
    const char *label = cfg->label;
    const char *who;
    apr_pool_t *p;
    hmb_ledger_t *l, *seq_l;
    hmb_settle_ctx_t sc;
    hmb_plan_t *plan;
    apr_array_header_t *plans;
    apr_array_header_t *claims, *liabs;
    apr_hash_t *claimed;
    const char *seq_spec, *seq_db, *prev = "";
    int i, next = 0, capped = 0, replayed = 0, people = 0;
    apr_time_t t0 = apr_time_now();

    apr_pool_create(&p, wl.pool);
    assert_no_error(hmb_ledger_open(p, spec, &l));
    who = apr_psprintf(p, "psn_no BETWEEN '" PSN_FMT "' AND '" PSN_FMT "'",
                       cfg->first_person,
                       cfg->first_person + cfg->npersons - 1);

    /* (c) one claim per kind and setl_id; every reversal reverses a
     * settlement; the totals are the sums of the claims */
    f->lost = f->differs = 0;
    f->twice = unwanted_rows(p, l, label, "a setl_id counted twice",
                   "SELECT kind, setl_id, COUNT(*) FROM hmb_claim"
                   " GROUP BY kind, setl_id HAVING COUNT(*) > 1");
    if (unwanted_rows(p, l, label, "a reversal without its settlement",
                   "SELECT r.setl_id, r.hmb_setl_id, r.reverses"
                   " FROM hmb_claim r LEFT JOIN hmb_claim s"
                   " ON s.kind = 'S' AND s.setl_id = r.setl_id"
                   " AND s.hmb_setl_id = r.reverses"
                   " WHERE r.kind = 'R' AND s.setl_id IS NULL")) {
        fail_msg("%s: a reversal without its settlement", label);
    }
    f->twice += unwanted_rows(p, l, label,
                   "claims whose sums are not in hmb_total",
                   "SELECT c.psn_no, c.plan_code, c.plan_year, l.liab_code,"
                   " SUM(l.elig_amt), SUM(l.pay_amt)"
                   " FROM hmb_claim c JOIN hmb_claim_liab l"
                   " ON l.hmb_setl_id = c.hmb_setl_id"
                   " GROUP BY c.psn_no, c.plan_code, c.plan_year, l.liab_code"
                   " EXCEPT SELECT psn_no, plan_code, plan_year, liab_code,"
                   " elig_amt, paid_amt FROM hmb_total");
    f->twice += unwanted_rows(p, l, label,
                   "hmb_total rows that are not the claims' sums",
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
    claims = wl_rows_of(p, l, apr_pstrcat(p, "SELECT psn_no, psn_seq, kind,"
                                          " setl_id, msgid, hmbinfo,"
                                          " plan_code, plan_year"
                                          " FROM hmb_claim WHERE ", who,
                                          " ORDER BY psn_no, psn_seq",
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
            f->lost++;
            continue;
        }
        /* what the billing desk was shown is what the ledger holds */
        if (m->outcome == OUT_SETTLED && strcmp(m->hmbinfo, v[5])) {
            fprintf(stderr, "%s: %s was answered %s but the ledger holds "
                    "%s\n", label, m->msgid, m->hmbinfo, v[5]);
            f->differs++;
        }
        if (m->dup && m->dup->sent && m->dup->outcome == OUT_SETTLED
            && strcmp(m->dup->stas, "no_claim")
            && strcmp(m->dup->hmbinfo, v[5])) {
            fprintf(stderr, "%s: the repetition %s was answered %s, not the "
                    "stored %s\n", label, m->dup->msgid, m->dup->hmbinfo,
                    v[5]);
            f->differs++;
        }
    }

    /* (a) replay, person by person in psn_seq order, by a single clerk:
     * what `hmbctl settle` does with each message (hmb_settle_message on
     * a ledger of its own), in this process, one message after another
     * (a process per message took minutes of the test command) */
    seq_db = apr_psprintf(p, "%s/replay-%c.db", wl.top, cfg->phase);
    seq_spec = apr_pstrcat(p, "sqlite3:", seq_db, NULL);
    apr_file_remove(seq_db, p);
    assert_no_error(wl_hmbctl_enroll(seq_spec));
    assert_no_error(hmb_ledger_open(p, seq_spec, &seq_l));
    memset(&sc, 0, sizeof(sc));
    plans = apr_array_make(p, 1, sizeof(hmb_plan_t *));
    assert_no_error(hmb_plan_load(p, PLAN, &plan));
    APR_ARRAY_PUSH(plans, hmb_plan_t *) = plan;
    sc.plans = plans;
    sc.ledger = seq_l;
    for (i = 0; i < claims->nelts; i++) {
        const char **v = APR_ARRAY_IDX(claims, i, const char **);
        const msg_t *m = apr_hash_get(wl.by_msgid, v[4],
                                      APR_HASH_KEY_STRING);
        const char *req = apr_pstrcat(p, wl.msgdir, "/", v[4], ".req.xml",
                                      NULL);
        const char *resp = apr_pstrcat(p, wl.msgdir, "/", v[4],
                                       ".resp.xml", NULL);
        hmb_settle_result_t *res;
        apr_pool_t *cp;
        char *req_bytes, *resp_bytes;
        apr_size_t req_len, resp_len;

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
        req_bytes = hmb_test_slurp(cp, req, &req_len);
        resp_bytes = hmb_test_slurp(cp, resp, &resp_len);
        res = hmb_settle_message(cp, &sc, req_bytes, req_len, resp_bytes,
                                 resp_len);
        if (res->outcome != HMB_OUT_SPLICED) {
            fail_msg("%s: %s (psn_seq %s of %s) replayed: not settled: %s",
                     label, v[4], v[1], v[0],
                     res->reason ? res->reason : "?");
        }
        if (strcmp(spliced_of(cp, m, res->out, res->out_len), v[5])) {
            fail_msg("%s: %s (psn_seq %s of %s) replayed gives\n%s\nthe "
                     "shared ledger holds\n%s", label, v[4], v[1], v[0],
                     spliced_of(cp, m, res->out, res->out_len), v[5]);
        }
        apr_pool_destroy(cp);
        replayed++;
    }

    /* every claim and every total, field by field */
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
    liabs = wl_rows_of(p, l, apr_pstrcat(p, "SELECT c.psn_no, c.psn_seq,"
                                         " l.liab_code, l.pay_amt, l.cap"
                                         " FROM hmb_claim c"
                                         " JOIN hmb_claim_liab l"
                                         " ON l.hmb_setl_id = c.hmb_setl_id"
                                         " WHERE c.", who,
                                         " ORDER BY c.psn_no, c.psn_seq,"
                                         " l.seq", NULL));
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
    printf("%s: %d claims of %d people replayed in order by a single clerk: "
           "identical (%d people reached a cap; %.1f s)\n", label, replayed,
           people, capped, (double)(apr_time_now() - t0) / APR_USEC_PER_SEC);
    apr_pool_destroy(p);
}

void wl_assert_exact(const figures_t *f)
{
    assert_int_equal(f->lost, 0);
    assert_int_equal(f->differs, 0);
    assert_int_equal(f->twice, 0);
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
int wl_log_count(apr_pool_t *p, int i, apr_off_t from, const char *needle)
{
    apr_size_t len;
    char *log = hmb_it_log(p, wl.inst[i].rundir, "error_log", &len);
    const char *s = log + ((apr_size_t)from < len ? (apr_size_t)from : len);
    int n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s += strlen(needle);
    }
    return n;
}

apr_off_t wl_log_size(int i)
{
    struct stat st;

    if (stat(apr_pstrcat(wl.pool, wl.inst[i].rundir, "/logs/error_log",
                         NULL), &st)) {
        return 0;
    }
    return st.st_size;
}

void wl_check_errors(apr_pool_t *p, int i, apr_off_t from,
                     const char *const *allowed)
{
    apr_size_t len;
    char *log = hmb_it_log(p, wl.inst[i].rundir, "error_log", &len);
    char *line, *save = NULL;
    const char *const *a;

    if ((apr_size_t)from > len) {
        from = (apr_off_t)len;
    }
    for (line = apr_strtok(log + from, "\n", &save); line;
         line = apr_strtok(NULL, "\n", &save)) {
        if (!strstr(line, ":error] ") && !strstr(line, ":crit] ")
            && !strstr(line, ":alert] ") && !strstr(line, ":emerg] ")) {
            continue;
        }
        for (a = allowed; a && *a && !strstr(line, *a); a++) {
        }
        if (a && *a) {
            continue;
        }
        fail_msg("%s error log: %s", wl.inst[i].fixmedins_code, line);
    }
}

/* No child died but those the test killed (SIGKILL is not logged). */
void wl_check_no_crash(apr_pool_t *p, int i)
{
    if (wl_log_count(p, i, 0, "AH00052: ")
        || wl_log_count(p, i, 0, "AH00051: ")) {
        fail_msg("an httpd child of %s crashed: see %s/logs/error_log",
                 wl.inst[i].fixmedins_code, wl.inst[i].rundir);
    }
}

/* Spool entries as a set of msgids (the request's), and how many. */
int wl_spool_msgids(apr_pool_t *p, const char *dir, apr_hash_t *ids)
{
    apr_array_header_t *files = hmb_it_files(p, dir, ".spool");
    int i;

    for (i = 0; i < files->nelts; i++) {
        apr_size_t len;
        char *text = hmb_test_slurp(p, APR_ARRAY_IDX(files, i, const char *),
                                    &len);
        const char *id = hmb_it_element(p, text, len, "msgid");

        assert_non_null(id);
        apr_hash_set(ids, id, APR_HASH_KEY_STRING, "");
    }
    return files->nelts;
}

/* hmbctl replay of instance i's spool into the ledger at spec: every one
 * of its `expected` entries settled and moved to done/; the number
 * settled, and in *recorded how many of them the ledger had already. */
static int replay_spool(apr_pool_t *p, int i, int expected, const char *spec,
                        int *recorded)
{
    const char *spool = apr_pstrcat(p, wl.inst[i].rundir, "/spool", NULL);
    const char *text = hmb_it_hmbctl(p, wl.top, NULL, spec, 0, "replay",
                                     "--spool", spool, "--plan", PLAN, NULL);
    apr_hash_t *left = apr_hash_make(p);
    const char *last, *s;
    int replayed = -1, passed = -1, failed = -1;

    last = hmb_it_memmem_last(text, strlen(text), "replayed ");
    if (!last) {
        last = text;
    }
    /* one line per entry; this marks those the ledger had already, as a
     * claim committed while its answer was lost */
    *recorded = 0;
    for (s = text; (s = strstr(s, " (already recorded)\n")) != NULL; s++) {
        (*recorded)++;
    }
    assert_int_equal(sscanf(last, "replayed %d, not settleable %d, failed %d",
                            &replayed, &passed, &failed), 3);
    assert_int_equal(replayed, expected);
    assert_int_equal(passed, 0);
    assert_int_equal(failed, 0);
    /* each entry moved to done/, none left */
    assert_int_equal(wl_spool_msgids(p, spool, left), 0);
    assert_int_equal(wl_spool_msgids(p, apr_pstrcat(p, spool, "/done",
                                                    NULL), left),
                     expected);
    return replayed;
}

void wl_run_answers(run_t *r, apr_time_t t0, figures_t *f)
{
    int i;

    count_answers(r->all, f);
    for (i = 0; i < THREADS; i++) {
        f->stale += r->workers[i].stale;
    }
    printf("%s: %d messages in %.1f s with %d clients\n", r->cfg->label,
           f->sent, (double)(apr_time_now() - t0) / APR_USEC_PER_SEC,
           THREADS);
}

void wl_check_spools(apr_pool_t *p, run_t *r, const apr_off_t *from,
                     int *entries)
{
    const run_cfg_t *cfg = r->cfg;
    apr_hash_t *spooled = apr_hash_make(p);
    int i, k;

    for (k = 0; k < cfg->ninst; k++) {
        int in = cfg->insts[k];

        entries[in] = wl_spool_msgids(p, apr_pstrcat(p, wl.inst[in].rundir,
                                                     "/spool", NULL),
                                      spooled);
        assert_int_equal(wl_log_count(p, in, from[in], "HMB00309: "),
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
}

void wl_replay_spools(apr_pool_t *p, const run_cfg_t *cfg,
                      const int *entries, const char *spec, figures_t *f)
{
    int k, recorded;

    for (k = 0; k < cfg->ninst; k++) {
        int in = cfg->insts[k];

        f->replayed += replay_spool(p, in, entries[in], spec, &recorded);
        f->recorded += recorded;
    }
    for (k = 0; k < cfg->ninst; k++) {
        const inst_t *in = &wl.inst[cfg->insts[k]];
        const char *pending = hmb_it_status_value(p, in->port,
                                                  "SpoolPending");

        if (strcmp(pending, "0")) {
            fail_msg("%s after the replay: SpoolPending %s",
                     in->fixmedins_code, pending);
        }
    }
}

void wl_check_servers(apr_pool_t *p, const run_cfg_t *cfg,
                      const apr_off_t *from, const char *const *allowed)
{
    int k;

    for (k = 0; k < cfg->ninst; k++) {
        wl_check_errors(p, cfg->insts[k], from[cfg->insts[k]], allowed);
        wl_check_no_crash(p, cfg->insts[k]);
    }
}
