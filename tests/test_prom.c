// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Unit tests of the Prometheus exposition (prom.c) and of the unit a
 * cgroup path names (attrib__unit_of(), whose label prom.c exports).  No root, no BPF.  `promtool check metrics` on
 * a written file is in tests/prom_tests.py.
 *
 *   test_prom            run every test
 *   test_prom NAME...    run the named tests only
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "attrib.h"
#include "prom.h"
#include "unit.h"

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* The value of the series that begins with prefix (name{labels}), or -1 */
static double series(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (!strncmp(l, prefix, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	}
	return -1;
}

static bool has_series(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (!strncmp(l, prefix, n) && l[n] == ' ')
			return true;
	}
	return false;
}

static const struct prom_global G = { .lost_events = 2, .untracked = 1, .processes_traced = 1 };

static struct prom_proc proc(__u32 pid, const char *unit, const char *comm,
			     const struct proc_stats *st)
{
	return (struct prom_proc){ .pid = pid, .unit = unit, .comm = comm, .st = st,
				   .fd_limit_in_s = -1 };
}

/* ---- the exposition ---- */

static bool test_exposition_exact(void)
{
	struct proc_stats st = { .watches_ended = 10, .closed = 7, .leaks = 3, .open_leaks = 2,
				 .leaks_idle = 3, .lost = 1 };
	struct prom_proc pp = proc(42, "nginx.service", "nginx", &st);
	struct prom *p = prom__new(unit_path("exact.prom"), 4);
	char *got, want[1 << 15];
	size_t o = 0;
	bool ok;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	pp.open_fds = 100;
	pp.fd_limit = 1024;
	pp.fd_limit_in_s = 3600.5;
	if (!ASSERT_EQ(prom__proc(p, &pp), 0, "prom__proc"))
		return false;

	/* counters.h's rows, in its order, each with the row's own help */
#define X(name, kind, text, help)						\
	o += snprintf(want + o, sizeof(want) - o,				\
		      "# HELP fdtrace_%s%s %s\n# TYPE fdtrace_%s%s %s\n"	\
		      "fdtrace_%s%s{unit=\"nginx.service\",comm=\"nginx\"} %llu\n", \
		      #name, kind == CNT_COUNTER ? "_total" : "", help,		\
		      #name, kind == CNT_COUNTER ? "_total" : "",		\
		      kind == CNT_COUNTER ? "counter" : "gauge",		\
		      #name, kind == CNT_COUNTER ? "_total" : "",		\
		      (unsigned long long)st.name);
	FDT_PROC_COUNTERS(X)
#undef X
	o += snprintf(want + o, sizeof(want) - o, "%s",
"# HELP fdtrace_open_fds open fds of the live traced processes, summed\n"
"# TYPE fdtrace_open_fds gauge\n"
"fdtrace_open_fds{unit=\"nginx.service\",comm=\"nginx\"} 100\n"
"# HELP fdtrace_fd_limit soft RLIMIT_NOFILE of the live traced processes whose limit is known, summed\n"
"# TYPE fdtrace_fd_limit gauge\n"
"fdtrace_fd_limit{unit=\"nginx.service\",comm=\"nginx\"} 1024\n"
"# HELP fdtrace_fd_usage_ratio highest open fds / soft fd limit among the live processes\n"
"# TYPE fdtrace_fd_usage_ratio gauge\n"
"fdtrace_fd_usage_ratio{unit=\"nginx.service\",comm=\"nginx\"} 0.09765625\n"
"# HELP fdtrace_fd_exhaustion_seconds shortest projected time until a live process reaches its fd limit at its leak rate; +Inf: none is leaking\n"
"# TYPE fdtrace_fd_exhaustion_seconds gauge\n"
"fdtrace_fd_exhaustion_seconds{unit=\"nginx.service\",comm=\"nginx\"} 3600.5\n"
"# HELP fdtrace_lost_events_total records the kernel could not deliver (ring buffer full), all processes\n"
"# TYPE fdtrace_lost_events_total counter\n"
"fdtrace_lost_events_total 2\n"
"# HELP fdtrace_map_full_drops_total watched fds the kernel could not track (--max-fds map full), all processes\n"
"# TYPE fdtrace_map_full_drops_total counter\n"
"fdtrace_map_full_drops_total 1\n"
"# HELP fdtrace_processes_traced processes traced now\n"
"# TYPE fdtrace_processes_traced gauge\n"
"fdtrace_processes_traced 1\n"
"# HELP fdtrace_sample_ratio fraction of epoll watches tracked (1/N of --sample N): counts are of the tracked ones\n"
"# TYPE fdtrace_sample_ratio gauge\n"
"fdtrace_sample_ratio 0.25\n");

	got = prom__text(p, &G);
	ok = ASSERT_TRUE(got, "prom__text") && ASSERT_STREQ(got, want, "exposition");
	/* what prom__write puts in the file is that text */
	ok = ok && ASSERT_EQ(prom__write(p, &G), 0, "prom__write") &&
	     ASSERT_STREQ(slurp(unit_path("exact.prom")), want, "file");
	free(got);
	prom__free(p);
	return ok;
}

/* The families have HELP and TYPE before any process is seen */
static bool test_empty(void)
{
	struct prom *p = prom__new(unit_path("empty.prom"), 0);
	char *t;
	bool ok;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	t = prom__text(p, &(struct prom_global){ 0 });
	ok = ASSERT_TRUE(t && strstr(t, "# TYPE fdtrace_leaks_total counter\n"), "leaks family") &&
	     ASSERT_TRUE(strstr(t, "# TYPE fdtrace_open_leaks gauge\n") != NULL, "open_leaks family") &&
	     ASSERT_TRUE(!strstr(t, "{"), "no labelled series") &&
	     ASSERT_EQ(series(t, "fdtrace_sample_ratio"), 1, "not sampled");
	free(t);
	prom__free(p);
	return ok;
}

static double leaks_of(struct prom *p, const char *ls)
{
	char name[256];
	char *t = prom__text(p, &G);
	double v;

	snprintf(name, sizeof(name), "fdtrace_leaks_total%s", ls);
	v = t ? series(t, name) : -2;
	free(t);
	return v;
}

#define WEB "{unit=\"web.service\",comm=\"web\"}"

static bool test_counters_monotone_across_exit(void)
{
	struct prom *p = prom__new(unit_path("mono.prom"), 1);
	struct proc_stats a = { .leaks = 3, .open_leaks = 3 }, b = { 0 };
	struct prom_proc pa = proc(100, "web.service", "web", &a);
	struct prom_proc pb = proc(101, "web.service", "web", &b);
	bool ok = true;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	prom__proc(p, &pa);
	prom__proc(p, &pb);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 3, "two processes");
	prom__write(p, &G);

	/* a exits: its final count stays in the sum, its open leaks do not */
	a.leaks = 4;
	a.open_leaks = 0;
	pa.exited = true;
	prom__proc(p, &pa);
	b.leaks = 1;
	prom__proc(p, &pb);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 5, "after a's exit") &&
	     ASSERT_EQ(prom__nr_procs(p), 1, "live processes");
	prom__write(p, &G);

	/* a restart: a new pid, counting from 0 */
	struct proc_stats c = { .leaks = 0 };
	struct prom_proc pc = proc(102, "web.service", "web", &c);

	prom__proc(p, &pc);
	prom__proc(p, &pb);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 5, "a new process");
	prom__write(p, &G);

	/* pid 101 reused by a new process whose predecessor's exit was missed */
	struct proc_stats d = { .leaks = 0 };
	struct prom_proc pd = proc(101, "web.service", "web", &d);

	prom__proc(p, &pd);
	prom__proc(p, &pc);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 5, "pid reused, counters lower") &&
	     ASSERT_EQ(prom__nr_procs(p), 2, "processes after reuse");

	/* ... or by a process of another label set */
	struct prom_proc pe = proc(101, "other.service", "other", &d);

	prom__proc(p, &pe);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 5, "pid reused by another unit") &&
	     ASSERT_EQ(leaks_of(p, "{unit=\"other.service\",comm=\"other\"}"), 0, "other's");
	prom__write(p, &G);

	/* an exit reported for a pid never seen alive */
	struct proc_stats f = { .leaks = 2 };
	struct prom_proc pf = proc(103, "web.service", "web", &f);

	pf.exited = true;
	prom__proc(p, &pf);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 7, "exit of an unseen process");

	/*
	 * Not reported for many writes (no activity): held as last reported,
	 * counted once, also when reported again with more.
	 */
	for (int i = 0; i < 20; i++)
		prom__write(p, &G);
	ok = ok && ASSERT_EQ(prom__nr_procs(p), 2, "idle processes held") &&
	     ASSERT_EQ(leaks_of(p, WEB), 7, "idle processes counted once");
	c.leaks = 1;
	prom__proc(p, &pc);
	ok = ok && ASSERT_EQ(leaks_of(p, WEB), 8, "an idle process reported again") &&
	     ASSERT_EQ(prom__nr_labelsets(p), 2, "label sets kept");
	prom__free(p);
	return ok;
}

static bool test_gauges_worst_process(void)
{
	struct prom *p = prom__new(unit_path("gauges.prom"), 1);
	struct proc_stats s1 = { .open_leaks = 2 }, s2 = { .open_leaks = 1 }, s3 = { 0 };
	struct prom_proc p1 = proc(1, "app.service", "app", &s1);
	struct prom_proc p2 = proc(2, "app.service", "app", &s2);
	struct prom_proc p3 = proc(3, "calm.service", "calm", &s3);
	char *t;
	bool ok;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	p1.open_fds = 500;
	p1.fd_limit = 1000;
	p1.fd_limit_in_s = 7200;
	p2.open_fds = 300;
	p2.fd_limit = 400;
	p2.fd_limit_in_s = 900;
	p3.open_fds = 10;
	p3.fd_limit = 0;	/* unknown */
	prom__proc(p, &p1);
	prom__proc(p, &p2);
	prom__proc(p, &p3);
	t = prom__text(p, &G);
#define APP "{unit=\"app.service\",comm=\"app\"}"
#define CALM "{unit=\"calm.service\",comm=\"calm\"}"
	ok = ASSERT_EQ(series(t, "fdtrace_open_fds" APP), 800, "open fds summed") &&
	     ASSERT_EQ(series(t, "fdtrace_fd_limit" APP), 1400, "limits summed") &&
	     ASSERT_EQ(series(t, "fdtrace_fd_usage_ratio" APP) * 100, 75, "the highest ratio") &&
	     ASSERT_EQ(series(t, "fdtrace_fd_exhaustion_seconds" APP), 900, "the shortest time") &&
	     ASSERT_EQ(series(t, "fdtrace_open_leaks" APP), 3, "open leaks summed") &&
	     ASSERT_TRUE(strstr(t, "fdtrace_fd_exhaustion_seconds" CALM " +Inf\n") != NULL,
			 "+Inf: not leaking") &&
	     ASSERT_TRUE(!has_series(t, "fdtrace_fd_usage_ratio" CALM), "no ratio without a limit") &&
	     ASSERT_TRUE(!has_series(t, "fdtrace_fd_limit" CALM), "no limit when unknown") &&
	     ASSERT_EQ(series(t, "fdtrace_open_fds" CALM), 10, "calm's fds");
	free(t);
	if (!ok)
		goto out;

	/*
	 * After a write: app's process 2 exits, 1 is not reported (it keeps
	 * its last numbers); calm's is reported.
	 */
	prom__write(p, &G);
	p2.exited = true;
	prom__proc(p, &p2);
	p3.open_fds = 12;
	prom__proc(p, &p3);
	t = prom__text(p, &G);
	ok = ASSERT_EQ(series(t, "fdtrace_open_fds" APP), 500, "process 1's last fds") &&
	     ASSERT_EQ(series(t, "fdtrace_fd_exhaustion_seconds" APP), 7200, "process 1's time") &&
	     ASSERT_EQ(series(t, "fdtrace_open_leaks" APP), 2, "process 1's open leaks") &&
	     ASSERT_EQ(series(t, "fdtrace_open_fds" CALM), 12, "calm's new fds");
	free(t);
	if (!ok)
		goto out;

	/* every process of app gone: no gauges but open_leaks 0 */
	p1.exited = true;
	prom__proc(p, &p1);
	t = prom__text(p, &G);
	ok = ASSERT_TRUE(!has_series(t, "fdtrace_open_fds" APP), "no live app: no fds") &&
	     ASSERT_TRUE(!has_series(t, "fdtrace_fd_exhaustion_seconds" APP), "no live app: no time") &&
	     ASSERT_TRUE(!has_series(t, "fdtrace_fd_usage_ratio" APP), "no live app: no ratio") &&
	     ASSERT_EQ(series(t, "fdtrace_open_leaks" APP), 0, "no live app: no open leaks");
	free(t);
out:
	prom__free(p);
	return ok;
}

static bool test_label_escaping(void)
{
	struct proc_stats st = { .leaks = 1 };
	struct prom_proc a = proc(1, "/a\\b\"c\nd", "x\xff" "y\xe2\x82", &st);
	struct prom_proc b = proc(2, "caf\xc3\xa9.service", "\xe2\x82\xac", &st);
	struct prom *p = prom__new(unit_path("esc.prom"), 1);
	char *t;
	bool ok;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	prom__proc(p, &a);
	prom__proc(p, &b);
	t = prom__text(p, &G);
	ok = ASSERT_TRUE(t, "prom__text") &&
	     /* invalid UTF-8: one U+FFFD per byte that does not start a sequence */
	     ASSERT_EQ(series(t, "fdtrace_leaks_total{unit=\"/a\\\\b\\\"c\\nd\","
			      "comm=\"x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\"}"), 1,
		       "escaped and made UTF-8") &&
	     /* valid UTF-8 is kept as it is */
	     ASSERT_EQ(series(t, "fdtrace_leaks_total{unit=\"caf\xc3\xa9.service\","
			      "comm=\"\xe2\x82\xac\"}"), 1, "UTF-8 kept");
	free(t);
	prom__free(p);
	return ok;
}

/* Two raw values that escape to the same label value are one label set */
static bool test_same_labels_one_set(void)
{
	struct proc_stats st = { .leaks = 1 };
	struct prom_proc a = proc(1, "u", "a\xff", &st), b = proc(2, "u", "a\xfe", &st);
	struct prom *p = prom__new(unit_path("same.prom"), 1);
	bool ok;

	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	prom__proc(p, &a);
	prom__proc(p, &b);
	ok = ASSERT_EQ(prom__nr_labelsets(p), 1, "label sets") &&
	     ASSERT_EQ(leaks_of(p, "{unit=\"u\",comm=\"a\xef\xbf\xbd\"}"), 2, "summed");
	prom__free(p);
	return ok;
}

static int count_entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	if (!dh)
		return -1;
	while ((e = readdir(dh))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	}
	closedir(dh);
	return n;
}

static bool test_atomic_replace(void)
{
	char sub[256], target[300], victim[300];
	struct proc_stats st = { .leaks = 5 };
	struct prom_proc pp = proc(1, "a.service", "a", &st);
	struct stat before, after, sb;
	struct prom *p;
	mode_t old_umask;
	bool ok;
	int fd;

	snprintf(sub, sizeof(sub), "%s", unit_path("textfile"));
	snprintf(target, sizeof(target), "%s/fdtrace.prom", sub);
	snprintf(victim, sizeof(victim), "%s", unit_path("victim"));
	mkdir(sub, 0755);
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (!ASSERT_TRUE(fd >= 0, "create the old file"))
		return false;
	if (write(fd, "old\n", 4) != 4)
		return fail("write old");
	close(fd);
	stat(target, &before);

	p = prom__new(target, 1);
	if (!ASSERT_TRUE(p, "prom__new"))
		return false;
	prom__proc(p, &pp);
	/* node_exporter runs as another user: 0644 whatever the umask */
	old_umask = umask(077);
	ok = ASSERT_EQ(prom__write(p, &G), 0, "prom__write");
	umask(old_umask);
	ok = ok && ASSERT_EQ(stat(target, &after), 0, "stat") &&
	     /* renamed over, not rewritten in place: a reader keeps the old inode */
	     ASSERT_TRUE(after.st_ino != before.st_ino, "a new inode") &&
	     ASSERT_EQ(after.st_mode & 07777, 0644, "mode") &&
	     ASSERT_EQ(series(slurp(target), "fdtrace_leaks_total{unit=\"a.service\",comm=\"a\"}"),
		       5, "the new content") &&
	     ASSERT_EQ(count_entries(sub), 1, "no temp file left");
	if (!ok)
		goto out;

	/* A symlink at the target is replaced, never written through. */
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	close(fd);
	unlink(target);
	if (!ASSERT_EQ(symlink(victim, target), 0, "symlink"))
		goto out;
	ok = ASSERT_EQ(prom__write(p, &G), 0, "prom__write over a symlink") &&
	     ASSERT_EQ(lstat(target, &sb), 0, "lstat") &&
	     ASSERT_TRUE(S_ISREG(sb.st_mode), "the target is a regular file now") &&
	     ASSERT_EQ(stat(victim, &sb), 0, "stat victim") &&
	     ASSERT_EQ(sb.st_size, 0, "the symlink's target untouched");
	if (!ok)
		goto out;

	/* A failed rename (a directory at the target) leaves no temp file. */
	unlink(target);
	mkdir(target, 0755);
	ok = ASSERT_EQ(prom__write(p, &G), -EISDIR, "write over a directory") &&
	     ASSERT_EQ(count_entries(sub), 1, "the temp file removed");
	rmdir(target);
out:
	prom__free(p);
	return ok;
}

static bool test_new_errors(void)
{
	errno = 0;
	return ASSERT_TRUE(!prom__new("/nonexistent-dir-fdtrace/x.prom", 1), "missing dir") &&
	       ASSERT_EQ(errno, ENOENT, "errno") &&
	       ASSERT_TRUE(!prom__new("", 1), "empty path") &&
	       ASSERT_EQ(errno, EINVAL, "errno") &&
	       ASSERT_TRUE(!prom__new("/etc/passwd/x.prom", 1), "not a directory") &&
	       ASSERT_EQ(errno, ENOTDIR, "errno");
}

/* ---- cgroup attribution ---- */

static bool unit_is(const char *path, const char *want)
{
	char buf[ATTRIB_UNIT_LEN];

	attrib__unit_of(path, buf, sizeof(buf));
	return ASSERT_STREQ(buf, want, path);
}

#define ID64 "4f1b7a3c9d2e8f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
#define ID12 "4f1b7a3c9d2e"

static bool test_unit_of_cgroup(void)
{
	return unit_is("/system.slice/nginx.service", "nginx.service") &&
	       unit_is("/user.slice/user-1000.slice/session-2.scope", "session-2.scope") &&
	       /* a service's own subgroups, and a user manager's apps: the innermost */
	       unit_is("/system.slice/app.service/worker", "app.service") &&
	       unit_is("/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope",
		       "app-x.scope") &&
	       unit_is("/system.slice/docker.service", "docker.service") &&
	       /* containers */
	       unit_is("/system.slice/docker-" ID64 ".scope", ID12) &&
	       unit_is("/docker/" ID64, ID12) &&
	       unit_is("/kubepods/burstable/pod0b5e2a3c-1111-2222-3333-444455556666/" ID64, ID12) &&
	       unit_is("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b5e.slice/"
		       "cri-containerd-" ID64 ".scope", ID12) &&
	       unit_is("/kubepods.slice/kubepods-pod1.slice/crio-" ID64 ".scope", ID12) &&
	       unit_is("/machine.slice/libpod-" ID64 ".scope", ID12) &&
	       /* podman with a cgroup namespace: a subgroup of the container's */
	       unit_is("/machine.slice/libpod-" ID64 ".scope/container", ID12) &&
	       /* neither: "" (the agent labels with the cgroup path then) */
	       unit_is("/", "") &&
	       unit_is("/init.scope.d/x", "") &&
	       unit_is("/fdtrace-test/inside", "") &&
	       unit_is("/docker/" ID12, "") &&
	       unit_is("/x/docker-" ID12 ".slice", "");
}

static const struct unit_test tests[] = {
	UNIT_TEST(exposition_exact),
	UNIT_TEST(empty),
	UNIT_TEST(counters_monotone_across_exit),
	UNIT_TEST(gauges_worst_process),
	UNIT_TEST(label_escaping),
	UNIT_TEST(same_labels_one_set),
	UNIT_TEST(atomic_replace),
	UNIT_TEST(new_errors),
	UNIT_TEST(unit_of_cgroup),
};

int main(int argc, char **argv)
{
	int status;

	if (!unit_tmp_init("test_prom"))
		return 1;
	status = unit_run(tests, sizeof(tests) / sizeof(tests[0]), argv + 1, argc - 1,
			  NULL, NULL);
	unit_tmp_remove();
	return status;
}
