import type { Db } from './open-store.ts';

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  /** The grid the action concerned, so that scoped readers see their own part of the log. */
  grid: string | null;
  detail: Record<string, unknown>;
  ip: string | null;
}

export interface AuditFilter {
  from?: number;
  to?: number;
  actor?: string;
  action?: string;
  /** Only entries of these grids (null = all entries). */
  grids?: readonly string[] | null;
  limit?: number;
}

/** Every state-changing action: who, when, what, on what. Append-only. */
export class AuditRepo {
  private readonly insert;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      'INSERT INTO audit_log (at, actor, action, target, grid, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  add(e: Omit<AuditEntry, 'id'>): void {
    this.insert.run(e.at, e.actor, e.action, e.target, e.grid, JSON.stringify(e.detail), e.ip);
  }

  list(f: AuditFilter = {}): AuditEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, value: string | number) => {
      where.push(clause);
      args.push(value);
    };
    if (f.from !== undefined) add('at >= ?', f.from);
    if (f.to !== undefined) add('at < ?', f.to);
    if (f.actor) add('actor = ?', f.actor);
    if (f.action) add('action = ?', f.action);
    if (f.grids) {
      if (f.grids.length === 0) return [];
      where.push(`grid IN (${f.grids.map(() => '?').join(',')})`);
      args.push(...f.grids);
    }
    const sql = `SELECT * FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, f.limit ?? 200) as (Omit<AuditEntry, 'detail'> & {
      detail: string;
    })[];
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }
}
