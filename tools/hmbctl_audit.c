/* hmbctl audit: the third-party auditor's commands over the ledger's
 * audit trail (hmb_ledger_audit.h). verify recomputes every hash and
 * names what was altered, inserted or deleted; roots prints the day roots
 * an auditor keeps outside the ledger. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#include "hmb_ledger_audit.h"
#include "hmb_rollup.h"
#include "hmbctl.h"

/* findings printed before the summary line */
#define AUDIT_SHOW 100
/* days one roots command covers */
#define AUDIT_MAX_DAYS 3660

static int audit_verify(hmbctl_t *c, hmb_ledger_t *l)
{
    hmb_audit_report_t *r;
    const hmb_audit_finding_t *f;
    const char *err;
    int i;

    if ((err = hmb_audit_verify(l, c->p, c->from, c->to, AUDIT_SHOW, &r))) {
        return rejected(err);
    }
    for (i = 0; i < r->findings->nelts; i++) {
        f = &APR_ARRAY_IDX(r->findings, i, hmb_audit_finding_t);
        printf("%s %s: %s\n", f->what, f->hmb_setl_id ? f->hmb_setl_id
                                                      : f->day, f->detail);
    }
    if (!r->findings->nelts) {
        printf("audit trail intact: %" APR_INT64_T_FMT " claims chained, "
               "%d sealed day roots recomputed\n", r->claims, r->roots);
        return HMBCTL_OK;
    }
    f = &APR_ARRAY_IDX(r->findings, 0, hmb_audit_finding_t);
    return rejected(apr_psprintf(c->p, "the audit trail does not hold: %d%s "
                                 "finding(s) in %" APR_INT64_T_FMT " claims; "
                                 "the first: %s %s", r->findings->nelts,
                                 r->more ? "+" : "", r->claims, f->what,
                                 f->hmb_setl_id ? f->hmb_setl_id : f->day));
}

static int audit_roots(hmbctl_t *c, hmb_ledger_t *l)
{
    const char *from = c->from, *to = c->to, *day, *err;
    int n = 0, changed = 0;

    if (c->day) {
        if (from || to) {
            return usage("audit roots takes --day or --from and --to, "
                         "not both");
        }
        from = to = c->day;
    }
    if (!from || !to) {
        return usage("audit roots needs --day DATE or --from DATE --to DATE");
    }
    for (day = from; strcmp(day, to) <= 0;
         day = hmb_rollup_day_add(c->p, day, 1)) {
        hmb_audit_root_t *r;

        if (++n > AUDIT_MAX_DAYS) {
            return usage("audit roots covers at most 3660 days at once");
        }
        if ((err = hmb_audit_root(l, c->p, day, &r))) {
            return rejected(err);
        }
        printf("%s %s heads %d claims %" APR_INT64_T_FMT " %s\n", r->day,
               r->root, r->heads, r->claims,
               !r->sealed ? "open (the day is not over)"
               : !strcmp(r->sealed, r->root)
                 ? apr_pstrcat(c->p, "sealed ", r->sealed_at, NULL)
                 : apr_pstrcat(c->p, "CHANGED since sealed ", r->sealed_at,
                               " as ", r->sealed, NULL));
        changed += r->sealed && strcmp(r->sealed, r->root);
    }
    if (changed) {
        return rejected(apr_psprintf(c->p, "%d day root(s) differ from the "
                                     "ones sealed: run hmbctl audit verify",
                                     changed));
    }
    return HMBCTL_OK;
}

int cmd_audit(hmbctl_t *c)
{
    const char *what = c->args->nelts == 1
                       ? APR_ARRAY_IDX(c->args, 0, const char *) : "";
    hmb_ledger_t *l;
    int rc;

    if (strcmp(what, "verify") && strcmp(what, "roots")) {
        return usage("audit takes verify or roots");
    }
    if (!strcmp(what, "verify") && c->day) {
        return usage("audit verify takes --from and --to, not --day");
    }
    /* an audit reads what is there: no new empty ledger, no migration */
    if ((rc = open_ledger_ex(c, HMB_LEDGER_EXISTING, &l)) != HMBCTL_OK) {
        return rc;
    }
    return !strcmp(what, "verify") ? audit_verify(c, l) : audit_roots(c, l);
}
