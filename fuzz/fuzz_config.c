/* fuzz_config.c - any bytes as a configuration: a configuration accepted
 * once stored in a segment is accepted when read back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shmt_config c;
	struct shmt_scfg s;
	struct shmt_spacing sp[SHMT_MAX_RATES];
	/* no samples: the configured margin */
	struct shmt_timing tm = { 0 };

	shmt_config_init(&c);
	memcpy(&c, data, size < sizeof(c) ? size : sizeof(c));
	if (shmt_config_check(&c) != SHMT_OK)
		return 0;
	shmt_scfg_from(&s, &c);
	if (shmt_scfg_check(&s, shmt_config_capacity(&c)) != SHMT_OK)
		abort();
	for (unsigned i = 0, n = shmt_spacings(&s, &tm, sp); i < n; i++)
		if (sp[i].n < 1 || sp[i].p < 0)
			abort();
	return 0;
}
