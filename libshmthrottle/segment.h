/*
 * segment.h - the shared-memory plumbing: naming, creating, attaching,
 * validating, locking and repairing a throttle's segment.  Nothing else
 * knows that the mutex is robust.
 */
#ifndef SHMT_SEGMENT_H
#define SHMT_SEGMENT_H

#include <stddef.h>

#include "clock.h"
#include "state.h"

/* shm_open() names are "/shmthrottle.NAME": /dev/shm/shmthrottle.NAME. */
#define SHMT_SHM_PREFIX "shmthrottle."
#define SHMT_SHM_DIR "/dev/shm"

struct shmt_seg {
	struct shmt_header *h;
	size_t size;
	int fd; /* kept open: its size and link count tell truncation, removal
	         */
	struct shmt_ring ring;
	struct shmt_note *notes;
	struct shmt_scfg checked; /* the configuration last found in range */
	/* which slot and generation `checked` came from (cfg_seen: any) */
	int cfg_seen;
	uint32_t cfg_active, cfg_gen;
	int trylock; /* SHMT_TRYLOCK: a short lock timeout */
};

/* How long a SHMT_TRYLOCK handle waits for the lock (ns). */
#define SHMT_TRYLOCK_WAIT (SHMT_NS / 100)

size_t shmt_seg_size(uint32_t cap);
/* Open or create; see shmt_open().  `now` is CLOCK_MONOTONIC ns. */
int shmt_seg_open(struct shmt_seg *sg, const char *name, const shmt_config *cfg,
                  unsigned flags, int64_t now);
void shmt_seg_close(struct shmt_seg *sg);
/* Off the hot path (after a wait, for a status): SHMT_ETRUNCATED if the
 * segment is shorter than our mapping (touching the rest would raise
 * SIGBUS), SHMT_EREMOVED if its name was deleted behind our back. */
int shmt_seg_intact(struct shmt_seg *sg);
/* Lock, read the clock (NULL: CLOCK_MONOTONIC) into *now (if not NULL),
 * repair the state if the last owner died with the lock, and check the
 * header (O(1)); SHMT_ECORRUPT (unlocked) if it is damaged. */
int shmt_seg_lock(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now);
/* The same without reading the clock, for a call that may not need it:
 * the O(1) checks but the one that needs the time.  *timed: a repair
 * read the clock, into *now (and put the delay back in range).  Before
 * using any time under this lock: shmt_seg_clock(), unless *timed. */
int shmt_seg_lock_untimed(struct shmt_seg *sg, int64_t (*clock)(void),
                          int64_t *now, int *timed);
/* Under a lock taken by shmt_seg_lock_untimed(): read the clock into *now
 * and make the check that needs it; SHMT_ECORRUPT (unlocked) if it
 * fails. */
int shmt_seg_clock(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now);
void shmt_seg_unlock(struct shmt_seg *sg);
/* Under the lock: make *c the configuration, all at once. */
void shmt_seg_config_set(struct shmt_seg *sg, const struct shmt_scfg *c);
/* Every field and every entry in range?  O(capacity), under the lock:
 * for shmt_verify() (a repair puts them back in range itself). */
int shmt_seg_validate(struct shmt_seg *sg, int64_t now);

#endif
