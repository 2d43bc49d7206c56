import { createHash } from 'node:crypto';
import { verifySecret } from '../core/secrets.ts';
import type { Store } from '../core/store/store.ts';

export type Principal = { kind: 'meter'; id: string } | { kind: 'worker'; id: string };

/**
 * Checks MQTT credentials against the registry. A successful check is remembered (as a digest of the
 * stored hash and the password, never the password) so that a reconnect storm costs one scrypt per client.
 */
export class Authenticator {
  private readonly verified = new Map<string, string>();

  constructor(private readonly store: Store) {}

  async authenticate(username: string | undefined, password: Buffer | undefined): Promise<Principal | null> {
    if (!username || !password || password.length === 0 || password.length > 1024) return null;
    const meter = this.store.registry.meter(username);
    if (meter) {
      if (!meter.active) return null;
      return (await this.check(username, meter.secretHash, password))
        ? { kind: 'meter', id: username }
        : null;
    }
    const workerHash = this.store.registry.workerSecretHash(username);
    if (workerHash) {
      return (await this.check(username, workerHash, password)) ? { kind: 'worker', id: username } : null;
    }
    return null;
  }

  private async check(id: string, storedHash: string, password: Buffer): Promise<boolean> {
    const digest = createHash('sha256').update(storedHash).update('\0').update(password).digest('base64');
    if (this.verified.get(id) === digest) return true;
    const ok = await verifySecret(password.toString('utf8'), storedHash);
    if (ok) {
      if (this.verified.size > 1_000_000) this.verified.clear();
      this.verified.set(id, digest);
    }
    return ok;
  }
}
