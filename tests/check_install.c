/* check_install.c - `make install` as a packager runs it: the installed
 * .pc names the install's PREFIX, whatever was built before, and a program
 * built with the flags it gives compiles, links (shared and static) and
 * runs against the installed header and libraries. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

#if !defined(SOURCE_DIR) || !defined(TOOLS_DIR) || !defined(BUILD_CC)
#error "SOURCE_DIR, TOOLS_DIR (the build folder) and BUILD_* must be defined"
#endif

/* The build in use (B, compiler, flags: a sanitizer's too), so that make
 * installs what was built and rebuilds nothing elsewhere; a clean make,
 * not the jobserver nor the overrides of the make running these tests. */
#define MAKE_INSTALL                                                           \
	"env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR"         \
	" make -s -C '" SOURCE_DIR "' install B='" TOOLS_DIR "'"               \
	" CC='" BUILD_CC "' CFLAGS='" BUILD_CFLAGS "'"                         \
	" LDFLAGS='" BUILD_LDFLAGS "'"
/* The consumer is built with the same compiler and flags as the library
 * (a sanitized library needs its runtime), plus what pkg-config says. */
#define CONSUMER_CC BUILD_CC " " BUILD_CFLAGS " -o prog prog.c " BUILD_LDFLAGS

static const char consumer[] =
    "#include <stdio.h>\n"
    "#include <shmthrottle.h>\n"
    "int main(int argc, char **argv) {\n"
    "	shmt_throttle *t;\n"
    "	shmt_config cfg;\n"
    "	shmt_curl_opts o;\n"
    "	int rc;\n"
    "	if (argc != 2) return 2;\n"
    "	shmt_config_init(&cfg);\n"
    "	cfg.nrates = 1;\n"
    "	cfg.rates[0].max = 5;\n"
    "	cfg.rates[0].period = 1.0;\n"
    /* the curl glue: a static link then needs Requires.private */
    "	shmt_curl_opts_init(&o);\n"
    "	rc = shmt_open(&t, argv[1], &cfg, SHMT_CREATE);\n"
    "	if (rc == SHMT_OK) {\n"
    "		shmt_close(t);\n"
    "		rc = shmt_remove(argv[1]);\n"
    "	}\n"
    "	if (rc != SHMT_OK) {\n"
    "		fprintf(stderr, \"%s: %s\\n\", argv[1], shmt_strerror(rc));\n"
    "		return 1;\n"
    "	}\n"
    "	printf(\"%s\\n\", shmt_version());\n"
    "	return 0;\n"
    "}\n";

static char out[1 << 16];

/* Run a shell command, stdout and stderr in out[]; its exit status. */
static int
run(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = test_vsh(out, sizeof(out), " 2>&1", fmt, ap);
	va_end(ap);
	return rc;
}

#define run_ok(...) ck_assert_msg(run(__VA_ARGS__) == 0, "failed:\n%s", out)

static char *
destdir(void)
{
	static char dir[32];

	strcpy(dir, "/tmp/shmt-install-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

/* Does `text` hold `line` as a whole line? */
static int
has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += len)
		if ((p == text || p[-1] == '\n') &&
		    (p[len] == '\n' || p[len] == '\0'))
			return 1;
	return 0;
}

/* The .pc installed for PREFIX under DESTDIR d names PREFIX, never d;
 * it is left in out[]. */
static void
assert_pc_prefix(const char *d, const char *prefix)
{
	char want[256];

	run_ok("cat '%s%s/lib/pkgconfig/libshmthrottle.pc'", d, prefix);
	ck_assert_msg(strstr(out, d) == NULL, "DESTDIR in the .pc:\n%s", out);
	snprintf(want, sizeof(want), "prefix=%s", prefix);
	ck_assert_msg(has_line(out, want), "want %s in:\n%s", want, out);
	snprintf(want, sizeof(want), "libdir=%s/lib", prefix);
	ck_assert_msg(has_line(out, want), "want %s in:\n%s", want, out);
	snprintf(want, sizeof(want), "includedir=%s/include", prefix);
	ck_assert_msg(has_line(out, want), "want %s in:\n%s", want, out);
}

/* Build prog in d with `pkg-config OPTS` from the installed .pc, run it
 * with `env`, and check it prints the version. */
static void
build_and_run(const char *d, const char *opts, const char *env)
{
	const char *name = test_name("install");
	char want[256];

	run_ok("pkg-config %s --cflags --libs libshmthrottle", opts);
	/* the flags point into DESTDIR, not at some installed copy */
	snprintf(want, sizeof(want), "-I%s/usr/include ", d);
	ck_assert_msg(strstr(out, want), "want %s in: %s", want, out);
	snprintf(want, sizeof(want), "-L%s/usr/lib -lshmthrottle ", d);
	ck_assert_msg(strstr(out, want), "want %s in: %s", want, out);
	run_ok("cd '%s' && " CONSUMER_CC " $(pkg-config %s --cflags --libs "
	       "libshmthrottle)",
	       d, opts);
	ck_assert_int_eq(run("cd '%s' && %s ./prog %s", d, env, name), 0);
	ck_assert_str_eq(out, SHMT_VERSION_STRING "\n");
}

START_TEST(a_usr_install_after_the_build_links_and_runs)
{
	char *d = destdir();
	char path[256];
	FILE *f;

	run_ok(MAKE_INSTALL " PREFIX=/usr DESTDIR='%s'", d);
	assert_pc_prefix(d, "/usr");
	ck_assert_msg(has_line(out, "Requires.private: libcurl hiredis"), "%s",
	              out);
	ck_assert_msg(strstr(out, "\nLibs.private: -pthread -lrt"), "%s", out);

	snprintf(path, sizeof(path), "%s/prog.c", d);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(consumer, f);
	ck_assert_int_eq(fclose(f), 0);
	setenv("PKG_CONFIG_SYSROOT_DIR", d, 1);
	snprintf(path, sizeof(path), "%s/usr/lib/pkgconfig", d);
	setenv("PKG_CONFIG_PATH", path, 1);

	/* shared: the libshmthrottle.so of DESTDIR */
	snprintf(path, sizeof(path), "LD_LIBRARY_PATH=%s/usr/lib", d);
	build_and_run(d, "", path);

	/* static: with the .so gone, -lshmthrottle is the .a, and what it
	 * needs comes from Libs.private and Requires.private.  libcurl is
	 * linked shared: Debian's libcurl.pc lists, for --static, libraries
	 * whose -dev packages libcurl4-openssl-dev does not install, so a
	 * libcurl.pc without them stands in front of it. */
	run_ok("cd '%s' && rm usr/lib/libshmthrottle.so* && mkdir curl-pc && "
	       "unset PKG_CONFIG_SYSROOT_DIR && "
	       "printf 'Name: libcurl\\nDescription: libcurl, shared\\n"
	       "Version: %%s\\nLibs: %%s\\nCflags: %%s\\n' "
	       "\"$(pkg-config --modversion libcurl)\" "
	       "\"$(pkg-config --libs libcurl)\" "
	       "\"$(pkg-config --cflags libcurl)\" > curl-pc/libcurl.pc",
	       d);
	snprintf(path, sizeof(path), "%s/usr/lib/pkgconfig:%s/curl-pc", d, d);
	setenv("PKG_CONFIG_PATH", path, 1);
	build_and_run(d, "--static", "");
	run_ok("cd '%s' && readelf -d prog", d);
	ck_assert_msg(strstr(out, "libshmthrottle") == NULL,
	              "linked shared:\n%s", out);
	run_ok("rm -rf '%s'", d);
}
END_TEST

START_TEST(each_install_writes_its_own_prefix)
{
	char *d = destdir();

	run_ok(MAKE_INSTALL " DESTDIR='%s'", d);
	run_ok(MAKE_INSTALL " PREFIX=/opt/x DESTDIR='%s'", d);
	assert_pc_prefix(d, "/opt/x");
	assert_pc_prefix(d, "/usr/local");
	run_ok("rm -rf '%s'", d);
}
END_TEST

Suite *
install_suite(void)
{
	Suite *s = suite_create("install");
	TCase *tc = tcase_create("make-install");

	tcase_add_test(tc, a_usr_install_after_the_build_links_and_runs);
	tcase_add_test(tc, each_install_writes_its_own_prefix);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
