import type { Detection } from '../core/streams.ts';
import {
  noteReading,
  pushMilliliters,
  setBucketTimes,
  UNKNOWN_ML,
  type HouseholdState,
} from './household-state.ts';
import { ruleTypeOf, type Rule } from './rules/index.ts';
import type { ClosedBucket } from './rules/rule-type.ts';
import type { HouseholdInput, StepContext } from './step-context.ts';
import { recordHour } from './usage-history.ts';

export type { AwayLookup, HouseholdInput, StepContext } from './step-context.ts';

const DAY_MS = 86_400_000;
const closed: ClosedBucket = { start: 0, end: 0, ml: 0, day: 0, endMinute: 0, bucketMinutes: 0 };

/**
 * The detector core for one household: `(state, input, rules) → detections`, updating the state it is
 * given and touching nothing else. The same function runs live, in backtests and in tests. Each rule is
 * evaluated by its type's module (detectors/rules), in the order of the rules.
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
      for (const rule of rules) ruleTypeOf(rule).onReading?.(householdId, state, rule, input, ctx, out);
      noteReading(state, input.ts, input.receivedAt, input.declaredIntervalMs ?? null);
      break;
    case 'tick':
      for (const rule of rules) ruleTypeOf(rule).onTick?.(householdId, state, rule, input.now, ctx, out);
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
  closed.start = b.start;
  closed.end = b.end;
  closed.ml = ml;
  closed.day = day;
  closed.endMinute = endMinute;
  closed.bucketMinutes = bucketMinutes;
  for (const rule of rules) {
    if (!rule.enabled) continue;
    ruleTypeOf(rule).onBucket?.(hid, s, rule, closed, ctx, out);
  }
}
