# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The close paths, one C scenario each (tests/workloads/scenarios.c).

Each scenario makes its epoll_ctl() and close-like calls itself on fds
whose numbers it knows and writes its own account of every watch it
ended; harness.check_report() compares fdtrace's JSON with that account
exactly: findings, their times, and every summary counter.
"""
import os

from harness import test, check, scenario_cmd, scenario_pid


def cmd_test(scenario, grace=0.5):
    def fn(ctx):
        scenario_cmd(ctx, scenario, grace)
    fn.__name__ = scenario
    fn.__doc__ = f"scenarios {scenario}, traced with -- COMMAND"
    return test()(fn)


def pid_test(scenario, grace=0.5, name=None):
    def fn(ctx):
        scenario_pid(ctx, scenario, grace)
    fn.__name__ = name or scenario
    fn.__doc__ = f"scenarios {scenario}, traced with -p"
    return test()(fn)


# Scenarios whose leaks are all resolved (or never happen) by the end are
# traced from exec to exit; those that end with fds still leaked are traced
# with -p and stopped with SIGINT while the workload still holds them.
pid_test("leak")
for _s in ("close", "close_range", "close_range_cloexec", "dup2", "dup3", "exec", "exit",
           "pause_resume", "rewatch_late", "late_close", "fd_reuse", "threads", "thread_exit",
           "del_enoent", "del_ebadf", "closed_while_watched"):
    cmd_test(_s)
pid_test("fd_reuse_leak")
pid_test("two_epolls")
pid_test("epoll_closed_other_ways")
pid_test("failed_add")
pid_test("close_noops")
pid_test("exec_fails")
pid_test("types")
pid_test("fork_child_close")
pid_test("threads", name="threads_pid")
pid_test("rewatch_late", name="rewatch_late_pid")


@test()
def untouched(ctx):
    """Closes of fds epoll never touched: nothing reported, no record reaches userspace."""
    a = scenario_cmd(ctx, "untouched", extra=("-n", "0")).events()[-1]
    os.unlink(ctx.path("account.jsonl"))
    b = scenario_cmd(ctx, "untouched", extra=("-n", "20")).events()[-1]
    if "records" in a:
        check(a["records"] == b["records"],
              f"{b['records'] - a['records']} more records with 6,600 closes of untouched fds")
    else:
        ctx.log("totals carry no record count: only the summaries were compared")


@test()
def leak_resolved_by_exit(ctx):
    """Leaks still open when the process exits: resolved how=exit, then the summary."""
    scenario_cmd(ctx, "leak")


@test()
def exec_comm(ctx):
    """exec through another name: leaks afterwards carry the new comm."""
    link = ctx.path("wl-stage2")
    os.symlink(os.path.join(ctx.build, "tests", "scenarios"), link)
    scenario_pid(ctx, "exec_comm", extra=("--exec-as", link))


@test(timeout=90)
def burst_200k(ctx):
    """200,000 create/ADD/DEL/close cycles: every ended watch counted, no finding, nothing lost."""
    scenario_cmd(ctx, "burst", extra=("-n", "200000"), timeout=80)

