import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerAlertMessage } from '../core/alerts.ts';
import type { Broker } from '../broker/start-broker.ts';
import { openStore } from '../core/store/store.ts';
import { join } from 'node:path';
import { escalationRegistry, raiseHeavyUse } from './delivery-harness.ts';
import { eventually, HOUR, settle, startTestService, T0, type TestService } from './harness.ts';
import { rawConnect } from './raw-connect.ts';

/**
 * Issue 12, defect 1: a client that can log in (a meter with its own secret) must not take over another
 * principal's session by presenting its client id — not the worker app's queued alerts, not the owner's
 * connection — and the owner still gets each queued message exactly once.
 */
const services: TestService[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const s of services.splice(0).reverse()) await s.dispose();
});

interface Attempt {
  clientId: string;
  username: string;
  password: string;
  clean: boolean;
}

/** Connects with mqtt.js; resolves with the CONNACK (code 0) or the refusal's return code. */
async function attempt(svc: TestService, a: Attempt) {
  const messages: WorkerAlertMessage[] = [];
  const client = mqtt.connect(svc.mqttUrl, { ...a, reconnectPeriod: 0, connectTimeout: 5_000 });
  client.on('message', (_t, p) => messages.push(JSON.parse(p.toString()) as WorkerAlertMessage));
  const result = await new Promise<{ code: number; sessionPresent: boolean }>((resolve) => {
    client.once('connect', (c: IConnackPacket) => resolve({ code: 0, sessionPresent: c.sessionPresent }));
    client.once('error', (err: Error & { code?: number }) =>
      resolve({ code: err.code ?? -1, sessionPresent: false }),
    );
  });
  clients.push(client);
  return { client, messages, ...result };
}

const owner = (clean = false): Attempt => ({
  clientId: 'app-w-g1',
  username: 'w-g1',
  password: 'secret-w-g1',
  clean,
});
/** A meter with its own, valid secret: an attacker that can log in. */
const meterAs = (clientId: string, clean = false): Attempt => ({
  clientId,
  username: 'm-h-g2-1',
  password: 'secret-m-h-g2-1',
  clean,
});

async function service(dataDir?: string) {
  const svc = await startTestService({
    registry: dataDir ? undefined : escalationRegistry(),
    ...(dataDir ? { dataDir } : {}),
  });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return svc;
}

describe('MQTT session ownership', () => {
  it('refuses another principal the worker app session (queued alert stays with the owner, delivered once)', async () => {
    const svc = await service();
    const first = await attempt(svc, owner());
    expect(first.code).toBe(0);
    await first.client.subscribeAsync('workers/w-g1/alerts', { qos: 1 });
    await first.client.endAsync();

    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    await eventually(
      () => svc.cf.store.outbox.byAlert(alert.id).some((m) => m.channel === 'mqtt' && m.state === 'sent'),
      5_000,
      'the alert queued in the offline session',
    );

    // The meter presents the worker app's client id, persistent and clean: refused, identifier rejected.
    for (const clean of [false, true]) {
      const thief = await attempt(svc, meterAs('app-w-g1', clean));
      expect(thief.code).toBe(2);
      expect(thief.sessionPresent).toBe(false);
      await settle(50);
      expect(thief.messages).toEqual([]);
    }
    // Another worker (valid credentials too) is refused as well.
    const colleague = await attempt(svc, {
      clientId: 'app-w-g1',
      username: 'w-g2',
      password: 'secret-w-g2',
      clean: false,
    });
    expect(colleague.code).toBe(2);

    const back = await attempt(svc, owner());
    expect(back.code).toBe(0);
    expect(back.sessionPresent).toBe(true);
    await eventually(() => back.messages.length >= 1, 5_000, 'the queued alert');
    await settle(200);
    expect(back.messages).toHaveLength(1);
    expect(back.messages[0]).toMatchObject({ alertId: alert.id, householdId: 'h-g1-1' });

    // While the owner is online, a takeover attempt neither succeeds nor disconnects it.
    let closed = false;
    back.client.on('close', () => (closed = true));
    const again = await attempt(svc, meterAs('app-w-g1'));
    expect(again.code).toBe(2);
    await settle(100);
    expect(closed).toBe(false);
    expect(back.client.connected).toBe(true);
    await back.client.publishAsync('workers/w-g1/acks', JSON.stringify({ alertId: alert.id }), { qos: 1 });

    // The refusal is a security event an operator can read.
    const events = svc.cf.store.audit.list({ action: 'mqtt.connect.refused' });
    expect(events.some((e) => e.detail.reason === 'client-id-taken')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('secret-m-h-g2-1');
  });

  it('reserves the client ids carrying a principal id before first use, and keeps bindings across a restart', async () => {
    const svc = await service();
    // Never used yet, but they carry other principals' ids: a meter's own id, a worker app's conventional id.
    expect((await attempt(svc, meterAs('m-h-g1-1'))).code).toBe(2);
    expect((await attempt(svc, meterAs('app-w-g2'))).code).toBe(2);
    expect((await attempt(svc, meterAs('w-g1-phone'))).code).toBe(2);
    // Its own id and a free id are fine; the free id is now bound to the meter.
    expect((await attempt(svc, meterAs('m-h-g2-1'))).code).toBe(0);
    expect((await attempt(svc, meterAs('gateway-7'))).code).toBe(0);
    expect(
      (await attempt(svc, { clientId: 'gateway-7', username: 'w-g2', password: 'secret-w-g2', clean: true }))
        .code,
    ).toBe(2);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));

    await svc.stop();
    const restarted = await service(svc.dataDir);
    const w = await attempt(restarted, {
      clientId: 'gateway-7',
      username: 'w-g2',
      password: 'secret-w-g2',
      clean: false,
    });
    expect(w.code).toBe(2);
    expect((await attempt(restarted, meterAs('gateway-7'))).code).toBe(0);
    const store = openStore({ path: join(restarted.dataDir, 'careflow.db') });
    try {
      expect(store.clientIds.owner('gateway-7')).toEqual({ kind: 'meter', id: 'm-h-g2-1' });
    } finally {
      store.close();
    }
  });

  it('authorises again what a session restores: a planted subscription to another worker topic delivers nothing', async () => {
    const svc = await service();
    const first = await attempt(svc, owner());
    await first.client.subscribeAsync('workers/w-g1/alerts', { qos: 1 });
    await first.client.endAsync();
    // As if the stored session held a subscription it should never have had.
    const persistence = (
      (svc.cf.broker as Broker).aedes as unknown as {
        persistence: {
          addSubscriptions(c: { id: string }, s: { topic: string; qos: number }[]): Promise<unknown>;
        };
      }
    ).persistence;
    await persistence.addSubscriptions({ id: 'app-w-g1' }, [{ topic: 'workers/w-g2/alerts', qos: 1 }]);

    const back = await attempt(svc, owner());
    expect(back.sessionPresent).toBe(true);
    await settle(300); // the restored session is fully set up (QoS 1 may otherwise deliver twice)
    await svc.cf.broker.publish('workers/w-g2/alerts', JSON.stringify({ alertId: 'not-yours' }), 1);
    await svc.cf.broker.publish('workers/w-g1/alerts', JSON.stringify({ alertId: 'yours' }), 1);
    await eventually(() => back.messages.length >= 1, 5_000, 'its own message');
    await settle(200);
    expect(new Set(back.messages.map((m) => m.alertId))).toEqual(new Set(['yours']));
  });

  it('refuses an empty client id with a persistent session (MQTT-3.1.3-8) and accepts it with a clean one', async () => {
    const svc = await service();
    const port = svc.cf.mqttPort;
    const creds = { username: 'm-h-g1-1', password: 'secret-m-h-g1-1' };
    expect((await rawConnect({ port, clientId: '', clean: false, ...creds })).returnCode).toBe(2);
    expect((await rawConnect({ port, clientId: '', clean: true, ...creds })).returnCode).toBe(0);
    // Wrong secret: refused as bad credentials before anything about the client id is said.
    expect(
      (await rawConnect({ port, clientId: 'x', clean: true, ...creds, password: 'nope' })).returnCode,
    ).toBe(4);
  });
});
