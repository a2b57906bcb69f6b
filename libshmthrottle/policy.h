/*
 * policy.h - every decision of the throttle, as pure functions of the
 * state, the configuration and `now`.  No clock is read, nothing sleeps
 * and nothing locks here: the caller holds the lock and passes the time,
 * so the unit tests can pin each rule down with an injected clock.
 */
#ifndef SHMT_POLICY_H
#define SHMT_POLICY_H

#include "state.h"

/* A response, as shmt_record() hands it to the policy. */
struct shmt_response {
	int64_t now;         /* mono ns when it is recorded */
	int64_t send;        /* mono ns the request was sent */
	int64_t retry_after; /* ns from the send, or -1 */
	int status;          /* HTTP status, <= 0 for no response */
	unsigned flags;      /* SHMT_RECORD_* */
	uint32_t attempt;    /* 1 for the first send */
};

/* The earliest time the log entry `seq` may be sent, given the entries
 * before it, the end of the shared delay and `now` (seq == head: a new
 * send costing 1). */
int64_t shmt_admit_at(struct shmt_ring *r, uint64_t seq, int64_t now);
/* The same for a new send (at head) costing `cost` units. */
int64_t shmt_admit_new(struct shmt_ring *r, int64_t cost, int64_t now);
/* A request really left at `sent`, after the time its entry `seq` says:
 * it counts from then.  The entry, and those after it that are earlier
 * (the log stays sorted), move to `sent`; only entries no later than now
 * are touched.  Returns 1 if one moved. */
int shmt_raise(struct shmt_ring *r, uint64_t seq, int64_t sent, int64_t now);
/* The waiter of entry `seq` reaches it late, at `now` (a send planned from
 * it may have left).  It keeps its place if the log raised to some time
 * `at` >= now — its entry and those after it that are no later than now
 * (sent already, or as late) — admits each of them at `at`: then whatever
 * the real sends were, no window counts more than it did or will (a raise
 * only moves sends later, into windows the rules check).  Returns `at`
 * (now, or later when the rules moved on since its slot: a larger margin,
 * a send before it that left late, a pause that began), the log raised
 * and the reservations still to come re-planned later only; else
 * INT64_MIN and the log as it was (the waiter must take a new slot): a
 * send after it was spaced from it and left, more than 256 entries, or a
 * pause that ended between a raised send and `at` (that send would look
 * made after it). */
int64_t shmt_keep_late(struct shmt_ring *r, uint64_t seq, int64_t now);
/* Re-plan the reservations still in the future, moving none earlier (no
 * waiter is woken): after a new delay, a raise or a larger margin. */
void shmt_replan_later(struct shmt_ring *r, int64_t now);
/* Give every reservation still in the future its earliest time again (after
 * a reset, a reconfiguration or a new delay).  Returns 1 if one of them
 * moved earlier, so that its waiter must be woken. */
int shmt_replan(struct shmt_ring *r, int64_t now);
/* The same from sequence number `from` on (entries nobody has seen). */
int shmt_replan_from(struct shmt_ring *r, uint64_t from, int64_t now);
/* The backoff that follows `cur` (0: none yet): initial, then times the
 * multiplier, capped by backoff_max and by the longest known period. */
int64_t shmt_backoff_next(const struct shmt_scfg *c, int64_t cur);
/* A request's own backoff after its attempt-th send failed in transport. */
int64_t shmt_backoff_for_attempt(const struct shmt_scfg *c, uint32_t attempt);
/* The end of the delay a new 429 (or retry status) calls for: Retry-After,
 * else the run-rate estimate, else backoff (which advances st->backoff);
 * never less than backoff_initial from now. */
int64_t shmt_delay_end(struct shmt_state *st, const struct shmt_ring *r,
                       const struct shmt_response *rsp);
/* Apply a response to the state; returns an enum shmt_verdict and the
 * time to wait before a retry in *wait (ns). */
int shmt_apply_response(struct shmt_ring *r, const struct shmt_response *rsp,
                        int64_t *wait);

#endif
