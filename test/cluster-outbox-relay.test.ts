import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxRelay, type OutboxRelay } from '../cluster/outbox-relay.ts';
import { MQTT_EXCHANGE } from '../cluster/topology.ts';
import { PgUnitOfWork } from '../cluster/unit-of-work.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { openPgPool, type PgPool } from '../core/postgres.ts';
import { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import { PgOutboxRepository } from '../notifier/postgres-outbox.ts';
import { SKIP_POSTGRES, startPostgres, type Postgres } from './postgres.ts';
import { openAlertRow } from './open-alert.ts';
import { SKIP_RABBITMQ, startRabbitMq, type RabbitMq } from './rabbitmq.ts';

/**
 * The cluster's outbox relays on a real PostgreSQL and RabbitMQ: several relays (one per worker) share one
 * outbox and send each message once while they all live; a message claimed by a relay that died is sent by
 * another once the claim's lease has run out; what RabbitMQ confirmed is marked `sent`, with the alert's
 * `delivered` timeline entry, and goes out on the worker's alerts routing key.
 */
const logger = createLogger('silent');
const policy = loadConfig({}, {}).notifier;
const skip = SKIP_POSTGRES || SKIP_RABBITMQ;

let pgServer: Postgres;
let rabbit: RabbitMq;
let pool: PgPool;
let outbox: PgOutboxRepository;
let alerts: PgAlertRepository;
let listener: ChannelModel;
/** What a subscriber to every worker's alerts got: routing key and messageId. */
const received: { key: string; messageId: string }[] = [];
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  if (skip) return;
  [pgServer, rabbit] = await Promise.all([startPostgres(), startRabbitMq()]);
  pool = openPgPool(pgServer.url);
  outbox = await PgOutboxRepository.open(pool);
  alerts = await PgAlertRepository.open(pool);
  listener = await amqp.connect(rabbit.amqpUrl);
  const ch = await listener.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, MQTT_EXCHANGE, 'workers.*.alerts');
  await ch.consume(
    queue,
    (m) => {
      if (m)
        received.push({
          key: m.fields.routingKey,
          messageId: (JSON.parse(m.content.toString()) as { messageId: string }).messageId,
        });
    },
    { noAck: true },
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  await listener?.close().catch(() => {});
  await pool?.end();
  await rabbit?.dispose();
  await pgServer?.dispose();
}, 60_000);

/** A relay as a worker runs it: its own unit of work on the shared store. */
async function relay(leaseMs?: number): Promise<OutboxRelay> {
  const uow = new PgUnitOfWork(pool);
  const r = await startOutboxRelay({
    amqpUrl: rabbit.amqpUrl,
    outbox: await PgOutboxRepository.open(uow.pool),
    alerts: await PgAlertRepository.open(uow.pool),
    uow,
    webhooks: { deliver: () => Promise.reject(new Error('no webhooks here')) },
    policy,
    logger,
    ...(leaseMs === undefined ? {} : { leaseMs }),
  });
  relays.push(r);
  return r;
}

async function enqueue(messageId: string, worker: string, alertId: string | null = null): Promise<void> {
  await outbox.enqueue(
    {
      channel: 'mqtt',
      target: worker,
      topic: `workers/${worker}/alerts`,
      payload: JSON.stringify({ event: 'opened', messageId }),
      idempotencyKey: `${messageId}:mqtt:${worker}`,
      alertId,
      level: 0,
      recipient: worker,
    },
    Date.now(),
  );
}

async function until(ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await sleep(100);
  }
  return ok();
}

const states = async (prefix: string) =>
  (
    await pool.query<{ state: string }>(
      `SELECT state FROM outbox WHERE idempotency_key LIKE $1 || '%' ORDER BY id`,
      [prefix],
    )
  ).rows.map((r) => r.state);

describe.skipIf(skip)('cluster outbox relays', () => {
  it('share one outbox and send each message once while they all live', async () => {
    const [a, b, c] = [await relay(), await relay(), await relay()];
    const ids = Array.from({ length: 300 }, (_, i) => `shared-${i}`);
    for (const id of ids) await enqueue(id, Number(id.slice(7)) % 2 ? 'w-odd' : 'w-even');
    const started = Date.now();
    for (const r of [a, b, c]) r.kick();
    expect(await until(async () => (await states('shared-')).every((s) => s === 'sent'))).toBe(true);
    const tookMs = Date.now() - started;
    expect(await until(() => received.filter((m) => m.messageId.startsWith('shared-')).length >= 300)).toBe(
      true,
    );
    await sleep(500);
    const got = received.filter((m) => m.messageId.startsWith('shared-'));
    expect(got.map((m) => m.messageId).sort()).toEqual([...ids].sort());
    for (const m of got)
      expect(m.key).toBe(Number(m.messageId.slice(7)) % 2 ? 'workers.w-odd.alerts' : 'workers.w-even.alerts');
    const sent = [a, b, c].map((r) => r.stats().sent);
    console.log(
      `outbox relays: 300 messages sent as ${sent.join(' + ')} by three relays, 0 twice, ` +
        `all marked sent ${tookMs} ms after the last was queued (wall clock, 100 ms polls of the test)`,
    );
    expect(sent.reduce((x, y) => x + y, 0)).toBe(300);
  }, 90_000);

  it('sends a message claimed by a relay that died, once its lease has run out, and writes it to the timeline', async () => {
    // Only this case's relays: the earlier case's would poll the outbox and could take the message first.
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    const at = Date.now();
    const alert = openAlertRow(
      { id: 'al-relay-test', householdId: 'h-1', gridCode: 'g1', ruleId: 'low-use' },
      at,
    );
    await alerts.insert(alert);
    await enqueue('orphan-1', 'w-1', alert.id);
    // A worker claimed it and died before sending: nobody else may take it during the lease.
    const claimed = await outbox.claimDue(Date.now(), 2_000);
    expect(claimed.map((m) => m.idempotencyKey)).toEqual(['orphan-1:mqtt:w-1']);
    const survivor = await relay();
    survivor.kick();
    await sleep(1_000);
    expect(received.filter((m) => m.messageId === 'orphan-1')).toEqual([]);
    expect(await states('orphan-')).toEqual(['pending']);
    // After the lease: the survivor sends it.
    expect(await until(async () => (await states('orphan-'))[0] === 'sent', 10_000)).toBe(true);
    expect(await until(() => received.some((m) => m.messageId === 'orphan-1'), 5_000)).toBe(true);
    expect(received.filter((m) => m.messageId === 'orphan-1')).toEqual([
      { key: 'workers.w-1.alerts', messageId: 'orphan-1' },
    ]);
    const delivered = (await alerts.timeline(alert.id)).filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail)).toEqual([{ channel: 'mqtt', worker: 'w-1', attempt: 1 }]);
  }, 60_000);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
