/* fuzz_config.c - any bytes as a configuration: a configuration accepted
 * once stored in a segment is accepted when read back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cost.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shmt_config c;
	struct shmt_scfg s;
	struct shmt_spacing sp[SHMT_MAX_RATES];
	struct shmt_uspacing usp[SHMT_MAX_UNITS];
	struct shmt_timing none = { 0 }, wild;

	memset(&wild, 0x7f, sizeof(wild));
	shmt_config_init(&c);
	memcpy(&c, data, size < sizeof(c) ? size : sizeof(c));
	if (shmt_config_check(&c) != SHMT_OK)
		return 0;
	shmt_scfg_from(&s, &c);
	if (shmt_scfg_check(&s, shmt_config_capacity(&c)) != SHMT_OK)
		abort();
	/* with no samples, and with samples as hostile as they come */
	for (unsigned i = 0, n = shmt_spacings(&s, &none, sp); i < n; i++)
		if (sp[i].n < 1 || sp[i].p < 0)
			abort();
	for (unsigned i = 0, n = shmt_spacings(&s, &wild, sp); i < n; i++)
		if (sp[i].n < 1 || sp[i].p < 0)
			abort();
	/* the unit rules: a limit of at least the largest admissible cost */
	for (unsigned i = 0, n = shmt_unit_spacings(&s, &wild, usp); i < n; i++)
		if (usp[i].limit < (int64_t)shmt_cost_max(&s) || usp[i].p < 0)
			abort();
	return 0;
}
