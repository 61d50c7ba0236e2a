// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tracer.h"
#include "probe.h"
#include "fdtrace.skel.h"

#define TRACEFS		"/sys/kernel/tracing"
#define DEBUGFS_TRACING	"/sys/kernel/debug/tracing"

#define MAX_LINKS	16

struct tracer {
	struct fdtrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[MAX_LINKS];
	int nr_links;
	record_fn on_record;
	void *ctx;
	int nr_cpus;
	enum tracer_backend backend;	/* AUTO until chosen */
	char why[256];			/* why AUTO did not choose fentry */
};

static bool libbpf_verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	/*
	 * Without -v libbpf stays quiet: a failure is reported once, in
	 * one line, by our caller, not as libbpf's multi-line log.
	 */
	if (!libbpf_verbose)
		return 0;
	(void)level;
	return vfprintf(stderr, fmt, args);
}

static void errmsg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int handle_rb(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	return t->on_record(t->ctx, data, size);
}

/* The cgroups and names --cgroup and --comm select, into their maps. */
static int set_selection(struct tracer *t, const struct tracer_opts *opts,
			 char *errbuf, size_t errlen)
{
	__u8 one = 1;
	int err;

	if (opts->nr_cgroups > FDT_MAX_SEL_CGROUPS) {
		errmsg(errbuf, errlen, "too many cgroups (at most %d)", FDT_MAX_SEL_CGROUPS);
		return -E2BIG;
	}
	for (__u32 i = 0; i < opts->nr_cgroups; i++) {
		/* the map keeps its own reference: the fd may go */
		int fd = open(opts->cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			errmsg(errbuf, errlen, "cannot open cgroup %s: %s", opts->cgroups[i],
			       strerror(-err));
			return err;
		}
		err = bpf_map__update_elem(t->skel->maps.sel_cgroups, &i, sizeof(i), &fd,
					   sizeof(fd), BPF_ANY) ? -errno : 0;
		close(fd);
		if (err) {
			errmsg(errbuf, errlen, "cannot select cgroup %s: %s", opts->cgroups[i],
			       strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < opts->nr_comms; i++) {
		char comm[FDT_COMM_LEN] = {};

		strncpy(comm, opts->comms[i], sizeof(comm) - 1);
		if (bpf_map__update_elem(t->skel->maps.sel_comms, comm, sizeof(comm), &one,
					 sizeof(one), BPF_ANY)) {
			err = -errno;
			errmsg(errbuf, errlen, "cannot select comm %s: %s", comm, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Which backend a program belongs to; AUTO: both (sched, iterator) */
static enum tracer_backend prog_backend(const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);

	if (!strncmp(sec, "tp/syscalls/", 12))
		return TRACER_BACKEND_TRACEPOINT;
	if (!strncmp(sec, "fentry/", 7) || !strncmp(sec, "fexit/", 6))
		return TRACER_BACKEND_FENTRY;
	return TRACER_BACKEND_AUTO;
}

/*
 * Probe fentry on every kernel function the fentry programs hook (named
 * by their sections, "fentry/__x64_sys_close"), once per tracer.
 */
static int probe_fentry(struct tracer *t, char *errbuf, size_t errlen)
{
	const char *funcs[MAX_LINKS];
	struct bpf_program *prog;
	size_t n = 0;

	bpf_object__for_each_program(prog, t->skel->obj) {
		const char *func;
		bool dup = false;

		if (prog_backend(prog) != TRACER_BACKEND_FENTRY)
			continue;
		func = strchr(bpf_program__section_name(prog), '/') + 1;
		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(funcs[i], func);
		if (!dup && n < MAX_LINKS)
			funcs[n++] = func;
	}
	return probe__fentry(funcs, n, errbuf, errlen);
}

/*
 * Choose the backend (the first time) and load only its programs.
 * fentry/fexit: 5.5 (fc9702273e2e), but kernels without ftrace direct
 * calls, other architectures than x86-64 (the hooks are __x64_sys_*),
 * and this project's 6.18 test machine (EPERM at load) refuse it: AUTO
 * then falls back to the syscall tracepoints (4.7, every kernel fdtrace
 * runs on).
 */
static int choose_hooks(struct tracer *t, const struct tracer_opts *opts, char *errbuf,
			size_t errlen)
{
	struct bpf_program *prog;
	char why[sizeof(t->why)];
	int err;

	if (t->backend == TRACER_BACKEND_AUTO) {
		if (opts->backend == TRACER_BACKEND_TRACEPOINT) {
			t->backend = TRACER_BACKEND_TRACEPOINT;
		} else {
			err = probe_fentry(t, why, sizeof(why));
			if (err && opts->backend == TRACER_BACKEND_FENTRY) {
				errmsg(errbuf, errlen, "the fentry backend is not available here: %s",
				       why);
				return err;
			}
			t->backend = err ? TRACER_BACKEND_TRACEPOINT : TRACER_BACKEND_FENTRY;
			if (err)
				snprintf(t->why, sizeof(t->why), "%s", why);
		}
	}
	bpf_object__for_each_program(prog, t->skel->obj) {
		enum tracer_backend b = prog_backend(prog);

		if (b != TRACER_BACKEND_AUTO)
			bpf_program__set_autoload(prog, b == t->backend);
	}
	return 0;
}

enum tracer_backend tracer__backend(const struct tracer *t, const char **why)
{
	if (why)
		*why = t->why;
	return t->backend;
}

struct tracer *tracer__new(const struct tracer_opts *opts, char *errbuf,
			   size_t errlen)
{
	struct tracer *t;
	__u32 rb_bytes;
	int err;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		errmsg(errbuf, errlen,
		       "kernel BTF not found at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF=y)");
		errno = ENOENT;
		return NULL;
	}

	if (!opts->ringbuf_bytes || (opts->ringbuf_bytes & (opts->ringbuf_bytes - 1)) ||
	    !opts->max_tracked_fds || !opts->max_pids || !opts->wakeup_bytes) {
		errmsg(errbuf, errlen, "invalid tracer sizes");
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->on_record = opts->on_record;
	t->ctx = opts->ctx;
	libbpf_verbose = opts->verbose;
	libbpf_set_print(print_libbpf);

	t->nr_cpus = libbpf_num_possible_cpus();
	if (t->nr_cpus < 0) {
		err = t->nr_cpus;
		errmsg(errbuf, errlen, "cannot count CPUs: %s", strerror(-err));
		goto err_out;
	}

retry:
	t->skel = fdtrace_bpf__open();
	if (!t->skel) {
		err = -errno;
		errmsg(errbuf, errlen, "failed to open BPF object: %s", strerror(-err));
		goto err_out;
	}
	err = choose_hooks(t, opts, errbuf, errlen);
	if (err)
		goto err_out;
	/* Every fork on the machine would run it: only load it when asked. */
	bpf_program__set_autoload(t->skel->progs.handle_fork, opts->follow);
	/* the Python frame walk: with --stacks, on the chosen backend's hook */
	bpf_program__set_autoload(t->skel->progs.handle_py_epoll_ctl,
				  opts->stacks && t->backend == TRACER_BACKEND_TRACEPOINT);
	bpf_program__set_autoload(t->skel->progs.fentry_py_epoll_ctl,
				  opts->stacks && t->backend == TRACER_BACKEND_FENTRY);
	rb_bytes = opts->ringbuf_bytes;
	bpf_map__set_max_entries(t->skel->maps.events, rb_bytes);
	/* A threshold the ring cannot reach would leave only the timer. */
	t->skel->rodata->wakeup_bytes = opts->wakeup_bytes < rb_bytes / 4 ?
					opts->wakeup_bytes : rb_bytes / 4;
	t->skel->rodata->wakeup_again_bytes = rb_bytes / 2;
	bpf_map__set_max_entries(t->skel->maps.tracked_fds,
				 opts->max_tracked_fds);
	bpf_map__set_max_entries(t->skel->maps.traced_pids,
				 opts->max_pids);
	bpf_map__set_max_entries(t->skel->maps.pending, opts->max_tracked_fds);
	t->skel->rodata->targ_summary = opts->summary;
	t->skel->rodata->targ_grace_ns = opts->grace_ns;
	t->skel->rodata->targ_stacks = opts->stacks;
	t->skel->rodata->targ_pidns_ino = opts->pidns_ino;
	t->skel->rodata->targ_select = (opts->select_all ? FDT_SELECT_ALL : 0) |
				       (opts->nr_cgroups ? FDT_SELECT_CGROUP : 0) |
				       (opts->nr_comms ? FDT_SELECT_COMM : 0);
	t->skel->rodata->targ_nr_cgroups = opts->nr_cgroups;
	t->skel->rodata->targ_sample = opts->sample;
	t->skel->rodata->targ_self_tgid = getpid();	/* in pidns mode, as the ns sees it too */

	err = fdtrace_bpf__load(t->skel);
	if (err && t->backend == TRACER_BACKEND_FENTRY && opts->backend == TRACER_BACKEND_AUTO) {
		/* the probe passed, the real programs did not: the other set */
		snprintf(t->why, sizeof(t->why), "fentry programs failed to load: %s",
			 strerror(-err));
		t->backend = TRACER_BACKEND_TRACEPOINT;
		fdtrace_bpf__destroy(t->skel);
		t->skel = NULL;
		goto retry;
	}
	if (err && t->backend == TRACER_BACKEND_FENTRY) {
		errmsg(errbuf, errlen,
		       "failed to load the fentry backend's programs: %s (--backend=tracepoint avoids them; -v for the verifier log)",
		       strerror(-err));
		goto err_out;
	}
	if (err) {
		/* as root, EACCES is the verifier's refusal, not a missing privilege */
		if (err == -EPERM || (err == -EACCES && geteuid() != 0))
			errmsg(errbuf, errlen,
			       "permission denied loading BPF programs: run as root (needs CAP_BPF and CAP_PERFMON)");
		else if (err == -EACCES)
			errmsg(errbuf, errlen,
			       "this kernel's verifier refused fdtrace's BPF programs (run with -v for its log)");
		else
			errmsg(errbuf, errlen,
			       "failed to load BPF programs: %s (run with -v for the verifier log)",
			       strerror(-err));
		goto err_out;
	}

	err = set_selection(t, opts, errbuf, errlen);
	if (err)
		goto err_out;

	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), handle_rb, t, NULL);
	if (!t->rb) {
		err = -errno;
		errmsg(errbuf, errlen, "failed to create ring buffer: %s", strerror(-err));
		goto err_out;
	}
	return t;

err_out:
	tracer__free(t);
	errno = -err;
	return NULL;
}

int tracer__trace_pid(struct tracer *t, __u32 pid)
{
	struct fdt_proc_val v = { .max_fd = -1 };

	if (bpf_map__update_elem(t->skel->maps.traced_pids, &pid, sizeof(pid),
				 &v, sizeof(v), BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

int tracer__proc_lost(struct tracer *t, __u32 pid, __u64 *lost)
{
	struct fdt_proc_val v;

	*lost = 0;
	if (bpf_map__lookup_elem(t->skel->maps.traced_pids, &pid, sizeof(pid),
				 &v, sizeof(v), 0))
		return -errno;
	*lost = v.lost;
	return 0;
}

int tracer__track_fd(struct tracer *t, __u32 pid, int fd, const struct fdt_file *file)
{
	struct fdt_fd_key k = { .pid = pid, .fd = fd };
	struct fdt_fd_val v = { .file = 0, .id = *file, .watches = 1, .epfd = -1 };

	struct fdt_proc_val pv;

	if (bpf_map__update_elem(t->skel->maps.tracked_fds, &k, sizeof(k), &v,
				 sizeof(v), BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	/*
	 * close_range, exec and exit look only up to max_fd.  Seeding runs
	 * while the process runs: a lost race with the kernel side's own
	 * update can only lower a count of lost records, never hide an fd.
	 */
	if (!bpf_map__lookup_elem(t->skel->maps.traced_pids, &pid, sizeof(pid),
				  &pv, sizeof(pv), 0) && fd > pv.max_fd) {
		pv.max_fd = fd;
		bpf_map__update_elem(t->skel->maps.traced_pids, &pid, sizeof(pid),
				     &pv, sizeof(pv), BPF_EXIST);
	}
	return 0;
}

/* One walk of pid's fd table: a verdict for every tracked fd still open. */
static int walk_fds(struct tracer *t, __u32 pid, struct fdt_verify **out, size_t *n)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info linfo = {};
	struct bpf_link *link;
	size_t cap = 0, len = 0;
	char *buf = NULL;
	int iter_fd, err = 0;
	ssize_t r;

	t->skel->bss->verify_tgid = pid;
	/* Walk only this process's fd table, not every task's. */
	linfo.task.pid = pid;
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	link = bpf_program__attach_iter(t->skel->progs.verify_files, &opts);
	if (!link)
		return -errno;
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 16384);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap = cap ? cap * 2 : 16384;
		}
		r = read(iter_fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		len += r;
	}
	close(iter_fd);
out:
	bpf_link__destroy(link);
	if (err) {
		free(buf);
		return err;
	}
	*out = (struct fdt_verify *)buf;
	*n = len / sizeof(struct fdt_verify);
	return 0;
}

static int verify_cmp(const void *a, const void *b)
{
	__s32 x = ((const struct fdt_verify *)a)->fd, y = ((const struct fdt_verify *)b)->fd;

	return x < y ? -1 : x > y;
}

int tracer__verify(struct tracer *t, __u32 pid, const __s32 *fds,
		   enum tracer_verdict *verdicts, struct fdt_verify *socks, size_t n)
{
	struct fdt_verify *seen = NULL, key;
	size_t nseen = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		verdicts[i] = VERIFY_UNKNOWN;
		memset(&socks[i], 0, sizeof(socks[i]));
	}
	err = walk_fds(t, pid, &seen, &nseen);
	if (err)
		return err;
	qsort(seen, nseen, sizeof(*seen), verify_cmp);
	for (size_t i = 0; i < n; i++) {
		struct fdt_fd_key k = { .pid = pid, .fd = fds[i] };
		const struct fdt_verify *v;

		key.fd = fds[i];
		v = nseen ? bsearch(&key, seen, nseen, sizeof(*seen), verify_cmp) : NULL;
		if (v) {
			verdicts[i] = v->verdict == FDT_VERIFY_OTHER ? VERIFY_GONE :
				      v->verdict == FDT_VERIFY_WATCHED ? VERIFY_WATCHED :
				      VERIFY_SAME;
			socks[i] = *v;
		} else if (bpf_map__lookup_elem(t->skel->maps.tracked_fds, &k, sizeof(k),
						&(struct fdt_fd_val){},
						sizeof(struct fdt_fd_val), 0) == 0) {
			/*
			 * Not open, yet the kernel still tracks it: no close
			 * we can see happened, it went by a path we do not
			 * hook.  (Not tracked any more: its CLOSE record is
			 * on the way, or was lost and counted.)
			 */
			verdicts[i] = VERIFY_GONE;
		}
		/* Whatever the number names now, epoll never touched it. */
		if (verdicts[i] == VERIFY_GONE)
			bpf_map__delete_elem(t->skel->maps.tracked_fds, &k, sizeof(k), 0);
	}
	free(seen);
	return 0;
}

int tracer__procs(struct tracer *t, tracer_proc_fn fn, void *ctx)
{
	struct bpf_map *map = t->skel->maps.traced_pids;
	struct fdt_proc_val v;
	__u32 key, next;
	void *prev = NULL;

	while (!bpf_map__get_next_key(map, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		if (!bpf_map__lookup_elem(map, &key, sizeof(key), &v, sizeof(v), 0)) {
			struct tracer_kcounts kc = {
				.ended = v.k_ended,
				.closed = v.k_closed,
				.rewatched = v.k_rewatched,
				.used_epoll = v.flags & FDT_PROCF_EPOLL,
			};

			fn(ctx, key, v.lost, &kc);
		}
	}
	return errno == ENOENT ? 0 : -errno;
}

/* Summary mode: a taken pending entry as the records full mode would have sent. */
static void feed_pending(const struct fdt_fd_key *k, const struct fdt_pending *v,
			 tracer_del_fn fn, void *ctx)
{
	struct {
		struct fdt_rec_epoll_ctl r;
		struct fdt_sock_id sock;
	} rec;

	memset(&rec, 0, sizeof(rec));
	rec.r.hdr.type = FDT_REC_EPOLL_CTL;
	rec.r.hdr.size = sizeof(rec.r);
	rec.r.hdr.ts_ns = v->del_ts;
	rec.r.hdr.pid = k->pid;
	rec.r.hdr.tid = k->pid;
	rec.r.epfd = v->epfd;
	rec.r.fd = k->fd;
	/*
	 * The watch's ADD was withheld too: it goes first, for the call site
	 * a report names (and it counts nothing).
	 */
	rec.r.op = FDT_EPOLL_CTL_ADD;
	rec.r.file = v->file;
	rec.r.site = v->add_site;
	rec.r.py_stack = v->add_py_stack;
	fn(ctx, &rec, rec.r.hdr.size);
	rec.r.hdr.size = v->flags & FDT_CTLF_SOCK ? sizeof(rec.r) + sizeof(rec.sock) :
						 sizeof(rec.r);
	rec.r.op = FDT_EPOLL_CTL_DEL;
	rec.r.ret = 0;
	rec.r.flags = v->flags;
	rec.r.rd_seq = v->rd_seq;
	rec.r.wr_seq = v->wr_seq;
	rec.r.site = v->site;
	rec.r.py_stack = v->py_stack;
	if (v->flags & FDT_CTLF_SOCK)
		rec.sock = v->sock;
	fn(ctx, &rec, rec.r.hdr.size);
}

/*
 * Batch reads (5.6, every kernel with ring buffers): two syscalls per
 * entry walking the map one key at a time made the end of a run with
 * 18,000 fds pending miss its 1 s budget after SIGINT.
 */
#define PENDING_CHUNK	1024

int tracer__take_pending(struct tracer *t, __u64 before_ns, size_t max,
			 tracer_del_fn fn, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.pending);
	struct fdt_fd_key *keys, *due;
	struct fdt_pending *vals, v;
	__u64 batch = 0;
	bool first = true, all = before_ns == UINT64_MAX;
	size_t n = 0, taken = 0;
	int err = 0;

	keys = calloc(PENDING_CHUNK, sizeof(*keys));
	vals = calloc(PENDING_CHUNK, sizeof(*vals));
	due = all ? NULL : calloc(max, sizeof(*due));
	if (!keys || !vals || (!all && !due)) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * At the end (all) every entry is the caller's: taken in bulk.  Else
	 * a scan finds the due ones first, then each is taken on its own:
	 * the kernel may take it meanwhile (a close, an ADD), and the side
	 * whose delete succeeds owns it.
	 */
	while (all ? taken < max : n < max) {
		__u32 count = PENDING_CHUNK;
		int r;

		if (all)
			r = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &batch, &batch,
							    keys, vals, &count, NULL);
		else
			r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals,
						 &count, NULL);
		if (r && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		first = false;
		for (__u32 i = 0; i < count; i++) {
			if (all) {
				feed_pending(&keys[i], &vals[i], fn, ctx);
				taken++;
			} else if (vals[i].del_ts < before_ns && n < max) {
				due[n++] = keys[i];
			}
		}
		if (r)
			break;	/* ENOENT: the last chunk */
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_and_delete_elem(fd, &due[i], &v))
			continue;
		feed_pending(&due[i], &v, fn, ctx);
		taken++;
	}
out:
	free(keys);
	free(vals);
	free(due);
	return err ? err : (int)taken;
}

void tracer__untrace_pid(struct tracer *t, __u32 pid)
{
	bpf_map__delete_elem(t->skel->maps.traced_pids, &pid, sizeof(pid), 0);
}

bool tracer__any_traced(struct tracer *t)
{
	__u32 key;

	return bpf_map__get_next_key(t->skel->maps.traced_pids, NULL, &key,
				     sizeof(key)) == 0;
}

/*
 * Syscall tracepoints are attached through perf_event_open() with the id
 * from tracefs; a fresh machine may not have tracefs mounted.  It stays
 * mounted afterwards, as it would after any tracing tool.
 */
static int ensure_tracefs(char *errbuf, size_t errlen)
{
	if (!access(TRACEFS "/events", F_OK) || !access(DEBUGFS_TRACING "/events", F_OK))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY) {
		int err = -errno;

		errmsg(errbuf, errlen, "cannot mount tracefs on " TRACEFS ": %s",
		       strerror(-err));
		return err;
	}
	return 0;
}

int tracer__attach(struct tracer *t, char *errbuf, size_t errlen)
{
	struct bpf_program *prog;
	struct bpf_link *link;
	int err;

	err = ensure_tracefs(errbuf, errlen);
	if (err)
		return err;
	/*
	 * One program at a time, to name the one that fails; the links are
	 * destroyed in tracer__free(), which detaches everything.
	 */
	bpf_object__for_each_program(prog, t->skel->obj) {
		/* The iterator is run on demand by tracer__verify() */
		if (!bpf_program__autoload(prog) || prog == t->skel->progs.verify_files)
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			err = -errno;
			errmsg(errbuf, errlen, "failed to attach %s (%s): %s",
			       bpf_program__name(prog), bpf_program__section_name(prog),
			       strerror(-err));
			return err;
		}
		if (t->nr_links == MAX_LINKS) {
			bpf_link__destroy(link);
			errmsg(errbuf, errlen, "too many BPF programs (raise MAX_LINKS)");
			return -E2BIG;
		}
		t->links[t->nr_links++] = link;
	}
	return 0;
}

int tracer__poll_fd(const struct tracer *t)
{
	return bpf_map__fd(t->skel->maps.events);
}

int tracer__consume(struct tracer *t)
{
	return ring_buffer__consume(t->rb);
}

int tracer__stat(struct tracer *t, __u32 idx, __u64 *val)
{
	__u64 vals[t->nr_cpus];

	*val = 0;
	if (bpf_map__lookup_elem(t->skel->maps.stats, &idx, sizeof(idx), vals,
				 sizeof(vals), 0))
		return -errno;
	for (int c = 0; c < t->nr_cpus; c++)
		*val += vals[c];
	return 0;
}

/*
 * One link after another, from this thread, while no other thread of ours
 * runs.  Closing the last link of a hook makes the kernel patch its code
 * (static keys, ftrace sites) with int3 breakpoints.  Closed side by side
 * from threads (as this once did, to overlap the 50-90 ms each close
 * waits here), the threads exited and returned from close() through the
 * very sites being patched, and Debian's 6.12 under qemu's TCG died of it
 * in a CI run ("Oops: int3" in do_exit() of an fdtrace thread): an
 * emulator's stale translation, not what hardware does, but a tool must
 * not be the one to find it.  Exit is slower by about 0.25 s.
 */
static void destroy_links(struct tracer *t)
{
	for (int i = 0; i < t->nr_links; i++)
		bpf_link__destroy(t->links[i]);
	t->nr_links = 0;
}

void tracer__free(struct tracer *t)
{
	if (!t)
		return;
	destroy_links(t);
	ring_buffer__free(t->rb);
	fdtrace_bpf__destroy(t->skel);
	free(t);
}

int tracer__set_python(struct tracer *t, __u32 pid, const struct fdt_py_proc *cfg)
{
	struct bpf_map *map = t->skel->maps.py_procs;

	if (!cfg) {
		bpf_map__delete_elem(map, &pid, sizeof(pid), 0);
		return 0;
	}
	return bpf_map__update_elem(map, &pid, sizeof(pid), cfg, sizeof(*cfg), BPF_ANY);
}

__u32 tracer__py_gen(struct tracer *t, __u32 pid)
{
	struct fdt_py_proc cfg;

	if (bpf_map__lookup_elem(t->skel->maps.py_procs, &pid, sizeof(pid), &cfg, sizeof(cfg), 0))
		return 0;
	return cfg.gen;
}

int tracer__py_stack(struct tracer *t, __u32 id, struct fdt_py_stack *st)
{
	return bpf_map__lookup_elem(t->skel->maps.py_stacks, &id, sizeof(id), st, sizeof(*st), 0);
}
