# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Call sites (issue 10, native part): the line of code that removed the watch.

The kernel side reads the return address at the user stack pointer at each
ADD and DEL (glibc's epoll_ctl() is a frameless stub: exact without frame
pointers); fdtrace names it with libdwfl when it reports, and groups the
leaks by it under the process's summary.  The C workloads are built with
-g: their DELs all come from unwatch() in tests/lib/workload.c.
"""
import json
import os
import re

import harness as h
from harness import test, check


def line_of(path, needle, after):
    """Line number of the first line containing needle after the line containing after."""
    seen = False
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if after in line:
                seen = True
            elif seen and needle in line:
                return n
    raise h.Fail(f"{needle!r} not found after {after!r} in {path}")


def scenario_json(ctx, scenario, *args, grace=0.3):
    argv = ctx.scenario_argv(scenario, grace)
    ft = ctx.fdtrace("-j", "-g", grace, *args, "--", *argv)
    rc = ft.wait(30)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    return ft.events()


@test()
def sites_native(ctx):
    """Every leak names unwatch() at its epoll_ctl line; one site, with the count; replay names the same."""
    wl = os.path.join(h.ROOT, "tests", "lib", "workload.c")
    del_line = line_of(wl, "EPOLL_CTL_DEL", "void unwatch(")
    rec = ctx.path("run.fdt")
    evs = scenario_json(ctx, "leak", "-w", rec)
    leaks = [e for e in evs if e["event"] == "leak"]
    check(len(leaks) == 3, f"{len(leaks)} leaks, expected 3")
    want = re.compile(rf"^unwatch\+0x[0-9a-f]+ \(workload\.c:{del_line}\) \[scenarios\]$")
    for e in leaks:
        check(want.match(e.get("del_site", "")), f"del_site {e.get('del_site')!r}, expected unwatch at workload.c:{del_line}")
        check(e.get("add_site", "").startswith("watch_ev+"), f"add_site {e.get('add_site')!r}")
    sites = [e for e in evs if e["event"] == "site"]
    check(len(sites) == 1 and sites[0]["leaks"] == 3 and sites[0]["del_site"] == leaks[0]["del_site"],
          f"one site with 3 leaks expected: {sites}")
    order = [e["event"] for e in evs]
    check(order.index("site") == order.index("summary") + 1, "the site comes right after its summary")
    # elsewhere, from the recording: the names the live run resolved
    ft = ctx.fdtrace("-j", "-r", rec)
    check(ft.wait(30) == 0, "replay failed")
    again = [e for e in ft.events() if e["event"] in ("leak", "site")]
    check([e.get("del_site") for e in again] == [e.get("del_site") for e in leaks + sites],
          f"replay names other sites: {[e.get('del_site') for e in again]}")


@test()
def sites_after_exec(ctx):
    """A process that execs: sites are named from the new program's mappings; the old program's stay bare addresses."""
    link = ctx.path("wl-stage2")
    os.symlink(os.path.join(ctx.build, "tests", "scenarios"), link)
    argv = ctx.scenario_argv("exec_comm", 0.3, "--exec-as", link)
    ft = ctx.fdtrace("-j", "-g", 0.3, "--", *argv)
    rc = ft.wait(30)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    leaks = [e for e in ft.events() if e["event"] == "leak"]
    check(leaks, "no leak after the exec")
    # a DEL made before the exec was in the old program, whose mappings are
    # gone: its address stays a bare number; never a name from the new one
    named = [e for e in leaks if e.get("del_site", "").startswith("unwatch+")]
    bare = [e for e in leaks if re.fullmatch(r"0x[0-9a-f]+", e.get("del_site", ""))]
    check(named, f"no DEL after the exec was named unwatch(): {[e.get('del_site') for e in leaks]}")
    check(len(named) + len(bare) == len(leaks),
          f"sites neither unwatch() nor a bare address: {[e.get('del_site') for e in leaks]}")


@test()
def sites_stripped_python(ctx):
    """Debian's python3.11 is stripped: its sites are module+offset, never a wrong function name."""
    grace = 0.5
    argv = [h.PYTHON, os.path.join(h.WORKLOADS, "asyncio_leak.py"), "-o", ctx.path("acc.jsonl"),
            "-g", grace, "-n", 2, "--loop", "asyncio"]
    ft = ctx.fdtrace("-j", "-g", grace, "--", *argv)
    rc = ft.wait(40)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    leaks = [e for e in ft.events() if e["event"] == "leak"]
    check(leaks, "the asyncio workload leaked nothing")
    for e in leaks:
        check(re.match(r"^python3\.11\+0x[0-9a-f]+$", e.get("del_site", "")),
              f"del_site {e.get('del_site')!r}: expected python3.11+0xOFFSET")
