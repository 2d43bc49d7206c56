import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { DeadLetter } from '../core/store/dead-letter-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { AcceptedReading } from '../core/streams.ts';

interface PendingSubmission {
  meterId: string;
  householdId: string;
  readings: { ts: number; totalLiters: number }[];
  deadLetters: Omit<DeadLetter, 'id'>[];
  receivedAt: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface InboxWriterOptions {
  commitMaxDelayMs: number;
  commitMaxReadings: number;
}

/**
 * Group commit: submissions arriving close together share one SQLite transaction, and each submitter's
 * promise resolves only after that transaction committed (the broker releases the PUBACK then).
 */
export class InboxWriter {
  private pending: PendingSubmission[] = [];
  private pendingReadings = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  committedReadings = 0;
  commits = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly opts: InboxWriterOptions,
    private readonly logger: Logger,
    private readonly onCommitted: (readings: AcceptedReading[]) => void,
  ) {}

  submit(s: Omit<PendingSubmission, 'resolve' | 'reject' | 'receivedAt'>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('inbox is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...s, receivedAt: this.clock.now(), resolve, reject });
      this.pendingReadings += s.readings.length;
      if (this.pendingReadings >= this.opts.commitMaxReadings) this.flush();
      else if (!this.timer) {
        this.timer =
          this.opts.commitMaxDelayMs === 0
            ? setImmediate(() => this.flush())
            : setTimeout(() => this.flush(), this.opts.commitMaxDelayMs);
      }
    });
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
    try {
      this.store.transaction(() => {
        for (const s of batch) {
          for (const r of s.readings) {
            const seq = this.store.inbox.append(s.meterId, r.ts, r.totalLiters, s.receivedAt);
            accepted.push({
              seq,
              meterId: s.meterId,
              householdId: s.householdId,
              ts: r.ts,
              totalLiters: r.totalLiters,
              receivedAt: s.receivedAt,
            });
          }
          for (const d of s.deadLetters) this.store.deadLetters.add(d);
        }
      });
    } catch (err) {
      this.logger.error({ err, submissions: batch.length }, 'inbox commit failed; readings not acknowledged');
      for (const s of batch) s.reject(err as Error);
      return;
    }
    this.commits++;
    this.committedReadings += accepted.length;
    for (const s of batch) s.resolve();
    if (accepted.length > 0) this.onCommitted(accepted);
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}
