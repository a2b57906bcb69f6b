/* redisutil.c - a redis-server per test, through scripts/test-redis. */
#include "redisutil.h"

#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

void
test_redis_start(struct test_redis *r, const char *opts)
{
	char out[512];
	int st;

	/* short: a unix socket's path holds 107 bytes */
	snprintf(r->dir, sizeof(r->dir), "/tmp/shmt-redis-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	st = test_sh(out, sizeof(out),
	             "TEST_SERVER_OWNER=%ld TEST_SERVER_LIFETIME=300 "
	             "'%s/scripts/test-redis' start '%s' %s",
	             (long)getpid(), SOURCE_DIR, r->dir, opts);
	ck_assert_msg(st == 0, "test-redis start failed (%d): %s", st, out);
	out[strcspn(out, "\n")] = '\0';
	snprintf(r->url, sizeof(r->url), "%s", out);
}

void
test_redis_stop(struct test_redis *r)
{
	test_sh(NULL, 0, "'%s/scripts/test-redis' stop '%s'; rm -rf '%s'",
	        SOURCE_DIR, r->dir, r->dir);
}

void
test_redis_restart(struct test_redis *r)
{
	ck_assert_int_eq(test_sh(NULL, 0,
	                         "'%s/scripts/test-redis' restart '%s'",
	                         SOURCE_DIR, r->dir),
	                 0);
}

int
test_redis_cli(struct test_redis *r, char *buf, size_t len, const char *fmt,
               ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return test_sh(buf, len, "redis-cli -s '%s/sock' %s", r->dir, cmd);
}

int
test_redis_pid(const struct test_redis *r)
{
	char path[300];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/redis.pid", r->dir);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}
