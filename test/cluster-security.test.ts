import type { ChildProcess } from 'node:child_process';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importRegistryShared } from '../registry/shared-import.ts';
import { startTestService, tempDataDir, testRegistry, type TestService } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { spawnClusterWorker, stopWorkerProcess } from './service-process.ts';
import { careflowAuthBackend, SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';

/**
 * Security in the cluster: a real RabbitMQ checking every MQTT (and AMQP) login and permission against careflow's
 * HTTP auth backend, the partitioned readings queue a real `careflow start --cluster` worker declared and
 * consumes, and PostgreSQL behind it. What a meter or worker app may not do must not reach PostgreSQL, another
 * worker's app, or the partition queues — by MQTT or by speaking AMQP to RabbitMQ with the same credentials.
 * The registry is imported once into PostgreSQL (`careflow import --cluster`): the auth backend and the worker
 * start with empty data directories and follow it.
 */
const SECRET = 'rabbitmq-hook-secret-0123456789abcdef';
const PARTITIONS = 2;
const registry = testRegistry(2);
registry.workers!.find((w) => w.id === 'w-g1')!.password = 'console-password-w-g1';
/** How often the auth backend and the worker check the shared registry's version. */
const REGISTRY_POLL_MS = 200;

let pgServer: Postgres;
let rabbit: RabbitMq;
let auth: TestService;
let base: string;
let db: pg.Pool;
let worker: { proc: ChildProcess; exited: Promise<unknown>; dir: string; httpPort: number } | undefined;
let careflow: ChannelModel;
let out: Channel;
const clients: MqttClient[] = [];
const skip = SKIP_RABBITMQ || SKIP_POSTGRES;

beforeAll(async () => {
  if (skip) return;
  pgServer = await startPostgres();
  db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  await importRegistryShared(db, registry);
  auth = await startTestService({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, rabbitmqHookSecret: SECRET },
      http: { host: '127.0.0.1', port: 0, loginMaxFailures: 50 },
      cluster: { postgresUrl: pgServer.url, registryPollMs: REGISTRY_POLL_MS },
    },
  });
  base = `http://127.0.0.1:${auth.cf.httpPort}`;
  // A short cache: each case below asks careflow again rather than reusing an earlier case's answer.
  rabbit = await startRabbitMq({ config: careflowAuthBackend(base, SECRET, 1000) });
  worker = await spawnWorker(tempDataDir());
  careflow = await amqp.connect(rabbit.amqpUrl);
  out = await careflow.createChannel();
}, 240_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await careflow?.close().catch(() => {});
  if (worker) await stopWorkerProcess(worker);
  await db?.end();
  await rabbit?.dispose();
  await pgServer?.dispose();
  await auth?.dispose();
}, 120_000);

async function spawnWorker(dir: string) {
  const cluster = {
    amqpUrl: rabbit.amqpUrl,
    postgresUrl: pgServer.url,
    partitions: PARTITIONS,
    registryPollMs: REGISTRY_POLL_MS,
  };
  return { ...(await spawnClusterWorker(dir, cluster, 90_000)), dir };
}

/** Connects over MQTT 3.1.1 to RabbitMQ; resolves with the client, or with the reason it was refused. */
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
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
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

/** The inbox rows of a meter in PostgreSQL (what the cluster worker committed). */
async function inbox(meterId: string): Promise<number[]> {
  const r = await db.query<{ ts: number }>(
    'SELECT ts::float8 AS ts FROM inbox WHERE meter_id = $1 ORDER BY ts',
    [meterId],
  );
  return r.rows.map((x) => x.ts);
}

async function until(what: () => Promise<boolean> | boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) return false;
    await sleep(100);
  }
  return true;
}

/** Logs in over AMQP with a meter's or worker app's MQTT credentials: the connection, or the refusal. */
async function amqpLogin(username: string, password: string): Promise<ChannelModel | Error> {
  const url = `amqp://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${rabbit.ports.amqp}`;
  return amqp.connect(url).catch((e: Error) => e);
}

describe.skipIf(skip)(
  'security in the cluster (RabbitMQ + careflow auth backend + worker + PostgreSQL)',
  () => {
    it("carries a meter's own readings to PostgreSQL, and none it publishes to another meter's topic", async () => {
      const ts = Date.UTC(2026, 0, 5, 0, 0);
      const meter = await connected('m-g1-1', 'secret-m-g1-1');
      await meter.publishAsync('meters/m-g1-1/readings', JSON.stringify({ ts, totalLiters: 10 }), { qos: 1 });
      expect(await until(async () => (await inbox('m-g1-1')).includes(ts))).toBe(true);

      // RabbitMQ 3.10 answers an unauthorised PUBLISH by closing the connection, without a PUBACK.
      const closed = new Promise<void>((r) => meter.once('close', () => r()));
      meter.publish('meters/m-g1-2/readings', JSON.stringify({ ts: ts + 1, totalLiters: 99 }), { qos: 1 });
      await closed;
      // The same for a topic outside the contract that the readings binding would still route (meters.#.readings).
      const sneaky = await connected('m-g1-1', 'secret-m-g1-1');
      const sneakyClosed = new Promise<void>((r) => sneaky.once('close', () => r()));
      sneaky.publish('meters/m-g1-2/x/readings', JSON.stringify({ ts: ts + 2, totalLiters: 99 }), { qos: 1 });
      await sneakyClosed;

      // A later reading of the victim meter, published by itself, is there; the forged ones never are.
      const victim = await connected('m-g1-2', 'secret-m-g1-2');
      await victim.publishAsync('meters/m-g1-2/readings', JSON.stringify({ ts: ts + 3, totalLiters: 5 }), {
        qos: 1,
      });
      expect(await until(async () => (await inbox('m-g1-2')).includes(ts + 3))).toBe(true);
      expect(await inbox('m-g1-2')).toEqual([ts + 3]);
      victim.end(true);
    }, 90_000);

    it('lets a meter imported once into the shared registry log in, and carries its readings', async () => {
      const secret = 'secret-m-new-0123';
      // Not in the registry yet: RabbitMQ's auth backend refuses it.
      expect(await connect('m-new', secret)).toMatchObject({ refused: expect.any(String) });
      const report = await importRegistryShared(db, {
        households: [{ id: 'h-new', grid: 'g1', address: 'New Lane 1' }],
        meters: [{ id: 'm-new', household: 'h-new', secret }],
      });
      expect(report.version).toBe(2);
      // The worker pulls the new version (it would dead-letter the meter's readings as unknown before).
      const version = async () => {
        const res = await fetch(`http://127.0.0.1:${worker!.httpPort}/healthz`);
        return ((await res.json()) as { registry: { version: number } }).registry.version;
      };
      expect(await until(async () => (await version()) === 2)).toBe(true);
      // The auth backend pulls it too (RabbitMQ may answer from its cache for a second).
      let meter: MqttClient | undefined;
      expect(
        await until(async () => {
          const r = await connect('m-new', secret);
          if ('client' in r) meter = r.client;
          return meter !== undefined;
        }),
      ).toBe(true);
      const ts = Date.UTC(2026, 0, 5, 1, 0);
      await meter!.publishAsync('meters/m-new/readings', JSON.stringify({ ts, totalLiters: 3 }), { qos: 1 });
      expect(await until(async () => (await inbox('m-new')).includes(ts))).toBe(true);
      const letters = await db.query('SELECT code FROM dead_letters WHERE meter_id = $1', ['m-new']);
      expect(letters.rows).toEqual([]);
      meter!.end(true);
    }, 90_000);

    it("does not let a worker app read another worker's alerts", async () => {
      const mine: string[] = [];
      const theirs: string[] = [];
      const w2 = await connected('w-g2', 'secret-w-g2', 'app-w-g2');
      w2.on('message', (_t, p) => mine.push(p.toString()));
      expect((await w2.subscribeAsync('workers/w-g2/alerts', { qos: 1 }))[0]?.qos).toBe(1);
      const w1 = await connected('w-g1', 'secret-w-g1', 'app-w-g1');
      w1.on('message', (_t, p) => theirs.push(p.toString()));
      // 3.10 answers an unauthorised SUBSCRIBE by closing the connection; so for a wildcard over every worker.
      expect(
        await w1.subscribeAsync('workers/w-g2/alerts', { qos: 1 }).catch((e: Error) => e),
      ).toBeInstanceOf(Error);
      const wild = await connected('w-g1', 'secret-w-g1', 'w-g1');
      wild.on('message', (_t, p) => theirs.push(p.toString()));
      expect(await wild.subscribeAsync('workers/+/alerts', { qos: 1 }).catch((e: Error) => e)).toBeInstanceOf(
        Error,
      );
      const all = await connected('w-g1', 'secret-w-g1', 'app-w-g1');
      all.on('message', (_t, p) => theirs.push(p.toString()));
      expect(await all.subscribeAsync('#', { qos: 1 }).catch((e: Error) => e)).toBeInstanceOf(Error);
      // Nor may a worker app take the other app's session (its client id, and so its queue).
      expect(await connect('w-g1', 'secret-w-g1', 'app-w-g2')).toMatchObject({ refused: expect.any(String) });

      // careflow publishes an alert for w-g2 as the cluster does (to amq.topic, routing key of its topic).
      out.publish('amq.topic', 'workers.w-g2.alerts', Buffer.from('{"alertId":"a-1"}'), { persistent: true });
      expect(await until(() => mine.length === 1)).toBe(true);
      await sleep(500);
      expect(theirs).toEqual([]);
      const bindings = rabbit.ctl('list_bindings', '--silent', 'destination_name', 'routing_key');
      expect(bindings).not.toMatch(/mqtt-subscription-(app-)?w-g1qos\d\s+(workers\.(w-g2|\*)\.alerts|#)/);
      w2.end(true);
    }, 90_000);

    it("serves the console and a grid worker's alerts from PostgreSQL, to that person only", async () => {
      const web = `http://127.0.0.1:${worker!.httpPort}`;
      expect((await fetch(`${web}/`)).status).toBe(200);
      const post = (path: string, body: unknown, token?: string) =>
        fetch(web + path, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        });
      expect((await post('/api/login', { id: 'w-g1', password: 'wrong' })).status).toBe(401);
      // A person without a console password (a meter's or app's secret is not one) cannot log in.
      expect((await post('/api/login', { id: 'w-g2', password: 'secret-w-g2' })).status).toBe(401);
      expect((await fetch(`${web}/api/alerts`)).status).toBe(401);
      const login = await post('/api/login', { id: 'w-g1', password: 'console-password-w-g1' });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const list = await fetch(`${web}/api/alerts`, { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).toBe(200);
      expect(await list.json()).toMatchObject({ alerts: expect.any(Array) });
      // A token of another careflow (the auth backend's, with its own key) is not this cluster's.
      const other = await fetch(`${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'w-g1', password: 'console-password-w-g1' }),
      });
      expect(other.status).toBe(200);
      const foreign = ((await other.json()) as { token: string }).token;
      const res = await fetch(`${web}/api/alerts`, { headers: { authorization: `Bearer ${foreign}` } });
      expect(res.status).toBe(401);
    }, 60_000);

    it('refuses wrong credentials and unknown users', async () => {
      const refused = { refused: expect.any(String) };
      expect(await connect('m-g2-1', 'secret-m-g2-2')).toMatchObject(refused); // another meter's secret
      expect(await connect('m-g2-1', '')).toMatchObject(refused);
      expect(await connect('m-g2-1', 'SECRET-M-G2-1')).toMatchObject(refused);
      expect(await connect('w-g2', 'secret-w-g1', 'app-w-g2')).toMatchObject(refused);
      expect(await connect('nobody', 'secret-m-g2-1')).toMatchObject(refused);
      expect(await connect('m-g9-9', 'secret-m-g9-9')).toMatchObject(refused);
      // careflow's own RabbitMQ user with a wrong password (it is not a registry user: the backend says deny).
      expect(await connect('careflow', 'wrong-password', 'careflow-x')).toMatchObject(refused);
      // The right secret still works after all that.
      (await connected('m-g2-1', 'secret-m-g2-1')).end(true);
    }, 90_000);

    it("keeps meters and worker apps to MQTT: their credentials open no AMQP connection to the partitions' broker", async () => {
      for (const [user, password] of [
        ['m-g2-2', 'secret-m-g2-2'],
        ['w-g1', 'secret-w-g1'],
      ] as const) {
        const conn = await amqpLogin(user, password);
        if (!(conn instanceof Error)) {
          // Were the login let through: show what it opens (a partition queue must stay closed), then fail.
          const ch = await conn.createChannel();
          ch.on('error', () => {});
          const consumed = await ch
            .consume('careflow.readings.0', () => {})
            .then(
              () => 'consumed careflow.readings.0',
              (e: Error) => e.message,
            );
          await conn.close().catch(() => {});
          expect.fail(`${user} logged in over AMQP (${consumed})`);
        }
        expect(conn.message, user).toMatch(/ACCESS.REFUSED|403/);
      }
      // careflow's own user (RabbitMQ's internal database) still logs in over AMQP, as the workers do.
      const own = await amqpLogin(rabbit.user.username, rabbit.user.password);
      expect(own).not.toBeInstanceOf(Error);
      await (own as ChannelModel).close();
    }, 60_000);

    it('answers the hooks only with the shared secret', async () => {
      const form = {
        user: 'username=m-g1-1&password=secret-m-g1-1&client_id=m-g1-1',
        vhost: 'username=m-g1-1&vhost=%2F',
        resource: 'username=m-g1-1&vhost=%2F&resource=queue&name=careflow.readings.0&permission=read',
        topic:
          'username=m-g1-1&vhost=%2F&resource=topic&name=amq.topic&permission=write&routing_key=meters.m-g1-1.readings',
      };
      const call = (route: keyof typeof form, headers: Record<string, string> = {}) =>
        fetch(`${base}/hooks/rabbitmq/${route}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: form[route],
        });
      const basic = (secret: string) => ({
        authorization: `Basic ${Buffer.from(`rabbitmq:${secret}`).toString('base64')}`,
      });
      for (const route of ['user', 'vhost', 'resource', 'topic'] as const) {
        const none = await call(route);
        expect(none.status, route).toBe(401);
        expect(await none.text()).not.toMatch(/allow|at .*\.ts/);
        expect((await call(route, basic('not-the-secret-0123456789abcdef'))).status, route).toBe(401);
        expect((await call(route, { 'x-careflow-hook-secret': `${SECRET}x` })).status, route).toBe(401);
        expect((await call(route, basic(SECRET.slice(0, -1)))).status, route).toBe(401);
      }
      // With the secret: the user may log in and publish its readings, but not read a partition queue.
      const ok = async (route: keyof typeof form) => (await call(route, basic(SECRET))).text();
      expect(await ok('user')).toBe('allow');
      // The same login without the MQTT plugin's client id (so over AMQP) is refused.
      const amqpLike = await fetch(`${base}/hooks/rabbitmq/user`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(SECRET) },
        body: 'username=m-g1-1&password=secret-m-g1-1',
      });
      expect(await amqpLike.text()).toBe('deny');
      expect(await ok('vhost')).toBe('allow');
      expect(await ok('topic')).toBe('allow');
      expect(await ok('resource')).toBe('deny');
    }, 60_000);
  },
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
