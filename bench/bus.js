// ssebus's bus against mitt, eventemitter3, eventemitter2 and nanoevents, then the bytes
// it ships. Run: npm run bench:bus   (prints Markdown tables)
//
// Each library runs in a worker thread of its own, as users run one library: peers that
// share one V8 isolate share its inline caches and skew each other. One worker measures
// one case of one library; a pass runs every library on a case one after another (in an
// order that rotates between passes) before the next case, so that the figures compared
// are taken close together on a shared machine. Figures are medians over the passes
// (BENCH_PASSES), and so are the ratios, each taken within a pass.
//
//   node bench/bus.js            speed and sizes
//   node bench/bus.js --sizes    sizes only
import { mkdir, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 150);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const root = fileURLToPath(new URL('../', import.meta.url));

const LIBS = (process.env.BENCH_LIBS ?? 'ssebus,mitt,eventemitter3,eventemitter2,nanoevents').split(',');

// Goals: the least ssebus/peer ratio each case must reach.
const CASES = [
  { name: 'emit, 1 listener', goal: { mitt: 1, eventemitter3: 1, eventemitter2: 1, nanoevents: 1 } },
  { name: 'emit, 10 listeners', goal: { mitt: 1, eventemitter3: 1, eventemitter2: 1, nanoevents: 1 } },
  { name: 'emit matched by video:* among 100 patterns', wildcard: true, goal: { eventemitter2: 15 } },
  { name: 'subscribe + unsubscribe', goal: { mitt: 1, eventemitter3: 0.8, nanoevents: 0.8 } },
  { name: 'once + emit', goal: { mitt: 1, eventemitter3: 0.8 } },
];

// ---- In a worker: one library, every case ----------------------------------------------

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

// The library as a uniform adapter: on(name, fn) -> off(), emit(name, payload), once.
async function adapter(lib) {
  switch (lib) {
    case 'ssebus': {
      const { createEventBus } = await import('ssebus');
      return {
        make: () => createEventBus(),
        on: (b, name, fn) => b.on(name, fn),
        emit: (b, name, p) => b.emit(name, p),
        once: (b, name, fn) => b.once(name, fn),
      };
    }
    case 'mitt': {
      const { default: mitt } = await import('mitt');
      return {
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
      };
    }
    case 'eventemitter3': {
      const { default: EventEmitter3 } = await import('eventemitter3');
      return {
        make: () => new EventEmitter3(),
        on: (b, name, fn) => {
          b.on(name, fn);
          return () => b.off(name, fn);
        },
        emit: (b, name, p) => b.emit(name, p),
        once: (b, name, fn) => b.once(name, fn),
      };
    }
    case 'eventemitter2': {
      const { default: EventEmitter2 } = await import('eventemitter2');
      return {
        make: () => new EventEmitter2({ wildcard: true, delimiter: ':' }),
        on: (b, name, fn) => {
          b.on(name, fn);
          return () => b.off(name, fn);
        },
        emit: (b, name, p) => b.emit(name, p),
        once: (b, name, fn) => b.once(name, fn),
      };
    }
    case 'nanoevents': {
      const { createNanoEvents } = await import('nanoevents');
      return {
        make: () => createNanoEvents(),
        on: (b, name, fn) => b.on(name, fn),
        emit: (b, name, p) => b.emit(name, p),
        once: (b, name, fn) => {
          const off = b.on(name, (p) => {
            off();
            fn(p);
          });
        },
      };
    }
  }
  throw new Error(`bench/bus.js: no adapter for ${lib}`);
}

// Measures one case of one library and posts its ops/s.
async function runWorker(libName, caseName) {
  const lib = await adapter(libName);
  let sink = 0;
  const listeners = Array.from({ length: 10 }, () => (payload) => {
    sink += payload.n;
  });
  const payload = { n: 1, videoId: 'v1' };
  const emitCase = (count) => async () => {
    const b = await lib.make();
    for (let i = 0; i < count; i++) lib.on(b, 'video_created', listeners[i]);
    return (n) => {
      for (let i = 0; i < n; i++) lib.emit(b, 'video_created', payload);
    };
  };
  const setups = {
    'emit, 1 listener': emitCase(1),
    'emit, 10 listeners': emitCase(10),
    'emit matched by video:* among 100 patterns': async () => {
      const b = await lib.make();
      for (let i = 0; i < 99; i++) lib.on(b, `p${i}:*`, listeners[0]);
      lib.on(b, 'video:*', listeners[1]);
      return (n) => {
        for (let i = 0; i < n; i++) lib.emit(b, 'video:created', payload);
      };
    },
    'subscribe + unsubscribe': async () => {
      const b = await lib.make();
      lib.on(b, 'video_created', listeners[0]); // an existing subscriber, as in an app
      return (n) => {
        for (let i = 0; i < n; i++) lib.on(b, 'video_created', listeners[1])();
      };
    },
    'once + emit': async () => {
      const b = await lib.make();
      return (n) => {
        for (let i = 0; i < n; i++) {
          lib.once(b, 'video_created', listeners[0]);
          lib.emit(b, 'video_created', payload);
        }
      };
    },
  };
  parentPort.postMessage({ rate: measure(await setups[caseName]()), sink });
}

// ---- In the main thread -----------------------------------------------------------------

function inWorker(lib, caseName) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { lib, caseName } });
    worker.once('message', (m) => resolve(m.rate));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`bench/bus.js: the ${lib} worker exited with ${code}`)));
  });
}

function fmt(opsPerSecond) {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(1)} M`;
  return `${(opsPerSecond / 1e3).toFixed(0)} k`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function speed() {
  const wildcard = new Set(['ssebus', 'eventemitter2']); // the libraries with patterns
  const rates = {}; // case -> lib -> [ops/s per pass]
  for (const c of CASES) rates[c.name] = Object.fromEntries(LIBS.map((lib) => [lib, []]));
  for (let p = 0; p < PASSES; p++) {
    const order = LIBS.map((_, i) => LIBS[(i + p) % LIBS.length]);
    for (const c of CASES) {
      for (const lib of order) {
        if (c.wildcard && !wildcard.has(lib)) continue;
        rates[c.name][lib].push(await inWorker(lib, c.name));
      }
    }
  }
  console.log(
    `Node ${process.version}; each library in its own worker thread; medians of ${PASSES} passes ` +
      `(each the median of ${ROUNDS} rounds of ~${ROUND_MS} ms); ratios are taken within each pass\n`,
  );
  console.log(`| case | ${LIBS.join(' | ')} | ssebus vs peers |`);
  console.log(`|---|${LIBS.map(() => '---:').join('|')}|---|`);
  const misses = [];
  for (const c of CASES) {
    const r = rates[c.name];
    const peers = LIBS.filter((n) => n !== 'ssebus' && r[n].length);
    const ratio = Object.fromEntries(peers.map((n) => [n, median(r.ssebus.map((v, i) => v / r[n][i]))]));
    const cells = LIBS.map((n) => (r[n].length ? fmt(median(r[n])) : '—'));
    console.log(`| ${c.name} | ${cells.join(' | ')} | ${peers.map((n) => `${ratio[n].toFixed(2)}x ${n}`).join(', ')} |`);
    for (const [peer, want] of Object.entries(c.goal)) {
      if (!(ratio[peer] >= want)) misses.push(`${c.name}: ${ratio[peer]?.toFixed(2)}x ${peer} (goal ${want}x)`);
    }
  }
  console.log(misses.length ? `\nSpeed goals missed:\n- ${misses.join('\n- ')}` : '\nEvery speed goal is met.');
}

// The package's JS files that `entry` reaches through static relative imports (`import
// … from`, `export … from`, bare `import '…'`), entry included, minus those `skip` refuses.
async function reachable(entry, skip = () => false) {
  const seen = new Set();
  const visit = async (file) => {
    if (seen.has(file) || skip(file)) return;
    seen.add(file);
    const text = await readFile(join(root, file), 'utf8');
    const specifiers = /^\s*(?:(?:import|export)\b[^'"]*?from\s*|import\s*)['"](\.{1,2}\/[^'"]+\.js)['"]/gm;
    for (const m of text.matchAll(specifiers)) {
      const target = relative(root, join(root, dirname(file), m[1]));
      if (target.startsWith('js/')) await visit(target);
    }
  };
  await visit(entry);
  return [...seen];
}

async function gz(file) {
  return gzipSync(await readFile(join(root, file)), { level: 9 }).length;
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

// gzip -9 of the Vite build's assets (JS and .wasm): a React app that uses the bus, the
// bridge and the hooks, minus the same app without ssebus.
async function viteDelta() {
  const { build } = await import('vite');
  const { default: react } = await import('@vitejs/plugin-react');
  const base = join(root, 'build', 'bench-app');
  const app = (withSsebus) => `import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
${withSsebus ? "import { EventBusProvider, useEventBusOn, useEventSource } from 'ssebus/react';" : ''}

function App() {
  ${withSsebus ? "const { status } = useEventSource('/api/events', { map: { 'greeting:sent': ['greeting'] } });" : "const status = 'open';"}
  const [greeting, setGreeting] = useState('none');
  ${withSsebus ? "useEventBusOn('greeting', (payload) => setGreeting(payload.text));" : 'globalThis.setGreeting = setGreeting;'}
  return (<main><p>{status}</p><p>{greeting}</p></main>);
}

createRoot(document.getElementById('root')).render(
  <StrictMode>${withSsebus ? '<EventBusProvider><App /></EventBusProvider>' : '<App />'}</StrictMode>,
);
`;
  const totals = {};
  for (const withSsebus of [false, true]) {
    const dir = join(base, withSsebus ? 'with' : 'without');
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeFile(join(dir, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/src/main.jsx"></script>');
    await writeFile(join(dir, 'src', 'main.jsx'), app(withSsebus));
    await build({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [react()],
      resolve: {
        alias: [
          { find: /^ssebus$/, replacement: join(root, 'js', 'index.js') },
          { find: /^ssebus\/react$/, replacement: join(root, 'js', 'react.js') },
        ],
      },
    });
    let total = 0;
    const assets = join(dir, 'dist', 'assets');
    for (const f of await readdir(assets)) total += gzipSync(await readFile(join(assets, f)), { level: 9 }).length;
    totals[withSsebus] = total;
  }
  await rm(base, { recursive: true, force: true });
  return totals.true - totals.false;
}

async function sizes() {
  const glue = ['dist/ssebus_core.js', 'dist/ssebus_core.wasm'];
  // The bus alone: what a bundler keeps of the package when EventBridge is unused, that is
  // without the bridge's modules (every file named bridge*, or under a bridge/ folder).
  const bus = await reachable('js/index.js', (f) => /(^|\/)bridge/.test(f.slice(3)));
  const withBridge = await reachable('js/index.js');
  const react = (await reachable('js/react.js')).filter((f) => !withBridge.includes(f));
  const rows = [];
  for (const f of [...glue, ...withBridge, ...react]) rows.push([f, await gz(f)]);
  const size = Object.fromEntries(rows);
  const sum = (files) => files.reduce((n, f) => n + size[f], 0);
  const busBytes = sum([...bus, ...glue]);
  const bridgeBytes = sum([...withBridge, ...glue]);
  const appBytes = await viteDelta();

  console.log('\n| file | gzip -9 |\n|---|---:|');
  for (const [f, n] of rows) console.log(`| ${f} | ${kib(n)} |`);
  console.log('\n| what | files | gzip -9 | goal |\n|---|---|---:|---:|');
  const misses = [];
  const row = (what, files, bytes, goalKiB) => {
    console.log(`| ${what} | ${files} | ${kib(bytes)} | ≤ ${goalKiB} KiB |`);
    if (bytes > goalKiB * 1024) misses.push(`${what}: ${kib(bytes)} (goal ${goalKiB} KiB)`);
  };
  row('the bus', [...bus, 'glue', 'wasm'].join(' + '), busBytes, 18);
  row('bus + bridge', [...withBridge, 'glue', 'wasm'].join(' + '), bridgeBytes, 26);
  row('a Vite + React app using bus, bridge and hooks', 'its assets minus the same app without ssebus', appBytes, 24);
  console.log(misses.length ? `\nSize goals missed:\n- ${misses.join('\n- ')}` : '\nEvery size goal is met.');
}

async function instantiateMs() {
  const { default: createSsebusCore } = await import('../dist/ssebus_core.js');
  const wasmBinary = await readFile(join(root, 'dist', 'ssebus_core.wasm'));
  const times = [];
  for (let i = 0; i < 21; i++) {
    const t0 = process.hrtime.bigint();
    await createSsebusCore({ wasmBinary });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

if (!isMainThread) {
  await runWorker(workerData.lib, workerData.caseName);
} else {
  if (!process.argv.includes('--sizes')) await speed();
  await sizes();
  console.log(`\nWebAssembly compile + instantiate (median of 21): ${(await instantiateMs()).toFixed(2)} ms`);
}
