/* policy.c - pacing, delays and backoff: the seed's rules, corrected. */
#include "policy.h"

#include "clock.h"
#include "config.h"
#include "cost.h"
#include "learn.h"
#include "ring.h"

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The entry seq whose cumulative cost is cum (its own included). */
static int64_t
admit(struct shmt_ring *r, uint64_t seq, int64_t cum, int64_t now)
{
	const struct shmt_state *st = r->st;
	const struct shmt_rules *u = shmt_ring_rules(r);
	int64_t t = max64(now, st->end_of_delay);

	/* Sends stay in log order: first come, first served. */
	if (seq > st->tail)
		t = max64(t, *shmt_ring_mono(r, seq - 1));
	for (unsigned i = 0; i < u->n; i++)
		if (seq >= st->tail + u->sp[i].n)
			t = max64(
			    t, shmt_add_ns(*shmt_ring_mono(r, seq - u->sp[i].n),
			                   u->sp[i].p));
	/* what the server announced, or its refusals taught */
	if (u->learned)
		t = max64(t, shmt_learn_admit_at(r, seq, t, now));
	return u->nu ? shmt_cost_admit(r, seq, cum, t) : t;
}

int64_t
shmt_admit_at(struct shmt_ring *r, uint64_t seq, int64_t now)
{
	/* a send still to come costs 1 after what the log holds */
	if (seq >= r->st->head)
		return admit(
		    r, seq, shmt_add_ns(shmt_cost_pre(r, r->st->head), 1), now);
	return admit(r, seq, *shmt_ring_cum(r, seq), now);
}

int64_t
shmt_admit_new(struct shmt_ring *r, int64_t cost, int64_t now)
{
	uint64_t seq = r->st->head;

	return admit(r, seq, shmt_add_ns(shmt_cost_pre(r, seq), cost), now);
}

int
shmt_replan(struct shmt_ring *r, int64_t now)
{
	return shmt_replan_from(r, shmt_ring_first_after(r, now), now);
}

int
shmt_replan_from(struct shmt_ring *r, uint64_t from, int64_t now)
{
	int earlier = 0;

	for (uint64_t s = from; s < r->st->head; s++) {
		int64_t *mono = shmt_ring_mono(r, s);
		int64_t t = shmt_admit_at(r, s, now);

		earlier |= t < *mono;
		*mono = t;
	}
	return earlier;
}

int
shmt_raise(struct shmt_ring *r, uint64_t seq, int64_t sent, int64_t now)
{
	int moved = 0;

	if (sent > now)
		sent = now;
	for (uint64_t s = seq; s < r->st->head; s++) {
		int64_t *mono = shmt_ring_mono(r, s);

		if (*mono >= sent)
			break;
		*mono = sent;
		moved = 1;
	}
	return moved;
}

/* At most this many entries raised for a late waiter (a stack array); a
 * longer run of sends after its slot sends it round again.  At most
 * KEEP_PASSES tries for a time that admits them all: a raised entry spaced
 * from another raised one moves on every pass and is never admitted. */
#define KEEP_MAX 256
#define KEEP_PASSES 4

int64_t
shmt_keep_late(struct shmt_ring *r, uint64_t seq, int64_t now)
{
	uint64_t end = shmt_ring_first_after(r, now), s;
	int64_t was[KEEP_MAX], at = now, next = now, edge;
	int pass;

	if (seq < r->st->tail || seq >= end || end - seq > KEEP_MAX)
		return INT64_MIN;
	for (s = seq; s < end; s++)
		was[s - seq] = *shmt_ring_mono(r, s);
	for (pass = 0; pass < KEEP_PASSES; pass++) {
		for (s = seq; s < end; s++)
			*shmt_ring_mono(r, s) = at;
		for (s = seq; s < end; s++)
			next = max64(next, shmt_admit_at(r, s, at));
		if (next == at)
			break;
		at = next;
	}
	/* The sends after it left at their old times, and a record takes its
	 * send time from the log: a raise past the end of a pause would make
	 * one sent before that pause look sent after it (its 429 a new
	 * pause, a new episode learned). */
	edge = max64(r->st->end_of_delay, r->st->learn.ok_since);
	if (pass == KEEP_PASSES ||
	    (seq + 1 < end && was[1] < edge && edge <= at)) {
		for (s = seq; s < end; s++)
			*shmt_ring_mono(r, s) = was[s - seq];
		return INT64_MIN;
	}
	shmt_replan_later(r, now);
	return at;
}

void
shmt_replan_later(struct shmt_ring *r, int64_t now)
{
	for (uint64_t s = shmt_ring_first_after(r, now); s < r->st->head; s++) {
		int64_t *mono = shmt_ring_mono(r, s);
		int64_t t = shmt_admit_at(r, s, now);

		if (t > *mono)
			*mono = t;
	}
}

static int64_t
backoff_cap(const struct shmt_scfg *c)
{
	int64_t p = shmt_longest_period(c);

	/* Capped, never reset to 0: the seed's reset gave a 429 storm no pause.
	 */
	return p > 0 ? min64(p, c->backoff_max) : c->backoff_max;
}

int64_t
shmt_backoff_next(const struct shmt_scfg *c, int64_t cur)
{
	double next = cur > 0 ? (double)cur * c->backoff_multiplier
	                      : (double)c->backoff_initial;
	int64_t cap = backoff_cap(c);

	return next >= (double)cap ? cap : (int64_t)next;
}

int64_t
shmt_backoff_for_attempt(const struct shmt_scfg *c, uint32_t attempt)
{
	int64_t b = 0;

	for (uint32_t i = 0; i < attempt; i++) {
		int64_t next = shmt_backoff_next(c, b);

		if (next == b)
			break;
		b = next;
	}
	return b;
}

/* The seed's period estimate: the rest of the period, scaled by the share of
 * the limit the recent successful sends used.  -1 when no rate saw one. */
static int64_t
run_rate_estimate(const struct shmt_ring *r, int64_t now)
{
	const struct shmt_scfg *c = r->cfg;
	int64_t best = -1;

	for (unsigned i = 0; i < c->nrates && i < SHMT_MAX_RATES; i++) {
		uint32_t count;
		int64_t oldest, rest;

		shmt_ring_run_rate(r, now, c->rate_period[i], c->rate_max[i],
		                   &count, &oldest);
		if (count == 0)
			continue;
		/* within [0, period] even if a damaged log put oldest ahead */
		rest = max64(0, shmt_sub_ns(c->rate_period[i],
		                            shmt_sub_ns(now, oldest)));
		rest = min64(rest, c->rate_period[i]);
		best = max64(best,
		             (int64_t)((double)rest * count / c->rate_max[i]));
	}
	return best;
}

int64_t
shmt_delay_end(struct shmt_state *st, const struct shmt_ring *r,
               const struct shmt_response *rsp)
{
	const struct shmt_scfg *c = r->cfg;
	int64_t end, est;

	if (rsp->retry_after >= 0) {
		end = shmt_add_ns(rsp->send,
		                  min64(rsp->retry_after, c->retry_after_max));
	} else if (rsp->status == 429 &&
	           (est = run_rate_estimate(r, rsp->now)) >= 0) {
		end = shmt_add_ns(rsp->now, est);
	} else {
		/* No Retry-After, no period, or no success in it: back off. */
		st->backoff = shmt_backoff_next(c, st->backoff);
		end = shmt_add_ns(rsp->send, st->backoff);
	}
	/* The seed could sleep 0 s after a 429: the floor counts from now. */
	return max64(end, shmt_add_ns(rsp->now, c->backoff_initial));
}

int
shmt_apply_response(struct shmt_ring *r, const struct shmt_response *rsp,
                    int64_t *wait)
{
	struct shmt_state *st = r->st;
	int retryable = rsp->status == 429 || (rsp->flags & SHMT_RECORD_RETRY);

	*wait = 0;
	if (!retryable) {
		if ((rsp->status > 0 && rsp->status <= 399) ||
		    rsp->status == 401)
			st->backoff = 0;
		return SHMT_DONE;
	}
	if (rsp->status == 429) {
		st->n429++;
		st->last_429 = rsp->now;
	}
	if (rsp->status <= 0) {
		/* A transport error tells nothing of the shared limit. */
		*wait = shmt_backoff_for_attempt(r->cfg, rsp->attempt);
	} else {
		/* Sent before the current delay ended: that delay covers it. */
		if (rsp->send >= st->end_of_delay)
			st->end_of_delay =
			    max64(st->end_of_delay, shmt_delay_end(st, r, rsp));
		*wait = max64(0, shmt_sub_ns(st->end_of_delay, rsp->now));
	}
	if (rsp->attempt > r->cfg->max_retries)
		return SHMT_GIVE_UP;
	st->retries++;
	return SHMT_RETRY;
}
