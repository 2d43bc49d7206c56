import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testRegistry, type TestService } from './harness.ts';
import { careflowAuthBackend, SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';

/**
 * RabbitMQ 3.10 as the MQTT tier, checking meters and worker apps against careflow's HTTP auth backend routes:
 * a real RabbitMQ node, a real careflow with a real registry in SQLite, real MQTT clients, and careflow's side
 * as an AMQP consumer bound to `amq.topic`.
 */
const SECRET = 'rabbitmq-hook-secret-0123456789abcdef';
let svc: TestService;
let rabbit: RabbitMq;
let base: string;
let conn: ChannelModel;
let ch: Channel;
const readings: ConsumeMessage[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  svc = await startTestService({
    registry: testRegistry(2),
    config: {
      mqtt: { host: '127.0.0.1', port: 0, rabbitmqHookSecret: SECRET },
      http: { host: '127.0.0.1', port: 0, loginMaxFailures: 3 },
    },
  });
  base = `http://127.0.0.1:${svc.cf.httpPort}`;
  rabbit = await startRabbitMq({ config: careflowAuthBackend(base, SECRET, 2000) });
  conn = await amqp.connect(rabbit.amqpUrl);
  ch = await conn.createChannel();
  const q = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(q.queue, 'amq.topic', 'meters.#');
  await ch.consume(q.queue, (msg) => msg && readings.push(msg), { noAck: true });
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await conn?.close().catch(() => {});
  await rabbit?.dispose();
  await svc?.dispose();
}, 60_000);

/** Connects over MQTT to RabbitMQ; resolves with the client, or with the reason it was refused. */
function connect(
  username: string,
  password: string,
  clientId = username,
): Promise<{ client: MqttClient } | { refused: string }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(rabbit.mqttUrl, {
      username,
      password,
      clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    clients.push(client);
    client.once('connect', () => resolve({ client }));
    client.once('error', (e) => (client.end(true), resolve({ refused: e.message })));
    client.once('close', () => resolve({ refused: 'closed' }));
  });
}

async function connected(username: string, password: string, clientId = username): Promise<MqttClient> {
  const r = await connect(username, password, clientId);
  if ('refused' in r) throw new Error(`${username} was refused: ${r.refused}`);
  return r.client;
}

const until = async (what: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
};

describe.skipIf(SKIP_RABBITMQ)('RabbitMQ checks MQTT clients against careflow', () => {
  it("lets a meter in with its registry secret and carries its readings to careflow's queue", async () => {
    const meter = await connected('m-g1-1', 'secret-m-g1-1');
    const payload = JSON.stringify({ ts: '2026-01-05T08:00:00+08:00', totalLiters: 12.5 });
    await meter.publishAsync('meters/m-g1-1/readings', payload, { qos: 1 });
    expect(await until(() => readings.some((m) => m.fields.routingKey === 'meters.m-g1-1.readings'))).toBe(
      true,
    );
    const got = readings.find((m) => m.fields.routingKey === 'meters.m-g1-1.readings')!;
    expect(got.content.toString()).toBe(payload);
    meter.end(true);
  }, 60_000);

  it('refuses wrong and unknown credentials, and a client id that belongs to someone else', async () => {
    expect(await connect('m-g1-2', 'secret-m-g1-1')).toMatchObject({ refused: expect.any(String) });
    expect(await connect('nobody', 'secret-m-g1-1')).toMatchObject({ refused: expect.any(String) });
    expect(await connect('m-g1-2', '')).toMatchObject({ refused: expect.any(String) });
    // A worker may not take another worker app's client id (and so its session queue).
    expect(await connect('w-g1', 'secret-w-g1', 'app-w-g2')).toMatchObject({ refused: expect.any(String) });
    const ok = await connected('m-g1-2', 'secret-m-g1-2');
    ok.end(true);
  }, 60_000);

  it("does not carry a meter's publish to another meter's topic, nor any other topic", async () => {
    const before = readings.length;
    const meter = await connected('m-g2-1', 'secret-m-g2-1');
    const closed = new Promise<void>((r) => meter.once('close', () => r()));
    meter.publish('meters/m-g2-2/readings', JSON.stringify({ ts: Date.now(), totalLiters: 1 }), { qos: 1 });
    // RabbitMQ 3.10 answers an unauthorised publish by closing the connection.
    await closed;
    const again = await connected('m-g2-1', 'secret-m-g2-1');
    await again.publishAsync('meters/m-g2-1/readings', JSON.stringify({ ts: Date.now(), totalLiters: 2 }), {
      qos: 1,
    });
    expect(
      await until(() => readings.slice(before).some((m) => m.fields.routingKey === 'meters.m-g2-1.readings')),
    ).toBe(true);
    expect(readings.slice(before).map((m) => m.fields.routingKey)).not.toContain('meters.m-g2-2.readings');
    again.end(true);
  }, 60_000);

  it("does not let a worker app read another worker's alerts", async () => {
    const mine: string[] = [];
    const other: string[] = [];
    const w2 = await connected('w-g2', 'secret-w-g2', 'app-w-g2');
    w2.on('message', (_t, p) => mine.push(p.toString()));
    const granted = await w2.subscribeAsync('workers/w-g2/alerts', { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
    const w1 = await connected('w-g1', 'secret-w-g1', 'app-w-g1');
    w1.on('message', (_t, p) => other.push(p.toString()));
    // RabbitMQ 3.10 answers an unauthorised SUBSCRIBE by closing the connection (no failure code in SUBACK).
    const denied = await w1.subscribeAsync('workers/w-g2/alerts', { qos: 1 }).catch((e: Error) => e);
    expect(denied).toBeInstanceOf(Error);
    const wildcard = await connected('w-g1', 'secret-w-g1', 'w-g1');
    const wildcardDenied = await wildcard
      .subscribeAsync('workers/+/alerts', { qos: 1 })
      .catch((e: Error) => e);
    expect(wildcardDenied).toBeInstanceOf(Error);
    ch.publish('amq.topic', 'workers.w-g2.alerts', Buffer.from('{"alert":"a-1"}'), { persistent: true });
    expect(await until(() => mine.length === 1)).toBe(true);
    await sleep(500);
    expect(other).toEqual([]);
    // Nothing of w-g1's is bound to w-g2's alerts (or to every worker's).
    const bindings = rabbit.ctl('list_bindings', '--silent', 'destination_name', 'routing_key');
    expect(bindings).toMatch(/mqtt-subscription-app-w-g2qos1\s+workers\.w-g2\.alerts/);
    expect(bindings).not.toMatch(/mqtt-subscription-(app-)?w-g1qos\d\s+workers\.(w-g2|\*)\.alerts/);
    w1.end(true);
    w2.end(true);
    wildcard.end(true);
  }, 60_000);

  it('answers only RabbitMQ: a call without the secret is 401, and the routes read form fields only there', async () => {
    const res = await fetch(`${base}/hooks/rabbitmq/user`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=m-g1-1&password=secret-m-g1-1',
    });
    expect(res.status).toBe(401);
    const withSecret = await fetch(`${base}/hooks/rabbitmq/user`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`rabbitmq:${SECRET}`).toString('base64')}`,
      },
      body: 'username=m-g1-1&password=secret-m-g1-1&client_id=m-g1-1',
    });
    expect(withSecret.status).toBe(200);
    expect(await withSecret.text()).toBe('allow');
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
