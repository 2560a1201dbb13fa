#!/usr/bin/env node
// The better-sse side of the fan-out benchmark: one channel, plain node:http.
//   GET  /events   -> an SSE session registered on the channel
//   POST /publish  -> JSON body broadcast to the channel as event 'tick'; 202 {"delivered":k}
//   GET  /healthz  -> 200
// Usage: node bench/fanout/better-sse-server.js [--port 0] ; prints "listening <port>".
// Listens on 127.0.0.1 only.
import http from 'node:http';
import { createChannel, createSession } from 'better-sse';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('--port', '0'));
const host = '127.0.0.1';
const channel = createChannel();

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  try {
    if (req.method === 'GET' && path === '/events') {
      const session = await createSession(req, res);
      channel.register(session);
      return;
    }
    if (req.method === 'POST' && path === '/publish') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"body is not JSON"}');
        return;
      }
      channel.broadcast(body, 'tick');
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ delivered: channel.sessionCount }));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err));
  }
});

// Many concurrent connects: a deep backlog, no request or keep-alive timeouts on the streams.
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 60_000;
server.maxConnections = Infinity;
server.listen({ host, port, backlog: 4096 }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
