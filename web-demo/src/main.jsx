import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { EventBusProvider } from 'ssebus/react';

import App from './App.jsx';
import ErrorBoundary from './ErrorBoundary.jsx';
import './styles.css';

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <ErrorBoundary>
      <EventBusProvider>
        <App />
      </EventBusProvider>
    </ErrorBoundary>
  </StrictMode>,
);
