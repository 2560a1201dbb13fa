// The server's HTTP API, as the dashboard uses it. Everything is same-origin: the page is
// served by ssebus-server itself.

/**
 * The client id the page gives the server, so that targeted test events and uploads reach
 * it: one of its own per tab, or, when the tabs share one connection (crossTab), one for the
 * whole browser, kept in localStorage (every tab's stream then has the same URL).
 */
const tabClientId = newClientId();
const BROWSER_ID_KEY = 'ssebus-demo-browser-client';

function newClientId() {
  return `web-${Math.random().toString(36).slice(2, 10)}`;
}

export function clientIdFor(crossTab) {
  if (!crossTab) return tabClientId;
  try {
    let id = localStorage.getItem(BROWSER_ID_KEY);
    if (!/^web-[a-z0-9]{1,16}$/.test(id ?? '')) {
      id = newClientId();
      localStorage.setItem(BROWSER_ID_KEY, id);
    }
    return id;
  } catch {
    return tabClientId; // no storage: nothing to share it through
  }
}

/** The one event stream of the page: global events plus the four demo streams. */
export const DEMO_STREAMS = ['default', 'system', 'user-activity', 'notifications'];
export const eventsUrl = (clientId) => `/api/events?streams=${DEMO_STREAMS.join(',')}&clientId=${clientId}`;

/** Server event name -> bus event names. Everything else: `:` becomes `_`. */
export const EVENT_MAP = Object.freeze({
  'video:created': ['video_created', 'refresh:list:view'],
  'video:updated': ['video_updated', 'refresh:list:view'],
});

export class ApiError extends Error {
  constructor(message, status, options) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
  }
}

async function request(method, url, { body, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (cause) {
    throw new ApiError(`${method} ${url}: the server is unreachable`, 0, { cause });
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) throw new ApiError(json?.error ?? `${method} ${url} answered HTTP ${res.status}`, res.status);
  return json;
}

// The publisher key, which the demo server hands to its own page (GET /api/demo/config).
// A server that restarted may have a new one: the page asks again when a request with the
// key is refused (401), and after its stream comes back from an outage (forgetConfig()).
let config = null;
function publisherKey() {
  config ??= request('GET', '/api/demo/config').catch((error) => {
    config = null;
    throw error;
  });
  return config.then((c) => c.publisherKey);
}

/** Drops the publisher key: the next request that needs it asks the server again. */
export function forgetConfig() {
  config = null;
}

async function withPublisherKey(method, url, body) {
  const key = await publisherKey();
  try {
    return await request(method, url, { body, key });
  } catch (error) {
    if (error.status !== 401) throw error;
    // Another key since the page asked? Then once more with it.
    forgetConfig();
    const fresh = await publisherKey();
    if (fresh === key) throw error;
    return request(method, url, { body, key: fresh });
  }
}

export const api = {
  videos: () => request('GET', '/api/videos').then((r) => r.videos),
  // The upload's events go to this client only (this tab, or with crossTab this browser).
  upload: (filename, clientId) =>
    request('POST', '/api/uploads', { body: { filename, target: { type: 'client', id: clientId } } }),
  process: (videoId) => request('POST', `/videos/${encodeURIComponent(videoId)}/process`),
  muxWebhook: (type, assetId) => request('POST', '/api/demo/mux-webhook', { body: { type, assetId } }),
  stats: () => request('GET', '/api/events/stats'),
  streams: () => request('GET', '/api/v1/events/streams').then((r) => r.streams),
  controlStream: (stream, action) =>
    withPublisherKey('POST', `/api/v1/events/stream/${encodeURIComponent(stream)}/${action}`),
  sendTest: (body) => withPublisherKey('POST', '/api/sse-test', body),
  // With a session id, signing in again keeps it (e.g. for a token the server no longer accepts).
  login: (user, session) => request('POST', '/api/login', { body: session ? { user, session } : { user } }),
  logout: () => request('POST', '/api/logout'),
};
