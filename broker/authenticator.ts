import { createHash } from 'node:crypto';
import type { HashQueue } from '../core/hash-queue.ts';
import { dummyHash, verifySecret } from '../core/secrets.ts';
import type { Store } from '../core/store/store.ts';
import type { ConnectThrottle } from './connect-throttle.ts';

export type Principal = { kind: 'meter'; id: string } | { kind: 'worker'; id: string };

/** Why a CONNECT's credentials were not accepted. */
export type AuthRefusal = 'bad-credentials' | 'throttled' | 'busy';

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; reason: AuthRefusal };

interface Credential {
  principal: Principal;
  hash: string;
  active: boolean;
}

export interface AuthenticatorDeps {
  store: Store;
  throttle: ConnectThrottle;
  /** Bounded queue for device-secret scrypt checks. */
  hashes: HashQueue;
  /** Real time in ms (backoff must pass even while a manual service clock stands still). */
  now?: () => number;
}

/**
 * Checks MQTT credentials against the registry.
 *
 * - A secret already verified since start is recognised by a digest (of the stored hash and the password,
 *   never the password) without scrypt and without throttling: a reconnect storm costs one scrypt per client,
 *   and a device whose id is under attack still gets in.
 * - Any other attempt reserves a slot on its address and its id first (see ConnectThrottle), then waits for
 *   the bounded hash queue. Unknown ids and inactive meters are checked against a hash too (a dummy one for
 *   unknown ids), so refusals take the same time whether the id exists or not.
 */
export class Authenticator {
  private readonly verified = new Map<string, string>();
  private readonly dummy = dummyHash();
  private readonly now: () => number;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.now = deps.now ?? Date.now;
  }

  async authenticate(
    username: string | undefined,
    password: Buffer | undefined,
    address: string,
  ): Promise<AuthOutcome> {
    if (!username || !password || password.length === 0 || password.length > 1024)
      return { ok: false, reason: 'bad-credentials' };
    const credential = this.credential(username);
    if (credential?.active && this.cached(credential, password))
      return { ok: true, principal: credential.principal };

    const reservation = this.deps.throttle.reserve(address, username, this.now());
    if (!reservation) return { ok: false, reason: 'throttled' };
    const check = this.deps.hashes.run(
      () => verifySecret(password.toString('utf8'), credential?.hash ?? this.dummy),
      address,
    );
    if (!check) {
      this.deps.throttle.cancel(reservation);
      return { ok: false, reason: 'busy' };
    }
    const ok = (await check) && credential !== null && credential.active;
    this.deps.throttle.settle(reservation, !ok, this.now());
    if (!ok || !credential) return { ok: false, reason: 'bad-credentials' };
    this.remember(credential, password);
    return { ok: true, principal: credential.principal };
  }

  private credential(id: string): Credential | null {
    const meter = this.deps.store.registry.meter(id);
    if (meter) return { principal: { kind: 'meter', id }, hash: meter.secretHash, active: meter.active };
    const workerHash = this.deps.store.registry.workerSecretHash(id);
    if (workerHash) return { principal: { kind: 'worker', id }, hash: workerHash, active: true };
    return null;
  }

  private digest(c: Credential, password: Buffer): string {
    return createHash('sha256').update(c.hash).update('\0').update(password).digest('base64');
  }

  private cached(c: Credential, password: Buffer): boolean {
    return this.verified.get(c.principal.id) === this.digest(c, password);
  }

  private remember(c: Credential, password: Buffer): void {
    if (this.verified.size > 1_000_000) this.verified.clear();
    this.verified.set(c.principal.id, this.digest(c, password));
  }
}
