import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { AcceptedReading } from '../core/streams.ts';
import type { DeferredSync, InboxCommitter, IngestRepository, NewDeadLetter } from './repository.ts';

export interface Submission {
  meterId: string;
  householdId: string;
  readings: readonly { ts: number; totalLiters: number }[];
  deadLetters: readonly NewDeadLetter[];
}

/**
 * Called once the submission is committed (null, with the inbox sequence numbers of its readings in order) or
 * its commit failed (nothing of it was stored).
 */
export type Committed = (err: Error | null, seqs?: readonly number[]) => void;

interface PendingSubmission extends Submission {
  receivedAt: number;
  seqs: number[];
  /** performance.now() when submitted. */
  submittedAt: number;
  done: Committed;
}

/** A group commit that is in the inbox and waits for its fsync before it is processed and acknowledged. */
interface CommittedBatch {
  submissions: PendingSubmission[];
  /** Readings committed. */
  readings: number;
  /** performance.now() when its commit started. */
  commitStarted: number;
}

export interface InboxWriterOptions {
  commitMaxDelayMs: number;
  commitMaxReadings: number;
  /** Told the duration of each group commit, in seconds. */
  onCommitSeconds?: (seconds: number) => void;
  /**
   * The commit's fsync off the main thread (the embedded store with synchronous=FULL): group commits are then
   * written at once and fsynced together while the event loop takes the next readings; each is processed and
   * acknowledged, in commit order, once an fsync that started after it has completed. Submissions arriving
   * during an fsync are committed together when it completes (they could not be acknowledged earlier).
   */
  deferredSync?: DeferredSync;
  /**
   * The commit (and its fsync) on the writer thread: the main thread only hands each group commit over. One
   * commit is with the thread at a time; submissions arriving meanwhile are committed together once it is
   * answered, after it was processed, so that the thread never writes while this thread's processing does.
   */
  committer?: InboxCommitter;
}

/**
 * The committed readings as processing takes them, made only once their commit is to be processed: made at the
 * commit, they lived through its fsync and were copied by the garbage collector with everything else in flight.
 */
function accepted(batch: readonly PendingSubmission[]): AcceptedReading[] {
  const out: AcceptedReading[] = [];
  for (const s of batch) {
    const { meterId, householdId, receivedAt } = s;
    for (let k = 0; k < s.readings.length; k++) {
      const r = s.readings[k]!;
      out.push({ seq: s.seqs[k]!, meterId, householdId, ts: r.ts, totalLiters: r.totalLiters, receivedAt });
    }
  }
  return out;
}

/**
 * Group commit: submissions arriving close together share one SQLite transaction. After the commit (and its
 * fsync) the readings are processed (`onCommitted`), then each submitter is told (the broker releases the
 * PUBACK then): an acknowledged reading is durably stored, and has been through the normalizer and the
 * detectors. Commits are processed and acknowledged in the order they were made.
 */
export class InboxWriter {
  private pending: PendingSubmission[] = [];
  /** Committed, waiting for the next fsync to start. */
  private unsynced: CommittedBatch[] = [];
  /** Committed and covered by the fsync in flight (null: none in flight). */
  private syncing: CommittedBatch[] | null = null;
  /** Handed to the writer thread, not answered yet. */
  private inThread = false;
  private lastFailure: Error | undefined;
  private pendingReadings = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  committedReadings = 0;
  commits = 0;
  /**
   * While committed readings are processed: performance.now() when the oldest submission of the batch arrived
   * (what the detectors see then was caused by it); undefined otherwise.
   */
  processingSince: number | undefined;

  constructor(
    private readonly repo: IngestRepository,
    private readonly clock: Clock,
    private readonly opts: InboxWriterOptions,
    private readonly logger: Logger,
    private readonly onCommitted: (readings: AcceptedReading[]) => void,
  ) {}

  /** Queues a submission for the next group commit; `done` runs after it. */
  submit(s: Submission, done: Committed): void {
    if (this.closed) {
      done(new Error('inbox is closed'));
      return;
    }
    this.pending.push({
      meterId: s.meterId,
      householdId: s.householdId,
      readings: s.readings,
      deadLetters: s.deadLetters,
      receivedAt: this.clock.now(),
      submittedAt: performance.now(),
      seqs: [],
      done,
    });
    this.pendingReadings += s.readings.length;
    if (this.pendingReadings >= this.opts.commitMaxReadings) this.flush();
    // While an fsync is in flight, its completion commits what arrived meanwhile (one commit, not one per delay).
    else if (!this.timer && !this.syncing && !this.inThread) {
      this.timer =
        this.opts.commitMaxDelayMs === 0
          ? setImmediate(() => this.flush())
          : setTimeout(() => this.flush(), this.opts.commitMaxDelayMs);
    }
  }

  /** Commits everything pending now (processing and acknowledgements follow the commit's fsync). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.pending;
    if (batch.length === 0 || this.inThread) return;
    this.pending = [];
    this.pendingReadings = 0;
    const commitStarted = performance.now();
    if (this.opts.committer) return this.commitInThread(this.opts.committer, batch, commitStarted);
    const deferred = this.opts.deferredSync;
    let seqs: number[];
    try {
      seqs = deferred ? deferred.commitWithoutSync(batch) : this.repo.commit(batch);
    } catch (err) {
      this.failed(batch, err as Error);
      return;
    }
    const committed = this.committed(batch, seqs, commitStarted);
    if (!deferred) {
      this.opts.onCommitSeconds?.((performance.now() - commitStarted) / 1000);
      return this.settle(committed, null);
    }
    this.unsynced.push(committed);
    this.startSync(deferred);
  }

  private commitInThread(committer: InboxCommitter, batch: PendingSubmission[], commitStarted: number): void {
    this.inThread = true;
    committer.commit(batch, (err, seqs) => {
      this.inThread = false;
      if (!seqs) this.failed(batch, err!);
      else {
        if (err) this.logger.error({ err }, 'inbox fsync failed; readings not acknowledged');
        this.opts.onCommitSeconds?.((performance.now() - commitStarted) / 1000);
        this.settle(this.committed(batch, seqs, commitStarted), err);
      }
      // What arrived meanwhile waited for this answer: committed now, in one transaction (close() drains it).
      if (this.pending.length > 0) this.flush();
    });
  }

  private failed(batch: PendingSubmission[], err: Error): void {
    // A failed writer thread refuses every later commit with the same error: logged once, not once a commit.
    if (err !== this.lastFailure)
      this.logger.error({ err, submissions: batch.length }, 'inbox commit failed; readings not acknowledged');
    this.lastFailure = err;
    for (const s of batch) s.done(err);
  }

  /** The committed batch, its readings numbered by the inbox in submission and reading order. */
  private committed(
    batch: PendingSubmission[],
    seqs: ArrayLike<number>,
    commitStarted: number,
  ): CommittedBatch {
    let i = 0;
    for (const s of batch) {
      s.seqs.length = 0;
      for (let k = 0; k < s.readings.length; k++) s.seqs.push(seqs[i++]!);
    }
    this.commits++;
    this.committedReadings += i;
    return { submissions: batch, readings: i, commitStarted };
  }

  /** One fsync at a time; it covers every commit made before it started. */
  private startSync(deferred: DeferredSync): void {
    if (this.syncing || this.unsynced.length === 0) return;
    const covered = this.unsynced;
    this.unsynced = [];
    this.syncing = covered;
    deferred.sync((err) => {
      // close() settled them already, with a blocking fsync.
      if (this.syncing !== covered) return;
      this.syncing = null;
      if (err) this.logger.error({ err }, 'inbox fsync failed; readings not acknowledged');
      const synced = performance.now();
      // A commit's duration includes its fsync, as with one made with synchronous=FULL.
      for (const c of covered) this.opts.onCommitSeconds?.((synced - c.commitStarted) / 1000);
      for (const c of covered) this.settle(c, err);
      if (this.closed) return;
      // What arrived during the fsync waited for it anyway: committed now, in one transaction.
      if (this.pending.length > 0) this.flush();
      else this.startSync(deferred);
    });
  }

  /**
   * Processes a committed batch and tells its submitters. After a failed fsync the readings are in the inbox
   * (processing follows what it holds) but are not acknowledged: the meters send them again (duplicates).
   */
  private settle(c: CommittedBatch, err: Error | null): void {
    if (c.readings > 0) {
      this.processingSince = c.submissions[0]!.submittedAt;
      try {
        this.onCommitted(accepted(c.submissions));
      } catch (e) {
        // The readings are safe in the inbox; a restart re-processes them from the last checkpoint.
        this.logger.error({ err: e }, 'processing failed after commit');
      } finally {
        this.processingSince = undefined;
      }
    }
    for (const s of c.submissions) {
      if (err) s.done(err);
      else s.done(null, s.seqs);
    }
  }

  /** Commits what is pending and settles every commit (a blocking fsync for those still waiting for one). */
  close(): void {
    this.flush();
    this.closed = true;
    if (this.opts.committer) {
      // Answers settle their batches here, synchronously; each flushes what waited for it, drained in turn.
      this.opts.committer.drain();
      this.opts.committer.release();
      return;
    }
    const deferred = this.opts.deferredSync;
    if (!deferred) return;
    const waiting = [...(this.syncing ?? []), ...this.unsynced];
    this.syncing = null;
    this.unsynced = [];
    if (waiting.length > 0) {
      let err: Error | null = null;
      try {
        deferred.syncNow();
      } catch (e) {
        err = e as Error;
        this.logger.error({ err }, 'inbox fsync failed; readings not acknowledged');
      }
      for (const c of waiting) this.settle(c, err);
    }
    deferred.release();
  }
}
