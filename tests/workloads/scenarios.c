// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Deterministic epoll workloads for fdtrace's integration tests.
 *
 * The shape is retsnoop's tests/simfail.c: a table of named scenarios, one
 * chosen by argv.  Each scenario makes its epoll_ctl() and close-like
 * calls itself, on fds whose numbers it knows, and writes its own account
 * of what became of every watch it ended, one JSON object per line, to the
 * report file (-o).  tests/harness.py (check_report) compares fdtrace's
 * findings with that account exactly.
 *
 * Account lines ("ev" field):
 *   begin        pid, comm, scenario, stage (2 after a re-exec)
 *   ready        written with --wait, then a line on stdin is awaited
 *   watch_end    a successful EPOLL_CTL_DEL that left the fd unwatched
 *   closed       an unwatched fd stopped existing: how, late (1 if it had
 *                been unwatched longer than the grace period by then)
 *   rewatched    an unwatched fd was added again: late as above
 *   leaked       the fd has now been unwatched and open for longer than
 *                grace + MARGIN: fdtrace must have flagged it
 *   del_enoent   EPOLL_CTL_DEL failed with ENOENT (not a finding)
 *   del_ebadf    EPOLL_CTL_DEL failed with EBADF (deregister_failed)
 *   closed_while_watched  close() of a watched fd whose file lives on
 *   counts       bulk totals of watch_end/closed/rewatched that were not
 *                written one by one
 *   done         written with --hold, then a line on stdin (or EOF) is
 *                awaited before the process exits
 *
 * Nothing here uses stdio on the epoll fds; the account is written with
 * one write(2) per line so that threads never interleave within a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define STATE_ENV	"FDT_WL_STATE"

struct env env = {
	.grace = 0.5,
	.count = -1,		/* each scenario's own default */
	.stage = 1,
};

static const char *exec_as;	/* path to re-exec through (its name becomes comm) */
static const char *self_path;

static void modify(int epfd, int fd, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev))
		die("EPOLL_CTL_MOD %d in %d: %s", fd, epfd, strerror(errno));
}

/*
 * Re-exec this program into stage 2 of the same scenario.  Close-on-exec
 * fds that were unwatched are accounted as closed by exec; unwatched fds
 * that survive are handed to stage 2 through the environment.
 */
static void reexec(const char *path)
{
	char state[4096] = "", grace[32];
	char *argv[12];
	int fd, n = 0, len = 0;

	for (fd = 0; fd < MAX_FD; fd++) {
		struct fdinfo *f = &fds[fd];

		if (f->state != ST_UNWATCHED && f->state != ST_LEAKED)
			continue;
		if (f->cloexec || (fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
			gone(fd, "exec");
			continue;
		}
		len += snprintf(state + len, sizeof(state) - len, "%d:%d:%d:%llu:%s;",
				fd, f->epfd, f->state, f->ino, f->type);
		if (len >= (int)sizeof(state))
			die("state too long");
	}
	setenv(STATE_ENV, state, 1);
	snprintf(grace, sizeof(grace), "%g", env.grace);
	argv[n++] = (char *)path;
	argv[n++] = "--stage2";
	argv[n++] = "-g";
	argv[n++] = grace;
	argv[n++] = "-o";
	argv[n++] = (char *)env.report;
	if (env.hold)
		argv[n++] = "--hold";
	argv[n++] = (char *)env.scenario;
	argv[n] = NULL;
	execv(path, argv);
	die("execv %s: %s", path, strerror(errno));
}

static void load_state(void)
{
	const char *s = getenv(STATE_ENV);

	while (s && *s) {
		int fd, epfd, st, used;
		unsigned long long ino;
		char type[16];
		struct fdinfo *f;

		if (sscanf(s, "%d:%d:%d:%llu:%15[^;];%n", &fd, &epfd, &st, &ino, type, &used) != 5)
			die("bad %s", STATE_ENV);
		f = slot(fd);
		f->state = st;
		f->epfd = epfd;
		f->ino = ino;
		snprintf(f->type, sizeof(f->type), "%s", type);
		s += used;
	}
	unsetenv(STATE_ENV);
}

static void xsocketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		die("socketpair: %s", strerror(errno));
}

static void xpipe(int p[2])
{
	if (pipe2(p, O_NONBLOCK))
		die("pipe2: %s", strerror(errno));
}

static int xclose_range(unsigned int first, unsigned int last, unsigned int flags)
{
	return syscall(SYS_close_range, first, last, flags);
}

static void expect_fd(int fd, int want, const char *what)
{
	if (fd != want)
		die("%s got fd %d, expected %d", what, fd, want);
}

/* ---- scenarios ---------------------------------------------------- */

/* socketpair, pipe and eventfd unwatched; some closed, the rest leaked */
static int scn_leak(void)
{
	int ep = xepoll(), sv[2], p[2], efd, i;
	int all[5];

	xsocketpair(sv);
	xpipe(p);
	efd = xeventfd();
	all[0] = sv[0], all[1] = sv[1], all[2] = p[0], all[3] = p[1], all[4] = efd;
	for (i = 0; i < 5; i++)
		watch_ev(ep, all[i], all[i] == p[1] ? EPOLLOUT : EPOLLIN);
	for (i = 0; i < 5; i++)
		unwatch(ep, all[i]);
	xclose(sv[1]);
	xclose(p[1]);
	settle();
	return finish();
}

/* close(2) after DEL: nothing to flag */
static int scn_close(void)
{
	int ep = xepoll(), s = xsocket(0), p[2], efd;

	xpipe(p);
	efd = xeventfd();
	watch(ep, s);
	watch(ep, p[0]);
	watch(ep, efd);
	unwatch(ep, s);
	unwatch(ep, p[0]);
	unwatch(ep, efd);
	xclose(s);
	xclose(p[0]);
	xclose(efd);
	close(p[1]);
	settle();
	return finish();
}

/* close_range(2), plain and with CLOSE_RANGE_UNSHARE */
static int scn_close_range(void)
{
	int ep = xepoll(), fd[5], i;

	for (i = 0; i < 5; i++) {
		fd[i] = xeventfd();
		if (i && fd[i] != fd[i - 1] + 1)
			die("eventfds not contiguous");
		watch(ep, fd[i]);
	}
	for (i = 0; i < 5; i++)
		unwatch(ep, fd[i]);
	if (xclose_range(fd[0], fd[2], 0))
		die("close_range: %s", strerror(errno));
	for (i = 0; i <= 2; i++)
		gone(fd[i], "close_range");
	if (xclose_range(fd[3], fd[4], CLOSE_RANGE_UNSHARE))
		die("close_range unshare: %s", strerror(errno));
	for (i = 3; i <= 4; i++)
		gone(fd[i], "close_range");
	settle();
	return finish();
}

/*
 * CLOSE_RANGE_CLOEXEC closes nothing: the fd is leaked until exec closes
 * it (a late close, by exec).
 */
static int scn_close_range_cloexec(void)
{
	int ep, x;

	if (env.stage == 2) {
		settle();
		return finish();
	}
	ep = xepoll();
	x = xeventfd();
	watch(ep, x);
	unwatch(ep, x);
	if (xclose_range(x, x, CLOSE_RANGE_CLOEXEC))
		die("close_range cloexec: %s", strerror(errno));
	if (!(fcntl(x, F_GETFD) & FD_CLOEXEC))
		die("CLOSE_RANGE_CLOEXEC did not set FD_CLOEXEC");
	settle();
	reexec(self_path);
	return 1;
}

static int devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open /dev/null: %s", strerror(errno));
	return fd;
}

/* dup2 onto the unwatched fd closes its file */
static int scn_dup2(void)
{
	int ep = xepoll(), s = xsocket(0), p[2], nul = devnull();

	xpipe(p);
	watch(ep, s);
	watch(ep, p[0]);
	unwatch(ep, s);
	unwatch(ep, p[0]);
	if (dup2(nul, s) != s)
		die("dup2: %s", strerror(errno));
	gone(s, "dup2");
	if (dup2(p[1], p[0]) != p[0])
		die("dup2: %s", strerror(errno));
	gone(p[0], "dup2");
	settle();
	return finish();
}

/* dup3 onto the unwatched fd closes its file */
static int scn_dup3(void)
{
	int ep = xepoll(), s = xsocket(0), efd = xeventfd(), nul = devnull();

	watch(ep, s);
	watch(ep, efd);
	unwatch(ep, s);
	unwatch(ep, efd);
	if (dup3(nul, s, O_CLOEXEC) != s)
		die("dup3: %s", strerror(errno));
	gone(s, "dup3");
	if (dup3(nul, efd, 0) != efd)
		die("dup3: %s", strerror(errno));
	gone(efd, "dup3");
	settle();
	return finish();
}

/* close-on-exec fds closed by execve right after DEL */
static int scn_exec(void)
{
	int ep, s, efd;

	if (env.stage == 2) {
		settle();
		return finish();
	}
	ep = xepoll();
	s = xsocket(SOCK_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		die("eventfd: %s", strerror(errno));
	watch(ep, s);
	watch(ep, efd);
	unwatch(ep, s);
	unwatch(ep, efd);
	reexec(self_path);
	return 1;
}

/* process exit right after DEL */
static int scn_exit(void)
{
	int ep = xepoll(), s = xsocket(0), efd = xeventfd();

	watch(ep, s);
	watch(ep, efd);
	unwatch(ep, s);
	unwatch(ep, efd);
	return finish();
}

/* DEL and ADD again within grace, many times, over longer than grace */
static int scn_pause_resume(void)
{
	int ep = xepoll(), sv[2], efd = xeventfd(), i, j;
	int all[3];

	xsocketpair(sv);
	all[0] = sv[0], all[1] = sv[1], all[2] = efd;
	for (j = 0; j < 3; j++)
		watch(ep, all[j]);
	for (i = 0; i < 100; i++) {
		for (j = 0; j < 3; j++) {
			unwatch(ep, all[j]);
			watch(ep, all[j]);
			if (i % 10 == 0)
				modify(ep, all[j], EPOLLIN | EPOLLOUT);
		}
		sleep_s(0.01);
	}
	for (j = 0; j < 3; j++) {
		unwatch(ep, all[j]);
		xclose(all[j]);
	}
	settle();
	return finish();
}

/* leaked, then watched again: leak, leak_resolved how=rewatched */
static int scn_rewatch_late(void)
{
	int ep = xepoll(), s = xsocket(0);

	watch(ep, s);
	unwatch(ep, s);
	settle();
	watch(ep, s);
	unwatch(ep, s);
	xclose(s);
	settle();
	return finish();
}

/* leaked, then closed: leak, leak_resolved how=closed */
static int scn_late_close(void)
{
	int ep = xepoll(), s = xsocket(0), p[2];

	xpipe(p);
	watch(ep, s);
	watch(ep, p[0]);
	unwatch(ep, s);
	unwatch(ep, p[0]);
	settle();
	xclose(s);
	if (dup2(p[1], p[0]) != p[0])
		die("dup2: %s", strerror(errno));
	gone(p[0], "dup2");
	settle();
	return finish();
}

/*
 * The number of a closed unwatched fd is reused by a file that stays open
 * unwatched, then by one that is watched and closed: nothing to flag.
 */
static int scn_fd_reuse(void)
{
	int ep = xepoll(), a = xsocket(0), b, c;

	watch(ep, a);
	unwatch(ep, a);
	xclose(a);
	b = xeventfd();
	expect_fd(b, a, "eventfd");
	settle();
	watch(ep, b);
	unwatch(ep, b);
	xclose(b);
	c = xsocket(0);
	expect_fd(c, a, "socket");
	watch(ep, c);
	unwatch(ep, c);
	xclose(c);
	settle();
	return finish();
}

/* the reused number is leaked: the finding names the new file */
static int scn_fd_reuse_leak(void)
{
	int ep = xepoll(), a = xsocket(0), c;

	watch(ep, a);
	unwatch(ep, a);
	xclose(a);
	c = xsocket(0);
	expect_fd(c, a, "socket");
	watch(ep, c);
	unwatch(ep, c);
	settle();
	return finish();
}

/* one thread ends the watches, another closes the fds */
#define NTHREAD_FDS 40
static int handoff[NTHREAD_FDS];
static int handoff_n;
static pthread_cond_t handoff_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static int thread_ep;

static void *unwatcher(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NTHREAD_FDS; i++) {
		int fd = i % 2 ? xeventfd() : xsocket(0);

		watch(thread_ep, fd);
		unwatch(thread_ep, fd);
		pthread_mutex_lock(&handoff_lock);
		handoff[handoff_n++] = fd;
		pthread_cond_signal(&handoff_cond);
		pthread_mutex_unlock(&handoff_lock);
	}
	return NULL;
}

static void *closer(void *arg)
{
	int i, fd;

	(void)arg;
	for (i = 0; i < NTHREAD_FDS; i++) {
		pthread_mutex_lock(&handoff_lock);
		while (handoff_n <= i)
			pthread_cond_wait(&handoff_cond, &handoff_lock);
		fd = handoff[i];
		pthread_mutex_unlock(&handoff_lock);
		/*
		 * Account before closing: once closed, the number may be
		 * handed out again to the other thread.
		 */
		gone(fd, "close");
		if (close(fd))
			die("close %d: %s", fd, strerror(errno));
	}
	return NULL;
}

static int scn_threads(void)
{
	pthread_t a, b;

	thread_ep = xepoll();
	if (pthread_create(&b, NULL, closer, NULL) || pthread_create(&a, NULL, unwatcher, NULL))
		die("pthread_create");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	settle();
	return finish();
}

/* the thread that ended the watch exits; the process goes on */
static void *unwatch_and_exit(void *arg)
{
	int fd = *(int *)arg;

	watch(thread_ep, fd);
	unwatch(thread_ep, fd);
	return NULL;
}

static int scn_thread_exit(void)
{
	int fd = xsocket(0);
	pthread_t t;

	thread_ep = xepoll();
	if (pthread_create(&t, NULL, unwatch_and_exit, &fd))
		die("pthread_create");
	pthread_join(t, NULL);
	settle();
	xclose(fd);
	settle();
	return finish();
}

/* DEL of an fd that was never added (ENOENT): counted, not flagged */
static int scn_del_enoent(void)
{
	int ep = xepoll(), ep2 = xepoll(), e = xeventfd(), f = xsocket(0);

	if (epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL) == 0 || errno != ENOENT)
		die("DEL of unwatched fd: %s", strerror(errno));
	rep("{\"ev\":\"del_enoent\",\"fd\":%d,\"epfd\":%d}", e, ep);
	watch(ep, f);
	if (epoll_ctl(ep2, EPOLL_CTL_DEL, f, NULL) == 0 || errno != ENOENT)
		die("DEL from the other epoll fd: %s", strerror(errno));
	rep("{\"ev\":\"del_enoent\",\"fd\":%d,\"epfd\":%d}", f, ep2);
	unwatch(ep, f);
	xclose(f);
	xclose(e);
	settle();
	return finish();
}

/* close before DEL: the DEL fails with EBADF (deregister_failed) */
static int scn_del_ebadf(void)
{
	int ep = xepoll(), x = xsocket(0);

	watch(ep, x);
	/* last reference: epoll drops the watch itself */
	if (close(x))
		die("close: %s", strerror(errno));
	slot(x)->state = ST_FREE;
	if (epoll_ctl(ep, EPOLL_CTL_DEL, x, NULL) == 0 || errno != EBADF)
		die("DEL after close: %s", strerror(errno));
	rep("{\"ev\":\"del_ebadf\",\"fd\":%d,\"epfd\":%d}", x, ep);
	settle();
	return finish();
}

/* close() of a watched fd while a dup keeps the file and its watch alive */
static int scn_closed_while_watched(void)
{
	int ep = xepoll(), x = xsocket(0), y;
	struct fdinfo *f;

	watch(ep, x);
	y = dup(x);
	if (y < 0)
		die("dup: %s", strerror(errno));
	f = slot(x);
	if (close(x))
		die("close: %s", strerror(errno));
	rep("{\"ev\":\"closed_while_watched\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,\"type\":\"%s\"}",
	    x, ep, f->ino, f->type);
	f->state = ST_FREE;
	settle();
	if (close(y))
		die("close: %s", strerror(errno));
	settle();
	return finish();
}

/*
 * Closes of fds epoll never touched leave no trace: -n rounds of them
 * (default 1) must not change a thing fdtrace reports.
 */
static int scn_untouched(void)
{
	int ep = xepoll(), x = xsocket(0), i, p[2], nul = devnull(), first;
	long round, rounds = env.count >= 0 ? env.count : 1;

	watch(ep, x);
	unwatch(ep, x);
	xclose(x);
	for (round = 0; round < rounds; round++) {
		for (i = 0; i < 300; i++) {
			xpipe(p);
			close(p[0]);
			close(p[1]);
		}
		xpipe(p);
		dup2(nul, p[0]);
		dup3(nul, p[1], O_CLOEXEC);
		close(p[0]);
		close(p[1]);
		first = xeventfd();
		for (i = 0; i < 9; i++)
			xeventfd();
		if (xclose_range(first, first + 9, 0))
			die("close_range: %s", strerror(errno));
	}
	close(ep);
	settle();
	return finish();
}

/*
 * An fd in two epoll sets: a DEL from one leaves it watched by the other;
 * only the second DEL ends the watch (and the leak names that epoll fd).
 */
static int scn_two_epolls(void)
{
	int ep1 = xepoll(), ep2 = xepoll(), x = xsocket(0), y = xsocket(0);

	watch(ep1, x);
	watch(ep2, x);
	watch(ep1, y);
	watch(ep2, y);
	unwatch(ep1, x);
	unwatch(ep2, y);
	settle();		/* both still watched: nothing */
	unwatch(ep2, x);
	unwatch(ep1, y);
	xclose(x);
	settle();		/* y leaked, last watched by ep1 */
	return finish();
}

/*
 * epoll_ctl calls that fail change nothing: an ADD refused with EEXIST
 * does not end or restart a watch, an ADD refused with EINVAL after a
 * DEL does not re-watch the fd.
 */
static int scn_failed_add(void)
{
	int ep = xepoll(), w = xsocket(0), x = xsocket(0);
	struct epoll_event ev = { .events = EPOLLIN };

	watch(ep, w);
	ev.data.fd = w;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, w, &ev) == 0 || errno != EEXIST)
		die("second ADD: %s", strerror(errno));
	unwatch(ep, w);
	xclose(w);
	watch(ep, x);
	unwatch(ep, x);
	/* EPOLLEXCLUSIVE with EPOLLONESHOT is invalid */
	ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
	ev.data.fd = x;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, x, &ev) == 0 || errno != EINVAL)
		die("invalid ADD: %s", strerror(errno));
	settle();		/* x leaked */
	return finish();
}

/*
 * Calls that look like closes but close nothing: dup2(fd, fd), dup2 and
 * dup3 that fail, close_range that fails, close() of the wrong number.
 * Every one of these fds is leaked.
 */
static int scn_close_noops(void)
{
	int ep = xepoll(), fd[5], i;

	for (i = 0; i < 5; i++) {
		fd[i] = xsocket(0);
		watch(ep, fd[i]);
	}
	for (i = 0; i < 5; i++)
		unwatch(ep, fd[i]);
	if (dup2(fd[0], fd[0]) != fd[0])		/* no-op by definition */
		die("dup2 same: %s", strerror(errno));
	if (dup2(700, fd[1]) != -1 || errno != EBADF)	/* oldfd not open */
		die("dup2 bad: %s", strerror(errno));
	if (dup3(fd[2], fd[2], 0) != -1 || errno != EINVAL)
		die("dup3 same: %s", strerror(errno));
	if (xclose_range(fd[4], fd[3], 0) != -1 || errno != EINVAL)	/* first > last */
		die("close_range reversed: %s", strerror(errno));
	if (xclose_range(fd[3], fd[4], 0x80000000u) != -1 || errno != EINVAL)
		die("close_range bad flags: %s", strerror(errno));
	if (close(701) != -1 || errno != EBADF)
		die("close 701: %s", strerror(errno));
	settle();
	return finish();
}

/*
 * The dup2 and dup3 close_noops lacks: dup3 with invalid flags (EINVAL),
 * and dup2 onto an fd at or above the soft RLIMIT_NOFILE, lowered after
 * the fd was opened (EBADF).  Neither closes its newfd: both leaked.
 */
#define DUP_HIGH_FD	800
static int scn_dup_fails(void)
{
	int ep = xepoll(), x = xsocket(0), s = xsocket(0), nul = devnull();
	struct rlimit rl, low;

	watch(ep, x);
	unwatch(ep, x);
	if (dup3(nul, x, 0x1234) != -1 || errno != EINVAL)
		die("dup3 with bad flags: %s", strerror(errno));

	if (dup2(s, DUP_HIGH_FD) != DUP_HIGH_FD)
		die("dup2 to %d: %s", DUP_HIGH_FD, strerror(errno));
	close(s);	/* never watched */
	watch(ep, DUP_HIGH_FD);
	unwatch(ep, DUP_HIGH_FD);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	low = rl;
	low.rlim_cur = 100;
	if (setrlimit(RLIMIT_NOFILE, &low))
		die("setrlimit: %s", strerror(errno));
	if (dup2(nul, DUP_HIGH_FD) != -1 || errno != EBADF)
		die("dup2 above RLIMIT_NOFILE: %s", strerror(errno));
	if (dup3(nul, DUP_HIGH_FD, O_CLOEXEC) != -1 || errno != EBADF)
		die("dup3 above RLIMIT_NOFILE: %s", strerror(errno));
	settle();
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit: %s", strerror(errno));
	return finish();
}

/*
 * x in two epoll sets, DEL'd from the first, then the second epoll fd is
 * closed: that ends x's last watch (x is leaked, last watched by ep2).
 * z the same, but closed soon after: nothing to flag.  y the same as x,
 * its second epoll fd closed right after the ADDs, before fdtrace can
 * have read them.
 */
static int scn_two_epolls_close(void)
{
	int ep1 = xepoll(), ep2 = xepoll(), x = xsocket(0), z = xeventfd();
	int ep3 = xepoll(), ep4 = xepoll(), y = xsocket(0);

	watch(ep3, y);
	watch(ep4, y);
	unwatch(ep3, y);
	if (close(ep4))
		die("close ep4: %s", strerror(errno));
	watch_dropped(ep4, y);

	watch(ep1, x);
	watch(ep2, x);
	watch(ep1, z);
	watch(ep2, z);
	unwatch(ep1, x);
	unwatch(ep1, z);
	settle();		/* both still in ep2: nothing */
	if (close(ep2))
		die("close ep2: %s", strerror(errno));
	watch_dropped(ep2, x);
	watch_dropped(ep2, z);
	xclose(z);
	settle();		/* x and y leaked */
	return finish();
}

/*
 * An epoll fd closed by close_range() and by dup2() onto its number: the
 * watches it held end with it (watch_dropped), and the fds it watched,
 * left open, are leaks.  In --stream=summary those watches were quiet:
 * the kernel must send them before the epoll fd's close.
 */
static int scn_epoll_closed_other_ways(void)
{
	int ep1 = xepoll(), ep2 = xepoll(), x = xsocket(0), y = xeventfd(), z = xeventfd();

	watch(ep1, x);
	watch(ep2, y);
	if (syscall(SYS_close_range, ep1, ep1, 0))
		die("close_range ep1: %s", strerror(errno));
	watch_dropped(ep1, x);
	if (dup2(z, ep2) != ep2)
		die("dup2 onto ep2: %s", strerror(errno));
	watch_dropped(ep2, y);
	settle();		/* x and y leaked */
	return finish();
}

/*
 * The number of a closed fd no epoll watches, though its file is watched
 * under another number: ADD x to A, close A (x's watch ends with it), dup
 * x to A's old number, ADD that to B, close x.  Not closed_while_watched:
 * no epoll set holds x's number.
 */
static int scn_cww_renumbered(void)
{
	int a = xepoll(), x = xsocket(0), b;

	watch(a, x);
	if (close(a))
		die("close: %s", strerror(errno));
	watch_dropped(a, x);
	if (dup2(x, a) != a)
		die("dup2: %s", strerror(errno));
	b = xepoll();
	watch(b, a);
	xclose(x);
	settle();
	return finish();	/* a, still watched by b, closed by the exit */
}

/*
 * --max-fds 100 full: 100 eventfds stay watched, then 200 pipes' read
 * ends are added (the kernel cannot track them), deleted and closed, and
 * 200 new pipes take the same numbers, never watched.  Nothing to flag;
 * fdtrace counts the 200 watches it could not track ("untracked").
 */
static int scn_max_fds_full(void)
{
	static int old[200][2], new[200][2];
	int ep = xepoll(), i;
	struct epoll_event ev = { .events = EPOLLIN };

	/* the epoll fd takes one of the map's 100 entries (its close is tracked) */
	for (i = 0; i < 99; i++)
		watch(ep, xeventfd());
	for (i = 0; i < 200; i++)
		xpipe(old[i]);
	for (i = 0; i < 200; i++) {
		ev.data.fd = old[i][0];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, old[i][0], &ev))
			die("EPOLL_CTL_ADD: %s", strerror(errno));
	}
	for (i = 0; i < 200; i++)
		if (epoll_ctl(ep, EPOLL_CTL_DEL, old[i][0], NULL))
			die("EPOLL_CTL_DEL: %s", strerror(errno));
	for (i = 0; i < 200; i++)
		if (close(old[i][0]) || close(old[i][1]))
			die("close: %s", strerror(errno));
	rep("{\"ev\":\"untracked\",\"n\":200,\"real\":%.6f}", now(CLOCK_REALTIME));
	for (i = 0; i < 200; i++)
		xpipe(new[i]);
	settle();
	return finish();
}

/* an execve that fails closes no close-on-exec fd */
static int scn_exec_fails(void)
{
	int ep = xepoll(), x = xsocket(SOCK_CLOEXEC);
	char *argv[] = { "/nonexistent/fdtrace-test", NULL };

	watch(ep, x);
	unwatch(ep, x);
	if (execv(argv[0], argv) == 0 || errno != ENOENT)
		die("execv of a missing file: %s", strerror(errno));
	settle();		/* x leaked */
	return finish();
}

/* the file types fdtrace names */
static int scn_types(void)
{
	int ep = xepoll(), tfd, sfd, udp, efd = xeventfd(), inner = xepoll();
	sigset_t mask;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (tfd < 0 || sfd < 0 || udp < 0)
		die("types: %s", strerror(errno));
	watch(ep, tfd);
	watch(ep, sfd);
	watch(ep, udp);
	watch(ep, efd);
	watch(ep, inner);
	unwatch(ep, tfd);
	unwatch(ep, sfd);
	unwatch(ep, udp);
	unwatch(ep, efd);
	unwatch(ep, inner);
	settle();
	return finish();
}

/*
 * exec changes comm: a close-on-exec fd is closed by the exec, a plain one
 * lives on unwatched and is flagged under the new comm, next to a leak of
 * the new image.
 */
static int scn_exec_comm(void)
{
	int ep, s, p[2], efd;

	if (env.stage == 2) {
		ep = xepoll();
		efd = xeventfd();
		watch(ep, efd);
		unwatch(ep, efd);
		settle();
		return finish();
	}
	if (!exec_as)
		die("exec_comm needs --exec-as");
	ep = xepoll();
	s = xsocket(SOCK_CLOEXEC);
	xpipe(p);
	watch(ep, s);
	watch(ep, p[0]);
	unwatch(ep, s);
	unwatch(ep, p[0]);
	reexec(exec_as);
	return 1;
}

/* a forked child closes its copy: the parent's fd is still leaked */
static int scn_fork_child_close(void)
{
	int ep = xepoll(), x = xsocket(0), status;
	pid_t child;

	watch(ep, x);
	unwatch(ep, x);
	child = fork();
	if (child < 0)
		die("fork: %s", strerror(errno));
	if (child == 0) {
		close(x);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || status)
		die("child failed");
	settle();
	return finish();
}

/*
 * Many short watches for -n seconds while, one at a time, an fd is left
 * unwatched until it must have been flagged, then closed.
 */
static int scn_churn(void)
{
	int ep = xepoll(), sv[2], pending = -1;
	unsigned long long cycles = 0;
	double end = now(CLOCK_MONOTONIC) + (env.count > 0 ? env.count : 5);
	double next_leak = 0, pending_since = 0;
	struct epoll_event ev = { .events = EPOLLIN };
	char comm[32];

	get_comm(comm, sizeof(comm));
	while (now(CLOCK_MONOTONIC) < end) {
		double t = now(CLOCK_MONOTONIC);
		int i;

		for (i = 0; i < 5; i++) {
			xsocketpair(sv);
			if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) ||
			    epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL) ||
			    epoll_ctl(ep, EPOLL_CTL_DEL, sv[1], NULL))
				die("epoll_ctl: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
			cycles += 2;
		}
		if (pending >= 0 && t - pending_since > env.grace + MARGIN_S) {
			struct fdinfo *f = slot(pending);

			f->state = ST_LEAKED;
			rep("{\"ev\":\"leaked\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
			    "\"type\":\"%s\",\"comm\":\"%s\"}",
			    pending, f->epfd, f->ino, f->type, comm);
			xclose(pending);
			pending = -1;
		}
		if (pending < 0 && t >= next_leak) {
			pending = xsocket(0);
			watch(ep, pending);
			unwatch(ep, pending);
			pending_since = t;
			next_leak = t + 0.25;
		}
		sleep_s(0.001);
	}
	if (pending >= 0) {
		/* it may have been flagged already: make sure it was */
		settle();
		xclose(pending);
	}
	rep("{\"ev\":\"counts\",\"watches_ended\":%llu,\"closed\":%llu}", cycles, cycles);
	return finish();
}

/* count create/ADD/DEL/close cycles as fast as possible (issue 3: 200000) */
static int scn_burst(void)
{
	long n = env.count > 0 ? env.count : 200000;

	epoll_cycles(n);
	rep("{\"ev\":\"counts\",\"watches_ended\":%ld,\"closed\":%ld}", n, n);
	return finish();
}

static const struct scenario scenarios[] = {
	{ "leak", scn_leak, "socketpair, pipe, eventfd unwatched; two closed, three leaked" },
	{ "close", scn_close, "close(2) after DEL" },
	{ "close_range", scn_close_range, "close_range(2) after DEL, plain and UNSHARE" },
	{ "close_range_cloexec", scn_close_range_cloexec, "CLOSE_RANGE_CLOEXEC: leaked until exec" },
	{ "dup2", scn_dup2, "dup2 onto the unwatched fd" },
	{ "dup3", scn_dup3, "dup3 onto the unwatched fd" },
	{ "exec", scn_exec, "close-on-exec fds closed by execve after DEL" },
	{ "exit", scn_exit, "process exit right after DEL" },
	{ "pause_resume", scn_pause_resume, "DEL and ADD again within grace, 100 times" },
	{ "rewatch_late", scn_rewatch_late, "leaked, then watched again" },
	{ "late_close", scn_late_close, "leaked, then closed (close and dup2)" },
	{ "fd_reuse", scn_fd_reuse, "a closed fd's number reused by other files" },
	{ "fd_reuse_leak", scn_fd_reuse_leak, "the reused number leaked: new file named" },
	{ "threads", scn_threads, "one thread DELs, another closes" },
	{ "thread_exit", scn_thread_exit, "the DELing thread exits, then a leak" },
	{ "del_enoent", scn_del_enoent, "DEL of an fd never added (ENOENT)" },
	{ "del_ebadf", scn_del_ebadf, "DEL after close (EBADF)" },
	{ "closed_while_watched", scn_closed_while_watched, "close while a dup keeps the watch" },
	{ "untouched", scn_untouched, "closes of fds epoll never touched" },
	{ "two_epolls", scn_two_epolls, "an fd in two epoll sets, DEL'd from one, then both" },
	{ "failed_add", scn_failed_add, "ADD refused with EEXIST, and with EINVAL after a DEL" },
	{ "close_noops", scn_close_noops, "dup2(fd, fd), failing dup2/dup3/close_range: all leaked" },
	{ "dup_fails", scn_dup_fails, "dup3 bad flags, dup2 above RLIMIT_NOFILE: both leaked" },
	{ "two_epolls_close", scn_two_epolls_close, "in two epoll sets, DEL'd from one, the other closed" },
	{ "epoll_closed_other_ways", scn_epoll_closed_other_ways, "epoll fds closed by close_range and dup2 onto them: their watched fds leak" },
	{ "cww_renumbered", scn_cww_renumbered, "close of an fd whose file is watched under another number" },
	{ "max_fds_full", scn_max_fds_full, "epoll fd + 99 watched fill --max-fds 100; 200 untracked pipes, numbers reused" },
	{ "exec_fails", scn_exec_fails, "a failed execve closes no close-on-exec fd" },
	{ "types", scn_types, "timerfd, signalfd, inet socket, eventfd, epoll leaked" },
	{ "exec_comm", scn_exec_comm, "exec through another name: leaks under the new comm" },
	{ "fork_child_close", scn_fork_child_close, "a forked child closes its copy" },
	{ "churn", scn_churn, "short watches for -n seconds, one leak at a time" },
	{ "burst", scn_burst, "-n create/ADD/DEL/close cycles (default 200000)" },
};

static const struct option own_opts[] = {
	{ "exec-as", required_argument, NULL, 'x' },
	{ "stage2", no_argument, NULL, '2' },
	{},
};

static bool own_opt(int c)
{
	switch (c) {
	case 'x': exec_as = optarg; return true;
	case '2': env.stage = 2; return true;
	default: return false;
	}
}

const struct workload workload = {
	.name = "scenarios",
	.scenarios = scenarios,
	.nscenarios = sizeof(scenarios) / sizeof(scenarios[0]),
	.own_usage = "[--exec-as PATH] ",
	.own_opts = own_opts,
	.own_opt = own_opt,
};

int main(int argc, char **argv)
{
	static char self[4096];
	const struct scenario *s;
	int rc = parse_args(argc, argv);
	ssize_t n;

	if (rc >= 0)
		return rc;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = 0;
	self_path = self;

	/* without -o, the account goes to stdout */
	report_fd = env.report ? open_report(env.report) : 1;
	if (env.stage == 2)
		load_state();

	s = find_scenario();
	if (!s)
		return 2;
	begin();
	if (env.stage == 1)
		ready();
	return s->fn();
}
