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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "clock.h"
#include "command.h"
#include "live.h"
#include "matcher.h"
#include "output.h"
#include "procfs.h"
#include "tracer.h"
#include "version.h"

/*
 * Ring buffer records are stamped before they are committed, and another
 * CPU may commit a record a little after we look: judge the grace period
 * this far in the past so a close racing the deadline is seen first.
 */
#define TICK_SLACK_NS	(20ULL * 1000 * 1000)
#define POLL_MAX_MS	100

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
	int epfd;
	int sigfd;
	int pidfds[ENV_MAX_PIDS];
	__u64 seed_untracked;	/* watches found at attach the kernel map had no room for */
	__u32 max_fds;		/* tracked_fds size in use */
	__u32 pidns_ino;	/* see pid_namespace() */
	bool warned_fds_full;
	bool warned_procs_full;
	int cmd_status;
	bool cmd_exited;
	bool stop;
};

/* Every record enters the engine here. */
static void session_feed(struct session *s, const void *data, size_t size)
{
	/* A malformed record is counted by the matcher; keep draining. */
	matcher__feed(s->matcher, data, size);
}

static int on_record(void *ctx, const void *data, size_t size)
{
	session_feed(ctx, data, size);
	return 0;
}

/*
 * matcher verify_fn: asked only for fds about to be reported, all the due
 * fds of one process at once.
 */
#define VERIFY_BATCH	4096

static int verify_fds(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
		      __u64 *lost)
{
	static __s32 fds[VERIFY_BATCH];
	static enum tracer_verdict v[VERIFY_BATCH];
	struct session *s = ctx;
	int err;

	if (n > VERIFY_BATCH)
		return -E2BIG;	/* the matcher is told max_checks = VERIFY_BATCH */
	tracer__proc_lost(s->tracer, pid, lost);
	for (size_t i = 0; i < n; i++)
		fds[i] = reqs[i].fd;
	err = tracer__verify(s->tracer, pid, fds, v, n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		reqs[i].verdict = v[i] == VERIFY_SAME ? VERDICT_SAME :
				  v[i] == VERIFY_GONE ? VERDICT_GONE :
				  v[i] == VERIFY_WATCHED ? VERDICT_WATCHED : VERDICT_UNKNOWN;
	return 0;
}

/*
 * matcher new_epfd: have the kernel report the close of the process's
 * epoll fd, which ends its watches without a DEL.  From here, not from
 * the BPF hot path: an epoll instance lives long, and a close that races
 * this is only a watch end we miss.
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
		output__warn(s->out, "the kernel's fd table is full (--max-fds %u): new watches are not tracked and their processes' counts are partial",
			     s->max_fds);
	}
	if (!s->warned_procs_full && !tracer__stat(s->tracer, FDT_STAT_PROC_FULL, &n) && n) {
		s->warned_procs_full = true;
		output__warn(s->out, "too many traced processes (--max-procs %u): new children are not followed",
			     s->env->max_pids);
	}
}

static void proc_lost(void *ctx, __u32 pid, __u64 lost)
{
	struct session *s = ctx;

	matcher__set_proc_lost(s->matcher, pid, lost);
}

static void handle_signals(struct session *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			s->stop = true;
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
	matcher__drop_pid(s->matcher, pid, clock__mono_ns());
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

	while (!s->stop) {
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
			matcher__drop_pid(s->matcher, command__pid(s->cmd), now);
			tracer__untrace_pid(s->tracer, command__pid(s->cmd));
		}
		matcher__tick(s->matcher, now - TICK_SLACK_NS);
		check_lost(s, now);
		check_full(s);
		if (!tracer__any_traced(s->tracer))
			break;	/* every target is gone */
		if (s->env->duration_ns && now - start >= s->env->duration_ns)
			break;
	}
	return 0;
}

struct seed_ctx {
	struct session *s;
	struct fdt_rec_watch_seed rec;
};

static void seed_watch(void *ctx, const struct procfs_watch *w)
{
	struct seed_ctx *c = ctx;

	c->rec.epfd = w->epfd;
	c->rec.fd = w->fd;
	c->rec.events = w->events;
	c->rec.file = w->file;
	session_feed(c->s, &c->rec, sizeof(c->rec));
	if (tracer__track_fd(c->s->tracer, c->rec.hdr.pid, w->fd, &w->file))
		c->s->seed_untracked++;
}

/*
 * Watches that began before we attached, from /proc/PID/fdinfo of each
 * epoll fd.  Read after attaching, so nothing between the two is missed;
 * a DEL that races the read arrives later as a record and still matches.
 */
static void seed_watches(struct session *s, __u32 pid)
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
}

/* The -p targets exist and are not us.  0 or -1 (reported). */
static int check_targets(struct session *s)
{
	for (size_t i = 0; i < s->env->nr_pids; i++) {
		if ((pid_t)s->env->pids[i] == getpid()) {
			output__error(s->out, "refusing to trace fdtrace itself (pid %u)", s->env->pids[i]);
			return -1;
		}
		__u32 tgid = 0;
		int err = procfs__check_pid(s->env->pids[i], &tgid);

		if (err == -EINVAL) {
			output__error(s->out, "%u is a thread of process %u: trace %u",
				      s->env->pids[i], tgid, tgid);
			return -1;
		}
		if (err) {
			output__error(s->out, "no such process: %u", s->env->pids[i]);
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
	};
	char errbuf[256];
	int err = 0;

	s->tracer = tracer__new(&topts, errbuf, sizeof(errbuf));
	if (!s->tracer) {
		output__error(s->out, "%s", errbuf);
		return -1;
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
		matcher__add_pid(s->matcher, s->env->pids[i], comm, clock__mono_ns());
		seed_watches(s, s->env->pids[i]);
	}
	if (s->cmd) {
		const char *base = strrchr(s->env->command[0], '/');

		matcher__add_pid(s->matcher, command__pid(s->cmd),
				 base ? base + 1 : s->env->command[0], clock__mono_ns());
	}
	if (s->seed_untracked)
		output__warn(s->out, "%llu existing watches not tracked in the kernel (--max-fds too small)",
			     (unsigned long long)s->seed_untracked);
	return 0;
}

/* Drain, report what is due, then the summaries and totals. */
static void finish_tracing(struct session *s)
{
	__u64 now;

	tracer__consume(s->tracer);
	now = clock__mono_ns();
	matcher__tick(s->matcher, now);
	check_lost(s, now);
	check_full(s);
	tracer__procs(s->tracer, proc_lost, s);
	matcher__finish(s->matcher, now);
}

/* fdtrace's exit status: COMMAND's if it ran and exited, else 0. */
static int exit_status(struct session *s)
{
	if (!s->cmd)
		return 0;
	/* Stopped because the command exited: collect its status. */
	if (!s->cmd_exited && !s->stop && !tracer__any_traced(s->tracer) &&
	    waitpid(command__pid(s->cmd), &s->cmd_status, 0) == command__pid(s->cmd))
		s->cmd_exited = true;
	if (!s->cmd_exited)
		return 0;
	return WIFEXITED(s->cmd_status) ? WEXITSTATUS(s->cmd_status)
					: 128 + WTERMSIG(s->cmd_status);
}


int live__run(const struct env *env, struct output *out)
{
	static struct session s = { .epfd = -1, .sigfd = -1 };
	struct matcher_opts mopts = {};
	sigset_t blocked, orig;
	int err, status = 2;

	s.env = env;
	s.out = out;
	memset(s.pidfds, -1, sizeof(s.pidfds));
	if (check_targets(&s))
		goto out;

	mopts.grace_ns = env->grace_ns;
	mopts.report = output__report;
	mopts.ctx = out;
	mopts.verify = verify_fds;
	mopts.verify_ctx = &s;
	/* bounded work per pass, so signals and the ring buffer are never starved */
	mopts.max_checks = VERIFY_BATCH;
	mopts.new_epfd = track_epfd;
	mopts.ctx_epfd = &s;
	s.matcher = matcher__new(&mopts);
	if (!s.matcher) {
		output__error(out, "cannot create matcher: %s", strerror(errno));
		goto out;
	}

	/*
	 * Signals are read from a signalfd in the event loop; a command
	 * started here gets the original mask back before it execs.
	 */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, &orig);

	if (env->command) {
		/* Forked before the BPF object exists: it inherits no BPF fds. */
		s.cmd = command__new(env->command, &orig);
		if (!s.cmd) {
			output__error(out, "cannot execute %s: %s", env->command[0], strerror(errno));
			goto out;
		}
	}
	if (pid_namespace(&s))
		goto out;
	s.max_fds = size_fd_map(&s);
	if (start_tracing(&s, &blocked))
		goto out;

	start_banner(&s);
	if (s.cmd) {
		err = command__release(s.cmd);
		if (err) {
			output__error(out, "cannot execute %s: %s", env->command[0], strerror(-err));
			goto out;
		}
	}

	err = run(&s);
	if (err) {
		output__error(out, "event loop failed: %s", strerror(-err));
		goto out;
	}
	finish_tracing(&s);
	status = exit_status(&s);
out:
	session_free(&s);
	return status;
}
