import { z } from 'zod';
import { duration, every, liters, num } from '../../core/alert-text.ts';
import { ruleEnvelope } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import { activeSince, lastBuckets, UNKNOWN_ML, type HouseholdState } from '../household-state.ts';
import type { StepContext } from '../step-context.ts';
import { HIGH_HOUR_DAYS, relativeBar } from '../high-hour.ts';
import { decide, emit, holdOf, holdThresholds, round } from '../transition.ts';
import { asWindow, RingWindow, toMl, type BucketWindow, type Condition } from './condition.ts';
import { lifecycleParams, windowFitsBuckets, windowMinutes } from './shared-params.ts';
import type { RuleTypeModule } from './rule-type.ts';

export const SustainedHighParams = z.strictObject({
  windowMinutes,
  minLitersPerBucket: z.number().gt(0).max(100_000),
  /**
   * Once its alert is open, the condition still holds with up to this share of the window's buckets known
   * and below the bar (a slow leak read by a whole-liter meter shows 0 L in an hour now and then). 0: every
   * bucket must stay at the bar.
   */
  holdToleranceShare: z.number().min(0).max(0.5).default(0),
  /**
   * Household-relative bar: a new alert opens only where every bucket of the window also reaches this
   * multiple of the household's own 99th-percentile hour over the last 14 days (scaled to the bucket size;
   * used once a week of hours is known). A family whose evenings always run high is not news. null: off.
   */
  relativeToHighHour: z.number().min(0.5).max(10).nullable().default(null),
  ...lifecycleParams,
});

/** A `sustained-high` rule: the envelope every rule has, and its parameters. */
export const SustainedHighRule = z.strictObject({
  ...ruleEnvelope,
  type: z.literal('sustained-high'),
  params: SustainedHighParams,
});
export type SustainedHighRule = z.infer<typeof SustainedHighRule>;

const ring = new RingWindow();

/**
 * True when every bucket of the trailing window is known and at least the bar. A known bucket below the bar
 * makes it false; an unknown bucket otherwise means "cannot tell". `totalLiters` is the window's known total
 * (with `needTotal` false, a false answer comes as soon as it is certain and its total is NaN).
 */
export function sustainedHigh(
  window: BucketWindow | readonly (number | null)[],
  minLitersPerBucket: number,
  needTotal = true,
  toleratedBelow = 0,
): Condition {
  const w = asWindow(window);
  const bar = toMl(minLitersPerBucket);
  let total = 0;
  let unknown = false;
  let below = false;
  let belowCount = 0;
  // Newest first: a recent bucket below the bar is the common case, and it settles the answer.
  for (let i = w.length - 1; i >= 0; i--) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else {
      if (v < bar && ++belowCount > toleratedBelow) {
        if (!needTotal) return { state: 'false', totalLiters: Number.NaN };
        below = true;
      }
      total += v;
    }
  }
  return { state: below ? 'false' : unknown ? 'unknown' : 'true', totalLiters: total / 1000 };
}

/** The `sustained-high` rule type (`continuous-flow`, `heavy-use`) on a closed bucket. */
export function high(
  hid: string,
  s: HouseholdState,
  rule: SustainedHighRule,
  end: number,
  day: number,
  bucketMinutes: number,
  ctx: StepContext,
  out: Detection[],
): void {
  const p = rule.params;
  const n = p.windowMinutes / bucketMinutes;
  const windowStart = end - p.windowMinutes * 60_000;
  const active = activeSince(s, rule.id) !== undefined;
  // Once open, a few buckets below the bar do not end it (a slow leak that shows 0 L in an hour now and then).
  const tolerated = active ? Math.floor(n * p.holdToleranceShare + 1e-9) : 0;
  const cond = sustainedHigh(ring.of(s, n), p.minLitersPerBucket, active, tolerated);
  // A new alert only above the household's own busiest hours, when the rule is relative to them.
  const bar = active ? p.minLitersPerBucket : relativeBar(s, p, day, bucketMinutes);
  if (
    cond.state === 'true' &&
    bar > p.minLitersPerBucket &&
    sustainedHigh(ring.of(s, n), bar).state !== 'true'
  )
    return;
  const kind = decide(hid, s, rule, cond, end, windowStart, ctx, holdOf(rule));
  if (!kind) return;
  emit(out, hid, rule, kind, end, {
    windowStart,
    windowEnd: end,
    buckets: lastBuckets(s, n),
    totalLiters: round(cond.totalLiters),
    thresholds: {
      windowMinutes: p.windowMinutes,
      minLitersPerBucket: round(bar),
      bucketMinutes,
      ...(p.relativeToHighHour === null ? {} : { relativeToHighHour: p.relativeToHighHour }),
      ...holdThresholds(rule),
    },
    ruleVersion: ctx.rulesVersion,
  });
}

/**
 * `sustained-high` (`continuous-flow`, `heavy-use`): every bucket of the trailing window is known and at least
 * the bar. It needs the bucket window only. Its message reads as a leak for the `leak` audience and as a
 * possible emergency otherwise.
 */
export const sustainedHighType: RuleTypeModule<SustainedHighRule, typeof SustainedHighRule> = {
  type: 'sustained-high',
  schema: SustainedHighRule,
  params: SustainedHighParams,
  clock: 'event',
  needs: (rule) => ({
    windowMinutes: rule.params.windowMinutes,
    historyDays: rule.params.relativeToHighHour === null ? 0 : HIGH_HOUR_DAYS + 1,
    holdMinutes: rule.params.clearHoldMinutes,
  }),
  validate: (rule, bucketMinutes, at) => windowFitsBuckets(rule.params.windowMinutes, bucketMinutes, at),
  onBucket: (hid, s, rule, b, ctx, out) => high(hid, s, rule, b.end, b.day, b.bucketMinutes, ctx, out),
  openedText(audience, address, evidence) {
    const t = evidence.thresholds;
    const w = duration(num(t.windowMinutes));
    const min = liters(num(t.minLitersPerBucket));
    const b = every(num(t.bucketMinutes));
    return audience === 'leak'
      ? {
          'zh-CN': `${address}：连续${w['zh-CN']}${b['zh-CN']}都在用水（每段不少于 ${min} 升），疑似漏水（如马桶水箱漏水、水龙头滴水）。`,
          en: `${address}: water has been running ${b.en} for ${w.en} (at least ${min} L each time), a possible leak (running cistern, dripping tap).`,
        }
      : {
          'zh-CN': `${address}：连续${w['zh-CN']}${b['zh-CN']}用水不少于 ${min} 升，可能水龙头未关、水管爆裂或住户发生意外，请尽快联系住户。`,
          en: `${address}: at least ${min} L used ${b.en} for ${w.en}: a tap left running, a burst pipe, or the resident may be in trouble. Please contact them soon.`,
        };
  },
};
