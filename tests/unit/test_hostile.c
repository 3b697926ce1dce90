/* The hostile corpus (tests/fixtures/messages/hostile/README.md) and the
 * fuzzers' findings (tests/fuzz/README.md), each through the whole
 * pipeline, hmb_settle_message, against a real SQLite ledger, the plan
 * conf/plans/yichun-2024.xml and the enrollments conf/enroll-sample.csv.
 * What each case must give is what the README's table says, from
 * DOMAIN.md and INTERFACES.md.
 *
 * Cases that today give something else name the finding in `known`.
 * This program skips them, so that nothing failing lands; the program
 * tests/unit/known_bugs, built from this file with HMB_KNOWN_BUGS by
 * `make known-bugs` and kept out of the test suite, runs those alone and
 * fails until they are fixed. When a fix lands, clear `known` and the
 * case joins the suite. */
#include "hmb_test.h"

#include <apr_file_info.h>
#include <libxml/parser.h>

#include "hmb_settle.h"
#include "hmb_plan.h"
#include "hmb_xml.h"
#include "../fuzz/fuzz_common.h"

#define HOSTILE(rel) HMB_FIXTURE("messages/hostile/" rel)
#define REGRESSION(rel) HMB_SRCDIR "/tests/fuzz/regressions/" rel

/* A case whose behaviour today is wrong (a finding): skipped here, run
 * by known_bugs. */
#ifndef HMB_KNOWN_BUGS
#define KNOWN(finding) do { \
        print_message("known: %s\n", finding); \
        skip(); \
    } while (0)
#else
#define KNOWN(finding) do { } while (0)
#endif

/* Persons of conf/enroll-sample.csv the cases use. */
#define PSN_1 "36090000000000000001"
#define PSN_2 "36090000000000000002"

typedef struct {
    const char *file;           /* in hostile/ */
    /* for a response, the request sent with it; for a request, the
     * response (fixtures/...; NULL: worked-example/2) */
    const char *partner;
    /* worked-example pairs settled first, in order: "2", "2,4" */
    const char *before;
    hmb_outcome_e outcome;
    int is_error;               /* PASS: because the input was bad */
    const char *stas;           /* SPLICED: hmb_stas, rea_code, hmb_pay */
    const char *rea;
    const char *pay;
    /* the real end tag, where the text must go; NULL: the first
     * "</output>" in the bytes */
    const char *end_tag;
    const char *known;          /* the finding, while it stands */
} hostile_t;

#define PASS_BAD(file) {file, NULL, NULL, HMB_OUT_PASS, 1, NULL, NULL, \
                        NULL, NULL, NULL}
#define PAID(file, pay) {file, NULL, NULL, HMB_OUT_SPLICED, 0, "paid", \
                         NULL, pay, NULL, NULL}
#define NO_CLAIM(file, partner, before, rea) {file, partner, before, \
                         HMB_OUT_SPLICED, 0, "no_claim", rea, "0.00", NULL, \
                         NULL}

static const hostile_t cases[] = {
    /* entities and DOCTYPE: refused before any entity is read */
    PASS_BAD("billion-laughs.resp.xml"),
    PASS_BAD("external-dtd.resp.xml"),
    PASS_BAD("xxe-parameter.resp.xml"),
    {"xxe-passwd.req.xml", "messages/hostile/xxe-passwd.resp.xml", NULL,
     HMB_OUT_PASS, 1, NULL, NULL, NULL, NULL, NULL},
    PASS_BAD("xxe-passwd.resp.xml"),
    PASS_BAD("xxe-system-settlement.resp.xml"),
    PASS_BAD("xxe-parameter-settlement.resp.xml"),
    PASS_BAD("xxe-parameter-oob.resp.xml"),
    PASS_BAD("doctype-public.resp.xml"),
    PASS_BAD("doctype-bare.resp.xml"),
    PASS_BAD("doctype-empty-subset.resp.xml"),
    PASS_BAD("doctype-after-prolog.resp.xml"),
    PASS_BAD("doctype-request.req.xml"),
    PASS_BAD("billion-laughs-settlement.resp.xml"),
    PASS_BAD("entity-undeclared.resp.xml"),

    /* depth and size */
    PAID("nesting-32.resp.xml", "12100.00"),
    PASS_BAD("nesting-33.resp.xml"),
    PASS_BAD("nesting-5000.resp.xml"),
    PAID("text-5mb.resp.xml", "12100.00"),
    PAID("attr-2mb.resp.xml", "12100.00"),

    /* encodings: only UTF-8, GBK and GB18030 are spliced into */
    PASS_BAD("utf16le-bom.resp.xml"),
    PASS_BAD("utf16be-bom.resp.xml"),
    PASS_BAD("utf16le-bom-decl.resp.xml"),
    PASS_BAD("utf16be-bom-decl.resp.xml"),
    PASS_BAD("utf16le-decl-nobom.resp.xml"),
    PASS_BAD("utf16le-bom-alone.resp.xml"),
    PASS_BAD("utf16le-fake-output.resp.xml"),
    PASS_BAD("utf16be-fake-output.resp.xml"),
    PASS_BAD("latin1-declared.resp.xml"),
    /* decoded as declared, as libxml2 does (see the README's row) */
    PAID("utf8-bom-gbk-decl.resp.xml", "12100.00"),
    PASS_BAD("gbk-invalid-sequence.resp.xml"),
    PASS_BAD("gbk-invalid-tail.resp.xml"),
    PAID("gb18030-four-byte.resp.xml", "12100.00"),

    /* look-alikes of </output>: the text goes before the real one */
    {"lookalike-comment.resp.xml", NULL, NULL, HMB_OUT_SPLICED, 0, "paid",
     NULL, "12100.00", "</output  >", NULL},
    {"lookalike-cdata.resp.xml", NULL, NULL, HMB_OUT_SPLICED, 0, "paid",
     NULL, "12100.00", "</output  >\n</response>", NULL},
    {"lookalike-pi.resp.xml", NULL, NULL, HMB_OUT_SPLICED, 0, "paid",
     NULL, "12100.00", "</output  >", NULL},
    {"lookalike-attr.resp.xml", NULL, NULL, HMB_OUT_SPLICED, 0, "paid",
     NULL, "12100.00", "</output  >", NULL},
    PASS_BAD("lookalike-attr-raw-lt.resp.xml"),

    /* a result that is not ours (F4, fixed in 3855e0f) */
    PASS_BAD("hmbinfo-spoof.resp.xml"),

    /* money (F1 fixed in 3855e0f, F5 since) */
    PASS_BAD("money-max.resp.xml"),
    PAID("money-bound.resp.xml", "1003000.00"),
    PASS_BAD("money-eight-fees.resp.xml"),
    PASS_BAD("money-negative-settlement.resp.xml"),
    PASS_BAD("money-three-decimals.resp.xml"),
    PASS_BAD("money-leading-plus.resp.xml"),
    PASS_BAD("money-empty.resp.xml"),
    PASS_BAD("money-empty-required.resp.xml"),

    /* identity (DOMAIN.md, "Identity and conflicts"; F3, fixed in
     * 3855e0f) */
    /* the server answered for another person than the desk asked about:
     * no new decision for either */
    {"identity-req-resp-psn.resp.xml",
     "messages/hostile/identity-req-resp-psn.req.xml", NULL,
     HMB_OUT_PASS, 1, NULL, NULL, NULL, NULL, NULL},
    {"identity-req-resp-psn.req.xml",
     "messages/hostile/identity-req-resp-psn.resp.xml", NULL,
     HMB_OUT_PASS, 1, NULL, NULL, NULL, NULL, NULL},
    NO_CLAIM("identity-cancel-mismatch.req.xml",
             "messages/hostile/identity-cancel-mismatch.resp.xml", "2",
             "cancel_mismatch"),
    NO_CLAIM("identity-cancel-mismatch.resp.xml",
             "messages/hostile/identity-cancel-mismatch.req.xml", "2",
             "cancel_mismatch"),
    NO_CLAIM("identity-cancel-other-hospital.req.xml",
             "messages/hostile/identity-cancel-other-hospital.resp.xml", "2",
             "cancel_mismatch"),
    NO_CLAIM("identity-cancel-other-hospital.resp.xml",
             "messages/hostile/identity-cancel-other-hospital.req.xml", "2",
             "cancel_mismatch"),
    NO_CLAIM("identity-setl-id-conflict.resp.xml", NULL, "2",
             "setl_id_conflict"),
    NO_CLAIM("identity-mdtrt-conflict.resp.xml", NULL, "2",
             "setl_id_conflict"),
    NO_CLAIM("identity-replay-reversed.resp.xml", NULL, "2,4",
             "settlement_reversed"),

    /* <output> in a namespace is not <output> (INTERFACES.md: no
     * namespace) */
    {"output-namespaced.resp.xml", NULL, NULL, HMB_OUT_PASS, 0, NULL, NULL,
     NULL, NULL, NULL},
    /* and a <response> in one is not a response: an error for the log */
    {"output-default-namespace.resp.xml", NULL, NULL, HMB_OUT_PASS, 1,
     NULL, NULL, NULL, NULL, NULL},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* ------------------------------------------------------------------ */
/* A ledger of our own for each case                                  */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *plans;
    hmb_ledger_t *ledger;
    hmb_settle_ctx_t ctx;
    const void *subject;        /* the case or finding */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    hmb_plan_t *plan;
    const char *err;

    f->subject = *state;
    apr_pool_create(&f->p, NULL);
    f->plans = apr_array_make(f->p, 1, sizeof(hmb_plan_t *));
    if ((err = hmb_plan_load(f->p, HMB_SRCDIR "/conf/plans/yichun-2024.xml",
                             &plan))
        || (err = hmb_test_ledger(f->p, "hostile",
                                  HMB_SRCDIR "/conf/enroll-sample.csv",
                                  &f->ledger))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    APR_ARRAY_PUSH(f->plans, hmb_plan_t *) = plan;
    f->ctx.plans = f->plans;
    f->ctx.ledger = f->ledger;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    apr_pool_destroy(f->p);
    free(f);
    return 0;
}

static hmb_settle_result_t *settle_files(fixture_t *f, const char *req_path,
                                         const char *resp_path,
                                         const char **resp,
                                         apr_size_t *resp_len)
{
    apr_size_t req_len;
    const char *req = hmb_test_slurp(f->p, req_path, &req_len);

    *resp = hmb_test_slurp(f->p, resp_path, resp_len);
    return hmb_settle_message(f->p, &f->ctx, req, req_len, *resp, *resp_len);
}

/* The worked-example pairs named in before, e.g. "2,4", settled. */
static void settle_before(fixture_t *f, const char *before)
{
    const char *n;
    char *list, *last;

    if (!before) {
        return;
    }
    list = apr_pstrdup(f->p, before);
    for (n = apr_strtok(list, ",", &last); n; n = apr_strtok(NULL, ",",
                                                              &last)) {
        const char *resp;
        apr_size_t len;
        hmb_settle_result_t *res = settle_files(f,
            apr_pstrcat(f->p, HMB_EXAMPLE(""), n, ".req.xml", NULL),
            apr_pstrcat(f->p, HMB_EXAMPLE(""), n, ".resp.xml", NULL),
            &resp, &len);

        assert_int_equal(res->outcome, HMB_OUT_SPLICED);
    }
}

/* Both persons' year-to-date totals, as one line. */
static const char *totals(fixture_t *f)
{
    static const char *const people[] = {PSN_1, PSN_2};
    const char *s = "";
    int i, k;

    for (i = 0; i < 2; i++) {
        apr_array_header_t *rows;

        assert_null(hmb_ledger_totals(f->ledger, f->p, "YCHMB", 2024,
                                      people[i], &rows));
        for (k = 0; k < rows->nelts; k++) {
            const hmb_total_t *t = &APR_ARRAY_IDX(rows, k, hmb_total_t);

            s = apr_psprintf(f->p, "%s %s/%s:%" APR_INT64_T_FMT "/%"
                             APR_INT64_T_FMT, s, people[i], t->liab_code,
                             t->elig_amt, t->paid_amt);
        }
    }
    return s;
}

/* <name>text</name> in xml, or NULL. */
static const char *field(apr_pool_t *p, const char *xml, const char *name)
{
    const char *open = apr_pstrcat(p, "<", name, ">", NULL);
    const char *s = strstr(xml, open), *e;

    if (!s) {
        return NULL;
    }
    s += strlen(open);
    e = strstr(s, apr_pstrcat(p, "</", name, ">", NULL));
    return e ? apr_pstrmemdup(p, s, (apr_size_t)(e - s)) : NULL;
}

static apr_size_t offset_of(const char *buf, apr_size_t len,
                            const char *needle)
{
    apr_size_t n = strlen(needle), i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0) {
            return i;
        }
    }
    fail_msg("no \"%s\" in the message", needle);
    return 0;
}

/* What happened, for a failure's line. */
static const char *outcome_name(apr_pool_t *p, const hmb_settle_result_t *res)
{
    if (res->outcome == HMB_OUT_PASS) {
        return apr_pstrcat(p, "untouched (", res->reason ? res->reason : "",
                           ")", NULL);
    }
    if (!res->insert) {
        return apr_psprintf(p, "outcome %d", res->outcome);
    }
    return apr_psprintf(p, "spliced (%s, hmb_pay %s)",
                        field(p, res->insert, "hmb_stas"),
                        field(p, res->insert, "hmb_pay"));
}

/* What the table says, checked on one result. */
static void expect(fixture_t *f, const hostile_t *c,
                   const hmb_settle_result_t *res, const char *resp,
                   apr_size_t resp_len)
{
    const char *why;

    if (res->outcome != c->outcome) {
        fail_msg("%s: %s, expected %s", c->file, outcome_name(f->p, res),
                 c->outcome == HMB_OUT_PASS ? "untouched" : "a splice");
    }
    if (c->outcome == HMB_OUT_PASS) {
        /* untouched, with a reason for the log */
        assert_null(res->out);
        assert_non_null(res->reason);
        assert_null(strchr(res->reason, '\n'));
        assert_int_equal(res->is_error, c->is_error);
        return;
    }
    assert_non_null(res->insert);
    assert_string_equal(field(f->p, res->insert, "hmb_stas"), c->stas);
    if (c->rea) {
        assert_non_null(field(f->p, res->insert, "rea_code"));
        assert_string_equal(field(f->p, res->insert, "rea_code"), c->rea);
    }
    else {
        assert_null(field(f->p, res->insert, "rea_code"));
    }
    assert_string_equal(field(f->p, res->insert, "hmb_pay"), c->pay);
    assert_int_equal(res->splice_at,
                     offset_of(resp, resp_len,
                               c->end_tag ? c->end_tag : "</output>"));
    /* every other byte the upstream's, as libxml2 reads the result */
    assert_int_equal(res->out_len, resp_len + strlen(res->insert));
    why = hmb_fuzz_splice_problem(f->p, resp, resp_len, res->splice_at,
                                  res->insert, c->pay);
    if (why) {
        fail_msg("%s: %s", c->file, why);
    }
}

static void test_case(void **state)
{
    fixture_t *f = *state;
    const hostile_t *c = f->subject;
    apr_size_t n = strlen(c->file), resp_len;
    int is_req = n > 8 && strcmp(c->file + n - 8, ".req.xml") == 0;
    const char *mine = apr_pstrcat(f->p, HOSTILE(""), c->file, NULL);
    const char *partner = c->partner
        ? apr_pstrcat(f->p, HMB_FIXTURE(""), c->partner, NULL)
        : is_req ? HMB_EXAMPLE("2.resp.xml") : HMB_EXAMPLE("2.req.xml");
    const char *resp, *was, *now;
    hmb_settle_result_t *res;

    if (c->known) {
        KNOWN(c->known);
    }
    settle_before(f, c->before);
    was = totals(f);
    res = is_req ? settle_files(f, mine, partner, &resp, &resp_len)
                 : settle_files(f, partner, mine, &resp, &resp_len);
    expect(f, c, res, resp, resp_len);
    now = totals(f);
    /* nothing recorded unless something was paid */
    if (c->outcome == HMB_OUT_PASS || strcmp(c->stas, "paid") != 0) {
        assert_string_equal(now, was);
    }
}

#ifndef HMB_KNOWN_BUGS
/* Every file of hostile/ has its case, and its row in README.md. */
static void test_every_file_has_a_case(void **state)
{
    apr_pool_t *p = *state;
    const char *readme = hmb_test_slurp(p, HOSTILE("README.md"), NULL);
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_size_t i;
    int files = 0;

    assert_int_equal(apr_dir_open(&d, HOSTILE(""), p), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        apr_size_t n = strlen(fi.name);
        int found = 0;

        if (fi.filetype != APR_REG || n < 4
            || strcmp(fi.name + n - 4, ".xml") != 0) {
            continue;
        }
        files++;
        for (i = 0; i < N_CASES; i++) {
            found |= strcmp(cases[i].file, fi.name) == 0;
        }
        if (!found) {
            fail_msg("hostile/%s has no case in test_hostile.c", fi.name);
        }
        if (!strstr(readme, apr_pstrcat(p, "| `", fi.name, "` |", NULL))) {
            fail_msg("hostile/%s has no row in hostile/README.md", fi.name);
        }
    }
    apr_dir_close(d);
    assert_int_equal(files, N_CASES);
}
#endif

/* ------------------------------------------------------------------ */
/* The fuzzers' findings (tests/fuzz/README.md), from their minimized  */
/* inputs in tests/fuzz/regressions                                    */


/* A harness input: 5 header bytes, then the request, a NUL and the
 * response, or the response alone (tests/fuzz/fuzz_message.c). */
typedef struct {
    int flags;
    apr_size_t slice;
    const char *req;
    apr_size_t req_len;
    const char *resp;
    apr_size_t resp_len;
} framed_t;

static framed_t *framed(apr_pool_t *p, const char *rel)
{
    static const apr_size_t slices[8] = {1, 2, 3, 5, 64, 1000, 4095, 4097};
    framed_t *m = apr_pcalloc(p, sizeof(*m));
    apr_size_t len;
    const char *buf = hmb_test_slurp(p, apr_pstrcat(p, REGRESSION(""), rel,
                                                    NULL), &len);
    const char *nul;

    assert_true(len >= 5);
    m->flags = (unsigned char)buf[0];
    m->slice = slices[buf[4] & 7];
    m->resp = buf + 5;
    m->resp_len = len - 5;
    if ((nul = memchr(m->resp, '\0', m->resp_len)) != NULL) {
        m->req = m->resp;
        m->req_len = (apr_size_t)(nul - m->resp);
        m->resp = nul + 1;
        m->resp_len -= m->req_len + 1;
    }
    return m;
}

/* A response fed to the pipeline in pieces of slice bytes, as the filter
 * feeds it from the brigade. */
static hmb_settle_result_t *settle_sliced(fixture_t *f, const char *req,
                                          apr_size_t req_len,
                                          const char *resp,
                                          apr_size_t resp_len,
                                          apr_size_t slice)
{
    hmb_msg_reader_t *r = hmb_msg_reader(f->p, HMB_MSG_RESPONSE);
    apr_size_t off;

    for (off = 0; off < resp_len; off += slice) {
        hmb_msg_feed(r, resp + off,
                     resp_len - off < slice ? resp_len - off : slice);
    }
    return hmb_settle_read(f->p, &f->ctx, req, req_len, r, NULL, 0);
}

/* F2: bytes that are not valid in the declared encoding make the message
 * unreadable however it arrives. In pieces of a few bytes (an upstream
 * that sends small chunks), libxml2's conversion failure halts the parser
 * without marking the document ill-formed; what was read until then was
 * taken for the whole message, settled and spliced. */
static void test_f2_conversion_failure_in_pieces(void **state)
{
    fixture_t *f = *state;
    static const apr_size_t pieces[] = {1, 7, 64, 4096, 1 << 20};
    const framed_t *m = framed(f->p, "message/f2-conversion-halt-in-slices");
    apr_size_t req_len, resp_len, i;
    const char *req = hmb_test_slurp(f->p, HMB_EXAMPLE("2.req.xml"),
                                     &req_len);
    const char *resp = hmb_test_slurp(f->p,
                                      HOSTILE("gbk-invalid-tail.resp.xml"),
                                      &resp_len);
    hmb_response_t *rs;
    hmb_msg_reader_t *r;

    /* the harness's input: refused in one piece, and in its slices */
    assert_non_null(hmb_response_parse(f->p, m->resp, m->resp_len, 0, &rs));
    r = hmb_msg_reader(f->p, HMB_MSG_RESPONSE);
    for (i = 0; i < m->resp_len; i += m->slice) {
        hmb_msg_feed(r, m->resp + i, m->resp_len - i < m->slice
                                     ? m->resp_len - i : m->slice);
    }
    assert_non_null(hmb_response_finish(r, 0, &rs));

    for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        hmb_settle_result_t *res = settle_sliced(f, req, req_len, resp,
                                                 resp_len, pieces[i]);
        if (res->outcome != HMB_OUT_PASS || !res->is_error) {
            fail_msg("in pieces of %" APR_SIZE_T_FMT " bytes: %s, expected "
                     "untouched as a bad message", pieces[i],
                     outcome_name(f->p, res));
        }
    }
}

/* The other minimized inputs of tests/fuzz/regressions/message, each
 * through the pipeline in one piece: what must happen. */
typedef struct {
    const char *file;
    hmb_outcome_e outcome;
    int is_error;
    const char *known;
} regression_t;

static const regression_t regressions[] = {
    {"f1-eight-fee-lines-overflow", HMB_OUT_PASS, 1, NULL},
    {"f4-hmbinfo-spoof", HMB_OUT_PASS, 1, NULL},
    {"f6-namespaced-output", HMB_OUT_PASS, 0, NULL},
};

#define N_REGRESSIONS (sizeof(regressions) / sizeof(regressions[0]))

static void test_regression(void **state)
{
    fixture_t *f = *state;
    const regression_t *g = f->subject;
    const framed_t *m = framed(f->p, apr_pstrcat(f->p, "message/", g->file,
                                                 NULL));
    hmb_settle_result_t *res;

    if (g->known) {
        KNOWN(g->known);
    }
    res = hmb_settle_message(f->p, &f->ctx, m->req, m->req_len, m->resp,
                             m->resp_len);
    if (res->outcome != g->outcome) {
        fail_msg("%s: %s, expected %s", g->file, outcome_name(f->p, res),
                 g->outcome == HMB_OUT_PASS ? "untouched" : "a splice");
    }
    assert_int_equal(res->is_error, g->is_error);
}

#ifndef HMB_KNOWN_BUGS
/* Every minimized input has its test. */
static void test_every_regression_has_a_test(void **state)
{
    apr_pool_t *p = *state;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_size_t i;

    assert_int_equal(apr_dir_open(&d, REGRESSION("message"), p),
                     APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        int found = strcmp(fi.name, "f2-conversion-halt-in-slices") == 0;

        if (fi.filetype != APR_REG) {
            continue;
        }
        for (i = 0; i < N_REGRESSIONS; i++) {
            found |= strcmp(regressions[i].file, fi.name) == 0;
        }
        if (!found) {
            fail_msg("regressions/message/%s has no test", fi.name);
        }
    }
    apr_dir_close(d);
}
#endif

/* One test into tests[*n]. */
static void add_test(struct CMUnitTest *tests, apr_size_t *n,
                     const char *name, CMUnitTestFunction fn,
                     CMFixtureFunction set_up, CMFixtureFunction tear_down,
                     const void *subject)
{
    struct CMUnitTest t = {name, fn, set_up, tear_down, (void *)subject};

    tests[(*n)++] = t;
}

int main(void)
{
    struct CMUnitTest tests[N_CASES + N_REGRESSIONS + 3];
    apr_size_t i, n = 0;
    int rc;

    /* HMB_KNOWN_BUGS: only what is wrong today */
    for (i = 0; i < N_CASES; i++) {
#ifdef HMB_KNOWN_BUGS
        if (!cases[i].known) {
            continue;
        }
#endif
        add_test(tests, &n, cases[i].file, test_case, setup, teardown,
                 &cases[i]);
    }
    for (i = 0; i < N_REGRESSIONS; i++) {
#ifdef HMB_KNOWN_BUGS
        if (!regressions[i].known) {
            continue;
        }
#endif
        add_test(tests, &n, regressions[i].file, test_regression, setup,
                 teardown, &regressions[i]);
    }
#ifndef HMB_KNOWN_BUGS
    add_test(tests, &n, "every file has a case", test_every_file_has_a_case,
             hmb_test_pool_setup, hmb_test_pool_teardown, NULL);
    add_test(tests, &n, "every regression has a test",
             test_every_regression_has_a_test, hmb_test_pool_setup,
             hmb_test_pool_teardown, NULL);
#endif
    add_test(tests, &n, "F2 conversion failure in pieces",
             test_f2_conversion_failure_in_pieces, setup, teardown, NULL);
    apr_initialize();
    hmb_xml_init();
    rc = _cmocka_run_group_tests("test_hostile", tests, n, NULL, NULL);
    apr_terminate();
    return rc;
}
