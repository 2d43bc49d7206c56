import type {
  AcceptedReading,
  DetectorInput,
  NormalizerEvent,
  NormalizerEventKind,
  UsageBucket,
} from '../core/streams.ts';
import { advance, initialMeterState, type MeterState, type NormalizerParams } from './normalizer.ts';
import type { EmbeddedUnitOfWork, IngestRepository } from './repository.ts';

const QUIET_EVENTS = new Set<NormalizerEventKind>(['accepted', 'duplicate']);

export type IngestCounters = Record<NormalizerEventKind, number>;

/**
 * Runs committed readings through each meter's normalizer, stores the closed buckets and the notable
 * meter events (idempotent writes), and emits detector inputs. Meter state is checkpointed by the caller.
 */
export class UsageStage {
  private readonly states = new Map<string, MeterState>();
  private readonly dirty = new Set<string>();
  /** Inbox sequence number of the last reading processed. */
  cursor = 0;
  readonly counters: IngestCounters = {
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

  constructor(
    private readonly repo: Pick<
      IngestRepository,
      'cursor' | 'meterState' | 'saveProcessed' | 'saveCheckpoint'
    > &
      Pick<EmbeddedUnitOfWork, 'transaction'>,
    private readonly params: NormalizerParams,
    private readonly emit: (input: DetectorInput) => void,
  ) {}

  /**
   * Restores the cursor from the last checkpoint. Meter states stay in the store until a meter is first heard
   * from (lazy: a million meters' states are not parsed before the service starts).
   */
  load(): void {
    this.cursor = this.repo.cursor();
  }

  /** Processes committed readings; `verdicts`, when given, is told what each reading (by `seq`) did. */
  process(readings: AcceptedReading[], verdicts?: Map<number, NormalizerEventKind>): void {
    // One transaction: the buckets and events below, and what the detectors write while they take the inputs.
    this.repo.transaction(() => {
      const events: NormalizerEvent[] = [];
      const buckets: UsageBucket[] = [];
      for (const r of readings) {
        if (r.seq <= this.cursor) continue;
        let state = this.meterState(r.meterId);
        if (state === undefined) this.states.set(r.meterId, (state = initialMeterState()));
        // The stage owns its meters' states: each moves in place (see advance).
        const out = advance(state, r, this.params);
        this.dirty.add(r.meterId);
        this.cursor = r.seq;
        this.counters[out.event.kind]++;
        verdicts?.set(r.seq, out.event.kind);
        if (!QUIET_EVENTS.has(out.event.kind)) {
          events.push({
            meterId: r.meterId,
            householdId: r.householdId,
            kind: out.event.kind,
            ts: r.ts,
            detail: out.event.detail,
          });
        }
        for (const b of out.buckets) {
          const bucket = { householdId: r.householdId, start: b.start, end: b.end, liters: b.liters };
          buckets.push(bucket);
          this.emit({ kind: 'bucket', bucket });
        }
        this.emit({
          kind: 'reading',
          householdId: r.householdId,
          meterId: r.meterId,
          ts: r.ts,
          receivedAt: r.receivedAt,
        });
      }
      if (events.length > 0 || buckets.length > 0) this.repo.saveProcessed({ events, buckets });
    });
  }

  /** Saves the cursor with the meter states changed since the last checkpoint (joins the caller's transaction). */
  writeCheckpoint(): void {
    this.repo.saveCheckpoint(
      this.cursor,
      [...this.dirty].map((id) => [id, this.states.get(id)] as const),
    );
    this.dirty.clear();
  }

  /** The meter's state: in memory once it was heard from, else as last checkpointed (undefined: none). */
  meterState(meterId: string): MeterState | undefined {
    let state = this.states.get(meterId);
    if (state === undefined) {
      state = this.repo.meterState(meterId) as MeterState | undefined;
      if (state !== undefined) this.states.set(meterId, state);
    }
    return state;
  }
}
