/* check_arrivals.c - zero refusals at servers that count arrivals: a
 * sliding window, clock-aligned fixed windows (Retry-After as an
 * HTTP-date) and nginx limit_req, each also behind a relay that delays
 * every request by a random 10-40 ms.  Independent `xargs -P 8`
 * pipelines of throttle-curl share one known limit; the tests count what
 * the servers refused and what the clients got, never time. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR and SOURCE_DIR must be defined"
#endif
#define TCURL TOOLS_DIR "/throttle-curl"
#define SCRIPTS SOURCE_DIR "/scripts"
#define LIMIT 10
#define PIPES 4
#define PER 15
#define JITTER "10-40"

struct server {
	char dir[64];
	/* where the clients connect: the server's or the relay's */
	int port;
	int nginx;
};

static char out[1 << 16];

static void
make_dir(struct server *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/shmt-arr-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	/* nginx's workers (nobody) must reach its folders */
	ck_assert_int_eq(test_sh(NULL, 0, "chmod 755 %s", s->dir), 0);
}

/* scripts/test-server: MODE is sliding or fixed. */
static void
start_python(struct server *s, const char *mode, int jitter)
{
	char port[64];

	make_dir(s);
	ck_assert_msg(test_sh(port, sizeof(port),
	                      "TEST_SERVER_OWNER=%ld TEST_SERVER_LIFETIME=120 "
	                      "%s/test-server start %s %s %d 1 %s",
	                      (long)getpid(), SCRIPTS, s->dir, mode, LIMIT,
	                      jitter ? "--relay " JITTER : "") == 0,
	              "test-server did not start (is python3 installed?)");
	s->port = atoi(port);
	ck_assert_int_gt(s->port, 0);
}

/* nginx limit_req LIMIT r/s, burst LIMIT; the relay in front of it. */
static void
start_nginx(struct server *s, int jitter)
{
	char port[64];

	make_dir(s);
	s->nginx = 1;
	ck_assert_msg(test_sh(port, sizeof(port),
	                      "NGINX_OWNER=%ld %s/nginx-server start %s %d %d",
	                      (long)getpid(), SCRIPTS, s->dir, LIMIT,
	                      LIMIT) == 0,
	              "nginx did not start (is nginx-light installed?)");
	s->port = atoi(port);
	ck_assert_int_gt(s->port, 0);
	if (!jitter)
		return;
	ck_assert_int_eq(
	    test_sh(port, sizeof(port),
	            "python3 %s/jitter-relay --to %d --listen-port 0 "
	            "--port-file %s/relay.port --pid-file %s/relay.pid "
	            "--delay-ms " JITTER " --owner %ld --lifetime 120 --setsid "
	            "</dev/null >/dev/null 2>%s/relay.err & "
	            "i=0; while [ ! -s %s/relay.port ] && [ $i -lt 200 ]; do "
	            "sleep 0.05; i=$((i + 1)); done; cat %s/relay.port",
	            SCRIPTS, s->port, s->dir, s->dir, (long)getpid(), s->dir,
	            s->dir, s->dir),
	    0);
	s->port = atoi(port);
	ck_assert_int_gt(s->port, 0);
}

static void
stop(struct server *s)
{
	if (s->nginx)
		test_sh(NULL, 0,
		        "%s/nginx-server stop %s; "
		        "[ -s %s/relay.pid ] && kill $(cat %s/relay.pid)",
		        SCRIPTS, s->dir, s->dir, s->dir);
	else
		test_sh(NULL, 0, "%s/test-server stop %s", SCRIPTS, s->dir);
	test_sh(NULL, 0, "rm -rf %s", s->dir);
}

/* Requests the server refused, from its own log. */
static int
refused(const struct server *s)
{
	char buf[64];

	if (s->nginx)
		test_sh(buf, sizeof(buf),
		        "awk '$1 == 429' %s/logs/access.log | wc -l", s->dir);
	else
		test_sh(buf, sizeof(buf),
		        "%s/test-server count %s | sed -n 's/^refused //p'",
		        SCRIPTS, s->dir);
	return atoi(buf);
}

/* PIPES independent `xargs -P 8` pipelines of throttle-curl, each its
 * own process tree, sharing one throttle by name: every URL answered,
 * none refused. */
static void
zero_refusals(struct server *s)
{
	const char *name = test_name("arrivals");

	test_sh(out, sizeof(out),
	        "for k in $(seq %d); do "
	        "  seq %d | sed \"s|^|http://127.0.0.1:%d/api/p$k-|\" | "
	        "  xargs -P 8 -n 3 %s -t %s --period 1 --max %d --retries 10 "
	        "    -s -o /dev/null -w '%%{http_code}\\n' & "
	        "done; wait",
	        PIPES, PER, s->port, TCURL, name, LIMIT);
	int ok = count_lines(out, "200\n"), no = refused(s);
	char why[1024] = "";

	/* on a failure, what the processes measured: the margin and why */
	if (ok != PIPES * PER || no != 0)
		test_sh(why, sizeof(why),
		        TOOLS_DIR "/throttlectl status %s | "
		                  "grep -E 'Margin|Measured|429|Requests'",
		        name);
	ck_assert_msg(ok == PIPES * PER && no == 0,
	              "%d of %d answered, %d refused by the server; %s", ok,
	              PIPES * PER, no, why);
	stop(s);
	shmt_remove(name);
}

START_TEST(sliding_window)
{
	struct server s = { 0 };

	start_python(&s, "sliding", 0);
	zero_refusals(&s);
}
END_TEST

START_TEST(sliding_window_with_jitter)
{
	struct server s = { 0 };

	start_python(&s, "sliding", 1);
	zero_refusals(&s);
}
END_TEST

START_TEST(fixed_windows)
{
	struct server s = { 0 };

	start_python(&s, "fixed", 0);
	zero_refusals(&s);
}
END_TEST

START_TEST(fixed_windows_with_jitter)
{
	struct server s = { 0 };

	start_python(&s, "fixed", 1);
	zero_refusals(&s);
}
END_TEST

START_TEST(nginx_limit_req)
{
	struct server s = { 0 };

	start_nginx(&s, 0);
	zero_refusals(&s);
}
END_TEST

START_TEST(nginx_limit_req_with_jitter)
{
	struct server s = { 0 };

	start_nginx(&s, 1);
	zero_refusals(&s);
}
END_TEST

Suite *
arrivals_suite(void)
{
	Suite *s = suite_create("arrivals");
	TCase *tc = tcase_create("zero-refusals");

	/* each run is about 5 s of pacing (60 URLs at 10/s) */
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, sliding_window);
	tcase_add_test(tc, sliding_window_with_jitter);
	tcase_add_test(tc, fixed_windows);
	tcase_add_test(tc, fixed_windows_with_jitter);
	tcase_add_test(tc, nginx_limit_req);
	tcase_add_test(tc, nginx_limit_req_with_jitter);
	suite_add_tcase(s, tc);
	return s;
}
