# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Integration tests on real runtimes and around processes, for run_tests.py.

Real servers under load, traced with -p: Node.js (libuv), nginx and
redis-server, driven by wrk and redis-benchmark over short connections on
127.0.0.1: no finding, no lost event, and ended watches that match the
connections the server itself counted.  Then the cases around processes,
with tests/workloads/rt_scenarios.c: -f across fork, a close made by
another process sharing the fd table (corrected), attach mid-flight, and
lost-event accounting under a tiny ring buffer.

Not run on its own: tests/run_tests.py imports it, and its @test
functions join the registry of harness.py, whose helpers (Proc, Expect,
check_report, ...) it uses as `h`.

What the runtimes do with epoll, measured with strace (see each test):
node and redis remove every connection's watch (one successful
EPOLL_CTL_DEL per connection, none failing) before closing it; nginx never
removes one: it closes the connection and lets the close end the watch.
"""
import json
import os
import re
import signal
import socket
import time

import harness as h
from harness import test, free_port, wait_until, which

h.OPTIONAL_TOOLS.update({
    "node": lambda: which("node") is not None,
    "wrk": lambda: which("wrk") is not None,
    "nginx": lambda: which("nginx") is not None,
    "redis-server": lambda: which("redis-server") is not None,
    "redis-benchmark": lambda: which("redis-benchmark") is not None,
})


# ---- helpers ----------------------------------------------------------------------

def json_lines(proc, start=0):
    out = []
    for line in proc.stdout_lines()[start:]:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict):
            out.append(d)
    return out


def request(port, data, timeout=5):
    """Send data on a new connection, read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                return b"".join(chunks).decode(errors="replace")
            chunks.append(b)


def seeded_watches(pid):
    """Watches fdtrace -p will seed from /proc: tfd lines of every epoll fd."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                n += sum(1 for l in f if l.startswith("tfd:"))
        except OSError:
            continue
    return n


def attach(ctx, pid, grace, *extra):
    ft = ctx.fdtrace("-j", "-g", grace, *extra, "-p", pid)
    ft.wait_start()
    return ft


def stop(ft):
    """SIGINT; fdtrace must exit 0 with start ... totals and no error."""
    ft.signal(signal.SIGINT)
    rc = ft.wait(15)
    h.check(rc == 0, f"fdtrace exited with status {rc} after SIGINT: {ft.stderr_lines()[-3:]}")
    evs = ft.events()
    h.check(evs and evs[0]["event"] == "start" and evs[-1]["event"] == "totals",
            f"fdtrace output is not start ... totals: {ft.stdout_lines()[-3:]}")
    for e in evs:
        h.check(e["event"] != "error", f"fdtrace reports an error: {e}")
    return evs


def clean_server_report(ctx, evs, pid):
    """A server under load: no finding of any kind, nothing lost; its summary."""
    findings = [e for e in evs if e["event"] in h.FINDINGS]
    h.check(not findings, f"{len(findings)} findings for a well-behaved server: {findings[:5]}")
    totals = evs[-1]
    h.check(totals["lost_events"] == 0, f"fdtrace lost {totals['lost_events']} events")
    h.check(totals.get("bad_records", 0) == 0, f"malformed records: {totals}")
    sums = [e for e in evs if e["event"] == "summary"]
    h.check(len(sums) == 1 and sums[0]["pid"] == pid,
            f"expected one summary, for pid {pid}: {sums}")
    s = sums[0]
    ctx.log(f"summary: {s}")
    ctx.log(f"totals: {totals}")
    for k in ("leaks", "open_leaks", "closed_late", "closed_while_watched",
              "deregister_failed", "corrected"):
        h.check(s.get(k, 0) == 0, f"summary {k} = {s.get(k)}, expected 0: {s}")
    return s, totals


# ---- Node.js (libuv) -----------------------------------------------------------------

def node_counts(ctx, node):
    """SIGUSR2: node prints {"connections","open","requests"}."""
    start = len(node.stdout_lines())
    node.signal(signal.SIGUSR2)
    return wait_until(ctx, lambda: next((d for d in json_lines(node, start) if "open" in d), None),
                      5, "node did not answer SIGUSR2", proc=node)


@test(timeout=60, needs=("node", "wrk"))
def node_http_short_connections(ctx):
    """Node.js http server, wrk -c 50 without keep-alive: no finding; one ended watch per connection."""
    node = h.Proc(ctx, [which("node"), os.path.join(h.WORKLOADS, "node_http_server.js")],
                  name="node")
    port = wait_until(ctx, lambda: next((d["port"] for d in json_lines(node) if "port" in d), None),
                      20, "node printed no port", proc=node)
    # libuv applies epoll_ctl() lazily, in its next poll: one request
    # first, so that every watch fdtrace will seed exists, and that
    # connection gone (node shuts down its side before the DEL and close)
    h.check("ok" in request(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            "node's first answer is not ok")
    base = wait_until(ctx, lambda: (lambda d: d if d["open"] == 0 else None)(node_counts(ctx, node)),
                      10, "node did not close the first connection", proc=node)
    seeds = seeded_watches(node.pid)
    # --stream=full: the check below counts every record of every connection
    ft = attach(ctx, node.pid, 0.5, "--stream=full")
    wrk = h.Proc(ctx, [which("wrk"), "-t", "2", "-c", "50", "-d", "3s",
                       "-H", "Connection: close", f"http://127.0.0.1:{port}/"], name="wrk")
    rc = wrk.wait(30)
    h.check(rc == 0, f"wrk failed (status {rc}): {wrk.stderr_lines()[-3:]}")
    ctx.log(" | ".join(l.strip() for l in wrk.stdout_lines()))

    # wrk leaves its last connections open when it stops: wait until node has closed them all
    end = wait_until(ctx, lambda: (lambda d: d if d["open"] == 0 else None)(node_counts(ctx, node)),
                     15, "node still has connections open", proc=node)
    evs = stop(ft)
    s, totals = clean_server_report(ctx, evs, node.pid)
    conns = end["connections"] - base["connections"]
    ctx.log(f"node: {conns} connections ({base} -> {end}), {seeds} watches at attach")
    h.check(conns >= 2000, f"only {conns} connections: the load proves little")
    # strace -e epoll_ctl,accept4,shutdown,close on this server: accept4,
    # ADD, ..., shutdown, DEL (succeeds), close, for every connection,
    # also those wrk opened and closed without a request; no DEL fails
    # (libuv's routine ENOENT DELs do not happen on this path: del_enoent
    # is 0 here, but it is no finding, so it is not checked).
    h.check(s["watches_ended"] == conns,
            f"node accepted {conns} connections, fdtrace saw {s['watches_ended']} watches end")
    h.check(s["closed"] == conns and s["rewatched"] == 0,
            f"every ended watch must be closed, none re-watched: {s}")
    # and each connection's ADD, DEL and close seen, nothing else
    h.check(totals["records"] == seeds + 3 * conns,
            f"records {totals['records']}, expected {seeds} seeds + 3 x {conns} connections "
            f"= {seeds + 3 * conns}")


# ---- nginx ------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{
    worker_connections 1024;
}}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /status {{
            stub_status;
        }}
        location / {{
            return 200 "ok\\n";
        }}
    }}
}}
"""


def nginx_status(port):
    """stub_status over a new connection, counted in accepts itself."""
    text = request(port, b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    m = re.search(r"Active connections:\s*(\d+).*?\n\s*(\d+)\s+(\d+)\s+(\d+)", text, re.S)
    if not m:
        raise ValueError(f"no stub_status in the answer: {text[-200:]!r}")
    active, accepts, handled, requests = (int(x) for x in m.groups())
    return dict(active=active, accepts=accepts, handled=handled, requests=requests)


def nginx_worker(master):
    kids = [pid for pid, (ppid, state, comm) in h.proc_table().items()
            if ppid == master and comm == "nginx" and state != "Z"]
    return kids[0] if len(kids) == 1 else None


@test(timeout=60, needs=("nginx", "wrk"))
def nginx_wrk_short_connections(ctx):
    """nginx, wrk -c 100 without keep-alive: no finding; every connection's watch seen and closed."""
    port = free_port()
    tmp = ctx.path("nginx")
    os.mkdir(tmp)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, port=port))
    master = h.Proc(ctx, [which("nginx"), "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                    name="nginx")
    base = wait_until(ctx, lambda: nginx_status(port), 20, "nginx did not answer", proc=master)
    worker = wait_until(ctx, lambda: nginx_worker(master.pid), 10, "no single nginx worker",
                        proc=master)
    # every connection so far (base's own included) is closed: nginx
    # closes before the client sees EOF
    seeds = seeded_watches(worker)
    # --stream=full: the check below counts every record of every connection
    ft = attach(ctx, worker, 0.5, "--stream=full")
    wrk = h.Proc(ctx, [which("wrk"), "-t", "2", "-c", "100", "-d", "3s",
                       "-H", "Connection: close", f"http://127.0.0.1:{port}/"], name="wrk")
    rc = wrk.wait(30)
    h.check(rc == 0, f"wrk failed (status {rc}): {wrk.stderr_lines()[-3:]}")
    ctx.log(" | ".join(l.strip() for l in wrk.stdout_lines()))
    # the status request itself is the only active connection once wrk's are gone
    end = wait_until(ctx, lambda: (lambda st: st if st["active"] == 1 else None)(nginx_status(port)),
                     15, "nginx still has wrk's connections open", proc=master)
    evs = stop(ft)
    s, totals = clean_server_report(ctx, evs, worker)
    conns = end["accepts"] - base["accepts"]
    ctx.log(f"nginx: {conns} connections ({base} -> {end}), {seeds} watches at attach")
    h.check(end["accepts"] == end["handled"], f"nginx dropped connections: {end}")
    h.check(conns >= 2000, f"only {conns} connections: the load proves little")
    # strace -e epoll_ctl,accept4,close on the worker: accept4, ADD
    # (EPOLLIN|EPOLLRDHUP|EPOLLET), ..., close; never a DEL.  nginx's
    # ngx_close_connection() passes NGX_CLOSE_EVENT: close() ends the
    # watch, as the kernel drops a closed file from every epoll set.  So
    # no watch ever ends here, and the check that fdtrace saw every
    # connection is on its records: at attach, one seed per existing
    # watch; then per connection an ADD and a CLOSE (MODs of a tracked fd
    # are filtered in the kernel, and nginx makes none anyway).
    h.check(s["watches_ended"] == 0 and s["closed"] == 0 and s["del_enoent"] == 0,
            f"nginx never issues EPOLL_CTL_DEL, yet: {s}")
    h.check(totals["records"] == seeds + 2 * conns,
            f"records {totals['records']}, expected {seeds} seeds + 2 x {conns} connections "
            f"= {seeds + 2 * conns}")


# ---- redis ------------------------------------------------------------------------------

def redis_info(port):
    """INFO over a new connection, then QUIT: redis has closed it once we read EOF."""
    text = request(port, b"INFO\r\nQUIT\r\n")
    info = dict(re.findall(r"^(\w+):(\S*)\r?$", text, re.M))
    if "total_connections_received" not in info:
        raise ValueError(f"no INFO in the answer: {text[:200]!r}")
    return info


@test(timeout=60, needs=("redis-server", "redis-benchmark"))
def redis_benchmark_short_connections(ctx):
    """redis-server, redis-benchmark -k 0 (a connection per request), --stream=summary: no finding; one ended watch per connection; no record but the seeds."""
    port = free_port()
    redis = h.Proc(ctx, [which("redis-server"), "--port", port, "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--daemonize", "no",
                         "--dir", ctx.tmp], name="redis-server")
    base = wait_until(ctx, lambda: redis_info(port), 20, "redis-server did not answer", proc=redis)
    seeds = seeded_watches(redis.pid)
    ft = attach(ctx, redis.pid, 0.5)
    bench = h.Proc(ctx, [which("redis-benchmark"), "-h", "127.0.0.1", "-p", port,
                         "-n", 20000, "-c", 50, "-k", 0, "-q", "-t", "ping"], name="redis-benchmark")
    rc = bench.wait(60)
    h.check(rc == 0, f"redis-benchmark failed (status {rc}): {bench.stderr_lines()[-3:]}")
    ctx.log(" | ".join(l.strip().rsplit("\r", 1)[-1] for l in bench.stdout_lines() if l.strip()))
    # our INFO connection is the only client left once the benchmark's are gone
    end = wait_until(ctx, lambda: (lambda i: i if i["connected_clients"] == "1" else None)(redis_info(port)),
                     15, "redis still has the benchmark's connections", proc=redis)
    evs = stop(ft)
    s, totals = clean_server_report(ctx, evs, redis.pid)
    conns = int(end["total_connections_received"]) - int(base["total_connections_received"])
    ctx.log(f"redis: {conns} connections, {seeds} watches at attach, "
            f"rejected {end.get('rejected_connections')}")
    h.check(end.get("rejected_connections") == "0", f"redis rejected connections: {end}")
    h.check(conns >= 20000, f"only {conns} connections: was keep-alive really off?")
    # strace -e epoll_ctl,accept4,close: accept4, ADD, ..., DEL (succeeds),
    # close, for every connection; no DEL fails.  The last INFO's
    # connection is counted, and closed before we saw EOF.
    h.check(s["watches_ended"] == conns,
            f"redis received {conns} connections, fdtrace saw {s['watches_ended']} watches end")
    h.check(s["closed"] == conns and s["rewatched"] == 0,
            f"every ended watch must be closed, none re-watched: {s}")
    h.check(s["del_enoent"] == 0, f"redis makes no failing DEL, yet: {s}")
    # The default --stream=summary: every connection ended within the
    # grace, so the kernel only counted it, and the only records are the
    # seeds.  The counts above are the same as every record would have
    # given (full mode: node and nginx).
    h.check(totals["records"] == seeds,
            f"records {totals['records']}, expected the {seeds} seeds and nothing else")


# ---- processes: rt_scenarios.c ----------------------------------------------------------

def rt_argv(ctx, scenario, grace, *extra, report=None):
    return [os.path.join(ctx.build, "tests", "rt_scenarios"), "-g", grace,
            "-o", report or ctx.path("account.jsonl"), *extra, scenario]


def rt_cmd(ctx, scenario, grace, fdtrace_args=(), timeout=30):
    """fdtrace -j [ARGS] -- rt_scenarios SCENARIO: traced from exec to exit."""
    report = ctx.path("account.jsonl")
    ft = ctx.fdtrace("-j", "-g", grace, *fdtrace_args, "--", *rt_argv(ctx, scenario, grace))
    rc = ft.wait(timeout)
    h.check(rc == 0, f"fdtrace -- rt_scenarios {scenario} exited with status {rc}: "
                     f"{ft.stderr_lines()[-3:]}")
    lines = h.read_account(report)
    h.check(lines and lines[-1]["ev"] == "exit", f"rt_scenarios {scenario} did not finish")
    return ft, lines


def fork_accounts(ctx, lines):
    parent = h.Expect.from_account(lines, until_done=False)
    child_lines = h.read_account(ctx.path("account.jsonl") + ".child")
    h.check(child_lines and child_lines[-1]["ev"] == "exit", "the forked child did not finish")
    child = h.Expect.from_account(child_lines, until_done=False)
    h.check(parent.pid != child.pid, "parent and child account under one pid")
    h.check(len(parent.leaks) == 1 and len(child.leaks) == 2,
            f"the workload leaked {len(parent.leaks)} fds in the parent (1 planned), "
            f"{len(child.leaks)} in the child (2 planned)")
    return parent, child


@test()
def follow_fork(ctx):
    """-f: the forked child's leaks under the child's pid, the parent's under the parent's, nothing else."""
    grace = 0.5
    ft, lines = rt_cmd(ctx, "fork", grace, ("-f",))
    parent, child = fork_accounts(ctx, lines)
    # the child closes its copies of a leaked and a watched fd of the
    # parent's: nothing for either (it has its own fd table)
    h.check_report(ft, [parent, child], grace)


@test()
def no_follow_fork(ctx):
    """Without -f: the forked child's leaks are not reported, the parent's are."""
    grace = 0.5
    ft, lines = rt_cmd(ctx, "fork", grace)
    parent, child = fork_accounts(ctx, lines)
    # check_report fails on any finding or summary of a pid not expected
    h.check_report(ft, [parent], grace)
    h.check(not [e for e in ft.events() if e.get("pid") == child.pid],
            f"output about the untraced child {child.pid}")


def shared_files(ctx, scenario):
    grace = 0.5
    ft, lines = rt_cmd(ctx, scenario, grace)
    x = h.Expect.from_account(lines, until_done=False)
    # the close was made by the other process, through the shared table:
    # fdtrace finds the fd gone (or naming another file) when it verifies
    # it at the grace deadline, and counts one correction
    x.counters["corrected"] = 1
    s = [e for e in ft.events() if e["event"] == "summary"]
    h.check(s and "corrected" in s[0], f"no \"corrected\" in the summary: {s}")
    h.check_report(ft, [x], grace)


@test()
def shared_files_close(ctx):
    """Another process sharing the fd table (CLONE_FILES, not a thread) closes after DEL: no finding, corrected 1."""
    shared_files(ctx, "shared_close")


@test()
def shared_files_reuse(ctx):
    """The CLONE_FILES process also reuses the number for a new socket before the deadline: no finding."""
    shared_files(ctx, "shared_reuse")


@test()
def shared_files_reuse_anon(ctx):
    """An eventfd closed that way, its number reused by a timerfd before the deadline: no finding."""
    # Every eventfd, timerfd, signalfd and epoll fd is the one inode of the
    # anon_inode filesystem: /proc cannot tell the new file from the old
    # one; the kernel-side check compares the type too.
    shared_files(ctx, "shared_reuse_anon")


@test()
def attach_midflight(ctx):
    """-p after the ADDs: DELs of watches seen only in /proc match; exactly the leaked fds reported."""
    grace = 0.5
    report = ctx.path("account.jsonl")
    ft, wl = h.trace_pid(ctx, rt_argv(ctx, "attach", grace, "--wait", "--hold", report=report),
                         report, grace)
    x = h.Expect.from_account(wl.account(), until_done=True)
    h.check(len(x.leaks) == 3, f"the workload leaked {len(x.leaks)} fds, 3 planned")
    h.check_report(ft, [x], grace)


def wait_banner(ft, timeout=20):
    """Text mode: tracing has started once the banner is on stderr."""
    end = time.time() + timeout
    while not any(l.startswith("fdtrace: tracing") for l in ft.stderr_lines()):
        h.check(time.time() < end and ft.running(),
                f"no \"fdtrace: tracing\" banner on stderr: {ft.stderr_lines()[-3:]}")
        time.sleep(0.02)


def lost_run(ctx, n, *args, pause=False):
    """
    fdtrace ARGS -- sh -c 'sleep 0.3; exec rt_scenarios -n N cycles'.  With
    pause, fdtrace is stopped (SIGSTOP) from just after it starts until well
    after the burst is over, so a small ring must overflow however fast the
    consumer is: the test never depends on winning a race.
    """
    gen = os.path.join(ctx.build, "tests", "rt_scenarios")
    ft = ctx.fdtrace(*args, "--", "/bin/sh", "-c", f"sleep 0.3; exec {gen} -n {n} cycles")
    if pause:
        if "-j" in args:
            ft.wait_start()
        else:
            wait_banner(ft)
        ctx.sleep(0.05)     # the command is released right after the start line
        ft.signal(signal.SIGSTOP)
        ctx.sleep(2.0)      # the burst runs 0.3 s in, for well under a second
        ft.signal(signal.SIGCONT)
    rc = ft.wait(30)
    h.check(rc == 0, f"fdtrace {' '.join(map(str, args))} -- rt_scenarios cycles: status {rc}: "
                     f"{ft.stderr_lines()[-3:]}")
    return ft


@test(timeout=60)
def lost_events_accounted(ctx):
    """--stream=full, --ringbuf-size 4: records + lost_events is every record the kernel made; the text output warns."""
    n = 20000
    # -- COMMAND: EXEC (the traced child execs sh), EXEC (sh execs the
    # generator), then per cycle ADD, DEL, CLOSE, then EXIT.  A ring far
    # larger than the burst (60003 x 88 bytes) proves the count with
    # nothing lost.
    want = 3 * n + 3
    ft = lost_run(ctx, n, "-j", "--stream=full", "--ringbuf-size", 16384)
    t = ft.events()[-1]
    ctx.log(f"16 MiB ring: {t}")
    h.check(t["event"] == "totals" and t["lost_events"] == 0,
            f"events lost even with a 16 MiB ring: {t}")
    h.check(t["records"] == want, f"{t['records']} records without loss, expected 3 x {n} + 3 = {want}")
    h.check(t["watches_ended"] == n, f"watches_ended {t['watches_ended']}, expected {n}")

    ft = lost_run(ctx, n, "-j", "--stream=full", "--ringbuf-size", 4, pause=True)
    evs = ft.events()
    t = evs[-1]
    ctx.log(f"4 KiB ring: {t}")
    h.check(t["event"] == "totals", f"last line is not totals: {t}")
    h.check(t["lost_events"] > 0, f"nothing lost with a 4 KiB ring: the test proves nothing: {t}")
    h.check(t["records"] + t["lost_events"] == want,
            f"records {t['records']} + lost_events {t['lost_events']} = "
            f"{t['records'] + t['lost_events']}, expected {want}")
    lost = [e for e in evs if e["event"] == "lost"]
    h.check(lost and lost[-1]["lost_events"] == t["lost_events"],
            f"the \"lost\" events do not add up to the totals' {t['lost_events']}: {lost}")

    ft = lost_run(ctx, n, "--stream=full", "--ringbuf-size", 4, pause=True)
    out = ft.stdout_lines()
    warn = [l for l in out if re.match(r"fdtrace: WARNING: (\d+) events? lost", l)]
    h.check(len(warn) == 1, f"no single WARNING line about lost events in the text output: {out[-3:]}")
    k = int(re.match(r"fdtrace: WARNING: (\d+)", warn[0]).group(1))
    h.check(k > 0, f"WARNING line with no loss: {warn[0]}")
    tot = [l for l in out if re.match(rf"fdtrace: .* {k} lost events?$", l)]
    h.check(tot, f"the totals line does not say {k} lost events: {out[-3:]}")
