// Churn: connections open and close at 200 a second while events are published, in every way
// a client can come and go: streams closed or reset after a moment, resumed with
// Last-Event-ID, authenticated (with the per-user stream limit in play), requests cut in the
// middle of their header, connections that send nothing, plain requests, garbage. Afterwards
// the server holds no stream, its open descriptors and its RSS are back to their baseline
// (within 10%), and every user can open its full quota of streams again.
// SSEBUS_SOAK=1 runs the long form (10 minutes); SSEBUS_CHURN_SECONDS overrides the length.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';

import { prng } from './chaos-proxy.js';
import { publish, signToken, startServer } from '../support/server.js';
import { sleep, until } from '../support/wait.js';
import { mib, processReading, stats } from './load.js';

const soak = process.env.SSEBUS_SOAK === '1';
const seconds = Number(process.env.SSEBUS_CHURN_SECONDS) || (soak ? 600 : 30);
const perSecond = 200;
const publishPerSecond = 50;
const users = Array.from({ length: 20 }, (_, i) => `churn-user-${i}`);
const tokens = users.map((user, i) => signToken({ user, session: `churn-session-${i}` }));
const seed = process.env.SSEBUS_CHAOS_SEED ? Number(process.env.SSEBUS_CHAOS_SEED) >>> 0 : (Date.now() ^ process.pid) >>> 0;

// How one churning client behaves: what it sends, how long it stays, how it leaves, and the
// status lines it may legitimately get back.
const kinds = {
  'stream, then close': { request: (c) => streamRequest(c), leave: 'end', expect: ['200'] },
  'stream, then reset': { request: (c) => streamRequest(c), leave: 'reset', expect: ['200'] },
  'resume with Last-Event-ID': { request: (c) => streamRequest(c, { lastEventId: c.lastId }), leave: 'end', expect: ['200'] },
  'authenticated stream': { request: (c) => streamRequest(c, { token: c.token }), leave: 'reset', expect: ['200', '429'] },
  'header cut short': { request: () => 'GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc', leave: 'reset', expect: [] },
  'connect, send nothing': { request: () => '', leave: 'end', expect: [] },
  'plain request': { request: () => 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', leave: 'end', expect: ['200'] },
  'garbage': { request: () => 'NOT HTTP AT ALL\r\n\r\n', leave: 'end', expect: ['400'] },
};

function streamRequest(c, { lastEventId, token } = {}) {
  return (
    `GET /api/events?clientId=${c.id}${token ? `&token=${token}` : ''} HTTP/1.1\r\n` +
    'Host: 127.0.0.1\r\nAccept: text/event-stream\r\n' +
    (lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : '') +
    '\r\n'
  );
}

// Runs the churn for `ms` and resolves when every client it opened has gone.
async function churn(port, ms, random, lastId) {
  const names = Object.keys(kinds);
  const tally = { opened: 0, statuses: {}, unexpected: [], byKind: Object.fromEntries(names.map((k) => [k, 0])) };
  const live = new Set();
  let n = 0;
  const open = () => {
    const kind = names[Math.floor(random() * names.length)];
    const spec = kinds[kind];
    const c = { id: `churn-${n++}`, token: tokens[Math.floor(random() * tokens.length)], lastId: lastId() };
    const stayMs = 10 + Math.floor(random() * 400);
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    let leaving = false;
    tally.opened++;
    tally.byKind[kind]++;
    live.add(socket);
    const leave = () => {
      if (leaving) return;
      leaving = true;
      if (spec.leave === 'reset') socket.resetAndDestroy();
      else socket.end(() => socket.destroy());
    };
    socket.setNoDelay(true);
    socket.on('connect', () => {
      const request = spec.request(c);
      if (request) socket.write(request);
      setTimeout(leave, stayMs);
    });
    socket.on('data', (chunk) => {
      if (head.length < 64) head += chunk.toString('latin1');
    });
    socket.on('error', (error) => {
      if (!leaving) tally.unexpected.push(`${kind}: ${error.code ?? error.message}`);
    });
    socket.on('close', () => {
      live.delete(socket);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
      if (status) tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
      if (status && !spec.expect.includes(status)) tally.unexpected.push(`${kind}: status ${status}`);
    });
  };

  // 200 a second, in batches every 50 ms.
  const batch = perSecond / 20;
  const end = Date.now() + ms;
  for (let due = Date.now(); due < end; due += 50) {
    for (let i = 0; i < batch; i++) open();
    await sleep(Math.max(0, due + 50 - Date.now()));
  }
  await until('every churning client to leave', () => live.size === 0, 30_000);
  return tally;
}

// Publishes steadily until stop() is called; remembers the newest id for resuming clients.
function publisher(server) {
  let running = true;
  let newest = '';
  let count = 0;
  const done = (async () => {
    while (running) {
      const r = await publish(server, { event: 'churn:tick', data: { n: count } });
      assert.equal(r.status, 202);
      newest = String(r.body.id);
      count++;
      await sleep(1000 / publishPerSecond);
    }
  })();
  return {
    lastId: () => newest,
    count: () => count,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function settled(server, baseline) {
  // A cut header waits for the header timeout; a closed stream for its strand to run out.
  await until(
    'no stream and no extra descriptor left',
    async () => (await stats(server)).active_clients === 0 && (!baseline || processReading(server.proc.pid).fds <= baseline.fds),
    30_000,
    100,
  );
  await sleep(500);
  return processReading(server.proc.pid);
}

describe(`churn at ${perSecond} connections a second for ${seconds} s while publishing`, () => {
  let server;
  after(async () => server?.stop());

  it('leaves no stream, descriptor or memory behind, and every user its quota', async () => {
    const history = 2_000;
    server = await startServer([
      '--quiet',
      '--history-size', String(history),
      '--header-timeout-ms', '1000',
      '--heartbeat-ms', '1000',
    ]);
    const random = prng(seed);
    console.log(`churn seed ${seed} (SSEBUS_CHAOS_SEED=${seed} replays its choices)`);

    // Baseline: the history full, and the allocator warmed by a few seconds of the same churn.
    for (let i = 0; i < history; i++) await publish(server, { event: 'churn:fill', data: { i } });
    const warm = publisher(server);
    await churn(server.port, 3_000, random, warm.lastId);
    await warm.stop();
    const baseline = await settled(server);

    const pub = publisher(server);
    const before = await stats(server);
    const started = Date.now();
    const tally = await churn(server.port, seconds * 1000, random, pub.lastId);
    await pub.stop();
    const afterwards = await settled(server, baseline);
    const after = await stats(server);

    console.log(
      `churn: ${tally.opened} connections in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(${Object.entries(tally.byKind).map(([k, v]) => `${k} ${v}`).join(', ')}); statuses ` +
        `${JSON.stringify(tally.statuses)}; streams opened ${after.connections_total - before.connections_total}; ` +
        `${pub.count()} events published; descriptors ${baseline.fds} -> ${afterwards.fds}; ` +
        `RSS ${mib(baseline.rssKiB)} -> ${mib(afterwards.rssKiB)} MiB; seed ${seed}`,
    );

    assert.deepEqual(tally.unexpected.slice(0, 10), [], `nothing unexpected (seed ${seed})`);
    assert.ok(tally.opened >= perSecond * seconds * 0.9, `about ${perSecond * seconds} connections made`);
    assert.equal(after.active_clients, 0, 'no stream left registered');
    assert.ok(afterwards.fds <= Math.ceil(baseline.fds * 1.1), `descriptors ${baseline.fds} -> ${afterwards.fds}`);
    assert.ok(afterwards.rssKiB <= baseline.rssKiB * 1.1, `RSS ${baseline.rssKiB} -> ${afterwards.rssKiB} KiB`);

    // Every user's places were given back: each may open its full quota again, and no more.
    const quota = [];
    try {
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${server.url}/api/events?token=${tokens[0]}`, { signal: AbortSignal.timeout(5_000) });
        quota.push(res);
      }
      assert.deepEqual(quota.map((r) => r.status), [200, 200, 200, 200, 200, 429]);
    } finally {
      for (const r of quota) await r.body?.cancel();
    }
  });
});
