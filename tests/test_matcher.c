// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Unit tests of the matching engine, fed from records built in memory:
 * no root, no BPF.  Every test is a named function in tests[] that feeds
 * records, ticks, and checks the exact reports that came out.
 *
 *   test_matcher            run every test
 *   test_matcher NAME...    run the named tests only
 *   test_matcher -q         smaller stress test (for valgrind)
 *   test_matcher -b         throughput benchmark, no tests
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matcher.h"
#include "unit.h"

#define MS		1000000ULL
#define SEC		(1000 * MS)
#define GRACE		SEC
#define DEV		0x8
#define EBADF_RET	(-9)
#define ENOENT_RET	(-2)

/* ---- record builders ---- */

struct rec {
	union {
		struct fdt_rec_hdr hdr;
		struct fdt_rec_epoll_ctl ctl;
		struct fdt_rec_close close;
		struct fdt_rec_proc proc;
		struct fdt_rec_watch_seed seed;
	};
	size_t size;
};

static struct fdt_file file_of(__u64 ino)
{
	/* ino 0: the probe could not read the file */
	struct fdt_file f = { .ino = ino, .dev = ino ? DEV : 0,
			      .ftype = ino ? FDT_FT_SOCKET : FDT_FT_UNKNOWN };

	return f;
}

static void hdr_init(struct fdt_rec_hdr *h, __u32 type, size_t size,
		     __u32 pid, __u64 ts)
{
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->pid = pid;
	h->tid = pid;
	strcpy(h->comm, "srv");
}

static struct rec rec_ctl(__u32 pid, __u32 op, int fd, int epfd, int ret,
			  __u64 ts, __u64 ino)
{
	struct rec r = { .size = sizeof(r.ctl) };

	hdr_init(&r.hdr, FDT_REC_EPOLL_CTL, r.size, pid, ts);
	r.ctl.op = op;
	r.ctl.fd = fd;
	r.ctl.epfd = epfd;
	r.ctl.ret = ret;
	r.ctl.events = 1;
	r.ctl.file = file_of(ino);
	return r;
}

static struct rec rec_add(__u32 pid, int fd, int epfd, __u64 ts, __u64 ino)
{
	return rec_ctl(pid, FDT_EPOLL_CTL_ADD, fd, epfd, 0, ts, ino);
}

static struct rec rec_mod(__u32 pid, int fd, int epfd, __u64 ts, __u64 ino)
{
	return rec_ctl(pid, FDT_EPOLL_CTL_MOD, fd, epfd, 0, ts, ino);
}

static struct rec rec_del(__u32 pid, int fd, int epfd, __u64 ts, __u64 ino)
{
	return rec_ctl(pid, FDT_EPOLL_CTL_DEL, fd, epfd, 0, ts, ino);
}

static struct rec rec_del_err(__u32 pid, int fd, int epfd, __u64 ts, int ret)
{
	return rec_ctl(pid, FDT_EPOLL_CTL_DEL, fd, epfd, ret, ts, 0);
}

static struct rec rec_close_flags(__u32 pid, int fd, __u32 how, __u64 ts,
				  __u64 ino, __u32 flags)
{
	struct rec r = { .size = sizeof(r.close) };

	hdr_init(&r.hdr, FDT_REC_CLOSE, r.size, pid, ts);
	r.close.fd = fd;
	r.close.how = how;
	r.close.flags = flags;
	r.close.file = file_of(ino);
	return r;
}

static struct rec rec_close(__u32 pid, int fd, __u32 how, __u64 ts, __u64 ino)
{
	return rec_close_flags(pid, fd, how, ts, ino, 0);
}

static struct rec rec_proc(__u32 type, __u32 pid, __u32 child, __u64 ts)
{
	struct rec r = { .size = sizeof(r.proc) };

	hdr_init(&r.hdr, type, r.size, pid, ts);
	r.proc.child_pid = child;
	return r;
}

static struct rec rec_exit(__u32 pid, __u64 ts)
{
	return rec_proc(FDT_REC_EXIT, pid, 0, ts);
}

static struct rec rec_fork(__u32 parent, __u32 child, __u64 ts)
{
	return rec_proc(FDT_REC_FORK, parent, child, ts);
}

static struct rec rec_exec(__u32 pid, __u64 ts, const char *comm)
{
	struct rec r = rec_proc(FDT_REC_EXEC, pid, 0, ts);

	snprintf(r.hdr.comm, sizeof(r.hdr.comm), "%s", comm);
	return r;
}

static struct rec rec_seed(__u32 pid, int fd, int epfd, __u64 ts, __u64 ino)
{
	struct rec r = { .size = sizeof(r.seed) };

	hdr_init(&r.hdr, FDT_REC_WATCH_SEED, r.size, pid, ts);
	r.seed.fd = fd;
	r.seed.epfd = epfd;
	r.seed.file = file_of(ino);
	return r;
}

static struct rec with_tid(struct rec r, __u32 tid)
{
	r.hdr.tid = tid;
	return r;
}

static struct rec with_comm(struct rec r, const char *comm)
{
	snprintf(r.hdr.comm, sizeof(r.hdr.comm), "%s", comm);
	return r;
}

/* ---- the engine under test and what it reported ---- */

struct got {
	struct report r;
	struct proc_stats st;	/* copy of *r.stats for SUMMARY */
	struct totals tot;	/* copy of *r.totals for TOTALS */
	struct fd_forecast fc;	/* copy of *r.fds for SUMMARY, FD_PRESSURE */
};

static struct {
	struct matcher *m;
	struct got *v;
	size_t n, cap;
	bool count_only;	/* stress: keep counts, not reports */
	struct { __u32 pid; __s32 fd; } gone[8];	/* for verify_gone() */
	__u64 lost;		/* verify_gone() says the process lost this many */
	bool unknown;		/* verify_gone() cannot tell about the others */
	struct fdt_verify sock[8];	/* verify_sock(): fd & 7 -> its socket */
	size_t verify_calls;
	size_t nr_gone;
	__u64 verified;
	__u64 kinds[REPORT_FD_PRESSURE + 1];
	struct totals last_tot;
} T;

static bool quick;

static void collect(void *ctx, const struct report *r)
{
	struct got *g;

	(void)ctx;
	if (r->kind >= REPORT_LEAK && r->kind <= REPORT_FD_PRESSURE)
		T.kinds[r->kind]++;
	if (r->kind == REPORT_TOTALS)
		T.last_tot = *r->totals;
	if (T.count_only)
		return;
	if (T.n == T.cap) {
		size_t cap = T.cap ? T.cap * 2 : 64;
		struct got *v = realloc(T.v, cap * sizeof(*v));

		if (!v) {
			fprintf(stderr, "test_matcher: out of memory\n");
			exit(2);
		}
		T.v = v;
		T.cap = cap;
	}
	g = &T.v[T.n++];
	memset(g, 0, sizeof(*g));
	g->r = *r;
	if (r->kind == REPORT_SUMMARY)
		g->st = *r->stats;
	if (r->kind == REPORT_TOTALS)
		g->tot = *r->totals;
	if (r->fds)
		g->fc = *r->fds;
	/* only valid during the callback */
	g->r.stats = NULL;
	g->r.totals = NULL;
	g->r.fds = NULL;
}

/* verify_fn for the tests: fds listed in T.gone no longer name their file */
static int verify_gone(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
		       __u64 *lost)
{
	(void)ctx;
	*lost = T.lost;
	T.verify_calls++;
	for (size_t j = 0; j < n; j++) {
		T.verified++;
		reqs[j].verdict = T.unknown ? VERDICT_UNKNOWN : VERDICT_SAME;
		for (size_t i = 0; i < T.nr_gone; i++)
			if (T.gone[i].pid == pid && T.gone[i].fd == reqs[j].fd)
				reqs[j].verdict = VERDICT_GONE;
	}
	return 0;
}

/* verify_fn: every fd is a TCP socket in the state T.sock says */
static int verify_sock(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
		       __u64 *lost)
{
	(void)ctx;
	(void)pid;
	*lost = 0;
	T.verify_calls++;
	for (size_t j = 0; j < n; j++) {
		reqs[j].verdict = VERDICT_SAME;
		reqs[j].sock = T.sock[reqs[j].fd & 7];
	}
	return 0;
}

/* verify_fn: every fd was watched again by a call no record showed */
static int verify_watched(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
			  __u64 *lost)
{
	(void)ctx;
	(void)pid;
	*lost = 0;
	for (size_t j = 0; j < n; j++)
		reqs[j].verdict = VERDICT_WATCHED;
	return 0;
}

static bool setup_opts(__u64 grace, verify_fn verify)
{
	struct matcher_opts opts = { .grace_ns = grace, .report = collect, .verify = verify };

	memset(&T, 0, sizeof(T));
	T.m = matcher__new(&opts);
	return ASSERT_TRUE(T.m != NULL, "matcher__new");
}

static bool setup(__u64 grace)
{
	struct matcher_opts opts = { .grace_ns = grace, .report = collect };

	memset(&T, 0, sizeof(T));
	T.m = matcher__new(&opts);
	return ASSERT_TRUE(T.m != NULL, "matcher__new");
}

static void teardown(void)
{
	matcher__free(T.m);
	free(T.v);
	memset(&T, 0, sizeof(T));
}

static void clear_reports(void)
{
	T.n = 0;
	memset(T.kinds, 0, sizeof(T.kinds));
}

static bool feed_all(const struct rec *v, size_t n, int line)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = matcher__feed(T.m, &v[i], v[i].size);
		if (err)
			return fail("line %d: record %zu (type %u) rejected: %d",
				    line, i, v[i].hdr.type, err);
	}
	return true;
}

/* FEED(rec_add(...), rec_del(...), ...): all must be accepted */
#define FEED(...) feed_all((struct rec[]){ __VA_ARGS__ },		\
			   sizeof((struct rec[]){ __VA_ARGS__ }) / sizeof(struct rec), \
			   __LINE__)

static void tick(__u64 now)
{
	matcher__tick(T.m, now);
}

static void finish(__u64 now)
{
	matcher__finish(T.m, now);
}

/* ---- expectations ---- */

struct want {
	enum report_kind kind;
	__u32 pid;
	int fd;
	enum resolve_how how;	/* LEAK_RESOLVED only */
};

#define W_LEAK(p, f)		{ REPORT_LEAK, p, f, 0 }
#define W_RES(p, f, h)		{ REPORT_LEAK_RESOLVED, p, f, h }
#define W_CWW(p, f)		{ REPORT_CLOSED_WHILE_WATCHED, p, f, 0 }
#define W_DEREG(p, f)		{ REPORT_DEREGISTER_FAILED, p, f, 0 }
#define W_SUM(p)		{ REPORT_SUMMARY, p, -1, 0 }
#define W_TOT			{ REPORT_TOTALS, 0, -1, 0 }
#define W_PRESS(p)		{ REPORT_FD_PRESSURE, p, -1, 0 }

static const char *kind_name(enum report_kind k)
{
	static const char *const names[] = {
		[REPORT_LEAK] = "LEAK",
		[REPORT_LEAK_RESOLVED] = "LEAK_RESOLVED",
		[REPORT_CLOSED_WHILE_WATCHED] = "CLOSED_WHILE_WATCHED",
		[REPORT_DEREGISTER_FAILED] = "DEREGISTER_FAILED",
		[REPORT_SUMMARY] = "SUMMARY",
		[REPORT_TOTALS] = "TOTALS",
		[REPORT_FD_PRESSURE] = "FD_PRESSURE",
	};

	return k >= REPORT_LEAK && k <= REPORT_FD_PRESSURE ? names[k] : "?";
}

static void describe(char *buf, size_t len, const struct want *w, size_t n)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s(%u,%d%s)", i ? " " : "",
				kind_name(w[i].kind), w[i].pid, w[i].fd,
				w[i].kind == REPORT_LEAK_RESOLVED ?
				(w[i].how == RESOLVE_CLOSED ? ",closed" :
				 w[i].how == RESOLVE_REWATCHED ? ",rewatched" :
				 w[i].how == RESOLVE_EXEC ? ",exec" :
				 w[i].how == RESOLVE_EXIT ? ",exit" : ",?") : "");
}

/* The reports since the last clear_reports() are exactly w, in order. */
static bool expect_reports(const struct want *w, size_t n, int line)
{
	struct want got[64];
	char a[512], b[512];
	size_t i;
	bool same = T.n == n;

	for (i = 0; i < T.n && i < 64; i++) {
		got[i].kind = T.v[i].r.kind;
		got[i].pid = T.v[i].r.pid;
		got[i].fd = T.v[i].r.fd;
		got[i].how = T.v[i].r.kind == REPORT_LEAK_RESOLVED ? T.v[i].r.how : 0;
		if (i < n && memcmp(&got[i], &w[i], sizeof(*w)))
			same = false;
	}
	if (same)
		return true;
	describe(a, sizeof(a), got, T.n < 64 ? T.n : 64);
	describe(b, sizeof(b), w, n);
	return fail("line %d: reports [%s], want [%s]", line, a, b);
}

#define EXPECT_REPORTS(...) expect_reports((struct want[]){ __VA_ARGS__ }, \
		sizeof((struct want[]){ __VA_ARGS__ }) / sizeof(struct want), __LINE__)
#define EXPECT_NO_REPORTS() expect_reports(NULL, 0, __LINE__)

static const struct got *find_report(enum report_kind kind, __u32 pid, int fd)
{
	size_t i;

	for (i = T.n; i-- > 0;)
		if (T.v[i].r.kind == kind && T.v[i].r.pid == pid && T.v[i].r.fd == fd)
			return &T.v[i];
	return NULL;
}

#define STAT_FIELDS(X)							\
	X(watches_ended) X(closed) X(closed_late) X(rewatched) X(leaks)	\
	X(open_leaks) X(closed_while_watched) X(deregister_failed)	\
	X(del_enoent) X(corrected)

/* The latest SUMMARY of pid carries exactly these numbers. */
static bool expect_stats(__u32 pid, struct proc_stats want, int line)
{
	const struct got *g = find_report(REPORT_SUMMARY, pid, -1);

	if (!g)
		return fail("line %d: no summary for pid %u", line, pid);
#define CMP(f)								\
	if (g->st.f != want.f)						\
		return fail("line %d: pid %u stats." #f ": got %llu, want %llu", \
			    line, pid, (unsigned long long)g->st.f,	\
			    (unsigned long long)want.f);
	STAT_FIELDS(CMP)
#undef CMP
	return true;
}

#define EXPECT_STATS(pid, ...) expect_stats(pid, (struct proc_stats){ __VA_ARGS__ }, __LINE__)

static bool expect_totals(struct totals want, int line)
{
	const struct got *g = find_report(REPORT_TOTALS, 0, -1);

	if (!g)
		return fail("line %d: no totals", line);
#define CMP(f)								\
	if (g->tot.f != want.f)						\
		return fail("line %d: totals." #f ": got %llu, want %llu", \
			    line, (unsigned long long)g->tot.f,		\
			    (unsigned long long)want.f);
	CMP(processes) CMP(watches_ended) CMP(leaks) CMP(open_leaks) CMP(lost_events) CMP(bad_records)
#undef CMP
	return true;
}

#define EXPECT_TOTALS(...) expect_totals((struct totals){ __VA_ARGS__ }, __LINE__)

/* ---- tests ---- */

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	/* 0 under ASan or valgrind: their allocators keep no such count */
	return mi.uordblks + mi.hblkhd;
}


/* asyncio pause_reading()/resume_reading(): DEL then ADD within grace */
static bool test_pause_resume_within_grace(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_add(100, 7, 3, 600 * MS, 11)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .rewatched = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1);
}

static bool test_rewatch_after_grace(void)
{
	const struct got *g;

	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(1100 * MS);
	if (!EXPECT_NO_REPORTS())
		return false;
	tick(1200 * MS);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)))
		return false;
	g = &T.v[0];
	/* reported at the tick after, dated when the grace ran out */
	if (!ASSERT_EQ(g->r.ts_ns, 1100 * MS, "leak ts") ||
	    !ASSERT_EQ(g->r.del_ts_ns, 100 * MS, "leak del_ts") ||
	    !ASSERT_EQ(g->r.unwatched_ns, 1000 * MS, "leak unwatched") ||
	    !ASSERT_EQ(g->r.epfd, 3, "leak epfd") ||
	    !ASSERT_EQ(g->r.file.ino, 11, "leak ino") ||
	    !ASSERT_EQ(g->r.file.ftype, FDT_FT_SOCKET, "leak ftype") ||
	    !ASSERT_STREQ(g->r.comm, "srv", "leak comm"))
		return false;
	if (!FEED(rec_add(100, 7, 3, 2 * SEC, 11)))
		return false;
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_REWATCHED)))
		return false;
	g = &T.v[1];
	if (!ASSERT_EQ(g->r.ts_ns, 2 * SEC, "resolved ts") ||
	    !ASSERT_EQ(g->r.del_ts_ns, 100 * MS, "resolved del_ts") ||
	    !ASSERT_EQ(g->r.unwatched_ns, 1900 * MS, "resolved unwatched"))
		return false;
	tick(100 * SEC);
	finish(100 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_REWATCHED),
			      W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .rewatched = 1, .leaks = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1, .leaks = 1);
}

static bool close_within_grace(__u32 how)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_close(100, 7, how, 500 * MS, 11)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .closed = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1);
}

static bool close_after_grace(__u32 how, enum resolve_how want)
{
	const struct got *g;

	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(2 * SEC);
	if (!FEED(rec_close(100, 7, how, 3 * SEC, 11)))
		return false;
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, want)))
		return false;
	g = &T.v[1];
	if (!ASSERT_EQ(g->r.unwatched_ns, 2900 * MS, "resolved unwatched") ||
	    !ASSERT_EQ(g->r.ts_ns, 3 * SEC, "resolved ts"))
		return false;
	/* forgotten: neither reported again nor resolved again */
	tick(100 * SEC);
	if (!FEED(rec_close(100, 7, how, 101 * SEC, 11)))
		return false;
	finish(100 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, want), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .closed = 1, .closed_late = 1,
			    .leaks = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1, .leaks = 1);
}

static bool test_close_within_grace_close(void) { return close_within_grace(FDT_CLOSE_CLOSE); }
static bool test_close_within_grace_range(void) { return close_within_grace(FDT_CLOSE_RANGE); }
static bool test_close_within_grace_dup2(void) { return close_within_grace(FDT_CLOSE_DUP2); }
static bool test_close_within_grace_exec(void) { return close_within_grace(FDT_CLOSE_EXEC); }
static bool test_close_within_grace_exit(void) { return close_within_grace(FDT_CLOSE_EXIT); }

static bool test_close_after_grace_close(void)
{
	return close_after_grace(FDT_CLOSE_CLOSE, RESOLVE_CLOSED);
}

static bool test_close_after_grace_range(void)
{
	return close_after_grace(FDT_CLOSE_RANGE, RESOLVE_CLOSED);
}

static bool test_close_after_grace_dup2(void)
{
	return close_after_grace(FDT_CLOSE_DUP2, RESOLVE_CLOSED);
}

static bool test_close_after_grace_exec(void)
{
	return close_after_grace(FDT_CLOSE_EXEC, RESOLVE_EXEC);
}

static bool test_close_after_grace_exit(void)
{
	return close_after_grace(FDT_CLOSE_EXIT, RESOLVE_EXIT);
}

/* exit without per-fd close records: the EXIT record closes everything */
static bool test_exit_within_grace(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_add(100, 8, 3, 0, 12),
		  rec_exit(100, 500 * MS)))
		return false;
	if (!EXPECT_REPORTS(W_SUM(100)) ||
	    !EXPECT_STATS(100, .watches_ended = 1, .closed = 1) ||
	    !ASSERT_EQ(matcher__nr_procs(T.m), 0, "nr_procs after exit") ||
	    !ASSERT_EQ(T.v[0].r.ts_ns, 500 * MS, "summary ts"))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1);
}

/* --stream=summary: an EXIT record carries the cycles the kernel kept to itself */
static bool test_summary_exit_counts(void)
{
	struct rec r = rec_exit(100, 500 * MS);

	r.proc.k_ended = 5;
	r.proc.k_closed = 3;
	r.proc.k_rewatched = 2;
	/* a process that sent nothing else still gets its summary */
	if (!FEED(r) || !EXPECT_REPORTS(W_SUM(100)) ||
	    !EXPECT_STATS(100, .watches_ended = 5, .closed = 3, .rewatched = 2))
		return false;
	finish(SEC);
	return EXPECT_TOTALS(.processes = 1, .watches_ended = 5);
}

/* An ABI 4 EXIT record (before the counts) is still read */
static bool test_exit_abi4(void)
{
	struct rec r = rec_exit(100, 500 * MS);

	r.size = r.hdr.size = FDT_REC_PROC_V4_SIZE;
	r.proc.k_ended = 7;	/* past its end: never read */
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11), r))
		return false;
	return EXPECT_REPORTS(W_SUM(100)) &&
	       EXPECT_STATS(100, .watches_ended = 1, .closed = 1);
}

/*
 * py_stack was appended to the epoll_ctl record within ABI 5: a DEL of a
 * socket written before is 96 bytes and its socket, one written since 104
 * and its socket.  Both name their socket; only the newer its stack.
 */
static bool test_del_sock_both_sizes(void)
{
	unsigned char old[FDT_REC_EPOLL_CTL_V5_SIZE + sizeof(struct fdt_sock_id)];
	unsigned char cur[sizeof(struct fdt_rec_epoll_ctl) + sizeof(struct fdt_sock_id)];
	struct fdt_sock_id s7 = { .family = FDT_AF_INET, .lport = 7007 };
	struct fdt_sock_id s8 = { .family = FDT_AF_INET, .lport = 8008 };
	struct rec a = rec_del(100, 7, 3, 100 * MS, 11), b = rec_del(100, 8, 3, 100 * MS, 12);

	a.ctl.flags = b.ctl.flags = FDT_CTLF_SOCK;
	a.ctl.py_stack = 0xdead;	/* past the old record's end: never read */
	b.ctl.py_stack = 9;
	a.hdr.size = sizeof(old);
	b.hdr.size = sizeof(cur);
	memcpy(old, &a.ctl, FDT_REC_EPOLL_CTL_V5_SIZE);
	memcpy(old + FDT_REC_EPOLL_CTL_V5_SIZE, &s7, sizeof(s7));
	memcpy(cur, &b.ctl, sizeof(b.ctl));
	memcpy(cur + sizeof(b.ctl), &s8, sizeof(s8));
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_add(100, 8, 3, 0, 12)) ||
	    !ASSERT_EQ(matcher__feed(T.m, old, sizeof(old)), 0, "old DEL accepted") ||
	    !ASSERT_EQ(matcher__feed(T.m, cur, sizeof(cur)), 0, "DEL accepted"))
		return false;
	tick(1200 * MS);
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_LEAK(100, 8)))
		return false;
	return ASSERT_TRUE(T.v[0].r.sock && T.v[1].r.sock, "sockets named") &&
	       ASSERT_EQ(T.v[0].r.sock->lport, 7007, "old record's socket") &&
	       ASSERT_EQ(T.v[0].r.del_py_stack, 0, "old record's stack") &&
	       ASSERT_EQ(T.v[1].r.sock->lport, 8008, "socket") &&
	       ASSERT_EQ(T.v[1].r.del_py_stack, 9, "stack");
}

/* At the end, the live processes' kernel counts */
static bool test_summary_kernel_counts(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)) ||
	    matcher__kernel_counts(T.m, 100, "srv", 4, 3, 1, true, SEC) ||
	    matcher__kernel_counts(T.m, 200, "other", 2, 2, 0, true, SEC) ||
	    matcher__kernel_counts(T.m, 300, "none", 0, 0, 0, false, SEC) ||
	    /* watched, never ended: known all the same, as full mode's ADD would make it */
	    matcher__kernel_counts(T.m, 400, "watcher", 0, 0, 0, true, SEC))
		return false;
	finish(SEC / 2);
	return EXPECT_STATS(100, .watches_ended = 5, .closed = 3, .rewatched = 1) &&
	       EXPECT_STATS(200, .watches_ended = 2, .closed = 2) &&
	       !find_report(REPORT_SUMMARY, 300, -1) &&
	       find_report(REPORT_SUMMARY, 400, -1) &&
	       EXPECT_TOTALS(.processes = 3, .watches_ended = 7);
}

/*
 * The kernel's counts are running totals: read at every --interval and
 * again in the EXIT record, each cycle counts once.
 */
static bool test_summary_counts_running(void)
{
	struct rec r = rec_exit(100, 3 * SEC);

	if (matcher__kernel_counts(T.m, 100, "srv", 4, 3, 1, true, SEC) ||
	    matcher__kernel_counts(T.m, 100, "srv", 4, 3, 1, true, SEC) ||
	    matcher__kernel_counts(T.m, 100, "srv", 6, 4, 2, true, 2 * SEC))
		return false;
	r.proc.k_ended = 9;
	r.proc.k_closed = 6;
	r.proc.k_rewatched = 3;
	r.proc.proc_flags = FDT_PROCF_EPOLL;
	if (!FEED(r))
		return false;
	finish(4 * SEC);
	return EXPECT_STATS(100, .watches_ended = 9, .closed = 6, .rewatched = 3) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 9);
}

/* summary mode: the EXIT of a process whose watches were all quiet and never ended */
static bool test_summary_exit_epoll_only(void)
{
	struct rec r = rec_exit(100, 500 * MS);

	r.proc.proc_flags = FDT_PROCF_EPOLL;
	if (!FEED(r) || !EXPECT_REPORTS(W_SUM(100)))
		return false;
	finish(SEC);
	return EXPECT_TOTALS(.processes = 1, .watches_ended = 0);
}

/* summary mode: a close that leaves a watch the engine never saw */
static bool test_summary_cww_unknown_fd(void)
{
	struct rec r = rec_close_flags(100, 7, FDT_CLOSE_CLOSE, 100 * MS, 11,
				       FDT_CLOSEF_SHARED | FDT_CLOSEF_STILL_WATCHED |
				       FDT_CLOSEF_UNSEEN);

	r.close.epfd = 3;
	if (!FEED(r) || !EXPECT_REPORTS(W_CWW(100, 7)) ||
	    !ASSERT_EQ(T.v[0].r.epfd, 3, "epfd from the record") ||
	    !ASSERT_EQ(T.v[0].r.file.ino, 11, "inode from the record"))
		return false;
	finish(SEC);
	return EXPECT_STATS(100, .closed_while_watched = 1);
}

static bool test_exit_with_open_leaks(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_add(100, 8, 3, 0, 12),
		  rec_add(100, 9, 3, 0, 13),
		  rec_add(100, 10, 3, 0, 14),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_del(100, 8, 3, 200 * MS, 12)))
		return false;
	tick(2 * SEC);
	if (!FEED(rec_del(100, 9, 3, 2 * SEC, 13)))
		return false;
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_LEAK(100, 8)))
		return false;
	clear_reports();
	if (!FEED(rec_exit(100, 2500 * MS)))
		return false;
	/* resolution order follows the fd table: check it as a set */
	if (!ASSERT_EQ(T.n, 3, "reports at exit") ||
	    !ASSERT_TRUE(find_report(REPORT_LEAK_RESOLVED, 100, 7) &&
			 find_report(REPORT_LEAK_RESOLVED, 100, 8), "both resolved") ||
	    !ASSERT_EQ(find_report(REPORT_LEAK_RESOLVED, 100, 7)->r.how, RESOLVE_EXIT, "how 7") ||
	    !ASSERT_EQ(find_report(REPORT_LEAK_RESOLVED, 100, 8)->r.how, RESOLVE_EXIT, "how 8") ||
	    !ASSERT_EQ(find_report(REPORT_LEAK_RESOLVED, 100, 7)->r.unwatched_ns,
		       2400 * MS, "unwatched 7") ||
	    !ASSERT_EQ(T.v[2].r.kind, REPORT_SUMMARY, "summary last") ||
	    !EXPECT_STATS(100, .watches_ended = 3, .closed = 3, .closed_late = 2, .leaks = 2))
		return false;
	clear_reports();
	/* fd 9 was pending in the queue: it must not be reported now */
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_TOT) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 3, .leaks = 2);
}

/* a reused fd number must never be taken for the file it used to name */
static bool test_fd_reuse_after_leak(void)
{
	const struct got *g;

	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(2 * SEC);
	/* inode 11 went away unseen; inode 22 now has fd 7 */
	if (!FEED(rec_add(100, 7, 3, 3 * SEC, 22)))
		return false;
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_CLOSED)))
		return false;
	g = &T.v[1];
	if (!ASSERT_EQ(g->r.file.ino, 11, "resolved names the old file"))
		return false;
	if (!FEED(rec_del(100, 7, 3, 4 * SEC, 22)))
		return false;
	tick(6 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_CLOSED), W_LEAK(100, 7)))
		return false;
	g = &T.v[2];
	if (!ASSERT_EQ(g->r.file.ino, 22, "new leak names the new file") ||
	    !ASSERT_EQ(g->r.del_ts_ns, 4 * SEC, "new leak del_ts"))
		return false;
	finish(6 * SEC);
	return EXPECT_STATS(100, .watches_ended = 2, .closed = 1, .closed_late = 1,
			    .leaks = 2, .open_leaks = 1, .corrected = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 2, .leaks = 2, .open_leaks = 1);
}

static bool test_fd_reuse_within_grace(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  /* not a rewatch of inode 11: a new file */
		  rec_add(100, 7, 3, 200 * MS, 22),
		  rec_close(100, 7, FDT_CLOSE_CLOSE, 300 * MS, 22)))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .closed = 1, .corrected = 1);
}

/* unknown identities (ino 0) never count as a mismatch */
static bool test_fd_reuse_unknown_file(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 0),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_add(100, 7, 3, 200 * MS, 0),
		  rec_del(100, 7, 3, 300 * MS, 0),
		  rec_add(100, 7, 3, 400 * MS, 11)))
		return false;
	finish(10 * SEC);
	return EXPECT_STATS(100, .watches_ended = 2, .rewatched = 2);
}

static bool test_close_file_mismatch(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_close(100, 7, FDT_CLOSE_CLOSE, 200 * MS, 22)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	finish(10 * SEC);
	return EXPECT_STATS(100, .watches_ended = 1, .closed = 1, .corrected = 1);
}

/* threads share the fd table: state is per tgid, whatever the tid */
static bool test_threads_share_fds(void)
{
	if (!FEED(with_tid(rec_add(100, 7, 3, 0, 11), 101),
		  with_tid(rec_del(100, 7, 3, 100 * MS, 11), 102),
		  with_tid(rec_close(100, 7, FDT_CLOSE_CLOSE, 200 * MS, 11), 103),
		  with_tid(rec_add(100, 8, 3, 0, 12), 101),
		  with_tid(rec_del(100, 8, 3, 100 * MS, 12), 103)))
		return false;
	tick(5 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 8)))
		return false;
	if (!FEED(with_tid(rec_close(100, 8, FDT_CLOSE_CLOSE, 6 * SEC, 12), 104)))
		return false;
	finish(10 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 8), W_RES(100, 8, RESOLVE_CLOSED), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 2, .closed = 2, .closed_late = 1, .leaks = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 2, .leaks = 1);
}

static bool test_exec(void)
{
	if (!FEED(with_comm(rec_add(100, 7, 3, 0, 11), "python3"),
		  with_comm(rec_add(100, 8, 3, 0, 12), "python3"),
		  with_comm(rec_del(100, 7, 3, 100 * MS, 11), "python3"),
		  with_comm(rec_del(100, 8, 3, 100 * MS, 12), "python3"),
		  rec_close(100, 8, FDT_CLOSE_EXEC, 200 * MS, 12),
		  rec_exec(100, 200 * MS, "newprog")))
		return false;
	/* exec itself leaves fd 7 alone: it outlived its watch */
	tick(2 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)) ||
	    !ASSERT_STREQ(T.v[0].r.comm, "newprog", "comm after exec"))
		return false;
	if (!FEED(with_comm(rec_close(100, 7, FDT_CLOSE_EXEC, 3 * SEC, 11), "newprog")))
		return false;
	finish(10 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_EXEC), W_SUM(100), W_TOT) &&
	       ASSERT_STREQ(T.v[2].r.comm, "newprog", "summary comm") &&
	       EXPECT_STATS(100, .watches_ended = 2, .closed = 2, .closed_late = 1, .leaks = 1);
}

/* a forked child has its own fd table: the parent's state is not its */
static bool test_fork_child_separate(void)
{
	if (!FEED(with_comm(rec_add(100, 7, 3, 0, 11), "parent"),
		  with_comm(rec_fork(100, 200, 10 * MS), "parent"),
		  /* child closes its copy: the parent's watch is untouched */
		  with_comm(rec_close(200, 7, FDT_CLOSE_CLOSE, 20 * MS, 11), "child"),
		  with_comm(rec_add(200, 9, 4, 30 * MS, 33), "child"),
		  with_comm(rec_del(200, 9, 4, 40 * MS, 33), "child"),
		  with_comm(rec_close(200, 9, FDT_CLOSE_CLOSE, 50 * MS, 33), "child"),
		  with_comm(rec_del(100, 7, 3, 100 * MS, 11), "parent")))
		return false;
	if (!ASSERT_EQ(matcher__nr_procs(T.m), 2, "nr_procs"))
		return false;
	tick(5 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)))
		return false;
	finish(5 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_SUM(100), W_SUM(200), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .leaks = 1, .open_leaks = 1) &&
	       EXPECT_STATS(200, .watches_ended = 1, .closed = 1) &&
	       EXPECT_TOTALS(.processes = 2, .watches_ended = 2, .leaks = 1, .open_leaks = 1);
}

/*
 * Processes known only from fork or exec, with no epoll activity, get no
 * summary and are not counted; a process the user named always is.
 */
static bool test_fork_child_comm(void)
{
	if (!FEED(with_comm(rec_fork(100, 200, 10 * MS), "parent"),
		  with_comm(rec_fork(200, 300, 20 * MS), "parent")))
		return false;
	if (!ASSERT_EQ(matcher__add_pid(T.m, 100, "named", 0), 0, "add_pid"))
		return false;
	finish(SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       ASSERT_STREQ(T.v[0].r.comm, "named", "comm from add_pid, the latest word") &&
	       EXPECT_TOTALS(.processes = 1);
}

static bool test_pid_reuse_after_exit(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(2 * SEC);
	if (!FEED(rec_exit(100, 3 * SEC)))
		return false;
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_RES(100, 7, RESOLVE_EXIT), W_SUM(100)) ||
	    !ASSERT_EQ(matcher__nr_procs(T.m), 0, "nr_procs after exit"))
		return false;
	clear_reports();
	/* a new process got pid 100: same fd number, no inherited state */
	if (!FEED(rec_add(100, 7, 3, 4 * SEC, 11),
		  rec_close(100, 7, FDT_CLOSE_CLOSE, 5 * SEC, 11)))
		return false;
	tick(20 * SEC);
	finish(20 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 0) &&
	       EXPECT_TOTALS(.processes = 2, .watches_ended = 1, .leaks = 1);
}

/* a fork naming a pid we still hold means its exit record was lost */
static bool test_pid_reuse_missed_exit(void)
{
	if (!FEED(rec_add(200, 7, 3, 0, 11),
		  rec_del(200, 7, 3, 100 * MS, 11),
		  rec_fork(100, 200, 500 * MS),
		  rec_add(200, 7, 3, 600 * MS, 11)))
		return false;
	tick(10 * SEC);
	/* the old 200's pending fd left with it; the new 200 never DEL'd */
	if (!EXPECT_REPORTS(W_SUM(200)) ||
	    !EXPECT_STATS(200, .watches_ended = 1))
		return false;
	finish(10 * SEC);
	/* 100 only forked: no summary of its own */
	return EXPECT_REPORTS(W_SUM(200), W_SUM(200), W_TOT) &&
	       EXPECT_STATS(200, .rewatched = 0) &&
	       EXPECT_TOTALS(.processes = 2, .watches_ended = 1);
}

/* an fd in two epoll instances is watched until both let go */
static bool test_two_epfds(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_add(100, 7, 4, 10 * MS, 11),
		  rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	if (!FEED(rec_del(100, 7, 4, 11 * SEC, 11)))
		return false;
	tick(13 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)) ||
	    !ASSERT_EQ(T.v[0].r.epfd, 4, "epfd of last watch") ||
	    !ASSERT_EQ(T.v[0].r.del_ts_ns, 11 * SEC, "del_ts"))
		return false;
	finish(13 * SEC);
	return EXPECT_STATS(100, .watches_ended = 1, .leaks = 1, .open_leaks = 1);
}

/* more instances than fit inline, and a repeated ADD counted once */
static bool test_many_epfds(void)
{
	int ep;

	for (ep = 10; ep < 20; ep++)
		if (!FEED(rec_add(100, 7, ep, ep * MS, 11), rec_mod(100, 7, ep, ep * MS, 11)))
			return false;
	if (!FEED(rec_add(100, 7, 10, 30 * MS, 11)))
		return false;
	for (ep = 10; ep < 19; ep++)
		if (!FEED(rec_del(100, 7, ep, 100 * MS, 11)))
			return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	if (!FEED(rec_del(100, 7, 19, 11 * SEC, 11)))
		return false;
	tick(13 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)))
		return false;
	finish(13 * SEC);
	return EXPECT_STATS(100, .watches_ended = 1, .leaks = 1, .open_leaks = 1);
}

static bool test_del_ebadf(void)
{
	const struct got *g;

	if (!FEED(rec_del_err(100, 7, 3, 100 * MS, EBADF_RET)))
		return false;
	if (!EXPECT_REPORTS(W_DEREG(100, 7)))
		return false;
	g = &T.v[0];
	if (!ASSERT_EQ(g->r.epfd, 3, "epfd") || !ASSERT_EQ(g->r.ts_ns, 100 * MS, "ts"))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_DEREG(100, 7), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .deregister_failed = 1);
}

static bool test_del_enoent(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 50 * MS, 11),
		  rec_del_err(100, 7, 3, 100 * MS, ENOENT_RET),
		  rec_close(100, 7, FDT_CLOSE_CLOSE, 200 * MS, 11)))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .closed = 1, .del_enoent = 1);
}

static bool test_other_failures_ignored(void)
{
	if (!FEED(rec_ctl(100, FDT_EPOLL_CTL_ADD, 7, 3, -17, 0, 11),
		  rec_ctl(100, FDT_EPOLL_CTL_MOD, 7, 3, -2, 0, 11),
		  rec_ctl(100, FDT_EPOLL_CTL_DEL, 7, 3, -1, 0, 11),
		  rec_ctl(100, FDT_EPOLL_CTL_DEL, 7, 3, -22, 0, 11),
		  rec_ctl(100, 99, 7, 3, 0, 0, 11)))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 0);
}

/*
 * verify: an fd whose number no longer names the file when its grace ends
 * went away by a path no record showed: counted as corrected, never
 * reported; the others are reported as usual.
 */
static bool test_verify_before_flag(void)
{
	teardown();
	if (!setup_opts(SEC, verify_gone))
		return false;
	T.gone[T.nr_gone].pid = 100;
	T.gone[T.nr_gone++].fd = 8;
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_add(100, 8, 3, 0, 12),
		  rec_del(100, 7, 3, 100 * MS, 11), rec_del(100, 8, 3, 100 * MS, 12)))
		return false;
	tick(500 * MS);
	if (!ASSERT_EQ(T.verified, 0, "no verify before the grace ends"))
		return false;
	tick(2 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)) || !ASSERT_EQ(T.verified, 2, "verified both"))
		return false;
	tick(3 * SEC);
	/* the corrected fd is gone from the engine: a close of it is nothing */
	if (!FEED(rec_close(100, 8, FDT_CLOSE_CLOSE, 4 * SEC, 12)))
		return false;
	finish(5 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_SUM(100), W_TOT) &&
	       ASSERT_EQ(T.verified, 2, "each fd verified once") &&
	       EXPECT_STATS(100, .watches_ended = 2, .closed = 1, .corrected = 1,
			    .leaks = 1, .open_leaks = 1) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 2, .leaks = 1, .open_leaks = 1);
}

/*
 * The check runs once per process per tick for all its due fds, at most
 * max_checks of them; the rest wait for the next tick, still dated when
 * their grace ran out.
 */
static bool test_verify_batched(void)
{
	struct matcher_opts opts = { .grace_ns = SEC, .report = collect,
				     .verify = verify_gone, .max_checks = 3 };
	int fd;

	teardown();
	memset(&T, 0, sizeof(T));
	T.m = matcher__new(&opts);
	if (!ASSERT_TRUE(T.m != NULL, "matcher__new"))
		return false;
	for (fd = 10; fd < 14; fd++)
		if (!FEED(rec_add(100, fd, 3, 0, fd), rec_del(100, fd, 3, 100 * MS, fd),
			  rec_add(200, fd, 3, 0, 100 + fd), rec_del(200, fd, 3, 100 * MS, 100 + fd)))
			return false;
	tick(2 * SEC);
	/* 3 due fds at most: pid 100's four come first (ties in pid order) */
	if (!ASSERT_EQ(T.n, 3, "three checked and reported") ||
	    !ASSERT_EQ(T.verify_calls, 1, "one walk for the one process"))
		return false;
	tick(2 * SEC);
	tick(2 * SEC);
	if (!ASSERT_EQ(T.n, 8, "all eight reported") ||
	    !ASSERT_EQ(T.verify_calls, 4, "pid 100, then 100 and 200, then 200"))
		return false;
	for (size_t i = 0; i < T.n; i++)
		if (!ASSERT_EQ(T.v[i].r.ts_ns, 1100 * MS, "dated at del + grace"))
			return false;
	return true;
}

/* A process that lost records: only a confirmed leak is reported. */
static bool test_lost_needs_proof(void)
{
	teardown();
	if (!setup_opts(SEC, verify_gone))
		return false;
	T.lost = 5;
	T.unknown = true;
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(2 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	T.unknown = false;
	if (!FEED(rec_add(100, 8, 3, 0, 12), rec_del(100, 8, 3, 3 * SEC, 12)))
		return false;
	tick(5 * SEC);
	finish(6 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 8), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 2, .leaks = 1, .open_leaks = 1,
			    .lost = 5, .unconfirmed = 1);
}

static struct rec rec_untracked(__u32 pid, __u32 op, int fd, __u64 ts, __u64 ino)
{
	struct rec r = rec_ctl(pid, op, fd, 3, 0, ts, ino);

	r.ctl.flags = FDT_CTLF_UNTRACKED;
	return r;
}

/*
 * The kernel could not track an fd (map full): no finding about it, its
 * later history not guessed, counted once per fd; tracked again later, it
 * starts afresh.
 */
static bool test_untracked(void)
{
	if (!FEED(rec_untracked(100, 7, FDT_EPOLL_CTL_ADD, 0, 11),
		  rec_untracked(100, 7, FDT_EPOLL_CTL_DEL, 100 * MS, 11),
		  rec_untracked(100, 8, FDT_EPOLL_CTL_ADD, 0, 12)))
		return false;
	tick(5 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	/* fd 7 reused, tracked this time */
	if (!FEED(rec_add(100, 7, 3, 6 * SEC, 21), rec_del(100, 7, 3, 6 * SEC, 21)))
		return false;
	tick(8 * SEC);
	finish(9 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 1, .leaks = 1, .open_leaks = 1,
			    .untracked = 2) &&
	       EXPECT_TOTALS(.processes = 1, .watches_ended = 1, .leaks = 1,
			     .open_leaks = 1, .untracked = 2);
}

static bool test_verify_watched(void)
{
	teardown();
	if (!setup_opts(SEC, verify_watched))
		return false;
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	tick(2 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	/* watched as far as the engine knows now: a DEL ends it again */
	if (!FEED(rec_del(100, 7, 3, 3 * SEC, 11)))
		return false;
	finish(3500 * MS);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .watches_ended = 2, .corrected = 1);
}

static struct rec rec_del_tcp(__u32 pid, int fd, __u64 ts, __u64 ino, __u32 rd, __u32 wr)
{
	struct rec r = rec_del(pid, fd, 3, ts, ino);

	r.ctl.flags = FDT_CTLF_TCP;
	r.ctl.rd_seq = rd;
	r.ctl.wr_seq = wr;
	return r;
}

#define TCP_SOCK(st_, rd_, wr_, unread_) \
	((struct fdt_verify){ .sock_flags = FDT_SOCKF_SOCKET | FDT_SOCKF_TCP, \
			      .tcp_state = (st_), .rd_seq = (rd_), .wr_seq = (wr_), \
			      .unread = (unread_) })

/*
 * The evidence decides: idle and peer-closed sockets leak at the grace;
 * one that moved bytes since the DEL is looked at again one grace later
 * and leaks once quiet; one with data waiting leaks only at the pause
 * grace.
 */
static bool test_evidence_classes(void)
{
	struct matcher_opts opts = { .grace_ns = SEC, .pause_grace_ns = 10 * SEC,
				     .report = collect, .verify = verify_sock };
	const struct got *g;

	teardown();
	memset(&T, 0, sizeof(T));
	T.m = matcher__new(&opts);
	if (!ASSERT_TRUE(T.m != NULL, "matcher__new"))
		return false;
	T.sock[1] = TCP_SOCK(1, 100, 200, 0);		/* idle */
	T.sock[2] = TCP_SOCK(8, 100, 200, 0);		/* CLOSE_WAIT */
	T.sock[3] = TCP_SOCK(1, 150, 200, 0);		/* read 50 bytes since */
	T.sock[4] = TCP_SOCK(1, 100, 200, 4096);	/* paused */
	for (int fd = 9; fd <= 12; fd++)
		if (!FEED(rec_add(100, fd, 3, 0, fd), rec_del_tcp(100, fd, 0, fd, 100, 200)))
			return false;
	tick(1500 * MS);
	if (!EXPECT_REPORTS(W_LEAK(100, 9), W_LEAK(100, 10)))
		return false;
	g = find_report(REPORT_LEAK, 100, 9);
	if (!ASSERT_EQ(g->r.ev.cls, EVIDENCE_IDLE, "fd 9 idle") ||
	    !ASSERT_EQ(find_report(REPORT_LEAK, 100, 10)->r.ev.cls, EVIDENCE_PEER_CLOSED,
		       "fd 10 peer closed"))
		return false;
	clear_reports();
	/* fd 11 quiet now: a leak one grace after its last movement was seen */
	tick(2 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	tick(3 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 11)))
		return false;
	g = &T.v[0];
	if (!ASSERT_EQ(g->r.ev.cls, EVIDENCE_IDLE, "fd 11 idle at last") ||
	    !ASSERT_EQ(g->r.ev.read_since, 50, "read since the DEL") ||
	    !ASSERT_EQ(g->r.ts_ns, 2500 * MS, "a leak one grace after it was seen moving"))
		return false;
	clear_reports();
	tick(9 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	tick(11 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 12)) ||
	    !ASSERT_EQ(T.v[0].r.ev.cls, EVIDENCE_BACKPRESSURED, "fd 12 backpressured") ||
	    !ASSERT_EQ(T.v[0].r.ts_ns, 10 * SEC, "at the pause grace") ||
	    !ASSERT_EQ(T.v[0].r.ev.unread, 4096, "unread"))
		return false;
	finish(12 * SEC);
	return EXPECT_STATS(100, .watches_ended = 4, .leaks = 4, .open_leaks = 4,
			    .leaks_idle = 2, .leaks_peer_closed = 1, .leaks_backpressured = 1,
			    .in_use = 1, .paused = 1);
}

/* A close of an epoll fd, as the kernel reports it. */
static struct rec rec_close_epoll(__u32 pid, int epfd, __u64 ts, __u32 flags)
{
	struct rec r = rec_close_flags(pid, epfd, FDT_CLOSE_CLOSE, ts, 0, flags);

	r.close.file = (struct fdt_file){ .ino = 99, .dev = DEV, .ftype = FDT_FT_EPOLL };
	return r;
}

/*
 * Closing the last reference to an epoll instance ends the watches it
 * held: an fd in A and B, DEL'd from A, is unwatched once B is closed.
 * A close that leaves the instance alive (a dup) ends nothing.
 */
static bool test_epoll_fd_closed(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_add(100, 7, 4, 0, 11),
		  rec_add(100, 8, 4, 0, 12),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_close_epoll(100, 4, 200 * MS, FDT_CLOSEF_SHARED)))
		return false;
	tick(5 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	if (!FEED(rec_close_epoll(100, 4, 6 * SEC, 0)))
		return false;
	tick(8 * SEC);
	finish(9 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_LEAK(100, 8), W_SUM(100), W_TOT) &&
	       ASSERT_EQ(T.v[0].r.del_ts_ns, 6 * SEC, "watch ended at the close") &&
	       ASSERT_EQ(T.v[0].r.epfd, 4, "by the closed instance") &&
	       EXPECT_STATS(100, .watches_ended = 2, .leaks = 2, .open_leaks = 2);
}

/* leaks resolved by exit come out in fd order, whatever the hash order */
static bool test_exit_resolves_in_fd_order(void)
{
	static const int fds[] = { 40, 7, 1000, 3, 65, 12, 9, 300 };
	const size_t nr = sizeof(fds) / sizeof(fds[0]);
	size_t i;

	for (i = 0; i < nr; i++)
		if (!FEED(rec_add(100, fds[i], 2, 0, 100 + fds[i]),
			  rec_del(100, fds[i], 2, MS, 100 + fds[i])))
			return false;
	tick(5 * SEC);
	clear_reports();
	if (!FEED(rec_exit(100, 6 * SEC)) || !ASSERT_EQ(T.n, nr + 1, "resolutions + summary"))
		return false;
	for (i = 0; i + 1 < nr; i++)
		if (!ASSERT_TRUE(T.v[i].r.kind == REPORT_LEAK_RESOLVED &&
				 T.v[i].r.fd < T.v[i + 1].r.fd, "ascending fds"))
			return false;
	return ASSERT_EQ(T.v[nr].r.kind, REPORT_SUMMARY, "summary last");
}

static bool test_bad_records(void)
{
	static const __u32 types[] = {
		FDT_REC_EPOLL_CTL, FDT_REC_CLOSE, FDT_REC_EXEC, FDT_REC_EXIT,
		FDT_REC_FORK, FDT_REC_WATCH_SEED,
	};
	struct rec good[] = {
		rec_add(100, 7, 3, 0, 11), rec_close(100, 7, 1, 0, 11),
		rec_exec(100, 0, "x"), rec_exit(100, 0), rec_fork(100, 200, 0),
		rec_seed(100, 7, 3, 0, 11),
	};
	unsigned char big[256] = { 0 };
	struct rec r;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!ASSERT_EQ(good[i].hdr.type, types[i], "type") ||
		    /*
		     * proc records of ABI 4 end before the kernel's counts,
		     * epoll_ctl records before py_stack
		     */
		    !ASSERT_EQ(matcher__feed(T.m, &good[i], good[i].hdr.type == FDT_REC_EXEC ||
					     good[i].hdr.type == FDT_REC_EXIT ||
					     good[i].hdr.type == FDT_REC_FORK ?
					     FDT_REC_PROC_V4_SIZE - 1 :
					     good[i].hdr.type == FDT_REC_EPOLL_CTL ?
					     FDT_REC_EPOLL_CTL_V5_SIZE - 1 : good[i].size - 1), -EINVAL,
			       "truncated by one byte") ||
		    !ASSERT_EQ(matcher__feed(T.m, &good[i], sizeof(struct fdt_rec_hdr)),
			       -EINVAL, "header only"))
			return false;
	}
	r = rec_add(100, 7, 3, 0, 11);
	if (!ASSERT_EQ(matcher__feed(T.m, &r, sizeof(r.hdr) - 1), -EINVAL, "short header") ||
	    !ASSERT_EQ(matcher__feed(T.m, &r, 0), -EINVAL, "empty") ||
	    !ASSERT_EQ(matcher__feed(T.m, NULL, 80), -EINVAL, "NULL"))
		return false;
	r.hdr.type = 0;
	if (!ASSERT_EQ(matcher__feed(T.m, &r, r.size), -EINVAL, "type 0"))
		return false;
	r.hdr.type = FDT_REC_MAX;
	if (!ASSERT_EQ(matcher__feed(T.m, &r, r.size), -EINVAL, "type FDT_REC_MAX"))
		return false;
	if (!ASSERT_EQ(matcher__nr_procs(T.m), 0, "no process from bad records") ||
	    !EXPECT_NO_REPORTS())
		return false;
	finish(0);
	/* 6 types x 2 truncations + short header + empty + NULL + 2 bad types */
	if (!EXPECT_TOTALS(.bad_records = 17))
		return false;
	teardown();
	if (!setup(SEC))
		return false;

	/* longer than we know, and unaligned: a later ABI may append fields */
	r = rec_add(100, 7, 3, 0, 11);
	memcpy(big + 1, &r.ctl, sizeof(r.ctl));
	if (!ASSERT_EQ(matcher__feed(T.m, big + 1, sizeof(r.ctl) + 16), 0, "longer record"))
		return false;
	finish(SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) && EXPECT_TOTALS(.processes = 1);
}

static bool test_grace_boundary(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, SEC, 11)))
		return false;
	tick(SEC + GRACE - 1);
	tick(SEC + GRACE);
	if (!EXPECT_NO_REPORTS())
		return false;
	tick(SEC + GRACE + 1);
	return EXPECT_REPORTS(W_LEAK(100, 7)) &&
	       ASSERT_EQ(T.v[0].r.unwatched_ns, GRACE, "unwatched: dated when the grace ran out");
}

static bool test_leak_reported_once(void)
{
	__u64 t;

	if (!FEED(rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 100 * MS, 11)))
		return false;
	for (t = 0; t < 1000; t++)
		tick(t * 10 * MS);
	for (t = 0; t < 1000; t++)
		tick(100 * SEC + t);
	/* time going back must not report it again either */
	tick(50 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7)) &&
	       ASSERT_EQ(T.v[0].r.ts_ns, 1100 * MS, "dated when the grace ran out");
}

/* records from different CPUs may arrive slightly out of time order */
static bool test_out_of_order(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_add(100, 8, 3, 0, 12),
		  rec_add(100, 9, 3, 0, 13),
		  rec_del(100, 7, 3, 500 * MS, 11),
		  rec_del(100, 8, 3, 300 * MS, 12)))
		return false;
	tick(1400 * MS);
	if (!EXPECT_REPORTS(W_LEAK(100, 8)))
		return false;
	/* a DEL older than the last tick: due at once, reported next tick */
	if (!FEED(rec_del(100, 9, 3, 100 * MS, 13)))
		return false;
	tick(1600 * MS);
	if (!EXPECT_REPORTS(W_LEAK(100, 8), W_LEAK(100, 9), W_LEAK(100, 7)))
		return false;
	/* a close stamped before its DEL: resolved, unwatched clamps to 0 */
	if (!FEED(rec_close(100, 7, FDT_CLOSE_CLOSE, 400 * MS, 11)))
		return false;
	return EXPECT_REPORTS(W_LEAK(100, 8), W_LEAK(100, 9), W_LEAK(100, 7),
			      W_RES(100, 7, RESOLVE_CLOSED)) &&
	       ASSERT_EQ(T.v[3].r.unwatched_ns, 0, "clamped unwatched");
}

/* equal del_ts: reported in (pid, fd) order, whatever the feed order */
static bool test_same_del_ts_order(void)
{
	if (!FEED(rec_del(300, 5, 3, SEC, 0),
		  rec_del(100, 9, 3, SEC, 0),
		  rec_del(100, 2, 3, SEC, 0),
		  rec_del(200, 4, 3, SEC, 0)))
		return false;
	tick(3 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 2), W_LEAK(100, 9), W_LEAK(200, 4), W_LEAK(300, 5));
}

/* attached mid-flight: DEL or MOD of a watch we never saw added */
static bool test_mid_flight(void)
{
	if (!FEED(rec_del(100, 7, 3, 100 * MS, 11),
		  rec_mod(100, 8, 3, 100 * MS, 12),
		  rec_del(100, 8, 3, 200 * MS, 12),
		  rec_close(100, 8, FDT_CLOSE_CLOSE, 300 * MS, 12),
		  rec_mod(100, 9, 3, 100 * MS, 13)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7)))
		return false;
	finish(10 * SEC);
	return EXPECT_STATS(100, .watches_ended = 2, .closed = 1, .leaks = 1, .open_leaks = 1);
}

static bool test_watch_seed(void)
{
	if (!FEED(rec_seed(100, 7, 3, 0, 11),
		  rec_seed(100, 8, 3, 0, 12),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_add(100, 7, 3, 200 * MS, 11),
		  rec_del(100, 8, 3, 100 * MS, 12),
		  /* a seed is not the process re-watching */
		  rec_seed(100, 8, 3, 200 * MS, 12)))
		return false;
	tick(10 * SEC);
	if (!EXPECT_NO_REPORTS())
		return false;
	finish(10 * SEC);
	return EXPECT_STATS(100, .watches_ended = 2, .rewatched = 1);
}

static bool test_closed_while_watched(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_add(100, 8, 3, 0, 12),
		  rec_close_flags(100, 7, FDT_CLOSE_CLOSE, 100 * MS, 11,
				  FDT_CLOSEF_STILL_WATCHED | FDT_CLOSEF_SHARED),
		  /* the kernel drops the watch with the last reference: fine */
		  rec_close(100, 8, FDT_CLOSE_CLOSE, 100 * MS, 12),
		  /* forgotten: a later close says nothing */
		  rec_close_flags(100, 7, FDT_CLOSE_CLOSE, 200 * MS, 11,
				  FDT_CLOSEF_STILL_WATCHED)))
		return false;
	if (!EXPECT_REPORTS(W_CWW(100, 7)) ||
	    !ASSERT_EQ(T.v[0].r.epfd, 3, "epfd") ||
	    !ASSERT_EQ(T.v[0].r.ts_ns, 100 * MS, "ts"))
		return false;
	tick(10 * SEC);
	finish(10 * SEC);
	return EXPECT_REPORTS(W_CWW(100, 7), W_SUM(100), W_TOT) &&
	       EXPECT_STATS(100, .closed_while_watched = 1);
}

static bool test_drop_pid(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_del(100, 7, 3, 100 * MS, 11),
		  rec_add(100, 8, 3, 0, 12),
		  rec_del(100, 8, 3, 5 * SEC, 12),
		  rec_add(200, 7, 3, 0, 21)))
		return false;
	tick(2 * SEC);
	matcher__drop_pid(T.m, 100, 3 * SEC);
	matcher__drop_pid(T.m, 999, 3 * SEC);
	if (!EXPECT_REPORTS(W_LEAK(100, 7), W_SUM(100)) ||
	    !ASSERT_EQ(T.v[1].r.ts_ns, 3 * SEC, "summary ts") ||
	    !EXPECT_STATS(100, .watches_ended = 2, .leaks = 1, .open_leaks = 1) ||
	    !ASSERT_EQ(matcher__nr_procs(T.m), 1, "nr_procs"))
		return false;
	/* fd 8 was pending: it went with its process */
	tick(20 * SEC);
	finish(20 * SEC);
	return EXPECT_REPORTS(W_LEAK(100, 7), W_SUM(100), W_SUM(200), W_TOT) &&
	       EXPECT_TOTALS(.processes = 2, .watches_ended = 2, .leaks = 1, .open_leaks = 1);
}

static bool test_finish_order_and_totals(void)
{
	if (!FEED(rec_add(300, 7, 3, 0, 31), rec_del(300, 7, 3, 0, 31),
		  rec_add(100, 7, 3, 0, 11), rec_del(100, 7, 3, 0, 11),
		  rec_add(100, 8, 3, 0, 12), rec_del(100, 8, 3, 0, 12),
		  rec_close(100, 8, FDT_CLOSE_CLOSE, 0, 12),
		  rec_del_err(200, 5, 3, 0, ENOENT_RET),
		  rec_exec(400, 0, "quiet"),
		  rec_add(500, 7, 3, 0, 51), rec_del(500, 7, 3, 0, 51),
		  rec_exit(500, 10 * MS)))
		return false;
	tick(5 * SEC);
	matcher__set_lost(T.m, 42);
	clear_reports();
	finish(6 * SEC);
	/* 400 only exec'd: no epoll activity, no summary */
	if (!EXPECT_REPORTS(W_SUM(100), W_SUM(200), W_SUM(300), W_TOT) ||
	    !ASSERT_EQ(T.v[0].r.ts_ns, 6 * SEC, "summary ts") ||
	    !ASSERT_EQ(T.v[3].r.ts_ns, 6 * SEC, "totals ts") ||
	    !EXPECT_STATS(100, .watches_ended = 2, .closed = 1, .leaks = 1, .open_leaks = 1) ||
	    !EXPECT_STATS(200, .del_enoent = 1) ||
	    !EXPECT_STATS(300, .watches_ended = 1, .leaks = 1, .open_leaks = 1) ||
	    !EXPECT_TOTALS(.processes = 4, .watches_ended = 4, .leaks = 2, .open_leaks = 2,
			   .lost_events = 42))
		return false;
	return ASSERT_EQ(matcher__nr_procs(T.m), 0, "nr_procs after finish");
}

/*
 * The exit tracepoint fires before exit_files(): the per-fd closes of an
 * exiting process come after its EXIT record and must not bring it back.
 */
static bool test_close_after_exit(void)
{
	if (!FEED(rec_add(100, 7, 3, 0, 11),
		  rec_exit(100, 100 * MS),
		  rec_close(100, 7, FDT_CLOSE_EXIT, 100 * MS, 11),
		  rec_close(100, 8, FDT_CLOSE_EXIT, 100 * MS, 12)))
		return false;
	if (!ASSERT_EQ(matcher__nr_procs(T.m), 0, "nr_procs") ||
	    !EXPECT_REPORTS(W_SUM(100)))
		return false;
	/* and an exit of a process never seen is not one either */
	if (!FEED(rec_exit(555, SEC)))
		return false;
	finish(SEC);
	return EXPECT_REPORTS(W_SUM(100), W_TOT) && EXPECT_TOTALS(.processes = 1);
}

/*
 * Thousands of processes come and go: pid lookups survive deletions from
 * the pid table and exited processes give their memory back.
 */
static bool test_many_processes(void)
{
	const __u32 nr = 3000, rounds = quick ? 5 : 20;
	/* scattered pids, so they collide in the pid table; never 1 */
#define PID(i)	((((i) * 0x9E3779B1u) & 0x3FFFFF) + 2)
	size_t mem_first = 0, mem_last = 0;
	__u32 round, pid, alive = 0;

	for (round = 0; round < rounds; round++) {
		__u64 base = round * 100 * SEC;

		for (pid = 1; pid <= nr; pid++)
			if (!FEED(rec_fork(1, PID(pid), base), rec_add(PID(pid), 7, 3, base, pid)))
				return false;
		/* every third goes away, the others end their watch */
		for (pid = 1; pid <= nr; pid++) {
			if (pid % 3 == 0) {
				if (!FEED(rec_exit(PID(pid), base + SEC)))
					return false;
			} else if (!FEED(rec_del(PID(pid), 7, 3, base + SEC, pid))) {
				return false;
			}
		}
		alive = 1 + nr - nr / 3;
		if (!ASSERT_EQ(matcher__nr_procs(T.m), alive, "processes alive"))
			return false;
		clear_reports();
		tick(base + 3 * SEC);
		if (!ASSERT_EQ(T.kinds[REPORT_LEAK], nr - nr / 3, "one leak per survivor"))
			return false;
		clear_reports();
		for (pid = 1; pid <= nr; pid++)
			if (pid % 3 && !FEED(rec_exit(PID(pid), base + 4 * SEC)))
				return false;
		if (!ASSERT_EQ(T.kinds[REPORT_LEAK_RESOLVED], nr - nr / 3, "resolved at exit") ||
		    !ASSERT_EQ(T.kinds[REPORT_SUMMARY], nr - nr / 3, "summaries") ||
		    !ASSERT_EQ(matcher__nr_procs(T.m), 1, "only the parent left"))
			return false;
		clear_reports();
		/* the allocator settles over the first rounds: flat after that */
		if (round == rounds / 4)
			mem_first = heap_in_use();
		mem_last = heap_in_use();
	}
	if (mem_first && mem_last && mem_last > mem_first + 4096)
		return fail("heap grew from %zu to %zu bytes", mem_first, mem_last);
#undef PID
	finish(rounds * 100 * SEC);
	/* pid 1 only forked: no summary */
	return EXPECT_REPORTS(W_TOT) &&
	       EXPECT_TOTALS(.processes = (__u64)nr * rounds,
			     .watches_ended = (__u64)(nr - nr / 3) * rounds,
			     .leaks = (__u64)(nr - nr / 3) * rounds);
}

/* a comm filling all 16 bytes must still reach reports terminated */
static bool test_comm_unterminated(void)
{
	struct rec r = rec_del_err(100, 7, 3, 0, EBADF_RET);

	memset(r.hdr.comm, 'x', sizeof(r.hdr.comm));
	if (!FEED(r))
		return false;
	return EXPECT_REPORTS(W_DEREG(100, 7)) &&
	       ASSERT_EQ(strnlen(T.v[0].r.comm, FDT_COMM_LEN), FDT_COMM_LEN - 1, "comm length");
}

static bool test_new_bad_opts(void)
{
	struct matcher *m;

	errno = 0;
	m = matcher__new(NULL);
	return ASSERT_TRUE(m == NULL, "matcher__new(NULL)") &&
	       ASSERT_EQ(errno, EINVAL, "errno");
}

/* Reports without a callback are only counted; nothing must crash. */
static bool test_no_callback(void)
{
	struct matcher_opts opts = { .grace_ns = GRACE };
	struct matcher *m = matcher__new(&opts);
	struct rec r[] = { rec_add(1, 7, 3, 0, 11), rec_del(1, 7, 3, 0, 11) };

	if (!ASSERT_TRUE(m != NULL, "matcher__new"))
		return false;
	matcher__feed(m, &r[0], r[0].size);
	matcher__feed(m, &r[1], r[1].size);
	matcher__tick(m, 10 * SEC);
	matcher__finish(m, 10 * SEC);
	matcher__free(m);
	return true;
}


/*
 * DEL/close/ADD cycles over 4096 fds that stay open in 4 processes.  Each
 * round leaves one fd unwatched past grace, re-watched in the next round;
 * closed fds come back as new files under the same number.
 */
static bool test_stress(void)
{
	enum { NR_PIDS = 4, FDS_PER_PID = 1024, NR_FDS = NR_PIDS * FDS_PER_PID };
	static __u64 ino[NR_FDS];
	const __u64 cycles = quick ? 100000 : 1000000;
	const __u64 rounds = (cycles + NR_FDS - 1) / NR_FDS;
	__u64 ts = 0, nr_rec = 0, ended = 0, rewatched = 0, closed = 0, next_ino = 1;
	__u64 r, leftover = ~0ULL;
	size_t mem_mid = 0, mem_end, mem_closed;
	__u32 k;

	T.count_only = true;
	matcher__free(T.m);
	/* short grace, so a round (about 20ms of records) outlasts it */
	T.m = matcher__new(&(struct matcher_opts){ .grace_ns = 10 * MS, .report = collect });
	if (!ASSERT_TRUE(T.m != NULL, "matcher__new"))
		return false;

#define PID(k)	(1000 + (k) / FDS_PER_PID)
#define FD(k)	((int)(3 + (k) % FDS_PER_PID))
#define STEP(x) do {							\
		struct rec __r = (x);					\
		if (matcher__feed(T.m, &__r, __r.size))			\
			return fail("stress: record %llu rejected",	\
				    (unsigned long long)nr_rec);		\
		if (++nr_rec % 1024 == 0)				\
			tick(ts);					\
		ts += 1000;						\
	} while (0)

	for (k = 0; k < NR_FDS; k++) {
		ino[k] = next_ino++;
		STEP(rec_add(PID(k), FD(k), 2, ts, ino[k]));
	}
	for (r = 0; r < rounds; r++) {
		__u64 left = (r * 977) % NR_FDS;

		if (r == 2)
			mem_mid = heap_in_use();
		for (k = 0; k < NR_FDS; k++) {
			__u32 pid = PID(k);
			int fd = FD(k);

			if (k == leftover) {
				STEP(rec_add(pid, fd, 2, ts, ino[k]));
				rewatched++;
			}
			STEP(rec_del(pid, fd, 2, ts, ino[k]));
			ended++;
			if (k == left)
				continue;
			switch (k & 3) {
			case 0:
				STEP(rec_close(pid, fd, FDT_CLOSE_CLOSE, ts, ino[k]));
				closed++;
				ino[k] = next_ino++;
				STEP(rec_add(pid, fd, 2, ts, ino[k]));
				break;
			case 1:
				/* pause_reading()/resume_reading() */
				STEP(rec_add(pid, fd, 2, ts, ino[k]));
				STEP(rec_mod(pid, fd, 2, ts, 0));
				rewatched++;
				break;
			case 2:
				/* libuv deregisters again before closing */
				STEP(rec_del_err(pid, fd, 2, ts, ENOENT_RET));
				STEP(rec_close(pid, fd, FDT_CLOSE_RANGE, ts, ino[k]));
				closed++;
				ino[k] = next_ino++;
				STEP(rec_add(pid, fd, 2, ts, ino[k]));
				break;
			default:
				/* closed unseen: the next ADD names a new file */
				ino[k] = next_ino++;
				STEP(rec_add(pid, fd, 2, ts, ino[k]));
				closed++;
				break;
			}
		}
		leftover = left;
	}
	tick(ts + SEC);
	mem_end = heap_in_use();
	if (!ASSERT_EQ(matcher__nr_procs(T.m), NR_PIDS, "nr_procs") ||
	    !ASSERT_EQ(T.kinds[REPORT_LEAK], rounds, "leaks") ||
	    !ASSERT_EQ(T.kinds[REPORT_LEAK_RESOLVED], rounds - 1, "resolved"))
		return false;
	/* memory follows live fds: once they are all there, rounds add nothing */
	if (mem_mid && mem_end && mem_end > mem_mid + 4096)
		return fail("stress: heap grew from %zu to %zu bytes", mem_mid, mem_end);

	for (k = 0; k < NR_FDS; k++)
		STEP(rec_close(PID(k), FD(k), FDT_CLOSE_CLOSE, ts, ino[k]));
	closed++;
	mem_closed = heap_in_use();
	/* and it is given back when they close */
	if (mem_mid && mem_closed && mem_closed + 256 * 1024 > mem_mid)
		return fail("stress: %zu bytes in use with no fd, %zu with %d",
			    mem_closed, mem_mid, NR_FDS);
#undef STEP
#undef FD
#undef PID
	finish(ts + SEC);
	return ASSERT_EQ(T.kinds[REPORT_LEAK_RESOLVED], rounds, "resolved") &&
	       ASSERT_EQ(T.kinds[REPORT_SUMMARY], NR_PIDS, "summaries") &&
	       ASSERT_EQ(T.last_tot.processes, NR_PIDS, "processes") &&
	       ASSERT_EQ(T.last_tot.watches_ended, ended, "watches_ended") &&
	       ASSERT_EQ(T.last_tot.leaks, rounds, "totals leaks") &&
	       ASSERT_EQ(T.last_tot.open_leaks, 0, "open leaks") &&
	       ASSERT_EQ(ended, closed + rewatched, "generator bookkeeping") &&
	       ASSERT_TRUE(nr_rec >= 3 * cycles, "records fed");
}

/*
 * Per-process stats add up: every ended watch was closed, re-watched,
 * is pending, or is an open leak.
 */
static bool test_stats_balance(void)
{
	__u32 pid;

	for (pid = 1; pid <= 3; pid++) {
		int fd;

		for (fd = 3; fd < 40; fd++) {
			__u64 t = fd * 10 * MS, ino = pid * 100 + fd;

			if (!FEED(rec_add(pid, fd, 2, t, ino), rec_del(pid, fd, 2, t + MS, ino)))
				return false;
			if (fd % 3 == 0 && !FEED(rec_close(pid, fd, FDT_CLOSE_CLOSE, t + 2 * MS, ino)))
				return false;
			if (fd % 3 == 1 && !FEED(rec_add(pid, fd, 2, t + 2 * MS, ino)))
				return false;
		}
	}
	tick(100 * SEC);
	finish(100 * SEC);
	for (pid = 1; pid <= 3; pid++) {
		const struct got *g = find_report(REPORT_SUMMARY, pid, -1);

		if (!ASSERT_TRUE(g != NULL, "summary") ||
		    !ASSERT_EQ(g->st.watches_ended, g->st.closed + g->st.rewatched + g->st.open_leaks,
			       "balance") ||
		    !ASSERT_EQ(g->st.leaks, 12, "leaks per pid"))
			return false;
	}
	return EXPECT_TOTALS(.processes = 3, .watches_ended = 111, .leaks = 36, .open_leaks = 36);
}

/*
 * Differential test: random streams (open-heavy and close-heavy phases, so
 * tables grow, shrink and shift entries that sit in the queue) against a
 * naive model that keeps every (pid, fd) in a flat array and scans it on
 * every tick.  Each record's or tick's reports must match the model's, as
 * a set, field for field.
 */
enum { M_PIDS = 5, M_FDS = 256, M_EPS = 3 };

struct m_fd {
	int state;		/* 0 none, 1 watched, 2 ended, 3 leaked */
	unsigned int eps;	/* bit per epfd */
	int epfd;
	__u64 del_ts, ino;
};

struct m_rep {
	__u32 kind, pid;
	__s32 fd, epfd;
	__u64 ino, ts, del_ts, unwatched;
	__u32 how, pad;
};

static struct {
	bool known[M_PIDS];
	struct proc_stats st[M_PIDS];
	struct m_fd fd[M_PIDS][M_FDS];
	struct m_rep rep[M_PIDS * M_FDS + 8];
	size_t nr;
	__u64 processes, ended, leaks, open;
} M;

static void m_emit(__u32 kind, int pid, int fd, const struct m_fd *e, __u64 ts, __u32 how)
{
	struct m_rep *r = &M.rep[M.nr++];

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->pid = 100 + pid;
	r->fd = fd;
	r->epfd = e->epfd;
	r->ino = e->ino;
	r->ts = ts;
	if (kind == REPORT_LEAK || kind == REPORT_LEAK_RESOLVED) {
		r->del_ts = e->del_ts;
		r->unwatched = ts > e->del_ts ? ts - e->del_ts : 0;
	}
	r->how = how;
}

static void m_gone(int pid, int fd, __u64 ts, __u32 how)
{
	struct m_fd *e = &M.fd[pid][fd];

	if (e->state >= 2)
		M.st[pid].closed++;
	if (e->state == 3) {
		M.st[pid].closed_late++;
		M.st[pid].open_leaks--;
		M.open--;
		m_emit(REPORT_LEAK_RESOLVED, pid, fd, e, ts, how);
	}
	memset(e, 0, sizeof(*e));
}

static struct m_fd *m_lookup(int pid, int fd, __u64 ino, __u64 ts)
{
	struct m_fd *e = &M.fd[pid][fd];

	if (!e->state)
		return NULL;
	if (e->ino && ino && e->ino != ino) {
		M.st[pid].corrected++;
		m_gone(pid, fd, ts, RESOLVE_CLOSED);
		return NULL;
	}
	if (!e->ino)
		e->ino = ino;
	return e;
}

static void m_watch(int pid, int fd, int ep, __u64 ino, __u64 ts)
{
	struct m_fd *e = m_lookup(pid, fd, ino, ts);

	if (!e) {
		e = &M.fd[pid][fd];
		e->ino = ino;
	} else if (e->state == 2) {
		M.st[pid].rewatched++;
	} else if (e->state == 3) {
		M.st[pid].rewatched++;
		M.st[pid].open_leaks--;
		M.open--;
		m_emit(REPORT_LEAK_RESOLVED, pid, fd, e, ts, RESOLVE_REWATCHED);
	}
	e->state = 1;
	e->epfd = ep;
	e->eps |= 1u << ep;
}

static void m_unwatch(int pid, int fd, int ep, __u64 ino, __u64 ts)
{
	struct m_fd *e = m_lookup(pid, fd, ino, ts);

	if (!e) {
		e = &M.fd[pid][fd];
		e->ino = ino;
	} else {
		if (e->state != 1)
			m_watch(pid, fd, ep, ino, ts);
		e->eps &= ~(1u << ep);
		if (e->eps)
			return;
	}
	e->state = 2;
	e->eps = 0;
	e->epfd = ep;
	e->del_ts = ts;
	M.st[pid].watches_ended++;
	M.ended++;
}

static void m_proc(int pid)
{
	if (!M.known[pid]) {
		M.known[pid] = true;
		M.processes++;
		memset(&M.st[pid], 0, sizeof(M.st[pid]));
	}
}

static void m_close(int pid, int fd, __u32 how, __u32 flags, __u64 ino, __u64 ts)
{
	struct m_fd *e = &M.fd[pid][fd];

	if (!M.known[pid] || !e->state)
		return;
	if (e->ino && ino && e->ino != ino) {
		M.st[pid].corrected++;
		m_gone(pid, fd, ts, RESOLVE_CLOSED);
		return;
	}
	if (e->state == 1 && (flags & FDT_CLOSEF_STILL_WATCHED)) {
		M.st[pid].closed_while_watched++;
		m_emit(REPORT_CLOSED_WHILE_WATCHED, pid, fd, e, ts, 0);
		M.rep[M.nr - 1].ino = e->ino ? e->ino : ino;
	}
	m_gone(pid, fd, ts, how == FDT_CLOSE_EXEC ? RESOLVE_EXEC :
			    how == FDT_CLOSE_EXIT ? RESOLVE_EXIT : RESOLVE_CLOSED);
}

static void m_tick(__u64 now)
{
	int pid, fd;

	for (pid = 0; pid < M_PIDS; pid++) {
		for (fd = 0; fd < M_FDS; fd++) {
			struct m_fd *e = &M.fd[pid][fd];

			if (e->state != 2 || now <= e->del_ts || now - e->del_ts <= GRACE)
				continue;
			e->state = 3;
			M.st[pid].leaks++;
			M.st[pid].open_leaks++;
			M.leaks++;
			M.open++;
			/* a leak's time is when it became one */
			m_emit(REPORT_LEAK, pid, fd, e, e->del_ts + GRACE, 0);
		}
	}
}

static int m_rep_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct m_rep));
}

/* the engine's reports since the last clear, against the model's */
static bool m_compare(__u64 step, const struct proc_stats *want_st, __u32 want_pid)
{
	struct m_rep got[M_PIDS * M_FDS + 8];
	size_t i, n = 0;

	for (i = 0; i < T.n; i++) {
		const struct report *r = &T.v[i].r;

		if (r->kind == REPORT_SUMMARY) {
			if (!want_st || r->pid != want_pid)
				return fail("step %llu: unexpected summary for %u",
					    (unsigned long long)step, r->pid);
			if (memcmp(&T.v[i].st, want_st, sizeof(*want_st)))
				return fail("step %llu: summary of %u differs",
					    (unsigned long long)step, r->pid);
			continue;
		}
		memset(&got[n], 0, sizeof(got[n]));
		got[n].kind = r->kind;
		got[n].pid = r->pid;
		got[n].fd = r->fd;
		got[n].epfd = r->epfd;
		got[n].ino = r->file.ino;
		got[n].ts = r->ts_ns;
		if (r->kind == REPORT_LEAK || r->kind == REPORT_LEAK_RESOLVED) {
			got[n].del_ts = r->del_ts_ns;
			got[n].unwatched = r->unwatched_ns;
		}
		got[n].how = r->kind == REPORT_LEAK_RESOLVED ? r->how : 0;
		n++;
	}
	if (n != M.nr)
		return fail("step %llu: %zu reports, model has %zu",
			    (unsigned long long)step, n, M.nr);
	qsort(got, n, sizeof(got[0]), m_rep_cmp);
	qsort(M.rep, M.nr, sizeof(M.rep[0]), m_rep_cmp);
	for (i = 0; i < n; i++)
		if (memcmp(&got[i], &M.rep[i], sizeof(got[i])))
			return fail("step %llu: report %zu: %s pid %u fd %d, model %s pid %u fd %d",
				    (unsigned long long)step, i, kind_name(got[i].kind),
				    got[i].pid, got[i].fd, kind_name(M.rep[i].kind),
				    M.rep[i].pid, M.rep[i].fd);
	clear_reports();
	M.nr = 0;
	return true;
}

static __u64 rng_state = 0x9E3779B97F4A7C15ULL;

static __u32 rnd(__u32 n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (__u32)((rng_state >> 16) % n);
}

static bool test_model(void)
{
	const __u64 steps = quick ? 100000 : 400000;
	__u64 step, ts = 0, next_ino = 1;
	static __u64 cur_ino[M_PIDS][M_FDS];
	int pid, fd;

	memset(&M, 0, sizeof(M));
	memset(cur_ino, 0, sizeof(cur_ino));
	rng_state = 0x9E3779B97F4A7C15ULL;
	for (step = 0; step < steps; step++) {
		/* 20000-step phases: mostly opening, then mostly closing */
		bool opening = (step / 20000) % 2 == 0;
		__u32 op = rnd(100);
		__u64 t;
		__u64 ino;
		struct rec r;
		struct proc_stats st;
		int ep;

		ts += rnd(2 * MS);
		/* up to 3ms early: records from other CPUs */
		t = ts - (ts > 3 * MS ? rnd(3 * MS) : 0);
		pid = rnd(M_PIDS);
		fd = rnd(M_FDS);
		ep = rnd(M_EPS);
		if (!cur_ino[pid][fd] || rnd(50) == 0)
			cur_ino[pid][fd] = next_ino++;
		/* sometimes the probe could not read the file */
		ino = rnd(20) ? cur_ino[pid][fd] : 0;

		if (op < (opening ? 40u : 20u)) {
			r = rec_add(100 + pid, fd, ep, t, ino);
			m_proc(pid);
			m_watch(pid, fd, ep, ino, t);
		} else if (op < 55) {
			r = rec_del(100 + pid, fd, ep, t, ino);
			m_proc(pid);
			m_unwatch(pid, fd, ep, ino, t);
		} else if (op < 58) {
			r = rec_mod(100 + pid, fd, ep, t, ino);
			m_proc(pid);
			m_watch(pid, fd, ep, ino, t);
		} else if (op < (opening ? 70u : 90u)) {
			__u32 how = 1 + rnd(5), flags = rnd(4) == 0 ? FDT_CLOSEF_STILL_WATCHED : 0;

			r = rec_close_flags(100 + pid, fd, how, t, ino, flags);
			m_close(pid, fd, how, flags, ino, t);
			if (rnd(2))
				cur_ino[pid][fd] = 0;
		} else if (op < 91) {
			r = rec_del_err(100 + pid, fd, ep, t, rnd(2) ? EBADF_RET : ENOENT_RET);
			m_proc(pid);
			if (r.ctl.ret == EBADF_RET) {
				struct m_fd e = { .epfd = ep };

				M.st[pid].deregister_failed++;
				m_emit(REPORT_DEREGISTER_FAILED, pid, fd, &e, t, 0);
			} else {
				M.st[pid].del_enoent++;
			}
		} else if (op < 92 && rnd(20) == 0) {
			r = rec_exit(100 + pid, t);
			if (M.known[pid]) {
				for (fd = 0; fd < M_FDS; fd++)
					if (M.fd[pid][fd].state)
						m_gone(pid, fd, t, RESOLVE_EXIT);
				st = M.st[pid];
				M.known[pid] = false;
			}
		} else {
			tick(ts);
			m_tick(ts);
			if (!m_compare(step, NULL, 0))
				return false;
			continue;
		}
		if (!feed_all(&r, 1, __LINE__) ||
		    !m_compare(step, r.hdr.type == FDT_REC_EXIT ? &st : NULL, 100 + pid))
			return false;
	}
	tick(ts + 10 * SEC);
	m_tick(ts + 10 * SEC);
	if (!m_compare(step, NULL, 0))
		return false;
	finish(ts + 10 * SEC);
	for (pid = 0; pid < M_PIDS; pid++) {
		if (M.known[pid] && !expect_stats(100 + pid, M.st[pid], __LINE__))
			return false;
	}
	return EXPECT_TOTALS(.processes = M.processes, .watches_ended = M.ended,
			     .leaks = M.leaks, .open_leaks = M.open) &&
	       ASSERT_TRUE(M.leaks > 100, "the stream leaked often enough to matter");
}

/* ---- how long until EMFILE ---- */

#define MILLI(x)	((long long)((x) * 1000 + 0.5))

/*
 * The rate is leaks found over the time they could have been found in
 * (first seen to now - grace); the time to the soft limit is what is
 * left of it at that rate.
 */
static bool test_forecast_math(void)
{
	const __u64 t0 = 10 * SEC;
	const struct got *g;
	struct fd_forecast f;
	bool ok = true;

	matcher__add_pid(T.m, 100, "srv", t0);
	matcher__add_pid(T.m, 200, "tidy", t0);
	ok &= ASSERT_EQ(matcher__forecast(T.m, 999, t0, &f), -ENOENT, "unknown pid");
	ok &= ASSERT_EQ(matcher__forecast(T.m, 100, t0 + GRACE, &f), 0, "forecast");
	ok &= ASSERT_TRUE(!f.sampled_ns && !f.rate_known && !f.leaking, "nothing known at first");
	/* four fds unwatched at t0 + 1..4 s and never closed: leaks at t0 + 2..5 s */
	for (int i = 0; i < 4; i++)
		if (!FEED(rec_add(100, 10 + i, 3, t0 + 100 * MS, 20 + i),
			  rec_del(100, 10 + i, 3, t0 + (i + 1) * SEC, 20 + i)))
			return false;
	/* pid 200 leaks one fd and closes it later: not heading for its limit */
	if (!FEED(rec_add(200, 10, 3, t0 + 100 * MS, 30), rec_del(200, 10, 3, t0 + SEC, 30)))
		return false;
	tick(t0 + 5 * SEC + 1);
	if (!FEED(rec_close(200, 10, FDT_CLOSE_CLOSE, t0 + 5 * SEC + 2, 30)))
		return false;
	ok &= ASSERT_EQ(T.kinds[REPORT_LEAK], 5, "leaks");
	ok &= ASSERT_EQ(matcher__forecast(T.m, 100, t0 + 5 * SEC, &f), 0, "forecast");
	ok &= ASSERT_TRUE(f.rate_known && !f.sampled_ns && !f.leaking, "rate, no sample yet");
	matcher__fds(T.m, 100, t0 + 5 * SEC, 40, 100, 4096);
	matcher__fds(T.m, 200, t0 + 5 * SEC, 40, 100, 4096);

	/* 4 leaks in 5 s traced, less the grace: 1 leak/s; (100 - 40) / 1 = 60 s */
	matcher__forecast(T.m, 100, t0 + 5 * SEC, &f);
	ok &= ASSERT_EQ(f.sampled_ns, t0 + 5 * SEC, "sampled at");
	ok &= ASSERT_EQ(f.open_fds, 40, "open fds");
	ok &= ASSERT_EQ(f.fd_limit, 100, "soft limit");
	ok &= ASSERT_EQ(f.fd_limit_hard, 4096, "hard limit");
	ok &= ASSERT_EQ(MILLI(f.leak_rate_per_s), 1000, "rate (per 1000 s)");
	ok &= ASSERT_TRUE(f.leaking, "leaking");
	ok &= ASSERT_EQ(MILLI(f.fd_limit_in_s), 60000, "time to the limit (ms)");
	/* 4 leaks in 9 - 1 s: 0.5 leaks/s, 120 s to go */
	matcher__forecast(T.m, 100, t0 + 9 * SEC, &f);
	ok &= ASSERT_EQ(MILLI(f.leak_rate_per_s), 500, "rate later");
	ok &= ASSERT_EQ(MILLI(f.fd_limit_in_s), 120000, "time later");
	/* at or past the limit: no time left */
	matcher__fds(T.m, 100, t0 + 9 * SEC, 101, 100, 4096);
	matcher__forecast(T.m, 100, t0 + 9 * SEC, &f);
	ok &= ASSERT_TRUE(f.leaking, "leaking at the limit");
	ok &= ASSERT_EQ(MILLI(f.fd_limit_in_s), 0, "no time left");
	/* no limit: a rate, no projection */
	matcher__fds(T.m, 100, t0 + 9 * SEC, 40, UINT64_MAX, UINT64_MAX);
	matcher__forecast(T.m, 100, t0 + 9 * SEC, &f);
	ok &= ASSERT_TRUE(f.rate_known && !f.leaking, "unlimited: not leaking toward a limit");
	/* pid 200: its one leak is closed, so a rate but no projection */
	matcher__forecast(T.m, 200, t0 + 9 * SEC, &f);
	ok &= ASSERT_EQ(MILLI(f.leak_rate_per_s), 125, "pid 200 rate");
	ok &= ASSERT_TRUE(!f.leaking, "pid 200 closed its leak");

	/* the summary carries the forecast as of its own time */
	matcher__fds(T.m, 100, t0 + 9 * SEC, 40, 100, 4096);
	finish(t0 + 9 * SEC);
	g = find_report(REPORT_SUMMARY, 100, -1);
	if (!ASSERT_TRUE(g != NULL, "summary"))
		return false;
	ok &= ASSERT_TRUE(g->fc.leaking, "summary leaking");
	ok &= ASSERT_EQ(g->fc.open_fds, 40, "summary open fds");
	ok &= ASSERT_EQ(MILLI(g->fc.leak_rate_per_s), 500, "summary rate");
	ok &= ASSERT_EQ(MILLI(g->fc.fd_limit_in_s), 120000, "summary time");
	/* FD_PRESSURE came only from the sample at the limit */
	ok &= ASSERT_EQ(T.kinds[REPORT_FD_PRESSURE], 1, "one fd_pressure");
	return ok;
}

/* 80% of the soft limit: reported as a sample crosses it, once, again below 75%. */
static bool test_fd_pressure_once(void)
{
	static const __u64 seq[] = { 70, 79, 80, 95, 100, 76, 80, 74, 79, 81 };
	bool ok = true;

	matcher__add_pid(T.m, 100, "srv", 0);
	matcher__add_pid(T.m, 200, "big", 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		matcher__fds(T.m, 100, (i + 1) * SEC, seq[i], 100, 200);
	if (!EXPECT_REPORTS(W_PRESS(100), W_PRESS(100)))
		return false;
	ok &= ASSERT_EQ(T.v[0].r.ts_ns, 3 * SEC, "first crossing at 80 of 100");
	ok &= ASSERT_EQ(T.v[0].fc.open_fds, 80, "open fds");
	ok &= ASSERT_EQ(T.v[0].fc.fd_limit, 100, "limit");
	ok &= ASSERT_STREQ(T.v[0].r.comm, "srv", "comm");
	ok &= ASSERT_TRUE(!T.v[0].fc.leaking, "no leaks: no projection");
	ok &= ASSERT_EQ(T.v[1].r.ts_ns, 10 * SEC, "again after 74");
	ok &= ASSERT_EQ(T.v[1].fc.open_fds, 81, "open fds");

	/* above it at the first sample: at once, whatever the leak count */
	clear_reports();
	matcher__fds(T.m, 200, SEC, 900, 1000, 1000);
	/* a pid the engine does not hold, a limit of none: nothing */
	matcher__fds(T.m, 300, SEC, 900, 1000, 1000);
	matcher__fds(T.m, 100, 11 * SEC, 1 << 20, UINT64_MAX, UINT64_MAX);
	matcher__fds(T.m, 100, 12 * SEC, 99, 0, 0);
	/* a quiet process (a forked child, no epoll yet) gets no report, as no summary */
	if (!FEED(rec_fork(100, 101, 12 * SEC)))
		return false;
	matcher__fds(T.m, 101, 12 * SEC, 99, 100, 100);
	ok &= EXPECT_REPORTS(W_PRESS(200));
	return ok;
}

/* Who the sampler is asked to look at. */
static bool test_fds_due(void)
{
	__u32 pids[4];
	bool ok = true;

	matcher__add_pid(T.m, 100, "a", 0);
	matcher__add_pid(T.m, 200, "b", 0);
	/* new: due at once */
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 0, SEC, pids, 4), 2, "new processes");
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 0, SEC, pids, 1), 2, "the count past max");
	matcher__fds(T.m, 100, 1, 10, 100, 100);
	matcher__fds(T.m, 200, 1, 10, 100, 100);
	/* sampled, nothing unwatched: not again */
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 10 * SEC, SEC, pids, 4), 0, "quiet ones");
	if (!FEED(rec_add(100, 7, 3, 2 * SEC, 11), rec_del(100, 7, 3, 2 * SEC, 11)))
		return false;
	/* an fd unwatched: once its last sample is an interval old */
	ok &= ASSERT_EQ(matcher__fds_due(T.m, SEC, SEC, pids, 4), 0, "too soon");
	ok &= ASSERT_EQ(matcher__fds_due(T.m, SEC + 1, SEC, pids, 4), 1, "unwatched fd");
	ok &= ASSERT_EQ(pids[0], 100, "pid");
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 1, 0, pids, 4), 2, "interval 0: every one");
	/* closed: nothing unwatched any more */
	if (!FEED(rec_close(100, 7, FDT_CLOSE_CLOSE, 2 * SEC, 11)))
		return false;
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 10 * SEC, SEC, pids, 4), 0, "closed");
	/* a quiet child is never asked for */
	if (!FEED(rec_fork(100, 101, 3 * SEC)))
		return false;
	ok &= ASSERT_EQ(matcher__fds_due(T.m, 10 * SEC, SEC, pids, 4), 0, "quiet child");
	return ok;
}

/* Leaks, samples, a crossing, an exit: what replay would feed again. */
static bool forecast_script(void)
{
	for (int i = 0; i < 30; i++)
		if (!FEED(rec_add(100, 10 + i, 3, 100 * MS * i, 100 + i),
			  rec_del(100, 10 + i, 3, 100 * MS * i + 50 * MS, 100 + i)))
			return false;
	for (int s = 1; s <= 4; s++) {
		tick(s * SEC);
		matcher__fds(T.m, 100, s * SEC + 3, 6 + 10 * s, 40, 4096);
	}
	if (!FEED(rec_exit(100, 4500 * MS)))
		return false;
	finish(5 * SEC);
	return true;
}

/* The same calls give the same forecast to the bit: a replay computes what the live run did. */
static bool test_forecast_replay_stable(void)
{
	struct got *first;
	size_t n;
	bool ok = true;

	matcher__add_pid(T.m, 100, "srv", 0);
	if (!forecast_script())
		return false;
	n = T.n;
	first = malloc(n * sizeof(*first));
	if (!ASSERT_TRUE(first != NULL, "malloc"))
		return false;
	memcpy(first, T.v, n * sizeof(*first));
	teardown();
	if (!setup(GRACE)) {
		free(first);
		return false;
	}
	matcher__add_pid(T.m, 100, "srv", 0);
	ok &= forecast_script();
	ok &= ASSERT_EQ(T.n, n, "as many reports");
	ok &= ASSERT_EQ(T.kinds[REPORT_FD_PRESSURE], 1, "one fd_pressure (36 of 40)");
	for (size_t i = 0; ok && i < n; i++) {
		ok &= ASSERT_EQ(T.v[i].r.kind, first[i].r.kind, "kind");
		ok &= ASSERT_EQ(T.v[i].r.ts_ns, first[i].r.ts_ns, "time");
		ok &= ASSERT_EQ(T.v[i].r.fd, first[i].r.fd, "fd");
		ok &= ASSERT_TRUE(!memcmp(&T.v[i].fc, &first[i].fc, sizeof(first[i].fc)),
				  "forecast bit for bit");
	}
	free(first);
	return ok;
}

static const struct unit_test tests[] = {
	UNIT_TEST(pause_resume_within_grace),
	UNIT_TEST(rewatch_after_grace),
	UNIT_TEST(close_within_grace_close),
	UNIT_TEST(close_within_grace_range),
	UNIT_TEST(close_within_grace_dup2),
	UNIT_TEST(close_within_grace_exec),
	UNIT_TEST(close_within_grace_exit),
	UNIT_TEST(close_after_grace_close),
	UNIT_TEST(close_after_grace_range),
	UNIT_TEST(close_after_grace_dup2),
	UNIT_TEST(close_after_grace_exec),
	UNIT_TEST(close_after_grace_exit),
	UNIT_TEST(exit_within_grace),
	UNIT_TEST(exit_with_open_leaks),
	UNIT_TEST(fd_reuse_after_leak),
	UNIT_TEST(fd_reuse_within_grace),
	UNIT_TEST(fd_reuse_unknown_file),
	UNIT_TEST(close_file_mismatch),
	UNIT_TEST(threads_share_fds),
	UNIT_TEST(exec),
	UNIT_TEST(fork_child_separate),
	UNIT_TEST(fork_child_comm),
	UNIT_TEST(pid_reuse_after_exit),
	UNIT_TEST(pid_reuse_missed_exit),
	UNIT_TEST(two_epfds),
	UNIT_TEST(many_epfds),
	UNIT_TEST(del_ebadf),
	UNIT_TEST(del_enoent),
	UNIT_TEST(other_failures_ignored),
	UNIT_TEST(bad_records),
	UNIT_TEST(verify_before_flag),
	UNIT_TEST(verify_batched),
	UNIT_TEST(lost_needs_proof),
	UNIT_TEST(untracked),
	UNIT_TEST(verify_watched),
	UNIT_TEST(epoll_fd_closed),
	UNIT_TEST(evidence_classes),
	UNIT_TEST(exit_resolves_in_fd_order),
	UNIT_TEST(grace_boundary),
	UNIT_TEST(leak_reported_once),
	UNIT_TEST(out_of_order),
	UNIT_TEST(same_del_ts_order),
	UNIT_TEST(mid_flight),
	UNIT_TEST(watch_seed),
	UNIT_TEST(closed_while_watched),
	UNIT_TEST(summary_exit_counts),
	UNIT_TEST(exit_abi4),
	UNIT_TEST(del_sock_both_sizes),
	UNIT_TEST(summary_kernel_counts),
	UNIT_TEST(summary_cww_unknown_fd),
	UNIT_TEST(summary_counts_running),
	UNIT_TEST(summary_exit_epoll_only),
	UNIT_TEST(drop_pid),
	UNIT_TEST(finish_order_and_totals),
	UNIT_TEST(close_after_exit),
	UNIT_TEST(many_processes),
	UNIT_TEST(comm_unterminated),
	UNIT_TEST(new_bad_opts),
	UNIT_TEST(no_callback),
	UNIT_TEST(stats_balance),
	UNIT_TEST(stress),
	UNIT_TEST(model),
	UNIT_TEST(forecast_math),
	UNIT_TEST(fd_pressure_once),
	UNIT_TEST(fds_due),
	UNIT_TEST(forecast_replay_stable),
};

/* ---- benchmark ---- */

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void bench_sink(void *ctx, const struct report *r)
{
	(void)r;
	(*(__u64 *)ctx)++;
}

/*
 * Feeds a prebuilt stream from memory: 256 processes keep 64 watched fds
 * each; every cycle pauses and resumes one, then closes it and watches a
 * new file under the same number.
 */
static int bench(void)
{
	const __u32 nr_pids = 256, nr_fds = 64, laps = 20;
	const size_t nr_cycles = 8 * nr_pids * nr_fds;
	size_t cap = (nr_cycles * 6 + nr_pids * nr_fds) * sizeof(struct fdt_rec_epoll_ctl);
	size_t len = 0, setup_len;
	unsigned char *buf = malloc(cap), *p;
	__u64 reports = 0, ts = 0, fed = 0;
	struct matcher *m;
	double t0, dt;
	size_t c;
	__u32 lap;

	if (!buf) {
		fprintf(stderr, "test_matcher: out of memory\n");
		return 1;
	}
#define PUT(x) do {							\
		struct rec __r = (x);					\
		memcpy(buf + len, &__r, __r.size);			\
		len += __r.size;					\
		ts += 100;						\
	} while (0)
	for (c = 0; c < (size_t)nr_pids * nr_fds; c++)
		PUT(rec_add(1000 + c % nr_pids, 3 + c / nr_pids, 2, ts, 1));
	setup_len = len;
	for (c = 0; c < nr_cycles; c++) {
		__u32 pid = 1000 + c % nr_pids;
		int fd = 3 + (c / nr_pids) % nr_fds;

		PUT(rec_del(pid, fd, 2, ts, 1));
		PUT(rec_add(pid, fd, 2, ts, 1));
		PUT(rec_mod(pid, fd, 2, ts, 1));
		PUT(rec_del(pid, fd, 2, ts, 1));
		PUT(rec_close(pid, fd, FDT_CLOSE_CLOSE, ts, 1));
		PUT(rec_add(pid, fd, 2, ts, 1));
	}
#undef PUT
	m = matcher__new(&(struct matcher_opts){ .grace_ns = SEC, .report = bench_sink,
						 .ctx = &reports });
	if (!m) {
		free(buf);
		return 1;
	}
	for (p = buf; p < buf + setup_len; p += ((const struct fdt_rec_hdr *)p)->size)
		matcher__feed(m, p, ((const struct fdt_rec_hdr *)p)->size);
	t0 = now_sec();
	for (lap = 0; lap < laps; lap++) {
		for (p = buf + setup_len; p < buf + len;) {
			const struct fdt_rec_hdr *h = (const void *)p;

			matcher__feed(m, p, h->size);
			p += h->size;
			if (++fed % 4096 == 0)
				matcher__tick(m, h->ts_ns);
		}
	}
	dt = now_sec() - t0;
	matcher__finish(m, ts);
	printf("bench: %llu records in %.3f s: %.2f M records/s, %u live fds (%llu reports)\n",
	       (unsigned long long)fed, dt, fed / dt / 1e6, nr_pids * nr_fds,
	       (unsigned long long)reports);
	matcher__free(m);
	free(buf);
	return 0;
}

static bool setup_default(void)
{
	return setup(GRACE);
}

int main(int argc, char **argv)
{
	int i, nr_names = 0;

	/* what is not an option names a test to run */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-b"))
			return bench();
		if (!strcmp(argv[i], "-q"))
			quick = true;
		else
			argv[1 + nr_names++] = argv[i];
	}
	return unit_run(tests, sizeof(tests) / sizeof(tests[0]), argv + 1, nr_names,
			setup_default, teardown);
}
