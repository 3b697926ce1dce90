/* What the libFuzzer harnesses share: one process-wide set-up, and the
 * invariants every input must keep. A broken invariant is reported on
 * stderr with its name and ends the process with abort(), which libFuzzer
 * records as a crash together with the input that caused it. */
#ifndef HMB_FUZZ_COMMON_H
#define HMB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#include "hmb_engine.h"
#include "hmb_message.h"
#include "hmb_plan.h"

/* DOMAIN.md, "Identity and conflicts": the largest amount a message may
 * carry, 9,999,999,999.99 yuan, in fen. */
#define HMB_FUZZ_AMOUNT_BOUND APR_INT64_C(999999999999)

/* apr, libxml2 (quiet), the process pool. Idempotent. */
apr_pool_t *hmb_fuzz_init(void);

/* Report a broken invariant and abort. */
void hmb_fuzz_fail(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* A whole file into p, NUL-terminated; NULL if it cannot be read. */
const char *hmb_fuzz_read(apr_pool_t *p, const char *path, apr_size_t *len);

/* A file of the source tree, in the process pool; aborts if absent. */
const char *hmb_fuzz_slurp(const char *rel, apr_size_t *len);

/* A plan of the source tree (path relative to it), loaded once. */
const hmb_plan_t *hmb_fuzz_plan(const char *rel);

/* Known, reported bugs (tests/fuzz/README.md, "Findings") are stepped
 * around, so that a run finds what is new: returns 1, and counts the
 * input under id, when the caller is to step around it; 0 when
 * HMB_FUZZ_KNOWN_BUGS=1 asks for them to be hit. The counts are printed
 * when the process exits. */
int hmb_fuzz_step_around(const char *id);

/* Whether libxml2 reported an encoding conversion failure since the last
 * call (cleared by it). */
int hmb_fuzz_conversion_failed(void);

/* 1 when the response carries an amount, or fee lines that add up to
 * one, beyond HMB_FUZZ_AMOUNT_BOUND: DOMAIN.md says such a message is
 * unreadable, so a reader that accepted it is wrong. *why names it. */
int hmb_fuzz_amount_out_of_bounds(apr_pool_t *p, const hmb_response_t *r,
                                  const char **why);

/* Rules 1-9 of DOMAIN.md on a decision the engine made for in: never
 * below 0 or above the burden, no liability above the cap it had left,
 * no more than the plan-wide cap left, the parts adding up, the shares
 * adding up to hmb_pay. */
void hmb_fuzz_check_decision(const hmb_engine_input_t *in,
                             const hmb_decision_t *d);

/* A reversal of claim (made from decision d) mirrors it exactly. */
void hmb_fuzz_check_reversal(const hmb_decision_t *d,
                             const hmb_decision_t *rev);

/* The splice, checked against libxml2's own reading of the bytes: at is
 * the '<' of the end tag of the root's first <output> child; inserting
 * text (ASCII, ending with one <hmbinfo> element) there gives a document
 * that parses, whose <output> has that <hmbinfo> as its very last child,
 * and which without it is the original document. pay is the hmb_pay the
 * inserted element must show. Returns NULL or what is wrong; the unit
 * tests use it too. */
const char *hmb_fuzz_splice_problem(apr_pool_t *p, const char *buf,
                                    apr_size_t len, apr_size_t at,
                                    const char *text, const char *pay);

/* The same, aborting on a problem. */
void hmb_fuzz_check_splice(apr_pool_t *p, const char *buf, apr_size_t len,
                           apr_size_t at, const char *text,
                           const char *pay);

#endif
