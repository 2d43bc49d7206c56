import type { Evidence } from '../core/alerts.ts';
import type { LocalTime } from '../core/local-time.ts';
import { minutesOfDay, type Rule, type RuleOf } from '../core/rules.ts';
import type { Detection, DetectionKind } from '../core/streams.ts';
import { lastBuckets, pushBucket, type HouseholdState } from './household-state.ts';
import type { Condition } from './rules/condition.ts';
import { sustainedHigh } from './rules/sustained-high.ts';
import { sustainedLow } from './rules/sustained-low.ts';
import { zeroAtPeak } from './rules/zero-at-peak.ts';

export interface StepContext {
  localTime: LocalTime;
  rulesVersion: number;
}

export type HouseholdInput =
  | { kind: 'bucket'; start: number; end: number; liters: number | null }
  | { kind: 'reading'; ts: number; receivedAt: number }
  | { kind: 'tick'; now: number };

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
): Detection[] {
  const out: Detection[] = [];
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
  if (s.lastBucketEnd !== null && b.start < s.lastBucketEnd) return; // already seen (re-processing)
  if (s.lastBucketEnd !== null && b.start > s.lastBucketEnd) {
    // Buckets nobody reported are unknown, never zero.
    const missing = Math.min(s.ring.length, Math.round((b.start - s.lastBucketEnd) / ctx.localTime.bucketMs));
    for (let i = 0; i < missing; i++) pushBucket(s, null);
  }
  pushBucket(s, b.liters);
  s.lastBucketStart = b.start;
  s.lastBucketEnd = b.end;
  const bucketMinutes = ctx.localTime.bucketMs / 60_000;

  for (const rule of rules) {
    if (!rule.enabled) continue;
    if (rule.type === 'sustained-low' || rule.type === 'sustained-high') {
      const n = rule.params.windowMinutes / bucketMinutes;
      const window = lastBuckets(s, n);
      const cond = rule.type === 'sustained-low' ? sustainedLow(rule, window) : sustainedHigh(rule, window);
      const thresholds: Evidence['thresholds'] =
        rule.type === 'sustained-low'
          ? {
              windowMinutes: rule.params.windowMinutes,
              maxTotalLiters: rule.params.maxTotalLiters,
              bucketMinutes,
            }
          : {
              windowMinutes: rule.params.windowMinutes,
              minLitersPerBucket: rule.params.minLitersPerBucket,
              bucketMinutes,
            };
      const evidence: Evidence = {
        windowStart: b.end - rule.params.windowMinutes * 60_000,
        windowEnd: b.end,
        buckets: window,
        totalLiters: round(cond.totalLiters),
        thresholds,
        ruleVersion: ctx.rulesVersion,
      };
      transition(hid, s, rule, cond, b.end, evidence, out);
    } else if (rule.type === 'zero-at-peak') {
      peak(hid, s, rule, b, bucketMinutes, ctx, out);
    }
  }
}

function peak(
  hid: string,
  s: HouseholdState,
  rule: RuleOf<'zero-at-peak'>,
  b: { start: number; end: number; liters: number | null },
  bucketMinutes: number,
  ctx: StepContext,
  out: Detection[],
): void {
  const startMin = minutesOfDay(rule.params.start);
  const endMin = minutesOfDay(rule.params.end);
  const lengthMin = (endMin - startMin + 1440) % 1440 || 1440;
  const thresholds = {
    start: rule.params.start,
    end: rule.params.end,
    maxLiters: rule.params.maxLiters,
    bucketMinutes,
  };
  // Water used again after the detection clears it ("the resident is up").
  if (s.active[rule.id] !== undefined && b.liters !== null && b.liters > rule.params.maxLiters) {
    const evidence: Evidence = {
      windowStart: b.start,
      windowEnd: b.end,
      buckets: [b.liters],
      totalLiters: b.liters,
      thresholds,
      ruleVersion: ctx.rulesVersion,
    };
    transition(hid, s, rule, { state: 'false', totalLiters: b.liters }, b.end, evidence, out);
    return;
  }
  if (ctx.localTime.minuteOfDay(b.end) !== endMin) return;
  const window = lastBuckets(s, Math.round(lengthMin / bucketMinutes));
  const cond = zeroAtPeak(rule, window);
  if (cond.state === 'false' && s.active[rule.id] !== undefined) {
    // Today's peak used water (even spread thinly over its hours): yesterday's alarm is over.
    const evidence: Evidence = {
      windowStart: b.end - lengthMin * 60_000,
      windowEnd: b.end,
      buckets: window,
      totalLiters: round(cond.totalLiters),
      thresholds,
      ruleVersion: ctx.rulesVersion,
    };
    transition(hid, s, rule, cond, b.end, evidence, out);
    return;
  }
  if (cond.state !== 'true') return;
  // Fires once per day: a new day's empty peak opens again even while the previous one is active.
  delete s.active[rule.id];
  const evidence: Evidence = {
    windowStart: b.end - lengthMin * 60_000,
    windowEnd: b.end,
    buckets: window,
    totalLiters: round(cond.totalLiters),
    thresholds,
    ruleVersion: ctx.rulesVersion,
  };
  transition(hid, s, rule, cond, b.end, evidence, out);
}

function onReading(
  hid: string,
  s: HouseholdState,
  r: { ts: number; receivedAt: number },
  rules: readonly Rule[],
  ctx: StepContext,
  out: Detection[],
): void {
  s.lastReceivedAt = Math.max(s.lastReceivedAt ?? r.receivedAt, r.receivedAt);
  s.lastReadingTs = Math.max(s.lastReadingTs ?? r.ts, r.ts);
  for (const rule of rules) {
    if (rule.type !== 'silent' || s.active[rule.id] === undefined) continue;
    const evidence: Evidence = {
      windowStart: s.active[rule.id]!,
      windowEnd: r.receivedAt,
      thresholds: { afterMinutes: rule.params.afterMinutes },
      ruleVersion: ctx.rulesVersion,
      lastReadingAt: r.receivedAt,
    };
    transition(hid, s, rule, { state: 'false', totalLiters: 0 }, r.receivedAt, evidence, out);
  }
}

function onTick(
  hid: string,
  s: HouseholdState,
  now: number,
  rules: readonly Rule[],
  ctx: StepContext,
  out: Detection[],
) {
  if (s.lastReceivedAt === null) return;
  for (const rule of rules) {
    if (rule.type !== 'silent' || !rule.enabled || s.active[rule.id] !== undefined) continue;
    const deadline = s.lastReceivedAt + rule.params.afterMinutes * 60_000;
    if (now < deadline) continue;
    const evidence: Evidence = {
      windowStart: s.lastReceivedAt,
      windowEnd: deadline,
      thresholds: { afterMinutes: rule.params.afterMinutes },
      ruleVersion: ctx.rulesVersion,
      lastReadingAt: s.lastReceivedAt,
    };
    transition(hid, s, rule, { state: 'true', totalLiters: 0 }, deadline, evidence, out);
  }
}

/** Turns a condition into opened / updated / cleared, keeping `state.active` in step. */
function transition(
  hid: string,
  s: HouseholdState,
  rule: Rule,
  cond: Condition,
  at: number,
  evidence: Evidence,
  out: Detection[],
): void {
  const active = s.active[rule.id] !== undefined;
  let kind: DetectionKind;
  if (cond.state === 'true') {
    kind = active ? 'updated' : 'opened';
    if (!active) s.active[rule.id] = at;
  } else if (cond.state === 'false' && active) {
    kind = 'cleared';
    delete s.active[rule.id];
  } else {
    return;
  }
  out.push({
    key: `${hid}|${rule.id}|${kind}|${at}`,
    householdId: hid,
    ruleId: rule.id,
    ruleType: rule.type,
    kind,
    at,
    evidence,
    severity: rule.severity,
    audience: rule.audience,
    autoResolve: rule.autoResolve,
  });
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
