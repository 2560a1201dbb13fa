import { useCallback, useEffect, useRef, useState } from 'react';
import { useEventBusMulti } from 'ssebus/react';

import { api, DEMO_STREAMS } from '../api.js';
import { clock, plural } from '../format.js';
import StatusBadge from './StatusBadge.jsx';

const POLL_MS = 5000;

// What each demo stream publishes (bus names), and how to show one of its events.
const STREAM_EVENTS = {
  tick: { stream: 'default', text: (d) => `Tick #${d.sequence}` },
  system_metrics: { stream: 'system', text: (d) => `CPU ${d.cpu}% · ${plural(d.clients, 'client')}` },
  user_activity: { stream: 'user-activity', text: (d) => `${d.user} ${d.action}` },
  notification: { stream: 'notifications', text: (d) => `Notification #${d.sequence} (${d.level})` },
};

const STREAM_NAMES = Object.keys(STREAM_EVENTS);

const ACTIONS = [
  { action: 'start', label: 'Start', enabled: (s) => s === 'stopped' },
  { action: 'pause', label: 'Pause', enabled: (s) => s === 'running' },
  { action: 'resume', label: 'Resume', enabled: (s) => s === 'paused' },
  { action: 'stop', label: 'Stop', enabled: (s) => s === 'running' || s === 'paused' },
];

/**
 * The demo streams: their generators on the server, and their events on the page's stream.
 * Their state is known only while that stream is open.
 */
export default function StreamsPanel({ live }) {
  const [server, setServer] = useState({}); // id -> { status, events_sent, interval_ms, clients }
  const [seen, setSeen] = useState({}); // id -> { count, last, at }
  const [error, setError] = useState(null);
  // A list asked for before a control action may answer after it: such a list is stale.
  const epoch = useRef(0);

  const load = useCallback(async () => {
    const asked = epoch.current;
    try {
      const list = await api.streams();
      if (asked !== epoch.current) return;
      setServer(Object.fromEntries(list.map((s) => [s.id, s])));
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  }, []);

  useEffect(() => {
    if (!live) {
      // What the server said before its stream went down may no longer hold (a restarted
      // server starts its generators afresh): unknown until the stream is back.
      epoch.current += 1;
      setServer({});
      return undefined;
    }
    load();
    const timer = setInterval(load, POLL_MS);
    return () => clearInterval(timer);
  }, [load, live]);

  useEventBusMulti(STREAM_NAMES, (data, meta) => {
    const spec = STREAM_EVENTS[meta.name];
    setSeen((all) => {
      const s = all[spec.stream] ?? { count: 0 };
      const at = meta.receivedAt ?? Date.now();
      return { ...all, [spec.stream]: { count: s.count + 1, last: spec.text(data ?? {}), at } };
    });
  });

  const control = async (id, action) => {
    epoch.current += 1;
    try {
      const r = await api.controlStream(id, action);
      setServer((all) => ({ ...all, [id]: { ...all[id], status: r.status } }));
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  };

  return (
    <section className="card" aria-labelledby="streams-title">
      <div className="card-head">
        <div>
          <h2 id="streams-title">Demo streams</h2>
          <p className="card-sub">
            Server generators, controlled with <code>POST /api/v1/events/stream/&#123;id&#125;/…</code>; their
            events arrive on the page's one stream
          </p>
        </div>
      </div>
      {error ? <p className="error">{error}</p> : null}
      <div className="streams">
        {DEMO_STREAMS.map((id) => {
          const s = server[id];
          const here = seen[id];
          const status = s?.status;
          return (
            <article key={id} className="stream" data-testid="stream" data-stream={id} data-state={status ?? 'unknown'}>
              <header className="stream-head">
                <h3>{id}</h3>
                <StatusBadge status={status} />
              </header>
              <div className="stream-last" data-testid="stream-last">
                {here ? here.last : <span className="muted">no events yet</span>}
              </div>
              <div className="stream-meta">
                <span
                  data-testid="stream-count"
                  data-count={here?.count ?? 0}
                  title={here ? `last at ${clock(here.at)}` : undefined}
                >
                  {here?.count ?? 0} received
                </span>
                {s ? <span> · every {s.interval_ms / 1000} s</span> : null}
              </div>
              <div className="stream-actions">
                {ACTIONS.map((a) => (
                  <button
                    key={a.action}
                    type="button"
                    className="button button-small"
                    disabled={!status || !a.enabled(status)}
                    onClick={() => control(id, a.action)}
                  >
                    {a.label}
                  </button>
                ))}
              </div>
            </article>
          );
        })}
      </div>
    </section>
  );
}
