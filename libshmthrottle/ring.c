/* ring.c - the request log and its counts of what was not granted. */
#include "ring.h"

#include <string.h>

#include "clock.h"
#include "config.h"
#include "cost.h"
#include "learn.h"

/* Fenwick tree over positions 0..cap-1, stored 1-based in fw[i - 1]. */
static void
fw_add(const struct shmt_ring *r, uint32_t pos, int32_t delta)
{
	for (uint64_t i = (uint64_t)pos + 1; i <= r->cap; i += i & (~i + 1))
		r->fw[i - 1] += delta;
}

/* Sum over positions [0, pos). */
static uint64_t
fw_prefix(const struct shmt_ring *r, uint32_t pos)
{
	int64_t sum = 0;

	for (uint64_t i = pos; i > 0; i -= i & (~i + 1))
		sum += r->fw[i - 1];
	return sum > 0 ? (uint64_t)sum : 0;
}

static uint64_t
fw_range(const struct shmt_ring *r, uint32_t a, uint32_t b)
{
	uint64_t hi = fw_prefix(r, b), lo = fw_prefix(r, a);

	return hi > lo ? hi - lo : 0;
}

void
shmt_ring_init(struct shmt_ring *r)
{
	memset(r->mono, 0, sizeof(*r->mono) * r->cap);
	memset(r->tag, 0, sizeof(*r->tag) * r->cap);
	memset(r->fw, 0, sizeof(*r->fw) * r->cap);
	memset(r->cum, 0, sizeof(*r->cum) * r->cap);
	r->st->head = r->st->tail = 0;
	r->st->costs.cum_tail = r->st->costs.cum_floor = 0;
}

/* The tree's count of the entry at pos goes; the entry stays
 * (forget_tail drops it). */
static void
forget(struct shmt_ring *r, uint32_t pos)
{
	if (r->tag[pos] & SHMT_TAG_FLAGS)
		fw_add(r, pos, -1);
	r->tag[pos] &= ~SHMT_TAG_FLAGS;
}

/* Drop the oldest entry; its cost joins those before the tail. */
static void
forget_tail(struct shmt_ring *r)
{
	struct shmt_state *st = r->st;
	uint32_t pos = shmt_ring_pos(r, st->tail);

	forget(r, pos);
	st->costs.cum_tail = r->cum[pos];
	st->tail++;
}

uint64_t
shmt_ring_append_cost(struct shmt_ring *r, int64_t mono, int64_t cost)
{
	struct shmt_state *st = r->st;
	uint64_t seq = st->head;
	uint32_t pos = shmt_ring_pos(r, seq);
	int64_t pre;

	if (st->head - st->tail >= r->cap)
		forget_tail(r);
	forget(r, pos);
	/* shmt_cost_pre(r, seq), the slot before ours without a division */
	pre = seq > st->tail ? r->cum[pos ? pos - 1 : r->cap - 1]
	                     : st->costs.cum_tail;
	r->mono[pos] = mono;
	r->tag[pos] = SHMT_TAG(seq, 0);
	r->cum[pos] = shmt_add_ns(pre, cost > 0 ? cost : 0);
	/* the commit point: a crash before it loses nothing */
	st->head = seq + 1;
	return seq;
}

uint64_t
shmt_ring_append(struct shmt_ring *r, int64_t mono)
{
	return shmt_ring_append_cost(r, mono, 1);
}

/* seq's flags become `flags`; the tree counts it if any is set. */
static void
set_flags(struct shmt_ring *r, uint64_t seq, uint32_t flags)
{
	uint32_t pos = shmt_ring_pos(r, seq);
	int was = (r->tag[pos] & SHMT_TAG_FLAGS) != 0, is = flags != 0;

	if (is != was)
		fw_add(r, pos, is - was);
	r->tag[pos] = (r->tag[pos] & ~SHMT_TAG_FLAGS) | flags;
}

void
shmt_ring_set_status(struct shmt_ring *r, uint64_t seq, int status)
{
	set_flags(r, seq, status == 429 ? SHMT_TAG_429 : 0);
}

void
shmt_ring_set_unsent(struct shmt_ring *r, uint64_t seq)
{
	set_flags(r, seq, SHMT_TAG_UNSENT);
}

void
shmt_ring_drop_before(struct shmt_ring *r, uint64_t seq)
{
	while (r->st->tail < seq && r->st->tail < r->st->head)
		forget_tail(r);
}

uint64_t
shmt_ring_first_after(const struct shmt_ring *r, int64_t t)
{
	uint64_t lo = r->st->tail, hi = r->st->head;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (*shmt_ring_mono(r, mid) > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

uint64_t
shmt_ring_count_ungranted(const struct shmt_ring *r, uint64_t a, uint64_t b)
{
	uint32_t pa, pb;

	if (b <= a)
		return 0;
	if (b - a >= r->cap)
		return fw_prefix(r, r->cap);
	pa = (uint32_t)(a % r->cap);
	pb = (uint32_t)(b % r->cap);
	if (pa < pb)
		return fw_range(r, pa, pb);
	return fw_range(r, pa, r->cap) + fw_range(r, 0, pb);
}

static uint64_t
ok_count(const struct shmt_ring *r, uint64_t a, uint64_t b)
{
	return (b - a) - shmt_ring_count_ungranted(r, a, b);
}

void
shmt_ring_run_rate(const struct shmt_ring *r, int64_t now, int64_t period,
                   uint32_t max, uint32_t *count, int64_t *oldest)
{
	uint64_t hi = shmt_ring_first_after(r, now);
	uint64_t lo = shmt_ring_first_after(r, now - period);
	uint64_t ok, a, b;

	ok = lo < hi ? ok_count(r, lo, hi) : 0;
	*count = ok > max ? max : (uint32_t)ok;
	*oldest = now;
	if (*count == 0)
		return;
	/* The latest start a such that [a, hi) still holds *count non-429s. */
	a = lo;
	b = hi - 1;
	while (a < b) {
		uint64_t mid = a + (b - a + 1) / 2;

		if (ok_count(r, mid, hi) >= *count)
			a = mid;
		else
			b = mid - 1;
	}
	*oldest = *shmt_ring_mono(r, a);
}

static int
indices_sound(const struct shmt_state *st, uint32_t cap)
{
	return st->tail <= st->head && st->head - st->tail <= cap;
}

int
shmt_ring_check(const struct shmt_ring *r)
{
	const struct shmt_state *st = r->st;
	int64_t prev = INT64_MIN, cum = st->costs.cum_tail;

	if (!indices_sound(st, r->cap) || cum < st->costs.cum_floor)
		return SHMT_ECORRUPT;
	for (uint64_t s = st->tail; s < st->head; s++) {
		int64_t mono = *shmt_ring_mono(r, s);

		if (!shmt_ring_tagged(r, s) || mono < prev ||
		    *shmt_ring_cum(r, s) < cum)
			return SHMT_ECORRUPT;
		prev = mono;
		cum = *shmt_ring_cum(r, s);
	}
	return SHMT_OK;
}

int
shmt_ring_check_ends(const struct shmt_ring *r)
{
	const struct shmt_state *st = r->st;

	if (!indices_sound(st, r->cap))
		return SHMT_ECORRUPT;
	if (st->head == st->tail)
		return SHMT_OK;
	if (!shmt_ring_tagged(r, st->tail) ||
	    !shmt_ring_tagged(r, st->head - 1) ||
	    *shmt_ring_mono(r, st->tail) > *shmt_ring_mono(r, st->head - 1) ||
	    st->costs.cum_tail > *shmt_ring_cum(r, st->tail) ||
	    *shmt_ring_cum(r, st->tail) > *shmt_ring_cum(r, st->head - 1))
		return SHMT_ECORRUPT;
	return SHMT_OK;
}

void
shmt_ring_rebuild(struct shmt_ring *r)
{
	struct shmt_costs *c = &r->st->costs;
	int64_t cum;

	/* the cumulative costs grow (an update's order keeps them so; only
	 * damage breaks it) */
	if (c->cum_floor > c->cum_tail)
		c->cum_floor = c->cum_tail;
	cum = c->cum_tail;
	for (uint64_t s = r->st->tail; s < r->st->head; s++) {
		int64_t *v = shmt_ring_cum(r, s);

		if (*v < cum)
			*v = cum;
		cum = *v;
	}
	/* the flags of slots out of the log (a repair moved the tail past
	 * them) go: an append that takes such a slot must not take a count
	 * off the tree that it never held */
	for (uint32_t p = 0; p < r->cap; p++)
		if ((p + r->cap - shmt_ring_pos(r, r->st->tail)) % r->cap >=
		    r->st->head - r->st->tail)
			r->tag[p] &= ~SHMT_TAG_FLAGS;
	memset(r->fw, 0, sizeof(*r->fw) * r->cap);
	for (uint64_t s = r->st->tail; s < r->st->head; s++)
		if (r->tag[shmt_ring_pos(r, s)] & SHMT_TAG_FLAGS)
			fw_add(r, shmt_ring_pos(r, s), 1);
}

void
shmt_ring_config_changed(struct shmt_ring *r)
{
	r->rules.valid = 0;
}

/* How far ahead of now a time in the segment may legitimately lie: `cap`
 * reservations `step` apart (the longest configured period, or what the
 * server announced or its refusals taught, when longer). */
static int64_t
horizon(const struct shmt_scfg *c, int64_t step_ns, uint32_t cap)
{
	double step = (double)step_ns + (double)c->margin;
	double h = (double)c->retry_after_max + (double)c->backoff_max +
	           (double)cap * step + SHMT_NS;

	return h >= (double)SHMT_NS_LIMIT ? SHMT_NS_LIMIT : (int64_t)h;
}

const struct shmt_rules *
shmt_ring_rules_refresh(struct shmt_ring *r)
{
	struct shmt_rules *u = &r->rules;
	const struct shmt_state *st = r->st;
	int64_t step = shmt_longest_period(r->cfg);
	int64_t learned = shmt_learn_step(st, r->cfg);

	if (learned > step)
		step = learned;
	u->gen = st->rules_gen;
	u->margin = st->timing.margin;
	u->learned = shmt_learn_any(st, r->cfg);
	u->n = shmt_spacings(r->cfg, &st->timing, u->sp);
	u->nu = shmt_unit_spacings(r->cfg, &st->timing, u->usp);
	u->nmax = u->learned ? shmt_learn_window_n(r) : 0;
	/* a pace or a probe spaces each send from the one before it */
	if (u->learned && u->nmax == 0)
		u->nmax = 1;
	for (unsigned i = 0; i < u->n; i++)
		if (u->sp[i].n > u->nmax)
			u->nmax = u->sp[i].n;
	u->horizon = horizon(r->cfg, step, r->cap);
	u->horizon0 = horizon(r->cfg, step, 0);
	u->valid = 1;
	return u;
}
