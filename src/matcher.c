// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The matching engine.  State lives per process (tgid: all threads share
 * one fd table) and, inside it, per fd, in a small open-addressing table
 * owned by the process: an exiting process frees its fds in one sweep
 * without touching anyone else's, and a closed fd leaves no trace.
 *
 * Fds whose watch ended and that are not yet reported sit in one binary
 * min-heap keyed by the time the watch ended.  Every heap node knows its
 * fd's slot and every fd knows its heap node, so a re-watch or close takes
 * its fd out in O(log n) and tick() looks only at the fds that are due.
 * Records from different CPUs may arrive slightly out of time order; the
 * heap does not care, so neither does the engine.
 *
 * Memory follows what is live: a closed fd is removed at once, fd tables
 * shrink when they empty out, an exited process is dropped whole.  Slots
 * are reused, so the steady state allocates nothing per record.
 *
 * Contract details the header leaves open:
 *  - matcher__feed() also returns -ENOMEM when state could not be grown;
 *    the record is then only partly applied.
 *  - matcher__finish() does not tick: the caller ticks at now_ns first if
 *    fds that are due should be reported before the summaries.
 *  - CLOSE and EXIT records never create a process (see on_close()).
 *  - The report callback must not call back into the matcher.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "htab.h"
#include "matcher.h"

#define NONE		((__u32)-1)
#define EP_INLINE	4	/* epoll instances per fd held without allocating */
#define FDTAB_MIN_BITS	3
#define PIDTAB_MIN_BITS	4
#define PROCS_MIN	16

enum fd_state {
	FD_EMPTY = 0,	/* free slot: a calloc'd table is all empty */
	FD_WATCHED,	/* on at least one epoll instance */
	FD_ENDED,	/* last watch removed; in the heap, waiting for grace */
	FD_LEAKED,	/* reported as a leak, still open */
	/*
	 * The kernel could not track it (map full): its closes are not
	 * seen, so nothing about it is guessed until a tracked call.
	 */
	FD_UNTRACKED,
};

/* An htab entry: the key (fd) first, then state, 0 only in a free slot. */
struct fd_ent {
	__s32 fd;
	__u8 state;		/* enum fd_state */
	__u8 ep_lost;		/* watches we could not record (ENOMEM) */
	__u16 nr_ep;		/* epoll instances in the set */
	__u32 heap_idx;		/* NONE unless FD_ENDED */
	__s32 epfd;		/* instance of the most recent watch */
	__s32 ep[EP_INLINE];
	__s32 *ep_ext;		/* set members past EP_INLINE */
	__u64 del_ts;
	struct fdt_file file;
	/*
	 * TCP: the program's read and write positions at the DEL, and as
	 * last seen by a check; when a check last saw them move.
	 */
	__u32 del_rd, del_wr, rd, wr;
	__u64 move_ts;
	__u8 tcp;		/* the positions above are known */
	__u8 paused;		/* counted in paused already */
	struct fdt_sock_id *sock;	/* where the socket went, at its last DEL */
	__u64 add_site, del_site;	/* call sites of the last ADD and DEL */
	__u32 add_py_stack, del_py_stack;	/* their Python stacks' ids */
};

struct proc {
	__u32 pid;
	__u32 next_free;	/* free list link while the slot is unused */
	__u64 first_ts;
	char comm[FDT_COMM_LEN];
	struct proc_stats st;
	struct htab fds;	/* struct fd_ent by fd */
	/*
	 * The process's epoll instances, by fd: closing the last reference
	 * to one ends every watch it held, with no DEL.
	 */
	__s32 epfds_inline[EP_INLINE];	/* most processes have one or two */
	__s32 *epfds_ext;		/* past EP_INLINE (procs[] moves: no self-pointers) */
	__u32 nr_epfds;
	/*
	 * Known only from fork or exec so far, with no epoll activity: no
	 * summary.  With --follow a build or a shell forks hundreds of
	 * children that never touch epoll; a line each would bury the
	 * findings.  Processes the user named are never quiet.
	 */
	__u8 quiet;
	__u8 active;		/* a record since the last matcher__interval() */
	__u8 pressure;		/* FD_PRESSURE reported, not re-armed since */
	/* the last fd sample (matcher__fds()); fds_ts 0: none yet */
	__u64 fds_ts;
	__u64 open_fds;
	__u64 nofile_soft, nofile_hard;
	/* --stream=summary: the kernel's running counts already added */
	__u64 k_ended, k_closed, k_rewatched;
};

/* An htab entry of the pid table */
struct pid_slot {
	__u32 pid;
	__u8 used;
	__u32 idx;		/* into matcher.procs */
};

struct matcher {
	struct matcher_opts opts;

	struct proc *procs;
	__u32 procs_cap;
	__u32 procs_used;	/* high-water mark of slots handed out */
	__u32 free_proc;
	__u32 nr_procs;

	struct htab pids;	/* struct pid_slot by pid */

	/*
	 * Records come in bursts from one process; remembering the last one
	 * saves a probe of the pid table on nearly every record.
	 */
	__u32 last_pid;
	__u32 last_idx;

	/* Ended watches by del_ts; node.a: process index, node.b: fd */
	struct heap heap;

	struct totals tot;

	/* scratch for tick(): the due fds of one batch */
	struct due *due;
	struct verify_req *reqs;
	__u32 due_cap;
};

struct due {
	__u32 pidx;
	__u32 order;		/* position in deadline order */
	__s32 fd;
	enum verdict verdict;
	__u64 key;		/* its heap key: due at key + grace */
	struct fdt_verify sock;
	char path[FDT_PATH_LEN];
};

static inline bool file_known(const struct fdt_file *f)
{
	return f->ftype != FDT_FT_UNKNOWN && f->ino != 0;
}

/*
 * Anonymous-inode files (eventfd, timerfd, epoll, ...) share one inode,
 * so a match proves little; a mismatch, though, proves the fd number now
 * names another file.
 */
static inline bool file_differs(const struct fdt_file *a, const struct fdt_file *b)
{
	if (!file_known(a) || !file_known(b))
		return false;
	return a->ino != b->ino || a->dev != b->dev || a->ftype != b->ftype;
}

static void emit(struct matcher *m, const struct report *r)
{
	if (m->opts.report)
		m->opts.report(m->opts.ctx, r);
}

/* ---- containers: fd tables, pid table and heap tell each other of moves ---- */

static inline struct fd_ent *fd_at(struct proc *p, __u32 slot)
{
	return htab__at(&p->fds, slot);
}

static inline struct fd_ent *node_ent(struct matcher *m, const struct heap_node *n)
{
	return fd_at(&m->procs[n->a], n->b);
}

/* ties in (pid, fd) order, so reports do not depend on heap history */
static bool node_tie(void *ctx, const struct heap_node *x, const struct heap_node *y)
{
	struct matcher *m = ctx;
	__u32 px = m->procs[x->a].pid, py = m->procs[y->a].pid;

	if (px != py)
		return px < py;
	return node_ent(m, x)->fd < node_ent(m, y)->fd;
}

static void node_moved(void *ctx, const struct heap_node *n, __u32 idx)
{
	node_ent(ctx, n)->heap_idx = idx;
}

/* An fd entry moved inside its table: its heap node follows it. */
static void fd_moved(void *ctx, void *ent, __u32 slot)
{
	struct matcher *m = ctx;
	struct fd_ent *e = ent;

	if (e->heap_idx != NONE)
		m->heap.v[e->heap_idx].b = slot;
}

static int heap_push(struct matcher *m, __u32 pidx, __u32 slot, __u64 del_ts)
{
	struct heap_node n = { .key = del_ts, .a = pidx, .b = slot };

	return heap__push(&m->heap, &n);
}

static void heap_remove(struct matcher *m, __u32 idx)
{
	node_ent(m, &m->heap.v[idx])->heap_idx = NONE;
	heap__remove(&m->heap, idx);
}

static inline __u32 fd_find(const struct proc *p, __s32 fd)
{
	return htab__find(&p->fds, (__u32)fd);
}

/* fd must not be in the table; returns its slot or NONE on ENOMEM */
static __u32 fd_insert(struct matcher *m, __u32 pidx, __s32 fd)
{
	struct proc *p = &m->procs[pidx];
	__u32 slot = htab__insert(&p->fds, (__u32)fd);
	struct fd_ent *e;

	if (slot == HTAB_NONE)
		return NONE;
	e = fd_at(p, slot);
	e->heap_idx = NONE;
	e->state = FD_WATCHED;
	return slot;
}

/* Slots of other fds of this process may move: do not hold them across. */
static void fd_remove(struct matcher *m, __u32 pidx, __u32 slot)
{
	struct proc *p = &m->procs[pidx];
	struct fd_ent *e = fd_at(p, slot);

	if (e->heap_idx != NONE)
		heap_remove(m, e->heap_idx);
	free(e->ep_ext);
	free(e->sock);
	htab__remove(&p->fds, slot);
}

/* ---- the set of epoll instances watching one fd ---- */

static inline __s32 *ep_at(struct fd_ent *e, unsigned int i)
{
	return i < EP_INLINE ? &e->ep[i] : &e->ep_ext[i - EP_INLINE];
}

static void ep_add(struct fd_ent *e, __s32 epfd)
{
	unsigned int i;

	for (i = 0; i < e->nr_ep; i++)
		if (*ep_at(e, i) == epfd)
			return;
	if (e->nr_ep >= EP_INLINE) {
		size_t n = e->nr_ep - EP_INLINE + 1;
		__s32 *ext = e->nr_ep < UINT16_MAX ?
			     realloc(e->ep_ext, n * sizeof(*ext)) : NULL;

		if (!ext) {
			/* still watched: a DEL we cannot place will use this up */
			if (e->ep_lost < UINT8_MAX)
				e->ep_lost++;
			return;
		}
		e->ep_ext = ext;
	}
	*ep_at(e, e->nr_ep++) = epfd;
}

/* true when no epoll instance watches the fd any more */
static bool ep_del(struct fd_ent *e, __s32 epfd)
{
	unsigned int i;

	for (i = 0; i < e->nr_ep; i++) {
		if (*ep_at(e, i) == epfd) {
			*ep_at(e, i) = *ep_at(e, e->nr_ep - 1);
			e->nr_ep--;
			goto out;
		}
	}
	/*
	 * Not ours: either a watch we could not record, or one added before
	 * we attached, which says nothing about the watches we do know.
	 */
	if (e->ep_lost)
		e->ep_lost--;
out:
	return e->nr_ep == 0 && e->ep_lost == 0;
}

/* ---- processes ---- */

static __u32 proc_find(struct matcher *m, __u32 pid)
{
	__u32 slot;

	if (m->last_idx != NONE && m->last_pid == pid)
		return m->last_idx;
	slot = htab__find(&m->pids, pid);
	if (slot == HTAB_NONE)
		return NONE;
	m->last_pid = pid;
	m->last_idx = ((struct pid_slot *)htab__at(&m->pids, slot))->idx;
	return m->last_idx;
}

static void set_comm(struct proc *p, const char *comm)
{
	memcpy(p->comm, comm, FDT_COMM_LEN);
	/* reports print it with %s: never trust the record to terminate it */
	p->comm[FDT_COMM_LEN - 1] = '\0';
}

static __u32 proc_create(struct matcher *m, __u32 pid, __u64 ts, const char *comm,
			 bool quiet)
{
	struct proc *p;
	__u32 idx, slot;

	if (m->free_proc == NONE && m->procs_used == m->procs_cap) {
		__u32 cap = m->procs_cap ? m->procs_cap * 2 : PROCS_MIN;
		struct proc *procs = realloc(m->procs, (size_t)cap * sizeof(*procs));

		if (!procs)
			return NONE;
		m->procs = procs;
		m->procs_cap = cap;
	}
	slot = htab__insert(&m->pids, pid);
	if (slot == HTAB_NONE)
		return NONE;
	if (m->free_proc != NONE) {
		idx = m->free_proc;
		m->free_proc = m->procs[idx].next_free;
	} else {
		idx = m->procs_used++;
	}
	((struct pid_slot *)htab__at(&m->pids, slot))->idx = idx;
	p = &m->procs[idx];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->next_free = NONE;
	p->first_ts = ts;
	set_comm(p, comm);
	p->quiet = quiet;
	htab__init(&p->fds, sizeof(struct fd_ent), FDTAB_MIN_BITS, fd_moved, m);
	m->nr_procs++;
	if (!quiet)
		m->tot.processes++;
	m->last_pid = pid;
	m->last_idx = idx;
	return idx;
}

/* find or create the record's process and take its comm */
static __u32 proc_get(struct matcher *m, const struct fdt_rec_hdr *h, bool quiet)
{
	__u32 idx = proc_find(m, h->pid);

	if (idx == NONE)
		return proc_create(m, h->pid, h->ts_ns, h->comm, quiet);
	set_comm(&m->procs[idx], h->comm);
	if (!quiet && m->procs[idx].quiet) {
		m->procs[idx].quiet = 0;
		m->tot.processes++;
	}
	return idx;
}

/* Forget everything about a process; open leaks stay counted in totals. */
static void proc_release(struct matcher *m, __u32 idx)
{
	struct proc *p = &m->procs[idx];
	__u32 i, cap = htab__cap(&p->fds);

	for (i = 0; i < cap; i++) {
		struct fd_ent *e = fd_at(p, i);

		if (e->state == FD_EMPTY)
			continue;
		if (e->heap_idx != NONE)
			heap_remove(m, e->heap_idx);
		free(e->ep_ext);
		free(e->sock);
	}
	htab__free(&p->fds);
	free(p->epfds_ext);
	p->epfds_ext = NULL;
	p->nr_epfds = 0;
	p->next_free = m->free_proc;
	m->free_proc = idx;
	m->nr_procs--;
	if (m->last_idx == idx)
		m->last_idx = NONE;
}

static void proc_drop(struct matcher *m, __u32 idx)
{
	__u32 slot = htab__find(&m->pids, m->procs[idx].pid);

	if (slot != HTAB_NONE)
		htab__remove(&m->pids, slot);
	proc_release(m, idx);
}

static void report_init(struct report *r, enum report_kind kind,
			const struct proc *p, __u64 ts)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->pid = p->pid;
	memcpy(r->comm, p->comm, FDT_COMM_LEN);
	r->fd = -1;
	r->epfd = -1;
	r->ts_ns = ts;
}

/* A finding about one fd that a record alone establishes: reported as the record says. */
static void emit_fd_report(struct matcher *m, enum report_kind kind, const struct proc *p,
			   const struct fdt_rec_hdr *h, __s32 fd, __s32 epfd,
			   const struct fdt_file *file)
{
	struct report rep;

	report_init(&rep, kind, p, h->ts_ns);
	rep.fd = fd;
	rep.epfd = epfd;
	rep.file = *file;
	emit(m, &rep);
}

/* ---- how long until EMFILE ---- */

/* Limits beyond this are as good as none (the kernel's nr_open is 2^30 at most). */
#define NOFILE_FINITE	(1ULL << 40)

static void forecast(const struct matcher *m, const struct proc *p, __u64 now,
		     struct fd_forecast *f)
{
	__u64 span = now > p->first_ts ? now - p->first_ts : 0;

	memset(f, 0, sizeof(*f));
	f->sampled_ns = p->fds_ts;
	f->open_fds = p->open_fds;
	f->fd_limit = p->fds_ts ? p->nofile_soft : UINT64_MAX;
	f->fd_limit_hard = p->fds_ts ? p->nofile_hard : UINT64_MAX;
	/*
	 * A leak is found a grace after its DEL: the leaks found by now are
	 * the DELs from first_ts to now - grace.  Before that, no rate.
	 */
	if (span <= m->opts.grace_ns)
		return;
	f->rate_known = true;
	f->leak_rate_per_s = (double)p->st.leaks * 1e9 / (double)(span - m->opts.grace_ns);
	/* leaks all closed again: the process is not heading for the limit */
	if (!p->st.leaks || !p->st.open_leaks || !p->fds_ts || p->nofile_soft > NOFILE_FINITE)
		return;
	f->leaking = true;
	f->fd_limit_in_s = p->open_fds >= p->nofile_soft ? 0 :
			   (double)(p->nofile_soft - p->open_fds) / f->leak_rate_per_s;
}

/* open at FDT_FD_PRESSURE_PCT (or FDT_FD_REARM_PCT) percent of soft or more */
static bool at_pct(__u64 open, __u64 soft, __u64 pct)
{
	/* open < soft <= NOFILE_FINITE: no overflow, whatever a recording says */
	return soft && soft <= NOFILE_FINITE && (open >= soft || open * 100 >= soft * pct);
}

static void emit_summary(struct matcher *m, __u32 idx, __u64 ts)
{
	const struct proc *p = &m->procs[idx];
	struct fd_forecast f;
	struct report r;

	if (p->quiet)
		return;
	report_init(&r, REPORT_SUMMARY, p, ts);
	r.stats = &p->st;
	forecast(m, p, ts, &f);
	r.fds = &f;
	emit(m, &r);
}

/* ---- state transitions ---- */

/* A report about one fd: what the engine knows of it. */
static void fill_report(struct report *r, enum report_kind kind,
			const struct proc *p, const struct fd_ent *e, __u64 ts)
{
	report_init(r, kind, p, ts);
	r->fd = e->fd;
	r->epfd = e->epfd;
	r->file = e->file;
	r->sock = e->sock;
	r->add_site = e->add_site;
	r->del_site = e->del_site;
	r->add_py_stack = e->add_py_stack;
	r->del_py_stack = e->del_py_stack;
	r->del_ts_ns = e->del_ts;
	r->unwatched_ns = ts > e->del_ts ? ts - e->del_ts : 0;
}

static void resolve_leak(struct matcher *m, __u32 pidx, struct fd_ent *e,
			 __u64 ts, enum resolve_how how)
{
	struct proc *p = &m->procs[pidx];
	struct report r;

	fill_report(&r, REPORT_LEAK_RESOLVED, p, e, ts);
	r.how = how;
	p->st.open_leaks--;
	m->tot.open_leaks--;
	emit(m, &r);
}

/* the fd stopped existing, by a close we saw or one we infer */
static void account_close(struct matcher *m, __u32 pidx, struct fd_ent *e,
			  __u64 ts, enum resolve_how how)
{
	struct proc_stats *st = &m->procs[pidx].st;

	switch (e->state) {
	case FD_ENDED:
		st->closed++;
		break;
	case FD_LEAKED:
		st->closed++;
		st->closed_late++;
		resolve_leak(m, pidx, e, ts, how);
		break;
	default:
		break;
	}
}

/*
 * The fd number now names another file than the one we track, so the old
 * file went away through a path we did not see (lost record, close before
 * we attached).  Close the old state rather than blame the new file.
 */
static void forget_stale(struct matcher *m, __u32 pidx, __u32 slot, __u64 ts)
{
	m->procs[pidx].st.corrected++;
	account_close(m, pidx, fd_at(&m->procs[pidx], slot), ts, RESOLVE_CLOSED);
	fd_remove(m, pidx, slot);
}

/* slot of (pidx, fd) for a record naming file; stale state is dropped */
static __u32 fd_lookup(struct matcher *m, __u32 pidx, __s32 fd,
		       const struct fdt_file *file, __u64 ts)
{
	struct proc *p = &m->procs[pidx];
	__u32 slot = fd_find(p, fd);

	if (slot == NONE)
		return NONE;
	if (file_differs(&fd_at(p, slot)->file, file)) {
		forget_stale(m, pidx, slot, ts);
		return NONE;
	}
	if (!file_known(&fd_at(p, slot)->file) && file_known(file))
		fd_at(p, slot)->file = *file;
	return slot;
}

static inline __s32 *epfd_at(struct proc *p, __u32 i)
{
	return i < EP_INLINE ? &p->epfds_inline[i] : &p->epfds_ext[i - EP_INLINE];
}

/* Remember epfd as one of the process's epoll instances. */
static void note_epfd(struct matcher *m, __u32 pidx, __s32 epfd)
{
	struct proc *p = &m->procs[pidx];

	for (__u32 i = 0; i < p->nr_epfds; i++)
		if (*epfd_at(p, i) == epfd)
			return;
	if (p->nr_epfds >= EP_INLINE) {
		__s32 *v = realloc(p->epfds_ext, (p->nr_epfds - EP_INLINE + 1) * sizeof(*v));

		if (!v)
			return;	/* its close will just not end watches */
		p->epfds_ext = v;
	}
	*epfd_at(p, p->nr_epfds++) = epfd;
	if (m->opts.new_epfd)
		m->opts.new_epfd(m->opts.ctx_epfd, p->pid, epfd);
}

static bool forget_epfd(struct proc *p, __s32 epfd)
{
	for (__u32 i = 0; i < p->nr_epfds; i++) {
		if (*epfd_at(p, i) == epfd) {
			*epfd_at(p, i) = *epfd_at(p, p->nr_epfds - 1);
			p->nr_epfds--;
			return true;
		}
	}
	return false;
}

static bool ep_has(struct fd_ent *e, __s32 epfd)
{
	for (unsigned int i = 0; i < e->nr_ep; i++)
		if (*ep_at(e, i) == epfd)
			return true;
	return false;
}

/*
 * The last reference to epoll instance epfd was closed: every fd it
 * watched is watched one instance less, and those it was the last for
 * are unwatched from now on, as if DEL'd.
 */
static void epoll_closed(struct matcher *m, __u32 pidx, __s32 epfd, __u64 ts)
{
	struct proc *p = &m->procs[pidx];
	__u32 i, cap = htab__cap(&p->fds);

	if (!forget_epfd(p, epfd))
		return;
	/* heap_push() moves heap nodes, never fd table slots */
	for (i = 0; i < cap; i++) {
		struct fd_ent *e = fd_at(p, i);

		if (e->state != FD_WATCHED || !ep_has(e, epfd) || !ep_del(e, epfd))
			continue;
		e->state = FD_ENDED;
		e->epfd = epfd;
		e->del_ts = e->move_ts = ts;
		e->tcp = e->paused = 0;
		p->st.watches_ended++;
		m->tot.watches_ended++;
		heap_push(m, pidx, i, ts);
	}
}

static int watch(struct matcher *m, __u32 pidx, __s32 fd, __s32 epfd,
		 const struct fdt_file *file, __u64 ts, bool seed)
{
	__u32 slot;
	struct proc *p;
	struct fd_ent *e;

	note_epfd(m, pidx, epfd);
	slot = fd_lookup(m, pidx, fd, file, ts);

	if (slot == NONE) {
		slot = fd_insert(m, pidx, fd);
		if (slot == NONE)
			return -ENOMEM;
		e = fd_at(&m->procs[pidx], slot);
		e->file = *file;
		e->epfd = epfd;
		ep_add(e, epfd);
		return 0;
	}
	p = &m->procs[pidx];
	e = fd_at(p, slot);
	switch (e->state) {
	case FD_ENDED:
		heap_remove(m, e->heap_idx);
		if (!seed)
			p->st.rewatched++;
		break;
	case FD_LEAKED:
		resolve_leak(m, pidx, e, ts, RESOLVE_REWATCHED);
		if (!seed)
			p->st.rewatched++;
		break;
	default:
		break;
	}
	e->state = FD_WATCHED;
	e->epfd = epfd;
	ep_add(e, epfd);
	return 0;
}

static int unwatch(struct matcher *m, __u32 pidx, const struct fdt_rec_epoll_ctl *r,
		   const struct fdt_sock_id *sock)
{
	__s32 fd = r->fd, epfd = r->epfd;
	const struct fdt_file *file = &r->file;
	__u64 ts = r->hdr.ts_ns;
	__u32 slot = fd_lookup(m, pidx, fd, file, ts);
	struct proc *p;
	struct fd_ent *e;
	int err;

	if (slot == NONE) {
		/* attached mid-flight: the ADD happened before we looked */
		slot = fd_insert(m, pidx, fd);
		if (slot == NONE)
			return -ENOMEM;
		e = fd_at(&m->procs[pidx], slot);
		e->file = *file;
	} else {
		e = fd_at(&m->procs[pidx], slot);
		if (e->state != FD_WATCHED) {
			/* a successful DEL proves an ADD we did not see */
			err = watch(m, pidx, fd, epfd, file, ts, false);
			if (err)
				return err;
		}
		if (!ep_del(e, epfd))
			return 0;
	}
	p = &m->procs[pidx];
	e->state = FD_ENDED;
	e->epfd = epfd;
	e->del_ts = ts;
	e->move_ts = ts;
	e->paused = 0;
	e->tcp = !!(r->flags & FDT_CTLF_TCP);
	e->del_rd = e->rd = r->rd_seq;
	e->del_wr = e->wr = r->wr_seq;
	e->del_site = r->site;
	e->del_py_stack = r->py_stack;
	if (sock) {
		if (!e->sock)
			e->sock = malloc(sizeof(*e->sock));
		if (e->sock)	/* without memory, a leak just names no peer */
			*e->sock = *sock;
	}
	p->st.watches_ended++;
	m->tot.watches_ended++;
	return heap_push(m, pidx, slot, ts);
}

/*
 * The kernel says whether it tracks the fd now.  An fd it could not track
 * is set apart (its closes will not be seen); one it tracks again after
 * that starts afresh.  Returns true when the record is to be ignored.
 */
static bool track_state(struct matcher *m, __u32 pidx, const struct fdt_rec_epoll_ctl *r)
{
	struct proc *p = &m->procs[pidx];
	__u32 slot = fd_find(p, r->fd);
	struct fd_ent *e = slot == NONE ? NULL : fd_at(p, slot);

	if (!(r->flags & FDT_CTLF_UNTRACKED)) {
		if (e && e->state == FD_UNTRACKED)
			fd_remove(m, pidx, slot);
		return false;
	}
	if (e && e->state == FD_UNTRACKED)
		return true;
	if (e) {
		/* what it was before is history we can no longer follow */
		if (e->state == FD_LEAKED) {
			p->st.open_leaks--;
			m->tot.open_leaks--;
		}
		fd_remove(m, pidx, slot);
	}
	slot = fd_insert(m, pidx, r->fd);
	if (slot != NONE)
		fd_at(p, slot)->state = FD_UNTRACKED;
	p->st.untracked++;
	m->tot.untracked++;
	return true;
}

static int on_epoll_ctl(struct matcher *m, const struct fdt_rec_epoll_ctl *r,
			const struct fdt_sock_id *sock)
{
	__u32 pidx = proc_get(m, &r->hdr, false);
	struct proc *p;

	if (pidx == NONE)
		return -ENOMEM;
	p = &m->procs[pidx];
	if (r->ret != 0) {
		if (r->op != FDT_EPOLL_CTL_DEL)
			return 0;
		if (r->ret == -ENOENT) {
			p->st.del_enoent++;
		} else if (r->ret == -EBADF) {
			p->st.deregister_failed++;
			emit_fd_report(m, REPORT_DEREGISTER_FAILED, p, &r->hdr, r->fd, r->epfd,
				       &r->file);
		}
		return 0;
	}
	if (r->fd < 0)
		return 0;
	if (track_state(m, pidx, r))
		return 0;
	switch (r->op) {
	case FDT_EPOLL_CTL_ADD:
	case FDT_EPOLL_CTL_MOD: {
		/* a MOD that succeeds on a fd we think unwatched shows a missed ADD */
		int err = watch(m, pidx, r->fd, r->epfd, &r->file, r->hdr.ts_ns, false);
		__u32 slot;

		if (!err && r->op == FDT_EPOLL_CTL_ADD && (r->site || r->py_stack) &&
		    (slot = fd_find(&m->procs[pidx], r->fd)) != NONE) {
			struct fd_ent *e = fd_at(&m->procs[pidx], slot);

			if (r->site)
				e->add_site = r->site;
			e->add_py_stack = r->py_stack;
		}
		return err;
	}
	case FDT_EPOLL_CTL_DEL:
		return unwatch(m, pidx, r, sock);
	default:
		return 0;
	}
}

static enum resolve_how close_how(__u32 how)
{
	switch (how) {
	case FDT_CLOSE_EXEC:
		return RESOLVE_EXEC;
	case FDT_CLOSE_EXIT:
		return RESOLVE_EXIT;
	default:
		return RESOLVE_CLOSED;
	}
}

static int on_close(struct matcher *m, const struct fdt_rec_close *r)
{
	__u32 pidx = proc_find(m, r->hdr.pid), slot;
	struct proc *p;
	struct fd_ent *e;
	struct report rep;

	/*
	 * Never create a process here: do_exit() fires sched_process_exit
	 * before exit_files(), so an exiting process's closes follow its
	 * EXIT record and would bring it back forever.  A close of an fd
	 * we never tracked carries nothing to match anyway.
	 */
	if (pidx == NONE) {
		/*
		 * --stream=summary sends no record of a watch until it ends:
		 * a close that leaves the file watched is the first the engine
		 * hears of the process.
		 */
		if (!(r->flags & FDT_CLOSEF_UNSEEN) || !(r->flags & FDT_CLOSEF_STILL_WATCHED))
			return 0;
		pidx = proc_get(m, &r->hdr, false);
		if (pidx == NONE)
			return -ENOMEM;
	}
	p = &m->procs[pidx];
	set_comm(p, r->hdr.comm);
	/*
	 * An epoll fd whose file lives on elsewhere (a dup, a child) keeps
	 * its watches; exec and exit end the process's use of it anyway.
	 */
	if (r->file.ftype == FDT_FT_EPOLL && !(r->flags & FDT_CLOSEF_SHARED) &&
	    r->how != FDT_CLOSE_EXEC && r->how != FDT_CLOSE_EXIT)
		epoll_closed(m, pidx, r->fd, r->hdr.ts_ns);
	slot = fd_find(p, r->fd);
	if (slot == NONE) {
		/*
		 * A watch the engine never heard of (summary mode sends none
		 * until it ends): the record says what it needs.
		 */
		if ((r->flags & FDT_CLOSEF_UNSEEN) && (r->flags & FDT_CLOSEF_STILL_WATCHED)) {
			p->st.closed_while_watched++;
			emit_fd_report(m, REPORT_CLOSED_WHILE_WATCHED, p, &r->hdr, r->fd, r->epfd,
				       &r->file);
		}
		return 0;
	}
	e = fd_at(p, slot);
	if (file_differs(&e->file, &r->file)) {
		forget_stale(m, pidx, slot, r->hdr.ts_ns);
		return 0;
	}
	if (e->state == FD_WATCHED) {
		if (r->flags & FDT_CLOSEF_STILL_WATCHED) {
			p->st.closed_while_watched++;
			fill_report(&rep, REPORT_CLOSED_WHILE_WATCHED, p, e, r->hdr.ts_ns);
			rep.del_ts_ns = 0;
			rep.unwatched_ns = 0;
			if (!file_known(&e->file))
				rep.file = r->file;
			emit(m, &rep);
		}
	} else {
		account_close(m, pidx, e, r->hdr.ts_ns, close_how(r->how));
	}
	fd_remove(m, pidx, slot);
	return 0;
}

struct fd_slot {
	__s32 fd;
	__u32 slot;
};

static int fd_slot_cmp(const void *a, const void *b)
{
	__s32 fa = ((const struct fd_slot *)a)->fd, fb = ((const struct fd_slot *)b)->fd;

	return fa < fb ? -1 : fa > fb;
}

/*
 * Resolve every reported leak of an exiting process, in fd order: a
 * person reads these lines, and hash order looks random.
 */
static void exit_resolve_leaks(struct matcher *m, __u32 pidx, __u64 ts)
{
	struct proc *p = &m->procs[pidx];
	__u32 i, n = 0, cap = htab__cap(&p->fds);
	struct fd_slot *v;

	if (!p->st.open_leaks)
		return;
	v = malloc(p->st.open_leaks * sizeof(*v));
	for (i = 0; i < cap; i++) {
		if (fd_at(p, i)->state != FD_LEAKED)
			continue;
		if (!v) {	/* no memory: hash order will do */
			account_close(m, pidx, fd_at(p, i), ts, RESOLVE_EXIT);
			continue;
		}
		v[n].fd = fd_at(p, i)->fd;
		v[n++].slot = i;
	}
	if (!v)
		return;
	qsort(v, n, sizeof(*v), fd_slot_cmp);
	for (i = 0; i < n; i++)
		account_close(m, pidx, fd_at(p, v[i].slot), ts, RESOLVE_EXIT);
	free(v);
}

/*
 * Watch cycles the kernel counted and never sent (--stream=summary).
 * The kernel's counts only grow: each reading adds what is new since the
 * last, so a live process can be read every interval and again by its
 * EXIT record without counting anything twice.
 */
static void add_kernel_counts(struct matcher *m, __u32 pidx, __u64 ended, __u64 closed,
			      __u64 rewatched)
{
	struct proc *p = &m->procs[pidx];
	__u64 d_ended = ended > p->k_ended ? ended - p->k_ended : 0;

	p->st.watches_ended += d_ended;
	p->st.closed += closed > p->k_closed ? closed - p->k_closed : 0;
	p->st.rewatched += rewatched > p->k_rewatched ? rewatched - p->k_rewatched : 0;
	m->tot.watches_ended += d_ended;
	if (d_ended)
		p->active = 1;	/* for --interval: it did something */
	p->k_ended = ended > p->k_ended ? ended : p->k_ended;
	p->k_closed = closed > p->k_closed ? closed : p->k_closed;
	p->k_rewatched = rewatched > p->k_rewatched ? rewatched : p->k_rewatched;
}

static int on_proc_exit(struct matcher *m, const struct fdt_rec_proc *r)
{
	__u32 pidx = proc_find(m, r->hdr.pid), i, cap;
	bool kc = r->k_ended || r->k_closed || r->k_rewatched || (r->proc_flags & FDT_PROCF_EPOLL);
	struct proc *p;

	/* summary mode: a process may have sent nothing but this */
	if (kc)
		pidx = proc_get(m, &r->hdr, false);
	if (pidx == NONE)
		return kc ? -ENOMEM : 0;
	add_kernel_counts(m, pidx, r->k_ended, r->k_closed, r->k_rewatched);
	p = &m->procs[pidx];
	set_comm(p, r->hdr.comm);
	if (r->lost > p->st.lost)
		p->st.lost = r->lost;
	cap = htab__cap(&p->fds);
	exit_resolve_leaks(m, pidx, r->hdr.ts_ns);
	for (i = 0; i < cap; i++) {
		struct fd_ent *e = fd_at(p, i);

		if (e->state == FD_ENDED)
			account_close(m, pidx, e, r->hdr.ts_ns, RESOLVE_EXIT);
	}
	emit_summary(m, pidx, r->hdr.ts_ns);
	proc_drop(m, pidx);
	return 0;
}

static int on_fork(struct matcher *m, const struct fdt_rec_proc *r)
{
	__u32 pidx = proc_get(m, &r->hdr, true), cidx;

	if (pidx == NONE)
		return -ENOMEM;
	if (r->child_pid == 0 || r->child_pid == r->hdr.pid)
		return 0;
	cidx = proc_find(m, r->child_pid);
	if (cidx != NONE) {
		/*
		 * Records the child made after the fork may overtake the fork
		 * record across CPUs; anything older is a previous owner of
		 * the pid whose exit we lost.
		 */
		if (m->procs[cidx].first_ts >= r->hdr.ts_ns)
			return 0;
		emit_summary(m, cidx, r->hdr.ts_ns);
		proc_drop(m, cidx);
	}
	cidx = proc_create(m, r->child_pid, r->hdr.ts_ns, r->hdr.comm, true);
	return cidx == NONE ? -ENOMEM : 0;
}

static int on_watch_seed(struct matcher *m, const struct fdt_rec_watch_seed *r)
{
	__u32 pidx = proc_get(m, &r->hdr, false);

	if (pidx == NONE)
		return -ENOMEM;
	if (r->fd < 0)
		return 0;
	return watch(m, pidx, r->fd, r->epfd, &r->file, r->hdr.ts_ns, true);
}

/* ---- API ---- */

int matcher__kernel_counts(struct matcher *m, __u32 pid, const char *comm, __u64 ended,
			   __u64 closed, __u64 rewatched, bool used_epoll, __u64 now_ns)
{
	struct fdt_rec_hdr h = { .pid = pid, .ts_ns = now_ns };
	__u32 pidx;

	if (!m)
		return -EINVAL;
	if (!ended && !closed && !rewatched && !used_epoll)
		return 0;
	pidx = proc_find(m, pid);
	if (pidx == NONE || m->procs[pidx].quiet) {
		if (comm)
			strncpy(h.comm, comm, FDT_COMM_LEN - 1);
		else if (pidx != NONE)
			memcpy(h.comm, m->procs[pidx].comm, FDT_COMM_LEN);
		pidx = proc_get(m, &h, false);
		if (pidx == NONE)
			return -ENOMEM;
		m->procs[pidx].active = 1;	/* new to --interval too */
	}
	add_kernel_counts(m, pidx, ended, closed, rewatched);
	return 0;
}

struct matcher *matcher__new(const struct matcher_opts *opts)
{
	struct matcher *m;

	if (!opts) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->opts = *opts;
	m->free_proc = NONE;
	m->last_idx = NONE;
	htab__init(&m->pids, sizeof(struct pid_slot), PIDTAB_MIN_BITS, NULL, NULL);
	heap__init(&m->heap, node_tie, node_moved, m);
	return m;
}

int matcher__feed(struct matcher *m, const void *data, size_t size)
{
	/* copied out: recordings and fixtures need not be aligned */
	union {
		struct fdt_rec_hdr hdr;
		struct fdt_rec_epoll_ctl ctl;
		struct fdt_rec_close close;
		struct fdt_rec_proc proc;
		struct fdt_rec_watch_seed seed;
	} r;
	struct fdt_sock_id sock;
	size_t need, copy;
	int err;

	if (!m)
		return -EINVAL;
	if (!data || size < sizeof(r.hdr))
		goto bad;
	memcpy(&r.hdr, data, sizeof(r.hdr));
	need = fdt_rec_min_size(r.hdr.type);
	/* unknown types are bad; longer is fine: a later ABI may append fields */
	if (!need || size < need)
		goto bad;
	/*
	 * Fields a shorter (older) record lacks read as 0.  Each byte is
	 * written once: zeroing the whole union first and copying over it
	 * doubled the engine's cost per record (bench section 5).
	 */
	copy = size < sizeof(r) ? size : sizeof(r);
	memcpy(&r, data, copy);
	if (copy < sizeof(r))
		memset((char *)&r + copy, 0, sizeof(r) - copy);
	m->tot.records++;

	switch (r.hdr.type) {
	case FDT_REC_EPOLL_CTL:
		/*
		 * A DEL of a socket may carry where it went, in the record's
		 * last bytes; what comes before them is the epoll_ctl record,
		 * whose py_stack only a record that long has.
		 */
		if ((r.ctl.flags & FDT_CTLF_SOCK) && size >= need + sizeof(sock)) {
			if (size - sizeof(sock) < sizeof(r.ctl))
				r.ctl.py_stack = 0;
			memcpy(&sock, (const char *)data + size - sizeof(sock), sizeof(sock));
			sock.path[FDT_SOCK_PATH_LEN - 1] = '\0';
			err = on_epoll_ctl(m, &r.ctl, &sock);
		} else {
			err = on_epoll_ctl(m, &r.ctl, NULL);
		}
		break;
	case FDT_REC_CLOSE:
		err = on_close(m, &r.close);
		break;
	case FDT_REC_EXEC:
		err = proc_get(m, &r.hdr, true) == NONE ? -ENOMEM : 0;
		break;
	case FDT_REC_EXIT:
		return on_proc_exit(m, &r.proc);
	case FDT_REC_FORK:
		return on_fork(m, &r.proc);
	default:
		err = on_watch_seed(m, &r.seed);
		break;
	}
	/* the record's process was active (it may have just been created) */
	if (m->last_idx != NONE && m->last_pid == r.hdr.pid)
		m->procs[m->last_idx].active = 1;
	return err;
bad:
	m->tot.bad_records++;
	return -EINVAL;
}

static int due_cmp(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	if (x->pidx != y->pidx)
		return x->pidx < y->pidx ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int due_order_cmp(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

static int due_reserve(struct matcher *m, __u32 n)
{
	struct due *d;
	struct verify_req *q;

	if (n <= m->due_cap)
		return 0;
	d = realloc(m->due, (size_t)n * sizeof(*d));
	if (!d)
		return -ENOMEM;
	m->due = d;
	q = realloc(m->reqs, (size_t)n * sizeof(*q));
	if (!q)
		return -ENOMEM;
	m->reqs = q;
	m->due_cap = n;
	return 0;
}

/*
 * Ask the check about every due fd of one process at once (the kernel
 * walks the fd table once per process, not once per fd).
 */
static void verify_group(struct matcher *m, struct due *d, __u32 n)
{
	struct proc *p = &m->procs[d[0].pidx];
	__u64 lost = 0;
	__u32 i;

	for (i = 0; i < n; i++) {
		__u32 slot = fd_find(p, d[i].fd);

		m->reqs[i].fd = d[i].fd;
		m->reqs[i].file = fd_at(p, slot)->file;
		m->reqs[i].verdict = VERDICT_UNKNOWN;
		memset(&m->reqs[i].sock, 0, sizeof(m->reqs[i].sock));
		m->reqs[i].path[0] = '\0';
	}
	if (m->opts.verify(m->opts.verify_ctx, p->pid, m->reqs, n, &lost))
		for (i = 0; i < n; i++)
			m->reqs[i].verdict = VERDICT_UNKNOWN;
	if (lost > p->st.lost)
		p->st.lost = lost;
	for (i = 0; i < n; i++) {
		d[i].verdict = m->reqs[i].verdict;
		d[i].sock = m->reqs[i].sock;
		memcpy(d[i].path, m->reqs[i].path, FDT_PATH_LEN);
		d[i].path[FDT_PATH_LEN - 1] = '\0';
	}
}

#define TCP_CLOSE_WAIT	8	/* include/net/tcp_states.h */
#define TCP_LAST_ACK	9

/*
 * What the socket's state says of an fd unwatched past the grace: in use
 * (moved bytes since we last looked), paused (data waits unread), or a
 * leak of some class.  Returns EVIDENCE_IN_USE, or the class to report
 * with, or NONE with *again set when the fd is paused and will be looked
 * at again.
 */
static enum evidence_class classify(struct matcher *m, struct proc *p, struct fd_ent *e,
				    const struct fdt_verify *sk, __u64 now, bool *again)
{
	*again = false;
	if (!(sk->sock_flags & FDT_SOCKF_SOCKET))
		return EVIDENCE_NONE;
	if ((sk->sock_flags & FDT_SOCKF_TCP) &&
	    (sk->tcp_state == TCP_CLOSE_WAIT || sk->tcp_state == TCP_LAST_ACK))
		return EVIDENCE_PEER_CLOSED;
	if (sk->sock_flags & FDT_SOCKF_PEER_GONE)
		return EVIDENCE_PEER_CLOSED;
	if ((sk->sock_flags & FDT_SOCKF_TCP) && e->tcp &&
	    (sk->rd_seq != e->rd || sk->wr_seq != e->wr)) {
		e->rd = sk->rd_seq;
		e->wr = sk->wr_seq;
		e->move_ts = now;
		return EVIDENCE_IN_USE;
	}
	if (sk->unread) {
		if (now - e->del_ts >= m->opts.pause_grace_ns)
			return EVIDENCE_BACKPRESSURED;
		if (!e->paused) {
			e->paused = 1;
			p->st.paused++;
		}
		*again = true;
		return EVIDENCE_NONE;
	}
	return EVIDENCE_IDLE;
}

static void fill_evidence(struct evidence *ev, enum evidence_class cls,
			  const struct fd_ent *e, const struct fdt_verify *sk, __u64 ts)
{
	memset(ev, 0, sizeof(*ev));
	ev->cls = cls;
	ev->sock_flags = sk->sock_flags;
	ev->tcp_state = sk->tcp_state;
	ev->unread = sk->unread;
	if ((sk->sock_flags & FDT_SOCKF_TCP) && e->tcp) {
		ev->read_since = sk->rd_seq - e->del_rd;
		ev->written_since = sk->wr_seq - e->del_wr;
	}
	ev->quiet_ns = ts > e->move_ts ? ts - e->move_ts : 0;
}

/* One due fd, its verdict known: report it, or correct what we knew. */
static void settle(struct matcher *m, const struct due *d, __u64 now, __u64 grace)
{
	struct proc *p = &m->procs[d->pidx];
	__u32 slot = fd_find(p, d->fd);
	struct fd_ent *e = fd_at(p, slot);
	__u64 ts = d->key + grace;
	enum evidence_class cls = EVIDENCE_NONE;
	struct report r;
	bool again;

	switch (d->verdict) {
	case VERDICT_GONE:
		/*
		 * A close path the records did not show (io_uring, another
		 * process sharing the fd table) must not become a finding.
		 */
		forget_stale(m, d->pidx, slot, ts);
		return;
	case VERDICT_WATCHED:
		p->st.corrected++;
		e->state = FD_WATCHED;
		return;
	case VERDICT_UNKNOWN:
		if (p->st.lost) {
			/* records were lost: an unproven leak is not reported */
			p->st.unconfirmed++;
			fd_remove(m, d->pidx, slot);
			return;
		}
		break;
	case VERDICT_SAME:
		cls = classify(m, p, e, &d->sock, now, &again);
		if (cls == EVIDENCE_IN_USE) {
			/* not forgotten: look again one grace from now */
			p->st.in_use++;
			heap_push(m, d->pidx, slot, now);
			return;
		}
		if (again) {
			/* paused: a leak only if still so at the pause grace */
			heap_push(m, d->pidx, slot, e->del_ts + m->opts.pause_grace_ns - grace);
			return;
		}
		break;
	}
	e->state = FD_LEAKED;
	p->st.leaks++;
	p->st.open_leaks++;
	if (cls == EVIDENCE_IDLE)
		p->st.leaks_idle++;
	else if (cls == EVIDENCE_PEER_CLOSED)
		p->st.leaks_peer_closed++;
	else if (cls == EVIDENCE_BACKPRESSURED)
		p->st.leaks_backpressured++;
	m->tot.leaks++;
	m->tot.open_leaks++;
	fill_report(&r, REPORT_LEAK, p, e, ts);
	fill_evidence(&r.ev, cls, e, &d->sock, ts);
	r.path = d->path;
	emit(m, &r);
}

void matcher__tick(struct matcher *m, __u64 now_ns)
{
	__u64 grace = m->opts.grace_ns;
	__u32 n = 0, max = m->opts.max_checks ?: UINT32_MAX, i, j;

	/* Take the due fds out of the heap, in the order they became due. */
	while (m->heap.nr && n < max) {
		const struct heap_node *top = heap__top(&m->heap);
		struct heap_node t = *top;

		if (now_ns <= t.key || now_ns - t.key <= grace)
			break;
		if (n == m->due_cap && due_reserve(m, n ? n * 2 : 64))
			break;
		heap_remove(m, 0);
		m->due[n] = (struct due){ .pidx = t.a, .order = n, .key = t.key,
					  .fd = fd_at(&m->procs[t.a], t.b)->fd };
		n++;
	}
	if (!n)
		return;
	if (m->opts.verify) {
		qsort(m->due, n, sizeof(*m->due), due_cmp);
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && m->due[j].pidx == m->due[i].pidx; j++)
				;
			verify_group(m, &m->due[i], j - i);
		}
		qsort(m->due, n, sizeof(*m->due), due_order_cmp);
	} else {
		for (i = 0; i < n; i++) {
			m->due[i].verdict = VERDICT_UNKNOWN;
			memset(&m->due[i].sock, 0, sizeof(m->due[i].sock));
			m->due[i].path[0] = '\0';
		}
	}
	for (i = 0; i < n; i++)
		settle(m, &m->due[i], now_ns, grace);
}

int matcher__add_pid(struct matcher *m, __u32 pid, const char *comm, __u64 now_ns)
{
	struct fdt_rec_hdr h = { .pid = pid, .ts_ns = now_ns };

	strncpy(h.comm, comm ? comm : "", FDT_COMM_LEN - 1);
	return proc_get(m, &h, false) == NONE ? -ENOMEM : 0;
}

void matcher__drop_pid(struct matcher *m, __u32 pid, __u64 now_ns)
{
	__u32 idx = proc_find(m, pid);

	if (idx == NONE)
		return;
	emit_summary(m, idx, now_ns);
	proc_drop(m, idx);
}

void matcher__interval(struct matcher *m, __u64 now_ns)
{
	__u32 i, cap = htab__cap(&m->pids);

	for (i = 0; i < cap; i++) {
		struct pid_slot *ps = htab__at(&m->pids, i);
		struct proc *p;
		struct report r;

		if (!ps->used)
			continue;
		p = &m->procs[ps->idx];
		if (!p->active || p->quiet)
			continue;
		p->active = 0;
		report_init(&r, REPORT_INTERVAL, p, now_ns);
		r.stats = &p->st;
		emit(m, &r);
	}
}

void matcher__set_lost(struct matcher *m, __u64 lost)
{
	m->tot.lost_events = lost;
}

void matcher__set_proc_lost(struct matcher *m, __u32 pid, __u64 lost)
{
	__u32 idx = proc_find(m, pid);

	if (idx != NONE && lost > m->procs[idx].st.lost)
		m->procs[idx].st.lost = lost;
}

int matcher__fds(struct matcher *m, __u32 pid, __u64 ts_ns, __u64 open_fds,
		 __u64 soft, __u64 hard)
{
	__u32 idx = proc_find(m, pid);
	struct fd_forecast f;
	struct report r;
	struct proc *p;

	if (idx == NONE)
		return 0;
	p = &m->procs[idx];
	p->fds_ts = ts_ns ?: 1;
	p->open_fds = open_fds;
	p->nofile_soft = soft;
	p->nofile_hard = hard;
	/*
	 * Once per crossing; the gap to the re-arm level keeps a process
	 * that hovers at the threshold from warning every second.
	 */
	if (!at_pct(open_fds, soft, FDT_FD_REARM_PCT))
		p->pressure = 0;
	if (p->pressure || p->quiet || !at_pct(open_fds, soft, FDT_FD_PRESSURE_PCT))
		return 0;
	p->pressure = 1;
	report_init(&r, REPORT_FD_PRESSURE, p, ts_ns);
	forecast(m, p, ts_ns, &f);
	r.fds = &f;
	emit(m, &r);
	return 0;
}

/* unwatched fds now (watches ended, neither closed nor watched again), or findings */
static bool proc_busy(const struct proc *p)
{
	const struct proc_stats *st = &p->st;

	return st->watches_ended > st->closed + st->rewatched || st->leaks ||
	       st->closed_while_watched || st->deregister_failed;
}

size_t matcher__fds_due(const struct matcher *m, __u64 now_ns, __u64 interval_ns,
			__u32 *pids, size_t max)
{
	const struct pid_slot *v = m->pids.slots;
	__u32 i, cap = htab__cap(&m->pids);
	size_t n = 0;

	for (i = 0; i < cap; i++) {
		const struct proc *p;

		if (!v[i].used)
			continue;
		p = &m->procs[v[i].idx];
		if (p->quiet)
			continue;
		if (p->fds_ts && interval_ns &&
		    (!proc_busy(p) || now_ns < p->fds_ts + interval_ns))
			continue;
		if (n < max)
			pids[n] = p->pid;
		n++;
	}
	return n;
}

int matcher__forecast(const struct matcher *m, __u32 pid, __u64 now_ns,
		      struct fd_forecast *f)
{
	__u32 slot = htab__find(&m->pids, pid);

	if (slot == HTAB_NONE)
		return -ENOENT;
	forecast(m, &m->procs[((const struct pid_slot *)htab__at(&m->pids, slot))->idx],
		 now_ns, f);
	return 0;
}

static int pid_slot_cmp(const void *a, const void *b)
{
	__u32 pa = ((const struct pid_slot *)a)->pid;
	__u32 pb = ((const struct pid_slot *)b)->pid;

	return pa < pb ? -1 : pa > pb;
}

void matcher__finish(struct matcher *m, __u64 now_ns)
{
	struct report r = {
		.kind = REPORT_TOTALS,
		.fd = -1,
		.epfd = -1,
		.ts_ns = now_ns,
		.totals = &m->tot,
	};
	struct pid_slot *v = m->pids.slots;
	__u32 i, n = 0, cap = htab__cap(&m->pids);

	/*
	 * Every process goes, so the pid table is free to be compacted and
	 * sorted in place: no allocation on the way out.
	 */
	for (i = 0; i < cap; i++)
		if (v[i].used)
			v[n++] = v[i];
	if (n)
		qsort(v, n, sizeof(*v), pid_slot_cmp);
	for (i = 0; i < n; i++) {
		emit_summary(m, v[i].idx, now_ns);
		proc_release(m, v[i].idx);
	}
	htab__free(&m->pids);
	emit(m, &r);
}

__u64 matcher__next_due(const struct matcher *m)
{
	const struct heap_node *top = heap__top(&m->heap);

	return top ? top->key + m->opts.grace_ns : UINT64_MAX;
}

const char *matcher__comm(struct matcher *m, __u32 pid)
{
	__u32 idx = proc_find(m, pid);

	return idx == NONE ? NULL : m->procs[idx].comm;
}

size_t matcher__nr_procs(const struct matcher *m)
{
	return m->nr_procs;
}

void matcher__free(struct matcher *m)
{
	__u32 i, cap;

	if (!m)
		return;
	cap = htab__cap(&m->pids);
	for (i = 0; i < cap; i++) {
		struct pid_slot *ps = htab__at(&m->pids, i);

		if (ps->used)
			proc_release(m, ps->idx);
	}
	htab__free(&m->pids);
	free(m->procs);
	heap__free(&m->heap);
	free(m->due);
	free(m->reqs);
	free(m);
}
