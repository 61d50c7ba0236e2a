// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Drives prom.c as the agent loop does, with known numbers, for the
 * end-to-end test against a real node_exporter and Prometheus
 * (tests/prom_tests.py) while the agent mode is not there to run.
 *
 *   prom_demo PATH INTERVAL_MS
 *
 * Writes PATH every INTERVAL_MS until killed, and prints "write N" after
 * the Nth.  Two label sets:
 *   leaker.service/leaker   pid 1000 leaks 1 fd per write from write 2 to
 *                           5 (4 leaks), exits; pid 1001 takes over and
 *                           leaks 3 more (writes 7 to 9): 7 in all, from
 *                           write 9 on; 10 minutes to its fd limit
 *   nginx.service/nginx     ends 10 watches per write, closes them all:
 *                           no leak, not leaking
 * and one whose labels need escaping and are not UTF-8 (a comm may hold
 * any byte): node_exporter refuses the whole file if one is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "attrib.h"
#include "prom.h"

int main(int argc, char **argv)
{
	char leaker_unit[ATTRIB_UNIT_LEN], nginx_unit[ATTRIB_UNIT_LEN];
	struct timespec ts;
	struct prom *p;
	long ms;

	if (argc != 3 || (ms = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: prom_demo PATH INTERVAL_MS\n");
		return 2;
	}
	/* the labels as the agent derives them from /proc/PID/cgroup */
	attrib__unit_of("/system.slice/leaker.service", leaker_unit, sizeof(leaker_unit));
	attrib__unit_of("/system.slice/nginx.service", nginx_unit, sizeof(nginx_unit));
	p = prom__new(argv[1], 1);
	if (!p) {
		fprintf(stderr, "prom_demo: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000;
	for (unsigned long long i = 1;; i++) {
		struct proc_stats a = { 0 }, n = { 0 };
		struct prom_proc pa = {
			.unit = leaker_unit, .comm = "leaker", .st = &a,
			.open_fds = 100 + i, .fd_limit = 1024, .fd_limit_in_s = 600,
		};
		struct prom_proc pn = {
			.unit = nginx_unit, .comm = "nginx", .st = &n, .pid = 2000,
			.open_fds = 50, .fd_limit = 1024, .fd_limit_in_s = -1,
		};
		struct prom_global g = { .processes_traced = 3 };
		int err;

		if (i <= 5) {
			pa.pid = 1000;
			a.watches_ended = a.leaks = a.leaks_idle = i < 2 ? 0 : i - 1;
			a.open_leaks = a.leaks;
			pa.exited = i == 5;	/* its fds closed at exit */
			if (pa.exited)
				a.open_leaks = 0;
		} else {
			pa.pid = 1001;
			a.watches_ended = a.leaks = a.leaks_idle = i < 7 ? 0 : i - 6 > 3 ? 3 : i - 6;
			a.open_leaks = a.leaks;
		}
		n.watches_ended = n.closed = 10 * i;
		struct prom_proc po = {
			.unit = "/odd\\path\"with\nnewline", .comm = "x\xffy", .st = &n,
			.pid = 3000, .fd_limit_in_s = -1,
		};

		prom__proc(p, &pa);
		prom__proc(p, &pn);
		prom__proc(p, &po);
		err = prom__write(p, &g);
		if (err) {
			fprintf(stderr, "prom_demo: write %s: %s\n", argv[1], strerror(-err));
			return 1;
		}
		printf("write %llu\n", i);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
}
