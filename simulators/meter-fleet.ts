import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import { TOPICS } from '../core/readings.ts';
import { mapLimited } from './map-limited.ts';
import type { MessageSource } from './meter-transmitter.ts';
import type { SimulatedReading } from './simulated-meter.ts';

/** Anything that hands out its readings up to a time: a SimulatedMeter, a CSV replay, … */
export interface ReadingSource {
  readingsUntil(t: number): SimulatedReading[];
}

export interface FleetMeter {
  meterId: string;
  secret: string;
  /** Readings (the fleet makes the payloads) or ready messages (a MeterTransmitter: batches, faults). */
  meter: ReadingSource | MessageSource;
  /**
   * Connects only when it has something to send, and disconnects after (an NB-IoT meter waking to upload).
   * Default false: one persistent connection.
   */
  transient?: boolean;
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
  /**
   * Most connections open at once; default 5,000. A larger fleet is pooled: every meter is transient and
   * at most this many are connected at a time, each sending its own readings as batch payloads (the ACL
   * lets a connection publish only its own meter's readings, so meters cannot share a connection).
   */
  maxConnections?: number;
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

interface FleetMember extends FleetMeter {
  /** The persistent connection; null for a transient meter. */
  client: MqttClient | null;
}

/**
 * Connects one real MQTT client per meter (own credentials, clean session, MQTT 3.1.1) and returns the
 * fleet. Transient meters (and every meter of a pooled fleet) connect when they have something to send.
 */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const errors: FleetError[] = [];
  const clientErrors: { meterId: string; message: string }[] = [];
  const pooled = opts.meters.length > (opts.maxConnections ?? 5000);
  const members: FleetMember[] = opts.meters.map((m) => ({
    ...m,
    transient: pooled || m.transient === true,
    client: null,
  }));
  try {
    await mapLimited(
      members.filter((m) => !m.transient),
      opts.connectConcurrency ?? 50,
      async (m) => {
        // A broker limits the first-time secret checks it runs for one address at once and answers the rest
        // "server unavailable" (CONNACK 3): like a real meter, try again a little later.
        m.client = await connectWithRetry(opts, m, errors, clientErrors, 8, /Server unavailable/i);
      },
    );
  } catch (err) {
    await Promise.allSettled(members.map((m) => m.client?.endAsync(true)));
    throw err;
  }
  return new MeterFleet(members, opts, pooled, errors, clientErrors);
}

async function connectMeter(
  opts: FleetOptions,
  m: FleetMeter,
  errors: FleetError[],
  clientErrors: { meterId: string; message: string }[],
): Promise<MqttClient> {
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
        reconnectPeriod: m.transient ? 0 : 1000,
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
  return client;
}

/** A transient meter tries again when the broker is slow to answer (as a battery meter retries an upload). */
async function connectWithRetry(
  opts: FleetOptions,
  m: FleetMeter,
  errors: FleetError[],
  clientErrors: { meterId: string; message: string }[],
  attempts = 4,
  /** Only errors matching this are tried again (default: any but a refused secret). */
  retryOn: RegExp | null = null,
): Promise<MqttClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectMeter(opts, m, errors, clientErrors);
    } catch (err) {
      const message = (err as Error).message;
      if (attempt >= attempts || /Not authorized|Bad username/i.test(message)) throw err;
      if (retryOn && !retryOn.test(message)) throw err;
      if (!retryOn) clientErrors.push({ meterId: m.meterId, message });
      await new Promise((r) => setTimeout(r, Math.min(4_000, 250 * 2 ** attempt)));
    }
  }
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
    private readonly meters: readonly FleetMember[],
    private readonly opts: FleetOptions,
    private readonly pooled: boolean,
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
    await Promise.all(this.meters.map((m) => m.client?.endAsync(force)));
  }

  private async publishAll(t: number): Promise<PublishResult> {
    const work = this.meters.map((m) => ({ m, payloads: this.payloadsOf(m, t) }));
    const persistent = work.filter((w) => !w.m.transient);
    const transient = work.filter((w) => w.m.transient && w.payloads.messages.length > 0);
    await Promise.all([
      ...persistent.map((w) => this.send(w.m.client as MqttClient, w.m.meterId, w.payloads.messages)),
      mapLimited(transient, this.opts.maxConnections ?? 5000, async (w) => {
        const client = await connectWithRetry(this.opts, w.m, this.errors, this.clientErrors);
        try {
          await this.send(client, w.m.meterId, w.payloads.messages);
        } finally {
          await client.endAsync();
        }
      }),
    ]);
    return work.reduce(
      (sum, w) => ({
        published: sum.published + w.payloads.readings,
        messages: sum.messages + w.payloads.messages.length,
      }),
      { published: 0, messages: 0 },
    );
  }

  private payloadsOf(m: FleetMember, t: number): { messages: (string | Buffer)[]; readings: number } {
    if ('messagesUntil' in m.meter) {
      const messages = m.meter.messagesUntil(t);
      return {
        messages: messages.map((x) => x.payload),
        readings: messages.reduce((n, x) => n + x.readings, 0),
      };
    }
    const readings = m.meter.readingsUntil(t);
    const batch = this.pooled || (this.opts.batch ?? false);
    return { messages: toPayloads(readings, batch, this.opts.batchSize ?? 500), readings: readings.length };
  }

  private async send(client: MqttClient, meterId: string, payloads: (string | Buffer)[]): Promise<void> {
    const topic = TOPICS.readings(meterId);
    await mapLimited(payloads, this.opts.maxInflightPerMeter ?? 100, (p) =>
      client.publishAsync(topic, p, { qos: 1 }),
    );
  }
}
