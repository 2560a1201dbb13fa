import { Component } from 'react';

/** Shows what failed (e.g. the WebAssembly module did not load) instead of a blank page. */
export default class ErrorBoundary extends Component {
  state = { error: null };

  static getDerivedStateFromError(error) {
    return { error };
  }

  render() {
    const { error } = this.state;
    if (error === null) return this.props.children;
    return (
      <div className="crash" role="alert">
        <h1>The dashboard stopped</h1>
        <p>{error.message ?? String(error)}</p>
        <button type="button" className="button button-primary" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}
