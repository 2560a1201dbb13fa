// crossTab in Chromium: many pages of one origin (one browser context) share one stream
// from a real ssebus-server. One leader holds the Web Lock and relays; every page maps,
// de-duplicates and resumes on its own. Pages load the package from the repository.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import react from '@vitejs/plugin-react';
import { build } from 'vite';

import { publish, startServer } from '../support/server.js';
import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';
import { sleep, until } from '../support/wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./react-fixture/', import.meta.url));
const pkg = (file) => fileURLToPath(new URL(`../../js/${file}`, import.meta.url));

// The React fixture (react-fixture/), a development build so that StrictMode double-invokes.
async function buildFixture(outDir) {
  await build({
    configFile: false,
    root: fixture,
    mode: 'development',
    logLevel: 'warn',
    plugins: [react()],
    resolve: {
      alias: [
        { find: /^ssebus\/react$/, replacement: pkg('react.js') },
        { find: /^ssebus$/, replacement: pkg('index.js') },
      ],
    },
    build: { outDir, emptyOutDir: true, minify: false },
  });
}

// A page with a bus and a bridge; what its bus sees goes to window.seen: events as
// [name, id, payload.n], status events as [name, Date.now(), role], so that a test can
// read them back cheaply.
async function openTab(browser, site, { init, ...options }) {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  if (init !== undefined) await page.addInitScript(init);
  await page.goto(site.url + '/');
  await page.evaluate(async (o) => {
    const { createEventBus, EventBridge } = await import('/js/index.js');
    const bus = await createEventBus();
    window.seen = { events: [], status: [] };
    bus.on('*', (payload, meta) => {
      if (meta.name.startsWith('ssebus:')) {
        window.seen.status.push([meta.name, Date.now(), meta.name === 'ssebus:gap' ? payload : payload?.role]);
      }
      else window.seen.events.push([meta.name, meta.id, payload?.n]);
    });
    const { headersFrom, ...rest } = o;
    window.bridge = new EventBridge(bus, {
      ...rest,
      ...(headersFrom === undefined ? {} : { headers: headersFrom }),
      reconnect: rest.reconnect ?? { initialMs: 10, maxMs: 200, factor: 2, jitter: true },
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
      '/other': '<!doctype html><title>another page</title><link rel="icon" href="data:,">',
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
      const [sentinel] = await publishTicks(server, 1000, 1); // a duplicate would arrive before it
      await until('the sentinel in every page', async () =>
        (await Promise.all(tabs.map((t) => events(t.page)))).every((seen) => seen.some((e) => e[1] === sentinel)),
      );
      for (let i = 0; i < tabs.length; i++) {
        const seen = (await events(tabs[i].page)).filter((e) => e[1] !== sentinel);
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

  // The ids every page must have seen, in order, none twice, whatever happened to the leader.
  // A sentinel event published last, once all are in, bounds the wait for a duplicate: one
  // would arrive before it. `last` publishes it and returns its id (by default on `server`).
  const sentinels = new Set();
  async function assertEveryPageSaw(tabs, ids, what, last = async () => (await publishTicks(server, -1, 1))[0]) {
    try {
      await until(`${ids.length} events in every page`, async () =>
        (await Promise.all(tabs.map((t) => look(t.page)))).every((s) => s.count >= ids.length),
      30_000);
      const sentinel = await last();
      sentinels.add(sentinel);
      await until('the sentinel in every page', async () =>
        (await Promise.all(tabs.map((t) => events(t.page)))).every((seen) => seen.some((e) => e[1] === sentinel)),
      30_000);
    } catch (error) {
      const seen = await Promise.all(tabs.map((t) => look(t.page)));
      throw new Error(`${what}: ${error.message}; the pages have ${JSON.stringify(seen)}`);
    }
    for (let i = 0; i < tabs.length; i++) {
      const seen = (await events(tabs[i].page)).map((e) => e[1]).filter((id) => !sentinels.has(id));
      assert.deepEqual(seen, ids, `${what}: page ${i} saw every event once, in order`);
    }
  }

  function burst(server, count, perSecond, from = 0) {
    const ids = [];
    const done = (async () => {
      const start = Date.now();
      for (let i = 0; i < count; i++) {
        const r = await publish(server, { event: 'load:tick', data: { n: from + i } });
        assert.equal(r.status, 202);
        ids.push(String(r.body.id));
        const due = start + ((i + 1) * 1000) / perSecond;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      return ids;
    })();
    return { ids, done };
  }

  it('in a page, bridges still share one connection per URL (ref-counted), with crossTab as without', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      tabs.push(await openTab(browser, site, { url }));
      tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      // Two more bridges in the second page, on buses of their own, with other names.
      const page = tabs[1].page;
      await page.evaluate(async (u) => {
        const { createEventBus, EventBridge } = await import('/js/index.js');
        window.more = [];
        for (const name of ['first', 'second']) {
          const bus = await createEventBus();
          const seen = [];
          bus.on(name, (payload, meta) => seen.push(meta.id));
          const bridge = new EventBridge(bus, { url: u, map: { 'load:tick': name }, crossTab: true }).connect();
          window.more.push({ bridge, seen });
        }
      }, url);
      await until('the two bridges open', () => page.evaluate(() => window.more.every((m) => m.bridge.state === 'open')));
      assert.equal(await streams(server), 1);
      const first = await publishTicks(server, 0, 5);
      await until('both buses', () => page.evaluate(() => window.more.every((m) => m.seen.length === 5)));
      // Closing the page's first bridge leaves the others on the same connection.
      await page.evaluate(() => window.bridge.close());
      const second = await publishTicks(server, 5, 5);
      await until('both buses again', () => page.evaluate(() => window.more.every((m) => m.seen.length === 10)));
      assert.deepEqual(await page.evaluate(() => window.more.map((m) => m.seen)), [
        [...first, ...second],
        [...first, ...second],
      ]);
      assert.equal((await look(page)).count, 5, 'the closed bridge got nothing more');
      await assertEveryPageSaw([tabs[0]], [...first, ...second], 'the other page');
      assert.equal(await streams(server), 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('the leader closed three times during a 100 events/s burst: no gap, no duplicate in any page', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 5; i++) tabs.push(await openTab(browser, site, { url, map: { 'load:tick': `tick_${i}` } }));
      await settled(tabs);
      const b = burst(server, 400, 100);
      const handoffs = [];
      for (let round = 0; round < 3; round++) {
        await sleep(800);
        const leader = await leaderOf(tabs);
        assert.ok(leader, 'a leader');
        const rest = tabs.filter((t) => t !== leader);
        assert.ok(b.ids.length < 400, `the burst is still under way at close ${round + 1} (${b.ids.length} of 400 published)`);
        const closedAt = Date.now();
        await leader.page.close();
        tabs.splice(tabs.indexOf(leader), 1);
        const next = await until('a new leader with an open stream', async () => {
          for (const t of rest) {
            const s = await statuses(t.page);
            const led = s.find((x) => x[0] === 'ssebus:role' && x[2] === 'leader' && x[1] >= closedAt);
            const opened = led && s.find((x) => x[0] === 'ssebus:open' && x[1] >= led[1]);
            if (opened) return { led: led[1] - closedAt, open: opened[1] - closedAt };
          }
          return null;
        });
        handoffs.push(next);
      }
      const ids = await b.done;
      console.log(
        `# hand-off (page closed -> new leader, -> its stream open): ${handoffs
          .map((h) => `${h.led} ms, ${h.open} ms`)
          .join('; ')}`,
      );
      await assertEveryPageSaw(tabs, ids, 'after three hand-offs');
      assert.equal(await streams(server), 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  // Chromium fires `freeze`, then runs no task of the page until it resumes. Headless
  // Chromium keeps every page visible and does not honour Page.setWebLifecycleState, so the
  // test asks for it and also does what it does: the event, then the debugger pausing the
  // page's script (no timer, no message, no stream read) until `resume`.
  // With { event: false }, no `freeze` event: the page stops before it could hand off (as
  // when the event's task never ran), so the others must take over on their own.
  async function freeze(page, { event = true } = {}) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    await page.evaluate((dispatch) => {
      if (dispatch) document.dispatchEvent(new Event('freeze'));
      setInterval(() => {}, 20); // something to run, for the debugger to stop at
    }, event);
    await cdp.send('Debugger.enable');
    const paused = new Promise((resolve) => cdp.once('Debugger.paused', resolve));
    await cdp.send('Debugger.pause');
    await paused;
    return async () => {
      await cdp.send('Debugger.resume');
      await cdp.send('Debugger.disable');
      await cdp.send('Page.setWebLifecycleState', { state: 'active' });
      await page.evaluate(() => document.dispatchEvent(new Event('resume')));
      await cdp.detach();
    };
  }

  it('a frozen leader that could not hand off: a follower takes over within leaderTimeoutMs; unfrozen, it steps down, and no page gets a duplicate', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const leaderTimeoutMs = 1500;
    // A follower checks every quarter of leaderTimeoutMs; the lock's steal and the status
    // reaching the test take some more: 1 s of slack for a busy machine.
    const bound = leaderTimeoutMs + leaderTimeoutMs / 4 + 1000;
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url, crossTab: { leaderTimeoutMs } }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const rest = tabs.filter((t) => t !== leader);
      const b = burst(server, 300, 100);
      await until('the burst under way', () => b.ids.length >= 30);
      const frozenAt = Date.now();
      const unfreeze = await freeze(leader.page, { event: false });
      const took = await until(
        `a follower to lead within ${bound} ms`,
        async () => {
          for (const t of rest) {
            const s = await statuses(t.page);
            const led = s.find((x) => x[0] === 'ssebus:role' && x[2] === 'leader');
            if (led) return led[1] - frozenAt;
          }
          return null;
        },
        bound,
      );
      console.log(`# frozen leader (no hand-off) replaced after ${took} ms (leaderTimeoutMs ${leaderTimeoutMs})`);
      assert.ok(b.ids.length < 300, 'the burst is still under way when the old leader comes back');
      const unfrozenAt = Date.now();
      await unfreeze();
      await until('the old leader to step down', async () =>
        (await statuses(leader.page)).some((x) => x[0] === 'ssebus:role' && x[2] === 'follower' && x[1] >= unfrozenAt),
      );
      const ids = await b.done;
      await assertEveryPageSaw(tabs, ids, 'after a freeze');
      assert.equal((await Promise.all(tabs.map((t) => look(t.page)))).filter((s) => s.role === 'leader').length, 1);
      await until('one stream', async () => (await streams(server)) === 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a frozen leader that hands off on freeze: a follower leads at once; unfrozen, it follows, and no page gets a duplicate', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const rest = tabs.filter((t) => t !== leader);
      const b = burst(server, 200, 100);
      await until('the burst under way', () => b.ids.length >= 30);
      const unfreeze = await freeze(leader.page);
      await until('a follower to lead', async () => {
        for (const t of rest) if ((await look(t.page)).role === 'leader') return true;
        return false;
      });
      await unfreeze();
      await until('the old leader to follow', async () => (await look(leader.page)).role === 'follower');
      const ids = await b.done;
      await assertEveryPageSaw(tabs, ids, 'after a freeze with a hand-off');
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a leader that goes into the back/forward cache hands off; back, it follows and gets what it missed', async () => {
    // Playwright turns the cache off by default; this browser has it.
    const cached = await launchChromium({ ignoreDefaultArgs: ['--disable-back-forward-cache'] });
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 2; i++) tabs.push(await openTab(cached, site, { url }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const other = tabs.find((t) => t !== leader);
      // It leaves before any event: it has no id to say where it was, only when it left.
      const before = [];
      await leader.page.goto(site.url + '/other');
      await until('the other page to lead', async () => (await look(other.page)).role === 'leader');
      const away = await publishTicks(server, 0, 5);
      await leader.page.goBack({ waitUntil: 'commit' }); // a page from the cache fires no load
      await until('the page back from the cache, following', () =>
        leader.page.evaluate(() => window.bridge?.role === 'follower'),
      );
      const after = await publishTicks(server, 5, 5);
      await assertEveryPageSaw(tabs, [...before, ...away, ...after], 'after the back/forward cache');
      assert.equal(await streams(server), 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
      await cached.close();
    }
  });

  it('a hung leader: a follower steals the lock; the old one, running again, steps down and delivers nothing twice', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const leaderTimeoutMs = 1000;
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url, crossTab: { leaderTimeoutMs } }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const rest = tabs.filter((t) => t !== leader);
      const b = burst(server, 300, 100);
      await sleep(500);
      // Its script busy for 3 s, with no freeze event: no timer, no message, no stream read.
      const hungAt = Date.now();
      await leader.page.evaluate(() => {
        setTimeout(() => {
          const end = Date.now() + 3000;
          while (Date.now() < end);
        }, 0);
      });
      const took = await until('a follower to lead', async () => {
        for (const t of rest) {
          const led = (await statuses(t.page)).find((x) => x[0] === 'ssebus:role' && x[2] === 'leader');
          if (led) return led[1] - hungAt;
        }
        return null;
      });
      console.log(`# hung leader replaced after ${took} ms (leaderTimeoutMs ${leaderTimeoutMs})`);
      await until('the old leader to follow', async () => (await look(leader.page)).role === 'follower');
      const ids = await b.done;
      await assertEveryPageSaw(tabs, ids, 'after a hang');
      await until('one stream', async () => (await streams(server)) === 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a tab opened during a burst gets every event published after it connected, once, in order', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 2; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      const b = burst(server, 400, 400);
      await until('the burst under way', () => b.ids.length >= 50);
      const late = await openTab(browser, site, { url });
      // Publishing is sequential: at most one publish was under way when connect() returned.
      const cut = b.ids.length + 1;
      tabs.push(late);
      const ids = await b.done;
      await assertEveryPageSaw(tabs.slice(0, 2), ids, 'the first pages');
      const [end] = await publishTicks(server, 400, 1, 'load:end'); // published last: nothing else can follow
      await until('the last event in the late page', async () => (await events(late.page)).some((e) => e[1] === end));
      const seen = (await events(late.page)).map((e) => e[1]).filter((id) => id !== end && !sentinels.has(id));
      const first = ids.indexOf(seen[0]);
      assert.ok(first !== -1 && first <= cut, `the late page has every event after its connect() (first at ${first}, cut ${cut})`);
      assert.deepEqual(seen, ids.slice(first), 'none missing, none twice, in order');
      assert.equal((await look(late.page)).role, 'follower');
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a tab that comes back after more than the 1,000 events others keep gets ssebus:gap, then what they kept', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 2; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const other = tabs.find((t) => t !== leader);
      const head = await publishTicks(server, 0, 5);
      await assertEveryPageSaw(tabs, head, 'before');
      const lastBefore = await other.page.evaluate(() => window.bridge.lastEventId);
      await other.page.evaluate(() => window.bridge.close());
      const away = await publishTicks(server, 5, 1100);
      await until('the leader has every event', async () => (await look(leader.page)).count >= 1105);
      await other.page.evaluate(() => window.bridge.connect());
      const tail = await publishTicks(server, 1105, 1, 'load:end'); // published last
      await until('the last event in the page that came back', async () =>
        (await events(other.page)).some((e) => e[1] === tail[0]),
      );
      assert.equal((await look(other.page)).role, 'follower');
      const gaps = (await statuses(other.page)).filter((x) => x[0] === 'ssebus:gap');
      assert.equal(gaps.length, 1, 'one ssebus:gap');
      const seen = (await events(other.page)).map((e) => e[1]).filter((id) => !sentinels.has(id));
      assert.deepEqual(seen.slice(0, 5), head);
      const rest = seen.slice(5);
      const first = away.indexOf(rest[0]);
      assert.ok(first > 0, 'it missed the oldest events of its absence');
      assert.deepEqual(rest, [...away.slice(first), ...tail], 'then every event kept, once, in order');
      assert.deepEqual(gaps[0][2], { requested: Number(lastBefore), earliest: Number(away[first]) });
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a stale claim to lead (a tab of an older leadership saying L) changes no role and loses no event', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      const before = await Promise.all(tabs.map(async (t) => (await statuses(t.page)).filter((x) => x[0] === 'ssebus:role')));
      const other = tabs.find((t) => t !== leader);
      await other.page.evaluate(async () => {
        const held = (await navigator.locks.query()).held.find((l) => l.name.startsWith('ssebus:'));
        const channel = new BroadcastChannel(held.name);
        channel.postMessage({ from: 'an-old-leader', epoch: 0, list: [['L'], ['e', 'load:tick', '{"n":-1}', '999999', Date.now()]] });
        channel.close();
      });
      const ids = await publishTicks(server, 0, 20);
      await assertEveryPageSaw(tabs, ids, 'after a stale L');
      const after = await Promise.all(tabs.map(async (t) => (await statuses(t.page)).filter((x) => x[0] === 'ssebus:role')));
      assert.deepEqual(after, before, 'no role changed');
      assert.equal((await look(leader.page)).role, 'leader');
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a bridge closed by its own ssebus:role listener as it becomes leader opens no stream', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      const page = await browser.context.newPage();
      tabs.push({ page, problems: [] });
      page.on('pageerror', (e) => tabs[0].problems.push(e.message));
      await page.goto(site.url + '/');
      await page.evaluate(async (u) => {
        const { createEventBus, EventBridge } = await import('/js/index.js');
        const bus = await createEventBus();
        const bridge = new EventBridge(bus, { url: u, crossTab: true });
        window.bridge = bridge;
        bus.on('ssebus:role', (p) => {
          if (p.role === 'leader') bridge.close();
        });
        bridge.connect();
      }, url);
      await until('the bridge closed', () => page.evaluate(() => window.bridge.state === 'closed'));
      // Another page leads now; a stream opened for the closed bridge would be a second one.
      tabs.push(await openTab(browser, site, { url }));
      await until('the other page open, leading', async () => {
        const s = await look(tabs[1].page);
        return s.state === 'open' && s.role === 'leader';
      });
      const ids = await publishTicks(server, 0, 3);
      await until('the events in the other page', async () => (await look(tabs[1].page)).count >= 3);
      assert.deepEqual((await events(tabs[1].page)).map((e) => e[1]), ids);
      assert.equal(await streams(server), 1, 'only the open bridge has a stream');
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('close() in every page releases the group: no lock held or waited for', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    const group = (page) =>
      page.evaluate(async () => {
        const q = await navigator.locks.query();
        const mine = (list) => list.filter((l) => l.name.startsWith('ssebus:')).length;
        return { held: mine(q.held), pending: mine(q.pending) };
      });
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      assert.deepEqual(await group(tabs[0].page), { held: 1, pending: 2 }, 'a leader, two in the queue');
      for (const t of tabs) await t.page.evaluate(() => window.bridge.close());
      await until('no lock of the group held or pending', async () => {
        const g = await group(tabs[0].page);
        return g.held === 0 && g.pending === 0;
      });
      await until('no stream', async () => (await streams(server)) === 0);
      for (const t of tabs) assert.equal((await look(t.page)).role, 'solo');
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a tab that joins while the leader is reconnecting shows the leader\'s last error and reconnecting at once', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    // The leader's next attempt is 20 s away: no live status can reach the joining tab before it.
    const reconnect = { initialMs: 20000, maxMs: 20000, factor: 1, jitter: false };
    const tabs = [];
    try {
      for (let i = 0; i < 2; i++) tabs.push(await openTab(browser, site, { url, reconnect }));
      await settled(tabs);
      const leader = await leaderOf(tabs);
      await server.stop();
      await until('the leader reconnecting', async () =>
        (await statuses(leader.page)).some((x) => x[0] === 'ssebus:reconnecting'),
      );
      const late = await openTab(browser, site, { url, reconnect });
      tabs.push(late);
      await until('the joining tab to show the error and the reconnecting', async () => {
        const names = (await statuses(late.page)).map((x) => x[0]);
        return names.includes('ssebus:error') && names.includes('ssebus:reconnecting');
      }, 10_000);
      const s = await look(late.page);
      assert.equal(s.role, 'follower');
      assert.equal(s.state, 'connecting');
      assert.ok(!(await statuses(late.page)).some((x) => x[0] === 'ssebus:open'), 'never open');
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
    }
  });

  it('two groups (different Authorization): two streams, and neither sees the other\'s events', async () => {
    // An endpoint that answers by the Authorization header: alice's stream has ids 1..,
    // bob's 101.., so that an event of the other group would show.
    const open = { alice: [], bob: [] };
    const sse = await startStaticServer(root, { '/': '<!doctype html><title>ssebus tabs</title><link rel="icon" href="data:,">' }, (req, res, path) => {
      if (path !== '/sse/events') return false;
      const who = req.headers.authorization === 'Bearer alice' ? 'alice' : 'bob';
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      open[who].push(res);
      res.on('close', () => open[who].splice(open[who].indexOf(res), 1));
      return true;
    });
    const url = `${sse.url}/sse/events`;
    const a = [];
    const bs = [];
    try {
      for (let i = 0; i < 3; i++) a.push(await openTab(browser, sse, { url, headers: { Authorization: 'Bearer alice' } }));
      for (let i = 0; i < 2; i++) bs.push(await openTab(browser, sse, { url, headers: { Authorization: 'Bearer bob' } }));
      await settled(a);
      await settled(bs);
      assert.equal(open.alice.length, 1, "one stream for alice's three pages");
      assert.equal(open.bob.length, 1, "one stream for bob's two pages");
      const send = (who, first) => {
        const ids = [];
        for (let n = first; n < first + 20; n++) {
          open[who][0].write(`id: ${n}\nevent: load:tick\ndata: {"n":${n}}\n\n`);
          ids.push(String(n));
        }
        return ids;
      };
      const toAlice = send('alice', 1);
      const toBob = send('bob', 101);
      const last = (who, id) => async () => {
        open[who][0].write(`id: ${id}\nevent: load:tick\ndata: {"n":-1}\n\n`);
        return String(id);
      };
      await assertEveryPageSaw(a, toAlice, 'alice', last('alice', 99));
      await assertEveryPageSaw(bs, toBob, 'bob', last('bob', 199));
      for (const t of [...a, ...bs]) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll([...a, ...bs]);
      await sse.close();
    }
  });

  it('an event larger than what a tab keeps for others (1 MiB of data) and the events after it reach every page', async () => {
    const open = [];
    const sse = await startStaticServer(root, { '/': '<!doctype html><title>ssebus tabs</title><link rel="icon" href="data:,">' }, (req, res, path) => {
      if (path !== '/sse/events') return false;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      open.push(res);
      return true;
    });
    const tabs = [];
    try {
      for (let i = 0; i < 2; i++) tabs.push(await openTab(browser, sse, { url: `${sse.url}/sse/events` }));
      await settled(tabs);
      assert.equal(open.length, 1);
      const big = JSON.stringify({ n: 0, pad: 'x'.repeat((1 << 20) + 10) });
      open[0].write(`id: 1\nevent: load:tick\ndata: ${big}\n\n`);
      for (let n = 2; n <= 5; n++) open[0].write(`id: ${n}\nevent: load:tick\ndata: {"n":${n - 1}}\n\n`);
      await assertEveryPageSaw(tabs, ['1', '2', '3', '4', '5'], 'a large event', async () => {
        open[0].write('id: 6\nevent: load:tick\ndata: {"n":-1}\n\n');
        return '6';
      });
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await sse.close();
    }
  });

  it('every tab shows the leader\'s status; reconnect() in a follower, close() in a follower and in the leader', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const port = server.port;
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url }));
      await settled(tabs);
      const names = async (t) => (await statuses(t.page)).map((x) => x[0]);

      // The server goes away and comes back: every tab hears the error, the reconnecting and the open.
      await server.stop();
      await until('every tab to hear the failure', async () =>
        (await Promise.all(tabs.map(names))).every((n) => n.includes('ssebus:error') && n.includes('ssebus:reconnecting')),
      );
      for (const t of tabs) assert.equal((await look(t.page)).state, 'connecting');
      server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20'], { port });
      await until('every tab open again', async () =>
        (await Promise.all(tabs.map(names))).every((n) => n.filter((x) => x === 'ssebus:open').length === 2),
      );
      const before = (await (await fetch(`${server.url}/api/events/stats`)).json()).connections_total;

      // reconnect() in a follower: the leader reconnects, for every tab.
      const leader = await leaderOf(tabs);
      const [f1, f2] = tabs.filter((t) => t !== leader);
      await f1.page.evaluate(() => window.bridge.reconnect());
      await until('a new connection', async () =>
        (await (await fetch(`${server.url}/api/events/stats`)).json()).connections_total > before,
      );
      assert.equal((await look(f1.page)).role, 'follower');

      // close() in a follower leaves only that tab.
      await f1.page.evaluate(() => window.bridge.close());
      assert.equal((await look(f1.page)).state, 'closed');
      const first = await publishTicks(server, 0, 10);
      await assertEveryPageSaw([leader, f2], first, 'after a follower closed');
      assert.equal((await look(f1.page)).count, 0, 'the closed tab receives nothing');
      assert.equal(await streams(server), 1);

      // close() in the leader hands off to the tab that is left.
      await leader.page.evaluate(() => window.bridge.close());
      await until('the follower to lead', async () => (await look(f2.page)).role === 'leader');
      const second = await publishTicks(server, 10, 10);
      await assertEveryPageSaw([f2], [...first, ...second], 'after the leader closed');
      assert.equal((await look(leader.page)).count, 11, 'the closed leader receives nothing more (10 and a sentinel)');
      await until('one stream', async () => (await streams(server)) === 1);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  });

  it('a leader that gives up (reconnect.maxAttempts): every tab gives up with it', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const tabs = [];
    try {
      const reconnect = { initialMs: 10, maxMs: 20, maxAttempts: 2 };
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, site, { url, reconnect }));
      await settled(tabs);
      await server.stop();
      await until('every tab to close', async () =>
        (await Promise.all(tabs.map((t) => look(t.page)))).every((s) => s.state === 'closed'),
      );
      for (const t of tabs) {
        const s = await t.page.evaluate(() => window.seen.status.map((x) => x[0]));
        assert.equal(s.at(-1), 'ssebus:closed');
        assert.equal(s.filter((x) => x === 'ssebus:closed').length, 1);
        assert.equal((await look(t.page)).role, 'solo', 'a closed bridge is solo');
      }
    } finally {
      await closeAll(tabs);
    }
  });

  // `count` pages whose init script takes cross-tab sharing away: each is solo, with its
  // own stream, and receives `events` ticks. Stops the server.
  async function assertSoloPages(url, init, count, events, label) {
    const tabs = [];
    try {
      for (let i = 0; i < count; i++) tabs.push(await openTab(browser, site, { url, init, map: { 'load:tick': `t${i}` } }));
      await until('every page open', async () =>
        (await Promise.all(tabs.map((t) => look(t.page)))).every((s) => s.state === 'open'),
      );
      for (const t of tabs) {
        assert.equal((await look(t.page)).role, 'solo');
        const s = await statuses(t.page);
        assert.deepEqual(s.filter((x) => x[0] === 'ssebus:role').map((x) => x[2]), ['solo']);
      }
      assert.equal(await streams(server), count, 'a stream per page');
      const ids = await publishTicks(server, 0, events);
      await assertEveryPageSaw(tabs, ids, label);
      for (const t of tabs) assert.deepEqual(t.problems, []);
    } finally {
      await closeAll(tabs);
      await server.stop();
    }
  }

  it('without Web Locks (removed by an init script): each page is solo, with its own stream, and works', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    const init = () => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    await assertSoloPages(url, init, 3, 50, 'solo');
  });

  it('an opaque origin (Web Locks reject with SecurityError): each page connects solo, and works', async () => {
    server = await startServer(['--quiet', '--cors-origins', site.url, '--retry-ms', '20']);
    const url = `${server.url}/api/events`;
    // What Chromium does in a sandboxed frame without allow-same-origin, or on file:.
    const init = () => {
      LockManager.prototype.request = function () {
        return Promise.reject(new DOMException('Access denied', 'SecurityError'));
      };
    };
    await assertSoloPages(url, init, 2, 20, 't');
  });

  it('hooks under StrictMode in four pages: one stream for the browser, every hook shows its tab\'s role', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssebus-crosstab-react-'));
    let app;
    const pages = [];
    try {
      await buildFixture(dir);
      app = await startStaticServer(dir);
      server = await startServer(['--quiet', '--cors-origins', app.url, '--retry-ms', '20']);
      const url = `${server.url}/api/events`;
      for (let i = 0; i < 4; i++) {
        const page = await browser.context.newPage();
        const problems = [];
        page.on('pageerror', (e) => problems.push(e.message));
        await page.goto(app.url + '/');
        await page.waitForFunction(() => window.ready === true);
        await page.evaluate((u) => window.scenarios.crossTabMount(u), url);
        pages.push({ page, problems });
      }
      const state = (p) => p.page.evaluate(() => window.scenarios.crossTabState());
      await until('one leader', async () => {
        const all = await Promise.all(pages.map(state));
        return all.filter((s) => s.sse.role === 'leader').length === 1 && all.every((s) => s.sse.isConnected);
      });
      assert.equal(await streams(server), 1, 'one stream for four pages of StrictMode hooks');
      const ids = [];
      for (let n = 0; n < 20; n++) {
        const r = await publish(server, { event: 'video:created', data: { videoId: `v${n}` } });
        ids.push(String(r.body.id));
      }
      await until('20 events in every page', async () => (await Promise.all(pages.map(state))).every((s) => s.events.length >= 20));
      const last = await publish(server, { event: 'video:created', data: { videoId: 'last' } }); // a duplicate would arrive before it
      const sentinel = String(last.body.id);
      await until('the sentinel in every page', async () => (await Promise.all(pages.map(state))).every((s) => s.events.includes(sentinel)));
      const all = await Promise.all(pages.map(state));
      for (const s of all) {
        assert.deepEqual(s.events, [...ids, sentinel], 'every event once, in order');
        // Nothing is said before the tabs have decided: no 'solo' first.
        for (const r of Object.values(s.roles)) assert.deepEqual(r, [null, s.sse.role], 'a hook\'s roles: unknown, then its tab\'s');
      }
      assert.deepEqual(all.map((s) => s.sse.role).sort(), ['follower', 'follower', 'follower', 'leader']);
      assert.equal(await streams(server), 1);
      for (const p of pages) assert.deepEqual(p.problems, []);
    } finally {
      await closeAll(pages);
      await server?.stop();
      await app?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
