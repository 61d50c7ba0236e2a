// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Unit tests of recordings: the writer, the reader on good, cut-off and
 * bad files, and replay through the engine and output.  No root, no BPF.
 *
 *   test_record                  run every test
 *   test_record NAME...          run the named tests only
 *   test_record --corpus DIR     write the fuzz seed corpus to DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "output.h"
#include "record.h"
#include "replay.h"
#include "unit.h"

#define MS		1000000ULL
#define SEC		(1000 * MS)
#define T0		(1000 * SEC)
#define PID		4242

static char dir[] = "/tmp/test_record.XXXXXX";

static const char *path_in(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

/* ---- a sample recording, built in memory ---- */

struct buf {
	unsigned char *data;
	size_t len;
	size_t ends[64];	/* where each entry ends */
	size_t nr;
};

static void put(struct buf *b, const void *p, size_t n)
{
	b->data = realloc(b->data, b->len + n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_entry(struct buf *b, const void *rec)
{
	struct fdt_rec_hdr h;

	memcpy(&h, rec, sizeof(h));
	put(b, rec, h.size);
	b->ends[b->nr++] = b->len;
}

static void header(struct record_header *h, __u64 grace)
{
	record_header__init(h);
	h->grace_ns = grace;
	h->max_checks = 4096;
	h->realtime_offset_ns = 1795791845000000000LL - (__s64)T0;
	strcpy(h->fdtrace_version, "0.0-test");
	strcpy(h->fdtrace_commit, "abcdef");
	strcpy(h->options, "-j -p 4242");
}

static void hdr(struct fdt_rec_hdr *h, __u32 type, size_t size, __u32 pid, __u64 ts)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->pid = pid;
	h->tid = pid;
	strcpy(h->comm, "srv");
}

static void ctl(struct buf *b, __u32 op, int fd, __u64 ts)
{
	struct fdt_rec_epoll_ctl r = {};

	hdr(&r.hdr, FDT_REC_EPOLL_CTL, sizeof(r), PID, ts);
	r.op = op;
	r.fd = fd;
	r.epfd = 3;
	r.events = 1;
	r.file = (struct fdt_file){ .ino = 1000 + fd, .dev = 8, .ftype = FDT_FT_SOCKET };
	put_entry(b, &r);
}

static void closefd(struct buf *b, int fd, __u64 ts)
{
	struct fdt_rec_close r = {};

	hdr(&r.hdr, FDT_REC_CLOSE, sizeof(r), PID, ts);
	r.fd = fd;
	r.how = FDT_CLOSE_CLOSE;
	r.file = (struct fdt_file){ .ino = 1000 + fd, .dev = 8, .ftype = FDT_FT_SOCKET };
	put_entry(b, &r);
}

static void simple(struct buf *b, __u32 type, __u32 pid, __u64 ts)
{
	struct record_tick r;

	hdr(&r.hdr, type, sizeof(r), pid, ts);
	put_entry(b, &r);
}

static void verify(struct buf *b, int fd, __u32 verdict, __u64 ts)
{
	struct record_verify r = {};

	hdr(&r.hdr, RECORD_VERIFY, sizeof(r), PID, ts);
	r.fd = fd;
	r.verdict = verdict;
	put_entry(b, &r);
}

static void start(struct buf *b)
{
	struct {
		struct record_start s;
		struct record_start_pid p[1];
	} r = {};

	hdr(&r.s.hdr, RECORD_START, sizeof(r.s) + sizeof(r.p), 0, T0);
	r.s.nr_pids = 1;
	r.p[0].pid = PID;
	strcpy(r.p[0].comm, "srv");
	put_entry(b, &r);
}

static void proc(struct buf *b)
{
	struct {
		struct record_proc p;
		char s[48];
	} r = {};
	static const char strings[] = "/usr/bin/srv\0srv\0-x\0/system.slice/srv\0";

	hdr(&r.p.hdr, RECORD_PROC, sizeof(r.p) + sizeof(strings) - 1, PID, T0);
	r.p.nofile_soft = 1024;
	r.p.nofile_hard = 4096;
	r.p.exe_len = 13;
	r.p.cmdline_len = 7;
	r.p.cgroup_len = 18;
	memcpy(r.s, strings, sizeof(strings) - 1);
	put_entry(b, &r);
}

/*
 * One process, grace 1 s: fd 7 leaks (checked at the tick, closed
 * later), fd 8 is closed in time, fd 9 is closed 1.5 s after its watch
 * ended, between two ticks: a leak only under a shorter grace, which
 * the live run never checked.
 */
static void sample(struct buf *b, bool finish)
{
	struct record_header h;
	struct record_lost l = {};
	struct record_add_pid a = {};
	struct record_warn w = {};

	memset(b, 0, sizeof(*b));
	header(&h, SEC);
	put(b, &h, sizeof(h));
	b->ends[b->nr++] = b->len;
	hdr(&a.hdr, RECORD_ADD_PID, sizeof(a), PID, T0);
	put_entry(b, &a);
	proc(b);
	start(b);
	ctl(b, FDT_EPOLL_CTL_ADD, 7, T0 + 10 * MS);
	ctl(b, FDT_EPOLL_CTL_ADD, 8, T0 + 20 * MS);
	ctl(b, FDT_EPOLL_CTL_ADD, 9, T0 + 30 * MS);
	ctl(b, FDT_EPOLL_CTL_DEL, 7, T0 + 100 * MS);
	ctl(b, FDT_EPOLL_CTL_DEL, 8, T0 + 200 * MS);
	closefd(b, 8, T0 + 300 * MS);
	ctl(b, FDT_EPOLL_CTL_DEL, 9, T0 + 1000 * MS);
	simple(b, RECORD_TICK, 0, T0 + 1500 * MS);
	verify(b, 7, VERDICT_SAME, T0 + 1500 * MS);
	hdr(&l.hdr, RECORD_LOST, sizeof(l), 0, T0 + 1600 * MS);
	l.lost = 3;
	put_entry(b, &l);
	hdr(&w.hdr, RECORD_WARN, sizeof(w), 0, T0 + 1600 * MS);
	strcpy(w.msg, "a recorded warning");
	put_entry(b, &w);
	closefd(b, 7, T0 + 2000 * MS);
	closefd(b, 9, T0 + 2500 * MS);
	if (!finish)
		return;
	simple(b, RECORD_TICK, 0, T0 + 3000 * MS);
	hdr(&l.hdr, RECORD_SET_PROC_LOST, sizeof(l), PID, T0 + 3000 * MS);
	l.lost = 0;
	put_entry(b, &l);
	simple(b, RECORD_FINISH, 0, T0 + 3000 * MS);
}

static bool write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok;

	if (fd < 0)
		return fail("create %s: %s", path, strerror(errno));
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok ? true : fail("write %s", path);
}

/* ---- writer ---- */

/* The sample, through the writer: the same bytes as built by hand. */
static bool test_write_read_back(void)
{
	const char *p = path_in("rt.fdrec");
	struct record_reader *rr;
	struct record_header h;
	struct recorder *r;
	struct buf b;
	const void *rec;
	size_t size, off, i = 1;
	char err[256];
	bool ok = true;
	int n;

	sample(&b, true);
	memcpy(&h, b.data, sizeof(h));
	unlink(p);
	r = recorder__open(p, false, &h);
	if (!ASSERT_TRUE(r, "recorder__open"))
		return false;
	for (off = sizeof(h); off < b.len; off += size) {
		struct fdt_rec_hdr rh;

		memcpy(&rh, b.data + off, sizeof(rh));
		size = rh.size;
		ok &= ASSERT_EQ(recorder__write(r, b.data + off, size), 0, "write");
	}
	ok &= ASSERT_EQ(recorder__close(r), 0, "close");

	rr = record_reader__open(p, err, sizeof(err));
	if (!ASSERT_TRUE(rr, err))
		return false;
	ok &= ASSERT_TRUE(!memcmp(record_reader__header(rr), &h, sizeof(h)), "header bytes");
	off = sizeof(h);
	while (ok && (n = record_reader__next(rr, &rec, &size)) == 1) {
		ok &= ASSERT_EQ(off + size, b.ends[i], "entry end");
		ok &= ASSERT_TRUE(!memcmp(rec, b.data + off, size), "entry bytes");
		off += size;
		i++;
	}
	ok &= ASSERT_EQ(n, 0, "clean end");
	ok &= ASSERT_EQ(i, b.nr, "entries");
	ok &= ASSERT_TRUE(!record_reader__truncated(rr), "not truncated");
	record_reader__close(rr);
	free(b.data);
	return ok;
}

/* The builders write what the reader accepts, and what they were given. */
static bool test_builders(void)
{
	const char *p = path_in("builders.fdrec");
	static const char cmdline[] = "srv\0--port\0" "8080";
	const __u32 pids[2] = { 10, 11 };
	const char *comms[2] = { "a", NULL };
	struct record_proc_info pi = {
		.pid = 10, .comm = "a", .seen_ns = T0, .nofile_soft = 1024,
		.exe = "/bin/a", .cmdline = cmdline, .cmdline_len = sizeof(cmdline),
	};
	struct record_header h;
	struct record_reader *rr;
	struct record_proc_view v;
	struct recorder *r;
	const void *rec;
	size_t size;
	char err[256];
	int n, count = 0;
	bool ok = true;

	header(&h, SEC);
	unlink(p);
	r = recorder__open(p, false, &h);
	if (!ASSERT_TRUE(r, "recorder__open"))
		return false;
	ok &= ASSERT_EQ(recorder__start(r, T0, pids, comms, 2, "/usr/bin/a", 10), 0, "start");
	ok &= ASSERT_EQ(recorder__add_pid(r, T0, 10, "a", 0), 0, "add_pid");
	ok &= ASSERT_EQ(recorder__proc(r, &pi), 0, "proc");
	ok &= ASSERT_EQ(recorder__tick(r, T0 + 1), 0, "tick");
	ok &= ASSERT_EQ(recorder__verify(r, T0 + 1, 10, 5, VERDICT_GONE, 2, NULL, NULL), 0, "verify");
	ok &= ASSERT_EQ(recorder__lost(r, T0 + 2, 7), 0, "lost");
	ok &= ASSERT_EQ(recorder__proc_lost(r, T0 + 2, 10, 2), 0, "proc_lost");
	ok &= ASSERT_EQ(recorder__warn(r, T0 + 2, "warned"), 0, "warn");
	ok &= ASSERT_EQ(recorder__fds(r, T0 + 2, 10, 57, 1024, 4096), 0, "fds");
	ok &= ASSERT_EQ(recorder__drop(r, T0 + 3, 10), 0, "drop");
	ok &= ASSERT_EQ(recorder__finish(r, T0 + 4), 0, "finish");
	/* a record whose size disagrees with its header is refused */
	ok &= ASSERT_EQ(recorder__write(r, &h, 8), -EINVAL, "short record");
	ok &= ASSERT_EQ(recorder__close(r), 0, "close");
	if (!ok)
		return false;

	rr = record_reader__open(p, err, sizeof(err));
	if (!ASSERT_TRUE(rr, err))
		return false;
	while ((n = record_reader__next(rr, &rec, &size)) == 1) {
		struct fdt_rec_hdr rh;

		memcpy(&rh, rec, sizeof(rh));
		count++;
		if (rh.type == RECORD_PROC) {
			ok &= ASSERT_EQ(record_proc__parse(rec, size, &v), 0, "proc parse");
			ok &= ASSERT_STREQ(v.exe, "/bin/a", "exe");
			ok &= ASSERT_EQ(v.cmdline_len, sizeof(cmdline), "cmdline length");
			ok &= ASSERT_TRUE(!memcmp(v.cmdline, cmdline, sizeof(cmdline)), "cmdline");
			ok &= ASSERT_STREQ(v.cgroup, "", "cgroup");
		}
		if (rh.type == RECORD_VERIFY) {
			struct record_verify rv;

			memcpy(&rv, rec, sizeof(rv));
			ok &= ASSERT_EQ(rv.fd, 5, "verify fd");
			ok &= ASSERT_EQ(rv.verdict, VERDICT_GONE, "verdict");
			ok &= ASSERT_EQ(rv.lost, 2, "verify lost");
		}
		if (rh.type == RECORD_FDS) {
			struct record_fds rf;

			memcpy(&rf, rec, sizeof(rf));
			ok &= ASSERT_EQ(rf.hdr.pid, 10, "fds pid");
			ok &= ASSERT_EQ(rf.open_fds, 57, "open fds");
			ok &= ASSERT_EQ(rf.nofile_soft, 1024, "soft");
			ok &= ASSERT_EQ(rf.nofile_hard, 4096, "hard");
		}
	}
	ok &= ASSERT_EQ(n, 0, "clean end");
	ok &= ASSERT_EQ(count, 11, "records");
	record_reader__close(rr);
	return ok;
}

static bool test_mode_0600(void)
{
	const char *p = path_in("mode.fdrec");
	struct record_header h;
	struct recorder *r;
	struct stat st;
	mode_t old = umask(0);
	bool ok;

	header(&h, SEC);
	unlink(p);
	r = recorder__open(p, false, &h);
	umask(old);
	if (!ASSERT_TRUE(r, "recorder__open"))
		return false;
	recorder__close(r);
	if (!ASSERT_EQ(stat(p, &st), 0, "stat"))
		return false;
	ok = ASSERT_EQ(st.st_mode & 07777, 0600, "mode");
	ok &= ASSERT_EQ(st.st_size, sizeof(h), "header written at open");
	return ok;
}

static bool test_refuses_existing(void)
{
	const char *p = path_in("exists.fdrec");
	struct record_header h;
	struct recorder *r;
	struct stat st;
	bool ok;

	header(&h, SEC);
	if (!write_file(p, "precious", 8))
		return false;
	r = recorder__open(p, false, &h);
	ok = ASSERT_TRUE(!r, "opened an existing file");
	ok &= ASSERT_EQ(errno, EEXIST, "errno");
	ok &= ASSERT_TRUE(!stat(p, &st) && st.st_size == 8, "file untouched");
	r = recorder__open(p, true, &h);
	ok &= ASSERT_TRUE(r, "force replaces a regular file");
	recorder__close(r);
	ok &= ASSERT_TRUE(!stat(p, &st) && st.st_size == sizeof(h), "replaced");
	return ok;
}

static bool test_refuses_symlink(void)
{
	const char *target = path_in("target"), *link = path_in("link.fdrec");
	const char *dangling = path_in("dangling.fdrec");
	struct record_header h;
	struct recorder *r;
	struct stat st;
	bool ok;

	header(&h, SEC);
	if (!write_file(target, "precious", 8))
		return false;
	unlink(link);
	unlink(dangling);
	if (symlink(target, link) || symlink(path_in("nowhere"), dangling))
		return fail("symlink: %s", strerror(errno));
	r = recorder__open(link, false, &h);
	ok = ASSERT_TRUE(!r, "opened through a symlink");
	r = recorder__open(link, true, &h);
	ok &= ASSERT_TRUE(!r, "opened through a symlink with force");
	ok &= ASSERT_EQ(errno, ELOOP, "errno");
	ok &= ASSERT_TRUE(!stat(target, &st) && st.st_size == 8, "target untouched");
	ok &= ASSERT_TRUE(!lstat(link, &st) && S_ISLNK(st.st_mode), "link kept");
	r = recorder__open(dangling, true, &h);
	ok &= ASSERT_TRUE(!r, "created through a dangling symlink");
	ok &= ASSERT_TRUE(stat(path_in("nowhere"), &st) && errno == ENOENT, "nothing created");
	return ok;
}

/* --force replaces a regular file only: a FIFO or a directory stays. */
static bool test_force_not_regular(void)
{
	const char *fifo = path_in("fifo.fdrec"), *d = path_in("dir.fdrec");
	struct record_header h;
	struct stat st;
	bool ok;

	header(&h, SEC);
	unlink(fifo);
	rmdir(d);
	if (mkfifo(fifo, 0600) || mkdir(d, 0700))
		return fail("mkfifo/mkdir: %s", strerror(errno));
	ok = ASSERT_TRUE(!recorder__open(fifo, true, &h), "replaced a FIFO");
	ok &= ASSERT_TRUE(!lstat(fifo, &st) && S_ISFIFO(st.st_mode), "FIFO kept");
	ok &= ASSERT_TRUE(!recorder__open(d, true, &h), "replaced a directory");
	ok &= ASSERT_TRUE(!lstat(d, &st) && S_ISDIR(st.st_mode), "directory kept");
	return ok;
}

/* ---- cut-off recordings ---- */

/*
 * Every prefix of a recording: shorter than the header, an error; else
 * every entry that is whole, then the end, truncated unless the cut is
 * between two entries.  Replaying it never fails.
 */
static bool test_truncated_every_offset(void)
{
	const char *p = path_in("cut.fdrec");
	FILE *null = fopen("/dev/null", "w");
	struct output_opts oo = { .format = OUTPUT_JSON, .out = null, .err = null };
	struct output *out = output__new(&oo);
	struct buf b;
	bool ok = true;

	sample(&b, true);
	for (size_t len = 0; len <= b.len && ok; len++) {
		struct record_reader *rr;
		const void *rec;
		size_t size, whole = 0, got = 0;
		char err[256];
		int n;

		if (!write_file(p, b.data, len))
			return false;
		rr = record_reader__open(p, err, sizeof(err));
		if (len < sizeof(struct record_header)) {
			ok &= ASSERT_TRUE(!rr, "a cut header opened");
			/* a prefix of the magic is still the magic */
			ok &= ASSERT_TRUE(strstr(err, len ? "truncated header" : "empty"), err);
			continue;
		}
		if (!ASSERT_TRUE(rr, err))
			break;
		for (size_t i = 1; i < b.nr; i++)
			if (b.ends[i] <= len)
				whole++;
		while ((n = record_reader__next(rr, &rec, &size)) == 1)
			got++;
		ok &= ASSERT_EQ(n, 0, "end, not an error");
		ok &= ASSERT_EQ(got, whole, "whole entries read");
		bool boundary = false;

		for (size_t i = 0; i < b.nr; i++)
			boundary |= b.ends[i] == len;
		ok &= ASSERT_EQ(record_reader__truncated(rr), !boundary, "truncated flag");
		record_reader__close(rr);
		ok &= ASSERT_EQ(replay__run(p, NULL, out), 0, "replay of a cut recording");
		if (!ok)
			printf("  at length %zu of %zu\n", len, b.len);
	}
	output__free(out);
	fclose(null);
	free(b.data);
	return ok;
}

/* ---- bad files ---- */

/*
 * The sample with one change at an entry (index into b.ends: the entry
 * starting there), opened and read to the end: the error and its reason.
 */
static bool expect_bad(const struct buf *b, int want_err, const char *want_msg)
{
	const char *p = path_in("bad.fdrec");
	struct record_reader *rr;
	const void *rec;
	size_t size;
	char err[256] = "";
	int n = 0;
	bool ok;

	if (!write_file(p, b->data, b->len))
		return false;
	rr = record_reader__open(p, err, sizeof(err));
	if (rr) {
		while ((n = record_reader__next(rr, &rec, &size)) == 1)
			;
		snprintf(err, sizeof(err), "%s", record_reader__error(rr) ?: "");
		/* an error sticks */
		ok = ASSERT_EQ(record_reader__next(rr, &rec, &size), n, "error repeats");
		record_reader__close(rr);
	} else {
		n = -errno;
		ok = true;
	}
	ok &= ASSERT_EQ(n, want_err, "error");
	ok &= ASSERT_TRUE(strstr(err, want_msg), err);
	ok &= ASSERT_TRUE(!strchr(err, '\n'), "one line");
	return ok;
}

/* Apply fn to a fresh sample and expect the error. */
#define BAD_CASE(name, err, msg, body)					\
static bool test_bad_##name(void)					\
{									\
	struct buf b;							\
	struct record_header *h __attribute__((unused));		\
	bool ok;							\
									\
	sample(&b, true);						\
	h = (struct record_header *)b.data;				\
	body;								\
	ok = expect_bad(&b, err, msg);					\
	free(b.data);							\
	return ok;							\
}

/* the entry at index i of the sample, as a header */
#define ENTRY(i) ((struct fdt_rec_hdr *)(b.data + b.ends[(i) - 1]))
/* index of the first entry of type t */
static size_t find_type(const struct buf *b, __u32 t)
{
	for (size_t i = 1; i < b->nr; i++) {
		struct fdt_rec_hdr h;

		memcpy(&h, b->data + b->ends[i - 1], sizeof(h));
		if (h.type == t)
			return i;
	}
	return 0;
}

BAD_CASE(empty, -EBADMSG, "empty file", b.len = 0)
BAD_CASE(magic, -EBADMSG, "bad magic", memcpy(b.data, "GIF89a..", 8))
BAD_CASE(header_cut, -EBADMSG, "truncated header", b.len = 100)
BAD_CASE(newer_version, -EPROTONOSUPPORT, "newer", h->version = RECORD_VERSION + 1)
BAD_CASE(byte_order, -EPROTONOSUPPORT, "byte order",
	 h->byte_order = __builtin_bswap32(RECORD_BYTE_ORDER))
BAD_CASE(bom_garbage, -EBADMSG, "byte order mark", h->byte_order = 7)
BAD_CASE(newer_abi, -EPROTONOSUPPORT, "record ABI", h->abi_version = FDT_ABI_VERSION + 1)
BAD_CASE(header_size, -EBADMSG, "corrupt header", h->hdr_size = 12)
BAD_CASE(unterminated_host, -EBADMSG, "unterminated",
	 memset(h->hostname, 'A', sizeof(h->hostname)))
BAD_CASE(size_zero, -EBADMSG, "smaller than its header", ENTRY(1)->size = 0)
BAD_CASE(size_small, -EBADMSG, "smaller than its header", ENTRY(1)->size = 20)
BAD_CASE(size_huge, -EBADMSG, "over the", ENTRY(1)->size = 1U << 30)
BAD_CASE(unknown_type, -EBADMSG, "unknown record type 50", ENTRY(1)->type = 50)
BAD_CASE(short_for_type, -EBADMSG, "want at least",
	 { size_t i = find_type(&b, FDT_REC_EPOLL_CTL); ENTRY(i)->size = 40;
	   /* the stream stays framed: the rest of the entry becomes the next */ })
BAD_CASE(long_tick, -EBADMSG, "want 40", ENTRY(find_type(&b, RECORD_TICK))->size = 48)
/* a tick's 40 bytes typed as a fd sample: 64 are wanted */
BAD_CASE(short_fds, -EBADMSG, "want 64", ENTRY(find_type(&b, RECORD_TICK))->type = RECORD_FDS)
BAD_CASE(verdict, -EBADMSG, "unknown verdict",
	 ((struct record_verify *)ENTRY(find_type(&b, RECORD_VERIFY)))->verdict = 9)
BAD_CASE(start_count, -EBADMSG, "targets",
	 ((struct record_start *)ENTRY(find_type(&b, RECORD_START)))->nr_pids = 0xffffffff)
BAD_CASE(start_command, -EBADMSG, "unterminated command",
	 memset(((struct record_start *)ENTRY(find_type(&b, RECORD_START)))->command, 'c',
		RECORD_COMMAND_LEN))
BAD_CASE(warn_nul, -EBADMSG, "unterminated warning",
	 memset(((struct record_warn *)ENTRY(find_type(&b, RECORD_WARN)))->msg, 'w',
		RECORD_WARN_LEN))
BAD_CASE(proc_len, -EBADMSG, "malformed process",
	 ((struct record_proc *)ENTRY(find_type(&b, RECORD_PROC)))->exe_len = 5000)
BAD_CASE(proc_nul, -EBADMSG, "malformed process",
	 ((struct record_proc *)ENTRY(find_type(&b, RECORD_PROC)))->strings[12] = 'x')
BAD_CASE(add_flags, -EBADMSG, "unknown flags",
	 ((struct record_add_pid *)ENTRY(find_type(&b, RECORD_ADD_PID)))->flags = 0x80)

static bool test_bad_random(void)
{
	struct buf b = {};
	bool ok;

	srandom(8);
	b.data = malloc(4096);
	for (b.len = 0; b.len < 4096; b.len++)
		b.data[b.len] = random();
	ok = expect_bad(&b, -EBADMSG, "bad magic");
	free(b.data);
	return ok;
}

/* Random bytes after a good header: ends one way or another, quickly. */
static bool test_bad_random_entries(void)
{
	const char *p = path_in("rand.fdrec");
	FILE *null = fopen("/dev/null", "w");
	struct output_opts oo = { .format = OUTPUT_TEXT, .out = null, .err = null };
	struct output *out = output__new(&oo);
	bool ok = true;

	srandom(88);
	for (int round = 0; round < 200 && ok; round++) {
		struct buf b;
		size_t n = sizeof(struct record_header) + random() % 2048;
		int st;

		sample(&b, false);
		b.data = realloc(b.data, n);
		for (size_t i = sizeof(struct record_header); i < n; i++)
			b.data[i] = random() % 4 ? random() : random() % 80;
		if (!write_file(p, b.data, n))
			return false;
		st = replay__run(p, NULL, out);
		ok &= ASSERT_TRUE(st == 0 || st == 2, "exit status");
		free(b.data);
	}
	output__free(out);
	fclose(null);
	return ok;
}

static bool test_bad_directory(void)
{
	char err[256];
	bool ok;

	ok = ASSERT_TRUE(!record_reader__open(dir, err, sizeof(err)), "opened a directory");
	ok &= ASSERT_EQ(errno, EISDIR, "errno");
	ok &= ASSERT_TRUE(strstr(err, "directory"), err);
	return ok;
}

static bool test_bad_fifo(void)
{
	const char *p = path_in("in.fifo");
	char err[256];
	bool ok;

	unlink(p);
	if (mkfifo(p, 0600))
		return fail("mkfifo: %s", strerror(errno));
	alarm(10);	/* a hang is a failure, not a stuck test run */
	ok = ASSERT_TRUE(!record_reader__open(p, err, sizeof(err)), "opened a FIFO");
	alarm(0);
	ok &= ASSERT_EQ(errno, EINVAL, "errno");
	ok &= ASSERT_TRUE(strstr(err, "not a regular file"), err);
	return ok;
}

static bool test_bad_missing(void)
{
	char err[256];
	bool ok;

	ok = ASSERT_TRUE(!record_reader__open(path_in("none"), err, sizeof(err)), "opened");
	ok &= ASSERT_EQ(errno, ENOENT, "errno");
	ok &= ASSERT_TRUE(strstr(err, "cannot open"), err);
	return ok;
}

/* ---- replay ---- */

struct cap {
	char *out_buf, *err_buf;
	size_t out_len, err_len;
	FILE *out, *err;
	struct output *o;
};

static bool cap_open(struct cap *c, enum output_format fmt)
{
	struct output_opts opts = { .format = fmt };

	memset(c, 0, sizeof(*c));
	c->out = open_memstream(&c->out_buf, &c->out_len);
	c->err = open_memstream(&c->err_buf, &c->err_len);
	opts.out = c->out;
	opts.err = c->err;
	c->o = output__new(&opts);
	return c->o ? true : fail("output__new");
}

static void cap_close(struct cap *c)
{
	output__free(c->o);
	fclose(c->out);
	fclose(c->err);
	free(c->out_buf);
	free(c->err_buf);
}

static int count(const char *s, const char *what)
{
	int n = 0;

	while (s && (s = strstr(s, what))) {
		n++;
		s++;
	}
	return n;
}

/* Replay a buffer; status, and the output in c (flushed). */
static int replay_buf(const struct buf *b, __u64 grace, struct cap *c)
{
	struct replay_opts o = { .grace_ns = grace, .grace_set = grace != 0 };
	const char *p = path_in("replay.fdrec");
	int st;

	if (!write_file(p, b->data, b->len) || !cap_open(c, OUTPUT_JSON))
		return -1;
	st = replay__run(p, &o, c->o);
	fflush(c->out);
	fflush(c->err);
	return st;
}

static bool test_replay_same_grace(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	sample(&b, true);
	ok = ASSERT_EQ(replay_buf(&b, 0, &c), 0, "status");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"start\""), 1, "start");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"leak\""), 1, "leaks");
	ok &= ASSERT_EQ(count(c.out_buf, "\"fd\":7,"), 2, "fd 7: leak and resolved");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"leak_resolved\""), 1, "resolved");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"lost\""), 1, "lost");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"summary\""), 1, "summary");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"totals\""), 1, "totals");
	ok &= ASSERT_EQ(count(c.err_buf, "a recorded warning"), 1, "recorded warning");
	ok &= ASSERT_EQ(count(c.out_buf, "\"unconfirmed\":true"), 0, "nothing unconfirmed");
	ok &= ASSERT_EQ(count(c.err_buf, "truncated"), 0, "not truncated");
	/* the leak comes before the lost event, as in the recording */
	ok &= ASSERT_TRUE(strstr(c.out_buf, "\"event\":\"leak\"") <
			  strstr(c.out_buf, "\"event\":\"lost\""), "order");
	if (!ok)
		printf("  out:\n%s  err:\n%s", c.out_buf, c.err_buf);
	cap_close(&c);
	free(b.data);
	return ok;
}

/* Grace 300 ms: fd 9 becomes a leak the live run never checked. */
static bool test_replay_other_grace(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	sample(&b, true);
	ok = ASSERT_EQ(replay_buf(&b, 300 * MS, &c), 0, "status");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"leak\""), 2, "leaks");
	ok &= ASSERT_EQ(count(c.out_buf, "\"fd\":9,"), 2, "fd 9: leak and resolved");
	ok &= ASSERT_EQ(count(c.out_buf, "\"unconfirmed\":true"), 1, "one unconfirmed");
	ok &= ASSERT_TRUE(strstr(c.out_buf, "\"fd\":9,") &&
			  strstr(strstr(c.out_buf, "\"fd\":9,"), "\"unconfirmed\":true"),
			  "fd 9 unconfirmed");
	ok &= ASSERT_EQ(count(c.err_buf, "deciding with grace 0.300 s, recorded with 1.000 s"), 1,
			"grace warning");
	if (!ok)
		printf("  out:\n%s  err:\n%s", c.out_buf, c.err_buf);
	cap_close(&c);
	free(b.data);
	return ok;
}

/* Cut after fd 9's close: findings up to there, a warning, status 0. */
static bool test_replay_truncated(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	sample(&b, false);
	b.len -= 5;	/* into the last entry */
	ok = ASSERT_EQ(replay_buf(&b, 0, &c), 0, "status");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"leak\""), 1, "leak");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"totals\""), 1, "totals");
	ok &= ASSERT_EQ(count(c.err_buf, "recording is truncated (a partial record"), 1,
			"truncation warning");
	cap_close(&c);
	free(b.data);
	return ok;
}

/* A bad entry after good ones: status 2 and one error line. */
static bool test_replay_bad(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	sample(&b, true);
	ENTRY(find_type(&b, RECORD_WARN))->type = 99;
	ok = ASSERT_EQ(replay_buf(&b, 0, &c), 2, "status");
	ok &= ASSERT_EQ(count(c.err_buf, "\"event\":\"error\""), 1, "one error");
	ok &= ASSERT_EQ(count(c.err_buf, "unknown record type 99"), 1, "reason");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"totals\""), 0, "no totals");
	cap_close(&c);
	free(b.data);
	return ok;
}

/* Structure the reader cannot see: a check no tick asked for, records after the end. */
static bool test_replay_out_of_place(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	sample(&b, true);
	simple(&b, RECORD_DROP, PID, T0 + 4 * SEC);
	ok = ASSERT_EQ(replay_buf(&b, 0, &c), 2, "after finish");
	ok &= ASSERT_EQ(count(c.err_buf, "after the end of tracing"), 1, "reason");
	cap_close(&c);
	free(b.data);

	sample(&b, false);
	verify(&b, 7, VERDICT_SAME, T0 + 2 * SEC);
	ok &= ASSERT_EQ(replay_buf(&b, 0, &c), 2, "stray check");
	ok &= ASSERT_EQ(count(c.err_buf, "no tick asked for"), 1, "reason");
	cap_close(&c);
	free(b.data);
	return ok;
}

/*
 * Samples of open fds replay into the engine: the FD_PRESSURE report
 * where the live run had it, and the summary's forecast.  fd 7 leaks at
 * 1.1 s; at the end, 1 leak in 3 s traced less the 1 s grace is 0.5
 * leaks/s, and 95 of 100 fds leaves 10 s.
 */
static void fds_sample(struct buf *out)
{
	struct record_header h;
	struct record_add_pid a = {};
	struct record_fds f = {};
	struct buf b;

	memset(&b, 0, sizeof(b));
	header(&h, SEC);
	put(&b, &h, sizeof(h));
	b.ends[b.nr++] = b.len;
	hdr(&a.hdr, RECORD_ADD_PID, sizeof(a), PID, T0);
	put_entry(&b, &a);
	start(&b);
	f.nofile_soft = 100;
	f.nofile_hard = 4096;
	hdr(&f.hdr, RECORD_FDS, sizeof(f), PID, T0 + 10 * MS);
	f.open_fds = 10;
	put_entry(&b, &f);
	ctl(&b, FDT_EPOLL_CTL_ADD, 7, T0 + 20 * MS);
	ctl(&b, FDT_EPOLL_CTL_DEL, 7, T0 + 100 * MS);
	simple(&b, RECORD_TICK, 0, T0 + 1500 * MS);
	verify(&b, 7, VERDICT_SAME, T0 + 1500 * MS);
	hdr(&f.hdr, RECORD_FDS, sizeof(f), PID, T0 + 1600 * MS);
	f.open_fds = 90;
	put_entry(&b, &f);
	hdr(&f.hdr, RECORD_FDS, sizeof(f), PID, T0 + 2600 * MS);
	f.open_fds = 95;
	put_entry(&b, &f);
	simple(&b, RECORD_TICK, 0, T0 + 3000 * MS);
	simple(&b, RECORD_FINISH, 0, T0 + 3000 * MS);
	*out = b;
}

static bool test_replay_fds(void)
{
	struct buf b;
	struct cap c;
	bool ok;

	fds_sample(&b);
	ok = ASSERT_EQ(replay_buf(&b, 0, &c), 0, "status");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"fd_pressure\""), 1, "one fd_pressure");
	ok &= ASSERT_EQ(count(c.out_buf, "\"event\":\"fd_pressure\",\"time\":\"2026-11-27T"), 1,
			"fd_pressure time");
	ok &= ASSERT_EQ(count(c.out_buf, "\"open_fds\":90,\"fd_limit\":100,"
				 "\"leak_rate_per_s\":1.666667,\"fd_limit_in_s\":6.000,\"threshold_pct\":80}"), 1,
			"fd_pressure at 90 of 100: 1 leak in 0.6 s, 10 fds left");
	ok &= ASSERT_EQ(count(c.out_buf, "\"open_fds\":95,\"fd_limit\":100,"
				 "\"leak_rate_per_s\":0.500000,\"fd_limit_in_s\":10.000,"), 1,
			"summary forecast");
	ok &= ASSERT_TRUE(strstr(c.out_buf, "\"event\":\"start\"") <
			  strstr(c.out_buf, "\"event\":\"fd_pressure\""), "after the start");
	if (!ok)
		printf("  out:\n%s  err:\n%s", c.out_buf, c.err_buf);
	cap_close(&c);
	free(b.data);
	return ok;
}

static const struct unit_test tests[] = {
	UNIT_TEST(write_read_back),
	UNIT_TEST(builders),
	UNIT_TEST(mode_0600),
	UNIT_TEST(refuses_existing),
	UNIT_TEST(refuses_symlink),
	UNIT_TEST(force_not_regular),
	UNIT_TEST(truncated_every_offset),
	UNIT_TEST(bad_empty),
	UNIT_TEST(bad_magic),
	UNIT_TEST(bad_header_cut),
	UNIT_TEST(bad_newer_version),
	UNIT_TEST(bad_byte_order),
	UNIT_TEST(bad_bom_garbage),
	UNIT_TEST(bad_newer_abi),
	UNIT_TEST(bad_header_size),
	UNIT_TEST(bad_unterminated_host),
	UNIT_TEST(bad_size_zero),
	UNIT_TEST(bad_size_small),
	UNIT_TEST(bad_size_huge),
	UNIT_TEST(bad_unknown_type),
	UNIT_TEST(bad_short_for_type),
	UNIT_TEST(bad_long_tick),
	UNIT_TEST(bad_short_fds),
	UNIT_TEST(bad_verdict),
	UNIT_TEST(bad_start_count),
	UNIT_TEST(bad_start_command),
	UNIT_TEST(bad_warn_nul),
	UNIT_TEST(bad_proc_len),
	UNIT_TEST(bad_proc_nul),
	UNIT_TEST(bad_add_flags),
	UNIT_TEST(bad_random),
	UNIT_TEST(bad_random_entries),
	UNIT_TEST(bad_directory),
	UNIT_TEST(bad_fifo),
	UNIT_TEST(bad_missing),
	UNIT_TEST(replay_same_grace),
	UNIT_TEST(replay_other_grace),
	UNIT_TEST(replay_truncated),
	UNIT_TEST(replay_bad),
	UNIT_TEST(replay_out_of_place),
	UNIT_TEST(replay_fds),
};

/* Seeds for tests/fuzz/corpus: the sample whole, cut, and a few bad. */
static int write_corpus(const char *out)
{
	struct buf b;
	char p[512];

#define SEED(name, len)							\
	do {								\
		snprintf(p, sizeof(p), "%s/%s", out, name);		\
		if (!write_file(p, b.data, len)) {			\
			printf("%s\n", unit_fail_msg);			\
			return 1;					\
		}							\
	} while (0)
	sample(&b, true);
	SEED("sample", b.len);
	SEED("sample-cut", b.len - 30);
	SEED("header-only", sizeof(struct record_header));
	ENTRY(find_type(&b, RECORD_START))->size = 1U << 20;
	SEED("bad-size", b.len);
	free(b.data);
	sample(&b, false);
	SEED("no-finish", b.len);
	ENTRY(find_type(&b, RECORD_PROC))->type = 77;
	SEED("bad-type", b.len);
	free(b.data);
	fds_sample(&b);
	SEED("fds", b.len);
	free(b.data);
	return 0;
#undef SEED
}

static void rm_rf(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv)
{
	int status;

	if (argc == 3 && !strcmp(argv[1], "--corpus"))
		return write_corpus(argv[2]);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	status = unit_run(tests, sizeof(tests) / sizeof(tests[0]), argv + 1, argc - 1,
			  NULL, NULL);
	rm_rf();
	return status;
}
