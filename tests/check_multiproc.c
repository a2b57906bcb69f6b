/* check_multiproc.c - many real processes against one throttle. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define PROCS 32
#define EACH 6
#define MAX 10
#define PERIOD (NS / 2)

struct send {
	int64_t called;   /* when acquire was called */
	int64_t reserved; /* the slot the library gave (ticket) */
	int64_t actual;   /* when acquire returned */
	int proc;
};

static int
by_reserved(const void *a, const void *b)
{
	const struct send *x = a, *y = b;

	return (x->reserved > y->reserved) - (x->reserved < y->reserved);
}

START_TEST(thirty_two_processes_share_ten_per_half_second)
{
	const char *name = test_name("mp");
	shmt_config c = one_rate(MAX, 0.5);
	struct send *sends =
	    mmap(NULL, sizeof(struct send) * PROCS * EACH,
	         PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t times[PROCS * EACH];
	int status, done = 0;
	shmt_throttle *t = NULL;
	shmt_stat st;
	int64_t requeued;

	ck_assert(sends != MAP_FAILED);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			shmt_throttle *mine = NULL;

			if (shmt_open(&mine, name, &c, SHMT_CREATE) != SHMT_OK)
				_exit(1);
			for (int i = 0; i < EACH; i++) {
				shmt_ticket tk;
				struct send *s = &sends[p * EACH + i];

				shmt_ticket_init(&tk);
				s->called = mono_now();
				if (shmt_acquire(mine, &tk, 60) != SHMT_OK)
					_exit(2);
				s->actual = mono_now();
				s->reserved = tk.send_ns;
				s->proc = p;
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		if (wait(&status) > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			done++;
	ck_assert_int_eq(done, PROCS); /* everyone admitted */
	qsort(sends, PROCS * EACH, sizeof(*sends), by_reserved);
	for (int i = 0; i < PROCS * EACH; i++) {
		times[i] = sends[i].reserved;
		/* never early */
		ck_assert_int_ge(sends[i].actual, sends[i].reserved);
	}
	ck_assert(!window_overrun(times, PROCS * EACH, MAX, PERIOD));
	/* No one starves: first come, first served, a caller has at most the
	 * other PROCS - 1 processes' reservations ahead of it, so its slot is
	 * at most PROCS / MAX + 1 periods away, plus 2 s for a scheduler
	 * that keeps the caller from the lock (1.5 s seen under asan).  A
	 * waiter that wakes more than the margin past its slot takes a new
	 * one behind everyone (throttle.c, late_limit()) and its old slot
	 * stays in the log: as many more of those waits as the log has
	 * entries beyond the sends (a loaded machine: one, and a wait of
	 * 4.5 s).  The run lasts PROCS * EACH / MAX periods, 9.6 s, so a
	 * process starved for good would still be seen. */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	requeued = (int64_t)st.log_count - PROCS * EACH;
	ck_assert_int_ge(requeued, 0);
	for (int i = 0; i < PROCS * EACH; i++)
		ck_assert_int_le(sends[i].reserved - sends[i].called,
		                 (1 + requeued) * (PROCS / MAX + 1) *
		                         (PERIOD + 5 * MS) +
		                     2 * NS);
	shmt_close(t);
	shmt_remove(name);
	munmap(sends, sizeof(struct send) * PROCS * EACH);
}
END_TEST

Suite *
multiproc_suite(void)
{
	Suite *s = suite_create("multiprocess");
	TCase *tc = tcase_create("pacing");

	tcase_add_test(tc, thirty_two_processes_share_ten_per_half_second);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
