// ssebus: the event bus over the WebAssembly core.
//
// The core (C++) owns subscriptions, patterns, ordering and `once` bookkeeping, and
// answers "which subscriptions, in which order" for a name. This side keeps the listener
// functions, interns names to integers, and caches each answer as an array of listener
// records, so that a steady emit is one Map lookup and a loop. Payloads never cross into
// WebAssembly.
//
// Subscription changes are batched: they reach the core, in one call, the next time an
// answer is needed. An answer is cached in two parts: the subscriptions a name gets from
// patterns (asked of the core, stale after any pattern change) and its own exact
// subscriptions, which this side already holds in order. Because subscription ids only
// increase, merging the two by id gives the core's order; so exact-name churn and `once`
// never cross into WebAssembly at all.

import { EventBridge } from './bridge.js';
import { loadCore, loadedCore } from './core.js';
import { describe, report } from './util.js';

export { EventBridge };

// Names with no subscription stay interned (as a cache of their answer) up to this many;
// past it the oldest are dropped, so that a million distinct names leave memory flat.
const IDLE_KEYS_HIGH = 2048;
const IDLE_KEYS_LOW = 1024;
// Batched subscription changes are flushed at least this often.
const PENDING_LIMIT = 1024;
const MAX_ID = 0xffffffff;

const OP_SUBSCRIBE = 1;
const OP_SUBSCRIBE_ONCE = 2;
const OP_UNSUBSCRIBE = 3;

const disposeSymbol = Symbol.dispose ?? Symbol.for('Symbol.dispose');

function checkListener(listener, method) {
  if (typeof listener !== 'function') {
    throw new TypeError(`ssebus: ${method}(): listener must be a function, got ${describe(listener)}`);
  }
}

function checkNames(names, method) {
  if (typeof names === 'string') return;
  if (Array.isArray(names)) {
    if (names.length === 0) {
      throw new TypeError(`ssebus: ${method}() got an empty array; pass at least one event name`);
    }
    for (const n of names) {
      if (typeof n !== 'string') {
        throw new TypeError(`ssebus: ${method}(): every event name must be a string, got ${describe(n)}`);
      }
    }
    return;
  }
  throw new TypeError(
    `ssebus: ${method}() takes an event name (a string) or an array of them, got ${describe(names)}`,
  );
}

const finalizer =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry((core) => {
        // A backstop only: destroy() is the way to free a bus.
        if (!core.isDeleted()) core.delete();
      })
    : null;

export class EventBus {
  #module;
  #core;
  #keys = new Map(); // name or pattern -> key record
  #patternSubs = new Map(); // subscription id -> record, for subscriptions of patterns
  #nextId = 1;
  #idle = 0; // key records with no subscription
  #total = 0; // live subscriptions
  #epoch = 0; // bumped by every pattern change; answers from an older epoch are stale
  #pendingAdds = [];
  #pendingRemoves = [];
  #onError = null;

  constructor(module, options = {}) {
    if (module === undefined || typeof module.CoreBus !== 'function') {
      throw new TypeError('ssebus: use `await createEventBus()` to make a bus');
    }
    this.#module = module;
    this.#core = new module.CoreBus();
    finalizer?.register(this, this.#core, this);
    if (options.onError !== undefined) this.onError = options.onError;
  }

  /** Called with (error, { name, listener }) when a listener throws. */
  get onError() {
    return this.#onError;
  }
  set onError(handler) {
    if (handler !== null && typeof handler !== 'function') {
      throw new TypeError(`ssebus: onError must be a function or null, got ${describe(handler)}`);
    }
    this.#onError = handler;
  }

  get destroyed() {
    return this.#core === null;
  }

  on(names, listener) {
    return this.#subscribe(names, listener, false, 'on');
  }

  once(names, listener) {
    return this.#subscribe(names, listener, true, 'once');
  }

  off(names, listener) {
    this.#alive('off');
    checkNames(names, 'off');
    if (listener !== undefined) checkListener(listener, 'off');
    for (const name of typeof names === 'string' ? [names] : names) {
      const key = this.#key(name);
      if (listener === undefined) {
        for (const rec of key.subs.slice()) this.#remove(rec);
      } else {
        const rec = key.subs.find((r) => r.fn === listener);
        if (rec !== undefined) this.#remove(rec);
      }
    }
  }

  emit(name, payload, meta) {
    if (this.#core === null) this.#alive('emit');
    let key = this.#keys.get(name);
    if (key === undefined) {
      if (typeof name !== 'string') {
        throw new TypeError(`ssebus: emit() takes an event name (a string), got ${describe(name)}`);
      }
      key = this.#key(name);
    }
    if (key.pattern) {
      throw new Error(
        `ssebus: emit() takes a concrete event name, and ${JSON.stringify(name)} is a pattern; ` +
          'wildcards belong in on()/once()',
      );
    }
    let route = key.route;
    if (route === null || key.epoch !== this.#epoch) route = this.#route(key);
    if (meta === undefined) meta = key.meta;
    for (let i = 0; i < route.length; i++) {
      const sub = route[i];
      if (sub.dead) continue; // removed before its turn
      if (sub.once) this.#consume(sub);
      try {
        sub.fn(payload, meta);
      } catch (error) {
        this.#report(error, name, sub.fn);
      }
    }
  }

  listenerCount(name) {
    this.#alive('listenerCount');
    if (name === undefined) return this.#total;
    if (typeof name !== 'string') {
      throw new TypeError(`ssebus: listenerCount() takes an event name (a string), got ${describe(name)}`);
    }
    const key = this.#key(name);
    if (key.pattern) return key.subs.length;
    if (key.route === null || key.epoch !== this.#epoch) this.#route(key);
    return key.route.length;
  }

  clear() {
    this.#alive('clear');
    this.#dropAll();
    this.#core.clear();
  }

  destroy() {
    if (this.#core === null) return;
    this.#dropAll();
    finalizer?.unregister(this);
    this.#core.delete();
    this.#core = null;
  }

  [disposeSymbol]() {
    this.destroy();
  }

  #alive(method) {
    if (this.#core === null) {
      throw new Error(`ssebus: ${method}() on a destroyed bus; create a new one with createEventBus()`);
    }
  }

  #subscribe(names, listener, once, method) {
    this.#alive(method);
    checkNames(names, method);
    checkListener(listener, method);
    if (typeof names === 'string') {
      const rec = this.#add(names, listener, once, null);
      return () => this.#remove(rec);
    }
    for (const n of names) this.#key(n); // refuse a bad name before adding any
    const group = once ? [] : null; // a once group fires for the first of its names only
    const recs = names.map((n) => this.#add(n, listener, once, group));
    return () => {
      for (const rec of recs) this.#remove(rec);
    };
  }

  #key(name) {
    let key = this.#keys.get(name);
    if (key !== undefined) return key;
    const interned = this.#core.intern(name);
    if (interned < 0) {
      throw new Error(`ssebus: ${this.#core.error()} (in ${JSON.stringify(name)})`);
    }
    key = {
      name,
      id: interned >>> 1,
      pattern: (interned & 1) === 1,
      subs: [], // live subscriptions under this key, in order
      route: null, // the cached answer: records to call, in order
      fromPatterns: null, // records that patterns give this name, in order
      epoch: 0, // the pattern epoch fromPatterns belongs to
      meta: Object.freeze({ name }),
    };
    this.#keys.set(name, key);
    this.#becameIdle();
    return key;
  }

  #becameIdle() {
    if (++this.#idle <= IDLE_KEYS_HIGH) return;
    for (const key of this.#keys.values()) {
      if (this.#idle <= IDLE_KEYS_LOW) break;
      if (key.subs.length !== 0) continue;
      this.#keys.delete(key.name);
      this.#core.release(key.id);
      this.#idle--;
    }
  }

  #add(name, fn, once, group) {
    const key = this.#key(name);
    if (this.#nextId > MAX_ID) {
      throw new Error('ssebus: this bus has issued 2^32 subscriptions; create a new bus');
    }
    const rec = { id: this.#nextId++, fn, once, dead: false, flushed: false, key, group };
    if (group !== null) group.push(rec);
    if (key.subs.length === 0) this.#idle--;
    key.subs.push(rec);
    if (key.pattern) this.#patternSubs.set(rec.id, rec);
    this.#total++;
    this.#invalidate(key);
    if (this.#pendingAdds.push(rec) > PENDING_LIMIT) this.#flush();
    return rec;
  }

  #remove(rec) {
    if (rec.dead) return;
    rec.dead = true;
    this.#total--;
    const key = rec.key;
    if (key.pattern) this.#patternSubs.delete(rec.id);
    key.subs.splice(key.subs.indexOf(rec), 1);
    this.#invalidate(key);
    if (rec.flushed && this.#pendingRemoves.push(rec.id) > PENDING_LIMIT) this.#flush();
    if (key.subs.length === 0) this.#becameIdle();
  }

  #consume(rec) {
    if (rec.group === null) this.#remove(rec);
    else for (const member of rec.group) this.#remove(member);
  }

  #invalidate(key) {
    if (key.pattern) this.#epoch++;
    else key.route = null;
  }

  #flush() {
    const removes = this.#pendingRemoves;
    const adds = this.#pendingAdds;
    this.#pendingRemoves = [];
    this.#pendingAdds = [];
    let live = 0;
    for (const rec of adds) if (!rec.dead) live++;
    const words = (removes.length + live) * 3;
    if (words === 0) return;
    const ptr = this.#core.opsBuffer(words);
    const heap = this.#module.HEAPU32; // read after the call: the heap may have grown
    let w = ptr >>> 2;
    for (const id of removes) {
      heap[w++] = OP_UNSUBSCRIBE;
      heap[w++] = id;
      heap[w++] = 0;
    }
    for (const rec of adds) {
      if (rec.dead) continue;
      heap[w++] = rec.once ? OP_SUBSCRIBE_ONCE : OP_SUBSCRIBE;
      heap[w++] = rec.id;
      heap[w++] = rec.key.id;
      rec.flushed = true;
    }
    this.#core.apply(words);
  }

  #route(key) {
    if (key.fromPatterns === null || key.epoch !== this.#epoch) {
      if (this.#pendingAdds.length !== 0 || this.#pendingRemoves.length !== 0) this.#flush();
      const ptr = this.#core.route(key.id) >>> 2;
      const heap = this.#module.HEAPU32;
      const n = heap[ptr];
      const fromPatterns = [];
      for (let i = 0; i < n; i++) {
        const rec = this.#patternSubs.get(heap[ptr + 1 + i]);
        if (rec !== undefined) fromPatterns.push(rec);
      }
      key.fromPatterns = fromPatterns;
      key.epoch = this.#epoch;
    }
    const route = mergeById(key.subs, key.fromPatterns);
    key.route = route;
    return route;
  }

  #report(error, name, listener) {
    const handler = this.#onError;
    if (handler !== null) {
      try {
        handler(error, { name, listener });
        return;
      } catch (handlerError) {
        error = handlerError;
      }
    }
    // Nobody asked for it: surface it the way the platform surfaces uncaught errors,
    // without stopping the other listeners.
    report(error);
  }

  #dropAll() {
    for (const key of this.#keys.values()) for (const rec of key.subs) rec.dead = true;
    this.#keys = new Map();
    this.#patternSubs = new Map();
    this.#pendingAdds = [];
    this.#pendingRemoves = [];
    this.#idle = 0;
    this.#total = 0;
    this.#epoch++;
  }
}

// Two lists of records in id order, merged into a new array (a snapshot: an emit in
// progress keeps iterating the array it started with).
function mergeById(a, b) {
  if (b.length === 0) return a.slice();
  if (a.length === 0) return b.slice();
  const out = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i].id < b[j].id ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

/**
 * Creates an event bus. The WebAssembly module is loaded and instantiated once per page
 * (or process) and shared by every bus.
 */
export async function createEventBus(options = {}) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`ssebus: createEventBus() takes an options object, got ${describe(options)}`);
  }
  return new EventBus(await loadCore(), options);
}

/**
 * The WebAssembly heap: its size and the bytes in use by the core, or null before the
 * first bus is created. For leak checks and diagnostics.
 */
export function wasmMemoryStats() {
  const coreModule = loadedCore();
  if (coreModule === null) return null;
  return { heapBytes: coreModule.HEAPU8.length, usedBytes: coreModule.heapUsed() };
}
