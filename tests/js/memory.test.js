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

  it('100,000 pattern subscribe/unsubscribe cycles leave the heap flat', async () => {
    const bus = await createEventBus();
    const fn = () => {};
    let calls = 0;
    bus.on('p0:*', () => calls++); // one that stays
    const cycle = (i) => {
      const off = bus.on(`p${i % 100}:*`, fn);
      if (i % 10 === 0) bus.emit(`p${i % 100}:x`); // make the changes reach the core
      off();
    };
    for (let i = 0; i < 1000; i++) cycle(i);
    bus.emit('p0:x');
    const before = wasmMemoryStats();
    for (let i = 0; i < 100_000; i++) cycle(i);
    bus.emit('p0:x');
    const after = wasmMemoryStats();
    assert.equal(bus.listenerCount('p0:x'), 1);
    assert.equal(calls, 1000 / 100 + 100_000 / 100 + 2);
    assert.equal(after.heapBytes, before.heapBytes, 'the heap did not grow');
    assert.ok(after.usedBytes - before.usedBytes < 4096, `used ${before.usedBytes} -> ${after.usedBytes}`);
    bus.destroy();
  });

  it('exact-name subscriptions and once never reach the WebAssembly heap', async () => {
    const bus = await createEventBus();
    bus.on('video:*', () => {}); // a pattern, so that the core is in use
    bus.emit('video:created');
    const before = wasmMemoryStats();
    const offs = [];
    for (let i = 0; i < 2000; i++) offs.push(bus.on(`name_${i}`, () => {}));
    for (let i = 0; i < 2000; i++) bus.once(`once_${i}`, () => {});
    bus.emit('video:created');
    assert.equal(wasmMemoryStats().usedBytes, before.usedBytes, '2,000 on() and 2,000 once() added nothing');
    for (const off of offs) off();
    bus.emit('video:created');
    assert.equal(wasmMemoryStats().usedBytes, before.usedBytes);
    bus.destroy();

    // With no pattern subscribed, emitting exact names does not reach the core either.
    const plain = await createEventBus();
    const quiet = wasmMemoryStats();
    let calls = 0;
    for (let i = 0; i < 2000; i++) plain.once(`once_${i}`, () => calls++);
    for (let i = 0; i < 2000; i++) plain.emit(`once_${i}`);
    assert.equal(calls, 2000);
    assert.equal(wasmMemoryStats().usedBytes, quiet.usedBytes);
    plain.destroy();
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

  const noGc =
    typeof globalThis.gc !== 'function' &&
    'needs globalThis.gc to collect the dropped buses: run node --expose-gc --test (as npm test does)';
  it('a bus that is only dropped is collected without destroy() (backstop)', { skip: noGc }, async () => {
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
