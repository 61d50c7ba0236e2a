// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * --html: the run as a picture (html.h).
 *
 * The records are followed just far enough to draw each fd's watch and
 * what came after it: a light copy of the engine's state machine, which
 * needs no grace, no checks and no heap.  Whether an unwatched fd was a
 * leak is never guessed here: only a LEAK report makes a bar red, at the
 * time the report gives, so the page shows what the engine decided.
 *
 * Everything that comes from a traced process (comm, exe, cmdline,
 * cgroup) or from a recording (host, warnings) is escaped on output, and
 * lives in text or attribute values only, never in the script: the page
 * carries a Content-Security-Policy that forbids loading anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "clock.h"
#include "htab.h"
#include "html.h"
#include "output.h"

#define NONE		((__u32)-1)
#define NSEC_PER_SEC	1000000000ULL
#define NSEC_PER_MSEC	1000000ULL
/* epoll instances remembered per fd: a watch by more is rare */
#define MAX_EPS		4
#define MAX_WARNINGS	100
#define LIMIT_INFINITY	(~0ULL)

enum bar_end {
	END_NONE = 0,	/* still unwatched when tracing ended */
	END_CLOSED,
	END_REWATCHED,
	END_EXEC,
	END_EXIT,
	END_GONE,	/* the number names another file now: closed unseen */
};

/* One fd whose watch ended: watched, unwatched, then what came next. */
struct bar {
	__s32 fd, epfd;
	struct fdt_file file;
	__u64 add_ts;		/* when the watch began; 0: not seen */
	__u64 del_ts;		/* when it ended */
	__u64 leak_ts;		/* the LEAK report's time; 0: no leak */
	__u64 end_ts;		/* closed or re-watched; 0: open at the end */
	__u64 unwatched_ns;	/* LEAK: as reported */
	struct evidence ev;	/* LEAK */
	__u8 end;		/* enum bar_end */
	__u8 seeded;		/* watched since before tracing began */
	__u8 unconfirmed;	/* LEAK */
	__u8 resolved;		/* LEAK_RESOLVED seen */
};

/* An fd epoll touched that the records show open: htab entry */
struct fd_ent {
	__u32 key;		/* the fd */
	__u8 used;
	__u8 watched;
	__u8 seeded;
	__u8 nep;
	__s32 eps[MAX_EPS];	/* epoll instances watching it */
	__s32 epfd;		/* the last one */
	__u32 bar;		/* while unwatched: its bar, or NONE */
	__u64 watch_ts;		/* when its watch began; 0: not seen */
	struct fdt_file file;
};

struct pid_ent {
	__u32 key;
	__u8 used;
	__u32 idx;
};

struct point {
	__u64 ts;
	__u64 v;		/* the value at the end of the point's span */
	__u64 hi;		/* the highest within it */
	__u64 lim;		/* samples: the limit then */
};

/*
 * At most cap points: when full, neighbours are merged in pairs and the
 * span a point covers doubles, so a long run keeps its shape and peaks.
 */
struct series {
	struct point *pts;
	__u32 n, cap;
	__u64 gap;		/* a new point closer than this joins the last */
};

struct proc {
	__u32 pid;
	char comm[FDT_COMM_LEN];
	char *exe, *cmdline, *cgroup;
	size_t cmdline_len;
	__u64 limit;		/* RLIMIT_NOFILE soft; 0: unknown */
	__u64 first_ts, exit_ts, drop_ts;
	struct htab fds;
	struct bar *bars;
	__u32 nr_bars, cap_bars;
	/* finished bars that are not leaks, oldest first: room for new ones */
	__u32 *fifo;
	__u32 fifo_head, fifo_len;
	__u32 *leaks;		/* bars of leaks, in report order; never evicted */
	__u32 nr_leaks, cap_leaks;
	__u64 bars_dropped, leaks_dropped;
	struct series open;	/* fds the records show open */
	struct series sampled;	/* html__sample() */
	struct proc_stats stats;
	bool have_stats;
};

struct warning {
	__u64 ts;
	char *msg;
};

struct html {
	struct html_opts o;
	char *host, *kernel, *source, *version;
	struct proc *procs;
	__u32 nr_procs, cap_procs;
	struct htab pids;
	bool procs_dropped;
	struct report *finds;	/* stats and totals pointers cleared */
	__u32 nr_finds, cap_finds;
	__u64 finds_dropped;
	struct warning warns[MAX_WARNINGS];
	__u32 nr_warns;
	__u64 warns_dropped;
	struct totals totals;
	bool have_totals;
	__u64 t_min, t_max;
	bool incomplete;	/* ran out of memory on the way */
};

/* ---- state ---- */

/*
 * Wall-clock ns of a monotonic time.  A recording's offset is untrusted:
 * unsigned arithmetic wraps where signed would overflow.
 */
static __s64 wall_ns(const struct html *h, __u64 mono_ns)
{
	return (__s64)(mono_ns + (__u64)h->o.realtime_offset_ns);
}

static void note_ts(struct html *h, __u64 ts)
{
	if (!ts)
		return;
	if (!h->t_min || ts < h->t_min)
		h->t_min = ts;
	if (ts > h->t_max)
		h->t_max = ts;
}

static int grow(void **v, __u32 *cap, __u32 want, size_t elem, __u32 max)
{
	__u32 n = *cap ? *cap * 2 : 16;
	void *p;

	if (want <= *cap)
		return 0;
	if (want > max)
		return -E2BIG;
	while (n < want)
		n *= 2;
	if (n > max)
		n = max;
	p = realloc(*v, (size_t)n * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

static void series_push(struct html *h, struct series *s, __u64 ts, __u64 v, __u64 lim)
{
	struct point *last;

	if (!s->pts) {
		s->pts = calloc(h->o.max_points, sizeof(*s->pts));
		if (!s->pts) {
			h->incomplete = true;
			return;
		}
		s->cap = h->o.max_points;
	}
	last = s->n ? &s->pts[s->n - 1] : NULL;
	if (last && ts < last->ts)
		ts = last->ts;
	/* a step line needs no point where nothing changed */
	if (last && last->v == v && last->lim == lim)
		return;
	if (last && (ts - last->ts < s->gap || ts == last->ts)) {
		last->v = v;
		last->lim = lim;
		if (v > last->hi)
			last->hi = v;
		return;
	}
	if (s->n == s->cap) {
		__u32 i, n = 0;

		for (i = 0; i + 1 < s->n; i += 2, n++) {
			struct point a = s->pts[i], b = s->pts[i + 1];

			s->pts[n] = (struct point){ a.ts, b.v, a.hi > b.hi ? a.hi : b.hi, b.lim };
		}
		if (i < s->n)
			s->pts[n++] = s->pts[i];
		s->n = n;
		s->gap = (s->pts[n - 1].ts - s->pts[0].ts) / (s->cap / 2);
	}
	s->pts[s->n++] = (struct point){ ts, v, v, lim };
}

static struct proc *proc_find(struct html *h, __u32 pid)
{
	__u32 slot = htab__find(&h->pids, pid);

	if (slot == HTAB_NONE)
		return NULL;
	return &h->procs[((struct pid_ent *)htab__at(&h->pids, slot))->idx];
}

static void set_comm(struct proc *p, const char *comm)
{
	if (comm && comm[0]) {
		memcpy(p->comm, comm, FDT_COMM_LEN);
		p->comm[FDT_COMM_LEN - 1] = '\0';
	}
}

/* NULL past max_procs or without memory (said in the page). */
static struct proc *proc_get(struct html *h, __u32 pid, const char *comm, __u64 ts)
{
	struct proc *p = proc_find(h, pid);
	__u32 slot;

	if (p) {
		set_comm(p, comm);
		return p;
	}
	if (h->nr_procs >= h->o.max_procs) {
		h->procs_dropped = true;
		return NULL;
	}
	if (grow((void **)&h->procs, &h->cap_procs, h->nr_procs + 1, sizeof(*p),
		 h->o.max_procs)) {
		h->incomplete = true;
		return NULL;
	}
	slot = htab__insert(&h->pids, pid);
	if (slot == HTAB_NONE) {
		h->incomplete = true;
		return NULL;
	}
	((struct pid_ent *)htab__at(&h->pids, slot))->idx = h->nr_procs;
	p = &h->procs[h->nr_procs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->first_ts = ts;
	set_comm(p, comm);
	htab__init(&p->fds, sizeof(struct fd_ent), 4, NULL, NULL);
	return p;
}

static struct fd_ent *fd_find(struct proc *p, __s32 fd)
{
	__u32 slot = htab__find(&p->fds, (__u32)fd);

	return slot == HTAB_NONE ? NULL : htab__at(&p->fds, slot);
}

static void fd_remove(struct proc *p, __s32 fd)
{
	__u32 slot = htab__find(&p->fds, (__u32)fd);

	if (slot != HTAB_NONE)
		htab__remove(&p->fds, slot);
}

static void count_open(struct html *h, struct proc *p, __u64 ts)
{
	series_push(h, &p->open, ts, p->fds.nr, 0);
}

/*
 * A slot for a new bar: a new one while under max_bars, else the oldest
 * finished bar that is not a leak.  NONE when every bar kept is a leak or
 * still open.
 */
static __u32 bar_alloc(struct html *h, struct proc *p)
{
	__u32 idx;

	if (p->nr_bars < h->o.max_bars) {
		if (grow((void **)&p->bars, &p->cap_bars, p->nr_bars + 1, sizeof(*p->bars),
			 h->o.max_bars)) {
			h->incomplete = true;
			return NONE;
		}
		idx = p->nr_bars++;
	} else if (p->fifo_len) {
		idx = p->fifo[p->fifo_head];
		p->fifo_head = (p->fifo_head + 1) % h->o.max_bars;
		p->fifo_len--;
		p->bars_dropped++;
	} else {
		p->bars_dropped++;
		return NONE;
	}
	memset(&p->bars[idx], 0, sizeof(p->bars[idx]));
	return idx;
}

static void bar_retire(struct html *h, struct proc *p, __u32 idx)
{
	if (!p->fifo) {
		p->fifo = calloc(h->o.max_bars, sizeof(*p->fifo));
		if (!p->fifo) {
			h->incomplete = true;
			return;
		}
	}
	/* at most max_bars bars exist, so the ring never overflows */
	p->fifo[(p->fifo_head + p->fifo_len) % h->o.max_bars] = idx;
	p->fifo_len++;
}

/* The fd's unwatched spell ended at ts. */
static void bar_end(struct html *h, struct proc *p, struct fd_ent *e, enum bar_end how,
		    __u64 ts)
{
	struct bar *b;

	if (e->bar == NONE)
		return;
	b = &p->bars[e->bar];
	if (b->end == END_NONE) {
		b->end = how;
		b->end_ts = ts;
		if (!b->leak_ts)
			bar_retire(h, p, e->bar);
	}
	e->bar = NONE;
}

static bool file_differs(const struct fdt_file *a, const struct fdt_file *b)
{
	return a->ino && b->ino && (a->ino != b->ino || a->dev != b->dev);
}

static bool ep_del(struct fd_ent *e, __s32 epfd)
{
	for (__u32 i = 0; i < e->nep; i++) {
		if (e->eps[i] != epfd)
			continue;
		e->eps[i] = e->eps[--e->nep];
		return e->nep == 0;
	}
	return e->nep == 0;
}

static void ep_add(struct fd_ent *e, __s32 epfd)
{
	for (__u32 i = 0; i < e->nep; i++)
		if (e->eps[i] == epfd)
			return;
	if (e->nep < MAX_EPS)
		e->eps[e->nep++] = epfd;
}

static struct fd_ent *fd_get(struct html *h, struct proc *p, __s32 fd,
			     const struct fdt_file *file, __u64 ts)
{
	struct fd_ent *e = fd_find(p, fd);
	__u32 slot;

	if (e && file_differs(&e->file, file)) {
		/* the number was reused: its old file went by a path no record showed */
		bar_end(h, p, e, END_GONE, ts);
		fd_remove(p, fd);
		e = NULL;
	}
	if (e)
		return e;
	slot = htab__insert(&p->fds, (__u32)fd);
	if (slot == HTAB_NONE) {
		h->incomplete = true;
		return NULL;
	}
	e = htab__at(&p->fds, slot);
	e->file = *file;
	e->bar = NONE;
	return e;
}

static void watch(struct html *h, struct proc *p, __s32 fd, __s32 epfd,
		  const struct fdt_file *file, __u64 ts, bool seed)
{
	struct fd_ent *e = fd_get(h, p, fd, file, ts);

	if (!e)
		return;
	if (!e->watched) {
		bar_end(h, p, e, END_REWATCHED, ts);
		e->watched = 1;
		e->seeded = seed;
		e->watch_ts = ts;
		e->nep = 0;
	}
	if (file->ino)
		e->file = *file;
	e->epfd = epfd;
	ep_add(e, epfd);
	count_open(h, p, ts);
}

/* The watch of e ended at ts: its bar begins. */
static void watch_ended(struct html *h, struct proc *p, struct fd_ent *e, __s32 epfd, __u64 ts)
{
	__u32 idx = bar_alloc(h, p);
	struct bar *b;

	e->watched = 0;
	e->nep = 0;
	e->epfd = epfd;
	e->bar = idx;
	if (idx == NONE)
		return;
	b = &p->bars[idx];
	b->fd = (__s32)e->key;
	b->epfd = epfd;
	b->file = e->file;
	b->add_ts = e->watch_ts;
	b->seeded = e->seeded;
	b->del_ts = ts;
}

static void unwatch(struct html *h, struct proc *p, const struct fdt_rec_epoll_ctl *r)
{
	__u64 ts = r->hdr.ts_ns;
	struct fd_ent *e = fd_find(p, r->fd);

	if (!e || !e->watched || file_differs(&e->file, &r->file)) {
		/* a successful DEL proves a watch we did not see begin */
		e = fd_get(h, p, r->fd, &r->file, ts);
		if (!e)
			return;
		if (!e->watched)
			bar_end(h, p, e, END_REWATCHED, ts);
		e->watched = 1;
		e->watch_ts = 0;
		e->nep = 0;
	} else if (!ep_del(e, r->epfd)) {
		return;
	}
	watch_ended(h, p, e, r->epfd, ts);
	count_open(h, p, ts);
}

static enum bar_end close_end(__u32 how)
{
	switch (how) {
	case FDT_CLOSE_EXEC:
		return END_EXEC;
	case FDT_CLOSE_EXIT:
		return END_EXIT;
	default:
		return END_CLOSED;
	}
}

/* The last reference to epoll instance epfd went: what only it watched is unwatched. */
static void epoll_closed(struct html *h, struct proc *p, __s32 epfd, __u64 ts)
{
	for (__u32 i = 0; i < htab__cap(&p->fds); i++) {
		struct fd_ent *e = htab__at(&p->fds, i);
		bool had = false;

		if (!e->used || !e->watched)
			continue;
		for (__u32 j = 0; j < e->nep; j++)
			had |= e->eps[j] == epfd;
		if (had && ep_del(e, epfd))
			watch_ended(h, p, e, epfd, ts);
	}
}

static void on_close(struct html *h, const struct fdt_rec_close *r)
{
	struct proc *p = proc_find(h, r->hdr.pid);
	struct fd_ent *e;

	/* an exiting process's closes follow its EXIT: never bring it back */
	if (!p)
		return;
	if (r->file.ftype == FDT_FT_EPOLL && !(r->flags & FDT_CLOSEF_SHARED) &&
	    r->how != FDT_CLOSE_EXEC && r->how != FDT_CLOSE_EXIT)
		epoll_closed(h, p, r->fd, r->hdr.ts_ns);
	e = fd_find(p, r->fd);
	if (!e)
		return;
	bar_end(h, p, e, file_differs(&e->file, &r->file) ? END_GONE : close_end(r->how),
		r->hdr.ts_ns);
	fd_remove(p, r->fd);
	count_open(h, p, r->hdr.ts_ns);
}

static void on_proc_exit(struct html *h, const struct fdt_rec_hdr *hdr)
{
	struct proc *p = proc_find(h, hdr->pid);

	if (!p)
		return;
	for (__u32 i = 0; i < htab__cap(&p->fds); i++) {
		struct fd_ent *e = htab__at(&p->fds, i);

		if (e->used)
			bar_end(h, p, e, END_EXIT, hdr->ts_ns);
	}
	htab__free(&p->fds);
	htab__init(&p->fds, sizeof(struct fd_ent), 4, NULL, NULL);
	p->exit_ts = hdr->ts_ns;
	count_open(h, p, hdr->ts_ns);
}

static void on_epoll_ctl(struct html *h, const struct fdt_rec_epoll_ctl *r)
{
	struct proc *p = proc_get(h, r->hdr.pid, r->hdr.comm, r->hdr.ts_ns);
	struct fd_ent *e;

	if (!p || r->ret != 0 || r->fd < 0)
		return;
	if (r->flags & FDT_CTLF_UNTRACKED) {
		/* its closes will not be seen: no bar that would never end */
		e = fd_find(p, r->fd);
		if (e) {
			bar_end(h, p, e, END_GONE, r->hdr.ts_ns);
			fd_remove(p, r->fd);
		}
		return;
	}
	switch (r->op) {
	case FDT_EPOLL_CTL_ADD:
	case FDT_EPOLL_CTL_MOD:
		watch(h, p, r->fd, r->epfd, &r->file, r->hdr.ts_ns, false);
		break;
	case FDT_EPOLL_CTL_DEL:
		unwatch(h, p, r);
		break;
	}
}

static char *strdup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int html__proc(struct html *h, const struct record_proc_info *pi)
{
	struct proc *p;

	if (!h || !pi)
		return -EINVAL;
	note_ts(h, pi->seen_ns);
	p = proc_get(h, pi->pid, pi->comm, pi->seen_ns);
	if (!p)
		return h->incomplete ? -ENOMEM : 0;
	/* the first word on a process stands: an exec's comes as a new record */
	free(p->exe);
	free(p->cmdline);
	free(p->cgroup);
	p->exe = pi->exe ? strdup(pi->exe) : NULL;
	p->cmdline = pi->cmdline ? strdup_n(pi->cmdline, pi->cmdline_len) : NULL;
	p->cmdline_len = pi->cmdline ? pi->cmdline_len : 0;
	p->cgroup = pi->cgroup ? strdup(pi->cgroup) : NULL;
	if (pi->nofile_soft)
		p->limit = pi->nofile_soft;
	if ((pi->exe && !p->exe) || (pi->cmdline && !p->cmdline) || (pi->cgroup && !p->cgroup)) {
		h->incomplete = true;
		return -ENOMEM;
	}
	return 0;
}

static int on_record_proc(struct html *h, const void *rec, size_t size)
{
	struct record_proc_view v;
	struct record_proc rp;
	struct record_proc_info pi = {};

	if (record_proc__parse(rec, size, &v))
		return -EINVAL;
	memcpy(&rp, rec, sizeof(rp));
	pi.pid = rp.hdr.pid;
	memcpy(pi.comm, rp.hdr.comm, FDT_COMM_LEN);
	pi.comm[FDT_COMM_LEN - 1] = '\0';
	pi.seen_ns = rp.hdr.ts_ns;
	pi.start_time_ns = rp.start_time_ns;
	pi.nofile_soft = rp.nofile_soft;
	pi.nofile_hard = rp.nofile_hard;
	pi.exe = v.exe[0] ? v.exe : NULL;
	pi.cmdline = v.cmdline_len > 1 ? v.cmdline : NULL;
	pi.cmdline_len = v.cmdline_len;
	pi.cgroup = v.cgroup[0] ? v.cgroup : NULL;
	return html__proc(h, &pi);
}

void html__warn(struct html *h, __u64 ts_ns, const char *msg)
{
	if (!h || !msg)
		return;
	note_ts(h, ts_ns);
	if (h->nr_warns == MAX_WARNINGS) {
		h->warns_dropped++;
		return;
	}
	h->warns[h->nr_warns].msg = strdup_n(msg, strnlen(msg, RECORD_WARN_LEN));
	if (!h->warns[h->nr_warns].msg) {
		h->incomplete = true;
		return;
	}
	h->warns[h->nr_warns++].ts = ts_ns;
}

/* The fixed size each type needs; 0 for types without a body to read. */
static size_t need_size(__u32 type)
{
	switch (type) {
	case RECORD_WARN:		return sizeof(struct record_warn);
	case RECORD_PROC:		return sizeof(struct record_proc);
	default:
		return fdt_rec_min_size(type) ?: sizeof(struct fdt_rec_hdr);
	}
}

int html__record(struct html *h, const void *rec, size_t size)
{
	/* copied out: recordings need not be aligned */
	union {
		struct fdt_rec_hdr hdr;
		struct fdt_rec_epoll_ctl ctl;
		struct fdt_rec_close close;
		struct fdt_rec_proc proc;
		struct fdt_rec_watch_seed seed;
		struct record_warn warn;
	} r;
	struct proc *p;
	bool was_incomplete;
	size_t need;

	if (!h || !rec || size < sizeof(r.hdr))
		return -EINVAL;
	memcpy(&r.hdr, rec, sizeof(r.hdr));
	need = need_size(r.hdr.type);
	if (size < need)
		return -EINVAL;
	if (r.hdr.type != RECORD_PROC)
		memcpy(&r, rec, need);
	r.hdr.comm[FDT_COMM_LEN - 1] = '\0';
	note_ts(h, r.hdr.ts_ns);
	was_incomplete = h->incomplete;
	switch (r.hdr.type) {
	case FDT_REC_EPOLL_CTL:
		on_epoll_ctl(h, &r.ctl);
		break;
	case FDT_REC_CLOSE:
		on_close(h, &r.close);
		break;
	case FDT_REC_EXEC:
	case RECORD_ADD_PID:
		proc_get(h, r.hdr.pid, r.hdr.comm, r.hdr.ts_ns);
		break;
	case FDT_REC_EXIT:
		on_proc_exit(h, &r.hdr);
		break;
	case FDT_REC_FORK:
		proc_get(h, r.hdr.pid, r.hdr.comm, r.hdr.ts_ns);
		if (r.proc.child_pid && r.proc.child_pid != r.hdr.pid)
			proc_get(h, r.proc.child_pid, r.hdr.comm, r.hdr.ts_ns);
		break;
	case FDT_REC_WATCH_SEED:
		p = proc_get(h, r.hdr.pid, r.hdr.comm, r.hdr.ts_ns);
		if (p && r.seed.fd >= 0)
			watch(h, p, r.seed.fd, r.seed.epfd, &r.seed.file, r.hdr.ts_ns, true);
		break;
	case RECORD_PROC:
		return on_record_proc(h, rec, size);
	case RECORD_FDS: {
		struct record_fds f;

		if (size < sizeof(f))
			return -EINVAL;
		memcpy(&f, rec, sizeof(f));
		return html__sample(h, f.hdr.pid, f.hdr.ts_ns, f.open_fds, f.nofile_soft);
	}
	case RECORD_DROP:
		p = proc_find(h, r.hdr.pid);
		if (p)
			p->drop_ts = r.hdr.ts_ns;
		break;
	case RECORD_WARN:
		r.warn.msg[RECORD_WARN_LEN - 1] = '\0';
		html__warn(h, r.hdr.ts_ns, r.warn.msg);
		break;
	default:
		/* START, TICK, FINISH, LOST, ...: their time is all we need */
		break;
	}
	return h->incomplete && !was_incomplete ? -ENOMEM : 0;
}

int html__sample(struct html *h, __u32 pid, __u64 ts_ns, __u64 open_fds, __u64 limit)
{
	struct proc *p;

	if (!h)
		return -EINVAL;
	note_ts(h, ts_ns);
	p = proc_get(h, pid, NULL, ts_ns);
	if (!p)
		return h->incomplete ? -ENOMEM : 0;
	if (limit)
		p->limit = limit;
	series_push(h, &p->sampled, ts_ns, open_fds, limit);
	return 0;
}

static void add_finding(struct html *h, const struct report *r)
{
	struct report *f;

	if (grow((void **)&h->finds, &h->cap_finds, h->nr_finds + 1, sizeof(*r),
		 h->o.max_findings)) {
		h->finds_dropped++;
		return;
	}
	f = &h->finds[h->nr_finds++];
	*f = *r;
	f->stats = NULL;
	f->totals = NULL;
}

static struct bar *leak_bar(struct proc *p, __s32 fd, __u64 del_ts)
{
	for (__u32 i = p->nr_leaks; i-- > 0;) {
		struct bar *b = &p->bars[p->leaks[i]];

		if (b->fd == fd && b->del_ts == del_ts && !b->resolved)
			return b;
	}
	return NULL;
}

static void on_leak(struct html *h, struct proc *p, const struct report *r)
{
	struct fd_ent *e = fd_find(p, r->fd);
	__u32 idx;
	struct bar *b;

	if (e && !e->watched && e->bar != NONE && p->bars[e->bar].del_ts == r->del_ts_ns &&
	    !p->bars[e->bar].leak_ts) {
		idx = e->bar;
	} else {
		/*
		 * The records showed it otherwise (an end of watch this light
		 * state machine does not follow): the report is what counts,
		 * and LEAK_RESOLVED will end the bar.
		 */
		idx = bar_alloc(h, p);
		if (idx == NONE) {
			p->leaks_dropped++;
			return;
		}
		p->bars[idx].fd = r->fd;
		p->bars[idx].del_ts = r->del_ts_ns;
		if (e && !e->watched && e->bar == NONE)
			e->bar = idx;
	}
	if (grow((void **)&p->leaks, &p->cap_leaks, p->nr_leaks + 1, sizeof(*p->leaks),
		 h->o.max_bars)) {
		h->incomplete = true;
		return;
	}
	p->leaks[p->nr_leaks++] = idx;
	b = &p->bars[idx];
	b->epfd = r->epfd;
	if (r->file.ino || !b->file.ftype)
		b->file = r->file;
	b->leak_ts = r->ts_ns;
	b->unwatched_ns = r->unwatched_ns;
	b->ev = r->ev;
	b->unconfirmed = r->unconfirmed;
}

static enum bar_end resolve_end(enum resolve_how how)
{
	switch (how) {
	case RESOLVE_REWATCHED:	return END_REWATCHED;
	case RESOLVE_EXEC:	return END_EXEC;
	case RESOLVE_EXIT:	return END_EXIT;
	default:		return END_CLOSED;
	}
}

void html__report(struct html *h, const struct report *r)
{
	struct proc *p = NULL;
	struct bar *b;

	if (!h || !r)
		return;
	if (r->kind == REPORT_INTERVAL || r->kind == REPORT_FD_PRESSURE)
		return;		/* the page draws the whole run; its chart shows the fds */
	note_ts(h, r->ts_ns);
	if (r->kind != REPORT_TOTALS)
		p = proc_get(h, r->pid, r->comm, r->ts_ns);
	switch (r->kind) {
	case REPORT_LEAK:
		add_finding(h, r);
		if (p)
			on_leak(h, p, r);
		break;
	case REPORT_LEAK_RESOLVED:
		add_finding(h, r);
		b = p ? leak_bar(p, r->fd, r->del_ts_ns) : NULL;
		if (b) {
			b->resolved = 1;
			b->end = resolve_end(r->how);
			b->end_ts = r->ts_ns;
		}
		break;
	case REPORT_CLOSED_WHILE_WATCHED:
	case REPORT_DEREGISTER_FAILED:
		add_finding(h, r);
		break;
	case REPORT_SUMMARY:
		if (p && r->stats) {
			p->stats = *r->stats;
			p->have_stats = true;
		}
		break;
	case REPORT_INTERVAL:
	case REPORT_FD_PRESSURE:	/* the open-fd chart shows it */
		break;
	case REPORT_TOTALS:
		if (r->totals) {
			h->totals = *r->totals;
			h->have_totals = true;
		}
		break;
	}
}

void html__report_fn(void *ctx, const struct report *r)
{
	html__report(ctx, r);
}

/* ---- the page ---- */

/* Text and attribute values alike; control characters become '?'. */
static void esc_n(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = s[i];

		switch (c) {
		case '&':  fputs("&amp;", f); break;
		case '<':  fputs("&lt;", f); break;
		case '>':  fputs("&gt;", f); break;
		case '"':  fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
		}
	}
}

static void esc(FILE *f, const char *s)
{
	esc_n(f, s ? s : "", SIZE_MAX);
}

/* A cmdline: arguments NUL-separated, shown space-separated. */
static void esc_cmdline(FILE *f, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = strnlen(s + i, n - i);

		if (i)
			fputc(' ', f);
		esc_n(f, s + i, len);
		i += len + 1;
	}
}

static const char *hms(const struct html *h, char *buf, __u64 ts)
{
	if (clock__fmt_hms(buf, CLOCK_HMS_LEN, ts, h->o.realtime_offset_ns) < 0)
		snprintf(buf, CLOCK_HMS_LEN, "?");
	return buf;
}

static const char *rfc3339(const struct html *h, char *buf, __u64 ts)
{
	if (clock__fmt_rfc3339(buf, CLOCK_RFC3339_LEN, ts, h->o.realtime_offset_ns) < 0)
		snprintf(buf, CLOCK_RFC3339_LEN, "?");
	return buf;
}

static const char *dur(char *buf, size_t size, __u64 ns)
{
	if (ns < 60 * NSEC_PER_SEC)
		snprintf(buf, size, "%.3f s", ns / 1e9);
	else if (ns < 3600 * NSEC_PER_SEC)
		snprintf(buf, size, "%llum%02llus", ns / NSEC_PER_SEC / 60,
			 ns / NSEC_PER_SEC % 60);
	else
		snprintf(buf, size, "%lluh%02llum", ns / NSEC_PER_SEC / 3600,
			 ns / NSEC_PER_SEC / 60 % 60);
	return buf;
}

static const char *evidence_text(const struct report *r, char *buf, size_t size)
{
	static const char *const tcp[] = {
		"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
		"NEW_SYN_RECV",
	};
	__u32 st = r->ev.tcp_state;

	if (r->unconfirmed)
		return "unconfirmed: the recording holds no check of it";
	switch (r->ev.cls) {
	case EVIDENCE_IDLE:
		return "idle: nothing read or written since the DEL";
	case EVIDENCE_PEER_CLOSED:
		if (!(r->ev.sock_flags & FDT_SOCKF_TCP))
			return "peer closed";
		snprintf(buf, size, "peer closed (%s)",
			 st < sizeof(tcp) / sizeof(tcp[0]) ? tcp[st] : "?");
		return buf;
	case EVIDENCE_BACKPRESSURED:
		snprintf(buf, size, "backpressured: %u bytes unread", r->ev.unread);
		return buf;
	default:
		return "";
	}
}

static const char *end_text(enum bar_end e)
{
	switch (e) {
	case END_CLOSED:	return "closed";
	case END_REWATCHED:	return "watched again";
	case END_EXEC:		return "closed at exec";
	case END_EXIT:		return "process exited";
	case END_GONE:		return "gone (closed unseen)";
	default:		return "still open";
	}
}

static const char *end_attr(enum bar_end e)
{
	switch (e) {
	case END_CLOSED:	return "closed";
	case END_REWATCHED:	return "rewatched";
	case END_EXEC:		return "exec";
	case END_EXIT:		return "exit";
	case END_GONE:		return "gone";
	default:		return "none";
	}
}

static const char *report_name(enum report_kind k)
{
	switch (k) {
	case REPORT_LEAK:			return "leak";
	case REPORT_LEAK_RESOLVED:		return "leak resolved";
	case REPORT_CLOSED_WHILE_WATCHED:	return "closed while watched";
	case REPORT_DEREGISTER_FAILED:		return "deregister failed";
	default:				return "?";
	}
}

static const char *report_attr(enum report_kind k)
{
	switch (k) {
	case REPORT_LEAK:			return "leak";
	case REPORT_LEAK_RESOLVED:		return "leak_resolved";
	case REPORT_CLOSED_WHILE_WATCHED:	return "closed_while_watched";
	case REPORT_DEREGISTER_FAILED:		return "deregister_failed";
	default:				return "other";
	}
}

static const char *resolve_text(enum resolve_how how)
{
	return end_text(resolve_end(how));
}

/* Geometry of a timeline, in SVG user units (= CSS px at 100%). */
#define SVG_W		1200
#define SVG_L		84	/* fd labels, count axis */
#define SVG_R		120	/* limit label */
#define PLOT_W		(SVG_W - SVG_L - SVG_R)
#define CHART_TOP	22
#define CHART_H		110
#define AXIS_H		30
#define LANES_TOP	(CHART_TOP + CHART_H + AXIS_H)

struct frame {
	__u64 t0, t1;
	__u64 step;		/* time between ticks, ns */
	__u64 first_tick;	/* monotonic time of the first tick */
	bool ms;		/* ticks need milliseconds */
};

static double xof(const struct frame *fr, __u64 ts)
{
	if (ts < fr->t0)
		ts = fr->t0;
	if (ts > fr->t1)
		ts = fr->t1;
	return SVG_L + (double)(ts - fr->t0) * PLOT_W / (double)(fr->t1 - fr->t0);
}

/* Ticks at round wall-clock times, at most about ten of them. */
static void frame_init(const struct html *h, struct frame *fr)
{
	static const __u64 steps_ms[] = {
		1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000,
		60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000,
		10800000, 21600000, 43200000, 86400000,
	};
	__u64 span;
	__s64 wall;
	size_t i;

	fr->t0 = h->t_min;
	fr->t1 = h->t_max > h->t_min ? h->t_max : h->t_min + NSEC_PER_SEC;
	span = fr->t1 - fr->t0;
	for (i = 0; i + 1 < sizeof(steps_ms) / sizeof(steps_ms[0]); i++)
		if (span / (steps_ms[i] * NSEC_PER_MSEC) <= 9)
			break;
	fr->step = steps_ms[i] * NSEC_PER_MSEC;
	fr->ms = fr->step < NSEC_PER_SEC;
	/* round in local wall time so that ticks fall on :00, :05, ... */
	{
		time_t sec = (time_t)(wall_ns(h, fr->t0) / (__s64)NSEC_PER_SEC);
		struct tm tm;
		__s64 gmtoff = 0;

		if (localtime_r(&sec, &tm))
			gmtoff = tm.tm_gmtoff;
		wall = (__s64)((__u64)wall_ns(h, fr->t0) + (__u64)gmtoff * NSEC_PER_SEC);
		fr->first_tick = fr->t0 + (fr->step - (__u64)(wall % (__s64)fr->step)) % fr->step;
	}
}

static void tick_label(const struct html *h, const struct frame *fr, char *buf, __u64 ts)
{
	hms(h, buf, ts);
	if (!fr->ms)
		buf[8] = '\0';	/* HH:MM:SS */
}

static __u64 nice_ceil(__u64 v)
{
	__u64 m = 1;

	if (v < 4)
		return 4;
	for (;;) {
		if (v <= m)
			return m;
		if (v <= 2 * m)
			return 2 * m;
		if (v <= 5 * m)
			return 5 * m;
		m *= 10;
	}
}

static int lane_cmp(const void *a, const void *b)
{
	__s32 x = *(const __s32 *)a, y = *(const __s32 *)b;

	return x < y ? -1 : x > y;
}

static const char *bar_kind(const struct bar *b)
{
	if (b->leak_ts)
		return "leak";
	switch (b->end) {
	case END_REWATCHED:	return "rewatched";
	case END_NONE:		return "open";
	default:		return "closed";
	}
}

static void bar_title(const struct html *h, FILE *f, const struct proc *p, const struct bar *b)
{
	char t1[CLOCK_HMS_LEN], t2[CLOCK_HMS_LEN], d[32], ev[64];
	struct report r = { .ev = b->ev, .unconfirmed = b->unconfirmed };
	const char *evs;

	fprintf(f, "<title>fd %d, %s", b->fd, fdt_ftype_name(b->file.ftype));
	if (b->file.ino)
		fprintf(f, ", inode %llu", (unsigned long long)b->file.ino);
	fprintf(f, " (pid %u, epoll fd %d)\n", p->pid, b->epfd);
	if (b->seeded)
		fprintf(f, "watched: since before tracing began, until %s\n", hms(h, t2, b->del_ts));
	else if (b->add_ts)
		fprintf(f, "watched: %s to %s (%s)\n", hms(h, t1, b->add_ts), hms(h, t2, b->del_ts),
			dur(d, sizeof(d), b->del_ts - b->add_ts));
	else
		fprintf(f, "watched: until %s (the watch began unseen)\n", hms(h, t2, b->del_ts));
	if (b->leak_ts) {
		fprintf(f, "LEAK: reported %s, unwatched for %s then\n", hms(h, t1, b->leak_ts),
			dur(d, sizeof(d), b->unwatched_ns));
		evs = evidence_text(&r, ev, sizeof(ev));
		if (*evs) {
			fputs("evidence: ", f);
			esc(f, evs);
			fputc('\n', f);
		}
	}
	if (b->end != END_NONE)
		fprintf(f, "%s: %s, unwatched for %s", end_text(b->end), hms(h, t1, b->end_ts),
			dur(d, sizeof(d), b->end_ts > b->del_ts ? b->end_ts - b->del_ts : 0));
	else
		fprintf(f, "still open when tracing ended, unwatched for %s",
			dur(d, sizeof(d), h->t_max - b->del_ts));
	fputs("</title>", f);
}

static void rect(FILE *f, const char *cls, double x0, double x1, double y, double hgt,
		 double min_w)
{
	if (x1 - x0 < min_w)
		x1 = x0 + min_w;
	fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
		cls, x0, y, x1 - x0, hgt);
}

static void draw_bar(const struct html *h, FILE *f, const struct frame *fr,
		     const struct proc *p, const struct bar *b, double y, double bh)
{
	__u64 end = b->end != END_NONE ? b->end_ts : fr->t1;
	__u64 unw_end = b->leak_ts && b->leak_ts < end ? b->leak_ts : end;
	double xd = xof(fr, b->del_ts);

	fprintf(f, "<g class=\"bar\" data-fd=\"%d\" data-kind=\"%s\" data-end=\"%s\" data-del=\"%llu\"",
		b->fd, bar_kind(b), end_attr(b->end), (unsigned long long)b->del_ts);
	if (b->leak_ts)
		fprintf(f, " data-resolved=\"%d\"", b->end != END_NONE);
	fputc('>', f);
	bar_title(h, f, p, b);
	if (b->seeded || b->add_ts)
		rect(f, "w", xof(fr, b->seeded ? fr->t0 : b->add_ts), xd, y, bh, 1);
	rect(f, "u", xd, xof(fr, unw_end), y, bh, 1);
	if (b->leak_ts)
		rect(f, "l", xof(fr, b->leak_ts), xof(fr, end), y, bh, 2);
	if (b->end != END_NONE)
		rect(f, b->end == END_REWATCHED ? "er" : "ec", xof(fr, end) - 1, xof(fr, end) + 1,
		     y - 2, bh + 4, 2);
	fputs("</g>\n", f);
}

/* A step line through a series' points, with its peaks. */
static void draw_series(FILE *f, const struct frame *fr, const struct series *s,
			const char *cls, double (*yof)(__u64, __u64), __u64 ymax, __u64 until)
{
	double prev_y = 0;

	if (!s->n)
		return;
	fprintf(f, "<path class=\"%s\" d=\"", cls);
	for (__u32 i = 0; i < s->n; i++) {
		double x = xof(fr, s->pts[i].ts);

		if (!i)
			fprintf(f, "M%.1f %.1f", x, yof(s->pts[i].hi, ymax));
		else
			fprintf(f, "H%.1f V%.1f", x, yof(s->pts[i].hi, ymax));
		prev_y = yof(s->pts[i].v, ymax);
		fprintf(f, "V%.1f", prev_y);
	}
	fprintf(f, "H%.1f\"/>\n", xof(fr, until));
}

static double y_count(__u64 v, __u64 ymax)
{
	if (v > ymax)
		v = ymax;
	return CHART_TOP + CHART_H - (double)v * CHART_H / (double)ymax;
}

static __u64 series_max(const struct series *s, bool lim)
{
	__u64 m = 0;

	for (__u32 i = 0; i < s->n; i++) {
		__u64 v = lim ? s->pts[i].lim : s->pts[i].hi;

		if (v != LIMIT_INFINITY && v > m)
			m = v;
	}
	return m;
}

static void draw_proc(const struct html *h, FILE *f, const struct frame *fr, const struct proc *p)
{
	const struct series *main_s = p->sampled.n ? &p->sampled : &p->open;
	__u64 until = p->exit_ts ? p->exit_ts : p->drop_ts ? p->drop_ts : fr->t1;
	__u64 vmax = series_max(&p->open, false), ymax, limit = p->limit;
	__s32 *lanes = NULL;
	__u32 nl = 0, i, label_every = 1;
	double rh, height;
	char buf[CLOCK_HMS_LEN];
	bool limit_drawn = false;

	if (series_max(&p->sampled, false) > vmax)
		vmax = series_max(&p->sampled, false);
	if (p->sampled.n && series_max(&p->sampled, true))
		limit = series_max(&p->sampled, true);
	if (limit == LIMIT_INFINITY)
		limit = 0;
	/* the limit in scale when the count comes anywhere near it */
	ymax = nice_ceil(vmax + vmax / 10);
	if (limit && limit <= 3 * (vmax ? vmax : 1) && limit > 0) {
		ymax = nice_ceil(limit + limit / 20 + 1);
		limit_drawn = true;
	}

	if (p->nr_bars) {
		lanes = malloc(p->nr_bars * sizeof(*lanes));
		if (lanes) {
			for (i = 0; i < p->nr_bars; i++)
				lanes[i] = p->bars[i].fd;
			qsort(lanes, p->nr_bars, sizeof(*lanes), lane_cmp);
			for (i = 0; i < p->nr_bars; i++)
				if (!nl || lanes[nl - 1] != lanes[i])
					lanes[nl++] = lanes[i];
		}
	}
	rh = nl <= 40 ? 16 : nl <= 200 ? 8 : 4;
	if (rh < 11)
		label_every = (__u32)(12 / rh + 0.999);
	height = LANES_TOP + (nl ? nl * rh : 24) + 8;

	fprintf(f, "<svg class=\"tl\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\" "
		"role=\"img\" data-pid=\"%u\">\n", SVG_W, height, SVG_W, height, p->pid);
	/* grid and time axis */
	fputs("<g class=\"grid\">", f);
	for (__u64 t = fr->first_tick; t <= fr->t1; t += fr->step) {
		double x = xof(fr, t);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\"/>", x, CHART_TOP,
			x, height - 6);
		tick_label(h, fr, buf, t);
		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%s</text>", x,
			CHART_TOP + CHART_H + 18, buf);
	}
	fputs("</g>\n", f);
	fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
		SVG_L, CHART_TOP, PLOT_W, CHART_H);
	/* count axis */
	for (i = 0; i <= 2; i++) {
		__u64 v = ymax * i / 2;

		fprintf(f, "<text class=\"yl\" x=\"%d\" y=\"%.1f\">%llu</text>", SVG_L - 6,
			y_count(v, ymax) + 4, (unsigned long long)v);
	}
	fprintf(f, "<text class=\"ct\" x=\"%d\" y=\"%d\">%s</text>\n", SVG_L, CHART_TOP - 7,
		p->sampled.n ? "open fds (sampled)" : "fds open that epoll touched (from the records)");
	if (limit) {
		if (limit_drawn) {
			double y = y_count(limit, ymax);

			fprintf(f, "<line class=\"lim\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>",
				SVG_L, y, SVG_L + PLOT_W, y);
			fprintf(f, "<text class=\"liml\" x=\"%d\" y=\"%.1f\">limit %llu</text>\n",
				SVG_L + PLOT_W + 6, y + 4, (unsigned long long)limit);
		} else {
			fprintf(f, "<text class=\"liml\" x=\"%d\" y=\"%d\">limit %llu &#8593;</text>\n",
				SVG_L + PLOT_W + 6, CHART_TOP + 8, (unsigned long long)limit);
		}
	} else {
		fprintf(f, "<text class=\"liml dim\" x=\"%d\" y=\"%d\">limit unknown</text>\n",
			SVG_L + PLOT_W + 6, CHART_TOP + 8);
	}
	if (p->sampled.n)
		draw_series(f, fr, &p->open, "cnt2", y_count, ymax, until);
	draw_series(f, fr, main_s, "cnt", y_count, ymax, until);
	if (p->exit_ts) {
		double x = xof(fr, p->exit_ts);

		fprintf(f, "<line class=\"exit\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\"/>"
			"<text class=\"exitl\" x=\"%.1f\" y=\"%d\">exit</text>\n",
			x, CHART_TOP, x, height - 6, x - 3, CHART_TOP + 12);
	}
	/* one lane per fd number, its bars in time order along it */
	if (!nl)
		fprintf(f, "<text class=\"none\" x=\"%d\" y=\"%d\">no watch ended</text>\n",
			SVG_L + 6, LANES_TOP + 16);
	for (i = 0; i < nl; i++) {
		double y = LANES_TOP + i * rh;

		if (i % 2)
			fprintf(f, "<rect class=\"lane\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>",
				SVG_L, y, PLOT_W, rh);
		if (i % label_every == 0)
			fprintf(f, "<text class=\"fdl\" x=\"%d\" y=\"%.1f\">fd %d</text>\n", SVG_L - 6,
				y + rh / 2 + 4, lanes[i]);
	}
	for (i = 0; i < p->nr_bars; i++) {
		const struct bar *b = &p->bars[i];
		__s32 *l = bsearch(&b->fd, lanes, nl, sizeof(*lanes), lane_cmp);
		double bh = rh * 0.6 < 2 ? 2 : rh * 0.6;

		/* a slot handed back to the ring and not used again holds nothing */
		if (!l || !b->del_ts)
			continue;
		draw_bar(h, f, fr, p, b, LANES_TOP + (l - lanes) * rh + (rh - bh) / 2, bh);
	}
	fputs("</svg>\n", f);
	free(lanes);
}

static bool proc_has_leaks(const struct proc *p)
{
	return p->nr_leaks || (p->have_stats && p->stats.leaks);
}

static int proc_order(const void *a, const void *b, void *ctx)
{
	const struct proc *procs = ctx, *x = &procs[*(const __u32 *)a], *y = &procs[*(const __u32 *)b];

	if (proc_has_leaks(x) != proc_has_leaks(y))
		return proc_has_leaks(x) ? -1 : 1;
	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void write_proc(const struct html *h, FILE *f, const struct frame *fr, const struct proc *p)
{
	char t[CLOCK_HMS_LEN];

	fprintf(f, "<section class=\"proc\" data-pid=\"%u\">\n<h2>pid %u <span class=\"comm\">",
		p->pid, p->pid);
	esc(f, p->comm);
	fputs("</span>", f);
	if (p->exe) {
		fputs(" <span class=\"exe\">", f);
		esc(f, p->exe);
		fputs("</span>", f);
	}
	if (p->nr_leaks)
		fprintf(f, " <span class=\"badge\">%u leak%s</span>", p->nr_leaks,
			p->nr_leaks == 1 ? "" : "s");
	fputs("</h2>\n<p class=\"meta\">", f);
	if (p->cmdline) {
		fputs("<code>", f);
		esc_cmdline(f, p->cmdline, p->cmdline_len);
		fputs("</code> ", f);
	}
	if (p->cgroup) {
		fputs("cgroup <code>", f);
		esc(f, p->cgroup);
		fputs("</code> ", f);
	}
	fprintf(f, "first seen %s", hms(h, t, p->first_ts));
	if (p->exit_ts)
		fprintf(f, ", exited %s", hms(h, t, p->exit_ts));
	fputs("</p>\n", f);
	if (p->bars_dropped)
		fprintf(f, "<p class=\"note\">%llu fd bars left out (at most %u per process are kept: "
			"every leak first, then the most recent others)%s</p>\n",
			(unsigned long long)p->bars_dropped, h->o.max_bars,
			p->leaks_dropped ? "; some leaks among them" : "");
	draw_proc(h, f, fr, p);
	fputs("</section>\n", f);
}

static void write_findings(const struct html *h, FILE *f)
{
	char t[CLOCK_HMS_LEN], iso[CLOCK_RFC3339_LEN], d[32], ev[64];

	fprintf(f, "<h2 id=\"findings\">Findings</h2>\n");
	if (!h->nr_finds) {
		fputs("<p>No findings.</p>\n", f);
		return;
	}
	fputs("<table class=\"findings\"><thead><tr><th>time</th><th>event</th><th>pid</th>"
	      "<th>comm</th><th>fd</th><th>epfd</th><th>type</th><th>inode</th>"
	      "<th>unwatched</th><th>detail</th></tr></thead><tbody>\n", f);
	for (__u32 i = 0; i < h->nr_finds; i++) {
		const struct report *r = &h->finds[i];
		const char *detail = "";

		fprintf(f, "<tr class=\"%s\" data-kind=\"%s\" data-pid=\"%u\" data-fd=\"%d\" "
			"data-del=\"%llu\"><td title=\"%s\">%s</td><td>%s</td><td>%u</td><td>",
			report_attr(r->kind), report_attr(r->kind), r->pid, r->fd,
			(unsigned long long)r->del_ts_ns, rfc3339(h, iso, r->ts_ns),
			hms(h, t, r->ts_ns), report_name(r->kind), r->pid);
		esc(f, r->comm);
		fprintf(f, "</td><td>%d</td><td>%d</td><td>%s</td><td>%llu</td><td>", r->fd, r->epfd,
			fdt_ftype_name(r->file.ftype), (unsigned long long)r->file.ino);
		if (r->kind == REPORT_LEAK || r->kind == REPORT_LEAK_RESOLVED)
			fputs(dur(d, sizeof(d), r->unwatched_ns), f);
		fputs("</td><td>", f);
		if (r->kind == REPORT_LEAK)
			detail = evidence_text(r, ev, sizeof(ev));
		else if (r->kind == REPORT_LEAK_RESOLVED)
			detail = resolve_text(r->how);
		else if (r->kind == REPORT_CLOSED_WHILE_WATCHED)
			detail = "closed, but another reference keeps it watched";
		else if (r->kind == REPORT_DEREGISTER_FAILED)
			detail = "EPOLL_CTL_DEL after close (EBADF)";
		esc(f, detail);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	if (h->finds_dropped)
		fprintf(f, "<p class=\"note\">%llu more findings left out (the first %u are listed).</p>\n",
			(unsigned long long)h->finds_dropped, h->o.max_findings);
}

static bool is_null(const char *s)
{
	return !s;
}

static void th_counter(FILE *f, const char *name, const char *help)
{
	fputs("<th title=\"", f);
	esc(f, help);
	fprintf(f, "\">%s</th>", name);
}

static void write_summary(const struct html *h, FILE *f, const __u32 *order, __u32 n)
{
	/* the counters of the opening sentence always, the others when any is set */
	bool show[] = {
#define X(name, kind, text, help) false,
		FDT_PROC_COUNTERS(X)
#undef X
	};
	__u32 i, c = 0;

#define X(name, kind, text, help) show[c++] = is_null(text);
	FDT_PROC_COUNTERS(X)
#undef X
	fputs("<h2 id=\"summary\">Summary</h2>\n", f);
	for (i = 0; i < n; i++) {
		const struct proc *p = &h->procs[order[i]];

		if (!p->have_stats)
			continue;
		c = 0;
#define X(name, kind, text, help) show[c] |= p->stats.name != 0; c++;
		FDT_PROC_COUNTERS(X)
#undef X
	}
	fputs("<table class=\"summary\"><thead><tr><th>pid</th><th>comm</th>", f);
	c = 0;
#define X(name, kind, text, help) \
	if (show[c++]) th_counter(f, #name, help);
	FDT_PROC_COUNTERS(X)
#undef X
	fputs("</tr></thead><tbody>\n", f);
	for (i = 0; i < n; i++) {
		const struct proc *p = &h->procs[order[i]];

		if (!p->have_stats)
			continue;
		fprintf(f, "<tr data-pid=\"%u\"><td>%u</td><td>", p->pid, p->pid);
		esc(f, p->comm);
		fputs("</td>", f);
		c = 0;
#define X(name, kind, text, help) \
	if (show[c++]) fprintf(f, "<td class=\"n%s\">%llu</td>", \
			       p->stats.name ? "" : " zero", (unsigned long long)p->stats.name);
		FDT_PROC_COUNTERS(X)
#undef X
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	if (!h->have_totals)
		return;
	fputs("<table class=\"totals\"><thead><tr>", f);
#define X(name, help) th_counter(f, #name, help);
	FDT_TOTALS(X)
#undef X
	fputs("</tr></thead><tbody><tr>", f);
#define X(name, help) fprintf(f, "<td>%llu</td>", (unsigned long long)h->totals.name);
	FDT_TOTALS(X)
#undef X
	fputs("</tr></tbody></table>\n", f);
}

static const char page_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 4px}"
	".run{color:#555;margin:0 0 8px}.note{color:#8a5a00}.warn{color:#8a5a00}"
	".legend{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;margin:8px 0 4px;"
	"padding:6px 10px;border:1px solid #ddd;border-radius:4px;background:#fafafa}"
	".legend span{display:inline-flex;align-items:center;gap:6px}"
	".proc{border-top:1px solid #ddd;margin-top:12px}"
	".proc h2 .comm{font-weight:600}.proc h2 .exe{font-weight:400;color:#555;font-family:monospace}"
	".badge{background:#c62828;color:#fff;border-radius:9px;padding:0 8px;font-size:12px}"
	".meta{color:#555;margin:2px 0 6px;word-break:break-all}"
	"svg.tl{display:block;max-width:100%;height:auto;font:11px system-ui,sans-serif}"
	".grid line{stroke:#e4e4e4}.tick{text-anchor:middle;fill:#444}"
	".frame{fill:none;stroke:#bbb}.yl,.fdl{text-anchor:end;fill:#444}"
	".ct{fill:#333;font-weight:600}.liml{fill:#8b0000}.dim{fill:#999}"
	".lim{stroke:#8b0000;stroke-width:1.5;stroke-dasharray:6 4}"
	".cnt{fill:none;stroke:#1f4e9c;stroke-width:1.8}.cnt2{fill:none;stroke:#8fa8d4;stroke-width:1}"
	".exit{stroke:#555;stroke-dasharray:2 3}.exitl{text-anchor:end;fill:#555}"
	".lane{fill:#f6f6f6}.none{fill:#999}"
	"rect.w{fill:#9bb7d4}rect.u{fill:#f0a830}rect.l{fill:#d32f2f}"
	"rect.ec{fill:#333}rect.er{fill:#1f4e9c}"
	"g.bar:hover rect,g.bar.hl rect{stroke:#000;stroke-width:.8}"
	"table{border-collapse:collapse;margin:4px 0 10px;font-size:13px}"
	"th,td{border:1px solid #ddd;padding:2px 8px;text-align:left;white-space:nowrap}"
	"th{background:#f3f3f3}td.n{text-align:right}td.zero{color:#aaa;text-align:right}"
	"tr.leak td{color:#b71c1c}tr.hl td{background:#fff3c4}"
	".findings td:last-child{white-space:normal}"
	"#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:6px 8px;"
	"border-radius:4px;font:12px/1.4 monospace;white-space:pre;z-index:9;max-width:720px}";

/*
 * The script only moves the SVG <title>s into a faster tooltip and ties
 * the findings' rows to their bars; the page reads the same without it.
 */
static const char page_js[] =
	"(function(){'use strict';"
	"var tip=document.getElementById('tip');"
	"document.querySelectorAll('svg g[data-fd]').forEach(function(g){"
	"var t=g.querySelector('title');if(t){g.setAttribute('data-tip',t.textContent);t.remove();}});"
	"function bars(tr){var s=document.querySelector('section[data-pid=\"'+tr.dataset.pid+'\"]');"
	"return s?s.querySelectorAll('g[data-fd=\"'+tr.dataset.fd+'\"][data-del=\"'+tr.dataset.del+'\"]'):[];}"
	"document.addEventListener('mousemove',function(e){"
	"var g=e.target.closest&&e.target.closest('[data-tip]');"
	"if(!g){tip.hidden=true;return;}"
	"tip.textContent=g.getAttribute('data-tip');tip.hidden=false;"
	"var x=e.clientX+14,y=e.clientY+14,r=tip.getBoundingClientRect();"
	"if(x+r.width>innerWidth)x=Math.max(0,e.clientX-r.width-14);"
	"if(y+r.height>innerHeight)y=Math.max(0,e.clientY-r.height-14);"
	"tip.style.left=x+'px';tip.style.top=y+'px';});"
	"document.querySelectorAll('table.findings tr[data-fd]').forEach(function(tr){"
	"tr.addEventListener('mouseenter',function(){bars(tr).forEach(function(g){g.classList.add('hl');});});"
	"tr.addEventListener('mouseleave',function(){bars(tr).forEach(function(g){g.classList.remove('hl');});});"
	"tr.addEventListener('click',function(){var g=bars(tr)[0];if(g)g.scrollIntoView({block:'center'});});});"
	"document.body.setAttribute('data-ok','1');})();";

static void legend(FILE *f)
{
	static const struct { const char *svg, *text; } items[] = {
		{ "<rect class=\"w\" x=\"0\" y=\"3\" width=\"22\" height=\"8\"/>", "watched (ADD to DEL)" },
		{ "<rect class=\"u\" x=\"0\" y=\"3\" width=\"22\" height=\"8\"/>", "unwatched, open" },
		{ "<rect class=\"l\" x=\"0\" y=\"3\" width=\"22\" height=\"8\"/>", "leak: unwatched past the grace" },
		{ "<rect class=\"ec\" x=\"10\" y=\"0\" width=\"2\" height=\"14\"/>", "closed" },
		{ "<rect class=\"er\" x=\"10\" y=\"0\" width=\"2\" height=\"14\"/>", "watched again" },
		{ "<path class=\"cnt\" d=\"M0 11H8V4H22\"/>", "open fds" },
		{ "<line class=\"lim\" x1=\"0\" y1=\"7\" x2=\"22\" y2=\"7\"/>", "fd limit (RLIMIT_NOFILE)" },
	};

	fputs("<div class=\"legend\">", f);
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		fprintf(f, "<span><svg width=\"22\" height=\"14\">%s</svg>%s</span>",
			items[i].svg, items[i].text);
	fputs("</div>\n", f);
}

static void write_page(const struct html *h, FILE *f)
{
	char t0[CLOCK_RFC3339_LEN], t1[CLOCK_RFC3339_LEN], tz[16] = "", d[32];
	__u32 *order = NULL, n = 0, i, leaks = 0, leak_procs = 0;
	struct frame fr;
	time_t sec;
	struct tm tm;

	for (i = 0; i < h->nr_procs; i++) {
		leaks += h->procs[i].nr_leaks;
		leak_procs += h->procs[i].nr_leaks > 0;
	}
	frame_init(h, &fr);
	sec = (time_t)(wall_ns(h, fr.t0) / (__s64)NSEC_PER_SEC);
	if (localtime_r(&sec, &tm))
		strftime(tz, sizeof(tz), "UTC%z", &tm);

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n", f);
	fprintf(f, "<title>fdtrace: %u leak%s in %u process%s", leaks, leaks == 1 ? "" : "s",
		leak_procs, leak_procs == 1 ? "" : "es");
	if (h->host) {
		fputs(" on ", f);
		esc(f, h->host);
	}
	fprintf(f, "</title>\n<style>%s</style>\n", page_css);
	/* first, so that an error anywhere in the page's script is caught */
	fputs("<script>window.onerror=function(m){document.body&&document.body.setAttribute("
	      "'data-error',String(m));};</script>\n</head>\n<body data-ok=\"0\">\n", f);
	fputs("<h1>fdtrace: fds unwatched and never closed</h1>\n<p class=\"run\">", f);
	if (h->t_min)
		fprintf(f, "%s to %s (%s); times below are local, %s. ", rfc3339(h, t0, fr.t0),
			rfc3339(h, t1, h->t_max), dur(d, sizeof(d), h->t_max - h->t_min), tz);
	fprintf(f, "Grace %s. ", dur(d, sizeof(d), h->o.grace_ns));
	if (h->host) {
		fputs("Host <b>", f);
		esc(f, h->host);
		fputs("</b>", f);
		if (h->kernel) {
			fputs(", kernel ", f);
			esc(f, h->kernel);
		}
		fputs(". ", f);
	}
	if (h->source) {
		fputs("Source: ", f);
		esc(f, h->source);
		fputs(". ", f);
	}
	if (h->version) {
		fputs("fdtrace ", f);
		esc(f, h->version);
		fputs(".", f);
	}
	fputs("</p>\n", f);
	if (h->incomplete)
		fputs("<p class=\"note\">fdtrace ran out of memory while drawing: this page is incomplete.</p>\n", f);
	if (h->procs_dropped)
		fprintf(f, "<p class=\"note\">Only the first %u processes are drawn.</p>\n",
			h->o.max_procs);
	if (h->nr_warns) {
		fputs("<ul class=\"warn\">", f);
		for (i = 0; i < h->nr_warns; i++) {
			fprintf(f, "<li>%s ", hms(h, t0, h->warns[i].ts));
			esc(f, h->warns[i].msg);
			fputs("</li>", f);
		}
		if (h->warns_dropped)
			fprintf(f, "<li>and %llu more warnings</li>", (unsigned long long)h->warns_dropped);
		fputs("</ul>\n", f);
	}
	legend(f);

	if (h->nr_procs)
		order = malloc(h->nr_procs * sizeof(*order));
	if (order) {
		for (i = 0; i < h->nr_procs; i++)
			order[n++] = i;
		qsort_r(order, n, sizeof(*order), proc_order, h->procs);
	}
	for (i = 0; i < n; i++)
		write_proc(h, f, &fr, &h->procs[order[i]]);
	if (!h->nr_procs)
		fputs("<p>No process was seen.</p>\n", f);
	write_findings(h, f);
	write_summary(h, f, order, n);
	free(order);
	fprintf(f, "<div id=\"tip\" hidden></div>\n<script>%s</script>\n</body></html>\n", page_js);
}

/*
 * The page goes to a temporary file next to path, and is renamed into
 * place only once complete: a reader never sees half a page.  Neither
 * step follows a symlink: mkostemp() creates with O_EXCL, and the rename
 * replaces nothing (RENAME_NOREPLACE) unless force allows a regular file.
 */
/* Put tmp at path unless something is there: the rename, or a link on a
 * filesystem without RENAME_NOREPLACE. */
static int put_in_place(const char *tmp, const char *path)
{
	if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (link(tmp, path))
		return -errno;
	unlink(tmp);
	return 0;
}

int html__check_path(const char *path, bool force)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	struct stat st;
	char *dir;
	int err = 0;

	if (!path || !*path)
		return -EINVAL;
	if (!lstat(path, &st) && !(force && S_ISREG(st.st_mode)))
		return -EEXIST;
	if (slash && !slash[1])
		return -EISDIR;
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	if (stat(dir, &st))
		err = -errno;
	else if (!S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	else if (access(dir, W_OK | X_OK))
		err = -errno;
	free(dir);
	return err;
}

int html__write(struct html *h, const char *path)
{
	const char *slash, *base;
	char *tmp = NULL;
	struct stat st;
	FILE *f = NULL;
	int fd = -1, err = 0, n;

	if (!h || !path || !*path)
		return -EINVAL;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!*base)
		return -EISDIR;
	if (!lstat(path, &st) && !(h->o.force && S_ISREG(st.st_mode)))
		return -EEXIST;
	if (slash)
		n = asprintf(&tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, base);
	else
		n = asprintf(&tmp, ".%s.XXXXXX", base);
	if (n < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto out;
	}
	write_page(h, f);
	errno = 0;
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		err = -(errno ? errno : EIO);
		fclose(f);
		goto out;
	}
	if (fclose(f)) {
		err = -errno;
		goto out;
	}
	if (h->o.force && !lstat(path, &st) && S_ISREG(st.st_mode))
		err = rename(tmp, path) ? -errno : 0;
	else
		err = put_in_place(tmp, path);
out:
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

/* ---- lifecycle ---- */

static char *opt_dup(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

struct html *html__new(const struct html_opts *opts)
{
	struct html *h;
	bool fail = false;

	if (!opts || !opts->max_bars || !opts->max_points || opts->max_points < 4 ||
	    !opts->max_procs || !opts->max_findings) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->o = *opts;
	h->host = opt_dup(opts->host, &fail);
	h->kernel = opt_dup(opts->kernel, &fail);
	h->source = opt_dup(opts->source, &fail);
	h->version = opt_dup(opts->version, &fail);
	h->o.host = h->o.kernel = h->o.source = h->o.version = NULL;
	htab__init(&h->pids, sizeof(struct pid_ent), 4, NULL, NULL);
	if (fail) {
		html__free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void html__free(struct html *h)
{
	if (!h)
		return;
	for (__u32 i = 0; i < h->nr_procs; i++) {
		struct proc *p = &h->procs[i];

		htab__free(&p->fds);
		free(p->exe);
		free(p->cmdline);
		free(p->cgroup);
		free(p->bars);
		free(p->fifo);
		free(p->leaks);
		free(p->open.pts);
		free(p->sampled.pts);
	}
	for (__u32 i = 0; i < h->nr_warns; i++)
		free(h->warns[i].msg);
	free(h->procs);
	free(h->finds);
	htab__free(&h->pids);
	free(h->host);
	free(h->kernel);
	free(h->source);
	free(h->version);
	free(h);
}
