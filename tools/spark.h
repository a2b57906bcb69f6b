/* spark.h - throttlectl watch's picture: the rate of the last minute, a
 * bar per second, against the limits in force. */
#ifndef SHMT_SPARK_H
#define SHMT_SPARK_H

#include <stdio.h>

#include "shmthrottle.h"

/* Sends per second of the last SPARK_SECONDS seconds from log entries
 * (wall times), the newest second last, as of `now` (epoch seconds). */
#define SPARK_SECONDS 60
void spark_count(const shmt_log_entry *e, size_t n, double now,
                 unsigned counts[SPARK_SECONDS]);
/* One line of bars (UTF-8 blocks), scaled to `top` per second. */
void spark_line(FILE *f, const unsigned counts[SPARK_SECONDS], double top);
/* Read t's log and print the picture and the limits in force. */
void spark_show(FILE *f, shmt_throttle *t, const shmt_stat *st);

#endif
