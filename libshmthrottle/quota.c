/* quota.c - what a response's rate-limit headers say: the limit, the
 * window, the requests left and the time to the reset, in every dialect
 * servers use.  Pure: the caller passes the headers, the wall clock and
 * the cap; nothing is read or kept here.  Header blocks are libcurl's
 * business (or the tool's line splitter): this file reads values. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "retry_after.h"
#include "shmthrottle.h"

/* Values longer than this are garbage. */
#define VALUE_MAX 512
/* A number above this many seconds is an epoch, never a delay. */
#define EPOCH_MIN (10.0 * 365 * 86400)
/* Epoch milliseconds start here (year 5138 in seconds). */
#define EPOCH_MS_MIN 1e11
/* A reset farther than this is not a rate limit's: garbage. */
#define RESET_MAX (366.0 * 86400)
/* An absolute reset this far in the past is garbage, not "now". */
#define PAST_MAX 86400.0
/* Our clock and the server's Date agree within the Date's resolution. */
#define SKEW_MAX 2.0
/* The most policies of a structured field we look at. */
#define ITEMS_MAX 8

/* Copy s without surrounding white space; 0 if empty or too long. */
static int
trim(const char *s, char out[VALUE_MAX])
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	                 s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= VALUE_MAX)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

/* DIGITS[.DIGITS] at *s; advances *s.  0 if none. */
static int
number_at(const char **s, double *v)
{
	const char *p = *s;
	char buf[64];
	size_t n;

	while (isdigit((unsigned char)*p))
		p++;
	if (p == *s)
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return 0;
		p++;
		while (isdigit((unsigned char)*p))
			p++;
	}
	n = (size_t)(p - *s);
	if (n >= sizeof(buf)) {
		/* so many digits: huge, which every caller refuses or caps */
		*v = HUGE_VAL;
	} else {
		memcpy(buf, *s, n);
		buf[n] = '\0';
		*v = strtod(buf, NULL);
	}
	*s = p;
	return 1;
}

/* The whole value is DIGITS[.DIGITS]. */
static int
plain_number(const char *value, double *v)
{
	char buf[VALUE_MAX];
	const char *p = buf;

	if (!trim(value, buf) || !number_at(&p, v) || *p != '\0')
		return 0;
	return 1;
}

/* A whole count of requests, 0 to UINT32_MAX. */
static int
count_value(const char *value, int64_t *v)
{
	double d;

	if (!plain_number(value, &d) || d != floor(d) || d > 4294967295.0)
		return 0;
	*v = (int64_t)d;
	return 1;
}

/* A Go duration: "6m0s", "1h2m3.5s", "120ms", "2.5s", "0". */
static int
duration_value(const char *value, double *sec)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {
		{ "ns", 1e-9 },        { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 },
		{ "\xce\xbcs", 1e-6 }, { "ms", 1e-3 }, { "s", 1 },
		{ "m", 60 },           { "h", 3600 },
	};
	char buf[VALUE_MAX];
	const char *p = buf;
	double total = 0, v;

	if (!trim(value, buf))
		return 0;
	if (strcmp(buf, "0") == 0) {
		*sec = 0;
		return 1;
	}
	while (*p) {
		size_t k, len = 0;

		if (!number_at(&p, &v))
			return 0;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			len = strlen(units[k].unit);
			/* "ms" before "m", "s": the table's order decides */
			if (strncmp(p, units[k].unit, len) == 0)
				break;
		}
		if (k == sizeof(units) / sizeof(units[0]))
			return 0;
		total += v * units[k].scale;
		p += len;
	}
	if (!isfinite(total))
		return 0;
	*sec = total;
	return 1;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static double
days_from_civil(long y, unsigned m, unsigned d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (double)era * 146097 + (double)doe - 719468;
}

/* Exactly n digits at *p, as a number. */
static int
digits(const char **p, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return 0;
		*v = *v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	return 1;
}

/* RFC 3339: 2026-11-26T03:40:00Z, with fractions, or +01:00. */
static int
rfc3339_value(const char *value, double *epoch)
{
	char buf[VALUE_MAX];
	const char *p = buf;
	unsigned y, mo, d, h, mi, s, oh = 0, om = 0;
	double frac = 0, off = 0;

	if (!trim(value, buf) || !digits(&p, 4, &y) || *p++ != '-' ||
	    !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d) ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return 0;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
	    *p++ != ':' || !digits(&p, 2, &s))
		return 0;
	if (*p == '.') {
		char *end;

		if (!isdigit((unsigned char)p[1]))
			return 0;
		/* ".123" */
		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return 0;
		off = sign * (oh * 3600.0 + om * 60.0);
	} else {
		return 0;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    s > 60)
		return 0;
	*epoch = days_from_civil((long)y, mo, d) * 86400 + h * 3600.0 +
	         mi * 60.0 + s + frac - off;
	return 1;
}

/* The clock absolute times are measured against: ours, unless the
 * server's Date says it is more than SKEW_MAX away (then the server's:
 * skew cancels, and Date being the start of its second, the delay read
 * is never shorter than the real one). */
static double
reference(double now, double date)
{
	if (date > 0 && fabs(now - date) > SKEW_MAX)
		return date;
	return now;
}

/* An absolute time as seconds from the response; 0 if garbage. */
static int
from_epoch(double when, double now, double date, double *sec)
{
	double d = when - reference(now, date);

	if (!isfinite(d) || d < -PAST_MAX || d > RESET_MAX)
		return 0;
	*sec = d < 0 ? 0 : d;
	return 1;
}

/* A reset as seconds from now, epoch seconds or epoch milliseconds,
 * decided by magnitude. */
static int
reset_number(const char *value, double now, double date, double *sec)
{
	double v;

	if (!plain_number(value, &v))
		return 0;
	if (v >= EPOCH_MS_MIN)
		return v < 1e14 && from_epoch(v / 1000, now, date, sec);
	if (v >= EPOCH_MIN)
		return from_epoch(v, now, date, sec);
	if (v > RESET_MAX)
		return 0;
	*sec = v;
	return 1;
}

/* A reset as an RFC 3339 or HTTP date. */
static int
reset_date(const char *value, double now, double date, double *sec)
{
	char buf[VALUE_MAX];
	double when;
	time_t t;

	if (rfc3339_value(value, &when))
		return from_epoch(when, now, date, sec);
	if (!trim(value, buf) || !isalpha((unsigned char)buf[0]) ||
	    (t = shmt_http_date(buf)) == -1)
		return 0;
	return from_epoch((double)t, now, date, sec);
}

/* ---- the headers by name ---------------------------------------------- */

struct headers {
	const shmt_http_header *h;
	size_t n;
};

/* The last value of header `name` (case-insensitive), or NULL. */
static const char *
get(const struct headers *hs, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < hs->n; i++)
		if (hs->h[i].name && hs->h[i].value &&
		    strcasecmp(hs->h[i].name, name) == 0)
			v = hs->h[i].value;
	return v;
}

/* The fields of one dialect, as read. */
struct reading {
	int64_t limit, remaining;
	double window, reset;
	const char *header;
};

#define READING_NONE                                                           \
	(struct reading)                                                       \
	{                                                                      \
		.limit = -1, .remaining = -1, .window = 0, .reset = -1         \
	}

static int
known(const struct reading *r)
{
	return r->limit >= 0 || r->remaining >= 0;
}

/* ---- structured fields (the IETF draft) -------------------------------- */

/* One member of a list: an optional name and its parameters. */
struct item {
	char name[32];
	int64_t q, r;
	double w, t;
	/* the quota counts something else than requests (qu=...) */
	int other_unit;
};

static int
param_number(const char *v, double *out)
{
	return plain_number(v, out) && isfinite(*out);
}

/* key=value of a parameter or a dictionary member into it; 0 if bad. */
static int
item_param(struct item *it, const char *key, const char *val)
{
	double v;
	int64_t c;

	if (!strcmp(key, "q") || !strcmp(key, "limit")) {
		if (!count_value(val, &c))
			return 0;
		it->q = c;
	} else if (!strcmp(key, "r") || !strcmp(key, "remaining")) {
		if (!count_value(val, &c))
			return 0;
		it->r = c;
	} else if (!strcmp(key, "w") || !strcmp(key, "window")) {
		if (!param_number(val, &v) || v <= 0 || v > RESET_MAX)
			return 0;
		it->w = v;
	} else if (!strcmp(key, "t") || !strcmp(key, "reset")) {
		if (!param_number(val, &v) || v > RESET_MAX)
			return 0;
		it->t = v;
	} else if (!strcmp(key, "qu")) {
		it->other_unit = strcmp(val, "\"requests\"") != 0;
	}
	/* other keys (pk, partition keys...) do not matter here */
	return 1;
}

/* Split s at top-level c (outside quotes); returns the rest or NULL. */
static char *
split(char *s, char c)
{
	int quoted = 0;

	for (; *s; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '\\' && quoted && s[1])
			s++;
		else if (*s == c && !quoted) {
			*s = '\0';
			return s + 1;
		}
	}
	return NULL;
}

static char *
strip(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* One member: NAME;k=v;k=v, or a dictionary member k=v.  0 if bad. */
static int
parse_item(char *m, struct item *it)
{
	char *rest = split(m, ';'), *eq;

	*it = (struct item){ .q = -1, .r = -1, .t = -1 };
	m = strip(m);
	if ((eq = strchr(m, '=')) && *m != '"') {
		*eq = '\0';
		/* a dictionary member: no name */
		if (!item_param(it, strip(m), strip(eq + 1)))
			return 0;
	} else if (*m == '"' || isalpha((unsigned char)*m)) {
		snprintf(it->name, sizeof(it->name), "%s", m);
	} else if (isdigit((unsigned char)*m)) {
		/* the older drafts' "100;w=60": a limit as the item */
		if (!item_param(it, "q", m))
			return 0;
	} else if (*m) {
		return 0;
	}
	while (rest) {
		char *p = rest;

		rest = split(p, ';');
		if (!(eq = strchr(p, '=')))
			continue;
		*eq = '\0';
		if (!item_param(it, strip(p), strip(eq + 1)))
			return 0;
	}
	return 1;
}

/* The members of a list (or dictionary) field; -1 if malformed. */
static int
parse_list(const char *value, struct item *items)
{
	char buf[VALUE_MAX], *p = buf, *next;
	int n = 0;

	if (!trim(value, buf))
		return -1;
	for (; p && n < ITEMS_MAX; p = next) {
		next = split(p, ',');
		if (!parse_item(p, &items[n]))
			return -1;
		n++;
	}
	return n;
}

/* Fold a draft-07 dictionary (limit=, remaining=, reset= as members) into
 * one item. */
static void
fold_dictionary(struct item *items, int *n)
{
	struct item all = { .q = -1, .r = -1, .t = -1 };

	if (*n < 2 || items[0].name[0])
		return;
	for (int i = 0; i < *n; i++) {
		if (items[i].name[0])
			return;
		if (items[i].q >= 0)
			all.q = items[i].q;
		if (items[i].r >= 0)
			all.r = items[i].r;
		if (items[i].t >= 0)
			all.t = items[i].t;
		if (items[i].w > 0)
			all.w = items[i].w;
	}
	items[0] = all;
	*n = 1;
}

/* The policy a RateLimit item names (by name, or the only one). */
static const struct item *
policy_of(const struct item *it, const struct item *pol, int np)
{
	for (int i = 0; i < np; i++)
		if (!strcmp(pol[i].name, it->name))
			return &pol[i];
	return np == 1 ? &pol[0] : NULL;
}

/* RateLimit-Policy and RateLimit: the binding policy, the one with the
 * fewest requests left (else the smallest quota per second). */
static struct reading
ietf(const struct headers *hs)
{
	struct item pol[ITEMS_MAX], cur[ITEMS_MAX];
	const char *vp = get(hs, "ratelimit-policy"),
	           *vc = get(hs, "ratelimit");
	int np = vp ? parse_list(vp, pol) : 0,
	    nc = vc ? parse_list(vc, cur) : 0;
	struct reading rd = READING_NONE;
	const struct item *best = NULL, *bp = NULL;

	if (np < 0 || nc < 0)
		return rd;
	fold_dictionary(cur, &nc);
	for (int i = 0; i < nc; i++) {
		const struct item *p = policy_of(&cur[i], pol, np);

		if (cur[i].other_unit || cur[i].r < 0 || (p && p->other_unit))
			continue;
		if (!best || cur[i].r < best->r)
			best = &cur[i];
	}
	if (best) {
		bp = policy_of(best, pol, np);
		rd.remaining = best->r;
		rd.reset = best->t;
		rd.header = "ratelimit";
	} else {
		for (int i = 0; i < np; i++)
			if (!pol[i].other_unit && pol[i].q >= 0 &&
			    pol[i].w > 0 &&
			    (!bp || pol[i].q / pol[i].w < bp->q / bp->w))
				bp = &pol[i];
	}
	if (bp && !bp->other_unit && bp->q >= 0) {
		rd.limit = bp->q;
		rd.window = bp->w;
		rd.header = "ratelimit-policy";
	} else if (best && best->q >= 0) {
		/* draft-07: the limit sits in RateLimit itself */
		rd.limit = best->q;
		rd.window = best->w;
	}
	return rd;
}

/* ---- the flat dialects -------------------------------------------------- */

/* NAME-limit, NAME-remaining and a reset header of one family. */
struct family {
	int dialect;
	const char *limit, *remaining, *reset, *reset_after, *used;
	/* reset form: 'n' number (seconds or epoch), 'd' duration, 't' date */
	char form;
};

static const struct family families[] = {
	{ SHMT_QUOTA_IETF_OLD, "ratelimit-limit", "ratelimit-remaining",
	  "ratelimit-reset", NULL, NULL, 'n' },
	{ SHMT_QUOTA_OPENAI, "x-ratelimit-limit-requests",
	  "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", NULL,
	  NULL, 'd' },
	{ SHMT_QUOTA_ANTHROPIC, "anthropic-ratelimit-requests-limit",
	  "anthropic-ratelimit-requests-remaining",
	  "anthropic-ratelimit-requests-reset", NULL, NULL, 't' },
	{ SHMT_QUOTA_REDDIT, NULL, "x-ratelimit-remaining", "x-ratelimit-reset",
	  NULL, "x-ratelimit-used", 'n' },
	{ SHMT_QUOTA_XRATELIMIT, "x-ratelimit-limit", "x-ratelimit-remaining",
	  "x-ratelimit-reset", "x-ratelimit-reset-after", NULL, 'n' },
	{ SHMT_QUOTA_XRATELIMIT, "x-rate-limit-limit", "x-rate-limit-remaining",
	  "x-rate-limit-reset", NULL, NULL, 'n' },
};

static int
reset_value(char form, const char *v, double now, double date, double *sec)
{
	switch (form) {
	case 'd': return duration_value(v, sec) && *sec <= RESET_MAX;
	case 't': return reset_date(v, now, date, sec);
	default: return reset_number(v, now, date, sec);
	}
}

static struct reading
flat(const struct headers *hs, const struct family *f, double now, double date)
{
	struct reading rd = READING_NONE;
	const char *v;
	int64_t used = 0;
	double d;

	/* Reddit's family: used and remaining, no limit (GitHub sends all
	 * three: it is X-RateLimit's) */
	if (f->used && (!(v = get(hs, f->used)) || !count_value(v, &used) ||
	                get(hs, "x-ratelimit-limit")))
		return rd;
	if (f->limit && (v = get(hs, f->limit)) && count_value(v, &rd.limit))
		rd.header = f->limit;
	if ((v = get(hs, f->remaining)) && count_value(v, &rd.remaining) &&
	    !rd.header)
		rd.header = f->remaining;
	/* Reddit: used + remaining is the limit */
	if (f->used && rd.remaining >= 0 &&
	    used + rd.remaining <= (int64_t)UINT32_MAX)
		rd.limit = used + rd.remaining;
	/* Discord's -Reset-After is exact; its -Reset an epoch */
	if (f->reset_after && (v = get(hs, f->reset_after)) &&
	    plain_number(v, &d) && d <= RESET_MAX)
		rd.reset = d;
	else if ((v = get(hs, f->reset)) &&
	         reset_value(f->form, v, now, date, &d))
		rd.reset = d;
	return rd;
}

/* retry-after-ms, else Retry-After, as seconds from the response. */
static double
retry_after(const struct headers *hs, double now, double date, double max)
{
	const char *v = get(hs, "retry-after-ms");
	double d;

	if (v && plain_number(v, &d))
		return d / 1000 > max ? max : d / 1000;
	if ((v = get(hs, "retry-after")) &&
	    shmt_retry_after_parse(v, NULL, reference(now, date), max, &d) ==
	        SHMT_OK)
		return d;
	return -1;
}

/* Contradictions make a reading unknown; delays are capped. */
static void
settle(struct reading *rd, double max)
{
	if (rd->limit > (int64_t)UINT32_MAX)
		rd->limit = -1;
	if (rd->limit >= 0 && rd->remaining > rd->limit)
		rd->limit = rd->remaining = -1;
	if (rd->limit == 0)
		rd->limit = -1;
	if (rd->reset > max)
		rd->reset = max;
	if (!(rd->window > 0 && rd->window <= RESET_MAX))
		rd->window = 0;
}

int
shmt_quota_parse(const shmt_http_header *h, size_t n, double now, double max,
                 shmt_quota *q)
{
	struct headers hs = { h, n };
	struct reading rd = READING_NONE;
	const char *dv;
	double date = -1;
	time_t t;
	int dialect = SHMT_QUOTA_NONE;
	char dbuf[VALUE_MAX];

	if (!q || (!h && n) || !(max > 0) || !isfinite(now))
		return SHMT_EINVAL;
	*q = (shmt_quota){ .remaining = -1, .reset = -1, .retry_after = -1 };
	if ((dv = get(&hs, "date")) && trim(dv, dbuf) &&
	    (t = shmt_http_date(dbuf)) != -1)
		date = (double)t;
	rd = ietf(&hs);
	if (known(&rd))
		dialect = SHMT_QUOTA_IETF;
	for (size_t i = 0; !dialect && i < sizeof(families) / sizeof(*families);
	     i++) {
		rd = flat(&hs, &families[i], now, date);
		if (known(&rd))
			dialect = families[i].dialect;
	}
	q->retry_after = retry_after(&hs, now, date, max);
	if (!dialect)
		return SHMT_OK;
	settle(&rd, max);
	if (rd.limit < 0 && rd.remaining < 0)
		return SHMT_OK;
	q->dialect = dialect;
	q->limit = rd.limit > 0 ? (uint32_t)rd.limit : 0;
	q->remaining = rd.remaining;
	q->window = rd.window;
	q->reset = rd.reset;
	snprintf(q->header, sizeof(q->header), "%s",
	         rd.header ? rd.header : "");
	return SHMT_OK;
}

const char *
shmt_quota_dialect_name(int dialect)
{
	switch (dialect) {
	case SHMT_QUOTA_IETF: return "ietf";
	case SHMT_QUOTA_IETF_OLD: return "ietf-old";
	case SHMT_QUOTA_XRATELIMIT: return "x-ratelimit";
	case SHMT_QUOTA_OPENAI: return "openai";
	case SHMT_QUOTA_ANTHROPIC: return "anthropic";
	case SHMT_QUOTA_REDDIT: return "reddit";
	default: return "none";
	}
}
