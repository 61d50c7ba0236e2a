// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Epoll workloads for tests/runtime_tests.py: the cases around processes
 * (fork under -f, another process sharing the fd table, attach mid-flight)
 * and a record generator for lost-event accounting.
 *
 * Each scenario writes its own account of the watches it ended in the line
 * format of scenarios.c (see the comment at its top): begin, ready, watch_end,
 * closed, rewatched, leaked, done, exit.  A forked child that plays a part
 * of its own writes its own account, to REPORT.child.
 *
 *   rt_scenarios [-g GRACE] [-o REPORT] [-n N] [--wait] [--hold] SCENARIO
 *
 * "cycles" writes no account: it makes exactly -n create/ADD/DEL/close
 * cycles, 3 records each for fdtrace, and exits.  "late_cycles" neither:
 * -n creates, ADDs and DELs, then twice -g later the -n closes: every
 * watch ends past the grace, so it costs 3 records in either --stream
 * mode (summary mode sends its withheld ADD and DEL at the close).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

struct env env = {
	.grace = 0.5,
	.stage = 1,
};

/* Start an account in path (this process's own, after a fork). */
static void open_account(const char *path)
{
	if (report_fd >= 0)
		close(report_fd);
	report_fd = -1;
	if (!path)
		return;
	report_fd = open_report(path);
	begin();
}

/* ---- scenarios ---------------------------------------------------- */

/*
 * fork: the child has its own fd table.  It closes its copies of two
 * inherited fds (one the parent leaks, one the parent still watches),
 * watches and leaks fds of its own (one of them inherited), and exits.
 * The parent's findings are the parent's; the child's are the child's,
 * and only under -f.
 */
static int scn_fork(void)
{
	int ep = xepoll(), a = xsocket(0), b = xsocket(0), c = xsocket(0), f = xsocket(0);
	char path[4096];
	pid_t child;
	int status;

	watch(ep, a);
	watch(ep, b);
	watch(ep, c);
	unwatch(ep, a);
	unwatch(ep, b);
	xclose(a);

	child = fork();
	if (child < 0)
		die("fork: %s", strerror(errno));
	if (child == 0) {
		int ep2, d, e;

		/* the parent's watches are not ours: this is a new account */
		memset(fds, 0, sizeof(fds));
		if (env.report) {
			snprintf(path, sizeof(path), "%s.child", env.report);
			open_account(path);
		}
		if (close(b) || close(c))
			die("child close: %s", strerror(errno));
		ep2 = xepoll();
		d = xsocket(0);
		e = xeventfd();
		watch(ep2, d);
		watch(ep2, e);
		watch(ep2, f);
		unwatch(ep2, d);
		unwatch(ep2, e);
		unwatch(ep2, f);
		xclose(d);
		settle();
		env.hold = false;	/* only the parent holds */
		finish();
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || status)
		die("child failed (status %#x)", status);
	unwatch(ep, c);
	xclose(c);
	close(f);	/* never watched here */
	settle();
	return finish();
}

enum reuse { NO_REUSE, REUSE_SOCKET, REUSE_TIMERFD };

static int clone_fd;
static enum reuse clone_reuse;

static int shared_child(void *arg)
{
	int fd = -1;

	(void)arg;
	if (close(clone_fd))
		return 1;
	/* the lowest free number: the one just closed */
	if (clone_reuse == REUSE_SOCKET)
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
	else if (clone_reuse == REUSE_TIMERFD)
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	if (clone_reuse != NO_REUSE && fd != clone_fd)
		return 2;
	return 0;
}

/*
 * Another process (not a thread: its own tgid, untraced) that shares our
 * fd table closes an fd right after we DEL it; with reuse, it also opens a
 * new file under the same number.  fdtrace sees none of it and must find
 * out by looking at /proc/PID/fd before it flags the fd ("corrected").
 * Afterwards the number is watched and closed through the traced path.
 * With REUSE_TIMERFD an eventfd is replaced by a timerfd: both are the one
 * anonymous inode, so only the type tells them apart.  (An eventfd
 * replaced by another eventfd, whose struct file the slab allocator often
 * puts at the same address, is the case fdtrace cannot tell: README,
 * Limits.)
 */
static int shared_files(enum reuse reuse)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int ep = xepoll(), x = reuse == REUSE_TIMERFD ? xeventfd() : xsocket(0), status, rc;
	pid_t child;

	watch(ep, x);
	unwatch(ep, x);
	clone_fd = x;
	clone_reuse = reuse;
	child = clone(shared_child, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
	if (child < 0)
		die("clone: %s", strerror(errno));
	if (waitpid(child, &status, 0) != child)
		die("waitpid: %s", strerror(errno));
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (rc)
		die("CLONE_FILES child failed (%d)", rc);
	gone(x, "close");
	if (!reuse && fcntl(x, F_GETFD) != -1)
		die("fd %d still open after the CLONE_FILES child closed it", x);
	settle();
	if (reuse) {
		/* the new file, through the traced path */
		watch(ep, x);
		unwatch(ep, x);
		xclose(x);
		settle();
	}
	return finish();
}

static int scn_shared_close(void)
{
	return shared_files(NO_REUSE);
}

static int scn_shared_reuse(void)
{
	return shared_files(REUSE_SOCKET);
}

static int scn_shared_reuse_anon(void)
{
	return shared_files(REUSE_TIMERFD);
}

/*
 * Watches made before fdtrace attaches (--wait): after the line on stdin,
 * DELs of them are matched like any other.  s1, s2 closed; s3, s4 and the
 * eventfd leaked; m is in two epoll sets and is only unwatched (and closed)
 * after its second DEL; r is DEL'd and watched again; w is closed while
 * still watched, without any DEL: never a finding.
 */
static int scn_attach(void)
{
	int ep1 = xepoll(), ep2 = xepoll();
	int s1 = xsocket(0), s2 = xsocket(0), s3 = xsocket(0), s4 = xsocket(0);
	int ev = xeventfd(), m = xsocket(0), r = xsocket(0), w = xsocket(0);

	watch(ep1, s1);
	watch(ep1, s2);
	watch(ep1, s3);
	watch(ep2, s4);
	watch(ep1, ev);
	watch(ep1, m);
	watch(ep2, m);
	watch(ep1, r);
	watch(ep1, w);
	ready();

	unwatch(ep1, s1);
	unwatch(ep1, s2);
	unwatch(ep1, s3);
	unwatch(ep2, s4);
	unwatch(ep1, ev);
	unwatch(ep1, r);
	watch(ep1, r);
	unwatch(ep1, m);	/* still in ep2 */
	xclose(s1);
	xclose(s2);
	if (close(w))
		die("close %d: %s", w, strerror(errno));
	slot(w)->state = ST_FREE;	/* closed while watched: no account line */
	slot(w)->nwatch = 0;
	settle();
	unwatch(ep2, m);
	xclose(m);
	settle();
	return finish();
}

/* exactly -n create/ADD/DEL/close cycles: 3 records each */
static int scn_cycles(void)
{
	epoll_cycles(env.count ? env.count : 100000);
	return 0;
}

static int scn_late_cycles(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	long n = env.count ? env.count : 1000, i;
	struct rlimit rl;
	int ep = xepoll(), *fdv;

	/* all n are open at once */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fdv = calloc(n, sizeof(*fdv));
	if (!fdv)
		die("calloc: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		fdv[i] = eventfd(0, EFD_NONBLOCK);
		if (fdv[i] < 0)
			die("eventfd: %s", strerror(errno));
		ev.data.fd = fdv[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fdv[i], &ev) || epoll_ctl(ep, EPOLL_CTL_DEL, fdv[i], NULL))
			die("epoll_ctl: %s", strerror(errno));
	}
	sleep_s(2 * env.grace);
	for (i = 0; i < n; i++)
		if (close(fdv[i]))
			die("close: %s", strerror(errno));
	free(fdv);
	return 0;
}

static const struct scenario scenarios[] = {
	{ "fork", scn_fork, "parent and forked child each leak their own fds" },
	{ "shared_close", scn_shared_close, "a CLONE_FILES process closes the fd after DEL" },
	{ "shared_reuse", scn_shared_reuse, "... and reuses the number for a new socket" },
	{ "shared_reuse_anon", scn_shared_reuse_anon, "... an eventfd, its number reused by a timerfd" },
	{ "attach", scn_attach, "watches made before --wait's line, DELs after" },
	{ "cycles", scn_cycles, "-n create/ADD/DEL/close cycles, no account" },
	{ "late_cycles", scn_late_cycles, "-n create/ADD/DEL, closed 2 x -g later, no account" },
};

const struct workload workload = {
	.name = "rt_scenarios",
	.scenarios = scenarios,
	.nscenarios = sizeof(scenarios) / sizeof(scenarios[0]),
};

int main(int argc, char **argv)
{
	const struct scenario *s;
	int rc = parse_args(argc, argv);

	if (rc >= 0)
		return rc;
	s = find_scenario();
	if (!s)
		return 2;
	open_account(env.report);
	return s->fn();
}
