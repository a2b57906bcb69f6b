/* internal.h - hooks for the tests into a handle (hidden symbols, not in
 * the ABI): an injected clock, and the segment behind the handle. */
#ifndef SHMT_INTERNAL_H
#define SHMT_INTERNAL_H

#include <stdint.h>

#include "segment.h"

void shmt_set_clock(shmt_throttle *t, int64_t (*mono)(void),
                    int64_t (*wall)(void));
struct shmt_seg *shmt_seg_of(shmt_throttle *t);
/* The timing part of a status: samples, lateness, round trips, margin. */
void shmt_fill_timing(const struct shmt_scfg *c, const struct shmt_timing *tm,
                      shmt_stat *s);
/* Seconds until a send costing `cost` would be admitted (perform.c waits
 * that long before connecting), and in *seen the wake word as it was then
 * (0 on Redis). */
int shmt_next_slot(shmt_throttle *t, uint32_t cost, double *secs,
                   uint32_t *seen);
/* Sleep `secs` at most, less if anything that can bring a slot nearer (a
 * refund, a reset, a reconfiguration, a re-plan) happened since
 * shmt_next_slot said `seen`: 1 if so, 0 if the time passed.  On Redis,
 * with no word to wait on, a sleep of at most shmt_redis_slice: 1 if it
 * was shorter than `secs` (look again). */
int shmt_wait_nearer(shmt_throttle *t, uint32_t seen, double secs);
/* After a record under `verdict` (shmt_record_acquire, either backend):
 * the ticket of the same request again (a retry: its measures go, its
 * attempt count stays), or of a new one. */
void shmt_ticket_next(shmt_ticket *tk, int verdict);
/* How long a lock may be waited for before SHMT_EBUSY (ns). */
extern int64_t shmt_lock_timeout;
/* How long an opener waits for a half-built segment (ns). */
extern int64_t shmt_ready_wait;
/* Called half-way through building a segment (a test kills there). */
extern void (*shmt_create_hook)(void);

#endif
