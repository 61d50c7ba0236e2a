/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * --html FILE: the picture of a run, one self-contained HTML page (inline
 * CSS, SVG and script; it loads nothing) to attach to a ticket.
 *
 * It is fed what the engine is fed and what the engine says: every record
 * (html__record(): the kernel records and the userspace ones of record.h,
 * live or from a recording) and every report (html__report()).  The
 * records give each fd's watch (ADD to DEL) and what followed; the reports
 * say which of those became leaks, when, and with what evidence, so the
 * leaks drawn are exactly the leaks reported.  Nothing is written until
 * html__write(), once, at the end.
 *
 * Memory is bounded by the options whatever the run: per process at most
 * max_bars fd bars (every leak is kept before any other bar; the oldest
 * closed bars make room for new ones) and max_points points per series;
 * the page says how much was left out.
 *
 * Independent of libbpf, like the engine: tests and replay use it alone.
 */
#ifndef __FDTRACE_HTML_H
#define __FDTRACE_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "matcher.h"
#include "record.h"

struct html_opts {
	__s64 realtime_offset_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC of the run */
	__u64 grace_ns;			/* the grace the findings were decided with */
	/* what the page says the run was; each may be NULL */
	const char *host;
	const char *kernel;
	const char *source;		/* "live" or the recording's path */
	const char *version;		/* fdtrace's */
	__u32 max_bars;			/* fd bars kept per process */
	__u32 max_points;		/* points kept per series */
	__u32 max_procs;		/* processes drawn */
	__u32 max_findings;		/* rows of the findings table */
	bool force;			/* html__write() replaces a regular file */
};

#define HTML_MAX_BARS		5000
#define HTML_MAX_POINTS		2000
#define HTML_MAX_PROCS		1024
#define HTML_MAX_FINDINGS	10000

/* The bounds above; the caller sets the rest. */
#define HTML_OPTS_INIT	{ .max_bars = HTML_MAX_BARS, .max_points = HTML_MAX_POINTS, \
			  .max_procs = HTML_MAX_PROCS, .max_findings = HTML_MAX_FINDINGS }

struct html;

/* NULL and errno set on failure (EINVAL: a bound of 0) */
struct html *html__new(const struct html_opts *opts);
/*
 * One record the engine consumed (FDT_REC_* or RECORD_*), in the order it
 * consumed them.  0, -EINVAL for a record too short for its type (skipped,
 * as the engine does), or -ENOMEM (the page will say it is incomplete).
 */
int html__record(struct html *h, const void *rec, size_t size);
/* One report the engine emitted; a report_fn's body. */
void html__report(struct html *h, const struct report *r);
/* report_fn for matcher_opts: ctx is the struct html * */
void html__report_fn(void *ctx, const struct report *r);
/*
 * A sample of process pid at ts_ns: open_fds open (all of them, as
 * /proc/PID/fd counts), its RLIMIT_NOFILE soft limit (0: unknown, ~0:
 * unlimited).  With samples, a process's timeline draws them; without,
 * the fds the records show open.
 */
int html__sample(struct html *h, __u32 pid, __u64 ts_ns, __u64 open_fds, __u64 limit);
/*
 * What a RECORD_PROC says, for a live run that has no recording:
 * html__record() of a RECORD_PROC ends up here.
 */
int html__proc(struct html *h, const struct record_proc_info *pi);
/* A warning of the run (RECORD_WARN does the same): listed in the page. */
void html__warn(struct html *h, __u64 ts_ns, const char *msg);
/*
 * Write the page to path: a temporary file in the same directory (mode
 * 0600, O_EXCL), renamed into place.  An existing path is refused
 * (-EEXIST), unless opts.force and it is a regular file; a symlink never
 * is followed nor replaced.  0 or a negative errno.
 */
int html__write(struct html *h, const char *path);
/*
 * Whether html__write(path) can succeed, asked before tracing starts so
 * that a run is not lost at its end: 0, -EEXIST (as html__write() would
 * refuse it), or the errno of a directory that is missing or not
 * writable.
 */
int html__check_path(const char *path, bool force);
void html__free(struct html *h);

#endif /* __FDTRACE_HTML_H */
