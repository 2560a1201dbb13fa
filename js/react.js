'use client';

// ssebus/react: React bindings for the bus and the bridge.
//
// A provider owns a store: the bus once it exists, the subscriptions its hooks hold, the
// emits made before the bus was ready, and the shared sources (one EventBridge per URL
// and options). Hooks talk to the store, never to the bus directly, so that a subscription
// or an emit made while the WebAssembly module loads takes effect when it is ready, and
// a bus given later (or replaced) receives every live subscription.
//
// Hooks subscribe in a layout effect, once per mount and event name, with a stable
// wrapper that calls the newest handler (kept in a ref, updated in an insertion effect).
// Sources are reference-counted per provider and closed a microtask after their last
// user leaves, so StrictMode's mount, unmount, mount keeps the one connection it opened.
//
// Nothing here touches `window` or `document` at import time or while rendering: effects
// do the work, and effects do not run in server-side rendering. 'use client' tells React
// Server Components frameworks that this module (hooks, context) runs on the client.

import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useInsertionEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';

import { createEventBus, EventBridge as Bridge } from './index.js';
import { describe, report } from './util.js';

/** Emits a provider holds while its bus loads; one more is refused with an Error. */
export const MAX_HELD_EMITS = 1000;

// Layout effects warn during server rendering in React 18; effects are skipped there anyway.
const useClientLayoutEffect = typeof document === 'undefined' ? useEffect : useLayoutEffect;

const StoreContext = createContext(null);
const SourceContext = createContext(null);

function useStore(hook) {
  const store = useContext(StoreContext);
  if (store === null) {
    throw new Error(`ssebus/react: ${hook}() must be used inside an <EventBusProvider>`);
  }
  return store;
}

// ---------------------------------------------------------------------------- the store

class Store {
  bus;
  error = null;
  #closed = false; // the provider is unmounted (or between StrictMode's unmount and mount)
  #subs = new Set(); // live subscriptions, in the order they were made
  #held = []; // [name, payload, meta] emitted before the bus was ready
  #listeners = new Set();
  #bridges = []; // mounted <EventBridge> sources, the newest last
  #sources = new Map(); // key -> Source

  constructor(bus) {
    this.bus = bus;
  }

  // For useSyncExternalStore.
  subscribe = (listener) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };
  getBus = () => this.bus;
  getError = () => this.error;
  getBridge = () => (this.#bridges.length === 0 ? null : this.#bridges[this.#bridges.length - 1]);

  #notify() {
    for (const listener of this.#listeners) listener();
  }

  open() {
    this.#closed = false;
  }

  // The provider unmounted. A real unmount drops the held emits; StrictMode's remount,
  // which follows synchronously, keeps them.
  close() {
    this.#closed = true;
    queueMicrotask(() => {
      if (this.#closed) this.#held = [];
    });
  }

  // Moves every live subscription to `bus` (or parks them when null), then delivers the
  // emits held meanwhile, in order.
  setBus(bus) {
    if (bus === this.bus) return;
    if (this.bus !== null) {
      for (const sub of this.#subs) {
        sub.off?.(); // an unsubscribe never throws, even on a destroyed bus
        sub.off = null;
      }
    }
    this.bus = bus;
    if (bus !== null) {
      this.error = null;
      for (const sub of this.#subs) {
        try {
          this.#apply(sub);
        } catch (error) {
          this.#drop(sub); // e.g. a malformed pattern, refused by the bus
          report(error);
        }
      }
      const held = this.#held;
      this.#held = [];
      for (const [name, payload, meta] of held) {
        if (this.bus !== bus) break;
        try {
          bus.emit(name, payload, meta);
        } catch (error) {
          report(error);
        }
      }
    }
    this.#notify();
  }

  fail(error) {
    this.error = error;
    this.#held = [];
    this.#notify();
  }

  on(method, names, listener) {
    const sub = { method, names, fn: listener, off: null, live: true };
    if (method === 'once') {
      sub.fn = (payload, meta) => {
        this.#drop(sub); // fired: not moved to another bus
        listener(payload, meta);
      };
    }
    this.#subs.add(sub);
    if (this.bus !== null) {
      try {
        this.#apply(sub);
      } catch (error) {
        this.#drop(sub);
        throw error;
      }
    }
    return () => this.#drop(sub);
  }

  #apply(sub) {
    sub.off = sub.method === 'once' ? this.bus.once(sub.names, sub.fn) : this.bus.on(sub.names, sub.fn);
  }

  #drop(sub) {
    if (!sub.live) return;
    sub.live = false;
    this.#subs.delete(sub);
    sub.off?.();
    sub.off = null;
  }

  emit = (name, payload, meta) => {
    const bus = this.bus;
    if (bus !== null) {
      bus.emit(name, payload, meta);
      return;
    }
    if (typeof name !== 'string') {
      throw new TypeError(`ssebus/react: emit() takes an event name (a string), got ${describe(name)}`);
    }
    if (this.error !== null) {
      throw new Error(
        `ssebus/react: emit(${JSON.stringify(name)}): the provider has no bus, it failed to load: ` +
          (this.error?.message ?? this.error),
        { cause: this.error },
      );
    }
    if (this.#closed) return; // like setState after unmount: nobody is left to hear it
    if (this.#held.length >= MAX_HELD_EMITS) {
      throw new Error(
        `ssebus/react: emit(${JSON.stringify(name)}): ${MAX_HELD_EMITS} emits are already waiting for the bus ` +
          '(its WebAssembly module is still loading); emit less before it is ready, or wait for useEventBus() ' +
          'to return the bus',
      );
    }
    this.#held.push([name, payload, meta]);
  };

  // A shared source for (url, options): one EventBridge per key and provider.
  acquire(key, url, options) {
    let source = this.#sources.get(key);
    if (source === undefined) {
      source = new Source(this, key, url, options);
      this.#sources.set(key, source);
    }
    return source;
  }

  retire(source) {
    if (this.#sources.get(source.key) === source) this.#sources.delete(source.key);
  }

  addBridge(handle) {
    this.#bridges = [...this.#bridges, handle];
    this.#notify();
    return () => {
      this.#bridges = this.#bridges.filter((h) => h !== handle);
      this.#notify();
    };
  }
}

// ---------------------------------------------------------------------------- sources

const INITIAL = Object.freeze({ status: 'connecting', lastEvent: null, error: null });
const CLOSED = Object.freeze({ status: 'closed', lastEvent: null, error: null });

// One EventBridge shared by every hook and <EventBridge> of a provider with the same URL
// and options, so that each server event reaches the bus once. It connects while at least
// one of its users wants it to, and follows the bridge through the status events.
class Source {
  users = new Set();
  snapshot = INITIAL;
  #store;
  #bridge;
  #attached = false;
  #pending = false; // a close is scheduled

  constructor(store, key, url, options) {
    this.#store = store;
    this.key = key;
    const target = { emit: (name, payload, meta) => this.#receive(name, payload, meta) };
    this.#bridge = new Bridge(target, { ...options, url });
  }

  #receive(name, payload, meta) {
    const s = this.snapshot;
    if (name === 'ssebus:open') this.#set({ status: 'open', lastEvent: s.lastEvent, error: null });
    else if (name === 'ssebus:error') this.#set({ status: s.status, lastEvent: s.lastEvent, error: payload.error });
    else if (name === 'ssebus:reconnecting') this.#set({ status: 'reconnecting', lastEvent: s.lastEvent, error: s.error });
    else if (name === 'ssebus:closed') {
      if (payload.reason !== 'hidden') this.#attached = false;
      this.#set({ status: 'closed', lastEvent: s.lastEvent, error: s.error });
    } else if (!name.startsWith('ssebus:')) this.#set({ status: s.status, lastEvent: { name, payload, meta }, error: s.error });
    this.#store.emit(name, payload, meta);
  }

  #set(snapshot) {
    this.snapshot = snapshot;
    for (const user of this.users) user.changed();
  }

  // Connects when a user wants it; closes a microtask after the last one stops wanting
  // it or leaves (StrictMode's unmount and mount run synchronously in between).
  sync() {
    for (const user of this.users) {
      if (!user.wants) continue;
      if (!this.#attached) {
        this.#attached = true;
        this.#set({ status: 'connecting', lastEvent: this.snapshot.lastEvent, error: null });
        this.#bridge.connect();
      }
      return;
    }
    if (this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => {
      this.#pending = false;
      for (const user of this.users) if (user.wants) return;
      if (this.users.size === 0) this.#store.retire(this);
      if (this.#attached) this.#bridge.close(); // sets #attached through ssebus:closed
    });
  }
}

// What one useEventSource() or <EventBridge> holds: whether it wants the connection, and
// the source it is attached to. Its snapshot is the source's while it wants it, and
// frozen at 'closed' after disconnect().
class SourceHandle {
  wants;
  #source = null;
  #snapshot;
  #listeners = new Set();

  constructor(wants) {
    this.wants = wants;
    this.#snapshot = wants ? INITIAL : CLOSED;
  }

  attach(store, key, url, options) {
    const source = store.acquire(key, url, options);
    this.#source = source;
    source.users.add(this);
    source.sync();
    this.changed();
    return () => {
      source.users.delete(this);
      if (this.#source === source) this.#source = null;
      source.sync();
    };
  }

  connect = () => {
    this.wants = true;
    this.#source?.sync();
    this.changed();
  };

  disconnect = () => {
    this.wants = false;
    this.#source?.sync();
    this.changed();
  };

  changed() {
    let next;
    if (!this.wants) {
      const s = this.#snapshot;
      next = s.status === 'closed' ? s : { status: 'closed', lastEvent: s.lastEvent, error: s.error };
    } else {
      next = this.#source?.snapshot ?? this.#snapshot;
    }
    if (next === this.#snapshot) return;
    this.#snapshot = next;
    for (const listener of this.#listeners) listener();
  }

  subscribe = (listener) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = () => this.#snapshot;
}

// A key that is equal for equal options, so that an options object written inline does
// not reconnect on every render. Functions and other objects count by identity.
const identities = new WeakMap();
let nextIdentity = 1;

function keyOf(value) {
  if (value === undefined) return 'u';
  if (value === null || typeof value !== 'object') {
    if (typeof value !== 'function') return JSON.stringify(value);
  } else if (Array.isArray(value)) {
    return `[${value.map(keyOf).join(',')}]`;
  } else if (typeof Headers === 'function' && value instanceof Headers) {
    return keyOf([...value]);
  } else if (typeof URL === 'function' && value instanceof URL) {
    return JSON.stringify(value.href);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const keys = Object.keys(value).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${keyOf(value[k])}`).join(',')}}`;
    }
  }
  let id = identities.get(value);
  if (id === undefined) identities.set(value, (id = nextIdentity++));
  return `#${id}`;
}

function useSource(store, url, options, autoConnect) {
  const [handle] = useState(() => new SourceHandle(autoConnect));
  const key = keyOf([url, options]);
  // The closure sees the url and options of the render that made the key.
  useEffect(() => handle.attach(store, key, url, options), [store, handle, key]);
  return handle;
}

function splitOptions(hook, options) {
  if (options === undefined || options === null) return [{}, true];
  if (typeof options !== 'object') {
    throw new TypeError(`ssebus/react: ${hook}(url, options): options must be an object, got ${describe(options)}`);
  }
  const { autoConnect = true, ...rest } = options;
  if (typeof autoConnect !== 'boolean') {
    throw new TypeError(`ssebus/react: ${hook}: autoConnect must be true or false, got ${describe(autoConnect)}`);
  }
  return [rest, autoConnect];
}

// ---------------------------------------------------------------------------- the API

/**
 * Makes a bus available to the hooks below it: the one given as `bus`, or one it creates
 * (and destroys on unmount). Renders its children at once, while the bus loads.
 */
export function EventBusProvider({ bus, onError, children }) {
  if (bus !== undefined && (bus === null || typeof bus !== 'object' || typeof bus.on !== 'function')) {
    throw new TypeError(
      `ssebus/react: <EventBusProvider bus>: bus must be a bus from createEventBus(), got ${describe(bus)}`,
    );
  }
  const [store] = useState(() => new Store(bus ?? null));
  const onErrorRef = useRef(onError);
  useInsertionEffect(() => {
    onErrorRef.current = onError;
  });

  useClientLayoutEffect(() => {
    store.open();
    if (bus !== undefined) {
      store.setBus(bus);
      return () => {
        store.close();
        store.setBus(null);
      };
    }
    let cancelled = false;
    let made = null;
    createEventBus().then(
      (created) => {
        if (cancelled) {
          created.destroy();
          return;
        }
        made = created;
        created.onError = (error, context) => {
          const handler = onErrorRef.current;
          if (typeof handler === 'function') handler(error, context);
          else report(error);
        };
        store.setBus(created);
      },
      (error) => {
        if (!cancelled) store.fail(error);
      },
    );
    return () => {
      cancelled = true;
      store.close();
      store.setBus(null);
      made?.destroy();
    };
  }, [store, bus]);

  const error = useSyncExternalStore(store.subscribe, store.getError, store.getError);
  if (error !== null) throw error; // to the nearest error boundary
  return createElement(StoreContext.Provider, { value: store }, children);
}

/** The provider's bus, or null while it loads (and during server rendering). */
export function useEventBus() {
  const store = useStore('useEventBus');
  return useSyncExternalStore(store.subscribe, store.getBus, store.getBus);
}

function checkHandler(hook, handler) {
  if (typeof handler !== 'function') {
    throw new TypeError(`ssebus/react: ${hook}(): handler must be a function, got ${describe(handler)}`);
  }
}

function useSubscription(hook, method, names, handler) {
  const store = useStore(hook);
  checkHandler(hook, handler);
  const key = typeof names === 'string' ? names : JSON.stringify(names);
  const latest = useRef(handler);
  useInsertionEffect(() => {
    latest.current = handler;
  });
  // The closure sees the names of the render that made the key.
  useClientLayoutEffect(() => store.on(method, names, (payload, meta) => latest.current(payload, meta)), [store, key]);
}

function checkName(hook, name) {
  if (typeof name !== 'string') {
    throw new TypeError(
      `ssebus/react: ${hook}(name, handler): name must be an event name or pattern (a string), got ${describe(name)}`,
    );
  }
}

/** Calls the newest `handler` for every `name` event (a name or a pattern) while mounted. */
export function useEventBusOn(name, handler) {
  checkName('useEventBusOn', name);
  useSubscription('useEventBusOn', 'on', name, handler);
}

/** Like useEventBusOn, for the first `name` event only; armed again when `name` changes. */
export function useEventBusOnce(name, handler) {
  checkName('useEventBusOnce', name);
  useSubscription('useEventBusOnce', 'once', name, handler);
}

/** One handler for several names; a new array with the same names does not resubscribe. */
export function useEventBusMulti(names, handler) {
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw new TypeError(
      `ssebus/react: useEventBusMulti(names, handler): names must be a non-empty array of event names, got ${describe(names)}`,
    );
  }
  useSubscription('useEventBusMulti', 'on', names, handler);
}

/**
 * A stable emit(name, payload?, meta?) for the provider's bus. Before the bus is ready it
 * holds up to MAX_HELD_EMITS emits and delivers them, in order, once it is.
 */
export function useEventBusEmit() {
  return useStore('useEventBusEmit').emit;
}

/** A connection to an SSE endpoint through the provider's bus, with its status. */
export function useEventSource(url, options) {
  const store = useStore('useEventSource');
  const [bridgeOptions, autoConnect] = splitOptions('useEventSource', options);
  const handle = useSource(store, url, bridgeOptions, autoConnect);
  const s = useSyncExternalStore(handle.subscribe, handle.getSnapshot, handle.getSnapshot);
  return useMemo(
    () => ({
      status: s.status,
      lastEvent: s.lastEvent,
      error: s.error,
      connect: handle.connect,
      disconnect: handle.disconnect,
    }),
    [s, handle],
  );
}

/**
 * Connects the provider's bus to an SSE endpoint while mounted; every EventBridge option
 * is a prop. Its children (and any component under the provider) reach it with useSSE().
 */
export function EventBridge({ children, autoConnect = true, url, ...options }) {
  const store = useStore('EventBridge');
  if (typeof autoConnect !== 'boolean') {
    throw new TypeError(`ssebus/react: <EventBridge autoConnect> must be true or false, got ${describe(autoConnect)}`);
  }
  const handle = useSource(store, url, options, autoConnect);
  useEffect(() => store.addBridge(handle), [store, handle]);
  return createElement(SourceContext.Provider, { value: handle }, children);
}

const noSubscription = () => () => {};
const closedSnapshot = () => CLOSED;

/**
 * The nearest <EventBridge> above, or else the newest one mounted under the provider:
 * `{ isConnected, status, lastEvent, error, connect, disconnect }`.
 */
export function useSSE() {
  const store = useStore('useSSE');
  const nearest = useContext(SourceContext);
  const registered = useSyncExternalStore(store.subscribe, store.getBridge, store.getBridge);
  const handle = nearest ?? registered;
  const s = useSyncExternalStore(
    handle === null ? noSubscription : handle.subscribe,
    handle === null ? closedSnapshot : handle.getSnapshot,
    handle === null ? closedSnapshot : handle.getSnapshot,
  );
  const connect = useCallback(() => {
    if (handle === null) throw new Error('ssebus/react: useSSE(): connect() needs an <EventBridge> under the provider');
    handle.connect();
  }, [handle]);
  const disconnect = useCallback(() => {
    if (handle === null) throw new Error('ssebus/react: useSSE(): disconnect() needs an <EventBridge> under the provider');
    handle.disconnect();
  }, [handle]);
  return useMemo(
    () => ({
      isConnected: s.status === 'open',
      status: s.status,
      lastEvent: s.lastEvent,
      error: s.error,
      connect,
      disconnect,
    }),
    [s, connect, disconnect],
  );
}
