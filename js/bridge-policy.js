// ssebus: the reconnect policy. A Connection is one stream shared by every bridge that
// agrees on (transport, credentials, URL, headers); each bridge is an Attachment with its
// own bus and names. The connection is a loop of runs with backoff between them, and it
// owns what outlives a run: the resume id, the duplicate check, the server's retry: floor,
// the attempt count, the heartbeat, and pausing while the page is hidden.
//
// Transports sit behind one small interface, so that the policy never knows whether
// events come from fetch, a native EventSource or (later) another tab:
//
//   transport.watchesBytes         true when every chunk is reported (heartbeat possible)
//   transport.start(request, sink) -> run; request = { url, lastEventId, headers, listens }
//   run.close()                    ends the run; no sink call follows, bar retry/resume
//   run.listen?(names)             more event names to deliver (a bridge joined)
//   transport.dispose()            the connection is over
//
// and the sink it reports to, for one run:
//
//   sink.open()                        the stream is open
//   sink.event(type, data, id, at)     a raw event: its type, data, id ('' when none)
//   sink.alive(at)                     bytes arrived (events or comments)
//   sink.retry(ms)                     the server's retry: field
//   sink.resume(id)                    an id set without an event (moves the resume point)
//   sink.fail(error, status?)          the run is over; status is the HTTP status if any
//   sink.debug                         a logger, or null when debugging is off
//
// Sharing one stream between tabs (bridge-tabs.js) is not a transport: the connection
// keeps its own transport and runs it only while its tab leads, relaying what the sink is
// told to the other tabs; a follower's connection runs nothing and is fed the relayed
// calls through its tab side (#tabSide). Each tab's policy still drops its duplicates,
// translates names and keeps its own resume id.

import { debugLogger } from './bridge-debug.js';
import { EventSourceTransport } from './bridge-eventsource.js';
import { FetchTransport } from './bridge-fetch.js';
import { GAP, MAX_DELAY, readHeaders, readNames } from './bridge-options.js';
import { delivered, report } from './util.js';

const HEALTHY_MS = 5000; // an open connection this old has earned a fresh backoff
const NAMES_CACHED = 512; // translated server names kept per bridge (bounded: names are data)
const NAMESPACE = 'ssebus:bridge';
const TABS = 'ssebus:tabs';

let tabsModule = null; // the cross-tab module, imported when a bridge first asks for crossTab
let saidSolo = false; // the fallback's diagnostic, once per page

const connections = new Map(); // key -> Connection
const identities = new WeakMap(); // a function (EventSource class, headers) -> its number in keys
let nextIdentity = 1;

function identity(fn) {
  let id = identities.get(fn);
  if (id === undefined) identities.set(fn, (id = nextIdentity++));
  return id;
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

/** Emits on one bridge's bus. A bus destroyed under a live bridge detaches the bridge. */
export function emitTo(att, name, payload, meta) {
  try {
    att.bus.emit(name, payload, meta);
  } catch (error) {
    if (att.bus.destroyed === true) att.abandon();
    else report(error);
  }
}

// ---------------------------------------------------------------------------- attachments

/** One bridge on one connection: its bus, its names, and whether it is still attached. */
export class Attachment {
  live = true;
  #cache = new Map(); // server event name -> bus event names
  #spec;

  constructor(bus, spec, ended) {
    this.bus = bus;
    this.conn = null;
    this.pauseWhenHidden = spec.pauseWhenHidden;
    this.listens = spec.listens;
    this.debug = spec.debug;
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

/**
 * The connection for a bridge's spec: the one already open for it, or a new one. Throws
 * (with what to do) when the environment lacks what the transport needs.
 */
export function connectionFor(spec, lastId) {
  let key;
  let EventSourceClass = null;
  if (spec.transport === 'fetch') {
    if (typeof globalThis.fetch !== 'function') {
      throw new Error('ssebus: EventBridge: this environment has no fetch(); use transport: "eventsource"');
    }
    // Shared across tabs, a headers function is known by its crossTab.key, in the page too.
    const fn = typeof spec.headers === 'function';
    const headers = fn && spec.crossTab === null ? `f${identity(spec.headers)}` : fn ? '' : JSON.stringify(spec.headers);
    key = `fetch ${spec.withCredentials} ${spec.url} ${headers}`;
  } else {
    EventSourceClass = spec.EventSource ?? globalThis.EventSource;
    if (typeof EventSourceClass !== 'function') {
      throw new TypeError(
        'ssebus: EventBridge: this environment has no EventSource; pass one as options.EventSource ' +
          "(e.g. the eventsource package's) or use transport: \"fetch\"",
      );
    }
    key = `eventsource ${spec.withCredentials} ${spec.url} ${identity(EventSourceClass)}`;
  }
  if (spec.crossTab !== null) key = `tabs ${JSON.stringify(spec.crossTab.key)} ${key}`;
  let conn = connections.get(key);
  if (conn === undefined) {
    const transport =
      spec.transport === 'fetch' ? new FetchTransport(spec) : new EventSourceTransport(spec, EventSourceClass);
    conn = new Connection(key, spec, transport, lastId);
    connections.set(key, conn);
  }
  return conn;
}

// ---------------------------------------------------------------------------- connection

// Whether this page can share a stream with its other tabs; says why not, once, when debugging.
function canShare(spec) {
  let missing = '';
  if (typeof globalThis.navigator?.locks?.request !== 'function') missing = 'navigator.locks (Web Locks)';
  else if (typeof globalThis.BroadcastChannel !== 'function') missing = 'BroadcastChannel';
  else if (typeof globalThis.crypto?.subtle?.digest !== 'function') missing = 'crypto.subtle';
  if (missing === '') return true;
  if (!saidSolo) {
    const log = debugLogger(TABS, spec.url, spec.debug);
    if (log !== null) {
      saidSolo = true;
      log('crossTab: this page has no %s (a secure context has it): each tab keeps its own connection (role solo)', missing);
    }
  }
  return false;
}

class Connection {
  state = 'connecting';
  lastId; // the id to resume from, and the newest id delivered
  role = 'solo'; // 'leader' | 'follower' while sharing the stream with other tabs

  #key;
  #spec; // the options of the bridge that opened it
  #transport;
  #debug; // a logger, or null: every use reads `this.#debug?.(…)`, which builds nothing when off
  #atts = []; // replaced, never changed in place: a delivery loop keeps its snapshot
  #current = null; // the current attempt, { run } once the transport started it; null between attempts
  #timer = null; // the backoff timer
  #beat = null; // the heartbeat timer
  #lastByteAt = 0;
  #opened = 0; // when the current run opened, 0 before
  #prevId = ''; // the id of the previous event of this run
  #attempt = 0; // failures since the connection was last healthy
  #floor = 0; // the server's retry:, the least delay between runs
  #begun = false;
  #paused = false;
  #disposed = false;
  #onVisibility = null;
  #sharing = false; // crossTab asked for, and possible here
  #tabs = null; // the link to the other tabs (bridge-tabs.js) while sharing

  constructor(key, spec, transport, lastId) {
    this.#key = key;
    this.#spec = spec;
    this.#transport = transport;
    this.lastId = lastId;
    // Read here, at connect time: importing the package reads no global setting.
    this.#debug = debugLogger(NAMESPACE, spec.url, spec.debug);
    this.#sharing = spec.crossTab !== null && canShare(spec);
  }

  get url() {
    return this.#spec.url;
  }

  attach(att) {
    att.conn = this;
    this.#atts = [...this.#atts, att];
    if (att.debug && this.#debug === null) this.#debug = debugLogger(NAMESPACE, this.url, true);
    if (!this.#begun) {
      const doc = globalThis.document;
      if (doc != null && typeof doc.addEventListener === 'function') {
        this.#onVisibility = () => this.#sync();
        doc.addEventListener('visibilitychange', this.#onVisibility);
      }
    } else {
      this.#current?.run?.listen?.(att.listens); // a native EventSource learns the new names
    }
    const known = this.#begun && this.#roleSaid;
    this.#sync();
    if (this.state === 'open' || known) {
      // A bridge joining an open connection hears about it too, once it has returned.
      queueMicrotask(() => {
        if (att.live && known) emitTo(att, 'ssebus:role', { url: this.url, role: this.role });
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

  /** Retries now with a fresh backoff (e.g. after signing in again); paused, it only resets. */
  reconnect() {
    if (this.#disposed) return;
    if (this.#sharing && this.role !== 'leader') {
      this.#tabs?.askReconnect(); // the leader's stream is every tab's
      return;
    }
    this.#attempt = 0;
    this.#debug?.('reconnect(): retrying now, backoff reset');
    if (this.#paused) return;
    this.#stop();
    this.#open();
    // Replaces what an earlier ssebus:reconnecting announced (its delay no longer holds).
    this.#status('ssebus:reconnecting', { url: this.url, attempt: 0, delayMs: 0, at: Date.now() });
  }

  #setState(state) {
    if (state === this.state) return;
    this.#debug?.('state %s -> %s', this.state, state);
    this.state = state;
  }

  // Pauses while the page is hidden when every bridge asks for it; otherwise runs. A shared
  // stream does not pause: it is every tab's.
  #sync() {
    if (this.#disposed) return;
    if (this.#sharing) {
      if (!this.#begun) this.#share();
      return;
    }
    const atts = this.#atts;
    const pause =
      globalThis.document?.visibilityState === 'hidden' && atts.length !== 0 && atts.every((a) => a.pauseWhenHidden);
    if (this.#begun && pause === this.#paused) return;
    if (!this.#begun && this.#spec.crossTab !== null) queueMicrotask(() => this.#setRole('solo')); // the fallback
    this.#begun = true;
    this.#paused = pause;
    if (pause) {
      this.#debug?.('paused: the page is hidden');
      this.#stop();
      this.#setState('closed');
      this.#status('ssebus:closed', { url: this.url, reason: 'hidden' });
    } else {
      this.#attempt = 0;
      this.#open();
    }
  }

  // Starts a run, once the headers (a function's, perhaps async) are known.
  #open() {
    const token = {};
    this.#current = token;
    this.#setState('connecting');
    this.#prevId = '';
    this.#opened = 0;
    this.#lastByteAt = Date.now();
    this.#debug?.('attempt %d: connecting%s', this.#attempt + 1, this.lastId === '' ? '' : ` after id ${this.lastId}`);
    // Armed before the headers are known: a headers function that never settles fails too.
    const beat = this.#spec.heartbeatTimeoutMs;
    if (beat !== 0 && this.#transport.watchesBytes) {
      const check = () => {
        if (this.#current !== token) return;
        const idle = Date.now() - this.#lastByteAt;
        if (idle < beat) this.#beat = setTimeout(check, beat - idle);
        else this.#failed(token, new Error(`ssebus: EventBridge: no data from ${this.url} for ${beat} ms`));
      };
      this.#beat = setTimeout(check, beat);
    }
    const headers = this.#spec.headers;
    if (typeof headers !== 'function') return this.#start(token, headers);
    // Settled in a microtask even when sync, so that a failure is never reported from
    // inside connect() or reconnect().
    let answer;
    try {
      answer = headers();
    } catch (error) {
      answer = Promise.reject(error);
    }
    Promise.resolve(answer).then(
      (value) => this.#take(token, value),
      (error) => this.#failed(token, error),
    );
  }

  #take(token, value) {
    if (this.#current !== token) return;
    let pairs;
    try {
      pairs = readHeaders(value, 'headers()');
    } catch (error) {
      return this.#failed(token, error);
    }
    this.#start(token, pairs);
  }

  #start(token, headers) {
    const request = { url: this.url, lastEventId: this.lastId, headers, listens: this.#listens() };
    const sink = this.#sink(token);
    const run = this.#transport.start(request, sink);
    if (this.#current === token) token.run = run;
    else run.close(); // failed or closed synchronously
  }

  #listens() {
    const names = new Set();
    for (const att of this.#atts) for (const name of att.listens) names.add(name);
    return names;
  }

  // What a run reports to; anything it says once it is no longer current is ignored.
  #sink(token) {
    return {
      debug: this.#debug,
      open: () => {
        if (this.#current !== token) return;
        this.#opened = this.#lastByteAt = Date.now();
        this.#setState('open');
        this.#status('ssebus:open', { url: this.url });
      },
      event: (type, data, id, receivedAt) => {
        if (this.#current !== token) return;
        this.#tabs?.relay(['e', type, data, id, receivedAt]);
        this.#deliver(type, data, id, receivedAt);
      },
      alive: (at) => {
        if (this.#current !== token) return;
        this.#lastByteAt = at;
        this.#tabs?.alive(at);
      },
      retry: (ms) => {
        this.#floor = ms;
        this.#tabs?.relay(['r', ms]);
      },
      resume: (id) => {
        if (id === this.#prevId) return;
        this.lastId = id;
        this.#tabs?.relay(['i', id]);
      },
      fail: (error, status) => this.#failed(token, error, status),
    };
  }

  // ------------------------------------------------------------------ sharing between tabs

  #share() {
    this.#begun = true;
    this.#setState('connecting');
    this.role = 'follower'; // announced once the lock says which
    const since = Date.now(); // a new tab gets what the leader received from now on
    tabsModule ??= import('./bridge-tabs.js');
    tabsModule.then(
      ({ TabLink }) => {
        if (this.#disposed) return;
        const debug = debugLogger(TABS, this.url, this.#atts.some((a) => a.debug));
        this.#tabs = new TabLink(this.#spec, this.#tabSide(), debug, since);
      },
      (error) => {
        report(error);
        this.#tabSide().solo();
      },
    );
  }

  #setRole(role) {
    if (role === this.role && this.#roleSaid) return;
    this.#roleSaid = true;
    this.#debug?.('role %s -> %s', this.role, role);
    this.role = role;
    for (const att of this.#atts) if (att.live) emitTo(att, 'ssebus:role', { url: this.url, role });
  }

  #roleSaid = false;

  // What the link to the other tabs drives (see bridge-tabs.js).
  #tabSide() {
    return {
      solo: () => {
        if (this.#disposed) return;
        this.#sharing = false;
        this.#tabs = null;
        this.#begun = false;
        this.#setRole('solo');
        this.#sync();
      },
      lead: () => {
        if (this.#disposed) return;
        const was = this.state;
        this.#setRole('leader');
        if (this.#disposed) return; // an ssebus:role listener closed the bridge
        this.#attempt = 0;
        this.#open();
        if (was === 'open') {
          // The previous leader's stream is over; this tab's takes over, from its own last id.
          this.#status('ssebus:reconnecting', { url: this.url, attempt: 0, delayMs: 0, at: Date.now() });
        }
      },
      follow: () => {
        if (this.#disposed) return;
        if (this.role === 'leader') {
          this.#stop();
          this.#setState('connecting');
        }
        this.#setRole('follower');
      },
      stop: () => this.#stop(),
      leaderChanged: () => {
        this.#prevId = '';
      },
      event: (type, data, id, receivedAt) => {
        if (this.role === 'follower' && !this.#disposed) this.#deliver(type, data, id, receivedAt);
      },
      retry: (ms) => {
        this.#floor = ms;
      },
      resume: (id) => {
        if (id !== this.#prevId) this.lastId = id;
      },
      status: (name, payload) => {
        if (this.#disposed) return;
        if (name === 'ssebus:open') {
          this.#prevId = ''; // a new run of the leader's
          this.#setState('open');
        } else if (name === 'ssebus:error' || name === 'ssebus:reconnecting') this.#setState('connecting');
        else return;
        const p = { ...payload, url: this.url };
        if (name === 'ssebus:error') p.error = new Error(payload.message);
        this.#status(name, p);
      },
      gaveUp: (payload) => {
        const info = { ...payload, url: this.url, error: new Error(payload.message) };
        this.#giveUp(info);
      },
      gap: (requested, earliest) => {
        // The leader keeps fewer events than this tab missed: the gap the server would have
        // sent, and the events the leader kept follow.
        if (this.role !== 'follower' || this.#disposed) return;
        const num = (id) => (typeof id === 'string' && /^\d+$/.test(id) ? id : JSON.stringify(id ?? null));
        this.#deliver(GAP, `{"requested":${num(requested)},"earliest":${num(earliest)}}`, '', Date.now());
      },
      adopt: (state, lastId, floor) => {
        if (this.#disposed) return;
        if (typeof lastId === 'string') {
          if (this.lastId === '') this.lastId = lastId;
          this.#prevId = lastId; // the leader's run repeats it on its events without an id
        }
        if (typeof floor === 'number') this.#floor = floor;
        if (state === 'open' && this.state !== 'open') {
          this.#setState('open');
          this.#status('ssebus:open', { url: this.url });
        }
      },
      reconnect: () => this.reconnect(),
      state: () => this.state,
      lastId: () => this.lastId,
      floor: () => this.#floor,
    };
  }

  // A status for the other tabs: its payload without the Error (rebuilt from its message).
  #relayStatus(name, payload) {
    const { error, ...rest } = payload;
    this.#tabs.relay([name === null ? 'x' : 's', ...(name === null ? [] : [name]), rest]);
  }

  #giveUp(info) {
    const atts = this.#atts;
    this.#dispose();
    for (const att of atts) {
      emitTo(att, 'ssebus:error', info);
      emitTo(att, 'ssebus:closed', { url: this.url, reason: 'maxAttempts', error: info.error });
    }
  }

  // ssebus:gap {requested, earliest}: what follows starts at `earliest`, which may be
  // smaller than the id this connection resumed from (another server's, or one from a run
  // whose clock was ahead). The duplicate check starts over just before it.
  #rebase(data) {
    this.#debug?.('gap: %s', data);
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
      else if (this.lastId !== '' && delivered(id, this.lastId)) {
        this.#debug?.('dropped a duplicate: id %s, after %s was delivered', id, this.lastId);
        return;
      } else this.lastId = id;
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

  #failed(token, error, status) {
    if (this.#current !== token) return;
    const healthy = this.#opened !== 0 && Date.now() - this.#opened >= HEALTHY_MS;
    this.#stop();
    if (healthy) this.#attempt = 0;
    const attempt = ++this.#attempt;
    const info = { url: this.url, error, message: error?.message ?? String(error), attempt };
    if (status !== undefined) {
      info.status = status;
      // Not worth the same request again: the credentials (cookie, token) need renewing.
      if (status === 401 || status === 403) info.auth = true;
    }
    this.#debug?.(
      'attempt %d failed%s: %s',
      attempt,
      status === undefined ? '' : ` with HTTP ${status}${info.auth ? ' (auth)' : ''}`,
      info.message,
    );
    const r = this.#spec.reconnect;
    if (attempt > r.maxAttempts) {
      this.#debug?.('giving up after %d attempts (reconnect.maxAttempts)', attempt - 1);
      if (this.#tabs !== null) this.#relayStatus(null, info);
      this.#giveUp(info);
      return;
    }
    let ceiling = r.initialMs * r.factor ** (attempt - 1);
    if (!(ceiling <= r.maxMs)) ceiling = r.initialMs === 0 ? 0 : r.maxMs;
    const wait = r.jitter ? Math.random() * ceiling : ceiling; // "full jitter"
    const delayMs = Math.round(Math.min(MAX_DELAY, Math.max(this.#floor, wait)));
    this.#setState('connecting');
    const timer = setTimeout(() => {
      this.#timer = null;
      this.#open();
    }, delayMs);
    this.#timer = timer;
    this.#debug?.(
      'reconnecting in %d ms (attempt %d, ceiling %d ms, floor %d ms)',
      delayMs,
      attempt + 1,
      ceiling,
      this.#floor,
    );
    // Listeners hear last, when the state is settled: they may close() or reconnect() from inside.
    this.#status('ssebus:error', info);
    if (this.#timer === timer) {
      this.#status('ssebus:reconnecting', { url: this.url, attempt, delayMs, at: Date.now() + delayMs });
    }
  }

  // Ends the current run and any timer; the connection may open again.
  #stop() {
    const token = this.#current;
    clearTimeout(this.#timer);
    clearTimeout(this.#beat);
    this.#timer = this.#beat = null;
    if (token === null) return;
    // The run reports its server's retry: and a trailing id while it closes.
    token.run?.close();
    this.#current = null;
  }

  #dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#stop();
    this.#setState('closed');
    if (connections.get(this.#key) === this) connections.delete(this.#key);
    if (this.#onVisibility !== null) globalThis.document?.removeEventListener('visibilitychange', this.#onVisibility);
    this.#tabs?.leave(); // a leader hands off to the next tab
    this.#tabs = null;
    const atts = this.#atts;
    this.#atts = [];
    for (const att of atts) {
      att.live = false;
      att.ended(this.lastId);
    }
    this.#transport.dispose();
  }

  #status(name, payload) {
    if (this.#tabs !== null && this.role === 'leader') this.#relayStatus(name, payload);
    for (const att of this.#atts) if (att.live) emitTo(att, name, payload, undefined);
  }
}
