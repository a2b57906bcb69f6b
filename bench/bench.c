/* bench.c - what one acquire+record costs, next to baselines measured in
 * the same run; and what the log's capacity costs.  Reports, never judges.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "ring.h"

static long total_ops = 400000;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Shared by the processes of one measurement. */
struct shared {
	pthread_mutex_t mu; /* the floor: a bare robust process-shared mutex */
	volatile int go;
	int64_t counter;
};

static struct shared *sh;
static char lockfile[64];
static const char *name = "bench-throttle";

static void
op_mutex(long n)
{
	for (long i = 0; i < n; i++) {
		if (pthread_mutex_lock(&sh->mu) == EOWNERDEAD)
			pthread_mutex_consistent(&sh->mu);
		sh->counter++;
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

static void
processes_table(void)
{
	static const int counts[] = { 1, 2, 8, 32 };

	printf("## acquire + record, per operation, against baselines\n\n");
	printf(
	    "%ld operations in all per cell; ns per operation (wall time / "
	    "operations); ratio to the bare robust mutex of the same row.\n\n",
	    total_ops);
	printf("| processes | robust mutex (floor) | flock(2) + file | "
	       "acquire+record "
	       "| vs floor | vs flock |\n|---:|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		double m = measure(op_mutex, counts[i]);
		double f = measure(op_flock, counts[i]);
		double t = measure(op_throttle, counts[i]);

		printf("| %d | %.0f ns | %.0f ns | %.0f ns | %.1fx | %.2fx |\n",
		       counts[i], m, f, t, t / m, t / f);
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
		    !(r->tag[s % r->cap] & SHMT_TAG_429))
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

int
main(int argc, char **argv)
{
	if (argc > 1)
		total_ops = atol(argv[1]);
	setup();
	processes_table();
	capacity_table();
	shmt_remove(name);
	unlink(lockfile);
	return 0;
}
