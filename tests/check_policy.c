/* check_policy.c - configuration checks and pacing, with a fake clock. */
#include <math.h>
#include <stdlib.h>

#include "config.h"
#include "policy.h"
#include "ring.h"
#include "segment.h"
#include "testutil.h"

/* Reserve n sends arriving at `now`, like shmt_acquire(); their times. */
static void
reserve(struct shmt_ring *r, int64_t now, int n, int64_t *out)
{
	for (int i = 0; i < n; i++) {
		int64_t at = shmt_admit_at(r, r->st->head, now);

		shmt_ring_append(r, at);
		if (out)
			out[i] = at;
	}
}

START_TEST(config_defaults_are_the_seeds)
{
	shmt_config c;

	shmt_config_init(&c);
	ck_assert_uint_eq(c.nrates, 0);
	ck_assert_double_eq(c.backoff_initial, 1.0);
	ck_assert_double_eq(c.backoff_multiplier, 2.0);
	ck_assert_uint_eq(c.max_retries, 3);
	ck_assert_double_eq(c.retry_after_max, 21600.0);
	ck_assert_int_eq(shmt_config_check(&c), SHMT_OK);
}
END_TEST

START_TEST(config_rejects_out_of_range)
{
	shmt_config c = one_rate(10, 1);

	ck_assert_int_eq(shmt_config_check(&c), SHMT_OK);
	c.rates[0].period = NAN;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(10, -1);
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(10, 1);
	c.backoff_multiplier = 0.5;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(10, 1);
	c.backoff_initial = 100; /* above backoff_max */
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(10, 1);
	c.nrates = SHMT_MAX_RATES + 1;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(10, 1);
	c.policy = SHMT_POLICY_SMOOTH;
	c.burst = 11; /* more than max */
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(100, 1);
	c.capacity = 50; /* smaller than max */
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	shmt_config_init(&c);
	c.policy = SHMT_POLICY_SMOOTH; /* smooth needs a rate */
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	ck_assert_int_eq(shmt_config_check(NULL), SHMT_EINVAL);
}
END_TEST

START_TEST(config_capacity_default)
{
	shmt_config c = one_rate(10, 1);

	ck_assert_uint_eq(shmt_config_capacity(&c), 4096);
	/* a window, and room for 2048 reservations or a quarter window */
	c = one_rate(2048, 1);
	ck_assert_uint_eq(shmt_config_capacity(&c), 4096);
	c = one_rate(5000, 3600);
	ck_assert_uint_eq(shmt_config_capacity(&c), 7048);
	c = one_rate(1000000, 86400);
	ck_assert_uint_eq(shmt_config_capacity(&c), 1250000);
	ck_assert_uint_le(shmt_seg_size(shmt_config_capacity(&c)), 32 << 20);
	c = one_rate(SHMT_CAPACITY_MAX, 86400);
	ck_assert_uint_eq(shmt_config_capacity(&c), SHMT_CAPACITY_MAX);
	c.capacity = 100000;
	ck_assert_uint_eq(shmt_config_capacity(&c), 100000);
}
END_TEST

START_TEST(window_admits_max_then_waits_a_period)
{
	shmt_config c = one_rate(10, 0.5);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t[11], now = 100 * NS;

	reserve(r, now, 11, t);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(t[i], now);
	ck_assert_int_eq(t[10], now + NS / 2 + 5 * MS); /* period + margin */
	ring_free(r);
}
END_TEST

START_TEST(smooth_spaces_sends_evenly)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r;
	int64_t t[4], now = 100 * NS;

	c.policy = SHMT_POLICY_SMOOTH;
	c.margin = 0;
	r = ring_new(64, &c);
	reserve(r, now, 4, t);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(t[i], now + i * 100 * MS);
	ring_free(r);
}
END_TEST

START_TEST(smooth_burst_allows_that_many_at_once)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r;
	int64_t t[5], now = 100 * NS;

	c.policy = SHMT_POLICY_SMOOTH;
	c.burst = 3;
	c.margin = 0;
	r = ring_new(64, &c);
	reserve(r, now, 5, t);
	ck_assert_int_eq(t[2], now);
	ck_assert_int_eq(t[3], now + 300 * MS); /* 3 per 0.3 s */
	ring_free(r);
}
END_TEST

START_TEST(several_rates_all_hold)
{
	shmt_config c = one_rate(2, 1);
	struct shmt_ring *r;
	int64_t t[7], now = 100 * NS;

	c.nrates = 2;
	c.rates[1] = (shmt_rate){ .max = 5, .period = 10 };
	c.margin = 0;
	r = ring_new(64, &c);
	reserve(r, now, 7, t);
	ck_assert_int_eq(t[1], now);
	ck_assert_int_eq(t[2], now + NS);
	ck_assert_int_eq(t[4], now + 2 * NS);
	/* the hourly-style limit bites */
	ck_assert_int_eq(t[5], now + 10 * NS);
	ck_assert_int_eq(t[6], now + 10 * NS);
	ring_free(r);
}
END_TEST

/* nginx's limit_req, to the letter: excess in thousandths of a request,
 * time in whole milliseconds, reject when excess would pass burst. */
static int
nginx_rejects(const int64_t *t, size_t n, long rate, long burst)
{
	long excess = 0;
	int64_t last = t[0] / MS;

	for (size_t i = 1; i < n; i++) {
		int64_t ms = t[i] / MS - last;
		long e = excess - rate * ms + 1000;

		if (e < 0)
			e = 0;
		if (e > burst * 1000)
			return 1;
		excess = e;
		last = t[i] / MS;
	}
	return 0;
}

/* The default policy's promise: under N per period whichever way the server
 * counts -- sliding window, fixed windows, a leaky bucket with burst N. */
START_TEST(window_policy_satisfies_every_server_model)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(4096, &c);
	int64_t t[1000], now = 100 * NS;

	srand(7);
	for (int i = 0; i < 1000; i++) {
		now += rand() % 3 == 0 ? rand() % (300 * MS) : 0;
		reserve(r, now, 1, &t[i]);
	}
	ck_assert(!window_overrun(t, 1000, 10, NS));
	for (int i = 0, j; i < 1000; i = j) { /* fixed windows of 1 s */
		for (j = i; j < 1000 && t[j] / NS == t[i] / NS; j++)
			;
		ck_assert_int_le(j - i, 10);
	}
	ck_assert(!nginx_rejects(t, 1000, 10, 10 - 1));
	/* and it reaches the full rate: 1000 sends take about 100 periods */
	ck_assert_int_lt(t[999] - t[0], 101 * NS);
	ring_free(r);
}
END_TEST

START_TEST(smooth_policy_satisfies_nginx_without_burst)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r;
	int64_t t[300], now = 100 * NS;

	c.policy = SHMT_POLICY_SMOOTH;
	r = ring_new(4096, &c);
	for (int i = 0; i < 300; i++) {
		now += i % 7 == 0 ? 250 * MS : 0;
		reserve(r, now, 1, &t[i]);
	}
	ck_assert(!nginx_rejects(t, 300, 10, 0));
	ring_free(r);
}
END_TEST

START_TEST(a_delay_holds_every_reservation)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t, now = 100 * NS;

	r->st->end_of_delay = now + 3 * NS;
	reserve(r, now, 1, &t);
	ck_assert_int_eq(t, now + 3 * NS);
	ring_free(r);
}
END_TEST

START_TEST(replan_after_reset_moves_waiters_earlier)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	r->st->end_of_delay = now + 30 * NS;
	reserve(r, now, 3, NULL);
	r->st->end_of_delay = 0;
	ck_assert_int_eq(shmt_replan(r, now + NS), 1);
	for (uint64_t s = 0; s < 3; s++)
		ck_assert_int_eq(*shmt_ring_mono(r, s), now + NS);
	ring_free(r);
}
END_TEST

START_TEST(replan_after_raising_the_limit)
{
	shmt_config c = one_rate(2, 60);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t[4], now = 100 * NS;

	reserve(r, now, 4, t);
	ck_assert_int_gt(t[2], now + 60 * NS);
	c = one_rate(5, 60);
	shmt_scfg_from(r->cfg, &c);
	shmt_ring_config_changed(r);
	ck_assert_int_eq(shmt_replan(r, now), 1);
	ck_assert_int_eq(*shmt_ring_mono(r, 3), now);
	ck_assert_uint_eq(r->st->head, 4); /* the log is kept */
	ring_free(r);
}
END_TEST

START_TEST(replan_never_moves_past_sends)
{
	shmt_config c = one_rate(1, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t[3], now = 100 * NS;

	reserve(r, now, 3, t);
	/* a delay arrives at now + 1.5 s */
	r->st->end_of_delay = now + 10 * NS;
	shmt_replan(r, now + NS + NS / 2);
	ck_assert_int_eq(*shmt_ring_mono(r, 0), t[0]);
	ck_assert_int_eq(*shmt_ring_mono(r, 1), t[1]);
	ck_assert_int_eq(*shmt_ring_mono(r, 2), now + 10 * NS);
	ring_free(r);
}
END_TEST

/* A waiter late for its slot keeps it when the log raised to its send
 * still admits every raised entry: a batch sent together, the later ones
 * spaced from the batch before, not from it. */
START_TEST(a_late_waiter_keeps_its_slot_in_a_batch)
{
	shmt_config c = one_rate(10, 0.5);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t[20], now = 100 * NS, late = now + 20 * MS;

	reserve(r, now, 20, t);
	ck_assert_int_eq(t[13], now + NS / 2 + 5 * MS);
	ck_assert_int_eq(shmt_keep_late(r, 3, late), late);
	for (uint64_t s = 0; s < 3; s++)
		ck_assert_int_eq(*shmt_ring_mono(r, s), now);
	for (uint64_t s = 3; s < 10; s++) /* it, and those sent after it */
		ck_assert_int_eq(*shmt_ring_mono(r, s), late);
	for (uint64_t s = 10; s < 13; s++)
		ck_assert_int_eq(*shmt_ring_mono(r, s), t[s]);
	for (uint64_t s = 13; s < 20; s++) /* spaced from the raised ones */
		ck_assert_int_eq(*shmt_ring_mono(r, s), late + NS / 2 + 5 * MS);
	ring_free(r);
}
END_TEST

/* Smooth: the send after the late one was spaced from its slot and has
 * left; sending now would put the two closer than the rate allows. */
START_TEST(a_late_waiter_a_send_was_spaced_from_takes_a_new_slot)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r;
	int64_t t[3], now = 100 * NS;

	c.policy = SHMT_POLICY_SMOOTH;
	c.margin = 0;
	r = ring_new(64, &c);
	reserve(r, now, 3, t);
	ck_assert_int_eq(shmt_keep_late(r, 0, now + 150 * MS), INT64_MIN);
	for (uint64_t s = 0; s < 3; s++) /* the log as it was */
		ck_assert_int_eq(*shmt_ring_mono(r, s), t[s]);
	/* before the next one was due, it may */
	ck_assert_int_eq(shmt_keep_late(r, 0, now + 50 * MS), now + 50 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 0), now + 50 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now + 150 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 2), now + 250 * MS);
	ring_free(r);
}
END_TEST

/* A pause that began after its slot holds a late waiter too. */
START_TEST(a_late_waiter_in_a_pause_takes_a_new_slot)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	reserve(r, now, 2, NULL);
	r->st->end_of_delay = now + 5 * NS;
	ck_assert_int_eq(shmt_keep_late(r, 0, now + 20 * MS), INT64_MIN);
	ck_assert_int_eq(*shmt_ring_mono(r, 0), now);
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now);
	/* without the pause it would have */
	r->st->end_of_delay = 0;
	ck_assert_int_eq(shmt_keep_late(r, 0, now + 20 * MS), now + 20 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 0), now + 20 * MS);
	ring_free(r);
}
END_TEST

/* Alone past its slot (no send after it), a late waiter keeps its place
 * through what the rules say since: it waits out a pause that began, and
 * a larger margin, instead of going to the back of the queue. */
START_TEST(a_late_waiter_alone_keeps_its_place_and_waits)
{
	shmt_config c = one_rate(2, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t[3], now = 100 * NS, late = now + NS + 50 * MS;

	reserve(r, now, 3, t);
	ck_assert_int_eq(t[2], now + NS + 5 * MS);
	r->st->end_of_delay = now + 3 * NS;
	ck_assert_int_eq(shmt_keep_late(r, 2, late), now + 3 * NS);
	ck_assert_int_eq(*shmt_ring_mono(r, 2), now + 3 * NS);
	ck_assert_uint_eq(r->st->head, 3);
	/* a send before it that left late: spaced from its real time */
	r->st->end_of_delay = 0;
	*shmt_ring_mono(r, 2) = t[2];
	*shmt_ring_mono(r, 0) = now + 200 * MS; /* and the one after it */
	*shmt_ring_mono(r, 1) = now + 200 * MS;
	ck_assert_int_eq(shmt_keep_late(r, 2, late), now + NS + 205 * MS);
	ring_free(r);
}
END_TEST

START_TEST(success_and_401_reset_backoff)
{
	shmt_config c = one_rate(10, 60);
	struct shmt_ring *r = ring_new(64, &c);
	struct shmt_response rsp = { .now = 100 * NS,
		                     .send = 99 * NS,
		                     .retry_after = -1,
		                     .attempt = 1 };
	int64_t wait;
	int statuses[] = { 200, 204, 304, 401 };

	for (unsigned i = 0; i < 4; i++) {
		r->st->backoff = 8 * NS;
		rsp.status = statuses[i];
		ck_assert_int_eq(shmt_apply_response(r, &rsp, &wait),
		                 SHMT_DONE);
		ck_assert_int_eq(r->st->backoff, 0);
	}
	r->st->backoff = 8 * NS;
	rsp.status = 404; /* final, and says nothing of the limit */
	ck_assert_int_eq(shmt_apply_response(r, &rsp, &wait), SHMT_DONE);
	ck_assert_int_eq(r->st->backoff, 8 * NS);
	ring_free(r);
}
END_TEST

START_TEST(retry_status_backs_off_and_honours_retry_after)
{
	shmt_config c;
	struct shmt_ring *r;
	struct shmt_response rsp = { .now = 100 * NS,
		                     .send = 100 * NS,
		                     .retry_after = -1,
		                     .status = 503,
		                     .flags = SHMT_RECORD_RETRY,
		                     .attempt = 1 };
	int64_t wait;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	ck_assert_int_eq(shmt_apply_response(r, &rsp, &wait), SHMT_RETRY);
	ck_assert_int_eq(wait, NS);
	rsp.now = rsp.send = 200 * NS;
	rsp.retry_after = 7 * NS;
	shmt_apply_response(r, &rsp, &wait);
	ck_assert_int_eq(wait, 7 * NS);
	ck_assert_uint_eq(r->st->n429, 0);
	ring_free(r);
}
END_TEST

START_TEST(transport_error_backs_off_alone)
{
	shmt_config c;
	struct shmt_ring *r;
	struct shmt_response rsp = { .now = 100 * NS,
		                     .send = 100 * NS,
		                     .retry_after = -1,
		                     .status = 0,
		                     .flags = SHMT_RECORD_RETRY,
		                     .attempt = 3 };
	int64_t wait;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	ck_assert_int_eq(shmt_apply_response(r, &rsp, &wait), SHMT_RETRY);
	ck_assert_int_eq(wait, 4 * NS);           /* 1, 2, 4 */
	ck_assert_int_eq(r->st->end_of_delay, 0); /* nothing shared */
	rsp.flags = 0; /* a transport error the caller will not retry */
	ck_assert_int_eq(shmt_apply_response(r, &rsp, &wait), SHMT_DONE);
	ring_free(r);
}
END_TEST

START_TEST(run_rate_estimate_scales_the_rest_of_the_period)
{
	shmt_config c = one_rate(10, 60);
	struct shmt_ring *r = ring_new(64, &c);
	struct shmt_response rsp = { .now = 130 * NS,
		                     .send = 130 * NS,
		                     .retry_after = -1,
		                     .status = 429 };

	/* 5 successes since 100 s: half the limit; 30 s of the period left. */
	for (int i = 0; i < 5; i++)
		shmt_ring_set_status(r, shmt_ring_append(r, 100 * NS + i * NS),
		                     200);
	ck_assert_int_eq(shmt_delay_end(r->st, r, &rsp), 130 * NS + 15 * NS);
	ring_free(r);
}
END_TEST

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, config_defaults_are_the_seeds);
	tcase_add_test(tc, config_rejects_out_of_range);
	tcase_add_test(tc, config_capacity_default);
	suite_add_tcase(s, tc);
	return s;
}

Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *pace = tcase_create("pacing");
	TCase *resp = tcase_create("responses");

	tcase_add_test(pace, window_admits_max_then_waits_a_period);
	tcase_add_test(pace, smooth_spaces_sends_evenly);
	tcase_add_test(pace, smooth_burst_allows_that_many_at_once);
	tcase_add_test(pace, several_rates_all_hold);
	tcase_add_test(pace, window_policy_satisfies_every_server_model);
	tcase_add_test(pace, smooth_policy_satisfies_nginx_without_burst);
	tcase_add_test(pace, a_delay_holds_every_reservation);
	tcase_add_test(pace, replan_after_reset_moves_waiters_earlier);
	tcase_add_test(pace, replan_after_raising_the_limit);
	tcase_add_test(pace, replan_never_moves_past_sends);
	tcase_add_test(pace, a_late_waiter_keeps_its_slot_in_a_batch);
	tcase_add_test(pace,
	               a_late_waiter_a_send_was_spaced_from_takes_a_new_slot);
	tcase_add_test(pace, a_late_waiter_in_a_pause_takes_a_new_slot);
	tcase_add_test(pace, a_late_waiter_alone_keeps_its_place_and_waits);
	tcase_add_test(resp, success_and_401_reset_backoff);
	tcase_add_test(resp, retry_status_backs_off_and_honours_retry_after);
	tcase_add_test(resp, transport_error_backs_off_alone);
	tcase_add_test(resp, run_rate_estimate_scales_the_rest_of_the_period);
	suite_add_tcase(s, pace);
	suite_add_tcase(s, resp);
	return s;
}
