/* learn.c - the quota the server announces, and the rate its refusals
 * teach, as pacing rules beside the configured rates (see docs/design.md,
 * "Quota headers and learning"). */
#include "learn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ring.h"
#include "timing.h"

/* The status's new fields came from its reserved space: its size holds. */
_Static_assert(sizeof(shmt_stat) == 1000, "shmt_stat changed size: ABI");
_Static_assert(sizeof(shmt_quota) == 144, "shmt_quota changed size: ABI");

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

/* The announced limit as a spacing (n, p): at most n sends in p.  A limit
 * larger than half the log is scaled down to fit it, same rate.  0 if
 * there is none. */
static uint32_t
window_rule(const struct shmt_ring *r, int64_t *p)
{
	const struct shmt_learn *l = &r->st->learn;
	uint32_t n = l->max;
	int64_t period = min64(l->period, r->cfg->retry_after_max);

	if (n == 0 || period <= 0)
		return 0;
	if (n > r->cap / 2) {
		n = r->cap / 2;
		period = (int64_t)((double)period * n / l->max);
	}
	*p = shmt_add_ns(period, shmt_margin(r->cfg, &r->st->timing, period));
	return n;
}

/* b paces (each at most backoff_max), the margin added: the server counts
 * arrivals, as for the announced window. */
static int64_t
burst_window(const struct shmt_state *st, const struct shmt_scfg *c, uint32_t b)
{
	/* a pace of up to backoff_max (a week) times up to 2^32 sends */
	double w = (double)b * (double)min64(st->learn.pace, c->backoff_max);
	int64_t p = w >= (double)SHMT_NS_LIMIT ? SHMT_NS_LIMIT : (int64_t)w;

	return shmt_add_ns(p, shmt_margin(c, &st->timing, p));
}

/* The burst learned from refusals as a window (b, p): at most b sends in
 * any p, b paces and the margin, b at most half the log (the log must
 * keep a reservation's b-th predecessor: shmt_learn_window_n).  0 if
 * there is none: no pace, or a burst of 1 (the pace alone spaces each
 * send from the one before). */
static uint32_t
burst_rule(const struct shmt_ring *r, int64_t *p)
{
	const struct shmt_learn *l = &r->st->learn;
	uint32_t b = l->burst;

	if (l->pace <= 0 || b <= 1)
		return 0;
	if (b > r->cap / 2)
		b = r->cap / 2;
	*p = burst_window(r->st, r->cfg, b);
	return b;
}

/* The pause the quota calls for lies within this of now, or it is
 * ignored (a peer's garbage, or an old quota). */
static int
quota_valid(const struct shmt_ring *r, int64_t now)
{
	const struct shmt_learn *l = &r->st->learn;
	int64_t ahead = shmt_sub_ns(l->q_reset, now);

	return l->q_reset > 0 && l->q_from <= now && l->q_from <= l->q_reset &&
	       ahead <= shmt_add_ns(r->cfg->retry_after_max, SHMT_NS) &&
	       l->q_budget <= r->cap &&
	       (l->q_unsent == 0 ||
	        (l->q_unsent_last >= l->q_seq &&
	         l->q_unsent <= l->q_unsent_last - l->q_seq + 1));
}

/* Nothing configured (no rate of requests or units, no cap on requests
 * in flight): the probe's case. */
static int
no_limit_known(const struct shmt_scfg *c)
{
	return c->nrates == 0 && c->nunits == 0 && c->concurrency == 0;
}

/* The slow start after the probe applies: nothing known, no refusal, no
 * quota, and fewer answers than SHMT_SLOW_START_MAX since the probe's (a
 * reset that forgets the pace clears ok_since: it does not start again,
 * nothing anchors it). */
static int
slow_start(const struct shmt_state *st, const struct shmt_scfg *c)
{
	const struct shmt_learn *l = &st->learn;

	return no_limit_known(c) && l->heard && l->ok_since > 0 &&
	       l->max == 0 && l->pace == 0 && l->episodes == 0 &&
	       l->q_reset == 0 && l->ok_count < SHMT_SLOW_START_MAX;
}

/* The probe's entry (the first sent at or after ok_since), if the log
 * still holds it and slow start applies; else the head. */
static uint64_t
slow_start_from(const struct shmt_ring *r)
{
	uint64_t a;

	if (!slow_start(r->st, r->cfg))
		return r->st->head;
	a = shmt_ring_first_after(r, shmt_sub_ns(r->st->learn.ok_since, 1));
	return shmt_ring_has(r, a) ? a : r->st->head;
}

/* seq may go in the slow start: at most 2 sends after the probe per
 * answer heard (not a refusal). */
static int
slow_start_allows(const struct shmt_ring *r, uint64_t a, uint64_t seq)
{
	return seq <= a || seq - a <= 2 * r->st->learn.ok_count;
}

/* The newest entry waits for the slow start. */
static int
slow_start_held(const struct shmt_ring *r)
{
	uint64_t a = slow_start_from(r);

	return a < r->st->head && !slow_start_allows(r, a, r->st->head - 1);
}

/* Which send after the quota was read entry seq (>= q_seq) is: the
 * entries before it from q_seq on, less the slots given up unsent, when
 * it comes after all of them (before the newest, some may be after it:
 * none is taken off). */
static uint64_t
quota_k(const struct shmt_learn *l, uint64_t seq)
{
	uint64_t k = seq - l->q_seq;

	if (l->q_unsent > 0 && seq > l->q_unsent_last)
		k -= k < l->q_unsent ? k : l->q_unsent;
	return k;
}

/* The k-th send after the quota was read: the budget spread over the time
 * to the reset when it is low, then nothing before the reset. */
static int64_t
quota_at(const struct shmt_ring *r, uint64_t seq, int64_t now)
{
	const struct shmt_learn *l = &r->st->learn;
	uint64_t k;
	double span;

	if (seq < l->q_seq || !quota_valid(r, now))
		return INT64_MIN;
	k = quota_k(l, seq);
	if (k >= l->q_budget)
		return l->q_reset;
	/* plenty left (over half the limit): no need to spread */
	if (l->max > 0 && l->q_budget > l->max / 2)
		return INT64_MIN;
	/* over the time surely left: a reset rounded up to a whole second
	 * may come up to a second before q_reset */
	span = (double)max64(
	    0, shmt_sub_ns(min64(l->q_low, l->q_reset), l->q_from));
	return shmt_add_ns(l->q_from,
	                   (int64_t)(span * (double)k / l->q_budget));
}

/* seq is one of the sends the last quota allows, and one admitted at t
 * reaches the server before its reset: the reset's earliest time less
 * twice the margin (one for the margin the reset carries, one for the
 * send's lateness and the way there).  After the reset the server counts
 * a new window, which the budget says nothing of. */
static int
in_budget(const struct shmt_ring *r, uint64_t seq, int64_t t, int64_t now)
{
	const struct shmt_learn *l = &r->st->learn;
	int64_t m = shmt_margin(r->cfg, &r->st->timing, SHMT_NS);

	return quota_valid(r, now) && seq >= l->q_seq &&
	       quota_k(l, seq) < l->q_sure && l->q_sure <= l->q_budget &&
	       t < shmt_sub_ns(l->q_low, 2 * m);
}

int64_t
shmt_learn_admit_at(const struct shmt_ring *r, uint64_t seq, int64_t from,
                    int64_t now)
{
	const struct shmt_state *st = r->st;
	const struct shmt_learn *l = &st->learn;
	int64_t t = INT64_MIN, p, bp = 0;
	uint32_t n, b = burst_rule(r, &bp);

	if (seq > st->tail) {
		int64_t prev = *shmt_ring_mono(r, seq - 1);

		/* nothing known: one request first, the next on its answer;
		 * then twice as many as answered (the slow start) */
		if ((no_limit_known(r->cfg) && !l->heard && l->max == 0) ||
		    !slow_start_allows(r, slow_start_from(r), seq))
			t = shmt_add_ns(prev, SHMT_PROBE_WAIT);
		/* a pace without a burst: each send one pace after the
		 * one before */
		if (l->pace > 0 && b == 0)
			t = max64(
			    t, shmt_add_ns(
			           prev, min64(l->pace, r->cfg->backoff_max)));
	}
	/* with a burst: at most b sends in any b paces */
	if (b > 0 && seq >= st->tail + b)
		t = max64(t, shmt_add_ns(*shmt_ring_mono(r, seq - b), bp));
	t = max64(t, quota_at(r, seq, now));
	/* The window rule is our guess of the server's count; for the sends
	 * the quota it has just given allows before its reset, its own count
	 * is better.  This lets our windows follow the server's (fixed
	 * windows, a reset that is not one window after our first send). */
	if ((n = window_rule(r, &p)) > 0 && seq >= st->tail + n &&
	    !in_budget(r, seq, max64(t, from), now))
		t = max64(t, shmt_add_ns(*shmt_ring_mono(r, seq - n), p));
	return t;
}

void
shmt_learn_prepare(struct shmt_response *rsp, const shmt_quota *q)
{
	int64_t since_send = max64(0, shmt_sub_ns(rsp->now, rsp->send));

	if (!q || rsp->status <= 0)
		return;
	if (rsp->retry_after < 0 && q->retry_after >= 0)
		rsp->retry_after =
		    shmt_add_ns(shmt_sec_to_ns(q->retry_after), since_send);
	/* GitHub's 403 (and a 429) with the quota used up: "after the
	 * reset", not final */
	if (q->dialect != SHMT_QUOTA_NONE && q->remaining == 0 &&
	    q->reset >= 0 && (rsp->status == 403 || rsp->status == 429)) {
		rsp->flags |= SHMT_RECORD_RETRY;
		if (rsp->retry_after < 0)
			rsp->retry_after =
			    shmt_add_ns(shmt_sec_to_ns(q->reset), since_send);
	}
}

/* A window nobody announced: the longest time to a reset seen, rounded
 * up to the usual windows (a reset is at most one window away). */
static int64_t
usual_window(double reset)
{
	static const double usual[] = { 1,    2,    5,    10,    15,    20,
		                        30,   60,   120,  300,   600,   900,
		                        1800, 3600, 7200, 21600, 43200, 86400 };

	for (size_t i = 0; i < sizeof(usual) / sizeof(usual[0]); i++)
		if (reset <= usual[i] * 1.001)
			return shmt_sec_to_ns(usual[i]);
	return shmt_sec_to_ns(reset);
}

/* The announced limit, and its window (announced, or estimated). */
static void
learn_limit(struct shmt_learn *l, const shmt_quota *q, int64_t cap)
{
	int64_t w;

	if (q->limit == 0)
		return;
	if (l->max != q->limit || l->dialect != (uint32_t)q->dialect)
		l->period_announced = 0;
	l->max = q->limit;
	l->dialect = (uint32_t)q->dialect;
	snprintf(l->header, sizeof(l->header), "%s", q->header);
	if (q->window > 0) {
		l->period = min64(shmt_sec_to_ns(q->window), cap);
		l->period_announced = 1;
	} else if (!l->period_announced && q->reset > 0) {
		w = min64(usual_window(q->reset), cap);
		if (w > l->period)
			l->period = w;
	}
}

/* The requests on their way when the answer to entry seq (sent at
 * `send`) came, which the server may not have counted: every entry after
 * it in the log that is due by now (sends keep log order, and many share
 * one slot time), and those sent less than the margin before it (they
 * may reach the server after it). */
static uint64_t
on_their_way(const struct shmt_ring *r, uint64_t seq, int64_t send, int64_t now,
             int64_t margin)
{
	uint64_t due = shmt_ring_first_after(r, now);
	uint64_t from = shmt_ring_first_after(r, shmt_sub_ns(send, margin));

	if (!shmt_ring_has(r, seq))
		return due > from ? due - from : 0;
	return (due > seq ? due - seq - 1 : 0) + (from < seq ? seq - from : 0);
}

/* The quota left, less `on_way`, at most the log's capacity. */
static uint64_t
left(const struct shmt_ring *r, const shmt_quota *q, uint64_t on_way)
{
	uint64_t n = (uint64_t)q->remaining > on_way
	                 ? (uint64_t)q->remaining - on_way
	                 : 0;

	return n < r->cap ? n : r->cap;
}

/* The quota left, less the requests already on their way. */
static int
learn_quota(struct shmt_ring *r, const struct shmt_response *rsp, uint64_t seq,
            const shmt_quota *q)
{
	struct shmt_learn *l = &r->st->learn;
	const struct shmt_scfg *c = r->cfg;
	int64_t reset, low, margin = shmt_margin(c, &r->st->timing, SHMT_NS);
	uint64_t due = shmt_ring_first_after(r, rsp->now), budget, sure, end;
	int earlier, same, whole;

	if (q->remaining < 0 || q->reset < 0)
		return 0;
	/* A reset in whole seconds from now is rounded up: the real one lies
	 * in the second before, and before this answer plus the reset (the
	 * request reached the server before it came back): no margin.  One
	 * given otherwise (an epoch, a date, a fraction of a second) gets the
	 * margin. The cap holds, margin included (the horizon checks it). */
	whole = q->reset >= 1 && q->reset == floor(q->reset);
	reset = shmt_add_ns(
	    rsp->now,
	    min64(shmt_add_ns(shmt_sec_to_ns(q->reset), whole ? 0 : margin),
	          c->retry_after_max));
	low = whole ? shmt_sub_ns(reset, SHMT_NS) : reset;
	/* one window as the last reading's (the resets a margin apart) */
	same = quota_valid(r, rsp->now) && l->q_seq <= due &&
	       shmt_sub_ns(low, margin) < l->q_reset &&
	       shmt_sub_ns(l->q_low, margin) < reset;
	/* Readings of one window (fewer left, overlapping seconds) narrow
	 * it, else each reading would carry the rounding. */
	if (quota_valid(r, rsp->now) && q->remaining < l->q_remaining &&
	    low < l->q_reset && l->q_low < reset) {
		reset = min64(reset, l->q_reset);
		low = max64(low, l->q_low);
	}
	budget = left(r, q, on_their_way(r, seq, rsp->send, rsp->now, 0));
	sure = left(r, q, on_their_way(r, seq, rsp->send, rsp->now, margin));
	/* What each reading says is surely free was so when it was read
	 * (the sends since are counted in it): of two readings of one
	 * window, the larger holds.  The first answers of a burst know
	 * least of the others; the last ones count them all as on their
	 * way. */
	/* where the last reading's sure room ends: slots given up in it
	 * took none of it (all of them, if the newest lies in it) */
	end = l->q_seq + l->q_sure;
	if (l->q_unsent > 0 && l->q_unsent_last < end + l->q_unsent)
		end += l->q_unsent;
	if (same && l->q_sure <= l->q_budget && end > due + sure)
		sure = end - due;
	/* ...but never more than this reading leaves (others may use the
	 * quota too: a lower count is news, not a late answer).  The budget
	 * is at least what is surely free: an answer that comes back late
	 * counts as on their way the sends after it that reached the server
	 * before it (which it counted), and would hold sends its window has
	 * room for until the reset (each slot so lost takes one in the next
	 * window). */
	if (sure > (uint64_t)q->remaining)
		sure = (uint64_t)q->remaining;
	if (sure > budget)
		budget = sure;
	/* more surely free: the reservations held by our window may go */
	earlier = !quota_valid(r, rsp->now) || reset < l->q_reset ||
	          budget > l->q_budget || l->q_seq > due || due + sure > end;
	l->q_seq = due;
	l->q_unsent = 0;
	l->q_unsent_last = 0;
	l->q_from = rsp->now;
	l->q_reset = reset;
	l->q_low = low;
	l->q_budget = (uint32_t)budget;
	l->q_sure = (uint32_t)sure;
	l->q_remaining = (uint32_t)q->remaining;
	/* used up: one shared pause until the reset, for every process.  A
	 * budget of 0 with some left (requests on their way may take it)
	 * holds the sends after this answer only (quota_at): the next
	 * answer knows better. */
	if (q->remaining == 0)
		r->st->end_of_delay = max64(r->st->end_of_delay, reset);
	return earlier;
}

/* The cycle from `since` to the end of the pause the server now asks
 * for, seconds. */
static double
cycle_s(const struct shmt_ring *r, const struct shmt_response *rsp,
        int64_t since)
{
	int64_t end = max64(r->st->end_of_delay, rsp->now);

	return shmt_ns_to_sec(shmt_sub_ns(end, since));
}

/* The rate the server granted since ok_since: the sends before `seq` it
 * did not refuse (slots given up unsent are no sends), over the time
 * from ok_since to the end of the pause it now asks for ("n successes,
 * then wait": n over the whole cycle). */
static double
granted(const struct shmt_ring *r, const struct shmt_response *rsp,
        uint64_t seq, int64_t since)
{
	const struct shmt_learn *l = &r->st->learn;
	double n = (double)l->ok_count, span = cycle_s(r, rsp, since);

	if (shmt_ring_has(r, seq)) {
		uint64_t a = shmt_ring_first_after(r, shmt_sub_ns(since, 1));

		if (a < seq)
			n = (double)(seq - a -
			             shmt_ring_count_ungranted(r, a, seq));
		else
			n = 0;
	}
	return span > 1e-6 ? n / span : 0;
}

/* With a burst b > 1 the rate is b over the cycle, so that its window (b
 * paces) is the cycle: the sends before the refused one in the log may
 * miss successes after it (they reached the server first), and their
 * count would stretch the window past the cycle.  Else `est`. */
static double
burst_rate(const struct shmt_ring *r, const struct shmt_response *rsp,
           int64_t since, double est)
{
	double span = cycle_s(r, rsp, since);
	uint32_t b = r->st->learn.burst;

	return b > 1 && span > 1e-6 ? b / span : est;
}

/* The burst the server granted in the cycle from `since`: the sends from
 * then up to entry `to` (not included) it did not refuse, those still on
 * their way counted until their 429 comes, slots given up unsent not at
 * all (a waiter woken late that took another: on Redis, one the slow
 * start freed hears it only at its next look); at least 1, at most half
 * the log (as burst_rule keeps it). */
static uint32_t
burst_of(const struct shmt_ring *r, int64_t since, uint64_t to)
{
	uint64_t a = shmt_ring_first_after(r, shmt_sub_ns(since, 1)), n = 0;

	if (a < to)
		n = to - a - shmt_ring_count_ungranted(r, a, to);
	if (n > r->cap / 2)
		n = r->cap / 2;
	return n < 1 ? 1 : (uint32_t)n;
}

static void
set_rate(struct shmt_learn *l, const struct shmt_scfg *c, double rate)
{
	double floor_rate = 1 / shmt_ns_to_sec(c->backoff_max);

	if (!(rate >= floor_rate))
		rate = floor_rate;
	if (rate > 1e6)
		rate = 1e6;
	l->pace = (int64_t)(SHMT_NS / rate);
}

/* A refusal.  One that began a pause: the rate becomes what the server
 * granted over the cycle, the first time, and the burst the sends of that
 * cycle it did not refuse; later, the rate is clamped between half and
 * SHMT_LEARN_DOWN of the one before, and each refusal after the first
 * pause takes one from the burst.  The others of the first pause
 * (refused in the same burst) only lower the first estimates: the burst
 * falls to what the server admitted as their 429s come. */
static void
refused(struct shmt_ring *r, const struct shmt_response *rsp, uint64_t seq,
        int new_pause)
{
	struct shmt_learn *l = &r->st->learn;
	double cur = l->pace > 0 ? SHMT_NS / (double)l->pace : 0, est;
	uint32_t b;

	if (l->ok_since > rsp->send && l->episodes == 1) {
		/* sent before the first pause began: it lowers the first
		 * estimates (the burst's first refusals) */
		b = burst_of(
		    r, l->cycle,
		    shmt_ring_first_after(r, shmt_sub_ns(l->ok_since, 1)));
		if (b < l->burst)
			l->burst = b;
		est = burst_rate(r, rsp, l->cycle,
		                 granted(r, rsp, seq, l->cycle));
		if (est < cur && est > 0)
			set_rate(l, r->cfg, est);
		return;
	}
	/* after the first pause, each refusal: the burst was one too many.
	 * It may count a send of the first cycle the server did not grant
	 * in it (made late, it reached the next window), and a burst over
	 * the server's limit is refused in every window, however low the
	 * rate.  One less in the same window (b - 1 sends in b paces): a
	 * shorter window would undo the guarantee, which rests on its
	 * length. */
	if (l->episodes >= 1 && l->burst > 1) {
		if (cur > 0) {
			set_rate(l, r->cfg, cur * (l->burst - 1) / l->burst);
			cur = SHMT_NS / (double)l->pace;
		}
		l->burst--;
	}
	if (l->ok_since > rsp->send || !new_pause)
		return;
	est = granted(r, rsp, seq, l->ok_since);
	if (l->episodes == 0) {
		/* the first cycle's sends up to now: those after this one
		 * are on their way, successes until their 429 comes */
		l->burst = burst_of(r, l->ok_since,
		                    shmt_ring_first_after(r, rsp->now));
		est = burst_rate(r, rsp, l->ok_since, est);
	}
	if (l->episodes == 0 || cur <= 0)
		set_rate(l, r->cfg, est);
	else
		set_rate(l, r->cfg,
		         fmin(SHMT_LEARN_DOWN * cur, fmax(cur / 2, est)));
	l->episodes++;
	l->ok_count = 0;
	l->cycle = l->ok_since;
	l->ok_since = max64(r->st->end_of_delay, rsp->now);
}

/* A success: SHMT_LEARN_UP more per window of the burst (per success
 * without one): a burst of 20 does not narrow its window 20 times as
 * fast as a pace would, when an overrun refuses many at once. */
static void
succeeded(struct shmt_learn *l)
{
	double rate;

	l->ok_count++;
	if (l->pace <= 0)
		return;
	rate = SHMT_NS / (double)l->pace;
	rate += SHMT_LEARN_UP * fmin(rate, 1.0) / (l->burst > 1 ? l->burst : 1);
	l->pace = max64(1000, (int64_t)(SHMT_NS / rate));
}

/* shmt_learn_response past its fast path: may change every rule. */
static int
learn(struct shmt_ring *r, const struct shmt_response *rsp, uint64_t seq,
      const shmt_quota *q, int new_pause)
{
	struct shmt_learn *l = &r->st->learn;
	int quota = q && q->dialect != SHMT_QUOTA_NONE, earlier = 0;
	int64_t pace = l->pace;
	uint32_t burst = l->burst;

	/* any answer ends the probe, even a transport error's: the next
	 * request need not wait for more */
	if (!l->heard) {
		l->heard = 1;
		l->ok_since = rsp->send;
		earlier = 1;
	}
	if (rsp->status <= 0) {
		/* an answer all the same: the slow start goes on */
		if (slow_start_held(r))
			earlier = 1;
		if (slow_start(r->st, r->cfg))
			l->ok_count++;
		return earlier;
	}
	if (quota) {
		learn_limit(l, q, r->cfg->retry_after_max);
		/* the server says enough: no guessing beside it */
		l->pace = 0;
		l->burst = 0;
		return learn_quota(r, rsp, seq, q) || earlier || pace > 0;
	}
	/* a configured or announced limit is not second-guessed */
	if (r->cfg->nrates > 0 || l->max > 0)
		return earlier;
	if (rsp->status == 429 || (rsp->flags & SHMT_RECORD_RETRY)) {
		refused(r, rsp, seq, new_pause);
	} else {
		/* an answer that is not a refusal: the slow start lets two
		 * more go, which may wait for it */
		if (slow_start_held(r))
			earlier = 1;
		if (rsp->status >= 100 && rsp->status <= 399)
			succeeded(l);
		else
			l->ok_count++;
	}
	/* a burst that changed moves the window's start and end */
	return earlier || (l->pace > 0 && l->pace < pace) || l->burst != burst;
}

int
shmt_learn_idle(const struct shmt_ring *r, int status, const shmt_quota *q)
{
	const struct shmt_learn *l = &r->st->learn;

	/* the probe is over, no quota headers, and a limit known or no
	 * status (outside the slow start, which counts every answer):
	 * learn() would change nothing */
	return l->heard && (!q || q->dialect == SHMT_QUOTA_NONE) &&
	       (r->cfg->nrates > 0 || l->max > 0 ||
	        (status <= 0 && !slow_start(r->st, r->cfg)));
}

int
shmt_learn_response(struct shmt_ring *r, const struct shmt_response *rsp,
                    uint64_t seq, const shmt_quota *q, int new_pause)
{
	const struct shmt_learn *l = &r->st->learn;
	struct shmt_learn before;
	int earlier;

	if (shmt_learn_idle(r, rsp->status, q))
		return 0;
	before = *l;
	earlier = learn(r, rsp, seq, q, new_pause);
	/* every handle computes its rules again only if what they derive
	 * from changed (shmt_learn_any, _step, _window_n): not on every
	 * answer that carries quota headers */
	if (l->heard != before.heard || l->max != before.max ||
	    l->period != before.period || l->pace != before.pace ||
	    l->burst != before.burst ||
	    (l->q_reset > 0) != (before.q_reset > 0))
		shmt_ring_rules_changed(r);
	return earlier;
}

uint32_t
shmt_learn_window_n(const struct shmt_ring *r)
{
	int64_t p;
	uint32_t n = window_rule(r, &p), b = burst_rule(r, &p);

	return b > n ? b : n;
}

int
shmt_learn_any(const struct shmt_state *st, const struct shmt_scfg *c)
{
	const struct shmt_learn *l = &st->learn;

	/* as shmt_learn_admit_at: the probe, the announced window, the
	 * pace, the quota (quota_valid needs a reset) */
	return (no_limit_known(c) && !l->heard) || slow_start(st, c) ||
	       l->max > 0 || l->pace > 0 || l->q_reset > 0;
}

int64_t
shmt_learn_step(const struct shmt_state *st, const struct shmt_scfg *c)
{
	const struct shmt_learn *l = &st->learn;
	int64_t step = SHMT_PROBE_WAIT;

	if (l->max > 0)
		step = max64(step, min64(l->period, c->retry_after_max));
	if (l->pace > 0)
		step = max64(step, min64(l->pace, c->backoff_max));
	/* the burst's window, unbounded by the log here: a bound only */
	if (l->pace > 0 && l->burst > 1)
		step = max64(step, burst_window(st, c, l->burst));
	return step;
}

void
shmt_learn_stat(const struct shmt_ring *r, int64_t now, shmt_stat *s)
{
	const struct shmt_learn *l = &r->st->learn;
	int64_t p;

	s->probing = no_limit_known(r->cfg) && !l->heard && l->max == 0;
	s->quota_remaining = -1;
	if (l->max > 0 && l->period > 0) {
		s->learned_max = l->max;
		s->learned_dialect = (int)l->dialect;
		s->learned_period =
		    shmt_ns_to_sec(min64(l->period, r->cfg->retry_after_max));
		s->learned_period_announced = l->period_announced != 0;
		memcpy(s->learned_header, l->header, sizeof(s->learned_header));
		s->learned_header[sizeof(s->learned_header) - 1] = '\0';
	}
	if (quota_valid(r, now) && l->q_reset > now) {
		s->quota_remaining = l->q_remaining;
		s->quota_reset = shmt_ns_to_sec(l->q_reset - now);
	}
	if (l->pace > 0)
		s->learned_rate =
		    SHMT_NS / (double)min64(l->pace, r->cfg->backoff_max);
	s->learned_burst = burst_rule(r, &p);
}

int
shmt_learn_given_up(struct shmt_ring *r, uint64_t seq, int64_t now)
{
	struct shmt_learn *l = &r->st->learn;
	uint64_t to;
	uint32_t b;
	int did = 0;

	shmt_ring_set_unsent(r, seq);
	if (quota_valid(r, now) && seq >= l->q_seq && l->q_unsent < r->cap) {
		l->q_unsent++;
		if (seq > l->q_unsent_last)
			l->q_unsent_last = seq;
		did = SHMT_GIVEN_UP_FREED;
	}
	/* a slot of the first cycle, given up after the first refusal
	 * counted it as on its way: the burst falls, as with a late 429 of
	 * that cycle, in the same window (its rate so much lower).  Not
	 * from the time now: its waiter woke late, maybe very late. */
	to = shmt_ring_first_after(r, shmt_sub_ns(l->ok_since, 1));
	if (l->episodes != 1 || l->pace <= 0 || l->burst <= 1 || seq >= to ||
	    (b = burst_of(r, l->cycle, to)) >= l->burst)
		return did;
	set_rate(l, r->cfg, SHMT_NS / (double)l->pace * b / l->burst);
	l->burst = b;
	shmt_ring_rules_changed(r);
	return did | SHMT_GIVEN_UP_STRICTER;
}

void
shmt_learn_forget(struct shmt_learn *l, int all)
{
	if (all) {
		*l = (struct shmt_learn){ 0 };
		return;
	}
	l->q_seq = 0;
	l->q_from = l->q_reset = l->q_low = 0;
	l->q_budget = l->q_remaining = l->q_sure = l->q_unsent = 0;
	l->q_unsent_last = 0;
	l->pace = 0;
	l->burst = 0;
	l->ok_count = 0;
	l->ok_since = 0;
	l->episodes = 0;
	l->cycle = 0;
}
