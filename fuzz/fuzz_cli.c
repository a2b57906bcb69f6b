/* fuzz_cli.c - the tools' own parsers: numbers, rates, -w formats. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "writeout.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	char *buf = malloc(size + 1);
	struct cli_config cc;
	shmt_curl_result r = { .status = 200, .retries = 1 };
	unsigned long n;
	double d;

	if (!null)
		null = fopen("/dev/null", "w");
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (cli_seconds(buf, &d) == 0 && !(d >= 0))
		abort();
	if (cli_count(buf, 1, 1000, &n) == 0 && (n < 1 || n > 1000))
		abort();
	cli_config_init(&cc, NULL);
	for (int opt = CLI_OPT_PERIOD; opt < CLI_OPT_FIRST_FREE; opt++)
		cli_config_option(&cc, opt, buf);
	writeout(null, buf, "http://x/", &r, 0);
	free(buf);
	return 0;
}
