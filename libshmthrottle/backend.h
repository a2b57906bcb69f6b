/*
 * backend.h - where a throttle lives: the backend URL ("shm:" or none:
 * this host's shared memory; "redis://..." or "redis+unix://...": a Redis
 * server), parsed once, and the message of the last backend failure.
 */
#ifndef SHMT_BACKEND_H
#define SHMT_BACKEND_H

#include "shmthrottle.h"

enum shmt_backend_kind { SHMT_BACKEND_SHM, SHMT_BACKEND_REDIS };

/* Connect and command time-out when the URL gives none, seconds. */
#define SHMT_REDIS_TIMEOUT 2.0

struct shmt_backend_url {
	int kind;
	/* redis: a TCP host (IPv6 without brackets) and port, or a socket */
	char host[256];
	int port;
	char path[256];
	int db;
	/* ACL user, "" for none */
	char user[128];
	/* connect and command time-out, seconds */
	double timeout;
};

/* Parse url (NULL, "" and "shm:" mean shared memory) into *u; SHMT_EURL if
 * it is malformed, SHMT_ENOTSUP for rediss:// (no TLS in this build). */
int shmt_backend_parse(const char *url, struct shmt_backend_url *u);

/* Keep the message of the backend failure at hand, for
 * shmt_backend_message() (this thread's; "" clears it). */
void shmt_backend_set_message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
