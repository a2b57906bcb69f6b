/* ring.c - the request log and its 429 counts. */
#include "ring.h"

#include <string.h>

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
	memset(r->e, 0, sizeof(*r->e) * r->cap);
	memset(r->fw, 0, sizeof(*r->fw) * r->cap);
	r->st->head = r->st->tail = 0;
}

static void
forget(struct shmt_ring *r, uint64_t seq)
{
	struct shmt_entry *e = shmt_ring_at(r, seq);

	if (e->status == 429)
		fw_add(r, (uint32_t)(seq % r->cap), -1);
	e->status = 0;
}

uint64_t
shmt_ring_append(struct shmt_ring *r, int64_t mono, int64_t wall)
{
	struct shmt_state *st = r->st;
	uint64_t seq = st->head;
	struct shmt_entry *e;

	if (st->head - st->tail >= r->cap) {
		forget(r, st->tail);
		st->tail++;
	}
	e = shmt_ring_at(r, seq);
	forget(r, seq);
	*e = (struct shmt_entry){ .seq = seq, .mono = mono, .wall = wall };
	/* the commit point: a crash before it loses nothing */
	st->head = seq + 1;
	return seq;
}

void
shmt_ring_set_status(struct shmt_ring *r, uint64_t seq, int status)
{
	struct shmt_entry *e = shmt_ring_at(r, seq);
	int32_t delta = (status == 429) - (e->status == 429);

	if (delta)
		fw_add(r, (uint32_t)(seq % r->cap), delta);
	e->status = status;
}

void
shmt_ring_drop_before(struct shmt_ring *r, uint64_t seq)
{
	while (r->st->tail < seq && r->st->tail < r->st->head)
		forget(r, r->st->tail++);
}

uint64_t
shmt_ring_first_after(const struct shmt_ring *r, int64_t t)
{
	uint64_t lo = r->st->tail, hi = r->st->head;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (shmt_ring_at(r, mid)->mono > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

uint64_t
shmt_ring_count429(const struct shmt_ring *r, uint64_t a, uint64_t b)
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
	return (b - a) - shmt_ring_count429(r, a, b);
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
	*oldest = shmt_ring_at(r, a)->mono;
}

int
shmt_ring_check(const struct shmt_ring *r)
{
	const struct shmt_state *st = r->st;
	int64_t prev = INT64_MIN;

	if (st->tail > st->head || st->head - st->tail > r->cap)
		return SHMT_ECORRUPT;
	for (uint64_t s = st->tail; s < st->head; s++) {
		const struct shmt_entry *e = shmt_ring_at(r, s);

		if (e->seq != s || e->mono < prev)
			return SHMT_ECORRUPT;
		prev = e->mono;
	}
	return SHMT_OK;
}

void
shmt_ring_rebuild(struct shmt_ring *r)
{
	memset(r->fw, 0, sizeof(*r->fw) * r->cap);
	for (uint64_t s = r->st->tail; s < r->st->head; s++)
		if (shmt_ring_at(r, s)->status == 429)
			fw_add(r, (uint32_t)(s % r->cap), 1);
}
