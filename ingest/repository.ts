import type { Io, Mode } from '../core/repository.ts';
import type { DeadLetter } from '../core/store/dead-letter-repo.ts';
import type { NormalizerEvent, UsageBucket } from '../core/streams.ts';

/** A reading as the durable inbox holds it; `seq` orders the inbox. */
export interface InboxRow {
  seq: number;
  meterId: string;
  ts: number;
  totalLiters: number;
  receivedAt: number;
}

/** Input rejected with its reason, kept so that nothing is silently dropped. */
export type NewDeadLetter = Omit<DeadLetter, 'id'>;

/** One payload's accepted readings and rejections, committed together. */
export interface InboxSubmission {
  meterId: string;
  receivedAt: number;
  readings: readonly { ts: number; totalLiters: number }[];
  deadLetters: readonly NewDeadLetter[];
}

/** What processing committed readings produced: closed buckets and notable meter events (both idempotent). */
export interface ProcessedOutput {
  buckets: readonly UsageBucket[];
  events: readonly NormalizerEvent[];
}

/**
 * Everything ingest keeps: the inbox, dead letters, usage buckets, meter events, the inbox cursor and each
 * meter's normalizer state. `M` is 'sync' for the embedded SQLite store, 'async' for PostgreSQL.
 */
export interface IngestRepository<M extends Mode = 'sync'> {
  /**
   * Appends the submissions' readings and dead letters atomically (all or nothing: an acknowledgement follows
   * this commit); returns the readings' inbox sequence numbers, in submission and reading order.
   */
  commit(submissions: readonly InboxSubmission[]): Io<M, number[]>;
  /** Records input rejected before it reached a submission (unknown meter, oversize packet, forbidden topic). */
  addDeadLetter(d: NewDeadLetter): Io<M, void>;
  /** Dead letters by reason code, optionally of one meter. */
  deadLetterCounts(filter?: { meterId?: string }): Io<M, Record<string, number>>;
  /** Inbox rows after `seq`, in order, at most `limit` (recovery re-processes from the cursor with this). */
  readingsAfter(seq: number, limit: number): Io<M, InboxRow[]>;
  /** A meter's stored readings between two times (inclusive): `ts` → the register values stored at it (dedupe). */
  storedReadings(meterId: string, fromTs: number, toTs: number): Io<M, Map<number, number[]>>;
  /** The newest inbox sequence number (0: empty). */
  maxSeq(): Io<M, number>;
  /** Arrival time of the newest reading (0: empty). */
  lastReceivedAt(): Io<M, number>;

  /** Writes buckets (upsert by household and start) and meter events (once per meter, time and kind). */
  saveProcessed(out: ProcessedOutput): Io<M, void>;
  /** A household's buckets starting in [from, to), by start. */
  usageRange(householdId: string, from: number, to: number): Io<M, UsageBucket[]>;
  /** A meter's notable events, in the order they were first written. */
  meterEvents(meterId: string): Io<M, NormalizerEvent[]>;

  /** The inbox sequence number processed up to at the last checkpoint (0: none). */
  cursor(): Io<M, number>;
  /** One meter's checkpointed normalizer state (undefined: none). */
  meterState(meterId: string): Io<M, unknown>;
  /** Saves the cursor with the meter states changed since the last checkpoint, atomically. */
  saveCheckpoint(cursor: number, meterStates: Iterable<readonly [string, unknown]>): Io<M, void>;
}

/**
 * What only the embedded store offers besides its repository: a synchronous unit of work that the detectors'
 * and notifier's writes join (the group commit's processing is one transaction), and a scope for writes that
 * derive from the inbox and may skip their own fsync (they are recomputed from the inbox after a power loss).
 */
export interface EmbeddedUnitOfWork {
  transaction<T>(fn: () => T): T;
  derivedWrites<T>(fn: () => T): T;
  /**
   * The inbox commit split from its fsync, when the store can do that (a WAL file with synchronous=FULL):
   * the commit then does not hold the event loop while the disk flushes.
   */
  deferredSync?(): DeferredSync | undefined;
  /**
   * The inbox commit on a thread of its own (a store file in WAL mode), with the fsync when the store runs with
   * synchronous=FULL; undefined when the store cannot do that (in memory). Told when that thread fails.
   */
  writerThread?(onFailure: (err: Error) => void): InboxCommitter | undefined;
}

/**
 * Commits submissions off the main thread, in the order they are handed over. `done` is called on the main
 * thread: with the readings' inbox sequence numbers once the commit is durable (err null); with an error and
 * the sequence numbers when the commit was made but its fsync failed (stored, not yet durable: process, do not
 * acknowledge); with an error alone when nothing of it was stored.
 */
export interface InboxCommitter {
  commit(submissions: readonly InboxSubmission[], done: ThreadCommitted): void;
  /** Blocks until every commit handed over has been answered and its `done` has run (for shutdown). */
  drain(): void;
  /** Ends the thread (after `drain`). */
  release(): void;
}

export type ThreadCommitted = (err: Error | null, seqs?: ArrayLike<number>) => void;

/**
 * A commit whose fsync runs off the main thread. Whoever acknowledges must wait for `sync`'s callback: until
 * then the commit is visible and survives a crash of the process, but not yet a power loss.
 */
export interface DeferredSync {
  /** As `IngestRepository.commit`, without waiting for the disk. */
  commitWithoutSync(submissions: readonly InboxSubmission[]): number[];
  /** Flushes every commit made so far to disk (on a worker thread of the runtime); `done` runs after. */
  sync(done: (err: Error | null) => void): void;
  /** `sync`, blocking (for shutdown). */
  syncNow(): void;
  /** Lets go of what `sync` holds open. */
  release(): void;
}

/** The meters ingest accepts readings from (the registry owns them). */
export interface MeterDirectory {
  /** Changes whenever meter assignments may have changed. */
  revision(): string;
  meter(meterId: string): { householdId: string; active: boolean } | undefined;
}
