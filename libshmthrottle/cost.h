/*
 * cost.h - the unit limits: every log entry has a cost, kept as the
 * cumulative cost up to it (int64_t cum[] beside the log), so that "the
 * costs in a window" is a difference and "the oldest send that must leave
 * the window" a binary search.  Pure: no clock, no locking.
 */
#ifndef SHMT_COST_H
#define SHMT_COST_H

#include "state.h"

/* The unit rules of a configuration, with the margin in force (as
 * shmt_spacings() for the rates); returns how many. */
unsigned shmt_unit_spacings(const struct shmt_scfg *s,
                            const struct shmt_timing *tm,
                            struct shmt_uspacing sp[SHMT_MAX_UNITS]);
/* The largest cost a send may declare (UINT32_MAX without unit limits):
 * a larger one fits in no window (SHMT_ECOST). */
uint32_t shmt_cost_max(const struct shmt_scfg *s);
/* The cumulative cost before sequence number seq, in [tail, head]. */
int64_t shmt_cost_pre(const struct shmt_ring *r, uint64_t seq);
/* The cost of the entry seq, in the log. */
int64_t shmt_cost_of(const struct shmt_ring *r, uint64_t seq);
/* The earliest time at or after t at which the entry seq, whose
 * cumulative cost (its own included) is cum, may be sent: for each unit
 * rule, the oldest earlier send that must leave the window (the first
 * whose cumulative cost reaches cum - limit) is at least p before it. */
int64_t shmt_cost_admit(struct shmt_ring *r, uint64_t seq, int64_t cum,
                        int64_t t);
/* Make the cost of entry seq `cost`: the cumulative costs from it on
 * move by the difference.  Returns < 0 if it went down, > 0 up, 0 if
 * unchanged (or seq is not in the log). */
int shmt_cost_settle(struct shmt_ring *r, uint64_t seq, int64_t cost);
/* The costs of the entries in [a, b). */
int64_t shmt_cost_range(const struct shmt_ring *r, uint64_t a, uint64_t b);

#endif
