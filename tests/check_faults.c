/* check_faults.c - faults and hostile peers (issue 10): kills at any
 * instant, removal and truncation under live processes, late wake-ups,
 * creators that die, and group members who forge the segment's bytes.
 * Every process here is real (fork). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, random */
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
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
poke32(const char *name, size_t off, uint32_t v)
{
	size_t size;
	struct shmt_header *h = raw_map(name, &size);

	__atomic_store_n((uint32_t *)((char *)h + off), v, __ATOMIC_SEQ_CST);
	munmap(h, size);
}

static void
nap_ns(int64_t ns)
{
	struct timespec ts = { ns / NS, ns % NS };

	nanosleep(&ts, NULL);
}

/* Until `want` processes wait in acquire (10 s at most). */
static void
await_waiting(shmt_throttle *t, uint32_t want)
{
	int64_t start = mono_now();
	shmt_stat st;

	do {
		nap_ns(5 * MS);
		ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	} while (st.waiting < want && mono_now() - start < 10 * NS);
	ck_assert_uint_eq(st.waiting, want);
}

static int
by_time(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

/* Wait for a child; its exit status, or 128 + the signal that killed it. */
static int
reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A process that is gone: forked, exited and reaped. */
static pid_t
gone_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(reap(pid), 0);
	return pid;
}

/* A process that opens the throttle and takes one slot: exits with the
 * code (0: admitted), within `timeout` of lock waiting. */
static pid_t
spawn_user(const char *name, int64_t lock_timeout)
{
	pid_t pid = fork();

	if (pid == 0) {
		shmt_throttle *c = NULL;
		shmt_ticket tk;
		int rc;

		shmt_lock_timeout = lock_timeout;
		if ((rc = shmt_open(&c, name, NULL, 0)) != SHMT_OK)
			_exit(rc);
		shmt_ticket_init(&tk);
		rc = shmt_acquire(c, &tk, 0);
		shmt_close(c);
		_exit(rc);
	}
	return pid;
}

/* Item 4: writing pointers into the lock made a peer follow them.  Layout
 * 2 kept a glibc robust mutex at offset 24, whose robust-list links
 * (bytes 48 and 56) the holder follows when it unlocks. */
START_TEST(forged_lock_pointers_never_crash_a_peer)
{
	const char *name = test_name("ptr");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	int ready[2], go[2];
	struct shmt_header *h;
	size_t size;
	pid_t victim;
	char b = 0;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_close(t);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	if ((victim = fork()) == 0) {
		shmt_throttle *v = NULL;
		shmt_ticket tk;

		shmt_lock_timeout = 300 * MS;
		if (shmt_open(&v, name, NULL, 0) != SHMT_OK ||
		    shmt_seg_lock(shmt_seg_of(v), NULL, NULL) != SHMT_OK)
			_exit(3);
		(void)!write(ready[1], &b, 1);
		(void)!read(go[0], &b, 1);
		shmt_seg_unlock(shmt_seg_of(v));
		shmt_ticket_init(&tk);
		shmt_acquire(v, &tk, 0);
		shmt_close(v);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &b, 1), 1);
	h = raw_map(name, &size);
	/* two pointers into nowhere, while the victim holds the lock */
	*(volatile uint64_t *)((char *)h + 48) = 0x10;
	*(volatile uint64_t *)((char *)h + 56) = 0x20;
	(void)!write(go[1], &b, 1);
	ck_assert_int_eq(reap(victim), 0);
	/* and the lock is not left held by a dead thread */
	ck_assert_int_eq(reap(spawn_user(name, 2 * NS)), SHMT_OK);
	/* Every word between the header's fixed fields and the state, forged
	 * with addresses: users get a code (or a recovered lock), never a
	 * signal.  (The word `removed` is among them: a peer may stop the
	 * throttle, as it may remove it.) */
	for (size_t off = offsetof(struct shmt_header, wake);
	     off < offsetof(struct shmt_header, st); off += 4)
		*(volatile uint32_t *)((char *)h + off) =
		    (uint32_t)(uintptr_t)((char *)h + off);
	munmap(h, size);
	for (int i = 0; i < 3; i++) {
		int rc = reap(spawn_user(name, 300 * MS));

		ck_assert_msg(rc == SHMT_OK || rc == SHMT_EAGAIN ||
		                  rc == SHMT_EBUSY || rc == SHMT_ECORRUPT ||
		                  rc == SHMT_EREMOVED,
		              "user %d ended with %d", i, rc);
	}
	shmt_remove(name);
}
END_TEST

/* Item 7: a lock word naming a process that is gone: every call waited
 * 5 s and failed, forever. */
START_TEST(a_lock_owner_that_is_gone_is_recovered)
{
	const char *name = test_name("ghost");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	shmt_stat st;
	int64_t start;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	poke32(name, offsetof(struct shmt_header, lock), (uint32_t)gone_pid());
	start = mono_now();
	/* a lock timeout of 3 s: recovery must not wait for it */
	ck_assert_int_eq(reap(spawn_user(name, 3 * NS)), SHMT_OK);
	ck_assert_int_lt(mono_now() - start, 3 * NS);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.repairs, 1);
	ck_assert_uint_eq(st.log_count, 1);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* The id of a live process whose start time is not the one recorded with
 * the lock: the id was reused after the holder died. */
START_TEST(a_reused_owner_id_is_not_the_owner)
{
	const char *name = test_name("reused");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	size_t size;
	struct shmt_header *h;
	shmt_stat st;
	pid_t sleeper;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	if ((sleeper = fork()) == 0) {
		pause();
		_exit(0);
	}
	h = raw_map(name, &size);
	/* started one tick after boot: not this sleeper */
	h->lock_owner = (uint64_t)sleeper << 32 | 1;
	__atomic_store_n(&h->lock, (uint32_t)sleeper, __ATOMIC_SEQ_CST);
	munmap(h, size);
	ck_assert_int_eq(reap(spawn_user(name, 3 * NS)), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.repairs, 1);
	/* the sleeper itself, recorded right, holds it: a live holder */
	h = raw_map(name, &size);
	h->lock_owner = 0;
	__atomic_store_n(&h->lock, (uint32_t)sleeper, __ATOMIC_SEQ_CST);
	munmap(h, size);
	ck_assert_int_eq(reap(spawn_user(name, 200 * MS)), SHMT_EBUSY);
	kill(sleeper, SIGKILL);
	ck_assert_int_eq(reap(sleeper), 128 + SIGKILL);
	ck_assert_int_eq(reap(spawn_user(name, 3 * NS)), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.repairs, 2);
	ck_assert_uint_eq(st.log_count, 2);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

static int
is_rate(const shmt_config *c, uint32_t max, double period)
{
	return c->nrates == 1 && c->rates[0].max == max &&
	       c->rates[0].period == period;
}

/* Item 1: a process killed inside shmt_config_set() switching between
 * 10/1 s and 100/100 s left "100 per 1 s".  Each round forks a writer
 * that switches back and forth, stops it at random instants until one
 * finds it holding the lock, kills it there, and reads the configuration
 * (repaired): one of the two, whole. */
START_TEST(a_kill_during_set_leaves_one_whole_configuration)
{
	const char *name = test_name("cfgkill");
	shmt_config a = one_rate(10, 1), b = one_rate(100, 100), got;
	shmt_throttle *t = NULL;
	struct shmt_header *h;
	int64_t start = mono_now();
	int round, inside = 0;

	ck_assert_int_eq(shmt_open(&t, name, &a, SHMT_CREATE), SHMT_OK);
	h = shmt_seg_of(t)->h;
	srandom(10);
	for (round = 0; round < 2000 && mono_now() - start < 20 * NS; round++) {
		pid_t pid = fork();
		int st;

		if (pid == 0)
			for (unsigned i = 0;; i++)
				shmt_config_set(t, i % 2 ? &a : &b);
		for (int tries = 0; tries < 200; tries++) {
			struct timespec nap = { 0, random() % (100 * 1000) };

			nanosleep(&nap, NULL);
			kill(pid, SIGSTOP);
			ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
			if ((__atomic_load_n(&h->lock, __ATOMIC_SEQ_CST) &
			     0x3fffffffu) == (uint32_t)pid) {
				inside++;
				break;
			}
			kill(pid, SIGCONT);
		}
		kill(pid, SIGKILL);
		ck_assert_int_eq(reap(pid), 128 + SIGKILL);
		ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
		ck_assert_msg(is_rate(&got, 10, 1) || is_rate(&got, 100, 100),
		              "round %d: %u per %g s", round, got.rates[0].max,
		              got.rates[0].period);
	}
	fprintf(stderr, "config kill loop: %d rounds, %d inside the lock\n",
	        round, inside);
	ck_assert_int_gt(inside, round / 2);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Item 2: processes waiting on a removed throttle kept pacing on their
 * (unlinked) copy while new ones paced on a fresh one: 10 sends in a
 * window limited to 5. */
START_TEST(remove_stops_the_old_copy)
{
	enum { WAITERS = 5 };
	const char *name = test_name("rm");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL, *fresh = NULL;
	int64_t *sent = mmap(NULL, sizeof(int64_t) * 2 * WAITERS,
	                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	                     -1, 0),
	        times[2 * WAITERS];
	int rcs[WAITERS], n = 0, removed = 0;
	pid_t kids[WAITERS];
	shmt_ticket tk;
	shmt_stat st;

	ck_assert(sent != MAP_FAILED);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	/* the window is full: the waiters' slots are a second away */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	for (int i = 0; i < WAITERS; i++)
		if ((kids[i] = fork()) == 0) {
			shmt_ticket mine;
			int rc;

			shmt_ticket_init(&mine);
			rc = shmt_acquire(t, &mine, 10);
			sent[i] = rc == SHMT_OK ? mono_now() : 0;
			_exit(rc);
		}
	await_waiting(t, WAITERS);
	nap_ns(100 * MS);
	ck_assert_int_eq(shmt_remove(name), SHMT_OK);
	/* a new process creates it again and sends at once */
	ck_assert_int_eq(shmt_open(&fresh, name, &c, SHMT_CREATE), SHMT_OK);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(shmt_acquire(fresh, &tk, 0), SHMT_OK);
		sent[WAITERS + i] = mono_now();
	}
	for (int i = 0; i < WAITERS; i++) {
		rcs[i] = reap(kids[i]);
		removed += rcs[i] == SHMT_EREMOVED;
	}
	for (int i = 0; i < 2 * WAITERS; i++)
		if (sent[i])
			times[n++] = sent[i];
	qsort(times, (size_t)n, sizeof(times[0]), by_time);
	ck_assert_msg(!window_overrun(times, (size_t)n, 5, NS),
	              "%d sends after the removal, in one second", n);
	/* the old handles are told, and so is the parent's */
	ck_assert_int_eq(removed, WAITERS);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EREMOVED);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_EREMOVED);
	ck_assert_int_eq(shmt_stat_get(fresh, &st), SHMT_OK);
	ck_assert_uint_eq(st.log_count, 5);
	shmt_close(t);
	shmt_close(fresh);
	shmt_remove(name);
	munmap(sent, sizeof(int64_t) * 2 * WAITERS);
}
END_TEST

/* A forked waiter for its slot, stopped while it waits; what it got. */
struct late {
	int64_t send_ns, returned;
};

static pid_t
stopped_waiter(shmt_throttle *t, struct late *res)
{
	pid_t kid;
	int status;

	if ((kid = fork()) == 0) {
		shmt_ticket mine;
		int rc;

		shmt_ticket_init(&mine);
		rc = shmt_acquire(t, &mine, 10);
		res->send_ns = mine.send_ns;
		res->returned = mono_now();
		_exit(rc);
	}
	await_waiting(t, 1);
	kill(kid, SIGSTOP);
	ck_assert_int_eq(waitpid(kid, &status, WUNTRACED), kid);
	ck_assert(WIFSTOPPED(status));
	return kid;
}

/* The scene of the late-waiter tests, rate 5/s: five sends at t0, a
 * forked waiter for the slot a second later, stopped while it waits, and
 * four sends at t0 + 1.5 s, spaced from the first four.  The sends' times
 * go to sent[*n]; returns the waiter. */
static pid_t
late_scene(shmt_throttle *t, struct late *res, int64_t *sent, int *n,
           int64_t *t0)
{
	shmt_ticket tk;
	pid_t kid;

	shmt_ticket_init(&tk);
	*t0 = mono_now();
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		sent[(*n)++] = mono_now();
	}
	kid = stopped_waiter(t, res);
	ck_assert_int_lt(mono_now() - *t0, NS);
	nap_ns(*t0 + 1500 * MS - mono_now());
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		sent[(*n)++] = mono_now();
	}
	return kid;
}

/* Continue the waiter: it sends after it woke, and no second holds more
 * than five of the sends. */
static void
late_end(pid_t kid, const struct late *res, int64_t *sent, int n)
{
	int64_t t_cont = mono_now();

	kill(kid, SIGCONT);
	ck_assert_int_eq(reap(kid), SHMT_OK);
	ck_assert_msg(res->send_ns >= t_cont,
	              "sent on a slot %.3f s before it woke",
	              (double)(t_cont - res->send_ns) / NS);
	ck_assert_int_ge(res->returned, res->send_ns);
	sent[n++] = res->returned;
	qsort(sent, (size_t)n, sizeof(sent[0]), by_time);
	ck_assert(!window_overrun(sent, (size_t)n, 5, NS));
}

/* Item 3: a waiter stopped past its slot and continued returned with the
 * old slot, 3.2 s late: 8 sends in one second against 5.  Late by more
 * than the margin, it sends on its slot only if the log raised to its
 * send admits every entry so raised; here the sends made after its slot
 * were spaced from the sends before it, not from it: it keeps its slot
 * (it used to take a new one, and its old slot, never sent, was counted
 * as a send: a slot lost to every process). */
START_TEST(a_late_waker_keeps_its_slot_when_no_send_was_spaced_from_it)
{
	const char *name = test_name("late");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	struct late *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t t0, sent[10];
	shmt_stat st;
	pid_t kid;
	int n = 0;

	ck_assert(res != MAP_FAILED);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	kid = late_scene(t, res, sent, &n, &t0);
	late_end(kid, res, sent, n);
	/* its slot, moved to its send: no entry was left unsent */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.log_count, 10);
	ck_assert_uint_eq(st.requests, 10);
	shmt_close(t);
	shmt_remove(name);
	munmap(res, sizeof(*res));
}
END_TEST

/* The same waiter, continued once a send was planned from its slot (the
 * fifth after it, a period later) and has left: sending now could put six
 * sends in a second.  It takes a new slot; the old one stays counted by
 * the spacing rules, but as given up unsent: no send the server granted
 * (what is learned from refusals counts those; it was one more). */
START_TEST(a_late_waker_takes_a_new_slot_when_a_send_was_spaced_from_it)
{
	const char *name = test_name("late2");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	struct late *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t t0, sent[11];
	shmt_ticket tk;
	shmt_stat st;
	pid_t kid;
	int n = 0;

	ck_assert(res != MAP_FAILED);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	kid = late_scene(t, res, sent, &n, &t0);
	/* the fifth after the waiter's slot waits a period from it */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 10), SHMT_OK);
	sent[n++] = mono_now();
	ck_assert_int_ge(tk.send_ns, t0 + 2 * NS);
	late_end(kid, res, sent, n);
	/* a new slot: the old one (5) stays in the log, given up unsent */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.log_count, 12);
	ck_assert_uint_eq(st.requests, 11);
	ck_assert_uint_eq(
	    shmt_ring_count_ungranted(&shmt_seg_of(t)->ring, 0, 12), 1);
	ck_assert(shmt_seg_of(t)->ring.tag[5] & SHMT_TAG_UNSENT);
	shmt_close(t);
	shmt_remove(name);
	munmap(res, sizeof(*res));
}
END_TEST

/* A keeper raises the sends made after its slot to its own send; a
 * record takes the send time from the log.  Here X left before a pause
 * began and ended, and the late waiter woke after its end: had it kept
 * its slot, X's 429 would look sent after that pause and start another.
 * It takes a new slot, and X's 429 is covered by the first pause. */
START_TEST(a_late_waker_moves_no_send_past_a_pause)
{
	const char *name = test_name("late3");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	struct late *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	shmt_ticket tk[5], x;
	shmt_outcome o;
	shmt_stat st;
	int64_t t0;
	pid_t kid;

	ck_assert(res != MAP_FAILED);
	c.backoff_initial = 0.2;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	t0 = mono_now();
	for (int i = 0; i < 5; i++) {
		shmt_ticket_init(&tk[i]);
		ck_assert_int_eq(shmt_acquire(t, &tk[i], 0), SHMT_OK);
	}
	kid = stopped_waiter(t, res);
	ck_assert_int_lt(mono_now() - t0, NS);
	/* X goes after the waiter's slot, on a slot spaced from t0's */
	nap_ns(t0 + 1100 * MS - mono_now());
	shmt_ticket_init(&x);
	ck_assert_int_eq(shmt_acquire(t, &x, 0), SHMT_OK);
	/* a pause of 0.2 s begins after X left, and ends */
	ck_assert_int_eq(shmt_record(t, &tk[4], 429, 0.2, NULL, 0, &o),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert(st.delay_remaining > 0);
	nap_ns((int64_t)(st.delay_remaining * NS) + 200 * MS);
	kill(kid, SIGCONT);
	ck_assert_int_eq(reap(kid), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert(st.delay_remaining == 0);
	/* X's 429: sent before the pause, which covered it */
	ck_assert_int_eq(shmt_record(t, &x, 429, 0.5, NULL, 0, &o), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_msg(st.delay_remaining == 0,
	              "X's 429 began a pause of %.3f s", st.delay_remaining);
	shmt_close(t);
	shmt_remove(name);
	munmap(res, sizeof(*res));
}
END_TEST

/* A forked waiter for a slot at the quota's reset (no timeout). */
static pid_t
quota_waiter(shmt_throttle *t)
{
	pid_t kid;

	if ((kid = fork()) == 0) {
		shmt_ticket mine;

		shmt_ticket_init(&mine);
		_exit(shmt_acquire(t, &mine, -1));
	}
	return kid;
}

/* A slot given up on shared memory with a quota in force: the waiter,
 * stopped past its slot, cannot keep it (a send after it left before a
 * pause that has ended since), and its place in the budget goes to the
 * waiter queued behind it at the reset, woken at once; its own new slot
 * is at the reset.  (Before, the place was given back to the sends after
 * the new slot only: both waited for the reset, a send lost.) */
START_TEST(a_place_given_back_wakes_the_next_in_line)
{
	const char *name = test_name("late4");
	shmt_config c = one_rate(1000, 1);
	shmt_throttle *t = NULL;
	shmt_quota q = { .dialect = SHMT_QUOTA_XRATELIMIT,
		         .limit = 3,
		         .remaining = 2,
		         .reset = 20,
		         .retry_after = -1 };
	shmt_ticket tk[4];
	shmt_outcome o;
	shmt_stat st;
	pid_t w1, w2;
	int status;
	int64_t until;

	c.backoff_initial = 0.2;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	for (int i = 0; i < 4; i++)
		shmt_ticket_init(&tk[i]);
	/* 2 of 3 left: two go (a margin apart), the first waiter waits */
	ck_assert_int_eq(shmt_acquire(t, &tk[0], 0), SHMT_OK);
	ck_assert_int_eq(shmt_record_quota(t, &tk[0], 200, -1, &q, "u", 0, &o),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk[1], 0), SHMT_OK);
	nap_ns(100 * MS);
	ck_assert_int_eq(shmt_acquire(t, &tk[2], 0), SHMT_OK);
	w1 = quota_waiter(t);
	await_waiting(t, 1);
	kill(w1, SIGSTOP);
	ck_assert_int_eq(waitpid(w1, &status, WUNTRACED), w1);
	/* 2 left again: its slot and tk[3] now; tk[3] is sent, a second
	 * waiter queues at the reset */
	ck_assert_int_eq(shmt_record_quota(t, &tk[2], 200, -1, &q, "u", 0, &o),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk[3], 0), SHMT_OK);
	w2 = quota_waiter(t);
	await_waiting(t, 1);
	/* a pause of 0.2 s, begun after tk[3] left, and ended */
	ck_assert_int_eq(shmt_record(t, &tk[1], 429, 0.2, NULL, 0, &o),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	nap_ns((int64_t)(st.delay_remaining * NS) + 100 * MS);
	kill(w1, SIGCONT);
	/* the second goes; the first waits for the reset */
	until = mono_now() + 5 * NS;
	while (waitpid(w2, &status, WNOHANG) == 0 && mono_now() < until)
		nap_ns(10 * MS);
	ck_assert_msg(mono_now() < until, "the second waits for the reset");
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == SHMT_OK);
	nap_ns(300 * MS);
	ck_assert_int_eq(waitpid(w1, &status, WNOHANG), 0);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.waiting, 1);
	kill(w1, SIGKILL);
	reap(w1);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

#ifndef TOOLS_DIR
#error "TOOLS_DIR must name the folder of the built tools"
#endif
#define CTL TOOLS_DIR "/throttlectl"

/* "throttlectl acquire NAME --timeout 10", its stderr into *err. */
static pid_t
spawn_acquire(const char *name, int *err)
{
	int p[2];
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		close(p[0]);
		execl(CTL, "throttlectl", "acquire", name, "--timeout", "10",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*err = p[0];
	return pid;
}

static void
read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static int
one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

/* Item 5: `truncate -s 0` on a segment in use killed every attached
 * process with SIGBUS (exit 135). */
START_TEST(a_truncated_segment_is_an_error_not_sigbus)
{
	const char *name = test_name("trunc");
	shmt_config c = one_rate(1, 2);
	shmt_throttle *t = NULL;
	char path[128], err[512];
	shmt_ticket tk;
	shmt_stat st;
	int fd, efd, rc;
	pid_t kid;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	/* a tool waiting two seconds for its slot */
	kid = spawn_acquire(name, &efd);
	await_waiting(t, 1);
	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	ck_assert_int_ge(fd = shm_open(path, O_RDWR, 0), 0);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	close(fd);
	rc = reap(kid);
	read_all(efd, err, sizeof(err));
	ck_assert_msg(rc == 6, "throttlectl ended with %d: %s", rc, err);
	ck_assert_msg(one_line(err) && strstr(err, "truncated"), "%s", err);
	/* the library says so wherever it can look first */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_ETRUNCATED);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_ALL), SHMT_ETRUNCATED);
	shmt_close(t);
	ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_ENOENT);
	shmt_remove(name);
}
END_TEST

/* Truncated between the library's check and its next access: the fault
 * itself (SIGBUS) gives the tool's one line and status, not a core. */
START_TEST(a_tool_turns_sigbus_into_one_line)
{
	const char *name = test_name("sigbus");
	shmt_config c = one_rate(1, 2);
	shmt_throttle *t = NULL;
	char err[512];
	shmt_ticket tk;
	int efd, rc;
	pid_t kid;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	kid = spawn_acquire(name, &efd);
	await_waiting(t, 1);
	kill(kid, SIGBUS);
	rc = reap(kid);
	read_all(efd, err, sizeof(err));
	ck_assert_msg(rc == 6, "throttlectl ended with %d: %s", rc, err);
	ck_assert_str_eq(err, "throttlectl: the throttle's segment was "
	                      "truncated while in use\n");
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Item 6: a creator killed between creating the name and publishing the
 * magic left a name nobody could use until someone ran `remove`. */
START_TEST(a_blank_left_by_a_dead_creator_is_taken_over)
{
	const char *name = test_name("orphan");
	shmt_config c = one_rate(5, 1), got;
	shmt_throttle *t = NULL;
	char path[128];
	pid_t kid;
	int fd;

	/* what a creator killed after sizing the segment leaves */
	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	ck_assert_int_ge(fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600),
	                 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	close(fd);
	/* the next creator (another process) takes it over */
	if ((kid = fork()) == 0) {
		shmt_throttle *mine = NULL;
		shmt_ticket tk;
		int rc = shmt_open(&mine, name, &c, SHMT_CREATE | SHMT_EXCL);

		shmt_ticket_init(&tk);
		if (rc == SHMT_OK)
			rc = shmt_acquire(mine, &tk, 0);
		_exit(rc);
	}
	ck_assert_int_eq(reap(kid), SHMT_OK);
	ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_OK);
	ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
	ck_assert_uint_eq(got.rates[0].max, 5);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

static void
die(void)
{
	raise(SIGKILL);
}

/* The same, with a real creator killed half-way through building. */
START_TEST(a_creator_killed_mid_creation_is_taken_over)
{
	const char *name = test_name("midcreate");
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = NULL;
	shmt_stat st;
	pid_t kid;

	if ((kid = fork()) == 0) {
		shmt_config big = one_rate(100, 60);

		shmt_create_hook = die;
		_exit(shmt_open(&t, name, &big, SHMT_CREATE));
	}
	ck_assert_int_eq(reap(kid), 128 + SIGKILL);
	/* nothing there for a plain opener, at once */
	ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_ENOENT);
	/* many creators at once: one builds it, all use it */
	for (int i = 0; i < 4; i++)
		if (fork() == 0) {
			shmt_throttle *mine = NULL;
			shmt_ticket tk;
			int rc = shmt_open(&mine, name, &c, SHMT_CREATE);

			shmt_ticket_init(&tk);
			if (rc == SHMT_OK)
				rc = shmt_acquire(mine, &tk, 0);
			_exit(rc);
		}
	for (int i = 0; i < 4; i++) {
		int status;

		ck_assert_int_gt(wait(&status), 0);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.config.rates[0].max, 5);
	ck_assert_uint_eq(st.requests, 4);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

Suite *
faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");

	tcase_add_test(tc, forged_lock_pointers_never_crash_a_peer);
	tcase_add_test(tc, a_lock_owner_that_is_gone_is_recovered);
	tcase_add_test(tc, a_reused_owner_id_is_not_the_owner);
	tcase_add_test(tc, a_kill_during_set_leaves_one_whole_configuration);
	tcase_add_test(tc, remove_stops_the_old_copy);
	tcase_add_test(
	    tc, a_late_waker_keeps_its_slot_when_no_send_was_spaced_from_it);
	tcase_add_test(
	    tc, a_late_waker_takes_a_new_slot_when_a_send_was_spaced_from_it);
	tcase_add_test(tc, a_place_given_back_wakes_the_next_in_line);
	tcase_add_test(tc, a_late_waker_moves_no_send_past_a_pause);
	tcase_add_test(tc, a_truncated_segment_is_an_error_not_sigbus);
	tcase_add_test(tc, a_tool_turns_sigbus_into_one_line);
	tcase_add_test(tc, a_blank_left_by_a_dead_creator_is_taken_over);
	tcase_add_test(tc, a_creator_killed_mid_creation_is_taken_over);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
