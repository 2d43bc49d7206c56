import type { LocalTime } from '../core/local-time.ts';
import type { NormalizerEventKind } from '../core/streams.ts';

/**
 * Per-meter normalizer: cumulative register readings → usage per local-time bucket.
 * Pure: `(state, reading, params) → (state, buckets, events)`; the state is small and JSON-serialisable.
 *
 * - Usage between consecutive readings is spread over buckets in proportion to overlap.
 * - An interval longer than maxGapMs is a gap: the buckets it touches are unknown (never zero).
 * - Same timestamp again: duplicate, ignored. Older than the last reading: late, not re-bucketed.
 * - A drop to near zero is a reset; a drop from near the rollover value is a rollover; any other drop,
 *   and any rise implying a flow above maxFlowLitersPerHour, is a glitch and produces no usage.
 * - After a glitch, a next reading consistent with the glitched one (and not with the last good one)
 *   means the register really jumped (meter swapped, register rewritten): the normalizer rebases on it and
 *   the interval across the jump becomes unknown.
 */
export interface NormalizerParams {
  localTime: LocalTime;
  maxGapMs: number;
  maxFlowLitersPerHour: number;
  resetNearZeroLiters: number;
  rolloverLiters: number | null;
}

export interface MeterState {
  lastTs: number | null;
  lastTotal: number;
  /** Start of the bucket being filled, its liters so far, and whether it is covered from its start. */
  bucketStart: number | null;
  bucketLiters: number;
  bucketKnown: boolean;
  /** A glitched reading that may turn out to be a real jump. */
  candidateTs: number | null;
  candidateTotal: number;
}

export interface ClosedBucket {
  start: number;
  end: number;
  /** null = unknown. */
  liters: number | null;
  /** Liters attributed to an unknown bucket before it became unknown (kept for accounting). */
  strandedLiters: number;
}

export interface NormalizerOutput {
  state: MeterState;
  buckets: ClosedBucket[];
  event: { kind: NormalizerEventKind; detail: Record<string, number | string | null> };
}

/** Longest run of unknown buckets emitted for one gap; detectors treat any further jump as unknown too. */
const MAX_GAP_BUCKETS = 24 * 4 * 8;

export function initialMeterState(): MeterState {
  return {
    lastTs: null,
    lastTotal: 0,
    bucketStart: null,
    bucketLiters: 0,
    bucketKnown: false,
    candidateTs: null,
    candidateTotal: 0,
  };
}

type Verdict =
  | { ok: true; usage: number; kind: 'accepted' | 'reset' | 'rollover' | 'gap' }
  | { ok: false; kind: 'glitch-flow' | 'glitch-drop'; diff: number };

/** Judges the step from (ts0, total0) to (ts1, total1). */
function judge(ts0: number, total0: number, ts1: number, total1: number, p: NormalizerParams): Verdict {
  let diff = total1 - total0;
  let kind: 'accepted' | 'reset' | 'rollover' | 'gap' = 'accepted';
  if (diff < 0) {
    if (p.rolloverLiters !== null && total0 >= p.rolloverLiters * 0.9 && total1 <= p.rolloverLiters * 0.1) {
      diff = p.rolloverLiters - total0 + total1;
      kind = 'rollover';
    } else if (total1 <= p.resetNearZeroLiters) {
      diff = total1;
      kind = 'reset';
    } else {
      return { ok: false, kind: 'glitch-drop', diff };
    }
  }
  const hours = (ts1 - ts0) / 3_600_000;
  if (diff / hours > p.maxFlowLitersPerHour) return { ok: false, kind: 'glitch-flow', diff };
  if (kind === 'accepted' && ts1 - ts0 > p.maxGapMs) kind = 'gap';
  return { ok: true, usage: diff, kind };
}

export function normalize(
  prev: MeterState,
  reading: { ts: number; totalLiters: number },
  p: NormalizerParams,
): NormalizerOutput {
  const { ts, totalLiters: total } = reading;
  const state: MeterState = { ...prev };
  const buckets: ClosedBucket[] = [];

  if (state.lastTs === null) {
    const start = p.localTime.bucketStart(ts);
    Object.assign(state, {
      lastTs: ts,
      lastTotal: total,
      bucketStart: start,
      bucketLiters: 0,
      bucketKnown: ts === start,
    });
    return { state, buckets, event: { kind: 'accepted', detail: { first: 1 } } };
  }
  if (ts === state.lastTs)
    return { state, buckets, event: { kind: 'duplicate', detail: { totalLiters: total } } };
  if (ts < state.lastTs) {
    return { state, buckets, event: { kind: 'late', detail: { lastTs: state.lastTs, totalLiters: total } } };
  }

  const verdict = judge(state.lastTs, state.lastTotal, ts, total, p);
  if (verdict.ok) {
    const gap = verdict.kind === 'gap';
    spread(state, state.lastTs, ts, gap ? null : verdict.usage, p, buckets);
    const detail: Record<string, number | null> = { liters: verdict.usage };
    if (gap) detail.gapMinutes = Math.round((ts - state.lastTs) / 60_000);
    Object.assign(state, { lastTs: ts, lastTotal: total, candidateTs: null, candidateTotal: 0 });
    return { state, buckets, event: { kind: verdict.kind, detail } };
  }

  if (state.candidateTs !== null && ts > state.candidateTs) {
    const fromCandidate = judge(state.candidateTs, state.candidateTotal, ts, total, p);
    if (fromCandidate.ok) {
      const jump = state.candidateTotal - state.lastTotal;
      spread(state, state.lastTs, state.candidateTs, null, p, buckets);
      spread(state, state.candidateTs, ts, fromCandidate.usage, p, buckets);
      const detail = {
        jumpLiters: jump,
        fromTs: state.lastTs,
        toTs: state.candidateTs,
        liters: fromCandidate.usage,
      };
      Object.assign(state, { lastTs: ts, lastTotal: total, candidateTs: null, candidateTotal: 0 });
      return { state, buckets, event: { kind: 'rebase', detail } };
    }
  }
  Object.assign(state, { candidateTs: ts, candidateTotal: total });
  return {
    state,
    buckets,
    event: { kind: verdict.kind, detail: { diffLiters: verdict.diff, totalLiters: total } },
  };
}

/** The end of the bucket that starts at `start` (the next local boundary). */
function bucketEnd(start: number, p: NormalizerParams): number {
  const candidate = start + p.localTime.bucketMs;
  const s = p.localTime.bucketStart(candidate);
  return s > start ? s : candidate;
}

/** Spreads `usage` (null = unknown) over [a, b) into the open bucket, closing buckets as b passes their end. */
function spread(
  state: MeterState,
  a: number,
  b: number,
  usage: number | null,
  p: NormalizerParams,
  out: ClosedBucket[],
): void {
  let t = a;
  let emittedUnknown = 0;
  while (t < b) {
    const start = state.bucketStart!;
    const end = bucketEnd(start, p);
    const segEnd = Math.min(b, end);
    if (usage === null) state.bucketKnown = false;
    else state.bucketLiters += (usage * (segEnd - t)) / (b - a);
    if (segEnd === end) {
      const known = state.bucketKnown;
      if (known || emittedUnknown < MAX_GAP_BUCKETS || end + p.localTime.bucketMs > b) {
        out.push({
          start,
          end,
          liters: known ? round(state.bucketLiters) : null,
          strandedLiters: known ? 0 : state.bucketLiters,
        });
        if (!known) emittedUnknown++;
      }
      state.bucketStart = end;
      state.bucketLiters = 0;
      state.bucketKnown = true;
      if (usage === null && b - end > p.localTime.bucketMs * 2) {
        // Skip whole unknown buckets in a long gap without walking each one past the cap.
        const jumpTo = p.localTime.bucketStart(b - 1);
        if (emittedUnknown >= MAX_GAP_BUCKETS && jumpTo > end) {
          state.bucketStart = jumpTo;
          state.bucketKnown = false;
          t = jumpTo;
          continue;
        }
      }
    }
    t = segEnd;
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
