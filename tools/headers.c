/* headers.c - the last response's headers of a `curl -D` dump. */
#include "headers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FILE_MAX (1 << 20)

void
headers_split(char *text, struct headers_file *hf)
{
	char *line = text, *next;

	hf->n = 0;
	for (; line && *line; line = next) {
		char *colon, *end;

		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		end = line + strlen(line);
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		/* a new response: forget the one before (redirect, 1xx) */
		if (strncmp(line, "HTTP/", 5) == 0) {
			hf->n = 0;
			continue;
		}
		if (!(colon = strchr(line, ':')) || colon == line ||
		    hf->n == HEADERS_MAX)
			continue;
		*colon = '\0';
		hf->h[hf->n++] = (shmt_http_header){ line, colon + 1 };
	}
}

int
headers_read(const char *path, struct headers_file *hf)
{
	FILE *f = fopen(path, "r");
	size_t got;

	memset(hf, 0, sizeof(*hf));
	if (!f)
		return -1;
	if (!(hf->text = malloc(FILE_MAX + 1))) {
		fclose(f);
		errno = ENOMEM;
		return -1;
	}
	got = fread(hf->text, 1, FILE_MAX, f);
	if (ferror(f)) {
		int saved = errno;

		fclose(f);
		headers_free(hf);
		errno = saved;
		return -1;
	}
	fclose(f);
	hf->text[got] = '\0';
	headers_split(hf->text, hf);
	return 0;
}

const char *
headers_get(const struct headers_file *hf, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < hf->n; i++)
		if (strcasecmp(hf->h[i].name, name) == 0)
			v = hf->h[i].value;
	return v;
}

void
headers_free(struct headers_file *hf)
{
	free(hf->text);
	hf->text = NULL;
	hf->n = 0;
}
