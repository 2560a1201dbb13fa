// What the package's modules share: how a wrong value is named in an error message, and
// how an error nobody caught is surfaced without stopping the caller.

export function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

// The way the platform surfaces uncaught errors (the console, window.onerror), or a throw
// from a timer where there is no reportError.
export function report(error) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(error);
  else
    setTimeout(() => {
      throw error;
    }, 0);
}
