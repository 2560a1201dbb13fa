// The EventBridge in Chromium against a real ssebus-server, through a TCP proxy that the
// test can cut: translated events, every event exactly once and in order across 100 cuts,
// and a server killed and restarted.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { publish, startServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';
import { sleep, until } from '../support/wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

// A page with a bus and a bridge to `url`; it records what the bus sees in window.seen.
async function openBridgePage(browser, site, url, map = {}) {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(site.url + '/');
  await page.evaluate(
    async ({ url, map }) => {
      const { createEventBus, EventBridge } = await import('/js/index.js');
      const bus = await createEventBus();
      window.seen = { events: [], status: [] };
      bus.on('*', (payload, meta) => {
        if (meta.name.startsWith('ssebus:')) window.seen.status.push({ name: meta.name, payload });
        else window.seen.events.push({ name: meta.name, id: meta.id, serverEvent: meta.serverEvent, payload });
      });
      window.bridge = new EventBridge(bus, {
        url,
        map,
        reconnect: { initialMs: 10, maxMs: 200, factor: 2, jitter: true },
      });
      window.bridge.connect();
    },
    { url, map },
  );
  await until('the bridge to open', () => page.evaluate(() => window.bridge.state === 'open'));
  return { page, problems };
}

const eventCount = (page) => page.evaluate(() => window.seen.events.length);

describe('the EventBridge in Chromium against ssebus-server', () => {
  let site;
  let browser;
  before(async () => {
    site = await startStaticServer(root, {
      '/': '<!doctype html><title>ssebus bridge</title><link rel="icon" href="data:,">',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });

  it('delivers server events to the bus under their translated names', async () => {
    const server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    try {
      const { page, problems } = await openBridgePage(browser, site, `${server.url}/api/events`, {
        'video:created': ['video_created', 'refresh:list:view'],
      });
      const a = await publish(server, { event: 'video:created', data: { videoId: 'v1' } });
      const b = await publish(server, { event: 'video:status:ready', data: { videoId: 'v1' } });
      await until('three bus events', async () => (await eventCount(page)) >= 3);
      const seen = await page.evaluate(() => window.seen);
      assert.deepEqual(seen.events, [
        { name: 'video_created', id: String(a.body.id), serverEvent: 'video:created', payload: { videoId: 'v1' } },
        { name: 'refresh:list:view', id: String(a.body.id), serverEvent: 'video:created', payload: { videoId: 'v1' } },
        { name: 'video_status_ready', id: String(b.body.id), serverEvent: 'video:status:ready', payload: { videoId: 'v1' } },
      ]);
      assert.equal(seen.status[0].name, 'ssebus:open');
      await page.evaluate(() => window.bridge.close());
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it('receives 10,000 events exactly once and in order while the connection is cut 100 times', async () => {
    const server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '10', '--history-size', '20000']);
    const proxy = await startTcpProxy(server.port);
    try {
      const { page, problems } = await openBridgePage(browser, site, `${proxy.url}/api/events`);
      const total = 10_000;
      const cuts = 100;
      const ids = [];
      let cut = 0;
      for (let i = 0; i < total; i++) {
        const r = await publish(server, { event: 'load:tick', data: { n: i } });
        assert.equal(r.status, 202);
        ids.push(String(r.body.id));
        if ((i + 1) % (total / cuts) === 0) {
          // Cut only a connection that exists, so that every cut is a real one.
          await until('the bridge to reconnect', () => proxy.open > 0, 10_000);
          cut += proxy.cutAll();
        }
      }
      await until(`${total} events`, async () => (await eventCount(page)) >= total, 120_000);
      await sleep(200); // anything extra (a duplicate) would arrive now
      const seen = await page.evaluate(() => window.seen.events.map((e) => ({ id: e.id, n: e.payload.n })));
      assert.equal(cut, cuts, 'every cut hit an open connection');
      assert.ok(proxy.accepted > cuts, `the bridge reconnected after every cut (${proxy.accepted} connections)`);
      assert.equal(seen.length, total, 'no event lost, none duplicated');
      assert.deepEqual(
        seen.map((e) => e.id),
        ids,
        'in order',
      );
      assert.deepEqual(
        seen.map((e) => e.n),
        ids.map((_, i) => i),
      );
      const status = await page.evaluate(() => window.seen.status.map((s) => s.name));
      assert.ok(status.includes('ssebus:reconnecting'));
      assert.ok(!status.includes('ssebus:gap'), 'the history covered every cut');
      await page.evaluate(() => window.bridge.close());
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await proxy.close();
      await server.stop();
    }
  });

  it('reconnects to a restarted server, reports the gap, and receives what follows', async () => {
    let server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '10']);
    const port = server.port;
    try {
      const { page, problems } = await openBridgePage(browser, site, `${server.url}/api/events`);
      await publish(server, { event: 'before', data: 1 });
      await until('the event before the kill', async () => (await eventCount(page)) >= 1);

      await server.stop('SIGKILL');
      await publish(server, { event: 'lost', data: 0 }).catch(() => {}); // nobody is there
      await until('the bridge to notice', () =>
        page.evaluate(() => window.seen.status.some((s) => s.name === 'ssebus:reconnecting')),
      );
      server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '10'], { port });
      await until('the gap notice', () => page.evaluate(() => window.seen.status.some((s) => s.name === 'ssebus:gap')));

      const after = [];
      for (let i = 0; i < 50; i++) after.push(String((await publish(server, { event: 'after', data: i })).body.id));
      await until('every event after the restart', async () => (await eventCount(page)) >= 51);
      const seen = await page.evaluate(() => window.seen);
      assert.deepEqual(
        seen.events.map((e) => e.name),
        ['before', ...after.map(() => 'after')],
      );
      assert.deepEqual(
        seen.events.slice(1).map((e) => e.id),
        after,
      );
      const gap = seen.status.find((s) => s.name === 'ssebus:gap');
      assert.equal(String(gap.payload.requested), seen.events[0].id);
      assert.ok(Number(gap.payload.earliest) > Number(seen.events[0].id));
      await page.evaluate(() => window.bridge.close());
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it("localStorage.debug = 'ssebus:*' turns debugging on, read at connect time and not at import", async () => {
    const server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const page = await browser.context.newPage();
    try {
      await page.goto(site.url + '/');
      const url = `${server.url}/api/events`;
      const reads = await page.evaluate(async (url) => {
        const getItem = Storage.prototype.getItem;
        const reads = [];
        const lines = [];
        // What the console prints: the format filled in with the arguments.
        console.debug = (format, ...args) => lines.push(format.replace(/%[sd]/g, () => String(args.shift())));
        Storage.prototype.getItem = function (key) {
          reads.push(key);
          return getItem.call(this, key);
        };
        const { createEventBus, EventBridge } = await import('/js/index.js');
        const afterImport = reads.length;
        const bus = await createEventBus();
        // Off: a connection made without the setting logs nothing.
        const quiet = new EventBridge(bus, { url }).connect();
        await new Promise((resolve) => bus.once('ssebus:open', resolve));
        quiet.close();
        localStorage.debug = 'ssebus:*';
        window.bridge = new EventBridge(bus, { url }).connect();
        await new Promise((resolve) => bus.once('ssebus:open', resolve));
        window.bridge.close();
        delete localStorage.debug;
        return { afterImport, keys: reads, lines };
      }, url);
      const lines = reads.lines;
      assert.equal(reads.afterImport, 0, 'importing read no storage');
      assert.deepEqual(reads.keys, ['debug', 'debug'], 'one read per connection');
      assert.ok(lines.length > 0, 'debug lines');
      assert.ok(lines.every((line) => line.startsWith(`ssebus:bridge ${url} `)), lines.join('\n'));
      assert.ok(lines.some((line) => /state connecting -> open/.test(line)), lines.join('\n'));
    } finally {
      await page.close();
      await server.stop();
    }
  });
});
