/* retry_after.c - the Retry-After header: delay-seconds or an HTTP-date.
 * Dates are read by libc's strptime(3) in the C locale and timegm(3), in
 * the three forms of RFC 9110 section 5.6.7; no libcurl here, so that the
 * library's core (and throttlectl) loads none. */
#define _GNU_SOURCE /* strptime, timegm */
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry_after.h"
#include "shmthrottle.h"

#define VALUE_MAX 128

/* Copy s without surrounding spaces and tabs; 0 if empty or too long. */
static int
trim(const char *s, char out[VALUE_MAX])
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= VALUE_MAX)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

/* DIGITS or DIGITS.DIGITS; huge numbers saturate at max. */
static int
parse_seconds(const char *s, double max, double *seconds)
{
	const char *p = s;
	double v;

	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return SHMT_EHEADER;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p != '\0')
		return SHMT_EHEADER;
	v = strtod(s, NULL);
	*seconds = (!isfinite(v) || v > max) ? max : v;
	return SHMT_OK;
}

/* The C locale, whatever the program set: day and month names are
 * English in HTTP. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void
c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* IMF-fixdate, the obsolete RFC 850 form, and asctime's. */
static const char *const date_forms[] = {
	"%a, %d %b %Y %H:%M:%S GMT",
	"%A, %d-%b-%y %H:%M:%S GMT",
	"%a %b %e %H:%M:%S %Y",
};

time_t
shmt_http_date(const char *s)
{
	time_t when = -1;
	locale_t old;

	pthread_once(&c_locale_once, c_locale_init);
	if (!c_locale)
		return -1;
	old = uselocale(c_locale);
	for (size_t i = 0; i < sizeof(date_forms) / sizeof(date_forms[0]);
	     i++) {
		struct tm tm = { 0 };
		const char *end = strptime(s, date_forms[i], &tm);

		if (end && *end == '\0') {
			when = timegm(&tm);
			break;
		}
	}
	uselocale(old);
	return when;
}

static int
parse_date(const char *s, const char *date, double sent_wall, double max,
           double *seconds)
{
	char ref_buf[VALUE_MAX];
	time_t when = shmt_http_date(s), ref;
	double d;

	if (when == -1)
		return SHMT_EHEADER;
	/* The server's Date against its Retry-After: clock skew cancels. */
	if (date && trim(date, ref_buf) &&
	    (ref = shmt_http_date(ref_buf)) != -1)
		d = difftime(when, ref);
	else
		d = (double)when - sent_wall;
	*seconds = d < 0 ? 0 : d > max ? max : d;
	return SHMT_OK;
}

int
shmt_retry_after_parse(const char *value, const char *date, double sent_wall,
                       double max, double *seconds)
{
	char buf[VALUE_MAX];

	if (!value || !seconds || !(max > 0) || !isfinite(max) ||
	    !isfinite(sent_wall))
		return SHMT_EINVAL;
	if (!trim(value, buf))
		return SHMT_EHEADER;
	if (isdigit((unsigned char)buf[0]))
		return parse_seconds(buf, max, seconds);
	if (!isalpha((unsigned char)buf[0])) /* "-1", "+5", ".5" */
		return SHMT_EHEADER;
	return parse_date(buf, date, sent_wall, max, seconds);
}
