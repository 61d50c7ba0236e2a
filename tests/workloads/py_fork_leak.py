#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""A Python process whose forked child leaks a socket at once.

The child watches one end of a socketpair with select.epoll and unwatches
it right after the fork, before a tracer could have looked at it, keeps
it open for GRACE + 1.3 s and exits; the parent waits for it.  The child
prints "leaked FD" on stderr.
"""
import os
import select
import socket
import sys
import time


def child_leak():
    a, b = socket.socketpair()
    ep = select.epoll()
    ep.register(a.fileno(), select.EPOLLIN)
    ep.unregister(a.fileno())
    return a, b


def main():
    grace = float(sys.argv[1])
    pid = os.fork()
    if pid == 0:
        a, _ = child_leak()
        print(f"leaked {a.fileno()}", file=sys.stderr, flush=True)
        time.sleep(grace + 1.3)
        os._exit(0)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
