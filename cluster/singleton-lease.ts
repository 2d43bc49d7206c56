import type { Logger } from '../core/logger.ts';
import type { PgClient, PgPool } from '../core/postgres.ts';

/** What a lease runs while it is held. */
export interface LeasedJob {
  stop(): Promise<void>;
}

export interface SingletonLeaseOptions {
  /** The advisory lock's key (a bigint as text): one per job. */
  key: string;
  /** What the job is called in logs and metrics. */
  name: string;
  /** How often a worker without the lease tries to take it, and the holder checks its connection. */
  checkMs: number;
  logger: Logger;
}

/**
 * Runs a job on exactly one worker of the cluster at a time: the worker holding a session advisory lock on one
 * PostgreSQL connection. The others try again every `checkMs`; when the holder dies its connection closes, the
 * lock is freed and the next try of another worker takes the job over. A holder whose connection fails (or
 * stops answering) stops its job before the lock can be taken by another, as far as it can tell: a job must
 * still tolerate a short overlap (the archive's writes are idempotent and its cursor only moves forward).
 */
export class SingletonLease {
  private client: PgClient | undefined;
  private job: LeasedJob | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  private takenAt: number | undefined;

  constructor(
    private readonly pool: PgPool,
    private readonly start: () => Promise<LeasedJob>,
    private readonly opts: SingletonLeaseOptions,
  ) {}

  /** Starts trying (the first try at once). */
  begin(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.checkMs);
    this.timer.unref();
  }

  /** Whether this worker runs the job now. */
  held(): boolean {
    return this.job !== undefined;
  }

  /** Since when (epoch ms) this worker holds the lease; undefined when it does not. */
  heldSince(): number | undefined {
    return this.takenAt;
  }

  /** Stops the job (if held) and frees the lock for another worker. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    await this.release(undefined);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.client) await this.check();
      else await this.tryTake();
    } finally {
      this.busy = false;
    }
  }

  private async tryTake(): Promise<void> {
    let client: PgClient | undefined;
    try {
      client = await this.pool.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        this.opts.key,
      ]);
      if (!rows[0]!.ok) {
        client.release();
        return;
      }
    } catch (err) {
      client?.release(err instanceof Error ? err : true);
      this.opts.logger.debug({ err: errorText(err), job: this.opts.name }, 'lease try failed');
      return;
    }
    this.client = client;
    client.on('error', () => undefined); // reported by the next check
    try {
      this.job = await this.start();
      this.takenAt = Date.now();
      this.opts.logger.info({ job: this.opts.name }, 'this worker took the lease and runs the job');
    } catch (err) {
      this.opts.logger.error(
        { code: 'ERR_LEASED_JOB_FAILED', err: errorText(err), job: this.opts.name },
        'the leased job did not start; freeing the lease',
      );
      await this.release(err);
    }
  }

  /** The holder's connection must still answer; if it does not, the lock may be gone: stop the job. */
  private async check(): Promise<void> {
    const client = this.client!;
    try {
      await withTimeout(client.query('SELECT 1'), this.opts.checkMs);
    } catch (err) {
      this.opts.logger.warn(
        { code: 'ERR_LEASE_LOST', err: errorText(err), job: this.opts.name },
        'the lease connection failed; stopping the job',
      );
      await this.release(err);
    }
  }

  private async release(err: unknown): Promise<void> {
    const job = this.job;
    const client = this.client;
    this.job = undefined;
    this.takenAt = undefined;
    this.client = undefined;
    if (job) await job.stop().catch(() => undefined);
    if (!client) return;
    if (err === undefined) {
      await client.query('SELECT pg_advisory_unlock($1)', [this.opts.key]).catch(() => undefined);
      client.release();
    } else {
      client.release(err instanceof Error ? err : true); // destroyed: the server frees the lock with the session
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
