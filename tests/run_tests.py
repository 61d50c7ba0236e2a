#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace's test runner: `make test` runs it as root.

First the unit-test binaries (build/tests/test_*), whose `N passed, N failed`
closing lines are folded into the totals; then the integration tests: real
workloads (tests/workloads/) traced by build/fdtrace on the running kernel,
each checked exactly against the workload's own account of its epoll
watches.

The integration tests live in tests/*_tests.py, imported here in the order
of their file names (which is the order they run in); their @test
functions register themselves in harness.py, the library that holds
everything a test uses.  A module that fails to import is reported as a
failed test.  This file only runs them.

Every test runs with a timeout; every process it starts lives in its own
process group and is killed when the test ends, whatever happened.  After
each test no fdtrace process of ours may be left and no BPF program that
was not there before the run may remain.

    tests/run_tests.py --build build [-k SUBSTRING]... [-v] [--list]

Only Python's standard library: Debian's /usr/bin/python3.
"""
import argparse
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
try:
    import harness as h
except RuntimeError as e:
    sys.exit(f"run_tests: {e}")

UNIT_TESTS = ("test_matcher", "test_output", "test_record", "test_html", "test_prom")


class Runner:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.fdtrace = os.path.join(self.build, "fdtrace")
        self.verbose = args.verbose
        self.filters = args.k or []
        self.excludes = args.exclude or []
        self.passed = self.failed = self.skipped = 0
        self.tmp = tempfile.mkdtemp(prefix="fdtrace-tests.")
        self.keep_tmp = False

    def selected(self, name):
        if any(x in name for x in self.excludes):
            return False
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

    def run_test(self, t, baseline):
        for tool in t.needs:
            present = h.OPTIONAL_TOOLS.get(tool)
            if present is None:
                self.failed += 1
                self.report("FAIL", t.name, f": needs {tool!r}, which no module put in OPTIONAL_TOOLS")
                return
            if not present():
                self.skipped += 1
                self.report("SKIP", t.name, f": {tool} is not installed")
                return
        ctx = h.Ctx(t, self.build, self.tmp, self.verbose)
        timed_out = threading.Event()

        def on_timeout():
            timed_out.set()
            for p in list(ctx.procs):
                p.kill_group()

        timer = threading.Timer(t.timeout, on_timeout)
        timer.start()
        err = skip = None
        try:
            t.fn(ctx)
        except h.Skip as e:
            skip = str(e)
        except h.Fail as e:
            err = str(e)
        except Exception:
            err = "test raised:\n" + traceback.format_exc()
        finally:
            timer.cancel()
        if timed_out.is_set():
            err = f"timed out after {t.timeout}s" + (f" ({err})" if err else "")
        if not err:
            left = h.fdtrace_left(self.fdtrace)
            if left:
                err = "; ".join(f"fdtrace process {pid} still running" for pid in left)
        took = time.time() - ctx.start
        stderr = [l for p in ctx.procs if isinstance(p, h.Fdtrace) for l in p.stderr_lines()]
        ctx.kill_all()
        try:
            progs = h.bpf_left(baseline)
        except h.Fail as e:
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
        elif skip is not None:
            self.skipped += 1
            self.report("SKIP", t.name, f": {skip}")
        else:
            self.passed += 1
            self.report("ok", t.name, f" ({took:.1f}s)")

    def run(self):
        for name in UNIT_TESTS:
            if self.selected(name):
                self.run_unit(name)
        tests = [t for t in h.TESTS if self.selected(t.name)]
        if tests:
            if os.geteuid() != 0:
                for t in tests:
                    self.failed += 1
                    self.report("FAIL", t.name, ": integration tests need root")
                tests = []
            else:
                h.set_subreaper()
                try:
                    baseline = h.bpf_prog_ids()
                except h.Fail as e:
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
    Import every tests/*_tests.py in name order: importing one registers
    its tests in harness.TESTS.  Returns the modules that failed to load.
    """
    broken = []
    for f in sorted(os.listdir(HERE)):
        if not f.endswith("_tests.py") or f == "run_tests.py":
            continue
        name = f[:-3]
        try:
            importlib.import_module(name)
        except Exception:
            broken.append((name, traceback.format_exc()))
    return broken


def main():
    ap = argparse.ArgumentParser(description="Run fdtrace's tests.")
    ap.add_argument("--build", default=os.path.join(h.ROOT, "build"), help="build directory")
    ap.add_argument("-k", action="append", metavar="SUBSTRING",
                    help="run only the tests whose name contains SUBSTRING (repeatable)")
    ap.add_argument("--exclude", action="append", metavar="SUBSTRING",
                    help="leave out the tests whose name contains SUBSTRING (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each step")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    args = ap.parse_args()
    broken = load_test_modules()
    if args.list:
        for name in UNIT_TESTS:
            print(f"{name:32} unit tests (build/tests/{name})")
        for t in h.TESTS:
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
