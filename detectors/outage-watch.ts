import { OUTAGE_RULE_ID, outageHouseholdId } from '../core/alerts.ts';
import type { Detection } from '../core/streams.ts';
import type { HouseholdState } from './household-state.ts';

/** When many meters of one grid stop together, it is an outage (network, gateway, power), not many silences. */
export interface OutageParams {
  /** At least this many meters… (0: off) */
  minMeters: number;
  /** …and this share of the grid's reporting meters… */
  minShare: number;
  /** …went quiet within this long of each other. */
  withinMinutes: number;
}

const MIN_QUIET_MS = 30 * 60_000;

/**
 * How long a meter with a known usual interval must be quiet to count: twice its interval, but never past
 * `meter-silent`'s own wait (1.25 ×, at least 6 h), so that an outage is found before its silences.
 */
function quietAfterMs(usualMs: number): number {
  return Math.max(MIN_QUIET_MS, Math.min(2 * usualMs, 1.1 * usualMs + MIN_QUIET_MS));
}

interface Outage {
  /** When the meters stopped (the median last arrival of the quiet ones). */
  from: number;
  meters: number;
}

/**
 * Watches, on every clock tick, how many meters of each grid have gone quiet — for longer than twice their
 * usual interval (at least 30 minutes, and before any of them is `meter-silent`) — and when they stopped.
 * Pure bookkeeping over the households' states; an outage is re-derived from them after a restart (same key,
 * so the notifier does not open it twice).
 */
export class OutageWatch {
  private readonly active = new Map<string, Outage>();

  constructor(
    private readonly params: OutageParams,
    /** The household's grid (null: none); `slot` is the engine's slot of the household, when known. */
    private readonly gridOf: (householdId: string, slot?: number) => string | null,
  ) {}

  /** Which grids are in an outage now, and the detections of outages that began or ended. */
  check(
    now: number,
    households: Iterable<[string, HouseholdState, number]>,
    rulesVersion: number,
    out: Detection[],
  ): void {
    const p = this.params;
    if (p.minMeters <= 0) return;
    const within = p.withinMinutes * 60_000;
    const perGrid = new Map<string, { reporting: number; quiet: number[] }>();
    for (const [hid, s, slot] of households) {
      const last = s.lastReceivedAt;
      if (last === null) continue;
      const grid = this.gridOf(hid, slot);
      if (grid === null) continue;
      let g = perGrid.get(grid);
      if (!g) perGrid.set(grid, (g = { reporting: 0, quiet: [] }));
      g.reporting++;
      // A meter whose schedule is not known yet (it has sent once) does not count as quiet.
      const usual = s.usualIntervalMs;
      if (usual !== null && now - last > quietAfterMs(usual)) g.quiet.push(last);
    }
    for (const [grid, g] of perGrid) {
      const current = this.active.get(grid);
      // The largest set of quiet meters that stopped within `within` of each other.
      const q = g.quiet.sort((a, b) => a - b);
      let best = 0;
      let bestFrom = 0;
      for (let i = 0, j = 0; j < q.length; j++) {
        while (q[j]! - q[i]! > within) i++;
        if (j - i + 1 > best) {
          best = j - i + 1;
          bestFrom = q[i + ((j - i) >> 1)]!;
        }
      }
      if (!current) {
        if (best >= p.minMeters && best >= p.minShare * g.reporting) {
          const o = { from: bestFrom, meters: best };
          this.active.set(grid, o);
          out.push(this.detection(grid, o, 'opened', now, g.reporting, rulesVersion));
        }
        continue;
      }
      // Over once most of the meters that stopped together report again.
      const stillQuiet = q.filter((t) => Math.abs(t - current.from) <= within).length;
      if (stillQuiet < Math.max(1, Math.ceil(current.meters / 5))) {
        this.active.delete(grid);
        out.push(this.detection(grid, current, 'cleared', now, g.reporting, rulesVersion, stillQuiet));
      }
    }
  }

  /** Whether an outage of the household's grid explains a silence that began at `lastReadingAt`. */
  explains(householdId: string, lastReadingAt: number): boolean {
    if (this.active.size === 0) return false;
    const grid = this.gridOf(householdId);
    const o = grid === null ? undefined : this.active.get(grid);
    return o !== undefined && Math.abs(lastReadingAt - o.from) <= this.params.withinMinutes * 60_000;
  }

  private detection(
    grid: string,
    o: Outage,
    kind: 'opened' | 'cleared',
    now: number,
    reporting: number,
    rulesVersion: number,
    stillQuiet?: number,
  ): Detection {
    const householdId = outageHouseholdId(grid);
    const at = kind === 'opened' ? o.from : now;
    return {
      key: `${householdId}|${OUTAGE_RULE_ID}|${kind}|${at}`,
      householdId,
      ruleId: OUTAGE_RULE_ID,
      ruleType: 'silent',
      kind,
      at,
      evidence: {
        windowStart: o.from,
        windowEnd: now,
        thresholds: {
          grid,
          meters: o.meters,
          reportingMeters: reporting,
          minMeters: this.params.minMeters,
          minShare: this.params.minShare,
          withinMinutes: this.params.withinMinutes,
          ...(stillQuiet === undefined ? {} : { stillQuiet }),
        },
        ruleVersion: rulesVersion,
        lastReadingAt: o.from,
      },
      severity: 'warning',
      audience: 'maintenance',
      autoResolve: true,
    };
  }
}
