// ssebus: the event bus over the WebAssembly core.
//
// The core (C++) is a pattern index: it interns names, holds the subscriptions of wildcard
// patterns, and answers "which pattern subscriptions match this name, in order". This side
// owns everything else: the listener functions, exact-name subscriptions, `once`, and the
// merge of a name's own subscriptions with what patterns give it. Payloads, exact names
// and `once` never cross into WebAssembly; a name crosses once, the first time it is
// emitted while some pattern is subscribed.
//
// Each name's answer is cached as its listener records and their functions, so that a
// steady emit is a lookup and a loop over functions (see #run). What patterns give a name
// is asked of the core and marked stale by any pattern change (an epoch). Ids only
// increase, so merging a name's own subscriptions with those by id is registration order.
// Pattern changes are batched and reach the core, in one call, when an answer is needed.

import { EventBridge } from './bridge.js';
import { loadCore, loadedCore } from './core.js';
import { describe, report } from './util.js';

export { EventBridge };

// Names with no subscription stay interned (as a cache of their answer) up to this many;
// past it the oldest are dropped, so that a million distinct names leave memory flat.
const IDLE_KEYS_HIGH = 2048;
const IDLE_KEYS_LOW = 1024;
// Batched pattern changes are flushed at least this often.
const PENDING_LIMIT = 1024;
const MAX_ID = 0xffffffff;

// The core's ops (ssebus::Op): [op, subscription id, pattern key id].
const OP_SUBSCRIBE = 1;
const OP_UNSUBSCRIBE = 2;

// A subscription's state: live, live until its first call, or removed.
const LIVE = 0;
const ONCE = 1;
const DEAD = 2;

// The subscriptions of a name that has none. Shared, and never written to: #add replaces
// an empty array instead of pushing to it. (Not frozen: the emit loop sees only one kind
// of array.)
const EMPTY = [];

// The functions of an answer that is stale or has a once subscription. Never written to.
const SLOW = [];

// What patterns give a name while no pattern is subscribed. Never written to.
const NONE = Object.freeze([]);

const isOnce = (rec) => rec.state === ONCE;

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

// A name -> record table. An object rather than a Map: while it is small and only grows,
// V8 keeps it in fast mode and turns a lookup of a name it has seen at that call site into
// a field load (about 10x a Map.get). Its prototype chain is empty, so names such as
// "constructor" or "__proto__" are ordinary keys.
function Names() {}
Names.prototype = Object.create(null);

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
  #keys = new Names(); // name or pattern -> key record
  #patternSubs = new Map(); // subscription id -> record, for subscriptions of patterns
  #nextId = 1;
  #idle = 0; // key records with no subscription
  #holding = false; // while true, no key record is dropped to make room
  #total = 0; // live subscriptions
  #epoch = 1; // bumped by every pattern change; answers from an older epoch are stale
  #routed = []; // the keys whose answer was computed in this epoch
  #routedLimit = 2 * IDLE_KEYS_HIGH;
  #removals = 0; // bumped by every removal, so that an emit in progress notices one
  #pendingAdds = []; // pattern subscriptions the core has not seen
  #pendingRemoves = []; // and removals of ones it has
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

  // on() and once() keep the common call (one name, a function, a live bus) small so that
  // it inlines; #subscribe does the rest and the checks.
  on(names, listener) {
    if (typeof names === 'string' && typeof listener === 'function' && this.#core !== null) {
      return EventBus.#unsubscribe.bind(this.#add(this.#keys[names] ?? this.#key(names), listener, LIVE, null));
    }
    return this.#subscribe(names, listener, LIVE, 'on');
  }

  once(names, listener) {
    if (typeof names === 'string' && typeof listener === 'function' && this.#core !== null) {
      return EventBus.#unsubscribe.bind(this.#add(this.#keys[names] ?? this.#key(names), listener, ONCE, null));
    }
    return this.#subscribe(names, listener, ONCE, 'once');
  }

  off(names, listener) {
    this.#alive('off');
    checkNames(names, 'off');
    if (listener !== undefined) checkListener(listener, 'off');
    for (const name of typeof names === 'string' ? [names] : names) {
      const key = this.#key(name);
      if (listener === undefined) {
        for (const rec of key.subs) this.#remove(rec);
      } else {
        const rec = key.subs.find((r) => r.fn === listener);
        if (rec !== undefined) this.#remove(rec);
      }
    }
  }

  emit(name, payload, meta) {
    // Kept small so that it inlines; a destroyed bus's key map is empty.
    const key = (typeof name === 'string' ? this.#keys[name] : undefined) ?? this.#emitKey(name);
    if (meta === undefined) meta = key.meta;
    const fns = key.fns;
    if (fns !== SLOW) this.#run(key.route, fns, 0, payload, meta, name);
    else this.#emitSlow(key, payload, meta, name);
  }

  #emitSlow(key, payload, meta, name) {
    if (key.ready !== this.#epoch) this.#emitRoute(key);
    const route = key.route;
    if (key.fns !== SLOW) this.#run(route, key.fns, 0, payload, meta, name);
    else this.#runChecked(route, 0, route.length, payload, meta, name);
  }

  // Calls fns[i..n), the functions of route[i..n) (arrays replaced, never spliced; n the
  // length now, so listeners added meanwhile are not called). After any removal the rest
  // is checked record by record. A throw resumes after the listener that threw.
  #run(route, fns, i, payload, meta, name) {
    const removals = this.#removals;
    const n = fns.length;
    let fn;
    for (;;) {
      try {
        for (; i < n; i++) {
          fn = fns[i];
          fn(payload, meta);
          if (this.#removals !== removals) return this.#runChecked(route, i + 1, n, payload, meta, name);
        }
        return;
      } catch (error) {
        this.#report(error, name, fn);
        if (this.#removals !== removals) return this.#runChecked(route, i + 1, n, payload, meta, name);
        i++;
      }
    }
  }

  // Calls route[i..n), skipping removed records and consuming once ones before the call.
  #runChecked(route, i, n, payload, meta, name) {
    for (; i < n; i++) {
      const sub = route[i];
      if (sub.state !== LIVE) {
        if (sub.state === DEAD) continue; // removed before its turn
        this.#consume(sub);
      }
      try {
        sub.fn(payload, meta);
      } catch (error) {
        this.#report(error, name, sub.fn);
      }
    }
  }

  #emitKey(name) {
    this.#alive('emit');
    if (typeof name !== 'string') {
      throw new TypeError(`ssebus: emit() takes an event name (a string), got ${describe(name)}`);
    }
    return this.#key(name);
  }

  #emitRoute(key) {
    if (key.pattern) {
      throw new Error(
        `ssebus: emit() takes a concrete event name, and ${JSON.stringify(key.name)} is a pattern; ` +
          'wildcards belong in on()/once()',
      );
    }
    return this.#route(key);
  }

  listenerCount(name) {
    this.#alive('listenerCount');
    if (name === undefined) return this.#total;
    if (typeof name !== 'string') {
      throw new TypeError(`ssebus: listenerCount() takes an event name (a string), got ${describe(name)}`);
    }
    const key = this.#key(name);
    if (key.pattern) return key.subs.length;
    return (key.ready !== this.#epoch ? this.#route(key) : key.route).length;
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

  #subscribe(names, listener, state, method) {
    this.#alive(method);
    checkNames(names, method);
    checkListener(listener, method);
    if (typeof names === 'string') {
      return EventBus.#unsubscribe.bind(this.#add(this.#key(names), listener, state, null));
    }
    // Refuse a bad name before adding any. The records are held until they have their
    // subscriptions: making room for one name must not drop another's.
    this.#holding = true;
    let recs;
    try {
      const keys = names.map((n) => this.#key(n));
      const group = state === ONCE ? [] : null; // a once group fires for the first of its names only
      recs = keys.map((key) => this.#add(key, listener, state, group));
    } finally {
      this.#holding = false;
    }
    return () => {
      for (const rec of recs) this.#remove(rec);
    };
  }

  // The record of a name or pattern. Exact names stay on this side until the core is
  // asked what patterns give them (id -1 until then); patterns are interned at once,
  // which also checks them.
  #key(name) {
    let key = this.#keys[name];
    if (key !== undefined) return key;
    const pattern = name.includes('*');
    let id = -1;
    if (pattern) {
      id = this.#intern(name);
    } else if (name === '') {
      throw new Error('ssebus: an event name cannot be empty (in "")');
    }
    key = {
      name,
      id,
      pattern,
      subs: EMPTY, // live subscriptions under this key, in order; replaced, never spliced
      route: EMPTY, // the cached answer: records to call, in order
      fns: SLOW, // their functions, or SLOW when the answer is stale or has a once
      spare: null, // a one-element array this key's subs no longer use, for reuse
      ready: 0, // the pattern epoch the cached answer belongs to; 0 once it is stale
      listed: 0, // the epoch in which the key was last put in #routed
      fromPatterns: NONE, // records that patterns give this name, in order
      epoch: 0, // the pattern epoch fromPatterns belongs to
      meta: Object.freeze({ name }),
      bus: this,
    };
    // Counted (and room made) before it is in the table, so that making room can never
    // drop the record this call returns.
    this.#becameIdle();
    this.#keys[name] = key;
    return key;
  }

  #intern(name) {
    const interned = this.#core.intern(name);
    if (interned < 0) {
      throw new Error(`ssebus: ${this.#core.error()} (in ${JSON.stringify(name)})`);
    }
    return interned >>> 1;
  }

  #becameIdle() {
    if (++this.#idle <= IDLE_KEYS_HIGH || this.#holding) return;
    const keys = this.#keys;
    for (const name in keys) {
      if (this.#idle <= IDLE_KEYS_LOW) break;
      const key = keys[name];
      if (key.subs.length !== 0) continue;
      delete keys[name];
      if (key.id >= 0) this.#core.release(key.id);
      this.#idle--;
    }
  }

  #add(key, fn, state, group) {
    if (this.#nextId > MAX_ID) {
      throw new Error('ssebus: this bus has issued 2^32 subscriptions; create a new bus');
    }
    const rec = { id: this.#nextId++, fn, state, flushed: false, key, group };
    if (group !== null) group.push(rec);
    const subs = key.subs;
    if (subs.length === 0) {
      // A one-element array, the size it needs (a push would allocate room for 16).
      let one = key.spare;
      if (one === null) one = [rec];
      else {
        one[0] = rec;
        key.spare = null;
      }
      key.subs = one;
      this.#idle--;
      if (key.route === subs && key.ready === this.#epoch) {
        // No pattern gives the name: its own array is the answer.
        key.route = one;
        key.fns = state === LIVE ? [fn] : SLOW;
      } else this.#stale(key);
    } else {
      subs.push(rec); // an emit in progress stops at the length it started with
      this.#stale(key);
    }
    this.#total++;
    if (key.pattern) this.#addPattern(rec);
    return rec;
  }

  #addPattern(rec) {
    this.#patternSubs.set(rec.id, rec);
    this.#newEpoch();
    if (this.#pendingAdds.push(rec) > PENDING_LIMIT) this.#flush();
  }

  #remove(rec) {
    if (rec.state === DEAD) return;
    rec.state = DEAD;
    this.#removals++;
    this.#total--;
    const key = rec.key;
    // A new array: an emit in progress may be walking the old one.
    const old = key.subs;
    let subs = EMPTY;
    if (old.length !== 1) {
      subs = [];
      for (let i = 0; i < old.length; i++) if (old[i] !== rec) subs.push(old[i]);
      this.#stale(key);
    } else {
      // Reusable: an emit reads a one-element array before its call, never after.
      key.spare = old;
      if (key.route === old && key.ready === this.#epoch) {
        key.route = EMPTY;
        key.fns = EMPTY;
      } else this.#stale(key);
    }
    key.subs = subs;
    if (key.pattern) this.#removePattern(rec);
    if (subs.length === 0) this.#becameIdle();
  }

  #removePattern(rec) {
    this.#patternSubs.delete(rec.id);
    this.#newEpoch();
    if (rec.flushed && this.#pendingRemoves.push(rec) > PENDING_LIMIT) this.#flush();
  }

  #consume(rec) {
    if (rec.group === null) this.#remove(rec);
    else for (const member of rec.group) this.#remove(member);
  }

  #flush() {
    const removes = this.#pendingRemoves;
    const adds = this.#pendingAdds;
    this.#pendingRemoves = [];
    this.#pendingAdds = [];
    let live = 0;
    for (const rec of adds) if (rec.state !== DEAD) live++;
    const words = (removes.length + live) * 3;
    if (words === 0) return;
    const ptr = this.#core.opsBuffer(words);
    const heap = this.#module.HEAPU32; // read after the call: the heap may have grown
    let w = ptr >>> 2;
    for (const rec of removes) {
      heap[w++] = OP_UNSUBSCRIBE;
      heap[w++] = rec.id;
      heap[w++] = rec.key.id;
    }
    for (const rec of adds) {
      if (rec.state === DEAD) continue;
      heap[w++] = OP_SUBSCRIBE;
      heap[w++] = rec.id;
      heap[w++] = rec.key.id;
      rec.flushed = true;
    }
    this.#core.apply(words);
  }

  #route(key) {
    if (key.epoch !== this.#epoch) {
      key.fromPatterns = this.#patternSubs.size === 0 ? NONE : this.#askCore(key);
      key.epoch = this.#epoch;
    }
    const route = key.fromPatterns.length === 0 ? key.subs : mergeById(key.subs, key.fromPatterns);
    let fns = SLOW;
    if (!route.some(isOnce)) {
      fns = [];
      for (let i = 0; i < route.length; i++) fns.push(route[i].fn);
    }
    key.route = route;
    key.fns = fns;
    key.ready = this.#epoch;
    if (key.listed !== this.#epoch) {
      key.listed = this.#epoch;
      // Past a bound, keys dropped from the table are dropped here too.
      if (this.#routed.push(key) > this.#routedLimit) {
        const keys = this.#keys;
        this.#routed = this.#routed.filter((k) => keys[k.name] === k);
        this.#routedLimit = Math.max(2 * IDLE_KEYS_HIGH, 2 * this.#routed.length);
      }
    }
    return route;
  }

  #stale(key) {
    key.ready = 0;
    key.fns = SLOW;
  }

  // A pattern change: the answers cached since the last one are stale.
  #newEpoch() {
    this.#epoch++;
    for (const key of this.#routed) key.fns = SLOW;
    this.#routed = [];
  }

  // The pattern subscriptions that match the key's name, in order, from the core.
  #askCore(key) {
    this.#flush();
    if (key.id < 0) key.id = this.#intern(key.name);
    const ptr = this.#core.route(key.id) >>> 2;
    const heap = this.#module.HEAPU32;
    const n = heap[ptr];
    const out = [];
    for (let i = 0; i < n; i++) {
      const rec = this.#patternSubs.get(heap[ptr + 1 + i]);
      if (rec !== undefined) out.push(rec);
    }
    return out;
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
    for (const name in this.#keys) for (const rec of this.#keys[name].subs) rec.state = DEAD;
    this.#removals++;
    this.#keys = new Names();
    this.#patternSubs = new Map();
    this.#pendingAdds = [];
    this.#pendingRemoves = [];
    this.#idle = 0;
    this.#total = 0;
    this.#newEpoch();
  }

  // on()/once() return it bound to the record: one allocation, where a closure takes two.
  static #unsubscribe() {
    this.key.bus.#remove(this);
  }
}

// Two lists of records in id order, merged into a new array.
function mergeById(a, b) {
  if (a.length === 0) return b;
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i].id < b[j].id ? a[i++] : b[j++]);
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
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
