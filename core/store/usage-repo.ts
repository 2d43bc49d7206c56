import type { UsageBucket } from '../streams.ts';
import type { Db } from './open-store.ts';

/** Closed usage buckets per household (liters null = unknown). Upserts, so re-processing is idempotent. */
export class UsageRepo {
  private readonly upsertStmt;
  private readonly rangeStmt;

  constructor(private readonly db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO usage_buckets (household_id, start, end, liters) VALUES (?, ?, ?, ?)
       ON CONFLICT(household_id, start) DO UPDATE SET end = excluded.end, liters = excluded.liters`,
    );
    this.rangeStmt = db.prepare(
      `SELECT household_id AS householdId, start, end, liters FROM usage_buckets
       WHERE household_id = ? AND start >= ? AND start < ? ORDER BY start`,
    );
  }

  upsert(b: UsageBucket): void {
    this.upsertStmt.run(b.householdId, b.start, b.end, b.liters);
  }

  range(householdId: string, from: number, to: number): UsageBucket[] {
    return this.rangeStmt.all(householdId, from, to) as UsageBucket[];
  }

  deleteBefore(cutoff: number): number {
    return this.db.prepare('DELETE FROM usage_buckets WHERE start < ?').run(cutoff).changes;
  }
}
