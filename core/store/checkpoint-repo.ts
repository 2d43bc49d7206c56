import type { NormalizerEvent } from '../streams.ts';
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
      householdState: db.prepare(
        `INSERT INTO household_state (household_id, state) VALUES (?, ?)
         ON CONFLICT(household_id) DO UPDATE SET state = excluded.state`,
      ),
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

  saveHouseholdState(householdId: string, state: unknown): void {
    this.s.householdState.run(householdId, JSON.stringify(state));
  }

  loadMeterStates(): Map<string, unknown> {
    const rows = this.db.prepare('SELECT meter_id, state FROM meter_state').all() as {
      meter_id: string;
      state: string;
    }[];
    return new Map(rows.map((r) => [r.meter_id, JSON.parse(r.state) as unknown]));
  }

  loadHouseholdStates(): Map<string, unknown> {
    const rows = this.db.prepare('SELECT household_id, state FROM household_state').all() as {
      household_id: string;
      state: string;
    }[];
    return new Map(rows.map((r) => [r.household_id, JSON.parse(r.state) as unknown]));
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
