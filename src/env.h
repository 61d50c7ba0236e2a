/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Command line: what to trace and how to report it. */
#ifndef __FDTRACE_ENV_H
#define __FDTRACE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define ENV_MAX_PIDS 1024

struct env {
	__u32 pids[ENV_MAX_PIDS];	/* -p */
	size_t nr_pids;
	char **command;			/* after "--"; NULL-terminated */
	__u64 grace_ns;
	__u64 duration_ns;		/* 0: until stopped */
	bool json;
	bool verbose;
	bool follow;
	__u32 ringbuf_bytes;
	__u32 max_tracked_fds;
};

/*
 * Parse argv into env.  On bad input prints one line on stderr and exits
 * with status 2; --help and --version exit 0.
 */
void env__parse(struct env *env, int argc, char **argv);

#endif /* __FDTRACE_ENV_H */
