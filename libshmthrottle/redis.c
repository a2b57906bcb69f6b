/* redis.c - the Redis backend: a connection, one script call per
 * operation, and the waiting on our own clock in between. */
#include "redis.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "internal.h"
#include "lock.h"
#include "redis_lua.h"
#include "timing.h"

#define US ((int64_t)1000)
#define MS ((int64_t)1000000)

int64_t shmt_redis_slice = 500 * MS;

/* The script's own codes (redis_lua.h), in its order from 1. */
static const int script_codes[] = {
	SHMT_EGONE,  SHMT_EVERSION, SHMT_EINVALID, SHMT_ECORRUPT,
	SHMT_ENOENT, SHMT_EEXIST,   SHMT_EAGAIN,   SHMT_ETIMEDOUT,
	SHMT_EFULL,  SHMT_EINVAL,   SHMT_ECOST,
};

/* The configuration fields, in the script's order (CF). */
enum {
	F_NR,
	F_POL,
	F_BURST,
	F_MR,
	F_FIXED,
	F_CAP,
	F_MARGIN,
	F_BI,
	F_BM,
	F_RAM,
	F_MULT,
	F_M1,
	F_P1 = F_M1 + SHMT_MAX_RATES,
	F_NU = F_P1 + SHMT_MAX_RATES,
	F_UB,
	F_U1,
	F_Q1 = F_U1 + SHMT_MAX_UNITS,
	/* the cap in flight and the longest hold (us), after CF */
	F_CC = F_Q1 + SHMT_MAX_UNITS,
	F_HM,
	F_COUNT
};

struct shmt_redis {
	struct shmt_backend_url url;
	redisContext *c;
	/* the process that connected: a child of fork() connects anew */
	pid_t pid;
	/* 1: FCALL (the server has our Functions library, or may: FCALL
	 * tells); 0: EVALSHA of the script form */
	int fn;
	char sha[48];
	/* "shmt:{NAME}" (state and log, format 3) and "shmt:{NAME}:log"
	 * (format 2's log: deleted at open and remove) */
	char key[2][SHMT_NAME_MAX + 16];
	char name[SHMT_NAME_MAX + 1];
	/* of the throttle opened: a new one of the same name is another */
	char id[40];
	uint32_t cap;
	int64_t (*mono)(void);
	/* the server's clock minus ours (ns), from the quickest recent
	 * round trip, and that round trip */
	int64_t offset, best_rtt, best_at, last_rtt;
	pthread_mutex_t mu;
};

/* ---- the script's two forms -------------------------------------------- */

/* The body with the tail EVAL runs, and as a Functions library; the
 * library's (and its function's) name carries a hash of the body. */
static char eval_src[sizeof(shmt_redis_script) + sizeof(SHMT_REDIS_EVAL_TAIL)];
static char lib_src[sizeof(shmt_redis_script) + 160];
static char fn_name[32];
static pthread_once_t src_once = PTHREAD_ONCE_INIT;

static void
build_sources(void)
{
	uint64_t h = 1469598103934665603ULL;
	int n;

	for (const char *p = shmt_redis_script; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(fn_name, sizeof(fn_name), "shmt_%016" PRIx64, h);
	snprintf(eval_src, sizeof(eval_src), "%s%s", shmt_redis_script,
	         SHMT_REDIS_EVAL_TAIL);
	n = snprintf(lib_src, sizeof(lib_src), SHMT_REDIS_LIB_HEAD, fn_name);
	n += snprintf(lib_src + n, sizeof(lib_src) - (size_t)n, "%s",
	              shmt_redis_script);
	snprintf(lib_src + n, sizeof(lib_src) - (size_t)n, SHMT_REDIS_LIB_TAIL,
	         fn_name);
}

/* ---- the connection --------------------------------------------------- */

/* hiredis write()s: a server that closed the connection would kill the
 * process with SIGPIPE.  Block it in this thread for the call and take
 * back a SIGPIPE the call raised (as libpq does); one pending before
 * stays pending. */
struct pipe_guard {
	sigset_t old;
	int was_pending;
};

static void
guard_on(struct pipe_guard *g)
{
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void
guard_off(struct pipe_guard *g)
{
	sigset_t pipe, pending;
	struct timespec zero = { 0, 0 };

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static struct timeval
timeval_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

static const char *
where(const struct shmt_redis *r)
{
	static _Thread_local char buf[300];

	if (r->url.path[0])
		snprintf(buf, sizeof(buf), "%s", r->url.path);
	else
		snprintf(buf, sizeof(buf), "%s:%d", r->url.host, r->url.port);
	return buf;
}

/* The error of the context: lost, or no answer within the time-out. */
static int
io_error(struct shmt_redis *r)
{
	if (r->c->err == REDIS_ERR_IO &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT))
		shmt_backend_set_message("Redis at %s did not answer within "
		                         "%g s",
		                         where(r), r->url.timeout);
	else
		shmt_backend_set_message("Redis at %s: %s", where(r),
		                         r->c->errstr);
	redisFree(r->c);
	r->c = NULL;
	return SHMT_ELOST;
}

/* An error reply of the server, by its code. */
static int
server_error(const struct shmt_redis *r, const char *msg)
{
	shmt_backend_set_message("Redis at %s: %s", where(r), msg);
	if (strstr(msg, "NOPERM"))
		return SHMT_ENOPERM;
	if (!strncmp(msg, "WRONGPASS", 9) || !strncmp(msg, "NOAUTH", 6) ||
	    (strstr(msg, "AUTH") && strstr(msg, "password")) ||
	    /* Redis 7 refuses a bulk over 16 KiB (the script) before AUTH */
	    strstr(msg, "unauthenticated"))
		return SHMT_EAUTH;
	if (strstr(msg, "WRONGTYPE"))
		return SHMT_EINVALID;
	return SHMT_EBACKEND;
}

/* The password: from the file named by THROTTLE_REDIS_PASSWORD_FILE (its
 * first line), THROTTLE_REDIS_PASSWORD or REDISCLI_AUTH; "" if none. */
static int
password(char *buf, size_t len)
{
	const char *file = getenv("THROTTLE_REDIS_PASSWORD_FILE");
	const char *env = getenv("THROTTLE_REDIS_PASSWORD");
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if (file && *file) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
			shmt_backend_set_message(
			    "read the password file %s: %s", file,
			    strerror(errno));
			return SHMT_EAUTH;
		}
		n = read(fd, buf, len - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		return SHMT_OK;
	}
	if (!env || !*env)
		env = getenv("REDISCLI_AUTH");
	if (env && strlen(env) < len)
		strcpy(buf, env);
	return SHMT_OK;
}

/* The answer to FUNCTION LOAD: 1 if the library is there (loaded now or
 * before, by anyone) or may be (an ACL without FUNCTION LOAD: an
 * administrator may have loaded it; FCALL will tell), 0 if this server
 * will not have it (no Functions: Redis 6, renamed away; a replica). */
static int
library_loaded(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_STRING ||
	       (rep->type == REDIS_REPLY_ERROR &&
	        (strstr(rep->str, "already exists") ||
	         !strncmp(rep->str, "NOPERM", 6)));
}

/* FCALL's answer when the library is not there, or FCALL not ours to
 * run: load it, or run the script. */
static int
library_missing(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR &&
	       (strstr(rep->str, "Function not found") ||
	        (!strncmp(rep->str, "NOPERM", 6) &&
	         strstr(rep->str, "'fcall'")));
}

/* SCRIPT LOAD, for a server without our library: r->sha. */
static int
load_script(struct shmt_redis *r)
{
	redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", eval_src);
	int rc = SHMT_OK;

	if (!rep)
		return io_error(r);
	if (rep->type == REDIS_REPLY_ERROR)
		rc = server_error(r, rep->str);
	else if (rep->type != REDIS_REPLY_STRING || rep->len >= sizeof(r->sha))
		rc = SHMT_EBACKEND;
	else
		memcpy(r->sha, rep->str, rep->len + 1);
	freeReplyObject(rep);
	return rc;
}

/* Send AUTH, SELECT and FUNCTION LOAD at once; read their answers.  A
 * server that will not load the library gets SCRIPT LOAD instead. */
static int
handshake(struct shmt_redis *r)
{
	char pass[512], db[16];
	const char *argv[3];
	int n = 0, rc = password(pass, sizeof(pass));

	if (rc != SHMT_OK)
		return rc;
	if (r->url.user[0] || pass[0]) {
		int k = 0;

		argv[k++] = "AUTH";
		if (r->url.user[0])
			argv[k++] = r->url.user;
		argv[k++] = pass;
		redisAppendCommandArgv(r->c, k, argv, NULL);
		n++;
	}
	memset(pass, 0, sizeof(pass));
	if (r->url.db) {
		snprintf(db, sizeof(db), "%d", r->url.db);
		redisAppendCommand(r->c, "SELECT %s", db);
		n++;
	}
	redisAppendCommand(r->c, "FUNCTION LOAD %s", lib_src);
	n++;
	r->fn = 0;
	for (int i = 0; i < n; i++) {
		redisReply *rep;

		if (redisGetReply(r->c, (void **)&rep) != REDIS_OK)
			return io_error(r);
		if (rc == SHMT_OK && i == n - 1) {
			r->fn = library_loaded(rep);
			/* refused before AUTH: AUTH's failure, not ours */
			if (!r->fn && rep->type == REDIS_REPLY_ERROR &&
			    server_error(r, rep->str) == SHMT_EAUTH)
				rc = SHMT_EAUTH;
		} else if (rc == SHMT_OK && rep->type == REDIS_REPLY_ERROR) {
			rc = server_error(r, rep->str);
		}
		freeReplyObject(rep);
	}
	if (rc == SHMT_OK && !r->fn)
		rc = load_script(r);
	return rc;
}

static int
connect_to(struct shmt_redis *r)
{
	struct timeval tv = timeval_of(r->url.timeout);
	int rc;

	if (r->c && r->pid == getpid())
		return SHMT_OK;
	/* a copy from before fork(): close ours, the parent keeps its own */
	if (r->c)
		redisFree(r->c);
	r->c = r->url.path[0]
	           ? redisConnectUnixWithTimeout(r->url.path, tv)
	           : redisConnectWithTimeout(r->url.host, r->url.port, tv);
	r->pid = getpid();
	if (!r->c)
		return SHMT_ENOMEM;
	if (r->c->err) {
		shmt_backend_set_message("cannot connect to Redis at %s: %s",
		                         where(r), r->c->errstr);
		redisFree(r->c);
		r->c = NULL;
		return SHMT_EUNREACHABLE;
	}
	redisSetTimeout(r->c, tv);
	if ((rc = handshake(r)) != SHMT_OK && r->c) {
		redisFree(r->c);
		r->c = NULL;
	}
	return rc;
}

static int run_guarded(struct shmt_redis *r, int argc, const char **argv,
                       redisReply **out);

/* Run the operation: FCALL, or EVALSHA where the server has no Functions;
 * when the server lost the library (FUNCTION FLUSH, a restart, a
 * fail-over) FUNCTION LOAD again, or SCRIPT LOAD and EVALSHA if it will
 * not load it or FCALL is denied; when it lost the script (SCRIPT
 * FLUSH...), EVAL, which caches it.  argv[0] is the operation.  Under
 * r->mu. */
static int
run(struct shmt_redis *r, int argc, const char **argv, redisReply **out)
{
	struct pipe_guard g;
	int rc;

	guard_on(&g);
	pthread_once(&src_once, build_sources);
	rc = run_guarded(r, argc, argv, out);
	guard_off(&g);
	return rc;
}

static int
run_guarded(struct shmt_redis *r, int argc, const char **argv, redisReply **out)
{
	const char *v[64];
	redisReply *rep;
	int64_t t0, t1;
	int rc;

	*out = NULL;
	if (argc + 5 > (int)(sizeof(v) / sizeof(v[0])))
		return SHMT_EINVAL;
	if ((rc = connect_to(r)) != SHMT_OK)
		return rc;
	v[0] = r->fn ? "FCALL" : "EVALSHA";
	v[1] = r->fn ? fn_name : r->sha;
	v[2] = "2";
	v[3] = r->key[0];
	v[4] = r->key[1];
	v[5] = argv[0];
	v[6] = r->id;
	memcpy(v + 7, argv + 1, sizeof(*argv) * (size_t)(argc - 1));
	t0 = r->mono();
	rep = redisCommandArgv(r->c, argc + 6, v, NULL);
	if (rep && r->fn && library_missing(rep)) {
		int denied = !strncmp(rep->str, "NOPERM", 6);

		freeReplyObject(rep);
		r->fn = 0;
		/* loaded now or by someone else meanwhile, unless FCALL or
		 * FUNCTION LOAD is denied: then the script */
		if (!denied) {
			rep = redisCommand(r->c, "FUNCTION LOAD %s", lib_src);
			if (!rep)
				return io_error(r);
			r->fn = rep->type != REDIS_REPLY_ERROR ||
			        strstr(rep->str, "already exists");
			freeReplyObject(rep);
		}
		if (!r->fn && (rc = load_script(r)) != SHMT_OK)
			return rc;
		v[0] = r->fn ? "FCALL" : "EVALSHA";
		v[1] = r->fn ? fn_name : r->sha;
		t0 = r->mono();
		rep = redisCommandArgv(r->c, argc + 6, v, NULL);
	} else if (rep && rep->type == REDIS_REPLY_ERROR && !r->fn &&
	           !strncmp(rep->str, "NOSCRIPT", 8)) {
		freeReplyObject(rep);
		v[0] = "EVAL";
		v[1] = eval_src;
		t0 = r->mono();
		rep = redisCommandArgv(r->c, argc + 6, v, NULL);
	}
	t1 = r->mono();
	if (!rep)
		return io_error(r);
	r->last_rtt = t1 - t0;
	if (rep->type == REDIS_REPLY_ERROR) {
		rc = server_error(r, rep->str);
		freeReplyObject(rep);
		return rc;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(rep);
		shmt_backend_set_message("Redis at %s: unexpected reply",
		                         where(r));
		return SHMT_EBACKEND;
	}
	rc = (int)rep->element[0]->integer;
	if (rc > 0 &&
	    (size_t)rc <= sizeof(script_codes) / sizeof(script_codes[0])) {
		rc = script_codes[rc - 1];
	} else if (rc != 0) {
		shmt_backend_set_message("Redis at %s: unexpected reply",
		                         where(r));
		rc = SHMT_EBACKEND;
	}
	if (rc != SHMT_OK)
		freeReplyObject(rep);
	else
		*out = rep;
	if (rc == SHMT_EGONE)
		shmt_backend_set_message("Redis at %s: %s is gone", where(r),
		                         r->key[0]);
	return rc;
}

/* The server's time `now_us` came back in a reply of round trip t0..t1:
 * our estimate of the server's clock follows the quickest recent one. */
static void
learn_clock(struct shmt_redis *r, int64_t now_us, int64_t rtt)
{
	int64_t t = r->mono();

	if (rtt <= r->best_rtt || t - r->best_at > 10 * SHMT_NS ||
	    !r->best_at) {
		r->offset = now_us * US - (t - rtt / 2);
		r->best_rtt = rtt;
		r->best_at = t;
	}
}

/* Server µs to our clock's ns, and back. */
static int64_t
local_ns(const struct shmt_redis *r, int64_t us)
{
	return shmt_sub_ns(shmt_add_ns(0, us * US), r->offset);
}

static int64_t
server_us(const struct shmt_redis *r, int64_t ns)
{
	return shmt_add_ns(ns, r->offset) / US;
}

/* ---- replies ------------------------------------------------------------ */

static int
is_int(const redisReply *a, size_t i)
{
	return a->type == REDIS_REPLY_ARRAY && i < a->elements &&
	       a->element[i]->type == REDIS_REPLY_INTEGER;
}

/* Element i of an array reply as an integer; *ok cleared if it is not. */
static int64_t
ival(const redisReply *a, size_t i, int *ok)
{
	if (!is_int(a, i)) {
		*ok = 0;
		return 0;
	}
	return a->element[i]->integer;
}

static const char *
sval(const redisReply *a, size_t i, int *ok)
{
	if (a->type != REDIS_REPLY_ARRAY || i >= a->elements ||
	    a->element[i]->type != REDIS_REPLY_STRING) {
		*ok = 0;
		return "";
	}
	return a->element[i]->str;
}

static int
malformed(const struct shmt_redis *r)
{
	shmt_backend_set_message("Redis at %s: the throttle's reply is "
	                         "malformed",
	                         where(r));
	return SHMT_ECORRUPT;
}

/* One limit of a reply, a rate's or a unit limit's: its max at element
 * fm, its period (us) at fp into *period (ns).  Out of range: *ok = 0 and
 * nothing multiplied (a hostile period times 1000 would overflow). */
static void
limit_at(const redisReply *a, size_t fm, size_t fp, int *ok, uint32_t *max,
         int64_t *period)
{
	int64_t m = ival(a, fm, ok), p = ival(a, fp, ok);

	if (m < 0 || m > UINT32_MAX || p < 0 || p > SHMT_NS_LIMIT / US) {
		*ok = 0;
		m = p = 0;
	}
	*max = (uint32_t)m;
	*period = p * US;
}

/* The configuration in a reply (the script's CF order, then cc and hm),
 * checked as one read from a segment; the longest hold into *hold (s). */
static int
parse_config(const struct shmt_redis *r, const redisReply *a,
             struct shmt_scfg *s, double *hold)
{
	int64_t cc, hm;
	int ok = 1;
	double mult;

	if (a->type != REDIS_REPLY_ARRAY || a->elements != F_COUNT)
		return malformed(r);
	*s = (struct shmt_scfg){
		.nrates = (uint32_t)ival(a, F_NR, &ok),
		.policy = (uint32_t)ival(a, F_POL, &ok),
		.burst = (uint32_t)ival(a, F_BURST, &ok),
		.max_retries = (uint32_t)ival(a, F_MR, &ok),
		.flags = ival(a, F_FIXED, &ok) ? SHMT_SCFG_FIXED_MARGIN : 0,
		.margin = ival(a, F_MARGIN, &ok) * US,
		.backoff_initial = ival(a, F_BI, &ok) * US,
		.backoff_max = ival(a, F_BM, &ok) * US,
		.retry_after_max = ival(a, F_RAM, &ok) * US,
	};
	mult = strtod(sval(a, F_MULT, &ok), NULL);
	s->backoff_multiplier = mult;
	for (int i = 0; i < SHMT_MAX_RATES; i++)
		limit_at(a, F_M1 + i, F_P1 + i, &ok, &s->rate_max[i],
		         &s->rate_period[i]);
	s->nunits = (uint32_t)ival(a, F_NU, &ok);
	s->unit_burst = (uint32_t)ival(a, F_UB, &ok);
	for (int i = 0; i < SHMT_MAX_UNITS; i++)
		limit_at(a, F_U1 + i, F_Q1 + i, &ok, &s->unit_max[i],
		         &s->unit_period[i]);
	cc = ival(a, F_CC, &ok);
	hm = ival(a, F_HM, &ok);
	s->concurrency = (uint32_t)cc;
	*hold = (double)hm / 1e6;
	if (!ok || cc < 0 || cc > SHMT_MAX_PLACES || hm < 1000 ||
	    (double)hm > SHMT_WEEK_S * 1e6 || ival(a, F_CAP, &ok) != r->cap ||
	    shmt_scfg_check(s, r->cap) != SHMT_OK)
		return malformed(r);
	return SHMT_OK;
}

/* ---- the operations ---------------------------------------------------- */

/* The unit limits' pairs: nu, ub, then u1, q1, u2, q2 (max, period µs). */
static void
unit_args(const shmt_config *c, char buf[][32], const char **argv, int *argc)
{
	static const char *const uq[] = { "u1", "q1", "u2", "q2" };

	snprintf(buf[0], 32, "%u", c->nunits);
	snprintf(buf[1], 32, "%u", c->unit_burst);
	argv[(*argc)++] = "nu";
	argv[(*argc)++] = buf[0];
	argv[(*argc)++] = "ub";
	argv[(*argc)++] = buf[1];
	for (unsigned i = 0; i < SHMT_MAX_UNITS; i++) {
		int on = i < c->nunits;
		char *m = buf[2 + 2 * i], *p = buf[3 + 2 * i];

		snprintf(m, 32, "%u", on ? c->units[i].max : 0);
		snprintf(p, 32, "%.0f", on ? c->units[i].period * 1e6 : 0.0);
		argv[(*argc)++] = uq[2 * i];
		argv[(*argc)++] = m;
		argv[(*argc)++] = uq[2 * i + 1];
		argv[(*argc)++] = p;
	}
}

static void
cfg_args(const shmt_config *c, char buf[][32], const char **argv, int *argc)
{
	static const char *const names[] = { "nr",    "pol",    "burst", "mr",
		                             "fixed", "margin", "bi",    "bm",
		                             "ram",   "mult" };
	double v[] = {
		c->nrates,
		c->policy,
		c->burst,
		c->max_retries,
		c->margin_fixed,
		c->margin * 1e6,
		c->backoff_initial * 1e6,
		c->backoff_max * 1e6,
		c->retry_after_max * 1e6,
	};
	int k = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++, k++) {
		argv[(*argc)++] = names[i];
		snprintf(buf[k], 32, "%.0f", v[i]);
		argv[(*argc)++] = buf[k];
	}
	argv[(*argc)++] = names[9];
	snprintf(buf[k], 32, "%.17g", c->backoff_multiplier);
	argv[(*argc)++] = buf[k++];
	for (unsigned i = 0; i < SHMT_MAX_RATES; i++, k += 2) {
		static const char *const mp[] = { "m1", "p1", "m2", "p2",
			                          "m3", "p3", "m4", "p4" };
		int on = i < c->nrates;

		snprintf(buf[k], 32, "%u", on ? c->rates[i].max : 0);
		snprintf(buf[k + 1], 32, "%.0f",
		         on ? c->rates[i].period * 1e6 : 0.0);
		argv[(*argc)++] = mp[2 * i];
		argv[(*argc)++] = buf[k];
		argv[(*argc)++] = mp[2 * i + 1];
		argv[(*argc)++] = buf[k + 1];
	}
	unit_args(c, buf + k, argv, argc);
	k += 6;
	snprintf(buf[k], 32, "%u", c->concurrency);
	snprintf(buf[k + 1], 32, "%.0f",
	         (c->hold_max > 0 ? c->hold_max : SHMT_HOLD_MAX_DEFAULT) * 1e6);
	argv[(*argc)++] = "cc";
	argv[(*argc)++] = buf[k];
	argv[(*argc)++] = "hm";
	argv[(*argc)++] = buf[k + 1];
}

/* A new throttle's id: 128 random bits, in hex. */
static void
new_id(char *buf, size_t len)
{
	unsigned char b[16] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	uint64_t mix = (uint64_t)shmt_wall_ns() ^ ((uint64_t)getpid() << 32);

	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		memcpy(b, &mix, sizeof(mix));
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < sizeof(b) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

static struct shmt_redis *
redis_new(const struct shmt_backend_url *u, const char *name,
          int64_t (*mono)(void))
{
	struct shmt_redis *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->url = *u;
	r->mono = mono ? mono : shmt_mono_ns;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	snprintf(r->key[0], sizeof(r->key[0]), "shmt:{%s}", r->name);
	snprintf(r->key[1], sizeof(r->key[1]), "shmt:{%s}:log", r->name);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void
shmt_redis_close(struct shmt_redis *r)
{
	if (!r)
		return;
	if (r->c)
		redisFree(r->c);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

void
shmt_redis_set_clock(struct shmt_redis *r, int64_t (*mono)(void))
{
	pthread_mutex_lock(&r->mu);
	r->mono = mono;
	r->best_at = 0;
	pthread_mutex_unlock(&r->mu);
}

int
shmt_redis_open(struct shmt_redis **rp, const struct shmt_backend_url *u,
                const char *name, const shmt_config *cfg, unsigned flags,
                int64_t (*mono)(void))
{
	char buf[32][32], cap[16], id[40];
	const char *argv[64];
	struct shmt_redis *r;
	redisReply *rep;
	int argc = 0, rc, ok = 1;

	if ((flags & SHMT_CREATE) && (rc = shmt_config_check(cfg)) != SHMT_OK)
		return rc;
	if (!(r = redis_new(u, name, mono)))
		return SHMT_ENOMEM;
	new_id(id, sizeof(id));
	argv[argc++] = "open";
	argv[argc++] = flags & SHMT_CREATE ? "1" : "0";
	argv[argc++] = flags & SHMT_EXCL ? "1" : "0";
	argv[argc++] = id;
	snprintf(cap, sizeof(cap), "%u",
	         cfg ? shmt_config_capacity(cfg) : SHMT_CAPACITY_MIN);
	argv[argc++] = cap;
	if (flags & SHMT_CREATE)
		cfg_args(cfg, buf, argv, &argc);
	pthread_mutex_lock(&r->mu);
	rc = run(r, argc, argv, &rep);
	pthread_mutex_unlock(&r->mu);
	if (rc == SHMT_OK) {
		const char *got = sval(rep, 1, &ok);
		int64_t c = ival(rep, 2, &ok);

		if (!ok || strlen(got) >= sizeof(r->id) ||
		    c < SHMT_CAPACITY_MIN || c > SHMT_CAPACITY_MAX)
			rc = malformed(r);
		else
			strcpy(r->id, got);
		r->cap = (uint32_t)c;
		learn_clock(r, ival(rep, 3, &ok), r->last_rtt);
		freeReplyObject(rep);
	}
	if (rc != SHMT_OK) {
		shmt_redis_close(r);
		return rc;
	}
	*rp = r;
	return SHMT_OK;
}

/* A slot, as acquire and confirm answer; `local` is `at` on our clock and
 * `lead` the next confirm's, both read under the handle's lock. */
struct slot {
	int64_t seq, at, now, final, deadline, local, lead;
	/* the cost asked, for a new slot if the server dropped ours; 0:
	 * not known here (record_acquire's retry: the script takes 1) */
	uint32_t cost;
	/* acquire found every place held (no slot), or confirm found the
	 * waiter's place gone and every place held (the slot given up: a
	 * new one at `cost`), and freed this many whose holders it found
	 * dead on this host */
	int full, freed;
	/* the place's owner ("": none), for confirm to renew its lease */
	const char *tok;
};

/* ---- places in flight --------------------------------------------------- */

/* A place's owner: "HOST:PID:START", HOST being the boot id and the PID
 * namespace, the pids' scope ("?" if unknown, or if /proc is of another
 * PID namespace: then no holder is ever found dead here, and its places
 * come back by their lease only). */
#define OWNER_MAX 96
static char host_id[64] = "?";
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

void
shmt_redis_host(char *buf, size_t len, const char *boot, const char *ns,
                const char *self, long pid)
{
	unsigned long ino;
	char *end;
	long seen = strtol(self, &end, 10);

	snprintf(buf, len, "?");
	/* a /proc of another PID namespace (mounted from a parent, or a
	 * container's that does not match ours) names neither our pids nor
	 * our namespace: its pids would be judged against the wrong ones */
	if (end == self || *end != '\0' || seen != pid)
		return;
	if (strlen(boot) == 36 && strspn(boot, "0123456789abcdef-") == 36 &&
	    sscanf(ns, "pid:[%lu]", &ino) == 1)
		snprintf(buf, len, "%s.%lu", boot, ino);
}

static void
read_host(void)
{
	char boot[64] = "", ns[64] = "", self[32] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	ssize_t n;

	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
	}
	boot[strcspn(boot, "\n")] = '\0';
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = '\0';
	n = readlink("/proc/self", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	shmt_redis_host(host_id, sizeof(host_id), boot, ns, self,
	                (long)getpid());
}

/* The owner record `owner` (pid << 32 | start, lock.h) as a token; "" for
 * none (SHMT_ACQUIRE_NOPLACE). */
static void
owner_token(uint64_t owner, char *buf)
{
	pthread_once(&host_once, read_host);
	if (!owner)
		buf[0] = '\0';
	else
		snprintf(buf, OWNER_MAX, "%s:%" PRIu32 ":%" PRIu32, host_id,
		         (uint32_t)(owner >> 32), (uint32_t)owner);
}

/* The owner record of a token of this host; 0 if it names another host,
 * or is not one of ours (hostile or damaged: never found dead). */
static uint64_t
owner_here(const char *tok)
{
	size_t h = strlen(host_id);
	unsigned pid, start;
	int end = 0;

	pthread_once(&host_once, read_host);
	if (!strcmp(host_id, "?") || strncmp(tok, host_id, h) ||
	    tok[h] != ':' ||
	    sscanf(tok + h, ":%10u:%10u%n", &pid, &start, &end) != 2 ||
	    tok[h + (size_t)end] != '\0' || pid == 0)
		return 0;
	return (uint64_t)pid << 32 | start;
}

/* Every place is held (the reply's holders from element `base`): free
 * those of this host whose process is gone, in one run; how many were.
 * Under r->mu. */
static int
free_dead(struct shmt_redis *r, const redisReply *rep, size_t base)
{
	const char *argv[2] = { "free" };
	redisReply *got;
	size_t len = 0;
	char *dead;
	int ok = 1, n = 0;

	if (!(dead = calloc(rep->elements, OWNER_MAX + 1)))
		return 0;
	for (size_t i = base; i < rep->elements; i++) {
		const char *tok = sval(rep, i, &ok);
		uint64_t rec =
		    ok && strlen(tok) < OWNER_MAX ? owner_here(tok) : 0;

		if (rec && !shmt_proc_alive(rec))
			len += (size_t)sprintf(dead + len, "%s%s",
			                       len ? "," : "", tok);
	}
	argv[1] = dead;
	if (len && run(r, 2, argv, &got) == SHMT_OK) {
		n = (int)ival(got, 1, &ok);
		freeReplyObject(got);
	}
	free(dead);
	return ok && n > 0 ? n : 0;
}

static int64_t lead(const struct shmt_redis *r);

/* The slot in reply elements base..base+4 (seq, at, now, final and the
 * deadline if any).  Under r->mu. */
static int
parse_slot(struct shmt_redis *r, const redisReply *rep, size_t base,
           struct slot *s)
{
	int ok = 1;

	s->seq = ival(rep, base, &ok);
	s->at = ival(rep, base + 1, &ok);
	s->now = ival(rep, base + 2, &ok);
	s->final = ival(rep, base + 3, &ok);
	if (is_int(rep, base + 4))
		s->deadline = ival(rep, base + 4, &ok);
	if (!ok || s->seq < 0 || s->at < 0 || s->now < 0)
		return malformed(r);
	learn_clock(r, s->now, r->last_rtt);
	return SHMT_OK;
}

static int
call_slot(struct shmt_redis *r, int argc, const char **argv, struct slot *s)
{
	redisReply *rep;
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = run(r, argc, argv, &rep);
	if (rc == SHMT_OK) {
		/* every place held: {0, -1, holders...} (acquire), or
		 * {0, -2, cost, holders...} (confirm: ours was gone) */
		if (is_int(rep, 1) && rep->element[1]->integer == -1) {
			s->full = 1;
			s->freed = free_dead(r, rep, 2);
		} else if (is_int(rep, 1) && rep->element[1]->integer == -2) {
			int ok = 1;
			int64_t c = ival(rep, 2, &ok);

			if (!ok || c < 1 || c > UINT32_MAX) {
				rc = malformed(r);
			} else {
				s->full = 1;
				s->cost = (uint32_t)c;
				s->freed = free_dead(r, rep, 3);
			}
		} else {
			rc = parse_slot(r, rep, 1, s);
		}
		freeReplyObject(rep);
	}
	s->local = local_ns(r, s->at);
	s->lead = lead(r);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* How long before its slot a waiter confirms it: a round trip and some,
 * so that the answer is back before the slot. */
static int64_t
lead(const struct shmt_redis *r)
{
	int64_t l = 2 * r->last_rtt + MS;

	return l > 250 * MS ? 250 * MS : l;
}

static void
sleep_ns(int64_t ns)
{
	if (ns > 0)
		shmt_sleep(shmt_ns_to_sec(ns));
}

/* The script's timeout argument (µs; -1: none). */
static void
timeout_arg(char *buf, double timeout)
{
	if (timeout < 0)
		snprintf(buf, 32, "-1");
	else
		snprintf(buf, 32, "%.0f",
		         timeout == 0 ? 0 : fmax(1, fmin(timeout, 1e9) * 1e6));
}

/* wait_slot: the waiter's place was gone (its lease ended while it was
 * stopped) and every place is held: no slot, s->cost to ask again with
 * once a place is free. */
#define PLACE_LOST (-1)

/* After acquire (rc, *s): confirm the slot until it is final (each
 * confirm renews the lease of the place s->tok holds), sleep to it, and
 * fill the ticket; or PLACE_LOST. */
static int
wait_slot(struct shmt_redis *r, shmt_ticket *tk, struct slot *s, int rc)
{
	char a[5][32];
	const char *argv[7] = {
		"confirm", a[0], a[1], a[2], a[3], a[4], s->tok ? s->tok : ""
	};
	int64_t start = s->now;

	while (rc == SHMT_OK && !s->final) {
		int64_t left = shmt_sub_ns(s->local - s->lead, r->mono());

		sleep_ns(left < shmt_redis_slice ? left : shmt_redis_slice);
		snprintf(a[0], 32, "%" PRId64, s->seq);
		snprintf(a[1], 32, "%" PRId64, start);
		snprintf(a[2], 32, "%" PRId64, s->deadline);
		snprintf(a[3], 32, "%" PRId64, s->lead / US);
		snprintf(a[4], 32, "%" PRIu32, s->cost);
		rc = call_slot(r, 7, argv, s);
		if (rc == SHMT_OK && s->full)
			return PLACE_LOST;
	}
	if (rc != SHMT_OK)
		return rc;
	/* a slot the server called due is due: our reading of its clock
	 * could only add a sleep of microseconds (and the timer's slack) */
	if (s->at > s->now)
		sleep_ns(shmt_sub_ns(s->local, r->mono()));
	tk->seq = (uint64_t)s->seq;
	tk->send_ns = s->local;
	tk->attempt++;
	return SHMT_OK;
}

/* A waiter for a place asks again after this, doubling to the last, as
 * a shared-memory waiter looks (throttle.c); a run that freed a dead
 * holder's place asks again at once, a few times in a row at most. */
#define PLACE_POLL_FIRST (10 * MS)
#define PLACE_POLL_LAST (200 * MS)
#define PLACE_QUICK 8

/* One acquire run: a place for `tok` ("": none) and a slot, or s->full. */
static int
acquire_once(struct shmt_redis *r, uint32_t cost, const char *tok,
             double timeout, struct slot *s)
{
	char a[3][32];
	const char *argv[5] = { "acquire", a[0], a[1], a[2], tok };

	*s = (struct slot){ .deadline = -1, .cost = cost, .tok = tok };
	pthread_mutex_lock(&r->mu);
	s->lead = lead(r);
	pthread_mutex_unlock(&r->mu);
	timeout_arg(a[0], timeout);
	snprintf(a[1], 32, "%" PRId64, s->lead / US);
	snprintf(a[2], 32, "%" PRIu32, cost);
	return call_slot(r, 5, argv, s);
}

/* The place of entry seq goes back; under r->mu. */
static int
release_seq(struct shmt_redis *r, int64_t seq)
{
	char a[32];
	const char *argv[2] = { "release", a };
	redisReply *rep;
	int rc;

	snprintf(a, sizeof(a), "%" PRId64, seq);
	if ((rc = run(r, 2, argv, &rep)) == SHMT_OK)
		freeReplyObject(rep);
	return rc;
}

/* After a slot taken with a place for `tok` (if any) in *s (rc): wait
 * for it; a wait that fails gives the place back (the ticket does not
 * name it: nobody else could).  PLACE_LOST as wait_slot. */
static int
wait_held(struct shmt_redis *r, shmt_ticket *tk, struct slot *s, int rc,
          const char *tok)
{
	if ((rc = wait_slot(r, tk, s, rc)) != SHMT_OK && rc != PLACE_LOST &&
	    rc != SHMT_EGONE && tok[0]) {
		pthread_mutex_lock(&r->mu);
		release_seq(r, s->seq);
		pthread_mutex_unlock(&r->mu);
	}
	return rc;
}

/* A place for `tok` ("": none) and a slot, within `timeout` from
 * `start` (r->mono()). */
static int
acquire_tok(struct shmt_redis *r, shmt_ticket *tk, uint32_t cost,
            const char *tok, int64_t start, double timeout)
{
	int64_t poll = PLACE_POLL_FIRST, left = 0;
	struct slot s;
	int rc, quick = 0;

again:
	for (;;) {
		if (timeout > 0)
			left = shmt_sub_ns(
			    shmt_add_ns(start, shmt_sec_to_ns(timeout)),
			    r->mono());
		if (timeout > 0 && left <= 0)
			return SHMT_ETIMEDOUT;
		rc = acquire_once(r, cost, tok,
		                  timeout > 0 ? shmt_ns_to_sec(left) : timeout,
		                  &s);
		if (rc != SHMT_OK || !s.full)
			break;
		if (s.freed && quick++ < PLACE_QUICK)
			continue;
		quick = 0;
		if (timeout == 0)
			return SHMT_EAGAIN;
		sleep_ns(timeout > 0 && left < poll ? left : poll);
		poll = poll * 2 < PLACE_POLL_LAST ? poll * 2 : PLACE_POLL_LAST;
	}
	if (rc != SHMT_OK)
		return rc;
	/* a place taken (if any) names the entry the ticket gets, or goes
	 * back with a wait that failed; lost while we waited: wait for a
	 * place again, then a new slot */
	if ((rc = wait_held(r, tk, &s, rc, tok)) == PLACE_LOST) {
		cost = s.cost;
		goto again;
	}
	return rc;
}

int
shmt_redis_acquire(struct shmt_redis *r, shmt_ticket *tk, uint32_t cost,
                   uint64_t owner, double timeout)
{
	char tok[OWNER_MAX];

	owner_token(owner, tok);
	return acquire_tok(r, tk, cost, tok, r->mono(), timeout);
}

int
shmt_redis_release(struct shmt_redis *r, const shmt_ticket *tk)
{
	int rc;

	/* beyond 2^53 a Lua number is not exact: no entry of ours */
	if (tk->seq >= (1ULL << 53))
		return SHMT_OK;
	pthread_mutex_lock(&r->mu);
	rc = release_seq(r, (int64_t)tk->seq);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* One place of the places reply into *p; 0 if malformed. */
static int
place_of(const redisReply *e, int64_t now, shmt_place *p)
{
	int ok = 1;
	int64_t seq = ival(e, 0, &ok), since = ival(e, 1, &ok),
	        cost = ival(e, 3, &ok);
	const char *tok = sval(e, 2, &ok), *pid = strchr(tok, ':');

	if (!ok || seq < 0 || since < 0 || cost < 0)
		return 0;
	*p = (shmt_place){
		.pid = pid ? strtol(pid + 1, NULL, 10) : 0,
		.seq = (uint64_t)seq,
		.held = since < now ? (double)(now - since) / 1e6 : 0,
		.cost = (uint64_t)cost,
	};
	return 1;
}

int
shmt_redis_places_read(struct shmt_redis *r, shmt_place *buf, size_t n,
                       size_t *got)
{
	const char *argv[1] = { "places" };
	redisReply *rep;
	int rc, ok = 1;

	*got = 0;
	pthread_mutex_lock(&r->mu);
	rc = run(r, 1, argv, &rep);
	if (rc == SHMT_OK) {
		int64_t now = ival(rep, 1, &ok);

		for (size_t i = 2; ok && i < rep->elements && *got < n; i++)
			ok = place_of(rep->element[i], now, &buf[(*got)++]);
		if (!ok)
			rc = malformed(r);
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Seconds (-1: none) as the script's µs. */
static void
us_arg(char *buf, double s)
{
	snprintf(buf, 32, "%.0f", s >= 0 ? fmin(s, 1e7) * 1e6 : -1.0);
}

/* The record's arguments, argv[1..10], in a[0..8] and u; under r->mu. */
static void
record_args(const struct shmt_redis *r, const shmt_ticket *tk, int status,
            double retry_after, const char *url, unsigned flags, char a[][32],
            char *u, const char **argv)
{
	/* beyond 2^53 a Lua number is not exact: no entry of ours */
	snprintf(a[0], 32, "%" PRId64,
	         tk->seq < (1ULL << 53) ? (int64_t)tk->seq : -1);
	snprintf(a[1], 32, "%" PRId64, server_us(r, tk->send_ns));
	snprintf(a[2], 32, "%" PRId64,
	         tk->sent_ns > 0 ? server_us(r, tk->sent_ns) : -1);
	snprintf(a[3], 32, "%" PRId64, tk->rtt_ns > 0 ? tk->rtt_ns / US : -1);
	snprintf(a[4], 32, "%d", status);
	us_arg(a[5], retry_after);
	snprintf(a[6], 32, "%u", flags & SHMT_RECORD_RETRY);
	snprintf(a[7], 32, "%" PRIu32, tk->attempt);
	snprintf(u, SHMT_URL_MAX, "%s", url ? url : "");
	/* our reading of the server's clock is good to a round trip: the
	 * lateness counts it, so the margin covers it */
	snprintf(a[8], 32, "%" PRId64, r->best_rtt / US);
	for (int i = 0; i < 8; i++)
		argv[i + 1] = a[i];
	argv[9] = u;
	argv[10] = a[8];
}

/* The verdict and the wait in reply elements 1 and 2 into *out. */
static int
parse_outcome(struct shmt_redis *r, const redisReply *rep, shmt_outcome *out)
{
	int ok = 1;
	int64_t verdict = ival(rep, 1, &ok), wait = ival(rep, 2, &ok);

	if (!ok || verdict < 0 || verdict > 2 || wait < 0)
		return malformed(r);
	*out = (shmt_outcome){ .verdict = (int)verdict,
		               .delay = (double)wait / 1e6 };
	return SHMT_OK;
}

int
shmt_redis_record(struct shmt_redis *r, const shmt_ticket *tk, int status,
                  double retry_after, const shmt_quota *q, const char *url,
                  unsigned flags, shmt_outcome *out)
{
	char a[16][32], u[SHMT_URL_MAX],
	    h[sizeof(((shmt_quota *)0)->header) + 1];
	const char *argv[20] = { "record" };
	int argc = 11;
	redisReply *rep;
	shmt_outcome o;
	int rc;

	pthread_mutex_lock(&r->mu);
	record_args(r, tk, status, retry_after, url, flags, a, u, argv);
	/* the quota headers, if any: the script applies them */
	if (q && q->dialect != SHMT_QUOTA_NONE) {
		snprintf(a[9], 32, "%d", q->dialect);
		snprintf(a[10], 32, "%" PRIu32, q->limit);
		us_arg(a[11], q->window > 0 ? q->window : 0);
		snprintf(a[12], 32, "%" PRId64,
		         q->remaining < 0            ? -1
		         : q->remaining > 1000000000 ? 1000000000
		                                     : q->remaining);
		us_arg(a[13], q->reset);
		us_arg(a[14], q->retry_after);
		for (int i = 9; i < 15; i++)
			argv[argc++] = a[i];
		/* the header's name, for the status (NUL-terminated within
		 * its array, whatever the caller left after it) */
		snprintf(h, sizeof(h), "%.*s", (int)sizeof(q->header),
		         q->header);
		argv[argc++] = h;
	}
	rc = run(r, argc, argv, &rep);
	if (rc == SHMT_OK) {
		rc = parse_outcome(r, rep, &o);
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == SHMT_OK && out)
		*out = o;
	return rc;
}

/* shmt_record_acquire: one run records the response and reserves the
 * next slot (one round trip); the waiting, if any, as acquire's. */
int
shmt_redis_record_acquire(struct shmt_redis *r, shmt_ticket *tk, int status,
                          double retry_after, const char *url, unsigned flags,
                          shmt_outcome *out, uint64_t owner, double timeout)
{
	char a[11][32], u[SHMT_URL_MAX], tok[OWNER_MAX];
	const char *argv[14] = { "record_acquire" };
	struct slot s = { .deadline = -1, .tok = tok };
	int64_t start = r->mono();
	redisReply *rep;
	shmt_outcome o;
	int ok = 1, rc;
	int64_t code = 0, full = -1;

	owner_token(owner, tok);
	pthread_mutex_lock(&r->mu);
	record_args(r, tk, status, retry_after, url, flags, a, u, argv);
	timeout_arg(a[9], timeout);
	snprintf(a[10], 32, "%" PRId64, lead(r) / US);
	argv[11] = a[9];
	argv[12] = a[10];
	argv[13] = tok;
	rc = run(r, 14, argv, &rep);
	if (rc == SHMT_OK) {
		rc = parse_outcome(r, rep, &o);
		code = ival(rep, 3, &ok);
		if (rc == SHMT_OK &&
		    (!ok || code < 0 ||
		     (size_t)code >
		         sizeof(script_codes) / sizeof(script_codes[0])))
			rc = malformed(r);
		else if (rc == SHMT_OK && code == 0 && is_int(rep, 4) &&
		         rep->element[4]->integer == -1)
			/* every place held: the cost to wait for one with */
			full = ival(rep, 5, &ok);
		else if (rc == SHMT_OK && code == 0)
			rc = parse_slot(r, rep, 4, &s);
		if (rc == SHMT_OK && (!ok || full > UINT32_MAX))
			rc = malformed(r);
		freeReplyObject(rep);
	}
	s.local = local_ns(r, s.at);
	s.lead = lead(r);
	pthread_mutex_unlock(&r->mu);
	if (rc != SHMT_OK)
		return rc;
	if (out)
		*out = o;
	shmt_ticket_next(tk, o.verdict);
	if (code != 0)
		return script_codes[code - 1];
	/* recorded; the next send waits for a place as acquire does (also
	 * if its place was lost while it waited) */
	if (full >= 0)
		return acquire_tok(r, tk, (uint32_t)full, tok, start, timeout);
	if ((rc = wait_held(r, tk, &s, SHMT_OK, tok)) == PLACE_LOST)
		return acquire_tok(r, tk, s.cost, tok, start, timeout);
	return rc;
}

/* An operation whose answer is only its code. */
static int
simple(struct shmt_redis *r, int argc, const char **argv)
{
	redisReply *rep;
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = run(r, argc, argv, &rep);
	pthread_mutex_unlock(&r->mu);
	if (rc == SHMT_OK)
		freeReplyObject(rep);
	return rc;
}

int
shmt_redis_cost_set(struct shmt_redis *r, const shmt_ticket *tk, uint32_t cost)
{
	char a[2][32];
	const char *argv[3] = { "cost_set", a[0], a[1] };

	/* beyond 2^53 a Lua number is not exact: no entry of ours */
	snprintf(a[0], 32, "%" PRId64,
	         tk->seq < (1ULL << 53) ? (int64_t)tk->seq : -1);
	snprintf(a[1], 32, "%" PRIu32, cost);
	return simple(r, 3, argv);
}

int
shmt_redis_reset(struct shmt_redis *r, unsigned what)
{
	char w[16];
	const char *argv[2] = { "reset", w };

	snprintf(w, sizeof(w), "%u", what);
	return simple(r, 2, argv);
}

int
shmt_redis_config_set(struct shmt_redis *r, const shmt_config *cfg)
{
	char buf[32][32];
	const char *argv[64] = { "config_set" };
	struct shmt_scfg s;
	int argc = 1;

	shmt_scfg_from(&s, cfg);
	if (shmt_scfg_check(&s, r->cap) != SHMT_OK ||
	    (cfg->capacity && cfg->capacity != r->cap))
		return SHMT_ECONFIG;
	cfg_args(cfg, buf, argv, &argc);
	return simple(r, argc, argv);
}

int
shmt_redis_config_get(struct shmt_redis *r, shmt_config *cfg)
{
	const char *argv[1] = { "config_get" };
	struct shmt_scfg s;
	double hold = 0;
	redisReply *rep;
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = run(r, 1, argv, &rep);
	if (rc == SHMT_OK) {
		rc = rep->elements == 2
		         ? parse_config(r, rep->element[1], &s, &hold)
		         : malformed(r);
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == SHMT_OK) {
		shmt_scfg_to(cfg, &s, r->cap);
		cfg->hold_max = hold;
	}
	return rc;
}

/* Samples (µs) of a reply's array into us[], at most SHMT_SAMPLES. */
static int
samples(const redisReply *a, int32_t *us, uint32_t n)
{
	int ok = 1;

	if (a->type != REDIS_REPLY_ARRAY ||
	    a->elements != (n < SHMT_SAMPLES ? n : SHMT_SAMPLES))
		return 0;
	for (size_t i = 0; i < a->elements; i++) {
		int64_t v = ival(a, i, &ok);

		us[i] = v < 0 ? 0 : v > 60000000 ? 60000000 : (int32_t)v;
	}
	return ok;
}

/* The stat reply (the script's ops.stat) into *st. */
static int
parse_stat(struct shmt_redis *r, const redisReply *rep, shmt_stat *st)
{
	struct shmt_timing tm = { 0 };
	struct shmt_scfg s;
	int ok = 1, rc;
	const redisReply *ws;
	double hold;
	int64_t inflight, burst;

	if (rep->elements != 30 ||
	    (rc = parse_config(r, rep->element[2], &s, &hold)))
		return rep->elements != 30 ? malformed(r) : rc;
	shmt_scfg_to(&st->config, &s, r->cap);
	st->config.hold_max = hold;
	inflight = ival(rep, 28, &ok);
	if (inflight < 0 || inflight > SHMT_MAX_PLACES)
		ok = 0;
	st->inflight = (uint32_t)inflight;
	ws = rep->element[3];
	for (int i = 0; i < SHMT_MAX_RATES; i++) {
		int64_t v = ival(ws, (size_t)i, &ok);

		st->window_sends[i] = v < 0 || v > UINT32_MAX ? 0 : (uint32_t)v;
	}
	for (int i = 0; i < SHMT_MAX_UNITS; i++) {
		int64_t v = ival(rep->element[24], (size_t)i, &ok);

		st->window_units[i] = v < 0 ? 0 : (uint64_t)v;
	}
	st->next_slot = (double)ival(rep, 4, &ok) / 1e6;
	st->backoff = (double)ival(rep, 5, &ok) / 1e6;
	st->delay_remaining = (double)ival(rep, 6, &ok) / 1e6;
	st->waiting = (uint32_t)ival(rep, 7, &ok);
	st->log_count = (uint32_t)ival(rep, 8, &ok);
	st->requests = (uint64_t)ival(rep, 9, &ok);
	st->n429 = (uint64_t)ival(rep, 10, &ok);
	st->retries = (uint64_t)ival(rep, 11, &ok);
	st->waited = (double)ival(rep, 12, &ok) / 1e6;
	st->last_429 = (double)ival(rep, 13, &ok) / 1e6;
	st->capacity = r->cap;
	/* the announced limit, its header's name and the quota left */
	if (ival(rep, 18, &ok) > 0 && ival(rep, 19, &ok) > 0) {
		const char *h = sval(rep, 27, &ok);

		st->learned_max = (uint32_t)ival(rep, 18, &ok);
		st->learned_period = (double)ival(rep, 19, &ok) / 1e6;
		st->learned_dialect = (int)ival(rep, 20, &ok);
		st->learned_period_announced = ival(rep, 21, &ok) != 0;
		snprintf(st->learned_header, sizeof(st->learned_header), "%s",
		         h ? h : "");
	}
	/* the probe, and the pace (ns) and burst learned from refusals */
	st->probing = ival(rep, 25, &ok) != 0;
	if (ival(rep, 26, &ok) > 0)
		st->learned_rate = 1e9 / (double)ival(rep, 26, &ok);
	burst = ival(rep, 29, &ok);
	st->learned_burst =
	    burst < 0 || burst > UINT32_MAX ? 0 : (uint32_t)burst;
	st->quota_remaining = ival(rep, 22, &ok);
	if (st->quota_remaining >= 0)
		st->quota_reset = (double)ival(rep, 23, &ok) / 1e6;
	tm.n_late = (uint32_t)ival(rep, 14, &ok);
	tm.n_rtt = (uint32_t)ival(rep, 15, &ok);
	if (!ok || !samples(rep->element[16], tm.late_us, tm.n_late) ||
	    !samples(rep->element[17], tm.rtt_us, tm.n_rtt))
		return malformed(r);
	tm.margin = shmt_timing_margin(&tm);
	shmt_fill_timing(&s, &tm, st);
	return SHMT_OK;
}

int
shmt_redis_stat(struct shmt_redis *r, uint32_t cost, shmt_stat *st)
{
	char c[32];
	const char *argv[2] = { "stat", c };
	redisReply *rep;
	int rc, ok = 1;

	snprintf(c, sizeof(c), "%" PRIu32, cost);
	pthread_mutex_lock(&r->mu);
	rc = run(r, 2, argv, &rep);
	if (rc == SHMT_OK) {
		rc = parse_stat(r, rep, st);
		if (rc == SHMT_OK)
			learn_clock(r, ival(rep, 1, &ok), r->last_rtt);
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
shmt_redis_log_read(struct shmt_redis *r, shmt_log_entry *buf, size_t n,
                    size_t *got)
{
	char w[32];
	const char *argv[2] = { "log", w };
	redisReply *rep;
	int rc, ok = 1;

	*got = 0;
	snprintf(w, sizeof(w), "%zu", n);
	pthread_mutex_lock(&r->mu);
	rc = run(r, 2, argv, &rep);
	if (rc == SHMT_OK) {
		for (size_t i = 1; i < rep->elements && *got < n; i++) {
			const redisReply *e = rep->element[i];
			shmt_log_entry *o = &buf[(*got)++];

			o->seq = (uint64_t)ival(e, 0, &ok);
			o->wall = (double)ival(e, 1, &ok) / 1e6;
			o->status = (int)ival(e, 2, &ok);
			snprintf(o->url, sizeof(o->url), "%s", sval(e, 3, &ok));
		}
		if (!ok)
			rc = malformed(r);
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
shmt_redis_remove(const struct shmt_backend_url *u, const char *name)
{
	struct shmt_redis *r = redis_new(u, name, NULL);
	const char *argv[1] = { "remove" };
	int rc;

	if (!r)
		return SHMT_ENOMEM;
	rc = simple(r, 1, argv);
	shmt_redis_close(r);
	return rc;
}

/* "shmt:{NAME}" -> NAME, if it is one. */
static int
name_of(const char *key, char *name)
{
	size_t n = strlen(key);

	if (n < 8 || strncmp(key, "shmt:{", 6) || key[n - 1] != '}' ||
	    n - 7 > SHMT_NAME_MAX)
		return 0;
	memcpy(name, key + 6, n - 7);
	name[n - 7] = '\0';
	return shmt_name_check(name) == SHMT_OK;
}

int
shmt_redis_list(const struct shmt_backend_url *u,
                int (*fn)(const char *, void *), void *arg)
{
	struct shmt_redis *r = redis_new(u, NULL, NULL);
	char cursor[32] = "0", name[SHMT_NAME_MAX + 1];
	struct pipe_guard g;
	int rc, stop = 0;

	if (!r)
		return SHMT_ENOMEM;
	guard_on(&g);
	pthread_once(&src_once, build_sources);
	rc = connect_to(r);
	do {
		redisReply *rep;

		if (rc != SHMT_OK)
			break;
		rep = redisCommand(r->c, "SCAN %s MATCH shmt:{* COUNT 1000",
		                   cursor);
		if (!rep) {
			rc = io_error(r);
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR)
			rc = server_error(r, rep->str);
		else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		         rep->element[0]->type != REDIS_REPLY_STRING ||
		         rep->element[1]->type != REDIS_REPLY_ARRAY)
			rc = SHMT_EBACKEND;
		if (rc == SHMT_OK) {
			const redisReply *keys = rep->element[1];

			snprintf(cursor, sizeof(cursor), "%s",
			         rep->element[0]->str);
			for (size_t i = 0; i < keys->elements && !stop; i++)
				if (keys->element[i]->type ==
				        REDIS_REPLY_STRING &&
				    name_of(keys->element[i]->str, name))
					stop = fn(name, arg);
		}
		freeReplyObject(rep);
	} while (rc == SHMT_OK && !stop && strcmp(cursor, "0") != 0);
	guard_off(&g);
	shmt_redis_close(r);
	return rc;
}
