// ssebus: the fetch transport. One run is one HTTP request whose streamed body is fed,
// chunk by chunk, to the core's SSE parser in WebAssembly; the events come back as
// addresses in the heap. The type name is looked up by its bytes (no string made for a
// known name), and the id and data are decoded in one call when the parser stores them
// side by side.
//
// It knows nothing of ids already delivered, backoff or bus names: it reports raw events
// and what became of the request to the policy's sink (see bridge-policy.js).

import { loadCore } from './core.js';

const PIECE = 1 << 16; // bytes handed to the parser per call: bounds its input buffer
const TYPES_CACHED = 256; // decoded type names kept per connection
const TYPE_BYTES_CACHED = 128; // longer type names are decoded each time

let decoder = null;

function utf8(heap, from, to) {
  return decoder.decode(heap.subarray(from, to));
}

// Whether the `len` bytes at `at` are the ASCII string `s`.
function isAsciiString(heap, at, len, s) {
  if (s.length !== len) return false;
  for (let i = 0; i < len; i++) {
    const b = heap[at + i];
    if (b !== s.charCodeAt(i) || b > 127) return false;
  }
  return true;
}

function isAscii(heap, at, len) {
  for (let i = 0; i < len; i++) if (heap[at + i] > 127) return false;
  return true;
}

// One request. `closed` is set by close(), from the policy or from a listener inside a
// delivery: the loops below check it after every await and every event.
class FetchRun {
  closed = false;
  opened = false;
  whole = true; // every event parsed so far was handed on (false in the middle of a batch)
  prevId = ''; // the id string of the previous event, to skip decoding a repeated one
  ctrl = null;

  constructor(transport, sink) {
    this.transport = transport;
    this.sink = sink;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.ctrl?.abort();
    this.transport.ended(this);
  }
}

export class FetchTransport {
  /** The policy may watch for silence: every chunk, comments included, is reported. */
  watchesBytes = true;

  #spec;
  #core = null;
  #parser = null;
  #types = new Map(); // hash of a type name's bytes -> { bytes, name, next }

  constructor(spec) {
    this.#spec = spec;
    // Decodes field values as they are: a BOM inside the stream is data, not a marker.
    decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
  }

  /**
   * Starts one run: `request` is { url, lastEventId, headers } (headers as sorted
   * [name, value] pairs); returns the run, whose close() ends it.
   */
  start(request, sink) {
    const run = new FetchRun(this, sink);
    this.#run(run, request);
    return run;
  }

  async #run(run, request) {
    const spec = this.#spec;
    const sink = run.sink;
    let response;
    try {
      if (this.#core === null) {
        const core = await loadCore();
        if (run.closed) return;
        this.#core = core;
      }
      if (this.#parser === null) this.#parser = new this.#core.SseParser();
      // The parser starts each run without an id, so an event that sets none is told apart
      // from one that repeats the resume id; lastEventId is what the server hears.
      this.#parser.reset('');
      const headers = { accept: 'text/event-stream' };
      for (const [name, value] of request.headers) headers[name] = value;
      if (request.lastEventId !== '') headers['last-event-id'] = request.lastEventId;
      run.ctrl = new AbortController();
      response = await fetch(request.url, {
        headers,
        cache: 'no-store',
        credentials: spec.withCredentials ? 'include' : 'same-origin',
        signal: run.ctrl.signal,
      });
    } catch (error) {
      if (!run.closed) sink.fail(error);
      return;
    }
    if (run.closed) return;
    if (response.status !== 200) {
      const error = new Error(`ssebus: EventBridge: ${request.url} answered HTTP ${response.status}, not 200`);
      return sink.fail(error, response.status);
    }
    const type = response.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\s*(;|$)/i.test(type) || response.body === null) {
      const error = new Error(
        `ssebus: EventBridge: ${request.url} answered Content-Type ${JSON.stringify(type)}, not text/event-stream`,
      );
      return sink.fail(error, response.status);
    }
    const reader = response.body.getReader();
    run.opened = true;
    sink.open();
    try {
      for (;;) {
        if (run.closed) return;
        const { done, value } = await reader.read();
        if (run.closed) return;
        if (done) break;
        this.#feed(run, value);
      }
    } catch (error) {
      if (!run.closed) sink.fail(error);
      return;
    }
    this.#parser.finish(); // an event without its blank line is dropped
    sink.fail(new Error(`ssebus: EventBridge: ${request.url} ended the stream`));
  }

  #feed(run, chunk) {
    const core = this.#core;
    const parser = this.#parser;
    const sink = run.sink;
    const receivedAt = Date.now();
    sink.alive(receivedAt);
    for (let off = 0; off < chunk.length; off += PIECE) {
      const piece = chunk.length <= PIECE ? chunk : chunk.subarray(off, off + PIECE);
      const ptr = parser.inputBuffer(piece.length);
      core.HEAPU8.set(piece, ptr); // read HEAPU8 after the call: the heap may have grown
      const count = parser.feed(piece.length);
      if (count === 0) continue;
      run.whole = false;
      const at = parser.events() >>> 2;
      for (let e = at; e < at + 6 * count; e += 6) {
        // Listeners may grow the heap: read the views afresh for each event.
        const words = core.HEAPU32;
        const heap = core.HEAPU8;
        const typeLen = words[e + 1];
        const dataAt = words[e + 2];
        const dataEnd = dataAt + words[e + 3];
        const idAt = words[e + 4];
        const idLen = words[e + 5];
        const type = typeLen === 0 ? 'message' : this.#typeName(heap, words[e], typeLen);
        let id = run.prevId;
        let data;
        if (idLen === 0) {
          id = '';
          data = utf8(heap, dataAt, dataEnd);
        } else if (isAsciiString(heap, idAt, idLen, id)) {
          data = utf8(heap, dataAt, dataEnd);
        } else if (dataEnd === idAt && isAscii(heap, idAt, idLen)) {
          // Data and id side by side: one decode, two slices.
          const both = utf8(heap, dataAt, idAt + idLen);
          data = both.slice(0, both.length - idLen);
          id = both.slice(both.length - idLen);
        } else {
          data = utf8(heap, dataAt, dataEnd);
          id = utf8(heap, idAt, idAt + idLen);
        }
        run.prevId = id;
        sink.event(type, data, id, receivedAt);
        if (run.closed) return; // closed or stopped by a listener
      }
      run.whole = true;
    }
  }

  // A type name from its bytes, without making a string for a name seen before.
  #typeName(heap, at, len) {
    if (len > TYPE_BYTES_CACHED) return utf8(heap, at, at + len);
    let hash = len;
    for (let i = 0; i < len; i++) hash = Math.imul(hash ^ heap[at + i], 0x01000193);
    let first = this.#types.get(hash);
    for (let entry = first; entry !== undefined; entry = entry.next) {
      const bytes = entry.bytes;
      if (bytes.length !== len) continue;
      let i = 0;
      while (i < len && bytes[i] === heap[at + i]) i++;
      if (i === len) return entry.name;
    }
    const bytes = heap.slice(at, at + len);
    const name = decoder.decode(bytes);
    if (this.#types.size >= TYPES_CACHED) {
      this.#types.clear();
      first = undefined;
    }
    this.#types.set(hash, { bytes, name, next: first });
    return name;
  }

  // A run ended: what the parser learnt that no event carried goes to the policy.
  ended(run) {
    const parser = this.#parser;
    if (parser === null) return;
    const retry = parser.retry();
    if (retry >= 0) run.sink.retry(retry);
    // An `id` on a block without data still moves the resume point (unless a listener
    // stopped the run halfway through a batch: the rest of it was never delivered).
    if (run.whole && run.opened) {
      const id = parser.lastEventId();
      if (id !== '') run.sink.resume(id);
    }
  }

  /** Frees the parser's WebAssembly memory. */
  dispose() {
    this.#parser?.delete();
    this.#parser = null;
  }
}
