#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace overhead benchmark (issue 4): one run, one machine, one table.

Every number in the table is a ratio or a difference between runs made in
the same invocation, interleaved round by round (the configurations of a
section take turns, in a rotating order), each run itself the median of
several repetitions; the table shows the median over rounds and, for
differences, the range over rounds in brackets.  The workload runs on one
CPU and the tracer on another where the machine has two.

Sections:
  tax        an untraced process while fdtrace traces an idle one, and the
             same under minimal BPF programs on other hooks (hook floor)
  traced     the traced process itself, and the price of each BPF
             operation fdtrace does per record
  alt        the create/ADD/DEL/close cycle under fdtrace, a bpftrace
             script and strace
  redis      redis-server under redis-benchmark, with and without fdtrace
  throughput cycles/s fdtrace follows without loss, consumer CPU per
             record, matching engine records/s and memory per fd
  leakcheck  fdtrace's CPU per leak reported, 2 x N sockets leaked at once,
             and how late the last one is printed (issue 11)
  closerange close_range under no tracer, the default --max-fds and a 1M
             map (issue 11)
  evidence   a TCP socket's ADD/DEL and cycle against a pipe's: the socket
             read at DEL (issue 16)
  fleet      fdtrace -a (and --sample 8): a process that never uses epoll,
             against no tracer and the hook floor; fdtrace's own CPU and RSS;
             paced new TCP connections (issue 7).  The redis section has -a
             rows too.
  stream     the traced create/ADD/DEL/close cycle under --stream=full and
             --stream=summary (the default) against empty programs on the
             same hooks; records delivered and fdtrace's CPU per cycle
             (issue 9).  Sections 1-9 run fdtrace's default mode.
  nginx      an nginx worker under wrk without keep-alive (a connection
             per request), fdtrace -p on the worker in each stream mode
             and the hook floor: the worker's own CPU per request and
             requests/s (issue 9).
  stacks     call-site capture: --stacks against --no-stacks on a C
             ADD/DEL and cycle, and a Python ADD/DEL 12 frames deep
             (issue 10).  Every other section runs --no-stacks.

Usage: run.py --fdtrace PATH --bin DIR [--only SECTION,...] [--rounds N]
Needs root (BPF), bpftrace, strace, redis-server and redis-benchmark;
a section whose tool is missing is skipped and says so.

Finding tools, free ports and the BPF programs loaded is the test
harness's job (tests/harness.py): the benchmark imports it rather than
keep copies that drift apart.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import harness as h
from harness import Skip

SECTIONS = ("tax", "traced", "alt", "redis", "throughput", "leakcheck", "closerange",
            "evidence", "fleet", "stream", "nginx", "stacks")


def pinner(cpu):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def cpu_seconds(ru):
    return ru.ru_utime + ru.ru_stime


# The fentry backend cannot be timed on the project's machine (the kernel
# refuses fentry) nor in its VM tests (TCG): what is published instead.
FENTRY_PUBLISHED = (
    "published, not measured here: the kernel's BPF trigger benchmark (selftests/bpf "
    "benchs, an empty program hit from a kernel loop), as posted by Menglong Dong on "
    "bpf@vger.kernel.org on 2025-08-17 ('[PATCH bpf-next v5 0/4] fprobe: use rhashtable "
    "for fprobe_ip_table'): fentry 135.6 M/s (about 7 ns a hit), fexit 68.1 M/s (15 ns), "
    "tracepoint 79.8 M/s (13 ns), on that machine; they leave out the syscall tracepoints' "
    "slow path and argument record, which this table's floor rows include")


class Bench:
    def __init__(self, args):
        self.args = args
        self.fdtrace = os.path.abspath(args.fdtrace)
        self.bin = os.path.abspath(args.bin)
        self.rounds = args.rounds
        self.tmp = tempfile.mkdtemp(prefix="fdtrace-bench-")
        ncpu = os.cpu_count() or 1
        self.work_cpu = 0
        self.tool_cpu = 1 if ncpu > 1 else None
        self.rows = []
        self.notes = []
        self.raw = {}
        self.children = []
        self.runs = 0
        self.timing = []
        self.wait_budget = args.quiet_budget
        self.foreign_runs = 0

    # ---- helpers -------------------------------------------------------

    def path(self, name):
        return os.path.join(self.tmp, name)

    def prog(self, name):
        return os.path.join(self.bin, name)

    def section(self, title):
        self.rows.append(("section", title))

    def row(self, name, base, alt, delta, target="", met=""):
        self.rows.append(("row", name, base, alt, delta, target, met))

    def note(self, text):
        self.notes.append(text)

    def log(self, msg):
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    def idle_process(self):
        p = subprocess.Popen(["sleep", "3600"])
        self.children.append(p)
        return p

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the workload: syscall_cost -------------------------------------

    def run_cost(self, ops, n, reps, tool=None, tax_target=None, python=False):
        """syscall_cost on the work CPU, with tool attached to it (traced)
        or to tax_target (an idle process: syscall_cost is then untraced).
        python: bench/py_epoll_cost.py instead (ops unused).
        Returns (result dict, tool info)."""
        out = self.path("cost.json")
        if python:
            cmd = [h.PYTHON, os.path.join(h.ROOT, "bench", "py_epoll_cost.py"), "-w",
                   "-c", str(self.work_cpu), "-n", str(n), "-r", str(reps), "-o", out]
        else:
            cmd = [self.prog("syscall_cost"), "-w", "-c", str(self.work_cpu), "-n", str(n),
                   "-r", str(reps), "-O", ops, "-o", out]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = None
        window = None
        try:
            line = p.stdout.readline().split()
            if len(line) != 2 or line[0] != "ready":
                raise RuntimeError("syscall_cost did not start")
            pid = int(line[1])
            if tool:
                tool.start([tax_target if tax_target else pid])
            # the tool's own CPU while the workload runs, not its start
            mark = getattr(tool, "cpu_s", None)
            c0, t0 = (mark(), time.monotonic()) if mark else (0, 0)
            p.stdin.write("go\n")
            p.stdin.flush()
            if p.wait() != 0:
                raise RuntimeError(f"syscall_cost failed: {' '.join(cmd)}")
            if mark:
                window = {"window_cpu_s": mark() - c0, "window_s": time.monotonic() - t0}
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            if tool and tool.running():
                info = tool.stop(target_gone=tax_target is None)
        if info is not None and window:
            info.update(window)
        with open(out) as f:
            return json.load(f), info

    def wait_quiet(self):
        """Other users of this machine may be tracing too (another fdtrace,
        a test suite): their syscall tracepoints would tax our baseline.
        Wait for them to go; returns False if they did not."""
        t0 = time.monotonic()
        wait = min(self.args.quiet_wait, self.wait_budget)
        try:
            while tracing_progs():
                if time.monotonic() - t0 > wait:
                    return False
                time.sleep(0.2)
            return True
        finally:
            self.wait_budget -= time.monotonic() - t0

    def foreign_after(self):
        """BPF tracing programs still loaded after our tool stopped: someone
        else's (ours may take a moment to be freed)."""
        deadline = time.monotonic() + 1.0
        while tracing_progs():
            if time.monotonic() > deadline:
                return True
            time.sleep(0.1)
        return False

    def rounds_of(self, configs, run, rounds=None):
        """Run every configuration once per round, rotating the order.
        configs: list of (name, factory or None).  run(factory) -> dict.
        Returns {name: [dict per round]}; a Skip drops the configuration.
        A run during which another tracer was loaded gets "_foreign": True."""
        res = {name: [] for name, _ in configs}
        live = list(configs)
        for r in range(rounds or self.rounds):
            k = r % len(live)
            for name, factory in live[k:] + live[:k]:
                if name not in res:
                    continue
                quiet = self.wait_quiet()
                try:
                    v = run(factory)
                except Skip as e:
                    self.note(f"{name}: skipped: {e}")
                    del res[name]
                    continue
                v["_foreign"] = not quiet or self.foreign_after()
                self.runs += 1
                self.foreign_runs += v["_foreign"]
                res[name].append(v)
            live = [c for c in live if c[0] in res]
        return res

    @staticmethod
    def clean_pairs(base, alt):
        """Round-paired runs, without those another tracer disturbed when
        at least two clean pairs remain."""
        pairs = list(zip(base, alt))
        clean = [(b, a) for b, a in pairs if not b.get("_foreign") and not a.get("_foreign")]
        return clean if len(clean) >= 2 else pairs

    @staticmethod
    def spread(d, fmt, total):
        """'(lo..hi)' over the rounds used, and how many when not all"""
        used = f", {len(d)}/{total} rounds" if len(d) < total else ""
        return f"({fmt.format(min(d))}..{fmt.format(max(d))}{used})"

    # ---- tools attached to a target --------------------------------------

    def tool(self, kind, *a, **kw):
        return {"fdtrace": Fdtrace, "hook": HookFloor, "bpftrace": Bpftrace,
                "strace": Strace}[kind](self, *a, **kw)

    # ---- sections ----------------------------------------------------------

    def deltas(self, res, cfg, op, scale=1.0, ref="base"):
        pairs = self.clean_pairs(res[ref], res[cfg])
        base = [b[op]["median"] * scale for b, _ in pairs]
        alt = [a[op]["median"] * scale for _, a in pairs]
        d = [a - b for a, b in zip(alt, base)]
        return base, alt, d

    def delta_row(self, name, res, cfg, op, target=None, scale=1.0):
        if cfg not in res:
            self.row(name, "-", "skipped", "", "" if target is None else f"<= +{target} ns", "")
            return None
        base, alt, d = self.deltas(res, cfg, op, scale)
        md = median(d)
        met = ""
        if target is not None:
            met = verdict(md, min(d), max(d), target)
        self.row(name, f"{median(base):.0f} ns", f"{median(alt):.0f} ns",
                 f"{md:+.0f} ns {self.spread(d, '{:+.0f}', len(res[cfg]))}",
                 "" if target is None else f"<= +{target} ns", met)
        return md

    def sec_tax(self):
        self.log("tax on an untraced process")
        idle = self.idle_process()
        ops = "getppid,close_badf,dup_close,epoll_adddel"
        # the hot-path target is met with call sites off (section 12 prices them)
        configs = [("base", None), ("fdtrace", lambda: self.tool("fdtrace", extra=["--no-stacks"]))]
        for v in HOOK_VARIANTS:
            configs.append((v, (lambda v=v: self.tool("hook", v))))

        def run(factory):
            res, _ = self.run_cost(ops, self.args.n, self.args.reps,
                                   factory() if factory else None, tax_target=idle.pid)
            return res

        res = self.rounds_of(configs, run)
        self.raw["tax"] = res
        self.section("1. Tax on an untraced process while fdtrace -p traces an idle one")
        self.delta_row("getppid() (no fdtrace hook)", res, "fdtrace", "getppid", 20)
        self.delta_row("close(-1)", res, "fdtrace", "close_badf", 60)
        self.delta_row("dup()+close() pair", res, "fdtrace", "dup_close", 60)
        self.delta_row("epoll_ctl(), per call", res, "fdtrace", "epoll_adddel", 60, 0.5)
        self.section("   Hook floor: minimal programs in fdtrace's places, same untraced process")
        for v in HOOK_VARIANTS:
            label = HOOK_VARIANTS[v]
            self.delta_row(f"{label}: close(-1)", res, v, "close_badf")
            self.delta_row(f"{label}: epoll_ctl()", res, v, "epoll_adddel", None, 0.5)
            if v in ("raw_const", "btf_const"):
                self.delta_row(f"{label}: getppid()", res, v, "getppid")

    def sec_traced(self):
        self.log("the traced process")
        configs = [("base", None), ("fdtrace", lambda: self.tool("fdtrace", extra=["--no-stacks"]))]

        def run(factory):
            res, info = self.run_cost("getppid,close_badf,dup_close,epoll_adddel,cycle",
                                      self.args.n, self.args.reps,
                                      factory() if factory else None)
            if info:
                res["fdtrace"] = info
            return res

        res = self.rounds_of(configs, run)
        self.raw["traced"] = res
        self.section("2. The traced process (fdtrace -p on it)")
        self.delta_row("getppid() (no fdtrace hook)", res, "fdtrace", "getppid")
        self.delta_row("close(-1), fd never watched", res, "fdtrace", "close_badf")
        self.delta_row("dup()+close(), fd never watched", res, "fdtrace", "dup_close")
        self.delta_row("epoll_ctl() ADD or DEL, per call", res, "fdtrace", "epoll_adddel", None, 0.5)
        base, alt, _ = self.deltas(res, "fdtrace", "cycle")
        ratios = [a / b for a, b in zip(alt, base)]
        mr = median(ratios)
        self.row("create/ADD/DEL/close cycle", f"{median(base):.0f} ns", f"{median(alt):.0f} ns",
                 f"x{mr:.2f} {self.spread(ratios, '{:.2f}', len(res['fdtrace']))}", "<= x1.15",
                 verdict(mr, min(ratios), max(ratios), 1.15))
        lost = sum(x["fdtrace"]["lost_events"] for x in res["fdtrace"])
        if lost:
            self.note(f"traced process: fdtrace lost {lost} events over the rounds")

        # what each BPF operation costs per record, priced on close(-1)
        self.log("per-operation BPF costs")
        configs = [(v, (lambda v=v: self.tool("hook", v))) for v in COST_VARIANTS]

        def run_op(factory):
            res, info = self.run_cost("close_badf", self.args.n, self.args.reps, factory())
            res["tool"] = info
            return res

        ops = self.rounds_of(configs, run_op, self.args.rounds_cost)
        self.raw["op_costs"] = ops
        self.section("   Price of one BPF operation per call in the traced process (vs tgid check only)")
        if "cost_base" not in ops:
            self.row("per-operation costs", "-", "skipped", "")
            return
        for v, (label, *_) in COST_VARIANTS.items():
            if v == "cost_base":
                continue
            if v not in ops:
                self.row(label, "-", "skipped", "")
                continue
            b, a, d = self.deltas(ops, v, "close_badf", ref="cost_base")
            info = [x.get("tool") or {} for x in ops[v]]
            extra = ""
            if info and "drains" in info[0] and v.startswith("cost_rb"):
                extra = f", {median([i['drains'] for i in info]):.0f} drains"
            self.row(label, f"{median(b):.0f} ns", f"{median(a):.0f} ns",
                     f"{median(d):+.0f} ns {self.spread(d, '{:+.0f}', len(ops[v]))}{extra}")

    def sec_alt(self):
        self.log("alternatives on the cycle")
        configs = [("base", None), ("fdtrace", lambda: self.tool("fdtrace"))]
        if h.which("bpftrace"):
            configs.append(("bpftrace", lambda: self.tool("bpftrace")))
        else:
            self.note("bpftrace not installed: its row is skipped")
        if h.which("strace"):
            configs.append(("strace", lambda: self.tool("strace")))
        else:
            self.note("strace not installed: its row is skipped")

        def run(factory):
            tool = factory() if factory else None
            res, info = self.run_cost("cycle", self.args.n_alt, self.args.reps, tool)
            res["info"] = info
            return res

        res = self.rounds_of(configs, run, self.args.rounds_alt)
        self.raw["alt"] = res
        self.section("3. Alternatives on the create/ADD/DEL/close cycle (ns per cycle, traced)")
        base = [x["cycle"]["median"] for x in res["base"]]
        added = {}
        for cfg in ("fdtrace", "bpftrace", "strace"):
            if cfg in res:
                added[cfg] = [a - b for a, b in zip([x["cycle"]["median"] for x in res[cfg]], base)]
        f = median(added["fdtrace"])
        self.row("fdtrace -p", f"{median(base):.0f} ns",
                 f"{median([x['cycle']['median'] for x in res['fdtrace']]):.0f} ns",
                 f"+{f:.0f} ns ({min(added['fdtrace']):+.0f}..{max(added['fdtrace']):+.0f})")
        for cfg, label, target, need in (
                ("bpftrace", "bpftrace script (bench/fdtrace.bt)", "fdtrace < bpftrace", 1.0),
                ("strace", "strace -f -e trace=epoll_ctl,close", ">= 50x fdtrace's", 50.0)):
            if cfg not in added:
                continue
            ratios = [x / y for x, y in zip(added[cfg], added["fdtrace"])]
            self.row(label, f"{median(base):.0f} ns",
                     f"{median([x['cycle']['median'] for x in res[cfg]]):.0f} ns",
                     f"+{median(added[cfg]):.0f} ns = {median(ratios):.1f}x fdtrace's "
                     f"({min(ratios):.1f}..{max(ratios):.1f})",
                     target, verdict_gt(ratios, need))

    def sec_redis(self):
        server, client = h.which("redis-server"), h.which("redis-benchmark")
        if not (server and client):
            self.note("redis-server/redis-benchmark not installed: section 4 skipped")
            return
        self.log("redis-server under redis-benchmark")
        port = h.free_port()
        srv = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                                "--daemonize", "no", "--logfile", self.path("redis.log")],
                               preexec_fn=pinner(self.work_cpu))
        self.children.append(srv)
        wait_port(port, srv)
        tests = [("SET", ["-t", "set", "-n", str(self.args.redis_n)]),
                 ("GET", ["-t", "get", "-n", str(self.args.redis_n)]),
                 ("GET, new connection per request (-k 0)",
                  ["-t", "get", "-n", str(self.args.redis_n // 4), "-k", "0"])]
        # the floor: empty programs on fdtrace's syscall tracepoints, to
        # tell the hooks' tax on every process from fdtrace's own work
        # -a (issue 7): the whole machine, redis-benchmark traced too
        configs = [("base", None), ("fdtrace", lambda: self.tool("fdtrace")),
                   ("floor", lambda: self.tool("hook", "tp_empty")),
                   ("all", lambda: self.tool("fdtrace", all=True)),
                   ("all8", lambda: self.tool("fdtrace", ["--sample", "8"], all=True))]

        def run(factory):
            tool = factory() if factory else None
            out = {}
            if tool:
                tool.start([srv.pid])
            mark = getattr(tool, "cpu_s", None)
            c0, t0 = (mark(), time.monotonic()) if mark else (0, 0)
            try:
                for name, extra in tests:
                    cmd = [client, "-h", "127.0.0.1", "-p", str(port), "-c", "50",
                           "--csv", *extra]
                    cpu0 = redis_cpu(port)
                    r = subprocess.run(cmd, capture_output=True, text=True,
                                       preexec_fn=pinner(self.tool_cpu), timeout=120)
                    out[name] = parse_redis_csv(r.stdout)
                    n = int(extra[extra.index("-n") + 1])
                    out[name]["server_us"] = 1e6 * (redis_cpu(port) - cpu0) / n
                if mark:
                    out["window"] = {"cpu_s": mark() - c0, "s": time.monotonic() - t0}
            finally:
                if tool:
                    out["fdtrace"] = tool.stop(target_gone=False)
            return out

        res = self.rounds_of(configs, run, self.args.rounds_redis)
        srv.terminate()
        srv.wait()
        self.raw["redis"] = res
        self.section("4. redis-server (1 CPU) under redis-benchmark -c 50 (other CPU), fdtrace -p, "
                     "and -a")
        self.note("redis-benchmark itself makes about 5 epoll_ctl() per request: untraced, it pays "
                  "section 1's tax on each, and it is the bottleneck on 2 CPUs")
        pairs = self.clean_pairs(res["base"], res["fdtrace"])
        for name, _ in tests:
            b = [x[name]["rps"] for x, _ in pairs]
            a = [y[name]["rps"] for _, y in pairs]
            loss = [100.0 * (1 - y / x) for x, y in zip(b, a)]
            ml = median(loss)
            self.row(f"{name}: requests/s", f"{median(b):.0f}", f"{median(a):.0f}",
                     f"{-ml:+.1f}% {self.spread([-x for x in loss], '{:+.1f}', len(res['fdtrace']))}",
                     "<= 1% loss",
                     verdict(ml, min(loss), max(loss), 1.0))
            if "floor" in res:
                fp = self.clean_pairs(res["base"], res["floor"])
                fb = [x[name]["rps"] for x, _ in fp]
                fa = [y[name]["rps"] for _, y in fp]
                fl = [100.0 * (1 - y / x) for x, y in zip(fb, fa)]
                self.row("  same under empty tp progs (hook floor)", f"{median(fb):.0f}",
                         f"{median(fa):.0f}",
                         f"{-median(fl):+.1f}% {self.spread([-x for x in fl], '{:+.1f}', len(res['floor']))}")
            for cfg, label in (("all", "  same under fdtrace -a (whole machine)"),
                               ("all8", "  same under fdtrace -a --sample 8")):
                if cfg not in res:
                    continue
                trip = [(x, y, z) for x, y, z in zip(res["base"], res.get("floor", res["base"]),
                                                     res[cfg])
                        if not (x["_foreign"] or y["_foreign"] or z["_foreign"])]
                if len(trip) < 2:
                    trip = list(zip(res["base"], res.get("floor", res["base"]), res[cfg]))
                loss = [100.0 * (1 - z[name]["rps"] / x[name]["rps"]) for x, _, z in trip]
                over = [l - 100.0 * (1 - y[name]["rps"] / x[name]["rps"])
                        for l, (x, y, _) in zip(loss, trip)]
                p99 = [z[name]["p99"] - x[name]["p99"] for x, _, z in trip]
                self.row(label, f"{median([x[name]['rps'] for x, _, _ in trip]):.0f}",
                         f"{median([z[name]['rps'] for _, _, z in trip]):.0f}",
                         f"{-median(loss):+.1f}% {self.spread([-x for x in loss], '{:+.1f}', len(res[cfg]))}"
                         f", p99 {median(p99):+.3f} ms",
                         "<= floor + 1%" if "floor" in res else "",
                         verdict(median(over), min(over), max(over), 1.0) if "floor" in res else "")
            b = [x[name]["p99"] for x, _ in pairs]
            a = [y[name]["p99"] for _, y in pairs]
            d = [y - x for x, y in zip(b, a)]
            self.row(f"{name}: p99 latency", f"{median(b):.3f} ms", f"{median(a):.3f} ms",
                     f"{median(d):+.3f} ms {self.spread(d, '{:+.3f}', len(res['fdtrace']))}")
            b = [x[name]["server_us"] for x, _ in pairs]
            a = [y[name]["server_us"] for _, y in pairs]
            d = [1e3 * (y - x) for x, y in zip(b, a)]
            self.row(f"{name}: redis-server CPU/request", f"{1e3 * median(b):.0f} ns",
                     f"{1e3 * median(a):.0f} ns",
                     f"{median(d):+.0f} ns {self.spread(d, '{:+.0f}', len(res['fdtrace']))}")
        for cfg, label in (("all", "fdtrace -a"), ("all8", "fdtrace -a --sample 8")):
            if cfg not in res:
                continue
            load = [100 * x["window"]["cpu_s"] / x["window"]["s"] for x in res[cfg]]
            rss = [x["fdtrace"]["rss_kib"] / 1024 for x in res[cfg] if x["fdtrace"].get("rss_kib")]
            self.row(f"{label}: own CPU, RSS during the 3 tests", "", f"{median(load):.1f}% of a CPU",
                     f"RSS {median(rss):.1f} MiB {self.spread(load, '{:.1f}%', len(res[cfg]))}")
        ended = [x["fdtrace"]["watches_ended"] for x in res["fdtrace"]]
        lost = [x["fdtrace"]["lost_events"] for x in res["fdtrace"]]
        self.note(f"redis under fdtrace: {median(ended):.0f} watches ended per round "
                  f"(the -k 0 test makes them), {sum(lost)} events lost in all")

    def sec_throughput(self):
        self.log("throughput")
        self.section("5. Throughput and memory (--stream=full: a record per event)")
        ncpu = os.cpu_count() or 1
        procs = max(1, min(ncpu, 4))
        cycles = self.args.gen_cycles

        def generate(traced, rate=0.0):
            if not self.wait_quiet():
                self.foreign_runs += 1
            self.runs += 1
            gens, pids = [], []
            for i in range(procs):
                cmd = [self.prog("cyclegen"), "-w", "-n", str(cycles), "-c", str(i % ncpu)]
                if rate:
                    cmd += ["-R", str(rate / procs)]
                g = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                gens.append(g)
                pids.append(int(g.stdout.readline().split()[1]))
            # the record pipeline's rows: every cycle must be a record (full)
            tool = self.tool("fdtrace", ["--stream=full", "--no-stacks"], None) if traced else None
            if tool:
                tool.start(pids)
            t0 = time.monotonic()
            for g in gens:
                g.stdin.write("go\n")
                g.stdin.flush()
            outs = [json.loads(g.stdout.readline()) for g in gens]
            for g in gens:
                g.stdin.close()
                g.wait()
            wall = time.monotonic() - t0
            info = tool.stop(target_gone=True) if tool else None
            total = sum(o["events"] for o in outs)
            span = max(o["elapsed_s"] for o in outs)
            return {"events": total, "events_per_s": total / span, "wall_s": wall,
                    "gens": outs, "fdtrace": info}

        runs = {"untraced": [], "traced": []}
        for r in range(self.args.rounds_gen):
            for mode in ("untraced", "traced"):
                runs[mode].append(generate(mode == "traced"))
        # if the flat-out rate lost records, find a paced rate that does not
        paced = []
        flat = median([x["events_per_s"] for x in runs["traced"]])
        if any(x["fdtrace"]["lost_events"] for x in runs["traced"]):
            for frac in (0.75, 0.5, 0.25):
                x = generate(True, rate=flat * frac / 3)
                paced.append(x)
                if not x["fdtrace"]["lost_events"]:
                    break
        self.raw["throughput"] = {"runs": runs, "paced": paced}

        zero = [x for x in runs["traced"] + paced if not x["fdtrace"]["lost_events"]]
        best = max(zero, key=lambda x: x["events_per_s"]) if zero else None
        ceiling = median([x["events_per_s"] for x in runs["untraced"]])
        lost_all = sum(x["fdtrace"]["lost_events"] for x in runs["traced"] + paced)
        ev_all = sum(x["events"] for x in runs["traced"] + paced)
        if best:
            ok = best["events_per_s"] >= 1e6
            self.row(f"events/s followed with 0 lost ({procs} generator procs)",
                     f"{ceiling / 1e6:.2f} M/s untraced",
                     f"{best['events_per_s'] / 1e6:.2f} M/s",
                     f"{lost_all} lost of {ev_all}", ">= 1 M/s, 0 lost",
                     "yes" if ok else "NO (generator-bound)" if ceiling < 1e6 else "NO")
        else:
            self.row("events/s followed with 0 lost", f"{ceiling / 1e6:.2f} M/s untraced",
                     "none lossless", f"{lost_all} lost of {ev_all}", ">= 1 M/s, 0 lost", "NO")
        # consumer CPU per record: fdtrace's own CPU time over records delivered
        per = []
        for x in runs["traced"]:
            info = x["fdtrace"]
            delivered = x["events"] + procs - info["lost_events"]
            per.append(1e9 * (info["cpu_s"] - self.startup_cpu()) / max(1, delivered))
        mp = median(per)
        load = median([x["fdtrace"]["cpu_s"] / x["wall_s"] for x in runs["traced"]])
        self.row("fdtrace consumer CPU per record", f"{100 * load:.0f}% of a CPU",
                 f"{mp:.0f} ns", f"= {1e3 / mp:.1f} M records/s per core", ">= 1 M/s",
                 "yes" if 1e3 / mp >= 1.0 else "NO")

        eng = subprocess.run([self.prog("engine_bench"), "-c", str(self.work_cpu)],
                             capture_output=True, text=True, check=True)
        e = json.loads(eng.stdout)
        self.raw["engine"] = e
        self.row("matching engine, fed from memory", "",
                 f"{e['records_per_s'] / 1e6:.1f} M rec/s",
                 f"{e['ns_per_record']:.0f} ns/record", ">= 10 M/s",
                 "yes" if e["records_per_s"] >= 1e7 else "NO")
        self.row("engine memory per tracked fd", "",
                 f"{e['bytes_per_ended_fd']:.0f} B ended, {e['bytes_per_watched_fd']:.0f} B watched",
                 f"{e['nfd']} fds of one process", "", "")
        flat_mem = e["bytes_after_16x"] <= e["bytes_after_4x"] * 1.05
        self.row(f"engine heap, {e['live_fds']} live fds, 1x/4x/16x {e['records'] // 1000}k records",
                 f"{e['bytes_after_1x'] / 1024:.0f} KiB",
                 f"{e['bytes_after_4x'] / 1024:.0f} / {e['bytes_after_16x'] / 1024:.0f} KiB",
                 f"{e['bytes_after_close'] / 1024:.0f} KiB after all closed",
                 "flat in records seen", "yes" if flat_mem else "NO")

    # ---- issue 11: the check before reporting, and close_range ------------

    def scenarios(self):
        """build/tests/scale_scenarios, next to the fdtrace under test"""
        path = os.path.join(os.path.dirname(self.fdtrace), "tests", "scale_scenarios")
        if not os.access(path, os.X_OK):
            raise Skip(f"{path} not built (make at the top level builds it)")
        return path

    def sec_leakcheck(self):
        self.log("leak-check cost")
        try:
            scen = self.scenarios()
        except Skip as e:
            self.note(f"section 6 skipped: {e}")
            return
        n, grace = self.args.leak_n, 1.0
        # -g 60: the same records, no check due within the run; the
        # difference is what checking and reporting 2n leaks cost
        configs = [("check", lambda: grace), ("records", lambda: 60)]

        def run(factory):
            g = factory()
            report = self.path("leak.jsonl")
            if os.path.exists(report):
                os.unlink(report)
            wl = subprocess.Popen([scen, "-g", str(grace), "-o", report, "-n", str(n),
                                   "--wait", "--hold", "mass_leak"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                  preexec_fn=pinner(self.work_cpu))
            self.children.append(wl)
            tool = None
            try:
                pid = wait_account(report, "ready", wl, 15)["pid"]
                tool = self.tool("fdtrace", grace=g, live=True)
                tool.start([pid])
                c0 = tool.cpu_s()
                wl.stdin.write("\n")
                wl.stdin.flush()
                wait_account(report, "done", wl, 60)
                leaks = []
                if g == grace:
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        leaks = [t for t, line in list(tool.lines) if '"event":"leak"' in line]
                        if len(leaks) >= 2 * n:
                            break
                        time.sleep(0.05)
                c1 = tool.cpu_s()
                dels = [a["real"] for a in read_account(report) if a["ev"] == "watch_end"]
                wl.stdin.write("\n")
                wl.stdin.close()
                wl.wait(15)
                info = tool.stop(target_gone=True)
            finally:
                if wl.poll() is None:
                    wl.kill()
                    wl.wait()
                if tool and tool.running():
                    tool.stop(target_gone=False)
            out = {"cpu_s": c1 - c0, "leaks": len(leaks), "dels": len(dels),
                   "lost": info["lost_events"]}
            if leaks:
                out["last_after_grace_s"] = max(leaks) - (max(dels) + grace)
            return out

        res = self.rounds_of(configs, run, self.args.rounds_leak)
        self.raw["leakcheck"] = res
        self.section(f"6. Leak check (issue 11): one process leaks 2 x {n} sockets 0.3 s apart, "
                     f"fdtrace -p -g {grace:g}")
        pairs = self.clean_pairs(res["records"], res["check"])
        per = [1e6 * c["cpu_s"] / max(1, c["leaks"]) for _, c in pairs]
        rec = [1e6 * r["cpu_s"] / (2 * n) for r, _ in pairs]
        extra = [1e6 * (c["cpu_s"] - r["cpu_s"]) / (2 * n) for r, c in pairs]
        got = [c["leaks"] for _, c in pairs]
        total = len(res["check"])
        self.row("fdtrace CPU per leak, ADD to last leak printed",
                 f"{1e3 * median([c['cpu_s'] for _, c in pairs]):.0f} ms CPU",
                 f"{median(per):.1f} us/leak", self.spread(per, "{:.1f}", total))
        self.row("  same workload, -g 60 (records only, no check)",
                 f"{1e3 * median([r['cpu_s'] for r, _ in pairs]):.0f} ms CPU",
                 f"{median(rec):.1f} us/fd", self.spread(rec, "{:.1f}", total))
        self.row("  check + report alone, per leak (difference)", "",
                 f"{median(extra):+.1f} us/leak", self.spread(extra, "{:+.1f}", total))
        late = [1e3 * c["last_after_grace_s"] for _, c in pairs if "last_after_grace_s" in c]
        if late:
            self.row("last leak printed after the grace ended", "",
                     f"{median(late):.0f} ms", self.spread(late, "{:.0f}", total))
        self.row("leaks reported of those made", f"{2 * n}", f"{min(got)}..{max(got)}",
                 f"{sum(c['lost'] for _, c in pairs)} events lost", "all", 
                 "yes" if min(got) == 2 * n else "NO")

    def sec_closerange(self):
        self.log("close_range cost")
        try:
            scen = self.scenarios()
        except Skip as e:
            self.note(f"section 7 skipped: {e}")
            return
        taskset = h.which("taskset")
        pin = [taskset, "-c", str(self.work_cpu)] if taskset else []
        configs = [("untraced", None), ("default", lambda: []),
                   ("1M", lambda: ["--max-fds", "1048576"])]
        what = ("close_range_bounded", "close_range_to_max")

        def run(factory):
            report = self.path("close_range.jsonl")
            if os.path.exists(report):
                os.unlink(report)
            argv = [*pin, scen, "-g", "5", "-o", report, "-n", str(self.args.cr_n),
                    "close_range_cost"]
            if factory is None:
                subprocess.run(argv, check=True, timeout=60, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
            else:
                r = subprocess.run([self.fdtrace, "-j", "-g", "5", *factory(), "--", *argv],
                                   capture_output=True, text=True, timeout=120,
                                   preexec_fn=pinner(self.tool_cpu))
                if r.returncode != 0:
                    raise RuntimeError(f"fdtrace -- close_range_cost: status {r.returncode}: "
                                       f"{r.stderr.strip()[-300:]}")
            cost = {a["what"]: a for a in read_account(report) if a["ev"] == "cost"}
            return {w: cost[w]["median_us"] for w in what}

        res = self.rounds_of(configs, run)
        self.raw["closerange"] = res
        self.section(f"7. close_range (issue 11): {self.args.cr_n} calls over 3 just-unwatched fds, "
                     "fdtrace -- the command; us per call, median")
        total = len(res["1M"])
        for w, label in (("close_range_bounded", "close_range(fd, fd+2)"),
                         ("close_range_to_max", "close_range(fd, ~0U)")):
            p = self.clean_pairs(res["untraced"], res["default"])
            b, a = [x[w] for x, _ in p], [y[w] for _, y in p]
            d = [y - x for x, y in zip(b, a)]
            self.row(f"{label}, default --max-fds", f"{median(b):.2f} us", f"{median(a):.2f} us",
                     f"{median(d):+.2f} us {self.spread(d, '{:+.2f}', len(res['default']))}")
            p = self.clean_pairs(res["default"], res["1M"])
            b, a = [x[w] for x, _ in p], [y[w] for _, y in p]
            r = [y / x for x, y in zip(b, a)]
            # the test's rule (tests/scale_tests.py): at most 3x + 5 us
            ok = [y <= 3 * x + 5 for x, y in zip(b, a)]
            self.row(f"  --max-fds 1048576 vs default", f"{median(b):.2f} us", f"{median(a):.2f} us",
                     f"x{median(r):.2f} {self.spread(r, '{:.2f}', total)}",
                     "flat in map size", "yes" if all(ok) else "NO" if not any(ok) else "NO?")

    # ---- issue 16: the socket read at DEL ---------------------------------

    def sec_evidence(self):
        self.log("the cost of the evidence")
        configs = [("base", None), ("fdtrace", lambda: self.tool("fdtrace"))]

        def run(factory):
            res, info = self.run_cost("pipe_cycle,tcp_cycle,adddel_pipe,adddel_tcp",
                                      self.args.n, self.args.reps,
                                      factory() if factory else None)
            if info:
                res["fdtrace"] = info
            return res

        res = self.rounds_of(configs, run)
        self.raw["evidence"] = res
        self.section("8. Evidence (issue 16): one ADD, DEL, watched close, other close per cycle, "
                     "fdtrace -p on it")
        self.delta_row("pipe cycle: pipe2/ADD/DEL/close x2", res, "fdtrace", "pipe_cycle")
        self.delta_row("TCP cycle: connect/accept/ADD/DEL/close x2", res, "fdtrace", "tcp_cycle")
        self.delta_row("ADD+DEL of a pipe, per pair", res, "fdtrace", "adddel_pipe")
        self.delta_row("ADD+DEL of a TCP socket, per pair", res, "fdtrace", "adddel_tcp")
        for a, b, label in (("adddel_tcp", "adddel_pipe", "  socket over pipe, per DEL (ADD+DEL pairs)"),
                            ("tcp_cycle", "pipe_cycle", "  socket over pipe, per cycle (noisy)")):
            _, _, dp = self.deltas(res, "fdtrace", b)
            _, _, dt = self.deltas(res, "fdtrace", a)
            d = [t - p for t, p in zip(dt, dp)]
            self.row(label, f"{median(dp):+.0f} ns", f"{median(dt):+.0f} ns",
                     f"{median(d):+.0f} ns {self.spread(d, '{:+.0f}', len(res['fdtrace']))}")
        self.note("section 8: the check-time socket read is once per leak, inside section 6's "
                  "CPU per leak")

    # ---- issue 9: the summary stream -------------------------------------------

    def sec_stream(self):
        self.log("--stream=full against --stream=summary")
        configs = [("base", None), ("floor", lambda: self.tool("hook", "tp_empty")),
                   ("full", lambda: self.tool("fdtrace", extra=["--stream=full", "--no-stacks"])),
                   ("summary", lambda: self.tool("fdtrace", extra=["--stream=summary", "--no-stacks"]))]

        def run(factory):
            res, info = self.run_cost("cycle,close_badf,epoll_adddel", self.args.n_alt,
                                      self.args.reps, factory() if factory else None)
            if info:
                res["tool"] = info
            return res

        res = self.rounds_of(configs, run, self.args.rounds_alt)
        self.raw["stream"] = res
        self.section("10. The traced cycle by stream mode (issue 9): create/ADD/DEL/close, "
                     "fdtrace -p on it, against empty programs on the same hooks")
        cycles = self.args.n_alt * self.args.reps
        _, _, floor = self.deltas(res, "floor", "cycle")
        self.row("floor: empty programs on the syscall tracepoints",
                 f"{median([x['cycle']['median'] for x in res['base']]):.0f} ns",
                 f"{median([x['cycle']['median'] for x in res['floor']]):.0f} ns",
                 f"{median(floor):+.0f} ns {self.spread(floor, '{:+.0f}', len(res['floor']))}")
        for cfg in ("full", "summary"):
            if cfg not in res:
                continue
            b, a, d = self.deltas(res, cfg, "cycle")
            ratios = [x / f for x, f in zip(d, floor) if f > 0]
            target = "<= 2x floor" if cfg == "summary" else ""
            self.row(f"fdtrace --stream={cfg}", f"{median(b):.0f} ns", f"{median(a):.0f} ns",
                     f"{median(d):+.0f} ns = {median(ratios):.1f}x floor "
                     f"({min(ratios):.1f}..{max(ratios):.1f})",
                     target, verdict(median(ratios), min(ratios), max(ratios), 2.0) if target else "")
        for cfg in ("full", "summary"):
            if cfg not in res:
                continue
            info = [x["tool"] for x in res[cfg]]
            recs = [i["totals"]["records"] / cycles for i in info]
            cpu = [i["window_cpu_s"] * 1e9 / cycles for i in info if "window_cpu_s" in i]
            lost = sum(i["lost_events"] for i in info)
            self.row(f"  --stream={cfg}: records delivered per cycle, fdtrace CPU per cycle",
                     "", f"{median(recs):.3f} records", f"{median(cpu):.0f} ns CPU"
                     + (f", {lost} lost" if lost else ""))
        self.section("   The same modes on calls that are not a watch's end (traced process)")
        for op, label, scale in (("close_badf", "close(-1)", 1.0),
                                 ("epoll_adddel", "epoll_ctl() ADD or DEL, per call", 0.5)):
            for cfg in ("floor", "full", "summary"):
                if cfg in res:
                    self.delta_row(f"{label}: {cfg}", res, cfg, op, None, scale)

    def sec_nginx(self):
        nginx, wrk = h.which("nginx"), h.which("wrk")
        if not (nginx and wrk):
            self.note("nginx/wrk not installed: section 11 skipped")
            return
        from runtime_tests import NGINX_CONF, nginx_status, nginx_worker
        self.log("nginx under wrk, a connection per request")
        port = h.free_port()
        tmp = self.path("nginx")
        os.makedirs(tmp, exist_ok=True)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, port=port))
        master = subprocess.Popen([nginx, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                                  preexec_fn=pinner(self.work_cpu))
        self.children.append(master)
        worker = None
        for _ in range(100):
            try:
                nginx_status(port)
                worker = nginx_worker(master.pid)
            except (OSError, ValueError):
                pass
            if worker:
                break
            time.sleep(0.1)
        if not worker:
            self.note("nginx did not start: section 11 skipped")
            master.terminate()
            master.wait()
            return
        configs = [("base", None), ("floor", lambda: self.tool("hook", "tp_empty")),
                   ("summary", lambda: self.tool("fdtrace", extra=["--stream=summary", "--no-stacks"])),
                   ("full", lambda: self.tool("fdtrace", extra=["--stream=full", "--no-stacks"]))]

        def run(factory):
            tool = factory() if factory else None
            if tool:
                tool.start([worker])
            try:
                st0, cpu0 = nginx_status(port), task_cpu_s(worker)
                r = subprocess.run([wrk, "-t", "1", "-c", "50", "-d", f"{self.args.nginx_secs}s",
                                    "-H", "Connection: close", f"http://127.0.0.1:{port}/"],
                                   capture_output=True, text=True, preexec_fn=pinner(self.tool_cpu),
                                   timeout=60)
                cpu1, st1 = task_cpu_s(worker), nginx_status(port)
                m = re.search(r"Requests/sec:\s*([\d.]+)", r.stdout)
                n = st1["requests"] - st0["requests"]
                out = {"rps": float(m.group(1)) if m else float("nan"), "requests": n,
                       "cpu_ns": 1e9 * (cpu1 - cpu0) / max(n, 1)}
            finally:
                if tool:
                    info = tool.stop(target_gone=False)
            if tool and isinstance(tool, Fdtrace):
                out["fdtrace"] = info
            return out

        res = self.rounds_of(configs, run, self.args.rounds_redis)
        master.terminate()
        master.wait()
        self.raw["nginx"] = res
        self.section("11. nginx worker (1 CPU) under wrk -c 50 without keep-alive (other CPU), "
                     "fdtrace -p on the worker (issue 9)")
        bc = [x["cpu_ns"] for x in res["base"]]
        br = [x["rps"] for x in res["base"]]
        self.row("worker CPU per request, untraced", "", f"{median(bc):.0f} ns",
                 f"{median(br):.0f} requests/s")
        floor = None
        for cfg, label in (("floor", "empty programs on the syscall tracepoints"),
                           ("summary", "fdtrace --stream=summary (default)"),
                           ("full", "fdtrace --stream=full")):
            if cfg not in res:
                continue
            d = [100.0 * (y["cpu_ns"] / x["cpu_ns"] - 1) for x, y in zip(res["base"], res[cfg])]
            loss = [100.0 * (1 - y["rps"] / x["rps"]) for x, y in zip(res["base"], res[cfg])]
            target, met = "", ""
            if cfg == "floor":
                floor = d
            elif floor:
                over = [a - f for a, f in zip(d, floor)]
                target = "CPU/request <= floor + 1%"
                met = verdict(median(over), min(over), max(over), 1.0)
            extra = ""
            if cfg in ("summary", "full"):
                recs = [x["fdtrace"]["totals"]["records"] / max(x["requests"], 1) for x in res[cfg]]
                extra = f", {median(recs):.2f} records/request"
            self.row(f"  {label}",
                     f"{median(bc):.0f} ns",
                     f"{median([x['cpu_ns'] for x in res[cfg]]):.0f} ns",
                     f"CPU {median(d):+.1f}% {self.spread(d, '{:+.1f}', len(res[cfg]))}; "
                     f"req/s {-median(loss):+.1f}% {self.spread([-x for x in loss], '{:+.1f}', len(res[cfg]))}"
                     + extra, target, met)

    # ---- issue 10: call sites -------------------------------------------------

    def sec_stacks(self):
        self.log("call-site capture")
        configs = [("base", None),
                   ("nostacks", lambda: self.tool("fdtrace", extra=["--no-stacks"])),
                   ("stacks", lambda: self.tool("fdtrace", extra=["--stacks"]))]

        def run_c(factory):
            res, _ = self.run_cost("epoll_adddel,cycle", self.args.n, self.args.reps,
                                   factory() if factory else None)
            return res

        def run_py(factory):
            res, _ = self.run_cost(None, self.args.n // 2, self.args.reps,
                                   factory() if factory else None, python=True)
            return res

        self.section("12. Call sites (issue 10): fdtrace -p --stacks against --no-stacks")
        for label, run, op, scale in (
                ("C: epoll_ctl() ADD or DEL, per call (native site)", run_c, "epoll_adddel", 0.5),
                ("C: create/ADD/DEL/close cycle", run_c, "cycle", 1.0),
                ("Python 3.11, 12 frames deep: ADD or DEL, per call", run_py, "py_adddel", 1.0)):
            if op != "cycle":
                res = self.rounds_of(configs, run)
                self.raw[f"stacks_{op}"] = res
            if "stacks" not in res or "nostacks" not in res:
                self.row(label, "-", "skipped", "")
                continue
            off, on, d = self.deltas(res, "stacks", op, scale, ref="nostacks")
            self.row(label, f"{median(off):.0f} ns", f"{median(on):.0f} ns",
                     f"{median(d):+.0f} ns {self.spread(d, '{:+.0f}', len(res['stacks']))}")
        self.note("section 12: base is --no-stacks, the alternative --stacks (the default with -p); "
                  "the Python row walks 12 frames plus the interpreter's own at each call")

    # ---- issue 7: the whole machine -----------------------------------------

    def sec_fleet(self):
        self.log("fleet mode (-a)")
        idle = self.idle_process()
        configs = [("base", None), ("floor", lambda: self.tool("hook", "tp_empty")),
                   ("p", lambda: self.tool("fdtrace")),
                   ("all", lambda: self.tool("fdtrace", all=True)),
                   ("all8", lambda: self.tool("fdtrace", ["--sample", "8"], all=True))]

        def run(factory):
            res, info = self.run_cost("getppid,close_badf,dup_close", self.args.n,
                                      self.args.reps, factory() if factory else None,
                                      tax_target=idle.pid)
            res["info"] = info
            return res

        res = self.rounds_of(configs, run)
        self.raw["fleet_loop"] = res
        self.section("9. Whole machine (issue 7): a process that never calls epoll_ctl, "
                     "ns per call, against no tracer")
        labels = (("floor", "empty progs on close/epoll_ctl tps"), ("p", "fdtrace -p (another pid)"),
                  ("all", "fdtrace -a"), ("all8", "fdtrace -a --sample 8"))
        for op, opname in (("close_badf", "close(-1)"), ("dup_close", "dup()+close() pair")):
            for cfg, label in labels:
                self.delta_row(f"{opname}: {label}", res, cfg, op)
            if "floor" in res and "all" in res:
                _, _, df = self.deltas(res, "floor", op)
                _, _, da = self.deltas(res, "all", op)
                d = [a - f for a, f in zip(da, df)]
                self.row(f"  {opname}: fdtrace -a over the floor", "", "",
                         f"{median(d):+.0f} ns {self.spread(d, '{:+.0f}', len(res['all']))}",
                         "the floor only", "")
        self.delta_row("getppid(): fdtrace -a (no hook)", res, "all", "getppid")
        for cfg, label in (("all", "fdtrace -a"), ("all8", "fdtrace -a --sample 8")):
            if cfg in res:
                infos = [x["info"] for x in res[cfg] if x.get("info")]
                load = [100 * i["window_cpu_s"] / i["window_s"] for i in infos]
                rss = [i["rss_kib"] / 1024 for i in infos if i.get("rss_kib")]
                self.row(f"{label}: own CPU, RSS during the loop", "",
                         f"{median(load):.1f}% of a CPU",
                         f"RSS {median(rss):.1f} MiB {self.spread(load, '{:.1f}%', len(infos))}")

        # new TCP connections per second, paced, one CPU
        self.log("fleet mode: paced new connections")
        rate, secs = self.args.conn_rate, self.args.conn_secs
        gen = self.prog("cyclegen")
        flat = json.loads(subprocess.run([gen, "-s", "-d", "2", "-c", str(self.work_cpu)],
                                         capture_output=True, text=True, check=True).stdout)
        configs = [("base", None), ("all", lambda: self.tool("fdtrace", all=True)),
                   ("all8", lambda: self.tool("fdtrace", ["--sample", "8"], all=True))]

        def run_conn(factory):
            tool = factory() if factory else None
            g = subprocess.Popen([gen, "-s", "-w", "-d", str(secs), "-R", str(rate), "-c",
                                  str(self.work_cpu)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            info = None
            try:
                g.stdout.readline()
                if tool:
                    tool.start([g.pid])
                c0, t0 = (tool.cpu_s() if tool else 0), time.monotonic()
                g.stdin.write("go\n")
                g.stdin.flush()
                out = json.loads(g.stdout.readline())
                g.wait()
                c1, wall = (tool.cpu_s() if tool else 0), time.monotonic() - t0
            finally:
                if g.poll() is None:
                    g.kill()
                    g.wait()
                if tool and tool.running():
                    info = tool.stop(target_gone=False)
            return {"rate": out["cycles_per_s"], "cycles": out["cycles"],
                    "cpu_pct": 100 * (c1 - c0) / wall, "info": info}

        res = self.rounds_of(configs, run_conn, self.args.rounds_conn)
        self.raw["fleet_conn"] = {"flat_out": flat, "paced": res}
        self.section(f"   New TCP loopback connections paced to {rate}/s for {secs:g} s on one CPU "
                     "(accept/ADD/DEL/close), fdtrace -a")
        base = median([x["rate"] for x in res["base"]])
        for cfg, label in (("all", "fdtrace -a"), ("all8", "fdtrace -a --sample 8")):
            if cfg not in res:
                continue
            xs = [x for x in res[cfg] if not x["_foreign"]] or res[cfg]
            cpu = [x["cpu_pct"] for x in xs]
            lost = sum((x["info"] or {}).get("lost_events", 0) for x in res[cfg])
            # every connection is a watch that ended: did fdtrace see them?
            seen = min((x["info"] or {}).get("watches_ended", 0) / x["cycles"] for x in res[cfg])
            self.row(f"{label}: own CPU at {median([x['rate'] for x in xs]) / 1e3:.1f}k conn/s",
                     f"{base / 1e3:.1f}k conn/s untraced",
                     f"{median(cpu):.1f}% of a CPU",
                     f"{self.spread(cpu, '{:.1f}', len(res[cfg]))}, {lost} lost, "
                     f">= {100 * seen:.0f}% of watches seen",
                     "< 2% of a CPU", verdict(median(cpu), min(cpu), max(cpu), 2.0))
        self.note(f"section 9: the connection generator reaches {flat['cycles_per_s'] / 1e3:.1f}k "
                  "connections/s flat out on one CPU, untraced; under -a fdtrace also sees "
                  "every other process on the machine")

    def startup_cpu(self):
        """CPU seconds fdtrace spends starting and stopping with nothing to
        do: measured once, subtracted from the consumer's CPU per record."""
        if not hasattr(self, "_startup_cpu"):
            idle = self.idle_process()
            t = self.tool("fdtrace")
            t.start([idle.pid])
            time.sleep(0.5)
            info = t.stop(target_gone=False)
            self._startup_cpu = info["cpu_s"]
            self.raw["fdtrace_startup_cpu_s"] = info["cpu_s"]
        return self._startup_cpu

    # ---- report ------------------------------------------------------------

    def backend(self):
        """(backend fdtrace's default auto picks here, -v's line on it)"""
        r = subprocess.run([self.fdtrace, "-j", "-v", "--", "/bin/true"], capture_output=True,
                           text=True, timeout=120)
        backend = "?"
        for line in r.stdout.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "start":
                backend = ev.get("backend", "?")
        why = next((l for l in r.stderr.splitlines() if l.startswith("fdtrace: backend ")), "")
        return backend, why.removeprefix("fdtrace: ")

    def header(self):
        model = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        u = os.uname()
        ver = subprocess.run([self.fdtrace, "-V"], capture_output=True, text=True).stdout.strip()
        git = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        if git:
            ver += f" (tree {git})"
        clock = read_first("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        return [
            f"fdtrace overhead benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
            f"machine: {os.cpu_count()} CPUs, {model}, kernel {u.release} ({u.machine}), clocksource {clock}",
            f"{ver}; workload on CPU {self.work_cpu}, tracer on CPU {self.tool_cpu}; "
            f"{self.rounds} rounds (sections 1-2), each run the median of {self.args.reps} repetitions",
        ]

    def table(self):
        cols = ("Measurement", "Baseline", "Traced / alt", "Ratio or delta (range)", "Target", "Met")
        body = [r[1:] for r in self.rows if r[0] == "row"]
        w = [max([len(c)] + [len(str(b[i])) for b in body]) for i, c in enumerate(cols)]
        sep = "  "
        lines = self.header() + [""]
        lines.append(sep.join(c.ljust(w[i]) for i, c in enumerate(cols)).rstrip())
        lines.append(sep.join("-" * x for x in w))
        for r in self.rows:
            if r[0] == "section":
                lines.append(r[1])
            else:
                lines.append(sep.join(str(v).ljust(w[i]) for i, v in enumerate(r[1:])).rstrip())
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class Fdtrace:
    """fdtrace -j -p PIDS on the tool CPU; stop() returns its totals."""

    def __init__(self, b, extra=(), cpu="tool", grace=60, all=False, live=False):
        """all: -a (the whole machine) instead of -p; live: read the
        output as it comes, with arrival times (self.lines)"""
        self.b = b
        self.extra = list(extra)
        self.cpu = b.tool_cpu if cpu == "tool" else cpu
        self.grace = grace
        self.all = all
        self.live = live
        self.lines = []
        self.reader = None
        self.p = None

    def running(self):
        return self.p is not None and self.p.poll() is None

    def start(self, pids):
        self.err = open(self.b.path("fdtrace.err"), "w+")
        which = ["-a"] if self.all else ["-p", ",".join(map(str, pids))]
        cmd = [self.b.fdtrace, "-j", "-g", str(self.grace), *which, *self.extra]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  preexec_fn=pinner(self.cpu))
        line = self.p.stdout.readline()
        try:
            if json.loads(line).get("event") == "start":
                if self.live:
                    self.reader = threading.Thread(target=self.read_live, daemon=True)
                    self.reader.start()
                return
        except ValueError:
            pass
        self.p.wait()
        self.err.seek(0)
        raise RuntimeError(f"fdtrace did not start: {self.err.read().strip()}")

    def read_live(self):
        for line in self.p.stdout:
            self.lines.append((time.time(), line))

    def cpu_s(self):
        """CPU seconds fdtrace has used so far, every thread (schedstat)"""
        return task_cpu_s(self.p.pid)

    def memory(self):
        """fdtrace's resident memory now and at its peak, KiB"""
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                st = f.read()
            return {k: int(re.search(rf"^{k}:\s*(\d+)", st, re.M)[1]) for k in ("VmRSS", "VmHWM")}
        except (OSError, TypeError):
            return {}

    def stop(self, target_gone):
        timer = None
        mem = self.memory() if self.running() else {}
        if target_gone:
            # it stops by itself once its targets are gone; do not hang if not
            timer = threading.Timer(30, self.p.send_signal, [signal.SIGINT])
            timer.start()
        else:
            self.p.send_signal(signal.SIGINT)
        if self.reader:
            self.reader.join()
            out = "".join(line for _, line in self.lines)
        else:
            out = self.p.stdout.read()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.p.wait()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if timer:
            timer.cancel()
        info = {"cpu_s": cpu_seconds(r1) - cpu_seconds(r0), "watches_ended": 0, "closed": 0,
                "rss_kib": mem.get("VmRSS"), "hwm_kib": mem.get("VmHWM")}
        for line in out.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "totals":
                info["lost_events"] = ev["lost_events"]
                info["totals"] = ev
            elif ev.get("event") == "summary":
                info["watches_ended"] += ev["watches_ended"]
                info["closed"] += ev["closed"]
        if "lost_events" not in info:
            self.err.seek(0)
            raise RuntimeError(f"fdtrace printed no totals: {self.err.read().strip()}")
        self.err.close()
        return info


class HookFloor:
    """hook_floor VARIANT TGID: a variant of hooks.bpf.c attached, filtering
    on TGID.  key is a HOOK_VARIANTS or COST_VARIANTS key."""

    def __init__(self, b, key):
        self.b = b
        if key in COST_VARIANTS:
            _, self.variant, poll_ms, edge = COST_VARIANTS[key]
            self.args = [str(poll_ms)] + (["et"] if edge else [])
        else:
            self.variant, self.args = key, []
        self.p = None

    def running(self):
        return self.p is not None and self.p.poll() is None

    def start(self, pids):
        self.p = subprocess.Popen([self.b.prog("hook_floor"), self.variant, str(pids[0]),
                                   *self.args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  preexec_fn=pinner(self.b.tool_cpu))
        if self.p.stdout.readline().strip() == "ready":
            return
        rc = self.p.wait()
        err = self.p.stderr.read().strip()
        if rc == 3:
            raise Skip(err)
        raise RuntimeError(f"hook_floor {self.variant}: {err}")

    def stop(self, target_gone):
        self.p.stdin.close()
        out = self.p.stdout.read()
        self.p.wait()
        m = re.search(r"hits (\d+) records (\d+) wakeups (\d+) drains (\d+)", out)
        if not m:
            return {}
        return dict(zip(("hits", "records", "wakeups", "drains"), map(int, m.groups())))


class Bpftrace:
    def __init__(self, b):
        self.b = b
        self.p = None

    def running(self):
        return self.p is not None and self.p.poll() is None

    def start(self, pids):
        self.out = self.b.path("bpftrace.out")
        with open(self.out, "w"):
            pass
        self.err = open(self.b.path("bpftrace.err"), "w+")
        self.p = subprocess.Popen([h.which("bpftrace"), "-o", self.out, os.path.join(HERE, "fdtrace.bt"),
                                   str(pids[0])], stdout=subprocess.DEVNULL, stderr=self.err,
                                  preexec_fn=pinner(self.b.tool_cpu))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(self.out) as f:
                if "Attaching" in f.read():
                    # printed just before the attach calls: let them finish
                    time.sleep(0.5)
                    return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.p.kill()
        self.p.wait()
        self.err.seek(0)
        raise Skip(f"bpftrace did not attach: {self.err.read().strip()[-200:]}")

    def stop(self, target_gone):
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=60)
        n = 0
        with open(self.out) as f:
            for line in f:
                n += bool(re.match(r"\d+ \d+ \d+ (epoll_ctl|close) ", line))
        self.err.close()
        return {"lines": n}


class Strace:
    def __init__(self, b):
        self.b = b
        self.p = None

    def running(self):
        return self.p is not None and self.p.poll() is None

    def start(self, pids):
        self.out = self.b.path("strace.out")
        self.p = subprocess.Popen([h.which("strace"), "-f", "-e", "trace=epoll_ctl,close", "-o", self.out,
                                   "-p", str(pids[0])], stderr=subprocess.PIPE, text=True,
                                  preexec_fn=pinner(self.b.tool_cpu))
        line = self.p.stderr.readline()
        if "attached" not in line:
            self.p.kill()
            self.p.wait()
            raise Skip(f"strace did not attach: {line.strip()}")

    def stop(self, target_gone):
        if not target_gone:
            self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=120)
        with open(self.out) as f:
            n = sum(1 for _ in f)
        return {"lines": n}


HOOK_VARIANTS = {
    "tp_empty": "floor: syscall tp, empty prog",
    "tp_hash": "floor: syscall tp, tgid hash lookup",
    "raw_const": "floor: raw_tp sys_enter/exit, tgid == const",
    "btf_const": "floor: tp_btf sys_enter/exit, tgid == const",
    "fent_const": "floor: fentry/fexit on the syscalls",
}

# key: (label, BPF variant, consumer poll interval ms, edge-triggered consumer)
COST_VARIANTS = {
    "cost_base": ("tgid == const (reference)", "cost_base", 100, False),
    "cost_lookup": ("tgid hash hit + (tgid,fd) hash miss", "cost_lookup", 100, False),
    "cost_ktime": ("bpf_ktime_get_ns()", "cost_ktime", 100, False),
    "cost_comm": ("bpf_get_current_comm()", "cost_comm", 100, False),
    "cost_fdfile": ("fd table walk + file identity reads", "cost_fdfile", 100, False),
    "cost_fdwalk": ("fd table walk alone, probe reads", "cost_fdwalk", 100, False),
    "cost_fdbtf": ("  the same walk, direct loads (BTF task)", "cost_fdbtf", 100, False),
    "cost_hnp": ("hash update+delete, BPF_F_NO_PREALLOC", "cost_hnp", 100, False),
    "cost_hpre": ("hash update+delete, preallocated", "cost_hpre", 100, False),
    "cost_lru": ("LRU hash update+delete", "cost_lru", 100, False),
    # without wakeups a 4 MiB ring must be drained more often than 100 ms
    "cost_rb": ("ringbuf 80 B, NO_WAKEUP, drained every 1 ms", "cost_rb", 1, False),
    "cost_rbq": ("  the same + bpf_ringbuf_query()", "cost_rbq", 1, False),
    "cost_rbf": ("ringbuf, fdtrace: FORCE_WAKEUP >= 64 KiB, LT epoll",
                 "cost_rbf", 100, False),
    "cost_rbf_et": ("  the same, consumer waits edge-triggered", "cost_rbf", 100, True),
    "cost_rbe_et": ("  FORCE_WAKEUP on crossing 64 KiB, edge-trig.", "cost_rbe", 100, True),
    "cost_rbd": ("ringbuf, default flags (adaptive wakeup)", "cost_rbd", 100, False),
}


def tracing_progs():
    """ids of the BPF tracing programs loaded on the machine"""
    try:
        progs = h.bpf_progs(timeout=10)
    except (h.Fail, OSError, ValueError, subprocess.TimeoutExpired):
        return set()
    kinds = ("tracepoint", "raw_tracepoint", "tracing", "kprobe", "perf_event")
    return {p["id"] for p in progs if p.get("type") in kinds}


def task_cpu_s(pid):
    """CPU seconds of every thread of pid, from schedstat (ns, not ticks)"""
    ns = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return float("nan")
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return ns / 1e9


def verdict(value, lo, hi, target):
    """value at or below target is met; '?' when the rounds straddle it."""
    if hi <= target:
        return "yes"
    if lo > target:
        return "NO"
    return "yes?" if value <= target else "NO?"


def verdict_gt(ratios, target):
    lo, hi = min(ratios), max(ratios)
    if lo > target:
        return "yes"
    if hi <= target:
        return "NO"
    return "yes?" if median(ratios) > target else "NO?"


def parse_redis_csv(text):
    rows = [line.replace('"', "").split(",") for line in text.strip().splitlines()]
    if len(rows) < 2:
        raise RuntimeError(f"redis-benchmark printed no result: {text!r}")
    head, vals = rows[0], rows[-1]
    d = dict(zip(head, vals))
    return {"rps": float(d["rps"]), "p99": float(d["p99_latency_ms"]),
            "p50": float(d["p50_latency_ms"])}


def redis_cpu(port):
    """CPU seconds redis-server has used (INFO cpu: its getrusage)"""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"INFO cpu\r\n")
        data = b""
        while b"used_cpu_user:" not in data or not data.endswith(b"\r\n"):
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    info = dict(re.findall(r"(used_cpu_(?:sys|user)):([0-9.]+)", data.decode()))
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def read_account(path):
    """the JSON lines a tests/ workload wrote (-o REPORT)"""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def wait_account(path, ev, proc, timeout):
    """the first account line of kind ev, waiting for it"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for a in read_account(path):
            if a.get("ev") == ev:
                return a
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) before '{ev}'")
        time.sleep(0.02)
    raise RuntimeError(f"no '{ev}' from {proc.args[0]} within {timeout:g}s")


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not listen")


def read_first(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fdtrace", required=True)
    ap.add_argument("--bin", required=True, help="directory of the bench programs")
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections to run")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of sections 1 and 2")
    ap.add_argument("--rounds-cost", type=int, default=5, help="rounds of the per-operation prices")
    ap.add_argument("--rounds-alt", type=int, default=3, help="rounds of section 3")
    ap.add_argument("--rounds-redis", type=int, default=6, help="rounds of section 4")
    ap.add_argument("--rounds-gen", type=int, default=2, help="rounds of the generator runs")
    ap.add_argument("--reps", type=int, default=3, help="repetitions inside each run")
    ap.add_argument("-n", type=int, default=40000, help="syscall_cost ITERS")
    ap.add_argument("--n-alt", type=int, default=16000, help="syscall_cost ITERS for section 3")
    ap.add_argument("--redis-n", type=int, default=30000, help="requests per redis-benchmark test")
    ap.add_argument("--gen-cycles", type=int, default=250000, help="cycles per generator process")
    ap.add_argument("--leak-n", type=int, default=5000, help="leaks per batch in section 6 (2 batches)")
    ap.add_argument("--rounds-leak", type=int, default=3, help="rounds of section 6")
    ap.add_argument("--cr-n", type=int, default=400, help="close_range calls per run in section 7")
    ap.add_argument("--nginx-secs", type=float, default=3, help="seconds per wrk run in section 11")
    ap.add_argument("--conn-rate", type=int, default=10000, help="new connections/s in section 9")
    ap.add_argument("--conn-secs", type=float, default=4, help="seconds per paced run in section 9")
    ap.add_argument("--rounds-conn", type=int, default=3, help="rounds of the paced runs")
    ap.add_argument("--quiet-wait", type=float, default=10,
                    help="seconds to wait for other tracers to go before each run")
    ap.add_argument("--quiet-budget", type=float, default=90,
                    help="most seconds spent waiting for other tracers in all")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--table", help="also write the table here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (BPF programs, tracepoints)", file=sys.stderr)
        return 2
    only = args.only.split(",")
    for s in only:
        if s not in SECTIONS:
            print(f"bench: unknown section '{s}' ({', '.join(SECTIONS)})", file=sys.stderr)
            return 2
    b = Bench(args)
    t0 = time.monotonic()
    try:
        for s in SECTIONS:
            if s in only:
                t = time.monotonic()
                getattr(b, f"sec_{s}")()
                b.timing.append(f"{s} {time.monotonic() - t:.0f} s")
    finally:
        b.cleanup()
    if b.foreign_runs:
        b.note(f"{b.foreign_runs} of {b.runs} runs overlapped another BPF tracer on this machine "
               "(left out of the pairs where at least two clean rounds remained)")
    backend, why = b.backend()
    b.note(f"fdtrace ran with its default --backend=auto, which chose {backend} here ({why})")
    if backend != "fentry":
        b.note("the fentry backend's speed is not measured: this kernel refuses fentry; "
               + FENTRY_PUBLISHED)
    b.note(f"benchmark took {time.monotonic() - t0:.0f} s ({', '.join(b.timing)})")
    text = b.table()
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": b.header(), "raw": b.raw, "notes": b.notes}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
