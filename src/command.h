/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Run COMMAND traced from its first instruction: fork a child that waits
 * until the tracer is attached, then execs.
 */
#ifndef __FDTRACE_COMMAND_H
#define __FDTRACE_COMMAND_H

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

struct command;

/*
 * Fork a child that will exec argv once released.  The child restores
 * sigmask, and RLIMIT_NOFILE to *nofile unless NULL, before exec.  NULL
 * and errno set on failure; ENOENT/EACCES when argv[0] cannot be executed
 * (checked before forking).
 */
struct command *command__new(char **argv, const sigset_t *sigmask,
			     const struct rlimit *nofile);
pid_t command__pid(const struct command *c);
/*
 * Let the child exec.  Returns 0 once it has exec'd, or the negative
 * errno execvp() failed with (the child is reaped then).
 */
int command__release(struct command *c);
/* Reap the child without blocking: 1 and *status if it exited, else 0. */
int command__reap(struct command *c, int *status);
/*
 * fdtrace got a stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT; code is
 * its si_code) while the released command runs: pass it on, unless the
 * terminal sent it to the command as well.  The second one kills the
 * command with SIGKILL, and returns 1; else 0.
 */
int command__signal(struct command *c, int signo, int code);
/*
 * Wait for the command to exit, passing on the stop signals in sigs as
 * command__signal() does.  sigs must be blocked and hold SIGCHLD.
 * 0 and *status (a wait status), or a negative errno.
 */
int command__wait(struct command *c, const sigset_t *sigs, int *status);
/* Kill (if still held or running) and reap; free. */
void command__free(struct command *c);

#endif /* __FDTRACE_COMMAND_H */
