/* check_ring.c - the log against a brute-force model. */
#include <stdlib.h>

#include "ring.h"
#include "testutil.h"

/* Brute force: the sends in (now - period, now] neither refused nor given
 * up unsent, newest `max` of them. */
static void
model_run_rate(const struct shmt_ring *r, int64_t now, int64_t period,
               uint32_t max, uint32_t *count, int64_t *oldest)
{
	*count = 0;
	*oldest = now;
	for (uint64_t s = r->st->head; s-- > r->st->tail;) {
		int64_t mono = *shmt_ring_mono(r, s);

		if (mono > now || (r->tag[s % r->cap] & SHMT_TAG_FLAGS))
			continue;
		if (mono <= now - period || *count == max)
			break;
		(*count)++;
		*oldest = mono;
	}
}

START_TEST(run_rate_matches_a_scan)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(64, &c);
	int64_t t = 100 * NS;

	srand(42);
	for (int i = 0; i < 2000; i++) {
		uint64_t s;
		uint32_t n1, n2;
		int64_t o1, o2, period = (1 + rand() % 5) * 100 * MS;

		t += rand() % (60 * MS);
		s = shmt_ring_append(r, t);
		shmt_ring_set_status(r, s, rand() % 3 ? 200 : 429);
		if (rand() % 10 == 0) /* a late 429 for an older entry */
			shmt_ring_set_status(r, s - (s > r->st->tail), 429);
		if (rand() % 10 == 0) /* its waiter took a new slot */
			shmt_ring_set_unsent(r, s - (s > r->st->tail));
		shmt_ring_run_rate(r, t, period, 7, &n1, &o1);
		model_run_rate(r, t, period, 7, &n2, &o2);
		ck_assert_uint_eq(n1, n2);
		if (n1)
			ck_assert_int_eq(o1, o2);
	}
	ring_free(r);
}
END_TEST

START_TEST(ungranted_over_the_wrap)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(16, &c);

	for (int i = 0; i < 40; i++)
		shmt_ring_set_status(r, shmt_ring_append(r, i * MS),
		                     i % 2 ? 429 : 200);
	/* [24, 40) holds the odd ones: 8 */
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 24, 40), 8);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 30, 35), 2);
	shmt_ring_drop_before(r, 36);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 36, 40), 2);
	shmt_ring_rebuild(r);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 36, 40), 2);
	ring_free(r);
}
END_TEST

START_TEST(first_after_is_a_binary_search)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(32, &c);

	for (int i = 0; i < 50; i++)
		shmt_ring_append(r, (i / 2) * NS); /* pairs of equal times */
	ck_assert_uint_eq(r->st->tail, 18);
	ck_assert_uint_eq(shmt_ring_first_after(r, 20 * NS), 42);
	ck_assert_uint_eq(shmt_ring_first_after(r, 0), 18);
	ck_assert_uint_eq(shmt_ring_first_after(r, 1000 * NS), 50);
	ring_free(r);
}
END_TEST

START_TEST(check_finds_damage)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(16, &c);

	for (int i = 0; i < 10; i++)
		shmt_ring_append(r, i * NS);
	ck_assert_int_eq(shmt_ring_check(r), SHMT_OK);
	*shmt_ring_mono(r, 5) = 0;
	ck_assert_int_eq(shmt_ring_check(r), SHMT_ECORRUPT);
	*shmt_ring_mono(r, 5) = 5 * NS;
	r->tag[6] = SHMT_TAG(99, 0);
	ck_assert_int_eq(shmt_ring_check(r), SHMT_ECORRUPT);
	r->tag[6] = SHMT_TAG(6, 0);
	r->st->tail = 20;
	ck_assert_int_eq(shmt_ring_check(r), SHMT_ECORRUPT);
	ring_free(r);
}
END_TEST

/* A slot its waiter gave up (it took a new one) stays in the log, and
 * valid, but is no send the server granted; a response to it says it was
 * sent after all.  The tree keeps the count through the wrap and a
 * rebuild. */
START_TEST(a_slot_given_up_unsent_is_not_granted)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(8, &c);

	for (int i = 0; i < 12; i++)
		shmt_ring_append(r, i * MS);
	shmt_ring_set_unsent(r, 9);
	shmt_ring_set_status(r, 10, 429);
	ck_assert(shmt_ring_valid(r, 9));
	ck_assert_int_eq(shmt_ring_check(r), SHMT_OK);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 4, 12), 2);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 9, 10), 1);
	shmt_ring_rebuild(r);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 4, 12), 2);
	/* refused, then given up: counted once */
	shmt_ring_set_unsent(r, 10);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 4, 12), 2);
	shmt_ring_set_status(r, 9, 200);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 4, 12), 1);
	/* the wrap forgets it with its slot */
	shmt_ring_set_unsent(r, 11);
	for (int i = 12; i < 20; i++)
		shmt_ring_append(r, i * MS);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 12, 20), 0);
	ring_free(r);
}
END_TEST

/* A repair that moves the tail past a damaged entry leaves the flags of
 * the slots it dropped; the rebuild clears them, or the append that takes
 * such a slot takes a count off the tree that belongs to another (a
 * review found a 429 so lost). */
START_TEST(a_rebuild_clears_the_flags_of_dropped_slots)
{
	shmt_config c = one_rate(10, 1);
	struct shmt_ring *r = ring_new(16, &c);

	for (int i = 0; i < 10; i++)
		shmt_ring_append(r, i * MS);
	shmt_ring_set_unsent(r, 2);
	shmt_ring_set_status(r, 3, 429);
	r->st->tail = 6;
	shmt_ring_rebuild(r);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, 6, 10), 0);
	for (int i = 10; i < 20; i++)
		shmt_ring_append(r, i * MS);
	shmt_ring_set_status(r, 19, 429);
	ck_assert_uint_eq(shmt_ring_count_ungranted(r, r->st->tail, 20), 1);
	ring_free(r);
}
END_TEST

Suite *
ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, run_rate_matches_a_scan);
	tcase_add_test(tc, ungranted_over_the_wrap);
	tcase_add_test(tc, a_slot_given_up_unsent_is_not_granted);
	tcase_add_test(tc, a_rebuild_clears_the_flags_of_dropped_slots);
	tcase_add_test(tc, first_after_is_a_binary_search);
	tcase_add_test(tc, check_finds_damage);
	suite_add_tcase(s, tc);
	return s;
}
