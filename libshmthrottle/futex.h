/* futex.h - sleeping outside the lock until a time or a wake-up.
 * A process-shared futex word keeps no waiter state, so a waiter that is
 * killed leaves nothing behind (a process-shared condition variable
 * would keep its count, and could block the next broadcast). */
#ifndef SHMT_FUTEX_H
#define SHMT_FUTEX_H

#include <stdint.h>

/* Sleep while *word == seen, for at most ns nanoseconds. */
void shmt_futex_wait(uint32_t *word, uint32_t seen, int64_t ns);
/* Bump *word and wake every process sleeping on it. */
void shmt_futex_wake_all(uint32_t *word);

#endif
