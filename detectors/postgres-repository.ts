import { migratePg, type PgPool } from '../core/postgres.ts';
import { DETECTORS_PG_MIGRATIONS } from './postgres-migrations.ts';
import type { DetectorStateRepository } from './repository.ts';

/** The detectors' checkpoints on the shared PostgreSQL store: one statement per save, rows as arrays. */
export class PgDetectorStateRepository implements DetectorStateRepository<'async'> {
  private constructor(private readonly pool: PgPool) {}

  /** Migrates the detectors' tables and returns the repository. */
  static async open(pool: PgPool): Promise<PgDetectorStateRepository> {
    await migratePg(pool, 'detectors', DETECTORS_PG_MIGRATIONS);
    return new PgDetectorStateRepository(pool);
  }

  async saveStates(states: Iterable<readonly [string, unknown]>): Promise<void> {
    const last = new Map<string, unknown>();
    for (const [id, state] of states) last.set(id, state);
    if (last.size === 0) return;
    const ids: string[] = [];
    const bytes: (Buffer | null)[] = [];
    const json: (string | null)[] = [];
    for (const [id, state] of last) {
      ids.push(id);
      const binary = state instanceof Uint8Array;
      bytes.push(binary ? Buffer.from(state.buffer, state.byteOffset, state.byteLength) : null);
      json.push(binary ? null : JSON.stringify(state));
    }
    await this.pool.query(
      `INSERT INTO household_state (household_id, bytes, json)
       SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[])
       ON CONFLICT (household_id) DO UPDATE SET bytes = excluded.bytes, json = excluded.json`,
      [ids, bytes, json],
    );
  }

  async states(householdIds?: readonly string[]): Promise<[string, unknown][]> {
    const { rows } =
      householdIds === undefined
        ? await this.pool.query<Row>('SELECT household_id AS id, bytes, json FROM household_state')
        : await this.pool.query<Row>(
            `SELECT household_id AS id, bytes, json FROM household_state WHERE household_id = ANY($1::text[])`,
            [[...new Set(householdIds)]],
          );
    return rows.map((r) => [r.id, r.bytes ?? (JSON.parse(r.json!) as unknown)]);
  }
}

interface Row {
  id: string;
  bytes: Buffer | null;
  json: string | null;
}
