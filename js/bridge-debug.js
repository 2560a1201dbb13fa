// ssebus: debug output, the `debug` package's convention without depending on it.
//
// A logger is on when the bridge was made with `debug: true`, or when the namespace is
// enabled globally: `DEBUG=ssebus:*` in Node, `localStorage.debug = 'ssebus:*'` in a
// browser (comma- or space-separated patterns, `*` a wildcard, `-name` excludes). Both are
// read when a connection starts, never at import, so importing the package touches
// neither `process.env` nor `localStorage`.
//
// Off, a logger is null and call sites read `log?.('format %s', value)`: optional
// chaining skips the call and its arguments, so nothing is formatted or built. On, the
// format and its arguments go to console.debug as they are (the console formats them).
//
// Namespaces: `ssebus:bridge` (connection state, attempts and delays, HTTP statuses,
// duplicates, gaps). A cross-tab transport logs its role changes and hand-offs under
// `ssebus:tabs` through the same function.

function globalSetting() {
  const proc = globalThis.process;
  if (typeof proc === 'object' && proc !== null && typeof proc.versions?.node === 'string') {
    const value = proc.env?.DEBUG;
    return typeof value === 'string' ? value : '';
  }
  try {
    // Reading localStorage throws where storage is blocked (sandboxed frames, some privacy modes).
    const value = globalThis.localStorage?.getItem('debug');
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}

function toRegExp(pattern) {
  const body = pattern.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replaceAll('*', '.*?');
  return new RegExp(`^${body}$`);
}

/** Whether `namespace` is enabled by a `debug`-style setting such as "ssebus:*,-ssebus:tabs". */
export function enabledBy(setting, namespace) {
  let on = false;
  for (const part of setting.split(/[\s,]+/)) {
    if (part === '') continue;
    if (part[0] === '-') {
      if (toRegExp(part.slice(1)).test(namespace)) return false;
    } else if (!on && toRegExp(part).test(namespace)) {
      on = true;
    }
  }
  return on;
}

/**
 * A logger for `namespace` whose lines name `subject` (a connection's URL), or null when
 * debugging is off for it. `forced` is the bridge's own `debug` option.
 */
export function debugLogger(namespace, subject, forced) {
  if (!forced && !enabledBy(globalSetting(), namespace)) return null;
  const prefix = `${namespace} %s `;
  return (format, ...args) => console.debug(prefix + format, subject, ...args);
}
