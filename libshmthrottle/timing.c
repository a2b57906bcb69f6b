/* timing.c - lateness and round-trip samples, and the margin they call
 * for (see docs/design.md, "Arrivals"). */
#include "timing.h"

#include "clock.h"

/* Samples are microseconds, clamped to [0, 60 s]: what a segment holds
 * stays small and in range whatever a caller reports. */
static int32_t
to_us(int64_t ns)
{
	if (ns <= 0)
		return 0;
	if (ns >= 60 * SHMT_NS)
		return 60 * 1000000;
	return (int32_t)(ns / 1000);
}

static uint32_t
filled(uint32_t n)
{
	return n < SHMT_SAMPLES ? n : SHMT_SAMPLES;
}

int64_t
shmt_timing_high(const int32_t *us, uint32_t n)
{
	int32_t high = 0;

	n = filled(n);
	for (uint32_t i = 0; i < n; i++)
		if (us[i] > high)
			high = us[i];
	return (int64_t)high * 1000;
}

int64_t
shmt_timing_low(const int32_t *us, uint32_t n)
{
	int32_t low = INT32_MAX;

	n = filled(n);
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (us[i] < low)
			low = us[i] < 0 ? 0 : us[i];
	return (int64_t)low * 1000;
}

void
shmt_timing_add(struct shmt_timing *tm, int64_t late, int64_t rtt)
{
	if (late >= 0)
		tm->late_us[tm->n_late++ % SHMT_SAMPLES] = to_us(late);
	if (rtt >= 0)
		tm->rtt_us[tm->n_rtt++ % SHMT_SAMPLES] = to_us(rtt);
	tm->margin = shmt_timing_margin(tm);
}

int64_t
shmt_timing_margin(const struct shmt_timing *tm)
{
	int64_t m = shmt_timing_high(tm->late_us, tm->n_late) +
	            shmt_timing_high(tm->rtt_us, tm->n_rtt);

	/* A request admitted at a leaves at a + late and reaches the server
	 * within its one-way delay, which varies by at most the spread of
	 * the round trips: two sends a spacing apart arrive at least the
	 * spacing apart when the margin covers both.  The low end of that
	 * spread is trusted only once a full set of samples is in: the
	 * first ones are all of a first burst, which a cold server queues
	 * alike (a loaded CI machine: 7-9 ms each, 0.2 ms a second later),
	 * so their spread said 2 ms where the next burst arrived 7 ms
	 * earlier.  Until then the one-way delay may be anything from 0. */
	if (tm->n_rtt >= SHMT_SAMPLES)
		m -= shmt_timing_low(tm->rtt_us, tm->n_rtt);
	return m;
}

int64_t
shmt_timing_rtt(int64_t sent, int64_t done, int64_t to_first, int64_t total,
                int64_t unit)
{
	int64_t back, rtt;

	if (to_first <= 0 || total < to_first || unit <= 0 ||
	    total - to_first > INT64_MAX / unit)
		return 0;
	back = shmt_sub_ns(done, (total - to_first) * unit);
	rtt = shmt_sub_ns(back, sent);
	return rtt > 0 && back <= done ? rtt : 0;
}

int64_t
shmt_margin(const struct shmt_scfg *c, const struct shmt_timing *tm,
            int64_t base)
{
	int64_t m = tm->margin, cap = base / SHMT_MARGIN_CAP;

	if (c->flags & SHMT_SCFG_FIXED_MARGIN)
		return c->margin;
	/* read from a segment: bound it before use */
	if (m < 0)
		m = 0;
	if (m > cap)
		m = cap;
	return m > c->margin ? m : c->margin;
}
