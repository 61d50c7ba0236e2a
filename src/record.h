/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Recordings: everything a live run fed the matching engine, in a file,
 * so that replaying it elsewhere makes the same calls in the same order
 * and so prints the same findings.
 *
 * File format, version 1.  All integers in the writer's byte order (the
 * header says which); no padding between entries.
 *
 *   struct record_header	fixed size, hdr_size bytes
 *   entry...			until the end of the file
 *
 * An entry is one record exactly as the engine consumed it: it starts
 * with struct fdt_rec_hdr (bpf/fdtrace.h), whose size field is the
 * length of the whole entry and whose type says what follows:
 *
 *   1..63    records of the kernel ABI (FDT_REC_*), fed to matcher__feed()
 *            as they are: ring buffer records and the /proc seeding
 *            (FDT_REC_WATCH_SEED), in the order the live run fed them;
 *   64..     records only userspace writes (RECORD_*, below), one per
 *            call the live loop made into the engine or the output that
 *            changes what a run prints: replay makes the same call.
 *
 * The file is only ever appended to, so a recording cut off (SIGKILL,
 * disk full, power loss) holds every entry written before the cut: a
 * partial last entry is a truncated recording, not a corrupt one.  A
 * complete recording ends with RECORD_FINISH; one without it was cut
 * between two entries.
 *
 * Checks at verify time (matcher_opts.verify) are the one input the
 * engine asks for itself: the live loop writes RECORD_TICK before it
 * calls matcher__tick(), and one RECORD_VERIFY per fd the check answered
 * during that tick, right behind it.  Replay reads those answers ahead
 * and gives them back when the engine asks.
 *
 * A reader refuses (with one line saying why): another magic, another
 * byte order, a newer format version or kernel record ABI, a header cut
 * short, an entry shorter than its type's struct or than fdt_rec_hdr,
 * longer than RECORD_MAX_SIZE, of an unknown type, a count or a length
 * beyond its bound, a string without its NUL.
 */
#ifndef __FDTRACE_RECORD_H
#define __FDTRACE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "fdtrace.h"

#define RECORD_MAGIC		"FDTRACE\n"	/* 8 bytes, no NUL */
#define RECORD_MAGIC_LEN	8
#define RECORD_VERSION		1
/* Written as a __u32: reads back byte-swapped on a host of the other order */
#define RECORD_BYTE_ORDER	0x01020304U

/* Largest entry a reader accepts: bounds its memory on any input. */
#define RECORD_MAX_SIZE		(64U * 1024)

/* Userspace-only record types: above every FDT_REC_* the kernel may use. */
#define RECORD_TYPE_MIN		64
#define RECORD_TICK		64	/* matcher__tick(hdr.ts_ns) */
#define RECORD_VERIFY		65	/* the check's answer for one fd, during the last tick */
#define RECORD_PROC		66	/* metadata of a process, when first seen */
#define RECORD_LOST		67	/* matcher__set_lost() and output__lost() */
#define RECORD_SET_PROC_LOST	68	/* matcher__set_proc_lost() */
#define RECORD_DROP		69	/* matcher__drop_pid(hdr.pid, hdr.ts_ns) */
#define RECORD_FINISH		70	/* matcher__finish(hdr.ts_ns): the last entry */
#define RECORD_ADD_PID		71	/* matcher__add_pid(hdr.pid, hdr.comm, hdr.ts_ns) */
#define RECORD_START		72	/* output__start(): the targets, for the banner */
#define RECORD_WARN		73	/* output__warn() of the live loop */
#define RECORD_FDS		74	/* matcher__fds(): a sample of open fds and the limit */
#define RECORD_SITE		75	/* the name a call site was resolved to, live */
#define RECORD_TYPE_MAX		76

/* String bounds, NUL included */
#define RECORD_VERSION_LEN	32
#define RECORD_HOST_LEN		72	/* HOST_NAME_MAX + 1, rounded up */
#define RECORD_RELEASE_LEN	72	/* utsname.release is 65 */
#define RECORD_OPTIONS_LEN	2040	/* the command line, truncated */
#define RECORD_COMMAND_LEN	256	/* argv[0] of -- COMMAND */
#define RECORD_WARN_LEN		512
#define RECORD_PATH_MAX		4096	/* each string of RECORD_PROC */
#define RECORD_MAX_PIDS		1024	/* -p targets in RECORD_START (ENV_MAX_PIDS) */

struct record_header {
	char magic[RECORD_MAGIC_LEN];	/* RECORD_MAGIC */
	__u32 byte_order;		/* RECORD_BYTE_ORDER, in the writer's order */
	__u32 version;			/* RECORD_VERSION */
	__u32 hdr_size;			/* sizeof(struct record_header) */
	__u32 abi_version;		/* FDT_ABI_VERSION of the kernel records */
	/*
	 * CLOCK_REALTIME minus CLOCK_MONOTONIC when the run started
	 * (clock__realtime_offset()): record timestamps are monotonic, as
	 * bpf_ktime_get_ns() stamps them, and are printed as wall time.
	 */
	__s64 realtime_offset_ns;
	__u64 grace_ns;			/* matcher_opts.grace_ns of the run */
	__u64 pause_grace_ns;		/* matcher_opts.pause_grace_ns of the run */
	__u32 max_checks;		/* matcher_opts.max_checks: ticks split by it */
	__u32 pad;
	char fdtrace_version[RECORD_VERSION_LEN];	/* FDTRACE_VERSION */
	char fdtrace_commit[RECORD_VERSION_LEN];	/* FDTRACE_COMMIT */
	char hostname[RECORD_HOST_LEN];
	char kernel_release[RECORD_RELEASE_LEN];	/* uname -r */
	char options[RECORD_OPTIONS_LEN];		/* the command line, as typed */
};

/* RECORD_TICK, RECORD_DROP, RECORD_FINISH: the header says it all */
struct record_tick {
	struct fdt_rec_hdr hdr;
};

/* RECORD_VERIFY: hdr.pid, hdr.ts_ns the tick's time */
struct record_verify {
	struct fdt_rec_hdr hdr;
	__s32 fd;
	__u32 verdict;		/* enum verdict (matcher.h) */
	__u64 lost;		/* records of hdr.pid lost, as the check saw it */
	struct fdt_verify sock;	/* the socket's state, as the check saw it */
	char path[64];		/* not a socket: what /proc named the fd (FDT_PATH_LEN) */
};

/* RECORD_LOST: hdr.ts_ns when it was read; RECORD_SET_PROC_LOST: of hdr.pid */
struct record_lost {
	struct fdt_rec_hdr hdr;
	__u64 lost;		/* the new total */
};

/* RECORD_ADD_PID: hdr.pid, hdr.comm, hdr.ts_ns as passed to matcher__add_pid() */
#define RECORD_ADD_COMMAND	0x1	/* the process of -- COMMAND, not a -p target */
struct record_add_pid {
	struct fdt_rec_hdr hdr;
	__u32 flags;		/* RECORD_ADD_* */
	__u32 pad;
};

/* RECORD_START: hdr.ts_ns when tracing started */
struct record_start_pid {
	__u32 pid;
	char comm[FDT_COMM_LEN];
};

struct record_start {
	struct fdt_rec_hdr hdr;
	__u32 command_pid;	/* 0: no -- COMMAND */
	__u32 nr_pids;		/* -p targets that follow, at most RECORD_MAX_PIDS */
	char command[RECORD_COMMAND_LEN];	/* argv[0] of the command, or "" */
	struct record_start_pid pids[];		/* nr_pids of them */
};

/* RECORD_WARN */
struct record_warn {
	struct fdt_rec_hdr hdr;
	char msg[RECORD_WARN_LEN];
};

/*
 * RECORD_FDS: hdr.pid, hdr.ts_ns when /proc/PID/fd was counted.  An
 * engine input like a tick, not a kernel record: fed to matcher__fds(),
 * so the forecast and the FD_PRESSURE report replay as they happened.
 */
struct record_fds {
	struct fdt_rec_hdr hdr;
	__u64 open_fds;
	__u64 nofile_soft;	/* RLIMIT_NOFILE; RLIM_INFINITY as ~0 */
	__u64 nofile_hard;
};

/*
 * RECORD_SITE: hdr.pid; the return address an ADD or DEL record carried
 * (fdt_rec_epoll_ctl.site) and the name the live run resolved it to from
 * the process's mappings, which do not travel with the recording.
 */
#define RECORD_SITE_LEN		160
struct record_site {
	struct fdt_rec_hdr hdr;
	__u64 addr;
	char name[RECORD_SITE_LEN];	/* NUL-terminated */
};

/*
 * RECORD_PROC: hdr.pid, hdr.comm, hdr.ts_ns when the process was first
 * seen.  Three NUL-terminated strings follow the struct, back to back:
 * exe path, cmdline (its arguments NUL-separated, as in /proc/PID/cmdline,
 * truncated), cgroup path; each at most RECORD_PATH_MAX bytes with its NUL.
 */
struct record_proc {
	struct fdt_rec_hdr hdr;
	__u64 start_time_ns;	/* /proc/PID/stat starttime: CLOCK_BOOTTIME */
	__u64 nofile_soft;	/* RLIMIT_NOFILE; RLIM_INFINITY as ~0 */
	__u64 nofile_hard;
	__u32 exe_len;		/* lengths of the strings, NULs included */
	__u32 cmdline_len;
	__u32 cgroup_len;
	__u32 pad;
	char strings[];
};

_Static_assert(sizeof(struct record_header) == 2304, "record_header layout");
_Static_assert(sizeof(struct record_tick) == 40, "record_tick layout");
_Static_assert(sizeof(struct record_verify) == 152, "record_verify layout");
_Static_assert(sizeof(struct record_lost) == 48, "record_lost layout");
_Static_assert(sizeof(struct record_add_pid) == 48, "record_add_pid layout");
_Static_assert(sizeof(struct record_start_pid) == 20, "record_start_pid layout");
_Static_assert(sizeof(struct record_start) == 304, "record_start layout");
_Static_assert(sizeof(struct record_warn) == 552, "record_warn layout");
_Static_assert(sizeof(struct record_proc) == 80, "record_proc layout");
_Static_assert(sizeof(struct record_fds) == 64, "record_fds layout");
_Static_assert(sizeof(struct record_site) == 208, "record_site layout");
_Static_assert(FDT_REC_MAX <= RECORD_TYPE_MIN, "kernel record types reach the userspace range");
_Static_assert(sizeof(struct record_start) + RECORD_MAX_PIDS * sizeof(struct record_start_pid)
	       <= RECORD_MAX_SIZE, "record_start bound");
_Static_assert(sizeof(struct record_proc) + 3 * RECORD_PATH_MAX <= RECORD_MAX_SIZE,
	       "record_proc bound");

/*
 * The fields every recording gets the same way: magic, byte order,
 * versions, host name and kernel release.  The caller sets the rest
 * (grace, max_checks, realtime offset, fdtrace version, options).
 */
void record_header__init(struct record_header *h);

/* ---- writer ---- */

struct recorder;

/*
 * Create path (mode 0600, never through a symlink) and write h to it.
 * An existing file is an error (EEXIST), unless force is set and it is a
 * regular file: it is then replaced.  NULL and errno set on failure.
 */
struct recorder *recorder__open(const char *path, bool force, const struct record_header *h);
/*
 * Append one record (buffered).  size must be the record's hdr.size, at
 * least sizeof(struct fdt_rec_hdr) and at most RECORD_MAX_SIZE:
 * otherwise -EINVAL and nothing is written (not a write error: the
 * record is malformed).  Other negative errnos are write errors.
 */
int recorder__write(struct recorder *r, const void *rec, size_t size);
/* Write out what is buffered: 0 or a negative errno. */
int recorder__flush(struct recorder *r);
/* Flush and close: 0 or a negative errno.  r is freed either way. */
int recorder__close(struct recorder *r);

/*
 * Builders for the userspace records, one per engine call: each returns
 * what recorder__write() returns.
 */
int recorder__tick(struct recorder *r, __u64 now_ns);
int recorder__verify(struct recorder *r, __u64 now_ns, __u32 pid, __s32 fd,
		     __u32 verdict, __u64 lost, const struct fdt_verify *sock, const char *path);
int recorder__lost(struct recorder *r, __u64 now_ns, __u64 lost);
int recorder__proc_lost(struct recorder *r, __u64 now_ns, __u32 pid, __u64 lost);
int recorder__drop(struct recorder *r, __u64 now_ns, __u32 pid);
int recorder__finish(struct recorder *r, __u64 now_ns);
int recorder__add_pid(struct recorder *r, __u64 now_ns, __u32 pid, const char *comm,
		      __u32 flags);
/* command may be NULL; comms[i] may be NULL */
int recorder__start(struct recorder *r, __u64 now_ns, const __u32 *pids,
		    const char *const *comms, size_t nr_pids, const char *command,
		    __u32 command_pid);
int recorder__warn(struct recorder *r, __u64 now_ns, const char *msg);
int recorder__site(struct recorder *r, __u64 now_ns, __u32 pid, __u64 addr, const char *name);
int recorder__fds(struct recorder *r, __u64 now_ns, __u32 pid, __u64 open_fds,
		  __u64 soft, __u64 hard);

/* What RECORD_PROC holds; any string may be NULL (written empty). */
struct record_proc_info {
	__u32 pid;
	char comm[FDT_COMM_LEN];
	__u64 seen_ns;		/* CLOCK_MONOTONIC */
	__u64 start_time_ns;
	__u64 nofile_soft, nofile_hard;
	const char *exe;
	const char *cmdline;	/* NUL-separated arguments */
	size_t cmdline_len;	/* bytes of cmdline, its last NUL included or not */
	const char *cgroup;
};
int recorder__proc(struct recorder *r, const struct record_proc_info *p);

/* ---- reader ---- */

struct record_reader;

/*
 * Open a recording and check its header.  NULL and errno set on failure,
 * with one line in errbuf saying why (no trailing newline).  Anything
 * but a regular file is refused without being read.
 */
struct record_reader *record_reader__open(const char *path, char *errbuf, size_t errlen);
/* The same over len bytes at buf, which must outlive the reader (fuzzing, tests). */
struct record_reader *record_reader__open_mem(const void *buf, size_t len,
					      char *errbuf, size_t errlen);
const struct record_header *record_reader__header(const struct record_reader *rr);
/*
 * The next entry: 1 and *rec, *size set (valid until the next call; not
 * aligned), 0 at the end of the recording, or a negative errno with the
 * reason in record_reader__error().  After 0 or an error, every call
 * returns the same.  A partial last entry ends the recording: 0, and
 * record_reader__truncated() is then true.
 */
int record_reader__next(struct record_reader *rr, const void **rec, size_t *size);
const char *record_reader__error(const struct record_reader *rr);
bool record_reader__truncated(const struct record_reader *rr);
/* File offset of the entry last returned (for messages). */
__u64 record_reader__offset(const struct record_reader *rr);
void record_reader__close(struct record_reader *rr);

/* The strings of a RECORD_PROC the reader returned (it checked them). */
struct record_proc_view {
	const char *exe, *cmdline, *cgroup;
	size_t cmdline_len;	/* last NUL included */
};
int record_proc__parse(const void *rec, size_t size, struct record_proc_view *v);

#endif /* __FDTRACE_RECORD_H */
