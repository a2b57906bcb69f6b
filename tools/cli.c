/* cli.c - shared pieces of the command-line tools. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *cli_prog = "throttle";

int
cli_exit_status(int code)
{
	switch (code) {
	case SHMT_OK: return EXIT_OK;
	case SHMT_EINVAL:
	case SHMT_ENAME:
	case SHMT_ECONFIG:
	case SHMT_EHEADER:
	case SHMT_ETICKET: return EXIT_USAGE;
	case SHMT_ETIMEDOUT: return EXIT_TIMEOUT;
	case SHMT_EAGAIN: return EXIT_NOT_NOW;
	case SHMT_ENOENT:
	case SHMT_EREMOVED: return EXIT_NOENT;
	case SHMT_EEXIST: return EXIT_EXISTS;
	case SHMT_EPERM:
	case SHMT_EINVALID:
	case SHMT_EVERSION:
	case SHMT_ECORRUPT:
	case SHMT_EBUSY:
	case SHMT_ECREATING:
	case SHMT_EFULL:
	case SHMT_ETRUNCATED: return EXIT_SEGMENT;
	default: return EXIT_SYSTEM;
	}
}

static char sigbus_line[128];
static size_t sigbus_len;
static int sigbus_status;

static void
on_sigbus(int sig)
{
	(void)sig;
	(void)!write(2, sigbus_line, sigbus_len);
	_exit(sigbus_status);
}

void
cli_catch_sigbus(int status)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	int n = snprintf(sigbus_line, sizeof(sigbus_line), "%s: %s\n", cli_prog,
	                 shmt_strerror(SHMT_ETRUNCATED));

	sigbus_len = n < 0 ? 0 : (size_t)n;
	sigbus_status = status;
	sigaction(SIGBUS, &sa, NULL);
}

int
cli_fail(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (code == SHMT_ESYS)
		fprintf(stderr, " failed: %s\n", strerror(saved));
	else
		fprintf(stderr, " failed: %s\n", shmt_strerror(code));
	return cli_exit_status(code);
}

int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	return EXIT_USAGE;
}

int
cli_seconds(const char *s, double *out)
{
	const char *p = s;
	double v;

	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.')
		p++;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == s || *p != '\0' || (p - s == 1 && *s == '.'))
		return -1;
	v = strtod(s, NULL);
	if (!isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int
cli_count(const char *s, unsigned long min, unsigned long max,
          unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
cli_config_init(struct cli_config *cc, const shmt_config *base)
{
	memset(cc, 0, sizeof(*cc));
	if (base)
		cc->cfg = *base;
	else
		shmt_config_init(&cc->cfg);
}

static int
add_rate(struct cli_config *cc, const char *arg)
{
	char buf[64], *slash;
	unsigned long max;
	double period;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	if (!(slash = strchr(buf, '/')))
		return -1;
	*slash = '\0';
	if (cli_count(buf, 1, 1u << 24, &max) ||
	    cli_seconds(slash + 1, &period) || period <= 0)
		return -1;
	cc->rates_given = 1;
	if (cc->nextra >= SHMT_MAX_RATES)
		return -1;
	cc->extra[cc->nextra++] =
	    (shmt_rate){ .max = (uint32_t)max, .period = period };
	return 0;
}

static int
seconds_opt(const char *arg, double min, double *out)
{
	double v;

	if (cli_seconds(arg, &v) || v < min)
		return -1;
	*out = v;
	return 0;
}

static int
policy_opt(const char *arg, int *out)
{
	if (strcmp(arg, "window") == 0)
		*out = SHMT_POLICY_WINDOW;
	else if (strcmp(arg, "smooth") == 0)
		*out = SHMT_POLICY_SMOOTH;
	else
		return -1;
	return 0;
}

int
cli_config_option(struct cli_config *cc, int opt, const char *arg)
{
	shmt_config *c = &cc->cfg;
	unsigned long n = 0;
	int bad = 0;

	switch (opt) {
	case CLI_OPT_PERIOD:
		bad = seconds_opt(arg, 0, &cc->period) || cc->period <= 0;
		cc->rates_given = 1;
		break;
	case CLI_OPT_MAX:
		bad = cli_count(arg, 1, 1u << 24, &cc->max);
		cc->rates_given = 1;
		break;
	case CLI_OPT_RATE: bad = add_rate(cc, arg); break;
	case CLI_OPT_POLICY: bad = policy_opt(arg, &c->policy); break;
	case CLI_OPT_BURST:
		bad = cli_count(arg, 1, 1u << 24, &n);
		c->burst = (uint32_t)n;
		break;
	case CLI_OPT_MARGIN: bad = seconds_opt(arg, 0, &c->margin); break;
	case CLI_OPT_BACKOFF_INITIAL:
		bad = seconds_opt(arg, 0, &c->backoff_initial);
		break;
	case CLI_OPT_BACKOFF_MULTIPLIER:
		bad = seconds_opt(arg, 0, &c->backoff_multiplier);
		break;
	case CLI_OPT_BACKOFF_MAX:
		bad = seconds_opt(arg, 0, &c->backoff_max);
		break;
	case CLI_OPT_RETRY_AFTER_MAX:
		bad = seconds_opt(arg, 0, &c->retry_after_max);
		break;
	case CLI_OPT_RETRIES:
		bad = cli_count(arg, 0, 1000, &n);
		c->max_retries = (uint32_t)n;
		break;
	case CLI_OPT_CAPACITY:
		bad = cli_count(arg, 16, 1u << 24, &n);
		c->capacity = (uint32_t)n;
		break;
	default: return 0;
	}
	if (bad) {
		static const char *const names[] = {
			"period",
			"max",
			"rate",
			"policy",
			"burst",
			"margin",
			"backoff-initial",
			"backoff-multiplier",
			"backoff-max",
			"retry-after-max",
			"max-retries",
			"capacity",
		};

		cli_usage_error("invalid --%s '%s'",
		                names[opt - CLI_OPT_PERIOD], arg);
		return -1;
	}
	cc->changed = 1;
	return 1;
}

int
cli_config_finish(struct cli_config *cc)
{
	shmt_config *c = &cc->cfg;

	if ((cc->period > 0) != (cc->max > 0))
		return cli_usage_error(
		    "--period and --max go together (a limit is "
		    "MAX requests per PERIOD seconds)");
	if (cc->rates_given) {
		/* The rates given replace the old ones: --period/--max first.
		 */
		c->nrates = 0;
		if (cc->period > 0)
			c->rates[c->nrates++] =
			    (shmt_rate){ .max = (uint32_t)cc->max,
				         .period = cc->period };
		if (c->nrates + cc->nextra > SHMT_MAX_RATES)
			return cli_usage_error("at most %d rates",
			                       SHMT_MAX_RATES);
		for (unsigned i = 0; i < cc->nextra; i++)
			c->rates[c->nrates++] = cc->extra[i];
	}
	if (shmt_config_check(c) != SHMT_OK) {
		fprintf(stderr, "%s: invalid configuration: %s\n", cli_prog,
		        c->policy == SHMT_POLICY_SMOOTH && c->nrates == 0
		            ? "the smooth policy needs --period and --max"
		        : c->backoff_initial > c->backoff_max
		            ? "--backoff-initial exceeds --backoff-max"
		        : c->backoff_multiplier < 1
		            ? "--backoff-multiplier must be at least 1"
		        : c->policy == SHMT_POLICY_SMOOTH
		            ? "--burst exceeds --max"
		        : c->capacity
		            ? "--capacity must hold the largest --max"
		            : "a value is out of range (see the man page)");
		return EXIT_USAGE;
	}
	return 0;
}

void
cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void
cli_format_wall(double epoch, char *buf, size_t len)
{
	time_t secs = (time_t)epoch;
	struct tm tm;
	char base[32];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03d UTC", base,
	         (int)((epoch - (double)secs) * 1000));
}
