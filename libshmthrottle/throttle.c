/* throttle.c - the public API: lock, let the policy decide, publish,
 * unlock, and wait outside the lock. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "cost.h"
#include "futex.h"
#include "inflight.h"
#include "internal.h"
#include "learn.h"
#include "lock.h"
#include "policy.h"
#include "redis.h"
#include "ring.h"
#include "segment.h"
#include "timing.h"

struct shmt_throttle {
	struct shmt_seg seg;
	int64_t (*mono)(void);
	int64_t (*wall)(void);
	/* the owner record of the places taken here; 0: the caller's */
	uint64_t owner;
	char name[SHMT_NAME_MAX + 1];
	/* a throttle on Redis (redis.c); NULL: in shared memory */
	struct shmt_redis *rd;
};

/* What an acquire asks for. */
struct want {
	int64_t cost;
	unsigned flags;
};

/* A waiter for a place looks again after this (doubling to the last):
 * a holder that dies wakes no one, so waiters poll and the first to
 * find the cap reached (at most every REAP_EVERY) looks for the dead. */
#define PLACE_POLL_FIRST (SHMT_NS / 100)
#define PLACE_POLL_LAST (SHMT_NS / 5)
#define REAP_EVERY (SHMT_NS / 20)

void
shmt_set_clock(shmt_throttle *t, int64_t (*mono)(void), int64_t (*wall)(void))
{
	t->mono = mono;
	t->wall = wall;
	if (t->rd)
		shmt_redis_set_clock(t->rd, mono);
}

struct shmt_seg *
shmt_seg_of(shmt_throttle *t)
{
	return &t->seg;
}

int
shmt_open(shmt_throttle **tp, const char *name, const shmt_config *cfg,
          unsigned flags)
{
	shmt_throttle *t;
	int rc;

	if (!tp || ((flags & SHMT_CREATE) && !cfg))
		return SHMT_EINVAL;
	*tp = NULL;
	if ((rc = shmt_name_check(name)) != SHMT_OK)
		return rc;
	if (!(t = calloc(1, sizeof(*t))))
		return SHMT_ENOMEM;
	t->mono = shmt_mono_ns;
	t->wall = shmt_wall_ns;
	snprintf(t->name, sizeof(t->name), "%s", name);
	rc = shmt_seg_open(&t->seg, name, cfg, flags, t->mono());
	if (rc != SHMT_OK) {
		/* SHMT_ESYS promises errno: the clean-up must not change it */
		int saved = errno;

		shmt_close(t);
		errno = saved;
		return rc;
	}
	*tp = t;
	return SHMT_OK;
}

int
shmt_open_backend(shmt_throttle **tp, const char *backend, const char *name,
                  const shmt_config *cfg, unsigned flags)
{
	struct shmt_backend_url u;
	shmt_throttle *t;
	int rc;

	if (!tp || ((flags & SHMT_CREATE) && !cfg))
		return SHMT_EINVAL;
	*tp = NULL;
	if ((rc = shmt_backend_parse(backend, &u)) != SHMT_OK)
		return rc;
	if (u.kind == SHMT_BACKEND_SHM)
		return shmt_open(tp, name, cfg, flags);
	if ((rc = shmt_name_check(name)) != SHMT_OK)
		return rc;
	if (!(t = calloc(1, sizeof(*t))))
		return SHMT_ENOMEM;
	t->mono = shmt_mono_ns;
	t->wall = shmt_wall_ns;
	t->seg.fd = -1;
	snprintf(t->name, sizeof(t->name), "%s", name);
	if ((rc = shmt_redis_open(&t->rd, &u, name, cfg, flags, t->mono))) {
		free(t);
		return rc;
	}
	*tp = t;
	return SHMT_OK;
}

void
shmt_close(shmt_throttle *t)
{
	if (!t)
		return;
	shmt_redis_close(t->rd);
	if (!t->rd)
		shmt_seg_close(&t->seg);
	free(t);
}

const char *
shmt_name(const shmt_throttle *t)
{
	return t ? t->name : NULL;
}

/* Lock, then read the clock, once: a time read before the lock may
 * already be older than the last entry another process wrote. */
static int
lock(shmt_throttle *t, int64_t *now)
{
	return shmt_seg_lock(&t->seg, t->mono, now);
}

static struct shmt_ring *
ring(shmt_throttle *t)
{
	return &t->seg.ring;
}

/*
 * The log is full: may its oldest entry go to make room for a send at
 * `at`?  Not if it is a reservation still to come (its waiter would take
 * it for due), nor if a reservation still to come, the new one included,
 * is spaced from it (a re-plan without it would skip that rule and could
 * move the reservation into a full window): by a rate, one at most
 * `nmax` entries after it; by a unit limit, any while it is inside that
 * limit's period, however many entries that holds (costs of 0 too).  The
 * log is sorted: a new send due now has none after it, and the nmax-th
 * entry after the oldest tells (read only when the caller is to wait
 * anyway).
 */
static int
tail_needed(const struct shmt_ring *r, const struct shmt_rules *u, int64_t now,
            int64_t at)
{
	uint64_t tail = r->st->tail;
	int64_t oldest = *shmt_ring_mono(r, tail);

	if (oldest > now)
		return 1;
	if (at <= now)
		return 0;
	for (unsigned i = 0; i < u->nu; i++)
		if (shmt_add_ns(oldest, u->usp[i].p) > now)
			return 1;
	if (u->nmax == 0)
		return 0;
	if (tail + u->nmax < r->st->head)
		return *shmt_ring_mono(r, tail + u->nmax) > now;
	return 1;
}

/* Reserve the next slot: SHMT_OK with *seq and *at, or why not. */
static int
reserve(shmt_throttle *t, int64_t now, int64_t deadline, int nowait,
        int64_t cost, uint64_t *seq, int64_t *at)
{
	struct shmt_ring *r = ring(t);
	struct shmt_state *st = r->st;
	const struct shmt_rules *u;

	*at = shmt_admit_new(r, cost, now);
	u = shmt_ring_rules(r);
	if (shmt_sub_ns(*at, now) > u->horizon)
		return SHMT_ECORRUPT;
	if (nowait && *at > now)
		return SHMT_EAGAIN;
	if (*at > deadline)
		return SHMT_ETIMEDOUT;
	if (st->head - st->tail >= r->cap && tail_needed(r, u, now, *at))
		return SHMT_EFULL;
	*seq = shmt_ring_append_cost(r, *at, cost);
	return SHMT_OK;
}

/* This thread's process, as a place's owner record: read from /proc once
 * per thread, and again in a forked child. */
static uint64_t
owner_of(const shmt_throttle *t)
{
	static _Thread_local uint32_t pid;
	static _Thread_local uint64_t rec;
	uint32_t me;

	if (t->owner)
		return t->owner;
	me = (uint32_t)getpid();
	if (pid != me) {
		rec = shmt_proc_record(me);
		pid = me;
	}
	return rec;
}

/*
 * With the lock taken at *now, and a concurrency cap: a place for the
 * request about to be appended, waiting outside the lock while all are
 * held.  *place is its index (-1: no cap).  On SHMT_OK, SHMT_EAGAIN and
 * SHMT_ETIMEDOUT the lock is held; on any other code (the lock's) it is
 * not, and *locked says so.
 */
static int
take_place(shmt_throttle *t, int64_t *now, int64_t deadline, int nowait,
           int *place, int *locked)
{
	struct shmt_costs *c = &ring(t)->st->costs;
	int64_t poll = PLACE_POLL_FIRST;
	uint64_t owner = 0;
	uint32_t seen;
	int rc;

	for (;;) {
		uint32_t cap = ring(t)->cfg->concurrency;

		*place = -1;
		if (cap == 0)
			return SHMT_OK;
		/* who we are costs a system call: only with a cap */
		if (!owner)
			owner = owner_of(t);
		*place =
		    shmt_place_take(c, cap, owner, ring(t)->st->head, *now);
		if (*place >= 0)
			return SHMT_OK;
		/* the cap is reached: are all its holders still there? */
		if (shmt_sub_ns(*now, c->reaped) >= REAP_EVERY ||
		    c->reaped > *now) {
			c->reaped = *now;
			if (shmt_places_reap(c, shmt_proc_alive) > 0)
				continue;
		}
		if (nowait)
			return SHMT_EAGAIN;
		if (*now >= deadline)
			return SHMT_ETIMEDOUT;
		seen = __atomic_load_n(&c->place_wake, __ATOMIC_SEQ_CST);
		shmt_seg_unlock(&t->seg);
		shmt_futex_wait(&c->place_wake, seen,
		                poll < deadline - *now ? poll
		                                       : deadline - *now);
		poll = poll * 2 < PLACE_POLL_LAST ? poll * 2 : PLACE_POLL_LAST;
		if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
		    (rc = lock(t, now)) != SHMT_OK) {
			*locked = 0;
			return rc;
		}
	}
}

/* Wake the waiters for a place, after unlocking. */
static void
places_freed(shmt_throttle *t)
{
	shmt_futex_wake_all(&t->seg.h->st.costs.place_wake);
}

/*
 * How late a waiter may reach its slot and still send on it: the margin,
 * which every spacing adds for this very jitter (a send at most `margin`
 * after its slot is still `period` before the slot `max` places on), and
 * at least 1 ms, the scheduler's usual lateness, so that a margin of 0
 * does not send every waiter round again.
 */
static int64_t
late_limit(const struct shmt_scfg *c)
{
	return c->margin > SHMT_NS / 1000 ? c->margin : SHMT_NS / 1000;
}

/* With the lock taken: the waiter of entry seq gives it up unsent (it
 * takes a new slot).  What was learned may free a place in the quota's
 * budget (every reservation re-planned, every waiter woken, as after a
 * record that taught something) or make the burst stricter (re-planned
 * later). */
static void
give_up(shmt_throttle *t, uint64_t seq, int64_t now)
{
	int g = shmt_learn_given_up(ring(t), seq, now);

	if (g & SHMT_GIVEN_UP_FREED) {
		shmt_replan(ring(t), now);
		shmt_futex_wake_all(&t->seg.h->wake);
	} else if (g & SHMT_GIVEN_UP_STRICTER) {
		shmt_replan_later(ring(t), now);
	}
}

/* With the lock taken at `now`: a place if there is a cap, then tk's
 * slot; wait for it outside the lock, and unlock.  *freed: a place was
 * given back under this lock (the caller's record) and not taken again
 * here, so its waiters must be woken. */
static int
acquire_locked(shmt_throttle *t, shmt_ticket *tk, const struct want *w,
               double timeout, int64_t now, int *freed)
{
	struct shmt_costs *c = &ring(t)->st->costs;
	int64_t start = now, deadline, at;
	uint64_t seq;
	uint32_t seen;
	int rc, place = -1, locked = 1;

	deadline = timeout <= 0 ? INT64_MAX
	                        : shmt_add_ns(start, shmt_sec_to_ns(timeout));
	/* a cost no window holds would wait forever */
	if (w->cost > shmt_cost_max(ring(t)->cfg)) {
		shmt_seg_unlock(&t->seg);
		return SHMT_ECOST;
	}
	rc = SHMT_OK;
	if (!(w->flags & SHMT_ACQUIRE_NOPLACE))
		rc = take_place(t, &now, deadline, timeout == 0, &place,
		                &locked);
	if (!locked)
		return rc;
	if (place >= 0)
		*freed = 0;
	if (rc == SHMT_OK)
		rc =
		    reserve(t, now, deadline, timeout == 0, w->cost, &seq, &at);
	while (rc == SHMT_OK && at > now) {
		/* Sleep outside the lock; a reset or reconfiguration bumps the
		 * word, and a new delay may move our slot: read it again. */
		if (place >= 0)
			c->place[place].seq = seq;
		seen = __atomic_load_n(&t->seg.h->wake, __ATOMIC_SEQ_CST);
		shmt_seg_unlock(&t->seg);
		shmt_futex_wait(&t->seg.h->wake, seen, at - now);
		/* a wait is long enough for a peer to truncate or delete it */
		if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
		    (rc = lock(t, &now)) != SHMT_OK)
			return rc;
		/* Dropped while we slept (a reset of the log, or a full log
		 * that found our slot due after a re-plan moved it earlier):
		 * a send now would be in no window.  Take a slot that is. */
		if (!shmt_ring_valid(ring(t), seq)) {
			rc = reserve(t, now, deadline, 0, w->cost, &seq, &at);
			continue;
		}
		at = *shmt_ring_mono(ring(t), seq);
		/* Stopped, or starved of CPU, past our slot: a send now may
		 * land among the sends planned after it.  Keep the slot, moved
		 * to now or to when the rules admit the log so raised; else
		 * take a new one.  The old one stays in the log for the
		 * spacing rules, but as given up unsent: the server granted
		 * no send there, and what it granted is what is learned. */
		if (shmt_sub_ns(now, at) > late_limit(ring(t)->cfg)) {
			int64_t kept = shmt_keep_late(ring(t), seq, now);

			if (kept == INT64_MIN) {
				give_up(t, seq, now);
				rc = reserve(t, now, deadline, 0, w->cost, &seq,
				             &at);
				continue;
			}
			at = kept;
		}
		/* the slot stays used: conservative */
		if (at > deadline)
			rc = SHMT_ETIMEDOUT;
	}
	if (rc == SHMT_OK) {
		struct shmt_state *st = ring(t)->st;

		st->requests++;
		st->waited += shmt_sub_ns(now, start);
		tk->seq = seq;
		tk->send_ns = at;
		tk->attempt++;
	}
	/* our place names our request, or goes back */
	if (place >= 0 && c->place[place].owner) {
		if (rc == SHMT_OK) {
			c->place[place].seq = seq;
		} else {
			c->place[place].owner = 0;
			*freed = 1;
		}
	}
	shmt_seg_unlock(&t->seg);
	return rc;
}

int
shmt_acquire_cost(shmt_throttle *t, shmt_ticket *tk, uint32_t cost,
                  unsigned flags, double timeout)
{
	struct want w = { .cost = cost, .flags = flags };
	int64_t now;
	int rc, freed = 0;

	if (!t || !tk || isnan(timeout) || (flags & ~SHMT_ACQUIRE_NOPLACE))
		return SHMT_EINVAL;
	/* on Redis the server takes the place, if there is a cap */
	if (t->rd)
		return shmt_redis_acquire(
		    t->rd, tk, cost,
		    flags & SHMT_ACQUIRE_NOPLACE ? 0 : owner_of(t), timeout);
	if ((rc = lock(t, &now)) != SHMT_OK)
		return rc;
	rc = acquire_locked(t, tk, &w, timeout, now, &freed);
	if (freed)
		places_freed(t);
	return rc;
}

int
shmt_acquire(shmt_throttle *t, shmt_ticket *tk, double timeout)
{
	return shmt_acquire_cost(t, tk, 1, 0, timeout);
}

/* The caller's measures of the request of tk, whose entry is in the log:
 * into the shared samples, and a late send raises the log.  Returns 1 if
 * an entry moved. */
static int
measured(struct shmt_ring *r, const shmt_ticket *tk, int64_t now)
{
	int64_t admitted = *shmt_ring_mono(r, tk->seq);
	int64_t sent = tk->sent_ns > 0 ? tk->sent_ns : 0;

	if (sent > now)
		sent = now;
	if (!sent && !tk->rtt_ns)
		return 0;
	shmt_timing_add(&r->st->timing, sent ? shmt_sub_ns(sent, admitted) : -1,
	                tk->rtt_ns > 0 ? tk->rtt_ns : -1);
	return sent > admitted && shmt_raise(r, tk->seq, sent, now);
}

/* The request's status and URL, for shmt_log_read(). */
static void
note(struct shmt_seg *sg, uint64_t seq, int status, const char *url)
{
	struct shmt_note *n = &sg->notes[seq % SHMT_NOTES];
	size_t len = 0;

	if (url)
		while (len < sizeof(n->url) - 1 && url[len])
			len++;
	n->seq = seq;
	n->status = status;
	memcpy(n->url, url ? url : "", len);
	n->url[len] = '\0';
}

/* tk's place, if it holds one, goes back; 1 if one did. */
static int
release_place(struct shmt_ring *r, uint64_t seq)
{
	/* no cap, no places (a set that removes the cap frees them all) */
	return r->cfg->concurrency ? shmt_place_release(&r->st->costs, seq) : 0;
}

/*
 * A response whose record needs no time: a final status (not 429, not
 * marked retryable), no measures, no quota headers, and nothing to learn
 * (the probe over, a limit known: shmt_learn_response's fast path).
 * Recording it reads no clock: half of a request's clock reads.
 */
static int
untimed(const struct shmt_ring *r, const shmt_ticket *tk, int status,
        const shmt_quota *q, unsigned flags)
{
	return status > 0 && status != 429 && !(flags & SHMT_RECORD_RETRY) &&
	       tk->sent_ns <= 0 && tk->rtt_ns == 0 &&
	       shmt_learn_idle(r, status, q);
}

/* With the lock taken, no time read: the record of an untimed() response,
 * as record_locked() would make it. */
static void
record_untimed(shmt_throttle *t, const shmt_ticket *tk, int status,
               const char *url, unsigned flags, shmt_outcome *out, int *freed)
{
	struct shmt_ring *r = ring(t);
	/* a final response: the policy reads neither time */
	struct shmt_response rsp = { .status = status,
		                     .flags = flags,
		                     .retry_after = -1 };
	int64_t wait;

	*freed = release_place(r, tk->seq);
	if (shmt_ring_valid(r, tk->seq)) {
		shmt_ring_set_status(r, tk->seq, status);
		note(&t->seg, tk->seq, status, url);
	}
	*out = (shmt_outcome){ .verdict = shmt_apply_response(r, &rsp, &wait) };
}

/* With the lock taken at `now`: the response to tk's request, and what
 * its quota headers said (q may be NULL); its place (if it holds one)
 * goes back: *freed then.  Returns 1 if what was learned moved
 * reservations earlier: their waiters must be woken. */
static int
record_locked(shmt_throttle *t, const shmt_ticket *tk, int status,
              double retry_after, const shmt_quota *q, const char *url,
              unsigned flags, int64_t now, shmt_outcome *out, int *freed)
{
	struct shmt_ring *r = ring(t);
	struct shmt_response rsp = {
		.now = now,
		.status = status,
		.retry_after = -1,
		.flags = flags,
		.attempt = tk->attempt ? tk->attempt : 1,
	};
	int64_t wait, end, margin = r->st->timing.margin;
	uint64_t seq = UINT64_MAX;
	int verdict, moved = 0, learned, woken = 0;

	if (retry_after >= 0)
		rsp.retry_after = shmt_sec_to_ns(retry_after);
	*freed = release_place(r, tk->seq);
	/* The log knows the send time; a ticket from a script might lie. */
	rsp.send = tk->send_ns < now ? tk->send_ns : now;
	if (shmt_ring_valid(r, tk->seq)) {
		int64_t sent = *shmt_ring_mono(r, tk->seq);

		seq = tk->seq;
		rsp.send = sent < now ? sent : now;
		shmt_ring_set_status(r, tk->seq, status);
		note(&t->seg, tk->seq, status, url);
		moved = measured(r, tk, now);
	}
	if (q)
		shmt_learn_prepare(&rsp, q);
	end = r->st->end_of_delay;
	verdict = shmt_apply_response(r, &rsp, &wait);
	learned =
	    shmt_learn_response(r, &rsp, seq, q, r->st->end_of_delay != end);
	/* the quota's pause counts for this request too */
	if (verdict != SHMT_DONE && rsp.status > 0 &&
	    shmt_sub_ns(r->st->end_of_delay, now) > wait)
		wait = shmt_sub_ns(r->st->end_of_delay, now);
	/* What was learned may free slots earlier: re-plan and wake every
	 * waiter, those that wait to reserve too (perform.c: the end of a
	 * probe moves no reservation, it frees the next send).  Else a new
	 * delay, a late send or a larger margin: later, never earlier. */
	if (learned) {
		shmt_replan(r, now);
		woken = 1;
	} else if (moved || r->st->end_of_delay != end ||
	           r->st->timing.margin > margin)
		shmt_replan_later(r, now);
	*out =
	    (shmt_outcome){ .verdict = verdict, .delay = shmt_ns_to_sec(wait) };
	return woken;
}

int
shmt_record(shmt_throttle *t, const shmt_ticket *tk, int status,
            double retry_after, const char *url, unsigned flags,
            shmt_outcome *out)
{
	return shmt_record_quota(t, tk, status, retry_after, NULL, url, flags,
	                         out);
}

int
shmt_record_quota(shmt_throttle *t, const shmt_ticket *tk, int status,
                  double retry_after, const shmt_quota *q, const char *url,
                  unsigned flags, shmt_outcome *out)
{
	shmt_outcome o;
	int64_t now;
	int rc, woken = 0, freed, timed;

	if (!t || !tk || isnan(retry_after))
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_record(t->rd, tk, status, retry_after, q, url,
		                         flags, out);
	/* the clock only if the record needs it */
	rc = shmt_seg_lock_untimed(&t->seg, t->mono, &now, &timed);
	if (rc != SHMT_OK)
		return rc;
	if (untimed(ring(t), tk, status, q, flags)) {
		record_untimed(t, tk, status, url, flags, &o, &freed);
	} else {
		if (!timed &&
		    (rc = shmt_seg_clock(&t->seg, t->mono, &now)) != SHMT_OK)
			return rc;
		woken = record_locked(t, tk, status, retry_after, q, url, flags,
		                      now, &o, &freed);
	}
	shmt_seg_unlock(&t->seg);
	if (woken)
		shmt_futex_wake_all(&t->seg.h->wake);
	if (freed)
		places_freed(t);
	if (out)
		*out = o;
	return SHMT_OK;
}

void
shmt_ticket_next(shmt_ticket *tk, int verdict)
{
	if (verdict == SHMT_RETRY) {
		tk->sent_ns = 0;
		tk->rtt_ns = 0;
	} else {
		shmt_ticket_init(tk);
	}
}

int
shmt_record_acquire(shmt_throttle *t, shmt_ticket *tk, int status,
                    double retry_after, const char *url, unsigned flags,
                    shmt_outcome *out, double timeout)
{
	struct want w = { .cost = 1 };
	shmt_outcome o;
	int64_t now;
	int rc, freed;

	if (!t || !tk || isnan(retry_after) || isnan(timeout))
		return SHMT_EINVAL;
	/* on Redis: one run, one round trip */
	if (t->rd)
		return shmt_redis_record_acquire(t->rd, tk, status, retry_after,
		                                 url, flags, out, owner_of(t),
		                                 timeout);
	if ((rc = lock(t, &now)) != SHMT_OK)
		return rc;
	/* waiters whose slots moved earlier wake now, before we may sleep */
	if (record_locked(t, tk, status, retry_after, NULL, url, flags, now, &o,
	                  &freed))
		shmt_futex_wake_all(&t->seg.h->wake);
	if (out)
		*out = o;
	/* the same request again, at the cost it declared; or the next one */
	if (o.verdict == SHMT_RETRY && shmt_ring_valid(ring(t), tk->seq))
		w.cost = shmt_cost_of(ring(t), tk->seq);
	shmt_ticket_next(tk, o.verdict);
	rc = acquire_locked(t, tk, &w, timeout, now, &freed);
	if (freed)
		places_freed(t);
	return rc;
}

int
shmt_cost_set(shmt_throttle *t, const shmt_ticket *tk, uint32_t cost)
{
	int64_t now;
	int rc, earlier = 0, moved;

	if (!t || !tk)
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_cost_set(t->rd, tk, cost);
	if ((rc = lock(t, &now)) != SHMT_OK)
		return rc;
	moved = shmt_cost_settle(ring(t), tk->seq, cost);
	/* A refund: room for the sends to come.  Every waiter is told, those
	 * that reserved (re-planned earlier) and those that wait to reserve
	 * (perform.c sleeps on the same word).  A charge: they wait longer,
	 * never less. */
	if (moved < 0) {
		shmt_replan(ring(t), now);
		earlier = 1;
	} else if (moved > 0)
		shmt_replan_later(ring(t), now);
	shmt_seg_unlock(&t->seg);
	if (earlier)
		shmt_futex_wake_all(&t->seg.h->wake);
	return SHMT_OK;
}

int
shmt_release(shmt_throttle *t, const shmt_ticket *tk)
{
	int64_t now;
	int rc, freed;

	if (!t || !tk)
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_release(t->rd, tk);
	if ((rc = lock(t, &now)) != SHMT_OK)
		return rc;
	freed = release_place(ring(t), tk->seq);
	shmt_seg_unlock(&t->seg);
	if (freed)
		places_freed(t);
	return SHMT_OK;
}

int
shmt_owner_set(shmt_throttle *t, long pid)
{
	uint64_t rec = 0;

	if (!t || pid < 0 || pid > UINT32_MAX)
		return SHMT_EINVAL;
	if (pid && !(rec = shmt_proc_record((uint32_t)pid)))
		return SHMT_EINVAL;
	t->owner = rec;
	return SHMT_OK;
}

int
shmt_places_read(shmt_throttle *t, shmt_place *buf, size_t n, size_t *got)
{
	const struct shmt_costs *c;
	int64_t now;
	size_t k = 0;
	int rc;

	if (!t || (!buf && n) || !got)
		return SHMT_EINVAL;
	*got = 0;
	if (t->rd)
		return shmt_redis_places_read(t->rd, buf, n, got);
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	c = &ring(t)->st->costs;
	for (unsigned i = 0; i < SHMT_MAX_PLACES && k < n; i++) {
		const struct shmt_place_rec *p = &c->place[i];

		if (!p->owner)
			continue;
		buf[k] = (shmt_place){
			.pid = (long)(p->owner >> 32),
			.seq = p->seq,
			.held = shmt_ns_to_sec(shmt_sub_ns(now, p->since)),
		};
		if (shmt_ring_valid(ring(t), p->seq))
			buf[k].cost = (uint64_t)shmt_cost_of(ring(t), p->seq);
		k++;
	}
	*got = k;
	shmt_seg_unlock(&t->seg);
	return SHMT_OK;
}

int
shmt_next_slot(shmt_throttle *t, uint32_t cost, double *secs, uint32_t *seen)
{
	int64_t now;
	int rc;

	*seen = 0;
	if (t->rd) {
		shmt_stat st;

		if ((rc = shmt_redis_stat(t->rd, cost, &st)) != SHMT_OK)
			return rc;
		*secs = st.next_slot > st.delay_remaining ? st.next_slot
		                                          : st.delay_remaining;
		return SHMT_OK;
	}
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	*secs = shmt_ns_to_sec(
	    shmt_sub_ns(shmt_admit_new(ring(t), cost, now), now));
	*seen = __atomic_load_n(&t->seg.h->wake, __ATOMIC_SEQ_CST);
	shmt_seg_unlock(&t->seg);
	return SHMT_OK;
}

int
shmt_wait_nearer(shmt_throttle *t, uint32_t seen, double secs)
{
	/* no word to wait on: a nap of at most a slice, as a waiter's, so
	 * that a refund or a reset reaches the caller as soon */
	if (t->rd) {
		double slice = shmt_ns_to_sec(shmt_redis_slice);

		shmt_sleep(secs < slice ? secs : slice);
		return secs > slice;
	}
	return shmt_futex_wait(&t->seg.h->wake, seen, shmt_sec_to_ns(secs)) ==
	       0;
}

/* Run fn under the lock, re-plan the reservations and wake every waiter. */
static int
update(shmt_throttle *t, void (*fn)(shmt_throttle *, int64_t, const void *),
       const void *arg)
{
	int64_t now;
	int rc = shmt_seg_intact(&t->seg);

	if (rc != SHMT_OK || (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	fn(t, now, arg);
	shmt_replan(ring(t), now);
	shmt_seg_unlock(&t->seg);
	shmt_futex_wake_all(&t->seg.h->wake);
	/* a cap raised frees places */
	places_freed(t);
	return SHMT_OK;
}

static void
do_reset(shmt_throttle *t, int64_t now, const void *arg)
{
	unsigned what = *(const unsigned *)arg;
	struct shmt_state *st = ring(t)->st;

	if (what & SHMT_RESET_BACKOFF)
		st->backoff = 0;
	if (what & SHMT_RESET_DELAY) {
		st->end_of_delay = 0;
		shmt_learn_forget(&st->learn, 0);
	}
	if (what & SHMT_RESET_LEARNED)
		shmt_learn_forget(&st->learn, 1);
	if (what & (SHMT_RESET_DELAY | SHMT_RESET_LEARNED))
		shmt_ring_rules_changed(ring(t));
	if (what & SHMT_RESET_LOG) {
		shmt_ring_drop_before(ring(t),
		                      shmt_ring_first_after(ring(t), now));
		/* the costs of the sends forgotten count no more */
		st->costs.cum_floor = st->costs.cum_tail;
	}
	if (what & SHMT_RESET_COUNTERS) {
		st->requests = st->n429 = st->retries = 0;
		st->waited = 0;
		st->last_429 = 0;
	}
}

int
shmt_reset(shmt_throttle *t, unsigned what)
{
	if (!t || (what & ~SHMT_RESET_ALL))
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_reset(t->rd, what);
	return update(t, do_reset, &what);
}

static void
do_set_config(shmt_throttle *t, int64_t now, const void *arg)
{
	const struct shmt_scfg *c = arg;

	(void)now;
	shmt_seg_config_set(&t->seg, c);
	/* without a cap no place is taken or given back: none may linger
	 * to count against a cap set later */
	if (c->concurrency == 0)
		shmt_places_clear(&ring(t)->st->costs);
}

int
shmt_config_set(shmt_throttle *t, const shmt_config *cfg)
{
	struct shmt_scfg s;
	int rc;

	if (!t || !cfg)
		return SHMT_EINVAL;
	if ((rc = shmt_config_check(cfg)) != SHMT_OK)
		return rc;
	if (t->rd)
		return shmt_redis_config_set(t->rd, cfg);
	shmt_scfg_from(&s, cfg);
	/* The log cannot grow: the new rates must fit the capacity it has. */
	if (shmt_scfg_check(&s, t->seg.ring.cap) != SHMT_OK ||
	    (cfg->capacity && cfg->capacity != t->seg.ring.cap))
		return SHMT_ECONFIG;
	return update(t, do_set_config, &s);
}

int
shmt_config_get(shmt_throttle *t, shmt_config *cfg)
{
	int64_t now;
	int rc;

	if (!t || !cfg)
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_config_get(t->rd, cfg);
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	shmt_scfg_to(cfg, ring(t)->cfg, ring(t)->cap);
	shmt_seg_unlock(&t->seg);
	return SHMT_OK;
}

void
shmt_fill_timing(const struct shmt_scfg *c, const struct shmt_timing *tm,
                 shmt_stat *s)
{
	struct shmt_spacing sp[SHMT_MAX_RATES];

	s->samples = tm->n_late > tm->n_rtt ? tm->n_late : tm->n_rtt;
	s->lateness = shmt_ns_to_sec(shmt_timing_high(tm->late_us, tm->n_late));
	s->rtt_low = shmt_ns_to_sec(shmt_timing_low(tm->rtt_us, tm->n_rtt));
	s->rtt_high = shmt_ns_to_sec(shmt_timing_high(tm->rtt_us, tm->n_rtt));
	s->margin = shmt_ns_to_sec(c->margin);
	if (shmt_spacings(c, tm, sp) > 0) {
		struct shmt_timing none = { 0 };
		struct shmt_spacing base[SHMT_MAX_RATES];
		struct shmt_scfg fixed = *c;

		/* the spacing without any margin, to tell the margin apart */
		fixed.flags |= SHMT_SCFG_FIXED_MARGIN;
		fixed.margin = 0;
		shmt_spacings(&fixed, &none, base);
		s->margin = shmt_ns_to_sec(sp[0].p - base[0].p);
	}
}

static void
fill_stat(shmt_throttle *t, int64_t now, shmt_stat *s)
{
	struct shmt_ring *r = ring(t);
	const struct shmt_state *st = r->st;
	uint64_t due = shmt_ring_first_after(r, now);

	shmt_scfg_to(&s->config, r->cfg, r->cap);
	for (unsigned i = 0; i < r->cfg->nrates; i++)
		s->window_sends[i] =
		    (uint32_t)(due - shmt_ring_first_after(
		                         r, now - r->cfg->rate_period[i]));
	s->next_slot = shmt_ns_to_sec(shmt_admit_at(r, st->head, now) - now);
	s->backoff = shmt_ns_to_sec(st->backoff);
	if (st->end_of_delay > now)
		s->delay_remaining = shmt_ns_to_sec(st->end_of_delay - now);
	s->waiting = (uint32_t)(st->head - due);
	for (unsigned i = 0; i < r->cfg->nunits && i < SHMT_MAX_UNITS; i++)
		s->window_units[i] = (uint64_t)shmt_cost_range(
		    r, shmt_ring_first_after(r, now - r->cfg->unit_period[i]),
		    due);
	s->inflight = shmt_places_used(&st->costs);
	s->requests = st->requests;
	s->n429 = st->n429;
	s->retries = st->retries;
	s->waited = shmt_ns_to_sec(st->waited);
	/* kept on the monotonic clock; shown on the wall clock */
	if (st->last_429)
		s->last_429 = shmt_ns_to_sec(
		    shmt_add_ns(st->last_429, shmt_sub_ns(t->wall(), now)));
	s->log_count = (uint32_t)(st->head - st->tail);
	s->capacity = r->cap;
	s->repairs = st->repairs;
	shmt_fill_timing(r->cfg, &st->timing, s);
	shmt_learn_stat(r, now, s);
}

int
shmt_stat_get(shmt_throttle *t, shmt_stat *st)
{
	int64_t now;
	int rc;

	if (!t || !st)
		return SHMT_EINVAL;
	*st = (shmt_stat){ 0 };
	if (t->rd)
		return shmt_redis_stat(t->rd, 1, st);
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	fill_stat(t, now, st);
	shmt_seg_unlock(&t->seg);
	return SHMT_OK;
}

int
shmt_log_read(shmt_throttle *t, shmt_log_entry *buf, size_t n, size_t *got)
{
	const struct shmt_ring *r;
	uint64_t end, first;
	int64_t now, offset;
	int rc;

	if (!t || (!buf && n) || !got)
		return SHMT_EINVAL;
	if (t->rd)
		return shmt_redis_log_read(t->rd, buf, n, got);
	r = ring(t);
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	/* the notes hold the newest SHMT_NOTES requests: no more */
	if (n > SHMT_NOTES)
		n = SHMT_NOTES;
	offset = shmt_sub_ns(t->wall(), now);
	end = shmt_ring_first_after(r, now);
	first = end - r->st->tail > n ? end - n : r->st->tail;
	for (uint64_t s = first; s < end; s++) {
		const struct shmt_note *nt = &t->seg.notes[s % SHMT_NOTES];
		shmt_log_entry *o = &buf[s - first];

		o->seq = s;
		o->wall =
		    shmt_ns_to_sec(shmt_add_ns(*shmt_ring_mono(r, s), offset));
		o->status = 0;
		o->url[0] = '\0';
		if (nt->seq == s) {
			o->status = nt->status;
			memcpy(o->url, nt->url, sizeof(o->url));
			o->url[sizeof(o->url) - 1] = '\0';
		} else if (r->tag[shmt_ring_pos(r, s)] & SHMT_TAG_429) {
			o->status = 429;
		}
	}
	*got = (size_t)(end - first);
	shmt_seg_unlock(&t->seg);
	return SHMT_OK;
}

int
shmt_verify(shmt_throttle *t)
{
	int64_t now;
	int rc;

	if (!t)
		return SHMT_EINVAL;
	/* Redis checks every field at every call */
	if (t->rd)
		return SHMT_OK;
	if ((rc = shmt_seg_intact(&t->seg)) != SHMT_OK ||
	    (rc = lock(t, &now)) != SHMT_OK)
		return rc;
	rc = shmt_seg_validate(&t->seg, now);
	shmt_seg_unlock(&t->seg);
	return rc;
}

void
shmt_ticket_init(shmt_ticket *tk)
{
	if (tk)
		*tk = (shmt_ticket){ 0 };
}

int
shmt_ticket_format(const shmt_ticket *tk, char *buf, size_t len)
{
	int n;

	if (!tk || !buf)
		return SHMT_EINVAL;
	n = snprintf(buf, len, "%" PRIu64 ":%" PRId64 ":%" PRIu32, tk->seq,
	             tk->send_ns, tk->attempt);
	return n < 0 || (size_t)n >= len ? SHMT_EINVAL : SHMT_OK;
}

/* An unsigned decimal field ending at `end`; 0 if malformed. */
static int
field(const char **s, char end, uint64_t max, uint64_t *v)
{
	char *stop;

	if (!isdigit((unsigned char)**s))
		return 0;
	errno = 0;
	*v = strtoull(*s, &stop, 10);
	if (errno || *v > max || *stop != end)
		return 0;
	*s = stop + (end != '\0');
	return 1;
}

int
shmt_ticket_parse(const char *s, shmt_ticket *tk)
{
	uint64_t seq, send, attempt;

	if (!s || !tk)
		return SHMT_EINVAL;
	if (!field(&s, ':', UINT64_MAX, &seq) ||
	    !field(&s, ':', INT64_MAX, &send) ||
	    !field(&s, '\0', UINT32_MAX, &attempt))
		return SHMT_ETICKET;
	*tk = (shmt_ticket){ .seq = seq,
		             .send_ns = (int64_t)send,
		             .attempt = (uint32_t)attempt };
	return SHMT_OK;
}
