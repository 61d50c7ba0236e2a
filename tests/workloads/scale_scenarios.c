// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Workloads at scale for tests/scale_tests.py: thousands of leaks, a full
 * --max-fds map, the cost of close_range and fork+exit under fdtrace, and
 * a burst of threads that never leaks.
 *
 * They write the account lines of scenarios.c (see the comment at its
 * top) where a test compares fdtrace's findings with them, plus:
 *   cost         what a timed call cost: what, n, median_us, p90_us, min_us
 *   burst_done   the threads of "threads" have all finished
 *
 *   scale_scenarios [-g GRACE] [-o REPORT] [-n N] [--wait] [--hold]
 *                   [--threads T] SCENARIO
 *
 * The fd numbers here go far past workload.h's MAX_FD, so these scenarios
 * keep their own books and do not use watch()/unwatch().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

struct env env = {
	.grace = 1.0,
	.count = -1,
	.stage = 1,
};

static long nthreads = 200;

/* ---- helpers ---------------------------------------------------------- */

/* The soft RLIMIT_NOFILE up to the hard one. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit: %s", strerror(errno));
	return rl.rlim_cur;
}

static void ctl(int ep, int op, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(ep, op, fd, &ev))
		die("epoll_ctl(%d, %d, %d): %s", ep, op, fd, strerror(errno));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The "cost" line of n timings (seconds), in microseconds. */
static void cost_line(const char *what, double *t, long n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	rep("{\"ev\":\"cost\",\"what\":\"%s\",\"n\":%ld,\"median_us\":%.3f,"
	    "\"p90_us\":%.3f,\"min_us\":%.3f}",
	    what, n, t[n / 2] * 1e6, t[n * 9 / 10] * 1e6, t[0] * 1e6);
}

static double *xcalloc_times(long n)
{
	double *t = calloc(n, sizeof(*t));

	if (!t)
		die("out of memory");
	return t;
}

/* ---- scenarios -------------------------------------------------------- */

/*
 * Two batches of -n (default 9,000) sockets, each added to an epoll set
 * and deleted from it at once, 0.3 s apart; every one stays open.  Each
 * DEL is a watch_end line; once the last has been unwatched for longer
 * than grace + MARGIN, every fd is a leaked line.
 */
static int scn_mass_leak(void)
{
	long n = env.count > 0 ? env.count : 9000, i, b;
	int ep, *fd;
	char comm[32];
	struct stat st;

	if ((rlim_t)(2 * n + 64) > raise_nofile())
		die("RLIMIT_NOFILE too low for 2 x %ld fds", n);
	fd = calloc(2 * n, sizeof(*fd));
	if (!fd)
		die("out of memory");
	get_comm(comm, sizeof(comm));
	ep = xepoll();
	ready();
	for (b = 0; b < 2; b++) {
		long lo = b * n, hi = lo + n;

		if (b)
			sleep_s(0.3);
		for (i = lo; i < hi; i++) {
			fd[i] = xsocket(0);
			ctl(ep, EPOLL_CTL_ADD, fd[i]);
		}
		for (i = lo; i < hi; i++) {
			/* the DEL happened between real0 and real */
			double real0 = now(CLOCK_REALTIME);

			ctl(ep, EPOLL_CTL_DEL, fd[i]);
			if (fstat(fd[i], &st))
				die("fstat: %s", strerror(errno));
			rep("{\"ev\":\"watch_end\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
			    "\"type\":\"socket\",\"mono\":%.6f,\"real\":%.6f,"
			    "\"real0\":%.6f}",
			    fd[i], ep, (unsigned long long)st.st_ino,
			    now(CLOCK_MONOTONIC), now(CLOCK_REALTIME), real0);
		}
	}
	sleep_s(env.grace + MARGIN_S);
	for (i = 0; i < 2 * n; i++) {
		if (fstat(fd[i], &st))
			die("fstat: %s", strerror(errno));
		rep("{\"ev\":\"leaked\",\"fd\":%d,\"epfd\":%d,\"ino\":%llu,"
		    "\"type\":\"socket\",\"comm\":\"%s\"}",
		    fd[i], ep, (unsigned long long)st.st_ino, comm);
	}
	if (env.hold) {
		rep("{\"ev\":\"done\"}");
		wait_line();
	}
	rep("{\"ev\":\"exit\"}");
	return 0;
}

static int xclose_range(unsigned int first, unsigned int last)
{
	return syscall(SYS_close_range, first, last, 0);
}

/*
 * -n (default 1,000) timed close_range calls, each over fds just added
 * and deleted (the fds fdtrace tracks), half of them bounded, half up to
 * ~0U as a daemon closing everything past stdio would.  Nothing leaks,
 * nothing is reported: the cost lines are the result.
 */
static int scn_close_range_cost(void)
{
	long n = env.count > 0 ? env.count : 1000, i;
	double *bounded = xcalloc_times(n), *open_ended = xcalloc_times(n), *all;
	long nb = 0, no = 0;
	int ep, fd[3], j, low;

	/* the account below the fds closed up to ~0U */
	low = fcntl(report_fd, F_DUPFD_CLOEXEC, 0);
	if (low < 0)
		die("F_DUPFD: %s", strerror(errno));
	close(report_fd);
	report_fd = low;
	ep = xepoll();
	ready();
	for (i = 0; i < n; i++) {
		double t0;

		for (j = 0; j < 3; j++) {
			fd[j] = xeventfd();
			ctl(ep, EPOLL_CTL_ADD, fd[j]);
		}
		for (j = 0; j < 3; j++)
			ctl(ep, EPOLL_CTL_DEL, fd[j]);
		if (fd[1] != fd[0] + 1 || fd[2] != fd[1] + 1)
			die("eventfds not contiguous");
		t0 = now(CLOCK_MONOTONIC);
		if (xclose_range(fd[0], i % 2 ? ~0U : (unsigned int)fd[2]))
			die("close_range: %s", strerror(errno));
		t0 = now(CLOCK_MONOTONIC) - t0;
		if (i % 2)
			open_ended[no++] = t0;
		else
			bounded[nb++] = t0;
	}
	all = xcalloc_times(n);
	memcpy(all, bounded, nb * sizeof(*all));
	memcpy(all + nb, open_ended, no * sizeof(*all));
	cost_line("close_range", all, n);
	cost_line("close_range_bounded", bounded, nb);
	cost_line("close_range_to_max", open_ended, no);
	return finish();
}

/*
 * -n (default 300) fork + _exit + waitpid, timed, after a few watches
 * ended and closed (under -f each child is traced and exits).
 */
static int scn_fork_exit_cost(void)
{
	long n = env.count > 0 ? env.count : 300, i;
	double *t = xcalloc_times(n);
	int ep = xepoll(), j;

	for (j = 0; j < 8; j++) {
		int fd = xeventfd();

		ctl(ep, EPOLL_CTL_ADD, fd);
		ctl(ep, EPOLL_CTL_DEL, fd);
		close(fd);
	}
	ready();
	for (i = 0; i < n; i++) {
		double t0 = now(CLOCK_MONOTONIC);
		pid_t pid = fork();
		int status;

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid || status)
			die("child failed");
		t[i] = now(CLOCK_MONOTONIC) - t0;
	}
	cost_line("fork_exit", t, n);
	return finish();
}

static void *burst_thread(void *arg)
{
	epoll_cycles(*(long *)arg);
	return NULL;
}

/*
 * --threads (default 200) threads, -n (default 500) create/ADD/DEL/close
 * cycles each: nothing ever leaks.  Then, as a server would, the process
 * keeps 100 eventfds open, never watched, under the numbers the burst
 * just used, for longer than grace + MARGIN: a DEL whose close was lost
 * finds its number open and naming an eventfd again.
 */
static int scn_threads(void)
{
	long n = env.count > 0 ? env.count : 500, i;
	pthread_t *th = calloc(nthreads, sizeof(*th));
	int held[100];

	if (!th)
		die("out of memory");
	raise_nofile();
	ready();
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, burst_thread, &n))
			die("pthread_create");
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 100; i++)
		held[i] = xeventfd();
	rep("{\"ev\":\"burst_done\"}");
	rep("{\"ev\":\"counts\",\"watches_ended\":%ld,\"closed\":%ld}",
	    nthreads * n, nthreads * n);
	sleep_s(env.grace + MARGIN_S);
	if (env.hold) {
		rep("{\"ev\":\"done\"}");
		wait_line();
	}
	for (i = 0; i < 100; i++)
		close(held[i]);
	rep("{\"ev\":\"exit\"}");
	return 0;
}

/* Nothing at all (with --wait --hold: until the second line on stdin). */
static int scn_idle(void)
{
	ready();
	return finish();
}

static const struct scenario scenarios[] = {
	{ "mass_leak", scn_mass_leak, "2 x -n (9000) sockets unwatched 0.3 s apart, all leaked" },
	{ "close_range_cost", scn_close_range_cost, "-n (1000) timed close_range calls over tracked fds" },
	{ "fork_exit_cost", scn_fork_exit_cost, "-n (300) timed fork + exit + waitpid" },
	{ "threads", scn_threads, "--threads (200) x -n (500) cycles, then 100 eventfds held" },
	{ "idle", scn_idle, "nothing until a line on stdin" },
};

static const struct option own_opts[] = {
	{ "threads", required_argument, NULL, 't' },
	{},
};

static bool own_opt(int c)
{
	if (c != 't')
		return false;
	nthreads = strtol(optarg, NULL, 10);
	if (nthreads < 1)
		die("--threads: give a positive number");
	return true;
}

const struct workload workload = {
	.name = "scale_scenarios",
	.scenarios = scenarios,
	.nscenarios = sizeof(scenarios) / sizeof(scenarios[0]),
	.own_usage = "[--threads T] ",
	.own_opts = own_opts,
	.own_opt = own_opt,
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
	report_fd = env.report ? open_report(env.report) : 1;
	begin();
	return s->fn();
}
