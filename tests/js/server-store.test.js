// ssebus-server on its SQLite store, as a process: each bad events.db stops the start with
// exit code 2 and one line that names the file and what to do, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverBinary, startServer } from '../support/server.js';

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
