#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace's test runner: `make test` runs it as root.

First the unit-test binaries (build/tests/test_*), whose `N passed, N failed`
closing lines are folded into the totals; then the integration tests: real
workloads (tests/workloads/) traced by build/fdtrace on the running kernel,
each checked exactly against the workload's own account of its epoll
watches.

Every test runs with a timeout; every process it starts lives in its own
process group and is killed when the test ends, whatever happened.  After
each test no fdtrace process of ours may be left and no BPF program that
was not there before the run may remain.

    tests/run_tests.py --build build [-k SUBSTRING]... [-v] [--list]

Only Python's standard library: Debian's /usr/bin/python3.
"""
import argparse
import collections
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = os.path.join(HERE, "workloads")
PYTHON = "/usr/bin/python3"      # Debian's, with python3-uvloop

UNIT_TESTS = ("test_matcher", "test_output")
# Summary counters every summary line carries, and those compared when present.
SUMMARY_REQUIRED = ("watches_ended", "closed", "closed_late", "rewatched", "leaks", "open_leaks")
SUMMARY_OPTIONAL = ("closed_while_watched", "deregister_failed", "del_enoent", "corrected")
FINDINGS = ("leak", "leak_resolved", "closed_while_watched", "deregister_failed")
HOW = {"close": "closed", "close_range": "closed", "dup2": "closed", "dup3": "closed",
       "exec": "exec", "exit": "exit"}
# fdtrace must report a leak within grace + LATENCY_S of the DEL.
LATENCY_S = 1.0


class Fail(Exception):
    """A test failed: first line is the reason, the rest details."""


class Skip(Exception):
    """An optional outside tool is absent."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---- processes -------------------------------------------------------------

def set_subreaper():
    """Orphans of our children (a COMMAND fdtrace left behind) come back to us."""
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def proc_table():
    """pid -> (ppid, state, comm) of every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        table[int(d)] = (int(rest[1]), rest[0], comm)
    return table


def descendants(root=None):
    root = root or os.getpid()
    table = proc_table()
    children = collections.defaultdict(list)
    for pid, (ppid, _, _) in table.items():
        children[ppid].append(pid)
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return {pid: table[pid] for pid in out if pid in table}


def exe_of(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None


class Proc:
    """A process in its own process group, its output read as it comes."""

    def __init__(self, ctx, argv, stdin=subprocess.DEVNULL, env=None, name=None):
        self.ctx = ctx
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.out = []           # (arrival time.time(), line)
        self.err = []
        self.cond = threading.Condition()
        ctx.log(f"$ {' '.join(self.argv)}")
        self.p = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.pid = self.p.pid
        ctx.procs.append(self)
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, pipe, lines):
        for raw in iter(pipe.readline, b""):
            with self.cond:
                lines.append((time.time(), raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait(self, timeout):
        bounded = self.ctx.bound(timeout)
        try:
            rc = self.p.wait(timeout=bounded)
        except subprocess.TimeoutExpired:
            within = f"within {timeout:g}s" if bounded >= timeout else "before the test's timeout"
            raise Fail(f"{self.name} (pid {self.pid}) did not exit {within}")
        # a child the process left behind may hold its pipes open
        end = time.time() + 2
        for t in self.readers:
            t.join(max(0, end - time.time()))
        return rc

    def running(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.pid, sig)

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stdout_lines(self):
        with self.cond:
            return [l for _, l in self.out]

    def stderr_lines(self):
        with self.cond:
            return [l for _, l in self.err]


class Fdtrace(Proc):
    """build/fdtrace; in JSON mode its stdout lines are parsed as they come."""

    def events(self):
        evs = []
        with self.cond:
            lines = list(self.out)
        for t, line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                raise Fail(f"fdtrace printed a line that is not JSON: {line!r}")
            if not isinstance(ev, dict) or "event" not in ev:
                raise Fail(f"fdtrace printed a JSON line without \"event\": {line!r}")
            ev["_arrival"] = t
            evs.append(ev)
        return evs

    def wait_event(self, pred, timeout, what):
        deadline = time.time() + self.ctx.bound(timeout)
        while True:
            for ev in self.events():
                if pred(ev):
                    return ev
            if not self.running() and not any(t.is_alive() for t in self.readers):
                raise Fail(f"fdtrace exited (status {self.p.returncode}) before {what}")
            left = deadline - time.time()
            if left <= 0:
                raise Fail(f"no {what} from fdtrace within {timeout:g}s")
            with self.cond:
                self.cond.wait(min(left, 0.1))

    def wait_start(self, timeout=20):
        ev = self.wait_event(lambda e: True, timeout, "first JSON line")
        check(ev["event"] == "start", f"first line of fdtrace -j is not the start event: {ev}")
        return ev


def read_account(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


class Workload(Proc):
    """A workload writing its account (see tests/workloads/scenarios.c) to a file."""

    def __init__(self, ctx, argv, report, **kw):
        self.report = report
        super().__init__(ctx, argv, stdin=subprocess.PIPE, **kw)

    def account(self):
        return read_account(self.report)

    def wait_ev(self, name, timeout):
        deadline = time.time() + self.ctx.bound(timeout)
        while True:
            for a in self.account():
                if a["ev"] == name:
                    return a
                if a["ev"] == "error":
                    raise Fail(f"workload {self.name} reports an error: {a}")
            if not self.running():
                raise Fail(f"workload {self.name} exited (status {self.p.returncode}) before "
                           f"'{name}': {' '.join(self.stderr_lines()[-5:])}")
            if time.time() > deadline:
                raise Fail(f"workload {self.name} wrote no '{name}' within {timeout:g}s")
            time.sleep(0.02)

    def tell(self):
        """A line on the workload's stdin: go on (--wait) or exit (--hold)."""
        try:
            self.p.stdin.write(b"\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass


# ---- BPF programs ------------------------------------------------------------

def bpf_prog_ids():
    if not shutil.which("bpftool"):
        raise Fail("bpftool is missing: cannot check for BPF programs left behind")
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise Fail(f"bpftool prog show failed: {r.stderr.strip()}")
    return {p["id"]: p.get("name", "") for p in json.loads(r.stdout or "[]")}


def our_new_progs(baseline):
    """
    BPF programs loaded since baseline that are ours: held by a process we
    started, or by nobody (pinned, or left behind).  Another user's fdtrace
    running at the same time on this machine holds its own.
    """
    new = {i: n for i, n in bpf_prog_ids().items() if i not in baseline}
    if not new:
        return new
    mine = set(descendants())
    holders = bpf_prog_holders()
    return {i: n for i, n in new.items() if not holders.get(i) or holders[i] & mine}


def bpf_prog_holders():
    """prog id -> pids holding an fd on it (prog and link fds say prog_id)."""
    holders = collections.defaultdict(set)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{d}/fdinfo")
        except OSError:
            continue
        for fd in fds:
            try:
                with open(f"/proc/{d}/fdinfo/{fd}") as f:
                    m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
            except OSError:
                continue
            if m:
                holders[int(m.group(1))].add(int(d))
    return holders


# ---- expectations from a workload's account ----------------------------------

class Expect:
    """What fdtrace must report for one traced process, from its account."""

    def __init__(self):
        self.pid = None
        self.comm = None
        self.exact = True       # False: the runtime makes epoll calls we cannot count
        self.counters = collections.Counter({k: 0 for k in SUMMARY_REQUIRED + SUMMARY_OPTIONAL})
        self.leaks = []         # dicts: fd inode type epfd comm real
        self.resolved = []      # (fd, how)
        self.cww = []           # closed_while_watched: (fd, epfd, inode, type)
        self.ebadf = []         # deregister_failed: (fd, epfd)
        self.unwatched = {}     # fd -> watch_end line, while unwatched

    @classmethod
    def from_account(cls, lines, until_done):
        e = cls()
        for a in lines:
            ev = a["ev"]
            if ev == "done" and until_done:
                break
            if ev == "begin":
                check(e.pid in (None, a["pid"]), f"account of two processes: {e.pid}, {a['pid']}")
                e.pid, e.comm = a["pid"], a["comm"]
            elif ev == "watch_end":
                e.counters["watches_ended"] += 1
                e.unwatched[a["fd"]] = a
            elif ev == "closed":
                e.counters["closed"] += 1
                if a["late"]:
                    e.counters["closed_late"] += 1
                    e.resolved.append((a["fd"], HOW[a["how"]]))
                e.unwatched.pop(a["fd"], None)
            elif ev == "rewatched":
                e.counters["rewatched"] += 1
                if a["late"]:
                    e.resolved.append((a["fd"], "rewatched"))
                e.unwatched.pop(a["fd"], None)
            elif ev == "leaked":
                e.counters["leaks"] += 1
                w = e.unwatched.get(a["fd"], {})
                e.leaks.append(dict(fd=a["fd"], inode=a["ino"], type=a["type"], epfd=a["epfd"],
                                    comm=a["comm"], real=w.get("real")))
            elif ev == "del_enoent":
                e.counters["del_enoent"] += 1
            elif ev == "del_ebadf":
                e.counters["deregister_failed"] += 1
                e.ebadf.append((a["fd"], a["epfd"]))
            elif ev == "closed_while_watched":
                e.counters["closed_while_watched"] += 1
                e.cww.append((a["fd"], a["epfd"], a["ino"], a["type"]))
            elif ev == "counts":
                for k in ("watches_ended", "closed", "rewatched"):
                    e.counters[k] += a.get(k, 0)
                if not a.get("exact", 1):
                    e.exact = False
            elif ev == "error":
                raise Fail(f"workload reports an error: {a}")
        check(e.pid is not None, "workload account has no begin line")
        e.counters["open_leaks"] = e.counters["leaks"] - len(e.resolved)
        return e


def parse_rfc3339(s):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", s)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(x) for x in m.groups()[:6])
    frac = float(m.group(7) or 0)
    tz = m.group(8)
    off = 0 if tz in "Zz" else (int(tz[1:3]) * 60 + int(tz[4:6])) * (1 if tz[0] == "+" else -1)
    dt = datetime.datetime(y, mo, d, h, mi, sec, tzinfo=datetime.timezone(datetime.timedelta(minutes=off)))
    return dt.timestamp() + frac


def fmt_items(items):
    return ", ".join(str(i) for i in items) or "none"


def multiset_diff(what, got, want):
    got_c, want_c = collections.Counter(got), collections.Counter(want)
    missing = list((want_c - got_c).elements())
    extra = list((got_c - want_c).elements())
    if missing or extra:
        raise Fail(f"{what}: missing {fmt_items(missing)}; unexpected {fmt_items(extra)}")


def check_report(ft, expects, grace, check_processes=True):
    """fdtrace's JSON output against the accounts of the traced processes."""
    evs = ft.events()
    check(evs, "fdtrace printed nothing")
    check(evs[0]["event"] == "start", f"first event is not start: {evs[0]}")
    check(evs[-1]["event"] == "totals", f"last event is not totals: {evs[-1]}")
    check(sum(e["event"] == "totals" for e in evs) == 1, "more than one totals line")
    check(sum(e["event"] == "start" for e in evs) == 1, "more than one start line")
    for e in evs:
        check(e["event"] != "error", f"fdtrace reports an error: {e}")
    by_pid = {x.pid: x for x in expects}
    for e in evs:
        if e["event"] in FINDINGS + ("summary",):
            check(e.get("pid") in by_pid, f"{e['event']} for a process that was not traced: {e}")

    for x in expects:
        mine = [(i, e) for i, e in enumerate(evs) if e.get("pid") == x.pid]
        leaks = [(i, e) for i, e in mine if e["event"] == "leak"]
        for _, e in leaks:
            for k in ("time", "fd", "epfd", "type", "inode", "unwatched_s", "comm"):
                check(k in e, f"leak without \"{k}\": {e}")
        multiset_diff(f"pid {x.pid} leaks (fd, inode, type, epfd, comm)",
                      [(e["fd"], e["inode"], e["type"], e["epfd"], e["comm"]) for _, e in leaks],
                      [(l["fd"], l["inode"], l["type"], l["epfd"], l["comm"]) for l in x.leaks])
        # the n-th leak of an (fd, inode) is the n-th the workload declared
        declared = collections.defaultdict(list)
        for l in x.leaks:
            declared[(l["fd"], l["inode"])].append(l)
        for _, e in leaks:
            u = e["unwatched_s"]
            check(grace <= u <= grace + LATENCY_S,
                  f"leak reported after {u}s unwatched, not within [grace, grace + {LATENCY_S:g}s]: {e}")
            want = declared[(e["fd"], e["inode"])]
            t = parse_rfc3339(e["time"])
            check(t is not None, f"leak time is not RFC 3339: {e['time']!r}")
            w = want.pop(0) if want else {}
            if w.get("real") is not None:
                deleted = w["real"]
                check(deleted - 0.25 <= t <= deleted + grace + LATENCY_S + 0.25,
                      f"leak time {e['time']} is not between the DEL ({deleted:.3f}) and "
                      f"grace + {LATENCY_S:g}s after it: {e}")
                late = e["_arrival"] - (deleted + grace)
                check(late <= LATENCY_S + 0.25,
                      f"leak of fd {e['fd']} printed {late:.2f}s after grace expired: {e}")

        resolved = [(i, e) for i, e in mine if e["event"] == "leak_resolved"]
        multiset_diff(f"pid {x.pid} leak_resolved (fd, how)",
                      [(e["fd"], e.get("how")) for _, e in resolved], x.resolved)
        for i, e in resolved:
            check(any(j < i and l["fd"] == e["fd"] for j, l in leaks),
                  f"leak_resolved before any leak of fd {e['fd']}: {e}")
            check(e.get("unwatched_s", 0) >= grace, f"leak_resolved with unwatched_s < grace: {e}")

        cww = [e for _, e in mine if e["event"] == "closed_while_watched"]
        for e in cww:
            for k in ("fd", "epfd", "inode", "type"):
                check(k in e, f"closed_while_watched without \"{k}\": {e}")
        multiset_diff(f"pid {x.pid} closed_while_watched (fd, epfd, inode, type)",
                      [(e["fd"], e["epfd"], e["inode"], e["type"]) for e in cww], x.cww)
        df = [e for _, e in mine if e["event"] == "deregister_failed"]
        if all("epfd" in e for e in df):
            multiset_diff(f"pid {x.pid} deregister_failed (fd, epfd)",
                          [(e["fd"], e["epfd"]) for e in df], x.ebadf)
        else:
            multiset_diff(f"pid {x.pid} deregister_failed (fd)",
                          [e["fd"] for e in df], [fd for fd, _ in x.ebadf])

        sums = [(i, e) for i, e in mine if e["event"] == "summary"]
        check(len(sums) == 1, f"pid {x.pid}: {len(sums)} summary lines, expected 1")
        i, s = sums[0]
        check(all(j < i for j, _ in leaks + resolved), f"pid {x.pid}: a finding after its summary")
        check(s.get("comm") == x.comm, f"pid {x.pid} summary comm {s.get('comm')!r}, expected {x.comm!r}")
        for k in SUMMARY_REQUIRED:
            check(k in s, f"summary without \"{k}\": {s}")
        if x.exact:
            keys = SUMMARY_REQUIRED + tuple(k for k in SUMMARY_OPTIONAL if k in s)
        else:
            keys = ("closed", "closed_late", "leaks", "open_leaks", "closed_while_watched",
                    "deregister_failed", "corrected")
            keys = tuple(k for k in keys if k in s)
            check(s["watches_ended"] == s["closed"] + s["rewatched"] + s["open_leaks"],
                  f"pid {x.pid}: watches_ended != closed + rewatched + open_leaks: {s}")
        bad = [f"{k} {s[k]} (expected {x.counters[k]})" for k in keys if s[k] != x.counters[k]]
        check(not bad, f"pid {x.pid} summary: {', '.join(bad)}")

    t = evs[-1]
    for k in ("processes", "watches_ended", "leaks", "open_leaks", "lost_events"):
        check(k in t, f"totals without \"{k}\": {t}")
    check(t["lost_events"] == 0, f"fdtrace lost {t['lost_events']} events")
    summaries = [e for e in evs if e["event"] == "summary"]
    if check_processes:
        check(t["processes"] == len(expects), f"totals processes {t['processes']}, expected {len(expects)}")
    for k in ("watches_ended", "leaks", "open_leaks"):
        check(t[k] == sum(s[k] for s in summaries),
              f"totals {k} {t[k]} is not the sum of the summaries' ({sum(s[k] for s in summaries)})")


# ---- the per-test context ----------------------------------------------------

class Ctx:
    def __init__(self, runner, test):
        self.r = runner
        self.build = runner.build
        self.fdtrace_bin = runner.fdtrace
        self.name = test.name
        self.procs = []
        self.logbuf = []
        self.start = time.time()
        self.deadline = self.start + test.timeout
        self.tmp = tempfile.mkdtemp(prefix=f"{test.name}.", dir=runner.tmp)

    def log(self, msg):
        self.logbuf.append(f"{time.time() - self.start:7.3f} {msg}")
        if self.r.verbose:
            print(f"    {self.logbuf[-1]}", flush=True)

    def bound(self, timeout):
        """A wait may not outlast the test's own timeout."""
        return max(0.01, min(timeout, self.deadline - time.time()))

    def path(self, name):
        return os.path.join(self.tmp, name)

    def fdtrace(self, *args, stdin=subprocess.DEVNULL):
        if not os.path.exists(self.fdtrace_bin):
            raise Fail(f"{self.fdtrace_bin} does not exist")
        return Fdtrace(self, [self.fdtrace_bin, *args], stdin=stdin, name="fdtrace")

    def scenario_argv(self, name, grace, *extra, report=None):
        return [os.path.join(self.build, "tests", "scenarios"), "-g", grace,
                "-o", report or self.path("account.jsonl"), *extra, name]

    def workload(self, argv, report, name=None):
        return Workload(self, argv, report, name=name)

    def sleep(self, s):
        time.sleep(self.bound(s))


# ---- the ways a workload is traced -------------------------------------------

def trace_pid(ctx, argv, report, grace, done_timeout=30, fdtrace_args=()):
    """
    Start the workload (--wait --hold), attach `fdtrace -j -p` once it is
    ready, let it run, stop fdtrace with SIGINT once the workload is done,
    then let the workload exit.  Returns (fdtrace, workload).
    """
    wl = ctx.workload(argv, report)
    ready = wl.wait_ev("ready", 15)
    ft = ctx.fdtrace("-j", "-g", grace, "-p", ready["pid"], *fdtrace_args)
    ft.wait_start()
    wl.tell()
    wl.wait_ev("done", done_timeout)
    ft.signal(signal.SIGINT)
    rc = ft.wait(15)
    check(rc == 0, f"fdtrace -p exited with status {rc} after SIGINT: {ft.stderr_lines()[-3:]}")
    wl.tell()
    wl.wait(15)
    return ft, wl


def scenario_pid(ctx, scenario, grace=0.5, extra=()):
    report = ctx.path("account.jsonl")
    ft, wl = trace_pid(ctx, ctx.scenario_argv(scenario, grace, "--wait", "--hold", *extra),
                       report, grace)
    check_report(ft, [Expect.from_account(wl.account(), until_done=True)], grace)
    return ft


def scenario_cmd(ctx, scenario, grace=0.5, extra=(), timeout=30):
    """fdtrace -j -- scenarios NAME: traced from exec to exit."""
    report = ctx.path("account.jsonl")
    ft = ctx.fdtrace("-j", "-g", grace, "--", *ctx.scenario_argv(scenario, grace, *extra))
    rc = ft.wait(timeout)
    check(rc == 0, f"fdtrace -- scenarios {scenario} exited with status {rc}: {ft.stderr_lines()[-3:]}")
    lines = read_account(report)
    check(lines and lines[-1]["ev"] == "exit", "the workload did not finish its scenario")
    check_report(ft, [Expect.from_account(lines, until_done=False)], grace)
    return ft


# ---- the tests -----------------------------------------------------------------

class Test:
    def __init__(self, fn, timeout, needs):
        self.fn, self.name, self.timeout, self.needs = fn, fn.__name__, timeout, needs


TESTS = []


def test(timeout=40, needs=()):
    """Register an integration test; needs: optional outside tools (skip when absent)."""
    def deco(fn):
        TESTS.append(Test(fn, timeout, needs))
        return fn
    return deco


def cmd_test(scenario, grace=0.5):
    def fn(ctx):
        scenario_cmd(ctx, scenario, grace)
    fn.__name__ = scenario
    fn.__doc__ = f"scenarios {scenario}, traced with -- COMMAND"
    return test()(fn)


def pid_test(scenario, grace=0.5, name=None):
    def fn(ctx):
        scenario_pid(ctx, scenario, grace)
    fn.__name__ = name or scenario
    fn.__doc__ = f"scenarios {scenario}, traced with -p"
    return test()(fn)


# Scenarios whose leaks are all resolved (or never happen) by the end are
# traced from exec to exit; those that end with fds still leaked are traced
# with -p and stopped with SIGINT while the workload still holds them.
pid_test("leak")
for _s in ("close", "close_range", "close_range_cloexec", "dup2", "dup3", "exec", "exit",
           "pause_resume", "rewatch_late", "late_close", "fd_reuse", "threads", "thread_exit",
           "del_enoent", "del_ebadf", "closed_while_watched"):
    cmd_test(_s)
pid_test("fd_reuse_leak")
pid_test("two_epolls")
pid_test("failed_add")
pid_test("close_noops")
pid_test("exec_fails")
pid_test("types")
pid_test("fork_child_close")
pid_test("threads", name="threads_pid")
pid_test("rewatch_late", name="rewatch_late_pid")


@test()
def untouched(ctx):
    """Closes of fds epoll never touched: nothing reported, no record reaches userspace."""
    a = scenario_cmd(ctx, "untouched", extra=("-n", "0")).events()[-1]
    os.unlink(ctx.path("account.jsonl"))
    b = scenario_cmd(ctx, "untouched", extra=("-n", "20")).events()[-1]
    if "records" in a:
        check(a["records"] == b["records"],
              f"{b['records'] - a['records']} more records with 6,600 closes of untouched fds")
    else:
        ctx.log("totals carry no record count: only the summaries were compared")


@test()
def leak_resolved_by_exit(ctx):
    """Leaks still open when the process exits: resolved how=exit, then the summary."""
    scenario_cmd(ctx, "leak")


@test()
def exec_comm(ctx):
    """exec through another name: leaks afterwards carry the new comm."""
    link = ctx.path("wl-stage2")
    os.symlink(os.path.join(ctx.build, "tests", "scenarios"), link)
    scenario_pid(ctx, "exec_comm", extra=("--exec-as", link))


@test(timeout=90)
def burst_200k(ctx):
    """200,000 create/ADD/DEL/close cycles: every ended watch counted, no finding, nothing lost."""
    scenario_cmd(ctx, "burst", extra=("-n", "200000"), timeout=80)


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
    deadline = time.time() + 3
    while our_new_progs(before) and time.time() < deadline:
        time.sleep(0.1)
    left = our_new_progs(before)
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


def asyncio_leak(ctx, loop):
    grace = 1.0
    report = ctx.path("account.jsonl")
    argv = [PYTHON, os.path.join(WORKLOADS, "asyncio_leak.py"), "-o", report, "-g", grace,
            "-n", 8, "--loop", loop, "--wait", "--hold"]
    ft, wl = trace_pid(ctx, argv, report, grace)
    x = Expect.from_account(wl.account(), until_done=True)
    check(len(x.leaks) == 4, f"the workload forgot {len(x.leaks)} sockets, expected 4")
    if loop == "uvloop":
        # libuv probes every new fd with ADD+DEL before watching it
        x.exact = False
    check_report(ft, [x], grace)


def has_uvloop():
    return subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0


@test(timeout=60)
def asyncio_remove_reader_leak(ctx):
    """The article: remove_reader() and forget: exactly the forgotten sockets, within grace + 1 s."""
    asyncio_leak(ctx, "asyncio")


@test(timeout=60, needs=("uvloop",))
def uvloop_remove_reader_leak(ctx):
    """The same with uvloop (libuv): the same findings."""
    asyncio_leak(ctx, "uvloop")


def asyncio_backpressure(ctx, loop):
    grace = 0.5
    report = ctx.path("account.jsonl")
    argv = [PYTHON, os.path.join(WORKLOADS, "asyncio_backpressure.py"), "-o", report,
            "-n", 8, "-s", 4 << 20, "--loop", loop, "--wait", "--hold"]
    ft, wl = trace_pid(ctx, argv, report, grace, done_timeout=60)
    x = Expect.from_account(wl.account(), until_done=True)
    check_report(ft, [x], grace)
    s = [e for e in ft.events() if e["event"] == "summary"][0]
    ctx.log(f"summary: {s}")
    check(s["watches_ended"] == s["closed"] + s["rewatched"],
          f"watches_ended != closed + rewatched: {s}")
    if loop == "asyncio":
        check(s["rewatched"] > 0, f"no transport was paused and resumed: {s}")


@test(timeout=90)
def asyncio_backpressure_clean(ctx):
    """Transports paused and resumed under back-pressure: re-watched, never flagged."""
    asyncio_backpressure(ctx, "asyncio")


@test(timeout=90, needs=("uvloop",))
def uvloop_backpressure_clean(ctx):
    """uvloop under back-pressure: no finding."""
    asyncio_backpressure(ctx, "uvloop")


OPTIONAL_TOOLS = {"uvloop": has_uvloop}


# ---- the runner ----------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.fdtrace = os.path.join(self.build, "fdtrace")
        self.verbose = args.verbose
        self.filters = args.k or []
        self.passed = self.failed = self.skipped = 0
        self.tmp = tempfile.mkdtemp(prefix="fdtrace-tests.")
        self.keep_tmp = False

    def selected(self, name):
        return not self.filters or any(f in name for f in self.filters)

    def report(self, status, name, detail=""):
        print(f"{status} {name}{detail}", flush=True)

    def run_unit(self, name):
        binary = os.path.join(self.build, "tests", name)
        if not os.path.exists(binary):
            if os.path.exists(os.path.join(HERE, f"{name}.c")):
                self.failed += 1
                self.report("FAIL", name, f": {binary} was not built")
            return
        t0 = time.time()
        try:
            r = subprocess.run([binary], capture_output=True, text=True, timeout=120,
                               start_new_session=True)
        except subprocess.TimeoutExpired:
            self.failed += 1
            self.report("FAIL", name, ": timed out after 120s")
            return
        lines = (r.stdout + r.stderr).splitlines()
        m = None
        for line in reversed(r.stdout.splitlines()):
            if line.strip():
                m = re.fullmatch(r"\s*(?:\w+:\s*)?(\d+) passed, (\d+) failed.*", line)
                break
        if not m:
            self.failed += 1
            self.report("FAIL", name, f": no 'N passed, N failed' closing line (status {r.returncode})")
            for line in lines[-10:]:
                print(f"    {line}")
            return
        p, f = int(m.group(1)), int(m.group(2))
        self.passed += p
        self.failed += f
        if r.returncode and not f:
            self.failed += 1
            f = 1
        took = time.time() - t0
        if f:
            self.report("FAIL", name, f": {f} failed, {p} passed (status {r.returncode})")
            for line in lines:
                if re.search(r"fail|assert", line, re.I) and not re.search(r"\d+ passed, \d+ failed", line):
                    print(f"    {line}")
        else:
            self.report("ok", name, f" ({p} passed, {took:.1f}s)")

    def leftovers(self):
        """fdtrace processes and BPF programs the test left behind."""
        problems = []
        for pid, (ppid, state, comm) in descendants().items():
            if state != "Z" and exe_of(pid) == os.path.realpath(self.fdtrace):
                problems.append(f"fdtrace process {pid} still running")
        return problems

    def cleanup(self, ctx):
        for p in ctx.procs:
            p.kill_group()
        for p in ctx.procs:
            try:
                p.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for s in (p.p.stdin, p.p.stdout, p.p.stderr):
                if s:
                    s.close()
        # orphans that came back to us (see set_subreaper)
        ours = {p.pid for p in ctx.procs}
        for pid in descendants():
            if pid not in ours:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break

    def bpf_left(self, baseline):
        """Our new BPF programs still loaded (given a moment to be freed)."""
        deadline = time.time() + 3
        while True:
            new = our_new_progs(baseline)
            if not new or time.time() > deadline:
                return new
            time.sleep(0.1)

    def run_test(self, t, baseline):
        for tool in t.needs:
            if not OPTIONAL_TOOLS[tool]():
                self.skipped += 1
                self.report("SKIP", t.name, f": {tool} is not installed")
                return
        ctx = Ctx(self, t)
        timed_out = threading.Event()

        def on_timeout():
            timed_out.set()
            for p in list(ctx.procs):
                p.kill_group()

        timer = threading.Timer(t.timeout, on_timeout)
        timer.start()
        err = None
        try:
            t.fn(ctx)
        except Fail as e:
            err = str(e)
        except Exception:
            err = "test raised:\n" + traceback.format_exc()
        finally:
            timer.cancel()
        if timed_out.is_set():
            err = f"timed out after {t.timeout}s" + (f" ({err})" if err else "")
        if not err:
            left = self.leftovers()
            if left:
                err = "; ".join(left)
        took = time.time() - ctx.start
        stderr = [l for p in ctx.procs if isinstance(p, Fdtrace) for l in p.stderr_lines()]
        self.cleanup(ctx)
        try:
            progs = self.bpf_left(baseline)
        except Fail as e:
            progs, err = {}, err or str(e)
        if progs and not err:
            err = f"BPF programs left loaded: {progs}"
        for i in progs:
            baseline[i] = progs[i]    # report them once
        if err:
            self.failed += 1
            first, _, rest = err.partition("\n")
            self.report("FAIL", t.name, f": {first}")
            for line in rest.splitlines():
                print(f"    {line}")
            if not self.verbose:
                for line in ctx.logbuf[-8:]:
                    print(f"    | {line}")
            for line in stderr[-10:]:
                print(f"    fdtrace stderr: {line}")
            self.keep_tmp = True
            print(f"    files: {ctx.tmp}")
        else:
            self.passed += 1
            self.report("ok", t.name, f" ({took:.1f}s)")

    def run(self):
        for name in UNIT_TESTS:
            if self.selected(name):
                self.run_unit(name)
        tests = [t for t in TESTS if self.selected(t.name)]
        if tests:
            if os.geteuid() != 0:
                for t in tests:
                    self.failed += 1
                    self.report("FAIL", t.name, ": integration tests need root")
                tests = []
            else:
                set_subreaper()
                try:
                    baseline = bpf_prog_ids()
                except Fail as e:
                    baseline = {}
                    print(f"warning: {e}")
        for t in tests:
            self.run_test(t, baseline)
        if not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped", flush=True)
        return 1 if self.failed else 0


def load_test_modules():
    """
    Other tests/*_tests.py modules (runtime_tests.py: real runtimes, and
    cases around processes) join the registry through their register(),
    called with this module.  Returns the modules that failed to load.
    """
    import importlib
    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    broken = []
    for f in sorted(os.listdir(HERE)):
        if not f.endswith("_tests.py") or f == "run_tests.py":
            continue
        name = f[:-3]
        try:
            importlib.import_module(name).register(sys.modules[__name__])
        except Exception:
            broken.append((name, traceback.format_exc()))
    return broken


def main():
    ap = argparse.ArgumentParser(description="Run fdtrace's tests.")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("-k", action="append", metavar="SUBSTRING",
                    help="run only the tests whose name contains SUBSTRING (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each step")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    args = ap.parse_args()
    broken = load_test_modules()
    if args.list:
        for name in UNIT_TESTS:
            print(f"{name:32} unit tests (build/tests/{name})")
        for t in TESTS:
            print(f"{t.name:32} {(t.fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    runner = Runner(args)
    for name, tb in broken:
        runner.failed += 1
        runner.report("FAIL", name, ": could not load its tests")
        for line in tb.splitlines():
            print(f"    {line}")
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
