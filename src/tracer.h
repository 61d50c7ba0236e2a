/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The kernel side as userspace sees it: load and attach the BPF programs,
 * choose which processes are traced, hand every ring buffer record to a
 * callback.  The only module that knows about libbpf.
 *
 * Errors: tracer__new() returns NULL with errno set; functions that can
 * fail return 0 or a negative errno; predicates return bool.
 */
#ifndef __FDTRACE_TRACER_H
#define __FDTRACE_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "fdtrace.h"
#include "fdtrace_py.h"

/*
 * Where the syscall hooks run (the sched tracepoints are the same in
 * both): per-syscall tracepoints, or fentry/fexit on the x86-64 syscall
 * wrappers, which keep traced and untraced tasks off the syscall slow
 * path.  AUTO: fentry if a probe can load and attach it, else tracepoints.
 */
enum tracer_backend {
	TRACER_BACKEND_AUTO,
	TRACER_BACKEND_TRACEPOINT,
	TRACER_BACKEND_FENTRY,
};

/* "auto", "tracepoint", "fentry"; NULL past the last */
static inline const char *tracer_backend_name(enum tracer_backend b)
{
	static const char *const names[] = { "auto", "tracepoint", "fentry" };

	return (unsigned int)b < sizeof(names) / sizeof(names[0]) ? names[b] : NULL;
}

/* Called for every record, in ring buffer order. */
typedef int (*record_fn)(void *ctx, const void *data, size_t size);

struct tracer_opts {
	record_fn on_record;
	void *ctx;
	bool follow;		/* trace children of traced processes */
	bool verbose;		/* let libbpf's debug output through */
	__u32 ringbuf_bytes;	/* power of two, >= page size */
	/*
	 * Wake the consumer when this much data waits (capped at a quarter
	 * of the ring); 1: as soon as the ring is not empty.
	 */
	__u32 wakeup_bytes;
	__u32 max_tracked_fds;
	__u32 max_pids;		/* processes traced at once */
	__u32 pidns_ino;	/* fdtrace's pid namespace if not the initial one, else 0 */
	/*
	 * Fleet selection, decided in the kernel at a process's epoll_ctl:
	 * every process (all), those in these cgroup v2 directories or
	 * below (paths), those with these names (comms); cgroups and comms
	 * combine.  None of them: only the processes tracer__trace_pid() names.
	 */
	bool select_all;
	const char *const *cgroups;
	size_t nr_cgroups;
	const char *const *comms;
	size_t nr_comms;
	__u32 sample;		/* track 1 in sample watches; 0 or 1: all */
	/*
	 * --stream=summary: watch cycles that end within grace_ns send no
	 * record; see tracer__take_pending().
	 */
	bool summary;
	__u64 grace_ns;
	enum tracer_backend backend;	/* AUTO: probe for fentry */
	bool stacks;		/* call sites at ADD and DEL (--stacks) */
};

struct tracer;

/*
 * Open and load the BPF object.  Returns NULL with errno set, and a
 * one-line reason in errbuf.
 */
struct tracer *tracer__new(const struct tracer_opts *opts, char *errbuf,
			   size_t errlen);
/*
 * The backend in use (never AUTO).  why: when AUTO fell back to
 * tracepoints, what the fentry probe said; else "".
 */
enum tracer_backend tracer__backend(const struct tracer *t, const char **why);
/* Trace process pid (a tgid).  Before or after attach. */
int tracer__trace_pid(struct tracer *t, __u32 pid);
/* Stop tracing pid (it is gone); no-op if it is not traced. */
void tracer__untrace_pid(struct tracer *t, __u32 pid);
/* True while at least one process is traced. */
bool tracer__any_traced(struct tracer *t);
/*
 * Track fd of process pid from now on as if epoll_ctl had touched it: a
 * watch that began before we attached.  Leaves an existing entry alone.
 */
int tracer__track_fd(struct tracer *t, __u32 pid, int fd, const struct fdt_file *file);
enum tracer_verdict {
	VERIFY_UNKNOWN,		/* cannot tell */
	VERIFY_SAME,		/* fd still names the file epoll last saw, unwatched */
	VERIFY_GONE,		/* closed or replaced by a path no tracepoint shows */
	VERIFY_WATCHED,		/* same file, watched again by a call we did not see */
};

/*
 * Before reporting leaks: what do fds[0..n) of pid name now, and, for
 * sockets found VERIFY_SAME, what state are they in (socks[i])?  One BPF
 * task_file iterator walk over that process answers for all of them.
 * 0 or -errno (verdicts then all VERIFY_UNKNOWN).
 */
int tracer__verify(struct tracer *t, __u32 pid, const __s32 *fds,
		   enum tracer_verdict *verdicts, struct fdt_verify *socks, size_t n);
/* kc: the watch cycles the kernel counted without records (summary mode) */
struct tracer_kcounts {
	__u64 ended, closed, rewatched;
	bool used_epoll;	/* FDT_PROCF_EPOLL */
};
typedef void (*tracer_proc_fn)(void *ctx, __u32 pid, __u64 lost,
			       const struct tracer_kcounts *kc);
/* Every traced process with the records of it lost so far. 0 or -errno. */
int tracer__procs(struct tracer *t, tracer_proc_fn fn, void *ctx);
/* Records of pid lost so far (ring buffer full). 0 or -errno. */
int tracer__proc_lost(struct tracer *t, __u32 pid, __u64 *lost);
/*
 * Summary mode: take (delete) up to max fds whose watch ended before
 * before_ns and that are still neither closed nor watched again; for each
 * one taken, fn gets the DEL record the kernel withheld (as the ring
 * buffer would have delivered it; comm left empty).  Returns how many
 * were taken, or -errno.
 */
typedef void (*tracer_del_fn)(void *ctx, const void *rec, size_t size);
int tracer__take_pending(struct tracer *t, __u64 before_ns, size_t max,
			 tracer_del_fn fn, void *ctx);
/*
 * Python call sites (fdtrace_py.h): walk the frames of process pid at its
 * ADDs and DELs with the layout in *cfg; NULL: stop (exec, exit).
 */
int tracer__set_python(struct tracer *t, __u32 pid, const struct fdt_py_proc *cfg);
/* fdt_py_proc.gen of pid's interpreter in the kernel now; 0: none (it exec'd or exited). */
__u32 tracer__py_gen(struct tracer *t, __u32 pid);
/* The frames of Python stack id (fdt_rec_epoll_ctl.py_stack). 0 or -errno. */
int tracer__py_stack(struct tracer *t, __u32 id, struct fdt_py_stack *st);
/* Attach every program; mounts tracefs if it is missing. */
int tracer__attach(struct tracer *t, char *errbuf, size_t errlen);
/*
 * An fd that becomes readable when the kernel side asks to be drained.
 * Watch it edge-triggered (EPOLLET) and call tracer__consume() on every
 * pass of the event loop: level-triggered, it stays ready while a single
 * record waits and the loop spins.
 */
int tracer__poll_fd(const struct tracer *t);
/* Deliver every record waiting; number delivered or negative errno. */
int tracer__consume(struct tracer *t);
/* One kernel counter (FDT_STAT_*), summed over CPUs: one bpf() call. */
int tracer__stat(struct tracer *t, __u32 idx, __u64 *val);
/* Detach and free; nothing stays attached. */
void tracer__free(struct tracer *t);

#endif /* __FDTRACE_TRACER_H */
