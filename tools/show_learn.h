/* show_learn.h - what throttlectl status says of the learned rates: the
 * limit a server announced (and from which header), the quota left, the
 * pace learned from refusals. */
#ifndef SHMT_SHOW_LEARN_H
#define SHMT_SHOW_LEARN_H

#include <stdio.h>

#include "shmthrottle.h"

void show_learned(FILE *f, const shmt_stat *st);
/* "\"learned\":{...}," for status --json */
void show_learned_json(FILE *f, const shmt_stat *st);

#endif
