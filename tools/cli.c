/* cli.c - shared pieces of the command-line tools. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *cli_prog = "throttle";
const char *cli_backend;

void
cli_backend_option(const char *url)
{
	cli_backend = url;
}

/* The library reads the file when it connects: the password itself is
 * never on a command line. */
void
cli_password_file_option(const char *file)
{
	setenv("THROTTLE_REDIS_PASSWORD_FILE", file, 1);
}

void
cli_init(const char *prog)
{
	cli_prog = prog;
	if (getenv(BACKEND_ENV) && *getenv(BACKEND_ENV))
		cli_backend = getenv(BACKEND_ENV);
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
			/* the lowest free descriptor: fd itself */
			open("/dev/null", O_RDONLY);
}

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
	case SHMT_EURL:
	case SHMT_ENOTSUP: return EXIT_USAGE;
	case SHMT_EGONE: return EXIT_NOENT;
	case SHMT_EUNREACHABLE:
	case SHMT_ELOST:
	case SHMT_EBACKEND: return EXIT_BACKEND;
	case SHMT_EAUTH:
	case SHMT_ENOPERM: return EXIT_ACCESS;
	case SHMT_ECOST: return EXIT_COST;
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

/* At most PIPE_BUF bytes: one write(2) to a pipe is then atomic. */
#define LINE_MAX_BYTES 4096

static void
error_line(const char *fmt, va_list ap, const char *tail)
{
	char line[LINE_MAX_BYTES];
	size_t len = 0, room;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", cli_prog);
	len = n > 0 ? (size_t)n : 0;
	if (len < sizeof(line)) {
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		len += n > 0 ? (size_t)n : 0;
	}
	if (len < sizeof(line)) {
		n = snprintf(line + len, sizeof(line) - len, "%s", tail);
		len += n > 0 ? (size_t)n : 0;
	}
	/* truncated: keep the room for the newline */
	room = sizeof(line) - 1;
	if (len > room)
		len = room;
	line[len++] = '\n';
	for (size_t done = 0; done < len;) {
		ssize_t w = write(STDERR_FILENO, line + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
}

void
cli_error(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	error_line(fmt, ap, "");
	va_end(ap);
	errno = saved;
}

int
cli_fail(int code, const char *fmt, ...)
{
	int saved = errno;
	char what[LINE_MAX_BYTES];
	const char *more;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* a backend's failure: its words too (never a password) */
	more = code >= SHMT_EURL && code <= SHMT_EBACKEND
	           ? shmt_backend_message()
	           : "";
	cli_error("%s failed: %s%s%s%s", what,
	          code == SHMT_ESYS ? strerror(saved) : shmt_strerror(code),
	          *more ? " (" : "", more, *more ? ")" : "");
	return cli_exit_status(code);
}

int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_line(fmt, ap, " (try --help)");
	va_end(ap);
	return EXIT_USAGE;
}

void
cli_bad_option(int opt, char **argv, char *buf, size_t len)
{
	/* optopt: the short option at fault (also inside "-xyz"); 0 or a
	 * long option's code otherwise, when argv[optind - 1] names it */
	int short_opt = optopt > 0 && optopt < 128 && isprint(optopt);
	char name[64];

	if (short_opt)
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%s", argv[optind - 1]);
	if (opt == ':')
		snprintf(buf, len, "'%s' needs a value", name);
	else
		snprintf(buf, len, "bad option '%s'", name);
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

#define TOO_MANY_LIMITS                                                        \
	"at most %d limits (--period/--max and each --rate count one)"

/* "N/S": N (1 to most) per S seconds; -1 if it is not that. */
static int
per_seconds(const char *arg, unsigned long most, shmt_rate *out)
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
	if (cli_count(buf, 1, most, &max) || cli_seconds(slash + 1, &period) ||
	    period <= 0)
		return -1;
	*out = (shmt_rate){ .max = (uint32_t)max, .period = period };
	return 0;
}

/* --rate N/S: -1 not N/S; -2 one limit too many. */
static int
add_rate(struct cli_config *cc, const char *arg)
{
	shmt_rate r;

	if (per_seconds(arg, 1u << 24, &r))
		return -1;
	cc->rates_given = 1;
	if (cc->nextra >= SHMT_MAX_RATES)
		return -2;
	cc->extra[cc->nextra++] = r;
	return 0;
}

/* --units N/S: -1 not N/S, -2 one too many. */
static int
add_units(struct cli_config *cc, const char *arg)
{
	shmt_rate r;

	if (per_seconds(arg, UINT32_MAX, &r))
		return -1;
	cc->units_given = 1;
	if (cc->nunits >= SHMT_MAX_UNITS)
		return -2;
	cc->units[cc->nunits++] = r;
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
	case CLI_OPT_MARGIN_MODE:
		bad = strcmp(arg, "adaptive") != 0 && strcmp(arg, "fixed") != 0;
		c->margin_fixed = strcmp(arg, "fixed") == 0;
		break;
	case CLI_OPT_UNITS: bad = add_units(cc, arg); break;
	case CLI_OPT_UNIT_BURST:
		bad = cli_count(arg, 0, UINT32_MAX, &n);
		c->unit_burst = (uint32_t)n;
		break;
	case CLI_OPT_CONCURRENCY:
		bad = cli_count(arg, 0, SHMT_MAX_PLACES, &n);
		c->concurrency = (uint32_t)n;
		break;
	case CLI_OPT_HOLD_MAX:
		bad = seconds_opt(arg, 0, &c->hold_max);
		cc->hold_given = 1;
		break;
	default: return 0;
	}
	if (bad == -2 && opt == CLI_OPT_UNITS) {
		cli_usage_error("at most %d --units limits", SHMT_MAX_UNITS);
		return -1;
	}
	if (bad == -2) {
		cli_usage_error(TOO_MANY_LIMITS, SHMT_MAX_RATES);
		return -1;
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
			"margin-mode",
			"units",
			"unit-burst",
			"concurrency",
			"hold-max",
		};

		cli_usage_error("invalid --%s '%s'",
		                names[opt - CLI_OPT_PERIOD], arg);
		return -1;
	}
	cc->changed = 1;
	return 1;
}

/* The library's ranges (shmt_config_check), checked in its order, to say
 * which value is out. */
static const char *
config_problem(const shmt_config *c)
{
	const double week = 7.0 * 86400, year = 365.0 * 86400;
	uint32_t largest = 0;

	for (unsigned i = 0; i < c->nrates && i < SHMT_MAX_RATES; i++) {
		if (!(c->rates[i].period >= 1e-6 && c->rates[i].period <= year))
			return "a limit's period must be 0.000001 to 31536000 "
			       "s (a year)";
		if (c->rates[i].max > largest)
			largest = c->rates[i].max;
	}
	if (c->policy == SHMT_POLICY_SMOOTH && c->nrates == 0 && c->nunits == 0)
		return "the smooth policy needs --period and --max (or "
		       "--units)";
	for (unsigned i = 0; i < c->nrates && i < SHMT_MAX_RATES; i++)
		if (c->policy == SHMT_POLICY_SMOOTH &&
		    c->burst > c->rates[i].max)
			return "--burst exceeds --max";
	if (!(c->margin >= 0 && c->margin <= 60))
		return "--margin must be 0 to 60 s";
	if (!(c->backoff_max >= 1e-3 && c->backoff_max <= week))
		return "--backoff-max must be 0.001 to 604800 s (a week)";
	if (!(c->backoff_initial >= 1e-3))
		return "--backoff-initial must be at least 0.001 s";
	if (!(c->backoff_initial <= c->backoff_max))
		return "--backoff-initial exceeds --backoff-max";
	if (!(c->backoff_multiplier >= 1 && c->backoff_multiplier <= 1000))
		return "--backoff-multiplier must be 1 to 1000";
	if (!(c->retry_after_max >= 1e-3 && c->retry_after_max <= week))
		return "--retry-after-max must be 0.001 to 604800 s (a week)";
	if (c->capacity != 0 && c->capacity < largest)
		return "--capacity must hold the largest --max";
	for (unsigned i = 0; i < c->nunits && i < SHMT_MAX_UNITS; i++) {
		if (!(c->units[i].period >= 1e-6 && c->units[i].period <= year))
			return "a --units period must be 0.000001 to 31536000 "
			       "s";
		if (c->unit_burst > c->units[i].max)
			return "--unit-burst exceeds a --units limit";
	}
	if (c->unit_burst && !c->nunits)
		return "--unit-burst needs --units";
	if (c->hold_max != 0 && !(c->hold_max >= 1e-3 && c->hold_max <= week))
		return "--hold-max must be 0.001 to 604800 s (a week)";
	return "a value is out of range (see the man page)";
}

int
cli_config_finish(struct cli_config *cc)
{
	shmt_config *c = &cc->cfg;

	if ((cc->period > 0) != (cc->max > 0))
		return cli_usage_error(
		    "--period and --max go together (a limit "
		    "is MAX requests per PERIOD seconds)");
	if (cc->rates_given) {
		/* The rates given replace the old: --period/--max first. */
		c->nrates = 0;
		if (cc->period > 0) {
			c->rates[0].max = (uint32_t)cc->max;
			c->rates[0].period = cc->period;
			c->nrates = 1;
		}
		if (c->nrates + cc->nextra > SHMT_MAX_RATES)
			return cli_usage_error(TOO_MANY_LIMITS, SHMT_MAX_RATES);
		for (unsigned i = 0; i < cc->nextra; i++)
			c->rates[c->nrates++] = cc->extra[i];
	}
	if (cc->units_given) {
		/* the unit limits given replace the old */
		c->nunits = cc->nunits;
		for (unsigned i = 0; i < cc->nunits; i++)
			c->units[i] = cc->units[i];
	}
	if (shmt_config_check(c) != SHMT_OK) {
		cli_error("invalid configuration: %s", config_problem(c));
		return EXIT_USAGE;
	}
	return 0;
}

/* The length of the valid UTF-8 sequence at s (1 to 4), 0 if none starts
 * there: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (n == 0)
			fputs("\\ufffd", f);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

void
cli_text_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);

		/* C1 controls (U+0080 to U+009F) are C2 80 to C2 9F */
		if (*p < 0x20 || *p == 0x7f || n == 0 ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0))
			n = 0;
		if (*p == '\\')
			fputs("\\\\", f);
		else if (n == 0)
			fprintf(f, "\\x%02x", *p);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
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
