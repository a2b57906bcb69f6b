/* error.c - sentences for the codes, and the version. */
#include "shmthrottle.h"

static const char *const messages[] = {
	[SHMT_OK] = "success",
	[SHMT_EINVAL] = "invalid argument",
	[SHMT_ENAME] = "invalid throttle name",
	[SHMT_ECONFIG] = "invalid configuration",
	[SHMT_ENOENT] = "no such throttle",
	[SHMT_EEXIST] = "throttle already exists",
	[SHMT_EPERM] =
	    "permission denied (segment of another user, or open to others)",
	[SHMT_EINVALID] = "not a libshmthrottle segment",
	[SHMT_EVERSION] = "segment layout version mismatch",
	[SHMT_ECORRUPT] = "segment is damaged",
	[SHMT_EBUSY] = "segment busy (being initialised, lock held too long, "
	               "or log full of reservations)",
	[SHMT_ETIMEDOUT] = "timed out",
	[SHMT_EAGAIN] = "not admitted now",
	[SHMT_ETICKET] = "invalid ticket",
	[SHMT_EHEADER] = "header value not understood",
	[SHMT_ENOMEM] = "out of memory",
	[SHMT_ESYS] = "system call failed",
};

const char *
shmt_strerror(int code)
{
	if (code < 0 || code >= (int)(sizeof(messages) / sizeof(messages[0])))
		return "unknown error code";
	return messages[code];
}

const char *
shmt_version(void)
{
	return SHMT_VERSION_STRING;
}
