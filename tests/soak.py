#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Soak: fdtrace --all under churn, bounded for as long as it runs.

Short-lived processes come and go all the time (tests/workloads/scenarios:
`leak`, which leaks three fds and exits holding them, and `burst`, which
only makes healthy create/ADD/DEL/close cycles), a few a second, while
`fdtrace -a -j --interval 1` traces the whole machine.  Every few seconds
the soak samples fdtrace's RSS, its open fds and the entries of its kernel
maps (tracked_fds, traced_pids); after the warm-up they must stay flat.
At the end the leaks fdtrace reported for the soak's own processes must
be exactly the leaks they declared (other processes on the machine are
traced too, and left alone).

    tests/soak.py --build build [--seconds 600] [--rate 4]

`make soak` runs it for SOAK_MINUTES (default 10); `make test` runs a
60-second version (tests/soak_tests.py).  Exit status 0 when it held.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

GRACE = 0.3


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nr_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def map_ids(pid):
    """name -> id of the BPF maps process pid holds."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    out = {}
    for i in ids:
        r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            m = json.loads(r.stdout)
            out[m.get("name", "")] = i
    return out


def map_entries(map_id):
    r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                       capture_output=True, text=True)
    return len(json.loads(r.stdout or "[]")) if r.returncode == 0 else -1


class Churn:
    """Starts the short-lived workloads and keeps their accounts."""

    def __init__(self, build, tmp, rate):
        self.scen = os.path.join(build, "tests", "scenarios")
        self.tmp = tmp
        self.rate = rate
        self.procs = []
        self.n = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            kind = "leak" if self.n % 2 == 0 else "burst"
            acc = os.path.join(self.tmp, f"{self.n}.jsonl")
            argv = [self.scen, "-g", str(GRACE), "-o", acc]
            if kind == "burst":
                argv += ["-n", "2000"]
            p = subprocess.Popen(argv + [kind], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.n += 1
            # reap the finished ones; keep the running for the end
            self.procs = [x for x in self.procs if x.poll() is None] + [p]
            self.stop.wait(1.0 / self.rate)

    def declared(self):
        """pid -> [(fd, ino)] the leak workloads said they leaked."""
        out = {}
        for name in os.listdir(self.tmp):
            if not name.endswith(".jsonl") or name == "events.jsonl":
                continue
            pid, leaks = None, []
            with open(os.path.join(self.tmp, name)) as f:
                for line in f:
                    a = json.loads(line)
                    if a.get("ev") == "begin":
                        pid = a["pid"]
                    elif a.get("ev") == "leaked":
                        leaks.append((a["fd"], a["ino"]))
            if pid is not None:
                out[pid] = sorted(leaks)
        return out


def flat(name, series, slack, log):
    """After the first quarter: no upward drift beyond slack."""
    if len(series) < 8:
        return True
    warm = series[len(series) // 4:]
    half = len(warm) // 2
    a, b = statistics.mean(warm[:half]), statistics.mean(warm[half:])
    log(f"{name}: first half after warm-up {a:.0f}, second half {b:.0f} (max {max(warm)}, slack {slack})")
    return b <= a + slack


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=4, help="processes started per second")
    ap.add_argument("--sample", type=float, default=3, help="seconds between samples")
    args = ap.parse_args()

    def log(msg):
        print(f"soak: {msg}", flush=True)

    tmp = tempfile.mkdtemp(prefix="fdtrace-soak.")
    evfile = open(os.path.join(tmp, "events.jsonl"), "w+")
    ft = subprocess.Popen([os.path.join(args.build, "fdtrace"), "-a", "-j", "-g", str(GRACE),
                           "--interval", "1"], stdout=evfile, stderr=subprocess.PIPE)
    time.sleep(1.5)
    if ft.poll() is not None:
        log(f"fdtrace exited at once: {ft.stderr.read().decode()[-300:]}")
        return 1
    maps = map_ids(ft.pid)
    churn = Churn(args.build, tmp, args.rate)
    t = threading.Thread(target=churn.run, daemon=True)
    t.start()
    samples = []
    t0 = time.time()
    ok = True
    try:
        while time.time() - t0 < args.seconds:
            time.sleep(args.sample)
            if ft.poll() is not None:
                log(f"fdtrace died (status {ft.returncode})")
                return 1
            s = {"t": round(time.time() - t0, 1), "rss_kb": rss_kb(ft.pid), "fds": nr_fds(ft.pid),
                 "tracked_fds": map_entries(maps.get("tracked_fds", 0)),
                 "traced_pids": map_entries(maps.get("traced_pids", 0)),
                 "started": churn.n}
            samples.append(s)
            log(json.dumps(s))
    finally:
        churn.stop.set()
        t.join()
        for p in churn.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(GRACE + 1)
        ft.send_signal(signal.SIGINT)
        try:
            ft.wait(30)
        except subprocess.TimeoutExpired:
            ft.kill()
            log("fdtrace did not exit within 30 s of SIGINT")
            ok = False

    ok &= flat("rss_kb", [s["rss_kb"] for s in samples], 2048, log)
    ok &= flat("fds", [s["fds"] for s in samples], 2, log)
    ok &= flat("tracked_fds", [s["tracked_fds"] for s in samples], 200, log)
    ok &= flat("traced_pids", [s["traced_pids"] for s in samples], 50, log)

    evfile.seek(0)
    evs = [json.loads(l) for l in evfile if l.strip()]
    declared = churn.declared()
    made = sum(len(v) for v in declared.values())
    found = {}
    for e in evs:
        if e.get("event") == "leak" and e.get("pid") in declared:
            found.setdefault(e["pid"], []).append((e["fd"], e["inode"]))
    wrong = [pid for pid in declared if sorted(found.get(pid, [])) != declared[pid]]
    lost = evs[-1].get("lost_events") if evs and evs[-1].get("event") == "totals" else None
    log(f"{churn.n} processes started; leaks made {made}, found {sum(len(v) for v in found.values())}; "
        f"processes whose leaks differ: {len(wrong)}; lost events {lost}")
    if wrong:
        pid = wrong[0]
        log(f"e.g. pid {pid}: declared {declared[pid]}, found {sorted(found.get(pid, []))}")
        ok = False
    if lost:
        ok = False
    if made == 0:
        log("no leak was made: the soak proves nothing")
        ok = False
    log("held" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
