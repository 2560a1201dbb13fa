import { useEffect, useState } from 'react';

import { api } from '../api.js';

const POLL_MS = 2000;

/**
 * GET /api/events/stats every two seconds (the server, all its clients), and what this
 * page's bus has received. The two count different things: the server counts the frames it
 * wrote to every stream, the page counts bus events (one server event may map to several).
 */
export default function StatsPanel({ connection, debug, crossTab }) {
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
      <h3 className="stats-group">Server, all clients</h3>
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
          <dt>Streams opened</dt>
          <dd>{stats?.connections_total ?? '…'}</dd>
        </div>
        <div>
          <dt>Events published</dt>
          <dd>{stats?.total_events_broadcast ?? '…'}</dd>
        </div>
        <div title="SSE frames the server wrote, summed over every stream of every client">
          <dt>Frames sent, all streams</dt>
          <dd data-testid="frames-delivered">{stats?.frames_delivered ?? '…'}</dd>
        </div>
      </dl>
      <h3 className="stats-group">This page</h3>
      <dl className="stats">
        <div title="Events the bridge put on this page's bus; one server event may become several bus events">
          <dt>Bus events received</dt>
          <dd data-testid="received">{connection.received.count}</dd>
        </div>
        <div className="stats-wide">
          <dt>Last event id</dt>
          <dd className="mono" data-testid="last-id">
            {connection.received.lastId || '—'}
          </dd>
        </div>
      </dl>
      <div className="switches">
        <label className="check">
          <input
            type="checkbox"
            name="debug"
            checked={debug.on}
            onChange={(e) => debug.set(e.target.checked)}
          />
          Debug: the bridge logs to <code>console.debug</code>
        </label>
        <label className="check" title="The bridge's crossTab option: the leader tab holds the stream and relays it to the other tabs">
          <input
            type="checkbox"
            name="crossTab"
            checked={crossTab.on}
            onChange={(e) => crossTab.set(e.target.checked)}
          />
          One stream for all tabs: <code>crossTab</code>
        </label>
      </div>
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
