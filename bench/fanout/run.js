#!/usr/bin/env node
// Fan-out benchmark: the same SSE load against ssebus-server, nginx + nchan and better-sse.
//
//   node bench/fanout/run.js [--connections 1000,10000] [--rate 100] [--duration 10]
//                            [--drain 3] [--servers ssebus,nchan,better-sse] [--out results.json]
//                            [--ssebus-server PATH] [--fanout PATH]   (defaults: build/native/...)
//                            [--repeat K]   (K rounds, interleaved; the table keeps each one's best)
//
// For each server and each connection count: start the server on a free 127.0.0.1 port, run
// build/native/ssebus-fanout against it (N SSE subscribers, then `rate` events/s published for
// `duration` s), stop the server (SIGTERM, SIGKILL after 3 s), and finally print a Markdown
// table. Builds nothing: build/native/ssebus-fanout and build/native/ssebus-server come from
// scripts/build. Needs Debian's nginx and libnginx-mod-nchan, and better-sse from npm.
// Every socket is on 127.0.0.0/8; every run is bounded in time.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
let fanoutBin = path.join(root, 'build/native/ssebus-fanout');
let ssebusBin = path.join(root, 'build/native/ssebus-server');
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
      case '--connections': opts.connections = value().split(',').map((s) => Math.round(num(s))); break;
      case '--rate': opts.rate = num(value()); break;
      case '--duration': opts.duration = num(value()); break;
      case '--drain': opts.drain = num(value()); break;
      case '--idle': opts.idle = num(value()); break;
      case '--source-ips': opts.sourceIps = Math.round(num(value())); break;
      case '--servers': opts.servers = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--out': opts.out = value(); break;
      case '--repeat': opts.repeat = Math.round(num(value())); break;
      case '--ssebus-server': ssebusBin = path.resolve(value()); break;
      case '--fanout': fanoutBin = path.resolve(value()); break;
      case '-h': case '--help':
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 14).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
        break;
      default: die(`unknown argument: ${a} (try --help)`);
    }
  }
  for (const s of opts.servers) if (!SERVERS[s]) die(`unknown server: ${s} (known: ${Object.keys(SERVERS).join(', ')})`);
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

// ------------------------------------------------------------------ the servers

const SERVERS = {
  ssebus: {
    label: 'ssebus',
    check() {
      if (!existsSync(ssebusBin)) return `${path.relative(root, ssebusBin)} is missing: run scripts/build first (or leave it out with --servers nchan,better-sse)`;
      return null;
    },
    async start(tmp) {
      const port = await freePort();
      const proc = startProcess('ssebus', ssebusBin, [
        '--address', '127.0.0.1', '--port', String(port), '--publisher-key', 'bench-key',
        '--max-streams-per-user', '100000', '--queue-max-events', '100000', '--data-dir', path.join(tmp, 'ssebus-data'),
        // SSEBUS_LOG_LEVEL=debug compares the fan-out with every stream logged.
      ], tmp, { SSEBUS_LOG_LEVEL: process.env.SSEBUS_LOG_LEVEL || 'warn' });
      await waitHealthy(proc, `http://127.0.0.1:${port}/healthz`);
      return {
        proc, port,
        client: ['--path', '/api/events', '--publish-path', '/api/events',
          '--publish-header', 'Authorization: Bearer bench-key',
          '--publish-body-template', '{"event":"bench:tick","data":{"ts":{{ts}},"seq":{{seq}}}}'],
      };
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
  const started = await spec.start(tmp);
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

// ------------------------------------------------------------------ report

const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
const int = (v) => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));

// CPU used by everything but this server and the client during the measurement, in cores:
// other work on the machine (builds, tests) competing with the benchmark.
function otherLoad(r) {
  return r.other_cpu_seconds != null && r.measure_seconds ? r.other_cpu_seconds / r.measure_seconds : null;
}

// Best round (most delivered events/s) of each server and N.
function best(results) {
  const out = [];
  for (const r of results) {
    const i = out.findIndex((o) => o.key === r.key && o.n === r.n);
    if (i < 0) out.push(r);
    else if (out[i].error || (!r.error && r.delivered_per_second > out[i].delivered_per_second)) out[i] = r;
  }
  return out;
}

function table(results) {
  const rows = [
    '| server | N | connected | published / scheduled | delivered events/s | delivered / expected | p50 ms | p99 ms | max ms | RSS per idle conn (KiB) | server CPU s | server CPU µs / delivery | other load (cores) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    if (r.error) {
      rows.push(`| ${r.label} | ${int(r.n)} | error: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | | | |`);
      continue;
    }
    const pct = r.expected ? ` (${fmt((100 * r.delivered) / r.expected, 1)}%)` : '';
    const conn = `${int(r.connected)}${r.failed ? ` (${int(r.failed)} failed)` : ''}${r.dropped ? ` (${int(r.dropped)} dropped)` : ''}`;
    rows.push(`| ${r.label} | ${int(r.connections_requested)} | ${conn} | ${int(r.published)} / ${int(r.publish_scheduled)} | ${int(r.delivered_per_second)} | ${int(r.delivered)} / ${int(r.expected)}${pct} | ${fmt(r.latency_ms.p50)} | ${fmt(r.latency_ms.p99)} | ${fmt(r.latency_ms.max)} | ${fmt(r.rss_per_idle_connection_kib, 2)} | ${fmt(r.server_cpu_seconds, 2)} | ${r.delivered && r.server_cpu_seconds != null ? fmt((1e6 * r.server_cpu_seconds) / r.delivered, 1) : '–'} | ${fmt(otherLoad(r), 2)} |`);
  }
  return rows.join('\n');
}

function ratios(results, ns) {
  const lines = [];
  for (const n of ns) {
    const get = (key) => results.find((r) => r.key === key && r.n === n && !r.error);
    const s = get('ssebus');
    if (!s) continue;
    for (const other of ['nchan', 'better-sse']) {
      const o = get(other);
      if (!o || !o.delivered_per_second) continue;
      lines.push(`- N = ${int(n)}: ssebus / ${SERVERS[other].label} delivered events/s = ${fmt(s.delivered_per_second / o.delivered_per_second, 2)}`);
    }
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(fanoutBin)) die(`${path.relative(root, fanoutBin)} is missing: run scripts/build first`);
  const problems = opts.servers.map((s) => SERVERS[s].check()).filter(Boolean);
  if (problems.length) die(problems.join('\n'));

  const hard = hardNofile();
  const maxN = Math.max(...opts.connections);
  if (hard < maxN + 100)
    console.error(`bench/fanout: the hard open-files limit is ${hard}, below N + 100 = ${maxN + 100}: connections past it will fail (raise it with ulimit -Hn as root, outside this script)`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ssebus-fanout-'));
  const results = [];
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  console.error(`bench/fanout: ${opts.servers.join(', ')} x N = ${opts.connections.join(', ')}; ${opts.rate} events/s for ${opts.duration} s, drain ${opts.drain} s; ${os.cpus().length} cores shared by client and server`);
  try {
    for (let round = 1; round <= opts.repeat; round++) for (const n of opts.connections) {
      for (const key of opts.servers) {
        const label = SERVERS[key].label;
        const t0 = Date.now();
        process.stderr.write(`bench/fanout: ${opts.repeat > 1 ? `round ${round}, ` : ''}${label}, N = ${n} ... `);
        try {
          const r = await runOne(key, n, opts, tmp);
          results.push({ key, n, round, ...r, label });
          process.stderr.write(`${int(r.connected)} connected, ${int(r.delivered_per_second)} delivered events/s, p99 ${fmt(r.latency_ms.p99)} ms, other load ${fmt(otherLoad(r), 2)} cores (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
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

  console.log(`\n### SSE fan-out: ${opts.rate} events/s for ${opts.duration} s (drain ${opts.drain} s), loopback, ${os.cpus().length} cores shared by client and server\n`);
  const shown = best(results);
  console.log(table(shown));
  const r = ratios(shown, opts.connections);
  if (r) console.log(`\n${r}`);
  console.log(`
Legend: published / scheduled: publish POSTs answered 2xx, of rate x duration; fewer means the server
answered them more slowly than the rate (4 keep-alive publisher connections, one request in flight
each; ticks that could not go out within the window are skipped). Expected = published x connected.
Delivered events/s = deliveries / (first publish .. last delivery). Latency = receive - publish time,
over every delivery. RSS per idle connection = (server RSS after N idle streams - before) / N, summed
over the server's process tree. Server CPU = user + system time of the server's process tree from
the first publish to the end of the drain. Client and server share the machine's cores, so the
throughput is that of the pair; CPU µs per delivery is the server's own cost. Other load: CPU
used by other processes on the machine during the measurement, in cores;
well above ~0.2 means the run competed with other work.${opts.repeat > 1 ? `\nEach row: the best of ${opts.repeat} rounds.` : ''}`);
  const busy = shown.filter((x) => !x.error && otherLoad(x) > 0.3);
  if (busy.length)
    console.log(`\nWarning: other work used more than 0.3 cores during ${busy.map((x) => `${x.label} N=${x.n}`).join(', ')}; those numbers are low.`);
  if (!opts.servers.includes('ssebus')) console.log('\n(ssebus-server left out of this run)');
  if (opts.out) writeFileSync(opts.out, JSON.stringify({ options: opts, results }, null, 2));
}

main().catch((e) => {
  console.error(`bench/fanout: ${e.stack || e}`);
  process.exit(1);
});
