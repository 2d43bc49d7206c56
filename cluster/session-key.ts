import { randomBytes } from 'node:crypto';
import type { PgPool } from '../core/postgres.ts';

/**
 * The key every worker of the cluster signs and checks people's session tokens with (`cluster_secrets`): drawn
 * once, by whichever worker asks first (workers starting at once agree on the first one written), so that a
 * token from one worker's login is valid on every other — a load balancer may send each request elsewhere, and a
 * worker's death logs nobody out. Like the embedded service's key file, it lives with the store it protects:
 * whoever can read the shared store can read the alerts too.
 */
export async function clusterSessionKey(pool: PgPool): Promise<Buffer> {
  await pool.query(
    `INSERT INTO cluster_secrets (name, value) VALUES ('session-key', $1) ON CONFLICT (name) DO NOTHING`,
    [randomBytes(32)],
  );
  const { rows } = await pool.query<{ value: Buffer }>(
    `SELECT value FROM cluster_secrets WHERE name = 'session-key'`,
  );
  return rows[0]!.value;
}
