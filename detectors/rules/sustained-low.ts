import { z } from 'zod';
import type { Evidence } from '../../core/alerts.ts';
import { duration, liters, num } from '../../core/alert-text.ts';
import { ruleEnvelope } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import { BASELINE_DAYS, typicalLiters } from '../baseline.ts';
import { activeSince, lastBuckets, UNKNOWN_ML, type HouseholdState } from '../household-state.ts';
import type { StepContext } from '../step-context.ts';
import { awayDays, decide, emit, holdOf, holdThresholds, round, USUAL_MIN_DAYS } from '../transition.ts';
import { sameKindAs, usualShare } from '../usage-history.ts';
import { asWindow, RingWindow, toMl, type BucketWindow, type Condition } from './condition.ts';
import { lifecycleParams, windowFitsBuckets, windowMinutes } from './shared-params.ts';
import type { RuleTypeModule } from './rule-type.ts';

export const SustainedLowParams = z.strictObject({
  windowMinutes,
  maxTotalLiters: z.number().min(0).max(100_000),
  /**
   * When set, fire below this fraction of the household's typical use for the same window (its baseline);
   * `maxTotalLiters` applies until the baseline is known (7 complete days within the last 21).
   */
  relativeToBaseline: z.number().gt(0).max(1).nullable().default(null),
  /**
   * Fire only for households where a low day is unusual: at least this share of the complete days among the
   * last 21 reached `maxTotalLiters` (judged once 2 complete days exist; until then the rule fires as before).
   * A vacant flat or a second home is low most days, and its low days tell nobody anything. 0: off.
   */
  minUsualShare: z.number().min(0).max(1).default(0),
  /**
   * Judge `minUsualShare` on the recent days of the same kind as well (weekdays, or Saturdays and Sundays):
   * a dry Saturday is news only where Saturdays and Sundays are usually not dry.
   */
  weekendApart: z.boolean().default(false),
  ...lifecycleParams,
});

/** A `sustained-low` rule: the envelope every rule has, and its parameters. */
export const SustainedLowRule = z.strictObject({
  ...ruleEnvelope,
  type: z.literal('sustained-low'),
  params: SustainedLowParams,
});
export type SustainedLowRule = z.infer<typeof SustainedLowRule>;

const ring = new RingWindow();

/**
 * True when the trailing window is fully known and its total is below `limitLiters`. Any unknown bucket
 * means "cannot tell", unless the known buckets alone already reach the limit (then it is certainly not low).
 * With `needTotal` false, a false answer comes as soon as it is certain (newest buckets first; total NaN).
 */
export function sustainedLow(
  window: BucketWindow | readonly (number | null)[],
  limitLiters: number,
  needTotal = true,
): Condition {
  const w = asWindow(window);
  const limit = toMl(limitLiters);
  let total = 0;
  let unknown = false;
  for (let i = w.length - 1; i >= 0; i--) {
    const v = w.ml(i);
    if (v === UNKNOWN_ML) unknown = true;
    else {
      total += v;
      if (!needTotal && total >= limit) return { state: 'false', totalLiters: Number.NaN };
    }
  }
  const totalLiters = total / 1000;
  if (total >= limit) return { state: 'false', totalLiters };
  return { state: unknown ? 'unknown' : 'true', totalLiters };
}

/** The `sustained-low` rule type (`low-use`) on a closed bucket. */
export function low(
  hid: string,
  s: HouseholdState,
  rule: SustainedLowRule,
  end: number,
  day: number,
  bucketMinutes: number,
  ctx: StepContext,
  out: Detection[],
): void {
  const p = rule.params;
  const n = p.windowMinutes / bucketMinutes;
  const windowStart = end - p.windowMinutes * 60_000;
  const typical = p.relativeToBaseline === null ? null : typicalLiters(s, ctx.localTime, day, windowStart, n);
  const limit = typical === null ? p.maxTotalLiters : round(p.relativeToBaseline! * typical);
  const active = activeSince(s, rule.id) !== undefined;
  const cond = sustainedLow(ring.of(s, n), limit, active);
  // A low day is news only where low days are unusual (not in a vacant flat or a second home).
  if (!active && cond.state === 'true' && p.minUsualShare > 0) {
    const skip = awayDays(hid, ctx);
    const judge = (only?: (d: number) => boolean) =>
      usualShare(s, day, BASELINE_DAYS, USUAL_MIN_DAYS, 0, 24, limit - 0.001, skip, only);
    const share = judge();
    if (share >= 0 && share < p.minUsualShare) return; // judged from the second complete day on
    const own = p.weekendApart ? judge(sameKindAs(day)) : -1;
    if (own >= 0 && own < p.minUsualShare) return;
  }
  const kind = decide(hid, s, rule, cond, end, windowStart, ctx, holdOf(rule));
  if (!kind) return;
  const thresholds: Evidence['thresholds'] = {
    windowMinutes: p.windowMinutes,
    maxTotalLiters: limit,
    bucketMinutes,
    ...holdThresholds(rule),
  };
  if (p.relativeToBaseline !== null) {
    thresholds.relativeToBaseline = p.relativeToBaseline;
    thresholds.typicalLiters = typical;
  }
  emit(out, hid, rule, kind, end, {
    windowStart,
    windowEnd: end,
    buckets: lastBuckets(s, n),
    totalLiters: round(cond.totalLiters),
    thresholds,
    ruleVersion: ctx.rulesVersion,
  });
}

/**
 * `sustained-low` (`low-use`): the trailing window is fully known and its total is below the limit (or below
 * `relativeToBaseline` of the household's typical use). It needs the bucket window, and 22 days of hourly
 * history for a baseline or the usual-share gate.
 */
export const sustainedLowType: RuleTypeModule<SustainedLowRule, typeof SustainedLowRule> = {
  type: 'sustained-low',
  schema: SustainedLowRule,
  params: SustainedLowParams,
  clock: 'event',
  needs: (rule) => ({
    windowMinutes: rule.params.windowMinutes,
    historyDays:
      rule.params.relativeToBaseline !== null || rule.params.minUsualShare > 0 ? BASELINE_DAYS + 1 : 0,
    holdMinutes: rule.params.clearHoldMinutes,
  }),
  validate: (rule, bucketMinutes, at) => windowFitsBuckets(rule.params.windowMinutes, bucketMinutes, at),
  onBucket: (hid, s, rule, b, ctx, out) => low(hid, s, rule, b.end, b.day, b.bucketMinutes, ctx, out),
  openedText(_audience, address, evidence) {
    const t = evidence.thresholds;
    const w = duration(num(t.windowMinutes));
    const total = liters(evidence.totalLiters ?? 0);
    return {
      'zh-CN': `${address}：过去${w['zh-CN']}仅用水 ${total} 升（低于 ${liters(num(t.maxTotalLiters))} 升），住户可能需要上门探望。`,
      en: `${address}: only ${total} L of water used in the last ${w.en} (below ${liters(num(t.maxTotalLiters))} L). The resident may need a visit.`,
    };
  },
};
