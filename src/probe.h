/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * What the running kernel lets fdtrace use, found by trying it: a kernel
 * version says little (distributions backport, and some kernels refuse a
 * feature they have).  Only tracer.c calls this.
 */
#ifndef __FDTRACE_PROBE_H
#define __FDTRACE_PROBE_H

#include <stddef.h>

/*
 * Can an fentry program be loaded for, and attached to, each of the n
 * kernel functions funcs?  A do-nothing program is loaded and attached to
 * each in turn and removed at once.  0, or a negative errno with a
 * one-line reason in errbuf naming the function and the step that failed.
 */
int probe__fentry(const char *const *funcs, size_t n, char *errbuf, size_t errlen);

#endif /* __FDTRACE_PROBE_H */
