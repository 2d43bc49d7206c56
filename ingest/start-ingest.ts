import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import type { AcceptedReading, DetectorInput, NormalizerEventKind } from '../core/streams.ts';
import { InboxWriter } from './inbox-writer.ts';
import { MeterRateLimiter } from './meter-rate-limiter.ts';
import { parsePayload, type ParsedPayload, type PayloadRejection } from './parse-payload.ts';
import type { EmbeddedUnitOfWork, IngestRepository, MeterDirectory, NewDeadLetter } from './repository.ts';
import { UsageStage, type IngestCounters } from './usage-stage.ts';

export interface IngestResult {
  accepted: number;
  rejected: PayloadRejection[];
  /**
   * For each committed reading, oldest first: what the meter's normalizer made of it (`accepted`, `duplicate`, `late`…).
   * Given by `handle`; `accept` leaves it out (the broker has no use for it, and it costs per reading).
   */
  outcomes?: { ts: number; totalLiters: number; kind: NormalizerEventKind }[];
}

export interface IngestDeps {
  /** Ingest's tables: the embedded store's repository with its unit of work. */
  repo: IngestRepository & EmbeddedUnitOfWork;
  /** Which household each meter belongs to (the registry). */
  meters: MeterDirectory;
  clock: Clock;
  localTime: LocalTime;
  logger: Logger;
  /** Prometheus metrics: acknowledgement and commit latency. */
  metrics?: ServiceMetrics;
}

export interface Ingest {
  /**
   * Validates and durably stores a meter's payload; `done` runs once it is committed and processed (release
   * the PUBACK then), or with the error that kept it from being stored (no PUBACK).
   */
  accept(
    meterId: string,
    topic: string,
    payload: Buffer,
    done: (err: Error | null, result?: IngestResult) => void,
  ): void;
  /** `accept` as a promise. */
  handle(meterId: string, topic: string, payload: Buffer): Promise<IngestResult>;
  /** Records input rejected before it reached ingest (oversize packet, forbidden topic). */
  deadLetter(
    meterId: string | null,
    topic: string | null,
    code: ErrorCode,
    message: string,
    excerpt?: string,
  ): void;
  /** Closed buckets and reading arrivals, in processing order. */
  readonly inputs: Observable<DetectorInput>;
  /** Accepted readings after commit (for the archive). */
  readonly readings: Observable<AcceptedReading[]>;
  /** Restores the last checkpoint and re-processes the inbox after it; returns readings re-processed. */
  recover(): number;
  /** Saves meter states (call inside the checkpoint transaction). */
  writeCheckpoint(): void;
  cursor(): number;
  /**
   * While committed readings go through the normalizer and the detectors: performance.now() at the arrival of
   * the oldest payload among them; undefined otherwise (a detection then came from a clock tick).
   */
  processingSince(): number | undefined;
  /** Why the inbox takes no more readings (its writer thread failed; a restart recovers), or undefined. */
  failure(): Error | undefined;
  stats(): {
    committedReadings: number;
    commits: number;
    deadLetters: number;
    rateLimitedReadings: number;
    normalizer: IngestCounters;
  };
  stop(): void;
}

const EXCERPT_CHARS = 200;
const NO_DEAD_LETTERS: readonly NewDeadLetter[] = [];

function toDeadLetters(
  meterId: string,
  topic: string,
  payload: Buffer,
  parsed: ParsedPayload,
  receivedAt: number,
): NewDeadLetter[] {
  const excerpt = payload.toString('utf8', 0, Math.min(payload.length, EXCERPT_CHARS));
  return parsed.rejected.map((r) => ({
    receivedAt,
    meterId,
    topic,
    code: r.code,
    message: r.message,
    field: r.field ?? null,
    excerpt,
  }));
}

/** How often ingest looks for registry changes made while it runs (wall clock). */
const REGISTRY_CHECK_MS = 1000;

export function startIngest(config: Config, deps: IngestDeps): Ingest {
  const { repo, meters, clock } = deps;
  const logger = deps.logger.child({ module: 'ingest' });
  const inputs = new Subject<DetectorInput>();
  const readings = new Subject<AcceptedReading[]>();
  const households = new Map<string, string>();
  let deadLetters = 0;
  let rateLimitedReadings = 0;
  const ackSeconds = deps.metrics?.ackSeconds.labels({ channel: 'mqtt' });
  const httpAckSeconds = deps.metrics?.ackSeconds.labels({ channel: 'http' });
  const limiter = new MeterRateLimiter(
    config.ingest.maxReadingsPerMeterPerMinute,
    Math.max(config.ingest.maxReadingsPerMeterPerMinute, config.ingest.maxBatchReadings),
  );

  /** What the normalizer made of each reading of the batch being processed (read by the submitters' callbacks). */
  const verdicts = new Map<number, NormalizerEventKind>();
  /** Submissions waiting for their commit that asked for outcomes (none: the verdicts are not collected). */
  let wantVerdicts = 0;
  const stage = new UsageStage(
    repo,
    {
      localTime: deps.localTime,
      maxGapMs: config.ingest.maxGapMinutes * 60_000,
      maxFlowLitersPerHour: config.ingest.maxFlowLitersPerHour,
      resetNearZeroLiters: config.ingest.resetNearZeroLiters,
      rolloverLiters: config.ingest.rolloverLiters,
    },
    (input) => inputs.next(input),
  );

  let failure: Error | undefined;
  const committer = config.ingest.writerThread
    ? repo.writerThread?.((err) => {
        failure = err;
        logger.error(
          { err },
          'inbox writer thread failed: no more readings are acknowledged; restart the service',
        );
      })
    : undefined;
  const deferredSync = committer ? undefined : repo.deferredSync?.();
  const writer = new InboxWriter(
    repo,
    clock,
    {
      commitMaxDelayMs: config.ingest.commitMaxDelayMs,
      commitMaxReadings: config.ingest.commitMaxReadings,
      ...(committer ? { committer } : {}),
      ...(deferredSync ? { deferredSync } : {}),
      ...(deps.metrics ? { onCommitSeconds: (s: number) => deps.metrics!.commitSeconds.observe(s) } : {}),
    },
    logger,
    (batch) => {
      // What processing writes (buckets, meter events, alerts raised on the way) derives from the inbox: it may
      // skip its own fsync (see derivedWrites); the acknowledged readings were fsynced before their PUBACK.
      verdicts.clear();
      try {
        repo.derivedWrites(() => stage.process(batch, wantVerdicts > 0 ? verdicts : undefined));
      } catch (err) {
        // The readings are safe in the inbox; a restart re-processes them from the last checkpoint.
        logger.error({ err }, 'processing failed after commit');
      }
      readings.next(batch);
    },
  );

  /** The meter→household cache follows registry changes (checked at most once a second). */
  let registryCheckedAt = 0;
  let registryRevision = '';
  function householdOf(meterId: string): string | undefined {
    const now = performance.now();
    if (now - registryCheckedAt >= REGISTRY_CHECK_MS) {
      registryCheckedAt = now;
      const revision = meters.revision();
      if (revision !== registryRevision) {
        if (registryRevision !== '') logger.info('registry changed: meter assignments reloaded');
        registryRevision = revision;
        households.clear();
      }
    }
    let h = households.get(meterId);
    if (h === undefined) {
      const meter = meters.meter(meterId);
      if (!meter || !meter.active) return undefined;
      h = meter.householdId;
      households.set(meterId, h);
    }
    return h;
  }

  function deadLetter(
    meterId: string | null,
    topic: string | null,
    code: ErrorCode,
    message: string,
    excerpt?: string,
  ): void {
    deadLetters++;
    repo.addDeadLetter({
      receivedAt: clock.now(),
      meterId,
      topic,
      code,
      message,
      field: null,
      excerpt: excerpt?.slice(0, EXCERPT_CHARS) ?? null,
    });
  }

  /** Holds a meter to its allowance: the readings beyond it become one rejection of the payload. */
  function limit(meterId: string, parsed: ParsedPayload, now: number): void {
    const n = parsed.readings.length;
    const allowed = limiter.take(meterId, n, now);
    if (allowed === n) return;
    const refused = parsed.readings.splice(allowed);
    rateLimitedReadings += refused.length;
    const first = new Date(refused[0]!.ts).toISOString();
    const last = new Date(refused[refused.length - 1]!.ts).toISOString();
    parsed.rejected.push({
      code: 'ERR_INGEST_RATE_LIMITED',
      message:
        `${refused.length} of ${n} readings (${first} … ${last}) exceed the allowance of ` +
        `${config.ingest.maxReadingsPerMeterPerMinute} readings a minute; send them again later`,
    });
    if (limiter.shouldWarn(meterId, now)) {
      logger.warn({ meterId, refused: refused.length }, 'meter over its reading allowance; excess refused');
    }
  }

  /** The parse options; only `now` changes from one payload to the next. */
  const parseOptions = {
    maxPayloadBytes: config.mqtt.maxPayloadBytes,
    maxBatchReadings: config.ingest.maxBatchReadings,
    now: 0,
    maxFutureSkewMs: config.ingest.maxFutureSkewMinutes * 60_000,
  };

  /** `accept`, with what the normalizer made of each reading in the result when `withOutcomes`. */
  function take(
    meterId: string,
    topic: string,
    payload: Buffer,
    withOutcomes: boolean,
    done: (err: Error | null, result?: IngestResult) => void,
  ): void {
    const arrived = performance.now();
    const householdId = householdOf(meterId);
    if (householdId === undefined) {
      const rejection: PayloadRejection = {
        code: 'ERR_INGEST_UNKNOWN_METER',
        message: `meter ${meterId} is not registered`,
      };
      deadLetter(
        meterId,
        topic,
        rejection.code,
        rejection.message,
        payload.toString('utf8', 0, EXCERPT_CHARS),
      );
      done(null, { accepted: 0, rejected: [rejection] });
      return;
    }
    const now = clock.now();
    parseOptions.now = now;
    const parsed = parsePayload(payload, parseOptions);
    if (parsed.readings.length > 0) limit(meterId, parsed, now);
    deadLetters += parsed.rejected.length;
    const result: IngestResult = { accepted: parsed.readings.length, rejected: parsed.rejected };
    if (withOutcomes) wantVerdicts++;
    writer.submit(
      {
        meterId,
        householdId,
        readings: parsed.readings,
        deadLetters:
          parsed.rejected.length === 0
            ? NO_DEAD_LETTERS
            : toDeadLetters(meterId, topic, payload, parsed, now),
      },
      (err, seqs) => {
        if (withOutcomes) wantVerdicts--;
        if (err) return done(err);
        (topic.startsWith('http') ? httpAckSeconds : ackSeconds)?.observe(
          (performance.now() - arrived) / 1000,
        );
        if (withOutcomes && seqs && seqs.length > 0) {
          result.outcomes = parsed.readings.map((r, i) => ({
            ts: r.ts,
            totalLiters: r.totalLiters,
            kind: verdicts.get(seqs[i]!) ?? 'accepted',
          }));
        }
        done(null, result);
      },
    );
  }

  return {
    inputs,
    readings,
    deadLetter,
    accept(meterId, topic, payload, done) {
      take(meterId, topic, payload, false, done);
    },
    handle(meterId, topic, payload) {
      return new Promise((resolve, reject) =>
        take(meterId, topic, payload, true, (err, result) => (err ? reject(err) : resolve(result!))),
      );
    },

    recover() {
      stage.load();
      let replayed = 0;
      for (;;) {
        const rows = repo.readingsAfter(stage.cursor, 5_000);
        if (rows.length === 0) break;
        const batch: AcceptedReading[] = [];
        for (const row of rows) {
          const householdId = householdOf(row.meterId) ?? meters.meter(row.meterId)?.householdId;
          if (householdId === undefined) continue;
          batch.push({ ...row, householdId });
        }
        stage.process(batch);
        stage.cursor = Math.max(stage.cursor, rows[rows.length - 1]!.seq);
        replayed += rows.length;
      }
      if (replayed > 0) logger.info({ replayed, cursor: stage.cursor }, 'inbox re-processed after restart');
      return replayed;
    },
    writeCheckpoint() {
      stage.writeCheckpoint();
    },
    cursor: () => stage.cursor,
    processingSince: () => writer.processingSince,
    failure: () => failure,
    stats: () => ({
      committedReadings: writer.committedReadings,
      commits: writer.commits,
      deadLetters,
      rateLimitedReadings,
      normalizer: { ...stage.counters },
    }),
    stop() {
      writer.close();
      inputs.complete();
      readings.complete();
    },
  };
}
