/*
 * timing.h - what the processes measure of the way from an admission to
 * the server: how late each request really left (lateness) and how long
 * its answer took (round trip), kept as the last SHMT_SAMPLES samples of
 * each in the shared state, and the margin they call for.  Pure: no
 * clock, no locking; the caller holds the lock.
 */
#ifndef SHMT_TIMING_H
#define SHMT_TIMING_H

#include "state.h"

/* The adaptive part of the margin never takes more than 1/SHMT_MARGIN_CAP
 * of a spacing: at most 10 % of the throughput. */
#define SHMT_MARGIN_CAP 10

/* Add one request's measures, ns (< 0: not measured); recomputes
 * tm->margin. */
void shmt_timing_add(struct shmt_timing *tm, int64_t late, int64_t rtt);
/* The margin the samples call for: the highest lateness plus the spread
 * of the round trips, their low end counted only once SHMT_SAMPLES are
 * in (before, from 0).  shmt_timing_add() keeps it in tm->margin. */
int64_t shmt_timing_margin(const struct shmt_timing *tm);
/* High and low of the samples of one kind: the largest and the smallest,
 * so that the margin errs on the safe side (one slow request among the
 * last SHMT_SAMPLES widens it); 0 if none. */
int64_t shmt_timing_high(const int32_t *us, uint32_t n);
int64_t shmt_timing_low(const int32_t *us, uint32_t n);
/* The round trip of a request that left at `sent` and whose transfer
 * ended at `done` (both ns, our clock), from the transfer's own times:
 * `to_first` from its start to the first byte back and `total` from its
 * start to its end (any unit, the same for both; `unit` ns each).  The
 * first byte's time is counted back from the end, so a late reading of
 * `done` only lengthens the estimate.  0 if the times make no sense. */
int64_t shmt_timing_rtt(int64_t sent, int64_t done, int64_t to_first,
                        int64_t total, int64_t unit);
/* The margin added to a spacing of base length `base`: the configured one,
 * or with an adaptive configuration the measured one when larger, capped
 * at base / SHMT_MARGIN_CAP. */
int64_t shmt_margin(const struct shmt_scfg *c, const struct shmt_timing *tm,
                    int64_t base);

#endif
