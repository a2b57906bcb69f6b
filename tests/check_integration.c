/* check_integration.c - the real tools against a real rate-limited server:
 * nginx limit_req on loopback, started from a temporary prefix. */
#define _DEFAULT_SOURCE /* mkdtemp, setenv */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR and SOURCE_DIR must be defined"
#endif
#define TCURL TOOLS_DIR "/throttle-curl"
#define SERVER SOURCE_DIR "/scripts/nginx-server"

struct server {
	char dir[64];
	int port;
};

static void
server_start(struct server *s, int rate, int burst, const char *date)
{
	char out[64];

	snprintf(s->dir, sizeof(s->dir), "/tmp/shmt-nginx-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	/* NGINX_OWNER: the server goes when this test's process does */
	ck_assert_msg(test_sh(out, sizeof(out),
	                      "NGINX_OWNER=%ld %s start %s %d %d %s",
	                      (long)getpid(), SERVER, s->dir, rate, burst,
	                      date ? date : "") == 0,
	              "nginx did not start (is nginx-light installed?)");
	s->port = atoi(out);
	ck_assert_int_gt(s->port, 0);
}

static void
server_stop(struct server *s)
{
	test_sh(NULL, 0, "%s stop %s; rm -rf %s", SERVER, s->dir, s->dir);
}

/* Requests the server answered with `status`, under URIs starting with p. */
static int
server_count(const struct server *s, int status, const char *prefix)
{
	char out[64];

	test_sh(out, sizeof(out),
	        "awk '$1 == %d && index($2, \"%s\") == 1' %s/logs/access.log"
	        " | wc -l",
	        status, prefix, s->dir);
	return atoi(out);
}

static char out[1 << 16];

/* 4 independent `xargs -P 8` pipelines of throttle-curl, each its own
 * process tree, sharing one throttle by name only. */
static int
four_pipelines(const struct server *s, const char *name, int per,
               const char *opts)
{
	return test_sh(out, sizeof(out),
	               "for k in 1 2 3 4; do "
	               "  seq %d | sed \"s|^|http://127.0.0.1:%d/api/p$k-|\" | "
	               "  xargs -P 8 -n 3 %s -t %s %s -s -o /dev/null -w "
	               "'%%{http_code}\\n' & "
	               "done; wait",
	               per, s->port, TCURL, name, opts);
}

START_TEST(known_limit_no_429_reaches_the_server)
{
	const char *name = test_name("nginx");
	struct server s;

	/* the API: 20 per second, a burst of 20 (nginx limit_req) */
	server_start(&s, 20, 20, NULL);
	four_pipelines(&s, name, 30, "--period 1 --max 20");
	ck_assert_int_eq(count_lines(out, "200\n"), 120);
	ck_assert_int_eq(server_count(&s, 200, "/api/"), 120);
	ck_assert_int_eq(server_count(&s, 429, "/api/"), 0);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(unknown_limit_still_answers_everything)
{
	const char *name = test_name("nolimit");
	struct server s;

	server_start(&s, 20, 5, NULL);
	four_pipelines(&s, name, 15, "--retries 40");
	ck_assert_int_eq(count_lines(out, "200\n"), 60);
	ck_assert_int_eq(server_count(&s, 200, "/api/"), 60);
	/* it learned from 429s, and did not hammer: far fewer than 60 x 40 */
	ck_assert_int_lt(server_count(&s, 429, "/api/"), 300);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(http_date_retry_after_is_honoured)
{
	const char *name = test_name("date");
	struct server s;
	char date[64];
	time_t when = time(NULL) + 6; /* 3 s for the server, 3 for its limit */
	int64_t start;
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "'%a, %d %b %Y %H:%M:%S GMT'", &tm);
	server_start(&s, 20, 20, date);
	start = mono_now();
	ck_assert_int_eq(
	    test_sh(out, sizeof(out),
	            "%s -t %s -w '%%{http_code} %%{num_retries}\\n'"
	            " -o /dev/null http://127.0.0.1:%d/date/a "
	            "http://127.0.0.1:%d/date/b",
	            TCURL, name, s.port, s.port),
	    0);
	ck_assert_str_eq(out, "200 0\n200 1\n");
	/* it waited for the date (at least 5 s after `when` was taken) */
	ck_assert_int_ge(mono_now() - start, 4 * NS);
	/* and was refused only once */
	ck_assert_int_eq(server_count(&s, 429, "/date/"), 1);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(the_readme_shell_recipe_shares_the_limit)
{
	const char *name = test_name("recipe");
	struct server s;

	server_start(&s, 10, 10, NULL);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         "%s/throttlectl create %s --period 1 --max 10",
	                         TOOLS_DIR, name),
	                 0);
	ck_assert_int_eq(
	    test_sh(
	        out, sizeof(out),
	        "seq 25 | sed 's|^|http://127.0.0.1:%d/api/r|' | "
	        "PATH=%s:$PATH THROTTLE_NAME=%s %s/examples/curl-workers.sh 6",
	        s.port, TOOLS_DIR, name, SOURCE_DIR),
	    0);
	ck_assert_int_eq(count_lines(out, "200 "), 25);
	ck_assert_int_eq(server_count(&s, 429, "/api/"), 0);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(threads_of_one_process_share_the_handle)
{
	const char *name = test_name("jobs");
	struct server s;

	/* 40 URLs from stdin, 8 threads, one handle; nginx 10/s, burst 10 */
	server_start(&s, 10, 10, NULL);
	ck_assert_int_eq(
	    test_sh(out, sizeof(out),
	            "seq 40 | sed 's|^|http://127.0.0.1:%d/api/j|' | "
	            "%s -t %s --period 1 --max 10 --jobs 8 -s -o /dev/null "
	            "-w '%%{http_code}\\n'",
	            s.port, TCURL, name),
	    0);
	ck_assert_int_eq(count_lines(out, "200\n"), 40);
	ck_assert_int_eq(server_count(&s, 429, "/api/"), 0);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(gnu_parallel_limit_paces_plain_curl)
{
	const char *name = test_name("par");
	struct server s;

	if (system("command -v parallel >/dev/null") != 0)
		return; /* GNU parallel is not part of the test dependencies */
	server_start(&s, 5, 5, NULL);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         "%s/throttlectl create %s --period 1 --max 5",
	                         TOOLS_DIR, name),
	                 0);
	ck_assert_int_eq(
	    test_sh(
	        out, sizeof(out),
	        "seq 15 | sed 's|^|http://127.0.0.1:%d/api/g|' | "
	        "parallel --will-cite -j 4 --limit '%s/throttlectl check %s' "
	        "curl -s -o /dev/null -w '%%{http_code}\\\\n' {}",
	        s.port, TOOLS_DIR, name),
	    0);
	ck_assert_int_eq(count_lines(out, "200\n"), 15);
	ck_assert_int_eq(server_count(&s, 429, "/api/"), 0);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(retry_max_time_counts_only_resends_sent)
{
	const char *name = test_name("rmt");
	struct server s;

	/* 1 a second, a burst of 1: the third request at once is a 429
	 * with Retry-After: 1, a pause longer than --retry-max-time */
	server_start(&s, 1, 1, NULL);
	test_sh(NULL, 0,
	        "for i in 1 2 3; do curl -s -o /dev/null "
	        "http://127.0.0.1:%d/api/warm; done",
	        s.port);
	ck_assert_int_eq(
	    test_sh(out, sizeof(out),
	            "%s -t %s --retry-max-time 0.5 -o /dev/null "
	            "-w '%%{http_code} %%{num_retries} %%{exitcode}\n' "
	            "http://127.0.0.1:%d/api/t 2>&1",
	            TCURL, name, s.port),
	    75);
	/* the resend was never sent: 0 retries, and the message says why */
	ck_assert_msg(strstr(out, "429 0 75\n"), "%s", out);
	ck_assert_msg(strstr(out, "--retry-max-time"), "%s", out);
	ck_assert_int_eq(server_count(&s, 429, "/api/t"), 1);
	server_stop(&s);
	shmt_remove(name);
}
END_TEST

START_TEST(bad_input_to_throttle_curl)
{
	const char *name = test_name("tcbad");

	ck_assert_int_eq(
	    test_sh(out, sizeof(out), "%s -t %s 2>&1", TCURL, name), 2);
	ck_assert_ptr_nonnull(strstr(out, "no URL"));
	ck_assert_int_eq(
	    test_sh(out, sizeof(out), "%s -t 'a/b' http://x 2>&1", TCURL), 2);
	ck_assert_int_eq(
	    test_sh(out, sizeof(out), "%s -t %s --jobs 0 - 2>&1", TCURL, name),
	    2);
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "%s -t %s --bogus http://x 2>&1", TCURL, name),
	                 2);
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "%s -t %s --period 1 --max 0 http://x 2>&1",
	                         TCURL, name),
	                 2);
	/* nothing listens on port 1: curl's 7, one line */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "%s -t %s http://127.0.0.1:1/ 2>&1", TCURL,
	                         name),
	                 7);
	ck_assert_ptr_nonnull(strstr(out, "Couldn't connect"));
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	/* the throttle exists now (no limit); asking for one warns, never
	 * silent */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "%s -t %s --period 1 --max 5 "
	                         "http://127.0.0.1:1/ 2>&1",
	                         TCURL, name),
	                 7);
	ck_assert_ptr_nonnull(strstr(out, "exists with other limits"));
	shmt_remove(name);
}
END_TEST

Suite *
integration_suite(void)
{
	Suite *s = suite_create("integration");
	TCase *tc = tcase_create("nginx");

	tcase_add_test(tc, known_limit_no_429_reaches_the_server);
	tcase_add_test(tc, unknown_limit_still_answers_everything);
	tcase_add_test(tc, http_date_retry_after_is_honoured);
	tcase_add_test(tc, the_readme_shell_recipe_shares_the_limit);
	tcase_add_test(tc, threads_of_one_process_share_the_handle);
	tcase_add_test(tc, gnu_parallel_limit_paces_plain_curl);
	tcase_add_test(tc, retry_max_time_counts_only_resends_sent);
	tcase_add_test(tc, bad_input_to_throttle_curl);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
