/* Rendering <hmbinfo> and splicing it in. The element is pure ASCII
 * (character references for the rest) so that it is correct whatever
 * encoding the upstream declared, without re-encoding a single byte. */
#include <string.h>
#include <apr_strings.h>

#include "hmb_hmbinfo.h"

const char *hmb_xml_escape_ascii(apr_pool_t *p, const char *utf8)
{
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    apr_size_t cap = strlen((const char *)s) * 8 + 1, n = 0;
    char *out = apr_palloc(p, cap);

    while (*s) {
        unsigned long cp;
        int extra, i;

        if (*s < 0x80) {
            switch (*s) {
            case '<':  memcpy(out + n, "&lt;", 4);   n += 4; break;
            case '>':  memcpy(out + n, "&gt;", 4);   n += 4; break;
            case '&':  memcpy(out + n, "&amp;", 5);  n += 5; break;
            case '"':  memcpy(out + n, "&quot;", 6); n += 6; break;
            default:
                /* control characters are not allowed in XML 1.0 */
                if (*s >= 0x20 || *s == '\t' || *s == '\n') {
                    out[n++] = (char)*s;
                }
            }
            s++;
            continue;
        }
        if ((*s & 0xE0) == 0xC0)      { cp = *s & 0x1F; extra = 1; }
        else if ((*s & 0xF0) == 0xE0) { cp = *s & 0x0F; extra = 2; }
        else if ((*s & 0xF8) == 0xF0) { cp = *s & 0x07; extra = 3; }
        else { out[n++] = '?'; s++; continue; }
        for (i = 1; i <= extra; i++) {
            if ((s[i] & 0xC0) != 0x80) {
                break;
            }
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (i <= extra) {
            out[n++] = '?';
            s++;
            continue;
        }
        n += (apr_size_t)apr_snprintf(out + n, cap - n, "&#%lu;", cp);
        s += extra + 1;
    }
    out[n] = '\0';
    return out;
}

static void hmb_field(apr_array_header_t *parts, apr_pool_t *p,
                      const char *name, const char *value)
{
    if (value) {
        *(const char **)apr_array_push(parts) =
            apr_pstrcat(p, "<", name, ">", hmb_xml_escape_ascii(p, value),
                        "</", name, ">", NULL);
    }
}

static void hmb_amount(apr_array_header_t *parts, apr_pool_t *p,
                       const char *name, hmb_fen_t v)
{
    hmb_field(parts, p, name, hmb_money_str(p, v));
}

static const char *hmb_join(apr_pool_t *p, apr_array_header_t *parts)
{
    return apr_array_pstrcat(p, parts, '\0');
}

const char *hmb_hmbinfo_render(apr_pool_t *p, const hmb_decision_t *d,
                               const hmb_hmbinfo_ctx_t *ctx)
{
    apr_array_header_t *a = apr_array_make(p, 32, sizeof(const char *));
    int i;

    *(const char **)apr_array_push(a) = "<hmbinfo>";
    hmb_field(a, p, "hmb_stas", hmb_stas_name(d->stas));
    hmb_field(a, p, "rea_code", d->rea_code);
    if (d->plan) {
        hmb_field(a, p, "plan_code", d->plan->code);
        hmb_field(a, p, "plan_year", apr_itoa(p, d->plan->year));
        hmb_field(a, p, "plan_ver", apr_itoa(p, d->plan->version));
    }
    hmb_field(a, p, "hmb_setl_id", ctx->hmb_setl_id);
    hmb_field(a, p, "setl_id", ctx->setl_id);
    hmb_field(a, p, "mdtrt_id", ctx->mdtrt_id);
    hmb_field(a, p, "orig_setl_id", ctx->orig_setl_id);
    hmb_field(a, p, "orig_hmb_setl_id", ctx->orig_hmb_setl_id);
    hmb_amount(a, p, "hmb_pay", d->hmb_pay);
    hmb_amount(a, p, "psn_part_amt_aft", d->psn_part_amt_aft);
    hmb_amount(a, p, "psn_cash_pay_aft", d->psn_cash_pay_aft);
    for (i = 0; d->liabs && i < d->liabs->nelts; i++) {
        const hmb_liab_result_t *r =
            &((const hmb_liab_result_t *)d->liabs->elts)[i];
        *(const char **)apr_array_push(a) = "<hmbdetail>";
        hmb_field(a, p, "liab_code", r->liab_code);
        hmb_amount(a, p, "elig_amt", r->elig_amt);
        hmb_amount(a, p, "dedc_amt", r->dedc_amt);
        hmb_field(a, p, "pay_prop", hmb_ratio_str(p, r->pay_prop));
        hmb_amount(a, p, "pay_amt", r->pay_amt);
        hmb_amount(a, p, "cum_elig_amt", r->cum_elig_amt);
        hmb_amount(a, p, "dedc_left", r->dedc_left);
        hmb_amount(a, p, "cap_left", r->cap_left);
        *(const char **)apr_array_push(a) = "</hmbdetail>";
    }
    for (i = 0; d->insurers && i < d->insurers->nelts; i++) {
        const hmb_insurer_result_t *r =
            &((const hmb_insurer_result_t *)d->insurers->elts)[i];
        *(const char **)apr_array_push(a) = "<hmbinsurer>";
        hmb_field(a, p, "insurer_code", r->insurer_code);
        hmb_field(a, p, "share", hmb_ratio_str(p, r->share));
        hmb_amount(a, p, "pay_amt", r->pay_amt);
        *(const char **)apr_array_push(a) = "</hmbinsurer>";
    }
    hmb_field(a, p, "hmb_memo", d->memo);
    *(const char **)apr_array_push(a) = "</hmbinfo>";
    return hmb_join(p, a);
}

const char *hmb_hmbinfo_fund_line(apr_pool_t *p, const hmb_decision_t *d,
                                  const hmb_hmbinfo_ctx_t *ctx)
{
    apr_array_header_t *a;
    hmb_fen_t elig = 0;
    int i;

    if (!ctx->fund_pay_type || d->hmb_pay == 0) {
        return "";
    }
    for (i = 0; d->liabs && i < d->liabs->nelts; i++) {
        elig += ((const hmb_liab_result_t *)d->liabs->elts)[i].elig_amt;
    }
    a = apr_array_make(p, 8, sizeof(const char *));
    *(const char **)apr_array_push(a) = "<setldetail>";
    hmb_field(a, p, "fund_pay_type", ctx->fund_pay_type);
    hmb_amount(a, p, "inscp_scp_amt", elig);
    hmb_amount(a, p, "crt_payb_lmt_amt", 0);
    hmb_amount(a, p, "fund_payamt", d->hmb_pay);
    hmb_field(a, p, "fund_pay_type_name", ctx->fund_pay_type_name
                                          ? ctx->fund_pay_type_name : "");
    *(const char **)apr_array_push(a) = "<setl_proc_info/></setldetail>";
    return hmb_join(p, a);
}

hmb_decision_t *hmb_hmbinfo_reversal(apr_pool_t *p, const hmb_claim_t *c,
                                     const apr_array_header_t *totals)
{
    hmb_decision_t *d = apr_pcalloc(p, sizeof(*d));
    const hmb_claim_liab_t *cl = (const hmb_claim_liab_t *)c->liabs->elts;
    const hmb_total_t *tt = totals ? (const hmb_total_t *)totals->elts : NULL;
    int nt = totals ? totals->nelts : 0;
    int i, j;

    d->stas = HMB_STAS_REVERSED;
    d->hmb_pay = -c->hmb_pay;
    d->liabs = apr_array_make(p, c->liabs->nelts, sizeof(hmb_liab_result_t));
    d->insurers = apr_array_make(p, 4, sizeof(hmb_insurer_result_t));
    for (i = 0; i < c->liabs->nelts; i++) {
        hmb_liab_result_t *r = apr_array_push(d->liabs);
        hmb_fen_t pool_elig = 0, paid = 0, cum = 0;

        memset(r, 0, sizeof(*r));
        r->liab_code = cl[i].liab_code;
        r->pool = cl[i].pool;
        r->deductible = cl[i].deductible;
        r->cap = cl[i].cap;
        r->elig_amt = -cl[i].elig_amt;
        r->dedc_amt = -cl[i].dedc_amt;
        r->pay_prop = cl[i].pay_prop;
        r->pay_amt = -cl[i].pay_amt;
        /* what is left after the reversal, from the totals it produced */
        for (j = 0; j < nt; j++) {
            int same_pool = 0, k;
            for (k = 0; k < c->liabs->nelts; k++) {
                if (!strcmp(cl[k].liab_code, tt[j].liab_code)) {
                    same_pool = !strcmp(cl[k].pool, cl[i].pool);
                    break;
                }
            }
            if (!strcmp(tt[j].liab_code, cl[i].liab_code)) {
                cum = tt[j].elig_amt;
                paid = tt[j].paid_amt;
                pool_elig += tt[j].elig_amt;
            }
            else if (same_pool) {
                pool_elig += tt[j].elig_amt;
            }
        }
        r->cum_elig_amt = cum;
        r->dedc_left = cl[i].deductible - pool_elig > 0
                       ? cl[i].deductible - pool_elig : 0;
        r->cap_left = cl[i].cap - paid > 0 ? cl[i].cap - paid : 0;
    }
    for (i = 0; c->insurers && i < c->insurers->nelts; i++) {
        hmb_insurer_result_t *r = apr_array_push(d->insurers);
        *r = ((const hmb_insurer_result_t *)c->insurers->elts)[i];
        r->pay_amt = -r->pay_amt;
    }
    return d;
}

char *hmb_splice(apr_pool_t *p, const char *buf, apr_size_t len,
                 apr_size_t at, const char *insert, apr_size_t *out_len)
{
    apr_size_t n = strlen(insert);
    char *out = apr_palloc(p, len + n + 1);

    memcpy(out, buf, at);
    memcpy(out + at, insert, n);
    memcpy(out + at + n, buf + at, len - at);
    out[len + n] = '\0';
    *out_len = len + n;
    return out;
}
