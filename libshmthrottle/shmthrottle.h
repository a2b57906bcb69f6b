/*
 * shmthrottle.h - one API rate limit, shared by every process on a host.
 *
 * A throttle is a named POSIX shared-memory segment holding a log of the
 * requests sent (a ring buffer), the backoff state and the end of the
 * current shared delay, behind a process-shared lock word.  Processes
 * that never met (xargs -P workers, cron jobs, an operator's shell) open
 * the same name and together stay under the limit:
 *
 *     shmt_throttle *t;
 *     shmt_config cfg;
 *     shmt_config_init(&cfg);
 *     cfg.nrates = 1;
 *     cfg.rates[0].max = 120;            // 120 requests ...
 *     cfg.rates[0].period = 60.0;        // ... per 60 seconds
 *     if (shmt_open(&t, "myapi", &cfg, SHMT_CREATE) != SHMT_OK) ...
 *
 *     shmt_ticket tk;
 *     shmt_ticket_init(&tk);
 *     shmt_outcome out;
 *     do {
 *             // sleeps until our turn
 *             shmt_acquire(t, &tk, -1);
 *             int status = send_request(&retry_after);
 *             shmt_record(t, &tk, status, retry_after, url, 0, &out);
 *     } while (out.verdict == SHMT_RETRY);
 *     shmt_close(t);
 *
 * Every function returns 0 (SHMT_OK) or a code of enum shmt_code, which
 * shmt_strerror() turns into a sentence.  Times cross this API as double
 * seconds; inside they are nanoseconds of CLOCK_MONOTONIC.
 *
 * Trust: every process that can write the segment (its owner, and with
 * SHMT_GROUP the members of its group) shares the limit, and can disturb
 * it or stop it (SHMT_EBUSY, SHMT_ECORRUPT, SHMT_EREMOVED) -- never make
 * another process crash, follow a pointer or sleep absurdly long.  Only
 * truncation needs the caller's help:
 *
 * Truncation: a peer that shrinks the segment (ftruncate, `truncate -s 0`)
 * makes the next access to the mapping raise SIGBUS.  The library checks
 * the size where it can -- after every wait in shmt_acquire() and before
 * status, log, reset and configuration calls, giving SHMT_ETRUNCATED --
 * but not on the hot path of an acquire that need not wait or of
 * shmt_record().  A program that shares its segments with processes it
 * does not trust must handle SIGBUS: the throttle tools print one line
 * and exit with their segment status; a library caller installs a
 * handler that does the same, or sigsetjmp()s around the call and treats
 * the throttle as gone (close it; do not touch it again).
 *
 * ABI: the structs passed by address (shmt_config, shmt_stat, ...) end in
 * reserved space.  New fields are only ever taken from it, and a field's
 * zero value always means what the library did before the field existed,
 * so a caller built against an older header keeps working.  The *_init()
 * functions zero everything; shmt_config_check() refuses non-zero reserved
 * bytes, so a caller built against a newer header is refused rather than
 * half understood.
 */
#ifndef SHMTHROTTLE_H
#define SHMTHROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define SHMT_VERSION_MAJOR 0
#define SHMT_VERSION_MINOR 2
#define SHMT_VERSION_PATCH 0
#define SHMT_VERSION_STRING "0.2.0"

#if defined(__GNUC__)
#define SHMT_API __attribute__((visibility("default")))
#else
#define SHMT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Return codes.  Each means one thing; new codes are only ever added last
 * and none is ever renumbered.
 */
enum shmt_code {
	SHMT_OK = 0,
	/** an argument is invalid (NULL, negative, NaN) */
	SHMT_EINVAL,
	/** the name is not [A-Za-z0-9_.-]{1,SHMT_NAME_MAX} */
	SHMT_ENAME,
	/** the configuration is inconsistent or out of range */
	SHMT_ECONFIG,
	/** no throttle of that name */
	SHMT_ENOENT,
	/** the throttle exists (SHMT_CREATE|SHMT_EXCL) */
	SHMT_EEXIST,
	/** the segment belongs to another user, or others may write it */
	SHMT_EPERM,
	/** not a libshmthrottle segment (magic or size) */
	SHMT_EINVALID,
	/** the segment has another layout version */
	SHMT_EVERSION,
	/** the segment's state is damaged */
	SHMT_ECORRUPT,
	/** the segment's lock has been held for over 5 s (a stopped process?),
	 *  or at all with SHMT_TRYLOCK */
	SHMT_EBUSY,
	/** the wait would exceed the caller's timeout */
	SHMT_ETIMEDOUT,
	/** non-blocking call: not admitted now */
	SHMT_EAGAIN,
	/** the ticket is malformed */
	SHMT_ETICKET,
	/** a header value is not understood */
	SHMT_EHEADER,
	/** out of memory */
	SHMT_ENOMEM,
	/** a system call failed; errno tells which way */
	SHMT_ESYS,
	/** the segment is still being created by another process */
	SHMT_ECREATING,
	/** the log is full of reservations still to come and of the sends
	 *  they are spaced from (raise the capacity) */
	SHMT_EFULL,
	/** the task runner is running: schedule or run once it returns */
	SHMT_ERUNNING,
	/** the throttle was removed (shmt_remove()) while this handle was
	 *  open: close it and open the name again */
	SHMT_EREMOVED,
	/** the segment was truncated by another process while in use (see
	 *  "Truncation" below) */
	SHMT_ETRUNCATED,
	/** the backend URL is malformed (shmt_backend_message() says how) */
	SHMT_EURL,
	/** the backend needs what this build lacks (rediss://: TLS) */
	SHMT_ENOTSUP,
	/** the Redis server cannot be reached (refused, no such host, no
	 *  connection within the time-out) */
	SHMT_EUNREACHABLE,
	/** the Redis server did not answer within the time-out, or the
	 *  connection was lost: the call's effect is unknown (the handle
	 *  connects again on its next call) */
	SHMT_ELOST,
	/** the Redis server refused the user or password */
	SHMT_EAUTH,
	/** the Redis server's ACL forbids a command or key the throttle needs
	 */
	SHMT_ENOPERM,
	/** the throttle's state is gone from the Redis server (removed, or
	 *  lost in a restart or flush): open it again */
	SHMT_EGONE,
	/** the Redis server refused the command otherwise (out of memory,
	 *  read-only replica, ...; shmt_backend_message() has its words) */
	SHMT_EBACKEND,
	/** the cost exceeds what a unit limit admits in one window (or, with
	 *  the smooth policy, in one burst): it could never be admitted */
	SHMT_ECOST
};

/** Longest throttle name, in bytes, without the terminating NUL. */
#define SHMT_NAME_MAX 64
/** Size of the URL field of a log entry, NUL included (longer URLs are cut).
 *  URLs are kept for the newest 1024 requests only (shmt_log_read()). */
#define SHMT_URL_MAX 96
/** Most rates one throttle enforces together. */
#define SHMT_MAX_RATES 4
/** Most unit limits (rates in units of cost) one throttle enforces. */
#define SHMT_MAX_UNITS 2
/** Largest cap on the requests in flight (shmt_config.concurrency). */
#define SHMT_MAX_PLACES 256
/** Seconds a place in flight is held at most on Redis when
 *  shmt_config.hold_max is 0. */
#define SHMT_HOLD_MAX_DEFAULT 300

/** How a known rate is enforced. */
enum shmt_policy {
	/** At most `max` sends in every sliding window of `period` seconds:
	 *  full bursts, and safe against fixed windows, sliding windows and
	 *  leaky buckets with a burst of `max` (the default). */
	SHMT_POLICY_WINDOW = 0,
	/** GCRA: one send every period/max seconds, `burst` at once at most;
	 *  for servers with a leaky bucket and a small burst (nginx limit_req).
	 */
	SHMT_POLICY_SMOOTH = 1
};

/** One limit: at most `max` requests in `period` seconds. */
typedef struct shmt_rate {
	uint32_t max;
	double period;
} shmt_rate;

/**
 * A throttle's configuration.  Start from shmt_config_init(); a period
 * without a max (or the reverse) is refused with SHMT_ECONFIG.
 */
typedef struct shmt_config {
	unsigned nrates;                 /**< 0: the limit is unknown */
	shmt_rate rates[SHMT_MAX_RATES]; /**< all enforced together */
	int policy;                      /**< enum shmt_policy */
	uint32_t burst;                  /**< SMOOTH: sends at once (1) */
	/** seconds added to each spacing against jitter (0.005): a floor
	 *  under the margin the processes measure, or with margin_fixed the
	 *  margin itself */
	double margin;
	/** first backoff, and the least delay after a 429 (1.0) */
	double backoff_initial;
	/** backoff growth, >= 1 (2.0) */
	double backoff_multiplier;
	/** backoff cap (60); the longest period caps it too */
	double backoff_max;
	/** Retry-After cap (21600 = 6 h) */
	double retry_after_max;
	/** retries per request (3) */
	uint32_t max_retries;
	/** log entries, 16 to 2^24: the largest max, and room for the
	 *  reservations of waiting processes; 0: largest max + max(2048,
	 *  largest max / 4), at least 4096, at most 2^24.  Fixed at
	 *  creation. */
	uint32_t capacity;
	/** 0: the margin follows what the processes measure (the lateness of
	 *  sends and the spread of round trips, or their highest until 32
	 *  are in; at most 10 % of each spacing), never below `margin`;
	 *  1: exactly `margin` */
	int margin_fixed;
	/** unit limits: at most `max` units of cost (tokens, query points,
	 *  weights) per `period` seconds, beside the request rates.  Every
	 *  send costs 1 against `rates` and its declared cost
	 *  (shmt_acquire_cost()) against `units`.  0: costs are not counted */
	unsigned nunits;
	shmt_rate units[SHMT_MAX_UNITS];
	/** SMOOTH: the units admitted at once (0: each unit limit's max) */
	uint32_t unit_burst;
	/** at most this many requests in flight (acquired, not yet recorded)
	 *  across all processes, 1..SHMT_MAX_PLACES; 0: no cap */
	uint32_t concurrency;
	/** on Redis, the lease of a place in flight, in seconds (0.001 to
	 *  604800; 0: SHMT_HOLD_MAX_DEFAULT): the server frees a place this
	 *  long after its holder's last call (its acquire; while it waits
	 *  for its slot, each look at it, at least every 0.5 s), so that
	 *  the places of a host that died come back.  A waiter keeps its
	 *  place however long it waits; a request recorded more than this
	 *  after its slot loses it: set it above the longest request plus
	 *  0.5 s.  Shared memory finds its dead holders through the kernel:
	 *  it times nothing out, and neither keeps nor uses this */
	double hold_max;
	/** zero; later fields come from here (see "ABI" above) */
	unsigned char reserved[200];
} shmt_config;

/** Fill *cfg with the defaults above (no rate known), reserved zeroed. */
SHMT_API void shmt_config_init(shmt_config *cfg);
/** SHMT_OK if *cfg is usable, else SHMT_ECONFIG. */
SHMT_API int shmt_config_check(const shmt_config *cfg);

/** An open throttle.  Opaque.  The threads of a process may share one
 *  (all its state is behind the segment's lock); close it once, after. */
typedef struct shmt_throttle shmt_throttle;

/* Flags of shmt_open(). */
/** create the throttle with cfg if absent */
#define SHMT_CREATE 0x1u
/** with SHMT_CREATE: SHMT_EEXIST if present */
#define SHMT_EXCL 0x2u
/** create with mode 0660, and accept a segment of another user whose
 *  group is ours */
#define SHMT_GROUP 0x4u
/** every lock of this handle, the one at open included, gives up after
 *  a short try (10 ms) with SHMT_EBUSY instead of waiting up to 5 s for
 *  a holder that does not let go: for tools that look at many throttles
 *  (throttlectl list), never for pacing */
#define SHMT_TRYLOCK 0x8u

/**
 * Open the throttle `name`, creating it from `cfg` if it is absent and
 * flags has SHMT_CREATE (an existing throttle keeps its configuration:
 * compare with shmt_config_get()).  When many processes create one name
 * at once exactly one initialises it and no one uses it half-built.
 * The segment is checked in O(1), whatever its log holds: magic,
 * version, size, owner, the configuration and state, the oldest and
 * newest log entries (shmt_verify() checks every entry).
 * On success *tp is a handle to release with shmt_close().
 */
SHMT_API int shmt_open(shmt_throttle **tp, const char *name,
                       const shmt_config *cfg, unsigned flags);
/**
 * Open the throttle `name` where `backend` says, as shmt_open() does:
 *   NULL, "" or "shm:"                this host's shared memory (shmt_open())
 *   redis://[USER@]HOST[:PORT][/DB]   a Redis server (port 6379, db 0)
 *   redis+unix:///PATH[?db=N][&user=USER]  a Redis server on a unix socket
 * Either Redis form takes `timeout=S` (`?timeout=0.5`, `&timeout=0.5`):
 * the connect and the command time-out, 2 s by default.  rediss:// gives
 * SHMT_ENOTSUP (this build's hiredis has no TLS).  A password never goes
 * in the URL (SHMT_EURL): it is read, like libpq's, from the file named
 * by THROTTLE_REDIS_PASSWORD_FILE (first line), else from
 * THROTTLE_REDIS_PASSWORD, else REDISCLI_AUTH.  On Redis, every call is
 * one server-side script with the server's clock; a handle may be shared
 * by threads (their calls take turns on its one connection) and by a
 * child after fork() (which connects anew).  SHMT_GROUP means nothing
 * there: Redis's ACL decides who may use the keys (docs/design.md,
 * "Redis backend").  Failures of the server are the codes from
 * SHMT_EURL on; shmt_backend_message() has the details.
 */
SHMT_API int shmt_open_backend(shmt_throttle **tp, const char *backend,
                               const char *name, const shmt_config *cfg,
                               unsigned flags);
/** shmt_remove() on a backend (see shmt_open_backend()): deletes every key
 *  of the throttle; open handles get SHMT_EGONE. */
SHMT_API int shmt_remove_backend(const char *backend, const char *name);
/** shmt_list() on a backend (see shmt_open_backend()). */
SHMT_API int shmt_list_backend(const char *backend,
                               int (*fn)(const char *name, void *arg),
                               void *arg);
/** What the last backend failure of this thread was, in words: a bad
 *  URL's fault, hiredis's or the Redis server's message (never a
 *  password); "" if none.  Valid until the thread's next call. */
SHMT_API const char *shmt_backend_message(void);
/** Unmap and free the handle; NULL is a no-op.  The throttle stays. */
SHMT_API void shmt_close(shmt_throttle *t);
/**
 * Remove the throttle `name`.  It is first marked removed and every
 * process waiting in shmt_acquire() is woken: from then on every call on
 * a handle opened before returns SHMT_EREMOVED (so that the old copy and
 * a new throttle of the same name never pace at once).  A segment
 * deleted behind the library's back (rm /dev/shm/shmthrottle.NAME) cannot
 * be marked; the handles notice it when they next wait or read the
 * status.
 */
SHMT_API int shmt_remove(const char *name);
/** SHMT_OK if `name` is a valid throttle name, else SHMT_ENAME. */
SHMT_API int shmt_name_check(const char *name);
/** The name `t` was opened with. */
SHMT_API const char *shmt_name(const shmt_throttle *t);

/**
 * One request's passport, from its first acquire to its last record.
 * `attempt` counts the sends; shmt_ticket_init() before the first.
 */
typedef struct shmt_ticket {
	/** its entry in the log */
	uint64_t seq;
	/** admitted send time, CLOCK_MONOTONIC ns */
	int64_t send_ns;
	/** 1 on the first send */
	uint32_t attempt;
	/** optional, set before shmt_record(): when the request really left
	 *  (CLOCK_MONOTONIC ns; 0: unknown, taken as send_ns) */
	int64_t sent_ns;
	/** optional, likewise: ns from the request leaving to the first byte
	 *  of its answer (0: unknown) */
	int64_t rtt_ns;
} shmt_ticket;

SHMT_API void shmt_ticket_init(shmt_ticket *tk);
/** Write the ticket as text ("SEQ:SEND_NS:ATTEMPT") into buf; the
 *  optional measures are not part of it. */
SHMT_API int shmt_ticket_format(const shmt_ticket *tk, char *buf, size_t len);
/** Read a ticket written by shmt_ticket_format(); SHMT_ETICKET if bad. */
SHMT_API int shmt_ticket_parse(const char *s, shmt_ticket *tk);

/**
 * Block until this caller may send one request: after the end of any
 * shared delay, and, with a known rate, in the first free slot, first
 * come first served across processes.  The slot is reserved in the log
 * at once; the wait happens outside the lock and a reset or a
 * reconfiguration that frees slots wakes it early.
 *
 * timeout: seconds; < 0 waits as long as it takes; 0 never waits
 * (SHMT_EAGAIN, nothing reserved, if the slot is not free now).  If the
 * slot is further away than the timeout, SHMT_ETIMEDOUT is returned at
 * once and nothing is reserved.  On success tk->seq, tk->send_ns are set
 * and tk->attempt is incremented.  A caller that reaches its slot later
 * than the margin (stopped, starved of CPU) takes a new slot and waits
 * for it; the missed one stays counted as a send.
 */
SHMT_API int shmt_acquire(shmt_throttle *t, shmt_ticket *tk, double timeout);

/* Flags of shmt_acquire_cost(). */
/** this send belongs to a request that already holds a place in flight
 *  (a redirect's next hop): take no place */
#define SHMT_ACQUIRE_NOPLACE 0x1u

/**
 * shmt_acquire() of a send that costs `cost` units against the unit
 * limits (shmt_config.units; shmt_acquire() declares 1) and, with
 * shmt_config.concurrency, a place in flight:
 *
 * Costs: the send is admitted when the costs in every window of each
 * unit limit (declared costs, and actual ones once shmt_cost_set() gave
 * them), its own included, stay within the limit.  First come, first
 * served: a send never overtakes one that asked before it, so a large
 * cost waits for room and the small costs after it wait behind it (it
 * is never starved).  A cost above a unit limit's max (with the smooth
 * policy: above its burst) could never be admitted: SHMT_ECOST at once.
 *
 * Places: with a concurrency cap, the caller first takes a place, waiting
 * (up to the timeout; timeout 0: SHMT_EAGAIN) while all are held.  The
 * place belongs to this process (or to the one shmt_owner_set() named)
 * until shmt_record() or shmt_release() of the ticket gives it back; a
 * holder that is gone (killed) is found out and its place given back
 * when the cap is reached.  Places are not handed out in order: a freed
 * place goes to the first waiter that takes the lock.  On Redis the
 * owner is the process on its host (boot id and PID namespace): only a
 * waiter on the holder's host can find it gone, and every place is also
 * freed by the server hold_max seconds after its holder's last call (a
 * host that died whole, or a request recorded more than hold_max after
 * its slot, loses it).  The wait renews the lease (each look at the
 * slot, at least every 0.5 s); a waiter stopped past its lease takes a
 * place again, or waits for one and then a new slot, within the
 * timeout.
 *
 * flags: SHMT_ACQUIRE_NOPLACE, or 0.  Otherwise as shmt_acquire().
 */
SHMT_API int shmt_acquire_cost(shmt_throttle *t, shmt_ticket *tk, uint32_t cost,
                               unsigned flags, double timeout);

/**
 * The actual cost of the request of tk, once known (an API's usage
 * report): its log entry's cost becomes `cost`, so that later sends
 * count what was really used.  A lower cost (a refund) frees room in the
 * windows that hold the entry: the reservations still in the future are
 * planned again, earlier where they may be, and their waiters woken (on
 * Redis nothing wakes: a waiter sees its new slot at its next look, at
 * most 0.5 s later); a higher one (a charge) moves the future
 * reservations later if they must.
 * The entry's time never changes, and the sends already admitted stay
 * admitted.  Call it before or after shmt_record(); an entry the log no
 * longer holds is left as it was.  Returns SHMT_OK or the lock's code.
 */
SHMT_API int shmt_cost_set(shmt_throttle *t, const shmt_ticket *tk,
                           uint32_t cost);

/**
 * Give back the place in flight of tk's request without recording a
 * response (a request abandoned, or run by `throttlectl run`).
 * shmt_record() gives it back itself.  A ticket without a place: SHMT_OK.
 */
SHMT_API int shmt_release(shmt_throttle *t, const shmt_ticket *tk);

/**
 * Places taken through `t` from now on belong to process `pid` (0: the
 * caller, the default): a tool that acquires for its parent shell
 * (`throttlectl acquire`) names the shell, whose death gives them back.
 * SHMT_EINVAL if no such process.
 */
SHMT_API int shmt_owner_set(shmt_throttle *t, long pid);

/** What shmt_record() advises. */
enum shmt_verdict {
	/** the response is final: use it */
	SHMT_DONE = 0,
	/** acquire again and resend (shmt_acquire() enforces the delay) */
	SHMT_RETRY = 1,
	/** retryable, but max_retries is used up */
	SHMT_GIVE_UP = 2
};

typedef struct shmt_outcome {
	/** enum shmt_verdict */
	int verdict;
	/** seconds to wait before the retry (the shared delay, or this
	 *  request's own backoff after a transport error); 0 if none */
	double delay;
} shmt_outcome;

/* Flags of shmt_record(). */
/** `status` is one the API answers when the client should back off and
 *  retry (a 503, a platform's 500 with a known body); with status <= 0: a
 *  transient transport error */
#define SHMT_RECORD_RETRY 0x1u

/**
 * Report the response to the request of ticket tk.  With tk->sent_ns and
 * tk->rtt_ns set, the measures feed the shared estimate of lateness and
 * round trips that the adaptive margin follows, and a request that left
 * later than its slot counts as sent when it left: the reservations that
 * would now be too early move later (never earlier).
 * status: HTTP status, or <= 0 for no response.
 * retry_after: the Retry-After delay in seconds counted from the send
 *   (see shmt_retry_after_parse()), or < 0 if the response had none.
 * url: for the log, may be NULL.
 *
 * A 429 (or a SHMT_RECORD_RETRY status) publishes one shared end of delay,
 * computed from Retry-After, else from the run rate over the period, else
 * by exponential backoff, and never less than backoff_initial from now;
 * unless the request was sent before the current delay ended, in which
 * case that delay already covers it.  The end of delay never moves
 * backwards.  A success (1xx-3xx) or a 401 resets the backoff.
 */
SHMT_API int shmt_record(shmt_throttle *t, const shmt_ticket *tk, int status,
                         double retry_after, const char *url, unsigned flags,
                         shmt_outcome *out);

/**
 * shmt_record() of the request of *tk, then shmt_acquire() of the next
 * send, under one lock and one clock read: the loop of a worker that
 * sends request after request.  *tk is, on entry, the ticket of the
 * request answered; on return the ticket of the next send: the same
 * request again if the verdict (in *out, which may be NULL) is
 * SHMT_RETRY (attempt incremented, sent_ns and rtt_ns cleared), else a
 * fresh ticket for the next request.  timeout as for shmt_acquire().
 * Returns SHMT_OK, or the acquire's code (the response is recorded all
 * the same, *out is filled, and *tk holds no slot), or the lock's code
 * (then nothing was recorded).  On Redis: one run on the server, one
 * round trip (acquire + record are two).
 */
SHMT_API int shmt_record_acquire(shmt_throttle *t, shmt_ticket *tk, int status,
                                 double retry_after, const char *url,
                                 unsigned flags, shmt_outcome *out,
                                 double timeout);

/**
 * Turn a Retry-After header value into seconds from the send.
 * value: delay-seconds ("120", also "1.5") or an HTTP-date in any of the
 *   three forms of RFC 9110 (IMF-fixdate, RFC 850, asctime; read with
 *   strptime(3) in the C locale and timegm(3), whatever the program's
 *   locale); optional white space around it is ignored.
 * date: the response's Date header or NULL; when given, a date is measured
 *   against it (server clock against server clock, so clock skew cancels);
 *   otherwise against sent_wall (seconds since the epoch, our clock).
 * max: cap in seconds.  A date in the past gives 0.
 * Returns SHMT_EHEADER for anything else (empty, "-1", "soon").
 */
SHMT_API int shmt_retry_after_parse(const char *value, const char *date,
                                    double sent_wall, double max,
                                    double *seconds);

/* ---- Quota headers ------------------------------------------------------ */

/** The family of rate-limit headers a response carried. */
enum shmt_quota_dialect {
	/** none understood */
	SHMT_QUOTA_NONE = 0,
	/** IETF draft, structured fields: RateLimit-Policy: "p";q=N;w=S and
	 *  RateLimit: "p";r=R;t=S (also the draft-07 dictionary form
	 *  RateLimit: limit=N, remaining=R, reset=S) */
	SHMT_QUOTA_IETF = 1,
	/** the older draft: RateLimit-Limit / -Remaining / -Reset (GitLab) */
	SHMT_QUOTA_IETF_OLD = 2,
	/** X-RateLimit-Limit / -Remaining / -Reset, and -Reset-After
	 *  (GitHub, GitLab, Discord; X's x-rate-limit-* too) */
	SHMT_QUOTA_XRATELIMIT = 3,
	/** OpenAI: x-ratelimit-limit-requests, -remaining-requests,
	 *  -reset-requests as a duration ("6m0s", "1s", "120ms") */
	SHMT_QUOTA_OPENAI = 4,
	/** Anthropic: anthropic-ratelimit-requests-limit, -remaining, -reset
	 *  as an RFC 3339 date */
	SHMT_QUOTA_ANTHROPIC = 5,
	/** Reddit: x-ratelimit-used, -remaining, -reset (seconds) */
	SHMT_QUOTA_REDDIT = 6
};

/** One response header, as a name and a value (neither needs a NUL past
 *  its text: both are NUL-terminated strings). */
typedef struct shmt_http_header {
	const char *name;
	const char *value;
} shmt_http_header;

/**
 * What a response's headers say of the quota, from shmt_quota_parse().
 * Every time is in seconds counted from the response (its arrival).
 */
typedef struct shmt_quota {
	/** enum shmt_quota_dialect; SHMT_QUOTA_NONE: nothing below is known */
	int dialect;
	/** requests allowed per window; 0: not announced */
	uint32_t limit;
	/** the window the limit counts, seconds; 0: not announced */
	double window;
	/** requests left before the reset; -1: not announced */
	int64_t remaining;
	/** seconds until the quota is whole again; -1: not announced */
	double reset;
	/** retry-after-ms (or Retry-After) in seconds; -1: none */
	double retry_after;
	/** the header the quota was read from, lower case ("" if none) */
	char header[40];
	/** zero; later fields come from here (see "ABI" above) */
	unsigned char reserved[64];
} shmt_quota;

/**
 * Read the rate-limit headers of one response (every dialect of enum
 * shmt_quota_dialect, and retry-after-ms / Retry-After) into *q.  Pure: no
 * clock is read, nothing is kept.
 * h, n: the response's headers, names in any case; a name given twice
 *   counts as the last one.  A "Date" header among them is the server's
 *   clock: absolute resets (epoch seconds or milliseconds, RFC 3339 dates)
 *   are measured against it when our clock `now` disagrees with it by over
 *   2 s, else against `now`.
 * now: our wall clock, epoch seconds.
 * max: cap on every delay read, seconds (retry_after_max).
 * A reset may be seconds from now, an epoch (any value over 10 years of
 * seconds is one: never a delay), a duration or a date.  Garbage, negative
 * numbers, a remaining above the limit and resets more than a year away
 * are ignored (the field stays unknown); known delays are at most `max`.
 * Returns SHMT_OK (q->dialect says whether anything was understood), or
 * SHMT_EINVAL for a NULL q, NULL h with n > 0, or a `max` not > 0.
 */
SHMT_API int shmt_quota_parse(const shmt_http_header *h, size_t n, double now,
                              double max, shmt_quota *q);
/** The dialect's name ("ietf", "ietf-old", "x-ratelimit", "openai",
 *  "anthropic", "reddit"; "none"). */
SHMT_API const char *shmt_quota_dialect_name(int dialect);

/**
 * shmt_record() with what the response's quota headers said (q from
 * shmt_quota_parse(), or NULL: exactly shmt_record()).  Beside the rules of
 * shmt_record():
 * - remaining 0 with a reset: one shared pause until the reset, whatever
 *   the status; a 403 or 429 then is retryable (GitHub answers 403);
 * - remaining low: the requests left (less those already on their way)
 *   are spread over the time to the reset, across every process;
 * - an announced limit (and window, or the longest time to a reset seen)
 *   is enforced beside the configured rates: the stricter holds;
 * - retry-after-ms counts as Retry-After when retry_after < 0.
 * Without any quota header and without a configured rate, refusals teach
 * a shared pacing rate (see shmt_stat's learned_rate).
 */
SHMT_API int shmt_record_quota(shmt_throttle *t, const shmt_ticket *tk,
                               int status, double retry_after,
                               const shmt_quota *q, const char *url,
                               unsigned flags, shmt_outcome *out);

/* What shmt_reset() clears; the waiting processes are woken at once. */
#define SHMT_RESET_BACKOFF 0x1u /**< the backoff delay */
/** the shared end of delay, and the pause and pace refusals or an empty
 *  quota taught (learned state that holds requests back) */
#define SHMT_RESET_DELAY 0x2u
#define SHMT_RESET_LOG 0x4u      /**< the sent requests (reservations stay) */
#define SHMT_RESET_COUNTERS 0x8u /**< requests, 429s, retries, time waited */
/** all that was learned: the announced limit too (a plan changed) */
#define SHMT_RESET_LEARNED 0x10u
#define SHMT_RESET_ALL 0x1fu

SHMT_API int shmt_reset(shmt_throttle *t, unsigned what);

/** Copy the current configuration into *cfg. */
SHMT_API int shmt_config_get(shmt_throttle *t, shmt_config *cfg);
/**
 * Reconfigure a live throttle, keeping its log (capacity cannot change:
 * the new largest max must fit it).  Waiting processes are re-planned.
 */
SHMT_API int shmt_config_set(shmt_throttle *t, const shmt_config *cfg);

/** A snapshot of a throttle's state, from shmt_stat(). */
typedef struct shmt_stat {
	shmt_config config;
	/** sends in each rate's last period */
	uint32_t window_sends[SHMT_MAX_RATES];
	/** seconds until a send would be admitted */
	double next_slot;
	/** current backoff delay, seconds */
	double backoff;
	/** seconds to the end of the shared delay */
	double delay_remaining;
	/** reserved slots still in the future: the processes waiting in
	 *  shmt_acquire() */
	uint32_t waiting;
	/** entries in the log */
	uint32_t log_count;
	/** admitted sends */
	uint64_t requests;
	/** 429 responses */
	uint64_t n429;
	/** SHMT_RETRY verdicts */
	uint64_t retries;
	/** times a process died holding the lock (or a forged lock word named
	 *  a holder that does not exist) and the next one repaired the state
	 */
	uint64_t repairs;
	/** seconds spent waiting in acquire, all processes together */
	double waited;
	/** wall clock of the last 429, epoch seconds; 0 if none */
	double last_429;
	/** entries the log can hold (fixed at creation) */
	uint32_t capacity;
	/** requests whose lateness (admitted slot to really sent) and round
	 *  trip were measured; the last 32 of each count below */
	uint64_t samples;
	/** highest lateness of the last 32 requests, seconds */
	double lateness;
	/** lowest and highest of the last 32 round trips, seconds */
	double rtt_low, rtt_high;
	/** the margin in force for the first rate's spacing, seconds */
	double margin;
	/** the limit the server announced in its quota headers: learned_max
	 *  requests per learned_period seconds, enforced beside the
	 *  configured rates (the stricter holds); 0: none */
	uint32_t learned_max;
	/** enum shmt_quota_dialect of the headers that announced it */
	int learned_dialect;
	double learned_period;
	/** 1: the server announced learned_period; 0: it is the longest time
	 *  to a reset seen, rounded up to a usual window (1 s, 1 min...) */
	int learned_period_announced;
	/** 1: no limit known and no response heard yet: one request goes
	 *  first, the others wait for its answer (at most 1 s each) */
	int probing;
	/** the header the limit was read from, lower case */
	char learned_header[40];
	/** the last quota announced: requests left (-1: none), and seconds
	 *  to its reset */
	int64_t quota_remaining;
	double quota_reset;
	/** with no limit configured or announced: the pacing rate learned
	 *  from refusals and successes, requests per second; 0: none */
	double learned_rate;
	/** units of cost sent in each unit limit's last period: declared
	 *  costs, and the actual ones once recorded (shmt_cost_set()) */
	uint64_t window_units[SHMT_MAX_UNITS];
	/** requests in flight: places held (acquired, not yet recorded);
	 *  shmt_places_read() says who holds them */
	uint32_t inflight;
	/** with learned_rate: the burst learned from the first refusals (the
	 *  sends the server granted before it refused): at most
	 *  learned_burst requests in any learned_burst / learned_rate
	 *  seconds, a margin added; 0: none, one request every
	 *  1 / learned_rate seconds */
	uint32_t learned_burst;
	/** zero; later fields come from here (see "ABI" above) */
	unsigned char reserved[360];
} shmt_stat;

/** Fill *st (reserved space zeroed). */
SHMT_API int shmt_stat_get(shmt_throttle *t, shmt_stat *st);

/** One entry of the request log. */
typedef struct shmt_log_entry {
	uint64_t seq;
	/** send time, seconds since the epoch */
	double wall;
	/** 0 while no response is recorded */
	int status;
	char url[SHMT_URL_MAX];
} shmt_log_entry;

/**
 * Copy the newest (up to n, and at most 1024) log entries into buf,
 * oldest first, and their number into *got.  Reservations not yet due
 * are not included.  The status and URL of the newest 1024 requests are
 * kept beside the log (the log itself keeps 24 bytes a send: the time, a
 * tag of its sequence number, whether the answer was a 429 and whether
 * the slot was given up unsent, its node of a tree counting those and its
 * cumulative cost): an entry whose note a newer request took shows
 * status 0 (429 if it was one) and no URL.  A slot its waiter gave up
 * unsent (it took a new one) shows status 0.
 */
SHMT_API int shmt_log_read(shmt_throttle *t, shmt_log_entry *buf, size_t n,
                           size_t *got);

/** A place in flight, from shmt_places_read(). */
typedef struct shmt_place {
	/** the process that holds it (on Redis: of whichever host) */
	long pid;
	/** the log entry of its request (the ticket's seq) */
	uint64_t seq;
	/** seconds since it was taken */
	double held;
	/** its request's cost (declared, or as shmt_cost_set() gave it) */
	uint64_t cost;
} shmt_place;

/** Copy up to n of the places held into buf, their number into *got
 *  (on Redis, a place whose lease ended is no longer held). */
SHMT_API int shmt_places_read(shmt_throttle *t, shmt_place *buf, size_t n,
                              size_t *got);

/**
 * Check the whole segment, every log entry included, under its lock:
 * O(capacity).  Opening and every call check only what costs O(1); damage
 * in the rest cannot crash a process, overrun a buffer or make it sleep
 * beyond the horizon of its configuration, but may disturb the pacing.
 * Returns SHMT_OK, SHMT_ECORRUPT, or the lock's code.  (throttlectl
 * verify.)
 */
SHMT_API int shmt_verify(shmt_throttle *t);

/**
 * Call fn(name, arg) for every throttle on the host (by name only; fn may
 * open it).  fn returns 0 to go on, non-zero to stop early; either way
 * shmt_list() returns SHMT_OK once it has read the names, or the code of
 * what failed (SHMT_EINVAL for a NULL fn, SHMT_ESYS with errno if the
 * folder could not be read).  A result of fn's own goes through arg.
 */
SHMT_API int shmt_list(int (*fn)(const char *name, void *arg), void *arg);

/* ---- Performing libcurl transfers under a throttle ------------------- */

/** What shmt_curl_perform() may do, beside the throttle's own settings. */
typedef struct shmt_curl_opts {
	/** further statuses to back off and retry on (e.g. 500, 502, 504) */
	const int *retry_statuses;
	size_t nretry_statuses;
	/** < 0: the throttle's max_retries */
	int max_retries;
	/** all attempts and waits together, seconds; <= 0: no limit */
	double max_time;
	/** also retry "connection refused" */
	int retry_connrefused;
	/** Called before each retry, so the caller can empty its output
	 *  (the failed attempt's body must not stay).  May be NULL. */
	void (*before_retry)(void *arg);
	void *arg;
	/** 1: each send of the request declares `cost` units against the
	 *  unit limits (shmt_acquire_cost()); 0: it costs 1 */
	int has_cost;
	uint32_t cost;
	/** a response header whose value, a whole number, is the request's
	 *  actual cost, recorded with shmt_cost_set() (e.g. a gateway's
	 *  usage header); NULL: the declared cost stays */
	const char *cost_header;
	/** zero; later fields come from here (see "ABI" above) */
	unsigned char reserved[112];
} shmt_curl_opts;

/** What happened, in the end. */
typedef struct shmt_curl_result {
	/** final HTTP status, 0 if none */
	int status;
	/** the last attempt's CURLcode (0: CURLE_OK) */
	int curl_code;
	/** resends made */
	unsigned retries;
	/** seconds from the call to its return */
	double time_total;
	/** 1: stopped retrying (count or max_time) while the answer was still
	 *  "retry" */
	int gave_up;
	/** libcurl's message for a transport error */
	char error[256];
	/** 1: gave up because the shared delay outlasts max_time (the resend
	 *  was not sent) */
	int paused_out;
	/** zero; later fields come from here (see "ABI" above) */
	unsigned char reserved[124];
} shmt_curl_result;

/** Fill *o with the defaults (no extra statuses, the throttle's retries,
 *  no time limit), reserved zeroed.  Non-zero reserved bytes make
 *  shmt_curl_perform() return SHMT_EINVAL. */
SHMT_API void shmt_curl_opts_init(shmt_curl_opts *o);

/**
 * Perform the transfer of the libcurl easy handle `easy` (a CURL *) under
 * the throttle: acquire a slot, perform, record the status and the
 * Retry-After libcurl parsed (CURLINFO_RETRY_AFTER), and retry -- after
 * the shared delay, which shmt_acquire() enforces -- on 429, on 503 with
 * Retry-After, on the transport errors curl's own --retry treats as
 * transient (time-outs, name resolution; refused connections on request)
 * and on opts->retry_statuses, within the retry count and max_time.
 * The handle is the caller's: set its URL, output and options before.
 * Returns SHMT_OK with *res filled whatever the HTTP outcome, or a
 * throttle error.  Threads may call it at once with one easy handle each
 * and one shared throttle handle.
 */
SHMT_API int shmt_curl_perform(shmt_throttle *t, void *easy,
                               const shmt_curl_opts *opts,
                               shmt_curl_result *res);

/* ---- The task runner --------------------------------------------------- */

/** A pool of worker threads that runs scheduled tasks and returns every
 *  result in scheduling order.  Opaque. */
typedef struct shmt_runner shmt_runner;

/** A task: do the work on arg, store what it made in *result, return 0 or
 *  an error code of the task's own (kept beside the result). */
typedef int (*shmt_task_fn)(void *arg, void **result);

/** One task's outcome, from shmt_runner_run(). */
typedef struct shmt_task_result {
	const char *name; /**< as scheduled, or "task-N" */
	int error;        /**< the task's return value */
	void *result;     /**< what it stored; the caller's to free */
} shmt_task_result;

/** Start `workers` threads (1..1024).  Release with shmt_runner_destroy(). */
SHMT_API int shmt_runner_create(shmt_runner **rp, unsigned workers);
/** Add a task for the next run.  name NULL: "task-N"; a name already
 *  scheduled for this run is refused with SHMT_EEXIST. */
SHMT_API int shmt_runner_schedule(shmt_runner *r, const char *name,
                                  shmt_task_fn fn, void *arg);
/**
 * Run every scheduled task on the workers and wait for all of them.
 * *results (n of them) are in scheduling order and stay valid until the
 * next run or destroy; the schedule is then empty and the runner can be
 * used again.  A task's failure never stops the others.
 */
SHMT_API int shmt_runner_run(shmt_runner *r, const shmt_task_result **results,
                             size_t *n);
/** Stop and join the workers, free everything; NULL is a no-op. */
SHMT_API void shmt_runner_destroy(shmt_runner *r);

/** A sentence for a code of enum shmt_code. */
SHMT_API const char *shmt_strerror(int code);
/** The library's version, "MAJOR.MINOR.PATCH", at run time. */
SHMT_API const char *shmt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMTHROTTLE_H */
