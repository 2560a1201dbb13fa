// Wire-to-listener throughput in Chromium: one connection delivering N small events, read by
// the ssebus EventBridge (fetch + the WebAssembly SSE parser, into the bus) and by the
// baseline of a native EventSource feeding mitt, in the same run, rounds interleaved.
//
//   node bench/bridge.js [--events 100000] [--rounds 5]
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { launchChromium } from '../tests/e2e/chromium.js';

const { values: opts } = parseArgs({
  options: { events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } },
});
const N = Number(opts.events);
const ROUNDS = Number(opts.rounds);
const root = fileURLToPath(new URL('../', import.meta.url));

// The stream every round reads: the same bytes, written as fast as the socket takes them,
// then held open (so that neither client reconnects and reads it twice).
function streamBody(n) {
  let body = 'retry: 60000\n\n';
  for (let i = 1; i <= n; i++) body += `id: ${i}\nevent: tick\ndata: {"n":${i},"videoId":"v${i % 100}"}\n\n`;
  return Buffer.from(body);
}

const PAGE = `<!doctype html><title>bench</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "mitt": "/node_modules/mitt/dist/mitt.mjs" } }</script>`;

async function startSite(body) {
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    if (path === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (let at = 0; at < body.length; at += 64 * 1024) {
        if (!res.write(body.subarray(at, at + 64 * 1024))) await new Promise((r) => res.once('drain', r));
      }
      return; // held open until the page closes it
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return res.writeHead(404).end();
    try {
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, server };
}

// Runs in the page: events/s from opening the connection to the Nth listener call.
async function measure({ kind, n }) {
  const done = (resolve, t0) => () => resolve(n / ((performance.now() - t0) / 1000));
  if (kind === 'eventsource+mitt') {
    const { default: mitt } = await import('mitt');
    const emitter = mitt();
    return new Promise((resolve) => {
      const t0 = performance.now();
      const finish = done(resolve, t0);
      let count = 0;
      let sum = 0;
      const es = new EventSource('/stream');
      emitter.on('tick', (payload) => {
        sum += payload.n;
        if (++count === n) {
          es.close();
          finish();
        }
      });
      es.addEventListener('tick', (e) => emitter.emit('tick', JSON.parse(e.data)));
    });
  }
  const { createEventBus, EventBridge } = await import('/js/index.js');
  const bus = await createEventBus();
  return new Promise((resolve) => {
    const t0 = performance.now();
    const finish = done(resolve, t0);
    let count = 0;
    let sum = 0;
    const bridge = new EventBridge(bus, { url: '/stream' });
    bus.on('tick', (payload) => {
      sum += payload.n;
      if (++count === n) {
        bridge.close();
        bus.destroy();
        finish();
      }
    });
    bridge.connect();
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`);

const site = await startSite(streamBody(N));
const browser = await launchChromium();
const kinds = ['ssebus EventBridge (fetch + WASM parser)', 'eventsource+mitt'];
const results = Object.fromEntries(kinds.map((k) => [k, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
      const page = await browser.context.newPage();
      await page.goto(site.url + '/');
      results[kind].push(await page.evaluate(measure, { kind, n: N }));
      await page.close();
    }
  }
} finally {
  await browser.close();
  site.server.closeAllConnections();
  site.server.close();
}

const version = execFileSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
console.log(`${N.toLocaleString('en')} events over one connection, median of ${ROUNDS} rounds, ${version}\n`);
console.log('| reader | events/s (median) | rounds |');
console.log('|---|---:|---|');
for (const k of kinds) console.log(`| ${k} | ${fmt(median(results[k]))} | ${results[k].map(fmt).join(', ')} |`);
const ratio = median(results[kinds[0]]) / median(results[kinds[1]]);
console.log(`\nssebus / (EventSource + mitt) = ${ratio.toFixed(2)}x (goal: at least 0.9x)`);
