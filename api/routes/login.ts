import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../../core/errors.ts';
import { verifySecret } from '../../core/secrets.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { LoginLimiter } from '../login-limiter.ts';
import { signSession } from '../session-tokens.ts';

const LoginBody = z.strictObject({ id: z.string().min(1).max(64), password: z.string().min(1).max(256) });

/** A client address may fail this many times more than one account before it is blocked. */
const ADDRESS_FACTOR = 4;

export interface LoginOptions {
  sessionKey: Buffer;
  tokenTtlMinutes: number;
  maxFailures: number;
  windowMinutes: number;
}

/** `POST /api/login { id, password }` → a short-lived session token. Failed attempts are rate-limited. */
export function loginRoutes(app: FastifyInstance, ctx: ApiContext, opts: LoginOptions): void {
  const now = () => ctx.clock.now();
  const windowMs = opts.windowMinutes * 60_000;
  // Per account, and (more loosely: many people share an office's address) per client address.
  const byAccount = new LoginLimiter(opts.maxFailures, windowMs, now);
  const byAddress = new LoginLimiter(opts.maxFailures * ADDRESS_FACTOR, windowMs, now);
  defineRoute(app, ctx, {
    method: 'POST',
    url: '/login',
    summary: 'Log in with a person id and password; returns a session token',
    tags: ['access'],
    permission: 'public',
    body: LoginBody,
    responses: { 200: 'A session token', 429: 'Too many failed attempts (ERR_API_RATE_LIMITED)' },
    handler: async ({ body, request, reply }) => {
      const wait = Math.max(byAccount.retryAfter(body.id), byAddress.retryAfter(request.ip));
      if (wait > 0) {
        void reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw new CareflowError(
          'ERR_API_RATE_LIMITED',
          `Too many failed logins; try again in ${Math.ceil(wait / 60_000)} minute(s)`,
        );
      }
      const person = ctx.store.access.person(body.id);
      const ok = person?.passwordHash ? await verifySecret(body.password, person.passwordHash) : false;
      const at = ctx.clock.now();
      if (!ok || !person) {
        byAccount.fail(body.id);
        byAddress.fail(request.ip);
        ctx.store.audit.add({
          at,
          actor: body.id,
          action: 'login.failed',
          target: null,
          grid: null,
          detail: {},
          ip: request.ip,
        });
        throw new CareflowError('ERR_API_UNAUTHORIZED', 'Unknown person or wrong password');
      }
      byAccount.succeed(body.id);
      const exp = at + opts.tokenTtlMinutes * 60_000;
      ctx.store.audit.add({
        at,
        actor: person.id,
        action: 'login',
        target: null,
        grid: null,
        detail: {},
        ip: request.ip,
      });
      return {
        token: signSession({ sub: person.id, iat: at, exp }, opts.sessionKey),
        expiresAt: exp,
        person: { id: person.id, name: person.name, role: person.role },
      };
    },
  });
}
