// ssebus-server's log: each level prints what it should and nothing below it, JSON lines
// parse and carry the fields, DEBUG=sse:* turns on debug, and no token, key or secret is
// ever written, even at debug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { jwtSecret, publish, publisherKey, signToken, startServer } from '../support/server.js';
import { until } from '../support/wait.js';

const levels = ['error', 'warn', 'info', 'debug'];

// Opens a stream, reads its first bytes, and goes away.
async function openAndClose(server, path = '/api/events', headers = {}) {
  const controller = new AbortController();
  const res = await fetch(`${server.url}${path}`, { headers, signal: controller.signal });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  const reader = res.body.getReader();
  await reader.read();
  controller.abort();
  await reader.closed.catch(() => {});
}

// The records of a text log: level and message of every line.
function records(log) {
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^ssebus-server: \S+ (error|warn|info|debug) (.*)$/.exec(line);
      assert.ok(m, `not a log line: ${line}`);
      return { level: m[1], rest: m[2], line };
    });
}

// A client that never reads, on a stream with tiny limits: it is let go as a slow client.
async function slowClient(server) {
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause();
  await until('the slow stream to attach', async () => (await (await fetch(`${server.url}/api/events/stats`)).json()).active_clients > 0);
  const big = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 400 && !/slow client disconnected/.test(server.log()); i++) {
    await publish(server, { event: 'big', data: { big } });
  }
  socket.destroy();
}

async function exercise(server) {
  await openAndClose(server);
  await until('the stream to leave the hub', async () => (await (await fetch(`${server.url}/api/events/stats`)).json()).active_clients === 0);
  await slowClient(server);
}

for (const level of levels) {
  test(`--log-level ${level} prints its records and nothing below`, async () => {
    const server = await startServer([
      '--log-level', level, '--queue-max-events', '2', '--queue-max-bytes', '1024', '--stream-send-buffer', '4096',
    ]);
    await exercise(server);
    if (level === 'debug') await until('the stream closed record', () => /stream closed/.test(server.log()));
    await server.stop();
    const rank = levels.indexOf(level);
    const seen = records(server.log());
    for (const r of seen) {
      // The listening line is printed at any level.
      if (r.rest.startsWith('listening on ')) continue;
      assert.ok(levels.indexOf(r.level) <= rank, `a ${r.level} record at --log-level ${level}: ${r.line}`);
    }
    const has = (lvl, msg) => seen.some((r) => r.level === lvl && r.rest.startsWith(msg));
    assert.ok(seen.some((r) => r.rest.startsWith('listening on http://127.0.0.1:')));
    assert.equal(has('warn', 'slow client disconnected'), rank >= 1, 'the slow client warning');
    assert.equal(has('info', 'started'), rank >= 2, 'the start record');
    assert.equal(has('info', 'stopped'), rank >= 2, 'the stop record');
    assert.equal(has('debug', 'stream opened'), rank >= 3, 'stream opened');
    assert.equal(has('debug', 'stream closed'), rank >= 3, 'stream closed');
    if (rank >= 3) {
      const closed = seen.filter((r) => r.rest.startsWith('stream closed')).map((r) => r.rest).join('\n');
      assert.match(closed, /reason=client_gone/);
      assert.match(closed, /reason=slow_client/);
      assert.match(closed, / ms=\d+/);
      assert.match(closed, / route=\/api\/events/);
    }
  });
}

test('--quiet is --log-level warn, and the listening line is still printed', async () => {
  const server = await startServer(['--quiet']);
  await openAndClose(server);
  await server.stop();
  const seen = records(server.log());
  assert.ok(seen.some((r) => r.rest.startsWith('listening on ')));
  assert.deepEqual(seen.filter((r) => !r.rest.startsWith('listening on ') && (r.level === 'info' || r.level === 'debug')), []);
});

for (const debug of ['sse:*', 'ssebus:*']) {
  test(`DEBUG=${debug} turns on debug`, async () => {
    const server = await startServer([], { env: { DEBUG: debug } });
    await openAndClose(server);
    await until('the stream records', () => /debug stream closed/.test(server.log()));
    await server.stop();
    assert.match(server.log(), /debug stream opened/);
  });
}

test('DEBUG naming another package leaves the level at info', async () => {
  const server = await startServer([], { env: { DEBUG: 'express:*' } });
  await openAndClose(server);
  await server.stop();
  assert.doesNotMatch(server.log(), / debug /);
  assert.match(server.log(), / info started /);
});

test('--log-format json: every line is one object with ts, level, msg and the record\'s fields', async () => {
  const server = await startServer(['--log-format', 'json', '--log-level', 'debug', '--demo']);
  await openAndClose(server, '/api/events?clientId=json-client');
  await openAndClose(server, '/api/events?clientId=json-client', { 'last-event-id': '1' });
  await until('the stream closed records', () => (server.log().match(/"stream closed"/g) || []).length >= 2);
  await server.stop();
  const lines = server.log().split('\n').filter(Boolean).map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      assert.fail(`not JSON: ${line}`);
    }
  });
  for (const r of lines) {
    assert.match(r.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(levels.includes(r.level), r.level);
    assert.equal(typeof r.msg, 'string');
  }
  assert.ok(lines.some((r) => r.msg.startsWith('listening on http://')));
  const started = lines.find((r) => r.msg === 'started');
  assert.equal(started.level, 'info');
  assert.equal(typeof started.port, 'number');
  const closed = lines.find((r) => r.msg === 'stream closed' && r.client === 'json-client');
  assert.ok(closed, 'a stream closed record for the client');
  assert.equal(closed.level, 'debug');
  assert.equal(closed.route, '/api/events');
  assert.equal(closed.reason, 'client_gone');
  assert.equal(typeof closed.ms, 'number');
  assert.match(closed.remote, /^127\.0\.0\.1:\d+$/);
  const replay = lines.find((r) => r.msg === 'replay' && r.client === 'json-client');
  assert.ok(replay, 'a replay record');
  assert.equal(replay.from, 1);
  assert.equal(typeof replay.count, 'number');
  assert.equal(replay.gap, true);
  assert.ok(lines.some((r) => r.msg === 'generator' && r.id === 'system' && r.action === 'start'));
});

test('no token, key or secret appears in the log at debug', async () => {
  const muxSecret = 'mux-secret-that-must-not-leak';
  const server = await startServer(['--log-level', 'debug', '--demo', '--mux-secret', muxSecret]);
  const token = signToken({ user: 'ana', session: 's-1' });
  // Demo login: the server issues a token of its own.
  const login = await fetch(`${server.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'ben', session: 's-2' }),
  });
  assert.equal(login.status, 200);
  const issued = (await login.json()).token;
  await openAndClose(server, `/api/sse?token=${encodeURIComponent(token)}`);
  await openAndClose(server, '/api/sse', { cookie: `ssebus_token=${issued}` });
  await openAndClose(server, `/api/events?token=${encodeURIComponent(issued)}`);
  assert.equal((await publish(server, { event: 'secret:test', data: { n: 1 } })).status, 202);
  assert.equal((await publish(server, { event: 'secret:test', data: {} }, 'a-wrong-key')).status, 401);
  const byQuery = await fetch(`${server.url}/api/events?token=${publisherKey}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'secret:test', data: {} }),
  });
  await byQuery.arrayBuffer();
  const hook = await fetch(`${server.url}/api/demo/mux-webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'video.asset.created' }),
  });
  assert.equal(hook.status, 200);
  const config = await fetch(`${server.url}/api/demo/config`);
  await config.arrayBuffer();
  await until('the stream records', () => (server.log().match(/stream closed/g) || []).length >= 3);
  await server.stop();
  const log = server.log();
  assert.match(log, /debug stream opened .*user=ana/);
  for (const [what, value] of Object.entries({ publisherKey, jwtSecret, muxSecret, token, issued })) {
    assert.ok(!log.includes(value), `${what} is in the log`);
    // Nor a long piece of it (a token's signature, a truncated key).
    assert.ok(!log.includes(value.slice(-16)), `the end of ${what} is in the log`);
  }
  assert.ok(!log.includes('a-wrong-key'), 'a wrong key is in the log');
});
