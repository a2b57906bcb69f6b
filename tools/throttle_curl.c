/* throttle-curl - fetch URLs from many processes under one shared limit,
 * without wasting requests on 429s. */
#define _GNU_SOURCE /* getopt_long, getline */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "writeout.h"

#define EXIT_GAVE_UP                                                           \
	75                /* a 429/503 outlasted --retries or --retry-max-time \
	                   */
#define EXIT_THROTTLE 69  /* the throttle cannot be opened or used */
#define EXIT_HTTP_FAIL 22 /* --fail and a final status >= 400, as curl */

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
"      --period S --max N    the limit, N requests per S seconds: creates the\n"
"                            throttle if it does not exist\n"
"      --rate N/S, --policy window|smooth, --burst N, --margin S,\n"
"      --backoff-initial S, --backoff-multiplier M, --backoff-max S,\n"
"      --retry-after-max S   as in throttlectl(1), for a throttle created here\n"
"      --reconfigure         apply the given limit to an existing throttle\n"
"                            (otherwise its own settings win, with a warning)\n"
"Transfer (as curl):\n"
"  -o, --output FILE         write bodies to FILE (default stdout)\n"
"  -w, --write-out FORMAT    after each transfer: %{http_code} %{url_effective}\n"
"                            %{time_total} %{num_retries} %{exitcode}\n"
"                            %{errormsg} \\n \\t %%; %{stderr} %{stdout} switch\n"
"  -H, --header LINE         extra request header (repeatable)\n"
"  -X, --request METHOD      request method\n"
"  -d, --data DATA           POST body\n"
"  -m, --max-time S          limit for one attempt\n"
"      --connect-timeout S   limit for connecting\n"
"  -f, --fail                exit 22 if a final status is 400 or more\n"
"  -s, --silent              no progress line, no warnings (errors still show)\n"
"Retries:\n"
"      --retries N           resends per URL, 429s included (default: the\n"
"                            throttle's, 3)\n"
"      --retry-max-time S    give up on a URL after S seconds in all\n"
"      --retry-status CODE   also back off and retry on CODE (repeatable)\n"
"      --retry-connrefused   also retry refused connections\n"
"Many URLs:\n"
"      --jobs N              N transfers at once in this process; with no URL\n"
"                            or '-', read URLs from stdin, one per line\n"
"  -h, --help, --version\n"
"\n"
"Exit status: 0 every URL answered (with --fail: below 400); 2 usage;\n"
"22 --fail and a status of 400 or more; 69 the throttle cannot be used;\n"
"75 a URL still rate-limited when its retries or time ran out; otherwise\n"
"curl's code for a transport error (6 host not found, 7 cannot connect,\n"
"28 timed out).  The first failing URL, in input order, decides.\n";
/* clang-format on */

struct job {
	const char *url;
	shmt_curl_result res;
	int throttle_rc;
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
	pthread_mutex_t out_mu;
	size_t done, total;
} g = { .out_mu = PTHREAD_MUTEX_INITIALIZER };

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	return fwrite(p, size, n, arg) * size;
}

/* A retry's body replaces the failed attempt's. */
static void
rewind_body(void *arg)
{
	FILE *f = arg;

	rewind(f);
	if (ftruncate(fileno(f), 0) != 0)
		fseek(f, 0, SEEK_SET);
}

static void
copy_out(FILE *from)
{
	char buf[65536];
	size_t n;

	rewind(from);
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		fwrite(buf, 1, n, g.out);
}

static void
setup(CURL *easy, const struct job *j, FILE *body)
{
	curl_easy_setopt(easy, CURLOPT_URL, j->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT,
	                 "throttle-curl/" SHMT_VERSION_STRING);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
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

static int
fetch(void *arg, void **result)
{
	struct job *j = arg;
	CURL *easy = curl_easy_init();
	FILE *body = tmpfile();
	shmt_curl_opts o = g.copts;

	*result = NULL;
	if (!easy || !body) {
		j->res.curl_code = CURLE_OUT_OF_MEMORY;
		snprintf(j->res.error, sizeof(j->res.error), "%s",
		         strerror(errno));
	} else {
		setup(easy, j, body);
		o.before_retry = rewind_body;
		o.arg = body;
		j->throttle_rc = shmt_curl_perform(g.t, easy, &o, &j->res);
	}
	pthread_mutex_lock(&g.out_mu);
	/* as curl: the body to -o or stdout (not with --fail on an error),
	 * -w always to stdout */
	if (body && j->throttle_rc == SHMT_OK && j->res.curl_code == CURLE_OK &&
	    !(g.fail && j->res.status >= 400))
		copy_out(body);
	fflush(g.out);
	if (g.writeout) {
		writeout(stdout, g.writeout, j->url, &j->res);
		fflush(stdout);
	}
	g.done++;
	pthread_mutex_unlock(&g.out_mu);
	if (body)
		fclose(body);
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
		fprintf(stderr,
		        "\r%s: %zu/%zu done, %.1f req/s, %llu 429s, %u waiting "
		        "(host)   ",
		        cli_prog, done, g.total,
		        secs > 0 ? (double)done / secs : 0.0,
		        (unsigned long long)st.n429, st.waiting);
	}
	return NULL;
}

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
	return 0;
fail:
	free(line);
	return -1;
}

static int
same_limits(const shmt_config *a, const shmt_config *b)
{
	if (a->nrates != b->nrates || a->policy != b->policy)
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
	int rc = shmt_open(&g.t, name, &cc->cfg, SHMT_CREATE);

	if (rc == SHMT_OK)
		rc = shmt_config_get(g.t, &have);
	if (rc != SHMT_OK) {
		cli_fail(rc, "throttle '%s'", name);
		return EXIT_THROTTLE;
	}
	if (!cc->rates_given || same_limits(&have, &cc->cfg))
		return 0;
	if (reconfigure) {
		cc->cfg.capacity = have.capacity;
		if ((rc = shmt_config_set(g.t, &cc->cfg)) != SHMT_OK) {
			cli_fail(rc, "reconfigure '%s'", name);
			return EXIT_THROTTLE;
		}
	} else if (!g.silent) {
		fprintf(stderr,
		        "%s: warning: throttle '%s' exists with other limits; "
		        "using its own (see throttlectl status %s; "
		        "--reconfigure to "
		        "apply yours)\n",
		        cli_prog, name, name);
	}
	return 0;
}

/* The first URL that did not succeed decides the exit status. */
static int
exit_status(const struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct job *j = &jobs[i];

		if (j->throttle_rc != SHMT_OK)
			return EXIT_THROTTLE;
		if (j->res.gave_up)
			return EXIT_GAVE_UP;
		if (j->res.curl_code != CURLE_OK)
			return j->res.curl_code;
		if (g.fail && j->res.status >= 400)
			return EXIT_HTTP_FAIL;
	}
	return EXIT_OK;
}

static void
report(const struct job *j)
{
	if (j->throttle_rc != SHMT_OK)
		fprintf(stderr, "%s: %s: throttle failed: %s\n", cli_prog,
		        j->url, shmt_strerror(j->throttle_rc));
	else if (j->res.gave_up)
		fprintf(stderr,
		        "%s: %s: still %d after %u retries (%.1f s): gave up\n",
		        cli_prog, j->url, j->res.status, j->res.retries,
		        j->res.time_total);
	else if (j->res.curl_code != CURLE_OK)
		fprintf(stderr, "%s: %s: %s\n", cli_prog, j->url, j->res.error);
	else if (g.fail && j->res.status >= 400)
		fprintf(stderr, "%s: %s: the server answered %d\n", cli_prog,
		        j->url, j->res.status);
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
	O_VERSION
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
	CLI_CONFIG_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

struct args {
	const char *name, *output;
	unsigned long jobs;
	int reconfigure;
	struct cli_config cc;
};

static int
seconds_arg(const char *opt, const char *arg, double *out)
{
	return cli_seconds(arg, out)
	           ? cli_usage_error("invalid %s '%s'", opt, arg)
	           : 0;
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
		return seconds_arg("--retry-max-time", arg, &g.copts.max_time);
	case O_CONNREFUSED: g.copts.retry_connrefused = 1; return 0;
	case O_RECONFIGURE: a->reconfigure = 1; return 0;
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
	while ((opt = getopt_long(argc, argv, "t:o:w:H:X:d:m:fsh", long_opts,
	                          NULL)) != -1) {
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
		if (opt == '?')
			return cli_usage_error("bad option '%s'",
			                       argv[optind - 1]);
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

int
main(int argc, char **argv)
{
	struct args a = { .jobs = 0 };
	char **urls, **owned = NULL;
	size_t n;
	int rc;

	cli_prog = "throttle-curl";
	cli_catch_sigbus(EXIT_THROTTLE);
	shmt_curl_opts_init(&g.copts);
	g.copts.retry_statuses = g.retry_statuses;
	cli_config_init(&a.cc, NULL);
	if ((rc = parse(&a, argc, argv)) != 0)
		return rc;
	urls = argv + optind;
	n = (size_t)(argc - optind);
	if (n == 0 || (n == 1 && strcmp(urls[0], "-") == 0)) {
		if (!a.jobs)
			return cli_usage_error(
			    "no URL (give URLs, or --jobs N to read them "
			    "from stdin)");
		rc = read_urls(&urls, &n) != 0
		         ? cli_fail(SHMT_ENOMEM, "read URLs")
		     : n == 0 ? cli_usage_error("no URL on stdin")
		              : 0;
		owned = urls;
		if (rc != 0)
			goto done;
	}
	g.out = stdout;
	if (a.output && !(g.out = fopen(a.output, "w"))) {
		fprintf(stderr, "%s: open '%s' failed: %s\n", cli_prog,
		        a.output, strerror(errno));
		rc = 23; /* curl's "write error" */
		goto done;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = cli_fail(SHMT_ESYS, "curl_global_init");
		goto done;
	}
	if ((rc = open_throttle(a.name, &a.cc, a.reconfigure)) == 0)
		rc = run_jobs(urls, n, a.jobs ? (unsigned)a.jobs : 1);
	shmt_close(g.t);
	curl_global_cleanup();
	if (g.out != stdout && fclose(g.out) != 0 && rc == 0)
		rc = 23;
done:
	curl_slist_free_all(g.headers);
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	return rc;
}
