/* futex.h - sleeping outside the lock until a time or a wake-up.
 * A process-shared futex word keeps no waiter state, so a waiter that is
 * killed leaves nothing behind (a process-shared condition variable
 * would keep its count, and could block the next broadcast). */
#ifndef SHMT_FUTEX_H
#define SHMT_FUTEX_H

#include <stdint.h>

/* Sleep while *word == seen, for at most ns nanoseconds.  Returns
 * ETIMEDOUT if the whole time passed, else 0 (woken, or *word differed). */
int shmt_futex_wait(uint32_t *word, uint32_t seen, int64_t ns);
/* Wake up to n processes sleeping on *word. */
void shmt_futex_wake(uint32_t *word, int n);
/* Bump *word and wake every process sleeping on it. */
void shmt_futex_wake_all(uint32_t *word);

#endif
