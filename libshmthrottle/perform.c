/* perform.c - a libcurl transfer under a throttle: acquire, perform,
 * record, retry within bounds.  The decisions stay in policy.c. */
#include <curl/curl.h>
#include <string.h>

#include "clock.h"
#include "shmthrottle.h"

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

/* One attempt: perform, then tell the throttle.  Returns the verdict. */
static int
attempt(shmt_throttle *t, CURL *easy, const shmt_curl_opts *o,
        const shmt_ticket *tk, shmt_curl_result *res, shmt_outcome *out)
{
	CURLcode cc = curl_easy_perform(easy);
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
		retry_after = (double)ra + since(tk->send_ns);
	if (cc != CURLE_OK && transient(cc, o->retry_connrefused))
		flags = SHMT_RECORD_RETRY;
	else if ((status == 503 && retry_after >= 0) || listed(o, (int)status))
		flags = SHMT_RECORD_RETRY;
	res->status = (int)status;
	res->curl_code = (int)cc;
	return shmt_record(t, tk, (int)status, retry_after, url, flags, out);
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
	for (;;) {
		double left = -1;

		if (opts->max_time > 0)
			left = opts->max_time - since(start);

		if (opts->max_time > 0 && left <= 0) {
			res->gave_up = 1;
			break;
		}
		rc = shmt_acquire(t, &tk, left);
		/* the shared delay outlasts max_time */
		if (rc == SHMT_ETIMEDOUT && tk.attempt > 0) {
			res->gave_up = 1;
			rc = SHMT_OK;
			break;
		}
		if (rc != SHMT_OK ||
		    (rc = attempt(t, easy, opts, &tk, res, &out)) != SHMT_OK)
			break;
		/* The throttle says whether to retry; the count is the
		 * caller's. */
		if (out.verdict == SHMT_DONE)
			break;
		if ((int)tk.attempt > max_retries) {
			res->gave_up = 1;
			break;
		}
		res->retries++;
		/* a transport error: this request's own backoff */
		if (res->status == 0)
			shmt_sleep(left >= 0 && out.delay > left ? left
			                                         : out.delay);
		if (opts->before_retry)
			opts->before_retry(opts->arg);
	}
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	if (res->curl_code != CURLE_OK)
		snprintf(res->error, sizeof(res->error), "%s",
		         errbuf[0]
		             ? errbuf
		             : curl_easy_strerror((CURLcode)res->curl_code));
	res->time_total = shmt_ns_to_sec(shmt_mono_ns() - start);
	return rc;
}
