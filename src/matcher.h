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

#include <stddef.h>
#include <linux/types.h>
#include "fdtrace.h"

/* report.kind */
enum report_kind {
	REPORT_LEAK = 1,		/* watch ended, fd neither closed nor re-watched within grace */
	REPORT_LEAK_RESOLVED,		/* a reported leak was later closed or re-watched */
	REPORT_CLOSED_WHILE_WATCHED,	/* close() while another reference keeps the watch alive */
	REPORT_DEREGISTER_FAILED,	/* EPOLL_CTL_DEL failed with EBADF: fd closed first */
	REPORT_SUMMARY,			/* per process, when it exits or tracing stops */
	REPORT_TOTALS,			/* once, at the very end */
};

/* report.how for REPORT_LEAK_RESOLVED */
enum resolve_how {
	RESOLVE_CLOSED = 1,	/* close, close_range or dup2 onto it */
	RESOLVE_REWATCHED,	/* EPOLL_CTL_ADD again */
	RESOLVE_EXEC,		/* closed by close-on-exec */
	RESOLVE_EXIT,		/* process exited */
};

struct proc_stats {
	__u64 watches_ended;	/* successful DELs that left the fd unwatched */
	__u64 closed;		/* ... of which the fd was then closed (any path) */
	__u64 closed_late;	/* ... closed only after being reported */
	__u64 rewatched;	/* ... of which the fd was then watched again */
	__u64 leaks;		/* leaks reported */
	__u64 open_leaks;	/* leaks still unresolved now */
	__u64 closed_while_watched;
	__u64 deregister_failed;	/* DEL failed with EBADF */
	__u64 del_enoent;	/* DEL failed with ENOENT (routine in libuv) */
	__u64 corrected;	/* state fixed up from a file identity mismatch */
};

struct totals {
	__u64 processes;
	__u64 watches_ended;
	__u64 leaks;
	__u64 open_leaks;
	__u64 lost_events;	/* set by the caller via matcher__set_lost() */
	__u64 records;		/* records applied */
	__u64 bad_records;	/* truncated or of unknown type: skipped */
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
	const struct proc_stats *stats;	/* SUMMARY */
	const struct totals *totals;	/* TOTALS */
};

typedef void (*report_fn)(void *ctx, const struct report *r);

/*
 * Before a leak is reported: does fd of pid still name file?  Return 0 if
 * it does or cannot be told, > 0 if it does not; the fd then went away by
 * a path no record showed, and is counted in proc_stats.corrected instead.
 */
typedef int (*verify_fn)(void *ctx, __u32 pid, __s32 fd, const struct fdt_file *file);

struct matcher_opts {
	__u64 grace_ns;		/* unwatched longer than this is a leak */
	report_fn report;	/* called for every report, in order; must not
				 * call back into the matcher */
	void *ctx;
	verify_fn verify;	/* optional; NULL trusts the records */
	void *verify_ctx;
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
/* Time is now now_ns: report every fd unwatched for longer than grace. */
void matcher__tick(struct matcher *m, __u64 now_ns);
/*
 * A process the user asked to trace: it gets a summary even if it never
 * touches epoll.  Processes known only from fork or exec records and with
 * no epoll activity get none, and are not counted in totals.
 */
int matcher__add_pid(struct matcher *m, __u32 pid, const char *comm, __u64 now_ns);
/* Process pid is no longer traced (gone or detached): emit its summary. */
void matcher__drop_pid(struct matcher *m, __u32 pid, __u64 now_ns);
/* Records lost in the kernel so far; shown in totals. */
void matcher__set_lost(struct matcher *m, __u64 lost);
/* Tracing stops at now_ns: summaries of all live processes, then totals. */
void matcher__finish(struct matcher *m, __u64 now_ns);
/* Number of processes the engine currently holds state for. */
size_t matcher__nr_procs(const struct matcher *m);
void matcher__free(struct matcher *m);

#endif /* __FDTRACE_MATCHER_H */
