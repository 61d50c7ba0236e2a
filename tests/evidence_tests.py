# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Issue 16: the evidence on every finding, from the socket's state.

A Python server (tests/workloads/asyncio_evidence.py) unwatches TCP
sockets and leaves each in one state: forgotten (idle), its peer gone
(peer_closed), data arriving unread (backpressured), still written to
(in use, then idle), and a healthy slow consumer whose transport pauses
reading for longer than the grace.  Each test checks exactly which fds
fdtrace flags, with which evidence and when, and that nothing else is
flagged; each runs under stdlib asyncio and uvloop (which DELs from C),
over IPv4 and IPv6 loopback.
"""
import contextlib
import os
import socket
import subprocess

import harness as h
from harness import (test, check, Skip, Expect, PYTHON, WORKLOADS, OPTIONAL_TOOLS,
                     check_report, trace_pid, parse_rfc3339)

WORKLOAD = os.path.join(WORKLOADS, "asyncio_evidence.py")
HOSTS = {"ipv4": "127.0.0.1", "ipv6": "::1"}
KEPT = 2                # -n 4: every other socket is closed at once, two are kept
SLACK_S = 0.25          # clocks: the workload's time.time() against fdtrace's


def has_uvloop():
    return subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0


OPTIONAL_TOOLS.setdefault("uvloop", has_uvloop)


def loopback(family):
    host = HOSTS[family]
    if family == "ipv6":
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind((host, 0))
        except OSError as e:
            raise Skip(f"no IPv6 loopback on this machine: cannot bind [::1]: {e}")
    return host


def run(ctx, role, loop, family, grace, fdtrace_args=(), extra=(), done_timeout=30):
    """The workload in one role, traced with -p; its account as an Expect."""
    report = ctx.path("account.jsonl")
    argv = [PYTHON, WORKLOAD, "-o", report, "--role", role, "-g", grace, "--loop", loop,
            "--host", loopback(family), "--wait", "--hold", *extra]
    ft, wl = trace_pid(ctx, argv, report, grace, done_timeout=done_timeout,
                       fdtrace_args=fdtrace_args)
    x = Expect.from_account(wl.account(), until_done=True)
    if loop == "uvloop":
        # libuv probes every new fd with ADD+DEL before watching it
        x.exact = False
    return ft, wl, x


def events_of(ft, pid, kind):
    return [e for e in ft.events() if e["event"] == kind and e.get("pid") == pid]


def summary_of(ft, pid):
    s = events_of(ft, pid, "summary")
    check(len(s) == 1, f"{len(s)} summaries for pid {pid}")
    return s[0]


def check_leaks(ft, x, evidence, **fields):
    """Exactly the kept sockets leaked, each with this evidence and these fields."""
    leaks = events_of(ft, x.pid, "leak")
    check(len(x.leaks) == KEPT, f"the workload kept {len(x.leaks)} sockets, expected {KEPT}")
    h.multiset_diff("leaks (fd, inode)", [(e["fd"], e["inode"]) for e in leaks],
                    [(l["fd"], l["inode"]) for l in x.leaks])
    for e in leaks:
        check(e.get("evidence") == evidence,
              f"leak of fd {e['fd']} with evidence {e.get('evidence')!r}, expected {evidence!r}: {e}")
        for k, want in fields.items():
            got = e.get(k)
            ok = want(got) if callable(want) else got == want
            check(ok, f"leak of fd {e['fd']}: {k} {got!r}, expected "
                      f"{want.__doc__ if callable(want) else repr(want)}: {e}")
    return leaks


def expect_counters(x, **counters):
    """in_use and paused compared exactly by check_report."""
    for k, v in counters.items():
        x.evidence.add(k)
        x.counters[k] = v


def positive(v):
    """> 0"""
    return isinstance(v, int) and v > 0


@contextlib.contextmanager
def latency(s):
    """
    check_report with a wider window for unwatched_s: a socket in use is
    looked at again each grace, so its leak comes later than grace + 1 s
    by design.  The test checks its own, tighter window after.
    """
    saved = h.LATENCY_S
    h.LATENCY_S = s
    try:
        yield
    finally:
        h.LATENCY_S = saved


# ---- 1: the slow consumer (the reproduction) ----------------------------

def slow_consumer(ctx, loop, family):
    grace = 2.0
    ft, wl, x = run(ctx, "slow", loop, family, grace, extra=("--cycles", 2, "--pause", 4))
    leaks = events_of(ft, x.pid, "leak")
    check(not leaks, f"{len(leaks)} leaks reported for one healthy, paused connection: "
                     f"{leaks[:2]}")
    check_report(ft, [x], grace)
    s = summary_of(ft, x.pid)
    ctx.log(f"summary: {s}")
    check(s.get("paused", 0) >= 1, f"no pause counted: the transport paused reading for 4 s "
                                   f"with -g 2: {s}")
    check(s["rewatched"] >= 1, f"the transport never resumed reading: {s}")


# ---- 2: the article's leak: idle -------------------------------------------------

def idle(ctx, loop, family):
    grace = 1.0
    ft, wl, x = run(ctx, "idle", loop, family, grace)
    expect_counters(x, in_use=0, paused=0)
    check_report(ft, [x], grace)
    for e in check_leaks(ft, x, "idle", tcp_state="ESTABLISHED", read_since_del=0,
                         written_since_del=0, unread_bytes=0):
        check(abs(e["quiet_s"] - e["unwatched_s"]) <= 0.01,
              f"quiet_s {e['quiet_s']} of a socket nobody touched since the DEL is not its "
              f"unwatched_s {e['unwatched_s']}: {e}")


# ---- 3: the peer closes: peer_closed -----------------------------------------------

def peer_closed(ctx, loop, family):
    grace = 1.0
    ft, wl, x = run(ctx, "peer_closed", loop, family, grace)
    expect_counters(x, in_use=0, paused=0)
    check_report(ft, [x], grace)
    # unread_bytes is not asserted: the peer's FIN counts as one byte
    # (rcv_nxt - copied_seq), so it says 1 where nothing was sent
    check_leaks(ft, x, "peer_closed", tcp_state="CLOSE_WAIT", read_since_del=0,
                written_since_del=0)


# ---- 4: the peer keeps sending: backpressured after --pause-grace ----------------------

def backpressured(ctx, loop, family):
    grace, pause_grace = 1.0, 3.0
    ft, wl, x = run(ctx, "backpressured", loop, family, grace,
                    fdtrace_args=("--pause-grace", pause_grace),
                    extra=("--pause-grace", pause_grace))
    dels = {l["fd"]: l["real"] for l in x.leaks}
    for e in events_of(ft, x.pid, "leak"):
        early = dels.get(e["fd"], 0) + pause_grace - e["_arrival"]
        check(early <= SLACK_S and e["unwatched_s"] >= pause_grace,
              f"backpressured fd {e['fd']} reported {early:.2f}s before --pause-grace "
              f"{pause_grace:g}s had passed since its DEL: {e}")
    # each kept socket is paused once (first check), then reported
    expect_counters(x, in_use=0, paused=KEPT)
    # reported at the pause grace, not the grace: its window is check_report's
    check_report(ft, [x], pause_grace)
    check_leaks(ft, x, "backpressured", tcp_state="ESTABLISHED", read_since_del=0,
                written_since_del=0, unread_bytes=positive)


# ---- 5: the program keeps writing: in use, then idle ----------------------------------

def writer(ctx, loop, family):
    grace, write_for, write_every = 1.0, 3.0, 0.2
    ft, wl, x = run(ctx, "writer", loop, family, grace,
                    extra=("--write-for", write_for, "--write-every", write_every))
    # when first: a report while the writes go on is the failure to name
    stopped = {a["fd"]: a["real"] for a in wl.account() if a["ev"] == "writes_stopped"}
    check(len(stopped) == KEPT, f"the workload stopped writing {len(stopped)} sockets, "
                                f"expected {KEPT}")
    for e in events_of(ft, x.pid, "leak"):
        last = stopped.get(e["fd"])
        check(last is not None, f"leak of fd {e['fd']}, which the workload did not write: {e}")
        # the check after the last write saw it move; the one a grace later reports it
        lo, hi = last + grace, last + 2 * grace + h.LATENCY_S
        check(e["_arrival"] >= lo - SLACK_S,
              f"fd {e['fd']} reported {e['_arrival'] - last:+.2f}s from its last write, "
              f"less than a grace: while the program wrote to it: {e}")
        t = parse_rfc3339(e["time"])
        check(lo - SLACK_S <= t <= hi + SLACK_S,
              f"leak of fd {e['fd']} at {e['time']}: {t - last:.2f}s after its last write, "
              f"not within [grace, 2 * grace + {h.LATENCY_S:g}s]: {e}")
    expect_counters(x, paused=0)
    with latency(write_for + grace + h.LATENCY_S):
        check_report(ft, [x], grace)
    writes = round(write_for / write_every)
    check_leaks(ft, x, "idle", tcp_state="ESTABLISHED", read_since_del=0,
                written_since_del=100 * writes, unread_bytes=0)
    s = summary_of(ft, x.pid)
    check(s.get("in_use", 0) >= KEPT,
          f"summary in_use {s.get('in_use')}: each of the {KEPT} written sockets should "
          f"have been found in use at least once: {s}")


# ---- the matrix: each case under both loops, over both families ------------------------

CASES = (
    (slow_consumer, 40, "the slow consumer (4 s pauses, -g 2): no leak; paused and rewatched"),
    (idle, 30, "remove_reader() and forget: leaks at the grace, evidence idle"),
    (peer_closed, 30, "the peer closes the forgotten socket: peer_closed, CLOSE_WAIT"),
    (backpressured, 30, "the peer keeps sending: backpressured, and only at --pause-grace 3"),
    (writer, 30, "written for 3 s after the DEL: in use, then idle a grace after the writes"),
)


def register(fn, timeout, doc, loop, family):
    def t(ctx):
        fn(ctx, loop, family)
    t.__name__ = f"evidence_{fn.__name__}_{loop}_{family}"
    t.__doc__ = f"{doc} ({loop}, {family})"
    return test(timeout=timeout, needs=("uvloop",) if loop == "uvloop" else ())(t)


for _fn, _timeout, _doc in CASES:
    for _loop in ("asyncio", "uvloop"):
        for _family in HOSTS:
            register(_fn, _timeout, _doc, _loop, _family)


UNIX_SLOW = r'''
import asyncio, os, socket, sys, threading
path = sys.argv[1]
async def main():
    stop = threading.Event()
    done = asyncio.get_running_loop().create_future()
    async def handle(r, w):
        for _ in range(2):
            await r.read(1 << 30)
            await asyncio.sleep(4)          # a slow downstream: reading pauses
        stop.set()
        while await r.read(1 << 30):
            pass
        w.close()
        done.set_result(None)
    srv = await asyncio.start_unix_server(handle, path, limit=16 << 10)
    def client():
        c = socket.socket(socket.AF_UNIX)
        c.connect(path)
        while not stop.is_set():
            c.sendall(b"s" * 65536)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
    threading.Thread(target=client, daemon=True).start()
    await done
asyncio.run(main())
'''


@test(timeout=60)
def evidence_slow_consumer_unix(ctx):
    """The slow consumer over a unix socket: data waits in the queue (charged to the sender): paused, no leak."""
    script = ctx.path("unix_slow.py")
    with open(script, "w") as f:
        f.write(UNIX_SLOW)
    ft = ctx.fdtrace("-j", "-g", 2, "--", h.PYTHON, script, ctx.path("srv.sock"))
    rc = ft.wait(45)
    check(rc == 0, f"status {rc}: {ft.stderr_lines()[-3:]}")
    evs = ft.events()
    leaks = [e for e in evs if e["event"] == "leak"]
    check(not leaks, f"a paused unix socket reported as a leak: {leaks}")
    s = [e for e in evs if e["event"] == "summary"]
    check(len(s) == 1 and s[0]["paused"] >= 1 and s[0]["rewatched"] >= 1,
          f"the summary should show the pauses: {s}")
