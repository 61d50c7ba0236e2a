// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "command.h"

struct command {
	pid_t pid;
	int go_fd;	/* write end: a byte lets the child exec */
	int err_fd;	/* read end: errno if exec failed, EOF if it worked */
	int released;
	int reaped;
	int status;	/* wait status, once reaped */
	int signals;	/* stop signals received while it ran */
};

static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (access(path, X_OK))
		return -errno;
	return 0;
}

/* The same lookup execvp() will do, done early for a clear error. */
static int resolve(const char *file)
{
	const char *path = getenv("PATH"), *p, *end;
	char buf[PATH_MAX];
	int err = -ENOENT;

	if (strchr(file, '/'))
		return executable(file);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		end = strchrnul(p, ':');
		if (end == p)	/* an empty PATH entry means "." */
			snprintf(buf, sizeof(buf), "./%s", file);
		else
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, file);
		err = executable(buf);
		if (!err)
			return 0;
		if (!*end)
			return err == -EACCES ? err : -ENOENT;
	}
}

struct command *command__new(char **argv, const sigset_t *sigmask,
			     const struct rlimit *nofile)
{
	struct command *c;
	int go[2], ep[2], err;

	err = resolve(argv[0]);
	if (err) {
		errno = -err;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pipe2(go, O_CLOEXEC))
		goto err_free;
	if (pipe2(ep, O_CLOEXEC))
		goto err_go;

	c->pid = fork();
	if (c->pid < 0)
		goto err_ep;
	if (c->pid == 0) {
		char b;

		/* Held until released; die with fdtrace if it dies first. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		close(ep[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(127);
		prctl(PR_SET_PDEATHSIG, 0);
		sigprocmask(SIG_SETMASK, sigmask, NULL);
		/* fdtrace raised its own limit: COMMAND sees the one it was given */
		if (nofile)
			setrlimit(RLIMIT_NOFILE, nofile);
		execvp(argv[0], argv);
		err = errno;
		if (write(ep[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ep[1]);
	c->go_fd = go[1];
	c->err_fd = ep[0];
	return c;

err_ep:
	close(ep[0]);
	close(ep[1]);
err_go:
	close(go[0]);
	close(go[1]);
err_free:
	err = errno;
	free(c);
	errno = err;
	return NULL;
}

pid_t command__pid(const struct command *c)
{
	return c->pid;
}

int command__release(struct command *c)
{
	ssize_t n;
	int err = 0;

	if (write(c->go_fd, "g", 1) != 1)
		return -errno;
	close(c->go_fd);
	c->go_fd = -1;
	c->released = 1;
	/* The error pipe closes on a successful exec (O_CLOEXEC). */
	do {
		n = read(c->err_fd, &err, sizeof(err));
	} while (n < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	if (n != sizeof(err))
		return 0;
	/* It wrote the errno and _exit()s: no zombie for the rest of the run */
	if (waitpid(c->pid, &c->status, 0) == c->pid)
		c->reaped = 1;
	return -err;
}

int command__reap(struct command *c, int *status)
{
	pid_t r;

	if (c->reaped)
		return 0;
	r = waitpid(c->pid, &c->status, WNOHANG);
	if (r == c->pid) {
		c->reaped = 1;
		*status = c->status;
		return 1;
	}
	return 0;
}

int command__signal(struct command *c, int signo, int code)
{
	if (!c->released || c->reaped)
		return 0;
	if (++c->signals > 1) {
		kill(c->pid, SIGKILL);
		return 1;
	}
	/*
	 * The terminal sends SIGINT and SIGQUIT (Ctrl-C, Ctrl-\) to the
	 * whole foreground process group, as the kernel (SI_KERNEL): if
	 * COMMAND is still in ours it has its own copy, and a second one
	 * could interrupt its handler of the first.
	 */
	if (code == SI_KERNEL && getpgid(c->pid) == getpgrp())
		return 0;
	kill(c->pid, signo);
	return 0;
}

int command__wait(struct command *c, const sigset_t *sigs, int *status)
{
	siginfo_t si;

	/* SIGCHLD is blocked and in sigs: an exit after the check still wakes us */
	while (!c->reaped) {
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->reaped = 1;
			break;
		}
		if (sigwaitinfo(sigs, &si) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (si.si_signo != SIGCHLD)
			command__signal(c, si.si_signo, si.si_code);
	}
	*status = c->status;
	return 0;
}

void command__free(struct command *c)
{
	if (!c)
		return;
	if (!c->released && !c->reaped) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->go_fd >= 0)
		close(c->go_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	free(c);
}
