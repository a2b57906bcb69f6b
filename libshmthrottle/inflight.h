/*
 * inflight.h - the cap on requests in flight: places in the shared state,
 * each held by a process (its id and start time, as the lock's owner) for
 * one request, from its acquire to its record.  A holder that is gone is
 * found out when the cap is reached, through a liveness test the caller
 * passes (shmt_proc_alive, or the tests' own): no time-out guesses.
 * No clock and no locking here; the caller holds the lock.
 */
#ifndef SHMT_INFLIGHT_H
#define SHMT_INFLIGHT_H

#include "state.h"

/* The places held. */
unsigned shmt_places_used(const struct shmt_costs *c);
/* Take a place for owner's request seq at now if fewer than cap are held:
 * its index, or -1. */
int shmt_place_take(struct shmt_costs *c, uint32_t cap, uint64_t owner,
                    uint64_t seq, int64_t now);
/* The place held for request seq: its index, or -1. */
int shmt_place_find(const struct shmt_costs *c, uint64_t seq);
/* Give back the place of request seq; returns 1 if there was one. */
int shmt_place_release(struct shmt_costs *c, uint64_t seq);
/* Give back every place (the cap was removed). */
void shmt_places_clear(struct shmt_costs *c);
/* Give back every place whose holder alive() says is gone; how many. */
unsigned shmt_places_reap(struct shmt_costs *c, int (*alive)(uint64_t owner));

#endif
