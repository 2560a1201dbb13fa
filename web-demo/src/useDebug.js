import { useCallback, useState } from 'react';

const STORAGE_KEY = 'ssebus-demo-debug';

/**
 * The page's "debug" switch: the bridge's `debug: true`, which logs what the bridge does
 * with console.debug. Remembered across reloads.
 */
export function useDebug() {
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
  return { on: wanted, set };
}
