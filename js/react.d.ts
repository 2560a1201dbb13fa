import type { ReactElement, ReactNode } from 'react';

import type {
  BridgeErrorEvent,
  BridgeRole,
  ErrorContext,
  EventBridgeOptions,
  EventBus,
  EventMap,
  EventMeta,
  Listener,
  Pattern,
} from './index.js';

/**
 * Declare your event map once and every hook is typed by it:
 *
 * ```ts
 * declare module 'ssebus/react' {
 *   interface Register { events: { video_created: { videoId: string } } }
 * }
 * ```
 *
 * Without it, names are any string and payloads `unknown`; each hook also takes the map
 * as its first type argument (`useEventBusEmit<Events>()`).
 */
export interface Register {}

/** The event map declared through `Register`, or any name with an `unknown` payload. */
export type RegisteredEvents = Register extends { events: infer E extends object } ? E : EventMap;

type NameOf<Events> = keyof Events & string;
type DataName<Events> = Exclude<NameOf<Events>, `ssebus:${string}`>;

/** Emits a provider holds while its bus loads; one more throws. */
export const MAX_HELD_EMITS: number;

export interface EventBusProviderProps {
  /** A bus to use (the provider never destroys it); without it, the provider creates one and destroys it on unmount. */
  bus?: EventBus<any>;
  /** Receives errors thrown by listeners of the bus the provider creates. */
  onError?: (error: unknown, context: ErrorContext) => void;
  children?: ReactNode;
}

/** Makes a bus available to the hooks below it; renders its children while the bus loads. */
export function EventBusProvider(props: EventBusProviderProps): ReactElement;

/** The provider's bus, or null while it loads (and during server rendering). */
export function useEventBus<Events extends object = RegisteredEvents>(): EventBus<Events> | null;

/** Calls the newest `handler` for every `name` event while mounted; one subscription per mount and name. */
export function useEventBusOn<Events extends object = RegisteredEvents, K extends NameOf<Events> = NameOf<Events>>(
  name: K,
  handler: Listener<Events[K], K>,
): void;
/** A pattern (`video:*`): `meta.name` is the real name. */
export function useEventBusOn<Events extends object = RegisteredEvents>(
  pattern: Pattern,
  handler: Listener<Events[NameOf<Events>], NameOf<Events>>,
): void;

/** Like useEventBusOn, for the first event only; armed again when `name` changes or on a new mount. */
export function useEventBusOnce<Events extends object = RegisteredEvents, K extends NameOf<Events> = NameOf<Events>>(
  name: K,
  handler: Listener<Events[K], K>,
): void;
export function useEventBusOnce<Events extends object = RegisteredEvents>(
  pattern: Pattern,
  handler: Listener<Events[NameOf<Events>], NameOf<Events>>,
): void;

/** One handler for several names; a new array with the same names does not resubscribe. */
export function useEventBusMulti<Events extends object = RegisteredEvents, K extends NameOf<Events> = NameOf<Events>>(
  names: readonly K[],
  handler: Listener<Events[K], K>,
): void;

/**
 * A stable `emit(name, payload?, meta?)`. Before the bus is ready, emits are held (up to
 * MAX_HELD_EMITS, then it throws) and delivered in order once it is.
 */
export function useEventBusEmit<Events extends object = RegisteredEvents>(): EventBus<Events>['emit'];

/**
 * `'connecting'` until the first open (also while the bus loads), `'open'`,
 * `'reconnecting'` after a failure, `'closed'` when not connected (before connect(),
 * after disconnect(), after reconnect.maxAttempts, while paused when hidden).
 */
export type EventSourceStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** An event the connection delivered to the bus, as its listeners got it. */
export type SourceEvent<Events extends object = RegisteredEvents> = {
  [K in DataName<Events>]: { readonly name: K; readonly payload: Events[K]; readonly meta: EventMeta<K> };
}[DataName<Events>];

/**
 * The bridge's options (`debug`, `headers`...) and `autoConnect`. A headers function may be
 * written inline: the newest one rendered is called before every attempt, and a new one
 * does not reconnect.
 */
export interface UseEventSourceOptions extends Omit<EventBridgeOptions, 'url'> {
  /** Connect on mount. Default true; with false, call connect(). */
  autoConnect?: boolean;
}

export interface EventSourceState<Events extends object = RegisteredEvents> {
  readonly status: EventSourceStatus;
  /** The newest event (not a status event) the connection delivered, or null. */
  readonly lastEvent: SourceEvent<Events> | null;
  /**
   * The latest `ssebus:error` payload (`status`, `auth` for 401/403, `message`, `error`),
   * cleared when the connection opens.
   */
  readonly error: BridgeErrorEvent | null;
  /**
   * With `crossTab`: whether this tab runs the shared stream ('leader') or receives it
   * ('follower'), null until the tabs have decided; 'solo' without crossTab, when this tab
   * cannot share (no Web Locks...), and once closed.
   */
  readonly role: BridgeRole | null;
  /** Wants the connection again (after disconnect(), or after reconnect.maxAttempts). Stable. */
  readonly connect: () => void;
  /** Lets go of the connection (it ends when nobody else on the page uses it). Stable. */
  readonly disconnect: () => void;
  /** Wants the connection and retries it now with a fresh backoff (e.g. after signing in again). Stable. */
  readonly reconnect: () => void;
}

/**
 * Connects the provider's bus to `url` while mounted. Hooks and <EventBridge>s of one
 * provider with the same url and options share one bridge; the page has one connection
 * per URL. Options are compared by value, functions by identity.
 */
export function useEventSource<Events extends object = RegisteredEvents>(
  url: string | URL,
  options?: UseEventSourceOptions,
): EventSourceState<Events>;

export interface EventBridgeProps extends UseEventSourceOptions {
  url: string | URL;
  /** They reach this bridge with useSSE(). */
  children?: ReactNode;
}

/** Connects the provider's bus to `url` while mounted; the bridge's options are props. */
export function EventBridge(props: EventBridgeProps): ReactElement;

export interface SSEState<Events extends object = RegisteredEvents> extends EventSourceState<Events> {
  /** `status === 'open'`. */
  readonly isConnected: boolean;
}

/**
 * The nearest <EventBridge> above, or else the newest one mounted under the provider.
 * Without any, it reads as closed, and connect()/disconnect()/reconnect() throw.
 */
export function useSSE<Events extends object = RegisteredEvents>(): SSEState<Events>;
