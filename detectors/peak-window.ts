import { minutesOfDay } from '../core/rules.ts';
import type { HouseholdState } from './household-state.ts';
import { learnedPeakStart, type LearnParams } from './usage-history.ts';

/**
 * The parameters of a `zero-at-peak` rule that a peak window is computed from (a structural type: the rule
 * type's module, detectors/rules/zero-at-peak.ts, builds on this one).
 */
export interface PeakRule {
  params: LearnParams & { start: string; end: string; learn: boolean };
}

/** Where a household's peak window comes from: configured, learned, or the fallback until it is learned. */
export type PeakSource = 'fixed' | 'learned' | 'fallback';

export interface PeakWindow {
  startMinute: number;
  endMinute: number;
  /** Length in minutes (a window may run past midnight). */
  minutes: number;
  source: PeakSource;
}

const fixed = new WeakMap<object, [number, number]>();

/** The configured window of a zero-at-peak rule, in minutes of the local day. */
export function configuredPeak(rule: PeakRule): [number, number] {
  let w = fixed.get(rule.params);
  if (!w) {
    w = [minutesOfDay(rule.params.start), minutesOfDay(rule.params.end)];
    fixed.set(rule.params, w);
  }
  return w;
}

/**
 * The peak window of a household on local day `day`: the configured one, or (with `learn`) the learned one
 * once enough complete days exist, else the configured one as the fallback. Writes into `out` (no allocation
 * on the detectors' hot path) and returns it.
 */
export function peakWindow(
  s: HouseholdState,
  rule: PeakRule,
  day: number,
  out: PeakWindow = { startMinute: 0, endMinute: 0, minutes: 0, source: 'fixed' },
): PeakWindow {
  const p = rule.params;
  const learned = p.learn ? learnedPeakStart(s, day, p) : -1;
  if (learned >= 0) {
    out.startMinute = learned * 60;
    out.minutes = p.peakHours * 60;
    out.endMinute = (out.startMinute + out.minutes) % 1440;
    out.source = 'learned';
    return out;
  }
  const [start, end] = configuredPeak(rule);
  out.startMinute = start;
  out.endMinute = end;
  out.minutes = (end - start + 1440) % 1440 || 1440;
  out.source = p.learn ? 'fallback' : 'fixed';
  return out;
}

/** `06:00` from minutes of the day. */
export function hhmm(minutes: number): string {
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}
