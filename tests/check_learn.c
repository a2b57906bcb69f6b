/* check_learn.c - what quota headers and refusals do to the pacing, with
 * an injected clock: the pause until the reset, the rest spread over the
 * time left, the announced limit beside the configured one, the probe,
 * the pace learned from refusals, and garbage in the segment bounded. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "learn.h"
#include "policy.h"
#include "ring.h"
#include "testutil.h"

/* the configured margin (0.005 s): a reset given more exactly than in
 * whole seconds from now is pushed by it */
#define M (5 * MS)

static shmt_quota
quota(uint32_t limit, double window, int64_t remaining, double reset)
{
	return (shmt_quota){ .dialect = SHMT_QUOTA_XRATELIMIT,
		             .limit = limit,
		             .window = window,
		             .remaining = remaining,
		             .reset = reset,
		             .retry_after = -1 };
}

static struct shmt_response
answer(int64_t send, int64_t now, int status)
{
	return (struct shmt_response){ .now = now,
		                       .send = send,
		                       .retry_after = -1,
		                       .status = status,
		                       .attempt = 1 };
}

static int64_t
later_of(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Record a response of entry seq through the same steps shmt_record does. */
static int
record(struct shmt_ring *r, uint64_t seq, struct shmt_response rsp,
       const shmt_quota *q)
{
	int64_t wait, end;
	int v;

	if (shmt_ring_has(r, seq))
		shmt_ring_set_status(r, seq, rsp.status);
	shmt_learn_prepare(&rsp, q);
	end = r->st->end_of_delay;
	v = shmt_apply_response(r, &rsp, &wait);
	if (shmt_learn_response(r, &rsp, seq, q, r->st->end_of_delay != end))
		shmt_replan(r, rsp.now);
	return v;
}

START_TEST(a_used_up_quota_pauses_everyone_until_the_reset_even_on_403)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(60, 0, 0, 30);
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	/* GitHub: 403, remaining 0, no Retry-After: retry after the reset */
	ck_assert_int_eq(record(r, 0, answer(now, now + MS, 403), &q),
	                 SHMT_RETRY);
	/* "30" (whole seconds, rounded up) from a request that reached the
	 * server before its answer came: over by then, no margin */
	ck_assert_int_eq(r->st->end_of_delay, now + MS + 30 * NS);
	/* every new request waits for it */
	ck_assert_int_eq(shmt_admit_at(r, r->st->head, now + 2 * MS),
	                 now + MS + 30 * NS);
	/* a 403 with quota left is final */
	q.remaining = 5;
	ck_assert_int_eq(record(r, 0, answer(now, now + MS, 403), &q),
	                 SHMT_DONE);
	ring_free(r);
}
END_TEST

START_TEST(a_low_quota_is_spread_over_the_time_left)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 0, 4, 2.5);
	int64_t now = 100 * NS, span = 2500 * MS + M;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	record(r, 0, answer(now, now, 200), &q);
	/* 4 left of 20, 2.5 s to the reset: one every quarter of it */
	for (uint64_t k = 0; k < 4; k++)
		ck_assert_int_eq(shmt_admit_at(r, 1 + k, now),
		                 now + (int64_t)k * span / 4);
	/* the fifth waits for the reset */
	ck_assert_int_eq(shmt_admit_at(r, 5, now), now + span);
	ring_free(r);
}
END_TEST

START_TEST(requests_on_their_way_count_against_the_quota)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 0, 3, 1);
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	/* the answered request, then three sent after it, not yet counted */
	for (int i = 0; i < 4; i++)
		shmt_ring_append(r, now + i * MS);
	ck_assert_int_eq(record(r, 0, answer(now, now + 10 * MS, 200), &q),
	                 SHMT_DONE);
	/* 3 left, 3 on their way: nothing more before the reset */
	ck_assert_int_eq(r->st->learn.q_budget, 0);
	ck_assert_int_eq(shmt_admit_at(r, 4, now + 10 * MS),
	                 now + 10 * MS + NS);
	/* but some are left: no pause for everyone (a retry, the next
	 * answer's budget), the sends after this answer wait */
	ck_assert_int_eq(r->st->end_of_delay, 0);
	ring_free(r);
}
END_TEST

START_TEST(requests_sharing_one_slot_time_are_on_their_way_too)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 0, 3, 1);
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	/* four sends released together (one slot time, as at a reset): the
	 * three after the answered one in the log are on their way */
	for (int i = 0; i < 4; i++)
		shmt_ring_append(r, now);
	record(r, 0, answer(now, now + 10 * MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_budget, 0);
	ck_assert_int_eq(shmt_admit_at(r, 4, now + 10 * MS),
	                 now + 10 * MS + NS);
	ring_free(r);
}
END_TEST

START_TEST(a_whole_second_reset_spreads_over_the_time_surely_left)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 0, 4, 2);
	int64_t now = 100 * NS, span = NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	record(r, 0, answer(now, now, 200), &q);
	/* "2" is in (1, 2] s: the 4 left go within the second surely left */
	for (uint64_t k = 0; k < 4; k++)
		ck_assert_int_eq(shmt_admit_at(r, 1 + k, now),
		                 now + (int64_t)k * span / 4);
	/* the fifth waits for the latest reset */
	ck_assert_int_eq(shmt_admit_at(r, 5, now), now + 2 * NS);
	ring_free(r);
}
END_TEST

START_TEST(the_announced_window_yields_to_the_quota_the_server_gives)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 1, 19, 0.39);
	int64_t t0 = 100 * NS, now = t0 + 610 * MS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	/* 19 sends at t0, one at t0 + 0.6 s: the server's fixed window began
	 * at t0 + 0.5 s and ends at t0 + 1 s; it has counted only the last */
	for (int i = 0; i < 19; i++)
		shmt_ring_append(r, t0);
	shmt_ring_append(r, t0 + 600 * MS);
	record(r, 19, answer(t0 + 600 * MS, now, 200), &q);
	ck_assert_int_eq(r->st->learn.q_sure, 19);
	/* our window of 20 would hold the next until t0 + 1 s + margin; the
	 * server says 19 more fit before its reset: they go now */
	for (uint64_t k = 20; k < 39; k++)
		ck_assert_int_eq(shmt_admit_at(r, k, now), now);
	/* the 20th waits for the reset, and for our window: a window of
	 * the server's that slides would still count the send at t0 + 0.6 */
	ck_assert_int_eq(shmt_admit_at(r, 39, now), t0 + 600 * MS + NS + M);
	ring_free(r);
}
END_TEST

START_TEST(the_first_answers_of_a_burst_say_what_is_surely_free)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 1, 19, 0.5);
	int64_t t0 = 100 * NS, now = t0 + 10 * MS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	/* 4 sends in the server's last window, then a burst of 16 in its
	 * new one (a fixed window that began between them) */
	for (int i = 0; i < 4; i++)
		shmt_ring_append(r, t0 - 500 * MS);
	for (int i = 0; i < 16; i++)
		shmt_ring_append(r, t0);
	/* the burst's first in the log arrived first: 19 left, 15 of the
	 * burst on their way: 4 surely free */
	record(r, 4, answer(t0, now, 200), &q);
	ck_assert_int_eq(r->st->learn.q_sure, 4);
	/* its last: 4 left, but the 15 before it were sent within the
	 * margin and may have arrived after it: it alone says 0 is sure;
	 * the first reading still holds */
	q.remaining = 4;
	record(r, 19, answer(t0, now + MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_budget, 4);
	ck_assert_int_eq(r->st->learn.q_sure, 4);
	/* so 4 go before t0 + 0.5 s, when our window of 20 would let them
	 * (spread over the time to the reset: 4 is at most half of 20) */
	ck_assert_int_eq(shmt_admit_at(r, 20, now + MS), now + MS);
	ck_assert_int_lt(shmt_admit_at(r, 23, now + MS), t0 + 500 * MS);
	/* the fifth waits for the reset and our window */
	ck_assert_int_eq(shmt_admit_at(r, 24, now + MS), t0 + NS + M);
	ring_free(r);
}
END_TEST

/* A late answer counts as on their way the sends after it in the log,
 * and some of them reached the server before it, which it counted: its
 * budget is too small.  What an earlier reading of the window made sure
 * of still holds, and the budget is at least that (else the sends it has
 * room for wait for the reset, and each takes a slot of the next window:
 * against fixed windows, a run of whole windows then needs one more). */
START_TEST(a_late_answer_does_not_hold_what_is_surely_free)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 0, 11, 30.5);
	int64_t t0 = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	for (int i = 0; i < 8; i++)
		shmt_ring_append(r, t0 + i * 10 * MS);
	shmt_ring_append(r, t0 + 80 * MS);
	shmt_ring_append(r, t0 + 82 * MS);
	/* 9 reached the server before 8 (sent within the margin before it):
	 * 11 left; 8 may be on its way: 10 surely free */
	record(r, 9, answer(t0 + 82 * MS, t0 + 90 * MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_budget, 11);
	ck_assert_int_eq(r->st->learn.q_sure, 10);
	shmt_ring_append(r, t0 + 100 * MS);
	shmt_ring_append(r, t0 + 110 * MS);
	/* 8's answer, late: 10 left (9 counted), the same window's reset;
	 * 9, 10 and 11 after it in the log count as on their way: 7 by
	 * itself, where 8 are free (20 less 10 counted, 10 and 11 on their
	 * way), as the first reading made sure of */
	q.remaining = 10;
	q.reset = 30.475;
	record(r, 8, answer(t0 + 80 * MS, t0 + 115 * MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_sure, 8);
	ck_assert_int_eq(r->st->learn.q_budget, 8);
	/* the eighth after it goes before the reset */
	ck_assert_int_lt(shmt_admit_at(r, 19, t0 + 115 * MS),
	                 r->st->learn.q_reset);
	ring_free(r);
}
END_TEST

/* The scene of the two tests below, at t0: entry 0 read 12 of 20 left
 * (over half the limit: not spread), then 12 sends at t0 + 20 ms; the
 * 13th would wait for the reset. */
static struct shmt_ring *
twelve_left(shmt_config *c, shmt_quota *q, int64_t t0)
{
	struct shmt_ring *r;

	*q = quota(20, 0, 12, 30.5);
	shmt_config_init(c);
	r = ring_new(64, c);
	shmt_ring_append(r, t0);
	record(r, 0, answer(t0, t0 + 10 * MS, 200), q);
	ck_assert_int_eq(r->st->learn.q_budget, 12);
	for (int i = 0; i < 12; i++)
		shmt_ring_append(r, t0 + 20 * MS);
	ck_assert_int_ge(shmt_admit_at(r, 13, t0 + 30 * MS),
	                 r->st->learn.q_reset);
	return r;
}

/* A slot given up unsent (its waiter took a new one) took a place in the
 * quota's budget, counted by sequence number: the sends after it get it
 * back, and so does the sure room a later reading of the window carries.
 * Without it each such slot pushed a send past the reset: a window's
 * send lost (seen on Redis, where waiters give up slots more often). */
START_TEST(a_slot_given_up_gives_its_quota_back)
{
	shmt_config c;
	shmt_quota q;
	int64_t t0 = 100 * NS, now = t0 + 30 * MS;
	struct shmt_ring *r = twelve_left(&c, &q, t0);

	/* one of them given up: the 13th goes, the 14th waits */
	ck_assert_int_eq(shmt_learn_given_up(r, 5, now), SHMT_GIVEN_UP_FREED);
	ck_assert_int_lt(shmt_admit_at(r, 13, now), r->st->learn.q_reset);
	ck_assert_int_ge(shmt_admit_at(r, 14, now), r->st->learn.q_reset);
	/* 1's answer, late: 11 left, the 11 after it on their way, the
	 * given-up one among them; the first reading made sure of 12 after
	 * 0, of which 11 were sent: one more goes */
	q.remaining = 11;
	q.reset = 30.47;
	record(r, 1, answer(t0 + 20 * MS, now + 10 * MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_sure, 1);
	ck_assert_int_lt(shmt_admit_at(r, 13, now + 10 * MS),
	                 r->st->learn.q_reset);
	ck_assert_int_ge(shmt_admit_at(r, 14, now + 10 * MS),
	                 r->st->learn.q_reset);
	ring_free(r);
}
END_TEST

/* The place given back is the next in line's: a waiter queued at the
 * reset moves into the window (the caller re-plans and wakes it), and the
 * new slot of the one that gave its own up comes after it. */
START_TEST(a_place_given_back_goes_to_the_next_in_line)
{
	shmt_config c;
	shmt_quota q;
	int64_t t0 = 100 * NS, now = t0 + 30 * MS;
	struct shmt_ring *r = twelve_left(&c, &q, t0);

	shmt_ring_append(r, shmt_admit_at(r, 13, now));
	ck_assert_int_ge(*shmt_ring_mono(r, 13), r->st->learn.q_reset);
	ck_assert_int_eq(shmt_learn_given_up(r, 5, now), SHMT_GIVEN_UP_FREED);
	ck_assert_int_eq(shmt_replan(r, now), 1);
	ck_assert_int_lt(*shmt_ring_mono(r, 13), r->st->learn.q_reset);
	ck_assert_int_ge(shmt_admit_at(r, 14, now), r->st->learn.q_reset);
	ring_free(r);
}
END_TEST

/* A lower count in the same window is news (the quota may be used by
 * others too): what an earlier reading made sure of is not more than it
 * leaves. */
START_TEST(a_lower_count_caps_what_was_sure)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(100, 0, 50, 30);
	int64_t t0 = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, t0);
	record(r, 0, answer(t0, t0 + MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_sure, 50);
	shmt_ring_append(r, t0 + 10 * MS);
	q.remaining = 4;
	record(r, 1, answer(t0 + 10 * MS, t0 + 11 * MS, 200), &q);
	ck_assert_int_le(r->st->learn.q_sure, 4);
	ck_assert_int_le(r->st->learn.q_budget, 4);
	/* the fifth after it waits for the reset */
	ck_assert_int_ge(shmt_admit_at(r, 2 + 4, t0 + 11 * MS),
	                 r->st->learn.q_reset);
	ring_free(r);
}
END_TEST

START_TEST(the_quota_lifts_the_window_only_for_sends_before_its_reset)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 1, 10, 0.004);
	int64_t t0 = 100 * NS, now = t0 + 990 * MS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	for (int i = 0; i < 19; i++)
		shmt_ring_append(r, t0);
	shmt_ring_append(r, t0 + 980 * MS);
	/* 10 left, but the reset is 4 ms away, within twice the margin: a
	 * send now may reach the server in its next window, of which the
	 * budget says nothing; our window rule holds */
	record(r, 19, answer(t0 + 980 * MS, now, 200), &q);
	ck_assert_int_eq(shmt_admit_at(r, 20, now), t0 + NS + M);
	/* a send sent less than the margin before the answered one may reach
	 * the server after it: not surely counted */
	shmt_ring_append(r, t0 + NS + M);
	shmt_ring_append(r, t0 + NS + M + MS);
	q.reset = 0.5;
	record(r, 21, answer(t0 + NS + M + MS, t0 + NS + 10 * MS, 200), &q);
	ck_assert_int_eq(r->st->learn.q_budget, 10);
	ck_assert_int_eq(r->st->learn.q_sure, 9);
	ring_free(r);
}
END_TEST

START_TEST(plenty_left_is_not_spread)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(20, 1, 15, 1);
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	record(r, 0, answer(now, now, 200), &q);
	/* 15 of 20 left: they may go at once (the window rule allows 20) */
	for (uint64_t k = 1; k <= 15; k++)
		shmt_ring_append(r, shmt_admit_at(r, k, now));
	ck_assert_int_eq(*shmt_ring_mono(r, 15), now);
	/* the 16th waits for the reset */
	ck_assert_int_eq(shmt_admit_at(r, 16, now), now + NS);
	ring_free(r);
}
END_TEST

START_TEST(the_announced_limit_holds_beside_a_configured_one)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	shmt_quota q = quota(5, 1, -1, -1);
	int64_t now = 100 * NS;

	for (int i = 0; i < 10; i++)
		shmt_ring_append(r, now);
	/* configured 10/s: the 11th after a second */
	ck_assert_int_eq(shmt_admit_at(r, 10, now), now + NS + M);
	/* a looser announced limit changes nothing ... */
	q.limit = 50;
	record(r, 9, answer(now, now, 200), &q);
	ck_assert_int_eq(shmt_admit_at(r, 10, now), now + NS + M);
	/* ... a stricter one holds: 5 per second */
	q.limit = 5;
	record(r, 9, answer(now, now, 200), &q);
	ck_assert_int_eq(r->st->learn.max, 5);
	ck_assert_int_eq(shmt_admit_at(r, 5, now), now + NS + M);
	ring_free(r);
}
END_TEST

START_TEST(an_unannounced_window_is_the_longest_reset_rounded_up)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_quota q = quota(100, 0, 90, 41.5);
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(256, &c);
	shmt_ring_append(r, now);
	record(r, 0, answer(now, now, 200), &q);
	ck_assert_int_eq(r->st->learn.period, 60 * NS);
	q.reset = 7;
	record(r, 0, answer(now, now, 200), &q);
	ck_assert_int_eq(r->st->learn.period, 60 * NS);
	ck_assert_int_eq(r->st->learn.period_announced, 0);
	/* announced: it wins */
	q.window = 3600;
	record(r, 0, answer(now, now, 200), &q);
	ck_assert_int_eq(r->st->learn.period, 3600 * NS);
	ring_free(r);
}
END_TEST

START_TEST(nothing_known_one_request_goes_first)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	shmt_ring_append(r, shmt_admit_at(r, 1, now));
	/* the second waits for the first's answer, at most a second */
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now + SHMT_PROBE_WAIT);
	/* its answer (no quota header) frees it */
	record(r, 0, answer(now, now + 3 * MS, 200), NULL);
	ck_assert_int_eq(*shmt_ring_mono(r, 1), now + 3 * MS);
	ring_free(r);
}
END_TEST

/* After the probe, a 200 says nothing of the limit: the processes that
 * waited for it do not all go at once (each one beyond the limit would
 * be refused), but twice as many as were answered, doubling with each
 * round of answers, until a refusal teaches a pace.  An error that is
 * not a refusal (404, a transport error) is an answer too. */
START_TEST(after_the_probe_the_sends_double_with_the_answers)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t now = 100 * NS, t1 = now + MS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	shmt_ring_append(r, now);
	record(r, 0, answer(now, t1, 200), NULL);
	/* one answer: two more go, the third waits (a second at most) */
	for (uint64_t s = 1; s <= 3; s++)
		shmt_ring_append(r, shmt_admit_at(r, s, t1));
	ck_assert_int_eq(*shmt_ring_mono(r, 1), t1);
	ck_assert_int_eq(*shmt_ring_mono(r, 2), t1);
	ck_assert_int_eq(*shmt_ring_mono(r, 3), t1 + SHMT_PROBE_WAIT);
	/* each answer lets two more go: the third on the next one ... */
	record(r, 1, answer(t1, t1 + MS, 200), NULL);
	ck_assert_int_eq(*shmt_ring_mono(r, 3), t1 + MS);
	/* ... and one more (a 404): up to 6 after the probe */
	record(r, 2, answer(t1, t1 + 2 * MS, 404), NULL);
	for (uint64_t s = 4; s <= 7; s++)
		shmt_ring_append(r, shmt_admit_at(r, s, t1 + 2 * MS));
	ck_assert_int_eq(*shmt_ring_mono(r, 6), t1 + 2 * MS);
	ck_assert_int_eq(*shmt_ring_mono(r, 7), t1 + 2 * MS + SHMT_PROBE_WAIT);
	/* a transport error is an answer too (else a send every second) */
	record(r, 4, answer(t1 + 2 * MS, t1 + 3 * MS, 0), NULL);
	ck_assert_int_eq(*shmt_ring_mono(r, 7), t1 + 3 * MS);
	/* a refusal ends it: the learned rules space them instead, the
	 * burst of the 7 granted or on their way (0-2 and 4-7) in 7 paces
	 * from the first of them (the rate: the 3 granted before the
	 * refused one over the cycle) */
	record(r, 3, answer(t1 + 2 * MS, t1 + 3 * MS, 429), NULL);
	ck_assert_int_gt(r->st->learn.pace, 0);
	ck_assert_uint_eq(r->st->learn.burst, 7);
	ck_assert_int_eq(
	    shmt_admit_at(r, 7, r->st->end_of_delay),
	    later_of(r->st->end_of_delay, now + 7 * r->st->learn.pace + M));
	ring_free(r);
}
END_TEST

/* A log of 32 sends at `now`, nothing configured, the first answered
 * 200 a millisecond later: the first cycle, the refusals to come. */
static struct shmt_ring *
first_cycle(shmt_config *c, int64_t now)
{
	struct shmt_ring *r;

	shmt_config_init(c);
	r = ring_new(256, c);
	for (int i = 0; i < 32; i++)
		shmt_ring_append(r, now);
	record(r, 0, answer(now, now + MS, 200), NULL);
	return r;
}

/* 32 at once; the server (a sliding window of 20) admits 20 and refuses
 * the rest, their 429s coming one by one.  The throttle learns the rate
 * over the cycle, and the burst the server granted in it: after the
 * pause 20 go at once, the 21st one window (20 paces, the margin added)
 * after the first of them.  A pace alone sends one at a time and, against
 * a window, never gets the burst back. */
START_TEST(refusals_teach_a_burst_and_its_window)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_stat st = { 0 };
	int64_t now = 100 * NS, pace, w, t0;

	r = first_cycle(&c, now);
	/* the first refusal: the 30 others still on their way count */
	record(r, 31, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 31);
	/* the burst's late 429s: it falls to the 20 admitted */
	for (uint64_t s = 30; s >= 20; s--)
		record(r, s, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 20);
	shmt_learn_stat(r, now, &st);
	ck_assert_uint_eq(st.learned_burst, 20);
	/* 20 granted over the cycle (1 s pause from the send): ~20/s */
	pace = r->st->learn.pace;
	ck_assert_int_ge(pace, 49 * MS);
	ck_assert_int_le(pace, 51 * MS);
	/* after the pause, 20 at once, a window after the 20 newest of the
	 * first burst (the log counts our sends, refused or not) */
	w = 20 * pace + M;
	now = r->st->end_of_delay;
	t0 = shmt_admit_at(r, 32, now);
	ck_assert_int_eq(t0, later_of(now, *shmt_ring_mono(r, 12) + w));
	for (uint64_t s = 32; s < 52; s++) {
		ck_assert_int_eq(shmt_admit_at(r, s, now), t0);
		shmt_ring_append(r, t0);
	}
	/* the 21st: a window after the first of them */
	ck_assert_int_eq(shmt_admit_at(r, 52, now), t0 + w);
	/* successes raise the rate 0.005/s a window (20 of them), not 0.1 */
	for (uint64_t s = 32; s < 52; s++)
		record(r, s, answer(t0, t0 + MS, 200), NULL);
	ck_assert_int_lt(r->st->learn.pace, pace);
	ck_assert_int_gt(r->st->learn.pace,
	                 (int64_t)(NS / (NS / (double)pace + 0.0051)));
	/* a later refusal takes one from the burst (it may count a slot
	 * never sent, and a burst over the limit is refused in every window,
	 * whatever the rate) in the same window, and lengthens the window by
	 * 5 % at least, doubles it at most */
	pace = r->st->learn.pace;
	shmt_ring_append(r, t0 + 2 * NS);
	record(r, r->st->head - 1, answer(t0 + 2 * NS, t0 + 2 * NS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 19);
	ck_assert_int_ge(19 * r->st->learn.pace, 20 * pace * 20 / 19);
	ck_assert_int_le(19 * r->st->learn.pace, 20 * pace * 2 + 19);
	/* another of that burst: one less again, the window kept (19 paces
	 * as 18, give or take the rounding of a pace to the nanosecond) */
	pace = r->st->learn.pace;
	shmt_ring_append(r, t0 + 2 * NS);
	record(r, r->st->head - 1, answer(t0 + 2 * NS, t0 + 2 * NS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 18);
	ck_assert_int_ge(18 * r->st->learn.pace, 19 * pace - 18);
	ck_assert_int_le(18 * r->st->learn.pace, 19 * pace + 18);
	ring_free(r);
}
END_TEST

/* Slots of the first cycle whose waiters gave them up unsent (they took
 * new ones) were no sends: not in the burst (with them, the burst was
 * one too many for each, refused in every window). */
START_TEST(slots_given_up_unsent_are_not_in_the_burst)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t now = 100 * NS;

	r = first_cycle(&c, now);
	shmt_ring_set_unsent(r, 3);
	shmt_ring_set_unsent(r, 7);
	record(r, 31, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 29);
	for (uint64_t s = 30; s >= 20; s--)
		record(r, s, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 18);
	ring_free(r);
}
END_TEST

/* A slot of the first cycle given up after the first refusal lowers the
 * burst in its window, whenever its waiter woke: an hour late here (the
 * rate came from the time of the give-up: 30 per hour, 60 s a send). */
START_TEST(a_late_give_up_keeps_the_burst_s_window)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t now = 100 * NS, pace;

	r = first_cycle(&c, now);
	record(r, 31, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 31);
	pace = r->st->learn.pace;
	ck_assert_int_eq(shmt_learn_given_up(r, 3, now + 3600 * NS),
	                 SHMT_GIVEN_UP_STRICTER);
	ck_assert_uint_eq(r->st->learn.burst, 30);
	ck_assert_int_ge(30 * r->st->learn.pace, 31 * pace - 30);
	ck_assert_int_le(30 * r->st->learn.pace, 31 * pace + 30);
	/* the same slot again: nothing more */
	ck_assert_int_eq(shmt_learn_given_up(r, 3, now + 3600 * NS), 0);
	/* with a quota in force too (a reading without a limit, then bare
	 * 429s): its place goes back and the burst falls, both (a review
	 * found the place alone) */
	r->st->learn.q_from = now;
	r->st->learn.q_reset = now + 3610 * NS;
	r->st->learn.q_budget = 40;
	ck_assert_int_eq(shmt_learn_given_up(r, 4, now + 3600 * NS),
	                 SHMT_GIVEN_UP_FREED | SHMT_GIVEN_UP_STRICTER);
	ck_assert_uint_eq(r->st->learn.burst, 29);
	ck_assert_uint_eq(r->st->learn.q_unsent, 1);
	ring_free(r);
}
END_TEST

/* The burst's window is the first cycle, also when successes come after
 * the first refused send in the log (they reached the server before it):
 * counting only the sends before it would stretch the window past the
 * cycle (15 of 20 here: a third longer). */
START_TEST(a_burst_s_window_is_the_first_cycle)
{
	shmt_config c;
	struct shmt_ring *r;
	int64_t now = 100 * NS, cycle;

	r = first_cycle(&c, now);
	record(r, 15, answer(now, now + 2 * MS, 429), NULL);
	for (uint64_t s = 16; s <= 20; s++)
		record(r, s, answer(now, now + 3 * MS, 200), NULL);
	for (uint64_t s = 21; s < 32; s++)
		record(r, s, answer(now, now + 3 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 20);
	cycle = r->st->end_of_delay - now;
	ck_assert_int_ge(20 * r->st->learn.pace, cycle - 20);
	ck_assert_int_le(20 * r->st->learn.pace, cycle + 20);
	ring_free(r);
}
END_TEST

/* A server that admitted one of the first burst: no burst to learn, the
 * pace alone spaces each send from the one before (the rule of a burst
 * of one, without its margin). */
START_TEST(a_burst_of_one_is_a_pace)
{
	shmt_config c;
	struct shmt_ring *r;
	shmt_stat st = { 0 };
	int64_t now = 100 * NS, pace;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	for (int i = 0; i < 3; i++)
		shmt_ring_append(r, now);
	record(r, 0, answer(now, now + MS, 200), NULL);
	record(r, 2, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 2);
	record(r, 1, answer(now, now + 2 * MS, 429), NULL);
	ck_assert_uint_eq(r->st->learn.burst, 1);
	shmt_learn_stat(r, now, &st);
	ck_assert_uint_eq(st.learned_burst, 0);
	ck_assert_double_gt(st.learned_rate, 0);
	pace = r->st->learn.pace;
	now = r->st->end_of_delay;
	shmt_ring_append(r, shmt_admit_at(r, 3, now));
	ck_assert_int_eq(shmt_admit_at(r, 4, now),
	                 *shmt_ring_mono(r, 3) + pace);
	ring_free(r);
}
END_TEST

START_TEST(a_configured_limit_is_not_second_guessed)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t now = 100 * NS;

	shmt_ring_append(r, now);
	record(r, 0, answer(now, now, 429), NULL);
	ck_assert_int_eq(r->st->learn.pace, 0);
	ring_free(r);
}
END_TEST

START_TEST(garbage_in_the_segment_is_bounded)
{
	shmt_config c;
	struct shmt_ring *r;
	struct shmt_learn *l;
	shmt_stat st = { 0 };
	int64_t now = 100 * NS;

	shmt_config_init(&c);
	r = ring_new(64, &c);
	l = &r->st->learn;
	l->heard = 1;
	shmt_ring_append(r, now);
	shmt_ring_append(r, now);
	/* a reset a year away, a budget beyond the log: ignored */
	l->q_from = now;
	l->q_reset = now + 365LL * 86400 * NS;
	l->q_seq = 0;
	ck_assert_int_le(shmt_admit_at(r, 1, now), now);
	l->q_reset = now + NS;
	l->q_budget = 1000;
	ck_assert_int_le(shmt_admit_at(r, 1, now), now);
	l->q_reset = 0;
	/* a window of a century and a pace of a year: capped at the
	 * configuration's retry_after_max and backoff_max */
	l->max = 1;
	l->period = INT64_MAX;
	l->pace = INT64_MAX;
	ck_assert_int_le(shmt_admit_at(r, 1, now),
	                 now + 21600 * NS + 2161 * MS);
	ck_assert_int_le(shmt_learn_step(r->st, r->cfg), 21600 * NS);
	/* a burst beyond the log: half the log at most */
	l->max = 0;
	l->burst = UINT32_MAX;
	ck_assert_uint_eq(shmt_learn_window_n(r), 32);
	/* more slots given up than entries from q_seq to the newest of them:
	 * the quota is garbage, ignored (it took every send for the first) */
	l->burst = 0;
	l->pace = 0;
	l->q_reset = now + NS;
	l->q_budget = 1;
	l->q_remaining = 1;
	l->q_unsent = UINT32_MAX;
	l->q_unsent_last = 0;
	shmt_learn_stat(r, now, &st);
	ck_assert_int_eq(st.quota_remaining, -1);
	l->q_unsent = 1;
	shmt_learn_stat(r, now, &st);
	ck_assert_int_eq(st.quota_remaining, 1);
	ring_free(r);
}
END_TEST

START_TEST(the_status_says_what_was_learned)
{
	const char *name = test_name("learnstat");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	shmt_quota q = quota(60, 0, 0, 30);

	shmt_config_init(&c);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_int_eq(st.probing, 1);
	ck_assert_int_eq(st.quota_remaining, -1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	snprintf(q.header, sizeof(q.header), "x-ratelimit-limit");
	ck_assert_int_eq(shmt_record_quota(t, &tk, 403, -1, &q, "u", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_RETRY);
	ck_assert_double_eq_tol(out.delay, 30, 1e-6);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_int_eq(st.probing, 0);
	ck_assert_uint_eq(st.learned_max, 60);
	ck_assert_double_eq(st.learned_period, 30);
	ck_assert_int_eq(st.learned_period_announced, 0);
	ck_assert_int_eq(st.learned_dialect, SHMT_QUOTA_XRATELIMIT);
	ck_assert_str_eq(st.learned_header, "x-ratelimit-limit");
	ck_assert_int_eq(st.quota_remaining, 0);
	ck_assert_double_eq_tol(st.delay_remaining, 30, 1e-6);
	/* another process cannot go before the reset */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_EAGAIN);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* Quota headers on every answer: the handles' cached rules are computed
 * again when what they derive from changes, not on every answer. */
START_TEST(the_same_quota_again_keeps_the_rules)
{
	const char *name = test_name("learngen");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	struct shmt_state *st;
	uint64_t gen;

	shmt_config_init(&c);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	st = shmt_seg_of(t)->ring.st;
	for (int i = 0; i < 4; i++) {
		shmt_quota q = quota(20, 1, 19 - i, 0.5);

		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		fake_mono_now += MS;
		ck_assert_int_eq(
		    shmt_record_quota(t, &tk, 200, -1, &q, "u", 0, &out),
		    SHMT_OK);
		/* the first answer ends the probe and announces the limit */
		if (i == 0)
			gen = st->rules_gen;
	}
	ck_assert_uint_eq(st->rules_gen, gen);
	ck_assert_uint_eq(st->learn.max, 20);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(a_reset_forgets_the_pause_then_everything_learned)
{
	const char *name = test_name("learnreset");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	shmt_quota q = quota(60, 0, 0, 30);

	shmt_config_init(&c);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_record_quota(t, &tk, 403, -1, &q, "u", 0, &out),
	                 SHMT_OK);
	/* the operator clears the pause: requests go at once, the limit
	 * the server announced stays */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_DELAY), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.learned_max, 60);
	/* a plan changed: forget what the server said */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_LEARNED), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.learned_max, 0);
	ck_assert_int_eq(shmt_reset(t, 0x20), SHMT_EINVAL);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

/* throttle-curl waits before it reserves (perform.c): the answer that
 * ends the probe moves no reservation, yet it frees the next send, and
 * those waiting must hear it rather than sleep out the probe's second. */
START_TEST(the_end_of_the_probe_wakes_those_waiting_to_reserve)
{
	const char *name = test_name("probewake");
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	pid_t pid;
	int rc;

	shmt_config_init(&c);
	c.backoff_initial = 30;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	/* nothing known: this is the probe */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	/* the next send waits for the probe's answer, then goes at once */
	pid = waiter_to_reserve(name, 1, 0.5, 0);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, &out), SHMT_OK);
	rc = waiter_status(pid);
	ck_assert_msg(rc == 0, "the waiter exited with %d (3: not woken)", rc);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

Suite *
learn_suite(void)
{
	Suite *s = suite_create("learn");
	TCase *tc = tcase_create("rules");

	tcase_add_test(
	    tc, a_used_up_quota_pauses_everyone_until_the_reset_even_on_403);
	tcase_add_test(tc, a_low_quota_is_spread_over_the_time_left);
	tcase_add_test(tc, requests_on_their_way_count_against_the_quota);
	tcase_add_test(tc, plenty_left_is_not_spread);
	tcase_add_test(tc, a_late_answer_does_not_hold_what_is_surely_free);
	tcase_add_test(tc, a_lower_count_caps_what_was_sure);
	tcase_add_test(tc, a_slot_given_up_gives_its_quota_back);
	tcase_add_test(tc, a_place_given_back_goes_to_the_next_in_line);
	tcase_add_test(tc, requests_sharing_one_slot_time_are_on_their_way_too);
	tcase_add_test(tc,
	               a_whole_second_reset_spreads_over_the_time_surely_left);
	tcase_add_test(
	    tc, the_announced_window_yields_to_the_quota_the_server_gives);
	tcase_add_test(
	    tc, the_quota_lifts_the_window_only_for_sends_before_its_reset);
	tcase_add_test(tc,
	               the_first_answers_of_a_burst_say_what_is_surely_free);
	tcase_add_test(tc, the_announced_limit_holds_beside_a_configured_one);
	tcase_add_test(tc,
	               an_unannounced_window_is_the_longest_reset_rounded_up);
	tcase_add_test(tc, nothing_known_one_request_goes_first);
	tcase_add_test(tc, after_the_probe_the_sends_double_with_the_answers);
	tcase_add_test(tc, refusals_teach_a_burst_and_its_window);
	tcase_add_test(tc, a_burst_of_one_is_a_pace);
	tcase_add_test(tc, a_burst_s_window_is_the_first_cycle);
	tcase_add_test(tc, slots_given_up_unsent_are_not_in_the_burst);
	tcase_add_test(tc, a_late_give_up_keeps_the_burst_s_window);
	tcase_add_test(tc, a_configured_limit_is_not_second_guessed);
	tcase_add_test(tc, garbage_in_the_segment_is_bounded);
	tcase_add_test(tc, the_status_says_what_was_learned);
	tcase_add_test(tc, a_reset_forgets_the_pause_then_everything_learned);
	tcase_add_test(tc, the_end_of_the_probe_wakes_those_waiting_to_reserve);
	tcase_add_test(tc, the_same_quota_again_keeps_the_rules);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
