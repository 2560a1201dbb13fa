import { memo, useState } from 'react';
import { useEventBusOn } from 'ssebus/react';

import { clockMs, summary } from '../format.js';

const KEEP = 200;
let nextKey = 1;

function category(name) {
  if (name.startsWith('ssebus:')) return 'status';
  if (name.startsWith('video_upload')) return 'upload';
  if (name.startsWith('video') || name === 'refresh:list:view') return 'video';
  if (name in { tick: 1, system_metrics: 1, user_activity: 1, notification: 1 }) return 'stream';
  return 'other';
}

/** Every event on the page's bus, newest first: `useEventBusOn('*')`. */
export default function EventLog() {
  const [entries, setEntries] = useState([]);
  const [filter, setFilter] = useState('');
  const [hideStreams, setHideStreams] = useState(false);

  useEventBusOn('*', (payload, meta) => {
    const entry = {
      key: nextKey++,
      at: meta.receivedAt ?? Date.now(),
      name: meta.name,
      serverEvent: meta.serverEvent,
      id: meta.id,
      category: category(meta.name),
      // An Error serialises as {}: show its message.
      text: summary(payload?.error instanceof Error ? { ...payload, error: payload.error.message } : payload),
    };
    setEntries((list) => [entry, ...list].slice(0, KEEP));
  });

  const needle = filter.trim().toLowerCase();
  const shown = entries.filter(
    (e) =>
      !(hideStreams && e.category === 'stream') &&
      (!needle || e.name.toLowerCase().includes(needle) || e.text.toLowerCase().includes(needle)),
  );

  return (
    <section className="card card-log" aria-labelledby="log-title">
      <div className="card-head">
        <div>
          <h2 id="log-title">Live event log</h2>
          <p className="card-sub">Every event on the bus, with the server event it came from</p>
        </div>
        <div className="log-tools">
          <input
            type="search"
            placeholder="Filter"
            aria-label="Filter the log"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
          <label className="check">
            <input type="checkbox" checked={hideStreams} onChange={(e) => setHideStreams(e.target.checked)} /> hide
            demo streams
          </label>
          <button type="button" className="button button-small button-quiet" onClick={() => setEntries([])}>
            Clear
          </button>
        </div>
      </div>
      <ol className="log" data-testid="event-log" aria-live="off">
        {shown.length === 0 ? <li className="log-empty muted">Waiting for events…</li> : null}
        {shown.map((e) => (
          <LogEntry key={e.key} entry={e} />
        ))}
      </ol>
    </section>
  );
}

const LogEntry = memo(function LogEntry({ entry: e }) {
  return (
    <li className={`log-entry log-${e.category}`} data-testid="log-entry" data-name={e.name}>
      <time className="log-time mono">{clockMs(e.at)}</time>
      <span className="log-name mono">{e.name}</span>
      <span className="log-from mono" title="the server event">
        {e.serverEvent && e.serverEvent !== e.name ? e.serverEvent : ''}
      </span>
      <span className="log-id mono" title="the event id">
        {e.id ? `#${e.id}` : ''}
      </span>
      <span className="log-data mono" title={e.text}>
        {e.text}
      </span>
    </li>
  );
});
