// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Writing recordings (the format is described in record.h).  No libbpf:
 * the live loop hands over the bytes it fed the engine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include "record.h"

/*
 * Big enough that a busy ring buffer costs a write every few hundred
 * records, small enough that a second's worth is little to lose.
 */
#define WBUF_SIZE	(64U * 1024)

struct recorder {
	int fd;
	size_t len;
	unsigned char buf[WBUF_SIZE];
};

static void copy_str(char *dst, size_t size, const char *src)
{
	/* fixed-size fields: the rest zeroed, so no stray bytes reach the file */
	memset(dst, 0, size);
	if (src)
		strncpy(dst, src, size - 1);
}

void record_header__init(struct record_header *h)
{
	struct utsname u;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, RECORD_MAGIC, RECORD_MAGIC_LEN);
	h->byte_order = RECORD_BYTE_ORDER;
	h->version = RECORD_VERSION;
	h->hdr_size = sizeof(*h);
	h->abi_version = FDT_ABI_VERSION;
	if (gethostname(h->hostname, sizeof(h->hostname) - 1))
		h->hostname[0] = '\0';
	if (!uname(&u))
		copy_str(h->kernel_release, sizeof(h->kernel_release), u.release);
}

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * O_EXCL|O_NOFOLLOW: never write through a symlink someone planted, never
 * truncate what is there.  With force, only a regular file is replaced,
 * by unlinking it and creating anew (still O_EXCL): if anything else
 * takes its place meanwhile, the create fails rather than follows it.
 */
static int create_file(const char *path, bool force)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd;

	fd = open(path, flags, 0600);
	if (fd >= 0 || errno != EEXIST || !force)
		return fd >= 0 ? fd : -errno;
	if (lstat(path, &st))
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISREG(st.st_mode))
		return -EEXIST;
	if (unlink(path))
		return -errno;
	fd = open(path, flags, 0600);
	return fd >= 0 ? fd : -errno;
}

struct recorder *recorder__open(const char *path, bool force, const struct record_header *h)
{
	struct recorder *r;
	int fd, err;

	if (!path || !h) {
		errno = EINVAL;
		return NULL;
	}
	fd = create_file(path, force);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		close(fd);
		unlink(path);
		errno = ENOMEM;
		return NULL;
	}
	r->fd = fd;
	r->len = 0;
	/* the header at once: a recording cut off now is still a recording */
	err = write_all(fd, h, sizeof(*h));
	if (err) {
		close(fd);
		unlink(path);
		free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

int recorder__flush(struct recorder *r)
{
	int err;

	if (!r)
		return -EINVAL;
	if (!r->len)
		return 0;
	err = write_all(r->fd, r->buf, r->len);
	/*
	 * On error the buffer is dropped: what reached the file is a prefix
	 * of the stream, and retrying a part written could duplicate it.
	 */
	r->len = 0;
	return err;
}

int recorder__write(struct recorder *r, const void *rec, size_t size)
{
	struct fdt_rec_hdr h;
	int err;

	if (!r || !rec || size < sizeof(h) || size > RECORD_MAX_SIZE)
		return -EINVAL;
	memcpy(&h, rec, sizeof(h));
	/* the reader frames entries by hdr.size */
	if (h.size != size)
		return -EINVAL;
	if (r->len + size > sizeof(r->buf)) {
		err = recorder__flush(r);
		if (err)
			return err;
	}
	memcpy(r->buf + r->len, rec, size);
	r->len += size;
	return 0;
}

int recorder__close(struct recorder *r)
{
	int err, err2 = 0;

	if (!r)
		return 0;
	err = recorder__flush(r);
	if (close(r->fd))
		err2 = -errno;
	free(r);
	return err ?: err2;
}

/* ---- the userspace records ---- */

static void hdr_set(struct fdt_rec_hdr *h, __u32 type, size_t size, __u64 ts, __u32 pid)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->size = size;
	h->ts_ns = ts;
	h->pid = pid;
	h->tid = pid;
}

static int write_hdr_only(struct recorder *r, __u32 type, __u64 ts, __u32 pid)
{
	struct record_tick t;

	hdr_set(&t.hdr, type, sizeof(t), ts, pid);
	return recorder__write(r, &t, sizeof(t));
}

int recorder__tick(struct recorder *r, __u64 now_ns)
{
	return write_hdr_only(r, RECORD_TICK, now_ns, 0);
}

int recorder__drop(struct recorder *r, __u64 now_ns, __u32 pid)
{
	return write_hdr_only(r, RECORD_DROP, now_ns, pid);
}

int recorder__finish(struct recorder *r, __u64 now_ns)
{
	return write_hdr_only(r, RECORD_FINISH, now_ns, 0);
}

int recorder__verify(struct recorder *r, __u64 now_ns, __u32 pid, __s32 fd,
		     __u32 verdict, __u64 lost, const struct fdt_verify *sock, const char *path)
{
	struct record_verify v;

	hdr_set(&v.hdr, RECORD_VERIFY, sizeof(v), now_ns, pid);
	v.fd = fd;
	v.verdict = verdict;
	v.lost = lost;
	if (sock)
		v.sock = *sock;
	else
		memset(&v.sock, 0, sizeof(v.sock));
	memset(v.path, 0, sizeof(v.path));
	if (path)
		strncpy(v.path, path, sizeof(v.path) - 1);
	return recorder__write(r, &v, sizeof(v));
}

static int write_lost(struct recorder *r, __u32 type, __u64 now_ns, __u32 pid, __u64 lost)
{
	struct record_lost l;

	hdr_set(&l.hdr, type, sizeof(l), now_ns, pid);
	l.lost = lost;
	return recorder__write(r, &l, sizeof(l));
}

int recorder__lost(struct recorder *r, __u64 now_ns, __u64 lost)
{
	return write_lost(r, RECORD_LOST, now_ns, 0, lost);
}

int recorder__proc_lost(struct recorder *r, __u64 now_ns, __u32 pid, __u64 lost)
{
	return write_lost(r, RECORD_SET_PROC_LOST, now_ns, pid, lost);
}

int recorder__add_pid(struct recorder *r, __u64 now_ns, __u32 pid, const char *comm,
		      __u32 flags)
{
	struct record_add_pid a;

	hdr_set(&a.hdr, RECORD_ADD_PID, sizeof(a), now_ns, pid);
	copy_str(a.hdr.comm, sizeof(a.hdr.comm), comm);
	a.flags = flags;
	a.pad = 0;
	return recorder__write(r, &a, sizeof(a));
}

int recorder__start(struct recorder *r, __u64 now_ns, const __u32 *pids,
		    const char *const *comms, size_t nr_pids, const char *command,
		    __u32 command_pid)
{
	size_t size = sizeof(struct record_start) + nr_pids * sizeof(struct record_start_pid);
	struct record_start *s;
	int err;

	if (nr_pids > RECORD_MAX_PIDS)
		return -E2BIG;
	s = calloc(1, size);
	if (!s)
		return -ENOMEM;
	hdr_set(&s->hdr, RECORD_START, size, now_ns, 0);
	s->command_pid = command_pid;
	s->nr_pids = nr_pids;
	copy_str(s->command, sizeof(s->command), command);
	for (size_t i = 0; i < nr_pids; i++) {
		s->pids[i].pid = pids[i];
		copy_str(s->pids[i].comm, FDT_COMM_LEN, comms ? comms[i] : NULL);
	}
	err = recorder__write(r, s, size);
	free(s);
	return err;
}

int recorder__fds(struct recorder *r, __u64 now_ns, __u32 pid, __u64 open_fds,
		  __u64 soft, __u64 hard)
{
	struct record_fds f;

	hdr_set(&f.hdr, RECORD_FDS, sizeof(f), now_ns, pid);
	f.open_fds = open_fds;
	f.nofile_soft = soft;
	f.nofile_hard = hard;
	return recorder__write(r, &f, sizeof(f));
}

int recorder__site(struct recorder *r, __u64 now_ns, __u32 pid, __u64 addr, const char *name)
{
	struct record_site st;

	hdr_set(&st.hdr, RECORD_SITE, sizeof(st), now_ns, pid);
	st.addr = addr;
	memset(st.name, 0, sizeof(st.name));
	strncpy(st.name, name, sizeof(st.name) - 1);
	return recorder__write(r, &st, sizeof(st));
}

int recorder__warn(struct recorder *r, __u64 now_ns, const char *msg)
{
	struct record_warn w;

	hdr_set(&w.hdr, RECORD_WARN, sizeof(w), now_ns, 0);
	copy_str(w.msg, sizeof(w.msg), msg);
	return recorder__write(r, &w, sizeof(w));
}

/* Appends s (len bytes, then a NUL) at *p, cut to RECORD_PATH_MAX; its length. */
static __u32 put_str(char **p, const char *s, size_t len)
{
	if (!s)
		len = 0;
	if (len > RECORD_PATH_MAX - 1)
		len = RECORD_PATH_MAX - 1;
	if (len)
		memcpy(*p, s, len);
	(*p)[len] = '\0';
	*p += len + 1;
	return len + 1;
}

int recorder__proc(struct recorder *r, const struct record_proc_info *pi)
{
	size_t cl = pi->cmdline_len;
	struct record_proc *rp;
	char *p;
	int err;

	/* a cmdline's own last NUL is the one put_str() adds */
	if (pi->cmdline && cl && !pi->cmdline[cl - 1])
		cl--;
	rp = calloc(1, sizeof(*rp) + 3 * RECORD_PATH_MAX);
	if (!rp)
		return -ENOMEM;
	p = rp->strings;
	rp->exe_len = put_str(&p, pi->exe, pi->exe ? strlen(pi->exe) : 0);
	rp->cmdline_len = put_str(&p, pi->cmdline, cl);
	rp->cgroup_len = put_str(&p, pi->cgroup, pi->cgroup ? strlen(pi->cgroup) : 0);
	hdr_set(&rp->hdr, RECORD_PROC, p - (char *)rp, pi->seen_ns, pi->pid);
	memcpy(rp->hdr.comm, pi->comm, FDT_COMM_LEN);
	rp->hdr.comm[FDT_COMM_LEN - 1] = '\0';
	rp->start_time_ns = pi->start_time_ns;
	rp->nofile_soft = pi->nofile_soft;
	rp->nofile_hard = pi->nofile_hard;
	err = recorder__write(r, rp, rp->hdr.size);
	free(rp);
	return err;
}
