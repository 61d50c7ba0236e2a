/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Python call sites, userspace half (live only): which traced processes
 * run a CPython whose layout fdtrace knows, and the names of the frames
 * the kernel captured (fdtrace_py.h), read from the live process.
 *
 * An interpreter is found in the executable or in a mapped libpython3.x
 * (pyenv's builds link it), by the _PyRuntime symbol; its version by
 * Py_Version (3.11 and later), else by the file name.  Only 3.11's layout
 * is known (generated from its headers at build time).
 */
#ifndef __FDTRACE_PYSITES_H
#define __FDTRACE_PYSITES_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "fdtrace_py.h"

struct py_resolver;

struct py_resolver *py_resolver__new(void);
void py_resolver__free(struct py_resolver *r);

/*
 * pid was seen: fresh at first sight and after an exec, else at one more
 * of its records (an interpreter in a shared library is mapped a moment
 * after the exec: it is looked for again a few times).  Returns 1 with
 * *cfg to give the kernel, 0 for nothing to do, -EPROTONOSUPPORT once for
 * an interpreter of an unknown layout (its version in ver).  inherit_gen:
 * the generation of the entry the kernel copied from the parent at a
 * fork (the stacks it took already carry it), else 0.
 */
int py_resolver__seen(struct py_resolver *r, __u32 pid, bool fresh, __u32 inherit_gen,
		      struct fdt_py_proc *cfg, char *ver, size_t len);
/* The generation of pid's interpreter given to the kernel last (fdt_py_proc.gen), 0: none. */
__u32 py_resolver__gen(struct py_resolver *r, __u32 pid);
/* pid exited. */
void py_resolver__forget(struct py_resolver *r, __u32 pid);
/*
 * "file:line in function" for a frame of pid (code object, instruction),
 * read from the process now.  0, or a negative errno.
 */
int py_resolver__frame(struct py_resolver *r, __u32 pid, __u64 code, __u32 lasti,
		       char *buf, size_t len);

/* The 3.11 location table: the line of code unit lasti, or -1 (exposed for tests). */
int py311_line(const unsigned char *table, size_t len, int firstlineno, __u32 lasti);

#endif /* __FDTRACE_PYSITES_H */
