// A redis-server of the test's own on 127.0.0.1 (a free port, a temporary directory, no RDB
// snapshots), and a small RESP client to talk to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { sleep } from './wait.js';

export const redisBinary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
// The stream key the server uses when the store URL names none.
export const defaultStreamKey = 'ssebus:events';

async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

// One command over a fresh connection: resolves to the reply (strings, numbers, null,
// arrays of those), rejects on a connection error or an error reply.
export function command(port, args, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(new Error(`redis ${args[0]}: no reply`)), timeoutMs);
    const done = (error, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.on('error', (error) => done(error));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer, 0);
      if (!parsed) return;
      if (parsed.value instanceof Error) done(parsed.value);
      else done(null, parsed.value);
    });
    const parts = args.map((a) => Buffer.from(String(a)));
    socket.write(Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from('\r\n')])]));
  });
}

// One RESP2 reply at `at`: { value, end }, or null while incomplete. An error reply's value
// is an Error (inside an array too).
function parseReply(buffer, at) {
  const eol = buffer.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buffer[at]);
  const line = buffer.toString('utf8', at + 1, eol);
  const end = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end };
    case '-':
      return { value: new Error(`redis: ${line}`), end };
    case ':':
      return { value: Number(line), end };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end };
      if (buffer.length < end + length + 2) return null;
      return { value: buffer.toString('utf8', end, end + length), end: end + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end };
      const items = [];
      let offset = end;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, offset);
        if (!item) return null;
        items.push(item.value);
        offset = item.end;
      }
      return { value: items, end: offset };
    }
    default:
      throw new Error(`redis: a reply of unknown type ${JSON.stringify(type)}`);
  }
}

// Starts redis-server. `appendonly`: keep an AOF in the directory (what survives a kill -9
// and a restart). The result's `restart()` starts it again on the same port and directory;
// `stop()` also removes the directory.
export async function startRedis({ appendonly = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ssebus-redis-'));
  const port = await freePort();
  const argv = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', appendonly ? 'yes' : 'no',
    '--daemonize', 'no', '--logfile', ''];
  let proc = null;
  let exited = null;
  let log = '';

  async function launch() {
    proc = spawn(redisBinary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const thisProc = proc;
    exited = new Promise((resolve) => thisProc.on('exit', (code, signal) => resolve({ code, signal })));
    thisProc.stdout.on('data', (chunk) => (log += chunk));
    thisProc.stderr.on('data', (chunk) => (log += chunk));
    let gone = false;
    exited.then(() => (gone = true));
    // Ready when it answers PING (with an AOF, after it has loaded it).
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (gone) throw new Error(`redis-server exited at start:\n${log}`);
      const reply = await command(port, ['PING'], { timeoutMs: 1_000 }).catch((error) => error);
      if (reply === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING (${reply?.message ?? reply}):\n${log}`);
      await sleep(20);
    }
  }

  const running = () => proc && proc.exitCode === null && proc.signalCode === null;
  async function end(signal) {
    if (running()) proc.kill(signal);
    return exited;
  }

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    log: () => log,
    get pid() {
      return proc.pid;
    },
    // The reply to one command: cli('XRANGE', key, '-', '+').
    cli: (...args) => command(port, args),
    // Killed, no goodbye: what an unflushed AOF buffer would lose is lost.
    kill9: () => end('SIGKILL'),
    async restart() {
      await end('SIGTERM');
      await launch();
    },
    async stop() {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The stream's entries after `after` (exclusive; '-' for all) in id order, read in pages,
// each as { id, fields } with the entry id's first part (the event id) as `id`.
export async function readStreamEntries(redis, key = defaultStreamKey, { after = '-', pageSize = 1000 } = {}) {
  const entries = [];
  let start = after === '-' ? '-' : `(${after}-0`;
  for (;;) {
    const page = await redis.cli('XRANGE', key, start, '+', 'COUNT', pageSize);
    for (const [entryId, flat] of page) {
      const fields = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
      entries.push({ id: entryId.split('-')[0], fields });
    }
    if (page.length < pageSize) return entries;
    start = `(${page.at(-1)[0]}`;
  }
}
