// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Replay: a recording is just another source of the records the engine
 * consumes.  Kernel records go to matcher__feed(); each synthesised
 * record (record.h) is the engine or output call the live loop made at
 * that point, made again here in the same order.
 *
 * The one input the engine asks for itself is the check before a leak is
 * reported (verify_fn): the live loop recorded its answers right after
 * the TICK that asked, so they are read ahead before the tick is replayed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attrib.h"
#include "html.h"
#include "matcher.h"
#include "replay.h"
#include "sites.h"
#include "version.h"

/*
 * Checks recorded for one tick.  The live loop asks at most max_checks
 * per tick; this bounds memory whatever the file says.
 */
#define MAX_ANSWERS	(1U << 20)

struct answer {
	__u32 pid;
	__s32 fd;
	__u32 verdict;
	__u64 lost;
	struct fdt_verify sock;
	char path[FDT_PATH_LEN];
};

/* An fd the engine asked about and the recording holds no answer for. */
struct unanswered {
	__u32 pid;
	__s32 fd;
};

struct replay {
	struct record_reader *rr;
	struct output *out;
	report_fn report;	/* where reports go, with report_ctx */
	void *report_ctx;
	struct matcher *m;
	const struct record_header *h;
	const char *name;
	struct attrib *attrib;
	struct html *html;
	struct sites *sites;	/* call sites named by the live run (RECORD_SITE) */
	char del_py[SITE_PY_FRAMES_LEN], add_py[SITE_PY_FRAMES_LEN];	/* a report's Python frames */
	__u64 grace_ns;
	__u64 last_ts;
	bool started;
	bool finished;
	struct answer *ans;
	size_t nr_ans, cap_ans;
	struct unanswered *unans;
	size_t nr_unans, cap_unans;
	/* the entry read past a tick's answers, replayed next */
	unsigned char pending[RECORD_MAX_SIZE];
	size_t pending_size;
	char msg[256];
};

static int fail(struct replay *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct replay *rp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rp->msg, sizeof(rp->msg), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Text from a file may hold anything: keep terminal controls out. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int grow(void **v, size_t *cap, size_t want, size_t elem)
{
	size_t n = *cap ? *cap * 2 : 64;
	void *p;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	p = realloc(*v, n * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

static int answer_cmp(const void *a, const void *b)
{
	const struct answer *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* matcher verify_fn: the answers the live check gave at this tick */
static int verify_recorded(void *ctx, __u32 pid, struct verify_req *reqs, size_t n,
			   __u64 *lost)
{
	struct replay *rp = ctx;

	for (size_t i = 0; i < n; i++) {
		struct answer key = { .pid = pid, .fd = reqs[i].fd };
		const struct answer *a = NULL;

		if (rp->nr_ans)
			a = bsearch(&key, rp->ans, rp->nr_ans, sizeof(*a), answer_cmp);
		if (a) {
			reqs[i].verdict = a->verdict;
			reqs[i].sock = a->sock;
			memcpy(reqs[i].path, a->path, FDT_PATH_LEN);
			if (a->lost > *lost)
				*lost = a->lost;
			continue;
		}
		reqs[i].verdict = VERDICT_UNKNOWN;
		if (!grow((void **)&rp->unans, &rp->cap_unans, rp->nr_unans + 1,
			  sizeof(*rp->unans)))
			rp->unans[rp->nr_unans++] = (struct unanswered){ pid, reqs[i].fd };
	}
	return 0;
}

static bool unanswered(const struct replay *rp, __u32 pid, __s32 fd)
{
	for (size_t i = 0; i < rp->nr_unans; i++)
		if (rp->unans[i].pid == pid && rp->unans[i].fd == fd)
			return true;
	return false;
}

/* matcher report_fn */
static void report(void *ctx, const struct report *r)
{
	struct replay *rp = ctx;
	struct report copy;

	/*
	 * The kernel was never asked about this fd (the live run's grace
	 * made it due at another time, or the recording was cut): the
	 * engine trusted the records, and the reader must know.
	 */
	if (r->kind == REPORT_LEAK && unanswered(rp, r->pid, r->fd)) {
		copy = *r;
		copy.unconfirmed = 1;
		r = &copy;
	}
	if ((r->kind == REPORT_LEAK || r->kind == REPORT_LEAK_RESOLVED) &&
	    (r->del_site || r->add_site || r->del_py_stack || r->add_py_stack)) {
		int fresh;

		if (r != &copy) {
			copy = *r;
			r = &copy;
		}
		copy.del_site_name = sites__name(rp->sites, r->pid, r->del_site, &fresh);
		copy.add_site_name = sites__name(rp->sites, r->pid, r->add_site, &fresh);
		if (sites__py_frames(rp->sites, r->pid, r->del_py_stack, rp->del_py, sizeof(rp->del_py)))
			copy.del_py_name = rp->del_py;
		if (sites__py_frames(rp->sites, r->pid, r->add_py_stack, rp->add_py, sizeof(rp->add_py)))
			copy.add_py_name = rp->add_py;
	}
	rp->report(rp->report_ctx, r);
	if (rp->html)
		html__report(rp->html, r);
}

/* pids: s->nr_pids struct record_start_pid, as read (not aligned) */
static void start_banner(struct replay *rp, const struct record_start *s,
			 const unsigned char *pids)
{
	static __u32 pid_v[RECORD_MAX_PIDS];
	static char comm_v[RECORD_MAX_PIDS][FDT_COMM_LEN];
	static const char *comm_ptrs[RECORD_MAX_PIDS];
	char command[RECORD_COMMAND_LEN];
	static char host[RECORD_HOST_LEN], kernel[RECORD_RELEASE_LEN], version[RECORD_VERSION_LEN];
	struct start_recording recording = {
		.path = rp->name,
		.host = host,
		.kernel = kernel,
		.version = version,
		.abi_version = rp->h->abi_version,
		.grace_ns = rp->h->grace_ns,
	};
	struct start_info si = {
		.grace_ns = rp->grace_ns,
		.version = FDTRACE_VERSION,
		.commit = FDTRACE_COMMIT,
		.pids = pid_v,
		.comms = comm_ptrs,
		.recording = &recording,
	};

	rp->started = true;
	/* the reader checked they end in a NUL; a terminal is another matter */
	snprintf(host, sizeof(host), "%s", rp->h->hostname);
	snprintf(kernel, sizeof(kernel), "%s", rp->h->kernel_release);
	snprintf(version, sizeof(version), "%s", rp->h->fdtrace_version);
	sanitize(host);
	sanitize(kernel);
	sanitize(version);
	if (s) {
		si.ts_ns = s->hdr.ts_ns;
		si.nr_pids = s->nr_pids;
		for (size_t i = 0; i < s->nr_pids; i++) {
			struct record_start_pid p;

			memcpy(&p, pids + i * sizeof(p), sizeof(p));
			pid_v[i] = p.pid;
			memcpy(comm_v[i], p.comm, FDT_COMM_LEN);
			comm_v[i][FDT_COMM_LEN - 1] = '\0';
			comm_ptrs[i] = comm_v[i];
		}
		if (s->command[0]) {
			memcpy(command, s->command, sizeof(command));
			sanitize(command);
			si.command = command;
			si.command_pid = s->command_pid;
		}
	} else {
		si.ts_ns = rp->last_ts;
	}
	output__start(rp->out, &si);
	if (rp->grace_ns != rp->h->grace_ns)
		output__warn(rp->out, "deciding with grace %.3f s, recorded with %.3f s: leaks the live run did not check are unconfirmed",
			     rp->grace_ns / 1e9, rp->h->grace_ns / 1e9);
}

/* Output before the START record (a recording cut short): a banner all the same. */
static void ensure_started(struct replay *rp)
{
	if (!rp->started)
		start_banner(rp, NULL, NULL);
}

/* The next entry: the one held back after a tick's answers first. */
static int next(struct replay *rp, const void **rec, size_t *size)
{
	if (rp->pending_size) {
		*rec = rp->pending;
		*size = rp->pending_size;
		rp->pending_size = 0;
		return 1;
	}
	return record_reader__next(rp->rr, rec, size);
}

/*
 * The RECORD_VERIFY entries behind a TICK: the live check's answers
 * during that tick.  The first other entry is kept for next().
 */
static int read_answers(struct replay *rp)
{
	const void *rec;
	size_t size;
	int n;

	rp->nr_ans = 0;
	rp->nr_unans = 0;
	while ((n = record_reader__next(rp->rr, &rec, &size)) == 1) {
		struct record_verify v;

		memcpy(&v, rec, sizeof(struct fdt_rec_hdr));
		/*
		 * The live run named call sites while it reported this tick's
		 * leaks, so their names follow the answers: learn them before
		 * the tick is replayed.
		 */
		if (v.hdr.type == RECORD_SITE && size >= sizeof(struct record_site)) {
			struct record_site st;

			memcpy(&st, rec, sizeof(st));
			sites__set(rp->sites, st.hdr.pid, st.addr, st.name);
			continue;
		}
		if (v.hdr.type != RECORD_VERIFY) {
			memcpy(rp->pending, rec, size);
			rp->pending_size = size;
			break;
		}
		memcpy(&v, rec, sizeof(v));
		if (rp->nr_ans >= MAX_ANSWERS)
			return fail(rp, "offset %llu: more than %u checks after one tick",
				    (unsigned long long)record_reader__offset(rp->rr), MAX_ANSWERS);
		if (grow((void **)&rp->ans, &rp->cap_ans, rp->nr_ans + 1, sizeof(*rp->ans)))
			return fail(rp, "%s", strerror(ENOMEM));
		rp->ans[rp->nr_ans++] = (struct answer){
			.pid = v.hdr.pid, .fd = v.fd, .verdict = v.verdict, .lost = v.lost,
			.sock = v.sock,
		};
		/* from the file: terminated, and no terminal controls */
		memcpy(rp->ans[rp->nr_ans - 1].path, v.path, FDT_PATH_LEN);
		rp->ans[rp->nr_ans - 1].path[FDT_PATH_LEN - 1] = '\0';
		sanitize(rp->ans[rp->nr_ans - 1].path);
	}
	/* an end or an error shows again at the reader's next call */
	if (rp->nr_ans)
		qsort(rp->ans, rp->nr_ans, sizeof(*rp->ans), answer_cmp);
	return 0;
}

/* Make the call that rec stands for. */
static int replay_one(struct replay *rp, const void *rec, size_t size)
{
	union {
		struct fdt_rec_hdr hdr;
		struct record_lost lost;
		struct record_warn warn;
		struct record_start start;
		struct record_fds fds;
	} u;
	char comm[FDT_COMM_LEN];
	int err;

	memcpy(&u.hdr, rec, sizeof(u.hdr));
	if (rp->finished)
		return fail(rp, "offset %llu: record after the end of tracing",
			    (unsigned long long)record_reader__offset(rp->rr));
	if (rp->html)
		html__record(rp->html, rec, size);
	if (u.hdr.ts_ns > rp->last_ts)
		rp->last_ts = u.hdr.ts_ns;
	if (u.hdr.type < RECORD_TYPE_MIN) {
		/* malformed ones are counted in the totals, as they were live */
		matcher__feed(rp->m, rec, size);
		if (u.hdr.type == FDT_REC_EXIT)
			attrib__drop(rp->attrib, u.hdr.pid);	/* its summary is out */
		return 0;
	}
	switch (u.hdr.type) {
	case RECORD_START:
		if (rp->started)
			return fail(rp, "offset %llu: a second start record",
				    (unsigned long long)record_reader__offset(rp->rr));
		memcpy(&u.start, rec, sizeof(u.start));
		start_banner(rp, &u.start, (const unsigned char *)rec + sizeof(u.start));
		break;
	case RECORD_ADD_PID:
		memcpy(comm, u.hdr.comm, sizeof(comm));
		comm[FDT_COMM_LEN - 1] = '\0';
		matcher__add_pid(rp->m, u.hdr.pid, comm, u.hdr.ts_ns);
		break;
	case RECORD_PROC: {
		struct record_proc_view v;

		/* where the process lived, for the output's attribution */
		if (!record_proc__parse(rec, size, &v))
			attrib__set(rp->attrib, u.hdr.pid, v.cgroup, v.exe);
		break;
	}
	case RECORD_TICK:
		ensure_started(rp);
		err = read_answers(rp);
		if (err)
			return err;
		matcher__tick(rp->m, u.hdr.ts_ns);
		break;
	case RECORD_VERIFY:
		return fail(rp, "offset %llu: a check that no tick asked for",
			    (unsigned long long)record_reader__offset(rp->rr));
	case RECORD_LOST:
		memcpy(&u.lost, rec, sizeof(u.lost));
		matcher__set_lost(rp->m, u.lost.lost);
		output__lost(rp->out, u.lost.lost, u.hdr.ts_ns);
		break;
	case RECORD_SET_PROC_LOST:
		memcpy(&u.lost, rec, sizeof(u.lost));
		matcher__set_proc_lost(rp->m, u.hdr.pid, u.lost.lost);
		break;
	case RECORD_DROP:
		matcher__drop_pid(rp->m, u.hdr.pid, u.hdr.ts_ns);
		break;
	case RECORD_FDS:
		/* an FD_PRESSURE report may come of it: after the banner, as live */
		ensure_started(rp);
		memcpy(&u.fds, rec, sizeof(u.fds));
		matcher__fds(rp->m, u.hdr.pid, u.hdr.ts_ns, u.fds.open_fds, u.fds.nofile_soft,
			     u.fds.nofile_hard);
		break;
	case RECORD_SITE: {
		struct record_site st;

		/* the reader checked its NUL */
		memcpy(&st, rec, sizeof(st));
		sites__set(rp->sites, st.hdr.pid, st.addr, st.name);
		break;
	}
	case RECORD_WARN:
		memcpy(&u.warn, rec, sizeof(u.warn));
		sanitize(u.warn.msg);
		output__warn(rp->out, "%s", u.warn.msg);
		break;
	case RECORD_FINISH:
		ensure_started(rp);
		matcher__finish(rp->m, u.hdr.ts_ns);
		rp->finished = true;
		break;
	}
	return 0;
}

/*
 * No FINISH: the live run was cut off.  What the records show up to the
 * last one is reported, unchecked (no answers are held for this tick).
 */
static void finish_truncated(struct replay *rp, const char *name)
{
	ensure_started(rp);
	if (record_reader__truncated(rp->rr))
		output__warn(rp->out, "%s: recording is truncated (a partial record at offset %llu): reporting what it holds",
			     name, (unsigned long long)record_reader__offset(rp->rr));
	else
		output__warn(rp->out, "%s: recording is truncated (it ends without its finish record): reporting what it holds",
			     name);
	rp->nr_ans = 0;
	rp->nr_unans = 0;
	matcher__tick(rp->m, rp->last_ts);
	matcher__finish(rp->m, rp->last_ts);
}

int replay__reader(struct record_reader *rr, const char *name,
		   const struct replay_opts *o, struct output *out)
{
	struct matcher_opts mopts = {};
	struct replay *rp;
	const void *rec;
	size_t size;
	int n, status = 2;

	rp = calloc(1, sizeof(*rp));
	if (!rp) {
		output__error(out, "cannot replay %s: %s", name, strerror(ENOMEM));
		return 2;
	}
	rp->rr = rr;
	rp->out = out;
	rp->report = o && o->report ? o->report : output__report;
	rp->report_ctx = o && o->report ? o->report_ctx : out;
	rp->h = record_reader__header(rr);
	rp->name = name;
	/* times as the recording machine's clock said them */
	output__set_realtime_offset(out, rp->h->realtime_offset_ns);
	rp->grace_ns = o && o->grace_set ? o->grace_ns : rp->h->grace_ns;
	mopts.grace_ns = rp->grace_ns;
	mopts.pause_grace_ns = o && o->pause_grace_set ? o->pause_grace_ns : rp->h->pause_grace_ns;
	mopts.report = report;
	mopts.ctx = rp;
	mopts.verify = verify_recorded;
	mopts.verify_ctx = rp;
	/* the live run's batches: a tick past the limit left the rest for the next */
	mopts.max_checks = rp->h->max_checks;
	if (o && o->html_path) {
		struct html_opts ho = HTML_OPTS_INIT;

		ho.realtime_offset_ns = rp->h->realtime_offset_ns;
		ho.grace_ns = rp->grace_ns;
		ho.host = rp->h->hostname;
		ho.kernel = rp->h->kernel_release;
		ho.source = name;
		ho.version = rp->h->fdtrace_version;
		ho.force = o->force;
		rp->html = html__new(&ho);
		if (!rp->html) {
			output__error(out, "cannot draw %s: %s", o->html_path, strerror(errno));
			goto out;
		}
	}
	rp->sites = sites__new(NULL, NULL, NULL);
	rp->attrib = attrib__new();
	if (rp->attrib)
		output__set_attrib(out, attrib__output, rp->attrib);
	rp->m = matcher__new(&mopts);
	if (!rp->m || !rp->attrib || !rp->sites) {
		output__error(out, "cannot create matcher: %s", strerror(errno));
		goto out;
	}
	while ((n = next(rp, &rec, &size)) == 1) {
		if (replay_one(rp, rec, size)) {
			output__error(out, "%s: %s", name, rp->msg);
			goto out;
		}
	}
	if (n < 0) {
		output__error(out, "%s: %s", name, record_reader__error(rr));
		goto out;
	}
	if (!rp->finished)
		finish_truncated(rp, name);
	status = 0;
	if (rp->html) {
		int err = html__write(rp->html, o->html_path);

		if (err) {
			output__error(out, "cannot write %s: %s", o->html_path, strerror(-err));
			status = 2;
		}
	}
out:
	matcher__free(rp->m);
	html__free(rp->html);
	output__set_attrib(out, NULL, NULL);
	attrib__free(rp->attrib);
	sites__free(rp->sites);
	free(rp->ans);
	free(rp->unans);
	free(rp);
	return status;
}

int replay__run(const char *path, const struct replay_opts *o, struct output *out)
{
	struct record_reader *rr;
	char err[256];
	int status;

	if (o && o->html_path) {
		int e = html__check_path(o->html_path, o->force);

		if (e) {
			output__error(out, "cannot write %s: %s%s", o->html_path, strerror(-e),
				      e == -EEXIST ? " (--force replaces it)" : "");
			return 2;
		}
	}
	rr = record_reader__open(path, err, sizeof(err));
	if (!rr) {
		output__error(out, "%s: %s", path, err);
		return 2;
	}
	status = replay__reader(rr, path, o, out);
	record_reader__close(rr);
	return status;
}
