import type { PgPool } from '../core/postgres.ts';
import type { WebhookEndpoint } from '../core/store/webhook-repo.ts';
import { writeSharedRows } from '../core/table-copy.ts';
import { REGISTRY_LOCK_KEY } from './shared-import.ts';
import { REGISTRY_SET, REGISTRY_TABLES } from './tables.ts';

const WEBHOOKS = REGISTRY_TABLES.find((t) => t.name === 'webhooks')!;
const RAISE = `UPDATE registry_version SET version = version + 1, imported_at = $1, imported_by = $2
  RETURNING version`;

/**
 * A webhook endpoint set or removed once for the cluster (`PUT|DELETE /api/webhooks/:id` in a worker): endpoints
 * are registry rows, so the row is written to the shared registry with its version raised, and every worker
 * pulls that one row (its notifier calls the endpoint from then on). The caller has checked the owner against the
 * registry it follows. `createdAt` is kept from an endpoint being replaced.
 */
export async function putWebhookShared(
  pool: PgPool,
  e: Omit<WebhookEndpoint, 'createdAt'> & { createdAt: number },
): Promise<void> {
  await REGISTRY_SET.migrate(pool);
  const client = await pool.connect();
  try {
    const row = [
      e.id,
      e.url,
      e.secret,
      e.owner.kind,
      e.owner.code,
      e.enabled ? 1 : 0,
      e.createdAt,
      e.updatedAt,
      e.updatedBy,
    ];
    await writeSharedRows(
      client,
      { ...REGISTRY_SET, lockKey: REGISTRY_LOCK_KEY },
      WEBHOOKS,
      { rows: [row], removeKeys: [] },
      {
        sql: RAISE,
        params: [e.updatedAt, e.updatedBy],
      },
    );
  } finally {
    client.release();
  }
}

/** Removes an endpoint from the shared registry; false when there was none. */
export async function deleteWebhookShared(
  pool: PgPool,
  id: string,
  by: { actor: string; at: number },
): Promise<boolean> {
  await REGISTRY_SET.migrate(pool);
  const { rowCount } = await pool.query('SELECT 1 FROM webhooks WHERE id = $1', [id]);
  if (!rowCount) return false;
  const client = await pool.connect();
  try {
    await writeSharedRows(
      client,
      { ...REGISTRY_SET, lockKey: REGISTRY_LOCK_KEY },
      WEBHOOKS,
      { rows: [], removeKeys: [[id]] },
      {
        sql: RAISE,
        params: [by.at, by.actor],
      },
    );
    return true;
  } finally {
    client.release();
  }
}
