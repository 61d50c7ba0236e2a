#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The article's leak, for real.

A TCP server on 127.0.0.1 watches every accepted socket with
loop.add_reader(), takes the watch away with loop.remove_reader() once the
client has spoken, then closes half of the sockets and forgets the other
half (keeps a reference, never closes it).  The account (see
wl_account.py) says which fds it forgot, with their inodes, and when it
removed their readers.

With --wait it writes "ready" once it listens and waits for a line on
stdin before the clients (threads with blocking sockets, never on epoll)
connect.  With --hold it writes "done" once every forgotten fd has been
unwatched for longer than grace + margin and waits for a line on stdin
before it exits.
"""
import argparse
import asyncio
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wl_account import Account, comm, wait_line  # noqa: E402

MARGIN_S = 1.3


def epoll_fd(loop):
    """The loop's epoll fd (uvloop does not tell: the only one there is)."""
    sel = getattr(loop, "_selector", None)
    if sel is not None:
        return sel._selector.fileno()
    eps = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventpoll]":
                eps.append(int(fd))
        except FileNotFoundError:
            pass  # the fd listdir itself used
    if len(eps) != 1:
        sys.exit(f"asyncio_leak: {len(eps)} epoll fds")
    return eps[0]


def die_on_error(loop, context):
    loop.default_exception_handler(context)
    os._exit(3)


def clients(port, n, keep):
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"hello\n")
        keep.append(c)
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-g", "--grace", type=float, default=1.0)
    ap.add_argument("-n", "--connections", type=int, default=8)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--wait", action="store_true")
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()

    acct = Account(args.output)
    if args.loop == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(die_on_error)
    epfd = epoll_fd(loop)
    acct.begin(scenario="asyncio_leak", loop=args.loop, grace=args.grace)

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    accepted = []
    forgotten = []
    handled = []
    all_done = loop.create_future()
    client_socks = []

    def on_data(conn, i):
        fd = conn.fileno()
        conn.recv(100)
        loop.remove_reader(fd)
        acct.watch_end(fd, epfd)
        if i % 2 == 0:
            ino = os.fstat(fd).st_ino
            conn.close()
            acct.rep("closed", fd=fd, ino=ino, how="close", late=0)
        else:
            forgotten.append(conn)
        handled.append(fd)
        if len(handled) == args.connections:
            all_done.set_result(None)

    def on_accept():
        conn, _ = lsock.accept()
        conn.setblocking(False)
        accepted.append(conn)
        loop.add_reader(conn.fileno(), on_data, conn, len(accepted) - 1)

    loop.add_reader(lsock.fileno(), on_accept)
    if args.wait:
        acct.rep("ready", pid=os.getpid(), port=port)
        wait_line()
    threading.Thread(target=clients, args=(port, args.connections, client_socks),
                     daemon=True).start()
    # One run of the loop to the end: uvloop unwatches its signal socket
    # whenever the loop stops, which would be a (true) leak of its own.
    loop.run_until_complete(serve(args, acct, epfd, all_done, forgotten))


async def serve(args, acct, epfd, all_done, forgotten):
    loop = asyncio.get_running_loop()
    await all_done
    await asyncio.sleep(args.grace + MARGIN_S)
    name = comm()
    for conn in forgotten:
        fd = conn.fileno()
        acct.rep("leaked", fd=fd, epfd=epfd, ino=os.fstat(fd).st_ino,
                 type="socket", comm=name)
    if args.hold:
        acct.rep("done")
        await loop.run_in_executor(None, wait_line)
    for conn in forgotten:
        acct.rep("closed", fd=conn.fileno(), ino=os.fstat(conn.fileno()).st_ino,
                 how="exit", late=1)
    acct.rep("exit")
    os._exit(0)


if __name__ == "__main__":
    main()
