/* config.h - checking a configuration and storing it in the segment. */
#ifndef SHMT_CONFIG_H
#define SHMT_CONFIG_H

#include "state.h"

/* The longest backoff, Retry-After cap and place lease a configuration
 * may set (seconds). */
#define SHMT_WEEK_S (7.0 * 86400)

/* Reservations the default log has room for beyond a full window, at
 * least: the least room the old default, max(4096, 2 x max), ever left. */
#define SHMT_CAPACITY_ROOM 2048u
/* The log capacity a new throttle of this configuration gets: the largest
 * max, and room for max(SHMT_CAPACITY_ROOM, max / 4) reservations; at
 * least 4096. */
uint32_t shmt_config_capacity(const shmt_config *cfg);
void shmt_scfg_from(struct shmt_scfg *s, const shmt_config *cfg);
void shmt_scfg_to(shmt_config *cfg, const struct shmt_scfg *s, uint32_t cap);
/* SHMT_OK if a stored configuration is in range (read from a segment). */
int shmt_scfg_check(const struct shmt_scfg *s, uint32_t cap);
/* The spacing rules that enforce the policy, each with the margin in force
 * (timing.h); returns how many. */
unsigned shmt_spacings(const struct shmt_scfg *s, const struct shmt_timing *tm,
                       struct shmt_spacing sp[SHMT_MAX_RATES]);
/* The longest period of the rates and unit limits, 0 if none is known. */
int64_t shmt_longest_period(const struct shmt_scfg *s);

#endif
