// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * syscall_cost: nanoseconds per call of the syscalls fdtrace hooks, and of
 * one it does not, measured in this process.
 *
 * Operations (-O, comma-separated; default all):
 *   getppid       an unrelated syscall: no fdtrace program runs for it,
 *                 so its cost shows only the syscall slow path that any
 *                 enabled syscall tracepoint puts every task on
 *   close_badf    close(-1): the close tracepoint fires, the call fails
 *                 with EBADF without touching a file
 *   dup_close     dup(0) + close() of the fresh fd: the price of closing
 *                 a real fd, reported per pair (a real close needs an fd
 *                 to close)
 *   epoll_adddel  EPOLL_CTL_ADD + EPOLL_CTL_DEL of one eventfd on one
 *                 epoll instance, per pair
 *   cycle         eventfd() + ADD + DEL + close(): the full life of a
 *                 watched fd, per cycle (3 fdtrace records when traced)
 *   pipe_cycle    pipe2() + ADD + DEL of the read end + close() of both
 *                 ends: the cycle of a file that is not a socket
 *   tcp_cycle     a TCP loopback connection: connect() + accept4() + ADD +
 *                 DEL of the accepted socket + close() of both ends, the
 *                 client first with SO_LINGER 0 (a reset, so no TIME_WAIT
 *                 piles up).  Same records as pipe_cycle; the difference
 *                 between the two under fdtrace is what a socket costs it
 *                 more than a pipe (the socket read at DEL), but the TCP
 *                 handshake makes it noisy:
 *   adddel_pipe   ADD + DEL of one pipe's read end, per pair
 *   adddel_tcp    ADD + DEL of one accepted TCP socket, per pair: against
 *                 adddel_pipe, the socket read at DEL and nothing else
 *
 * Each repetition times ITERS calls of every operation in turn (fewer for
 * the compound ones, see op_scale), so the operations interleave and share
 * whatever the machine is doing.  The result is one JSON line with the
 * median and minimum ns per call over the repetitions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/syscall.h>

#define MAX_REPS 1000

struct op {
	const char *name;
	unsigned int scale;	/* ITERS / scale iterations per repetition */
	int (*run)(long n);
};

static int epfd = -1;
static int evfd = -1;
static int lsn = -1;
static int pipe_rd = -1, tcp_acc = -1;
static struct sockaddr_in lsn_addr;

static void die(const char *what)
{
	fprintf(stderr, "syscall_cost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int run_getppid(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}

static int run_close_badf(long n)
{
	for (long i = 0; i < n; i++)
		if (close(-1) == 0 || errno != EBADF)
			return -1;
	return 0;
}

static int run_dup_close(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = dup(0);

		if (fd < 0 || close(fd))
			return -1;
	}
	return 0;
}

static int run_epoll_adddel(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (long i = 0; i < n; i++) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) ||
		    epoll_ctl(epfd, EPOLL_CTL_DEL, evfd, NULL))
			return -1;
	}
	return 0;
}

static int run_cycle(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (long i = 0; i < n; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ||
		    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) || close(fd))
			return -1;
	}
	return 0;
}

static int run_pipe_cycle(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (long i = 0; i < n; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) ||
		    epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev) ||
		    epoll_ctl(epfd, EPOLL_CTL_DEL, p[0], NULL) || close(p[1]) || close(p[0]))
			return -1;
	}
	return 0;
}

static int run_tcp_cycle(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a;

		if (c < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
		    connect(c, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)))
			return -1;
		a = accept4(lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (a < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, a, &ev) ||
		    epoll_ctl(epfd, EPOLL_CTL_DEL, a, NULL) || close(c) || close(a))
			return -1;
	}
	return 0;
}

static int adddel(int fd, long n)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (long i = 0; i < n; i++) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ||
		    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL))
			return -1;
	}
	return 0;
}

static int run_adddel_pipe(long n)
{
	return adddel(pipe_rd, n);
}

static int run_adddel_tcp(long n)
{
	return adddel(tcp_acc, n);
}

static void tcp_listen(void)
{
	socklen_t len = sizeof(lsn_addr);

	lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	lsn_addr.sin_family = AF_INET;
	lsn_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)) ||
	    listen(lsn, 128) || getsockname(lsn, (struct sockaddr *)&lsn_addr, &len))
		die("listen");
}

/* The long-lived pipe and TCP connection of the adddel_* operations. */
static void persistent_fds(void)
{
	static int p[2], c;

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) || c < 0 ||
	    connect(c, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)))
		die("pipe/connect");
	pipe_rd = p[0];
	tcp_acc = accept4(lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (tcp_acc < 0)
		die("accept");
}

static const struct op ops[] = {
	{ "getppid", 1, run_getppid },
	{ "close_badf", 1, run_close_badf },
	{ "dup_close", 2, run_dup_close },
	{ "epoll_adddel", 2, run_epoll_adddel },
	{ "cycle", 4, run_cycle },
	{ "pipe_cycle", 8, run_pipe_cycle },
	{ "tcp_cycle", 16, run_tcp_cycle },
	{ "adddel_pipe", 2, run_adddel_pipe },
	{ "adddel_tcp", 2, run_adddel_tcp },
};
#define NR_OPS (sizeof(ops) / sizeof(ops[0]))

static __inline__ unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: syscall_cost [-c CPU] [-n ITERS] [-r REPS] [-O OP,...] [-o FILE] [-w]\n"
"  -c CPU     pin to this CPU first (sched_setaffinity)\n"
"  -n ITERS   calls per repetition of the simple ops (default 200000;\n"
"             dup_close and epoll_adddel do ITERS/2 pairs, cycle ITERS/4,\n"
"             pipe_cycle ITERS/8, tcp_cycle ITERS/16, adddel_* ITERS/2)\n"
"  -r REPS    repetitions; the median is reported (default 7)\n"
"  -O OPS     comma-separated subset of: getppid,close_badf,dup_close,\n"
"             epoll_adddel,cycle,pipe_cycle,tcp_cycle,adddel_pipe,\n"
"             adddel_tcp (default all)\n"
"  -o FILE    write the JSON result line there instead of stdout\n"
"  -w         print \"ready <pid>\" and wait for a line on stdin first\n");
}

int main(int argc, char **argv)
{
	long iters = 200000, reps = 7, cpu = -1;
	bool want[NR_OPS];
	const char *outpath = NULL;
	bool wait_go = false, any = false;
	static double samples[NR_OPS][MAX_REPS];
	FILE *out = stdout;
	char *end, *tok, *save;
	int c;

	memset(want, 0, sizeof(want));
	while ((c = getopt(argc, argv, "c:n:r:O:o:wh")) != -1) {
		switch (c) {
		case 'c':
			cpu = strtol(optarg, &end, 10);
			if (*end || cpu < 0)
				goto bad;
			break;
		case 'n':
			iters = strtol(optarg, &end, 10);
			if (*end || iters < 4)
				goto bad;
			break;
		case 'r':
			reps = strtol(optarg, &end, 10);
			if (*end || reps < 1 || reps > MAX_REPS)
				goto bad;
			break;
		case 'O':
			for (tok = strtok_r(optarg, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				size_t i;

				for (i = 0; i < NR_OPS; i++)
					if (!strcmp(tok, ops[i].name))
						break;
				if (i == NR_OPS) {
					fprintf(stderr, "syscall_cost: unknown op '%s'\n", tok);
					return 2;
				}
				want[i] = any = true;
			}
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'w':
			wait_go = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (!any)
		memset(want, 1, sizeof(want));

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("sched_setaffinity");
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (epfd < 0 || evfd < 0)
		die("epoll/eventfd");
	tcp_listen();
	persistent_fds();

	if (wait_go) {
		char line[64];

		printf("ready %d\n", getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}

	/* one untimed round to fault in code, slabs and the fd table */
	for (size_t i = 0; i < NR_OPS; i++)
		if (want[i] && ops[i].run(iters / ops[i].scale / 10 + 1))
			die(ops[i].name);

	for (long r = 0; r < reps; r++) {
		for (size_t i = 0; i < NR_OPS; i++) {
			long n = iters / ops[i].scale;
			unsigned long long t0;

			if (!want[i])
				continue;
			t0 = now_ns();
			if (ops[i].run(n))
				die(ops[i].name);
			samples[i][r] = (double)(now_ns() - t0) / n;
		}
	}

	if (outpath) {
		out = fopen(outpath, "w");
		if (!out)
			die(outpath);
	}
	fprintf(out, "{\"tool\":\"syscall_cost\",\"pid\":%d,\"cpu\":%ld,\"iters\":%ld,\"reps\":%ld,\"unit\":\"ns_per_call\"",
		getpid(), cpu, iters, reps);
	for (size_t i = 0; i < NR_OPS; i++) {
		double med, min;

		if (!want[i])
			continue;
		med = median(samples[i], reps);
		min = samples[i][0];	/* sorted by median() */
		fprintf(out, ",\"%s\":{\"median\":%.1f,\"min\":%.1f,\"calls\":%ld}",
			ops[i].name, med, min, iters / ops[i].scale);
	}
	fprintf(out, "}\n");
	if (out != stdout && fclose(out))
		die(outpath);
	return 0;
bad:
	usage(stderr);
	return 2;
}
