/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The fentry/fexit backend: the same bodies as the syscall tracepoints,
 * entered from the x86-64 syscall wrappers instead.  Included at the end
 * of fdtrace.bpf.c; userspace loads either these or the tp/syscalls
 * programs, never both (tracer.c, by section name).
 *
 * Why: any syscall tracepoint sets TIF_SYSCALL_TRACEPOINT on every task,
 * which sends each of their syscalls through the slow entry/exit path;
 * fentry and fexit patch only the functions they hook.  The sched
 * tracepoints (exec, exit, fork) stay: they are not on the syscall path.
 *
 * The hook points, __x64_sys_NAME(const struct pt_regs *regs), take the
 * user registers saved at syscall entry (the same frame as
 * bpf_task_pt_regs()), arguments in di, si, dx, r10.  That convention
 * dates from 4.17 (fa697140f9a2 "syscalls/x86: Use 'struct pt_regs'
 * based syscall calling convention for 64-bit syscalls") and holds to
 * 6.18; all five names are in the BTF of Debian 12's 6.1 and 6.12 and of
 * 6.18.  Since 6.9 (1e3ad78334a6 "x86/syscall: Don't force use of
 * indirect calls for system calls", backported to the stable series:
 * Debian's 6.1 has it) x64_sys_call() calls them directly from a switch,
 * still as out-of-line functions: the VM tests see fentry fire on both.
 *
 * fentry/fexit need 5.5 (fc9702273e2e "bpf: Add support for BPF
 * trampoline") and BTF; bpf_loop() makes fdtrace's floor 5.17 anyway.
 * A kernel built without ftrace direct calls, or one that refuses them
 * (this project's 6.18 test machine: EPERM), gets the tracepoints.
 *
 * Not hooked: __ia32_sys_* (32-bit programs on a 64-bit kernel).  The
 * tracepoint backend does not see those either: x86 defines
 * ARCH_TRACE_IGNORE_COMPAT_SYSCALLS, so sys_enter_* / sys_exit_* never
 * fire for a compat syscall.  Both backends see the same calls.
 */
#ifndef __FDTRACE_HOOKS_FENTRY_BPF_H
#define __FDTRACE_HOOKS_FENTRY_BPF_H

/*
 * regs is the saved user frame itself (current_pt_regs()), so the site
 * (the user stack pointer) and the struct epoll_event pointer come from
 * it exactly as the tracepoint reads them.
 */
SEC("fexit/__x64_sys_epoll_ctl")
int BPF_PROG(fexit_epoll_ctl, const struct pt_regs *regs, long ret)
{
	return epoll_ctl_exit((struct pt_regs *)regs, ret);
}

/* --stacks: the Python frame walk, at entry (pystack.bpf.h) */
SEC("fentry/__x64_sys_epoll_ctl")
int BPF_PROG(fentry_py_epoll_ctl, const struct pt_regs *regs)
{
	py_epoll_ctl_enter(PT_REGS_PARM2_SYSCALL(regs));
	return 0;
}

SEC("fentry/__x64_sys_close")
int BPF_PROG(fentry_close, const struct pt_regs *regs)
{
	close_enter(PT_REGS_PARM1_SYSCALL(regs));
	return 0;
}

SEC("fentry/__x64_sys_close_range")
int BPF_PROG(fentry_close_range, const struct pt_regs *regs)
{
	return close_range_enter(PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),
				 PT_REGS_PARM3_SYSCALL(regs));
}

/*
 * dup2/dup3 keep their entry/exit pair: by fexit newfd names the new
 * file already, and what the close would say is read before.
 */
SEC("fentry/__x64_sys_dup2")
int BPF_PROG(fentry_dup2, const struct pt_regs *regs)
{
	dup_enter(PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs));
	return 0;
}

SEC("fexit/__x64_sys_dup2")
int BPF_PROG(fexit_dup2, const struct pt_regs *regs, long ret)
{
	dup_exit(ret);
	return 0;
}

SEC("fentry/__x64_sys_dup3")
int BPF_PROG(fentry_dup3, const struct pt_regs *regs)
{
	dup_enter(PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs));
	return 0;
}

SEC("fexit/__x64_sys_dup3")
int BPF_PROG(fexit_dup3, const struct pt_regs *regs, long ret)
{
	dup_exit(ret);
	return 0;
}

#endif /* __FDTRACE_HOOKS_FENTRY_BPF_H */
