/**
 * Evidence for tuning how the zero-at-peak rule learns a household's peak window: on hourly series of
 * households at home, how many days a candidate window would find dry (≤ 1 L over its 3 hours) — each
 * such day is a `no-water-at-peak` alert for a resident who is fine. Candidates: the fixed 06:00–09:00
 * window, the learned window of the highest mean use (docs/detectors.md), the window used on the most
 * days (the hours the household almost never skips), and the 3 hours from the household's usual first use
 * of the morning (when it gets up: careflow's default, `learnFrom: first-use`).
 */
export interface PeakCandidateRow {
  candidate: string;
  /** Dry-window days per household-month (a false alarm each, for a household at home). */
  alarmsPerHouseholdMonth: number;
}

type Learner = 'fixed' | 'mean' | 'reliable' | 'waking';

const CANDIDATES: { name: string; learner: Learner }[] = [
  { name: 'fixed 06:00–09:00', learner: 'fixed' },
  { name: 'learned: highest mean use (documented default)', learner: 'mean' },
  { name: 'learned: used on the most days', learner: 'reliable' },
  { name: 'learned: 3 h from the usual first use after 04:00 (careflow default)', learner: 'waking' },
];

const PEAK_HOURS = 3;
const LEARN_DAYS = 21;
const MIN_DAYS = 7;
const MAX_LITERS = 1;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Every candidate over households given as hourly series (`firstHour`: local wall clock of the first value,
 * as if UTC); `skipDay` leaves out days that are not "at home" (absences), which the caller decides.
 */
export function peakWhatIf(
  households: readonly { firstHour: number; liters: readonly (number | null)[] }[],
  skipDay: (household: number, day: readonly (number | null)[]) => boolean = () => false,
): PeakCandidateRow[] {
  const alarms = new Map<Learner, number>(CANDIDATES.map((c) => [c.learner, 0]));
  let days = 0;
  households.forEach((h, index) => {
    const pad = Math.round((((h.firstHour % DAY) + DAY) % DAY) / HOUR);
    const series = [...new Array<number | null>(pad).fill(null), ...h.liters];
    const byDay: (number | null)[][] = [];
    for (let i = 0; i < series.length; i += 24) byDay.push(series.slice(i, i + 24));
    const complete = byDay.map((d) => d.length === 24 && d.every((v) => v !== null));
    for (let d = MIN_DAYS; d < byDay.length; d++) {
      if (!complete[d] || skipDay(index, byDay[d]!)) continue;
      const history: number[][] = [];
      for (let k = Math.max(0, d - LEARN_DAYS); k < d; k++) {
        if (complete[k] && !skipDay(index, byDay[k]!)) history.push(byDay[k] as number[]);
      }
      if (history.length < MIN_DAYS) continue;
      days++;
      for (const c of CANDIDATES) {
        const start = c.learner === 'fixed' ? 6 : learnStart(history, c.learner);
        if (windowLiters(byDay, d, start) <= MAX_LITERS) alarms.set(c.learner, alarms.get(c.learner)! + 1);
      }
    }
  });
  return CANDIDATES.map((c) => ({
    candidate: c.name,
    alarmsPerHouseholdMonth: (alarms.get(c.learner)! / (days || 1)) * 30,
  }));
}

/** Start hour of the learned window: highest mean use, or used (> 1 L) on the most days, mean breaking ties. */
function learnStart(history: readonly number[][], learner: Learner): number {
  if (learner === 'waking') {
    // The median hour of the day's first use after 04:00: when the resident usually gets up.
    const firsts = history
      .map((day) => day.findIndex((v, h) => h >= 4 && v > MAX_LITERS))
      .filter((h) => h >= 0);
    return firsts.sort((a, b) => a - b)[Math.floor(firsts.length / 2)] ?? 6;
  }
  let best = -Infinity;
  let start = 6;
  for (let h = 0; h < 24; h++) {
    const sums = history.map((day) =>
      Array.from({ length: PEAK_HOURS }, (_, k) => day[(h + k) % 24]!).reduce((a, b) => a + b, 0),
    );
    const mean = sums.reduce((a, b) => a + b, 0) / sums.length;
    const score = learner === 'mean' ? mean : sums.filter((s) => s > MAX_LITERS).length + mean / 1e6;
    if (score > best) {
      best = score;
      start = h;
    }
  }
  return start;
}

/** Liters in the window starting at `startHour` of day `d` (it may run into the next day). */
function windowLiters(byDay: readonly (readonly (number | null)[])[], d: number, startHour: number): number {
  let sum = 0;
  for (let k = 0; k < PEAK_HOURS; k++) {
    const h = startHour + k;
    const v = byDay[d + Math.floor(h / 24)]?.[h % 24];
    if (v === null || v === undefined) return Infinity;
    sum += v;
  }
  return sum;
}

/**
 * For `peakWhatIf`: skips the days a household was not at home, as the calibration does (docs/simulation.md):
 * every day of a (nearly) empty household (median complete day under 30 L), and days under 20 % of its median.
 */
export function awayDays(households: readonly { liters: readonly (number | null)[] }[]) {
  const medians = households.map((s) => {
    const totals: number[] = [];
    for (let i = 0; i + 24 <= s.liters.length; i += 24) {
      const day = s.liters.slice(i, i + 24);
      if (day.every((v) => v !== null)) totals.push((day as number[]).reduce((a, b) => a + b, 0));
    }
    totals.sort((a, b) => a - b);
    return totals.length > 0 ? totals[Math.floor(totals.length / 2)]! : 0;
  });
  return (household: number, day: readonly (number | null)[]) => {
    const median = medians[household] ?? 0;
    return median < 30 || day.reduce<number>((a, b) => a + (b ?? 0), 0) < 0.2 * median;
  };
}
