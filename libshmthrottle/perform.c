/* perform.c - a libcurl transfer under a throttle: wait until the slot is
 * near, connect, take the slot once the connection is ready (so that
 * connection set-up never sits between admission and sending), perform,
 * record with what was measured, retry within bounds.  The decisions stay
 * in policy.c. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "internal.h"
#include "policy.h"
#include "shmthrottle.h"
#include "timing.h"

/* Connect this long before the slot: TCP and TLS set-up on a real
 * network take tens to hundreds of milliseconds. */
#define LEAD 0.25
/* A connection is never held idle longer than this waiting for its slot:
 * servers close idle connections; a farther slot means connecting again
 * later (nothing is reserved, nothing is lost). */
#define IDLE_MAX 2.0

void
shmt_curl_opts_init(shmt_curl_opts *o)
{
	if (o)
		*o = (shmt_curl_opts){ .max_retries = -1 };
}

/* The errors curl's own --retry counts as transient. */
static int
transient(CURLcode c, int connrefused)
{
	return c == CURLE_OPERATION_TIMEDOUT ||
	       c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_COULDNT_RESOLVE_PROXY ||
	       (connrefused && c == CURLE_COULDNT_CONNECT);
}

static int
listed(const shmt_curl_opts *o, int status)
{
	for (size_t i = 0; i < o->nretry_statuses; i++)
		if (o->retry_statuses[i] == status)
			return 1;
	return 0;
}

static double
since(int64_t t)
{
	return shmt_ns_to_sec(shmt_mono_ns() - t);
}

/* One attempt, as the pre-request callback sees it. */
struct attempt {
	shmt_throttle *t;
	shmt_ticket *tk;
	/* seconds the call may still take; < 0: no limit */
	double left;
	/* the throttle's answer when it stopped the transfer */
	int rc;
	/* slots taken in this attempt (a redirect takes one per request) */
	int taken;
	/* when the (last) request left, mono ns */
	int64_t sent;
	/* when curl_easy_perform() returned, mono ns */
	int64_t done;
	/* what each send declares */
	uint32_t cost;
};

/* Called by libcurl with the connection ready, right before the request
 * is written: this is the admission. */
static int
on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
	struct attempt *a = arg;
	double wait = a->left >= 0 && a->left < IDLE_MAX ? a->left : IDLE_MAX;
	shmt_ticket hop;

	(void)ip, (void)local_ip, (void)port, (void)local_port;
	if (a->taken) {
		/* a redirect: the next request reaches the server too, as
		 * part of this one (its place, no further cost) */
		shmt_ticket_init(&hop);
		a->rc = shmt_acquire_cost(a->t, &hop, 0, SHMT_ACQUIRE_NOPLACE,
		                          wait);
	} else {
		a->rc = shmt_acquire_cost(a->t, a->tk, a->cost, 0, wait);
	}
	if (a->rc != SHMT_OK)
		return CURL_PREREQFUNC_ABORT;
	a->taken++;
	a->sent = shmt_mono_ns();
	return CURL_PREREQFUNC_OK;
}

/* Sleep until the next slot is LEAD away: the wait for a far slot happens
 * before connecting, not on an open connection.  Whatever may bring the
 * slot nearer meanwhile (a refund, a reset) wakes us to look again.
 * SHMT_ETIMEDOUT at once if the slot is farther than `left` (< 0: no
 * limit). */
static int
wait_near(shmt_throttle *t, uint32_t cost, double left)
{
	int64_t start = shmt_mono_ns();

	for (;;) {
		double next;
		uint32_t seen;
		/* the slot of a send of this cost, the shared delay included */
		int rc = shmt_next_slot(t, cost, &next, &seen);

		if (rc != SHMT_OK)
			return rc;
		if (left >= 0 && next > left - since(start))
			return SHMT_ETIMEDOUT;
		if (next <= LEAD || !shmt_wait_nearer(t, seen, next - LEAD))
			return SHMT_OK;
	}
}

/*
 * The round trip of the request, ns: from its leaving (a->sent) to the
 * first byte back; 0 if unknown.  libcurl's PRETRANSFER time cannot be
 * the start: it is taken when the transfer enters its PERFORMING state,
 * after the request is written and often with the answer already read,
 * so it measured microseconds where the server took milliseconds, and
 * the margin missed the server's queueing.  timing.c counts the first
 * byte back from the end instead.  After a redirect libcurl's times have
 * different starts: no sample.
 */
static int64_t
round_trip(const struct attempt *a, CURL *easy)
{
	curl_off_t first = 0, total = 0;

	if (a->taken != 1 ||
	    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first) !=
	        CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total) != CURLE_OK)
		return 0;
	return shmt_timing_rtt(a->sent, a->done, first, total, 1000);
}

/* Response headers read for the quota, at most. */
#define QUOTA_HEADERS 64

/* The last response's quota headers, through libcurl's header API (it
 * parsed the header block; quota.c reads the values). */
static void
quota_of(CURL *easy, double max, shmt_quota *q)
{
	shmt_http_header h[QUOTA_HEADERS];
	struct curl_header *prev = NULL;
	size_t n = 0;

	while (n < QUOTA_HEADERS &&
	       (prev = curl_easy_nextheader(easy, CURLH_HEADER, -1, prev)))
		h[n++] = (shmt_http_header){ prev->name, prev->value };
	if (shmt_quota_parse(h, n, shmt_ns_to_sec(shmt_wall_ns()), max, q) !=
	    SHMT_OK)
		q->dialect = SHMT_QUOTA_NONE;
}

/* The actual cost from the response header `name`: a whole number, white
 * space around it; -1 if absent or not one. */
static int64_t
header_cost(CURL *easy, const char *name)
{
	struct curl_header *h;
	unsigned long long v;
	const char *p;
	char *end;

	if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	for (p = h->value; *p == ' ' || *p == '\t'; p++)
		;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtoull(p, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	return errno || *end || v > UINT32_MAX ? -1 : (int64_t)v;
}

/* Record what one performed attempt got; returns the throttle's code. */
static int
report(struct attempt *a, CURL *easy, CURLcode cc, const shmt_curl_opts *o,
       double ra_max, shmt_curl_result *res, shmt_outcome *out)
{
	shmt_quota q = { .dialect = SHMT_QUOTA_NONE };
	curl_off_t ra = 0;
	long status = 0;
	char *url = NULL;
	double retry_after = -1;
	unsigned flags = 0;

	if (cc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
	/* curl counts Retry-After from the response; we count from the send */
	if (cc == CURLE_OK &&
	    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		retry_after = (double)ra + since(a->sent);
	if (cc != CURLE_OK && transient(cc, o->retry_connrefused))
		flags = SHMT_RECORD_RETRY;
	else if ((status == 503 && retry_after >= 0) || listed(o, (int)status))
		flags = SHMT_RECORD_RETRY;
	if (cc == CURLE_OK)
		quota_of(easy, ra_max, &q);
	res->status = (int)status;
	res->curl_code = (int)cc;
	a->tk->sent_ns = a->sent;
	a->tk->rtt_ns = cc == CURLE_OK ? round_trip(a, easy) : 0;
	/* the usage the answer reports: refunded or charged */
	if (cc == CURLE_OK && o->cost_header) {
		int64_t used = header_cost(easy, o->cost_header);
		int rc;

		if (used >= 0 && (rc = shmt_cost_set(
		                      a->t, a->tk, (uint32_t)used)) != SHMT_OK)
			return rc;
	}
	return shmt_record_quota(a->t, a->tk, (int)status, retry_after,
	                         cc == CURLE_OK ? &q : NULL, url, flags, out);
}

/* A transfer that failed before any request left: no slot was taken,
 * nothing reached the server; back off this request alone. */
static void
no_send(const shmt_config *cfg, unsigned failures, CURLcode cc,
        const shmt_curl_opts *o, shmt_curl_result *res, shmt_outcome *out)
{
	struct shmt_scfg s;

	shmt_scfg_from(&s, cfg);
	res->status = 0;
	res->curl_code = (int)cc;
	out->verdict =
	    transient(cc, o->retry_connrefused) ? SHMT_RETRY : SHMT_DONE;
	out->delay = shmt_ns_to_sec(shmt_backoff_for_attempt(&s, failures));
}

int
shmt_curl_perform(shmt_throttle *t, void *easy, const shmt_curl_opts *opts,
                  shmt_curl_result *res)
{
	char errbuf[CURL_ERROR_SIZE];
	int64_t start = shmt_mono_ns();
	shmt_curl_opts def;
	shmt_ticket tk;
	shmt_outcome out = { 0 };
	shmt_config cfg;
	unsigned performed = 0;
	int rc, max_retries;

	if (!opts) {
		shmt_curl_opts_init(&def);
		opts = &def;
	}
	if (!t || !easy || !res)
		return SHMT_EINVAL;
	for (size_t i = 0; i < sizeof(opts->reserved); i++)
		if (opts->reserved[i])
			return SHMT_EINVAL;
	memset(res, 0, sizeof(*res));
	if ((rc = shmt_config_get(t, &cfg)) != SHMT_OK)
		return rc;
	max_retries = (int)cfg.max_retries;
	if (opts->max_retries >= 0)
		max_retries = opts->max_retries;
	shmt_ticket_init(&tk);
	errbuf[0] = '\0';
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
	for (;;) {
		struct attempt a = { .t = t,
			             .tk = &tk,
			             .left = -1,
			             .cost = opts->has_cost ? opts->cost : 1 };
		CURLcode cc;

		if (opts->max_time > 0)
			a.left = opts->max_time - since(start);
		if (opts->max_time > 0 && a.left <= 0) {
			res->gave_up = 1;
			break;
		}
		if ((rc = wait_near(t, a.cost, a.left)) != SHMT_OK) {
			if (rc == SHMT_ETIMEDOUT && performed > 0) {
				res->gave_up = res->paused_out = 1;
				rc = SHMT_OK;
			}
			break;
		}
		curl_easy_setopt(easy, CURLOPT_PREREQDATA, &a);
		if (performed > 0) {
			res->retries++;
			if (opts->before_retry)
				opts->before_retry(opts->arg);
		}
		performed++;
		cc = curl_easy_perform(easy);
		a.done = shmt_mono_ns();
		if (cc == CURLE_ABORTED_BY_CALLBACK && a.rc != SHMT_OK) {
			/* not sent: the slot is farther than IDLE_MAX (connect
			 * again when it is near), or the throttle failed */
			performed--;
			if (performed > 0)
				res->retries--;
			rc = a.rc;
			if (rc == SHMT_ETIMEDOUT &&
			    (opts->max_time <= 0 ||
			     since(start) < opts->max_time))
				continue;
			if (rc == SHMT_ETIMEDOUT && performed > 0) {
				/* the shared delay outlasts max_time */
				res->gave_up = res->paused_out = 1;
				rc = SHMT_OK;
			}
			break;
		}
		if (a.taken)
			rc = report(&a, easy, cc, opts, cfg.retry_after_max,
			            res, &out);
		else
			no_send(&cfg, performed, cc, opts, res, &out);
		if (rc != SHMT_OK || out.verdict == SHMT_DONE)
			break;
		/* the throttle says whether to retry (SHMT_GIVE_UP too: its
		 * count is the throttle's, ours is the caller's) */
		if ((int)performed > max_retries) {
			res->gave_up = 1;
			break;
		}
		/* a transport error: this request's own backoff (the shared
		 * delay is waited out by the next acquire) */
		if (res->status == 0) {
			double left = opts->max_time - since(start);

			shmt_sleep(opts->max_time > 0 && out.delay > left
			               ? left
			               : out.delay);
		}
	}
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, NULL);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, NULL);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	if (res->curl_code != CURLE_OK)
		snprintf(res->error, sizeof(res->error), "%s",
		         errbuf[0]
		             ? errbuf
		             : curl_easy_strerror((CURLcode)res->curl_code));
	res->time_total = shmt_ns_to_sec(shmt_mono_ns() - start);
	return rc;
}
