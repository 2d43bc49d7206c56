import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WORKER_ACK_TOPIC } from '../core/alerts.ts';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import { HashQueue } from '../core/hash-queue.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { TOPICS } from '../core/readings.ts';
import { dummyHash, verifySecret } from '../core/secrets.ts';
import type { Store } from '../core/store/store.ts';
import { defineRoute, type ApiContext } from '../api/define-route.ts';
import { LoginLimiter } from '../api/login-limiter.ts';
import type { Principal } from './principal.ts';
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
/** A client address may fail this many times more than one username (EMQX itself may be one address). */
const ADDRESS_FACTOR = 20;

export interface EmqxHookDeps {
  config: Config;
  store: Store;
  verifiers: SecretVerifiers;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Real time in ms (limits pass even while a manual service clock stands still). */
  now?: () => number;
}

type Who = Principal | { kind: 'careflow'; id: string };

export function emqxHookRoutes(deps: EmqxHookDeps) {
  const secret = deps.config.mqtt.emqxHookSecret;
  const m = deps.config.mqtt;
  const logger = deps.logger.child({ module: 'emqx-hooks' });
  const now = deps.now ?? Date.now;
  const windowMs = deps.config.http.loginWindowMinutes * 60_000;
  const max = deps.config.http.loginMaxFailures;
  const byUser = new LoginLimiter(max, windowMs, now);
  const byAddress = new LoginLimiter(max * ADDRESS_FACTOR, windowMs, now);
  const badSecret = new LoginLimiter(max, windowMs, now);
  const hashes = new HashQueue(m.hashConcurrency, m.hashQueueMax);
  const dummy = dummyHash();
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = secret ? digest(secret) : null;

  function assertEmqx(request: FastifyRequest): void {
    const given = request.headers[SECRET_HEADER];
    if (expected && typeof given === 'string' && timingSafeEqual(digest(given), expected)) return;
    const at = badSecret.reserve(request.ip);
    if (at === null)
      throw new CareflowError('ERR_API_RATE_LIMITED', 'Too many calls with a wrong hook secret');
    deps.metrics?.countFailedAuthentication('bearer');
    throw new CareflowError('ERR_API_UNAUTHORIZED', `Missing or wrong ${SECRET_HEADER}`);
  }

  /** The registry entry behind a username, with its secret's hash. */
  function credential(id: string): { principal: Principal; hash: string } | null {
    const meter = deps.store.registry.meter(id);
    if (meter) return meter.active ? { principal: { kind: 'meter', id }, hash: meter.secretHash } : null;
    const hash = deps.store.registry.workerSecretHash(id);
    return hash ? { principal: { kind: 'worker', id }, hash } : null;
  }

  async function authenticate(username: string, password: string, address: string): Promise<boolean> {
    if (!username || !password) return false;
    if (m.username && m.password && username === m.username) {
      return timingSafeEqual(digest(password), digest(m.password));
    }
    const found = credential(username);
    const secretBytes = Buffer.from(password, 'utf8');
    if (found && deps.verifiers.matches(found.principal.kind, username, found.hash, secretBytes)) return true;
    const userSlot = byUser.reserve(username);
    const addressSlot = userSlot === null ? null : byAddress.reserve(address);
    if (userSlot === null || addressSlot === null) {
      if (userSlot !== null) byUser.release(username, userSlot);
      logger.warn({ username, address }, 'EMQX authentication limited: too many failures');
      return false;
    }
    const check = hashes.run(() => verifySecret(password, found?.hash ?? dummy), address);
    if (!check) {
      byUser.release(username, userSlot);
      byAddress.release(address, addressSlot);
      return false;
    }
    const ok = (await check) && found !== null;
    if (!ok) return false;
    byUser.succeed(username);
    byAddress.release(address, addressSlot);
    deps.verifiers.remember(found.principal, found.hash, secretBytes, now());
    return true;
  }

  function whoIs(username: string): Who | null {
    if (m.username && username === m.username) return { kind: 'careflow', id: username };
    return credential(username)?.principal ?? null;
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

/** The topics of the MQTT contract, per kind of client (as the embedded broker's ACL and Mosquitto's file). */
export function mayUse(who: Who, action: 'publish' | 'subscribe', topic: string): boolean {
  switch (who.kind) {
    case 'meter':
      return action === 'publish' ? topic === TOPICS.readings(who.id) : topic === TOPICS.meterErrors(who.id);
    case 'worker':
      return action === 'publish'
        ? WORKER_ACK_TOPIC.exec(topic)?.[1] === who.id
        : topic === TOPICS.workerAlerts(who.id);
    case 'careflow': {
      if (action === 'publish')
        return /^meters\/[^/+#]+\/errors$/.test(topic) || /^workers\/[^/+#]+\/alerts$/.test(topic);
      const filter = topic.replace(/^\$share\/[A-Za-z0-9_-]+\//, '');
      return filter === 'meters/+/readings' || filter === 'workers/+/alerts/+/ack';
    }
  }
}
