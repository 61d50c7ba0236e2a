// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
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
 * cycles, 3 records each for fdtrace, and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* fdtrace must report a leak within grace + 1 s; we declare it after this */
#define MARGIN_S	1.3
#define MAX_FD		1024
#define REPORT_FD	900	/* out of the way of the fds scenarios use */

enum fd_state { ST_FREE, ST_WATCHED, ST_UNWATCHED, ST_LEAKED };

struct fdinfo {
	enum fd_state state;
	int epfd;		/* epoll fd of the last watch */
	int nwatch;		/* epoll sets the fd is in */
	unsigned long long ino;
	char type[16];
};

static struct env {
	double grace;
	const char *report;
	const char *scenario;
	long count;
	bool wait;
	bool hold;
} env = {
	.grace = 0.5,
};

static struct fdinfo fds[MAX_FD];
static int report_fd = -1;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rt_scenarios[%d]: ", getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(3);
}

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void get_comm(char *buf, size_t size)
{
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die("open comm: %s", strerror(errno));
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		die("read comm");
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* One account line, one write(2). */
static void rep(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (report_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		die("account line too long");
	line[n++] = '\n';
	if (write(report_fd, line, n) != n)
		die("write report: %s", strerror(errno));
}

/* Start an account in path (this process's own, after a fork). */
static void open_account(const char *path)
{
	char comm[32];
	int fd;

	if (report_fd >= 0)
		close(report_fd);
	report_fd = -1;
	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	report_fd = fcntl(fd, F_DUPFD_CLOEXEC, REPORT_FD);
	if (report_fd < 0)
		die("F_DUPFD: %s", strerror(errno));
	close(fd);
	get_comm(comm, sizeof(comm));
	rep("{\"ev\":\"begin\",\"pid\":%d,\"comm\":\"%s\",\"scenario\":\"%s\","
	    "\"stage\":1,\"grace\":%g}", getpid(), comm, env.scenario, env.grace);
}

static void identify(int fd, unsigned long long *ino, char *type, size_t size)
{
	char path[64], link[128];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st))
		die("fstat %d: %s", fd, strerror(errno));
	*ino = st.st_ino;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die("readlink %s: %s", path, strerror(errno));
	link[n] = 0;
	if (!strncmp(link, "socket:", 7))
		snprintf(type, size, "socket");
	else if (!strcmp(link, "anon_inode:[eventfd]"))
		snprintf(type, size, "eventfd");
	else if (!strcmp(link, "anon_inode:[timerfd]"))
		snprintf(type, size, "timerfd");
	else
		die("fd %d: unexpected file %s", fd, link);
}

static struct fdinfo *slot(int fd)
{
	if (fd < 0 || fd >= MAX_FD)
		die("fd %d out of range", fd);
	return &fds[fd];
}

static void watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	struct fdinfo *f = slot(fd);

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		die("EPOLL_CTL_ADD %d to %d: %s", fd, epfd, strerror(errno));
	switch (f->state) {
	case ST_FREE:
		memset(f, 0, sizeof(*f));
		identify(fd, &f->ino, f->type, sizeof(f->type));
		break;
	case ST_WATCHED:
		break;
	case ST_UNWATCHED:
	case ST_LEAKED:
		rep("{\"ev\":\"rewatched\",\"fd\":%d,\"ino\":%llu,\"late\":%d}",
		    fd, f->ino, f->state == ST_LEAKED);
		break;
	}
	f->state = ST_WATCHED;
	f->epfd = epfd;
	f->nwatch++;
}

static void unwatch(int epfd, int fd)
{
	struct fdinfo *f = slot(fd);

	if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL))
		die("EPOLL_CTL_DEL %d from %d: %s", fd, epfd, strerror(errno));
	if (f->state != ST_WATCHED)
		die("DEL of fd %d that is not watched", fd);
	if (--f->nwatch)
		return;
	f->state = ST_UNWATCHED;
	f->epfd = epfd;
	rep("{\"ev\":\"watch_end\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
	    "\"type\":\"%s\",\"mono\":%.6f,\"real\":%.6f}",
	    fd, epfd, f->ino, f->type, now(CLOCK_MONOTONIC), now(CLOCK_REALTIME));
}

/* fd stopped existing, by our hand or another's */
static void gone(int fd, const char *how)
{
	struct fdinfo *f = slot(fd);

	if (f->state == ST_UNWATCHED || f->state == ST_LEAKED)
		rep("{\"ev\":\"closed\",\"fd\":%d,\"ino\":%llu,\"how\":\"%s\",\"late\":%d}",
		    fd, f->ino, how, f->state == ST_LEAKED);
	f->state = ST_FREE;
	f->nwatch = 0;
}

static void xclose(int fd)
{
	if (close(fd))
		die("close %d: %s", fd, strerror(errno));
	gone(fd, "close");
}

/* Past grace + MARGIN_S, every fd still unwatched must have been flagged. */
static void settle(void)
{
	char comm[32];
	int fd;

	sleep_s(env.grace + MARGIN_S);
	get_comm(comm, sizeof(comm));
	for (fd = 0; fd < MAX_FD; fd++) {
		struct fdinfo *f = &fds[fd];

		if (f->state != ST_UNWATCHED)
			continue;
		f->state = ST_LEAKED;
		rep("{\"ev\":\"leaked\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
		    "\"type\":\"%s\",\"comm\":\"%s\"}",
		    fd, f->epfd, f->ino, f->type, comm);
	}
}

static void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

/* --hold, then the process exit closes what is left */
static int finish(bool hold)
{
	int fd;

	if (hold) {
		rep("{\"ev\":\"done\"}");
		wait_line();
	}
	for (fd = 0; fd < MAX_FD; fd++)
		if (fds[fd].state == ST_UNWATCHED || fds[fd].state == ST_LEAKED)
			gone(fd, "exit");
	rep("{\"ev\":\"exit\"}");
	return 0;
}

static int xepoll(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	return ep;
}

static int xsocket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	return fd;
}

static int xeventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK);

	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	return fd;
}

static void ready(void)
{
	if (!env.wait)
		return;
	rep("{\"ev\":\"ready\",\"pid\":%d}", getpid());
	wait_line();
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
	int ep = xepoll(), a = xsocket(), b = xsocket(), c = xsocket(), f = xsocket();
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
		d = xsocket();
		e = xeventfd();
		watch(ep2, d);
		watch(ep2, e);
		watch(ep2, f);
		unwatch(ep2, d);
		unwatch(ep2, e);
		unwatch(ep2, f);
		xclose(d);
		settle();
		finish(false);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || status)
		die("child failed (status %#x)", status);
	unwatch(ep, c);
	xclose(c);
	close(f);	/* never watched here */
	settle();
	return finish(env.hold);
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
	int ep = xepoll(), x = reuse == REUSE_TIMERFD ? xeventfd() : xsocket(), status, rc;
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
	return finish(env.hold);
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
	int s1 = xsocket(), s2 = xsocket(), s3 = xsocket(), s4 = xsocket();
	int ev = xeventfd(), m = xsocket(), r = xsocket(), w = xsocket();

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
	gone(w, "close");
	settle();
	unwatch(ep2, m);
	xclose(m);
	settle();
	return finish(env.hold);
}

/* exactly -n create/ADD/DEL/close cycles: 3 records each */
static int scn_cycles(void)
{
	struct epoll_event e = { .events = EPOLLIN };
	long i, n = env.count ? env.count : 100000;
	int ep = xepoll();

	for (i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_NONBLOCK);

		if (fd < 0)
			die("eventfd: %s", strerror(errno));
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) || epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL))
			die("epoll_ctl: %s", strerror(errno));
		if (close(fd))
			die("close: %s", strerror(errno));
	}
	return 0;
}

static const struct scenario {
	const char *name;
	int (*fn)(void);
	const char *desc;
} scenarios[] = {
	{ "fork", scn_fork, "parent and forked child each leak their own fds" },
	{ "shared_close", scn_shared_close, "a CLONE_FILES process closes the fd after DEL" },
	{ "shared_reuse", scn_shared_reuse, "... and reuses the number for a new socket" },
	{ "shared_reuse_anon", scn_shared_reuse_anon, "... an eventfd, its number reused by a timerfd" },
	{ "attach", scn_attach, "watches made before --wait's line, DELs after" },
	{ "cycles", scn_cycles, "-n create/ADD/DEL/close cycles, no account" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: rt_scenarios [-g GRACE] [-o REPORT] [-n N] [--wait] [--hold] "
		   "SCENARIO\n\nscenarios:\n");
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(f, "  %-22s %s\n", scenarios[i].name, scenarios[i].desc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "wait", no_argument, NULL, 'w' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "g:o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': env.grace = strtod(optarg, NULL); break;
		case 'o': env.report = optarg; break;
		case 'n': env.count = strtol(optarg, NULL, 10); break;
		case 'w': env.wait = true; break;
		case 'H': env.hold = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	env.scenario = argv[optind];
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenarios[i].name, env.scenario))
			continue;
		open_account(env.report);
		return scenarios[i].fn();
	}
	fprintf(stderr, "rt_scenarios: unknown scenario '%s'\n", env.scenario);
	usage(stderr);
	return 2;
}
