/* throttle-curl - fetch URLs from many processes under one shared limit,
 * without wasting requests on 429s. */
#define _GNU_SOURCE /* getopt_long, getline */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "writeout.h"

/* Exit statuses beside cli.h's EXIT_USAGE and EXIT_WRITE (23, as curl). */
/* --fail and a final status >= 400, as curl */
#define EXIT_HTTP_FAIL 22
/* the URL list cannot be read: curl's CURLE_READ_ERROR */
#define EXIT_READ 26
/* the throttle cannot be opened or used */
#define EXIT_THROTTLE 69
/* a URL still rate-limited (429, 503...) when --retries or
 * --retry-max-time ran out */
#define EXIT_GAVE_UP 75

/* The largest -m and --connect-timeout: their milliseconds fit a long of
 * 32 bits, as libcurl takes them. */
#define MAX_TIME_S 2147483.0

/* clang-format off */
static const char usage_text[] =
"Usage: throttle-curl -t NAME [OPTIONS] URL...\n"
"       ... | throttle-curl -t NAME --jobs N [OPTIONS] [-]\n"
"Fetch URLs like curl, pacing every request through the throttle NAME that\n"
"all processes of this host share, so that together they stay under one\n"
"API's rate limit and retry 429s after one shared pause.\n"
"\n"
"Throttle:\n"
"  -t, --throttle NAME       the shared throttle (default $" THROTTLE_ENV ")\n"
"      --backend URL         where it lives (default $" BACKEND_ENV ", else\n"
"                            this host's shared memory):\n"
"                            redis://[USER@]HOST[:PORT][/DB] or\n"
"                            redis+unix:///PATH[?db=N][&user=USER], as in\n"
"                            throttlectl(1)\n"
"      --redis-password-file F  the Redis password: F's first line\n"
"      --period S --max N    the limit, N requests per S seconds: creates the\n"
"                            throttle if it does not exist\n"
"      --rate N/S, --policy window|smooth, --burst N, --margin S,\n"
"      --margin-mode adaptive|fixed,\n"
"      --backoff-initial S, --backoff-multiplier M, --backoff-max S,\n"
"      --retry-after-max S, --max-retries N, --capacity N\n"
"                            as in throttlectl(1), for a throttle created here\n"
"      --units N/S, --unit-burst N, --concurrency C, --hold-max S\n"
"                            unit limits and the cap on requests in flight,\n"
"                            as in throttlectl(1)\n"
"      --reconfigure         apply the given limit to an existing throttle\n"
"                            (otherwise its own settings win, with a warning)\n"
"      --cost N              each request costs N units against --units (1)\n"
"      --cost-header NAME    the response header NAME holds the actual cost\n"
"                            (a whole number): the difference is refunded or\n"
"                            charged to the shared limit\n"
"Transfer (as curl):\n"
"  -o, --output FILE         write bodies to FILE (default stdout)\n"
"  -w, --write-out FORMAT    after each transfer: %{http_code} %{url_effective}\n"
"                            %{time_total} %{num_retries} %{exitcode}\n"
"                            %{errormsg} \\n \\t %%; %{stderr} %{stdout} switch\n"
"  -H, --header LINE         extra request header (repeatable)\n"
"  -X, --request METHOD      request method\n"
"  -d, --data DATA           POST body\n"
"  -m, --max-time S          limit for one attempt (at most 2147483)\n"
"      --connect-timeout S   limit for connecting (at most 2147483)\n"
"  -f, --fail                exit 22 if a final status is 400 or more\n"
"  -s, --silent              no progress line, no warnings (errors still show)\n"
"Retries:\n"
"      --retries N           resends per URL, 429s included (default: the\n"
"                            throttle's, 3; with no rate configured, as many\n"
"                            as --retry-max-time allows, at most 1000)\n"
"      --retry-max-time S    give up on a URL after S seconds in all (with\n"
"                            no rate configured and no --retries: 600)\n"
"      --retry-status CODE   also back off and retry on CODE (repeatable)\n"
"      --retry-connrefused   also retry refused connections\n"
"Many URLs:\n"
"      --jobs N              N transfers at once in this process; with no URL\n"
"                            or '-', read URLs from stdin, one per line\n"
"  -h, --help, --version\n"
"\n"
"Every response's rate-limit headers (RateLimit-Policy/RateLimit,\n"
"RateLimit-*, X-RateLimit-*, OpenAI's, Anthropic's, retry-after-ms) pace\n"
"all processes: none left, one shared pause until the reset (GitHub's 403\n"
"too); little left, the rest spread over the time to it; an announced\n"
"limit enforced beside yours.  A server that says nothing but 429 teaches\n"
"a shared pace.  `throttlectl status NAME` shows what was learned.\n"
"\n"
"Exit status: 0 every URL answered (with --fail: below 400); 2 usage;\n"
"22 --fail and a status of 400 or more; 23 the output cannot be written;\n"
"26 the URL list cannot be read (nothing is fetched); 69 the throttle\n"
"cannot be used; 75 a URL still rate-limited when its retries ran out,\n"
"or --retry-max-time ran out in the shared pause; otherwise curl's code\n"
"for a transport error (6 host not found, 7 cannot connect, 28 timed\n"
"out), its retries used up or not.  The first failing URL, in input\n"
"order, decides; %{exitcode} prints each URL's own.\n";
/* clang-format on */

struct job {
	const char *url;
	shmt_curl_result res;
	int throttle_rc;
	/* the failed attempt's body, replaced by the retry's */
	FILE *body;
	/* its body or -w could not be written, or it was not fetched since
	 * the output failed */
	int write_error;
	int skipped;
};

static struct {
	shmt_throttle *t;
	shmt_curl_opts copts;
	int retry_statuses[32];
	struct curl_slist *headers;
	const char *method, *data, *writeout;
	double max_time, connect_timeout;
	int fail, silent;
	FILE *out;
	const char *out_name;
	/* the output (or stdout, for -w) failed: fetch no more */
	int out_failed;
	pthread_mutex_t out_mu;
	size_t done, total;
} g = { .out_mu = PTHREAD_MUTEX_INITIALIZER };

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	return fwrite(p, size, n, arg) * size;
}

/* Before a retry: its body replaces the failed attempt's. */
static void
before_retry(void *arg)
{
	struct job *j = arg;

	rewind(j->body);
	if (ftruncate(fileno(j->body), 0) != 0)
		fseek(j->body, 0, SEEK_SET);
}

/* 0, or -1 with errno set if g.out cannot take the body. */
static int
copy_out(FILE *from)
{
	char buf[65536];
	size_t n;

	rewind(from);
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		if (fwrite(buf, 1, n, g.out) != n)
			return -1;
	return fflush(g.out) == EOF ? -1 : 0;
}

static void
setup(CURL *easy, struct job *j)
{
	curl_easy_setopt(easy, CURLOPT_URL, j->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT,
	                 "throttle-curl/" SHMT_VERSION_STRING);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, j->body);
	if (g.headers)
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, g.headers);
	if (g.data)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, g.data);
	if (g.method)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, g.method);
	if (g.max_time > 0)
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
		                 (long)(g.max_time * 1000));
	if (g.connect_timeout > 0)
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
		                 (long)(g.connect_timeout * 1000));
}

/* The exit status for one URL, as %{exitcode} prints it. */
static int
url_status(const struct job *j)
{
	int st;

	/* --retry-max-time ran out in the shared pause, before the first
	 * send (a later one shows as gave_up) */
	if (j->throttle_rc == SHMT_ETIMEDOUT)
		st = EXIT_GAVE_UP;
	else if (j->throttle_rc != SHMT_OK)
		st = EXIT_THROTTLE;
	else if (j->res.curl_code != CURLE_OK)
		st = j->res.curl_code;
	else if (j->res.gave_up)
		st = EXIT_GAVE_UP;
	else if (g.fail && j->res.status >= 400)
		st = EXIT_HTTP_FAIL;
	else
		st = EXIT_OK;
	return st == EXIT_OK && j->write_error ? EXIT_WRITE : st;
}

/* The first write error ends the output: one message, and no more URLs
 * fetched for nothing.  Called under g.out_mu. */
static void
output_failed(struct job *j, const char *where)
{
	j->write_error = 1;
	if (g.out_failed)
		return;
	g.out_failed = 1;
	cli_error("write to %s failed: %s (no more URLs are fetched)", where,
	          strerror(errno));
}

/* As curl: the body to -o or stdout (not with --fail on an error), then
 * -w to stdout. */
static void
output(struct job *j)
{
	pthread_mutex_lock(&g.out_mu);
	if (!g.out_failed && j->body && j->throttle_rc == SHMT_OK &&
	    j->res.curl_code == CURLE_OK && !(g.fail && j->res.status >= 400) &&
	    copy_out(j->body) != 0)
		output_failed(j, g.out_name);
	if (!g.out_failed && g.writeout) {
		writeout(stdout, g.writeout, j->url, &j->res, url_status(j));
		if (fflush(stdout) == EOF || ferror(stdout))
			output_failed(j, "stdout");
	}
	g.done++;
	pthread_mutex_unlock(&g.out_mu);
}

static int
fetch(void *arg, void **result)
{
	struct job *j = arg;
	CURL *easy = NULL;
	shmt_curl_opts o = g.copts;

	*result = NULL;
	pthread_mutex_lock(&g.out_mu);
	j->skipped = j->write_error = g.out_failed;
	pthread_mutex_unlock(&g.out_mu);
	if (j->skipped)
		return SHMT_OK;
	easy = curl_easy_init();
	j->body = tmpfile();
	if (!easy || !j->body) {
		j->res.curl_code = CURLE_OUT_OF_MEMORY;
		snprintf(j->res.error, sizeof(j->res.error), "%s",
		         strerror(errno));
	} else {
		setup(easy, j);
		o.before_retry = before_retry;
		o.arg = j;
		j->throttle_rc = shmt_curl_perform(g.t, easy, &o, &j->res);
	}
	output(j);
	if (j->body)
		fclose(j->body);
	j->body = NULL;
	curl_easy_cleanup(easy);
	return j->throttle_rc;
}

/* The line a terminal shows while --jobs runs. */
static void *
progress(void *arg)
{
	int64_t start = *(int64_t *)arg;

	for (;;) {
		struct timespec nap = { 0, 250000000 };
		shmt_stat st;
		double secs;
		size_t done;

		nanosleep(&nap, NULL);
		pthread_mutex_lock(&g.out_mu);
		done = g.done;
		pthread_mutex_unlock(&g.out_mu);
		if (shmt_stat_get(g.t, &st) != SHMT_OK)
			continue;
		secs = (double)(time(NULL) - start);
		/* one fprintf to unbuffered stderr: one write(2) */
		fprintf(stderr,
		        "\r%s: %zu/%zu done, %.1f req/s, %llu 429s, %u waiting "
		        "(host)   ",
		        cli_prog, done, g.total,
		        secs > 0 ? (double)done / secs : 0.0,
		        (unsigned long long)st.n429, st.waiting);
	}
	return NULL;
}

/* 0, -1 out of memory, -2 a read error (errno set). */
static int
read_urls(char ***urls, size_t *n)
{
	size_t cap = 0, len = 0;
	char *line = NULL;
	ssize_t got;

	*n = 0;
	*urls = NULL;
	while ((got = getline(&line, &len, stdin)) >= 0) {
		char *s = line, *e = line + got;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
		                 e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s || *s == '#')
			continue;
		*e = '\0';
		if (*n == cap) {
			char **v = realloc(*urls, (cap = cap ? 2 * cap : 64) *
			                              sizeof(*v));

			if (!v)
				goto fail;
			*urls = v;
		}
		if (!((*urls)[(*n)++] = strdup(s)))
			goto fail;
	}
	free(line);
	return ferror(stdin) ? -2 : 0;
fail:
	free(line);
	return -1;
}

static int
same_limits(const shmt_config *a, const shmt_config *b)
{
	if (a->nrates != b->nrates || a->policy != b->policy ||
	    a->nunits != b->nunits || a->concurrency != b->concurrency)
		return 0;
	for (unsigned i = 0; i < a->nunits; i++)
		if (a->units[i].max != b->units[i].max ||
		    a->units[i].period != b->units[i].period)
			return 0;
	for (unsigned i = 0; i < a->nrates; i++)
		if (a->rates[i].max != b->rates[i].max ||
		    a->rates[i].period != b->rates[i].period)
			return 0;
	return 1;
}

/* Open NAME, creating it from cc when absent.  An existing throttle keeps
 * its settings (others share them) unless --reconfigure; a difference is
 * never silent. */
static int
open_throttle(const char *name, struct cli_config *cc, int reconfigure)
{
	shmt_config have;
	double hold;
	int limits, differ, hold_differs;
	int rc =
	    shmt_open_backend(&g.t, cli_backend, name, &cc->cfg, SHMT_CREATE);

	if (rc == SHMT_OK)
		rc = shmt_config_get(g.t, &have);
	if (rc != SHMT_OK) {
		cli_fail(rc, "throttle '%s'", name);
		return EXIT_THROTTLE;
	}
	limits = cc->rates_given || cc->units_given || cc->cfg.concurrency;
	differ = limits && !same_limits(&have, &cc->cfg);
	/* the lease, where the backend keeps one (Redis; shared memory
	 * says 0): compared only if given, kept unless given */
	hold = cc->cfg.hold_max > 0 ? cc->cfg.hold_max : SHMT_HOLD_MAX_DEFAULT;
	hold_differs = cc->hold_given && have.hold_max > 0 &&
	               fabs(hold - have.hold_max) > 1e-6;
	if (!differ && !hold_differs)
		return 0;
	if (reconfigure) {
		shmt_config want = limits ? cc->cfg : have;

		want.capacity = have.capacity;
		want.hold_max = cc->hold_given ? hold : have.hold_max;
		if ((rc = shmt_config_set(g.t, &want)) != SHMT_OK) {
			cli_fail(rc, "reconfigure '%s'", name);
			return EXIT_THROTTLE;
		}
	} else if (!g.silent && differ) {
		cli_error("warning: throttle '%s' exists with other limits; "
		          "using its own (see throttlectl status %s; "
		          "--reconfigure to apply yours)",
		          name, name);
	} else if (!g.silent) {
		cli_error("warning: throttle '%s' exists with --hold-max %g; "
		          "using it (--reconfigure to apply yours)",
		          name, have.hold_max);
	}
	return 0;
}

/* The first URL that did not succeed decides the exit status. */
static int
exit_status(const struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int st = url_status(&jobs[i]);

		if (st != EXIT_OK)
			return st;
	}
	return EXIT_OK;
}

/* One line for a URL that did not succeed; write errors are said once,
 * when they happen. */
static void
report(const struct job *j)
{
	const shmt_curl_result *r = &j->res;
	double limit = g.copts.max_time;

	if (j->skipped)
		return;
	if (j->throttle_rc == SHMT_ETIMEDOUT)
		cli_error("%s: --retry-max-time (%g s) ran out during the "
		          "shared pause: not sent",
		          j->url, limit);
	else if (j->throttle_rc != SHMT_OK)
		cli_error("%s: throttle failed: %s", j->url,
		          shmt_strerror(j->throttle_rc));
	else if (r->curl_code != CURLE_OK && r->retries > 0)
		cli_error("%s: %s (after %u retries)", j->url, r->error,
		          r->retries);
	else if (r->curl_code != CURLE_OK)
		cli_error("%s: %s", j->url, r->error);
	else if (r->gave_up && r->paused_out)
		cli_error("%s: still %d after %u retries: --retry-max-time "
		          "(%g s) ran out during the shared pause",
		          j->url, r->status, r->retries, limit);
	else if (r->gave_up)
		cli_error("%s: still %d after %u retries (%.1f s): gave up",
		          j->url, r->status, r->retries, r->time_total);
	else if (g.fail && r->status >= 400)
		cli_error("%s: the server answered %d", j->url, r->status);
}

static int
run_jobs(char **urls, size_t n, unsigned jobs)
{
	struct job *v = calloc(n, sizeof(*v));
	const shmt_task_result *results;
	shmt_runner *r = NULL;
	pthread_t prog;
	int64_t start = time(NULL), status;
	int show = jobs > 1 && !g.silent && isatty(STDERR_FILENO), rc;
	size_t got;

	if (!v)
		return cli_fail(SHMT_ENOMEM, "start");
	if ((rc = shmt_runner_create(&r, jobs < n ? jobs : (unsigned)n)) !=
	    SHMT_OK) {
		free(v);
		return cli_fail(rc, "start %u workers", jobs);
	}
	g.total = n;
	for (size_t i = 0; i < n; i++) {
		v[i].url = urls[i];
		if ((rc = shmt_runner_schedule(r, NULL, fetch, &v[i])) !=
		    SHMT_OK)
			break;
	}
	if (show)
		pthread_create(&prog, NULL, progress, &start);
	if (rc == SHMT_OK)
		rc = shmt_runner_run(r, &results, &got);
	if (show) {
		pthread_cancel(prog);
		pthread_join(prog, NULL);
		fputc('\n', stderr);
	}
	shmt_runner_destroy(r);
	for (size_t i = 0; i < n; i++)
		report(&v[i]);
	status = rc == SHMT_OK ? exit_status(v, n) : cli_fail(rc, "run");
	free(v);
	return (int)status;
}

enum {
	O_THROTTLE = 'T',
	O_JOBS = 3000,
	O_RETRIES,
	O_RETRY_MAX_TIME,
	O_RETRY_STATUS,
	O_CONNREFUSED,
	O_CONNECT_TIMEOUT,
	O_RECONFIGURE,
	O_VERSION,
	O_BACKEND,
	O_PASSWORD_FILE,
	O_COST,
	O_COST_HEADER
};

static const struct option long_opts[] = {
	{ "throttle", required_argument, NULL, 't' },
	{ "output", required_argument, NULL, 'o' },
	{ "write-out", required_argument, NULL, 'w' },
	{ "header", required_argument, NULL, 'H' },
	{ "request", required_argument, NULL, 'X' },
	{ "data", required_argument, NULL, 'd' },
	{ "max-time", required_argument, NULL, 'm' },
	{ "fail", no_argument, NULL, 'f' },
	{ "silent", no_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ "jobs", required_argument, NULL, O_JOBS },
	{ "retries", required_argument, NULL, O_RETRIES },
	{ "retry-max-time", required_argument, NULL, O_RETRY_MAX_TIME },
	{ "retry-status", required_argument, NULL, O_RETRY_STATUS },
	{ "retry-connrefused", no_argument, NULL, O_CONNREFUSED },
	{ "connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT },
	{ "reconfigure", no_argument, NULL, O_RECONFIGURE },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "redis-password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "cost", required_argument, NULL, O_COST },
	{ "cost-header", required_argument, NULL, O_COST_HEADER },
	CLI_CONFIG_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct args {
	const char *name, *output;
	unsigned long jobs;
	int reconfigure;
	/* --retries, --retry-max-time given */
	int retries_given, max_time_given;
	struct cli_config cc;
};

/* With no limit known, a URL is retried until --retry-max-time (this
 * default), not a fixed count: only the server knows when it may go. */
#define UNKNOWN_LIMIT_MAX_TIME 600.0

/* The retries of a throttle whose limit is unknown: as many as fit in
 * --retry-max-time, unless --retries says otherwise. */
static void
unknown_limit_retries(const struct args *a)
{
	shmt_config have;

	if (a->retries_given || shmt_config_get(g.t, &have) != SHMT_OK ||
	    have.nrates > 0)
		return;
	g.copts.max_retries = 1000;
	if (!a->max_time_given)
		g.copts.max_time = UNKNOWN_LIMIT_MAX_TIME;
}

/* A time limit for libcurl, which takes milliseconds in a long. */
static int
seconds_arg(const char *opt, const char *arg, double *out)
{
	if (cli_seconds(arg, out) || *out > MAX_TIME_S)
		return cli_usage_error("invalid %s '%s' (0 to %.0f seconds)",
		                       opt, arg, MAX_TIME_S);
	return 0;
}

static int
option(struct args *a, int opt, const char *arg)
{
	unsigned long n;
	int r = cli_config_option(&a->cc, opt, arg);

	if (r)
		return r < 0 ? EXIT_USAGE : 0;
	switch (opt) {
	case 't': a->name = arg; return 0;
	case 'o': a->output = arg; return 0;
	case 'w': g.writeout = arg; return 0;
	case 'X': g.method = arg; return 0;
	case 'd': g.data = arg; return 0;
	case 'f': g.fail = 1; return 0;
	case 's': g.silent = 1; return 0;
	case 'm': return seconds_arg("--max-time", arg, &g.max_time);
	case O_CONNECT_TIMEOUT:
		return seconds_arg("--connect-timeout", arg,
		                   &g.connect_timeout);
	case O_RETRY_MAX_TIME:
		a->max_time_given = 1;
		return cli_seconds(arg, &g.copts.max_time)
		           ? cli_usage_error("invalid --retry-max-time '%s'",
		                             arg)
		           : 0;
	case O_CONNREFUSED: g.copts.retry_connrefused = 1; return 0;
	case O_RECONFIGURE: a->reconfigure = 1; return 0;
	case O_BACKEND: cli_backend_option(arg); return 0;
	case O_PASSWORD_FILE: cli_password_file_option(arg); return 0;
	case O_COST:
		if (cli_count(arg, 0, UINT32_MAX, &n))
			return cli_usage_error(
			    "invalid --cost '%s' (0 to 4294967295)", arg);
		g.copts.has_cost = 1;
		g.copts.cost = (uint32_t)n;
		return 0;
	case O_COST_HEADER:
		if (!*arg || strpbrk(arg, ": \t\r\n"))
			return cli_usage_error(
			    "invalid --cost-header '%s' (a header name)", arg);
		g.copts.cost_header = arg;
		return 0;
	case 'H':
		if (!strchr(arg, ':') && !strchr(arg, ';'))
			return cli_usage_error(
			    "invalid --header '%s' (Name: value)", arg);
		g.headers = curl_slist_append(g.headers, arg);
		return 0;
	case O_JOBS:
		return cli_count(arg, 1, 1024, &a->jobs)
		           ? cli_usage_error("invalid --jobs '%s' (1 to 1024)",
		                             arg)
		           : 0;
	case O_RETRIES:
		if (cli_count(arg, 0, 1000, &n))
			return cli_usage_error(
			    "invalid --retries '%s' (0 to 1000)", arg);
		g.copts.max_retries = (int)n;
		a->retries_given = 1;
		return 0;
	case O_RETRY_STATUS:
		if (cli_count(arg, 100, 599, &n) ||
		    g.copts.nretry_statuses >= 32)
			return cli_usage_error(
			    "invalid --retry-status '%s' (100 to 599, "
			    "32 at most)",
			    arg);
		g.retry_statuses[g.copts.nretry_statuses++] = (int)n;
		return 0;
	default: return cli_usage_error("bad option");
	}
}

static int
parse(struct args *a, int argc, char **argv)
{
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:o:w:H:X:d:m:fsh", long_opts,
	                          NULL)) != -1) {
		char why[128];

		if (opt == 'h') {
			fputs(usage_text, stdout);
			exit(EXIT_OK);
		}
		if (opt == O_VERSION) {
			printf("throttle-curl %s (libshmthrottle %s, %s)\n",
			       SHMT_VERSION_STRING, shmt_version(),
			       curl_version());
			exit(EXIT_OK);
		}
		if (opt == '?' || opt == ':') {
			cli_bad_option(opt, argv, why, sizeof(why));
			return cli_usage_error("%s", why);
		}
		if ((rc = option(a, opt, optarg)) != 0)
			return rc;
	}
	if (!a->name && !(a->name = getenv(THROTTLE_ENV)))
		return cli_usage_error("no throttle: give -t NAME or set $%s",
		                       THROTTLE_ENV);
	if (shmt_name_check(a->name) != SHMT_OK)
		return cli_usage_error("invalid throttle name '%s'", a->name);
	return cli_config_finish(&a->cc);
}

/* The URLs to fetch: the arguments, or stdin read whole. */
static int
url_list(int argc, char **argv, const struct args *a, char ***urls, size_t *n,
         char ***owned)
{
	int rc;

	*urls = argv + optind;
	*n = (size_t)(argc - optind);
	if (!(*n == 0 || (*n == 1 && strcmp((*urls)[0], "-") == 0)))
		return 0;
	if (!a->jobs)
		return cli_usage_error("no URL (give URLs, or --jobs N to "
		                       "read them from stdin)");
	rc = read_urls(urls, n);
	*owned = *urls;
	/* a list known to be incomplete: nothing is fetched */
	if (rc == -2) {
		cli_error("read the URL list from stdin failed: %s",
		          strerror(errno));
		return EXIT_READ;
	}
	if (rc != 0)
		return cli_fail(SHMT_ENOMEM, "read URLs");
	return *n == 0 ? cli_usage_error("no URL on stdin") : 0;
}

int
main(int argc, char **argv)
{
	struct args a = { .jobs = 0 };
	char **urls, **owned = NULL;
	size_t n = 0;
	int rc;

	cli_init("throttle-curl");
	/* as curl: a reader that goes away is a write error (23) */
	signal(SIGPIPE, SIG_IGN);
	cli_catch_sigbus(EXIT_THROTTLE);
	shmt_curl_opts_init(&g.copts);
	g.copts.retry_statuses = g.retry_statuses;
	cli_config_init(&a.cc, NULL);
	if ((rc = parse(&a, argc, argv)) != 0)
		return rc;
	if ((rc = url_list(argc, argv, &a, &urls, &n, &owned)) != 0)
		goto done;
	g.out = stdout;
	g.out_name = "stdout";
	if (a.output) {
		g.out_name = a.output;
		if (!(g.out = fopen(a.output, "w"))) {
			cli_error("open '%s' failed: %s", a.output,
			          strerror(errno));
			rc = EXIT_WRITE;
			goto done;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = cli_fail(SHMT_ESYS, "curl_global_init");
		goto done;
	}
	if ((rc = open_throttle(a.name, &a.cc, a.reconfigure)) == 0) {
		unknown_limit_retries(&a);
		rc = run_jobs(urls, n, a.jobs ? (unsigned)a.jobs : 1);
	}
	shmt_close(g.t);
	curl_global_cleanup();
	if (g.out != stdout && fclose(g.out) != 0 && rc == 0) {
		cli_error("write to %s failed: %s", a.output, strerror(errno));
		rc = EXIT_WRITE;
	}
done:
	curl_slist_free_all(g.headers);
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	return rc;
}
