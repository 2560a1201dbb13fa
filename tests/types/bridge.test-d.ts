// Compiled with `tsc --noEmit -p tests/types`: the EventBridge's types as a user meets them.
import { EventSource as NodeEventSource } from 'eventsource';
import {
  type BridgeErrorEvent,
  type BridgeHeaders,
  type BridgeRole,
  type BridgeState,
  type BridgeStatusEvents,
  createEventBus,
  EventBridge,
  type EventBridgeOptions,
} from 'ssebus';

interface Events extends BridgeStatusEvents {
  video_created: { videoId: string };
  'refresh:list:view': undefined;
}

export async function bridge(): Promise<void> {
  const bus = await createEventBus<Events>();

  const options: EventBridgeOptions = {
    url: '/api/events',
    map: { 'video:created': ['video_created', 'refresh:list:view'], 'video:updated': 'video_updated' },
    reconnect: { initialMs: 1000, maxMs: 30000, factor: 2, jitter: true, maxAttempts: Infinity },
    heartbeatTimeoutMs: 45000,
    withCredentials: false,
    headers: { Authorization: 'Bearer t' },
    pauseWhenHidden: true,
    lastEventId: '42',
  };
  const b = new EventBridge(bus, options).connect();
  const state: BridgeState = b.state;
  const url: string = b.url;
  const id: string = b.lastEventId;
  void [state, url, id];
  const again: EventBridge = b.reconnect();
  void again;
  b.close();

  new EventBridge(bus, { url: new URL('https://example.com/api/events'), transport: 'eventsource', events: ['x'] });
  // The browser's EventSource and the eventsource package's both fit.
  new EventBridge(bus, { url: '/e', transport: 'eventsource', EventSource: globalThis.EventSource });
  new EventBridge(bus, { url: 'http://127.0.0.1/e', transport: 'eventsource', EventSource: NodeEventSource });
  new EventBridge(bus, { url: '/e', translate: (name) => (name.startsWith('internal:') ? null : name) });

  // Status events are ordinary, typed bus events.
  bus.on('ssebus:reconnecting', (p) => {
    const at: number = p.at + p.delayMs + p.attempt;
    void at;
  });
  bus.on('ssebus:error', (p) => {
    const status: number | undefined = p.status;
    const auth: true | undefined = p.auth;
    const message: string = p.message;
    const failure: BridgeErrorEvent = p;
    void [p.error, status, auth, message, p.attempt, p.url, failure];
    // @ts-expect-error the status may be missing (no HTTP answer)
    const sure: number = p.status;
    void sure;
  });
  bus.on('ssebus:closed', (p) => {
    const reason: 'close' | 'maxAttempts' | 'hidden' = p.reason;
    void reason;
  });
  bus.on('ssebus:gap', (p) => void (p.earliest - p.requested));
  bus.on('video_created', (p, meta) => void [p.videoId, meta.id, meta.serverEvent, meta.receivedAt]);

  // Headers: an object, or a function (sync or async) called before every attempt.
  let token = 't1';
  new EventBridge(bus, { url: '/e', headers: () => ({ Authorization: `Bearer ${token}` }) });
  new EventBridge(bus, {
    url: '/e',
    headers: async (): Promise<BridgeHeaders> => {
      token = await Promise.resolve('t2');
      return { Authorization: `Bearer ${token}` };
    },
    debug: true,
  });
  // @ts-expect-error a headers function returns an object of strings
  new EventBridge(bus, { url: '/e', headers: () => 'Bearer t' });
  // @ts-expect-error its values are strings
  new EventBridge(bus, { url: '/e', headers: async () => ({ 'X-Retry': 1 }) });
  // @ts-expect-error debug is true or false
  new EventBridge(bus, { url: '/e', debug: 'ssebus:*' });
  // @ts-expect-error reconnect() takes no argument
  b.reconnect(0);

  // Any object with an emit() will do, e.g. a mitt-style emitter.
  new EventBridge({ emit(name: string, payload?: unknown) { void [name, payload]; } }, { url: '/e' });

  // @ts-expect-error the url is required
  new EventBridge(bus, {});
  // @ts-expect-error a transport that does not exist
  new EventBridge(bus, { url: '/e', transport: 'websocket' });
  // @ts-expect-error map values are bus event names
  new EventBridge(bus, { url: '/e', map: { 'video:created': 1 } });
  // @ts-expect-error reconnect.factor is a number
  new EventBridge(bus, { url: '/e', reconnect: { factor: 'x' } });
  // @ts-expect-error a misspelt option
  new EventBridge(bus, { url: '/e', reconect: {} });
  // @ts-expect-error a bus is required
  new EventBridge('bus', { url: '/e' });
  // @ts-expect-error state is read-only
  b.state = 'open';
  // @ts-expect-error not a state
  const wrong: BridgeState = 'reconnecting';
  void wrong;
  // @ts-expect-error headers are strings
  new EventBridge(bus, { url: '/e', headers: { 'X-Retry': 1 } });

  // crossTab: true, or its options; the role and its status event.
  const shared = new EventBridge(bus, { url: '/e', crossTab: true }).connect();
  const role: BridgeRole = shared.role;
  void role;
  new EventBridge(bus, { url: '/e', crossTab: { key: 'user-42', leaderTimeoutMs: 10000 } });
  new EventBridge(bus, { url: '/e', headers: () => ({ Authorization: `Bearer ${token}` }), crossTab: { key: 'user-42' } });
  bus.on('ssebus:role', (p) => {
    const r: 'leader' | 'follower' | 'solo' = p.role;
    void [r, p.url];
  });
  // @ts-expect-error not a role
  const notRole: BridgeRole = 'primary';
  void notRole;
  // @ts-expect-error the role is read-only
  shared.role = 'leader';
  // @ts-expect-error the key is a string
  new EventBridge(bus, { url: '/e', crossTab: { key: 42 } });
  // @ts-expect-error a misspelt crossTab option
  new EventBridge(bus, { url: '/e', crossTab: { leaderTimeout: 1 } });

  bus.destroy();
}
