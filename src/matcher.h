/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The matching engine: pairs each epoll deregistration with what happens
 * to the fd afterwards (close, re-watch, nothing) and reports descriptors
 * that outlive their watch by more than the grace period.
 *
 * It depends only on the record bytes defined in bpf/fdtrace.h, never on
 * libbpf: the live ring buffer, test fixtures and recordings all feed it
 * through matcher__feed().  Time only moves when the caller says so
 * (record timestamps and matcher__tick()), so the same stream always
 * produces the same reports.
 */
#ifndef __FDTRACE_MATCHER_H
#define __FDTRACE_MATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "counters.h"
#include "fdtrace.h"

/* report.kind */
enum report_kind {
	REPORT_LEAK = 1,		/* watch ended, fd neither closed nor re-watched within grace */
	REPORT_LEAK_RESOLVED,		/* a reported leak was later closed or re-watched */
	REPORT_CLOSED_WHILE_WATCHED,	/* close() while another reference keeps the watch alive */
	REPORT_DEREGISTER_FAILED,	/* EPOLL_CTL_DEL failed with EBADF: fd closed first */
	REPORT_SUMMARY,			/* per process, when it exits or tracing stops */
	REPORT_TOTALS,			/* once, at the very end */
	REPORT_INTERVAL,		/* per active process, at matcher__interval() */
	REPORT_FD_PRESSURE,		/* a sample found open fds at FDT_FD_PRESSURE_PCT of the limit */
};

/* report.how for REPORT_LEAK_RESOLVED */
enum resolve_how {
	RESOLVE_CLOSED = 1,	/* close, close_range or dup2 onto it */
	RESOLVE_REWATCHED,	/* EPOLL_CTL_ADD again */
	RESOLVE_EXEC,		/* closed by close-on-exec */
	RESOLVE_EXIT,		/* process exited */
};

/* Per process: one field per row of FDT_PROC_COUNTERS (counters.h) */
struct proc_stats {
#define X(name, kind, text, help) __u64 name;
	FDT_PROC_COUNTERS(X)
#undef X
};

struct totals {
#define X(name, help) __u64 name;
	FDT_TOTALS(X)
#undef X
};

/*
 * How long until EMFILE, for one process, from what the engine was fed:
 * the last sample of its open fds and RLIMIT_NOFILE (matcher__fds()) and
 * the leaks it found.  The rate is leaks found per second over the time
 * they could have been found in: a leak is found a grace after its DEL,
 * so those found by now are the DELs from when the process was first
 * seen until now - grace.
 */
#define FDT_FD_PRESSURE_PCT	80	/* FD_PRESSURE at this share of the soft limit */
#define FDT_FD_REARM_PCT	75	/* and again after falling below this one */

struct fd_forecast {
	__u64 sampled_ns;	/* when open_fds was counted; 0: never sampled */
	__u64 open_fds;
	__u64 fd_limit;		/* RLIMIT_NOFILE soft limit; UINT64_MAX: unlimited */
	__u64 fd_limit_hard;
	bool rate_known;	/* traced for longer than the grace */
	double leak_rate_per_s;
	/*
	 * Leaking: a rate above 0, leaks still open, a sample and a finite
	 * limit.  fd_limit_in_s is then (fd_limit - open_fds) / rate (0
	 * once at the limit).
	 */
	bool leaking;
	double fd_limit_in_s;
};

/* evidence.cls: what the kernel showed of a leaked fd at the check */
enum evidence_class {
	EVIDENCE_NONE = 0,	/* not a socket: nothing to tell but unwatched and open */
	EVIDENCE_IDLE,		/* nothing queued, nothing read or written since the DEL */
	EVIDENCE_PEER_CLOSED,	/* the peer hung up (CLOSE_WAIT, LAST_ACK, unix shutdown) */
	EVIDENCE_BACKPRESSURED,	/* data waits unread for longer than the pause grace */
	EVIDENCE_IN_USE,	/* moved bytes since the DEL: never reported */
};

struct report {
	enum report_kind kind;
	__u32 pid;
	char comm[FDT_COMM_LEN];
	__s32 fd;
	__s32 epfd;		/* epoll fd of the (last) watch */
	struct fdt_file file;
	__u64 ts_ns;		/* monotonic time the report refers to */
	__u64 del_ts_ns;	/* when the watch ended (LEAK, LEAK_RESOLVED) */
	__u64 unwatched_ns;	/* how long the fd has been unwatched */
	enum resolve_how how;	/* LEAK_RESOLVED */
	struct evidence {
		enum evidence_class cls;
		__u32 sock_flags;	/* FDT_SOCKF_* of the check; 0: no socket data */
		__u32 tcp_state;
		__u32 unread;		/* bytes queued unread */
		__u32 read_since;	/* TCP: bytes the program read since the DEL */
		__u32 written_since;	/* TCP: bytes it wrote since the DEL */
		__u64 quiet_ns;		/* since the last movement seen (or the DEL) */
	} ev;			/* LEAK */
	/*
	 * LEAK, replay only: the recording holds no check of the fd (another
	 * grace than the live run's), so the engine trusted the records.
	 */
	__u32 unconfirmed;
	/* LEAK, LEAK_RESOLVED: where the socket went when its watch ended, or NULL */
	const struct fdt_sock_id *sock;
	/* LEAK: what the fd named when it was reported, if not a socket ("" if unknown) */
	const char *path;
	/* LEAK, LEAK_RESOLVED: return addresses of the last ADD's and DEL's callers, or 0 */
	__u64 add_site, del_site;
	/* their names, set on the way to the output (sites.h), or NULL */
	const char *add_site_name, *del_site_name;
	/* LEAK, LEAK_RESOLVED: ids of their Python stacks (fdtrace_py.h), or 0 */
	__u32 add_py_stack, del_py_stack;
	/*
	 * their Python frames, named on the way to the output: "file:line in
	 * function" lines, innermost first, joined by '\n'; or NULL
	 */
	const char *add_py_name, *del_py_name;
	const struct proc_stats *stats;	/* SUMMARY, INTERVAL */
	const struct totals *totals;	/* TOTALS */
	const struct fd_forecast *fds;	/* SUMMARY, FD_PRESSURE */
};

typedef void (*report_fn)(void *ctx, const struct report *r);


/* What the check before a report found for one fd */
enum verdict {
	VERDICT_UNKNOWN = 0,	/* cannot tell: the records are trusted */
	VERDICT_SAME,		/* still open, same file, unwatched: a leak */
	VERDICT_GONE,		/* closed or replaced by a path no record showed */
	VERDICT_WATCHED,	/* watched again by a call no record showed */
};

#define FDT_PATH_LEN	64	/* a leaked file's path, as reported (truncated) */

struct verify_req {
	__s32 fd;
	struct fdt_file file;	/* what epoll saw */
	enum verdict verdict;	/* out */
	struct fdt_verify sock;	/* out, VERDICT_SAME: the socket now (sock_flags 0: none) */
	char path[FDT_PATH_LEN];	/* out, VERDICT_SAME, not a socket: what /proc names it, or "" */
};

/*
 * Before leaks are reported: n fds of pid are due at once.  Fill in each
 * verdict and *lost, the records of pid lost so far (a process that lost
 * records has its leaks reported only when confirmed: VERDICT_SAME).
 * Return 0, or a negative errno (every verdict is then UNKNOWN).
 */
typedef int (*verify_fn)(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
			 __u64 *lost);

struct matcher_opts {
	__u64 grace_ns;		/* unwatched longer than this is a leak */
	/*
	 * A socket with data waiting unread is paused (back-pressure), not
	 * forgotten, until it has been so this long; 0: no pause allowance.
	 */
	__u64 pause_grace_ns;
	report_fn report;	/* called for every report, in order; must not
				 * call back into the matcher */
	void *ctx;
	verify_fn verify;	/* optional; NULL trusts the records */
	void *verify_ctx;
	__u32 max_checks;	/* most fds verified per tick; 0: all due */
	/*
	 * Optional: the process uses epoll instance epfd, first seen now.
	 * Live tracing asks the kernel to report its close.
	 */
	void (*new_epfd)(void *ctx, __u32 pid, __s32 epfd);
	void *ctx_epfd;
};

struct matcher;

/* NULL and errno set on failure */
struct matcher *matcher__new(const struct matcher_opts *opts);
/*
 * Feed one record (any FDT_REC_*).  Returns 0, -EINVAL for a record that
 * is truncated or of unknown type (counted in totals.bad_records and
 * skipped), or -ENOMEM when state could not grow (applied in part).
 */
int matcher__feed(struct matcher *m, const void *data, size_t size);
/*
 * Time is now now_ns: report every fd unwatched for longer than grace
 * (at most max_checks of them per call; the rest on the next).  A leak's
 * time is when it became one: the end of its watch plus the grace.
 */
void matcher__tick(struct matcher *m, __u64 now_ns);
/*
 * A process the user asked to trace: it gets a summary even if it never
 * touches epoll.  Processes known only from fork or exec records and with
 * no epoll activity get none, and are not counted in totals.
 */
int matcher__add_pid(struct matcher *m, __u32 pid, const char *comm, __u64 now_ns);
/* Process pid is no longer traced (gone or detached): emit its summary. */
void matcher__drop_pid(struct matcher *m, __u32 pid, __u64 now_ns);
/*
 * Periodic output (--interval): a REPORT_INTERVAL with the counters since
 * the start for every process that had a record since the last call.
 */
void matcher__interval(struct matcher *m, __u64 now_ns);
/* Records lost in the kernel so far; shown in totals. */
void matcher__set_lost(struct matcher *m, __u64 lost);
/* Records of process pid lost so far (its summary says its counts are partial). */
void matcher__set_proc_lost(struct matcher *m, __u32 pid, __u64 lost);
/*
 * A sample of process pid taken at ts_ns: open_fds open, RLIMIT_NOFILE
 * soft and hard (UINT64_MAX: unlimited).  Reports FD_PRESSURE when
 * open_fds reaches FDT_FD_PRESSURE_PCT of soft, once per crossing (again
 * only after a sample below FDT_FD_REARM_PCT).  A pid the engine does not
 * hold is ignored.  Returns 0.
 */
int matcher__fds(struct matcher *m, __u32 pid, __u64 ts_ns, __u64 open_fds,
		 __u64 soft, __u64 hard);
/*
 * Processes due a sample at now_ns, for the caller's sampler: those never
 * sampled, and those sampled interval_ns ago or more that have unwatched
 * fds or findings; interval_ns 0: every process (before the summaries).
 * Up to max pids in pids; returns how many are due.
 */
size_t matcher__fds_due(const struct matcher *m, __u64 now_ns, __u64 interval_ns,
			__u32 *pids, size_t max);
/* pid's forecast as of now_ns (for interval output): 0, or -ENOENT. */
int matcher__forecast(const struct matcher *m, __u32 pid, __u64 now_ns,
		      struct fd_forecast *f);
/*
 * --stream=summary: watch cycles of process pid that the kernel counted
 * and never sent (ended within the grace: closed or watched again), as
 * of now_ns: the kernel's running totals, so reading them again adds
 * only what is new.  Added to its counters; creates the process (named
 * comm, if the engine has no name) when it is unknown and the counts are
 * not 0 or used_epoll (an epoll_ctl of it succeeded: its watches may all
 * be quiet).  The EXIT record's counts are taken by matcher__feed() itself.
 */
int matcher__kernel_counts(struct matcher *m, __u32 pid, const char *comm, __u64 ended,
			   __u64 closed, __u64 rewatched, bool used_epoll, __u64 now_ns);
/* Tracing stops at now_ns: summaries of all live processes, then totals. */
void matcher__finish(struct matcher *m, __u64 now_ns);
/*
 * When the next fd becomes a leak (the earliest end of a watch plus the
 * grace), or UINT64_MAX if no watch has ended: the caller's next tick.
 */
__u64 matcher__next_due(const struct matcher *m);
/* The name the engine holds for process pid, or NULL if it holds none. */
const char *matcher__comm(struct matcher *m, __u32 pid);
/* Number of processes the engine currently holds state for. */
size_t matcher__nr_procs(const struct matcher *m);
void matcher__free(struct matcher *m);

#endif /* __FDTRACE_MATCHER_H */
