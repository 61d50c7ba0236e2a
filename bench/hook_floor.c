// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * hook_floor: attach one variant of hooks.bpf.c (see there) filtering on
 * TGID, print "ready", and stay attached until stdin closes or a signal
 * arrives.  Prints the number of hits in TGID, records consumed and forced
 * wakeups on the way out.
 *
 *   hook_floor VARIANT TGID
 *   VARIANT: tp_empty tp_const tp_hash raw_const btf_const fent_const
 *
 * The ring buffer of the cost_rb* variants is consumed as fdtrace does:
 * sleeping in epoll on it, woken by the BPF side or by a timeout of
 * POLL_MS (default 100, as fdtrace's), and records are counted, not
 * read.
 *
 *   hook_floor VARIANT TGID [POLL_MS [et]]
 *
 * "et" waits on the ring edge-triggered in an epoll of its own instead of
 * through libbpf's ring_buffer__poll(), which is level-triggered.
 *
 * Exit status 3 means the variant cannot load on this kernel (fentry on a
 * non-x86 machine, say): the benchmark shows it as skipped.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "hooks.skel.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("HOOK_FLOOR_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static int count_rec(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(unsigned long long *)ctx)++;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct hooks_bpf *skel;
	struct ring_buffer *rb;
	unsigned long long records = 0, drains = 0;
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct bpf_program *prog;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long tgid;
	size_t plen;
	char *end, buf[64];
	int nr_cpus, matched = 0, err;
	long poll_ms = 100;
	bool edge = false;
	int efd = -1;
	__u32 key = 0, one = 1;

	if (argc < 3 || argc > 5 || (argc == 5 && strcmp(argv[4], "et"))) {
		fprintf(stderr, "usage: hook_floor VARIANT TGID [POLL_MS [et]]\n");
		return 2;
	}
	errno = 0;
	tgid = strtoul(argv[2], &end, 10);
	if (errno || *end || !tgid) {
		fprintf(stderr, "hook_floor: invalid tgid '%s'\n", argv[2]);
		return 2;
	}
	edge = argc == 5;
	if (argc >= 4) {
		poll_ms = strtol(argv[3], &end, 10);
		if (*end || poll_ms < 0) {
			fprintf(stderr, "hook_floor: invalid poll interval '%s'\n", argv[3]);
			return 2;
		}
	}
	libbpf_set_print(quiet);

	skel = hooks_bpf__open();
	if (!skel) {
		fprintf(stderr, "hook_floor: failed to open BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->targ_tgid = tgid;
	plen = strlen(argv[1]);
	bpf_object__for_each_program(prog, skel->obj) {
		const char *name = bpf_program__name(prog);
		bool on = !strncmp(name, argv[1], plen) && name[plen] == '_';

		bpf_program__set_autoload(prog, on);
		matched += on;
	}
	if (!matched) {
		fprintf(stderr, "hook_floor: unknown variant '%s'\n", argv[1]);
		return 2;
	}
	err = hooks_bpf__load(skel);
	if (err) {
		fprintf(stderr, "hook_floor: %s cannot load here: %s\n", argv[1], strerror(-err));
		return 3;
	}
	if (bpf_map__update_elem(skel->maps.pids, &key, sizeof(key), &one, sizeof(one), BPF_ANY) ||
	    bpf_map__update_elem(skel->maps.pids, &(__u32){ tgid }, sizeof(__u32), &one,
				 sizeof(one), BPF_ANY)) {
		fprintf(stderr, "hook_floor: failed to fill pids map: %s\n", strerror(errno));
		return 1;
	}
	err = hooks_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "hook_floor: %s cannot attach here: %s\n", argv[1], strerror(-err));
		return 3;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), count_rec, &records, NULL);
	if (!rb) {
		fprintf(stderr, "hook_floor: failed to create ring buffer: %s\n", strerror(errno));
		return 1;
	}
	if (edge) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

		efd = epoll_create1(EPOLL_CLOEXEC);
		if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, bpf_map__fd(skel->maps.rb), &ev)) {
			fprintf(stderr, "hook_floor: epoll: %s\n", strerror(errno));
			return 1;
		}
	}
	for (;;) {
		struct epoll_event ev;

		drains++;
		/*
		 * libbpf's own epoll is level-triggered: once one wakeup has
		 * put the ring on its ready list, every poll returns at once
		 * while a single record waits.  Edge-triggered, only the BPF
		 * side's wakeups (and the timeout) end the wait.
		 */
		if ((edge ? epoll_wait(efd, &ev, 1, poll_ms) : ring_buffer__poll(rb, poll_ms)) < 0 &&
		    errno == EINTR)
			break;	/* SIGINT or SIGTERM */
		/*
		 * Without a wakeup epoll never reports the ring: drain it on
		 * every timeout, as fdtrace's event loop does.
		 */
		ring_buffer__consume(rb);
		if (poll(&pfd, 1, 0) > 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
	ring_buffer__consume(rb);
	ring_buffer__free(rb);

	nr_cpus = libbpf_num_possible_cpus();
	if (nr_cpus > 0) {
		__u64 vals[nr_cpus], sum[2] = {};

		for (__u32 k = 0; k < 2; k++) {
			if (bpf_map__lookup_elem(skel->maps.hits, &k, sizeof(k), vals,
						 sizeof(vals), 0))
				continue;
			for (int c = 0; c < nr_cpus; c++)
				sum[k] += vals[c];
		}
		printf("hits %llu records %llu wakeups %llu drains %llu\n",
		       (unsigned long long)sum[0], records, (unsigned long long)sum[1], drains);
	}
	hooks_bpf__destroy(skel);
	return 0;
}
