import { migratePg, type PgPool } from '../core/postgres.ts';
import { INGEST_PG_MIGRATIONS } from '../ingest/postgres-migrations.ts';
import { REGISTRY_PG_MIGRATIONS } from '../registry/postgres-migrations.ts';
import { ARCHIVE_PG_MIGRATIONS } from './postgres-migrations.ts';
import {
  ARCHIVE_START,
  type ArchiveBacklog,
  type ArchiveBatch,
  type ArchiveCursor,
  type ArchiveRepository,
  type ArchiveRow,
} from './repository.ts';

const NAME = 'archive';
/** Past this many unwritten rows the backlog is estimated from sequence numbers rather than counted. */
const COUNT_CAP = 100_000;

/**
 * The archive's repository on the shared PostgreSQL store. Workers commit readings concurrently, and an
 * identity `seq` drawn by one transaction may become visible after a larger one of another; so the cursor
 * follows the inbox by committing transaction (`tx`, then `seq`) and reads only rows of transactions older
 * than every transaction still running (`pg_snapshot_xmin`): nothing can later appear before the cursor.
 */
export class PgArchiveRepository implements ArchiveRepository<'async'> {
  private constructor(private readonly pool: PgPool) {}

  /** Migrates the tables it reads (the inbox, the registry) and its own, and returns the repository. */
  static async open(pool: PgPool): Promise<PgArchiveRepository> {
    await migratePg(pool, 'ingest', INGEST_PG_MIGRATIONS);
    await migratePg(pool, 'registry', REGISTRY_PG_MIGRATIONS);
    await migratePg(pool, 'archive', ARCHIVE_PG_MIGRATIONS);
    return new PgArchiveRepository(pool);
  }

  async start(): Promise<ArchiveCursor> {
    await this.pool.query(
      `INSERT INTO archive_cursor (name, tx, seq) VALUES ($1, $2::xid8, $3) ON CONFLICT (name) DO NOTHING`,
      [NAME, ARCHIVE_START.tx, ARCHIVE_START.seq],
    );
    const { rows } = await this.pool.query<{ tx: string; seq: number }>(
      'SELECT tx::text AS tx, seq FROM archive_cursor WHERE name = $1',
      [NAME],
    );
    return { tx: rows[0]!.tx, seq: rows[0]!.seq };
  }

  async pending(after: ArchiveCursor, limit: number): Promise<ArchiveBatch> {
    const { rows } = await this.pool.query<ArchiveRow & { tx: string }>(
      `SELECT i.tx::text AS tx, i.seq, i.meter_id AS "meterId", m.household AS "householdId", h.grid, i.ts,
         i.total_liters AS "totalLiters", i.received_at AS "receivedAt"
       FROM inbox i LEFT JOIN meters m ON m.id = i.meter_id LEFT JOIN households h ON h.id = m.household
       WHERE (i.tx, i.seq) > ($1::xid8, $2::bigint) AND i.tx < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY i.tx, i.seq LIMIT $3`,
      [after.tx, after.seq, limit],
    );
    if (rows.length === 0) return { rows: [], next: after };
    const last = rows[rows.length - 1]!;
    return {
      rows: rows.map(({ tx: _tx, ...row }) => row),
      next: { tx: last.tx, seq: last.seq },
    };
  }

  async advance(to: ArchiveCursor): Promise<void> {
    // Never backwards: a worker that lost the archive's lease and still finishes a batch cannot undo progress.
    await this.pool.query(
      `UPDATE archive_cursor SET tx = $2::xid8, seq = $3 WHERE name = $1 AND (tx, seq) < ($2::xid8, $3::bigint)`,
      [NAME, to.tx, to.seq],
    );
  }

  async backlog(after: ArchiveCursor): Promise<ArchiveBacklog> {
    const { rows } = await this.pool.query<{ n: number; oldest: number | null; top: number | null }>(
      `SELECT (SELECT count(*) FROM (SELECT 1 FROM inbox WHERE (tx, seq) > ($1::xid8, $2::bigint) LIMIT $3) c)
                AS n,
              (SELECT received_at FROM inbox WHERE (tx, seq) > ($1::xid8, $2::bigint) ORDER BY tx, seq LIMIT 1)
                AS oldest,
              (SELECT max(seq) FROM inbox) AS top`,
      [after.tx, after.seq, COUNT_CAP],
    );
    const r = rows[0]!;
    const readings = r.n < COUNT_CAP ? r.n : Math.max(COUNT_CAP, (r.top ?? 0) - after.seq);
    return { readings, oldestReceivedAt: r.oldest ?? undefined };
  }
}
