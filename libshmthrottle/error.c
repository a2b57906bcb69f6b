/* error.c - sentences for the codes, and the version. */
#include "shmthrottle.h"

/* A switch, not a table: with -Wall (-Wswitch) the compiler names any code
 * of the enum that has no sentence. */
const char *
shmt_strerror(int code)
{
	switch ((enum shmt_code)code) {
	case SHMT_OK: return "success";
	case SHMT_EINVAL: return "invalid argument";
	case SHMT_ENAME: return "invalid throttle name";
	case SHMT_ECONFIG: return "invalid configuration";
	case SHMT_ENOENT: return "no such throttle";
	case SHMT_EEXIST: return "throttle already exists";
	case SHMT_EPERM:
		return "permission denied (segment of another user, or open "
		       "to others)";
	case SHMT_EINVALID: return "not a libshmthrottle segment";
	case SHMT_EVERSION: return "segment layout version mismatch";
	case SHMT_ECORRUPT: return "segment is damaged";
	case SHMT_EBUSY:
		return "segment lock held for over 5 s (a stopped process?)";
	case SHMT_ETIMEDOUT: return "timed out";
	case SHMT_EAGAIN: return "not admitted now";
	case SHMT_ETICKET: return "invalid ticket";
	case SHMT_EHEADER: return "header value not understood";
	case SHMT_ENOMEM: return "out of memory";
	case SHMT_ESYS: return "system call failed";
	case SHMT_ECREATING:
		return "throttle is still being created by another process";
	case SHMT_EFULL:
		return "request log full of reservations and the sends they "
		       "are spaced from (raise --capacity)";
	case SHMT_ERUNNING: return "the task runner is already running";
	case SHMT_EREMOVED: return "the throttle was removed; open it again";
	case SHMT_ETRUNCATED:
		return "the throttle's segment was truncated while in use";
	case SHMT_EURL: return "invalid backend URL";
	case SHMT_ENOTSUP:
		return "backend not supported by this build (rediss:// needs "
		       "TLS)";
	case SHMT_EUNREACHABLE: return "cannot connect to the Redis server";
	case SHMT_ELOST:
		return "the Redis server did not answer in time or the "
		       "connection was lost";
	case SHMT_EAUTH: return "the Redis server refused the user or password";
	case SHMT_ENOPERM:
		return "the Redis server's ACL forbids a command or key of the "
		       "throttle";
	case SHMT_EGONE:
		return "the throttle's state is gone from the Redis server "
		       "(removed, or lost in a restart); open it again";
	case SHMT_EBACKEND: return "the Redis server refused the command";
	case SHMT_ECOST:
		return "the cost exceeds a unit limit of the throttle (it "
		       "could "
		       "never be admitted)";
	}
	return "unknown error code";
}

const char *
shmt_version(void)
{
	return SHMT_VERSION_STRING;
}
