import type { Db } from './open-store.ts';

export interface DeadLetter {
  id: number;
  receivedAt: number;
  meterId: string | null;
  topic: string | null;
  code: string;
  message: string;
  field: string | null;
  excerpt: string | null;
}

/** A dead letter with the household and grid of its meter (null when the meter is not registered). */
export interface DeadLetterView extends DeadLetter {
  householdId: string | null;
  grid: string | null;
}

export interface DeadLetterFilter {
  meterId?: string;
  code?: string;
  /** Received at or after (epoch ms). */
  from?: number;
  /** Received before (epoch ms). */
  to?: number;
  /** Only letters of registered meters in these grids; null or absent = every letter, unknown meters too. */
  grids?: readonly string[] | null;
  /** Only letters with a smaller id (paging: pass the last id of the previous page). */
  beforeId?: number;
  limit?: number;
}

const INNER_JOIN = 'JOIN meters m ON m.id = d.meter_id JOIN households h ON h.id = m.household';
const OUTER_JOIN = 'LEFT JOIN meters m ON m.id = d.meter_id LEFT JOIN households h ON h.id = m.household';

/** Adds one dead letter; also run by ingest's writer thread on its own connection. */
export const INSERT_DEAD_LETTER_SQL = `INSERT INTO dead_letters (received_at, meter_id, topic, code, message, field, excerpt)
       VALUES (?, ?, ?, ?, ?, ?, ?)`;

/** Rejected input, kept with its reason so that nothing is silently dropped. */
export class DeadLetterRepo {
  private readonly insertStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(INSERT_DEAD_LETTER_SQL);
  }

  add(d: Omit<DeadLetter, 'id'>): void {
    this.insertStmt.run(d.receivedAt, d.meterId, d.topic, d.code, d.message, d.field, d.excerpt);
  }

  /** Newest first. Each letter carries its meter's household and grid (null for an unknown meter). */
  list(filter: DeadLetterFilter = {}): DeadLetterView[] {
    const { where, args } = this.conditions(filter);
    const join = filter.grids ? INNER_JOIN : OUTER_JOIN;
    if (filter.beforeId !== undefined) {
      where.push('d.id < ?');
      args.push(filter.beforeId);
    }
    const sql = `SELECT d.id, d.received_at AS receivedAt, d.meter_id AS meterId, m.household AS householdId,
        h.grid, d.topic, d.code, d.message, d.field, d.excerpt
      FROM dead_letters d ${join}
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY d.id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...args, filter.limit ?? 100) as DeadLetterView[];
  }

  /** Dead letters by reason code, with the same filters as `list` (`limit` and `beforeId` ignored). */
  countsByCode(filter: DeadLetterFilter = {}): Record<string, number> {
    const { where, args } = this.conditions(filter);
    const join = filter.grids ? INNER_JOIN : '';
    const sql = `SELECT d.code, count(*) n FROM dead_letters d ${join}
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''} GROUP BY d.code ORDER BY d.code`;
    const rows = this.db.prepare(sql).all(...args) as { code: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.code, r.n]));
  }

  private conditions(filter: DeadLetterFilter): { where: string[]; args: (string | number)[] } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.meterId) {
      where.push('d.meter_id = ?');
      args.push(filter.meterId);
    }
    if (filter.code) {
      where.push('d.code = ?');
      args.push(filter.code);
    }
    if (filter.from !== undefined) {
      where.push('d.received_at >= ?');
      args.push(filter.from);
    }
    if (filter.to !== undefined) {
      where.push('d.received_at < ?');
      args.push(filter.to);
    }
    // A grid scope keeps only letters of registered meters in those grids (never unknown meters).
    const grids = filter.grids;
    if (grids) {
      where.push(grids.length === 0 ? '0' : `h.grid IN (${grids.map(() => '?').join(',')})`);
      args.push(...grids);
    }
    return { where, args };
  }
}
