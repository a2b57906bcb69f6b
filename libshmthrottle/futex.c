#define _GNU_SOURCE /* syscall() */
/* futex.c - Linux futexes on a word of the shared segment. */
#include "futex.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

void
shmt_futex_wait(uint32_t *word, uint32_t seen, int64_t ns)
{
	struct timespec ts;

	if (ns <= 0)
		return;
	ts.tv_sec = ns / SHMT_NS;
	ts.tv_nsec = ns % SHMT_NS;
	/* Relative timeouts run on CLOCK_MONOTONIC.  EINTR, EAGAIN and
	 * ETIMEDOUT all mean the same to the caller: look again. */
	syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

void
shmt_futex_wake_all(uint32_t *word)
{
	__atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
