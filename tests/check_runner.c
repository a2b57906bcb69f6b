/* check_runner.c - the task runner; defect 11 of the seed in particular. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static int
square(void *arg, void **result)
{
	intptr_t v = (intptr_t)arg;
	struct timespec nap = { 0, (long)((17 * v) % 5) * 1000000L };

	nanosleep(&nap, NULL); /* finish out of order */
	*result = (void *)(v * v);
	return v % 7 == 3 ? 42 : 0; /* some tasks fail */
}

START_TEST(defect11_results_in_order_failures_kept_names_unique_reusable)
{
	shmt_runner *r;
	const shmt_task_result *res;
	size_t n;

	ck_assert_int_eq(shmt_runner_create(&r, 4), SHMT_OK);
	for (int round = 0; round < 3; round++) { /* the pool runs again */
		char name[16];

		for (intptr_t i = 0; i < 50; i++) {
			snprintf(name, sizeof(name), "n%d", (int)i);
			ck_assert_int_eq(
			    shmt_runner_schedule(r, name, square, (void *)i),
			    SHMT_OK);
		}
		/* a duplicate name is refused, not overwritten */
		ck_assert_int_eq(
		    shmt_runner_schedule(r, "n7", square, (void *)99),
		    SHMT_EEXIST);
		ck_assert_int_eq(shmt_runner_run(r, &res, &n), SHMT_OK);
		ck_assert_uint_eq(n, 50);
		for (intptr_t i = 0; i < 50; i++) {
			snprintf(name, sizeof(name), "n%d", (int)i);
			ck_assert_str_eq(res[i].name, name);
			ck_assert_int_eq((intptr_t)res[i].result, i * i);
			ck_assert_int_eq(res[i].error, i % 7 == 3 ? 42 : 0);
		}
	}
	ck_assert_int_eq(shmt_runner_run(r, &res, &n), SHMT_OK); /* cleared */
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(shmt_runner_schedule(r, NULL, square, (void *)2),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_runner_run(r, &res, &n), SHMT_OK);
	ck_assert_ptr_nonnull(strstr(res[0].name, "task-"));
	shmt_runner_destroy(r); /* joins the workers */
	shmt_runner_destroy(NULL);
	ck_assert_int_eq(shmt_runner_create(&r, 0), SHMT_EINVAL);
}
END_TEST

Suite *
runner_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc = tcase_create("runner");

	tcase_add_test(
	    tc, defect11_results_in_order_failures_kept_names_unique_reusable);
	suite_add_tcase(s, tc);
	return s;
}
