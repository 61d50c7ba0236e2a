// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * cyclegen: a load generator of watched-fd lifetimes.  Each thread repeats
 * eventfd() + EPOLL_CTL_ADD + EPOLL_CTL_DEL + close() on its own epoll
 * instance: three fdtrace records per cycle (ADD, DEL, CLOSE) and nothing
 * else, so the records fdtrace should see are exactly 3 x cycles (plus one
 * EXIT record when the process ends).
 *
 * With -s a cycle is a new TCP loopback connection instead, as a server
 * sees it: connect() + accept4() + ADD + DEL + close() of the accepted
 * socket, and close() of the client end (SO_LINGER 0: a reset, so no
 * TIME_WAIT piles up).  The records are the same three per cycle.
 *
 *   cyclegen [-t THREADS] [-n CYCLES | -d SECONDS] [-R CYCLES_PER_S]
 *            [-c CPU,...] [-s] [-w] [-H]
 *
 *   -t  threads (default 1); one process, so one tgid for fdtrace -p
 *   -n  cycles per thread (default 100000), or
 *   -d  run for this many seconds instead
 *   -R  pace to this many cycles per second in all (default: flat out)
 *   -c  pin thread i to the i-th CPU of the list (round robin)
 *   -s  TCP loopback connections instead of eventfds
 *   -w  print "ready <pid>" and wait for a line on stdin before starting
 *   -H  after the result line, wait for a line (or EOF) on stdin before
 *       exiting, so a checker can read fdtrace's kernel counters while
 *       nothing else happens
 *
 * Result: one JSON line on stdout with cycles, events (3 x cycles),
 * elapsed seconds and the achieved rates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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

#define MAX_THREADS	64
#define MAX_CPUS	64
#define BATCH		32	/* cycles between pacing checks */

struct worker {
	pthread_t th;
	int idx;
	int cpu;
	unsigned long long cycles;
	int err;
};

static long nr_threads = 1;
static unsigned long long cycles_per_thread = 100000;
static double duration_s;
static double rate;		/* cycles/s over all threads; 0: flat out */
static unsigned long long t_start;
static bool tcp;
static pthread_barrier_t barrier;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_until(unsigned long long t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* A listening socket on 127.0.0.1, its address in *sa; -1 on error. */
static int tcp_listen(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)sa, sizeof(*sa)) || listen(s, 128) ||
	    getsockname(s, (struct sockaddr *)sa, &len))
		return -1;
	return s;
}

/* One watched fd's life; returns 0 or -1 with errno set. */
static int cycle(int epfd, int lsn, const struct sockaddr_in *sa)
{
	static const struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, c = -1;

	if (!tcp) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	} else {
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
		    connect(c, (const struct sockaddr *)sa, sizeof(*sa)))
			return -1;
		fd = accept4(lsn, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	}
	if (fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ||
	    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL))
		return -1;
	if (c >= 0 && close(c))
		return -1;
	return close(fd);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_in sa;
	int lsn = -1;
	double per_thread_ns = rate > 0 ? 1e9 * nr_threads / rate : 0;
	unsigned long long deadline = 0, n = 0;
	int epfd;

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (tcp)
		lsn = tcp_listen(&sa);
	if (epfd < 0 || (tcp && lsn < 0)) {
		w->err = errno;
		pthread_barrier_wait(&barrier);
		return NULL;
	}
	pthread_barrier_wait(&barrier);
	if (duration_s > 0)
		deadline = t_start + (unsigned long long)(duration_s * 1e9);

	for (;;) {
		for (int b = 0; b < BATCH; b++) {
			if (cycle(epfd, lsn, &sa)) {
				w->err = errno;
				goto out;
			}
			n++;
			if (!deadline && n == cycles_per_thread)
				goto out;
		}
		if (per_thread_ns > 0)
			sleep_until(t_start + (unsigned long long)(n * per_thread_ns));
		if (deadline && now_ns() >= deadline)
			break;
	}
out:
	w->cycles = n;
	/*
	 * The epoll fd is left to exit: closing it here would add a close
	 * record-free syscall nobody needs, and keeps the record count exact.
	 */
	return NULL;
}

static int parse_cpus(char *s, int *cpus)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		long c = strtol(tok, &end, 10);

		if (*end || c < 0 || n == MAX_CPUS)
			return -1;
		cpus[n++] = c;
	}
	return n;
}

static void wait_line(void)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin))
		return;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	int cpus[MAX_CPUS], nr_cpus = 0, c;
	bool wait_go = false, hold = false;
	unsigned long long total = 0, t_end;
	char *end;
	double secs;

	while ((c = getopt(argc, argv, "t:n:d:R:c:swH")) != -1) {
		switch (c) {
		case 't':
			nr_threads = strtol(optarg, &end, 10);
			if (*end || nr_threads < 1 || nr_threads > MAX_THREADS)
				goto bad;
			break;
		case 'n':
			cycles_per_thread = strtoull(optarg, &end, 10);
			if (*end || !cycles_per_thread)
				goto bad;
			break;
		case 'd':
			duration_s = strtod(optarg, &end);
			if (*end || duration_s <= 0)
				goto bad;
			break;
		case 'R':
			rate = strtod(optarg, &end);
			if (*end || rate < 0)
				goto bad;
			break;
		case 'c':
			nr_cpus = parse_cpus(optarg, cpus);
			if (nr_cpus <= 0)
				goto bad;
			break;
		case 's':
			tcp = true;
			break;
		case 'w':
			wait_go = true;
			break;
		case 'H':
			hold = true;
			break;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	if (wait_go) {
		printf("ready %d\n", getpid());
		fflush(stdout);
		wait_line();
	}

	pthread_barrier_init(&barrier, NULL, nr_threads + 1);
	for (long i = 0; i < nr_threads; i++) {
		workers[i].idx = i;
		workers[i].cpu = nr_cpus ? cpus[i % nr_cpus] : -1;
		if (pthread_create(&workers[i].th, NULL, work, &workers[i])) {
			fprintf(stderr, "cyclegen: cannot create thread\n");
			return 1;
		}
	}
	t_start = now_ns();
	pthread_barrier_wait(&barrier);
	for (long i = 0; i < nr_threads; i++) {
		pthread_join(workers[i].th, NULL);
		if (workers[i].err) {
			fprintf(stderr, "cyclegen: thread %ld: %s\n", i, strerror(workers[i].err));
			return 1;
		}
		total += workers[i].cycles;
	}
	t_end = now_ns();
	secs = (t_end - t_start) / 1e9;
	printf("{\"tool\":\"cyclegen\",\"pid\":%d,\"threads\":%ld,\"cycles\":%llu,\"events\":%llu,"
	       "\"elapsed_s\":%.6f,\"cycles_per_s\":%.0f,\"events_per_s\":%.0f}\n",
	       getpid(), nr_threads, total, 3 * total, secs, total / secs, 3 * total / secs);
	fflush(stdout);
	if (hold)
		wait_line();
	return 0;
bad:
	fprintf(stderr,
		"usage: cyclegen [-t THREADS] [-n CYCLES | -d SECONDS] [-R CYCLES_PER_S] [-c CPU,...] [-s] [-w] [-H]\n");
	return 2;
}
