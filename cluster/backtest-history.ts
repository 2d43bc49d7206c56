import type { BacktestHistory } from '../backtest/backtest.ts';
import type { PgPool } from '../core/postgres.ts';
import type { LiveAlert } from '../core/store/backtest-repo.ts';

/**
 * What a backtest in a cluster worker replays and compares with, from PostgreSQL: a household's stored usage
 * buckets (written by its partition) and the alerts the cluster raised for it — the embedded backtest's queries
 * (core/store/backtest-repo.ts), one round trip each per household.
 */
export function pgBacktestHistory(pool: PgPool): BacktestHistory {
  return {
    async buckets(householdId, from, to) {
      const { rows } = await pool.query<{ start: string; end: string; liters: number | null }>(
        `SELECT start, "end", liters FROM usage_buckets WHERE household_id = $1 AND start >= $2 AND start < $3
         ORDER BY start`,
        [householdId, from, to],
      );
      return rows.map((r) => [Number(r.start), Number(r.end), r.liters]);
    },
    async alerts(householdId, from, to) {
      const { rows } = await pool.query<LiveAlert>(
        `SELECT id, household_id AS "householdId", rule_id AS "ruleId", audience, opened_at AS "openedAt",
           resolved_at AS "resolvedAt", outcome, state
         FROM alerts WHERE household_id = $1 AND opened_at >= $2 AND opened_at < $3 ORDER BY opened_at, id COLLATE "C"`,
        [householdId, from, to],
      );
      return rows.map((r) => ({
        ...r,
        openedAt: Number(r.openedAt),
        resolvedAt: r.resolvedAt === null ? null : Number(r.resolvedAt),
      }));
    },
  };
}
