/** An event map: bus event name -> payload type. */
export type EventMap = Record<string, unknown>;

/** What a listener gets beside the payload. */
export interface EventMeta<Name extends string = string> {
  /** The name the event was emitted under (a pattern listener sees the real name). */
  readonly name: Name;
  /** Set for events that came from the server through an EventBridge. */
  readonly id?: string;
  readonly serverEvent?: string;
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
type PayloadArgs<P> = undefined extends P ? [payload?: P] : [payload: P];

export interface EventBus<Events extends object = EventMap> {
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

  /** Calls the listeners of `name` synchronously, in subscription order. */
  emit<K extends NameOf<Events>>(name: K, ...payload: PayloadArgs<Events[K]>): void;

  /** Listeners an emit of `name` reaches now; for a pattern, its own subscriptions; all without an argument. */
  listenerCount(name?: NameOf<Events> | Pattern): number;

  /** Removes every subscription; the bus stays usable. */
  clear(): void;
  /** Frees the bus's WebAssembly memory; idempotent. Any other call afterwards throws. */
  destroy(): void;
  [Symbol.dispose](): void;
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
