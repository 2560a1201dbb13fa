// A server stopped (SIGTERM) or killed (SIGKILL) and restarted on the same port and data
// directory while 10 clients are connected (through a proxy) and a publisher keeps
// publishing. With the default store (sqlite) the restart is invisible: every client
// receives every event exactly once, in order, with no ssebus:gap, and a replay from before
// the first event afterwards holds every id any client saw. With `--store memory` the
// history is lost: every client reports ssebus:gap exactly once, then receives every event
// of the restarted server once, in order. The control: connections only cut by the proxy
// report no gap.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { big, firstDisorder, publisherPool, readStream } from '../support/publisher.js';
import { keptDataDir, publish, startServer } from '../support/server.js';
import { sleep, until } from '../support/wait.js';
import { startChaosProxy } from './chaos-proxy.js';
import { compare, eventName, startClients, stopClients } from './clients.js';

const soak = process.env.SSEBUS_SOAK === '1';
const clientCount = Number(process.env.SSEBUS_SOAK_CLIENTS) || (soak ? 20 : 10);
const beforeCount = soak ? 1_000 : 100;
const afterCount = soak ? 5_000 : 500;
const serverArgs = ['--quiet', '--retry-ms', '10', '--heartbeat-ms', '100', '--history-size', '20000'];

// One publisher, one request in flight, publishing { n } for n = 0, 1, ... until stopped.
// Every 202 is recorded as { n, id }; a request that fails (the server is gone) is recorded
// in `failed` (its event may or may not have been committed), and publishing then waits
// for `resume()` (the restarted server) before it goes on.
function startPublisher(server) {
  const pool = publisherPool(server, { sockets: 1 });
  const state = { acked: [], failed: new Set(), stopped: false };
  let generation = 0;
  let wake = null;
  const done = (async () => {
    for (let n = 0; !state.stopped; n++) {
      const startedIn = generation;
      const r = await pool.post({ event: eventName, data: { n } });
      if (r.status === 202) {
        state.acked.push({ n, id: String(r.body.id) });
        continue;
      }
      state.failed.add(n);
      if (startedIn === generation) await new Promise((resolve) => (wake = resolve));
      else await sleep(5);
    }
  })();
  return {
    state,
    resume() {
      generation++;
      wake?.();
    },
    async stop() {
      state.stopped = true;
      wake?.();
      await done;
      pool.close();
    },
  };
}

function summary(clients, extra) {
  return (
    `received per client ${clients.map((c) => c.ids.length).join('/')}; gaps ${clients.map((c) => c.gaps.length).join('/')}; ` +
    `reconnects ${clients.reduce((a, c) => a + c.reconnects, 0)}; ${extra}`
  );
}

describe(`a server restart and proxy cuts (${clientCount} clients)`, () => {
  const servers = [];
  const proxies = [];
  const clientSets = [];
  const dataDirs = [];
  after(async () => {
    for (const clients of clientSets) stopClients(clients);
    for (const proxy of proxies) await proxy.close();
    for (const server of servers) await server.stop();
    for (const dir of dataDirs) dir.remove();
  });

  async function setUp(tag, args = serverArgs, dataDir = null) {
    const server = await startServer(args, { dataDir });
    servers.push(server);
    const proxy = await startChaosProxy(server.port);
    proxies.push(proxy);
    const clients = await startClients(clientCount, proxy.url, tag);
    clientSets.push(clients);
    await until('every client to open', () => clients.every((c) => c.bridge.state === 'open'));
    return { server, proxy, clients };
  }

  // Publishing goes on while the server is stopped with `signal` and restarted on the same
  // port and data directory; returns what was acknowledged once every client has it.
  async function restartWhilePublishing(tag, args, signal) {
    const dataDir = keptDataDir();
    dataDirs.push(dataDir);
    const started = Date.now();
    const { server, proxy, clients } = await setUp(tag, args, dataDir);
    const publisher = startPublisher(server);
    await until('the events before the stop', () => publisher.state.acked.length >= beforeCount, 60_000);

    const exit = await server.stop(signal);
    if (signal === 'SIGKILL') assert.equal(exit.signal, 'SIGKILL');
    else assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: a clean exit');
    await until('every client to notice', () => clients.every((c) => c.reconnects > 0));
    const restarted = await startServer(args, { port: server.port, dataDir });
    servers.push(restarted);
    // (A server draining after SIGTERM may still acknowledge a few: those count as before.)
    const ackedAtRestart = publisher.state.acked.length;
    publisher.resume();

    await until('the events after the restart', () => publisher.state.acked.length >= ackedAtRestart + afterCount, 60_000);
    await publisher.stop();
    const { acked, failed } = publisher.state;
    const lastId = acked.at(-1).id;
    await until('every client to have the last event', () => clients.every((c) => c.ids.includes(lastId)), 60_000);
    await sleep(300); // a second gap or a duplicate would arrive now
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return { restarted, proxy, clients, acked, failed, ackedBefore: ackedAtRestart, seconds };
  }

  // What a client received, checked against the acknowledged events: ids strictly
  // increasing, each acknowledged { n, id } where it should be, and anything else the
  // event of a request that failed at the stop.
  function check(c, received, acked, failed) {
    assert.equal(firstDisorder(received.ids), -1, `${c.name}: ids strictly increase (no duplicate, in order)`);
    const byN = new Map(acked.map((a) => [a.n, a.id]));
    received.ns.forEach((n, i) => {
      if (byN.has(n)) assert.equal(received.ids[i], byN.get(n), `${c.name}: event ${n} has the id its publisher was given`);
      else assert.ok(failed.has(n), `${c.name}: event ${n} (id ${received.ids[i]}) was never published`);
    });
  }

  for (const signal of ['SIGTERM', 'SIGKILL']) {
    it(`default store (sqlite), ${signal} and a restart: no gap, every event once, in order`, async () => {
      const { restarted, proxy, clients, acked, failed, ackedBefore, seconds } = await restartWhilePublishing(
        signal === 'SIGTERM' ? 'st' : 'sk',
        serverArgs,
        signal,
      );
      const extras = clients.map((c) => c.ns.filter((n) => failed.has(n)).length);
      console.log(
        `restart (sqlite, ${signal}): ${ackedBefore} events acknowledged before the restart, ${acked.length - ackedBefore} after, ` +
          `${failed.size} requests failed at the stop; ${summary(clients, `unacknowledged events received ${extras.join('/')}; connections ${proxy.accepted}; ${seconds} s`)}`,
      );
      const ackedIds = new Set(acked.map((a) => a.id));
      for (const c of clients) {
        assert.deepEqual(c.gaps, [], `${c.name}: no gap`);
        check(c, c, acked, failed);
        const seen = new Set(c.ids);
        const missing = [...ackedIds].filter((id) => !seen.has(id));
        assert.deepEqual(missing, [], `${c.name}: every acknowledged event received`);
        assert.deepEqual(c.ids, clients[0].ids, `${c.name}: the same events as ${clients[0].name}`);
      }
      // Nothing a client saw was taken away: the log replays exactly that, from before the first.
      const all = clients[0].ids;
      const replay = await readStream(restarted, {
        lastEventId: big(all[0]) - 1n,
        done: (events) => events.at(-1).id === all.at(-1),
        what: 'the replay after the restart',
      });
      assert.deepEqual(replay.filter((e) => e.event === eventName).map((e) => e.id), all, 'the replay is what the clients saw');
    });

    it(`--store memory, ${signal} and a restart: one ssebus:gap per client, then every new event once, in order`, async () => {
      const { clients, acked, failed, ackedBefore, seconds } = await restartWhilePublishing(
        signal === 'SIGTERM' ? 'mt' : 'mk',
        [...serverArgs, '--store', 'memory'],
        signal,
      );
      console.log(
        `restart (memory, ${signal}): ${ackedBefore} events acknowledged before the restart, ${acked.length - ackedBefore} after; ` +
          summary(clients, seconds + ' s'),
      );
      for (const c of clients) {
        assert.equal(c.gaps.length, 1, `${c.name}: exactly one gap`);
        const at = c.gapsAt[0];
        const { requested, earliest } = c.gaps[0];
        assert.ok(at > 0, `${c.name}: events arrived before the stop`);
        assert.equal(String(requested), c.ids[at - 1], `${c.name}: the gap starts at the last id before the stop`);
        assert.ok(big(earliest) > big(requested), `${c.name}: ids go on increasing across the restart (gap ${JSON.stringify(c.gaps[0])})`);
        check(c, c, acked, failed);
        // The restarted server's events (ids from `earliest` on): every one, once, in order.
        const fresh = acked.filter((a) => big(a.id) >= big(earliest)).map((a) => a.id);
        assert.ok(fresh.length >= afterCount, `${c.name}: ${fresh.length} events after the restart`);
        const after = c.ids.slice(at);
        const seen = new Set(after);
        assert.deepEqual(fresh.filter((id) => !seen.has(id)), [], `${c.name}: every event after the restart received`);
        assert.ok(big(after[0]) >= big(earliest), `${c.name}: the replay starts at earliest`);
      }
    });
  }

  it('control: connections cut by the proxy only, no restart: no gap, every event once, in order', async () => {
    const { server, proxy, clients } = await setUp('k');
    const publishRange = async (from, count) => {
      const ids = [];
      const ns = [];
      for (let n = from; n < from + count; n++) {
        const r = await publish(server, { event: eventName, data: { n } });
        assert.equal(r.status, 202);
        ids.push(String(r.body.id));
        ns.push(n);
      }
      return { ids, ns };
    };
    const before = await publishRange(0, beforeCount);
    await until('the events before', () => clients.every((c) => c.ids.length >= beforeCount));
    const cut = proxy.cutAll();
    assert.equal(cut, clientCount, 'every client connection was cut');
    const afterEvents = await publishRange(beforeCount, afterCount);
    await until('every event after the cut', () => clients.every((c) => c.ids.length >= beforeCount + afterCount), 60_000);
    await sleep(300);
    const all = { ids: [...before.ids, ...afterEvents.ids], ns: [...before.ns, ...afterEvents.ns] };
    for (const c of clients) {
      assert.ok(c.reconnects > 0, `${c.name}: reconnected after the cut`);
      assert.deepEqual(c.gaps, [], `${c.name}: no gap`);
      assert.deepEqual(
        compare(c, all.ids, all.ns),
        { received: beforeCount + afterCount, duplicated: 0, missing: 0, firstDiff: null },
        `${c.name}: every event once, in order`,
      );
    }
  });
});
