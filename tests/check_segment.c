/* check_segment.c - the shared segment: open, validate, lock, repair,
 * wake.  Clocks are injected where timing is asserted; the crash and
 * wake tests really fork. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "policy.h"
#include "ring.h"
#include "testutil.h"

static shmt_throttle *
must_open(const char *name, shmt_config c)
{
	shmt_throttle *t = NULL;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	return t;
}

static shmt_throttle *
fake_clocked(const char *name, shmt_config c)
{
	shmt_throttle *t = must_open(name, c);

	shmt_set_clock(t, fake_mono, fake_wall);
	return t;
}

/* The send times of the log (state.h: after the header and the notes). */
static int64_t *
entries_mono(struct shmt_header *h)
{
	size_t notes = (sizeof(*h) + 63) & ~(size_t)63;
	size_t mono = notes + SHMT_NOTES * sizeof(struct shmt_note);

	return (int64_t *)((char *)h + ((mono + 63) & ~(size_t)63));
}

static int
open_rc(const char *name)
{
	shmt_throttle *t = NULL;
	int rc = shmt_open(&t, name, NULL, 0);

	shmt_close(t);
	return rc;
}

START_TEST(create_attach_and_remove)
{
	const char *name = test_name("open");
	shmt_config c = one_rate(120, 60), got;
	shmt_throttle *a = must_open(name, c), *b = NULL;

	ck_assert_int_eq(shmt_open(&b, name, NULL, 0), SHMT_OK);
	ck_assert_int_eq(shmt_config_get(b, &got), SHMT_OK);
	ck_assert_uint_eq(got.rates[0].max, 120);
	ck_assert_double_eq(got.rates[0].period, 60);
	ck_assert_uint_eq(got.capacity, 4096);
	ck_assert_str_eq(shmt_name(b), name);
	shmt_close(b);
	ck_assert_int_eq(shmt_open(&b, name, &c, SHMT_CREATE | SHMT_EXCL),
	                 SHMT_EEXIST);
	ck_assert_ptr_null(b);
	ck_assert_int_eq(shmt_remove(name), SHMT_OK);
	ck_assert_int_eq(open_rc(name), SHMT_ENOENT);
	ck_assert_int_eq(shmt_remove(name), SHMT_ENOENT);
	shmt_close(a);
	shmt_close(NULL);
}
END_TEST

START_TEST(names_are_validated)
{
	char longname[SHMT_NAME_MAX + 2];
	shmt_config c = one_rate(1, 1);
	shmt_throttle *t = NULL;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(shmt_name_check(""), SHMT_ENAME);
	ck_assert_int_eq(shmt_name_check("a/b"), SHMT_ENAME);
	ck_assert_int_eq(shmt_name_check(".."), SHMT_ENAME);
	ck_assert_int_eq(shmt_name_check("sp ace"), SHMT_ENAME);
	ck_assert_int_eq(shmt_name_check(longname), SHMT_ENAME);
	ck_assert_int_eq(shmt_name_check(NULL), SHMT_ENAME);
	longname[SHMT_NAME_MAX] = '\0';
	ck_assert_int_eq(shmt_name_check(longname), SHMT_OK);
	ck_assert_int_eq(shmt_name_check("api.example-com_v2"), SHMT_OK);
	ck_assert_int_eq(shmt_open(&t, "x/y", &c, SHMT_CREATE), SHMT_ENAME);
	c.rates[0].max = 0;
	ck_assert_int_eq(shmt_open(&t, test_name("cfg"), &c, SHMT_CREATE),
	                 SHMT_ECONFIG);
	ck_assert_int_eq(shmt_open(&t, test_name("cfg"), NULL, SHMT_CREATE),
	                 SHMT_EINVAL);
}
END_TEST

START_TEST(acquire_admits_max_per_period)
{
	const char *name = test_name("acq");
	shmt_throttle *t = fake_clocked(name, one_rate(3, 1));
	shmt_ticket tk;
	shmt_stat st;

	shmt_ticket_init(&tk);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_uint_eq(tk.attempt, 3);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	/* a slot 1.005 s away is out of a 0.5 s timeout: refused at once */
	ck_assert_int_eq(shmt_acquire(t, &tk, 0.5), SHMT_ETIMEDOUT);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.waiting, 0);
	ck_assert_uint_eq(st.window_sends[0], 3);
	ck_assert_double_eq_tol(st.next_slot, 1.005, 1e-9);
	ck_assert_uint_eq(st.requests, 3);
	fake_mono_now += NS + 5 * MS;
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_429_makes_every_handle_wait)
{
	const char *name = test_name("429");
	shmt_throttle *a = fake_clocked(name, one_rate(100, 60));
	shmt_throttle *b = fake_clocked(name, one_rate(100, 60));
	shmt_ticket tk, other;
	shmt_outcome out;
	shmt_stat st;
	shmt_log_entry log[4];
	size_t n;

	shmt_ticket_init(&tk);
	shmt_ticket_init(&other);
	ck_assert_int_eq(shmt_acquire(a, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(b, &other, 0), SHMT_OK);
	fake_mono_now += 100 * MS;
	ck_assert_int_eq(shmt_record(a, &tk, 429, 30, "http://x/1", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_RETRY);
	ck_assert_double_eq_tol(out.delay, 29.9, 1e-9);
	ck_assert_int_eq(shmt_acquire(b, &other, 0), SHMT_EAGAIN);
	shmt_stat_get(b, &st);
	ck_assert_double_eq_tol(st.delay_remaining, 29.9, 1e-9);
	ck_assert_uint_eq(st.n429, 1);
	ck_assert_double_eq(st.last_429, fake_wall_now / 1e9);
	ck_assert_int_eq(shmt_log_read(b, log, 4, &n), SHMT_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(log[0].status, 429);
	ck_assert_str_eq(log[0].url, "http://x/1");
	ck_assert_int_eq(log[1].status, 0);
	/* b's request was sent with a's: its 429 starts no second delay */
	ck_assert_int_eq(shmt_record(b, &other, 429, 60, NULL, 0, &out),
	                 SHMT_OK);
	ck_assert_double_eq_tol(out.delay, 29.9, 1e-9);
	fake_mono_now += 30 * NS;
	ck_assert_int_eq(shmt_acquire(b, &other, 0), SHMT_OK);
	ck_assert_int_eq(shmt_record(b, &other, 200, -1, NULL, 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_DONE);
	shmt_close(a);
	shmt_close(b);
	shmt_remove(name);
}
END_TEST

START_TEST(reset_and_reconfigure_keep_what_they_should)
{
	const char *name = test_name("reset");
	shmt_throttle *t = fake_clocked(name, one_rate(2, 60));
	shmt_config c = one_rate(5, 60);
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	/* 120 -> 300 per minute, say: the two sends are still counted */
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	shmt_stat_get(t, &st);
	ck_assert_uint_eq(st.log_count, 5);
	ck_assert_uint_eq(st.config.rates[0].max, 5);
	c = one_rate(10000, 60); /* would not fit the log */
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_ECONFIG);
	c = one_rate(0, 60);
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_ECONFIG);
	shmt_record(t, &tk, 429, 100, NULL, 0, &out);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY | SHMT_RESET_LOG),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	shmt_stat_get(t, &st);
	ck_assert_uint_eq(st.n429, 1);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_ALL), SHMT_OK);
	shmt_stat_get(t, &st);
	ck_assert_uint_eq(st.n429, 0);
	ck_assert_uint_eq(st.log_count, 0);
	ck_assert_int_eq(shmt_reset(t, 0x100), SHMT_EINVAL);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(tickets_round_trip_and_reject_garbage)
{
	shmt_ticket tk = { .seq = 42, .send_ns = 123456789, .attempt = 2 },
	            back;
	char buf[64];

	ck_assert_int_eq(shmt_ticket_format(&tk, buf, sizeof(buf)), SHMT_OK);
	ck_assert_int_eq(shmt_ticket_parse(buf, &back), SHMT_OK);
	ck_assert(back.seq == 42 && back.send_ns == 123456789 &&
	          back.attempt == 2);
	ck_assert_int_eq(shmt_ticket_parse("1:2", &back), SHMT_ETICKET);
	ck_assert_int_eq(shmt_ticket_parse("1:-2:3", &back), SHMT_ETICKET);
	ck_assert_int_eq(shmt_ticket_parse("1:2:3x", &back), SHMT_ETICKET);
	ck_assert_int_eq(
	    shmt_ticket_parse("99999999999999999999999:2:3", &back),
	    SHMT_ETICKET);
	ck_assert_int_eq(shmt_ticket_parse("1:2:99999999999", &back),
	                 SHMT_ETICKET);
	ck_assert_int_eq(shmt_ticket_format(&tk, buf, 4), SHMT_EINVAL);
}
END_TEST

/* Each hostile segment: damage one thing, expect one clear code. */
enum damage {
	MAGIC,
	LAYOUT,
	SIZE_FIELD,
	TRUNCATED,
	RING_INDEX,
	RING_ORDER,
	RING_ENDS,
	CONFIG,
	DELAY,
	BACKOFF,
	WORLD_MODE,
	LOCK_WORD,
	NDAMAGE
};

START_TEST(hostile_segments_are_refused)
{
	static const int want[NDAMAGE] = {
		[MAGIC] = SHMT_EINVALID,      [LAYOUT] = SHMT_EVERSION,
		[SIZE_FIELD] = SHMT_EINVALID, [TRUNCATED] = SHMT_EINVALID,
		[RING_INDEX] = SHMT_ECORRUPT, [RING_ORDER] = SHMT_OK,
		[RING_ENDS] = SHMT_ECORRUPT,  [CONFIG] = SHMT_ECORRUPT,
		[DELAY] = SHMT_ECORRUPT,      [BACKOFF] = SHMT_ECORRUPT,
		[WORLD_MODE] = SHMT_EPERM,    [LOCK_WORD] = SHMT_OK,
	};
	const char *name = test_name("hostile");
	shmt_throttle *t = must_open(name, one_rate(10, 1));
	shmt_ticket tk;
	struct shmt_header *h;
	char path[128];
	size_t size;
	int fd;

	shmt_ticket_init(&tk);
	for (int i = 0; i < 3; i++)
		shmt_acquire(t, &tk, 0);
	shmt_close(t);
	h = raw_map(name, &size);
	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	fd = shm_open(path, O_RDWR, 0);
	switch (_i) {
	case MAGIC: h->magic = 0xdeadbeef; break;
	case LAYOUT: h->layout = 99; break;
	case SIZE_FIELD: h->size = 1u << 30; break;
	case TRUNCATED:
		ck_assert_int_eq(ftruncate(fd, (off_t)size - 64), 0);
		break;
	case RING_INDEX: h->st.tail = h->st.head + 5; break;
	/* inside the log: opening is O(1) and does not look (issue 12) */
	case RING_ORDER: entries_mono(h)[1] = 0; break;
	/* the newest entry before the oldest: seen at once */
	case RING_ENDS: entries_mono(h)[2] = 0; break;
	case CONFIG: h->st.cfg[h->st.cfg_active].nrates = 1000; break;
	case DELAY: h->st.end_of_delay = INT64_MAX; break;
	case BACKOFF: h->st.backoff = -5; break;
	case WORLD_MODE: ck_assert_int_eq(fchmod(fd, 0666), 0); break;
	/* a holder no thread can be (layout 2 kept a glibc mutex here, whose
	 * forged kind made glibc abort): taken over */
	case LOCK_WORD: h->lock = 0xa0a0a0a0; break;
	}
	close(fd);
	munmap(h, size);
	ck_assert_int_eq(open_rc(name), want[_i]);
	if (_i == RING_ORDER) {
		/* the deep check finds it; the throttle still works */
		ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_OK);
		ck_assert_int_eq(shmt_verify(t), SHMT_ECORRUPT);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		shmt_close(t);
	}
	shmt_remove(name);
}
END_TEST

START_TEST(another_users_segment_is_refused)
{
	const char *name = test_name("owner");
	shmt_throttle *t = must_open(name, one_rate(10, 1));
	char path[128];
	int fd;

	shmt_close(t);
	if (geteuid() != 0) {
		shmt_remove(name);
		return; /* only root can hand a segment to another user */
	}
	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	fd = shm_open(path, O_RDWR, 0);
	ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
	close(fd);
	ck_assert_int_eq(open_rc(name), SHMT_EPERM);
	/* even when the caller accepts its group: 65534 is not ours */
	ck_assert_int_eq(shmt_open(&t, name, NULL, SHMT_GROUP), SHMT_EPERM);
	fd = shm_open(path, O_RDWR, 0);
	ck_assert_int_eq(fchown(fd, 65534, getegid()), 0);
	ck_assert_int_eq(fchmod(fd, 0660), 0);
	close(fd);
	ck_assert_int_eq(open_rc(name), SHMT_EPERM);
	ck_assert_int_eq(shmt_open(&t, name, NULL, SHMT_GROUP), SHMT_OK);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_blank_segment_is_not_used)
{
	const char *name = test_name("blank");
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/shmthrottle.%s", name);
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	/* a creator at work (it holds the flock): wait, then say so */
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	shmt_ready_wait = 100 * MS;
	ck_assert_int_eq(open_rc(name), SHMT_ECREATING);
	/* a creator that died before publishing the magic: nothing there */
	close(fd);
	ck_assert_int_eq(open_rc(name), SHMT_ENOENT);
	shmt_remove(name);
}
END_TEST

/*
 * A log full of a window's sends and of reservations: a waiter more must
 * not drop the oldest send, which the first reservation is spaced from.
 * It did while that send lay in the past: a re-plan (a reset, a
 * reconfiguration, something learned) then moved that reservation into
 * the full window.  Now it is SHMT_EFULL at once.
 */
START_TEST(a_full_log_keeps_the_sends_its_reservations_need)
{
	const char *name = test_name("fullwin");
	shmt_config c = one_rate(4, 60);
	shmt_throttle *t;
	struct shmt_ring *r;
	int64_t sends[17], now = fake_mono_now;
	size_t n = 0;
	shmt_ticket tk;
	int rc;

	c.capacity = 16;
	t = fake_clocked(name, c);
	r = &shmt_seg_of(t)->ring;
	/* a window's four sends, then twelve reservations (dead waiters') */
	for (int i = 0; i < 4; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	}
	for (int i = 0; i < 12; i++)
		shmt_ring_append(r, shmt_admit_new(r, 1, now));
	sends[n++] = *shmt_ring_mono(r, 0);
	/* a waiter more, in a process of its own: it would sleep minutes */
	rc = acquire_in_child(t, 2000);
	/* whatever it did, a re-plan must keep every window to four */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_BACKOFF), SHMT_OK);
	for (uint64_t s = r->st->tail; s < r->st->head; s++)
		if (s > 0)
			sends[n++] = *shmt_ring_mono(r, s);
	ck_assert_int_eq(window_overrun(sends, n, 4, 60 * NS), 0);
	ck_assert_int_eq(rc, SHMT_EFULL);
	ck_assert_uint_eq(r->st->tail, 0);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* The same with a learned pace (no rate configured): each reservation is
 * paced from the send before it, so a full log keeps the one the first
 * reservation is paced from. */
START_TEST(a_full_log_keeps_the_send_a_pace_counts_from)
{
	const char *name = test_name("fullpace");
	shmt_config c;
	shmt_throttle *t;
	struct shmt_ring *r;
	int64_t now = fake_mono_now;
	int rc;

	shmt_config_init(&c);
	c.capacity = 16;
	t = fake_clocked(name, c);
	r = &shmt_seg_of(t)->ring;
	/* the handle reads its configuration under the lock */
	ck_assert_int_eq(shmt_stat_get(t, &(shmt_stat){ 0 }), SHMT_OK);
	r->st->learn.heard = 1;
	r->st->learn.pace = 100 * MS;
	r->st->rules_gen++;
	/* one send 50 ms ago, then fifteen reservations 100 ms apart */
	shmt_ring_append(r, now - 50 * MS);
	for (int i = 0; i < 15; i++)
		shmt_ring_append(r, shmt_admit_new(r, 1, now));
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now + 50 * MS);
	rc = acquire_in_child(t, 2000);
	/* a re-plan keeps the first reservation a pace after the send */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_BACKOFF), SHMT_OK);
	ck_assert_int_eq(rc, SHMT_EFULL);
	ck_assert_uint_eq(r->st->tail, 0);
	ck_assert_int_ge(*shmt_ring_mono(r, 1), now + 50 * MS);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_holder_killed_inside_the_lock_is_repaired)
{
	const char *name = test_name("crash");
	shmt_throttle *t = must_open(name, one_rate(10, 1));
	shmt_ticket tk;
	shmt_stat st;
	pid_t pid;
	int status;

	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	pid = fork();
	if (pid == 0) {
		shmt_throttle *c = NULL;
		struct shmt_seg *sg;

		if (shmt_open(&c, name, NULL, 0) != SHMT_OK)
			_exit(1);
		sg = shmt_seg_of(c);
		shmt_seg_lock(sg, NULL, NULL);
		/* half-way through a reconfiguration and an out-of-order append
		 */
		sg->h->st.cfg[sg->h->st.cfg_active].nrates = 77;
		shmt_ring_append(&sg->ring, 1);
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.config.nrates, 1);
	ck_assert_uint_eq(st.config.rates[0].max, 10);
	ck_assert_uint_eq(st.log_count, 2);
	ck_assert_uint_eq(st.repairs, 1);
	ck_assert_int_eq(shmt_seg_validate(shmt_seg_of(t), mono_now()),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(reset_wakes_a_waiting_process_at_once)
{
	const char *name = test_name("wake");
	shmt_throttle *t = must_open(name, one_rate(10, 1));
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	int64_t start;
	pid_t pid;
	int status;

	shmt_ticket_init(&tk);
	shmt_acquire(t, &tk, 0);
	shmt_record(t, &tk, 429, 60, NULL, 0, &out); /* a minute's pause */
	pid = fork();
	if (pid == 0) {
		shmt_throttle *c = NULL;
		shmt_ticket mine;

		shmt_ticket_init(&mine);
		if (shmt_open(&c, name, NULL, 0) != SHMT_OK)
			_exit(1);
		_exit(shmt_acquire(c, &mine, 120) == SHMT_OK ? 0 : 2);
	}
	start = mono_now();
	do { /* until the child waits: at most 10 s */
		struct timespec nap = { 0, 10 * MS };

		nanosleep(&nap, NULL);
		shmt_stat_get(t, &st);
	} while (st.waiting == 0 && mono_now() - start < 10 * NS);
	ck_assert_uint_eq(st.waiting, 1);
	start = mono_now();
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY), SHMT_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_lt(mono_now() - start, 10 * NS); /* not the 60 s */
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(many_creators_one_segment)
{
	for (int round = 0; round < 20; round++) {
		const char *name = test_name("race");
		shmt_throttle *t = NULL;
		shmt_stat st;
		int go[2], status, ok = 0;

		ck_assert_int_eq(pipe(go), 0);
		for (int i = 0; i < 8; i++) {
			if (fork() == 0) {
				shmt_config c = one_rate(100, 1);
				shmt_ticket tk;
				char b;

				close(go[1]);
				/* all start together */
				(void)!read(go[0], &b, 1);
				shmt_ticket_init(&tk);
				int rc = shmt_open(&t, name, &c, SHMT_CREATE);

				if (rc != SHMT_OK)
					_exit(10 + rc);
				_exit(shmt_acquire(t, &tk, 0) == SHMT_OK ? 0
				                                         : 2);
			}
		}
		close(go[0]);
		close(go[1]);
		for (int i = 0; i < 8; i++)
			if (wait(&status) > 0 && WIFEXITED(status))
				ok += WEXITSTATUS(status) == 0
				          ? 1
				          : 100 * WEXITSTATUS(status);
		ck_assert_int_eq(ok, 8);
		ck_assert_int_eq(shmt_open(&t, name, NULL, 0), SHMT_OK);
		shmt_stat_get(t, &st);
		ck_assert_uint_eq(st.requests, 8);
		ck_assert_uint_eq(st.log_count, 8);
		shmt_close(t);
		shmt_remove(name);
	}
}
END_TEST

struct find {
	const char *name;
	int seen, calls;
};

static int
find(const char *name, void *arg)
{
	struct find *f = arg;

	f->calls++;
	f->seen |= strcmp(name, f->name) == 0;
	/* stop at once: shmt_list() must still say SHMT_OK, not our 7 */
	return f->seen ? 7 : 0;
}

START_TEST(list_sees_the_throttle)
{
	char name[SHMT_NAME_MAX + 1];
	shmt_throttle *t;

	snprintf(name, sizeof(name), "%s", test_name("list"));
	struct find f = { .name = name };

	t = must_open(name, one_rate(1, 1));
	ck_assert_int_eq(shmt_list(find, &f), SHMT_OK);
	ck_assert_int_eq(f.seen, 1);
	shmt_close(t);
	shmt_remove(name);
	f = (struct find){ .name = name };
	ck_assert_int_eq(shmt_list(find, &f), SHMT_OK);
	ck_assert_int_eq(f.seen, 0);
	ck_assert_int_eq(shmt_list(NULL, &f), SHMT_EINVAL);
}
END_TEST

/* Issue 12: a send costs at most 24 bytes of segment (16, and 8 for its
 * cumulative cost since issue 14), and the default log holds a window
 * and room for a quarter window of reservations (was two windows), so a
 * quota of a million a day fits in 32 MB (it took 264 MB, then 45.9 MiB):
 * a full day of sends and 250,000 waiters' reservations fit, and the
 * next waiter is SHMT_EFULL, not a send dropped from the window. */
START_TEST(a_million_a_day_fits_in_32_mb)
{
	const char *name = test_name("big");
	shmt_throttle *t = fake_clocked(name, one_rate(1000000, 86400));
	struct shmt_ring *r = &shmt_seg_of(t)->ring;
	int64_t now = fake_mono_now, day = 86400 * NS;
	uint64_t room;
	char path[128];
	struct stat sb;
	shmt_ticket tk;
	shmt_stat st;

	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", name);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_le(sb.st_size, 32 << 20);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.capacity, 1250000);
	ck_assert_uint_le(shmt_seg_size(4096 * 2) - shmt_seg_size(4096),
	                  4096 * 24);
	/* the day's million, at once */
	for (int i = 0; i < 1000000; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	}
	/* then every waiter reserves a slot tomorrow, as reserve() does
	 * (a waiter's acquire sleeps: its reservation stays) */
	room = st.capacity - r->st->head;
	ck_assert_uint_eq(room, 250000);
	for (uint64_t i = 0; i < room; i++) {
		int64_t at = shmt_admit_new(r, 1, now);

		ck_assert_int_ge(at, now + day);
		shmt_ring_append(r, at);
	}
	/* all kept: the day's sends and the reservations */
	ck_assert_uint_eq(r->st->tail, 0);
	ck_assert_uint_eq(r->st->head, st.capacity);
	/* one more would drop a send the reservations are spaced from */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_EFULL);
	ck_assert_uint_eq(r->st->tail, 0);
	/* a re-plan keeps every window to a million */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_BACKOFF), SHMT_OK);
	ck_assert_int_eq(window_overrun(r->mono, r->st->head, 1000000, day), 0);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* The notes keep the newest SHMT_NOTES statuses and URLs. */
START_TEST(log_reads_the_newest_notes)
{
	const char *name = test_name("notes");
	shmt_config c = one_rate(4096, 1);
	shmt_throttle *t;
	shmt_log_entry *log = calloc(2000, sizeof(*log));
	shmt_ticket tk;
	shmt_outcome out;
	char url[64];
	size_t n;

	c.capacity = 4096;
	t = fake_clocked(name, c);
	for (int i = 0; i < 1500; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		snprintf(url, sizeof(url), "http://x/%d", i);
		shmt_record(t, &tk, i % 2 ? 200 : 404, -1, url, 0, &out);
	}
	/* one more, not recorded yet */
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_log_read(t, log, 2000, &n), SHMT_OK);
	ck_assert_uint_eq(n, SHMT_NOTES);
	ck_assert_uint_eq(log[n - 1].seq, 1500);
	ck_assert_int_eq(log[n - 1].status, 0);
	ck_assert_str_eq(log[n - 1].url, "");
	ck_assert_int_eq(log[n - 2].status, 200);
	ck_assert_str_eq(log[n - 2].url, "http://x/1499");
	ck_assert_uint_eq(log[0].seq, 1501 - SHMT_NOTES);
	snprintf(url, sizeof(url), "http://x/%d", (int)log[0].seq);
	ck_assert_str_eq(log[0].url, url);
	ck_assert_double_eq(log[0].wall, fake_wall_now / 1e9);
	free(log);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Issue 12: a handle keeps its rules until a generation moves; what one
 * handle learns (here the limit a quota header announces) bumps it, and
 * the other handle's next call paces by it. */
START_TEST(a_limit_learned_by_one_handle_paces_the_other)
{
	const char *name = test_name("learngen");
	shmt_throttle *a = fake_clocked(name, one_rate(100, 1));
	shmt_throttle *b = fake_clocked(name, one_rate(100, 1));
	shmt_quota q = { .dialect = SHMT_QUOTA_XRATELIMIT,
		         .limit = 3,
		         .window = 60,
		         .remaining = 2,
		         .reset = 60,
		         .retry_after = -1 };
	shmt_ticket ta, tb;
	shmt_outcome out;

	shmt_ticket_init(&ta);
	shmt_ticket_init(&tb);
	ck_assert_int_eq(shmt_acquire(a, &ta, 0), SHMT_OK);
	/* b's rules are made now: nothing learned yet */
	ck_assert_int_eq(shmt_acquire(b, &tb, 0), SHMT_OK);
	ck_assert_int_eq(shmt_record_quota(a, &ta, 200, -1, &q, NULL, 0, &out),
	                 SHMT_OK);
	/* 3 a minute: the third goes, the fourth waits a minute */
	shmt_ticket_init(&tb);
	ck_assert_int_eq(shmt_acquire(b, &tb, 0), SHMT_OK);
	shmt_ticket_init(&tb);
	ck_assert_int_eq(shmt_acquire(b, &tb, 0), SHMT_EAGAIN);
	shmt_close(a);
	shmt_close(b);
	shmt_remove(name);
}
END_TEST

static int mono_reads, wall_reads;

static int64_t
counted_mono(void)
{
	mono_reads++;
	return fake_mono();
}

static int64_t
counted_wall(void)
{
	wall_reads++;
	return fake_wall();
}

/* Issue 12: the hot path reads the clock once a call (it read the
 * monotonic clock three times and the wall clock once in an acquire). */
START_TEST(one_clock_read_per_call)
{
	const char *name = test_name("clock1");
	shmt_throttle *t = must_open(name, one_rate(100, 1));
	shmt_ticket tk;
	shmt_outcome out;

	shmt_set_clock(t, counted_mono, counted_wall);
	shmt_ticket_init(&tk);
	mono_reads = wall_reads = 0;
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	ck_assert_int_eq(mono_reads + wall_reads, 1);
	mono_reads = wall_reads = 0;
	ck_assert_int_eq(shmt_record(t, &tk, 429, 0.5, "http://x/", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(mono_reads + wall_reads, 1);
	/* a success with nothing to measure or learn needs no time */
	mono_reads = wall_reads = 0;
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "http://x/", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_DONE);
	ck_assert_int_eq(mono_reads + wall_reads, 0);
	/* one with a round trip measured reads it once */
	tk.rtt_ns = 10 * MS;
	mono_reads = wall_reads = 0;
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "http://x/", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(mono_reads + wall_reads, 1);
	tk.rtt_ns = 0;
	fake_mono_now += NS;
	mono_reads = wall_reads = 0;
	ck_assert_int_eq(
	    shmt_record_acquire(t, &tk, 200, -1, NULL, 0, &out, -1), SHMT_OK);
	ck_assert_int_eq(mono_reads + wall_reads, 1);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Issue 12: record the last request and acquire the next in one call. */
START_TEST(record_acquire_records_then_takes_the_next_slot)
{
	const char *name = test_name("recacq");
	shmt_throttle *t = fake_clocked(name, one_rate(3, 1));
	shmt_ticket tk;
	shmt_outcome out;
	shmt_log_entry log[4];
	shmt_stat st;
	size_t n;

	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	tk.rtt_ns = 10 * MS;
	/* a success: a fresh ticket for the next request */
	ck_assert_int_eq(
	    shmt_record_acquire(t, &tk, 200, -1, "http://x/a", 0, &out, 0),
	    SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_DONE);
	ck_assert_uint_eq(tk.seq, 1);
	ck_assert_uint_eq(tk.attempt, 1);
	ck_assert_int_eq(tk.rtt_ns, 0);
	/* a 429: the same request again, once the delay is over */
	ck_assert_int_eq(shmt_record_acquire(t, &tk, 429, 2, NULL, 0, &out, 0),
	                 SHMT_EAGAIN);
	ck_assert_int_eq(out.verdict, SHMT_RETRY);
	ck_assert_double_eq_tol(out.delay, 2, 1e-9);
	ck_assert_uint_eq(tk.attempt, 1);
	fake_mono_now += 2 * NS;
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_uint_eq(tk.attempt, 2);
	ck_assert_int_eq(shmt_log_read(t, log, 4, &n), SHMT_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(log[0].status, 200);
	ck_assert_str_eq(log[0].url, "http://x/a");
	ck_assert_int_eq(log[1].status, 429);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 3);
	ck_assert_uint_eq(st.n429, 1);
	ck_assert_uint_eq(st.samples, 1);
	ck_assert_int_eq(
	    shmt_record_acquire(NULL, &tk, 200, -1, NULL, 0, &out, 0),
	    SHMT_EINVAL);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

Suite *
segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *api = tcase_create("api");
	TCase *bad = tcase_create("hostile");
	TCase *proc = tcase_create("processes");

	tcase_add_test(api, create_attach_and_remove);
	tcase_add_test(api, names_are_validated);
	tcase_add_test(api, acquire_admits_max_per_period);
	tcase_add_test(api, a_429_makes_every_handle_wait);
	tcase_add_test(api, reset_and_reconfigure_keep_what_they_should);
	tcase_add_test(api, tickets_round_trip_and_reject_garbage);
	tcase_add_test(api, list_sees_the_throttle);
	tcase_add_test(api, a_million_a_day_fits_in_32_mb);
	tcase_add_test(api, log_reads_the_newest_notes);
	tcase_add_test(api, record_acquire_records_then_takes_the_next_slot);
	tcase_add_test(api, one_clock_read_per_call);
	tcase_add_test(api, a_limit_learned_by_one_handle_paces_the_other);
	tcase_add_loop_test(bad, hostile_segments_are_refused, 0, NDAMAGE);
	tcase_add_test(bad, another_users_segment_is_refused);
	tcase_add_test(bad, a_blank_segment_is_not_used);
	tcase_add_test(proc, a_holder_killed_inside_the_lock_is_repaired);
	tcase_add_test(proc, a_full_log_keeps_the_sends_its_reservations_need);
	tcase_add_test(proc, a_full_log_keeps_the_send_a_pace_counts_from);
	tcase_add_test(proc, reset_wakes_a_waiting_process_at_once);
	tcase_add_test(proc, many_creators_one_segment);
	tcase_set_timeout(proc, 60);
	suite_add_tcase(s, api);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, proc);
	return s;
}
