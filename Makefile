# libshmthrottle - see README.md.  `make`, `make check`, `make demo`,
# `make install PREFIX=/usr DESTDIR=...`.

VERSION := $(shell sed -n 's/^\#define SHMT_VERSION_STRING "\(.*\)"/\1/p' libshmthrottle/shmthrottle.h)
MAJOR := $(shell sed -n 's/^\#define SHMT_VERSION_MAJOR \([0-9]*\)/\1/p' libshmthrottle/shmthrottle.h)

PREFIX ?= /usr/local
DESTDIR ?=
bindir ?= $(PREFIX)/bin
libdir ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
mandir ?= $(PREFIX)/share/man
pkgconfigdir ?= $(libdir)/pkgconfig

CC ?= cc
AR ?= ar
PKG_CONFIG ?= pkg-config
# User flags: override freely; the required ones below stay.
CFLAGS ?= -O2 -g
LDFLAGS ?=
WARNINGS = -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow
# pkg-config is asked when a recipe needs the answer, not when make starts:
# `make check` may install libcurl and check (scripts/deps) a moment before.
REAL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -pthread $(WARNINGS) \
	-Ilibshmthrottle $(shell $(PKG_CONFIG) --cflags libcurl hiredis) $(CFLAGS) $(XCFLAGS)
# The core (everything but the libcurl glue, perform.c) needs only these;
# what links perform.o needs libcurl too.
CORE_LIBS = -pthread -lrt -lm $(shell $(PKG_CONFIG) --libs hiredis)
LIBS = $(CORE_LIBS) $(shell $(PKG_CONFIG) --libs libcurl)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

B = build
MINOR := $(shell sed -n 's/^\#define SHMT_VERSION_MINOR \([0-9]*\)/\1/p' libshmthrottle/shmthrottle.h)
# While the major version is 0 each minor version may change the ABI, so
# the soname carries it (libshmthrottle.so.0.2); from 1.0 on, the major.
SONAME = libshmthrottle.so.$(MAJOR)$(if $(filter 0,$(MAJOR)),.$(MINOR))
REALNAME = libshmthrottle.so.$(VERSION)
CORE_SRC = clock.c config.c error.c futex.c lock.c policy.c retry_after.c ring.c runner.c \
	timing.c quota.c learn.c cost.c inflight.c \
	segment.c throttle.c \
	backend.c redis.c
LIB_SRC = $(CORE_SRC) perform.c
CORE_OBJ = $(CORE_SRC:%.c=$(B)/lib/%.o)
LIB_OBJ = $(LIB_SRC:%.c=$(B)/lib/%.o)
LIB_PIC = $(LIB_SRC:%.c=$(B)/pic/%.o)
HEADERS = $(wildcard libshmthrottle/*.h)
TEST_SRC = $(wildcard tests/check_*.c)
TEST_OBJ = $(TEST_SRC:tests/%.c=$(B)/tests/%.o)

.PHONY: all check run-check demo run-demo bench install uninstall clean format format-check \
	asan ubsan tsan valgrind sanitize fuzz
TOOLS = $(B)/throttlectl $(B)/throttle-curl
all: $(B)/libshmthrottle.a $(B)/libshmthrottle.so $(TOOLS)

$(B)/tools/%.o: tools/%.c $(HEADERS) $(wildcard tools/*.h)
	@mkdir -p $(@D)
	$(CC) $(REAL_CFLAGS) -c -o $@ $<
# The tools link the static library: one file to install, no rpath.
# throttlectl needs no libcurl: it links the core archive, which has no
# perform.o, and loads only libc (a shell recipe starts it twice a request).
$(B)/throttlectl: $(B)/tools/throttlectl.o $(B)/tools/cli.o $(B)/tools/show.o \
		$(B)/tools/headers.o $(B)/tools/spark.o $(B)/tools/show_learn.o \
		$(B)/libshmthrottle-core.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)
$(B)/throttle-curl: $(B)/tools/throttle_curl.o $(B)/tools/writeout.o $(B)/tools/cli.o $(B)/libshmthrottle.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/lib/%.o: libshmthrottle/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(REAL_CFLAGS) -fvisibility=hidden -c -o $@ $<
$(B)/pic/%.o: libshmthrottle/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(REAL_CFLAGS) -fvisibility=hidden -fPIC -c -o $@ $<

$(B)/libshmthrottle.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^
# Not installed: the build's own archive without the libcurl glue.
$(B)/libshmthrottle-core.a: $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^
$(B)/$(REALNAME): $(LIB_PIC)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,libshmthrottle/libshmthrottle.vers \
		$(LDFLAGS) -o $@ $^ $(LIBS)
$(B)/libshmthrottle.so: $(B)/$(REALNAME)
	ln -sf $(<F) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

$(B)/tests/%.o: tests/%.c $(HEADERS) tests/testutil.h tests/redisutil.h
	@mkdir -p $(@D)
	$(CC) $(REAL_CFLAGS) $(CHECK_CFLAGS) -DTOOLS_DIR='"$(abspath $(B))"' \
		-DSOURCE_DIR='"$(CURDIR)"' -DBUILD_CC='"$(CC)"' -DBUILD_CFLAGS='"$(CFLAGS)"' \
		-DBUILD_LDFLAGS='"$(LDFLAGS)"' -c -o $@ $<
$(B)/tests/testutil.o: tests/testutil.c tests/testutil.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(REAL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<
$(TEST_OBJ): | $(TOOLS)
$(B)/check_shmthrottle: $(TEST_OBJ) $(B)/tests/testutil.o $(B)/tests/redisutil.o \
		$(B)/libshmthrottle.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LIBS)

# `make check` and `make demo` first install the Debian packages they need
# and lack (scripts/deps; NO_DEPS=1 skips it), then build and run in a new
# make, which reads what pkg-config says after the install.
check demo:
	@scripts/deps $@
	@$(MAKE) --no-print-directory run-$@

# The whole suite; CK_RUN_SUITE=policy (etc.) runs one suite.
run-check: all $(B)/check_shmthrottle
	$(B)/check_shmthrottle

# The whole suite under each sanitizer, each in its own build folder.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer
asan:
	CK_TIMEOUT_MULTIPLIER=10 $(MAKE) B=build-asan CFLAGS="$(SAN_FLAGS) -fsanitize=address" \
		LDFLAGS="-fsanitize=address" check
ubsan:
	CK_TIMEOUT_MULTIPLIER=10 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MAKE) B=build-ubsan \
		CFLAGS="$(SAN_FLAGS) -fsanitize=undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=undefined" check
tsan:
	CK_TIMEOUT_MULTIPLIER=10 TSAN_OPTIONS=halt_on_error=1 $(MAKE) B=build-tsan CFLAGS="$(SAN_FLAGS) -fsanitize=thread" \
		LDFLAGS="-fsanitize=thread" check
# memcheck over the suites that run in one process (CK_FORK=no), and the tools.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
valgrind: all $(B)/check_shmthrottle
	for s in config policy seed-defects ring retry-after runner; do \
		CK_FORK=no CK_RUN_SUITE=$$s $(VALGRIND) $(B)/check_shmthrottle || exit 1; done
	CK_FORK=no CK_RUN_SUITE=segment CK_RUN_CASE=api $(VALGRIND) $(B)/check_shmthrottle
	$(VALGRIND) $(B)/throttlectl create vg-$$$$ --period 1 --max 5 && \
	$(VALGRIND) $(B)/throttlectl acquire vg-$$$$ >/dev/null && \
	$(VALGRIND) $(B)/throttlectl record vg-$$$$ 429 --retry-after 'Sun, 06 Nov 1994 08:49:37 GMT' >/dev/null; \
	test $$? -eq 10 && $(VALGRIND) $(B)/throttlectl status vg-$$$$ --json >/dev/null && \
	$(VALGRIND) $(B)/throttlectl remove vg-$$$$
sanitize: asan ubsan tsan valgrind

# libFuzzer (clang): each harness for FUZZ_TIME seconds, from the committed
# seed corpus; what it finds new goes to build-fuzz/corpus, crashes to
# build-fuzz/crash-*.
FUZZ_TIME ?= 20
FUZZERS = retry_after ticket config segment cli quota
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -Ilibshmthrottle -Itools $(shell $(PKG_CONFIG) --cflags libcurl hiredis)
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB_SRC:%=libshmthrottle/%) $(HEADERS) tools/cli.c tools/writeout.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC:%=libshmthrottle/%) tools/cli.c tools/writeout.c $(LIBS)
fuzz: $(FUZZERS:%=build-fuzz/fuzz_%)
	for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus/$$f; \
		build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -max_len=4096 -close_fd_mask=3 \
			-artifact_prefix=build-fuzz/crash-$$f- build-fuzz/corpus/$$f fuzz/corpus/$$f \
			2>build-fuzz/$$f.log || { tail -40 build-fuzz/$$f.log; exit 1; }; \
		echo "fuzz $$f: clean, $$(grep -o 'Done [0-9]* runs' build-fuzz/$$f.log)"; \
	done

# Benchmarks: they report, they do not pass or fail (docs/benchmarks.md).
$(B)/bench: bench/bench.c $(B)/libshmthrottle.a $(HEADERS) | $(TOOLS)
	$(CC) $(REAL_CFLAGS) -DTOOLS_DIR='"$(abspath $(B))"' -o $@ $< \
		$(B)/libshmthrottle.a $(LIBS)
$(B)/bench-redis: bench/bench_redis.c $(B)/libshmthrottle.a $(HEADERS)
	$(CC) $(REAL_CFLAGS) -o $@ $< $(B)/libshmthrottle.a $(LIBS)
bench: all $(B)/bench $(B)/bench-redis
	$(B)/bench
	$(B)/bench-redis $(CURDIR)
	BACKEND=redis scripts/demo $(abspath $(B))
	bench/e2e $(abspath $(B))
	bench/e2e-quota $(abspath $(B))
	HEADER=1 bench/e2e-costs $(abspath $(B))
	USED=50 bench/e2e-costs $(abspath $(B))

# The main job on a local rate-limited server (needs nginx); BACKEND=redis
# keeps the throttle on a redis-server of its own.
run-demo: all
	BACKEND=$(BACKEND) scripts/demo $(abspath $(B))

# The .pc is written by install, from the install's PREFIX and dirs (never
# DESTDIR): whatever PREFIX the build ran with, the .pc names the install.
install: all
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir) $(DESTDIR)$(pkgconfigdir) \
		$(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3
	install -m 755 $(TOOLS) $(DESTDIR)$(bindir)/
	install -m 644 docs/*.1 $(DESTDIR)$(mandir)/man1/
	install -m 644 docs/*.3 $(DESTDIR)$(mandir)/man3/
	install -m 644 libshmthrottle/shmthrottle.h $(DESTDIR)$(includedir)/
	install -m 644 $(B)/libshmthrottle.a $(DESTDIR)$(libdir)/
	install -m 755 $(B)/$(REALNAME) $(DESTDIR)$(libdir)/
	ln -sf $(REALNAME) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libshmthrottle.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(libdir)|' \
	    -e 's|@INCLUDEDIR@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	    libshmthrottle/libshmthrottle.pc.in > $(DESTDIR)$(pkgconfigdir)/libshmthrottle.pc
	chmod 644 $(DESTDIR)$(pkgconfigdir)/libshmthrottle.pc

uninstall:
	rm -f $(TOOLS:$(B)/%=$(DESTDIR)$(bindir)/%) $(DESTDIR)$(mandir)/man1/throttle*.1 \
		$(DESTDIR)$(mandir)/man3/shmthrottle.3
	rm -f $(DESTDIR)$(includedir)/shmthrottle.h $(DESTDIR)$(libdir)/libshmthrottle.* \
		$(DESTDIR)$(pkgconfigdir)/libshmthrottle.pc

# Every C file of the tree, in the one style of .clang-format; CI runs
# format-check, which changes nothing and fails on any difference.
FORMAT_SRC = $(patsubst ./%,%,$(sort $(shell find . \( -path './build*' -o -path ./.git \) -prune \
	-o -name '*.[ch]' -print)))
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

clean:
	rm -rf $(B) build-asan build-ubsan build-tsan build-fuzz
