import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { OUTAGE_RULE_ID } from '../core/alerts.ts';
import type { Detection } from '../core/streams.ts';
import { DetectorEngine } from './detector-engine.ts';
import { OutageWatch, type GridShare, type GridShares, type Outage } from './outage-watch.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { ruleNeeds } from './validate-rules.ts';

/**
 * A grid whose households are split over two engines (as a cluster's partitions split them): 16 of its 20
 * meters stop together, 8 in each engine. Either engine alone sees 8 quiet meters, fewer than the 10 an outage
 * needs, and would page every silence; sharing what each sees, one of them finds the outage once and both keep
 * the silences it explains quiet — what one engine holding the whole grid does.
 */
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5);
const rules = DEFAULT_RULES.filter((r) => r.id === 'meter-silent');
const params = { minMeters: 10, minShare: 0.3, withinMinutes: 60 };
const grid = (hid: string) => (hid.startsWith('x') ? 'gx' : 'g');

/** Two engines' shares, as the cluster's tables hold them (written at once here). */
class Board {
  readonly shares = new Map<string, Map<number, GridShare>>();
  readonly outages = new Map<string, Outage>();
  view(partition: number): GridShares {
    return {
      others: (g) => {
        let sum: GridShare | undefined;
        for (const [p, s] of this.shares.get(g) ?? []) {
          if (p === partition) continue;
          sum ??= { reporting: 0, quiet: [] };
          sum.reporting += s.reporting;
          sum.quiet.push(...s.quiet);
        }
        return sum;
      },
      grids: () => this.shares.keys(),
      decides: (g, hasLocal) => {
        const others = [...(this.shares.get(g)?.keys() ?? [])].filter((p) => p !== partition);
        return Math.min(hasLocal ? partition : Infinity, ...others) === partition;
      },
      decided: (g) => this.outages.get(g),
      record: (mine, decisions) => {
        for (const [g, s] of mine) {
          if (!this.shares.has(g)) this.shares.set(g, new Map());
          this.shares.get(g)!.set(partition, s);
        }
        for (const [g, o] of decisions) {
          if (o) this.outages.set(g, o);
          else this.outages.delete(g);
        }
      },
    };
  }
}

function engines(shared: boolean): {
  apply: (hid: string, at: number) => void;
  tick: (at: number) => void;
  /** The deciding engine is replaced by a new one restored from its checkpoint (a partition taken over). */
  takeOver: () => void;
  out: Detection[];
} {
  const localTime = new LocalTime('Asia/Shanghai', 60);
  const board = new Board();
  const engine = (p: number) => {
    const e = new DetectorEngine(localTime, () => rules, ruleNeeds(rules));
    e.setOutageWatch(new OutageWatch(params, grid, shared ? board.view(p) : undefined));
    return e;
  };
  const parts = [engine(0), engine(1)];
  const out: Detection[] = [];
  // Households h0–h9 and x0 in the first engine, h10–h19 in the second.
  const of = (hid: string) => (hid.startsWith('x') || Number(hid.slice(1)) < 10 ? parts[0]! : parts[1]!);
  return {
    apply: (hid, at) =>
      out.push(
        ...of(hid).apply({ kind: 'reading', householdId: hid, meterId: `m-${hid}`, ts: at, receivedAt: at }),
      ),
    tick: (at) => {
      for (const e of parts) out.push(...e.apply({ kind: 'tick', now: at }));
    },
    takeOver: () => {
      const states: [string, unknown][] = [];
      parts[0]!.drainDirty((hid, state) => states.push([hid, state]));
      parts[0] = engine(0);
      parts[0].load(states);
    },
    out,
  };
}

function run(shared: boolean, takeOverAt?: number): Detection[] {
  const all = [...Array.from({ length: 20 }, (_, i) => `h${i}`), 'x0'];
  const stopping = new Set([...all.slice(0, 8), ...all.slice(10, 18), 'x0']);
  const e = engines(shared);
  for (let t = T0; t < T0 + 30 * HOUR; t += 15 * 60_000) {
    if (t === takeOverAt) e.takeOver();
    e.tick(t);
    if (t % HOUR !== 0) continue;
    // Ten hours of hourly readings from everyone; then 16 of the grid's meters (and x0, alone) stop for 12 hours.
    const stopped = t >= T0 + 10 * HOUR && t < T0 + 22 * HOUR;
    for (const hid of all) if (!stopped || !stopping.has(hid)) e.apply(hid, t);
  }
  return e.out;
}

const opened = (ds: Detection[], rule: string) => ds.filter((d) => d.kind === 'opened' && d.ruleId === rule);

describe('the outage watch over a grid split between engines', () => {
  it('finds the outage once, on the sum of both shares, and keeps the silences it explains quiet', () => {
    const ds = run(true);
    const outages = opened(ds, OUTAGE_RULE_ID);
    expect(outages).toHaveLength(1);
    expect(outages[0]!.evidence.thresholds).toMatchObject({ grid: 'g', meters: 16, reportingMeters: 20 });
    expect(outages[0]!.at).toBe(T0 + 9 * HOUR);
    // No silence of the grid's meters, from either engine; the meter alone in its grid is paged.
    expect(opened(ds, 'meter-silent').map((d) => d.householdId)).toEqual(['x0']);
    // Over once the meters are back: cleared once.
    expect(ds.filter((d) => d.kind === 'cleared' && d.ruleId === OUTAGE_RULE_ID)).toHaveLength(1);
  });

  it('raises it once when the deciding engine is taken over during the outage, and clears it once', () => {
    const ds = run(true, T0 + 16 * HOUR);
    expect(opened(ds, OUTAGE_RULE_ID)).toHaveLength(1);
    expect(opened(ds, 'meter-silent').map((d) => d.householdId)).toEqual(['x0']);
    expect(ds.filter((d) => d.kind === 'cleared' && d.ruleId === OUTAGE_RULE_ID)).toHaveLength(1);
  });

  it('without the shares, neither engine sees enough of the grid: sixteen silences instead', () => {
    const ds = run(false);
    expect(opened(ds, OUTAGE_RULE_ID)).toHaveLength(0);
    expect(opened(ds, 'meter-silent')).toHaveLength(17);
  });
});
