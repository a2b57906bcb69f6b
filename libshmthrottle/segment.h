/*
 * segment.h - the shared-memory plumbing: naming, creating, attaching,
 * validating, locking and repairing a throttle's segment.  Nothing else
 * knows that the mutex is robust.
 */
#ifndef SHMT_SEGMENT_H
#define SHMT_SEGMENT_H

#include <stddef.h>

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
	struct shmt_scfg checked; /* the configuration last found in range */
};

size_t shmt_seg_size(uint32_t cap);
/* Open or create; see shmt_open().  `now` is CLOCK_MONOTONIC ns. */
int shmt_seg_open(struct shmt_seg *sg, const char *name, const shmt_config *cfg,
                  unsigned flags, int64_t now);
void shmt_seg_close(struct shmt_seg *sg);
/* Off the hot path (after a wait, for a status): SHMT_ETRUNCATED if the
 * segment is shorter than our mapping (touching the rest would raise
 * SIGBUS), SHMT_EREMOVED if its name was deleted behind our back. */
int shmt_seg_intact(struct shmt_seg *sg);
/* Lock, repairing the state if the last owner died with the lock, and
 * check the header; SHMT_ECORRUPT (unlocked) if it is damaged. */
int shmt_seg_lock(struct shmt_seg *sg, int64_t now);
void shmt_seg_unlock(struct shmt_seg *sg);
/* Under the lock: make *c the configuration, all at once. */
void shmt_seg_config_set(struct shmt_seg *sg, const struct shmt_scfg *c);
/* Every field in range?  O(capacity): at attach and after a repair. */
int shmt_seg_validate(struct shmt_seg *sg, int64_t now);
/* How far ahead of now a time in the segment may legitimately lie: a log of
 * `cap` reservations spaced by the configured rates or, given the state,
 * the learned ones (learn.h). */
int64_t shmt_seg_horizon(const struct shmt_scfg *c, const struct shmt_state *st,
                         uint32_t cap);

#endif
