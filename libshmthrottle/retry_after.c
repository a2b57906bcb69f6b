/* retry_after.c - the Retry-After header: delay-seconds or an HTTP-date.
 * Dates are libcurl's business (curl_getdate reads all three RFC 9110
 * forms); this file only trims, checks the number form and caps. */
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static int
parse_date(const char *s, const char *date, double sent_wall, double max,
           double *seconds)
{
	char ref_buf[VALUE_MAX];
	time_t when = curl_getdate(s, NULL), ref;
	double d;

	if (when == -1)
		return SHMT_EHEADER;
	/* The server's Date against its Retry-After: clock skew cancels. */
	if (date && trim(date, ref_buf) &&
	    (ref = curl_getdate(ref_buf, NULL)) != -1)
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
