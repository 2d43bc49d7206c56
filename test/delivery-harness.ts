import type { MqttClient } from 'mqtt';
import type { Alert } from '../core/alerts.ts';
import type { RegistryInput } from '../core/registry.ts';
import { connectClient, eventually, HOUR, settle, type TestService } from './harness.ts';

/**
 * Shared by the escalation, delivery, webhook and SSE tests: an organisation with every escalation role, and
 * a way to raise a real alert through a meter (readings over MQTT → detectors → notifier).
 */
export const PASSWORD = 'correct-horse-battery';

/**
 * Street s1 → community c1 → grids g1, g2. g1 has grid worker w-g1 and grid leader l-g1; g2 has grid worker
 * w-g2; community staff cs-c1 and street staff ss-s1 answer for all of it. Households h-g1-1…3, h-g2-1…2.
 */
export function escalationRegistry(): RegistryInput {
  const person = (id: string, role: string, extra: Record<string, unknown>) => ({
    id,
    name: `Person ${id}`,
    role,
    secret: `secret-${id}`,
    password: PASSWORD,
    phone: `+86 138 0000 ${id.length}${id.charCodeAt(id.length - 1)}`,
    ...extra,
  });
  const households = [
    ['h-g1-1', 'g1'],
    ['h-g1-2', 'g1'],
    ['h-g1-3', 'g1'],
    ['h-g2-1', 'g2'],
    ['h-g2-2', 'g2'],
  ] as const;
  return {
    streets: [{ code: 's1', name: 'Street 1' }],
    communities: [{ code: 'c1', street: 's1', name: 'Community 1' }],
    grids: [
      { code: 'g1', community: 'c1', name: 'Grid 1' },
      { code: 'g2', community: 'c1', name: 'Grid 2' },
    ],
    workers: [
      person('w-g1', 'grid-worker', { grids: ['g1'] }),
      person('w-g2', 'grid-worker', { grids: ['g2'] }),
      person('l-g1', 'grid-leader', { grids: ['g1'] }),
      person('cs-c1', 'community-staff', { communities: ['c1'] }),
      person('ss-s1', 'street-staff', { streets: ['s1'] }),
    ] as RegistryInput['workers'],
    households: households.map(([id, grid]) => ({ id, grid, address: `${grid} 楼 ${id}` })),
    meters: households.map(([id]) => ({ id: `m-${id}`, household: id, secret: `secret-m-${id}` })),
  };
}

/**
 * Makes a household's meter report 150 L in each of the three hours before the clock's current hour, which
 * opens a `heavy-use` alert (welfare, critical); resolves with the alert.
 */
export function raiseHeavyUse(svc: TestService, householdId: string): Promise<Alert> {
  return raise(svc, householdId, 'heavy-use', 3, 150);
}

/** 5 L in each of the 25 hours before the current hour: a `continuous-flow` alert (leak). */
export function raiseLeak(svc: TestService, householdId: string): Promise<Alert> {
  return raise(svc, householdId, 'continuous-flow', 25, 5);
}

async function raise(
  svc: TestService,
  householdId: string,
  ruleId: string,
  hours: number,
  litersPerHour: number,
): Promise<Alert> {
  const end = Math.floor(svc.clock.now() / HOUR) * HOUR;
  const readings = Array.from({ length: hours + 1 }, (_, i) => ({
    ts: end - (hours - i) * HOUR,
    totalLiters: 1000 + i * litersPerHour,
  }));
  const meter: MqttClient = await connectClient(svc.mqttUrl, `m-${householdId}`, `secret-m-${householdId}`);
  try {
    await meter.publishAsync(`meters/m-${householdId}/readings`, JSON.stringify({ readings }), { qos: 1 });
  } finally {
    await meter.endAsync();
  }
  let alert: Alert | undefined;
  await eventually(
    () => {
      alert = svc.cf.store.alerts.list({ householdId }).find((a) => a.ruleId === ruleId);
      return alert !== undefined;
    },
    5_000,
    `${ruleId} alert of ${householdId}`,
  );
  await settle(20);
  return alert!;
}

/** Logs a person in over HTTP; returns their bearer header. */
export async function loginAs(svc: TestService, id: string): Promise<{ authorization: string }> {
  const res = await svc.cf.http.inject({
    method: 'POST',
    url: '/api/login',
    payload: { id, password: PASSWORD },
  });
  if (res.statusCode !== 200) throw new Error(`login of ${id} failed: ${res.body}`);
  return { authorization: `Bearer ${(res.json() as { token: string }).token}` };
}

/** Timeline kinds of an alert, in order. */
export function kinds(svc: TestService, alertId: string): string[] {
  return svc.cf.store.alerts.timeline(alertId).map((e) => e.kind);
}
