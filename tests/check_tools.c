/* check_tools.c - the tools' exit statuses and messages when things go
 * wrong: write errors, transport errors, time limits, a broken URL list,
 * out-of-range values, escaping, and error lines written whole. */
#define _DEFAULT_SOURCE /* posix_openpt, cfmakeraw, setenv */
#define _XOPEN_SOURCE 600
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef TOOLS_DIR
#error "TOOLS_DIR must name the folder of the built tools"
#endif
#define CTL TOOLS_DIR "/throttlectl"
#define TCURL TOOLS_DIR "/throttle-curl"

static char out[1 << 16];

/* Run the shell command; what it prints (stdout, and whatever the command
 * itself redirects) in out[]; its exit status returned. */
static int
run(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = test_vsh(out, sizeof(out), "", fmt, ap);
	va_end(ap);
	return rc;
}

static int
one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

/* A file of `size` bytes of 'x' lines; its path in a static buffer. */
static const char *
body_file(size_t size)
{
	static char path[64];
	char line[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/shmt-body-%ld", (long)getpid());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (size_t i = 0; i < size; i += sizeof(line))
		fwrite(line, 1, sizeof(line), f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Item 8: output that cannot be written. */

START_TEST(acquire_whose_ticket_cannot_be_written_exits_23)
{
	const char *n = test_name("wr");

	ck_assert_int_eq(run("%s create %s --period 60 --max 100", CTL, n), 0);
	ck_assert_int_eq(run("%s acquire %s 2>&1 >/dev/full", CTL, n), 23);
	ck_assert_msg(one_line(out) && strstr(out, "ticket"), "%s", out);
	ck_assert_int_eq(run("%s acquire %s 2>&1 >&-", CTL, n), 23);
	ck_assert_msg(one_line(out) && strstr(out, "ticket"), "%s", out);
	/* the slots were taken all the same, and the message says so */
	ck_assert_int_eq(run("%s status %s", CTL, n), 0);
	ck_assert_ptr_nonnull(strstr(out, "Requests:        2"));
	ck_assert_int_eq(run("%s status %s >/dev/full", CTL, n), 23);
	ck_assert_int_eq(run("%s remove %s", CTL, n), 0);
}
END_TEST

START_TEST(throttle_curl_write_errors_exit_23)
{
	const char *n = test_name("tcwr");
	const char *big = body_file(1 << 20);

	ck_assert_int_eq(
	    run("%s -t %s file://%s 2>&1 >/dev/full", TCURL, n, big), 23);
	ck_assert_msg(one_line(out), "%s", out);
	ck_assert_int_eq(
	    run("%s -t %s -o /dev/full file://%s 2>&1", TCURL, n, big), 23);
	ck_assert_msg(one_line(out), "%s", out);
	ck_assert_int_eq(run("%s -t %s file://%s 2>&1 >&-", TCURL, n, big), 23);
	/* -w's output counts too */
	ck_assert_int_eq(run("%s -t %s -o /dev/null -w '%%{http_code}' "
	                     "file://%s 2>/dev/null >/dev/full",
	                     TCURL, n, big),
	                 23);
	/* a reader that goes away: 23, not death by SIGPIPE */
	ck_assert_int_eq(run("{ { %s -t %s file://%s 2>/dev/null; "
	                     "echo \"rc=$?\" >&3; } | head -c 1 >/dev/null; "
	                     "} 3>&1",
	                     TCURL, n, big),
	                 0);
	ck_assert_msg(strstr(out, "rc=23"), "%s", out);
	unlink(big);
	shmt_remove(n);
}
END_TEST

/* Item 9: transport errors and time limits. */

START_TEST(an_unresolvable_host_exits_6_with_curls_message)
{
	const char *n = test_name("dns");

	ck_assert_int_eq(run("%s -t %s --retries 1 -w '%%{exitcode}\\n' "
	                     "http://nosuch.invalid/ 2>&1",
	                     TCURL, n),
	                 6);
	ck_assert_msg(strstr(out, "resolve host"), "%s", out);
	ck_assert_msg(strstr(out, "6\n"), "%s", out);
	shmt_remove(n);
}
END_TEST

/* A server that accepts connections (the kernel does) and never answers. */
static int
silent_server(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s, 16), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

START_TEST(max_time_against_a_silent_server_exits_28)
{
	const char *n = test_name("slow");
	int port, s = silent_server(&port);

	ck_assert_int_eq(run("%s -t %s -m 1 --retries 1 -w '%%{exitcode}\\n' "
	                     "http://127.0.0.1:%d/ 2>&1",
	                     TCURL, n, port),
	                 28);
	ck_assert_msg(strstr(out, "timed out"), "%s", out);
	ck_assert_msg(strstr(out, "28\n"), "%s", out);
	close(s);
	shmt_remove(n);
}
END_TEST

START_TEST(retry_max_time_ending_in_a_shared_pause_exits_75)
{
	const char *n = test_name("pause");

	ck_assert_int_eq(run("%s create %s --period 1 --max 10", CTL, n), 0);
	ck_assert_int_eq(run("%s record %s 429 --retry-after 60", CTL, n), 10);
	ck_assert_int_eq(
	    run("%s -t %s --retry-max-time 1 "
	        "-w '%%{exitcode} %%{num_retries} %%{http_code}\\n'"
	        " http://127.0.0.1:1/ 2>/dev/null",
	        TCURL, n),
	    75);
	ck_assert_str_eq(out, "75 0 000\n");
	ck_assert_int_eq(run("%s -t %s --retry-max-time 1 http://127.0.0.1:1/ "
	                     "2>&1",
	                     TCURL, n),
	                 75);
	ck_assert_msg(one_line(out) && strstr(out, "--retry-max-time") &&
	                  strstr(out, "shared pause"),
	              "%s", out);
	ck_assert_int_eq(run("%s remove %s", CTL, n), 0);
}
END_TEST

START_TEST(absurd_max_time_is_a_usage_error)
{
	const char *n = test_name("mt");

	ck_assert_int_eq(run("%s -t %s -m 100000000000000000000 "
	                     "http://127.0.0.1:1/ 2>&1",
	                     TCURL, n),
	                 2);
	ck_assert_msg(one_line(out) && strstr(out, "invalid --max-time"), "%s",
	              out);
	ck_assert_int_eq(run("%s -t %s --connect-timeout 99999999999 "
	                     "http://127.0.0.1:1/ 2>&1",
	                     TCURL, n),
	                 2);
	ck_assert_msg(one_line(out) && strstr(out, "--connect-timeout"), "%s",
	              out);
	shmt_remove(n);
}
END_TEST

/* Item 10: a read error on the URL list.  stdin is a pseudo-terminal: one
 * URL arrives, then the terminal hangs up and the next read fails (EIO). */
START_TEST(a_read_error_on_the_url_list_is_not_silent)
{
	const char *n = test_name("rd");
	struct termios tio;
	int master, slave, pipefd[2], st, avail;
	char cmd[512];
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(slave, 0);
	ck_assert_int_eq(tcgetattr(slave, &tio), 0);
	cfmakeraw(&tio);
	ck_assert_int_eq(tcsetattr(slave, TCSANOW, &tio), 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	snprintf(cmd, sizeof(cmd),
	         "%s -t %s --jobs 2 -w 'fetched %%{url}\\n' 2>&1; echo rc=$?",
	         TCURL, n);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(slave, 0);
		dup2(pipefd[1], 1);
		close(master);
		close(slave);
		close(pipefd[0]);
		close(pipefd[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	ck_assert_int_eq(write(master, "http://127.0.0.1:1/a\n", 21), 21);
	/* until the line has reached the terminal and the tool has read it
	 * (if it read it before we saw it, a second goes by), then hang up */
	for (int i = 0, seen = 0; i < 4000; i++) {
		struct timespec nap = { 0, 5 * MS };

		ck_assert_int_eq(ioctl(slave, FIONREAD, &avail), 0);
		seen |= avail > 0;
		if (avail == 0 && (seen || i >= 200))
			break;
		nanosleep(&nap, NULL);
	}
	ck_assert_int_eq(avail, 0);
	close(slave);
	close(master);
	while ((r = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	/* nothing fetched from a list known to be incomplete; curl's 26 */
	ck_assert_msg(!strstr(out, "fetched"), "%s", out);
	ck_assert_msg(strstr(out, "read") && strstr(out, "rc=26\n"), "%s", out);
	shmt_remove(n);
}
END_TEST

/* Item 11: messages. */

static const struct {
	const char *args;
	int status;
	const char *says;
} bad_values[] = {
	{ "create x --period 1 --max 3 --margin 99999999", 2,
	  "--margin must be 0 to 60" },
	{ "create x --period 1 --max 3 --backoff-max 99999999", 2,
	  "--backoff-max must be" },
	{ "create x --period 1 --max 3 --backoff-multiplier 5000", 2,
	  "--backoff-multiplier must be 1 to 1000" },
	{ "create x --period 1 --max 3 --retry-after-max 99999999", 2,
	  "--retry-after-max must be" },
	{ "create x --period 99999999 --max 3", 2,
	  "period must be 0.000001 to" },
	{ "create x --period 1 --max 3 --capacity 99999999", 2,
	  "invalid --capacity" },
	{ "create x --period 1 --max 300 --capacity 100", 2,
	  "--capacity must hold the largest --max" },
	{ "create -xyz", 2, "bad option '-x' for 'create'" },
	{ "create x --period 1 --max 3 -q", 2, "bad option '-q' for 'create'" },
	{ "status x --nosuch", 2, "bad option '--nosuch' for 'status'" },
	{ "acquire x --timeout", 2, "'--timeout' needs a value" },
	{ "create x --rate 1/1 --rate 1/2 --rate 1/3 --rate 1/4 --rate 1/5", 2,
	  "at most 4 limits" },
	{ "create x --period 1 --max 9 --rate 1/1 --rate 1/2 --rate 1/3 "
	  "--rate 1/4",
	  2, "at most 4 limits" },
};

START_TEST(out_of_range_values_say_which)
{
	int st = run("%s %s 2>&1", CTL, bad_values[_i].args);

	ck_assert_msg(st == bad_values[_i].status,
	              "'%s': exit %d, want %d (%s)", bad_values[_i].args, st,
	              bad_values[_i].status, out);
	ck_assert_msg(strstr(out, bad_values[_i].says), "'%s' said: %s",
	              bad_values[_i].args, out);
	ck_assert_msg(one_line(out), "'%s' said more than a line: %s",
	              bad_values[_i].args, out);
}
END_TEST

START_TEST(set_out_of_range_says_which)
{
	const char *n = test_name("set");

	ck_assert_int_eq(run("%s create %s --period 1 --max 3", CTL, n), 0);
	ck_assert_int_eq(run("%s set %s --margin 99999999 2>&1", CTL, n), 2);
	ck_assert_msg(one_line(out) && strstr(out, "--margin must be 0 to 60"),
	              "%s", out);
	ck_assert_int_eq(run("%s remove %s", CTL, n), 0);
}
END_TEST

START_TEST(help_shows_group_where_it_is_accepted)
{
	const char *n = test_name("grp");

	ck_assert_int_eq(run("%s --help", CTL), 0);
	ck_assert_msg(!strstr(out, "throttlectl --group"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "--group"));
	ck_assert_int_eq(
	    run("%s create %s --period 1 --max 3 --mode 660", CTL, n), 0);
	ck_assert_int_eq(run("%s status %s --group", CTL, n), 0);
	ck_assert_int_eq(run("%s remove %s", CTL, n), 0);
}
END_TEST

/* Each error line must reach stderr in one write(2), so that lines of
 * concurrent processes do not interleave: stderr is a SOCK_SEQPACKET
 * socket, where each write is one message. */
static void
lines_written_whole(const char *cmd)
{
	int sv[2], st, msgs = 0;
	char buf[4096];
	ssize_t r;
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(sv[1], 2);
		close(sv[0]);
		close(sv[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	while ((r = recv(sv[0], buf, sizeof(buf) - 1, 0)) > 0) {
		buf[r] = '\0';
		ck_assert_msg(one_line(buf),
		              "'%s' wrote a part of a line: '%s'", cmd, buf);
		msgs++;
	}
	close(sv[0]);
	waitpid(pid, &st, 0);
	ck_assert_msg(msgs > 0, "'%s' wrote no error", cmd);
}

START_TEST(error_lines_are_written_whole)
{
	const char *n = test_name("line");
	char cmd[512];

	lines_written_whole(CTL " create -xyz");
	lines_written_whole(CTL " status nosuch-throttle-xyz");
	lines_written_whole(CTL " create x --period 1 --max 3 --margin 99999");
	snprintf(cmd, sizeof(cmd), "%s -t %s --bogus http://x/", TCURL, n);
	lines_written_whole(cmd);
	snprintf(cmd, sizeof(cmd), "%s -t %s --retries 0 http://127.0.0.1:1/",
	         TCURL, n);
	lines_written_whole(cmd);
	snprintf(cmd, sizeof(cmd), "%s -t %s http://127.0.0.1:1/ >/dev/full",
	         TCURL, n);
	lines_written_whole(cmd);
	shmt_remove(n);
}
END_TEST

START_TEST(log_escapes_what_a_terminal_would_run)
{
	const char *n = test_name("esc");

	ck_assert_int_eq(run("%s create %s --period 1 --max 10", CTL, n), 0);
	ck_assert_int_eq(run("%s acquire %s", CTL, n), 0);
	out[strcspn(out, "\n")] = '\0';
	ck_assert_int_eq(run("%s record %s 200 --ticket %s "
	                     "--url \"$(printf 'http://h/\\033[31m\\303\\251"
	                     "\\377\\\\x')\"",
	                     CTL, n, out),
	                 0);
	ck_assert_int_eq(run("%s log %s", CTL, n), 0);
	ck_assert_msg(!strchr(out, '\033'), "%s", out);
	ck_assert_msg(strstr(out, "http://h/\\x1b[31m\xc3\xa9\\xff\\\\x\n"),
	              "%s", out);
	ck_assert_int_eq(run("%s log %s --json", CTL, n), 0);
	ck_assert_msg(strstr(out, "\"url\":\"http://h/\\u001b[31m\xc3\xa9"
	                          "\\ufffd\\\\x\"}"),
	              "%s", out);
	ck_assert_int_eq(run("%s remove %s", CTL, n), 0);
}
END_TEST

Suite *
tools_suite(void)
{
	Suite *s = suite_create("tools");
	TCase *w = tcase_create("write-errors");
	TCase *t = tcase_create("transport");
	TCase *m = tcase_create("messages");

	tcase_add_test(w, acquire_whose_ticket_cannot_be_written_exits_23);
	tcase_add_test(w, throttle_curl_write_errors_exit_23);
	tcase_add_test(t, an_unresolvable_host_exits_6_with_curls_message);
	tcase_add_test(t, max_time_against_a_silent_server_exits_28);
	tcase_add_test(t, retry_max_time_ending_in_a_shared_pause_exits_75);
	tcase_add_test(t, absurd_max_time_is_a_usage_error);
	tcase_add_test(t, a_read_error_on_the_url_list_is_not_silent);
	tcase_add_loop_test(m, out_of_range_values_say_which, 0,
	                    (int)(sizeof(bad_values) / sizeof(bad_values[0])));
	tcase_add_test(m, set_out_of_range_says_which);
	tcase_add_test(m, help_shows_group_where_it_is_accepted);
	tcase_add_test(m, error_lines_are_written_whole);
	tcase_add_test(m, log_escapes_what_a_terminal_would_run);
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, w);
	suite_add_tcase(s, t);
	suite_add_tcase(s, m);
	return s;
}
