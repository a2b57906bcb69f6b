/* bench.c - what one acquire+record costs, next to baselines measured in
 * the same run; what the log's capacity costs; what a logged send costs
 * in bytes; and what the shell pays per request and per attach, through
 * the built throttlectl.  Reports, never judges.
 *
 *   bench [OPS]   (total operations per measurement, default 400000) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "internal.h"
#include "ring.h"

#ifndef TOOLS_DIR
#define TOOLS_DIR "build"
#endif
#define CTL TOOLS_DIR "/throttlectl"

extern char **environ;
/* argv of posix_spawn is char *const[]: it does not write the strings */
#define A(s) ((char *)(s))

static long total_ops = 400000;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define FLOOR_CAP 4096

/* Shared by the processes of one measurement. */
struct shared {
	/* the floor: a robust process-shared mutex, one clock read, one
	 * append of what our log keeps (16 bytes) */
	pthread_mutex_t mu;
	volatile int go;
	uint64_t head;
	int64_t mono[FLOOR_CAP];
	uint32_t tag[FLOOR_CAP];
};

static struct shared *sh;
static char lockfile[64];
static const char *name = "bench-throttle";

static void
op_floor(long n)
{
	for (long i = 0; i < n; i++) {
		struct timespec ts;
		uint64_t h;

		if (pthread_mutex_lock(&sh->mu) == EOWNERDEAD)
			pthread_mutex_consistent(&sh->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		h = sh->head++;
		sh->mono[h % FLOOR_CAP] = ts.tv_sec * SHMT_NS + ts.tv_nsec;
		sh->tag[h % FLOOR_CAP] = (uint32_t)(h << 1);
		pthread_mutex_unlock(&sh->mu);
	}
}

/* What scripts do today: flock(2) a file, read and write a timestamp. */
static void
op_flock(long n)
{
	int fd = open(lockfile, O_RDWR);

	for (long i = 0; i < n; i++) {
		int64_t v;

		flock(fd, LOCK_EX);
		if (pread(fd, &v, sizeof(v), 0) != sizeof(v))
			v = 0;
		v++;
		(void)!pwrite(fd, &v, sizeof(v), 0);
		flock(fd, LOCK_UN);
	}
	close(fd);
}

static void
op_throttle(long n)
{
	shmt_throttle *t;

	if (shmt_open(&t, name, NULL, 0) != SHMT_OK)
		_exit(3);
	for (long i = 0; i < n; i++) {
		shmt_ticket tk;
		shmt_outcome out;

		shmt_ticket_init(&tk);
		shmt_acquire(t, &tk, -1);
		shmt_record(t, &tk, 200, -1, NULL, 0, &out);
	}
	shmt_close(t);
}

/* The same loop with the combined call: one lock a request. */
static void
op_combined(long n)
{
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;

	if (shmt_open(&t, name, NULL, 0) != SHMT_OK)
		_exit(3);
	shmt_ticket_init(&tk);
	shmt_acquire(t, &tk, -1);
	for (long i = 0; i < n; i++)
		shmt_record_acquire(t, &tk, 200, -1, NULL, 0, &out, -1);
	shmt_record(t, &tk, 200, -1, NULL, 0, &out);
	shmt_close(t);
}

/* Wall seconds for `procs` processes to do total_ops operations. */
static double
measure(void (*op)(long), int procs)
{
	long each = total_ops / procs;
	double start;

	sh->go = 0;
	for (int p = 0; p < procs; p++)
		if (fork() == 0) {
			while (!sh->go)
				;
			op(each);
			_exit(0);
		}
	usleep(20000);
	start = now_s();
	sh->go = 1;
	while (wait(NULL) > 0)
		;
	return (now_s() - start) / (double)(each * procs) * 1e9; /* ns per op */
}

static void
setup(void)
{
	pthread_mutexattr_t a;
	shmt_config c;
	shmt_throttle *t;
	int fd;
	int64_t zero = 0;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->mu, &a);
	snprintf(lockfile, sizeof(lockfile), "/tmp/shmt-bench-%ld",
	         (long)getpid());
	fd = open(lockfile, O_RDWR | O_CREAT | O_TRUNC, 0600);
	(void)!write(fd, &zero, sizeof(zero));
	close(fd);
	shmt_remove(name);
	shmt_config_init(&c);
	c.nrates = 1; /* a limit that never binds: the cost, not the waiting */
	c.rates[0] = (shmt_rate){ .max = 4096, .period = 1e-6 };
	c.margin = 0;
	if (shmt_open(&t, name, &c, SHMT_CREATE) != SHMT_OK)
		exit(1);
	shmt_close(t);
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return v[n / 2];
}

/* Each cell is measured REPS times, the four kinds interleaved, so that
 * a moment of load on a shared machine hits all four alike: the table
 * shows the medians, and each ratio is the median of the REPS ratios of a
 * run to the floor measured just before it. */
#define REPS 5

static void
processes_table(void)
{
	static const int counts[] = { 1, 2, 8, 32 };

	printf("## acquire + record, per request, against baselines\n\n");
	printf("%ld requests in all per cell; ns per request (wall time / "
	       "requests), the median of %d runs, the kinds interleaved; "
	       "each ratio is the median of the runs' own ratios.  Floor: a "
	       "robust process-shared pthread mutex, one "
	       "clock_gettime(CLOCK_MONOTONIC) and one append of 12 bytes to "
	       "a shared ring, per request.  acquire+record: the two calls; "
	       "record_acquire: shmt_record_acquire(), one call a "
	       "request.\n\n",
	       total_ops, REPS);
	printf("| processes | floor | flock(2) + file | acquire+record | vs "
	       "floor | record_acquire | vs floor |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		double m[REPS], f[REPS], t[REPS], c[REPS], rt[REPS], rc[REPS];

		for (int r = 0; r < REPS; r++) {
			m[r] = measure(op_floor, counts[i]);
			t[r] = measure(op_throttle, counts[i]);
			c[r] = measure(op_combined, counts[i]);
			f[r] = measure(op_flock, counts[i]);
			rt[r] = t[r] / m[r];
			rc[r] = c[r] / m[r];
		}
		printf("| %d | %.0f ns | %.0f ns | %.0f ns | %.1fx | %.0f ns | "
		       "%.1fx |\n",
		       counts[i], median(m, REPS), median(f, REPS),
		       median(t, REPS), median(rt, REPS), median(c, REPS),
		       median(rc, REPS));
		fflush(stdout);
	}
}

/* The seed's run rate: a scan of the whole log. */
static uint32_t
scan_run_rate(const struct shmt_ring *r, int64_t now, int64_t period,
              uint32_t max)
{
	uint32_t n = 0;

	for (uint64_t s = r->st->tail; s < r->st->head; s++) {
		int64_t mono = *shmt_ring_mono(r, s);

		if (mono > now - period && mono <= now &&
		    !(r->tag[s % r->cap] & SHMT_TAG_FLAGS))
			n++;
	}
	return n > max ? max : n;
}

static void
capacity_table(void)
{
	static const uint32_t caps[] = { 1000, 10000, 100000, 1000000 };

	printf("\n## cost as the log grows (one process, the log full)\n\n");
	printf("| capacity | acquire+record | status (binary searches) | 429 "
	       "run rate "
	       "(Fenwick) | same, by scanning the log "
	       "|\n|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char cname[64];
		shmt_config c;
		shmt_throttle *t;
		struct shmt_seg *sg;
		shmt_stat st;
		double t0, acq, stat, fen, scan;
		long n = 200000, k;
		uint32_t cnt;
		int64_t oldest, now;
		volatile uint32_t sink = 0;

		snprintf(cname, sizeof(cname), "bench-cap-%u", caps[i]);
		shmt_remove(cname);
		shmt_config_init(&c);
		c.nrates = 1;
		c.rates[0] = (shmt_rate){ .max = caps[i] / 2, .period = 1e-6 };
		c.capacity = caps[i];
		c.margin = 0;
		if (shmt_open(&t, cname, &c, SHMT_CREATE) != SHMT_OK)
			exit(1);
		for (k = 0; k < (long)caps[i];
		     k++) { /* fill, every 3rd a 429 */
			shmt_ticket tk;
			shmt_outcome out;

			shmt_ticket_init(&tk);
			shmt_acquire(t, &tk, -1);
			shmt_record(t, &tk, k % 3 ? 200 : 429, 0, NULL, 0,
			            &out);
			if (k % 3 == 0)
				shmt_reset(t, SHMT_RESET_DELAY);
		}
		t0 = now_s();
		for (k = 0; k < n; k++) {
			shmt_ticket tk;
			shmt_outcome out;

			shmt_ticket_init(&tk);
			shmt_acquire(t, &tk, -1);
			shmt_record(t, &tk, 200, -1, NULL, 0, &out);
		}
		acq = (now_s() - t0) / n * 1e9;
		t0 = now_s();
		for (k = 0; k < n; k++)
			shmt_stat_get(t, &st);
		stat = (now_s() - t0) / n * 1e9;
		sg = shmt_seg_of(t);
		now = shmt_mono_ns();
		t0 = now_s();
		for (k = 0; k < n; k++) {
			shmt_ring_run_rate(&sg->ring, now, 3600 * SHMT_NS,
			                   caps[i], &cnt, &oldest);
			sink += cnt;
		}
		fen = (now_s() - t0) / n * 1e9;
		k = caps[i] >= 100000 ? 20 : 2000;
		t0 = now_s();
		for (long j = 0; j < k; j++)
			sink += scan_run_rate(&sg->ring, now, 3600 * SHMT_NS,
			                      caps[i]);
		scan = (now_s() - t0) / k * 1e9;
		printf(
		    "| %u | %.0f ns | %.0f ns | %.0f ns | %.0f ns (%.0fx) |\n",
		    caps[i], acq, stat, fen, scan, scan / fen);
		fflush(stdout);
		shmt_close(t);
		shmt_remove(cname);
	}
}

/* What a logged send costs in the segment, from the segment's size; and
 * the segment of a quota of a million a day, with its default log. */
static void
bytes_table(void)
{
	size_t base = shmt_seg_size(4096), twice = shmt_seg_size(8192);
	shmt_config c;
	uint32_t cap;
	size_t day;

	shmt_config_init(&c);
	c.nrates = 1;
	c.rates[0] = (shmt_rate){ .max = 1000000, .period = 86400 };
	cap = shmt_config_capacity(&c);
	day = shmt_seg_size(cap);
	printf("\n## segment bytes per logged send\n\n");
	printf(
	    "| layout | bytes per logged send | segment, default log (4096) | "
	    "segment, 1,000,000 a day (default log of %u) |\n"
	    "|---:|---:|---:|---:|\n",
	    cap);
	printf("| %u | %zu | %zu bytes | %zu bytes (%.1f MiB) |\n", SHMT_LAYOUT,
	       (twice - base) / 4096, base, day, (double)day / (1 << 20));
}

/* Run argv to its end; stdout into out (NULL: drained).  Wall ns added
 * to *ns, the child's max RSS (KiB) into *rss.  fork, not posix_spawn:
 * a vfork'd child's RSS peak is its parent's. */
static int
run(char *const argv[], char *out, size_t len, double *ns, long *rss)
{
	struct rusage ru;
	int p[2], st = 0;
	double t0 = now_s();
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	{
		size_t got = 0;
		ssize_t k;
		char sink[4096];

		while ((k = read(p[0], out ? out + got : sink,
		                 out ? len - 1 - got : sizeof(sink))) > 0)
			got += out ? (size_t)k : 0;
		if (out) {
			out[got] = '\0';
			out[strcspn(out, "\n")] = '\0';
		}
	}
	close(p[0]);
	wait4(pid, &st, 0, &ru);
	if (ns)
		*ns += (now_s() - t0) * 1e9;
	if (rss && ru.ru_maxrss > *rss)
		*rss = ru.ru_maxrss;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The README's plain-curl recipe, without curl: per request one
 * `throttlectl acquire` and one `throttlectl record`, against what
 * scripts do without the library, two `flock FILE true`. */
static void
shell_table(void)
{
	enum { N = 200 };
	const char *sname = "bench-shell";
	char tk[128];
	char *flock_argv[] = { A("flock"), lockfile, A("true"), NULL };
	char *acq[] = { A(CTL), A("acquire"), A(sname), NULL };
	char *rec[] = { A(CTL),        A("record"), A(sname), A("200"),
		        A("--ticket"), tk,          NULL };
	double fl = 0, ctl = 0;
	shmt_config c;
	shmt_throttle *t;

	shmt_remove(sname);
	shmt_config_init(&c);
	c.nrates = 1;
	c.rates[0] = (shmt_rate){ .max = 4096, .period = 1e-6 };
	c.margin = 0;
	if (shmt_open(&t, sname, &c, SHMT_CREATE) != SHMT_OK)
		exit(1);
	shmt_close(t);
	/* alternate, so that a slow moment of the machine hits both */
	for (int i = 0; i < N; i++) {
		run(flock_argv, NULL, 0, &fl, NULL);
		run(flock_argv, NULL, 0, &fl, NULL);
		if (run(acq, tk, sizeof(tk), &ctl, NULL) != 0 ||
		    run(rec, NULL, 0, &ctl, NULL) != 0)
			exit(1);
	}
	printf("\n## the shell recipe, per request\n\n");
	printf("%d requests; each: `throttlectl acquire` (its ticket read "
	       "from a pipe) and `throttlectl record 200 --ticket T`, against "
	       "two `flock FILE true`; every process started with "
	       "fork and exec, no shell.\n\n",
	       N);
	printf("| two flock FILE true | acquire + record | vs flock |\n"
	       "|---:|---:|---:|\n");
	printf("| %.2f ms | %.2f ms | %.2fx |\n", fl / N / 1e6, ctl / N / 1e6,
	       ctl / fl);
	shmt_remove(sname);
}

/* Attach: `throttlectl status` on a full log of 4 k entries and of 1 M. */
static void
attach_table(void)
{
	static const uint32_t caps[] = { 4096, 1u << 20 };
	enum { R = 100 };
	double ns[2] = { 0, 0 };
	long rss[2] = { 0, 0 };

	for (int i = 0; i < 2; i++) {
		char aname[64];
		shmt_config c;
		shmt_throttle *t;

		snprintf(aname, sizeof(aname), "bench-attach-%u", caps[i]);
		shmt_remove(aname);
		shmt_config_init(&c);
		c.nrates = 1;
		c.rates[0] = (shmt_rate){ .max = caps[i] / 2, .period = 1e-6 };
		c.capacity = caps[i];
		c.margin = 0;
		if (shmt_open(&t, aname, &c, SHMT_CREATE) != SHMT_OK)
			exit(1);
		for (uint32_t k = 0; k < caps[i]; k++) {
			shmt_ticket tk;
			shmt_outcome out;

			shmt_ticket_init(&tk);
			shmt_acquire(t, &tk, -1);
			shmt_record(t, &tk, k % 3 ? 200 : 404, -1, NULL, 0,
			            &out);
		}
		shmt_close(t);
	}
	for (int r = 0; r < R; r++)
		for (int i = 0; i < 2; i++) {
			char aname[64];
			char *st[] = { A(CTL), A("status"), aname, NULL };

			snprintf(aname, sizeof(aname), "bench-attach-%u",
			         caps[i]);
			if (run(st, NULL, 0, &ns[i], &rss[i]) != 0)
				exit(1);
		}
	printf("\n## attach: throttlectl status, the log full\n\n");
	printf("%d runs of each, alternating; wall time per run and the "
	       "largest resident set of a run (getrusage of the child).\n\n",
	       R);
	printf("| log entries | status | max RSS |\n|---:|---:|---:|\n");
	for (int i = 0; i < 2; i++)
		printf("| %u | %.2f ms | %ld KiB |\n", caps[i], ns[i] / R / 1e6,
		       rss[i]);
	printf("| 1 M vs 4 k | %.2fx | %.2fx |\n", ns[1] / ns[0],
	       (double)rss[1] / (double)rss[0]);
	for (int i = 0; i < 2; i++) {
		char aname[64];

		snprintf(aname, sizeof(aname), "bench-attach-%u", caps[i]);
		shmt_remove(aname);
	}
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		total_ops = atol(argv[1]);
	setup();
	processes_table();
	capacity_table();
	bytes_table();
	shell_table();
	attach_table();
	shmt_remove(name);
	unlink(lockfile);
	return 0;
}
