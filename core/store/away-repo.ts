import type { Db } from './open-store.ts';

/** A household marked away: welfare rules keep quiet over [from, until) (until ends early if cleared). */
export interface AwaySpan {
  id: number;
  householdId: string;
  from: number;
  until: number;
  reason: string | null;
  setBy: string;
  setAt: number;
  clearedAt: number | null;
  clearedBy: string | null;
}

interface AwayRow {
  id: number;
  household_id: string;
  from_at: number;
  until: number;
  reason: string | null;
  set_by: string;
  set_at: number;
  cleared_at: number | null;
  cleared_by: string | null;
}

/**
 * Away periods, kept (never deleted) so that backtests see who was away when, as the live detectors did.
 * `households.away_until` shows the current mark; this table is its history.
 */
export class AwayRepo {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      add: db.prepare(
        `INSERT INTO away_periods (household_id, from_at, until, reason, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      clear: db.prepare(
        'UPDATE away_periods SET cleared_at = ?, cleared_by = ? WHERE id = ? AND cleared_at IS NULL',
      ),
      current: db.prepare(
        `SELECT * FROM away_periods WHERE household_id = ? AND cleared_at IS NULL AND until > ?
         ORDER BY id DESC LIMIT 1`,
      ),
      ofHousehold: db.prepare('SELECT * FROM away_periods WHERE household_id = ? ORDER BY from_at, id'),
      all: db.prepare('SELECT * FROM away_periods ORDER BY household_id, from_at, id'),
      marks: db.prepare('SELECT id, away_until FROM households WHERE away_until IS NOT NULL'),
      mark: db.prepare('SELECT away_until FROM households WHERE id = ?').pluck(),
    };
  }

  add(span: Omit<AwaySpan, 'id' | 'clearedAt' | 'clearedBy'>): number {
    return Number(
      this.s.add.run(span.householdId, span.from, span.until, span.reason, span.setBy, span.setAt)
        .lastInsertRowid,
    );
  }

  /** Ends a span early (cleared, or replaced by a new mark). */
  clear(id: number, at: number, by: string): void {
    this.s.clear.run(at, by, id);
  }

  /** The mark in force at `now`, if any. */
  current(householdId: string, now: number): AwaySpan | undefined {
    const row = this.s.current.get(householdId, now) as AwayRow | undefined;
    return row && toSpan(row);
  }

  ofHousehold(householdId: string): AwaySpan[] {
    return (this.s.ofHousehold.all(householdId) as AwayRow[]).map(toSpan);
  }

  /** `households.away_until` of every household marked away (some set by `careflow import`). */
  marks(): { householdId: string; until: number }[] {
    return (this.s.marks.all() as { id: string; away_until: number }[]).map((r) => ({
      householdId: r.id,
      until: r.away_until,
    }));
  }

  mark(householdId: string): number | null {
    return (this.s.mark.get(householdId) as number | null | undefined) ?? null;
  }

  all(): AwaySpan[] {
    return (this.s.all.all() as AwayRow[]).map(toSpan);
  }
}

function toSpan(r: AwayRow): AwaySpan {
  return {
    id: r.id,
    householdId: r.household_id,
    from: r.from_at,
    until: r.until,
    reason: r.reason,
    setBy: r.set_by,
    setAt: r.set_at,
    clearedAt: r.cleared_at,
    clearedBy: r.cleared_by,
  };
}
