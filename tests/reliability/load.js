// Load for the reliability tests: the fan-out client of bench/fanout (built by scripts/build
// as build/native/ssebus-fanout), and readings of the server process from /proc.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { publisherKey } from '../support/server.js';

export const fanoutBinary = fileURLToPath(new URL('../../build/native/ssebus-fanout', import.meta.url));

// Runs ssebus-fanout against `server` (holding `connections` streams of /api/events and
// publishing `rate` events/s for `duration` s through POST /api/events) and returns its JSON
// report. `padBytes` pads every payload; `extra` are more flags (--stalled, --trickle, ...).
export function runFanout(server, { connections, rate, duration, drain = 2, idle = 1, padBytes = 0, extra = [] }) {
  const pad = padBytes > 0 ? `,"pad":"${'x'.repeat(padBytes)}"` : '';
  const args = [
    '--port', String(server.port),
    '--server-pid', String(server.proc.pid),
    '--connections', String(connections),
    '--rate', String(rate),
    '--duration', String(duration),
    '--drain', String(drain),
    '--idle', String(idle),
    '--publish-header', `Authorization: Bearer ${publisherKey}`,
    '--publish-body-template', `{"event":"load:tick","data":{"ts":{{ts}},"seq":{{seq}}${pad}}}`,
    '--json',
    ...extra,
  ];
  // Bounded by the client itself (every phase has a deadline); this is only a backstop.
  const timeout = (duration + drain + idle + 180) * 1000;
  return new Promise((resolve, reject) => {
    execFile(fanoutBinary, args, { timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`ssebus-fanout failed: ${error.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`ssebus-fanout printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}

// The hard limit on open files that this process's children may raise their soft one to.
export function hardNofile() {
  const limit = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return limit === 'unlimited' ? Infinity : Number(limit);
}

// Open file descriptors and resident memory (KiB) of a process.
export function processReading(pid) {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return { fds, rssKiB };
}

export async function metrics(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(ssebus_\w+(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export async function stats(server) {
  return (await fetch(`${server.url}/api/events/stats`)).json();
}

export const mib = (kib) => (kib / 1024).toFixed(1);
