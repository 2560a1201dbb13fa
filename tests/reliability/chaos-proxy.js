// A chaos TCP proxy on 127.0.0.1 (port 0) in front of a server. Driven by a seeded PRNG (the
// same seed gives the same sequence of choices: kinds, durations, and which of the open
// connections, in the order they were accepted, is hit), it damages the server-to-client
// direction of the connections open through it:
//   reset       the connection is cut with a TCP reset, as a network failure would
//   stall       forwarding pauses for a while, then resumes (the client may give up first)
//   stall-reset forwarding pauses for a while, then the connection is reset
//   slow        for a while, bytes are forwarded in small pieces with small delays
// Everything is bounded: a fault lasts at most `maxFaultMs`, a slow connection buffers at
// most `highWaterBytes` before it stops reading from the server, waiting for a connection
// to fault gives up after `waitMs`, and the proxy closes itself after `lifetimeMs`.
import { connect, createServer } from 'node:net';

// mulberry32: a small, fast, seeded PRNG; returns floats in [0, 1).
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const faultKinds = ['reset', 'stall', 'stall-reset', 'slow'];

export async function startChaosProxy(
  targetPort,
  {
    seed = (Date.now() ^ (process.pid << 8)) >>> 0,
    kinds = faultKinds,
    stallMs = [50, 1500], // a stall shorter than the client's heartbeat timeout is survived
    slowMs = [100, 1500],
    slowPieceBytes = [1, 64],
    slowDelayMs = [0, 4],
    highWaterBytes = 256 * 1024,
    maxFaultMs = 5_000,
    waitMs = 10_000,
    lifetimeMs = 15 * 60_000,
    log = false,
  } = {},
) {
  const random = prng(seed);
  const between = ([lo, hi], r = random) => lo + Math.floor(r() * (hi - lo + 1));
  const pairs = new Set();
  const timers = new Set();
  const counts = Object.fromEntries(faultKinds.map((k) => [k, 0]));
  let accepted = 0;
  let nextId = 0;
  let closed = false;

  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, Math.min(ms, maxFaultMs));
    timers.add(t);
    return t;
  };

  const drop = (pair) => {
    if (!pairs.delete(pair)) return;
    for (const t of pair.timers) clearTimeout(t), timers.delete(t);
    pair.timers.clear();
    pair.client.destroy();
    pair.upstream.destroy();
  };

  const pairLater = (pair, ms, fn) => {
    const t = later(ms, () => {
      pair.timers.delete(t);
      if (pairs.has(pair)) fn();
    });
    pair.timers.add(t);
  };

  // Moves what the server sent towards the client, according to the pair's mode.
  const pump = (pair) => {
    if (!pairs.has(pair) || pair.mode === 'stall' || pair.pumping) return;
    if (pair.mode === 'flow') {
      let ok = true;
      while (pair.queue.length) {
        const chunk = pair.queue.shift();
        pair.queued -= chunk.length;
        ok = pair.client.write(chunk) && ok;
      }
      if (!ok) {
        pair.upstream.pause();
        if (!pair.draining) {
          pair.draining = true;
          pair.client.once('drain', () => {
            pair.draining = false;
            if (pairs.has(pair)) pump(pair);
          });
        }
      } else if (pair.queued < highWaterBytes && !pair.draining) {
        pair.upstream.resume();
      }
      return;
    }
    // slow: one small piece, then a small delay (from the pair's own PRNG, so that how many
    // pieces there are does not shift the choices of later faults)
    if (!pair.queue.length) return;
    const size = between(slowPieceBytes, pair.random);
    let chunk = pair.queue[0];
    if (chunk.length > size) {
      pair.queue[0] = chunk.subarray(size);
      chunk = chunk.subarray(0, size);
    } else {
      pair.queue.shift();
    }
    pair.queued -= chunk.length;
    pair.client.write(chunk);
    if (pair.queued < highWaterBytes && !pair.draining) pair.upstream.resume();
    pair.pumping = true;
    pairLater(pair, between(slowDelayMs, pair.random), () => {
      pair.pumping = false;
      pump(pair);
    });
  };

  const server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = {
      id: nextId++,
      client,
      upstream,
      queue: [], // what the server sent and the client has not been given yet
      queued: 0,
      mode: 'flow', // 'flow' | 'stall' | 'slow'
      pumping: false, // a slow piece's delay is running
      draining: false, // waiting for the client socket to drain
      random: null, // the PRNG of a slow period
      timers: new Set(),
    };
    pairs.add(pair);
    client.on('error', () => drop(pair)).on('close', () => drop(pair));
    upstream.on('error', () => drop(pair)).on('close', () => drop(pair));
    client.pipe(upstream);
    upstream.on('data', (chunk) => {
      pair.queue.push(chunk);
      pair.queued += chunk.length;
      if (pair.queued >= highWaterBytes) upstream.pause();
      pump(pair);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const reset = (pair) => {
    pairs.delete(pair);
    for (const t of pair.timers) clearTimeout(t), timers.delete(t);
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
  };

  const apply = (pair, kind) => {
    counts[kind]++;
    if (log) console.log(`chaos: ${kind} on connection ${pair.id}`);
    switch (kind) {
      case 'reset':
        reset(pair);
        break;
      case 'stall':
        pair.mode = 'stall';
        pairLater(pair, between(stallMs), () => {
          pair.mode = 'flow';
          pump(pair);
        });
        break;
      case 'stall-reset':
        pair.mode = 'stall';
        pairLater(pair, between(stallMs), () => reset(pair));
        break;
      case 'slow':
        pair.mode = 'slow';
        pair.random = prng(Math.floor(random() * 4294967296));
        pump(pair);
        pairLater(pair, between(slowMs), () => {
          pair.mode = 'flow';
          pump(pair); // a piece still in flight pumps again when its delay ends
        });
        break;
      default:
        throw new Error(`unknown fault ${kind}`);
    }
  };

  const selfClose = setTimeout(() => proxy.close(), lifetimeMs);
  selfClose.unref();

  const proxy = {
    seed,
    port: server.address().port,
    url: `http://127.0.0.1:${server.address().port}`,
    counts,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    get faults() {
      return Object.values(counts).reduce((a, b) => a + b, 0);
    },
    // One fault, of a PRNG-chosen kind, on a PRNG-chosen connection among those open and
    // flowing normally; waits (bounded) for one to exist. Returns the kind, or null if none
    // appeared in time.
    async fault() {
      const deadline = Date.now() + waitMs;
      for (let tries = 0; !closed && Date.now() < deadline && tries < 10_000; tries++) {
        const candidates = [...pairs].filter((p) => p.mode === 'flow').sort((a, b) => a.id - b.id);
        if (candidates.length) {
          const pair = candidates[Math.floor(random() * candidates.length)];
          const kind = kinds[Math.floor(random() * kinds.length)];
          apply(pair, kind);
          return kind;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return null;
    },
    // Resets every connection open now.
    cutAll() {
      const n = pairs.size;
      for (const pair of [...pairs]) reset(pair);
      return n;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      clearTimeout(selfClose);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const pair of [...pairs]) reset(pair);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
