import { z } from 'zod';
import type { FieldIssue } from '../../core/errors.ts';
import { MAX_LEARN_DAYS, minutesOfDay, ruleEnvelope } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import {
  activeSince,
  clearActive,
  lastBuckets,
  UNKNOWN_ML,
  type HouseholdState,
} from '../household-state.ts';
import { configuredPeak, hhmm, peakWindow, type PeakWindow } from '../peak-window.ts';
import type { StepContext } from '../step-context.ts';
import { awayDays, decide, emit, noteEpisode, round, suppressed, USUAL_MIN_DAYS } from '../transition.ts';
import { completeDays, computePeakStart, sameKindAs, usualShare } from '../usage-history.ts';
import { asWindow, RingWindow, toMl, type BucketWindow, type Condition } from './condition.ts';
import { localTimeOfDay } from './shared-params.ts';
import type { RuleTypeModule } from './rule-type.ts';

export const ZeroAtPeakParams = z.strictObject({
  /** Peak window, local time: the fixed window, or the fallback until a learned one exists. */
  start: localTimeOfDay,
  end: localTimeOfDay,
  maxLiters: z.number().min(0).max(10_000),
  /** Learn each household's peak window over its last `learnDays` days (see `learnFrom`). */
  learn: z.boolean().default(false),
  /**
   * How the window is learned: `first-use` — the `peakHours` hours from the household's usual first use of
   * the day (the median, over the complete days, of the first hour after 04:00 with more than `maxLiters`:
   * when the resident usually gets up); `highest-mean` — the `peakHours` hours with the highest mean use.
   */
  learnFrom: z.enum(['first-use', 'highest-mean']).default('first-use'),
  peakHours: z.number().int().min(1).max(12).default(3),
  learnDays: z.number().int().min(1).max(MAX_LEARN_DAYS).default(21),
  /** Complete days (all 24 hours known) needed within `learnDays` before the learned window is used. */
  minDays: z.number().int().min(1).max(MAX_LEARN_DAYS).default(7),
  /**
   * Fire only for households that usually use water in that window: on at least this share of the complete
   * days among the last `learnDays` (judged once 2 complete days exist; until then the rule fires as before).
   * A household that is out most mornings has dry mornings that mean nothing. 0: off.
   */
  minUsualShare: z.number().min(0).max(1).default(0),
  /**
   * Weekdays and weekend days apart (people get up later on Saturdays and Sundays): a weekend day's window is
   * learned from the recent weekend days once 4 of them are complete, a weekday's from the recent weekdays
   * once `minDays` are (until then from all days); and a dry window is news only where the window is usually
   * used (`minUsualShare`) on all recent days and on the recent days of the same kind.
   */
  weekendApart: z.boolean().default(false),
  /**
   * Confirmation: the condition holds only once the window and this long after it are dry (a resident who
   * got up an hour late is not news). Checked when the confirmation ends. 0: at the window's end.
   */
  confirmMinutes: z
    .number()
    .int()
    .min(0)
    .max(6 * 60)
    .default(0),
});

/** A `zero-at-peak` rule: the envelope every rule has, and its parameters. */
export const ZeroAtPeakRule = z.strictObject({
  ...ruleEnvelope,
  type: z.literal('zero-at-peak'),
  params: ZeroAtPeakParams,
});
export type ZeroAtPeakRule = z.infer<typeof ZeroAtPeakRule>;

const ring = new RingWindow();
const win: PeakWindow = { startMinute: 0, endMinute: 0, minutes: 0, source: 'fixed' };

/** True when the whole peak window is known and its use is at most `maxLiters`. */
export function zeroAtPeak(window: BucketWindow | readonly (number | null)[], maxLiters: number): Condition {
  const w = asWindow(window);
  let total = 0;
  let unknown = false;
  for (let i = 0; i < w.length; i++) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else total += v;
  }
  const totalLiters = total / 1000;
  if (total > toMl(maxLiters)) return { state: 'false', totalLiters };
  return { state: unknown ? 'unknown' : 'true', totalLiters };
}

/**
 * The `zero-at-peak` rule type (`no-water-at-peak`) on a closed bucket: clears at the first bucket with water
 * after it fired, and checks the household's peak window once a day, when its last bucket closes.
 */
export function peak(
  hid: string,
  s: HouseholdState,
  rule: ZeroAtPeakRule,
  b: { start: number; end: number },
  ml: number,
  day: number,
  endMinute: number,
  bucketMinutes: number,
  ctx: StepContext,
  out: Detection[],
): void {
  const p = rule.params;
  const active = activeSince(s, rule.id) !== undefined;
  // Water used again after the detection clears it ("the resident is up").
  if (active && ml !== UNKNOWN_ML && ml > toMl(p.maxLiters)) {
    noteEpisode(s, rule);
    clearActive(s, rule.id);
    peakWindow(s, rule, day, win);
    emit(out, hid, rule, 'cleared', b.end, {
      windowStart: b.start,
      windowEnd: b.end,
      buckets: [ml / 1000],
      totalLiters: ml / 1000,
      thresholds: peakThresholds(rule, win, bucketMinutes),
      ruleVersion: ctx.rulesVersion,
    });
    return;
  }
  peakWindow(s, rule, day, win);
  if (endMinute !== (win.endMinute + p.confirmMinutes) % 1440) return;
  // The window and its confirmation, all dry.
  const n = Math.round((win.minutes + p.confirmMinutes) / bucketMinutes);
  const windowStart = b.end - (win.minutes + p.confirmMinutes) * 60_000;
  const cond = zeroAtPeak(ring.of(s, n), p.maxLiters);
  if (cond.state === 'unknown' || (cond.state === 'false' && !active)) return;
  if (cond.state === 'true' && suppressed(hid, rule, windowStart, b.end, ctx)) return;
  // A dry window is news only for a household that usually uses water in it (checked when it would open: a
  // dry window on a later day with no water used since is the same problem, and updates the alert).
  if (cond.state === 'true' && !active && p.minUsualShare > 0) {
    const hours = Math.round(win.minutes / 60);
    const start = Math.floor(win.startMinute / 60);
    // Judged from the second complete day on (a new household is watched from its first morning).
    const skip = awayDays(hid, ctx);
    const judge = (only?: (d: number) => boolean) =>
      usualShare(
        s,
        day,
        p.learnDays,
        Math.min(p.minDays, USUAL_MIN_DAYS),
        start,
        hours,
        p.maxLiters,
        skip,
        only,
      );
    // Judged from the second complete day on (a new household is watched from its first morning).
    const share = judge();
    if (share >= 0 && share < p.minUsualShare) return;
    // With `weekendApart`, usual on the recent days of today's kind too: a Sunday morning is news only where
    // Sunday mornings are usually used (from the second such day on).
    const own = p.weekendApart ? judge(sameKindAs(day)) : -1;
    if (own >= 0 && own < p.minUsualShare) return;
  }
  const kind = decide(hid, s, rule, cond, b.end, windowStart, ctx);
  if (!kind) return;
  emit(out, hid, rule, kind, b.end, {
    windowStart,
    windowEnd: b.end,
    buckets: lastBuckets(s, n),
    totalLiters: round(cond.totalLiters),
    thresholds: peakThresholds(rule, win, bucketMinutes),
    ruleVersion: ctx.rulesVersion,
  });
}

function peakThresholds(rule: ZeroAtPeakRule, w: PeakWindow, bucketMinutes: number) {
  return {
    start: hhmm(w.startMinute),
    end: hhmm(w.endMinute),
    maxLiters: rule.params.maxLiters,
    bucketMinutes,
    peak: w.source,
    ...(rule.params.confirmMinutes > 0 ? { confirmMinutes: rule.params.confirmMinutes } : {}),
  };
}

/**
 * `zero-at-peak` (`no-water-at-peak`): the household's whole peak window is known and used at most
 * `maxLiters`. It needs the peak window's buckets (or `peakHours` when learned) and, to learn the window or
 * judge what is usual, `learnDays` + 1 days of hourly history.
 */
export const zeroAtPeakType: RuleTypeModule<ZeroAtPeakRule, typeof ZeroAtPeakRule> = {
  type: 'zero-at-peak',
  schema: ZeroAtPeakRule,
  params: ZeroAtPeakParams,
  clock: 'event',
  needs(rule) {
    const p = rule.params;
    const len = (minutesOfDay(p.end) - minutesOfDay(p.start) + 1440) % 1440 || 1440;
    return {
      windowMinutes: Math.max(len, p.learn ? p.peakHours * 60 : 0) + p.confirmMinutes,
      historyDays: p.learn || p.minUsualShare > 0 ? p.learnDays + 1 : 0,
    };
  },
  validate(rule, bucketMinutes, at) {
    const issues: FieldIssue[] = [];
    for (const field of ['start', 'end'] as const) {
      if (minutesOfDay(rule.params[field]) % bucketMinutes !== 0) {
        issues.push({
          path: at(field),
          kind: 'bucket-boundary',
          limit: bucketMinutes,
          message: `must fall on a ${bucketMinutes}-minute bucket boundary`,
        });
      }
    }
    if (rule.params.start === rule.params.end)
      issues.push({ path: at('end'), kind: 'differ', limit: 'start', message: 'must differ from start' });
    if (rule.params.minDays > rule.params.learnDays)
      issues.push({
        path: at('minDays'),
        kind: 'max',
        limit: rule.params.learnDays,
        message: `must be at most learnDays (${rule.params.learnDays}); got ${rule.params.minDays}`,
      });
    return issues;
  },
  onBucket: (hid, s, rule, b, ctx, out) =>
    peak(hid, s, rule, b, b.ml, b.day, b.endMinute, b.bucketMinutes, ctx, out),
  learnedPeak(s, r, day) {
    const start = r.params.learn ? computePeakStart(s, day, r.params) : -1;
    const [fs, fe] = configuredPeak(r);
    return start >= 0
      ? {
          start: hhmm(start * 60),
          end: hhmm(start * 60 + r.params.peakHours * 60),
          source: 'learned',
          completeDays: completeDays(s, day, r.params.learnDays),
        }
      : {
          start: hhmm(fs),
          end: hhmm(fe),
          source: r.params.learn ? 'fallback' : 'fixed',
          completeDays: r.params.learn ? completeDays(s, day, r.params.learnDays) : 0,
        };
  },
  openedText(_audience, address, evidence, localTime) {
    const from = localTime(evidence.windowStart);
    const to = localTime(evidence.windowEnd);
    const t = evidence.thresholds;
    // With a confirmation, the dry span runs on past the usual window: say both.
    if (typeof t.confirmMinutes === 'number' && t.confirmMinutes > 0)
      return {
        'zh-CN': `${address}：今天 ${from}–${to} 没有用水（平时 ${String(t.start)}–${String(t.end)} 会用水），住户可能没有起床，请联系确认。`,
        en: `${address}: no water used between ${from} and ${to}; this household usually uses water between ${String(t.start)} and ${String(t.end)}. The resident may not have got up; please check on them.`,
      };
    return {
      'zh-CN': `${address}：今天 ${from}–${to} 平时用水的时段没有用水，住户可能没有起床，请联系确认。`,
      en: `${address}: no water used between ${from} and ${to}, when this household usually uses water. The resident may not have got up; please check on them.`,
    };
  },
};
