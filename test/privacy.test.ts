import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../core/alerts.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { loginAs, raiseHeavyUse, raiseLeak } from './delivery-harness.ts';
import {
  connectClient,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  type TestService,
} from './harness.ts';
import { organisationRegistry } from './organisation-registry.ts';

/**
 * Consent, export and erasure on the real service (issue 16): welfare rules watch only households that
 * consented, leak rules run without consent by default, a withdrawal reaches the running detectors before
 * the next bucket (from the API at once, from an import by another process at the next tick); an export holds
 * every stored row about a household, and an audited erasure leaves only what the documented policy keeps.
 */
const HOOKS = { h1: 'http://127.0.0.1:9/h1', h3: 'http://127.0.0.1:9/h3' };
const services: TestService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.dispose();
});

async function start(): Promise<TestService> {
  const svc = await startTestService({ registry: organisationRegistry(HOOKS) });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return svc;
}

/** Publishes the readings `raiseHeavyUse` would (150 L in each of 3 hours), without waiting for an alert. */
async function heavyUse(svc: TestService, householdId: string): Promise<void> {
  const end = Math.floor(svc.clock.now() / HOUR) * HOUR;
  const readings = Array.from({ length: 4 }, (_, i) => ({
    ts: end - (3 - i) * HOUR,
    totalLiters: 1000 + i * 150,
  }));
  const meter = await connectClient(svc.mqttUrl, `m-${householdId}`, `secret-m-${householdId}`);
  try {
    await meter.publishAsync(`meters/m-${householdId}/readings`, JSON.stringify({ readings }), { qos: 1 });
  } finally {
    await meter.endAsync();
  }
}

const rulesOf = (svc: TestService, householdId: string) =>
  svc.cf.store.alerts.list({ householdId }).map((a) => a.ruleId);

describe('consent', () => {
  it('a household without welfare consent raises no welfare alert, but still a leak alert', async () => {
    const svc = await start();
    await heavyUse(svc, 'h4'); // h4 consented to leak monitoring only
    await raiseHeavyUse(svc, 'h5'); // the same water use in a household that consented: an alert
    await settle(50);
    expect(rulesOf(svc, 'h4')).toEqual([]);
    expect(svc.cf.store.usage.range('h4', 0, svc.clock.now()).length).toBeGreaterThanOrEqual(3);

    // A household with no record at all is monitored as before (privacy.unrecordedConsent = assume).
    await raiseHeavyUse(svc, 'h6');
    svc.clock.advanceTo(T0 + 40 * HOUR);
    const leak: Alert = await raiseLeak(svc, 'h2');
    expect(leak.audience).toBe('leak');
    // h4's own leak: 5 L every hour for a day, from a register that goes on from where it stood.
    const end = Math.floor(svc.clock.now() / HOUR) * HOUR;
    const readings = Array.from({ length: 26 }, (_, i) => ({
      ts: end - (25 - i) * HOUR,
      totalLiters: 2000 + i * 5,
    }));
    const meter = await connectClient(svc.mqttUrl, 'm-h4', 'secret-m-h4');
    await meter.publishAsync('meters/m-h4/readings', JSON.stringify({ readings }), { qos: 1 });
    await meter.endAsync();
    await eventually(() => rulesOf(svc, 'h4').includes('continuous-flow'), 5_000, 'the leak alert of h4');
    // (its meter also fell silent for a day in between: maintenance, not welfare)
    const audiences = svc.cf.store.alerts.list({ householdId: 'h4' }).map((a) => a.audience);
    expect(audiences).not.toContain('welfare');
    expect(audiences).toContain('leak');
  });

  it('a withdrawal through the API stops welfare monitoring from the next bucket', async () => {
    const svc = await start();
    const staff = await loginAs(svc, 'w-g1');
    const res = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/households/h2/consent',
      headers: staff,
      payload: { purposes: ['leak'], givenBy: 'the resident, by phone', note: 'does not want to be watched' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().consent).toMatchObject({ householdId: 'h2', purposes: ['leak'], recordedBy: 'w-g1' });
    await heavyUse(svc, 'h2');
    await raiseHeavyUse(svc, 'h5');
    await settle(50);
    expect(rulesOf(svc, 'h2')).toEqual([]);

    const history = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/households/h2/consent',
      headers: staff,
    });
    expect(history.json().history.map((c: { purposes: string[] }) => c.purposes)).toEqual([
      ['family', 'leak', 'welfare'],
      ['leak'],
    ]);
    // Neighbours may not record or read consent.
    const neighbour = await loginAs(svc, 'bh-b1');
    const denied = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/households/h2/consent',
      headers: neighbour,
    });
    expect(denied.statusCode).toBe(403);
  });

  it('a withdrawal imported by another process reaches the running detectors at the next tick', async () => {
    const svc = await start();
    const other = openStore({ path: join(svc.dataDir, 'careflow.db') });
    try {
      const registry = organisationRegistry(HOOKS);
      const h5 = registry.households!.find((h) => h.id === 'h5')!;
      h5.consent = { purposes: [], givenBy: 'the resident', givenAt: '2026-01-05T09:00:00+08:00' };
      await importRegistry(other, registry);
    } finally {
      other.close();
    }
    svc.clock.advance(60_000); // one detector tick
    await settle(20);
    await heavyUse(svc, 'h5');
    await raiseHeavyUse(svc, 'h3');
    await settle(50);
    expect(rulesOf(svc, 'h5')).toEqual([]);
  });
});

/** Every row of every table that names one of `tokens` (as a whole value or a quoted string inside JSON). */
function rowsNaming(svc: TestService, tokens: string[]): Map<string, number> {
  const db = svc.cf.store.db;
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[];
  const out = new Map<string, number>();
  for (const t of tables) {
    const rows = db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[];
    const n = rows.filter((r) =>
      Object.values(r).some(
        (v) => typeof v === 'string' && tokens.some((k) => v === k || v.includes(`"${k}"`)),
      ),
    ).length;
    if (n > 0) out.set(t, n);
  }
  return out;
}

const EXPORT_KEY: Record<string, string> = {
  households: 'households',
  meters: 'meters',
  inbox: 'readings',
  dead_letters: 'deadLetters',
  meter_events: 'meterEvents',
  meter_state: 'meterState',
  usage_buckets: 'usageBuckets',
  household_state: 'detectorState',
  alerts: 'alerts',
  alert_timeline: 'alertTimeline',
  detections: 'detections',
  escalations: 'escalations',
  outbox: 'outbox',
  away_periods: 'awayPeriods',
  rule_overrides: 'ruleOverrides',
  rule_changes: 'ruleChanges',
  consent_records: 'consentRecords',
  family_contacts: 'familyContacts',
  workers: 'familyContacts',
  webhooks: 'familyWebhooks',
  worker_places: 'placeAssignments',
  mqtt_client_ids: 'mqttClientIds',
  mqtt_secret_verifiers: 'mqttSecretVerifiers',
  audit_log: 'audit',
};

describe('export and erasure of one household', () => {
  it('exports every stored row about it, then erases them all but the audit log and consent records', async () => {
    const svc = await start();
    const alert = await raiseHeavyUse(svc, 'h1');
    const worker = await loginAs(svc, 'w-g1');
    await svc.cf.http.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/ack`,
      headers: worker,
      payload: {},
    });
    await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/households/h1/away',
      headers: worker,
      payload: { until: svc.clock.now() + 48 * HOUR, reason: 'visiting family' },
    });
    const staff = await loginAs(svc, 'cs-c1');
    await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/rules/household/h1',
      headers: staff,
      payload: { rules: { 'heavy-use': { params: { minLitersPerBucket: 200 } } }, reason: 'big family' },
    });
    svc.cf.checkpoint();
    const tokens = ['h1', 'm-h1', 'f-h1', 'family.f-h1', alert.id];

    // Only staff with privacy:manage may export; the grid worker may not.
    const refused = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/households/h1/export',
      headers: worker,
    });
    expect(refused.statusCode).toBe(403);
    const res = await svc.cf.http.inject({ method: 'GET', url: '/api/households/h1/export', headers: staff });
    expect(res.statusCode).toBe(200);
    const data = res.json().data as Record<string, Record<string, unknown>[]>;
    const stored = rowsNaming(svc, tokens);
    for (const [table, n] of stored) {
      const key = EXPORT_KEY[table];
      expect(key, `table ${table} names the household but is not exported`).toBeDefined();
      expect(data[key!]!.length, `rows of ${table}`).toBeGreaterThanOrEqual(n);
    }
    for (const t of ['households', 'meters', 'inbox', 'usage_buckets', 'alerts', 'alert_timeline', 'outbox'])
      expect(stored.get(t), t).toBeGreaterThan(0);
    expect(data.readings!.length).toBe(stored.get('inbox'));
    expect(JSON.stringify(data)).not.toMatch(/secret_hash|password_hash|family-secret/);

    const wrong = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/households/h1/erase',
      headers: staff,
      payload: { reason: 'resident moved out, asked for erasure', confirm: 'h2' },
    });
    expect(wrong.statusCode).toBe(400);
    const erased = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/households/h1/erase',
      headers: staff,
      payload: { reason: 'resident moved out, asked for erasure', confirm: 'h1' },
    });
    expect(erased.statusCode).toBe(200);
    expect(erased.json()).toMatchObject({
      deleted: { households: 1, meters: 1, alerts: 1 },
      kept: { consentRecords: 1 },
    });
    svc.cf.checkpoint();
    expect([...rowsNaming(svc, tokens).keys()].sort()).toEqual(['audit_log', 'consent_records']);
    const audit = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/audit?action=household.erase',
      headers: staff,
    });
    expect(audit.json().entries).toMatchObject([{ actor: 'cs-c1', target: 'h1', grid: 'g1' }]);
    // Its meter can no longer sign in, and its relative can no longer log in.
    await expect(connectClient(svc.mqttUrl, 'm-h1', 'secret-m-h1')).rejects.toThrow();
    const login = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/login',
      payload: { id: 'f-h1', password: 'x'.repeat(12) },
    });
    expect(login.statusCode).toBe(401);
  });
});
