/* redisutil.h - a redis-server of the test's own (scripts/test-redis):
 * started from a temporary folder, bound to the test's process (it stops
 * when the test ends, however it ends). */
#ifndef SHMT_REDISUTIL_H
#define SHMT_REDISUTIL_H

#include <stddef.h>

struct test_redis {
	char dir[256];
	/* the backend URL to open throttles with */
	char url[512];
};

/* Start one; `opts` ("--tcp", "--relay 1-5", redis options) may be "".
 * Fails the test if it cannot. */
void test_redis_start(struct test_redis *r, const char *opts);
void test_redis_stop(struct test_redis *r);
/* Stop and start again on the same socket and port (its data is lost). */
void test_redis_restart(struct test_redis *r);
/* redis-cli against it; the output in buf (may be NULL); exit status. */
int test_redis_cli(struct test_redis *r, char *buf, size_t len, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
/* The server's pid, for signals. */
int test_redis_pid(const struct test_redis *r);

#endif
