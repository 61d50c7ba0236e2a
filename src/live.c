// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Live mode: trace running processes (-p) or a command (--) on this
 * kernel.  A session owns the modules (tracer, matcher, output, the
 * command) and the event loop; every record, from the ring buffer or
 * synthesised from /proc at attach, enters the engine through
 * session_feed(), the one place a recording will also be written from.
 */
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "clock.h"
#include "command.h"
#include "findings.h"
#include "live.h"
#include "matcher.h"
#include "output.h"
#include "attrib.h"
#include "html.h"
#include "prom.h"
#include "procfs.h"
#include "pysites.h"
#include "sites.h"
#include "record.h"
#include "tracer.h"
#include "version.h"

/*
 * Ring buffer records are stamped before they are committed, and another
 * CPU may commit a record a little after we look: judge the grace period
 * this far in the past so a close racing the deadline is seen first.
 */
#define TICK_SLACK_NS	(20ULL * 1000 * 1000)
#define POLL_MAX_MS	100
/* fds checked in one tick at most: bounded work between two drains */
#define VERIFY_BATCH	2048
/* How long until EMFILE: open fds counted about once a second per process */
#define FDS_INTERVAL_NS	(1000ULL * 1000 * 1000)
/* processes sampled in one pass at most; the rest are due on the next */
#define FDS_BATCH	1024

/* epoll_event.data.u64 tags; pidfds are tagged with TAG_PIDFD + index */
#define TAG_RINGBUF	0
#define TAG_SIGNAL	1
#define TAG_PIDFD	2

struct session {
	const struct env *env;
	struct output *out;
	struct matcher *matcher;
	struct tracer *tracer;
	struct command *cmd;
	struct findings *findings;	/* every report passes here (findings.h) */
	int epfd;
	int sigfd;
	int pidfds[ENV_MAX_PIDS];
	__u64 seed_untracked;	/* watches found at attach the kernel map had no room for */
	__u32 max_fds;		/* tracked_fds size in use */
	__u32 pidns_ino;	/* see pid_namespace() */
	bool warned_fds_full;
	bool warned_procs_full;
	/*
	 * -w: everything the engine is told goes here too, in the order it
	 * is told, so that a replay makes the same calls (record.h).
	 */
	struct recorder *rec;
	struct html *html;	/* --html: drawn from the same records and reports */
	struct sites *sites;	/* call sites' names, resolved at report time */
	struct dwfl_resolver *resolver;
	struct py_resolver *py;	/* --stacks: Python frames (pysites.h) */
	char py_warned[8][24];	/* versions already said to be unknown */
	char del_py[SITE_PY_FRAMES_LEN], add_py[SITE_PY_FRAMES_LEN];	/* a report's frames */
	int rec_err;		/* first write error: tracing stops */
	__u64 rec_flushed;	/* when it was last flushed */
	__u64 rec_lost;		/* lost total last recorded */
	__u64 tick_ts;		/* the tick being run, for its VERIFY records */
	__u64 next_interval;	/* --interval */
	struct attrib *attrib;	/* where each process lives */
	struct prom *prom;	/* --prom-file */
	int prom_err;		/* last write error reported, not to repeat it */
	char cgroup_mnt[256];	/* the cgroup v2 mount, for --cgroup at start */
	int cmd_status;
	bool cmd_exited;
	bool stop;
};

/* -a, --cgroup, --comm: the kernel chooses the processes */
static bool fleet(const struct session *s)
{
	return s->env->select_all || s->env->nr_cgroups || s->env->nr_comms;
}

/*
 * --prom-file: the interval and summary counters go to prom.c: an
 * interval is a live process's counters so far, a summary its final ones.
 */
static void prom_report(struct session *s, const struct report *r)
{
	const struct attrib_entry *e;
	struct prom_proc pp = { .fd_limit_in_s = -1 };
	struct fd_forecast f;

	if (r->kind != REPORT_INTERVAL && r->kind != REPORT_SUMMARY)
		return;
	e = attrib__get(s->attrib, r->pid);
	pp.unit = e ? (e->unit[0] ? e->unit : e->cgroup) : "";
	pp.comm = r->comm;
	pp.st = r->stats;
	pp.pid = r->pid;
	pp.exited = r->kind == REPORT_SUMMARY;
	/* the engine's last sample (about once a second) and its forecast */
	if (!pp.exited && !matcher__forecast(s->matcher, r->pid, r->ts_ns, &f) && f.sampled_ns) {
		pp.open_fds = f.open_fds;
		pp.fd_limit = f.fd_limit == UINT64_MAX ? 0 : f.fd_limit;
		if (f.leaking)
			pp.fd_limit_in_s = f.fd_limit_in_s;
	}
	prom__proc(s->prom, &pp);
}

static void prom_write(struct session *s)
{
	struct prom_global g = { .sample = s->env->sample };
	int err;

	tracer__stat(s->tracer, FDT_STAT_LOST, &g.lost_events);
	tracer__stat(s->tracer, FDT_STAT_TRACK_FULL, &g.untracked);
	g.processes_traced = matcher__nr_procs(s->matcher);
	err = prom__write(s->prom, &g);
	if (err && err != s->prom_err)
		output__warn(s->out, "cannot write %s: %s", s->env->prom_path, strerror(-err));
	s->prom_err = err;
}

/* A recording that cannot be written stops tracing: keep the first error. */
static void rec_check(struct session *s, int err)
{
	if (err < 0 && err != -EINVAL && !s->rec_err)
		s->rec_err = err;
}

/*
 * What a process is, read from /proc when it is first seen: where it
 * lives for the output, and for a recording enough to know, elsewhere
 * and later, what was traced.
 */
static void record_proc(struct session *s, __u32 pid, __u64 ts)
{
	static char exe[RECORD_PATH_MAX], cmdline[RECORD_PATH_MAX], cgroup[RECORD_PATH_MAX];
	struct record_proc_info pi = { .pid = pid, .seen_ns = ts };
	ssize_t n;

	if (procfs__exe(pid, exe, sizeof(exe)) == 0)
		pi.exe = exe;
	if (procfs__cgroup(pid, cgroup, sizeof(cgroup)) == 0)
		pi.cgroup = cgroup;
	attrib__set(s->attrib, pid, pi.cgroup, pi.exe);
	/* the rest only the recording and the picture keep */
	if (!s->rec && !s->html)
		return;
	procfs__comm(pid, pi.comm, sizeof(pi.comm));
	n = procfs__cmdline(pid, cmdline, sizeof(cmdline));
	if (n > 0) {
		pi.cmdline = cmdline;
		pi.cmdline_len = n;
	}
	procfs__nofile(pid, &pi.nofile_soft, &pi.nofile_hard);
	procfs__start_time(pid, &pi.start_time_ns);
	if (s->html)
		html__proc(s->html, &pi);
	if (s->rec)
		rec_check(s, recorder__proc(s->rec, &pi));
}

/*
 * --stream=summary: the EXIT of a process that used epoll but sent no
 * record (every watch quiet) is the first the engine hears of it.  Its
 * /proc entry may be gone already: where it lived is then unknown.
 */
static bool exit_of_quiet(const void *data, size_t size)
{
	const struct fdt_rec_proc *r = data;

	return r->hdr.type == FDT_REC_EXIT && size >= sizeof(*r) &&
	       (r->proc_flags & FDT_PROCF_EPOLL);
}

/* Every record enters the engine here. */
/*
 * --stacks: is pid a Python fdtrace can walk?  Asked when it is first seen
 * and after an exec (fresh), then at its next records until it is known.
 */
static void py_seen(struct session *s, __u32 pid, bool fresh)
{
	struct fdt_py_proc cfg;
	char ver[24] = "";
	size_t i;
	int ret;

	if (!s->py)
		return;
	/* a forked child may have its parent's entry already (py_inherit()) */
	ret = py_resolver__seen(s->py, pid, fresh, fresh ? tracer__py_gen(s->tracer, pid) : 0,
				&cfg, ver, sizeof(ver));
	if (ret == 1) {
		ret = tracer__set_python(s->tracer, pid, &cfg);
		if (ret)
			output__warn(s->out, "pid %u: cannot walk its Python frames: %s", pid,
				     strerror(-ret));
		return;
	}
	if (ret != -EPROTONOSUPPORT)
		return;
	/* one notice per version */
	for (i = 0; i < sizeof(s->py_warned) / sizeof(s->py_warned[0]) && s->py_warned[i][0]; i++)
		if (!strcmp(s->py_warned[i], ver))
			return;
	if (i < sizeof(s->py_warned) / sizeof(s->py_warned[0]))
		snprintf(s->py_warned[i], sizeof(s->py_warned[i]), "%s", ver);
	output__warn(s->out, "pid %u runs Python %s: no Python call sites (fdtrace knows the "
		     "frames of Python 3.11 only)", pid, ver);
}

/*
 * A record named a Python stack: its frames are named now, from the
 * process as it is (a later exec would leave nothing to read them from),
 * and recorded, so a replay elsewhere names the same.
 */
static void py_name_stack(struct session *s, __u32 pid, __u32 id)
{
	struct fdt_py_stack st;
	char buf[SITE_LEN];
	int fresh;
	__u32 i;

	/* named already: its first frame is in the table */
	if (!s->py || !id || sites__name(s->sites, pid, SITE_PY_KEY(id, 0), &fresh))
		return;
	/*
	 * Taken from the program the process runs now, or nothing is read:
	 * the kernel forgets the interpreter at the exec itself, before
	 * its EXEC record reaches us.
	 */
	if (tracer__py_stack(s->tracer, id, &st) || st.pid != pid || !st.gen ||
	    st.gen != py_resolver__gen(s->py, pid) || st.gen != tracer__py_gen(s->tracer, pid))
		return;
	for (i = 0; i < st.nr && i < FDT_PY_MAX_FRAMES; i++) {
		if (py_resolver__frame(s->py, pid, st.frames[i].code, st.frames[i].lasti,
				       buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		if (sites__set(s->sites, pid, SITE_PY_KEY(id, i), buf))
			return;
		if (s->rec)
			rec_check(s, recorder__site(s->rec, clock__mono_ns(), pid,
						    SITE_PY_KEY(id, i), buf));
	}
	if (st.flags & FDT_PYF_TRUNCATED && !sites__set(s->sites, pid, SITE_PY_KEY(id, i), "...") &&
	    s->rec)
		rec_check(s, recorder__site(s->rec, clock__mono_ns(), pid, SITE_PY_KEY(id, i), "..."));
}

static void session_feed(struct session *s, const void *data, size_t size)
{
	const struct fdt_rec_hdr *h = data;
	bool known;

	if (s->rec)
		rec_check(s, recorder__write(s->rec, data, size));
	if (s->html)
		html__record(s->html, data, size);
	if (size < sizeof(*h)) {
		matcher__feed(s->matcher, data, size);	/* counted as malformed */
		return;
	}
	/* what the process is: when first seen, and anew after an exec */
	known = attrib__get(s->attrib, h->pid) != NULL;
	if ((!known && h->type != FDT_REC_EXIT && h->type != FDT_REC_CLOSE) ||
	    (!known && exit_of_quiet(data, size)) || h->type == FDT_REC_EXEC)
		record_proc(s, h->pid, h->ts_ns);
	if (h->type == FDT_REC_EPOLL_CTL && size >= sizeof(struct fdt_rec_epoll_ctl)) {
		const struct fdt_rec_epoll_ctl *c = data;

		py_seen(s, h->pid, !known);
		py_name_stack(s, h->pid, c->py_stack);
	}
	/* A malformed record is counted by the matcher; keep draining. */
	matcher__feed(s->matcher, data, size);
	/* its summary is out: forget where it lived */
	if (h->type == FDT_REC_EXIT)
		attrib__drop(s->attrib, h->pid);
	/* a new program: its old mappings must not name new addresses */
	if (h->type == FDT_REC_EXIT || h->type == FDT_REC_EXEC)
		sites__forget(s->sites, h->pid);
	/* (the kernel side forgot its interpreter already) */
	if (h->type == FDT_REC_EXEC)
		py_seen(s, h->pid, true);
	else if (h->type == FDT_REC_EXIT && s->py)
		py_resolver__forget(s->py, h->pid);
}

/* The other calls the loop makes on the engine, each recorded first. */
static void session_tick(struct session *s, __u64 t)
{
	if (s->rec)
		rec_check(s, recorder__tick(s->rec, t));
	s->tick_ts = t;
	matcher__tick(s->matcher, t);
}

static void session_add_pid(struct session *s, __u32 pid, const char *comm, __u32 flags)
{
	__u64 now = clock__mono_ns();

	if (s->rec) {
		rec_check(s, recorder__add_pid(s->rec, now, pid, comm, flags));
		record_proc(s, pid, now);
	}
	py_seen(s, pid, true);
	matcher__add_pid(s->matcher, pid, comm, now);
}

/*
 * A sample of pid's open fds and RLIMIT_NOFILE, recorded and fed like a
 * record: a replay makes the same matcher__fds() call at the same place.
 */
static void session_fds(struct session *s, __u32 pid)
{
	__u64 open, soft, hard, now;

	/* gone: its EXIT record will say so */
	if (procfs__count_fds(pid, &open) || procfs__nofile(pid, &soft, &hard))
		return;
	now = clock__mono_ns();
	if (s->rec)
		rec_check(s, recorder__fds(s->rec, now, pid, open, soft, hard));
	if (s->html)
		html__sample(s->html, pid, now, open, soft);
	matcher__fds(s->matcher, pid, now, open, soft, hard);
}

/*
 * The processes the engine wants a sample of: new ones, and those with
 * unwatched fds or findings once their last sample is interval_ns old;
 * FDS_BATCH a pass, the rest on the next.  interval_ns 0, before the
 * summaries: every process, in one pass.
 */
static void sample_fds(struct session *s, __u64 interval_ns)
{
	static __u32 batch[FDS_BATCH];
	size_t n = matcher__fds_due(s->matcher, clock__mono_ns(), interval_ns, batch, FDS_BATCH);
	__u32 *all = NULL;

	if (n > FDS_BATCH && !interval_ns)
		all = malloc(n * sizeof(*all));
	if (all)
		n = matcher__fds_due(s->matcher, clock__mono_ns(), 0, all, n);
	else if (n > FDS_BATCH)
		n = FDS_BATCH;
	for (size_t i = 0; i < n; i++)
		session_fds(s, all ? all[i] : batch[i]);
	free(all);
}

static void session_drop_pid(struct session *s, __u32 pid, __u64 now)
{
	if (s->rec)
		rec_check(s, recorder__drop(s->rec, now, pid));
	matcher__drop_pid(s->matcher, pid, now);
}

static void session_warn(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void session_warn(struct session *s, const char *fmt, ...)
{
	char msg[RECORD_WARN_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->rec)
		rec_check(s, recorder__warn(s->rec, clock__mono_ns(), msg));
	if (s->html)
		html__warn(s->html, clock__mono_ns(), msg);
	output__warn(s->out, "%s", msg);
}

static int on_record(void *ctx, const void *data, size_t size)
{
	session_feed(ctx, data, size);
	return 0;
}


static const char *site_name(struct session *s, __u32 pid, __u64 addr)
{
	int fresh;
	const char *name = sites__name(s->sites, pid, addr, &fresh);

	if (name && fresh && s->rec)
		rec_check(s, recorder__site(s->rec, clock__mono_ns(), pid, addr, name));
	return name;
}

/* The matcher's report_fn: the output, and the picture if one is drawn. */
static void session_report(void *ctx, const struct report *r)
{
	struct session *s = ctx;
	struct report named;

	/*
	 * The call sites, named now, while the process and its mappings are
	 * there; the names go into the recording, which has no mappings.
	 */
	if ((r->kind == REPORT_LEAK || r->kind == REPORT_LEAK_RESOLVED) && s->sites &&
	    (r->del_site || r->add_site || r->del_py_stack || r->add_py_stack)) {
		named = *r;
		named.del_site_name = site_name(s, r->pid, r->del_site);
		named.add_site_name = site_name(s, r->pid, r->add_site);
		if (sites__py_frames(s->sites, r->pid, r->del_py_stack, s->del_py, sizeof(s->del_py)))
			named.del_py_name = s->del_py;
		if (sites__py_frames(s->sites, r->pid, r->add_py_stack, s->add_py, sizeof(s->add_py)))
			named.add_py_name = s->add_py;
		r = &named;
	}
	/* counted for --error-exitcode and shared with the command, then printed */
	findings__report(s->findings, r);
	if (s->html)
		html__report(s->html, r);
	if (s->prom)
		prom_report(s, r);
}

/* --html: checked now, so a path that cannot be written fails before tracing. */
static int open_html(struct session *s)
{
	struct html_opts o = HTML_OPTS_INIT;
	struct utsname u;
	int err;

	if (!s->env->html_path)
		return 0;
	err = html__check_path(s->env->html_path, s->env->force);
	if (err) {
		output__error(s->out, "cannot write %s: %s%s", s->env->html_path, strerror(-err),
			      err == -EEXIST ? " (--force replaces it)" : "");
		return -1;
	}
	uname(&u);
	o.realtime_offset_ns = output__realtime_offset(s->out);
	o.grace_ns = s->env->grace_ns;
	o.host = u.nodename;
	o.kernel = u.release;
	o.source = "live";
	o.version = FDTRACE_VERSION;
	o.force = s->env->force;
	s->html = html__new(&o);
	if (!s->html) {
		output__error(s->out, "cannot draw %s: %s", s->env->html_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* -w: create the recording, its header saying how this run was made. */
static int open_recording(struct session *s)
{
	struct record_header h;

	if (!s->env->write_path)
		return 0;
	record_header__init(&h);
	h.realtime_offset_ns = output__realtime_offset(s->out);
	h.grace_ns = s->env->grace_ns;
	h.pause_grace_ns = s->env->pause_grace_ns;
	h.max_checks = VERIFY_BATCH;
	snprintf(h.fdtrace_version, sizeof(h.fdtrace_version), "%s", FDTRACE_VERSION);
	snprintf(h.fdtrace_commit, sizeof(h.fdtrace_commit), "%s", FDTRACE_COMMIT);
	snprintf(h.options, sizeof(h.options), "%s", s->env->options);
	s->rec = recorder__open(s->env->write_path, s->env->force, &h);
	if (!s->rec) {
		output__error(s->out, "cannot create recording %s: %s%s", s->env->write_path,
			      strerror(errno), errno == EEXIST ? " (--force replaces it)" : "");
		return -1;
	}
	s->rec_flushed = clock__mono_ns();
	return 0;
}

/* At least once a second, so a recording cut off loses at most that. */
static void flush_recording(struct session *s, __u64 now)
{
	if (!s->rec || now - s->rec_flushed < 1000000000ULL)
		return;
	rec_check(s, recorder__flush(s->rec));
	s->rec_flushed = now;
}

/*
 * matcher verify_fn: asked only for fds about to be reported, all the due
 * fds of one process at once.
 */

static int verify_fds(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
		      __u64 *lost)
{
	static __s32 fds[VERIFY_BATCH];
	static enum tracer_verdict v[VERIFY_BATCH];
	static struct fdt_verify socks[VERIFY_BATCH];
	struct session *s = ctx;
	int err;

	if (n > VERIFY_BATCH)
		return -E2BIG;	/* the matcher is told max_checks = VERIFY_BATCH */
	tracer__proc_lost(s->tracer, pid, lost);
	for (size_t i = 0; i < n; i++)
		fds[i] = reqs[i].fd;
	err = tracer__verify(s->tracer, pid, fds, v, socks, n);
	for (size_t i = 0; i < n; i++) {
		reqs[i].sock = err ? (struct fdt_verify){} : socks[i];
		reqs[i].path[0] = '\0';
		/* what a leaked file is, said while it is still open */
		if (!err && v[i] == VERIFY_SAME && reqs[i].file.ftype != FDT_FT_SOCKET)
			procfs__fd_path(pid, reqs[i].fd, reqs[i].path, sizeof(reqs[i].path));
		reqs[i].verdict = err ? VERDICT_UNKNOWN :
				  v[i] == VERIFY_SAME ? VERDICT_SAME :
				  v[i] == VERIFY_GONE ? VERDICT_GONE :
				  v[i] == VERIFY_WATCHED ? VERDICT_WATCHED : VERDICT_UNKNOWN;
		/* the answers, so that a replay decides the same */
		if (s->rec)
			rec_check(s, recorder__verify(s->rec, s->tick_ts, pid, reqs[i].fd,
						      reqs[i].verdict, *lost, &reqs[i].sock,
						      reqs[i].path));
	}
	return err;
}

/*
 * matcher new_epfd: have the kernel report the close of the process's
 * epoll fd, which ends its watches without a DEL.  The kernel side tracks
 * every epoll fd it sees an ADD on; this covers those found in /proc at
 * attach (an EEXIST otherwise).
 */
static void track_epfd(void *ctx, __u32 pid, __s32 epfd)
{
	struct session *s = ctx;
	struct fdt_file file;

	if (procfs__fd_file(pid, epfd, &file) || file.ftype != FDT_FT_EPOLL)
		return;
	tracer__track_fd(s->tracer, pid, epfd, &file);
}

static int pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

static int watch_fd(struct session *s, int fd, __u64 tag, __u32 flags)
{
	struct epoll_event ev = { .events = EPOLLIN | flags, .data.u64 = tag };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void check_lost(struct session *s, __u64 now)
{
	__u64 lost;

	if (tracer__stat(s->tracer, FDT_STAT_LOST, &lost))
		return;
	if (s->rec && lost != s->rec_lost) {
		rec_check(s, recorder__lost(s->rec, now, lost));
		s->rec_lost = lost;
	}
	/* the matcher keeps the count for the totals; output says what is new */
	matcher__set_lost(s->matcher, lost);
	output__lost(s->out, lost, now);
}

/*
 * What the kernel side could not keep track of, said when it first
 * happens (the counts are in the summaries and totals).
 */
static void check_full(struct session *s)
{
	__u64 n;

	if (!s->warned_fds_full && !tracer__stat(s->tracer, FDT_STAT_TRACK_FULL, &n) && n) {
		s->warned_fds_full = true;
		session_warn(s, "the kernel's fd table is full (--max-fds %u): new watches are not tracked and their processes' counts are partial",
			     s->max_fds);
	}
	if (!s->warned_procs_full && !tracer__stat(s->tracer, FDT_STAT_PROC_FULL, &n) && n) {
		s->warned_procs_full = true;
		session_warn(s, "too many traced processes (--max-procs %u): new children are not followed",
			     s->env->max_pids);
	}
}

static void proc_lost(void *ctx, __u32 pid, __u64 lost, const struct tracer_kcounts *kc)
{
	struct session *s = ctx;
	char comm[FDT_COMM_LEN] = "?";

	if (s->rec)
		rec_check(s, recorder__proc_lost(s->rec, clock__mono_ns(), pid, lost));
	matcher__set_proc_lost(s->matcher, pid, lost);
	/*
	 * --stream=summary: the watch cycles the kernel kept to itself, as
	 * running totals: read at every --interval and at the end (there is
	 * no recording to write them to: -w takes the full stream).
	 */
	if (s->env->stream_summary && kc &&
	    (kc->ended || kc->closed || kc->rewatched || kc->used_epoll)) {
		const char *name = NULL;	/* known: the engine has its name */

		/*
		 * No record of it yet: where it lives and its name, as a
		 * record would have them.  /proc is read once, not at
		 * every interval for every process.
		 */
		if (!attrib__get(s->attrib, pid)) {
			record_proc(s, pid, clock__mono_ns());
			procfs__comm(pid, comm, sizeof(comm));
			name = comm;
		}
		matcher__kernel_counts(s->matcher, pid, name, kc->ended, kc->closed,
				       kc->rewatched, kc->used_epoll, clock__mono_ns());
	}
}

/*
 * --stream=summary: an fd whose watch ended long enough ago was taken
 * from the kernel's pending map; its withheld records are fed as the
 * ring buffer would have delivered them.
 */
static void on_pending(void *ctx, const void *rec, size_t size)
{
	struct session *s = ctx;
	union {
		struct fdt_rec_epoll_ctl r;
		char buf[sizeof(struct fdt_rec_epoll_ctl) + sizeof(struct fdt_sock_id)];
	} copy;
	const char *comm;

	if (size > sizeof(copy))
		return;
	memcpy(&copy, rec, size);
	/*
	 * The kernel leaves the name out of what it parks.  The engine has
	 * it once it has seen the process (an exec record renames it); /proc
	 * is read only for a process it has not: thousands of parked fds
	 * taken at once must not cost a /proc read each.
	 */
	comm = matcher__comm(s->matcher, copy.r.hdr.pid);
	if (comm) {
		memcpy(copy.r.hdr.comm, comm, sizeof(copy.r.hdr.comm));
	} else {
		strcpy(copy.r.hdr.comm, "?");
		procfs__comm(copy.r.hdr.pid, copy.r.hdr.comm, sizeof(copy.r.hdr.comm));
	}
	session_feed(s, &copy, size);
}

/* fds taken from the pending map in one tick at most */
#define PENDING_BATCH	4096

/* Summary mode: take what stayed unwatched past the grace before it is judged. */
static void take_pending(struct session *s, __u64 now, bool all)
{
	__u64 before = all ? UINT64_MAX : now - TICK_SLACK_NS - s->env->grace_ns;

	if (!s->env->stream_summary)
		return;
	if (!all && now < TICK_SLACK_NS + s->env->grace_ns)
		return;
	/* at the end, all of them: the engine counts the ones not due too */
	while (tracer__take_pending(s->tracer, before, PENDING_BATCH, on_pending, s) >=
	       PENDING_BATCH && all)
		;
}

/*
 * A stop signal ends tracing of -p targets.  A command is given the
 * signal instead, and traced until it exits (as strace and timeout do).
 */
static void handle_signals(struct session *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (!s->cmd || s->cmd_exited) {
			s->stop = true;
			continue;
		}
		if (command__signal(s->cmd, si.ssi_signo, si.ssi_code) == 1)
			output__warn(s->out, "second signal (%s): killed %s (pid %d) with SIGKILL",
				     strsignal(si.ssi_signo), s->env->command[0],
				     command__pid(s->cmd));
	}
}

/* A -p target's pidfd turned readable: it has exited. */
static void root_exited(struct session *s, size_t i)
{
	__u32 pid = s->env->pids[i];

	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->pidfds[i], NULL);
	close(s->pidfds[i]);
	s->pidfds[i] = -1;
	/*
	 * Its EXIT record was submitted before the pidfd was notified and
	 * has been consumed by now; if it was lost, summarise here.
	 */
	session_drop_pid(s, pid, clock__mono_ns());
	tracer__untrace_pid(s->tracer, pid);
}

/*
 * How often the ring buffer must be drained for a DEL to be seen well
 * within the grace period.  Below SHORT_GRACE_NS polling would have to
 * be fast, so the kernel side wakes us at the first record instead and
 * the loop sleeps until the next deadline.
 */
#define SHORT_GRACE_NS	(40ULL * 1000 * 1000)
#define RING_WAKEUP_BYTES (64U * 1024)

static __u64 drain_interval_ns(const struct session *s)
{
	__u64 ns = s->env->grace_ns / 4;

	if (s->env->grace_ns < SHORT_GRACE_NS || ns > POLL_MAX_MS * 1000000ULL)
		return POLL_MAX_MS * 1000000ULL;
	return ns;
}

/* The loop's timeout: the next periodic pass or the next leak due, whichever first. */
static int wait_ms(const struct session *s, __u64 now, __u64 next_tick)
{
	__u64 due = matcher__next_due(s->matcher), until = next_tick;

	if (due != UINT64_MAX && due + TICK_SLACK_NS < until)
		until = due + TICK_SLACK_NS + 1;
	if (until <= now)
		return 0;
	return (until - now + 999999) / 1000000;
}

static int run(struct session *s)
{
	struct epoll_event evs[16];
	__u64 start = clock__mono_ns(), now, interval_ns = drain_interval_ns(s);
	__u64 next_tick = start + interval_ns, due;
	int n, err;

	while (!s->stop && !output__failed(s->out) && !s->rec_err) {
		n = epoll_wait(s->epfd, evs, 16, wait_ms(s, clock__mono_ns(), next_tick));
		if (n < 0 && errno != EINTR)
			return -errno;
		/* Drain first: a pidfd or SIGCHLD may refer to records still queued. */
		err = tracer__consume(s->tracer);
		if (err < 0)
			return err;
		for (int i = 0; i < n; i++) {
			__u64 tag = evs[i].data.u64;

			if (tag == TAG_SIGNAL) {
				handle_signals(s);
				next_tick = 0;	/* SIGCHLD: look at the command now */
			} else if (tag >= TAG_PIDFD) {
				root_exited(s, tag - TAG_PIDFD);
				next_tick = 0;
			}
		}
		/*
		 * The rest costs syscalls: once per interval or when a leak
		 * is due, not on every wakeup of a busy ring buffer.
		 */
		now = clock__mono_ns();
		due = matcher__next_due(s->matcher);
		if (now < next_tick && (due == UINT64_MAX || now <= due + TICK_SLACK_NS))
			continue;
		if (now >= next_tick)
			next_tick = now + interval_ns;
		if (s->cmd && !s->cmd_exited &&
		    command__reap(s->cmd, &s->cmd_status) == 1) {
			s->cmd_exited = true;
			session_drop_pid(s, command__pid(s->cmd), now);
			tracer__untrace_pid(s->tracer, command__pid(s->cmd));
		}
		take_pending(s, now, false);
		session_tick(s, now - TICK_SLACK_NS);
		sample_fds(s, FDS_INTERVAL_NS);
		check_lost(s, now);
		check_full(s);
		flush_recording(s, now);
		if (s->env->interval_ns && now >= s->next_interval) {
			if (s->env->stream_summary)
				tracer__procs(s->tracer, proc_lost, s);
			matcher__interval(s->matcher, now);
			if (s->prom)
				prom_write(s);
			s->next_interval = now + s->env->interval_ns;
		}
		if (!fleet(s) && !tracer__any_traced(s->tracer))
			break;	/* every target is gone */
		if (s->env->duration_ns && now - start >= s->env->duration_ns)
			break;
	}
	return 0;
}

struct seed_ctx {
	struct session *s;
	struct fdt_rec_watch_seed rec;
	size_t n;		/* watches seeded */
};

static void seed_watch(void *ctx, const struct procfs_watch *w)
{
	struct seed_ctx *c = ctx;

	c->rec.epfd = w->epfd;
	c->rec.fd = w->fd;
	c->rec.events = w->events;
	c->rec.file = w->file;
	session_feed(c->s, &c->rec, sizeof(c->rec));
	c->n++;
	if (tracer__track_fd(c->s->tracer, c->rec.hdr.pid, w->fd, &w->file))
		c->s->seed_untracked++;
}

/*
 * Watches that began before we attached, from /proc/PID/fdinfo of each
 * epoll fd.  Read after attaching, so nothing between the two is missed;
 * a DEL that races the read arrives later as a record and still matches.
 */
static size_t seed_watches(struct session *s, __u32 pid);

/* The --cgroup and --comm selection, as /proc shows it: for seeding only. */
static bool fleet_selects(struct session *s, __u32 pid)
{
	char buf[4096], full[4352], comm[FDT_COMM_LEN];
	bool ok = true;

	if (s->env->nr_cgroups) {
		ok = false;
		if (!procfs__cgroup(pid, buf, sizeof(buf))) {
			snprintf(full, sizeof(full), "%s%s", s->cgroup_mnt,
				 strcmp(buf, "/") ? buf : "");
			for (size_t i = 0; i < s->env->nr_cgroups && !ok; i++) {
				size_t n = strlen(s->env->cgroups[i]);

				ok = !strncmp(full, s->env->cgroups[i], n) &&
				     (full[n] == '/' || full[n] == '\0');
			}
		}
	}
	if (ok && s->env->nr_comms) {
		ok = false;
		if (!procfs__comm(pid, comm, sizeof(comm)))
			for (size_t i = 0; i < s->env->nr_comms && !ok; i++)
				ok = !strcmp(comm, s->env->comms[i]);
	}
	return ok;
}

/*
 * Fleet modes at start: the selected processes that already have epoll
 * watches, seeded from /proc like -p targets.  The others are picked up
 * by the kernel at their first epoll_ctl.
 */
static void fleet_seed(struct session *s)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	procfs__cgroup2_mount(s->cgroup_mnt, sizeof(s->cgroup_mnt));
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid || pid == (unsigned long)getpid() || !fleet_selects(s, pid))
			continue;
		if (tracer__trace_pid(s->tracer, pid))
			continue;
		if (!seed_watches(s, pid))
			tracer__untrace_pid(s->tracer, pid);
	}
	closedir(d);
}

static size_t seed_watches(struct session *s, __u32 pid)
{
	struct seed_ctx c = {
		.s = s,
		.rec.hdr = {
			.type = FDT_REC_WATCH_SEED,
			.size = sizeof(c.rec),
			.pid = pid,
			.tid = pid,
		},
	};

	c.rec.hdr.ts_ns = clock__mono_ns();
	procfs__comm(pid, c.rec.hdr.comm, sizeof(c.rec.hdr.comm));
	procfs__epoll_watches(pid, seed_watch, &c);
	return c.n;
}

static int setup_loop(struct session *s, const sigset_t *blocked)
{
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	s->sigfd = signalfd(-1, blocked, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return -errno;
	if (watch_fd(s, s->sigfd, TAG_SIGNAL, 0) ||
	    watch_fd(s, tracer__poll_fd(s->tracer), TAG_RINGBUF, EPOLLET))
		return -errno;
	for (size_t i = 0; i < s->env->nr_pids; i++) {
		s->pidfds[i] = pidfd_open(s->env->pids[i]);
		if (s->pidfds[i] < 0)
			return -errno;
		if (watch_fd(s, s->pidfds[i], TAG_PIDFD + i, 0))
			return -errno;
	}
	return 0;
}

static void start_banner(struct session *s)
{
	char comms[ENV_MAX_PIDS][FDT_COMM_LEN];
	const char *comm_ptrs[ENV_MAX_PIDS];
	struct start_info si = {
		.pids = s->env->pids,
		.nr_pids = s->env->nr_pids,
		.comms = comm_ptrs,
		.grace_ns = s->env->grace_ns,
		.ts_ns = clock__mono_ns(),
		.version = FDTRACE_VERSION,
		.commit = FDTRACE_COMMIT,
	};

	for (size_t i = 0; i < s->env->nr_pids; i++) {
		if (procfs__comm(s->env->pids[i], comms[i], sizeof(comms[i])))
			strcpy(comms[i], "?");
		comm_ptrs[i] = comms[i];
	}
	if (s->cmd) {
		si.command = s->env->command[0];
		si.command_pid = command__pid(s->cmd);
	}
	si.select_all = s->env->select_all;
	si.cgroups = (const char *const *)s->env->cgroups;
	si.nr_cgroups = s->env->nr_cgroups;
	si.select_comms = s->env->comms;
	si.nr_comms = s->env->nr_comms;
	si.sample = s->env->sample;
	si.backend = tracer_backend_name(tracer__backend(s->tracer, NULL));
	if (s->rec)
		rec_check(s, recorder__start(s->rec, si.ts_ns, si.pids, si.comms, si.nr_pids,
					     si.command, si.command_pid));
	output__start(s->out, &si);
}


static void session_free(struct session *s)
{
	tracer__free(s->tracer);
	for (size_t i = 0; i < s->env->nr_pids; i++)
		if (s->pidfds[i] >= 0)
			close(s->pidfds[i]);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	command__free(s->cmd);
	matcher__free(s->matcher);
	attrib__free(s->attrib);
	html__free(s->html);
	sites__free(s->sites);
	dwfl_resolver__free(s->resolver);
	py_resolver__free(s->py);
	prom__free(s->prom);
	if (s->rec)
		recorder__close(s->rec);	/* what it holds stays readable */
}

/* The -p targets exist and are not us.  0 or -1 (reported). */
static int check_targets(struct session *s)
{
	for (size_t i = 0; i < s->env->nr_pids; i++) {
		if ((pid_t)s->env->pids[i] == getpid()) {
			output__error(s->out, "refusing to trace fdtrace itself (pid %u)", s->env->pids[i]);
			return -1;
		}
		__u32 pid = s->env->pids[i], tgid = 0;

		switch (procfs__check_pid(pid, &tgid)) {
		case PROCFS_PROCESS:
			continue;
		case PROCFS_THREAD:
			output__error(s->out, "%u is a thread of process %u: trace %u",
				      pid, tgid, tgid);
			return -1;
		/* Neither ever makes an epoll call or exits: traced forever. */
		case PROCFS_KTHREAD:
			output__error(s->out, "pid %u is a kernel thread", pid);
			return -1;
		case PROCFS_ZOMBIE:
			output__error(s->out, "pid %u has exited (zombie)", pid);
			return -1;
		default:
			output__error(s->out, "no such process: %u", pid);
			return -1;
		}
	}
	return 0;
}

/*
 * The pid namespace fdtrace runs in, if it is not the initial one (a
 * container, `unshare -p`): the kernel side then keys everything by the
 * pids this namespace sees, the ones the user typed and /proc shows.  That
 * needs a /proc mounted for this namespace; with the host's, every pid
 * fdtrace read there would name another process.  0, or -1 (reported).
 */
#define PROC_PID_INIT_INO	0xEFFFFFFCU	/* include/linux/proc_ns.h */

static int pid_namespace(struct session *s)
{
	char self[32];
	struct stat st;
	ssize_t n;

	if (stat("/proc/self/ns/pid", &st)) {
		output__error(s->out, "cannot read /proc/self/ns/pid: %s", strerror(errno));
		return -1;
	}
	if (st.st_ino == PROC_PID_INIT_INO)
		return 0;
	n = readlink("/proc/self", self, sizeof(self) - 1);
	if (n <= 0 || (self[n] = '\0', strtol(self, NULL, 10) != getpid())) {
		output__error(s->out, "/proc belongs to another pid namespace than fdtrace's: mount one for it (unshare --mount-proc)");
		return -1;
	}
	s->pidns_ino = st.st_ino;
	return 0;
}

/*
 * --max-fds not given: room for every fd the targets may open (their
 * RLIMIT_NOFILE soft limits, a command's is ours), at least
 * DEFAULT_MAX_FDS.  Entries are not preallocated: memory follows the fds
 * tracked, and only the hash buckets (16 bytes each) are sized up front,
 * hence the cap.
 */
#define MAX_AUTO_FDS	(1U << 20)

static __u32 size_fd_map(const struct session *s)
{
	__u64 want = 0, soft, hard;
	struct rlimit rl;

	if (s->env->max_tracked_fds)
		return s->env->max_tracked_fds;
	for (size_t i = 0; i < s->env->nr_pids; i++)
		if (!procfs__nofile(s->env->pids[i], &soft, &hard))
			want += soft;
	if (s->env->command && !getrlimit(RLIMIT_NOFILE, &rl))
		want += rl.rlim_cur;
	if (want < DEFAULT_MAX_FDS)
		want = DEFAULT_MAX_FDS;
	return want > MAX_AUTO_FDS ? MAX_AUTO_FDS : want;
}

/*
 * Load, choose the targets, attach, then learn what they already watch:
 * after attaching, so nothing in between is missed.  0 or -1 (reported).
 */
static int start_tracing(struct session *s, const sigset_t *blocked)
{
	struct tracer_opts topts = {
		.on_record = on_record,
		.ctx = s,
		.follow = s->env->follow,
		.verbose = s->env->verbose,
		.ringbuf_bytes = s->env->ringbuf_bytes,
		.wakeup_bytes = s->env->grace_ns < SHORT_GRACE_NS ? 1 : RING_WAKEUP_BYTES,
		.max_tracked_fds = s->max_fds,
		.max_pids = s->env->max_pids,
		.pidns_ino = s->pidns_ino,
		.select_all = s->env->select_all,
		.cgroups = (const char *const *)s->env->cgroups,
		.nr_cgroups = s->env->nr_cgroups,
		.comms = s->env->comms,
		.nr_comms = s->env->nr_comms,
		.sample = s->env->sample,
		.summary = s->env->stream_summary,
		.stacks = s->env->stacks,
		.grace_ns = s->env->grace_ns,
		.backend = s->env->backend,
	};
	char errbuf[256];
	int err = 0;

	s->tracer = tracer__new(&topts, errbuf, sizeof(errbuf));
	if (!s->tracer) {
		output__error(s->out, "%s", errbuf);
		return -1;
	}
	if (s->env->verbose) {
		const char *why;
		enum tracer_backend b = tracer__backend(s->tracer, &why);

		fprintf(stderr, "fdtrace: backend %s%s%s%s\n", tracer_backend_name(b),
			*why ? " (fentry: " : "", why, *why ? ")" : "");
	}
	for (size_t i = 0; i < s->env->nr_pids && !err; i++)
		err = tracer__trace_pid(s->tracer, s->env->pids[i]);
	if (!err && s->cmd)
		err = tracer__trace_pid(s->tracer, command__pid(s->cmd));
	if (err) {
		output__error(s->out, "cannot trace process: %s", strerror(-err));
		return -1;
	}
	if (tracer__attach(s->tracer, errbuf, sizeof(errbuf))) {
		output__error(s->out, "%s", errbuf);
		return -1;
	}
	err = setup_loop(s, blocked);
	if (err) {
		/* The only likely cause: a -p target exited meanwhile. */
		output__error(s->out, "cannot watch targets: %s", strerror(-err));
		return -1;
	}

	for (size_t i = 0; i < s->env->nr_pids; i++) {
		char comm[FDT_COMM_LEN] = "?";

		procfs__comm(s->env->pids[i], comm, sizeof(comm));
		session_add_pid(s, s->env->pids[i], comm, 0);
		seed_watches(s, s->env->pids[i]);
	}
	if (s->cmd) {
		const char *base = strrchr(s->env->command[0], '/');

		session_add_pid(s, command__pid(s->cmd),
				base ? base + 1 : s->env->command[0], RECORD_ADD_COMMAND);
	}
	if (fleet(s))
		fleet_seed(s);
	if (s->seed_untracked)
		session_warn(s, "%llu existing watches not tracked in the kernel (--max-fds too small)",
			     (unsigned long long)s->seed_untracked);
	return 0;
}

/* Drain, report what is due, then the summaries and totals. */
static void finish_tracing(struct session *s)
{
	__u64 now;

	tracer__consume(s->tracer);
	/* the summaries' open fds as they are now */
	sample_fds(s, 0);
	now = clock__mono_ns();
	take_pending(s, now, true);
	session_tick(s, now);
	check_lost(s, now);
	check_full(s);
	tracer__procs(s->tracer, proc_lost, s);
	if (s->rec)
		rec_check(s, recorder__finish(s->rec, now));
	matcher__finish(s->matcher, now);
}

/*
 * fdtrace's exit status once tracing ended well: --error-exitcode's if a
 * finding it counts was reported, else COMMAND's if it ran and exited,
 * else 0.
 */
static int exit_status(struct session *s)
{
	int status = 0;

	/* Stopped because the command exited: collect its status. */
	if (s->cmd && !s->cmd_exited && !s->stop && !tracer__any_traced(s->tracer) &&
	    waitpid(command__pid(s->cmd), &s->cmd_status, 0) == command__pid(s->cmd))
		s->cmd_exited = true;
	if (s->cmd && s->cmd_exited)
		status = WIFEXITED(s->cmd_status) ? WEXITSTATUS(s->cmd_status)
						  : 128 + WTERMSIG(s->cmd_status);
	return findings__exit_status(s->findings, s->env->error_on, s->env->error_exitcode,
				     status);
}


/* What ends tracing (or is passed on to a command): Ctrl-C, kill, hangup, Ctrl-backslash */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

int live__run(const struct env *env, struct output *out)
{
	static struct session s = { .epfd = -1, .sigfd = -1 };
	static const struct timespec no_wait;
	struct matcher_opts mopts = {};
	sigset_t blocked, stop_sigs, orig;
	struct rlimit nofile;
	bool have_nofile;
	int err, sig, html_err = 0, status = 2;

	s.env = env;
	s.out = out;
	memset(s.pidfds, -1, sizeof(s.pidfds));

	have_nofile = !getrlimit(RLIMIT_NOFILE, &nofile);
	if (check_targets(&s))
		goto out;

	mopts.grace_ns = env->grace_ns;
	mopts.pause_grace_ns = env->pause_grace_ns;
	s.findings = findings__new(out);
	if (!s.findings) {
		output__error(out, "cannot count findings: %s", strerror(errno));
		goto out;
	}
	mopts.report = session_report;
	mopts.ctx = &s;
	mopts.verify = verify_fds;
	mopts.verify_ctx = &s;
	/* bounded work per pass, so signals and the ring buffer are never starved */
	mopts.max_checks = VERIFY_BATCH;
	mopts.new_epfd = track_epfd;
	mopts.ctx_epfd = &s;
	s.resolver = dwfl_resolver__new();
	s.sites = s.resolver ? sites__new(dwfl_resolver__name, dwfl_resolver__forget, s.resolver) :
			       NULL;
	if (env->stacks && s.sites)
		s.py = py_resolver__new();
	s.attrib = attrib__new();
	if (s.attrib)
		output__set_attrib(out, attrib__output, s.attrib);
	s.matcher = matcher__new(&mopts);
	if (!s.matcher || !s.attrib) {
		output__error(out, "cannot create matcher: %s", strerror(errno));
		goto out;
	}
	if (env->prom_path) {
		s.prom = prom__new(env->prom_path, env->sample);
		if (!s.prom) {
			output__error(out, "cannot write %s: %s", env->prom_path, strerror(errno));
			goto out;
		}
	}

	/*
	 * Signals are read from a signalfd in the event loop; a command
	 * started here gets the original mask back before it execs.
	 */
	sigemptyset(&stop_sigs);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		struct sigaction sa;

		/*
		 * One ignored when we start stays ignored (nohup, a shell's
		 * background job): a blocked signal is queued even if
		 * ignored, and would otherwise end a run meant to survive
		 * the hangup.  The command inherits it ignored, as from
		 * any launcher.
		 */
		if (!sigaction(stop_signals[i], NULL, &sa) && sa.sa_handler == SIG_IGN)
			continue;
		sigaddset(&stop_sigs, stop_signals[i]);
	}
	blocked = stop_sigs;
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, &orig);

	if (env->share_events) {
		/* before the fork: the command inherits the file's fd */
		err = findings__share(s.findings, env->error_on, output__realtime_offset(out));
		if (err) {
			output__error(out, "cannot share events with %s: %s", env->command[0],
				      strerror(-err));
			goto out;
		}
	}
	if (env->command) {
		/* Forked before the BPF object exists: it inherits no BPF fds. */
		s.cmd = command__new(env->command, &orig, have_nofile ? &nofile : NULL);
		if (!s.cmd) {
			output__error(out, "cannot execute %s: %s", env->command[0], strerror(errno));
			goto out;
		}
	}
	if (pid_namespace(&s))
		goto out;
	s.max_fds = size_fd_map(&s);	/* from the limit the command gets */
	if (open_recording(&s) || open_html(&s))
		goto out;
	/*
	 * A pidfd per -p target beside the BPF fds: ENV_MAX_PIDS targets do
	 * not fit the usual soft limit of 1024.  Raise it as far as the hard
	 * limit allows; a command gets the original back before it execs.
	 */
	if (have_nofile && nofile.rlim_cur < nofile.rlim_max) {
		struct rlimit raised = { nofile.rlim_max, nofile.rlim_max };

		setrlimit(RLIMIT_NOFILE, &raised);	/* best effort */
	}
	if (start_tracing(&s, &blocked))
		goto out;

	if (s.cmd) {
		/* Stopped while starting: the command never runs (freed: killed). */
		sig = sigtimedwait(&stop_sigs, NULL, &no_wait);
		if (sig > 0) {
			status = 128 + sig;
			goto out;
		}
		/* Nothing is printed before COMMAND has been executed. */
		err = command__release(s.cmd);
		if (err) {
			/* resolve() found the file: ENOENT now is its interpreter */
			output__error(out, "cannot execute %s: %s%s", env->command[0],
				      err == -ENOENT ? "bad interpreter: " : "", strerror(-err));
			goto out;
		}
	}
	start_banner(&s);
	/* the targets' fds at attach: after the banner, which an FD_PRESSURE follows */
	sample_fds(&s, FDS_INTERVAL_NS);
	if (s.cmd) {
		struct start_info si = {
			.command = env->command[0],
			.command_pid = command__pid(s.cmd),
			.grace_ns = env->grace_ns,
			.version = FDTRACE_VERSION,
			.commit = FDTRACE_COMMIT,
		};

		findings__start(s.findings, &si);
	}

	s.next_interval = clock__mono_ns() + env->interval_ns;
	err = run(&s);
	if (err) {
		output__error(out, "event loop failed: %s", strerror(-err));
		goto out;
	}
	if (!output__failed(out) && !s.rec_err)
		finish_tracing(&s);
	if (s.rec) {
		rec_check(&s, recorder__close(s.rec));
		s.rec = NULL;
	}
	html_err = s.html ? html__write(s.html, env->html_path) : 0;
	if (html_err)
		output__error(out, "cannot write %s: %s", env->html_path, strerror(-html_err));
	err = output__failed(out);
	if (err || s.rec_err) {
		if (err)
			output__error(out, "cannot write output: %s", strerror(err));
		else
			output__error(out, "cannot write recording %s: %s", env->write_path,
				      strerror(-s.rec_err));
		/* Detach now; a command still running is waited for, untraced. */
		tracer__free(s.tracer);
		s.tracer = NULL;
		if (s.cmd && !s.cmd_exited)
			command__wait(s.cmd, &blocked, &s.cmd_status);
		goto out;
	}
	status = html_err ? 2 : exit_status(&s);
out:
	session_free(&s);
	findings__free(s.findings);
	return status;
}
