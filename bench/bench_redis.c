/*
 * bench_redis - what a request costs on the Redis backend: acquire +
 * record (two round trips, one FCALL each) and shmt_record_acquire (one
 * round trip) against a plain PING round trip measured in the same run
 * on the same socket, beside the shared-memory backend; no rate is set,
 * so no call waits.
 *   bench-redis SOURCE_DIR   (starts a redis-server of its own through
 *                             scripts/test-redis; env OPS, default 20000)
 */
#define _DEFAULT_SOURCE
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmthrottle.h"

static long ops = 20000;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per PING on one connection. */
static double
ping(const char *sock, const char *host, int port)
{
	redisContext *c =
	    sock ? redisConnectUnix(sock) : redisConnect(host, port);
	double start;

	if (!c || c->err)
		exit(3);
	start = now_s();
	for (long i = 0; i < ops; i++)
		freeReplyObject(redisCommand(c, "PING"));
	start = (now_s() - start) / (double)ops * 1e9;
	redisFree(c);
	return start;
}

/* ns per acquire + record (or record_acquire if `combined`), `procs`
 * processes each with its handle. */
static double
throttle(const char *backend, int procs, int combined)
{
	long each = ops / procs;
	double start = now_s();

	for (int p = 0; p < procs; p++)
		if (fork() == 0) {
			shmt_throttle *t;

			if (shmt_open_backend(&t, backend, "bench-redis", NULL,
			                      0) != SHMT_OK)
				_exit(3);
			shmt_ticket tk;
			shmt_outcome out;

			shmt_ticket_init(&tk);
			if (combined && shmt_acquire(t, &tk, -1) != SHMT_OK)
				_exit(4);
			for (long i = 0; i < each; i++) {
				if (combined) {
					if (shmt_record_acquire(t, &tk, 200, -1,
					                        "u", 0, &out,
					                        -1) != SHMT_OK)
						_exit(4);
					continue;
				}
				shmt_ticket_init(&tk);
				if (shmt_acquire(t, &tk, -1) != SHMT_OK ||
				    shmt_record(t, &tk, 200, -1, "u", 0,
				                &out) != SHMT_OK)
					_exit(4);
			}
			shmt_close(t);
			_exit(0);
		}
	while (wait(NULL) > 0)
		;
	return (now_s() - start) / (double)(each * procs) * 1e9;
}

static void
fresh(const char *backend)
{
	shmt_config c;
	shmt_throttle *t;

	shmt_config_init(&c);
	shmt_remove_backend(backend, "bench-redis");
	if (shmt_open_backend(&t, backend, "bench-redis", &c, SHMT_CREATE) !=
	    SHMT_OK)
		exit(3);
	shmt_close(t);
}

static void
row(const char *label, const char *backend, const char *sock, const char *host,
    int port)
{
	for (int procs = 1; procs <= 4; procs *= 4) {
		double p, t, c;

		fresh(backend);
		p = ping(sock, host, port);
		t = throttle(backend, procs, 0);
		c = throttle(backend, procs, 1);
		printf("| %s | %d | %.1f us | %.1f us | %.2fx | %.1f us | "
		       "%.2fx |\n",
		       label, procs, p / 1e3, t / 1e3, t / p, c / 1e3, c / p);
	}
}

/* The server's own time per command (INFO commandstats), all rows. */
static void
server_time(const char *sock)
{
	redisContext *c = redisConnectUnix(sock);
	redisReply *rep;

	if (!c || c->err)
		exit(3);
	rep = redisCommand(c, "INFO commandstats");
	printf("\nserver time per command (INFO commandstats):");
	for (const char *l = rep && rep->type == REDIS_REPLY_STRING ? rep->str
	                                                            : "";
	     (l = strstr(l, "cmdstat_")) != NULL; l++) {
		char name[32];
		double us;

		if (sscanf(l, "cmdstat_%31[^:]:%*[^,],%*[^,],usec_per_call=%lf",
		           name, &us) == 2 &&
		    (!strcmp(name, "fcall") || !strcmp(name, "evalsha") ||
		     !strcmp(name, "ping")))
			printf(" %s %.1f us", name, us);
	}
	printf("\n");
	freeReplyObject(rep);
	redisFree(c);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/shmt-bench-redis-XXXXXX", cmd[2048], url[512];
	char sock[600], unix_url[700];
	FILE *f;
	int port;
	double shm;

	if (argc != 2 || !mkdtemp(dir))
		return 2;
	if (getenv("OPS"))
		ops = atol(getenv("OPS"));
	snprintf(cmd, sizeof(cmd),
	         "TEST_SERVER_OWNER=%ld %s/scripts/test-redis start %s --tcp",
	         (long)getpid(), argv[1], dir);
	if (!(f = popen(cmd, "r")) || !fgets(url, sizeof(url), f))
		return 3;
	pclose(f);
	url[strcspn(url, "\n")] = '\0';
	port = atoi(strrchr(url, ':') + 1);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(unix_url, sizeof(unix_url), "redis+unix://%s", sock);
	printf("## Redis backend: acquire + record, and record_acquire, per "
	       "request, against a PING round trip\n\n");
	printf("%ld requests, no rate set (no waits); one redis-server 7 on "
	       "this host.\n\n",
	       ops);
	printf("| socket | processes | PING round trip | acquire + record | "
	       "ratio | record_acquire | ratio |\n"
	       "|---|---|---|---|---|---|---|\n");
	row("unix", unix_url, sock, NULL, 0);
	row("tcp loopback", url, NULL, "127.0.0.1", port);
	server_time(sock);
	fresh("shm:");
	shm = throttle("shm:", 1, 0);
	printf("\nshared memory, 1 process: %.2f us per acquire + record\n",
	       shm / 1e3);
	shmt_remove_backend("shm:", "bench-redis");
	snprintf(cmd, sizeof(cmd), "%s/scripts/test-redis stop %s; rm -rf %s",
	         argv[1], dir, dir);
	return system(cmd) == 0 ? 0 : 1;
}
