// Publishing many events fast: POST /api/events over keep-alive connections (node:http, one
// agent per publisher set), and a raw SSE reader for replays (no bus, no reconnect).
import http from 'node:http';

import { publisherKey } from './server.js';

// One keep-alive connection pool to a server. `post(body)` resolves to
// { status, body, error } and never rejects: a refused or cut connection is `error`.
export function publisherPool(server, { sockets = 8, key = publisherKey } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(server.url);
  function post(payload, path = '/api/events') {
    const body = JSON.stringify(payload);
    return new Promise((resolve) => {
      const req = http.request(
        {
          agent,
          hostname,
          port,
          path,
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            let parsed = null;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode, body: parsed, headers: res.headers, error: null });
          });
          res.on('error', (error) => resolve({ status: 0, body: null, error }));
        },
      );
      req.on('error', (error) => resolve({ status: 0, body: null, error }));
      req.setTimeout(30_000, () => req.destroy(new Error('publish timed out')));
      req.end(body);
    });
  }
  return { post, close: () => agent.destroy() };
}

// Publishes `count` events `{ event, data: { n } }` (n from `from`) with `concurrency`
// requests in flight; every one must get 202. Returns the acknowledged ids by n.
export async function publishMany(server, { event, from = 0, count, concurrency = 8 }) {
  const pool = publisherPool(server, { sockets: concurrency });
  const ids = new Array(count);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const r = await pool.post({ event, data: { n: from + i } });
          if (r.status !== 202) throw new Error(`publish ${from + i}: ${r.status} ${r.error?.message ?? JSON.stringify(r.body)}`);
          ids[i] = String(r.body.id);
        }
      }),
    );
  } finally {
    pool.close();
  }
  return ids;
}

// Reads GET /api/events as a raw SSE stream (after `lastEventId`, if given) until `done`
// says so for the events so far, or `timeoutMs` passes (then it rejects, naming `what`).
// Each event is { id, event, data }; data is parsed JSON.
export function readStream(server, { lastEventId, query = '', done, what = 'the stream', timeoutMs = 60_000 }) {
  const { hostname, port } = new URL(server.url);
  const events = [];
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req.destroy();
      if (error) reject(error);
      else resolve(events);
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out reading ${what}: ${events.length} events, the last ${JSON.stringify(events.at(-1))}`)),
      timeoutMs,
    );
    const headers = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    const req = http.get({ hostname, port, path: `/api/events${query}`, headers }, (res) => {
      if (res.statusCode !== 200) return finish(new Error(`${what}: status ${res.statusCode}`));
      res.setEncoding('utf8');
      let buffer = '';
      let current = {};
      res.on('data', (chunk) => {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (current.data !== undefined) {
              events.push({ id: current.id, event: current.event ?? 'message', data: JSON.parse(current.data) });
              if (done(events)) return finish();
            }
            current = {};
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
            else if (field === 'id' || field === 'event') current[field] = value;
          }
        }
      });
      res.on('end', () => finish(new Error(`${what}: the server ended the stream after ${events.length} events`)));
      res.on('error', (e) => finish(e));
    });
    req.on('error', (e) => finish(e));
  });
}

// Ids as numbers that keep every digit of a uint64.
export const big = (id) => BigInt(id);

// The first place where `ids` does not strictly increase, or -1.
export function firstDisorder(ids) {
  for (let i = 1; i < ids.length; i++) if (big(ids[i]) <= big(ids[i - 1])) return i;
  return -1;
}
