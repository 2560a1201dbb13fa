import { useRef } from 'react';
import { EventBusProvider, useEventBusOn, useEventSource } from 'ssebus/react';

import { api } from '../api.js';

export const STAGES = [
  { id: 'downloading', label: 'Download' },
  { id: 'transcoding', label: 'Transcode' },
  { id: 'uploading', label: 'Upload' },
];

/**
 * Follows one video's pipeline on GET /videos/{id}/status, then starts it. The stream gets
 * a bus of its own, so that its connection status never mixes with the page's; its
 * updates are passed on to the page's bus (`emit`), where the event log sees them.
 */
export default function PipelineWatcher(props) {
  return (
    <EventBusProvider>
      <PipelineStream {...props} />
    </EventBusProvider>
  );
}

function PipelineStream({ videoId, emit, onUpdate }) {
  const url = `/videos/${encodeURIComponent(videoId)}/status`;
  useEventSource(url);
  const started = useRef(false);

  // Start the job once the stream is open, so that none of its updates is missed.
  useEventBusOn('ssebus:open', () => {
    if (started.current) return;
    started.current = true;
    api.process(videoId).then(
      () => onUpdate(videoId, { status: 'queued', message: 'Queued' }),
      (e) => onUpdate(videoId, { eventType: 'video_error', status: 'error', message: e.message }),
    );
  });

  useEventBusOn('video_update', (update, meta) => {
    // A new stream opens with the video's last update, which has no id: from an earlier
    // run, here. This run's updates carry ids.
    if (!meta.id || update?.videoId !== videoId) return;
    emit('video_update', update, meta);
    onUpdate(videoId, update);
  });

  return null;
}
