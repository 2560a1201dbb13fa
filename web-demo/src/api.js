// The server's HTTP API, as the dashboard uses it. Everything is same-origin: the page is
// served by ssebus-server itself.

/** This page's client id: targeted test events can reach exactly this tab. */
export const clientId = `web-${Math.random().toString(36).slice(2, 10)}`;

/** The one event stream of the page: global events plus the four demo streams. */
export const DEMO_STREAMS = ['default', 'system', 'user-activity', 'notifications'];
export const EVENTS_URL = `/api/events?streams=${DEMO_STREAMS.join(',')}&clientId=${clientId}`;

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
  // The upload's events go to this tab only.
  upload: (filename) =>
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
