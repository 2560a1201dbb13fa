#!/usr/bin/env node
// Fan-out benchmark: the same SSE load against ssebus-server, nginx + nchan and better-sse.
//
//   node bench/fanout/run.js [--connections 1000,10000] [--rate 100] [--duration 10]
//                            [--drain 3] [--servers ssebus,nchan,better-sse] [--out results.json]
//                            [--ssebus-server PATH] [--fanout PATH]   (defaults: build/native/...)
//                            [--repeat K]   (K rounds, interleaved; each cell: the median of K)
//                            [--best]       (each row: the round with the most delivered events/s)
//                            [--no-floor] [--floor-events 50] [--floor-bin PATH]
//                            [--targeted]   (ssebus only: one stream per user, each publish to one user)
//
// For each server and each connection count: start the server on a free 127.0.0.1 port, run
// build/native/ssebus-fanout against it (N SSE subscribers, then `rate` events/s published for
// `duration` s), stop the server (SIGTERM, SIGKILL after 3 s), and finally print Markdown
// tables. Each round also runs build/native/ssebus-floor at each N (one write and one read per
// delivery and nothing else) and reports every server's CPU per delivery as a multiple of it.
// Builds nothing: build/native/ssebus-fanout, ssebus-floor and ssebus-server come from
// scripts/build. Needs Debian's nginx and libnginx-mod-nchan, and better-sse from npm.
// Every socket is on 127.0.0.0/8; every run is bounded in time.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
let fanoutBin = path.join(root, 'build/native/ssebus-fanout');
let ssebusBin = path.join(root, 'build/native/ssebus-server');
let floorBin = path.join(root, 'build/native/ssebus-floor');
const nginxBin = '/usr/sbin/nginx';
const nchanModule = '/usr/lib/nginx/modules/ngx_nchan_module.so';

// ------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const opts = {
    connections: [1000, 10000],
    rate: 100,
    duration: 10,
    drain: 3,
    idle: 2,
    sourceIps: 8,
    servers: ['ssebus', 'nchan', 'better-sse'],
    repeat: 1,
    best: false,
    floor: true,
    floorEvents: 50,
    targeted: false,
    out: null,
  };
  let serversGiven = false;
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
      case '--connections': opts.connections = value().split(',').map((s) => Math.round(num(s))); break;
      case '--rate': opts.rate = num(value()); break;
      case '--duration': opts.duration = num(value()); break;
      case '--drain': opts.drain = num(value()); break;
      case '--idle': opts.idle = num(value()); break;
      case '--source-ips': opts.sourceIps = Math.round(num(value())); break;
      case '--servers': opts.servers = value().split(',').map((s) => s.trim()).filter(Boolean); serversGiven = true; break;
      case '--out': opts.out = value(); break;
      case '--repeat': opts.repeat = Math.round(num(value())); break;
      case '--best': opts.best = true; break;
      case '--no-floor': opts.floor = false; break;
      case '--floor-events': opts.floorEvents = Math.round(num(value())); break;
      case '--floor-bin': floorBin = path.resolve(value()); break;
      case '--targeted': opts.targeted = true; break;
      case '--ssebus-server': ssebusBin = path.resolve(value()); break;
      case '--fanout': fanoutBin = path.resolve(value()); break;
      case '-h': case '--help':
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 21).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
        break;
      default: die(`unknown argument: ${a} (try --help)`);
    }
  }
  for (const s of opts.servers) if (!SERVERS[s]) die(`unknown server: ${s} (known: ${Object.keys(SERVERS).join(', ')})`);
  if (opts.targeted) {
    // Targets are an ssebus feature (users by token); the floor has nothing to target.
    if (serversGiven && opts.servers.some((s) => s !== 'ssebus')) die('--targeted measures ssebus alone: leave out --servers or give --servers ssebus');
    opts.servers = ['ssebus'];
    opts.floor = false;
  }
  return opts;
}

function die(msg) {
  console.error(`bench/fanout: ${msg}`);
  process.exit(1);
}

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

function hardNofile() {
  const r = spawnSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const v = r.stdout.trim();
  return v === 'unlimited' ? 1048576 : Number(v) || 1024;
}

// Starts cmd with the soft open-files limit raised to the hard limit (or 100000 if lower), in
// its own process group so that stopping it also stops what it forked (nginx's workers).
function startProcess(name, cmd, args, logDir, env = {}) {
  const log = path.join(logDir, `${name}.log`);
  const child = spawn('bash', ['-c', 'ulimit -n "$(( $(ulimit -Hn) < 100000 ? $(ulimit -Hn) : 100000 ))" 2>/dev/null; exec "$@"', 'bash', cmd, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (d) => {
    output += d.toString();
    if (output.length > 1 << 20) output = output.slice(-(1 << 19));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => { done = true; writeFileSync(log, output); });
  return {
    child,
    pid: child.pid,
    output: () => output,
    exited,
    get running() { return !done; },
    async stop() {
      if (done) return;
      const group = -child.pid;
      try { process.kill(group, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(group, 'SIGKILL'); } catch { /* gone */ } }, 3000);
      await exited;
      clearTimeout(t);
      // Anything the server forked and left behind in its group.
      try { process.kill(group, 'SIGKILL'); } catch { /* none */ }
    },
  };
}

async function waitHealthy(proc, url, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`server exited during start-up:\n${proc.output().slice(-2000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`no healthy answer from ${url} within ${ms} ms:\n${proc.output().slice(-2000)}`);
}

async function waitForLine(proc, re, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const m = proc.output().match(re);
    if (m) return m;
    if (!proc.running) throw new Error(`server exited during start-up:\n${proc.output().slice(-2000)}`);
    await sleep(50);
  }
  throw new Error(`server printed no ${re} within ${ms} ms:\n${proc.output().slice(-2000)}`);
}

// HS256 JWTs in the server's own scheme (native-server/jwt.hpp: sub = user, sid = session,
// iat, exp), signed with the secret the server is started with: line i is user u<i>'s token.
function writeTokens(file, n, secret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const iat = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < n; i++) {
    const body = `${head}.${b64({ sub: `u${i}`, sid: `s${i}`, iat, exp: iat + 3600 })}`;
    lines.push(`${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

// ------------------------------------------------------------------ the servers

const SERVERS = {
  ssebus: {
    label: 'ssebus',
    check() {
      if (!existsSync(ssebusBin)) return `${path.relative(root, ssebusBin)} is missing: run scripts/build first (or leave it out with --servers nchan,better-sse)`;
      return null;
    },
    async start(tmp, { targeted = false, n = 0 } = {}) {
      const port = await freePort();
      const jwtSecret = randomBytes(24).toString('hex');
      const proc = startProcess('ssebus', ssebusBin, [
        '--address', '127.0.0.1', '--port', String(port), '--publisher-key', 'bench-key', '--jwt-secret', jwtSecret,
        '--max-streams-per-user', '100000', '--queue-max-events', '100000', '--data-dir', path.join(tmp, 'ssebus-data'),
        // Targeted: no heartbeat round in the window, so the CPU per publish is the publish's
        // own (the idle column shows what holding the streams costs).
        ...(targeted ? ['--heartbeat-ms', '3600000'] : []),
        // SSEBUS_LOG_LEVEL=debug compares the fan-out with every stream logged.
      ], tmp, { SSEBUS_LOG_LEVEL: process.env.SSEBUS_LOG_LEVEL || 'warn' });
      await waitHealthy(proc, `http://127.0.0.1:${port}/healthz`);
      const client = ['--path', '/api/events', '--publish-path', '/api/events', '--publish-header', 'Authorization: Bearer bench-key'];
      if (targeted) {
        const tokens = path.join(tmp, `tokens-${port}.txt`);
        writeTokens(tokens, n, jwtSecret);
        client.push('--tokens-file', tokens, '--targeted', '--publish-body-template',
          '{"event":"bench:tick","target":{"type":"user","id":"u{{to}}"},"data":{"ts":{{ts}},"seq":{{seq}},"to":{{to}}}}');
      } else {
        client.push('--publish-body-template', '{"event":"bench:tick","data":{"ts":{{ts}},"seq":{{seq}}}}');
      }
      return { proc, port, client };
    },
  },
  nchan: {
    label: 'nginx+nchan',
    check() {
      if (!existsSync(nginxBin) || !existsSync(nchanModule))
        return `nginx with nchan is missing: apt-get install -y nginx libnginx-mod-nchan (or leave it out with --servers ssebus,better-sse)`;
      return null;
    },
    async start(tmp) {
      const port = await freePort();
      const prefix = path.join(tmp, `nginx-${port}`);
      mkdirSync(prefix);
      // nginx's workers run as 'nobody' when started by root: let them write their temp dirs.
      for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
        mkdirSync(path.join(prefix, d));
        chmodSync(path.join(prefix, d), 0o777);
      }
      chmodSync(prefix, 0o755);
      const nofile = Math.min(65535, hardNofile());
      const conf = readFileSync(path.join(here, 'nginx.conf.template'), 'utf8')
        .replaceAll('@PREFIX@', prefix)
        .replaceAll('@PORT@', String(port))
        .replaceAll('@NOFILE@', String(nofile))
        .replaceAll('@WORKER_CONNECTIONS@', String(Math.min(32768, nofile - 100)))
        .replaceAll('@NCHAN_MODULE@', nchanModule);
      writeFileSync(path.join(prefix, 'nginx.conf'), conf);
      const proc = startProcess('nginx', nginxBin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log')], tmp);
      await waitHealthy(proc, `http://127.0.0.1:${port}/healthz`);
      return { proc, port, client: ['--path', '/sub', '--publish-path', '/pub'] };
    },
  },
  'better-sse': {
    label: 'better-sse',
    check() {
      if (!existsSync(path.join(root, 'node_modules/better-sse/package.json'))) return 'better-sse is missing: run npm install';
      return null;
    },
    async start(tmp) {
      const proc = startProcess('better-sse', process.execPath, [path.join(here, 'better-sse-server.js'), '--port', '0'], tmp);
      const m = await waitForLine(proc, /listening (\d+)/);
      const port = Number(m[1]);
      await waitHealthy(proc, `http://127.0.0.1:${port}/healthz`);
      return { proc, port, client: ['--path', '/events', '--publish-path', '/publish'] };
    },
  },
};

// ------------------------------------------------------------------ one run

function runClient(args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(fanoutBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

async function runOne(key, n, opts, tmp) {
  const spec = SERVERS[key];
  const started = await spec.start(tmp, { targeted: opts.targeted, n });
  try {
    const args = [
      '--host', '127.0.0.1', '--port', String(started.port), ...started.client,
      '--connections', String(n), '--rate', String(opts.rate), '--duration', String(opts.duration),
      '--drain', String(opts.drain), '--idle', String(opts.idle), '--source-ips', String(opts.sourceIps),
      '--server-pid', String(started.proc.pid), '--label', spec.label, '--json',
    ];
    // Connect (bounded by the client's own timeouts) + idle + publish + grace + drain, with margin.
    const timeoutMs = (opts.idle + opts.duration + opts.drain + 5 + 180) * 1000;
    const r = await runClient(args, timeoutMs);
    if (r.err.trim()) process.stderr.write(r.err.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n'));
    const line = r.out.trim().split('\n').pop();
    let result;
    try {
      result = JSON.parse(line);
    } catch {
      throw new Error(`ssebus-fanout gave no result (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.out}\n${r.err}`);
    }
    result.server_alive_after = started.proc.running;
    return result;
  } finally {
    await started.proc.stop();
  }
}

// The floor at N connections: one JSON line from build/native/ssebus-floor.
function runFloor(n, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(floorBin, ['--connections', String(n), '--events', String(opts.floorEvents),
      '--source-ips', String(opts.sourceIps), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out.trim().split('\n').pop());
        if (code !== 0) return reject(new Error(`ssebus-floor exit ${code}: ${r.short_connections} connections short`));
        resolve(r);
      } catch {
        reject(new Error(`ssebus-floor gave no result (exit ${code}${signal ? `, ${signal}` : ''}): ${err.trim() || out.trim()}`));
      }
    });
  });
}

// ------------------------------------------------------------------ report

const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
const int = (v) => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));

// CPU used by everything but this server and the client during the measurement, in cores:
// other work on the machine (builds, tests) competing with the benchmark.
function otherLoad(r) {
  return r.other_cpu_seconds != null && r.measure_seconds ? r.other_cpu_seconds / r.measure_seconds : null;
}

// What the tables show of one round, flat, so that rounds can be combined cell by cell.
function cells(r) {
  if (r.error) return { error: r.error };
  const t = r.targeted || {};
  return {
    connections_requested: r.connections_requested, connected: r.connected, failed: r.failed, dropped: r.dropped,
    published: r.published, publish_scheduled: r.publish_scheduled, delivered: r.delivered, expected: r.expected,
    delivered_per_second: r.delivered_per_second, p50: r.latency_ms.p50, p99: r.latency_ms.p99, max: r.latency_ms.max,
    rss_per_idle_connection_kib: r.rss_per_idle_connection_kib, server_cpu_seconds: r.server_cpu_seconds,
    cpu_us_per_delivery: r.delivered && r.server_cpu_seconds != null ? (1e6 * r.server_cpu_seconds) / r.delivered : null,
    cpu_us_per_publish: r.published && r.server_cpu_seconds != null ? (1e6 * r.server_cpu_seconds) / r.published : null,
    idle_cores: r.server_idle_cpu_seconds != null && r.idle_seconds ? r.server_idle_cpu_seconds / r.idle_seconds : null,
    streams_live_at_end: r.streams_live_at_end, streams_with_every_event: r.streams_with_every_event,
    server_reported_delivered: r.server_reported_delivered,
    t_expected: t.expected, t_once: t.exactly_once, t_missing: t.missing, t_duplicated: t.duplicated, t_misdelivered: t.misdelivered,
    other_load: otherLoad(r),
  };
}

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// One row per server and N: each cell the median of its rounds (of those without an error), or
// with --best the round with the most delivered events/s, as before.
function combine(results, useBest) {
  const groups = [];
  for (const r of results) {
    let g = groups.find((o) => o.key === r.key && o.n === r.n);
    if (!g) groups.push((g = { key: r.key, n: r.n, label: r.label, rounds: [] }));
    g.rounds.push(r);
  }
  return groups.map((g) => {
    const ok = g.rounds.filter((r) => !r.error);
    const base = { key: g.key, n: g.n, label: g.label, rounds: g.rounds.length, rounds_ok: ok.length };
    if (!ok.length) return { ...base, error: g.rounds[0].error };
    if (useBest) return { ...base, ...cells(ok.reduce((a, b) => (b.delivered_per_second > a.delivered_per_second ? b : a))) };
    const all = ok.map(cells);
    const row = { ...base };
    for (const k of Object.keys(all[0])) row[k] = median(all.map((c) => c[k]));
    return row;
  });
}

// Floor rounds per N: the median of each figure.
function combineFloor(floors) {
  const out = [];
  for (const n of [...new Set(floors.map((f) => f.n))]) {
    const rs = floors.filter((f) => f.n === n && !f.error);
    const row = { n, rounds: floors.filter((f) => f.n === n).length, rounds_ok: rs.length };
    if (!rs.length) { out.push({ ...row, error: floors.find((f) => f.n === n).error }); continue; }
    for (const k of ['write_cpu_us_per_delivery', 'write_read_cpu_us_per_delivery', 'write_wall_us_per_delivery', 'write_read_wall_us_per_delivery'])
      row[k] = median(rs.map((f) => f[k]));
    row.other_load = median(rs.map((f) => (f.other_cpu_seconds >= 0 && f.measure_seconds ? f.other_cpu_seconds / f.measure_seconds : null)));
    out.push(row);
  }
  return out;
}

const roundsNote = (r) => (r.rounds > 1 && r.rounds_ok < r.rounds ? ` (${r.rounds_ok} of ${r.rounds} rounds)` : '');

function table(rows) {
  const out = [
    '| server | N | connected | streams with every event | published / scheduled | delivered events/s | delivered / expected | p50 ms | p99 ms | max ms | RSS per idle conn (KiB) | server CPU s | server CPU µs / delivery | other load (cores) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    if (r.error) {
      out.push(`| ${r.label} | ${int(r.n)} | error: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | | | | |`);
      continue;
    }
    const pct = r.expected ? ` (${fmt((100 * r.delivered) / r.expected, 1)}%)` : '';
    const conn = `${int(r.connected)}${r.failed ? ` (${int(r.failed)} failed)` : ''}${r.dropped ? ` (${int(r.dropped)} dropped)` : ''}`;
    out.push(`| ${r.label}${roundsNote(r)} | ${int(r.connections_requested)} | ${conn} | ${int(r.streams_with_every_event)} | ${int(r.published)} / ${int(r.publish_scheduled)} | ${int(r.delivered_per_second)} | ${int(r.delivered)} / ${int(r.expected)}${pct} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${fmt(r.rss_per_idle_connection_kib, 2)} | ${fmt(r.server_cpu_seconds, 2)} | ${fmt(r.cpu_us_per_delivery, 1)} | ${fmt(r.other_load, 2)} |`);
  }
  return out.join('\n');
}

function ratios(rows, ns) {
  const lines = [];
  for (const n of ns) {
    const get = (key) => rows.find((r) => r.key === key && r.n === n && !r.error);
    const s = get('ssebus');
    if (!s) continue;
    for (const other of ['nchan', 'better-sse']) {
      const o = get(other);
      if (!o || !o.delivered_per_second) continue;
      lines.push(`- N = ${int(n)}: ssebus / ${SERVERS[other].label}: delivered events/s ${fmt(s.delivered_per_second / o.delivered_per_second, 2)}x, server CPU µs / delivery ${s.cpu_us_per_delivery && o.cpu_us_per_delivery ? fmt(s.cpu_us_per_delivery / o.cpu_us_per_delivery, 2) : '–'}x, p99 ${o.p99 ? fmt(s.p99 / o.p99, 2) : '–'}x`);
    }
  }
  return lines.join('\n');
}

// The floor, and each server's CPU per delivery as a multiple of the floor's write side (a
// server's CPU is its write side: loopback's receive work runs in the writer's system call).
function floorTable(floors, rows) {
  const servers = [...new Set(rows.filter((r) => !r.error).map((r) => r.key))];
  const out = [
    `| N | floor write CPU µs / delivery | floor write + read CPU µs / delivery | floor write wall µs / delivery | floor write + read wall µs / delivery | other load (cores) |${servers.map((k) => ` ${SERVERS[k].label} server CPU µs / delivery (x floor) |`).join('')}`,
    `|--:|--:|--:|--:|--:|--:|${servers.map(() => '--:|').join('')}`,
  ];
  for (const f of floors) {
    if (f.error) {
      out.push(`| ${int(f.n)} | error: ${f.error.split('\n')[0].replace(/\|/g, '/')} | | | | |${servers.map(() => ' |').join('')}`);
      continue;
    }
    const cellsFor = servers.map((k) => {
      const r = rows.find((x) => x.key === k && x.n === f.n && !x.error);
      if (!r || r.cpu_us_per_delivery == null) return ' – |';
      return ` ${fmt(r.cpu_us_per_delivery, 1)} (${fmt(r.cpu_us_per_delivery / f.write_cpu_us_per_delivery, 1)}x) |`;
    });
    out.push(`| ${int(f.n)}${roundsNote(f)} | ${fmt(f.write_cpu_us_per_delivery, 2)} | ${fmt(f.write_read_cpu_us_per_delivery, 2)} | ${fmt(f.write_wall_us_per_delivery, 2)} | ${fmt(f.write_read_wall_us_per_delivery, 2)} | ${fmt(f.other_load, 2)} |${cellsFor.join('')}`);
  }
  return out.join('\n');
}

function targetedTable(rows) {
  const out = [
    '| N | connected | published / scheduled | reached exactly its stream / expected | missing | duplicated | misdelivered | server-reported deliveries | p50 ms | p99 ms | server CPU s | server CPU µs / publish | server CPU idle (cores) | other load (cores) |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    if (r.error) {
      out.push(`| ${int(r.n)} | error: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | | | | | |`);
      continue;
    }
    const conn = `${int(r.connected)}${r.failed ? ` (${int(r.failed)} failed)` : ''}${r.dropped ? ` (${int(r.dropped)} dropped)` : ''}`;
    out.push(`| ${int(r.connections_requested)}${roundsNote(r)} | ${conn} | ${int(r.published)} / ${int(r.publish_scheduled)} | ${int(r.t_once)} / ${int(r.t_expected)} | ${int(r.t_missing)} | ${int(r.t_duplicated)} | ${int(r.t_misdelivered)} | ${int(r.server_reported_delivered)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.server_cpu_seconds, 3)} | ${fmt(r.cpu_us_per_publish, 1)} | ${fmt(r.idle_cores, 3)} | ${fmt(r.other_load, 2)} |`);
  }
  return out.join('\n');
}

// ------------------------------------------------------------------ main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(fanoutBin)) die(`${path.relative(root, fanoutBin)} is missing: run scripts/build first`);
  if (opts.floor && !existsSync(floorBin)) die(`${path.relative(root, floorBin)} is missing: run scripts/build first (or leave the floor out with --no-floor)`);
  const problems = opts.servers.map((s) => SERVERS[s].check()).filter(Boolean);
  if (problems.length) die(problems.join('\n'));

  const hard = hardNofile();
  const maxN = Math.max(...opts.connections);
  if (hard < maxN + 100)
    console.error(`bench/fanout: the hard open-files limit is ${hard}, below N + 100 = ${maxN + 100}: connections past it will fail (raise it with ulimit -Hn as root, outside this script)`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ssebus-fanout-'));
  const results = [];
  const floors = [];
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  console.error(`bench/fanout: ${opts.targeted ? 'targeted publishes (one user each), ' : ''}${opts.servers.join(', ')}${opts.floor ? ' and the floor' : ''} x N = ${opts.connections.join(', ')}; ${opts.rate} events/s for ${opts.duration} s, drain ${opts.drain} s; ${os.cpus().length} cores shared by client and server`);
  try {
    for (let round = 1; round <= opts.repeat; round++) for (const n of opts.connections) {
      const prefix = `bench/fanout: ${opts.repeat > 1 ? `round ${round}, ` : ''}`;
      if (opts.floor) {
        process.stderr.write(`${prefix}floor, N = ${n} ... `);
        try {
          const f = await runFloor(n, opts);
          floors.push({ n, round, ...f });
          process.stderr.write(`write ${fmt(f.write_cpu_us_per_delivery, 2)} µs CPU / delivery, write + read ${fmt(f.write_read_cpu_us_per_delivery, 2)}\n`);
        } catch (e) {
          floors.push({ n, round, error: String(e.message || e) });
          process.stderr.write(`failed: ${e.message || e}\n`);
        }
      }
      for (const key of opts.servers) {
        const label = SERVERS[key].label;
        const t0 = Date.now();
        process.stderr.write(`${prefix}${label}, N = ${n} ... `);
        try {
          const r = await runOne(key, n, opts, tmp);
          results.push({ key, n, round, ...r, label });
          const c = cells(r);
          const what = opts.targeted
            ? `${int(c.t_once)} of ${int(c.t_expected)} reached exactly their stream, ${fmt(c.cpu_us_per_publish, 1)} µs server CPU / publish`
            : `${int(r.delivered_per_second)} delivered events/s, p99 ${fmt(r.latency_ms.p99)} ms, ${fmt(c.cpu_us_per_delivery, 1)} µs server CPU / delivery`;
          process.stderr.write(`${int(r.connected)} connected, ${what}, other load ${fmt(otherLoad(r), 2)} cores (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
        } catch (e) {
          results.push({ key, n, round, label, error: String(e.message || e) });
          process.stderr.write(`failed: ${e.message || e}\n`);
        }
        await sleep(500);
      }
    }
  } finally {
    cleanup();
  }

  const shown = combine(results, opts.best);
  const each = opts.repeat > 1 ? (opts.best ? `\nEach row: the round of ${opts.repeat} with the most delivered events/s (--best).` : `\nEach cell: the median of ${opts.repeat} interleaved rounds.`) : '';
  if (opts.targeted) {
    console.log(`\n### ssebus, targeted publishes: ${opts.rate} events/s for ${opts.duration} s, each to one user of N (one stream per user), loopback, ${os.cpus().length} cores shared by client and server\n`);
    console.log(targetedTable(shown));
    console.log(`
Legend: N streams, stream i authenticated as user u<i> (an HS256 token in the server's scheme,
?token=); publish k is {target: {type: user, id: u<k mod N>}}. Reached exactly its stream: answered
publishes whose user's stream was open that arrived on that stream once; missing, duplicated and
misdelivered (an event on a stream it was not for) should be 0. Server-reported deliveries: the sum
of "delivered" in the 202 answers. Server CPU µs / publish = the server's user + system time from
the first publish to the end of the drain / answered publishes: the HTTP request, the store's commit
and the selection of the target's stream. Heartbeats are set to an hour for this run, so none falls
in the window; server CPU idle: what the server used while the N streams idled before publishing.${each}`);
  } else {
    console.log(`\n### SSE fan-out: ${opts.rate} events/s for ${opts.duration} s (drain ${opts.drain} s), loopback, ${os.cpus().length} cores shared by client and server\n`);
    console.log(table(shown));
    const r = ratios(shown, opts.connections);
    if (r) console.log(`\n${r}`);
    console.log(`
Legend: published / scheduled: publish POSTs answered 2xx, of rate x duration; fewer means the server
answered them more slowly than the rate (4 keep-alive publisher connections, one request in flight
each; ticks that could not go out within the window are skipped). Expected = published x connected.
Streams with every event: streams still open at the end that received every answered publish.
Delivered events/s = deliveries / (first publish .. last delivery). Latency = receive - publish time,
over every delivery. RSS per idle connection = (server RSS after N idle streams - before) / N, summed
over the server's process tree. Server CPU = user + system time of the server's process tree from
the first publish to the end of the drain. Client and server share the machine's cores, so the
throughput is that of the pair; CPU µs per delivery is the server's own cost. Other load: CPU
used by other processes on the machine during the measurement, in cores;
well above ~0.2 means the run competed with other work.${each}`);
    if (opts.floor) {
      console.log(`\n### The floor: one ${floors.find((f) => f.frame_bytes)?.frame_bytes ?? 200}-byte write and one read per delivery (ssebus-floor, ${opts.floorEvents} events in lock step), in the same run\n`);
      console.log(floorTable(combineFloor(floors), shown));
      console.log(`
Floor: N loopback TCP connections, writer and reader in two processes; each event is one write() to
each of the N sockets, and the reader's epoll reads them all before the next event goes out. Write
CPU = the writer's user + system time / deliveries (loopback's receive work runs in the writer's
system call, so this is what a server's own CPU per delivery compares with); write + read adds the
reader's. Each server's server CPU µs / delivery is shown as a multiple of the floor's write CPU.`);
    }
  }
  const busy = shown.filter((x) => !x.error && x.other_load > 0.3);
  if (busy.length)
    console.log(`\nWarning: other work used more than 0.3 cores during ${busy.map((x) => `${x.label} N=${x.n}`).join(', ')}; those numbers are low.`);
  if (!opts.servers.includes('ssebus')) console.log('\n(ssebus-server left out of this run)');
  if (opts.out) writeFileSync(opts.out, JSON.stringify({ options: opts, results, floors }, null, 2));
}

main().catch((e) => {
  console.error(`bench/fanout: ${e.stack || e}`);
  process.exit(1);
});
