/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Live mode: trace processes on this kernel (see live.c). */
#ifndef __FDTRACE_LIVE_H
#define __FDTRACE_LIVE_H

#include "env.h"
#include "output.h"

/* Trace what env names until it is done; returns fdtrace's exit status. */
int live__run(const struct env *env, struct output *out);

#endif /* __FDTRACE_LIVE_H */
