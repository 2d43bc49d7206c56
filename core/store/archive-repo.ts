import type { Db } from './open-store.ts';

/** An inbox row as the archive writes it: the reading with its household and grid (null when unknown). */
export interface ArchiveRow {
  seq: number;
  meterId: string;
  householdId: string | null;
  grid: string | null;
  ts: number;
  totalLiters: number;
  receivedAt: number;
}

const CURSOR = 'archive-cursor';
const PROCESSING_CURSOR = 'inbox-cursor';

/**
 * The archive's durable spool is the inbox itself: the archive keeps a cursor (the last inbox `seq` written
 * to the time-series database) in the `checkpoints` table and advances it only after a write succeeded.
 * Rows after the cursor are the spool.
 */
export class ArchiveRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      get: db.prepare('SELECT value FROM checkpoints WHERE name = ?').pluck(),
      set: db.prepare(
        'INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      ),
      pending: db.prepare(
        `SELECT i.seq, i.meter_id AS meterId, m.household AS householdId, h.grid, i.ts,
           i.total_liters AS totalLiters, i.received_at AS receivedAt
         FROM inbox i LEFT JOIN meters m ON m.id = i.meter_id LEFT JOIN households h ON h.id = m.household
         WHERE i.seq > ? ORDER BY i.seq LIMIT ?`,
      ),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM inbox').pluck(),
      oldestPending: db.prepare('SELECT received_at FROM inbox WHERE seq > ? ORDER BY seq LIMIT 1').pluck(),
    };
  }

  /** Last inbox `seq` written to the archive (0 before the first write: the whole inbox is pending). */
  cursor(): number {
    return Number(this.s.get.get(CURSOR) ?? 0);
  }

  /** Whether an archive has ever been started on this store. */
  hasCursor(): boolean {
    return this.s.get.get(CURSOR) !== undefined;
  }

  setCursor(seq: number): void {
    this.s.set.run(CURSOR, String(seq));
  }

  /** Rows after `seq`, in inbox order, at most `limit`. */
  pending(seq: number, limit: number): ArchiveRow[] {
    return this.s.pending.all(seq, limit) as ArchiveRow[];
  }

  /** Rows after `seq` (sequence numbers are dense: rows are appended, never deleted ahead of the cursors). */
  spool(seq: number): number {
    return Math.max(0, (this.s.maxSeq.get() as number) - seq);
  }

  /** Arrival time of the oldest row after `seq`, if any. */
  oldestPendingReceivedAt(seq: number): number | undefined {
    return this.s.oldestPending.get(seq) as number | undefined;
  }

  /**
   * The highest inbox `seq` that inbox retention may delete: every row up to it has been processed
   * (processing checkpoint) and, once an archive has been started on this store, archived.
   */
  pruneLimit(): number {
    const processed = Number(this.s.get.get(PROCESSING_CURSOR) ?? 0);
    return this.hasCursor() ? Math.min(processed, this.cursor()) : processed;
  }
}
