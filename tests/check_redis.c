/*
 * check_redis.c - what only the Redis backend has: its URLs, its faults
 * (a restart, SCRIPT FLUSH, CLIENT KILL, a stopped server, passwords, an
 * ACL, keys of the wrong type), what a waiter does when the server
 * vanishes, the tools' exit statuses for them, and several "hosts" whose
 * clocks disagree by minutes sharing one limit against a real
 * rate-limited server behind relays that add latency.
 */
#define _DEFAULT_SOURCE
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "redis.h"
#include "redisutil.h"
#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR and SOURCE_DIR must be defined"
#endif
#define CTL TOOLS_DIR "/throttlectl"
#define TCURL TOOLS_DIR "/throttle-curl"

static struct test_redis g_r;

static shmt_throttle *
make(const char *url, const char *name, uint32_t max, double period)
{
	shmt_config c = one_rate(max, period);
	shmt_throttle *t;

	ck_assert_int_eq(shmt_open_backend(&t, url, name, &c, SHMT_CREATE),
	                 SHMT_OK);
	return t;
}

static int
acquire(shmt_throttle *t, double timeout)
{
	shmt_ticket tk;

	shmt_ticket_init(&tk);
	return shmt_acquire(t, &tk, timeout);
}

START_TEST(urls)
{
	shmt_throttle *t;

	ck_assert_int_eq(shmt_open_backend(&t, "rediss://h", "x", NULL, 0),
	                 SHMT_ENOTSUP);
	ck_assert(strstr(shmt_backend_message(), "TLS"));
	ck_assert_int_eq(shmt_open_backend(&t, "redis://u:pw@h", "x", NULL, 0),
	                 SHMT_EURL);
	ck_assert(strstr(shmt_backend_message(), "THROTTLE_REDIS_PASSWORD"));
	ck_assert(!strstr(shmt_backend_message(), "pw"));
	ck_assert_int_eq(shmt_open_backend(&t, "redis://h:0", "x", NULL, 0),
	                 SHMT_EURL);
	ck_assert_int_eq(shmt_open_backend(&t, "redis://h/x", "x", NULL, 0),
	                 SHMT_EURL);
	ck_assert_int_eq(
	    shmt_open_backend(&t, "redis+unix://rel", "x", NULL, 0), SHMT_EURL);
	ck_assert_int_eq(
	    shmt_open_backend(&t, "redis+unix:///s?x=1", "x", NULL, 0),
	    SHMT_EURL);
	ck_assert_int_eq(shmt_open_backend(&t, "memcached://h", "x", NULL, 0),
	                 SHMT_EURL);
	ck_assert_int_eq(shmt_open_backend(&t, "redis://[::1", "x", NULL, 0),
	                 SHMT_EURL);
	/* nothing listens on port 1 */
	ck_assert_int_eq(
	    shmt_open_backend(&t, "redis://127.0.0.1:1", "x", NULL, 0),
	    SHMT_EUNREACHABLE);
	ck_assert_int_eq(
	    shmt_open_backend(&t, "redis://127.0.0.1:1", "bad/n", NULL, 0),
	    SHMT_ENAME);
	ck_assert_int_eq(shmt_remove_backend("rediss://h", "x"), SHMT_ENOTSUP);
}
END_TEST

START_TEST(tcp_and_db)
{
	char url[600];
	shmt_throttle *t, *t2;

	test_redis_start(&g_r, "--tcp");
	snprintf(url, sizeof(url), "%s/3?timeout=1", g_r.url);
	t = make(url, "tcpdb", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	/* another database is another namespace */
	ck_assert_int_eq(shmt_open_backend(&t2, g_r.url, "tcpdb", NULL, 0),
	                 SHMT_ENOENT);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(a_restart_loses_the_state_and_says_so)
{
	shmt_throttle *t;
	int rc;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "restart", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	test_redis_restart(&g_r);
	/* the call in flight finds the connection gone; the next one
	 * connects and finds the throttle gone: never a silent new one */
	rc = acquire(t, -1);
	if (rc == SHMT_ELOST)
		rc = acquire(t, -1);
	ck_assert_int_eq(rc, SHMT_EGONE);
	ck_assert_int_eq(acquire(t, -1), SHMT_EGONE);
	shmt_close(t);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " status restart --backend '%s' 2>&1",
	                         g_r.url),
	                 4);
	test_redis_stop(&g_r);
}
END_TEST

/* How many times the server ran `cmd` ("fcall", "evalsha"...). */
static long
calls(const char *cmd)
{
	char buf[8192], key[64];
	const char *at;

	ck_assert_int_eq(
	    test_redis_cli(&g_r, buf, sizeof(buf), "INFO commandstats"), 0);
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
	return (at = strstr(buf, key)) ? atol(at + strlen(key)) : 0;
}

/* FUNCTION FLUSH (or a restart, a fail-over) loses the library: the
 * next call loads it again and runs; SCRIPT FLUSH does not matter. */
START_TEST(a_flushed_script_cache_is_reloaded)
{
	shmt_throttle *t;
	shmt_stat st;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "flush", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "FUNCTION FLUSH"), 0);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "FUNCTION FLUSH"), 0);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "SCRIPT FLUSH"), 0);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 2);
	/* every run was an FCALL: none fell back to a script */
	ck_assert_int_ge(calls("fcall"), 4);
	ck_assert_int_eq(calls("evalsha") + calls("eval"), 0);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* The library keeps the state it decoded last, and its configuration
 * packed, between runs: a new configuration is what the server holds, as
 * a run that decodes the key anew (the library loaded again) reads it,
 * and what the next acquire spaces by. */
START_TEST(a_new_configuration_is_stored_not_only_kept)
{
	shmt_config c = one_rate(1000, 1), got;
	shmt_throttle *t;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "kept", 1000, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	c.rates[0] = (shmt_rate){ .max = 1, .period = 60 };
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	/* the entry above, 1 per 60 s: the next waits */
	ck_assert_int_eq(acquire(t, 0), SHMT_EAGAIN);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "FUNCTION FLUSH"), 0);
	ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
	ck_assert_uint_eq(got.nrates, 1);
	ck_assert_uint_eq(got.rates[0].max, 1);
	ck_assert(got.rates[0].period == 60);
	ck_assert_int_eq(acquire(t, 0), SHMT_EAGAIN);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* Record a response to entry `seq` whose round trip was rtt_ms. */
static void
record_rtt(shmt_throttle *t, uint64_t seq, int rtt_ms)
{
	shmt_ticket tk;

	shmt_ticket_init(&tk);
	tk.seq = seq;
	tk.rtt_ns = rtt_ms * MS;
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, NULL), SHMT_OK);
}

/* The library keeps a decoded state between runs, by key name; a copy of
 * the key in another database reaches the same packed state with other
 * timing samples (a review found db 1's samples read, and written, as db
 * 0's).  Each database's samples stay its own. */
START_TEST(a_copy_in_another_db_keeps_its_own_samples)
{
	char url1[600];
	shmt_throttle *t0, *t1;
	shmt_ticket tk;
	shmt_stat st;

	test_redis_start(&g_r, "--tcp");
	t0 = make(g_r.url, "dbk", 2, 10);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t0, &tk, 0), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t0, &tk, 0), SHMT_OK);
	record_rtt(t0, 0, 50);
	ck_assert_int_eq(
	    test_redis_cli(&g_r, NULL, 0, "COPY shmt:{dbk} shmt:{dbk} DB 1"),
	    0);
	snprintf(url1, sizeof(url1), "%s/1", g_r.url);
	ck_assert_int_eq(shmt_open_backend(&t1, url1, "dbk", NULL, 0), SHMT_OK);
	record_rtt(t0, 1, 1);
	record_rtt(t1, 1, 2);
	ck_assert_int_eq(shmt_stat_get(t0, &st), SHMT_OK);
	ck_assert_msg(fabs(st.rtt_low - 0.001) < 1e-6, "db 0 rtt_low %g",
	              st.rtt_low);
	ck_assert_int_eq(shmt_stat_get(t1, &st), SHMT_OK);
	ck_assert_msg(fabs(st.rtt_low - 0.002) < 1e-6, "db 1 rtt_low %g",
	              st.rtt_low);
	shmt_close(t1);
	shmt_close(t0);
	test_redis_stop(&g_r);
}
END_TEST

/* A server without Functions (Redis 6; here renamed away) runs the
 * script with EVALSHA, and EVAL after SCRIPT FLUSH. */
START_TEST(a_server_without_functions_runs_the_script)
{
	shmt_throttle *t;
	shmt_stat st;

	test_redis_start(&g_r, "--rename-command FUNCTION no-function-here "
	                       "--rename-command FCALL no-fcall-here");
	t = make(g_r.url, "nofn", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "SCRIPT FLUSH"), 0);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "SCRIPT FLUSH"), 0);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 2);
	ck_assert_int_ge(calls("evalsha"), 2);
	ck_assert_int_eq(calls("eval"), 2);
	ck_assert_int_eq(calls("fcall"), 0);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(a_killed_connection_is_an_error_then_reconnects)
{
	shmt_throttle *t;
	shmt_stat st;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "kill", 10, 1);
	ck_assert_int_eq(
	    test_redis_cli(&g_r, NULL, 0, "CLIENT KILL TYPE normal"), 0);
	ck_assert_int_eq(acquire(t, -1), SHMT_ELOST);
	ck_assert(strstr(shmt_backend_message(), "Redis at"));
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 1);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(a_stopped_server_times_out)
{
	char url[600];
	shmt_throttle *t, *t2;
	int pid;

	test_redis_start(&g_r, "");
	snprintf(url, sizeof(url), "%s?timeout=0.3", g_r.url);
	t = make(url, "stopped", 10, 1);
	pid = test_redis_pid(&g_r);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(acquire(t, -1), SHMT_ELOST);
	ck_assert(strstr(shmt_backend_message(), "did not answer within"));
	/* a new connection too: the kernel accepts it, nobody answers */
	ck_assert_int_eq(shmt_open_backend(&t2, url, "stopped", NULL, 0),
	                 SHMT_ELOST);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " status stopped --backend '%s' 2>&1", url),
	    8);
	kill(pid, SIGCONT);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* A waiter in a long pause when the server goes: an error, not a send. */
START_TEST(a_waiter_whose_server_vanishes_gets_an_error)
{
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	int fds[2], rc = -1, status;
	pid_t pid;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "vanish", 10, 1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	ck_assert_int_eq(shmt_record(t, &tk, 429, 3600, "u", 0, &out), SHMT_OK);
	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		shmt_throttle *w;

		rc = shmt_open_backend(&w, g_r.url, "vanish", NULL, 0);
		if (rc == SHMT_OK)
			rc = acquire(w, -1);
		_exit(write(fds[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 1);
	}
	close(fds[1]);
	do {
		usleep(20000);
		ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	} while (st.waiting < 1);
	test_redis_stop(&g_r);
	ck_assert_int_eq(read(fds[0], &rc, sizeof(rc)), sizeof(rc));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* the connection it confirms on is lost, or no new one is taken */
	ck_assert_msg(rc == SHMT_ELOST || rc == SHMT_EUNREACHABLE,
	              "waiter got %d: %s", rc, shmt_strerror(rc));
	shmt_close(t);
}
END_TEST

START_TEST(passwords_from_the_environment_or_a_file_never_shown)
{
	char file[300], out[2048];
	shmt_throttle *t;
	FILE *f;

	test_redis_start(&g_r, "--requirepass sekrit-42");
	unsetenv("REDISCLI_AUTH");
	unsetenv("THROTTLE_REDIS_PASSWORD");
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "pw", NULL, 0),
	                 SHMT_EAUTH);
	setenv("THROTTLE_REDIS_PASSWORD", "wrong-99", 1);
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "pw", NULL, 0),
	                 SHMT_EAUTH);
	ck_assert(!strstr(shmt_backend_message(), "wrong-99"));
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         CTL " status pw --backend '%s' 2>&1", g_r.url),
	                 9);
	ck_assert(!strstr(out, "wrong-99") && strstr(out, "password"));
	setenv("THROTTLE_REDIS_PASSWORD", "sekrit-42", 1);
	t = make(g_r.url, "pw", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	shmt_close(t);
	unsetenv("THROTTLE_REDIS_PASSWORD");
	/* REDISCLI_AUTH, as redis-cli reads it */
	setenv("REDISCLI_AUTH", "sekrit-42", 1);
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "pw", NULL, 0),
	                 SHMT_OK);
	shmt_close(t);
	unsetenv("REDISCLI_AUTH");
	/* a file, for the tools */
	snprintf(file, sizeof(file), "%s/pw", g_r.dir);
	f = fopen(file, "w");
	fputs("sekrit-42\n", f);
	fclose(f);
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         CTL " status pw --backend '%s' "
	                             "--redis-password-file '%s' 2>&1",
	                         g_r.url, file),
	                 0);
	test_redis_stop(&g_r);
}
END_TEST

/* The ACL of docs/design.md: a user limited to the throttle's keys and the
 * commands its script runs. */
#define ACL_RULES                                                              \
	"on '>pw-1' resetkeys '~shmt:{api}*' resetchannels -@all +fcall "      \
	"'+function|load' +evalsha +eval '+script|load' +time +hmget +hget "   \
	"+hset +hdel +del +exists +scan"
/* Without Functions (the ACL of before): the script runs instead. */
#define ACL_RULES_SCRIPT                                                       \
	"on '>pw-1' resetkeys '~shmt:{api}*' resetchannels -@all +evalsha "    \
	"+eval '+script|load' +time +hmget +hget +hset +hdel +del +exists"
/* FCALL but not FUNCTION LOAD: the library an administrator loaded. */
#define ACL_RULES_FCALL ACL_RULES_SCRIPT " +fcall"

START_TEST(an_acl_limits_the_keys)
{
	char url[600];
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	long fcalls;

	test_redis_start(&g_r, "");
	ck_assert_int_eq(
	    test_redis_cli(&g_r, NULL, 0, "ACL SETUSER thr " ACL_RULES), 0);
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0,
	                                "ACL SETUSER other on '>pw-1' "
	                                "'~elsewhere:*' +@all"),
	                 0);
	setenv("THROTTLE_REDIS_PASSWORD", "pw-1", 1);
	snprintf(url, sizeof(url), "%s?user=thr", g_r.url);
	t = make(url, "api", 10, 1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, &out), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_ALL), SHMT_OK);
	shmt_close(t);
	ck_assert_int_eq(
	    test_redis_cli(&g_r, NULL, 0, "ACL SETUSER thr0 " ACL_RULES_SCRIPT),
	    0);
	snprintf(url, sizeof(url), "%s?user=thr0", g_r.url);
	fcalls = calls("fcall");
	ck_assert_int_eq(shmt_open_backend(&t, url, "api", NULL, 0), SHMT_OK);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(calls("fcall"), fcalls);
	shmt_close(t);
	ck_assert_int_eq(
	    test_redis_cli(&g_r, NULL, 0, "ACL SETUSER thr1 " ACL_RULES_FCALL),
	    0);
	snprintf(url, sizeof(url), "%s?user=thr1", g_r.url);
	ck_assert_int_eq(shmt_open_backend(&t, url, "api", NULL, 0), SHMT_OK);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(calls("fcall"), fcalls + 2);
	shmt_close(t);
	/* what the scripts wrote, the library reads (not the state it
	 * decoded before) */
	snprintf(url, sizeof(url), "%s?user=thr", g_r.url);
	ck_assert_int_eq(shmt_open_backend(&t, url, "api", NULL, 0), SHMT_OK);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 3);
	shmt_close(t);
	/* another throttle's keys are out of this user's reach */
	ck_assert_int_eq(shmt_open_backend(&t, url, "payroll", NULL, 0),
	                 SHMT_ENOPERM);
	snprintf(url, sizeof(url), "%s?user=other", g_r.url);
	ck_assert_int_eq(shmt_open_backend(&t, url, "api", NULL, 0),
	                 SHMT_ENOPERM);
	ck_assert(strstr(shmt_backend_message(), "NOPERM") ||
	          strstr(shmt_backend_message(), "permission"));
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " status api --backend '%s' 2>&1", url), 9);
	snprintf(url, sizeof(url), "%s?user=thr", g_r.url);
	ck_assert_int_eq(shmt_remove_backend(url, "api"), SHMT_OK);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(keys_of_another_kind_are_refused_untouched)
{
	char out[256];
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome oc;

	test_redis_start(&g_r, "");
	ck_assert_int_eq(test_redis_cli(&g_r, NULL, 0, "SET 'shmt:{str}' x"),
	                 0);
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "str", NULL, 0),
	                 SHMT_EINVALID);
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "str"), SHMT_EINVALID);
	test_redis_cli(&g_r, out, sizeof(out), "GET 'shmt:{str}'");
	ck_assert_str_eq(out, "x\n");
	/* a hash that is not a throttle's */
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{h}' a b");
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "h", NULL, 0),
	                 SHMT_EINVALID);
	/* a throttle whose log entry is damaged: its record finds out */
	t = make(g_r.url, "ent", 10, 1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{ent}' %llu junk",
	               (unsigned long long)tk.seq);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, &oc),
	                 SHMT_ECORRUPT);
	shmt_close(t);
	/* a field damaged */
	t = make(g_r.url, "dmg", 10, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{dmg}' st lots");
	ck_assert_int_eq(acquire(t, -1), SHMT_ECORRUPT);
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{dmg}' fmt 9");
	ck_assert_int_eq(acquire(t, -1), SHMT_EVERSION);
	/* format 3 (0.2.x: no costs in its entries) */
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{dmg}' fmt 3");
	ck_assert_int_eq(acquire(t, -1), SHMT_EVERSION);
	/* format 4 (no pace, probe or sure room kept) */
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{dmg}' fmt 4");
	ck_assert_int_eq(acquire(t, -1), SHMT_EVERSION);
	shmt_close(t);
	/* format 2 (an entry as text), found by a record: its format, not
	 * a damaged entry */
	t = make(g_r.url, "v2", 10, 1);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, -1), SHMT_OK);
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{v2}' fmt 2 %llu 12,0,u",
	               (unsigned long long)tk.seq);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, &oc),
	                 SHMT_EVERSION);
	shmt_close(t);
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "v2"), SHMT_OK);
	/* a throttle of another format or damaged can be removed (an
	 * upgrade: remove, create) */
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "dmg"), SHMT_OK);
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "h"), SHMT_EINVALID);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " status str --backend '%s' 2>&1", g_r.url),
	    6);
	test_redis_stop(&g_r);
}
END_TEST

/* Field i (1-based, as the Lua's load() numbers them) of a throttle's
 * packed state set to v, by a script on the server: a peer's damage. */
static void
damage_state(const char *name, int i, double v)
{
	ck_assert_int_eq(
	    test_redis_cli(
	        &g_r, NULL, 0,
	        "EVAL 'local s = redis.call(\"HGET\", KEYS[1], \"st\") "
	        "local f = \"<\" .. string.rep(\"d\", #s / 8) "
	        "local v = {struct.unpack(f, s)} v[#v] = nil "
	        "v[tonumber(ARGV[1])] = tonumber(ARGV[2]) "
	        "return redis.call(\"HSET\", KEYS[1], \"st\", "
	        "struct.pack(f, unpack(v)))' 1 'shmt:{%s}' %d %.17g",
	        name, i, v),
	    0);
}

/* A period of 31 years in a damaged state passed load(), whose bounds
 * were only "at least 1": an acquire behind a full window waited for it
 * (review).  Now it is SHMT_ECORRUPT at once, as a status says. */
START_TEST(a_damaged_period_is_an_error_not_a_wait)
{
	shmt_throttle *t;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "years", 2, 1);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	/* p1, the first rate's period in us */
	damage_state("years", 16, 1e15);
	ck_assert_int_eq(acquire(t, 0.5), SHMT_ECORRUPT);
	shmt_close(t);
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "years"), SHMT_OK);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(remove_deletes_every_key)
{
	char out[256];
	shmt_throttle *t;

	test_redis_start(&g_r, "");
	t = make(g_r.url, "tidy", 10, 1);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(acquire(t, -1), SHMT_OK);
	/* one key; and a log left by format 2 goes with it */
	test_redis_cli(&g_r, out, sizeof(out), "DBSIZE");
	ck_assert_str_eq(out, "1\n");
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{tidy}:log' 0 x");
	ck_assert_int_eq(shmt_remove_backend(g_r.url, "tidy"), SHMT_OK);
	test_redis_cli(&g_r, out, sizeof(out), "DBSIZE");
	ck_assert_str_eq(out, "0\n");
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(the_log_is_bounded_by_its_capacity)
{
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	char out[256];

	test_redis_start(&g_r, "");
	shmt_config_init(&c);
	c.capacity = 16;
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, "cap", &c, SHMT_CREATE),
	                 SHMT_OK);
	/* no rate: each answered, so the sends need not wait (an answer
	 * ends the probe, and lets two more go in the slow start) */
	for (int i = 0; i < 50; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		ck_assert_int_eq(shmt_record(t, &tk, 200, -1, "u", 0, NULL),
		                 SHMT_OK);
	}
	/* 16 entries, fewer than 16 dropped and not yet deleted (they go
	 * in batches), and fmt, id, st, late and rtt */
	test_redis_cli(&g_r, out, sizeof(out), "HLEN 'shmt:{cap}'");
	ck_assert_int_ge(atoi(out), 16 + 5);
	ck_assert_int_lt(atoi(out), 16 + 16 + 5);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* Issue 13: unit limits and costs through the tools, as with shared
 * memory; the concurrency cap too, with its lease (--hold-max). */
START_TEST(costs_and_the_cap_through_the_tools)
{
	char out[4096];
	shmt_config c = one_rate(50, 1), got;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_stat st;

	test_redis_start(&g_r, "");
	setenv("THROTTLE_BACKEND", g_r.url, 1);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " create llm --period 1 --max 50 "
	                             "--units 100/60 2>&1"),
	                 0);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " acquire llm --cost 101 2>&1"),
	                 12);
	/* declared 80, used 30: a refund */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "tk=$(" CTL " acquire llm --cost 80) && " CTL
	                         " record llm 200 --ticket \"$tk\" --cost 30; "
	                         "echo $?"),
	                 0);
	ck_assert_str_eq(out, "0\n");
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status llm --json"),
	                 0);
	ck_assert_msg(strstr(out, "\"max\":100,\"period\":60,\"used\":30,"),
	              "%s", out);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " acquire llm --cost 71 --timeout 0 2>&1"), 1);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " acquire llm --cost 70 --timeout 0 2>&1"), 0);
	/* the cap: at create, at set, in C; the lease 300 s by default */
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " create capped --period 1 --max 9 "
	                             "--concurrency 2 --hold-max 30 2>&1"),
	                 0);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status capped --json"),
	                 0);
	ck_assert_msg(strstr(out, "\"concurrency\":2,\"hold_max\":30,"), "%s",
	              out);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL
	                         " set llm --period 1 --max 50 --concurrency 2 "
	                         "2>&1"),
	                 0);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " set llm --period 1 --max 50 "
	                             "--concurrency 2 --hold-max 0.0001 2>&1"),
	                 2);
	c.concurrency = 2;
	ck_assert_int_eq(
	    shmt_open_backend(&t, g_r.url, "capped2", &c, SHMT_CREATE),
	    SHMT_OK);
	ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
	ck_assert_uint_eq(got.concurrency, 2);
	ck_assert(got.hold_max == SHMT_HOLD_MAX_DEFAULT);
	c.hold_max = 0.5;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(shmt_config_get(t, &got), SHMT_OK);
	ck_assert(fabs(got.hold_max - 0.5) < 1e-9);
	/* a redirect's hop: no place, no cost */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire_cost(t, &tk, 0, SHMT_ACQUIRE_NOPLACE, 0),
	                 SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 0);
	shmt_close(t);
	unsetenv("THROTTLE_BACKEND");
	test_redis_stop(&g_r);
}
END_TEST

/* throttle-curl on an existing throttle: a --hold-max of its own is
 * compared (a warning, the throttle's kept) and applied by --reconfigure;
 * --reconfigure without it keeps the throttle's. */
START_TEST(throttle_curl_keeps_or_warns_about_the_hold_max)
{
	char out[4096];

	test_redis_start(&g_r, "");
	setenv("THROTTLE_BACKEND", g_r.url, 1);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " create hc --period 1 --max 50 "
	                             "--concurrency 1 --hold-max 30 2>&1"),
	                 0);
	/* the same limits, no --hold-max: silent */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         TCURL " -t hc --period 1 --max 50 "
	                               "--concurrency 1 -o /dev/null "
	                               "file:///dev/null 2>&1"),
	                 0);
	ck_assert_msg(!strstr(out, "warning"), "%s", out);
	/* another --hold-max, alone: a warning, the throttle's kept */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         TCURL " -t hc --hold-max 10 -o /dev/null "
	                               "file:///dev/null 2>&1"),
	                 0);
	ck_assert_msg(strstr(out, "warning") && strstr(out, "--hold-max 30"),
	              "%s", out);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status hc --json"), 0);
	ck_assert_msg(strstr(out, "\"hold_max\":30,"), "%s", out);
	/* --reconfigure of the rate only keeps it */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         TCURL " -t hc --reconfigure --period 1 "
	                               "--max 20 --concurrency 1 -o /dev/null "
	                               "file:///dev/null 2>&1"),
	                 0);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status hc --json"), 0);
	ck_assert_msg(strstr(out, "\"max\":20,"), "%s", out);
	ck_assert_msg(strstr(out, "\"hold_max\":30,"), "%s", out);
	/* --reconfigure with --hold-max alone applies it */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         TCURL " -t hc --reconfigure --hold-max 10 "
	                               "-o /dev/null file:///dev/null 2>&1"),
	                 0);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status hc --json"), 0);
	ck_assert_msg(strstr(out, "\"max\":20,"), "%s", out);
	ck_assert_msg(strstr(out, "\"hold_max\":10,"), "%s", out);
	unsetenv("THROTTLE_BACKEND");
	test_redis_stop(&g_r);
}
END_TEST

/* A place owner's host: the boot id and the PID namespace, or "?" when
 * /proc does not show our own pids (another PID namespace's). */
START_TEST(the_host_is_unknown_under_another_namespaces_proc)
{
	const char *boot = "0123abcd-0123-4567-89ab-0123456789ab";
	char h[64];

	shmt_redis_host(h, sizeof(h), boot, "pid:[4026531836]", "42", 42);
	ck_assert_str_eq(h, "0123abcd-0123-4567-89ab-0123456789ab.4026531836");
	shmt_redis_host(h, sizeof(h), boot, "pid:[4026531836]", "1", 42);
	ck_assert_str_eq(h, "?");
	shmt_redis_host(h, sizeof(h), boot, "pid:[4026531836]", "", 42);
	ck_assert_str_eq(h, "?");
	shmt_redis_host(h, sizeof(h), boot, "", "42", 42);
	ck_assert_str_eq(h, "?");
	shmt_redis_host(h, sizeof(h), "not a boot id", "pid:[1]", "42", 42);
	ck_assert_str_eq(h, "?");
}
END_TEST

/* The server's TIME, in microseconds. */
static long long
server_us(void)
{
	char out[128];
	long long sec = 0, usec = 0;

	test_redis_cli(&g_r, out, sizeof(out), "TIME");
	ck_assert_int_eq(sscanf(out, "%lld %lld", &sec, &usec), 2);
	return sec * 1000000 + usec;
}

/* A place whose owner names another host is no one's here to judge: it
 * waits for its lease (hold_max), and so does a place held longer. */
START_TEST(a_place_of_another_host_comes_back_after_its_lease)
{
	shmt_config c = one_rate(1000, 1);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_place pl[2];
	shmt_stat st;
	size_t got;
	char out[512], host[128];
	unsigned long long seq;
	long long since;
	int64_t t0;
	pid_t dead;
	int status;

	test_redis_start(&g_r, "");
	c.concurrency = 1;
	c.hold_max = 60;
	ck_assert_int_eq(
	    shmt_open_backend(&t, g_r.url, "lease", &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	/* our place: "SEQ SINCE HOST:PID:START" */
	test_redis_cli(&g_r, out, sizeof(out), "HGET 'shmt:{lease}' pl");
	ck_assert_int_eq(sscanf(out, "%llu %lld %127[^:]:", &seq, &since, host),
	                 3);
	ck_assert_uint_eq(seq, tk.seq);
	ck_assert_int_eq(getpid(), strtol(strchr(out, ':') + 1, NULL, 10));
	/* a process of this host that is gone */
	if ((dead = fork()) == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(dead, &status, 0), dead);
	/* its place, said to be of another host: not found dead here */
	test_redis_cli(&g_r, NULL, 0,
	               "HSET 'shmt:{lease}' pl '%llu %lld other-host.1:%d:0'",
	               seq, since, (int)dead);
	ck_assert_int_eq(acquire(t, 0), SHMT_EAGAIN);
	ck_assert_int_eq(acquire(t, 0.2), SHMT_ETIMEDOUT);
	ck_assert_int_eq(shmt_places_read(t, pl, 2, &got), SHMT_OK);
	ck_assert_uint_eq(got, 1);
	ck_assert_int_eq(pl[0].pid, dead);
	/* the same owner on this host: found dead and freed */
	test_redis_cli(&g_r, NULL, 0,
	               "HSET 'shmt:{lease}' pl '%llu %lld %s:%d:0'", seq, since,
	               host, (int)dead);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
	ck_assert_int_eq(shmt_release(t, &tk), SHMT_OK);
	/* a lease of 0.3 s: the other host's place comes back after it, and
	 * not before */
	c.hold_max = 0.3;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	t0 = shmt_mono_ns();
	test_redis_cli(&g_r, NULL, 0,
	               "HSET 'shmt:{lease}' pl '%llu %lld other-host.1:%d:0'",
	               seq, server_us(), (int)dead);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 30), SHMT_OK);
	ck_assert(shmt_mono_ns() - t0 >= SHMT_NS / 4);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 1);
	/* ours, in flight for longer than the lease, is lost too */
	usleep(600000);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_int_eq(acquire(t, 0), SHMT_OK);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* Damaged or hostile places: an error, or a wait no longer than the
 * lease; never a crash, and nothing else of the throttle lost. */
START_TEST(a_damaged_place_is_an_error_never_a_long_wait)
{
	shmt_config c = one_rate(1000, 1);
	shmt_throttle *t;
	shmt_stat st;
	char out[64];

	test_redis_start(&g_r, "");
	c.concurrency = 1;
	c.hold_max = 0.3;
	ck_assert_int_eq(
	    shmt_open_backend(&t, g_r.url, "dmgpl", &c, SHMT_CREATE), SHMT_OK);
	ck_assert_int_eq(acquire(t, 0), SHMT_OK);
	test_redis_cli(&g_r, NULL, 0, "HSET 'shmt:{dmgpl}' pl 'no place'");
	ck_assert_int_eq(acquire(t, 0), SHMT_ECORRUPT);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_ECORRUPT);
	/* more places than any cap */
	test_redis_cli(&g_r, NULL, 0,
	               "EVAL \"local t = {} for i = 1, 300 do "
	               "t[i] = i .. ' 1 h:1:1' end "
	               "return redis.call('HSET', KEYS[1], 'pl', "
	               "table.concat(t, ','))\" 1 'shmt:{dmgpl}'");
	test_redis_cli(&g_r, out, sizeof(out), "HSTRLEN 'shmt:{dmgpl}' pl");
	ck_assert_int_gt(atoi(out), 300 * 8);
	ck_assert_int_eq(acquire(t, 0), SHMT_ECORRUPT);
	/* taken in the far future: its lease counts from now */
	test_redis_cli(&g_r, NULL, 0,
	               "HSET 'shmt:{dmgpl}' pl '1 99999999999999999 h:1:1'");
	ck_assert_int_eq(acquire(t, 0), SHMT_EAGAIN);
	ck_assert_int_eq(acquire(t, 30), SHMT_OK);
	/* the rest of the throttle is as it was */
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.requests, 2);
	ck_assert_uint_eq(st.inflight, 1);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* Slows the rate of throttle "leak" to 1 per 5 s after 0.1 s. */
static void *
slow_down(void *url)
{
	shmt_throttle *t;
	shmt_config c;

	usleep(100000);
	ck_assert_int_eq(shmt_open_backend(&t, url, "leak", NULL, 0), SHMT_OK);
	ck_assert_int_eq(shmt_config_get(t, &c), SHMT_OK);
	c.rates[0].max = 1;
	c.rates[0].period = 5;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	shmt_close(t);
	return NULL;
}

/* record_acquire takes the next request's place in its run; if the wait
 * for its slot then fails, the place goes back (the ticket no longer
 * names it: nobody else could give it back). */
START_TEST(a_failed_record_acquire_gives_its_place_back)
{
	shmt_config c = one_rate(1, 0.4);
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_place pl[2];
	shmt_stat st;
	pthread_t th;
	size_t got;

	test_redis_start(&g_r, "");
	c.concurrency = 1;
	ck_assert_int_eq(
	    shmt_open_backend(&t, g_r.url, "leak", &c, SHMT_CREATE), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 1), SHMT_OK);
	/* the next slot, 0.4 s away, moves 5 s away while we wait for it */
	ck_assert_int_eq(pthread_create(&th, NULL, slow_down, g_r.url), 0);
	ck_assert_int_eq(
	    shmt_record_acquire(t, &tk, 200, -1, NULL, 0, NULL, 0.8),
	    SHMT_ETIMEDOUT);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(shmt_places_read(t, pl, 2, &got), SHMT_OK);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 0);
	/* the place is free for the next request */
	c.rates[0].max = 1000;
	c.rates[0].period = 1;
	ck_assert_int_eq(shmt_config_set(t, &c), SHMT_OK);
	ck_assert_int_eq(acquire(t, 0), SHMT_OK);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

/* Requests in flight, counted across processes. */
struct flight {
	int now, most, sent;
};

static void
fly(struct flight *f, double secs)
{
	int n = __atomic_add_fetch(&f->now, 1, __ATOMIC_SEQ_CST);
	int m = __atomic_load_n(&f->most, __ATOMIC_SEQ_CST);

	while (n > m &&
	       !__atomic_compare_exchange_n(&f->most, &m, n, 0,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	usleep((useconds_t)(secs * 1e6));
	__atomic_sub_fetch(&f->now, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&f->sent, 1, __ATOMIC_SEQ_CST);
}

/* A child that acquires on `name` (its place first), sends for `secs`
 * and records; exits 0 if all went well. */
static pid_t
sender(const char *name, struct flight *f, double secs)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		shmt_throttle *t;
		shmt_ticket tk;

		if (shmt_open_backend(&t, g_r.url, name, NULL, 0) != SHMT_OK)
			_exit(2);
		shmt_ticket_init(&tk);
		if (shmt_acquire(t, &tk, 60) != SHMT_OK)
			_exit(3);
		fly(f, secs);
		if (shmt_record(t, &tk, 200, -1, NULL, 0, NULL) != SHMT_OK)
			_exit(4);
		shmt_close(t);
		_exit(0);
	}
	return pid;
}

/* A flight counter shared with forked children, zeroed. */
static struct flight *
flight_new(void)
{
	struct flight *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert(f != MAP_FAILED);
	memset(f, 0, sizeof(*f));
	return f;
}

/* Until a place of t is held. */
static void
await_held(shmt_throttle *t)
{
	shmt_stat st;

	do {
		usleep(20000);
		ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	} while (st.inflight == 0);
}

/* A pause (429, Retry-After `secs`) on a throttle of cap 1 and a lease
 * of `hold` seconds. */
static shmt_throttle *
paused(const char *name, double hold, double secs)
{
	shmt_config c = one_rate(10, 1);
	shmt_throttle *t;
	shmt_ticket tk;

	c.concurrency = 1;
	c.hold_max = hold;
	ck_assert_int_eq(shmt_open_backend(&t, g_r.url, name, &c, SHMT_CREATE),
	                 SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 1), SHMT_OK);
	ck_assert_int_eq(shmt_record(t, &tk, 429, secs, NULL, 0, NULL),
	                 SHMT_OK);
	return t;
}

/* A holder waiting for its slot (here a pause far longer than the lease)
 * is alive: its confirms renew the lease, so that nobody else takes a
 * place meanwhile and sends beside it. */
START_TEST(a_waiting_holder_keeps_its_place_past_its_lease)
{
	struct flight *f = flight_new();
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_stat st;
	pid_t a;
	int status;

	test_redis_start(&g_r, "");
	t = paused("wlease", 1.2, 3);
	a = sender("wlease", f, 0.3);
	/* A holds the place and waits for the pause, past its lease */
	await_held(t);
	usleep(2000000);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 1);
	/* B waits for the place until A's record (a place taken now would
	 * have a slot at the pause's end, beside A's) */
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 60), SHMT_OK);
	fly(f, 0.1);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, NULL), SHMT_OK);
	ck_assert_int_eq(waitpid(a, &status, 0), a);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(f->sent, 2);
	ck_assert_int_eq(f->most, 1);
	shmt_close(t);
	munmap(f, sizeof(*f));
	test_redis_stop(&g_r);
}
END_TEST

/* A waiter stopped past its lease loses its place; when it confirms
 * again it may not send without one: it waits for a place (and then a
 * new slot) while another holds it. */
START_TEST(a_waiter_stopped_past_its_lease_waits_for_a_place_again)
{
	struct flight *f = flight_new();
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_stat st;
	pid_t a;
	int status;

	test_redis_start(&g_r, "");
	t = paused("slease", 1, 1);
	a = sender("slease", f, 0.1);
	await_held(t);
	/* A stopped past its slot; its place comes back after the lease,
	 * B takes it and sends (for less than the lease) */
	ck_assert_int_eq(kill(a, SIGSTOP), 0);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(t, &tk, 60), SHMT_OK);
	ck_assert_int_eq(kill(a, SIGCONT), 0);
	fly(f, 0.6);
	ck_assert_int_eq(shmt_record(t, &tk, 200, -1, NULL, 0, NULL), SHMT_OK);
	/* then A has it, and sends */
	ck_assert_int_eq(waitpid(a, &status, 0), a);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(f->sent, 2);
	ck_assert_int_eq(f->most, 1);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 0);
	shmt_close(t);
	munmap(f, sizeof(*f));
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(quota_headers_pause_everyone_until_the_reset)
{
	shmt_quota q = { .dialect = SHMT_QUOTA_XRATELIMIT,
		         .limit = 0,
		         .window = 0,
		         .remaining = 0,
		         .reset = 2,
		         .retry_after = -1 };
	shmt_throttle *a, *b;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;

	test_redis_start(&g_r, "");
	a = make(g_r.url, "quota", 100, 1);
	ck_assert_int_eq(shmt_open_backend(&b, g_r.url, "quota", NULL, 0),
	                 SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(a, &tk, -1), SHMT_OK);
	/* GitHub's 403 with nothing left: retryable, after the reset */
	ck_assert_int_eq(shmt_record_quota(a, &tk, 403, -1, &q, "u", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_RETRY);
	ck_assert(out.delay > 1 && out.delay <= 2.5);
	/* one pause for every process, until the reset */
	ck_assert_int_eq(acquire(b, 0), SHMT_EAGAIN);
	ck_assert_int_eq(shmt_stat_get(b, &st), SHMT_OK);
	ck_assert(st.delay_remaining > 1);
	ck_assert_int_eq(st.quota_remaining, 0);
	/* a 200 with nothing left pauses as well */
	ck_assert_int_eq(shmt_reset(a, SHMT_RESET_DELAY), SHMT_OK);
	ck_assert_int_eq(acquire(b, 0), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(a, &tk, -1), SHMT_OK);
	ck_assert_int_eq(shmt_record_quota(a, &tk, 200, -1, &q, "u", 0, &out),
	                 SHMT_OK);
	ck_assert_int_eq(out.verdict, SHMT_DONE);
	ck_assert_int_eq(acquire(b, 0), SHMT_EAGAIN);
	shmt_close(a);
	shmt_close(b);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(an_announced_limit_is_enforced)
{
	shmt_quota q = { .dialect = SHMT_QUOTA_IETF,
		         .limit = 3,
		         .window = 10,
		         .remaining = -1,
		         .reset = -1,
		         .retry_after = -1 };
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_stat st;

	test_redis_start(&g_r, "");
	shmt_config_init(&c);
	ck_assert_int_eq(
	    shmt_open_backend(&t, g_r.url, "announced", &c, SHMT_CREATE),
	    SHMT_OK);
	for (int i = 0; i < 3; i++) {
		shmt_ticket_init(&tk);
		ck_assert_int_eq(shmt_acquire(t, &tk, 0), SHMT_OK);
		ck_assert_int_eq(
		    shmt_record_quota(t, &tk, 200, -1, &q, "u", 0, NULL),
		    SHMT_OK);
	}
	ck_assert_int_eq(acquire(t, 0), SHMT_EAGAIN);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.learned_max, 3);
	ck_assert(st.learned_period == 10);
	ck_assert_int_eq(st.learned_dialect, SHMT_QUOTA_IETF);
	ck_assert_int_eq(st.learned_period_announced, 1);
	ck_assert_int_eq(st.quota_remaining, -1);
	/* forgotten with all that was learned: nothing is known again, so
	 * the probe is back (as with shared memory, shmt_learn_forget) */
	ck_assert_int_eq(shmt_reset(t, SHMT_RESET_LEARNED), SHMT_OK);
	ck_assert_int_eq(shmt_stat_get(t, &st), SHMT_OK);
	ck_assert_uint_eq(st.learned_max, 0);
	ck_assert_int_eq(st.probing, 1);
	shmt_close(t);
	test_redis_stop(&g_r);
}
END_TEST

START_TEST(the_tools_work_unchanged)
{
	char out[4096];
	shmt_throttle *local;
	shmt_ticket tk;
	shmt_stat st;

	test_redis_start(&g_r, "");
	setenv("THROTTLE_BACKEND", g_r.url, 1);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create tools --period 1 --max 3 2>&1"), 0);
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "tk=$(" CTL " acquire tools) && " CTL
	                         " record tools 429 --ticket \"$tk\" "
	                         "--retry-after 5; echo $?"),
	                 0);
	ck_assert_str_eq(out, "10\n");
	ck_assert_int_eq(test_sh(NULL, 0, CTL " check tools"), 1);
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " status tools --json"),
	                 0);
	ck_assert(strstr(out, "\"n429\":1"));
	ck_assert_int_eq(test_sh(out, sizeof(out), CTL " list"), 0);
	ck_assert(strstr(out, "tools"));
	ck_assert_int_eq(test_sh(NULL, 0, CTL " reset tools"), 0);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " check tools"), 0);
	/* run gives its place back where it took its slot: never to a local
	 * throttle of the same name, whose place seq 0 is ours; on Redis
	 * too, run's slot is seq 0 of a new throttle */
	shmt_remove("tools");
	ck_assert_int_eq(test_sh(NULL, 0, CTL " remove tools"), 0);
	ck_assert_int_eq(
	    test_sh(NULL, 0, CTL " create tools --period 1 --max 9 2>&1"), 0);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " create tools --backend shm: --period 1 "
	                             "--max 9 --concurrency 1"),
	                 0);
	ck_assert_int_eq(shmt_open(&local, "tools", NULL, 0), SHMT_OK);
	shmt_ticket_init(&tk);
	ck_assert_int_eq(shmt_acquire(local, &tk, 0), SHMT_OK);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " run tools -- true"), 0);
	ck_assert_int_eq(shmt_stat_get(local, &st), SHMT_OK);
	ck_assert_uint_eq(st.inflight, 1);
	shmt_close(local);
	shmt_remove("tools");
	ck_assert_int_eq(test_sh(NULL, 0, CTL " remove tools"), 0);
	ck_assert_int_eq(test_sh(NULL, 0, CTL " status tools 2>/dev/null"), 4);
	ck_assert_int_eq(test_sh(NULL, 0,
	                         CTL " status tools --backend rediss://x "
	                             "2>/dev/null"),
	                 2);
	unsetenv("THROTTLE_BACKEND");
	test_redis_stop(&g_r);
}
END_TEST

/* ---- several hosts, one limit ------------------------------------------ */

/* A host's clock: minutes off, as set per process. */
static int64_t skew;

static int64_t
skewed(void)
{
	return mono_now() + skew;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p, (void)arg;
	return size * n;
}

/* One "host": its own connection and clock, `n` GETs to url. */
static void
host(const char *backend, const char *url, int n, int k)
{
	shmt_throttle *t;
	CURL *easy = curl_easy_init();
	int bad = 0;

	skew = (int64_t)(k - 1) * 7 * 60 * NS;
	if (shmt_open_backend(&t, backend, "hosts", NULL, 0) != SHMT_OK)
		_exit(2);
	shmt_set_clock(t, skewed, shmt_wall_ns);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
	for (int i = 0; i < n; i++) {
		shmt_ticket tk;
		shmt_outcome out;
		long status = 0;

		shmt_ticket_init(&tk);
		do {
			if (shmt_acquire(t, &tk, -1) != SHMT_OK)
				_exit(3);
			tk.sent_ns = skewed();
			if (curl_easy_perform(easy) == CURLE_OK) {
				curl_off_t pre = 0, first = 0;

				curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE,
				                  &status);
				/* the round trip, as shmt_curl_perform takes
				 * it: the adaptive margin follows its spread */
				curl_easy_getinfo(
				    easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
				curl_easy_getinfo(easy,
				                  CURLINFO_STARTTRANSFER_TIME_T,
				                  &first);
				tk.rtt_ns = (int64_t)(first - pre) * 1000;
			}
			bad += status != 200;
			if (shmt_record(t, &tk, (int)status, -1, url, 0,
			                &out) != SHMT_OK)
				_exit(4);
		} while (out.verdict == SHMT_RETRY);
	}
	curl_easy_cleanup(easy);
	shmt_close(t);
	_exit(bad ? 5 : 0);
}

START_TEST(several_hosts_with_skewed_clocks_share_one_limit)
{
	struct test_redis relayed;
	char dir[] = "/tmp/shmt-hosts-XXXXXX", port[32], url[128], out[512];
	shmt_config c = one_rate(10, 1);
	shmt_throttle *t;
	pid_t kids[3];
	int status, fails = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* the API: a sliding window of 10 a second, behind 5-15 ms */
	ck_assert_int_eq(test_sh(port, sizeof(port),
	                         "TEST_SERVER_OWNER=%ld " SOURCE_DIR
	                         "/scripts/test-server start %s sliding 10 1 "
	                         "--relay 5-15",
	                         (long)getpid(), dir),
	                 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", atoi(port));
	/* Redis behind a relay of 1-4 ms */
	test_redis_start(&relayed, "--relay 1-4");
	ck_assert_int_eq(
	    shmt_open_backend(&t, relayed.url, "hosts", &c, SHMT_CREATE),
	    SHMT_OK);
	for (int k = 0; k < 3; k++)
		if ((kids[k] = fork()) == 0)
			host(relayed.url, url, 12, k);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
		fails += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	test_sh(out, sizeof(out), SOURCE_DIR "/scripts/test-server count %s",
	        dir);
	ck_assert_msg(fails == 0, "%d hosts failed: %s", fails, out);
	ck_assert_msg(strstr(out, "refused 0"), "%s", out);
	ck_assert_msg(strstr(out, "admitted 36"), "%s", out);
	shmt_close(t);
	test_sh(NULL, 0, SOURCE_DIR "/scripts/test-server stop %s; rm -rf %s",
	        dir, dir);
	test_redis_stop(&relayed);
}
END_TEST

Suite *
redis_suite(void)
{
	Suite *s = suite_create("redis");
	TCase *tc = tcase_create("faults");
	TCase *hosts = tcase_create("hosts");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, urls);
	tcase_add_test(tc, the_host_is_unknown_under_another_namespaces_proc);
	tcase_add_test(tc, tcp_and_db);
	tcase_add_test(tc, a_restart_loses_the_state_and_says_so);
	tcase_add_test(tc, a_flushed_script_cache_is_reloaded);
	tcase_add_test(tc, a_new_configuration_is_stored_not_only_kept);
	tcase_add_test(tc, a_copy_in_another_db_keeps_its_own_samples);
	tcase_add_test(tc, a_server_without_functions_runs_the_script);
	tcase_add_test(tc, a_killed_connection_is_an_error_then_reconnects);
	tcase_add_test(tc, a_stopped_server_times_out);
	tcase_add_test(tc, a_waiter_whose_server_vanishes_gets_an_error);
	tcase_add_test(tc,
	               passwords_from_the_environment_or_a_file_never_shown);
	tcase_add_test(tc, an_acl_limits_the_keys);
	tcase_add_test(tc, keys_of_another_kind_are_refused_untouched);
	tcase_add_test(tc, a_damaged_period_is_an_error_not_a_wait);
	tcase_add_test(tc, remove_deletes_every_key);
	tcase_add_test(tc, the_log_is_bounded_by_its_capacity);
	tcase_add_test(tc, the_tools_work_unchanged);
	tcase_add_test(tc, costs_and_the_cap_through_the_tools);
	tcase_add_test(tc, a_place_of_another_host_comes_back_after_its_lease);
	tcase_add_test(tc, a_damaged_place_is_an_error_never_a_long_wait);
	tcase_add_test(tc, a_failed_record_acquire_gives_its_place_back);
	tcase_add_test(tc, throttle_curl_keeps_or_warns_about_the_hold_max);
	tcase_add_test(tc, a_waiting_holder_keeps_its_place_past_its_lease);
	tcase_add_test(tc,
	               a_waiter_stopped_past_its_lease_waits_for_a_place_again);
	tcase_add_test(tc, quota_headers_pause_everyone_until_the_reset);
	tcase_add_test(tc, an_announced_limit_is_enforced);
	suite_add_tcase(s, tc);
	tcase_set_timeout(hosts, 60);
	tcase_add_test(hosts, several_hosts_with_skewed_clocks_share_one_limit);
	suite_add_tcase(s, hosts);
	return s;
}
