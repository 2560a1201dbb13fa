// Load held: 10,000 concurrent SSE clients on this machine, every one receiving every
// broadcast. Prints the time until the last client has an event (the slowest delivery of
// any event), next to the median and p99; the README's Reliability table records it.
// SSEBUS_SOAK=1 runs the long form (more events, for longer).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { startServer } from '../support/server.js';
import { until } from '../support/wait.js';
import { hardNofile, metrics, mib, runFanout, stats } from './load.js';

const soak = process.env.SSEBUS_SOAK === '1';
const connections = Number(process.env.SSEBUS_LOAD_CLIENTS) || 10_000;
const rate = soak ? 5 : 2;
const duration = soak ? 60 : 5;

describe(`${connections} concurrent clients receive every broadcast (${rate * duration} events)`, () => {
  let server;
  after(async () => server?.stop());

  it('every client receives every event', async () => {
    // One descriptor per stream on each side: the server and the load client raise their soft
    // limits to the hard one, which must leave room.
    const hard = hardNofile();
    assert.ok(
      hard >= connections + 200,
      `the hard limit on open files is ${hard}; ${connections} streams need ${connections + 200} ` +
        '(raise it as root, e.g. with ulimit -Hn or limits.conf, or set SSEBUS_LOAD_CLIENTS lower)',
    );
    server = await startServer(['--quiet'], { raiseNofile: true });
    const r = await runFanout(server, { connections, rate, duration, drain: 3, idle: 2 });
    const m = await metrics(server);
    console.log(
      `broadcast: ${r.connected}/${connections} connected in ${r.connect_seconds.toFixed(1)} s; ` +
        `${r.published} events, delivered ${r.delivered}/${r.expected}; until the last client has an event: ` +
        `p50 ${r.latency_ms.p50.toFixed(1)} ms, p99 ${r.latency_ms.p99.toFixed(1)} ms, max ${r.latency_ms.max.toFixed(1)} ms; ` +
        `server RSS ${mib(r.rss_before_kib)} -> ${mib(r.rss_connected_kib)} MiB ` +
        `(${r.rss_per_idle_connection_kib.toFixed(2)} KiB per stream); errors ${JSON.stringify(r.errors)}`,
    );

    assert.equal(r.connected, connections, 'every client connected');
    assert.equal(r.failed, 0);
    assert.equal(r.dropped, 0, 'no client was disconnected');
    assert.equal(r.published, rate * duration);
    assert.equal(r.delivered, r.expected, 'every client received every event');
    assert.equal(m.ssebus_slow_clients_disconnected_total, 0);
    await until('every stream to close', async () => (await stats(server)).active_clients === 0);
  });
});
