// The WebAssembly heap stays flat under churn, distinct names and create/destroy cycles.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createEventBus, wasmMemoryStats } from 'ssebus';

function used() {
  return wasmMemoryStats().usedBytes;
}

describe('WebAssembly memory', () => {
  it('100,000 subscribe/unsubscribe cycles leave the heap flat', async () => {
    const bus = await createEventBus();
    const fn = () => {};
    const cycle = (i) => {
      const off = bus.on(`name:${i % 100}`, fn);
      if (i % 10 === 0) bus.emit(`name:${i % 100}`); // make the changes reach the core
      off();
    };
    for (let i = 0; i < 1000; i++) cycle(i); // warm-up: buffers reach their size
    bus.emit('flush');
    const before = wasmMemoryStats();
    for (let i = 0; i < 100_000; i++) cycle(i);
    bus.emit('flush');
    const after = wasmMemoryStats();
    assert.equal(after.heapBytes, before.heapBytes, 'the heap did not grow');
    bus.destroy();
    // A leak of one byte a cycle would show as 100 KB; allow container capacities to settle.
    assert.ok(after.usedBytes - before.usedBytes < 4096, `used ${before.usedBytes} -> ${after.usedBytes}`);
  });

  it('1,000 create/destroy cycles leave the heap flat', async () => {
    const warm = await createEventBus();
    warm.destroy();
    const before = wasmMemoryStats();
    for (let i = 0; i < 1000; i++) {
      const bus = await createEventBus();
      bus.on('x', () => {});
      bus.on('video:*', () => {});
      bus.emit('x');
      bus.destroy();
    }
    const after = wasmMemoryStats();
    assert.equal(after.heapBytes, before.heapBytes);
    assert.equal(after.usedBytes, before.usedBytes, `used ${before.usedBytes} -> ${after.usedBytes}`);
  });

  it('a million distinct names leave memory flat', async () => {
    const bus = await createEventBus();
    bus.on('name:*', () => {});
    for (let i = 0; i < 5000; i++) bus.emit(`warm:${i}`);
    const before = wasmMemoryStats();
    let calls = 0;
    bus.on('name:*', () => calls++);
    for (let i = 0; i < 1_000_000; i++) bus.emit(`name:${i}`);
    const after = wasmMemoryStats();
    assert.equal(calls, 1_000_000);
    assert.equal(after.heapBytes, before.heapBytes);
    // Bounded: at most a few thousand interned names, whatever was emitted.
    assert.ok(after.usedBytes - before.usedBytes < 256 * 1024, `used ${before.usedBytes} -> ${after.usedBytes}`);
    bus.destroy();
  });

  it('a bus that is only dropped is collected without destroy() (backstop)', async (t) => {
    if (typeof globalThis.gc !== 'function') {
      t.skip('needs node --expose-gc');
      return;
    }
    const warm = await createEventBus();
    warm.destroy();
    const before = used();
    const useAndDrop = async () => {
      const bus = await createEventBus();
      bus.on('x', () => {});
      bus.emit('x');
    };
    for (let i = 0; i < 100; i++) await useAndDrop();
    await new Promise((r) => setTimeout(r, 0)); // leave the frames that held the last bus
    for (let i = 0; i < 20 && used() > before; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(used(), before);
  });
});
