/* cli.h - what the command-line tools share: strict number parsing, the
 * throttle options, exit codes, error lines and JSON strings. */
#ifndef SHMT_CLI_H
#define SHMT_CLI_H

#include <stdio.h>

#include "shmthrottle.h"

/* Exit statuses, documented in throttlectl(1) and throttle-curl(1). */
enum {
	EXIT_OK = 0,
	/* check: not admitted now */
	EXIT_NOT_NOW = 1,
	/* bad command, option, number, name or config */
	EXIT_USAGE = 2,
	/* acquire/run --timeout passed */
	EXIT_TIMEOUT = 3,
	/* no such throttle */
	EXIT_NOENT = 4,
	/* create: it exists */
	EXIT_EXISTS = 5,
	/* segment refused: damaged, foreign, other layout */
	EXIT_SEGMENT = 6,
	/* a system call failed */
	EXIT_SYSTEM = 7,
	/* record: acquire again and resend */
	EXIT_RETRY = 10,
	/* the Redis server cannot be reached, timed out, lost the
	 * connection or refused the command */
	EXIT_BACKEND = 8,
	/* the Redis server refused the password, or its ACL the throttle */
	EXIT_ACCESS = 9,
	/* record: retryable, but retries are used up */
	EXIT_GIVE_UP = 11,
	/* acquire, check, run: the cost exceeds a unit limit (SHMT_ECOST) */
	EXIT_COST = 12,
	/* the output cannot be written (curl's CURLE_WRITE_ERROR) */
	EXIT_WRITE = 23
};

/* The environment variable that names the default throttle. */
#define THROTTLE_ENV "THROTTLE_NAME"
/* ... and the one that names the backend (shmt_open_backend()). */
#define BACKEND_ENV "THROTTLE_BACKEND"

/* Where the throttles are: --backend URL, else $THROTTLE_BACKEND, else
 * NULL (this host's shared memory). */
extern const char *cli_backend;
/* --backend and --redis-password-file (the tools take both). */
void cli_backend_option(const char *url);
void cli_password_file_option(const char *file);

extern const char *cli_prog;

/* Name the program for messages, and make sure descriptors 0 to 2 are
 * open: a closed one is taken by /dev/null opened read-only, so that
 * writes to a closed stdout fail (EBADF) instead of landing in the next
 * file or shared-memory segment opened. */
void cli_init(const char *prog);

/* "PROG: MESSAGE" and a newline on stderr, in one write(2), so that the
 * lines of concurrent processes do not interleave. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "PROG: WHAT failed: REASON" on stderr; returns the exit status for code. */
int cli_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "PROG: MESSAGE (try --help)" on stderr, then EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_exit_status(int code);
/* The message for a getopt_long() result of '?' or ':' (opterr = 0 and an
 * optstring starting with ':'), as "bad option '-x'" or "'--timeout' needs
 * a value", into buf. */
void cli_bad_option(int opt, char **argv, char *buf, size_t len);
/* A peer that truncates the throttle's segment between the library's
 * checks makes our next access to it raise SIGBUS: print one line and
 * exit with `status` instead of dying of the signal. */
void cli_catch_sigbus(int status);

/* Strict parsers: digits (and one '.'), nothing else; 0 on success. */
int cli_seconds(const char *s, double *out);
int cli_count(const char *s, unsigned long min, unsigned long max,
              unsigned long *out);

/* Throttle options shared by the tools.  cli_config_option() handles one
 * getopt_long result (CLI_OPT_* below); returns 1 if it was one, 0 if not,
 * -1 (after an error line) if its value is bad. */
enum {
	CLI_OPT_PERIOD = 1000,
	CLI_OPT_MAX,
	CLI_OPT_RATE,
	CLI_OPT_POLICY,
	CLI_OPT_BURST,
	CLI_OPT_MARGIN,
	CLI_OPT_BACKOFF_INITIAL,
	CLI_OPT_BACKOFF_MULTIPLIER,
	CLI_OPT_BACKOFF_MAX,
	CLI_OPT_RETRY_AFTER_MAX,
	CLI_OPT_RETRIES,
	CLI_OPT_CAPACITY,
	CLI_OPT_MARGIN_MODE,
	CLI_OPT_UNITS,
	CLI_OPT_UNIT_BURST,
	CLI_OPT_CONCURRENCY,
	CLI_OPT_HOLD_MAX,
	CLI_OPT_FIRST_FREE
};
/* clang-format off */
#define CLI_CONFIG_LONGOPTS \
	{ "period", required_argument, NULL, CLI_OPT_PERIOD }, \
	{ "max", required_argument, NULL, CLI_OPT_MAX }, \
	{ "rate", required_argument, NULL, CLI_OPT_RATE }, \
	{ "policy", required_argument, NULL, CLI_OPT_POLICY }, \
	{ "burst", required_argument, NULL, CLI_OPT_BURST }, \
	{ "margin", required_argument, NULL, CLI_OPT_MARGIN }, \
	{ "backoff-initial", required_argument, NULL, CLI_OPT_BACKOFF_INITIAL }, \
	{ "backoff-multiplier", required_argument, NULL, CLI_OPT_BACKOFF_MULTIPLIER }, \
	{ "backoff-max", required_argument, NULL, CLI_OPT_BACKOFF_MAX }, \
	{ "retry-after-max", required_argument, NULL, CLI_OPT_RETRY_AFTER_MAX }, \
	{ "max-retries", required_argument, NULL, CLI_OPT_RETRIES }, \
	{ "capacity", required_argument, NULL, CLI_OPT_CAPACITY }, \
	{ "margin-mode", required_argument, NULL, CLI_OPT_MARGIN_MODE }, \
	{ "units", required_argument, NULL, CLI_OPT_UNITS }, \
	{ "unit-burst", required_argument, NULL, CLI_OPT_UNIT_BURST }, \
	{ "concurrency", required_argument, NULL, CLI_OPT_CONCURRENCY }, \
	{ "hold-max", required_argument, NULL, CLI_OPT_HOLD_MAX }
/* clang-format on */

struct cli_config {
	shmt_config cfg;
	/* any option seen */
	int changed;
	/* --period/--max/--rate seen */
	int rates_given;
	/* --period, 0 if absent */
	double period;
	/* --max, 0 if absent */
	unsigned long max;
	/* --rate MAX/PERIOD, in order */
	shmt_rate extra[SHMT_MAX_RATES];
	unsigned nextra;
	/* --units N/S, in order */
	int units_given;
	shmt_rate units[SHMT_MAX_UNITS];
	unsigned nunits;
	/* --hold-max seen */
	int hold_given;
};

void cli_config_init(struct cli_config *cc, const shmt_config *base);
int cli_config_option(struct cli_config *cc, int opt, const char *arg);
/* Fold --period/--max into the rates and check; 0 or an exit status. */
int cli_config_finish(struct cli_config *cc);

/* Write s as a JSON string, quotes included: valid UTF-8 as it is, what
 * JSON requires escaped, and each byte that is not valid UTF-8 as \ufffd. */
void cli_json_string(FILE *f, const char *s);
/* Write s for a terminal: printable ASCII and valid UTF-8 as they are;
 * control characters (C0, DEL, C1) and bytes that are not valid UTF-8 as
 * \xNN, a backslash as \\. */
void cli_text_string(FILE *f, const char *s);
/* "2026-11-24 16:30:01.123 UTC" */
void cli_format_wall(double epoch, char *buf, size_t len);

#endif
