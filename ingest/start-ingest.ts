import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { AcceptedReading, DetectorInput } from '../core/streams.ts';
import { InboxWriter } from './inbox-writer.ts';
import { parsePayload, type PayloadRejection } from './parse-payload.ts';
import { UsageStage, type IngestCounters } from './usage-stage.ts';

export interface IngestResult {
  accepted: number;
  rejected: PayloadRejection[];
}

export interface IngestDeps {
  store: Store;
  clock: Clock;
  localTime: LocalTime;
  logger: Logger;
}

export interface Ingest {
  /** Validates and durably stores a meter's payload; resolves once committed (release the PUBACK then). */
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
  stats(): { committedReadings: number; commits: number; deadLetters: number; normalizer: IngestCounters };
  stop(): void;
}

const EXCERPT_CHARS = 200;

export function startIngest(config: Config, deps: IngestDeps): Ingest {
  const { store, clock } = deps;
  const logger = deps.logger.child({ module: 'ingest' });
  const inputs = new Subject<DetectorInput>();
  const readings = new Subject<AcceptedReading[]>();
  const households = new Map<string, string>();
  let deadLetters = 0;

  const stage = new UsageStage(
    store,
    {
      localTime: deps.localTime,
      maxGapMs: config.ingest.maxGapMinutes * 60_000,
      maxFlowLitersPerHour: config.ingest.maxFlowLitersPerHour,
      resetNearZeroLiters: config.ingest.resetNearZeroLiters,
      rolloverLiters: config.ingest.rolloverLiters,
    },
    (input) => inputs.next(input),
  );

  const writer = new InboxWriter(
    store,
    clock,
    { commitMaxDelayMs: config.ingest.commitMaxDelayMs, commitMaxReadings: config.ingest.commitMaxReadings },
    logger,
    (batch) => {
      try {
        stage.process(batch);
      } catch (err) {
        // The readings are safe in the inbox; a restart re-processes them from the last checkpoint.
        logger.error({ err }, 'processing failed after commit');
      }
      readings.next(batch);
    },
  );

  function householdOf(meterId: string): string | undefined {
    let h = households.get(meterId);
    if (h === undefined) {
      const meter = store.registry.meter(meterId);
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
    store.deadLetters.add({
      receivedAt: clock.now(),
      meterId,
      topic,
      code,
      message,
      field: null,
      excerpt: excerpt?.slice(0, EXCERPT_CHARS) ?? null,
    });
  }

  return {
    inputs,
    readings,
    deadLetter,
    async handle(meterId, topic, payload) {
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
        return { accepted: 0, rejected: [rejection] };
      }
      const parsed = parsePayload(payload, {
        maxPayloadBytes: config.mqtt.maxPayloadBytes,
        maxBatchReadings: config.ingest.maxBatchReadings,
        now: clock.now(),
        maxFutureSkewMs: config.ingest.maxFutureSkewMinutes * 60_000,
      });
      const receivedAt = clock.now();
      const excerpt = payload.toString('utf8', 0, Math.min(payload.length, EXCERPT_CHARS));
      deadLetters += parsed.rejected.length;
      await writer.submit({
        meterId,
        householdId,
        readings: parsed.readings,
        deadLetters: parsed.rejected.map((r) => ({
          receivedAt,
          meterId,
          topic,
          code: r.code,
          message: r.message,
          field: r.field ?? null,
          excerpt,
        })),
      });
      return { accepted: parsed.readings.length, rejected: parsed.rejected };
    },
    recover() {
      stage.load();
      let replayed = 0;
      for (;;) {
        const rows = store.inbox.after(stage.cursor, 5_000);
        if (rows.length === 0) break;
        const batch: AcceptedReading[] = [];
        for (const row of rows) {
          const householdId = householdOf(row.meterId) ?? store.registry.meter(row.meterId)?.householdId;
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
      store.checkpoints.setCursor(stage.cursor);
    },
    cursor: () => stage.cursor,
    stats: () => ({
      committedReadings: writer.committedReadings,
      commits: writer.commits,
      deadLetters,
      normalizer: { ...stage.counters },
    }),
    stop() {
      writer.close();
      inputs.complete();
      readings.complete();
    },
  };
}
