import { useCallback, useRef, useState } from 'react';
import { useEventBusMulti, useEventBusOn, useEventSource } from 'ssebus/react';

import { forgetConfig } from './api.js';

const STATUS_EVENTS = ['ssebus:open', 'ssebus:error', 'ssebus:reconnecting', 'ssebus:closed'];

// The hook's error is the latest ssebus:error payload ({ error, status, auth }) in newer
// versions of ssebus/react, the Error itself in older ones.
function describeError(error) {
  if (error === undefined || error === null) return null;
  if (typeof error === 'string') return error;
  const e = error instanceof Error ? error : (error.error ?? error);
  return typeof e === 'string' ? e : (e.message ?? String(e));
}

// A refused identity: ssebus marks 401 and 403 as `auth`; older versions give the status only.
function isAuthFailure(failure) {
  if (failure === null) return false;
  return failure.auth === true || failure.status === 401 || failure.status === 403;
}

/**
 * The page's event stream. useEventSource gives its status; the bridge's status events on
 * the bus say the rest: which attempt comes next and when, and the HTTP status of a
 * failure. (The page's provider has this one stream, so its status events are this
 * stream's.)
 */
export function useConnection(url, options) {
  const source = useEventSource(url, options);
  const { status, error, connect, disconnect } = source;
  const [retry, setRetry] = useState(null); // { attempt, at } while reconnecting
  const [failure, setFailure] = useState(null); // the latest ssebus:error payload, until open
  const [closedReason, setClosedReason] = useState(null);
  const [received, setReceived] = useState({ count: 0, lastId: '' });
  const again = useRef(false);
  const down = useRef(false); // the stream failed since it was last open

  useEventBusMulti(STATUS_EVENTS, (payload, meta) => {
    switch (meta.name) {
      case 'ssebus:open':
        // Back after an outage: the server may have restarted with another publisher key.
        if (down.current) forgetConfig();
        down.current = false;
        setRetry(null);
        setFailure(null);
        setClosedReason(null);
        break;
      case 'ssebus:error':
        down.current = true;
        setFailure(payload ?? {});
        break;
      case 'ssebus:reconnecting':
        setRetry({ attempt: payload.attempt, at: payload.at });
        break;
      case 'ssebus:closed':
        setRetry(null);
        setClosedReason(payload?.reason ?? null);
        // fresh(): the old connection is gone, open a new one.
        if (again.current) {
          again.current = false;
          queueMicrotask(connect);
        }
        break;
      default:
    }
  });

  // Events were lost (e.g. the server restarted and no longer has the resume id): so may
  // the publisher key be.
  useEventBusOn('ssebus:gap', forgetConfig);

  useEventBusOn('*', (_payload, meta) => {
    if (meta.serverEvent === undefined || meta.name.startsWith('ssebus:')) return;
    setReceived((r) => ({ count: r.count + 1, lastId: meta.id || r.lastId }));
  });

  // A new connection, so that the server sees a new cookie. disconnect() and connect() in
  // one go would keep the open connection (on purpose: that is what keeps StrictMode's
  // remount on it), so connect again once it has closed.
  const fresh = useCallback(() => {
    if (status === 'closed') return connect();
    again.current = true;
    disconnect();
  }, [status, connect, disconnect]);

  // The next attempt now, with a fresh backoff: the bridge's reconnect() where ssebus has
  // it, else a new connection.
  const libraryReconnect = source.reconnect;
  const retryNow = useCallback(() => {
    if (typeof libraryReconnect === 'function') libraryReconnect();
    else fresh();
  }, [libraryReconnect, fresh]);

  // After signing in or out: an open stream is replaced, one that is failing retries now.
  const renew = useCallback(() => {
    if (status === 'open' || status === 'closed') fresh();
    else retryNow();
  }, [status, fresh, retryNow]);

  return {
    phase: status,
    error: describeError(error),
    failure,
    httpStatus: failure?.status,
    authFailed: isAuthFailure(failure),
    attempt: retry?.attempt,
    at: retry?.at,
    reason: closedReason,
    received,
    connect,
    disconnect,
    fresh,
    retryNow,
    renew,
  };
}
