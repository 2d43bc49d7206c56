import type { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import {
  noteReading,
  pushMilliliters,
  setBucketTimes,
  UNKNOWN_ML,
  type HouseholdState,
} from './household-state.ts';
import { high } from './rules/sustained-high.ts';
import { low } from './rules/sustained-low.ts';
import { peak } from './rules/zero-at-peak.ts';
import { onReading, onTick } from './rules/silent.ts';
import type { HouseholdInput, StepContext } from './step-context.ts';
import { recordHour } from './usage-history.ts';

export type { AwayLookup, HouseholdInput, StepContext } from './step-context.ts';

const DAY_MS = 86_400_000;

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
      for (const rule of rules)
        if (rule.type === 'silent') onReading(householdId, state, rule, input, ctx, out);
      noteReading(state, input.ts, input.receivedAt, input.declaredIntervalMs ?? null);
      break;
    case 'tick':
      for (const rule of rules)
        if (rule.type === 'silent') onTick(householdId, state, rule, input.now, ctx, out);
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
    else if (rule.type === 'sustained-high') high(hid, s, rule, b.end, bucketMinutes, ctx, out);
    else if (rule.type === 'zero-at-peak') peak(hid, s, rule, b, ml, day, endMinute, bucketMinutes, ctx, out);
  }
}
