import type { RegisterReading } from './calibration-data.ts';

/**
 * Shape statistics of hourly household water use, computed the same way for the real DAIAD households and
 * for simulated ones (both go through a cumulative register read about hourly), so that the two compare.
 *
 * An hourly observation is the register difference between two consecutive readings 45–75 minutes apart,
 * attributed to the local hour containing the interval's midpoint. Longer intervals are gaps (not zero);
 * negative differences and rises above 3,000 L/h are glitches (DAIAD's ±248,520 L jumps) and are dropped.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIN_INTERVAL = 0.75 * HOUR;
const MAX_INTERVAL = 1.25 * HOUR;
const MAX_LITERS_PER_HOUR = 3_000;
/** Night hours for the night share and night minimum: 01:00–05:00, asleep in Spain and in China. */
const NIGHT_HOURS = [1, 2, 3, 4];
const HEAVY_LITERS = 60;
/** A household whose median complete day is below this is (nearly) empty: a second home, a vacant flat. */
const VACANT_BELOW_LITERS = 30;
/** A complete day below this share of the household's median day is a day away. */
const AWAY_BELOW_SHARE = 0.2;

export interface HourlyObservation {
  /** Local wall-clock start of the hour, as if UTC. */
  hour: number;
  liters: number;
}

export interface UsageStatistics {
  households: number;
  hours: number;
  completeDays: number;
  /** Complete-day totals (liters): 10th, 25th, 50th, 75th, 90th percentile. */
  dailyQuantiles: [number, number, number, number, number];
  /** Median over households (≥ 7 complete days) of the coefficient of variation of their daily totals. */
  dayToDayCv: number;
  /** Per-household mean daily use: 10th, 50th, 90th percentile. */
  householdDailyQuantiles: [number, number, number];
  /** Share of observed hours with no use (< 0.5 L; the meters count whole liters). */
  zeroHourShare: number;
  /** Share of each local hour of the day in total use (24 values summing to 1). */
  hourProfile: number[];
  /** Share of daily use drawn 01:00–05:00. */
  nightShare: number;
  /** Highest hour of the profile relative to the mean hour (24 × its share). */
  peakToMean: number;
  /** Share of complete days whose lowest night hour (01:00–05:00) is zero. */
  dryNightShare: number;
  /** 90th percentile of the lowest night hour (liters). */
  nightMinimumP90: number;
  /** Adjacent hour pairs both ≥ 60 L (what the default heavy-use rule fires on), per household-day. */
  heavyPairsPerDay: number;
  heavyPairs: number;
  /** Share of households with at least one such pair. */
  heavyHouseholdShare: number;
  /** Share of complete days under 10 L (what low-use fires on). */
  lowDayShare: number;
  /** Share of households with a run of 24 hours each ≥ 1 L (what continuous-flow fires on). */
  continuousFlowHouseholdShare: number;
  /** Households left out as (nearly) empty: median complete day under 30 L. */
  vacantShare: number;
  /** Complete days of occupied households left out as away (under 20 % of the household's median day). */
  awayDayShare: number;
}

/** The hourly observations of one household's register readings (sorted by time). */
export function hourlyObservations(readings: readonly RegisterReading[]): HourlyObservation[] {
  const out: HourlyObservation[] = [];
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1]!;
    const b = readings[i]!;
    const dt = b.localMs - a.localMs;
    if (dt < MIN_INTERVAL || dt > MAX_INTERVAL) continue;
    const liters = b.totalLiters - a.totalLiters;
    if (liters < 0 || liters > (MAX_LITERS_PER_HOUR * dt) / HOUR) continue;
    const mid = a.localMs + dt / 2;
    out.push({ hour: mid - (mid % HOUR), liters });
  }
  // Two intervals can land in one hour when readings drift; keep the first.
  return out.filter((o, i) => i === 0 || o.hour !== out[i - 1]!.hour);
}

export function usageStatistics(households: readonly (readonly RegisterReading[])[]): UsageStatistics {
  const dailyTotals: number[] = [];
  const householdMeans: number[] = [];
  const cvs: number[] = [];
  const nightMinimums: number[] = [];
  const byHour = new Array<number>(24).fill(0);
  let hours = 0;
  let zeroHours = 0;
  let heavyPairs = 0;
  let heavyHouseholds = 0;
  let flowHouseholds = 0;
  let householdDays = 0;
  let counted = 0;
  let vacant = 0;
  let awayDays = 0;
  let observedDays = 0;
  for (const readings of households) {
    const all = hourlyObservations(readings);
    if (all.length === 0) continue;
    const allDays = groupByDay(all);
    const completeTotals = [...allDays.values()].filter((l) => l.length === 24).map(sumLiters);
    const median = quantile(completeTotals, 0.5);
    if (completeTotals.length > 0 && median < VACANT_BELOW_LITERS) {
      vacant++;
      continue;
    }
    const away = new Set(
      [...allDays]
        .filter(([, l]) => l.length === 24 && sumLiters(l) < AWAY_BELOW_SHARE * median)
        .map(([d]) => d),
    );
    awayDays += away.size;
    observedDays += completeTotals.length;
    const obs = all.filter((o) => !away.has(dayOf(o.hour)));
    counted++;
    hours += obs.length;
    householdDays += obs.length / 24;
    let pairs = 0;
    let run = 0;
    let longestRun = 0;
    obs.forEach((o, i) => {
      if (o.liters < 0.5) zeroHours++;
      byHour[hourOf(o.hour)]! += o.liters;
      const prev = obs[i - 1];
      const adjacent = prev !== undefined && o.hour - prev.hour === HOUR;
      if (adjacent && prev.liters >= HEAVY_LITERS && o.liters >= HEAVY_LITERS) pairs++;
      run = o.liters >= 1 ? (adjacent ? run + 1 : 1) : 0;
      longestRun = Math.max(longestRun, run);
    });
    heavyPairs += pairs;
    if (pairs > 0) heavyHouseholds++;
    if (longestRun >= 24) flowHouseholds++;
    const totals: number[] = [];
    for (const list of groupByDay(obs).values()) {
      if (list.length !== 24) continue;
      totals.push(sumLiters(list));
      nightMinimums.push(
        Math.min(...list.filter((o) => NIGHT_HOURS.includes(hourOf(o.hour))).map((o) => o.liters)),
      );
    }
    dailyTotals.push(...totals);
    if (totals.length > 0) householdMeans.push(mean(totals));
    if (totals.length >= 7 && mean(totals) > 0) cvs.push(stdev(totals) / mean(totals));
  }
  const total = byHour.reduce((a, b) => a + b, 0) || 1;
  const hourProfile = byHour.map((v) => v / total);
  return {
    households: counted,
    hours,
    completeDays: dailyTotals.length,
    dailyQuantiles: [0.1, 0.25, 0.5, 0.75, 0.9].map((q) =>
      quantile(dailyTotals, q),
    ) as UsageStatistics['dailyQuantiles'],
    dayToDayCv: quantile(cvs, 0.5),
    householdDailyQuantiles: [0.1, 0.5, 0.9].map((q) => quantile(householdMeans, q)) as [
      number,
      number,
      number,
    ],
    zeroHourShare: zeroHours / (hours || 1),
    hourProfile,
    nightShare: NIGHT_HOURS.reduce((s, h) => s + hourProfile[h]!, 0),
    peakToMean: Math.max(...hourProfile) * 24,
    dryNightShare: nightMinimums.filter((v) => v < 0.5).length / (nightMinimums.length || 1),
    nightMinimumP90: quantile(nightMinimums, 0.9),
    heavyPairsPerDay: heavyPairs / (householdDays || 1),
    heavyPairs,
    heavyHouseholdShare: heavyHouseholds / (counted || 1),
    lowDayShare: dailyTotals.filter((t) => t < 10).length / (dailyTotals.length || 1),
    continuousFlowHouseholdShare: flowHouseholds / (counted || 1),
    vacantShare: vacant / (counted + vacant || 1),
    awayDayShare: awayDays / (observedDays || 1),
  };
}

/**
 * Pearson correlation of two 24-hour profiles after shifting `b` by the lag (−4…+4 h) that fits best:
 * schedules in Spain run later than in China, so the *shape* is compared, not the clock position.
 */
export function bestLagCorrelation(
  a: readonly number[],
  b: readonly number[],
): { r: number; lagHours: number } {
  let best = { r: -Infinity, lagHours: 0 };
  for (let lag = -4; lag <= 4; lag++) {
    const shifted = a.map((_, h) => b[(((h + lag) % 24) + 24) % 24]!);
    const r = pearson(a, shifted);
    if (r > best.r) best = { r, lagHours: lag };
  }
  return best;
}

function groupByDay(obs: readonly HourlyObservation[]): Map<number, HourlyObservation[]> {
  const days = new Map<number, HourlyObservation[]>();
  for (const o of obs) {
    const day = dayOf(o.hour);
    const list = days.get(day);
    if (list) list.push(o);
    else days.set(day, [o]);
  }
  return days;
}

function sumLiters(list: readonly HourlyObservation[]): number {
  return list.reduce((s, o) => s + o.liters, 0);
}

function dayOf(localMs: number): number {
  return Math.floor(localMs / DAY);
}

function hourOf(localMs: number): number {
  return Math.floor((((localMs % DAY) + DAY) % DAY) / HOUR);
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function stdev(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  a.forEach((x, i) => {
    num += (x - ma) * (b[i]! - mb);
    da += (x - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  });
  return num / Math.sqrt(da * db || 1);
}
