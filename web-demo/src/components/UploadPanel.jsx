import { useState } from 'react';
import { useEventBusOn } from 'ssebus/react';

import { api } from '../api.js';

const SAMPLES = [
  'product-launch.mp4',
  'team-offsite-recap.mov',
  'onboarding-part-1.mp4',
  'customer-story.webm',
  'q3-all-hands.mp4',
];
const KEEP = 5;

function upsert(list, uploadId, change) {
  const i = list.findIndex((u) => u.uploadId === uploadId);
  if (i === -1) return [change({ uploadId, progress: 0, state: 'uploading' }), ...list].slice(0, KEEP);
  const next = list.slice();
  next[i] = change(list[i]);
  return next;
}

/**
 * Simulated uploads: POST /api/uploads, then video:upload:started / progress / completed,
 * sent to this client only: this tab, or with crossTab every tab of this browser.
 */
export default function UploadPanel({ clientId }) {
  const [uploads, setUploads] = useState([]);
  const [error, setError] = useState(null);
  const [sample, setSample] = useState(0);

  useEventBusOn('video:upload:*', (payload, meta) => {
    if (!payload?.uploadId) return;
    const kind = meta.name.slice(meta.name.lastIndexOf('_') + 1); // started | progress | completed
    setUploads((list) =>
      upsert(list, payload.uploadId, (u) => ({
        ...u,
        filename: payload.filename ?? u.filename,
        progress: kind === 'completed' ? 100 : Math.max(u.progress, payload.progress ?? 0),
        state: kind === 'completed' || u.state === 'completed' ? 'completed' : 'uploading',
        videoId: payload.videoId ?? u.videoId,
      })),
    );
  });

  const upload = async (filename) => {
    setError(null);
    try {
      const { uploadId } = await api.upload(filename, clientId);
      setUploads((list) => upsert(list, uploadId, (u) => ({ ...u, filename: u.filename ?? filename })));
    } catch (e) {
      setError(e.message);
    }
  };

  const uploadSample = () => {
    upload(SAMPLES[sample % SAMPLES.length]);
    setSample((n) => n + 1);
  };

  const onFile = (event) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (file) upload(file.name);
  };

  return (
    <section className="card" aria-labelledby="upload-title">
      <div className="card-head">
        <div>
          <h2 id="upload-title">Upload</h2>
          <p className="card-sub">
            Simulated: only the file name is sent; progress comes back as <code>video:upload:*</code>
          </p>
        </div>
      </div>
      <div className="button-row">
        <button type="button" className="button button-primary" onClick={uploadSample}>
          Upload a sample video
        </button>
        <label className="button">
          Choose a file…
          <input type="file" accept="video/*" className="visually-hidden" onChange={onFile} />
        </label>
      </div>
      {error ? <p className="error">{error}</p> : null}
      {uploads.length > 0 ? (
        <ul className="uploads">
          {uploads.map((u) => (
            <li
              key={u.uploadId}
              data-testid="upload"
              data-upload-id={u.uploadId}
              data-video-id={u.videoId}
              data-state={u.state}
            >
              <div className="upload-line">
                <span className="upload-name">{u.filename ?? u.uploadId}</span>
                <span className="upload-pct mono">{u.progress}%</span>
              </div>
              <div
                className={`bar ${u.state === 'completed' ? 'bar-done' : ''}`}
                role="progressbar"
                aria-label={`Upload of ${u.filename ?? u.uploadId}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={u.progress}
              >
                <span style={{ width: `${u.progress}%` }} />
              </div>
              <div className="upload-state">
                {u.state === 'completed' ? (
                  <>
                    Completed → <span className="mono">{u.videoId}</span>
                  </>
                ) : (
                  'Uploading…'
                )}
              </div>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
