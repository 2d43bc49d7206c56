import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../../core/errors.ts';
import type { HashQueue } from '../../core/hash-queue.ts';
import { hashSecret, SCRYPT_COST, verifySecret } from '../../core/secrets.ts';
import { auditEntry, defineRoute, type ApiContext } from '../define-route.ts';
import { LoginLimiter } from '../login-limiter.ts';
import { signSession } from '../session-tokens.ts';
import { Role } from '../../core/access.ts';
import { Ms } from '../response-schemas.ts';

const LoginBody = z.strictObject({ id: z.string().min(1).max(64), password: z.string().min(1).max(256) });

/** A client address may fail this many times more than one account before it is blocked. */
const ADDRESS_FACTOR = 4;

export interface LoginOptions {
  sessionKey: Buffer;
  tokenTtlMinutes: number;
  maxFailures: number;
  windowMinutes: number;
  /** Bounded queue for people's password checks (scrypt). */
  hashes: HashQueue;
  /**
   * Failed logins per account counted across processes (a cluster's workers, cluster/login-failures.ts), on top of
   * this process's own count: without it, an account behind N workers could be guessed N times as often.
   */
  shared?: SharedLoginFailures;
}

/** An account's failed logins in a store that every process of a cluster shares. */
export interface SharedLoginFailures {
  /**
   * Reserves an attempt for the account (it counts as a failure until released or the account logs in): the
   * reservation, or how long to wait when the account is over the limit.
   */
  reserve(account: string, maxFailures: number, windowMs: number): Promise<{ retryAfterMs: number } | number>;
  /** Hands back one reservation (the attempt was never checked). */
  release(account: string, reservation: number): Promise<void>;
  /** Forgets the account's failures (it logged in). */
  succeed(account: string): Promise<void>;
}

/**
 * `POST /api/login { id, password }` → a short-lived session token. Each attempt reserves its place in the
 * account's and the address's failure allowance before the password is checked (see LoginLimiter), checks
 * run through a bounded queue, and an unknown id is checked against a dummy hash (same time as a real one).
 */
export function loginRoutes(app: FastifyInstance, ctx: ApiContext, opts: LoginOptions): void {
  const now = () => ctx.clock.now();
  const windowMs = opts.windowMinutes * 60_000;
  // Per account, and (more loosely: many people share an office's address) per client address.
  const byAccount = new LoginLimiter(opts.maxFailures, windowMs, now);
  const byAddress = new LoginLimiter(opts.maxFailures * ADDRESS_FACTOR, windowMs, now);
  const dummy = hashSecret(randomBytes(24).toString('base64url'), SCRYPT_COST.person);
  const limited = (reply: { header(k: string, v: string): unknown }, waitMs: number, what: string) => {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    void reply.header('retry-after', String(seconds));
    const wait = seconds < 60 ? `${seconds} second(s)` : `${Math.ceil(seconds / 60)} minute(s)`;
    return new CareflowError('ERR_API_RATE_LIMITED', `${what}; try again in ${wait}`);
  };
  defineRoute(app, ctx, {
    method: 'POST',
    url: '/login',
    summary: 'Log in with a person id and password; returns a session token',
    tags: ['access'],
    permission: 'public',
    body: LoginBody,
    responses: {
      200: {
        description: 'A session token',
        schema: z.object({
          token: z.string(),
          expiresAt: Ms,
          person: z.object({ id: z.string(), name: z.string(), role: Role }),
        }),
      },
      429: 'Too many failed attempts (ERR_API_RATE_LIMITED)',
    },
    handler: async ({ body, request, reply }) => {
      // Reserved synchronously, before any await: concurrent attempts see each other's reservations.
      const accountSlot = byAccount.reserve(body.id);
      const addressSlot = accountSlot === null ? null : byAddress.reserve(request.ip);
      if (accountSlot === null || addressSlot === null) {
        if (accountSlot !== null) byAccount.release(body.id, accountSlot);
        const wait = Math.max(byAccount.retryAfter(body.id), byAddress.retryAfter(request.ip));
        throw limited(reply, wait, 'Too many failed logins');
      }
      // Then the account's failures across the cluster (its workers share the count).
      const shared = opts.shared ? await opts.shared.reserve(body.id, opts.maxFailures, windowMs) : null;
      if (shared !== null && typeof shared === 'object') {
        byAccount.release(body.id, accountSlot);
        byAddress.release(request.ip, addressSlot);
        throw limited(reply, shared.retryAfterMs, 'Too many failed logins');
      }
      const person = ctx.store.access.person(body.id);
      const check = opts.hashes.run(
        async () => verifySecret(body.password, person?.passwordHash ?? (await dummy)),
        request.ip,
      );
      if (!check) {
        byAccount.release(body.id, accountSlot);
        byAddress.release(request.ip, addressSlot);
        if (shared !== null) await opts.shared!.release(body.id, shared);
        throw limited(reply, 1000, 'Too many logins are being checked');
      }
      const ok = (await check) && person?.passwordHash != null;
      const at = ctx.clock.now();
      if (!ok || !person) {
        ctx.metrics?.countFailedAuthentication('login');
        auditEntry(ctx, {
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
      byAddress.release(request.ip, addressSlot);
      if (shared !== null) await opts.shared!.succeed(body.id);
      const exp = at + opts.tokenTtlMinutes * 60_000;
      auditEntry(ctx, {
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
