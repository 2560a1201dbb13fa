// Compiled only where the TypeScript lib declares Symbol.dispose (tsconfig.json:
// ESNext.Disposable): a bus and a bridge are disposables there, `using` included.
import { createEventBus, EventBridge } from 'ssebus';

export async function disposables(): Promise<void> {
  const bus = await createEventBus();
  const b = new EventBridge(bus, { url: '/e' });
  b[Symbol.dispose]();
  {
    using scoped = new EventBridge(bus, { url: '/e' }).connect();
    void scoped.state;
  }
  const d: Disposable = bus;
  d[Symbol.dispose]();
  {
    using owned = await createEventBus();
    owned.emit('x');
  }
}
