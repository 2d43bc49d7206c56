import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EVERYTHING, type Principal } from '../core/access.ts';
import type { Clock } from '../core/clock.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { CareflowError } from '../core/errors.ts';
import type { Store } from '../core/store/store.ts';
import { verifySession } from './session-tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export const API_KEY_PREFIX = 'cfk_';

export interface AuthenticateDeps {
  store: Pick<Store, 'access'>;
  clock: Clock;
  adminToken: string | undefined;
  sessionKey: Buffer;
  /** Counts a refused bearer token (`careflow_auth_failures_total{channel="bearer"}`). */
  metrics?: ServiceMetrics;
}

/**
 * `onRequest` hook for `/api`: resolves the bearer token to a principal — the bootstrap admin token, an API
 * key (`cfk_…`, stored as SHA-256), or a session token from `POST /api/login` (`cfs_…`). Anything else is 401.
 */
export function authenticate(deps: AuthenticateDeps) {
  const admin = deps.adminToken === undefined ? undefined : sha256(deps.adminToken);
  return async function onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.routeOptions.config?.public === true) return;
    reply.header('www-authenticate', 'Bearer');
    const token = bearerToken(request.headers.authorization);
    if (token === undefined)
      throw new CareflowError('ERR_API_UNAUTHORIZED', 'Send Authorization: Bearer <token>');
    const principal = resolve(token);
    if (!principal) {
      deps.metrics?.countFailedAuthentication('bearer');
      throw new CareflowError('ERR_API_UNAUTHORIZED', 'The bearer token is not valid or has expired');
    }
    request.principal = principal;
    reply.removeHeader('www-authenticate');
  };

  function resolve(token: string): Principal | undefined {
    const digest = sha256(token);
    if (admin && timingSafeEqual(digest, admin))
      return { kind: 'admin-token', id: 'admin', role: 'admin', scope: EVERYTHING };
    if (token.startsWith(API_KEY_PREFIX)) {
      const key = deps.store.access.apiKeyByHash(digest.toString('hex'));
      return key && { kind: 'api-key', id: `key:${key.id}`, role: key.role, scope: key.scope };
    }
    const claims = verifySession(token, deps.sessionKey, deps.clock.now());
    if (!claims) return undefined;
    const person = deps.store.access.person(claims.sub);
    if (!person) return undefined;
    return {
      kind: 'person',
      id: person.id,
      role: person.role,
      scope: deps.store.access.scopeOf(person.id, person.role),
    };
  }
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
