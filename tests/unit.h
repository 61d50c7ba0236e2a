/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What the unit-test binaries (tests/test_*.c) share: assertions, a table
 * of named tests, and the loop that runs them and ends with the line
 * "N passed, N failed", which tests/run_tests.py folds into its totals.
 *
 * Assertions return bool, as in the kernel's test_progs.h, so that a test
 * stops at the first one that fails:
 *
 *	if (!ASSERT_EQ(r.fd, 7, "leak fd"))
 *		return false;
 *
 * Only the first failure's message is kept: later ones tend to follow
 * from it.  It is printed on the test's FAIL line.
 */
#ifndef __FDTRACE_TESTS_UNIT_H
#define __FDTRACE_TESTS_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_test {
	const char *name;
	bool (*fn)(void);
};

/* a test named NAME is the function test_NAME */
#define UNIT_TEST(name)	{ #name, test_##name }

static char unit_fail_msg[512];

/* inline: a binary that never calls it must still build with -Werror */
static inline __attribute__((format(printf, 1, 2)))
bool fail(const char *fmt, ...)
{
	va_list ap;

	if (unit_fail_msg[0])
		return false;
	va_start(ap, fmt);
	vsnprintf(unit_fail_msg, sizeof(unit_fail_msg), fmt, ap);
	va_end(ap);
	return false;
}

#define ASSERT_EQ(got, want, what) ({					\
	long long __g = (long long)(got), __w = (long long)(want);	\
	__g == __w ? true : fail("%s:%d: %s: got %lld, want %lld",	\
				 __FILE__, __LINE__, (what), __g, __w);	\
})

#define ASSERT_TRUE(cond, what) ({					\
	(cond) ? true : fail("%s:%d: %s: false", __FILE__, __LINE__, (what)); \
})

#define ASSERT_STREQ(got, want, what) ({				\
	const char *__g = (got), *__w = (want);				\
	!strcmp(__g, __w) ? true : fail("%s:%d: %s: got \"%s\", want \"%s\"", \
					__FILE__, __LINE__, (what), __g, __w); \
})

/*
 * Run the tests named in names[] (every test when nr_names is 0), each
 * between setup() and teardown() where given; a failed setup() fails the
 * test.  Returns the exit status: 1 if any failed.
 */
static inline int unit_run(const struct unit_test *tests, size_t nr_tests,
			   char **names, int nr_names,
			   bool (*setup)(void), void (*teardown)(void))
{
	int passed = 0, failed = 0, i;
	size_t t;

	for (t = 0; t < nr_tests; t++) {
		bool ok, want = !nr_names;

		for (i = 0; i < nr_names && !want; i++)
			want = !strcmp(names[i], tests[t].name);
		if (!want)
			continue;
		unit_fail_msg[0] = '\0';
		ok = (!setup || setup()) && tests[t].fn();
		if (teardown)
			teardown();
		if (ok) {
			printf("ok %s\n", tests[t].name);
			passed++;
		} else if (unit_fail_msg[0]) {
			printf("FAIL %s: %s\n", tests[t].name, unit_fail_msg);
			failed++;
		} else {
			printf("FAIL %s\n", tests[t].name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/*
 * A scratch directory of the test binary's own: unit_tmp_init("test_x")
 * makes /tmp/test_x.XXXXXX, unit_path("f") names a file in it (the last
 * four results stay valid), unit_tmp_remove() removes it and all it holds.
 */
static inline char *unit_tmp_dir(void)
{
	static char dir[64];

	return dir;
}

static inline bool unit_tmp_init(const char *name)
{
	snprintf(unit_tmp_dir(), 64, "/tmp/%s.XXXXXX", name);
	if (!mkdtemp(unit_tmp_dir())) {
		perror("mkdtemp");
		return false;
	}
	return true;
}

static inline const char *unit_path(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", unit_tmp_dir(), name);
	return p[i];
}

static inline void unit_tmp_remove(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_tmp_dir());
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", unit_tmp_dir());
}

#endif /* __FDTRACE_TESTS_UNIT_H */
