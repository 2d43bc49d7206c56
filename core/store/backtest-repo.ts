import type { Outcome } from '../alerts.ts';
import type { Db } from './open-store.ts';

export interface LiveAlert {
  id: string;
  householdId: string;
  ruleId: string;
  audience: string;
  openedAt: number;
  resolvedAt: number | null;
  outcome: Outcome | null;
  state: string;
}

/** Read-only queries a backtest needs: stored buckets fast, and what the live service raised. */
export class BacktestRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      buckets: db
        .prepare(
          'SELECT start, end, liters FROM usage_buckets WHERE household_id = ? AND start >= ? AND start < ? ORDER BY start',
        )
        .raw(),
      alerts: db.prepare(
        `SELECT id, household_id AS householdId, rule_id AS ruleId, audience, opened_at AS openedAt,
           resolved_at AS resolvedAt, outcome, state
         FROM alerts WHERE household_id = ? AND opened_at >= ? AND opened_at < ? ORDER BY opened_at, id`,
      ),
      detections: db.prepare(
        `SELECT key, household_id AS householdId, rule_id AS ruleId, kind, at FROM detections
         WHERE household_id = ? AND at >= ? AND at < ? ORDER BY at, key`,
      ),
    };
  }

  /** [start, end, liters | null] rows of a household, oldest first. */
  buckets(householdId: string, from: number, to: number): [number, number, number | null][] {
    return this.s.buckets.all(householdId, from, to) as [number, number, number | null][];
  }

  alerts(householdId: string, from: number, to: number): LiveAlert[] {
    return this.s.alerts.all(householdId, from, to) as LiveAlert[];
  }

  detections(householdId: string, from: number, to: number) {
    return this.s.detections.all(householdId, from, to) as {
      key: string;
      householdId: string;
      ruleId: string;
      kind: string;
      at: number;
    }[];
  }
}
