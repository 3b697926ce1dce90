/* Rendering <hmbinfo>: what the engine decided, as the HIS reads it.
 * Nothing is decided here. The element is pure ASCII (character
 * references for the rest) so that it is correct whatever encoding the
 * upstream declared, without re-encoding a single byte. */
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
    hmb_field(a, p, "rea_code", hmb_rea_name(d->rea));
    if (d->plan_code) {
        hmb_field(a, p, "plan_code", d->plan_code);
        hmb_field(a, p, "plan_year", apr_itoa(p, d->plan_year));
        hmb_field(a, p, "plan_ver", apr_itoa(p, d->plan_ver));
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
