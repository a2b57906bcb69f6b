/* check_main.c - runs every suite (fork mode: the crash tests kill). */
#include <stdlib.h>

#include "testutil.h"

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_add_suite(sr, policy_suite());
	srunner_add_suite(sr, timing_suite());
	srunner_add_suite(sr, costs_suite());
	srunner_add_suite(sr, defects_suite());
	srunner_add_suite(sr, ring_suite());
	srunner_add_suite(sr, retry_after_suite());
	srunner_add_suite(sr, quota_suite());
	srunner_add_suite(sr, learn_suite());
	srunner_add_suite(sr, segment_suite());
	srunner_add_suite(sr, multiproc_suite());
	srunner_add_suite(sr, throttlectl_suite());
	srunner_add_suite(sr, tools_suite());
	srunner_add_suite(sr, runner_suite());
	srunner_add_suite(sr, integration_suite());
	srunner_add_suite(sr, servers_suite());
	srunner_add_suite(sr, arrivals_suite());
	srunner_add_suite(sr, quota_servers_suite());
	srunner_add_suite(sr, cost_servers_suite());
	srunner_add_suite(sr, stress_suite());
	srunner_add_suite(sr, errors_suite());
	srunner_add_suite(sr, install_suite());
	srunner_add_suite(sr, faults_suite());
	srunner_add_suite(sr, conformance_suite());
	srunner_add_suite(sr, redis_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
