# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""What fdtrace ships: the man page and the Debian package.

- the man page names every long option `fdtrace --help` prints (an option
  added without its man page entry fails here) and renders without a
  warning from groff or man;
- `make deb` builds the package (once per run, into BUILD/deb/) and
  lintian finds nothing to warn about;
- the package unpacks (dpkg -x) with the files it should have, installs
  for real (dpkg -i), its /usr/sbin/fdtrace traces a real leak, and
  `dpkg -r` takes away every file it brought and nothing else (a
  `make install` copy under /usr/local is left as it was).
"""
import glob
import json
import os
import re
import signal
import subprocess
import time

from harness import test, check, Fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "fdtrace"
# A package build on the 2-core test machine takes well under a minute;
# this bounds a broken one.
DEB_BUILD_TIMEOUT = 200


def tail(text, n=15):
    lines = [l for l in text.splitlines() if l.strip()]
    return "\n".join(lines[-n:])


def run(ctx, argv, timeout=60, check_rc=True, **kw):
    """Run argv to completion in its own session; output as text."""
    argv = [str(a) for a in argv]
    ctx.log("$ " + " ".join(argv))
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, start_new_session=True, **kw)
    except FileNotFoundError:
        raise Fail(f"{argv[0]}: not found (scripts/install-deps.sh test installs it)")
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Fail(f"{' '.join(argv)} did not finish within {timeout}s")
    r = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check_rc and r.returncode:
        raise Fail(f"{' '.join(argv)} exited with status {r.returncode}\n{tail(err or out)}")
    return r


def version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


# ---- the man page ------------------------------------------------------------

def long_options(help_text):
    return sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", help_text)))


@test(timeout=60)
def man_page(ctx):
    """The man page names every long option of --help; groff and man render it without a warning."""
    page = os.path.join(ctx.build, "man", "fdtrace.8")
    check(os.path.exists(page), f"{page} was not built (make builds it from man/fdtrace.8.scd)")
    helptext = run(ctx, [os.path.join(ctx.build, "fdtrace"), "--help"]).stdout
    opts = long_options(helptext)
    check(len(opts) >= 5, f"found only {opts} in fdtrace --help")

    # The page as a reader sees it: plain text, no hyphenation, long lines.
    text = run(ctx, ["groff", "-man", "-Tascii", "-P-cbou", "-rLL=200n", page]).stdout
    missing = [o for o in opts if not re.search(rf"(?<![\w-])--{re.escape(o)}(?![\w-])", text)]
    check(not missing, "fdtrace --help has options the man page does not document: "
          + ", ".join("--" + o for o in missing) + " (add them to man/fdtrace.8.scd)")
    ctx.log(f"{len(opts)} long options documented")

    for macros in ("-man", "-mandoc"):
        r = run(ctx, ["groff", "-ww", "-z", macros, page])
        check(not r.stderr.strip(), f"groff -ww -z {macros} warns:\n{tail(r.stderr)}")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    r = run(ctx, ["man", "--warnings", "-l", page], env=env)
    check(not r.stderr.strip(), f"man --warnings -l warns:\n{tail(r.stderr)}")
    check("fdtrace" in r.stdout, "man -l rendered nothing")


# ---- the package -------------------------------------------------------------

_debs = {}      # build dir -> path of the .deb, or the Fail that building it raised


def deb_package(ctx):
    """BUILD/deb/fdtrace_VERSION_ARCH.deb, built by `make deb` once per run."""
    if ctx.build not in _debs:
        arch = run(ctx, ["dpkg", "--print-architecture"]).stdout.strip()
        path = os.path.join(ctx.build, "deb", f"{PKG}_{version()}_{arch}.deb")
        t0 = time.time()
        try:
            run(ctx, ["make", "-C", ROOT, "--no-print-directory", f"OUTPUT={ctx.build}", "deb"],
                timeout=DEB_BUILD_TIMEOUT)
            check(os.path.exists(path), f"make deb did not produce {path}")
            _debs[ctx.build] = path
        except Fail as e:
            _debs[ctx.build] = Fail(f"make deb failed: {e}")
        ctx.log(f"make deb took {time.time() - t0:.1f}s")
    got = _debs[ctx.build]
    if isinstance(got, Fail):
        raise got
    return got


def deb_paths(ctx, deb):
    """(files, dirs) the package holds, as absolute paths."""
    files, dirs = [], []
    for line in run(ctx, ["dpkg-deb", "--contents", deb]).stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        name = parts[5].split(" -> ")[0]
        if name.startswith("./"):
            name = name[2:]
        path = "/" + name.rstrip("/")
        if path == "/":
            continue
        (dirs if parts[0].startswith("d") else files).append(path)
    return files, dirs


def contrib_expected():
    """
    Where the package must put the contrib files the tree has, and what
    each must hold: the unit with its ExecStart path filled in (make
    install's @SBINDIR@, /usr/sbin in the package), the rules as they are.
    """
    want = {}
    unit = os.path.join(ROOT, "contrib", "systemd", "fdtrace.service")
    if os.path.exists(unit):
        with open(unit, "rb") as f:
            want["/usr/lib/systemd/system/fdtrace.service"] = \
                f.read().replace(b"@SBINDIR@", b"/usr/sbin")
    for rules in sorted(glob.glob(os.path.join(ROOT, "contrib", "prometheus", "*.yml"))):
        with open(rules, "rb") as f:
            want["/usr/share/fdtrace/" + os.path.basename(rules)] = f.read()
    return want


@test(timeout=DEB_BUILD_TIMEOUT + 100)
def package_lintian(ctx):
    """make deb builds fdtrace_VERSION_ARCH.deb; lintian reports no error and no warning."""
    deb = deb_package(ctx)
    fields = {}
    for f in ("Package", "Version", "Depends"):
        fields[f] = run(ctx, ["dpkg-deb", "--field", deb, f]).stdout.strip()
    ctx.log(f"fields: {fields}")
    check(fields["Package"] == PKG, f"the package is named {fields['Package']!r}")
    check(fields["Version"] == version(),
          f"package version {fields['Version']} is not VERSION's {version()}")
    check("libbpf" in fields["Depends"], f"Depends lacks libbpf: {fields['Depends']!r}")

    r = run(ctx, ["lintian", "--fail-on", "error,warning", "--display-info", deb],
            timeout=180, check_rc=False)
    tags = [l for l in r.stdout.splitlines() if re.match(r"[EWIPXON]: ", l)]
    for l in tags:
        ctx.log(f"lintian: {l}")
    bad = [l for l in tags if l[0] in "EW"]
    check(not bad and r.returncode == 0,
          f"lintian (status {r.returncode}) on {os.path.basename(deb)}:\n"
          + "\n".join(bad or [tail(r.stdout + r.stderr)])
          + "\n(fix them, or override in debian/fdtrace.lintian-overrides with a comment saying why)")


def installed_status():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PKG],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def snapshot(paths):
    """What is at each path now (None: nothing)."""
    out = {}
    for p in paths:
        try:
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            out[p] = None
    return out


def check_trace(ctx, fdtrace):
    """`fdtrace -j -- scenarios leak`: its leaks are the ones the workload made."""
    account = ctx.path("account.jsonl")
    r = run(ctx, [fdtrace, "-j", "-g", "0.3", "--",
                  os.path.join(ctx.build, "tests", "scenarios"), "-g", "0.3", "-o", account, "leak"],
            timeout=30)
    events = []
    for line in r.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise Fail(f"{fdtrace} printed a line that is not JSON: {line!r}")
    with open(account) as f:
        acc = [json.loads(l) for l in f if l.strip()]
    check(acc and acc[0].get("ev") == "begin", "the workload wrote no account")
    pid = acc[0]["pid"]
    want = sorted((a["fd"], a["ino"]) for a in acc if a["ev"] == "leaked")
    got = sorted((e["fd"], e["inode"]) for e in events
                 if e.get("event") == "leak" and e.get("pid") == pid)
    check(want, "the workload leaked nothing")
    check(got == want, f"{fdtrace} reported leaks (fd, inode) {got}; the workload leaked {want}")
    ctx.log(f"{fdtrace} reported the {len(got)} leaks")


@test(timeout=DEB_BUILD_TIMEOUT + 100)
def package_install_remove(ctx):
    """The .deb unpacks, installs, traces a real leak from /usr/sbin/fdtrace, and dpkg -r removes all it brought."""
    deb = deb_package(ctx)
    files, dirs = deb_paths(ctx, deb)
    want = ["/usr/sbin/fdtrace", "/usr/share/man/man8/fdtrace.8.gz",
            "/usr/share/doc/fdtrace/copyright", *contrib_expected()]
    missing = [p for p in want if p not in files]
    check(not missing, f"the package lacks {missing}")

    # Unpacked into a directory of its own.
    root = ctx.path("root")
    run(ctx, ["dpkg", "-x", deb, root])
    for p in want:
        check(os.path.isfile(root + p), f"dpkg -x put no {p} in {root}")
    for p, content in contrib_expected().items():
        with open(root + p, "rb") as a:
            check(a.read() == content, f"{p} in the package differs from the tree's (contrib/)")
    tree_v = run(ctx, [os.path.join(ctx.build, "fdtrace"), "-V"]).stdout.strip()
    x_v = run(ctx, [root + "/usr/sbin/fdtrace", "-V"]).stdout.strip()
    ctx.log(f"build/fdtrace -V: {tree_v!r}; packaged: {x_v!r}")
    check(x_v.startswith("fdtrace "), f"the packaged fdtrace -V printed {x_v!r}")
    check(version() in x_v or version() not in tree_v,
          f"the packaged fdtrace -V printed {x_v!r}, without VERSION's {version()}")

    # Installed for real.
    check(os.geteuid() == 0, "dpkg -i needs root")
    status = installed_status()
    check(not status.startswith("install ") and "config-files" not in status,
          f"package {PKG} is already on this machine ({status}): dpkg -P {PKG} first")
    before = snapshot(files + dirs)
    clobbered = [p for p in files if before[p] is not None]
    check(not clobbered, f"dpkg -i would overwrite files no package owns: {clobbered}")
    local = ["/usr/local/sbin/fdtrace", "/usr/local/share/man/man8/fdtrace.8"]
    local_before = snapshot(local)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(ctx, ["dpkg", "-i", deb], timeout=120, env=env)
        listed = {l for l in run(ctx, ["dpkg", "-L", PKG]).stdout.splitlines() if l != "/."}
        check(set(files) <= listed, f"dpkg -L lacks {sorted(set(files) - listed)}")
        absent = [p for p in files if not os.path.lexists(p)]
        check(not absent, f"after dpkg -i these are missing: {absent}")

        v = run(ctx, ["/usr/sbin/fdtrace", "-V"]).stdout.strip()
        check(v == x_v, f"/usr/sbin/fdtrace -V printed {v!r}, the package's binary {x_v!r}")
        pages = run(ctx, ["man", "-aw", "fdtrace"], check_rc=False).stdout.split()
        check("/usr/share/man/man8/fdtrace.8.gz" in pages, f"man -aw fdtrace finds only {pages}")
        check_trace(ctx, "/usr/sbin/fdtrace")

        run(ctx, ["dpkg", "-r", PKG], timeout=120, env=env)
        status = installed_status()
        check(not status.startswith("install "), f"after dpkg -r, {PKG} is {status!r}")
        after = snapshot(listed | set(files) | set(dirs))
        left = sorted(p for p, st in after.items() if st is not None and before.get(p) is None)
        check(not left, f"dpkg -r left behind: {left}")
        changed = [p for p in local if snapshot([p])[p] != local_before[p]]
        check(not changed, f"installing and removing the package changed {changed}")
        ctx.log(f"dpkg -r removed all {len(files)} files")
    finally:
        # Whatever happened: no fdtrace package (nor its leftover state)
        # stays on the machine.
        if installed_status():
            run(ctx, ["dpkg", "-P", PKG], timeout=120, env=env, check_rc=False)
