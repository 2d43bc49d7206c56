import type { Store } from '../core/store/store.ts';
import type { AcceptedReading, DetectorInput, NormalizerEventKind } from '../core/streams.ts';
import { initialMeterState, normalize, type MeterState, type NormalizerParams } from './normalizer.ts';

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
    private readonly store: Store,
    private readonly params: NormalizerParams,
    private readonly emit: (input: DetectorInput) => void,
  ) {}

  /**
   * Restores the cursor from the last checkpoint. Meter states stay in the store until a meter is first heard
   * from (lazy: a million meters' states are not parsed before the service starts).
   */
  load(): void {
    this.cursor = this.store.checkpoints.cursor();
  }

  /** Processes committed readings; `verdicts`, when given, is told what each reading (by `seq`) did. */
  process(readings: AcceptedReading[], verdicts?: Map<number, NormalizerEventKind>): void {
    this.store.transaction(() => {
      for (const r of readings) {
        if (r.seq <= this.cursor) continue;
        const prev = this.meterState(r.meterId) ?? initialMeterState();
        const out = normalize(prev, r, this.params);
        this.states.set(r.meterId, out.state);
        this.dirty.add(r.meterId);
        this.cursor = r.seq;
        this.counters[out.event.kind]++;
        verdicts?.set(r.seq, out.event.kind);
        if (!QUIET_EVENTS.has(out.event.kind)) {
          this.store.checkpoints.addMeterEvent({
            meterId: r.meterId,
            householdId: r.householdId,
            kind: out.event.kind,
            ts: r.ts,
            detail: out.event.detail,
          });
        }
        for (const b of out.buckets) {
          const bucket = { householdId: r.householdId, start: b.start, end: b.end, liters: b.liters };
          this.store.usage.upsert(bucket);
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
    });
  }

  /** Writes the meter states changed since the last checkpoint (call inside the checkpoint transaction). */
  writeCheckpoint(): void {
    for (const id of this.dirty) this.store.checkpoints.saveMeterState(id, this.states.get(id));
    this.dirty.clear();
  }

  /** The meter's state: in memory once it was heard from, else as last checkpointed (undefined: none). */
  meterState(meterId: string): MeterState | undefined {
    let state = this.states.get(meterId);
    if (state === undefined) {
      state = this.store.checkpoints.meterState(meterId) as MeterState | undefined;
      if (state !== undefined) this.states.set(meterId, state);
    }
    return state;
  }
}
