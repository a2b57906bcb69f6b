/*
 * learn.h - what the server says of its quota (headers) and what its
 * refusals teach, as rules the pacing enforces beside the configured
 * rates.  Pure, like policy.h: the caller holds the lock and passes the
 * time; every value read from the segment is bounded here.
 */
#ifndef SHMT_LEARN_H
#define SHMT_LEARN_H

#include "clock.h"
#include "policy.h"

/* No limit known, nothing heard yet: each send waits at most this long
 * for the answer to the one before it (the probe). */
#define SHMT_PROBE_WAIT (1 * SHMT_NS)
/* After the probe, nothing known yet (no limit, no refusal): the k-th send
 * after the probe waits for k/2 answers that were not refusals, at most
 * SHMT_PROBE_WAIT after the send before it (a slow start: the sends in
 * flight double with each round of answers), for the first this many
 * answers. */
#define SHMT_SLOW_START_MAX 1024
/* Added to the rate learned from refusals per success, requests/s (at
 * most 0.5 % of the rate per success below 1 request/s): 0.5 % a second;
 * with a burst learned, per window of the burst (divided by it). */
#define SHMT_LEARN_UP 0.005
/* The rate after a refusal is at most this share of the one before. */
#define SHMT_LEARN_DOWN 0.95

/* The earliest time the log entry `seq` may be sent under the learned
 * rules (the probe, the announced limit, the quota left, the pace and
 * the burst);
 * INT64_MIN if none applies.  `from`: the earliest time the other rules
 * allow (the quota's budget lifts the announced limit only for sends
 * that reach the server before its reset). */
int64_t shmt_learn_admit_at(const struct shmt_ring *r, uint64_t seq,
                            int64_t from, int64_t now);
/* Before the response is applied: a 403 or 429 whose quota is used up is
 * retryable, with the reset as its Retry-After; retry-after-ms counts as
 * Retry-After.  q may be NULL. */
void shmt_learn_prepare(struct shmt_response *rsp, const shmt_quota *q);
/* Nothing to learn from an answer of this status with these quota
 * headers (q may be NULL): shmt_learn_response would change nothing, and
 * a record may skip it (and the clock). */
int shmt_learn_idle(const struct shmt_ring *r, int status, const shmt_quota *q);
/* After it is applied (the shared delay already updated; `new_pause`: it
 * began a new one): the quota, the probe, the pace.  seq: the request's
 * log entry (not in the log: unknown).  Returns 1 if a reservation may
 * now be due earlier (re-plan and wake the waiters).  A change of what
 * the handles' rules derive from bumps rules_gen. */
int shmt_learn_response(struct shmt_ring *r, const struct shmt_response *rsp,
                        uint64_t seq, const shmt_quota *q, int new_pause);
/* The waiter of entry seq gave it up unsent at `now` (it takes a new
 * slot): the log marks it.  The quota's budget, which counted it, gets it
 * back for the sends after it (SHMT_GIVEN_UP_FREED: the caller re-plans
 * every reservation to come and wakes the waiters, as after a record that
 * taught something); a burst learned with it as on its way falls
 * (SHMT_GIVEN_UP_STRICTER, rules_gen bumped: without FREED the caller
 * re-plans later only).  Returns those bits (0: neither). */
#define SHMT_GIVEN_UP_FREED 1
#define SHMT_GIVEN_UP_STRICTER 2
int shmt_learn_given_up(struct shmt_ring *r, uint64_t seq, int64_t now);
/* A reset: forget the quota's pause and the learned pace; with `all`,
 * the announced limit too.  The caller bumps rules_gen. */
void shmt_learn_forget(struct shmt_learn *l, int all);
/* The longest spacing the learned rules may put between two sends, ns: the
 * horizon of a reservation grows with it. */
int64_t shmt_learn_step(const struct shmt_state *st, const struct shmt_scfg *c);
/* 1 if a learned rule may apply (shmt_learn_admit_at() is not
 * INT64_MIN for some entry); 0 and the admission need not ask. */
int shmt_learn_any(const struct shmt_state *st, const struct shmt_scfg *c);
/* n of the announced limit's spacing rule or of the learned burst's,
 * the larger (each at most half the log), 0 if there is none. */
uint32_t shmt_learn_window_n(const struct shmt_ring *r);
/* The learned rules as the status shows them. */
void shmt_learn_stat(const struct shmt_ring *r, int64_t now, shmt_stat *s);

#endif
