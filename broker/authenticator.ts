import type { HashQueue } from '../core/hash-queue.ts';
import { dummyHash, verifySecret } from '../core/secrets.ts';
import type { Store } from '../core/store/store.ts';
import type { ConnectThrottle } from './connect-throttle.ts';
import type { Principal } from './principal.ts';
import type { SecretVerifiers } from './secret-verifiers.ts';

/** Why a CONNECT's credentials were not accepted. */
export type AuthRefusal = 'bad-credentials' | 'throttled' | 'busy';

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; reason: AuthRefusal };

interface Credential {
  principal: Principal;
  hash: string;
  active: boolean;
}

/** The parts of the embedded store the authenticator reads: meters' and workers' secret hashes. */
export type AuthenticatorTables = Pick<Store, 'registry'>;

export interface AuthenticatorDeps {
  store: AuthenticatorTables;
  throttle: ConnectThrottle;
  /** Bounded queue for device-secret scrypt checks. */
  hashes: HashQueue;
  /** Keyed verifiers of secrets already checked with scrypt (kept across restarts). */
  verifiers: SecretVerifiers;
  /** Real time in ms (backoff must pass even while a manual service clock stands still). */
  now?: () => number;
}

/**
 * Checks MQTT credentials against the registry.
 *
 * - A secret already verified once (also before a restart) is recognised by its keyed verifier (see
 *   SecretVerifiers) without scrypt and without throttling: a reconnect storm costs no scrypt for devices
 *   that connected before, and a device whose id is under attack still gets in. Only a correct secret can
 *   match, so every wrong one still takes the slow, throttled path below.
 * - Any other attempt reserves a slot on its address and its id first (see ConnectThrottle), then waits for
 *   the bounded hash queue. Unknown ids and inactive meters are checked against a hash too (a dummy one for
 *   unknown ids), so refusals take the same time whether the id exists or not.
 */
export class Authenticator {
  private readonly dummy = dummyHash();
  private readonly now: () => number;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.now = deps.now ?? Date.now;
  }

  async authenticate(
    username: string | undefined,
    password: Buffer | undefined,
    address: string | (() => string),
  ): Promise<AuthOutcome> {
    return this.check(username, password, address);
  }

  /**
   * `authenticate` without a promise where none is needed: the outcome itself when it is decided at once
   * (malformed credentials, a secret recognised by its verifier: the CONNECTs of a reconnect storm), a promise
   * of it when the secret goes through the throttle and scrypt. `address` is only read on that slow path.
   */
  check(
    username: string | undefined,
    password: Buffer | undefined,
    address: string | (() => string),
  ): AuthOutcome | Promise<AuthOutcome> {
    if (!username || !password || password.length === 0 || password.length > 1024)
      return { ok: false, reason: 'bad-credentials' };
    const credential = this.credential(username);
    // Unknown ids do the same lookup and HMAC (against the dummy hash): no timing difference to measure.
    const fast = this.deps.verifiers.matches(
      credential?.principal.kind ?? 'meter',
      username,
      credential?.hash ?? this.dummy,
      password,
    );
    if (fast && credential?.active) return { ok: true, principal: credential.principal };
    return this.slow(username, password, typeof address === 'function' ? address() : address, credential);
  }

  private async slow(
    username: string,
    password: Buffer,
    address: string,
    credential: Credential | null,
  ): Promise<AuthOutcome> {
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
    this.deps.verifiers.remember(credential.principal, credential.hash, password, this.now());
    return { ok: true, principal: credential.principal };
  }

  private credential(id: string): Credential | null {
    const meter = this.deps.store.registry.meter(id);
    if (meter) return { principal: { kind: 'meter', id }, hash: meter.secretHash, active: meter.active };
    const workerHash = this.deps.store.registry.workerSecretHash(id);
    if (workerHash) return { principal: { kind: 'worker', id }, hash: workerHash, active: true };
    return null;
  }
}
