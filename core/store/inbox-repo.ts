import type { Db } from './open-store.ts';

export interface InboxRow {
  seq: number;
  meterId: string;
  ts: number;
  totalLiters: number;
  receivedAt: number;
}

/** Appends one reading. */
const INSERT_INBOX_SQL = 'INSERT INTO inbox (meter_id, ts, total_liters, received_at) VALUES (?, ?, ?, ?)';

/**
 * Rows per multi-row INSERT of a group commit. One statement per reading cost about a third more CPU than one
 * per 16–32 rows (each `run` is a round trip through the driver and a fresh VDBE run); larger statements gain
 * nothing more.
 */
export const INBOX_ROWS_PER_INSERT = 32;

/**
 * The INSERT of `rows` readings (1 … INBOX_ROWS_PER_INSERT); also run by ingest's writer thread on its own
 * connection. `seq` is the rowid (INTEGER PRIMARY KEY, no AUTOINCREMENT): each row takes the largest seq + 1,
 * in the order of the VALUES, so the rows of one statement are numbered `last − rows + 1 … last`.
 */
export function insertInboxRowsSql(rows: number): string {
  return (
    'INSERT INTO inbox (meter_id, ts, total_liters, received_at) VALUES ' +
    new Array<string>(rows).fill('(?, ?, ?, ?)').join(', ')
  );
}

/** What `appendAll` stores: a meter's readings, received together. */
export interface InboxAppend {
  meterId: string;
  receivedAt: number;
  readings: readonly { ts: number; totalLiters: number }[];
}

/** The durable inbox: every accepted raw reading, in arrival order. A PUBACK follows its commit. */
export class InboxRepo {
  private readonly insertStmt;
  private readonly afterStmt;
  private readonly maxSeqStmt;
  private readonly lastReceivedStmt;
  private readonly storedStmt;
  /** The multi-row INSERTs by number of rows (index rows − 1), prepared when first needed. */
  private readonly insertRows: (ReturnType<Db['prepare']> | undefined)[] = [];
  /** The parameters of a full multi-row INSERT, reused from one to the next. */
  private readonly rowArgs: unknown[] = new Array<unknown>(4 * INBOX_ROWS_PER_INSERT);

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

  /**
   * Appends every reading of `batch` in order (call inside a transaction), across submissions, a multi-row
   * INSERT at a time; pushes their sequence numbers onto `seqs` and returns it.
   */
  appendAll(batch: readonly InboxAppend[], seqs: number[] = []): number[] {
    const args = this.rowArgs;
    let n = 0;
    for (const s of batch) {
      const { meterId, receivedAt } = s;
      for (const r of s.readings) {
        const at = 4 * n;
        args[at] = meterId;
        args[at + 1] = r.ts;
        args[at + 2] = r.totalLiters;
        args[at + 3] = receivedAt;
        if (++n === INBOX_ROWS_PER_INSERT) {
          this.insert(n, args, seqs);
          n = 0;
        }
      }
    }
    if (n > 0) this.insert(n, args.slice(0, 4 * n), seqs);
    return seqs;
  }

  private insert(rows: number, args: unknown[], seqs: number[]): void {
    const stmt = (this.insertRows[rows - 1] ??= this.db.prepare(insertInboxRowsSql(rows)));
    const last = Number(stmt.run(args).lastInsertRowid);
    for (let i = rows - 1; i >= 0; i--) seqs.push(last - i);
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
