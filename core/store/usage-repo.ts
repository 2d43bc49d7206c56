import type { UsageBucket } from '../streams.ts';
import type { Db } from './open-store.ts';

/** Buckets per multi-row upsert (see `upsertAll`). */
const ROWS_PER_UPSERT = 32;

function upsertSql(rows: number): string {
  return (
    'INSERT INTO usage_buckets (household_id, start, end, liters) VALUES ' +
    new Array<string>(rows).fill('(?, ?, ?, ?)').join(', ') +
    ' ON CONFLICT(household_id, start) DO UPDATE SET end = excluded.end, liters = excluded.liters'
  );
}

/** Closed usage buckets per household (liters null = unknown). Upserts, so re-processing is idempotent. */
export class UsageRepo {
  private readonly upsertStmt;
  private readonly rangeStmt;
  /** The multi-row upserts by number of rows (index rows − 1), prepared when first needed. */
  private readonly upsertRows: (ReturnType<Db['prepare']> | undefined)[] = [];
  private readonly rowArgs: unknown[] = new Array<unknown>(4 * ROWS_PER_UPSERT);

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

  /**
   * Upserts buckets in order, a multi-row statement at a time (one per bucket cost about a third more CPU);
   * a bucket given twice ends as the later one, as with one upsert each.
   */
  upsertAll(buckets: readonly UsageBucket[]): void {
    const args = this.rowArgs;
    let n = 0;
    for (const b of buckets) {
      const at = 4 * n;
      args[at] = b.householdId;
      args[at + 1] = b.start;
      args[at + 2] = b.end;
      args[at + 3] = b.liters;
      if (++n === ROWS_PER_UPSERT) {
        this.upsertN(n, args);
        n = 0;
      }
    }
    if (n > 0) this.upsertN(n, args.slice(0, 4 * n));
  }

  private upsertN(rows: number, args: unknown[]): void {
    (this.upsertRows[rows - 1] ??= this.db.prepare(upsertSql(rows))).run(args);
  }

  range(householdId: string, from: number, to: number): UsageBucket[] {
    return this.rangeStmt.all(householdId, from, to) as UsageBucket[];
  }

  deleteBefore(cutoff: number): number {
    return this.db.prepare('DELETE FROM usage_buckets WHERE start < ?').run(cutoff).changes;
  }
}
