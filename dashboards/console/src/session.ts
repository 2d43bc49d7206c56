import { reactive } from 'vue';

/** The signed-in person. The token lives in sessionStorage (never in a URL); a reload keeps the session. */
export interface Me {
  id: string;
  name: string;
  role: string;
  permissions: string[];
  grids: string[] | null;
  timeZone: string;
  now: number;
}

interface Stored {
  token: string;
  expiresAt: number;
}

const KEY = 'careflow.session';
/** Why the last session ended, kept so that the message survives a reload of the login page. */
const ENDED_KEY = 'careflow.ended';

export const session = reactive<{
  token: string | null;
  expiresAt: number;
  me: Me | null;
  ended: string | null;
}>({
  token: null,
  expiresAt: 0,
  me: null,
  ended: null,
});

let timer: ReturnType<typeof setTimeout> | undefined;

export function restoreSession(): void {
  try {
    const raw = sessionStorage.getItem(KEY);
    const ended = sessionStorage.getItem(ENDED_KEY);
    if (ended === 'logout' || ended === 'expired') session.ended = ended;
    if (!raw) return;
    const s = JSON.parse(raw) as Stored;
    if (typeof s.token === 'string' && typeof s.expiresAt === 'number') startSession(s.token, s.expiresAt);
  } catch {
    sessionStorage.removeItem(KEY);
  }
}

export function startSession(token: string, expiresAt: number): void {
  session.token = token;
  session.expiresAt = expiresAt;
  session.ended = null;
  sessionStorage.setItem(KEY, JSON.stringify({ token, expiresAt } satisfies Stored));
  sessionStorage.removeItem(ENDED_KEY);
  clearTimeout(timer);
  // The service's clock decides expiry (a 401 ends the session); this timer only covers an idle screen.
  const wait = expiresAt - Date.now();
  if (wait > 0 && wait < 2 ** 31 - 1) timer = setTimeout(() => endSession('expired'), wait);
}

/** `reason`: 'logout' | 'expired'. */
export function endSession(reason: 'logout' | 'expired'): void {
  clearTimeout(timer);
  session.token = null;
  session.me = null;
  session.expiresAt = 0;
  session.ended = reason;
  sessionStorage.removeItem(KEY);
  sessionStorage.setItem(ENDED_KEY, reason);
}

let offsetMs = 0;

/** Records who is signed in and the service clock's offset from this device's clock. */
export function setMe(me: Me): void {
  offsetMs = me.now - Date.now();
  session.me = me;
}

/** The service's time now (a simulated clock may be far from the device's). */
export function serverNow(): number {
  return Date.now() + offsetMs;
}

export function can(permission: string): boolean {
  return session.me?.permissions.includes(permission) ?? false;
}
