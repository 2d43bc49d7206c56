import type { RegisterReading } from './calibration-data.ts';
import { hourlyObservations, quantile } from './usage-statistics.ts';

/**
 * Evidence for tuning the heavy-use rule, outside the service: how often candidate sustained-high rules
 * would open an alert on hourly series — the real DAIAD households, simulated ordinary households, and
 * simulated heavy-use and burst scenarios — counted the way the detectors count openings (an alert opens
 * when the condition becomes true; an unknown hour breaks the run; one opening per run).
 */
export interface HeavyCandidate {
  name: string;
  /** Consecutive hours that must each reach the bar. */
  hours: number;
  /** Liters per hour, or null to use only the baseline. */
  minLiters: number;
  /**
   * When set, the bar is also at least this multiple of the household's own 99th-percentile hour over the
   * previous 14 days (once 7 days are known): a household whose evenings are always busy gets a higher bar.
   */
  baselineMultiple?: number;
}

export const HEAVY_CANDIDATES: HeavyCandidate[] = [
  { name: 'documented default: 2 h ≥ 60 L', hours: 2, minLiters: 60 },
  { name: '3 h ≥ 60 L', hours: 3, minLiters: 60 },
  { name: 'careflow default: 2 h ≥ 120 L', hours: 2, minLiters: 120 },
  { name: '2 h ≥ max(60 L, 1.5 × own p99 hour)', hours: 2, minLiters: 60, baselineMultiple: 1.5 },
  { name: '3 h ≥ max(60 L, own p99 hour)', hours: 3, minLiters: 60, baselineMultiple: 1 },
];

const HOUR = 3_600_000;

/** Whether the candidate's condition holds at each hour (its window ends with that hour). */
export function heavyCondition(hourly: readonly (number | null)[], c: HeavyCandidate): boolean[] {
  const bars = barsOf(hourly, c);
  let run = 0;
  return hourly.map((v, i) => {
    run = v !== null && v >= bars[Math.floor(i / 24)]! ? run + 1 : 0;
    return run >= c.hours;
  });
}

/** How many alerts the candidate opens: each time its condition becomes true. */
export function heavyOpenings(hourly: readonly (number | null)[], c: HeavyCandidate): number {
  const cond = heavyCondition(hourly, c);
  return cond.filter((v, i) => v && !cond[i - 1]).length;
}

/** The bar for each day of the series: the fixed bar, raised by the household's baseline once it is known. */
function barsOf(hourly: readonly (number | null)[], c: HeavyCandidate): number[] {
  const days = Math.ceil(hourly.length / 24);
  return Array.from({ length: days }, (_, d) => {
    if (c.baselineMultiple === undefined) return c.minLiters;
    const past = hourly.slice(Math.max(0, (d - 14) * 24), d * 24).filter((v): v is number => v !== null);
    if (past.length < 7 * 24) return c.minLiters;
    return Math.max(c.minLiters, c.baselineMultiple * quantile(past, 0.99));
  });
}

/**
 * A household's register readings as a gap-free hourly series (null where no hourly observation exists),
 * starting at `firstHour` (local wall clock as if UTC).
 */
export function hourlySeries(readings: readonly RegisterReading[]): {
  firstHour: number;
  liters: (number | null)[];
} {
  const obs = hourlyObservations(readings);
  if (obs.length === 0) return { firstHour: 0, liters: [] };
  const first = obs[0]!.hour;
  const out: (number | null)[] = new Array<number | null>(
    Math.round((obs.at(-1)!.hour - first) / HOUR) + 1,
  ).fill(null);
  for (const o of obs) out[Math.round((o.hour - first) / HOUR)] = o.liters;
  return { firstHour: first, liters: out };
}

export interface WhatIfRow {
  candidate: string;
  /** Openings per household-month on ordinary use. */
  falsePerHouseholdMonth: number;
  households: number;
  /** Share of scenarios (heavy use, burst) the candidate opens on during the scenario. */
  recall: number | null;
}

/**
 * Every candidate over ordinary series (false openings per household-month) and scenario series (each with
 * the hours it runs, [fromHour, toHour)): a catch when the condition holds at an hour inside it, or up to
 * the candidate's window after.
 */
export function heavyWhatIf(
  ordinary: readonly (readonly (number | null)[])[],
  scenarios: readonly { hourly: readonly (number | null)[]; fromHour: number; toHour: number }[],
  candidates: readonly HeavyCandidate[] = HEAVY_CANDIDATES,
): WhatIfRow[] {
  const hours = ordinary.reduce((n, s) => n + s.filter((v) => v !== null).length, 0);
  return candidates.map((c) => {
    const opens = ordinary.reduce((n, s) => n + heavyOpenings(s, c), 0);
    const caught = scenarios.filter((s) => {
      const cond = heavyCondition(s.hourly, c);
      return cond.some((v, i) => v && i >= s.fromHour && i < s.toHour + c.hours);
    }).length;
    return {
      candidate: c.name,
      falsePerHouseholdMonth: opens / (hours / (30 * 24) || 1),
      households: ordinary.length,
      recall: scenarios.length > 0 ? caught / scenarios.length : null,
    };
  });
}
