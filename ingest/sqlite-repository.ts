import type { Store } from '../core/store/store.ts';
import type { NormalizerEvent, UsageBucket } from '../core/streams.ts';
import type {
  EmbeddedUnitOfWork,
  InboxRow,
  InboxSubmission,
  IngestRepository,
  NewDeadLetter,
  ProcessedOutput,
} from './repository.ts';

/** The tables of the embedded store that ingest owns (the SQLite schema is migrated with the store file). */
export type IngestTables = Pick<
  Store,
  'db' | 'inbox' | 'usage' | 'deadLetters' | 'checkpoints' | 'transaction'
>;

/**
 * Ingest's repository on the embedded SQLite store: synchronous prepared statements, no promise on the hot path.
 * Nested transactions join the outer one, so a group commit's processing stays one transaction.
 */
export class SqliteIngestRepository implements IngestRepository<'sync'>, EmbeddedUnitOfWork {
  /** `relaxDerivedWrites`: the store runs with synchronous=FULL (see `derivedWrites`). */
  constructor(
    private readonly t: IngestTables,
    private readonly relaxDerivedWrites = false,
  ) {}

  commit(submissions: readonly InboxSubmission[]): number[] {
    const { inbox, deadLetters } = this.t;
    const seqs: number[] = [];
    this.atomically(() => {
      for (const s of submissions) {
        for (const r of s.readings) seqs.push(inbox.append(s.meterId, r.ts, r.totalLiters, s.receivedAt));
        for (const d of s.deadLetters) deadLetters.add(d);
      }
    });
    return seqs;
  }

  addDeadLetter(d: NewDeadLetter): void {
    this.t.deadLetters.add(d);
  }

  deadLetterCounts(filter: { meterId?: string } = {}): Record<string, number> {
    return this.t.deadLetters.countsByCode(filter.meterId === undefined ? {} : { meterId: filter.meterId });
  }

  readingsAfter(seq: number, limit: number): InboxRow[] {
    return this.t.inbox.after(seq, limit);
  }

  storedReadings(meterId: string, fromTs: number, toTs: number): Map<number, number[]> {
    return this.t.inbox.stored(meterId, fromTs, toTs);
  }

  maxSeq(): number {
    return this.t.inbox.maxSeq();
  }

  lastReceivedAt(): number {
    return this.t.inbox.lastReceivedAt();
  }

  saveProcessed(out: ProcessedOutput): void {
    const { usage, checkpoints } = this.t;
    this.atomically(() => {
      for (const e of out.events) checkpoints.addMeterEvent(e);
      for (const b of out.buckets) usage.upsert(b);
    });
  }

  usageRange(householdId: string, from: number, to: number): UsageBucket[] {
    return this.t.usage.range(householdId, from, to);
  }

  meterEvents(meterId: string): NormalizerEvent[] {
    return this.t.checkpoints.meterEvents(meterId);
  }

  cursor(): number {
    return this.t.checkpoints.cursor();
  }

  meterState(meterId: string): unknown {
    return this.t.checkpoints.meterState(meterId);
  }

  saveCheckpoint(cursor: number, meterStates: Iterable<readonly [string, unknown]>): void {
    const { checkpoints } = this.t;
    this.atomically(() => {
      for (const [id, state] of meterStates) checkpoints.saveMeterState(id, state);
      checkpoints.setCursor(cursor);
    });
  }

  transaction<T>(fn: () => T): T {
    return this.t.transaction(fn);
  }

  /** Inside the caller's transaction as it is (no savepoint on the hot path), else in a transaction of its own. */
  private atomically(fn: () => void): void {
    if (this.t.db.inTransaction) fn();
    else this.t.transaction(fn);
  }

  /**
   * With synchronous=FULL, writes that derive from the inbox (buckets, meter events, alerts raised on the way)
   * are committed without an fsync of their own and become durable with the next fsynced commit (the WAL is
   * replayed as a prefix); after a power loss they are recomputed from the inbox.
   */
  derivedWrites<T>(fn: () => T): T {
    if (!this.relaxDerivedWrites) return fn();
    const db = this.t.db;
    db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      db.pragma('synchronous = FULL');
    }
  }
}
