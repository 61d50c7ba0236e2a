# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Call sites (issue 10, Python part): the Python line that removed the watch.

The kernel walks CPython 3.11's frames at every ADD and DEL of a process
userspace found to run one; fdtrace names them from the live process and
groups the leaks by them.  The workload is tests/workloads/asyncio_leak.py:
its DELs all come from the line of on_data() that calls
loop.remove_reader(), its ADDs from the line of on_accept() that calls
loop.add_reader().  Both interpreters of the machine are tried when they
are 3.11: Debian's /usr/bin/python3 (a stripped executable) and pyenv's
(a libpython3.11.so).
"""
import json
import os
import pwd
import shutil
import subprocess

import harness as h
from harness import test, check, Skip

WL = os.path.join(h.WORKLOADS, "asyncio_leak.py")
# pyenv's interpreters: $PYENV_ROOT, else the user's home (from passwd: the VM runs with HOME=/tmp)
PYENV = os.path.join(os.environ.get("PYENV_ROOT") or
                     os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".pyenv"), "versions")


def line_of(needle):
    with open(WL) as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise h.Fail(f"{needle!r} not in {WL}")


def frame(needle, func):
    return f"{WL}:{line_of(needle)} in {func}"


DEL_FRAME = ("loop.remove_reader(fd)", "main.<locals>.on_data")
ADD_FRAME = ("loop.add_reader(conn.fileno(), on_data", "main.<locals>.on_accept")
RUN_FRAME = ("loop.run_until_complete(serve(", "main")


def pyenv_python(minor):
    """pyenv's python3.MINOR, or None."""
    if not os.path.isdir(PYENV):
        return None
    for v in sorted(os.listdir(PYENV)):
        exe = os.path.join(PYENV, v, "bin", f"python3.{minor}")
        if v.startswith(f"3.{minor}.") and os.access(exe, os.X_OK):
            return exe
    return None


def version_of(python):
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True).stdout.strip()


def run(ctx, python, loop, *args, n=8, grace=0.5, stderr=None):
    argv = [python, WL, "-o", ctx.path("acc.jsonl"), "-g", grace, "-n", n, "--loop", loop]
    ft = ctx.fdtrace("-j", "-g", grace, *args, "--", *argv)
    rc = ft.wait(60)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    if stderr is not None:
        stderr.extend(json.loads(l) for l in ft.stderr_lines() if l.startswith("{"))
    return ft.events()


def workload_frames(frames):
    return [f for f in frames if f.startswith(WL + ":")]


def check_asyncio(ctx, python):
    """4 leaks, each DEL'd from remove_reader's line through asyncio; one site; replay the same."""
    if version_of(python) != "3.11":
        raise Skip(f"{python} is not Python 3.11")
    rec = ctx.path("run.fdt")
    evs = run(ctx, python, "asyncio", "-w", rec)
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    want_del = frame(*DEL_FRAME)
    want_add = frame(*ADD_FRAME)
    for e in leaks:
        d, a = e.get("del_frames"), e.get("add_frames")
        check(d and a, f"leak without Python frames: {e}")
        # innermost first: selectors' unregister (which calls epoll.unregister),
        # asyncio, then the workload's line; the native site last
        check(d[0].startswith("/") and "selectors.py:" in d[0] and
              d[0].endswith(" in _PollLikeSelector.unregister"), f"innermost DEL frame {d[0]!r}")
        check(workload_frames(d)[0] == want_del, f"DEL's workload frame {workload_frames(d)[:1]}, "
                                                 f"expected {want_del!r}")
        check(workload_frames(a)[0] == want_add, f"ADD's workload frame {workload_frames(a)[:1]}, "
                                                 f"expected {want_add!r}")
        check(d[-1] == e["del_site"] and a[-1] == e["add_site"], "the native site closes the frames")
        check(d == leaks[0]["del_frames"], f"leaks from one line, other stacks: {d} {leaks[0]['del_frames']}")
    sites = [e for e in evs if e["event"] == "site"]
    check(len(sites) == 1 and sites[0]["leaks"] == 4, f"one site with 4 leaks expected: {sites}")
    check(sites[0]["del_frames"] == leaks[0]["del_frames"] and
          sites[0]["add_frames"] == leaks[0]["add_frames"], f"the site's frames differ: {sites[0]}")
    # elsewhere: the frames the live run named, from the recording alone
    ft = ctx.fdtrace("-j", "-r", rec)
    check(ft.wait(30) == 0, "replay failed")
    again = [e for e in ft.events() if e["event"] in ("leak", "site")]
    check([(e["event"], e.get("del_frames"), e.get("add_frames")) for e in again] ==
          [(e["event"], e.get("del_frames"), e.get("add_frames")) for e in leaks + sites],
          f"replay names other frames: {[e.get('del_frames') for e in again]}")


@test(timeout=90)
def pysites_asyncio_debian(ctx):
    """Debian's python3.11: every leak names remove_reader's line; one site of 4; replay the same."""
    check_asyncio(ctx, h.PYTHON)


@test(timeout=90)
def pysites_asyncio_pyenv(ctx):
    """pyenv's 3.11 (libpython3.11.so): the same."""
    python = pyenv_python(11)
    if not python:
        raise Skip("no pyenv python3.11")
    check_asyncio(ctx, python)


def has_uvloop():
    return subprocess.run([h.PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0


h.OPTIONAL_TOOLS["uvloop"] = has_uvloop


@test(timeout=90, needs=("uvloop",))
def pysites_uvloop(ctx):
    """uvloop: the DEL runs inside remove_reader() (Cython, no Python frame of its own); the ADD in the loop."""
    evs = run(ctx, h.PYTHON, "uvloop")
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    for e in leaks:
        d, a = e.get("del_frames", []), e.get("add_frames", [])
        # uvloop and libuv are C: the innermost Python frame is the caller's line
        check(d and d[0] == frame(*DEL_FRAME), f"DEL frames {d[:2]}, expected {frame(*DEL_FRAME)!r} first")
        # libuv makes its ADDs when the loop polls: the Python frame that
        # drives the loop is all there is to show
        check(a and a[0] == frame(*RUN_FRAME), f"ADD frames {a[:2]}, expected {frame(*RUN_FRAME)!r} first")
        check("libuv" in d[-1], f"native DEL site {d[-1]!r} is not in libuv")
    sites = [e for e in evs if e["event"] == "site"]
    check(len(sites) == 1 and sites[0]["leaks"] == 4, f"one site with 4 leaks expected: {sites}")


@test(timeout=90)
def pysites_summary_stream(ctx):
    """--stream=summary: the DELs the kernel held back still carry their Python frames."""
    evs = run(ctx, h.PYTHON, "asyncio", "--stream=summary")
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    for e in leaks:
        check(workload_frames(e.get("del_frames", []))[:1] == [frame(*DEL_FRAME)],
              f"DEL frames {e.get('del_frames')}")
        check(workload_frames(e.get("add_frames", []))[:1] == [frame(*ADD_FRAME)],
              f"ADD frames {e.get('add_frames')}")
    sites = [e for e in evs if e["event"] == "site"]
    check(len(sites) == 1 and sites[0]["leaks"] == 4, f"one site with 4 leaks expected: {sites}")


@test(timeout=90)
def pysites_no_stacks(ctx):
    """--no-stacks: no call site at all, native or Python, and no site groups."""
    evs = run(ctx, h.PYTHON, "asyncio", "--no-stacks")
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    for e in leaks:
        check(not any(k in e for k in ("del_site", "add_site", "del_frames", "add_frames")),
              f"a call site with --no-stacks: {e}")
    check(not [e for e in evs if e["event"] == "site"], "site events with --no-stacks")


@test(timeout=90)
def pysites_unknown_version(ctx):
    """A Python whose layout fdtrace does not know: one notice, no Python frames, native sites still."""
    python = pyenv_python(12)
    if not python:
        raise Skip("no pyenv python3.12")
    err = []
    evs = run(ctx, python, "asyncio", stderr=err)
    notes = [e for e in err if e["event"] == "warning" and "Python 3.12" in e.get("message", "")]
    check(len(notes) == 1, f"{len(notes)} notices about Python 3.12, expected 1: {notes}")
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    for e in leaks:
        check("del_frames" not in e and e.get("del_site"), f"leak {e}")


@test(timeout=60)
def pysites_layout_pyenv(ctx):
    """pyenv's 3.11 headers give the layout the build took from python3.11-dev's."""
    inc = None
    python = pyenv_python(11)
    if python:
        inc = os.path.join(os.path.dirname(os.path.dirname(python)), "include", "python3.11")
    if not inc or not os.path.isdir(os.path.join(inc, "internal")):
        raise Skip("no pyenv python3.11 with its headers")
    cc = shutil.which("cc") or shutil.which("gcc")
    gen = ctx.path("gen")
    subprocess.run([cc, "-DPy_BUILD_CORE", f"-I{inc}", f"-I{inc}/internal",
                    os.path.join(h.ROOT, "scripts", "py311_offsets.c"), "-o", gen], check=True)
    theirs = subprocess.run([gen], capture_output=True, text=True, check=True).stdout
    with open(os.path.join(ctx.build, "py311_offsets.h")) as f:
        ours = f.read()

    def layout(text):
        return [l for l in text.splitlines() if l.startswith("#define") and "HEADERS_HEX" not in l]

    check(layout(theirs) == layout(ours), f"layouts differ:\n{theirs}\n{ours}")


@test(timeout=90)
def pysites_attach_pid(ctx):
    """-p on a running python3.11: its interpreter is found at attach; the same frames and one site."""
    grace = 0.5
    report = ctx.path("account.jsonl")
    argv = [h.PYTHON, WL, "-o", report, "-g", grace, "-n", 8, "--loop", "asyncio", "--wait", "--hold"]
    ft, _ = h.trace_pid(ctx, argv, report, grace)
    evs = ft.events()
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 4, f"{len(leaks)} leaks, expected 4")
    for e in leaks:
        check(workload_frames(e.get("del_frames", []))[:1] == [frame(*DEL_FRAME)],
              f"DEL frames {e.get('del_frames')}")
    sites = [e for e in evs if e["event"] == "site"]
    check(len(sites) == 1 and sites[0]["leaks"] == 4, f"one site with 4 leaks expected: {sites}")


@test(timeout=60)
def pysites_after_exec(ctx):
    """A python that execs python: the leak made before the exec has no frames, the one after names its line."""
    wl = os.path.join(h.WORKLOADS, "py_exec_leak.py")
    grace = 0.5
    ft = ctx.fdtrace("-j", "-g", grace, "--", h.PYTHON, wl, "before", grace)
    rc = ft.wait(30)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    fds = [int(l.split()[1]) for l in ft.stderr_lines() if l.startswith("leaked ")]
    check(len(fds) == 2, f"the workload says it leaked {fds}")
    leaks = {e["fd"]: e for e in ft.events() if e["event"] == "leak"}
    check(sorted(leaks) == sorted(fds), f"leaks {sorted(leaks)}, expected {sorted(fds)}")
    check("del_frames" not in leaks[fds[0]] and "add_frames" not in leaks[fds[0]],
          f"frames from before the exec: {leaks[fds[0]]}")
    with open(wl) as f:
        lines = f.read().splitlines()
    after = lines.index("def leak_after():") + 1
    unreg = next(n for n in range(after, len(lines)) if "ep.unregister(" in lines[n]) + 1
    d = leaks[fds[1]].get("del_frames", [])
    check(d[:1] == [f"{wl}:{unreg} in leak_after"], f"DEL frames after the exec: {d}")


# every code object of these modules (and the functions in them), for the line table test
LINETABLE_MODULES = ("asyncio.base_events", "asyncio.selector_events", "selectors", "json.decoder",
                     "argparse", "typing", "email.message", "http.client")


@test(timeout=60)
def pysites_linetable(ctx):
    """fdtrace's 3.11 location-table decoder gives CPython's line for every code unit of many functions."""
    for python in (h.PYTHON, pyenv_python(11)):
        if not python or version_of(python) != "3.11":
            continue
        fixture = ctx.path(f"lines-{os.path.basename(os.path.dirname(os.path.dirname(python)))}.txt")
        gen = (
            "import importlib, sys\n"
            "def walk(co):\n"
            "    yield co\n"
            "    for c in co.co_consts:\n"
            "        if hasattr(c, 'co_linetable'):\n"
            "            yield from walk(c)\n"
            "out = open(sys.argv[1], 'w')\n"
            "for name in sys.argv[2:]:\n"
            "    m = importlib.import_module(name)\n"
            "    src = compile(open(m.__file__).read(), m.__file__, 'exec')\n"
            "    for co in walk(src):\n"
            "        lines = [-1 if p[0] is None else p[0] for p in co.co_positions()]\n"
            "        out.write(f'{co.co_firstlineno} {co.co_linetable.hex()} "
            "{\",\".join(map(str, lines))}\\n')\n")
        subprocess.run([python, "-c", gen, fixture, *LINETABLE_MODULES], check=True)
        r = subprocess.run([os.path.join(ctx.build, "tests", "test_pysites"), fixture],
                           capture_output=True, text=True)
        ctx.log(f"{python}: {r.stdout.strip()}")
        check(r.returncode == 0, f"{python}: {r.stdout.strip()}")


@test(timeout=60)
def pysites_fork_child(ctx):
    """-f: a child that leaks right after its fork has its frames (the kernel gave it the parent's interpreter)."""
    wl = os.path.join(h.WORKLOADS, "py_fork_leak.py")
    grace = 0.5
    ft = ctx.fdtrace("-j", "-f", "-g", grace, "--", h.PYTHON, wl, grace)
    rc = ft.wait(30)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    leaks = [e for e in ft.events() if e["event"] == "leak"]
    check(len(leaks) == 1, f"{len(leaks)} leaks, expected the child's one")
    with open(wl) as f:
        lines = f.read().splitlines()
    start = lines.index("def child_leak():")
    unreg = next(n for n in range(start, len(lines)) if "ep.unregister(" in lines[n]) + 1
    reg = next(n for n in range(start, len(lines)) if "ep.register(" in lines[n]) + 1
    d, a = leaks[0].get("del_frames", []), leaks[0].get("add_frames", [])
    check(d[:1] == [f"{wl}:{unreg} in child_leak"], f"the child's DEL frames: {d}")
    check(a[:1] == [f"{wl}:{reg} in child_leak"], f"the child's ADD frames: {a}")
