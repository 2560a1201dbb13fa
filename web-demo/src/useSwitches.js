import { useCallback, useState } from 'react';

/** A switch of the page, remembered across reloads (and shared by the tabs that open next). */
function useStoredSwitch(key) {
  const [on, setOn] = useState(() => {
    try {
      return localStorage.getItem(key) === '1';
    } catch {
      return false;
    }
  });
  const set = useCallback(
    (wanted) => {
      setOn(wanted);
      try {
        if (wanted) localStorage.setItem(key, '1');
        else localStorage.removeItem(key);
      } catch {
        // not remembered
      }
    },
    [key],
  );
  return { on, set };
}

/** The bridge's `debug: true`, which logs what the bridge does with console.debug. */
export const useDebug = () => useStoredSwitch('ssebus-demo-debug');

/**
 * The bridge's `crossTab: true`: the tabs of this browser share one stream, held by the
 * leader tab and relayed to the others.
 */
export const useCrossTab = () => useStoredSwitch('ssebus-demo-cross-tab');
