import type { AwaySpan } from '../core/store/away-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { AwayLookup } from './step.ts';

/** The parts of the embedded store the away book reads: away spans and marks. */
export type AwayTables = Pick<Store, 'away'>;

/**
 * Who is away when, for the detectors: each household's away spans [from, until) from the store's history
 * (a span cleared early ends when it was cleared). A household marked away by `careflow import` alone
 * (`awayUntil` with no span) counts as away from the beginning until then. Backtests build the same book,
 * so they reproduce what the live detectors suppressed.
 */
export class AwayBook {
  private readonly spans = new Map<string, number[]>();

  /** Loads every span (at start, or for a backtest). */
  static load(store: AwayTables): AwayBook {
    const book = new AwayBook();
    book.refresh(store);
    return book;
  }

  /** Re-reads every household (the registry changed: `careflow import` may have set `awayUntil`). */
  refresh(store: AwayTables): void {
    this.spans.clear();
    const byHousehold = new Map<string, AwaySpan[]>();
    for (const s of store.away.all())
      byHousehold.set(s.householdId, [...(byHousehold.get(s.householdId) ?? []), s]);
    const marks = new Map(store.away.marks().map((m) => [m.householdId, m.until]));
    for (const id of new Set([...byHousehold.keys(), ...marks.keys()])) {
      this.put(id, byHousehold.get(id) ?? [], marks.get(id) ?? null);
    }
  }

  /** Re-reads one household after its away mark changed. */
  reload(store: AwayTables, householdId: string): void {
    this.put(householdId, store.away.ofHousehold(householdId), store.away.mark(householdId));
  }

  readonly lookup: AwayLookup = (householdId, from, to) => {
    const s = this.spans.get(householdId);
    if (s === undefined) return false;
    for (let k = 0; k < s.length; k += 2) if (s[k]! < to && from < s[k + 1]!) return true;
    return false;
  };

  /** The spans of a household as [from, until) pairs. */
  spansOf(householdId: string): [number, number][] {
    const s = this.spans.get(householdId) ?? [];
    const out: [number, number][] = [];
    for (let k = 0; k < s.length; k += 2) out.push([s[k]!, s[k + 1]!]);
    return out;
  }

  private put(householdId: string, spans: readonly AwaySpan[], mark: number | null): void {
    const flat: number[] = [];
    for (const s of spans) {
      const end = Math.min(s.until, s.clearedAt ?? s.until);
      if (end > s.from) flat.push(s.from, end);
    }
    const fromSpans = spans.some((s) => s.clearedAt === null && s.until === mark);
    if (mark !== null && !fromSpans) flat.push(0, mark);
    if (flat.length === 0) this.spans.delete(householdId);
    else this.spans.set(householdId, flat);
  }
}
