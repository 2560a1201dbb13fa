// ssebus/react in server-side rendering: importing it touches no browser global, and
// rendering a whole tree creates no bus, loads no WebAssembly and opens no connection.
// Misuse is refused while rendering, with a message that says what to do.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { createElement as h, StrictMode } from 'react';
import { renderToString } from 'react-dom/server';

import { createEventBus, wasmMemoryStats } from 'ssebus';
import {
  EventBridge,
  EventBusProvider,
  useEventBus,
  useEventBusEmit,
  useEventBusMulti,
  useEventBusOn,
  useEventBusOnce,
  useEventSource,
  useSSE,
} from 'ssebus/react';

const URL_ = 'http://127.0.0.1:9/api/events';

describe('ssebus/react on the server', () => {
  let fetches;
  let consoleErrors;
  let realFetch;
  let realConsoleError;
  beforeEach(() => {
    fetches = 0;
    consoleErrors = [];
    realFetch = globalThis.fetch;
    realConsoleError = console.error;
    globalThis.fetch = async () => {
      fetches++;
      throw new Error('no fetch during server rendering');
    };
    console.error = (...args) => consoleErrors.push(args.join(' '));
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    console.error = realConsoleError;
  });

  it('imports without a window or a document', () => {
    assert.equal(typeof globalThis.window, 'undefined');
    assert.equal(typeof globalThis.document, 'undefined');
  });

  it('importing the package reads neither window nor localStorage (the debug setting is read at connect time)', async () => {
    const script = `
      const touched = [];
      for (const name of ['window', 'localStorage', 'sessionStorage']) {
        Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); } });
      }
      await import('ssebus');
      await import('ssebus/react');
      console.log(JSON.stringify(touched));`;
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    assert.deepEqual(JSON.parse(stdout), []);
  });

  it('renders a whole tree with renderToString, without creating a bus or connecting', async () => {
    const seen = {};
    function Page() {
      const bus = useEventBus();
      const emit = useEventBusEmit();
      useEventBusOn('video_created', () => {});
      useEventBusOnce('video_updated', () => {});
      useEventBusMulti(['a', 'b'], () => {});
      const source = useEventSource(URL_, { map: { 'video:created': 'video_created' } });
      const manual = useEventSource(URL_, { autoConnect: false });
      const sse = useSSE();
      Object.assign(seen, { bus, emit: typeof emit, source: source.status, manual: manual.status, sse });
      return h('p', null, `${source.status} ${manual.status} ${sse.isConnected}`);
    }
    const html = renderToString(
      h(StrictMode, null, h(EventBusProvider, null, h(EventBridge, { url: URL_ }, h(Page)))),
    );
    assert.equal(html, '<p>connecting closed false</p>');
    assert.equal(seen.bus, null);
    assert.equal(seen.emit, 'function');
    assert.equal(seen.sse.status, 'connecting');
    assert.equal(seen.sse.lastEvent, null);
    await new Promise((resolve) => setTimeout(resolve, 20)); // anything started would have begun
    assert.equal(fetches, 0);
    assert.equal(wasmMemoryStats(), null, 'no WebAssembly was loaded');
    assert.deepEqual(consoleErrors, []);
  });

  it('gives the server render a bus passed as a prop, without subscribing to it', async () => {
    const bus = await createEventBus();
    let got = null;
    function Page() {
      got = useEventBus();
      useEventBusOn('x', () => {});
      return null;
    }
    renderToString(h(EventBusProvider, { bus }, h(Page)));
    assert.equal(got, bus);
    assert.equal(bus.listenerCount(), 0);
    bus.destroy();
    assert.deepEqual(consoleErrors, []);
  });

  it('refuses misuse while rendering', () => {
    const render = (element) => () => renderToString(element);
    const inProvider = (hook) => render(h(EventBusProvider, null, h(() => (hook(), null))));
    assert.throws(render(h(() => (useEventBusOn('x', () => {}), null))), {
      message: 'ssebus/react: useEventBusOn() must be used inside an <EventBusProvider>',
    });
    assert.throws(render(h(() => (useSSE(), null))), { message: /useSSE\(\) must be used inside an <EventBusProvider>/ });
    assert.throws(render(h(EventBridge, { url: URL_ })), { message: /EventBridge\(\) must be used inside/ });
    assert.throws(inProvider(() => useEventBusOn('x', 'nope')), {
      name: 'TypeError',
      message: 'ssebus/react: useEventBusOn(): handler must be a function, got "nope"',
    });
    assert.throws(inProvider(() => useEventBusOn(['x'], () => {})), { name: 'TypeError', message: /name must be/ });
    assert.throws(inProvider(() => useEventBusMulti([], () => {})), { name: 'TypeError', message: /non-empty array/ });
    assert.throws(inProvider(() => useEventSource(URL_, 'x')), { name: 'TypeError', message: /options must be an object/ });
    assert.throws(inProvider(() => useEventSource(URL_, { autoConnect: 1 })), { name: 'TypeError' });
    assert.throws(render(h(EventBusProvider, { bus: 'x' })), {
      name: 'TypeError',
      message: /bus must be a bus from createEventBus\(\), got "x"/,
    });
  });
});
