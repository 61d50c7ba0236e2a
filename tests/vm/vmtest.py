#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Run fdtrace's real-kernel tests inside Debian's stock kernels, in qemu.

    tests/vm/vmtest.py [--build DIR] [--kernel 6.1]... [--short] [-k SUBSTRING]...

The virtme way: the guest's root is this machine's / over virtio-9p,
read-only, with tmpfs on /tmp, /run and /dev/shm.  Python, uvloop, the
build directory and everything else the tests need are there without
copying anything.  The initramfs is busybox-static, the 9p and virtio
modules of the kernel it boots, and tests/vm/init.

Kernels are Debian packages (the generic flavour: the cloud one has no
9p), fetched with `apt-get download` into build/vm/debs/ once and
unpacked into build/vm/kernels/.  No KVM here: qemu runs under TCG.
The full run is every test but EXCLUDED (speed floors TCG cannot reach);
the short one (--short, make test's) is SHORT.

Each run's files are in build/vm/run-<kernel>/: console.log (the serial
console: boot and test output), tests.log (the test runner's output
alone, through a second, writable 9p share), and the temporary files of
the tests that failed.  The last line per kernel is
`vm KERNEL (RELEASE): N passed, N failed, N skipped in S s`; the exit
status is 1 if any kernel failed or did not finish.
"""
import argparse
import glob
import gzip
import lzma
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INIT = os.path.join(HERE, "init")
BUSYBOX = "/bin/busybox"        # busybox-static: the initramfs has no libc

# Debian's generic amd64 kernels: per series, the package with the
# highest ABI number in the apt lists.  6.1 is Debian 12's own; 6.12 is
# the newer kernel bookworm ships through its security archive (the same
# as bookworm-backports).
KERNELS = {
    "6.1": r"linux-image-6\.1\.0-(\d+)-amd64-unsigned",
    "6.12": r"linux-image-6\.12\.(\d+)\+deb12-amd64-unsigned",
}

# Modules to load, dependencies first (read from each module's .modinfo).
# 9p needs netfs and, in 6.1, fscache; virtio_pci is a module in 6.1 and
# built in from 6.12 on.
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p")

# What runs in the VM.  SHORT (make test's vm_kernel_* tests) are
# substrings for run_tests.py -k: the C close paths, -p, clean detach,
# lost events, the asyncio leak and back-pressure (29 tests today, as
# -k matches parts of names; about 2 minutes under TCG).  The full run (make
# vmtest) is every test but EXCLUDED.
SHORT = (
    # --backend=fentry against tracepoint, where the kernel allows fentry
    "backend_",
    "close", "close_range", "dup2", "dup3", "exec", "exit", "pause_resume",
    "threads", "fd_reuse", "leak", "lost_events_accounted", "sigint_detaches",
    "asyncio_remove_reader_leak", "asyncio_backpressure_clean",
    # --stream=summary, the default: its exact loss accounting and the asyncio leak
    "stream_summary_lost_accounted", "stream_summary_asyncio_leak",
)
# -k matches parts of names: these families also match SHORT's words
# ("close", "exec", "leak") but belong to the full run, to keep the short
# one well inside its cap under TCG.
SHORT_EXCLUDED = ("evidence_", "pytest_", "error_exitcode", "std_fds", "cmd_exec_fails",
                  "two_epolls_close", "lost_no_false_leaks")

EXCLUDED = {
    # runtime_tests.py wants >= 2000 connections in wrk's 3 s run; node
    # (V8's JIT code, emulated) served 323 under TCG, 89 requests/s.  The
    # check measures the machine, not fdtrace: everything else about the
    # run (no finding, one ended watch per connection) held.
    "node_http_short_connections": "a speed floor (2000 connections in 3 s) TCG cannot reach",
    "vm_kernel_": "no VM inside the VM",
    # 18,000 fds checked within a second of SIGINT, and the cost ratios
    # of close_range and fork under fdtrace: under TCG they time qemu.
    "leak_scale": "a second's budget for 18,000 fds, which TCG cannot keep",
    "_cost_max_fds": "timing ratios, which measure qemu under TCG",
}

PASS_LINE = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")


def full_selection(build):
    """Every test run_tests.py lists, less EXCLUDED, as -k arguments."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "run_tests.py"),
                        "--build", build, "--list"], capture_output=True, text=True)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    if r.returncode or not names:
        raise VmError(f"run_tests.py --list failed: {r.stderr.strip()}")
    # -k matches substrings ("leak" is part of "leak_scale_18000"): what a
    # kept name pulls back in, the --exclude arguments of run_in_vm() drop
    return [n for n in names if not any(n.startswith(x) for x in EXCLUDED)]


def log(msg):
    print(f"vmtest: {msg}", flush=True)


class VmError(Exception):
    pass


# ---- kernel packages -------------------------------------------------------------

def apt_newest(pattern):
    r = subprocess.run(["apt-cache", "pkgnames", "linux-image-"],
                       capture_output=True, text=True)
    found = [(int(m.group(1)), n) for n in r.stdout.split()
             if (m := re.fullmatch(pattern, n))]
    return max(found)[1] if found else None


def cached_newest(debs, pattern):
    found = []
    for path in glob.glob(os.path.join(debs, "*.deb")):
        m = re.fullmatch(pattern, os.path.basename(path).split("_")[0])
        if m:
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def fetch_kernel(vmdir, kernel):
    """The .deb of the newest package for `kernel`, downloaded if not cached."""
    debs = os.path.join(vmdir, "debs")
    os.makedirs(debs, exist_ok=True)
    pattern = KERNELS[kernel]
    name = apt_newest(pattern)
    if name is None and not cached_newest(debs, pattern):
        log("no kernel package in the apt lists: apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        name = apt_newest(pattern)
    if name is None:
        deb = cached_newest(debs, pattern)
        if deb:
            return deb
        raise VmError(f"no Debian package matches {pattern}")
    deb = next(iter(glob.glob(os.path.join(debs, f"{glob.escape(name)}_*.deb"))), None)
    if deb:
        return deb
    log(f"apt-get download {name}")
    for attempt in (1, 2):
        r = subprocess.run(["apt-get", "download", "-q", name], cwd=debs,
                           capture_output=True, text=True)
        deb = next(iter(glob.glob(os.path.join(debs, f"{glob.escape(name)}_*.deb"))), None)
        if deb:
            prune(vmdir, pattern, keep=deb)
            return deb
        if attempt == 1:    # lists older than the archive: the file is gone
            subprocess.run(["apt-get", "update", "-qq"], check=False)
    raise VmError(f"apt-get download {name} failed: {r.stderr.strip()}")


def prune(vmdir, pattern, keep):
    """A newer package of the series replaces the older ones in the cache."""
    for path in glob.glob(os.path.join(vmdir, "debs", "*.deb")):
        if path != keep and re.fullmatch(pattern, os.path.basename(path).split("_")[0]):
            os.unlink(path)
            shutil.rmtree(os.path.join(vmdir, "kernels", os.path.basename(path)[:-len(".deb")]),
                          ignore_errors=True)


def prepare_kernel(vmdir, deb):
    """
    (vmlinuz, initramfs, release) for the package `deb`, kept in
    build/vm/kernels/PACKAGE/.  The unpacked package (500 MB, nearly all
    modules) is removed once the initramfs has the few modules it needs.
    """
    pkg = os.path.basename(deb)[:-len(".deb")]
    dest = os.path.join(vmdir, "kernels", pkg)
    initrd = os.path.join(dest, "initramfs.cpio.gz")
    vmlinuz = glob.glob(os.path.join(dest, "vmlinuz-*"))
    newest_input = max(os.path.getmtime(p) for p in (INIT, BUSYBOX, deb, __file__))
    if len(vmlinuz) == 1 and os.path.exists(initrd) and os.path.getmtime(initrd) > newest_input:
        return vmlinuz[0], initrd, os.path.basename(vmlinuz[0])[len("vmlinuz-"):]
    shutil.rmtree(dest, ignore_errors=True)
    tree = dest + ".unpacked"
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    try:
        subprocess.run(["dpkg-deb", "-x", deb, tree], check=True)
        found = glob.glob(os.path.join(tree, "boot", "vmlinuz-*"))
        if len(found) != 1:
            raise VmError(f"{deb}: expected one boot/vmlinuz-*, found {found}")
        release = os.path.basename(found[0])[len("vmlinuz-"):]
        os.makedirs(dest)
        build_initramfs(os.path.join(tree, "lib", "modules", release), initrd + ".tmp")
        shutil.copy(found[0], dest)
        os.replace(initrd + ".tmp", initrd)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return os.path.join(dest, f"vmlinuz-{release}"), initrd, release


# ---- the initramfs ---------------------------------------------------------------

def read_module(path):
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_order(moddir):
    """[(name, path)] for ROOT_MODULES and their dependencies, dependencies first."""
    index = {}
    for path in glob.glob(os.path.join(moddir, "kernel", "**", "*.ko*"), recursive=True):
        name = re.sub(r"\.ko(\.xz)?$", "", os.path.basename(path)).replace("-", "_")
        index[name] = path
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        if name not in index:       # built in
            return
        m = re.search(rb"\0depends=([^\0]*)\0", read_module(index[name]))
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep.replace("-", "_"))
        order.append((name, index[name]))

    for name in ROOT_MODULES:
        visit(name)
    return order


def build_initramfs(moddir, out):
    """busybox, tests/vm/init and the modules, as a gzipped newc cpio in `out`."""
    if not shutil.which("cpio"):
        raise VmError("cpio is missing (scripts/install-deps.sh test installs it)")
    ldd = subprocess.run(["ldd", BUSYBOX], capture_output=True, text=True)
    if ldd.returncode == 0:
        raise VmError(f"{BUSYBOX} is not static: the initramfs has no libc "
                      "(Debian's busybox-static is)")
    tree = out + ".d"
    shutil.rmtree(tree, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "newroot", "modules"):
        os.makedirs(os.path.join(tree, d))
    shutil.copy(BUSYBOX, os.path.join(tree, "bin", "busybox"))
    shutil.copy(INIT, os.path.join(tree, "init"))
    os.chmod(os.path.join(tree, "init"), 0o755)
    names = []
    for name, path in module_order(moddir):
        with open(os.path.join(tree, "modules", f"{name}.ko"), "wb") as f:
            f.write(read_module(path))
        names.append(name)
    with open(os.path.join(tree, "modules", "order"), "w") as f:
        f.write("\n".join(names) + "\n")
    files = subprocess.run(["find", "."], cwd=tree, capture_output=True, text=True,
                           check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=tree,
                          input=files.encode(), capture_output=True, check=True).stdout
    with open(out, "wb") as f:
        f.write(gzip.compress(cpio, 6))
    shutil.rmtree(tree, ignore_errors=True)


# ---- one VM run ------------------------------------------------------------------

def pump(p, con, timeout, echo):
    """Copy qemu's serial console to `con` (and echo) until it exits or time is up."""
    deadline = time.time() + timeout
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    buf = b""
    while True:
        left = deadline - time.time()
        if left <= 0:
            return f"timed out after {timeout}s: qemu killed"
        if not sel.select(min(left, 5)):
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            return None
        con.write(chunk.decode(errors="replace"))
        con.flush()
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if echo:
                echo(line.decode(errors="replace").rstrip("\r"))


def run_kernel(kernel, build, selection, timeout, vmdir=None, smp=2, mem="2G",
               echo=None):
    """
    Boot `kernel`, run run_tests.py -k SELECTION... inside, power off.
    Returns a dict: kernel, release, passed, failed, skipped, failures
    (names), seconds, error (None, or why there is no result line).
    echo(line) gets each line of the serial console as it comes.
    """
    build = os.path.abspath(build)
    vmdir = vmdir or os.path.join(build, "vm")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise VmError("qemu-system-x86_64 is missing (scripts/install-deps.sh test installs it)")
    deb = fetch_kernel(vmdir, kernel)
    vmlinuz, initrd, release = prepare_kernel(vmdir, deb)

    run = os.path.join(vmdir, f"run-{kernel}")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    argv = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
            os.path.join(ROOT, "tests", "run_tests.py"), "--build", build]
    for k in selection:
        argv += ["-k", k]
    for x in list(EXCLUDED) + (list(SHORT_EXCLUDED) if tuple(selection) == SHORT else []):
        argv += ["--exclude", x]
    # run.sh runs in the guest's root (this machine's /), from the
    # writable share mounted on /tmp/vmout.
    shares = [("project", ROOT)]
    build_abs = os.path.abspath(build)
    if not (build_abs + "/").startswith(ROOT + "/"):
        shares.append(("build", build_abs))
    mounts = "".join(
        f"[ -d {shlex.quote(path)} ] || {{ mkdir -p {shlex.quote(path)} && "
        f"mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 "
        f"{tag} {shlex.quote(path)}; }}\n"
        for tag, path in shares)
    with open(os.path.join(run, "run.sh"), "w") as f:
        f.write(f"""#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp PYTHONDONTWRITEBYTECODE=1 TMPDIR=/tmp LANG=C.UTF-8 FDTRACE_IN_VM=1
# as on the project's machines: a hard fd limit the scale tests fit in
ulimit -Hn 65536 2>/dev/null
# the tree and the build dir may live under a path the guest covers with
# tmpfs (/tmp, /run, /var/tmp): then they come over shares of their own
{mounts}cd {shlex.quote(ROOT)}
echo "vm-run: kernel $(uname -r), $(nproc) CPUs"
({shlex.join(argv)}; echo $? > /tmp/vmout/status) 2>&1 | tee /tmp/vmout/tests.log
# the failed tests' files, which run_tests.py keeps
for d in /tmp/fdtrace-tests.*; do [ -d "$d" ] && cp -a "$d" /tmp/vmout/; done
echo "vm-run: done"
""")
    console = os.path.join(run, "console.log")
    cmd = [qemu, "-machine", "q35", "-accel", "tcg", "-cpu", "max",
           "-smp", str(smp), "-m", mem,
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
           "-kernel", vmlinuz, "-initrd", initrd,
           "-append", "console=ttyS0 loglevel=4 panic=-1 rdinit=/init",
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", f"local,path={run},mount_tag=vmout,security_model=none,multidevs=remap"]
    for tag, path in shares:
        cmd += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,"
                           "readonly=on,multidevs=remap"]
    t0 = time.time()
    error = None
    with open(console, "w") as con:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            error = pump(p, con, timeout, echo)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
    took = time.time() - t0

    res = {"kernel": kernel, "release": release, "passed": 0, "failed": 0, "skipped": 0,
           "failures": [], "seconds": took, "error": error, "run": run}
    try:
        with open(os.path.join(run, "tests.log")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        m = re.match(r"^FAIL (\w+)", line)
        if m:
            res["failures"].append(m.group(1))
    m = next((m for line in reversed(lines) if (m := PASS_LINE.match(line))), None)
    if m:
        res["passed"], res["failed"], res["skipped"] = map(int, m.groups())
    elif not error:
        res["error"] = (f"no result line (qemu exited {p.returncode}); "
                        f"see {console}")
    if not m:
        # Where the run stopped, and the kernel's own account if it died:
        # a panic's last lines (registers) say nothing, its first ones do.
        done = [l for l in lines if re.match(r"^(ok|FAIL|SKIP) \w+", l)]
        res["last_test"] = done[-1] if done else None
        res["oops"] = oops_excerpt(console)
    try:
        with open(os.path.join(run, "status")) as f:
            status = int(f.read().strip() or -1)
    except (FileNotFoundError, ValueError):
        status = None
    if m and status and not res["failed"] and not res["error"]:
        res["error"] = f"run_tests.py exited {status} with no failure counted"
    return res


OOPS_START = re.compile(r"(BUG:|Oops:|general protection fault|kernel BUG at|"
                        r"WARNING: CPU:|Unable to handle|watchdog: BUG:|rcu: INFO:)")


KERNEL_LINE = re.compile(r"^\s*\[\s*\d+\.\d+\] ")


def oops_excerpt(console, limit=60):
    """
    The kernel's report on the console: the one that led to a panic (its
    opening line on, `limit` lines), else the first one; None if the
    kernel reported nothing.
    """
    try:
        with open(console, errors="replace") as f:
            # the kernel's lines only (printk's time stamp): the tests'
            # output shares the console
            lines = [l.rstrip("\r\n") for l in f if KERNEL_LINE.match(l)]
    except FileNotFoundError:
        return None
    panic = next((i for i, l in enumerate(lines) if "Kernel panic" in l), None)
    reports = [i for i, l in enumerate(lines[:None if panic is None else panic + 1])
               if OOPS_START.search(l)]
    if reports:
        start = reports[-1] if panic is not None else reports[0]
    elif panic is not None:
        start = max(0, panic - 10)   # panic() itself: its stack follows it
    else:
        return None
    return lines[start:start + limit]


def stop_lines(res):
    """For a run with no result line: the last test result, then the kernel's report."""
    if res.get("last_test") is None and not res.get("oops"):
        return []
    return [f"last result before it stopped: {res.get('last_test')}",
            *(f"| {line}" for line in res.get("oops") or ())]


def describe(res):
    s = (f"vm {res['kernel']} ({res['release']}): {res['passed']} passed, "
         f"{res['failed']} failed, {res['skipped']} skipped in {res['seconds']:.0f}s")
    if res["failures"]:
        s += "; failed: " + ", ".join(res["failures"])
    if res["error"]:
        s += f"; {res['error']}"
    return s


def ok(res):
    return not res["error"] and not res["failed"] and res["passed"] > 0


def main():
    ap = argparse.ArgumentParser(description="Run fdtrace's tests in qemu on Debian's kernels.")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--kernel", action="append", choices=sorted(KERNELS),
                    help="a kernel to boot (repeatable; default: all)")
    ap.add_argument("--short", action="store_true", help="the short selection (make test's)")
    ap.add_argument("-k", action="append", metavar="SUBSTRING",
                    help="run these tests instead of the selection (as run_tests.py -k)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per kernel, then qemu is killed")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("-q", "--quiet", action="store_true", help="do not echo the console")
    args = ap.parse_args()
    # qemu runs in a session of its own: SIGTERM and Ctrl-C must pass
    # through run_kernel()'s cleanup to kill it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        print("vmtest: needs root (apt-get, and the guest reads / as root)", file=sys.stderr)
        return 2
    try:
        selection = args.k or (SHORT if args.short else full_selection(args.build))
    except VmError as e:
        print(f"vmtest: {e}", file=sys.stderr)
        return 1
    if not args.k and not args.short:
        log("left out: " + "; ".join(f"{n}: {why}" for n, why in EXCLUDED.items()))
    results = []
    for kernel in args.kernel or list(KERNELS):
        log(f"kernel {kernel}")
        try:
            res = run_kernel(kernel, args.build, selection, args.timeout, smp=args.smp,
                             echo=None if args.quiet else (lambda l: print(f"  {l}", flush=True)))
        except (VmError, subprocess.CalledProcessError) as e:
            res = {"kernel": kernel, "release": "?", "passed": 0, "failed": 0, "skipped": 0,
                   "failures": [], "seconds": 0, "error": str(e)}
        results.append(res)
    for res in results:
        print(describe(res), flush=True)
        for line in stop_lines(res):
            print(f"  {line}")
    return 0 if all(ok(r) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
