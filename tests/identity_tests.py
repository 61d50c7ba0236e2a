# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Which connection leaked (issue 8): the socket's endpoints, read in the
kernel when its watch ended, on every leak.

The workload (below, run with Debian's python3) accepts one connection
per family on loopback, watches the accepted socket with epoll, stops
watching it and keeps it open: a leak.  It prints the addresses it used;
fdtrace's leak event must name exactly those.  For TCP the client then
closes its end, so the leak's state is CLOSE_WAIT.
"""
import json
import os
import socket

from harness import test, check, Skip, PYTHON

WORKLOAD = r'''
import json, os, select, socket, sys, time
family, path = sys.argv[1], sys.argv[2]
ep = select.epoll()
if family == "unix":
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen()
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cli.connect(path)
    local, peer = path, None
else:
    fam = socket.AF_INET6 if family == "tcp6" else socket.AF_INET
    host = "::1" if family == "tcp6" else "127.0.0.1"
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname()[:2])
conn, _ = srv.accept()
if family != "unix":
    local, peer = conn.getsockname()[:2], conn.getpeername()[:2]
ep.register(conn.fileno(), select.EPOLLIN)
ep.unregister(conn.fileno())            # remove_reader(), and no close: the leak
cli.close()                              # the peer hangs up: CLOSE_WAIT
print(json.dumps({"fd": conn.fileno(), "ino": os.fstat(conn.fileno()).st_ino,
                  "local": local, "peer": peer}), file=sys.stderr, flush=True)
time.sleep(float(sys.argv[3]))
'''


def endpoint(family, addr):
    host, port = addr
    return f"[{host}]:{port}" if family == "tcp6" else f"{host}:{port}"


def run(ctx, family):
    grace = 0.3
    script = ctx.path("wl.py")
    with open(script, "w") as f:
        f.write(WORKLOAD)
    path = ctx.path("srv.sock")
    ft = ctx.fdtrace("-j", "-g", grace, "--", PYTHON, script, family, path, grace + 1.0)
    rc = ft.wait(30)
    check(rc == 0, f"fdtrace -- workload: status {rc}: {ft.stderr_lines()[-3:]}")
    evs = ft.events()
    told = [l for l in ft.stderr_lines() if l.startswith('{"fd"')]
    check(len(told) == 1, f"the workload said nothing: {ft.stderr_lines()[-3:]}")
    want = json.loads(told[0])
    leaks = [e for e in evs if e.get("event") == "leak"]
    check(len(leaks) == 1, f"{len(leaks)} leaks, expected the one socket: {leaks}")
    e = leaks[0]
    check((e["fd"], e["inode"]) == (want["fd"], want["ino"]), f"leak {e}, expected {want}")
    sock = e.get("socket")
    check(sock, f"leak without its socket: {e}")
    if family == "unix":
        check(sock == {"proto": "unix", "path": path}, f"unix socket {sock}, expected path {path}")
    else:
        check(sock["proto"] == family, f"proto {sock['proto']}, expected {family}")
        check(sock["local"] == endpoint(family, want["local"]),
              f"local {sock['local']}, expected {endpoint(family, want['local'])}")
        check(sock["peer"] == endpoint(family, want["peer"]),
              f"peer {sock['peer']}, expected {endpoint(family, want['peer'])}")
        check(e.get("tcp_state") == "CLOSE_WAIT", f"tcp_state {e.get('tcp_state')}, expected CLOSE_WAIT")
        check(e.get("evidence") == "peer_closed", f"evidence {e.get('evidence')}, expected peer_closed")
    # the resolution names the same socket
    res = [r for r in evs if r.get("event") == "leak_resolved" and r["fd"] == e["fd"]]
    check(res and res[0].get("socket") == sock, f"leak_resolved without the same socket: {res}")
    ctx.log(f"{family}: {json.dumps(sock)}")


@test()
def identity_tcp4(ctx):
    """A leaked TCP socket names its local and peer address and port, CLOSE_WAIT."""
    run(ctx, "tcp")


@test()
def identity_tcp6(ctx):
    """The same over IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise Skip(f"no IPv6 loopback here: {e}")
    run(ctx, "tcp6")


@test()
def identity_unix(ctx):
    """A leaked unix stream socket names the path it was accepted on."""
    run(ctx, "unix")
