/* fuzz_retry_after.c - Retry-After and Date header values.
 * Input: VALUE, optionally "\n" DATE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmthrottle.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *date;
	double s = -1;
	int rc;

	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((date = strchr(buf, '\n')))
		*date++ = '\0';
	rc = shmt_retry_after_parse(buf, date, 1.7e9, 3600, &s);
	if (rc == SHMT_OK && !(s >= 0 && s <= 3600))
		abort(); /* the cap and the floor always hold */
	if (rc != SHMT_OK && rc != SHMT_EHEADER)
		abort();
	free(buf);
	return 0;
}
