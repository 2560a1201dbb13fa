import { useCallback, useEffect, useState } from 'react';

import { api, clientId } from './api.js';

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

/**
 * Who the page is to the server. Signing in sets the server's HttpOnly token cookie, and
 * the stream reconnects so that the server sees the new identity.
 */
export function useIdentity(connection) {
  const [signedIn, setSignedIn] = useState(remembered);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const { reconnect, httpStatus, phase } = connection;

  const signIn = useCallback(
    async (user) => {
      setBusy(true);
      setError(null);
      try {
        const r = await api.login(user);
        const who = { user: r.user, session: r.session, expiresAt: Date.now() + r.expiresIn * 1000 };
        localStorage.setItem(STORAGE_KEY, JSON.stringify(who));
        setSignedIn(who);
        reconnect();
      } catch (e) {
        setError(e.message);
      } finally {
        setBusy(false);
      }
    },
    [reconnect],
  );

  const signOut = useCallback(async () => {
    setBusy(true);
    setError(null);
    try {
      await api.logout();
      localStorage.removeItem(STORAGE_KEY);
      setSignedIn(null);
      reconnect();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }, [reconnect]);

  // A token the server no longer accepts (it restarted with a new secret): the stream gets
  // 401 on every attempt. Drop the cookie; the next attempt is anonymous.
  const rejected = httpStatus === 401 && phase === 'reconnecting';
  useEffect(() => {
    if (!rejected) return;
    localStorage.removeItem(STORAGE_KEY);
    setSignedIn(null);
    api.logout().catch(() => {});
  }, [rejected]);

  return { clientId, user: signedIn?.user ?? null, session: signedIn?.session ?? null, busy, error, signIn, signOut };
}
