/**
 * `[Symbol.dispose]()` where the TypeScript lib declares `Symbol.dispose` (`esnext`,
 * `ESNext.Disposable`, `es2025`...), so that `using bus = ...` works there; nothing where
 * it does not (e.g. the ES2020 + DOM libs of a default React + Vite app). At run time the
 * method is always there.
 */
type DisposeKey = SymbolConstructor extends { readonly dispose: infer S extends symbol } ? S : never;
type DisposeMethod = { [K in DisposeKey]: () => void };

/** An event map: bus event name -> payload type. */
export type EventMap = Record<string, unknown>;

/** What a listener gets beside the payload. */
export interface EventMeta<Name extends string = string> {
  /** The name the event was emitted under (a pattern listener sees the real name). */
  readonly name: Name;
  /** For events from an EventBridge: the SSE event id (the last one set), '' when none. */
  readonly id?: string;
  /** For events from an EventBridge: the server's name for the event (`video:created`). */
  readonly serverEvent?: string;
  /** For events from an EventBridge: when its bytes arrived (`Date.now()`). */
  readonly receivedAt?: number;
}

export type Listener<Payload = unknown, Name extends string = string> = (
  payload: Payload,
  meta: EventMeta<Name>,
) => void;

/** A wildcard pattern: `video:*` (one segment), `video:**` (any), `*` (every event). */
export type Pattern = `${string}*${string}`;

/** Removes the subscription(s) it came from; calling it again does nothing. */
export type Unsubscribe = () => void;

export interface ErrorContext {
  readonly name: string;
  readonly listener: Listener<any>;
}

type NameOf<Events> = keyof Events & string;
type PayloadArgs<P, K extends string> = undefined extends P
  ? [payload?: P, meta?: EventMeta<K>]
  : [payload: P, meta?: EventMeta<K>];

export interface EventBus<Events extends object = EventMap> extends DisposeMethod {
  /** Subscribes; returns the unsubscribe function. The same function twice is called twice. */
  on<K extends NameOf<Events>>(name: K, listener: Listener<Events[K], K>): Unsubscribe;
  /** One listener for several names, removed by one unsubscribe. */
  on<K extends NameOf<Events>>(names: readonly K[], listener: Listener<Events[K], K>): Unsubscribe;
  /** A pattern: the listener sees every matching event and its real name in `meta.name`. */
  on(pattern: Pattern, listener: Listener<Events[NameOf<Events>], NameOf<Events>>): Unsubscribe;

  /** Like on(), but the listener runs at most once (for an array: once for the first name). */
  once<K extends NameOf<Events>>(name: K, listener: Listener<Events[K], K>): Unsubscribe;
  once<K extends NameOf<Events>>(names: readonly K[], listener: Listener<Events[K], K>): Unsubscribe;
  once(pattern: Pattern, listener: Listener<Events[NameOf<Events>], NameOf<Events>>): Unsubscribe;

  /** Removes the earliest subscription of `listener` under `name`, or every one without it. */
  off<K extends NameOf<Events>>(name: K | readonly K[], listener?: Listener<Events[K], K>): void;
  off(pattern: Pattern, listener?: Listener<any, any>): void;

  /**
   * Calls the listeners of `name` synchronously, in subscription order. `meta` (what the
   * listeners get as their second argument) defaults to `{ name }`.
   */
  emit<K extends NameOf<Events>>(name: K, ...args: PayloadArgs<Events[K], K>): void;

  /** Listeners an emit of `name` reaches now; for a pattern, its own subscriptions; all without an argument. */
  listenerCount(name?: NameOf<Events> | Pattern): number;

  /** Removes every subscription; the bus stays usable. */
  clear(): void;
  /** Frees the bus's WebAssembly memory; idempotent. Any other call afterwards throws. `[Symbol.dispose]()` too. */
  destroy(): void;
  readonly destroyed: boolean;

  /** Receives errors thrown by listeners; without it they are reported asynchronously. */
  onError: ((error: unknown, context: ErrorContext) => void) | null;
}

export interface EventBusOptions {
  onError?: ((error: unknown, context: ErrorContext) => void) | null;
}

/** Creates a bus; the WebAssembly module is loaded once and shared by every bus. */
export function createEventBus<Events extends object = EventMap>(
  options?: EventBusOptions,
): Promise<EventBus<Events>>;

export interface WasmMemoryStats {
  /** Size of the WebAssembly heap in bytes. */
  readonly heapBytes: number;
  /** Bytes the core has allocated. */
  readonly usedBytes: number;
}

/** The shared WebAssembly heap, or null before the first bus exists. */
export function wasmMemoryStats(): WasmMemoryStats | null;

// ------------------------------------------------------------------------ EventBridge

/** Server event name -> the bus event name(s) it becomes. */
export type EventNameMap = Readonly<Record<string, string | readonly string[]>>;

export interface ReconnectOptions {
  /** The first delay's ceiling (ms). Default 1000. */
  initialMs?: number;
  /** The largest ceiling (ms). Default 30000. */
  maxMs?: number;
  /** Each failure multiplies the ceiling by this (>= 1). Default 2. */
  factor?: number;
  /** "Full jitter": wait a random time up to the ceiling. Default true. */
  jitter?: boolean;
  /** Reconnect attempts after consecutive failures before giving up (then 'closed'). Default Infinity. */
  maxAttempts?: number;
}

/** The part of a native EventSource the bridge uses. */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: any) => void): void;
  close(): void;
}

export interface EventBridgeOptions {
  /** The SSE endpoint; a relative URL resolves against the page (`globalThis.location`). */
  url: string | URL;
  /** `fetch` (default): a streamed body parsed by the core; `eventsource`: a native EventSource. */
  transport?: 'fetch' | 'eventsource';
  /** Overrides the default name rule (every `:` becomes `_`) per server event name. */
  map?: EventNameMap;
  /** Replaces the default name rule for names not in `map`; null drops the event. */
  translate?: (serverEvent: string) => string | readonly string[] | null;
  /** Extra server event names a native EventSource should listen to (it delivers no others). */
  events?: readonly string[];
  reconnect?: ReconnectOptions;
  /** No byte (event or comment) for this long: reconnect. Default 45000; 0 or Infinity: off. fetch only. */
  heartbeatTimeoutMs?: number;
  /** Send cookies cross-origin (`credentials: 'include'` / EventSource's withCredentials). */
  withCredentials?: boolean;
  /**
   * Request headers, e.g. Authorization (fetch transport only): an object, or a function
   * (sync or async) called before every attempt, so that a token can be refreshed. A
   * function that throws or rejects fails that attempt (`ssebus:error`), and the next one
   * calls it again.
   */
  headers?: BridgeHeaders | (() => BridgeHeaders | PromiseLike<BridgeHeaders>);
  /** Disconnect while `document.visibilityState` is 'hidden'; resume when visible. Default false. */
  pauseWhenHidden?: boolean;
  /** Resume from this id on the first connection (sent as Last-Event-ID). */
  lastEventId?: string;
  /** The EventSource class for transport 'eventsource'; default `globalThis.EventSource`. */
  EventSource?: new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;
  /**
   * Logs to `console.debug`: state changes, attempts and their delays, HTTP statuses,
   * duplicates dropped, gaps. Also on for every bridge with `DEBUG=ssebus:*` (Node) or
   * `localStorage.debug = 'ssebus:*'` (browsers), read when a connection starts. Default false.
   */
  debug?: boolean;
  /**
   * One connection for every tab of the origin: bridges whose group (URL, transport,
   * credentials mode, headers, or `key`) is the same share one stream. The tab holding the
   * Web Lock `ssebus:<group>` connects and relays on a BroadcastChannel; each tab maps,
   * translates and de-duplicates on its own. Default false. Without Web Locks or
   * BroadcastChannel (a non-secure context) the bridge connects alone (`role: 'solo'`).
   */
  crossTab?: boolean | CrossTabOptions;
}

export interface CrossTabOptions {
  /**
   * Names the group in place of the headers: required with a headers function (whose
   * answer cannot be compared between tabs), e.g. the signed-in user's id. Tabs share a
   * stream only with the same key.
   */
  key?: string;
  /**
   * A follower that hears nothing from the leader for this long (a frozen or hung tab)
   * takes the lock over. Default: heartbeatTimeoutMs, or 30000 when that is 0 or Infinity;
   * 0 or Infinity: never.
   */
  leaderTimeoutMs?: number;
}

/** 'solo': this tab's own connection; with crossTab, 'leader' runs the stream, 'follower' receives it. */
export type BridgeRole = 'leader' | 'follower' | 'solo';

/** Request header name -> value. */
export type BridgeHeaders = Readonly<Record<string, string>>;

export type BridgeState = 'connecting' | 'open' | 'closed';

/** Why a bridge stopped: its close(), reconnect.maxAttempts, or the page being hidden. */
export type BridgeCloseReason = 'close' | 'maxAttempts' | 'hidden';

/** What `ssebus:error` carries: one failed attempt. */
export interface BridgeErrorEvent {
  readonly url: string;
  /** What failed: an Error from fetch, the stream, the headers function... */
  readonly error: unknown;
  /** The error's message. */
  readonly message: string;
  /** The HTTP status, when the server answered (401, 403, 503...). */
  readonly status?: number;
  /** Set for 401 and 403: the credentials need renewing (sign in again, refresh the token). */
  readonly auth?: true;
  /** Consecutive failures, this one included. */
  readonly attempt: number;
}

/** The status events a bridge emits on its bus. */
export interface BridgeStatusEvents {
  'ssebus:open': { url: string };
  'ssebus:error': BridgeErrorEvent;
  /** `attempt` failures so far; `attempt: 0, delayMs: 0` when reconnect() retries at once. */
  'ssebus:reconnecting': { url: string; attempt: number; delayMs: number; at: number };
  'ssebus:closed': { url: string; reason: BridgeCloseReason; error?: unknown };
  /** With crossTab: this tab's role, when it changes (and when a bridge joins). */
  'ssebus:role': { url: string; role: BridgeRole };
  /** The server could not replay everything after the id the bridge resumed from. */
  'ssebus:gap': { requested: number; earliest: number };
}

/** What a bridge emits on: an ssebus bus, or any object with a compatible emit(). */
export interface BridgeTarget {
  emit(name: string, payload?: unknown, meta?: EventMeta): void;
  readonly destroyed?: boolean;
}

/** Turns a Server-Sent Events stream into events on a bus, with reconnect and replay. */
export class EventBridge {
  constructor(bus: EventBus<any> | BridgeTarget, options: EventBridgeOptions);
  /** Starts receiving, or joins the connection another bridge has to the same URL. Idempotent. */
  connect(): this;
  /**
   * Retries now with a fresh backoff: ends the current attempt, wait or stream (so that new
   * credentials are sent) and connects again, resuming from the last id. A closed bridge connects.
   */
  reconnect(): this;
  /** Stops at once; no event is delivered afterwards. The last bridge of a URL ends its connection. `[Symbol.dispose]()` too. */
  close(): void;
  readonly state: BridgeState;
  /** The endpoint as an absolute URL. */
  readonly url: string;
  /** The id a new connection resumes from. */
  readonly lastEventId: string;
  /** 'leader' | 'follower' with crossTab, else (and when closed) 'solo'. */
  readonly role: BridgeRole;
}
export interface EventBridge extends DisposeMethod {}
