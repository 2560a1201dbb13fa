// ssebus: the native EventSource transport. One run is one EventSource, closed at its
// first error (a native EventSource retries some failures by itself and gives up on
// others; the policy's backoff decides instead). It cannot send headers, so it resumes
// with `?lastEventId=`, and it only delivers the event names it was told to listen to.

class EventSourceRun {
  closed = false;
  #es = null;
  #listening = new Set();
  #onEvent;

  constructor(EventSourceClass, request, sink, withCredentials) {
    const url = new URL(request.url);
    if (request.lastEventId !== '') url.searchParams.set('lastEventId', request.lastEventId);
    try {
      this.#es = new EventSourceClass(url.href, { withCredentials });
    } catch (error) {
      queueMicrotask(() => {
        if (!this.closed) sink.fail(error);
      });
      return;
    }
    this.#onEvent = (event) => {
      // Only MessageEvents carry data: a server event named "open" or "error" does not
      // turn the EventSource's own events into bus events.
      if (this.closed || typeof event.data !== 'string') return;
      sink.event(event.type, event.data, event.lastEventId ?? '', Date.now());
    };
    this.#es.addEventListener('open', () => {
      if (!this.closed) sink.open();
    });
    this.#es.addEventListener('error', (event) => {
      if (this.closed) return;
      const status = typeof event?.code === 'number' ? event.code : undefined;
      const detail = typeof event?.message === 'string' && event.message !== '' ? `: ${event.message}` : '';
      sink.fail(new Error(`ssebus: EventBridge: the EventSource for ${request.url} failed${detail}`), status);
    });
    this.listen(request.listens);
  }

  /** Also delivers these event names (a bridge with other names joined the connection). */
  listen(names) {
    if (this.#es === null) return;
    for (const name of names) {
      if (this.#listening.has(name)) continue;
      this.#listening.add(name);
      this.#es.addEventListener(name, this.#onEvent);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.#es?.close();
  }
}

export class EventSourceTransport {
  /** An EventSource hides comments, so silence cannot be told from a quiet stream. */
  watchesBytes = false;

  #EventSource;
  #withCredentials;

  constructor(spec, EventSourceClass) {
    this.#EventSource = EventSourceClass;
    this.#withCredentials = spec.withCredentials;
  }

  /** Starts one run: `request` is { url, lastEventId, listens }. */
  start(request, sink) {
    return new EventSourceRun(this.#EventSource, request, sink, this.#withCredentials);
  }

  dispose() {}
}
