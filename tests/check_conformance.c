/*
 * check_conformance.c - the behaviours every backend must have, written
 * once and run on each: shared memory, and a Redis server of the test's
 * own (scripts/test-redis).  Each test is a Check loop test whose index
 * picks the backend.  On Redis the clock that decides is the server's, so
 * the tests count (sends per window from the log's server times, codes,
 * counters) and never bound a time from above.
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redisutil.h"
#include "testutil.h"

/* One backend: its URL (NULL: shared memory) and what differs. */
struct backend {
	const char *label;
	int redis;
	/* what an old handle gets once its throttle is removed */
	int removed_code;
};

static const struct backend backends[] = {
	{ "shm", 0, SHMT_EREMOVED },
	{ "redis", 1, SHMT_EGONE },
};
#define NBACKENDS 2

static struct test_redis g_redis;
static const char *g_url;
static const struct backend *g_b;

static void
use_backend(int i)
{
	g_b = &backends[i];
	g_url = NULL;
	if (g_b->redis) {
		test_redis_start(&g_redis, "");
		g_url = g_redis.url;
	}
}

static void
done(void)
{
	if (g_b->redis)
		test_redis_stop(&g_redis);
}

static int
topen(shmt_throttle **t, const char *name, const shmt_config *cfg,
      unsigned flags)
{
	return shmt_open_backend(t, g_url, name, cfg, flags);
}

static shmt_throttle *
create(const char *name, const shmt_config *cfg)
{
	shmt_throttle *t;

	ck_assert_int_eq(topen(&t, name, cfg, SHMT_CREATE), SHMT_OK);
	return t;
}

static void
acquire_ok(shmt_throttle *t, int n)
{
	for (int i = 0; i < n; i++) {
		shmt_ticket tk;

		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	}
}

/* The log's send times (ns), oldest first; their number. */
static size_t
log_times(shmt_throttle *t, int64_t *out, size_t n)
{
	shmt_log_entry *e = calloc(n, sizeof(*e));
	size_t got;

	ck_assert_int_eq(shmt_log_read(t, e, n, &got), SHMT_OK);
	for (size_t i = 0; i < got; i++)
		out[i] = (int64_t)llround(e[i].wall * 1e9);
	free(e);
	return got;
}

START_TEST(open_create_exists)
{
	const char *name = test_name("conf-open");
	shmt_config c = one_rate(10, 1), got;
	shmt_throttle *t, *t2;

	use_backend(_i);
	ck_assert_int_eq(topen(&t, name, NULL, 0), SHMT_ENOENT);
	ck_assert_int_eq(topen(&t, "bad/name", &c, SHMT_CREATE), SHMT_ENAME);
	t = create(name, &c);
	ck_assert_int_eq(topen(&t2, name, &c, SHMT_CREATE | SHMT_EXCL),
	                 SHMT_EEXIST);
	ck_assert_int_eq(topen(&t2, name, NULL, 0), SHMT_OK);
	ck_assert_str_eq(shmt_name(t2), name);
	ck_assert_int_eq(shmt_config_get(t2, &got), SHMT_OK);
	ck_assert_uint_eq(got.nrates, 1);
	ck_assert_uint_eq(got.rates[0].max, 10);
	ck_assert(fabs(got.rates[0].period - 1) < 1e-9);
	ck_assert_uint_eq(got.capacity, 4096);
	shmt_close(t2);
	shmt_close(t);
	ck_assert_int_eq(shmt_remove_backend(g_url, name), SHMT_OK);
	done();
}
END_TEST

START_TEST(config_set_and_get)
{
	const char *name = test_name("conf-cfg");
	shmt_config c = one_rate(10, 1), got;
	shmt_throttle *t;

	use_backend(_i);
	c.capacity = 64;
	t = create(name, &c);
	c.nrates = 2;
	c.rates[0] = (shmt_rate){ .max = 20, .period = 2 };
	c.rates[1] = (shmt_rate){ .max = 50, .period = 60 };
	c.policy = SHMT_POLICY_SMOOTH;
	c.burst = 3;
	c.margin = 0.01;
	c.backoff_multiplier = 1.5;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
	ck_assert_uint_eq(got.nrates, 2);
	ck_assert_uint_eq(got.rates[1].max, 50);
	ck_assert(fabs(got.rates[1].period - 60) < 1e-9);
	ck_assert_int_eq(got.policy, SHMT_POLICY_SMOOTH);
	ck_assert_uint_eq(got.burst, 3);
	ck_assert(fabs(got.margin - 0.01) < 1e-9);
	ck_assert(fabs(got.backoff_multiplier - 1.5) < 1e-12);
	/* the log cannot grow */
	c.rates[1].max = 65;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_ECONFIG);
	c.rates[1].max = 0;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_ECONFIG);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

/* n sends through rates `c`; no window of any rate over its max. */
static void
paced(shmt_config c, int n)
{
	const char *name = test_name("conf-pace");
	int64_t times[64];
	shmt_throttle *t;
	size_t got;

	t = create(name, &c);
	acquire_ok(t, n);
	got = log_times(t, times, 64);
	/* a waiter late past its slot (a loaded machine) takes another: the
	 * missed one stays in the log */
	ck_assert_uint_ge(got, (size_t)n);
	for (unsigned i = 0; i < c.nrates; i++) {
		uint32_t max = c.rates[i].max;
		int64_t p = (int64_t)llround(c.rates[i].period * 1e9);

		if (c.policy == SHMT_POLICY_SMOOTH) {
			p = p * c.burst / max;
			max = c.burst;
		}
		ck_assert_msg(!window_overrun(times, got, max, p),
		              "rate %u overrun", i);
	}
	shmt_close(t);
	shmt_remove_backend(g_url, name);
}

START_TEST(window_spacing)
{
	use_backend(_i);
	paced(one_rate(5, 0.4), 13);
	done();
}
END_TEST

START_TEST(smooth_spacing)
{
	shmt_config c = one_rate(20, 1);

	use_backend(_i);
	c.policy = SHMT_POLICY_SMOOTH;
	c.burst = 2;
	paced(c, 10);
	done();
}
END_TEST

START_TEST(several_rates)
{
	shmt_config c = one_rate(3, 0.2);

	use_backend(_i);
	c.nrates = 2;
	c.rates[1] = (shmt_rate){ .max = 5, .period = 0.6 };
	paced(c, 11);
	done();
}
END_TEST

/* Children that open their own handles: each acquires `each` slots and
 * writes "SEQ SEND_NS" lines to fd. */
static void
child_acquires(const char *name, int each, int fd)
{
	shmt_throttle *t;
	char line[64];

	if (topen(&t, name, NULL, 0) != SHMT_OK)
		_exit(2);
	for (int i = 0; i < each; i++) {
		shmt_ticket tk;
		int n;

		shmt_ticket_init(&tk);
		if (shmt_acquire(t, &tk, -1) != SHMT_OK)
			_exit(3);
		n = snprintf(line, sizeof(line), "%llu %lld\n",
		             (unsigned long long)tk.seq, (long long)tk.send_ns);
		if (write(fd, line, (size_t)n) != n)
			_exit(4);
	}
	shmt_close(t);
	_exit(0);
}

static void
forked(int kids, int each, shmt_config c, int64_t *times, size_t *n,
       const char *name)
{
	int fds[2];
	FILE *f;
	unsigned long long seq;
	long long send;
	int64_t by_seq[256] = { 0 };
	shmt_throttle *t = create(name, &c);

	ck_assert_int_eq(pipe(fds), 0);
	for (int k = 0; k < kids; k++)
		if (fork() == 0) {
			close(fds[0]);
			child_acquires(name, each, fds[1]);
		}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (fscanf(f, "%llu %lld", &seq, &send) == 2) {
		ck_assert_uint_lt(seq, 256);
		by_seq[seq] = send;
	}
	fclose(f);
	for (int k = 0; k < kids; k++) {
		int st;

		wait(&st);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* first come, first served: slots in the order of the tickets (the
	 * processes share one clock: CLOCK_MONOTONIC; on Redis each reads
	 * the server's slot on it within its estimate, a round trip) */
	for (int s = 1; s < kids * each; s++)
		ck_assert_int_le(by_seq[s - 1],
		                 by_seq[s] + (g_b->redis ? MS : 0));
	*n = log_times(t, times, 256);
	for (size_t s = 1; s < *n; s++)
		ck_assert_int_le(times[s - 1], times[s]);
	shmt_close(t);
}

START_TEST(fcfs_and_no_window_over_limit_across_processes)
{
	const char *name = test_name("conf-fork");
	int64_t times[256];
	size_t n;

	use_backend(_i);
	forked(4, 5, one_rate(6, 0.3), times, &n, name);
	ck_assert_uint_ge(n, 20);
	ck_assert(!window_overrun(times, n, 6, 300 * MS));
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(a_handle_opened_before_fork_works_in_the_child)
{
	const char *name = test_name("conf-inherit");
	shmt_config c = one_rate(100, 1);
	shmt_throttle *t;
	shmt_stat st;
	pid_t pid;
	int status;

	use_backend(_i);
	t = create(name, &c);
	acquire_ok(t, 1);
	if ((pid = fork()) == 0) {
		shmt_ticket tk;

		shmt_ticket_init(&tk);
		_exit(shmt_acquire(t, &tk, -1) == SHMT_OK ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* and in the parent still */
	acquire_ok(t, 1);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 3);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(retry_after_is_one_shared_delay)
{
	const char *name = test_name("conf-ra");
	shmt_config c = one_rate(100, 1);
	shmt_throttle *a, *b;
	shmt_ticket tk, tb;
	shmt_outcome out;
	shmt_stat st;

	use_backend(_i);
	a = create(name, &c);
	ck_assert_int_eq(topen(&b, name, NULL, 0), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(a, &tk, -1), SHMT_OK);
	ck_assert_int_eq(shmt_record(a, &tk, 429, 30, "u", 0, &out), SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_RETRY);
	ck_assert(out.delay > 25 && out.delay <= 30);
	/* the other handle waits it out too */
	shmt_ticket_init(&tb);
	ck_assert_int_eq(shmt_acquire(b, &tb, 0), SHMT_EAGAIN);
	ck_assert_int_eq(shmt_acquire(b, &tb, 1), SHMT_ETIMEDOUT);
	ck_assert_int_eq(shmt_stat_get(b, &st), SHMT_OK);
	ck_assert(st.delay_remaining > 25);
	ck_assert_uint_eq(st.n429, 1);
	ck_assert_uint_eq(st.retries, 1);
	/* a second 429 sent before the delay ended adds nothing */
	ck_assert_int_eq(shmt_record(b, &tk, 429, 300, "u", 0, &out), SHMT_OK);
	ck_assert(out.delay <= 30);
	shmt_close(b);
	shmt_close(a);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(backoff_grows_and_resets)
{
	const char *name = test_name("conf-backoff");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	use_backend(_i);
	shmt_config_init(&c);
	t = create(name, &c);
	for (int k = 1; k <= 3; k++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
		ck_assert_int_eq(shmt_record(t, &tk, 429, -1, "u", 0, &out),
		                 SHMT_OK);
		ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
		ck_assert(fabs(st.backoff - (1 << (k - 1))) < 1e-6);
		ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY), SHMT_OK);
	}
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, &out), SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_DONE);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert(st.backoff == 0);
	/* and a reset clears a backoff too */
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(
	    shmt_record(t, &tk, 503, -1, "u", SHMT_RECORD_RETRY, &out),
	    SHMT_OK);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_BACKOFF | SHMT_RESET_DELAY),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert(st.backoff == 0 && st.delay_remaining == 0);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(reset_wakes_waiters)
{
	const char *name = test_name("conf-wake");
	shmt_config c = one_rate(100, 1);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	pid_t kids[3];
	int status;

	use_backend(_i);
	t = create(name, &c);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	/* a pause longer than the test's time-out */
	ck_assert_int_eq(shmt_record(t, &tk, 429, 3600, "u", 0, &out), SHMT_OK);
	for (int k = 0; k < 3; k++)
		if ((kids[k] = fork()) == 0) {
			shmt_throttle *c2;
			shmt_ticket t2;

			shmt_ticket_init(&t2);
			_exit(topen(&c2, name, NULL, 0) == SHMT_OK &&
			              shmt_acquire(c2, &t2, -1) == SHMT_OK
			          ? 0
			          : 1);
		}
	/* all three wait */
	do {
		usleep(20000);
		ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	} while (st.waiting < 3);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY), SHMT_OK);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(counters_and_status)
{
	const char *name = test_name("conf-stat");
	shmt_config c = one_rate(50, 60);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	use_backend(_i);
	t = create(name, &c);
	for (int i = 0; i < 7; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
		ck_assert_int_eq(
		    shmt_record(t, &tk, i == 6 ? 401 : 200, -1, "u", 0, &out),
		    SHMT_OK);
	}
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 7);
	ck_assert_uint_eq(st.window_sends[0], 7);
	ck_assert_uint_eq(st.log_count, 7);
	ck_assert_uint_eq(st.waiting, 0);
	ck_assert_uint_eq(st.n429, 0);
	ck_assert_uint_eq(st.capacity, 4096);
	ck_assert(st.next_slot == 0 && st.delay_remaining == 0);
	ck_assert(st.last_429 == 0);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_ALL), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 0);
	ck_assert_uint_eq(st.log_count, 0);
	ck_assert_uint_eq(st.window_sends[0], 0);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(log_read_oldest_first)
{
	const char *name = test_name("conf-log");
	shmt_config c = one_rate(50, 60);
	shmt_log_entry e[10];
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	size_t got;
	char url[32];

	use_backend(_i);
	t = create(name, &c);
	for (int i = 0; i < 5; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
		snprintf(url, sizeof(url), "http://x/%d,y", i);
		ck_assert_int_eq(shmt_record(t, &tk, 200 + i, -1, url, 0, &out),
		                 SHMT_OK);
	}
	ck_assert_int_eq(shmt_log_read(t, e, 10, &got), SHMT_OK);
	ck_assert_uint_eq(got, 5);
	ck_assert_int_eq(shmt_log_read(t, e, 2, &got), SHMT_OK);
	ck_assert_uint_eq(got, 2);
	ck_assert_uint_eq(e[0].seq, 3);
	ck_assert_int_eq(e[0].status, 203);
	ck_assert_str_eq(e[1].url, "http://x/4,y");
	ck_assert(e[0].wall <= e[1].wall);
	ck_assert(e[1].wall > 1e9);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(remove_reaches_old_handles)
{
	const char *name = test_name("conf-remove");
	shmt_config c = one_rate(50, 60);
	shmt_throttle *t, *t2;
	shmt_ticket tk;
	shmt_stat st;

	use_backend(_i);
	t = create(name, &c);
	ck_assert_int_eq(shmt_remove_backend(g_url, name), SHMT_OK);
	ck_assert_int_eq(shmt_remove_backend(g_url, name), SHMT_ENOENT);
	ck_assert_int_eq(topen(&t2, name, NULL, 0), SHMT_ENOENT);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), g_b->removed_code);
	/* a new throttle of the name is not the old one's */
	t2 = create(name, &c);
	ck_assert_int_eq(shmt_stat_get(t, &st), g_b->removed_code);
	ck_assert_int_eq(shmt_stat_get(t2, &st), SHMT_OK);
	shmt_close(t2);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(timeouts_and_eagain_reserve_nothing)
{
	const char *name = test_name("conf-timeout");
	shmt_config c = one_rate(1, 30);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_stat st;

	use_backend(_i);
	t = create(name, &c);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_uint_eq(tk.attempt, 1);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0.2), SHMT_ETIMEDOUT);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.log_count, 1);
	ck_assert_uint_eq(st.waiting, 0);
	ck_assert(st.next_slot > 25);
	ck_assert_uint_eq(tk.attempt, 1);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

START_TEST(timing_samples_make_the_margin)
{
	const char *name = test_name("conf-timing");
	shmt_config c = one_rate(10, 1);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	use_backend(_i);
	t = create(name, &c);
	for (int i = 0; i < 6; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
		/* round trips of 10 to 60 ms: a spread of 50 ms (the largest
		 * less the smallest, since the margin takes them) */
		tk.rtt_ns = (10 + 10 * i) * MS;
		ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, &out),
		                 SHMT_OK);
	}
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.samples, 6);
	ck_assert(fabs(st.rtt_low - 0.010) < 1e-6);
	ck_assert(fabs(st.rtt_high - 0.060) < 1e-6);
	/* 50 ms spread, under the cap of 10 % of 1 s */
	ck_assert(fabs(st.margin - 0.050) < 1e-6);
	shmt_close(t);
	shmt_remove_backend(g_url, name);
	done();
}
END_TEST

Suite *
conformance_suite(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("both");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, open_create_exists, 0, NBACKENDS);
	tcase_add_loop_test(tc, config_set_and_get, 0, NBACKENDS);
	tcase_add_loop_test(tc, window_spacing, 0, NBACKENDS);
	tcase_add_loop_test(tc, smooth_spacing, 0, NBACKENDS);
	tcase_add_loop_test(tc, several_rates, 0, NBACKENDS);
	tcase_add_loop_test(tc, fcfs_and_no_window_over_limit_across_processes,
	                    0, NBACKENDS);
	tcase_add_loop_test(tc, a_handle_opened_before_fork_works_in_the_child,
	                    0, NBACKENDS);
	tcase_add_loop_test(tc, retry_after_is_one_shared_delay, 0, NBACKENDS);
	tcase_add_loop_test(tc, backoff_grows_and_resets, 0, NBACKENDS);
	tcase_add_loop_test(tc, reset_wakes_waiters, 0, NBACKENDS);
	tcase_add_loop_test(tc, counters_and_status, 0, NBACKENDS);
	tcase_add_loop_test(tc, log_read_oldest_first, 0, NBACKENDS);
	tcase_add_loop_test(tc, remove_reaches_old_handles, 0, NBACKENDS);
	tcase_add_loop_test(tc, timeouts_and_eagain_reserve_nothing, 0,
	                    NBACKENDS);
	tcase_add_loop_test(tc, timing_samples_make_the_margin, 0, NBACKENDS);
	suite_add_tcase(s, tc);
	return s;
}
