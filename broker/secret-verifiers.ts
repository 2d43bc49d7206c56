import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../core/store/store.ts';
import type { Principal } from './principal.ts';

const VERIFIER_BYTES = 32;

/** The parts of the embedded store the secret verifiers use: the stored verifiers. */
export type VerifierTables = Pick<Store, 'secretVerifiers' | 'transaction'>;

/**
 * Keyed fast verifiers of device secrets. After a secret passed its scrypt check, the broker stores
 * HMAC-SHA256(key, kind ∥ id ∥ stored secret hash ∥ secret) for that principal; a later CONNECT whose HMAC
 * equals it is accepted without scrypt (constant-time comparison), also after a restart. The key lives in a
 * file of the data directory (`verifier-key`), never in the database: a copy of the database alone allows no
 * offline guessing of secrets. Because the stored secret hash is part of the HMAC, a new secret (re-import,
 * replaced meter) invalidates the old verifier without any bookkeeping. Verifiers are written in batches,
 * shortly after the CONNECTs that earned them, never on a CONNECT's critical path.
 */
export class SecretVerifiers {
  private readonly pending = new Map<string, { kind: string; id: string; verifier: Buffer; at: number }>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Compared against when there is no stored verifier, so every lookup does the same work. */
  private readonly nothing = randomBytes(VERIFIER_BYTES);
  /** CONNECTs accepted by a verifier (a metric; tests and the benchmark read it). */
  hits = 0;

  constructor(
    private readonly store: VerifierTables,
    private readonly key: Buffer,
    private readonly onError: (err: Error) => void = () => {},
    private readonly flushDelayMs = 50,
  ) {}

  /** True when `secret` is the one last verified for this principal against this very `secretHash`. */
  matches(kind: string, id: string, secretHash: string, secret: Buffer): boolean {
    const stored = this.pending.get(kind + '\0' + id)?.verifier ?? this.store.secretVerifiers.get(kind, id);
    const ok = timingSafeEqual(this.compute(kind, id, secretHash, secret), stored ?? this.nothing);
    if (ok && stored) this.hits++;
    return ok && stored !== undefined;
  }

  /** Records a verifier for a secret that just passed its scrypt check (written shortly after, in a batch). */
  remember(principal: Principal, secretHash: string, secret: Buffer, at: number): void {
    const verifier = this.compute(principal.kind, principal.id, secretHash, secret);
    this.pending.set(principal.kind + '\0' + principal.id, { ...principal, verifier, at });
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.flushDelayMs);
      this.flushTimer.unref();
    }
  }

  /** Writes the pending verifiers (also called when the broker stops). */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    try {
      this.store.transaction(() => {
        for (const [, v] of batch) this.store.secretVerifiers.put(v.kind, v.id, v.verifier, v.at);
      });
    } catch (err) {
      // Not fatal: those devices are checked with scrypt once more next time.
      this.onError(err as Error);
    }
  }

  private compute(kind: string, id: string, secretHash: string, secret: Buffer): Buffer {
    return createHmac('sha256', this.key).update(`${kind}\0${id}\0${secretHash}\0`).update(secret).digest();
  }
}
