// EventBridge against scripted HTTP servers: every failure a stream can meet, the names
// and payloads it produces, shared connections and close().
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { EventSource } from 'eventsource';
import { createEventBus, EventBridge, wasmMemoryStats } from 'ssebus';

import { frame, open, scriptedServer, settle, waitFor } from '../support/sse-script.js';

const fast = { initialMs: 5, jitter: false }; // deterministic, short backoff
const frames = (...events) => events.map(frame).join('');

let bus;
let servers;
let bridges;
beforeEach(async () => {
  bus = await createEventBus();
  servers = [];
  bridges = [];
});
afterEach(async () => {
  for (const b of bridges) b.close();
  for (const s of servers) await s.close();
  if (!bus.destroyed) bus.destroy();
});

async function serve(handler) {
  const server = await scriptedServer(handler);
  servers.push(server);
  return server;
}

function bridge(options, target = bus) {
  const b = new EventBridge(target, { reconnect: fast, ...options });
  bridges.push(b);
  return b;
}

// Everything a bus sees: [name, payload, meta].
function record(target = bus) {
  const seen = [];
  target.on('*', (payload, meta) => seen.push([meta.name, payload, meta]));
  const names = () => seen.map((e) => e[0]);
  const of = (name) => seen.filter((e) => e[0] === name);
  return { seen, names, of };
}

describe('EventBridge: reconnects on every failure', () => {
  it('500 then 200: error, reconnecting, open, then the events', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(500).end('boom');
      open(res).write(frame({ id: '1', event: 'video:created', data: { videoId: 'v1' } }));
    });
    const r = record();
    const b = bridge({ url: server.url + '/api/events' });
    assert.equal(b.state, 'closed', 'a new bridge waits for connect()');
    b.connect();
    assert.equal(b.state, 'connecting');
    await waitFor(() => r.of('video_created').length === 1, 'the event');
    assert.deepEqual(r.names(), ['ssebus:error', 'ssebus:reconnecting', 'ssebus:open', 'video_created']);
    const [, error] = r.seen[0];
    assert.equal(error.status, 500);
    assert.equal(error.attempt, 1);
    assert.ok(error.error instanceof Error);
    assert.match(error.error.message, /HTTP 500/);
    const [, reconnecting] = r.seen[1];
    assert.equal(reconnecting.attempt, 1);
    assert.equal(reconnecting.delayMs, 5);
    assert.equal(typeof reconnecting.at, 'number');
    assert.deepEqual(r.seen[2][1], { url: server.url + '/api/events' });
    assert.equal(b.state, 'open');
    assert.equal(server.requests[0].headers.accept, 'text/event-stream');
  });

  it('204 No Content, where a native EventSource would give up for good', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(204).end();
      open(res).write(frame({ event: 'tick', data: 1 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('tick').length === 1, 'the event');
    assert.equal(r.of('ssebus:error')[0][1].status, 204);
    assert.equal(server.requests.length, 2);
  });

  it('a wrong Content-Type', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>login</h1>');
      open(res, { 'content-type': 'Text/Event-Stream; charset=utf-8' }).write(frame({ event: 'tick', data: 1 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('tick').length === 1, 'the event');
    const [[, error]] = r.of('ssebus:error');
    assert.equal(error.status, 200);
    assert.match(error.error.message, /Content-Type "text\/html", not text\/event-stream/);
  });

  it('a stream cut mid-event: the incomplete event is dropped, then resumed once with Last-Event-ID', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) {
        res.write(frame({ id: '1', event: 'n', data: 1 }));
        res.end('id: 2\nevent: n\ndata: 2'); // no blank line: never dispatched
      } else {
        res.write(frame({ id: '2', event: 'n', data: 2 }) + frame({ id: '3', event: 'n', data: 3 }));
      }
    });
    const r = record();
    const b = bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 3, 'three events');
    assert.deepEqual(
      r.of('n').map(([, p, m]) => [p, m.id]),
      [
        [1, '1'],
        [2, '2'],
        [3, '3'],
      ],
    );
    assert.deepEqual(
      server.requests.map((q) => q.headers['last-event-id']),
      [undefined, '1'],
    );
    assert.match(r.of('ssebus:error')[0][1].error.message, /ended the stream/);
    assert.equal(b.lastEventId, '3');
  });

  it('a silent connection is abandoned after heartbeatTimeoutMs and reopened', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) res.write(frame({ id: '7', event: 'n', data: 'first' })); // then silence
      else res.write(frame({ id: '8', event: 'n', data: 'second' }));
    });
    const r = record();
    bridge({ url: server.url, heartbeatTimeoutMs: 60 }).connect();
    await waitFor(() => r.of('n').length === 2, 'both events');
    assert.match(r.of('ssebus:error')[0][1].error.message, /no data .* for 60 ms/);
    await server.requests[0].closed;
    assert.equal(server.requests[0].aborted, true, 'the silent request was aborted');
    assert.equal(server.requests[1].headers['last-event-id'], '7');
  });

  it('comments keep a quiet connection alive', async () => {
    const server = await serve((req, res) => {
      open(res).write(': hello\n\n');
      const timer = setInterval(() => res.write(': ping\n\n'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const r = record();
    bridge({ url: server.url, heartbeatTimeoutMs: 250 }).connect();
    await settle(800);
    assert.deepEqual(r.names(), ['ssebus:open']);
    assert.equal(server.requests.length, 1);
  });

  it('honours the server’s retry: as the floor of the backoff', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return open(res).end('retry: 40\n: bye\n\n'); // opens, delivers nothing, ends
      if (n <= 2) return res.writeHead(503).end();
      open(res).write(frame({ id: '1', event: 'n', data: n }));
    });
    const r = record();
    bridge({ url: server.url, reconnect: { initialMs: 30, factor: 2, jitter: false } }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    // Ceilings 30, 60, 120; the floor of 40 lifts the first.
    assert.deepEqual(
      r.of('ssebus:reconnecting').map(([, p]) => [p.attempt, p.delayMs]),
      [
        [1, 40],
        [2, 60],
        [3, 120],
      ],
    );
    assert.deepEqual(
      r.of('ssebus:error').map(([, p]) => [p.attempt, p.status]),
      [
        [1, undefined],
        [2, 503],
        [3, 503],
      ],
    );
  });

  it('with jitter, every delay lies between the floor and the ceiling', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return open(res).end('retry: 15\n\n');
      if (n < 6) return res.writeHead(500).end();
      open(res).write(frame({ event: 'done', data: 1 }));
    });
    const r = record();
    bridge({ url: server.url, reconnect: { initialMs: 4, maxMs: 40, jitter: true } }).connect();
    await waitFor(() => r.of('done').length === 1, 'the event');
    const delays = r.of('ssebus:reconnecting').map(([, p]) => p);
    assert.equal(delays.length, 6);
    for (const { attempt, delayMs } of delays) {
      const ceiling = Math.min(40, 4 * 2 ** (attempt - 1));
      assert.ok(delayMs >= 15 && delayMs <= Math.max(15, ceiling), `${attempt}: ${delayMs}`);
    }
  });

  it('follows a redirect', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/old') return res.writeHead(307, { location: '/new' }).end();
      open(res).write(frame({ event: 'n', data: req.url }));
    });
    const r = record();
    bridge({ url: server.url + '/old' }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(r.of('n')[0][1], '/new');
    assert.deepEqual(r.names(), ['ssebus:open', 'n']);
  });

  it('a redirect loop is an error like any other, and gives up after maxAttempts', async () => {
    const server = await serve((req, res) => res.writeHead(302, { location: '/loop' }).end());
    const r = record();
    const b = bridge({ url: server.url + '/loop', reconnect: { ...fast, maxAttempts: 1 } }).connect();
    await waitFor(() => r.of('ssebus:closed').length === 1, 'the end');
    assert.deepEqual(r.names(), ['ssebus:error', 'ssebus:reconnecting', 'ssebus:error', 'ssebus:closed']);
    assert.ok(r.of('ssebus:error')[0][1].error instanceof Error);
    assert.equal(r.of('ssebus:closed')[0][1].reason, 'maxAttempts');
    assert.equal(b.state, 'closed');
    assert.ok(server.requests.length > 2, 'fetch followed the loop before failing');
  });

  it('a refused connection (nothing listening) is retried', async () => {
    const server = await serve(() => {});
    const url = server.url;
    await server.close();
    servers = [];
    const r = record();
    bridge({ url, reconnect: { ...fast, maxAttempts: 2 } }).connect();
    await waitFor(() => r.of('ssebus:closed').length === 1, 'the end');
    assert.deepEqual(
      r.of('ssebus:error').map(([, p]) => p.attempt),
      [1, 2, 3],
    );
    assert.deepEqual(
      r.of('ssebus:reconnecting').map(([, p]) => p.attempt),
      [1, 2],
    );
  });

  it('maxAttempts: closed, with the reason, after that many reconnects', async () => {
    const server = await serve((req, res) => res.writeHead(500).end());
    const r = record();
    const b = bridge({ url: server.url, reconnect: { ...fast, maxAttempts: 2 } }).connect();
    await waitFor(() => b.state === 'closed', 'the end');
    assert.equal(server.requests.length, 3);
    assert.deepEqual(r.names(), [
      'ssebus:error',
      'ssebus:reconnecting',
      'ssebus:error',
      'ssebus:reconnecting',
      'ssebus:error',
      'ssebus:closed',
    ]);
    const [[, closed]] = r.of('ssebus:closed');
    assert.equal(closed.reason, 'maxAttempts');
    assert.match(closed.error.message, /HTTP 500/);
    // connect() after giving up starts afresh.
    b.connect();
    await waitFor(() => server.requests.length === 4, 'a new request');
  });

  it('the attempt counter starts again after a connection delivers', async () => {
    const server = await serve((req, res, n) => {
      if (n === 1) return res.writeHead(500).end();
      open(res).end(frame({ id: String(n + 1), event: 'n', data: n }));
    });
    const r = record();
    bridge({ url: server.url, reconnect: { ...fast, maxAttempts: 2 } }).connect();
    await waitFor(() => r.of('n').length === 4, 'four events');
    // Each run that delivered resets the count: the 500 is only the 2nd failure in a row.
    assert.deepEqual(
      r.of('ssebus:error').slice(0, 4).map(([, p]) => p.attempt),
      [1, 2, 1, 1],
    );
    assert.equal(r.of('ssebus:closed').length, 0);
  });
});

describe('EventBridge: ids', () => {
  it('drops an event whose numeric id was delivered already', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frame({ id: '9', event: 'n', data: 9 }) + frame({ id: '10', event: 'n', data: 10 }));
      // A replay that overlaps what was delivered.
      res.write(['9', '10', '11', '12'].map((id) => frame({ id, event: 'n', data: Number(id) })).join(''));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length >= 4, 'four events');
    await settle();
    assert.deepEqual(
      r.of('n').map(([, p]) => p),
      [9, 10, 11, 12],
    );
    assert.equal(server.requests[1].headers['last-event-id'], '10', 'compared as numbers, 10 > 9');
  });

  it('other ids are duplicates when equal to the last one', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frames({ id: 'a', event: 'n', data: 'a' }, { id: 'b', event: 'n', data: 'b' }));
      res.write(frame({ id: 'b', event: 'n', data: 'b' }) + frame({ id: 'c', event: 'n', data: 'c' }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length >= 3, 'three events');
    await settle();
    assert.deepEqual(
      r.of('n').map(([, p]) => p),
      ['a', 'b', 'c'],
    );
  });

  it('events without an id of their own are never taken for duplicates', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frame({ id: '5', event: 'n', data: 1 }) + frame({ event: 'n', data: 2 }));
      res.write(frame({ event: 'n', data: 3 }) + frame({ event: 'n', data: 4 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 4, 'four events');
    assert.deepEqual(
      r.of('n').map(([, p, m]) => [p, m.id]),
      [
        [1, '5'],
        [2, '5'], // the last event id, as EventSource reports it
        [3, ''],
        [4, ''],
      ],
    );
    assert.equal(server.requests[1].headers['last-event-id'], '5');
  });

  it('an id on a block without data moves the resume point', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frame({ id: '1', event: 'n', data: 1 }) + 'id: 4\n\n');
      res.write(frame({ id: '5', event: 'n', data: 5 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 2, 'two events');
    assert.equal(server.requests[1].headers['last-event-id'], '4');
  });

  it('regression: after ssebus:gap, smaller ids than the resume id are delivered, not dropped', async () => {
    // A server that never issued the id the bridge resumes from (another server's, or a run
    // whose clock was ahead) reports a gap, then sends smaller ids: they used to be dropped
    // as duplicates until they passed the old id.
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frame({ id: '9000', event: 'n', data: 0 }));
      if (n === 1)
        return res.end(
          frames(
            { event: 'ssebus:gap', data: { requested: 9000, earliest: 120 } },
            { id: '120', event: 'n', data: 1 },
            { id: '121', event: 'n', data: 2 },
          ),
        );
      res.write(frame({ id: '122', event: 'n', data: 3 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length >= 4, 'four events');
    await settle();
    assert.deepEqual(
      r.of('n').map(([, p]) => p),
      [0, 1, 2, 3],
    );
    assert.equal(r.of('ssebus:gap').length, 1);
    assert.equal(server.requests[1].headers['last-event-id'], '9000');
    assert.equal(server.requests[2].headers['last-event-id'], '121', 'resumes from the ids after the gap');
  });

  it('a gap with no usable earliest id starts the duplicate check over', async () => {
    const server = await serve((req, res, n) => {
      open(res);
      if (n === 0) return res.end(frame({ id: '50', event: 'n', data: 0 }));
      res.write(frames({ event: 'ssebus:gap', data: { requested: 50 } }, { id: '7', event: 'n', data: 1 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length >= 2, 'two events');
    assert.deepEqual(
      r.of('n').map(([, p]) => p),
      [0, 1],
    );
  });

  it('the lastEventId option resumes the first connection', async () => {
    const server = await serve((req, res) => open(res).write(frame({ id: '43', event: 'n', data: 1 })));
    const r = record();
    bridge({ url: server.url, lastEventId: '42' }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(server.requests[0].headers['last-event-id'], '42');
  });
});

describe('EventBridge: names, payloads and meta', () => {
  it('translates ":" to "_", and maps one server event to several bus events', async () => {
    const server = await serve((req, res) =>
      open(res).write(
        frame({ id: '1', event: 'video:created', data: { videoId: 'v1' } }) +
          frame({ id: '2', event: 'video:status:ready', data: { videoId: 'v1' } }) +
          frame({ id: '3', event: 'video:updated', data: { videoId: 'v1' } }) +
          frame({ id: '4', event: 'plain', data: { n: 4 } }),
      ),
    );
    const r = record();
    bridge({
      url: server.url,
      map: { 'video:created': ['video_created', 'refresh:list:view'], 'video:updated': 'video_changed' },
    }).connect();
    await waitFor(() => r.of('plain').length === 1, 'the last event');
    assert.deepEqual(r.names(), [
      'ssebus:open',
      'video_created',
      'refresh:list:view',
      'video_status_ready',
      'video_changed',
      'plain',
    ]);
    const [, p1, m1] = r.seen[1];
    const [, p2, m2] = r.seen[2];
    assert.equal(p1, p2, 'one payload object for every bus event of one server event');
    assert.deepEqual(p1, { videoId: 'v1' });
    assert.deepEqual(
      { ...m1, receivedAt: 0 },
      { name: 'video_created', id: '1', serverEvent: 'video:created', receivedAt: 0 },
    );
    assert.equal(m2.name, 'refresh:list:view');
    assert.equal(typeof m1.receivedAt, 'number');
    assert.ok(Math.abs(m1.receivedAt - Date.now()) < 60_000);
  });

  it('a translate function replaces the default rule; null drops the event', async () => {
    const server = await serve((req, res) =>
      open(res).write(frame({ event: 'secret:x', data: 1 }) + frame({ event: 'a:b', data: 2 })),
    );
    const r = record();
    const translate = (name) => (name.startsWith('secret:') ? null : name.toUpperCase());
    bridge({ url: server.url, translate }).connect();
    await waitFor(() => r.of('A:B').length === 1, 'the event');
    assert.deepEqual(r.names(), ['ssebus:open', 'A:B']);
  });

  // {type, data, timestamp} and {id, type, message, data, timestamp, stream_id}
  it('an unnamed event whose JSON has a string type is an envelope', async () => {
    const envelopes = [
      { type: 'video:created', data: { videoId: 'v1' }, timestamp: 1 },
      { id: 'e2', type: 'system:status', message: 'ok', data: { load: 0.5 }, timestamp: 2, stream_id: 'system' },
      { type: 'user:login', user: 'ann' }, // no data: the whole object is the payload
      { kind: 'not an envelope' },
      ['also', 'not'],
      { type: 42, data: 'a type that is not a string' },
    ];
    const server = await serve((req, res) => open(res).write(envelopes.map((data) => frame({ data })).join('')));
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.seen.length === 1 + envelopes.length, 'every event');
    assert.deepEqual(
      r.seen.slice(1).map(([name, payload, meta]) => [name, payload, meta.serverEvent]),
      [
        ['video_created', { videoId: 'v1' }, 'video:created'],
        ['system_status', { load: 0.5 }, 'system:status'],
        ['user_login', { type: 'user:login', user: 'ann' }, 'user:login'],
        ['message', { kind: 'not an envelope' }, 'message'],
        ['message', ['also', 'not'], 'message'],
        ['message', { type: 42, data: 'a type that is not a string' }, 'message'],
      ],
    );
  });

  it('data that is not JSON arrives as the string, and nothing throws', async () => {
    const server = await serve((req, res) =>
      open(res).write(
        frame({ event: 'n', data: 'hello world' }) +
          frame({ event: 'n', data: '{broken' }) +
          frame({ event: 'n', data: 'true' }) +
          frame({ event: 'n', data: 'trueish' }) +
          frame({ event: 'n', data: '12' }) +
          frame({ event: 'n', data: 'line 1\nline 2' }) +
          frame({ event: 'n', data: '' }) +
          frame({ event: 'n', data: '\uFEFFbom and ünïcödé ✓' }),
      ),
    );
    const r = record();
    const errors = [];
    bus.onError = (e) => errors.push(e);
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 8, 'every event');
    assert.deepEqual(
      r.of('n').map(([, p]) => p),
      ['hello world', '{broken', true, 'trueish', 12, 'line 1\nline 2', '', '\uFEFFbom and ünïcödé ✓'],
    );
    assert.deepEqual(r.of('ssebus:error'), []);
    assert.deepEqual(errors, []);
  });

  it('a named ssebus:gap from the server is emitted as ssebus:gap', async () => {
    const server = await serve((req, res) =>
      open(res).write(
        frames({ event: 'ssebus:gap', data: { requested: 3, earliest: 10 } }, { id: '10', event: 'n', data: 1 }),
      ),
    );
    const gaps = [];
    bus.on('ssebus:gap', (p, m) => gaps.push([p, m.serverEvent]));
    const r = record();
    bridge({ url: server.url, lastEventId: '3' }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.deepEqual(gaps, [[{ requested: 3, earliest: 10 }, 'ssebus:gap']]);
    assert.equal(r.of('ssebus_gap').length, 0);
  });

  it('status events are ordinary bus events: ssebus:* patterns see them', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(500).end();
      open(res);
    });
    const status = [];
    bus.on('ssebus:*', (p, m) => status.push(m.name));
    const b = bridge({ url: server.url }).connect();
    await waitFor(() => status.includes('ssebus:open'), 'open');
    b.close();
    assert.deepEqual(status, ['ssebus:error', 'ssebus:reconnecting', 'ssebus:open', 'ssebus:closed']);
  });

  it('a 5 MB event, split across many chunks', async () => {
    const big = 'x'.repeat(5 * 1024 * 1024);
    const server = await serve((req, res) => {
      open(res);
      const wire = frame({ id: '1', event: 'big', data: { big } }) + frame({ id: '2', event: 'after', data: 2 });
      for (let i = 0; i < wire.length; i += 100_000) res.write(wire.slice(i, i + 100_000));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('after').length === 1, 'both events', 20_000);
    assert.equal(r.of('big')[0][1].big.length, big.length);
    assert.equal(r.of('big')[0][1].big, big);
  });

  it('a listener that throws does not stop the stream', async () => {
    const server = await serve((req, res) => open(res).write(frames({ event: 'n', data: 1 }, { event: 'n', data: 2 })));
    const errors = [];
    bus.onError = (e) => errors.push(e.message);
    const seen = [];
    bus.on('n', (p) => {
      seen.push(p);
      throw new Error(`listener ${p}`);
    });
    bridge({ url: server.url }).connect();
    await waitFor(() => seen.length === 2, 'both events');
    assert.deepEqual(errors, ['listener 1', 'listener 2']);
  });

  it('works with any object that has emit(), e.g. a mitt-style emitter', async () => {
    const server = await serve((req, res) => open(res).write(frame({ id: '1', event: 'a:b', data: { x: 1 } })));
    const calls = [];
    const emitter = { emit: (name, payload, meta) => calls.push([name, payload, meta?.id]) };
    bridge({ url: server.url }, emitter).connect();
    await waitFor(() => calls.length === 2, 'the event');
    assert.deepEqual(calls[1], ['a_b', { x: 1 }, '1']);
  });
});

describe('EventBridge: one connection per URL', () => {
  it('two bridges on two buses share one request; the last close() ends it', async () => {
    let live;
    const server = await serve((req, res) => {
      live = open(res);
      res.write(frame({ id: '1', event: 'video:created', data: { v: 1 } }));
    });
    const other = await createEventBus();
    try {
      const r1 = record();
      const r2 = record(other);
      const a = bridge({ url: server.url }).connect();
      const b = bridge({ url: server.url, map: { 'video:created': 'fresh' } }, other).connect();
      await waitFor(() => r1.of('video_created').length === 1 && r2.of('fresh').length === 1, 'both buses');
      assert.equal(server.requests.length, 1, 'one request for both bridges');
      assert.equal(r2.of('ssebus:open').length, 1, 'the second bridge hears open too');

      a.close();
      assert.equal(a.state, 'closed');
      assert.equal(b.state, 'open');
      live.write(frame({ id: '2', event: 'video:created', data: { v: 2 } }));
      await waitFor(() => r2.of('fresh').length === 2, 'the second event');
      assert.equal(r1.of('video_created').length, 1, 'nothing after close()');
      assert.equal(server.requests[0].aborted, false);

      b.close();
      await server.requests[0].closed;
      assert.equal(server.requests[0].aborted, true, 'the last close() aborted the request');
      assert.equal(server.requests.length, 1);
      assert.deepEqual(
        r2.of('ssebus:closed').map(([, p]) => p.reason),
        ['close'],
      );
    } finally {
      other.destroy();
    }
  });

  it('different headers or credentials mean different connections', async () => {
    const server = await serve((req, res) => open(res));
    bridge({ url: server.url }).connect();
    bridge({ url: server.url, headers: { Authorization: 'Bearer a' } }).connect();
    bridge({ url: server.url, headers: { authorization: 'Bearer a' } }).connect(); // same as the one before
    bridge({ url: server.url, withCredentials: true }).connect();
    await waitFor(() => server.requests.length === 3, 'three requests');
    await settle();
    assert.equal(server.requests.length, 3);
    assert.deepEqual(server.requests.map((q) => q.headers.authorization).sort(), ['Bearer a', undefined, undefined]);
  });

  it('connect() is idempotent, and close() then connect() resumes from the last id', async () => {
    const server = await serve((req, res, n) => open(res).write(frame({ id: String(n + 1), event: 'n', data: n })));
    const r = record();
    const b = bridge({ url: server.url });
    assert.equal(b.connect(), b);
    b.connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(server.requests.length, 1);
    b.close();
    b.close();
    b.connect();
    await waitFor(() => r.of('n').length === 2, 'the second event');
    assert.equal(server.requests[1].headers['last-event-id'], '1');
  });
});

describe('EventBridge: close()', () => {
  it('stops at once: the server sees the request aborted, nothing arrives after', async () => {
    let live;
    const server = await serve((req, res) => {
      live = open(res);
      res.write(frame({ id: '1', event: 'n', data: 1 }));
    });
    const r = record();
    const b = bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    b.close();
    assert.equal(b.state, 'closed');
    live.write(frame({ id: '2', event: 'n', data: 2 }));
    await server.requests[0].closed;
    assert.equal(server.requests[0].aborted, true);
    await settle();
    assert.deepEqual(r.names(), ['ssebus:open', 'n', 'ssebus:closed']);
    assert.deepEqual(r.of('ssebus:closed')[0][1], { url: b.url, reason: 'close' });
  });

  it('from inside a listener: the rest of the chunk being parsed is not delivered', async () => {
    const server = await serve((req, res) =>
      open(res).write([1, 2, 3].map((n) => frame({ id: String(n), event: 'n', data: n })).join('')),
    );
    const other = await createEventBus();
    try {
      const seen = [];
      const seenOther = [];
      const b = bridge({ url: server.url });
      bridge({ url: server.url }, other).connect();
      other.on('n', (p) => seenOther.push(p));
      bus.on('n', (p) => {
        seen.push(p);
        b.close();
      });
      b.connect();
      await waitFor(() => seenOther.length === 3, 'the other bridge');
      assert.deepEqual(seen, [1]);
      assert.deepEqual(seenOther, [1, 2, 3], 'the bridge still attached got the whole chunk');
    } finally {
      other.destroy();
    }
  });

  it('from inside a listener, as the last bridge: the connection ends mid-chunk', async () => {
    const server = await serve((req, res) =>
      open(res).write([1, 2, 3].map((n) => frame({ id: String(n), event: 'n', data: n })).join('')),
    );
    const seen = [];
    const b = bridge({ url: server.url });
    bus.on('n', (p) => {
      seen.push(p);
      b.close();
    });
    b.connect();
    await waitFor(() => seen.length === 1, 'the first event');
    await server.requests[0].closed;
    await settle();
    assert.deepEqual(seen, [1]);
    assert.equal(b.lastEventId, '1', 'it resumes after the last event delivered, not the last parsed');
  });

  it('during the backoff: no request is made afterwards', async () => {
    const server = await serve((req, res) => res.writeHead(500).end());
    const b = bridge({ url: server.url, reconnect: { initialMs: 50, jitter: false } });
    bus.on('ssebus:reconnecting', () => b.close());
    b.connect();
    await waitFor(() => b.state === 'closed', 'closed');
    await settle(150);
    assert.equal(server.requests.length, 1);
  });

  it('a destroyed bus detaches its bridge', async () => {
    let live;
    const server = await serve((req, res) => {
      live = open(res);
      res.write(frame({ event: 'n', data: 1 }));
    });
    const own = await createEventBus();
    const seen = [];
    own.on('n', (p) => seen.push(p));
    const b = bridge({ url: server.url }, own).connect();
    await waitFor(() => seen.length === 1, 'the event');
    own.destroy();
    live.write(frame({ event: 'n', data: 2 }));
    await server.requests[0].closed;
    assert.equal(b.state, 'closed');
    assert.throws(() => b.connect(), /connect\(\) on a destroyed bus/);
  });
});

describe('EventBridge: pauseWhenHidden', () => {
  let saved;
  beforeEach(() => {
    saved = Object.getOwnPropertyDescriptor(globalThis, 'document');
    const doc = new EventTarget();
    doc.visibilityState = 'visible';
    globalThis.document = doc;
  });
  afterEach(() => {
    if (saved) Object.defineProperty(globalThis, 'document', saved);
    else delete globalThis.document;
  });

  function setVisibility(state) {
    globalThis.document.visibilityState = state;
    globalThis.document.dispatchEvent(new Event('visibilitychange'));
  }

  it('disconnects while hidden and resumes from the last id when visible', async () => {
    const server = await serve((req, res, n) => open(res).write(frame({ id: String(n + 1), event: 'n', data: n })));
    const r = record();
    const b = bridge({ url: server.url, pauseWhenHidden: true }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    setVisibility('hidden');
    assert.equal(b.state, 'closed');
    await server.requests[0].closed;
    assert.equal(server.requests[0].aborted, true);
    assert.deepEqual(r.of('ssebus:closed')[0][1], { url: b.url, reason: 'hidden' });
    setVisibility('visible');
    await waitFor(() => r.of('n').length === 2, 'the event after the pause');
    assert.equal(server.requests[1].headers['last-event-id'], '1');
    assert.equal(b.state, 'open');
  });

  it('is off by default, and a connection pauses only when every bridge on it asks', async () => {
    const server = await serve((req, res) => open(res));
    const r = record();
    bridge({ url: server.url }).connect();
    const pausing = bridge({ url: server.url, pauseWhenHidden: true }).connect();
    await waitFor(() => pausing.state === 'open', 'open');
    setVisibility('hidden');
    await settle();
    assert.equal(pausing.state, 'open');
    assert.equal(server.requests[0].aborted, false);
  });

  it('a bridge connected while the page is hidden waits for it to be visible', async () => {
    const server = await serve((req, res) => open(res));
    globalThis.document.visibilityState = 'hidden';
    const b = bridge({ url: server.url, pauseWhenHidden: true }).connect();
    await settle();
    assert.equal(server.requests.length, 0);
    assert.equal(b.state, 'closed');
    setVisibility('visible');
    await waitFor(() => b.state === 'open', 'open');
  });
});

describe('EventBridge: transport "eventsource"', () => {
  it('uses the EventSource it is given, and resumes with ?lastEventId=', async () => {
    const server = await serve((req, res, n) => {
      if (n === 1) return res.writeHead(500).end(); // where EventSource gives up
      open(res);
      if (n === 0) {
        return res.end(
          frame({ id: '5', event: 'video:created', data: { v: 5 } }) +
            frame({ id: '6', event: 'not:listened', data: 6 }) +
            frame({ id: '7', data: { type: 'user:login', data: { u: 'ann' } } }),
        );
      }
      res.write(frames({ id: '7', event: 'video:created', data: { v: 7 } }, { id: '8', event: 'x:y', data: { v: 8 } }));
    });
    const r = record();
    const b = bridge({
      url: server.url + '/api/events?streams=a',
      transport: 'eventsource',
      EventSource,
      map: { 'video:created': ['video_created', 'refresh'] },
      events: ['x:y'],
    }).connect();
    await waitFor(() => r.of('x_y').length === 1, 'the last event');
    assert.deepEqual(
      r.seen.filter(([name]) => !name.startsWith('ssebus:')).map(([name, payload, meta]) => [name, payload, meta.id]),
      [
        ['video_created', { v: 5 }, '5'],
        ['refresh', { v: 5 }, '5'],
        ['user_login', { u: 'ann' }, '7'],
        ['x_y', { v: 8 }, '8'], // 7 again was a duplicate
      ],
    );
    assert.deepEqual(
      server.requests.map((q) => q.url),
      ['/api/events?streams=a', '/api/events?streams=a&lastEventId=7', '/api/events?streams=a&lastEventId=7'],
    );
    assert.equal(r.of('ssebus:error')[1][1].status, 500);
    assert.equal(b.state, 'open');
    b.close();
    await server.requests[2].closed;
    assert.equal(server.requests[2].aborted, true);
  });

  it('a bridge joining an open EventSource adds the names it listens to', async () => {
    let res0;
    const server = await serve((req, res) => {
      res0 = open(res);
      res.write(frame({ id: '1', event: 'a:b', data: 1 }));
    });
    const first = record();
    bridge({ url: server.url, transport: 'eventsource', EventSource, events: ['a:b'] }).connect();
    await waitFor(() => first.of('a_b').length === 1, 'the first event');
    const other = await createEventBus();
    try {
      const second = record(other);
      const b = bridge({ url: server.url, transport: 'eventsource', EventSource, events: ['c:d'] }, other).connect();
      await waitFor(() => second.of('ssebus:open').length === 1, 'the second bridge to hear open');
      assert.equal(b.state, 'open');
      res0.write(frame({ id: '2', event: 'c:d', data: 2 }));
      await waitFor(() => second.of('c_d').length === 1, 'the name only the second bridge listens to');
      assert.equal(server.requests.length, 1, 'one EventSource');
    } finally {
      for (const b of bridges) b.close();
      other.destroy();
    }
  });

  it('without an EventSource in the environment, connect() says what to do', () => {
    const b = bridge({ url: 'http://127.0.0.1:9/', transport: 'eventsource' });
    assert.throws(() => b.connect(), { name: 'TypeError', message: /no EventSource; pass one as options.EventSource/ });
  });
});

describe('EventBridge: reconnect()', () => {
  const slow = { initialMs: 60_000, jitter: false }; // a wait no test sits out

  it('regression: retries now and resets the backoff instead of waiting at the cap', async () => {
    const server = await serve((req, res, n) => {
      if (n < 2) return res.writeHead(500).end();
      open(res).write(frame({ id: '1', event: 'n', data: 1 }));
    });
    const r = record();
    const b = bridge({ url: server.url, reconnect: slow }).connect();
    await waitFor(() => r.of('ssebus:reconnecting').length === 1, 'the first wait');
    assert.equal(r.of('ssebus:reconnecting')[0][1].delayMs, 60_000);
    assert.equal(b.reconnect(), b, 'chains like connect()');
    await waitFor(() => r.of('ssebus:error').length === 2, 'the second attempt, at once');
    // The backoff started over: attempt 1 again, not attempt 2 with twice the delay.
    assert.deepEqual(
      r.of('ssebus:error').map(([, p]) => p.attempt),
      [1, 1],
    );
    assert.deepEqual(
      r.of('ssebus:reconnecting').map(([, p]) => [p.attempt, p.delayMs]),
      [
        [1, 60_000],
        [0, 0],
        [1, 60_000],
      ],
    );
    b.reconnect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(b.state, 'open');
    assert.equal(server.requests.length, 3);
  });

  it('on an open stream: a new request, resuming from the last id, with fresh headers', async () => {
    let token = 'a';
    const server = await serve((req, res, n) => open(res).write(frame({ id: String(n + 1), event: 'n', data: n })));
    const r = record();
    const b = bridge({ url: server.url, headers: () => ({ authorization: `Bearer ${token}` }) }).connect();
    await waitFor(() => r.of('n').length === 1, 'the first event');
    token = 'b';
    b.reconnect();
    await waitFor(() => r.of('n').length === 2, 'the second event');
    await server.requests[0].closed;
    assert.equal(server.requests[0].aborted, true, 'the old request was ended');
    assert.deepEqual(
      server.requests.map((q) => [q.headers.authorization, q.headers['last-event-id']]),
      [
        ['Bearer a', undefined],
        ['Bearer b', '1'],
      ],
    );
  });

  it('on a closed bridge, connects; after maxAttempts, starts again', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(503).end();
      open(res).write(frame({ event: 'n', data: n }));
    });
    const r = record();
    const b = bridge({ url: server.url, reconnect: { ...fast, maxAttempts: 0 } }).connect();
    await waitFor(() => r.of('ssebus:closed').length === 1, 'giving up');
    assert.equal(r.of('ssebus:closed')[0][1].reason, 'maxAttempts');
    assert.equal(b.state, 'closed');
    b.reconnect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(b.state, 'open');
  });
});

describe('EventBridge: headers as a function, HTTP status and auth errors', () => {
  it('is called before every attempt, so a token can be refreshed; 401 is an auth error', async () => {
    const server = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer fresh') return res.writeHead(401).end('{"error":"expired"}');
      open(res).write(frame({ event: 'n', data: 1 }));
    });
    const r = record();
    const calls = [];
    bridge({
      url: server.url,
      headers: () => {
        calls.push(calls.length);
        return { Authorization: calls.length === 1 ? 'Bearer stale' : 'Bearer fresh' };
      },
    }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(calls.length, 2);
    const [, error] = r.of('ssebus:error')[0];
    assert.equal(error.status, 401);
    assert.equal(error.auth, true);
    assert.equal(error.attempt, 1);
    assert.equal(error.url, server.url + '/');
    assert.ok(error.error instanceof Error);
    assert.match(error.message, /HTTP 401/);
  });

  it('may be async', async () => {
    const server = await serve((req, res) => open(res).write(frame({ event: 'n', data: req.headers['x-token'] })));
    const r = record();
    bridge({ url: server.url, headers: async () => ({ 'X-Token': await Promise.resolve('t1') }) }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(r.of('n')[0][1], 't1');
  });

  it('403 is an auth error too; 500 is not', async () => {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(403).end();
      if (n === 1) return res.writeHead(500).end();
      open(res).write(frame({ event: 'n', data: 1 }));
    });
    const r = record();
    bridge({ url: server.url }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.deepEqual(
      r.of('ssebus:error').map(([, p]) => [p.status, p.auth]),
      [
        [403, true],
        [500, undefined],
      ],
    );
  });

  it('a headers function that throws, rejects or returns a wrong value: an error, then retried', async () => {
    const server = await serve((req, res) => open(res).write(frame({ event: 'n', data: req.headers.a })));
    const r = record();
    let call = 0;
    bridge({
      url: server.url,
      headers: () => {
        call++;
        if (call === 1) throw new Error('no token yet');
        if (call === 2) return Promise.reject(new Error('refresh failed'));
        if (call === 3) return { a: 1 };
        return { a: 'ok' };
      },
    }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.equal(r.of('n')[0][1], 'ok');
    assert.equal(server.requests.length, 1, 'no request without headers');
    const messages = r.of('ssebus:error').map(([, p]) => p.message);
    assert.equal(messages[0], 'no token yet');
    assert.equal(messages[1], 'refresh failed');
    assert.match(messages[2], /headers\(\)\["a"\] must be a string, got 1/);
    assert.equal(r.of('ssebus:error')[0][1].status, undefined);
  });

  it('a headers function that never settles is given up after heartbeatTimeoutMs, and called again', async () => {
    const server = await serve((req, res) => open(res).write(frame({ event: 'n', data: 1 })));
    const r = record();
    let call = 0;
    bridge({
      url: server.url,
      heartbeatTimeoutMs: 50,
      headers: () => (++call === 1 ? new Promise(() => {}) : { a: 'b' }),
    }).connect();
    await waitFor(() => r.of('n').length === 1, 'the event');
    assert.match(r.of('ssebus:error')[0][1].message, /no data from .* for 50 ms/);
    assert.equal(server.requests[0].headers.a, 'b', 'the first request came from the second call');
  });

  it('bridges with the same headers function share a connection; another function is another one', async () => {
    const server = await serve((req, res) => open(res));
    const h1 = () => ({ a: '1' });
    const a = bridge({ url: server.url, headers: h1 }).connect();
    const b = bridge({ url: server.url, headers: h1 }).connect();
    await waitFor(() => a.state === 'open' && b.state === 'open', 'open');
    assert.equal(server.requests.length, 1);
    const c = bridge({ url: server.url, headers: () => ({ a: '1' }) }).connect();
    await waitFor(() => c.state === 'open', 'open');
    assert.equal(server.requests.length, 2);
  });
});

describe('EventBridge: debug', () => {
  let lines;
  let realDebug;
  let savedDEBUG;
  beforeEach(() => {
    lines = [];
    realDebug = console.debug;
    savedDEBUG = process.env.DEBUG;
    delete process.env.DEBUG;
    console.debug = (...args) => lines.push(args);
  });
  afterEach(() => {
    console.debug = realDebug;
    if (savedDEBUG === undefined) delete process.env.DEBUG;
    else process.env.DEBUG = savedDEBUG;
  });
  // What console.debug would print: its format filled in with the arguments.
  const printed = () => lines.map(([format, ...args]) => format.replace(/%[sd]/g, () => String(args.shift())));

  async function failThenDuplicate(options) {
    const server = await serve((req, res, n) => {
      if (n === 0) return res.writeHead(401).end();
      open(res);
      if (n === 1) return res.end(frame({ id: '1', event: 'n', data: 1 }));
      res.write(frame({ id: '1', event: 'n', data: 1 }) + frame({ id: '2', event: 'n', data: 2 }));
    });
    const r = record();
    bridge({ url: server.url, ...options }).connect();
    await waitFor(() => r.of('n').length === 2, 'two events');
    return server;
  }

  it('debug: true names the state changes, attempts, HTTP status, reconnect delay and duplicate drop', async () => {
    const server = await failThenDuplicate({ debug: true });
    const out = printed();
    const url = server.url + '/';
    assert.ok(out.every((line) => line.startsWith(`ssebus:bridge ${url} `)), out.join('\n'));
    const has = (re) => assert.ok(out.some((line) => re.test(line)), `${re} in\n${out.join('\n')}`);
    has(/attempt 1: connecting$/);
    has(/attempt 1 failed with HTTP 401 \(auth\): .*HTTP 401/);
    has(/reconnecting in 5 ms \(attempt 2/);
    has(/state connecting -> open/);
    has(/state open -> connecting/);
    has(/attempt 2: connecting after id 1$/);
    has(/dropped a duplicate: id 1, after 1 was delivered/);
  });

  it('logs gaps', async () => {
    const server = await serve((req, res) =>
      open(res).write(frame({ id: '50', event: 'ssebus:gap', data: { requested: 3, earliest: 50 } })),
    );
    const r = record();
    bridge({ url: server.url, debug: true, lastEventId: '3' }).connect();
    await waitFor(() => r.of('ssebus:gap').length === 1, 'the gap');
    assert.ok(printed().some((line) => /gap: \{"requested":3,"earliest":50\}/.test(line)), printed().join('\n'));
  });

  it('off: not one console.debug call', async () => {
    await failThenDuplicate({});
    assert.deepEqual(lines, []);
  });

  it('DEBUG=ssebus:* turns it on in Node, read at connect time; -ssebus:bridge turns it off', async () => {
    process.env.DEBUG = 'other,ssebus:*';
    await failThenDuplicate({});
    assert.ok(printed().some((line) => /reconnecting in 5 ms/.test(line)));
    lines.length = 0;
    process.env.DEBUG = 'ssebus:*,-ssebus:bridge';
    await failThenDuplicate({});
    assert.deepEqual(lines, []);
  });

  it('DEBUG=ssebus:* in the environment of a Node process', async () => {
    const script = `
      import { createEventBus, EventBridge } from 'ssebus';
      const bus = await createEventBus();
      const closed = new Promise((resolve) => bus.on('ssebus:closed', resolve));
      new EventBridge(bus, { url: 'http://127.0.0.1:9/', reconnect: { maxAttempts: 0 } }).connect();
      await closed;`;
    const cwd = fileURLToPath(new URL('../../', import.meta.url));
    const run = (DEBUG) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        cwd,
        env: { ...process.env, DEBUG },
      });
    const on = await run('ssebus:*');
    assert.match(on.stdout, /^ssebus:bridge http:\/\/127\.0\.0\.1:9\/ attempt 1: connecting$/m);
    assert.match(on.stdout, /giving up after 0 attempts/);
    const off = await run('');
    assert.equal(off.stdout, '');
  });

  it('one bridge with debug: true turns it on for a connection it joins', async () => {
    const server = await serve((req, res) => open(res));
    const a = bridge({ url: server.url }).connect();
    await waitFor(() => a.state === 'open', 'open');
    assert.deepEqual(lines, []);
    bridge({ url: server.url, debug: true }).connect();
    a.reconnect();
    await waitFor(() => a.state === 'open', 'open again');
    assert.ok(printed().some((line) => /reconnect\(\): retrying now/.test(line)));
  });
});

describe('EventBridge: construction errors', () => {
  const url = 'http://127.0.0.1:9/api/events';
  const cases = [
    [[null, { url }], /takes a bus \(from createEventBus\(\)\) as its first argument, got null/],
    [['bus', { url }], /takes a bus .*, got "bus"/],
    [[{}, { url }], /takes a bus/],
    [[undefined], /takes a bus/],
    [['BUS', undefined], /takes a bus/],
    [['OK', undefined], /options\.url|got options undefined/],
    [['OK', {}], /options\.url is required/],
    [['OK', { url: 42 }], /url must be a string or a URL, got 42/],
    [['OK', { url: '/api/events' }], /url "\/api\/events" is not a valid URL; without a page .* pass an absolute URL/],
    [['OK', { url: 'ftp://example.com/' }], /url must be an http: or https: URL/],
    [['OK', { url, transport: 'ws' }], /transport must be "fetch" or "eventsource", got "ws"/],
    [['OK', { url, reconnect: { factor: 'x' } }], /^ssebus: EventBridge: reconnect.factor must be a number >= 1, got "x"$/],
    [['OK', { url, reconnect: { factor: 0.5 } }], /reconnect\.factor must be a number >= 1, got 0\.5/],
    [['OK', { url, reconnect: { initialMs: -1 } }], /reconnect\.initialMs must be a number of milliseconds/],
    [['OK', { url, reconnect: { initialMs: 100, maxMs: 10 } }], /maxMs .* >= reconnect.initialMs \(100\), got 10/],
    [['OK', { url, reconnect: { maxAttempts: 1.5 } }], /maxAttempts must be a whole number >= 0, or Infinity, got 1.5/],
    [['OK', { url, reconnect: { jitter: 'yes' } }], /reconnect\.jitter must be true or false, got "yes"/],
    [['OK', { url, reconnect: { retries: 3 } }], /unknown option reconnect\.retries; reconnect takes initialMs, maxMs/],
    [['OK', { url, reconnect: 5 }], /reconnect must be an object/],
    [['OK', { url, reconect: {} }], /unknown option "reconect"; the options are url, transport/],
    [['OK', { url, map: [] }], /map must be an object of server event name -> bus event name\(s\), got an array/],
    [['OK', { url, map: { 'a:b': 1 } }], /map\["a:b"\] must be a bus event name or a non-empty array of them, got 1/],
    [['OK', { url, map: { 'a:b': [] } }], /map\["a:b"\] must be a bus event name or a non-empty array/],
    [['OK', { url, map: { 'a:b': [''] } }], /map\["a:b"\] must hold non-empty strings/],
    [['OK', { url, map: { 'a:b': 'a:*' } }], /"a:\*" is a pattern; map to concrete bus event names/],
    [['OK', { url, translate: 'x' }], /translate must be a function/],
    [['OK', { url, heartbeatTimeoutMs: -1 }], /heartbeatTimeoutMs must be a number of milliseconds \(0 or Inf.*, got -1/],
    [['OK', { url, withCredentials: 1 }], /withCredentials must be true or false, got 1/],
    [['OK', { url, pauseWhenHidden: 'no' }], /pauseWhenHidden must be true or false/],
    [['OK', { url, headers: { a: 1 } }], /headers\["a"\] must be a string, got 1/],
    [['OK', { url, headers: { 'a b': 'x' } }], /"a b" is not a valid header name/],
    [['OK', { url, headers: { 'Last-Event-ID': '1' } }], /use the lastEventId option/],
    [['OK', { url, transport: 'eventsource', headers: { a: 'b' } }], /headers need transport "fetch"/],
    [['OK', { url, transport: 'eventsource', headers: () => ({}) }], /headers need transport "fetch"/],
    [['OK', { url, headers: 'Bearer x' }], /headers must be an object of header name -> string value, got "Bearer x"/],
    [['OK', { url, debug: 1 }], /debug must be true or false, got 1/],
    [['OK', { url, EventSource: {} }], /EventSource must be a constructor/],
    [['OK', { url, EventSource }], /used with transport: "eventsource" only/],
    [['OK', { url, lastEventId: 5 }], /lastEventId must be a string, got 5/],
    [['OK', { url, events: 'x' }], /events must be an array/],
  ];
  for (const [args, message] of cases) {
    it(`refuses ${JSON.stringify(args[1]) ?? String(args[0])}`, () => {
      const real = args.map((a) => (a === 'OK' ? bus : a));
      assert.throws(() => new EventBridge(...real), (error) => {
        assert.ok(error instanceof TypeError, `a TypeError, got ${error}`);
        assert.match(error.message, /^ssebus: EventBridge: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('refuses a destroyed bus', async () => {
    const dead = await createEventBus();
    dead.destroy();
    assert.throws(() => new EventBridge(dead, { url }), /the bus is destroyed/);
  });

  it('resolves a relative URL against the page when there is one', () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'location');
    globalThis.location = { href: 'https://app.example/videos/list' };
    try {
      assert.equal(new EventBridge(bus, { url: '/api/events' }).url, 'https://app.example/api/events');
      assert.equal(new EventBridge(bus, { url: 'events' }).url, 'https://app.example/videos/events');
    } finally {
      if (saved) Object.defineProperty(globalThis, 'location', saved);
      else delete globalThis.location;
    }
  });

  it('accepts a URL object and an Infinity heartbeat (off)', () => {
    const b = new EventBridge(bus, {
      url: new URL(url),
      heartbeatTimeoutMs: Infinity,
      reconnect: { maxAttempts: Infinity },
    });
    assert.equal(b.url, url);
    assert.equal(b.state, 'closed');
  });
});

describe('EventBridge: memory', () => {
  it('connect/close cycles leave the WebAssembly heap flat (the parser is freed)', async () => {
    const payload = { x: 'y'.repeat(1000) };
    const server = await serve((req, res) => open(res).write(frame({ id: '1', event: 'n', data: payload })));
    const cycle = async () => {
      let got = false;
      const off = bus.on('n', () => (got = true));
      const b = new EventBridge(bus, { url: server.url }).connect();
      await waitFor(() => got, 'the event');
      b.close();
      off();
    };
    await cycle();
    await cycle();
    const before = wasmMemoryStats().usedBytes;
    for (let i = 0; i < 30; i++) await cycle();
    const after = wasmMemoryStats().usedBytes;
    assert.ok(after - before < 2048, `used ${before} -> ${after}`);
  });
});
