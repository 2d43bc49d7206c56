import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Ingest, IngestResult } from '../ingest/start-ingest.ts';
import { routingKeyOf } from '../broker/rabbitmq-hooks.ts';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { TOPICS } from '../core/readings.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { MeterDirectory, NewDeadLetter } from '../ingest/repository.ts';
import { parsePayload } from '../ingest/parse-payload.ts';
import { closeConnection, MQTT_EXCHANGE } from './topology.ts';

/** How much of a refused payload a dead letter keeps (as ingest keeps). */
const EXCERPT_CHARS = 200;

export interface ClusterHttpIngest extends Pick<Ingest, 'handle' | 'deadLetter'> {
  /** Resolves when the connection to RabbitMQ is lost (the worker starts again). */
  readonly lost: Promise<Error>;
  stop(): Promise<void>;
}

/**
 * HTTP ingest in a cluster worker (`POST /api/ingest/readings`, api/routes/ingest.ts): a meter's readings are
 * published to RabbitMQ exactly as its MQTT payload would be — on `amq.topic` with the routing key of
 * `meters/<id>/readings`, persistent, on a confirm channel — so they reach the meter's partition, which validates
 * them again, stores them (with dead letters for what it refuses) and detects as for every reading. The answer
 * waits for RabbitMQ's confirm: a quorum queue has the readings on a majority of its nodes, so a 2xx means
 * nothing is lost. The answer's per-reading status is this worker's own validation (the same function and
 * settings as the partition's); whether a reading already sat in the inbox is known only from what was committed
 * before (the route's duplicate check), not from the queue.
 */
export async function startClusterHttpIngest(
  config: Config,
  logger: Logger,
  /** The registry the worker follows: an unknown or retired meter's readings are refused here. */
  meters: Pick<MeterDirectory, 'meter'>,
  deadLetter: (letter: NewDeadLetter) => Promise<void>,
): Promise<ClusterHttpIngest> {
  const log = logger.child({ module: 'http-ingest' });
  const conn: ChannelModel = await amqp.connect(config.cluster.amqpUrl!, {
    clientProperties: { connection_name: 'careflow-http-ingest' },
  });
  let stopping = false;
  let connClosed = false;
  let resolveLost: (e: Error) => void = () => {};
  const lost = new Promise<Error>((r) => (resolveLost = r));
  conn.on('error', (err: Error) => log.error({ err }, 'RabbitMQ connection error'));
  conn.on('close', () => {
    connClosed = true;
    if (!stopping) resolveLost(new Error('HTTP ingest lost its RabbitMQ connection'));
  });
  const ch: ConfirmChannel = await conn.createConfirmChannel();
  ch.on('error', (err: Error) => log.warn({ err }, 'HTTP ingest channel error'));

  const publish = (meterId: string, payload: Buffer) =>
    new Promise<void>((resolve, reject) => {
      try {
        ch.publish(
          MQTT_EXCHANGE,
          routingKeyOf(TOPICS.readings(meterId)),
          payload,
          { persistent: true },
          (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
        );
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });

  function record(
    meterId: string | null,
    topic: string | null,
    code: ErrorCode,
    message: string,
    excerpt?: string,
  ) {
    deadLetter({
      receivedAt: Date.now(),
      meterId,
      topic,
      code,
      message,
      field: null,
      excerpt: excerpt ?? null,
    }).catch((err: unknown) => log.error({ err, meterId }, 'could not record a dead letter'));
  }

  return {
    lost,
    async handle(meterId, topic, payload): Promise<IngestResult> {
      const meter = meters.meter(meterId);
      if (!meter?.active) {
        const message = `meter ${meterId} is not registered`;
        record(
          meterId,
          topic,
          'ERR_INGEST_UNKNOWN_METER',
          message,
          payload.toString('utf8', 0, EXCERPT_CHARS),
        );
        return { accepted: 0, rejected: [{ code: 'ERR_INGEST_UNKNOWN_METER', message }] };
      }
      const parsed = parsePayload(payload, {
        maxPayloadBytes: config.mqtt.maxPayloadBytes,
        maxBatchReadings: config.ingest.maxBatchReadings,
        now: Date.now(),
        maxFutureSkewMs: config.ingest.maxFutureSkewMinutes * 60_000,
      });
      try {
        // The whole payload, as a meter would send it: the partition dead-letters what it refuses.
        await publish(meterId, payload);
      } catch (err) {
        log.warn({ err: (err as Error).message, meterId }, 'RabbitMQ did not confirm posted readings');
        throw new CareflowError(
          'ERR_INGEST_QUEUE_UNAVAILABLE',
          'the readings queue did not take the readings',
        );
      }
      const outcomes = parsed.readings
        .map((r) => ({ ts: r.ts, totalLiters: r.totalLiters, kind: 'accepted' as const }))
        .sort((a, b) => a.ts - b.ts);
      return { accepted: outcomes.length, rejected: parsed.rejected, outcomes };
    },
    deadLetter: record,
    async stop() {
      stopping = true;
      await closeConnection(conn, connClosed);
    },
  };
}
