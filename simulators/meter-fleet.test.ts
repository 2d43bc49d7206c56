import net, { type AddressInfo } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { ReadingPayload, TOPICS } from '../core/readings.ts';
import { HouseholdModel } from './household-model.ts';
import { Profile } from './household-profiles.ts';
import { DAY_MS, HOUR_MS, localMinuteToUtc } from './local-day.ts';
import { type FleetMeter, startFleet, toFleetError, toPayloads } from './meter-fleet.ts';
import { SimulatedMeter, type SimulatedReading } from './simulated-meter.ts';

const localTime = new LocalTime('Asia/Shanghai', 60);
const START = localMinuteToUtc(localTime, localTime.dayNumber(Date.UTC(2026, 0, 5, 0)), 0);
const OBSERVER = { id: 'observer', secret: 'observer-secret' };

interface TestBroker {
  url: string;
  broker: Aedes;
  close(): Promise<void>;
}

/** A real Aedes broker on 127.0.0.1, port 0: clients log in with their id and secret, meters publish only their own readings. */
async function startBroker(secrets: Map<string, string>): Promise<TestBroker> {
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      if (
        username !== undefined &&
        client.id === username &&
        secrets.get(username) === password?.toString()
      ) {
        done(null, true);
        return;
      }
      done(
        Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError,
        false,
      );
    },
    authorizePublish(client, packet, callback) {
      callback(client && packet.topic === TOPICS.readings(client.id) ? null : new Error('not your topic'));
    },
  });
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    broker,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function makeMeter(index: number, every = 15): SimulatedMeter {
  const profile = Profile.options[index % Profile.options.length] as Profile;
  const source = new HouseholdModel({ profile, seed: 100 + index, localTime });
  return new SimulatedMeter({ source, seed: 100 + index, startAt: START, reportEveryMinutes: every });
}

function fleetMeters(count: number, every = 15): (FleetMeter & { meter: SimulatedMeter })[] {
  return Array.from({ length: count }, (_, i) => ({
    meterId: `meter-${i}`,
    secret: `secret-of-meter-${i}`,
    meter: makeMeter(i, every),
  }));
}

/** Every reading received per meter, in arrival order, from single and batch messages. */
async function observe(url: string) {
  const client = await mqtt.connectAsync(url, {
    clientId: OBSERVER.id,
    username: OBSERVER.id,
    password: OBSERVER.secret,
    protocolVersion: 4,
  });
  const received = new Map<string, SimulatedReading[]>();
  let messages = 0;
  const invalid: string[] = [];
  client.on('message', (topic, payload) => {
    messages++;
    const meterId = topic.split('/')[1] as string;
    const parsed = ReadingPayload.safeParse(JSON.parse(payload.toString()));
    if (!parsed.success) {
      invalid.push(payload.toString());
      return;
    }
    const readings = 'readings' in parsed.data ? parsed.data.readings : [parsed.data];
    const list = received.get(meterId) ?? [];
    list.push(...readings.map((r) => ({ ts: r.ts, totalLiters: r.totalLiters })));
    received.set(meterId, list);
  });
  await client.subscribeAsync('meters/+/readings', { qos: 1 });
  const count = () => [...received.values()].reduce((n, rs) => n + rs.length, 0);
  return { client, received, invalid, count, messages: () => messages };
}

describe('startFleet', () => {
  let broker: TestBroker;
  let secrets: Map<string, string>;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    secrets = new Map([[OBSERVER.id, OBSERVER.secret]]);
    for (const m of fleetMeters(5)) secrets.set(m.meterId, m.secret);
    broker = await startBroker(secrets);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  it('publishes a simulated day of five meters, every reading received as the meters generated it', async () => {
    const observer = await observe(broker.url);
    clients.push(observer.client);
    const fleet = await startFleet({ url: broker.url, meters: fleetMeters(5), connectConcurrency: 2 });
    const twins = fleetMeters(5);

    const first = await fleet.publishUntil(START + DAY_MS / 2);
    const second = await fleet.publishUntil(START + DAY_MS);
    expect(first.published).toBe(5 * 48);
    expect(first.published + second.published).toBe(5 * 96);
    expect(second.messages).toBe(second.published);

    await vi.waitFor(() => expect(observer.count()).toBe(5 * 96), { timeout: 5000 });
    for (const twin of twins) {
      expect(observer.received.get(twin.meterId)).toEqual(twin.meter.readingsUntil(START + DAY_MS));
    }
    expect(observer.invalid).toEqual([]);
    expect((await fleet.publishUntil(START + DAY_MS)).published).toBe(0);
    expect(fleet.errors).toEqual([]);
    await fleet.stop();
    await vi.waitFor(() => expect(broker.broker.connectedClients).toBe(1));
  });

  it('sends one batch message per meter per call, chunked at 500 readings, oldest first', async () => {
    const observer = await observe(broker.url);
    clients.push(observer.client);
    const fleet = await startFleet({ url: broker.url, meters: fleetMeters(2), batch: true });
    const twins = fleetMeters(2);

    const sixDays = await fleet.publishUntil(START + 6 * DAY_MS);
    expect(sixDays).toEqual({ published: 2 * 6 * 96, messages: 2 * 2 });
    const oneMore = await fleet.publishUntil(START + 7 * DAY_MS);
    expect(oneMore).toEqual({ published: 2 * 96, messages: 2 });

    await vi.waitFor(() => expect(observer.count()).toBe(2 * 7 * 96), { timeout: 5000 });
    expect(observer.messages()).toBe(6);
    for (const twin of twins) {
      expect(observer.received.get(twin.meterId)).toEqual(twin.meter.readingsUntil(START + 7 * DAY_MS));
    }
    await fleet.stop();
  });

  it('collects what the broker sends back on each meter’s errors topic', async () => {
    const fleet = await startFleet({ url: broker.url, meters: fleetMeters(3) });
    const error = {
      code: 'ERR_INGEST_PAYLOAD_INVALID',
      message: 'totalLiters must be a number',
      field: 'totalLiters',
    };
    const publish = (meterId: string, payload: string) =>
      new Promise<void>((resolve, reject) =>
        broker.broker.publish(
          { cmd: 'publish', topic: TOPICS.meterErrors(meterId), payload, qos: 1, dup: false, retain: false },
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    await publish('meter-1', JSON.stringify({ ...error, ts: '2026-01-05T00:00:00Z' }));
    await publish('meter-2', 'not json');
    await vi.waitFor(() => expect(fleet.errors.length).toBe(2), { timeout: 5000 });
    const byMeter = new Map(fleet.errors.map((e) => [e.meterId, e]));
    expect(byMeter.get('meter-1')).toMatchObject({ meterId: 'meter-1', ...error });
    expect(byMeter.get('meter-2')).toMatchObject({ meterId: 'meter-2', code: null, message: 'not json' });
    await fleet.stop();
  });

  it('fails to start, naming the meter, when the broker refuses a meter’s credentials, and leaves no client behind', async () => {
    const meters = fleetMeters(3);
    const wrong = { ...(meters[2] as FleetMeter), secret: 'not-the-secret' };
    await expect(
      startFleet({ url: broker.url, meters: [meters[0] as FleetMeter, meters[1] as FleetMeter, wrong] }),
    ).rejects.toThrow(/meter-2 .*Bad username or password/);
    await vi.waitFor(() => expect(broker.broker.connectedClients).toBe(0));
  });
});

describe('startFleet with transient meters and message sources', () => {
  let broker: TestBroker;
  let secrets: Map<string, string>;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    secrets = new Map([[OBSERVER.id, OBSERVER.secret]]);
    for (const m of fleetMeters(5)) secrets.set(m.meterId, m.secret);
    broker = await startBroker(secrets);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  /** Every payload received on a readings topic, as text, in arrival order per meter. */
  async function raw(url: string) {
    const client = await mqtt.connectAsync(url, {
      clientId: OBSERVER.id,
      username: OBSERVER.id,
      password: OBSERVER.secret,
      protocolVersion: 4,
    });
    clients.push(client);
    const received = new Map<string, string[]>();
    client.on('message', (topic, payload) => {
      const id = topic.split('/')[1] as string;
      received.set(id, [...(received.get(id) ?? []), payload.toString('utf8')]);
    });
    await client.subscribeAsync('meters/+/readings', { qos: 1 });
    return received;
  }

  it('pools a fleet larger than maxConnections: each meter connects only to send its own readings, in batches', async () => {
    const received = await raw(broker.url);
    let peak = 0;
    broker.broker.on('client', () => (peak = Math.max(peak, broker.broker.connectedClients)));
    const fleet = await startFleet({ url: broker.url, meters: fleetMeters(5), maxConnections: 2 });
    expect(broker.broker.connectedClients).toBe(1);
    const result = await fleet.publishUntil(START + DAY_MS / 4);
    expect(result).toEqual({ published: 5 * 24, messages: 5 });
    await vi.waitFor(() => expect([...received.values()].flat()).toHaveLength(5));
    for (const twin of fleetMeters(5)) {
      const batch = JSON.parse(received.get(twin.meterId)![0]!) as { readings: unknown[] };
      expect(batch.readings).toEqual(twin.meter.readingsUntil(START + DAY_MS / 4));
    }
    expect(peak).toBeLessThanOrEqual(3);
    await vi.waitFor(() => expect(broker.broker.connectedClients).toBe(1));
    await fleet.stop();
  });

  it('sends a message source’s payloads as they are, refused ones included, over a transient connection', async () => {
    const received = await raw(broker.url);
    const source = {
      messagesUntil: (t: number) =>
        t < START + HOUR_MS
          ? []
          : [
              { payload: '{"readings":[{"ts":1,"totalLiters":2}]}', readings: 1, kind: 'batch' as const },
              { payload: 'not json', readings: 0, kind: 'garbage' as const },
            ],
    };
    const [meter] = fleetMeters(1);
    const fleet = await startFleet({
      url: broker.url,
      meters: [{ ...meter!, meter: source, transient: true }],
    });
    expect(await fleet.publishUntil(START)).toEqual({ published: 0, messages: 0 });
    expect(await fleet.publishUntil(START + HOUR_MS)).toEqual({ published: 1, messages: 2 });
    await vi.waitFor(() =>
      expect(received.get(meter!.meterId)).toEqual(['{"readings":[{"ts":1,"totalLiters":2}]}', 'not json']),
    );
    await vi.waitFor(() => expect(broker.broker.connectedClients).toBe(1));
    await fleet.stop();
  });
});

describe('fleet payloads', () => {
  const readings = Array.from({ length: 1201 }, (_, i) => ({
    ts: START + i * 60_000,
    totalLiters: 1000 + i / 8,
  }));

  it('keeps to the readings contract, one reading or a batch per message', () => {
    const single = toPayloads(readings.slice(0, 3), false);
    expect(single.map((p) => JSON.parse(p))).toEqual(readings.slice(0, 3));
    const batches = toPayloads(readings, true);
    expect(batches.map((p) => (JSON.parse(p) as { readings: unknown[] }).readings.length)).toEqual([
      500, 500, 201,
    ]);
    for (const p of [...single, ...batches])
      expect(ReadingPayload.safeParse(JSON.parse(p)).success).toBe(true);
  });

  it('reads an error message as the documented { code, message, field } or keeps it as text', () => {
    expect(toFleetError('m', '{"code":"E","message":"bad"}')).toEqual({
      meterId: 'm',
      code: 'E',
      message: 'bad',
      payload: '{"code":"E","message":"bad"}',
    });
    expect(toFleetError('m', '{"oops":1}')).toMatchObject({ code: null, message: '{"oops":1}' });
  });
});
