import { useCallback, useMemo, useState } from 'react';
import { EventBridge } from 'ssebus';

const STORAGE_KEY = 'ssebus-demo-debug';

// Whether this version of ssebus has the bridge's `debug` option: a bridge that is never
// connected tells, since the bridge refuses options it does not know.
function bridgeHasDebug(url) {
  try {
    new EventBridge({ emit() {} }, { url, debug: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * The page's "debug" switch: the bridge's `debug: true`, which logs what the bridge does
 * with console.debug. Remembered across reloads.
 */
export function useDebug(url) {
  const supported = useMemo(() => bridgeHasDebug(url), [url]);
  const [wanted, setWanted] = useState(() => {
    try {
      return localStorage.getItem(STORAGE_KEY) === '1';
    } catch {
      return false;
    }
  });
  const set = useCallback((on) => {
    setWanted(on);
    try {
      if (on) localStorage.setItem(STORAGE_KEY, '1');
      else localStorage.removeItem(STORAGE_KEY);
    } catch {
      // not remembered
    }
  }, []);
  return { on: supported && wanted, supported, set };
}
