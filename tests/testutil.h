/* testutil.h - shared helpers of the Check suites. */
#ifndef SHMT_TESTUTIL_H
#define SHMT_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmthrottle.h"
#include "state.h"

#define NS 1000000000LL
#define MS 1000000LL

/* A fake clock for handles (shmt_set_clock) and pure functions. */
extern int64_t fake_mono_now;
extern int64_t fake_wall_now;
int64_t fake_mono(void);
int64_t fake_wall(void);

/* A log in ordinary memory, for the pure functions. */
struct shmt_ring *ring_new(uint32_t cap, const shmt_config *cfg);
void ring_free(struct shmt_ring *r);

/* A throttle name no other test or run uses; removed by name_cleanup(). */
const char *test_name(const char *tag);
/* Map the segment of throttle `name` raw, read-write, as a hostile group
 * member would; its size in *size (munmap it after). */
struct shmt_header *raw_map(const char *name, size_t *size);
/* A config of one rate. */
shmt_config one_rate(uint32_t max, double period);
/* Sorted send times: does some window of `period` hold more than `max`? */
int window_overrun(const int64_t *t, size_t n, uint32_t max, int64_t period);
/* Sorted send times and their costs: does some window of `period` hold
 * more than `limit` units? */
int units_overrun(const int64_t *t, const int64_t *cost, size_t n,
                  int64_t limit, int64_t period);
int64_t mono_now(void);
/* Run a shell command (printf-style); its output into buf (NULL: drained)
 * and its exit status, 128 + the signal if it died of one. */
int test_sh(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A process waiting to reserve a send of `cost` on throttle `name`, as
 * shmt_curl_perform does: its slot at least `far` s away, it sleeps on
 * the wake word (shmt_wait_nearer) for 20 s at most and, woken, finds the
 * slot at most `near` s away.  Returns once it sleeps; waiter_status()
 * then says how it ended: 0 as told, 2 the slot was not far, 3 not woken,
 * 4 the slot not near, 1 no throttle. */
pid_t waiter_to_reserve(const char *name, uint32_t cost, double far,
                        double near);
int waiter_status(pid_t pid);
/* shmt_acquire(t, -1) in a process of its own, given `ms` to return:
 * its code, or -1 if it still waited (it is then killed). */
int acquire_in_child(shmt_throttle *t, int ms);
/* Lines of s that are exactly `line` (its newline included). */
int count_lines(const char *s, const char *line);
/* The same with a va_list, and `tail` (e.g. " 2>&1") after the command. */
int test_vsh(char *buf, size_t len, const char *tail, const char *fmt,
             va_list ap) __attribute__((format(printf, 4, 0)));

Suite *config_suite(void);
Suite *policy_suite(void);
Suite *defects_suite(void);
Suite *ring_suite(void);
Suite *retry_after_suite(void);
Suite *segment_suite(void);
Suite *multiproc_suite(void);
Suite *throttlectl_suite(void);
Suite *integration_suite(void);
Suite *runner_suite(void);
Suite *stress_suite(void);
Suite *errors_suite(void);
Suite *timing_suite(void);
Suite *servers_suite(void);
Suite *arrivals_suite(void);
Suite *install_suite(void);
Suite *tools_suite(void);
Suite *faults_suite(void);
Suite *conformance_suite(void);
Suite *redis_suite(void);
Suite *quota_suite(void);
Suite *learn_suite(void);
Suite *quota_servers_suite(void);
Suite *costs_suite(void);
Suite *cost_servers_suite(void);

#endif
