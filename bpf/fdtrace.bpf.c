// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fdtrace kernel side: report epoll_ctl() calls of traced processes and
 * every way an fd that epoll touched stops existing.
 *
 * Syscall and sched tracepoints: they are a stable ABI and exist where
 * kprobes and fentry do not.  Where the kernel allows fentry/fexit, the
 * syscall hooks run from there instead (hooks_fentry.bpf.h: the same
 * bodies, no syscall tracepoint attached; tracer.c picks the set at
 * start).  Two filters keep the cost off everyone else:
 * the tgid must be in traced_pids, and a close-like call must name an fd in
 * tracked_fds (an fd that epoll_ctl succeeded on).  Ordinary close()
 * traffic never reaches the ring buffer.
 *
 * Hook and map choices, as measured by `make bench` (bench/README.md):
 *  - Per-syscall tracepoints, not raw_tp/tp_btf sys_enter/sys_exit: those
 *    run for every syscall of every task (+120..140 ns on a getppid() that
 *    fdtrace has no interest in); these cost only the calls we hook.
 *  - One ring buffer record per event, reserved in place: batching would
 *    need a per-CPU staging map and still one copy per event.
 *  - A plain hash with BPF_F_NO_PREALLOC for tracked fds: preallocated,
 *    no-prealloc and LRU hashes priced the same per update+delete, and an
 *    LRU would silently evict fds whose close we must see.
 *  - The default adaptive ring buffer wakeup costs ~3 us per record; see
 *    rec_submit() for the wakeup policy instead.
 *  - --stream=summary (targ_summary): most watch cycles end well within the
 *    grace, and userspace needs none of their records.  A new watch is
 *    kept quiet (FDT_FDF_QUIET in tracked_fds), its end parked in a small
 *    "pending" map, and a close or re-ADD within the grace only bumps
 *    per-process counters.  bpf_timer is refused in tracepoint programs
 *    and iter/bpf_map_elem does not load on this kernel, so userspace
 *    reads pending a few times per grace and takes (lookup_and_delete)
 *    what stayed unwatched; the side whose delete succeeds owns an entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "fdtrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define S_IFMT   00170000
#define S_IFSOCK 0140000
#define S_IFREG  0100000
#define S_IFCHR  0020000
#define S_IFIFO  0010000
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)

/*
 * Set by the loader before load.  Wake the consumer only once this much
 * data waits: a wakeup per record costs an IPI and a context switch per
 * close().  The loader also polls on a bounded interval, so a quiet ring
 * is still drained.
 */
const volatile __u64 wakeup_bytes = 64 * 1024;	/* set by the loader, at most ring/4 */
/*
 * Only the record that crosses wakeup_bytes wakes the consumer, which is
 * edge-triggered.  Crossings can be missed when CPUs submit at once, so
 * past this much every record wakes it again.
 */
const volatile __u64 wakeup_again_bytes = 512 * 1024;	/* ring/2 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);	/* resized by the loader */
	__type(key, __u32);		/* tgid */
	__type(value, struct fdt_proc_val);
} traced_pids SEC(".maps");

/*
 * No preallocation: memory follows the number of live tracked fds, not
 * max_entries.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* resized by the loader */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_fd_key);
	__type(value, struct fdt_fd_val);
} tracked_fds SEC(".maps");

/*
 * Fleet selection (--all, --cgroup, --comm), set by the loader: a process
 * not in traced_pids is looked at only when it calls epoll_ctl, and
 * traced from then on if it is selected.  A process that never touches
 * epoll costs only the traced_pids miss; one that moves into a selected
 * cgroup later is picked up at its next epoll_ctl.
 */
#define SELECT_ALL	FDT_SELECT_ALL
#define SELECT_CGROUP	FDT_SELECT_CGROUP
#define SELECT_COMM	FDT_SELECT_COMM
#define MAX_SEL_CGROUPS	FDT_MAX_SEL_CGROUPS

const volatile __u32 targ_select = 0;	/* SELECT_*; 0: only what userspace put in traced_pids */
const volatile __u32 targ_nr_cgroups = 0;
const volatile __u32 targ_self_tgid = 0;	/* fdtrace never selects itself */
/*
 * --sample N: track 1 in N watches, chosen by a hash of the struct file,
 * so a file is tracked for its whole life or not at all (its fd number,
 * reused by other files, would not be).  0 or 1: every watch.
 */
const volatile __u32 targ_sample = 0;

/*
 * --stream=summary: a watch cycle that ends within the grace (ADD, DEL,
 * then close or ADD again) sends no record, only per-process counts
 * (struct fdt_proc_val).  Set by the loader; 0: every record (full).
 */
const volatile __u32 targ_summary = 0;
/*
 * Call sites at ADD and DEL (--stacks): the native return address, and
 * the Python frames of the processes userspace put in py_procs.
 */
const volatile __u32 targ_stacks = 1;
const volatile __u64 targ_grace_ns = 0;

/*
 * Summary mode: the fds whose watch ended and that are neither closed nor
 * watched again yet (struct fdt_pending), with what their withheld DEL
 * said.  On a healthy server it stays tiny.  Entries come at DEL and go
 * at close or ADD, or userspace takes the ones older than the grace
 * (bpf_map_lookup_and_delete_elem): whoever deletes an entry owns it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* resized by the loader, as tracked_fds */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fdt_fd_key);
	__type(value, struct fdt_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MAX_SEL_CGROUPS);
	__type(key, __u32);
	__type(value, __u32);
} sel_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[FDT_COMM_LEN]);
	__type(value, __u8);
} sel_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);	/* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FDT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	/*
	 * Per-CPU, but a preempted program can share its CPU's slot with
	 * another one: keep the count exact (hits = delivered + lost).
	 */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/*
 * Pid namespace fdtrace runs in, set by the loader when it is not the
 * initial one (a container, `unshare -p`): every pid the kernel side keys
 * maps by or writes into a record is then the pid as that namespace sees
 * it, the one the user typed and /proc shows.  A task outside it has no
 * pid there (0) and is never traced.  0: the initial namespace, global
 * pids, and none of this runs.
 */
const volatile __u32 targ_pidns_ino = 0;

#define MAX_PIDNS_LEVEL	8

/* The pid (tgid: leader) of task as seen from targ_pidns_ino, or 0. */
static __always_inline __u32 task_ns_pid(struct task_struct *task, bool leader)
{
	struct pid *pid;
	unsigned int level;

	if (leader)
		task = BPF_CORE_READ(task, group_leader);
	pid = BPF_CORE_READ(task, thread_pid);
	level = BPF_CORE_READ(pid, level);
	for (unsigned int i = 0; i < MAX_PIDNS_LEVEL; i++) {
		struct upid up;

		if (i > level)
			break;
		if (bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[i]))
			break;
		if (BPF_CORE_READ(up.ns, ns.inum) == targ_pidns_ino)
			return up.nr;
	}
	return 0;
}

/* bpf_get_current_pid_tgid(), in fdtrace's pid namespace */
static __always_inline __u64 cur_pid_tgid(void)
{
	struct task_struct *task;

	if (!targ_pidns_ino)
		return bpf_get_current_pid_tgid();
	task = (struct task_struct *)bpf_get_current_task();
	return (__u64)task_ns_pid(task, true) << 32 | task_ns_pid(task, false);
}

static __always_inline __u32 task_tgid(struct task_struct *task)
{
	return targ_pidns_ino ? task_ns_pid(task, true) : BPF_CORE_READ(task, tgid);
}

static __always_inline struct fdt_proc_val *traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced_pids, &tgid);
}

static __always_inline bool is_traced(__u32 tgid)
{
	return traced(tgid) != NULL;
}

#include "pystack.bpf.h"

/* The highest fd number the process has had tracked only grows. */
static __always_inline void note_fd(struct fdt_proc_val *pv, int fd)
{
	for (int i = 0; i < 4; i++) {
		__s64 cur = pv->max_fd;

		if (fd <= cur || __sync_val_compare_and_swap(&pv->max_fd, cur, fd) == cur)
			return;
	}
}

/* Is the current process one --all, --cgroup and --comm select? */
static __always_inline bool selected(struct task_struct *task)
{
	if (targ_select & SELECT_CGROUP) {
		bool in = false;

		/* cgroup v2: the task's cgroup is the one given or below it */
		for (__u32 i = 0; i < MAX_SEL_CGROUPS && i < targ_nr_cgroups; i++) {
			if (bpf_current_task_under_cgroup(&sel_cgroups, i) == 1) {
				in = true;
				break;
			}
		}
		if (!in)
			return false;
	}
	if (targ_select & SELECT_COMM) {
		char comm[FDT_COMM_LEN] = {};

		/* the process's name: its leader's, not a worker thread's */
		BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
		if (!bpf_map_lookup_elem(&sel_comms, comm))
			return false;
	}
	return targ_select != 0;
}

/* Trace the current process from now on, if the selection wants it. */
static __always_inline struct fdt_proc_val *select_current(__u32 tgid, struct task_struct *task)
{
	struct fdt_proc_val nv = { .max_fd = -1 };

	if (!targ_select || tgid == targ_self_tgid || !selected(task))
		return NULL;
	if (bpf_map_update_elem(&traced_pids, &tgid, &nv, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&traced_pids, &tgid)) {
		stat_inc(FDT_STAT_PROC_FULL);
		return NULL;
	}
	return traced(tgid);
}

/*
 * The struct file's address alone is a poor key: the slab hands the same
 * few addresses out again and again to a server that accepts and closes,
 * so whole runs of connections were all in or all out.  Its inode number
 * (unique per socket and pipe) mixed with it spreads them; both stay the
 * same for the file's life, so the decision does too.
 */
static __always_inline bool sampled_out(struct file *f)
{
	__u64 key;

	if (targ_sample <= 1 || !f)
		return false;
	key = (__u64)f ^ ((__u64)BPF_CORE_READ(f, f_inode, i_ino) << 17);
	return (key * 0x9E3779B97F4A7C15ULL >> 32) % targ_sample != 0;
}

static __always_inline void *rec_reserve(__u32 type, __u32 size, __u64 pid_tgid)
{
	struct fdt_rec_hdr *h;

	h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		struct fdt_proc_val *pv = traced(pid_tgid >> 32);

		stat_inc(FDT_STAT_LOST);
		/* per process too: its counts are partial, its leaks need proof */
		if (pv)
			__sync_fetch_and_add(&pv->lost, 1);
		return NULL;
	}
	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	/*
	 * The process's name, its leader's: a worker thread's own name
	 * (memcached's "mc-worker") would change from record to record.
	 */
	{
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		BPF_CORE_READ_STR_INTO(&h->comm, task, group_leader, comm);
	}
	return h;
}

static __always_inline void rec_submit(void *rec, __u32 size)
{
	/* counts this record too: it is reserved, not yet committed */
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bool crossed = avail >= wakeup_bytes && avail - size < wakeup_bytes;

	bpf_ringbuf_submit(rec, crossed || avail >= wakeup_again_bytes ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	stat_inc(FDT_STAT_EVENTS);
}

/*
 * The struct file behind fd in the current task's table, or NULL.  The
 * walk is direct loads through the BTF task pointer (an instruction each,
 * fault-safe), not bpf_probe_read_kernel() calls: ~50 ns less a walk in
 * `make bench` section 2 (cost_fdwalk, cost_fdbtf), and this runs at every
 * ADD and DEL.  Only the table slot itself, in an array of pointers the
 * verifier cannot index, is read with the helper.
 */
static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (!files || fd < 0)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * Anonymous inodes (eventfd, timerfd, signalfd, epoll) have no file type
 * bits in i_mode: tell them apart by the dentry name anon_inode_getfile()
 * gave them, e.g. "[eventfd]".
 */
static __always_inline __u32 anon_type(struct file *f)
{
	char name[8] = {};
	const unsigned char *p = BPF_CORE_READ(f, f_path.dentry, d_name.name);

	bpf_probe_read_kernel(name, sizeof(name), p);
	if (name[0] != '[')
		return FDT_FT_OTHER;
	if (name[1] == 'e' && name[2] == 'v' && name[6] == 'f')
		return FDT_FT_EVENTFD;		/* [eventfd] */
	if (name[1] == 'e' && name[2] == 'v' && name[6] == 'p')
		return FDT_FT_EPOLL;		/* [eventpoll] */
	if (name[1] == 't' && name[2] == 'i')
		return FDT_FT_TIMERFD;		/* [timerfd] */
	if (name[1] == 's' && name[2] == 'i')
		return FDT_FT_SIGNALFD;		/* [signalfd] */
	return FDT_FT_OTHER;
}

static __always_inline void file_id(struct file *f, struct fdt_file *id)
{
	struct inode *inode;
	__u32 mode;

	id->ino = 0;
	id->dev = 0;
	id->ftype = FDT_FT_UNKNOWN;
	if (!f)
		return;
	inode = BPF_CORE_READ(f, f_inode);
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	mode = BPF_CORE_READ(inode, i_mode);
	switch (mode & S_IFMT) {
	case S_IFSOCK:
		id->ftype = FDT_FT_SOCKET;
		break;
	case S_IFIFO:
		id->ftype = FDT_FT_PIPE;
		break;
	case S_IFREG:
		id->ftype = FDT_FT_REG;
		break;
	case S_IFCHR:
		id->ftype = FDT_FT_CHR;
		break;
	case 0:
		id->ftype = anon_type(f);
		break;
	default:
		id->ftype = FDT_FT_OTHER;
	}
}

/*
 * Socket state for the evidence on a finding (see struct fdt_verify).
 * Only read at a DEL and at the check before a report: nothing per read
 * or write is traced.
 */
#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define SOCK_STREAM	1
#define RCV_SHUTDOWN	1

static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *sock = BPF_CORE_READ(f, private_data);

	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

static __always_inline bool sock_is_tcp(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) &&
	       BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP &&
	       BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type) == SOCK_STREAM;
}

/* Where the socket goes: addresses and ports, or a unix path. */
static __always_inline void sock_id(struct sock *sk, struct fdt_sock_id *id)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(id, 0, sizeof(*id));
	id->family = family;
	id->type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	id->protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (family == AF_INET) {
		bpf_core_read(id->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(id->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		bpf_core_read(id->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(id->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else if (family == AF_UNIX) {
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
		int len;

		if (addr) {
			len = BPF_CORE_READ(addr, len) - 2;	/* less sun_family */
			if (len > 0) {
				bpf_probe_read_kernel(id->path, sizeof(id->path) - 1,
						      (char *)addr->name + 2);
				if (!id->path[0])
					id->path[0] = '@';	/* abstract: starts with a NUL */
			}
		}
		return;
	} else {
		return;
	}
	id->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	id->rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

static __always_inline void sock_evidence(struct file *f, struct fdt_verify *out)
{
	struct sock *sk = file_sock(f);
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	out->sock_flags = 0;
	out->tcp_state = 0;
	out->rd_seq = 0;
	out->wr_seq = 0;
	out->unread = 0;
	if (!sk)
		return;
	out->sock_flags = FDT_SOCKF_SOCKET;
	/*
	 * RCV_SHUTDOWN: the peer sent its FIN, or reset the connection, or
	 * (unix stream) closed its end: nothing more will come to read.
	 */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) & RCV_SHUTDOWN)
		out->sock_flags |= FDT_SOCKF_PEER_GONE;
	if (sock_is_tcp(sk)) {
		out->sock_flags |= FDT_SOCKF_TCP;
		out->tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);
		out->rd_seq = BPF_CORE_READ(tp, copied_seq);
		out->wr_seq = BPF_CORE_READ(tp, write_seq);
		out->unread = BPF_CORE_READ(tp, rcv_nxt) - out->rd_seq;
		/* the peer's FIN takes a sequence number, not a byte of data */
		if ((out->sock_flags & FDT_SOCKF_PEER_GONE) && out->unread)
			out->unread--;
		return;
	}
	/*
	 * Other sockets: messages waiting in the receive queue.  Not its
	 * memory charge: unix sockets charge queued data to the sender.
	 */
	out->sock_flags |= FDT_SOCKF_UNREAD_MSGS;
	out->unread = BPF_CORE_READ(sk, sk_receive_queue.qlen);
}

/*
 * Reference count of a struct file.  v6.13 (commit 90ee6ed776c0 "fs: port
 * files to file_ref") replaced atomic_long_t f_count with file_ref_t f_ref,
 * whose counter is biased: 0 means one reference.
 */
struct file___pre613 {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

static __always_inline __s64 file_refs(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref))
		return BPF_CORE_READ(f, f_ref.refcnt.counter) + 1;
	return BPF_CORE_READ((struct file___pre613 *)f, f_count.counter);
}

/*
 * Is the file on an epoll list under this fd number?  f_ep lists the
 * epitems of every epoll instance watching the file, keyed by (file, fd):
 * a dup of the fd watched under another number, or a watch held by an
 * epoll instance that was since closed (its epitems go with it), does not
 * count.  A file is rarely in more than a few instances: look at 8.
 */
static __always_inline bool watched_as(struct file *f, int fd)
{
	struct hlist_node *n = BPF_CORE_READ(f, f_ep, first);

	for (int i = 0; i < 8 && n; i++) {
		struct epitem *epi = container_of(n, struct epitem, fllink);

		if (BPF_CORE_READ(epi, ffd.fd) == fd)
			return true;
		n = BPF_CORE_READ(n, next);
	}
	return false;
}

/* What a CLOSE record says of the file; also held from dup's entry to exit. */
struct close_info {
	__s32 fd;
	__u32 flags;		/* FDT_CLOSEF_* */
	struct fdt_file file;
	__s32 epfd;		/* of the last ADD */
	/*
	 * Summary mode, what the close needs besides the record: 0 nothing,
	 * CI_SKIP send no record (a quiet watch closed without the file
	 * staying watched), CI_PENDING its watch ended: see pending_end().
	 */
	__u32 summary;
};
#define CI_SKIP		1
#define CI_PENDING	2

/*
 * What closing fd does.  cur is the file the fd names now (NULL when it
 * is already gone, as after exec), v what epoll saw.
 */
static __always_inline void close_info(int fd, struct file *cur, struct fdt_fd_val *v,
				       struct close_info *ci)
{
	ci->fd = fd;
	ci->flags = 0;
	ci->epfd = v->epfd;
	ci->summary = 0;
	if (!cur) {
		ci->file = v->id;
		return;
	}
	/*
	 * The same struct file as at the last epoll_ctl: its identity is
	 * already known, skip the pointer chase.
	 */
	if ((__u64)cur == v->file)
		ci->file = v->id;
	else
		file_id(cur, &ci->file);
	/*
	 * The fd table holds one reference.  If others remain (dup, fork,
	 * SCM_RIGHTS) and an epoll instance watches the file under this
	 * number, this close does not end the watch: epoll keeps reporting
	 * events for a number the program no longer owns.
	 */
	if (file_refs(cur) > 1) {
		ci->flags |= FDT_CLOSEF_SHARED;
		if (watched_as(cur, fd))
			ci->flags |= FDT_CLOSEF_STILL_WATCHED;
	}
}

static __always_inline void submit_close(__u64 pid_tgid, __u32 how,
					 const struct close_info *ci)
{
	struct fdt_rec_close *r;

	r = rec_reserve(FDT_REC_CLOSE, sizeof(*r), pid_tgid);
	if (!r)
		return;
	r->fd = ci->fd;
	r->how = how;
	r->flags = ci->flags;
	r->epfd = ci->epfd;
	r->file = ci->file;
	rec_submit(r, sizeof(*r));
}

/*
 * Summary mode: the withheld ADD of a quiet watch, sent when the engine
 * must follow the fd after all (see reveal_watches()), or with its
 * withheld DEL (see pending_end()).  ts_ns 0: now.
 */
static __always_inline void emit_withheld_add(__u64 pid_tgid, int fd, __s32 epfd,
					      const struct fdt_file *file, __u64 site,
					      __u32 py_stack, __u64 ts_ns)
{
	struct fdt_rec_epoll_ctl *r;

	r = rec_reserve(FDT_REC_EPOLL_CTL, sizeof(*r), pid_tgid);
	if (!r)
		return;
	if (ts_ns)
		r->hdr.ts_ns = ts_ns;
	r->epfd = epfd;
	r->fd = fd;
	r->op = FDT_EPOLL_CTL_ADD;
	r->events = 0;
	r->ret = 0;
	r->flags = 0;
	r->file = *file;
	r->rd_seq = 0;
	r->wr_seq = 0;
	r->site = site;
	r->py_stack = py_stack;
	r->pad = 0;
	rec_submit(r, sizeof(*r));
}

/*
 * Summary mode: a withheld DEL is sent after all (its fd stayed unwatched
 * past the grace), as the DEL record full mode would have sent.
 */
static __always_inline void fill_withheld_del(struct fdt_rec_epoll_ctl *r, int fd,
					      const struct fdt_pending *p)
{
	r->hdr.ts_ns = p->del_ts;
	r->epfd = p->epfd;
	r->fd = fd;
	r->op = FDT_EPOLL_CTL_DEL;
	r->events = 0;
	r->ret = 0;
	r->flags = p->flags;
	r->file = p->file;
	r->rd_seq = p->rd_seq;
	r->wr_seq = p->wr_seq;
	r->site = p->site;
	r->py_stack = p->py_stack;
	r->pad = 0;
}

static __always_inline void emit_withheld_del(__u64 pid_tgid, int fd, const struct fdt_pending *p)
{
	struct fdt_rec_epoll_ctl *r;

	/*
	 * One reservation per branch, each of a constant size: 6.1's verifier
	 * loses a spilled flag test and refuses the socket tail's copy into a
	 * record whose size it cannot tie to that test.
	 */
	if (p->flags & FDT_CTLF_SOCK) {
		r = rec_reserve(FDT_REC_EPOLL_CTL, sizeof(*r) + sizeof(struct fdt_sock_id), pid_tgid);
		if (!r)
			return;
		fill_withheld_del(r, fd, p);
		__builtin_memcpy(r + 1, &p->sock, sizeof(p->sock));
		rec_submit(r, sizeof(*r) + sizeof(struct fdt_sock_id));
	} else {
		r = rec_reserve(FDT_REC_EPOLL_CTL, sizeof(*r), pid_tgid);
		if (!r)
			return;
		fill_withheld_del(r, fd, p);
		rec_submit(r, sizeof(*r));
	}
}

/*
 * Summary mode: fd's unwatched time ends now (closed, or watched again
 * if rewatch).  Returns true when that is a benign cycle, counted here
 * and never sent; false when the caller sends what full mode sends (the
 * withheld DEL went first if the grace was over).  Only the side whose
 * delete succeeds acts on an entry: userspace may have taken it.
 */
static __always_inline bool pending_end(struct fdt_proc_val *pv, __u64 pid_tgid, int fd,
					bool rewatch)
{
	struct fdt_fd_key k = { .pid = pid_tgid >> 32, .fd = fd };
	struct fdt_pending *pp, p;
	__u64 del_ts;

	if (!targ_summary)
		return false;
	pp = bpf_map_lookup_elem(&pending, &k);
	if (!pp)
		return false;
	/* the common case needs only the time: no copy of the entry */
	del_ts = pp->del_ts;
	if (bpf_ktime_get_ns() - del_ts > targ_grace_ns) {
		p = *pp;
		if (bpf_map_delete_elem(&pending, &k))
			return false;	/* userspace has it: it sent the DEL */
		/* as userspace would have taken it: the ADD (its call site), then the DEL */
		emit_withheld_add(pid_tgid, fd, p.epfd, &p.file, p.add_site, p.add_py_stack,
				  p.del_ts);
		emit_withheld_del(pid_tgid, fd, &p);
		return false;
	}
	if (bpf_map_delete_elem(&pending, &k))
		return false;
	if (!pv)
		pv = traced(k.pid);
	if (pv) {
		__sync_fetch_and_add(&pv->k_ended, 1);
		if (rewatch)
			__sync_fetch_and_add(&pv->k_rewatched, 1);
		else
			__sync_fetch_and_add(&pv->k_closed, 1);
	}
	return true;
}

/* What summary mode does at the close of a tracked fd (close_info.summary). */
static __always_inline void summary_close(struct fdt_fd_val *v, struct close_info *ci)
{
	if (!targ_summary || !(v->flags & FDT_FDF_QUIET))
		return;
	if (!v->watches)
		ci->summary = CI_PENDING;
	else if (!(ci->flags & FDT_CLOSEF_STILL_WATCHED))
		ci->summary = CI_SKIP;
	else
		ci->flags |= FDT_CLOSEF_UNSEEN;	/* the engine must take the record's word */
}

/* Send the CLOSE record of ci unless summary mode keeps it. */
static __always_inline void close_send(struct fdt_proc_val *pv, __u64 pid_tgid, __u32 how,
				       const struct close_info *ci)
{
	if (ci->summary == CI_SKIP)
		return;
	if (ci->summary == CI_PENDING && pending_end(pv, pid_tgid, ci->fd, false))
		return;
	submit_close(pid_tgid, how, ci);
}

/* Summary mode: where a DEL's pending entry is put together (too big for the stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fdt_pending);
} pend_scratch SEC(".maps");

/* Emit a CLOSE record for a tracked fd. */
static __always_inline void emit_close(struct fdt_proc_val *pv, __u64 pid_tgid, int fd,
				       __u32 how, struct file *cur, struct fdt_fd_val *v)
{
	struct close_info ci;

	close_info(fd, cur, v, &ci);
	summary_close(v, &ci);
	close_send(pv, pid_tgid, how, &ci);
}


struct reveal_ctx {
	__u64 pid_tgid;
	__u32 lo, hi;		/* the epoll fd numbers being closed */
};

static long reveal_one(__u32 i, struct reveal_ctx *c)
{
	struct fdt_fd_key k = { .pid = c->pid_tgid >> 32, .fd = i };
	struct fdt_fd_val *v = bpf_map_lookup_elem(&tracked_fds, &k);

	if (!v || !(v->flags & FDT_FDF_QUIET) || !v->watches || v->epfd < 0 ||
	    (__u32)v->epfd < c->lo || (__u32)v->epfd > c->hi)
		return 0;
	emit_withheld_add(c->pid_tgid, i, v->epfd, &v->id, v->add_site, v->add_py_stack, 0);
	v->flags &= ~FDT_FDF_QUIET;
	return 0;
}

/*
 * Summary mode: epoll fds lo..hi are being closed (close, dup2/dup3 onto
 * one, close_range).  The quiet watches they hold end with them, which
 * the engine can only see for watches it knows: their ADDs go first.
 * A quiet watch has one instance, the epfd of its last ADD.
 */
static __always_inline void reveal_watches(__u64 pid_tgid, __u32 lo, __u32 hi)
{
	struct fdt_proc_val *pv = traced(pid_tgid >> 32);
	struct reveal_ctx c = { .pid_tgid = pid_tgid, .lo = lo, .hi = hi };

	if (!targ_summary || !pv || pv->max_fd < 0)
		return;
	bpf_loop(pv->max_fd + 1, reveal_one, &c, 0);
}

static __always_inline void close_tracked(struct fdt_proc_val *pv, __u64 pid_tgid, int fd,
					  __u32 how)
{
	struct fdt_fd_key k = { .pid = pid_tgid >> 32, .fd = fd };
	struct fdt_fd_val *v;

	v = bpf_map_lookup_elem(&tracked_fds, &k);
	if (!v)
		return;
	if (targ_summary && v->id.ftype == FDT_FT_EPOLL) {
		reveal_watches(pid_tgid, fd, fd);
		v = bpf_map_lookup_elem(&tracked_fds, &k);
		if (!v)
			return;
	}
	/* Unwatched (the leak case): what epoll saw is all the record needs. */
	emit_close(pv, pid_tgid, fd, how,
		   v->watches ? fd_file(fd) : NULL,
		   v);
	bpf_map_delete_elem(&tracked_fds, &k);
}

/*
 * The epoll fd itself is tracked too, so its close is seen: closing the
 * last reference to an instance ends every watch it held, with no DEL.
 * Its identity is learnt at that close (no fd table walk here: one map
 * update per ADD, which fails at once when the instance is known).
 */
static __always_inline void track_epfd(struct fdt_proc_val *pv, __u32 pid, int epfd)
{
	struct fdt_fd_key k = { .pid = pid, .fd = epfd };
	struct fdt_fd_val v = {
		.id.ftype = FDT_FT_EPOLL,
		.watches = 1,	/* read the file at close: shared or not */
		.epfd = -1,
	};

	if (!bpf_map_update_elem(&tracked_fds, &k, &v, BPF_NOEXIST))
		note_fd(pv, epfd);
}

/*
 * epoll_ctl is handled at exit only: the result decides everything, and
 * the arguments are still in the saved user registers, so no per-thread
 * map has to carry them from enter to exit.  regs: those registers, as
 * fexit is handed them; NULL (tracepoint): read from the task once it is
 * known to be traced, so an untraced process pays nothing for them.
 */
static __always_inline int epoll_ctl_exit(struct pt_regs *regs, int ret)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct task_struct *task;
	struct fdt_rec_epoll_ctl *r;
	struct fdt_fd_key k;
	struct fdt_fd_val nv, *v;
	struct fdt_proc_val *pv;
	struct fdt_file id;
	struct file *f;
	struct sock *sk;
	struct fdt_fd_val *quiet_del = NULL;
	bool known, quiet = false, pending_old = false;
	__u64 site = 0;
	__u32 op, flags = 0, size, zero = 0, py = 0;
	int epfd, fd;

	k.pid = pid_tgid >> 32;
	task = bpf_get_current_task_btf();
	pv = traced(k.pid);
	if (!pv)
		pv = select_current(k.pid, task);
	if (!pv)
		return 0;

	if (!regs)
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
	epfd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	op = PT_REGS_PARM2_CORE_SYSCALL(regs);
	fd = PT_REGS_PARM3_CORE_SYSCALL(regs);
	k.fd = fd;

	v = bpf_map_lookup_elem(&tracked_fds, &k);
	/*
	 * MOD of an fd we already track tells userspace nothing new, and
	 * event loops (libuv, nginx) issue it constantly.
	 */
	if (op == FDT_EPOLL_CTL_MOD && v && ret == 0)
		return 0;

	f = ret == 0 ? fd_file(fd) : NULL;
	/* not sampled: neither its watches nor its close exist for us */
	if (!v && sampled_out(f))
		return 0;
	/*
	 * A successful DEL or MOD of the struct file we saw last names the
	 * same file (another file under that number would not be on this
	 * epoll list): reuse its identity.  A new watch always reads it.
	 */
	known = v && f && v->file == (__u64)f && op != FDT_EPOLL_CTL_ADD;
	/*
	 * The same struct file has the same identity: a watch made again on
	 * it (asyncio's resume_reading after pause_reading) skips the reads.
	 */
	if (v && f && v->file == (__u64)f)
		id = v->id;
	else
		file_id(f, &id);

	/* summary mode: the call site of an ADD is kept with the fd */
	if (targ_stacks && targ_summary && ret == 0 && op != FDT_EPOLL_CTL_MOD)
		bpf_probe_read_user(&site, sizeof(site), (void *)PT_REGS_SP_CORE(regs));
	/* the Python frames above it, walked at the entry (pystack.bpf.h) */
	if (targ_stacks)
		py = py_take((__u32)pid_tgid);
	if (ret != 0 || op == FDT_EPOLL_CTL_MOD)
		py = 0;

	/*
	 * Any successful op makes the fd tracked, DEL included: a watch that
	 * began before we attached still needs its close seen.  Tracked
	 * before the record is sent, so the record can say when it is not.
	 */
	if (ret == 0 && f) {
		if (known) {
			/* DEL of the file we track: in place, no map update */
			if (op == FDT_EPOLL_CTL_DEL && v->watches)
				v->watches--;
			/* summary mode: a quiet watch's end waits in pending */
			if (op == FDT_EPOLL_CTL_DEL && targ_summary && (v->flags & FDT_FDF_QUIET)) {
				if (v->watches)
					return 0;	/* another instance still watches it */
				quiet_del = v;
			}
		} else {
			bool same = v && v->file == (__u64)f;
			__u32 pw = same ? v->watches : 0, pf = same ? v->flags : 0;

			nv.file = (__u64)f;
			nv.id = id;
			nv.watches = op == FDT_EPOLL_CTL_DEL ? 0 : 1;
			if (op == FDT_EPOLL_CTL_ADD && same)
				nv.watches += pw;	/* another epoll instance */
			nv.epfd = op == FDT_EPOLL_CTL_ADD ? epfd : (v ? v->epfd : -1);
			nv.flags = 0;
			nv.add_py_stack = op == FDT_EPOLL_CTL_ADD ? py : (v ? v->add_py_stack : 0);
			nv.add_site = op == FDT_EPOLL_CTL_ADD ? site : (v ? v->add_site : 0);
			if (targ_summary && op == FDT_EPOLL_CTL_ADD) {
				if (!v) {
					/* a new watch: nobody needs to hear of it yet */
					nv.flags = FDT_FDF_QUIET;
					quiet = true;
				} else if (same && (pf & FDT_FDF_QUIET)) {
					if (pw) {
						/*
						 * One more instance: the engine follows it in
						 * full from now on (an instance closed under
						 * its watches ends them without a DEL).
						 */
						emit_withheld_add(pid_tgid, fd, v->epfd, &v->id,
								  v->add_site, v->add_py_stack, 0);
					} else if (pending_end(pv, pid_tgid, fd, true)) {
						/* watched again within the grace */
						nv.flags = FDT_FDF_QUIET;
						quiet = true;
					}
				}
			}
			/*
			 * Another file under the number: the old one went by a
			 * path not seen.  Its withheld DEL goes first, as full
			 * mode would have sent it.
			 */
			if (targ_summary && v && !same)
				pending_old = true;
			if (pending_old) {
				struct fdt_pending *pp = bpf_map_lookup_elem(&pending, &k);
				struct fdt_pending old;

				if (pp) {
					old = *pp;
					if (!bpf_map_delete_elem(&pending, &k))
						emit_withheld_del(pid_tgid, fd, &old);
				}
			}
			if (same) {
				/* in place: a map update would allocate and free an element */
				*v = nv;
			} else if (bpf_map_update_elem(&tracked_fds, &k, &nv, BPF_ANY)) {
				stat_inc(FDT_STAT_TRACK_FULL);
				flags = FDT_CTLF_UNTRACKED;
				quiet = false;
			} else {
				note_fd(pv, fd);
			}
		}
		if (op == FDT_EPOLL_CTL_ADD)
			track_epfd(pv, k.pid, epfd);
		/* read before written: the line stays shared between CPUs */
		if (targ_summary && !(pv->flags & FDT_PROCF_EPOLL))
			pv->flags |= FDT_PROCF_EPOLL;
	}
	if (quiet)
		return 0;

	/* a DEL of a socket carries where it went, read now */
	sk = op == FDT_EPOLL_CTL_DEL && ret == 0 && id.ftype == FDT_FT_SOCKET && f ?
	     file_sock(f) : NULL;

	if (quiet_del) {
		struct fdt_pending *p = bpf_map_lookup_elem(&pend_scratch, &zero);

		if (p) {
			/*
			 * Not bpf_ktime_get_coarse_ns(), precise enough and
			 * cheaper: tracepoint programs may not call it.
			 */
			p->del_ts = bpf_ktime_get_ns();
			p->site = site;
			p->add_site = quiet_del->add_site;
			p->epfd = epfd;
			p->flags = 0;
			p->rd_seq = 0;
			p->wr_seq = 0;
			p->file = id;
			p->py_stack = py;
			p->add_py_stack = quiet_del->add_py_stack;
			p->pad = 0;
			if (sk) {
				if (sock_is_tcp(sk)) {
					p->flags |= FDT_CTLF_TCP;
					p->rd_seq = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
					p->wr_seq = BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
				}
				p->flags |= FDT_CTLF_SOCK;
				sock_id(sk, &p->sock);
			}
			if (!bpf_map_update_elem(&pending, &k, p, BPF_ANY))
				return 0;
		}
		/* no room to wait: the record goes now, and the engine knows the fd */
		quiet_del->flags &= ~FDT_FDF_QUIET;
	}

	size = sk ? sizeof(struct fdt_rec_epoll_ctl) + sizeof(struct fdt_sock_id) :
		    sizeof(struct fdt_rec_epoll_ctl);
	/*
	 * The socket tail is written right after its own reservation, of a
	 * constant size: 6.1's verifier cannot always tie a later "if (sk)"
	 * to the size reserved, and refuses the program (it did once this
	 * body was shared with fexit).
	 */
	if (sk) {
		r = rec_reserve(FDT_REC_EPOLL_CTL,
				sizeof(struct fdt_rec_epoll_ctl) + sizeof(struct fdt_sock_id), pid_tgid);
		if (r)
			sock_id(sk, (struct fdt_sock_id *)(r + 1));
	} else {
		r = rec_reserve(FDT_REC_EPOLL_CTL, sizeof(struct fdt_rec_epoll_ctl), pid_tgid);
	}
	if (r) {
		r->epfd = epfd;
		r->fd = fd;
		r->op = op;
		r->events = 0;
		r->ret = ret;
		r->rd_seq = 0;
		r->wr_seq = 0;
		r->site = site;
		r->py_stack = py;
		r->pad = 0;
		if (targ_stacks && !targ_summary && ret == 0 && op != FDT_EPOLL_CTL_MOD)
			bpf_probe_read_user(&r->site, sizeof(r->site),
					    (void *)PT_REGS_SP_CORE(regs));
		if (sk) {
			if (sock_is_tcp(sk)) {
				flags |= FDT_CTLF_TCP;
				r->rd_seq = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
				r->wr_seq = BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
			}
			flags |= FDT_CTLF_SOCK;
		}
		r->flags = flags;
		if (op != FDT_EPOLL_CTL_DEL) {
			void *uev = (void *)PT_REGS_PARM4_CORE_SYSCALL(regs);

			bpf_probe_read_user(&r->events, sizeof(r->events), uev);
		}
		r->file = id;
		rec_submit(r, size);
	}
	return 0;
}

SEC("tp/syscalls/sys_exit_epoll_ctl")
int handle_epoll_ctl(struct trace_event_raw_sys_exit *ctx)
{
	return epoll_ctl_exit(NULL, ctx->ret);
}

static __always_inline void close_enter(int fd)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct fdt_proc_val *pv = traced(pid_tgid >> 32);

	if (!pv)
		return;
	close_tracked(pv, pid_tgid, fd, FDT_CLOSE_CLOSE);
}

SEC("tp/syscalls/sys_enter_close")
int handle_close(struct trace_event_raw_sys_enter *ctx)
{
	close_enter((int)ctx->args[0]);
	return 0;
}

/*
 * dup2/dup3 close newfd if it is open and differs from a valid oldfd, but
 * only if the call succeeds: dup3 with bad flags, or a newfd past
 * RLIMIT_NOFILE, fail with newfd untouched.  What the close would say is
 * taken at entry, while newfd still names its file, and sent at exit if
 * the call returned newfd.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* tid */
	__type(value, struct close_info);
} dup_pending SEC(".maps");

static __always_inline void dup_enter(int oldfd, int newfd)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct fdt_fd_key k = { .pid = pid_tgid >> 32, .fd = newfd };
	struct fdt_fd_val *v;
	struct close_info ci;
	__u32 tid = pid_tgid;

	if (!is_traced(k.pid) || oldfd == newfd)
		return;
	/* The hash lookup first: most dups land on fds epoll never saw. */
	v = bpf_map_lookup_elem(&tracked_fds, &k);
	if (!v)
		return;
	if (!fd_file(oldfd))
		return;	/* EBADF: newfd is left alone */
	close_info(newfd, v->watches ? fd_file(newfd) : NULL, v, &ci);
	summary_close(v, &ci);
	if (bpf_map_update_elem(&dup_pending, &tid, &ci, BPF_ANY)) {
		/* no room to wait for the result: decide at entry */
		close_send(NULL, pid_tgid, FDT_CLOSE_DUP2, &ci);
		bpf_map_delete_elem(&tracked_fds, &k);
	}
}

static __always_inline void dup_exit(long ret)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct fdt_fd_key k = { .pid = pid_tgid >> 32 };
	struct close_info *ci;
	__u32 tid = pid_tgid;

	ci = bpf_map_lookup_elem(&dup_pending, &tid);
	if (!ci)
		return;
	k.fd = ci->fd;
	if (ret == ci->fd) {
		if (targ_summary && ci->file.ftype == FDT_FT_EPOLL)
			reveal_watches(pid_tgid, ci->fd, ci->fd);
		close_send(NULL, pid_tgid, FDT_CLOSE_DUP2, ci);
		bpf_map_delete_elem(&tracked_fds, &k);
	}
	bpf_map_delete_elem(&dup_pending, &tid);
}

SEC("tp/syscalls/sys_enter_dup2")
int handle_dup2(struct trace_event_raw_sys_enter *ctx)
{
	dup_enter(ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tp/syscalls/sys_exit_dup2")
int handle_dup2_exit(struct trace_event_raw_sys_exit *ctx)
{
	dup_exit(ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_dup3")
int handle_dup3(struct trace_event_raw_sys_enter *ctx)
{
	dup_enter(ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tp/syscalls/sys_exit_dup3")
int handle_dup3_exit(struct trace_event_raw_sys_exit *ctx)
{
	dup_exit(ctx->ret);
	return 0;
}

/*
 * Does fd still name the file epoll saw?  The struct file pointer alone
 * cannot say: a file closed behind our back (io_uring, a process sharing
 * the fd table) frees its struct file, and the next one allocated often
 * lands on the same address.  Inode, device and type must match too.
 * Entries seeded by userspace from /proc carry no pointer at all.
 * Anonymous-inode files (eventfd, timerfd, signalfd, epoll) share one
 * inode, so a same-type replacement at the same address is the one case
 * this cannot tell apart.
 */
static __always_inline bool survived(struct file *cur, struct fdt_fd_val *v)
{
	struct fdt_file id;

	if (v->file && (__u64)cur != v->file)
		return false;
	file_id(cur, &id);
	return id.ino == v->id.ino && id.dev == v->id.dev && id.ftype == v->id.ftype;
}

/*
 * Checking before reporting (tracer__verify()): the process whose fd
 * table the iterator walks, set by userspace before it runs.
 */
__u32 verify_tgid;

/*
 * For every fd of the process that the kernel tracks: does it still name
 * the file epoll last saw, and is it watched again?  Only the kernel can
 * tell: eventfds, timerfds and epoll fds all share one anonymous inode,
 * so /proc cannot tell one from the next.  One struct fdt_verify per
 * tracked open fd; an fd not written is not open.  One walk answers for
 * every fd of the process due at once.
 */
SEC("iter/task_file")
int verify_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fdt_fd_key k = { .pid = verify_tgid };
	struct fdt_verify out;
	struct fdt_fd_val *v;

	if (!task || !file || task_tgid(task) != verify_tgid)
		return 0;
	k.fd = ctx->fd;
	v = bpf_map_lookup_elem(&tracked_fds, &k);
	if (!v)
		return 0;
	out.fd = ctx->fd;
	out.pad = 0;
	if (!survived(file, v))
		out.verdict = FDT_VERIFY_OTHER;
	else if (watched_as(file, ctx->fd))
		out.verdict = FDT_VERIFY_WATCHED;
	else
		out.verdict = FDT_VERIFY_SAME;
	if (out.verdict == FDT_VERIFY_SAME && v->id.ftype == FDT_FT_SOCKET)
		sock_evidence(file, &out);
	else
		out.sock_flags = out.tcp_state = out.rd_seq = out.wr_seq = out.unread = 0;
	bpf_seq_write(ctx->meta->seq, &out, sizeof(out));
	return 0;
}

struct range_ctx {
	__u64 pid_tgid;
	__u32 first;
	__u32 how;
};

/*
 * bpf_loop() callback, one fd number: close it if tracked and the range
 * covers it (close_range), if it no longer names the same file (exec's
 * close-on-exec, which leaves no trace of its own), or forget it (exit).
 */
static long close_one(__u32 i, struct range_ctx *c)
{
	struct fdt_fd_key k = { .pid = c->pid_tgid >> 32, .fd = c->first + i };
	struct fdt_fd_val *v;
	struct file *cur;

	v = bpf_map_lookup_elem(&tracked_fds, &k);
	if (!v)
		return 0;
	switch (c->how) {
	case FDT_CLOSE_RANGE:
		cur = v->watches ? fd_file(k.fd) : NULL;
		break;
	case FDT_CLOSE_EXEC:
		cur = fd_file(k.fd);
		if (cur && survived(cur, v))
			return 0;
		cur = NULL;
		break;
	default:
		/*
		 * exit: userspace resolves every fd from the EXIT record; a
		 * withheld DEL is counted, or sent if its grace is over.
		 */
		if (targ_summary && (v->flags & FDT_FDF_QUIET) && !v->watches)
			pending_end(NULL, c->pid_tgid, k.fd, false);
		bpf_map_delete_elem(&tracked_fds, &k);
		return 0;
	}
	emit_close(NULL, c->pid_tgid, k.fd, c->how, cur, v);
	bpf_map_delete_elem(&tracked_fds, &k);
	return 0;
}

/*
 * Visit fd numbers first..last of the current process, but never past the
 * highest it ever had tracked: the cost follows the process's own fds
 * (like close_range itself), not the size of tracked_fds.  bpf_loop():
 * 5.17, in Debian 12's 6.1.
 */
static __always_inline void close_fds(struct fdt_proc_val *pv, __u64 pid_tgid,
				      __u32 first, __u32 last, __u32 how)
{
	struct range_ctx c = {
		.pid_tgid = pid_tgid,
		.first = first,
		.how = how,
	};
	__s64 max_fd = pv->max_fd;

	if (max_fd < 0 || first > max_fd)
		return;
	if (last > max_fd)
		last = max_fd;
	bpf_loop(last - first + 1, close_one, &c, 0);
}

static __always_inline int close_range_enter(__u32 first, __u32 last, __u32 flags)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct fdt_proc_val *pv = traced(pid_tgid >> 32);

	if (!pv)
		return 0;
	/*
	 * Decided at entry, so reject what the syscall will reject (EINVAL):
	 * unknown flags, first > last.  CLOSE_RANGE_CLOEXEC only marks fds;
	 * exec will close them.
	 */
	if ((flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) ||
	    (flags & CLOSE_RANGE_CLOEXEC) || first > last)
		return 0;
	reveal_watches(pid_tgid, first, last);
	close_fds(pv, pid_tgid, first, last, FDT_CLOSE_RANGE);
	return 0;
}

SEC("tp/syscalls/sys_enter_close_range")
int handle_close_range(struct trace_event_raw_sys_enter *ctx)
{
	return close_range_enter(ctx->args[0], ctx->args[1], ctx->args[2]);
}

/*
 * sched_process_exec fires after begin_new_exec() has run close-on-exec,
 * so whatever tracked fd no longer names its file was closed by the exec.
 */
SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pid_tgid = cur_pid_tgid();
	struct fdt_proc_val *pv = traced(pid_tgid >> 32);
	struct fdt_rec_proc *r;

	if (!pv)
		return 0;
	close_fds(pv, pid_tgid, 0, ~0U, FDT_CLOSE_EXEC);
	py_forget(pid_tgid >> 32);	/* another program: userspace looks anew */

	r = rec_reserve(FDT_REC_EXEC, sizeof(*r), pid_tgid);
	if (!r)
		return 0;
	r->child_pid = 0;
	r->exit_code = 0;
	r->lost = 0;
	r->k_ended = r->k_closed = r->k_rewatched = 0;
	r->proc_flags = 0;
	r->pad = 0;
	/*
	 * --stacks: userspace looks for an interpreter in the new program
	 * (pystack.bpf.h) before it gets far: no waiting for the threshold.
	 */
	if (targ_stacks) {
		bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
		stat_inc(FDT_STAT_EVENTS);
	} else {
		rec_submit(r, sizeof(*r));
	}
	return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 pid_tgid = cur_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct fdt_proc_val *pv = traced(tgid);
	struct task_struct *task;
	struct fdt_rec_proc *r;

	if (!pv)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	/*
	 * do_exit() decrements signal->live before this tracepoint: zero
	 * means the last thread is leaving and the fd table goes with it.
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;

	close_fds(pv, pid_tgid, 0, ~0U, FDT_CLOSE_EXIT);

	r = rec_reserve(FDT_REC_EXIT, sizeof(*r), pid_tgid);
	if (r) {
		r->child_pid = 0;
		r->exit_code = BPF_CORE_READ(task, exit_code);
		r->lost = pv->lost;
		r->k_ended = pv->k_ended;
		r->k_closed = pv->k_closed;
		r->k_rewatched = pv->k_rewatched;
		r->proc_flags = pv->flags;
		r->pad = 0;
		rec_submit(r, sizeof(*r));
	}
	py_forget(tgid);
	/* last: rec_reserve() counts a lost record against the process */
	bpf_map_delete_elem(&traced_pids, &tgid);
	return 0;
}

/*
 * Loaded only with --follow.  tp_btf rather than the classic tracepoint: it hands us the child's
 * task_struct, and only tgid tells a new process from a new thread.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 pid_tgid = cur_pid_tgid();
	__u32 ptgid = pid_tgid >> 32, ctgid;
	struct fdt_proc_val nv = { .max_fd = -1 };
	struct fdt_rec_proc *r;

	if (!is_traced(ptgid))
		return 0;
	if (child->tgid == parent->tgid)
		return 0;	/* a thread: shares the fd table */
	ctgid = task_tgid(child);
	if (!ctgid)
		return 0;
	/*
	 * The child inherits the parent's fds, but not their watches'
	 * state in tracked_fds: its own epoll_ctl calls will track them.
	 */
	if (bpf_map_update_elem(&traced_pids, &ctgid, &nv, BPF_ANY)) {
		stat_inc(FDT_STAT_PROC_FULL);
		return 0;
	}
	py_inherit(ptgid, ctgid);
	r = rec_reserve(FDT_REC_FORK, sizeof(*r), pid_tgid);
	if (!r)
		return 0;
	r->child_pid = ctgid;
	r->exit_code = 0;
	r->lost = 0;
	r->k_ended = r->k_closed = r->k_rewatched = 0;
	r->proc_flags = 0;
	r->pad = 0;
	rec_submit(r, sizeof(*r));
	return 0;
}

#include "hooks_fentry.bpf.h"
