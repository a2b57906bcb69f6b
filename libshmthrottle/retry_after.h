/* retry_after.h - HTTP-dates, shared by the Retry-After and quota header
 * parsers: libc's strptime/timegm in the C locale, no libcurl. */
#ifndef SHMT_RETRY_AFTER_H
#define SHMT_RETRY_AFTER_H

#include <time.h>

/* An HTTP-date in any of RFC 9110's three forms (IMF-fixdate, RFC 850,
 * asctime), the whole string, as seconds since the epoch; -1 if it is
 * none. */
time_t shmt_http_date(const char *s);

#endif
