/* check_cost_servers.c - issue 14 end to end: scripts/cost-server counts
 * units of cost (X-Cost) and requests in flight at arrival; independent
 * `xargs -P` pipelines of throttle-curl with random costs, half of them
 * refunded through a usage header, share one throttle: no refusal, every
 * request answered.  The shell recipes of throttlectl: the calling shell
 * holds the place of `acquire`, `run` holds its own, and a killed holder
 * gives it back.  Counts, never time. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redisutil.h"
#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR and SOURCE_DIR must be defined"
#endif
#define CTL TOOLS_DIR "/throttlectl"
#define TCURL TOOLS_DIR "/throttle-curl"
#define SCRIPTS SOURCE_DIR "/scripts"

static char out[1 << 16];

struct server {
	char dir[64];
	int port;
};

static void
start(struct server *s, int units, int concurrency)
{
	char port[64];

	snprintf(s->dir, sizeof(s->dir), "/tmp/shmt-cost-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	ck_assert_msg(
	    test_sh(port, sizeof(port),
	            "python3 %s/cost-server --units %d --period 1 "
	            "--concurrency %d --delay-ms 20-60 --port-file %s/port "
	            "--pid-file %s/pid --log %s/log --owner %ld --lifetime 120 "
	            "--setsid </dev/null >%s/err 2>&1 & i=0; "
	            "while [ ! -s %s/port ] && [ $i -lt 200 ]; do sleep 0.05; "
	            "i=$((i + 1)); done; cat %s/port",
	            SCRIPTS, units, concurrency, s->dir, s->dir, s->dir,
	            (long)getpid(), s->dir, s->dir, s->dir) == 0,
	    "cost-server did not start (is python3 installed?)");
	s->port = atoi(port);
	ck_assert_int_gt(s->port, 0);
}

static void
stop(struct server *s)
{
	test_sh(NULL, 0, "kill $(cat %s/pid) 2>/dev/null; rm -rf %s", s->dir,
	        s->dir);
}

/* A number from `cost-server --count`. */
static long
counted(const struct server *s, int units, const char *what)
{
	char buf[64];

	test_sh(buf, sizeof(buf),
	        "python3 %s/cost-server --count %s/log --units %d --period 1 "
	        "| sed -n 's/^%s //p'",
	        SCRIPTS, s->dir, units, what);
	return atol(buf);
}

START_TEST(pipelines_with_random_costs_get_every_answer_and_no_refusal)
{
	const char *name = test_name("cpipe");
	struct server s;
	int rc;

	start(&s, 2000, 4);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create %s --units 2000/1 --concurrency 4",
	            name),
	    0);
	/* four pipelines of 20 requests, each of a random cost, half of it
	 * used (the server says so in X-Cost-Used; throttle-curl refunds) */
	rc = test_sh(
	    out, sizeof(out),
	    "cd %s && for k in 1 2 3 4; do "
	    "(for i in $(seq 1 20); do c=$(( (RANDOM %% 400) + 1 )); "
	    "echo $c $(( c / 2 )); done | xargs -P 4 -n 2 sh -c "
	    "'exec " TCURL " -t %s -s -o /dev/null -w \"%%{http_code}\\n\" "
	    "--cost $0 --cost-header X-Cost-Used -H \"X-Cost: $0\" "
	    "-H \"X-Cost-Actual: $1\" http://127.0.0.1:%d/x' > out.$k) & "
	    "done; wait; cat out.* | grep -c '^200$'",
	    s.dir, name, s.port);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(atoi(out), 80);
	ck_assert_int_eq(counted(&s, 2000, "requests"), 80);
	ck_assert_int_eq(counted(&s, 2000, "refused"), 0);
	ck_assert_int_le(counted(&s, 2000, "max_inflight"), 4);
	ck_assert_int_le(counted(&s, 2000, "max_units"), 2000);
	stop(&s);
	shmt_remove(name);
}
END_TEST

/* Issue 13: the same pipelines sharing a throttle on Redis (its unit
 * limit and the refunds; no cap there: the server's is out of reach). */
START_TEST(pipelines_on_redis_with_random_costs_get_no_refusal)
{
	struct test_redis r;
	struct server s;
	int rc;

	test_redis_start(&r, "");
	start(&s, 2000, 100);
	setenv("THROTTLE_BACKEND", r.url, 1);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " create rcpipe --units 2000/1"),
	                 0);
	rc = test_sh(
	    out, sizeof(out),
	    "cd %s && for k in 1 2 3 4; do "
	    "(for i in $(seq 1 20); do c=$(( (RANDOM %% 400) + 1 )); "
	    "echo $c $(( c / 2 )); done | xargs -P 4 -n 2 sh -c "
	    "'exec " TCURL " -t rcpipe -s -o /dev/null -w \"%%{http_code}\\n\" "
	    "--cost $0 --cost-header X-Cost-Used -H \"X-Cost: $0\" "
	    "-H \"X-Cost-Actual: $1\" http://127.0.0.1:%d/x' > out.$k) & "
	    "done; wait; cat out.* | grep -c '^200$'",
	    s.dir, s.port);
	unsetenv("THROTTLE_BACKEND");
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(atoi(out), 80);
	ck_assert_int_eq(counted(&s, 2000, "requests"), 80);
	ck_assert_int_eq(counted(&s, 2000, "refused"), 0);
	ck_assert_int_le(counted(&s, 2000, "max_units"), 2000);
	stop(&s);
	test_redis_stop(&r);
}
END_TEST

START_TEST(without_the_throttle_the_same_pipelines_are_refused)
{
	struct server s;

	/* the control: the server does refuse what overruns it */
	start(&s, 2000, 4);
	test_sh(
	    NULL, 0,
	    "for i in $(seq 1 40); do curl -s -o /dev/null -H 'X-Cost: 300' "
	    "http://127.0.0.1:%d/x & done; wait",
	    s.port);
	ck_assert_int_gt(counted(&s, 2000, "refused"), 0);
	stop(&s);
}
END_TEST

/* How many places `status --json` says are held. */
static int
inflight(const char *name)
{
	char buf[4096], *p;

	test_sh(buf, sizeof(buf), CTL " status %s --json", name);
	p = strstr(buf, "\"inflight\":");
	ck_assert_ptr_nonnull(p);
	return atoi(p + strlen("\"inflight\":"));
}

START_TEST(the_shell_that_acquired_holds_the_place_and_gives_it_back)
{
	const char *name = test_name("cshell");
	char buf[256];

	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create %s --concurrency 1", name), 0);
	/* a shell that acquires and records: the place comes back */
	ck_assert_int_eq(test_sh(NULL, 0,
	                         "tk=$(" CTL " acquire %s --cost 5) && " CTL
	                         " record %s 200 --ticket $tk --cost 3",
	                         name, name),
	                 0);
	ck_assert_int_eq(inflight(name), 0);
	/* acquire exits at once, the shell lives on: the place is the
	 * shell's, still held (not reclaimed from the acquire gone) */
	ck_assert_int_eq(test_sh(buf, sizeof(buf),
	                         "sh -c '" CTL " acquire %s >/dev/null; " CTL
	                         " acquire %s --timeout 0 >/dev/null; echo $?'",
	                         name, name),
	                 0);
	ck_assert_int_eq(atoi(buf), 1);
	/* a shell that acquires and is killed: found out by the next */
	ck_assert_int_eq(test_sh(NULL, 0,
	                         "sh -c '" CTL " acquire %s >/dev/null; "
	                         "kill -9 $$'",
	                         name),
	                 128 + 9);
	ck_assert_int_eq(test_sh(buf, sizeof(buf),
	                         CTL " acquire %s --timeout 1 --owner %ld",
	                         name, (long)getpid()),
	                 0);
	/* ours now; a check paces without a place */
	ck_assert_int_eq(test_sh(NULL, 0, CTL " check %s", name), 0);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " acquire %s --timeout 0", name),
	                 1);
	buf[strcspn(buf, "\n")] = '\0';
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " record %s 200 --ticket %s", name, buf), 0);
	ck_assert_int_eq(inflight(name), 0);
	shmt_remove(name);
}
END_TEST

START_TEST(run_holds_its_place_for_the_whole_command)
{
	const char *name = test_name("crun");
	char buf[256];

	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create %s --concurrency 1", name), 0);
	/* while the command runs, the place is taken */
	ck_assert_int_eq(test_sh(buf, sizeof(buf),
	                         CTL " run %s -- sh -c '" CTL
	                             " acquire %s --timeout 0 >/dev/null; "
	                             "echo $?; exit 7'",
	                         name, name),
	                 7);
	ck_assert_int_eq(atoi(buf), 1);
	ck_assert_int_eq(inflight(name), 0);
	/* run killed with its command: the place comes back */
	test_sh(NULL, 0,
	        "(" CTL " run %s -- sleep 2 & sleep 0.3; kill -9 $!; wait) "
	        "2>/dev/null",
	        name);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " run %s --timeout 2 -- true", name), 0);
	/* a cost no window holds */
	ck_assert_int_eq(test_sh(NULL, 0, CTL " set %s --units 100/1", name),
	                 0);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " acquire %s --cost 101 2>/dev/null", name),
	    12);
	shmt_remove(name);
}
END_TEST

Suite *
cost_servers_suite(void)
{
	Suite *s = suite_create("cost-servers");
	TCase *tc = tcase_create("servers");
	TCase *tt = tcase_create("shell");

	tcase_add_test(
	    tc, pipelines_with_random_costs_get_every_answer_and_no_refusal);
	tcase_add_test(tc, without_the_throttle_the_same_pipelines_are_refused);
	tcase_add_test(tc, pipelines_on_redis_with_random_costs_get_no_refusal);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tcase_add_test(
	    tt, the_shell_that_acquired_holds_the_place_and_gives_it_back);
	tcase_add_test(tt, run_holds_its_place_for_the_whole_command);
	tcase_set_timeout(tt, 60);
	suite_add_tcase(s, tt);
	return s;
}
