// ssebus: the state behind ssebus/react, with no React in it (react.js wraps it in hooks,
// as zustand's react.ts wraps vanilla.ts).
//
// A Store is one provider's: the bus once it exists, the subscriptions its hooks hold,
// the emits made before the bus was ready, and the shared sources. Hooks talk to the
// store, never to the bus directly, so that a subscription or an emit made while the
// WebAssembly module loads takes effect when it is ready, and a bus given later (or
// replaced) receives every live subscription.
//
// A Source is one EventBridge shared by every user with the same URL and options; a
// SourceHandle is one user (a useEventSource() or <EventBridge>) with its own wish to be
// connected. Sources are reference-counted per store and closed a microtask after their
// last user leaves, so StrictMode's mount, unmount, mount keeps the one connection it
// opened. Everything is driven by calls from effects: nothing here runs at import time
// or touches `window`.

import { EventBridge } from './bridge.js';
import { describe, report } from './util.js';

/** Emits a provider holds while its bus loads; one more is refused with an Error. */
export const MAX_HELD_EMITS = 1000;

// ---------------------------------------------------------------------------- the store

export class Store {
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

  // A shared source for (url, options): one EventBridge per key and store.
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

// role: null until the bridge says which (with crossTab, once the tabs have elected); 'solo'
// when closed, as the bridge's.
export const INITIAL = Object.freeze({ status: 'connecting', lastEvent: null, error: null, role: null });
export const CLOSED = Object.freeze({ status: 'closed', lastEvent: null, error: null, role: 'solo' });

// One EventBridge shared by every user of a store with the same URL and options, so that
// each server event reaches the bus once. It connects while at least one of its users
// wants it to, and follows the bridge through the status events.
class Source {
  users = new Set();
  snapshot = INITIAL;
  #store;
  #bridge;
  #attached = false;
  #pending = false; // a close is scheduled
  #crossTab; // with crossTab the role is known once the bridge announces it; else 'solo'

  constructor(store, key, url, options) {
    this.#store = store;
    this.key = key;
    this.#crossTab = Boolean(options.crossTab);
    this.snapshot = { ...INITIAL, role: this.#crossTab ? null : 'solo' };
    const target = { emit: (name, payload, meta) => this.#receive(name, payload, meta) };
    const bridgeOptions = { ...options, url };
    if (typeof options.headers === 'function') {
      // Users pass a new function on every render: call the newest one of the first user
      // that has one (their functions do not take part in the key).
      const initial = options.headers;
      bridgeOptions.headers = () => {
        for (const user of this.users) if (typeof user.headers === 'function') return user.headers();
        return initial();
      };
    }
    this.#bridge = new EventBridge(target, bridgeOptions);
  }

  #receive(name, payload, meta) {
    const s = this.snapshot;
    if (name === 'ssebus:open') this.#set({ ...s, status: 'open', error: null });
    else if (name === 'ssebus:error') this.#set({ ...s, error: payload });
    else if (name === 'ssebus:reconnecting') this.#set({ ...s, status: 'reconnecting' });
    else if (name === 'ssebus:role') this.#set({ ...s, role: payload.role });
    else if (name === 'ssebus:closed') {
      if (payload.reason === 'hidden') this.#set({ ...s, status: 'closed' });
      else {
        this.#attached = false;
        this.#set({ ...s, status: 'closed', role: 'solo' });
      }
    } else if (!name.startsWith('ssebus:')) this.#set({ ...s, lastEvent: { name, payload, meta } });
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
        const role = this.#crossTab ? null : 'solo'; // announced again by the new connection
        this.#set({ ...this.snapshot, status: 'connecting', error: null, role });
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

  // Retries now with a fresh backoff; a source that gave up (or was let go) connects again.
  reconnect() {
    if (this.#attached) this.#bridge.reconnect();
    else this.sync();
  }
}

/**
 * What one useEventSource() or <EventBridge> holds: whether it wants the connection, and
 * the source it is attached to. Its snapshot is the source's while it wants it, and
 * frozen at 'closed' after disconnect().
 */
export class SourceHandle {
  wants;
  headers = null; // the newest headers function the user rendered, if any
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

  /** Wants the connection, and retries it now with a fresh backoff. */
  reconnect = () => {
    this.wants = true;
    this.#source?.reconnect();
    this.changed();
  };

  changed() {
    let next;
    if (!this.wants) {
      const s = this.#snapshot;
      next = s.status === 'closed' ? s : { ...s, status: 'closed' };
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

// ---------------------------------------------------------------------------- keys

// A key that is equal for equal options, so that an options object written inline does
// not reconnect on every render. Functions and other objects count by identity.
const identities = new WeakMap();
let nextIdentity = 1;

export function keyOf(value) {
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

/** The key of a source: a headers function counts as "a function", whichever it is. */
export function sourceKey(url, options) {
  if (typeof options.headers !== 'function') return keyOf([url, options]);
  return keyOf([url, { ...options, headers: 'function' }]);
}

/** A hook's options: its own `autoConnect`, and the rest for the bridge. */
export function splitOptions(hook, options) {
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
