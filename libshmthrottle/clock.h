/* clock.h - time in nanoseconds: CLOCK_MONOTONIC for intervals, the wall
 * clock only for HTTP-dates and display. */
#ifndef SHMT_CLOCK_H
#define SHMT_CLOCK_H

#include <stdint.h>

#define SHMT_NS 1000000000LL
/* Longest interval the library ever computes with: 100 years. */
#define SHMT_NS_LIMIT (100LL * 365 * 86400 * SHMT_NS)

/* a + b, saturated: values read from a segment must not overflow. */
static inline int64_t
shmt_add_ns(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* a - b, saturated. */
static inline int64_t
shmt_sub_ns(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int64_t shmt_mono_ns(void);
int64_t shmt_wall_ns(void);
/* Seconds to ns, clamped to [0, SHMT_NS_LIMIT]; NaN gives 0. */
int64_t shmt_sec_to_ns(double s);
double shmt_ns_to_sec(int64_t ns);
/* Sleep s seconds (nothing if s <= 0 or NaN), through signals. */
void shmt_sleep(double s);

#endif
