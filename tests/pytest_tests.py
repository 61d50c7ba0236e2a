# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Test runs (issue 14): --error-exitcode, --error-on, --share-events and
the pytest plugin (contrib/pytest/fdtrace_pytest.py).

The plugin is run the way a CI job runs it: fdtrace runs pytest as its
command over tests/pytest_suite, three asyncio tests of which one forgets
a socket after remove_reader(); FDT_SUITE_FIXED=1 closes it.
"""
import os
import re
import signal
import subprocess

from harness import test, check, Fail, Skip
import harness as h

SUITE = os.path.join(h.HERE, "pytest_suite")
PLUGIN_DIR = os.path.join(h.ROOT, "contrib", "pytest")
LEAKER = "test_echo.py::test_forgets_socket"
SUITE_TESTS = ("test_echo.py::test_reads_and_closes", LEAKER,
               "test_echo.py::test_reads_twice_and_closes")
GRACE = 0.5


def has_pytest():
    return subprocess.run([h.PYTHON, "-c", "import pytest"], capture_output=True).returncode == 0


h.OPTIONAL_TOOLS["pytest"] = has_pytest


def run_suite(ctx, *fdtrace_args, fixed=False):
    """fdtrace [args] --share-events -- python3 -m pytest -p fdtrace_pytest SUITE: (rc, stdout)"""
    env = dict(os.environ, PYTHONPATH=PLUGIN_DIR, PYTHONDONTWRITEBYTECODE="1",
               FDT_SUITE_FIXED="1" if fixed else "0")
    # -p no:cacheprovider: nothing written into the source tree
    ft = h.Fdtrace(ctx, [ctx.fdtrace_bin, "-g", GRACE, *fdtrace_args, "--share-events", "--",
                         h.PYTHON, "-m", "pytest", "-p", "fdtrace_pytest", "-p", "no:cacheprovider",
                         "-v", SUITE], env=env, name="fdtrace")
    rc = ft.wait(60)
    out = ft.stdout_lines()
    for line in out + ft.stderr_lines():
        ctx.log(f"| {line}")
    ran = [t for t in SUITE_TESTS if any(t in l and "PASSED" in l for l in out)]
    check(len(ran) == len(SUITE_TESTS), f"not every test of the suite passed: {ran}")
    return rc, out


def plugin_section(out):
    """The tests the plugin names in its summary section (empty: no section)."""
    try:
        start = next(i for i, l in enumerate(out) if re.match(r"=+ fdtrace: file descriptors leaked =+$", l))
    except StopIteration:
        return [], []
    named, details = [], []
    for line in out[start + 1:]:
        if line.startswith("=") or line.startswith("fdtrace: "):
            break
        (details if line.startswith("    ") else named).append(line.strip())
    return named, details


@test(timeout=90, needs=("pytest",))
def pytest_plugin_names_leaking_test(ctx):
    """The plugin names exactly the test that forgot a socket; --error-exitcode 7 gives 7."""
    rc, out = run_suite(ctx, "--error-exitcode", 7)
    check(rc == 7, f"status {rc}, expected 7 (--error-exitcode) for a suite that leaked")
    named, details = plugin_section(out)
    check(len(named) == 1 and named[0].endswith(LEAKER),
          f"the plugin named {named}, expected only ...{LEAKER}")
    check(len(details) == 1 and details[0].startswith("leak: fd ") and "type socket" in details[0]
          and "inode " in details[0], f"the leak is not described with its fd, type and inode: {details}")
    check(any(re.match(rf"fdtrace: 1 test failed on leak: \S*{re.escape(LEAKER)}$", l) for l in out),
          "no closing line naming the one test that failed")
    # fdtrace's own text report is in the same log
    check(any(re.search(r"\bLEAK\b.* socket ", l) for l in out), "fdtrace's LEAK line is missing")

    # without --error-exitcode, the status is pytest's: failed by the plugin
    rc, out = run_suite(ctx)
    check(rc == 1, f"without --error-exitcode: status {rc}, expected pytest's 1")
    named, _ = plugin_section(out)
    check(len(named) == 1 and named[0].endswith(LEAKER), f"the plugin named {named}")


@test(timeout=60, needs=("pytest",))
def pytest_plugin_fixed_suite_passes(ctx):
    """The suite with the leak fixed: pytest's own status 0, nothing named."""
    rc, out = run_suite(ctx, "--error-exitcode", 7, fixed=True)
    check(rc == 0, f"status {rc}, expected pytest's 0 for a suite that leaks nothing")
    named, _ = plugin_section(out)
    check(not named, f"the plugin named {named} though nothing leaked")
    check(not any("fdtrace_pytest:" in l for l in out), "the plugin says it could not check")


@test(timeout=60, needs=("pytest",))
def pytest_plugin_without_fdtrace(ctx):
    """Without fdtrace around it, the plugin says so and leaves pytest's status alone."""
    env = dict(os.environ, PYTHONPATH=PLUGIN_DIR, PYTHONDONTWRITEBYTECODE="1", FDT_SUITE_FIXED="0")
    env.pop("FDTRACE_EVENTS_FD", None)
    p = h.Proc(ctx, [h.PYTHON, "-m", "pytest", "-p", "fdtrace_pytest", "-p", "no:cacheprovider",
                     SUITE], env=env, name="pytest")
    rc = p.wait(60)
    out = p.stdout_lines()
    check(rc == 0, f"pytest alone: status {rc}: {out[-5:]}")
    check(any("FDTRACE_EVENTS_FD is not set" in l for l in out),
          f"the plugin does not say it is not run under fdtrace: {out[-5:]}")


def traced(ctx, *args, timeout=30):
    ft = ctx.fdtrace(*args)
    rc = ft.wait(timeout)
    ctx.log(f"status {rc}; stderr {ft.stderr_lines()[-3:]}")
    return rc, ft


@test(timeout=90)
def error_exitcode_command(ctx):
    """--error-exitcode: a leak gives N; no leak, or a failing command, keeps the command's status."""
    g = "0.3"
    rc, ft = traced(ctx, "-g", g, "--error-exitcode", 7, "--", *ctx.scenario_argv("leak", g))
    check(rc == 7, f"scenarios leak with --error-exitcode 7: status {rc}")
    check(any(" LEAK " in l for l in ft.stdout_lines()), "the leaks were not printed as usual")
    rc, _ = traced(ctx, "-g", g, "--error-exitcode", 7, "--", *ctx.scenario_argv("close", g))
    check(rc == 0, f"scenarios close with --error-exitcode 7: status {rc}, expected its own 0")
    rc, _ = traced(ctx, "-g", g, "--error-exitcode", 7, "--", "/bin/sh", "-c", "exit 3")
    check(rc == 3, f"a command failing with 3, no leak: status {rc}, expected 3")
    # a leak resolved later still counts
    rc, ft = traced(ctx, "-j", "-g", g, "--error-exitcode", 7, "--",
                    *ctx.scenario_argv("late_close", g))
    check(any(e["event"] == "leak_resolved" for e in ft.events()), "late_close: no leak_resolved")
    check(rc == 7, f"scenarios late_close (leaks closed late): status {rc}, expected 7")
    # --error-on: the kinds counted; leak only by default
    rc, _ = traced(ctx, "-g", g, "--error-exitcode", 7, "--",
                   *ctx.scenario_argv("closed_while_watched", g))
    check(rc == 0, f"closed_while_watched, default --error-on: status {rc}, expected 0")
    rc, _ = traced(ctx, "-g", g, "--error-exitcode", 7, "--error-on", "leak,closed_while_watched",
                   "--", *ctx.scenario_argv("closed_while_watched", g))
    check(rc == 7, f"closed_while_watched, --error-on leak,closed_while_watched: status {rc}")
    # without the option, exactly as before
    rc, _ = traced(ctx, "-g", g, "--", *ctx.scenario_argv("leak", g))
    check(rc == 0, f"scenarios leak without --error-exitcode: status {rc}, expected its own 0")


@test(timeout=60)
def error_exitcode_replay(ctx):
    """-r of a recording with a leak: --error-exitcode 9 gives 9, without it 0."""
    g = "0.3"
    rec = ctx.path("leak.fdt")
    rc, _ = traced(ctx, "-g", g, "-w", rec, "--", *ctx.scenario_argv("leak", g))
    check(rc == 0, f"recording scenarios leak: status {rc}")
    rc, ft = traced(ctx, "-r", rec, "--error-exitcode", 9)
    check(rc == 9, f"-r with --error-exitcode 9: status {rc}")
    check(any(" LEAK " in l for l in ft.stdout_lines()), "the replayed leaks were not printed")
    rc, _ = traced(ctx, "-r", rec)
    check(rc == 0, f"-r without --error-exitcode: status {rc}")
    rc, _ = traced(ctx, "-r", rec, "--error-exitcode", 9, "--error-on", "deregister_failed")
    check(rc == 0, f"-r, --error-on deregister_failed, no such finding: status {rc}")
    # fdtrace's own failure comes first
    rc, ft = traced(ctx, "-r", ctx.path("missing.fdt"), "--error-exitcode", 9)
    check(rc == 2, f"-r of a missing file with --error-exitcode 9: status {rc}, expected 2")


@test(timeout=30)
def error_exitcode_cli(ctx):
    """The options' errors: one line, status 2."""
    cases = [
        (("--error-exitcode", "0", "--", "true"), "invalid --error-exitcode '0'"),
        (("--error-exitcode", "256", "--", "true"), "invalid --error-exitcode '256'"),
        (("--error-exitcode", "0x7", "--", "true"), "invalid --error-exitcode '0x7'"),
        (("--error-exitcode", "7", "--error-on", "leak,nope", "--", "true"), "invalid --error-on"),
        (("--error-on", "leak", "--", "true"), "--error-on goes with --error-exitcode"),
        (("--share-events", "-p", "1"), "--share-events goes with -- COMMAND"),
    ]
    for args, want in cases:
        rc, ft = traced(ctx, *args)
        err = ft.stderr_lines()
        check(rc == 2 and len(err) == 1 and err[0].startswith("fdtrace: ") and want in err[0],
              f"fdtrace {' '.join(args)}: status {rc}, stderr {err}; expected 2 and {want!r}")


@test(timeout=60)
def error_exitcode_pid(ctx):
    """-p: stopped with SIGINT after a leak, --error-exitcode 5 gives 5 (0 without a leak)."""
    g = "0.3"
    for scenario, want in (("leak", 5), ("close", 0)):
        report = ctx.path(f"{scenario}.jsonl")
        wl = ctx.workload(ctx.scenario_argv(scenario, g, "--wait", "--hold", report=report), report)
        ready = wl.wait_ev("ready", 15)
        ft = ctx.fdtrace("-j", "-g", g, "--error-exitcode", 5, "-p", ready["pid"])
        ft.wait_start()
        wl.tell()
        wl.wait_ev("done", 30)
        ft.signal(signal.SIGINT)
        rc = ft.wait(15)
        wl.tell()
        wl.wait(15)
        check(rc == want, f"-p scenarios {scenario}, --error-exitcode 5: status {rc}, expected {want}")
