// ssebus: one stream per browser. The tabs of an origin whose bridges agree on a group
// (URL, transport, credentials mode, headers or crossTab.key) elect a leader with a Web
// Lock, `ssebus:<group>:v1`: the tab holding it runs the real transport; the others queue on
// the same lock, so that one of them is promoted when the leader closes, is hidden in the
// back/forward cache, crashes or is discarded. The leader posts what its transport reports
// (raw events, heartbeats, retry:, status) on a BroadcastChannel of the same name, and every
// follower feeds it through its own policy: its own names, duplicate check and resume id.
//
// Loaded only when a bridge asks for crossTab (bridge-policy.js imports it lazily).
//
// On the channel, every post is { from, epoch, list }: `from` the sending tab, `epoch` its
// leadership number (a leader's own; another tab's, the highest it heard), `list` what it
// says, in order, each an array whose first element is its kind:
//
//   ['L']                        I hold the lock: I am the leader now
//   ['e', type, data, id, at]    a raw event, as the leader's transport reported it
//   ['a', at] / ['p']            bytes arrived (a server heartbeat) / the leader is alive
//   ['r', ms] / ['i', id]        the server's retry: / an id set without an event
//   ['s', name, payload]         ssebus:open, ssebus:error or ssebus:reconnecting
//   ['x', payload]               the leader gave up (reconnect.maxAttempts)
//   ['H', lastId]                hand-off: the leader leaves and releases the lock
//   ['?', lastId, awayAt]        a tab joined or came back, with the last id it delivered
//                                and, back from the cache or a freeze, when it left
//   ['S', to, state, lastId, floor, missed, gap, since]   the leader's answer to tab `to`: its
//                                state, last id, retry: floor, what the asker missed among
//                                the last KEPT events it had, and when the asker is further
//                                back than those, gap { requested, earliest } (and missed
//                                is all it kept), and its last ssebus:error and
//                                ssebus:reconnecting since its stream was open
//   ['R']                        a follower's reconnect(): the leader reconnects
//
// A tab leads with a leadership number one above the highest it heard. Followers listen to
// one tab, the one of the highest number that said 'L' (or answered 'S'): whatever a deposed
// leader posts (a frozen one that resumes with a buffered stream) is ignored, so no event
// arrives twice by two routes. A leader that hears a higher 'L', or whose lock was stolen,
// posts 'H', steps down and queues again.

import { delivered } from './util.js';

const PROTOCOL = 'v1'; // in the lock's and the channel's names: tabs of another version never meet
const HASHED = 32; // hex digits of the SHA-256 kept in the lock's name
const KEPT = 1000; // raw events each tab keeps, for a tab that comes back (frozen, bfcache)
const KEPT_CHARS = 1 << 20; // and at most about this much of their data
const ANSWER_MS = 1000; // a follower that hears its leader but has no answer asks again after this

/**
 * The group of a bridge's spec: a hash of what decides which stream a tab receives. The
 * headers' values are hashed, never shown: the lock's name is visible to every tab.
 */
export async function groupOf(spec) {
  const headers = typeof spec.headers === 'function' ? null : spec.headers;
  const parts = [
    spec.url,
    spec.transport,
    spec.withCredentials ? 'include' : 'same-origin',
    headers,
    spec.crossTab?.key ?? null,
    // A native EventSource delivers only the names it listens to: tabs share it only
    // when they listen to the same ones.
    spec.transport === 'eventsource' ? [...spec.listens].sort() : null,
  ];
  const bytes = new TextEncoder().encode(JSON.stringify(parts));
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex.slice(0, HASHED);
}

function tabId() {
  if (typeof globalThis.crypto?.randomUUID === 'function') return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * One connection's link to the other tabs of its group. `conn` is the policy's side:
 *   lead()                 this tab holds the lock: run the transport
 *   follow()               this tab does not (or no longer): stop any run, take relays
 *   stop()                 end the run (a hand-off), the connection may lead again later
 *   event/retry/resume/status/gaveUp    a relayed call, for a follower's policy
 *   adopt(state, lastId, floor)         the leader's answer to a joining tab
 *   leaderChanged()        another tab leads now (its runs start with no previous id)
 *   reconnect()            a follower asked the leader to reconnect
 *   state() lastId() floor()            what a joining tab is told
 */
export class TabLink {
  role = 'pending'; // 'leader' | 'follower' | 'away' (hidden in bfcache, frozen) | 'closed'

  #conn;
  #debug;
  #timeoutMs;
  #id = tabId();
  #name = null;
  #channel = null;
  #leader = null; // the tab followed; this tab's id while leading
  #previous = null; // while leading: the tab that led before
  #held = null; // { release } while this tab holds the lock
  #queued = null; // the AbortController of the request waiting in the lock's queue
  #out = []; // posts not sent yet: one message per microtask
  #flushing = false;
  #lastPost = 0;
  #lastHeard = 0;
  #lastTick = 0;
  #late = false; // the watchdog's last tick came late (a throttled or frozen tab)
  #timer = null;
  #listeners = [];
  #since = []; // while leading: the last ['s', …] of each name since the stream was open
  #kept = []; // the last events this tab had (up to KEPT), [type, data, id, at]
  #keptChars = 0;
  #droppedAt = 0; // when the newest event dropped from #kept was received
  #asking = null; // { at, askedAt } while waiting for the leader's answer to '?', or null
  #epoch = 0; // the highest leadership number heard
  #leaderEpoch = 0; // the leadership number of the tab followed (this tab's while leading)
  #awayAt = 0; // when this tab left for the back/forward cache or a freeze, 0 when it did not

  // `since`: when this tab's connection began; a tab without an id yet is given the events
  // the leader received from then on.
  constructor(spec, conn, debug, since = Date.now()) {
    this.#awayAt = since;
    this.#conn = conn;
    this.#debug = debug;
    this.#timeoutMs = spec.crossTab.leaderTimeoutMs;
    this.#start(spec).catch((error) => this.#alone(error));
  }

  // The tab cannot share (an opaque origin rejects Web Locks with a SecurityError, a page
  // without a group): it leaves the group and connects on its own.
  #alone(error) {
    if (this.role !== 'pending') return;
    this.#debug?.('cannot share (%s): this tab connects alone', error?.message ?? error?.name ?? error);
    this.leave();
    this.#conn.solo();
  }

  async #start(spec) {
    let group;
    try {
      group = await groupOf(spec);
    } catch (error) {
      this.#debug?.('no group (%s): this tab connects alone', error?.message ?? error);
      if (this.role === 'pending') this.#conn.solo();
      return;
    }
    if (this.role !== 'pending') return; // left meanwhile
    this.#name = `ssebus:${group}:${PROTOCOL}`;
    this.#open();
    this.#listen(globalThis, 'pagehide', () => this.#away('pagehide'));
    this.#listen(globalThis, 'pageshow', (event) => {
      if (event.persisted) this.#back('pageshow');
    });
    this.#listen(globalThis.document, 'freeze', () => this.#away('freeze'));
    this.#listen(globalThis.document, 'resume', () => this.#back('resume'));
    this.#debug?.('group %s, tab %s', group, this.#id);
    this.#join();
  }

  #open() {
    this.#channel = new BroadcastChannel(this.#name);
    this.#channel.onmessage = (event) => this.#receive(event.data);
  }

  #close() {
    this.#flush();
    this.#channel?.close();
    this.#channel = null;
  }

  #listen(target, type, fn) {
    if (target == null || typeof target.addEventListener !== 'function') return;
    target.addEventListener(type, fn);
    this.#listeners.push([target, type, fn]);
  }

  // Leads at once when the lock is free; follows, and queues for it, otherwise.
  #join() {
    this.#acquire({ ifAvailable: true }, () => {
      this.#follow();
      this.#enqueue();
    });
  }

  #enqueue() {
    this.#queued?.abort();
    const ctrl = new AbortController();
    this.#queued = ctrl;
    this.#acquire({ signal: ctrl.signal }, null);
  }

  // Takes the lock from a leader that has said nothing for leaderTimeoutMs (frozen, hung).
  #steal() {
    this.#debug?.('the leader said nothing for %d ms: taking the lock', this.#timeoutMs);
    this.#queued?.abort();
    this.#queued = null;
    this.#acquire({ steal: true }, null);
  }

  #acquire(options, taken) {
    const hold = { release: null };
    let request;
    try {
      request = navigator.locks.request(this.#name, options, (lock) => {
        if (lock === null) return taken?.(); // ifAvailable, and another tab holds it
        if (options.signal !== undefined && this.#queued?.signal === options.signal) this.#queued = null;
        if (this.role === 'closed' || this.role === 'away' || this.role === 'leader') return undefined;
        return new Promise((resolve) => {
          hold.release = resolve;
          this.#held = hold;
          this.#lead();
        });
      });
    } catch (error) {
      request = Promise.reject(error);
    }
    request.catch((error) => {
      // Refused before this tab had a role (an opaque origin: file:, a sandboxed frame).
      if (this.role === 'pending' && error?.name !== 'AbortError') return this.#alone(error);
      // An aborted queued request, or the lock stolen from this tab (frozen or hung).
      if (this.#held !== hold) return;
      this.#held = null;
      this.#debug?.('the lock was taken (%s): stepping down', error?.name ?? error);
      this.#stepDown();
    });
  }

  #release() {
    const hold = this.#held;
    this.#held = null;
    hold?.release();
  }

  #lead() {
    this.#asking = null;
    this.#since = [];
    this.#awayAt = 0;
    this.role = 'leader';
    this.#previous = this.#leader;
    this.#leader = this.#id;
    this.#epoch += 1;
    this.#leaderEpoch = this.#epoch;
    this.#debug?.('leader');
    this.#post(['L']);
    this.#watch();
    this.#conn.lead();
  }

  #follow() {
    this.role = 'follower';
    this.#lastHeard = Date.now();
    this.#debug?.('follower');
    this.#watch();
    this.#conn.follow();
    // Until the leader answers, live events are dropped: its answer has every event it
    // kept after this tab's last id or, for a tab without one, since it left or asked.
    this.#asking = { at: this.#awayAt || Date.now(), askedAt: 0 };
    this.#awayAt = 0;
    this.#ask();
  }

  #ask() {
    this.#asking.askedAt = Date.now();
    this.#post(['?', this.#conn.lastId(), this.#asking.at]);
  }

  // The events after `since` among those kept: from the exact id when it is there, else
  // those with a later id; null when the asker is further back than what is kept. A tab
  // that had no id yet gets those received since it left (`awayAt`), or none if it is new.
  #missed(since, awayAt) {
    const kept = this.#kept;
    if (kept.length === 0) return [];
    if (since === '') {
      if (!(awayAt > 0)) return [];
      return this.#droppedAt < awayAt ? kept.filter((e) => e[3] >= awayAt) : null;
    }
    for (let i = kept.length - 1; i >= 0; i--) if (kept[i][2] === since) return kept.slice(i + 1);
    const first = kept.find((e) => e[2] !== '');
    if (first === undefined || !delivered(first[2], since)) return null;
    return kept.filter((e) => e[2] !== '' && !delivered(e[2], since));
  }

  // Another tab leads (it stole the lock, or said so): stop the stream, follow, queue again.
  #stepDown() {
    if (this.role !== 'leader') return;
    this.#post(['H', this.#conn.lastId()]); // those that still follow this tab ask again
    this.#release();
    this.#leader = null;
    this.#follow();
    this.#enqueue();
  }

  // The leader posts its last id and releases the lock; the next tab in the queue leads.
  #handOff() {
    if (this.role !== 'leader') return;
    this.#conn.stop();
    this.#post(['H', this.#conn.lastId()]);
    this.#flush();
    this.#leader = null;
    this.#release();
    this.#debug?.('handed off after id %s', this.#conn.lastId() || '(none)');
  }

  // pagehide, freeze: a leader hands off; a follower leaves the queue (a frozen tab granted
  // the lock would hold up the group until the others stole it). The channel closes too:
  // Chromium evicts a page from the back/forward cache when a message reaches it there.
  #away(why) {
    if (this.role === 'closed' || this.role === 'away' || this.role === 'pending') return;
    this.#debug?.('%s: leaving the group', why);
    this.#awayAt = Date.now();
    this.#handOff();
    this.#queued?.abort();
    this.#queued = null;
    this.#unwatch();
    if (this.role === 'leader') this.#conn.follow();
    this.role = 'away';
    this.#close();
  }

  // pageshow, resume: back as a follower (in the queue for the lock).
  #back(why) {
    if (this.role !== 'away') return;
    this.#debug?.('%s: rejoining', why);
    this.#out = [];
    this.#open();
    this.#leader = null;
    this.#leaderEpoch = 0; // the tabs may all have changed while away
    this.#follow();
    this.#enqueue();
  }

  /** Leaves the group: a leader hands off, a follower leaves only this tab. */
  leave() {
    if (this.role === 'closed') return;
    this.#handOff();
    this.#queued?.abort();
    this.#queued = null;
    this.#unwatch();
    this.role = 'closed';
    this.#close();
    for (const [target, type, fn] of this.#listeners) target.removeEventListener(type, fn);
    this.#listeners = [];
  }

  // ------------------------------------------------------------------ posts

  /** A leader's relay of what its transport or policy said; sent once per microtask. */
  relay(item) {
    if (this.role !== 'leader') return;
    this.#post(item);
    if (item[0] === 'e') this.#keep(item.slice(1));
    else if (item[0] === 's') {
      // What a tab that joins is told besides the state: the last error and reconnecting
      // since the stream was last open.
      if (item[1] === 'ssebus:open') this.#since = [];
      else this.#since = [...this.#since.filter((s) => s[1] !== item[1]), item];
    }
  }

  // Every tab keeps the last events it had, relayed or its own: as leader, later, it can
  // answer a tab that comes back.
  #keep(e) {
    if (this.#kept.length >= KEPT || this.#keptChars > KEPT_CHARS) {
      // The older half goes: what a tab that comes back asks for is the newest.
      const half = Math.max(1, this.#kept.length >> 1);
      this.#droppedAt = this.#kept[half - 1][3];
      this.#kept = this.#kept.slice(half);
      this.#keptChars = 0;
      for (const k of this.#kept) this.#keptChars += k[1].length;
    }
    this.#kept.push(e);
    this.#keptChars += e[1].length;
  }

  #take(e) {
    this.#keep(e);
    this.#conn.event(e[0], e[1], e[2], e[3]);
  }

  /** Bytes arrived on the leader's stream: tell the followers now and then. */
  alive(at) {
    if (this.role === 'leader' && at - this.#lastPost >= this.#interval()) this.#post(['a', at]);
  }

  /** A follower's reconnect(): the leader reconnects, for every tab. */
  askReconnect() {
    this.#post(['R']);
  }

  #post(item) {
    if (this.#channel === null) return;
    this.#out.push(item);
    this.#lastPost = Date.now();
    if (this.#flushing) return;
    this.#flushing = true;
    queueMicrotask(() => this.#flush());
  }

  #flush() {
    this.#flushing = false;
    if (this.#out.length === 0 || this.#channel === null) return;
    const list = this.#out;
    this.#out = [];
    try {
      const epoch = this.role === 'leader' ? this.#leaderEpoch : this.#epoch;
      this.#channel.postMessage({ from: this.#id, epoch, list });
    } catch (error) {
      this.#debug?.('could not post: %s', error?.message ?? error);
    }
  }

  // Whether a tab's claim (its leadership number, its id) outranks the leader followed: a
  // higher number, or the same one (two tabs that stole at once) and the greater id.
  #outranks(epoch, from) {
    if (epoch !== this.#leaderEpoch) return epoch > this.#leaderEpoch;
    return this.#leader === null || from > this.#leader;
  }

  #receive(message) {
    if (this.role === 'closed' || this.role === 'away' || this.role === 'pending') return;
    if (message === null || typeof message !== 'object' || !Array.isArray(message.list)) return;
    const from = message.from;
    const epoch = Number.isSafeInteger(message.epoch) ? message.epoch : 0;
    if (epoch > this.#epoch) this.#epoch = epoch;
    const conn = this.#conn;
    for (const item of message.list) {
      const kind = item[0];
      if (kind === 'L') {
        if (from === this.#id) continue;
        if (from === this.#leader ? epoch <= this.#leaderEpoch : !this.#outranks(epoch, from)) continue; // stale
        if (this.role === 'leader') {
          this.#debug?.('tab %s leads now (leadership %d)', from, epoch);
          this.#stepDown();
        }
        this.#leader = from;
        this.#leaderEpoch = epoch;
        this.#lastHeard = Date.now();
        conn.leaderChanged();
        if (this.#asking !== null) this.#ask(); // the tab asked may be gone
        continue;
      }
      if (kind === '?') {
        if (this.role === 'leader') this.#answer(from, item);
        continue;
      }
      if (kind === 'S' && item[1] !== this.#id) continue; // an answer to another tab
      if (kind === 'x' && this.role === 'leader' && from === this.#previous) {
        // The leader gave up (reconnect.maxAttempts) just before the lock came here: every
        // tab gives up, as it did.
        conn.gaveUp(item[1]);
        return;
      }
      if (kind === 'R') {
        if (this.role === 'leader') conn.reconnect();
        continue;
      }
      if (this.role !== 'follower') continue;
      if (kind === 'S') {
        if (this.#asking === null) continue; // answered already
        if (from !== this.#leader || epoch !== this.#leaderEpoch) {
          if (!this.#outranks(epoch, from)) continue; // a deposed leader's late answer
          this.#leader = from;
          this.#leaderEpoch = epoch;
          conn.leaderChanged();
        }
      } else if (from !== this.#leader || epoch !== this.#leaderEpoch) continue;
      this.#lastHeard = Date.now();
      switch (kind) {
        case 'e':
          if (this.#asking === null) this.#take(item.slice(1));
          else this.#stillAsking();
          break;
        case 'r':
          conn.retry(item[1]);
          break;
        case 'i':
          conn.resume(item[1]);
          break;
        case 's':
          conn.status(item[1], item[2]);
          break;
        case 'x':
          conn.gaveUp(item[1]);
          return;
        case 'S': {
          this.#asking = null;
          const gap = item[6];
          if (gap != null) conn.gap(gap.requested, gap.earliest);
          if (this.role !== 'follower') return;
          for (const e of item[5]) {
            this.#take(e);
            if (this.role !== 'follower') return;
          }
          conn.adopt(item[2], item[3], item[4]);
          if (item[2] !== 'open' && Array.isArray(item[7])) {
            for (const st of item[7]) {
              if (this.role !== 'follower') return;
              conn.status(st[1], st[2]);
            }
          }
          break;
        }
        case 'H':
          this.#debug?.('tab %s handed off after id %s', from, item[1] || '(none)');
          this.#leader = null;
          break;
        default: // 'a', 'p': the leader is alive
          if (this.#asking !== null) this.#stillAsking();
      }
      if (this.role !== 'follower') return; // closed by a listener
    }
  }

  // The leader's answer to tab `to`: what it missed among the events kept here or, when it
  // is further back than those, a gap ({ requested, earliest }, as the server's) and all of them.
  #answer(to, item) {
    const conn = this.#conn;
    const since = typeof item[1] === 'string' ? item[1] : '';
    let missed = this.#missed(since, item[2]);
    let gap = null;
    if (missed === null) {
      this.#debug?.('tab %s missed more than the last %d events', to, this.#kept.length);
      missed = this.#kept;
      const first = missed.find((e) => e[2] !== '');
      gap = { requested: since === '' ? null : since, earliest: first === undefined ? null : first[2] };
    }
    this.#post(['S', to, conn.state(), conn.lastId(), conn.floor(), missed, gap, this.#since]);
  }

  // No answer yet while the leader is heard: the '?' was lost (asked of a tab that stopped
  // leading before it read it); ask again.
  #stillAsking() {
    if (Date.now() - this.#asking.askedAt >= ANSWER_MS) this.#ask();
  }

  // ------------------------------------------------------------------ the watchdog

  #interval() {
    return Math.max(50, Math.floor(this.#timeoutMs / 4));
  }

  // A leader says it is alive when it has posted nothing for a while; a follower that has
  // heard nothing from any leader for leaderTimeoutMs steals the lock.
  #watch() {
    this.#unwatch();
    if (this.#timeoutMs === 0) return;
    const every = this.#interval();
    this.#lastTick = Date.now();
    this.#late = false;
    this.#timer = setInterval(() => {
      const now = Date.now();
      const late = now - this.#lastTick;
      this.#lastTick = now;
      if (this.role === 'leader') {
        if (now - this.#lastPost >= every) this.#post(['p']);
        return;
      }
      if (this.role !== 'follower') return;
      // A tick this late means this tab was frozen or throttled: it heard nothing because it
      // could not, so the silence is not the leader's. Only after an on-time tick, though: a
      // hidden tab under intensive throttling has every tick late, and must still take over.
      const wasLate = this.#late;
      this.#late = late > Math.max(2 * every, every + 1000);
      if (this.#late && !wasLate) {
        this.#lastHeard = now;
        return;
      }
      if (now - this.#lastHeard >= this.#timeoutMs) {
        this.#lastHeard = now;
        this.#steal();
      }
    }, every);
  }

  #unwatch() {
    clearInterval(this.#timer);
    this.#timer = null;
  }
}
