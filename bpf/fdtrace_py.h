/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Python call sites: the maps the kernel side shares with userspace to
 * walk a CPython interpreter's frames at an ADD or a DEL.
 *
 * Userspace tells the kernel which processes run an interpreter whose
 * layout it knows (py_procs, keyed by tgid: where _PyRuntime is and the
 * structure offsets of that version); the kernel walks the calling
 * thread's frames and keeps each distinct stack once in py_stacks under a
 * 32-bit id, which is all an epoll_ctl record (fdt_rec_epoll_ctl.py_stack)
 * and the summary mode's per-fd state carry.  The frames are (code object,
 * instruction) pairs: userspace names them from the live process.
 */
#ifndef __FDTRACE_PY_H
#define __FDTRACE_PY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define FDT_PY_MAX_FRAMES	16	/* innermost first; deeper frames are cut */
#define FDT_PY_MAX_THREADS	64	/* thread states looked at to find the caller's */
#define FDT_PY_MAX_STACKS	8192	/* py_stacks entries (LRU) */
#define FDT_PY_MAX_PROCS	1024	/* py_procs entries */

/* fdt_py_proc.layout */
#define FDT_PY_LAYOUT_311	1	/* CPython 3.11.x */

/*
 * py_procs value: one interpreter.  The offsets are the interpreter's own
 * (generated from its headers at build time), so the BPF walk knows no
 * version.
 */
struct fdt_py_proc {
	__u64 runtime;			/* address of _PyRuntime in the process */
	__u32 layout;			/* FDT_PY_LAYOUT_* */
	__u16 rt_interp_head;		/* _PyRuntimeState.interpreters.head */
	__u16 is_tstate_head;		/* PyInterpreterState.threads.head */
	__u16 ts_next;			/* PyThreadState.next */
	__u16 ts_native_tid;		/* PyThreadState.native_thread_id */
	__u16 ts_cframe;		/* PyThreadState.cframe */
	__u16 cf_current_frame;		/* _PyCFrame.current_frame */
	__u16 if_code;			/* _PyInterpreterFrame.f_code */
	__u16 if_previous;		/* _PyInterpreterFrame.previous */
	__u16 if_prev_instr;		/* _PyInterpreterFrame.prev_instr */
	__u16 if_owner;			/* _PyInterpreterFrame.owner */
	__u16 co_code_adaptive;		/* PyCodeObject.co_code_adaptive */
	__u16 co_firsttraceable;	/* PyCodeObject._co_firsttraceable */
	__u16 owned_by_generator;	/* FRAME_OWNED_BY_GENERATOR */
	__u16 pad;
	/*
	 * Which program of the process this describes (userspace counts):
	 * copied into every stack, so frames taken before an exec are never
	 * named from the program after it.
	 */
	__u32 gen;
	__u32 pad2;
};

struct fdt_py_frame {
	__u64 code;		/* PyCodeObject * */
	__u32 lasti;		/* code unit the frame was at (prev_instr) */
	__u32 pad;
};

/* fdt_py_stack.flags */
#define FDT_PYF_TRUNCATED	0x1	/* more frames than FDT_PY_MAX_FRAMES */

/* py_stacks value, keyed by the __u32 stack id */
struct fdt_py_stack {
	__u32 pid;		/* tgid the stack was taken in (part of its id) */
	__u16 nr;		/* frames[0 .. nr) are set, innermost first */
	__u16 flags;		/* FDT_PYF_* */
	__u32 gen;		/* fdt_py_proc.gen when it was taken (part of its id) */
	__u32 pad;
	struct fdt_py_frame frames[FDT_PY_MAX_FRAMES];
};

_Static_assert(sizeof(struct fdt_py_proc) == 48, "fdt_py_proc layout");
_Static_assert(sizeof(struct fdt_py_frame) == 16, "fdt_py_frame layout");
_Static_assert(sizeof(struct fdt_py_stack) == 272, "fdt_py_stack layout");

#endif /* __FDTRACE_PY_H */
