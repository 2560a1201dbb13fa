// The EventBridge in Chromium, through a proxy that balances three ssebus-server instances
// on one Redis, while every instance in turn is stopped (SIGTERM) and started again on its
// port and a publisher keeps publishing through the proxy: the page receives every
// acknowledged event once, in order, with no ssebus:gap.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { big, firstDisorder, publisherPool } from '../support/publisher.js';
import { startRedis } from '../support/redis.js';
import { startServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { sleep, until } from '../support/wait.js';
import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const between = 100; // events acknowledged between two restarts, at least

describe('the EventBridge in Chromium during a rolling restart of three instances', () => {
  let site;
  let browser;
  let redis;
  let proxy;
  const servers = [];
  before(async () => {
    site = await startStaticServer(root, {
      '/': '<!doctype html><title>ssebus cluster</title><link rel="icon" href="data:,">',
    });
    browser = await launchChromium();
    redis = await startRedis();
  });
  after(async () => {
    await proxy?.close();
    for (const server of servers) await server.stop();
    await redis?.stop();
    await browser?.close();
    await site?.close();
  });

  it('every event once, in order, while each instance is restarted in turn', async () => {
    const args = ['--quiet', '--cors-origins', site.url, '--retry-ms', '10', '--heartbeat-ms', '200', '--store', redis.url];
    const running = [];
    for (let i = 0; i < 3; i++) {
      running.push(await startServer(args));
      servers.push(running[i]);
    }
    proxy = await startTcpProxy(running.map((s) => s.port));

    const page = await browser.context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(site.url + '/');
    await page.evaluate(async (url) => {
      const { createEventBus, EventBridge } = await import('/js/index.js');
      const bus = await createEventBus();
      window.seen = { events: [], status: [] };
      bus.on('*', (payload, meta) => {
        if (meta.name.startsWith('ssebus:')) window.seen.status.push({ name: meta.name, payload });
        else window.seen.events.push({ id: meta.id, n: payload.n });
      });
      window.bridge = new EventBridge(bus, { url, reconnect: { initialMs: 10, maxMs: 200, factor: 2, jitter: true } });
      window.bridge.connect();
    }, `${proxy.url}/api/events`);
    await until('the bridge to open', () => page.evaluate(() => window.bridge.state === 'open'));

    // One publisher through the proxy, one request in flight. A request that fails (its
    // instance went away under it) may or may not have been committed: it is `failed`.
    const pool = publisherPool(proxy, { sockets: 1 });
    const acked = [];
    const failed = new Set();
    let stopped = false;
    const publisher = (async () => {
      for (let n = 0; !stopped; n++) {
        const r = await pool.post({ event: 'roll:tick', data: { n } });
        if (r.status === 202) acked.push({ n, id: String(r.body.id) });
        else failed.add(n);
        await sleep(2);
      }
    })();

    try {
      await until('events before the first restart', () => acked.length >= between, 30_000);
      for (let i = 0; i < 3; i++) {
        // The load balancer drains the instance, it stops, and comes back on its port.
        proxy.disable(i);
        const exit = await running[i].stop('SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null }, `instance ${i}: a clean exit`);
        running[i] = await startServer(args, { port: running[i].port });
        servers.push(running[i]);
        await until(`instance ${i} to be ready`, async () => (await fetch(`${running[i].url}/healthz`)).status === 200);
        proxy.enable(i);
        const ackedAtRestart = acked.length;
        await until(`events after restarting instance ${i}`, () => acked.length >= ackedAtRestart + between, 30_000);
      }
    } finally {
      stopped = true;
      await publisher;
      pool.close();
    }
    const lastId = acked.at(-1).id;
    await until('the page to have the last event', async () => page.evaluate((id) => window.seen.events.some((e) => e.id === id), lastId), 60_000);
    await sleep(300); // a duplicate would arrive now
    const { events, status } = await page.evaluate(() => window.seen);
    console.log(
      `rolling restart: ${acked.length} events acknowledged, ${failed.size} publishes failed at a stop; the page received ${events.length}; ` +
        `connections ${proxy.accepted}; status ${[...new Set(status.map((s) => s.name))].join(', ')}`,
    );

    assert.equal(firstDisorder(events.map((e) => e.id)), -1, 'ids strictly increase: in order, no duplicate');
    const byN = new Map(acked.map((a) => [a.n, a.id]));
    for (const e of events) {
      if (byN.has(e.n)) assert.equal(e.id, byN.get(e.n), `event ${e.n} has the id its publisher was given`);
      else assert.ok(failed.has(e.n), `event ${e.n} (id ${e.id}) was never published`);
    }
    const seen = new Set(events.map((e) => e.id));
    assert.deepEqual(acked.filter((a) => !seen.has(a.id)), [], 'every acknowledged event received');
    assert.ok(big(events[0].id) <= big(acked[0].id), 'from the first event on');
    assert.ok(status.some((s) => s.name === 'ssebus:reconnecting'), 'the bridge was moved to another instance');
    assert.ok(!status.some((s) => s.name === 'ssebus:gap'), 'no gap');
    await page.evaluate(() => window.bridge.close());
    assert.deepEqual(problems, []);
    await page.close();
  });
});
