/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Python call sites: the frames of a CPython interpreter, walked at the
 * entry of an epoll_ctl ADD or DEL (included by fdtrace.bpf.c after its
 * helpers; maps and ABI in fdtrace_py.h).
 *
 * The walk is a program of its own, on sys_enter_epoll_ctl, that leaves
 * the stack's id for the thread's sys_exit_epoll_ctl (py_take()): the
 * exit handler's stack frame and the walk's together would pass the
 * 512 bytes 6.1 allows a chain of calls.  The thread is in the syscall
 * between the two: its frames do not move.
 *
 * The thread state is found without the GIL: select.epoll's register()
 * and unregister() release it around epoll_ctl (Py_BEGIN_ALLOW_THREADS),
 * so _PyRuntime.gilstate.tstate_current is NULL just then.  Every thread
 * state records the tid it runs on (PyThreadState.native_thread_id, new
 * in 3.11, from gettid(): in the process's own pid namespace), so the
 * caller's is the one in the interpreter's thread list with that tid.
 */
#ifndef __FDTRACE_PYSTACK_BPF_H
#define __FDTRACE_PYSTACK_BPF_H

#include "fdtrace_py.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FDT_PY_MAX_PROCS);
	__type(key, __u32);			/* tgid */
	__type(value, struct fdt_py_proc);
} py_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FDT_PY_MAX_STACKS);
	__type(key, __u32);			/* stack id */
	__type(value, struct fdt_py_stack);
} py_stacks SEC(".maps");

/* Where a stack is put together, and the frame being read */
struct py_scratch {
	struct fdt_py_stack st;
	__u8 win[64];		/* PY_FRAME_WINDOW */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_scratch);
} py_scratch SEC(".maps");

/* tid -> the stack id its epoll_ctl entry found, for the exit (0: none) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} py_call_ids SEC(".maps");

static __always_inline __u64 py_ptr(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline __u64 py_mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x100000001b3ULL;	/* FNV-1a 64 prime */
	return h ^ (h >> 29);
}

struct py_walk {
	const struct fdt_py_proc *c;
	struct py_scratch *sc;
	__u64 ts;		/* thread state, then */
	__u64 frame;		/* _PyInterpreterFrame */
	__u64 h;		/* hash of the frames so far */
	__u32 tid;
	__u32 n;		/* frames kept */
	__u32 flags;		/* FDT_PYF_* */
	__u32 found;		/* ts is the calling thread's */
};

/* bpf_loop() callback: stop at the thread state of the calling thread. */
static long py_find_tstate(__u32 i, struct py_walk *w)
{
	if (!w->ts)
		return 1;
	if (py_ptr(w->ts + w->c->ts_native_tid) == w->tid) {
		w->found = 1;
		return 1;
	}
	w->ts = py_ptr(w->ts + w->c->ts_next);
	return 0;
}

/*
 * The fields of a _PyInterpreterFrame the walk needs lie within this many
 * bytes from f_code (3.11: f_code 32, previous 48, prev_instr 56, owner
 * 69): one read per frame.  Userspace refuses a layout where they do not.
 */
#define PY_FRAME_WINDOW	64

/*
 * A code object's prefix (COPY_FREE_VARS, MAKE_CELL, RESUME) is a few
 * code units: prev_instr this far past the start is past it, and the
 * frame is complete without reading _co_firsttraceable.
 */
#define PY_PREFIX_MAX	64

static __always_inline __u64 py_field(const __u8 *win, __u16 off, __u16 base)
{
	return *(const __u64 *)(win + ((off - base) & (PY_FRAME_WINDOW - 8)));
}

/* bpf_loop() callback: keep one frame, go to the caller's. */
static long py_frame(__u32 i, struct py_walk *w)
{
	__u64 frame = w->frame, code, prev, first;
	struct fdt_py_stack *st = &w->sc->st;
	__u8 *win = w->sc->win;
	__u32 n = w->n;
	__u16 base = w->c->if_code;
	__u8 owner;

	if (!frame)
		return 1;
	if (n >= FDT_PY_MAX_FRAMES) {
		w->flags |= FDT_PYF_TRUNCATED;
		return 1;
	}
	if (bpf_probe_read_user(win, PY_FRAME_WINDOW, (void *)(frame + base)))
		return 1;
	code = py_field(win, w->c->if_code, base);
	prev = py_field(win, w->c->if_prev_instr, base);
	owner = win[(w->c->if_owner - base) & (PY_FRAME_WINDOW - 1)];
	w->frame = py_field(win, w->c->if_previous, base);
	if (!code)
		return 0;
	first = code + w->c->co_code_adaptive;
	/*
	 * _PyFrame_IsIncomplete(): a frame still being set up has run none
	 * of its code; CPython's own tracebacks skip it.
	 */
	if (owner != w->c->owned_by_generator && prev < first + PY_PREFIX_MAX) {
		__s32 firsttraceable = 0;

		bpf_probe_read_user(&firsttraceable, sizeof(firsttraceable),
				    (void *)(code + w->c->co_firsttraceable));
		if (prev < first + 2 * (__u64)firsttraceable)
			return 0;
	}
	st->frames[n].code = code;
	st->frames[n].lasti = (prev - first) >> 1;	/* _Py_CODEUNIT: 2 bytes */
	st->frames[n].pad = 0;
	w->h = py_mix(py_mix(w->h, code), st->frames[n].lasti);
	w->n = n + 1;
	return 0;
}

/*
 * The id of the calling thread's Python stack, kept in py_stacks; 0 when
 * the process is not a known interpreter or the thread runs no Python.
 * bpf_loop() (5.17) rather than bounded loops: with a frame count and a
 * hash in flight, a loop's states do not prune and the verifier gives up.
 * A global function, verified once on its own: inlined as a static one,
 * 6.1's verifier lost track of which ring buffer reservation the
 * epoll_ctl handler was filling after it.
 */
static __noinline __u32 py_stack_id(__u32 pid, __u32 tid)
{
	struct py_walk w = {};
	__u32 zero = 0, id;

	w.c = bpf_map_lookup_elem(&py_procs, &pid);
	w.sc = bpf_map_lookup_elem(&py_scratch, &zero);
	if (!w.c || !w.sc)
		return 0;
	w.tid = tid;
	/* the main interpreter only: subinterpreters are rare in servers */
	w.ts = py_ptr(w.c->runtime + w.c->rt_interp_head);
	if (!w.ts)
		return 0;
	w.ts = py_ptr(w.ts + w.c->is_tstate_head);
	bpf_loop(FDT_PY_MAX_THREADS, py_find_tstate, &w, 0);
	if (!w.found)
		return 0;
	w.frame = py_ptr(w.ts + w.c->ts_cframe);
	w.frame = w.frame ? py_ptr(w.frame + w.c->cf_current_frame) : 0;
	w.h = py_mix(py_mix(0xcbf29ce484222325ULL, pid), w.c->gen);
	/* a few more steps than frames kept: incomplete frames are skipped */
	bpf_loop(FDT_PY_MAX_FRAMES + 8, py_frame, &w, 0);
	if (!w.n)
		return 0;
	w.sc->st.pid = pid;
	w.sc->st.gen = w.c->gen;
	w.sc->st.pad = 0;
	w.sc->st.nr = w.n;
	w.sc->st.flags = w.flags;
	id = (__u32)(w.h ^ (w.h >> 32));
	if (!id)
		id = 1;
	/* an id already there is the same stack (or a collision: 1 in 2^32) */
	bpf_map_update_elem(&py_stacks, &id, &w.sc->st, BPF_NOEXIST);
	return id;
}

/* The calling thread's tid in its own pid namespace: what gettid() says there. */
static __always_inline __u32 py_own_tid(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;

	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

/*
 * Loaded with --stacks only.  A process userspace described in py_procs
 * is one fdtrace traces: the walk needs no other filter.
 */
static __always_inline void py_epoll_ctl_enter(int op)
{
	__u64 pid_tgid = cur_pid_tgid();
	__u32 pid = pid_tgid >> 32, tid = pid_tgid, id;

	if (op != FDT_EPOLL_CTL_ADD && op != FDT_EPOLL_CTL_DEL)
		return;
	if (!bpf_map_lookup_elem(&py_procs, &pid))
		return;
	id = py_stack_id(pid, py_own_tid());
	bpf_map_update_elem(&py_call_ids, &tid, &id, BPF_ANY);
}

/* the fentry backend's twin is fentry_py_epoll_ctl (hooks_fentry.bpf.h) */
SEC("tp/syscalls/sys_enter_epoll_ctl")
int handle_py_epoll_ctl(struct trace_event_raw_sys_enter *ctx)
{
	py_epoll_ctl_enter(ctx->args[1]);
	return 0;
}

/* At the exit of epoll_ctl: the id its entry left for this thread, taken. */
static __always_inline __u32 py_take(__u32 tid)
{
	__u32 *v = bpf_map_lookup_elem(&py_call_ids, &tid), id;

	if (!v)
		return 0;
	id = *v;
	bpf_map_delete_elem(&py_call_ids, &tid);
	return id;
}

/*
 * A forked child runs the parent's interpreter at the same addresses:
 * its frames are walked from its first call, before userspace has seen
 * it (py_resolver__seen() adopts the entry and its generation).
 */
static __always_inline void py_inherit(__u32 parent, __u32 child)
{
	struct fdt_py_proc *c = bpf_map_lookup_elem(&py_procs, &parent);

	if (c)
		bpf_map_update_elem(&py_procs, &child, c, BPF_ANY);
}

/* exec or exit: the interpreter userspace described is gone */
static __always_inline void py_forget(__u32 tgid)
{
	bpf_map_delete_elem(&py_procs, &tgid);
}

#endif /* __FDTRACE_PYSTACK_BPF_H */
