import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerAlertMessage } from '../core/alerts.ts';
import { runLockstep } from '../testbench/lockstep.ts';
import type { Fleet } from '../simulators/meter-fleet.ts';
import { connectWorker, eventually, HOUR, startTestService, T0, type TestService } from './harness.ts';
import { registryFor, startSimulatedFleet, type SimHousehold } from './simulated-community.ts';

/**
 * The whole path on the embedded default: simulated households publish over MQTT to the real broker,
 * the detectors find each scenario, and the alert reaches the worker of that household's grid, and only them.
 */
const DAY = 24 * HOUR;
const HOUSEHOLDS: SimHousehold[] = [
  {
    id: 'leak',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 11,
    scenarios: [{ type: 'leak', start: T0 + 2 * HOUR, litersPerHour: 5 }],
  },
  {
    id: 'heavy',
    grid: 'g1',
    profile: 'elderly-alone',
    seed: 12,
    scenarios: [{ type: 'heavy-use', start: T0 + DAY + 14 * HOUR, durationMinutes: 200, litersPerHour: 400 }],
  },
  {
    id: 'silent',
    grid: 'g1',
    profile: 'couple',
    seed: 13,
    scenarios: [{ type: 'silent', start: T0 + DAY + 2 * HOUR }],
  },
  {
    id: 'late-riser',
    grid: 'g2',
    profile: 'elderly-alone',
    seed: 14,
    scenarios: [{ type: 'no-morning-water', day: '2026-01-07' }],
  },
  {
    id: 'fallen',
    grid: 'g2',
    profile: 'elderly-alone',
    seed: 15,
    scenarios: [{ type: 'low-use', start: T0 + DAY + 12 * HOUR, durationHours: 30 }],
  },
  { id: 'ordinary-1', grid: 'g1', profile: 'elderly-alone', seed: 16 },
  { id: 'ordinary-2', grid: 'g2', profile: 'couple', seed: 17 },
  { id: 'ordinary-3', grid: 'g2', profile: 'elderly-alone', seed: 18 },
];

let svc: TestService;
let fleet: Fleet;
const inbox: Record<string, WorkerAlertMessage[]> = {};
const workers: Awaited<ReturnType<typeof connectWorker>>[] = [];

beforeAll(async () => {
  svc = await startTestService({
    registry: registryFor(HOUSEHOLDS, ['g3']),
    config: { detectors: { tickIntervalMs: 5 * 60_000 } },
  });
  for (const id of ['w-g1', 'w-g2', 'w-g3']) {
    const w = await connectWorker(svc.mqttUrl, id, `secret-${id}`);
    inbox[id] = w.messages as unknown as WorkerAlertMessage[];
    workers.push(w);
  }
  fleet = await startSimulatedFleet(svc.mqttUrl, HOUSEHOLDS, T0);
  await runLockstep({ clock: svc.clock, fleet, from: T0, to: T0 + 3 * DAY, stepMs: 15 * 60_000 });
  await eventually(() => svc.cf.store.outbox.pendingCount() === 0, 10_000, 'outbox to drain');
  await new Promise((r) => setTimeout(r, 200));
});

afterAll(async () => {
  await fleet?.stop({ force: true });
  await Promise.all(workers.map((w) => w.client.endAsync()));
  await svc?.dispose();
});

/** New alerts as each worker got them: alone (`opened`) or in a grouped message (alerts within a minute). */
function openings(worker: string): WorkerAlertMessage[] {
  return (inbox[worker] ?? []).flatMap((m) => {
    const grouped = m as unknown as { event: string; alerts?: WorkerAlertMessage[] };
    return grouped.event === 'grouped' ? (grouped.alerts ?? []) : m.event === 'opened' ? [m] : [];
  });
}

function openedFor(householdId: string) {
  return Object.keys(inbox).flatMap((worker) =>
    openings(worker)
      .filter((m) => m.householdId === householdId)
      .map((m) => ({ worker, ruleId: m.ruleId })),
  );
}

describe('a reading becomes the right grid worker’s alert', () => {
  it.each([
    ['leak', 'continuous-flow', 'w-g1'],
    ['heavy', 'heavy-use', 'w-g1'],
    ['late-riser', 'no-water-at-peak', 'w-g2'],
    // The fallen resident's morning peak ends empty first; the day without water joins that alert.
    ['fallen', 'no-water-at-peak', 'w-g2'],
  ])('household %s raises exactly one %s alert, delivered to %s only', (household, rule, worker) => {
    const alerts = svc.cf.store.alerts.list({ householdId: household }).filter((a) => a.ruleId === rule);
    expect(alerts).toHaveLength(1);
    const deliveries = openedFor(household).filter((d) => d.ruleId === rule);
    expect(deliveries).toEqual([{ worker, ruleId: rule }]);
  });

  it('a silent meter is a maintenance ticket for community staff, not a message to the grid worker', () => {
    const alerts = svc.cf.store.alerts
      .list({ householdId: 'silent' })
      .filter((a) => a.ruleId === 'meter-silent');
    expect(alerts).toHaveLength(1);
    expect(openedFor('silent')).toEqual([]);
    // This registry has no community staff: the ticket waits in the console, nobody is paged.
    expect(svc.cf.store.alerts.timeline(alerts[0]!.id).map((e) => e.kind)).toContain('no-recipient');
  });

  it('a fallen resident (no water for 30 h) is one alert: the empty morning peak, joined by the dry day', () => {
    const alerts = svc.cf.store.alerts.list({ householdId: 'fallen' });
    expect(alerts.map((a) => a.ruleId)).toEqual(['no-water-at-peak']);
    const joined = svc.cf.store.alerts.timeline(alerts[0]!.id).filter((e) => e.detail.joined === 'low-use');
    expect(joined.length).toBeGreaterThan(0);
  });

  it('households with ordinary use raise no alert', () => {
    for (const id of ['ordinary-1', 'ordinary-2', 'ordinary-3']) {
      expect(svc.cf.store.alerts.list({ householdId: id })).toEqual([]);
    }
  });

  it('a silent meter raises meter-silent and no welfare alert', () => {
    const rules = svc.cf.store.alerts.list({ householdId: 'silent' }).map((a) => a.ruleId);
    expect(rules).toEqual(['meter-silent']);
  });

  it('each scenario household raises only its own rule (besides the fallen resident’s peak)', () => {
    expect(svc.cf.store.alerts.list({ householdId: 'leak' }).map((a) => a.ruleId)).toEqual([
      'continuous-flow',
    ]);
    expect(svc.cf.store.alerts.list({ householdId: 'heavy' }).map((a) => a.ruleId)).toEqual(['heavy-use']);
    expect(svc.cf.store.alerts.list({ householdId: 'late-riser' }).map((a) => a.ruleId)).toEqual([
      'no-water-at-peak',
    ]);
  });

  it('a worker of a grid without incidents receives nothing', () => {
    expect(inbox['w-g3']).toEqual([]);
  });

  it('every message carries the alert, the household, its address and grid, and text in Chinese and English', () => {
    const m = openings('w-g2').find((x) => x.householdId === 'fallen')!;
    expect(m).toMatchObject({
      event: 'opened',
      householdId: 'fallen',
      address: 'g2 小区 fallen',
      grid: 'g2',
      ruleId: 'no-water-at-peak',
      severity: 'warning',
    });
    expect(m.alertId).toMatch(/^al-[0-9a-f]{16}$/);
    expect(Date.parse(m.openedAt)).toBeGreaterThan(T0);
    // The 3-hour window and the 2 hours after it that confirm it.
    expect(m.evidence.buckets).toHaveLength(5);
    expect(m.evidence.thresholds).toMatchObject({ confirmMinutes: 120 });
    expect(m.evidence.totalLiters).toBeLessThanOrEqual(1);
    expect(m.message['zh-CN']).toContain('住户可能没有起床');
    expect(m.message.en).toContain('please check on them');
  });

  it('the meter-silent alert is maintenance and opens six hours after the last reading', () => {
    const [alert] = svc.cf.store.alerts.list({ householdId: 'silent' });
    expect(alert).toMatchObject({ audience: 'maintenance', severity: 'info' });
    expect(alert!.openedAt - alert!.evidence.lastReadingAt!).toBe(6 * HOUR);
    expect(alert!.evidence.lastReadingAt).toBeLessThanOrEqual(T0 + DAY + 2 * HOUR);
  });
});
