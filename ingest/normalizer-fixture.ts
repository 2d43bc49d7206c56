import { LocalTime } from '../core/local-time.ts';
import {
  initialMeterState,
  normalize,
  type ClosedBucket,
  type MeterState,
  type NormalizerParams,
} from './normalizer.ts';

/** Shared by the normalizer's tests: default parameters, and a run of [ts, totalLiters] readings. */
export const H = 3_600_000;
export const M = 60_000;
/** 2026-01-05 00:00 in Asia/Shanghai. */
export const T0 = Date.UTC(2026, 0, 4, 16);

export function params(over: Partial<NormalizerParams> = {}): NormalizerParams {
  return {
    localTime: new LocalTime('Asia/Shanghai', 60),
    maxGapMs: 360 * M,
    maxFlowLitersPerHour: 3000,
    resetNearZeroLiters: 100,
    rolloverLiters: null,
    ...over,
  };
}

export function run(readings: [number, number][], p = params()) {
  let state: MeterState = initialMeterState();
  const buckets: ClosedBucket[] = [];
  const events: string[] = [];
  for (const [ts, totalLiters] of readings) {
    const out = normalize(state, { ts, totalLiters }, p);
    state = out.state;
    buckets.push(...out.buckets);
    events.push(out.event.kind);
  }
  return { state, buckets, events };
}
