// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Reading recordings (the format is described in record.h).  A recording
 * is untrusted input: it may come from another machine, be cut off or be
 * anything at all.  Every length is checked against a bound before it is
 * used, memory is a fixed buffer, and the first problem ends reading with
 * one line saying what and where.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "matcher.h"
#include "record.h"

/* Room for the largest entry plus what one read() fetches ahead. */
#define RBUF_SIZE	(2 * RECORD_MAX_SIZE)

enum rr_state {
	RR_OK,
	RR_END,		/* clean end or truncated tail */
	RR_ERROR,
};

struct record_reader {
	int fd;			/* -1: reading memory */
	unsigned char *buf;	/* fd: malloc'ed; memory: the caller's bytes */
	size_t start, end;	/* unread bytes are buf[start..end) */
	__u64 buf_off;		/* file offset of buf[0] */
	__u64 entry_off;	/* file offset of the entry last returned */
	bool eof;
	bool truncated;
	enum rr_state state;
	int err;
	struct record_header hdr;
	char msg[256];
};

static int fail(struct record_reader *rr, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct record_reader *rr, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rr->msg, sizeof(rr->msg), fmt, ap);
	va_end(ap);
	rr->state = RR_ERROR;
	rr->err = err;
	return err;
}

/*
 * Make n bytes available at buf[start] if the file has them.  Returns the
 * bytes available (less than n only at the end of the file), or a
 * negative errno.
 */
static ssize_t ensure(struct record_reader *rr, size_t n)
{
	if (rr->end - rr->start >= n || rr->eof)
		return rr->end - rr->start;
	if (rr->start) {
		memmove(rr->buf, rr->buf + rr->start, rr->end - rr->start);
		rr->buf_off += rr->start;
		rr->end -= rr->start;
		rr->start = 0;
	}
	while (rr->end < n) {
		ssize_t got = read(rr->fd, rr->buf + rr->end, RBUF_SIZE - rr->end);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!got) {
			rr->eof = true;
			break;
		}
		rr->end += got;
	}
	return rr->end - rr->start;
}

static bool has_nul(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int check_header(struct record_reader *rr)
{
	struct record_header *h = &rr->hdr;
	ssize_t avail = ensure(rr, sizeof(*h));
	size_t cmp;

	if (avail < 0)
		return fail(rr, avail, "cannot read: %s", strerror(-avail));
	if (!avail)
		return fail(rr, -EBADMSG, "empty file: not an fdtrace recording");
	cmp = (size_t)avail < RECORD_MAGIC_LEN ? (size_t)avail : RECORD_MAGIC_LEN;
	if (memcmp(rr->buf + rr->start, RECORD_MAGIC, cmp))
		return fail(rr, -EBADMSG, "not an fdtrace recording (bad magic)");
	if ((size_t)avail < sizeof(*h))
		return fail(rr, -EBADMSG, "truncated header: %zd of %zu bytes",
			    avail, sizeof(*h));
	memcpy(h, rr->buf + rr->start, sizeof(*h));
	if (h->byte_order == __builtin_bswap32(RECORD_BYTE_ORDER))
		return fail(rr, -EPROTONOSUPPORT,
			    "recorded on a host of the other byte order: not supported");
	if (h->byte_order != RECORD_BYTE_ORDER)
		return fail(rr, -EBADMSG, "corrupt header: bad byte order mark 0x%08x",
			    h->byte_order);
	if (h->version > RECORD_VERSION)
		return fail(rr, -EPROTONOSUPPORT,
			    "format version %u is newer than this fdtrace reads (%u): upgrade fdtrace",
			    h->version, RECORD_VERSION);
	if (h->version == 0)
		return fail(rr, -EBADMSG, "corrupt header: format version 0");
	if (h->hdr_size != sizeof(*h))
		return fail(rr, -EBADMSG, "corrupt header: size %u, want %zu",
			    h->hdr_size, sizeof(*h));
	if (h->abi_version > FDT_ABI_VERSION || h->abi_version == 0)
		return fail(rr, -EPROTONOSUPPORT,
			    "kernel record ABI %u, this fdtrace reads up to %u",
			    h->abi_version, FDT_ABI_VERSION);
	if (!has_nul(h->fdtrace_version, sizeof(h->fdtrace_version)) ||
	    !has_nul(h->fdtrace_commit, sizeof(h->fdtrace_commit)) ||
	    !has_nul(h->hostname, sizeof(h->hostname)) ||
	    !has_nul(h->kernel_release, sizeof(h->kernel_release)) ||
	    !has_nul(h->options, sizeof(h->options)))
		return fail(rr, -EBADMSG, "corrupt header: unterminated string");
	rr->start += sizeof(*h);
	return 0;
}

static struct record_reader *reader_new(char *errbuf, size_t errlen)
{
	struct record_reader *rr = calloc(1, sizeof(*rr));

	if (!rr) {
		snprintf(errbuf, errlen, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	rr->fd = -1;
	return rr;
}

/* Header checked: the reader, or NULL with errno and errbuf set. */
static struct record_reader *reader_start(struct record_reader *rr, char *errbuf,
					  size_t errlen)
{
	int err = check_header(rr);

	if (!err)
		return rr;
	snprintf(errbuf, errlen, "%s", rr->msg);
	record_reader__close(rr);
	errno = -err;
	return NULL;
}

struct record_reader *record_reader__open(const char *path, char *errbuf, size_t errlen)
{
	struct record_reader *rr;
	struct stat st;

	rr = reader_new(errbuf, errlen);
	if (!rr)
		return NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	rr->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rr->fd < 0 || fstat(rr->fd, &st)) {
		int err = errno;

		snprintf(errbuf, errlen, "cannot open: %s", strerror(err));
		record_reader__close(rr);
		errno = err;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		int err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;

		snprintf(errbuf, errlen, "%s: not an fdtrace recording",
			 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		record_reader__close(rr);
		errno = err;
		return NULL;
	}
	rr->buf = malloc(RBUF_SIZE);
	if (!rr->buf) {
		snprintf(errbuf, errlen, "%s", strerror(ENOMEM));
		record_reader__close(rr);
		errno = ENOMEM;
		return NULL;
	}
	return reader_start(rr, errbuf, errlen);
}

struct record_reader *record_reader__open_mem(const void *buf, size_t len,
					      char *errbuf, size_t errlen)
{
	struct record_reader *rr = reader_new(errbuf, errlen);

	if (!rr)
		return NULL;
	rr->buf = (unsigned char *)buf;
	rr->end = len;
	rr->eof = true;
	return reader_start(rr, errbuf, errlen);
}

/*
 * Every type a recording may hold: its struct's size, and whether an
 * entry must be exactly that (userspace records of this format version)
 * or may be longer (kernel records: a later ABI appends fields, and the
 * engine takes them as they are).
 */
static const struct {
	__u32 type;
	__u32 size;
	bool fixed;
} types[] = {
	{ FDT_REC_EPOLL_CTL,	FDT_REC_EPOLL_CTL_V5_SIZE,	false },	/* before py_stack: shorter */
	{ FDT_REC_CLOSE,	sizeof(struct fdt_rec_close),		false },
	{ FDT_REC_EXEC,		FDT_REC_PROC_V4_SIZE,		false },	/* ABI 4: shorter */
	{ FDT_REC_EXIT,		FDT_REC_PROC_V4_SIZE,		false },	/* ABI 4: shorter */
	{ FDT_REC_FORK,		FDT_REC_PROC_V4_SIZE,		false },	/* ABI 4: shorter */
	{ FDT_REC_WATCH_SEED,	sizeof(struct fdt_rec_watch_seed),	false },
	{ RECORD_TICK,		sizeof(struct record_tick),		true },
	{ RECORD_VERIFY,	sizeof(struct record_verify),		true },
	{ RECORD_PROC,		sizeof(struct record_proc),		false },
	{ RECORD_LOST,		sizeof(struct record_lost),		true },
	{ RECORD_SET_PROC_LOST,	sizeof(struct record_lost),		true },
	{ RECORD_DROP,		sizeof(struct record_tick),		true },
	{ RECORD_FINISH,	sizeof(struct record_tick),		true },
	{ RECORD_ADD_PID,	sizeof(struct record_add_pid),		true },
	{ RECORD_START,		sizeof(struct record_start),		false },
	{ RECORD_WARN,		sizeof(struct record_warn),		true },
	{ RECORD_FDS,		sizeof(struct record_fds),		true },
	{ RECORD_SITE,		sizeof(struct record_site),		true },
};

_Static_assert(FDT_REC_MAX == 7, "a new kernel record type needs its row in types[]");

/* Index into types[], or -1: no such type. */
static int type_idx(__u32 type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return i;
	return -1;
}

int record_proc__parse(const void *rec, size_t size, struct record_proc_view *v)
{
	struct record_proc p;
	const char *s = (const char *)rec + sizeof(p);
	size_t lens[3], total = 0;

	if (size < sizeof(p))
		return -EBADMSG;
	memcpy(&p, rec, sizeof(p));
	lens[0] = p.exe_len;
	lens[1] = p.cmdline_len;
	lens[2] = p.cgroup_len;
	for (int i = 0; i < 3; i++) {
		/* each at least its NUL, and ending with it */
		if (lens[i] < 1 || lens[i] > RECORD_PATH_MAX)
			return -EBADMSG;
		total += lens[i];
		if (total > size - sizeof(p) || s[total - 1])
			return -EBADMSG;
	}
	if (total != size - sizeof(p))
		return -EBADMSG;
	v->exe = s;
	v->cmdline = s + lens[0];
	v->cmdline_len = lens[1];
	v->cgroup = s + lens[0] + lens[1];
	return 0;
}

/* What a type's fixed size does not say: counts, strings, enum values. */
static int check_entry(struct record_reader *rr, const unsigned char *e, size_t size,
		       __u32 type)
{
	__u64 off = rr->entry_off;

	switch (type) {
	case RECORD_SITE:
		if (!memchr(e + offsetof(struct record_site, name), 0, RECORD_SITE_LEN))
			return fail(rr, -EBADMSG, "offset %llu: a site name without its NUL",
				    (unsigned long long)off);
		break;
	case RECORD_VERIFY: {
		struct record_verify v;

		memcpy(&v, e, sizeof(v));
		if (v.verdict > VERDICT_WATCHED)
			return fail(rr, -EBADMSG, "offset %llu: unknown verdict %u",
				    (unsigned long long)off, v.verdict);
		break;
	}
	case RECORD_ADD_PID: {
		struct record_add_pid a;

		memcpy(&a, e, sizeof(a));
		if (a.flags & ~RECORD_ADD_COMMAND)
			return fail(rr, -EBADMSG, "offset %llu: unknown flags 0x%x",
				    (unsigned long long)off, a.flags);
		break;
	}
	case RECORD_WARN:
		if (!has_nul((const char *)e + offsetof(struct record_warn, msg), RECORD_WARN_LEN))
			return fail(rr, -EBADMSG, "offset %llu: unterminated warning",
				    (unsigned long long)off);
		break;
	case RECORD_START: {
		struct record_start s;

		memcpy(&s, e, sizeof(s));
		if (s.nr_pids > RECORD_MAX_PIDS ||
		    size != sizeof(s) + s.nr_pids * sizeof(struct record_start_pid))
			return fail(rr, -EBADMSG, "offset %llu: start record of %u targets in %zu bytes",
				    (unsigned long long)off, s.nr_pids, size);
		if (!has_nul(s.command, sizeof(s.command)))
			return fail(rr, -EBADMSG, "offset %llu: unterminated command",
				    (unsigned long long)off);
		break;
	}
	case RECORD_PROC: {
		struct record_proc_view v;

		if (record_proc__parse(e, size, &v))
			return fail(rr, -EBADMSG, "offset %llu: malformed process record",
				    (unsigned long long)off);
		break;
	}
	}
	return 0;
}

int record_reader__next(struct record_reader *rr, const void **rec, size_t *size)
{
	struct fdt_rec_hdr h;
	ssize_t avail;
	int t;

	if (!rr || !rec || !size)
		return -EINVAL;
	if (rr->state == RR_ERROR)
		return rr->err;
	if (rr->state == RR_END)
		return 0;
	rr->entry_off = rr->buf_off + rr->start;
	avail = ensure(rr, sizeof(h));
	if (avail < 0)
		return fail(rr, avail, "offset %llu: cannot read: %s",
			    (unsigned long long)rr->entry_off, strerror(-avail));
	if ((size_t)avail < sizeof(h)) {
		/* nothing left is the end; a part of a header, a cut */
		rr->truncated = avail > 0;
		rr->state = RR_END;
		return 0;
	}
	memcpy(&h, rr->buf + rr->start, sizeof(h));
	if (h.size < sizeof(h))
		return fail(rr, -EBADMSG, "offset %llu: record size %u is smaller than its header",
			    (unsigned long long)rr->entry_off, h.size);
	if (h.size > RECORD_MAX_SIZE)
		return fail(rr, -EBADMSG, "offset %llu: record size %u is over the %u byte bound",
			    (unsigned long long)rr->entry_off, h.size, RECORD_MAX_SIZE);
	t = type_idx(h.type);
	if (t < 0)
		return fail(rr, -EBADMSG, "offset %llu: unknown record type %u",
			    (unsigned long long)rr->entry_off, h.type);
	if (h.size < types[t].size || (types[t].fixed && h.size != types[t].size))
		return fail(rr, -EBADMSG, "offset %llu: record type %u of size %u, want %s%u",
			    (unsigned long long)rr->entry_off, h.type, h.size,
			    types[t].fixed ? "" : "at least ", types[t].size);
	avail = ensure(rr, h.size);
	if (avail < 0)
		return fail(rr, avail, "offset %llu: cannot read: %s",
			    (unsigned long long)rr->entry_off, strerror(-avail));
	if ((size_t)avail < h.size) {
		rr->truncated = true;
		rr->state = RR_END;
		return 0;
	}
	if (check_entry(rr, rr->buf + rr->start, h.size, h.type))
		return rr->err;
	*rec = rr->buf + rr->start;
	*size = h.size;
	rr->start += h.size;
	return 1;
}

const struct record_header *record_reader__header(const struct record_reader *rr)
{
	return &rr->hdr;
}

const char *record_reader__error(const struct record_reader *rr)
{
	return rr->state == RR_ERROR ? rr->msg : NULL;
}

bool record_reader__truncated(const struct record_reader *rr)
{
	return rr->truncated;
}

__u64 record_reader__offset(const struct record_reader *rr)
{
	return rr->entry_off;
}

void record_reader__close(struct record_reader *rr)
{
	if (!rr)
		return;
	if (rr->fd >= 0) {
		close(rr->fd);
		free(rr->buf);
	}
	free(rr);
}
