'use client';

// ssebus/react: React bindings for the bus and the bridge.
//
// The state lives in store.js, which knows nothing of React: a provider owns a Store (the
// bus, the hooks' subscriptions, the emits held while the bus loads, the shared sources),
// and each useEventSource() or <EventBridge> a SourceHandle on a shared Source. This
// module only wraps them in hooks, as zustand's react.ts wraps vanilla.ts.
//
// Hooks subscribe in a layout effect, once per mount and event name, with a stable
// wrapper that calls the newest handler (kept in a ref, updated in an insertion effect).
// A headers function is kept the same way: the newest one rendered is called before
// every attempt, and a new function on every render does not reconnect.
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

import { createEventBus } from './index.js';
import { CLOSED, MAX_HELD_EMITS, SourceHandle, sourceKey, splitOptions, Store } from './store.js';
import { describe, report } from './util.js';

export { MAX_HELD_EMITS };

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

function useSource(store, url, options, autoConnect) {
  const [handle] = useState(() => new SourceHandle(autoConnect));
  const key = sourceKey(url, options);
  const headers = options.headers;
  useInsertionEffect(() => {
    handle.headers = typeof headers === 'function' ? headers : null; // the newest, for every attempt
  });
  // The closure sees the url and options of the render that made the key.
  useEffect(() => handle.attach(store, key, url, options), [store, handle, key]);
  return handle;
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
      role: s.role,
      connect: handle.connect,
      disconnect: handle.disconnect,
      reconnect: handle.reconnect,
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
 * `{ isConnected, status, lastEvent, error, role, connect, disconnect, reconnect }`.
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
  const reconnect = useCallback(() => {
    if (handle === null) throw new Error('ssebus/react: useSSE(): reconnect() needs an <EventBridge> under the provider');
    handle.reconnect();
  }, [handle]);
  return useMemo(
    () => ({
      isConnected: s.status === 'open',
      status: s.status,
      lastEvent: s.lastEvent,
      error: s.error,
      role: s.role,
      connect,
      disconnect,
      reconnect,
    }),
    [s, connect, disconnect, reconnect],
  );
}
