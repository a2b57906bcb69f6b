/* check_errors.c - the error contract: one sentence per code, one meaning
 * per code, errno kept for SHMT_ESYS, and the ABI's reserved space. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "ring.h"
#include "testutil.h"

START_TEST(every_code_has_its_own_sentence)
{
	const char *unknown = shmt_strerror(-1);

	ck_assert_str_eq(shmt_strerror(SHMT_ECOST + 1), unknown);
	for (int a = SHMT_OK; a <= SHMT_ECOST; a++) {
		ck_assert_ptr_nonnull(shmt_strerror(a));
		ck_assert_msg(strcmp(shmt_strerror(a), unknown) != 0,
		              "code %d has no sentence", a);
		for (int b = SHMT_OK; b < a; b++)
			ck_assert_msg(
			    strcmp(shmt_strerror(a), shmt_strerror(b)) != 0,
			    "codes %d and %d share a sentence", a, b);
	}
}
END_TEST

START_TEST(a_log_full_of_reservations_is_efull_not_ebusy)
{
	const char *name = test_name("full");
	shmt_config c = one_rate(1, 1000);
	shmt_throttle *t;
	shmt_ticket tk;
	struct shmt_seg *sg;

	c.capacity = 16;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	sg = shmt_seg_of(t);
	/* sixteen processes waiting for slots hours away */
	for (int i = 0; i < 16; i++)
		shmt_ring_append(&sg->ring, mono_now() + (i + 1) * 1000 * NS);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_EFULL);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

static int
schedule_self(void *arg, void **result)
{
	*result = NULL;
	return shmt_runner_schedule(arg, "late", schedule_self, arg);
}

START_TEST(a_runner_busy_running_is_erunning)
{
	shmt_runner *r;
	const shmt_task_result *res;
	size_t n;

	ck_assert_int_eq(shmt_runner_create(&r, 1), SHMT_OK);
	ck_assert_int_eq(shmt_runner_schedule(r, "a", schedule_self, r),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_runner_run(r, &res, &n), SHMT_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(res[0].error, SHMT_ERUNNING);
	shmt_runner_destroy(r);
}
END_TEST

START_TEST(errno_survives_a_failed_open)
{
	const char *name = test_name("errno");
	char path[128];
	shmt_config c = one_rate(5, 1);
	shmt_throttle *t = (shmt_throttle *)&t;

	/* a folder where the segment should be: shm_open says EINVAL (glibc
	 * turns EISDIR into the EINVAL POSIX asks for) */
	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", name);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	errno = 0;
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_ESYS);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(t);
	rmdir(path);
}
END_TEST

START_TEST(reserved_space_is_zeroed_and_checked)
{
	const char *name = test_name("abi");
	shmt_config c = one_rate(5, 1);
	shmt_curl_opts o;
	shmt_throttle *t;
	shmt_stat st;

	for (size_t i = 0; i < sizeof(c.reserved); i++)
		ck_assert_uint_eq(c.reserved[i], 0);
	ck_assert_int_eq(shmt_open(&t, name, &c, SHMT_CREATE), SHMT_OK);
	memset(&st, 0xa5, sizeof(st));
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	for (size_t i = 0; i < sizeof(st.reserved); i++)
		ck_assert_uint_eq(st.reserved[i], 0);
	for (size_t i = 0; i < sizeof(st.config.reserved); i++)
		ck_assert_uint_eq(st.config.reserved[i], 0);
	/* a field this library does not know yet is refused, not ignored */
	c.reserved[sizeof(c.reserved) - 1] = 1;
	ck_assert_int_eq(shmt_config_check(&c), SHMT_ECONFIG);
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_ECONFIG);
	shmt_curl_opts_init(&o);
	for (size_t i = 0; i < sizeof(o.reserved); i++)
		ck_assert_uint_eq(o.reserved[i], 0);
	shmt_close(t);
	shmt_remove(name);
}
END_TEST

Suite *
errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("contract");

	tcase_add_test(tc, every_code_has_its_own_sentence);
	tcase_add_test(tc, a_log_full_of_reservations_is_efull_not_ebusy);
	tcase_add_test(tc, a_runner_busy_running_is_erunning);
	tcase_add_test(tc, errno_survives_a_failed_open);
	tcase_add_test(tc, reserved_space_is_zeroed_and_checked);
	suite_add_tcase(s, tc);
	return s;
}
