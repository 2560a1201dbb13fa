const TONES = {
  ready: 'good',
  completed: 'good',
  running: 'good',
  processing: 'info',
  preparing: 'info',
  uploading: 'info',
  paused: 'warn',
  errored: 'bad',
  error: 'bad',
  deleted: 'muted',
  stopped: 'muted',
};

export default function StatusBadge({ status }) {
  return (
    <span className={`badge badge-${TONES[status] ?? 'muted'}`} data-testid="status">
      {status ?? 'unknown'}
    </span>
  );
}
