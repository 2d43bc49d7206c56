import { close, fsync, fsyncSync, openSync } from 'node:fs';
import type { Store } from '../core/store/store.ts';
import type { NormalizerEvent, UsageBucket } from '../core/streams.ts';
import { InboxThread } from './inbox-thread.ts';
import type {
  DeferredSync,
  EmbeddedUnitOfWork,
  InboxRow,
  InboxSubmission,
  InboxCommitter,
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
  private relaxed: { run(): unknown } | undefined;
  private full: { run(): unknown } | undefined;
  private deferred: DeferredSync | null | undefined;

  /** `relaxDerivedWrites`: the store runs with synchronous=FULL (see `derivedWrites`). */
  constructor(
    private readonly t: IngestTables,
    private readonly relaxDerivedWrites = false,
  ) {}

  commit(submissions: readonly InboxSubmission[]): number[] {
    const { inbox, deadLetters } = this.t;
    const seqs: number[] = [];
    this.atomically(() => {
      inbox.appendAll(submissions, seqs);
      for (const s of submissions) for (const d of s.deadLetters) deadLetters.add(d);
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
      usage.upsertAll(out.buckets);
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
    (this.relaxed ??= db.prepare('PRAGMA synchronous = NORMAL')).run();
    try {
      return fn();
    } finally {
      (this.full ??= db.prepare('PRAGMA synchronous = FULL')).run();
    }
  }

  /**
   * A WAL file lets a second connection write while this one reads: the inbox commits move to a thread of their
   * own (with the store's durability: see InboxThread), and what derives from them stays on this connection.
   */
  writerThread(onFailure: (err: Error) => void): InboxCommitter | undefined {
    const db = this.t.db;
    if (db.memory || String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal')
      return undefined;
    return new InboxThread(db.name, this.relaxDerivedWrites, onFailure);
  }

  /**
   * With synchronous=FULL on a WAL file: the inbox commit is written with synchronous=NORMAL (into the WAL, no
   * fsync: it survives a crash of the process, as the operating system holds it) and `sync` fsyncs the WAL
   * file on the runtime's thread pool, which is what FULL would have done inside the commit, on the main
   * thread. A commit covered by a completed `sync` is as durable as one made with FULL: the WAL is replayed as
   * a prefix, and checkpoints sync the WAL before they copy it, as in any mode.
   */
  deferredSync(): DeferredSync | undefined {
    if (this.deferred !== undefined) return this.deferred ?? undefined;
    const db = this.t.db;
    const walFile = `${db.name}-wal`;
    if (
      !this.relaxDerivedWrites ||
      db.memory ||
      String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal'
    ) {
      this.deferred = null;
      return undefined;
    }
    let fd: number | undefined;
    let inFlight = 0;
    let released = false;
    const walFd = () => (fd ??= openSync(walFile, 'r'));
    const closeIfIdle = () => {
      if (!released || inFlight > 0 || fd === undefined) return;
      const f = fd;
      fd = undefined;
      close(f, () => undefined);
    };
    this.deferred = {
      commitWithoutSync: (submissions) => this.derivedWrites(() => this.commit(submissions)),
      sync(done) {
        let f: number;
        try {
          f = walFd();
        } catch (err) {
          done(err as Error);
          return;
        }
        inFlight++;
        fsync(f, (err) => {
          inFlight--;
          closeIfIdle();
          done(err);
        });
      },
      syncNow() {
        fsyncSync(walFd());
      },
      release() {
        released = true;
        closeIfIdle();
      },
    };
    return this.deferred;
  }
}
