import { afterEach, describe, expect, it } from 'vitest';
import type { TimelineEntry, WorkerAlertMessage } from '../core/alerts.ts';
import { ManualClock } from '../core/clock.ts';
import { escalationRegistry, kinds, loginAs, raiseHeavyUse } from './delivery-harness.ts';
import {
  connectWorker,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  type TestService,
} from './harness.ts';

/**
 * Escalation on the manual clock with the default welfare chain (grid workers → grid leader → community
 * staff → street office, 30 minutes each, reminders every 15 minutes), real worker apps over MQTT.
 */
const MIN = 60_000;
const services: TestService[] = [];
const apps: Awaited<ReturnType<typeof connectWorker>>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.client.endAsync()));
  for (const s of services.splice(0).reverse()) await s.dispose();
});

async function start(opts: Parameters<typeof startTestService>[0] = {}): Promise<TestService> {
  const svc = await startTestService({ registry: escalationRegistry(), ...opts });
  services.push(svc);
  return svc;
}

async function app(svc: TestService, id: string) {
  const a = await connectWorker(svc.mqttUrl, id, `secret-${id}`);
  apps.push(a);
  return { ...a, messages: a.messages as unknown as WorkerAlertMessage[] };
}

/** When careflow raised the alert (its `opened` timeline entry). */
function raisedAt(svc: TestService, alertId: string): number {
  return svc.cf.store.alerts.timeline(alertId).find((e) => e.kind === 'opened')!.at;
}

function entries(svc: TestService, alertId: string, kind: string): TimelineEntry[] {
  return svc.cf.store.alerts.timeline(alertId).filter((e) => e.kind === kind);
}

describe('escalation of a welfare alert nobody acknowledges', () => {
  it('reminds the grid worker, then tells the grid leader, community staff and street office in turn', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const worker = await app(svc, 'w-g1');
    const leader = await app(svc, 'l-g1');
    const staff = await app(svc, 'cs-c1');
    const street = await app(svc, 'ss-s1');
    const other = await app(svc, 'w-g2');

    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    const t0 = raisedAt(svc, alert.id);
    await eventually(() => worker.messages.length === 1, 5_000, 'the opened message');
    expect(worker.messages[0]).toMatchObject({
      event: 'opened',
      alertId: alert.id,
      escalation: { level: 0, levels: 4, notify: 'grid-workers', reminder: 0 },
    });

    svc.clock.advanceTo(t0 + 15 * MIN - 1);
    await settle(50);
    expect(worker.messages).toHaveLength(1);
    svc.clock.advanceTo(t0 + 15 * MIN);
    await eventually(() => worker.messages.length === 2, 5_000, 'the reminder');
    expect(worker.messages[1]).toMatchObject({ event: 'updated', escalation: { level: 0, reminder: 1 } });
    expect(worker.messages[1]!.message['zh-CN']).toContain('【提醒】此警报已15分钟无人确认');
    expect(leader.messages).toEqual([]);

    svc.clock.advanceTo(t0 + 30 * MIN);
    await eventually(() => leader.messages.length === 1, 5_000, 'the escalation to the grid leader');
    expect(leader.messages[0]).toMatchObject({
      event: 'escalated',
      alertId: alert.id,
      escalation: { level: 1, notify: 'grid-leader', reminder: 0 },
    });
    expect(leader.messages[0]!.message.en).toContain('nobody acknowledged this alert for 30 minutes');
    expect(leader.messages[0]!.message['zh-CN']).toContain('网格长');

    svc.clock.advanceTo(t0 + 45 * MIN);
    await eventually(() => leader.messages.length === 2, 5_000, "the grid leader's reminder");
    expect(leader.messages[1]).toMatchObject({ event: 'updated', escalation: { level: 1, reminder: 1 } });

    svc.clock.advanceTo(t0 + 60 * MIN);
    await eventually(() => staff.messages.length === 1, 5_000, 'the escalation to community staff');
    svc.clock.advanceTo(t0 + 90 * MIN);
    await eventually(() => street.messages.length === 1, 5_000, 'the escalation to the street office');
    expect(street.messages[0]).toMatchObject({
      event: 'escalated',
      escalation: { level: 3, notify: 'street-staff' },
    });

    svc.clock.advanceTo(t0 + 4 * HOUR);
    await settle(100);
    // The last level has 60 minutes: reminders at +15, +30 and +45, then the chain ends.
    expect(street.messages.map((m) => m.escalation?.reminder)).toEqual([0, 1, 2, 3]);
    expect(worker.messages).toHaveLength(2);
    expect(other.messages).toEqual([]);

    expect(entries(svc, alert.id, 'reminder').map((e) => e.at - t0)).toEqual(
      [15, 45, 75, 105, 120, 135].map((m) => m * MIN),
    );
    expect(entries(svc, alert.id, 'escalated').map((e) => [e.at - t0, e.detail.notify])).toEqual([
      [30 * MIN, 'grid-leader'],
      [60 * MIN, 'community-staff'],
      [90 * MIN, 'street-staff'],
    ]);
    expect(entries(svc, alert.id, 'escalation-exhausted').map((e) => e.at - t0)).toEqual([150 * MIN]);
    expect(svc.cf.store.alerts.get(alert.id)?.state).toBe('open');
  });

  it('skips a level nobody fills and goes straight to the next', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const staff = await app(svc, 'cs-c1');
    const alert = await raiseHeavyUse(svc, 'h-g2-1'); // grid g2 has no grid leader
    const t0 = raisedAt(svc, alert.id);
    svc.clock.advanceTo(t0 + 30 * MIN);
    await eventually(() => staff.messages.length === 1, 5_000, 'the escalation to community staff');
    expect(staff.messages[0]).toMatchObject({ event: 'escalated', escalation: { level: 2 } });
    expect(kinds(svc, alert.id)).toContain('escalation-skipped');
    expect(entries(svc, alert.id, 'escalation-skipped')[0]).toMatchObject({
      at: t0 + 30 * MIN,
      detail: { level: 1, notify: 'grid-leader' },
    });
  });
});

describe('acknowledgement', () => {
  it('from the worker app over MQTT stops the chain: no reminder, no escalation afterwards', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const worker = await app(svc, 'w-g1');
    const leader = await app(svc, 'l-g1');
    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    const t0 = raisedAt(svc, alert.id);
    svc.clock.advanceTo(t0 + 20 * MIN);
    await eventually(() => worker.messages.length === 2, 5_000, 'opened and one reminder');

    await worker.client.publishAsync(
      `workers/w-g1/alerts/${alert.id}/ack`,
      JSON.stringify({ note: 'on my way' }),
      {
        qos: 1,
      },
    );
    await eventually(() => svc.cf.store.alerts.get(alert.id)?.state === 'acknowledged', 5_000, 'the ack');
    expect(svc.cf.store.alerts.get(alert.id)).toMatchObject({
      acknowledgedBy: 'w-g1',
      acknowledgedAt: t0 + 20 * MIN,
    });
    expect(entries(svc, alert.id, 'acknowledged')).toEqual([
      { at: t0 + 20 * MIN, kind: 'acknowledged', actor: 'w-g1', detail: { via: 'mqtt' } },
    ]);
    expect(entries(svc, alert.id, 'comment')[0]).toMatchObject({
      actor: 'w-g1',
      detail: { text: 'on my way' },
    });

    svc.clock.advanceTo(t0 + 5 * HOUR);
    await settle(100);
    expect(worker.messages).toHaveLength(2);
    expect(leader.messages).toEqual([]);
    const after = svc.cf.store.alerts.timeline(alert.id).filter((e) => e.at > t0 + 20 * MIN);
    expect(after.map((e) => e.kind)).not.toContain('reminder');
    expect(after.map((e) => e.kind)).not.toContain('escalated');
    expect(svc.cf.store.escalation.get(alert.id)).toMatchObject({
      state: 'stopped',
      stoppedReason: 'acknowledged',
    });
  });

  it('over MQTT is refused for an alert outside the worker’s grid, and dead-lettered', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const stranger = await app(svc, 'w-g2');
    const errors: unknown[] = [];
    stranger.client.on('message', (topic, payload) => {
      if (topic === 'workers/w-g2/errors') errors.push(JSON.parse(payload.toString()));
    });
    await stranger.client.subscribeAsync('workers/w-g2/errors', { qos: 0 });
    // Another worker's errors are not theirs to read (SUBACK 0x80).
    await expect(stranger.client.subscribeAsync('workers/w-g1/errors', { qos: 0 })).rejects.toThrow(
      /Subscribe error/,
    );
    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    await stranger.client.publishAsync(`workers/w-g2/alerts/${alert.id}/ack`, '', { qos: 1 });
    // Publishing under another worker's id is refused by the ACL as well.
    await stranger.client.publishAsync(`workers/w-g1/alerts/${alert.id}/ack`, '', { qos: 1 });
    const letters = () => svc.cf.store.deadLetters.list({ meterId: 'w-g2' });
    await eventually(() => letters().length === 2, 5_000, 'two dead letters');
    expect(letters().map((d) => [d.topic, d.code])).toEqual([
      [`workers/w-g1/alerts/${alert.id}/ack`, 'ERR_BROKER_TOPIC_FORBIDDEN'],
      [`workers/w-g2/alerts/${alert.id}/ack`, 'ERR_BROKER_TOPIC_FORBIDDEN'],
    ]);
    expect(svc.cf.store.alerts.get(alert.id)?.state).toBe('open');
    // The app is told why, for each, on its own errors topic: another worker's topic is forbidden; an alert
    // outside its grids is answered as one that does not exist (as the API answers 404), so that nobody learns
    // which alerts exist elsewhere.
    await stranger.client.publishAsync('workers/w-g2/alerts/al-0000000000000000/ack', '', { qos: 1 });
    await eventually(() => errors.length === 3, 5_000, 'three error replies');
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'ERR_BROKER_TOPIC_FORBIDDEN',
          topic: `workers/w-g1/alerts/${alert.id}/ack`,
          alertId: alert.id,
        }),
        {
          code: 'ERR_ALERT_NOT_FOUND',
          message: `No alert ${alert.id}`,
          topic: `workers/w-g2/alerts/${alert.id}/ack`,
          alertId: alert.id,
          ts: expect.any(String),
        },
        {
          code: 'ERR_ALERT_NOT_FOUND',
          message: 'No alert al-0000000000000000',
          topic: 'workers/w-g2/alerts/al-0000000000000000/ack',
          alertId: 'al-0000000000000000',
          ts: expect.any(String),
        },
      ]),
    );
  });

  it('through the API stops the chain too, and a reopen starts it over at the first level', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const worker = await app(svc, 'w-g1');
    const leader = await app(svc, 'l-g1');
    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    const t0 = raisedAt(svc, alert.id);
    // Session tokens live an hour of service time: log in again for each step.
    const post = async (url: string, payload?: object) =>
      svc.cf.http.inject({
        method: 'POST',
        url,
        headers: await loginAs(svc, 'w-g1'),
        ...(payload ? { payload } : {}),
      });

    svc.clock.advanceTo(t0 + 5 * MIN);
    expect((await post(`/api/alerts/${alert.id}/ack`)).statusCode).toBe(200);
    svc.clock.advanceTo(t0 + 2 * HOUR);
    const reopen = await post(`/api/alerts/${alert.id}/reopen`, { reason: 'nobody answered the door' });
    expect(reopen.statusCode).toBe(200);
    expect(reopen.json().alert).toMatchObject({ state: 'open', acknowledgedAt: null });
    await eventually(() => worker.messages.length === 2, 5_000, 'the reopened message');
    expect(worker.messages[1]).toMatchObject({ event: 'opened', escalation: { level: 0 } });
    expect(worker.messages[1]!.message['zh-CN']).toContain('【重新打开】nobody answered the door');

    svc.clock.advanceTo(t0 + 2 * HOUR + 30 * MIN);
    await eventually(() => leader.messages.length === 1, 5_000, 'the escalation after the reopen');
    expect(leader.messages[0]).toMatchObject({ event: 'escalated', escalation: { level: 1 } });
    expect((await post(`/api/alerts/${alert.id}/reopen`, { reason: 'again' })).json().code).toBe(
      'ERR_ALERT_STATE_CONFLICT',
    );
    expect(svc.cf.store.audit.list({ limit: 10 }).map((a) => a.action)).toEqual(
      expect.arrayContaining(['alert.acknowledge', 'alert.reopen']),
    );
  });
});

describe('restart in the middle of a chain', () => {
  it('resumes the chain: the grid leader is told at the 30th minute, not earlier and not twice', async () => {
    const first = await start();
    first.clock.advanceTo(T0 + 10 * HOUR);
    const alert = await raiseHeavyUse(first, 'h-g1-1');
    const t0 = raisedAt(first, alert.id);
    first.clock.advanceTo(t0 + 20 * MIN);
    await settle(50);
    expect(entries(first, alert.id, 'reminder')).toHaveLength(1);
    await first.stop();

    const second = await startTestService({ dataDir: first.dataDir, clock: new ManualClock(t0 + 20 * MIN) });
    services.push(second);
    const leader = await app(second, 'l-g1');
    second.clock.advanceTo(t0 + 30 * MIN - 1);
    await settle(50);
    expect(entries(second, alert.id, 'escalated')).toEqual([]);
    expect(leader.messages).toEqual([]);

    second.clock.advanceTo(t0 + 30 * MIN);
    await eventually(() => leader.messages.length === 1, 5_000, 'the escalation after the restart');
    expect(entries(second, alert.id, 'escalated').map((e) => e.at)).toEqual([t0 + 30 * MIN]);
    second.clock.advanceTo(t0 + 44 * MIN);
    await settle(50);
    expect(leader.messages).toHaveLength(1);
    expect(entries(second, alert.id, 'reminder').map((e) => e.at - t0)).toEqual([15 * MIN]);
  });

  it('runs a step that fell due while the service was down at start, then keeps the schedule', async () => {
    const first = await start();
    first.clock.advanceTo(T0 + 10 * HOUR);
    const alert = await raiseHeavyUse(first, 'h-g1-1');
    const t0 = raisedAt(first, alert.id);
    await first.stop();

    const second = await startTestService({ dataDir: first.dataDir, clock: new ManualClock(t0 + 40 * MIN) });
    services.push(second);
    await settle(50);
    // The worker's reminders (15) are overtaken and skipped; the escalation due at 30 runs at once.
    expect(entries(second, alert.id, 'escalated').map((e) => [e.at - t0, e.detail.dueAt])).toEqual([
      [40 * MIN, t0 + 30 * MIN],
    ]);
    expect(entries(second, alert.id, 'reminder')).toEqual([]);
    second.clock.advanceTo(t0 + 45 * MIN);
    await settle(50);
    expect(entries(second, alert.id, 'reminder').map((e) => [e.at - t0, e.detail.level])).toEqual([
      [45 * MIN, 1],
    ]);
  });
});

describe('chains per scope', () => {
  it('PUT /api/escalation/grid/g1 sets the welfare chain of g1; effective shows it with its people', async () => {
    const svc = await start();
    svc.clock.advanceTo(T0 + 10 * HOUR);
    const staff = await loginAs(svc, 'cs-c1');
    const chain = {
      levels: [
        { notify: 'grid-workers', afterMinutes: 10 },
        { notify: 'community-staff', afterMinutes: 20 },
      ],
      reminderMinutes: 0,
    };
    const put = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/escalation/grid/g1',
      headers: staff,
      payload: { welfare: chain },
    });
    expect(put.statusCode).toBe(200);
    const forbidden = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/escalation/grid/g1',
      headers: await loginAs(svc, 'w-g1'),
      payload: { welfare: chain },
    });
    expect(forbidden.statusCode).toBe(403);
    const invalid = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/escalation/grid/g1',
      headers: staff,
      payload: { welfare: { levels: [{ notify: 'mayor', afterMinutes: 0 }], reminderMinutes: 5 } },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().issues.map((i: { path: string }) => i.path)).toEqual([
      'welfare.levels.0.notify',
      'welfare.levels.0.afterMinutes',
    ]);

    const effective = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/escalation/effective?household=h-g1-2',
      headers: staff,
    });
    expect(effective.json().chains.welfare).toEqual({
      source: 'grid:g1',
      reminderMinutes: 0,
      levels: [
        {
          level: 0,
          notify: 'grid-workers',
          afterMinutes: 10,
          people: [expect.objectContaining({ id: 'w-g1' })],
        },
        {
          level: 1,
          notify: 'community-staff',
          afterMinutes: 20,
          people: [expect.objectContaining({ id: 'cs-c1' })],
        },
      ],
    });
    expect(effective.json().chains.leak.source).toBe('default');
    expect(svc.cf.store.audit.list({ action: 'escalation.set' })[0]).toMatchObject({
      action: 'escalation.set',
      actor: 'cs-c1',
      target: 'grid:g1',
    });

    const alert = await raiseHeavyUse(svc, 'h-g1-2');
    const t0 = raisedAt(svc, alert.id);
    svc.clock.advanceTo(t0 + 10 * MIN);
    await settle(50);
    expect(entries(svc, alert.id, 'escalated')).toEqual([
      expect.objectContaining({ at: t0 + 10 * MIN, detail: expect.objectContaining({ people: ['cs-c1'] }) }),
    ]);
  });
});
