/* fuzz_ticket.c - tickets from scripts: parse, and round-trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmthrottle.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), out[96];
	shmt_ticket tk, back;

	memcpy(buf, data, size);
	buf[size] = '\0';
	if (shmt_ticket_parse(buf, &tk) == SHMT_OK) {
		if (shmt_ticket_format(&tk, out, sizeof(out)) != SHMT_OK ||
		    shmt_ticket_parse(out, &back) != SHMT_OK ||
		    back.seq != tk.seq || back.send_ns != tk.send_ns ||
		    back.attempt != tk.attempt)
			abort();
	}
	free(buf);
	return 0;
}
