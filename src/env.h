/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Command line: what to trace and how to report it. */
#ifndef __FDTRACE_ENV_H
#define __FDTRACE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define ENV_MAX_PIDS 1024

/*
 * Every default, once: env__parse() starts from these, the help text is
 * built from them, and the layers below get the real values.
 */
#define DEFAULT_GRACE_S		5	/* seconds */
#define DEFAULT_RINGBUF_KIB	4096
#define DEFAULT_PAUSE_GRACE_S	60	/* seconds a socket may sit paused with data unread */
#define DEFAULT_MAX_FDS		65536
#define DEFAULT_MAX_PIDS	4096	/* processes traced at once (-f children) */

/* The ranges the options accept, said in their error messages and --help. */
#define MAX_SECONDS		31536000	/* -g, -d: 365 days */
#define MAX_PID_VALUE		4194304		/* the kernel's PID_MAX_LIMIT */
#define MAX_RINGBUF_KIB		1048576
#define MAX_TRACKED_FDS		16777216
#define MAX_MAX_PIDS		MAX_PID_VALUE
#define MAX_EXITCODE		255		/* --error-exitcode */

enum env_mode {
	MODE_LIVE,		/* trace on this kernel: -p or -- COMMAND */
	MODE_REPLAY,		/* -r FILE: analyse a recording */
};

#define ENV_OPTIONS_LEN	2040
#define ENV_MAX_CGROUPS	16	/* FDT_MAX_SEL_CGROUPS */
#define ENV_MAX_COMMS	64	/* the sel_comms map */	/* the command line kept for a recording's header */

struct env {
	enum env_mode mode;
	__u32 pids[ENV_MAX_PIDS];	/* -p */
	size_t nr_pids;
	char **command;			/* after "--"; NULL-terminated */
	__u64 grace_ns;
	__u64 pause_grace_ns;		/* --pause-grace */
	__u64 duration_ns;		/* 0: until stopped */
	bool json;
	bool verbose;
	bool follow;
	__u32 ringbuf_bytes;
	__u32 backend;			/* --backend: an enum tracer_backend (tracer.h); 0 auto */
	__u32 max_tracked_fds;
	__u32 max_pids;			/* --max-procs */
	/* fleet selection: decided in the kernel at each process's epoll_ctl */
	bool select_all;		/* -a */
	char *cgroups[ENV_MAX_CGROUPS];	/* --cgroup, resolved on the cgroup v2 mount */
	size_t nr_cgroups;
	const char *comms[ENV_MAX_COMMS];	/* -c */
	size_t nr_comms;
	__u32 sample;			/* --sample N: 1 in N watches; 0: all */
	/*
	 * --stream: summary (benign watch cycles only counted in the kernel)
	 * unless -w or --html need every record, or the user said full.
	 */
	bool stream_summary;
	bool stream_set;		/* --stream was given */
	__u64 interval_ns;		/* --interval: periodic output; 0: none */
	const char *prom_path;		/* --prom-file */
	const char *write_path;		/* -w */
	const char *html_path;		/* --html */
	const char *read_path;		/* -r */
	bool force;			/* --force: -w may replace a file */
	bool grace_set;			/* -g given (replay: else the recording's) */
	bool pause_grace_set;
	int error_exitcode;		/* --error-exitcode; 0: not given */
	unsigned int error_on;		/* --error-on: FINDING_BIT()s (findings.h) */
	bool error_on_set;
	bool share_events;		/* --share-events */
	bool stacks;			/* --stacks/--no-stacks, else by mode */
	bool stacks_set;
	char options[ENV_OPTIONS_LEN];	/* the command line, as typed */
};

/*
 * Parse argv into env.  On bad input prints one line on stderr and exits
 * with status 2; --help and --version exit 0.
 */
void env__parse(struct env *env, int argc, char **argv);

#endif /* __FDTRACE_ENV_H */
