import { clock } from '../format.js';
import { useNow } from '../useNow.js';

const LABELS = { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', closed: 'Disconnected' };
const ROLES = {
  leader: 'This tab holds the stream and relays it to the other tabs',
  follower: 'This tab gets the stream from the leader tab',
  solo: 'This tab has a stream of its own',
};

export default function ConnectionIndicator({ connection, identity }) {
  const { phase, attempt, at, error, reason, httpStatus, role } = connection;
  const now = useNow(250, phase === 'reconnecting');

  let detail = null;
  if (phase === 'reconnecting') {
    const seconds = Math.max(0, Math.ceil((at - now) / 1000));
    detail =
      at === undefined ? null : (
        <span className="connection-detail" data-testid="next-attempt" data-at={at} data-attempt={attempt}>
          {httpStatus ? `HTTP ${httpStatus} · ` : ''}
          {seconds > 0 ? (
            <>
              attempt {attempt}
              <span className="connection-at"> at {clock(at)}</span>, in {seconds} s
            </>
          ) : (
            `attempt ${attempt} running`
          )}
        </span>
      );
  } else if (phase === 'closed') {
    detail = <span className="connection-detail">{reason === 'maxAttempts' ? 'gave up' : 'stream closed'}</span>;
  } else if (phase === 'open') {
    detail = <span className="connection-detail">/api/events</span>;
  }

  return (
    <div className="topbar-right">
      <div className="who" data-testid="identity" title={identity.session ? `session ${identity.session}` : undefined}>
        {identity.user ? (
          <>
            signed in as <strong>{identity.user}</strong>
          </>
        ) : (
          'anonymous'
        )}
        <span className="mono muted"> · {identity.clientId}</span>
      </div>
      <div className="connection-group">
        <div
          className={`connection connection-${phase}`}
          data-testid="connection"
          data-state={phase}
          role="status"
          aria-live="polite"
          title={error ?? undefined}
        >
          <span className="connection-dot" aria-hidden="true" />
          <span className="connection-label">{LABELS[phase]}</span>
          {detail}
        </div>
        {role && phase !== 'closed' ? (
          <span className={`tab-role tab-role-${role}`} data-testid="tab-role" data-role={role} title={ROLES[role]}>
            {role}
          </span>
        ) : null}
      </div>
      <div className="connection-actions">
        {phase === 'reconnecting' ? (
          <button type="button" className="button button-small" onClick={connection.retryNow}>
            Retry now
          </button>
        ) : null}
        {phase === 'closed' ? (
          <button type="button" className="button button-small" onClick={connection.connect}>
            Connect
          </button>
        ) : (
          <button type="button" className="button button-small button-quiet" onClick={connection.disconnect}>
            Disconnect
          </button>
        )}
      </div>
    </div>
  );
}
