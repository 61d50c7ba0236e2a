# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The account a Python workload keeps of its own epoll watches.

Same line format as scenarios.c (see the comment at its top): one JSON
object per line, one write(2) per line, appended to the report file, so
that tests/harness.py reads every workload the same way.
"""
import json
import os
import stat
import sys
import threading
import time


def comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def file_type(fd):
    link = os.readlink(f"/proc/self/fd/{fd}")
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("pipe:"):
        return "pipe"
    if link.startswith("anon_inode:["):
        return link[len("anon_inode:["):-1].replace("eventpoll", "epoll")
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return "file"
    return "other"


class Account:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.lock = threading.Lock()

    def rep(self, ev, **kw):
        line = json.dumps(dict(ev=ev, **kw), separators=(",", ":")) + "\n"
        with self.lock:
            os.write(self.fd, line.encode())

    def begin(self, **kw):
        self.rep("begin", pid=os.getpid(), comm=comm(), stage=1, **kw)

    def watch_end(self, fd, epfd):
        self.rep("watch_end", fd=fd, epfd=epfd, ino=os.fstat(fd).st_ino, type=file_type(fd),
                 mono=time.monotonic(), real=time.time())


def wait_line():
    """A line on stdin, or EOF."""
    sys.stdin.buffer.readline()
