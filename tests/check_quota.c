/* check_quota.c - the quota headers of every dialect, as a table, and the
 * values that must be ignored (epochs never taken for delays, garbage,
 * contradictions, the cap). */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* 2023-11-14T22:13:20Z */
#define NOW 1700000000.0
#define CAP 21600.0
#define U -1 /* unknown */

struct row {
	const char *what;
	const char *h[6][2];
	int dialect;
	uint32_t limit;
	double window;
	int64_t remaining;
	double reset, retry_after;
};

static const struct row table[] = {
	/* the IETF draft, structured fields */
	{ "ietf",
	  { { "RateLimit-Policy", "\"default\";q=20;w=1" },
	    { "RateLimit", "\"default\";r=3;t=1" } },
	  SHMT_QUOTA_IETF,
	  20,
	  1,
	  3,
	  1,
	  U },
	{ "ietf, two policies: the one with fewer left binds",
	  { { "RateLimit-Policy",
	      "\"burst\";q=100;w=60, \"day\";q=1000;w=86400" },
	    { "RateLimit", "\"burst\";r=50;t=30, \"day\";r=5;t=3600" } },
	  SHMT_QUOTA_IETF,
	  1000,
	  86400,
	  5,
	  3600,
	  U },
	{ "ietf, policy only",
	  { { "ratelimit-policy", "\"a\";q=10;w=1, \"b\";q=100;w=60" } },
	  SHMT_QUOTA_IETF,
	  100,
	  60,
	  U,
	  U,
	  U },
	{ "ietf, a quota of bytes is not ours",
	  { { "RateLimit-Policy", "\"b\";q=9000;w=1;qu=\"content-bytes\"" },
	    { "RateLimit", "\"b\";r=10;t=1" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  U },
	{ "ietf draft-07 dictionary",
	  { { "RateLimit", "limit=10, remaining=1, reset=7" },
	    { "RateLimit-Policy", "10;w=1" } },
	  SHMT_QUOTA_IETF,
	  10,
	  1,
	  1,
	  7,
	  U },
	{ "ietf with Retry-After",
	  { { "RateLimit-Policy", "\"default\";q=20;w=1" },
	    { "RateLimit", "\"default\";r=0;t=1" },
	    { "Retry-After", "1" } },
	  SHMT_QUOTA_IETF,
	  20,
	  1,
	  0,
	  1,
	  1 },
	{ "ietf, malformed: ignored",
	  { { "RateLimit-Policy", "\"default\";q=-20;w=1" },
	    { "RateLimit", "\"default\";r=x;t=1" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  U },
	/* the older draft, and GitLab's epoch */
	{ "ietf-old",
	  { { "RateLimit-Limit", "20" },
	    { "RateLimit-Remaining", "7" },
	    { "RateLimit-Reset", "1" } },
	  SHMT_QUOTA_IETF_OLD,
	  20,
	  0,
	  7,
	  1,
	  U },
	{ "gitlab: RateLimit-Reset as an epoch",
	  { { "RateLimit-Limit", "600" },
	    { "RateLimit-Remaining", "0" },
	    { "RateLimit-Reset", "1700000042" } },
	  SHMT_QUOTA_IETF_OLD,
	  600,
	  0,
	  0,
	  42,
	  U },
	/* X-RateLimit-*: GitHub, X, Discord */
	{ "github: an epoch reset is never a delay",
	  { { "x-ratelimit-limit", "5000" },
	    { "x-ratelimit-remaining", "0" },
	    { "x-ratelimit-reset", "1700000600" },
	    { "x-ratelimit-used", "5000" } },
	  SHMT_QUOTA_XRATELIMIT,
	  5000,
	  0,
	  0,
	  600,
	  U },
	{ "github: the Date header when our clock is off",
	  { { "x-ratelimit-limit", "60" },
	    { "x-ratelimit-remaining", "1" },
	    { "x-ratelimit-reset", "1700007210" },
	    { "Date", "Wed, 15 Nov 2023 00:13:20 GMT" } },
	  SHMT_QUOTA_XRATELIMIT,
	  60,
	  0,
	  1,
	  10,
	  U },
	{ "github: our clock, when it agrees with Date",
	  { { "x-ratelimit-limit", "60" },
	    { "x-ratelimit-remaining", "1" },
	    { "x-ratelimit-reset", "1700000010" },
	    { "Date", "Tue, 14 Nov 2023 22:13:19 GMT" } },
	  SHMT_QUOTA_XRATELIMIT,
	  60,
	  0,
	  1,
	  10,
	  U },
	{ "x: x-rate-limit-*",
	  { { "x-rate-limit-limit", "900" },
	    { "x-rate-limit-remaining", "899" },
	    { "x-rate-limit-reset", "1700000900" } },
	  SHMT_QUOTA_XRATELIMIT,
	  900,
	  0,
	  899,
	  900,
	  U },
	{ "discord: Reset-After wins over the epoch",
	  { { "X-RateLimit-Limit", "5" },
	    { "X-RateLimit-Remaining", "0" },
	    { "X-RateLimit-Reset", "1700000099.5" },
	    { "X-RateLimit-Reset-After", "1.25" } },
	  SHMT_QUOTA_XRATELIMIT,
	  5,
	  0,
	  0,
	  1.25,
	  U },
	{ "epoch milliseconds",
	  { { "x-ratelimit-limit", "5" },
	    { "x-ratelimit-remaining", "2" },
	    { "x-ratelimit-reset", "1700000002500" } },
	  SHMT_QUOTA_XRATELIMIT,
	  5,
	  0,
	  2,
	  2.5,
	  U },
	{ "gitlab-style seconds in X-RateLimit-Reset",
	  { { "x-ratelimit-limit", "5" },
	    { "x-ratelimit-remaining", "2" },
	    { "x-ratelimit-reset", "30" } },
	  SHMT_QUOTA_XRATELIMIT,
	  5,
	  0,
	  2,
	  30,
	  U },
	/* OpenAI: durations, retry-after-ms */
	{ "openai 6m0s",
	  { { "x-ratelimit-limit-requests", "60" },
	    { "x-ratelimit-remaining-requests", "59" },
	    { "x-ratelimit-reset-requests", "6m0s" },
	    { "x-ratelimit-limit-tokens", "150000" } },
	  SHMT_QUOTA_OPENAI,
	  60,
	  0,
	  59,
	  360,
	  U },
	{ "openai 120ms",
	  { { "x-ratelimit-limit-requests", "20" },
	    { "x-ratelimit-remaining-requests", "0" },
	    { "x-ratelimit-reset-requests", "120ms" },
	    { "retry-after-ms", "120" } },
	  SHMT_QUOTA_OPENAI,
	  20,
	  0,
	  0,
	  0.12,
	  0.12 },
	{ "openai 1h2m3.5s",
	  { { "x-ratelimit-limit-requests", "20" },
	    { "x-ratelimit-remaining-requests", "1" },
	    { "x-ratelimit-reset-requests", "1h2m3.5s" } },
	  SHMT_QUOTA_OPENAI,
	  20,
	  0,
	  1,
	  3723.5,
	  U },
	{ "openai: a bad duration is ignored, the rest kept",
	  { { "x-ratelimit-limit-requests", "20" },
	    { "x-ratelimit-remaining-requests", "1" },
	    { "x-ratelimit-reset-requests", "-5s" } },
	  SHMT_QUOTA_OPENAI,
	  20,
	  0,
	  1,
	  U,
	  U },
	/* Anthropic: RFC 3339 */
	{ "anthropic",
	  { { "anthropic-ratelimit-requests-limit", "50" },
	    { "anthropic-ratelimit-requests-remaining", "0" },
	    { "anthropic-ratelimit-requests-reset", "2023-11-14T22:13:50Z" } },
	  SHMT_QUOTA_ANTHROPIC,
	  50,
	  0,
	  0,
	  30,
	  U },
	{ "anthropic with an offset and fractions",
	  { { "anthropic-ratelimit-requests-limit", "50" },
	    { "anthropic-ratelimit-requests-remaining", "3" },
	    { "anthropic-ratelimit-requests-reset",
	      "2023-11-14T23:13:21.5+01:00" } },
	  SHMT_QUOTA_ANTHROPIC,
	  50,
	  0,
	  3,
	  1.5,
	  U },
	{ "anthropic: a date in the past is now",
	  { { "anthropic-ratelimit-requests-limit", "50" },
	    { "anthropic-ratelimit-requests-remaining", "3" },
	    { "anthropic-ratelimit-requests-reset", "2023-11-14T22:13:00Z" } },
	  SHMT_QUOTA_ANTHROPIC,
	  50,
	  0,
	  3,
	  0,
	  U },
	/* Reddit */
	{ "reddit",
	  { { "x-ratelimit-used", "99" },
	    { "x-ratelimit-remaining", "1.0" },
	    { "x-ratelimit-reset", "45" } },
	  SHMT_QUOTA_REDDIT,
	  100,
	  0,
	  1,
	  45,
	  U },
	/* what must be ignored */
	{ "remaining above the limit: contradictory",
	  { { "x-ratelimit-limit", "10" },
	    { "x-ratelimit-remaining", "11" },
	    { "x-ratelimit-reset", "5" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  U },
	{ "garbage values",
	  { { "x-ratelimit-limit", "lots" },
	    { "x-ratelimit-remaining", "-3" },
	    { "x-ratelimit-reset", "soon" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  U },
	{ "an epoch far away is garbage, not a long pause",
	  { { "x-ratelimit-limit", "10" },
	    { "x-ratelimit-remaining", "0" },
	    { "x-ratelimit-reset", "1792152901" } },
	  SHMT_QUOTA_XRATELIMIT,
	  10,
	  0,
	  0,
	  U,
	  U },
	{ "a delay of two years is garbage",
	  { { "x-ratelimit-limit", "10" },
	    { "x-ratelimit-remaining", "0" },
	    { "x-ratelimit-reset", "63072000" } },
	  SHMT_QUOTA_XRATELIMIT,
	  10,
	  0,
	  0,
	  U,
	  U },
	{ "a day is capped at 6 h",
	  { { "x-ratelimit-limit", "10" },
	    { "x-ratelimit-remaining", "0" },
	    { "x-ratelimit-reset", "86400" } },
	  SHMT_QUOTA_XRATELIMIT,
	  10,
	  0,
	  0,
	  CAP,
	  U },
	{ "huge digits",
	  { { "x-ratelimit-limit", "99999999999999999999999" },
	    { "x-ratelimit-remaining", "1" },
	    { "x-ratelimit-reset", "99999999999999999999999999999999" } },
	  SHMT_QUOTA_XRATELIMIT,
	  0,
	  0,
	  1,
	  U,
	  U },
	{ "no rate-limit header: only retry-after-ms",
	  { { "retry-after-ms", "250" }, { "Content-Type", "text/plain" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  0.25 },
	{ "nothing",
	  { { "Content-Type", "text/plain" } },
	  SHMT_QUOTA_NONE,
	  0,
	  0,
	  U,
	  U,
	  U },
};

static void
near(double got, double want, const char *what, const char *field)
{
	ck_assert_msg(fabs(got - want) < 1e-6, "%s: %s %g, want %g", what,
	              field, got, want);
}

START_TEST(quota_table)
{
	const struct row *r = &table[_i];
	shmt_http_header h[6];
	shmt_quota q;
	size_t n = 0;

	while (n < 6 && r->h[n][0]) {
		h[n] = (shmt_http_header){ r->h[n][0], r->h[n][1] };
		n++;
	}
	ck_assert_int_eq(shmt_quota_parse(h, n, NOW, CAP, &q), SHMT_OK);
	ck_assert_msg(q.dialect == r->dialect, "%s: dialect %s, want %s",
	              r->what, shmt_quota_dialect_name(q.dialect),
	              shmt_quota_dialect_name(r->dialect));
	ck_assert_msg(q.limit == r->limit, "%s: limit %u, want %u", r->what,
	              q.limit, r->limit);
	ck_assert_msg(q.remaining == r->remaining, "%s: remaining %lld",
	              r->what, (long long)q.remaining);
	near(q.window, r->window, r->what, "window");
	near(q.reset, r->reset, r->what, "reset");
	near(q.retry_after, r->retry_after, r->what, "retry_after");
}
END_TEST

START_TEST(arguments_are_checked)
{
	shmt_quota q;
	shmt_http_header h = { "x-ratelimit-limit", "5" };

	ck_assert_int_eq(shmt_quota_parse(&h, 1, NOW, CAP, NULL), SHMT_EINVAL);
	ck_assert_int_eq(shmt_quota_parse(NULL, 1, NOW, CAP, &q), SHMT_EINVAL);
	ck_assert_int_eq(shmt_quota_parse(&h, 1, NOW, 0, &q), SHMT_EINVAL);
	ck_assert_int_eq(shmt_quota_parse(NULL, 0, NOW, CAP, &q), SHMT_OK);
	ck_assert_int_eq(q.dialect, SHMT_QUOTA_NONE);
	/* NULL names and values are skipped */
	h.value = NULL;
	ck_assert_int_eq(shmt_quota_parse(&h, 1, NOW, CAP, &q), SHMT_OK);
	ck_assert_int_eq(q.dialect, SHMT_QUOTA_NONE);
	ck_assert_str_eq(shmt_quota_dialect_name(SHMT_QUOTA_OPENAI), "openai");
	ck_assert_str_eq(shmt_quota_dialect_name(99), "none");
}
END_TEST

START_TEST(the_header_is_named)
{
	shmt_http_header h[] = { { "X-RateLimit-Limit", "5" },
		                 { "X-RateLimit-Remaining", "4" } };
	shmt_quota q;

	shmt_quota_parse(h, 2, NOW, CAP, &q);
	ck_assert_str_eq(q.header, "x-ratelimit-limit");
	shmt_quota_parse(h + 1, 1, NOW, CAP, &q);
	ck_assert_str_eq(q.header, "x-ratelimit-remaining");
}
END_TEST

Suite *
quota_suite(void)
{
	Suite *s = suite_create("quota");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, quota_table, 0,
	                    (int)(sizeof(table) / sizeof(table[0])));
	tcase_add_test(tc, arguments_are_checked);
	tcase_add_test(tc, the_header_is_named);
	suite_add_tcase(s, tc);
	return s;
}
