#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""py_epoll_cost: ns per epoll_ctl() made from Python, for the call-site
capture rows of the benchmark (section 10).

The same protocol as syscall_cost: with -w it prints "ready PID" and waits
for a line on stdin before it runs; the result is one JSON line in -o.

  py_adddel  select.epoll register() + unregister() of one eventfd, per
             call (the pair halved), made DEPTH Python frames deep: the
             kernel walks that many frames at each call when fdtrace
             captures stacks.
"""
import argparse
import json
import os
import select
import statistics
import sys
import time


def pairs(ep, fd, n):
    reg, unreg = ep.register, ep.unregister
    t0 = time.perf_counter_ns()
    for _ in range(n):
        reg(fd, select.EPOLLIN)
        unreg(fd)
    return (time.perf_counter_ns() - t0) / (2 * n)


def deep(depth, fn, *a):
    """fn(*a) called depth frames down: a server's stack, roughly."""
    if depth <= 1:
        return fn(*a)
    return deep(depth - 1, fn, *a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", type=int, help="pin to this CPU")
    ap.add_argument("-n", type=int, default=20000, help="pairs per repetition")
    ap.add_argument("-r", type=int, default=3, help="repetitions")
    ap.add_argument("-d", "--depth", type=int, default=12, help="Python frames above the call")
    ap.add_argument("-o", required=True)
    ap.add_argument("-w", action="store_true")
    args = ap.parse_args()
    if args.c is not None:
        os.sched_setaffinity(0, {args.c})
    ep = select.epoll()
    fd = os.eventfd(0)
    if args.w:
        print(f"ready {os.getpid()}", flush=True)
        sys.stdin.readline()
    deep(args.depth, pairs, ep, fd, 1000)      # warm up
    runs = [deep(args.depth, pairs, ep, fd, args.n) for _ in range(args.r)]
    with open(args.o, "w") as f:
        json.dump({"tool": "py_epoll_cost", "pid": os.getpid(), "depth": args.depth,
                   "unit": "ns_per_call",
                   "py_adddel": {"median": statistics.median(runs), "min": min(runs),
                                 "calls": 2 * args.n}}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
