import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { AcceptedReading } from '../core/streams.ts';
import type { IngestRepository, NewDeadLetter } from './repository.ts';

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

export interface InboxWriterOptions {
  commitMaxDelayMs: number;
  commitMaxReadings: number;
  /** Told the duration of each group commit, in seconds. */
  onCommitSeconds?: (seconds: number) => void;
}

/**
 * Group commit: submissions arriving close together share one SQLite transaction. After the commit the
 * readings are processed (`onCommitted`), then each submitter is told (the broker releases the PUBACK then):
 * an acknowledged reading is stored, and has been through the normalizer and the detectors.
 */
export class InboxWriter {
  private pending: PendingSubmission[] = [];
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
    else if (!this.timer) {
      this.timer =
        this.opts.commitMaxDelayMs === 0
          ? setImmediate(() => this.flush())
          : setTimeout(() => this.flush(), this.opts.commitMaxDelayMs);
    }
  }

  /** Commits everything pending now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingReadings = 0;
    const accepted: AcceptedReading[] = [];
    const commitStarted = performance.now();
    let seqs: number[];
    try {
      seqs = this.repo.commit(batch);
    } catch (err) {
      this.logger.error({ err, submissions: batch.length }, 'inbox commit failed; readings not acknowledged');
      for (const s of batch) s.done(err as Error);
      return;
    }
    let i = 0;
    for (const s of batch) {
      s.seqs.length = 0;
      for (const r of s.readings) {
        const seq = seqs[i++]!;
        s.seqs.push(seq);
        accepted.push({
          seq,
          meterId: s.meterId,
          householdId: s.householdId,
          ts: r.ts,
          totalLiters: r.totalLiters,
          receivedAt: s.receivedAt,
        });
      }
    }
    this.opts.onCommitSeconds?.((performance.now() - commitStarted) / 1000);
    this.commits++;
    this.committedReadings += accepted.length;
    if (accepted.length > 0) {
      this.processingSince = batch[0]!.submittedAt;
      try {
        this.onCommitted(accepted);
      } catch (err) {
        // The readings are safe in the inbox; a restart re-processes them from the last checkpoint.
        this.logger.error({ err }, 'processing failed after commit');
      } finally {
        this.processingSince = undefined;
      }
    }
    for (const s of batch) s.done(null, s.seqs);
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}
