// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Unit tests of the --html page (src/html.c): a synthetic run goes
 * through the real engine, its records and reports into the page, and
 * the written file is read back.  No root, no BPF.
 *
 *   test_html                  run every test
 *   test_html NAME...          run the named tests only
 *   test_html --page FILE      write the sample run's page to FILE and
 *                              print "leaks: FD..." (the browser test)
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
#include "html.h"
#include "matcher.h"
#include "record.h"
#include "unit.h"

#define MS		1000000ULL
#define SEC		(1000 * MS)
#define T0		(1000 * SEC)
#define PID		4242
#define WORKER		5151
#define LISTEN_FD	3
#define EPFD		4
#define HOSTILE_COMM	"<script>alert(1"	/* 15 bytes: all of it fits */
#define HOSTILE_ARG	"</code><img src=x onerror=alert(2)>"

static char dir[] = "/tmp/test_html.XXXXXX";

static const char *path_in(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

/* ---- a run: records into the engine and the page, reports into the page ---- */

struct sim {
	struct matcher *m;
	struct html *h;
	int leak_fds[64];
	int nr_leaks, nr_resolved;
};

static void on_report(void *ctx, const struct report *r)
{
	struct sim *s = ctx;

	if (r->kind == REPORT_LEAK && s->nr_leaks < 64)
		s->leak_fds[s->nr_leaks++] = r->fd;
	if (r->kind == REPORT_LEAK_RESOLVED)
		s->nr_resolved++;
	html__report(s->h, r);
}

/* As live.c and replay.c will: the page sees a record, then the engine does. */
static void feed(struct sim *s, const void *rec)
{
	struct fdt_rec_hdr h;

	memcpy(&h, rec, sizeof(h));
	html__record(s->h, rec, h.size);
	if (h.type < RECORD_TYPE_MIN)
		matcher__feed(s->m, rec, h.size);
}

static void hdr(struct fdt_rec_hdr *h, __u32 type, size_t size, __u32 pid, __u64 ts,
		const char *comm)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->pid = pid;
	h->tid = pid;
	snprintf(h->comm, FDT_COMM_LEN, "%s", comm);
}

static const char *comm_of(__u32 pid)
{
	return pid == PID ? HOSTILE_COMM : "worker";
}

static void ctl(struct sim *s, __u32 pid, __u32 op, int fd, __u64 ts, int ret)
{
	struct fdt_rec_epoll_ctl r = {};

	hdr(&r.hdr, FDT_REC_EPOLL_CTL, sizeof(r), pid, ts, comm_of(pid));
	r.op = op;
	r.fd = fd;
	r.epfd = EPFD;
	r.events = 1;
	r.ret = ret;
	r.file = (struct fdt_file){ .ino = 100000 + fd, .dev = 8, .ftype = FDT_FT_SOCKET };
	feed(s, &r);
}

static void closefd(struct sim *s, __u32 pid, int fd, __u64 ts, __u32 flags)
{
	struct fdt_rec_close r = {};

	hdr(&r.hdr, FDT_REC_CLOSE, sizeof(r), pid, ts, comm_of(pid));
	r.fd = fd;
	r.how = FDT_CLOSE_CLOSE;
	r.flags = flags;
	r.file = (struct fdt_file){ .ino = 100000 + fd, .dev = 8, .ftype = FDT_FT_SOCKET };
	feed(s, &r);
}

static void simple(struct sim *s, __u32 type, __u32 pid, __u64 ts)
{
	struct record_tick r;

	hdr(&r.hdr, type, sizeof(r), pid, ts, pid ? comm_of(pid) : "");
	feed(s, &r);
}

static void proc(struct sim *s, __u32 pid, const char *exe, const char *args, size_t args_len,
		 __u64 limit)
{
	struct {
		struct record_proc p;
		char s[512];
	} r = {};
	size_t el = strlen(exe) + 1;
	char *p = r.s;

	memcpy(p, exe, el);
	p += el;
	memcpy(p, args, args_len);
	p += args_len;
	*p++ = '\0';	/* cgroup */
	hdr(&r.p.hdr, RECORD_PROC, sizeof(r.p) + (p - r.s), pid, T0, comm_of(pid));
	r.p.nofile_soft = limit;
	r.p.nofile_hard = 4 * limit;
	r.p.exe_len = el;
	r.p.cmdline_len = args_len;
	r.p.cgroup_len = 1;
	feed(s, &r);
}

static bool sim_new(struct sim *s, const struct html_opts *ho, __u64 grace)
{
	struct matcher_opts mo = { .grace_ns = grace, .report = on_report, .ctx = s };

	memset(s, 0, sizeof(*s));
	s->h = html__new(ho);
	s->m = matcher__new(&mo);
	return ASSERT_TRUE(s->h && s->m, "html__new, matcher__new");
}

static void sim_free(struct sim *s)
{
	matcher__free(s->m);
	html__free(s->h);
}

/* Records due later than the loop that makes them: fed in time order. */
struct later {
	__u64 at;
	__u32 op;	/* FDT_EPOLL_CTL_ADD, _DEL, or 0: close */
	int fd;
};

static struct later pending[64];
static int nr_pending;

static void schedule(__u64 at, __u32 op, int fd)
{
	if (nr_pending < 64)
		pending[nr_pending++] = (struct later){ at, op, fd };
}

/* The engine's clock moves at a tick, and the page sees the tick. */
static void tick_until(struct sim *s, __u64 *now, __u64 until)
{
	for (; *now + 100 * MS <= until; *now += 100 * MS) {
		__u64 t = *now + 100 * MS;

		for (int i = 0; i < nr_pending; i++) {
			struct later *l = &pending[i];

			if (!l->at || l->at > t)
				continue;
			if (l->op)
				ctl(s, PID, l->op, l->fd, l->at, 0);
			else
				closefd(s, PID, l->fd, l->at, 0);
			l->at = 0;
		}
		simple(s, RECORD_TICK, 0, t);
		matcher__tick(s->m, t);
	}
}

static int lowest_free(bool *used)
{
	int fd = 5;

	while (used[fd])
		fd++;
	used[fd] = true;
	return fd;
}

/*
 * The sample run, grace 5 s.  A server (hostile comm) accepts a
 * connection every 0.5 s, unwatches it 0.2 s later and closes it,
 * except every sixth, which it forgets: a leak.  Of those, connection 9
 * is closed late and 15 watched again (both leak_resolved).  One close
 * while watched, one DEL after close (EBADF).  A worker with /proc
 * samples closes everything and exits before the end.
 */
static void sample_run(struct sim *s)
{
	static const char args[] = "python3\0server.py\0--name\0" HOSTILE_ARG "\0";
	static const char wargs[] = "worker\0--threads\0004\0";
	bool used[256] = { [0] = true, [1] = true, [2] = true, [3] = true, [4] = true };
	bool wused[256] = { [0] = true, [1] = true, [2] = true, [3] = true, [4] = true };
	struct record_add_pid a = {};
	struct fdt_rec_proc ex = {};
	__u64 now = T0;

	hdr(&a.hdr, RECORD_ADD_PID, sizeof(a), PID, T0, HOSTILE_COMM);
	feed(s, &a);
	matcher__add_pid(s->m, PID, HOSTILE_COMM, T0);
	proc(s, PID, "/usr/bin/py\"thon<&>", args, sizeof(args) - 1, 16);
	hdr(&a.hdr, RECORD_ADD_PID, sizeof(a), WORKER, T0, "worker");
	feed(s, &a);
	matcher__add_pid(s->m, WORKER, "worker", T0);
	proc(s, WORKER, "/usr/sbin/worker", wargs, sizeof(wargs) - 1, 100);
	ctl(s, PID, FDT_EPOLL_CTL_ADD, LISTEN_FD, T0 + 10 * MS, 0);

	nr_pending = 0;
	for (int i = 0; i < 40; i++) {
		__u64 t = T0 + 100 * MS + i * 500 * MS;
		int fd, wfd;

		tick_until(s, &now, t);
		/* the worker: short watches, all closed; /proc says 40 open and growing */
		if (t < T0 + 17 * SEC) {
			wfd = lowest_free(wused);
			ctl(s, WORKER, FDT_EPOLL_CTL_ADD, wfd, t + 50 * MS, 0);
			ctl(s, WORKER, FDT_EPOLL_CTL_DEL, wfd, t + 300 * MS, 0);
			closefd(s, WORKER, wfd, t + 450 * MS, 0);
			wused[wfd] = false;
			html__sample(s->h, WORKER, t, 40 + i, 100);
		}
		/* what was freed by now: the late closes were fed */
		for (int j = 0; j < nr_pending; j++) {
			if (!pending[j].at && !pending[j].op && pending[j].fd >= 0) {
				used[pending[j].fd] = false;
				pending[j].fd = -1;
			}
		}
		fd = lowest_free(used);
		ctl(s, PID, FDT_EPOLL_CTL_ADD, fd, t, 0);
		if (i == 25) {
			/* closed while another reference keeps it on the list */
			closefd(s, PID, fd, t + 100 * MS, FDT_CLOSEF_STILL_WATCHED);
			used[fd] = false;
			continue;
		}
		if (i == 20) {
			closefd(s, PID, fd, t + 150 * MS, 0);
			ctl(s, PID, FDT_EPOLL_CTL_DEL, fd, t + 160 * MS, -EBADF);
			used[fd] = false;
			continue;
		}
		ctl(s, PID, FDT_EPOLL_CTL_DEL, fd, t + 200 * MS, 0);
		if (i % 6 != 3) {
			closefd(s, PID, fd, t + 250 * MS, 0);
			used[fd] = false;
		} else if (i == 9) {
			schedule(t + 8 * SEC, 0, fd);
		} else if (i == 15) {
			schedule(t + 6 * SEC, FDT_EPOLL_CTL_ADD, fd);
			schedule(t + 6 * SEC + 500 * MS, FDT_EPOLL_CTL_DEL, fd);
			schedule(t + 6 * SEC + 600 * MS, 0, fd);
		}

	}
	tick_until(s, &now, T0 + 18 * SEC);
	hdr(&ex.hdr, FDT_REC_EXIT, sizeof(ex), WORKER, T0 + 18 * SEC, "worker");
	feed(s, &ex);
	tick_until(s, &now, T0 + 22 * SEC);
	simple(s, RECORD_FINISH, 0, T0 + 22 * SEC);
	matcher__finish(s->m, T0 + 22 * SEC);
}

static struct html_opts opts(void)
{
	struct html_opts o = HTML_OPTS_INIT;

	o.realtime_offset_ns = 1795791845000000000LL - (__s64)T0;
	o.grace_ns = 5 * SEC;
	o.host = "test<host>";
	o.source = "test_html";
	o.version = "0.0-test";
	return o;
}

/* ---- reading the page back ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

struct bars {
	int fds[4096];
	int n;
	int resolved;
};

/* Every <g class="bar"> of kind; *all counts bars of any kind. */
static void find_bars(const char *page, const char *kind, struct bars *b, int *all)
{
	const char *p = page;
	char k[32];
	int fd, resolved;

	memset(b, 0, sizeof(*b));
	*all = 0;
	while ((p = strstr(p, "<g class=\"bar\" data-fd=\""))) {
		p += strlen("<g class=\"bar\" data-fd=\"");
		if (sscanf(p, "%d\" data-kind=\"%31[^\"]\"", &fd, k) != 2)
			continue;
		(*all)++;
		if (strcmp(k, kind) || b->n == 4096)
			continue;
		b->fds[b->n++] = fd;
		const char *end = strchr(p, '>');
		const char *r = strstr(p, "data-resolved=\"");

		if (r && end && r < end && sscanf(r, "data-resolved=\"%d", &resolved) == 1)
			b->resolved += resolved;
	}
}

static int int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int count(const char *page, const char *needle)
{
	int n = 0;

	for (const char *p = page; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- tests ---- */

static bool write_sample(const char *path, struct sim *s)
{
	struct html_opts o = opts();
	int err;

	if (!sim_new(s, &o, 5 * SEC))
		return false;
	sample_run(s);
	err = html__write(s->h, path);
	return ASSERT_EQ(err, 0, "html__write");
}

/* The sample run's page, written to name and read back into *page. */
static bool sample_page(const char *name, struct sim *s, char **page)
{
	*page = NULL;
	if (!write_sample(path_in(name), s))
		return false;
	*page = slurp(path_in(name));
	return ASSERT_TRUE(*page, "read the page");
}

static bool test_leak_bars(void)
{
	struct bars b;
	struct sim s;
	char *page;
	bool ok = false;
	int all;

	if (!sample_page("leaks.html", &s, &page))
		goto out;
	find_bars(page, "leak", &b, &all);
	if (!ASSERT_TRUE(s.nr_leaks >= 5, "the sample run has leaks") ||
	    !ASSERT_EQ(b.n, s.nr_leaks, "leak bars") ||
	    !ASSERT_EQ(b.resolved, s.nr_resolved, "resolved leak bars") ||
	    !ASSERT_TRUE(all > b.n + 20, "closed bars drawn too"))
		goto out;
	qsort(b.fds, b.n, sizeof(int), int_cmp);
	qsort(s.leak_fds, s.nr_leaks, sizeof(int), int_cmp);
	for (int i = 0; i < b.n; i++)
		if (!ASSERT_EQ(b.fds[i], s.leak_fds[i], "leak bar fd"))
			goto out;
	ok = ASSERT_EQ(count(page, "<tr class=\"leak\""), s.nr_leaks, "leak rows in the findings") &&
	     ASSERT_EQ(count(page, "data-kind=\"closed_while_watched\""), 1, "closed while watched row") &&
	     ASSERT_EQ(count(page, "data-kind=\"deregister_failed\""), 1, "deregister failed row") &&
	     ASSERT_TRUE(strstr(page, "class=\"lim\""), "the limit line") &&
	     ASSERT_TRUE(strstr(page, "limit 16<"), "the limit's label") &&
	     ASSERT_TRUE(strstr(page, "open fds (sampled)"), "the worker's samples") &&
	     ASSERT_TRUE(strstr(page, "data-ok=\"0\""), "body waits for the script");
out:
	free(page);
	sim_free(&s);
	return ok;
}

static bool test_escaping(void)
{
	struct sim s;
	char *page;
	bool ok = false;

	if (!sample_page("escape.html", &s, &page))
		goto out;
	ok = ASSERT_TRUE(!strstr(page, "<script>alert"), "raw <script> from comm") &&
	     ASSERT_TRUE(strstr(page, "&lt;script&gt;alert(1"), "escaped comm") &&
	     ASSERT_TRUE(!strstr(page, "<img"), "raw <img> from cmdline") &&
	     ASSERT_TRUE(strstr(page, "&lt;/code&gt;&lt;img src=x onerror=alert(2)&gt;"),
			 "escaped cmdline") &&
	     ASSERT_TRUE(strstr(page, "/usr/bin/py&quot;thon&lt;&amp;&gt;"), "escaped exe") &&
	     ASSERT_TRUE(strstr(page, "test&lt;host&gt;"), "escaped host") &&
	     ASSERT_EQ(count(page, "<script>"), 2, "the page's own scripts only") &&
	     ASSERT_TRUE(strstr(page, "default-src 'none'"), "CSP: loads nothing");
out:
	free(page);
	sim_free(&s);
	return ok;
}

static bool test_file_mode(void)
{
	const char *path = path_in("mode.html");
	struct dirent *de;
	struct stat st;
	struct sim s;
	bool ok = false;
	DIR *d;

	if (!write_sample(path, &s))
		goto out;
	if (!ASSERT_EQ(lstat(path, &st), 0, "stat the page") ||
	    !ASSERT_TRUE(S_ISREG(st.st_mode), "a regular file") ||
	    !ASSERT_EQ(st.st_mode & 07777, 0600, "mode"))
		goto out;
	d = opendir(dir);
	if (!ASSERT_TRUE(d, "opendir"))
		goto out;
	ok = true;
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ok = fail("temporary file left: %s", de->d_name);
	closedir(d);
out:
	sim_free(&s);
	return ok;
}

static bool test_symlink_refused(void)
{
	const char *link = path_in("link.html"), *target = path_in("target.html");
	const char *file = path_in("victim");
	struct html_opts o = opts();
	struct html *h;
	struct stat st;
	char *c = NULL;
	bool ok = false;
	int fd;

	h = html__new(&o);
	if (!ASSERT_TRUE(h, "html__new"))
		return false;
	/* dangling: writing through it would create target */
	if (!ASSERT_EQ(symlink(target, link), 0, "symlink") ||
	    !ASSERT_EQ(html__write(h, link), -EEXIST, "write over a dangling symlink") ||
	    !ASSERT_TRUE(lstat(target, &st) && errno == ENOENT, "target not created") ||
	    !ASSERT_EQ(lstat(link, &st), 0, "symlink still there") ||
	    !ASSERT_TRUE(S_ISLNK(st.st_mode), "symlink not replaced"))
		goto out;
	/* to an existing file, even with force */
	fd = open(file, O_CREAT | O_WRONLY | O_EXCL, 0600);
	if (!ASSERT_TRUE(fd >= 0, "create victim") || !ASSERT_EQ(write(fd, "keep", 4), 4, "write"))
		goto out;
	close(fd);
	unlink(link);
	html__free(h);
	o.force = true;
	h = html__new(&o);
	if (!ASSERT_TRUE(h, "html__new") ||
	    !ASSERT_EQ(symlink(file, link), 0, "symlink") ||
	    !ASSERT_EQ(html__write(h, link), -EEXIST, "write over a symlink with force"))
		goto out;
	c = slurp(file);
	ok = ASSERT_TRUE(c && !strcmp(c, "keep"), "victim untouched") &&
	     ASSERT_EQ(lstat(link, &st), 0, "symlink still there") &&
	     ASSERT_TRUE(S_ISLNK(st.st_mode), "symlink not replaced");
out:
	free(c);
	html__free(h);
	return ok;
}

static bool test_existing_file(void)
{
	const char *path = path_in("exists.html");
	struct html_opts o = opts();
	struct html *h = html__new(&o);
	struct stat st;
	char *c = NULL;
	bool ok = false;
	int fd;

	if (!ASSERT_TRUE(h, "html__new"))
		return false;
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
	if (!ASSERT_TRUE(fd >= 0, "create") || !ASSERT_EQ(write(fd, "old", 3), 3, "write"))
		goto out;
	close(fd);
	if (!ASSERT_EQ(html__write(h, path), -EEXIST, "an existing file is refused"))
		goto out;
	html__free(h);
	o.force = true;
	h = html__new(&o);
	if (!ASSERT_TRUE(h, "html__new") || !ASSERT_EQ(html__write(h, path), 0, "--force replaces"))
		goto out;
	c = slurp(path);
	ok = ASSERT_TRUE(c && strstr(c, "<!DOCTYPE html>"), "replaced") &&
	     ASSERT_EQ(stat(path, &st), 0, "stat") &&
	     ASSERT_EQ(st.st_mode & 07777, 0600, "mode");
	ok = ok && ASSERT_EQ(html__write(h, path_in("nodir/x.html")), -ENOENT, "missing directory") &&
	     ASSERT_EQ(html__check_path(path, false), -EEXIST, "check: exists") &&
	     ASSERT_EQ(html__check_path(path, true), 0, "check: exists, force") &&
	     ASSERT_EQ(html__check_path(path_in("new.html"), false), 0, "check: new") &&
	     ASSERT_EQ(html__check_path(path_in("nodir/x.html"), false), -ENOENT, "check: no dir") &&
	     ASSERT_EQ(html__check_path(path_in("exists.html/x"), false), -ENOTDIR, "check: not a dir");
out:
	free(c);
	html__free(h);
	return ok;
}

/* At most max_bars bars: every leak kept, the oldest closed ones dropped and counted. */
static bool test_bounded(void)
{
	const char *path = path_in("bounded.html");
	struct html_opts o = opts();
	struct bars b;
	struct sim s;
	char *page = NULL;
	__u64 now = T0, t = T0;
	bool ok = false;
	int all, i;

	o.max_bars = 8;
	o.max_points = 16;
	if (!sim_new(&s, &o, 1 * SEC))
		goto out;
	for (i = 0; i < 3; i++) {
		ctl(&s, PID, FDT_EPOLL_CTL_ADD, 100 + i, t, 0);
		ctl(&s, PID, FDT_EPOLL_CTL_DEL, 100 + i, t + MS, 0);
	}
	for (i = 0; i < 500; i++, t += 10 * MS) {
		ctl(&s, PID, FDT_EPOLL_CTL_ADD, 10, t, 0);
		ctl(&s, PID, FDT_EPOLL_CTL_DEL, 10, t + MS, 0);
		closefd(&s, PID, 10, t + 2 * MS, 0);
		tick_until(&s, &now, t);
	}
	simple(&s, RECORD_FINISH, 0, t);
	matcher__finish(s.m, t);
	if (!ASSERT_EQ(html__write(s.h, path), 0, "html__write"))
		goto out;
	page = slurp(path);
	if (!ASSERT_TRUE(page, "read the page"))
		goto out;
	find_bars(page, "leak", &b, &all);
	ok = ASSERT_EQ(s.nr_leaks, 3, "leaks reported") &&
	     ASSERT_EQ(b.n, 3, "leak bars kept") &&
	     ASSERT_EQ(all, 8, "bars in all") &&
	     ASSERT_TRUE(strstr(page, "495 fd bars left out"), "says how many were left out") &&
	     ASSERT_TRUE(count(page, "H") < 500, "points bounded");
out:
	free(page);
	sim_free(&s);
	return ok;
}

static bool test_bad_records(void)
{
	struct html_opts o = opts();
	struct html *h = html__new(&o);
	struct fdt_rec_epoll_ctl r = {};
	struct { struct record_proc p; char s[4]; } rp = {};
	bool ok;

	if (!ASSERT_TRUE(h, "html__new"))
		return false;
	hdr(&r.hdr, FDT_REC_EPOLL_CTL, sizeof(r), PID, T0, "x");
	hdr(&rp.p.hdr, RECORD_PROC, sizeof(rp), PID, T0, "x");
	rp.p.exe_len = 9;	/* more than there is */
	ok = ASSERT_EQ(html__record(h, &r, sizeof(r.hdr)), -EINVAL, "a short record") &&
	     ASSERT_EQ(html__record(h, &r, 8), -EINVAL, "shorter than its header") &&
	     ASSERT_EQ(html__record(h, &rp, sizeof(rp)), -EINVAL, "a malformed process record") &&
	     ASSERT_EQ(html__record(h, &r, sizeof(r)), 0, "a good one");
	r.hdr.type = 63;
	ok = ok && ASSERT_EQ(html__record(h, &r, sizeof(r)), 0, "an unknown type is skipped");
	o.max_bars = 0;
	ok = ok && ASSERT_TRUE(!html__new(&o) && errno == EINVAL, "a bound of 0");
	html__free(h);
	return ok;
}

static bool is_null(const char *s)
{
	return !s;
}

/* Every summary counter and total appears, from the X-macros: a new one by itself. */
static bool test_summary(void)
{
	struct sim s;
	char *page;
	bool ok = false;

	if (!sample_page("summary.html", &s, &page))
		goto out;
	ok = true;
#define X(name, kind, text, help) \
	if (ok && is_null(text)) ok = ASSERT_TRUE(strstr(page, ">" #name "</th>"), #name);
	FDT_PROC_COUNTERS(X)
#undef X
#define X(name, help) if (ok) ok = ASSERT_TRUE(strstr(page, ">" #name "</th>"), "totals " #name);
	FDT_TOTALS(X)
#undef X
	ok = ok && ASSERT_TRUE(strstr(page, ">closed_while_watched</th>"), "a counter that is set");
	ok = ok && ASSERT_TRUE(!strstr(page, ">paused</th>"), "a counter never set is left out");
out:
	free(page);
	sim_free(&s);
	return ok;
}

static const struct unit_test tests[] = {
	UNIT_TEST(leak_bars),
	UNIT_TEST(escaping),
	UNIT_TEST(file_mode),
	UNIT_TEST(symlink_refused),
	UNIT_TEST(existing_file),
	UNIT_TEST(bounded),
	UNIT_TEST(bad_records),
	UNIT_TEST(summary),
};

static int write_page(const char *path)
{
	struct sim s;
	int ok;

	ok = write_sample(path, &s);
	if (!ok) {
		fprintf(stderr, "test_html: %s\n", unit_fail_msg);
	} else {
		printf("leaks:");
		for (int i = 0; i < s.nr_leaks; i++)
			printf(" %d", s.leak_fds[i]);
		printf("\nresolved: %d\n", s.nr_resolved);
	}
	sim_free(&s);
	return ok ? 0 : 1;
}

static void rm_rf(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlink(path_in(de->d_name));
	if (d)
		closedir(d);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	int status;

	if (argc == 3 && !strcmp(argv[1], "--page"))
		return write_page(argv[2]);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	status = unit_run(tests, sizeof(tests) / sizeof(tests[0]), argv + 1, argc - 1,
			  NULL, NULL);
	rm_rf();
	return status;
}
