// The durable history (the default store, sqlite) end to end:
// - a crash (SIGKILL) in the middle of a burst from several publishers loses nothing that
//   was acknowledged, and nothing that any client saw;
// - a client that missed 50,000 events (long form: 500,000) resumes after a restart and
//   receives them all from disk, in order, before the live events published meanwhile;
// - retention by count (--history-size) and by age (--history-max-age): an id older than
//   the window gets ssebus:gap with the window's first id as `earliest`, also after a restart.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { big, firstDisorder, publishMany, publisherPool, readStream } from '../support/publisher.js';
import { keptDataDir, publish, startServer } from '../support/server.js';
import { sleep, until } from '../support/wait.js';
import { startClients, stopClients } from './clients.js';
import { stats } from './load.js';

const soak = process.env.SSEBUS_SOAK === '1';
const burstPublishers = 4;
const burstBeforeKill = soak ? 20_000 : 2_000;
const missedCount = soak ? 500_000 : 50_000;
const publishConnections = soak ? 16 : 8;
const baseArgs = ['--quiet', '--retry-ms', '10', '--heartbeat-ms', '100'];

describe('the durable history (sqlite)', () => {
  const servers = [];
  const clientSets = [];
  const dataDirs = [];
  after(async () => {
    for (const clients of clientSets) stopClients(clients);
    for (const server of servers) await server.stop();
    for (const dir of dataDirs) dir.remove();
  });

  async function start(args, dataDir, port = 0) {
    const server = await startServer(args, { dataDir, port });
    servers.push(server);
    return server;
  }

  function newDataDir() {
    const dir = keptDataDir();
    dataDirs.push(dir);
    return dir;
  }

  it(`SIGKILL during a burst from ${burstPublishers} publishers: every acknowledged id, and every id a client saw, is in the replay`, async () => {
    const args = [...baseArgs, '--history-size', String(burstBeforeKill * 10)];
    const dataDir = newDataDir();
    const server = await start(args, dataDir);
    const clients = await startClients(3, server.url, 'b');
    clientSets.push(clients);
    await until('every client to open', () => clients.every((c) => c.bridge.state === 'open'));

    const start_ = await publish(server, { event: 'burst:start', data: {} });
    assert.equal(start_.status, 202);
    const acked = []; // { n, id }
    const failed = [];
    let next = 0;
    let killed = false;
    const publishers = Array.from({ length: burstPublishers }, async () => {
      const pool = publisherPool(server, { sockets: 1 });
      for (;;) {
        const n = next++;
        const r = await pool.post({ event: 'chaos:tick', data: { n } });
        if (r.status === 202) acked.push({ n, id: String(r.body.id) });
        else {
          failed.push({ n, status: r.status, error: r.error?.code ?? r.error?.message });
          if (killed) break;
        }
      }
      pool.close();
    });
    await until('the burst to be under way', () => acked.length >= burstBeforeKill, 120_000);
    killed = true;
    await server.stop('SIGKILL');
    await Promise.all(publishers);
    const seenBeforeKill = clients.map((c) => c.ids.length);

    const restarted = await start(args, dataDir, server.port);
    // The last event, published after the restart: every client resumes up to it.
    const end = await publish(restarted, { event: 'chaos:tick', data: { n: -1 } });
    assert.equal(end.status, 202);
    acked.push({ n: -1, id: String(end.body.id) });
    await until('every client to resume up to the last event', () => clients.every((c) => c.ids.includes(acked.at(-1).id)), 60_000);
    const replay = await readStream(restarted, {
      lastEventId: start_.body.id,
      done: (events) => events.at(-1).id === acked.at(-1).id,
      what: 'the replay of the burst',
    });
    const ticks = replay.filter((e) => e.event === 'chaos:tick');
    const replayed = new Set(ticks.map((e) => e.id));
    const unacknowledged = ticks.length - acked.length;
    console.log(
      `crash burst: ${acked.length} events acknowledged by ${burstPublishers} publishers, ${failed.length} requests failed at the kill ` +
        `(${[...new Set(failed.map((f) => f.error ?? f.status))].join(', ')}); replay ${ticks.length} events ` +
        `(${unacknowledged} committed but not acknowledged); clients had ${seenBeforeKill.join('/')} before the kill`,
    );

    assert.equal(firstDisorder(ticks.map((e) => e.id)), -1, 'the replay is in id order, with no duplicate');
    assert.equal(new Set(ticks.map((e) => e.data.n)).size, ticks.length, 'no event is replayed twice');
    const lost = acked.filter((a) => !replayed.has(a.id));
    assert.equal(lost.length, 0, `every acknowledged id is in the replay; missing ${lost.length}, the first ${JSON.stringify(lost.slice(0, 3))}`);
    const byId = new Map(acked.map((a) => [a.id, a.n]));
    const failedNs = new Set(failed.map((f) => f.n));
    for (const e of ticks) {
      if (byId.has(e.id)) assert.equal(e.data.n, byId.get(e.id), `id ${e.id} holds the event acknowledged with it`);
      else assert.ok(failedNs.has(e.data.n), `id ${e.id}: event ${e.data.n} was never published`);
    }
    for (const c of clients) {
      assert.deepEqual(c.gaps, [], `${c.name}: no gap`);
      assert.equal(firstDisorder(c.ids), -1, `${c.name}: in order, no duplicate`);
      const unseen = c.ids.filter((id) => !replayed.has(id));
      assert.equal(unseen.length, 0, `${c.name}: every id it saw is in the replay; missing ${unseen.length}, the first ${unseen.slice(0, 3)}`);
    }
  });

  it(`a client that missed ${missedCount.toLocaleString('en')} events resumes after a restart: all of them from disk, in order, then the live ones`, async () => {
    const args = [...baseArgs, '--history-size', String(missedCount * 2)];
    const dataDir = newDataDir();
    const server = await start(args, dataDir);
    const mark = await publish(server, { event: 'replay:mark', data: {} });
    assert.equal(mark.status, 202);
    const published = Date.now();
    const missedIds = await publishMany(server, { event: 'chaos:tick', count: missedCount, concurrency: publishConnections });
    const publishSeconds = (Date.now() - published) / 1000;
    await server.stop('SIGKILL');
    const restarted = await start(args, dataDir, server.port);

    // Live events go on while the client catches up.
    const live = [];
    let stopLive = false;
    const livePublisher = (async () => {
      const pool = publisherPool(restarted, { sockets: 1 });
      for (let n = missedCount; !stopLive; n++) {
        const r = await pool.post({ event: 'chaos:tick', data: { n } });
        assert.equal(r.status, 202, `live event ${n}`);
        live.push(String(r.body.id));
        await sleep(2);
      }
      pool.close();
    })();
    await until('live events before the client resumes', () => live.length >= 5);

    const resumed = Date.now();
    const [client] = await startClients(1, restarted.url, 'long', { lastEventId: mark.body.id, heartbeatTimeoutMs: 5_000 });
    clientSets.push([client]);
    await until('the missed events', () => client.ids.length >= missedCount, 120_000, 50);
    const replaySeconds = (Date.now() - resumed) / 1000;
    const liveAtCatchUp = live.length;
    await until('live events after the catch-up', () => live.length >= liveAtCatchUp + 20, 30_000);
    stopLive = true;
    await livePublisher;
    await until('every live event', () => client.ids.includes(live.at(-1)), 30_000);
    console.log(
      `long replay: ${missedCount} events published in ${publishSeconds.toFixed(1)} s (${Math.round(missedCount / publishSeconds)}/s, ${publishConnections} connections); ` +
        `after a SIGKILL and a restart the client had them all ${replaySeconds.toFixed(1)} s after it resumed ` +
        `(${Math.round(missedCount / replaySeconds)} events/s through the bridge), then ${client.ids.length - missedCount} live events`,
    );

    assert.deepEqual(client.gaps, [], 'no gap');
    assert.equal(firstDisorder(client.ids), -1, 'in order, no duplicate');
    const sorted = [...missedIds].sort((a, b) => (big(a) < big(b) ? -1 : 1));
    const head = client.ids.slice(0, missedCount);
    const differs = head.findIndex((id, i) => id !== sorted[i]);
    assert.equal(differs, -1, `first every missed event, in order; the first difference at ${differs}: ${head[differs]} for ${sorted[differs]}`);
    assert.deepEqual(client.ids.slice(missedCount), live, 'then every live event, in order');
  });

  // The replay after `requested`: a gap with `earliest` first, then the window in order.
  async function assertGap(server, requested, window, what) {
    const events = await readStream(server, {
      lastEventId: requested,
      done: (events) => events.at(-1).id === window.at(-1),
      what,
      timeoutMs: 15_000,
    });
    assert.equal(events[0].event, 'ssebus:gap', `${what}: a gap first`);
    assert.deepEqual(events[0].data, { requested: Number(requested), earliest: Number(window[0]) }, `${what}: the gap`);
    assert.deepEqual(events.slice(1).map((e) => e.id), window, `${what}: then the retained window`);
  }

  it('retention by count (--history-size 100): an id older than the window gets ssebus:gap with the right earliest, before and after a restart', async () => {
    const args = [...baseArgs, '--history-size', '100'];
    const dataDir = newDataDir();
    const server = await start(args, dataDir);
    const ids = [];
    for (let n = 0; n < 250; n++) ids.push(String((await publish(server, { event: 'keep:n', data: { n } })).body.id));
    const window = ids.slice(-100);
    await assertGap(server, ids[0], window, 'from the first id');
    await assertGap(server, ids[148], window, 'from the second id before the window');
    const inside = await readStream(server, { lastEventId: ids[150], done: (e) => e.at(-1).id === ids.at(-1), what: 'from inside' });
    assert.deepEqual(inside.map((e) => e.id), ids.slice(151), 'an id inside the window: no gap, the rest');

    const { store } = await stats(server);
    assert.deepEqual([store.kind, store.earliest_id, store.newest_id, store.retained], ['sqlite', Number(window[0]), Number(ids.at(-1)), 100],
      '/api/events/stats: the store and its window');

    await server.stop('SIGKILL');
    const restarted = await start(args, dataDir, server.port);
    assert.equal((await stats(restarted)).store.earliest_id, Number(window[0]), 'the window after a restart');
    await assertGap(restarted, ids[0], window, 'after a restart, from the first id');
    const more = [];
    for (let n = 250; n < 260; n++) more.push(String((await publish(restarted, { event: 'keep:n', data: { n } })).body.id));
    assert.ok(big(more[0]) > big(ids.at(-1)), 'ids go on above the newest stored one');
    await assertGap(restarted, ids[0], [...window.slice(10), ...more], 'after a restart and 10 more');
    console.log(`retention by count: 250 events, window of 100 (${window[0]}..${window.at(-1)}), the same after a restart`);
  });

  for (const store of ['sqlite', 'memory']) {
    it(`${store}: a client whose last id is the newest one retention dropped missed nothing: no false ssebus:gap`, async () => {
      const args = [...baseArgs, '--store', store, '--history-size', '100'];
      const dataDir = newDataDir();
      const server = await start(args, dataDir);
      const ids = [];
      for (let n = 0; n < 150; n++) ids.push(String((await publish(server, { event: 'keep:n', data: { n } })).body.id));
      const fromEdge = async (s, what) =>
        (await readStream(s, { lastEventId: ids[49], done: (e) => e.at(-1).id === ids.at(-1), what, timeoutMs: 15_000 })).map((e) => e.id);
      assert.deepEqual(await fromEdge(server, 'from the edge'), ids.slice(50), 'no gap, the whole window');
      if (store !== 'sqlite') return;
      await server.stop('SIGKILL');
      const restarted = await start(args, dataDir, server.port);
      assert.deepEqual(await fromEdge(restarted, 'from the edge after a restart'), ids.slice(50), 'after a restart: no gap, the whole window');
    });
  }

  it('retention by age (--history-max-age 3): events older than 3 s fall out of the window', async () => {
    const args = [...baseArgs, '--history-size', '1000', '--history-max-age', '3'];
    const dataDir = newDataDir();
    const server = await start(args, dataDir);
    const old = [];
    for (let n = 0; n < 20; n++) old.push(String((await publish(server, { event: 'age:n', data: { n } })).body.id));
    await sleep(4_500); // past the maximum age (this waits for time to pass; it asserts no time)
    const fresh = [];
    for (let n = 20; n < 30; n++) fresh.push(String((await publish(server, { event: 'age:n', data: { n } })).body.id));
    await assertGap(server, old[0], fresh, 'from an id that aged out');
    await assertGap(server, old.at(-2), fresh, 'from the second newest id that aged out');
    const edge = await readStream(server, { lastEventId: old.at(-1), done: (e) => e.at(-1).id === fresh.at(-1), what: 'from the edge' });
    assert.deepEqual(edge.map((e) => e.id), fresh, 'the newest id that aged out: nothing else is gone, no gap');
    const inside = await readStream(server, { lastEventId: fresh[0], done: (e) => e.at(-1).id === fresh.at(-1), what: 'from inside' });
    assert.deepEqual(inside.map((e) => e.id), fresh.slice(1), 'an id inside the window: no gap, the rest');

    await server.stop('SIGTERM');
    const restarted = await start(args, dataDir, server.port);
    await assertGap(restarted, old[0], fresh, 'after a restart');
    console.log(`retention by age: 20 events aged out, 10 retained`);
  });
});
