#!/usr/bin/python3
"""A small asyncio server with an fd leak, for fdtrace to find.

The server watches a raw listening socket with loop.add_reader() and each
accepted connection with loop.add_reader(handler).  The handler reads a
request, replies, and stops watching the connection with
loop.remove_reader(fd) -- epoll_ctl(EPOLL_CTL_DEL) -- before closing it.
Every third connection it forgets the close: the socket is no longer
watched, so nothing will ever notice it again, but it stays open until the
process exits.  That is the bug fdtrace looks for.

The program is its own client: a thread opens a few connections spread
over a couple of seconds, then the server idles a little longer (so a
short grace period expires while it is still running) and exits by itself.
Which fds it leaked is printed on stderr, to compare with fdtrace.

Standard library only.  Try:
    sudo build/fdtrace --grace 2 -- /usr/bin/python3 examples/leaky_server.py
"""
import argparse
import asyncio
import os
import socket
import sys
import threading


def log(msg):
    print(f"leaky_server: {msg}", file=sys.stderr, flush=True)


class LeakyServer:
    def __init__(self, loop, leak_every):
        self.loop = loop
        self.leak_every = leak_every
        self.nr_accepted = 0
        # fd -> socket of every open connection.  The handler is meant to
        # pop the entry and close the socket; when it forgets, the socket
        # object stays referenced here and the fd stays open.
        self.conns = {}
        self.leaked = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.addr = self.lsock.getsockname()
        loop.add_reader(self.lsock.fileno(), self.on_accept)
        log(f"listening on {self.addr[0]}:{self.addr[1]} "
            f"(fd {self.lsock.fileno()}, watched with add_reader)")

    def on_accept(self):
        try:
            conn, _ = self.lsock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.nr_accepted += 1
        fd = conn.fileno()
        self.conns[fd] = conn
        self.loop.add_reader(fd, self.on_request, conn, self.nr_accepted, bytearray())

    def on_request(self, conn, nr, buf):
        fd = conn.fileno()
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        buf += data
        if data and b"\n" not in buf:
            return          # request not complete yet: keep watching
        if data:
            conn.sendall(b"hello #%d\n" % nr)
        # Done with this connection: stop watching it (EPOLL_CTL_DEL) ...
        self.loop.remove_reader(fd)
        # ... and close it.  THE BUG: every third connection takes an
        # early-return path that skips the cleanup, so the fd is neither
        # watched nor closed.
        if nr % self.leak_every == 0:
            self.leaked.append(fd)
            log(f"connection #{nr}: fd {fd} unwatched with remove_reader() "
                f"and never closed (the bug)")
            return
        del self.conns[fd]
        conn.close()

    def close(self):
        self.loop.remove_reader(self.lsock.fileno())
        self.lsock.close()


def run_clients(addr, count, interval, done):
    """Blocking clients in a thread: they never touch the event loop."""
    for i in range(count):
        if i:
            done.wait(interval)
        try:
            with socket.create_connection(addr, timeout=5) as s:
                s.sendall(b"GET /%d\n" % (i + 1))
                reply = b""
                while b"\n" not in reply:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    reply += chunk
        except OSError as e:
            log(f"client {i + 1}: {e}")


async def serve(args):
    loop = asyncio.get_running_loop()
    server = LeakyServer(loop, args.leak_every)
    finished = asyncio.Event()
    stop = threading.Event()

    def clients():
        run_clients(server.addr, args.connections, args.interval, stop)
        loop.call_soon_threadsafe(finished.set)

    t = threading.Thread(target=clients, name="clients", daemon=True)
    t.start()
    await finished.wait()
    t.join()
    log(f"{server.nr_accepted} connections served; idling {args.linger:g}s "
        f"with {len(server.leaked)} leaked fd(s)")
    await asyncio.sleep(args.linger)
    server.close()
    return server


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=9,
                   help="client connections to make (default 9)")
    p.add_argument("--interval", type=float, default=0.25,
                   help="seconds between connections (default 0.25)")
    p.add_argument("--linger", type=float, default=3.5,
                   help="seconds to keep running after the last connection, "
                   "longer than fdtrace's --grace (default 3.5)")
    p.add_argument("--leak-every", type=int, default=3, metavar="N",
                   help="leak every Nth connection (default 3)")
    args = p.parse_args()
    if args.connections < 1 or args.interval < 0 or args.linger < 0 \
            or args.leak_every < 1:
        p.error("counts must be positive and times not negative")

    # Keep the server (and so its connection table) referenced: dropping
    # it would let the garbage collector close the leaked sockets.
    server = asyncio.run(serve(args))
    fds = ", ".join(str(fd) for fd in server.leaked) or "none"
    log(f"exiting (pid {os.getpid()}); leaked fds still open: {fds}")
    # Exit without running finalizers: they would close the leaked
    # sockets on the way out and hide the leak.  A long-running server
    # with this bug holds them until it dies.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
