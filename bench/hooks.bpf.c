// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Hook floor: the least a BPF tool can cost on close() and epoll_ctl() of
 * a process it does not trace, per kind of hook.  Each variant is a pair
 * of programs in the place fdtrace hooks (close entry, epoll_ctl exit)
 * that only decide "not my process" and return; hook_floor.c loads one
 * variant at a time.
 *
 *   tp_empty   classic syscall tracepoints, no filter at all: the price
 *              of the hook mechanism itself (perf trace buffer, args copy,
 *              bpf_prog_run_array)
 *   tp_const   classic tracepoints, tgid compared with a rodata constant
 *   tp_hash    classic tracepoints, tgid looked up in a hash map: exactly
 *              fdtrace's early filter, nothing else
 *   raw_const  raw_tp sys_enter/sys_exit: runs for every syscall of every
 *              task, tgid constant first, syscall number second
 *   btf_const  tp_btf sys_enter/sys_exit: same, with BTF-typed arguments
 *   fent_const fentry __x64_sys_close / fexit __x64_sys_epoll_ctl (x86-64
 *              only): a trampoline on exactly the two syscalls
 *
 * The cost_* variants price, one at a time, the operations fdtrace does
 * per record in the process it traces.  Each is one program on close()
 * entry that passes the tgid check and then does one thing; syscall_cost's
 * close(-1) loop in the target process measures it against cost_base:
 *
 *   cost_base    tgid constant check only
 *   cost_lookup  tgid hash lookup + (tgid, fd) hash lookup that misses:
 *                fdtrace's path for a close() of an fd epoll never saw
 *   cost_ktime   bpf_ktime_get_ns()
 *   cost_comm    bpf_get_current_comm()
 *   cost_fdfile  fd table walk + file identity (probe reads), on fd 0
 *   cost_fdwalk  the fd table walk alone, with probe reads, on fd 0
 *   cost_fdbtf   the same walk as direct loads through the BTF task pointer
 *                (fdtrace's fd_file()): only the slot read is a probe read
 *   cost_rb      ring buffer reserve + submit of an 80-byte record,
 *                BPF_RB_NO_WAKEUP (the loader polls every millisecond)
 *   cost_rbq     the same plus bpf_ringbuf_query(BPF_RB_AVAIL_DATA),
 *                result unused: the price of the query alone
 *   cost_rbf     fdtrace's policy: query, and BPF_RB_FORCE_WAKEUP once
 *                64 KiB wait (the loader sleeps in epoll like fdtrace)
 *   cost_rbe     query, and BPF_RB_FORCE_WAKEUP only on the record that
 *                takes the backlog across 64 KiB: one wakeup per 64 KiB
 *                (the consumer's epoll is level-triggered and fdtrace
 *                polls on a bounded interval anyway, so none is missed)
 *   cost_rbd     default flags: the kernel's adaptive wakeup, only when
 *                the consumer has caught up with this record
 *   cost_hnp     hash update + delete, BPF_F_NO_PREALLOC (fdtrace's
 *                tracked_fds: one update per ADD, one delete per close)
 *   cost_hpre    the same on a preallocated hash
 *   cost_lru     the same on an LRU hash
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* x86-64 syscall numbers; the raw hooks see every syscall */
#define NR_close	3
#define NR_epoll_ctl	233

const volatile __u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} pids SEC(".maps");

/*
 * [0] hits in the target process: proves the variant was attached and
 * working; [1] forced ring buffer wakeups
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline int count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &idx);

	if (v)
		(*v)++;
	return 0;
}

static __always_inline int hit(void)
{
	return count(0);
}

static __always_inline bool mine_const(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

static __always_inline bool mine_hash(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&pids, &tgid) != NULL;
}

struct fd_key {
	__u32 pid;
	__s32 fd;
};

struct fd_val {
	__u64 file;
	__u64 ino;
	__u32 dev;
	__u32 ftype;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fd_key);
	__type(value, struct fd_val);
} fds_noprealloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fd_key);
	__type(value, struct fd_val);
} fds_prealloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fd_key);
	__type(value, struct fd_val);
} fds_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} rb SEC(".maps");

SEC("tp/syscalls/sys_enter_close")
int tp_empty_close(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_epoll_ctl")
int tp_empty_epoll(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_enter_close")
int tp_const_close(void *ctx)
{
	return mine_const() ? hit() : 0;
}

SEC("tp/syscalls/sys_exit_epoll_ctl")
int tp_const_epoll(void *ctx)
{
	return mine_const() ? hit() : 0;
}

SEC("tp/syscalls/sys_enter_close")
int tp_hash_close(void *ctx)
{
	return mine_hash() ? hit() : 0;
}

SEC("tp/syscalls/sys_exit_epoll_ctl")
int tp_hash_epoll(void *ctx)
{
	return mine_hash() ? hit() : 0;
}

/* raw sys_enter args: (struct pt_regs *regs, long id) */
SEC("raw_tp/sys_enter")
int raw_const_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (!mine_const() || ctx->args[1] != NR_close)
		return 0;
	return hit();
}

/* raw sys_exit args: (struct pt_regs *regs, long ret); the nr is orig_ax */
SEC("raw_tp/sys_exit")
int raw_const_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (!mine_const() || BPF_CORE_READ(regs, orig_ax) != NR_epoll_ctl)
		return 0;
	return hit();
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_const_enter, struct pt_regs *regs, long id)
{
	if (!mine_const() || id != NR_close)
		return 0;
	return hit();
}

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_const_exit, struct pt_regs *regs, long ret)
{
	if (!mine_const() || regs->orig_ax != NR_epoll_ctl)
		return 0;
	return hit();
}

SEC("fentry/__x64_sys_close")
int BPF_PROG(fent_const_close, struct pt_regs *regs)
{
	return mine_const() ? hit() : 0;
}

SEC("fexit/__x64_sys_epoll_ctl")
int BPF_PROG(fent_const_epoll, struct pt_regs *regs, long ret)
{
	return mine_const() ? hit() : 0;
}

/* ---- per-operation costs in the traced process (see the top) ---- */

struct rec {
	__u32 type;
	__u32 size;
	__u64 ts;
	__u32 pid;
	__u32 tid;
	char comm[16];
	__u64 pad[5];
};

_Static_assert(sizeof(struct rec) == 80, "same size as fdt_rec_epoll_ctl");

SEC("tp/syscalls/sys_enter_close")
int cost_base_close(void *ctx)
{
	return mine_const() ? hit() : 0;
}

SEC("tp/syscalls/sys_enter_close")
int cost_lookup_close(struct trace_event_raw_sys_enter *ctx)
{
	struct fd_key k = { .pid = bpf_get_current_pid_tgid() >> 32, .fd = ctx->args[0] };

	if (!mine_hash())
		return 0;
	if (bpf_map_lookup_elem(&fds_noprealloc, &k))
		return 0;
	return hit();
}

SEC("tp/syscalls/sys_enter_close")
int cost_ktime_close(void *ctx)
{
	volatile __u64 t;

	if (!mine_const())
		return 0;
	t = bpf_ktime_get_ns();
	(void)t;
	return hit();
}

SEC("tp/syscalls/sys_enter_close")
int cost_comm_close(void *ctx)
{
	char comm[16];

	if (!mine_const())
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	return comm[0] ? hit() : 0;
}

/* fd 0's struct file, every step a probe read (fdtrace before fd_file()'s direct loads) */
static __always_inline struct file *fd0_probe_reads(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;

	if (!fdt || BPF_CORE_READ(fdt, max_fds) < 1)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[0]);
	return f;
}

SEC("tp/syscalls/sys_enter_close")
int cost_fdfile_close(void *ctx)
{
	struct inode *inode;
	struct file *f;
	char name[8] = {};
	__u64 sum;

	if (!mine_const())
		return 0;
	f = fd0_probe_reads();
	if (!f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	sum = BPF_CORE_READ(inode, i_ino) + BPF_CORE_READ(inode, i_sb, s_dev) +
	      BPF_CORE_READ(inode, i_mode);
	bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	return sum + name[0] ? hit() : 0;
}

SEC("tp/syscalls/sys_enter_close")
int cost_fdwalk_close(void *ctx)
{
	if (!mine_const())
		return 0;
	return fd0_probe_reads() ? hit() : 0;
}

SEC("tp/syscalls/sys_enter_close")
int cost_fdbtf_close(void *ctx)
{
	struct task_struct *task;
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds, *f = NULL;

	if (!mine_const())
		return 0;
	task = bpf_get_current_task_btf();
	files = task->files;
	if (!files)
		return 0;
	fdt = files->fdt;
	if (!fdt || fdt->max_fds < 1)
		return 0;
	fds = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[0]);
	return f ? hit() : 0;
}

enum rb_policy { RB_NOWAKE, RB_QUERY, RB_THRESHOLD, RB_EDGE, RB_ADAPTIVE };

static __always_inline int rb_one(enum rb_policy policy)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), avail;
	struct rec *r;

	if ((pid_tgid >> 32) != targ_tgid)
		return 0;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r)
		return 0;
	r->type = 1;
	r->size = sizeof(*r);
	r->ts = 0;
	r->pid = pid_tgid >> 32;
	r->tid = (__u32)pid_tgid;
	__builtin_memset(r->comm, 0, sizeof(r->comm));
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	switch (policy) {
	case RB_NOWAKE:
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	case RB_QUERY:
		avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
		r->ts = avail;	/* keep the call */
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	case RB_THRESHOLD:
		avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
		if (avail >= (64 << 10)) {
			bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
			count(1);
		} else {
			bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		}
		break;
	case RB_EDGE:
		avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
		/* avail counts this record (and its 8-byte header) already */
		if (avail >= (64 << 10) && avail < (64 << 10) + sizeof(*r) + 8) {
			bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
			count(1);
		} else {
			bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		}
		break;
	default:
		bpf_ringbuf_submit(r, 0);
	}
	return hit();
}

SEC("tp/syscalls/sys_enter_close")
int cost_rb_close(void *ctx)
{
	return rb_one(RB_NOWAKE);
}

SEC("tp/syscalls/sys_enter_close")
int cost_rbq_close(void *ctx)
{
	return rb_one(RB_QUERY);
}

SEC("tp/syscalls/sys_enter_close")
int cost_rbf_close(void *ctx)
{
	return rb_one(RB_THRESHOLD);
}

SEC("tp/syscalls/sys_enter_close")
int cost_rbe_close(void *ctx)
{
	return rb_one(RB_EDGE);
}

SEC("tp/syscalls/sys_enter_close")
int cost_rbd_close(void *ctx)
{
	return rb_one(RB_ADAPTIVE);
}

static __always_inline int upd_del(void *map)
{
	struct fd_key k = { .pid = bpf_get_current_pid_tgid() >> 32, .fd = 7 };
	struct fd_val v = { .file = 1, .ino = 2 };

	if (k.pid != targ_tgid)
		return 0;
	bpf_map_update_elem(map, &k, &v, BPF_ANY);
	bpf_map_delete_elem(map, &k);
	return hit();
}

SEC("tp/syscalls/sys_enter_close")
int cost_hnp_close(void *ctx)
{
	return upd_del(&fds_noprealloc);
}

SEC("tp/syscalls/sys_enter_close")
int cost_hpre_close(void *ctx)
{
	return upd_del(&fds_prealloc);
}

SEC("tp/syscalls/sys_enter_close")
int cost_lru_close(void *ctx)
{
	return upd_del(&fds_lru);
}
