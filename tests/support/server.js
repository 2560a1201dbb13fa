// Starts the built ssebus-server on 127.0.0.1 (port 0 unless given) and stops it.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const serverBinary = fileURLToPath(new URL('../../build/native/ssebus-server', import.meta.url));
export const publisherKey = 'test-publisher-key';
export const jwtSecret = 'test-jwt-secret';

// The first URL of the listening line: http://127.0.0.1:8080 or http://[::1]:8080.
export const listeningPattern = /listening on (http:\/\/(?:[\d.]+|\[[0-9a-fA-F:.]+\]):\d+)/;

// A data directory that outlives a server, for restarts on the same history: pass it as
// `startServer(args, { dataDir })` to each run, and `remove()` it at the end.
export function keptDataDir() {
  const root = mkdtempSync(join(tmpdir(), 'ssebus-kept-'));
  return { path: join(root, 'data'), remove: () => rmSync(root, { recursive: true, force: true }) };
}

// Each server gets a data directory of its own, removed when it exits, unless `args`
// names one (`--data-dir`) or `dataDir` is given (a `keptDataDir()`, or its path), which the
// caller keeps and removes. `raiseNofile`: the soft open-files limit goes up to the hard
// one first (load tests). `env`: more environment variables for the server.
export async function startServer(args = [], { port = 0, raiseNofile = false, env = {}, dataDir = null } = {}) {
  const keptDir = typeof dataDir === 'string' ? dataDir : dataDir?.path;
  const ownDataDir = args.includes('--data-dir') || keptDir ? null : mkdtempSync(join(tmpdir(), 'ssebus-data-'));
  const argv = ['--address', '127.0.0.1', '--port', String(port), '--publisher-key', publisherKey, '--jwt-secret', jwtSecret,
    ...(ownDataDir ? ['--data-dir', join(ownDataDir, 'data')] : []), ...(keptDir ? ['--data-dir', keptDir] : []), ...args];
  const options = { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...env } };
  const proc = raiseNofile
    ? spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'bash', serverBinary, ...argv], {
        ...options,
      })
    : spawn(serverBinary, argv, options);
  if (ownDataDir) proc.on('exit', () => rmSync(ownDataDir, { recursive: true, force: true }));
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ssebus-server did not start:\n${log}`)), 10_000);
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = listeningPattern.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ssebus-server exited with ${code}:\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    log: () => log,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function publish(server, body, key = publisherKey) {
  const res = await fetch(`${server.url}/api/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// A client token as the server issues them: HS256 over {sub, sid, iat, exp}.
export function signToken({ user, session, ttlSeconds = 3600, secret = jwtSecret }) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: user, sid: session, iat, exp: iat + ttlSeconds })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

// An SSE stream held open for as long as the test likes (no reconnect): resolves once the
// response head arrived, with what it has received so far, live. `url`: a server's or a
// proxy's base URL. Each event is { id, event, data } (data parsed JSON); `comments` counts
// the comment lines (the opening one, then heartbeats). A status other than 200 resolves
// too, with `status`, `headers` and the body in `text`, and nothing more arrives.
export function openStream(url, { path = '/api/events', lastEventId, headers = {} } = {}) {
  const controller = new AbortController();
  const stream = { status: 0, headers: null, text: '', events: [], comments: 0, ended: false, error: null };
  let resolveEnd;
  stream.end = new Promise((resolve) => (resolveEnd = resolve));
  stream.close = () => controller.abort();
  const requestHeaders = { accept: 'text/event-stream', ...headers };
  if (lastEventId !== undefined) requestHeaders['last-event-id'] = String(lastEventId);
  return fetch(`${url}${path}`, { headers: requestHeaders, signal: controller.signal }).then(async (res) => {
    stream.status = res.status;
    stream.headers = res.headers;
    if (res.status !== 200) {
      stream.text = await res.text();
      stream.ended = true;
      resolveEnd();
      return stream;
    }
    (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      let current = {};
      try {
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk, { stream: true });
          let nl;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).replace(/\r$/, '');
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (current.data !== undefined) stream.events.push({ id: current.id, event: current.event ?? 'message', data: JSON.parse(current.data) });
              current = {};
            } else if (line.startsWith(':')) stream.comments++;
            else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
              else if (field === 'id' || field === 'event') current[field] = value;
            }
          }
        }
      } catch (error) {
        if (error.name !== 'AbortError') stream.error = error;
      }
      stream.ended = true;
      resolveEnd();
    })();
    return stream;
  });
}
