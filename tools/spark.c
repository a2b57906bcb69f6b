/* spark.c - the last minute's rate, as bars, against the limits. */
#include "spark.h"

#include <math.h>
#include <stdlib.h>

#include "clock.h"

void
spark_count(const shmt_log_entry *e, size_t n, double now,
            unsigned counts[SPARK_SECONDS])
{
	for (int i = 0; i < SPARK_SECONDS; i++)
		counts[i] = 0;
	for (size_t i = 0; i < n; i++) {
		double ago = now - e[i].wall;

		if (ago >= 0 && ago < SPARK_SECONDS)
			counts[SPARK_SECONDS - 1 - (int)ago]++;
	}
}

void
spark_line(FILE *f, const unsigned counts[SPARK_SECONDS], double top)
{
	static const char *const bars[] = { " ",
		                            "\xe2\x96\x81",
		                            "\xe2\x96\x82",
		                            "\xe2\x96\x83",
		                            "\xe2\x96\x84",
		                            "\xe2\x96\x85",
		                            "\xe2\x96\x86",
		                            "\xe2\x96\x87",
		                            "\xe2\x96\x88" };

	for (int i = 0; i < SPARK_SECONDS; i++) {
		double v = top > 0 ? counts[i] / top : 0;
		int k = counts[i] == 0 ? 0 : 1 + (int)(v * 7 + 0.5);

		fputs(bars[k > 8 ? 8 : k], f);
	}
}

/* The strictest rate of the configured ones, per second; 0 if none. */
static double
configured(const shmt_config *c)
{
	double best = 0;

	for (unsigned i = 0; i < c->nrates && i < SHMT_MAX_RATES; i++) {
		double r = c->rates[i].max / c->rates[i].period;

		if (best == 0 || r < best)
			best = r;
	}
	return best;
}

void
spark_show(FILE *f, shmt_throttle *t, const shmt_stat *st)
{
	unsigned counts[SPARK_SECONDS], peak = 0;
	double conf = configured(&st->config), ann = 0, top;
	size_t got = 0, cap = st->capacity ? st->capacity : 4096;
	shmt_log_entry *e = calloc(cap, sizeof(*e));

	if (!e || shmt_log_read(t, e, cap, &got) != SHMT_OK)
		got = 0;
	spark_count(e, got, shmt_ns_to_sec(shmt_wall_ns()), counts);
	free(e);
	for (int i = 0; i < SPARK_SECONDS; i++)
		peak = counts[i] > peak ? counts[i] : peak;
	if (st->learned_max && st->learned_period > 0)
		ann = st->learned_max / st->learned_period;
	top = fmax(fmax(conf, ann), fmax(st->learned_rate, (double)peak));
	fputs("  Last minute:     |", f);
	spark_line(f, counts, top);
	fprintf(f, "| %u/s now, peak %u/s (top: %.1f/s)\n",
	        counts[SPARK_SECONDS - 1], peak, top);
	fputs("  Limits in force:", f);
	if (conf > 0)
		fprintf(f, " configured %.1f/s", conf);
	if (ann > 0)
		fprintf(f, "%s announced %.1f/s (%s)", conf > 0 ? "," : "", ann,
		        st->learned_header);
	if (st->learned_rate > 0 && st->learned_burst > 1)
		fprintf(f, "%s learned %u per %.3g s",
		        conf > 0 || ann > 0 ? "," : "", st->learned_burst,
		        st->learned_burst / st->learned_rate);
	else if (st->learned_rate > 0)
		fprintf(f, "%s learned %.2f/s", conf > 0 || ann > 0 ? "," : "",
		        st->learned_rate);
	if (conf == 0 && ann == 0 && st->learned_rate == 0)
		fputs(" none known", f);
	fputc('\n', f);
}
