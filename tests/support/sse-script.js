// A scripted SSE endpoint on 127.0.0.1: each request is handed to the test's handler
// together with its number, and recorded (path, headers, whether the client aborted it).
import http from 'node:http';

export async function scriptedServer(handler) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const record = { url: req.url, headers: req.headers, aborted: false };
    record.closed = new Promise((resolve) =>
      res.on('close', () => {
        record.aborted = !res.writableFinished; // the client went away before the end
        resolve();
      }),
    );
    requests.push(record);
    handler(req, res, requests.length - 1);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Starts an SSE response: 200, text/event-stream, headers flushed. */
export function open(res, extraHeaders = {}) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...extraHeaders });
  res.flushHeaders();
  return res;
}

/** One event in wire format. */
export function frame({ id, event, data, retry }) {
  let out = '';
  if (retry !== undefined) out += `retry: ${retry}\n`;
  if (id !== undefined) out += `id: ${id}\n`;
  if (event !== undefined) out += `event: ${event}\n`;
  if (data !== undefined) {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    for (const line of text.split('\n')) out += `data: ${line}\n`;
  }
  return out + '\n';
}

/** Resolves once `predicate()` holds; rejects after `ms` with `what` in the message. */
export async function waitFor(predicate, what = 'the condition', ms = 5000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Gives pending I/O and timers a moment (for "nothing more happens" checks). */
export function settle(ms = 50) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
