/* fuzz_quota.c - quota headers.  Input: "Name: value" lines (a Date line
 * among them is the server's clock).  Whatever the input, every field is
 * unknown or in range: no delay beyond the cap, no remaining above the
 * limit. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmthrottle.h"

#define MAX_HEADERS 16
#define CAP 3600.0

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *line, *next;
	shmt_http_header h[MAX_HEADERS];
	shmt_quota q;
	size_t n = 0;

	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = buf; line && n < MAX_HEADERS; line = next) {
		char *colon;

		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		if (!(colon = strchr(line, ':')))
			continue;
		*colon = '\0';
		h[n++] = (shmt_http_header){ line, colon + 1 };
	}
	if (shmt_quota_parse(h, n, 1.7e9, CAP, &q) != SHMT_OK)
		abort();
	if (q.dialect < SHMT_QUOTA_NONE || q.dialect > SHMT_QUOTA_REDDIT)
		abort();
	if (!(q.reset == -1 || (q.reset >= 0 && q.reset <= CAP)))
		abort();
	if (!(q.retry_after == -1 ||
	      (q.retry_after >= 0 && q.retry_after <= CAP)))
		abort();
	if (!(q.window >= 0 && isfinite(q.window)) || q.remaining < -1)
		abort();
	if (q.limit > 0 && q.remaining > (int64_t)q.limit)
		abort();
	if (memchr(q.header, '\0', sizeof(q.header)) == NULL)
		abort();
	free(buf);
	return 0;
}
