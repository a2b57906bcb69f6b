#define _GNU_SOURCE /* syscall() */
/*
 * lock.c - the segment's lock word, in the manner of nginx's ngx_shmtx:
 * compare-and-swap 0 -> our thread id, sleep on the word (a futex) while
 * someone else holds it, and when a holder keeps it for a whole sleep,
 * ask the kernel whether that holder still exists.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "futex.h"

/* Linux never gives out thread ids above this (PID_MAX_LIMIT). */
#define TID_LIMIT (4u << 20)
/* Sleeps between two looks at the holder: 1 ms, doubling to 64 ms. */
#define SLICE_FIRST (SHMT_NS / 1000)
#define SLICE_LAST (64 * SHMT_NS / 1000)

/* This thread's id, asked of the kernel once per thread (a system call
 * on every lock cost as much as the rest of an acquire); a forked child
 * (one thread, the forker's, with a new id) asks again. */
static _Thread_local uint32_t my_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
forget_tid(void)
{
	my_tid = 0;
}

static void
atfork_init(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

static uint32_t
self_tid(void)
{
	if (!my_tid) {
		pthread_once(&atfork_once, atfork_init);
		my_tid = (uint32_t)syscall(SYS_gettid);
	}
	return my_tid;
}

/* Fields 3 (state) and 22 (start time, clock ticks since boot) of
 * /proc/TID/stat.  0 if they cannot be read: the thread is gone, or hidden
 * from us (hidepid), or the format is not understood. */
static int
proc_stat(uint32_t tid, char *state, uint64_t *start)
{
	char path[48], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%u/stat", tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the last
	 * ')', which ends field 2 */
	if (!(p = strrchr(buf, ')')) || p[1] != ' ' || !p[2])
		return 0;
	*state = p[2];
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	*start = strtoull(p + 1, NULL, 10);
	return 1;
}

/* This thread's owner record, (tid << 32 | start), read from /proc once
 * per thread (and again in a forked child, whose tid differs). */
static uint64_t
self_record(uint32_t tid)
{
	static _Thread_local uint32_t cached_tid;
	static _Thread_local uint64_t cached;
	uint64_t start = 0;
	char state;

	if (cached_tid != tid) {
		proc_stat(tid, &state, &start);
		cached = (uint64_t)tid << 32 | (uint32_t)start;
		cached_tid = tid;
	}
	return cached;
}

/*
 * Is process or thread `id` alive, and, if `start` is not 0, the one that
 * started then (not a reused id)?  No: an impossible id, one the kernel
 * does not know (kill(2) takes thread ids on Linux), a zombie (killed, not
 * yet reaped), or another start time.  What /proc does not tell counts as
 * alive.
 */
static int
alive(uint32_t id, uint32_t start)
{
	uint64_t now_start;
	char state;

	if (id == 0 || id >= TID_LIMIT)
		return 0;
	if (kill((pid_t)id, 0) != 0 && errno == ESRCH)
		return 0;
	if (!proc_stat(id, &state, &now_start))
		return 1;
	if (state == 'Z' || state == 'X')
		return 0;
	return start == 0 || (uint32_t)now_start == start;
}

/*
 * Is `tid`, named by the lock word, a holder that may still release it?
 * Only on the slow path, after a holder kept the lock for a whole sleep.
 * Not our own id (we never lock twice: a dead thread whose id we now
 * have, or a forgery); else alive() with the start time its owner
 * recorded, if the record is its (not recorded yet when the ids differ:
 * it is taking the lock now).
 */
static int
holder_alive(uint32_t tid, uint64_t record, uint32_t me)
{
	if (tid == me)
		return 0;
	return alive(tid,
	             (uint32_t)(record >> 32) == tid ? (uint32_t)record : 0);
}

uint64_t
shmt_proc_record(uint32_t pid)
{
	uint64_t start = 0;
	char state;

	if (pid == 0 || pid >= TID_LIMIT ||
	    (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
		return 0;
	proc_stat(pid, &state, &start);
	return (uint64_t)pid << 32 | (uint32_t)start;
}

int
shmt_proc_alive(uint64_t record)
{
	/* start 0: not known when it was recorded */
	return alive((uint32_t)(record >> 32), (uint32_t)record);
}

static int
cas(uint32_t *word, uint32_t from, uint32_t to)
{
	return __atomic_compare_exchange_n(word, &from, to, 0, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

enum shmt_lock_result
shmt_lock_take(uint32_t *word, uint64_t *owner, int64_t timeout)
{
	uint32_t me = self_tid(), v;
	int64_t deadline, slice = SLICE_FIRST, now;
	enum shmt_lock_result res = SHMT_LOCK_OK;

	for (int spin = 0; spin < 64; spin++) {
		if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 &&
		    cas(word, 0, me))
			goto taken;
		cpu_relax();
	}
	deadline = shmt_add_ns(shmt_mono_ns(), timeout);
	for (;;) {
		v = __atomic_load_n(word, __ATOMIC_RELAXED);
		/* once we have slept, others may sleep too: keep the bit */
		if (v == 0) {
			if (cas(word, 0, me | SHMT_LOCK_WAITERS))
				goto taken;
			continue;
		}
		if (!(v & SHMT_LOCK_WAITERS)) {
			if (!cas(word, v, v | SHMT_LOCK_WAITERS))
				continue;
			v |= SHMT_LOCK_WAITERS;
		}
		if ((now = shmt_mono_ns()) >= deadline)
			return SHMT_LOCK_TIMEOUT;
		uint64_t record = __atomic_load_n(owner, __ATOMIC_RELAXED);

		if (shmt_futex_wait(word, v,
		                    slice < deadline - now
		                        ? slice
		                        : deadline - now) != ETIMEDOUT)
			continue;
		/* the same holder for a whole sleep: is it still there? */
		if (__atomic_load_n(word, __ATOMIC_RELAXED) == v &&
		    !holder_alive(v & SHMT_LOCK_TID, record, me) &&
		    cas(word, v, me | SHMT_LOCK_WAITERS)) {
			res = SHMT_LOCK_OWNER_DEAD;
			goto taken;
		}
		slice = slice * 2 < SLICE_LAST ? slice * 2 : SLICE_LAST;
	}
taken:
	__atomic_store_n(owner, self_record(me), __ATOMIC_RELAXED);
	return res;
}

void
shmt_lock_release(uint32_t *word, uint64_t *owner)
{
	__atomic_store_n(owner, 0, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & SHMT_LOCK_WAITERS)
		shmt_futex_wake(word, 1);
}
