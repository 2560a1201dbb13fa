// Three ssebus-server instances on one Redis (--store redis://...), behind a TCP proxy that
// balances connections over them round-robin:
// - events published on any instance reach the matching streams on every instance exactly
//   once, in one order, with the same ids;
// - targets hold across instances: a user's stream on another instance gets only what is
//   meant for that user;
// - a bridge whose connection is cut resumes on another instance, with no gap and no
//   duplicate, while another instance keeps publishing: what it received is the Redis
//   stream, filtered by its target;
// - kill -9 of one instance: its clients resume on the others and lose nothing;
// - a lagging instance (its read loop paused by the test hook) makes a resuming stream wait,
//   then serves it exactly; past the wait it answers 503 with Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createEventBus, EventBridge } from 'ssebus';

import { big, firstDisorder, publisherPool } from '../support/publisher.js';
import { defaultStreamKey, readStreamEntries, startRedis } from '../support/redis.js';
import { openStream, publish, signToken, startServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { sleep, until } from '../support/wait.js';

const serverArgs = ['--quiet', '--retry-ms', '10', '--heartbeat-ms', '100', '--history-size', '20000'];
const names = ['A', 'B', 'C'];

// A bridge (the package's EventBridge, in Node) on `url`: records every bus event it
// delivers (id, server event name, payload) and the status events.
async function bridgeClient(url, options = {}) {
  const bus = await createEventBus();
  const client = { bus, events: [], gaps: [], opens: 0, reconnects: 0 };
  bus.on('*', (payload, meta) => {
    if (meta.name === 'ssebus:gap') client.gaps.push(payload);
    else if (meta.name === 'ssebus:open') client.opens++;
    else if (meta.name === 'ssebus:reconnecting') client.reconnects++;
    else if (!meta.name.startsWith('ssebus:')) client.events.push({ id: meta.id, name: meta.serverEvent, data: payload });
  });
  client.bridge = new EventBridge(bus, { url, reconnect: { initialMs: 10, maxMs: 200 }, heartbeatTimeoutMs: 1_000, ...options }).connect();
  let stopped = false;
  client.stop = () => {
    if (stopped) return;
    stopped = true;
    client.bridge.close();
    bus.destroy();
  };
  return client;
}

// The target kinds as a stream entry's field t holds them (their number), and by name.
const targetKinds = ['all', 'broadcast', 'user', 'session', 'client'];
const kindOf = (t) => (/^\d+$/.test(t) ? targetKinds[Number(t)] : t);

// Whether a stream entry's event reaches a client of /api/events (no ?streams=) who is `user`
// (undefined: anonymous), by the entry's target fields (t: the kind, i: the id, s: the stream).
function reaches(fields, user) {
  if ((fields.s ?? '') !== '') return false;
  switch (kindOf(fields.t)) {
    case 'all':
      return true;
    case 'broadcast':
      return user !== undefined;
    case 'user':
      return user !== undefined && fields.i === user;
    default:
      return false;
  }
}

describe('three instances on one Redis', () => {
  let redis;
  let proxy;
  const servers = [];
  const clients = [];
  const streams = [];
  const extraServers = [];

  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++)
      servers.push(await startServer([...serverArgs, '--store', redis.url], { env: { SSEBUS_TEST_HOOKS: '1' } }));
    proxy = await startTcpProxy(servers.map((s) => s.port));
  });
  after(async () => {
    for (const c of clients) c.stop();
    for (const s of streams) s.close();
    await proxy?.close();
    for (const server of [...servers, ...extraServers]) await server.stop();
    await redis?.stop();
  });

  async function stream(url, options) {
    const s = await openStream(url, options);
    streams.push(s);
    return s;
  }
  async function client(url, options) {
    const c = await bridgeClient(url, options);
    clients.push(c);
    return c;
  }
  // A mark to start from: streams that resume after it miss nothing published later.
  async function mark(server) {
    const r = await publish(server, { event: 'cluster:mark', data: {} });
    assert.equal(r.status, 202);
    return String(r.body.id);
  }

  it('reports the redis store in its stats, on every instance', async () => {
    const id = await mark(servers[0]);
    for (const [i, server] of servers.entries()) {
      const stats = await until(`${names[i]} to apply the mark`, async () => {
        const s = await (await fetch(`${server.url}/api/events/stats`)).json();
        return big(s.last_id ?? 0) >= big(id) ? s : null;
      });
      assert.equal(stats.store.kind, 'redis', `${names[i]}: store.kind`);
    }
  });

  it('events published on every instance reach the matching streams on every instance once, in one order, with the same ids', async () => {
    const from = await mark(servers[0]);
    // On each instance: a stream of the global events, and one of stream x (global and x).
    const global = [];
    const withX = [];
    for (const server of servers) {
      global.push(await stream(server.url, { lastEventId: from }));
      withX.push(await stream(server.url, { path: '/api/events?streams=x', lastEventId: from }));
    }
    for (const s of [...global, ...withX]) assert.equal(s.status, 200);

    // 3 publishers, one per instance, publishing at once: global events and events of x.
    const perPublisher = 100;
    const acked = [];
    await Promise.all(
      servers.map(async (server, p) => {
        const pool = publisherPool(server, { sockets: 2 });
        try {
          await Promise.all(
            [0, 1].map(async (lane) => {
              for (let k = lane; k < perPublisher; k += 2) {
                const body = { event: 'cluster:tick', data: { p, k }, ...(k % 3 === 0 ? { stream: 'x' } : {}) };
                const r = await pool.post(body);
                assert.equal(r.status, 202, `publish ${p}/${k}: ${JSON.stringify(r.body)}`);
                acked.push({ id: String(r.body.id), stream: body.stream ?? '', data: body.data });
              }
            }),
          );
        } finally {
          pool.close();
        }
      }),
    );
    acked.sort((a, b) => (big(a.id) < big(b.id) ? -1 : 1));
    const last = acked.at(-1).id;
    const lastGlobal = acked.filter((a) => a.stream === '').at(-1).id;
    const ticks = (s) => s.events.filter((e) => e.event === 'cluster:tick').map((e) => ({ id: e.id, data: e.data }));
    await until('every stream to have the last event meant for it', () =>
      global.every((s) => s.events.some((e) => e.id === lastGlobal)) && withX.every((s) => s.events.some((e) => e.id === last)),
    );
    await sleep(200); // a duplicate would arrive now

    const expectedGlobal = acked.filter((a) => a.stream === '').map(({ id, data }) => ({ id, data }));
    const expectedX = acked.map(({ id, data }) => ({ id, data }));
    assert.equal(new Set(acked.map((a) => a.id)).size, acked.length, 'every publish got an id of its own');
    for (const [i, s] of global.entries()) {
      assert.equal(firstDisorder(s.events.map((e) => e.id)), -1, `${names[i]}: ids strictly increase`);
      assert.deepEqual(ticks(s), expectedGlobal, `${names[i]}: every global event once, in id order, with its publisher's id`);
    }
    for (const [i, s] of withX.entries()) assert.deepEqual(ticks(s), expectedX, `${names[i]} (?streams=x): every event once, in id order`);
    // The stream's entries hold the same events in the same order.
    const entries = (await readStreamEntries(redis, defaultStreamKey, { after: from })).filter((e) => e.fields.n === 'cluster:tick');
    assert.deepEqual(
      entries.map((e) => ({ id: e.id, data: JSON.parse(e.fields.d) })),
      expectedX,
      'the Redis stream holds them in that order',
    );
  });

  it("targets hold across instances: a user's stream on another instance gets only its own events", async () => {
    const from = await mark(servers[0]);
    const token = (user) => encodeURIComponent(signToken({ user, session: `${user}-s` }));
    const ana = await stream(servers[1].url, { path: `/api/events?token=${token('ana')}`, lastEventId: from });
    const ben = await stream(servers[2].url, { path: `/api/events?token=${token('ben')}`, lastEventId: from });
    const anonymous = await stream(servers[2].url, { lastEventId: from });
    for (const s of [ana, ben, anonymous]) assert.equal(s.status, 200);

    const targets = [{ type: 'user', id: 'ana' }, { type: 'user', id: 'ben' }, { type: 'all' }, { type: 'broadcast' }, { type: 'user', id: 'cy' }];
    const published = [];
    for (let k = 0; k < 50; k++) {
      const target = targets[k % targets.length];
      const r = await publish(servers[0], { event: 'cluster:note', data: { k }, target });
      assert.equal(r.status, 202);
      published.push({ id: String(r.body.id), target, k });
    }
    const end = await publish(servers[0], { event: 'cluster:note', data: { k: 'end' }, target: { type: 'all' } });
    published.push({ id: String(end.body.id), target: { type: 'all' }, k: 'end' });
    await until('every stream to have the last event', () => [ana, ben, anonymous].every((s) => s.events.some((e) => e.id === published.at(-1).id)));
    await sleep(200);

    const received = (s) => s.events.filter((e) => e.event === 'cluster:note').map((e) => ({ id: e.id, k: e.data.k }));
    const meantFor = (user) =>
      published
        .filter(({ target }) => reaches({ t: target.type, i: target.id }, user))
        .map(({ id, k }) => ({ id, k }));
    assert.deepEqual(received(ana), meantFor('ana'), 'ana on B: her events, all and broadcast, nothing else');
    assert.deepEqual(received(ben), meantFor('ben'), 'ben on C: his events, all and broadcast, nothing else');
    assert.deepEqual(received(anonymous), meantFor(undefined), 'an anonymous stream on C: only the events for all');
  });

  it('a bridge cut mid-stream resumes on another instance with no gap and no duplicate; it received the stream filtered by its target', async () => {
    const from = await mark(servers[2]);
    const token = encodeURIComponent(signToken({ user: 'ana', session: 'ana-cut' }));
    const ana = await client(`${proxy.url}/api/events?token=${token}`, { lastEventId: from });
    await until('the bridge to open', () => ana.bridge.state === 'open');

    // C publishes, directly, to ana, to another user and to all, until told to stop.
    const targets = [{ type: 'user', id: 'ana' }, { type: 'user', id: 'ben' }, { type: 'all' }];
    let stopped = false;
    let published = 0;
    const publisher = (async () => {
      const pool = publisherPool(servers[2], { sockets: 1 });
      try {
        for (let k = 0; !stopped; k++) {
          const r = await pool.post({ event: 'cluster:cut', data: { k }, target: targets[k % targets.length] });
          assert.equal(r.status, 202, `publish ${k}`);
          published++;
          await sleep(1);
        }
      } finally {
        pool.close();
      }
    })();

    const cuts = [];
    try {
      for (let n = 0; n < 6; n++) {
        const had = ana.events.length;
        await until('more events before the cut', () => ana.events.length >= had + 20);
        await until('one open connection', () => proxy.open === 1);
        const on = servers.findIndex((_, i) => proxy.openTo(i) === 1);
        // The load balancer sends the reconnection elsewhere: this instance takes none for now.
        proxy.disable(on);
        const opens = ana.opens;
        assert.equal(proxy.cutBackend(on), 1, 'the cut hit the bridge');
        await until('the bridge to reopen', () => ana.opens > opens && proxy.open === 1);
        const now = servers.findIndex((_, i) => proxy.openTo(i) === 1);
        proxy.enable(on);
        cuts.push([on, now]);
        assert.notEqual(now, on, 'it resumed on another instance');
      }
      const seenAtStop = ana.events.length;
      await until('events after the last cut', () => ana.events.length >= seenAtStop + 20);
    } finally {
      stopped = true;
      await publisher;
    }
    const end = await publish(servers[2], { event: 'cluster:cut', data: { k: 'end' }, target: { type: 'user', id: 'ana' } });
    await until('the last event', () => ana.events.some((e) => e.id === String(end.body.id)));
    await sleep(200);

    const entries = await readStreamEntries(redis, defaultStreamKey, { after: from });
    const expected = entries
      .filter((e) => reaches(e.fields, 'ana'))
      .map((e) => ({ id: e.id, name: e.fields.n, data: JSON.parse(e.fields.d) }));
    console.log(
      `cut and resume: ${published + 1} events published on C, ${ana.events.length} for ana; cuts (from, to) ${cuts.map((c) => c.map((i) => names[i]).join('>')).join(' ')}`,
    );
    assert.deepEqual(ana.gaps, [], 'no gap');
    assert.equal(firstDisorder(ana.events.map((e) => e.id)), -1, 'ids strictly increase: no duplicate');
    assert.ok(entries.length > expected.length + 1, 'the stream holds events for another user too');
    assert.deepEqual(ana.events, expected, 'what the bridge received is the XRANGE of the stream, filtered by its target');
    ana.stop();
  });

  it('a lagging instance makes a resuming stream wait for its loop, then serves it exactly; past the wait, 503 with Retry-After', async () => {
    const pool = publisherPool(servers[1]);
    const lagging = servers[1];
    const pause = async (ms) => {
      const r = await pool.post({}, `/api/_test/pause-applying?ms=${ms}`);
      assert.ok(r.status >= 200 && r.status < 300, `the pause hook: ${r.status} ${JSON.stringify(r.body)}`);
    };
    const newestApplied = async (server) => big((await (await fetch(`${server.url}/api/events/stats`)).json()).last_id);
    try {
      const before = await mark(servers[0]);
      await until('B to apply the mark', async () => (await newestApplied(lagging)) >= big(before));

      // B stops applying for a second; A publishes 10 events meanwhile.
      await pause(1_000);
      const ids = [];
      for (let k = 0; k < 10; k++) ids.push(String((await publish(servers[0], { event: 'cluster:lag', data: { k } })).body.id));
      assert.ok((await newestApplied(lagging)) < big(ids[4]), 'B lags: it has not applied the events A published');
      // A client that saw ids[4] on A resumes on B: it waits, then gets exactly what follows.
      const resumed = await stream(lagging.url, { lastEventId: ids[4] });
      assert.equal(resumed.status, 200, `served once B caught up: ${resumed.text}`);
      await until('the rest of the events', () => resumed.events.some((e) => e.id === ids[9]));
      await sleep(200);
      assert.deepEqual(
        resumed.events.map((e) => [e.event, e.id, e.data.k]),
        ids.slice(5).map((id, i) => ['cluster:lag', id, i + 5]),
        'no gap notice, nothing before ids[4], every later event once',
      );

      // Paused for longer than a stream waits: 503, then, once B caught up, the replay.
      await pause(5_000);
      const more = [];
      for (let k = 0; k < 5; k++) more.push(String((await publish(servers[0], { event: 'cluster:lag', data: { k: 10 + k } })).body.id));
      const refused = await stream(lagging.url, { lastEventId: more[1] });
      assert.equal(refused.status, 503, 'the instance lags for longer than a stream waits');
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(typeof JSON.parse(refused.text).error, 'string', `a JSON error: ${refused.text}`);
      await until('B to catch up', async () => (await newestApplied(lagging)) >= big(more.at(-1)), 20_000);
      const later = await stream(lagging.url, { lastEventId: more[1] });
      assert.equal(later.status, 200);
      await until('the replay', () => later.events.some((e) => e.id === more.at(-1)));
      assert.deepEqual(later.events.map((e) => e.id), more.slice(2), 'after the catch-up: exactly what follows');
    } finally {
      pool.close();
    }
  });

  it('kill -9 of one instance: its clients resume on the others and lose nothing', async () => {
    const from = await mark(servers[0]);
    const bridges = [];
    for (let i = 0; i < 6; i++) bridges.push(await client(`${proxy.url}/api/events?clientId=k${i}`, { lastEventId: from }));
    await until('every bridge to open', () => bridges.every((c) => c.bridge.state === 'open') && proxy.open === bridges.length);
    const victim = 1;
    const onVictim = proxy.openTo(victim);
    assert.ok(onVictim > 0, 'some bridges are on the instance to be killed');

    const acked = [];
    const publishSome = async (count) => {
      for (let k = 0; k < count; k++) {
        const r = await publish(servers[0], { event: 'cluster:kill', data: { k: acked.length } });
        assert.equal(r.status, 202);
        acked.push(String(r.body.id));
      }
    };
    await publishSome(50);
    await until('the events before the kill', () => bridges.every((c) => c.events.some((e) => e.id === acked.at(-1))));
    const exit = await servers[victim].stop('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    await publishSome(100);
    await until('every bridge to have every event', () => bridges.every((c) => c.events.some((e) => e.id === acked.at(-1))));
    await sleep(200);
    assert.equal(proxy.openTo(victim), 0, 'no connection to the killed instance');
    for (const [i, c] of bridges.entries()) {
      assert.deepEqual(c.gaps, [], `k${i}: no gap`);
      assert.deepEqual(
        c.events.filter((e) => e.name === 'cluster:kill').map((e) => e.id),
        acked,
        `k${i}: every event once, in order`,
      );
    }
    assert.ok(bridges.filter((c) => c.reconnects > 0).length >= onVictim, `the ${onVictim} bridges on the killed instance reconnected`);
    // The killed instance comes back on its port, warms up from Redis and serves the history.
    const back = await startServer([...serverArgs, '--store', redis.url], { port: servers[victim].port });
    extraServers.push(back);
    const replay = await stream(back.url, { lastEventId: from });
    await until('the replay on the restarted instance', () => replay.events.some((e) => e.id === acked.at(-1)));
    assert.deepEqual(replay.events.filter((e) => e.event === 'cluster:kill').map((e) => e.id), acked, 'the restarted instance replays it all');
  });
});
