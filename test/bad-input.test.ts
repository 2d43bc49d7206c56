import { connect as netConnect } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeterErrorMessage } from '../core/readings.ts';
import {
  connectClient,
  eventually,
  HOUR,
  startTestService,
  T0,
  testRegistry,
  type TestService,
} from './harness.ts';

/**
 * Bad input gets a clear error and nothing valid is lost: one meter sends every kind of bad payload while
 * the other meters keep publishing valid readings, all in the same run.
 */
let svc: TestService;
let bad: mqtt.MqttClient;
const errors: MeterErrorMessage[] = [];
const good: mqtt.MqttClient[] = [];
let goodPublished = 0;

beforeAll(async () => {
  svc = await startTestService({
    registry: testRegistry(3),
    config: { mqtt: { host: '127.0.0.1', port: 0, maxPayloadBytes: 4096, maxPacketBytes: 65_536 } },
  });
  svc.clock.advanceTo(T0 + 48 * HOUR);
  bad = await connectClient(svc.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
  bad.on('message', (_t, p) => errors.push(JSON.parse(p.toString()) as MeterErrorMessage));
  await bad.subscribeAsync('meters/m-g1-1/errors', { qos: 1 });
  for (const id of ['m-g1-2', 'm-g2-1', 'm-g2-2'])
    good.push(await connectClient(svc.mqttUrl, id, `secret-${id}`));
});

afterAll(async () => {
  await Promise.all([bad, ...good].map((c) => c.endAsync(true)));
  await svc.dispose();
});

/** Each good meter publishes one valid reading; called between bad inputs. */
async function publishGood(): Promise<void> {
  await Promise.all(
    good.map((c) => {
      const id = c.options.username!;
      const ts = T0 + goodPublished * 60_000;
      return c.publishAsync(
        `meters/${id}/readings`,
        JSON.stringify({ ts, totalLiters: 1000 + goodPublished }),
        { qos: 1 },
      );
    }),
  );
  goodPublished++;
}

async function sendBad(
  payload: string | Buffer,
  topic = 'meters/m-g1-1/readings',
): Promise<MeterErrorMessage> {
  const before = errors.length;
  await bad.publishAsync(topic, payload, { qos: 1 });
  await publishGood();
  await eventually(() => errors.length > before, 3000, 'an error message');
  return errors[errors.length - 1]!;
}

describe('bad input is refused with a clear reason and valid input still arrives', () => {
  it.each([
    ['malformed JSON', '{"ts": 1767542400000, "totalLiters": ', 'ERR_INGEST_PAYLOAD_MALFORMED', undefined],
    ['wrong types', '{"ts": "yesterday", "totalLiters": "12"}', 'ERR_INGEST_PAYLOAD_INVALID', 'ts'],
    [
      'a string total',
      JSON.stringify({ ts: T0, totalLiters: '12' }),
      'ERR_INGEST_PAYLOAD_INVALID',
      'totalLiters',
    ],
    [
      'a negative total',
      JSON.stringify({ ts: T0, totalLiters: -5 }),
      'ERR_INGEST_PAYLOAD_INVALID',
      'totalLiters',
    ],
    [
      'a non-finite total',
      `{"ts": ${T0}, "totalLiters": 1e400}`,
      'ERR_INGEST_PAYLOAD_INVALID',
      'totalLiters',
    ],
    ['a missing total', JSON.stringify({ ts: T0 }), 'ERR_INGEST_PAYLOAD_INVALID', 'totalLiters'],
    ['an array at the root', '[1,2,3]', 'ERR_INGEST_PAYLOAD_INVALID', undefined],
    [
      'a timestamp a day in the future',
      JSON.stringify({ ts: T0 + 72 * HOUR, totalLiters: 5 }),
      'ERR_INGEST_TIMESTAMP_FUTURE',
      'ts',
    ],
    [
      'an oversize payload',
      JSON.stringify({ ts: T0, totalLiters: 5, pad: 'x'.repeat(5000) }),
      'ERR_INGEST_PAYLOAD_TOO_LARGE',
      undefined,
    ],
  ])('%s is answered on the meter’s error topic and dead-lettered', async (_name, payload, code, field) => {
    const err = await sendBad(payload);
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(10);
    if (field) expect(err.field).toBe(field);
    const letters = svc.cf.store.deadLetters.list({ meterId: 'm-g1-1', code });
    expect(letters.length).toBeGreaterThan(0);
    expect(bad.connected).toBe(true);
  });

  it('a batch keeps its good readings and reports the bad one with its index', async () => {
    const before = svc.cf.store.inbox.countForMeter('m-g1-1');
    const err = await sendBad(
      JSON.stringify({
        readings: [
          { ts: T0 + HOUR, totalLiters: 10 },
          { ts: T0 + 2 * HOUR, totalLiters: 'lots' },
          { ts: T0 + 3 * HOUR, totalLiters: 12 },
        ],
      }),
    );
    expect(err).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'readings.1.totalLiters' });
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(before + 2);
  });

  it('publishing to another meter’s topic is refused and nothing is stored for that meter', async () => {
    const before = svc.cf.store.inbox.countForMeter('m-g2-3');
    const err = await sendBad(JSON.stringify({ ts: T0, totalLiters: 1 }), 'meters/m-g2-3/readings');
    expect(err.code).toBe('ERR_BROKER_TOPIC_FORBIDDEN');
    expect(svc.cf.store.inbox.countForMeter('m-g2-3')).toBe(before);
  });

  it('a meter may not subscribe to a worker’s alerts', async () => {
    // SUBACK 0x80 (failure); the mqtt client turns it into a rejected subscribe.
    await expect(bad.subscribeAsync('workers/w-g1/alerts', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(bad.connected).toBe(true);
  });

  it('a wrong password and an anonymous client are refused at CONNECT', async () => {
    await expect(connectClient(svc.mqttUrl, 'm-g2-3', 'not-the-secret')).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(
      mqtt.connectAsync(svc.mqttUrl, { clientId: 'anon', reconnectPeriod: 0, connectTimeout: 3000 }),
    ).rejects.toThrow(/Bad username or password/i);
    await expect(connectClient(svc.mqttUrl, 'no-such-meter', 'whatever-secret')).rejects.toThrow(
      /Bad username or password/i,
    );
  });

  it('an MQTT packet over the hard limit closes that connection before it is buffered, and is dead-lettered', async () => {
    const victim = await connectClient(svc.mqttUrl, 'm-g2-3', 'secret-m-g2-3');
    const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    victim.publish('meters/m-g2-3/readings', Buffer.alloc(200_000, 0x20), { qos: 1 });
    await closed;
    await publishGood();
    const letters = svc.cf.store.deadLetters.list({ code: 'ERR_INGEST_PACKET_TOO_LARGE' });
    expect(letters[0]).toMatchObject({ meterId: 'm-g2-3' });
    await victim.endAsync(true);
  });

  it('garbage bytes on the MQTT port do not take the broker down', async () => {
    await new Promise<void>((resolve) => {
      const s = netConnect(svc.cf.mqttPort, '127.0.0.1', () =>
        s.end(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x13])),
      );
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    await publishGood();
  });

  it('every valid reading from the other meters arrived', () => {
    for (const c of good) expect(svc.cf.store.inbox.countForMeter(c.options.username!)).toBe(goodPublished);
    expect(goodPublished).toBe(13); // one round after each bad input above
  });
});
