/*
 * redis.h - a throttle kept on a Redis server: the same calls as the
 * shared-memory handle, each one server-side script (redis_lua.h) run
 * with the server's clock.  Hidden symbols: throttle.c dispatches here.
 */
#ifndef SHMT_REDIS_H
#define SHMT_REDIS_H

#include <stdint.h>

#include "backend.h"

struct shmt_redis;

int shmt_redis_open(struct shmt_redis **rp, const struct shmt_backend_url *u,
                    const char *name, const shmt_config *cfg, unsigned flags,
                    int64_t (*mono)(void));
void shmt_redis_close(struct shmt_redis *r);
void shmt_redis_set_clock(struct shmt_redis *r, int64_t (*mono)(void));
/* A send of `cost` units against the unit limits (SHMT_ECOST: above one
 * of them), and with a cap a place for `owner` (lock.h's record; 0: take
 * none). */
int shmt_redis_acquire(struct shmt_redis *r, shmt_ticket *tk, uint32_t cost,
                       uint64_t owner, double timeout);
/* The place of tk's request goes back (shmt_release). */
int shmt_redis_release(struct shmt_redis *r, const shmt_ticket *tk);
int shmt_redis_places_read(struct shmt_redis *r, shmt_place *buf, size_t n,
                           size_t *got);
/* The actual cost of tk's request: a refund or a charge (shmt_cost_set). */
int shmt_redis_cost_set(struct shmt_redis *r, const shmt_ticket *tk,
                        uint32_t cost);
/* q: the quota headers (NULL: none), applied by the script. */
int shmt_redis_record(struct shmt_redis *r, const shmt_ticket *tk, int status,
                      double retry_after, const shmt_quota *q, const char *url,
                      unsigned flags, shmt_outcome *out);
/* Record, then acquire the next slot, in one run (one round trip). */
int shmt_redis_record_acquire(struct shmt_redis *r, shmt_ticket *tk, int status,
                              double retry_after, const char *url,
                              unsigned flags, shmt_outcome *out, uint64_t owner,
                              double timeout);
int shmt_redis_reset(struct shmt_redis *r, unsigned what);
int shmt_redis_config_get(struct shmt_redis *r, shmt_config *cfg);
int shmt_redis_config_set(struct shmt_redis *r, const shmt_config *cfg);
/* next_slot is that of a send of `cost` units. */
int shmt_redis_stat(struct shmt_redis *r, uint32_t cost, shmt_stat *st);
int shmt_redis_log_read(struct shmt_redis *r, shmt_log_entry *buf, size_t n,
                        size_t *got);
int shmt_redis_remove(const struct shmt_backend_url *u, const char *name);
int shmt_redis_list(const struct shmt_backend_url *u,
                    int (*fn)(const char *, void *), void *arg);

/* A place owner's host into buf: "BOOT.INO" from the boot id and the
 * link /proc/self/ns/pid ("pid:[INO]"), or "?" if either is not one, or
 * if /proc/self (`self`) does not name `pid` (a /proc of another PID
 * namespace). */
void shmt_redis_host(char *buf, size_t len, const char *boot, const char *ns,
                     const char *self, long pid);

/* A waiter confirms its slot at least this often (ns), so that a reset, a
 * reconfiguration or a removal reaches it; tests may shorten it. */
extern int64_t shmt_redis_slice;

#endif
