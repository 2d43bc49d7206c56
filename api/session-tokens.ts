import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived signed session tokens: `cfs_<payload>.<signature>`, payload `{ sub, iat, exp }` as base64url JSON,
 * HMAC-SHA256 with the service's key. Only the subject is trusted from the token; role and scope are read
 * from the store on every request, so a change applies at once.
 */
export interface SessionClaims {
  sub: string;
  iat: number;
  exp: number;
}

export const SESSION_PREFIX = 'cfs_';

export function signSession(claims: SessionClaims, key: Buffer): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${SESSION_PREFIX}${payload}.${mac(payload, key)}`;
}

/** The claims of a valid, unexpired token; undefined otherwise. */
export function verifySession(token: string, key: Buffer, now: number): SessionClaims | undefined {
  if (!token.startsWith(SESSION_PREFIX)) return undefined;
  const [payload, signature] = token.slice(SESSION_PREFIX.length).split('.');
  if (!payload || !signature) return undefined;
  const expected = Buffer.from(mac(payload, key));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp <= now)
      return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

function mac(payload: string, key: Buffer): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}
