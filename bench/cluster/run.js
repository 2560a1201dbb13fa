#!/usr/bin/env node
// Scale-out benchmark: 1, 2 and 3 ssebus-server instances on one Redis, against one instance
// with --store sqlite and --store memory, at the same load, in one run.
//
//   node bench/cluster/run.js [--instances 1,2,3] [--stores redis,sqlite,memory] [--subscribers 300]
//                             [--rate 200] [--duration 5] [--throughput-duration 5]
//                             [--connections 32] [--depth 4] [--rounds 1] [--aof everysec]
//                             [--ssebus-server PATH] [--fanout PATH] [--redis-server PATH]
//                             [--max-seconds 900] [--out results.json]
//
// Starts its own redis-server (127.0.0.1, a free port, a temporary directory, --save '',
// appendonly yes with appendfsync --aof: everysec by default, the setting the README
// recommends; --aof always or no for comparison). Then, for each configuration (redis with
// each instance count, sqlite and memory with one instance), fresh servers on free ports, each
// with its own data directory and --log-level warn, and two measurements:
//   1. throughput: `connections` keep-alive connections, round-robin over the instances, each
//      with `depth` HTTP/1.1 requests pipelined (POST /api/events; there is no batch route),
//      for `throughput-duration` s after a 1 s warm-up, no subscriber: acknowledged (202)
//      events/s, the ack latency, server and Redis CPU per acknowledged event;
//   2. fan-out: `subscribers` SSE streams spread evenly over the instances and `rate` events/s
//      published through every instance (rate / N each) for `duration` s, by one
//      build/native/ssebus-fanout per instance (its subscribers on that instance, its publisher
//      too): publish-to-receive p50/p99 over every delivery (an event published on one
//      instance and received on another included), server CPU per delivery, Redis CPU per event.
// Redis's data is flushed between configurations. Prints a Markdown table, the goals with their
// ratios and the cost model that predicts N instances. Everything it starts is killed on exit,
// on SIGINT/SIGTERM and on errors; the whole run stops after --max-seconds.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const publisherKey = 'bench-publisher-key';

// ------------------------------------------------------------------ arguments

function die(message) {
  console.error(`bench/cluster: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    instances: [1, 2, 3],
    stores: ['redis', 'sqlite', 'memory'],
    subscribers: 300,
    rate: 200,
    duration: 5,
    throughputDuration: 5,
    connections: 32,
    depth: 4,
    rounds: 1,
    aof: 'everysec',
    server: path.join(root, 'build/native/ssebus-server'),
    fanout: path.join(root, 'build/native/ssebus-fanout'),
    redis: '/usr/bin/redis-server',
    maxSeconds: 900,
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
    const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--instances': opts.instances = list(value()).map((s) => Math.round(num(s))); break;
      case '--stores': opts.stores = list(value()); break;
      case '--subscribers': opts.subscribers = Math.round(num(value())); break;
      case '--rate': opts.rate = num(value()); break;
      case '--duration': opts.duration = num(value()); break;
      case '--throughput-duration': opts.throughputDuration = num(value()); break;
      case '--connections': opts.connections = Math.round(num(value())); break;
      case '--depth': opts.depth = Math.round(num(value())); break;
      case '--rounds': opts.rounds = Math.round(num(value())); break;
      case '--aof': opts.aof = value(); break;
      case '--ssebus-server': opts.server = path.resolve(value()); break;
      case '--fanout': opts.fanout = path.resolve(value()); break;
      case '--redis-server': opts.redis = path.resolve(value()); break;
      case '--max-seconds': opts.maxSeconds = num(value()); break;
      case '--out': opts.out = value(); break;
      case '-h': case '--help': {
        const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
        console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
      }
      // falls through (process.exit)
      default: die(`unknown option ${a} (see --help)`);
    }
  }
  for (const s of opts.stores) if (!['redis', 'sqlite', 'memory'].includes(s)) die(`--stores: unknown store ${s}`);
  if (!['everysec', 'always', 'no'].includes(opts.aof)) die(`--aof: everysec, always or no, not ${opts.aof}`);
  return opts;
}

// ------------------------------------------------------------------ processes

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set();
let tmp = null; // the run's temporary directory: Redis's and every server's data

// A child whose output is kept (the last MiB) for error messages; stop() is SIGTERM, then
// SIGKILL after 5 s.
function startChild(cmd, args) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const collect = (d) => {
    output += d;
    if (output.length > 1 << 20) output = output.slice(-(1 << 19));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  child.on('error', (e) => collect(`spawn ${cmd}: ${e.message}\n`));
  return {
    pid: child.pid,
    exited,
    output: () => output,
    get running() { return child.exitCode === null && child.signalCode === null; },
    async stop() {
      if (!this.running) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

function killAll() {
  for (const child of children) child.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// utime + stime of one process, in seconds (0 once it is gone).
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return 0;
  }
}

// Busy time of the whole machine, every CPU: user nice system irq softirq steal.
function machineBusySeconds() {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  return (n[0] + n[1] + n[2] + n[5] + n[6] + n[7]) / clockTicks;
}

function selfCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ------------------------------------------------------------------ redis

// One command in RESP over a fresh connection; resolves with the raw reply text.
function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error(`redis ${args[0]}: no answer in 10 s`)));
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d) => {
      reply += d;
      // Enough for the replies used here: a simple string, an error, an integer or one bulk string.
      const bulk = /^\$(\d+)\r\n/.exec(reply);
      if ((bulk && reply.length >= bulk[0].length + Number(bulk[1]) + 2) || (!reply.startsWith('$') && reply.endsWith('\r\n'))) {
        sock.end();
        if (reply.startsWith('-')) reject(new Error(`redis ${args[0]}: ${reply.trim()}`));
        else resolve(reply);
      }
    });
    sock.on('error', reject);
  });
}

async function startRedis(opts, dir) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', opts.aof === 'no' ? 'no' : 'yes', '--appendfsync', opts.aof === 'no' ? 'everysec' : opts.aof,
    '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', ''];
  const proc = startChild(opts.redis, args);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!proc.running) throw new Error(`redis-server exited at start:\n${proc.output().slice(-2000)}`);
    try {
      if ((await redisCommand(port, 'PING')).startsWith('+PONG')) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`redis-server did not answer PING in 10 s:\n${proc.output().slice(-2000)}`);
    await sleep(50);
  }
  const version = /redis_version:(\S+)/.exec(await redisCommand(port, 'INFO', 'server'))?.[1] ?? '?';
  return { proc, port, pid: proc.pid, version };
}

// ------------------------------------------------------------------ ssebus-server

async function startServer(opts, storeArgs, dataDir) {
  const args = ['--address', '127.0.0.1', '--port', '0', '--publisher-key', publisherKey, '--jwt-secret', 'bench-jwt-secret',
    '--data-dir', dataDir, '--log-level', 'warn', '--max-streams-per-user', '100000', '--queue-max-events', '100000', ...storeArgs];
  const proc = startChild(opts.server, args);
  const deadline = Date.now() + 20_000;
  let url = null;
  while (!url) {
    url = /listening on (http:\/\/[\d.]+:\d+)/.exec(proc.output())?.[1] ?? null;
    if (!proc.running) throw new Error(`ssebus-server ${args.join(' ')} exited at start:\n${proc.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`ssebus-server printed no listening line in 20 s:\n${proc.output().slice(-2000)}`);
    if (!url) await sleep(50);
  }
  // Ready: the log is open and, with Redis, the ring warmed.
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch { /* not yet */ }
    if (!proc.running) throw new Error(`ssebus-server exited at start:\n${proc.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`ssebus-server at ${url} not ready in 20 s:\n${proc.output().slice(-2000)}`);
    await sleep(100);
  }
  return { proc, pid: proc.pid, url, port: Number(new URL(url).port) };
}

// ------------------------------------------------------------------ pipelined publishers

const pad = 'x'.repeat(64);

// One keep-alive connection with up to `depth` POST /api/events pipelined (the server answers
// them in order, one at a time); responses are matched to requests by order.
function publisherConnection(port, depth, deadline, stats) {
  const body = JSON.stringify({ event: 'bench:tick', data: { pad } });
  const request = Buffer.from(
    `POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${publisherKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    const sent = []; // send times of the requests in flight, oldest first
    let head = 0;
    let text = '';
    const send = (n) => {
      if (n <= 0) return;
      const now = performance.now();
      for (let i = 0; i < n; i++) sent.push(now);
      sock.write(n === 1 ? request : Buffer.concat(Array(n).fill(request)));
    };
    const finish = () => {
      stats.unanswered += sent.length - head;
      sock.destroy();
      resolve();
    };
    sock.on('connect', () => send(depth));
    sock.setEncoding('latin1');
    sock.on('data', (chunk) => {
      text += chunk;
      let answered = 0;
      let at = 0; // the start of the next response in `text`
      const now = performance.now();
      for (;;) {
        const end = text.indexOf('\r\n\r\n', at);
        if (end < 0) break;
        const header = text.slice(at, end);
        const lengthAt = header.search(/\r\ncontent-length:/i);
        const length = lengthAt >= 0 ? parseInt(header.slice(lengthAt + 17), 10) : 0;
        if (text.length < end + 4 + length) break;
        const status = Number(header.slice(9, 12));
        const ms = now - sent[head++];
        if (status === 202) {
          stats.acked++;
          stats.ms.push(ms);
        } else {
          stats.failed++;
          stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
        }
        at = end + 4 + length;
        answered++;
      }
      if (at) text = text.slice(at);
      if (head > 4096) {
        sent.splice(0, head);
        head = 0;
      }
      if (performance.now() < deadline) send(answered);
      else if (head === sent.length) finish();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      stats.unanswered += sent.length - head;
      sent.length = head = 0;
      resolve();
    });
    // Bounded: what has no answer 5 s after the deadline is counted as unanswered.
    setTimeout(finish, Math.max(0, deadline - performance.now()) + 5_000).unref();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// `connections` connections round-robin over the servers, for `seconds`.
async function throughput(servers, redis, opts, seconds) {
  const stats = { acked: 0, failed: 0, unanswered: 0, statuses: {}, ms: [] };
  const pids = servers.map((s) => s.pid);
  const cpu0 = pids.map(cpuSeconds);
  const redis0 = redis ? cpuSeconds(redis.pid) : 0;
  const busy0 = machineBusySeconds();
  const self0 = selfCpuSeconds();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: opts.connections }, (_, i) =>
    publisherConnection(servers[i % servers.length].port, opts.depth, deadline, stats)));
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]);
  const redisCpu = redis ? cpuSeconds(redis.pid) - redis0 : null;
  const selfCpu = selfCpuSeconds() - self0;
  const total = serverCpu.reduce((a, b) => a + b, 0);
  const other = Math.max(0, machineBusySeconds() - busy0 - total - (redisCpu ?? 0) - selfCpu) / elapsed;
  const sorted = Float64Array.from(stats.ms).sort();
  return {
    acked: stats.acked, failed: stats.failed, unanswered: stats.unanswered, statuses: stats.statuses,
    seconds: elapsed, perSecond: stats.acked / elapsed, p50: percentile(sorted, 50), p99: percentile(sorted, 99),
    serverCpu, redisCpu, clientCpu: selfCpu, otherCores: other,
  };
}

// ------------------------------------------------------------------ fan-out

function runFanout(opts, server, connections, rate, label) {
  const args = ['--host', '127.0.0.1', '--port', String(server.port), '--path', '/api/events', '--publish-path', '/api/events',
    '--publish-header', `Authorization: Bearer ${publisherKey}`,
    '--publish-body-template', '{"event":"bench:tick","data":{"ts":{{ts}},"seq":{{seq}}}}',
    '--connections', String(connections), '--rate', String(rate), '--duration', String(opts.duration),
    '--drain', '2', '--idle', '1', '--threads', '1', '--publishers', '4', '--source-ips', '1',
    '--server-pid', String(server.pid), '--label', label, '--json'];
  const proc = startChild(opts.fanout, args);
  const timer = setTimeout(() => proc.stop(), (opts.duration + 60) * 1000);
  return proc.exited.then(({ code, signal }) => {
    clearTimeout(timer);
    const line = proc.output().trim().split('\n').filter((l) => l.startsWith('{')).pop();
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`ssebus-fanout gave no result (exit ${code ?? signal}):\n${proc.output().slice(-2000)}`);
    }
  });
}

// One ssebus-fanout per instance, at once: every subscriber receives what every instance's
// publisher sends. The latency clock (steady_clock) is the machine's, the same in every client.
async function fanout(servers, redis, opts, label) {
  const n = servers.length;
  const redis0 = redis ? cpuSeconds(redis.pid) : 0;
  const started = performance.now();
  const results = await Promise.all(servers.map((s, i) =>
    runFanout(opts, s, Math.floor(opts.subscribers / n) + (i < opts.subscribers % n ? 1 : 0), opts.rate / n, `${label} #${i + 1}`)));
  const redisCpu = redis ? cpuSeconds(redis.pid) - redis0 : null;
  const wallSeconds = (performance.now() - started) / 1000;
  const sum = (f) => results.reduce((a, r) => a + (f(r) ?? 0), 0);
  const published = sum((r) => r.published);
  const connected = sum((r) => r.connected);
  const delivered = sum((r) => r.delivered);
  const serverCpu = sum((r) => r.server_cpu_seconds);
  const clientCpu = sum((r) => r.client_cpu_seconds);
  const measure = Math.max(...results.map((r) => r.measure_seconds));
  const busy = Math.max(...results.map((r) => r.machine_busy_seconds ?? 0));
  // The clients each measure the machine over their own window: one of them, minus every
  // known process, is the rest of the machine.
  const other = Math.max(0, busy - serverCpu - clientCpu - (redisCpu ?? 0)) / measure;
  const errors = {};
  for (const r of results) for (const [why, k] of Object.entries(r.errors ?? {})) errors[why] = (errors[why] ?? 0) + k;
  return {
    published, scheduled: sum((r) => r.publish_scheduled), publishFailed: sum((r) => r.publish_failed), connected,
    failedStreams: sum((r) => r.failed), dropped: sum((r) => r.dropped), delivered, expected: published * connected,
    // Each client's percentiles are over its own subscribers' deliveries, which are of every
    // event: p50 is their sample-weighted mean, p99 the largest (the p99 of all deliveries
    // together lies between the smallest and the largest).
    p50: sum((r) => r.latency_ms.p50 * r.latency_ms.samples) / Math.max(1, sum((r) => r.latency_ms.samples)),
    p99: Math.max(...results.map((r) => r.latency_ms.p99)), p99Min: Math.min(...results.map((r) => r.latency_ms.p99)),
    max: Math.max(...results.map((r) => r.latency_ms.max)),
    serverCpu, redisCpu, redisCores: redisCpu === null ? null : redisCpu / wallSeconds, clientCpu, otherCores: other,
    errors, clients: results,
  };
}

// ------------------------------------------------------------------ one configuration

async function runConfig(config, redis, opts) {
  if (config.store === 'redis') await redisCommand(redis.port, 'FLUSHALL');
  const servers = [];
  try {
    for (let i = 0; i < config.instances; i++) {
      const storeArgs = config.store === 'redis' ? ['--store', `redis://127.0.0.1:${redis.port}?key=bench:events`] : ['--store', config.store];
      servers.push(await startServer(opts, storeArgs, mkdtempSync(path.join(tmp, `${config.store}-${i + 1}-`))));
    }
    const r = config.store === 'redis' ? redis : null;
    await throughput(servers, r, opts, 1); // warm-up
    const t = await throughput(servers, r, opts, opts.throughputDuration);
    const f = await fanout(servers, r, opts, config.label);
    for (const s of servers) if (!s.proc.running) throw new Error(`ssebus-server ${s.url} died:\n${s.proc.output().slice(-2000)}`);
    return { throughput: t, fanout: f };
  } finally {
    await Promise.all(servers.map((s) => s.proc.stop()));
  }
}

// ------------------------------------------------------------------ report

const fmt = (x, digits = 0) =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const us = (seconds, events) => (seconds !== null && events ? (1e6 * seconds) / events : NaN);
const total = (list) => list.reduce((a, b) => a + b, 0);

function table(rows, opts) {
  const lines = [
    `| store | instances | acked events/s (${opts.connections} conns x ${opts.depth} pipelined) | ack p50 / p99 ms | server CPU µs / acked event | Redis CPU µs / acked event | ` +
      `p50 / p99 ms at ${fmt(opts.rate)}/s, ${fmt(opts.subscribers)} subscribers | delivered / expected | server CPU µs / delivery | Redis CPU at ${fmt(opts.rate)}/s (cores) | other load (cores) |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const { config, result: r, error } of rows) {
    if (error) {
      const why = error.split('\n').filter((l) => l.trim()).pop().replace(/\|/g, '/');
      lines.push(`| ${config.store} | ${config.instances} | error: ${why} | | | | | | | | |`);
      continue;
    }
    const t = r.throughput;
    const f = r.fanout;
    const failed = t.failed + t.unanswered ? ` (${fmt(t.failed + t.unanswered)} failed)` : '';
    const missing = f.expected ? ` (${fmt((100 * f.delivered) / f.expected, 1)}%)` : '';
    lines.push(`| ${config.store} | ${config.instances} | ${fmt(t.perSecond)}${failed} | ${fmt(t.p50, 2)} / ${fmt(t.p99, 2)} | ` +
      `${fmt(us(total(t.serverCpu), t.acked), 1)} | ${t.redisCpu === null ? '–' : fmt(us(t.redisCpu, t.acked), 1)} | ` +
      `${fmt(f.p50, 2)} / ${fmt(f.p99, 2)} | ${fmt(f.delivered)} / ${fmt(f.expected)}${missing} | ${fmt(us(f.serverCpu, f.delivered), 2)} | ` +
      `${f.redisCores === null ? '–' : fmt(f.redisCores, 3)} | ${fmt(Math.max(t.otherCores, f.otherCores), 2)} |`);
  }
  return lines.join('\n');
}

// Best round of each configuration: throughput and fan-out latency separately.
function best(all) {
  const out = new Map();
  for (const row of all) {
    const key = row.config.label;
    const prev = out.get(key);
    if (!prev || prev.error) { out.set(key, row); continue; }
    if (row.error) continue;
    out.set(key, {
      config: row.config,
      result: {
        throughput: row.result.throughput.perSecond > prev.result.throughput.perSecond ? row.result.throughput : prev.result.throughput,
        fanout: row.result.fanout.p99 < prev.result.fanout.p99 ? row.result.fanout : prev.result.fanout,
      },
    });
  }
  return [...out.values()];
}

function goals(rows, opts) {
  const lines = ['| goal | figure | result |', '|---|--:|---|'];
  const get = (store, n) => rows.find((r) => r.config.store === store && r.config.instances === n && !r.error)?.result;
  const redisRows = rows.filter((r) => r.config.store === 'redis' && !r.error);
  const top = Math.max(0, ...redisRows.map((r) => r.result.throughput.perSecond));
  lines.push(`| ≥ 40,000 acknowledged events/s through one Redis | ${redisRows.length ? `${fmt(top)}/s (${fmt(top / 40_000, 2)}x)` : 'n/a'} | ${redisRows.length ? (top >= 40_000 ? 'met' : 'missed') : 'not measured'} |`);
  const one = get('redis', 1);
  for (const n of opts.instances.filter((k) => k > 1)) {
    const r = get('redis', n);
    if (!one || !r) {
      lines.push(`| p99 across ${n} instances ≤ 1.5x one instance at ${fmt(opts.rate)}/s | n/a | not measured |`);
      continue;
    }
    const ratio = r.fanout.p99 / one.fanout.p99;
    lines.push(`| p99 across ${n} instances ≤ 1.5x one instance at ${fmt(opts.rate)}/s | ${fmt(r.fanout.p99, 2)} / ${fmt(one.fanout.p99, 2)} ms = ${fmt(ratio, 2)}x | ${ratio <= 1.5 ? 'met' : 'missed'} |`);
  }
  for (const store of ['sqlite', 'memory']) {
    const r = get(store, 1);
    if (!r || !one) continue;
    lines.push(`| (for comparison) redis x1 / ${store} x1 | acked ${fmt(one.throughput.perSecond / r.throughput.perSecond, 2)}x, p99 ${fmt(one.fanout.p99 / r.fanout.p99, 2)}x | |`);
  }
  return lines.join('\n');
}

// Least squares y = a + b x over [x, y] points (b = 0 with one point).
function line(pts) {
  const ok = pts.filter(([, y]) => Number.isFinite(y));
  if (ok.length === 0) return { a: NaN, b: NaN };
  const mx = total(ok.map((p) => p[0])) / ok.length;
  const my = total(ok.map((p) => p[1])) / ok.length;
  const sxx = total(ok.map(([x]) => (x - mx) ** 2));
  const b = sxx ? total(ok.map(([x, y]) => (x - mx) * (y - my))) / sxx : 0;
  return { a: my - b * mx, b };
}

// The cost model, from the throughput runs (where events, not fixed per-second costs,
// dominate) and one instance's fan-out run: it predicts N instances on machines where each
// instance and Redis have cores of their own.
//   server CPU per acknowledged event, summed over N instances = publish + N x apply
//     (the instance that takes the POST publishes; every instance's loop applies the event)
//   Redis CPU per acknowledged event = sequence + N x read (every loop reads every event)
//   delivery: one instance's fan-out CPU, less its events' publish + apply, per delivery.
function model(rows, opts) {
  const redisRows = rows.filter((r) => r.config.store === 'redis' && !r.error);
  const one = redisRows.find((r) => r.config.instances === 1)?.result;
  if (!one) return '';
  const server = line(redisRows.map((r) => [r.config.instances, us(total(r.result.throughput.serverCpu), r.result.throughput.acked)]));
  const redis = line(redisRows.map((r) => [r.config.instances, us(r.result.throughput.redisCpu, r.result.throughput.acked)]));
  const perEvent = us(total(one.throughput.serverCpu), one.throughput.acked);
  const delivery = (1e6 * one.fanout.serverCpu - perEvent * one.fanout.published) / Math.max(1, one.fanout.delivered);
  const lines = [
    `- instance: ${fmt(server.a, 1)} µs of CPU per event published through it + ${fmt(server.b, 1)} µs per event applied ` +
      `(every instance applies every event), fitted over ${redisRows.length} throughput run(s); ${fmt(delivery, 2)} µs per delivery ` +
      `(1 instance at ${fmt(opts.rate)}/s to ${fmt(opts.subscribers)} streams, less ${fmt(perEvent, 1)} µs per event)`,
    `- Redis: ${fmt(redis.a, 1)} µs per event + ${fmt(redis.b, 1)} µs per instance reading it, fitted over the same runs`,
    '',
    '| instances | one Redis core carries (events/s) | one core per instance carries, with 100 streams on each (events/s) | with 1,000 streams on each |',
    '|--:|--:|--:|--:|',
  ];
  for (const n of [1, 2, 3, 4, 8, 16]) {
    const redisCeiling = 1e6 / (redis.a + redis.b * n);
    // Publishes spread evenly: each instance takes 1 / n of them and applies all.
    const instanceCeiling = (streams) => 1e6 / (server.a / n + server.b + streams * delivery);
    lines.push(`| ${n} | ${fmt(redisCeiling)} | ${fmt(instanceCeiling(100))} | ${fmt(instanceCeiling(1000))} |`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const [what, file] of [['ssebus-server', opts.server], ['ssebus-fanout', opts.fanout]])
    if (!existsSync(file)) die(`${path.relative(root, file)} is missing: build it (scripts/build, or cmake --build --preset native --target ${what})`);
  if (opts.stores.includes('redis') && !existsSync(opts.redis)) die(`${opts.redis} is missing: apt-get install redis-server (scripts/bootstrap does)`);
  const watchdog = setTimeout(() => {
    console.error(`bench/cluster: still running after ${opts.maxSeconds} s: stopping everything`);
    killAll();
    process.exit(1);
  }, opts.maxSeconds * 1000);
  watchdog.unref();

  const configs = [];
  if (opts.stores.includes('redis')) for (const n of opts.instances) configs.push({ store: 'redis', instances: n, label: `redis x${n}` });
  for (const store of ['sqlite', 'memory']) if (opts.stores.includes(store)) configs.push({ store, instances: 1, label: `${store} x1` });

  tmp = mkdtempSync(path.join(os.tmpdir(), 'ssebus-bench-cluster-'));
  let redis = null;
  const all = [];
  try {
    if (opts.stores.includes('redis')) redis = await startRedis(opts, tmp);
    console.error(`bench/cluster: ${configs.map((c) => c.label).join(', ')}; ${opts.subscribers} subscribers, ${opts.rate} events/s for ${opts.duration} s; ` +
      `${opts.connections} publisher connections x ${opts.depth} for ${opts.throughputDuration} s; ${os.cpus().length} cores shared by everything` +
      (redis ? `; redis ${redis.version} on port ${redis.port}, appendonly ${opts.aof === 'no' ? 'no' : `yes, appendfsync ${opts.aof}`}` : ''));
    for (let round = 1; round <= opts.rounds; round++) {
      for (const config of configs) {
        process.stderr.write(`bench/cluster: ${opts.rounds > 1 ? `round ${round}, ` : ''}${config.label} ... `);
        const t0 = Date.now();
        try {
          const result = await runConfig(config, redis, opts);
          all.push({ config, round, result });
          const { throughput: t, fanout: f } = result;
          process.stderr.write(`${fmt(t.perSecond)} acked/s${t.failed + t.unanswered ? ` (${t.failed + t.unanswered} failed)` : ''}; ` +
            `p50 ${fmt(f.p50, 2)} p99 ${fmt(f.p99, 2)} ms, ${fmt(f.delivered)} / ${fmt(f.expected)} delivered; ` +
            `other load ${fmt(Math.max(t.otherCores, f.otherCores), 2)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
        } catch (e) {
          all.push({ config, round, error: String(e.message ?? e) });
          process.stderr.write(`failed: ${e.message ?? e}\n`);
        }
      }
    }
  } finally {
    if (redis) await redis.proc.stop();
    rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  }

  const rows = best(all);
  console.log(`\n### Scale-out: ${configs.map((c) => c.label).join(', ')}; loopback, ${os.cpus().length} cores shared by Redis, the servers and the clients` +
    (redis ? `; Redis ${redis.version}, appendonly ${opts.aof === 'no' ? 'no' : `yes, appendfsync ${opts.aof}`}` : '') + '\n');
  console.log(table(rows, opts));
  console.log(`\n${goals(rows, opts)}`);
  const m = model(rows, opts);
  if (m) console.log(`\nModel (every process shares the same ${os.cpus().length} cores here, so the instance counts measure cost, not scale-out):\n${m}`);
  console.log(`
Legend: acked events/s: 202 answers per second to ${opts.connections} keep-alive connections spread round-robin over
the instances, ${opts.depth} requests pipelined on each, no subscriber; ack p50/p99: from writing a request to its answer.
p50/p99 at ${fmt(opts.rate)}/s: publish-to-receive over every delivery, ${fmt(opts.subscribers)} subscribers spread evenly over
the instances, ${fmt(opts.rate)} events/s published through all of them (one ssebus-fanout per instance); p50 is the
clients' sample-weighted mean, p99 the largest of theirs. Server CPU: every instance's, summed. Redis CPU: utime +
stime of redis-server over the measurement: per acknowledged event, and in cores over the fan-out run (at a moderate
rate Redis's fixed per-second work, its timers and the blocked reads timing out, is a large part of it). Other load: CPU used by other processes on the
machine during the measurement, in cores; above ~0.2 the figures are low.${opts.rounds > 1 ? ` Each row: the best of ${opts.rounds} rounds (throughput and latency apart).` : ''}`);
  const busy = rows.filter((r) => !r.error && Math.max(r.result.throughput.otherCores, r.result.fanout.otherCores) > 0.2);
  if (busy.length) console.log(`\nWarning: other processes used more than 0.2 cores during ${busy.map((r) => r.config.label).join(', ')}; those figures are low.`);
  if (opts.out) writeFileSync(opts.out, JSON.stringify({ opts, redis: redis && { version: redis.version }, results: all }, null, 2));
  clearTimeout(watchdog);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => {
  killAll();
  process.exit(130);
});
process.on('exit', killAll);
main().catch((e) => {
  killAll();
  console.error(`bench/cluster: ${e.stack ?? e}`);
  process.exit(1);
});
