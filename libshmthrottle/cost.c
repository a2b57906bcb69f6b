/* cost.c - the unit limits as spacing rules over the cumulative costs. */
#include "cost.h"

#include "clock.h"
#include "ring.h"
#include "timing.h"

unsigned
shmt_unit_spacings(const struct shmt_scfg *s, const struct shmt_timing *tm,
                   struct shmt_uspacing sp[SHMT_MAX_UNITS])
{
	unsigned i;

	for (i = 0; i < s->nunits && i < SHMT_MAX_UNITS; i++) {
		int64_t limit = s->unit_max[i], p = s->unit_period[i];

		/* GCRA, as for the rates: `burst` units per burst x period /
		 * max, i.e. one unit per emission interval */
		if (s->policy == SHMT_POLICY_SMOOTH && s->unit_burst &&
		    s->unit_burst < s->unit_max[i]) {
			p = (int64_t)((double)p * s->unit_burst /
			              s->unit_max[i]);
			limit = s->unit_burst;
		}
		sp[i] = (struct shmt_uspacing){
			.limit = limit,
			.p = shmt_add_ns(p, shmt_margin(s, tm, p)),
		};
	}
	return i;
}

uint32_t
shmt_cost_max(const struct shmt_scfg *s)
{
	uint32_t m = UINT32_MAX;

	for (unsigned i = 0; i < s->nunits && i < SHMT_MAX_UNITS; i++)
		if (s->unit_max[i] < m)
			m = s->unit_max[i];
	if (s->policy == SHMT_POLICY_SMOOTH && s->unit_burst &&
	    s->unit_burst < m)
		m = s->unit_burst;
	return m;
}

int64_t
shmt_cost_pre(const struct shmt_ring *r, uint64_t seq)
{
	return seq > r->st->tail ? *shmt_ring_cum(r, seq - 1)
	                         : r->st->costs.cum_tail;
}

int64_t
shmt_cost_of(const struct shmt_ring *r, uint64_t seq)
{
	int64_t c = shmt_sub_ns(*shmt_ring_cum(r, seq), shmt_cost_pre(r, seq));

	/* a damaged log: never a negative cost */
	return c > 0 ? c : 0;
}

int64_t
shmt_cost_range(const struct shmt_ring *r, uint64_t a, uint64_t b)
{
	int64_t c;

	if (b <= a)
		return 0;
	c = shmt_sub_ns(shmt_cost_pre(r, b), shmt_cost_pre(r, a));
	return c > 0 ? c : 0;
}

/* The first sequence number in [tail, end) whose cumulative cost reaches
 * `need` (end if none).  The cumulative costs grow with the sequence
 * numbers; in a damaged log the search still ends, in range. */
static uint64_t
first_reaching(const struct shmt_ring *r, uint64_t end, int64_t need)
{
	uint64_t lo = r->st->tail, hi = end;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (*shmt_ring_cum(r, mid) >= need)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* One unit rule for entry seq: the time it may be sent at the earliest. */
static int64_t
rule_at(struct shmt_ring *r, uint64_t seq, int64_t cum,
        const struct shmt_uspacing *u)
{
	const struct shmt_costs *c = &r->st->costs;
	int64_t need = shmt_sub_ns(cum, u->limit);
	uint64_t j;

	/* everything since the floor, this send included, fits the limit */
	if (need <= c->cum_floor || seq <= r->st->tail)
		return INT64_MIN;
	/* Sends the ring dropped must leave the window: their times are
	 * unknown but at most the oldest kept one's (conservative). */
	if (c->cum_tail >= need)
		return shmt_add_ns(*shmt_ring_mono(r, r->st->tail), u->p);
	j = first_reaching(r, seq, need);
	/* a cost above the limit (a limit lowered under a reservation): it
	 * cannot fit; at least it goes alone */
	if (j >= seq)
		j = seq - 1;
	return shmt_add_ns(*shmt_ring_mono(r, j), u->p);
}

int64_t
shmt_cost_admit(struct shmt_ring *r, uint64_t seq, int64_t cum, int64_t t)
{
	const struct shmt_rules *u = shmt_ring_rules(r);

	for (unsigned i = 0; i < u->nu; i++) {
		int64_t at = rule_at(r, seq, cum, &u->usp[i]);

		if (at > t)
			t = at;
	}
	return t;
}

int
shmt_cost_settle(struct shmt_ring *r, uint64_t seq, int64_t cost)
{
	int64_t delta;

	if (!shmt_ring_valid(r, seq))
		return 0;
	delta = shmt_sub_ns(cost, shmt_cost_of(r, seq));
	if (delta == 0)
		return 0;
	/* O(entries after it): the sends made while it was in flight.  In
	 * the order that keeps the sums growing and errs high if a kill stops
	 * it half-way: the entry where it stopped carries the difference (a
	 * refund from the oldest on, a charge from the newest back). */
	if (delta < 0) {
		for (uint64_t s = seq; s < r->st->head; s++)
			*shmt_ring_cum(r, s) =
			    shmt_add_ns(*shmt_ring_cum(r, s), delta);
		return -1;
	}
	for (uint64_t s = r->st->head; s-- > seq;)
		*shmt_ring_cum(r, s) = shmt_add_ns(*shmt_ring_cum(r, s), delta);
	return 1;
}
