import { useEffect, useState } from 'react';

import { api } from '../api.js';

const POLL_MS = 2000;

/** GET /api/events/stats every two seconds, and what this page has received. */
export default function StatsPanel({ connection }) {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const live = connection.phase === 'open';

  useEffect(() => {
    if (!live) return undefined;
    let stopped = false;
    let timer = null;
    const poll = async () => {
      try {
        const s = await api.stats();
        if (stopped) return;
        setStats(s);
        setError(null);
      } catch (e) {
        if (!stopped) setError(e.message);
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [live]);

  const routes = Object.entries(stats?.clients_by_route ?? {}).sort(([a], [b]) => a.localeCompare(b));

  return (
    <section className="card" aria-labelledby="stats-title">
      <div className="card-head">
        <div>
          <h2 id="stats-title">Connections</h2>
          <p className="card-sub">
            <code>GET /api/events/stats</code>
            {live ? ', every 2 s' : ', paused while the stream is down'}
          </p>
        </div>
      </div>
      {error ? <p className="error">{error}</p> : null}
      <dl className="stats" data-testid="stats">
        <div>
          <dt>Open streams</dt>
          <dd data-testid="active-clients">{stats?.active_clients ?? '…'}</dd>
        </div>
        <div>
          <dt>Signed in</dt>
          <dd>{stats?.authenticated_clients ?? '…'}</dd>
        </div>
        <div>
          <dt>Events published</dt>
          <dd>{stats?.total_events_broadcast ?? '…'}</dd>
        </div>
        <div>
          <dt>Frames delivered</dt>
          <dd>{stats?.frames_delivered ?? '…'}</dd>
        </div>
        <div>
          <dt>Received here</dt>
          <dd data-testid="received">{connection.received.count}</dd>
        </div>
        <div>
          <dt>Streams opened</dt>
          <dd>{stats?.connections_total ?? '…'}</dd>
        </div>
      </dl>
      <p className="last-id">
        Last event id here: <span className="mono">{connection.received.lastId || '—'}</span>
      </p>
      {routes.length > 0 ? (
        <table className="routes">
          <thead>
            <tr>
              <th>Route</th>
              <th>Streams</th>
            </tr>
          </thead>
          <tbody>
            {routes.map(([route, n]) => (
              <tr key={route}>
                <td className="mono">{route}</td>
                <td>{n}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
