// The package in a real browser: the module loads by URL, finds its .wasm next to it,
// and the bus behaves as in Node.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { launchChromium } from './chromium.js';
import { startStaticServer } from './static-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the bus in Chromium', () => {
  let server;
  let browser;
  before(async () => {
    server = await startStaticServer(root, {
      '/': '<!doctype html><title>ssebus</title><link rel="icon" href="data:,"><script type="module" src="/js/index.js"></script>',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads from the package files and routes events', async () => {
    const page = await browser.context.newPage();
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(server.url + '/');
    const result = await page.evaluate(async () => {
      const { createEventBus, wasmMemoryStats } = await import('/js/index.js');
      const bus = await createEventBus();
      const seen = [];
      bus.on('video:*', (p, m) => seen.push(`pattern ${m.name} ${p.videoId}`));
      const off = bus.on('video_created', (p, m) => seen.push(`exact ${m.name} ${p.videoId}`));
      bus.emit('video_created', { videoId: 'v1' });
      off();
      bus.emit('video:status:ready', { videoId: 'v2' });
      bus.emit('video:updated', { videoId: 'v3' });
      const stats = wasmMemoryStats();
      bus.destroy();
      let destroyed = '';
      try {
        bus.emit('x');
      } catch (e) {
        destroyed = e.message;
      }
      return { seen, heapBytes: stats.heapBytes, destroyed };
    });
    assert.deepEqual(result.seen, [
      'pattern video_created v1',
      'exact video_created v1',
      'pattern video:updated v3',
    ]);
    assert.ok(result.heapBytes > 0);
    assert.match(result.destroyed, /destroyed bus/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('reports a listener error through the page without stopping the others', async () => {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url + '/');
    const seen = await page.evaluate(async () => {
      const { createEventBus } = await import('/js/index.js');
      const bus = await createEventBus();
      const seen = [];
      bus.on('x', () => {
        throw new Error('listener failed');
      });
      bus.on('x', () => seen.push('second'));
      bus.emit('x');
      await new Promise((r) => setTimeout(r, 50));
      return seen;
    });
    assert.deepEqual(seen, ['second']);
    assert.deepEqual(pageErrors, ['listener failed']);
    await page.close();
  });
});
