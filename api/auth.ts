import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CareflowError } from '../core/errors.ts';

/** Who made a request, as written into alert timelines (`acknowledgedBy`, `resolvedBy`). */
export type Actor = 'admin';

/**
 * An `onRequest` hook that admits only `Authorization: Bearer <adminToken>`.
 * The token is compared as SHA-256 digests with `timingSafeEqual`, so neither its content nor its length
 * leaks through timing. Without a configured token every call is refused.
 */
export function adminAuth(adminToken: string | undefined) {
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('www-authenticate', 'Bearer');
    if (expected === undefined) {
      throw new CareflowError(
        'ERR_API_UNAUTHORIZED',
        'The admin token is not configured (set CAREFLOW_ADMIN_TOKEN); the API refuses every call',
      );
    }
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      throw new CareflowError('ERR_API_UNAUTHORIZED', 'Send Authorization: Bearer <admin token>');
    }
    if (!timingSafeEqual(digest(token), expected)) {
      throw new CareflowError('ERR_API_UNAUTHORIZED', 'The bearer token is not valid');
    }
    reply.removeHeader('www-authenticate');
  };
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
