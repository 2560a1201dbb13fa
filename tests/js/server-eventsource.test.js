// ssebus-server with a client nobody here wrote: the `eventsource` npm package.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { EventSource } from 'eventsource';

import { publish, startServer } from '../support/server.js';

describe('ssebus-server with the eventsource package', () => {
  let server;
  before(async () => {
    // Streams are rotated every 400 ms, so the client has to resume often.
    server = await startServer(['--stream-max-age-ms', '400', '--retry-ms', '50', '--quiet']);
  });
  after(() => server.stop());

  it('receives named events and resumes with Last-Event-ID after the server closes the stream', async () => {
    const source = new EventSource(`${server.url}/api/events`);
    const received = [];
    let opens = 0;
    source.addEventListener('open', () => opens++);
    source.addEventListener('video:created', (e) => received.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
    await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));

    const sent = [];
    for (let i = 0; i < 60; i++) {
      const r = await publish(server, { event: 'video:created', data: { n: i } });
      assert.equal(r.status, 202);
      sent.push(String(r.body.id));
      await new Promise((resolve) => setTimeout(resolve, 25)); // 1.5 s: several rotations
    }
    const deadline = Date.now() + 5000;
    while (received.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    source.close();

    assert.ok(opens >= 3, `the stream was rotated and resumed (${opens} opens)`);
    assert.deepEqual(
      received.map((e) => e.id),
      sent,
      'every event exactly once, in order, across reconnects',
    );
    assert.deepEqual(
      received.map((e) => e.data.n),
      sent.map((_, i) => i),
    );
  });

  it('sees the server’s process exit cleanly on SIGTERM', async () => {
    const other = await startServer(['--quiet']);
    const source = new EventSource(`${other.url}/api/events`);
    await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
    const closed = new Promise((resolve) => source.addEventListener('error', resolve, { once: true }));
    const { code } = await other.stop('SIGTERM');
    await closed; // the stream was closed by the server, not left hanging
    source.close();
    assert.equal(code, 0);
  });
});
