// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The helpers the epoll workloads share (see workload.h).  Nothing here
 * uses stdio on the epoll fds; the account is written with one write(2)
 * per line so that threads never interleave within a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workload.h"

struct fdinfo fds[MAX_FD];
int report_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s[%d]: ", workload.name, getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(3);
}

double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void get_comm(char *buf, size_t size)
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

/* ---- options and the scenario table ---------------------------------- */

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s [-g GRACE] [-o REPORT] [-n N] [--wait] [--hold] "
		   "%sSCENARIO\n\nscenarios:\n", workload.name,
		workload.own_usage ? workload.own_usage : "");
	for (i = 0; i < workload.nscenarios; i++)
		fprintf(f, "  %-22s %s\n", workload.scenarios[i].name, workload.scenarios[i].desc);
}

int parse_args(int argc, char **argv)
{
	static const struct option common[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "wait", no_argument, NULL, 'w' },
		{ "hold", no_argument, NULL, 'H' },
	};
	static const struct option help = { "help", no_argument, NULL, 'h' };
	const size_t ncommon = sizeof(common) / sizeof(common[0]);
	struct option opts[16];
	size_t n = 0, i;
	int c;

	/* the common ones, the program's own, then --help */
	for (i = 0; i < ncommon; i++)
		opts[n++] = common[i];
	for (i = 0; workload.own_opts && workload.own_opts[i].name; i++) {
		if (n >= sizeof(opts) / sizeof(opts[0]) - 2)
			die("too many options");
		opts[n++] = workload.own_opts[i];
	}
	opts[n++] = help;
	memset(&opts[n], 0, sizeof(opts[n]));

	while ((c = getopt_long(argc, argv, "g:o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': env.grace = strtod(optarg, NULL); break;
		case 'o': env.report = optarg; break;
		case 'n': env.count = strtol(optarg, NULL, 10); break;
		case 'w': env.wait = true; break;
		case 'H': env.hold = true; break;
		case 'h': usage(stdout); return 0;
		default:
			if (c != '?' && workload.own_opt && workload.own_opt(c))
				break;
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	env.scenario = argv[optind];
	return -1;
}

const struct scenario *find_scenario(void)
{
	size_t i;

	for (i = 0; i < workload.nscenarios; i++)
		if (!strcmp(workload.scenarios[i].name, env.scenario))
			return &workload.scenarios[i];
	fprintf(stderr, "%s: unknown scenario '%s'\n", workload.name, env.scenario);
	usage(stderr);
	return NULL;
}

/* ---- the account ------------------------------------------------------ */

void rep(const char *fmt, ...)
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

int open_report(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int high;

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	high = fcntl(fd, F_DUPFD_CLOEXEC, REPORT_FD);
	if (high < 0)
		die("F_DUPFD: %s", strerror(errno));
	close(fd);
	return high;
}

void begin(void)
{
	char comm[32];

	get_comm(comm, sizeof(comm));
	rep("{\"ev\":\"begin\",\"pid\":%d,\"comm\":\"%s\",\"scenario\":\"%s\","
	    "\"stage\":%d,\"grace\":%g}",
	    getpid(), comm, env.scenario, env.stage, env.grace);
}

void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

void ready(void)
{
	if (!env.wait)
		return;
	rep("{\"ev\":\"ready\",\"pid\":%d}", getpid());
	wait_line();
}

/* ---- watches ---------------------------------------------------------- */

void identify(int fd, unsigned long long *ino, char *type, size_t size)
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
	else if (!strncmp(link, "pipe:", 5))
		snprintf(type, size, "pipe");
	else if (!strcmp(link, "anon_inode:[eventfd]"))
		snprintf(type, size, "eventfd");
	else if (!strcmp(link, "anon_inode:[timerfd]"))
		snprintf(type, size, "timerfd");
	else if (!strcmp(link, "anon_inode:[signalfd]"))
		snprintf(type, size, "signalfd");
	else if (!strcmp(link, "anon_inode:[eventpoll]"))
		snprintf(type, size, "epoll");
	else
		die("fd %d: unexpected file %s", fd, link);
}

struct fdinfo *slot(int fd)
{
	if (fd < 0 || fd >= MAX_FD)
		die("fd %d out of range", fd);
	return &fds[fd];
}

void watch_ev(int epfd, int fd, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	struct fdinfo *f;

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		die("EPOLL_CTL_ADD %d to %d: %s", fd, epfd, strerror(errno));
	pthread_mutex_lock(&lock);
	f = slot(fd);
	switch (f->state) {
	case ST_FREE:
		memset(f, 0, sizeof(*f));
		identify(fd, &f->ino, f->type, sizeof(f->type));
		f->cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
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
	pthread_mutex_unlock(&lock);
}

void watch(int epfd, int fd)
{
	watch_ev(epfd, fd, EPOLLIN);
}

static void watch_end(struct fdinfo *f, int epfd, int fd);

void unwatch(int epfd, int fd)
{
	struct fdinfo *f;

	if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL))
		die("EPOLL_CTL_DEL %d from %d: %s", fd, epfd, strerror(errno));
	pthread_mutex_lock(&lock);
	f = slot(fd);
	if (f->state != ST_WATCHED)
		die("DEL of fd %d that is not watched", fd);
	if (--f->nwatch == 0)
		watch_end(f, epfd, fd);
	pthread_mutex_unlock(&lock);
}

/* The last watch of fd ended, in epfd: account for it (lock held). */
static void watch_end(struct fdinfo *f, int epfd, int fd)
{
	f->state = ST_UNWATCHED;
	f->epfd = epfd;
	rep("{\"ev\":\"watch_end\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
	    "\"type\":\"%s\",\"mono\":%.6f,\"real\":%.6f}",
	    fd, epfd, f->ino, f->type, now(CLOCK_MONOTONIC), now(CLOCK_REALTIME));
}

void watch_dropped(int epfd, int fd)
{
	struct fdinfo *f;

	pthread_mutex_lock(&lock);
	f = slot(fd);
	if (f->state != ST_WATCHED)
		die("fd %d dropped from %d is not watched", fd, epfd);
	if (--f->nwatch == 0)
		watch_end(f, epfd, fd);
	pthread_mutex_unlock(&lock);
}

void gone(int fd, const char *how)
{
	struct fdinfo *f;

	pthread_mutex_lock(&lock);
	f = slot(fd);
	if (f->state == ST_UNWATCHED || f->state == ST_LEAKED)
		rep("{\"ev\":\"closed\",\"fd\":%d,\"ino\":%llu,\"how\":\"%s\",\"late\":%d}",
		    fd, f->ino, how, f->state == ST_LEAKED);
	else if (f->state == ST_WATCHED)
		die("fd %d closed while watched: not a scenario of this kind", fd);
	f->state = ST_FREE;
	pthread_mutex_unlock(&lock);
}

void xclose(int fd)
{
	if (close(fd))
		die("close %d: %s", fd, strerror(errno));
	gone(fd, "close");
}

void settle(void)
{
	char comm[32];
	int fd;

	sleep_s(env.grace + MARGIN_S);
	get_comm(comm, sizeof(comm));
	pthread_mutex_lock(&lock);
	for (fd = 0; fd < MAX_FD; fd++) {
		struct fdinfo *f = &fds[fd];

		if (f->state != ST_UNWATCHED)
			continue;
		f->state = ST_LEAKED;
		rep("{\"ev\":\"leaked\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
		    "\"type\":\"%s\",\"comm\":\"%s\"}",
		    fd, f->epfd, f->ino, f->type, comm);
	}
	pthread_mutex_unlock(&lock);
}

int finish(void)
{
	int fd;

	if (env.hold) {
		rep("{\"ev\":\"done\"}");
		wait_line();
	}
	for (fd = 0; fd < MAX_FD; fd++)
		if (fds[fd].state == ST_UNWATCHED || fds[fd].state == ST_LEAKED)
			gone(fd, "exit");
	rep("{\"ev\":\"exit\"}");
	return 0;
}

/* ---- files ------------------------------------------------------------ */

int xepoll(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	return ep;
}

int xeventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK);

	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	return fd;
}

int xsocket(int flags)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	return fd;
}

void epoll_cycles(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = xepoll();
	long i;

	for (i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_NONBLOCK);

		if (fd < 0)
			die("eventfd: %s", strerror(errno));
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) || epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL))
			die("epoll_ctl: %s", strerror(errno));
		if (close(fd))
			die("close: %s", strerror(errno));
	}
}
