// The bus as a user meets it: imported by package name, over the built WebAssembly.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { createEventBus } from 'ssebus';

let bus;
beforeEach(async () => {
  bus = await createEventBus();
});
afterEach(() => bus.destroy());

function recorder() {
  const calls = [];
  const make = (label) => (payload, meta) => calls.push([label, payload, meta.name]);
  return { calls, make };
}

describe('on / emit', () => {
  it('calls a listener with the payload and meta.name', () => {
    const { calls, make } = recorder();
    bus.on('video_created', make('a'));
    const payload = { videoId: 'v1' };
    bus.emit('video_created', payload);
    assert.deepEqual(calls, [['a', payload, 'video_created']]);
    assert.equal(calls[0][1], payload, 'the payload is the same object, never serialised');
  });

  it('keeps JavaScript values as they are: functions, class instances, undefined', () => {
    const seen = [];
    bus.on('x', (p) => seen.push(p));
    const fn = () => 1;
    const map = new Map([[1, 2]]);
    bus.emit('x', fn);
    bus.emit('x', map);
    bus.emit('x');
    assert.equal(seen[0], fn);
    assert.equal(seen[1], map);
    assert.equal(seen[2], undefined);
  });

  it('calls nothing for a name without listeners', () => {
    const { calls, make } = recorder();
    bus.on('a', make('a'));
    bus.emit('b', 1);
    assert.deepEqual(calls, []);
  });

  it('runs listeners in subscription order, exact names and patterns interleaved', () => {
    const { calls, make } = recorder();
    bus.on('video:*', make('pattern'));
    bus.on('video:created', make('exact'));
    bus.on('*', make('all'));
    bus.on('video:created', make('exact2'));
    bus.emit('video:created', 0);
    assert.deepEqual(
      calls.map((c) => c[0]),
      ['pattern', 'exact', 'all', 'exact2'],
    );
  });

  it('calls the same function twice when subscribed twice', () => {
    let n = 0;
    const fn = () => n++;
    bus.on('x', fn);
    bus.on('x', fn);
    bus.emit('x');
    assert.equal(n, 2);
  });

  it('on() returns an unsubscribe that is idempotent', () => {
    let n = 0;
    const off = bus.on('x', () => n++);
    bus.emit('x');
    off();
    off();
    bus.emit('x');
    assert.equal(n, 1);
  });

  it('treats names that Object.prototype has as ordinary names', () => {
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
    const seen = [];
    for (const name of names) bus.emit(name, 0); // nothing subscribed: nothing called, no throw
    for (const name of names) bus.on(name, (p, meta) => seen.push(meta.name));
    for (const name of names) bus.emit(name, 1);
    assert.deepEqual(seen, names);
    assert.equal(bus.listenerCount('constructor'), 1);
  });

  it('sees new subscriptions after an emit has cached its answer', () => {
    const { calls, make } = recorder();
    bus.on('x', make('a'));
    bus.emit('x', 1);
    bus.on('x', make('b'));
    bus.on('*', make('c'));
    bus.emit('x', 2);
    assert.deepEqual(
      calls.map((c) => c[0] + c[1]),
      ['a1', 'a2', 'b2', 'c2'],
    );
  });
});

describe('patterns', () => {
  it('"*" matches one segment, "**" any number, "*" alone every event', () => {
    const { calls, make } = recorder();
    bus.on('video:*', make('one'));
    bus.on('video:**', make('deep'));
    bus.on('*', make('all'));
    bus.emit('video:created', 0);
    bus.emit('video:upload:progress', 0);
    bus.emit('user:login', 0);
    assert.deepEqual(
      calls.map((c) => `${c[0]}@${c[2]}`),
      [
        'one@video:created',
        'deep@video:created',
        'all@video:created',
        'deep@video:upload:progress',
        'all@video:upload:progress',
        'all@user:login',
      ],
    );
  });

  it('matches underscore names with either separator', () => {
    const seen = [];
    bus.on('video_*', (_, m) => seen.push(m.name));
    bus.on('video:*', (_, m) => seen.push(m.name));
    bus.emit('video_created');
    bus.emit('video_upload_progress');
    assert.deepEqual(seen, ['video_created', 'video_created']);
  });

  it('a pattern subscription added or removed later changes cached answers', () => {
    const seen = [];
    bus.emit('video:created'); // cache an empty answer
    const off = bus.on('video:*', () => seen.push('p'));
    bus.emit('video:created');
    off();
    bus.emit('video:created');
    assert.deepEqual(seen, ['p']);
  });

  it('refuses to emit a pattern', () => {
    assert.throws(() => bus.emit('video:*'), { message: /is a pattern; wildcards belong in on\(\)/ });
  });
});

describe('once', () => {
  it('runs once', () => {
    let n = 0;
    bus.once('x', () => n++);
    bus.emit('x');
    bus.emit('x');
    assert.equal(n, 1);
    assert.equal(bus.listenerCount('x'), 0);
  });

  it('runs at most once when the event is emitted from inside itself', () => {
    let n = 0;
    bus.once('x', () => {
      n++;
      bus.emit('x');
    });
    bus.emit('x');
    assert.equal(n, 1);
  });

  it('on an array fires once, for the first name emitted', () => {
    const seen = [];
    bus.once(['a', 'b'], (_, m) => seen.push(m.name));
    bus.emit('b');
    bus.emit('a');
    bus.emit('b');
    assert.deepEqual(seen, ['b']);
    assert.equal(bus.listenerCount(), 0);
  });

  it('can be removed before it fires', () => {
    let n = 0;
    const off = bus.once('x', () => n++);
    off();
    bus.emit('x');
    assert.equal(n, 0);
  });

  it('works with patterns', () => {
    const seen = [];
    bus.once('video:*', (_, m) => seen.push(m.name));
    bus.emit('video:created');
    bus.emit('video:updated');
    assert.deepEqual(seen, ['video:created']);
  });
});

describe('multi-subscription', () => {
  it('subscribes one listener to several names with one unsubscribe', () => {
    const seen = [];
    const off = bus.on(['video_created', 'video_updated'], (p, m) => seen.push([m.name, p]));
    bus.emit('video_created', 1);
    bus.emit('video_updated', 2);
    bus.emit('video_deleted', 3);
    off();
    bus.emit('video_created', 4);
    assert.deepEqual(seen, [
      ['video_created', 1],
      ['video_updated', 2],
    ]);
    assert.equal(bus.listenerCount(), 0);
  });

  it('refuses the whole array when one name is bad, adding nothing', () => {
    assert.throws(() => bus.on(['ok', 'bad:*x'], () => {}), /whole segment/);
    assert.equal(bus.listenerCount(), 0);
  });
});

describe('off', () => {
  it('removes the earliest subscription of that listener', () => {
    const seen = [];
    const fn = (p) => seen.push(p);
    bus.on('x', fn);
    bus.on('x', () => seen.push('other'));
    bus.on('x', fn);
    bus.off('x', fn);
    bus.emit('x', 'p');
    assert.deepEqual(seen, ['other', 'p']);
  });

  it('without a listener removes every subscription of the name', () => {
    let n = 0;
    bus.on('x', () => n++);
    bus.on('x', () => n++);
    bus.on('y', () => n++);
    bus.off('x');
    bus.emit('x');
    bus.emit('y');
    assert.equal(n, 1);
  });

  it('removes a pattern subscription by its pattern', () => {
    let n = 0;
    const fn = () => n++;
    bus.on('video:*', fn);
    bus.off('video:*', fn);
    bus.emit('video:created');
    assert.equal(n, 0);
  });

  it('of a listener that is not subscribed changes nothing', () => {
    let n = 0;
    bus.on('x', () => n++);
    bus.off('x', () => {});
    bus.off('nobody');
    bus.emit('x');
    assert.equal(n, 1);
  });
});

describe('during an emit (EventTarget rules)', () => {
  it('a listener removed before its turn is not called', () => {
    const seen = [];
    let offB;
    bus.on('x', () => {
      seen.push('a');
      offB();
    });
    offB = bus.on('x', () => seen.push('b'));
    bus.emit('x');
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'a']);
  });

  it('a listener added during the emit is not called for it', () => {
    const seen = [];
    bus.on('x', () => {
      seen.push('a');
      bus.on('x', () => seen.push('late'));
    });
    bus.emit('x');
    assert.deepEqual(seen, ['a']);
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'a', 'late']);
  });

  it('a pattern listener added during the emit is not called for it', () => {
    const seen = [];
    bus.on('x:y', () => {
      seen.push('a');
      bus.on('x:*', () => seen.push('late'));
    });
    bus.emit('x:y');
    assert.deepEqual(seen, ['a']);
  });

  it('an exact listener added during the emit is not called for it when patterns reach the name too', () => {
    const seen = [];
    bus.on('x:*', () => seen.push('p'));
    bus.on('x:y', () => {
      seen.push('a');
      if (seen.length < 3) bus.on('x:y', () => seen.push('late'));
    });
    bus.emit('x:y');
    assert.deepEqual(seen, ['p', 'a']);
    bus.emit('x:y');
    assert.deepEqual(seen, ['p', 'a', 'p', 'a', 'late']);
  });

  it('a once listener consumed by a nested emit is not called again by the outer one', () => {
    const seen = [];
    bus.on('x', () => {
      seen.push('a');
      if (seen.length === 1) bus.emit('x');
    });
    bus.once('x', () => seen.push('once'));
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'a', 'once']);
  });

  it('clear() during an emit stops the listeners still to come', () => {
    const seen = [];
    bus.on('x', () => {
      seen.push('a');
      bus.clear();
    });
    bus.on('x', () => seen.push('b'));
    bus.emit('x');
    assert.deepEqual(seen, ['a']);
  });

  it('a listener removed by a nested emit of another name is not called', () => {
    const seen = [];
    let offC;
    bus.on('other', () => offC());
    bus.on('x', () => {
      seen.push('a');
      bus.emit('other');
    });
    bus.on('x', () => seen.push('b'));
    offC = bus.on('x', () => seen.push('c'));
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('a pattern listener removed before its turn is not called', () => {
    const seen = [];
    let offPattern;
    bus.on('x:y', () => {
      seen.push('a');
      offPattern();
    });
    offPattern = bus.on('x:*', () => seen.push('pattern'));
    bus.on('x:y', () => seen.push('b'));
    bus.emit('x:y');
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('a once listener among others runs once and the others every time', () => {
    const seen = [];
    bus.on('x', () => seen.push('a'));
    bus.once('x', () => seen.push('once'));
    bus.on('x', () => seen.push('b'));
    bus.emit('x');
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'once', 'b', 'a', 'b']);
  });

  it('re-entrant emits run in order, depth first', () => {
    const seen = [];
    bus.on('outer', () => {
      seen.push('outer:1');
      bus.emit('inner');
    });
    bus.on('outer', () => seen.push('outer:2'));
    bus.on('inner', () => seen.push('inner'));
    bus.emit('outer');
    assert.deepEqual(seen, ['outer:1', 'inner', 'outer:2']);
  });
});

describe('errors in listeners', () => {
  it('a throwing listener does not stop the others; onError gets the error', () => {
    const errors = [];
    bus.onError = (error, context) => errors.push([error.message, context.name]);
    const seen = [];
    bus.on('x', () => seen.push('a'));
    bus.on('x', () => {
      throw new Error('boom');
    });
    bus.on('x', () => seen.push('c'));
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'c']);
    assert.deepEqual(errors, [['boom', 'x']]);
  });

  it('onError gets the listener that threw, for each one that throws', () => {
    const errors = [];
    bus.onError = (error, context) => errors.push([error.message, context.listener]);
    const seen = [];
    const first = () => {
      throw new Error('first');
    };
    const second = () => {
      throw new Error('second');
    };
    bus.on('x', first);
    bus.on('x', () => seen.push('b'));
    bus.on('x', second);
    bus.on('x', () => seen.push('d'));
    bus.emit('x');
    assert.deepEqual(seen, ['b', 'd']);
    assert.deepEqual(errors, [
      ['first', first],
      ['second', second],
    ]);
  });

  it('a listener that removes a later one and then throws: the removed one is not called, the rest are', () => {
    const errors = [];
    bus.onError = (error) => errors.push(error.message);
    const seen = [];
    let offC;
    bus.on('x', () => {
      seen.push('a');
      offC();
      throw new Error('boom');
    });
    bus.on('x', () => seen.push('b'));
    offC = bus.on('x', () => seen.push('c'));
    bus.on('x', () => seen.push('d'));
    bus.emit('x');
    assert.deepEqual(seen, ['a', 'b', 'd']);
    assert.deepEqual(errors, ['boom']);
  });

  it('after a listener throws, a removal later in the same emit is still honoured', () => {
    bus.onError = () => {};
    const seen = [];
    let offD;
    bus.on('x', () => {
      throw new Error('boom');
    });
    bus.on('x', () => {
      seen.push('b');
      offD();
    });
    bus.on('x', () => seen.push('c'));
    offD = bus.on('x', () => seen.push('d'));
    bus.emit('x');
    assert.deepEqual(seen, ['b', 'c']);
  });

  it('without onError, reports through reportError', () => {
    const saved = globalThis.reportError;
    const reported = [];
    globalThis.reportError = (e) => reported.push(e);
    try {
      const seen = [];
      bus.on('x', () => {
        throw new TypeError('bad');
      });
      bus.on('x', () => seen.push('after'));
      bus.emit('x');
      assert.deepEqual(seen, ['after']);
      assert.equal(reported.length, 1);
      assert.equal(reported[0].message, 'bad');
    } finally {
      if (saved === undefined) delete globalThis.reportError;
      else globalThis.reportError = saved;
    }
  });

  it('an onError that throws is reported too', () => {
    const saved = globalThis.reportError;
    const reported = [];
    globalThis.reportError = (e) => reported.push(e.message);
    try {
      bus.onError = () => {
        throw new Error('handler broke');
      };
      bus.on('x', () => {
        throw new Error('listener broke');
      });
      bus.emit('x');
      assert.deepEqual(reported, ['handler broke']);
    } finally {
      if (saved === undefined) delete globalThis.reportError;
      else globalThis.reportError = saved;
    }
  });

  it('createEventBus({ onError }) sets the handler', async () => {
    const errors = [];
    const b = await createEventBus({ onError: (e) => errors.push(e.message) });
    b.on('x', () => {
      throw new Error('e');
    });
    b.emit('x');
    b.destroy();
    assert.deepEqual(errors, ['e']);
  });
});

describe('listenerCount and clear', () => {
  it('counts the listeners an emit reaches, patterns included', () => {
    bus.on('video:created', () => {});
    bus.on('video:*', () => {});
    bus.on('user:login', () => {});
    assert.equal(bus.listenerCount('video:created'), 2);
    assert.equal(bus.listenerCount('video:updated'), 1);
    assert.equal(bus.listenerCount('video:*'), 1);
    assert.equal(bus.listenerCount('nothing'), 0);
    assert.equal(bus.listenerCount(), 3);
  });

  it('clear() removes everything and the bus stays usable', () => {
    let n = 0;
    const off = bus.on('x', () => n++);
    bus.on('*', () => n++);
    bus.clear();
    bus.emit('x');
    assert.equal(n, 0);
    assert.equal(bus.listenerCount(), 0);
    off(); // an old unsubscribe is harmless
    bus.on('x', () => n++);
    bus.emit('x');
    assert.equal(n, 1);
  });
});

describe('misuse gets an Error that says what to do', () => {
  const cases = [
    ['on() with a non-function', () => bus.on('x', 'nope'), TypeError, /on\(\): listener must be a function, got "nope"/],
    ['on() with a missing listener', () => bus.on('x'), TypeError, /listener must be a function, got undefined/],
    ['on() with a number name', () => bus.on(42, () => {}), TypeError, /takes an event name \(a string\).*got 42/],
    ['on() with an empty name', () => bus.on('', () => {}), Error, /event name cannot be empty/],
    ['on() with an empty array', () => bus.on([], () => {}), TypeError, /pass at least one event name/],
    ['on() with a non-string in the array', () => bus.on(['a', null], () => {}), TypeError, /got null/],
    ['a malformed pattern', () => bus.on('video:*x', () => {}), Error, /'\*x'.*whole segment/],
    ['once() with a non-function', () => bus.once('x', {}), TypeError, /once\(\): listener must be a function/],
    ['off() with a non-function', () => bus.off('x', 1), TypeError, /off\(\): listener must be a function/],
    ['emit() with a non-string', () => bus.emit({}), TypeError, /emit\(\) takes an event name/],
    ['emit() with an empty name', () => bus.emit(''), Error, /cannot be empty/],
    ['onError set to a string', () => (bus.onError = 'x'), TypeError, /onError must be a function or null/],
    ['listenerCount() with a number', () => bus.listenerCount(1), TypeError, /listenerCount\(\) takes/],
  ];
  for (const [what, call, type, message] of cases) {
    it(what, () => {
      assert.throws(call, (error) => {
        assert.ok(error instanceof type, `expected ${type.name}, got ${error?.constructor?.name}`);
        assert.match(error.message, message);
        assert.match(error.message, /^ssebus: /);
        return true;
      });
    });
  }

  it('createEventBus() with a non-object', async () => {
    await assert.rejects(createEventBus('x'), { name: 'TypeError', message: /options object/ });
  });
});

describe('destroy', () => {
  it('is idempotent and every later call says the bus was destroyed', async () => {
    const b = await createEventBus();
    const off = b.on('x', () => {});
    b.destroy();
    b.destroy();
    assert.equal(b.destroyed, true);
    for (const call of [
      () => b.on('x', () => {}),
      () => b.once('x', () => {}),
      () => b.off('x'),
      () => b.emit('x'),
      () => b.listenerCount(),
      () => b.clear(),
    ]) {
      assert.throws(call, { message: /on a destroyed bus; create a new one with createEventBus\(\)/ });
    }
    off(); // unsubscribing after destroy (e.g. a late unmount) is harmless
  });

  it('destroy() during an emit stops the listeners still to come', async () => {
    const b = await createEventBus();
    const seen = [];
    b.on('x', () => {
      seen.push('a');
      b.destroy();
    });
    b.on('x', () => seen.push('b'));
    b.emit('x');
    assert.deepEqual(seen, ['a']);
  });

  it('Symbol.dispose destroys', async () => {
    const b = await createEventBus();
    const dispose = Symbol.dispose ?? Symbol.for('Symbol.dispose');
    b[dispose]();
    assert.equal(b.destroyed, true);
  });

  it('buses are independent', async () => {
    const a = await createEventBus();
    const b = await createEventBus();
    let n = 0;
    a.on('x', () => n++);
    b.emit('x');
    a.destroy();
    b.emit('x');
    b.destroy();
    assert.equal(n, 0);
  });
});

describe('distinct names', () => {
  // Idle names are dropped in table order, where number-like names ("404") come first:
  // the name being subscribed must never be the one dropped to make room for it.
  it('regression: a number-like name subscribed while idle names are dropped keeps its listener', async () => {
    const b = await createEventBus();
    let calls = 0;
    const fn = () => calls++;
    for (let i = 0; i < 5_000; i++) {
      b.emit(`idle:${i}`); // one more name with no subscription
      const off = b.on(String(i), fn);
      assert.equal(b.listenerCount(String(i)), 1, `on(${JSON.stringify(String(i))}) after ${i} idle names`);
      b.emit(String(i));
      off();
      const offBoth = b.on([`m:${i}`, String(100_000 + i)], fn);
      b.emit(String(100_000 + i));
      b.emit(`m:${i}`);
      offBoth();
    }
    assert.equal(calls, 3 * 5_000);
    assert.equal(b.listenerCount(), 0);
    b.destroy();
  });

  const noGc =
    typeof globalThis.gc !== 'function' && 'needs globalThis.gc to measure the JS heap: run node --expose-gc --test';
  it('emitting 300,000 distinct names with listeners keeps the JS heap flat', { skip: noGc }, () => {
    let calls = 0;
    bus.on('steady', () => calls++);
    const heap = () => {
      globalThis.gc();
      return process.memoryUsage().heapUsed;
    };
    for (let i = 0; i < 10_000; i++) bus.emit(`warm:${i}`);
    const before = heap();
    for (let i = 0; i < 300_000; i++) {
      bus.emit(`name:${i}`);
      bus.emit('steady');
    }
    const grown = heap() - before;
    assert.equal(calls, 300_000);
    assert.ok(grown < 16 * 1024 * 1024, `the heap grew by ${(grown / 1048576).toFixed(1)} MiB`);
  });
});
