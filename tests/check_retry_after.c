/* check_retry_after.c - the Retry-After table. */
#include <string.h>

#include "testutil.h"

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define SENT 784111777.0

static const struct {
	const char *value;
	const char *date;
	int rc;
	double seconds;
} table[] = {
	{ "120", NULL, SHMT_OK, 120 },
	{ "0", NULL, SHMT_OK, 0 },
	{ "2.25", NULL, SHMT_OK, 2.25 },
	{ "  7\t", NULL, SHMT_OK, 7 },
	{ "99999999999999999999999999", NULL, SHMT_OK, 3600 }, /* capped */
	{ "86400", NULL, SHMT_OK, 3600 },
	{ "Sun, 06 Nov 1994 08:49:47 GMT", NULL, SHMT_OK, 10 },   /* IMF */
	{ "Sunday, 06-Nov-94 08:49:47 GMT", NULL, SHMT_OK, 10 },  /* RFC 850 */
	{ "Sun Nov  6 08:49:47 1994", NULL, SHMT_OK, 10 },        /* asctime */
	{ "Sun, 06 Nov 1994 08:00:00 GMT", NULL, SHMT_OK, 0 },    /* past */
	{ "Mon, 07 Nov 1994 08:49:37 GMT", NULL, SHMT_OK, 3600 }, /* far */
	{ "Sun, 06 Nov 1994 08:49:47 GMT", "Sun, 06 Nov 1994 08:49:42 GMT",
	  SHMT_OK, 5 }, /* Date */
	{ "Sun, 06 Nov 1994 08:49:47 GMT", "garbage", SHMT_OK, 10 },
	{ "", NULL, SHMT_EHEADER, 0 },
	{ "   ", NULL, SHMT_EHEADER, 0 },
	{ "-1", NULL, SHMT_EHEADER, 0 },
	{ "+5", NULL, SHMT_EHEADER, 0 },
	{ ".5", NULL, SHMT_EHEADER, 0 },
	{ "5.", NULL, SHMT_EHEADER, 0 },
	{ "1e3", NULL, SHMT_EHEADER, 0 },
	{ "12 34", NULL, SHMT_EHEADER, 0 },
	{ "0x10", NULL, SHMT_EHEADER, 0 },
	{ "soon", NULL, SHMT_EHEADER, 0 },
	{ "Sun, 99 Nov 1994 08:49:47 GMT", NULL, SHMT_EHEADER, 0 },
};

START_TEST(retry_after_table)
{
	double s = -1;
	int rc = shmt_retry_after_parse(table[_i].value, table[_i].date, SENT,
	                                3600, &s);

	ck_assert_msg(rc == table[_i].rc, "'%s': rc %d, want %d",
	              table[_i].value, rc, table[_i].rc);
	if (rc == SHMT_OK)
		ck_assert_msg(s == table[_i].seconds, "'%s': %g s, want %g",
		              table[_i].value, s, table[_i].seconds);
}
END_TEST

START_TEST(retry_after_bad_arguments)
{
	double s;
	char big[300];

	ck_assert_int_eq(shmt_retry_after_parse(NULL, NULL, SENT, 10, &s),
	                 SHMT_EINVAL);
	ck_assert_int_eq(shmt_retry_after_parse("5", NULL, SENT, 0, &s),
	                 SHMT_EINVAL);
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(shmt_retry_after_parse(big, NULL, SENT, 10, &s),
	                 SHMT_EHEADER);
}
END_TEST

Suite *
retry_after_suite(void)
{
	Suite *s = suite_create("retry-after");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, retry_after_table, 0,
	                    (int)(sizeof(table) / sizeof(table[0])));
	tcase_add_test(tc, retry_after_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}
