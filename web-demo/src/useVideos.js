import { useCallback, useEffect, useRef, useState } from 'react';
import { useEventBusOn } from 'ssebus/react';

import { api } from './api.js';

/**
 * The video list from GET /api/videos, fetched again on every `refresh:list:view` (which
 * the bridge emits for video:created and video:updated) and when the stream (re)opens.
 * Refreshes that arrive while a request is running coalesce into one more request.
 */
export function useVideos() {
  const [videos, setVideos] = useState(null);
  const [error, setError] = useState(null);
  const [refreshedAt, setRefreshedAt] = useState(null);
  const running = useRef(false);
  const again = useRef(false);

  const refresh = useCallback(async () => {
    if (running.current) {
      again.current = true;
      return;
    }
    running.current = true;
    try {
      do {
        again.current = false;
        try {
          setVideos(await api.videos());
          setRefreshedAt(Date.now());
          setError(null);
        } catch (e) {
          setError(e.message);
        }
      } while (again.current);
    } finally {
      running.current = false;
    }
  }, []);

  useEffect(() => {
    refresh();
  }, [refresh]);
  useEventBusOn('refresh:list:view', refresh);
  // Whatever changed while the stream was not yet (or no longer) open.
  useEventBusOn('ssebus:open', refresh);

  return { videos, error, refreshedAt, refresh };
}
