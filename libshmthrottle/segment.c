/* segment.c - create, attach, validate, lock and repair a segment. */
#define _GNU_SOURCE
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "futex.h"
#include "learn.h"
#include "lock.h"
#include "policy.h"
#include "ring.h"

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

static size_t
notes_offset(void)
{
	return ALIGN64(sizeof(struct shmt_header));
}

static size_t
log_offset(void)
{
	return ALIGN64(notes_offset() + SHMT_NOTES * sizeof(struct shmt_note));
}

size_t
shmt_seg_size(uint32_t cap)
{
	return log_offset() +
	       (size_t)cap * (sizeof(int64_t) + sizeof(uint32_t) +
	                      sizeof(int32_t) + sizeof(int64_t));
}

static void
ring_bind(struct shmt_seg *sg, uint32_t cap)
{
	char *base = (char *)sg->h;

	sg->notes = (struct shmt_note *)(base + notes_offset());
	sg->ring.mono = (int64_t *)(base + log_offset());
	sg->ring.tag = (uint32_t *)(sg->ring.mono + cap);
	sg->ring.fw = (int32_t *)(sg->ring.tag + cap);
	sg->ring.cum = (int64_t *)(sg->ring.fw + cap);
	sg->ring.cap = cap;
	sg->ring.st = &sg->h->st;
	sg->ring.cfg = &sg->checked;
	shmt_ring_config_changed(&sg->ring);
}

int
shmt_name_check(const char *name)
{
	size_t n;

	if (!name)
		return SHMT_ENAME;
	n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_.-");
	if (n == 0 || n > SHMT_NAME_MAX || name[n] != '\0' || name[0] == '.')
		return SHMT_ENAME;
	return SHMT_OK;
}

static int
shm_path(const char *name, char out[SHMT_NAME_MAX + 32])
{
	int rc = shmt_name_check(name);

	if (rc == SHMT_OK)
		snprintf(out, SHMT_NAME_MAX + 32, "/" SHMT_SHM_PREFIX "%s",
		         name);
	return rc;
}

static int
errno_code(int e)
{
	switch (e) {
	case ENOENT: return SHMT_ENOENT;
	case EEXIST: return SHMT_EEXIST;
	case EACCES:
	case EPERM: return SHMT_EPERM;
	case ENOMEM: return SHMT_ENOMEM;
	default: return SHMT_ESYS;
	}
}

/* A checked configuration, in slot `active` at generation `gen`, becomes
 * the one this handle uses. */
static void
config_adopt(struct shmt_seg *sg, const struct shmt_scfg *c, uint32_t active,
             uint32_t gen)
{
	sg->checked = *c;
	sg->cfg_seen = 1;
	sg->cfg_active = active;
	sg->cfg_gen = gen;
	shmt_ring_config_changed(&sg->ring);
}

/* Our checked copy of the configuration is the segment's: whenever the
 * slot or its generation moved (or at the first lock), check it again, on
 * a copy (the segment's bytes may change after the check). */
static int
config_check(struct shmt_seg *sg)
{
	const struct shmt_state *st = &sg->h->st;
	uint32_t active = st->cfg_active, gen = st->cfg_gen;
	struct shmt_scfg cfg;

	if (active > 1)
		return SHMT_ECORRUPT;
	if (sg->cfg_seen && active == sg->cfg_active && gen == sg->cfg_gen)
		return SHMT_OK;
	memcpy(&cfg, &st->cfg[active], sizeof(cfg));
	if (shmt_scfg_check(&cfg, sg->ring.cap) != SHMT_OK)
		return SHMT_ECORRUPT;
	config_adopt(sg, &cfg, active, gen);
	return SHMT_OK;
}

/* O(1) checks, made at every lock (the time's: delay_check). */
static int
header_check(struct shmt_seg *sg)
{
	const struct shmt_header *h = sg->h;
	const struct shmt_state *st = &h->st;

	if (__atomic_load_n(&h->removed, __ATOMIC_RELAXED))
		return SHMT_EREMOVED;
	if (h->magic != SHMT_MAGIC || h->layout != SHMT_LAYOUT ||
	    h->capacity != sg->ring.cap || h->size != sg->size)
		return SHMT_ECORRUPT;
	if (st->tail > st->head || st->head - st->tail > sg->ring.cap ||
	    config_check(sg) != SHMT_OK)
		return SHMT_ECORRUPT;
	if (st->backoff < 0 || st->backoff > sg->checked.backoff_max)
		return SHMT_ECORRUPT;
	return SHMT_OK;
}

/* The O(1) check that needs the time: the delay ends within the horizon. */
static int
delay_check(struct shmt_seg *sg, int64_t now)
{
	if (shmt_sub_ns(sg->h->st.end_of_delay, now) >
	    shmt_ring_rules(&sg->ring)->horizon0)
		return SHMT_ECORRUPT;
	return SHMT_OK;
}

/* The newest entry within the horizon: O(1). */
static int
newest_check(struct shmt_seg *sg, int64_t now)
{
	const struct shmt_ring *r = &sg->ring;

	if (r->st->head > r->st->tail &&
	    shmt_sub_ns(*shmt_ring_mono(r, r->st->head - 1), now) >
	        shmt_ring_rules(&sg->ring)->horizon)
		return SHMT_ECORRUPT;
	return SHMT_OK;
}

int
shmt_seg_validate(struct shmt_seg *sg, int64_t now)
{
	if (header_check(sg) != SHMT_OK || delay_check(sg, now) != SHMT_OK ||
	    shmt_ring_check(&sg->ring) != SHMT_OK ||
	    newest_check(sg, now) != SHMT_OK)
		return SHMT_ECORRUPT;
	return SHMT_OK;
}

/* A configuration switch is one word: the active slot is whole whatever
 * instant its writer died.  Only damage makes it out of range: then the
 * other slot, then the defaults. */
static void
repair_config(struct shmt_seg *sg)
{
	struct shmt_state *st = &sg->h->st;
	uint32_t i = st->cfg_active > 1 ? 0 : st->cfg_active;

	if (shmt_scfg_check(&st->cfg[i], sg->ring.cap) != SHMT_OK) {
		i ^= 1;
		if (shmt_scfg_check(&st->cfg[i], sg->ring.cap) != SHMT_OK) {
			shmt_config def;

			shmt_config_init(&def);
			shmt_scfg_from(&st->cfg[i], &def);
		}
	}
	st->cfg_active = i;
	st->cfg_gen++;
	st->rules_gen++;
	config_adopt(sg, &st->cfg[i], i, st->cfg_gen);
}

void
shmt_seg_config_set(struct shmt_seg *sg, const struct shmt_scfg *c)
{
	struct shmt_state *st = &sg->h->st;
	uint32_t next = st->cfg_active ^ 1;

	st->cfg[next] = *c;
	/* the slot whole before the switch, whatever the compiler's order */
	__atomic_store_n(&st->cfg_active, next, __ATOMIC_RELEASE);
	st->cfg_gen++;
	config_adopt(sg, c, next, st->cfg_gen);
	if (st->backoff > c->backoff_max)
		st->backoff = c->backoff_max;
}

/* The last owner died holding the lock, perhaps half-way through an
 * update.  Every update is ordered so that what it leaves is either the
 * old or the new value, or a log slightly out of order; put each field
 * back in range, conservatively (delays only ever get longer). */
static void
repair(struct shmt_seg *sg, int64_t now)
{
	struct shmt_state *st = &sg->h->st;
	struct shmt_ring *r = &sg->ring;
	int64_t prev = INT64_MIN;
	uint64_t from;

	repair_config(sg);
	if (st->tail > st->head)
		st->tail = st->head;
	if (st->head - st->tail > r->cap)
		st->tail = st->head - r->cap;
	from = st->head;
	for (uint64_t s = st->tail; s < st->head; s++) {
		int64_t mono = *shmt_ring_mono(r, s);

		/* not a crash but damage: drop what precedes */
		if (!shmt_ring_tagged(r, s)) {
			st->tail = s + 1;
			prev = INT64_MIN;
			continue;
		}
		/* out of order: never seen by anyone, plan it again */
		if (mono < prev && s < from)
			from = s;
		prev = mono > prev ? mono : prev;
	}
	shmt_ring_rebuild(r);
	if (st->backoff < 0 || st->backoff > r->cfg->backoff_max)
		st->backoff = r->cfg->backoff_max;
	if (shmt_sub_ns(st->end_of_delay, now) > shmt_ring_rules(r)->horizon0)
		st->end_of_delay = now + r->cfg->retry_after_max;
	/* A re-plan cut short leaves reservations out of order, or too close:
	 * plan again the future ones and any out of order. */
	if (from > shmt_ring_first_after(r, now))
		from = shmt_ring_first_after(r, now);
	if (from < st->tail)
		from = st->tail;
	shmt_replan_from(r, from, now);
}

/* No one holds the lock for more than microseconds; a lock held this long
 * is a stopped process or a forged lock word: an error, not a hang. */
int64_t shmt_lock_timeout = 5 * SHMT_NS;

/* The handle's clock (injected by the tests), or the monotonic one. */
static int64_t
read_clock(int64_t (*clock)(void))
{
	return clock ? clock() : shmt_mono_ns();
}

/* Take the lock (repaired if its holder died: that reads the clock into
 * *now) and check the header; unlocked again if it is damaged. */
static int
lock_checked(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now,
             int *timed)
{
	struct shmt_header *h = sg->h;
	int64_t timeout = shmt_lock_timeout;
	enum shmt_lock_result got;
	int rc;

	if (sg->trylock && timeout > SHMT_TRYLOCK_WAIT)
		timeout = SHMT_TRYLOCK_WAIT;
	got = shmt_lock_take(&h->lock, &h->lock_owner, timeout);
	if (got == SHMT_LOCK_TIMEOUT)
		return SHMT_EBUSY;
	*timed = 0;
	if (got == SHMT_LOCK_OWNER_DEAD) {
		*now = read_clock(clock);
		*timed = 1;
		repair(sg, *now);
		h->st.repairs++;
	}
	rc = header_check(sg);
	if (rc != SHMT_OK)
		shmt_seg_unlock(sg);
	return rc;
}

int
shmt_seg_lock(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now)
{
	int64_t t;
	int rc, timed;

	/* The clock after the lock: a time read before it could be older
	 * than an entry written meanwhile.  The one clock read of a call. */
	if ((rc = lock_checked(sg, clock, &t, &timed)) != SHMT_OK)
		return rc;
	if (!timed)
		t = read_clock(clock);
	if (now)
		*now = t;
	if ((rc = delay_check(sg, t)) != SHMT_OK)
		shmt_seg_unlock(sg);
	return rc;
}

int
shmt_seg_lock_untimed(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now,
                      int *timed)
{
	return lock_checked(sg, clock, now, timed);
}

int
shmt_seg_clock(struct shmt_seg *sg, int64_t (*clock)(void), int64_t *now)
{
	int rc;

	*now = read_clock(clock);
	if ((rc = delay_check(sg, *now)) != SHMT_OK)
		shmt_seg_unlock(sg);
	return rc;
}

void
shmt_seg_unlock(struct shmt_seg *sg)
{
	shmt_lock_release(&sg->h->lock, &sg->h->lock_owner);
}

static int
map(struct shmt_seg *sg, int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return errno_code(errno);
	sg->h = p;
	sg->size = size;
	return SHMT_OK;
}

/* Test hook: called half-way through building a segment. */
void (*shmt_create_hook)(void);

/* Build the segment on fd (ours: we created the name, or took over a blank
 * one), under its flock, then publish the magic last. */
static int
build(struct shmt_seg *sg, int fd, const struct stat *sb,
      const shmt_config *cfg, mode_t mode)
{
	uint32_t cap = shmt_config_capacity(cfg);
	size_t size = shmt_seg_size(cap);
	int rc;

	/* a blank taken over may have another size: make it ours */
	if (((sb->st_mode & 0777) != mode && fchmod(fd, mode) != 0) ||
	    ((size_t)sb->st_size != size && ftruncate(fd, (off_t)size) != 0) ||
	    (errno = posix_fallocate(fd, 0, (off_t)size)) != 0)
		return errno_code(errno);
	rc = map(sg, fd, size);
	if (rc != SHMT_OK)
		return rc;
	ring_bind(sg, cap);
	/* whatever a dead creator or a forger left: the lock word free */
	memset(sg->h, 0, sizeof(*sg->h));
	sg->h->layout = SHMT_LAYOUT;
	sg->h->size = size;
	sg->h->capacity = cap;
	if (shmt_create_hook)
		shmt_create_hook();
	shmt_scfg_from(&sg->h->st.cfg[0], cfg);
	sg->h->st.cfg[1] = sg->h->st.cfg[0];
	memset(sg->notes, 0, SHMT_NOTES * sizeof(*sg->notes));
	shmt_ring_init(&sg->ring);
	__atomic_store_n(&sg->h->magic, SHMT_MAGIC, __ATOMIC_RELEASE);
	return SHMT_OK;
}

static int
in_my_groups(gid_t g)
{
	gid_t list[256];
	int n = getgroups(256, list);

	if (g == getegid())
		return 1;
	for (int i = 0; i < n; i++)
		if (list[i] == g)
			return 1;
	return 0;
}

static int
owner_check(const struct stat *sb, unsigned flags)
{
	if (sb->st_mode & 0007) /* anyone could write it */
		return SHMT_EPERM;
	if (sb->st_uid == geteuid())
		return SHMT_OK;
	if ((flags & SHMT_GROUP) && in_my_groups(sb->st_gid) &&
	    (sb->st_mode & 0060) == 0060)
		return SHMT_OK;
	return SHMT_EPERM;
}

/* How long an opener waits for a creator to publish the magic. */
int64_t shmt_ready_wait = 2 * SHMT_NS;

/* The magic, or 0 if the segment is too short to hold one. */
static int
read_magic(int fd, struct stat *sb, uint32_t *magic)
{
	*magic = 0;
	if (fstat(fd, sb) != 0)
		return errno_code(errno);
	if ((size_t)sb->st_size >= sizeof(*magic) &&
	    pread(fd, magic, sizeof(*magic), 0) != sizeof(*magic))
		return errno_code(errno);
	return SHMT_OK;
}

/*
 * Wait until the segment on fd has its magic; no one ever uses a half-built
 * segment.  Its creator holds flock(LOCK_EX) from creating the name to
 * publishing the magic, so a blank segment whose flock we can take lost
 * its creator (or its creator is between shm_open() and flock(), for a
 * moment: a creator that then finds the flock taken waits like anyone).
 * Under that flock a creator (cfg given) builds it itself (*built: 1
 * done, -1 failed, leaving a blank); a plain opener is told there is no
 * throttle (SHMT_ENOENT).
 */
static int
settle(struct shmt_seg *sg, int fd, const shmt_config *cfg, mode_t mode,
       unsigned flags, struct stat *sb, int *built)
{
	int64_t start = shmt_mono_ns();
	struct timespec nap = { 0, 1000000 };
	uint32_t magic;
	int rc, dead;

	for (;;) {
		if ((rc = read_magic(fd, sb, &magic)) != SHMT_OK)
			return rc;
		if (magic != 0)
			return magic == SHMT_MAGIC ? SHMT_OK : SHMT_EINVALID;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* the builder may have finished meanwhile */
			rc = read_magic(fd, sb, &magic);
			dead = sb->st_size > 0 || time(NULL) - sb->st_ctime > 2;
			if (rc == SHMT_OK && magic == 0 && cfg &&
			    (rc = owner_check(sb, flags)) == SHMT_OK) {
				rc = build(sg, fd, sb, cfg, mode);
				*built = rc == SHMT_OK ? 1 : -1;
			} else if (rc == SHMT_OK && magic == 0 && !cfg &&
			           dead) {
				rc = SHMT_ENOENT;
			} else if (rc == SHMT_OK && magic == 0) {
				rc = -1; /* a creator about to lock: wait */
			}
			flock(fd, LOCK_UN);
			if (rc != -1)
				return rc;
		}
		if (shmt_mono_ns() - start > shmt_ready_wait)
			return SHMT_ECREATING;
		nanosleep(&nap, NULL);
	}
}

static int
attach(struct shmt_seg *sg, int fd, const struct stat *sb, unsigned flags,
       int64_t now)
{
	struct shmt_header h;
	int rc = owner_check(sb, flags);

	if (rc != SHMT_OK)
		return rc;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return SHMT_EINVALID;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (h.layout != SHMT_LAYOUT)
		return SHMT_EVERSION;
	if (h.capacity < SHMT_CAPACITY_MIN || h.capacity > SHMT_CAPACITY_MAX ||
	    h.size != shmt_seg_size(h.capacity) ||
	    (uint64_t)sb->st_size != h.size)
		return SHMT_EINVALID;
	rc = map(sg, fd, h.size);
	if (rc != SHMT_OK)
		return rc;
	ring_bind(sg, h.capacity);
	sg->trylock = (flags & SHMT_TRYLOCK) != 0;
	rc = shmt_seg_lock(sg, NULL, &now);
	if (rc != SHMT_OK)
		return rc;
	/* O(1), whatever the log holds: the header, the state, the oldest
	 * and newest entries.  The whole log is checked by a repair and by
	 * shmt_verify(); damage in between is bounded where it is used. */
	if (shmt_ring_check_ends(&sg->ring) != SHMT_OK ||
	    newest_check(sg, now) != SHMT_OK)
		rc = SHMT_ECORRUPT;
	shmt_seg_unlock(sg);
	return rc;
}

/* One try at opening (or creating) the segment at path. */
static int
open_once(struct shmt_seg *sg, const char *path, const shmt_config *cfg,
          unsigned flags, int64_t now)
{
	mode_t mode = (flags & SHMT_GROUP) ? 0660 : 0600;
	int fd = -1, built = 0, rc;
	struct stat sb;

	if (flags & SHMT_CREATE) {
		fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, mode);
		if (fd < 0 && errno != EEXIST)
			return errno_code(errno);
	}
	if (fd < 0 && (fd = shm_open(path, O_RDWR, 0)) < 0)
		return errno_code(errno);
	rc = settle(sg, fd, (flags & SHMT_CREATE) ? cfg : NULL, mode, flags,
	            &sb, &built);
	if (rc == SHMT_OK && !built)
		rc = (flags & SHMT_EXCL) ? SHMT_EEXIST
		                         : attach(sg, fd, &sb, flags, now);
	if (rc != SHMT_OK) {
		int saved = errno;

		/* a blank we could not build (a full /dev/shm): no one can use
		 * it; a segment someone else built is not ours to unlink */
		if (built < 0)
			shm_unlink(path);
		close(fd);
		shmt_seg_close(sg);
		errno = saved;
		return rc;
	}
	sg->fd = fd;
	return SHMT_OK;
}

int
shmt_seg_open(struct shmt_seg *sg, const char *name, const shmt_config *cfg,
              unsigned flags, int64_t now)
{
	char path[SHMT_NAME_MAX + 32];
	struct timespec nap = { 0, 1000000 };
	int rc = shm_path(name, path);

	*sg = (struct shmt_seg){ .fd = -1 };
	if (rc != SHMT_OK)
		return rc;
	if ((flags & SHMT_CREATE) && (rc = shmt_config_check(cfg)) != SHMT_OK)
		return rc;
	/* Removed while we opened it: its remover unlinks it next, so the
	 * name, opened again, is the next throttle or none.  A mark that
	 * stays is damage. */
	for (int tries = 0; tries < 10; tries++) {
		rc = open_once(sg, path, cfg, flags, now);
		if (rc != SHMT_EREMOVED)
			return rc;
		nanosleep(&nap, NULL);
	}
	return SHMT_ECORRUPT;
}

void
shmt_seg_close(struct shmt_seg *sg)
{
	if (sg->h)
		munmap(sg->h, sg->size);
	if (sg->fd >= 0)
		close(sg->fd);
	*sg = (struct shmt_seg){ .fd = -1 };
}

int
shmt_seg_intact(struct shmt_seg *sg)
{
	struct stat sb;

	if (fstat(sg->fd, &sb) != 0)
		return errno_code(errno);
	if ((uint64_t)sb.st_size < sg->size)
		return SHMT_ETRUNCATED;
	if (sb.st_nlink == 0)
		return SHMT_EREMOVED;
	return SHMT_OK;
}

/* Mark a segment removed and wake its waiters, if it is one of ours that
 * we may write; anything else is simply unlinked. */
static void
mark_removed(const char *path)
{
	struct shmt_header *h;
	struct stat sb;
	int fd = shm_open(path, O_RDWR, 0);

	if (fd < 0)
		return;
	if (fstat(fd, &sb) != 0 ||
	    (size_t)sb.st_size < sizeof(struct shmt_header) ||
	    (h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	              0)) == MAP_FAILED) {
		close(fd);
		return;
	}
	close(fd);
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == SHMT_MAGIC &&
	    h->layout == SHMT_LAYOUT) {
		/* under the lock, so that no acquire is half-way through; a
		 * lock held too long is marked all the same */
		enum shmt_lock_result held =
		    shmt_lock_take(&h->lock, &h->lock_owner, shmt_lock_timeout);

		__atomic_store_n(&h->removed, 1, __ATOMIC_SEQ_CST);
		if (held != SHMT_LOCK_TIMEOUT)
			shmt_lock_release(&h->lock, &h->lock_owner);
		shmt_futex_wake_all(&h->wake);
	}
	munmap(h, sizeof(*h));
}

int
shmt_remove(const char *name)
{
	char path[SHMT_NAME_MAX + 32];
	int rc = shm_path(name, path);

	if (rc != SHMT_OK)
		return rc;
	mark_removed(path);
	if (shm_unlink(path) != 0)
		rc = errno_code(errno);
	return rc;
}

int
shmt_list(int (*fn)(const char *name, void *arg), void *arg)
{
	const size_t plen = sizeof(SHMT_SHM_PREFIX) - 1;
	struct dirent *de;
	int stop = 0, rc = SHMT_OK;
	DIR *d;

	if (!fn)
		return SHMT_EINVAL;
	if (!(d = opendir(SHMT_SHM_DIR)))
		return SHMT_ESYS;
	errno = 0;
	while (!stop && (de = readdir(d)) != NULL) {
		const char *name = de->d_name + plen;

		if (strncmp(de->d_name, SHMT_SHM_PREFIX, plen) == 0 &&
		    shmt_name_check(name) == SHMT_OK)
			stop = fn(name, arg) != 0;
		errno = 0;
	}
	if (!stop && errno != 0)
		rc = SHMT_ESYS;
	closedir(d);
	return rc;
}
