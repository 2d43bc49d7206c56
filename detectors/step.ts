import type { Evidence } from '../core/alerts.ts';
import type { Rule, RuleOf } from '../core/rules.ts';
import type { Detection } from '../core/streams.ts';
import { BASELINE_DAYS, typicalLiters } from './baseline.ts';
import {
  activeSince,
  lastBuckets,
  pushMilliliters,
  setBucketTimes,
  UNKNOWN_ML,
  type HouseholdState,
} from './household-state.ts';
import { RingWindow } from './rules/condition.ts';
import { sustainedHigh } from './rules/sustained-high.ts';
import { sustainedLow } from './rules/sustained-low.ts';
import { peak } from './rules/zero-at-peak.ts';
import { awayDays, decide, emit, holdOf, holdThresholds, round, USUAL_MIN_DAYS } from './transition.ts';
import { onReading, onTick } from './rules/silent.ts';
import type { HouseholdInput, StepContext } from './step-context.ts';
import { recordHour, usualShare } from './usage-history.ts';
import { relativeBar } from './high-hour.ts';

export type { AwayLookup, HouseholdInput, StepContext } from './step-context.ts';

const DAY_MS = 86_400_000;
const ring = new RingWindow();

/**
 * The detector core for one household: `(state, input, rules) → detections`, updating the state it is
 * given and touching nothing else. The same function runs live, in backtests and in tests.
 */
export function step(
  householdId: string,
  state: HouseholdState,
  input: HouseholdInput,
  rules: readonly Rule[],
  ctx: StepContext,
  out: Detection[] = [],
): Detection[] {
  switch (input.kind) {
    case 'bucket':
      onBucket(householdId, state, input, rules, ctx, out);
      break;
    case 'reading':
      onReading(householdId, state, input, rules, ctx, out);
      break;
    case 'tick':
      onTick(householdId, state, input.now, rules, ctx, out);
      break;
  }
  return out;
}

function onBucket(
  hid: string,
  s: HouseholdState,
  b: { start: number; end: number; liters: number | null },
  rules: readonly Rule[],
  ctx: StepContext,
  out: Detection[],
): void {
  const lastEnd = s.lastBucketEnd;
  const lt = ctx.localTime;
  if (lastEnd !== null && b.start < lastEnd) return; // already seen (re-processing)
  if (lastEnd !== null && b.start > lastEnd) {
    // Buckets nobody reported are unknown, never zero.
    const missing = Math.min(s.ringCapacity, Math.round((b.start - lastEnd) / lt.bucketMs));
    for (let k = 0; k < missing; k++) pushMilliliters(s, UNKNOWN_ML);
  }
  const ml = b.liters === null ? UNKNOWN_ML : Math.round(b.liters * 1000);
  pushMilliliters(s, ml);
  setBucketTimes(s, b.start, b.end);
  const bucketMinutes = lt.bucketMs / 60_000;
  const day = Math.floor(lt.toLocalMs(b.start) / DAY_MS);
  const endMinute = lt.minuteOfDay(b.end);
  recordHour(s, day, endMinute, bucketMinutes);
  for (const rule of rules) {
    if (!rule.enabled) continue;
    if (rule.type === 'sustained-low') low(hid, s, rule, b.end, day, bucketMinutes, ctx, out);
    else if (rule.type === 'sustained-high') high(hid, s, rule, b.end, day, bucketMinutes, ctx, out);
    else if (rule.type === 'zero-at-peak') peak(hid, s, rule, b, ml, day, endMinute, bucketMinutes, ctx, out);
  }
}

function low(
  hid: string,
  s: HouseholdState,
  rule: RuleOf<'sustained-low'>,
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
    const share = usualShare(s, day, BASELINE_DAYS, USUAL_MIN_DAYS, 0, 24, limit - 0.001, awayDays(hid, ctx));
    if (share >= 0 && share < p.minUsualShare) return; // judged from the second complete day on
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

function high(
  hid: string,
  s: HouseholdState,
  rule: RuleOf<'sustained-high'>,
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
