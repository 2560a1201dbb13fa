import { useCallback, useRef, useState } from 'react';
import { useEventBusMulti, useEventBusOn, useEventSource } from 'ssebus/react';

import { forgetConfig } from './api.js';

const STATUS_EVENTS = ['ssebus:open', 'ssebus:error', 'ssebus:reconnecting', 'ssebus:closed'];

/**
 * The page's event stream. useEventSource gives its status; the bridge's status events on
 * the bus say the rest: which attempt comes next and when, and the HTTP status of a
 * failure. (The page's provider has this one stream, so its status events are this
 * stream's.)
 */
export function useConnection(url, options) {
  const source = useEventSource(url, options);
  const { status, error, connect, disconnect, reconnect } = source;
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

  // The tab's part in sharing the stream: 'leader' (holds it), 'follower' (gets it from the
  // leader) or 'solo' (a stream of its own); null until the tabs have decided. The hook's
  // role is this stream's: a new one (the switch changed) starts at null again.
  const role = source.role;

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

  // After signing in or out: an open stream is replaced, one that is failing retries now
  // (reconnect(): the next attempt at once, with a fresh backoff). A stream the tabs share
  // is replaced with reconnect(): from a follower, it asks the leader to reconnect, so the
  // one stream carries the new cookie.
  const shared = options.crossTab === true;
  const renew = useCallback(() => {
    if (shared && status !== 'closed') reconnect();
    else if (status === 'open' || status === 'closed') fresh();
    else reconnect();
  }, [shared, status, fresh, reconnect]);

  return {
    phase: status,
    error: error?.message ?? null, // the hook's error is the latest ssebus:error payload
    failure,
    httpStatus: failure?.status,
    authFailed: failure?.auth === true, // 401 or 403
    attempt: retry?.attempt,
    at: retry?.at,
    reason: closedReason,
    received,
    role, // null until the bridge says
    connect,
    disconnect,
    fresh,
    retryNow: reconnect,
    renew,
  };
}
