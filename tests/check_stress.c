/* check_stress.c - what real hosts do to processes: SIGKILL at random
 * moments, hundreds of processes, resets and reconfigurations under load,
 * damaged segments.  Every process here is real (fork). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, random */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ring.h"
#include "testutil.h"

static void
nap_ns(int64_t ns)
{
	struct timespec ts = { ns / NS, ns % NS };

	nanosleep(&ts, NULL);
}

/* Every window of the log, as it stands, holds at most max sends. */
static void
assert_log_within(shmt_throttle *t, uint32_t max, int64_t period)
{
	struct shmt_seg *sg = shmt_seg_of(t);
	const struct shmt_ring *r = &sg->ring;
	shmt_stat st;

	/* repairs if needed */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_int_eq(shmt_seg_lock(sg, NULL, NULL), SHMT_OK);
	ck_assert_int_eq(shmt_seg_validate(sg, mono_now()), SHMT_OK);
	for (uint64_t s = r->st->tail; s + max < r->st->head; s++)
		ck_assert_int_ge(*shmt_ring_mono(r, s + max) -
		                     *shmt_ring_mono(r, s),
		                 period);
	shmt_seg_unlock(sg);
}

static int
wait_all(int n)
{
	int ok = 0, st;

	for (int i = 0; i < n; i++)
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	return ok;
}

/* A child that takes the lock, leaves an update half done and is killed
 * holding it: an append not yet committed, and a re-plan cut short (the
 * last reservation left before its predecessor). */
static pid_t
spawn_holder(shmt_throttle *t)
{
	int ready[2];
	pid_t pid;
	char b = 0;

	ck_assert_int_eq(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		struct shmt_seg *sg = shmt_seg_of(t);

		struct shmt_state *st = sg->ring.st;
		int64_t now = mono_now();

		if (shmt_seg_lock(sg, NULL, NULL) != SHMT_OK)
			_exit(1);
		*shmt_ring_mono(&sg->ring, st->head) = now;
		sg->ring.tag[st->head % sg->ring.cap] = SHMT_TAG(st->head, 0);
		if (st->head - st->tail >= 2 &&
		    *shmt_ring_mono(&sg->ring, st->head - 1) > now)
			*shmt_ring_mono(&sg->ring, st->head - 1) =
			    *shmt_ring_mono(&sg->ring, st->head - 2) - MS;
		(void)!write(ready[1], &b, 1);
		pause();
		_exit(0);
	}
	(void)!read(ready[0], &b, 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

START_TEST(kill_storm_leaves_a_consistent_segment)
{
	const char *name = test_name("storm");
	shmt_config c = one_rate(4, 0.002);
	shmt_throttle *t = NULL;
	shmt_stat st;
	int holders = 0;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	srandom(1234);
	for (int round = 0; round < 1000; round++) {
		pid_t kids[4];
		int victim = (int)(random() % 3), status;

		for (int k = 0; k < 3; k++) {
			if ((kids[k] = fork()) == 0) {
				for (int i = 0; i < 5; i++) {
					shmt_ticket tk;
					shmt_outcome out;

					shmt_ticket_init(&tk);
					if (shmt_acquire(t, &tk, 10) !=
					        SHMT_OK ||
					    shmt_record(t, &tk, 200, -1,
					                "http://x/", 0,
					                &out) != SHMT_OK)
						_exit(1);
				}
				_exit(0);
			}
		}
		/* one round in four, a process also dies holding the lock while
		 * the others queue for it */
		kids[3] = round % 4 == 0 ? spawn_holder(t) : 0;
		nap_ns(random() % (2 * MS));
		kill(kids[victim], SIGKILL);
		if (kids[3]) {
			kill(kids[3], SIGKILL);
			waitpid(kids[3], &status, 0);
			holders++;
		}
		for (int k = 0; k < 3; k++) {
			ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
			if (k != victim) /* the survivors were all admitted */
				ck_assert_msg(WIFEXITED(status) &&
				                  WEXITSTATUS(status) == 0,
				              "round %d: a survivor failed",
				              round);
		}
		assert_log_within(t, 4, 2 * MS);
	}
	shmt_stat_get(t, &st);
	ck_assert_uint_ge(st.repairs, (uint64_t)holders);
	fprintf(stderr,
	        "kill storm: %llu requests, %llu repairs after a death "
	        "inside the lock\n",
	        (unsigned long long)st.requests,
	        (unsigned long long)st.repairs);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

struct slot {
	int64_t called, reserved, returned;
};

static int
by_reserved(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return (x->reserved > y->reserved) - (x->reserved < y->reserved);
}

START_TEST(two_hundred_fifty_six_processes)
{
	enum { PROCS = 256, EACH = 2, MAX = 50 };
	const char *name = test_name("p256");
	shmt_config c = one_rate(MAX, 0.1);
	struct slot *s =
	    mmap(NULL, sizeof(*s) * PROCS * EACH, PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t times[PROCS * EACH];
	shmt_throttle *t = NULL;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			for (int i = 0; i < EACH; i++) {
				struct slot *me = &s[p * EACH + i];
				shmt_ticket tk;

				shmt_ticket_init(&tk);
				me->called = mono_now();
				if (shmt_acquire(t, &tk, 60) != SHMT_OK)
					_exit(1);
				me->returned = mono_now();
				me->reserved = tk.send_ns;
			}
			_exit(0);
		}
	}
	ck_assert_int_eq(wait_all(PROCS), PROCS);
	qsort(s, PROCS * EACH, sizeof(*s), by_reserved);
	for (int i = 0; i < PROCS * EACH; i++) {
		times[i] = s[i].reserved;
		ck_assert_int_ge(s[i].returned, s[i].reserved);
	}
	ck_assert(!window_overrun(times, PROCS * EACH, MAX, NS / 10));
	assert_log_within(t, MAX, NS / 10);
	shmt_close(t);
	shmt_remove(name);
	munmap(s, sizeof(*s) * PROCS * EACH);
}
END_TEST

START_TEST(creation_race_two_hundred_times)
{
	for (int round = 0; round < 200; round++) {
		const char *name = test_name("crace");
		shmt_throttle *t = NULL;
		shmt_stat st;
		int go[2];

		ck_assert_int_eq(pipe(go), 0);
		for (int i = 0; i < 6; i++) {
			if (fork() == 0) {
				shmt_config c = one_rate(100, 1);
				shmt_ticket tk;
				char b;

				close(go[1]);
				(void)!read(go[0], &b, 1);
				shmt_ticket_init(&tk);
				if (shmt_open(&t, name, &c, SHMT_CREATE) !=
				    SHMT_OK)
					_exit(1);
				_exit(shmt_acquire(t, &tk, 0) == SHMT_OK ? 0
				                                         : 2);
			}
		}
		close(go[0]);
		close(go[1]);
		ck_assert_int_eq(wait_all(6), 6);
		ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_OK);
		shmt_stat_get(t, &st);
		ck_assert_uint_eq(st.log_count, 6);
		shmt_close(t);
		shmt_remove(name);
	}
}
END_TEST

START_TEST(reset_while_two_hundred_wait)
{
	enum { PROCS = 200 };
	const char *name = test_name("rwait");
	shmt_config c = one_rate(1000, 1);
	shmt_throttle *t = NULL;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	int64_t start;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	shmt_acquire(t, &tk, 0);
	shmt_record(t, &tk, 429, 60, NULL, 0, &out);
	for (int p = 0; p < PROCS; p++)
		if (fork() == 0) {
			shmt_ticket mine;

			shmt_ticket_init(&mine);
			_exit(shmt_acquire(t, &mine, 120) == SHMT_OK ? 0 : 1);
		}
	start = mono_now();
	do {
		nap_ns(20 * MS);
		shmt_stat_get(t, &st);
	} while (st.waiting < PROCS && mono_now() - start < 30 * NS);
	ck_assert_uint_eq(st.waiting, PROCS);
	start = mono_now();
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY), SHMT_OK);
	ck_assert_int_eq(wait_all(PROCS), PROCS);
	ck_assert_int_lt(mono_now() - start, 20 * NS); /* not the minute */
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(reconfiguration_under_load)
{
	enum { PROCS = 16, EACH = 15 };
	const char *name = test_name("reconf");
	shmt_config lo = one_rate(10, 0.1), hi = one_rate(20, 0.1);
	shmt_throttle *t = NULL;

	ck_assert_int_eq(shmt_open(&t, name, &lo, SHMT_CREATE), SHMT_OK);
	for (int p = 0; p < PROCS; p++)
		if (fork() == 0) {
			for (int i = 0; i < EACH; i++) {
				shmt_ticket tk;

				shmt_ticket_init(&tk);
				if (shmt_acquire(t, &tk, 60) != SHMT_OK)
					_exit(1);
			}
			_exit(0);
		}
	for (int i = 0; i < 20; i++) {
		nap_ns(50 * MS);
		ck_assert_int_eq(shmt_config_set(t, i % 2 ? &lo : &hi),
		                 SHMT_OK);
	}
	ck_assert_int_eq(wait_all(PROCS), PROCS);
	/* never more than the larger of the two limits in any window */
	assert_log_within(t, 20, NS / 10);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Random damage: the segment is refused with a clear code, or it works;
 * never a crash, a hang, or an absurd sleep. */
START_TEST(random_damage_never_crashes)
{
	const char *name = test_name("rand");
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", name);
	srandom(99);
	shmt_lock_timeout = 200 * MS;
	for (int iter = 0; iter < 400; iter++) {
		shmt_config c = one_rate(5, 1);
		shmt_throttle *t = NULL;
		shmt_ticket tk;
		shmt_outcome out;
		shmt_stat st;
		struct stat sb;
		int fd, rc, kind = (int)(random() % 4);
		int64_t start;

		c.capacity = 64;
		ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
		shmt_ticket_init(&tk);
		for (int i = 0; i < 8; i++)
			shmt_acquire(t, &tk, 0);
		shmt_close(t);
		fd = open(path, O_RDWR);
		fstat(fd, &sb);
		if (kind == 0) { /* truncated anywhere */
			ck_assert_int_eq(ftruncate(fd, random() % sb.st_size),
			                 0);
		} else { /* random bytes: in the header and state, or anywhere
			  */
			int n = 1 + (int)(random() % 16);
			off_t span = kind == 1 ? 512 : sb.st_size;

			for (int i = 0; i < n; i++) {
				unsigned char b = (unsigned char)random();
				off_t at = random() % span;

				/* a whole word of garbage */
				for (int j = 0; kind == 3 && i == 0 && j < 8;
				     j++)
					(void)!pwrite(fd, &b, 1, (at & ~7) + j);
				(void)!pwrite(fd, &b, 1, at);
			}
		}
		close(fd);
		start = mono_now();
		rc = shmt_open(&t, name, NULL, 0);
		ck_assert_msg(rc == SHMT_OK || rc == SHMT_EINVALID ||
		                  rc == SHMT_EVERSION || rc == SHMT_ECORRUPT ||
		                  rc == SHMT_EBUSY || rc == SHMT_EPERM ||
		                  rc == SHMT_ECREATING || rc == SHMT_ENOENT,
		              "iteration %d: open gave %d", iter, rc);
		if (rc == SHMT_OK) {
			shmt_stat_get(t, &st);
			rc = shmt_acquire(t, &tk, 0.05);
			ck_assert_msg(
			    rc == SHMT_OK || rc == SHMT_EAGAIN ||
			        rc == SHMT_ETIMEDOUT || rc == SHMT_ECORRUPT ||
			        rc == SHMT_EBUSY,
			    "iteration %d: acquire gave %d", iter, rc);
			shmt_record(t, &tk, 429, -1, NULL, 0, &out);
			shmt_close(t);
		}
		/* no absurd sleep */
		ck_assert_int_lt(mono_now() - start, 3 * NS);
		shmt_remove(name);
	}
}
END_TEST

START_TEST(a_forged_lock_word_is_an_error_not_a_hang)
{
	const char *name = test_name("lockword");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	struct shmt_seg *sg;
	shmt_stat st;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	sg = shmt_seg_of(t);
	/* a lock word naming a thread that does not hold it (nor died) */
	*(volatile int *)&sg->h->lock = 1;
	shmt_lock_timeout = 100 * MS;
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_EBUSY);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

Suite *
stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_add_test(tc, kill_storm_leaves_a_consistent_segment);
	tcase_add_test(tc, two_hundred_fifty_six_processes);
	tcase_add_test(tc, creation_race_two_hundred_times);
	tcase_add_test(tc, reset_while_two_hundred_wait);
	tcase_add_test(tc, reconfiguration_under_load);
	tcase_add_test(tc, random_damage_never_crashes);
	tcase_add_test(tc, a_forged_lock_word_is_an_error_not_a_hang);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}
