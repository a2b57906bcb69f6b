/*
 * bench_redis - what a request costs on the Redis backend: acquire +
 * record (two round trips, one FCALL each) and shmt_record_acquire (one
 * round trip) against a plain PING round trip measured in the same run
 * on the same socket (each process alternates blocks of the three, so
 * that they see the same load), beside the shared-memory backend.  Two
 * throttles: one with no rate set, and one with a rate that never binds
 * here (RATE per second, default 100000: a realistic throttle, whose
 * spacing rule every acquire checks); both warmed past the probe and the
 * slow start first (WARM requests), so no call waits.
 *   bench-redis SOURCE_DIR   (starts a redis-server of its own through
 *                             scripts/test-redis; env OPS, default 20000)
 */
#define _DEFAULT_SOURCE
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmthrottle.h"

static long ops = 20000;

/* The throttles measured: no rate, and a rate that never binds. */
struct kind {
	char label[32];
	int rate;
};
static struct kind kinds[2] = { { "none", 0 }, { "", 1 } };
static long rate_max = 100000, warm = 1100;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What one process measured, seconds, over n of each. */
struct times {
	double ping, ar, ra;
	long n;
};

#define ROUNDS 20

static void
fail(const char *what, int rc)
{
	fprintf(stderr, "bench-redis: %s: %s %s\n", what, shmt_strerror(rc),
	        shmt_backend_message());
	_exit(4);
}

/* One process: ROUNDS times a block of PINGs on a connection of its own,
 * a block of acquire + record and one of record_acquire, so that the
 * three see the same load (the machine is shared). */
static void
measure(const char *backend, const char *sock, const char *host, int port,
        long each, struct times *tm)
{
	redisContext *c =
	    sock ? redisConnectUnix(sock) : redisConnect(host, port);
	long block = each / ROUNDS > 0 ? each / ROUNDS : 1;
	shmt_throttle *t;
	shmt_ticket tk, rk;
	shmt_outcome out;
	int rc;

	if (!c || c->err)
		_exit(3);
	if ((rc = shmt_open_backend(&t, backend, "bench-redis", NULL, 0)))
		fail("open", rc);
	shmt_ticket_init(&rk);
	if ((rc = shmt_acquire(t, &rk, -1)))
		fail("acquire", rc);
	*tm = (struct times){ .n = block * ROUNDS };
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_s(), t1, t2;

		for (long i = 0; i < block; i++)
			freeReplyObject(redisCommand(c, "PING"));
		t1 = now_s();
		for (long i = 0; i < block; i++) {
			shmt_ticket_init(&tk);
			if ((rc = shmt_acquire(t, &tk, -1)) ||
			    (rc = shmt_record(t, &tk, 200, -1, "u", 0, &out)))
				fail("acquire + record", rc);
		}
		t2 = now_s();
		for (long i = 0; i < block; i++)
			if ((rc = shmt_record_acquire(t, &rk, 200, -1, "u", 0,
			                              &out, -1)))
				fail("record_acquire", rc);
		tm->ping += t1 - t0;
		tm->ar += t2 - t1;
		tm->ra += now_s() - t2;
	}
	shmt_close(t);
	redisFree(c);
}

/* `procs` processes measure at once; their times, summed, into *sum. */
static void
measure_all(const char *backend, const char *sock, const char *host, int port,
            int procs, struct times *sum)
{
	int fd[2];

	if (pipe(fd))
		exit(3);
	for (int p = 0; p < procs; p++)
		if (fork() == 0) {
			struct times tm;

			close(fd[0]);
			measure(backend, sock, host, port, ops / procs, &tm);
			_exit(write(fd[1], &tm, sizeof(tm)) == sizeof(tm) ? 0
			                                                  : 5);
		}
	close(fd[1]);
	*sum = (struct times){ 0 };
	for (struct times tm; read(fd[0], &tm, sizeof(tm)) == sizeof(tm);) {
		sum->ping += tm.ping;
		sum->ar += tm.ar;
		sum->ra += tm.ra;
		sum->n += tm.n;
	}
	close(fd[0]);
	while (wait(NULL) > 0)
		;
	if (sum->n == 0)
		exit(4);
}

/* ns per acquire + record on shared memory, one process. */
static double
shm_cost(void)
{
	shmt_throttle *t;
	double start;

	if (shmt_open_backend(&t, "shm:", "bench-redis", NULL, 0) != SHMT_OK)
		exit(3);
	start = now_s();
	for (long i = 0; i < ops; i++) {
		shmt_ticket tk;
		shmt_outcome out;

		shmt_ticket_init(&tk);
		if (shmt_acquire(t, &tk, -1) != SHMT_OK ||
		    shmt_record(t, &tk, 200, -1, "u", 0, &out) != SHMT_OK)
			exit(4);
	}
	shmt_close(t);
	return (now_s() - start) / (double)ops * 1e9;
}

/* A new throttle of kind k, warmed: with no rate the first request is a
 * probe whose answer the next waits for, and the slow start after it
 * holds sends to twice the answers heard, until SHMT_SLOW_START_MAX
 * (1024); `warm` requests in turn get it past both, as a throttle in use
 * would be, so that what follows measures requests, not waits. */
static void
fresh(const char *backend, const struct kind *k)
{
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	int rc;

	shmt_config_init(&c);
	if (k->rate) {
		c.nrates = 1;
		c.rates[0] =
		    (shmt_rate){ .max = (uint32_t)rate_max, .period = 1 };
	}
	shmt_remove_backend(backend, "bench-redis");
	if ((rc = shmt_open_backend(&t, backend, "bench-redis", &c,
	                            SHMT_CREATE)) != SHMT_OK)
		fail("create", rc);
	for (long i = 0; i < warm; i++) {
		shmt_ticket_init(&tk);
		if ((rc = shmt_acquire(t, &tk, -1)) ||
		    (rc = shmt_record(t, &tk, 200, -1, "u", 0, &out)))
			fail("warm-up", rc);
	}
	shmt_close(t);
}

static void
row(const char *label, const struct kind *k, const char *backend,
    const char *sock, const char *host, int port)
{
	for (int procs = 1; procs <= 4; procs *= 4) {
		struct times tm;
		double p, ar, ra;

		fresh(backend, k);
		measure_all(backend, sock, host, port, procs, &tm);
		p = tm.ping / (double)tm.n * 1e6;
		ar = tm.ar / (double)tm.n * 1e6;
		ra = tm.ra / (double)tm.n * 1e6;
		printf("| %s | %s | %d | %.1f us | %.1f us | %.2fx | %.1f us | "
		       "%.2fx |\n",
		       k->label, label, procs, p, ar, ar / p, ra, ra / p);
	}
}

/* A library of stubs: `empty` answers as acquire does and runs nothing;
 * `floor` runs only what no run can do without (the server's TIME, the
 * state and the entry read with one HMGET, one HSET) and answers the
 * same: the least a run of ours can cost, whatever its Lua. */
static const char stub_lib[] =
    "#!lua name=shmt_bench_stub\n"
    "redis.register_function('shmt_bench_empty', function(k, a)\n"
    "  return {0, 1, 1795674211843374, 1795674211843374, 1, -1}\n"
    "end)\n"
    "redis.register_function('shmt_bench_floor', function(k, a)\n"
    "  local t = redis.call('TIME')\n"
    "  local h = redis.call('HMGET', k[1], 'fmt', 'id', 'st', '1')\n"
    "  redis.call('HSET', k[1], '1', string.rep('x', 24), 'st',\n"
    "    string.rep('y', 496))\n"
    "  return {0, 1, 1795674211843374, 1795674211843374, 1, -1}\n"
    "end)\n";

/* Per pair of calls, against a PING, interleaved as in measure(): two
 * FCALLs of `empty`, and of `floor`, with the arguments of a record. */
static void
floor_line(const char *sock)
{
	redisContext *c = redisConnectUnix(sock);
	const char *v[] = { "FCALL",
		            "shmt_bench_empty",
		            "2",
		            "shmt:{bench-stub}",
		            "shmt:{bench-stub}:log",
		            "record",
		            "0123456789abcdef0123456789abcdef",
		            "12345",
		            "1795674211843374",
		            "-1",
		            "-1",
		            "200",
		            "-1",
		            "0",
		            "1",
		            "u",
		            "15" };
	const int n = (int)(sizeof(v) / sizeof(v[0]));
	long block = ops / ROUNDS > 0 ? ops / ROUNDS : 1;
	double p = 0, e = 0, f = 0;
	redisReply *rep;

	if (!c || c->err)
		exit(3);
	rep = redisCommand(c, "FUNCTION LOAD REPLACE %s", stub_lib);
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		exit(3);
	freeReplyObject(rep);
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_s(), t1, t2;

		for (long i = 0; i < block; i++)
			freeReplyObject(redisCommand(c, "PING"));
		t1 = now_s();
		v[1] = "shmt_bench_empty";
		for (long i = 0; i < 2 * block; i++)
			freeReplyObject(redisCommandArgv(c, n, v, NULL));
		t2 = now_s();
		v[1] = "shmt_bench_floor";
		for (long i = 0; i < 2 * block; i++)
			freeReplyObject(redisCommandArgv(c, n, v, NULL));
		p += t1 - t0;
		e += t2 - t1;
		f += now_s() - t2;
	}
	freeReplyObject(redisCommand(c, "FUNCTION DELETE shmt_bench_stub"));
	freeReplyObject(redisCommand(c, "DEL shmt:{bench-stub}"));
	redisFree(c);
	block *= ROUNDS;
	printf(
	    "\nfloor (unix, 1 process), per pair of calls: PING %.1f us; two "
	    "FCALLs of a function\nthat runs nothing %.1f us (%.2fx); of "
	    "one that runs only TIME, HMGET and HSET\n%.1f us (%.2fx)\n",
	    p / (double)block * 1e6, e / (double)block * 1e6, e / p,
	    f / (double)block * 1e6, f / p);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* What the slow log says of the runs of `op` (FCALL or EVALSHA, the
 * operation in their sixth argument; for a record, `timed` 1: those
 * with a send time, 0: those without): their mean and median µs, and
 * the commands they ran (logged before their run, oldest last), per
 * run. */
struct op_log {
	double mean, calls;
	long median;
};

static struct op_log
op_times(const redisReply *log, const char *op, int timed)
{
	long *d = calloc(log->elements + 1, sizeof(*d)), n = 0, inner = 0,
	     calls = 0;
	struct op_log r = { 0 };
	double sum = 0;

	if (!d)
		exit(3);
	for (size_t i = log->elements; i-- > 0;) {
		const redisReply *e = log->element[i], *a;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
		    (a = e->element[3])->type != REDIS_REPLY_ARRAY ||
		    a->elements < 1)
			continue;
		if (strcasecmp(a->element[0]->str, "FCALL") &&
		    strcasecmp(a->element[0]->str, "EVALSHA")) {
			inner++;
			continue;
		}
		if (a->elements > 9 &&
		    a->element[5]->type == REDIS_REPLY_STRING &&
		    !strcmp(a->element[5]->str, op) &&
		    (strcmp(op, "record") ||
		     !strcmp(a->element[9]->str, "-1") == !timed)) {
			d[n] = (long)e->element[2]->integer;
			sum += (double)d[n++];
			calls += inner;
		}
		inner = 0;
	}
	qsort(d, (size_t)n, sizeof(*d), cmp_long);
	if (n)
		r = (struct op_log){ sum / (double)n, (double)calls / (double)n,
			             d[n / 2] };
	free(d);
	return r;
}

/* The server's time per run of each operation, one process: the slow log
 * with no threshold times every command apart, those a run makes too
 * (INFO commandstats only sums them by command, and a record's time
 * taken as that of acquire + record less acquire's came out anywhere
 * from 7 to 40 us). */
static void
run_costs(const struct kind *k, const char *backend, const char *sock)
{
	redisContext *c = redisConnectUnix(sock);
	long n = ops < 2000 ? ops : 2000, len = 24 * n + 100;
	static const char *const op[] = { "acquire", "record", "record_acquire",
		                          "record" };
	struct op_log o[4];
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	redisReply *log;

	if (!c || c->err)
		exit(3);
	fresh(backend, k);
	if (shmt_open_backend(&t, backend, "bench-redis", NULL, 0) != SHMT_OK)
		exit(3);
	freeReplyObject(redisCommand(c, "CONFIG SET slowlog-max-len %ld", len));
	freeReplyObject(redisCommand(c, "SLOWLOG RESET"));
	freeReplyObject(
	    redisCommand(c, "CONFIG SET slowlog-log-slower-than 0"));
	for (long i = 0; i < n; i++) {
		shmt_ticket_init(&tk);
		if (shmt_acquire(t, &tk, -1) != SHMT_OK ||
		    shmt_record(t, &tk, 200, -1, "u", 0, &out) != SHMT_OK)
			exit(4);
	}
	for (long i = 0; i < n; i++)
		if (shmt_record_acquire(t, &tk, 200, -1, "u", 0, &out, -1) !=
		    SHMT_OK)
			exit(4);
	/* as throttle-curl records: with the send time and a round trip,
	 * which the margin learns from */
	for (long i = 0; i < n; i++) {
		shmt_ticket_init(&tk);
		if (shmt_acquire(t, &tk, -1) != SHMT_OK)
			exit(4);
		tk.sent_ns = tk.send_ns;
		tk.rtt_ns = 100000;
		if (shmt_record(t, &tk, 200, -1, "u", 0, &out) != SHMT_OK)
			exit(4);
	}
	freeReplyObject(
	    redisCommand(c, "CONFIG SET slowlog-log-slower-than 10000"));
	log = redisCommand(c, "SLOWLOG GET %ld", len);
	if (!log || log->type != REDIS_REPLY_ARRAY)
		exit(3);
	for (int i = 0; i < 4; i++)
		o[i] = op_times(log, op[i], i == 3);
	freeReplyObject(log);
	printf("rate %s: acquire %.1f us (median %ld, %.2f commands), "
	       "record %.1f us (%ld, %.2f),\n  record_acquire %.1f us (%ld, "
	       "%.2f), record with a send time and a round trip %.1f us "
	       "(%ld, %.2f)\n",
	       k->label, o[0].mean, o[0].median, o[0].calls, o[1].mean,
	       o[1].median, o[1].calls, o[2].mean, o[2].median, o[2].calls,
	       o[3].mean, o[3].median, o[3].calls);
	shmt_close(t);
	redisFree(c);
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
	if (getenv("RATE") && atol(getenv("RATE")) > 0)
		rate_max = atol(getenv("RATE"));
	if (getenv("WARM"))
		warm = atol(getenv("WARM"));
	snprintf(kinds[1].label, sizeof(kinds[1].label), "%ld/s", rate_max);
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
	printf("%ld of each; one redis-server 7 on this host.  Two "
	       "throttles: no rate set, and a rate\nof %ld per second, "
	       "which never binds here; each warmed by %ld requests (past "
	       "the\nprobe and the slow start: no call waits).  Each "
	       "process alternates %d blocks of\nPINGs, acquire + record "
	       "and record_acquire on connections of its own: times per\n"
	       "operation as the processes saw them, under the same "
	       "load.\n\n",
	       ops, rate_max, warm, ROUNDS);
	printf("| rate | socket | processes | PING round trip | acquire + "
	       "record | ratio | record_acquire | ratio |\n"
	       "|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < 2; k++) {
		row("unix", &kinds[k], unix_url, sock, NULL, 0);
		row("tcp loopback", &kinds[k], url, NULL, "127.0.0.1", port);
	}
	server_time(sock);
	printf("server time per run (SLOWLOG, one process, %ld of each):\n",
	       ops < 2000 ? ops : 2000);
	for (int k = 0; k < 2; k++)
		run_costs(&kinds[k], unix_url, sock);
	floor_line(sock);
	fresh("shm:", &kinds[0]);
	shm = shm_cost();
	printf("\nshared memory, 1 process: %.2f us per acquire + record\n",
	       shm / 1e3);
	shmt_remove_backend("shm:", "bench-redis");
	snprintf(cmd, sizeof(cmd), "%s/scripts/test-redis stop %s; rm -rf %s",
	         argv[1], dir, dir);
	return system(cmd) == 0 ? 0 : 1;
}
