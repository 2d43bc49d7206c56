import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import { TOPICS } from '../core/readings.ts';
import { mapLimited } from './map-limited.ts';
import type { SimulatedReading } from './simulated-meter.ts';

/** Anything that hands out its readings up to a time: a SimulatedMeter, a CSV replay, … */
export interface ReadingSource {
  readingsUntil(t: number): SimulatedReading[];
}

export interface FleetMeter {
  meterId: string;
  secret: string;
  meter: ReadingSource;
}

export interface FleetOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  url: string;
  meters: readonly FleetMeter[];
  /** One `{ "readings": [...] }` message per meter per publishUntil (chunked) instead of one per reading. Default false. */
  batch?: boolean;
  /** Readings per batch message; default 500. */
  batchSize?: number;
  /** Meters connecting at the same time; default 50. */
  connectConcurrency?: number;
  /** Unacknowledged QoS 1 publishes per meter; default 100. */
  maxInflightPerMeter?: number;
  /** Seconds to wait for a CONNACK; default 10. */
  connectTimeoutSeconds?: number;
}

/** A message the broker sent back on `meters/{meterId}/errors`. */
export interface FleetError {
  meterId: string;
  /** The error's code, or null when the payload was not the documented `{ code, message }` JSON. */
  code: string | null;
  message: string;
  field?: string;
  payload: string;
}

export interface PublishResult {
  /** Readings published (and acknowledged). */
  published: number;
  /** MQTT messages sent (equals `published` unless batching). */
  messages: number;
}

export interface Fleet {
  readonly errors: readonly FleetError[];
  /** Connection-level errors reported by the MQTT clients after connecting (they reconnect on their own). */
  readonly clientErrors: readonly { meterId: string; message: string }[];
  /** Publishes every meter's readings with ts ≤ t at QoS 1; resolves when every PUBACK has arrived. */
  publishUntil(t: number): Promise<PublishResult>;
  /**
   * Disconnects every meter, after the publishUntil calls under way have finished; with `force`, at once
   * (unacknowledged readings are then abandoned).
   */
  stop(opts?: { force?: boolean }): Promise<void>;
}

const ErrorPayload = z.looseObject({ code: z.string(), message: z.string(), field: z.string().optional() });

interface ConnectedMeter extends FleetMeter {
  client: MqttClient;
}

/** Connects one real MQTT client per meter (own credentials, clean session, MQTT 3.1.1) and returns the fleet. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const errors: FleetError[] = [];
  const clientErrors: { meterId: string; message: string }[] = [];
  const connected: ConnectedMeter[] = [];
  try {
    await mapLimited(opts.meters, opts.connectConcurrency ?? 50, async (m) => {
      connected.push(await connectMeter(opts, m, errors, clientErrors));
    });
  } catch (err) {
    await Promise.allSettled(connected.map((m) => m.client.endAsync(true)));
    throw err;
  }
  const byId = new Map(connected.map((m) => [m.meterId, m]));
  const meters = opts.meters.map((m) => byId.get(m.meterId) as ConnectedMeter);
  return new MeterFleet(meters, opts, errors, clientErrors);
}

async function connectMeter(
  opts: FleetOptions,
  m: FleetMeter,
  errors: FleetError[],
  clientErrors: { meterId: string; message: string }[],
): Promise<ConnectedMeter> {
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(
      opts.url,
      {
        clientId: m.meterId,
        username: m.meterId,
        password: m.secret,
        clean: true,
        protocolVersion: 4,
        connectTimeout: (opts.connectTimeoutSeconds ?? 10) * 1000,
        reconnectPeriod: 1000,
      },
      false,
    );
  } catch (err) {
    throw new Error(`meter ${m.meterId} could not connect to ${opts.url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const errorsTopic = TOPICS.meterErrors(m.meterId);
  client.on('error', (err) => clientErrors.push({ meterId: m.meterId, message: err.message }));
  client.on('message', (topic, payload) => {
    if (topic === errorsTopic) errors.push(toFleetError(m.meterId, payload.toString('utf8')));
  });
  const granted = await client.subscribeAsync(errorsTopic, { qos: 1 });
  if (granted.some((g) => g.qos === 128)) {
    await client.endAsync(true);
    throw new Error(`meter ${m.meterId}: the broker refused the subscription to ${errorsTopic}`);
  }
  return { ...m, client };
}

export function toFleetError(meterId: string, payload: string): FleetError {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { meterId, code: null, message: payload, payload };
  }
  const parsed = ErrorPayload.safeParse(json);
  if (!parsed.success) return { meterId, code: null, message: payload, payload };
  const { code, message, field } = parsed.data;
  return field === undefined
    ? { meterId, code, message, payload }
    : { meterId, code, message, field, payload };
}

/** Splits readings into MQTT payloads: one per reading, or batches of `batchSize`. */
export function toPayloads(readings: readonly SimulatedReading[], batch: boolean, batchSize = 500): string[] {
  if (!batch) return readings.map((r) => JSON.stringify({ ts: r.ts, totalLiters: r.totalLiters }));
  const payloads: string[] = [];
  for (let i = 0; i < readings.length; i += batchSize) {
    const chunk = readings.slice(i, i + batchSize).map((r) => ({ ts: r.ts, totalLiters: r.totalLiters }));
    payloads.push(JSON.stringify({ readings: chunk }));
  }
  return payloads;
}

class MeterFleet implements Fleet {
  /** publishUntil calls run one after the other, so a meter's readings go out oldest first. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly meters: readonly ConnectedMeter[],
    private readonly opts: FleetOptions,
    readonly errors: FleetError[],
    readonly clientErrors: { meterId: string; message: string }[],
  ) {}

  publishUntil(t: number): Promise<PublishResult> {
    const run = this.queue.then(() => this.publishAll(t));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async stop(opts: { force?: boolean } = {}): Promise<void> {
    const force = opts.force ?? false;
    if (!force) await this.queue;
    await Promise.all(this.meters.map((m) => m.client.endAsync(force)));
  }

  private async publishAll(t: number): Promise<PublishResult> {
    const results = await Promise.all(this.meters.map((m) => this.publishMeter(m, t)));
    return results.reduce(
      (sum, r) => ({ published: sum.published + r.published, messages: sum.messages + r.messages }),
      {
        published: 0,
        messages: 0,
      },
    );
  }

  private async publishMeter(m: ConnectedMeter, t: number): Promise<PublishResult> {
    const readings = m.meter.readingsUntil(t);
    const payloads = toPayloads(readings, this.opts.batch ?? false, this.opts.batchSize ?? 500);
    const topic = TOPICS.readings(m.meterId);
    await mapLimited(payloads, this.opts.maxInflightPerMeter ?? 100, (p) =>
      m.client.publishAsync(topic, p, { qos: 1 }),
    );
    return { published: readings.length, messages: payloads.length };
  }
}
