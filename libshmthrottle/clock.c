/* clock.c - the two clocks and the conversions. */
#include "clock.h"

#include <math.h>
#include <time.h>

static int64_t
read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * SHMT_NS + ts.tv_nsec;
}

int64_t
shmt_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

int64_t
shmt_wall_ns(void)
{
	return read_clock(CLOCK_REALTIME);
}

int64_t
shmt_sec_to_ns(double s)
{
	if (!(s > 0)) /* also NaN */
		return 0;
	if (s >= (double)SHMT_NS_LIMIT / SHMT_NS)
		return SHMT_NS_LIMIT;
	return (int64_t)llround(s * SHMT_NS);
}

double
shmt_ns_to_sec(int64_t ns)
{
	return (double)ns / SHMT_NS;
}

void
shmt_sleep(double s)
{
	struct timespec ts;

	if (!(s > 0))
		return;
	if (s > (double)SHMT_NS_LIMIT / SHMT_NS)
		s = (double)SHMT_NS_LIMIT / SHMT_NS;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0)
		;
}
