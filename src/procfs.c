// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

int procfs__check_pid(__u32 pid)
{
	char path[64], buf[512], *p;
	int n;

	/*
	 * /proc/PID/status names the thread group: a thread id would be
	 * accepted by kill(2) but is not a process we can trace by tgid.
	 */
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	p = strstr(buf, "\nTgid:");
	if (!p)
		return -ESRCH;
	if ((__u32)strtoul(p + 6, NULL, 10) != pid)
		return -ESRCH;
	return 0;
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
