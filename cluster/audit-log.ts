import type { AuditEntry } from '../core/store/audit-repo.ts';

/** Something that runs a statement: a pool, a client, or a unit of work's pool (then inside its transaction). */
interface Queryable {
  query(sql: string, args: unknown[]): Promise<unknown>;
}

/** Writes one entry to the cluster's audit log in PostgreSQL (`audit_log`, the embedded store's columns). */
export async function writeAudit(db: Queryable, e: Omit<AuditEntry, 'id'>): Promise<void> {
  await db.query(
    'INSERT INTO audit_log (at, actor, action, target, grid, detail, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [e.at, e.actor, e.action, e.target, e.grid, JSON.stringify(e.detail), e.ip],
  );
}
