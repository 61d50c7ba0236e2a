# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace_pytest: name the test that leaked a file descriptor.

A pytest plugin for test suites run under fdtrace.  fdtrace runs pytest as
its command and, with --share-events, hands it every finding as it
happens; the plugin knows when each test ran, so it can say which one
unwatched the fd it never closed.  As root, from anywhere:

    PYTHONPATH=/path/to/fdtrace/contrib/pytest \\
    fdtrace -g 1 --error-exitcode 7 --share-events -- \\
        python3 -m pytest -p fdtrace_pytest tests/

How the two find each other: fdtrace writes its findings, as the JSON
Lines of `fdtrace -j`, to an anonymous file (a memfd) and gives pytest a
read-only fd on it, named by $FDTRACE_EVENTS_FD, and the finding kinds
--error-on counts in $FDTRACE_ERROR_ON.  Nothing else is shared: no path,
no port, nothing left behind, and fdtrace's own output stays on stdout
for the CI log.  The plugin reads the file at the end of the session.

Each test's setup, call and teardown are timed with time.monotonic_ns();
fdtrace stamps every event with the kernel's CLOCK_MONOTONIC (mono_ns,
and deregistered_mono_ns for a leak's EPOLL_CTL_DEL), the same clock.  A
leak belongs to the test that was running when the watch ended.  A DEL
becomes a leak only after fdtrace's grace period, so the plugin waits that
long (plus --fdtrace-margin) after the last test before it looks.

The run fails (exit status 1 if pytest's own was 0) when a test leaked;
fdtrace --error-exitcode N then turns that into N.  Without fdtrace
around it, the plugin says so in the summary and does nothing.  Not for
pytest-xdist: the tests must run in the process fdtrace watches.

Only Python's standard library and pytest (Debian's python3-pytest).
"""
import json
import os
import time

import pytest

ENV_FD = "FDTRACE_EVENTS_FD"
ENV_ERROR_ON = "FDTRACE_ERROR_ON"
FINDINGS = ("leak", "closed_while_watched", "deregister_failed")
# What a finding says about the fd, in this order, when present; later
# versions of fdtrace may add more (peer addresses): see IDENTITY_WORDS.
IDENTITY = ("type", "inode", "dev", "evidence", "tcp_state", "unread_bytes")
IDENTITY_WORDS = ("peer", "local", "addr", "path", "port", "family", "proto")
DEFAULT_MARGIN_S = 1.0
START_TIMEOUT_S = 5.0


def pytest_addoption(parser):
    group = parser.getgroup("fdtrace")
    group.addoption("--fdtrace-margin", type=float, default=DEFAULT_MARGIN_S, metavar="SECONDS",
                    help="after the last test, wait fdtrace's grace period plus this long for "
                         f"its leaks (default {DEFAULT_MARGIN_S:g})")


def pytest_configure(config):
    config.pluginmanager.register(FdtracePlugin(config), "fdtrace_pytest_plugin")


class Finding:
    def __init__(self, ev, test):
        self.ev = ev
        self.test = test            # nodeid, or None: between tests
        self.resolved = None        # the leak_resolved event, if one came

    def key(self):
        return (self.ev.get("pid"), self.ev.get("fd"), self.ev.get("inode"))

    def describe(self):
        e = self.ev
        what = [f"{k} {e[k]}" for k in IDENTITY if e.get(k) not in (None, "")]
        what += [f"{k} {v}" for k, v in e.items()
                 if k not in IDENTITY and any(w in k for w in IDENTITY_WORDS) and v not in (None, "")]
        head = f"{e['event']}: fd {e.get('fd')}"
        if e.get("epfd") is not None:
            head += f" (epoll fd {e['epfd']})"
        line = f"{head}, {', '.join(what) or 'nothing more known'}; pid {e.get('pid')} ({e.get('comm')})"
        if e["event"] == "leak":
            line += f"; unwatched at {e.get('deregistered_at')}"
        if self.resolved:
            r = self.resolved
            line += f"; later {r.get('how')} after {r.get('unwatched_s')} s unwatched"
        return line


class FdtracePlugin:
    def __init__(self, config):
        self.config = config
        self.fd = None
        self.buf = b""
        self.events = []
        self.start = None
        self.tests = []             # (nodeid, start_ns, end_ns), in order
        self.findings = []
        self.error_on = set()
        self.problem = None         # why the plugin could not check
        # ours alone: a child (a pytest run inside a test) must not take
        # whatever file has this number in its own table for fdtrace's
        fd = os.environ.pop(ENV_FD, None)
        if fd is None:
            self.problem = (f"${ENV_FD} is not set: run pytest under "
                            "`fdtrace --share-events -- python3 -m pytest ...`; no leak checking")
            return
        try:
            self.fd = int(fd)
            target = os.readlink(f"/proc/self/fd/{self.fd}")
            if not target.startswith("/memfd:fdtrace-events"):
                raise ValueError(f"it is {target}")
            # the tests' own children have no use for it
            os.set_inheritable(self.fd, False)
        except (ValueError, OSError) as e:
            self.fd = None
            self.problem = f"${ENV_FD}={fd!r} is not fdtrace's events ({e}); no leak checking"
            return
        self.error_on = set(filter(None, os.environ.get(ENV_ERROR_ON, "leak").split(",")))

    # ---- reading fdtrace's events -------------------------------------------

    def read_events(self):
        """What fdtrace has written since the last call: whole lines only."""
        if self.fd is None:
            return
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            self.events.append(ev)
            if ev.get("event") == "start" and self.start is None:
                self.start = ev

    def grace_ns(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.start is None and time.monotonic() < deadline:
            time.sleep(0.05)
            self.read_events()
        if self.start is None:
            return None
        return int(self.start.get("grace_s", 0) * 1e9)

    # ---- timing the tests -----------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        start = time.monotonic_ns()
        yield
        self.tests.append((item.nodeid, start, time.monotonic_ns()))

    def test_at(self, mono_ns):
        """The test running at mono_ns, or None."""
        for nodeid, start, end in self.tests:
            if start <= mono_ns <= end:
                return nodeid
        return None

    # ---- the end ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.fd is None:
            return
        self.read_events()
        grace = self.grace_ns()
        if grace is None:
            self.problem = f"no start event from fdtrace within {START_TIMEOUT_S:g}s; no leak checking"
            return
        # a DEL in the last test is a leak grace later, reported soon after
        last = self.tests[-1][2] if self.tests else time.monotonic_ns()
        margin = int(self.config.getoption("fdtrace_margin") * 1e9)
        wait = last + grace + margin - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        self.read_events()
        self.match()
        if self.failing() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def match(self):
        leaks = {}
        for ev in self.events:
            kind = ev.get("event")
            if kind in FINDINGS:
                when = ev.get("deregistered_mono_ns") if kind == "leak" else None
                if when is None:
                    when = ev.get("mono_ns")
                f = Finding(ev, self.test_at(when) if when is not None else None)
                self.findings.append(f)
                if kind == "leak":
                    leaks[f.key()] = f
            elif kind == "leak_resolved":
                f = leaks.pop((ev.get("pid"), ev.get("fd"), ev.get("inode")), None)
                if f:
                    f.resolved = ev

    def failing(self):
        return [f for f in self.findings if f.ev["event"] in self.error_on]

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        tr = terminalreporter
        if self.problem:
            tr.write_sep("=", "fdtrace", yellow=True)
            tr.write_line(f"fdtrace_pytest: {self.problem}")
            return
        if not self.findings:
            return
        tr.write_sep("=", "fdtrace: file descriptors leaked", red=bool(self.failing()))
        by_test = {}
        for f in self.findings:
            by_test.setdefault(f.test, []).append(f)
        for test, fs in by_test.items():
            tr.write_line(test if test else "(between tests: no test was running)",
                          bold=True, red=any(f in self.failing() for f in fs))
            for f in fs:
                tr.write_line(f"    {f.describe()}")
        failed = {f.test for f in self.failing()}
        if failed:
            names = sorted(t or "(between tests)" for t in failed)
            tr.write_line(f"fdtrace: {len(failed)} {'test' if len(failed) == 1 else 'tests'} "
                          f"failed on {' or '.join(sorted(self.error_on))}: {', '.join(names)}",
                          red=True)
