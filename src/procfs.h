/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* What /proc says about a process. */
#ifndef __FDTRACE_PROCFS_H
#define __FDTRACE_PROCFS_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

enum procfs_pid_kind {
	PROCFS_PROCESS,		/* a live process (a thread group leader) */
	PROCFS_THREAD,		/* a thread of process *tgid */
	PROCFS_KTHREAD,		/* a kernel thread */
	PROCFS_ZOMBIE,		/* has exited; its parent has not reaped it */
};

/* What pid is: a procfs_pid_kind, or -ESRCH if there is no such task. */
int procfs__check_pid(__u32 pid, __u32 *tgid);
/* The process name, as in /proc/PID/comm, without the newline. */
int procfs__comm(__u32 pid, char *buf, size_t len);



#include "fdtrace.h"

/*
 * Identity of the file behind fd in process pid (inode, dev in the
 * kernel's encoding, FDT_FT_* type), as /proc shows it.  -ENOENT when the
 * fd is not open.
 */
int procfs__fd_file(__u32 pid, int fd, struct fdt_file *file);

/* One epoll watch found in /proc/PID/fdinfo/EPFD. */
struct procfs_watch {
	int epfd;
	int fd;
	__u32 events;
	struct fdt_file file;
};
typedef void (*procfs_watch_fn)(void *ctx, const struct procfs_watch *w);

/*
 * Call fn for every watch in every epoll instance process pid holds.
 * Returns the number of watches found or a negative errno.
 */
int procfs__epoll_watches(__u32 pid, procfs_watch_fn fn, void *ctx);
/* RLIMIT_NOFILE of pid, from /proc/PID/limits (readable for any user's process). */
int procfs__nofile(__u32 pid, __u64 *soft, __u64 *hard);
/*
 * The fds pid has open: the entries of /proc/PID/fd, counted with
 * getdents64 and nothing else.  0, -ESRCH when it is gone, or -errno.
 */
int procfs__count_fds(__u32 pid, __u64 *n);

/*
 * For a recording's account of a process: its executable's path, its
 * command line (NUL-separated; returns the bytes read), its cgroup v2 path
 * ("0::" line of /proc/PID/cgroup), and its start time (CLOCK_BOOTTIME ns).
 * 0 (or the length) or a negative errno.
 */
int procfs__exe(__u32 pid, char *buf, size_t len);
ssize_t procfs__cmdline(__u32 pid, char *buf, size_t len);
int procfs__cgroup(__u32 pid, char *buf, size_t len);
int procfs__start_time(__u32 pid, __u64 *boot_ns);

/* What /proc/PID/fd/FD names: a path, "pipe:[123]", "anon_inode:[eventfd]" (truncated). */
int procfs__fd_path(__u32 pid, int fd, char *buf, size_t len);

/* Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
int procfs__cgroup2_mount(char *buf, size_t len);

#endif /* __FDTRACE_PROCFS_H */
