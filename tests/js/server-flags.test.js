// ssebus-server's flags: every one with a bad value fails at start with a clear message and
// exit code 2 (or CLI11's own), never a signal; host names, IPv6 URLs, the static and data
// directories, and --demo on an address that is not loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listeningPattern, serverBinary, startServer } from '../support/server.js';

const scratch = mkdtempSync(join(tmpdir(), 'ssebus-flags-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const aFile = join(scratch, 'a-file');
writeFileSync(aFile, 'not a directory');

function run(args, env = {}) {
  return spawnSync(serverBinary, ['--data-dir', join(scratch, 'data'), ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, ...env },
  });
}

// Flags whose every value is valid text (secrets, keys, origins).
const anyText = new Set(['--help', '--jwt-secret', '--publisher-key', '--mux-secret', '--cors-origins']);

// One bad value for every other flag, as it is written on the command line.
const badValues = {
  '--address': ['--address', 'no-such-host.invalid'],
  '--port': ['--port', '70000'],
  '--static-dir': ['--static-dir', join(scratch, 'missing')],
  '--data-dir': ['--data-dir', join(aFile, 'data')],
  '--history-size': ['--history-size', '0'],
  '--history-max-age': ['--history-max-age', 'abc'],
  '--store': ['--store', 'bogus'],
  '--store-batch': ['--store-batch', '0'],
  '--store-sync': ['--store-sync', 'sometimes'],
  '--lag-wait-ms': ['--lag-wait-ms', '-1'],
  '--heartbeat-ms': ['--heartbeat-ms', 'often'],
  '--stream-max-age-ms': ['--stream-max-age-ms', '-1'],
  '--retry-ms': ['--retry-ms', '-5'],
  '--queue-max-bytes': ['--queue-max-bytes', '10'],
  '--queue-max-events': ['--queue-max-events', '0'],
  '--stream-send-buffer': ['--stream-send-buffer', 'lots'],
  '--body-limit': ['--body-limit', '0'],
  '--header-timeout-ms': ['--header-timeout-ms', '5'],
  '--max-streams-per-user': ['--max-streams-per-user', '0'],
  '--threads': ['--threads', '0'],
  '--demo': ['--demo=maybe'],
  '--demo-public-key': ['--demo-public-key=perhaps'],
  '--demo-step-ms': ['--demo-step-ms', '0'],
  '--log-level': ['--log-level', 'verbose'],
  '--log-format': ['--log-format', 'xml'],
  '--quiet': ['--quiet=loud'],
};

function assertRefused(result, flag) {
  assert.equal(result.signal, null, `${flag}: ended by ${result.signal}\n${result.stderr}`);
  assert.ok(result.status === 2 || (result.status >= 100 && result.status < 128),
    `${flag}: exit ${result.status}, expected 2 or CLI11's code\n${result.stderr}`);
  const first = result.stderr.split('\n')[0];
  assert.ok(first.includes(flag), `${flag}: the message does not name the flag: ${first}`);
  assert.doesNotMatch(result.stderr, /terminate called|Aborted|what\(\)/);
}

test('every flag in --help has a bad-value case, and each bad value is refused cleanly', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  const flags = [...help.stdout.matchAll(/^\s+(?:-\w,)?(--[a-z0-9-]+)/gm)].map((m) => m[1]);
  assert.ok(flags.length > 20, help.stdout);
  for (const flag of flags) {
    if (anyText.has(flag)) continue;
    assert.ok(badValues[flag], `no bad-value case for ${flag}; add one to this test`);
    assertRefused(run(badValues[flag]), flag);
  }
});

test('bad values from the environment are refused the same way', () => {
  assertRefused(run([], { SSEBUS_PORT: 'eighty' }), '--port');
  assertRefused(run([], { SSEBUS_ADDRESS: 'no-such-host.invalid' }), '--address');
  assertRefused(run([], { SSEBUS_LOG_LEVEL: 'loud' }), '--log-level');
  assertRefused(run([], { SSEBUS_DEMO: 'maybe' }), '--demo');
  assertRefused(run(['--data-dir', '']), '--data-dir');
  assertRefused(run([], { SSEBUS_STORE: 'bogus' }), '--store');
});

test('--store-sync: the store says what a commit survives', async () => {
  for (const value of ['', 'FULL', 'off', '1'])
    assertRefused(run(['--store-sync', value, '--port', '0']), '--store-sync');
  for (const [args, durability] of [[[], 'crash'], [['--store-sync', 'normal'], 'crash'],
    [['--store-sync', 'full'], 'power loss'], [['--store', 'memory'], 'none']]) {
    const server = await startServer(args).catch((e) => assert.fail(`${args.join(' ')}: ${e.message}`));
    try {
      const stats = await (await fetch(`${server.url}/api/events/stats`)).json();
      assert.equal(stats.store.durability, durability, args.join(' ') || 'the default');
    } finally {
      await server.stop();
    }
  }
});

test('--store and --history-max-age: each bad form is refused, each good one serves', async () => {
  for (const value of ['bogus', '', 'SQLITE', 'memory:', 'redis', 'http://127.0.0.1:6379'])
    assertRefused(run(['--store', value, '--port', '0']), '--store');
  for (const value of ['-1', 'abc', '10y', '5 m', 's', '99999999999999999999d'])
    assertRefused(run(['--history-max-age', value, '--port', '0']), '--history-max-age');
  for (const args of [['--store', 'memory'], ['--store', 'sqlite'], ['--history-max-age', '90'], ['--history-max-age', '2s'],
    ['--history-max-age', '5m'], ['--history-max-age', '1h'], ['--history-max-age', '7d']]) {
    const server = await startServer(args).catch((e) => assert.fail(`${args.join(' ')}: ${e.message}`));
    try {
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200, args.join(' '));
    } finally {
      await server.stop();
    }
  }
});

// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
async function unusedPort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('--store redis://: a bad URL, or a Redis that cannot be reached at start, is one line and exit 2', async () => {
  // The scheme is checked with the flag; CLI11's own exit code or 2.
  for (const value of ['rediss://127.0.0.1:6379', 'redis:/127.0.0.1:6379', 'REDIS://127.0.0.1:6379'])
    assertRefused(run(['--store', value, '--port', '0']), '--store');
  const port = await unusedPort();
  for (const [value, part] of [
    ['redis://127.0.0.1:0', /the port must be/],
    ['redis://127.0.0.1:70000', /the port must be/],
    ['redis://127.0.0.1:6379/db', /database number/],
    ['redis://127.0.0.1:6379/-1', /database number/],
    ['redis://127.0.0.1:6379?db=1', /unknown parameter/],
    [`redis://127.0.0.1:${port}`, /cannot reach Redis/],
  ]) {
    const r = run(['--store', value, '--port', '0']);
    assert.equal(r.signal, null, `${value}: ended by ${r.signal}\n${r.stderr}`);
    assert.equal(r.status, 2, `${value}: exit ${r.status}\n${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${value}: ${r.stderr}`);
    assert.ok(lines[0].startsWith('ssebus-server: --store '), `${value}: ${lines[0]}`);
    assert.ok(lines[0].includes(value), `${value}: the message does not name the URL: ${lines[0]}`);
    assert.match(lines[0], part, value);
    assert.doesNotMatch(r.stderr, /terminate called|Aborted|what\(\)/);
  }
  const help = run(['--help']).stdout;
  assert.match(help, /redis:\/\/host:port/);
  assert.match(help, /default: 1000000 with --store sqlite or\s+redis/);
});

test('an address that cannot be listened on is one line and exit 2', () => {
  // 192.0.2.1 (TEST-NET-1) is never an address of this machine.
  const r = run(['--address', '192.0.2.1', '--port', '0']);
  assert.equal(r.signal, null);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^ssebus-server: cannot listen on 192\.0\.2\.1:0: .+\n$/);
});

test('--static-dir that does not exist fails at start and names the directory', () => {
  const missing = join(scratch, 'no-such-dir');
  const r = run(['--static-dir', missing, '--port', '0']);
  assert.notEqual(r.status, 0);
  assert.ok(r.stderr.includes(missing), r.stderr);
});

test('a data directory that cannot be created fails at start with one line naming it', () => {
  for (const dir of [aFile, join(aFile, 'data')]) {
    const r = run(['--data-dir', dir, '--port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(dir), r.stderr);
  }
});

test('--address localhost resolves the name and serves', async () => {
  const server = await startServer(['--address', 'localhost']).catch((e) => assert.fail(e.message));
  try {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.match(server.log(), /listening on http:\/\/(127\.0\.0\.1|\[::1\]):\d+/);
  } finally {
    await server.stop();
  }
});

test('an IPv6 address is printed as a URL: http://[::1]:port', async (t) => {
  let server;
  try {
    server = await startServer(['--address', '::1']);
  } catch (e) {
    if (/cannot listen on ::1/.test(e.message)) return t.skip('no IPv6 loopback here');
    throw e;
  }
  try {
    assert.match(server.url, /^http:\/\/\[::1\]:\d+$/);
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
  } finally {
    await server.stop();
  }
});

test('--demo on an address that is not loopback needs --demo-public-key, which --help explains', () => {
  const r = run(['--demo', '--address', '0.0.0.0', '--port', '0']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--demo-public-key/);
  assert.match(r.stderr, /publisher key/);
  const help = run(['--help']).stdout;
  assert.match(help, /--demo-public-key/);
  assert.match(help, /anyone on the network gets the\s+publisher key/);
});

test('without --mux-secret the start says that webhooks are refused', async () => {
  const server = await startServer();
  try {
    assert.match(server.log(), /Mux webhooks are refused .*no --mux-secret is set/);
  } finally {
    await server.stop();
  }
  const withSecret = await startServer(['--mux-secret', 'a-mux-secret']);
  try {
    assert.doesNotMatch(withSecret.log(), /webhooks are refused/);
  } finally {
    await withSecret.stop();
  }
});

// A server with no secret given, on a data directory of the test's choosing.
async function startBare(dataDir, args = []) {
  const proc = spawn(serverBinary, ['--address', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (c) => {
      log += c;
      const m = listeningPattern.exec(log);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`exited with ${code}: ${log}`)));
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return { url, log: () => log, stop: () => (proc.kill('SIGTERM'), exited) };
}

test('generated secrets are kept in the data directory (0700), so keys and tokens survive a restart', async () => {
  const dataDir = join(scratch, 'kept', 'data');
  const first = await startBare(dataDir, ['--demo']);
  let token;
  let key;
  try {
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
    assert.equal(statSync(join(dataDir, 'secrets.json')).mode & 0o777, 0o600);
    key = secrets.publisher_key;
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.match(secrets.jwt_secret, /^[0-9a-f]{32}$/);
    assert.match(secrets.mux_secret, /^[0-9a-f]{32}$/);
    // The start says which secrets were made up, never their values.
    assert.match(first.log(), /secrets_generated=jwt_secret,publisher_key,mux_secret/);
    for (const value of Object.values(secrets)) assert.ok(!first.log().includes(value));
    const login = await fetch(`${first.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ana' }),
    });
    assert.equal(login.status, 200);
    token = (await login.json()).token;
    assert.ok(token);
  } finally {
    await first.stop();
  }

  const second = await startBare(dataDir, ['--demo']);
  try {
    assert.match(second.log(), /secrets_kept=jwt_secret,publisher_key,mux_secret/);
    const res = await fetch(`${second.url}/api/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'kept:key', data: {} }),
    });
    assert.equal(res.status, 202);
    // The first run's token still opens a user's stream.
    const controller = new AbortController();
    const stream = await fetch(`${second.url}/api/sse?token=${encodeURIComponent(token)}`, { signal: controller.signal });
    assert.equal(stream.status, 200);
    controller.abort();
  } finally {
    await second.stop();
  }
});
