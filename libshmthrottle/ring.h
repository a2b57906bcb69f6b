/*
 * ring.h - the request log: a ring of send times, sorted by time, with a
 * Fenwick tree counting the entries the server did not grant (429s, and
 * slots given up unsent) so that a window's run rate costs O(log^2 n)
 * instead of a scan.  Pure: no clock, no locking.
 */
#ifndef SHMT_RING_H
#define SHMT_RING_H

#include "state.h"

static inline uint32_t
shmt_ring_pos(const struct shmt_ring *r, uint64_t seq)
{
	return (uint32_t)(seq % r->cap);
}

/* The send time of sequence number seq's slot. */
static inline int64_t *
shmt_ring_mono(const struct shmt_ring *r, uint64_t seq)
{
	return &r->mono[shmt_ring_pos(r, seq)];
}

/* The cumulative cost of the sends up to seq's slot, its own included. */
static inline int64_t *
shmt_ring_cum(const struct shmt_ring *r, uint64_t seq)
{
	return &r->cum[shmt_ring_pos(r, seq)];
}

static inline int
shmt_ring_has(const struct shmt_ring *r, uint64_t seq)
{
	return seq >= r->st->tail && seq < r->st->head;
}

/* Does seq's slot hold seq (its tag's sequence bits)? */
static inline int
shmt_ring_tagged(const struct shmt_ring *r, uint64_t seq)
{
	return (r->tag[shmt_ring_pos(r, seq)] | SHMT_TAG_FLAGS) ==
	       SHMT_TAG(seq, SHMT_TAG_FLAGS);
}

/* seq is in the log and its slot holds it. */
static inline int
shmt_ring_valid(const struct shmt_ring *r, uint64_t seq)
{
	return shmt_ring_has(r, seq) && shmt_ring_tagged(r, seq);
}

/* Empty the log and its tree; head = tail = 0. */
void shmt_ring_init(struct shmt_ring *r);
/* Add a send at mono costing `cost` units (cost.h); the oldest entry goes
 * if the ring is full. */
uint64_t shmt_ring_append_cost(struct shmt_ring *r, int64_t mono, int64_t cost);
/* The same, costing 1. */
uint64_t shmt_ring_append(struct shmt_ring *r, int64_t mono);
/* The response to seq: only whether it is a 429 is kept here (a response
 * says it was sent). */
void shmt_ring_set_status(struct shmt_ring *r, uint64_t seq, int status);
/* seq's waiter gave it up unsent (it took a new slot): it stays in the
 * log, counted by the spacing rules, but not as a send the server granted
 * (the run rate, and the rate and burst learned from refusals). */
void shmt_ring_set_unsent(struct shmt_ring *r, uint64_t seq);
/* Forget the entries before seq. */
void shmt_ring_drop_before(struct shmt_ring *r, uint64_t seq);
/* First sequence number whose send time is > t (head if none). */
uint64_t shmt_ring_first_after(const struct shmt_ring *r, int64_t t);
/* The entries among sequence numbers [a, b) the server did not grant:
 * answered 429, or given up unsent. */
uint64_t shmt_ring_count_ungranted(const struct shmt_ring *r, uint64_t a,
                                   uint64_t b);
/*
 * The seed's run rate: among the sends in (now - period, now] the server
 * granted, the newest `max` of them: how many (*count) and when the
 * oldest of those was sent (*oldest, valid if *count > 0).
 */
void shmt_ring_run_rate(const struct shmt_ring *r, int64_t now, int64_t period,
                        uint32_t max, uint32_t *count, int64_t *oldest);
/* SHMT_OK if indices, sequence numbers and order are sound: O(capacity). */
int shmt_ring_check(const struct shmt_ring *r);
/* The same in O(1): indices, and the oldest and newest entries. */
int shmt_ring_check_ends(const struct shmt_ring *r);
/* Recompute the tree from the entries (after a crash). */
void shmt_ring_rebuild(struct shmt_ring *r);
void shmt_ring_config_changed(struct shmt_ring *r);
/* Compute the rules again (shmt_ring_rules). */
const struct shmt_rules *shmt_ring_rules_refresh(struct shmt_ring *r);

/* The spacing rules and horizons in force, computed again only after
 * shmt_ring_config_changed(), when the measured margin moved or when
 * what was learned did (rules_gen): on the hot path, two compares. */
static inline const struct shmt_rules *
shmt_ring_rules(struct shmt_ring *r)
{
	const struct shmt_rules *u = &r->rules;

	if (u->valid && u->gen == r->st->rules_gen &&
	    u->margin == r->st->timing.margin)
		return u;
	return shmt_ring_rules_refresh(r);
}

/* What the rules derive from, besides the configuration and the margin,
 * changed (what was learned): every handle computes them again. */
static inline void
shmt_ring_rules_changed(struct shmt_ring *r)
{
	r->st->rules_gen++;
}

#endif
