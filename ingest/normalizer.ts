import type { LocalTime } from '../core/local-time.ts';
import type { NormalizerEventKind } from '../core/streams.ts';

/**
 * Per-meter normalizer: cumulative register readings → usage per local-time bucket.
 * Pure: `(state, reading, params) → (state, buckets, events)`; the state is small and JSON-serialisable.
 *
 * - Usage between consecutive readings is spread over buckets in proportion to overlap (readings need not
 *   fall on bucket edges: meters' clocks drift by minutes).
 * - An interval longer than maxGapMs is a gap: the buckets it touches are unknown (never zero).
 * - Same timestamp again: duplicate, ignored. Older than the last reading: late, not re-bucketed.
 * - A drop to near zero is a reset; a drop from near the rollover value is a rollover; any other drop,
 *   and any rise implying a flow above maxFlowLitersPerHour, is a glitch and produces no usage.
 * - After a glitch, a next reading consistent with the glitched one (and not with the last good one)
 *   means the register really jumped (meter swapped, register rewritten): the normalizer rebases on it and
 *   the interval across the jump becomes unknown.
 *
 * Every liter is accounted for in the state's {@link MeterLedger}; see {@link reconcileMeter}.
 */
export interface NormalizerParams {
  localTime: LocalTime;
  maxGapMs: number;
  maxFlowLitersPerHour: number;
  resetNearZeroLiters: number;
  rolloverLiters: number | null;
}

/**
 * Where the register's movement went, cumulatively since the meter's first reading (or since a checkpoint
 * written before the ledger existed). With `open` the liters of the bucket being filled:
 *
 *   lastTotal − firstTotal = knownLiters + strandedLiters + gapLiters + jumpLiters + open
 *
 * Readings that are not adopted (duplicate, late, a glitch that reverts, a pending candidate) move nothing.
 */
export interface MeterLedger {
  /** Register of the first reading: where the account starts. */
  firstTotal: number | null;
  /** Liters in known buckets, as emitted (rounded to 0.001 L; the rounding remainder carries to the next bucket). */
  knownLiters: number;
  /** Liters spread into buckets that then closed unknown (first partial bucket, the bucket a gap or jump starts in). */
  strandedLiters: number;
  /** Register differences across gaps (and across a reset or rollover after a gap): used, not attributable to buckets. */
  gapLiters: number;
  /**
   * Register movements that are not water use: a rebase adds its jump (+ or −), a reset adds
   * −(register before the reset), a rollover adds −rolloverLiters.
   */
  jumpLiters: number;
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
  /** Absent only in checkpoints written before it existed. */
  ledger?: MeterLedger;
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
    ledger: emptyLedger(null),
  };
}

function emptyLedger(firstTotal: number | null): MeterLedger {
  return { firstTotal, knownLiters: 0, strandedLiters: 0, gapLiters: 0, jumpLiters: 0 };
}

/** A meter's account: the register's movement against where it went; `residual` is ~0 (floating point). */
export function reconcileMeter(state: MeterState): {
  registerLiters: number;
  accountedLiters: number;
  openLiters: number;
  residual: number;
} {
  const l = state.ledger ?? emptyLedger(state.lastTs === null ? null : state.lastTotal - state.bucketLiters);
  const registerLiters = l.firstTotal === null ? 0 : state.lastTotal - l.firstTotal;
  const openLiters = state.lastTs === null ? 0 : state.bucketLiters;
  const accountedLiters = l.knownLiters + l.strandedLiters + l.gapLiters + l.jumpLiters + openLiters;
  return { registerLiters, accountedLiters, openLiters, residual: registerLiters - accountedLiters };
}

type Verdict =
  | { ok: true; usage: number; jump: number; gap: boolean; kind: 'accepted' | 'reset' | 'rollover' }
  | { ok: false; kind: 'glitch-flow' | 'glitch-drop'; diff: number };

/** Judges the step from (ts0, total0) to (ts1, total1). `jump` is the register movement that is not usage. */
function judge(ts0: number, total0: number, ts1: number, total1: number, p: NormalizerParams): Verdict {
  let diff = total1 - total0;
  let jump = 0;
  let kind: 'accepted' | 'reset' | 'rollover' = 'accepted';
  if (diff < 0) {
    const r = p.rolloverLiters;
    if (r !== null && total0 >= r * 0.9 && total0 <= r && total1 <= r * 0.1) {
      diff = r - total0 + total1;
      jump = -r;
      kind = 'rollover';
    } else if (total1 <= p.resetNearZeroLiters) {
      diff = total1;
      jump = -total0;
      kind = 'reset';
    } else {
      return { ok: false, kind: 'glitch-drop', diff };
    }
  }
  const hours = (ts1 - ts0) / 3_600_000;
  if (diff / hours > p.maxFlowLitersPerHour) return { ok: false, kind: 'glitch-flow', diff };
  return { ok: true, usage: diff, jump, gap: ts1 - ts0 > p.maxGapMs, kind };
}

export function normalize(
  prev: MeterState,
  reading: { ts: number; totalLiters: number },
  p: NormalizerParams,
): NormalizerOutput {
  const state: MeterState = { ...prev };
  if (prev.ledger) state.ledger = { ...prev.ledger };
  return advance(state, reading, p);
}

/**
 * `normalize` that moves the state it is given instead of a copy (`out.state` is `state`): for the owner of a
 * meter's state, such as the usage stage, which replaced it with the copy anyway. The copy and its ledger's
 * were two objects and a number box per field for every reading.
 */
export function advance(
  state: MeterState,
  reading: { ts: number; totalLiters: number },
  p: NormalizerParams,
): NormalizerOutput {
  const { ts, totalLiters: total } = reading;
  const ledger = (state.ledger ??= emptyLedger(
    state.lastTs === null ? null : state.lastTotal - state.bucketLiters,
  ));
  const buckets: ClosedBucket[] = [];

  // Fields are set one by one below (not Object.assign of a literal): this runs for every reading.
  if (state.lastTs === null) {
    const start = p.localTime.bucketStart(ts);
    state.lastTs = ts;
    state.lastTotal = total;
    state.bucketStart = start;
    state.bucketLiters = 0;
    state.bucketKnown = ts === start;
    ledger.firstTotal = total;
    return { state, buckets, event: { kind: 'accepted', detail: { first: 1 } } };
  }
  if (ts === state.lastTs)
    return { state, buckets, event: { kind: 'duplicate', detail: { totalLiters: total } } };
  if (ts < state.lastTs) {
    return { state, buckets, event: { kind: 'late', detail: { lastTs: state.lastTs, totalLiters: total } } };
  }

  const verdict = judge(state.lastTs, state.lastTotal, ts, total, p);
  if (verdict.ok) {
    const detail = adopt(state, state.lastTs, ts, verdict, p, buckets);
    if (verdict.kind !== 'accepted') detail.fromLiters = state.lastTotal;
    const kind = verdict.kind === 'accepted' && verdict.gap ? 'gap' : verdict.kind;
    adopted(state, ts, total);
    return { state, buckets, event: { kind, detail } };
  }

  if (state.candidateTs !== null && ts > state.candidateTs) {
    const fromCandidate = judge(state.candidateTs, state.candidateTotal, ts, total, p);
    if (fromCandidate.ok) {
      const jump = state.candidateTotal - state.lastTotal;
      spread(state, state.lastTs, state.candidateTs, null, p, buckets);
      ledger.jumpLiters += jump;
      const after = adopt(state, state.candidateTs, ts, fromCandidate, p, buckets);
      const detail = { ...after, jumpLiters: jump, fromTs: state.lastTs, toTs: state.candidateTs };
      adopted(state, ts, total);
      return { state, buckets, event: { kind: 'rebase', detail } };
    }
  }
  state.candidateTs = ts;
  state.candidateTotal = total;
  return {
    state,
    buckets,
    event: { kind: verdict.kind, detail: { diffLiters: verdict.diff, totalLiters: total } },
  };
}

/** The reading at `ts` is the meter's last; no candidate is pending. */
function adopted(state: MeterState, ts: number, total: number): void {
  state.lastTs = ts;
  state.lastTotal = total;
  state.candidateTs = null;
  state.candidateTotal = 0;
}

/** Books an adopted step [a, b): usage spread over buckets (or, across a gap, a gap total) and its jump. */
function adopt(
  state: MeterState,
  a: number,
  b: number,
  v: Extract<Verdict, { ok: true }>,
  p: NormalizerParams,
  out: ClosedBucket[],
): Record<string, number | null> {
  const ledger = state.ledger!;
  spread(state, a, b, v.gap ? null : v.usage, p, out);
  if (v.gap) ledger.gapLiters += v.usage;
  ledger.jumpLiters += v.jump;
  const detail: Record<string, number | null> = { liters: v.usage };
  if (v.gap) detail.gapMinutes = Math.round((b - a) / 60_000);
  return detail;
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
  const ledger = state.ledger!;
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
      // A carried remainder can leave a bucket without use a hair below zero: it is 0, the remainder carries on.
      const liters = known ? Math.max(0, round(state.bucketLiters)) : null;
      if (liters === null) ledger.strandedLiters += state.bucketLiters;
      else ledger.knownLiters += liters;
      if (known || emittedUnknown < MAX_GAP_BUCKETS || end + p.localTime.bucketMs > b) {
        out.push({ start, end, liters, strandedLiters: known ? 0 : state.bucketLiters });
        if (!known) emittedUnknown++;
      }
      state.bucketStart = end;
      // The rounding remainder of a known bucket carries over, so that emitted buckets add up exactly.
      state.bucketLiters = liters === null ? 0 : state.bucketLiters - liters;
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

/** Liters to 0.001 L; never −0. */
function round(v: number): number {
  return Math.round(v * 1000) / 1000 + 0;
}
