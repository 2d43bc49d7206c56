import { setLogger } from '@influxdata/influxdb-client';
import type { Observable } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Mode } from '../core/repository.ts';
import type { AcceptedReading } from '../core/streams.ts';
import { failureAction, failureStatus, InfluxWriter } from './influx-writer.ts';
import type { ArchiveBacklog, ArchiveCursor, ArchiveRepository } from './repository.ts';
import { Wakeup } from './wakeup.ts';

export interface ArchiveDeps {
  /** The cursor and the inbox it follows: the embedded store's (synchronous) or the shared store's. */
  repository: ArchiveRepository<Mode>;
  clock: Clock;
  logger: Logger;
  /** Committed readings (ingest's `readings`): wakes the archive; what it writes comes from the inbox. */
  readings?: Observable<AcceptedReading[]>;
}

export interface ArchiveStats {
  /** Inbox `seq` of the last reading written to the database. */
  cursor: number;
  /** Readings committed to the inbox but not yet written: the spool. */
  spoolReadings: number;
  /** Age of the oldest unwritten reading on the service clock (0 when the spool is empty). */
  lagSeconds: number;
  /** False while writes are failing (from the first failure to the next success). */
  up: boolean;
  consecutiveFailures: number;
  /** Since this process started. */
  writtenReadings: number;
  writes: number;
  writeFailures: number;
  rejectedBatches: number;
  lastError: string | null;
}

export interface Archive {
  stats(): ArchiveStats;
  /** Stops after the write in flight; if the database is up, writes what is left (bounded by the request timeout). */
  stop(): Promise<void>;
}

/** How often the backlog figures are refreshed when reading them is asynchronous (the shared store). */
const BACKLOG_REFRESH_MS = 1_000;

/** Idle re-check of the inbox, for rows that arrive without a `readings` signal. */
const IDLE_POLL_MS = 5_000;
const ERROR_CHARS = 500;

/**
 * The InfluxDB archive of raw readings. Its spool is the durable inbox: a cursor (checkpoint row
 * `archive-cursor`) follows the inbox in `seq` order and moves only after the database acknowledged a batch.
 * While the database is down, readings wait in the inbox and the archive retries with exponential backoff;
 * they drain in order when it returns, across restarts. Flush and retry timers are wall-clock (they pace
 * I/O); lag is measured on the service clock, like the readings' arrival times.
 */
export async function startArchive(config: Config, deps: ArchiveDeps): Promise<Archive> {
  const opts = config.archive;
  if (opts.url === null || opts.org === null || opts.bucket === null) {
    throw new CareflowError(
      'ERR_CONFIG_INVALID',
      'The archive needs archive.url, archive.org and archive.bucket',
    );
  }
  const { repository, clock } = deps;
  const logger = deps.logger.child({ module: 'archive' });
  const previousClientLogger = setLogger({
    error: (message, err) => logger.debug({ err, text: message }, 'influxdb client error'),
    warn: (message, err) => logger.debug({ err, text: message }, 'influxdb client warning'),
  });
  const writer = new InfluxWriter({
    url: opts.url,
    token: opts.token,
    org: opts.org,
    bucket: opts.bucket,
    batchReadings: opts.batchReadings,
    requestTimeoutMs: opts.requestTimeoutMs,
    gzipThresholdBytes: opts.gzipThresholdBytes,
  });
  const retryMaxMs = Math.max(opts.retryMinMs, opts.retryMaxMs);

  // From the first start on, inbox retention must keep what the archive has not written (pruneLimit).
  let cursor: ArchiveCursor = await repository.start();
  const initial = repository.backlog(cursor);
  const asyncStore = initial instanceof Promise;
  let backlogNow: ArchiveBacklog = await initial;
  const counters = { writtenReadings: 0, writes: 0, writeFailures: 0, rejectedBatches: 0 };
  let consecutiveFailures = 0;
  let failingSince: number | null = null;
  let lastError: string | null = null;
  let stopping = false;

  const wakeup = new Wakeup();
  const subscription = deps.readings?.subscribe(() => wakeup.signal());

  /** The backlog now: read at once from the embedded store, from the last refresh for the shared one. */
  function currentBacklog(): ArchiveBacklog {
    if (!asyncStore) backlogNow = repository.backlog(cursor) as ArchiveBacklog;
    return backlogNow;
  }

  async function refreshBacklog(): Promise<number> {
    backlogNow = await repository.backlog(cursor);
    return backlogNow.readings;
  }
  const refresher = asyncStore
    ? setInterval(() => {
        refreshBacklog().catch(() => undefined);
      }, BACKLOG_REFRESH_MS)
    : undefined;
  refresher?.unref();

  function stats(): ArchiveStats {
    const { readings: spoolReadings, oldestReceivedAt: oldest } = currentBacklog();
    return {
      cursor: cursor.seq,
      spoolReadings,
      lagSeconds: oldest === undefined ? 0 : Math.max(0, clock.now() - oldest) / 1000,
      up: consecutiveFailures === 0,
      consecutiveFailures,
      ...counters,
      lastError,
    };
  }

  /** Spool and lag for a log line; never throws (the store may be what failed). */
  function backlog(): { spool?: number; lagSeconds?: number } {
    try {
      const s = stats();
      return { spool: s.spoolReadings, lagSeconds: s.lagSeconds };
    } catch {
      return {};
    }
  }

  /** Writes the next batch; returns how many rows it held (0: nothing pending), or throws. */
  async function writeNextBatch(): Promise<number> {
    const { rows, next } = await repository.pending(cursor, opts.batchReadings);
    if (rows.length === 0) return 0;
    const last = rows[rows.length - 1]!.seq;
    try {
      await writer.write(rows);
      counters.writtenReadings += rows.length;
    } catch (err) {
      const status = failureStatus(err);
      if (failureAction(status) === 'retry') throw err;
      counters.rejectedBatches++;
      logger.error(
        {
          code: 'ERR_ARCHIVE_POINTS_REJECTED',
          status,
          err: errorText(err),
          firstSeq: rows[0]!.seq,
          lastSeq: last,
        },
        'archive batch rejected by the database; moving on',
      );
    }
    await repository.advance(next);
    cursor = next;
    await refreshBacklog();
    counters.writes++;
    if (consecutiveFailures > 0) {
      logger.info(
        {
          failedAttempts: consecutiveFailures,
          downMs: Date.now() - (failingSince ?? Date.now()),
          spool: backlogNow.readings,
        },
        'archive writes recovered',
      );
    }
    consecutiveFailures = 0;
    failingSince = null;
    logger.debug({ readings: rows.length, cursor: cursor.seq }, 'archive batch written');
    return rows.length;
  }

  function backoffMs(): number {
    const exp = Math.min(retryMaxMs, opts.retryMinMs * 2 ** Math.min(consecutiveFailures - 1, 30));
    return Math.round(exp / 2 + (Math.random() * exp) / 2);
  }

  /** Waits until something is pending, then up to `flushIntervalMs` for more (a full batch goes at once). */
  async function awaitBatch(): Promise<void> {
    while (!stopping && (await refreshBacklog()) === 0) await wakeup.wait(IDLE_POLL_MS);
    const deadline = Date.now() + opts.flushIntervalMs;
    while (!stopping && Date.now() < deadline && (await refreshBacklog()) < opts.batchReadings) {
      await wakeup.wait(deadline - Date.now());
    }
  }

  async function run(): Promise<void> {
    let immediate = true; // the backlog at start, a full batch, or a retry goes without waiting
    while (!stopping) {
      try {
        if (!immediate) await awaitBatch();
        if (stopping) break;
        const written = await writeNextBatch();
        immediate = written === opts.batchReadings;
      } catch (err) {
        consecutiveFailures++;
        counters.writeFailures++;
        failingSince ??= Date.now();
        lastError = errorText(err);
        const retryInMs = backoffMs();
        logger.warn(
          {
            code: 'ERR_ARCHIVE_WRITE_FAILED',
            status: failureStatus(err),
            err: lastError,
            attempt: consecutiveFailures,
            retryInMs,
            ...backlog(),
          },
          'archive write failed; retrying',
        );
        await wakeup.sleep(retryInMs);
        immediate = true;
      }
    }
  }

  const s0 = stats();
  logger.info(
    {
      url: new URL(opts.url).origin,
      org: opts.org,
      bucket: opts.bucket,
      cursor: cursor.seq,
      spool: s0.spoolReadings,
    },
    'archive started',
  );
  const running = run();

  return {
    stats,
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(refresher);
      subscription?.unsubscribe();
      wakeup.interrupt();
      await running;
      // A last drain while the database answers; anything left waits in the inbox for the next start.
      const deadline = Date.now() + opts.requestTimeoutMs;
      try {
        while (consecutiveFailures === 0 && Date.now() < deadline && (await writeNextBatch()) > 0);
      } catch (err) {
        logger.warn({ code: 'ERR_ARCHIVE_WRITE_FAILED', err: errorText(err) }, 'archive final flush failed');
      }
      writer.dispose();
      setLogger(previousClientLogger);
      logger.info({ cursor: cursor.seq, ...backlog() }, 'archive stopped');
    },
  };
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, ERROR_CHARS);
}
