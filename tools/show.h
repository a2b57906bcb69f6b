/* show.h - throttlectl's output: aligned text with units, or JSON with
 * the stable keys documented in throttlectl(1). */
#ifndef SHMT_SHOW_H
#define SHMT_SHOW_H

#include <stdio.h>

#include "shmthrottle.h"

struct show_names {
	char **v;
	size_t n, cap;
	/* set when an add ran out of memory */
	int failed;
};

int show_names_add(struct show_names *n, const char *name);
void show_names_free(struct show_names *n);

/* The places in flight and their holders (shmt_places_read()). */
struct show_places {
	shmt_place v[SHMT_MAX_PLACES];
	size_t n;
};

void show_status(FILE *f, const char *name, const shmt_stat *st,
                 const struct show_places *pl);
void show_status_json(FILE *f, const char *name, const shmt_stat *st,
                      const struct show_places *pl);
void show_list(FILE *f, struct show_names *names, unsigned open_flags,
               int json);
void show_log(FILE *f, const shmt_log_entry *e, size_t n, int json);

#endif
