/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Call sites: the return address the kernel side read at an ADD or a DEL
 * (fdt_rec_epoll_ctl.site), as "function+0x1c (file.c:57) [module]".
 *
 * A resolver (live only: it reads the process's mappings and ELF/DWARF
 * files through elfutils' libdwfl) keeps one Dwfl per process, dropped at
 * exec and exit so a name is never taken from stale mappings, and a
 * cache of the strings it made.  The strings are also what a recording
 * keeps (RECORD_SITE), so a replay elsewhere names the same sites: there
 * the table is filled from the recording instead.
 */
#ifndef __FDTRACE_SITES_H
#define __FDTRACE_SITES_H

#include <stddef.h>
#include <linux/types.h>

#define SITE_LEN	160

struct sites;

/*
 * Python frames (fdtrace_py.h) live in the same table: frame i of stack
 * id under a key no return address can be (user addresses stay below
 * 2^57).  SITE_PY_FRAMES_LEN holds every frame of a stack, joined.
 */
#define SITE_PY_KEY(id, i)	((1ULL << 63) | ((__u64)(id) << 8) | (__u64)(i))
#define SITE_PY_FRAMES_LEN	((16 + 1) * SITE_LEN)

/* Name addr of pid into buf: 0, or a negative errno. */
typedef int (*site_resolve_fn)(void *ctx, __u32 pid, __u64 addr, char *buf, size_t len);
/* pid exec'd or exited. */
typedef void (*site_forget_fn)(void *ctx, __u32 pid);

/* NULL and errno set on failure.  resolve NULL: a table fed by sites__set() only. */
struct sites *sites__new(site_resolve_fn resolve, site_forget_fn forget, void *ctx);
/*
 * The name of addr in pid: from the cache, else resolved (if this table
 * resolves), else NULL.  *fresh is set when it was resolved just now (the
 * caller records it).
 */
const char *sites__name(struct sites *s, __u32 pid, __u64 addr, int *fresh);
/* Teach the table a name (replay: from the recording). */
int sites__set(struct sites *s, __u32 pid, __u64 addr, const char *name);
/*
 * The frames of Python stack id of pid known to the table, innermost
 * first, joined by '\n' into buf (if len): how many there are.
 */
int sites__py_frames(struct sites *s, __u32 pid, __u32 id, char *buf, size_t len);
/* pid exec'd or exited: its mappings and names are gone. */
void sites__forget(struct sites *s, __u32 pid);
void sites__free(struct sites *s);

/* The live resolver, with libdwfl (sites_dwfl.c): its functions fit sites__new(). */
struct dwfl_resolver;
struct dwfl_resolver *dwfl_resolver__new(void);
int dwfl_resolver__name(void *ctx, __u32 pid, __u64 addr, char *buf, size_t len);
void dwfl_resolver__forget(void *ctx, __u32 pid);
void dwfl_resolver__free(struct dwfl_resolver *r);

#endif /* __FDTRACE_SITES_H */
