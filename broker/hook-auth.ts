import { createHash, timingSafeEqual } from 'node:crypto';
import { workerOfAppTopic } from '../core/alerts.ts';
import type { Config } from '../core/config.ts';
import { HashQueue } from '../core/hash-queue.ts';
import type { Logger } from '../core/logger.ts';
import { TOPICS } from '../core/readings.ts';
import { dummyHash, verifySecret } from '../core/secrets.ts';
import type { Store } from '../core/store/store.ts';
import { LoginLimiter } from '../api/login-limiter.ts';
import type { Principal } from './principal.ts';
import type { SecretVerifiers } from './secret-verifiers.ts';

/**
 * What an external broker's HTTP authentication hooks (EMQX's, RabbitMQ's) share: device secrets are checked
 * against the registry as for the embedded broker (scrypt on a bounded queue; a secret already verified once is
 * recognised by its keyed verifier) and failures are limited like people's logins: each attempt reserves a place
 * in the allowance of its username and of its client address before the secret is checked, so concurrent guesses
 * cannot exceed it; past it the answer is no, without a check.
 */
export type Who = Principal | { kind: 'careflow'; id: string };

/** A client address may fail this many times more than one username (the broker itself may be one address). */
const ADDRESS_FACTOR = 20;

/** The parts of the embedded store the hooks' authentication reads: meters' and workers' secret hashes. */
export type HookAuthTables = Pick<Store, 'registry'>;

export interface HookAuthDeps {
  config: Config;
  store: HookAuthTables;
  verifiers: SecretVerifiers;
  logger: Logger;
  /** Real time in ms (limits pass even while a manual service clock stands still). */
  now?: () => number;
}

export interface HookAuth {
  /** True when the username and password are a registry entry's (or careflow's own broker login). */
  authenticate(username: string, password: string, address: string): Promise<boolean>;
  /** The registry entry (or careflow itself) behind a username. */
  whoIs(username: string): Who | null;
}

export function createHookAuth(deps: HookAuthDeps, label: string): HookAuth {
  const m = deps.config.mqtt;
  const logger = deps.logger;
  const now = deps.now ?? Date.now;
  const windowMs = deps.config.http.loginWindowMinutes * 60_000;
  const max = deps.config.http.loginMaxFailures;
  const byUser = new LoginLimiter(max, windowMs, now);
  const byAddress = new LoginLimiter(max * ADDRESS_FACTOR, windowMs, now);
  const hashes = new HashQueue(m.hashConcurrency, m.hashQueueMax);
  const dummy = dummyHash();
  const digest = (s: string) => createHash('sha256').update(s).digest();

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
      logger.warn({ username, address }, `${label} authentication limited: too many failures`);
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

  return { authenticate, whoIs };
}

/** The topics of the MQTT contract, per kind of client (as the embedded broker's ACL and Mosquitto's file). */
export function mayUse(who: Who, action: 'publish' | 'subscribe', topic: string): boolean {
  switch (who.kind) {
    case 'meter':
      return action === 'publish' ? topic === TOPICS.readings(who.id) : topic === TOPICS.meterErrors(who.id);
    case 'worker':
      return action === 'publish'
        ? workerOfAppTopic(topic) === who.id
        : topic === TOPICS.workerAlerts(who.id) || topic === TOPICS.workerErrors(who.id);
    case 'careflow': {
      if (action === 'publish')
        return /^meters\/[^/+#]+\/errors$/.test(topic) || /^workers\/[^/+#]+\/(alerts|errors)$/.test(topic);
      const filter = topic.replace(/^\$share\/[A-Za-z0-9_-]+\//, '');
      return (
        filter === 'meters/+/readings' ||
        filter === 'workers/+/alerts/+/ack' ||
        filter === 'workers/+/received'
      );
    }
  }
}
