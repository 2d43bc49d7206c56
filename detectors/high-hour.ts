import { HOUR_UNKNOWN, mod, NO_DAY, type HouseholdState } from './household-state.ts';
import { HOUR_LITERS } from './usage-history.ts';

/**
 * A household's own busiest hours: the 99th percentile of its known hourly use over the 14 local days
 * before today, from the hourly history (usage-history.ts). `heavy-use` with `relativeToHighHour` fires
 * only above a multiple of it: an hour a family reaches a few times a fortnight (five showers in an
 * evening) is its ordinary evening, not a tap left running.
 */
export const HIGH_HOUR_DAYS = 14;
/** Known hours needed before the percentile is used (a week's worth). */
export const HIGH_HOUR_MIN_HOURS = 7 * 24;
const QUANTILE = 0.99;

const counts = new Uint32Array(256);

/**
 * The last answer and what it was computed from. It is asked for every closed bucket, and a household's buckets
 * come in runs (a batch of readings); the days before `day` do not change while `day` and the newest day held
 * (not before `day`) stay the same (the history is written only from the newest day on), unless the slot's history is replaced
 * (`historyVersion`) or re-laid (another array).
 */
const last = {
  history: null as Uint8Array | null,
  version: -1,
  slot: -1,
  day: 0,
  newest: 0,
  value: null as number | null,
};

/** The household's 99th-percentile hour in liters over the days before `day`, or null while too few are known. */
export function highHourLiters(s: HouseholdState, day: number): number | null {
  const { c, i } = s;
  const days = c.historyDays;
  const newest = c.historyDay[i]!;
  if (days === 0) return null;
  if (
    last.history === c.history &&
    last.slot === i &&
    last.version === c.historyVersion &&
    last.day === day &&
    last.newest === newest
  )
    return last.value;
  const value = computeHighHour(s, day, days, newest);
  // Only when the rows read are all before the newest day held: that day's row may still be filling.
  if (newest === NO_DAY || newest < day) return value;
  last.history = c.history;
  last.slot = i;
  last.version = c.historyVersion;
  last.day = day;
  last.newest = newest;
  last.value = value;
  return value;
}

function computeHighHour(s: HouseholdState, day: number, days: number, newest: number): number | null {
  const { c, i } = s;
  counts.fill(0);
  let n = 0;
  for (let d = day - Math.min(HIGH_HOUR_DAYS, days - 1); d < day; d++) {
    if (d > newest || newest - d >= days) continue; // not held
    const row = (i * days + mod(d, days)) * 24;
    for (let h = 0; h < 24; h++) {
      const code = c.history[row + h]!;
      if (code === HOUR_UNKNOWN) continue;
      counts[code]!++;
      n++;
    }
  }
  if (n < HIGH_HOUR_MIN_HOURS) return null;
  // Linear between the two codes around the quantile's position, as a sorted list would give it.
  const pos = (n - 1) * QUANTILE;
  const lo = codeAt(Math.floor(pos));
  const hi = codeAt(Math.ceil(pos));
  const frac = pos - Math.floor(pos);
  return HOUR_LITERS[lo]! + (HOUR_LITERS[hi]! - HOUR_LITERS[lo]!) * frac;
}

/** The code at rank `k` (0-based) of the counted hours. */
function codeAt(k: number): number {
  let seen = 0;
  for (let code = 0; code < 255; code++) {
    seen += counts[code]!;
    if (seen > k) return code;
  }
  return 254;
}

/** The bar per bucket a `sustained-high` rule opens at today: its own, or the household-relative one if higher. */
export function relativeBar(
  s: HouseholdState,
  p: { minLitersPerBucket: number; relativeToHighHour: number | null },
  day: number,
  bucketMinutes: number,
): number {
  if (p.relativeToHighHour === null) return p.minLitersPerBucket;
  const high = highHourLiters(s, day);
  if (high === null) return p.minLitersPerBucket;
  return Math.max(p.minLitersPerBucket, (p.relativeToHighHour * high * bucketMinutes) / 60);
}
