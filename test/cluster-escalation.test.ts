import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACK_REFUSED_QUEUE, startAckConsumer, type AckConsumer } from '../cluster/ack-consumer.ts';
import {
  escalateOnFailedDelivery,
  startEscalationSteps,
  type EscalationSteps,
} from '../cluster/escalation-steps.ts';
import { startOutboxRelay, type OutboxRelay } from '../cluster/outbox-relay.ts';
import { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import type { WorkerErrorMessage } from '../core/readings.ts';
import type { RuleAudience } from '../core/rules.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import { DeliveryError } from '../notifier/webhook-channel.ts';
import { seedRegistry, startTestService, tempDataDir, testRegistry, type TestService } from './harness.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { openAlertRow } from './open-alert.ts';
import { careflowAuthBackend, SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';

/**
 * Escalation and acknowledgement in the cluster, on a real PostgreSQL and RabbitMQ with worker apps logged in
 * over MQTT with their registry credentials (checked by RabbitMQ against careflow's HTTP auth backend). Two
 * workers run in this process as a worker composes them: outbox relay, escalation steps, acknowledgement consumer,
 * each on its own unit of work. Chains are set with waits of seconds (written to the registry directly; the API
 * takes whole minutes).
 */
const SECRET = 'rabbitmq-hook-secret-0123456789abcdef';
const logger = createLogger(process.env.DBG ? 'info' : 'silent');
const policy = loadConfig({}, {}).notifier;
const skip = SKIP_POSTGRES || SKIP_RABBITMQ;
const registry = testRegistry(1);
registry.workers!.push(
  {
    id: 'lead-g1',
    name: 'Leader g1',
    role: 'grid-leader',
    grids: ['g1'],
    secret: 'secret-lead-g1',
  },
  {
    id: 'lead-g2',
    name: 'Leader g2',
    role: 'grid-leader',
    grids: ['g2'],
    secret: 'secret-lead-g2',
  },
);
// g2's worker is also told by SMS through a gateway that refuses every call for good (below).
registry.workers!.find((w) => w.id === 'w-g2')!.webhook = {
  url: 'http://127.0.0.1:9/sms',
  secret: 'sms-gateway-secret-0123456789',
};

interface AppMessage {
  event: string;
  messageId: string;
  alertId: string;
  /** A `grouped` message: the new alerts it carries. */
  alerts?: AppMessage[];
  count?: number;
}
interface Worker {
  relay: OutboxRelay;
  steps?: EscalationSteps;
  acks: AckConsumer;
  notifier: SharedStoreNotifier;
  escalations: PgEscalationRepository;
  alerts: PgAlertRepository;
  outbox: PgOutboxRepository;
  uow: PgUnitOfWork;
}

let pgServer: Postgres;
let rabbit: RabbitMq;
let auth: TestService;
let pool: PgPool;
let dir: string;
let store: Store;
const workers: Worker[] = [];
const apps = new Map<string, { client: MqttClient; got: AppMessage[]; errors: WorkerErrorMessage[] }>();

beforeAll(async () => {
  if (skip) return;
  const seeded = tempDataDir();
  await seedRegistry(seeded, registry);
  const authDir = tempDataDir();
  copyFileSync(join(seeded, 'careflow.db'), join(authDir, 'careflow.db'));
  [pgServer, auth] = await Promise.all([
    startPostgres(),
    startTestService({
      dataDir: authDir,
      config: {
        mqtt: { host: '127.0.0.1', port: 0, rabbitmqHookSecret: SECRET },
        http: { host: '127.0.0.1', port: 0 },
      },
    }),
  ]);
  rabbit = await startRabbitMq({
    config: careflowAuthBackend(`http://127.0.0.1:${auth.cf.httpPort}`, SECRET, 60_000),
  });
  dir = seeded;
  store = openStore({ path: join(dir, 'careflow.db') });
  const at = Date.now();
  // leak: seconds per level, no reminders; welfare: 15 s per level, a reminder every 6 s.
  store.escalation.putSettings(
    'global',
    'all',
    {
      leak: {
        levels: [
          { notify: 'grid-workers', afterMinutes: 0.03 },
          { notify: 'grid-leader', afterMinutes: 0.03 },
        ],
        reminderMinutes: 0,
      },
      welfare: {
        levels: [
          { notify: 'grid-workers', afterMinutes: 0.25 },
          { notify: 'grid-leader', afterMinutes: 0.25 },
        ],
        reminderMinutes: 0.1,
      },
    },
    at,
    'test',
  );
  // g2: ten minutes before its leader is told — unless the grid worker's message cannot be delivered.
  store.escalation.putSettings(
    'grid',
    'g2',
    {
      welfare: {
        levels: [
          { notify: 'grid-workers', afterMinutes: 10 },
          { notify: 'grid-leader', afterMinutes: 10 },
        ],
        reminderMinutes: 0,
      },
    },
    at,
    'test',
  );
  pool = openPgPool(pgServer.url);
  for (let i = 0; i < 2; i++) workers.push(await startWorker());
  for (const id of ['w-g1', 'lead-g1', 'w-g2', 'lead-g2']) await connectApp(id);
}, 180_000);

afterAll(async () => {
  await Promise.all([...apps.values()].map((a) => a.client.endAsync(true).catch(() => {})));
  for (const w of workers) {
    await w.acks.stop();
    await w.steps?.stop();
    await w.relay.stop();
  }
  store?.close();
  await pool?.end();
  await rabbit?.dispose();
  await pgServer?.dispose();
  await auth?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A worker's delivery side as app/start-cluster-worker.ts composes it (escalation steps started later). */
async function startWorker(): Promise<Worker> {
  const uow = new PgUnitOfWork(pool);
  const alerts = await PgAlertRepository.open(uow.pool);
  const outbox = await PgOutboxRepository.open(uow.pool);
  const escalations = await PgEscalationRepository.open(uow.pool);
  const notifier = new SharedStoreNotifier(store, alerts, outbox, escalations);
  const relay = await startOutboxRelay({
    amqpUrl: rabbit.amqpUrl,
    outbox,
    alerts,
    uow,
    webhooks: { deliver: () => Promise.reject(new DeliveryError('the gateway refused the call', true)) },
    policy,
    logger,
    escalation: escalateOnFailedDelivery({ escalations, alerts, notifier, logger }),
  });
  const acks = await startAckConsumer({
    amqpUrl: rabbit.amqpUrl,
    directory: store,
    alerts,
    outbox,
    escalations,
    uow,
    logger,
  });
  return { relay, acks, notifier, escalations, alerts, outbox, uow };
}

function startSteps(w: Worker): void {
  w.steps = startEscalationSteps({
    escalations: w.escalations,
    alerts: w.alerts,
    notifier: w.notifier,
    uow: w.uow,
    logger,
    onQueued: () => w.relay.kick(),
    pollMs: 200,
  });
}

async function connectApp(workerId: string): Promise<void> {
  const client = await mqtt.connectAsync(rabbit.mqttUrl, {
    username: workerId,
    password: `secret-${workerId}`,
    clientId: `app-${workerId}`,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 1_000,
    connectTimeout: 30_000,
  });
  const got: AppMessage[] = [];
  const errors: WorkerErrorMessage[] = [];
  client.on('message', (topic, payload) => {
    const body: unknown = JSON.parse(payload.toString());
    if (topic.endsWith('/errors')) errors.push(body as WorkerErrorMessage);
    else got.push(body as AppMessage);
  });
  await client.subscribeAsync(`workers/${workerId}/alerts`, { qos: 1 });
  await client.subscribeAsync(`workers/${workerId}/errors`, { qos: 0 });
  apps.set(workerId, { client, got, errors });
}

/** Opens an alert of h-<grid>-1 through worker 0 as the alert writer does: in one transaction with its chain. */
async function openAlert(
  id: string,
  audience: RuleAudience,
  grid = 'g1',
  w: Worker = workers[0]!,
  notifier: SharedStoreNotifier = w.notifier,
): Promise<void> {
  const at = Date.now();
  const alert = openAlertRow(
    { id, householdId: `h-${grid}-1`, gridCode: grid, ruleId: `rule-${id}`, audience },
    at,
  );
  const text = { 'zh-CN': `警报 ${id}`, en: `alert ${id}` };
  await w.uow.run(async () => {
    await w.alerts.insert(alert);
    const causeId = await w.alerts.addTimeline(id, { at, kind: 'opened', actor: null, detail: {} });
    await notifier.begin(alert, text, text, causeId, at);
  });
  w.relay.kick();
}

const got = (app: string, alertId: string, event?: string) =>
  apps.get(app)!.got.filter((m) => m.alertId === alertId && (event === undefined || m.event === event));
const kinds = async (alertId: string) => (await workers[0]!.alerts.timeline(alertId)).map((e) => e.kind);
const total = (f: (s: ReturnType<AckConsumer['stats']>) => number) =>
  workers.reduce((n, w) => n + f(w.acks.stats()), 0);

async function until(ok: () => Promise<boolean> | boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await sleep(100);
  }
  return ok();
}

describe.skipIf(skip)('cluster escalation and acknowledgement', () => {
  it('tells the next level when nobody acknowledges, also when the worker that claimed the step died', async () => {
    await openAlert('al-esc-1', 'leak');
    expect(await until(() => got('w-g1', 'al-esc-1', 'opened').length === 1)).toBe(true);
    // The level's wait (1.8 s) passes; a worker claims the step and dies before running it.
    const record = await workers[0]!.escalations.get('al-esc-1');
    await sleep(Math.max(0, record!.nextAt! - Date.now()) + 50);
    const dying = await PgEscalationRepository.open(pool);
    expect((await dying.claimDue(Date.now(), 3_000)).map((r) => r.alertId)).toEqual(['al-esc-1']);
    for (const w of workers) startSteps(w);
    await sleep(2_000);
    expect(got('lead-g1', 'al-esc-1')).toEqual([]); // the claim's lease still holds
    // Once the lease ran out, another worker runs the step: the leader's app is told, once.
    expect(await until(() => got('lead-g1', 'al-esc-1', 'escalated').length === 1)).toBe(true);
    // The last level's wait passes too: the chain ends.
    expect(
      await until(async () => (await workers[0]!.escalations.get('al-esc-1'))?.state === 'exhausted'),
    ).toBe(true);
    await sleep(500);
    expect(got('lead-g1', 'al-esc-1').map((m) => m.event)).toEqual(['escalated']);
    expect(got('w-g1', 'al-esc-1').map((m) => m.event)).toEqual(['opened']);
    const timeline = await kinds('al-esc-1');
    expect(timeline.filter((k) => k === 'escalated')).toHaveLength(1);
    expect(timeline).toContain('escalation-exhausted');
  }, 60_000);

  it('stops the chain when the app acknowledges over MQTT; a repeat changes nothing; another grid may not', async () => {
    await openAlert('al-esc-2', 'welfare');
    const app = apps.get('w-g1')!.client;
    expect(await until(() => got('w-g1', 'al-esc-2', 'opened').length === 1)).toBe(true);
    await app.publishAsync('workers/w-g1/alerts/al-esc-2/ack', JSON.stringify({ note: 'on my way' }), {
      qos: 1,
    });
    expect(
      await until(async () => (await workers[0]!.alerts.get('al-esc-2'))?.state === 'acknowledged'),
    ).toBe(true);
    const alert = await workers[0]!.alerts.get('al-esc-2');
    expect(alert?.acknowledgedBy).toBe('w-g1');
    expect(await workers[0]!.escalations.get('al-esc-2')).toMatchObject({
      state: 'stopped',
      stoppedReason: 'acknowledged',
      nextAt: null,
    });
    // A repeat (at least once on the wire, or the person pressing twice) changes nothing.
    await app.publishAsync('workers/w-g1/alerts/al-esc-2/ack', '', { qos: 1 });
    expect(await until(() => total((s) => s.unchanged) === 1)).toBe(true);
    // Past the reminder (6 s) nobody was reminded and the leader was not told.
    await sleep(7_000);
    expect(got('w-g1', 'al-esc-2').map((m) => m.event)).toEqual(['opened']);
    expect(got('lead-g1', 'al-esc-2')).toEqual([]);
    const timeline = await workers[0]!.alerts.timeline('al-esc-2');
    expect(timeline.filter((e) => e.kind === 'acknowledged')).toEqual([
      expect.objectContaining({ actor: 'w-g1', detail: { via: 'mqtt' } }),
    ]);
    expect(timeline.filter((e) => e.kind === 'comment').map((e) => e.detail)).toEqual([
      { text: 'on my way' },
    ]);
    expect(timeline.map((e) => e.kind)).not.toContain('reminder');
    expect(total((s) => s.applied)).toBe(1);

    // Grid g2's worker may publish on its own acknowledgement topic, but g1's alert is not theirs.
    await openAlert('al-esc-3', 'welfare');
    await apps.get('w-g2')!.client.publishAsync('workers/w-g2/alerts/al-esc-3/ack', '', { qos: 1 });
    expect(await until(() => total((s) => s.refused) === 1)).toBe(true);
    expect((await workers[0]!.alerts.get('al-esc-3'))?.state).toBe('open');
    expect((await workers[0]!.escalations.get('al-esc-3'))?.state).toBe('active');
    expect(await kinds('al-esc-3')).not.toContain('acknowledged');
    const conn = await amqp.connect(rabbit.amqpUrl);
    const ch = await conn.createChannel();
    const refused = await ch.get(ACK_REFUSED_QUEUE, { noAck: true });
    // Dead-lettered: its original routing key is in the x-death header.
    expect(refused).not.toBe(false);
    const headers = refused ? refused.properties.headers : undefined;
    const death = (headers?.['x-death'] as { 'routing-keys': string[] }[] | undefined)?.[0];
    expect(death?.['routing-keys']).toEqual(['workers.w-g2.alerts.al-esc-3.ack']);
    await conn.close();
    // The app is told why, on its own errors topic (and nobody else is).
    expect(await until(() => apps.get('w-g2')!.errors.length === 1)).toBe(true);
    expect(apps.get('w-g2')!.errors[0]).toMatchObject({
      code: 'ERR_ALERT_NOT_FOUND', // as for an alert that does not exist: nothing told about other grids
      message: 'No alert al-esc-3',
      topic: 'workers/w-g2/alerts/al-esc-3/ack',
      alertId: 'al-esc-3',
    });
    expect(apps.get('w-g1')!.errors).toEqual([]);
  }, 60_000);

  it("tells the next level at once when the level's message fails for good, not after the level's wait", async () => {
    for (const w of workers) if (!w.steps) startSteps(w);
    const t0 = Date.now();
    await openAlert('al-esc-4', 'welfare', 'g2');
    // The grid worker's app gets it; the SMS gateway refuses it for good, and the leader is told at once.
    expect(await until(() => got('w-g2', 'al-esc-4', 'opened').length === 1)).toBe(true);
    expect(await until(() => got('lead-g2', 'al-esc-4', 'escalated').length === 1)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(60_000); // the level's wait is 10 minutes
    const timeline = await workers[0]!.alerts.timeline('al-esc-4');
    expect(timeline.find((e) => e.kind === 'escalated')?.detail).toMatchObject({
      level: 1,
      notify: 'grid-leader',
      reason: 'delivery-failed',
    });
    expect(await workers[0]!.escalations.get('al-esc-4')).toMatchObject({ state: 'active', level: 1 });
    // Once: the failure escalated one level, and nothing else follows before that level's own wait.
    await sleep(2_000);
    expect(got('lead-g2', 'al-esc-4')).toHaveLength(1);
    const later = await workers[0]!.alerts.timeline('al-esc-4');
    expect(later.filter((e) => e.kind === 'escalated')).toHaveLength(1);
  }, 60_000);

  it('groups new alerts for one person within the window, also when two workers open them at once', async () => {
    const WINDOW = 3_000;
    const grouping = workers.map(
      (w) => new SharedStoreNotifier(store, w.alerts, w.outbox, w.escalations, Date.now, WINDOW),
    );
    await sleep(WINDOW + 500); // no opening to w-g1 within a window before this test's
    const ids = ['al-grp-1', 'al-grp-2', 'al-grp-3', 'al-grp-4'];
    await openAlert(ids[0]!, 'leak', 'g1', workers[0], grouping[0]);
    // Two workers open one alert each at the same moment, then one more follows.
    await Promise.all([
      openAlert(ids[1]!, 'leak', 'g1', workers[0], grouping[0]),
      openAlert(ids[2]!, 'leak', 'g1', workers[1], grouping[1]),
    ]);
    await openAlert(ids[3]!, 'leak', 'g1', workers[1], grouping[1]);
    const app = apps.get('w-g1')!;
    const messages = () => {
      const seen = new Map<string, AppMessage>();
      for (const m of app.got) if (m.event === 'opened' || m.event === 'grouped') seen.set(m.messageId, m);
      return [...seen.values()].filter((m) => (m.alerts ?? [m]).some((a) => ids.includes(a.alertId)));
    };
    const carried = () => messages().flatMap((m) => (m.alerts ?? [m]).map((a) => a.alertId));
    expect(await until(() => ids.every((id) => carried().includes(id)), 20_000)).toBe(true);
    // The first went out at once on its own; the others waited for the window and came in groups, each alert
    // exactly once (two groups at most: two workers may each begin one at the same moment).
    const got = messages();
    expect(got.find((m) => m.event === 'opened')?.alertId).toBe(ids[0]);
    const groups = got.filter((m) => m.event === 'grouped');
    expect(groups.length).toBeGreaterThanOrEqual(1);
    expect(groups.length).toBeLessThanOrEqual(2);
    expect(carried().sort()).toEqual([...ids].sort());
    for (const g of groups) expect(g.count).toBe(g.alerts!.length);
    // The last one joined a group that was waiting, and its timeline says with which alerts.
    const joined = (await workers[0]!.alerts.timeline(ids[3]!)).find((e) => e.kind === 'grouped');
    expect(joined?.detail).toMatchObject({ worker: 'w-g1', channel: 'mqtt' });
    expect((joined?.detail as { with: string[] }).with.length).toBeGreaterThan(0);
  }, 60_000);

  it("marks a message received by the app's receipt, once; a receipt of another's message changes nothing", async () => {
    await openAlert('al-rcpt-1', 'welfare');
    expect(await until(() => got('w-g1', 'al-rcpt-1', 'opened').length === 1)).toBe(true);
    const { messageId } = got('w-g1', 'al-rcpt-1', 'opened')[0]!;
    const state = async (worker: string) =>
      (
        await workers[0]!.uow.pool.query<{ state: string }>(
          'SELECT state FROM outbox WHERE idempotency_key = $1',
          [`${messageId}:mqtt:${worker}`],
        )
      ).rows[0]?.state;
    expect(await state('w-g1')).toBe('sent');
    const receipts = total((s) => s.receipts);
    // Another grid's app names the message on its own receipt topic: it is not theirs, nothing changes.
    await apps
      .get('w-g2')!
      .client.publishAsync('workers/w-g2/received', JSON.stringify({ messageId }), { qos: 1 });
    // The app it went to confirms it, twice (at least once on the wire).
    const app = apps.get('w-g1')!.client;
    for (let i = 0; i < 2; i++)
      await app.publishAsync('workers/w-g1/received', JSON.stringify({ messageId }), { qos: 1 });
    expect(await until(async () => (await state('w-g1')) === 'received')).toBe(true);
    await sleep(500);
    expect(total((s) => s.receipts)).toBe(receipts + 1);
    const timeline = await workers[0]!.alerts.timeline('al-rcpt-1');
    expect(timeline.filter((e) => e.kind === 'received').map((e) => e.detail)).toEqual([
      { channel: 'mqtt', worker: 'w-g1' },
    ]);
    // A receipt without a messageId is refused, and the app is told on its errors topic.
    const refused = total((s) => s.refused);
    await app.publishAsync('workers/w-g1/received', JSON.stringify({ id: messageId }), { qos: 1 });
    expect(await until(() => total((s) => s.refused) === refused + 1)).toBe(true);
    expect(await until(() => apps.get('w-g1')!.errors.some((e) => e.topic === 'workers/w-g1/received'))).toBe(
      true,
    );
    expect(apps.get('w-g1')!.errors.find((e) => e.topic === 'workers/w-g1/received')?.code).toBe(
      'ERR_API_VALIDATION',
    );
  }, 60_000);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
