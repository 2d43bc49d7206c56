import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgArchiveRepository } from '../archive/postgres-repository.ts';
import { pruneShared } from '../cluster/retention.ts';
import type { RuleAudience } from '../core/rules.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { PgIngestRepository } from '../ingest/postgres-repository.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { openAlertRow } from './open-alert.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';

/**
 * Retention in a cluster's shared store (the embedded retention's periods, on PostgreSQL): old buckets, old raw
 * readings — only once archived, when an archive follows the inbox — and resolved alerts past their audience's
 * retention with everything hanging on them go; everything younger, and every alert still open, stays.
 */
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const policy = {
  bucketRetentionDays: 30,
  readingRetentionDays: 10,
  welfareAlertRetentionDays: 100,
  leakAlertRetentionDays: 100,
  maintenanceAlertRetentionDays: 20,
};

let server: Postgres;
const pools: PgPool[] = [];

beforeAll(async () => {
  if (SKIP_POSTGRES) return;
  server = await startPostgres('careflow_retention');
}, 60_000);
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await server?.dispose();
});

async function fresh(name: string) {
  const pool = openPgPool(await server.createDatabase(name));
  pools.push(pool);
  const ingest = await PgIngestRepository.open(pool);
  const alerts = await PgAlertRepository.open(pool);
  /** One reading received `daysAgo` days before NOW. */
  const reading = (meterId: string, daysAgo: number) =>
    ingest.commit([
      {
        meterId,
        receivedAt: NOW - daysAgo * DAY,
        deadLetters: [],
        readings: [{ ts: NOW - daysAgo * DAY, totalLiters: daysAgo }],
      },
    ]);
  const alert = async (id: string, audience: RuleAudience, resolvedDaysAgo: number | null) => {
    const at = NOW - 400 * DAY;
    await alerts.insert(
      openAlertRow({ id, householdId: 'h-1', gridCode: 'g1', ruleId: `r-${id}`, audience }, at),
    );
    await alerts.addTimeline(id, { at, kind: 'opened', actor: null, detail: {} });
    if (resolvedDaysAgo !== null)
      await pool.query(`UPDATE alerts SET state = 'resolved', resolved_at = $2 WHERE id = $1`, [
        id,
        NOW - resolvedDaysAgo * DAY,
      ]);
  };
  const count = async (sql: string) => (await pool.query<{ n: number }>(sql)).rows[0]!.n;
  return { pool, ingest, reading, alert, count };
}

describe.skipIf(SKIP_POSTGRES)("retention of a cluster's shared store", () => {
  it('prunes old buckets, readings and resolved alerts, and keeps what is younger or open', async () => {
    const s = await fresh('prune');
    for (const d of [40, 31, 29, 1])
      await s.ingest.saveProcessed({
        buckets: [{ householdId: 'h-1', start: NOW - d * DAY, end: NOW - d * DAY + 3_600_000, liters: d }],
        events: [],
      });
    for (const d of [15, 11, 9, 0]) await s.reading('m-1', d);
    await s.alert('old-welfare', 'welfare', 150);
    await s.alert('young-welfare', 'welfare', 50);
    await s.alert('old-maintenance', 'maintenance', 30);
    await s.alert('open-welfare', 'welfare', null);

    expect(await pruneShared(s.pool, policy, NOW)).toEqual({ buckets: 2, readings: 2, alerts: 2 });
    expect(await s.count('SELECT count(*)::int AS n FROM usage_buckets')).toBe(2);
    expect(await s.count('SELECT min(received_at) AS n FROM inbox')).toBe(NOW - 9 * DAY);
    const left = await s.pool.query<{ id: string }>('SELECT id FROM alerts ORDER BY id');
    expect(left.rows.map((r) => r.id)).toEqual(['open-welfare', 'young-welfare']);
    expect(await s.count('SELECT count(DISTINCT alert_id)::int AS n FROM alert_timeline')).toBe(2);
    // A second run finds nothing more.
    expect(await pruneShared(s.pool, policy, NOW)).toEqual({ buckets: 0, readings: 0, alerts: 0 });
  });

  it('keeps old readings the archive has not written yet', async () => {
    const s = await fresh('archived');
    for (const d of [30, 20, 12]) await s.reading('m-1', d);
    const archive = await PgArchiveRepository.open(s.pool);
    const batch = await archive.pending(await archive.start(), 1); // the oldest one written
    await archive.advance(batch.next);
    expect(await pruneShared(s.pool, policy, NOW)).toMatchObject({ readings: 1 });
    expect(await s.count('SELECT count(*)::int AS n FROM inbox')).toBe(2);
  });
});
