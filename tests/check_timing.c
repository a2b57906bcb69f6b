/* check_timing.c - arrivals: the measured lateness and round trips, the
 * margin they call for, and a late send re-planning what follows. */
#include <string.h>

#include "config.h"
#include "internal.h"
#include "policy.h"
#include "ring.h"
#include "testutil.h"
#include "timing.h"

#define US 1000LL

START_TEST(one_outlier_widens_the_high_and_low)
{
	int32_t us[SHMT_SAMPLES] = { 5, 900, 7, 3, 40, -2 };

	/* one slow request is enough: a stall seen once can come again */
	ck_assert_int_eq(shmt_timing_high(us, 5), 900 * US);
	ck_assert_int_eq(shmt_timing_low(us, 5), 3 * US);
	ck_assert_int_eq(shmt_timing_high(us, 1), 5 * US);
	ck_assert_int_eq(shmt_timing_low(us, 0), 0);
	/* a negative sample (a damaged segment) counts as 0 */
	ck_assert_int_eq(shmt_timing_low(us, 6), 0);
	/* only the last SHMT_SAMPLES count, whatever n says */
	ck_assert_int_eq(shmt_timing_high(us, 1000), 900 * US);
}
END_TEST

START_TEST(the_margin_covers_lateness_and_the_spread_of_round_trips)
{
	struct shmt_timing tm = { 0 };
	struct shmt_scfg c;
	shmt_config cfg = one_rate(20, 1);

	shmt_scfg_from(&c, &cfg);
	/* lateness 1-2 ms, round trips 10-40 ms (jitter of 30 ms) */
	for (int i = 0; i < 40; i++)
		shmt_timing_add(&tm, (1 + i % 2) * MS, (10 + i % 31) * MS);
	ck_assert_int_eq(tm.margin, 2 * MS + 40 * MS - 10 * MS);
	ck_assert_int_eq(shmt_margin(&c, &tm, NS), 32 * MS);
	/* the configured margin is a floor ... */
	c.margin = 50 * MS;
	ck_assert_int_eq(shmt_margin(&c, &tm, NS), 50 * MS);
	/* ... or, fixed, the margin itself */
	c.margin = 5 * MS;
	c.flags |= SHMT_SCFG_FIXED_MARGIN;
	ck_assert_int_eq(shmt_margin(&c, &tm, NS), 5 * MS);
	/* the measured part never takes more than a tenth of a spacing */
	c.flags = 0;
	ck_assert_int_eq(shmt_margin(&c, &tm, 100 * MS), 10 * MS);
	/* garbage from a segment is bounded */
	tm.margin = -7;
	ck_assert_int_eq(shmt_margin(&c, &tm, NS), 5 * MS);
}
END_TEST

/* A request left at 100 ms; libcurl says 30 ms of its 35 ms went to the
 * first byte (from a start of its own, before our send) and the call
 * returned at 136 ms: the first byte came back 5 ms (+ 1 ms of our late
 * reading) before that, a round trip of 31 ms.  libcurl's PRETRANSFER,
 * taken once the answer was often already read, measured microseconds
 * here, and the margin missed the server's queueing. */
START_TEST(the_round_trip_counts_back_from_the_end)
{
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 30000, 35000, US),
	                 31 * MS);
	/* the same in another unit */
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 30, 35, MS),
	                 31 * MS);
	/* our late reading of the end only lengthens it */
	ck_assert_int_gt(shmt_timing_rtt(100 * MS, 140 * MS, 30, 35, MS),
	                 31 * MS);
	/* nonsense: no first byte, a first byte after the end, a first
	 * byte before the send, a zero unit, an overflow */
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 0, 35, MS), 0);
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 36, 35, MS), 0);
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 1, 40, MS), 0);
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 30, 35, 0), 0);
	ck_assert_int_eq(shmt_timing_rtt(100 * MS, 136 * MS, 1, INT64_MAX, MS),
	                 0);
}
END_TEST

START_TEST(samples_are_clamped_and_unmeasured_ones_skipped)
{
	struct shmt_timing tm = { 0 };

	shmt_timing_add(&tm, -1, 3600 * NS);
	ck_assert_uint_eq(tm.n_late, 0);
	ck_assert_uint_eq(tm.n_rtt, 1);
	ck_assert_int_eq(tm.rtt_us[0], 60 * 1000000);
	shmt_timing_add(&tm, 4 * MS, -1);
	ck_assert_uint_eq(tm.n_late, 1);
	ck_assert_uint_eq(tm.n_rtt, 1);
}
END_TEST

START_TEST(the_window_spacing_follows_the_measured_margin)
{
	shmt_config cfg = one_rate(2, 1);
	struct shmt_ring *r = ring_new(64, &cfg);
	int64_t now = 100 * NS;

	shmt_ring_append(r, now);
	shmt_ring_append(r, now);
	ck_assert_int_eq(shmt_admit_at(r, 2, now), now + NS + 5 * MS);
	for (int i = 0; i < 4; i++)
		shmt_timing_add(&r->st->timing, 0, (10 + 20 * (i % 2)) * MS);
	/* round trips 10-30 ms, fewer than SHMT_SAMPLES: all of 30 ms */
	ck_assert_int_eq(shmt_admit_at(r, 2, now), now + NS + 30 * MS);
	for (int i = 4; i < SHMT_SAMPLES; i++)
		shmt_timing_add(&r->st->timing, 0, (10 + 20 * (i % 2)) * MS);
	/* a full set: 20 ms of spread */
	ck_assert_int_eq(shmt_admit_at(r, 2, now), now + NS + 20 * MS);
	ring_free(r);
}
END_TEST

/* The first burst of ten reached a cold server on a loaded machine at
 * once and each was answered 7-9 ms after it left; a second later the
 * next burst went through in 0.2 ms.  Their spread (2 ms) said the
 * margin's floor was enough, and the next burst arrived 7 ms early
 * against the first: 2 refusals.  Until a full set of samples is in,
 * the one-way delay may be anything from 0. */
START_TEST(the_first_samples_do_not_say_where_the_floor_is)
{
	struct shmt_timing tm = { 0 };

	for (int i = 0; i < 10; i++)
		shmt_timing_add(&tm, 100 * US, (7 + i % 3) * MS);
	ck_assert_int_eq(tm.margin, 100 * US + 9 * MS);
	/* a full set whose low end is the floor the network showed */
	for (int i = 10; i < SHMT_SAMPLES; i++)
		shmt_timing_add(&tm, 100 * US, 200 * US);
	ck_assert_int_eq(tm.margin, 100 * US + 9 * MS - 200 * US);
}
END_TEST

static shmt_throttle *
fake_throttle(const char *name, shmt_config c)
{
	shmt_throttle *t;

	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	shmt_set_clock(t, fake_mono, fake_wall);
	return t;
}

START_TEST(a_late_send_counts_from_when_it_left)
{
	const char *name = test_name("latesend");
	shmt_config c = one_rate(2, 1);
	shmt_throttle *t;
	shmt_ticket a, b, w;
	shmt_outcome out;
	struct shmt_seg *sg;
	int64_t t0;

	c.margin_fixed = 1;
	c.margin = 0;
	t = fake_throttle(name, c);
	sg = shmt_seg_of(t);
	t0 = fake_mono_now;
	shmt_ticket_init(&a);
	shmt_ticket_init(&b);
	shmt_ticket_init(&w);
	ck_assert_int_eq(shmt_acquire(t, &a, 0), SHMT_OK);
	ck_assert_int_eq(shmt_acquire(t, &b, 0), SHMT_OK);
	/* a third request reserves t0 + 1 s (it would wait for it) */
	ck_assert_int_eq(shmt_admit_at(&sg->ring, 2, t0), t0 + NS);
	shmt_ring_append(&sg->ring, t0 + NS);
	/* the first request really left 300 ms late */
	fake_mono_now = t0 + 400 * MS;
	a.sent_ns = t0 + 300 * MS;
	a.rtt_ns = 10 * MS;
	ck_assert_int_eq(shmt_record(t, &a, 200, -1, NULL, 0, &out), SHMT_OK);
	/* the log says so, and the waiting reservation moved later */
	ck_assert_int_eq(*shmt_ring_mono(&sg->ring, 0), t0 + 300 * MS);
	ck_assert_int_eq(*shmt_ring_mono(&sg->ring, 1), t0 + 300 * MS);
	ck_assert_int_eq(*shmt_ring_mono(&sg->ring, 2), t0 + 1300 * MS);
	/* an early report never moves anything earlier */
	b.sent_ns = t0 + 1 * MS;
	ck_assert_int_eq(shmt_record(t, &b, 200, -1, NULL, 0, &out), SHMT_OK);
	ck_assert_int_eq(*shmt_ring_mono(&sg->ring, 1), t0 + 300 * MS);
	ck_assert_int_eq(*shmt_ring_mono(&sg->ring, 2), t0 + 1300 * MS);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

START_TEST(status_shows_the_measures_and_the_margin_in_force)
{
	const char *name = test_name("timingstat");
	shmt_throttle *t = fake_throttle(name, one_rate(20, 1));
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	for (int i = 0; i < 10; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		tk.sent_ns = tk.send_ns + (i % 3) * MS;
		tk.rtt_ns = (20 + 4 * i) * MS;
		fake_mono_now += 100 * MS;
		ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, &out),
		                 SHMT_OK);
	}
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.samples, 10);
	ck_assert_double_eq_tol(st.lateness, 0.002, 1e-9);
	ck_assert_double_eq_tol(st.rtt_low, 0.020, 1e-9);
	ck_assert_double_eq_tol(st.rtt_high, 0.056, 1e-9);
	/* 2 ms late + 56 ms (fewer than SHMT_SAMPLES: from 0) */
	ck_assert_double_eq_tol(st.margin, 0.058, 1e-9);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

#define CTL TOOLS_DIR "/throttlectl"

START_TEST(shell_users_report_measures_and_status_shows_them)
{
	const char *name = test_name("ctltiming");
	char out[4096], tk[128];

	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create %s --period 1 --max 5", name), 0);
	ck_assert_int_eq(test_sh(tk, sizeof(tk), CTL " acquire %s", name), 0);
	tk[strcspn(tk, "\n")] = '\0';
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " record %s 200 --ticket %s "
	                             "--sent-at $(date +%%s.%%N) --rtt 0.02",
	                         name, tk),
	                 0);
	ck_assert_int_eq(
	    test_sh(out, sizeof(out), CTL " status %s --json", name), 0);
	ck_assert_msg(strstr(out, "\"samples\":1,") &&
	                  strstr(out, "\"rtt_low\":0.02,") &&
	                  strstr(out, "\"margin_fixed\":false"),
	              "%s", out);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status %s", name), 0);
	ck_assert_msg(strstr(out, "Measured:        1 requests") &&
	                  strstr(out, "round trips 20.0-20.0 ms"),
	              "%s", out);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " set %s --margin-mode fixed "
	                             "--margin 0.01",
	                         name),
	                 0);
	ck_assert_int_eq(
	    test_sh(out, sizeof(out), CTL " status %s --json", name), 0);
	ck_assert_msg(strstr(out, "\"margin_fixed\":true,"
	                          "\"margin_in_force\":0.01,"),
	              "%s", out);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " set %s --margin-mode sometimes "
	                             "2>/dev/null",
	                         name),
	                 2);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " record %s 200 --sent-at soon "
	                             "2>/dev/null",
	                         name),
	                 2);
	shmt_remove(name);
}
END_TEST

Suite *
timing_suite(void)
{
	Suite *s = suite_create("timing");
	TCase *tc = tcase_create("arrivals");

	tcase_add_test(tc, one_outlier_widens_the_high_and_low);
	tcase_add_test(
	    tc, the_margin_covers_lateness_and_the_spread_of_round_trips);
	tcase_add_test(tc, the_round_trip_counts_back_from_the_end);
	tcase_add_test(tc, samples_are_clamped_and_unmeasured_ones_skipped);
	tcase_add_test(tc, the_window_spacing_follows_the_measured_margin);
	tcase_add_test(tc, the_first_samples_do_not_say_where_the_floor_is);
	tcase_add_test(tc, a_late_send_counts_from_when_it_left);
	tcase_add_test(tc, status_shows_the_measures_and_the_margin_in_force);
	tcase_add_test(tc, shell_users_report_measures_and_status_shows_them);
	suite_add_tcase(s, tc);
	return s;
}
