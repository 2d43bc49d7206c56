import type { AuditEntry, AuditFilter } from '../core/store/audit-repo.ts';
import type { PgPool } from '../core/postgres.ts';

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

/**
 * The cluster's audit log, newest first, with the embedded log's filters (time, actor, action, the caller's grids:
 * an entry without a grid is an admin's to read, as in the embedded store).
 */
export async function readAudit(pool: PgPool, f: AuditFilter): Promise<AuditEntry[]> {
  if (f.grids && f.grids.length === 0) return [];
  const { rows } = await pool.query<AuditEntry & { detail: string }>(
    `SELECT id, at, actor, action, target, grid, detail, ip FROM audit_log
     WHERE ($1::bigint IS NULL OR at >= $1) AND ($2::bigint IS NULL OR at < $2) AND ($3::text IS NULL OR actor = $3)
       AND ($4::text IS NULL OR action = $4) AND ($5::text[] IS NULL OR grid = ANY($5))
     ORDER BY id DESC LIMIT $6`,
    [
      f.from ?? null,
      f.to ?? null,
      f.actor ?? null,
      f.action ?? null,
      f.grids ? [...f.grids] : null,
      f.limit ?? 200,
    ],
  );
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    at: Number(r.at),
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }));
}
