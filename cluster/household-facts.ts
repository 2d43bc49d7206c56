import type { HouseholdFacts } from '../api/routes/registry.ts';
import type { PgPool } from '../core/postgres.ts';

/**
 * The household list's readings and alerts from the cluster's PostgreSQL (`GET /api/households` in a worker):
 * for one page of households, each one's newest known reading (the end of its newest bucket with liters) and its
 * unresolved alerts — one statement, one index seek per household and table.
 */
export async function householdFactsOf(
  pool: PgPool,
  householdIds: readonly string[],
): Promise<Map<string, HouseholdFacts>> {
  if (householdIds.length === 0) return new Map();
  const { rows } = await pool.query<{ id: string; last: number | null; open: number; silent: boolean }>(
    `SELECT h.id,
       (SELECT max(u."end") FROM usage_buckets u WHERE u.household_id = h.id AND u.liters IS NOT NULL) AS last,
       (SELECT count(*)::int FROM alerts a WHERE a.household_id = h.id AND a.state <> 'resolved') AS open,
       EXISTS (SELECT 1 FROM alerts a WHERE a.household_id = h.id AND a.state <> 'resolved'
         AND a.audience = 'maintenance') AS silent
     FROM unnest($1::text[]) AS h(id)`,
    [[...householdIds]],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      {
        lastReadingAt: r.last === null ? null : Number(r.last),
        openAlerts: r.open,
        meterSilent: r.silent,
      },
    ]),
  );
}
