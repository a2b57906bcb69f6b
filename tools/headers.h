/* headers.h - the response headers of a `curl -D FILE` dump, for
 * throttlectl record --headers: the last response's "Name: value" lines.
 * A line splitter, not an HTTP parser: libcurl parsed the response. */
#ifndef SHMT_HEADERS_H
#define SHMT_HEADERS_H

#include <stddef.h>

#include "shmthrottle.h"

/* Most headers kept; the rest of a block is ignored. */
#define HEADERS_MAX 64

struct headers_file {
	char *text;
	shmt_http_header h[HEADERS_MAX];
	size_t n;
};

/* Read FILE (at most 1 MiB); the headers of its last response (a block
 * starting with an "HTTP/" line; redirects and 100 Continue come before
 * it) into hf.  0, or -1 with errno set. */
int headers_read(const char *path, struct headers_file *hf);
/* Split text (modified in place) the same way. */
void headers_split(char *text, struct headers_file *hf);
/* The value of header `name` (any case), or NULL. */
const char *headers_get(const struct headers_file *hf, const char *name);
void headers_free(struct headers_file *hf);

#endif
