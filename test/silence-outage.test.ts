import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryInput } from '../core/registry.ts';
import {
  connectClient,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  type TestService,
} from './harness.ts';

/**
 * A silent meter is a maintenance matter first, and correlated silence is an outage: 200 meters of one grid
 * stopping together give one outage message to the community staff (who have meters repaired) and nothing
 * per household to the grid worker; a single meter falling silent in a welfare household reaches its grid
 * worker after 24 hours (`welfare-silent`), its maintenance ticket going to the staff.
 */
const OUTAGE_GRID = 'g-out';
const ONE_GRID = 'g-one';
const N = 200;

function registry(): RegistryInput {
  const households = [
    ...Array.from({ length: N }, (_, i) => ({ id: `o${i}`, grid: OUTAGE_GRID })),
    ...Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, grid: ONE_GRID })),
  ];
  return {
    streets: [{ code: 's1', name: 'Street' }],
    communities: [{ code: 'c1', street: 's1', name: 'Community' }],
    grids: [
      { code: OUTAGE_GRID, community: 'c1', name: '第三网格' },
      { code: ONE_GRID, community: 'c1', name: '第一网格' },
    ],
    workers: [
      { id: 'w-out', name: 'Worker out', role: 'grid-worker', grids: [OUTAGE_GRID], secret: 'secret-w-out' },
      { id: 'w-one', name: 'Worker one', role: 'grid-worker', grids: [ONE_GRID], secret: 'secret-w-one' },
      { id: 'staff', name: 'Staff', role: 'community-staff', communities: ['c1'], secret: 'secret-staff' },
    ],
    households: households.map((h) => ({
      ...h,
      address: `${h.grid} ${h.id}`,
      elderly: true,
      livesAlone: true,
    })),
    meters: households.map((h) => ({ id: `m-${h.id}`, household: h.id, secret: `secret-m-${h.id}` })),
  };
}

let svc: TestService;
const clients = new Map<string, MqttClient>();
const registers = new Map<string, number>();

async function report(ids: readonly string[], ts: number): Promise<void> {
  await Promise.all(
    ids.map((id) => {
      // Water now and then (not every hour: no continuous flow).
      const total = (registers.get(id) ?? 5_000) + (Math.floor(ts / HOUR) % 3 === 0 ? 3 : 0);
      registers.set(id, total);
      return clients
        .get(id)!
        .publishAsync(`meters/m-${id}/readings`, JSON.stringify({ ts, totalLiters: total }), { qos: 1 });
    }),
  );
}

/** Every meter in `ids` reports hourly from `from` to `to` (exclusive), the clock following. */
async function hourly(ids: readonly string[], from: number, to: number): Promise<void> {
  for (let t = from; t < to; t += HOUR) {
    if (svc.clock.now() < t) svc.clock.advanceTo(t);
    await report(ids, t);
  }
}

async function advance(to: number, reporting: readonly string[] = []): Promise<void> {
  while (svc.clock.now() < to) {
    const next = Math.min(to, svc.clock.now() + HOUR);
    svc.clock.advanceTo(next);
    if (reporting.length > 0) await report(reporting, next);
    await settle(5);
  }
}

function messagesTo(person: string): { alertId: string | null; payload: string }[] {
  return svc.cf.store.db
    .prepare('SELECT alert_id AS alertId, payload FROM outbox WHERE recipient = ? ORDER BY id')
    .all(person) as { alertId: string | null; payload: string }[];
}

const outageIds = Array.from({ length: N }, (_, i) => `o${i}`);
const oneIds = Array.from({ length: 12 }, (_, i) => `s${i}`);

beforeAll(async () => {
  svc = await startTestService({
    registry: registry(),
    config: { detectors: { tickIntervalMs: 15 * 60_000 }, notifier: { groupWindowMs: 0 } },
  });
  for (const id of [...outageIds, ...oneIds])
    clients.set(id, await connectClient(svc.mqttUrl, `m-${id}`, `secret-m-${id}`));
}, 60_000);

afterAll(async () => {
  await Promise.all([...clients.values()].map((c) => c.endAsync()));
  await svc?.dispose();
});

describe('silent meters', () => {
  it('200 meters of one grid stopping together: one outage message to the staff, nothing per household to the grid worker', async () => {
    // Three hours of hourly readings, then the whole grid stops at T0 + 2 h; the other grid keeps reporting.
    await hourly([...outageIds, ...oneIds], T0, T0 + 3 * HOUR);
    await advance(T0 + 40 * HOUR, oneIds);
    await eventually(() => svc.cf.store.outbox.pendingCount() === 0, 10_000, 'outbox drained');

    const alerts = svc.cf.store.alerts.list({ limit: 1000 });
    const outage = alerts.filter((a) => a.ruleId === 'meter-outage');
    expect(outage).toHaveLength(1);
    expect(outage[0]).toMatchObject({ gridCode: OUTAGE_GRID, audience: 'maintenance', state: 'open' });
    expect(outage[0]!.evidence.thresholds).toMatchObject({ meters: N, reportingMeters: N });
    // The individual silences it explains stay quiet: no meter-silent ticket, no welfare-silent alert.
    expect(alerts.filter((a) => a.gridCode === OUTAGE_GRID && a.ruleId !== 'meter-outage')).toEqual([]);

    const toStaff = messagesTo('staff');
    expect(toStaff.filter((m) => m.alertId === outage[0]!.id)).toHaveLength(1);
    expect(JSON.parse(toStaff[0]!.payload).message.en).toMatch(/200 meters of 第三网格 stopped reporting/);
    expect(messagesTo('w-out')).toEqual([]);
  }, 120_000);

  it('the outage clears when the meters come back, and the grid worker still hears nothing', async () => {
    const back = svc.clock.now() + HOUR;
    await hourly([...outageIds, ...oneIds], back, back + 2 * HOUR);
    await advance(back + 3 * HOUR, [...outageIds, ...oneIds]);
    const outage = svc.cf.store.alerts.list({ limit: 1000 }).filter((a) => a.ruleId === 'meter-outage');
    expect(outage).toHaveLength(1);
    expect(outage[0]!.state).toBe('resolved');
    expect(messagesTo('w-out')).toEqual([]);
  }, 120_000);

  it('a single meter silent in a welfare household reaches its grid worker after 24 h, its ticket the staff', async () => {
    const [quiet, ...others] = oneIds;
    const stopAt = svc.clock.now();
    await advance(stopAt + 23 * HOUR, others);
    const before = svc.cf.store.alerts.list({ householdId: quiet!, limit: 100 });
    // Six hours after its last reading: a maintenance ticket for the staff, not the grid worker.
    expect(before.map((a) => a.ruleId)).toEqual(['meter-silent']);
    expect(messagesTo('w-one')).toEqual([]);
    expect(messagesTo('staff').some((m) => m.alertId === before[0]!.id)).toBe(true);

    await advance(stopAt + 26 * HOUR, others);
    await eventually(() => svc.cf.store.outbox.pendingCount() === 0, 10_000, 'outbox drained');
    const after = svc.cf.store.alerts.list({ householdId: quiet!, limit: 100 });
    const welfare = after.find((a) => a.ruleId === 'welfare-silent');
    expect(welfare).toMatchObject({ audience: 'welfare', state: 'open' });
    expect(welfare!.openedAt - stopAt).toBeGreaterThanOrEqual(24 * HOUR - HOUR);
    expect(welfare!.openedAt - stopAt).toBeLessThanOrEqual(25 * HOUR);
    const toWorker = messagesTo('w-one');
    // The opening and, while nobody acknowledges it, its reminders: all about this one alert.
    expect(new Set(toWorker.map((m) => m.alertId))).toEqual(new Set([welfare!.id]));
    expect(JSON.parse(toWorker[0]!.payload)).toMatchObject({ event: 'opened', ruleId: 'welfare-silent' });
    // One silent meter of twelve is no outage (the grid that stopped again is).
    const outages = svc.cf.store.alerts.list({ limit: 1000 }).filter((a) => a.ruleId === 'meter-outage');
    expect(outages.filter((a) => a.gridCode === ONE_GRID)).toEqual([]);
  }, 120_000);
});
