import mqtt, { type MqttClient } from 'mqtt';
import { TOPICS } from '../core/readings.ts';
import { mapLimited } from '../simulators/map-limited.ts';
import { toFleetError, type FleetError } from '../simulators/meter-fleet.ts';

export interface ReplayLanesOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  url: string;
  /** Secret of every meter that will publish. */
  secrets: ReadonlyMap<string, string>;
  connectConcurrency?: number;
  connectTimeoutMs?: number;
}

/** Tries of one meter's CONNECT while the broker answers "server unavailable" (about 25 s of backoff in all). */
const CONNECT_ATTEMPTS = 10;

interface Lane {
  client: MqttClient;
  open: boolean;
  /** Settles every publish still waiting for its PUBACK. */
  waiting: Set<(acked: boolean) => void>;
}

/**
 * One real MQTT connection per recorded meter (its own credentials, QoS 1), with explicit loss handling:
 * the clients never reconnect or resend on their own. When a connection drops, every publish waiting for its
 * PUBACK settles as not acknowledged, so the replay can first bring the service's clock back to where it was
 * and then send those readings again (a reading that was stored but whose PUBACK was lost comes back as a
 * duplicate, which the service ignores).
 */
export class ReplayLanes {
  private readonly lanes = new Map<string, Lane>();
  /** Messages the service sent back on the meters' error topics. */
  readonly errors: FleetError[] = [];
  /** Date.now() of the last error message received. */
  lastErrorAt = 0;

  constructor(private readonly opts: ReplayLanesOptions) {}

  /** Connects (or reconnects) every meter; rejects if one cannot connect. */
  async connect(meterIds: readonly string[]): Promise<void> {
    await mapLimited(meterIds, this.opts.connectConcurrency ?? 50, async (meterId) => {
      const old = this.lanes.get(meterId);
      if (old?.open) return;
      if (old) await old.client.endAsync(true).catch(() => undefined);
      this.lanes.set(meterId, await this.connectRetrying(meterId));
    });
  }

  /**
   * A CONNECT answered 3 "server unavailable" (the broker checks a bounded number of new secrets per address at
   * once) is tried again a little later, as a meter does; any other refusal is final.
   */
  private async connectRetrying(meterId: string): Promise<Lane> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connectOne(meterId);
      } catch (err) {
        if (attempt >= CONNECT_ATTEMPTS || !/Server unavailable/i.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, Math.min(4_000, 125 * 2 ** attempt)));
      }
    }
  }

  /** Whether every lane is connected. */
  allOpen(): boolean {
    for (const lane of this.lanes.values()) if (!lane.open) return false;
    return true;
  }

  /** Publishes one payload at QoS 1; resolves true on its PUBACK, false if the connection is (or goes) down. */
  publish(meterId: string, payload: string): Promise<boolean> {
    const lane = this.lanes.get(meterId);
    if (!lane || !lane.open) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let done = false;
      const settle = (acked: boolean) => {
        if (done) return;
        done = true;
        lane.waiting.delete(settle);
        resolve(acked);
      };
      lane.waiting.add(settle);
      lane.client.publish(TOPICS.readings(meterId), payload, { qos: 1 }, (err) => settle(!err));
    });
  }

  /** Disconnects every meter at once (publishes still waiting settle as not acknowledged). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.lanes.values()].map((lane) => {
        this.drop(lane);
        return lane.client.endAsync(true).catch(() => undefined);
      }),
    );
    this.lanes.clear();
  }

  private drop(lane: Lane): void {
    lane.open = false;
    for (const settle of [...lane.waiting]) settle(false);
  }

  private async connectOne(meterId: string): Promise<Lane> {
    const secret = this.opts.secrets.get(meterId);
    if (secret === undefined) throw new Error(`no secret for meter ${meterId}`);
    const client = await mqtt.connectAsync(
      this.opts.url,
      {
        clientId: meterId,
        username: meterId,
        password: secret,
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      },
      false,
    );
    const lane: Lane = { client, open: true, waiting: new Set() };
    const errorsTopic = TOPICS.meterErrors(meterId);
    client.on('close', () => this.drop(lane));
    client.on('error', () => this.drop(lane));
    client.on('message', (topic, payload) => {
      if (topic !== errorsTopic) return;
      this.errors.push(toFleetError(meterId, payload.toString('utf8')));
      this.lastErrorAt = Date.now();
    });
    const granted = await client.subscribeAsync(errorsTopic, { qos: 0 });
    if (granted.some((g) => g.qos === 128)) {
      await client.endAsync(true);
      throw new Error(`meter ${meterId}: the broker refused the subscription to ${errorsTopic}`);
    }
    return lane;
  }
}
