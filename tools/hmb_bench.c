/* hmb_bench: what one message costs, as figures side by side in one run
 * (never asserted). Each stage is timed over many iterations and shown as
 * microseconds per message and as a ratio to a bare libxml2 xmlReader
 * pass over the same bytes (the least any reader of the message must
 * spend), so machine speed cancels out.
 *   hmb_bench SRCDIR [N [SAMPLE]]: N iterations of the small message (a
 *   tenth of them of the 200-line one, a 200th of the 1 MB one); SAMPLE
 *   0, 1 or 2 runs only that message (make bench-callgrind counts each
 *   stage's instructions so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "hmb_engine.h"
#include "hmb_hmbinfo.h"
#include "hmb_message.h"
#include "hmb_plan.h"
#include "hmb_settle.h"
#include "hmb_xml.h"
#include <libxml/xmlreader.h>

typedef struct {
    const char *name;
    const char *buf;
    apr_size_t len;
} sample_t;

static double per_message_us(apr_time_t t, int n)
{
    return (double)t / (double)n;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "hmb_bench: %s: %s\n", what, err);
    exit(1);
}

static char *slurp(apr_pool_t *p, const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f) {
        die(path, "cannot open");
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = apr_palloc(p, (apr_size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        die(path, "short read");
    }
    fclose(f);
    buf[n] = '\0';
    *len = (apr_size_t)n;
    return buf;
}

/* Every node of the message once, building nothing we keep. */
/* never inlined: callgrind counts it as a function of its own */
static __attribute__((noinline)) void bare_reader_pass(const sample_t *m)
{
    xmlTextReaderPtr rd = xmlReaderForMemory(m->buf, (int)m->len, NULL, NULL,
                                             XML_PARSE_NONET
                                             | XML_PARSE_NOERROR
                                             | XML_PARSE_NOWARNING);
    int rc;

    if (!rd) {
        die(m->name, "xmlReaderForMemory");
    }
    while ((rc = xmlTextReaderRead(rd)) == 1)
        ;
    xmlFreeTextReader(rd);
    if (rc != 0) {
        die(m->name, "not well-formed");
    }
}

/* The worked example's settlement with `lines` fee-detail lines. */
static sample_t big_sample(apr_pool_t *p, const char *small, int lines)
{
    const char *at = strstr(small, "</output>");
    apr_array_header_t *parts = apr_array_make(p, lines + 3, sizeof(char *));
    sample_t s;
    int i;

    *(const char **)apr_array_push(parts) =
        apr_pstrmemdup(p, small, (apr_size_t)(at - small));
    for (i = 0; i < lines; i++) {
        *(const char **)apr_array_push(parts) = apr_psprintf(p,
            "    <feedetail><feedetl_sn>%d</feedetl_sn>"
            "<med_list_codg>%s</med_list_codg><medins_list_codg>H%06d"
            "</medins_list_codg><det_item_fee_sumamt>120.00"
            "</det_item_fee_sumamt><cnt>1</cnt><pric>120.00</pric>"
            "<fulamt_ownpay_amt>%s</fulamt_ownpay_amt><overlmt_amt>0.00"
            "</overlmt_amt><chrgitm_lv>03</chrgitm_lv></feedetail>\n",
            i + 1, i % 7 == 0 ? "XL01XCP135B002010101832"
                              : "XL01CDZ025B002010100421", i,
            i % 3 ? "0.00" : "120.00");
    }
    *(const char **)apr_array_push(parts) = at;
    s.name = apr_psprintf(p, "%d fee lines", lines);
    s.buf = apr_array_pstrcat(p, parts, '\0');
    s.len = strlen(s.buf);
    return s;
}

/* What one message costs the filter, for a heap profiler: "mem LINES
 * core" against "mem LINES none", the same process without that work.
 * The message's bytes are there in both (the filter holds them in its
 * brigade); what is measured is reading, deciding and rendering, as the
 * filter does them (it splices inside the brigade, copying nothing).
 * Both runs first read one small message, so that the thread's parser
 * exists, as it does in a server thread. No plan is loaded, so that
 * nothing but the message is on the heap around it (a plan's loading,
 * freed, would be the peak of both runs); without a plan the engine
 * decides ineligible, which costs it nothing the message does not. */
static int mem_run(apr_pool_t *root, const sample_t *small,
                   const sample_t *m, int core)
{
    hmb_response_t *resp;
    hmb_engine_input_t in;
    hmb_hmbinfo_ctx_t hc;
    const char *err;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    if ((err = hmb_response_parse(p, small->buf, small->len, 0, &resp))) {
        die(small->name, err);
    }
    apr_pool_destroy(p);
    if (!core) {
        return 0;
    }
    apr_pool_create(&p, root);
    if ((err = hmb_response_parse(p, m->buf, m->len, 0, &resp))) {
        die(m->name, err);
    }
    memset(&in, 0, sizeof(in));
    in.tx = HMB_TX_SETTLE;
    in.resp = resp;
    memset(&hc, 0, sizeof(hc));
    hmb_hmbinfo_render(p, hmb_engine_decide(p, &in), &hc);
    apr_pool_destroy(p);
    return 0;
}

int main(int argc, const char *const *argv)
{
    const char *src = argc > 1 ? argv[1] : ".";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    apr_pool_t *root, *p;
    hmb_plan_t *plan;
    hmb_enrollment_t enr;
    sample_t samples[3];
    const char *err;
    int s, i;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&root, NULL);
    hmb_xml_init();
    if (argc > 4 && !strcmp(argv[2], "mem")) {
        sample_t m;

        samples[0].buf = slurp(root, apr_pstrcat(root, src,
                               "/tests/fixtures/worked-example/2.resp.xml",
                               NULL), &samples[0].len);
        m = atoi(argv[3]) ? big_sample(root, samples[0].buf, atoi(argv[3]))
                          : samples[0];
        printf("message bytes %lu\n", (unsigned long)m.len);
        return mem_run(root, &samples[0], &m, !strcmp(argv[4], "core"));
    }
    if ((err = hmb_plan_load(root, apr_pstrcat(root, src,
                             "/conf/plans/yichun-2024.xml", NULL), &plan))) {
        die("plan", err);
    }
    memset(&enr, 0, sizeof(enr));
    enr.plan_code = plan->code;
    enr.plan_year = plan->year;
    enr.psn_no = "36090000000000000001";
    enr.cover_from = plan->from;

    samples[0].name = "worked example 2";
    samples[0].buf = slurp(root, apr_pstrcat(root, src,
                           "/tests/fixtures/worked-example/2.resp.xml", NULL),
                           &samples[0].len);
    samples[1] = big_sample(root, samples[0].buf, 200);
    /* as many lines again as make about 1 MB */
    samples[2] = big_sample(root, samples[0].buf,
                            (int)((1048576 - samples[0].len) * 200
                                  / (samples[1].len - samples[0].len)) + 1);

    printf("%-18s %8s  %12s %12s %12s %12s\n", "message", "bytes",
           "xmlReader", "read", "+engine", "+hmbinfo");
    for (s = 0; s < 3; s++) {
        const sample_t *m = &samples[s];
        apr_time_t t[4] = {0, 0, 0, 0}, t0;
        int iters = s == 0 ? n : s == 1 ? n / 10 + 1 : n / 200 + 1;

        /* SAMPLE given: only that one (bench-callgrind, per message) */
        if (argc > 3 && atoi(argv[3]) != s) {
            continue;
        }
        if (argc > 3) {
            printf("iterations %d bytes %lu\n", iters, (unsigned long)m->len);
        }

        for (i = 0; i < iters; i++) {
            hmb_response_t *resp;
            hmb_engine_input_t in;
            hmb_decision_t *d;
            hmb_hmbinfo_ctx_t hc;
            const char *info;
            apr_size_t n;
            char *out;

            apr_pool_create(&p, root);
            t0 = apr_time_now();
            bare_reader_pass(m);
            t[0] += apr_time_now() - t0;

            t0 = apr_time_now();
            if ((err = hmb_response_parse(p, m->buf, m->len, 0, &resp))) {
                die(m->name, err);
            }
            t[1] += apr_time_now() - t0;

            t0 = apr_time_now();
            memset(&in, 0, sizeof(in));
            in.tx = HMB_TX_SETTLE;
            in.plan = plan;
            in.enrollment = &enr;
            in.resp = resp;
            d = hmb_engine_decide(p, &in);
            t[2] += apr_time_now() - t0;

            t0 = apr_time_now();
            memset(&hc, 0, sizeof(hc));
            hc.setl_id = resp->setl_id;
            hc.mdtrt_id = resp->mdtrt_id;
            info = hmb_hmbinfo_render(p, d, &hc);
            n = strlen(info);
            out = apr_palloc(p, m->len + n);
            memcpy(out, m->buf, resp->splice_at);
            memcpy(out + resp->splice_at, info, n);
            memcpy(out + resp->splice_at + n, m->buf + resp->splice_at,
                   m->len - resp->splice_at);
            t[3] += apr_time_now() - t0;
            apr_pool_destroy(p);
        }
        printf("%-18s %8lu  %9.1f us %9.1f us %9.1f us %9.1f us\n", m->name,
               (unsigned long)m->len, per_message_us(t[0], iters),
               per_message_us(t[1], iters), per_message_us(t[2], iters),
               per_message_us(t[3], iters));
        printf("%-18s %8s  %12s %11.2fx %11.2fx %11.2fx\n", "  ratio",
               "", "1.00x", (double)t[1] / (double)t[0],
               (double)t[2] / (double)t[0], (double)t[3] / (double)t[0]);
    }
    printf("(ratio to the bare xmlReader pass; read: hmb_response_parse, "
           "fields and splice point in one pass; +engine and +hmbinfo: "
           "that stage alone)\n");
    apr_pool_destroy(root);
    apr_terminate();
    return 0;
}
