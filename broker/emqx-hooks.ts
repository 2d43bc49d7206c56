import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { defineRoute, type ApiContext } from '../api/define-route.ts';
import { LoginLimiter } from '../api/login-limiter.ts';
import { createHookAuth, mayUse, type HookAuthTables } from './hook-auth.ts';
import type { SecretVerifiers } from './secret-verifiers.ts';

/**
 * EMQX 5's HTTP authentication and authorisation hooks, served from careflow's registry: EMQX asks careflow
 * whether a client may connect (`POST /hooks/emqx/authn`) and whether it may publish or subscribe to a topic
 * (`POST /hooks/emqx/authz`), and holds meters and worker apps to the same topics as the embedded broker.
 *
 * EMQX proves itself with a shared secret (`mqtt.emqxHookSecret`) in the `x-careflow-hook-secret` header. Device
 * secrets are checked as for the embedded broker (scrypt on a bounded queue; a secret already verified once is
 * recognised by its keyed verifier) and failures are limited like people's logins: each attempt reserves a
 * place in the allowance of its username and of its client address (EMQX's `peerhost`) before the secret is
 * checked, so concurrent guesses cannot exceed it; past it the answer is `deny` without a check.
 */
const Id = z.string().max(256);
const AuthnBody = z.object({
  username: Id.default(''),
  password: z.string().max(1024).default(''),
  clientid: Id.default(''),
  peerhost: z.string().max(64).optional(),
});
const AuthzBody = z.object({
  username: Id.default(''),
  clientid: Id.default(''),
  topic: z.string().min(1).max(1024),
  action: z.enum(['publish', 'subscribe', 'all']),
  peerhost: z.string().max(64).optional(),
});
const AuthnAnswer = z.object({
  result: z.enum(['allow', 'deny', 'ignore']),
  is_superuser: z.boolean().describe('always false: no client of careflow bypasses the authorisation hook'),
});
const AuthzAnswer = z.object({ result: z.enum(['allow', 'deny']) });
const SECRET_HEADER = 'x-careflow-hook-secret';

export interface EmqxHookDeps {
  config: Config;
  store: HookAuthTables;
  verifiers: SecretVerifiers;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Real time in ms (limits pass even while a manual service clock stands still). */
  now?: () => number;
}

export function emqxHookRoutes(deps: EmqxHookDeps) {
  const secret = deps.config.mqtt.emqxHookSecret;
  const logger = deps.logger.child({ module: 'emqx-hooks' });
  const now = deps.now ?? Date.now;
  const windowMs = deps.config.http.loginWindowMinutes * 60_000;
  const max = deps.config.http.loginMaxFailures;
  const badSecret = new LoginLimiter(max, windowMs, now);
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = secret ? digest(secret) : null;
  const { authenticate, whoIs } = createHookAuth({ ...deps, logger }, 'EMQX');

  function assertEmqx(request: FastifyRequest): void {
    const given = request.headers[SECRET_HEADER];
    if (expected && typeof given === 'string' && timingSafeEqual(digest(given), expected)) return;
    const at = badSecret.reserve(request.ip);
    if (at === null)
      throw new CareflowError('ERR_API_RATE_LIMITED', 'Too many calls with a wrong hook secret');
    deps.metrics?.countFailedAuthentication('bearer');
    throw new CareflowError('ERR_API_UNAUTHORIZED', `Missing or wrong ${SECRET_HEADER}`);
  }

  return (app: FastifyInstance, ctx: ApiContext): void => {
    if (!secret) return;
    defineRoute(app, ctx, {
      method: 'POST',
      url: '/hooks/emqx/authn',
      summary:
        'EMQX HTTP authentication: may this username and password connect? (header x-careflow-hook-secret)',
      tags: ['mqtt'],
      permission: 'public',
      body: AuthnBody,
      responses: { 200: { description: 'allow or deny', schema: AuthnAnswer } },
      handler: async ({ request, body }) => {
        assertEmqx(request);
        const ok = await authenticate(body.username, body.password, body.peerhost ?? request.ip);
        if (!ok) deps.metrics?.countFailedAuthentication('mqtt');
        return { result: ok ? 'allow' : 'deny', is_superuser: false };
      },
    });
    defineRoute(app, ctx, {
      method: 'POST',
      url: '/hooks/emqx/authz',
      summary: 'EMQX HTTP authorisation: may this client publish or subscribe to the topic?',
      tags: ['mqtt'],
      permission: 'public',
      body: AuthzBody,
      responses: { 200: { description: 'allow or deny', schema: AuthzAnswer } },
      handler: ({ request, body }) => {
        assertEmqx(request);
        const who = whoIs(body.username);
        const allowed = who !== null && body.action !== 'all' && mayUse(who, body.action, body.topic);
        if (!allowed)
          logger.info(
            { username: body.username, topic: body.topic, action: body.action },
            'EMQX authz denied',
          );
        return { result: allowed ? 'allow' : 'deny' };
      },
    });
  };
}

export { mayUse } from './hook-auth.ts';
