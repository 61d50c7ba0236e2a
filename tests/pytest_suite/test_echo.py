# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""A small suite for the fdtrace pytest plugin (tests/pytest_tests.py).

Three tests on asyncio's readers; test_forgets_socket leaks the article's
way: remove_reader() and no close().  With FDT_SUITE_FIXED=1 it closes
the socket, and nothing leaks.
"""
import asyncio
import os
import socket

FIXED = os.environ.get("FDT_SUITE_FIXED") == "1"
# Sockets kept alive by reference: a cache nobody empties, the usual way
# an unwatched fd outlives its use (a dropped socket would be closed by
# the garbage collector).
_kept = []


async def echo_once(close):
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    got = loop.create_future()

    def readable():
        got.set_result(a.recv(100))
        loop.remove_reader(a.fileno())     # EPOLL_CTL_DEL

    loop.add_reader(a.fileno(), readable)  # EPOLL_CTL_ADD
    b.send(b"ping")
    data = await got
    if close:
        a.close()
        b.close()
    else:
        _kept.append((a, b))
    return data


def test_reads_and_closes():
    assert asyncio.run(echo_once(close=True)) == b"ping"


def test_forgets_socket():
    assert asyncio.run(echo_once(close=FIXED)) == b"ping"


def test_reads_twice_and_closes():
    assert asyncio.run(echo_once(close=True)) == b"ping"
    assert asyncio.run(echo_once(close=True)) == b"ping"
