import { useCallback, useRef, useState } from 'react';
import { useEventBusMulti, useEventBusOn, useEventSource } from 'ssebus/react';

const STATUS_EVENTS = ['ssebus:open', 'ssebus:error', 'ssebus:reconnecting', 'ssebus:closed'];

function describeError(error) {
  if (error === undefined || error === null) return null;
  return typeof error === 'string' ? error : (error.message ?? String(error));
}

/**
 * The page's event stream. useEventSource gives its status; the bridge's status events on
 * the bus say the rest: which attempt comes next and when, and the HTTP status of a
 * failure. (The page's provider has this one stream, so its status events are this
 * stream's.)
 */
export function useConnection(url, options) {
  const { status, error, connect, disconnect } = useEventSource(url, options);
  const [retry, setRetry] = useState(null); // { attempt, at } while reconnecting
  const [httpStatus, setHttpStatus] = useState(undefined);
  const [closedReason, setClosedReason] = useState(null);
  const [received, setReceived] = useState({ count: 0, lastId: '' });
  const again = useRef(false);

  useEventBusMulti(STATUS_EVENTS, (payload, meta) => {
    switch (meta.name) {
      case 'ssebus:open':
        setRetry(null);
        setHttpStatus(undefined);
        setClosedReason(null);
        break;
      case 'ssebus:error':
        setHttpStatus(payload?.status);
        break;
      case 'ssebus:reconnecting':
        setRetry({ attempt: payload.attempt, at: payload.at });
        break;
      case 'ssebus:closed':
        setRetry(null);
        setClosedReason(payload?.reason ?? null);
        // reconnect(): the old connection is gone, open a new one.
        if (again.current) {
          again.current = false;
          queueMicrotask(connect);
        }
        break;
      default:
    }
  });

  useEventBusOn('*', (_payload, meta) => {
    if (meta.serverEvent === undefined || meta.name.startsWith('ssebus:')) return;
    setReceived((r) => ({ count: r.count + 1, lastId: meta.id || r.lastId }));
  });

  // A new connection, e.g. after signing in, so that the server sees the new cookie.
  // disconnect() and connect() in one go would keep the open connection (on purpose: that
  // is what keeps StrictMode's remount on it), so connect again once it has closed.
  const reconnect = useCallback(() => {
    if (status === 'closed') return connect();
    again.current = true;
    disconnect();
  }, [status, connect, disconnect]);

  return {
    phase: status,
    error: describeError(error),
    httpStatus,
    attempt: retry?.attempt,
    at: retry?.at,
    reason: closedReason,
    received,
    connect,
    disconnect,
    reconnect,
  };
}
