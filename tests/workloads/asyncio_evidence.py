#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Unwatched sockets in each state fdtrace's evidence tells apart.

A TCP server on --host (127.0.0.1 or ::1) under asyncio or uvloop.  With
a leak role (idle, peer_closed, backpressured, writer) it watches each
accepted socket with loop.add_reader(), takes the watch away with
loop.remove_reader() once the client has said hello, closes every other
socket at once and keeps the rest, whose fate the role decides:

  idle           forgotten: nobody touches it again (the article's leak);
  peer_closed    the client closes its end: the socket sits in CLOSE_WAIT;
  backpressured  the client keeps sending: bytes wait unread;
  writer         the server keeps sending on it (a write-only stream)
                 every --write-every seconds for --write-for seconds,
                 then stops and forgets it.

Clients are threads with blocking sockets, never on epoll.  The account
(wl_account.py) names the kept fds with their inodes; for the writer it
also says when the last write was made ("writes_stopped").  With --hold
the server writes "done" once every kept fd is past the time fdtrace must
report it by, and waits for a line on stdin before it exits.

Role slow: asyncio.start_server() with a 16 KiB StreamReader limit, one
client streaming data as fast as the server takes it, and a handler that
drains what is buffered, then sleeps --pause seconds, --cycles times.
Each sleep fills the buffer and the transport pauses reading
(pause_reading(): EPOLL_CTL_DEL for asyncio; libuv removes the fd when
epoll next reports it) for about --pause seconds; each drain resumes it
(EPOLL_CTL_ADD).  A healthy server: nothing to report.  For the stdlib
loop the selector counts the ADDs and DELs, so the account is exact.

--wait as in asyncio_leak.py: "ready" once listening, then a line on
stdin before the clients connect.
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
from asyncio_backpressure import CountingSelector  # noqa: E402
from asyncio_leak import epoll_fd, die_on_error  # noqa: E402

MARGIN_S = 1.3
SEND_EVERY_S = 0.1          # backpressured: the client's pace
SLOW_LIMIT = 16 << 10       # the slow consumer's StreamReader limit


# ---- the leak roles ------------------------------------------------------------

def client(args, port, i, unwatched, keep):
    c = socket.create_connection((args.host, port))
    keep.append(c)
    c.sendall(b"hello\n")
    unwatched[i].wait()
    if i % 2 == 0:
        return                  # the server closed its end
    if args.role == "peer_closed":
        c.close()
    elif args.role == "backpressured":
        while True:
            c.sendall(b"b" * 512)
            time.sleep(SEND_EVERY_S)


def leak_main(args, acct, loop, epfd):
    lsock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    lsock.bind((args.host, 0))
    lsock.listen(64)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    unwatched = [threading.Event() for _ in range(args.connections)]
    kept, handled, client_socks = [], [], []
    all_done = loop.create_future()
    writes = {}                 # fd -> writes left

    def write_some(conn):
        fd = conn.fileno()
        conn.send(b"w" * 100)
        writes[fd] -= 1
        if writes[fd]:
            loop.call_later(args.write_every, write_some, conn)
        else:
            acct.rep("writes_stopped", fd=fd, real=time.time())

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
            kept.append(conn)
            if args.role == "writer":
                writes[fd] = max(1, round(args.write_for / args.write_every))
                loop.call_later(args.write_every, write_some, conn)
        unwatched[i].set()
        handled.append(fd)
        if len(handled) == args.connections:
            all_done.set_result(None)

    accepted = []

    def on_accept():
        conn, _ = lsock.accept()
        conn.setblocking(False)
        accepted.append(conn)
        loop.add_reader(conn.fileno(), on_data, conn, len(accepted) - 1)

    loop.add_reader(lsock.fileno(), on_accept)
    if args.wait:
        acct.rep("ready", pid=os.getpid(), port=port)
        wait_line()

    def clients():
        # one at a time, so that accept order is client order
        for i in range(args.connections):
            threading.Thread(target=client, args=(args, port, i, unwatched, client_socks),
                             daemon=True).start()
            while len(accepted) <= i:
                time.sleep(0.005)

    threading.Thread(target=clients, daemon=True).start()
    # one run of the loop to the end (see asyncio_leak.py)
    loop.run_until_complete(leak_serve(args, acct, epfd, all_done, kept, writes))


async def leak_serve(args, acct, epfd, all_done, kept, writes):
    loop = asyncio.get_running_loop()
    await all_done
    if args.role == "backpressured":
        due = args.pause_grace
    elif args.role == "writer":
        # in use until the last write; the check after it sees it move,
        # the one after that (a grace later) reports it
        due = args.write_for + 2 * args.grace
    else:
        due = args.grace
    await asyncio.sleep(due + MARGIN_S)
    check = [fd for fd, n in writes.items() if n]
    if check:
        acct.rep("error", what="writes not finished", fds=check)
    name = comm()
    for conn in kept:
        fd = conn.fileno()
        acct.rep("leaked", fd=fd, epfd=epfd, ino=os.fstat(fd).st_ino, type="socket", comm=name,
                 role=args.role)
    if args.hold:
        acct.rep("done")
        await loop.run_in_executor(None, wait_line)
    for conn in kept:
        acct.rep("closed", fd=conn.fileno(), ino=os.fstat(conn.fileno()).st_ino,
                 how="exit", late=1)
    acct.rep("exit")
    os._exit(0)


# ---- the slow consumer -------------------------------------------------------------

def streamer(host, port, stop):
    c = socket.create_connection((host, port))
    chunk = b"s" * (64 << 10)
    while not stop.is_set():
        c.sendall(chunk)
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096):
        pass
    c.close()


async def slow_serve(args, acct, selector):
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(die_on_error)
    stop = threading.Event()
    closed = loop.create_future()
    got = [0, 0]                # bytes, reads

    async def handle(reader, writer):
        try:
            for _ in range(args.cycles):
                data = await reader.read(1 << 30)
                got[0] += len(data)
                got[1] += 1
                await asyncio.sleep(args.pause)
            stop.set()
            while True:
                data = await reader.read(1 << 30)
                if not data:
                    break
                got[0] += len(data)
            writer.close()
            await writer.wait_closed()
            closed.set_result(None)
        except BaseException as e:
            acct.rep("error", what=repr(e))
            os._exit(3)

    server = await asyncio.start_server(handle, args.host, 0, limit=SLOW_LIMIT)
    port = server.sockets[0].getsockname()[1]
    listen_fd = server.sockets[0].fileno()
    if args.wait:
        acct.rep("ready", pid=os.getpid(), port=port)
        await loop.run_in_executor(None, wait_line)
    before = (dict(selector.adds), dict(selector.dels)) if selector else ({}, {})
    threading.Thread(target=streamer, args=(args.host, port, stop), daemon=True).start()
    await closed
    if selector:
        conn = lambda c, b: sum(v - b.get(fd, 0) for fd, v in c.items() if fd != listen_fd)
        adds, dels = conn(selector.adds, before[0]), conn(selector.dels, before[1])
        acct.rep("counts", watches_ended=dels, rewatched=adds - 1, closed=1, bytes=got[0])
    else:
        acct.rep("counts", closed=1, bytes=got[0], exact=0)
    if args.hold:
        acct.rep("done")
        await loop.run_in_executor(None, wait_line)
    acct.rep("exit")
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--role", required=True,
                    choices=("idle", "peer_closed", "backpressured", "writer", "slow"))
    ap.add_argument("-g", "--grace", type=float, default=1.0)
    ap.add_argument("--pause-grace", type=float, default=3.0)
    ap.add_argument("-n", "--connections", type=int, default=4,
                    help="leak roles: every other one is closed at once")
    ap.add_argument("--write-for", type=float, default=3.0)
    ap.add_argument("--write-every", type=float, default=0.2)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--pause", type=float, default=4.0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--wait", action="store_true")
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()

    acct = Account(args.output)
    selector = None
    if args.loop == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    elif args.role == "slow":
        selector = CountingSelector()
        loop = asyncio.SelectorEventLoop(selector)
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(die_on_error)
    acct.begin(scenario=f"asyncio_evidence {args.role}", loop=args.loop, host=args.host)
    if args.role == "slow":
        loop.run_until_complete(slow_serve(args, acct, selector))
    else:
        leak_main(args, acct, loop, epoll_fd(loop))


if __name__ == "__main__":
    main()
