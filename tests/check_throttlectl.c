/* check_throttlectl.c - the real throttlectl binary, driven as a shell
 * script would: round trips, JSON keys, bad input, processes. */
#define _DEFAULT_SOURCE /* setenv, MAP_ANONYMOUS */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR must name the folder of the built tools"
#endif
#define CTL TOOLS_DIR "/throttlectl"

static char out[65536];

/* Run "throttlectl ARGS" through sh; its stdout in out[], its exit status
 * returned (stderr goes to out too when `merge`). */
static int
ctl_run(int merge, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	snprintf(cmd, sizeof(cmd), CTL " %s", fmt);
	va_start(ap, fmt);
	rc = test_vsh(out, sizeof(out), merge ? " 2>&1" : " 2>/dev/null", cmd,
	              ap);
	va_end(ap);
	return rc;
}

#define ctl(...) ctl_run(0, __VA_ARGS__)
#define ctl2(...) ctl_run(1, __VA_ARGS__)

static int
one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

START_TEST(create_status_set_reset_remove)
{
	const char *n = test_name("ctl");

	ck_assert_int_eq(
	    ctl("create %s --period 60 --max 120 --backoff-initial 0.5", n), 0);
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "120 per 60 s: 0 sent"));
	ck_assert_ptr_nonnull(strstr(out, "initial 0.5 s"));
	ck_assert_int_eq(ctl("check %s", n), 0);
	ck_assert_int_eq(ctl("set %s --max 300", n), 0); /* login revealed v2 */
	ck_assert_int_eq(ctl("status %s", n), 0);
	/* log kept */
	ck_assert_ptr_nonnull(strstr(out, "300 per 60 s: 1 sent"));
	/* more than the log holds */
	ck_assert_int_eq(ctl("set %s --rate 10/1 --rate 5000/3600", n), 2);
	ck_assert_int_eq(ctl("set %s --rate 10/1 --rate 4000/3600", n), 0);
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "Rate 2:          4000 per 3600 s"));
	ck_assert_int_eq(ctl("record %s 429 --retry-after 30", n), 10);
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "Shared delay:    29."));
	ck_assert_int_eq(ctl("reset %s --delay", n), 0);
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "Shared delay:    none"));
	ck_assert_ptr_nonnull(strstr(out, "429 responses:   1 (last"));
	ck_assert_int_eq(ctl("reset %s --all", n), 0);
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "429 responses:   0"));
	ck_assert_int_eq(ctl("remove %s", n), 0);
	ck_assert_int_eq(ctl("status %s", n), 4);
}
END_TEST

START_TEST(json_keys_are_stable)
{
	static const char *const keys[] = {
		"\"name\":",
		"\"policy\":\"smooth\"",
		"\"rates\":[{\"max\":10,"
		"\"period\":2,\"sent\":1,\"left\":9}]",
		"\"burst\":2",
		"\"margin\":",
		"\"backoff_initial\":",
		"\"backoff_multiplier\":",
		"\"backoff_max\":",
		"\"retry_after_max\":",
		"\"max_retries\":",
		"\"capacity\":4096",
		"\"log_count\":1",
		"\"next_slot\":",
		"\"backoff\":",
		"\"delay_remaining\":",
		"\"waiting\":0",
		"\"requests\":1",
		"\"n429\":1",
		"\"retries\":1",
		"\"waited\":",
		"\"repairs\":0",
		"\"last_429\":1",
	};
	const char *n = test_name("json");

	ck_assert_int_eq(
	    ctl("create %s --period 2 --max 10 --policy smooth --burst 2", n),
	    0);
	ck_assert_int_eq(ctl("acquire %s", n), 0);
	out[strcspn(out, "\n")] = '\0';
	ck_assert_int_eq(
	    ctl("record %s 429 --ticket %s --url 'http://h/a\"b'", n, out), 10);
	ck_assert_int_eq(ctl("status %s --json", n), 0);
	ck_assert(one_line(out));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(strstr(out, keys[i]), "missing %s in %s", keys[i],
		              out);
	ck_assert_int_eq(ctl("log %s --json", n), 0);
	ck_assert_msg(
	    strstr(out, "[{\"seq\":0,\"time\":") &&
	        strstr(out, "\"status\":429,\"url\":\"http://h/a\\\"b\"}]"),
	    "%s", out);
	ck_assert_int_eq(ctl("list --json", n), 0);
	ck_assert(out[0] == '[');
	ck_assert_ptr_nonnull(strstr(out, n));
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

static const struct {
	const char *args;
	int status;
	const char *says;
} bad[] = {
	{ "status nosuch-throttle-xyz", 4, "no such throttle" },
	{ "status 'a/b'", 2, "invalid throttle name" },
	{ "status ''", 2, "invalid throttle name" },
	{ "status "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "a",
	  2, "invalid throttle name" },
	{ "create x --period abc --max 3", 2, "invalid --period 'abc'" },
	{ "create x --period -1 --max 3", 2, "invalid --period '-1'" },
	{ "create x --period 1 --max -3", 2, "invalid --max '-3'" },
	{ "create x --period 60 --max 0", 2, "invalid --max '0'" },
	{ "create x --period 60", 2, "--period and --max go together" },
	{ "create x --period 1 --max 3 --policy fast", 2,
	  "invalid --policy 'fast'" },
	{ "create x --period 1 --max 3 --mode 777", 2, "--mode is 600 or 660" },
	{ "create x --period 1e3 --max 3", 2, "invalid --period" },
	{ "create x --period nan --max 3", 2, "invalid --period" },
	{ "create x --max 3 --period 1 --backoff-initial 100", 2,
	  "--backoff-initial exceeds" },
	{ "acquire x --timeout soon", 2, "invalid --timeout" },
	{ "record x abc", 2, "HTTP STATUS" },
	{ "status x -n", 2, "bad option '-n'" },
	{ "record x 1000", 2, "HTTP STATUS" },
	{ "record x 429 --ticket 1:2", 2, "invalid --ticket" },
	{ "status x --bogus", 2, "bad option" },
	{ "status x --timeout 3", 2, "takes no option --timeout" },
	{ "frobnicate", 2, "unknown command" },
	{ "run x sh", 2, "needs --" },
	{ "", 2, "Usage" },
};

START_TEST(bad_input_one_line_and_a_status)
{
	int st = ctl2("%s", bad[_i].args);

	ck_assert_msg(st == bad[_i].status, "'%s': exit %d, want %d (%s)",
	              bad[_i].args, st, bad[_i].status, out);
	ck_assert_msg(strstr(out, bad[_i].says), "'%s' said: %s", bad[_i].args,
	              out);
	if (bad[_i].args[0])
		ck_assert_msg(one_line(out), "'%s' said more than a line: %s",
		              bad[_i].args, out);
}
END_TEST

START_TEST(damaged_and_foreign_segments)
{
	const char *n = test_name("dmg");
	char path[128];
	int fd;

	ck_assert_int_eq(ctl("create %s --period 1 --max 5", n), 0);
	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", n);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "JUNK", 4, 0), 4);
	close(fd);
	ck_assert_int_eq(ctl2("status %s", n), 6);
	ck_assert_ptr_nonnull(strstr(out, "not a libshmthrottle segment"));
	ck_assert(one_line(out));
	ck_assert_int_eq(ctl2("list"), 0); /* list goes on, and says so */
	ck_assert_ptr_nonnull(strstr(out, "not a libshmthrottle segment"));
	ck_assert_int_eq(ctl("remove %s", n), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(ctl("create %s --period 1 --max 5", n), 0);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_int_eq(ctl2("acquire %s", n), 6);
		ck_assert_ptr_nonnull(strstr(out, "another user"));
		ck_assert_int_eq(ctl("remove %s", n), 0);
	}
}
END_TEST

static int
by_value(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

START_TEST(twenty_shell_workers_share_five_per_second)
{
	const char *n = test_name("sh20");
	int64_t times[20];
	char cmd[512];
	FILE *p;
	int got = 0;

	ck_assert_int_eq(ctl("create %s --period 1 --max 5", n), 0);
	/* 20 concurrent processes, as xargs -P 20 would start them */
	snprintf(cmd, sizeof(cmd),
	         "seq 20 | xargs -P 20 -I{} %s acquire %s --timeout 30", CTL,
	         n);
	p = popen(cmd, "r");
	while (got < 20 && fgets(out, sizeof(out), p)) {
		unsigned long long seq;
		long long send;

		ck_assert_int_eq(sscanf(out, "%llu:%lld:", &seq, &send), 2);
		times[got++] = send;
	}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_int_eq(got, 20);
	qsort(times, 20, sizeof(times[0]), by_value);
	ck_assert(!window_overrun(times, 20, 5, NS));
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

START_TEST(a_429_recorded_makes_other_processes_wait)
{
	const char *n = test_name("r429");
	int64_t start;

	ck_assert_int_eq(ctl("create %s --period 1 --max 100", n), 0);
	ck_assert_int_eq(
	    ctl("record %s 429 --retry-after 3 --url http://h/x", n), 10);
	ck_assert_int_eq(ctl("check %s", n), 1);
	ck_assert_int_eq(ctl("acquire %s --timeout 0.5", n), 3); /* at once */
	start = mono_now();
	ck_assert_int_eq(ctl("acquire %s --timeout 10", n), 0);
	ck_assert_int_ge(mono_now() - start, 2 * NS); /* it waited the delay */
	/* a garbage Retry-After still records the 429, with a warning */
	ck_assert_int_eq(ctl2("record %s 429 --retry-after soon", n), 10);
	ck_assert_ptr_nonnull(strstr(out, "ignoring --retry-after 'soon'"));
	/* retries are bounded: the fourth retry of one request gives up */
	ck_assert_int_eq(ctl("record %s 503 --retry --ticket 9:1:4", n), 11);
	ck_assert_int_eq(ctl("record %s 200", n), 0);
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

START_TEST(reset_wakes_a_blocked_acquire)
{
	const char *n = test_name("wake");
	char cmd[512];
	int64_t start;
	FILE *p;

	ck_assert_int_eq(ctl("create %s --period 1 --max 10", n), 0);
	ck_assert_int_eq(ctl("record %s 429 --retry-after 60", n), 10);
	snprintf(cmd, sizeof(cmd), "%s acquire %s --timeout 120", CTL, n);
	p = popen(cmd, "r");
	start = mono_now();
	do { /* until it waits */
		ck_assert_int_eq(ctl("status %s --json", n), 0);
	} while (!strstr(out, "\"waiting\":1") && mono_now() - start < 10 * NS);
	ck_assert_ptr_nonnull(strstr(out, "\"waiting\":1"));
	start = mono_now();
	ck_assert_int_eq(ctl("reset %s", n), 0);
	ck_assert_ptr_nonnull(fgets(cmd, sizeof(cmd), p)); /* its ticket */
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_int_lt(mono_now() - start, 10 * NS);
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

START_TEST(run_and_the_environment_name)
{
	const char *n = test_name("run");

	ck_assert_int_eq(ctl("create %s --period 1 --max 10", n), 0);
	setenv("THROTTLE_NAME", n, 1);
	ck_assert_int_eq(
	    ctl("run -- sh -c 'echo \"$THROTTLE_TICKET\"; exit 7'"), 7);
	ck_assert_int_eq(out[0], '0');
	ck_assert_int_eq(ctl("status"), 0);
	ck_assert_ptr_nonnull(strstr(out, "Requests:        1"));
	ck_assert_int_eq(ctl("record 200"), 0);
	ck_assert_int_eq(ctl("run %s -- /nonexistent/cmd", n), 127);
	unsetenv("THROTTLE_NAME");
	ck_assert_int_eq(ctl("status"), 2);
	ck_assert_int_eq(ctl("--version"), 0);
	ck_assert_ptr_nonnull(strstr(out, SHMT_VERSION_STRING));
	ck_assert_int_eq(ctl("watch %s --count 2 --interval 0.05", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "Throttle: "));
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

/* Issue 12: throttlectl loads what it uses, and libcurl is not that: its
 * one call (curl_getdate) gave way to strptime/timegm. */
START_TEST(throttlectl_loads_no_libcurl)
{
	char buf[4096];

	ck_assert_int_eq(test_sh(buf, sizeof(buf), "ldd %s", CTL), 0);
	ck_assert_msg(!strstr(buf, "libcurl"), "%s", buf);
	/* nor does the core archive it links ask for any curl symbol */
	ck_assert_int_eq(test_sh(buf, sizeof(buf),
	                         "nm -u %s/libshmthrottle-core.a | grep -c "
	                         "curl_",
	                         TOOLS_DIR),
	                 1);
	ck_assert_str_eq(buf, "0\n");
	/* and an HTTP-date still works through the tool: 5 s by its Date */
	const char *n = test_name("nocurl");
	double left = 0;

	ck_assert_int_eq(ctl("create %s --period 60 --max 5", n), 0);
	ck_assert_int_eq(ctl("record %s 429 --retry-after 'Sun, 06 Nov 1994 "
	                     "08:49:47 GMT' --date 'Sunday, 06-Nov-94 "
	                     "08:49:42 GMT'",
	                     n),
	                 10);
	ck_assert_int_eq(ctl("status %s --json", n), 0);
	ck_assert_int_eq(sscanf(strstr(out, "\"delay_remaining\":"),
	                        "\"delay_remaining\":%lf", &left),
	                 1);
	ck_assert_msg(left > 4 && left <= 5, "%g", left);
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

/* Issue 12: list never waits on a stuck lock (it waited 5 s on each). */
START_TEST(list_says_busy_and_goes_on)
{
	char a[SHMT_NAME_MAX + 1], b[SHMT_NAME_MAX + 1], path[128];
	uint32_t holder = (uint32_t)getpid();
	int64_t start;

	snprintf(a, sizeof(a), "%s", test_name("stuck"));
	snprintf(b, sizeof(b), "%s", test_name("stuck"));
	for (int i = 0; i < 2; i++) {
		const char *n = i ? b : a;
		int fd;

		ck_assert_int_eq(ctl("create %s --period 1 --max 5", n), 0);
		snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", n);
		fd = open(path, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		/* a live process (this one) named as the holder */
		ck_assert_int_eq(pwrite(fd, &holder, sizeof(holder),
		                        offsetof(struct shmt_header, lock)),
		                 4);
		close(fd);
	}
	start = mono_now();
	ck_assert_int_eq(ctl2("list"), 0);
	ck_assert_msg(mono_now() - start < 2 * NS, "list took %.1f s",
	              (double)(mono_now() - start) / NS);
	ck_assert_msg(strstr(strstr(out, a), "busy"), "%s", out);
	ck_assert_msg(strstr(strstr(out, b), "busy"), "%s", out);
	ck_assert_int_eq(ctl("list --json"), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"busy\":true"));
	/* remove waits for the lock (5 s): free it first */
	for (int i = 0; i < 2; i++) {
		int fd;

		holder = 0;
		snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s",
		         i ? b : a);
		fd = open(path, O_WRONLY);
		ck_assert_int_eq(pwrite(fd, &holder, sizeof(holder),
		                        offsetof(struct shmt_header, lock)),
		                 4);
		close(fd);
	}
	ck_assert_int_eq(ctl("remove %s", a), 0);
	ck_assert_int_eq(ctl("remove %s", b), 0);
}
END_TEST

/* Issue 12: opening is O(1); `verify` looks at every entry. */
START_TEST(verify_finds_damage_inside_the_log)
{
	const char *n = test_name("verify");
	char path[128];
	int64_t zero = 0;
	size_t at;
	int fd;

	ck_assert_int_eq(ctl("create %s --period 60 --max 5", n), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ctl("acquire %s", n), 0);
	ck_assert_int_eq(ctl("verify %s", n), 0);
	ck_assert_ptr_nonnull(strstr(out, "sound"));
	/* the middle entry's send time: the log after header and notes */
	at = (sizeof(struct shmt_header) + 63) & ~(size_t)63;
	at = (at + SHMT_NOTES * sizeof(struct shmt_note) + 63) & ~(size_t)63;
	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", n);
	fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, &zero, 8, (off_t)(at + 8)), 8);
	close(fd);
	ck_assert_int_eq(ctl2("verify %s", n), 6);
	ck_assert_ptr_nonnull(strstr(out, "damaged"));
	ck_assert_int_eq(ctl("status %s", n), 0);
	ck_assert_int_eq(ctl("remove %s", n), 0);
}
END_TEST

Suite *
throttlectl_suite(void)
{
	Suite *s = suite_create("throttlectl");
	TCase *tc = tcase_create("commands");
	TCase *pr = tcase_create("processes");

	tcase_add_test(tc, create_status_set_reset_remove);
	tcase_add_test(tc, json_keys_are_stable);
	tcase_add_loop_test(tc, bad_input_one_line_and_a_status, 0,
	                    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, damaged_and_foreign_segments);
	tcase_add_test(tc, run_and_the_environment_name);
	tcase_add_test(tc, throttlectl_loads_no_libcurl);
	tcase_add_test(tc, list_says_busy_and_goes_on);
	tcase_add_test(tc, verify_finds_damage_inside_the_log);
	tcase_add_test(pr, twenty_shell_workers_share_five_per_second);
	tcase_add_test(pr, a_429_recorded_makes_other_processes_wait);
	tcase_add_test(pr, reset_wakes_a_blocked_acquire);
	tcase_set_timeout(pr, 60);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, pr);
	return s;
}
