import { migratePg, type PgPool } from '../core/postgres.ts';
import type { Household, Worker, WorkerRole } from '../core/registry.ts';
import { sharedVersion } from '../core/shared-follower.ts';
import { REGISTRY_PG_MIGRATIONS } from './postgres-migrations.ts';
import { REGISTRY_SET } from './tables.ts';
import type { MeterRecord, RegistryRepository, WorkerRecord } from './repository.ts';

interface HouseholdRow {
  id: string;
  grid: string;
  address: string;
  lives_alone: number;
  elderly: number;
  away_until: number | null;
  notes: string | null;
  building: string | null;
  unit: string | null;
}

/** The registry in the shared PostgreSQL store (cluster mode); written by registry/shared-import.ts. */
export class PgRegistryRepository implements RegistryRepository<'async'> {
  private constructor(private readonly pool: PgPool) {}

  static async open(pool: PgPool): Promise<PgRegistryRepository> {
    await migratePg(pool, 'registry', REGISTRY_PG_MIGRATIONS);
    return new PgRegistryRepository(pool);
  }

  async meter(id: string): Promise<MeterRecord | undefined> {
    const { rows } = await this.pool.query<{
      id: string;
      household: string;
      secret_hash: string;
      active: number;
      report_every_minutes: number | null;
    }>('SELECT id, household, secret_hash, active, report_every_minutes FROM meters WHERE id = $1', [id]);
    const row = rows[0];
    return (
      row && {
        id: row.id,
        householdId: row.household,
        secretHash: row.secret_hash,
        active: row.active === 1,
        reportEveryMinutes: row.report_every_minutes,
      }
    );
  }

  async household(id: string): Promise<Household | undefined> {
    const { rows } = await this.pool.query<HouseholdRow>('SELECT * FROM households WHERE id = $1', [id]);
    const row = rows[0];
    return (
      row && {
        id: row.id,
        gridCode: row.grid,
        address: row.address,
        livesAlone: row.lives_alone === 1,
        elderly: row.elderly === 1,
        awayUntil: row.away_until,
        notes: row.notes,
        // As the embedded store: only when recorded.
        ...(row.building ? { building: row.building } : {}),
        ...(row.unit ? { unit: row.unit } : {}),
      }
    );
  }

  async worker(id: string): Promise<WorkerRecord | undefined> {
    const { rows } = await this.pool.query<{
      id: string;
      name: string;
      role: WorkerRole;
      secret_hash: string;
      grids: string[];
    }>(
      `SELECT w.id, w.name, w.role, w.secret_hash,
              array(SELECT grid FROM worker_grids g WHERE g.worker_id = w.id ORDER BY grid) AS grids
       FROM workers w WHERE w.id = $1`,
      [id],
    );
    const row = rows[0];
    return (
      row && { id: row.id, name: row.name, role: row.role, grids: row.grids, secretHash: row.secret_hash }
    );
  }

  async workersOfGrid(grid: string): Promise<Worker[]> {
    const { rows } = await this.pool.query<{ id: string; name: string; role: WorkerRole }>(
      `SELECT w.id, w.name, w.role FROM workers w JOIN worker_grids g ON g.worker_id = w.id
       WHERE g.grid = $1 ORDER BY w.id COLLATE "C"`,
      [grid],
    );
    return rows.map((r) => ({ ...r, grids: [grid] }));
  }

  async gridName(code: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ name: string }>('SELECT name FROM grids WHERE code = $1', [
      code,
    ]);
    return rows[0]?.name;
  }

  async counts(): Promise<
    Record<'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters', number>
  > {
    const { rows } = await this.pool.query<
      Record<'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters', number>
    >(
      `SELECT (SELECT count(*) FROM streets) streets, (SELECT count(*) FROM communities) communities,
              (SELECT count(*) FROM grids) grids, (SELECT count(*) FROM workers) workers,
              (SELECT count(*) FROM households) households, (SELECT count(*) FROM meters WHERE active = 1) meters`,
    );
    return rows[0]!;
  }

  /** The number of imports published so far ('0': none). */
  async revision(): Promise<string> {
    return String(await registryVersion(this.pool));
  }
}

/** How many imports the shared store has had (0: none; the workers keep their own registry then). */
export async function registryVersion(pool: PgPool): Promise<number> {
  return sharedVersion(pool, REGISTRY_SET);
}
