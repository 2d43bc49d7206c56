import type { Db } from './open-store.ts';

/**
 * Keyed fast verifiers of device secrets (one per meter or worker): an HMAC the broker can recompute from a
 * correct secret, never the secret or anything that can be checked without the broker's key. Owned by the broker.
 */
export class SecretVerifierRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      get: db
        .prepare('SELECT verifier FROM mqtt_secret_verifiers WHERE principal_kind = ? AND principal_id = ?')
        .pluck(),
      put: db.prepare(
        `INSERT INTO mqtt_secret_verifiers (principal_kind, principal_id, verifier, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (principal_kind, principal_id) DO UPDATE SET verifier = excluded.verifier, at = excluded.at`,
      ),
      count: db.prepare('SELECT count(*) FROM mqtt_secret_verifiers').pluck(),
    };
  }

  get(kind: string, id: string): Buffer | undefined {
    return this.s.get.get(kind, id) as Buffer | undefined;
  }

  put(kind: string, id: string, verifier: Buffer, at: number): void {
    this.s.put.run(kind, id, verifier, at);
  }

  count(): number {
    return this.s.count.get() as number;
  }
}
