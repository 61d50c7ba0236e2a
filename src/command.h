/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Run COMMAND traced from its first instruction: fork a child that waits
 * until the tracer is attached, then execs.
 */
#ifndef __FDTRACE_COMMAND_H
#define __FDTRACE_COMMAND_H

#include <signal.h>
#include <sys/types.h>

struct command;

/*
 * Fork a child that will exec argv once released.  The child restores
 * sigmask before exec.  NULL and errno set on failure; ENOENT/EACCES when
 * argv[0] cannot be executed (checked before forking).
 */
struct command *command__new(char **argv, const sigset_t *sigmask);
pid_t command__pid(const struct command *c);
/*
 * Let the child exec.  Returns 0 once it has exec'd, or the negative
 * errno execvp() failed with.
 */
int command__release(struct command *c);
/* Reap the child without blocking: 1 and *status if it exited, else 0. */
int command__reap(struct command *c, int *status);
/* Kill (if still held or running) and reap; free. */
void command__free(struct command *c);

#endif /* __FDTRACE_COMMAND_H */
