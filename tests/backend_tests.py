# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""--backend: the fentry/fexit hooks against the syscall tracepoints.

Where the kernel allows fentry (Debian 12's 6.1 and 6.12 in the VM
tests), every scenario runs once per backend and the findings, summary
counters and totals must be equal (stream_tests' comparison: records
delivered and lost-event counts may differ, nothing a user reads may).
Where it refuses fentry (this project's 6.18 host: EPERM), auto must
fall back to tracepoints and a forced fentry must fail with one line and
leave nothing attached.  Whichever applies, the other is a visible skip.
"""
import os
import re
import shlex
import signal

import harness as h
from harness import test, check, Skip
from stream_tests import findings, compare_runs

# The syscall hooks of each backend (compared on their first 15
# characters: all the kernel keeps where bpftool has no BTF to name them).  The sched hooks (handle_exec,
# handle_exit; handle_fork with -f) are the same in both.
TP_HOOKS = {"handle_epoll_ctl", "handle_close", "handle_close_range", "handle_dup2",
            "handle_dup2_exit", "handle_dup3", "handle_dup3_exit"}
FENTRY_HOOKS = {"fexit_epoll_ctl", "fentry_close", "fentry_close_range", "fentry_dup2",
                "fexit_dup2", "fentry_dup3", "fexit_dup3"}
SCHED_HOOKS = {"handle_exec", "handle_exit"}

_auto = {}      # build dir -> the backend auto chose on this kernel


def auto_backend(ctx):
    """What --backend=auto picks here (one short run, remembered)."""
    if ctx.build not in _auto:
        ft = ctx.fdtrace("-j", "-v", "--", "/bin/true")
        rc = ft.wait(60)
        check(rc == 0, f"fdtrace -- true exited {rc}: {ft.stderr_lines()[-3:]}")
        start = [e for e in ft.events() if e["event"] == "start"]
        check(len(start) == 1, f"{len(start)} start events")
        check(start[0].get("backend") in ("fentry", "tracepoint"),
              f"start event: backend {start[0].get('backend')!r}")
        _auto[ctx.build] = (start[0]["backend"], ft.stderr_lines())
    return _auto[ctx.build]


def need_fentry(ctx):
    backend, err = auto_backend(ctx)
    if backend != "fentry":
        why = next((line for line in err if line.startswith("fdtrace: backend ")), "")
        raise Skip(f"this kernel refuses fentry ({why})")


def start(ctx, backend, argv, grace, extra=()):
    return ctx.fdtrace("-j", "-g", grace, f"--backend={backend}", *extra, "--", *argv)


def finish(ft, backend, name, timeout=120):
    rc = ft.wait(timeout)
    check(rc == 0, f"{name} --backend={backend}: status {rc}: {ft.stderr_lines()[-3:]}")
    evs = ft.events()
    first = [e for e in evs if e["event"] == "start"]
    check(first and first[0].get("backend") == backend,
          f"{name} --backend={backend}: the start event says {first[:1]}")
    return evs


def both(ctx, name, argv_of, grace, extra=()):
    """
    Run argv_of(backend) under each backend, the two at once (each fdtrace
    traces only its own command): half the time under TCG.
    """
    fts = {b: start(ctx, b, argv_of(b), grace, extra) for b in ("tracepoint", "fentry")}
    return {b: finish(ft, b, name) for b, ft in fts.items()}


def compare(ctx, name, evs, ignore=()):
    tt, tf = compare_runs(name, {b: evs[b] for b in ("tracepoint", "fentry")}, ignore)
    check(tt["records"] == tf["records"],
          f"{name}: records: tracepoint {tt['records']}, fentry {tf['records']}")
    ctx.log(f"{name}: {sum(findings(evs['tracepoint']).values())} findings, "
            f"{tt['records']} records with both backends")


# The C close paths (each way an fd ends: close, close_range, dup2/dup3
# onto it or failing to, exec, exit, an epoll fd closed under its
# watches) and the leak.  make test's VM run has about a minute for this
# module under TCG, so they run one after the other under one fdtrace -f
# per backend, not one fdtrace each.
SCENARIOS = ("leak", "close", "close_range", "dup2", "dup3", "dup_fails", "exec", "exit",
             "threads", "two_epolls_close")


def progs_of(pid):
    """name (as BPF keeps it: 15 characters) -> type, of the programs process pid holds."""
    holders = h.bpf_prog_holders()
    return {p.get("name", "")[:15]: p.get("type") for p in h.bpf_progs()
            if pid in holders.get(p["id"], ())}


def short(names):
    return {n[:15] for n in names}


@test(timeout=200)
def backend_fentry_equals_tracepoint(ctx):
    """Where fentry loads: the C scenarios give the same findings, counts and records with either backend."""
    need_fentry(ctx)
    grace = 0.3

    def argv(backend):
        steps = [shlex.join(map(str, ctx.scenario_argv(
            n, grace, report=ctx.path(f"acc-{backend}-{n}.jsonl")))) for n in SCENARIOS]
        return ["/bin/sh", "-c", "; ".join(steps)]

    compare(ctx, "scenarios", both(ctx, "scenarios", argv, grace, extra=("-f",)))
    for backend in ("tracepoint", "fentry"):
        for n in SCENARIOS:
            lines = h.read_account(ctx.path(f"acc-{backend}-{n}.jsonl"))
            check(lines and lines[-1]["ev"] == "exit",
                  f"--backend={backend}: scenario {n} did not finish")


@test(timeout=150)
def backend_fentry_equals_tracepoint_asyncio(ctx):
    """
    Where fentry loads: the asyncio leak (exactly the same findings) and a
    server under back-pressure (nothing found, each run held against its
    own account: how often it pauses follows the machine's timing).
    While fdtrace -p runs, the programs it holds are its backend's only.
    """
    need_fentry(ctx)
    compare(ctx, "asyncio_leak", both(ctx, "asyncio_leak", lambda b: [
        h.PYTHON, os.path.join(h.WORKLOADS, "asyncio_leak.py"), "-o", ctx.path(f"acc-{b}.jsonl"),
        "-g", 0.5, "-n", 4, "--loop", "asyncio"], 0.5), ignore=("fd",))

    grace, wls, fts = 0.5, {}, {}
    for backend in ("tracepoint", "fentry"):
        report = ctx.path(f"bp-{backend}.jsonl")
        wls[backend] = ctx.workload([h.PYTHON, os.path.join(h.WORKLOADS, "asyncio_backpressure.py"),
                                     "-o", report, "-n", 4, "-s", 2 << 20, "--loop", "asyncio",
                                     "--wait", "--hold"], report)
    for backend, wl in wls.items():
        ready = wl.wait_ev("ready", 30)
        fts[backend] = ctx.fdtrace("-j", "-g", grace, "-p", ready["pid"], f"--backend={backend}")
    for backend, ft in fts.items():
        ft.wait_start(60)
        progs = progs_of(ft.pid)
        mine, other = ((FENTRY_HOOKS, TP_HOOKS) if backend == "fentry" else
                       (TP_HOOKS, FENTRY_HOOKS))
        check(short(mine | SCHED_HOOKS) <= set(progs) and not short(other) & set(progs),
              f"--backend={backend}: fdtrace holds {sorted(progs)}")
        tps = [n for n, t in progs.items() if t == "tracepoint" and n not in short(SCHED_HOOKS)]
        check(backend == "tracepoint" or not tps,
              f"--backend=fentry attached syscall tracepoints: {tps}")
    for wl in wls.values():
        wl.tell()
    evs = {}
    for backend, wl in wls.items():
        wl.wait_ev("done", 90)
        ft = fts[backend]
        ft.signal(signal.SIGINT)
        rc = ft.wait(30)
        check(rc == 0, f"fdtrace -p exited {rc} after SIGINT: {ft.stderr_lines()[-3:]}")
        wl.tell()
        wl.wait(30)
        h.check_report(ft, [h.Expect.from_account(wl.account(), until_done=True)], grace)
        evs[backend] = ft.events()
        s = [e for e in evs[backend] if e["event"] == "summary"][0]
        check(s["rewatched"] > 0, f"--backend={backend}: no transport was paused and resumed: {s}")
        ctx.log(f"back-pressure, {backend}: {s}")
    ft_, ff = findings(evs["tracepoint"]), findings(evs["fentry"])
    check(ft_ == ff, f"back-pressure findings differ: tracepoint {ft_}, fentry {ff}")


@test(timeout=60)
def backend_refused_falls_back(ctx):
    """
    Where fentry is refused: auto says tracepoint (and -v why), a forced
    fentry is one error line, exit 2, and leaves no BPF program behind.
    """
    backend, err = auto_backend(ctx)
    if backend == "fentry":
        raise Skip("this kernel allows fentry")
    check(any(re.match(r"fdtrace: backend tracepoint \(fentry: .+\)$", line) for line in err),
          f"-v does not say why auto fell back: {err[:5]}")
    before = h.bpf_prog_ids()
    for args in (("--",), ("-j", "--")):
        ft = ctx.fdtrace("--backend=fentry", *args, *ctx.scenario_argv("close", 0.3))
        rc = ft.wait(30)
        check(rc == 2, f"fdtrace --backend=fentry {' '.join(args)}: status {rc}, not 2")
        lines = ft.stderr_lines()
        check(len(lines) == 1 and "fentry backend is not available" in lines[0],
              f"fdtrace --backend=fentry {' '.join(args)}: stderr {lines}")
        check(not ft.stdout_lines(), f"stdout: {ft.stdout_lines()}")
        left = h.bpf_left(before)
        check(not left, f"BPF programs left after a refused --backend=fentry: {left}")
    finish(start(ctx, "tracepoint", ctx.scenario_argv("close", 0.3), 0.3), "tracepoint", "close")
    ctx.log(f"refused: {lines[0]}")


@test(timeout=30)
def backend_option_invalid(ctx):
    """--backend takes auto, tracepoint or fentry; anything else is exit 2, one line."""
    ft = ctx.fdtrace("--backend=kprobe", "--", "/bin/true")
    rc = ft.wait(20)
    check(rc == 2, f"status {rc}")
    check(ft.stderr_lines() == ["fdtrace: invalid --backend 'kprobe': give auto, tracepoint or fentry"],
          f"stderr {ft.stderr_lines()}")
