/* throttlectl - inspect, configure and take part in a shared throttle. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h" /* the library's clocks: the tools link it statically */
#include "headers.h"
#include "show.h"
#include "spark.h"

/* clang-format off */
static const char usage_text[] =
"Usage: throttlectl COMMAND [NAME] [OPTIONS]\n"
"Inspect, configure and take part in a rate-limit throttle shared by the\n"
"processes of this host, or of several hosts through a Redis server.\n"
"\n"
"Commands:\n"
"  create NAME --period S --max N [CONFIG]   create a throttle (or with\n"
"                                            --rate, --units or\n"
"                                            --concurrency alone)\n"
"  set NAME [CONFIG]                         reconfigure it live, keeping its log\n"
"  status NAME [--json]                      configuration, window, delay, totals\n"
"  list [--json]                             every throttle you may open\n"
"  log NAME [-n N] [--json]                  the newest log entries (default 20)\n"
"  reset NAME [--backoff] [--delay] [--log] [--counters] [--learned]\n"
"         [--all]                            clear state (default: backoff and\n"
"                                            delay, with the pause and pace\n"
"                                            refusals taught) and wake every\n"
"                                            waiter; --learned: the announced\n"
"                                            limit too\n"
"  remove NAME                               delete the throttle\n"
"  watch NAME [--interval S] [--count N]     status, refreshed in place, and the\n"
"                                            last minute's rate against the\n"
"                                            limits in force\n"
"  acquire NAME [--timeout S] [--ticket T]   wait for a slot, print a ticket\n"
"         [--cost N] [--owner PID]           N units of cost (1); the place in\n"
"                                            flight is PID's (default: the\n"
"                                            parent, the calling shell)\n"
"  record NAME STATUS [--ticket T] [--retry-after V] [--date D] [--url U]\n"
"         [--retry] [--wait]                 report a response (exit 10: retry)\n"
"         [--headers FILE]                   its headers as `curl -D FILE` saved\n"
"                                            them: quota headers (RateLimit,\n"
"                                            X-RateLimit-*, OpenAI, Anthropic...)\n"
"                                            pace every process, Retry-After and\n"
"                                            Date stand in for the options\n"
"         [--sent-at EPOCH] [--rtt S]        when the request left (date +%s.%N)\n"
"                                            and its round trip: they feed the\n"
"                                            adaptive margin\n"
"         [--cost N]                         the actual cost: refunds or charges\n"
"                                            the difference; gives the place back\n"
"  run NAME [--timeout S] [--cost N] -- COMMAND [ARG...]\n"
"                                            acquire, run COMMAND, holding the\n"
"                                            place in flight until it ends\n"
"  check NAME [--cost N]                     take a slot if one is free now\n"
"                                            (no place in flight: run holds one)\n"
"                                            (exit 0), else exit 1: for GNU\n"
"                                            parallel --limit\n"
"  verify NAME                               check every log entry too (opening\n"
"                                            checks O(1)): exit 0 sound, 6 damaged\n"
"\n"
"CONFIG (create, set):\n"
"  --period S --max N        at most N requests per S seconds\n"
"  --rate N/S                a further limit, e.g. --rate 5000/3600 (4 in all)\n"
"  --policy window|smooth    window: bursts of up to N (default);\n"
"                            smooth: one request every S/N seconds\n"
"  --burst N                 smooth: requests at once (1)\n"
"  --margin S                added to every spacing against jitter: a floor\n"
"                            under the measured margin (0.005)\n"
"  --margin-mode adaptive|fixed\n"
"                            adaptive: the margin follows the lateness and\n"
"                            round trips the processes measure (at most 10%\n"
"                            of a spacing); fixed: exactly --margin\n"
"  --backoff-initial S       first backoff, least pause after a 429 (1)\n"
"  --backoff-multiplier M    backoff growth (2)\n"
"  --backoff-max S           backoff cap (60)\n"
"  --retry-after-max S       Retry-After cap (21600)\n"
"  --max-retries N           retries per request (3)\n"
"  --capacity N              create: log entries (largest N + max(2048,\n"
"                            largest N / 4), at least 4096)\n"
"  --units N/S               at most N units of cost (tokens...) per S seconds,\n"
"                            beside the request rates (2 in all); each\n"
"                            request costs what acquire --cost declared\n"
"  --unit-burst N            smooth: units at once (default: the unit limit)\n"
"  --concurrency C           at most C requests in flight (acquired, not yet\n"
"                            recorded), 1-256; 0: no cap\n"
"  --hold-max S              Redis: a place in flight is freed S s (300)\n"
"                            after its holder's last call (a waiter calls\n"
"                            every 0.5 s; a request in flight does not)\n"
"  --mode 600|660            create: 660 shares the throttle with your group\n"
"\n"
"  --group                   any command with NAME: open a throttle that\n"
"                            another user of your group created with 660\n"
"\n"
"Backend (any command):\n"
"  --backend URL             where the throttles live (default $" BACKEND_ENV ",\n"
"                            else shm: this host's shared memory):\n"
"                            redis://[USER@]HOST[:PORT][/DB] or\n"
"                            redis+unix:///PATH[?db=N][&user=USER], either with\n"
"                            ?timeout=S (connect and command time-out, 2)\n"
"  --redis-password-file F   the Redis password: the first line of F (else\n"
"                            $THROTTLE_REDIS_PASSWORD or $REDISCLI_AUTH)\n"
"\n"
"NAME defaults to $" THROTTLE_ENV ".\n"
"Exit status: 0 ok, 1 not admitted now (check), 2 usage or bad value,\n"
"3 timed out, 4 no such throttle (or gone from Redis), 5 exists, 6 segment\n"
"refused (damaged, another user's, other version), 7 system error,\n"
"8 the Redis server cannot be reached, timed out or failed, 9 the Redis\n"
"server refused the password or its ACL the keys, 10 retry (record),\n"
"11 retries used up (record), 12 the cost exceeds a unit limit, 23 the\n"
"output cannot be written (acquire: the slot is taken all the same);\n"
"run: the command's status (128 + N if signal N ended it).\n";
/* clang-format on */

static unsigned open_flags;

static int
usage(FILE *f, int status)
{
	fputs(usage_text, f);
	return status;
}

/* NAME: the next argument, or $THROTTLE_NAME when `rest` arguments follow
 * and only that many are left. */
static const char *
take_name(int argc, char **argv, int *i, int rest)
{
	const char *env = getenv(THROTTLE_ENV);

	if (argc - *i > rest)
		return argv[(*i)++];
	return env && *env ? env : NULL;
}

static int
open_throttle(const char *name, shmt_throttle **t)
{
	int rc = shmt_open_backend(t, cli_backend, name, NULL, open_flags);

	return rc == SHMT_OK ? 0 : cli_fail(rc, "open '%s'", name);
}

static struct cli_config g_cc;
static struct {
	int opt;
	const char *arg;
} g_cfg_opts[64];
static int g_ncfg_opts;
static int g_json, g_mode = 0600;
static double g_timeout = -1, g_interval = 1;
static unsigned long g_n = 20, g_count;
static unsigned g_reset;
static const char *g_ticket, *g_retry_after, *g_date, *g_url, *g_headers;
/* record --sent-at (epoch seconds) and --rtt (seconds); < 0: not given */
static double g_sent_at = -1, g_rtt = -1;
static int g_retry, g_wait;
/* --cost (-1: not given) and acquire --owner (0: the parent) */
static long long g_cost = -1;
static long g_owner;

enum {
	O_JSON = 2000,
	O_MODE,
	O_TIMEOUT,
	O_INTERVAL,
	O_COUNT,
	O_TICKET,
	O_RETRY_AFTER,
	O_DATE,
	O_URL,
	O_RETRY,
	O_WAIT,
	O_BACKOFF,
	O_DELAY,
	O_LOG,
	O_COUNTERS,
	O_LEARNED,
	O_ALL,
	O_GROUP,
	O_SENT_AT,
	O_RTT,
	O_BACKEND,
	O_PASSWORD_FILE,
	O_HEADERS,
	O_COST,
	O_OWNER
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, O_JSON },
	{ "mode", required_argument, NULL, O_MODE },
	{ "group", no_argument, NULL, O_GROUP },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "count", required_argument, NULL, O_COUNT },
	{ "ticket", required_argument, NULL, O_TICKET },
	{ "retry-after", required_argument, NULL, O_RETRY_AFTER },
	{ "date", required_argument, NULL, O_DATE },
	{ "url", required_argument, NULL, O_URL },
	{ "retry", no_argument, NULL, O_RETRY },
	{ "wait", no_argument, NULL, O_WAIT },
	{ "sent-at", required_argument, NULL, O_SENT_AT },
	{ "rtt", required_argument, NULL, O_RTT },
	{ "headers", required_argument, NULL, O_HEADERS },
	{ "cost", required_argument, NULL, O_COST },
	{ "owner", required_argument, NULL, O_OWNER },
	{ "backoff", no_argument, NULL, O_BACKOFF },
	{ "delay", no_argument, NULL, O_DELAY },
	{ "log", no_argument, NULL, O_LOG },
	{ "counters", no_argument, NULL, O_COUNTERS },
	{ "learned", no_argument, NULL, O_LEARNED },
	{ "all", no_argument, NULL, O_ALL },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "redis-password-file", required_argument, NULL, O_PASSWORD_FILE },
	CLI_CONFIG_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

/* Options of the CONFIG group, which create and set take. */
static int
config_opt(int opt)
{
	return opt >= CLI_OPT_PERIOD && opt < CLI_OPT_FIRST_FREE;
}

static int
handle(int opt, const char *arg)
{
	int r;

	if (config_opt(opt)) {
		/* kept, to replay onto the current configuration for `set` */
		if (g_ncfg_opts ==
		    (int)(sizeof(g_cfg_opts) / sizeof(g_cfg_opts[0])))
			return cli_usage_error("too many options");
		g_cfg_opts[g_ncfg_opts].opt = opt;
		g_cfg_opts[g_ncfg_opts++].arg = arg;
		r = cli_config_option(&g_cc, opt, arg);
		return r < 0 ? EXIT_USAGE : 0;
	}
	switch (opt) {
	case O_JSON: g_json = 1; return 0;
	case O_BACKEND: cli_backend_option(arg); return 0;
	case O_PASSWORD_FILE: cli_password_file_option(arg); return 0;
	case O_GROUP: open_flags |= SHMT_GROUP; return 0;
	case O_MODE:
		if (strcmp(arg, "600") && strcmp(arg, "0600") &&
		    strcmp(arg, "660") && strcmp(arg, "0660"))
			return cli_usage_error("--mode is 600 or 660, not '%s'",
			                       arg);
		g_mode = strstr(arg, "66") ? 0660 : 0600;
		return 0;
	case O_TIMEOUT:
		return cli_seconds(arg, &g_timeout)
		           ? cli_usage_error("invalid --timeout '%s'", arg)
		           : 0;
	case O_INTERVAL:
		return cli_seconds(arg, &g_interval) || g_interval < 0.05
		           ? cli_usage_error(
		                 "invalid --interval '%s' (at least 0.05)", arg)
		           : 0;
	case 'n':
		return cli_count(arg, 1, 1u << 24, &g_n)
		           ? cli_usage_error("invalid -n '%s'", arg)
		           : 0;
	case O_COUNT:
		return cli_count(arg, 1, 1u << 30, &g_count)
		           ? cli_usage_error("invalid --count '%s'", arg)
		           : 0;
	case O_TICKET: g_ticket = arg; return 0;
	case O_RETRY_AFTER: g_retry_after = arg; return 0;
	case O_DATE: g_date = arg; return 0;
	case O_URL: g_url = arg; return 0;
	case O_HEADERS: g_headers = arg; return 0;
	case O_RETRY: g_retry = 1; return 0;
	case O_WAIT: g_wait = 1; return 0;
	case O_SENT_AT:
		return cli_seconds(arg, &g_sent_at) || g_sent_at > 1e11
		           ? cli_usage_error(
		                 "invalid --sent-at '%s' (epoch "
		                 "seconds, as date +%%s.%%N prints)",
		                 arg)
		           : 0;
	case O_RTT:
		return cli_seconds(arg, &g_rtt) || g_rtt > 3600
		           ? cli_usage_error("invalid --rtt '%s' (0 to 3600 s)",
		                             arg)
		           : 0;
	case O_COST: {
		unsigned long n;

		if (cli_count(arg, 0, UINT32_MAX, &n))
			return cli_usage_error(
			    "invalid --cost '%s' (0 to 4294967295)", arg);
		g_cost = (long long)n;
		return 0;
	}
	case O_OWNER: {
		unsigned long n;

		if (cli_count(arg, 1, 1ul << 22, &n))
			return cli_usage_error("invalid --owner '%s' (a pid)",
			                       arg);
		g_owner = (long)n;
		return 0;
	}
	case O_BACKOFF: g_reset |= SHMT_RESET_BACKOFF; return 0;
	case O_DELAY: g_reset |= SHMT_RESET_DELAY; return 0;
	case O_LOG: g_reset |= SHMT_RESET_LOG; return 0;
	case O_COUNTERS: g_reset |= SHMT_RESET_COUNTERS; return 0;
	case O_LEARNED: g_reset |= SHMT_RESET_LEARNED; return 0;
	case O_ALL: g_reset |= SHMT_RESET_ALL; return 0;
	default: return cli_usage_error("unknown option");
	}
}

/* The options a command accepts, as a list of codes ending in 0. */
struct command {
	const char *name;
	int (*run)(const char *name, int argc, char **argv);
	/* arguments after NAME; -1: run's -- COMMAND [ARG...] */
	int positional;
	int needs_name;
	/* accepted option codes besides --help, 0-ended */
	const int *opts;
	/* takes CONFIG options */
	int config;
};

static int
accepted(const struct command *c, int opt)
{
	if (config_opt(opt))
		return c->config;
	if (opt == O_GROUP)
		return c->needs_name;
	if (opt == O_BACKEND || opt == O_PASSWORD_FILE)
		return 1;
	for (const int *o = c->opts; o && *o; o++)
		if (*o == opt)
			return 1;
	return 0;
}

static const char *
opt_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "n";
}

static int
cmd_create(const char *name, int argc, char **argv)
{
	shmt_throttle *t;
	int rc;

	(void)argc, (void)argv;
	if (!g_cc.rates_given && !g_cc.units_given && !g_cc.cfg.concurrency)
		return cli_usage_error("create needs --period S --max N (or "
		                       "--rate N/S, --units N/S, --concurrency "
		                       "C)");
	if ((rc = cli_config_finish(&g_cc)) != 0)
		return rc;
	rc = shmt_open_backend(&t, cli_backend, name, &g_cc.cfg,
	                       SHMT_CREATE | SHMT_EXCL |
	                           (g_mode == 0660 ? SHMT_GROUP : 0));
	if (rc != SHMT_OK)
		return cli_fail(rc, "create '%s'", name);
	shmt_close(t);
	return EXIT_OK;
}

static int
cmd_set(const char *name, int argc, char **argv)
{
	shmt_throttle *t;
	shmt_config cur;
	unsigned long largest;
	int rc;

	(void)argc, (void)argv;
	if (g_ncfg_opts == 0)
		return cli_usage_error(
		    "set needs at least one configuration option");
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	if ((rc = shmt_config_get(t, &cur)) != SHMT_OK) {
		shmt_close(t);
		return cli_fail(rc, "read '%s'", name);
	}
	/* The options given replace those values; the others stay. */
	cli_config_init(&g_cc, &cur);
	for (int i = 0; i < g_ncfg_opts; i++)
		cli_config_option(&g_cc, g_cfg_opts[i].opt, g_cfg_opts[i].arg);
	/* `set NAME --max 300` keeps the first rate's period, and the
	 * reverse. */
	if (cur.nrates > 0 && g_cc.period == 0 && g_cc.max > 0)
		g_cc.period = cur.rates[0].period;
	if (cur.nrates > 0 && g_cc.max == 0 && g_cc.period > 0)
		g_cc.max = cur.rates[0].max;
	largest = g_cc.max;
	for (unsigned i = 0; i < g_cc.nextra; i++)
		if (g_cc.extra[i].max > largest)
			largest = g_cc.extra[i].max;
	if (largest > cur.capacity) {
		shmt_close(t);
		return cli_usage_error("a limit above %u needs a larger log "
		                       "than this throttle's (remove it and "
		                       "create it with --capacity)",
		                       cur.capacity);
	}
	rc = cli_config_finish(&g_cc);
	if (rc == 0 && cur.capacity != g_cc.cfg.capacity)
		rc = cli_usage_error("the log's capacity (%u) is fixed at "
		                     "creation",
		                     cur.capacity);
	if (rc == 0 && (rc = shmt_config_set(t, &g_cc.cfg)) != SHMT_OK)
		rc = cli_fail(rc,
		              "set '%s' (a --max above the log's capacity "
		              "of %u needs a new throttle)",
		              name, cur.capacity);
	shmt_close(t);
	return rc;
}

/* The status and who holds the places in flight. */
static int
status_get(shmt_throttle *t, shmt_stat *st, struct show_places *pl)
{
	int rc = shmt_stat_get(t, st);

	pl->n = 0;
	if (rc == SHMT_OK && st->inflight)
		rc = shmt_places_read(t, pl->v, SHMT_MAX_PLACES, &pl->n);
	return rc;
}

static int
cmd_status(const char *name, int argc, char **argv)
{
	static struct show_places pl;
	shmt_throttle *t;
	shmt_stat st;
	int rc;

	(void)argc, (void)argv;
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	rc = status_get(t, &st, &pl);
	shmt_close(t);
	if (rc != SHMT_OK)
		return cli_fail(rc, "status of '%s'", name);
	if (g_json)
		show_status_json(stdout, name, &st, &pl);
	else
		show_status(stdout, name, &st, &pl);
	return EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int
cmd_watch(const char *name, int argc, char **argv)
{
	int tty = isatty(STDOUT_FILENO), rc;
	static struct show_places pl;
	shmt_throttle *t;
	shmt_stat st;

	(void)argc, (void)argv;
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (unsigned long i = 0; !interrupted && (!g_count || i < g_count);
	     i++) {
		if (i)
			shmt_sleep(g_interval);
		if ((rc = status_get(t, &st, &pl)) != SHMT_OK)
			break;
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (i)
			fputc('\n', stdout);
		show_status(stdout, name, &st, &pl);
		spark_show(stdout, t, &st);
		fflush(stdout);
	}
	shmt_close(t);
	return rc == SHMT_OK ? EXIT_OK : cli_fail(rc, "status of '%s'", name);
}

static int
collect(const char *name, void *arg)
{
	struct show_names *n = arg;

	/* out of memory: stop; cmd_list sees the flag */
	n->failed = show_names_add(n, name) != 0;
	return n->failed;
}

static int
cmd_list(const char *unused, int argc, char **argv)
{
	struct show_names names = { 0 };
	int rc;

	(void)unused, (void)argc, (void)argv;
	rc = shmt_list_backend(cli_backend, collect, &names);
	if (rc == SHMT_OK && names.failed)
		rc = SHMT_ENOMEM;
	if (rc != SHMT_OK) {
		show_names_free(&names);
		return cli_fail(rc, "list");
	}
	show_list(stdout, &names, open_flags, g_json);
	show_names_free(&names);
	return EXIT_OK;
}

static int
cmd_log(const char *name, int argc, char **argv)
{
	shmt_log_entry *buf;
	shmt_throttle *t;
	size_t got;
	int rc;

	(void)argc, (void)argv;
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	if (!(buf = calloc(g_n, sizeof(*buf)))) {
		shmt_close(t);
		return cli_fail(SHMT_ENOMEM, "log");
	}
	rc = shmt_log_read(t, buf, g_n, &got);
	shmt_close(t);
	if (rc == SHMT_OK)
		show_log(stdout, buf, got, g_json);
	free(buf);
	return rc == SHMT_OK ? EXIT_OK : cli_fail(rc, "log of '%s'", name);
}

static int
cmd_reset(const char *name, int argc, char **argv)
{
	shmt_throttle *t;
	int rc;

	(void)argc, (void)argv;
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	rc = shmt_reset(t, g_reset ? g_reset
	                           : SHMT_RESET_BACKOFF | SHMT_RESET_DELAY);
	shmt_close(t);
	return rc == SHMT_OK ? EXIT_OK : cli_fail(rc, "reset '%s'", name);
}

static int
cmd_remove(const char *name, int argc, char **argv)
{
	int rc = shmt_remove_backend(cli_backend, name);

	(void)argc, (void)argv;
	return rc == SHMT_OK ? EXIT_OK : cli_fail(rc, "remove '%s'", name);
}

/* A ticket to continue (--ticket), or a fresh one. */
static int
ticket_arg(shmt_ticket *tk)
{
	shmt_ticket_init(tk);
	if (g_ticket && shmt_ticket_parse(g_ticket, tk) != SHMT_OK)
		return cli_usage_error(
		    "invalid --ticket '%s' (give what acquire printed)",
		    g_ticket);
	return 0;
}

/* Acquire a slot (and a place) for `owner` (0: ourselves), at --cost. */
static int
acquire(const char *name, shmt_ticket *tk, double timeout, long owner,
        unsigned flags)
{
	uint32_t cost = g_cost >= 0 ? (uint32_t)g_cost : 1;
	shmt_throttle *t;
	int rc;

	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	if (owner && (rc = shmt_owner_set(t, owner)) != SHMT_OK) {
		shmt_close(t);
		return cli_fail(rc, "owner %ld", owner);
	}
	rc = shmt_acquire_cost(t, tk, cost, flags, timeout);
	shmt_close(t);
	if (rc == SHMT_EAGAIN)
		return EXIT_NOT_NOW;
	return rc == SHMT_OK ? EXIT_OK : cli_fail(rc, "acquire '%s'", name);
}

static int
cmd_acquire(const char *name, int argc, char **argv)
{
	char buf[80];
	shmt_ticket tk;
	int rc;

	(void)argc, (void)argv;
	/* we exit at once: the place is the calling shell's (or --owner's),
	 * whose death gives it back */
	if ((rc = ticket_arg(&tk)) != 0 ||
	    (rc = acquire(name, &tk, g_timeout,
	                  g_owner ? g_owner : (long)getppid(), 0)) != 0)
		return rc;
	shmt_ticket_format(&tk, buf, sizeof(buf));
	/* The slot is taken now: a lost ticket must not look like success. */
	if (puts(buf) == EOF || fflush(stdout) == EOF) {
		cli_error("write the ticket failed: %s (the slot in '%s' is "
		          "taken all the same)",
		          strerror(errno), name);
		return EXIT_WRITE;
	}
	return EXIT_OK;
}

static int
cmd_check(const char *name, int argc, char **argv)
{
	shmt_ticket tk;

	(void)argc, (void)argv;
	shmt_ticket_init(&tk);
	/* nothing records after a check: it paces, it holds no place (run
	 * does) */
	return acquire(name, &tk, 0, 0, SHMT_ACQUIRE_NOPLACE);
}

static int
cmd_verify(const char *name, int argc, char **argv)
{
	shmt_throttle *t;
	int rc;

	(void)argc, (void)argv;
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	rc = shmt_verify(t);
	shmt_close(t);
	if (rc != SHMT_OK)
		return cli_fail(rc, "verify '%s'", name);
	printf("%s: sound\n", name);
	return EXIT_OK;
}

/* The command's exit status, as a shell gives it. */
static int
wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return EXIT_SYSTEM;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Acquire, run the command as our child and wait for it: the place in
 * flight is ours (we outlive the command), given back when it ends, or
 * found out if we are killed. */
static int
cmd_run(const char *name, int argc, char **argv)
{
	char buf[80];
	shmt_ticket tk;
	shmt_throttle *t;
	pid_t pid;
	int rc;

	if (argc < 1)
		return cli_usage_error("run needs a command after --");
	shmt_ticket_init(&tk);
	if ((rc = acquire(name, &tk, g_timeout, 0, 0)) != 0)
		return rc;
	shmt_ticket_format(&tk, buf, sizeof(buf));
	setenv("THROTTLE_TICKET", buf, 1);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		execvp(argv[0], argv);
		cli_error("run '%s' failed: %s", argv[0], strerror(errno));
		_exit(127);
	}
	/* the command answers ^C; we stay to give the place back */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	rc = pid < 0 ? cli_fail(SHMT_ESYS, "run '%s'", argv[0])
	             : wait_child(pid);
	/* the backend the place was taken on, not a local namesake */
	if (shmt_open_backend(&t, cli_backend, name, NULL, open_flags) ==
	    SHMT_OK) {
		shmt_release(t, &tk);
		shmt_close(t);
	}
	return rc;
}

/* --retry-after as seconds from the send; -1 if absent or not understood
 * (a server's garbage must not lose the 429 itself: warn and go on). */
static double
retry_after_arg(shmt_throttle *t, const shmt_ticket *tk)
{
	shmt_config cfg;
	double secs, sent_wall;
	int rc;

	if (!g_retry_after || !*g_retry_after)
		return -1;
	shmt_config_get(t, &cfg);
	sent_wall = shmt_ns_to_sec(shmt_wall_ns()) -
	            (double)(shmt_mono_ns() - tk->send_ns) / 1e9;
	rc = shmt_retry_after_parse(g_retry_after, g_date, sent_wall,
	                            cfg.retry_after_max, &secs);
	if (rc == SHMT_OK)
		return secs;
	cli_error("ignoring --retry-after '%s': %s", g_retry_after,
	          shmt_strerror(rc));
	return -1;
}

/* --sent-at and --rtt into the ticket: the wall-clock send time becomes
 * the monotonic clock's, as the library counts. */
static void
measures(shmt_ticket *tk)
{
	if (g_sent_at >= 0) {
		double ago = (double)(shmt_wall_ns() / 1000) / 1e6 - g_sent_at;
		int64_t sent = shmt_mono_ns() - shmt_sec_to_ns(ago);

		tk->sent_ns = sent > 0 ? sent : 1;
	}
	if (g_rtt >= 0)
		tk->rtt_ns = shmt_sec_to_ns(g_rtt);
}

/* --headers FILE: the quota its last response announced; its Retry-After
 * and Date stand in for --retry-after and --date when those are absent. */
static int
headers_arg(shmt_throttle *t, struct headers_file *hf, shmt_quota *q)
{
	shmt_config cfg;

	if (headers_read(g_headers, hf) != 0)
		return cli_fail(SHMT_ESYS, "read --headers '%s'", g_headers);
	if (!g_retry_after)
		g_retry_after = headers_get(hf, "retry-after");
	if (!g_date)
		g_date = headers_get(hf, "date");
	shmt_config_get(t, &cfg);
	shmt_quota_parse(hf->h, hf->n, shmt_ns_to_sec(shmt_wall_ns()),
	                 cfg.retry_after_max, q);
	return 0;
}

static int
cmd_record(const char *name, int argc, char **argv)
{
	struct headers_file hf = { 0 };
	unsigned long status;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_quota q;
	int rc;

	if (argc != 1 || cli_count(argv[0], 0, 999, &status))
		return cli_usage_error(
		    "record needs an HTTP STATUS (0-999, 0: no response)");
	if ((rc = ticket_arg(&tk)) != 0)
		return rc;
	if (!g_ticket) {
		/* sent just now, first attempt */
		tk.seq = UINT64_MAX;
		tk.send_ns = shmt_mono_ns();
		tk.attempt = 1;
	}
	measures(&tk);
	if ((rc = open_throttle(name, &t)) != 0)
		return rc;
	if (g_headers && (rc = headers_arg(t, &hf, &q)) != 0) {
		shmt_close(t);
		return rc;
	}
	if (g_cost >= 0 && g_ticket &&
	    (rc = shmt_cost_set(t, &tk, (uint32_t)g_cost)) != SHMT_OK) {
		shmt_close(t);
		return cli_fail(rc, "record the cost in '%s'", name);
	}
	rc = shmt_record_quota(t, &tk, (int)status, retry_after_arg(t, &tk),
	                       g_headers ? &q : NULL, g_url,
	                       g_retry ? SHMT_RECORD_RETRY : 0, &out);
	shmt_close(t);
	headers_free(&hf);
	if (rc != SHMT_OK)
		return cli_fail(rc, "record in '%s'", name);
	if (out.verdict == SHMT_RETRY && g_wait)
		shmt_sleep(out.delay);
	if (out.verdict == SHMT_RETRY)
		return EXIT_RETRY;
	return out.verdict == SHMT_GIVE_UP ? EXIT_GIVE_UP : EXIT_OK;
}

/* clang-format off */
static const int o_json[] = { O_JSON, 0 };
static const int o_create[] = { O_MODE, 0 };
static const int o_log[] = { O_JSON, 'n', 0 };
static const int o_reset[] = { O_BACKOFF, O_DELAY, O_LOG, O_COUNTERS, O_LEARNED, O_ALL, 0 };
static const int o_watch[] = { O_INTERVAL, O_COUNT, 0 };
static const int o_acquire[] = { O_TIMEOUT, O_TICKET, O_COST, O_OWNER, 0 };
static const int o_record[] = { O_TICKET, O_RETRY_AFTER, O_DATE, O_URL, O_RETRY, O_WAIT,
				O_SENT_AT, O_RTT, O_HEADERS, O_COST, 0 };
static const int o_run[] = { O_TIMEOUT, O_COST, 0 };
static const int o_check[] = { O_COST, 0 };

/* name, run, positional, needs_name, opts, config */
static const struct command commands[] = {
	{ "create", cmd_create, 0, 1, o_create, 1 },
	{ "set", cmd_set, 0, 1, NULL, 1 },
	{ "status", cmd_status, 0, 1, o_json, 0 },
	{ "list", cmd_list, 0, 0, o_json, 0 },
	{ "log", cmd_log, 0, 1, o_log, 0 },
	{ "reset", cmd_reset, 0, 1, o_reset, 0 },
	{ "remove", cmd_remove, 0, 1, NULL, 0 },
	{ "watch", cmd_watch, 0, 1, o_watch, 0 },
	{ "acquire", cmd_acquire, 0, 1, o_acquire, 0 },
	{ "check", cmd_check, 0, 1, o_check, 0 },
	{ "verify", cmd_verify, 0, 1, NULL, 0 },
	{ "record", cmd_record, 1, 1, o_record, 0 },
	{ "run", cmd_run, -1, 1, o_run, 0 },
};
/* clang-format on */

static int
dispatch(const struct command *c, int argc, char **argv)
{
	const char *name = NULL;
	int opt, rc, i, end = argc, rest = c->positional;

	/* run: options and NAME before --, the command after */
	if (rest < 0) {
		for (end = 1; end < argc && strcmp(argv[end], "--"); end++)
			;
		if (end == argc)
			return cli_usage_error(
			    "run needs -- before the command");
		rest = 0;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(end, argv, ":hn:", long_opts, NULL)) != -1) {
		char why[128];

		if (opt == 'h')
			return usage(stdout, EXIT_OK);
		/* a value missing for an option this command refuses anyway:
		 * say it is refused */
		if (opt == ':' && !accepted(c, optopt))
			opt = '?';
		if (opt == '?' || opt == ':') {
			cli_bad_option(opt, argv, why, sizeof(why));
			return cli_usage_error("%s for '%s'", why, c->name);
		}
		if (!accepted(c, opt))
			return cli_usage_error("'%s' takes no option --%s",
			                       c->name, opt_name(opt));
		if ((rc = handle(opt, optarg)) != 0)
			return rc;
	}
	i = optind;
	if (c->needs_name) {
		if (!(name = take_name(end, argv, &i, rest)))
			return cli_usage_error(
			    "'%s' needs a throttle NAME (or $%s)", c->name,
			    THROTTLE_ENV);
		if (shmt_name_check(name) != SHMT_OK)
			return cli_usage_error(
			    "invalid throttle name '%s' (1 to %d of "
			    "A-Z a-z 0-9 _ . -, not starting with '.')",
			    name, SHMT_NAME_MAX);
	}
	if (end - i != rest)
		return cli_usage_error("'%s': %s argument%s%s", c->name,
		                       end - i > rest ? "unexpected"
		                                      : "missing",
		                       end - i > rest ? " " : "",
		                       end - i > rest ? argv[i + rest] : "");
	if (c->positional < 0)
		return c->run(name, argc - end - 1, argv + end + 1);
	return c->run(name, end - i, argv + i);
}

/* What a command printed must have reached stdout (status >/dev/full). */
static int
output_checked(int status)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	/* the ticket's own message is said already */
	if (status == EXIT_WRITE)
		return status;
	cli_error("write the output failed: %s", strerror(errno));
	return status == EXIT_OK ? EXIT_WRITE : status;
}

int
main(int argc, char **argv)
{
	cli_init("throttlectl");
	cli_catch_sigbus(EXIT_SEGMENT);
	cli_config_init(&g_cc, NULL);
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return usage(stdout, EXIT_OK);
	if (!strcmp(argv[1], "--version")) {
		printf("throttlectl %s (libshmthrottle %s)\n",
		       SHMT_VERSION_STRING, shmt_version());
		return EXIT_OK;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[1], commands[k].name))
			return output_checked(
			    dispatch(&commands[k], argc - 1, argv + 1));
	return cli_usage_error("unknown command '%s'", argv[1]);
}
