import { useCallback, useEffect, useRef, useState } from 'react';

import { api } from './api.js';

const STORAGE_KEY = 'ssebus-demo-identity';

function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    if (saved && typeof saved.user === 'string' && saved.expiresAt > Date.now()) return saved;
  } catch {
    // unreadable: start anonymous
  }
  return null;
}

function save(r) {
  const who = { user: r.user, session: r.session, expiresAt: Date.now() + r.expiresIn * 1000 };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(who));
  return who;
}

/**
 * Who the page is to the server. Signing in sets the server's HttpOnly token cookie, and
 * the stream reconnects so that the server sees the new identity. When the server refuses
 * the token (401 or 403: it restarted with another secret), the page signs in again as the
 * same user and session and retries at once; if that fails too, it goes on anonymous.
 */
export function useIdentity(connection, clientId) {
  const [signedIn, setSignedIn] = useState(remembered);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const { renew, failure, authFailed } = connection;
  const latest = useRef({ signedIn, renew });
  latest.current = { signedIn, renew };
  const tries = useRef(0); // what was done about refused tokens since the stream was last open

  const signIn = useCallback(
    async (user) => {
      setBusy(true);
      setError(null);
      try {
        setSignedIn(save(await api.login(user)));
        renew();
      } catch (e) {
        setError(e.message);
      } finally {
        setBusy(false);
      }
    },
    [renew],
  );

  const signOut = useCallback(async () => {
    setBusy(true);
    setError(null);
    try {
      await api.logout();
      localStorage.removeItem(STORAGE_KEY);
      setSignedIn(null);
      renew();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }, [renew]);

  // The token cookie is the browser's: when another tab signs in or out, this one says so.
  useEffect(() => {
    const changed = (e) => {
      if (e.key === STORAGE_KEY || e.key === null) setSignedIn(remembered());
    };
    addEventListener('storage', changed);
    return () => removeEventListener('storage', changed);
  }, []);

  // Every failed attempt is a new `failure`; it is null again once the stream is open.
  // A refused token: sign in again (first), else go on anonymous (then), else leave it to
  // the backoff.
  useEffect(() => {
    if (failure === null) {
      tries.current = 0;
      return;
    }
    if (!authFailed || tries.current >= 2) return;
    const again = tries.current === 0 ? latest.current.signedIn : null;
    tries.current += again === null ? 2 : 1;
    (async () => {
      try {
        if (again === null) throw new Error('anonymous from now on');
        setSignedIn(save(await api.login(again.user, again.session)));
      } catch {
        // Drop the cookie the server refuses.
        localStorage.removeItem(STORAGE_KEY);
        setSignedIn(null);
        await api.logout().catch(() => {});
      }
      latest.current.renew();
    })();
  }, [failure, authFailed]);

  return { clientId, user: signedIn?.user ?? null, session: signedIn?.session ?? null, busy, error, signIn, signOut };
}
