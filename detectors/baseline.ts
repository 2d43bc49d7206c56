import type { LocalTime } from '../core/local-time.ts';
import { NO_DAY, type HouseholdState } from './household-state.ts';
import { dayOfWeek, hourlyMeans } from './usage-history.ts';

/**
 * A household's baseline: its typical use per hour of day, weekdays and weekend days apart — the mean over
 * the complete days among the last 21 (from the hourly history), known once 7 complete days exist. When
 * one kind of day has no complete day yet, the other kind's means stand in. Recomputed daily, cached per
 * household as 48 values of 1/32 L (Uint16).
 */
export const BASELINE_DAYS = 21;
export const BASELINE_MIN_DAYS = 7;
export const BASELINE_UNIT = 32;
export const BASELINE_NONE = 0xffff;
const MAX_STORED = 0xfffe;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const weekday = new Float64Array(24);
const weekend = new Float64Array(24);
const isWeekend = (day: number) => {
  const dow = dayOfWeek(day);
  return dow === 0 || dow === 6;
};
const isWeekday = (day: number) => !isWeekend(day);

/** The baseline for local day `day` (weekday hours 0–23, then weekend hours), or null while unknown. */
export function baselineFor(s: HouseholdState, day: number): Uint16Array | null {
  const { c, i } = s;
  if (!c.baseline || !c.baseDay) {
    c.baseline = new Uint16Array(c.size * 48).fill(BASELINE_NONE);
    c.baseDay = new Int32Array(c.size).fill(NO_DAY);
  }
  const values = c.baseline.subarray(i * 48, i * 48 + 48);
  if (c.baseDay[i] !== day) {
    c.baseDay[i] = day;
    computeBaseline(s, day, values);
  }
  return values[0] === BASELINE_NONE ? null : values;
}

/** Computes the baseline of `day` into `out` (48 values; all 0xffff while unknown), without the cache. */
export function computeBaseline(s: HouseholdState, day: number, out: Uint16Array): void {
  const days = hourlyMeans(s, day, BASELINE_DAYS, weekday, isWeekday);
  const ends = hourlyMeans(s, day, BASELINE_DAYS, weekend, isWeekend);
  if (days + ends < BASELINE_MIN_DAYS) {
    out.fill(BASELINE_NONE);
    return;
  }
  const wd = days > 0 ? weekday : weekend;
  const we = ends > 0 ? weekend : weekday;
  for (let h = 0; h < 24; h++) {
    out[h] = Math.min(MAX_STORED, Math.round(wd[h]! * BASELINE_UNIT));
    out[24 + h] = Math.min(MAX_STORED, Math.round(we[h]! * BASELINE_UNIT));
  }
}

/**
 * Typical liters for the window of `buckets` buckets starting at `windowStart` (each bucket counts its
 * share of its hour), from the baseline of local day `day`; null while the baseline is unknown.
 */
export function typicalLiters(
  s: HouseholdState,
  localTime: LocalTime,
  day: number,
  windowStart: number,
  buckets: number,
): number | null {
  const base = baselineFor(s, day);
  if (!base) return null;
  const bucketMs = localTime.bucketMs;
  const share = bucketMs / HOUR_MS;
  let local = localTime.toLocalMs(windowStart);
  let units = 0;
  for (let k = 0; k < buckets; k++, local += bucketMs) {
    const d = Math.floor(local / DAY_MS);
    const hour = Math.floor((local - d * DAY_MS) / HOUR_MS);
    units += base[(isWeekend(d) ? 24 : 0) + hour]!;
  }
  return Math.round(((units * share) / BASELINE_UNIT) * 1000) / 1000;
}
