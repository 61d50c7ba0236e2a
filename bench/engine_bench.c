// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * engine_bench: the matching engine (src/matcher.c, linked directly) fed
 * from memory, without the kernel or the ring buffer.
 *
 * The stream: PROCS processes with FDS fd numbers each.  Every fd runs
 * the life fdtrace sees from a server: ADD, DEL, then CLOSE (or, one time
 * in seven, ADD again); a closed number comes back with a new inode.
 * Records come in runs of BURST from one process, as they leave one
 * process's syscalls, with 250 ns between records, and the engine is
 * ticked every TICK_EVERY records as fdtrace's event loop does.  About
 * two thirds of the fds are tracked (watched or unwatched-but-open) at
 * any time.
 *
 * Reports (one JSON line):
 *   records_per_s      median over REPS passes over the stream, each on a
 *                      fresh engine
 *   bytes_per_ended_fd heap bytes (mallinfo2) per fd whose watch ended
 *                      and that was never closed, for N such fds
 *   bytes_per_watched_fd  the same for fds still watched
 *   bytes_after_1x / _4x / _16x  heap bytes after the stream was fed
 *                      once, 4 and 16 times over: a plateau when memory
 *                      follows the fds live at once and not the number of
 *                      records seen.  Per-process tables grow at 3/4 full
 *                      and shrink only below 1/8, so the plateau is set
 *                      by the peak of live fds, reached within a few passes
 *   live_fds           tracked fds at the end of the stream
 *   bytes_after_close  heap bytes once every fd is closed (the process
 *                      entries and the heap's array remain)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "matcher.h"

#define PROCS		4
#define FDS		1024
#define FD_BASE		10
#define EPFD		3
#define BURST		16
#define TICK_EVERY	4096
#define SLOT		sizeof(struct fdt_rec_epoll_ctl)
#define GRACE_NS	(5ULL * 1000 * 1000 * 1000)

enum { CLOSED, WATCHED, ENDED };

struct stream {
	unsigned char *buf;	/* nr records, SLOT bytes apart */
	unsigned char *size;
	size_t nr;
	unsigned char state[PROCS][FDS];
	__u64 ino[PROCS][FDS];
	size_t live;		/* fds in WATCHED or ENDED at the end */
};

static unsigned long long reports;

static void on_report(void *ctx, const struct report *r)
{
	(void)ctx;
	(void)r;
	reports++;
}

static __u64 rng = 0x9E3779B97F4A7C15ULL;

static __u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng >> 32;
}

static void hdr(struct fdt_rec_hdr *h, __u32 type, __u32 size, __u32 pid, __u64 ts)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->pid = pid;
	h->tid = pid;
	strcpy(h->comm, "server");
}

static void put_ctl(void *slot, __u32 pid, int fd, __u32 op, __u64 ino, __u64 ts)
{
	struct fdt_rec_epoll_ctl *r = slot;

	memset(r, 0, sizeof(*r));
	hdr(&r->hdr, FDT_REC_EPOLL_CTL, sizeof(*r), pid, ts);
	r->epfd = EPFD;
	r->fd = fd;
	r->op = op;
	r->events = op == FDT_EPOLL_CTL_ADD ? 1 : 0;	/* EPOLLIN */
	r->file.ino = ino;
	r->file.dev = 8;
	r->file.ftype = FDT_FT_SOCKET;
}

static void put_close(void *slot, __u32 pid, int fd, __u64 ino, __u64 ts)
{
	struct fdt_rec_close *r = slot;

	memset(r, 0, sizeof(*r));
	hdr(&r->hdr, FDT_REC_CLOSE, sizeof(*r), pid, ts);
	r->fd = fd;
	r->how = FDT_CLOSE_CLOSE;
	r->file.ino = ino;
	r->file.dev = 8;
	r->file.ftype = FDT_FT_SOCKET;
}

static int make_stream(struct stream *s, size_t nr)
{
	__u64 ts = 1000000000ULL, next_ino = 1000;
	unsigned int proc = 0;

	memset(s, 0, sizeof(*s));
	s->buf = malloc(nr * SLOT);
	s->size = malloc(nr);
	if (!s->buf || !s->size)
		return -ENOMEM;
	s->nr = nr;
	for (size_t i = 0; i < nr; i++) {
		void *slot = s->buf + i * SLOT;
		unsigned int f = rnd() % FDS;
		__u32 pid = 1000 + proc;
		unsigned char *st = &s->state[proc][f];
		__u64 *ino = &s->ino[proc][f];

		if (i % BURST == BURST - 1)
			proc = rnd() % PROCS;
		ts += 250;
		switch (*st) {
		case CLOSED:
			*ino = next_ino++;
			/* fall through */
		case ENDED:
			if (*st == ENDED && rnd() % 7 != 0) {
				put_close(slot, pid, FD_BASE + f, *ino, ts);
				s->size[i] = sizeof(struct fdt_rec_close);
				*st = CLOSED;
				break;
			}
			put_ctl(slot, pid, FD_BASE + f, FDT_EPOLL_CTL_ADD, *ino, ts);
			s->size[i] = sizeof(struct fdt_rec_epoll_ctl);
			*st = WATCHED;
			break;
		default:
			put_ctl(slot, pid, FD_BASE + f, FDT_EPOLL_CTL_DEL, *ino, ts);
			s->size[i] = sizeof(struct fdt_rec_epoll_ctl);
			*st = ENDED;
			break;
		}
	}
	for (int p = 0; p < PROCS; p++)
		for (int f = 0; f < FDS; f++)
			s->live += s->state[p][f] != CLOSED;
	return 0;
}

static void feed(struct matcher *m, const struct stream *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const unsigned char *rec = s->buf + i * SLOT;

		matcher__feed(m, rec, s->size[i]);
		if (i % TICK_EVERY == TICK_EVERY - 1) {
			const struct fdt_rec_hdr *h = (const void *)rec;

			matcher__tick(m, h->ts_ns);
		}
	}
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* heap bytes in use, including chunks big enough to be mmap'd */
static long long heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long long)mi.uordblks + (long long)mi.hblkhd;
}

static struct matcher *new_matcher(void)
{
	struct matcher_opts o = { .grace_ns = GRACE_NS, .report = on_report };
	struct matcher *m = matcher__new(&o);

	if (!m) {
		perror("engine_bench: matcher__new");
		exit(1);
	}
	return m;
}

/* bytes per fd for n fds of one process: watched only, or watched then ended */
static double bytes_per_fd(long n, bool ended)
{
	unsigned char slot[SLOT];
	struct matcher *m;
	long long before, after;
	__u64 ts = 1000;

	before = heap_bytes();
	m = new_matcher();
	for (long fd = 0; fd < n; fd++) {
		put_ctl(slot, 42, FD_BASE + fd, FDT_EPOLL_CTL_ADD, 100000 + fd, ts++);
		matcher__feed(m, slot, sizeof(struct fdt_rec_epoll_ctl));
		if (!ended)
			continue;
		put_ctl(slot, 42, FD_BASE + fd, FDT_EPOLL_CTL_DEL, 100000 + fd, ts++);
		matcher__feed(m, slot, sizeof(struct fdt_rec_epoll_ctl));
	}
	after = heap_bytes();
	matcher__free(m);
	return (double)(after - before) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long nr = 1000000, reps = 5, nfd = 65536, cpu = -1;
	struct stream *s = calloc(1, sizeof(*s));
	double rates[64], ended_b, watched_b;
	long long base, once, four, sixteen, closed;
	struct matcher *m;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "n:r:f:c:")) != -1) {
		switch (c) {
		case 'n':
			nr = strtol(optarg, &end, 10);
			if (*end || nr < TICK_EVERY)
				goto bad;
			break;
		case 'r':
			reps = strtol(optarg, &end, 10);
			if (*end || reps < 1 || reps > 64)
				goto bad;
			break;
		case 'f':
			nfd = strtol(optarg, &end, 10);
			if (*end || nfd < 1 || nfd > 1 << 24)
				goto bad;
			break;
		case 'c':
			cpu = strtol(optarg, &end, 10);
			if (*end || cpu < 0)
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			perror("engine_bench: sched_setaffinity");
			return 1;
		}
	}
	if (!s || make_stream(s, nr)) {
		fprintf(stderr, "engine_bench: out of memory for %ld records\n", nr);
		return 1;
	}

	/* untimed pass: fault the stream in, warm the allocator */
	m = new_matcher();
	feed(m, s, 0, nr);
	matcher__free(m);

	for (long r = 0; r < reps; r++) {
		unsigned long long t0;

		m = new_matcher();
		t0 = now_ns();
		feed(m, s, 0, nr);
		rates[r] = nr / ((now_ns() - t0) / 1e9);
		matcher__free(m);
	}
	qsort(rates, reps, sizeof(rates[0]), cmp_double);

	/*
	 * Memory against records seen: the stream once, then three more
	 * times over (it starts with closed fds, so a replay is just more
	 * of the same life).
	 */
	base = heap_bytes();
	m = new_matcher();
	feed(m, s, 0, nr);
	once = heap_bytes() - base;
	for (int i = 0; i < 3; i++)
		feed(m, s, 0, nr);
	four = heap_bytes() - base;
	for (int i = 0; i < 12; i++)
		feed(m, s, 0, nr);
	sixteen = heap_bytes() - base;
	/* close everything that is still open */
	for (int p = 0; p < PROCS; p++) {
		for (int f = 0; f < FDS; f++) {
			unsigned char slot[SLOT];

			if (s->state[p][f] == CLOSED)
				continue;
			put_close(slot, 1000 + p, FD_BASE + f, s->ino[p][f], 4000000000ULL);
			matcher__feed(m, slot, sizeof(struct fdt_rec_close));
		}
	}
	closed = heap_bytes() - base;
	matcher__free(m);

	ended_b = bytes_per_fd(nfd, true);
	watched_b = bytes_per_fd(nfd, false);

	printf("{\"tool\":\"engine_bench\",\"records\":%ld,\"reps\":%ld,\"cpu\":%ld,"
	       "\"records_per_s\":%.0f,\"records_per_s_min\":%.0f,\"records_per_s_max\":%.0f,"
	       "\"ns_per_record\":%.1f,\"reports\":%llu,"
	       "\"nfd\":%ld,\"bytes_per_ended_fd\":%.1f,\"bytes_per_watched_fd\":%.1f,"
	       "\"live_fds\":%zu,\"bytes_after_1x\":%lld,\"bytes_after_4x\":%lld,\"bytes_after_16x\":%lld,"
	       "\"bytes_after_close\":%lld}\n",
	       nr, reps, cpu, rates[reps / 2], rates[0], rates[reps - 1],
	       1e9 / rates[reps / 2], reports, nfd, ended_b, watched_b, s->live,
	       once, four, sixteen, closed);
	return 0;
bad:
	fprintf(stderr, "usage: engine_bench [-n RECORDS] [-r REPS] [-f NFDS] [-c CPU]\n");
	return 2;
}
