// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * A plain Node.js http server for fdtrace's runtime tests: libuv's epoll
 * loop under many short connections.  Listens on 127.0.0.1, an ephemeral
 * port, and prints one JSON line once listening: {"port":N,"pid":N}.
 * Every response closes its connection.  SIGUSR2 prints the counts the
 * test compares fdtrace with:
 *   {"connections":N,"open":N,"requests":N}
 * connections accepted in all, still open, requests served.  Runs until
 * killed.
 */
'use strict';
const http = require('http');

let connections = 0;
let open = 0;
let requests = 0;

const server = http.createServer((req, res) => {
  requests++;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Connection': 'close' });
  res.end('ok\n');
});
server.keepAliveTimeout = 0;
server.on('connection', (sock) => {
  connections++;
  open++;
  sock.on('close', () => { open--; });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid }) + '\n');
});
process.on('SIGUSR2', () => {
  process.stdout.write(JSON.stringify({ connections, open, requests }) + '\n');
});
