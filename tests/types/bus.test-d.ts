// Compiled with `tsc --noEmit -p tests/types`: the API's types as a user meets them.
import { createEventBus, type EventBus, type Unsubscribe, wasmMemoryStats } from 'ssebus';

interface Events {
  video_created: { videoId: string };
  video_updated: { videoId: string; title: string };
  tick: undefined;
  'video:status:ready': { videoId: string };
}

export async function typed(): Promise<void> {
  const bus: EventBus<Events> = await createEventBus<Events>();

  const off: Unsubscribe = bus.on('video_created', (payload, meta) => {
    const id: string = payload.videoId;
    const name: 'video_created' = meta.name;
    void id;
    void name;
  });
  off();

  bus.on(['video_created', 'video_updated'], (payload) => {
    const id: string = payload.videoId;
    void id;
  });
  bus.on('video:*', (_payload, meta) => {
    const name: string = meta.name;
    void name;
  });
  bus.once('video_updated', (p) => void p.title);
  bus.emit('video_created', { videoId: 'v1' });
  bus.emit('tick');
  bus.off('video_created');
  const n: number = bus.listenerCount('video_created') + bus.listenerCount();
  void n;
  bus.onError = (error, context) => void [error, context.name];
  bus.onError = null;
  const stats = wasmMemoryStats();
  if (stats) void stats.heapBytes;

  // @ts-expect-error a misspelt event name
  bus.on('video_craeted', () => {});
  // @ts-expect-error a payload of the wrong shape
  bus.emit('video_created', { id: 'v1' });
  // @ts-expect-error the payload is required for this event
  bus.emit('video_updated');
  // @ts-expect-error a listener must be a function
  bus.on('video_created', 'not a function');
  // @ts-expect-error an unknown event cannot be emitted
  bus.emit('video_deleted', {});
  // @ts-expect-error the payload type is checked inside the listener
  bus.on('video_created', (payload) => payload.title);

  bus.destroy();
}

export async function untyped(): Promise<void> {
  const bus = await createEventBus();
  bus.on('anything', (payload: unknown) => void payload);
  bus.emit('anything', 42);
  bus.emit('nothing');
}
