# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Recordings: live against replay, cut-off files, and the fuzzer.

A run recorded with -w and replayed with -r must print the same events,
field by field (the workloads here are the C scenarios and the asyncio
leak).  A recording cut off by SIGKILL reads up to its last record.  The
unit tests (build/tests/test_record) cover the bad files we thought of;
libFuzzer (ASan, UBSan) runs over the reader and replay from the
committed seeds for a bounded time, for the ones we did not.
"""
import os
import re
import shutil
import signal
import subprocess

from harness import test, check, Fail, Skip, read_account
import harness as h

SEEDS = os.path.join(h.HERE, "fuzz", "corpus")
FUZZ_SECONDS = 30


@test(timeout=FUZZ_SECONDS + 60)
def fuzz_record_reader(ctx):
    """bounded libFuzzer run over the recording reader and replay"""
    binary = os.path.join(ctx.build, "tests", "fuzz_record")
    if not os.path.exists(binary):
        raise Fail(f"{binary} was not built (make fuzz-build; it needs libfuzzer-14-dev)")
    check(os.path.isdir(SEEDS) and os.listdir(SEEDS), f"no seed corpus in {SEEDS}")
    # the fuzzer adds to its first corpus directory: a copy, not the seeds
    corpus = ctx.path("corpus")
    shutil.copytree(SEEDS, corpus)
    artifacts = ctx.path("artifacts") + "/"
    os.makedirs(artifacts)
    argv = [binary, f"-max_total_time={FUZZ_SECONDS}", "-max_len=32768",
            "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}", corpus]
    ctx.log(" ".join(argv))
    try:
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                           timeout=ctx.bound(FUZZ_SECONDS + 45), start_new_session=True)
    except subprocess.TimeoutExpired:
        raise Fail(f"the fuzzer did not stop after {FUZZ_SECONDS}s") from None
    lines = r.stderr.splitlines()
    done = [l for l in lines if re.match(r"#\d+\s+DONE", l)]
    for l in done + [l for l in lines if l.startswith("Done ")]:
        ctx.log(l)
    crashes = sorted(os.listdir(artifacts))
    if r.returncode or crashes:
        report = [l for l in lines if re.search(r"ERROR|SUMMARY|runtime error|==\d+==", l)]
        inputs = ", ".join(artifacts + c for c in crashes) or "none saved"
        raise Fail(f"the fuzzer found a crash (status {r.returncode}); input: {inputs}\n" +
                   "\n".join(report[:20]))
    check(done, "the fuzzer printed no DONE line:\n" + "\n".join(lines[-10:]))


# ---- live against replay ---------------------------------------------------------

# what a replay cannot say the same: when it was printed, and its own banner
def comparable(evs):
    out = []
    for e in evs:
        if e["event"] == "start":
            continue
        e = {k: v for k, v in e.items() if not k.startswith("_")}
        out.append(e)
    return out


def live_then_replay(ctx, argv, grace, extra=()):
    rec = ctx.path("run.fdt")
    ft = ctx.fdtrace("-j", "-g", grace, "-w", rec, *extra, "--", *argv)
    rc = ft.wait(60)
    check(rc == 0, f"fdtrace -w: status {rc}: {ft.stderr_lines()[-3:]}")
    live = comparable(ft.events())
    check(os.stat(rec).st_mode & 0o777 == 0o600, f"recording mode {oct(os.stat(rec).st_mode & 0o777)}")
    rp = ctx.fdtrace("-j", "-r", rec)
    check(rp.wait(60) == 0, f"fdtrace -r: {rp.stderr_lines()[-3:]}")
    replay = comparable(rp.events())
    check(len(live) == len(replay), f"{len(live)} live events, {len(replay)} replayed")
    for a, b in zip(live, replay):
        check(a == b, f"live and replay differ:\n      live   {a}\n      replay {b}")
    check(any(e["event"] == "totals" for e in live), "no totals")
    return live, rec


@test(timeout=120)
def replay_equals_live_scenarios(ctx):
    """-w then -r: the C close paths and leaks give the same events, field by field."""
    for scenario in ("leak", "close_range", "dup2", "pause_resume", "late_close", "types",
                     "closed_while_watched", "del_ebadf", "two_epolls_close"):
        os.path.exists(ctx.path("account.jsonl")) and os.unlink(ctx.path("account.jsonl"))
        os.path.exists(ctx.path("run.fdt")) and os.unlink(ctx.path("run.fdt"))
        live, _ = live_then_replay(ctx, ctx.scenario_argv(scenario, 0.3), 0.3)
        ctx.log(f"{scenario}: {len(live)} events the same")


@test(timeout=60)
def replay_equals_live_asyncio(ctx):
    """-w then -r on the article's asyncio leak: the same leaks, evidence, sockets, summary."""
    argv = [h.PYTHON, os.path.join(h.WORKLOADS, "asyncio_leak.py"), "-o", ctx.path("acc.jsonl"),
            "-g", 0.5, "-n", 4, "--loop", "asyncio"]
    live, _ = live_then_replay(ctx, argv, 0.5)
    leaks = [e for e in live if e["event"] == "leak"]
    check(leaks and all("socket" in e for e in leaks), f"leaks without their socket: {leaks}")


@test(timeout=60)
def recording_cut_off(ctx):
    """fdtrace SIGKILLed while recording: the file reads up to its last record, says it is truncated, exit 0."""
    rec = ctx.path("cut.fdt")
    wl_argv = ctx.scenario_argv("leak", 0.3, "--wait", "--hold")
    wl = ctx.workload(wl_argv, ctx.path("account.jsonl"))
    pid = wl.wait_ev("ready", 15)["pid"]
    ft = ctx.fdtrace("-j", "-g", 0.3, "-w", rec, "-p", pid)
    ft.wait_start()
    wl.tell()
    wl.wait_ev("done", 15)
    ctx.sleep(1.5)                      # a flush (at least once a second) has happened
    os.kill(ft.pid, signal.SIGKILL)
    ft.wait(10)
    wl.tell()
    wl.wait(10)
    rp = ctx.fdtrace("-j", "-r", rec)
    rc = rp.wait(30)
    err = rp.stderr_lines()
    check(rc == 0, f"a cut-off recording: status {rc}, stderr {err}")
    check(any("truncated" in l for l in err), f"no word of the truncation: {err}")
    leaks = [e for e in rp.events() if e["event"] == "leak"]
    declared = [a for a in read_account(ctx.path("account.jsonl")) if a.get("ev") == "leaked"]
    check(len(leaks) == len(declared) == 3,
          f"{len(leaks)} leaks replayed from the cut-off file, {len(declared)} made")
    # and a file cut anywhere: every prefix still reads, never a crash
    with open(rec, "rb") as f:
        data = f.read()
    for cut in range(2304, len(data), max(1, len(data) // 40)):
        part = ctx.path("part.fdt")
        with open(part, "wb") as f:
            f.write(data[:cut])
        p = ctx.fdtrace("-j", "-r", part)
        rc = p.wait(20)
        check(rc == 0, f"recording cut at byte {cut}: status {rc}: {p.stderr_lines()[-2:]}")
