#define _GNU_SOURCE /* syscall() */
/* futex.c - Linux futexes on a word of the shared segment. */
#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

int
shmt_futex_wait(uint32_t *word, uint32_t seen, int64_t ns)
{
	struct timespec ts;

	if (ns <= 0)
		return ETIMEDOUT;
	ts.tv_sec = ns / SHMT_NS;
	ts.tv_nsec = ns % SHMT_NS;
	/* Relative timeouts run on CLOCK_MONOTONIC.  EINTR and EAGAIN mean
	 * "look again"; EFAULT (a segment truncated under us) too: the
	 * caller checks the segment's size on that path. */
	if (syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0) != 0 &&
	    errno == ETIMEDOUT)
		return ETIMEDOUT;
	return 0;
}

void
shmt_futex_wake(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void
shmt_futex_wake_all(uint32_t *word)
{
	__atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
