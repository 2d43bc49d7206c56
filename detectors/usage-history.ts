import { FIRST_USE_AFTER_HOUR } from '../core/rules.ts';
import { bucketMl, HOUR_UNKNOWN, mod, NO_DAY, UNKNOWN_ML, type HouseholdState } from './household-state.ts';

/**
 * Each household's hourly use over its last days, one byte an hour: what learned peak windows and the
 * baseline are computed from. Codes are logarithmic (0 = no use, 254 ≈ 3,000 L, within ±2.2 % in
 * between; 255 = unknown), so 21 days fit in 504 bytes. An hour is known only when all its buckets are.
 */
const SCALE_LITERS = 0.05;
const STEPS_PER_DOUBLING = 16;
const MAX_CODE = 254;

/** Liters each code stands for. */
export const HOUR_LITERS: Float64Array = (() => {
  const t = new Float64Array(256);
  for (let code = 0; code <= MAX_CODE; code++)
    t[code] = SCALE_LITERS * (2 ** (code / STEPS_PER_DOUBLING) - 1);
  t[HOUR_UNKNOWN] = Number.NaN;
  return t;
})();

export function encodeHourLiters(liters: number): number {
  if (!(liters > 0)) return 0;
  return Math.min(MAX_CODE, Math.round(STEPS_PER_DOUBLING * Math.log2(1 + liters / SCALE_LITERS)));
}

/** Local day 0 (1970-01-01) was a Thursday; 0 = Sunday. */
export function dayOfWeek(day: number): number {
  return mod(day + 4, 7);
}

/**
 * Records the newest bucket (already pushed into the ring) into the hourly history. `day` is the local day
 * the bucket starts on, `endMinute` the local minute of day at which it ends.
 */
export function recordHour(s: HouseholdState, day: number, endMinute: number, bucketMinutes: number): void {
  const { c, i } = s;
  const days = c.historyDays;
  if (days === 0) return;
  const newest = c.historyDay[i]!;
  if (newest === NO_DAY || day > newest) {
    // Days nobody reported are unknown: clear the rows from the newest day held up to this one.
    const from = newest === NO_DAY ? day - days + 1 : Math.max(newest + 1, day - days + 1);
    for (let d = from; d <= day; d++) {
      const row = (i * days + mod(d, days)) * 24;
      c.history.fill(HOUR_UNKNOWN, row, row + 24);
    }
    c.historyDay[i] = day;
  } else if (day < newest) {
    return;
  }
  if (endMinute % 60 !== 0) return;
  const hour = (endMinute === 0 ? 24 : endMinute / 60) - 1;
  const perHour = 60 / bucketMinutes;
  let ml = 0;
  for (let k = 0; k < perHour; k++) {
    const v = bucketMl(s, k);
    if (v === UNKNOWN_ML) {
      ml = -1;
      break;
    }
    ml += v;
  }
  c.history[(i * days + mod(day, days)) * 24 + hour] = ml < 0 ? HOUR_UNKNOWN : encodeHourLiters(ml / 1000);
}

/**
 * Mean use per hour of day over the complete days (all 24 hours known) among the `days` local days before
 * `day`; `filter(day)` picks which days count. Returns the number of complete days used; `means` is left
 * untouched when there are none.
 */
export function hourlyMeans(
  s: HouseholdState,
  day: number,
  days: number,
  means: Float64Array,
  filter: (day: number) => boolean = () => true,
): number {
  const { c, i } = s;
  const held = c.historyDays;
  const newest = c.historyDay[i]!;
  if (held === 0 || newest === NO_DAY) return 0;
  let complete = 0;
  const sums = scratch;
  sums.fill(0);
  for (let d = day - days; d < day; d++) {
    if (d > newest || d <= newest - held || !filter(d)) continue;
    const row = (i * held + mod(d, held)) * 24;
    let whole = true;
    for (let h = 0; h < 24; h++) {
      if (c.history[row + h] === HOUR_UNKNOWN) {
        whole = false;
        break;
      }
    }
    if (!whole) continue;
    complete++;
    for (let h = 0; h < 24; h++) sums[h] = sums[h]! + HOUR_LITERS[c.history[row + h]!]!;
  }
  if (complete > 0) for (let h = 0; h < 24; h++) means[h] = sums[h]! / complete;
  return complete;
}

const scratch = new Float64Array(24);
const means = new Float64Array(24);

export interface LearnParams {
  peakHours: number;
  learnDays: number;
  minDays: number;
  learnFrom: 'first-use' | 'highest-mean';
  /** An hour with more than this is an hour the household used water in (`first-use`). */
  maxLiters: number;
  /**
   * Learn weekdays and weekend days apart: a Saturday's window from the recent Saturdays and Sundays, a
   * Monday's from the recent weekdays, each once `SAME_KIND_MIN_DAYS` (weekend) or `minDays` (weekdays)
   * such days are complete; until then from all days.
   */
  weekendApart?: boolean;
}

/** Saturday and Sunday. */
export function isWeekendDay(day: number): boolean {
  const dow = dayOfWeek(day);
  return dow === 0 || dow === 6;
}

/**
 * Complete weekend days needed before a weekend day is judged by the weekend days alone (two weekends); with
 * fewer, by all days. Weekdays need the rule's own `minDays`.
 */
export const SAME_KIND_MIN_DAYS = 4;

/** The days of the same kind as `day` (weekday or weekend day). */
export function sameKindAs(day: number): (d: number) => boolean {
  return isWeekendDay(day) ? isWeekendDay : (d) => !isWeekendDay(d);
}

/**
 * The household's learned peak for local day `day`: the start hour of its `peakHours`-hour window (wrapping
 * past midnight), learned from the complete days among the `learnDays` days before `day` (see
 * `computePeakStart`). -1 while fewer than `minDays` complete days exist or no water was used at all (the
 * fallback window applies). Cached per household for the day: recomputed daily.
 */
export function learnedPeakStart(s: HouseholdState, day: number, p: LearnParams): number {
  const { c, i } = s;
  const key =
    p.peakHours |
    (p.learnDays << 4) |
    (p.minDays << 9) |
    ((p.learnFrom === 'first-use' ? 1 : 0) << 14) |
    (usedCode(p.maxLiters) << 15) |
    ((p.weekendApart === true ? 1 : 0) << 23);
  if (c.peakDay[i] === day && c.peakKey[i] === key) return c.peakStart[i]!;
  const start = computePeakStart(s, day, p);
  c.peakDay[i] = day;
  c.peakKey[i] = key;
  c.peakStart[i] = start;
  return start;
}

/** How many complete days the learned peak of `day` is based on. */
export function completeDays(s: HouseholdState, day: number, learnDays: number): number {
  return hourlyMeans(s, day, learnDays, means);
}

/**
 * The learned peak start of `day`, computed afresh (no cache: safe for reports on any day).
 *
 * - `first-use`: the median over the complete days of the day's first hour from 04:00 on with more than
 *   `maxLiters` (the upper median for an even count): when the resident usually gets up. A median, so one
 *   late morning or a night-time burst does not move it; days without such an hour are left out.
 * - `highest-mean`: the window with the highest mean use; the earliest start wins a tie.
 */
export function computePeakStart(s: HouseholdState, day: number, p: LearnParams): number {
  if (p.weekendApart === true) {
    const minDays = isWeekendDay(day) ? Math.min(p.minDays, SAME_KIND_MIN_DAYS) : p.minDays;
    const own = startOf(s, day, p, minDays, sameKindAs(day));
    if (own >= 0) return own;
  }
  return startOf(s, day, p, p.minDays);
}

function startOf(
  s: HouseholdState,
  day: number,
  p: LearnParams,
  minDays: number,
  filter?: (day: number) => boolean,
): number {
  if (p.learnFrom === 'first-use') return firstUseStart(s, day, p, minDays, filter);
  const complete = hourlyMeans(s, day, p.learnDays, means, filter);
  if (complete < minDays) return -1;
  let best = -1;
  let bestSum = 0;
  for (let start = 0; start < 24; start++) {
    let sum = 0;
    for (let k = 0; k < p.peakHours; k++) sum += means[(start + k) % 24]!;
    if (sum > bestSum) {
      bestSum = sum;
      best = start;
    }
  }
  return best;
}

function firstUseStart(
  s: HouseholdState,
  day: number,
  p: LearnParams,
  minDays: number,
  filter?: (day: number) => boolean,
): number {
  const { c, i } = s;
  const held = c.historyDays;
  const newest = c.historyDay[i]!;
  if (held === 0 || newest === NO_DAY) return -1;
  const used = usedCode(p.maxLiters);
  let complete = 0;
  let n = 0;
  for (let d = day - p.learnDays; d < day; d++) {
    if (d > newest || d <= newest - held || filter?.(d) === false) continue;
    const row = (i * held + mod(d, held)) * 24;
    let first = -1;
    let whole = true;
    for (let h = 0; h < 24; h++) {
      const code = c.history[row + h]!;
      if (code === HOUR_UNKNOWN) {
        whole = false;
        break;
      }
      if (first < 0 && h >= FIRST_USE_AFTER_HOUR && code >= used) first = h;
    }
    if (!whole) continue;
    complete++;
    if (first >= 0) firsts[n++] = first;
  }
  if (complete < minDays || n === 0) return -1;
  const sorted = firsts.subarray(0, n).sort();
  return sorted[n >> 1]!;
}

const firsts = new Int8Array(32);

/**
 * The smallest history code that stands for more than `liters` (codes are monotonic in liters);
 * `HOUR_UNKNOWN` when none does, so no known hour counts.
 */
function usedCode(liters: number): number {
  let code = encodeHourLiters(liters);
  while (code < HOUR_UNKNOWN && !(HOUR_LITERS[code]! > liters)) code++;
  return code;
}

/** What an hour of `liters` reads back as from the history (for tests of the encoding). */
export function decodeForTest(liters: number): number {
  return HOUR_LITERS[encodeHourLiters(liters)]!;
}

/**
 * How usual water use is for a household: over the complete days among the `days` local days before `day`,
 * the share on which hours [startHour, startHour + hours) (wrapping within the day) used more than
 * `moreThanLiters` together. Days `skip` names (the household was marked away) are left out, and with
 * `only` the days it does not name. -1 while fewer than `minDays` complete days exist.
 */
export function usualShare(
  s: HouseholdState,
  day: number,
  days: number,
  minDays: number,
  startHour: number,
  hours: number,
  moreThanLiters: number,
  skip?: (day: number) => boolean,
  only?: (day: number) => boolean,
): number {
  const { c, i } = s;
  const held = c.historyDays;
  const newest = c.historyDay[i]!;
  if (held === 0 || newest === NO_DAY) return -1;
  let complete = 0;
  let used = 0;
  for (let d = day - days; d < day; d++) {
    if (d > newest || d <= newest - held || skip?.(d) === true || only?.(d) === false) continue;
    const row = (i * held + mod(d, held)) * 24;
    let whole = true;
    let liters = 0;
    for (let h = 0; h < 24; h++) {
      const code = c.history[row + h]!;
      if (code === HOUR_UNKNOWN) {
        whole = false;
        break;
      }
      if (mod(h - startHour, 24) < hours) liters += HOUR_LITERS[code]!;
    }
    if (!whole) continue;
    complete++;
    if (liters > moreThanLiters) used++;
  }
  return complete < minDays ? -1 : used / complete;
}
