/* inflight.c - places in flight: take, give back, and reclaim those of
 * holders that are gone. */
#include "inflight.h"

unsigned
shmt_places_used(const struct shmt_costs *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SHMT_MAX_PLACES; i++)
		n += c->place[i].owner != 0;
	return n;
}

int
shmt_place_take(struct shmt_costs *c, uint32_t cap, uint64_t owner,
                uint64_t seq, int64_t now)
{
	int free = -1;
	unsigned used = 0;

	for (unsigned i = 0; i < SHMT_MAX_PLACES; i++) {
		if (c->place[i].owner)
			used++;
		else if (free < 0)
			free = (int)i;
	}
	/* a cap lowered under its holders: none until they are fewer */
	if (used >= cap || free < 0)
		return -1;
	c->place[free].seq = seq;
	c->place[free].since = now;
	/* the owner last: a place is taken when it names one */
	c->place[free].owner = owner;
	return free;
}

int
shmt_place_find(const struct shmt_costs *c, uint64_t seq)
{
	for (unsigned i = 0; i < SHMT_MAX_PLACES; i++)
		if (c->place[i].owner && c->place[i].seq == seq)
			return (int)i;
	return -1;
}

int
shmt_place_release(struct shmt_costs *c, uint64_t seq)
{
	int i = shmt_place_find(c, seq);

	if (i < 0)
		return 0;
	c->place[i].owner = 0;
	return 1;
}

void
shmt_places_clear(struct shmt_costs *c)
{
	for (unsigned i = 0; i < SHMT_MAX_PLACES; i++)
		c->place[i].owner = 0;
}

unsigned
shmt_places_reap(struct shmt_costs *c, int (*alive)(uint64_t owner))
{
	unsigned n = 0;

	for (unsigned i = 0; i < SHMT_MAX_PLACES; i++) {
		uint64_t o = c->place[i].owner;

		if (o && !alive(o)) {
			c->place[i].owner = 0;
			n++;
		}
	}
	return n;
}
