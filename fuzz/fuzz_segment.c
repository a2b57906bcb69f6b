/* fuzz_segment.c - attach to an arbitrary segment image.  The input is
 * XORed over a valid image (so the fuzzer starts past the magic); a first
 * byte of 0xff also truncates it.  One byte past the image picks
 * scenarios the XOR rarely finds: the lock word naming this very thread
 * (a dead holder whose id we got), and the configuration index switched
 * to the other slot.  Every call must return a code; none may crash,
 * hang or sleep. */
#define _GNU_SOURCE /* syscall() */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static char name[64], path[128];
static unsigned char *image;
static size_t image_size;

static void
remove_image(void)
{
	shmt_remove(name);
}

static void
make_image(void)
{
	shmt_config c;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	int fd;

	snprintf(name, sizeof(name), "fuzz-%ld", (long)getpid());
	snprintf(path, sizeof(path), "/dev/shm/shmthrottle.%s", name);
	shmt_remove(name);
	atexit(remove_image);
	shmt_config_init(&c);
	c.nrates = 1;
	c.rates[0] = (shmt_rate){ .max = 5, .period = 1 };
	c.capacity = 16;
	/* costs and places (issue 14): their state is in the image too */
	c.nunits = 1;
	c.units[0] = (shmt_rate){ .max = 100, .period = 1 };
	c.concurrency = 3;
	if (shmt_open(&t, name, &c, SHMT_CREATE) != SHMT_OK)
		abort();
	shmt_ticket_init(&tk);
	for (int i = 0; i < 6; i++)
		shmt_acquire_cost(t, &tk, 10 + i, 0, 0);
	shmt_cost_set(t, &tk, 4);
	shmt_record(t, &tk, 429, -1, "http://x/", 0, &out);
	shmt_close(t);
	fd = open(path, O_RDONLY);
	image_size = (size_t)lseek(fd, 0, SEEK_END);
	image = malloc(image_size);
	if (pread(fd, image, image_size, 0) != (ssize_t)image_size)
		abort();
	close(fd);
	shmt_lock_timeout = 10000000; /* 10 ms */
	shmt_ready_wait = 1000000;    /* 1 ms */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *img;
	size_t len;
	shmt_throttle *t;
	shmt_ticket tk;
	shmt_outcome out;
	shmt_stat st;
	shmt_log_entry log[8];
	shmt_place places[8];
	shmt_config c;
	size_t got;
	int fd;

	if (!image)
		make_image();
	img = malloc(image_size);
	memcpy(img, image, image_size);
	for (size_t i = 0; i < size && i < image_size; i++)
		img[i] ^= data[i];
	if (size > image_size) {
		struct shmt_header *h = (struct shmt_header *)img;

		if (data[image_size] & 1)
			h->lock = (uint32_t)syscall(SYS_gettid);
		if (data[image_size] & 2)
			h->st.cfg_active ^= 1;
	}
	len = size > 1 && data[0] == 0xff ? data[1] * image_size / 256
	                                  : image_size;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, img, len) != (ssize_t)len)
		abort();
	close(fd);
	free(img);
	if (shmt_open(&t, name, NULL, 0) == SHMT_OK) {
		shmt_stat_get(t, &st);
		shmt_ticket_init(&tk);
		shmt_acquire(t, &tk, 0);
		shmt_record(t, &tk, 429, -1, NULL, 0, &out);
		shmt_record(t, &tk, 200, -1, NULL, 0, &out);
		shmt_record_acquire(t, &tk, 429, 1, "http://y/", 0, &out, 0);
		shmt_log_read(t, log, 8, &got);
		shmt_ticket_init(&tk);
		shmt_acquire_cost(t, &tk, 50, 0, 0);
		shmt_cost_set(t, &tk, 7);
		shmt_cost_set(t, &tk, 90);
		shmt_places_read(t, places, 8, &got);
		shmt_release(t, &tk);
		shmt_verify(t);
		/* a switch of configuration over whatever the slots hold */
		shmt_config_init(&c);
		c.nrates = 1;
		c.rates[0] = (shmt_rate){ .max = 3, .period = 2 };
		c.nunits = 1;
		c.units[0] = (shmt_rate){ .max = 20, .period = 1 };
		c.concurrency = 1;
		shmt_config_set(t, &c);
		shmt_config_get(t, &c);
		shmt_reset(t, SHMT_RESET_ALL);
		shmt_close(t);
	}
	return 0;
}
