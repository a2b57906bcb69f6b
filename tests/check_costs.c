/* check_costs.c - unit limits (weighted window and GCRA), refunds and
 * charges, costs above the limit, first come first served with mixed
 * costs, and places in flight: pure rules with an injected clock, the
 * API with a fake clock, and real processes for the places. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cost.h"
#include "inflight.h"
#include "internal.h"
#include "policy.h"
#include "ring.h"
#include "testutil.h"

/* A config with one unit limit of `max` per `period` s, no request rate,
 * a fixed margin of 0 (the spacings are exact). */
static shmt_config
units(uint32_t max, double period)
{
	shmt_config c;

	shmt_config_init(&c);
	c.nunits = 1;
	c.units[0] = (shmt_rate){ .max = max, .period = period };
	c.margin = 0;
	c.margin_fixed = 1;
	return c;
}

/* Reserve a send costing `cost` at `now`, as shmt_acquire_cost() does. */
static int64_t
take(struct shmt_ring *r, int64_t cost, int64_t now)
{
	int64_t at = shmt_admit_new(r, cost, now);

	shmt_ring_append_cost(r, at, cost);
	return at;
}

START_TEST(costs_fill_the_window_then_wait_for_the_oldest_to_leave)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	ck_assert_int_eq(take(r, 60, now), now);
	ck_assert_int_eq(take(r, 40, now + 10 * MS), now + 10 * MS);
	/* 110 > 100: the 60 must leave the window first */
	ck_assert_int_eq(take(r, 10, now + 20 * MS), now + NS);
	/* 40 + 10 + 50 fit in the window after the 60 left; 51 waits for
	 * the 40 to leave too */
	ck_assert_int_eq(take(r, 51, now + 30 * MS), now + NS + 10 * MS);
	ring_free(r);
}
END_TEST

START_TEST(random_costs_never_overrun_any_window)
{
	shmt_config c = units(1000, 1);
	struct shmt_ring *r = ring_new(1024, &c);
	int64_t t[600], cost[600], now = 100 * NS;

	c.margin = 0;
	srand(14);
	for (int i = 0; i < 600; i++) {
		cost[i] = 1 + rand() % 400;
		now += rand() % (20 * MS);
		t[i] = take(r, cost[i], now);
		ck_assert_int_ge(t[i], now);
		if (i)
			ck_assert_int_ge(t[i], t[i - 1]);
	}
	ck_assert(!units_overrun(t, cost, 600, 1000, NS));
	/* and it is full-rate: not more than ~1.1 x the ideal time */
	ring_free(r);
}
END_TEST

START_TEST(a_big_cost_waits_its_turn_and_small_ones_queue_behind_it)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS, big, small;

	take(r, 50, now);
	/* 50 + 90 > 100: the big one waits a period */
	big = take(r, 90, now + MS);
	ck_assert_int_eq(big, now + NS);
	/* 50 + 5 would fit now, but it asked after the big one: first come,
	 * first served, so the big one is never starved by small ones */
	small = take(r, 5, now + 2 * MS);
	ck_assert_int_ge(small, big);
	ring_free(r);
}
END_TEST

START_TEST(a_cost_above_the_limit_is_refused_not_waited_for)
{
	const char *name = test_name("ecost");
	shmt_config c = units(100, 1);
	shmt_throttle *t;
	shmt_ticket tk;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 101, 0, -1), SHMT_ECOST);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 100, 0, -1), SHMT_OK);
	/* under smooth, the burst is the bound */
	c.policy = SHMT_POLICY_SMOOTH;
	c.unit_burst = 20;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 21, 0, 0), SHMT_ECOST);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_refund_lets_the_reservations_move_earlier)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	take(r, 100, now);
	ck_assert_int_eq(take(r, 50, now), now + NS);
	/* the first used 30, not 100: 30 + 50 fit now */
	ck_assert_int_lt(shmt_cost_settle(r, 0, 30), 0);
	ck_assert_int_eq(shmt_cost_of(r, 0), 30);
	ck_assert_int_eq(shmt_cost_of(r, 1), 50);
	ck_assert_int_eq(shmt_replan(r, now), 1);
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now);
	/* and a new send sees the room that is left: 20 */
	ck_assert_int_eq(take(r, 20, now), now);
	ck_assert_int_eq(take(r, 1, now), now + NS);
	ring_free(r);
}
END_TEST

START_TEST(a_charge_moves_the_reservations_later_never_earlier)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	take(r, 10, now);
	take(r, 20, now + MS);
	/* reservation 2 is in the future: a shared delay planned it */
	shmt_ring_append_cost(r, now + 500 * MS, 50);
	/* the first used 80: 80 + 20 + 50 > 100 */
	ck_assert_int_gt(shmt_cost_settle(r, 0, 80), 0);
	shmt_replan_later(r, now + 2 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 2), now + NS);
	/* the entries already sent keep their times */
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now + MS);
	ring_free(r);
}
END_TEST

START_TEST(smooth_units_spread_a_burst_gcra)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r;
	int64_t now = 100 * NS;

	c.policy = SHMT_POLICY_SMOOTH;
	c.unit_burst = 20;
	r = ring_new(64, &c);
	/* 20 units per 0.2 s: one unit every 10 ms, 20 at once */
	ck_assert_int_eq(take(r, 10, now), now);
	ck_assert_int_eq(take(r, 10, now), now);
	ck_assert_int_eq(take(r, 10, now), now + 200 * MS);
	ck_assert_int_eq(take(r, 20, now), now + 400 * MS);
	ring_free(r);
}
END_TEST

START_TEST(requests_and_units_hold_together)
{
	shmt_config c = units(100, 1);
	struct shmt_ring *r;
	int64_t now = 100 * NS;

	c.nrates = 1;
	c.rates[0] = (shmt_rate){ .max = 3, .period = 1 };
	r = ring_new(64, &c);
	/* costs of 10: the request rate bites first */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(take(r, 10, now), now);
	ck_assert_int_eq(take(r, 10, now), now + NS);
	ring_free(r);
}
END_TEST

START_TEST(costs_of_dropped_entries_count_conservatively)
{
	shmt_config c = units(1000, 10);
	struct shmt_ring *r = ring_new(16, &c);
	int64_t now = 100 * NS, t[40], cost[40];

	/* a log shorter than a window's sends: the dropped ones are taken
	 * as sent no earlier than the oldest kept */
	for (int i = 0; i < 40; i++) {
		cost[i] = 100;
		t[i] = take(r, cost[i], now + i * MS);
	}
	ck_assert(!units_overrun(t, cost, 40, 1000, 10 * NS));
	ring_free(r);
}
END_TEST

START_TEST(a_reset_of_the_log_forgets_its_costs)
{
	const char *name = test_name("cfloor");
	shmt_config c = units(100, 60);
	shmt_throttle *t;
	shmt_ticket tk;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 100, 0, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 1, 0, 0), SHMT_EAGAIN);
	fake_mono_now += MS;
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_LOG), SHMT_OK);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 100, 0, 0), SHMT_OK);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(api_refund_admits_now_and_status_shows_units)
{
	const char *name = test_name("crefund");
	shmt_config c = units(1000, 60);
	shmt_throttle *t;
	shmt_ticket a, b;
	shmt_stat st;
	shmt_outcome out;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	shmt_ticket_init(&a);
	shmt_ticket_init(&b);
	ck_assert_int_eq(shmt_acquire_cost(t, &a, 800, 0, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire_cost(t, &b, 300, 0, 0), SHMT_EAGAIN);
	fake_mono_now += MS;
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.window_units[0], 800);
	/* used 200, not 800 */
	ck_assert_int_eq(shmt_cost_set(t, &a, 200), SHMT_OK);
	ck_assert_int_eq(shmt_record(t, &a, 200, -1, NULL, 0, &out), SHMT_OK);
	ck_assert_int_eq(shmt_acquire_cost(t, &b, 300, 0, 0), SHMT_OK);
	fake_mono_now += MS;
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.window_units[0], 500);
	ck_assert_uint_eq(st.config.units[0].max, 1000);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(config_checks_units_and_concurrency)
{
	shmt_config c = units(100, 1);

	ck_assert_int_eq(shmt_config_check(&c), SHMT_OK);
	c.units[0].max = 0;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = units(100, 0);
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = units(100, 1);
	c.nunits = SHMT_MAX_UNITS + 1;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = units(100, 1);
	c.unit_burst = 101;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = units(100, 1);
	c.concurrency = SHMT_MAX_PLACES + 1;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c.concurrency = SHMT_MAX_PLACES;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_OK);
	/* smooth needs a rate or a unit limit */
	c.policy = SHMT_POLICY_SMOOTH;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_OK);
}
END_TEST

/* ---- places ---------------------------------------------------------- */

static uint64_t dead_owner;

static int
alive_but_dead_owner(uint64_t owner)
{
	return owner != dead_owner;
}

START_TEST(places_cap_take_release_and_reap)
{
	struct shmt_costs *c = calloc(1, sizeof(*c));

	ck_assert_int_ge(shmt_place_take(c, 2, 7ull << 32, 10, 0), 0);
	ck_assert_int_ge(shmt_place_take(c, 2, 8ull << 32, 11, 0), 0);
	ck_assert_int_eq(shmt_place_take(c, 2, 9ull << 32, 12, 0), -1);
	ck_assert_uint_eq(shmt_places_used(c), 2);
	ck_assert_int_eq(shmt_place_release(c, 10), 1);
	ck_assert_int_eq(shmt_place_release(c, 10), 0);
	ck_assert_int_ge(shmt_place_take(c, 2, 9ull << 32, 12, 0), 0);
	/* the holder of 11 is gone: found out, its place back */
	dead_owner = 8ull << 32;
	ck_assert_uint_eq(shmt_places_reap(c, alive_but_dead_owner), 1);
	ck_assert_int_eq(shmt_place_find(c, 11), -1);
	ck_assert_int_ge(shmt_place_take(c, 2, 9ull << 32, 13, 0), 0);
	/* a cap lowered under its holders: nothing until they are fewer */
	ck_assert_int_eq(shmt_place_take(c, 1, 9ull << 32, 14, 0), -1);
	free(c);
}
END_TEST

START_TEST(removing_the_cap_frees_every_place)
{
	const char *name = test_name("uncap");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket a, b;
	shmt_place pl[4];
	size_t got;

	shmt_config_init(&c);
	c.concurrency = 1;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&a);
	shmt_ticket_init(&b);
	ck_assert_int_eq(shmt_acquire(t, &a, 0), SHMT_OK);
	ck_assert_int_eq(shmt_places_read(t, pl, 4, &got), SHMT_OK);
	ck_assert_uint_eq(got, 1);
	/* no cap: no places, and none left over for a cap set later */
	c.concurrency = 0;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(shmt_places_read(t, pl, 4, &got), SHMT_OK);
	ck_assert_uint_eq(got, 0);
	c.concurrency = 1;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &b, 0), SHMT_OK);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(api_cap_refuses_then_record_gives_the_place_back)
{
	const char *name = test_name("cap");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket a, b, x;
	shmt_outcome out;
	shmt_place pl[4];
	shmt_stat st;
	size_t got;

	shmt_config_init(&c);
	c.concurrency = 2;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&a);
	shmt_ticket_init(&b);
	shmt_ticket_init(&x);
	ck_assert_int_eq(shmt_acquire(t, &a, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &b, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &x, 0), SHMT_EAGAIN);
	ck_assert_int_eq(shmt_acquire(t, &x, 0.05), SHMT_ETIMEDOUT);
	/* a redirect's hop takes no place */
	ck_assert_int_eq(shmt_acquire_cost(t, &x, 0, SHMT_ACQUIRE_NOPLACE, 0),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_places_read(t, pl, 4, &got), SHMT_OK);
	ck_assert_uint_eq(got, 2);
	ck_assert_int_eq(pl[0].pid, getpid());
	ck_assert_uint_eq(pl[0].seq + pl[1].seq, a.seq + b.seq);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 2);
	ck_assert_int_eq(shmt_record(t, &a, 200, -1, NULL, 0, &out), SHMT_OK);
	shmt_ticket_init(&x);
	ck_assert_int_eq(shmt_acquire(t, &x, 0), SHMT_OK);
	ck_assert_int_eq(shmt_release(t, &b), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 1);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_process_killed_in_flight_gives_its_place_back)
{
	const char *name = test_name("kill");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	int pipefd[2], status;
	char ch;
	pid_t pid;

	shmt_config_init(&c);
	c.concurrency = 1;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	ck_assert_int_eq(pipe(pipefd), 0);
	if ((pid = fork()) == 0) {
		shmt_throttle *mine;
		shmt_ticket k;

		shmt_ticket_init(&k);
		if (shmt_open(&mine, name, NULL, 0) != SHMT_OK ||
		    shmt_acquire(mine, &k, 0) != SHMT_OK)
			_exit(1);
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(pipefd[0], &ch, 1), 1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* found out at once, not after a time-out */
	ck_assert_int_eq(shmt_acquire(t, &tk, 0.5), SHMT_OK);
	close(pipefd[0]);
	close(pipefd[1]);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_waiter_is_woken_when_a_place_comes_back)
{
	const char *name = test_name("wake");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	int status;
	pid_t pid;

	shmt_config_init(&c);
	c.concurrency = 1;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	if ((pid = fork()) == 0) {
		shmt_throttle *mine;
		shmt_ticket k;

		shmt_ticket_init(&k);
		if (shmt_open(&mine, name, NULL, 0) != SHMT_OK)
			_exit(1);
		_exit(shmt_acquire(mine, &k, 30) == SHMT_OK ? 0 : 2);
	}
	usleep(100000);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, &out), SHMT_OK);
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* throttle-curl waits without reserving until its slot is near
 * (perform.c); a refund must reach it as it reaches those that reserved,
 * or it sleeps out a slot computed with the declared cost. */
START_TEST(a_refund_wakes_those_waiting_to_reserve)
{
	const char *name = test_name("rwake");
	shmt_config c = units(1000, 60);
	shmt_throttle *t;
	shmt_ticket tk;
	pid_t pid;
	int rc;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 1000, 0, 0), SHMT_OK);
	/* the window is full for a minute */
	pid = waiter_to_reserve(name, 500, 30, 1);
	/* used 100 of the 1000 declared: 900 free now */
	ck_assert_int_eq(shmt_cost_set(t, &tk, 100), SHMT_OK);
	rc = waiter_status(pid);
	ck_assert_msg(rc == 0, "the waiter exited with %d (3: not woken)", rc);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* ---- many processes -------------------------------------------------- */

#define PROCS 12
#define EACH 8
#define ULIMIT 1000
#define CAP 3

struct csend {
	int64_t at;
	int64_t cost;
};

static int
by_at(const void *a, const void *b)
{
	const struct csend *x = a, *y = b;

	return (x->at > y->at) - (x->at < y->at);
}

START_TEST(processes_with_random_costs_never_overrun_a_unit_window)
{
	const char *name = test_name("mpc");
	shmt_config c = units(ULIMIT, 0.5);
	size_t n = PROCS * EACH, size = sizeof(struct csend) * n;
	struct csend *s = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t t[PROCS * EACH], cost[PROCS * EACH];
	shmt_throttle *th;
	int status, done = 0;

	ck_assert(s != MAP_FAILED);
	c.margin = 0.005;
	ck_assert_int_eq(shmt_open(&th, name, &c, SHMT_CREATE), SHMT_OK);
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			shmt_throttle *mine;

			srand(p + 1);
			if (shmt_open(&mine, name, NULL, 0) != SHMT_OK)
				_exit(1);
			for (int i = 0; i < EACH; i++) {
				shmt_ticket tk;
				uint32_t k = 1 + rand() % 400;
				struct csend *o = &s[p * EACH + i];

				shmt_ticket_init(&tk);
				if (shmt_acquire_cost(mine, &tk, k, 0, 60) !=
				    SHMT_OK)
					_exit(2);
				o->at = tk.send_ns;
				o->cost = k;
				/* half of them used half of what they said */
				if (i % 2 &&
				    shmt_cost_set(mine, &tk, k / 2) != SHMT_OK)
					_exit(3);
				if (i % 2)
					o->cost = k / 2;
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		if (wait(&status) > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			done++;
	ck_assert_int_eq(done, PROCS);
	qsort(s, n, sizeof(*s), by_at);
	for (size_t i = 0; i < n; i++) {
		t[i] = s[i].at;
		cost[i] = s[i].cost;
	}
	ck_assert(!units_overrun(t, cost, n, ULIMIT, NS / 2));
	shmt_close(th);
	shmt_remove(name);
	munmap(s, size);
}
END_TEST

START_TEST(processes_never_exceed_the_concurrency_cap)
{
	const char *name = test_name("mpcap");
	shmt_config c;
	int *live = mmap(NULL, 2 * sizeof(int), PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	shmt_throttle *th;
	int status, done = 0;

	ck_assert(live != MAP_FAILED);
	shmt_config_init(&c);
	c.concurrency = CAP;
	ck_assert_int_eq(shmt_open(&th, name, &c, SHMT_CREATE), SHMT_OK);
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			shmt_throttle *mine;

			if (shmt_open(&mine, name, NULL, 0) != SHMT_OK)
				_exit(1);
			for (int i = 0; i < EACH; i++) {
				shmt_ticket tk;
				shmt_outcome out;
				int now;

				shmt_ticket_init(&tk);
				if (shmt_acquire(mine, &tk, 60) != SHMT_OK)
					_exit(2);
				now = __atomic_add_fetch(&live[0], 1,
				                         __ATOMIC_SEQ_CST);
				/* the most ever in flight at once */
				for (int m = live[1]; now > m;
				     m = __atomic_load_n(&live[1],
				                         __ATOMIC_SEQ_CST))
					__atomic_compare_exchange_n(
					    &live[1], &m, now, 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
				usleep(2000);
				__atomic_sub_fetch(&live[0], 1,
				                   __ATOMIC_SEQ_CST);
				if (shmt_record(mine, &tk, 200, -1, NULL, 0,
				                &out) != SHMT_OK)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		if (wait(&status) > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			done++;
	ck_assert_int_eq(done, PROCS);
	ck_assert_int_le(live[1], CAP);
	ck_assert_int_ge(live[1], 1);
	shmt_close(th);
	shmt_remove(name);
	munmap(live, 2 * sizeof(int));
}
END_TEST

Suite *
costs_suite(void)
{
	Suite *s = suite_create("costs");
	TCase *tc = tcase_create("units");
	TCase *tp = tcase_create("places");
	TCase *tm = tcase_create("processes");

	tcase_add_test(tc,
	               costs_fill_the_window_then_wait_for_the_oldest_to_leave);
	tcase_add_test(tc, random_costs_never_overrun_any_window);
	tcase_add_test(
	    tc, a_big_cost_waits_its_turn_and_small_ones_queue_behind_it);
	tcase_add_test(tc, a_cost_above_the_limit_is_refused_not_waited_for);
	tcase_add_test(tc, a_refund_lets_the_reservations_move_earlier);
	tcase_add_test(tc, a_charge_moves_the_reservations_later_never_earlier);
	tcase_add_test(tc, smooth_units_spread_a_burst_gcra);
	tcase_add_test(tc, requests_and_units_hold_together);
	tcase_add_test(tc, costs_of_dropped_entries_count_conservatively);
	tcase_add_test(tc, a_reset_of_the_log_forgets_its_costs);
	tcase_add_test(tc, api_refund_admits_now_and_status_shows_units);
	tcase_add_test(tc, config_checks_units_and_concurrency);
	suite_add_tcase(s, tc);
	tcase_add_test(tp, places_cap_take_release_and_reap);
	tcase_add_test(tp, api_cap_refuses_then_record_gives_the_place_back);
	tcase_add_test(tp, removing_the_cap_frees_every_place);
	tcase_add_test(tp, a_process_killed_in_flight_gives_its_place_back);
	tcase_add_test(tp, a_waiter_is_woken_when_a_place_comes_back);
	tcase_add_test(tp, a_refund_wakes_those_waiting_to_reserve);
	tcase_set_timeout(tp, 60);
	suite_add_tcase(s, tp);
	tcase_add_test(tm,
	               processes_with_random_costs_never_overrun_a_unit_window);
	tcase_add_test(tm, processes_never_exceed_the_concurrency_cap);
	tcase_set_timeout(tm, 120);
	suite_add_tcase(s, tm);
	return s;
}
