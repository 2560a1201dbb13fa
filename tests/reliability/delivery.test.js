// Delivery under connection faults: N bridged clients read ssebus-server through a chaos
// proxy that resets, stalls and slows their connections while E events are published; every
// client must receive every event exactly once, in order, with no gap reported.
// SSEBUS_SOAK=1 runs the long form; SSEBUS_CHAOS_SEED=<n> replays a seed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { publish, startServer } from '../support/server.js';
import { sleep, until } from '../support/wait.js';
import { startChaosProxy } from './chaos-proxy.js';
import { compare, eventName, startClients, stopClients } from './clients.js';

const soak = process.env.SSEBUS_SOAK === '1';
const events = Number(process.env.SSEBUS_SOAK_EVENTS) || (soak ? 50_000 : 5_000);
const faults = Number(process.env.SSEBUS_SOAK_FAULTS) || (soak ? 200 : 40);
const clientCount = Number(process.env.SSEBUS_SOAK_CLIENTS) || 20;
const seed = process.env.SSEBUS_CHAOS_SEED ? Number(process.env.SSEBUS_CHAOS_SEED) >>> 0 : undefined;

describe(`delivery through a chaos proxy (${events} events, ${faults} faults, ${clientCount} clients)`, () => {
  let server;
  let proxy;
  let clients = [];
  before(async () => {
    server = await startServer([
      '--quiet',
      '--retry-ms', '10',
      '--heartbeat-ms', '100',
      '--history-size', String(events + 1_000),
    ]);
    proxy = await startChaosProxy(server.port, { seed });
    console.log(`chaos seed ${proxy.seed} (SSEBUS_CHAOS_SEED=${proxy.seed} replays its choices)`);
  });
  after(async () => {
    stopClients(clients);
    await proxy?.close();
    await server?.stop();
  });

  it('every client receives every event exactly once, in order, and no gap', async () => {
    const started = Date.now();
    clients = await startClients(clientCount, proxy.url, 'd');
    await until('every client to open', () => clients.every((c) => c.bridge.state === 'open'));

    const ids = [];
    const ns = [];
    const every = Math.max(1, Math.floor(events / faults));
    let made = 0;
    for (let i = 0; i < events; i++) {
      const r = await publish(server, { event: eventName, data: { n: i } });
      assert.equal(r.status, 202);
      ids.push(String(r.body.id));
      ns.push(i);
      if ((i + 1) % every === 0 && made < faults) {
        const kind = await proxy.fault();
        assert.ok(kind, 'a connection to fault');
        made++;
      }
    }
    while (made < faults) {
      assert.ok(await proxy.fault(), 'a connection to fault');
      made++;
    }

    await until(
      `${events} events at every client`,
      () => clients.every((c) => c.ids.length >= events),
      soak ? 600_000 : 120_000,
    );
    await sleep(300); // a duplicate would arrive now

    const results = clients.map((c) => ({ c, r: compare(c, ids, ns) }));
    const duration = ((Date.now() - started) / 1000).toFixed(1);
    const reconnects = clients.reduce((a, c) => a + c.reconnects, 0);
    console.log(
      `delivery: ${events} events sent; received per client ${results.map(({ r }) => r.received).join('/')}; ` +
        `duplicated ${results.map(({ r }) => r.duplicated).join('/')}; ` +
        `faults ${proxy.faults} (${Object.entries(proxy.counts).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
        `reconnects ${reconnects} (connections ${proxy.accepted}); gaps ${clients.reduce((a, c) => a + c.gaps.length, 0)}; ` +
        `seed ${proxy.seed}; ${duration} s`,
    );

    assert.equal(proxy.faults, faults);
    for (const { c, r } of results) {
      assert.deepEqual(
        { received: r.received, duplicated: r.duplicated, missing: r.missing, firstDiff: r.firstDiff },
        { received: events, duplicated: 0, missing: 0, firstDiff: null },
        `${c.name}: every event once, in order (seed ${proxy.seed})`,
      );
      assert.deepEqual(c.gaps, [], `${c.name}: no gap (seed ${proxy.seed})`);
    }
    assert.ok(reconnects > 0, 'the faults made clients reconnect');
  });
});
