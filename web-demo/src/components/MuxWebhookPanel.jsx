import { useState } from 'react';

import { api } from '../api.js';

const TYPES = [
  { type: 'video.asset.created', label: 'Asset created' },
  { type: 'video.asset.ready', label: 'Asset ready' },
  { type: 'video.asset.errored', label: 'Asset errored' },
  { type: 'video.asset.deleted', label: 'Asset deleted' },
];
function newAssetId() {
  return `asset-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A Mux webhook through the server's real, signed path: the page asks the demo server to
 * write and sign the webhook (a page cannot hold the signing secret), and the server
 * verifies it like any other before it becomes video:created / video:updated.
 */
export default function MuxWebhookPanel({ videos }) {
  const [type, setType] = useState(TYPES[0].type);
  const [asset, setAsset] = useState(''); // the chosen existing asset
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);

  const existing = (videos ?? []).filter((v) => v.status !== 'deleted');
  const needsAsset = type !== 'video.asset.created';
  // Every event but `created` is about an asset the list has (the first, until one is chosen).
  const chosen = existing.some((v) => v.videoId === asset) ? asset : existing[0]?.videoId;

  const send = async (event) => {
    event.preventDefault();
    const assetId = needsAsset ? chosen : newAssetId();
    setBusy(true);
    try {
      const r = await api.muxWebhook(type, assetId);
      let what = `${r.events} event${r.events === 1 ? '' : 's'}`;
      if (r.duplicate) what = 'a duplicate, ignored';
      else if (r.ignored) what = 'ignored';
      setResult({ ok: true, assetId, text: `${type} for ${assetId}: verified, ${what}` });
    } catch (e) {
      setResult({ ok: false, assetId, text: e.message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="mux-title">
      <div className="card-head">
        <div>
          <h2 id="mux-title">Mux webhook</h2>
          <p className="card-sub">
            Signed (<code>Mux-Signature</code>, HMAC-SHA256) and verified by the server
          </p>
        </div>
      </div>
      <form className="form" onSubmit={send}>
        <label className="field">
          <span>Event</span>
          <select value={type} onChange={(e) => setType(e.target.value)} name="mux-type">
            {TYPES.map((t) => (
              <option key={t.type} value={t.type}>
                {t.label} · {t.type}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Asset</span>
          {needsAsset ? (
            <select
              value={chosen ?? ''}
              onChange={(e) => setAsset(e.target.value)}
              name="mux-asset"
              disabled={existing.length === 0}
            >
              {existing.length === 0 ? <option value="">No videos yet</option> : null}
              {existing.map((v) => (
                <option key={v.videoId} value={v.videoId}>
                  {v.title ? `${v.title} (${v.videoId})` : v.videoId}
                </option>
              ))}
            </select>
          ) : (
            <input value="a new asset" readOnly className="readonly" name="mux-asset" />
          )}
        </label>
        <button type="submit" className="button button-primary" disabled={busy || (needsAsset && !chosen)}>
          Simulate Mux webhook
        </button>
      </form>
      {result ? (
        <p
          className={result.ok ? 'note' : 'error'}
          data-testid="mux-result"
          data-asset-id={result.assetId}
          role="status"
        >
          {result.text}
        </p>
      ) : null}
    </section>
  );
}
