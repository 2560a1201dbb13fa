// Compiled with `tsc --noEmit -p tests/types`: ssebus/react as a user meets it.
import { StrictMode, useState } from 'react';
import { renderToString } from 'react-dom/server';
import { type BridgeStatusEvents, createEventBus, type EventBus } from 'ssebus';
import {
  EventBridge,
  EventBusProvider,
  type EventSourceState,
  type EventSourceStatus,
  MAX_HELD_EMITS,
  type SSEState,
  useEventBus,
  useEventBusEmit,
  useEventBusMulti,
  useEventBusOn,
  useEventBusOnce,
  useEventSource,
  useSSE,
} from 'ssebus/react';

interface Events extends BridgeStatusEvents {
  video_created: { videoId: string };
  video_updated: { videoId: string; title: string };
  'refresh:list:view': undefined;
}

// One declaration types every hook.
declare module 'ssebus/react' {
  interface Register {
    events: Events;
  }
}

function Videos() {
  const [ids, setIds] = useState<string[]>([]);
  useEventBusOn('video_created', (video, meta) => {
    const id: string = video.videoId;
    const name: 'video_created' = meta.name;
    const serverEvent: string | undefined = meta.serverEvent;
    setIds((all) => [...all, id]);
    void [name, serverEvent];
  });
  useEventBusOnce('video_updated', (video) => void video.title.toUpperCase());
  useEventBusMulti(['video_created', 'video_updated'], (video, meta) => {
    const id: string = video.videoId;
    const name: 'video_created' | 'video_updated' = meta.name;
    void [id, name];
  });
  useEventBusOn('video:*', (payload, meta) => void [payload, meta.name]);
  useEventBusOn('ssebus:reconnecting', (p) => void (p.at + p.delayMs));

  // @ts-expect-error no such event
  useEventBusOn('video_craeted', () => {});
  // @ts-expect-error the payload has no `title`
  useEventBusOn('video_created', (video) => video.title);
  // @ts-expect-error the handler is required
  useEventBusOn('video_created');
  // @ts-expect-error names are an array
  useEventBusMulti('video_created', () => {});

  const emit = useEventBusEmit();
  emit('video_created', { videoId: 'v1' });
  emit('refresh:list:view');
  // @ts-expect-error wrong payload
  emit('video_created', { id: 1 });
  // @ts-expect-error no such event
  emit('video_craeted', { videoId: 'v1' });

  const bus: EventBus<Events> | null = useEventBus();
  bus?.emit('video_updated', { videoId: 'v1', title: 't' });

  const source: EventSourceState = useEventSource('/api/events', {
    map: { 'video:created': ['video_created', 'refresh:list:view'] },
    reconnect: { initialMs: 500 },
    autoConnect: false,
    withCredentials: true,
  });
  const status: EventSourceStatus = source.status;
  if (source.lastEvent?.name === 'video_created') {
    const id: string = source.lastEvent.payload.videoId;
    void id;
  }
  // @ts-expect-error status events are not lastEvent
  void (source.lastEvent?.name === 'ssebus:open');
  source.connect();
  source.disconnect();
  source.reconnect();
  if (source.error !== null) {
    const code: number | undefined = source.error.status;
    const auth: boolean = source.error.auth === true;
    const message: string = source.error.message;
    void [code, auth, message, source.error.attempt];
  }
  // @ts-expect-error error is null while there is none
  void source.error.status;
  const withToken = useEventSource('/api/events', {
    headers: async () => ({ Authorization: `Bearer ${ids.length}` }),
    debug: true,
  });
  void withToken.reconnect;
  const tabs = useEventSource('/api/events', { crossTab: true });
  const tabRole: 'leader' | 'follower' | 'solo' | null = tabs.role;
  // @ts-expect-error null until the tabs have decided
  const knownRole: 'leader' | 'follower' | 'solo' = tabs.role;
  void knownRole;
  void tabRole;
  useEventSource('/api/events', { crossTab: { key: 'user-42' }, headers: () => ({ Authorization: 'Bearer t' }) });
  // @ts-expect-error crossTab is true, false or its options
  useEventSource('/api/events', { crossTab: 'yes' });
  // @ts-expect-error debug is true or false
  useEventSource('/api/events', { debug: 1 });
  // @ts-expect-error a headers function returns an object of strings
  useEventSource('/api/events', { headers: () => 42 });
  // @ts-expect-error not a bridge option
  useEventSource('/api/events', { nope: true });

  const sse: SSEState = useSSE();
  const connected: boolean = sse.isConnected;
  const sseRole: 'leader' | 'follower' | 'solo' | null = sse.role;
  void sseRole;
  sse.connect();
  sse.disconnect();
  sse.reconnect();
  const lastFailure: number | undefined = sse.error?.status;
  void lastFailure;
  void [status, connected, sse.lastEvent, sse.error, MAX_HELD_EMITS + 1];

  return <ul>{ids.map((id) => <li key={id}>{id}</li>)}</ul>;
}

// A map given per call, without Register.
interface Other {
  ping: number;
}
function Untyped() {
  const emit = useEventBusEmit<Other>();
  emit('ping', 1);
  // @ts-expect-error a number is expected
  emit('ping', 'one');
  useEventBusOn<Other, 'ping'>('ping', (n) => void n.toFixed());
  const bus: EventBus<Other> | null = useEventBus<Other>();
  void bus;
  return null;
}

export async function app(): Promise<string> {
  const bus = await createEventBus<Events>();
  const tree = (
    <StrictMode>
      <EventBusProvider bus={bus} onError={(error, { name }) => void [error, name]}>
        <EventBridge url="/api/events" map={{ 'video:created': 'video_created' }} pauseWhenHidden crossTab>
          <Videos />
        </EventBridge>
        <EventBridge url={new URL('https://example.com/api/events')} autoConnect={false} />
        <Untyped />
      </EventBusProvider>
      <EventBusProvider>
        <Videos />
      </EventBusProvider>
    </StrictMode>
  );
  // @ts-expect-error url is required
  void (<EventBridge map={{}} />);
  // @ts-expect-error a bus, not a promise of one
  void (<EventBusProvider bus={createEventBus()} />);
  return renderToString(tree);
}
