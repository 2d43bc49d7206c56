import { ARCHIVE_PG_MIGRATIONS } from '../archive/postgres-migrations.ts';
import { inPgTransaction, migratePg, type PgPool } from '../core/postgres.ts';
import type { RuleAudience } from '../core/rules.ts';
import { INGEST_PG_MIGRATIONS } from '../ingest/postgres-migrations.ts';
import { NOTIFIER_PG_MIGRATIONS } from '../notifier/postgres-migrations.ts';

const DAY_MS = 86_400_000;
/** Rows deleted per statement: a long backlog is pruned in short transactions, not one that holds locks. */
const BATCH = 10_000;

/** How long each kind of data is kept, in days (config `store.bucketRetentionDays`, `privacy.*RetentionDays`). */
export interface SharedRetentionPolicy {
  bucketRetentionDays: number;
  readingRetentionDays: number;
  welfareAlertRetentionDays: number;
  leakAlertRetentionDays: number;
  maintenanceAlertRetentionDays: number;
}

export interface Pruned {
  buckets: number;
  readings: number;
  alerts: number;
}

/**
 * The embedded retention (app/retention.ts) on the shared store: usage buckets older than their retention, raw
 * readings received before theirs — once archived, when an archive was ever started (a committed reading of a
 * cluster is processed in its commit's transaction, so committed is processed) — and resolved alerts of each
 * audience past its retention, with their timelines, deliveries, escalations and detections. Deletes in batches.
 */
export async function pruneShared(pool: PgPool, policy: SharedRetentionPolicy, now: number): Promise<Pruned> {
  await migratePg(pool, 'ingest', INGEST_PG_MIGRATIONS);
  await migratePg(pool, 'notifier', NOTIFIER_PG_MIGRATIONS);
  await migratePg(pool, 'archive', ARCHIVE_PG_MIGRATIONS);
  const buckets = await inBatches(
    pool,
    `DELETE FROM usage_buckets WHERE (household_id, start) IN (
       SELECT household_id, start FROM usage_buckets WHERE start < $1 LIMIT ${BATCH})`,
    [now - policy.bucketRetentionDays * DAY_MS],
  );
  const readings = await inBatches(
    pool,
    `DELETE FROM inbox WHERE seq IN (
       SELECT i.seq FROM inbox i LEFT JOIN archive_cursor a ON a.name = 'archive'
       WHERE i.received_at < $1 AND (a.name IS NULL OR (i.tx, i.seq) <= (a.tx, a.seq)) LIMIT ${BATCH})`,
    [now - policy.readingRetentionDays * DAY_MS],
  );
  const days: Record<RuleAudience, number> = {
    welfare: policy.welfareAlertRetentionDays,
    leak: policy.leakAlertRetentionDays,
    maintenance: policy.maintenanceAlertRetentionDays,
  };
  let alerts = 0;
  for (const [audience, keep] of Object.entries(days)) {
    for (;;) {
      const n = await inPgTransaction(pool, async (c) => {
        const { rows } = await c.query<{ id: string }>(
          `SELECT id FROM alerts WHERE audience = $1 AND state = 'resolved' AND resolved_at < $2
           LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
          [audience, now - keep * DAY_MS],
        );
        const ids = rows.map((r) => r.id);
        if (ids.length === 0) return 0;
        for (const table of ['alert_timeline', 'outbox', 'escalations', 'detections'])
          await c.query(`DELETE FROM ${table} WHERE alert_id = ANY($1)`, [ids]);
        const { rowCount } = await c.query('DELETE FROM alerts WHERE id = ANY($1)', [ids]);
        return rowCount ?? 0;
      });
      alerts += n;
      if (n < BATCH) break;
    }
  }
  return { buckets, readings, alerts };
}

async function inBatches(pool: PgPool, sql: string, params: unknown[]): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query(sql, params);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH) return total;
  }
}
