/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What the epoll workloads (tests/workloads/scenarios.c, rt_scenarios.c)
 * share: the options they take, the table of scenarios they run, and the
 * account of the watches they end, in the line format described at the top
 * of scenarios.c.
 *
 * A workload program defines `env` (its defaults) and `workload` (its name,
 * scenarios and own options), then calls parse_args() and find_scenario().
 */
#ifndef FDTRACE_TESTS_WORKLOAD_H
#define FDTRACE_TESTS_WORKLOAD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/*
 * How long past the grace period a scenario waits before it declares an
 * fd leaked: fdtrace must report a leak within grace + 1 s.
 */
#define MARGIN_S	1.3
#define MAX_FD		1024
#define REPORT_FD	900	/* out of the way of the fds scenarios use */

enum fd_state { ST_FREE, ST_WATCHED, ST_UNWATCHED, ST_LEAKED };

struct fdinfo {
	enum fd_state state;
	int epfd;		/* epoll fd of the last watch */
	int nwatch;		/* epoll sets the fd is in */
	bool cloexec;
	unsigned long long ino;
	char type[16];
};

struct env {
	double grace;		/* -g */
	const char *report;	/* -o */
	const char *scenario;
	long count;		/* -n */
	bool wait;		/* --wait */
	bool hold;		/* --hold */
	int stage;		/* 2 after a re-exec */
};

struct scenario {
	const char *name;
	int (*fn)(void);
	const char *desc;
};

struct workload {
	const char *name;		/* prefix of die()'s and usage messages */
	const struct scenario *scenarios;
	size_t nscenarios;
	const char *own_usage;		/* the program's own options, for usage */
	const struct option *own_opts;	/* ... as long options, {} ended */
	bool (*own_opt)(int c);		/* takes one of them (and optarg) */
};

/* Defined by each workload program. */
extern struct env env;
extern const struct workload workload;

/* The watches this process knows of, by fd number. */
extern struct fdinfo fds[MAX_FD];
/* Where the account goes; -1: nowhere. */
extern int report_fd;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
double now(clockid_t clk);
void sleep_s(double s);
void get_comm(char *buf, size_t size);

/*
 * -g, -o, -n, --wait, --hold, --help and the program's own options, then
 * the scenario name into env.scenario.  Returns -1 to go on, or the exit
 * status.
 */
int parse_args(int argc, char **argv);
/* env.scenario in the table; NULL (and usage on stderr) if it is not there */
const struct scenario *find_scenario(void);

/* One account line, one write(2). */
void rep(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Open path for the account, at REPORT_FD or above; returns the fd. */
int open_report(const char *path);
/* The "begin" line of an account. */
void begin(void);
/* With --wait: the "ready" line, then a line on stdin is awaited. */
void ready(void);
/* A line on stdin, or EOF. */
void wait_line(void);

/* What the fd names, as fdtrace is expected to call it. */
void identify(int fd, unsigned long long *ino, char *type, size_t size);
struct fdinfo *slot(int fd);
void watch_ev(int epfd, int fd, unsigned int events);
void watch(int epfd, int fd);
void unwatch(int epfd, int fd);
/*
 * epfd, which watched fd, was closed (the caller closed it): that watch
 * is gone, as a DEL would have ended it.
 */
void watch_dropped(int epfd, int fd);
/* Account for fd having stopped existing (the caller closed it). */
void gone(int fd, const char *how);
void xclose(int fd);
/*
 * Wait until every fd unwatched now has been so for longer than grace +
 * MARGIN, then say which ones fdtrace must have flagged.
 */
void settle(void);
/* End of a scenario: --hold, then the process exit closes what is left. */
int finish(void);

int xepoll(void);
int xeventfd(void);
int xsocket(int flags);

/*
 * n create/ADD/DEL/close cycles of an eventfd in a new epoll set, as fast
 * as possible, with no account: 3 records each for fdtrace.
 */
void epoll_cycles(long n);

#endif
