// A server killed (SIGKILL) and restarted on the same port loses its history: every client
// reports ssebus:gap exactly once and then receives every event published after the restart
// exactly once, in order. The control: connections only cut by the proxy report no gap.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { publish, startServer } from '../support/server.js';
import { sleep, until } from '../support/wait.js';
import { startChaosProxy } from './chaos-proxy.js';
import { compare, eventName, startClients, stopClients } from './clients.js';

const soak = process.env.SSEBUS_SOAK === '1';
const clientCount = Number(process.env.SSEBUS_SOAK_CLIENTS) || (soak ? 20 : 10);
const beforeCount = soak ? 1_000 : 100;
const afterCount = soak ? 5_000 : 500;
const serverArgs = ['--quiet', '--retry-ms', '10', '--heartbeat-ms', '100', '--history-size', '20000'];

async function publishRange(server, from, count) {
  const ids = [];
  const ns = [];
  for (let n = from; n < from + count; n++) {
    const r = await publish(server, { event: eventName, data: { n } });
    assert.equal(r.status, 202);
    ids.push(String(r.body.id));
    ns.push(n);
  }
  return { ids, ns };
}

describe(`a server restart and proxy cuts (${clientCount} clients)`, () => {
  const servers = [];
  const proxies = [];
  const clientSets = [];
  after(async () => {
    for (const clients of clientSets) stopClients(clients);
    for (const proxy of proxies) await proxy.close();
    for (const server of servers) await server.stop();
  });

  async function setUp(tag) {
    const server = await startServer(serverArgs);
    servers.push(server);
    const proxy = await startChaosProxy(server.port);
    proxies.push(proxy);
    const clients = await startClients(clientCount, proxy.url, tag);
    clientSets.push(clients);
    await until('every client to open', () => clients.every((c) => c.bridge.state === 'open'));
    const before = await publishRange(server, 0, beforeCount);
    await until('the events before', () => clients.every((c) => c.ids.length >= beforeCount));
    for (const c of clients) assert.deepEqual(compare(c, before.ids, before.ns).firstDiff, null, c.name);
    return { server, proxy, clients, before };
  }

  it('after SIGKILL and a restart: one ssebus:gap per client, then every new event once, in order', async () => {
    const started = Date.now();
    const { server, proxy, clients, before } = await setUp('r');
    const port = server.port;
    const lastBefore = before.ids.at(-1);

    await server.stop('SIGKILL');
    await until('every client to notice', () => clients.every((c) => c.reconnects > 0));
    const restarted = await startServer(serverArgs, { port });
    servers.push(restarted);

    // Published at once, while the clients are still reconnecting: they get it by replay.
    const afterEvents = await publishRange(restarted, beforeCount, afterCount);
    await until(
      'every event after the restart',
      () => clients.every((c) => c.ids.length >= beforeCount + afterCount && c.gaps.length >= 1),
      60_000,
    );
    await sleep(300); // a second gap or a duplicate would arrive now

    const results = clients.map((c) => compare(c, afterEvents.ids, afterEvents.ns, beforeCount));
    console.log(
      `restart: ${beforeCount} events before the kill, ${afterCount} after; received after per client ` +
        `${results.map((r) => r.received).join('/')}; duplicated ${results.map((r) => r.duplicated).join('/')}; ` +
        `gaps ${clients.map((c) => c.gaps.length).join('/')}; reconnects ${clients.reduce((a, c) => a + c.reconnects, 0)} ` +
        `(connections ${proxy.accepted}); ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    clients.forEach((c, i) => {
      assert.equal(c.gaps.length, 1, `${c.name}: exactly one gap`);
      assert.equal(String(c.gaps[0].requested), lastBefore, `${c.name}: the gap starts at the last id before the kill`);
      assert.ok(Number(c.gaps[0].earliest) > Number(lastBefore), `${c.name}: ids go on increasing across the restart`);
      assert.deepEqual(
        results[i],
        { received: afterCount, duplicated: 0, missing: 0, firstDiff: null },
        `${c.name}: every event after the restart once, in order`,
      );
    });
  });

  it('control: connections cut by the proxy only, no restart: no gap, every event once, in order', async () => {
    const { server, proxy, clients, before } = await setUp('k');
    const cut = proxy.cutAll();
    assert.equal(cut, clientCount, 'every client connection was cut');
    const afterEvents = await publishRange(server, beforeCount, afterCount);
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
