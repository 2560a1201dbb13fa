import { useCallback, useState } from 'react';
import { useEventBusEmit } from 'ssebus/react';

import { ago, clock, duration } from '../format.js';
import { useNow } from '../useNow.js';
import PipelineWatcher, { STAGES } from './PipelineWatcher.jsx';
import StatusBadge from './StatusBadge.jsx';

// Each running pipeline holds one stream open; browsers allow six connections per host.
const MAX_PIPELINES = 3;

export default function VideoLibrary({ library }) {
  const { videos, error, refreshedAt } = library;
  const emit = useEventBusEmit();
  const now = useNow(5000);
  // videoId -> { active, status, stage, progress, message }; active while its stream is open
  const [pipelines, setPipelines] = useState({});

  const running = Object.values(pipelines).filter((p) => p.active).length;

  const start = (videoId) =>
    setPipelines((all) => ({
      ...all,
      [videoId]: { active: true, status: 'starting', stage: null, progress: 0, message: 'Connecting…' },
    }));

  const onUpdate = useCallback((videoId, update) => {
    setPipelines((all) => {
      const p = all[videoId];
      if (!p) return all;
      // The POST's answer may come after the first updates of the stream.
      if (update.status === 'queued' && p.status !== 'starting') return all;
      const finished = update.status === 'ready' || update.eventType === 'video_error';
      const stage = STAGES.some((s) => s.id === update.status) ? update.status : p.stage;
      return {
        ...all,
        [videoId]: {
          ...p,
          active: p.active && !finished,
          status: update.status,
          stage,
          progress: update.progress ?? p.progress,
          message: update.message ?? p.message,
        },
      };
    });
  }, []);

  return (
    <section className="card" aria-labelledby="videos-title">
      <div className="card-head">
        <div>
          <h2 id="videos-title">Videos</h2>
          <p className="card-sub">
            <code>GET /api/videos</code>, fetched again on <code>refresh:list:view</code>
            {refreshedAt ? <> · updated {clock(refreshedAt)}</> : null}
          </p>
        </div>
        <span className="count" data-testid="video-count">
          {videos ? videos.length : '…'}
        </span>
      </div>
      {error ? <p className="error">{error}</p> : null}
      {videos && videos.length === 0 ? (
        <p className="empty">No videos yet. Upload one, or send a Mux webhook.</p>
      ) : null}
      {videos && videos.length > 0 ? (
        <div className="table-wrap">
          <table className="videos">
            <thead>
              <tr>
                <th>Video</th>
                <th>Status</th>
                <th>Length</th>
                <th className="pipeline-col">Processing pipeline</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {videos.map((v) => {
                const p = pipelines[v.videoId];
                const status = p?.active ? 'processing' : v.status;
                return (
                  <tr key={v.videoId} data-testid="video-row" data-video-id={v.videoId} data-status={status}>
                    <td>
                      <div className="video-title">{titleOf(v)}</div>
                      <div className="video-meta">
                        <span className="mono">{v.videoId}</span> · {ago(v.createdAt, now)}
                      </div>
                    </td>
                    <td>
                      <StatusBadge status={status} />
                    </td>
                    <td className="mono video-length">{duration(v.duration)}</td>
                    <td className={p ? 'pipeline-col' : 'pipeline-col pipeline-none'}>
                      {p ? <PipelineProgress pipeline={p} /> : <span className="muted">—</span>}
                      {p?.active ? (
                        <PipelineWatcher videoId={v.videoId} emit={emit} onUpdate={onUpdate} />
                      ) : null}
                    </td>
                    <td className="actions">
                      <button
                        type="button"
                        className="button button-small"
                        disabled={p?.active || running >= MAX_PIPELINES}
                        title={
                          running >= MAX_PIPELINES && !p?.active
                            ? `${MAX_PIPELINES} pipelines are running; wait for one to finish`
                            : undefined
                        }
                        onClick={() => start(v.videoId)}
                      >
                        {p && !p.active ? 'Process again' : 'Process'}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

// Uploads have a file name; assets that only webhooks describe, their playback id at most.
function titleOf(video) {
  if (video.title) return video.title;
  return video.playbackId ? `Mux asset · ${video.playbackId}` : 'Mux asset';
}

function PipelineProgress({ pipeline }) {
  const { stage, status, progress, message } = pipeline;
  const current = STAGES.findIndex((s) => s.id === stage);
  const ready = status === 'ready';
  const failed = status === 'error';
  return (
    <div className="pipeline" data-testid="pipeline" data-status={status}>
      <ol className="stages">
        {STAGES.map((s, i) => {
          const state = ready || i < current ? 'done' : i === current ? (failed ? 'failed' : 'active') : 'todo';
          return (
            <li key={s.id} className={`stage stage-${state}`} data-stage={s.id} data-state={state}>
              {s.label}
            </li>
          );
        })}
        <li
          className={`stage stage-${ready ? 'done' : 'todo'}`}
          data-stage="ready"
          data-state={ready ? 'done' : 'todo'}
        >
          Ready
        </li>
      </ol>
      <div
        className={`bar ${failed ? 'bar-failed' : ''} ${ready ? 'bar-done' : ''}`}
        role="progressbar"
        aria-label={`${stage ?? 'pipeline'} progress`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={progress}
      >
        <span style={{ width: `${progress}%` }} />
      </div>
      <div className="pipeline-message">{message}</div>
    </div>
  );
}
