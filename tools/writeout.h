/* writeout.h - curl's -w: %{variable} and \n after each transfer. */
#ifndef SHMT_WRITEOUT_H
#define SHMT_WRITEOUT_H

#include <stdio.h>

#include "shmthrottle.h"

/* Print fmt for the transfer of url, with the result r; %{exitcode} is
 * exitcode, the URL's own exit status. */
void writeout(FILE *f, const char *fmt, const char *url,
              const shmt_curl_result *r, int exitcode);

#endif
