// ssebus: the EventBridge's options, checked once, in the constructor. Everything past
// this module reads a frozen spec and never meets a wrong value; every refusal is a
// TypeError that names the option and says what it takes.

import { describe } from './util.js';

export const GAP = 'ssebus:gap';
const LEADER_TIMEOUT_MS = 30000; // crossTab.leaderTimeoutMs when heartbeatTimeoutMs is off
export const MAX_DELAY = 0x7fffffff; // setTimeout's limit

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
  'debug',
  'crossTab',
];
const CROSS_TAB_OPTIONS = ['key', 'leaderTimeoutMs'];

export function refuse(what) {
  throw new TypeError(`ssebus: EventBridge: ${what}`);
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Bus event names: one name or a non-empty array of them, never a pattern. */
export function readNames(value, what) {
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

/**
 * Request headers as sorted [lower-case name, value] pairs. `what` names the value in
 * errors: the headers option, or what a headers function returned.
 */
export function readHeaders(value, what = 'headers') {
  if (value === undefined || value === null) return [];
  let entries;
  if (typeof Headers === 'function' && value instanceof Headers) entries = [...value];
  else if (isPlainObject(value)) entries = Object.entries(value);
  else refuse(`${what} must be an object of header name -> string value, got ${describe(value)}`);
  const out = [];
  for (const [key, v] of entries) {
    if (typeof v !== 'string') refuse(`${what}[${JSON.stringify(key)}] must be a string, got ${describe(v)}`);
    const name = key.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) refuse(`${what}: ${JSON.stringify(key)} is not a valid header name`);
    if (name === 'last-event-id') refuse(`${what}: use the lastEventId option rather than a Last-Event-ID header`);
    out.push([name, v]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

// crossTab: true | false | { key?, leaderTimeoutMs? } -> null (off) or { key, leaderTimeoutMs }.
// A headers function cannot be compared between tabs, so it needs a key that names whose
// credentials it sends: tabs share a stream only when their keys agree.
function readCrossTab(value, headers, heartbeatTimeoutMs) {
  if (value === undefined || value === false) return null;
  if (value !== true && !isPlainObject(value)) {
    refuse(`crossTab must be true, false or an object such as { key: 'user-42' }, got ${describe(value)}`);
  }
  const o = value === true ? {} : value;
  for (const k of Object.keys(o)) {
    if (!CROSS_TAB_OPTIONS.includes(k)) {
      refuse(`unknown option crossTab.${k}; crossTab takes ${CROSS_TAB_OPTIONS.join(', ')}`);
    }
  }
  if (o.key !== undefined && (typeof o.key !== 'string' || o.key === '')) {
    refuse(`crossTab.key must be a non-empty string, got ${describe(o.key)}`);
  }
  if (typeof headers === 'function' && o.key === undefined) {
    refuse(
      'crossTab with a headers function needs crossTab.key: a string that names whose credentials ' +
        "the function sends (e.g. { crossTab: { key: 'user-42' } }), so that only tabs with the same " +
        'credentials share a stream',
    );
  }
  // Without a heartbeat check, still a bound: otherwise a hung leader would hold every tab.
  const fallback = heartbeatTimeoutMs === Infinity || heartbeatTimeoutMs === 0 ? LEADER_TIMEOUT_MS : heartbeatTimeoutMs;
  const leaderTimeoutMs = readNumber(
    o.leaderTimeoutMs,
    fallback,
    'crossTab.leaderTimeoutMs',
    0,
    'a number of milliseconds (0 or Infinity turns the check off)',
  );
  return Object.freeze({
    key: o.key ?? null,
    leaderTimeoutMs: leaderTimeoutMs === Infinity ? 0 : Math.min(leaderTimeoutMs, MAX_DELAY),
  });
}

/** The spec every other part of the bridge reads. */
export function readOptions(options) {
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

  // A function is called before every attempt (it may refresh a token); its answer is
  // checked like the object form, then.
  const headers = typeof o.headers === 'function' ? o.headers : readHeaders(o.headers);
  if (transport === 'eventsource' && (typeof headers === 'function' || headers.length !== 0)) {
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

  return Object.freeze({
    url,
    crossTab: readCrossTab(o.crossTab, headers, heartbeatTimeoutMs),
    transport,
    map,
    translate: o.translate ?? null,
    // The names a native EventSource has to be told about: it delivers no other.
    listens: [...new Set(['message', GAP, ...Object.keys(map), ...events])],
    reconnect: readReconnect(o.reconnect),
    heartbeatTimeoutMs: heartbeatTimeoutMs === Infinity ? 0 : Math.min(heartbeatTimeoutMs, MAX_DELAY),
    withCredentials: readBoolean(o.withCredentials, 'withCredentials'),
    headers, // sorted pairs, or a function returning (a promise of) an object
    pauseWhenHidden: readBoolean(o.pauseWhenHidden, 'pauseWhenHidden'),
    lastEventId: o.lastEventId ?? '',
    EventSource: o.EventSource ?? null,
    debug: readBoolean(o.debug, 'debug'),
  });
}
