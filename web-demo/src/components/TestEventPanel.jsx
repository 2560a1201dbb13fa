import { useState } from 'react';

import { api } from '../api.js';
import { plural } from '../format.js';

const TARGETS = [
  { type: 'all', label: 'All clients' },
  { type: 'broadcast', label: 'Signed-in clients' },
  { type: 'user', label: 'A user' },
  { type: 'session', label: 'A session' },
  { type: 'client', label: 'A client' },
];

/** POST /api/sse-test: an event to a target, with the publisher key of the demo server. */
export default function TestEventPanel({ identity }) {
  const [event, setEvent] = useState('test:message');
  const [message, setMessage] = useState('Hello from the dashboard');
  const [target, setTarget] = useState('all');
  const [ids, setIds] = useState({});
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const [user, setUser] = useState('ana');

  const own = { user: identity.user ?? '', session: identity.session ?? '', client: identity.clientId };
  const needsId = target === 'user' || target === 'session' || target === 'client';
  const targetId = ids[target] ?? own[target] ?? '';

  const send = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body = { event, message, target: needsId ? { type: target, id: targetId } : { type: target } };
      const r = await api.sendTest(body);
      setResult({ ok: true, message, text: `Sent event #${r.id}: delivered to ${plural(r.delivered, 'client')}` });
    } catch (err) {
      setResult({ ok: false, message, text: err.message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="test-title">
      <div className="card-head">
        <div>
          <h2 id="test-title">Send a test event</h2>
          <p className="card-sub">
            <code>POST /api/sse-test</code> to everyone, signed-in clients, or one user, session or client
          </p>
        </div>
      </div>
      <form className="form" onSubmit={send}>
        <div className="field-row">
          <label className="field">
            <span>Event</span>
            <input name="event" value={event} onChange={(e) => setEvent(e.target.value)} required />
          </label>
          <label className="field">
            <span>Target</span>
            <select name="target" value={target} onChange={(e) => setTarget(e.target.value)}>
              {TARGETS.map((t) => (
                <option key={t.type} value={t.type}>
                  {t.label} ({t.type})
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="field">
          <span>Message</span>
          <input name="message" value={message} onChange={(e) => setMessage(e.target.value)} />
        </label>
        {needsId ? (
          <label className="field">
            <span>{target} id</span>
            <input
              name="target-id"
              value={targetId}
              placeholder={target === 'client' ? '' : 'sign in to get one'}
              onChange={(e) => setIds((all) => ({ ...all, [target]: e.target.value }))}
              required
            />
          </label>
        ) : null}
        <button type="submit" className="button button-primary" disabled={busy}>
          Send test event
        </button>
      </form>
      {result ? (
        <p
          className={result.ok ? 'note' : 'error'}
          data-testid="test-result"
          data-message={result.message}
          role="status"
        >
          {result.text}
        </p>
      ) : null}

      <div className="identity">
        {identity.user ? (
          <>
            <span>
              Signed in as <strong>{identity.user}</strong>, session <span className="mono">{identity.session}</span>
            </span>
            <button
              type="button"
              className="button button-small button-quiet"
              onClick={identity.signOut}
              disabled={identity.busy}
            >
              Sign out
            </button>
          </>
        ) : (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              identity.signIn(user);
            }}
          >
            <span>Anonymous.</span>
            <input
              name="user"
              value={user}
              onChange={(e) => setUser(e.target.value)}
              aria-label="User name"
              size={8}
              required
            />
            <button type="submit" className="button button-small" disabled={identity.busy}>
              Sign in
            </button>
          </form>
        )}
        {identity.error ? <p className="error">{identity.error}</p> : null}
      </div>
    </section>
  );
}
