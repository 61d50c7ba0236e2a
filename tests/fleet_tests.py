# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Fleet mode (issue 7): the kernel chooses the processes.

--all, --cgroup and --comm are decided in the kernel at a process's
epoll_ctl, so a process that starts later, or moves into the cgroup
later, is traced from its next epoll_ctl on; --sample N keeps 1 in N
watches by open file.  Each test starts its own workloads (the C
scenarios, which keep an account of what they leak) and, where a server
is needed, redis-server on loopback; the machine's other processes are
traced too under --all, so findings are checked for the processes the
test started and nothing is asserted about the rest.

Cgroups are made under the cgroup v2 mount that /proc/self/mounts names
(/sys/fs/cgroup/unified on this project's hybrid hosts) and removed
afterwards.
"""
import os
import signal
import subprocess
import time

import harness as h
from harness import test, check, Fail


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise Fail("no cgroup v2 mount in /proc/self/mounts")


class Cgroup:
    """A cgroup v2 directory of the test's own, removed at the end."""

    def __init__(self, ctx, name):
        self.path = os.path.join(cgroup2_mount(), f"fdtrace-test-{os.getpid()}.slice", name)
        os.makedirs(self.path, exist_ok=True)
        ctx.cleanups.append(self.remove)

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def remove(self):
        # the processes are gone by now (the harness killed them)
        for d in (self.path, os.path.dirname(self.path)):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def in_cgroup(cg, argv):
    """argv, started inside cg (the shell moves itself in, then execs)."""
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg.path, *argv]


def stop(ft, within=15):
    ft.signal(signal.SIGINT)
    rc = ft.wait(within)
    check(rc == 0, f"fdtrace exited with status {rc} after SIGINT: {ft.stderr_lines()[-3:]}")
    evs = ft.events()
    check(evs and evs[-1]["event"] == "totals", f"last event is not totals: {evs[-1:]}")
    return evs


def leaks_of(evs, pid):
    return sorted((e["fd"], e["inode"]) for e in evs if e["event"] == "leak" and e["pid"] == pid)


def declared_leaks(wl):
    return sorted((a["fd"], a["ino"]) for a in wl.account() if a["ev"] == "leaked")


def start_fleet(ctx, *args):
    ft = ctx.fdtrace("-j", *args)
    ft.wait_start()
    return ft


def leaker(ctx, grace, argv_wrap=lambda a: a, report="leaker.jsonl", scenario="leak", extra=()):
    """scenarios SCENARIO with --wait --hold: (workload, its pid)."""
    argv = ctx.scenario_argv(scenario, grace, "--wait", "--hold", *extra, report=ctx.path(report))
    wl = ctx.workload(argv_wrap(argv), ctx.path(report), name=scenario)
    ready = wl.wait_ev("ready", 15)
    return wl, ready["pid"]


def run_to_done(wl, timeout=30):
    wl.tell()
    wl.wait_ev("done", timeout)


h.OPTIONAL_TOOLS.setdefault("redis-server", lambda: h.which("redis-server") is not None)
h.OPTIONAL_TOOLS.setdefault("redis-benchmark", lambda: h.which("redis-benchmark") is not None)


@test(timeout=90, needs=("redis-server", "redis-benchmark"))
def fleet_all(ctx):
    """--all: a leaker started after fdtrace is reported exactly, with its unit; redis under load has no finding."""
    grace = 0.5
    cg = Cgroup(ctx, "leaker.service")
    ft = start_fleet(ctx, "-a", "-g", grace, "--interval", 1)
    wl, pid = leaker(ctx, grace, lambda a: in_cgroup(cg, a))
    port = h.free_port()
    redis = h.Proc(ctx, [h.which("redis-server"), "--port", port, "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--daemonize", "no",
                         "--dir", ctx.tmp], name="redis-server")
    h.wait_until(ctx, lambda: subprocess.run([h.which("redis-cli"), "-p", str(port), "ping"],
                                             capture_output=True, text=True).stdout.strip() == "PONG",
                 20, "redis-server did not answer", proc=redis)
    bench = h.Proc(ctx, [h.which("redis-benchmark"), "-h", "127.0.0.1", "-p", port,
                         "-n", 5000, "-c", 20, "-k", 0, "-q", "-t", "ping"], name="redis-benchmark")
    run_to_done(wl)
    check(bench.wait(60) == 0, f"redis-benchmark failed: {bench.stderr_lines()[-3:]}")
    ctx.sleep(grace + 1.2)          # the last watches of redis are past the grace
    evs = stop(ft)
    wl.tell()
    wl.wait(15)
    start = evs[0]
    check(start.get("mode") == "all", f"start event mode {start.get('mode')!r}, expected 'all'")
    want = declared_leaks(wl)
    check(want, "the leaker declared no leak")
    check(leaks_of(evs, pid) == want, f"leaker's leaks {leaks_of(evs, pid)}, expected {want}")
    for e in evs:
        if e["event"] == "leak" and e["pid"] == pid:
            check(e.get("unit") == "leaker.service", f"leak without the leaker's unit: {e}")
            check(e.get("cgroup", "").endswith("/leaker.service"), f"leak without its cgroup: {e}")
            check(e.get("comm") == "scenarios", f"leak comm {e.get('comm')!r}: {e}")
    redis_findings = [e for e in evs if e.get("pid") == redis.pid and e["event"] in h.FINDINGS]
    check(not redis_findings, f"redis-server, healthy, has findings: {redis_findings[:3]}")
    rs = [e for e in evs if e["event"] == "summary" and e.get("pid") == redis.pid]
    check(len(rs) == 1 and rs[0]["watches_ended"] >= 5000,
          f"redis-server's summary should count >= 5000 ended watches: {rs}")
    intervals = [e for e in evs if e["event"] == "interval" and e.get("pid") == redis.pid]
    check(intervals, "no interval event for redis-server with --interval 1")
    # counted so far, benign cycles included: in summary mode (the
    # default) those are the kernel's running counts, read each interval
    check(intervals[-1]["watches_ended"] == rs[0]["watches_ended"],
          f"redis-server's last interval counts {intervals[-1]['watches_ended']} ended watches, "
          f"its summary {rs[0]['watches_ended']}")
    mine = {pid, redis.pid}
    others = {e.get("pid") for e in evs if e["event"] == "leak"} - mine
    ctx.log(f"leaks of processes this test did not start (not asserted): {sorted(others)}")


@test(timeout=60)
def fleet_cgroup(ctx):
    """--cgroup: only the processes in it are traced, one that joins after fdtrace started included."""
    grace = 0.5
    cg = Cgroup(ctx, "inside.service")
    inside, pin = leaker(ctx, grace, lambda a: in_cgroup(cg, a), report="inside.jsonl")
    outside, pout = leaker(ctx, grace, report="outside.jsonl")
    joiner, pjoin = leaker(ctx, grace, report="joiner.jsonl")
    ft = start_fleet(ctx, "--cgroup", cg.path, "-g", grace)
    check(ft.events()[0].get("cgroups") == [os.path.realpath(cg.path)],
          f"start event cgroups: {ft.events()[0]}")
    cg.add(pjoin)                    # moves in after fdtrace started
    for wl in (inside, outside, joiner):
        run_to_done(wl)
    ctx.sleep(grace + 0.8)
    evs = stop(ft)
    for wl in (inside, outside, joiner):
        wl.tell()
        wl.wait(15)
    check(leaks_of(evs, pin) == declared_leaks(inside),
          f"inside: {leaks_of(evs, pin)}, expected {declared_leaks(inside)}")
    check(leaks_of(evs, pjoin) == declared_leaks(joiner),
          f"joined later: {leaks_of(evs, pjoin)}, expected {declared_leaks(joiner)}")
    check(not [e for e in evs if e.get("pid") == pout],
          f"the process outside the cgroup was traced: {[e for e in evs if e.get('pid') == pout][:2]}")
    traced = {e.get("pid") for e in evs if e["event"] == "summary"}
    check(traced <= {pin, pjoin}, f"summaries for processes outside the cgroup: {traced - {pin, pjoin}}")


@test(timeout=60)
def fleet_comm(ctx):
    """--comm: only processes of that name (the leader's name, threads and all)."""
    grace = 0.5
    named = os.path.join(ctx.tmp, "fdt-named")
    os.symlink(os.path.join(ctx.build, "tests", "scenarios"), named)
    a, pa = leaker(ctx, grace, lambda argv: [named, *argv[1:]], report="a.jsonl")
    b, pb = leaker(ctx, grace, report="b.jsonl")
    ft = start_fleet(ctx, "-c", "fdt-named", "-g", grace)
    run_to_done(a)
    run_to_done(b)
    ctx.sleep(grace + 0.8)
    evs = stop(ft)
    for wl in (a, b):
        wl.tell()
        wl.wait(15)
    check(leaks_of(evs, pa) == declared_leaks(a), f"fdt-named: {leaks_of(evs, pa)}, expected {declared_leaks(a)}")
    check(all(e["comm"] == "fdt-named" for e in evs if e.get("pid") == pa and "comm" in e),
          "events for fdt-named under another comm")
    check(not [e for e in evs if e.get("pid") == pb], "the process named scenarios was traced")


@test(timeout=60)
def fleet_sample(ctx):
    """--sample 4: about a quarter of 400 leaks, each one the workload really leaked."""
    grace = 0.5
    argv = [os.path.join(ctx.build, "tests", "scale_scenarios"), "-g", grace, "-o",
            ctx.path("mass.jsonl"), "-n", 200, "--wait", "--hold", "mass_leak"]
    wl = ctx.workload(argv, ctx.path("mass.jsonl"), name="mass_leak")
    pid = wl.wait_ev("ready", 15)["pid"]
    ft = start_fleet(ctx, "-c", "scale_scenarios", "--sample", 4, "-g", grace)
    check(ft.events()[0].get("sample") == 4, f"start event has no sample 4: {ft.events()[0]}")
    wl.tell()
    wl.wait_ev("done", 30)
    ctx.sleep(grace + 1.0)
    evs = stop(ft)
    wl.tell()
    wl.wait(15)
    truth = set(declared_leaks(wl))
    got = leaks_of(evs, pid)
    check(len(truth) == 400, f"the workload declared {len(truth)} leaks, not 400")
    check(set(got) <= truth, f"reported leaks the workload did not make: {sorted(set(got) - truth)[:5]}")
    # binomial(400, 1/4): mean 100, sd 8.7; 5 sd either side
    check(56 <= len(got) <= 144, f"{len(got)} of 400 leaks with --sample 4, expected about 100")
    ctx.log(f"--sample 4: {len(got)} of 400 leaks reported")


@test()
def fleet_bad_cgroup(ctx):
    """--cgroup outside the cgroup v2 mount, or missing: one line on stderr, exit 2."""
    for path in ("/tmp", "/nonexistent/cgroup", "/proc"):
        ft = ctx.fdtrace("--cgroup", path)
        rc = ft.wait(20)
        err = ft.stderr_lines()
        check(rc == 2 and len(err) == 1 and "cgroup" in err[0],
              f"--cgroup {path}: status {rc}, stderr {err}")
    ft = ctx.fdtrace("-a", "-p", "1")
    check(ft.wait(20) == 2, "-a with -p must be refused")
