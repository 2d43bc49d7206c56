import type { PgPool } from '../core/postgres.ts';
import type { DeadLetterFilter, DeadLetterView } from '../core/store/dead-letter-repo.ts';

/**
 * Ingest's dead letters in the cluster's PostgreSQL, read for the API (`GET /api/deadletters` and its counts in a
 * worker): the embedded repository's statements, each letter with its meter's household and grid from the shared
 * registry's tables (null for a meter the registry does not know; a grid scope keeps only registered meters).
 */
export class PgDeadLetterReader {
  constructor(private readonly pool: PgPool) {}

  async list(filter: DeadLetterFilter): Promise<DeadLetterView[]> {
    const { where, args } = conditions(filter);
    if (filter.beforeId !== undefined) {
      args.push(filter.beforeId);
      where.push(`d.id < $${args.length}`);
    }
    args.push(filter.limit ?? 100);
    const { rows } = await this.pool.query<DeadLetterView>(
      `SELECT d.id, d.received_at AS "receivedAt", d.meter_id AS "meterId", m.household AS "householdId", h.grid,
         d.topic, d.code, d.message, d.field, d.excerpt
       FROM dead_letters d ${join(filter)} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY d.id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), receivedAt: Number(r.receivedAt) }));
  }

  async countsByCode(filter: DeadLetterFilter): Promise<Record<string, number>> {
    const { where, args } = conditions(filter);
    const { rows } = await this.pool.query<{ code: string; n: number }>(
      `SELECT d.code, count(*)::int AS n FROM dead_letters d ${filter.grids ? join(filter) : ''}
       ${where.length ? 'WHERE ' + where.join(' AND ') : ''} GROUP BY d.code ORDER BY d.code`,
      args,
    );
    return Object.fromEntries(rows.map((r) => [r.code, r.n]));
  }
}

function join(filter: DeadLetterFilter): string {
  return filter.grids
    ? 'JOIN meters m ON m.id = d.meter_id JOIN households h ON h.id = m.household'
    : 'LEFT JOIN meters m ON m.id = d.meter_id LEFT JOIN households h ON h.id = m.household';
}

function conditions(filter: DeadLetterFilter): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (clause: (n: string) => string, value: unknown) => {
    args.push(value);
    where.push(clause(`$${args.length}`));
  };
  if (filter.meterId) add((n) => `d.meter_id = ${n}`, filter.meterId);
  if (filter.code) add((n) => `d.code = ${n}`, filter.code);
  if (filter.from !== undefined) add((n) => `d.received_at >= ${n}`, filter.from);
  if (filter.to !== undefined) add((n) => `d.received_at < ${n}`, filter.to);
  if (filter.grids) add((n) => `h.grid = ANY(${n})`, [...filter.grids]);
  return { where, args };
}
