/* writeout.c - curl's -w format, for the variables throttle-curl knows. */
#include "writeout.h"

#include <string.h>

/* Print %{name}; returns 0 if the name is unknown (printed as is, as curl
 * does with a warning). */
static int
variable(FILE *f, const char *name, size_t len, const char *url,
         const shmt_curl_result *r, int exitcode)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
	if (IS("http_code") || IS("response_code"))
		fprintf(f, "%03d", r->status);
	else if (IS("url_effective") || IS("url"))
		fputs(url, f);
	else if (IS("time_total"))
		fprintf(f, "%.6f", r->time_total);
	else if (IS("num_retries"))
		fprintf(f, "%u", r->retries);
	else if (IS("exitcode"))
		fprintf(f, "%d", exitcode);
	else if (IS("errormsg"))
		fputs(r->error, f);
	else
		return 0;
	return 1;
#undef IS
}

/* The character of the escape \c: \n, \t, \r, else c itself. */
static int
escaped(char c)
{
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	default: return c;
	}
}

void
writeout(FILE *f, const char *fmt, const char *url, const shmt_curl_result *r,
         int exitcode)
{
	for (const char *p = fmt; *p; p++) {
		const char *end;

		if (*p == '\\' && p[1]) {
			p++;
			fputc(escaped(*p), f);
		} else if (*p == '%' && p[1] == '%') {
			fputc('%', f);
			p++;
		} else if (*p == '%' && p[1] == '{' &&
		           (end = strchr(p + 2, '}'))) {
			size_t len = (size_t)(end - p - 2);

			/* as curl: %{stderr} and %{stdout} switch the stream */
			if (len == 6 && memcmp(p + 2, "stderr", 6) == 0)
				f = stderr;
			else if (len == 6 && memcmp(p + 2, "stdout", 6) == 0)
				f = stdout;
			else if (!variable(f, p + 2, len, url, r, exitcode))
				fwrite(p, 1, (size_t)(end - p + 1), f);
			p = end;
		} else {
			fputc(*p, f);
		}
	}
}
