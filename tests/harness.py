# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace's test harness: a library, not a program.

The test modules (tests/*_tests.py) and the benchmark (bench/run.py)
import it; tests/run_tests.py runs what the modules register.  A module
needs no more than

    from harness import test, check, Fail, Skip
    import harness as h             # for the helpers

and a test is a function of one argument, the per-test context (Ctx):

    @test(timeout=40, needs=("node",))
    def node_something(ctx):
        ft = ctx.fdtrace("-j", "-p", pid)
        ...

Importing a module is registering its tests: @test appends to TESTS, the
one registry, in the order the module defines them.  An optional outside
tool is a name in OPTIONAL_TOOLS whose check says whether it is there; a
module adds its own (`h.OPTIONAL_TOOLS["node"] = ...`) and a test that
needs a missing one is skipped, visibly.

Every process a test starts (Proc) lives in its own process group, so the
runner can kill whatever it left, grandchildren included.  The summary
counters compared with a workload's account are read from src/counters.h,
the one list fdtrace itself is built from: a new counter is one row there,
not a second list here.

Only Python's standard library: Debian's /usr/bin/python3.
"""
import collections
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = os.path.join(HERE, "workloads")
PYTHON = "/usr/bin/python3"      # Debian's, with python3-uvloop
COUNTERS_H = os.path.join(ROOT, "src", "counters.h")


def read_counters(path=COUNTERS_H):
    """
    (required, optional) summary counter names, in the order of the
    X(name, kind, text, help) rows of counters.h.  Required are those of
    the summary's opening sentence (text NULL): every summary carries
    them.  The others are compared when present.
    """
    row = re.compile(r"X\(\s*(\w+)\s*,\s*(CNT_\w+)\s*,")
    try:
        with open(path) as f:
            # the rows are one macro: its continuation lines joined, the
            # text field may stand on the line after the name
            src = f.read().replace("\\\n", " ")
    except OSError as e:
        raise RuntimeError(f"cannot read the summary counters: {e}") from None
    required, optional = [], []
    for m in row.finditer(src):
        null = re.match(r"\s*NULL\b", src[m.end():])
        (required if null else optional).append(m.group(1))
    if not required:
        raise RuntimeError(f"{path}: no X(name, CNT_..., NULL, ...) row: cannot tell "
                           "which counters every summary carries")
    return tuple(required), tuple(optional)


# Summary counters every summary line carries, and those compared when present.
SUMMARY_REQUIRED, SUMMARY_OPTIONAL = read_counters()
FINDINGS = ("leak", "leak_resolved", "closed_while_watched", "deregister_failed")
# Counters that come from the kernel's evidence on sockets, not from a
# workload's account: each leak class is checked against the leak events'
# "evidence"; in_use and paused only where a test sets them (Expect.evidence).
EVIDENCE_CLASSES = {"leaks_idle": "idle", "leaks_peer_closed": "peer_closed",
                    "leaks_backpressured": "backpressured"}
EVIDENCE_COUNTERS = tuple(EVIDENCE_CLASSES) + ("in_use", "paused")
HOW = {"close": "closed", "close_range": "closed", "dup2": "closed", "dup3": "closed",
       "exec": "exec", "exit": "exit"}
# fdtrace must report a leak within grace + LATENCY_S of the DEL.
LATENCY_S = 1.0


class Fail(Exception):
    """A test failed: first line is the reason, the rest details."""


class Skip(Exception):
    """The test cannot run here: an optional outside tool or a kernel feature is absent."""


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


def stuck_snapshot(pid):
    """
    Where pid and its descendants are, for a process that did not exit in
    time: state, the kernel function it waits in and each thread's kernel
    stack.  Lines to append to a failure; a wait that fails rarely has to
    explain itself the first time.
    """
    lines = []
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2:].split()[0]
            tids = sorted(os.listdir(f"/proc/{p}/task"), key=int)
        except (OSError, ValueError):
            continue
        lines.append(f"pid {p} ({comm}) state {state}, {len(tids)} thread(s)")
        for tid in tids[:8]:
            try:
                with open(f"/proc/{p}/task/{tid}/wchan") as f:
                    wchan = f.read().strip() or "-"
                with open(f"/proc/{p}/task/{tid}/stack") as f:
                    stack = [l.split()[-1] for l in f.read().splitlines()[:12] if l.strip()]
            except OSError:
                continue
            lines.append(f"  tid {tid}: wchan {wchan}; stack {' < '.join(stack) or '-'}")
    return lines


def exe_of(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None


def fdtrace_left(binary):
    """fdtrace processes (binary) of ours still running."""
    return [pid for pid, (ppid, state, comm) in descendants().items()
            if state != "Z" and exe_of(pid) == os.path.realpath(binary)]


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
            raise Fail("\n".join([f"{self.name} (pid {self.pid}) did not exit {within}",
                                   *stuck_snapshot(self.pid)]))
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

def bpf_progs(timeout=30):
    """Every BPF program loaded on the machine, as `bpftool -j prog show` lists it."""
    if not shutil.which("bpftool"):
        raise Fail("bpftool is missing: cannot check for BPF programs left behind")
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode:
        raise Fail(f"bpftool prog show failed: {r.stderr.strip()}")
    return json.loads(r.stdout or "[]")


def bpf_prog_ids():
    return {p["id"]: p.get("name", "") for p in bpf_progs()}


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


def bpf_left(baseline):
    """Our new BPF programs still loaded (given a moment to be freed)."""
    deadline = time.time() + 3
    while True:
        new = our_new_progs(baseline)
        if not new or time.time() > deadline:
            return new
        time.sleep(0.1)


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
        self.evidence = set()   # EVIDENCE_COUNTERS this test expects exactly
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
        for k, cls in EVIDENCE_CLASSES.items():
            n = sum(e.get("evidence") == cls for _, e in leaks)
            check(s.get(k, 0) == n, f"pid {x.pid} summary {k} {s.get(k)}, but {n} leak events "
                                    f"with evidence {cls}")
        for k in x.evidence:
            check(s.get(k) == x.counters[k], f"pid {x.pid} summary {k} {s.get(k)} "
                                             f"(expected {x.counters[k]})")
        if x.exact:
            keys = SUMMARY_REQUIRED + tuple(k for k in SUMMARY_OPTIONAL
                                            if k in s and k not in EVIDENCE_COUNTERS)
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
    """What a test is given: its build, its files, its log, its clock, its processes."""

    def __init__(self, test, build, tmp_root, verbose=False):
        self.build = build
        self.fdtrace_bin = os.path.join(build, "fdtrace")
        self.name = test.name
        self.verbose = verbose
        self.procs = []
        self.cleanups = []      # called after kill_all(), last added first
        self.logbuf = []
        self.start = time.time()
        self.deadline = self.start + test.timeout
        self.tmp = tempfile.mkdtemp(prefix=f"{test.name}.", dir=tmp_root)

    def log(self, msg):
        self.logbuf.append(f"{time.time() - self.start:7.3f} {msg}")
        if self.verbose:
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

    def kill_all(self):
        """Every process group the test started, then the orphans that came back to us."""
        for p in self.procs:
            p.kill_group()
        for p in self.procs:
            try:
                p.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for s in (p.p.stdin, p.p.stdout, p.p.stderr):
                if s:
                    s.close()
        # orphans that came back to us (see set_subreaper)
        ours = {p.pid for p in self.procs}
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
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception as e:      # a cleanup must not hide the test's result
                self.log(f"cleanup failed: {e}")


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


# ---- outside tools, ports, waiting ---------------------------------------------

def which(name):
    """PATH, then the sbin directories a non-login root shell may lack."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)


# name -> check: is this optional outside tool here?  Test modules add theirs.
OPTIONAL_TOOLS = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ctx, fn, timeout, what, proc=None, interval=0.05):
    """
    fn() until it returns something true; OSError and ValueError (a server
    not listening yet, a partial answer) count as not yet.  Fails at once
    when proc, the server fn talks to, has exited.
    """
    deadline = time.time() + ctx.bound(timeout)
    last = None
    while True:
        if proc and not proc.running():
            raise Fail(f"{proc.name} exited (status {proc.p.returncode}): "
                       f"{' '.join(proc.stderr_lines()[-3:] + proc.stdout_lines()[-3:])}")
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError) as e:
            last = e
        if time.time() > deadline:
            raise Fail(f"{what} within {timeout:g}s" + (f" ({last})" if last else ""))
        time.sleep(interval)


# ---- the registry ----------------------------------------------------------------

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
