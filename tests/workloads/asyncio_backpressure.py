#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""A well-behaved asyncio server under back-pressure: nothing to flag.

asyncio.start_server() with a small StreamReader limit; clients (threads
with blocking sockets, never on epoll) each send more than the limit many
times over, so the server's transports pause and resume reading again and
again: every pause_reading() is an EPOLL_CTL_DEL, every resume_reading()
an EPOLL_CTL_ADD of the same socket.  At EOF the transport unwatches the
socket and closes it.

For the stdlib loop the account is exact: the selector counts the epoll
ADDs and DELs it makes and the transports count their pauses and resumes;
the two must agree.  uvloop (libuv) stops reading without telling epoll
and removes the fd later, when epoll reports it: there the account gives
the connections only.

--wait and --hold as in asyncio_leak.py.
"""
import argparse
import asyncio
import collections
import os
import selectors
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wl_account import Account, wait_line  # noqa: E402

LIMIT = 4096


class CountingSelector(selectors.EpollSelector):
    """Counts the EPOLL_CTL_ADDs and DELs the stdlib loop makes, per fd."""

    def __init__(self):
        super().__init__()
        self.adds = collections.Counter()
        self.dels = collections.Counter()

    def register(self, fileobj, events, data=None):
        key = super().register(fileobj, events, data)
        self.adds[key.fd] += 1
        return key

    def unregister(self, fileobj):
        key = super().unregister(fileobj)
        self.dels[key.fd] += 1
        return key


def client(port, size):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"x" * size)
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096):
        pass
    c.close()


def die_on_error(loop, context):
    loop.default_exception_handler(context)
    os._exit(3)


async def serve(args, acct, selector):
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(die_on_error)
    stats = collections.Counter()
    all_closed = loop.create_future()

    async def handle(reader, writer):
        try:
            await handle_conn(reader, writer)
        except BaseException as e:
            acct.rep("error", what=repr(e))
            os._exit(3)

    async def handle_conn(reader, writer):
        t = writer.transport
        pause, resume = t.pause_reading, t.resume_reading

        def counted_pause():
            was = t.is_reading()
            pause()
            stats["pauses"] += was and not t.is_reading()

        def counted_resume():
            was = t.is_reading()
            resume()
            stats["resumes"] += t.is_reading() and not was

        if selector:
            # uvloop's transports take no attributes (and say nothing)
            t.pause_reading, t.resume_reading = counted_pause, counted_resume
        while True:
            data = await reader.read(LIMIT)
            if not data:
                break
            stats["bytes"] += len(data)
        writer.close()
        await writer.wait_closed()
        stats["closed"] += 1
        if stats["closed"] == args.connections:
            all_closed.set_result(None)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=LIMIT)
    port = server.sockets[0].getsockname()[1]
    listen_fd = server.sockets[0].fileno()
    if args.wait:
        acct.rep("ready", pid=os.getpid(), port=port)
        await loop.run_in_executor(None, wait_line)
    before_adds = dict(selector.adds) if selector else {}
    for _ in range(args.connections):
        threading.Thread(target=client, args=(port, args.size), daemon=True).start()
    await all_closed

    n = args.connections
    if selector:
        conn = lambda c: sum(v - before_adds.get(fd, 0) for fd, v in c.items() if fd != listen_fd)
        adds, dels = conn(selector.adds), conn(selector.dels)
        acct.rep("counts", watches_ended=dels, rewatched=adds - n, closed=n,
                 pauses=stats["pauses"], resumes=stats["resumes"], bytes=stats["bytes"])
        if dels != stats["pauses"] + n or adds != stats["resumes"] + n:
            acct.rep("error", what="selector and transports disagree",
                     adds=adds, dels=dels)
    else:
        acct.rep("counts", closed=n, pauses=stats["pauses"], resumes=stats["resumes"],
                 bytes=stats["bytes"], exact=0)
    if stats["bytes"] != n * args.size:
        acct.rep("error", what="bytes lost", got=stats["bytes"])
    if args.hold:
        acct.rep("done")
        await loop.run_in_executor(None, wait_line)
    acct.rep("exit")
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-n", "--connections", type=int, default=4)
    ap.add_argument("-s", "--size", type=int, default=2 << 20, help="bytes per connection")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--wait", action="store_true")
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()

    acct = Account(args.output)
    selector = None
    if args.loop == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        selector = CountingSelector()
        loop = asyncio.SelectorEventLoop(selector)
    asyncio.set_event_loop(loop)
    acct.begin(scenario="asyncio_backpressure", loop=args.loop)
    # one run of the loop to the end (see asyncio_leak.py)
    loop.run_until_complete(serve(args, acct, selector))


if __name__ == "__main__":
    main()
