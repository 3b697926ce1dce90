/* The transactions a settlement may rely on later (docs/memo.md): the fee
 * upload 2301 (item codes in its request's input/feedetail, amounts in
 * its answer's output/result, joined by feedetl_sn), its cancellation
 * 2302 (input/data names the visit and the line) and the person query
 * 1101 (output/baseinfo/psn_no, output/insuinfo[] the status per
 * insutype). Read by the same format readers as settlements, into the
 * same raw table; checked here, field by field, with the same rules. */
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "hmb_message.h"

static void hmb_memo_check_init(hmb_msg_check_t *c, apr_pool_t *p,
                                const hmb_msg_raw_t *raw,
                                const hmb_msg_scope_t *sc)
{
    c->p = p;
    c->sc = sc;
    c->wire = raw->wire;
}

const char *hmb_memo_request(apr_pool_t *p, const hmb_msg_raw_t *raw,
                             hmb_request_t *q)
{
    int i;

    q->uploads = apr_array_make(p, raw->items->nelts ? raw->items->nelts : 1,
                                sizeof(hmb_memo_fee_t));
    for (i = 0; i < raw->items->nelts; i++) {
        hmb_memo_fee_t *u = apr_array_push(q->uploads);
        hmb_msg_check_t c;
        const char *err;

        memset(u, 0, sizeof(*u));
        hmb_memo_check_init(&c, p, raw,
                            &APR_ARRAY_IDX(raw->items, i, hmb_msg_scope_t));
        /* a line without its visit or its code says nothing we could
         * use, and the answer's amounts would have nowhere to go */
        if ((err = hmb_msg_check_id(&c, "feedetl_sn", 1,
                                    &u->fee.feedetl_sn))
            || (err = hmb_msg_check_id(&c, "mdtrt_id", 1, &u->mdtrt_id))
            || (err = hmb_msg_check_id(&c, "psn_no", 0, &u->psn_no))
            || (err = hmb_msg_check_id(&c, "med_list_codg", 1,
                                       &u->fee.med_list_codg))) {
            return apr_pstrcat(p, "request/input/", err, NULL);
        }
    }
    return NULL;
}

/* 2301: each line of the answer joined to the request's line with its
 * feedetl_sn. A line the request did not send, or two with one
 * feedetl_sn, would leave us guessing whose amounts are whose. */
static const char *hmb_memo_fees(apr_pool_t *p, const hmb_msg_raw_t *raw,
                                 const hmb_request_t *rq, hmb_memo_t *m)
{
    apr_hash_t *sent = apr_hash_make(p), *seen = apr_hash_make(p);
    apr_array_header_t *fees;
    const char *err;
    int i;

    for (i = 0; rq->uploads && i < rq->uploads->nelts; i++) {
        hmb_memo_fee_t *u = &APR_ARRAY_IDX(rq->uploads, i, hmb_memo_fee_t);

        if (apr_hash_get(sent, u->fee.feedetl_sn, APR_HASH_KEY_STRING)) {
            return apr_psprintf(p, "request/input/feedetail[%d]: feedetl_sn "
                                "\"%s\" twice", i + 1, u->fee.feedetl_sn);
        }
        apr_hash_set(sent, u->fee.feedetl_sn, APR_HASH_KEY_STRING, u);
    }
    m->fees = apr_array_make(p, raw->items->nelts ? raw->items->nelts : 1,
                             sizeof(hmb_memo_fee_t));
    fees = apr_array_make(p, raw->items->nelts ? raw->items->nelts : 1,
                          sizeof(hmb_fee_t));
    for (i = 0; i < raw->items->nelts; i++) {
        hmb_memo_fee_t *f = apr_array_push(m->fees);
        const hmb_memo_fee_t *u;
        hmb_msg_check_t c;
        const char *sn;

        hmb_memo_check_init(&c, p, raw,
                            &APR_ARRAY_IDX(raw->items, i, hmb_msg_scope_t));
        /* refund lines are negative */
        if ((err = hmb_msg_check_id(&c, "feedetl_sn", 1, &sn))
            || (err = hmb_msg_check_amount(&c, "fulamt_ownpay_amt", 0, 1,
                                           &f->fee.fulamt_ownpay_amt, NULL))
            || (err = hmb_msg_check_amount(&c, "overlmt_amt", 0, 1,
                                           &f->fee.overlmt_amt, NULL))) {
            return apr_pstrcat(p, "output/", err, NULL);
        }
        u = apr_hash_get(sent, sn, APR_HASH_KEY_STRING);
        if (!u) {
            return apr_psprintf(p, "output/result[%d]: feedetl_sn \"%s\" "
                                "is no line of the request", i + 1, sn);
        }
        if (apr_hash_get(seen, sn, APR_HASH_KEY_STRING)) {
            return apr_psprintf(p, "output/result[%d]: feedetl_sn \"%s\" "
                                "twice", i + 1, sn);
        }
        apr_hash_set(seen, sn, APR_HASH_KEY_STRING, sn);
        f->mdtrt_id = u->mdtrt_id;
        f->psn_no = u->psn_no;
        f->fee.feedetl_sn = u->fee.feedetl_sn;
        f->fee.med_list_codg = u->fee.med_list_codg;
        *(hmb_fee_t *)apr_array_push(fees) = f->fee;
    }
    return hmb_fees_check_sum(p, fees);
}

/* 1101: the person, and the status of each of their insurances. */
static const char *hmb_memo_person(apr_pool_t *p, const hmb_msg_raw_t *raw,
                                   hmb_memo_t *m)
{
    hmb_msg_check_t c;
    const char *err;
    int i;

    if (raw->n_object > 1) {
        return apr_pstrcat(p, "output: more than one ",
                           hmb_msg_wire_name(p, raw->wire, "baseinfo"),
                           NULL);
    }
    hmb_memo_check_init(&c, p, raw, &raw->object);
    if ((err = hmb_msg_check_id(&c, "psn_no", 1, &m->psn_no))) {
        return err;
    }
    m->status = apr_array_make(p, raw->items->nelts ? raw->items->nelts : 1,
                               sizeof(hmb_memo_status_t));
    for (i = 0; i < raw->items->nelts; i++) {
        hmb_memo_status_t *st = apr_array_push(m->status);
        int j;

        hmb_memo_check_init(&c, p, raw,
                            &APR_ARRAY_IDX(raw->items, i, hmb_msg_scope_t));
        if ((err = hmb_msg_check_id(&c, "insutype", 1, &st->insutype))
            || (err = hmb_msg_check_digit(&c, "psn_insu_stas",
                                          &st->psn_insu_stas))) {
            return apr_pstrcat(p, "output/", err, NULL);
        }
        if (st->psn_insu_stas < 0) {
            /* an insurance without its status says nothing */
            m->status->nelts--;
            continue;
        }
        for (j = 0; j < m->status->nelts - 1; j++) {
            const hmb_memo_status_t *o = &APR_ARRAY_IDX(m->status, j,
                                                        hmb_memo_status_t);
            if (!strcmp(o->insutype, st->insutype)
                && o->psn_insu_stas != st->psn_insu_stas) {
                return apr_psprintf(p, "output/insuinfo[%d]: insutype %s "
                                    "twice, with different statuses", i + 1,
                                    st->insutype);
            }
        }
    }
    return NULL;
}

const char *hmb_memo_finish(hmb_msg_reader_t *r, const hmb_request_t *rq,
                            hmb_memo_t **memo)
{
    const hmb_msg_raw_t *raw;
    const char *err, *infcode;
    hmb_memo_t *m;
    apr_pool_t *p;

    *memo = NULL;
    if ((err = hmb_msg_finish_raw(r, "response", &raw, &p))) {
        return err;
    }
    m = apr_pcalloc(p, sizeof(*m));
    m->what = rq->memo;
    if ((err = hmb_msg_infcode(p, raw, &infcode, &m->skip_reason))) {
        return err;
    }
    if (m->skip_reason) {
        *memo = m;
        return NULL;
    }
    if (raw->n_container > 1) {
        return apr_pstrcat(p, "response: more than one ",
                           hmb_msg_wire_name(p, raw->wire, "output"), NULL);
    }
    if (rq->memo == HMB_MEMO_FEES_CANCEL) {
        /* the answer says only that it was done */
        m->mdtrt_id = rq->mdtrt_id;
        m->psn_no = rq->psn_no;
        m->feedetl_sn = rq->feedetl_sn && strcmp(rq->feedetl_sn, "0000")
                        ? rq->feedetl_sn : NULL;
        m->actionable = 1;
        *memo = m;
        return NULL;
    }
    if (!raw->n_container || raw->container_opaque) {
        m->skip_reason = raw->container_opaque
            ? "output is not an object (encrypted?)"
            : "no output in the response";
        *memo = m;
        return NULL;
    }
    if (raw->shape) {
        return raw->shape;
    }
    if (rq->memo == HMB_MEMO_PERSON && !raw->n_object) {
        m->skip_reason = "no baseinfo in output";
        *memo = m;
        return NULL;
    }
    err = rq->memo == HMB_MEMO_FEES ? hmb_memo_fees(p, raw, rq, m)
                                    : hmb_memo_person(p, raw, m);
    if (err) {
        return err;
    }
    m->actionable = 1;
    *memo = m;
    return NULL;
}
