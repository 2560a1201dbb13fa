#!/usr/bin/env node
// Durable history benchmark: what the event log behind the hub costs a publisher, per store.
//
//   node bench/store/run.js [--duration 5] [--publishers 16] [--paced-rate 1000] [--paced-duration 5]
//                           [--replay 100000] [--modes memory,sqlite,sqlite-each,sqlite-full,sqlite-each-full]
//                           [--each-args "--store-batch 1"] [--rounds 2] [--ssebus-server PATH] [--out results.json]
//
// For each mode, a fresh ssebus-server on 127.0.0.1 (port 0) with a temporary data directory:
//   1. throughput: `publishers` keep-alive connections each POST /api/events back to back for
//      `duration` s; acknowledged (202) events/s and the publish-ack latency (p50/p99);
//   2. paced: `paced-rate` events/s, spread over the same connections, for `paced-duration` s;
//      the publish-ack latency (p50/p99/max).
// Modes: `memory` (--store memory), `sqlite` (group commit, the default), `sqlite-each`
// (sqlite committing every event on its own, the way Mercure's Bolt transport works: the
// server flags in --each-args; skipped with a note when --help does not list them), and the
// same two with `--store-sync full` (an fsync per commit): `sqlite-full` (group commit) and
// `sqlite-each-full` (an fsync per event, which is what Bolt's commit-per-publish costs).
// The modes run in turn, `rounds` times (the machine is shared: the table keeps each mode's
// best round, by throughput and by paced p99 separately). Then the replay: `replay` events published to a sqlite server, the server stopped and
// started again on the same data directory (so the history comes from disk), and one client
// resumes from before the first: events/s and the time to the last replayed event.
// Prints one Markdown table, and the goals with their ratios. Servers are stopped at the end
// and the data directories removed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const publisherKey = 'bench-publisher-key';

// ------------------------------------------------------------------ arguments

function die(message) {
  console.error(`bench/store: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    duration: 5,
    publishers: 16,
    pacedRate: 1000,
    pacedDuration: 5,
    replay: 100_000,
    modes: ['memory', 'sqlite', 'sqlite-each', 'sqlite-full', 'sqlite-each-full'],
    eachArgs: ['--store-batch', '1'],
    rounds: 2,
    server: path.join(root, 'build/native/ssebus-server'),
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) die(`${flag} needs a value`);
      return argv[++i];
    };
    const num = (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) die(`${flag}: not a positive number: ${v}`);
      return n;
    };
    switch (flag) {
      case '--duration': opts.duration = num(value()); break;
      case '--publishers': opts.publishers = Math.round(num(value())); break;
      case '--paced-rate': opts.pacedRate = num(value()); break;
      case '--paced-duration': opts.pacedDuration = num(value()); break;
      case '--replay': opts.replay = Math.round(num(value())); break;
      case '--modes': opts.modes = value().split(',').filter(Boolean); break;
      case '--each-args': opts.eachArgs = value().split(/\s+/).filter(Boolean); break;
      case '--rounds': opts.rounds = Math.round(num(value())); break;
      case '--ssebus-server': opts.server = path.resolve(value()); break;
      case '--out': opts.out = value(); break;
      case '--help':
        {
          const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
          const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
          console.log(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        }
        process.exit(0);
      default: die(`unknown option ${a} (see --help)`);
    }
  }
  for (const m of opts.modes) if (!['memory', 'sqlite', 'sqlite-each', 'sqlite-full', 'sqlite-each-full'].includes(m)) die(`--modes: unknown mode ${m}`);
  return opts;
}

// ------------------------------------------------------------------ the server

const running = new Set();

async function startServer(opts, storeArgs, dataDir, extra = []) {
  const args = ['--address', '127.0.0.1', '--port', '0', '--publisher-key', publisherKey, '--jwt-secret', 'bench-jwt-secret',
    '--data-dir', dataDir, '--log-level', 'warn', '--history-size', String(Math.max(200_000, opts.replay * 2)), ...storeArgs, ...extra];
  const proc = spawn(opts.server, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(proc);
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ssebus-server did not start:\n${log}`)), 15_000);
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ssebus-server ${args.join(' ')} exited (${code ?? signal}):\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    url,
    pid: proc.pid,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      running.delete(proc);
    },
  };
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100/s)
}

function machineBusySeconds() {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  return (n[0] + n[1] + n[2] + n[5] + n[6] + n[7]) / 100; // user nice system irq softirq steal
}

// ------------------------------------------------------------------ publishing

function publisherPool(url, sockets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(url);
  const post = (payload) =>
    new Promise((resolve) => {
      const body = JSON.stringify(payload);
      const started = process.hrtime.bigint();
      const req = http.request(
        {
          agent, hostname, port, path: '/api/events', method: 'POST',
          headers: { authorization: `Bearer ${publisherKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            let id = null;
            if (res.statusCode === 202) id = JSON.parse(text).id;
            resolve({ status: res.statusCode, id, ms });
          });
        },
      );
      req.on('error', (error) => resolve({ status: 0, id: null, ms: 0, error }));
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

const pad = 'x'.repeat(64);
const tick = (n) => ({ event: 'bench:tick', data: { n, pad } });

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latencies(list) {
  const sorted = Float64Array.from(list).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

// `publishers` connections, each publishing back to back for `seconds`.
async function throughput(server, publishers, seconds) {
  const pool = publisherPool(server.url, publishers);
  const ms = [];
  let failed = 0;
  let n = 0;
  const cpu0 = cpuSeconds(server.pid);
  const busy0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (performance.now() < deadline) {
        const r = await pool.post(tick(n++));
        if (r.status === 202) ms.push(r.ms);
        else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(server.pid) - cpu0;
  const self = process.cpuUsage(self0);
  const selfCpu = (self.user + self.system) / 1e6;
  const other = Math.max(0, machineBusySeconds() - busy0 - serverCpu - selfCpu) / elapsed;
  pool.close();
  return { acked: ms.length, failed, perSecond: ms.length / elapsed, ...latencies(ms), serverCpu, otherCores: other };
}

// `rate` events/s for `seconds`, each sent at its scheduled time over `publishers` connections.
async function paced(server, publishers, rate, seconds) {
  const pool = publisherPool(server.url, publishers);
  const total = Math.round(rate * seconds);
  const ms = [];
  let failed = 0;
  let late = 0;
  const pending = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    else if (wait < -5) late++;
    pending.push(pool.post(tick(i)).then((r) => (r.status === 202 ? ms.push(r.ms) : failed++)));
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  pool.close();
  return { sent: total, acked: ms.length, failed, late, perSecond: ms.length / elapsed, ...latencies(ms) };
}

// ------------------------------------------------------------------ the replay

// Publishes `count` events, restarts the server on the same data directory, and reads the
// replay after the id before the first as one client (raw SSE, counting `id:` lines).
async function replayFromDisk(opts, count) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ssebus-bench-store-'));
  try {
    let server = await startServer(opts, ['--store', 'sqlite'], path.join(dataDir, 'data'));
    const pool = publisherPool(server.url, opts.publishers);
    const mark = await pool.post({ event: 'bench:mark', data: {} });
    let n = 0;
    let lastId = 0n;
    await Promise.all(
      Array.from({ length: opts.publishers }, async () => {
        while (n < count) {
          const r = await pool.post(tick(n++));
          if (r.status !== 202) throw new Error(`publish for the replay: ${r.status} ${r.error?.message ?? ''}`);
          if (BigInt(r.id) > lastId) lastId = BigInt(r.id);
        }
      }),
    );
    pool.close();
    await server.stop();
    server = await startServer(opts, ['--store', 'sqlite'], path.join(dataDir, 'data'));
    try {
      // Counted on the raw bytes (no decoding): `\nid: ` starts each event's id line; the
      // replay is done at the line of the last published id.
      const pattern = Buffer.from('\nid: ');
      const target = Buffer.from(`\nid: ${lastId}\n`);
      const { hostname, port } = new URL(server.url);
      const result = await new Promise((resolve, reject) => {
        const started = performance.now();
        let first = null;
        let events = 0;
        let tail = Buffer.alloc(0); // the last bytes of what came before: a line cut between chunks
        const req = http.get(
          { hostname, port, path: '/api/events', headers: { accept: 'text/event-stream', 'last-event-id': String(mark.id) } },
          (res) => {
            res.on('data', (chunk) => {
              if (first === null) first = performance.now();
              const buf = tail.length ? Buffer.concat([tail, chunk]) : chunk;
              // An id line starting in the tail was not complete last time, and not counted.
              for (let at = buf.indexOf(pattern, Math.max(0, tail.length - (pattern.length - 1))); at >= 0; at = buf.indexOf(pattern, at + 1)) events++;
              const done = buf.indexOf(target) >= 0;
              tail = Buffer.from(buf.subarray(Math.max(0, buf.length - (target.length - 1))));
              if (done) {
                const last = performance.now();
                req.destroy();
                resolve({ events, seconds: (last - started) / 1000, firstMs: first - started });
              }
            });
            res.on('end', () => reject(new Error('the replay stream ended early')));
          },
        );
        req.on('error', (e) => (e.code === 'ECONNRESET' ? null : reject(e)));
        setTimeout(() => reject(new Error(`the replay did not reach ${lastId} in 120 s`)), 120_000).unref();
      });
      return { count, ...result, perSecond: count / result.seconds };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main

const fmt = (x, digits = 0) =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const help = spawnSync(opts.server, ['--help'], { encoding: 'utf8' });
  if (help.status !== 0) die(`${opts.server} --help failed (build it with scripts/build): ${help.stderr}`);
  const storeArgs = {
    memory: ['--store', 'memory'],
    sqlite: ['--store', 'sqlite'],
    'sqlite-each': ['--store', 'sqlite', ...opts.eachArgs],
    'sqlite-full': ['--store', 'sqlite', '--store-sync', 'full'],
    'sqlite-each-full': ['--store', 'sqlite', ...opts.eachArgs, '--store-sync', 'full'],
  };
  const missingFlags = opts.eachArgs.filter((a) => a.startsWith('--') && !help.stdout.includes(a.split('=')[0]));
  const results = {};
  const notes = [];

  const modes = opts.modes.filter((mode) => {
    if (!mode.startsWith('sqlite-each') || missingFlags.length === 0) return true;
    notes.push(`${mode} skipped: ssebus-server --help lists no ${missingFlags.join(', ')} (set the mode's flags with --each-args)`);
    return false;
  });
  for (let round = 1; round <= opts.rounds; round++) {
    for (const mode of modes) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ssebus-bench-store-'));
      try {
        const server = await startServer(opts, storeArgs[mode], path.join(dataDir, 'data'));
        try {
          process.stderr.write(`round ${round}, ${mode}: ${opts.publishers} publishers for ${opts.duration} s... `);
          await throughput(server, opts.publishers, 1); // warm-up
          const t = await throughput(server, opts.publishers, opts.duration);
          process.stderr.write(`${fmt(t.perSecond)}/s; paced ${opts.pacedRate}/s... `);
          const p = await paced(server, opts.publishers, opts.pacedRate, opts.pacedDuration);
          process.stderr.write(`p99 ${fmt(p.p99, 2)} ms\n`);
          const best = results[mode];
          results[mode] = {
            throughput: !best || t.perSecond > best.throughput.perSecond ? t : best.throughput,
            paced: !best || p.p99 < best.paced.p99 ? p : best.paced,
            rounds: [...(best?.rounds ?? []), { throughput: t, paced: p }],
          };
        } finally {
          await server.stop();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  process.stderr.write(`replay: ${opts.replay} events from disk... `);
  const replay = await replayFromDisk(opts, opts.replay);
  process.stderr.write(`${fmt(replay.perSecond)}/s\n`);

  const rows = [
    `| store | acked events/s (${opts.publishers} publishers) | ack p50 ms | ack p99 ms | failed | server CPU s | other load (cores) | ack p50 / p99 / max ms at ${fmt(opts.pacedRate)}/s | acked / sent at ${fmt(opts.pacedRate)}/s |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const label = { memory: 'memory', sqlite: 'sqlite (group commit)', 'sqlite-each': 'sqlite, a commit per event',
    'sqlite-full': 'sqlite (group commit), --store-sync full', 'sqlite-each-full': 'sqlite, a commit per event, --store-sync full' };
  for (const [mode, { throughput: t, paced: p }] of Object.entries(results)) {
    rows.push(
      `| ${label[mode]} | ${fmt(t.perSecond)} | ${fmt(t.p50, 2)} | ${fmt(t.p99, 2)} | ${t.failed} | ${fmt(t.serverCpu, 2)} | ${fmt(t.otherCores, 2)} | ` +
        `${fmt(p.p50, 2)} / ${fmt(p.p99, 2)} / ${fmt(p.max, 2)} | ${fmt(p.acked)} / ${fmt(p.sent)} |`,
    );
  }
  console.log(rows.join('\n'));
  console.log(
    `\nReplay from disk (sqlite, after a restart): ${fmt(replay.events)} of ${fmt(replay.count)} events to one client in ${fmt(replay.seconds, 3)} s ` +
      `(first bytes after ${fmt(replay.firstMs, 1)} ms): ${fmt(replay.perSecond)} events/s`,
  );

  const goals = ['', '| goal | figure | result |', '|---|--:|---|'];
  const goal = (what, figure, met) => goals.push(`| ${what} | ${figure} | ${met === null ? 'not measured' : met ? 'met' : 'missed'} |`);
  const mem = results.memory?.throughput.perSecond;
  const sql = results.sqlite?.throughput.perSecond;
  const each = results['sqlite-each']?.throughput.perSecond;
  goal('sqlite ≥ 0.8x memory acked events/s', mem && sql ? `${fmt(sql / mem, 2)}x` : 'n/a', mem && sql ? sql / mem >= 0.8 : null);
  const full = results['sqlite-full']?.throughput.perSecond;
  const eachFull = results['sqlite-each-full']?.throughput.perSecond;
  const times = (a, b) => (a && b ? `${fmt(a / b, 1)}x` : 'n/a');
  const atLeast = (a, b, n) => (a && b ? a / b >= n : null);
  // The 50x compares the default with Bolt's way: a commit, and so an fsync, per publish.
  goal('sqlite (default) ≥ 50x a commit per event with an fsync each (Bolt\'s way)', times(sql, eachFull), atLeast(sql, eachFull, 50));
  goal('like for like, normal: group commit vs a commit per event', times(sql, each), atLeast(sql, each, 50));
  goal('like for like, full: group commit vs a commit per event', times(full, eachFull), atLeast(full, eachFull, 50));
  const p99 = results.sqlite?.paced.p99;
  goal(`sqlite p99 ack ≤ 10 ms at ${fmt(opts.pacedRate)}/s`, p99 !== undefined ? `${fmt(p99, 2)} ms` : 'n/a', p99 !== undefined ? p99 <= 10 : null);
  goal('replay ≥ 300,000 events/s', `${fmt(replay.perSecond)}/s`, replay.perSecond >= 300_000);
  console.log(goals.join('\n'));
  for (const note of notes) console.log(`\n${note}`);
  const otherMax = Math.max(0, ...Object.values(results).map((r) => r.throughput.otherCores));
  if (otherMax > 0.2) console.log(`\nwarning: other processes used up to ${fmt(otherMax, 2)} cores during a measurement; its figures are low`);
  if (opts.out) writeFileSync(opts.out, JSON.stringify({ opts, results, replay, notes }, null, 2));
}

const cleanup = () => {
  for (const proc of running) proc.kill('SIGKILL');
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main().catch((e) => {
  cleanup();
  console.error(e.stack ?? e);
  process.exit(1);
});
