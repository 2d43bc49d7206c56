import type { NormalizerEvent } from '../streams.ts';
import { READER_THREAD_FROM, readHouseholdStatesInThread } from './checkpoint-reader.ts';
import type { Db } from './open-store.ts';

/**
 * Processing checkpoints: the inbox cursor, normalizer state per meter and detector state per household.
 * Saved together in one transaction so that they always describe the same point of the inbox.
 */
export class CheckpointRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      get: db.prepare('SELECT value FROM checkpoints WHERE name = ?').pluck(),
      set: db.prepare(
        'INSERT INTO checkpoints (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      ),
      meterState: db.prepare(
        'INSERT INTO meter_state (meter_id, state) VALUES (?, ?) ON CONFLICT(meter_id) DO UPDATE SET state = excluded.state',
      ),
      meterStateOf: db.prepare('SELECT state FROM meter_state WHERE meter_id = ?').pluck(),
      householdState: db.prepare(
        `INSERT INTO household_state (household_id, state) VALUES (?, ?)
         ON CONFLICT(household_id) DO UPDATE SET state = excluded.state`,
      ),
      householdStateOf: db.prepare('SELECT state FROM household_state WHERE household_id = ?').pluck(),
      event: db.prepare(
        'INSERT OR IGNORE INTO meter_events (meter_id, household_id, ts, kind, detail) VALUES (?, ?, ?, ?, ?)',
      ),
    };
  }

  cursor(): number {
    return Number(this.s.get.get('inbox-cursor') ?? 0);
  }

  setCursor(seq: number): void {
    this.s.set.run('inbox-cursor', String(seq));
  }

  saveMeterState(meterId: string, state: unknown): void {
    this.s.meterState.run(meterId, JSON.stringify(state));
  }

  /** Saves a household's detector state: binary as it is (a BLOB), anything else as JSON. */
  saveHouseholdState(householdId: string, state: unknown): void {
    this.s.householdState.run(householdId, state instanceof Uint8Array ? state : JSON.stringify(state));
  }

  /** One meter's checkpointed state (undefined: none): meter states are loaded when a meter is first heard from. */
  meterState(meterId: string): unknown {
    const state = this.s.meterStateOf.get(meterId) as string | undefined;
    return state === undefined ? undefined : (JSON.parse(state) as unknown);
  }

  /** Every household's detector state, one row at a time: a binary state as its bytes, older ones parsed. */
  *householdStates(): Generator<[string, unknown]> {
    const rows = this.db
      .prepare('SELECT household_id, state FROM household_state')
      .raw()
      .iterate() as Iterable<[string, string | Buffer]>;
    for (const [id, state] of rows)
      yield [id, typeof state === 'string' ? (JSON.parse(state) as unknown) : state];
  }

  /** The states of the given households that have one (each once). */
  *householdStatesOf(householdIds: readonly string[]): Generator<[string, unknown]> {
    const one = this.db.prepare('SELECT state FROM household_state WHERE household_id = ?').pluck();
    for (const id of new Set(householdIds)) {
      const state = one.get(id) as string | Buffer | undefined;
      if (state !== undefined) yield [id, typeof state === 'string' ? (JSON.parse(state) as unknown) : state];
    }
  }

  /** One household's detector state (undefined: none): a binary state as its bytes, an older one parsed. */
  householdState(householdId: string): unknown {
    const state = this.s.householdStateOf.get(householdId) as string | Buffer | undefined;
    return typeof state === 'string' ? (JSON.parse(state) as unknown) : state;
  }

  /** Whether a second thread reads the household states (many of them, in a file database). */
  manyHouseholdStates(): boolean {
    return (
      !this.db.memory &&
      this.db
        .prepare('SELECT 1 FROM household_state ORDER BY rowid LIMIT 1 OFFSET ?')
        .pluck()
        .get(READER_THREAD_FROM - 1) !== undefined
    );
  }

  /**
   * Every household's detector state, in batches: with many households (a file database) read by a second
   * thread while the caller restores the batches already read. Should the thread fail, every state is read
   * again here (restoring a household twice restores the same state).
   */
  async *householdStateBatches(): AsyncGenerator<Iterable<[string, unknown]>> {
    if (this.manyHouseholdStates()) {
      try {
        yield* readHouseholdStatesInThread(this.db.name);
        return;
      } catch {
        // Read on this thread instead.
      }
    }
    yield this.householdStates();
  }

  addMeterEvent(e: NormalizerEvent): void {
    this.s.event.run(e.meterId, e.householdId, e.ts, e.kind, JSON.stringify(e.detail));
  }

  meterEvents(meterId: string): NormalizerEvent[] {
    const rows = this.db
      .prepare(
        'SELECT meter_id, household_id, ts, kind, detail FROM meter_events WHERE meter_id = ? ORDER BY id',
      )
      .all(meterId) as { meter_id: string; household_id: string; ts: number; kind: string; detail: string }[];
    return rows.map((r) => ({
      meterId: r.meter_id,
      householdId: r.household_id,
      ts: r.ts,
      kind: r.kind as NormalizerEvent['kind'],
      detail: JSON.parse(r.detail) as NormalizerEvent['detail'],
    }));
  }
}
