import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerAlertMessage } from '../core/alerts.ts';
import { ManualClock } from '../core/clock.ts';
import { escalationRegistry, raiseHeavyUse } from './delivery-harness.ts';
import { eventually, HOUR, settle, startTestService, T0, type TestService } from './harness.ts';

/** Every alert its own message (grouping has tests of its own). */
const ONE_BY_ONE = { notifier: { groupWindowMs: 0 } };

/**
 * MQTT delivery to worker apps on persistent sessions (clean: false, QoS 1): what the app missed while offline
 * reaches it when it reconnects, its PUBACK is recorded as the receipt, and what it never confirmed is sent
 * again after the broker lost its sessions in a restart.
 */
const services: TestService[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const s of services.splice(0).reverse()) await s.dispose();
});

/** A worker app with a persistent session: a fixed client id and clean: false. */
async function persistentApp(svc: TestService, workerId: string, subscribe: boolean) {
  const messages: WorkerAlertMessage[] = [];
  const client = mqtt.connect(svc.mqttUrl, {
    clientId: `app-${workerId}`,
    username: workerId,
    password: `secret-${workerId}`,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  client.on('message', (_t, payload) => messages.push(JSON.parse(payload.toString()) as WorkerAlertMessage));
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  if (subscribe) await client.subscribeAsync(`workers/${workerId}/alerts`, { qos: 1 });
  clients.push(client);
  return { client, messages, sessionPresent: connack.sessionPresent };
}

function mqttRows(svc: TestService, alertId: string) {
  return svc.cf.store.outbox.byAlert(alertId).filter((m) => m.channel === 'mqtt');
}

describe('a worker app on a persistent session', () => {
  it('gets an alert that opened while it was offline when it reconnects, once, and confirms it', async () => {
    const svc = await startTestService({ registry: escalationRegistry(), config: ONE_BY_ONE });
    services.push(svc);
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const first = await persistentApp(svc, 'w-g1', true);
    await first.client.endAsync();

    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    await eventually(() => mqttRows(svc, alert.id)[0]?.state === 'sent', 5_000, 'the broker to take it');
    await settle(50);

    const again = await persistentApp(svc, 'w-g1', false);
    expect(again.sessionPresent).toBe(true);
    await eventually(() => again.messages.length === 1, 5_000, 'the missed alert');
    expect(again.messages[0]).toMatchObject({ event: 'opened', alertId: alert.id, householdId: 'h-g1-1' });
    await eventually(() => mqttRows(svc, alert.id)[0]?.state === 'received', 5_000, 'the receipt');
    const received = svc.cf.store.alerts.timeline(alert.id).filter((e) => e.kind === 'received');
    expect(received).toEqual([
      { at: svc.clock.now(), kind: 'received', actor: null, detail: { channel: 'mqtt', worker: 'w-g1' } },
    ]);
    await settle(100);
    expect(again.messages).toHaveLength(1);
    // The broker's session delivered it; careflow did not need to send it again.
    expect(svc.cf.store.alerts.timeline(alert.id).map((e) => e.kind)).not.toContain('redelivered');
  });

  it('gets again, after a restart of the service, what it had not confirmed — and not what it had', async () => {
    const svc = await startTestService({ registry: escalationRegistry(), config: ONE_BY_ONE });
    services.push(svc);
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const app = await persistentApp(svc, 'w-g1', true);
    const confirmed = await raiseHeavyUse(svc, 'h-g1-1');
    await eventually(() => mqttRows(svc, confirmed.id)[0]?.state === 'received', 5_000, 'the first receipt');
    await app.client.endAsync();
    const missed = await raiseHeavyUse(svc, 'h-g1-2');
    await eventually(() => mqttRows(svc, missed.id)[0]?.state === 'sent', 5_000, 'the broker to take it');
    await svc.stop(); // the embedded broker keeps sessions in memory: they are gone now

    const restarted = await startTestService({
      dataDir: svc.dataDir,
      config: ONE_BY_ONE,
      clock: new ManualClock(svc.clock.now()),
    });
    services.push(restarted);
    const back = await persistentApp(restarted, 'w-g1', true);
    expect(back.sessionPresent).toBe(false);
    await eventually(() => back.messages.length === 1, 5_000, 'the unconfirmed message');
    expect(back.messages[0]).toMatchObject({ event: 'opened', alertId: missed.id });
    await eventually(() => mqttRows(restarted, missed.id)[0]?.state === 'received', 5_000, 'its receipt');
    const kinds = restarted.cf.store.alerts.timeline(missed.id).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'redelivered' || k === 'received')).toEqual(['redelivered', 'received']);
    await settle(100);
    expect(back.messages.map((m) => m.alertId)).toEqual([missed.id]);
  });

  it('keeps a message `sent` (not received) while no app has confirmed it', async () => {
    const svc = await startTestService({ registry: escalationRegistry(), config: ONE_BY_ONE });
    services.push(svc);
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const alert = await raiseHeavyUse(svc, 'h-g1-3');
    await eventually(() => mqttRows(svc, alert.id).length === 1, 5_000, 'the message');
    await eventually(() => mqttRows(svc, alert.id)[0]!.state === 'sent', 5_000, 'the broker to take it');
    expect(svc.cf.store.outbox.pendingCount()).toBe(0);
    expect(svc.cf.store.outbox.countsByState()).toMatchObject({ sent: 1 });
  });

  it('takes an explicit receipt on workers/{id}/received as the PUBACK: its own message, once', async () => {
    const svc = await startTestService({ registry: escalationRegistry(), config: ONE_BY_ONE });
    services.push(svc);
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const alert = await raiseHeavyUse(svc, 'h-g1-3');
    await eventually(() => mqttRows(svc, alert.id)[0]?.state === 'sent', 5_000, 'the broker to take it');
    const messageId = mqttRows(svc, alert.id)[0]!.idempotencyKey.split(':')[0]!;
    // An app that names someone else's message on its own receipt topic changes nothing; a receipt without a
    // messageId is refused with a dead letter.
    const stranger = await persistentApp(svc, 'w-g2', false);
    await stranger.client.publishAsync('workers/w-g2/received', JSON.stringify({ messageId }), { qos: 1 });
    await stranger.client.publishAsync('workers/w-g2/received', '{"id": 1}', { qos: 1 });
    await settle(100);
    expect(mqttRows(svc, alert.id)[0]!.state).toBe('sent');
    expect(svc.cf.store.deadLetters.list({ meterId: 'w-g2' })).toEqual([
      expect.objectContaining({ code: 'ERR_API_VALIDATION', topic: 'workers/w-g2/received' }),
    ]);
    // Its own app confirms it, twice: received once, with one timeline entry.
    const app = await persistentApp(svc, 'w-g1', false);
    for (let i = 0; i < 2; i++)
      await app.client.publishAsync('workers/w-g1/received', JSON.stringify({ messageId }), { qos: 1 });
    await eventually(() => mqttRows(svc, alert.id)[0]!.state === 'received', 5_000, 'the receipt');
    await settle(100);
    const received = svc.cf.store.alerts.timeline(alert.id).filter((e) => e.kind === 'received');
    expect(received.map((e) => e.detail)).toEqual([{ channel: 'mqtt', worker: 'w-g1' }]);
  });
});
