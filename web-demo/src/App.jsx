import { useEffect, useMemo, useRef } from 'react';

import { clientIdFor, eventsUrl, EVENT_MAP } from './api.js';
import ConnectionIndicator from './components/ConnectionIndicator.jsx';
import EventLog from './components/EventLog.jsx';
import MuxWebhookPanel from './components/MuxWebhookPanel.jsx';
import StatsPanel from './components/StatsPanel.jsx';
import StreamsPanel from './components/StreamsPanel.jsx';
import TestEventPanel from './components/TestEventPanel.jsx';
import UploadPanel from './components/UploadPanel.jsx';
import VideoLibrary from './components/VideoLibrary.jsx';
import { useConnection } from './useConnection.js';
import { useCrossTab, useDebug } from './useSwitches.js';
import { useIdentity } from './useIdentity.js';
import { useVideos } from './useVideos.js';

export default function App() {
  const debug = useDebug();
  const crossTab = useCrossTab();
  const options = useMemo(
    () => ({ map: EVENT_MAP, ...(debug.on ? { debug: true } : {}), ...(crossTab.on ? { crossTab: true } : {}) }),
    [debug.on, crossTab.on],
  );
  // With crossTab, the tabs are one client to the server: the same client id, the same URL.
  const clientId = clientIdFor(crossTab.on);
  const connection = useConnection(eventsUrl(clientId), options);
  // Switching debug makes a new bridge; a new connection too, so that debug covers it from
  // its first request. (The ref, not a "first run" flag: StrictMode runs effects twice.)
  const { fresh } = connection;
  const debugWas = useRef(debug.on);
  useEffect(() => {
    if (debugWas.current === debug.on) return;
    debugWas.current = debug.on;
    fresh();
  }, [debug.on, fresh]);
  const identity = useIdentity(connection, clientId);
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
          <UploadPanel clientId={clientId} />
          <MuxWebhookPanel videos={library.videos} />
          <TestEventPanel identity={identity} />
          <StatsPanel connection={connection} debug={debug} crossTab={crossTab} />
        </div>
      </main>
    </div>
  );
}
