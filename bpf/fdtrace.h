/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fdtrace record ABI: the one header shared by the BPF programs and
 * userspace.  Every record the kernel side emits is defined here.
 *
 * The same bytes travel through the BPF ring buffer, live in test
 * fixtures and (later) in recording files, so every field is a fixed-size
 * integer: no bool, long, enum-typed field or pointer.  Layouts are pinned
 * with _Static_assert; changing one is an ABI change and must bump
 * FDT_ABI_VERSION.
 */
#ifndef __FDTRACE_H
#define __FDTRACE_H

/* BPF programs get the __u32 family from vmlinux.h */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define FDT_ABI_VERSION		5
#define FDT_COMM_LEN		16

/* Fleet selection (rodata targ_select), shared with the loader */
#define FDT_SELECT_ALL		0x1
#define FDT_SELECT_CGROUP	0x2
#define FDT_SELECT_COMM		0x4
#define FDT_MAX_SEL_CGROUPS	16

/* fdt_rec_hdr.type */
#define FDT_REC_EPOLL_CTL	1	/* epoll_ctl() returned */
#define FDT_REC_CLOSE		2	/* an fd that epoll touched stopped existing */
#define FDT_REC_EXEC		3	/* process exec'd (after close-on-exec ran) */
#define FDT_REC_EXIT		4	/* last thread of a process exited */
#define FDT_REC_FORK		5	/* traced process forked a traced child */
#define FDT_REC_WATCH_SEED	6	/* watch that existed before fdtrace attached */
#define FDT_REC_MAX		7

/* epoll_ctl op, as in <sys/epoll.h> */
#define FDT_EPOLL_CTL_ADD	1
#define FDT_EPOLL_CTL_DEL	2
#define FDT_EPOLL_CTL_MOD	3

/* fdt_rec_close.how: which path closed the fd */
#define FDT_CLOSE_CLOSE		1	/* close(2) */
#define FDT_CLOSE_RANGE		2	/* close_range(2) */
#define FDT_CLOSE_DUP2		3	/* dup2/dup3 onto an open fd */
#define FDT_CLOSE_EXEC		4	/* close-on-exec at execve */
#define FDT_CLOSE_EXIT		5	/* process exit */

/* fdt_file.ftype: what the open file is */
#define FDT_FT_UNKNOWN		0	/* fd was not open when read */
#define FDT_FT_SOCKET		1
#define FDT_FT_PIPE		2	/* pipe or FIFO */
#define FDT_FT_EVENTFD		3
#define FDT_FT_TIMERFD		4
#define FDT_FT_SIGNALFD		5
#define FDT_FT_EPOLL		6
#define FDT_FT_REG		7	/* regular file */
#define FDT_FT_CHR		8	/* character device (tty, ...) */
#define FDT_FT_OTHER		9
#define FDT_FT_MAX		10

/* fdt_rec_epoll_ctl.flags */
#define FDT_CTLF_UNTRACKED	0x1	/* tracked_fds was full: closes of fd are not seen */
#define FDT_CTLF_TCP		0x2	/* DEL of a TCP socket: rd_seq, wr_seq are set */
#define FDT_CTLF_SOCK		0x4	/* a struct fdt_sock_id follows the record */

/* fdt_rec_close.flags */
#define FDT_CLOSEF_STILL_WATCHED 0x1	/* file still on an epoll list after close */
#define FDT_CLOSEF_SHARED	0x2	/* other references to the file remain */
#define FDT_CLOSEF_UNSEEN	0x4	/* --stream=summary: no record of the watch was sent */

/* fdt_verify.verdict: what the verify_files iterator found */
#define FDT_VERIFY_SAME		1	/* fd still names the file epoll saw, unwatched */
#define FDT_VERIFY_OTHER	2	/* fd names another file now */
#define FDT_VERIFY_WATCHED	3	/* same file, and an epoll instance watches it under this fd */

/* Per-CPU counters in the "stats" map, indexed by FDT_STAT_* */
#define FDT_STAT_EVENTS		0	/* records submitted to the ring buffer */
#define FDT_STAT_LOST		1	/* ring buffer reserve failed: record lost */
#define FDT_STAT_TRACK_FULL	2	/* epoll_ctl on an fd that could not be tracked: map full */
#define FDT_STAT_PROC_FULL	3	/* child could not be followed: map full */
#define FDT_STAT_MAX		4

/* Identity of the open file behind an fd, read from the task's fd table. */
struct fdt_file {
	__u64 ino;		/* inode number (socket:[ino] for sockets) */
	__u32 dev;		/* superblock dev_t, kernel encoding */
	__u32 ftype;		/* FDT_FT_* */
};

struct fdt_rec_hdr {
	__u32 type;		/* FDT_REC_* */
	__u32 size;		/* size of the whole record in bytes */
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;		/* tgid: the process */
	__u32 tid;		/* the thread that made the call */
	char comm[FDT_COMM_LEN];
};

struct fdt_rec_epoll_ctl {
	struct fdt_rec_hdr hdr;
	__s32 epfd;
	__s32 fd;
	__u32 op;		/* FDT_EPOLL_CTL_* */
	__u32 events;		/* EPOLL* mask given to ADD/MOD */
	__s32 ret;		/* 0 or -errno */
	__u32 flags;		/* FDT_CTLF_* */
	struct fdt_file file;	/* what fd named at the call */
	/*
	 * FDT_CTLF_TCP: where the program's reads (copied_seq) and writes
	 * (write_seq) stood when the watch ended; only the program moves
	 * them, so the check before a report can tell a socket still in use
	 * from a forgotten one.
	 */
	__u32 rd_seq;
	__u32 wr_seq;
	/*
	 * ADD and DEL: the call site, the return address of the syscall's
	 * caller.  glibc's epoll_ctl() is a frameless stub, so at the syscall
	 * the word at the user stack pointer is the return address into the
	 * function that called it: exact without frame pointers.  0 if
	 * unreadable.
	 */
	__u64 site;
	/*
	 * ADD and DEL in a Python 3.11 process fdtrace knows: the id of the
	 * calling thread's Python frames in the py_stacks map (fdtrace_py.h);
	 * 0 if none.  Appended within ABI 5: a record written before ends
	 * here (FDT_REC_EPOLL_CTL_V5_SIZE), and its fdt_sock_id, if any,
	 * follows at that offset, so the socket is always the record's last
	 * sizeof(struct fdt_sock_id) bytes.
	 */
	__u32 py_stack;
	__u32 pad;
};
#define FDT_REC_EPOLL_CTL_V5_SIZE	96

/*
 * What a socket was connected to, read when its watch ended (so it is
 * still known after the peer is gone): appended to a DEL's
 * fdt_rec_epoll_ctl (FDT_CTLF_SOCK, hdr.size covers it).
 */
#define FDT_SOCK_PATH_LEN	64
#define FDT_AF_UNIX		1	/* fdt_sock_id.family: the kernel's AF_* */
#define FDT_AF_INET		2
#define FDT_AF_INET6		10
struct fdt_sock_id {
	__u16 family;		/* AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, ... */
	__u16 type;		/* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;		/* IPPROTO_TCP, ... */
	__u16 lport;		/* host order; inet only */
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];		/* network order: 4 bytes for AF_INET */
	__u8 raddr[16];
	/* AF_UNIX: the bound path (the listener's, for an accepted socket); "@..." abstract */
	char path[FDT_SOCK_PATH_LEN];
};

struct fdt_rec_close {
	struct fdt_rec_hdr hdr;
	__s32 fd;
	__u32 how;		/* FDT_CLOSE_* */
	__u32 flags;		/* FDT_CLOSEF_* */
	__s32 epfd;		/* epoll fd of the fd's last ADD, -1 if unknown (ABI 4: 0) */
	struct fdt_file file;	/* what fd named just before it was closed */
};

/* FDT_REC_EXEC, FDT_REC_EXIT, FDT_REC_FORK */
struct fdt_rec_proc {
	struct fdt_rec_hdr hdr;
	__u32 child_pid;	/* FORK: the new process; else 0 */
	__s32 exit_code;	/* EXIT: wait status as in task->exit_code */
	__u64 lost;		/* EXIT: records of the process lost before this one */
	/*
	 * EXIT, ABI 5 (--stream=summary): watch cycles the kernel kept to
	 * itself, ended within the grace (struct fdt_proc_val).  Records of
	 * ABI 4 end before k_ended: FDT_REC_PROC_V4_SIZE.
	 */
	__u64 k_ended;
	__u64 k_closed;
	__u64 k_rewatched;
	__u32 proc_flags;	/* EXIT: FDT_PROCF_* (ABI 5 too; earlier: 0) */
	__u32 pad;
};
#define FDT_REC_PROC_V4_SIZE	56

/* FDT_REC_WATCH_SEED: synthesised by userspace from /proc at attach */
struct fdt_rec_watch_seed {
	struct fdt_rec_hdr hdr;
	__s32 epfd;
	__s32 fd;
	__u32 events;
	__u32 pad;
	struct fdt_file file;
};

/*
 * Map layouts userspace also writes: tracked_fds holds every fd epoll_ctl
 * succeeded on in a traced process, until it is closed.
 */
struct fdt_fd_key {
	__u32 pid;
	__s32 fd;
};

struct fdt_fd_val {
	/*
	 * The struct file when epoll last touched the fd.  A different
	 * pointer under the same number later means the number was reused.
	 * 0 for a watch userspace found in /proc when it attached.
	 */
	__u64 file;
	struct fdt_file id;
	/*
	 * Epoll instances watching it, as far as ADD and DEL tell.  A close
	 * of an fd nobody watches cannot be closed_while_watched, so it
	 * needs no look at the fd table.
	 */
	__u32 watches;
	__s32 epfd;		/* epoll fd of the last ADD (-1: unknown) */
	__u32 flags;		/* FDT_FDF_* */
	__u32 add_py_stack;	/* --stream=summary: the last ADD's Python stack id */
	__u64 add_site;		/* --stream=summary: the last ADD's call site */
};

/* fdt_fd_val.flags */
#define FDT_FDF_QUIET		0x1	/* summary mode: no record of this watch was sent */

/*
 * --stream=summary: "pending" map value, keyed by struct fdt_fd_key: an
 * fd whose last watch ended (DEL) and that was neither closed nor
 * watched again yet, with everything the withheld DEL record would have
 * said.  Whoever deletes the entry (kernel at close/ADD, userspace once
 * the grace is over) owns it.
 */
struct fdt_pending {
	__u64 del_ts;		/* the DEL's bpf_ktime_get_ns() */
	__u64 site;		/* the DEL's call site */
	__u64 add_site;		/* the last ADD's call site */
	__s32 epfd;
	__u32 flags;		/* FDT_CTLF_TCP, FDT_CTLF_SOCK */
	__u32 rd_seq;
	__u32 wr_seq;
	struct fdt_file file;
	struct fdt_sock_id sock;	/* FDT_CTLF_SOCK */
	__u32 py_stack;		/* the DEL's Python stack id */
	__u32 add_py_stack;	/* the last ADD's Python stack id */
	__u32 pad;
};

/* traced_pids value: per traced process, kept by the kernel side */
struct fdt_proc_val {
	/*
	 * Highest fd number ever tracked for the process: close_range, exec
	 * and exit look at fd numbers up to here, so their cost follows the
	 * process's own fd table, never the size of tracked_fds.
	 */
	__s64 max_fd;		/* 64-bit: cmpxchg needs it below BPF ISA v3 */
	__u64 lost;		/* records of this process lost (ring buffer full) */
	/*
	 * --stream=summary: watch cycles that ended within the grace and
	 * were never sent (the EXIT record carries them): watches ended,
	 * of which closed, of which watched again.
	 */
	__u64 k_ended;
	__u64 k_closed;
	__u64 k_rewatched;
	__u32 flags;		/* FDT_PROCF_* */
	__u32 pad;
};

/*
 * fdt_proc_val.flags and fdt_rec_proc.proc_flags.  --stream=summary: an
 * epoll_ctl of the process succeeded.  Its watches may all be quiet, so
 * userspace learns from this flag (read with the counts, and in the EXIT
 * record) that the process uses epoll, as full mode's records would say.
 */
#define FDT_PROCF_EPOLL		0x1
#define FDT_SOCKF_SOCKET	0x1	/* a socket: unread is set */
#define FDT_SOCKF_TCP		0x2	/* TCP: tcp_state, rd_seq, wr_seq are set */
#define FDT_SOCKF_PEER_GONE	0x4	/* the peer shut its end or reset it: nothing more will come */
#define FDT_SOCKF_UNREAD_MSGS	0x8	/* unread counts queued messages (not TCP), not bytes */

/* One line of the verify_files iterator's output */
struct fdt_verify {
	__s32 fd;
	__u32 verdict;		/* FDT_VERIFY_* */
	__u32 sock_flags;	/* FDT_SOCKF_* */
	__u32 tcp_state;	/* TCP_ESTABLISHED (1) ... as in include/net/tcp_states.h */
	__u32 rd_seq;		/* TCP: copied_seq now */
	__u32 wr_seq;		/* TCP: write_seq now */
	__u32 unread;		/* queued, not yet read by the program: bytes (TCP) or messages */
	__u32 pad;
};

/*
 * The least a record of this kernel type must hold (a later ABI may
 * append fields), or 0 for a type that is not the kernel's: the one
 * answer for every consumer of the record bytes.
 */
static inline __u32 fdt_rec_min_size(__u32 type)
{
	switch (type) {
	case FDT_REC_EPOLL_CTL:		return FDT_REC_EPOLL_CTL_V5_SIZE;	/* before py_stack */
	case FDT_REC_CLOSE:		return sizeof(struct fdt_rec_close);
	case FDT_REC_EXEC:
	case FDT_REC_EXIT:
	case FDT_REC_FORK:		return FDT_REC_PROC_V4_SIZE;	/* ABI 4 ends before the counts */
	case FDT_REC_WATCH_SEED:	return sizeof(struct fdt_rec_watch_seed);
	default:			return 0;
	}
}

_Static_assert(sizeof(struct fdt_fd_key) == 8, "fdt_fd_key layout");
_Static_assert(sizeof(struct fdt_proc_val) == 48, "fdt_proc_val layout");
_Static_assert(sizeof(struct fdt_verify) == 32, "fdt_verify layout");
_Static_assert(sizeof(struct fdt_fd_val) == 48, "fdt_fd_val layout");
_Static_assert(sizeof(struct fdt_file) == 16, "fdt_file layout");
_Static_assert(sizeof(struct fdt_rec_hdr) == 40, "fdt_rec_hdr layout");
_Static_assert(sizeof(struct fdt_rec_epoll_ctl) == 104, "fdt_rec_epoll_ctl layout");
_Static_assert(__builtin_offsetof(struct fdt_rec_epoll_ctl, py_stack) == FDT_REC_EPOLL_CTL_V5_SIZE,
	       "fdt_rec_epoll_ctl before py_stack");
_Static_assert(sizeof(struct fdt_rec_close) == 72, "fdt_rec_close layout");
_Static_assert(sizeof(struct fdt_sock_id) == 108, "fdt_sock_id layout");
_Static_assert(sizeof(struct fdt_rec_proc) == 88, "fdt_rec_proc layout");
_Static_assert(__builtin_offsetof(struct fdt_rec_proc, k_ended) == FDT_REC_PROC_V4_SIZE, "fdt_rec_proc v4 prefix");
_Static_assert(sizeof(struct fdt_pending) == 176, "fdt_pending layout");
_Static_assert(sizeof(struct fdt_rec_watch_seed) == 72, "fdt_rec_watch_seed layout");

#endif /* __FDTRACE_H */
