/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The Prometheus text exposition for node_exporter's textfile collector
 * (--prom-file): per label set (unit, comm), what the file needs, and the
 * file written atomically.  Independent of libbpf: the agent loop feeds it
 * the engine's per-process counters and /proc's numbers.
 *
 * Series are labelled by where a process lives (unit: systemd unit,
 * container id or cgroup path) and its comm; never by pid or fd, whose
 * cardinality has no bound.  The counters of a label set are summed over
 * its processes, and a process that exits leaves its final counts in the
 * sum: they never go down, so rate() and increase() stay right across
 * restarts of the traced services.  What is not summable (how close a
 * process is to its fd limit) is exported as the worst process of the
 * label set.
 *
 * Memory: one entry per label set ever seen (they are bounded by what is
 * traced: units and comms, not pids), kept for the life of the agent
 * because dropping one would make its counters go down; one entry per
 * process, from its first report until it is reported exited (or its pid
 * shows up as another process: see prom__proc()).
 */
#ifndef __FDTRACE_PROM_H
#define __FDTRACE_PROM_H

#include <stdbool.h>
#include <linux/types.h>
#include "matcher.h"

struct prom_proc {
	/* systemd unit, container id, or the cgroup path when neither: the "unit" label */
	const char *unit;
	const char *comm;		/* of the thread-group leader: the "comm" label */
	const struct proc_stats *st;	/* the engine's counters since the start */
	__u64 open_fds;			/* now */
	__u64 fd_limit;			/* soft RLIMIT_NOFILE; 0: unknown */
	double fd_limit_in_s;		/* projected seconds to the limit; < 0: not leaking */
	bool exited;			/* st is final; open_fds and fd_limit are ignored */
	__u32 pid;			/* tells processes apart; never a label */
};

struct prom_global {
	__u64 lost_events;		/* records the kernel could not deliver, so far */
	__u64 untracked;		/* watched fds not tracked: map full, so far */
	__u64 processes_traced;		/* processes traced now */
	__u32 sample;			/* 1 in N watches tracked; 0: as given to prom__new() */
};

struct prom;

/*
 * Expose to path (its directory must exist), tracking 1 in sample
 * watches (0 or 1: all).  NULL and errno set on failure.
 */
struct prom *prom__new(const char *path, __u32 sample);
/*
 * A process's numbers now: every interval for the processes that changed
 * (or for all of them), and once more with exited set when it exits (a
 * process may also be reported only at its exit).  A process not reported
 * in an interval keeps the numbers of its last report.  A pid seen again
 * under another label set, or with counters lower than last time, is a
 * new process: the old one's counts are kept.  0, -EINVAL (no st), or
 * -ENOMEM.
 */
int prom__proc(struct prom *p, const struct prom_proc *pp);
/*
 * Write the exposition: a temp file in path's directory (created with
 * O_EXCL|O_NOFOLLOW, mode 0644), fsync, rename over path.  A reader sees
 * the old file or the new one, never part of one.  0 or a negative
 * errno (the previous file is left as it was).
 */
int prom__write(struct prom *p, const struct prom_global *g);
/* The exposition prom__write() would write, into a malloc'd string (tests). */
char *prom__text(struct prom *p, const struct prom_global *g);
/* Label sets held, and processes held (tests, bounds). */
size_t prom__nr_labelsets(const struct prom *p);
size_t prom__nr_procs(const struct prom *p);
void prom__free(struct prom *p);

#endif /* __FDTRACE_PROM_H */
