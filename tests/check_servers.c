/* check_servers.c - the test servers themselves: scripts/ratelimit-server
 * (every mode and header dialect), scripts/jitter-relay and the
 * scripts/test-server wrapper, started from temporary folders on loopback
 * and checked by counting what they answered, never by upper bounds on
 * time. */
/* mkdtemp, timegm; strptime */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source tree"
#endif
#define TSERVER SOURCE_DIR "/scripts/test-server"

struct tsrv {
	char dir[64];
	int port;
};

/* One answer: its status and its header block (status line excluded). */
struct resp {
	int status;
	char head[2048];
};

#define MAXRESP 16

static char out[1 << 16];

/* test-server start DIR MODE LIMIT PERIOD EXTRA, owned by this test. */
static void
tsrv_start(struct tsrv *s, const char *mode, int limit, double period,
           const char *extra)
{
	char port[64];

	snprintf(s->dir, sizeof(s->dir), "/tmp/shmt-srv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	ck_assert_msg(test_sh(port, sizeof(port),
	                      "TEST_SERVER_OWNER=%ld TEST_SERVER_LIFETIME=120 "
	                      "%s start %s %s %d %g %s",
	                      (long)getpid(), TSERVER, s->dir, mode, limit,
	                      period, extra ? extra : "") == 0,
	              "test-server did not start (is python3 installed?)");
	s->port = atoi(port);
	ck_assert_int_gt(s->port, 0);
}

static void
tsrv_stop(struct tsrv *s)
{
	test_sh(NULL, 0, "%s stop %s", TSERVER, s->dir);
}

static void
tsrv_remove(struct tsrv *s)
{
	test_sh(NULL, 0, "rm -rf %s", s->dir);
}

/* The value of "NAME N" in the output of `test-server count`. */
static int
tsrv_count(const struct tsrv *s, const char *name)
{
	char buf[512], key[64];
	const char *p;

	ck_assert_int_eq(
	    test_sh(buf, sizeof(buf), "%s count %s", TSERVER, s->dir), 0);
	snprintf(key, sizeof(key), "%s ", name);
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, strlen(key)) == 0)
			return atoi(p + strlen(key));
	ck_abort_msg("no '%s' in: %s", name, buf);
	return -1;
}

static int
log_lines(const struct tsrv *s)
{
	char buf[64];

	test_sh(buf, sizeof(buf), "wc -l < %s/server.log", s->dir);
	return atoi(buf);
}

/* n sequential GETs of /PATH-i on one curl (one keep-alive connection):
 * the answers in r[], their number returned. */
static int
fire(const struct tsrv *s, int n, const char *path, struct resp *r)
{
	char cmd[4096];
	int len, k = 0;
	char *p, *next;

	ck_assert_int_le(n, MAXRESP);
	len = snprintf(cmd, sizeof(cmd),
	               "curl -s --max-time 20 -o /dev/null "
	               "-D - ");
	for (int i = 0; i < n; i++)
		len += snprintf(cmd + len, sizeof(cmd) - (size_t)len,
		                " http://127.0.0.1:%d/%s-%d", s->port, path, i);
	test_sh(out, sizeof(out), "%s", cmd);
	for (p = strstr(out, "HTTP/1.1 "); p && k < n; p = next, k++) {
		char *eol = strchr(p, '\n');
		size_t hl;

		next = strstr(p + 1, "\nHTTP/1.1 ");
		if (next)
			next++;
		r[k].status = atoi(p + 9);
		if (!eol)
			eol = p + strlen(p);
		hl = (size_t)((next ? next : out + strlen(out)) - eol);
		if (hl >= sizeof(r[k].head))
			hl = sizeof(r[k].head) - 1;
		memcpy(r[k].head, eol, hl);
		r[k].head[hl] = '\0';
	}
	return k;
}

static int
nstatus(const struct resp *r, int n, int status)
{
	int c = 0;

	for (int i = 0; i < n; i++)
		c += r[i].status == status;
	return c;
}

/* The value of header NAME (case-insensitive) in val; 0 when absent. */
static int
hdr(const struct resp *r, const char *name, char *val, size_t vlen)
{
	size_t nl = strlen(name);

	for (const char *p = r->head; *p; p++) {
		if (p[0] != '\n' || strncasecmp(p + 1, name, nl) != 0 ||
		    p[1 + nl] != ':')
			continue;
		p += 2 + nl;
		while (*p == ' ')
			p++;
		size_t k = strcspn(p, "\r\n");
		if (k >= vlen)
			k = vlen - 1;
		memcpy(val, p, k);
		val[k] = '\0';
		return 1;
	}
	return 0;
}

/* A whole non-negative decimal integer, or -1. */
static long
integer(const char *s)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	return *end ? -1 : v;
}

static int
matches(const char *s, const char *re)
{
	regex_t rx;
	int m;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	m = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return m;
}

/* An IMF-fixdate or an RFC 3339 time ("%Y-%m-%dT%H:%M:%SZ"), or -1. */
static time_t
parse_time(const char *s, const char *fmt)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, fmt, &tm);
	if (!end || *end)
		return -1;
	return timegm(&tm);
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fixed windows are aligned to the wall clock: wait until the current
 * window of `period` s has at least `need` s left, so that a burst of
 * requests falls in one window. */
static void
align_window(double period, double need)
{
	double left = period - fmod(wall_now(), period);

	if (left < need)
		usleep((useconds_t)((left + 0.05) * 1e6));
}

static int
running(long pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* a zombie has exited; whoever inherited it reaps it */
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static long
pid_in(const char *dir, const char *file)
{
	char buf[64];

	test_sh(buf, sizeof(buf), "cat %s/%s", dir, file);
	return atol(buf);
}

START_TEST(sliding_admits_limit_and_counts_arrivals)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];

	/* 5 per 2 s, sliding: 8 quick requests, 5 in, 3 refused */
	tsrv_start(&s, "sliding", 5, 2, NULL);
	ck_assert_int_eq(fire(&s, 8, "s", r), 8);
	ck_assert_int_eq(nstatus(r, 8, 200), 5);
	ck_assert_int_eq(nstatus(r, 8, 429), 3);
	for (int i = 0; i < 8; i++) {
		/* first come, first served */
		ck_assert_int_eq(r[i].status, i < 5 ? 200 : 429);
		if (r[i].status == 200) {
			ck_assert(!hdr(&r[i], "Retry-After", v, sizeof(v)));
			continue;
		}
		ck_assert(hdr(&r[i], "Retry-After", v, sizeof(v)));
		ck_assert_msg(integer(v) >= 1 && integer(v) <= 2,
		              "Retry-After: %s", v);
	}
	ck_assert(hdr(&r[0], "Date", v, sizeof(v)));
	/* the server's own count: never more than 5 in 2 s */
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "curl -s --max-time 10 "
	                         "http://127.0.0.1:%d/__stats",
	                         s.port),
	                 0);
	ck_assert_ptr_nonnull(strstr(out, "\"admitted\": 5,"));
	ck_assert_ptr_nonnull(strstr(out, "\"refused\": 3,"));
	ck_assert_ptr_nonnull(strstr(out, "\"max_in_window\": 5,"));
	/* stopped, the log is whole: 8 lines, /__stats not among them */
	tsrv_stop(&s);
	ck_assert_int_eq(log_lines(&s), 8);
	ck_assert_int_eq(tsrv_count(&s, "requests"), 8);
	ck_assert_int_eq(tsrv_count(&s, "admitted"), 5);
	ck_assert_int_eq(tsrv_count(&s, "refused"), 3);
	ck_assert_int_eq(tsrv_count(&s, "max_in_window"), 5);
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "awk '$2 == 429 && $3 ~ /^\\/s-[567]$/' "
	                         "%s/server.log | wc -l",
	                         s.dir),
	                 0);
	ck_assert_int_eq(atoi(out), 3);
	tsrv_remove(&s);
}
END_TEST

START_TEST(sliding_retry_after_is_enough)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[64];
	long ra;

	tsrv_start(&s, "sliding", 2, 2, NULL);
	ck_assert_int_eq(fire(&s, 3, "r", r), 3);
	ck_assert_int_eq(r[2].status, 429);
	ck_assert(hdr(&r[2], "Retry-After", v, sizeof(v)));
	ra = integer(v);
	ck_assert(ra >= 1 && ra <= 2);
	/* waiting as told frees a slot */
	sleep((unsigned)ra);
	ck_assert_int_eq(fire(&s, 1, "after", r), 1);
	ck_assert_int_eq(r[0].status, 200);
	tsrv_stop(&s);
	ck_assert_int_eq(tsrv_count(&s, "admitted"), 3);
	ck_assert_int_eq(tsrv_count(&s, "max_in_window"), 2);
	tsrv_remove(&s);
}
END_TEST

START_TEST(fixed_retry_after_is_the_next_window_as_http_date)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];
	time_t when, date;
	double now;

	tsrv_start(&s, "fixed", 3, 10, NULL);
	align_window(10, 2);
	now = wall_now();
	ck_assert_int_eq(fire(&s, 5, "f", r), 5);
	ck_assert_int_eq(nstatus(r, 5, 200), 3);
	ck_assert_int_eq(nstatus(r, 5, 429), 2);
	for (int i = 3; i < 5; i++) {
		ck_assert(hdr(&r[i], "Retry-After", v, sizeof(v)));
		when = parse_time(v, "%a, %d %b %Y %H:%M:%S GMT");
		ck_assert_msg(when > 0, "Retry-After: %s", v);
		/* the start of the next 10 s window */
		ck_assert_int_eq(when % 10, 0);
		ck_assert_int_gt(when, (time_t)now - 1);
		ck_assert_int_le(when, (time_t)now + 11);
		ck_assert(hdr(&r[i], "Date", v, sizeof(v)));
		date = parse_time(v, "%a, %d %b %Y %H:%M:%S GMT");
		ck_assert_msg(date > 0, "Date: %s", v);
		ck_assert_int_lt(date, when);
	}
	tsrv_stop(&s);
	ck_assert_int_eq(log_lines(&s), 5);
	tsrv_remove(&s);
}
END_TEST

START_TEST(github_dialect)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];
	double now;
	long reset;

	tsrv_start(&s, "github", 3, 10, NULL);
	align_window(10, 2);
	now = wall_now();
	ck_assert_int_eq(fire(&s, 4, "g", r), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].status, i < 3 ? 200 : 403);
		ck_assert(hdr(&r[i], "x-ratelimit-limit", v, sizeof(v)));
		ck_assert_str_eq(v, "3");
		ck_assert(hdr(&r[i], "x-ratelimit-remaining", v, sizeof(v)));
		ck_assert_int_eq(integer(v), i < 3 ? 2 - i : 0);
		ck_assert(hdr(&r[i], "x-ratelimit-used", v, sizeof(v)));
		ck_assert_int_eq(integer(v), i < 3 ? i + 1 : 3);
		ck_assert(hdr(&r[i], "x-ratelimit-reset", v, sizeof(v)));
		reset = integer(v);
		/* epoch seconds: the end of this 10 s window */
		ck_assert_int_eq(reset % 10, 0);
		ck_assert_int_gt(reset, (long)now - 1);
		ck_assert_int_le(reset, (long)now + 11);
		ck_assert(!hdr(&r[i], "Retry-After", v, sizeof(v)));
	}
	ck_assert_int_eq(test_sh(out, sizeof(out),
	                         "curl -s --max-time 10 -w ' %%{http_code}' "
	                         "http://127.0.0.1:%d/body",
	                         s.port),
	                 0);
	ck_assert_ptr_nonnull(strstr(out, "API rate limit exceeded"));
	ck_assert_ptr_nonnull(strstr(out, " 403"));
	tsrv_stop(&s);
	ck_assert_int_eq(tsrv_count(&s, "refused"), 2);
	tsrv_remove(&s);
}
END_TEST

START_TEST(ietf_structured_fields)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256], want[64];
	long t;

	tsrv_start(&s, "ietf", 3, 10, NULL);
	align_window(10, 2);
	ck_assert_int_eq(fire(&s, 4, "i", r), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].status, i < 3 ? 200 : 429);
		ck_assert(hdr(&r[i], "RateLimit-Policy", v, sizeof(v)));
		ck_assert_str_eq(v, "\"default\";q=3;w=10");
		ck_assert(hdr(&r[i], "RateLimit", v, sizeof(v)));
		ck_assert_msg(matches(v, "^\"default\";r=[0-9]+;t=[0-9]+$"),
		              "RateLimit: %s", v);
		snprintf(want, sizeof(want), "\"default\";r=%d;",
		         i < 3 ? 2 - i : 0);
		ck_assert_msg(strncmp(v, want, strlen(want)) == 0,
		              "RateLimit: %s", v);
		t = integer(strstr(v, ";t=") + 3);
		ck_assert(t >= 1 && t <= 10);
	}
	ck_assert(hdr(&r[3], "Retry-After", v, sizeof(v)));
	ck_assert(integer(v) >= 1 && integer(v) <= 10);
	ck_assert(!hdr(&r[0], "Retry-After", v, sizeof(v)));
	tsrv_stop(&s);
	tsrv_remove(&s);
}
END_TEST

START_TEST(ietf_old_headers)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];

	tsrv_start(&s, "ietf-old", 3, 10, NULL);
	align_window(10, 2);
	ck_assert_int_eq(fire(&s, 4, "o", r), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].status, i < 3 ? 200 : 429);
		ck_assert(hdr(&r[i], "RateLimit-Limit", v, sizeof(v)));
		ck_assert_str_eq(v, "3");
		ck_assert(hdr(&r[i], "RateLimit-Remaining", v, sizeof(v)));
		ck_assert_int_eq(integer(v), i < 3 ? 2 - i : 0);
		ck_assert(hdr(&r[i], "RateLimit-Reset", v, sizeof(v)));
		ck_assert(integer(v) >= 1 && integer(v) <= 10);
	}
	ck_assert(hdr(&r[3], "Retry-After", v, sizeof(v)));
	ck_assert(integer(v) >= 1 && integer(v) <= 10);
	tsrv_stop(&s);
	tsrv_remove(&s);
}
END_TEST

START_TEST(openai_durations)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];
	double left;
	/* Go's time.Duration.String(), to the millisecond */
	const char *go = "^(([0-9]+h)?([0-9]+m)?[0-9]+(\\.[0-9]*[1-9])?s"
	                 "|[1-9][0-9]{0,2}ms)$";

	tsrv_start(&s, "openai", 3, 10, NULL);
	align_window(10, 2);
	ck_assert_int_eq(fire(&s, 4, "a", r), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].status, i < 3 ? 200 : 429);
		ck_assert(
		    hdr(&r[i], "x-ratelimit-limit-requests", v, sizeof(v)));
		ck_assert_str_eq(v, "3");
		ck_assert(
		    hdr(&r[i], "x-ratelimit-remaining-requests", v, sizeof(v)));
		ck_assert_int_eq(integer(v), i < 3 ? 2 - i : 0);
		ck_assert(
		    hdr(&r[i], "x-ratelimit-reset-requests", v, sizeof(v)));
		ck_assert_msg(matches(v, go), "reset-requests: %s", v);
		ck_assert(!hdr(&r[i], "Retry-After", v, sizeof(v)));
	}
	ck_assert(hdr(&r[3], "retry-after-ms", v, sizeof(v)));
	ck_assert_msg(integer(v) >= 1 && integer(v) <= 10000,
	              "retry-after-ms: %s", v);
	ck_assert(!hdr(&r[0], "retry-after-ms", v, sizeof(v)));
	/* a window of 6 minutes reads "NmN.NNNs" while a minute or more
	 * of it is left, "N.NNNs" (or "NNNms") after */
	tsrv_stop(&s);
	tsrv_remove(&s);
	tsrv_start(&s, "openai", 3, 360, NULL);
	left = 360 - fmod(wall_now(), 360);
	ck_assert_int_eq(fire(&s, 1, "m", r), 1);
	ck_assert(hdr(&r[0], "x-ratelimit-reset-requests", v, sizeof(v)));
	if (left > 61)
		ck_assert_msg(matches(v, "^[1-6]m[0-9]+(\\.[0-9]*[1-9])?s$"),
		              "reset-requests: %s", v);
	else if (left < 59)
		ck_assert_msg(
		    matches(v, "^[0-9]+(\\.[0-9]*[1-9])?s$|^[0-9]+ms$"),
		    "reset-requests: %s", v);
	tsrv_stop(&s);
	tsrv_remove(&s);
}
END_TEST

START_TEST(anthropic_rfc3339)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];
	time_t reset;
	double now;

	tsrv_start(&s, "anthropic", 3, 10, NULL);
	align_window(10, 2);
	now = wall_now();
	ck_assert_int_eq(fire(&s, 4, "n", r), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].status, i < 3 ? 200 : 429);
		ck_assert(hdr(&r[i], "anthropic-ratelimit-requests-limit", v,
		              sizeof(v)));
		ck_assert_str_eq(v, "3");
		ck_assert(hdr(&r[i], "anthropic-ratelimit-requests-remaining",
		              v, sizeof(v)));
		ck_assert_int_eq(integer(v), i < 3 ? 2 - i : 0);
		ck_assert(hdr(&r[i], "anthropic-ratelimit-requests-reset", v,
		              sizeof(v)));
		ck_assert_msg(matches(v, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}"
		                         ":[0-9]{2}:[0-9]{2}Z$"),
		              "reset: %s", v);
		reset = parse_time(v, "%Y-%m-%dT%H:%M:%SZ");
		/* in the future: the end of this window */
		ck_assert_int_ge(reset, (time_t)now);
		ck_assert_int_le(reset, (time_t)now + 11);
	}
	ck_assert(hdr(&r[3], "Retry-After", v, sizeof(v)));
	ck_assert(integer(v) >= 1 && integer(v) <= 10);
	tsrv_stop(&s);
	tsrv_remove(&s);
}
END_TEST

START_TEST(plain_is_a_bare_429)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	char v[256];

	tsrv_start(&s, "plain", 2, 5, NULL);
	ck_assert_int_eq(fire(&s, 4, "p", r), 4);
	ck_assert_int_eq(nstatus(r, 4, 200), 2);
	ck_assert_int_eq(nstatus(r, 4, 429), 2);
	for (int i = 0; i < 4; i++) {
		ck_assert(!hdr(&r[i], "Retry-After", v, sizeof(v)));
		ck_assert(!hdr(&r[i], "retry-after-ms", v, sizeof(v)));
		/* nothing that tells the limit */
		for (char *p = r[i].head; *p; p++)
			ck_assert_msg(strncasecmp(p, "ratelimit", 9) != 0,
			              "a rate limit header: %s", r[i].head);
	}
	tsrv_stop(&s);
	ck_assert_int_eq(tsrv_count(&s, "admitted"), 2);
	ck_assert_int_eq(tsrv_count(&s, "refused"), 2);
	tsrv_remove(&s);
}
END_TEST

START_TEST(concurrent_arrivals_are_counted_exactly)
{
	struct tsrv s;
	int n200 = 0, n429 = 0;

	/* 40 connections x 3 requests, 50 per 30 s: exactly 50 in */
	tsrv_start(&s, "sliding", 50, 30, NULL);
	test_sh(out, sizeof(out),
	        "seq 40 | xargs -P 40 -I@ curl -s --max-time 20 -o /dev/null "
	        "-w '%%{http_code}\\n' http://127.0.0.1:%d/c@-a "
	        "http://127.0.0.1:%d/c@-b http://127.0.0.1:%d/c@-c",
	        s.port, s.port, s.port);
	for (char *p = out; (p = strstr(p, "200\n")); p++)
		n200++;
	for (char *p = out; (p = strstr(p, "429\n")); p++)
		n429++;
	ck_assert_int_eq(n200, 50);
	ck_assert_int_eq(n429, 70);
	tsrv_stop(&s);
	ck_assert_int_eq(tsrv_count(&s, "requests"), 120);
	ck_assert_int_eq(tsrv_count(&s, "admitted"), 50);
	ck_assert_int_eq(tsrv_count(&s, "max_in_window"), 50);
	tsrv_remove(&s);
}
END_TEST

START_TEST(relay_forwards_with_delay)
{
	struct tsrv s;
	struct resp r[MAXRESP];
	int64_t start;

	/* every request through the relay, 50-60 ms each way in */
	tsrv_start(&s, "sliding", 100, 10, "--relay 50-60 --seed 7");
	/* the port printed is the relay's, not the server's */
	ck_assert_int_ne(s.port, (int)pid_in(s.dir, "server.port"));
	start = mono_now();
	ck_assert_int_eq(fire(&s, 10, "j", r), 10);
	/* a lower bound only: 10 x 50 ms, minus slack */
	ck_assert_int_ge(mono_now() - start, 400 * MS);
	ck_assert_int_eq(nstatus(r, 10, 200), 10);
	tsrv_stop(&s);
	ck_assert_int_eq(log_lines(&s), 10);
	tsrv_remove(&s);
}
END_TEST

START_TEST(relay_holds_40_keepalive_connections)
{
	struct tsrv s;
	int n200 = 0;

	tsrv_start(&s, "sliding", 1000, 10, "--relay 1-20");
	test_sh(out, sizeof(out),
	        "seq 40 | xargs -P 40 -I@ curl -s --max-time 30 -o /dev/null "
	        "-w '%%{http_code}\\n' http://127.0.0.1:%d/k@-a "
	        "http://127.0.0.1:%d/k@-b http://127.0.0.1:%d/k@-c "
	        "http://127.0.0.1:%d/k@-d http://127.0.0.1:%d/k@-e",
	        s.port, s.port, s.port, s.port, s.port);
	for (char *p = out; (p = strstr(p, "200\n")); p++)
		n200++;
	ck_assert_int_eq(n200, 200);
	tsrv_stop(&s);
	ck_assert_int_eq(tsrv_count(&s, "admitted"), 200);
	tsrv_remove(&s);
}
END_TEST

START_TEST(servers_go_with_their_owner)
{
	struct tsrv s;
	char port[64];
	long spid, rpid;
	pid_t owner = fork();

	ck_assert_int_ge(owner, 0);
	if (owner == 0) {
		pause();
		_exit(0);
	}
	snprintf(s.dir, sizeof(s.dir), "/tmp/shmt-srv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s.dir));
	ck_assert_int_eq(test_sh(port, sizeof(port),
	                         "TEST_SERVER_OWNER=%ld %s start %s plain 5 1 "
	                         "--relay 1-2",
	                         (long)owner, TSERVER, s.dir),
	                 0);
	spid = pid_in(s.dir, "server.pid");
	rpid = pid_in(s.dir, "relay.pid");
	ck_assert(running(spid) && running(rpid));
	/* in sessions of their own, out of the test runner's reach */
	ck_assert_int_eq(getsid((pid_t)spid), spid);
	ck_assert_int_eq(getsid((pid_t)rpid), rpid);
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	for (int i = 0; i < 100 && (running(spid) || running(rpid)); i++)
		usleep(50000);
	ck_assert(!running(spid));
	ck_assert(!running(rpid));
	tsrv_remove(&s);
}
END_TEST

Suite *
servers_suite(void)
{
	Suite *s = suite_create("servers");
	TCase *tc = tcase_create("ratelimit-server");
	TCase *rl = tcase_create("jitter-relay");

	tcase_add_test(tc, sliding_admits_limit_and_counts_arrivals);
	tcase_add_test(tc, sliding_retry_after_is_enough);
	tcase_add_test(tc, fixed_retry_after_is_the_next_window_as_http_date);
	tcase_add_test(tc, github_dialect);
	tcase_add_test(tc, ietf_structured_fields);
	tcase_add_test(tc, ietf_old_headers);
	tcase_add_test(tc, openai_durations);
	tcase_add_test(tc, anthropic_rfc3339);
	tcase_add_test(tc, plain_is_a_bare_429);
	tcase_add_test(tc, concurrent_arrivals_are_counted_exactly);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(s, tc);
	tcase_add_test(rl, relay_forwards_with_delay);
	tcase_add_test(rl, relay_holds_40_keepalive_connections);
	tcase_add_test(rl, servers_go_with_their_owner);
	tcase_set_timeout(rl, 60);
	suite_add_tcase(s, rl);
	return s;
}
