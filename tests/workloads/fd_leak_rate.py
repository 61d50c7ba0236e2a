#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""A steady leak at a known rate, toward a small RLIMIT_NOFILE.

Sets its soft RLIMIT_NOFILE to --limit, writes "ready" and waits for a
line on stdin.  Then, on a fixed schedule of --rate a second, it opens a
socket, watches it (EPOLL_CTL_ADD), unwatches it (EPOLL_CTL_DEL) and keeps
it open: one leak each time, until --until fds are open.  It writes
"crossed" when its open fds reach --pct percent of the limit, "done" (open
fds, leaks, when the first and the last were made) at the end, and waits
for a line on stdin before it exits.  Lines as in wl_account.py.
"""
import argparse
import os
import resource
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wl_account import Account, wait_line  # noqa: E402


def open_fds():
    # listdir's own directory fd is one of them
    return len(os.listdir("/proc/self/fd")) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True, help="leaks a second")
    ap.add_argument("--until", type=int, required=True, help="stop at this many open fds")
    ap.add_argument("--pct", type=int, default=80)
    args = ap.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.limit, hard))
    acct = Account(args.output)
    ep = select.epoll()
    acct.begin(limit=args.limit, open=open_fds())
    acct.rep("ready", pid=os.getpid(), open=open_fds())
    wait_line()

    keep = []
    crossed = False
    start = time.monotonic()
    start_real = time.time()
    last = start
    while open_fds() < args.until:
        due = start + len(keep) / args.rate
        time.sleep(max(0.0, due - time.monotonic()))
        s = socket.socket()
        ep.register(s.fileno(), select.EPOLLIN)
        ep.unregister(s.fileno())
        keep.append(s)
        last = time.monotonic()
        if not crossed and open_fds() * 100 >= args.limit * args.pct:
            crossed = True
            acct.rep("crossed", open=open_fds(), mono=last, real=time.time())
    acct.rep("done", open=open_fds(), leaks=len(keep), start=start, end=last,
             start_real=start_real, real=time.time())
    wait_line()


if __name__ == "__main__":
    main()
