/* Rendering <hmbinfo>: what the engine decided, as the HIS reads it.
 * Nothing is decided here. The element is pure ASCII (character
 * references for the rest) so that it is correct whatever encoding the
 * upstream declared, without re-encoding a single byte.
 *
 * What the element holds, and in which order, is walked once here for
 * every wire format; a format's writer (below for XML,
 * hmb_hmbinfo_json.c for JSON) only spells it. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_hmbinfo.h"
#include "hmb_util.h"

/* ------------------------------------------------------------------ */
/* What is written                                                     */

static void hmb_walk_text(const hmb_hmbinfo_writer_t *w, void *o,
                          const char *name, const char *value)
{
    if (value) {
        w->text(o, name, value);
    }
}

static void hmb_walk_amount(const hmb_hmbinfo_writer_t *w, void *o,
                            apr_pool_t *p, const char *name, hmb_fen_t v)
{
    w->number(o, name, hmb_money_str(p, v));
}

void hmb_hmbinfo_walk(apr_pool_t *p, const hmb_decision_t *d,
                      const hmb_hmbinfo_ctx_t *ctx,
                      const hmb_hmbinfo_writer_t *w, void *o)
{
    int i;

    w->begin(o, "hmbinfo", 0);
    hmb_walk_text(w, o, "hmb_stas", hmb_stas_name(d->stas));
    hmb_walk_text(w, o, "rea_code", hmb_rea_name(d->rea));
    if (d->plan_code) {
        hmb_walk_text(w, o, "plan_code", d->plan_code);
        w->number(o, "plan_year", apr_itoa(p, d->plan_year));
        w->number(o, "plan_ver", apr_itoa(p, d->plan_ver));
    }
    hmb_walk_text(w, o, "hmb_setl_id", ctx->hmb_setl_id);
    hmb_walk_text(w, o, "setl_id", ctx->setl_id);
    hmb_walk_text(w, o, "mdtrt_id", ctx->mdtrt_id);
    hmb_walk_text(w, o, "orig_setl_id", ctx->orig_setl_id);
    hmb_walk_text(w, o, "orig_hmb_setl_id", ctx->orig_hmb_setl_id);
    hmb_walk_amount(w, o, p, "hmb_pay", d->hmb_pay);
    hmb_walk_amount(w, o, p, "psn_part_amt_aft", d->psn_part_amt_aft);
    hmb_walk_amount(w, o, p, "psn_cash_pay_aft", d->psn_cash_pay_aft);
    w->list(o, "hmbdetail", 1);
    for (i = 0; d->liabs && i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r =
            &((const hmb_liab_result_t *)d->liabs->elts)[i];
        w->begin(o, "hmbdetail", 1);
        hmb_walk_text(w, o, "liab_code", r->liab_code);
        hmb_walk_amount(w, o, p, "elig_amt", r->elig_amt);
        hmb_walk_amount(w, o, p, "dedc_amt", r->dedc_amt);
        w->number(o, "pay_prop", hmb_ratio_str(p, r->pay_prop));
        hmb_walk_amount(w, o, p, "pay_amt", r->pay_amt);
        hmb_walk_amount(w, o, p, "cum_elig_amt", r->cum_elig_amt);
        hmb_walk_amount(w, o, p, "dedc_left", r->dedc_left);
        hmb_walk_amount(w, o, p, "cap_left", r->cap_left);
        w->end(o, "hmbdetail", 1);
    }
    w->list(o, "hmbdetail", 0);
    w->list(o, "hmbinsurer", 1);
    for (i = 0; d->insurers && i < d->insurers->nelts; i++) {
        const hmb_insurer_result_t *r =
            &((const hmb_insurer_result_t *)d->insurers->elts)[i];
        w->begin(o, "hmbinsurer", 1);
        hmb_walk_text(w, o, "insurer_code", r->insurer_code);
        w->number(o, "share", hmb_ratio_str(p, r->share));
        hmb_walk_amount(w, o, p, "pay_amt", r->pay_amt);
        w->end(o, "hmbinsurer", 1);
    }
    w->list(o, "hmbinsurer", 0);
    hmb_walk_text(w, o, "hmb_memo", d->memo);
    w->end(o, "hmbinfo", 0);
}

int hmb_hmbinfo_fund_walk(apr_pool_t *p, const hmb_decision_t *d,
                          const hmb_hmbinfo_ctx_t *ctx,
                          const hmb_hmbinfo_writer_t *w, void *o)
{
    hmb_fen_t elig = 0;
    int i;

    if (!ctx->fund_pay_type || d->hmb_pay == 0) {
        return 0;
    }
    for (i = 0; d->liabs && i < d->liabs->nelts; i++) {
        elig += ((const hmb_liab_result_t *)d->liabs->elts)[i].elig_amt;
    }
    w->begin(o, "setldetail", 1);
    hmb_walk_text(w, o, "fund_pay_type", ctx->fund_pay_type);
    hmb_walk_amount(w, o, p, "inscp_scp_amt", elig);
    hmb_walk_amount(w, o, p, "crt_payb_lmt_amt", 0);
    hmb_walk_amount(w, o, p, "fund_payamt", d->hmb_pay);
    w->text(o, "fund_pay_type_name", ctx->fund_pay_type_name
                                     ? ctx->fund_pay_type_name : "");
    w->empty(o, "setl_proc_info");
    w->end(o, "setldetail", 1);
    return 1;
}

/* ------------------------------------------------------------------ */
/* XML                                                                 */

const char *hmb_xml_escape_ascii(apr_pool_t *p, const char *utf8)
{
    const char *s = utf8 ? utf8 : "";
    apr_size_t left = strlen(s), cap = left * 8 + 1, n = 0;
    char *out = apr_palloc(p, cap);

    while (left) {
        unsigned char c = (unsigned char)*s;
        apr_uint32_t cp;
        apr_size_t k;

        if (c < 0x80) {
            switch (c) {
            case '<':  memcpy(out + n, "&lt;", 4);   n += 4; break;
            case '>':  memcpy(out + n, "&gt;", 4);   n += 4; break;
            case '&':  memcpy(out + n, "&amp;", 5);  n += 5; break;
            case '"':  memcpy(out + n, "&quot;", 6); n += 6; break;
            default:
                /* control characters are not allowed in XML 1.0 */
                if (c >= 0x20 || c == '\t' || c == '\n') {
                    out[n++] = (char)c;
                }
            }
            s++;
            left--;
            continue;
        }
        if ((k = hmb_utf8_next(s, left, &cp)) == 0) {
            out[n++] = '?';
            s++;
            left--;
            continue;
        }
        n += (apr_size_t)apr_snprintf(out + n, cap - n, "&#%lu;",
                                      (unsigned long)cp);
        s += k;
        left -= k;
    }
    out[n] = '\0';
    return out;
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
} hmb_xml_out_t;

static void hmb_xml_put(hmb_xml_out_t *x, const char *text)
{
    *(const char **)apr_array_push(x->parts) = text;
}

static void hmb_xml_begin(void *o, const char *name, int item)
{
    hmb_xml_out_t *x = o;

    hmb_xml_put(x, apr_pstrcat(x->p, "<", name, ">", NULL));
}

static void hmb_xml_end(void *o, const char *name, int item)
{
    hmb_xml_out_t *x = o;

    hmb_xml_put(x, apr_pstrcat(x->p, "</", name, ">", NULL));
}

/* A list is its items, one element each. */
static void hmb_xml_list(void *o, const char *name, int open)
{
}

static void hmb_xml_text(void *o, const char *name, const char *value)
{
    hmb_xml_out_t *x = o;

    hmb_xml_put(x, apr_pstrcat(x->p, "<", name, ">",
                               hmb_xml_escape_ascii(x->p, value), "</", name,
                               ">", NULL));
}

static void hmb_xml_empty(void *o, const char *name)
{
    hmb_xml_out_t *x = o;

    hmb_xml_put(x, apr_pstrcat(x->p, "<", name, "/>", NULL));
}

static const hmb_hmbinfo_writer_t hmb_xml_writer = {
    hmb_xml_begin,
    hmb_xml_end,
    hmb_xml_list,
    hmb_xml_text,
    hmb_xml_text,                   /* a number is text like any other */
    hmb_xml_empty
};

static hmb_xml_out_t *hmb_xml_out(apr_pool_t *p)
{
    hmb_xml_out_t *x = apr_palloc(p, sizeof(*x));

    x->p = p;
    x->parts = apr_array_make(p, 64, sizeof(const char *));
    return x;
}

const char *hmb_hmbinfo_render(apr_pool_t *p, const hmb_decision_t *d,
                               const hmb_hmbinfo_ctx_t *ctx)
{
    hmb_xml_out_t *x = hmb_xml_out(p);

    hmb_hmbinfo_walk(p, d, ctx, &hmb_xml_writer, x);
    return apr_array_pstrcat(p, x->parts, '\0');
}

const char *hmb_hmbinfo_fund_line(apr_pool_t *p, const hmb_decision_t *d,
                                  const hmb_hmbinfo_ctx_t *ctx)
{
    hmb_xml_out_t *x = hmb_xml_out(p);

    if (!hmb_hmbinfo_fund_walk(p, d, ctx, &hmb_xml_writer, x)) {
        return "";
    }
    return apr_array_pstrcat(p, x->parts, '\0');
}
