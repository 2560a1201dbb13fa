// crossTab in Chromium: many pages of one origin (one browser context) share one stream
// from a real ssebus-server. One leader holds the Web Lock and relays; every page maps,
// de-duplicates and resumes on its own. Pages load the package from the repository.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { publish, signToken, startServer } from '../support/server.js';
import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';
import { sleep, until } from '../support/wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

// A page with a bus and a bridge; what its bus sees goes to window.seen: events as
// [name, id, payload.n], status events as [name, Date.now(), role], so that a test can
// read them back cheaply.
async function openTab(browser, site, options) {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(site.url + '/');
  await page.evaluate(async (o) => {
    const { createEventBus, EventBridge } = await import('/js/index.js');
    const bus = await createEventBus();
    window.seen = { events: [], status: [] };
    bus.on('*', (payload, meta) => {
      if (meta.name.startsWith('ssebus:')) window.seen.status.push([meta.name, Date.now(), payload?.role]);
      else window.seen.events.push([meta.name, meta.id, payload?.n]);
    });
    const { headersFrom, ...rest } = o;
    window.bridge = new EventBridge(bus, {
      ...rest,
      ...(headersFrom === undefined ? {} : { headers: headersFrom }),
      reconnect: { initialMs: 10, maxMs: 200, factor: 2, jitter: true },
    });
    window.bridge.connect();
  }, { crossTab: true, ...options, headersFrom: options.headers, headers: undefined });
  return { page, problems };
}

const look = (page) =>
  page.evaluate(() => ({ role: window.bridge.role, state: window.bridge.state, count: window.seen.events.length }));
const events = (page) => page.evaluate(() => window.seen.events);
const statuses = (page) => page.evaluate(() => window.seen.status);

async function streams(server) {
  const stats = await (await fetch(`${server.url}/api/events/stats`)).json();
  return stats.clients_by_route['/api/events'] ?? 0;
}

async function settled(tabs) {
  await until('every tab to be open with a role', async () => {
    const all = await Promise.all(tabs.map((t) => look(t.page)));
    return all.every((s) => s.state === 'open') && all.filter((s) => s.role === 'leader').length === 1;
  });
}

async function leaderOf(tabs) {
  for (const t of tabs) if ((await look(t.page)).role === 'leader') return t;
  return null;
}

async function publishTicks(server, from, count, name = 'load:tick', extra = {}) {
  const ids = [];
  for (let i = from; i < from + count; i++) {
    const r = await publish(server, { event: name, data: { n: i }, ...extra });
    assert.equal(r.status, 202);
    ids.push(String(r.body.id));
  }
  return ids;
}

// A fetch from the page, or 'hung' when it has not answered after `ms`.
const plainFetch = (page, url, ms) =>
  page.evaluate(
    ({ url, ms }) =>
      Promise.race([
        fetch(url, { cache: 'no-store' }).then((r) => r.status),
        new Promise((resolve) => setTimeout(() => resolve('hung'), ms)),
      ]),
    { url, ms },
  );

async function closeAll(tabs) {
  for (const t of tabs) if (!t.page.isClosed()) await t.page.close();
}

describe('crossTab: one stream for every tab of the browser', () => {
  let site;
  let browser;
  let server;
  before(async () => {
    site = await startStaticServer(root, {
      '/': '<!doctype html><title>ssebus tabs</title><link rel="icon" href="data:,">',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });

  it('eight pages, one stream: every page gets a 1,000-event burst once, in order, under its own names', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 8; i++) tabs.push(await openTab(browser, site, { url, map: { 'load:tick': `tick_${i}` } }));
      await settled(tabs);
      assert.equal(await streams(server), 1, 'one /api/events stream for eight pages');
      const roles = await Promise.all(tabs.map(async (t) => (await look(t.page)).role));
      assert.deepEqual(roles.filter((r) => r === 'follower').length, 7);

      const ids = await publishTicks(server, 0, 1000);
      await until('1,000 events in every page', async () =>
        (await Promise.all(tabs.map((t) => look(t.page)))).every((s) => s.count >= 1000),
      );
      await sleep(200); // a duplicate would arrive now
      for (let i = 0; i < tabs.length; i++) {
        const seen = await events(tabs[i].page);
        assert.equal(seen.length, 1000, `page ${i}: every event once`);
        assert.deepEqual(seen.map((e) => e[1]), ids, `page ${i}: in order`);
        assert.ok(seen.every((e, n) => e[0] === `tick_${i}` && e[2] === n), `page ${i}: its own names`);
        const open = (await statuses(tabs[i].page)).filter((s) => s[0] === 'ssebus:open');
        assert.equal(open.length, 1, `page ${i}: ssebus:open once`);
      }
      assert.equal(await streams(server), 1);
      // The browser's six connections per host are not used up: a plain fetch answers.
      assert.equal(await plainFetch(tabs[7].page, `${server.url}/api/events/stats`, 5000), 200);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
    }

    // The same eight pages without crossTab: six streams take the six connections, and the
    // eighth page's plain fetch waits for one.
    const solo = [];
    try {
      for (let i = 0; i < 8; i++) solo.push(await openTab(browser, site, { url, crossTab: false }));
      await until('six streams', async () => (await streams(server)) === 6);
      const states = await Promise.all(solo.map(async (t) => (await look(t.page)).state));
      assert.equal(states.filter((s) => s === 'open').length, 6);
      assert.equal(await plainFetch(solo[7].page, `${server.url}/api/events/stats`, 3000), 'hung');
    } finally {
      await closeAll(solo);
      await server.stop();
    }
  });
});
