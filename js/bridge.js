// ssebus: EventBridge, Server-Sent Events in, bus events out.
//
// A bridge attaches a bus to a connection. Connections live in a module-level registry,
// one per (transport, credentials, URL, headers): bridges that agree on those share it,
// each translating names with its own map and emitting on its own bus; the last close()
// ends it. A connection is a loop of runs (one HTTP request or one native EventSource
// each) with backoff between them, and it owns the resume id, the duplicate check and
// the core's SSE parser.
//
// The fetch transport feeds each chunk of the body to the parser in WebAssembly and
// reads the events back as addresses in the heap: the type name is looked up by its
// bytes (no string made for a known name), and the id and data are decoded in one call
// when the parser stores them side by side. Nothing here touches `window` or `document`
// before connect().

import { loadCore } from './core.js';
import { describe, report } from './util.js';

const PIECE = 1 << 16; // bytes handed to the parser per call: bounds its input buffer
const HEALTHY_MS = 5000; // an open connection this old has earned a fresh backoff
const NAMES_CACHED = 512; // translated server names kept per bridge (bounded: names are data)
const TYPES_CACHED = 256; // decoded type names kept per connection
const TYPE_BYTES_CACHED = 128; // longer type names are decoded each time
const MAX_DELAY = 0x7fffffff; // setTimeout's limit
const GAP = 'ssebus:gap';

const RECONNECT_DEFAULTS = Object.freeze({
  initialMs: 1000,
  maxMs: 30000,
  factor: 2,
  jitter: true,
  maxAttempts: Infinity,
});
const OPTIONS = [
  'url',
  'transport',
  'map',
  'translate',
  'events',
  'reconnect',
  'heartbeatTimeoutMs',
  'withCredentials',
  'headers',
  'pauseWhenHidden',
  'lastEventId',
  'EventSource',
];

const disposeSymbol = Symbol.dispose ?? Symbol.for('Symbol.dispose');

let decoder = null;
const connections = new Map(); // key -> Connection
const constructorIds = new WeakMap(); // EventSource constructor -> its number in keys
let nextConstructorId = 1;

function refuse(what) {
  throw new TypeError(`ssebus: EventBridge: ${what}`);
}

function constructorKey(ctor) {
  let id = constructorIds.get(ctor);
  if (id === undefined) constructorIds.set(ctor, (id = nextConstructorId++));
  return id;
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------- options

function readNames(value, what) {
  const names = typeof value === 'string' ? [value] : Array.isArray(value) && value.length !== 0 ? value : null;
  if (names === null) refuse(`${what} must be a bus event name or a non-empty array of them, got ${describe(value)}`);
  for (const name of names) {
    if (typeof name !== 'string' || name === '') {
      refuse(`${what} must hold non-empty strings (bus event names), got ${describe(name)}`);
    }
    if (name.includes('*')) refuse(`${what}: ${JSON.stringify(name)} is a pattern; map to concrete bus event names`);
  }
  return Object.freeze(names.slice());
}

function readNumber(value, fallback, what, min, rule) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    refuse(`${what} must be ${rule}, got ${describe(value)}`);
  }
  return value;
}

function readBoolean(value, what) {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') refuse(`${what} must be true or false, got ${describe(value)}`);
  return value;
}

function readUrl(url) {
  let text;
  if (typeof url === 'string') text = url;
  else if (typeof URL === 'function' && url instanceof URL) text = url.href;
  else refuse(`url must be a string or a URL, got ${describe(url)}`);
  const base = globalThis.location?.href;
  let resolved;
  try {
    resolved = new URL(text, base);
  } catch {
    refuse(
      `url ${JSON.stringify(text)} is not a valid URL` +
        (base === undefined
          ? '; without a page (globalThis.location) to resolve it against, pass an absolute URL'
          : ''),
    );
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    refuse(`url must be an http: or https: URL, got ${JSON.stringify(resolved.href)}`);
  }
  return resolved.href;
}

function readReconnect(value) {
  if (value === undefined) return RECONNECT_DEFAULTS;
  if (!isPlainObject(value)) {
    refuse(`reconnect must be an object such as { initialMs: 1000, maxMs: 30000 }, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!(key in RECONNECT_DEFAULTS)) {
      refuse(`unknown option reconnect.${key}; reconnect takes ${Object.keys(RECONNECT_DEFAULTS).join(', ')}`);
    }
  }
  const d = RECONNECT_DEFAULTS;
  const ms = `a number of milliseconds between 0 and ${MAX_DELAY}`;
  const initialMs = readNumber(value.initialMs, d.initialMs, 'reconnect.initialMs', 0, ms);
  const maxMs = readNumber(
    value.maxMs,
    Math.max(d.maxMs, initialMs),
    'reconnect.maxMs',
    initialMs,
    `${ms}, >= reconnect.initialMs (${initialMs})`,
  );
  if (initialMs > MAX_DELAY) refuse(`reconnect.initialMs must be ${ms}, got ${initialMs}`);
  if (maxMs > MAX_DELAY) refuse(`reconnect.maxMs must be ${ms}, got ${maxMs}`);
  const factor = readNumber(value.factor, d.factor, 'reconnect.factor', 1, 'a number >= 1');
  if (factor === Infinity) refuse('reconnect.factor must be a finite number >= 1, got Infinity');
  const jitter = value.jitter === undefined ? d.jitter : readBoolean(value.jitter, 'reconnect.jitter');
  const whole = 'a whole number >= 0, or Infinity';
  const maxAttempts = readNumber(value.maxAttempts, d.maxAttempts, 'reconnect.maxAttempts', 0, whole);
  if (maxAttempts !== Infinity && !Number.isInteger(maxAttempts)) {
    refuse(`reconnect.maxAttempts must be ${whole}, got ${maxAttempts}`);
  }
  return Object.freeze({ initialMs, maxMs, factor, jitter, maxAttempts });
}

function readHeaders(value) {
  if (value === undefined) return [];
  let entries;
  if (typeof Headers === 'function' && value instanceof Headers) entries = [...value];
  else if (isPlainObject(value)) entries = Object.entries(value);
  else refuse(`headers must be an object of header name -> string value, got ${describe(value)}`);
  const out = [];
  for (const [key, v] of entries) {
    if (typeof v !== 'string') refuse(`headers[${JSON.stringify(key)}] must be a string, got ${describe(v)}`);
    const name = key.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) refuse(`headers: ${JSON.stringify(key)} is not a valid header name`);
    if (name === 'last-event-id') refuse('headers: use the lastEventId option rather than a Last-Event-ID header');
    out.push([name, v]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function readOptions(options) {
  if (!isPlainObject(options)) refuse(`takes (bus, options) with options.url, got options ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) refuse(`unknown option ${JSON.stringify(key)}; the options are ${OPTIONS.join(', ')}`);
  }
  const o = options;
  if (o.url === undefined) refuse('options.url is required (the SSE endpoint, e.g. "/api/events")');
  const url = readUrl(o.url);

  const transport = o.transport ?? 'fetch';
  if (transport !== 'fetch' && transport !== 'eventsource') {
    refuse(`transport must be "fetch" or "eventsource", got ${describe(o.transport)}`);
  }

  const map = Object.create(null);
  if (o.map !== undefined) {
    if (!isPlainObject(o.map)) {
      refuse(`map must be an object of server event name -> bus event name(s), got ${describe(o.map)}`);
    }
    for (const [from, to] of Object.entries(o.map)) map[from] = readNames(to, `map[${JSON.stringify(from)}]`);
  }

  if (o.translate !== undefined && typeof o.translate !== 'function') {
    refuse(
      `translate must be a function (server event name) => bus event name(s) or null, got ${describe(o.translate)}`,
    );
  }

  const events = [];
  if (o.events !== undefined) {
    if (!Array.isArray(o.events)) refuse(`events must be an array of server event names, got ${describe(o.events)}`);
    for (const e of o.events) {
      if (typeof e !== 'string' || e === '') refuse(`events must hold non-empty strings, got ${describe(e)}`);
      events.push(e);
    }
  }

  const heartbeatTimeoutMs = readNumber(
    o.heartbeatTimeoutMs,
    45000,
    'heartbeatTimeoutMs',
    0,
    'a number of milliseconds (0 or Infinity turns the check off)',
  );

  const headers = readHeaders(o.headers);
  if (transport === 'eventsource' && headers.length !== 0) {
    refuse('headers need transport "fetch": a native EventSource cannot send request headers');
  }
  if (o.EventSource !== undefined) {
    if (typeof o.EventSource !== 'function') {
      const got = describe(o.EventSource);
      refuse(`EventSource must be a constructor (e.g. the eventsource package's EventSource), got ${got}`);
    }
    if (transport !== 'eventsource') refuse('the EventSource option is used with transport: "eventsource" only');
  }
  if (o.lastEventId !== undefined && typeof o.lastEventId !== 'string') {
    refuse(`lastEventId must be a string, got ${describe(o.lastEventId)}`);
  }

  return {
    url,
    transport,
    map,
    translate: o.translate ?? null,
    // The names a native EventSource has to be told about: it delivers no other.
    listens: [...new Set(['message', GAP, ...Object.keys(map), ...events])],
    reconnect: readReconnect(o.reconnect),
    heartbeatTimeoutMs: heartbeatTimeoutMs === Infinity ? 0 : Math.min(heartbeatTimeoutMs, MAX_DELAY),
    withCredentials: readBoolean(o.withCredentials, 'withCredentials'),
    headers,
    pauseWhenHidden: readBoolean(o.pauseWhenHidden, 'pauseWhenHidden'),
    lastEventId: o.lastEventId ?? '',
    EventSource: o.EventSource ?? null,
  };
}

// ---------------------------------------------------------------------------- events

// A payload is the JSON value of `data`, or `data` itself when it is not JSON. Text that
// cannot start a JSON value skips JSON.parse, so plain text costs no exception.
function parsePayload(data) {
  const c = data.charCodeAt(0);
  if (
    c === 123 || // {
    c === 91 || // [
    c === 34 || // "
    (c >= 48 && c <= 57) ||
    c === 45 || // -
    c === 116 || // t(rue)
    c === 102 || // f(alse)
    c === 110 || // n(ull)
    c === 32 ||
    c === 9 ||
    c === 10 ||
    c === 13
  ) {
    try {
      return JSON.parse(data);
    } catch {
      return data;
    }
  }
  return data;
}

function isDigits(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length !== 0;
}

// Whether an event carrying `id` was delivered already, `last` being the newest id
// delivered: decimal ids (ssebus-server's uint64s) compare as numbers, others by equality.
function delivered(id, last) {
  if (id === last) return true;
  if (!isDigits(id) || !isDigits(last)) return false;
  if (id.charCodeAt(0) !== 48 && last.charCodeAt(0) !== 48) {
    // No leading zeros: the shorter number is the smaller, and equal lengths compare as text.
    return id.length === last.length ? id < last : id.length < last.length;
  }
  let i = 0;
  let j = 0;
  while (i < id.length - 1 && id.charCodeAt(i) === 48) i++;
  while (j < last.length - 1 && last.charCodeAt(j) === 48) j++;
  const a = id.length - i;
  const b = last.length - j;
  if (a !== b) return a < b;
  return id.slice(i) <= last.slice(j);
}

// Whether the `len` bytes at `at` are the ASCII string `s`.
function isAsciiString(heap, at, len, s) {
  if (s.length !== len) return false;
  for (let i = 0; i < len; i++) {
    const b = heap[at + i];
    if (b !== s.charCodeAt(i) || b > 127) return false;
  }
  return true;
}

function isAscii(heap, at, len) {
  for (let i = 0; i < len; i++) if (heap[at + i] > 127) return false;
  return true;
}

function utf8(heap, from, to) {
  return decoder.decode(heap.subarray(from, to));
}

// Emits on one bridge's bus. A bus destroyed under a live bridge detaches the bridge;
// anything else a bus throws is reported without stopping the stream.
function emitTo(att, name, payload, meta) {
  try {
    att.bus.emit(name, payload, meta);
  } catch (error) {
    if (att.bus.destroyed === true) att.abandon();
    else report(error);
  }
}

// One bridge on one connection: its bus, its names, and whether it is still attached.
class Attachment {
  live = true;
  #cache = new Map(); // server event name -> bus event names
  #spec;

  constructor(bus, spec, conn, ended) {
    this.bus = bus;
    this.conn = conn;
    this.pauseWhenHidden = spec.pauseWhenHidden;
    this.listens = spec.listens;
    this.#spec = spec;
    this.ended = ended; // tells the bridge that it is no longer attached
  }

  names(serverEvent) {
    let names = this.#cache.get(serverEvent);
    if (names === undefined) {
      names = this.#resolve(serverEvent);
      if (names === null) return [];
      if (this.#cache.size >= NAMES_CACHED) this.#cache.clear();
      this.#cache.set(serverEvent, names);
    }
    return names;
  }

  #resolve(serverEvent) {
    const spec = this.#spec;
    const mapped = spec.map[serverEvent];
    if (mapped !== undefined) return mapped;
    if (serverEvent === GAP) return [GAP];
    if (spec.translate === null) return [serverEvent.replaceAll(':', '_')];
    try {
      const out = spec.translate(serverEvent);
      if (out === null || out === undefined || out === false) return [];
      return readNames(out, `translate(${JSON.stringify(serverEvent)})`);
    } catch (error) {
      report(error);
      return null;
    }
  }

  abandon() {
    if (this.live) this.conn.detach(this);
  }
}

// ---------------------------------------------------------------------------- connection

class Connection {
  state = 'connecting';
  lastId; // the id to resume from, and the newest id delivered

  #key;
  #spec; // the options of the bridge that opened it
  #EventSource;
  #atts = []; // replaced, never changed in place: a delivery loop keeps its snapshot
  #run = null; // the current request or EventSource, null between runs
  #timer = null; // the backoff timer
  #beat = null; // the heartbeat timer
  #lastByteAt = 0;
  #prevId = ''; // the id of the previous event of this run
  #attempt = 0; // failures since the connection was last healthy
  #floor = 0; // the server's retry:, the least delay between runs
  #core = null;
  #parser = null;
  #types = new Map(); // hash of a type name's bytes -> { bytes, name, next }
  #begun = false;
  #paused = false;
  #disposed = false;
  #onVisibility = null;

  constructor(key, spec, EventSourceClass, lastId) {
    this.#key = key;
    this.#spec = spec;
    this.#EventSource = EventSourceClass;
    this.lastId = lastId;
  }

  get url() {
    return this.#spec.url;
  }

  attach(att) {
    this.#atts = [...this.#atts, att];
    if (!this.#begun) {
      const doc = globalThis.document;
      if (doc != null && typeof doc.addEventListener === 'function') {
        this.#onVisibility = () => this.#sync();
        doc.addEventListener('visibilitychange', this.#onVisibility);
      }
    } else if (this.#run?.es) {
      this.#listen(this.#run, att.listens);
    }
    this.#sync();
    if (this.state === 'open') {
      // A bridge joining an open connection hears about it too, once it has returned.
      queueMicrotask(() => {
        if (att.live && this.state === 'open') emitTo(att, 'ssebus:open', { url: this.url });
      });
    }
  }

  detach(att) {
    if (!att.live) return;
    att.live = false;
    this.#atts = this.#atts.filter((a) => a !== att);
    att.ended(this.lastId);
    if (this.#atts.length === 0) this.#dispose();
    else this.#sync();
  }

  // Pauses while the page is hidden when every bridge asks for it; otherwise runs.
  #sync() {
    if (this.#disposed) return;
    const atts = this.#atts;
    const pause =
      globalThis.document?.visibilityState === 'hidden' && atts.length !== 0 && atts.every((a) => a.pauseWhenHidden);
    if (this.#begun && pause === this.#paused) return;
    this.#begun = true;
    this.#paused = pause;
    if (pause) {
      this.#stop();
      this.state = 'closed';
      this.#status('ssebus:closed', { url: this.url, reason: 'hidden' });
    } else {
      this.#attempt = 0;
      this.#open();
    }
  }

  #open() {
    const run = { ctrl: null, es: null, listening: null, opened: 0, whole: true };
    this.#run = run;
    this.state = 'connecting';
    this.#prevId = '';
    this.#lastByteAt = Date.now();
    const beat = this.#spec.heartbeatTimeoutMs;
    if (beat !== 0 && this.#spec.transport === 'fetch') {
      const check = () => {
        if (this.#run !== run) return;
        const idle = Date.now() - this.#lastByteAt;
        if (idle < beat) this.#beat = setTimeout(check, beat - idle);
        else this.#failed(run, new Error(`ssebus: EventBridge: no data from ${this.url} for ${beat} ms`));
      };
      this.#beat = setTimeout(check, beat);
    }
    if (this.#spec.transport === 'fetch') this.#fetch(run);
    else this.#eventSource(run);
  }

  #opened(run) {
    run.opened = this.#lastByteAt = Date.now();
    this.state = 'open';
    this.#status('ssebus:open', { url: this.url });
  }

  async #fetch(run) {
    const spec = this.#spec;
    let response;
    try {
      if (this.#core === null) {
        const core = await loadCore();
        if (this.#run !== run) return;
        this.#core = core;
      }
      if (this.#parser === null) this.#parser = new this.#core.SseParser();
      // The parser starts each run without an id, so an event that sets none is told apart
      // from one that repeats the resume id; lastId is what the server hears.
      this.#parser.reset('');
      const headers = { accept: 'text/event-stream' };
      for (const [name, value] of spec.headers) headers[name] = value;
      if (this.lastId !== '') headers['last-event-id'] = this.lastId;
      run.ctrl = new AbortController();
      response = await fetch(spec.url, {
        headers,
        cache: 'no-store',
        credentials: spec.withCredentials ? 'include' : 'same-origin',
        signal: run.ctrl.signal,
      });
    } catch (error) {
      return this.#failed(run, error);
    }
    if (this.#run !== run) return;
    if (response.status !== 200) {
      const error = new Error(`ssebus: EventBridge: ${spec.url} answered HTTP ${response.status}, not 200`);
      return this.#failed(run, error, response.status);
    }
    const type = response.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\s*(;|$)/i.test(type) || response.body === null) {
      const error = new Error(
        `ssebus: EventBridge: ${spec.url} answered Content-Type ${JSON.stringify(type)}, not text/event-stream`,
      );
      return this.#failed(run, error, response.status);
    }
    const reader = response.body.getReader();
    this.#opened(run);
    try {
      for (;;) {
        if (this.#run !== run) return;
        const { done, value } = await reader.read();
        if (this.#run !== run) return;
        if (done) break;
        this.#feed(run, value);
      }
    } catch (error) {
      return this.#failed(run, error);
    }
    this.#parser.finish(); // an event without its blank line is dropped
    this.#failed(run, new Error(`ssebus: EventBridge: ${spec.url} ended the stream`));
  }

  #feed(run, chunk) {
    const core = this.#core;
    const parser = this.#parser;
    const receivedAt = (this.#lastByteAt = Date.now());
    for (let off = 0; off < chunk.length; off += PIECE) {
      const piece = chunk.length <= PIECE ? chunk : chunk.subarray(off, off + PIECE);
      const ptr = parser.inputBuffer(piece.length);
      core.HEAPU8.set(piece, ptr); // read HEAPU8 after the call: the heap may have grown
      const count = parser.feed(piece.length);
      if (count === 0) continue;
      run.whole = false;
      const at = parser.events() >>> 2;
      for (let e = at; e < at + 6 * count; e += 6) {
        // Listeners may grow the heap: read the views afresh for each event.
        const words = core.HEAPU32;
        const heap = core.HEAPU8;
        const typeLen = words[e + 1];
        const dataAt = words[e + 2];
        const dataEnd = dataAt + words[e + 3];
        const idAt = words[e + 4];
        const idLen = words[e + 5];
        const type = typeLen === 0 ? 'message' : this.#typeName(heap, words[e], typeLen);
        let id = this.#prevId;
        let data;
        if (idLen === 0) {
          id = '';
          data = utf8(heap, dataAt, dataEnd);
        } else if (isAsciiString(heap, idAt, idLen, id)) {
          data = utf8(heap, dataAt, dataEnd);
        } else if (dataEnd === idAt && isAscii(heap, idAt, idLen)) {
          // Data and id side by side: one decode, two slices.
          const both = utf8(heap, dataAt, idAt + idLen);
          data = both.slice(0, both.length - idLen);
          id = both.slice(both.length - idLen);
        } else {
          data = utf8(heap, dataAt, dataEnd);
          id = utf8(heap, idAt, idAt + idLen);
        }
        this.#deliver(type, data, id, receivedAt);
        if (this.#run !== run) return; // closed or stopped by a listener
      }
      run.whole = true;
    }
  }

  // A type name from its bytes, without making a string for a name seen before.
  #typeName(heap, at, len) {
    if (len > TYPE_BYTES_CACHED) return utf8(heap, at, at + len);
    let hash = len;
    for (let i = 0; i < len; i++) hash = Math.imul(hash ^ heap[at + i], 0x01000193);
    let first = this.#types.get(hash);
    for (let entry = first; entry !== undefined; entry = entry.next) {
      const bytes = entry.bytes;
      if (bytes.length !== len) continue;
      let i = 0;
      while (i < len && bytes[i] === heap[at + i]) i++;
      if (i === len) return entry.name;
    }
    const bytes = heap.slice(at, at + len);
    const name = decoder.decode(bytes);
    if (this.#types.size >= TYPES_CACHED) {
      this.#types.clear();
      first = undefined;
    }
    this.#types.set(hash, { bytes, name, next: first });
    return name;
  }

  #eventSource(run) {
    const url = new URL(this.url);
    if (this.lastId !== '') url.searchParams.set('lastEventId', this.lastId);
    let es;
    try {
      es = new this.#EventSource(url.href, { withCredentials: this.#spec.withCredentials });
    } catch (error) {
      queueMicrotask(() => this.#failed(run, error));
      return;
    }
    run.es = es;
    run.listening = new Set();
    run.onEvent = (event) => {
      // Only MessageEvents carry data: a server event named "open" or "error" does not
      // turn the EventSource's own events into bus events.
      if (this.#run !== run || typeof event.data !== 'string') return;
      this.#deliver(event.type, event.data, event.lastEventId ?? '', Date.now());
    };
    es.addEventListener('open', () => {
      if (this.#run === run) this.#opened(run);
    });
    es.addEventListener('error', (event) => {
      // A native EventSource retries some failures by itself and gives up on others; this
      // one is closed either way, and a new one resumes after the backoff.
      const status = typeof event?.code === 'number' ? event.code : undefined;
      const detail = typeof event?.message === 'string' && event.message !== '' ? `: ${event.message}` : '';
      this.#failed(run, new Error(`ssebus: EventBridge: the EventSource for ${this.url} failed${detail}`), status);
    });
    for (const att of this.#atts) this.#listen(run, att.listens);
  }

  #listen(run, names) {
    for (const name of names) {
      if (run.listening.has(name)) continue;
      run.listening.add(name);
      run.es.addEventListener(name, run.onEvent);
    }
  }

  // ssebus:gap {requested, earliest}: what follows starts at `earliest`, which may be
  // smaller than the id this connection resumed from (another server's, or one from a run
  // whose clock was ahead). The duplicate check starts over just before it.
  #rebase(data) {
    // Read as text: ids are uint64s, past what a JSON number keeps exactly.
    const m = /"earliest"\s*:\s*(\d+)/.exec(data);
    this.lastId = m === null || /^0+$/.test(m[1]) ? '' : String(BigInt(m[1]) - 1n);
  }

  // One event, after the transport: the duplicate check, envelopes, then every bridge.
  #deliver(type, data, id, receivedAt) {
    if (id !== this.#prevId) {
      // The event set an id (an event without one repeats the previous id of its run).
      this.#prevId = id;
      if (id === '') this.lastId = '';
      else if (this.lastId !== '' && delivered(id, this.lastId)) return;
      else this.lastId = id;
    }
    if (type === GAP) this.#rebase(data);
    this.#attempt = 0;
    let payload = parsePayload(data);
    let serverEvent = type;
    if (type === 'message' && typeof payload === 'object' && payload !== null) {
      // Envelopes: {type, data, timestamp} and {id, type, message, data, timestamp, stream_id}.
      const t = payload.type;
      if (typeof t === 'string' && t !== '') {
        serverEvent = t;
        if (payload.data !== undefined) payload = payload.data;
      }
    }
    const atts = this.#atts;
    for (let i = 0; i < atts.length; i++) {
      const att = atts[i];
      if (!att.live) continue;
      const names = att.names(serverEvent);
      for (let j = 0; j < names.length; j++) {
        const name = names[j];
        emitTo(att, name, payload, { name, id, serverEvent, receivedAt });
      }
    }
  }

  #failed(run, error, status) {
    if (this.#run !== run) return;
    const healthy = run.opened !== 0 && Date.now() - run.opened >= HEALTHY_MS;
    this.#stop();
    if (healthy) this.#attempt = 0;
    const attempt = ++this.#attempt;
    const info = status === undefined ? { url: this.url, error, attempt } : { url: this.url, error, status, attempt };
    const r = this.#spec.reconnect;
    if (attempt > r.maxAttempts) {
      const atts = this.#atts;
      this.#dispose();
      for (const att of atts) {
        emitTo(att, 'ssebus:error', info);
        emitTo(att, 'ssebus:closed', { url: this.url, reason: 'maxAttempts', error });
      }
      return;
    }
    let ceiling = r.initialMs * r.factor ** (attempt - 1);
    if (!(ceiling <= r.maxMs)) ceiling = r.initialMs === 0 ? 0 : r.maxMs;
    const wait = r.jitter ? Math.random() * ceiling : ceiling; // "full jitter"
    const delayMs = Math.round(Math.min(MAX_DELAY, Math.max(this.#floor, wait)));
    this.state = 'connecting';
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#open();
    }, delayMs);
    // Listeners hear last, when the state is settled: they may close() from inside.
    this.#status('ssebus:error', info);
    this.#status('ssebus:reconnecting', { url: this.url, attempt, delayMs, at: Date.now() + delayMs });
  }

  // Ends the current run and any timer; the connection may open again.
  #stop() {
    const run = this.#run;
    this.#run = null;
    clearTimeout(this.#timer);
    clearTimeout(this.#beat);
    this.#timer = this.#beat = null;
    if (run === null) return;
    run.ctrl?.abort();
    run.es?.close();
    const parser = this.#parser;
    if (parser !== null) {
      const retry = parser.retry();
      if (retry >= 0) this.#floor = retry;
      // An `id` on a block without data still moves the resume point (unless a listener
      // stopped the run halfway through a batch: the rest of it was never delivered).
      if (run.whole && run.opened !== 0) {
        const id = parser.lastEventId();
        if (id !== '' && id !== this.#prevId) this.lastId = id;
      }
    }
  }

  #dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#stop();
    this.state = 'closed';
    if (connections.get(this.#key) === this) connections.delete(this.#key);
    if (this.#onVisibility !== null) globalThis.document?.removeEventListener('visibilitychange', this.#onVisibility);
    const atts = this.#atts;
    this.#atts = [];
    for (const att of atts) {
      att.live = false;
      att.ended(this.lastId);
    }
    this.#parser?.delete();
    this.#parser = null;
  }

  #status(name, payload) {
    for (const att of this.#atts) if (att.live) emitTo(att, name, payload, undefined);
  }
}

// ---------------------------------------------------------------------------- the bridge

/**
 * Turns a Server-Sent Events stream into events on a bus. See README.md, "The bridge".
 */
export class EventBridge {
  #bus;
  #spec;
  #att = null;
  #lastEventId;

  constructor(bus, options) {
    if (bus === null || typeof bus !== 'object' || typeof bus.emit !== 'function') {
      refuse(`takes a bus (from createEventBus()) as its first argument, got ${describe(bus)}`);
    }
    if (bus.destroyed === true) refuse('the bus is destroyed; create a new one with createEventBus()');
    this.#bus = bus;
    this.#spec = readOptions(options);
    this.#lastEventId = this.#spec.lastEventId;
  }

  /** The endpoint, resolved to an absolute URL. */
  get url() {
    return this.#spec.url;
  }

  /** 'connecting' | 'open' | 'closed' */
  get state() {
    return this.#att === null ? 'closed' : this.#att.conn.state;
  }

  /** The id a new connection resumes from: the newest one seen, or the lastEventId option. */
  get lastEventId() {
    return this.#att === null ? this.#lastEventId : this.#att.conn.lastId;
  }

  /** Starts receiving, or joins the connection another bridge has to the same URL. Idempotent. */
  connect() {
    if (this.#att !== null) return this;
    const spec = this.#spec;
    if (this.#bus.destroyed === true) {
      throw new Error('ssebus: EventBridge: connect() on a destroyed bus; create a new one with createEventBus()');
    }
    let EventSourceClass = null;
    let key;
    if (spec.transport === 'fetch') {
      if (typeof globalThis.fetch !== 'function') {
        throw new Error('ssebus: EventBridge: this environment has no fetch(); use transport: "eventsource"');
      }
      key = `fetch ${spec.withCredentials} ${spec.url} ${JSON.stringify(spec.headers)}`;
    } else {
      EventSourceClass = spec.EventSource ?? globalThis.EventSource;
      if (typeof EventSourceClass !== 'function') {
        throw new TypeError(
          'ssebus: EventBridge: this environment has no EventSource; pass one as options.EventSource ' +
            "(e.g. the eventsource package's) or use transport: \"fetch\"",
        );
      }
      key = `eventsource ${spec.withCredentials} ${spec.url} ${constructorKey(EventSourceClass)}`;
    }
    // Decodes field values as they are: a BOM inside the stream is data, not a marker.
    decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
    let conn = connections.get(key);
    if (conn === undefined) {
      conn = new Connection(key, spec, EventSourceClass, this.#lastEventId);
      connections.set(key, conn);
    }
    const att = new Attachment(this.#bus, spec, conn, (lastId) => {
      if (this.#att === att) this.#att = null;
      this.#lastEventId = lastId;
    });
    this.#att = att;
    conn.attach(att);
    return this;
  }

  /** Stops receiving at once; the shared connection ends with its last bridge. Idempotent. */
  close() {
    const att = this.#att;
    if (att === null) return;
    att.conn.detach(att);
    emitTo(att, 'ssebus:closed', { url: att.conn.url, reason: 'close' });
  }

  [disposeSymbol]() {
    this.close();
  }
}
