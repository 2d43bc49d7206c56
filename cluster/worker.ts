import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { TOPICS } from '../core/readings.ts';
import { parsePayload } from '../ingest/parse-payload.ts';
import type { MeterDirectory, NewDeadLetter } from '../ingest/repository.ts';
import { routingKeyOf } from '../broker/rabbitmq-hooks.ts';
import {
  declareTopology,
  meterOfRoutingKey,
  MQTT_EXCHANGE,
  parsePartitionList,
  partitionQueue,
  closeConnection,
} from './topology.ts';
import {
  PartitionFencedError,
  PartitionResetError,
  type BatchResult,
  type PartitionProcessor,
  type PartitionSubmission,
} from './partition.ts';

/**
 * A careflow cluster worker (preview): consumes partitions of the readings queue, runs each batch through the
 * partition's normalisers and detectors (cluster/partition.ts), commits the readings, what they produced and the
 * partition's checkpoint to the shared store in one transaction, and only then acknowledges the batch to
 * RabbitMQ. A reading RabbitMQ acknowledged to its meter is in a quorum queue until a worker has committed it, so
 * a worker that dies loses nothing: its unacknowledged deliveries go back to the queue and the partition's next
 * consumer restores the partition's checkpoint and takes them (a reading committed just before the death is
 * delivered again, marked redelivered, and found already committed: it is skipped).
 *
 * Every worker subscribes to every partition (single active consumer: one consumes, the others wait); to its
 * preferred partitions at once and to the others after `cluster.standbyDelayMs`, so that workers started together
 * share the partitions and each takes over the others' when they go.
 *
 * A partition's clock is event time (its readings' timestamps), so a partition none of whose meters sends would
 * stand still and raise no silence. The wall-clock floor keeps it moving: every tick interval, for each partition
 * whose queue is empty, the worker that holds it commits the clock forward to `cluster.clockFloorLagMs` behind
 * the wall clock (the ticks fire, silences and outages are raised and committed like any batch's). A silent
 * partition whose holder went (no commit for three floor intervals) is taken over by the first worker that
 * notices; the epoch fence keeps two workers from both committing it. The floor does not move a clock that is
 * more than `cluster.clockFloorMaxJumpMs` behind (a partition replaying older readings).
 */
export interface ClusterWorkerDeps {
  config: Config;
  logger: Logger;
  meters: MeterDirectory;
  /** Takes a partition over: restores its checkpoint from the shared store. */
  openPartition: (partition: number) => Promise<PartitionProcessor>;
  /**
   * The partition's clock and last commit (wall time) in the shared store: a worker takes a silent partition
   * over when its owner has not committed for a while (see the wall-clock floor below).
   */
  partitionClock: (
    partition: number,
  ) => Promise<{ clock: number | null; committedAt: number | null } | undefined>;
  /** How often the wall-clock floor is applied (default: the detectors' tick interval). */
  floorEveryMs?: number;
  /** After each batch's commit (before its acknowledgement): e.g. to wake the outbox relay. */
  onCommitted?: (result: BatchResult) => void;
  now?: () => number;
}

export interface PartitionStats {
  partition: number;
  preferred: boolean;
  subscribed: boolean;
  /** Deliveries arrived in the last `ACTIVE_MS`: this worker is the partition's active consumer. */
  active: boolean;
  /** Messages waiting in the partition's queue at the last look (for the active consumer: its lag). */
  lag: number | null;
  committed: number;
  lastDeliveryAt: number | null;
  /** When this worker last began consuming the partition (its first delivery after a quiet spell). */
  activeSince: number | null;
}

export interface ClusterWorkerStats {
  partitions: PartitionStats[];
  committedReadings: number;
  /** Redelivered readings found already committed (their previous consumer died before acknowledging). */
  skippedRedeliveries: number;
  detections: number;
  /** Partitions this worker restored from their checkpoints (takeovers, first deliveries). */
  restores: number;
  /** Partition clocks moved forward by the wall-clock floor (commits with no readings). */
  floorAdvances: number;
  deadLetters: number;
  /** Batches committed again after an erasure reset their partition (restored without the erased state). */
  resets: number;
  commitFailures: number;
  ready: boolean;
}

export interface ClusterWorker {
  stats(): ClusterWorkerStats;
  /** Resolves when the worker stops on its own (its RabbitMQ connection was lost). */
  readonly lost: Promise<Error>;
  stop(): Promise<void>;
}

const ACTIVE_MS = 10_000;
const LAG_POLL_MS = 2_000;
const FLUSH_DELAY_MS = 5;
const RETRY_MS = 1_000;
const EXCERPT_CHARS = 200;

interface Partition extends PartitionStats {
  channel: Channel | null;
  pending: ConsumeMessage[];
  flushing: Promise<void> | null;
  timer: NodeJS.Timeout | null;
  processor: PartitionProcessor | null;
  /** The partition's deliveries resumed after a quiet spell: restore its checkpoint before the next commit. */
  restoreNeeded: boolean;
}

export async function startClusterWorker(deps: ClusterWorkerDeps): Promise<ClusterWorker> {
  const { config, meters } = deps;
  const c = config.cluster;
  if (!c.amqpUrl) throw new Error('cluster.amqpUrl (CAREFLOW_AMQP_URL) is needed in cluster mode');
  const now = deps.now ?? Date.now;
  const logger = deps.logger.child({ module: 'cluster-worker' });
  const preferred = new Set(parsePartitionList(c.prefer, c.partitions));
  const conn: ChannelModel = await amqp.connect(c.amqpUrl, {
    clientProperties: { connection_name: 'careflow-worker' },
  });
  let stopping = false;
  let resolveLost: (e: Error) => void = () => {};
  const lost = new Promise<Error>((r) => (resolveLost = r));
  conn.on('error', (err: Error) => logger.error({ err }, 'RabbitMQ connection error'));
  let connClosed = false;
  conn.on('close', () => {
    connClosed = true;
    if (!stopping) resolveLost(new Error('the RabbitMQ connection was lost'));
  });

  const setup = await conn.createChannel();
  await declareTopology(setup, c.partitions);
  let deadLetters = 0;
  let commitFailures = 0;
  let committedReadings = 0;
  let skippedRedeliveries = 0;
  let detections = 0;
  let restores = 0;
  let resets = 0;
  let floorAdvances = 0;
  const parts: Partition[] = Array.from({ length: c.partitions }, (_, partition) => ({
    partition,
    preferred: preferred.has(partition),
    subscribed: false,
    active: false,
    lag: null,
    committed: 0,
    lastDeliveryAt: null,
    activeSince: null,
    channel: null,
    pending: [],
    flushing: null,
    timer: null,
    processor: null,
    restoreNeeded: true,
  }));

  async function subscribe(p: Partition): Promise<void> {
    if (stopping) return;
    const ch = await conn.createChannel();
    await ch.prefetch(c.prefetch);
    p.channel = ch;
    await ch.consume(
      partitionQueue(p.partition),
      (msg) => {
        if (!msg) return; // cancelled by RabbitMQ (queue deleted): nothing to do until it is declared again
        const t = now();
        if (p.lastDeliveryAt === null || t - p.lastDeliveryAt >= ACTIVE_MS) {
          p.activeSince = t;
          p.restoreNeeded = true; // another worker may have owned it meanwhile
        }
        p.lastDeliveryAt = t;
        p.pending.push(msg);
        schedule(p);
      },
      { noAck: false },
    );
    p.subscribed = true;
  }

  function schedule(p: Partition): void {
    if (p.timer || p.flushing) return;
    p.timer = setTimeout(() => {
      p.timer = null;
      p.flushing = flush(p).finally(() => {
        p.flushing = null;
        if (p.pending.length > 0) schedule(p);
      });
    }, FLUSH_DELAY_MS);
  }

  /** Commits the partition's pending deliveries in one transaction, then acknowledges them all at once. */
  async function flush(p: Partition): Promise<void> {
    const batch = p.pending;
    p.pending = [];
    if (batch.length === 0 || !p.channel) return;
    const receivedAt = now();
    let submissions: PartitionSubmission[] = [];
    let errors: { meterId: string; body: string }[] = [];
    /** The batch as the registry now has it (again after an erasure: an erased meter is unknown). */
    const prepare = () => {
      submissions = [];
      errors = [];
      for (const msg of batch) {
        const submission = toSubmission(msg, receivedAt);
        if (!submission) continue;
        submissions.push(submission);
        for (const d of submission.deadLetters)
          errors.push({
            meterId: submission.meterId,
            body: JSON.stringify({ code: d.code, message: d.message, field: d.field }),
          });
      }
    };
    prepare();
    let readings: number;
    for (;;) {
      try {
        if (!p.processor || p.restoreNeeded) {
          p.processor?.stop();
          p.processor = null;
          p.restoreNeeded = false;
          p.processor = await deps.openPartition(p.partition);
          restores++;
        }
        const r = await p.processor.commit(submissions);
        deps.onCommitted?.(r);
        readings = r.readings;
        skippedRedeliveries += r.skipped;
        detections += r.detections;
        break;
      } catch (err) {
        // The partition's state in memory may be ahead of the store: it is restored before the next attempt.
        p.processor?.stop();
        p.processor = null;
        if (err instanceof PartitionFencedError) {
          // Another worker owns the partition now: leave the batch unacknowledged to it.
          logger.warn({ partition: p.partition }, err.message);
          return;
        }
        if (err instanceof PartitionResetError) {
          // A household was erased: restored (with the registry that no longer has it), the batch goes again.
          logger.info({ partition: p.partition }, err.message);
          resets++;
          prepare();
          continue;
        }
        commitFailures++;
        logger.error({ err, partition: p.partition }, 'commit to the shared store failed; retrying');
        if (stopping) return; // not acknowledged: RabbitMQ gives the deliveries to the next consumer
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    p.committed += readings;
    deadLetters += errors.length;
    committedReadings += readings;
    try {
      // Only after the commit: acknowledges every delivery of the batch (deliveries on a channel are in order).
      p.channel.ack(batch[batch.length - 1]!, true);
      for (const e of errors)
        p.channel.publish(MQTT_EXCHANGE, routingKeyOf(TOPICS.meterErrors(e.meterId)), Buffer.from(e.body));
    } catch (err) {
      // The channel closed: RabbitMQ delivers the batch again to whoever consumes the partition next.
      logger.warn({ err, partition: p.partition }, 'could not acknowledge a committed batch');
    }
  }

  function toSubmission(msg: ConsumeMessage, receivedAt: number): PartitionSubmission | null {
    const meterId = meterOfRoutingKey(msg.fields.routingKey);
    if (meterId === null) return null; // not a reading (the binding lets only readings through)
    const topic = TOPICS.readings(meterId);
    const letter = (
      code: NewDeadLetter['code'],
      message: string,
      field: string | null = null,
    ): NewDeadLetter => ({
      receivedAt,
      meterId,
      topic,
      code,
      message,
      field,
      excerpt: msg.content.toString('utf8', 0, Math.min(msg.content.length, EXCERPT_CHARS)),
    });
    const meter = meters.meter(meterId);
    if (!meter || !meter.active)
      return {
        meterId,
        householdId: undefined,
        redelivered: msg.fields.redelivered,
        receivedAt,
        readings: [],
        deadLetters: [letter('ERR_INGEST_UNKNOWN_METER', 'unknown or retired meter')],
      };
    const parsed = parsePayload(msg.content, {
      maxPayloadBytes: config.mqtt.maxPayloadBytes,
      maxBatchReadings: config.ingest.maxBatchReadings,
      now: receivedAt,
      maxFutureSkewMs: config.ingest.maxFutureSkewMinutes * 60_000,
    });
    return {
      meterId,
      householdId: meter.householdId,
      redelivered: msg.fields.redelivered,
      receivedAt,
      readings: parsed.readings.map((r) => ({ ts: r.ts, totalLiters: r.totalLiters })),
      deadLetters: parsed.rejected.map((r) => letter(r.code, r.message, r.field ?? null)),
    };
  }

  /** Moves the partition's clock to the wall-clock floor (taking a stale silent partition over first). */
  async function advanceFloor(p: Partition): Promise<void> {
    const t = now();
    const floor = t - c.clockFloorLagMs;
    const near = (clock: number | null) =>
      clock !== null && clock < floor && clock >= floor - c.clockFloorMaxJumpMs;
    if (!p.processor || p.restoreNeeded) {
      // Not held here (or maybe taken over since): take it over only if nobody has committed it for a while.
      const row = await deps.partitionClock(p.partition);
      const stale = row?.committedAt == null || row.committedAt < t - 3 * floorEvery;
      if (!row || !stale || !near(row.clock)) return;
      p.processor?.stop();
      p.processor = null;
      p.restoreNeeded = false;
      p.processor = await deps.openPartition(p.partition);
      restores++;
      logger.info({ partition: p.partition }, 'silent partition taken over to keep its clock moving');
    }
    if (!near(p.processor.clockNow())) return;
    const r = await p.processor.commit([], floor);
    floorAdvances++;
    detections += r.detections;
    deps.onCommitted?.(r);
  }

  const floorEvery = deps.floorEveryMs ?? config.detectors.tickIntervalMs;
  const floorTimer = setInterval(() => {
    if (stopping || c.clockFloorLagMs === 0) return;
    for (const p of parts) {
      // Only a partition with nothing waiting: its readings move its clock themselves.
      if (!p.subscribed || p.flushing || p.timer || p.pending.length > 0 || p.lag !== 0) continue;
      p.flushing = advanceFloor(p)
        .catch((err: unknown) => {
          p.processor?.stop();
          p.processor = null;
          if (err instanceof PartitionFencedError) logger.info({ partition: p.partition }, err.message);
          else logger.error({ err, partition: p.partition }, 'could not move the partition clock forward');
        })
        .finally(() => {
          p.flushing = null;
          if (p.pending.length > 0) schedule(p);
        });
    }
  }, floorEvery);
  floorTimer.unref();

  // Lag: the messages waiting in each partition's queue (a passive declare; cheap).
  const lagTimer = setInterval(() => {
    void (async () => {
      for (const p of parts) {
        try {
          p.lag = (await setup.checkQueue(partitionQueue(p.partition))).messageCount;
        } catch {
          p.lag = null;
        }
      }
    })();
  }, LAG_POLL_MS);
  lagTimer.unref();

  for (const p of parts) if (p.preferred) await subscribe(p);
  const standby = setTimeout(() => {
    void Promise.all(parts.filter((p) => !p.preferred).map((p) => subscribe(p))).catch((err: unknown) =>
      logger.error({ err }, 'could not stand by for the other partitions'),
    );
  }, c.standbyDelayMs);
  standby.unref();
  logger.info({ partitions: c.partitions, preferred: [...preferred] }, 'cluster worker consuming');

  return {
    lost,
    stats() {
      const t = now();
      return {
        partitions: parts.map((p) => ({
          partition: p.partition,
          preferred: p.preferred,
          subscribed: p.subscribed,
          active: p.lastDeliveryAt !== null && t - p.lastDeliveryAt < ACTIVE_MS,
          lag: p.lag,
          committed: p.committed,
          lastDeliveryAt: p.lastDeliveryAt,
          activeSince: p.activeSince,
        })),
        committedReadings,
        skippedRedeliveries,
        detections,
        restores,
        resets,
        floorAdvances,
        deadLetters,
        commitFailures,
        ready: parts.some((p) => p.subscribed),
      };
    },
    async stop() {
      stopping = true;
      clearTimeout(standby);
      clearInterval(lagTimer);
      clearInterval(floorTimer);
      // Stop taking deliveries, finish the batches in hand (commit + ack), then leave.
      for (const p of parts) {
        if (p.timer) clearTimeout(p.timer);
        p.timer = null;
      }
      await Promise.all(parts.map((p) => p.flushing));
      await Promise.all(parts.map((p) => (p.pending.length > 0 ? flush(p) : undefined)));
      for (const p of parts) p.processor?.stop();
      await closeConnection(conn, connClosed);
    },
  };
}
