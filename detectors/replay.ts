import type { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { resetSlot, type HouseholdState } from './household-state.ts';
import { step, type StepContext } from './step.ts';

/** A stored bucket: [start, end, liters | null]. */
export type BucketRow = readonly [number, number, number | null];

/**
 * Replays one household's stored buckets through `step` — the live detectors' code — from a fresh state,
 * and keeps the detections dated within [keepFrom, keepTo). Buckets before `keepFrom` only warm the state up
 * (history for learned peaks and baselines, windows, rules already firing). Returns the buckets replayed.
 */
export function replayHousehold(
  householdId: string,
  state: HouseholdState,
  rows: readonly BucketRow[],
  rules: readonly Rule[],
  ctx: StepContext,
  keepFrom: number,
  keepTo: number,
  out: Detection[],
): number {
  resetSlot(state);
  const input = { kind: 'bucket' as const, start: 0, end: 0, liters: null as number | null };
  const found: Detection[] = [];
  for (const row of rows) {
    input.start = row[0];
    input.end = row[1];
    input.liters = row[2];
    step(householdId, state, input, rules, ctx, found);
    if (found.length > 0) {
      for (const d of found) if (d.at >= keepFrom && d.at < keepTo) out.push(d);
      found.length = 0;
    }
  }
  return rows.length;
}
