/*
 * state.h - the throttle's shared state: the layout of the segment.
 *
 * Everything here lives in shared memory, uses fixed-width types only, holds
 * no pointer and is guarded by the segment's lock word.  Bump SHMT_LAYOUT on
 * every change.
 */
#ifndef SHMT_STATE_H
#define SHMT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "shmthrottle.h"

#define SHMT_MAGIC 0x544d4853u /* "SHMT" */
#define SHMT_LAYOUT 10u
#define SHMT_CAPACITY_MIN 16u
#define SHMT_CAPACITY_MAX (1u << 24)

/* The configuration as stored: seconds become nanoseconds. */
struct shmt_scfg {
	uint32_t nrates;
	uint32_t policy;
	uint32_t burst;
	uint32_t max_retries;
	/* SHMT_SCFG_* */
	uint32_t flags;
	uint32_t pad;
	uint32_t rate_max[SHMT_MAX_RATES];
	int64_t rate_period[SHMT_MAX_RATES];
	int64_t margin;
	int64_t backoff_initial;
	int64_t backoff_max;
	int64_t retry_after_max;
	double backoff_multiplier;
	/* unit limits (cost.h) and the cap on requests in flight */
	uint32_t nunits;
	uint32_t unit_burst;
	uint32_t concurrency;
	uint32_t unit_max[SHMT_MAX_UNITS];
	uint32_t pad2;
	int64_t unit_period[SHMT_MAX_UNITS];
};

/* flags of struct shmt_scfg: the margin is not adapted to measures */
#define SHMT_SCFG_FIXED_MARGIN 0x1u

/* Samples of each measure kept (see timing.h). */
#define SHMT_SAMPLES 32

/* What the processes measured of their requests' way to the server. */
struct shmt_timing {
	/* samples taken of each kind; the next goes to n % SHMT_SAMPLES */
	uint32_t n_late, n_rtt;
	/* admitted slot to the request really leaving, microseconds */
	int32_t late_us[SHMT_SAMPLES];
	/* request leaving to the answer's first byte, microseconds */
	int32_t rtt_us[SHMT_SAMPLES];
	/* ns: the margin these samples call for (timing.c) */
	int64_t margin;
};

/* What the server said of its quota, or what its refusals taught
 * (learn.c).  Bounded where it is read: a peer may write anything here. */
struct shmt_learn {
	/* an announced limit: max sends per period ns (0: none) */
	uint32_t max;
	/* the enum shmt_quota_dialect that announced it */
	uint32_t dialect;
	int64_t period;
	/* 1: the period was announced; 0: the longest time to a reset seen */
	uint32_t period_announced;
	/* a response with a status was recorded: the probe is over */
	uint32_t heard;
	/* the last quota: from sequence number q_seq on, q_budget sends
	 * before q_reset (mono ns), counted from q_from */
	uint64_t q_seq;
	int64_t q_from;
	int64_t q_reset;
	/* the reset is known to lie after this (whole seconds are rounded
	 * up: readings of one window narrow it) */
	int64_t q_low;
	uint32_t q_budget;
	/* as announced, for the status */
	uint32_t q_remaining;
	/* learned from refusals: ns between sends (0: none) */
	int64_t pace;
	/* successes recorded since ok_since: the start of the log heard,
	 * then the end of the last refusal's pause */
	uint64_t ok_count;
	int64_t ok_since;
	/* refusals that began a pause, and the ok_since the last one
	 * counted from */
	uint32_t episodes;
	/* of q_budget, the sends the server surely has room for (those sent
	 * up to a margin before the answered one counted as on their way
	 * too): the announced limit yields to them */
	uint32_t q_sure;
	int64_t cycle;
	/* learned from refusals with the pace: the sends the server granted
	 * in the first cycle, at most this many in any `burst` paces (0 or
	 * 1: none, the pace alone; layout 9) */
	uint32_t burst;
	/* of the entries from q_seq on, the slots given up unsent (their
	 * waiters took new ones): no sends, so no part of the budget for
	 * the entries after the newest of them, q_unsent_last (layout 10) */
	uint32_t q_unsent;
	uint64_t q_unsent_last;
	/* the header that announced the limit, for the status */
	char header[40];
};

/*
 * The log is four arrays of `capacity` slots after the notes (below):
 *   int64_t  mono[cap]  send time (reserved or real), CLOCK_MONOTONIC ns
 *   uint32_t tag[cap]   SHMT_TAG(seq, flags): the low 30 bits of the
 *                       sequence number the slot holds, whether its
 *                       response was a 429, and whether it was given up
 *                       unsent (its waiter took a new slot)
 *   int32_t  fw[cap]    the Fenwick tree, by slot, of the entries the
 *                       server did not grant: a 429, or never sent (what
 *                       the run rate and the learning count)
 *   int64_t  cum[cap]   the cumulative cost of the sends up to this one
 *                       (its cost is the difference with the previous)
 * 24 bytes a send.  The wall time is not kept: it is the monotonic time
 * plus the clocks' offset when it is shown; statuses and URLs of the
 * newest SHMT_NOTES requests are in the notes.
 */
#define SHMT_TAG(seq, flags) ((uint32_t)((uint32_t)(seq) << 2 | (flags)))
#define SHMT_TAG_429 0x1u
#define SHMT_TAG_UNSENT 0x2u
#define SHMT_TAG_FLAGS (SHMT_TAG_429 | SHMT_TAG_UNSENT)

/* Notes of the newest requests, for `throttlectl log`: the request of
 * sequence number s writes note s % SHMT_NOTES when it is recorded. */
#define SHMT_NOTES 1024u
struct shmt_note {
	uint64_t seq; /* whose note this is: only then is it read */
	int32_t status;
	uint32_t pad;
	char url[SHMT_URL_MAX];
};

/* A place in flight (inflight.h): whose it is and which request holds it;
 * free when owner is 0. */
struct shmt_place_rec {
	/* the holder's process id << 32 | its start time (as the lock's
	 * owner record) */
	uint64_t owner;
	/* the log entry of the request that holds it */
	uint64_t seq;
	/* mono ns it was taken */
	int64_t since;
};

/* Costs and places, beside the log (cost.h, inflight.h). */
struct shmt_costs {
	/* the cumulative cost of the sends before `tail` (those the ring
	 * dropped; their times are at most the tail's) */
	int64_t cum_tail;
	/* nothing at or below this cumulative cost counts: the sends a reset
	 * of the log forgot */
	int64_t cum_floor;
	/* futex word: bumped when a place is given back */
	uint32_t place_wake;
	uint32_t pad;
	/* mono ns of the last look for holders that are gone */
	int64_t reaped;
	struct shmt_place_rec place[SHMT_MAX_PLACES];
};

/* Sequence numbers [tail, head) are in the log, at index seq % capacity. */
struct shmt_state {
	/* The configuration is cfg[cfg_active]: a change fills the other slot
	 * whole, then switches the index, one word, so that a writer killed
	 * at any instant leaves the old configuration or the new one. */
	struct shmt_scfg cfg[2];
	uint32_t cfg_active; /* 0 or 1 */
	/* bumped by every change of what the pacing rules derive from
	 * besides the configuration and the margin: what was learned
	 * (learn.c, a reset).  A handle recomputes its rules (struct
	 * shmt_rules) only when it moved (layout 8). */
	uint32_t rules_gen;
	uint64_t head;
	uint64_t tail;
	int64_t end_of_delay; /* mono ns; 0: never delayed */
	int64_t backoff;      /* ns; 0: not backing off */
	int64_t last_429;     /* mono ns; 0: never */
	int64_t waited;       /* ns spent waiting in acquire */
	uint64_t requests;
	uint64_t n429;
	uint64_t retries;
	uint64_t repairs; /* locks taken over from a dead holder */
	/* bumped by every configuration change: a handle checks its copy
	 * again only then (or when cfg_active changes) */
	uint32_t cfg_gen;
	uint32_t pad2;
	struct shmt_timing timing;
	struct shmt_learn learn;
	struct shmt_costs costs;
};

/* Offset 0 of the segment. */
struct shmt_header {
	uint32_t magic; /* stored last when the segment is created */
	uint32_t layout;
	uint64_t size; /* bytes of the whole segment */
	uint32_t capacity;
	uint32_t wake; /* futex word: bumped when waiters must re-read */
	/* futex word: 0 free, else the holder's thread id (lock.h) */
	uint32_t lock;
	/* set by shmt_remove(): every lock then fails with SHMT_EREMOVED */
	uint32_t removed;
	/* the holder's thread id << 32 | its start time, 0 when free */
	uint64_t lock_owner;
	uint32_t spare[6];
	struct shmt_state st;
	/* then, 64-aligned: struct shmt_note[SHMT_NOTES], then
	 * int64_t mono[capacity], uint32_t tag[capacity],
	 * int32_t fw[capacity], int64_t cum[capacity] */
};

/* The layout pinned: whoever changes a size or an offset here changes the
 * segment, so the build stops until SHMT_LAYOUT is bumped with the new
 * numbers (LMDB folds its sizes into its lock format for the same end). */
#define SHMT_PIN(what, n) ((what) == (n))
_Static_assert(SHMT_LAYOUT == 10u &&
                   SHMT_PIN(sizeof(struct shmt_header), 7072) &&
                   SHMT_PIN(offsetof(struct shmt_header, lock), 24) &&
                   SHMT_PIN(offsetof(struct shmt_header, removed), 28) &&
                   SHMT_PIN(offsetof(struct shmt_header, lock_owner), 32) &&
                   SHMT_PIN(offsetof(struct shmt_header, st), 64) &&
                   SHMT_PIN(sizeof(struct shmt_state), 7008) &&
                   SHMT_PIN(sizeof(struct shmt_scfg), 152) &&
                   SHMT_PIN(sizeof(struct shmt_learn), 160) &&
                   SHMT_PIN(sizeof(struct shmt_costs), 32 + 24 * 256) &&
                   SHMT_PIN(sizeof(struct shmt_note), 112) &&
                   SHMT_PIN(SHMT_NOTES, 1024) &&
                   SHMT_PIN(sizeof(int64_t) + sizeof(uint32_t) +
                                sizeof(int32_t) + sizeof(int64_t),
                            24),
               "segment layout changed: bump SHMT_LAYOUT, then these sizes");

/* A spacing rule: a send at least `p` ns after the n-th previous send. */
struct shmt_spacing {
	uint32_t n;
	int64_t p;
};

/* A unit rule: the costs in any window of `p` ns, a new send's included,
 * at most `limit`. */
struct shmt_uspacing {
	int64_t limit;
	int64_t p;
};

/* What a handle derives from the configuration, the measured margin and
 * what was learned, kept until one of them changes (ring.h:
 * shmt_ring_rules): the configuration's generation, the margin's value,
 * rules_gen for the rest. */
struct shmt_rules {
	int valid;
	/* the state's rules_gen these were made for */
	uint32_t gen;
	/* a learned rule may apply (learn.h: shmt_learn_any): else the
	 * admission skips them */
	int learned;
	unsigned n;
	struct shmt_spacing sp[SHMT_MAX_RATES];
	/* the largest n of the spacing rules, the learned window's
	 * included: a reservation is spaced from the entries up to this
	 * many before it, which the log must keep (throttle.c: EFULL) */
	uint32_t nmax;
	unsigned nu;
	struct shmt_uspacing usp[SHMT_MAX_UNITS];
	/* the measured margin (timing.margin) these spacings were made for */
	int64_t margin;
	/* how far ahead a reservation may lie, and the end of a delay */
	int64_t horizon, horizon0;
};

/* The log as a process sees it: pointers into its own mapping, and the
 * configuration as this process last checked it (never the segment's own
 * bytes, which a peer may change after the check). */
struct shmt_ring {
	int64_t *mono;
	uint32_t *tag;
	int32_t *fw;  /* Fenwick tree: not granted (429, unsent), by position */
	int64_t *cum; /* cumulative cost by position */
	uint32_t cap;
	struct shmt_state *st;
	struct shmt_scfg *cfg;
	struct shmt_rules rules;
};

#endif
