import type { PgPool } from '../core/postgres.ts';
import type { ConsentRecord } from '../core/store/privacy-repo.ts';
import { writeSharedRows } from '../core/table-copy.ts';
import { REGISTRY_LOCK_KEY } from './shared-import.ts';
import { REGISTRY_SET, REGISTRY_TABLES } from './tables.ts';

const CONSENT = REGISTRY_TABLES.find((t) => t.name === 'consent_records')!;

/**
 * Records a household's consent once for the cluster (`PUT /api/households/:id/consent` in a worker): consent
 * records are registry rows, so the new record (the next id, taken under the registry version's lock) is written
 * to the shared registry with its version raised; every worker pulls that row and its detectors apply it at their
 * next tick (the consent gate follows the store). Returns the record's id.
 */
export async function addConsentShared(pool: PgPool, r: Omit<ConsentRecord, 'id'>): Promise<number> {
  await REGISTRY_SET.migrate(pool);
  const client = await pool.connect();
  let id = 0;
  try {
    await writeSharedRows(
      client,
      { ...REGISTRY_SET, lockKey: REGISTRY_LOCK_KEY },
      CONSENT,
      async (c) => {
        const { rows } = await c.query<{ id: string }>(
          'SELECT coalesce(max(id), 0) + 1 AS id FROM consent_records',
        );
        id = Number(rows[0]!.id);
        const purposes = JSON.stringify([...new Set(r.purposes)].sort());
        return {
          rows: [[id, r.householdId, purposes, r.givenBy, r.givenAt, r.recordedBy, r.recordedAt, r.note]],
          removeKeys: [],
        };
      },
      {
        sql: `UPDATE registry_version SET version = version + 1, imported_at = $1, imported_by = $2
              RETURNING version`,
        params: [r.recordedAt, r.recordedBy],
      },
    );
    return id;
  } finally {
    client.release();
  }
}
