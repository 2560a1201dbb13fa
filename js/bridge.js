// ssebus: EventBridge, Server-Sent Events in, bus events out.
//
// The bridge is the public face of four modules, cut the way Mercure cuts its subscriber
// from its transports:
//   bridge-options.js      the options, checked once, into a frozen spec;
//   bridge-policy.js       the reconnect policy: shared connections and their bridges,
//                          backoff, resume ids, duplicates, names, visibility;
//   bridge-fetch.js        the fetch transport (a streamed body, the core's SSE parser);
//   bridge-eventsource.js  the native EventSource transport;
//   bridge-tabs.js         crossTab: one stream for every tab, loaded when a bridge asks.
// bridge-debug.js holds the `debug` option's logger. Nothing here touches `window` or
// `document` before connect().

import { describe } from './util.js';
import { refuse, readOptions } from './bridge-options.js';
import { Attachment, connectionFor, emitTo } from './bridge-policy.js';

const disposeSymbol = Symbol.dispose ?? Symbol.for('Symbol.dispose');

/**
 * Turns a Server-Sent Events stream into events on a bus. See README.md, "The bridge".
 */
export class EventBridge {
  #bus;
  #spec;
  #att = null;
  #lastEventId;

  constructor(bus, options) {
    if (bus === null || typeof bus !== 'object' || typeof bus.emit !== 'function') {
      refuse(`takes a bus (from createEventBus()) as its first argument, got ${describe(bus)}`);
    }
    if (bus.destroyed === true) refuse('the bus is destroyed; create a new one with createEventBus()');
    this.#bus = bus;
    this.#spec = readOptions(options);
    this.#lastEventId = this.#spec.lastEventId;
  }

  /** The endpoint, resolved to an absolute URL. */
  get url() {
    return this.#spec.url;
  }

  /** 'connecting' | 'open' | 'closed' */
  get state() {
    return this.#att === null ? 'closed' : this.#att.conn.state;
  }

  /**
   * 'solo': this tab has its own connection; with crossTab, 'leader' (this tab runs the
   * stream the tabs share) or 'follower' (another tab does). Announced by ssebus:role.
   */
  get role() {
    return this.#att === null ? 'solo' : this.#att.conn.role;
  }

  /** The id a new connection resumes from: the newest one seen, or the lastEventId option. */
  get lastEventId() {
    return this.#att === null ? this.#lastEventId : this.#att.conn.lastId;
  }

  /** Starts receiving, or joins the connection another bridge has to the same URL. Idempotent. */
  connect() {
    if (this.#att !== null) return this;
    if (this.#bus.destroyed === true) {
      throw new Error('ssebus: EventBridge: connect() on a destroyed bus; create a new one with createEventBus()');
    }
    const conn = connectionFor(this.#spec, this.#lastEventId);
    const att = new Attachment(this.#bus, this.#spec, (lastId) => {
      if (this.#att === att) this.#att = null;
      this.#lastEventId = lastId;
    });
    this.#att = att;
    conn.attach(att);
    return this;
  }

  /**
   * Retries now, with a fresh backoff: ends the current attempt or wait (an open stream
   * too, so that new credentials are sent) and connects again. A closed bridge connects.
   */
  reconnect() {
    if (this.#att === null) return this.connect();
    this.#att.conn.reconnect();
    return this;
  }

  /** Stops receiving at once; the shared connection ends with its last bridge. Idempotent. */
  close() {
    const att = this.#att;
    if (att === null) return;
    att.conn.detach(att);
    emitTo(att, 'ssebus:closed', { url: att.conn.url, reason: 'close' });
  }

  [disposeSymbol]() {
    this.close();
  }
}
