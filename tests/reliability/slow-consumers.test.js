// Slow consumers beside healthy ones: 1,000 healthy streams receive every event while one
// client stops reading and another reads a byte a second. The server lets both slow ones go
// (its per-stream queue is bounded), counts them in /metrics, keeps its memory bounded, and
// the healthy clients miss nothing. Their latency is printed next to a run without the slow
// clients (the README's Reliability table records it; no test asserts a time).
// SSEBUS_SOAK=1 runs the long form.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { startServer } from '../support/server.js';
import { until } from '../support/wait.js';
import { metrics, mib, runFanout, stats } from './load.js';

const soak = process.env.SSEBUS_SOAK === '1';
const connections = 1_000;
const rate = 50;
const duration = soak ? 60 : 10;
const padBytes = 256;
// A small fixed send buffer and queue, so that a client that stopped reading is let go
// within a few seconds at this rate (the kernel's autotuned buffer would absorb megabytes).
const queueMaxBytes = 64 * 1024;
const sendBuffer = 32 * 1024;
const serverArgs = [
  '--quiet',
  '--queue-max-bytes', String(queueMaxBytes),
  '--stream-send-buffer', String(sendBuffer),
];

describe(`slow consumers beside ${connections} healthy clients (${rate} events/s for ${duration} s)`, () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  async function run(extra) {
    const server = await startServer(serverArgs);
    servers.push(server);
    const report = await runFanout(server, { connections, rate, duration, padBytes, extra });
    await until('every stream to close', async () => (await stats(server)).active_clients === 0);
    return { server, report, metrics: await metrics(server) };
  }

  it('lets the slow clients go, counts them, and the healthy ones miss nothing', async () => {
    const base = await run([]);
    const slow = await run(['--stalled', '1', '--trickle', '1']);

    const line = ({ report: r }) =>
      `p50 ${r.latency_ms.p50.toFixed(1)} ms, p99 ${r.latency_ms.p99.toFixed(1)} ms, max ${r.latency_ms.max.toFixed(1)} ms; ` +
      `delivered ${r.delivered}/${r.expected}; server RSS ${mib(r.rss_before_kib)} -> ${mib(r.rss_end_kib)} MiB`;
    console.log(`slow consumers: without them: ${line(base)}`);
    console.log(
      `slow consumers: with 1 stalled + 1 trickling: ${line(slow)}; p99 ratio ` +
        `${(slow.report.latency_ms.p99 / base.report.latency_ms.p99).toFixed(2)}x; ` +
        `slow clients disconnected ${slow.metrics.ssebus_slow_clients_disconnected_total}`,
    );

    for (const { report: r } of [base, slow]) {
      assert.equal(r.connected, connections, 'every healthy client connected');
      assert.equal(r.failed, 0);
      assert.equal(r.dropped, 0, 'no healthy client was disconnected');
      assert.equal(r.published, rate * duration);
      assert.equal(r.delivered, r.expected, 'every healthy client received every event');
    }
    assert.equal(base.metrics.ssebus_slow_clients_disconnected_total, 0);
    assert.deepEqual(slow.report.slow_consumers, { stalled: 1, trickle: 1, connected: 2, closed_by_server: 2 });
    assert.equal(slow.metrics.ssebus_slow_clients_disconnected_total, 2, '/metrics counts both slow clients');
    // Each slow client may hold at most a send buffer and a queue before it is let go.
    const bound = base.report.rss_end_kib + 2 * (queueMaxBytes + sendBuffer) / 1024 + 4 * 1024;
    assert.ok(
      slow.report.rss_end_kib <= bound,
      `server RSS with slow clients ${slow.report.rss_end_kib} KiB, bound ${bound} KiB`,
    );
  });
});
