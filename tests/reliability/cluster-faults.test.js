// Three instances on one Redis (with an AOF), bridged clients spread over them by a proxy,
// and Redis failing under them:
// - kill -9 of Redis: publishing answers 503 with Retry-After, /healthz says not ready and
//   why, open streams stay open (heartbeats go on) and a new stream is served from the
//   instance's ring; once Redis is back (the same port, its AOF) everything resumes, and
//   nothing that was acknowledged is lost: the clients received exactly the Redis stream;
// - FLUSHALL (Redis lost its data): every open stream gets ssebus:gap, then what follows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { big, firstDisorder, publisherPool } from '../support/publisher.js';
import { readStreamEntries, startRedis } from '../support/redis.js';
import { openStream, publish, startServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { sleep, until } from '../support/wait.js';
import { eventName, startClients, stopClients } from './clients.js';

const soak = process.env.SSEBUS_SOAK === '1';
const clientCount = soak ? 30 : 6;
const outages = soak ? 3 : 1;
const beforeCount = soak ? 2_000 : 200;
const duringCount = soak ? 50 : 5; // publishes refused while Redis is down
const afterCount = soak ? 2_000 : 200;
const key = 'faults:events';
const serverArgs = ['--quiet', '--retry-ms', '10', '--heartbeat-ms', '100', '--history-size', '50000'];

// One publisher with one request in flight, publishing { n } for n = 0, 1, ... through one
// instance until stopped. A 202 is recorded in `acked` as { n, id }; anything else in
// `refused` as { n, status, retryAfter, body } (its event may have been committed when the
// request was cut, never when the store refused it), and the next one follows shortly.
function startPublisher(server) {
  const pool = publisherPool(server, { sockets: 1 });
  const state = { acked: [], refused: [], stopped: false };
  const done = (async () => {
    for (let n = 0; !state.stopped; n++) {
      const r = await pool.post({ event: eventName, data: { n } });
      if (r.status === 202) state.acked.push({ n, id: String(r.body.id) });
      else {
        state.refused.push({ n, status: r.status, retryAfter: r.headers?.['retry-after'], body: r.body, error: r.error?.message });
        await sleep(20);
      }
    }
  })();
  return {
    state,
    async stop() {
      state.stopped = true;
      await done;
      pool.close();
    },
  };
}

const healthz = async (server) => {
  const res = await fetch(`${server.url}/healthz`);
  return { status: res.status, body: await res.json().catch(() => null) };
};

describe(`three instances and Redis failing under them (${clientCount} clients)`, () => {
  let redis;
  let proxy;
  let clients = [];
  const servers = [];
  const streams = []; // one per instance, open from the first test on
  const closeLater = [];
  const publishers = [];

  before(async () => {
    redis = await startRedis({ appendonly: true });
    for (let i = 0; i < 3; i++) servers.push(await startServer([...serverArgs, '--store', `${redis.url}?key=${key}`]));
    proxy = await startTcpProxy(servers.map((s) => s.port));
    clients = await startClients(clientCount, proxy.url, 'f', { heartbeatTimeoutMs: 2_000 });
    await until('every client to open', () => clients.every((c) => c.bridge.state === 'open'));
  });
  after(async () => {
    for (const publisher of publishers) await publisher.stop();
    stopClients(clients);
    for (const s of [...streams, ...closeLater]) s.close();
    await proxy?.close();
    for (const server of servers) await server.stop();
    await redis?.stop();
  });

  it(`kill -9 of Redis (${outages}x): 503 with Retry-After, streams stay open; after a restart with the AOF nothing acknowledged is lost`, async () => {
    const start = await publish(servers[0], { event: 'faults:start', data: {} });
    assert.equal(start.status, 202);
    // A raw stream on every instance, to watch its heartbeats through the outage.
    for (const server of servers) streams.push(await openStream(server.url, { lastEventId: start.body.id }));
    const publisher = startPublisher(servers[0]);
    publishers.push(publisher);
    const { acked, refused } = publisher.state;

    for (let outage = 0; outage < outages; outage++) {
      const ackedBefore = acked.length;
      await until('events before the kill', () => acked.length >= ackedBefore + beforeCount, 60_000);
      const killed = await redis.kill9();
      assert.equal(killed.signal, 'SIGKILL');
      const refusedAtKill = refused.length;
      const reconnectsAtKill = clients.map((c) => c.reconnects);
      const commentsAtKill = streams.map((s) => s.comments);

      await until('publishes refused while Redis is down', () => refused.length >= refusedAtKill + duringCount, 30_000);
      const during = refused.slice(refusedAtKill + 1); // (the first may be the one cut at the kill)
      for (const r of during) {
        assert.equal(r.status, 503, `a publish while Redis is down: ${JSON.stringify(r)}`);
        assert.ok(Number(r.retryAfter) > 0, `with Retry-After: ${JSON.stringify(r)}`);
        assert.equal(typeof r.body?.error, 'string', `and a JSON error: ${JSON.stringify(r)}`);
      }
      for (const server of servers) {
        const health = await until('/healthz to say not ready', async () => {
          const h = await healthz(server);
          return h.status === 503 ? h : null;
        });
        assert.equal(health.body.status, 'not ready');
        assert.equal(health.body.store, 'redis');
        assert.equal(typeof health.body.reason, 'string');
        assert.ok(health.body.reason.length > 0, 'with the reason');
      }
      await until('heartbeats on every stream while Redis is down', () => streams.every((s, i) => s.comments >= commentsAtKill[i] + 3));
      assert.ok(streams.every((s) => !s.ended), 'the streams are open');

      // A new stream on B, resuming from before the kill, is served from B's ring: what B's
      // open stream received after that id.
      const applied = streams[1].events.filter((e) => e.event === eventName).map((e) => e.id);
      const from = applied.at(-10);
      const fresh = await openStream(servers[1].url, { lastEventId: from });
      closeLater.push(fresh);
      assert.equal(fresh.status, 200, `a new stream while Redis is down: ${fresh.text}`);
      await until('the new stream to replay what B applied', () => fresh.events.some((e) => e.id === applied.at(-1)));
      assert.deepEqual(fresh.events.map((e) => e.id), applied.slice(-9), 'the new stream replays the events after its id');
      fresh.close();

      const ackedWhileDown = acked.length;
      await redis.restart();
      const refusedAtRestart = refused.length;
      await until('publishing to resume', () => acked.length > ackedWhileDown, 60_000);
      for (const server of servers) await until('/healthz to say ready', async () => (await healthz(server)).status === 200, 30_000);
      assert.deepEqual(
        clients.map((c) => c.reconnects),
        reconnectsAtKill,
        'no client lost its stream during the outage',
      );
      console.log(
        `redis outage ${outage + 1}: ${acked.length - ackedBefore} events acknowledged, ${refused.length - refusedAtKill} publishes refused ` +
          `(${refusedAtRestart - refusedAtKill} while down)`,
      );
    }
    const ackedAfterLast = acked.length;
    await until('events after the last restart', () => acked.length >= ackedAfterLast + afterCount, 60_000);
    await publisher.stop();
    const last = acked.at(-1).id;
    await until('every client to have the last event', () => clients.every((c) => c.ids.includes(last)), 60_000);
    await sleep(300); // a duplicate or a gap would arrive now

    // Nothing acknowledged is lost: the stream holds every acknowledged id with its event.
    const entries = (await readStreamEntries(redis, key, { after: String(start.body.id) })).filter((e) => e.fields.n === eventName);
    const stored = new Map(entries.map((e) => [e.id, JSON.parse(e.fields.d).n]));
    const lost = acked.filter((a) => stored.get(a.id) !== a.n);
    assert.deepEqual(lost, [], 'every acknowledged event is in the Redis stream, under its id');
    const refusedNs = new Set(refused.map((r) => r.n));
    for (const e of entries) assert.ok(acked.some((a) => a.id === e.id) || refusedNs.has(stored.get(e.id)), `entry ${e.id} was published`);
    const streamIds = entries.map((e) => e.id);
    console.log(
      `redis faults: ${acked.length} events acknowledged, ${refused.length} refused, ${entries.length} in the stream; ` +
        `received per client ${clients.map((c) => c.ids.length).join('/')}; connections ${proxy.accepted}`,
    );
    for (const c of clients) {
      assert.deepEqual(c.gaps, [], `${c.name}: no gap`);
      assert.equal(firstDisorder(c.ids), -1, `${c.name}: in order, no duplicate`);
      assert.deepEqual(c.ids, streamIds, `${c.name}: exactly the events of the Redis stream`);
    }
    for (const s of streams) {
      assert.ok(!s.ended, 'a raw stream stayed open throughout');
      assert.deepEqual(s.events.filter((e) => e.event === eventName).map((e) => e.id), streamIds, 'a raw stream got the same');
    }
  });

  it('FLUSHALL: every open stream gets ssebus:gap, then the events that follow', async () => {
    const before_ = await publish(servers[2], { event: eventName, data: { n: -1 } });
    assert.equal(before_.status, 202);
    const lastBefore = String(before_.body.id);
    await until('every client to have the event before the flush', () => clients.every((c) => c.ids.includes(lastBefore)));
    const raw = [];
    for (const server of servers) raw.push(await openStream(server.url, { lastEventId: lastBefore }));
    closeLater.push(...raw);
    const seenBefore = clients.map((c) => c.ids.length);

    assert.equal(await redis.cli('FLUSHALL'), 'OK');
    // The next publish starts the stream over; every instance sees that its history is gone.
    const afterFlush = [];
    for (let n = 0; n < 20; n++) {
      const r = await publish(servers[n % 3], { event: eventName, data: { n: 1_000_000 + n } });
      assert.equal(r.status, 202, `publish after the flush: ${JSON.stringify(r.body)}`);
      afterFlush.push(String(r.body.id));
    }
    await until('every client to report the gap', () => clients.every((c) => c.gaps.length > 0));
    await until('every client to have the events after the flush', () => clients.every((c) => c.ids.includes(afterFlush.at(-1))));
    await until('every raw stream to have them', () => raw.every((s) => s.events.some((e) => e.id === afterFlush.at(-1))));
    await sleep(300);
    for (const [i, c] of clients.entries()) {
      assert.equal(c.gaps.length, 1, `${c.name}: one gap`);
      assert.equal(c.gapsAt[0], seenBefore[i], `${c.name}: the gap comes right after the events before the flush`);
      assert.equal(String(c.gaps[0].requested), lastBefore, `${c.name}: the gap starts at the last id before the flush`);
      assert.ok(big(c.gaps[0].earliest) > big(lastBefore), `${c.name}: ids go on increasing (${JSON.stringify(c.gaps[0])})`);
      assert.deepEqual(c.ids.slice(seenBefore[i]), afterFlush, `${c.name}: then every event after the flush, once, in order`);
    }
    for (const [i, s] of raw.entries()) {
      assert.deepEqual(
        s.events.map((e) => e.event),
        ['ssebus:gap', ...afterFlush.map(() => eventName)],
        `the raw stream on instance ${i}: the gap, then the events after the flush`,
      );
      assert.equal(String(s.events[0].data.requested), lastBefore);
      assert.deepEqual(s.events.slice(1).map((e) => e.id), afterFlush);
    }
  });
});
