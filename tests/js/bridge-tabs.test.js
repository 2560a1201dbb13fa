// crossTab outside a browser: the option's checks, the group's hash, and the fallback where
// there are no Web Locks (a navigator without locks is put in place for it), where a
// bridge connects alone, as without the option. The sharing itself is tested in Chromium
// (tests/e2e/crosstab.browser.test.js).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { createEventBus, EventBridge } from 'ssebus';

import { groupOf } from '../../js/bridge-tabs.js';
import { readOptions } from '../../js/bridge-options.js';
import { frame, open, scriptedServer, waitFor } from '../support/sse-script.js';

let bus;
let servers;
let bridges;
beforeEach(async () => {
  bus = await createEventBus();
  servers = [];
  bridges = [];
});
afterEach(async () => {
  for (const b of bridges) b.close();
  for (const s of servers) await s.close();
  if (!bus.destroyed) bus.destroy();
});

function bridge(options) {
  const b = new EventBridge(bus, { reconnect: { initialMs: 5, jitter: false }, ...options });
  bridges.push(b);
  return b;
}

// Runs `fn` with console.debug recorded; returns the lines.
async function debugLines(fn) {
  const lines = [];
  const original = console.debug;
  console.debug = (...args) => lines.push(args.map(String).join(' '));
  try {
    await fn();
  } finally {
    console.debug = original;
  }
  return lines;
}

describe('crossTab without Web Locks: solo, as without the option', () => {
  // Whatever this Node has: a navigator without locks, as a non-secure context's.
  let saved;
  before(() => {
    saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'test' }, configurable: true, writable: true });
  });
  after(() => {
    if (saved === undefined) delete globalThis.navigator;
    else Object.defineProperty(globalThis, 'navigator', saved);
  });

  // First in the file: the diagnostic is said once per page (here, per process).
  it('connects alone, says role solo, and logs why once under ssebus:tabs only when debugging', async () => {
    const server = await scriptedServer((req, res) => {
      open(res).write(frame({ id: '1', event: 'video:created', data: { videoId: 'v1' } }));
    });
    servers.push(server);
    const url = `${server.url}/api/events`;
    const seen = [];
    bus.on('*', (payload, meta) => seen.push([meta.name, payload]));

    const quiet = await debugLines(async () => {
      const b = bridge({ url, crossTab: true });
      assert.equal(b.role, 'solo', 'a bridge that is not connected is solo');
      b.connect();
      assert.equal(b.role, 'solo');
      await waitFor(() => seen.some((e) => e[0] === 'video_created'), 'the event');
      b.close();
    });
    assert.deepEqual(quiet, [], 'nothing is logged without debug');
    assert.deepEqual(seen.slice(0, 3), [
      ['ssebus:role', { url, role: 'solo' }],
      ['ssebus:open', { url }],
      ['video_created', { videoId: 'v1' }],
    ]);

    const loud = await debugLines(async () => {
      for (let i = 0; i < 2; i++) {
        const b = bridge({ url, crossTab: { key: 'k' }, debug: true });
        b.connect();
        await waitFor(() => b.state === 'open', 'the stream');
        b.close();
      }
    });
    const tabs = loud.filter((line) => line.startsWith('ssebus:tabs'));
    assert.equal(tabs.length, 1, `one diagnostic, got ${JSON.stringify(tabs)}`);
    assert.match(tabs[0], /navigator\.locks/);
    assert.match(tabs[0], /solo/);
    assert.equal(server.requests.length, 3, 'every bridge had its own connection');
  });
});

describe('crossTab: the option', () => {
  it('takes true, false or { key, leaderTimeoutMs }', () => {
    assert.equal(readOptions({ url: 'http://h/e' }).crossTab, null);
    assert.equal(readOptions({ url: 'http://h/e', crossTab: false }).crossTab, null);
    assert.deepEqual(readOptions({ url: 'http://h/e', crossTab: true }).crossTab, { key: null, leaderTimeoutMs: 45000 });
    assert.deepEqual(readOptions({ url: 'http://h/e', heartbeatTimeoutMs: 5000, crossTab: {} }).crossTab, {
      key: null,
      leaderTimeoutMs: 5000,
    });
    assert.deepEqual(readOptions({ url: 'http://h/e', crossTab: { key: 'u1', leaderTimeoutMs: Infinity } }).crossTab, {
      key: 'u1',
      leaderTimeoutMs: 0,
    });
    // Without a heartbeat check, a hung leader is still replaced, after 30 s.
    for (const heartbeatTimeoutMs of [0, Infinity]) {
      assert.deepEqual(readOptions({ url: 'http://h/e', heartbeatTimeoutMs, crossTab: true }).crossTab, {
        key: null,
        leaderTimeoutMs: 30000,
      });
    }
  });

  it('refuses what it cannot use, saying what it takes', () => {
    const bad = [
      [{ crossTab: 'yes' }, /crossTab must be true, false or an object/],
      [{ crossTab: { leaderTimeout: 1 } }, /unknown option crossTab\.leaderTimeout; crossTab takes key, leaderTimeoutMs/],
      [{ crossTab: { key: '' } }, /crossTab\.key must be a non-empty string/],
      [{ crossTab: { key: 42 } }, /crossTab\.key must be a non-empty string, got 42/],
      [{ crossTab: { leaderTimeoutMs: -1 } }, /crossTab\.leaderTimeoutMs must be a number of milliseconds/],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => new EventBridge(bus, { url: 'http://h/e', ...options }), { name: 'TypeError', message });
    }
  });

  it('with a headers function, needs crossTab.key, and says so', () => {
    const headers = () => ({ authorization: 'Bearer t' });
    assert.throws(() => new EventBridge(bus, { url: 'http://h/e', headers, crossTab: true }), {
      name: 'TypeError',
      message: /crossTab with a headers function needs crossTab\.key.*\{ crossTab: \{ key: 'user-42' \} \}/,
    });
    // Without crossTab, or with a key, it is fine.
    new EventBridge(bus, { url: 'http://h/e', headers });
    new EventBridge(bus, { url: 'http://h/e', headers, crossTab: { key: 'user-42' } });
  });
});

describe('crossTab: the group', () => {
  const group = (options) => groupOf(readOptions({ url: 'http://h/api/events', ...options, crossTab: options.crossTab ?? true }));

  it('is the same for the same stream, whatever the names, and differs for every part of the request', async () => {
    const base = await group({});
    assert.match(base, /^[0-9a-f]{32}$/);
    assert.equal(await group({ map: { a: 'b' }, translate: (n) => n, heartbeatTimeoutMs: 1000 }), base);
    assert.equal(await group({ headers: { 'X-A': '1', 'x-b': '2' } }), await group({ headers: { 'x-b': '2', 'x-a': '1' } }));
    const others = await Promise.all([
      group({ url: 'http://h/api/events?streams=a' }),
      group({ url: 'http://other/api/events' }),
      group({ transport: 'eventsource' }),
      group({ withCredentials: true }),
      group({ headers: { authorization: 'Bearer a' } }),
      group({ headers: { authorization: 'Bearer b' } }),
      group({ crossTab: { key: 'user-1' } }),
      group({ crossTab: { key: 'user-2' } }),
      group({ headers: () => ({}), crossTab: { key: 'user-1' } }),
    ]);
    assert.equal(new Set([base, ...others]).size, others.length + 1);
    // A headers function counts by its key: two functions with one key are one group.
    assert.equal(await group({ headers: () => ({ a: '1' }), crossTab: { key: 'user-1' } }), others[8]);
  });

  it('over a native EventSource, also counts the names it listens to (it delivers no other)', async () => {
    const es = (options) => group({ transport: 'eventsource', ...options });
    assert.equal(await es({ map: { a: 'x', b: 'y' } }), await es({ map: { b: 'z' }, events: ['a'] }));
    assert.notEqual(await es({ map: { a: 'x' } }), await es({ map: { b: 'x' } }));
    // Over fetch every name arrives: the names play no part.
    assert.equal(await group({ map: { a: 'x' } }), await group({ map: { b: 'x' } }));
  });

  it('does not show the headers', async () => {
    const g = await group({ headers: { authorization: 'Bearer secret-token' } });
    assert.doesNotMatch(g, /secret/);
  });
});
