// EventBridge against the real ssebus-server: translated names, replay across the streams
// the server closes, gaps, envelopes; every event exactly once, in order.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { EventSource } from 'eventsource';
import { createEventBus, EventBridge } from 'ssebus';

import { publish, startServer } from '../support/server.js';
import { waitFor } from '../support/sse-script.js';

describe('EventBridge with ssebus-server', () => {
  let server;
  before(async () => {
    // Every stream is closed after 300 ms, so a bridge has to resume several times.
    server = await startServer(['--stream-max-age-ms', '300', '--retry-ms', '20', '--quiet']);
  });
  after(() => server.stop());

  for (const transport of ['fetch', 'eventsource']) {
    it(`${transport}: translated events, resumed after the server closes streams, each once, in order`, async () => {
      const bus = await createEventBus();
      const received = [];
      let opens = 0;
      bus.on('ssebus:open', () => opens++);
      bus.on(['video_created', 'refresh:list:view', 'video_status_ready'], (payload, meta) =>
        received.push([meta.name, meta.id, payload.n, meta.serverEvent]),
      );
      const bridge = new EventBridge(bus, {
        url: `${server.url}/api/events`,
        transport,
        ...(transport === 'eventsource' ? { EventSource, events: ['video:status:ready'] } : {}),
        map: { 'video:created': ['video_created', 'refresh:list:view'] },
        reconnect: { initialMs: 10, jitter: false },
      }).connect();
      try {
        await waitFor(() => bridge.state === 'open', 'open');
        const expected = [];
        for (let i = 0; i < 50; i++) {
          const event = i % 2 === 0 ? 'video:created' : 'video:status:ready';
          const r = await publish(server, { event, data: { n: i } });
          assert.equal(r.status, 202);
          const id = String(r.body.id);
          if (event === 'video:created') {
            expected.push(['video_created', id, i, event], ['refresh:list:view', id, i, event]);
          } else {
            expected.push(['video_status_ready', id, i, event]);
          }
          await new Promise((resolve) => setTimeout(resolve, 25)); // 1.25 s: several rotations
        }
        await waitFor(() => received.length >= expected.length, 'every event', 10_000);
        await new Promise((resolve) => setTimeout(resolve, 100)); // anything extra would show
        assert.ok(opens >= 3, `the stream was closed and resumed (${opens} opens)`);
        assert.deepEqual(received, expected);
        assert.equal(bridge.lastEventId, expected.at(-1)[1]);
      } finally {
        bridge.close();
        bus.destroy();
      }
    });
  }

  it('resuming from an id older than the server keeps: ssebus:gap first', async () => {
    const bus = await createEventBus();
    const seen = [];
    bus.on('ssebus:gap', (payload) => seen.push(['gap', payload]));
    bus.on('video_created', (payload) => seen.push(['video_created', payload]));
    const bridge = new EventBridge(bus, { url: `${server.url}/api/events`, lastEventId: '1' }).connect();
    try {
      await waitFor(() => seen.length >= 1, 'the gap notice');
      const [kind, gap] = seen[0];
      assert.equal(kind, 'gap');
      assert.equal(gap.requested, 1);
      assert.equal(typeof gap.earliest, 'number');
    } finally {
      bridge.close();
      bus.destroy();
    }
  });

  it('envelopes from /api/events/stream become bus events named by their type', async () => {
    const bus = await createEventBus();
    const seen = [];
    bus.on('video:**', (payload, meta) => seen.push([meta.name, payload, meta.serverEvent]));
    const url = `${server.url}/api/events/stream`;
    const bridge = new EventBridge(bus, { url, reconnect: { initialMs: 10 } }).connect();
    try {
      await waitFor(() => bridge.state === 'open', 'open');
      await publish(server, { event: 'video:upload:progress', data: { progress: 42 } });
      await waitFor(() => seen.some(([, p]) => p?.progress === 42), 'the event');
      const [name, payload, serverEvent] = seen.find(([, p]) => p?.progress === 42);
      assert.equal(name, 'video_upload_progress');
      assert.deepEqual(payload, { progress: 42 });
      assert.equal(serverEvent, 'video:upload:progress');
    } finally {
      bridge.close();
      bus.destroy();
    }
  });
});
