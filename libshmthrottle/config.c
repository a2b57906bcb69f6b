/* config.c - defaults, range checks, and the policies as spacing rules. */
#include "config.h"

#include <math.h>

#include "clock.h"
#include "timing.h"

#define YEAR_S (365.0 * 86400)

void
shmt_config_init(shmt_config *cfg)
{
	*cfg = (shmt_config){
		.nrates = 0,
		.policy = SHMT_POLICY_WINDOW,
		.burst = 1,
		.margin = 0.005,
		.backoff_initial = 1.0,
		.backoff_multiplier = 2.0,
		.backoff_max = 60.0,
		.retry_after_max = 6 * 3600.0,
		.max_retries = 3,
		.capacity = 0,
	};
}

static int
in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

static uint32_t
largest_max(const shmt_config *cfg)
{
	uint32_t m = 0;

	for (unsigned i = 0; i < cfg->nrates && i < SHMT_MAX_RATES; i++)
		if (cfg->rates[i].max > m)
			m = cfg->rates[i].max;
	return m;
}

static int
rates_check(const shmt_config *cfg)
{
	if (cfg->nrates > SHMT_MAX_RATES)
		return SHMT_ECONFIG;
	for (unsigned i = 0; i < cfg->nrates; i++) {
		/* The seed divided by a max of 0: a rate needs both halves. */
		if (cfg->rates[i].max == 0 ||
		    cfg->rates[i].max > SHMT_CAPACITY_MAX)
			return SHMT_ECONFIG;
		if (!in_range(cfg->rates[i].period, 1e-6, YEAR_S))
			return SHMT_ECONFIG;
	}
	if (cfg->policy == SHMT_POLICY_SMOOTH) {
		if (cfg->nrates == 0 && cfg->nunits == 0)
			return SHMT_ECONFIG;
		for (unsigned i = 0; i < cfg->nrates; i++)
			if (cfg->burst > cfg->rates[i].max)
				return SHMT_ECONFIG;
	} else if (cfg->policy != SHMT_POLICY_WINDOW) {
		return SHMT_ECONFIG;
	}
	return SHMT_OK;
}

/* Unit limits: like rates, with a max up to 2^32 - 1; the smooth burst
 * within each; at most SHMT_MAX_PLACES in flight. */
static int
units_check(const shmt_config *cfg)
{
	if (cfg->nunits > SHMT_MAX_UNITS || cfg->concurrency > SHMT_MAX_PLACES)
		return SHMT_ECONFIG;
	for (unsigned i = 0; i < cfg->nunits; i++) {
		if (cfg->units[i].max == 0 ||
		    !in_range(cfg->units[i].period, 1e-6, YEAR_S))
			return SHMT_ECONFIG;
		if (cfg->unit_burst > cfg->units[i].max)
			return SHMT_ECONFIG;
	}
	/* the longest hold of a place on Redis: 0 (the default) or a time */
	if (cfg->hold_max != 0 && !in_range(cfg->hold_max, 1e-3, SHMT_WEEK_S))
		return SHMT_ECONFIG;
	return cfg->unit_burst && !cfg->nunits ? SHMT_ECONFIG : SHMT_OK;
}

/* A caller built against a newer header may have set fields this library
 * does not know: refuse rather than ignore them. */
static int
reserved_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int
shmt_config_check(const shmt_config *cfg)
{
	if (!cfg)
		return SHMT_EINVAL;
	if (!reserved_zero(cfg->reserved, sizeof(cfg->reserved)))
		return SHMT_ECONFIG;
	if (rates_check(cfg) != SHMT_OK || units_check(cfg) != SHMT_OK ||
	    cfg->burst < 1)
		return SHMT_ECONFIG;
	if ((cfg->margin_fixed != 0 && cfg->margin_fixed != 1) ||
	    !in_range(cfg->margin, 0, 60) ||
	    !in_range(cfg->backoff_max, 1e-3, SHMT_WEEK_S) ||
	    !in_range(cfg->backoff_initial, 1e-3, cfg->backoff_max) ||
	    !in_range(cfg->backoff_multiplier, 1, 1000) ||
	    !in_range(cfg->retry_after_max, 1e-3, SHMT_WEEK_S) ||
	    cfg->max_retries > 1000)
		return SHMT_ECONFIG;
	if (cfg->capacity != 0 && (cfg->capacity < SHMT_CAPACITY_MIN ||
	                           cfg->capacity > SHMT_CAPACITY_MAX ||
	                           cfg->capacity < largest_max(cfg)))
		return SHMT_ECONFIG;
	return SHMT_OK;
}

/*
 * The log holds the sends a reservation is spaced from (the largest max
 * before it) and the reservations still to come, one per waiter: a
 * window, then room for SHMT_CAPACITY_ROOM waiters or a quarter of the
 * window, whichever is more (a log full of them is SHMT_EFULL, never an
 * overrun); at least 4096 entries, as ever.  Twice the window, as before
 * issue 12, spent 24 bytes a send on room for a million waiters of a
 * daily quota of a million.
 */
uint32_t
shmt_config_capacity(const shmt_config *cfg)
{
	uint64_t max = largest_max(cfg), room = max / 4, want;

	if (cfg->capacity)
		return cfg->capacity;
	if (room < SHMT_CAPACITY_ROOM)
		room = SHMT_CAPACITY_ROOM;
	want = max + room;
	if (want < 4096)
		want = 4096;
	return want > SHMT_CAPACITY_MAX ? SHMT_CAPACITY_MAX : (uint32_t)want;
}

void
shmt_scfg_from(struct shmt_scfg *s, const shmt_config *cfg)
{
	*s = (struct shmt_scfg){
		.nrates = cfg->nrates,
		.policy = (uint32_t)cfg->policy,
		.burst = cfg->burst,
		.max_retries = cfg->max_retries,
		.flags = cfg->margin_fixed ? SHMT_SCFG_FIXED_MARGIN : 0,
		.margin = shmt_sec_to_ns(cfg->margin),
		.backoff_initial = shmt_sec_to_ns(cfg->backoff_initial),
		.backoff_max = shmt_sec_to_ns(cfg->backoff_max),
		.retry_after_max = shmt_sec_to_ns(cfg->retry_after_max),
		.backoff_multiplier = cfg->backoff_multiplier,
		.nunits = cfg->nunits,
		.unit_burst = cfg->unit_burst,
		.concurrency = cfg->concurrency,
	};
	for (unsigned i = 0; i < cfg->nrates; i++) {
		s->rate_max[i] = cfg->rates[i].max;
		s->rate_period[i] = shmt_sec_to_ns(cfg->rates[i].period);
	}
	for (unsigned i = 0; i < cfg->nunits && i < SHMT_MAX_UNITS; i++) {
		s->unit_max[i] = cfg->units[i].max;
		s->unit_period[i] = shmt_sec_to_ns(cfg->units[i].period);
	}
}

void
shmt_scfg_to(shmt_config *cfg, const struct shmt_scfg *s, uint32_t cap)
{
	shmt_config_init(cfg);
	cfg->nrates = s->nrates;
	cfg->policy = (int)s->policy;
	cfg->burst = s->burst;
	cfg->max_retries = s->max_retries;
	cfg->margin = shmt_ns_to_sec(s->margin);
	cfg->margin_fixed = (s->flags & SHMT_SCFG_FIXED_MARGIN) != 0;
	cfg->backoff_initial = shmt_ns_to_sec(s->backoff_initial);
	cfg->backoff_max = shmt_ns_to_sec(s->backoff_max);
	cfg->retry_after_max = shmt_ns_to_sec(s->retry_after_max);
	cfg->backoff_multiplier = s->backoff_multiplier;
	cfg->capacity = cap;
	for (unsigned i = 0; i < s->nrates && i < SHMT_MAX_RATES; i++) {
		cfg->rates[i].max = s->rate_max[i];
		cfg->rates[i].period = shmt_ns_to_sec(s->rate_period[i]);
	}
	cfg->nunits = s->nunits;
	cfg->unit_burst = s->unit_burst;
	cfg->concurrency = s->concurrency;
	for (unsigned i = 0; i < s->nunits && i < SHMT_MAX_UNITS; i++) {
		cfg->units[i].max = s->unit_max[i];
		cfg->units[i].period = shmt_ns_to_sec(s->unit_period[i]);
	}
}

int
shmt_scfg_check(const struct shmt_scfg *s, uint32_t cap)
{
	shmt_config cfg;

	if (s->nrates > SHMT_MAX_RATES || s->nunits > SHMT_MAX_UNITS ||
	    (s->flags & ~SHMT_SCFG_FIXED_MARGIN))
		return SHMT_ECORRUPT;
	shmt_scfg_to(&cfg, s, cap);
	return shmt_config_check(&cfg) == SHMT_OK ? SHMT_OK : SHMT_ECORRUPT;
}

unsigned
shmt_spacings(const struct shmt_scfg *s, const struct shmt_timing *tm,
              struct shmt_spacing sp[SHMT_MAX_RATES])
{
	unsigned i;

	for (i = 0; i < s->nrates && i < SHMT_MAX_RATES; i++) {
		uint32_t n = s->rate_max[i];
		int64_t p = s->rate_period[i];

		if (s->policy == SHMT_POLICY_SMOOTH) {
			/* GCRA, burst b: b sends per b emission intervals. */
			p = (int64_t)((double)p * s->burst / n);
			n = s->burst;
		}
		sp[i] = (struct shmt_spacing){
			.n = n,
			.p = shmt_add_ns(p, shmt_margin(s, tm, p)),
		};
	}
	return i;
}

int64_t
shmt_longest_period(const struct shmt_scfg *s)
{
	int64_t p = 0;

	for (unsigned i = 0; i < s->nrates && i < SHMT_MAX_RATES; i++)
		if (s->rate_period[i] > p)
			p = s->rate_period[i];
	for (unsigned i = 0; i < s->nunits && i < SHMT_MAX_UNITS; i++)
		if (s->unit_period[i] > p)
			p = s->unit_period[i];
	return p;
}
