/* backend.c - backend URLs, and the calls that take one. */
#include "backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

static _Thread_local char message[512];

void
shmt_backend_set_message(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
}

const char *
shmt_backend_message(void)
{
	return message;
}

/* A decimal in [lo, hi] filling all of s. */
static int
number(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int
bad(const char *why)
{
	shmt_backend_set_message("%s", why);
	return SHMT_EURL;
}

/* "?db=N&timeout=S": each parameter once at most; db only if allowed. */
static int
query(char *q, struct shmt_backend_url *u, int db_allowed)
{
	char *save = NULL;

	for (char *p = strtok_r(q, "&", &save); p;
	     p = strtok_r(NULL, "&", &save)) {
		double v;

		if (db_allowed && !strncmp(p, "db=", 3) &&
		    !number(p + 3, 0, 1e6, &v) && v == (int)v)
			u->db = (int)v;
		else if (db_allowed && !strncmp(p, "user=", 5) && p[5] &&
		         strlen(p + 5) < sizeof(u->user))
			strcpy(u->user, p + 5);
		else if (!strncmp(p, "timeout=", 8) &&
		         !number(p + 8, 0.001, 3600, &v))
			u->timeout = v;
		else
			return bad("unknown or bad URL parameter (db=N and "
			           "user=NAME on redis+unix://, timeout=S)");
	}
	return SHMT_OK;
}

/* [user@]host[:port] */
static int
authority(char *s, struct shmt_backend_url *u)
{
	char *at = strrchr(s, '@'), *host = s, *colon;
	double port;

	if (at) {
		*at = '\0';
		if (strchr(s, ':'))
			return bad("no password in the URL: put it in "
			           "THROTTLE_REDIS_PASSWORD or a file named by "
			           "THROTTLE_REDIS_PASSWORD_FILE");
		if (!*s || strlen(s) >= sizeof(u->user))
			return bad("bad user name in the URL");
		strcpy(u->user, s);
		host = at + 1;
	}
	if (*host == '[') {
		char *close = strchr(host, ']');

		if (!close)
			return bad("unclosed [ in the URL's host");
		*close = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return bad("bad host in the URL");
		host++;
	} else {
		colon = strchr(host, ':');
	}
	if (colon) {
		*colon = '\0';
		if (number(colon + 1, 1, 65535, &port) || port != (int)port)
			return bad("bad port in the URL (1-65535)");
		u->port = (int)port;
	}
	if (!*host || strlen(host) >= sizeof(u->host))
		return bad("no host in the URL");
	strcpy(u->host, host);
	return SHMT_OK;
}

static int
parse_redis(char *s, struct shmt_backend_url *u)
{
	char *q = strchr(s, '?'), *slash;
	double db;
	int rc;

	if (q)
		*q++ = '\0';
	if ((slash = strchr(s, '/'))) {
		*slash = '\0';
		if (slash[1] &&
		    (number(slash + 1, 0, 1e6, &db) || db != (int)db))
			return bad("bad database number in the URL");
		u->db = slash[1] ? (int)db : 0;
	}
	if ((rc = authority(s, u)) != SHMT_OK)
		return rc;
	return q ? query(q, u, 0) : SHMT_OK;
}

static int
parse_unix(char *s, struct shmt_backend_url *u)
{
	char *q = strchr(s, '?');

	if (q)
		*q++ = '\0';
	if (*s != '/')
		return bad("redis+unix:// needs an absolute socket path "
		           "(redis+unix:///run/redis.sock)");
	if (strlen(s) >= sizeof(u->path))
		return bad("socket path too long");
	strcpy(u->path, s);
	return q ? query(q, u, 1) : SHMT_OK;
}

int
shmt_backend_parse(const char *url, struct shmt_backend_url *u)
{
	char buf[1024];

	*u = (struct shmt_backend_url){ .kind = SHMT_BACKEND_SHM,
		                        .port = 6379,
		                        .timeout = SHMT_REDIS_TIMEOUT };
	if (!url || !*url || !strcmp(url, "shm:") || !strcmp(url, "shm://"))
		return SHMT_OK;
	if (strlen(url) >= sizeof(buf))
		return bad("URL too long");
	if (!strncmp(url, "rediss://", 9)) {
		shmt_backend_set_message(
		    "rediss:// needs TLS, which this build's hiredis lacks");
		return SHMT_ENOTSUP;
	}
	u->kind = SHMT_BACKEND_REDIS;
	if (!strncmp(url, "redis://", 8))
		return parse_redis(strcpy(buf, url + 8), u);
	if (!strncmp(url, "redis+unix://", 13))
		return parse_unix(strcpy(buf, url + 13), u);
	return bad("unknown backend (shm:, redis://HOST[:PORT][/DB] or "
	           "redis+unix:///PATH[?db=N])");
}

int
shmt_remove_backend(const char *backend, const char *name)
{
	struct shmt_backend_url u;
	int rc = shmt_backend_parse(backend, &u);

	if (rc != SHMT_OK)
		return rc;
	if (u.kind == SHMT_BACKEND_SHM)
		return shmt_remove(name);
	if ((rc = shmt_name_check(name)) != SHMT_OK)
		return rc;
	return shmt_redis_remove(&u, name);
}

int
shmt_list_backend(const char *backend, int (*fn)(const char *, void *),
                  void *arg)
{
	struct shmt_backend_url u;
	int rc = shmt_backend_parse(backend, &u);

	if (rc != SHMT_OK)
		return rc;
	if (u.kind == SHMT_BACKEND_SHM)
		return shmt_list(fn, arg);
	if (!fn)
		return SHMT_EINVAL;
	return shmt_redis_list(&u, fn, arg);
}
