#!/bin/sh
# A first look at fdtrace: trace a small asyncio server that leaks sockets.
# Usage: scripts/demo.sh [PATH-TO-FDTRACE]    (make demo runs it as root)
set -u

FDTRACE=${1:-build/fdtrace}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: fdtrace loads BPF programs and must run as root: try 'sudo make demo'" >&2
	exit 2
fi
if [ ! -x "$FDTRACE" ]; then
	echo "demo: $FDTRACE not found or not executable: run 'make' first" >&2
	exit 2
fi
if [ ! -x "$PYTHON" ]; then
	echo "demo: $PYTHON is needed to run the example server" >&2
	exit 2
fi

cat <<'MSG'
fdtrace demo: examples/leaky_server.py serves 9 connections in ~2 s; after each one it
calls loop.remove_reader() (EPOLL_CTL_DEL) but every third time forgets to close the
socket. fdtrace should report each of those as a LEAK 2 s later (--grace 2).

MSG
printf '$ %s --grace 2 -- %s examples/leaky_server.py\n' "$FDTRACE" "$PYTHON"
"$FDTRACE" --grace 2 -- "$PYTHON" "$ROOT/examples/leaky_server.py"
rc=$?

cat <<'MSG'

LEAK: fd deregistered from epoll but still open after the grace period (compare the FD
column with the fds leaky_server says it leaked); RESOLVED: how it ended; then a summary.
MSG
exit $rc
