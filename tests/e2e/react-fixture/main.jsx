// The hooks under test, as an app uses them. Each scenario mounts a tree in a fresh root,
// drives it, and returns what it saw; react-hooks.browser.test.js asserts on the result.
import { Component, StrictMode, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { flushSync } from 'react-dom';
import { createEventBus } from 'ssebus';
import {
  EventBridge,
  EventBusProvider,
  MAX_HELD_EMITS,
  useEventBus,
  useEventBusEmit,
  useEventBusMulti,
  useEventBusOn,
  useEventBusOnce,
  useEventSource,
  useSSE,
} from 'ssebus/react';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, check, ms = 15_000) {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function mount(element) {
  const div = document.createElement('div');
  document.body.append(div);
  const root = createRoot(div);
  flushSync(() => root.render(element)); // the first render and its layout effects, now
  return {
    div,
    render: (next) => root.render(next),
    text: () => div.textContent,
    unmount() {
      flushSync(() => root.unmount());
      div.remove();
    },
  };
}

// A bus whose on() and once() calls are counted.
async function countedBus() {
  const bus = await createEventBus();
  const calls = { on: 0, once: 0 };
  const on = bus.on.bind(bus);
  const once = bus.once.bind(bus);
  bus.on = (...args) => (calls.on++, on(...args));
  bus.once = (...args) => (calls.once++, once(...args));
  return { bus, calls };
}

function On({ name, label = '', log }) {
  useEventBusOn(name, (payload, meta) => log.push(`${label}${meta.name} ${JSON.stringify(payload)}`));
  return <i>{label}</i>;
}

function Once({ name, label = '', log }) {
  useEventBusOnce(name, (payload, meta) => log.push(`${label}${meta.name} ${JSON.stringify(payload)}`));
  return <i>{label}</i>;
}

function Multi({ names, label = '', log }) {
  useEventBusMulti(names, (payload, meta) => log.push(`${label}${meta.name} ${JSON.stringify(payload)}`));
  return <i>{label}</i>;
}

const scenarios = {};
window.scenarios = scenarios;
window.current = {}; // state kept between the steps of one test

scenarios.latestHandler = async () => {
  const { bus, calls } = await countedBus();
  const log = [];
  const tree = (label) => (
    <EventBusProvider bus={bus}>
      <On name="ping" label={label} log={log} />
    </EventBusProvider>
  );
  const app = mount(tree('first '));
  await until('the subscription', () => bus.listenerCount('ping') === 1);
  bus.emit('ping', 1);
  app.render(tree('second '));
  await until('the second render', () => app.text() === 'second ');
  bus.emit('ping', 2);
  app.render(tree('third '));
  await until('the third render', () => app.text() === 'third ');
  bus.emit('ping', 3);
  const result = { log, subscriptions: calls.on, listeners: bus.listenerCount('ping') };
  app.unmount();
  result.afterUnmount = bus.listenerCount();
  bus.emit('ping', 4);
  bus.destroy();
  return result;
};

scenarios.unmount = async () => {
  const bus = await createEventBus();
  const log = [];
  const children = (
    <>
      <On name="a" log={log} />
      <On name="video:*" log={log} />
      <Once name="b" log={log} />
      <Multi names={['c', 'd']} log={log} />
    </>
  );
  const app = mount(<EventBusProvider bus={bus}>{children}</EventBusProvider>);
  await until('five subscriptions', () => bus.listenerCount() === 5);
  const mounted = bus.listenerCount();
  app.render(<EventBusProvider bus={bus}>{null}</EventBusProvider>);
  await until('the children to unmount', () => bus.listenerCount() === 0);
  for (const name of ['a', 'video:created', 'b', 'c', 'd']) bus.emit(name, 0);
  const afterChildren = bus.listenerCount();
  app.render(<EventBusProvider bus={bus}>{children}</EventBusProvider>);
  await until('five subscriptions again', () => bus.listenerCount() === 5);
  app.unmount();
  const afterProvider = bus.listenerCount();
  for (const name of ['a', 'video:created', 'b', 'c', 'd']) bus.emit(name, 0);
  bus.destroy();
  return { mounted, afterChildren, afterProvider, log };
};

scenarios.once = async () => {
  const { bus, calls } = await countedBus();
  const log = [];
  const tree = (name, label) => (
    <EventBusProvider bus={bus}>
      <Once name={name} label={label} log={log} />
    </EventBusProvider>
  );
  const app = mount(tree('x', '1 '));
  await until('the subscription', () => bus.listenerCount('x') === 1);
  bus.emit('x', 'a');
  bus.emit('x', 'b');
  const afterFire = bus.listenerCount('x');
  app.render(tree('x', '2 '));
  await until('a render', () => app.text() === '2 ');
  bus.emit('x', 'c');
  const sameName = calls.once;
  app.render(tree('y', '3 '));
  await until('the new name', () => bus.listenerCount('y') === 1);
  bus.emit('y', 'd');
  bus.emit('y', 'e');
  const result = { log, afterFire, sameName, subscriptions: calls.once, left: bus.listenerCount() };
  app.unmount();
  bus.destroy();
  return result;
};

scenarios.multi = async () => {
  const { bus, calls } = await countedBus();
  const log = [];
  // A new array on every render, as an inline literal is.
  const tree = (names, label) => (
    <EventBusProvider bus={bus}>
      <Multi names={[...names]} label={label} log={log} />
    </EventBusProvider>
  );
  const app = mount(tree(['a', 'b'], '1 '));
  await until('the subscription', () => bus.listenerCount() === 2);
  bus.emit('a', 1);
  bus.emit('b', 2);
  bus.emit('c', 3);
  app.render(tree(['a', 'b'], '2 '));
  await until('a render', () => app.text() === '2 ');
  bus.emit('b', 4);
  const sameNames = calls.on;
  app.render(tree(['c'], '3 '));
  await until('the new names', () => bus.listenerCount('c') === 1);
  bus.emit('a', 5);
  bus.emit('c', 6);
  const result = { log, sameNames, subscriptions: calls.on, a: bus.listenerCount('a'), total: bus.listenerCount() };
  app.unmount();
  result.afterUnmount = bus.listenerCount();
  bus.destroy();
  return result;
};

scenarios.emit = async () => {
  const bus = await createEventBus();
  const log = [];
  const emits = [];
  const seenBus = [];
  function Button({ label }) {
    const emit = useEventBusEmit();
    emits.push(emit);
    seenBus.push(useEventBus() === bus);
    return (
      <button id="emit" onClick={() => emit('clicked', { label })}>
        {label}
      </button>
    );
  }
  const tree = (label) => (
    <EventBusProvider bus={bus}>
      <Button label={label} />
      <On name="clicked" log={log} />
    </EventBusProvider>
  );
  const app = mount(tree('one'));
  await until('the subscription', () => bus.listenerCount('clicked') === 1);
  app.div.querySelector('#emit').click();
  app.render(tree('two'));
  await until('a render', () => app.text() === 'two');
  app.div.querySelector('#emit').click();
  const result = { log, stable: emits.every((e) => e === emits[0]), renders: emits.length, seenBus };
  app.unmount();
  bus.destroy();
  return result;
};

// A new `bus` prop takes every live subscription with it.
scenarios.switchBus = async () => {
  const a = await createEventBus();
  const b = await createEventBus();
  const log = [];
  const tree = (bus) => (
    <EventBusProvider bus={bus}>
      <On name="x" log={log} />
      <Multi names={['y', 'z']} log={log} />
    </EventBusProvider>
  );
  const app = mount(tree(a));
  await until('the subscriptions on a', () => a.listenerCount() === 3);
  a.emit('x', 'a');
  app.render(tree(b));
  await until('the subscriptions on b', () => b.listenerCount() === 3);
  const onA = a.listenerCount();
  a.emit('x', 'lost');
  b.emit('x', 'b');
  b.emit('z', 'b');
  app.unmount();
  const result = { log, onA, onB: b.listenerCount() };
  a.destroy();
  b.destroy();
  return result;
};

// The provider creates its bus: the first renders see null, and what the children do
// meanwhile takes effect once the bus is ready.
scenarios.beforeReady = async () => {
  const log = { buses: [], events: [], patterns: [] };
  let bus = null;
  function EarlyEmitter() {
    const emit = useEventBusEmit();
    useLayoutEffect(() => {
      emit('early', 1);
      emit('early', 2);
    }, [emit]);
    return null;
  }
  function Probe() {
    const b = useEventBus();
    log.buses.push(b === null ? 'null' : 'bus');
    bus = b;
    return <b>{b === null ? 'loading' : 'ready'}</b>;
  }
  function EarlyListener() {
    useEventBusOn('early', (payload) => log.events.push(payload));
    useEventBusOn('early:**', (payload) => log.patterns.push(payload));
    return null;
  }
  const app = mount(
    <EventBusProvider>
      <Probe />
      <EarlyEmitter />
      <EarlyListener />
    </EventBusProvider>,
  );
  const firstText = app.text();
  await until('the bus', () => app.text() === 'ready');
  const result = { firstText, ...log, listeners: bus.listenerCount('early') };
  app.unmount();
  result.destroyed = bus.destroyed;
  return result;
};

scenarios.heldBound = async () => {
  let error = null;
  let bus = null;
  let count = 0;
  function Flood() {
    const emit = useEventBusEmit();
    useLayoutEffect(() => {
      try {
        for (let i = 0; i <= MAX_HELD_EMITS; i++) emit('flood', i);
      } catch (e) {
        error = `${e.constructor.name}: ${e.message}`;
      }
    }, [emit]);
    useEventBusOn('flood', () => count++);
    bus = useEventBus();
    return <b>{bus === null ? 'loading' : 'ready'}</b>;
  }
  const app = mount(
    <EventBusProvider>
      <Flood />
    </EventBusProvider>,
  );
  await until('the bus', () => app.text() === 'ready');
  const result = { max: MAX_HELD_EMITS, error, delivered: count };
  app.unmount();
  return result;
};

// StrictMode mounts, unmounts and mounts every effect: still one connection, one bridge.
scenarios.strictMount = async (url) => {
  const state = { statuses: {}, events: [], sse: null, bus: null };
  window.current = state;
  function Status({ id }) {
    const { status, lastEvent } = useEventSource(url, { map: { 'video:created': ['video_created', 'list:refresh'] } });
    state.statuses[id] = { status, lastEvent: lastEvent && lastEvent.name };
    return null;
  }
  function SSEView() {
    const sse = useSSE();
    state.sse = { isConnected: sse.isConnected, lastEvent: sse.lastEvent && sse.lastEvent.name };
    return null;
  }
  function Counter() {
    useEventBusOn('video_created', (payload, meta) => state.events.push(`${meta.name} ${payload.videoId}`));
    useEventBusOn('list:refresh', (payload, meta) => state.events.push(`${meta.name} ${payload.videoId}`));
    state.bus = useEventBus();
    return null;
  }
  state.app = mount(
    <StrictMode>
      <EventBusProvider>
        <EventBridge url={url} map={{ 'video:created': ['video_created', 'list:refresh'] }}>
          <SSEView />
        </EventBridge>
        {[0, 1, 2, 3, 4].map((i) => (
          <Status key={i} id={i} />
        ))}
        <Counter />
      </EventBusProvider>
    </StrictMode>,
  );
  await until(
    'every hook to be open',
    () => state.sse?.isConnected && [0, 1, 2, 3, 4].every((i) => state.statuses[i]?.status === 'open'),
  );
  return true;
};

scenarios.strictSeen = async (count) => {
  const state = window.current;
  await until(`${count} bus events`, () => state.events.length >= count);
  await until('the hooks to see the last event', () => state.sse.lastEvent !== null && state.statuses[4].lastEvent);
  return { events: state.events, sse: state.sse, statuses: state.statuses };
};

scenarios.strictUnmount = async () => {
  const state = window.current;
  const bus = state.bus;
  state.app.unmount();
  return { destroyed: bus.destroyed };
};

// useEventSource against a scripted server: every step is gated by the test.
scenarios.sourceMount = async (url) => {
  const state = { statuses: [], errors: [], api: null, lastEvent: null, busEvents: [] };
  window.current = state;
  function Source() {
    const source = useEventSource(url, { reconnect: { initialMs: 20, maxMs: 20, jitter: false } });
    state.api = source;
    state.lastEvent = source.lastEvent && { name: source.lastEvent.name, payload: source.lastEvent.payload };
    useEffect(() => {
      state.statuses.push(source.status);
    }, [source.status]);
    useEffect(() => {
      state.errors.push(source.error === null ? null : String(source.error.message));
    }, [source.error]);
    return null;
  }
  function Status() {
    useEventBusOn('ssebus:*', (payload, meta) => state.busEvents.push(meta.name));
    return null;
  }
  state.app = mount(
    <EventBusProvider>
      <Status />
      <Source />
    </EventBusProvider>,
  );
  return true;
};

scenarios.sourceState = () => {
  const s = window.current;
  return { status: s.api?.status, statuses: s.statuses, errors: s.errors, lastEvent: s.lastEvent, busEvents: s.busEvents };
};

scenarios.sourceCall = (method) => {
  window.current.api[method]();
  return true;
};

scenarios.sourceUnmount = () => {
  window.current.app.unmount();
  return true;
};

scenarios.maxAttempts = async (url) => {
  let state = null;
  function Source() {
    const { status, error } = useEventSource(url, { reconnect: { initialMs: 0, maxAttempts: 1 } });
    state = { status, error: error && error.message };
    return null;
  }
  const app = mount(
    <EventBusProvider>
      <Source />
    </EventBusProvider>,
  );
  await until('the hook to give up', () => state?.status === 'closed');
  app.unmount();
  return state;
};

// useEventSource with a token: an inline headers function (a new one every render) that
// reads the render's token, a long backoff, debug output collected.
scenarios.authMount = async (url) => {
  const state = { api: null, renders: 0, debug: [], setToken: null };
  window.current = state;
  const realDebug = console.debug;
  console.debug = (format, ...args) => state.debug.push(format.replace(/%[sd]/g, () => String(args.shift())));
  state.restore = () => {
    console.debug = realDebug;
  };
  function Source() {
    const [token, setToken] = useState('stale');
    state.setToken = setToken;
    const source = useEventSource(url, {
      headers: async () => ({ authorization: `Bearer ${token}` }),
      reconnect: { initialMs: 60_000, jitter: false },
      debug: true,
    });
    state.renders++;
    state.api = source;
    return null;
  }
  state.app = mount(
    <EventBusProvider>
      <Source />
    </EventBusProvider>,
  );
  return true;
};

scenarios.authState = () => {
  const s = window.current;
  const e = s.api?.error ?? null;
  return {
    status: s.api?.status,
    error: e && { status: e.status, auth: e.auth ?? false, message: e.message, attempt: e.attempt },
    renders: s.renders,
    debug: s.debug,
  };
};

// Re-renders with a new token (and so a new headers function); `andReconnect` retries.
scenarios.authToken = (token, andReconnect) => {
  const s = window.current;
  flushSync(() => s.setToken(token));
  if (andReconnect) s.api.reconnect();
  return s.renders;
};

scenarios.authUnmount = () => {
  window.current.app.unmount();
  window.current.restore();
  return true;
};

// useSSE: inside an <EventBridge>, beside it (through the provider), and without one.
scenarios.sseMount = async (url) => {
  const state = { inside: null, beside: null };
  window.current = state;
  function View({ where }) {
    const sse = useSSE();
    state[where] = {
      isConnected: sse.isConnected,
      status: sse.status,
      lastEvent: sse.lastEvent && { name: sse.lastEvent.name, payload: sse.lastEvent.payload },
      api: sse,
    };
    return null;
  }
  state.app = mount(
    <EventBusProvider>
      <View where="beside" />
      <EventBridge url={url} map={{ 'video:created': 'video_created' }}>
        <View where="inside" />
      </EventBridge>
    </EventBusProvider>,
  );
  await until('both views to connect', () => state.inside?.isConnected && state.beside?.isConnected);
  return true;
};

scenarios.sseState = () => {
  const { inside, beside } = window.current;
  const plain = (v) => v && { isConnected: v.isConnected, status: v.status, lastEvent: v.lastEvent };
  return { inside: plain(inside), beside: plain(beside) };
};

scenarios.sseCall = (where, method) => {
  window.current[where].api[method]();
  return true;
};

scenarios.sseUnmount = () => {
  window.current.app.unmount();
  return true;
};

scenarios.sseWithoutBridge = async () => {
  let sse = null;
  function View() {
    sse = useSSE();
    return <b>{String(sse.isConnected)}</b>;
  }
  const app = mount(
    <EventBusProvider>
      <View />
    </EventBusProvider>,
  );
  await until('a render', () => sse !== null);
  let error = null;
  try {
    sse.connect();
  } catch (e) {
    error = e.message;
  }
  const result = { isConnected: sse.isConnected, status: sse.status, lastEvent: sse.lastEvent, error };
  app.unmount();
  return result;
};

class Boundary extends Component {
  state = { error: null };
  static getDerivedStateFromError(error) {
    return { error };
  }
  render() {
    return this.state.error ? <p>caught: {this.state.error.message}</p> : this.props.children;
  }
}

// The page is loaded with the .wasm answering 404.
scenarios.loadFailure = async () => {
  let emit = null;
  let heldError = null;
  function Child() {
    emit = useEventBusEmit();
    useLayoutEffect(() => {
      emit('early', 1); // held while the module loads
    }, []);
    return <b>loading</b>;
  }
  const app = mount(
    <Boundary>
      <EventBusProvider>
        <Child />
      </EventBusProvider>
    </Boundary>,
  );
  const firstText = app.text();
  await until('the error boundary', () => app.text().startsWith('caught'));
  try {
    emit('late', 2);
  } catch (e) {
    heldError = e.message;
  }
  const result = { firstText, text: app.text(), emitAfter: heldError };
  app.unmount();
  return result;
};

// crossTab under StrictMode: an <EventBridge crossTab> and three useEventSource hooks with
// the same options share one bridge in the page, and the page shares its stream with the
// other pages; every hook shows the tab's role.
scenarios.crossTabMount = async (url) => {
  const state = { hooks: {}, sse: null, events: [], roles: {} };
  window.current = state;
  const options = { crossTab: true, map: { 'video:created': 'video_created' } };
  function Source({ id }) {
    const { status, role } = useEventSource(url, options);
    state.hooks[id] = { status, role };
    const seen = (state.roles[id] ??= []);
    if (seen.length === 0 || seen.at(-1) !== role) seen.push(role); // every role it rendered
    return null;
  }
  function SSEView() {
    const sse = useSSE();
    state.sse = { isConnected: sse.isConnected, role: sse.role };
    return null;
  }
  function Counter() {
    useEventBusOn('video_created', (payload, meta) => state.events.push(meta.id));
    return null;
  }
  state.app = mount(
    <StrictMode>
      <EventBusProvider>
        <EventBridge url={url} {...options}>
          <SSEView />
        </EventBridge>
        {[0, 1, 2].map((i) => (
          <Source key={i} id={i} />
        ))}
        <Counter />
      </EventBusProvider>
    </StrictMode>,
  );
  await until(
    'every hook to be open with a role',
    () => state.sse?.isConnected && state.sse.role !== 'solo' && [0, 1, 2].every((i) => state.hooks[i]?.status === 'open'),
  );
  return true;
};

scenarios.crossTabState = () => {
  const s = window.current;
  return { hooks: s.hooks, sse: s.sse, events: s.events, roles: s.roles };
};

window.ready = true;
