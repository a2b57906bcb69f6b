/* check_defects.c - one test per defect of the seed (see
 * ../shared/notes/seed-semantics.md), named after it.  Defect 11 (the
 * TaskRunner) belongs to the task runner's suite. */
#include <string.h>

#include "config.h"
#include "policy.h"
#include "ring.h"
#include "testutil.h"

static struct shmt_response
r429(int64_t send, int64_t now, int64_t retry_after)
{
	return (struct shmt_response){ .send = send,
		                       .now = now,
		                       .status = 429,
		                       .retry_after = retry_after,
		                       .attempt = 1 };
}

START_TEST(defect01_period_without_max_is_refused)
{
	shmt_config c = one_rate(0, 60);

	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	c = one_rate(120, 0);
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
}
END_TEST

START_TEST(defect02_backoff_at_the_period_is_capped_not_zeroed)
{
	shmt_config c = one_rate(120, 60);
	struct shmt_ring *r = ring_new(256, &c);
	int64_t prev = 0;

	/* A storm of 429s with no Retry-After and no success: the pauses grow
	 * to the period and stay there (the seed slept 59, 57, ..., 0). */
	for (int i = 0; i < 12; i++) {
		int64_t now = (1000 + 100 * i) * NS;
		uint64_t s = shmt_ring_append(r, now);
		struct shmt_response rsp = r429(now, now, -1);
		int64_t end;

		shmt_ring_set_status(r, s, 429);
		end = shmt_delay_end(r->st, r, &rsp);
		ck_assert_int_ge(end - now, prev);
		ck_assert_int_le(end - now, 60 * NS);
		prev = end - now;
	}
	ck_assert_int_eq(prev, 60 * NS);
	ring_free(r);
}
END_TEST

START_TEST(defect03_backoff_without_period_is_bounded)
{
	shmt_config c;
	struct shmt_scfg s;
	int64_t b = 0;

	shmt_config_init(&c);
	shmt_scfg_from(&s, &c);
	for (int i = 0; i < 100; i++) /* the seed reached 524,289 s */
		b = shmt_backoff_next(&s, b);
	ck_assert_int_eq(b, 60 * NS);
	ck_assert_int_eq(shmt_backoff_for_attempt(&s, 1000), 60 * NS);
}
END_TEST

START_TEST(defect04_retries_stay_bounded_after_a_429)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t wait;
	int v[6];

	shmt_config_init(&c);
	r = ring_new(64, &c);
	for (uint32_t a = 1; a <= 5; a++) {
		struct shmt_response rsp = r429(a * 10 * NS, a * 10 * NS, -1);

		rsp.attempt = a;
		v[a] = shmt_apply_response(r, &rsp, &wait);
	}
	ck_assert_int_eq(v[1], SHMT_RETRY);
	ck_assert_int_eq(v[3], SHMT_RETRY);
	ck_assert_int_eq(v[4], SHMT_GIVE_UP);
	ck_assert_int_eq(v[5], SHMT_GIVE_UP);
	ck_assert_uint_eq(r->st->retries, 3);
	ring_free(r);
}
END_TEST

START_TEST(defect05_delays_are_exact_nanoseconds_without_a_stray_second)
{
	shmt_config c;
	struct shmt_ring *r;
	struct shmt_response rsp = r429(100 * NS, 100 * NS + MS, 1500 * MS);

	shmt_config_init(&c);
	c.backoff_initial = 0.25;
	r = ring_new(64, &c);
	/* Retry-After 1.5 from the send: not rounded up to 2 s. */
	ck_assert_int_eq(shmt_delay_end(r->st, r, &rsp), 101 * NS + 500 * MS);
	/* The backoff path: initial, no +1 s. */
	rsp = r429(200 * NS, 200 * NS, -1);
	rsp.status = 503;
	ck_assert_int_eq(shmt_delay_end(r->st, r, &rsp), 200 * NS + 250 * MS);
	ring_free(r);
}
END_TEST

START_TEST(defect06_retry_after_never_ends_in_a_zero_sleep)
{
	shmt_config c;
	struct shmt_ring *r;
	/* Sent 5 s ago, Retry-After: 1 -- already over when the 429 lands. */
	struct shmt_response rsp = r429(100 * NS, 105 * NS, NS);

	shmt_config_init(&c);
	r = ring_new(64, &c);
	ck_assert_int_eq(shmt_delay_end(r->st, r, &rsp), 106 * NS);
	ring_free(r);
}
END_TEST

START_TEST(defect07_every_retry_after_form_parses_or_is_refused)
{
	const double sent = 784111777.0; /* Sun, 06 Nov 1994 08:49:37 GMT */
	double s = -1;

	ck_assert_int_eq(
	    shmt_retry_after_parse("Sunday, 06-Nov-94 08:50:37 GMT", NULL, sent,
	                           600, &s),
	    SHMT_OK);
	ck_assert_double_eq(s, 60);
	ck_assert_int_eq(shmt_retry_after_parse("Sun Nov  6 08:51:37 1994",
	                                        NULL, sent, 600, &s),
	                 SHMT_OK);
	ck_assert_double_eq(s, 120);
	ck_assert_int_eq(shmt_retry_after_parse("1.5", NULL, sent, 600, &s),
	                 SHMT_OK);
	ck_assert_double_eq(s, 1.5);
	ck_assert_int_eq(shmt_retry_after_parse(" 5", NULL, sent, 600, &s),
	                 SHMT_OK);
	ck_assert_double_eq(s, 5);
	ck_assert_int_eq(shmt_retry_after_parse("-1", NULL, sent, 600, &s),
	                 SHMT_EHEADER);
	/* in the past: no extra wait */
	ck_assert_int_eq(shmt_retry_after_parse("Sun, 06 Nov 1994 08:00:00 GMT",
	                                        NULL, sent, 600, &s),
	                 SHMT_OK);
	ck_assert_double_eq(s, 0);
	/* skew: the server's clock is an hour ahead; its Date says so */
	ck_assert_int_eq(shmt_retry_after_parse("Sun, 06 Nov 1994 09:50:37 GMT",
	                                        "Sun, 06 Nov 1994 09:49:37 GMT",
	                                        sent, 6000, &s),
	                 SHMT_OK);
	ck_assert_double_eq(s, 60);
}
END_TEST

START_TEST(defect08_end_of_delay_never_moves_backwards)
{
	shmt_config c;
	struct shmt_ring *r;
	struct shmt_response a = r429(100 * NS, 100 * NS, 30 * NS);
	struct shmt_response b = r429(0, 131 * NS, 0);
	int64_t wait, end;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_apply_response(r, &a, &wait);
	end = r->st->end_of_delay;
	ck_assert_int_eq(end, 130 * NS);
	/* A request sent before the delay ended: no new delay, but it still
	 * waits out the current one. */
	a = r429(120 * NS, 121 * NS, 0);
	shmt_apply_response(r, &a, &wait);
	ck_assert_int_eq(r->st->end_of_delay, end);
	ck_assert_int_eq(wait, 9 * NS);
	ck_assert_int_ge(shmt_admit_at(r, r->st->head, 121 * NS), end);
	/* A request sent exactly at the end (start == end) does start one. */
	b.send = end;
	shmt_apply_response(r, &b, &wait);
	ck_assert_int_gt(r->st->end_of_delay, end);
	ring_free(r);
}
END_TEST

START_TEST(defect09_no_success_in_the_period_backs_off)
{
	shmt_config c = one_rate(120, 60);
	struct shmt_ring *r = ring_new(256, &c);
	int64_t d[4];

	/* Nothing but 429s in the period: no run rate to scale; the delay
	 * grows 1, 2, 4, 8 s instead of collapsing to 1 s. */
	for (int i = 0; i < 4; i++) {
		int64_t now = (100 + i) * NS;
		struct shmt_response rsp = r429(now, now, -1);

		shmt_ring_set_status(r, shmt_ring_append(r, now), 429);
		d[i] = shmt_delay_end(r->st, r, &rsp) - now;
	}
	ck_assert_int_eq(d[0], 1 * NS);
	ck_assert_int_eq(d[1], 2 * NS);
	ck_assert_int_eq(d[2], 4 * NS);
	ck_assert_int_eq(d[3], 8 * NS);
	ring_free(r);
}
END_TEST

START_TEST(defect10_log_is_bounded_and_holds_send_times)
{
	shmt_config c = one_rate(4, 1);
	struct shmt_ring *r = ring_new(16, &c);

	for (int i = 0; i < 100; i++)
		shmt_ring_append(r, (100 + i) * NS);
	ck_assert_uint_eq(r->st->head - r->st->tail, 16);
	ck_assert_int_eq(shmt_ring_check(r), SHMT_OK);
	/* The entry keeps the send time; the response does not move it. */
	shmt_ring_set_status(r, 99, 200);
	ck_assert_int_eq(*shmt_ring_mono(r, 99), 199 * NS);
	ring_free(r);
}
END_TEST

Suite *
defects_suite(void)
{
	Suite *s = suite_create("seed-defects");
	TCase *tc = tcase_create("defects");

	tcase_add_test(tc, defect01_period_without_max_is_refused);
	tcase_add_test(tc, defect02_backoff_at_the_period_is_capped_not_zeroed);
	tcase_add_test(tc, defect03_backoff_without_period_is_bounded);
	tcase_add_test(tc, defect04_retries_stay_bounded_after_a_429);
	tcase_add_test(
	    tc, defect05_delays_are_exact_nanoseconds_without_a_stray_second);
	tcase_add_test(tc, defect06_retry_after_never_ends_in_a_zero_sleep);
	tcase_add_test(tc,
	               defect07_every_retry_after_form_parses_or_is_refused);
	tcase_add_test(tc, defect08_end_of_delay_never_moves_backwards);
	tcase_add_test(tc, defect09_no_success_in_the_period_backs_off);
	tcase_add_test(tc, defect10_log_is_bounded_and_holds_send_times);
	suite_add_tcase(s, tc);
	return s;
}
