#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""A Python process that leaks a socket, execs itself, and leaks another.

Stage "before": watch one end of a socketpair with select.epoll, unwatch
it, keep it open across the exec (inheritable), exec stage "after".
Stage "after": the same with another socketpair, then wait for
GRACE + 1.3 s and exit.  Each stage prints "leaked FD" on stderr.
"""
import os
import select
import socket
import sys
import time

keep = []


def leak_before():
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a.fileno(), select.EPOLLIN)
    ep.unregister(a.fileno())
    os.set_inheritable(a.fileno(), True)
    keep.append((a, b))
    return a.fileno()


def leak_after():
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a.fileno(), select.EPOLLIN)
    ep.unregister(a.fileno())
    keep.append((a, b))
    return a.fileno()


def main():
    stage, grace = sys.argv[1], float(sys.argv[2])
    if stage == "before":
        print(f"leaked {leak_before()}", file=sys.stderr, flush=True)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "after", str(grace)])
    print(f"leaked {leak_after()}", file=sys.stderr, flush=True)
    time.sleep(grace + 1.3)


if __name__ == "__main__":
    main()
