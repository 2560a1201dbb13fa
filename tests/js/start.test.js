// `npm start` (scripts/run): flags after `npm start --` replace its defaults instead of
// repeating them. It runs the whole script, bootstrap and build included; with everything
// built, both are quick no-ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningPattern } from '../support/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'ssebus-start-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

// Runs scripts/run with `args` until it prints its listening line; scripts/run execs the
// server, so the process it gives is the server's.
async function npmStart(args, env = {}) {
  const proc = spawn(join(root, 'scripts/run'), args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SSEBUS_DATA_DIR: join(scratch, 'data'), ...env },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not start:\n${log}`)), 120_000);
    const read = (chunk) => {
      log += chunk;
      const m = listeningPattern.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', read);
    proc.stderr.on('data', read);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { url, log: () => log, stop: () => (proc.kill('SIGTERM'), exited) };
}

test('npm start -- --port P serves on P (the default port is replaced, not repeated)', async () => {
  const port = await freePort();
  const server = await npmStart(['--port', String(port)]);
  try {
    assert.equal(server.url, `http://127.0.0.1:${port}`);
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    // The demo is on, as npm start promises.
    assert.match(server.log(), /demo on/);
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

test('npm start -- --address 127.0.0.1 --static-dir D serves D', async () => {
  const dir = join(scratch, 'site');
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>own site</title><p>served from D</p>');
  const port = await freePort();
  const server = await npmStart(['--address', '127.0.0.1', '--static-dir', dir], { SSEBUS_PORT: String(port) });
  try {
    assert.equal(server.url, `http://127.0.0.1:${port}`);
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /served from D/);
    assert.ok(server.log().includes(`serving ${dir}`), server.log());
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
