# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace as a command: its text output, exit status, usage errors, help,
signals, -d, -p with several processes, and its own descriptors.

The workloads are tests/workloads/scenarios.c, as in close_tests.py; here
the subject is how fdtrace starts, stops and detaches, not the close
paths.  Detaching is checked on the BPF programs themselves (bpftool):
none of ours may stay loaded.
"""
import os
import re
import signal
import time

import harness as h
from harness import (test, check, Expect, FINDINGS, LATENCY_S, PYTHON, Proc, bpf_left,
                     bpf_prog_ids, check_report, our_new_progs, read_account)


@test()
def text_output(ctx):
    """Without -j: one LEAK line per leaked fd with its pid, comm, fd, epfd, type and inode."""
    grace = 0.5
    report = ctx.path("account.jsonl")
    ft = ctx.fdtrace("-g", grace, "--", *ctx.scenario_argv("leak", grace))
    rc = ft.wait(30)
    check(rc == 0, f"status {rc}")
    x = Expect.from_account(read_account(report), until_done=False)
    out = ft.stdout_lines()
    for line in out:
        check(not line.startswith("{"), f"JSON on stdout without -j: {line}")
    leak_lines = [l for l in out if re.search(r"\bleak\b", l, re.I) and str(x.pid) in l.split()]
    check(len(leak_lines) == len(x.leaks),
          f"{len(leak_lines)} leak lines for {len(x.leaks)} leaks: {leak_lines}")
    arrival = {l: t for t, l in ft.out}
    for l in x.leaks:
        want = [str(x.pid), l["comm"], str(l["fd"]), str(l["epfd"]), l["type"], str(l["inode"])]
        found = [line for line in leak_lines if all(w in line.split() for w in want)]
        check(found, f"no leak line with {' '.join(want)}: {leak_lines}")
        late = arrival[found[0]] - (l["real"] + grace)
        check(late <= LATENCY_S + 0.25,
              f"leak line of fd {l['fd']} printed {late:.2f}s after grace expired (stdout not flushed?)")
    check(any(str(x.pid) in line and re.search(r"watches", line)
              for line in out), f"no summary line for pid {x.pid}: {out[-3:]}")


@test()
def cmd_exit_status(ctx):
    """fdtrace -- COMMAND exits with COMMAND's exit status."""
    for argv, want in ((["/bin/sh", "-c", "exit 7"], 7), (["/bin/true"], 0), (["/bin/false"], 1)):
        ft = ctx.fdtrace("-j", "--", *argv)
        rc = ft.wait(20)
        check(rc == want, f"fdtrace -- {' '.join(argv)}: status {rc}, expected {want}")
        evs = ft.events()
        check(evs and evs[0]["event"] == "start" and evs[-1]["event"] == "totals",
              f"fdtrace -j -- {' '.join(argv)}: output is not start ... totals: {ft.stdout_lines()}")


def expect_usage_error(ctx, args, what):
    ft = ctx.fdtrace(*args)
    rc = ft.wait(20)
    err = ft.stderr_lines()
    check(rc == 2, f"{what} (fdtrace {' '.join(map(str, args))}): status {rc}, expected 2; stderr {err}")
    check(len(err) == 1 and err[0].strip(),
          f"{what} (fdtrace {' '.join(map(str, args))}): stderr must be exactly one line, got {err}")
    check(not ft.stdout_lines(), f"{what}: stdout not empty: {ft.stdout_lines()}")
    ctx.log(f"{what}: {err[0]}")


@test(timeout=90)
def cli_errors(ctx):
    """Bad pids, options and commands: exit 2, one line on stderr, nothing attached."""
    pid = 999999
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    expect_usage_error(ctx, ["-p", pid], "nonexistent pid")
    expect_usage_error(ctx, ["-p", "abc"], "pid not a number")
    expect_usage_error(ctx, ["--no-such-option"], "unknown option")
    expect_usage_error(ctx, ["--", "/nonexistent/command"], "command that does not exist")
    expect_usage_error(ctx, ["-g", "-1", "--", "/bin/true"], "negative grace")
    expect_usage_error(ctx, ["-g", "abc", "--", "/bin/true"], "grace not a number")
    expect_usage_error(ctx, ["-d", "-1", "--", "/bin/true"], "negative duration")
    # one good pid and one that does not exist: whatever was attached is undone
    sleeper = Proc(ctx, ["/bin/sleep", "60"], name="sleep")
    expect_usage_error(ctx, ["-p", f"{sleeper.pid},{pid}"], "one of two pids nonexistent")
    expect_usage_error(ctx, ["-p", sleeper.pid, "-p", pid], "second -p nonexistent")
    # a thread id is a task but not a process: fdtrace names the process
    threaded = Proc(ctx, [PYTHON, "-c", "import threading, time\n"
                          "t = threading.Thread(target=time.sleep, args=(60,), daemon=True)\n"
                          "t.start(); print(t.native_id, flush=True); time.sleep(60)"],
                    name="threaded")
    end = time.time() + 10
    while not threaded.stdout_lines() and time.time() < end:
        time.sleep(0.05)
    check(threaded.stdout_lines(), "the threaded helper printed no thread id")
    tid = int(threaded.stdout_lines()[0])
    ft = ctx.fdtrace("-p", tid)
    rc = ft.wait(20)
    err = ft.stderr_lines()
    check(rc == 2 and err == [f"fdtrace: {tid} is a thread of process {threaded.pid}: trace {threaded.pid}"],
          f"-p THREAD-ID: status {rc}, stderr {err}")


@test()
def cli_help_version(ctx):
    """-h prints usage with examples, -V a version; both exit 0."""
    ft = ctx.fdtrace("-h")
    rc = ft.wait(10)
    text = "\n".join(ft.stdout_lines() + ft.stderr_lines())
    check(rc == 0, f"fdtrace -h: status {rc}")
    for opt in ("-p", "--grace", "--duration", "--json", "--version", "--"):
        check(opt in text, f"fdtrace -h does not mention {opt}")
    check(re.search(r"example", text, re.I), "fdtrace -h shows no examples")
    ft = ctx.fdtrace("-V")
    rc = ft.wait(10)
    out = ft.stdout_lines()
    check(rc == 0 and len(out) == 1 and out[0].strip(), f"fdtrace -V: status {rc}, stdout {out}")
    # the release version from VERSION, then the commit it was built from
    with open(os.path.join(h.ROOT, "VERSION")) as f:
        version = f.read().strip()
    check(re.fullmatch(rf"fdtrace {re.escape(version)} \(([0-9a-f]{{7,}}(-dirty)?|unknown)\)", out[0]),
          f"fdtrace -V says {out[0]!r}, expected 'fdtrace {version} (COMMIT)'")


def detach_on_signal(ctx, sig):
    grace = 0.5
    report = ctx.path("account.jsonl")
    wl = ctx.workload(ctx.scenario_argv("fd_reuse_leak", grace, "--wait", "--hold"), report)
    ready = wl.wait_ev("ready", 15)
    before = bpf_prog_ids()
    ft = ctx.fdtrace("-j", "-g", grace, "-p", ready["pid"])
    ft.wait_start()
    progs = our_new_progs(before)
    ctx.log(f"programs while tracing: {progs}")
    check(progs, "no new BPF program is loaded while fdtrace traces (is bpftool seeing them?)")
    wl.tell()
    wl.wait_ev("done", 20)
    ft.signal(sig)
    rc = ft.wait(15)
    check(rc == 0, f"fdtrace exited with status {rc} after {sig.name}")
    check_report(ft, [Expect.from_account(wl.account(), until_done=True)], grace)
    left = bpf_left(before)
    check(not left, f"BPF programs left after {sig.name}: {left}")
    wl.tell()
    wl.wait(10)


@test()
def sigint_detaches(ctx):
    """SIGINT: summary and totals, and no BPF program left behind."""
    detach_on_signal(ctx, signal.SIGINT)


@test()
def sigterm_detaches(ctx):
    """SIGTERM: summary and totals, and no BPF program left behind."""
    detach_on_signal(ctx, signal.SIGTERM)


@test()
def sigint_before_any_event(ctx):
    """SIGINT right after the start line: a clean exit with totals."""
    sleeper = Proc(ctx, ["/bin/sleep", "60"], name="sleep")
    ft = ctx.fdtrace("-j", "-p", sleeper.pid)
    ft.wait_start()
    ft.signal(signal.SIGINT)
    rc = ft.wait(15)
    check(rc == 0, f"status {rc} after SIGINT")
    evs = ft.events()
    check(evs[-1]["event"] == "totals", f"last line is not totals: {evs[-1]}")
    check(not [e for e in evs if e["event"] in FINDINGS], f"findings for sleep(1): {evs}")


@test()
def duration_stops(ctx):
    """-d: fdtrace stops by itself, with summary and totals."""
    grace = 0.5
    report = ctx.path("account.jsonl")
    wl = ctx.workload(ctx.scenario_argv("fd_reuse_leak", grace, "--wait", "--hold"), report)
    ready = wl.wait_ev("ready", 15)
    ft = ctx.fdtrace("-j", "-g", grace, "-d", "4", "-p", ready["pid"])
    ft.wait_start()
    t0 = time.time()
    wl.tell()
    wl.wait_ev("done", 20)
    rc = ft.wait(10)
    took = time.time() - t0
    check(rc == 0, f"fdtrace -d 4 exited with status {rc}")
    check(2.5 <= took <= 6, f"fdtrace -d 4 stopped after {took:.1f}s")
    check_report(ft, [Expect.from_account(wl.account(), until_done=True)], grace)
    wl.tell()
    wl.wait(10)


@test()
def traced_exit_stops(ctx):
    """The only traced process exits: its summary appears and fdtrace exits by itself."""
    grace = 0.5
    report = ctx.path("account.jsonl")
    wl = ctx.workload(ctx.scenario_argv("late_close", grace, "--wait", "--hold"), report)
    ready = wl.wait_ev("ready", 15)
    ft = ctx.fdtrace("-j", "-g", grace, "-p", ready["pid"])
    ft.wait_start()
    wl.tell()
    wl.wait_ev("done", 20)
    check(ft.running(), "fdtrace exited before the traced process did")
    wl.tell()
    wl.wait(10)
    rc = ft.wait(10)
    check(rc == 0, f"fdtrace exited with status {rc}")
    check_report(ft, [Expect.from_account(wl.account(), until_done=False)], grace)


@test(timeout=60)
def multiple_pids(ctx):
    """-p A,B -p C: each process its own findings and summary; fdtrace ends with the last."""
    grace = 0.5
    wls = []
    for i in range(3):
        report = ctx.path(f"account{i}.jsonl")
        wls.append(ctx.workload(ctx.scenario_argv("late_close", grace, "--wait", "--hold",
                                                  report=report), report))
    pids = [w.wait_ev("ready", 15)["pid"] for w in wls]
    ft = ctx.fdtrace("-j", "-g", grace, "-p", f"{pids[0]},{pids[1]}", "-p", pids[2])
    ft.wait_start()
    for w in wls:
        w.tell()
    for w in wls:
        w.wait_ev("done", 20)
    wls[0].tell()
    wls[0].wait(10)
    ft.wait_event(lambda e: e["event"] == "summary" and e.get("pid") == pids[0], 5,
                  f"summary of pid {pids[0]} once it exited")
    check(ft.running(), "fdtrace stopped when the first of three processes exited")
    for w in wls[1:]:
        w.tell()
        w.wait(10)
    rc = ft.wait(10)
    check(rc == 0, f"fdtrace exited with status {rc}")
    check_report(ft, [Expect.from_account(w.account(), until_done=False) for w in wls], grace)


def fd_count(pid):
    """The fewest fds pid holds over half a second: a file read right now is no leak."""
    n = []
    for _ in range(5):
        n.append(len(os.listdir(f"/proc/{pid}/fd")))
        time.sleep(0.1)
    return min(n)


@test(timeout=60)
def fdtrace_fd_count_stable(ctx):
    """fdtrace's own descriptors do not grow over a long run with many events and findings."""
    grace = 0.2
    report = ctx.path("account.jsonl")
    wl = ctx.workload(ctx.scenario_argv("churn", grace, "-n", "8", "--wait", "--hold"), report)
    ready = wl.wait_ev("ready", 15)
    ft = ctx.fdtrace("-j", "-g", grace, "-p", ready["pid"])
    ft.wait_start()
    wl.tell()
    ctx.sleep(2.5)
    n1 = fd_count(ft.pid)
    ctx.sleep(4.5)
    n2 = fd_count(ft.pid)
    ctx.log(f"fdtrace fds: {n1} then {n2}")
    wl.wait_ev("done", 20)
    ft.signal(signal.SIGINT)
    rc = ft.wait(15)
    check(rc == 0, f"status {rc} after SIGINT")
    check(n1 == n2, f"fdtrace had {n1} fds at 2.5s and {n2} at 7s")
    acct = Expect.from_account(wl.account(), until_done=True)
    check(acct.counters["leaks"] >= 3, f"the churn made only {acct.counters['leaks']} leaks")
    check_report(ft, [acct], grace)
    wl.tell()
    wl.wait(10)

