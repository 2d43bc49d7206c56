import type { NormalizerEventKind } from '../core/streams.ts';
import {
  initialMeterState,
  normalize,
  reconcileMeter,
  type ClosedBucket,
  type MeterState,
  type NormalizerParams,
} from '../ingest/normalizer.ts';
import type { IngestCounters } from '../ingest/usage-stage.ts';
import type { RecordedReadings } from '../simulators/recorded-readings.ts';

/** What the normalizer made of one row of a recording. */
export interface RowOutcome {
  line: number;
  ts: number;
  totalLiters: number;
  kind: NormalizerEventKind;
  detail: Record<string, number | string | null>;
}

export interface MeterAccount {
  meterId: string;
  state: MeterState;
  counters: IngestCounters;
  buckets: ClosedBucket[];
  rows: RowOutcome[];
  /** Register movement minus where it went (ledger); ~0. */
  residual: number;
}

/** Event kinds that adopt the reading as the meter's new reference register. */
export const ADOPTING: ReadonlySet<NormalizerEventKind> = new Set([
  'accepted',
  'gap',
  'reset',
  'rollover',
  'rebase',
]);

export function emptyCounters(): IngestCounters {
  return {
    accepted: 0,
    duplicate: 0,
    late: 0,
    'glitch-flow': 0,
    'glitch-drop': 0,
    reset: 0,
    rollover: 0,
    rebase: 0,
    gap: 0,
  };
}

/**
 * Runs every meter of a recording through the normalizer, in each meter's file order (the order a replay
 * sends them, and so the order the service processes them): a pure, in-memory mirror of what the service's
 * ingest does with the same readings. Used to check a recording's accounting and, for a replay into a running
 * service, to classify the acknowledged readings.
 */
export function normalizeRecording(
  recording: RecordedReadings,
  params: NormalizerParams,
  opts: { keepBuckets?: boolean; keepRows?: boolean } = {},
): Map<string, MeterAccount> {
  const out = new Map<string, MeterAccount>();
  for (const [meterId, readings] of recording.meters) {
    let state = initialMeterState();
    const counters = emptyCounters();
    const buckets: ClosedBucket[] = [];
    const rows: RowOutcome[] = [];
    for (const r of readings) {
      const res = normalize(state, r, params);
      state = res.state;
      counters[res.event.kind]++;
      if (opts.keepBuckets) for (const b of res.buckets) buckets.push(b);
      if (opts.keepRows) rows.push({ line: r.line, ts: r.ts, totalLiters: r.totalLiters, ...res.event });
    }
    out.set(meterId, { meterId, state, counters, buckets, rows, residual: reconcileMeter(state).residual });
  }
  return out;
}

/** Adds up counters. */
export function sumCounters(list: Iterable<IngestCounters>): IngestCounters {
  const total = emptyCounters();
  for (const c of list) for (const k of Object.keys(total) as NormalizerEventKind[]) total[k] += c[k];
  return total;
}
