/* testutil.c - helpers shared by the suites. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
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
	r->cum = calloc(cap, sizeof(*r->cum));
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
	free(r->cum);
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
units_overrun(const int64_t *t, const int64_t *cost, size_t n, int64_t limit,
              int64_t period)
{
	/* every window [t[i], t[i] + period) */
	for (size_t i = 0; i < n; i++) {
		int64_t sum = 0;

		for (size_t j = i; j < n && t[j] - t[i] < period; j++)
			sum += cost[j];
		if (sum > limit)
			return 1;
	}
	return 0;
}

int
test_vsh(char *buf, size_t len, const char *tail, const char *fmt, va_list ap)
{
	char cmd[8192];
	FILE *p;
	size_t n = 0;
	int st;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	strncat(cmd, tail, sizeof(cmd) - strlen(cmd) - 1);
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
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
test_sh(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = test_vsh(buf, len, "", fmt, ap);
	va_end(ap);
	return rc;
}

struct shmt_header *
raw_map(const char *name, size_t *size)
{
	char path[128];
	struct stat sb;
	int fd;
	void *p;

	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	fd = shm_open(path, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	*size = (size_t)sb.st_size;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ck_assert(p != MAP_FAILED);
	return p;
}

int
count_lines(const char *s, const char *line)
{
	int n = 0;
	size_t len = strlen(line);

	for (const char *p = s; (p = strstr(p, line)); p += len)
		if (p == s || p[-1] == '\n')
			n++;
	return n;
}

pid_t
waiter_to_reserve(const char *name, uint32_t cost, double far, double near)
{
	int ready[2];
	char b;
	pid_t pid;

	if (pipe(ready) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		shmt_throttle *t;
		double next;
		uint32_t seen;

		if (shmt_open(&t, name, NULL, 0) != SHMT_OK ||
		    shmt_next_slot(t, cost, &next, &seen) != SHMT_OK)
			_exit(1);
		if (next < far || write(ready[1], "r", 1) != 1)
			_exit(2);
		if (!shmt_wait_nearer(t, seen, 20))
			_exit(3);
		if (shmt_next_slot(t, cost, &next, &seen) != SHMT_OK)
			_exit(1);
		_exit(next <= near ? 0 : 4);
	}
	close(ready[1]);
	/* an early exit closes the pipe: waiter_status() tells why */
	if (pid > 0 && read(ready[0], &b, 1) != 1)
		b = 0;
	close(ready[0]);
	return pid;
}

int
waiter_status(pid_t pid)
{
	int status;

	if (pid <= 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int
acquire_in_child(shmt_throttle *t, int ms)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		shmt_ticket tk;

		shmt_ticket_init(&tk);
		_exit(shmt_acquire(t, &tk, -1));
	}
	for (int i = 0; i < ms / 10 && waitpid(pid, &status, WNOHANG) == 0; i++)
		nanosleep(&(struct timespec){ 0, 10 * MS }, NULL);
	if (kill(pid, SIGKILL) == 0)
		waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
