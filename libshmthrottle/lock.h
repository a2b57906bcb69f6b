/*
 * lock.h - the segment's lock: one 32-bit futex word holding the owner's
 * thread id, and a record of who took it.  No pointer is ever read from
 * the segment: a forged word can make callers wait (up to the timeout) or
 * take the lock over, nothing else.
 */
#ifndef SHMT_LOCK_H
#define SHMT_LOCK_H

#include <stdint.h>

/* The word: 0 when free, else the owner's thread id in the low bits and
 * SHMT_LOCK_WAITERS when someone may sleep on it. */
#define SHMT_LOCK_WAITERS 0x80000000u
#define SHMT_LOCK_TID 0x3fffffffu

/* What shmt_lock_take() found. */
enum shmt_lock_result {
	SHMT_LOCK_OK,
	/* taken over from an owner that is gone: the state needs repair */
	SHMT_LOCK_OWNER_DEAD,
	/* a live owner held it for the whole timeout */
	SHMT_LOCK_TIMEOUT
};

/* Take the lock *word, waiting at most timeout ns; *owner records
 * (tid << 32 | start time) of the holder, so that a reused thread id is
 * not mistaken for the owner that died. */
enum shmt_lock_result shmt_lock_take(uint32_t *word, uint64_t *owner,
                                     int64_t timeout);
void shmt_lock_release(uint32_t *word, uint64_t *owner);

/* A process's owner record, (pid << 32 | its start time), as the lock's;
 * 0 if there is no such process. */
uint64_t shmt_proc_record(uint32_t pid);
/* May the process of that record still be running?  No: the kernel does
 * not know it, it is a zombie, or its id now names a process started at
 * another time.  What /proc does not tell counts as alive. */
int shmt_proc_alive(uint64_t record);

#endif
