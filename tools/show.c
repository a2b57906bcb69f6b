/* show.c - how throttlectl prints a throttle. */
#include "show.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "show_learn.h"

int
show_names_add(struct show_names *n, const char *name)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 16;
		char **v = realloc(n->v, cap * sizeof(*v));

		if (!v)
			return -1;
		n->v = v;
		n->cap = cap;
	}
	if (!(n->v[n->n] = strdup(name)))
		return -1;
	n->n++;
	return 0;
}

void
show_names_free(struct show_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
}

static const char *
policy_name(int policy)
{
	return policy == SHMT_POLICY_SMOOTH ? "smooth" : "window";
}

static void
rates_text(const shmt_stat *st, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < st->config.nrates && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u/%gs",
		                         i ? "," : "", st->config.rates[i].max,
		                         st->config.rates[i].period);
	if (st->config.nrates == 0)
		snprintf(buf, len, "unknown");
}

/* Unit limits and places in flight (issue 14). */
static void
show_costs(FILE *f, const shmt_stat *st, const struct show_places *pl)
{
	const shmt_config *c = &st->config;

	for (unsigned i = 0; i < c->nunits && i < SHMT_MAX_UNITS; i++) {
		uint64_t used = st->window_units[i], max = c->units[i].max;

		fprintf(
		    f,
		    "  Units %u:         %llu per %g s: %llu used in the last "
		    "%g s, %llu left\n",
		    i + 1, (unsigned long long)max, c->units[i].period,
		    (unsigned long long)used, c->units[i].period,
		    (unsigned long long)(used < max ? max - used : 0));
	}
	if (c->concurrency && c->hold_max > 0)
		fprintf(f,
		        "  In flight:       %u of %u places, each held at most "
		        "%g s\n",
		        st->inflight, c->concurrency, c->hold_max);
	else if (c->concurrency)
		fprintf(f, "  In flight:       %u of %u places\n", st->inflight,
		        c->concurrency);
	else if (st->inflight)
		fprintf(f, "  In flight:       %u (no cap)\n", st->inflight);
	for (size_t i = 0; i < pl->n; i++)
		fprintf(f,
		        "    pid %-8ld request %llu, cost %llu, for %.3f s\n",
		        pl->v[i].pid, (unsigned long long)pl->v[i].seq,
		        (unsigned long long)pl->v[i].cost, pl->v[i].held);
}

void
show_status(FILE *f, const char *name, const shmt_stat *st,
            const struct show_places *pl)
{
	const shmt_config *c = &st->config;
	char when[64];

	fprintf(f, "Throttle: %s\n", name);
	fprintf(f, "  Policy:          %s", policy_name(c->policy));
	if (c->policy == SHMT_POLICY_SMOOTH)
		fprintf(f, ", burst %u", c->burst);
	fputc('\n', f);
	if (c->margin_fixed)
		fprintf(f, "  Margin:          %.4f s (fixed)\n", c->margin);
	else
		fprintf(f,
		        "  Margin:          %.4f s in force (adaptive, floor "
		        "%g s)\n",
		        st->margin, c->margin);
	if (st->samples)
		fprintf(f,
		        "  Measured:        %llu requests: late up to %.1f ms, "
		        "round trips %.1f-%.1f ms\n",
		        (unsigned long long)st->samples, st->lateness * 1e3,
		        st->rtt_low * 1e3, st->rtt_high * 1e3);
	else
		fputs("  Measured:        nothing yet (throttle-curl measures; "
		      "record --sent-at --rtt)\n",
		      f);
	if (c->nrates == 0)
		fputs("  Rate:            none configured (quota headers and "
		      "429s pace requests)\n",
		      f);
	for (unsigned i = 0; i < c->nrates; i++) {
		uint32_t sent = st->window_sends[i], max = c->rates[i].max;

		fprintf(f,
		        "  Rate %u:          %u per %g s: %u sent in the last "
		        "%g s, %u left\n",
		        i + 1, max, c->rates[i].period, sent,
		        c->rates[i].period, sent < max ? max - sent : 0);
	}
	show_learned(f, st);
	show_costs(f, st, pl);
	if (st->next_slot > 0)
		fprintf(f, "  Next free slot:  in %.3f s\n", st->next_slot);
	else
		fprintf(f, "  Next free slot:  now\n");
	fprintf(f, "  Backoff:         %.3f s (initial %g s, x%g, max %g s)\n",
	        st->backoff, c->backoff_initial, c->backoff_multiplier,
	        c->backoff_max);
	if (st->delay_remaining > 0)
		fprintf(f, "  Shared delay:    %.3f s remaining\n",
		        st->delay_remaining);
	else
		fprintf(f, "  Shared delay:    none\n");
	fprintf(f, "  Waiting:         %u process%s\n", st->waiting,
	        st->waiting == 1 ? "" : "es");
	fprintf(f, "  Requests:        %llu\n",
	        (unsigned long long)st->requests);
	if (st->last_429 > 0) {
		cli_format_wall(st->last_429, when, sizeof(when));
		fprintf(f, "  429 responses:   %llu (last %s)\n",
		        (unsigned long long)st->n429, when);
	} else {
		fprintf(f, "  429 responses:   0\n");
	}
	fprintf(f, "  Retries:         %llu (at most %u per request)\n",
	        (unsigned long long)st->retries, c->max_retries);
	fprintf(f, "  Time waited:     %.3f s\n", st->waited);
	fprintf(f, "  Log:             %u of %u entries\n", st->log_count,
	        st->capacity);
	if (st->repairs)
		fprintf(f,
		        "  Repairs:         %llu (a process died holding the "
		        "lock)\n",
		        (unsigned long long)st->repairs);
}

static void
costs_json(FILE *f, const shmt_stat *st, const struct show_places *pl)
{
	const shmt_config *c = &st->config;

	fputs("\"units\":[", f);
	for (unsigned i = 0; i < c->nunits && i < SHMT_MAX_UNITS; i++) {
		uint64_t used = st->window_units[i], max = c->units[i].max;

		fprintf(f, "%s{\"max\":%llu,\"period\":%.9g,", i ? "," : "",
		        (unsigned long long)max, c->units[i].period);
		fprintf(f, "\"used\":%llu,\"left\":%llu}",
		        (unsigned long long)used,
		        (unsigned long long)(used < max ? max - used : 0));
	}
	fprintf(f, "],\"unit_burst\":%u,\"concurrency\":%u,", c->unit_burst,
	        c->concurrency);
	/* on Redis; 0 on shared memory, which times no place out */
	fprintf(f, "\"hold_max\":%.9g,", c->hold_max);
	fprintf(f, "\"inflight\":%u,\"places\":[", st->inflight);
	for (size_t i = 0; i < pl->n; i++)
		fprintf(f,
		        "%s{\"pid\":%ld,\"seq\":%llu,\"cost\":%llu,"
		        "\"held\":%.6f}",
		        i ? "," : "", pl->v[i].pid,
		        (unsigned long long)pl->v[i].seq,
		        (unsigned long long)pl->v[i].cost, pl->v[i].held);
	fputs("],", f);
}

void
show_status_json(FILE *f, const char *name, const shmt_stat *st,
                 const struct show_places *pl)
{
	const shmt_config *c = &st->config;

	fputs("{\"name\":", f);
	cli_json_string(f, name);
	fprintf(f, ",\"policy\":\"%s\",\"rates\":[", policy_name(c->policy));
	for (unsigned i = 0; i < c->nrates; i++) {
		uint32_t sent = st->window_sends[i], max = c->rates[i].max;

		fprintf(f, "%s{\"max\":%u,\"period\":%.9g,", i ? "," : "", max,
		        c->rates[i].period);
		fprintf(f, "\"sent\":%u,\"left\":%u}", sent,
		        sent < max ? max - sent : 0);
	}
	fprintf(f, "],\"burst\":%u,\"margin\":%.9g,", c->burst, c->margin);
	costs_json(f, st, pl);
	fprintf(f, "\"margin_fixed\":%s,\"margin_in_force\":%.9g,",
	        c->margin_fixed ? "true" : "false", st->margin);
	fprintf(f, "\"samples\":%llu,\"lateness\":%.9g,",
	        (unsigned long long)st->samples, st->lateness);
	fprintf(f, "\"rtt_low\":%.9g,\"rtt_high\":%.9g,", st->rtt_low,
	        st->rtt_high);
	fprintf(f, "\"backoff_initial\":%.9g,\"backoff_multiplier\":%.9g,",
	        c->backoff_initial, c->backoff_multiplier);
	fprintf(f, "\"backoff_max\":%.9g,\"retry_after_max\":%.9g,",
	        c->backoff_max, c->retry_after_max);
	fprintf(f, "\"max_retries\":%u,\"capacity\":%u,\"log_count\":%u,",
	        c->max_retries, st->capacity, st->log_count);
	fprintf(f, "\"next_slot\":%.9g,\"backoff\":%.9g,", st->next_slot,
	        st->backoff);
	fprintf(f, "\"delay_remaining\":%.9g,\"waiting\":%u,",
	        st->delay_remaining, st->waiting);
	fprintf(f, "\"requests\":%llu,\"n429\":%llu,\"retries\":%llu,",
	        (unsigned long long)st->requests, (unsigned long long)st->n429,
	        (unsigned long long)st->retries);
	show_learned_json(f, st);
	fprintf(f, "\"waited\":%.9g,\"repairs\":%llu,\"last_429\":", st->waited,
	        (unsigned long long)st->repairs);
	if (st->last_429 > 0)
		fprintf(f, "%.3f}\n", st->last_429);
	else
		fputs("null}\n", f);
}

static void
list_entry_json(FILE *f, const shmt_stat *st)
{
	fprintf(f, ",\"policy\":\"%s\",\"waiting\":%u,",
	        policy_name(st->config.policy), st->waiting);
	fprintf(f, "\"requests\":%llu,\"n429\":%llu,",
	        (unsigned long long)st->requests, (unsigned long long)st->n429);
	fprintf(f, "\"delay_remaining\":%.9g}", st->delay_remaining);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
show_list(FILE *f, struct show_names *names, unsigned open_flags, int json)
{
	qsort(names->v, names->n, sizeof(*names->v), by_name);
	if (json)
		fputc('[', f);
	else if (names->n)
		fprintf(f, "%-24s %-16s %-7s %8s %10s %8s %s\n", "NAME",
		        "RATES", "POLICY", "WAITING", "REQUESTS", "429S",
		        "DELAY");
	for (size_t i = 0; i < names->n; i++) {
		shmt_throttle *t = NULL;
		shmt_stat st;
		char rates[64];
		/* a throttle whose lock is stuck is said busy, not waited for
		 */
		int rc = shmt_open_backend(&t, cli_backend, names->v[i], NULL,
		                           open_flags | SHMT_TRYLOCK);

		if (rc == SHMT_OK)
			rc = shmt_stat_get(t, &st);
		shmt_close(t);
		if (json) {
			fputs(i ? ",{\"name\":" : "{\"name\":", f);
			cli_json_string(f, names->v[i]);
			if (rc == SHMT_EBUSY)
				fputs(",\"busy\":true}", f);
			else if (rc != SHMT_OK)
				fprintf(f, ",\"error\":\"%s\"}",
				        shmt_strerror(rc));
			else
				list_entry_json(f, &st);
			continue;
		}
		if (rc == SHMT_EBUSY) {
			fprintf(f, "%-24s (busy: its lock is held)\n",
			        names->v[i]);
			continue;
		}
		if (rc != SHMT_OK) {
			fprintf(f, "%-24s (%s)\n", names->v[i],
			        shmt_strerror(rc));
			continue;
		}
		rates_text(&st, rates, sizeof(rates));
		fprintf(f, "%-24s %-16s %-7s %8u %10llu %8llu %.3f s\n",
		        names->v[i], rates, policy_name(st.config.policy),
		        st.waiting, (unsigned long long)st.requests,
		        (unsigned long long)st.n429, st.delay_remaining);
	}
	if (json)
		fputs("]\n", f);
}

void
show_log(FILE *f, const shmt_log_entry *e, size_t n, int json)
{
	char when[64];

	if (json)
		fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (json) {
			fprintf(f,
			        "%s{\"seq\":%llu,\"time\":%.6f,\"status\":%d,"
			        "\"url\":",
			        i ? "," : "", (unsigned long long)e[i].seq,
			        e[i].wall, e[i].status);
			cli_json_string(f, e[i].url);
			fputc('}', f);
			continue;
		}
		cli_format_wall(e[i].wall, when, sizeof(when));
		if (e[i].status)
			fprintf(f, "%s  %3d  ", when, e[i].status);
		else
			fprintf(f, "%s    -  ", when);
		/* a URL comes from anyone who records: never raw to a
		 * terminal */
		if (e[i].url[0] || e[i].status)
			cli_text_string(f, e[i].url);
		else
			fputs("(no response recorded)", f);
		fputc('\n', f);
	}
	if (json)
		fputs("]\n", f);
}
