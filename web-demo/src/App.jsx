import { EVENTS_URL, EVENT_MAP } from './api.js';
import ConnectionIndicator from './components/ConnectionIndicator.jsx';
import EventLog from './components/EventLog.jsx';
import MuxWebhookPanel from './components/MuxWebhookPanel.jsx';
import StatsPanel from './components/StatsPanel.jsx';
import StreamsPanel from './components/StreamsPanel.jsx';
import TestEventPanel from './components/TestEventPanel.jsx';
import UploadPanel from './components/UploadPanel.jsx';
import VideoLibrary from './components/VideoLibrary.jsx';
import { useConnection } from './useConnection.js';
import { useIdentity } from './useIdentity.js';
import { useVideos } from './useVideos.js';

// Module-level, so that the hook sees the same options on every render.
const STREAM_OPTIONS = { map: EVENT_MAP };

export default function App() {
  const connection = useConnection(EVENTS_URL, STREAM_OPTIONS);
  const identity = useIdentity(connection);
  const library = useVideos();

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <div>
            <h1>Video dashboard</h1>
            <p>Live from ssebus-server over Server-Sent Events</p>
          </div>
        </div>
        <ConnectionIndicator connection={connection} identity={identity} />
      </header>

      <main className="layout">
        <div className="column column-main">
          <VideoLibrary library={library} />
          <StreamsPanel live={connection.phase === 'open'} />
          <EventLog />
        </div>
        <div className="column column-side">
          <UploadPanel />
          <MuxWebhookPanel videos={library.videos} />
          <TestEventPanel identity={identity} />
          <StatsPanel connection={connection} />
        </div>
      </main>
    </div>
  );
}
