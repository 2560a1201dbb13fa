// ssebus's bus against mitt, eventemitter3, eventemitter2 and nanoevents, in one process.
// Run: npm run bench:bus   (prints a Markdown table: ops/s and ssebus/peer ratios)
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

import EventEmitter2 from 'eventemitter2';
import EventEmitter3 from 'eventemitter3';
import mitt from 'mitt';
import { createNanoEvents } from 'nanoevents';

import createSsebusCore from '../dist/ssebus_core.js';
import { createEventBus } from 'ssebus';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 200);

// Runs `fn(n)` (which performs n operations) for about ROUND_MS per round and returns the
// median ops/s over the rounds. The first round is a warm-up and is not counted.
function measure(fn) {
  let n = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    fn(n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > ROUND_MS / 4) break;
    n *= 4;
  }
  const rates = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn(n);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r > 0) rates.push(n / s);
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

let sink = 0;
const listeners = Array.from({ length: 10 }, () => (payload) => {
  sink += payload.n;
});
const payload = { n: 1, videoId: 'v1' };

// Each peer as a uniform adapter: on(name, fn) -> off(), emit(name, payload), once.
async function peers() {
  const ssebus = await createEventBus();
  return {
    ssebus: {
      make: () => ssebus,
      on: (b, name, fn) => b.on(name, fn),
      emit: (b, name, p) => b.emit(name, p),
      once: (b, name, fn) => b.once(name, fn),
      reset: (b) => b.clear(),
      pattern: 'video:*',
      patternOf: (i) => `p${i}:*`,
    },
    mitt: {
      make: () => mitt(),
      on: (b, name, fn) => {
        b.on(name, fn);
        return () => b.off(name, fn);
      },
      emit: (b, name, p) => b.emit(name, p),
      once: (b, name, fn) => {
        const w = (p) => {
          b.off(name, w);
          fn(p);
        };
        b.on(name, w);
      },
    },
    eventemitter3: {
      make: () => new EventEmitter3(),
      on: (b, name, fn) => {
        b.on(name, fn);
        return () => b.off(name, fn);
      },
      emit: (b, name, p) => b.emit(name, p),
      once: (b, name, fn) => b.once(name, fn),
    },
    eventemitter2: {
      make: () => new EventEmitter2({ wildcard: true, delimiter: ':' }),
      on: (b, name, fn) => {
        b.on(name, fn);
        return () => b.off(name, fn);
      },
      emit: (b, name, p) => b.emit(name, p),
      once: (b, name, fn) => b.once(name, fn),
      pattern: 'video:*',
      patternOf: (i) => `p${i}:*`,
    },
    nanoevents: {
      make: () => createNanoEvents(),
      on: (b, name, fn) => b.on(name, fn),
      emit: (b, name, p) => b.emit(name, p),
      once: (b, name, fn) => {
        const off = b.on(name, (p) => {
          off();
          fn(p);
        });
      },
    },
  };
}

function emitCase(count) {
  return (lib) => {
    const b = lib.make();
    lib.reset?.(b);
    for (let i = 0; i < count; i++) lib.on(b, 'video_created', listeners[i]);
    return (n) => {
      for (let i = 0; i < n; i++) lib.emit(b, 'video_created', payload);
    };
  };
}

const cases = [
  { name: 'emit, 1 listener', goal: ['mitt', 'eventemitter3'], setup: emitCase(1) },
  { name: 'emit, 10 listeners', goal: ['mitt', 'eventemitter3'], setup: emitCase(10) },
  {
    name: 'emit matched by video:* among 100 patterns',
    only: (lib) => lib.pattern !== undefined,
    goal: ['eventemitter2'],
    setup: (lib) => {
      const b = lib.make();
      lib.reset?.(b);
      for (let i = 0; i < 99; i++) lib.on(b, lib.patternOf(i), listeners[0]);
      lib.on(b, lib.pattern, listeners[1]);
      return (n) => {
        for (let i = 0; i < n; i++) lib.emit(b, 'video:created', payload);
      };
    },
  },
  {
    name: 'subscribe + unsubscribe',
    goal: ['mitt'],
    setup: (lib) => {
      const b = lib.make();
      lib.reset?.(b);
      lib.on(b, 'video_created', listeners[0]); // an existing subscriber, as in an app
      return (n) => {
        for (let i = 0; i < n; i++) lib.on(b, 'video_created', listeners[1])();
      };
    },
  },
  {
    name: 'once + emit',
    goal: [],
    setup: (lib) => {
      const b = lib.make();
      lib.reset?.(b);
      return (n) => {
        for (let i = 0; i < n; i++) {
          lib.once(b, 'video_created', listeners[0]);
          lib.emit(b, 'video_created', payload);
        }
      };
    },
  },
];

function fmt(opsPerSecond) {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(1)} M`;
  return `${(opsPerSecond / 1e3).toFixed(0)} k`;
}

// gzip -9 bytes of the package's files, as shipped and as a bundler would minify them
// (rolldown's minifier, the one Vite 8 uses).
async function sizes(files) {
  const { minifySync } = await import('rolldown/experimental');
  let shipped = 0;
  let minified = 0;
  for (const f of files) {
    const bytes = await readFile(new URL(`../${f}`, import.meta.url));
    shipped += gzipSync(bytes, { level: 9 }).length;
    const min = f.endsWith('.js') ? minifySync(f, bytes.toString('utf8'), { compress: true, mangle: true }).code : bytes;
    minified += gzipSync(min, { level: 9 }).length;
  }
  return `${(shipped / 1024).toFixed(1)} KiB gzip -9 as shipped, ${(minified / 1024).toFixed(1)} KiB minified by a bundler`;
}

async function instantiateMs() {
  const wasmBinary = await readFile(new URL('../dist/ssebus_core.wasm', import.meta.url));
  const times = [];
  for (let i = 0; i < 21; i++) {
    const t0 = process.hrtime.bigint();
    await createSsebusCore({ wasmBinary });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[10];
}

const libs = await peers();
const names = Object.keys(libs);
console.log(`Node ${process.version}, ${ROUNDS} rounds of ~${ROUND_MS} ms, median ops/s\n`);
console.log(`| case | ${names.join(' | ')} | ssebus vs peers |`);
console.log(`|---|${names.map(() => '---:').join('|')}|---|`);
const misses = [];
for (const c of cases) {
  const rates = {};
  for (const name of names) {
    const lib = libs[name];
    if (c.only && !c.only(lib)) continue;
    rates[name] = measure(c.setup(lib));
  }
  const ratios = names
    .filter((n) => n !== 'ssebus' && rates[n] !== undefined)
    .map((n) => `${(rates.ssebus / rates[n]).toFixed(2)}x ${n}`);
  console.log(`| ${c.name} | ${names.map((n) => (rates[n] ? fmt(rates[n]) : '—')).join(' | ')} | ${ratios.join(', ')} |`);
  for (const peer of c.goal) {
    const want = { 'emit matched by video:* among 100 patterns': 5, 'subscribe + unsubscribe': 0.5 }[c.name] ?? 1;
    const got = rates.ssebus / rates[peer];
    if (got < want) misses.push(`${c.name}: ${got.toFixed(2)}x ${peer} (goal ${want}x)`);
  }
}
const core = ['dist/ssebus_core.js', 'dist/ssebus_core.wasm'];
console.log(`\nThe bus (js/index.js + dist/ssebus_core.js + .wasm): ${await sizes(['js/index.js', ...core])} (goal 30 KB)`);
console.log(`With the bridge (+ js/bridge.js): ${await sizes(['js/index.js', 'js/bridge.js', ...core])}`);
console.log(`WebAssembly compile + instantiate (median of 21): ${(await instantiateMs()).toFixed(2)} ms`);
console.log(misses.length ? `\nGoals missed:\n- ${misses.join('\n- ')}` : '\nAll speed goals met.');
if (sink === 42) console.log(''); // keep the listeners' work observable
