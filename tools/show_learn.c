/* show_learn.c - the learned rates in throttlectl status. */
#include "show_learn.h"

#include "cli.h"

void
show_learned(FILE *f, const shmt_stat *st)
{
	if (st->learned_max > 0)
		fprintf(
		    f,
		    "  Announced:       %u per %g s (learned from %s, %s%s)\n",
		    st->learned_max, st->learned_period, st->learned_header,
		    shmt_quota_dialect_name(st->learned_dialect),
		    st->learned_period_announced
		        ? ""
		        : "; window estimated from the resets");
	if (st->quota_remaining >= 0)
		fprintf(f, "  Quota left:      %lld, reset in %.3f s\n",
		        (long long)st->quota_remaining, st->quota_reset);
	if (st->learned_rate > 0 && st->learned_burst > 1)
		fprintf(
		    f,
		    "  Learned rate:    %u per %.3g s, %.2f requests/s (from "
		    "refusals and successes)\n",
		    st->learned_burst, st->learned_burst / st->learned_rate,
		    st->learned_rate);
	else if (st->learned_rate > 0)
		fprintf(f,
		        "  Learned rate:    %.2f requests/s (from refusals and "
		        "successes)\n",
		        st->learned_rate);
	if (st->probing)
		fputs("  Probe:           no answer yet: one request first\n",
		      f);
}

void
show_learned_json(FILE *f, const shmt_stat *st)
{
	fputs("\"learned\":{\"rates\":[", f);
	if (st->learned_max > 0) {
		fprintf(f, "{\"max\":%u,\"period\":%.9g,", st->learned_max,
		        st->learned_period);
		fprintf(f, "\"period_announced\":%s,\"dialect\":\"%s\",",
		        st->learned_period_announced ? "true" : "false",
		        shmt_quota_dialect_name(st->learned_dialect));
		fputs("\"header\":", f);
		cli_json_string(f, st->learned_header);
		fputc('}', f);
	}
	fprintf(f, "],\"rate\":%.9g,\"burst\":%u,\"quota_remaining\":",
	        st->learned_rate, st->learned_burst);
	if (st->quota_remaining >= 0)
		fprintf(f, "%lld,\"quota_reset\":%.9g,",
		        (long long)st->quota_remaining, st->quota_reset);
	else
		fputs("null,\"quota_reset\":null,", f);
	fprintf(f, "\"probing\":%s},", st->probing ? "true" : "false");
}
