import type { LocalTime } from '../core/local-time.ts';
import { ruleTypeOf, type Rule } from './rules/index.ts';
import { BASELINE_DAYS, BASELINE_NONE, BASELINE_UNIT, computeBaseline } from './baseline.ts';
import type { HouseholdState } from './household-state.ts';
import type { LearnedPeak } from './rules/rule-type.ts';
import { completeDays } from './usage-history.ts';

const DAY_MS = 86_400_000;

/** What the detectors have learned about one household, for people (`GET /api/rules/effective`). */
export interface LearnedInfo {
  /** The local day the figures are for: the day of the household's next bucket. */
  day: string;
  peaks: Record<string, LearnedPeak>;
  /** Typical liters per hour of day (0–23), weekdays and weekend days; null until 7 complete days exist. */
  baseline: { weekday: number[]; weekend: number[]; completeDays: number } | null;
  /** How often the meter usually sends (minutes; the median of its last three intervals), null until twice. */
  usualReportIntervalMinutes: number | null;
}

export function learnedInfo(
  s: HouseholdState,
  rules: readonly Rule[],
  localTime: LocalTime,
): LearnedInfo | null {
  const end = s.lastBucketEnd;
  if (end === null) return null;
  const usual = s.usualIntervalMs;
  const day = Math.floor(localTime.toLocalMs(end) / DAY_MS);
  const peaks: LearnedInfo['peaks'] = {};
  for (const r of rules) {
    const peak = ruleTypeOf(r).learnedPeak?.(s, r, day);
    if (peak) peaks[r.id] = peak;
  }
  let baseline: LearnedInfo['baseline'] = null;
  if (s.c.historyDays > BASELINE_DAYS) {
    const values = new Uint16Array(48);
    computeBaseline(s, day, values);
    if (values[0] !== BASELINE_NONE) {
      const liters = (k: number) => Math.round((values[k]! / BASELINE_UNIT) * 100) / 100;
      baseline = {
        weekday: Array.from({ length: 24 }, (_, h) => liters(h)),
        weekend: Array.from({ length: 24 }, (_, h) => liters(24 + h)),
        completeDays: completeDays(s, day, BASELINE_DAYS),
      };
    }
  }
  return {
    day: localTime.format(end).slice(0, 10),
    peaks,
    baseline,
    usualReportIntervalMinutes: usual === null ? null : Math.round(usual / 60_000),
  };
}
