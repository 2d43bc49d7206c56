import type { Db } from './open-store.ts';

export interface InboxRow {
  seq: number;
  meterId: string;
  ts: number;
  totalLiters: number;
  receivedAt: number;
}

/** Appends one reading; also run by ingest's writer thread on its own connection. */
export const INSERT_INBOX_SQL =
  'INSERT INTO inbox (meter_id, ts, total_liters, received_at) VALUES (?, ?, ?, ?)';

/** The durable inbox: every accepted raw reading, in arrival order. A PUBACK follows its commit. */
export class InboxRepo {
  private readonly insertStmt;
  private readonly afterStmt;
  private readonly maxSeqStmt;
  private readonly lastReceivedStmt;
  private readonly storedStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(INSERT_INBOX_SQL);
    this.afterStmt = db.prepare(
      `SELECT seq, meter_id AS meterId, ts, total_liters AS totalLiters, received_at AS receivedAt
       FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    this.maxSeqStmt = db.prepare('SELECT coalesce(max(seq), 0) FROM inbox').pluck();
    this.lastReceivedStmt = db.prepare('SELECT received_at FROM inbox ORDER BY seq DESC LIMIT 1').pluck();
    this.storedStmt = db.prepare(
      'SELECT ts, total_liters AS totalLiters FROM inbox WHERE meter_id = ? AND ts BETWEEN ? AND ?',
    );
  }

  /** A meter's stored readings between two times (inclusive), as `ts` → the register values stored at it. */
  stored(meterId: string, fromTs: number, toTs: number): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (const r of this.storedStmt.all(meterId, fromTs, toTs) as { ts: number; totalLiters: number }[]) {
      const list = out.get(r.ts);
      if (list) list.push(r.totalLiters);
      else out.set(r.ts, [r.totalLiters]);
    }
    return out;
  }

  /** Appends readings (call inside a transaction); returns their sequence numbers. */
  append(meterId: string, ts: number, totalLiters: number, receivedAt: number): number {
    return Number(this.insertStmt.run(meterId, ts, totalLiters, receivedAt).lastInsertRowid);
  }

  /** Rows after `seq`, in order, at most `limit`. */
  after(seq: number, limit: number): InboxRow[] {
    return this.afterStmt.all(seq, limit) as InboxRow[];
  }

  maxSeq(): number {
    return this.maxSeqStmt.get() as number;
  }

  /** Arrival time of the newest reading (0 when the inbox is empty). */
  lastReceivedAt(): number {
    return (this.lastReceivedStmt.get() as number | undefined) ?? 0;
  }

  countForMeter(meterId: string): number {
    return this.db.prepare('SELECT count(*) FROM inbox WHERE meter_id = ?').pluck().get(meterId) as number;
  }
}
