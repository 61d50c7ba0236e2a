# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The --html page in a real browser: Debian's chromium, headless.

The page is rendered twice: once to a screenshot (kept with the test's
files, its path in the log), once with --dump-dom after the page's script
ran.  The dumped DOM must hold one leak bar per leak, with the leak's fd,
and the script must have finished (<body data-ok="1">) without an error
(window.onerror sets data-error).

The page comes from build/tests/test_html --page (a synthetic run through
the real engine); once fdtrace has --html, also from a live run and its
replay.
"""
import os
import tempfile
import re
import subprocess

from harness import test, check, Fail, Skip
import harness as h

h.OPTIONAL_TOOLS["chromium"] = lambda: h.which("chromium") is not None

# Nothing from the network, no GPU, no first-run or background work: the
# same render on any host.  As root, chromium needs --no-sandbox.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium(ctx, name, *args, timeout=90):
    """Run chromium with a fresh profile; returns its stdout (the DOM dump)."""
    profile = tempfile.mkdtemp(prefix=f"profile-{name}.", dir=ctx.tmp)
    p = h.Proc(ctx, [h.which("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
               name=f"chromium ({name})")
    rc = p.wait(timeout)
    # dbus and GPU complaints on stderr are expected in a container: only the status counts
    check(rc == 0, f"chromium ({name}) exited with status {rc}: {p.stderr_lines()[-5:]}")
    return "\n".join(p.stdout_lines())


def attrs(tag):
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def render(ctx, page, leaks, resolved=None):
    """Screenshot and DOM of page; check the DOM against the leaks' fds."""
    url = "file://" + os.path.abspath(page)
    shot = ctx.path(os.path.basename(page) + ".png")
    chromium(ctx, "screenshot", f"--screenshot={shot}", "--window-size=1400,900", url)
    with open(shot, "rb") as f:
        head = f.read(8)
    check(head == PNG_MAGIC and os.path.getsize(shot) > 10000,
          f"chromium wrote no screenshot at {shot}")
    ctx.log(f"screenshot: {shot}")

    dom = chromium(ctx, "dump-dom", "--virtual-time-budget=2000", "--dump-dom", url)
    with open(ctx.path(os.path.basename(page) + ".dom.html"), "w") as f:
        f.write(dom)
    body = re.search(r"<body\b[^>]*>", dom)
    check(body, "the dumped DOM has no <body>")
    b = attrs(body.group(0))
    check("data-error" not in b, f"the page's script failed: {b.get('data-error')}")
    check(b.get("data-ok") == "1", "the page's script did not finish (no data-ok=\"1\" on <body>)")

    bars = [attrs(t) for t in re.findall(r"<g\b[^>]*\bdata-kind=\"[^\"]*\"[^>]*>", dom)]
    leak_bars = [a for a in bars if a.get("data-kind") == "leak"]
    got = sorted(int(a["data-fd"]) for a in leak_bars)
    check(got == sorted(leaks), f"leak bars for fds {got}, leaks reported for fds {sorted(leaks)}")
    # the script moved each bar's <title> into the tooltip's data-tip
    untipped = [a["data-fd"] for a in leak_bars if "LEAK" not in a.get("data-tip", "")]
    check(not untipped, f"leak bars without their tooltip (fds {untipped})")
    if resolved is not None:
        n = sum(a.get("data-resolved") == "1" for a in leak_bars)
        check(n == resolved, f"{n} resolved leak bars, {resolved} leaks resolved")
    rows = re.findall(r"<tr\b[^>]*\bdata-kind=\"leak\"[^>]*>", dom)
    check(len(rows) == len(leaks), f"{len(rows)} leak rows in the findings, {len(leaks)} leaks")
    return dom


@test(timeout=240, needs=("chromium",))
def html_page_in_chromium(ctx):
    """the sample page renders in headless chromium: leak bars, no script error"""
    binary = os.path.join(ctx.build, "tests", "test_html")
    if not os.path.exists(binary):
        raise Fail(f"{binary} was not built")
    page = ctx.path("sample.html")
    r = subprocess.run([binary, "--page", page], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"test_html --page failed: {r.stderr.strip()}")
    m = re.search(r"^leaks:((?: \d+)*)$", r.stdout, re.M)
    n = re.search(r"^resolved: (\d+)$", r.stdout, re.M)
    check(m and n, f"test_html --page said: {r.stdout!r}")
    leaks = [int(x) for x in m.group(1).split()]
    check(len(leaks) >= 4, f"the sample run has only {len(leaks)} leaks")
    dom = render(ctx, page, leaks, resolved=int(n.group(1)))
    check("&lt;script&gt;alert(1" in dom, "the hostile comm is not shown escaped")
    check("<script>alert" not in dom, "the hostile comm reached the DOM as markup")


def has_html_option(ctx):
    r = subprocess.run([ctx.fdtrace_bin, "--help"], capture_output=True, text=True, timeout=10)
    return "--html" in r.stdout + r.stderr


@test(timeout=240, needs=("chromium",))
def html_live_and_replay(ctx):
    """fdtrace --html of a live run and of its replay: one leak bar per leak event"""
    if not os.path.exists(ctx.fdtrace_bin):
        raise Fail(f"{ctx.fdtrace_bin} does not exist")
    if not has_html_option(ctx):
        raise Skip("fdtrace has no --html option yet")
    rec, live, replay = ctx.path("run.fdtrace"), ctx.path("live.html"), ctx.path("replay.html")
    ft = ctx.fdtrace("-j", "-g", "0.5", "-w", rec, "--html", live, "--",
                     *ctx.scenario_argv("leak", 0.5))
    rc = ft.wait(60)
    check(rc == 0, f"fdtrace -- scenarios leak exited with status {rc}: {ft.stderr_lines()[-3:]}")
    leaks = [e["fd"] for e in ft.events() if e["event"] == "leak"]
    check(leaks, "the live run reported no leak")
    render(ctx, live, leaks)
    rp = ctx.fdtrace("-j", "-r", rec, "--html", replay)
    rc = rp.wait(60)
    check(rc == 0, f"fdtrace -r exited with status {rc}: {rp.stderr_lines()[-3:]}")
    check([e["fd"] for e in rp.events() if e["event"] == "leak"] == leaks,
          "the replay's leaks differ from the live run's")
    render(ctx, replay, leaks)
