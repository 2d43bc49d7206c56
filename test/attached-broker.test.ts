import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  eventually,
  HOUR,
  startTestService,
  T0,
  tempDataDir,
  testRegistry,
} from './harness.ts';
import { SKIP_MOSQUITTO, startMosquitto, type Mosquitto } from './mosquitto.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';

/**
 * careflow attached to a real Mosquitto 2 (Debian package) through `mqtt.url`: the meters and the worker apps are
 * Mosquitto's clients, authenticated and held to their topics by the files `careflow import --mosquitto-dir`
 * writes from the registry.
 */
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
const BROKER_LOGIN = { CAREFLOW_MQTT_USERNAME: 'careflow', CAREFLOW_MQTT_PASSWORD: 'careflow-broker-secret' };
const root = tempDataDir();
const mosqDir = join(root, 'mosquitto');
let mosquitto: Mosquitto;
const clients: MqttClient[] = [];

async function importInto(dataDir: string): Promise<void> {
  const file = join(root, 'registry.json');
  writeFileSync(file, JSON.stringify(testRegistry(5)));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [BIN, 'import', file, '--mosquitto-dir', mosqDir],
    {
      env: { ...process.env, CAREFLOW_DATA_DIR: dataDir, ...BROKER_LOGIN },
    },
  );
  expect(stdout).toContain('(13 users)'); // 10 meters, 2 workers, careflow
}

beforeAll(async () => {
  if (SKIP_MOSQUITTO) return;
  await importInto(join(root, 'a'));
  mosquitto = await startMosquitto(mosqDir);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await mosquitto?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(SKIP_MOSQUITTO)('careflow attached to Mosquitto', () => {
  it('stores readings of meters that log in at Mosquitto, which refuses foreign topics; a grid worker gets its alert there', async () => {
    const svc = await startTestService({
      dataDir: join(root, 'a'),
      config: {
        mqtt: {
          url: mosquitto.url,
          username: BROKER_LOGIN.CAREFLOW_MQTT_USERNAME,
          password: BROKER_LOGIN.CAREFLOW_MQTT_PASSWORD,
          clientId: 'careflow-a',
          shareGroup: 'careflow-a',
        },
      },
    });
    try {
      svc.clock.advanceTo(T0 + 2 * HOUR);
      const worker = await connectClient(mosquitto.url, 'w-g1', 'secret-w-g1', false);
      clients.push(worker);
      const alerts: { event: string; ruleId: string; alertId: string; messageId: string }[] = [];
      worker.on('message', (_t, m) =>
        alerts.push(
          JSON.parse(m.toString()) as { event: string; ruleId: string; alertId: string; messageId: string },
        ),
      );
      await worker.subscribeAsync('workers/w-g1/alerts', { qos: 1 });

      const meter = await connectClient(mosquitto.url, 'm-g1-1', 'secret-m-g1-1');
      clients.push(meter);
      await meter.publishAsync('meters/m-g1-1/readings', JSON.stringify({ ts: T0, totalLiters: 100 }), {
        qos: 1,
      });
      // Another meter's topic: Mosquitto's ACL drops it; careflow never sees it.
      await meter.publishAsync('meters/m-g1-2/readings', JSON.stringify({ ts: T0, totalLiters: 5 }), {
        qos: 1,
      });
      await meter.publishAsync(
        'meters/m-g1-1/readings',
        JSON.stringify({ ts: T0 + HOUR, totalLiters: 101 }),
        {
          qos: 1,
        },
      );
      await eventually(
        () => svc.cf.store.inbox.countForMeter('m-g1-1') === 2,
        10_000,
        'readings via Mosquitto',
      );
      expect(svc.cf.store.inbox.countForMeter('m-g1-2')).toBe(0);
      expect((await svc.cf.http.inject({ url: '/healthz' })).json()).toMatchObject({
        checks: { broker: 'ok' },
      });

      // A wrong secret is refused by Mosquitto.
      const refused = await mqtt
        .connectAsync(mosquitto.url, {
          username: 'm-g1-2',
          password: 'wrong',
          reconnectPeriod: 0,
          connectTimeout: 5_000,
        })
        .then(
          (c) => (c.end(true), 'connected'),
          () => 'refused',
        );
      expect(refused).toBe('refused');

      // Water runs at 150 L an hour for three hours: heavy-use (welfare) opens, and the grid worker's app on
      // Mosquitto receives it (silent meters are maintenance tickets for community staff, not the worker's).
      svc.clock.advanceTo(T0 + 5 * HOUR);
      const heavy = [2, 3, 4, 5].map((h) => ({ ts: T0 + h * HOUR, totalLiters: 101 + (h - 1) * 150 }));
      await meter.publishAsync('meters/m-g1-1/readings', JSON.stringify({ readings: heavy }), { qos: 1 });
      await eventually(
        () => alerts.some((a) => a.event === 'opened' && a.ruleId === 'heavy-use'),
        10_000,
        'alert',
      );
      const alertId = alerts.find((a) => a.event === 'opened' && a.ruleId === 'heavy-use')!.alertId;
      const state = () => svc.cf.store.alerts.get(alertId);

      // The other grid's worker: under w-g1's id Mosquitto's ACL drops the acknowledgement; under its own id
      // careflow refuses it (the alert is outside its grid) with a dead letter. The alert stays open.
      const other = await connectClient(mosquitto.url, 'w-g2', 'secret-w-g2');
      clients.push(other);
      const otherErrors: unknown[] = [];
      other.on('message', (topic, payload) => {
        if (topic === 'workers/w-g2/errors') otherErrors.push(JSON.parse(payload.toString()));
      });
      await other.subscribeAsync('workers/w-g2/errors', { qos: 0 });
      await other.publishAsync(`workers/w-g1/alerts/${alertId}/ack`, '', { qos: 1 });
      await other.publishAsync(`workers/w-g2/alerts/${alertId}/ack`, '', { qos: 1 });
      await eventually(
        () => svc.cf.store.deadLetters.list({ meterId: 'w-g2' }).length === 1,
        10_000,
        "the refused acknowledgement's dead letter",
      );
      expect(svc.cf.store.deadLetters.list({ meterId: 'w-g2' })[0]).toMatchObject({
        code: 'ERR_BROKER_TOPIC_FORBIDDEN',
        topic: `workers/w-g2/alerts/${alertId}/ack`,
      });
      expect(state()?.state).toBe('open');
      // careflow tells the app why on its errors topic (through Mosquitto's ACL: careflow writes, w-g2 reads).
      await eventually(() => otherErrors.length === 1, 10_000, 'the error reply');
      expect(otherErrors[0]).toMatchObject({
        code: 'ERR_ALERT_NOT_FOUND', // an alert outside one's grids is answered as one that does not exist
        topic: `workers/w-g2/alerts/${alertId}/ack`,
        alertId,
      });

      // Mosquitto does not tell careflow about the app's PUBACK: the app confirms the message on its receipt
      // topic. The same receipt under w-g1's id from the other app is dropped by Mosquitto's ACL.
      const { messageId } = alerts.find((a) => a.alertId === alertId)!;
      const received = () => svc.cf.store.alerts.timeline(alertId).filter((e) => e.kind === 'received');
      await other.publishAsync('workers/w-g1/received', JSON.stringify({ messageId }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      expect(received()).toEqual([]);
      await worker.publishAsync('workers/w-g1/received', JSON.stringify({ messageId }), { qos: 1 });
      await eventually(() => received().length === 1, 10_000, 'the receipt over MQTT');
      expect(received()[0]!.detail).toEqual({ channel: 'mqtt', worker: 'w-g1' });

      // The grid worker acknowledges from the app over Mosquitto, with a note.
      await worker.publishAsync(`workers/w-g1/alerts/${alertId}/ack`, JSON.stringify({ note: 'on my way' }), {
        qos: 1,
      });
      await eventually(() => state()?.state === 'acknowledged', 10_000, 'the acknowledgement over MQTT');
      expect(state()?.acknowledgedBy).toBe('w-g1');
      const timeline = svc.cf.store.alerts.timeline(alertId);
      expect(timeline.find((e) => e.kind === 'acknowledged')).toMatchObject({ actor: 'w-g1' });
      expect(
        timeline.some((e) => e.kind === 'comment' && JSON.stringify(e.detail).includes('on my way')),
      ).toBe(true);
    } finally {
      await svc.stop();
    }
  }, 60_000);

  it('loses no reading Mosquitto took for careflow when careflow is killed under load (redelivered)', async () => {
    const dir = join(root, 'b');
    await importInto(dir);
    mosquitto.reload();
    const env = { CAREFLOW_MQTT_URL: mosquitto.url, ...BROKER_LOGIN };
    let service: ServiceProcess = await spawnService(dir, env);
    const ids = testRegistry(5).meters!.map((m) => m.id);
    const meters = await Promise.all(ids.map((id) => connectClient(mosquitto.url, id, `secret-${id}`)));
    clients.push(...meters);
    const start = Date.now() - 3 * HOUR;
    const PER_METER = 300;
    const sending = Promise.all(
      meters.map(async (m, i) => {
        for (let k = 0; k < PER_METER; k++)
          await m.publishAsync(
            `meters/${ids[i]}/readings`,
            JSON.stringify({ ts: start + k * 1000, totalLiters: k }),
            {
              qos: 1,
            },
          );
      }),
    );
    const db = new Database(join(dir, 'careflow.db'), { readonly: true });
    const stored = () =>
      db.prepare("SELECT count(DISTINCT meter_id || ':' || ts) FROM inbox").pluck().get() as number;
    try {
      await eventually(() => stored() > 200, 30_000, 'some readings stored');
      await service.kill(); // SIGKILL while meters keep sending: Mosquitto queues for careflow's session
      await sending; // every reading was acknowledged to its meter by Mosquitto
      service = await spawnService(dir, env);
      await eventually(() => stored() === ids.length * PER_METER, 60_000, 'every reading after the restart');
      expect(stored()).toBe(3_000);
    } finally {
      db.close();
      await service.stop();
    }
  }, 180_000);
});
