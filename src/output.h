/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The one output module: every finding, summary, banner, warning and
 * error fdtrace prints goes through here, as text for a person or as
 * JSON Lines for a program.  Each format is a table of ops; callers never
 * test which format is in use.
 *
 * JSON field names are an interface (users and tests parse them): fields
 * may be added, never renamed.
 */
#ifndef __FDTRACE_OUTPUT_H
#define __FDTRACE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "matcher.h"

enum output_format {
	OUTPUT_TEXT,
	OUTPUT_JSON,
};

/* Where a process lives (attrib.c): any field may be "" */
struct proc_attrib {
	const char *unit;	/* systemd unit or container id */
	const char *cgroup;
	const char *exe;
};

/* Fill *a for pid; false when nothing is known of it. */
typedef bool (*attrib_fn)(void *ctx, __u32 pid, struct proc_attrib *a);

struct output_opts {
	enum output_format format;
	FILE *out;		/* findings, summaries; NULL: stdout */
	FILE *err;		/* banner (text), warnings, errors; NULL: stderr */
	__s64 realtime_offset_ns;	/* clock__realtime_offset() */
	bool show_unit;		/* text: a UNIT column (fleet modes) */
};

/* What tracing started on, for output__start(). */
struct start_info {
	const __u32 *pids;	/* -p PID...: the processes traced */
	size_t nr_pids;
	const char *const *comms;	/* optional: comm of pids[i], or NULL */
	const char *command;	/* -- CMD...: argv[0] of the command run, or NULL */
	__u32 command_pid;	/* its pid once started, 0 if not known */
	__u64 grace_ns;		/* unwatched longer than this is a leak */
	__u64 ts_ns;		/* CLOCK_MONOTONIC start time; 0: now */
	const char *version;	/* fdtrace's release version, or NULL */
	const char *commit;	/* the commit it was built from, or NULL */
	/* Fleet selection (-a, --cgroup, --comm, --sample) */
	bool select_all;
	const char *const *cgroups;
	size_t nr_cgroups;
	const char *const *select_comms;
	size_t nr_comms;
	__u32 sample;		/* 1 in sample watches; 0 or 1: all */
	const char *backend;	/* live: where the syscall hooks run ("fentry"); NULL: replay */
	/* Replaying (-r): the recording, and where and by what it was made */
	const struct start_recording {
		const char *path;
		const char *host;
		const char *kernel;
		const char *version;	/* the recording fdtrace's */
		__u32 abi_version;	/* of its kernel records */
		__u64 grace_ns;		/* the grace it was recorded with */
	} *recording;
};
/* No pids and no command: tracing every process. */

struct output;

/*
 * Open /dev/null on whichever of fds 0, 1 and 2 are closed.  Called first
 * thing: otherwise the next fd opened (a BPF map, the ring buffer) takes
 * the number, and "stdout" writes go to it.  0 or a negative errno.
 */
int output__reserve_std_fds(void);

/* NULL and errno set on failure (EINVAL: unknown format) */
struct output *output__new(const struct output_opts *opts);
/* A report_fn for the matcher: ctx is the struct output * */
void output__report(void *ctx, const struct report *r);
/* Tracing started: text banner on err, JSON {"event":"start"} on out */
void output__start(struct output *o, const struct start_info *s);
/*
 * One line on err: "fdtrace: <msg>" or {"event":"error","message":...}.
 * o may be NULL (failure before output__new()): plain text on stderr.
 */
void output__error(struct output *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* One line on err: "fdtrace: warning: <msg>" or {"event":"warning",...} */
void output__warn(struct output *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * lost_total records lost in the kernel so far, seen at ts_ns (0: now).
 * Only an increase is reported: a warning on err in text, a
 * {"event":"lost","lost_events":N} line on out in JSON.
 */
void output__lost(struct output *o, __u64 lost_total, __u64 ts_ns);
/*
 * 0 while everything written so far reached its stream; else the errno
 * of the first write that failed (ENOSPC: a full disk).  Lines already
 * accepted are flushed as they are written, so this is current.
 */
int output__failed(const struct output *o);
void output__free(struct output *o);
/* Findings, intervals and summaries name where their process lives. */
void output__set_attrib(struct output *o, attrib_fn fn, void *ctx);
/*
 * The CLOCK_REALTIME - CLOCK_MONOTONIC offset times are printed with: a
 * replay prints a recording's times with the offset it was made with.
 */
__s64 output__realtime_offset(const struct output *o);
void output__set_realtime_offset(struct output *o, __s64 offset_ns);

/* "socket", "pipe", ... for an FDT_FT_* value; "unknown" when out of range */
const char *fdt_ftype_name(__u32 ftype);

#endif /* __FDTRACE_OUTPUT_H */
