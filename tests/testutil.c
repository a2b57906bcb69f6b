/* testutil.c - helpers shared by the suites. */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ring.h"

int64_t fake_mono_now = 1000 * NS;
int64_t fake_wall_now = 1700000000LL * NS;

int64_t
fake_mono(void)
{
	return fake_mono_now;
}

int64_t
fake_wall(void)
{
	return fake_wall_now;
}

int64_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

struct shmt_ring *
ring_new(uint32_t cap, const shmt_config *cfg)
{
	struct shmt_ring *r = calloc(1, sizeof(*r));

	r->cap = cap;
	r->mono = calloc(cap, sizeof(*r->mono));
	r->tag = calloc(cap, sizeof(*r->tag));
	r->fw = calloc(cap, sizeof(*r->fw));
	r->st = calloc(1, sizeof(*r->st));
	r->cfg = calloc(1, sizeof(*r->cfg));
	shmt_scfg_from(r->cfg, cfg);
	return r;
}

void
ring_free(struct shmt_ring *r)
{
	free(r->mono);
	free(r->tag);
	free(r->fw);
	free(r->st);
	free(r->cfg);
	free(r);
}

const char *
test_name(const char *tag)
{
	static char buf[SHMT_NAME_MAX + 1];
	static unsigned n;

	snprintf(buf, sizeof(buf), "test-%s-%ld-%u", tag, (long)getpid(), n++);
	shmt_remove(buf);
	return buf;
}

shmt_config
one_rate(uint32_t max, double period)
{
	shmt_config c;

	shmt_config_init(&c);
	c.nrates = 1;
	c.rates[0].max = max;
	c.rates[0].period = period;
	return c;
}

int
window_overrun(const int64_t *t, size_t n, uint32_t max, int64_t period)
{
	/* Window [t[i], t[i] + period): the (max+1)-th send must be outside. */
	for (size_t i = 0; i + max < n; i++)
		if (t[i + max] - t[i] < period)
			return 1;
	return 0;
}

int
test_sh(char *buf, size_t len, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	if (buf) {
		n = fread(buf, 1, len - 1, p);
		buf[n] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
