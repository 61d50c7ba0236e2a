# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Python's event loops: asyncio, and uvloop (libuv) where it is installed.

The leak of the article (remove_reader() and a forgotten socket), and a
well-behaved server under back-pressure whose transports are paused and
resumed: re-watched, never flagged.  The workloads
(tests/workloads/asyncio_*.py) keep their account through wl_account.py,
in the format of scenarios.c.
"""
import os
import subprocess

from harness import test, check, Expect, PYTHON, WORKLOADS, OPTIONAL_TOOLS, check_report, trace_pid


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
    # issue 16: nobody read or wrote a forgotten socket since the DEL
    for e in ft.events():
        if e["event"] == "leak":
            check(e.get("evidence") == "idle", f"leak with evidence {e.get('evidence')!r}, "
                                               f"expected 'idle': {e}")


def has_uvloop():
    return subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0


OPTIONAL_TOOLS["uvloop"] = has_uvloop


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
