// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include "procfs.h"

static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/* /proc/PID/name; -ESRCH when there is no such process */
static int read_pid_file(__u32 pid, const char *name, char *buf, size_t len)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, name);
	n = read_small(path, buf, len);
	return n == -ENOENT ? -ESRCH : n;
}

/* PF_KTHREAD from include/linux/sched.h: the flags /proc/PID/stat shows */
#define PF_KTHREAD	0x00200000

/*
 * State and flags from /proc/PID/stat: "pid (comm) state ppid pgrp
 * session tty_nr tpgid flags ...".  comm may hold ')' and blanks: the
 * fields start after the last ')'.
 */
static int read_stat(__u32 pid, char *state, unsigned int *flags)
{
	char buf[1024], *p;
	int n;

	n = read_pid_file(pid, "stat", buf, sizeof(buf));
	if (n < 0)
		return n;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", state, flags) != 2)
		return -ESRCH;
	return 0;
}

int procfs__check_pid(__u32 pid, __u32 *tgid)
{
	char buf[4096], *p, state;
	unsigned int flags, threads = 1;
	int n;

	/*
	 * /proc/PID/status names the thread group: a thread id would be
	 * accepted by kill(2) but is not a process we can trace by tgid.
	 */
	n = read_pid_file(pid, "status", buf, sizeof(buf));
	if (n < 0)
		return n;
	p = strstr(buf, "\nTgid:");
	if (!p)
		return -ESRCH;
	*tgid = strtoul(p + 6, NULL, 10);
	if (*tgid != pid)
		return PROCFS_THREAD;
	p = strstr(buf, "\nThreads:");
	if (p)
		threads = strtoul(p + 9, NULL, 10);

	n = read_stat(pid, &state, &flags);
	if (n)
		return n;
	/* no user memory, no fd table of its own: nothing epoll-shaped to trace */
	if (flags & PF_KTHREAD)
		return PROCFS_KTHREAD;
	/*
	 * A leader that exited before its other threads shows Z too, but
	 * the process lives on in them: only a lone zombie is gone.
	 */
	if ((state == 'Z' || state == 'X') && threads <= 1)
		return PROCFS_ZOMBIE;
	return PROCFS_PROCESS;
}

int procfs__comm(__u32 pid, char *buf, size_t len)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	n = read_small(path, buf, len);
	if (n < 0)
		return n;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * The kernel encodes dev_t as major << 20 | minor (MKDEV), which is what
 * BPF reads from s_dev and fdinfo prints as sdev; stat() hands out the
 * userspace encoding.
 */
static __u32 kernel_dev(dev_t dev)
{
	return (major(dev) << 20) | minor(dev);
}

static __u32 anon_ftype(const char *link)
{
	static const struct {
		const char *name;
		__u32 ftype;
	} anon[] = {
		{ "anon_inode:[eventfd]", FDT_FT_EVENTFD },
		{ "anon_inode:[timerfd]", FDT_FT_TIMERFD },
		{ "anon_inode:[signalfd]", FDT_FT_SIGNALFD },
		{ "anon_inode:[eventpoll]", FDT_FT_EPOLL },
	};

	for (size_t i = 0; i < sizeof(anon) / sizeof(anon[0]); i++)
		if (!strcmp(link, anon[i].name))
			return anon[i].ftype;
	return FDT_FT_OTHER;
}

int procfs__fd_file(__u32 pid, int fd, struct fdt_file *file)
{
	char path[64], link[64];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/fd/%d", pid, fd);
	if (stat(path, &st))
		return -errno;
	file->ino = st.st_ino;
	file->dev = kernel_dev(st.st_dev);
	switch (st.st_mode & S_IFMT) {
	case S_IFSOCK:
		file->ftype = FDT_FT_SOCKET;
		break;
	case S_IFIFO:
		file->ftype = FDT_FT_PIPE;
		break;
	case S_IFREG:
		file->ftype = FDT_FT_REG;
		break;
	case S_IFCHR:
		file->ftype = FDT_FT_CHR;
		break;
	case 0:	/* anonymous inode: the link text names it */
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		file->ftype = anon_ftype(link);
		break;
	default:
		file->ftype = FDT_FT_OTHER;
	}
	return 0;
}

/* Parse "tfd: N events: X data: X pos:N ino:X sdev:X" lines. */
static int parse_fdinfo(__u32 pid, int epfd, procfs_watch_fn fn, void *ctx)
{
	char path[64], line[256];
	struct procfs_watch w;
	unsigned long long ino;
	unsigned int events, sdev;
	int tfd, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/fdinfo/%d", pid, epfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *p;

		if (strncmp(line, "tfd:", 4))
			continue;
		if (sscanf(line, "tfd: %d events: %x", &tfd, &events) != 2)
			continue;
		p = strstr(line, " ino:");
		if (!p || sscanf(p, " ino:%llx sdev:%x", &ino, &sdev) != 2)
			continue;
		w.epfd = epfd;
		w.fd = tfd;
		w.events = events;
		/*
		 * fdinfo names the file epoll holds; the fd may name another
		 * one by now (closed while watched): take what fd names.
		 */
		if (procfs__fd_file(pid, tfd, &w.file) ||
		    w.file.ino != ino || w.file.dev != sdev)
			continue;
		fn(ctx, &w);
		n++;
	}
	fclose(f);
	return n;
}

int procfs__epoll_watches(__u32 pid, procfs_watch_fn fn, void *ctx)
{
	char path[64], link[64];
	struct dirent *de;
	int total = 0, n;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char fdpath[320];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]"))
			continue;
		n = parse_fdinfo(pid, atoi(de->d_name), fn, ctx);
		if (n > 0)
			total += n;
	}
	closedir(d);
	return total;
}

int procfs__nofile(__u32 pid, __u64 *soft, __u64 *hard)
{
	char path[64], line[256];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/limits", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char s[32], h[32];

		/* "Max open files            1024                 524288               files" */
		if (strncmp(line, "Max open files", 14) ||
		    sscanf(line + 14, "%31s %31s", s, h) != 2)
			continue;
		*soft = strcmp(s, "unlimited") ? strtoull(s, NULL, 10) : UINT64_MAX;
		*hard = strcmp(h, "unlimited") ? strtoull(h, NULL, 10) : UINT64_MAX;
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/* struct linux_dirent64 (getdents64(2)); glibc 2.36 has no wrapper */
struct dirent64_hdr {
	__u64 d_ino;
	__s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int procfs__count_fds(__u32 pid, __u64 *n)
{
	/* 32 KiB: about 1300 entries a call */
	static unsigned char buf[32768] __attribute__((aligned(8)));
	char path[64];
	__u64 count = 0;
	long got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	/* the names only: no stat, no readlink per fd */
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			const struct dirent64_hdr *d = (const void *)(buf + off);

			if (d->d_name[0] != '.')
				count++;
			off += d->d_reclen;
		}
	}
	if (got < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	*n = count;
	return 0;
}

int procfs__exe(__u32 pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

ssize_t procfs__cmdline(__u32 pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

int procfs__cgroup(__u32 pid, char *buf, size_t len)
{
	char path[64], line[4096 + 8];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* cgroup v2: "0::/system.slice/nginx.service" */
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(buf, len, "%s", line + 3);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int procfs__start_time(__u32 pid, __u64 *boot_ns)
{
	char path[64], buf[1024], *p;
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	int n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	/* after the comm, which may hold anything: field 22 is starttime */
	p = strrchr(buf, ')');
	if (!p || hz <= 0)
		return -EINVAL;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -EINVAL;
	*boot_ns = ticks * (1000000000ULL / hz);
	return 0;
}

int procfs__cgroup2_mount(char *buf, size_t len)
{
	char line[4096], dev[256], dir[4096], type[64];
	int err = -ENOENT;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) != 3)
			continue;
		if (strcmp(type, "cgroup2"))
			continue;
		snprintf(buf, len, "%s", dir);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int procfs__fd_path(__u32 pid, int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/fd/%d", pid, fd);
	n = readlink(path, buf, len - 1);
	if (n < 0) {
		buf[0] = '\0';
		return -errno;
	}
	buf[n] = '\0';
	return 0;
}
