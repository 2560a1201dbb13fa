// What the package's modules share: how a wrong value is named in an error message, how
// an error nobody caught is surfaced without stopping the caller, and how event ids compare.

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

function isDigits(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length !== 0;
}

// Whether an event carrying `id` was delivered already, `last` being the newest id
// delivered: decimal ids (ssebus-server's uint64s) compare as numbers, others by equality.
export function delivered(id, last) {
  if (id === last) return true;
  if (!isDigits(id) || !isDigits(last)) return false;
  if (id.charCodeAt(0) !== 48 && last.charCodeAt(0) !== 48) {
    // No leading zeros: the shorter number is the smaller, and equal lengths compare as text.
    return id.length === last.length ? id < last : id.length < last.length;
  }
  let i = 0;
  let j = 0;
  while (i < id.length - 1 && id.charCodeAt(i) === 48) i++;
  while (j < last.length - 1 && last.charCodeAt(j) === 48) j++;
  const a = id.length - i;
  const b = last.length - j;
  if (a !== b) return a < b;
  return id.slice(i) <= last.slice(j);
}
