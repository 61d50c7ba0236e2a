# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""fdtrace under hostile conditions at its edges (issue 11): output that
cannot be written, closed standard fds, a low RLIMIT_NOFILE, targets that
cannot be traced, signals in command mode, a command that cannot be
executed, numbers that are not plain decimals, --max-procs and the help.

Each test names the item it covers; each failed before the fix.
"""
import json
import os
import re
import resource
import signal
import time

from harness import test, check, Fail, Skip
import harness as h

ENOSPC_LINE = "fdtrace: cannot write output: No space left on device"
# Start-up (BPF load and attach) takes a few hundred ms: a signal sent
# as soon as the held child exists lands in it.
STARTUP_TRIES = 5


def shell_redirected(ctx, redirect, *args, name="fdtrace"):
    """build/fdtrace with a shell redirection of its own fds (>/dev/full, >&-)."""
    return h.Fdtrace(ctx, ["/bin/sh", "-c", f'exec "$0" "$@" {redirect}', ctx.fdtrace_bin, *args],
                     name=name)


def helper(ctx, code, name):
    """A Python helper whose first stdout line is what the test needs."""
    p = h.Proc(ctx, [h.PYTHON, "-c", code], name=name)
    h.wait_until(ctx, p.stdout_lines, 30, f"{name} to print its first line", proc=p)
    return p, p.stdout_lines()[0]


def sleeper(ctx):
    return h.Proc(ctx, ["/bin/sleep", "60"], name="sleep")


def wait_bpf_fds(ctx, pid, timeout=20):
    """Until fdtrace pid holds a BPF fd: it has loaded, so its own fds are open."""
    def loaded():
        try:
            return any("bpf" in os.readlink(f"/proc/{pid}/fd/{fd}")
                       for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return False
    h.wait_until(ctx, loaded, timeout, f"fdtrace (pid {pid}) to load its BPF object")


def json_messages(lines, event):
    """The messages of the JSON {"event": event} lines among lines."""
    out = []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("event") == event:
            out.append(ev.get("message", ""))
    return out


# ---- item 5 of the issue: output that cannot be written ---------------------------

@test(timeout=60)
def output_full_is_error(ctx):
    """stdout on /dev/full: one error line, detached, status 2; a command is waited for."""
    # text: findings and summaries go to stdout, so the failure shows at the end
    ft = shell_redirected(ctx, ">/dev/full", "--", "/bin/sh", "-c", "sleep 0.2")
    rc = ft.wait(20)
    err = ft.stderr_lines()
    check(rc == 2, f"text, -- COMMAND >/dev/full: status {rc}, expected 2; stderr {err}")
    check(err and err[-1] == ENOSPC_LINE, f"text >/dev/full: last stderr line is not {ENOSPC_LINE!r}: {err}")
    check(sum("cannot write" in l for l in err) == 1, f"the error is said more than once: {err}")

    # JSON -p: the start line fails at once; fdtrace must stop, not trace on
    s = sleeper(ctx)
    before = h.bpf_prog_ids()
    t0 = time.time()
    ft = shell_redirected(ctx, ">/dev/full", "-j", "-p", s.pid)
    rc = ft.wait(10)
    err = ft.stderr_lines()
    check(rc == 2, f"-j -p >/dev/full: status {rc}, expected 2; stderr {err}")
    check(json_messages(err, "error") == ["cannot write output: No space left on device"],
          f"-j -p >/dev/full: stderr is not one JSON error: {err}")
    ctx.log(f"-j -p >/dev/full exited after {time.time() - t0:.2f}s")
    left = h.bpf_left(before)
    check(not left, f"BPF programs left after the write error: {left}")
    check(s.running(), "the -p target did not survive fdtrace's write error")

    # command mode: tracing stops, the command finishes (not killed) and is waited for
    done = ctx.path("done")
    t0 = time.time()
    ft = shell_redirected(ctx, ">/dev/full", "-j", "--", "/bin/sh", "-c", f"sleep 1; echo ok > {done}")
    rc = ft.wait(20)
    took = time.time() - t0
    check(rc == 2, f"-j -- COMMAND >/dev/full: status {rc}, expected 2; stderr {ft.stderr_lines()}")
    check(os.path.exists(done), "the command did not finish: killed instead of waited for?")
    check(took >= 0.9, f"fdtrace exited {took:.2f}s after starting, before its 1 s command ended")


@test()
def std_fds_closed(ctx):
    """fds 1 and 2 closed at start: /dev/null takes them, not an internal fd."""
    for fd, redirect in ((1, ">&-"), (2, "2>&-")):
        s = sleeper(ctx)
        ft = shell_redirected(ctx, redirect, "-j", "-p", s.pid)
        wait_bpf_fds(ctx, ft.pid)
        target = os.readlink(f"/proc/{ft.pid}/fd/{fd}")
        ft.signal(signal.SIGINT)
        rc = ft.wait(15)
        check(target == "/dev/null", f"fdtrace {redirect}: its fd {fd} is {target}, not /dev/null")
        check(rc == 0, f"fdtrace {redirect}: status {rc} after SIGINT; stderr {ft.stderr_lines()}")
        s.kill_group()


# ---- RLIMIT_NOFILE ----------------------------------------------------------------

NOFILE_SOFT = 1024
FORK_990 = """
import os, signal
kids = []
for i in range(990):
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
print(",".join(map(str, kids)), flush=True)
signal.pause()
"""


def with_soft_nofile(ctx, soft, *args):
    """build/fdtrace run with its soft RLIMIT_NOFILE set to soft (hard unchanged)."""
    code = ("import os, resource, sys\n"
            "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, hard))\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n")
    return h.Fdtrace(ctx, [h.PYTHON, "-c", code, ctx.fdtrace_bin, *args], name="fdtrace")


@test(timeout=90)
def nofile_990_pids(ctx):
    """-p with 990 pids under a soft fd limit of 1024; the command sees the limit it was given."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2 * NOFILE_SOFT:
        raise Skip(f"hard RLIMIT_NOFILE {hard}: too low to raise the soft limit above {NOFILE_SOFT}")
    _, pids = helper(ctx, FORK_990, "fork990")
    ft = with_soft_nofile(ctx, NOFILE_SOFT, "-j", "-d", "1", "-p", pids)
    rc = ft.wait(60)
    check(rc == 0, f"-p with 990 pids under ulimit -Sn {NOFILE_SOFT}: status {rc}; stderr {ft.stderr_lines()}")
    start = ft.events()[0]
    check(start["event"] == "start" and len(start["pids"]) == 990,
          f"start event does not list 990 pids: {str(start)[:200]}")

    # $PPID of the command is fdtrace: its limit raised, the command's as given
    ft = with_soft_nofile(ctx, NOFILE_SOFT, "--", "/bin/sh", "-c",
                          "awk '/open files/ {print \"fdtrace\", $4}' /proc/$PPID/limits; "
                          "echo command $(ulimit -Sn)")
    rc = ft.wait(20)
    out = ft.stdout_lines()
    check(rc == 0, f"-- sh: status {rc}; stderr {ft.stderr_lines()}")
    check(f"command {NOFILE_SOFT}" in out, f"the command's soft fd limit is not {NOFILE_SOFT}: {out}")
    check(any(re.fullmatch(r"fdtrace (\d+|unlimited)", l) and l != f"fdtrace {NOFILE_SOFT}" for l in out),
          f"fdtrace did not raise its own soft fd limit: {out}")


# ---- targets that cannot be traced ---------------------------------------------------

PF_KTHREAD = 0x00200000


def a_kernel_thread():
    for pid in ["2"] + sorted(p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[6]) & PF_KTHREAD:
            return int(pid)
    raise Skip("no kernel thread visible in /proc")


ZOMBIE = """
import os, time
pid = os.fork()
if pid == 0:
    os._exit(0)
time.sleep(0.2)
print(pid, flush=True)
time.sleep(60)
"""

# The leader exits, its other thread lives on: /proc shows Z, but the
# process is alive and must stay traceable.
LEADER_GONE = """
import ctypes, os, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
print(os.getpid(), flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


@test(timeout=60)
def refuse_kthread_zombie(ctx):
    """-p of a kernel thread or a zombie: one line, status 2; a leader-less live process is traced."""
    kt = a_kernel_thread()
    ft = ctx.fdtrace("-p", kt)
    rc = ft.wait(10)
    check(rc == 2 and ft.stderr_lines() == [f"fdtrace: pid {kt} is a kernel thread"],
          f"-p {kt} (kernel thread): status {rc}, stderr {ft.stderr_lines()}")

    _, zpid = helper(ctx, ZOMBIE, "zombie")
    ft = ctx.fdtrace("-p", zpid)
    rc = ft.wait(10)
    check(rc == 2 and ft.stderr_lines() == [f"fdtrace: pid {zpid} has exited (zombie)"],
          f"-p {zpid} (zombie): status {rc}, stderr {ft.stderr_lines()}")
    check(not ft.stdout_lines(), f"-p zombie: stdout {ft.stdout_lines()}")

    _, lpid = helper(ctx, LEADER_GONE, "leader_gone")
    ft = ctx.fdtrace("-j", "-d", "0.5", "-p", lpid)
    rc = ft.wait(20)
    check(rc == 0, f"-p of a process whose leader thread exited: status {rc}, stderr {ft.stderr_lines()}")


# ---- command mode: signals ---------------------------------------------------------

@test(timeout=60)
def cmd_signal_forwarded(ctx):
    """A stop signal to fdtrace alone goes to the command; traced to its exit; its status."""
    ft = ctx.fdtrace("-j", "--", "/bin/sleep", "60")
    ft.wait_start()
    cmd = ft.events()[0]["command_pid"]
    ft.signal(signal.SIGINT)
    rc = ft.wait(10)
    check(rc == 128 + signal.SIGINT, f"-- sleep 60, SIGINT to fdtrace: status {rc}, expected 130")
    check(ft.events()[-1]["event"] == "totals", f"no totals after SIGINT: {ft.stdout_lines()[-2:]}")
    check(not os.path.exists(f"/proc/{cmd}"), f"the command (pid {cmd}) still runs")

    for sig, code in ((signal.SIGINT, 3), (signal.SIGTERM, 4), (signal.SIGHUP, 5), (signal.SIGQUIT, 6)):
        name = sig.name[3:]
        # env --default-signal: a shell cannot trap a signal ignored on
        # entry (POSIX), and a runner under nohup passes SIGHUP ignored
        # down to fdtrace, which passes it on to its command as it should.
        ft = ctx.fdtrace("-j", "--", "/usr/bin/env", "--default-signal", "/bin/sh", "-c",
                         f'trap "exit {code}" {name}; echo ready >&2; while :; do sleep 0.05; done')
        ft.wait_start()
        h.wait_until(ctx, lambda: "ready" in ft.stderr_lines(), 10, f"the command to trap {name}", proc=ft)
        ft.signal(sig)
        rc = ft.wait(10)
        check(rc == code, f"{sig.name} to fdtrace, the command traps it and exits {code}: status {rc}")
        evs = ft.events()
        check(evs[-1]["event"] == "totals" and evs[-2]["event"] == "summary",
              f"{sig.name}: the command's summary and the totals do not end the output: {evs[-2:]}")


IGNORES_SIGINT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("ready", file=sys.stderr, flush=True)
time.sleep(60)
"""


@test(timeout=40)
def signal_ignored_on_entry(ctx):
    """Under nohup, hangup does not stop fdtrace (and its command keeps SIGHUP ignored); SIGINT still does."""
    # -p: SIGHUP ignored on entry is left ignored, not read as a stop signal
    ft = h.Fdtrace(ctx, ["/usr/bin/env", "--ignore-signal=HUP", ctx.fdtrace_bin, "-j", "-p",
                         str(os.getpid())], name="fdtrace")
    ft.wait_start()
    ft.signal(signal.SIGHUP)
    ctx.sleep(0.5)
    check(ft.running(), f"fdtrace under nohup stopped on SIGHUP (status {ft.p.returncode})")
    ft.signal(signal.SIGINT)
    rc = ft.wait(10)
    check(rc == 0, f"SIGINT after an ignored SIGHUP: status {rc}, expected 0")
    check(ft.events()[-1]["event"] == "totals", "no totals after SIGINT")

    # --: the command inherits it ignored (as from nohup itself), and runs on
    ft = h.Fdtrace(ctx, ["/usr/bin/env", "--ignore-signal=HUP", ctx.fdtrace_bin, "-j", "--",
                         "/bin/sh", "-c", 'echo ready >&2; sleep 1.5; exit 7'], name="fdtrace")
    ft.wait_start()
    h.wait_until(ctx, lambda: "ready" in ft.stderr_lines(), 10, "the command to start", proc=ft)
    ft.signal(signal.SIGHUP)
    rc = ft.wait(10)
    check(rc == 7, f"-- sh under nohup, SIGHUP to fdtrace: status {rc}, expected the command's 7")


@test(timeout=40)
def cmd_second_signal_kills(ctx):
    """A command that ignores SIGINT: the second SIGINT to fdtrace kills it (status 137)."""
    ft = ctx.fdtrace("-j", "--", h.PYTHON, "-c", IGNORES_SIGINT)
    ft.wait_start()
    h.wait_until(ctx, lambda: "ready" in ft.stderr_lines(), 10, "the command to ignore SIGINT", proc=ft)
    ft.signal(signal.SIGINT)
    time.sleep(0.5)
    check(ft.running(), f"fdtrace exited (status {ft.p.returncode}) after one SIGINT the command ignores")
    ft.signal(signal.SIGINT)
    rc = ft.wait(10)
    check(rc == 128 + signal.SIGKILL, f"second SIGINT: status {rc}, expected 137")
    warns = json_messages(ft.stderr_lines(), "warning")
    check(any("SIGKILL" in w for w in warns), f"no warning that the command was killed: {ft.stderr_lines()}")


def held_child(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


@test(timeout=60)
def cmd_signal_during_startup(ctx):
    """SIGINT while fdtrace starts: the command never starts, status 130, stdout empty."""
    for attempt in range(STARTUP_TRIES):
        marker = ctx.path(f"started.{attempt}")
        ft = ctx.fdtrace("-j", "--", "/bin/sh", "-c", f"echo > {marker}; sleep 30")
        h.wait_until(ctx, lambda: held_child(ft.pid), 10, "fdtrace to fork the command", proc=ft)
        ft.signal(signal.SIGINT)
        try:
            rc = ft.wait(10)
        except Fail:
            # the command started just before the signal: it was passed
            # on to sh, which acts on it only once its sleep is over
            if not os.path.exists(marker):
                raise
            rc = None
        if os.path.exists(marker):
            ctx.log(f"attempt {attempt}: the command had started before the signal; again")
            ft.kill_group()
            continue
        check(rc == 128 + signal.SIGINT, f"SIGINT during start-up: status {rc}, expected 130")
        check(not ft.stdout_lines(), f"SIGINT during start-up: stdout {ft.stdout_lines()}")
        return
    raise Fail(f"the command ran although fdtrace was interrupted while starting, {STARTUP_TRIES} times")


# ---- command mode: nothing before exec ---------------------------------------------

@test()
def cmd_exec_fails_quietly(ctx):
    """A script whose interpreter is missing: nothing on stdout, one line on stderr, status 2."""
    script = ctx.path("badinterp")
    with open(script, "w") as f:
        f.write("#!/nonexistent/interpreter\necho hello\n")
    os.chmod(script, 0o755)
    for args in (("-j",), ()):
        ft = ctx.fdtrace(*args, "--", script)
        rc = ft.wait(20)
        err = ft.stderr_lines()
        what = f"fdtrace {' '.join(args)} -- {script}"
        check(rc == 2, f"{what}: status {rc}, expected 2")
        check(not ft.stdout_lines(), f"{what}: stdout {ft.stdout_lines()}")
        check(len(err) == 1 and "cannot execute" in err[0] and "No such file or directory" in err[0],
              f"{what}: stderr is not one 'cannot execute' line: {err}")


# ---- option parsing ------------------------------------------------------------------

GRACE_RANGE = "give seconds from 0 to 31536000, e.g. 5 or 0.25"
DURATION_RANGE = "give seconds above 0, up to 31536000, e.g. 60 or 0.5"
PID_RANGE = "give process ids from 1 to 4194304, e.g. 4242 or 4242,4243"


@test(timeout=90)
def cli_numbers_strict(ctx):
    """Plain decimal numbers only, each error one line naming the range; pids deduplicated."""
    bad = [
        (["-g", " 5"], f"invalid grace ' 5': {GRACE_RANGE}"),
        (["-g", "5 "], f"invalid grace '5 ': {GRACE_RANGE}"),
        (["-g", "0x10"], f"invalid grace '0x10': {GRACE_RANGE}"),
        (["-g", "1e3"], f"invalid grace '1e3': {GRACE_RANGE}"),
        (["-g", "1.000000001e9"], f"invalid grace '1.000000001e9': {GRACE_RANGE}"),
        (["-g", "31536000.5"], f"invalid grace '31536000.5': {GRACE_RANGE}"),
        (["-g", "inf"], f"invalid grace 'inf': {GRACE_RANGE}"),
        (["-g", ""], f"invalid grace '': {GRACE_RANGE}"),
        (["-d", "0"], f"invalid duration '0': {DURATION_RANGE}"),
        (["-d", "+5"], f"invalid duration '+5': {DURATION_RANGE}"),
        (["-p", " 5"], None),
        (["-p", "5,,6"], None),
        (["-p", "99999999999"], None),
        (["--max-procs", "0"], "invalid --max-procs '0': give a number from 1 to 4194304"),
        (["--max-fds", "0x10"], "invalid --max-fds '0x10': give a number from 1 to 16777216"),
        (["--ringbuf-size", "3"], None),
    ]
    for args, want in bad:
        full = args + (["--", "/bin/true"] if args[0] != "-p" else [])
        ft = ctx.fdtrace(*full)
        rc = ft.wait(10)
        err = ft.stderr_lines()
        check(rc == 2 and len(err) == 1, f"fdtrace {full}: status {rc}, stderr {err}")
        if want:
            check(err[0] == f"fdtrace: {want}", f"fdtrace {full}: {err[0]!r}, expected 'fdtrace: {want}'")
        elif args[0] == "-p":
            check(PID_RANGE in err[0] or "separated by commas" in err[0], f"fdtrace {full}: {err[0]!r}")
        check(not ft.stdout_lines(), f"fdtrace {full}: stdout {ft.stdout_lines()}")

    ft = ctx.fdtrace("--", "")
    rc = ft.wait(10)
    check(rc == 2 and ft.stderr_lines() == ["fdtrace: empty command"],
          f"fdtrace -- '': status {rc}, stderr {ft.stderr_lines()}")

    for args in (["-g", "0.25", "-d", "31536000"], ["-g", "0", "--max-procs", "1"], ["-g", "007.500"]):
        ft = ctx.fdtrace(*args, "--", "/bin/true")
        rc = ft.wait(20)
        check(rc == 0, f"fdtrace {args} -- /bin/true: status {rc}, stderr {ft.stderr_lines()}")

    s = sleeper(ctx)
    ft = ctx.fdtrace("-j", "-d", "0.3", "-p", f"{s.pid},{s.pid}", "-p", s.pid)
    rc = ft.wait(20)
    check(rc == 0, f"-p with a pid given three times: status {rc}, stderr {ft.stderr_lines()}")
    check(ft.events()[0]["pids"] == [s.pid], f"a pid given three times is listed as {ft.events()[0]['pids']}")


# ---- --max-procs and the help --------------------------------------------------------

@test()
def max_procs_option(ctx):
    """--max-procs N bounds the processes -f follows, and says so."""
    fork3 = ["/bin/sh", "-c", "sleep 0.2 & sleep 0.2 & sleep 0.2 & wait"]
    ft = ctx.fdtrace("-j", "-f", "--max-procs", "2", "--", *fork3)
    rc = ft.wait(20)
    check(rc == 0, f"--max-procs 2: status {rc}, stderr {ft.stderr_lines()}")
    warns = json_messages(ft.stderr_lines(), "warning")
    check(any(re.search(r"not (be )?followed", w) for w in warns),
          f"--max-procs 2 with 3 children: no warning that some were not followed: {ft.stderr_lines()}")
    ft = ctx.fdtrace("-j", "-f", "--", *fork3)
    rc = ft.wait(20)
    check(rc == 0 and not json_messages(ft.stderr_lines(), "warning"),
          f"default --max-procs with 3 children: status {rc}, stderr {ft.stderr_lines()}")


@test()
def help_grouped(ctx):
    """--help: options in groups, every new option, signals and exit status, examples."""
    ft = ctx.fdtrace("--help")
    rc = ft.wait(10)
    text = "\n".join(ft.stdout_lines())
    check(rc == 0, f"--help: status {rc}")
    for s in ("What to trace:", "What to report:", "Limits:", "--max-procs", "EXAMPLES",
              "SIGTERM", "SIGKILL", "EXIT STATUS", "31536000"):
        check(s in text, f"--help does not say {s!r}")
