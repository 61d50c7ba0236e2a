// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Text and JSON Lines output.  Each format is a struct output_ops;
 * output__*() only dispatch.  Text findings are one table row each, the
 * row described by text_cols[] below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>
#include "clock.h"
#include "json_writer.h"
#include "output.h"
#include "sites.h"

#define NSEC_PER_SEC	1000000000ULL
#define SITE_NAME_LEN	160
#define MAX_SITE_GROUPS	1024
#define NSEC_PER_MSEC	1000000ULL

struct output_ops {
	void (*start)(struct output *o, const struct start_info *s);
	void (*leak)(struct output *o, const struct report *r);
	void (*resolved)(struct output *o, const struct report *r);
	void (*closed_watched)(struct output *o, const struct report *r);
	void (*dereg_failed)(struct output *o, const struct report *r);
	void (*summary)(struct output *o, const struct report *r);
	void (*totals)(struct output *o, const struct report *r);
	void (*fd_pressure)(struct output *o, const struct report *r);
	/* level: "error" or "warning" */
	void (*message)(struct output *o, const char *level, const char *msg);
	void (*lost)(struct output *o, __u64 total, __u64 delta, __u64 ts_ns);
	/* leaks of r's process from one DEL call site (and ADD site), before its summary */
	void (*site)(struct output *o, const struct report *r, __u32 leaks,
		     const char *del, const char *add, const char *del_py, const char *add_py);
};

struct output {
	const struct output_ops *ops;
	FILE *out;
	FILE *err;
	__s64 rt_off;
	struct json_writer *jout;	/* JSON only */
	struct json_writer *jerr;	/* JSON only */
	bool header_done;		/* text: column names printed */
	__u64 lost_seen;		/* lost events reported so far */
	int failed;			/* errno of the first failed write */
	bool show_unit;
	attrib_fn attrib;
	void *attrib_ctx;
	/* leaks grouped by the call site of their DEL, until their summary */
	struct site_group {
		__u32 pid;
		__u32 leaks;
		char del[SITE_NAME_LEN];
		char add[SITE_NAME_LEN];
		/* Python frames above them, '\n'-joined; "" if none */
		char del_py[SITE_PY_FRAMES_LEN];
		char add_py[SITE_PY_FRAMES_LEN];
	} *groups;
	size_t nr_groups;
};

static const char *const ftype_names[FDT_FT_MAX] = {
	[FDT_FT_UNKNOWN]	= "unknown",
	[FDT_FT_SOCKET]		= "socket",
	[FDT_FT_PIPE]		= "pipe",
	[FDT_FT_EVENTFD]	= "eventfd",
	[FDT_FT_TIMERFD]	= "timerfd",
	[FDT_FT_SIGNALFD]	= "signalfd",
	[FDT_FT_EPOLL]		= "epoll",
	[FDT_FT_REG]		= "file",
	[FDT_FT_CHR]		= "chr",
	[FDT_FT_OTHER]		= "other",
};

const char *fdt_ftype_name(__u32 ftype)
{
	if (ftype >= FDT_FT_MAX || !ftype_names[ftype])
		return "unknown";
	return ftype_names[ftype];
}

/* JSON "how" values: part of the interface */
static const char *how_json(enum resolve_how how)
{
	switch (how) {
	case RESOLVE_CLOSED:	return "closed";
	case RESOLVE_REWATCHED:	return "rewatched";
	case RESOLVE_EXEC:	return "exec";
	case RESOLVE_EXIT:	return "exit";
	}
	return "unknown";
}

/* JSON "evidence" values: part of the interface */
static const char *const evidence_names[] = {
	[EVIDENCE_NONE]		= "none",
	[EVIDENCE_IDLE]		= "idle",
	[EVIDENCE_PEER_CLOSED]	= "peer_closed",
	[EVIDENCE_BACKPRESSURED] = "backpressured",
	[EVIDENCE_IN_USE]	= "in_use",
};

static const char *evidence_name(enum evidence_class c)
{
	return (unsigned int)c < sizeof(evidence_names) / sizeof(evidence_names[0]) ?
	       evidence_names[c] : "none";
}

/* include/net/tcp_states.h */
static const char *tcp_state_name(__u32 st)
{
	static const char *const names[] = {
		"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
		"NEW_SYN_RECV",
	};

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/* "127.0.0.1:8080", "[::1]:8080" */
static void fmt_endpoint(char *buf, size_t size, __u16 family, const __u8 *addr, __u16 port)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == FDT_AF_INET6 ? AF_INET6 : AF_INET, addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, size, family == FDT_AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

static const char *sock_proto(const struct fdt_sock_id *s)
{
	if (s->family == FDT_AF_INET || s->family == FDT_AF_INET6) {
		if (s->protocol == 6)
			return s->family == FDT_AF_INET6 ? "tcp6" : "tcp";
		if (s->protocol == 17)
			return s->family == FDT_AF_INET6 ? "udp6" : "udp";
		return s->family == FDT_AF_INET6 ? "inet6" : "inet";
	}
	switch (s->family) {
	case FDT_AF_UNIX:	return s->type == 1 ? "unix" : s->type == 2 ? "unix-dgram" : "unix-seqpacket";
	case 16:		return "netlink";
	case 17:		return "packet";
	default:		return "socket";
	}
}

/*
 * A socket in one phrase, as lsof people read it:
 * "tcp 127.0.0.1:8080 <- 127.0.0.1:53122", "unix /run/app.sock".
 */
static void fmt_sock(char *buf, size_t size, const struct fdt_sock_id *s)
{
	char l[64], r[64];

	if (s->family == FDT_AF_INET || s->family == FDT_AF_INET6) {
		fmt_endpoint(l, sizeof(l), s->family, s->laddr, s->lport);
		fmt_endpoint(r, sizeof(r), s->family, s->raddr, s->rport);
		snprintf(buf, size, "%s %s <- %s", sock_proto(s), l, r);
	} else if (s->path[0]) {
		snprintf(buf, size, "%s %.*s", sock_proto(s), FDT_SOCK_PATH_LEN, s->path);
	} else {
		snprintf(buf, size, "%s", sock_proto(s));
	}
	/* the path came from the traced process: no terminal controls */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static const char *how_text(enum resolve_how how)
{
	switch (how) {
	case RESOLVE_CLOSED:	return "closed";
	case RESOLVE_REWATCHED:	return "re-watched";
	case RESOLVE_EXEC:	return "closed at exec";
	case RESOLVE_EXIT:	return "process exited";
	}
	return "?";
}

/*
 * Milliseconds, rounded, so that text ("5.002s") and JSON (5.002) agree
 * to the digit.
 */
static __u64 ns_to_ms(__u64 ns)
{
	return (ns + NSEC_PER_MSEC / 2) / NSEC_PER_MSEC;
}

static double ns_to_s3(__u64 ns)
{
	return (double)ns_to_ms(ns) / 1000.0;
}

/* "5.002s" */
static void fmt_secs3(char *buf, size_t size, __u64 ns)
{
	__u64 ms = ns_to_ms(ns);

	snprintf(buf, size, "%llu.%03llus", (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
}

/* Short duration for the banner: "5.0s", "0.25s", "2.125s" */
static void fmt_secs_short(char *buf, size_t size, __u64 ns)
{
	__u64 ms = ns_to_ms(ns);

	if (ms % 100 == 0)
		snprintf(buf, size, "%llu.%llus", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 100));
	else if (ms % 10 == 0)
		snprintf(buf, size, "%llu.%02llus", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 10));
	else
		fmt_secs3(buf, size, ns);
}

/*
 * comm for a terminal: the kernel lets a process name itself anything,
 * including escape sequences.  Printable ASCII only.
 */
static void sanitize_comm(char *dst, const char *comm)
{
	int i;

	for (i = 0; i < FDT_COMM_LEN - 1 && comm[i]; i++) {
		unsigned char c = comm[i];

		dst[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	dst[i] = '\0';
}

static __u64 ts_or_now(__u64 ts_ns)
{
	return ts_ns ? ts_ns : clock__mono_ns();
}

/*
 * Every text line is flushed as it is written, so a tail sees it whole
 * and a write that fails is known at once: output__failed() says so.
 */
static void flush(struct output *o, FILE *f)
{
	errno = 0;
	if ((fflush(f) || ferror(f)) && !o->failed)
		o->failed = errno ? errno : EIO;
}

static const char *plural(__u64 n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* "~2h10m", "~3m20s", "~45s", "<1s" */
static void fmt_eta(char *buf, size_t size, double secs)
{
	unsigned long long t = secs < 1e15 ? (unsigned long long)(secs + 0.5) : 1000000000000000ULL;

	if (!t)
		snprintf(buf, size, "<1s");
	else if (t < 60)
		snprintf(buf, size, "~%llus", t);
	else if (t < 3600)
		snprintf(buf, size, "~%llum%02llus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, size, "~%lluh%02llum", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, size, "~%llud%02lluh", t / 86400, t % 86400 / 3600);
}

/* "20 leaks/s", "0.1 leaks/s", "2.5 leaks/h": three digits at most */
static void fmt_rate(char *buf, size_t size, double per_s)
{
	const char *unit = "s";

	if (per_s > 0 && per_s < 0.1) {
		per_s *= 3600;
		unit = "h";
	}
	if (per_s >= 1000)
		snprintf(buf, size, "%.0f leaks/%s", per_s, unit);
	else
		snprintf(buf, size, "%.3g leaks/%s", per_s, unit);
}

/*
 * How long until EMFILE, in words: "fd limit 1024 in ~2h10m at 0.1
 * leaks/s"; empty when the process is not leaking.
 */
static void fmt_forecast(char *buf, size_t size, const struct fd_forecast *f)
{
	char eta[32], rate[32];

	buf[0] = '\0';
	if (!f || !f->leaking)
		return;
	fmt_eta(eta, sizeof(eta), f->fd_limit_in_s);
	fmt_rate(rate, sizeof(rate), f->leak_rate_per_s);
	snprintf(buf, size, "fd limit %llu in %s at %s", (unsigned long long)f->fd_limit,
		 eta, rate);
}

/* ---- text ---------------------------------------------------------- */

typedef void (*col_fmt_fn)(char *buf, size_t size, const struct output *o,
			   const struct report *r);

struct text_col {
	const char *name;
	int width;		/* minimum; the last column is not padded */
	bool left;		/* left-aligned */
	col_fmt_fn fmt;
	bool fleet;		/* shown only with show_unit */
};

static void col_time(char *buf, size_t size, const struct output *o,
		     const struct report *r)
{
	if (clock__fmt_hms(buf, size, r->ts_ns, o->rt_off) < 0)
		snprintf(buf, size, "?");
}

static void col_event(char *buf, size_t size, const struct output *o,
		      const struct report *r)
{
	const char *s = "?";

	(void)o;
	switch (r->kind) {
	case REPORT_LEAK:			s = "LEAK"; break;
	case REPORT_LEAK_RESOLVED:		s = "RESOLVED"; break;
	case REPORT_CLOSED_WHILE_WATCHED:	s = "CLOSED-WATCHED"; break;
	case REPORT_DEREGISTER_FAILED:		s = "DEL-EBADF"; break;
	case REPORT_FD_PRESSURE:		s = "FD-PRESSURE"; break;
	default: break;
	}
	snprintf(buf, size, "%s", s);
}

static void col_pid(char *buf, size_t size, const struct output *o,
		    const struct report *r)
{
	(void)o;
	snprintf(buf, size, "%u", r->pid);
}

static void col_comm(char *buf, size_t size, const struct output *o,
		     const struct report *r)
{
	char comm[FDT_COMM_LEN];

	(void)o;
	sanitize_comm(comm, r->comm);
	snprintf(buf, size, "%s", comm);
}

static void col_fd(char *buf, size_t size, const struct output *o,
		   const struct report *r)
{
	(void)o;
	if (r->fd < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%d", r->fd);
}

static void col_epfd(char *buf, size_t size, const struct output *o,
		     const struct report *r)
{
	(void)o;
	if (r->epfd < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%d", r->epfd);
}

static void col_type(char *buf, size_t size, const struct output *o,
		     const struct report *r)
{
	(void)o;
	if (r->file.ftype == FDT_FT_UNKNOWN)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s", fdt_ftype_name(r->file.ftype));
}

static void col_inode(char *buf, size_t size, const struct output *o,
		      const struct report *r)
{
	(void)o;
	if (!r->file.ino)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%llu", (unsigned long long)r->file.ino);
}

static void col_unwatched(char *buf, size_t size, const struct output *o,
			  const struct report *r)
{
	(void)o;
	if (r->kind == REPORT_LEAK || r->kind == REPORT_LEAK_RESOLVED)
		fmt_secs3(buf, size, r->unwatched_ns);
	else
		snprintf(buf, size, "-");
}

static void col_socket(char *buf, size_t size, const struct output *o,
		       const struct report *r)
{
	(void)o;
	if (!r->sock) {
		/* a file: its path when it was reported; the process's bytes */
		snprintf(buf, size, "%s", r->path ? r->path : "");
		for (char *p = buf; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		return;
	}
	fmt_sock(buf, size, r->sock);
	if (r->kind == REPORT_LEAK && (r->ev.sock_flags & FDT_SOCKF_TCP)) {
		size_t n = strlen(buf);

		snprintf(buf + n, size - n, " %s", tcp_state_name(r->ev.tcp_state));
	}
}

static void col_detail(char *buf, size_t size, const struct output *o,
		       const struct report *r)
{
	const char *s = "";

	(void)o;
	switch (r->kind) {
	case REPORT_LEAK:
		if (r->unconfirmed) {
			snprintf(buf, size, "unconfirmed: the recording holds no check of it");
			return;
		}
		switch (r->ev.cls) {
		case EVIDENCE_IDLE:
			snprintf(buf, size, "idle: no I/O since the DEL");
			return;
		case EVIDENCE_PEER_CLOSED:
			/* the TCP state is in the SOCKET column */
			snprintf(buf, size, "peer closed");
			return;
		case EVIDENCE_BACKPRESSURED:
			snprintf(buf, size, "backpressured: %u %s unread", r->ev.unread,
				 r->ev.sock_flags & FDT_SOCKF_UNREAD_MSGS ? "messages" : "bytes");
			return;
		default:
			break;
		}
		break;
	case REPORT_LEAK_RESOLVED:
		s = how_text(r->how);
		break;
	case REPORT_CLOSED_WHILE_WATCHED:
		s = "closed, but another reference keeps it watched";
		break;
	case REPORT_DEREGISTER_FAILED:
		s = "EPOLL_CTL_DEL after close";
		break;
	case REPORT_FD_PRESSURE: {
		char fc[96];
		const struct fd_forecast *f = r->fds;

		if (!f)
			break;
		fmt_forecast(fc, sizeof(fc), f);
		snprintf(buf, size, "%llu of %llu fds open (%llu%%)%s%s",
			 (unsigned long long)f->open_fds, (unsigned long long)f->fd_limit,
			 (unsigned long long)(f->fd_limit ? f->open_fds * 100 / f->fd_limit : 0),
			 fc[0] ? ": " : "", fc);
		return;
	}
	default:
		break;
	}
	snprintf(buf, size, "%s", s);
}

static bool attrib_of(const struct output *o, __u32 pid, struct proc_attrib *a)
{
	*a = (struct proc_attrib){ "", "", "" };
	return o->attrib && o->attrib(o->attrib_ctx, pid, a);
}

static void col_unit(char *buf, size_t size, const struct output *o,
		     const struct report *r)
{
	struct proc_attrib a;

	attrib_of(o, r->pid, &a);
	snprintf(buf, size, "%s", a.unit[0] ? a.unit : a.cgroup[0] ? a.cgroup : "-");
}

static const struct text_col text_cols[] = {
	{ "TIME",	12, true,  col_time, false },
	{ "EVENT",	14, true,  col_event, false },
	{ "PID",	 7, false, col_pid, false },
	{ "COMM",	15, true,  col_comm, false },
	{ "UNIT",	20, true,  col_unit, true },
	{ "FD",		 5, false, col_fd, false },
	{ "EPFD",	 5, false, col_epfd, false },
	{ "TYPE",	 8, true,  col_type, false },
	{ "INODE",	10, false, col_inode, false },
	{ "UNWATCHED",	10, false, col_unwatched, false },
	{ "DETAIL",	32, true,  col_detail, false },
	{ "WHAT",	 0, true,  col_socket, false },
};

#define NR_TEXT_COLS (sizeof(text_cols) / sizeof(text_cols[0]))

/* One row: cells[i] under text_cols[i], no trailing blanks, flushed. */
static void text_row(struct output *o, const char *const *cells)
{
	char line[512];
	size_t i, len = 0;

	for (i = 0; i < NR_TEXT_COLS && len < sizeof(line); i++) {
		const struct text_col *c = &text_cols[i];
		int n;

		if (c->fleet && !o->show_unit)
			continue;
		n = snprintf(line + len, sizeof(line) - len, "%s%*s",
			     i ? " " : "", c->left ? -c->width : c->width,
			     cells[i]);
		if (n < 0)
			return;
		len += (size_t)n;
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	while (len && line[len - 1] == ' ')
		len--;
	line[len] = '\0';
	fprintf(o->out, "%s\n", line);
	flush(o, o->out);
}

static void text_finding(struct output *o, const struct report *r)
{
	char bufs[NR_TEXT_COLS][128];
	const char *cells[NR_TEXT_COLS];
	size_t i;

	if (!o->header_done) {
		for (i = 0; i < NR_TEXT_COLS; i++)
			cells[i] = text_cols[i].name;
		text_row(o, cells);
		o->header_done = true;
	}
	for (i = 0; i < NR_TEXT_COLS; i++) {
		text_cols[i].fmt(bufs[i], sizeof(bufs[i]), o, r);
		cells[i] = bufs[i];
	}
	text_row(o, cells);
}

static void text_start(struct output *o, const struct start_info *s)
{
	char grace[32];
	size_t i;

	fmt_secs_short(grace, sizeof(grace), s->grace_ns);
	if (s->recording)
		fprintf(o->err, "fdtrace: replaying %s, recorded on %s (kernel %s, fdtrace %s)\n",
			s->recording->path, s->recording->host, s->recording->kernel,
			s->recording->version);
	fputs(s->recording ? "fdtrace: it traced " : "fdtrace: tracing ", o->err);
	if (s->command) {
		fputs(s->command, o->err);
		if (s->command_pid)
			fprintf(o->err, " (pid %u)", s->command_pid);
	} else if (s->nr_pids) {
		fprintf(o->err, "%s ", plural(s->nr_pids, "pid", "pids"));
		for (i = 0; i < s->nr_pids; i++) {
			fprintf(o->err, "%s%u", i ? ", " : "", s->pids[i]);
			if (s->comms && s->comms[i]) {
				char comm[FDT_COMM_LEN];

				sanitize_comm(comm, s->comms[i]);
				fprintf(o->err, " (%s)", comm);
			}
		}
	} else if (s->nr_cgroups || s->nr_comms) {
		for (i = 0; i < s->nr_cgroups; i++)
			fprintf(o->err, "%scgroup %s", i ? ", " : "", s->cgroups[i]);
		for (i = 0; i < s->nr_comms; i++)
			fprintf(o->err, "%s%s %s", i ? ", " : s->nr_cgroups ? "; " : "",
				i ? "" : "processes named", s->select_comms[i]);
	} else {
		fputs("all processes", o->err);
	}
	if (s->sample > 1)
		fprintf(o->err, ", 1 in %u watches", s->sample);
	fprintf(o->err, ", grace %s%s\n", grace, s->recording ? "" : "; Ctrl-C to stop");
	flush(o, o->err);
}

static const struct {
	const char *text;
	size_t off;
} summary_words[] = {
#define X(name, kind, text, help) { text, offsetof(struct proc_stats, name) },
	FDT_PROC_COUNTERS(X)
#undef X
};

#define NR_SUMMARY_WORDS (sizeof(summary_words) / sizeof(summary_words[0]))

/* The summary's last words: "; 104 fds open: fd limit 120 in ~1s at 19.9 leaks/s" */
static void text_fds(FILE *f, const struct fd_forecast *fc)
{
	char words[96];

	if (!fc || !fc->sampled_ns)
		return;
	fmt_forecast(words, sizeof(words), fc);
	if (words[0])
		fprintf(f, "; %llu fds open: %s", (unsigned long long)fc->open_fds, words);
	else if (fc->fd_limit == UINT64_MAX)
		fprintf(f, "; %llu fds open (no limit)", (unsigned long long)fc->open_fds);
	else
		fprintf(f, "; %llu of %llu fds open", (unsigned long long)fc->open_fds,
			(unsigned long long)fc->fd_limit);
}

static void text_summary(struct output *o, const struct report *r)
{
	const struct proc_stats *st = r->stats;
	char comm[FDT_COMM_LEN];
	FILE *f = o->out;

	if (!st)
		return;
	sanitize_comm(comm, r->comm);
	if (r->kind == REPORT_INTERVAL) {
		char when[CLOCK_HMS_LEN];
		struct proc_attrib a;

		if (clock__fmt_hms(when, sizeof(when), ts_or_now(r->ts_ns), o->rt_off) < 0)
			snprintf(when, sizeof(when), "?");
		fprintf(f, "%s ", when);
		if (attrib_of(o, r->pid, &a) && (a.unit[0] || a.cgroup[0]))
			fprintf(f, "[%s] ", a.unit[0] ? a.unit : a.cgroup);
	}
	fprintf(f, "pid %u (%s): %llu %s ended: %llu closed", r->pid, comm,
		(unsigned long long)st->watches_ended,
		plural(st->watches_ended, "watch", "watches"),
		(unsigned long long)st->closed);
	if (st->closed_late)
		fprintf(f, " (%llu late)", (unsigned long long)st->closed_late);
	fprintf(f, ", %llu re-watched, %llu leaked (%llu still open)",
		(unsigned long long)st->rewatched,
		(unsigned long long)st->leaks,
		(unsigned long long)st->open_leaks);
	/* the rest only when non-zero, in the words counters.h gives */
	for (size_t i = 0; i < NR_SUMMARY_WORDS; i++) {
		__u64 v = *(const __u64 *)((const char *)st + summary_words[i].off);

		if (summary_words[i].text && v)
			fprintf(f, ", %llu %s", (unsigned long long)v, summary_words[i].text);
	}
	text_fds(f, r->fds);
	fputc('\n', f);
	flush(o, f);
}

/* Python frames, one a line, then the native site: a stack as libbpf-tools print one */
static void text_frames(FILE *f, const char *py, const char *native)
{
	while (*py) {
		size_t n = strcspn(py, "\n");

		fprintf(f, "        %.*s\n", (int)n, py);
		py += n + !!py[n];
	}
	if (native[0])
		fprintf(f, "        %s\n", native);
}

static void text_site(struct output *o, const struct report *r, __u32 leaks,
		      const char *del, const char *add, const char *del_py, const char *add_py)
{
	(void)r;
	if (del_py[0] || add_py[0]) {
		fprintf(o->out, "    %u %s: watch ended at\n", leaks, plural(leaks, "leak", "leaks"));
		text_frames(o->out, del_py, del);
		if (add[0] || add_py[0]) {
			fprintf(o->out, "      watch began at\n");
			text_frames(o->out, add_py, add);
		}
		flush(o, o->out);
		return;
	}
	fprintf(o->out, "    %u %s: watch ended at %s", leaks, plural(leaks, "leak", "leaks"), del);
	if (add[0])
		fprintf(o->out, "; began at %s", add);
	fputc('\n', o->out);
	flush(o, o->out);
}

static void text_totals(struct output *o, const struct report *r)
{
	const struct totals *t = r->totals;

	if (!t)
		return;
	fprintf(o->out,
		"fdtrace: %llu %s, %llu %s ended, %llu %s (%llu still open), %llu lost %s\n",
		(unsigned long long)t->processes,
		plural(t->processes, "process", "processes"),
		(unsigned long long)t->watches_ended,
		plural(t->watches_ended, "watch", "watches"),
		(unsigned long long)t->leaks, plural(t->leaks, "leak", "leaks"),
		(unsigned long long)t->open_leaks,
		(unsigned long long)t->lost_events,
		plural(t->lost_events, "event", "events"));
	if (t->bad_records)
		fprintf(o->out, "fdtrace: WARNING: %llu malformed %s skipped\n",
			(unsigned long long)t->bad_records,
			plural(t->bad_records, "record", "records"));
	/* Findings cannot be trusted when records were dropped: say so. */
	if (t->lost_events)
		fprintf(o->out,
			"fdtrace: WARNING: %llu %s lost: results may be incomplete\n",
			(unsigned long long)t->lost_events,
			plural(t->lost_events, "event", "events"));
	flush(o, o->out);
}

static void text_message(struct output *o, const char *level, const char *msg)
{
	if (!strcmp(level, "error"))
		fprintf(o->err, "fdtrace: %s\n", msg);
	else
		fprintf(o->err, "fdtrace: %s: %s\n", level, msg);
	flush(o, o->err);
}

static void text_lost(struct output *o, __u64 total, __u64 delta, __u64 ts_ns)
{
	char when[CLOCK_HMS_LEN];

	if (clock__fmt_hms(when, sizeof(when), ts_or_now(ts_ns), o->rt_off) < 0)
		snprintf(when, sizeof(when), "?");
	fprintf(o->err,
		"fdtrace: warning: %s: %llu more %s lost (%llu in all): results may be incomplete\n",
		when, (unsigned long long)delta, plural(delta, "event", "events"),
		(unsigned long long)total);
	flush(o, o->err);
}

static const struct output_ops text_ops = {
	.start		= text_start,
	.leak		= text_finding,
	.resolved	= text_finding,
	.closed_watched	= text_finding,
	.dereg_failed	= text_finding,
	.summary	= text_summary,
	.site		= text_site,
	.totals		= text_totals,
	.fd_pressure	= text_finding,
	.message	= text_message,
	.lost		= text_lost,
};

/* ---- JSON ---------------------------------------------------------- */

/*
 * Every time is written twice: RFC 3339 for people, and right after it
 * the same instant on CLOCK_MONOTONIC in integer ns (the record's own
 * bpf_ktime_get_ns() stamp, the clock Python's time.monotonic_ns()
 * reads), so that a program can line events up with its own clock.
 */
static const struct {
	const char *time, *mono;
} mono_names[] = {
	{ "time", "mono_ns" },
	{ "deregistered_at", "deregistered_mono_ns" },
};

static const char *mono_name(const char *time_name)
{
	for (size_t i = 0; i < sizeof(mono_names) / sizeof(mono_names[0]); i++)
		if (!strcmp(mono_names[i].time, time_name))
			return mono_names[i].mono;
	return NULL;
}

static void json_time_field(struct output *o, struct json_writer *w,
			    const char *name, __u64 ts_ns)
{
	char buf[CLOCK_RFC3339_LEN + 8];
	const char *mono = mono_name(name);

	if (clock__fmt_rfc3339(buf, sizeof(buf), ts_ns, o->rt_off) < 0)
		jsonw_null_field(w, name);
	else
		jsonw_string_field(w, name, buf);
	if (mono)
		jsonw_uint_field(w, mono, ts_ns);
}

/* {"event":<event>,"time":<ts>, */
static void json_begin(struct output *o, struct json_writer *w,
		       const char *event, __u64 ts_ns)
{
	jsonw_start_object(w);
	jsonw_string_field(w, "event", event);
	json_time_field(o, w, "time", ts_ns);
}

static void json_proc(struct output *o, struct json_writer *w, const struct report *r)
{
	struct proc_attrib a;

	jsonw_uint_field(w, "pid", r->pid);
	jsonw_string_n_field(w, "comm", r->comm, FDT_COMM_LEN);
	if (!attrib_of(o, r->pid, &a))
		return;
	if (a.unit[0])
		jsonw_string_field(w, "unit", a.unit);
	if (a.cgroup[0])
		jsonw_string_field(w, "cgroup", a.cgroup);
	if (a.exe[0])
		jsonw_string_field(w, "exe", a.exe);
}

static void json_dev(struct json_writer *w, __u32 dev)
{
	char buf[32];

	/* kernel-internal dev_t: MINORBITS is 20 */
	snprintf(buf, sizeof(buf), "%u:%u", dev >> 20, dev & 0xfffff);
	jsonw_string_field(w, "dev", buf);
}

static void json_deregistered_at(struct output *o, const struct report *r)
{
	if (r->del_ts_ns) {
		json_time_field(o, o->jout, "deregistered_at", r->del_ts_ns);
	} else {
		jsonw_null_field(o->jout, "deregistered_at");
		jsonw_null_field(o->jout, mono_name("deregistered_at"));
	}
}

static void json_start(struct output *o, const struct start_info *s)
{
	struct json_writer *w = o->jout;
	size_t i;

	json_begin(o, w, "start", ts_or_now(s->ts_ns));
	jsonw_string_field(w, "mode", s->command ? "command" : s->nr_pids ? "pids" :
			   s->nr_cgroups || s->nr_comms ? "select" : "all");
	if (s->nr_cgroups) {
		jsonw_name(w, "cgroups");
		jsonw_start_array(w);
		for (i = 0; i < s->nr_cgroups; i++)
			jsonw_string(w, s->cgroups[i]);
		jsonw_end_array(w);
	}
	if (s->nr_comms) {
		jsonw_name(w, "select_comms");
		jsonw_start_array(w);
		for (i = 0; i < s->nr_comms; i++)
			jsonw_string(w, s->select_comms[i]);
		jsonw_end_array(w);
	}
	if (s->sample > 1)
		jsonw_uint_field(w, "sample", s->sample);
	if (s->backend)
		jsonw_string_field(w, "backend", s->backend);
	jsonw_name(w, "pids");
	jsonw_start_array(w);
	for (i = 0; i < s->nr_pids; i++)
		jsonw_uint(w, s->pids[i]);
	jsonw_end_array(w);
	if (s->comms && s->nr_pids) {
		jsonw_name(w, "comms");
		jsonw_start_array(w);
		for (i = 0; i < s->nr_pids; i++)
			jsonw_string_n(w, s->comms[i], FDT_COMM_LEN);
		jsonw_end_array(w);
	}
	if (s->command) {
		jsonw_string_field(w, "command", s->command);
		if (s->command_pid)
			jsonw_uint_field(w, "command_pid", s->command_pid);
	}
	jsonw_float_field(w, "grace_s", ns_to_s3(s->grace_ns));
	jsonw_uint_field(w, "abi_version", s->recording ? s->recording->abi_version : FDT_ABI_VERSION);
	if (s->recording) {
		jsonw_string_field(w, "recording", s->recording->path);
		jsonw_string_field(w, "recorded_on", s->recording->host);
		jsonw_string_field(w, "recorded_kernel", s->recording->kernel);
		jsonw_string_field(w, "recorded_version", s->recording->version);
		jsonw_float_field(w, "recorded_grace_s", ns_to_s3(s->recording->grace_ns));
	}
	if (s->version)
		jsonw_string_field(w, "version", s->version);
	if (s->commit)
		jsonw_string_field(w, "commit", s->commit);
	jsonw_end_object(w);
}

/* "NAME": [Python frames innermost first, then the native site] */
static void json_frames(struct json_writer *w, const char *name, const char *py, const char *native)
{
	if (!py || !py[0])
		return;
	jsonw_name(w, name);
	jsonw_start_array(w);
	while (*py) {
		size_t n = strcspn(py, "\n");

		jsonw_string_n(w, py, n);
		py += n + !!py[n];
	}
	if (native && native[0])
		jsonw_string(w, native);
	jsonw_end_array(w);
}

/* where the watch ended and began, in the program's code */
static void json_sites(struct json_writer *w, const struct report *r)
{
	if (r->del_site_name)
		jsonw_string_field(w, "del_site", r->del_site_name);
	if (r->add_site_name)
		jsonw_string_field(w, "add_site", r->add_site_name);
	json_frames(w, "del_frames", r->del_py_name, r->del_site_name);
	json_frames(w, "add_frames", r->add_py_name, r->add_site_name);
}

/* "socket": where it went when its watch ended */
static void json_sock(struct json_writer *w, const struct report *r)
{
	const struct fdt_sock_id *s = r->sock;
	char buf[80];

	if (!s)
		return;
	jsonw_name(w, "socket");
	jsonw_start_object(w);
	jsonw_string_field(w, "proto", sock_proto(s));
	if (s->family == FDT_AF_INET || s->family == FDT_AF_INET6) {
		fmt_endpoint(buf, sizeof(buf), s->family, s->laddr, s->lport);
		jsonw_string_field(w, "local", buf);
		fmt_endpoint(buf, sizeof(buf), s->family, s->raddr, s->rport);
		jsonw_string_field(w, "peer", buf);
	} else if (s->path[0]) {
		jsonw_string_n_field(w, "path", s->path, FDT_SOCK_PATH_LEN);
	}
	jsonw_end_object(w);
}

/* The fields every finding about one fd carries, in one order. */
static void json_fd_fields(struct json_writer *w, const struct report *r)
{
	jsonw_int_field(w, "fd", r->fd);
	jsonw_int_field(w, "epfd", r->epfd);
	jsonw_string_field(w, "type", fdt_ftype_name(r->file.ftype));
	jsonw_uint_field(w, "inode", r->file.ino);
	json_dev(w, r->file.dev);
}

static void json_leak(struct output *o, const struct report *r)
{
	struct json_writer *w = o->jout;

	json_begin(o, w, "leak", r->ts_ns);
	json_proc(o, w, r);
	json_fd_fields(w, r);
	jsonw_float_field(w, "unwatched_s", ns_to_s3(r->unwatched_ns));
	json_deregistered_at(o, r);
	json_sock(w, r);
	json_sites(w, r);
	if (r->path && r->path[0])
		jsonw_string_n_field(w, "path", r->path, FDT_PATH_LEN);
	jsonw_string_field(w, "evidence", evidence_name(r->ev.cls));
	if (r->unconfirmed)
		jsonw_bool_field(w, "unconfirmed", true);
	if (r->ev.sock_flags & FDT_SOCKF_SOCKET) {
		if (r->ev.sock_flags & FDT_SOCKF_TCP) {
			jsonw_string_field(w, "tcp_state", tcp_state_name(r->ev.tcp_state));
			jsonw_uint_field(w, "read_since_del", r->ev.read_since);
			jsonw_uint_field(w, "written_since_del", r->ev.written_since);
		}
		jsonw_uint_field(w, r->ev.sock_flags & FDT_SOCKF_UNREAD_MSGS ?
				 "unread_messages" : "unread_bytes", r->ev.unread);
		jsonw_float_field(w, "quiet_s", ns_to_s3(r->ev.quiet_ns));
	}
	jsonw_end_object(w);
}

static void json_resolved(struct output *o, const struct report *r)
{
	struct json_writer *w = o->jout;

	json_begin(o, w, "leak_resolved", r->ts_ns);
	json_proc(o, w, r);
	json_fd_fields(w, r);
	json_sock(w, r);
	json_sites(w, r);
	jsonw_string_field(w, "how", how_json(r->how));
	jsonw_float_field(w, "unwatched_s", ns_to_s3(r->unwatched_ns));
	json_deregistered_at(o, r);
	jsonw_end_object(w);
}

static void json_closed_watched(struct output *o, const struct report *r)
{
	struct json_writer *w = o->jout;

	json_begin(o, w, "closed_while_watched", r->ts_ns);
	json_proc(o, w, r);
	json_fd_fields(w, r);
	jsonw_end_object(w);
}

static void json_dereg_failed(struct output *o, const struct report *r)
{
	struct json_writer *w = o->jout;

	json_begin(o, w, "deregister_failed", r->ts_ns);
	json_proc(o, w, r);
	jsonw_int_field(w, "fd", r->fd);
	jsonw_int_field(w, "epfd", r->epfd);
	jsonw_string_field(w, "error", "EBADF");
	jsonw_end_object(w);
}

/* How long until EMFILE; null where not known (never sampled, no limit, not leaking). */
static void json_forecast(struct json_writer *w, const struct fd_forecast *f)
{
	if (f->sampled_ns)
		jsonw_uint_field(w, "open_fds", f->open_fds);
	else
		jsonw_null_field(w, "open_fds");
	if (f->sampled_ns && f->fd_limit != UINT64_MAX)
		jsonw_uint_field(w, "fd_limit", f->fd_limit);
	else
		jsonw_null_field(w, "fd_limit");
	jsonw_name(w, "leak_rate_per_s");
	if (f->rate_known)
		jsonw_float_prec(w, f->leak_rate_per_s, 6);
	else
		jsonw_null(w);
	if (f->leaking)
		jsonw_float_field(w, "fd_limit_in_s", f->fd_limit_in_s);
	else
		jsonw_null_field(w, "fd_limit_in_s");
}

static void json_fd_pressure(struct output *o, const struct report *r)
{
	struct json_writer *w = o->jout;

	if (!r->fds)
		return;
	json_begin(o, w, "fd_pressure", r->ts_ns);
	json_proc(o, w, r);
	json_forecast(w, r->fds);
	jsonw_uint_field(w, "threshold_pct", FDT_FD_PRESSURE_PCT);
	jsonw_end_object(w);
}

static void json_summary(struct output *o, const struct report *r)
{
	const struct proc_stats *st = r->stats;
	struct json_writer *w = o->jout;

	if (!st)
		return;
	jsonw_start_object(w);
	jsonw_string_field(w, "event", r->kind == REPORT_INTERVAL ? "interval" : "summary");
	json_proc(o, w, r);
#define X(name, kind, text, help) jsonw_uint_field(w, #name, st->name);
	FDT_PROC_COUNTERS(X)
#undef X
	if (r->fds)
		json_forecast(w, r->fds);
	/* records lost or fds untracked: the counts above are a lower bound */
	jsonw_bool_field(w, "partial", st->lost || st->untracked);
	json_time_field(o, w, "time", ts_or_now(r->ts_ns));
	jsonw_end_object(w);
}

static void json_site(struct output *o, const struct report *r, __u32 leaks,
		      const char *del, const char *add, const char *del_py, const char *add_py)
{
	struct json_writer *w = o->jout;

	jsonw_start_object(w);
	jsonw_string_field(w, "event", "site");
	json_proc(o, w, r);
	jsonw_uint_field(w, "leaks", leaks);
	if (del[0])
		jsonw_string_field(w, "del_site", del);
	if (add[0])
		jsonw_string_field(w, "add_site", add);
	json_frames(w, "del_frames", del_py, del);
	json_frames(w, "add_frames", add_py, add);
	jsonw_end_object(w);
	flush(o, o->out);
}

static void json_totals(struct output *o, const struct report *r)
{
	const struct totals *t = r->totals;
	struct json_writer *w = o->jout;

	if (!t)
		return;
	jsonw_start_object(w);
	jsonw_string_field(w, "event", "totals");
#define X(name, help) jsonw_uint_field(w, #name, t->name);
	FDT_TOTALS(X)
#undef X
	json_time_field(o, w, "time", ts_or_now(r->ts_ns));
	jsonw_end_object(w);
}

static void json_message(struct output *o, const char *level, const char *msg)
{
	json_begin(o, o->jerr, level, clock__mono_ns());
	jsonw_string_field(o->jerr, "message", msg);
	jsonw_end_object(o->jerr);
}

static void json_lost(struct output *o, __u64 total, __u64 delta, __u64 ts_ns)
{
	json_begin(o, o->jout, "lost", ts_or_now(ts_ns));
	jsonw_uint_field(o->jout, "lost_events", total);
	jsonw_uint_field(o->jout, "new_lost_events", delta);
	jsonw_end_object(o->jout);
}

static const struct output_ops json_ops = {
	.start		= json_start,
	.leak		= json_leak,
	.resolved	= json_resolved,
	.closed_watched	= json_closed_watched,
	.dereg_failed	= json_dereg_failed,
	.summary	= json_summary,
	.site		= json_site,
	.totals		= json_totals,
	.fd_pressure	= json_fd_pressure,
	.message	= json_message,
	.lost		= json_lost,
};

/* ---- dispatch ------------------------------------------------------ */

int output__reserve_std_fds(void)
{
	/*
	 * open() takes the lowest free number: going up from 0, each one
	 * found closed is the one /dev/null gets.
	 */
	for (int fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -errno;
		if (n != fd) {
			close(n);
			return -EBADF;
		}
	}
	return 0;
}

struct output *output__new(const struct output_opts *opts)
{
	struct output *o;
	int err;

	if (!opts || (opts->format != OUTPUT_TEXT && opts->format != OUTPUT_JSON)) {
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->out = opts->out ? opts->out : stdout;
	o->err = opts->err ? opts->err : stderr;
	o->rt_off = opts->realtime_offset_ns;
	o->show_unit = opts->show_unit;
	if (opts->format == OUTPUT_TEXT) {
		o->ops = &text_ops;
		return o;
	}
	o->ops = &json_ops;
	o->jout = jsonw_new(o->out);
	o->jerr = jsonw_new(o->err);
	if (!o->jout || !o->jerr) {
		err = errno;
		output__free(o);
		errno = err;
		return NULL;
	}
	return o;
}

int output__failed(const struct output *o)
{
	if (o->failed)
		return o->failed;
	return jsonw_error(o->jout) ?: jsonw_error(o->jerr);
}

__s64 output__realtime_offset(const struct output *o)
{
	return o->rt_off;
}

void output__set_attrib(struct output *o, attrib_fn fn, void *ctx)
{
	o->attrib = fn;
	o->attrib_ctx = ctx;
}

void output__set_realtime_offset(struct output *o, __s64 offset_ns)
{
	o->rt_off = offset_ns;
}

void output__free(struct output *o)
{
	if (!o)
		return;
	jsonw_free(o->jout);
	jsonw_free(o->jerr);
	free(o->groups);
	free(o);
}

/* A leak with a named DEL site joins its group (same process, same sites). */
static void group_site(struct output *o, const struct report *r)
{
	const char *del = r->del_site_name ? r->del_site_name : "";
	const char *add = r->add_site_name ? r->add_site_name : "";
	const char *del_py = r->del_py_name ? r->del_py_name : "";
	const char *add_py = r->add_py_name ? r->add_py_name : "";
	struct site_group *g;

	/* the Python frames, where there are, are the site */
	if (!del[0] && !del_py[0])
		return;
	for (size_t i = 0; i < o->nr_groups; i++) {
		g = &o->groups[i];
		if (g->pid == r->pid && !strncmp(g->del, del, SITE_NAME_LEN - 1) &&
		    !strncmp(g->add, add, SITE_NAME_LEN - 1) &&
		    !strncmp(g->del_py, del_py, SITE_PY_FRAMES_LEN - 1) &&
		    !strncmp(g->add_py, add_py, SITE_PY_FRAMES_LEN - 1)) {
			g->leaks++;
			return;
		}
	}
	if (o->nr_groups == MAX_SITE_GROUPS)
		return;
	if (!(o->nr_groups & (o->nr_groups - 1)) || !o->groups) {
		size_t cap = o->nr_groups ? o->nr_groups * 2 : 8;
		struct site_group *v = realloc(o->groups, cap * sizeof(*v));

		if (!v)
			return;
		o->groups = v;
	}
	g = &o->groups[o->nr_groups++];
	g->pid = r->pid;
	g->leaks = 1;
	snprintf(g->del, sizeof(g->del), "%s", del);
	snprintf(g->add, sizeof(g->add), "%s", add);
	snprintf(g->del_py, sizeof(g->del_py), "%s", del_py);
	snprintf(g->add_py, sizeof(g->add_py), "%s", add_py);
}

/* After a process's summary: its leaks by call site, most first; then forgotten. */
static void sites_of(struct output *o, const struct report *r)
{
	size_t i, j;

	for (;;) {
		struct site_group *best = NULL;

		for (i = 0; i < o->nr_groups; i++)
			if (o->groups[i].pid == r->pid && (!best || o->groups[i].leaks > best->leaks))
				best = &o->groups[i];
		if (!best)
			break;
		o->ops->site(o, r, best->leaks, best->del, best->add, best->del_py, best->add_py);
		best->pid = 0;	/* shown */
	}
	for (i = j = 0; i < o->nr_groups; i++)
		if (o->groups[i].pid && o->groups[i].pid != r->pid)
			o->groups[j++] = o->groups[i];
	o->nr_groups = j;
}

void output__report(void *ctx, const struct report *r)
{
	struct output *o = ctx;

	switch (r->kind) {
	case REPORT_LEAK:
		o->ops->leak(o, r);
		group_site(o, r);
		break;
	case REPORT_LEAK_RESOLVED:
		o->ops->resolved(o, r);
		break;
	case REPORT_CLOSED_WHILE_WATCHED:
		o->ops->closed_watched(o, r);
		break;
	case REPORT_DEREGISTER_FAILED:
		o->ops->dereg_failed(o, r);
		break;
	case REPORT_SUMMARY:
		o->ops->summary(o, r);
		sites_of(o, r);		/* under it, by call site */
		break;
	case REPORT_INTERVAL:
		o->ops->summary(o, r);
		break;
	case REPORT_TOTALS:
		o->ops->totals(o, r);
		break;
	case REPORT_FD_PRESSURE:
		o->ops->fd_pressure(o, r);
		break;
	default:
		output__warn(o, "unknown report kind %d", (int)r->kind);
		break;
	}
}

void output__start(struct output *o, const struct start_info *s)
{
	o->ops->start(o, s);
}

static void vmessage(struct output *o, const char *level, const char *fmt,
		     va_list ap)
{
	char *msg;
	size_t len;

	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	/* callers may end with "\n" out of printf habit: one line is ours */
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (o) {
		o->ops->message(o, level, msg);
	} else {
		/* no output yet (failure before output__new): plain text */
		if (!strcmp(level, "error"))
			fprintf(stderr, "fdtrace: %s\n", msg);
		else
			fprintf(stderr, "fdtrace: %s: %s\n", level, msg);
	}
	free(msg);
}

void output__error(struct output *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(o, "error", fmt, ap);
	va_end(ap);
}

void output__warn(struct output *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(o, "warning", fmt, ap);
	va_end(ap);
}

void output__lost(struct output *o, __u64 lost_total, __u64 ts_ns)
{
	__u64 delta;

	if (lost_total <= o->lost_seen)
		return;
	delta = lost_total - o->lost_seen;
	o->lost_seen = lost_total;
	o->ops->lost(o, lost_total, delta, ts_ns);
}
