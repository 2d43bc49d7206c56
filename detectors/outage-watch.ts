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

/** An outage a grid is in. */
export interface Outage {
  /** When the meters stopped (the median last arrival of the quiet ones). */
  from: number;
  meters: number;
}

/** What one engine sees of a grid at a tick: its reporting meters, and when each of its quiet ones stopped. */
export interface GridShare {
  reporting: number;
  /** Last arrivals of the meters quiet for longer than twice their usual interval. */
  quiet: number[];
}

/**
 * When a grid's households are spread over several engines (a cluster's partitions), each engine sees only its
 * share of the grid: the shares of the others, and which engine decides the grid's outages, come from here.
 * Without it (one process) the engine sees whole grids and decides them all.
 */
export interface GridShares {
  /** The other engines' shares of the grid, summed; undefined: none. */
  others(grid: string): GridShare | undefined;
  /** Grids other engines hold shares of (a grid none of this engine's households is in may be this one's to decide). */
  grids(): Iterable<string>;
  /** Whether this engine decides the grid's outages (`hasLocal`: it holds households of the grid). */
  decides(grid: string, hasLocal: boolean): boolean;
  /** The outage the grid's deciding engine has found, for a grid this one does not decide; undefined: none. */
  decided(grid: string): Outage | undefined;
  /** This engine's shares at this tick, and the outages it decides (null: none), to be shared with the others. */
  record(shares: ReadonlyMap<string, GridShare>, decisions: ReadonlyMap<string, Outage | null>): void;
}

/**
 * Watches, on every clock tick, how many meters of each grid have gone quiet — for longer than twice their
 * usual interval (at least 30 minutes, and before any of them is `meter-silent`) — and when they stopped.
 * Pure bookkeeping over the households' states; an outage is re-derived from them after a restart (same key,
 * so the notifier does not open it twice). An engine holding only a share of each grid (a cluster partition)
 * is given the other shares (`GridShares`): one engine decides each grid on the sum, the others follow it.
 */
export class OutageWatch {
  private readonly active = new Map<string, Outage>();

  constructor(
    private readonly params: OutageParams,
    /** The household's grid (null: none); `slot` is the engine's slot of the household, when known. */
    private readonly gridOf: (householdId: string, slot?: number) => string | null,
    /** The rest of each grid, when this engine holds only a share of its households (cluster partitions). */
    private readonly shares?: GridShares,
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
    if (!this.shares) {
      this.decideGrids(now, perGrid, rulesVersion, out, within);
      return;
    }
    const mine = this.withOtherShares(perGrid, this.shares);
    this.decideGrids(now, perGrid, rulesVersion, out, within);
    const decisions = new Map<string, Outage | null>();
    for (const grid of perGrid.keys()) decisions.set(grid, this.active.get(grid) ?? null);
    this.shares.record(mine, decisions);
  }

  /**
   * Leaves in `perGrid` the grids this engine decides, each summed with the other engines' shares; takes the
   * other grids' outages as their deciding engines found them. Returns this engine's own shares.
   */
  private withOtherShares(
    perGrid: Map<string, { reporting: number; quiet: number[] }>,
    shares: GridShares,
  ): Map<string, GridShare> {
    const mine = new Map<string, GridShare>();
    for (const [grid, g] of perGrid) mine.set(grid, { reporting: g.reporting, quiet: [...g.quiet] });
    for (const grid of shares.grids()) if (!perGrid.has(grid)) perGrid.set(grid, { reporting: 0, quiet: [] });
    for (const [grid, g] of perGrid) {
      if (!shares.decides(grid, mine.has(grid))) {
        // Another engine decides this grid: its finding keeps this engine's silences it explains quiet.
        const o = shares.decided(grid);
        if (o) this.active.set(grid, o);
        else this.active.delete(grid);
        perGrid.delete(grid);
        continue;
      }
      // An outage found before this engine took the grid's decisions over is still the grid's (raised once).
      const found = this.active.has(grid) ? undefined : shares.decided(grid);
      if (found) this.active.set(grid, found);
      const rest = shares.others(grid);
      if (rest) {
        g.reporting += rest.reporting;
        for (const t of rest.quiet) g.quiet.push(t);
      }
    }
    for (const grid of [...this.active.keys()])
      if (!perGrid.has(grid) && !mine.has(grid)) this.active.delete(grid);
    return mine;
  }

  /** Opens and clears outages of the grids given whole (reporting meters, and their quiet meters' stops). */
  private decideGrids(
    now: number,
    perGrid: Map<string, { reporting: number; quiet: number[] }>,
    rulesVersion: number,
    out: Detection[],
    within: number,
  ): void {
    const p = this.params;
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
