import type { Household, Worker, WorkerRole } from '../registry.ts';
import type { Db } from './open-store.ts';

export interface MeterRecord {
  id: string;
  householdId: string;
  secretHash: string;
  active: boolean;
  /** Declared interval between the meter's messages (minutes), or null. */
  reportEveryMinutes: number | null;
}

export interface WorkerRecord extends Worker {
  secretHash: string;
}

interface HouseholdRow {
  id: string;
  grid: string;
  address: string;
  lives_alone: number;
  elderly: number;
  away_until: number | null;
  notes: string | null;
  building?: string | null;
  unit?: string | null;
}

/** Streets, communities, grids, workers, households and meters. */
export class RegistryRepo {
  private readonly s;
  /** Organisation and meter writes through this connection (other connections' show in `data_version`). */
  private localWrites = 0;

  constructor(private readonly db: Db) {
    this.s = {
      upsertStreet: db.prepare(
        'INSERT INTO streets (code, name) VALUES (?, ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name',
      ),
      upsertCommunity: db.prepare(
        `INSERT INTO communities (code, street, name) VALUES (?, ?, ?)
         ON CONFLICT(code) DO UPDATE SET street = excluded.street, name = excluded.name`,
      ),
      upsertGrid: db.prepare(
        `INSERT INTO grids (code, community, name) VALUES (?, ?, ?)
         ON CONFLICT(code) DO UPDATE SET community = excluded.community, name = excluded.name`,
      ),
      upsertWorker: db.prepare(
        `INSERT INTO workers (id, name, role, secret_hash, phone) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
           secret_hash = excluded.secret_hash, phone = excluded.phone`,
      ),
      clearWorkerGrids: db.prepare('DELETE FROM worker_grids WHERE worker_id = ?'),
      addWorkerGrid: db.prepare('INSERT OR IGNORE INTO worker_grids (worker_id, grid) VALUES (?, ?)'),
      upsertHousehold: db.prepare(
        `INSERT INTO households (id, grid, address, lives_alone, elderly, away_until, notes)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET grid = excluded.grid, address = excluded.address,
           lives_alone = excluded.lives_alone, elderly = excluded.elderly,
           away_until = excluded.away_until, notes = excluded.notes`,
      ),
      upsertDistrict: db.prepare(
        'INSERT INTO districts (code, name) VALUES (?, ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name',
      ),
      setStreetDistrict: db.prepare('UPDATE streets SET district = ? WHERE code = ?'),
      upsertBuilding: db.prepare(
        `INSERT INTO buildings (code, grid, name) VALUES (?, ?, ?)
         ON CONFLICT(code) DO UPDATE SET grid = excluded.grid, name = excluded.name`,
      ),
      upsertUnit: db.prepare(
        `INSERT INTO units (code, building, name) VALUES (?, ?, ?)
         ON CONFLICT(code) DO UPDATE SET building = excluded.building, name = excluded.name`,
      ),
      setHouseholdPlace: db.prepare('UPDATE households SET building = ?, unit = ? WHERE id = ?'),
      buildingGrid: db.prepare('SELECT grid FROM buildings WHERE code = ?').pluck(),
      unitBuilding: db.prepare('SELECT building FROM units WHERE code = ?').pluck(),
      deactivateOtherMeters: db.prepare('UPDATE meters SET active = 0 WHERE household = ? AND id <> ?'),
      upsertMeter: db.prepare(
        `INSERT INTO meters (id, household, secret_hash, active, report_every_minutes) VALUES (?, ?, ?, 1, ?)
         ON CONFLICT(id) DO UPDATE SET household = excluded.household, secret_hash = excluded.secret_hash,
           active = 1, report_every_minutes = excluded.report_every_minutes`,
      ),
      meter: db.prepare(
        'SELECT id, household, secret_hash, active, report_every_minutes FROM meters WHERE id = ?',
      ),
      worker: db.prepare('SELECT id, name, role, secret_hash FROM workers WHERE id = ?'),
      workerGrids: db.prepare('SELECT grid FROM worker_grids WHERE worker_id = ? ORDER BY grid'),
      workersOfGrid: db.prepare(
        `SELECT w.id, w.name, w.role FROM workers w JOIN worker_grids g ON g.worker_id = w.id
         WHERE g.grid = ? ORDER BY w.id`,
      ),
      household: db.prepare('SELECT * FROM households WHERE id = ?'),
      gridName: db.prepare('SELECT name FROM grids WHERE code = ?').pluck(),
      setAway: db.prepare('UPDATE households SET away_until = ? WHERE id = ?'),
      exists: {
        street: db.prepare('SELECT 1 FROM streets WHERE code = ?').pluck(),
        community: db.prepare('SELECT 1 FROM communities WHERE code = ?').pluck(),
        grid: db.prepare('SELECT 1 FROM grids WHERE code = ?').pluck(),
        household: db.prepare('SELECT 1 FROM households WHERE id = ?').pluck(),
        district: db.prepare('SELECT 1 FROM districts WHERE code = ?').pluck(),
        building: db.prepare('SELECT 1 FROM buildings WHERE code = ?').pluck(),
        unit: db.prepare('SELECT 1 FROM units WHERE code = ?').pluck(),
      },
      meterHash: db.prepare('SELECT secret_hash FROM meters WHERE id = ?').pluck(),
      workerHash: db.prepare('SELECT secret_hash FROM workers WHERE id = ?').pluck(),
      counts: db.prepare(
        `SELECT (SELECT count(*) FROM streets) streets, (SELECT count(*) FROM communities) communities,
                (SELECT count(*) FROM grids) grids, (SELECT count(*) FROM workers) workers,
                (SELECT count(*) FROM households) households, (SELECT count(*) FROM meters WHERE active = 1) meters`,
      ),
    };
  }

  upsertStreet(code: string, name: string): void {
    this.s.upsertStreet.run(code, name);
    this.localWrites++;
  }
  upsertCommunity(code: string, street: string, name: string): void {
    this.s.upsertCommunity.run(code, street, name);
    this.localWrites++;
  }
  upsertGrid(code: string, community: string, name: string): void {
    this.s.upsertGrid.run(code, community, name);
    this.localWrites++;
  }
  upsertDistrict(code: string, name: string): void {
    this.s.upsertDistrict.run(code, name);
    this.localWrites++;
  }
  /** The district above a street office (null: none recorded). */
  setStreetDistrict(street: string, district: string | null): void {
    this.s.setStreetDistrict.run(district, street);
    this.localWrites++;
  }
  upsertBuilding(code: string, grid: string, name: string): void {
    this.s.upsertBuilding.run(code, grid, name);
    this.localWrites++;
  }
  upsertUnit(code: string, building: string, name: string): void {
    this.s.upsertUnit.run(code, building, name);
    this.localWrites++;
  }
  /** The building and unit a household lives in (null: not recorded). */
  setHouseholdPlace(id: string, building: string | null, unit: string | null): void {
    this.s.setHouseholdPlace.run(building, unit, id);
    this.localWrites++;
  }
  buildingGrid(code: string): string | undefined {
    return this.s.buildingGrid.get(code) as string | undefined;
  }
  unitBuilding(code: string): string | undefined {
    return this.s.unitBuilding.get(code) as string | undefined;
  }
  upsertWorker(w: {
    id: string;
    name: string;
    role: WorkerRole;
    grids: string[];
    secretHash: string;
    phone?: string;
  }) {
    this.s.upsertWorker.run(w.id, w.name, w.role, w.secretHash, w.phone ?? null);
    this.s.clearWorkerGrids.run(w.id);
    for (const g of w.grids) this.s.addWorkerGrid.run(w.id, g);
  }
  upsertHousehold(h: Household): void {
    this.s.upsertHousehold.run(
      h.id,
      h.gridCode,
      h.address,
      h.livesAlone ? 1 : 0,
      h.elderly ? 1 : 0,
      h.awayUntil,
      h.notes,
    );
    this.localWrites++;
  }
  /**
   * Changes whenever the registry may have changed: a street, community, grid, household or meter written
   * through this store, or a commit by another connection to the database (`careflow import` into a running
   * service). For caches.
   */
  revision(): string {
    return `${String(this.db.pragma('data_version', { simple: true }))}:${this.localWrites}`;
  }

  /** A household has one active meter: registering a new one retires the old (meter replacement). */
  upsertMeter(m: {
    id: string;
    householdId: string;
    secretHash: string;
    reportEveryMinutes?: number | null;
  }): void {
    this.s.upsertMeter.run(m.id, m.householdId, m.secretHash, m.reportEveryMinutes ?? null);
    this.s.deactivateOtherMeters.run(m.householdId, m.id);
    this.localWrites++;
  }

  exists(
    kind: 'street' | 'community' | 'grid' | 'household' | 'district' | 'building' | 'unit',
    code: string,
  ): boolean {
    return this.s.exists[kind].get(code) !== undefined;
  }

  meterSecretHash(id: string): string | undefined {
    return this.s.meterHash.get(id) as string | undefined;
  }
  workerSecretHash(id: string): string | undefined {
    return this.s.workerHash.get(id) as string | undefined;
  }

  meter(id: string): MeterRecord | undefined {
    const row = this.s.meter.get(id) as
      | {
          id: string;
          household: string;
          secret_hash: string;
          active: number;
          report_every_minutes: number | null;
        }
      | undefined;
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

  worker(id: string): WorkerRecord | undefined {
    const row = this.s.worker.get(id) as
      { id: string; name: string; role: WorkerRole; secret_hash: string } | undefined;
    if (!row) return undefined;
    const grids = this.s.workerGrids.all(id).map((r) => (r as { grid: string }).grid);
    return { id: row.id, name: row.name, role: row.role, grids, secretHash: row.secret_hash };
  }

  workersOfGrid(grid: string): Worker[] {
    return (this.s.workersOfGrid.all(grid) as { id: string; name: string; role: WorkerRole }[]).map((r) => ({
      ...r,
      grids: [grid],
    }));
  }

  /** A grid's name (outage messages name the grid), or undefined. */
  gridName(code: string): string | undefined {
    return this.s.gridName.get(code) as string | undefined;
  }

  household(id: string): Household | undefined {
    const row = this.s.household.get(id) as HouseholdRow | undefined;
    return row && toHousehold(row);
  }

  /**
   * Every household's id, grid, building (null: none) and whether it is elderly or lives alone, read in one
   * pass (the detectors' directory; a million households in about a second).
   */
  *householdSpots(): Generator<[string, string, string | null, boolean]> {
    const rows = this.db
      .prepare('SELECT id, grid, building, elderly OR lives_alone FROM households')
      .raw()
      .iterate() as Iterable<[string, string, string | null, number]>;
    for (const [id, grid, building, welfare] of rows) yield [id, grid, building, welfare === 1];
  }

  setAway(id: string, until: number | null): void {
    this.s.setAway.run(until, id);
  }

  /** Ids of the active meters and of the workers: the MQTT devices (for an external broker's password/ACL files). */
  deviceIds(): { meters: string[]; workers: string[] } {
    const ids = (sql: string) => this.db.prepare(sql).pluck().all() as string[];
    return {
      meters: ids('SELECT id FROM meters WHERE active = 1 ORDER BY id'),
      workers: ids('SELECT id FROM workers ORDER BY id'),
    };
  }

  allHouseholds(): Household[] {
    return (this.db.prepare('SELECT * FROM households ORDER BY id').all() as HouseholdRow[]).map(toHousehold);
  }

  counts(): Record<'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters', number> {
    return this.s.counts.get() as Record<
      'streets' | 'communities' | 'grids' | 'workers' | 'households' | 'meters',
      number
    >;
  }
}

function toHousehold(row: HouseholdRow): Household {
  return {
    id: row.id,
    gridCode: row.grid,
    address: row.address,
    livesAlone: row.lives_alone === 1,
    elderly: row.elderly === 1,
    awayUntil: row.away_until,
    notes: row.notes,
    // Only when recorded: households of registries without buildings look as they always did.
    ...(row.building ? { building: row.building } : {}),
    ...(row.unit ? { unit: row.unit } : {}),
  };
}
