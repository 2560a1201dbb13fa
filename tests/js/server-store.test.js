// ssebus-server on its stores, as a process: each bad events.db stops the start with exit code
// 2 and one line that names the file and what to do, never a crash; on Redis, the stats, the
// readiness and the publishes follow Redis, and two servers on one Redis list the same videos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publish, serverBinary, startServer } from '../support/server.js';

const scratch = mkdtempSync(join(tmpdir(), 'ssebus-store-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

function run(dataDir) {
  return spawnSync(serverBinary, ['--address', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    encoding: 'utf8',
    timeout: 10_000,
  });
}

function assertOneLineRefusal(r, file, what) {
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith('ssebus-server: '), r.stderr);
  assert.ok(lines[0].includes(file), r.stderr);
  assert.match(lines[0], what);
  assert.doesNotMatch(r.stderr, /terminate called|Aborted|cannot start: step/);
}

test('a corrupt events.db: exit 2, one line naming it and what to do', () => {
  const dir = join(scratch, 'corrupt');
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'events.db');
  writeFileSync(db, Buffer.alloc(8192, 'g'));
  assertOneLineRefusal(run(dir), db, /move (it|the file) away/);
});

test('an events.db locked by another running server: exit 2, one line naming the lock', async () => {
  const dir = join(scratch, 'locked');
  const first = await startServer([], { dataDir: dir });
  try {
    assertOneLineRefusal(run(dir), join(dir, 'events.db'), /another ssebus-server/);
  } finally {
    await first.stop();
  }
});

// A redis-server of the test's own on 127.0.0.1, a free port and a temp dir; stop() ends it.
async function startRedis() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  const dir = mkdtempSync(join(scratch, 'redis-'));
  const proc = spawn('/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10_000);
    proc.stdout.on('data', (chunk) => {
      log += chunk;
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    url: `redis://127.0.0.1:${port}`,
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
}

// Polls `fn` until it returns something truthy (at most 10 s).
async function until(fn) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('--store redis://: stats name the store, /healthz and publishing follow Redis', async () => {
  const redis = await startRedis();
  let server;
  try {
    server = await startServer(['--store', `${redis.url}?key=ssebus:test-health`]);
    const stats = await (await fetch(`${server.url}/api/events/stats`)).json();
    assert.equal(stats.store.kind, 'redis');
    // appendonly no: a commit survives nothing.
    assert.equal(stats.store.durability, 'none');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const ok = await publish(server, { event: 'first', data: 1 });
    assert.equal(ok.status, 202);
    assert.ok(ok.body.id > 0);

    await redis.stop();
    const health = await until(async () => {
      const res = await fetch(`${server.url}/healthz`);
      return res.status === 503 ? res.json() : null;
    });
    assert.ok(health, '/healthz stayed ready with Redis gone');
    assert.equal(health.status, 'not ready');
    assert.equal(health.store, 'redis');
    assert.match(health.reason, /redis/i);
    const refused = await fetch(`${server.url}/api/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-publisher-key', 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'while-down' }),
    });
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.ok((await refused.json()).error);
  } finally {
    await server?.stop();
    await redis.stop();
  }
});

test('two servers on one Redis, --demo on one: one set of generators, the same videos on both', async () => {
  const redis = await startRedis();
  const store = ['--store', `${redis.url}?key=ssebus:test-videos`];
  let demo;
  let plain;
  try {
    demo = await startServer([...store, '--demo', '--demo-step-ms', '5']);
    plain = await startServer(store);
    // The generators run where --demo is, and only there.
    const statuses = async (server) =>
      (await (await fetch(`${server.url}/api/v1/events/streams`)).json()).streams.map((g) => g.status);
    assert.ok((await statuses(demo)).every((status) => status === 'running'), String(await statuses(demo)));
    assert.ok((await statuses(plain)).every((status) => status === 'stopped'), String(await statuses(plain)));

    // A video recorded on one server is listed by the other.
    const created = await publish(demo, { event: 'video:created', data: { videoId: 'shared-1', status: 'ready' } });
    assert.equal(created.status, 202);
    const listed = await until(async () => {
      const { videos } = await (await fetch(`${plain.url}/api/videos`)).json();
      return videos.find((v) => v.videoId === 'shared-1');
    });
    assert.ok(listed, 'the other server never listed the video');
    assert.equal(listed.status, 'ready');
  } finally {
    await demo?.stop();
    await plain?.stop();
    await redis.stop();
  }
});
