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

/** Rejected input, kept with its reason so that nothing is silently dropped. */
export class DeadLetterRepo {
  private readonly insertStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO dead_letters (received_at, meter_id, topic, code, message, field, excerpt)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  add(d: Omit<DeadLetter, 'id'>): void {
    this.insertStmt.run(d.receivedAt, d.meterId, d.topic, d.code, d.message, d.field, d.excerpt);
  }

  list(filter: { meterId?: string; code?: string; limit?: number } = {}): DeadLetter[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.meterId) {
      where.push('meter_id = ?');
      args.push(filter.meterId);
    }
    if (filter.code) {
      where.push('code = ?');
      args.push(filter.code);
    }
    const sql = `SELECT id, received_at AS receivedAt, meter_id AS meterId, topic, code, message, field, excerpt
      FROM dead_letters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...args, filter.limit ?? 100) as DeadLetter[];
  }

  countsByCode(): Record<string, number> {
    const rows = this.db.prepare('SELECT code, count(*) n FROM dead_letters GROUP BY code').all() as {
      code: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.code, r.n]));
  }
}
