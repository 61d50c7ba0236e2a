/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What /proc says about a process. */
#ifndef __FDTRACE_PROCFS_H
#define __FDTRACE_PROCFS_H

#include <stddef.h>
#include <linux/types.h>

/* 0 if pid is a live process (a thread group leader), else -ESRCH etc. */
int procfs__check_pid(__u32 pid);
/* The process name, as in /proc/PID/comm, without the newline. */
int procfs__comm(__u32 pid, char *buf, size_t len);

#endif /* __FDTRACE_PROCFS_H */
