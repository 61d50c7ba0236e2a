# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""How long until EMFILE, against a workload whose leak rate is known.

tests/workloads/fd_leak_rate.py sets its soft RLIMIT_NOFILE to LIMIT and
leaks RATE sockets a second (ADD, DEL, never closed) on a fixed schedule
until UNTIL fds are open, past 80% of the limit.  fdtrace -p traces it
and records the run (-w); the summary must show the fds the workload
says it has open, its limit, a leak rate within 20% of the truth and the
time that rate leaves to the limit; the fd_pressure event must come as
the workload crosses 80%, once.  Replaying the recording (-r -j) must
give the same forecast, field for field.
"""
import os
import signal

from harness import test, check, Fail, Skip  # noqa: F401
import harness as h

WORKLOAD = os.path.join(h.WORKLOADS, "fd_leak_rate.py")
LIMIT = 120
RATE = 20.0
UNTIL = 104             # past 80% of LIMIT (96), short of the limit
GRACE = 0.5
# the sampler looks once a second; the loop wakes every 100 ms
SAMPLE_LATENCY_S = 1.0 + 0.1 + 0.9     # and a busy machine
FORECAST_FIELDS = ("open_fds", "fd_limit", "leak_rate_per_s", "fd_limit_in_s")


def mine(evs, pid, event):
    return [e for e in evs if e["event"] == event and e.get("pid") == pid]


def strip(e):
    return {k: v for k, v in e.items() if not k.startswith("_")}


@test(timeout=45)
def forecast_known_rate(ctx):
    """the leak rate, time to EMFILE and fd_pressure of a known leak; the same on replay"""
    report = ctx.path("account.jsonl")
    rec = ctx.path("run.fdrec")
    wl = ctx.workload([h.PYTHON, WORKLOAD, "-o", report, "--limit", LIMIT,
                       "--rate", RATE, "--until", UNTIL], report)
    ready = wl.wait_ev("ready", 15)
    pid = ready["pid"]
    ft = ctx.fdtrace("-j", "-g", GRACE, "-w", rec, "-p", pid)
    ft.wait_start()
    wl.tell()
    done = wl.wait_ev("done", 20)
    # at once: the rate is over the whole run, and the workload leaks no more
    ft.signal(signal.SIGINT)
    rc = ft.wait(15)
    check(rc == 0, f"fdtrace exited with status {rc}: {ft.stderr_lines()[-3:]}")
    wl.tell()
    wl.wait(15)
    crossed = [a for a in wl.account() if a["ev"] == "crossed"]
    check(len(crossed) == 1, f"the workload did not cross 80% of its limit: {wl.account()[-3:]}")
    crossed = crossed[0]
    # leaks at start + i / RATE: the last one n - 1 intervals after the first
    truth = (done["leaks"] - 1) / (done["end"] - done["start"])
    ctx.log(f"workload: {done['leaks']} leaks at {truth:.2f}/s, {done['open']} fds open "
            f"of {LIMIT}; 80% crossed at {crossed['open']}")

    evs = ft.events()
    sums = mine(evs, pid, "summary")
    check(len(sums) == 1, f"{len(sums)} summaries for pid {pid}")
    s = sums[0]
    for k in FORECAST_FIELDS:
        check(k in s, f"summary without \"{k}\": {s}")
    # the leaks of the last grace are not found yet when tracing stops
    check(done["leaks"] - RATE * (GRACE + 0.5) <= s["leaks"] <= done["leaks"],
          f"summary leaks {s['leaks']}, the workload made {done['leaks']}")
    ctx.log(f"summary: {s['leaks']} leaks, " +
            ", ".join(f"{k} {s[k]}" for k in FORECAST_FIELDS))
    check(s["open_fds"] == done["open"],
          f"summary open_fds {s['open_fds']}, the workload has {done['open']} open")
    check(s["fd_limit"] == LIMIT, f"summary fd_limit {s['fd_limit']}, expected {LIMIT}")
    rate = s["leak_rate_per_s"]
    check(rate is not None and abs(rate - truth) <= 0.2 * truth,
          f"leak_rate_per_s {rate}, the workload leaked {truth:.2f}/s (within 20%)")
    eta = s["fd_limit_in_s"]
    check(eta is not None, f"fd_limit_in_s is null for a leaking process: {s}")
    # the projection is what the reported rate leaves of the limit ...
    want = (s["fd_limit"] - s["open_fds"]) / rate
    check(abs(eta - want) <= 0.01 + 0.001 * want,
          f"fd_limit_in_s {eta}, but (fd_limit - open_fds) / leak_rate_per_s is {want:.3f}")
    # ... and close to what the true rate leaves
    true_eta = (LIMIT - done["open"]) / truth
    check(abs(eta - true_eta) <= 0.25 * true_eta,
          f"fd_limit_in_s {eta}, the workload would reach its limit in {true_eta:.3f}s (within 25%)")

    press = mine(evs, pid, "fd_pressure")
    check(len(press) == 1, f"{len(press)} fd_pressure events for pid {pid}, expected 1: {press}")
    p = press[0]
    for k in FORECAST_FIELDS + ("time", "comm", "threshold_pct"):
        check(k in p, f"fd_pressure without \"{k}\": {p}")
    check(p["fd_limit"] == LIMIT and p["threshold_pct"] == 80, f"fd_pressure: {p}")
    check(LIMIT * 0.8 <= p["open_fds"] <= done["open"],
          f"fd_pressure at {p['open_fds']} open fds: not between 80% of {LIMIT} and "
          f"{done['open']}: {p}")
    t = h.parse_rfc3339(p["time"])
    check(t is not None and crossed["real"] - 0.1 <= t <= crossed["real"] + SAMPLE_LATENCY_S,
          f"fd_pressure at {p['time']}, the workload crossed 80% at {crossed['real']:.3f} "
          f"(at most {SAMPLE_LATENCY_S}s later)")
    check(evs.index(p) < evs.index(s), "fd_pressure after the summary")

    # the recording replays to the same forecast, and the same everything else
    rp = ctx.fdtrace("-r", rec, "-j")
    rc = rp.wait(15)
    check(rc == 0, f"fdtrace -r exited with status {rc}: {rp.stderr_lines()[-3:]}")
    revs = rp.events()
    rs = mine(revs, pid, "summary")
    check(len(rs) == 1, f"replay: {len(rs)} summaries for pid {pid}")
    for k in FORECAST_FIELDS:
        check(rs[0].get(k) == s[k], f"replay summary {k} {rs[0].get(k)}, live {s[k]}")
    rpress = mine(revs, pid, "fd_pressure")
    check([strip(e) for e in rpress] == [strip(e) for e in press],
          f"replay fd_pressure {rpress}, live {press}")
    for kind in ("leak", "fd_pressure", "summary", "totals"):
        live = [strip(e) for e in evs if e["event"] == kind]
        again = [strip(e) for e in revs if e["event"] == kind]
        check(live == again, f"replay {kind} events differ from the live run's: "
                             f"{again[:1]} vs {live[:1]}")
