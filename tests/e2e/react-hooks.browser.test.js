// ssebus/react in Chromium: the fixture under react-fixture/ is bundled with Vite (a
// development build, so that StrictMode double-invokes effects) and driven scenario by
// scenario. Connections go to a real ssebus-server, or to a scripted SSE endpoint served
// beside the page when a test needs to decide each response.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';

import react from '@vitejs/plugin-react';
import { build } from 'vite';

import { frame, open } from '../support/sse-script.js';
import { publish, startServer } from '../support/server.js';
import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';
import { until } from '../support/wait.js';

const fixture = fileURLToPath(new URL('./react-fixture/', import.meta.url));
const pkg = (file) => fileURLToPath(new URL(`../../js/${file}`, import.meta.url));

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

// The built page, and under /sse/ a scripted endpoint: each request is recorded and
// handed to the test's `script` (so the page and its SSE share an origin).
async function startSite(dir) {
  const site = { requests: [], script: null };
  const server = await startStaticServer(dir, {}, (req, res, path) => {
    if (!path.startsWith('/sse/')) return false;
    const record = { path, headers: req.headers, res, aborted: false };
    record.closed = new Promise((resolve) =>
      res.on('close', () => {
        record.aborted = !res.writableFinished;
        resolve();
      }),
    );
    site.requests.push(record);
    site.script?.(record);
    return true;
  });
  site.url = server.url;
  site.close = server.close;
  return site;
}

async function stats(server) {
  const res = await fetch(`${server.url}/api/events/stats`);
  return res.json();
}

describe('ssebus/react in Chromium', () => {
  let dir;
  let site;
  let browser;
  let page;
  let problems;

  const run = (name, ...args) => page.evaluate(([name, args]) => window.scenarios[name](...args), [name, args]);

  async function openPage(setup) {
    const p = await browser.context.newPage();
    const seen = [];
    p.on('pageerror', (e) => seen.push(e.message));
    p.on('console', (m) => {
      // Chromium logs every HTTP error response; the scripted 503s are meant.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) seen.push(m.text());
    });
    await setup?.(p);
    await p.goto(site.url + '/');
    await p.waitForFunction(() => window.ready === true);
    return { page: p, problems: seen };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssebus-react-'));
    await buildFixture(dir);
    site = await startSite(dir);
    browser = await launchChromium();
    ({ page, problems } = await openPage());
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    site.script = null;
    site.requests.length = 0;
    assert.deepEqual(problems.splice(0), [], 'the page reported errors');
  });

  it('useEventBusOn calls the newest handler, and subscribes once per mount', async () => {
    const r = await run('latestHandler');
    assert.deepEqual(r.log, ['first ping 1', 'second ping 2', 'third ping 3']);
    assert.equal(r.subscriptions, 1);
    assert.equal(r.listeners, 1);
    assert.equal(r.afterUnmount, 0);
  });

  it('unmounting leaves no listener behind', async () => {
    const r = await run('unmount');
    assert.equal(r.mounted, 5);
    assert.equal(r.afterChildren, 0);
    assert.equal(r.afterProvider, 0);
    assert.deepEqual(r.log, []);
  });

  it('useEventBusOnce runs once, and again only for a new name', async () => {
    const r = await run('once');
    assert.deepEqual(r.log, ['1 x "a"', '3 y "d"']);
    assert.equal(r.afterFire, 0);
    assert.equal(r.sameName, 1);
    assert.equal(r.subscriptions, 2);
    assert.equal(r.left, 0);
  });

  it('useEventBusMulti: one handler for several names, resubscribed only when they change', async () => {
    const r = await run('multi');
    assert.deepEqual(r.log, ['1 a 1', '1 b 2', '2 b 4', '3 c 6']);
    assert.equal(r.sameNames, 1);
    assert.equal(r.subscriptions, 2);
    assert.equal(r.a, 0);
    assert.equal(r.total, 1);
    assert.equal(r.afterUnmount, 0);
  });

  it('useEventBusEmit returns one stable emit that reaches the listeners', async () => {
    const r = await run('emit');
    assert.deepEqual(r.log, ['clicked {"label":"one"}', 'clicked {"label":"two"}']);
    assert.equal(r.stable, true);
    assert.ok(r.renders >= 2);
    assert.ok(r.seenBus.every(Boolean));
  });

  it('a new bus prop takes the live subscriptions with it', async () => {
    const r = await run('switchBus');
    assert.deepEqual(r.log, ['x "a"', 'x "b"', 'z "b"']);
    assert.equal(r.onA, 0);
    assert.equal(r.onB, 0);
  });

  it('before the bus is ready: children render, emits are held, subscriptions wait, then both take effect', async () => {
    const r = await run('beforeReady');
    assert.equal(r.firstText, 'loading');
    assert.equal(r.buses[0], 'null');
    assert.equal(r.buses.at(-1), 'bus');
    assert.deepEqual(r.events, [1, 2]);
    assert.deepEqual(r.patterns, [1, 2]);
    assert.equal(r.listeners, 2, 'the name and the pattern');
    assert.equal(r.destroyed, true, 'the provider destroys the bus it created');
  });

  it('holds at most MAX_HELD_EMITS emits before the bus is ready; the next one throws', async () => {
    const r = await run('heldBound');
    assert.equal(r.max, 1000);
    assert.match(r.error, /^Error: ssebus\/react: emit\("flood"\): 1000 emits are already waiting for the bus/);
    assert.equal(r.delivered, 1000);
  });

  it('StrictMode with an <EventBridge> and five useEventSource hooks opens one connection and delivers each event once', async () => {
    const server = await startServer(['--quiet', '--cors-origins', site.url]);
    try {
      await run('strictMount', `${server.url}/api/events`);
      const s = await stats(server);
      assert.equal(s.active_clients, 1);
      assert.equal(s.connections_total, 1);
      await publish(server, { event: 'video:created', data: { videoId: 'v1' } });
      await publish(server, { event: 'video:created', data: { videoId: 'v2' } });
      const r = await run('strictSeen', 4);
      assert.deepEqual(r.events, ['video_created v1', 'list:refresh v1', 'video_created v2', 'list:refresh v2']);
      assert.deepEqual(r.sse, { isConnected: true, lastEvent: 'list:refresh' });
      for (const status of Object.values(r.statuses)) {
        assert.deepEqual(status, { status: 'open', lastEvent: 'list:refresh' });
      }
      const done = await run('strictUnmount');
      assert.equal(done.destroyed, true);
      await until('the server to see the client leave', async () => (await stats(server)).active_clients === 0);
      assert.equal((await stats(server)).connections_total, 1);
    } finally {
      await server.stop();
    }
  });

  it('useEventSource: connecting, open, reconnecting, open; disconnect() and connect() resume from the last id', async () => {
    site.script = (r) => {
      if (site.requests.length === 1) {
        open(r.res).write(frame({ id: '1', event: 'hello', data: { n: 1 } }));
      }
    };
    const state = () => run('sourceState');
    const last = async () => (await state()).statuses.at(-1);

    await run('sourceMount', `${site.url}/sse/source`);
    await until('the first event', async () => {
      const s = await state();
      return s.statuses.at(-1) === 'open' && s.lastEvent?.name === 'hello';
    });
    assert.deepEqual((await state()).lastEvent, { name: 'hello', payload: { n: 1 } });

    site.requests[0].res.end(); // the stream ends: the bridge reconnects
    await until('reconnecting, and the second request', async () => (await last()) === 'reconnecting' && site.requests.length === 2);
    assert.equal(site.requests[1].headers['last-event-id'], '1');
    site.requests[1].res.writeHead(503).end();
    await until('the 503 and the third request', async () =>
      site.requests.length === 3 && (await state()).errors.some((e) => /HTTP 503/.test(e ?? '')),
    );
    assert.equal(await last(), 'reconnecting');
    open(site.requests[2].res).write(frame({ id: '2', event: 'again', data: 2 }));
    await until('open again', async () => {
      const s = await state();
      return s.statuses.at(-1) === 'open' && s.lastEvent?.name === 'again';
    });
    assert.equal((await state()).errors.at(-1), null, 'an open connection clears the error');

    await run('sourceCall', 'disconnect');
    await until('closed', async () => (await last()) === 'closed');
    await site.requests[2].closed;
    assert.equal(site.requests[2].aborted, true);

    await run('sourceCall', 'connect');
    await until('connecting, and the fourth request', async () => (await last()) === 'connecting' && site.requests.length === 4);
    assert.equal(site.requests[3].headers['last-event-id'], '2');
    open(site.requests[3].res);
    await until('open after connect()', async () => (await last()) === 'open');

    const s = await state();
    assert.deepEqual(s.statuses, ['connecting', 'open', 'reconnecting', 'open', 'closed', 'connecting', 'open']);
    assert.match(s.errors.find((e) => e !== null), /ended the stream/);
    for (const name of ['ssebus:open', 'ssebus:error', 'ssebus:reconnecting', 'ssebus:closed']) {
      assert.ok(s.busEvents.includes(name), `the bus heard ${name}`);
    }
    await run('sourceUnmount');
    await site.requests[3].closed;
    assert.equal(site.requests.length, 4);
  });

  it('regression: after a 401, signing in and reconnect() opens at once with the new token, not after the backoff', async () => {
    site.script = (r) => {
      if (r.headers.authorization !== 'Bearer fresh') r.res.writeHead(401).end();
      else open(r.res).write(frame({ id: '1', event: 'hello', data: 1 }));
    };
    const state = () => run('authState');
    await run('authMount', `${site.url}/sse/auth`);
    await until('the auth error', async () => (await state()).error?.status === 401);
    let s = await state();
    assert.equal(s.status, 'reconnecting');
    assert.equal(s.error.auth, true);
    assert.equal(s.error.attempt, 1);
    assert.match(s.error.message, /HTTP 401/);

    // New renders bring new headers functions: the connection stays, waiting 60 s.
    await run('authToken', 'still-stale', false);
    await run('authToken', 'still-stale-2', false);
    assert.equal(site.requests.length, 1);

    await run('authToken', 'fresh', true);
    await until('open', async () => (await state()).status === 'open');
    s = await state();
    assert.equal(s.error, null, 'an open connection clears the error');
    assert.deepEqual(
      site.requests.map((r) => r.headers.authorization),
      ['Bearer stale', 'Bearer fresh'],
      'the newest headers function was called for the retry',
    );
    // debug: true reached the bridge.
    assert.ok(s.debug.some((line) => /attempt 1 failed with HTTP 401 \(auth\)/.test(line)), s.debug.join('\n'));
    assert.ok(s.debug.some((line) => /reconnecting in 60000 ms/.test(line)), s.debug.join('\n'));
    assert.ok(s.debug.some((line) => /reconnect\(\): retrying now/.test(line)), s.debug.join('\n'));
    await run('authUnmount');
    await site.requests[1].closed;
  });

  it('useEventSource ends closed, with the error, after reconnect.maxAttempts', async () => {
    site.script = (r) => r.res.writeHead(503).end();
    const r = await run('maxAttempts', `${site.url}/sse/fail`);
    assert.equal(r.status, 'closed');
    assert.match(r.error, /HTTP 503/);
    assert.equal(site.requests.length, 2);
  });

  it('useSSE finds its <EventBridge> from inside and from beside it, and connects, disconnects and reconnects it', async () => {
    const server = await startServer(['--quiet', '--cors-origins', site.url]);
    try {
      await run('sseMount', `${server.url}/api/events`);
      assert.equal((await stats(server)).active_clients, 1);
      await publish(server, { event: 'video:created', data: { videoId: 'v1' } });
      await until('both views to see the event', async () => {
        const s = await run('sseState');
        return s.inside.lastEvent?.name === 'video_created' && s.beside.lastEvent?.name === 'video_created';
      });
      const seen = await run('sseState');
      assert.deepEqual(seen.inside.lastEvent, { name: 'video_created', payload: { videoId: 'v1' } });

      await run('sseCall', 'beside', 'disconnect');
      await until('both views to read closed', async () => {
        const s = await run('sseState');
        return s.inside.status === 'closed' && s.beside.isConnected === false;
      });
      await until('the server to see the client leave', async () => (await stats(server)).active_clients === 0);

      await run('sseCall', 'inside', 'connect');
      await until('both views to connect again', async () => {
        const s = await run('sseState');
        return s.inside.isConnected && s.beside.isConnected;
      });
      assert.equal((await stats(server)).active_clients, 1);

      // reconnect(): a new connection at once, in place of the open one.
      await run('sseCall', 'beside', 'reconnect');
      await until('the third connection, alone', async () => {
        const st = await stats(server);
        return st.connections_total === 3 && st.active_clients === 1;
      });
      await until('both views open again', async () => {
        const s = await run('sseState');
        return s.inside.isConnected && s.beside.isConnected;
      });

      await run('sseUnmount');
      await until('no client left', async () => (await stats(server)).active_clients === 0);
      assert.equal((await stats(server)).connections_total, 3);
    } finally {
      await server.stop();
    }
  });

  it('useSSE without an <EventBridge> reads closed, and connect() says what is missing', async () => {
    const r = await run('sseWithoutBridge');
    assert.equal(r.isConnected, false);
    assert.equal(r.status, 'closed');
    assert.equal(r.lastEvent, null);
    assert.match(r.error, /useSSE\(\): connect\(\) needs an <EventBridge> under the provider/);
  });

  it('a WebAssembly module that fails to load reaches the error boundary', async () => {
    const failing = await openPage((p) => p.route('**/*.wasm', (route) => route.fulfill({ status: 404, body: '' })));
    try {
      const r = await failing.page.evaluate(() => window.scenarios.loadFailure());
      assert.equal(r.firstText, 'loading');
      assert.match(r.text, /^caught: ssebus: could not load its WebAssembly module/);
      assert.match(r.emitAfter, /the provider has no bus, it failed to load/);
    } finally {
      await failing.page.close();
    }
  });
});
